#!/usr/bin/env python3
"""SigV4 verification and queue grants, against a gateway started with
--credentials-file tests/gateway/credentials.txt.

    auth.py ENDPOINT

Checks: signed requests pass; a wrong secret gets SignatureDoesNotMatch, an
unknown key InvalidClientTokenId, an unsigned request MissingAuthenticationToken
(all 403); another account is denied a queue until AddPermission grants it
the action, and only that action.
"""
import sys
import urllib.error
import urllib.request

import boto3
import botocore
from botocore.config import Config

ENDPOINT = sys.argv[1]
VERIFY = False if ENDPOINT.startswith("https") else None


def client(key, secret):
    return boto3.client("sqs", endpoint_url=ENDPOINT, region_name="us-east-1", aws_access_key_id=key,
                        aws_secret_access_key=secret, verify=VERIFY,
                        config=Config(retries={"max_attempts": 1}))


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def error(fn, **kw):
    try:
        fn(**kw)
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
    raise AssertionError("expected an error from %s" % fn.__name__)


owner = client("AKIDOWNER", "secret-owner")
peer = client("AKIDPEER", "secret-peer")
url = owner.create_queue(QueueName="authq")["QueueUrl"]
owner.send_message(QueueUrl=url, MessageBody="signed")
check(owner.receive_message(QueueUrl=url)["Messages"][0]["Body"] == "signed", "a signed round trip")

check(error(client("AKIDOWNER", "wrong").list_queues) == ("SignatureDoesNotMatch", 403), "wrong secret")
check(error(client("AKIDNOBODY", "x").list_queues) == ("InvalidClientTokenId", 403), "unknown key")
req = urllib.request.Request(ENDPOINT + "/", data=b"Action=ListQueues&Version=2012-11-05",
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
try:
    import ssl
    ctx = ssl._create_unverified_context() if VERIFY is False else None
    urllib.request.urlopen(req, timeout=10, context=ctx)
    raise AssertionError("an unsigned request was accepted")
except urllib.error.HTTPError as e:
    body = e.read().decode()
    check(e.code == 403 and "<Code>MissingAuthenticationToken</Code>" in body, "unsigned: %d %s" % (e.code, body))

# Another account: denied, then granted SendMessage only.
check(error(peer.send_message, QueueUrl=url, MessageBody="x")[0] == "AccessDenied", "peer denied before a grant")
check(url not in peer.list_queues().get("QueueUrls", []), "peer does not see the queue")
owner.add_permission(QueueUrl=url, Label="peer-send", AWSAccountIds=["111122223333"], Actions=["SendMessage"])
peer.send_message(QueueUrl=url, MessageBody="from peer")
check(error(peer.receive_message, QueueUrl=url)[0] == "AccessDenied", "peer may not receive")
check(error(peer.delete_queue, QueueUrl=url)[0] == "AccessDenied", "peer may not delete")
check(url in peer.list_queues().get("QueueUrls", []), "peer sees a queue it was granted")
owner.remove_permission(QueueUrl=url, Label="peer-send")
check(error(peer.send_message, QueueUrl=url, MessageBody="x")[0] == "AccessDenied", "grant removed")

# A queue the peer creates is the peer's.
purl = peer.create_queue(QueueName="peerq")["QueueUrl"]
peer.send_message(QueueUrl=purl, MessageBody="mine")
check(error(owner.send_message, QueueUrl=purl, MessageBody="x")[0] == "AccessDenied", "owner of authq is not peer")
check(error(peer.add_permission, QueueUrl=purl, Label="shmq-owner", AWSAccountIds=["000000000000"],
            Actions=["*"])[0] == "InvalidParameterValue", "the owner label is reserved")
peer.delete_queue(QueueUrl=purl)
owner.delete_queue(QueueUrl=url)
print("auth: OK")
