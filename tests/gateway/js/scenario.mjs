// One whole SQS scenario against shmq's HTTP gateway with the AWS SDK for
// JavaScript v3 (@aws-sdk/client-sqs, AWS JSON 1.0 protocol; the SDK checks
// MD5OfMessageBody and MD5OfMessageAttributes itself).
//
//   node scenario.mjs ENDPOINT standard|fifo
import {
  SQSClient, CreateQueueCommand, GetQueueAttributesCommand, SetQueueAttributesCommand, SendMessageCommand,
  SendMessageBatchCommand, ReceiveMessageCommand, DeleteMessageCommand, DeleteMessageBatchCommand,
  ChangeMessageVisibilityCommand, ChangeMessageVisibilityBatchCommand, PurgeQueueCommand, DeleteQueueCommand,
  ListQueuesCommand, GetQueueUrlCommand, TagQueueCommand, UntagQueueCommand, ListQueueTagsCommand,
  ListDeadLetterSourceQueuesCommand, StartMessageMoveTaskCommand, ListMessageMoveTasksCommand,
  CancelMessageMoveTaskCommand, AddPermissionCommand, RemovePermissionCommand,
} from "@aws-sdk/client-sqs";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";

const [endpoint, part] = process.argv.slice(2);
const sqs = new SQSClient({ endpoint, region: "us-east-1", credentials: { accessKeyId: "test", secretAccessKey: "test" } });
const prefix = `js${Date.now() % 100000}`;
const md5 = (s) => createHash("md5").update(s).digest("hex");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const send = (c) => sqs.send(c);
async function errorName(promise) {
  try { await promise; } catch (e) { return e.name; }
  throw new Error("expected an error");
}

async function standard() {
  const dlq = (await send(new CreateQueueCommand({ QueueName: `${prefix}-dlq` }))).QueueUrl;
  const dlqArn = (await send(new GetQueueAttributesCommand({ QueueUrl: dlq, AttributeNames: ["QueueArn"] }))).Attributes.QueueArn;
  assert.equal(dlqArn, `arn:aws:sqs:us-east-1:000000000000:${prefix}-dlq`);
  const url = (await send(new CreateQueueCommand({ QueueName: `${prefix}-main`, tags: { team: "shmq" } }))).QueueUrl;
  assert.ok((await send(new ListQueuesCommand({ QueueNamePrefix: prefix }))).QueueUrls.includes(url));
  assert.equal((await send(new GetQueueUrlCommand({ QueueName: `${prefix}-main` }))).QueueUrl, url);

  const attrs = {
    s: { DataType: "String", StringValue: "caf\u00e9 \r\n<&>" },
    n: { DataType: "Number", StringValue: "42" },
    b: { DataType: "Binary", BinaryValue: new Uint8Array([0, 1, 255]) },
  };
  const bodies = { e1: "hello \u4e16\u754c", e2: "second", e3: "third" };
  const sent = await send(new SendMessageBatchCommand({
    QueueUrl: url, Entries: Object.entries(bodies).map(([Id, MessageBody]) => ({ Id, MessageBody, MessageAttributes: attrs })),
  }));
  assert.equal(sent.Successful.length, 3);
  for (const e of sent.Successful) assert.equal(e.MD5OfMessageBody, md5(bodies[e.Id]));

  const got = new Map();
  for (let i = 0; i < 10 && got.size < 3; i++) {
    const r = await send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
      MessageAttributeNames: ["All"], MessageSystemAttributeNames: ["All"] }));
    for (const m of r.Messages ?? []) got.set(m.Body, m);
  }
  assert.deepEqual([...got.keys()].sort(), Object.values(bodies).sort());
  for (const m of got.values()) {
    assert.equal(m.MessageAttributes.s.StringValue, attrs.s.StringValue);
    assert.deepEqual([...m.MessageAttributes.b.BinaryValue], [0, 1, 255]);
    assert.equal(m.Attributes.ApproximateReceiveCount, "1");
  }

  // Change visibility (single and batch), then delete.
  const [m1, m2, m3] = [...got.values()];
  await send(new ChangeMessageVisibilityCommand({ QueueUrl: url, ReceiptHandle: m1.ReceiptHandle, VisibilityTimeout: 0 }));
  const again = (await send(new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 2 }))).Messages[0];
  assert.equal(again.MessageId, m1.MessageId);
  const cv = await send(new ChangeMessageVisibilityBatchCommand({ QueueUrl: url, Entries: [
    { Id: "a", ReceiptHandle: m2.ReceiptHandle, VisibilityTimeout: 60 },
    { Id: "bad", ReceiptHandle: "garbage", VisibilityTimeout: 60 }] }));
  assert.deepEqual(cv.Successful.map((e) => e.Id), ["a"]);
  assert.equal(cv.Failed[0].Code, "ReceiptHandleIsInvalid");
  await send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: again.ReceiptHandle }));
  const del = await send(new DeleteMessageBatchCommand({ QueueUrl: url, Entries: [
    { Id: "x", ReceiptHandle: m2.ReceiptHandle }, { Id: "y", ReceiptHandle: m3.ReceiptHandle }] }));
  assert.equal(del.Successful.length, 2);

  // Long poll parked on an empty queue, woken by a send.
  const t0 = Date.now();
  const parked = send(new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 10 }));
  await sleep(500);
  await send(new SendMessageCommand({ QueueUrl: url, MessageBody: "wake up" }));
  const woke = (await parked).Messages;
  assert.equal(woke[0].Body, "wake up");
  assert.ok(Date.now() - t0 < 5000, "long poll returned late");

  // DLQ, then a move task back to the source.
  await send(new SetQueueAttributesCommand({ QueueUrl: url, Attributes: {
    RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 1 }) } }));
  await send(new ChangeMessageVisibilityCommand({ QueueUrl: url, ReceiptHandle: woke[0].ReceiptHandle, VisibilityTimeout: 1 }));
  let inDlq = [];
  for (let i = 0; i < 40 && inDlq.length === 0; i++) {
    inDlq = (await send(new ReceiveMessageCommand({ QueueUrl: dlq, VisibilityTimeout: 0 }))).Messages ?? [];
    if (inDlq.length === 0) await sleep(250);
  }
  assert.equal(inDlq[0]?.Body, "wake up");
  assert.deepEqual((await send(new ListDeadLetterSourceQueuesCommand({ QueueUrl: dlq }))).queueUrls, [url]);
  const { TaskHandle } = await send(new StartMessageMoveTaskCommand({ SourceArn: dlqArn }));
  assert.ok(TaskHandle);
  let task;
  for (let i = 0; i < 40; i++) {
    task = (await send(new ListMessageMoveTasksCommand({ SourceArn: dlqArn }))).Results[0];
    if (task.Status === "COMPLETED") break;
    await sleep(250);
  }
  assert.equal(task.Status, "COMPLETED");
  assert.equal(task.ApproximateNumberOfMessagesMoved, 1);
  assert.equal(await errorName(send(new CancelMessageMoveTaskCommand({ TaskHandle }))), "InvalidParameterValue");
  const back = (await send(new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 5 }))).Messages;
  assert.equal(back[0].Body, "wake up");

  // Tags, permissions, purge, errors, delete.
  await send(new TagQueueCommand({ QueueUrl: url, Tags: { env: "test", gone: "soon" } }));
  await send(new UntagQueueCommand({ QueueUrl: url, TagKeys: ["gone"] }));
  assert.deepEqual((await send(new ListQueueTagsCommand({ QueueUrl: url }))).Tags, { team: "shmq", env: "test" });
  await send(new AddPermissionCommand({ QueueUrl: url, Label: "peer", AWSAccountIds: ["111122223333"], Actions: ["SendMessage"] }));
  await send(new RemovePermissionCommand({ QueueUrl: url, Label: "peer" }));
  await send(new PurgeQueueCommand({ QueueUrl: url }));
  assert.equal(await errorName(send(new PurgeQueueCommand({ QueueUrl: url }))), "PurgeQueueInProgress");
  assert.equal(await errorName(send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 11 }))), "InvalidParameterValue");
  await send(new DeleteQueueCommand({ QueueUrl: url }));
  await send(new DeleteQueueCommand({ QueueUrl: dlq }));
  assert.equal(await errorName(send(new GetQueueUrlCommand({ QueueName: `${prefix}-main` }))), "QueueDoesNotExist");
}

async function fifo() {
  const url = (await send(new CreateQueueCommand({ QueueName: `${prefix}.fifo`,
    Attributes: { FifoQueue: "true", ContentBasedDeduplication: "true" } }))).QueueUrl;
  const a1 = await send(new SendMessageCommand({ QueueUrl: url, MessageBody: "a1", MessageGroupId: "A" }));
  await send(new SendMessageCommand({ QueueUrl: url, MessageBody: "a2", MessageGroupId: "A" }));
  await send(new SendMessageCommand({ QueueUrl: url, MessageBody: "b1", MessageGroupId: "B" }));
  assert.ok(a1.SequenceNumber);
  const dup = await send(new SendMessageCommand({ QueueUrl: url, MessageBody: "a1", MessageGroupId: "A" }));
  assert.equal(dup.MessageId, a1.MessageId);
  const r = await send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
  const bodies = (r.Messages ?? []).map((m) => m.Body);
  assert.deepEqual([...bodies].sort(), ["a1", "a2", "b1"]);
  assert.ok(bodies.indexOf("a1") < bodies.indexOf("a2"), `group order: ${bodies}`);
  await send(new SendMessageCommand({ QueueUrl: url, MessageBody: "a3", MessageGroupId: "A" }));
  const locked = await send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
  assert.equal((locked.Messages ?? []).length, 0, "group A stays locked while in flight");
  await send(new DeleteMessageBatchCommand({ QueueUrl: url,
    Entries: r.Messages.map((m, i) => ({ Id: `d${i}`, ReceiptHandle: m.ReceiptHandle })) }));
  const next = await send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
  assert.deepEqual((next.Messages ?? []).map((m) => m.Body), ["a3"]);
  await send(new DeleteQueueCommand({ QueueUrl: url }));
}

await (part === "fifo" ? fifo() : standard());
console.log(`scenario js/${part}: OK`);
