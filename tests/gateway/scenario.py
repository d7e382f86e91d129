#!/usr/bin/env python3
"""One whole SQS scenario against shmq's HTTP gateway with boto3.

    scenario.py ENDPOINT PROTOCOL PART

PROTOCOL is what the installed botocore must speak ("json" or "query"; the
test fails if it speaks the other, so each ctest really covers its protocol).
PART is "standard" (queues, batches with attributes, long poll, visibility,
delete, tags, permissions, DLQ and a message move task back, purge, delete)
or "fifo" (groups, deduplication, sequence numbers). Exits non-zero, with the
step that failed, on any mismatch.
"""
import hashlib
import struct
import sys
import threading
import time
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

import boto3
import botocore

ENDPOINT, PROTOCOL, PART = sys.argv[1], sys.argv[2], sys.argv[3]
PREFIX = "py%s%d" % (PROTOCOL, int(time.time() * 1000) % 100000)


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def md5_of_attributes(attrs):
    """SQS's MD5OfMessageAttributes (../shared/SQS.md 3.4), computed here to check the gateway's."""
    h = hashlib.md5()
    for name in sorted(attrs):
        a = attrs[name]
        for part in (name.encode(), a["DataType"].encode()):
            h.update(struct.pack(">I", len(part)) + part)
        if "BinaryValue" in a:
            h.update(b"\x02" + struct.pack(">I", len(a["BinaryValue"])) + a["BinaryValue"])
        else:
            v = a["StringValue"].encode()
            h.update(b"\x01" + struct.pack(">I", len(v)) + v)
    return h.hexdigest()


def error_code(fn, *args, **kw):
    try:
        fn(*args, **kw)
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"]
    raise AssertionError("expected an error from %s" % fn.__name__)


def raw_query(action, **params):
    """A Query-protocol call without botocore (old botocore has no move-task operations)."""
    body = urllib.parse.urlencode(dict(Action=action, Version="2012-11-05", **params)).encode()
    req = urllib.request.Request(ENDPOINT + "/", data=body,
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    with urllib.request.urlopen(req, timeout=10) as r:
        root = ET.fromstring(r.read())
    ns = "{http://queue.amazonaws.com/doc/2012-11-05/}"
    check(root.tag == ns + action + "Response", "XML root of %s: %s" % (action, root.tag))
    return root, ns


client = boto3.client("sqs", endpoint_url=ENDPOINT, region_name="us-east-1",
                      aws_access_key_id="test", aws_secret_access_key="test")
check(client.meta.service_model.protocol == PROTOCOL,
      "botocore %s speaks %s, this test wants %s" % (botocore.__version__, client.meta.service_model.protocol,
                                                    PROTOCOL))
print("botocore", botocore.__version__, "protocol", PROTOCOL, "part", PART)


def standard():
    dlq = client.create_queue(QueueName=PREFIX + "-dlq")["QueueUrl"]
    check(dlq.endswith("/000000000000/%s-dlq" % PREFIX), "queue URL form: " + dlq)
    dlq_arn = client.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    check(dlq_arn == "arn:aws:sqs:us-east-1:000000000000:%s-dlq" % PREFIX, "ARN: " + dlq_arn)
    url = client.create_queue(
        QueueName=PREFIX + "-main",
        Attributes={"VisibilityTimeout": "30"},
        tags={"team": "shmq"})["QueueUrl"]
    check(url in client.list_queues(QueueNamePrefix=PREFIX)["QueueUrls"], "list_queues")
    check(client.get_queue_url(QueueName=PREFIX + "-main")["QueueUrl"] == url, "get_queue_url")

    # A batch with every kind of attribute; the MD5s must be SQS's exactly.
    attrs = {"s": {"DataType": "String", "StringValue": "caf\u00e9 \r\n<&>\"'"},
             "n": {"DataType": "Number.float", "StringValue": "4563442423554324324264524243.32543234"},
             "b": {"DataType": "Binary", "BinaryValue": b"\x00\x01\xffbinary"}}
    bodies = {"e1": "hello \u4e16\u754c \U0001F600", "e2": "line\r\nbreak & <xml>", "e3": "x" * 5000}
    traced = {"AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-5759e988-bd862e3fe1be46a994272793"}}
    r = client.send_message_batch(QueueUrl=url, Entries=[
        dict({"Id": k, "MessageBody": v, "MessageAttributes": attrs}, **({"MessageSystemAttributes": traced}
                                                                          if k == "e2" else {}))
        for k, v in bodies.items()])
    check(len(r["Successful"]) == 3 and not r.get("Failed"), "send batch: %s" % r)
    for e in r["Successful"]:
        check(e["MD5OfMessageBody"] == hashlib.md5(bodies[e["Id"]].encode()).hexdigest(), "MD5OfMessageBody")
        check(e["MD5OfMessageAttributes"] == md5_of_attributes(attrs), "MD5OfMessageAttributes")
        check(e.get("MD5OfMessageSystemAttributes") == (md5_of_attributes(traced) if e["Id"] == "e2" else None),
              "MD5OfMessageSystemAttributes of %s: %s" % (e["Id"], e))
    got = {}
    for _ in range(10):
        for m in client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"],
                                        AttributeNames=["All"], WaitTimeSeconds=1).get("Messages", []):
            got[m["Body"]] = m
        if len(got) == 3:
            break
    check(sorted(got) == sorted(bodies.values()), "received bodies: %s" % list(got))
    for body, m in got.items():
        check(m["MD5OfBody"] == hashlib.md5(body.encode()).hexdigest(), "MD5OfBody")
        check(m["MessageAttributes"] == attrs, "attributes round trip: %s" % m["MessageAttributes"])
        check(m["MD5OfMessageAttributes"] == md5_of_attributes(attrs), "received MD5OfMessageAttributes")
        check(m["Attributes"]["ApproximateReceiveCount"] == "1", "receive count")
        check(m["Attributes"].get("AWSTraceHeader") == (traced["AWSTraceHeader"]["StringValue"]
                                                        if body == bodies["e2"] else None), "AWSTraceHeader")
    # Filtered attributes: the MD5 covers only what is returned.
    first = got[bodies["e1"]]
    client.change_message_visibility(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"], VisibilityTimeout=0)
    again = client.receive_message(QueueUrl=url, MessageAttributeNames=["s"], WaitTimeSeconds=2)["Messages"][0]
    check(again["MessageId"] == first["MessageId"], "visibility 0 makes the message visible again")
    check(list(again["MessageAttributes"]) == ["s"], "attribute filter")
    check(again["MD5OfMessageAttributes"] == md5_of_attributes({"s": attrs["s"]}), "filtered MD5")
    got[bodies["e1"]] = again

    # Delete: one alone, the rest in a batch; a garbage handle fails in its entry only.
    client.delete_message(QueueUrl=url, ReceiptHandle=again["ReceiptHandle"])
    rest = [m for b, m in got.items() if b != bodies["e1"]]
    r = client.delete_message_batch(QueueUrl=url, Entries=[
        {"Id": "d%d" % i, "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(rest)] +
        [{"Id": "bad", "ReceiptHandle": "garbage"}])
    check(len(r["Successful"]) == 2 and [f["Id"] for f in r["Failed"]] == ["bad"], "delete batch: %s" % r)
    check(r["Failed"][0]["Code"] == "ReceiptHandleIsInvalid", "failed entry code")
    check(error_code(client.delete_message, QueueUrl=url, ReceiptHandle="garbage") == "ReceiptHandleIsInvalid",
          "garbage handle")

    # Long poll: a receive parked on an empty queue wakes when a message comes.
    result = {}

    def poll():
        t0 = time.time()
        result["r"] = client.receive_message(QueueUrl=url, WaitTimeSeconds=10)
        result["t"] = time.time() - t0

    t = threading.Thread(target=poll)
    t.start()
    time.sleep(0.5)
    # With an X-Ray trace header (the one message system attribute a sender
    # sets): its digest is SQS's algorithm over the system attributes.
    trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    sent = client.send_message(QueueUrl=url, MessageBody="wake up", MessageSystemAttributes={
        "AWSTraceHeader": {"DataType": "String", "StringValue": trace}})
    check(sent.get("MD5OfMessageSystemAttributes") == "5ae4d5d7636402d80f4eb6d213245a88",
          "MD5OfMessageSystemAttributes: %s" % sent)
    check("MD5OfMessageAttributes" not in sent, "no message attributes were sent")
    t.join()
    msgs = result["r"].get("Messages", [])
    check(len(msgs) == 1 and msgs[0]["Body"] == "wake up", "long poll got %s" % msgs)
    check(0.4 < result["t"] < 5, "long poll took %.2fs" % result["t"])
    check(error_code(client.send_message, QueueUrl=url, MessageBody="x", MessageSystemAttributes={
        "SenderId": {"DataType": "String", "StringValue": "me"}}) == "InvalidParameterValue",
        "only AWSTraceHeader may be sent")
    # In a batch the bad entry fails alone.
    r = client.send_message_batch(QueueUrl=url, Entries=[
        {"Id": "good", "MessageBody": "batched"},
        {"Id": "bad", "MessageBody": "x", "MessageSystemAttributes": {
            "AWSTraceHeader": {"DataType": "Number", "StringValue": "1"}}}])
    check([e["Id"] for e in r["Successful"]] == ["good"] and [f["Id"] for f in r["Failed"]] == ["bad"] and
          r["Failed"][0]["Code"] == "InvalidParameterValue", "a bad system attribute fails its entry: %s" % r)
    good = client.receive_message(QueueUrl=url, WaitTimeSeconds=2)["Messages"][0]
    check(good["Body"] == "batched", "the good entry was sent")
    client.delete_message(QueueUrl=url, ReceiptHandle=good["ReceiptHandle"])
    t0 = time.time()
    empty = client.receive_message(QueueUrl=url, WaitTimeSeconds=1)
    check(not empty.get("Messages") and time.time() - t0 >= 0.9, "an empty long poll waits its time")

    # Dead-letter queue: the message received once (maxReceiveCount 1) goes to the
    # DLQ when its lease ends; a move task brings it back to its source.
    client.set_queue_attributes(QueueUrl=url, Attributes={
        "RedrivePolicy": '{"deadLetterTargetArn":"%s","maxReceiveCount":"1"}' % dlq_arn})
    client.change_message_visibility(QueueUrl=url, ReceiptHandle=msgs[0]["ReceiptHandle"], VisibilityTimeout=1)
    moved = []
    for _ in range(40):
        moved = client.receive_message(QueueUrl=dlq, VisibilityTimeout=0,
                                       AttributeNames=["DeadLetterQueueSourceArn", "AWSTraceHeader"]
                                       ).get("Messages", [])
        if moved:
            break
        time.sleep(0.25)
    check(moved and moved[0]["Body"] == "wake up", "message in the DLQ")
    source_arn = client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    check(moved[0]["Attributes"].get("DeadLetterQueueSourceArn") == source_arn,
          "DeadLetterQueueSourceArn: %s" % moved[0]["Attributes"])
    check(moved[0]["Attributes"].get("AWSTraceHeader") == trace, "the trace header moved with the message")
    check(sorted(moved[0]["Attributes"]) == ["AWSTraceHeader", "DeadLetterQueueSourceArn"],
          "only the system attributes asked for: %s" % moved[0]["Attributes"])
    sources = client.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"]
    check(sources == [url], "dead-letter sources: %s" % sources)
    if hasattr(client, "start_message_move_task"):
        handle = client.start_message_move_task(SourceArn=dlq_arn, MaxNumberOfMessagesPerSecond=50)["TaskHandle"]
        check(handle, "task handle")
        check(error_code(client.start_message_move_task, SourceArn=dlq_arn) == "InvalidParameterValue",
              "one task per source")
        status = None
        for _ in range(40):
            tasks = client.list_message_move_tasks(SourceArn=dlq_arn, MaxResults=10)["Results"]
            status = tasks[0]["Status"]
            if status == "COMPLETED":
                break
            time.sleep(0.25)
        check(status == "COMPLETED" and tasks[0]["ApproximateNumberOfMessagesMoved"] == 1, "task: %s" % tasks)
        check(error_code(client.cancel_message_move_task, TaskHandle=handle) == "InvalidParameterValue",
              "cancel a finished task")
        check(error_code(client.list_message_move_tasks, SourceArn=dlq_arn + "-nope") ==
              "ResourceNotFoundException", "unknown source ARN")
    else:  # botocore older than the move-task API: speak the Query protocol by hand
        root, ns = raw_query("StartMessageMoveTask", SourceArn=dlq_arn)
        check(root.find(ns + "StartMessageMoveTaskResult/" + ns + "TaskHandle").text, "task handle (raw)")
        status = None
        for _ in range(40):
            root, ns = raw_query("ListMessageMoveTasks", SourceArn=dlq_arn)
            entry = root.find(ns + "ListMessageMoveTasksResult/" + ns + "ListMessageMoveTasksResultEntry")
            status = entry.find(ns + "Status").text
            if status == "COMPLETED":
                break
            time.sleep(0.25)
        check(status == "COMPLETED", "task status (raw): %s" % status)
        check(entry.find(ns + "ApproximateNumberOfMessagesMoved").text == "1", "moved count (raw)")
    back = client.receive_message(QueueUrl=url, WaitTimeSeconds=5)["Messages"]
    check(back[0]["Body"] == "wake up", "redriven back to its source")
    client.delete_message(QueueUrl=url, ReceiptHandle=back[0]["ReceiptHandle"])

    # Tags and permissions.
    client.tag_queue(QueueUrl=url, Tags={"env": "test", "gone": "soon"})
    client.untag_queue(QueueUrl=url, TagKeys=["gone"])
    check(client.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "shmq", "env": "test"}, "tags")
    client.add_permission(QueueUrl=url, Label="peer", AWSAccountIds=["111122223333"],
                          Actions=["SendMessage", "ReceiveMessage"])
    check(error_code(client.add_permission, QueueUrl=url, Label="peer", AWSAccountIds=["111122223333"],
                     Actions=["SendMessage"]) == "InvalidParameterValue", "duplicate label")
    client.remove_permission(QueueUrl=url, Label="peer")

    # Attributes, purge, errors, delete.
    client.set_queue_attributes(QueueUrl=url, Attributes={"DelaySeconds": "0", "MaximumMessageSize": "2048"})
    check(client.get_queue_attributes(QueueUrl=url, AttributeNames=["MaximumMessageSize"])["Attributes"] ==
          {"MaximumMessageSize": "2048"}, "set attributes")
    check(error_code(client.send_message, QueueUrl=url, MessageBody="y" * 3000) == "InvalidParameterValue",
          "oversized message")
    check(error_code(client.set_queue_attributes, QueueUrl=url, Attributes={"Bogus": "1"}) ==
          "InvalidAttributeName", "unknown attribute")
    client.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "p"} for i in range(5)])
    client.purge_queue(QueueUrl=url)
    check(client.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
          ["Attributes"]["ApproximateNumberOfMessages"] == "0", "purged")
    check(error_code(client.purge_queue, QueueUrl=url) == "AWS.SimpleQueueService.PurgeQueueInProgress",
          "purge twice within 60 s")
    for u in (url, dlq):
        client.delete_queue(QueueUrl=u)
    check(error_code(client.get_queue_url, QueueName=PREFIX + "-main") == "AWS.SimpleQueueService.NonExistentQueue",
          "deleted queue is gone")
    check(error_code(client.receive_message, QueueUrl=url) == "AWS.SimpleQueueService.NonExistentQueue",
          "receive from a deleted queue")


def fifo():
    url = client.create_queue(QueueName=PREFIX + ".fifo",
                              Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"})["QueueUrl"]
    seq = {}
    for body, group in (("a1", "A"), ("a2", "A"), ("b1", "B")):
        r = client.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group)
        check(r.get("SequenceNumber"), "FIFO send returns a SequenceNumber")
        seq[body] = r
    dup = client.send_message(QueueUrl=url, MessageBody="a1", MessageGroupId="A")
    check(dup["MessageId"] == seq["a1"]["MessageId"], "content-based deduplication")
    explicit = client.send_message(QueueUrl=url, MessageBody="c1", MessageGroupId="C",
                                   MessageDeduplicationId="same")
    again = client.send_message(QueueUrl=url, MessageBody="c2", MessageGroupId="C", MessageDeduplicationId="same")
    check(again["MessageId"] == explicit["MessageId"], "explicit deduplication id")
    check(int(seq["a2"]["SequenceNumber"]) > int(seq["a1"]["SequenceNumber"]), "sequence numbers increase")
    r = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"], WaitTimeSeconds=1)
    bodies = [m["Body"] for m in r.get("Messages", [])]
    check(sorted(bodies) == ["a1", "a2", "b1", "c1"], "first receive: %s" % bodies)
    check(bodies.index("a1") < bodies.index("a2"), "group order: %s" % bodies)
    first = {m["Body"]: m for m in r["Messages"]}
    check(first["a1"]["Attributes"]["MessageGroupId"] == "A", "MessageGroupId attribute")
    check(int(first["a2"]["Attributes"]["SequenceNumber"]) > int(first["a1"]["Attributes"]["SequenceNumber"]),
          "SequenceNumber attribute")
    # While group A is in flight nothing later of A is delivered; other groups flow.
    client.send_message(QueueUrl=url, MessageBody="a3", MessageGroupId="A")
    client.send_message(QueueUrl=url, MessageBody="d1", MessageGroupId="D")
    r = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
    check([m["Body"] for m in r.get("Messages", [])] == ["d1"], "group A is locked: %s" % r.get("Messages"))
    client.delete_message_batch(QueueUrl=url, Entries=[
        {"Id": "x%d" % i, "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(first.values())])
    r = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
    check([m["Body"] for m in r.get("Messages", [])] == ["a3"], "next in group A after the delete: %s" % r)
    check(error_code(client.send_message, QueueUrl=url, MessageBody="z") == "MissingParameter",
          "FIFO send without a group")
    client.delete_queue(QueueUrl=url)


{"standard": standard, "fifo": fifo}[PART]()
print("scenario %s/%s: OK" % (PROTOCOL, PART))
