-- ReceiveMessage of one message with VisibilityTimeout 0: the message is
-- leased (receipt handle, receive count) and made visible again at once, so
-- a small queue serves any number of requests.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-amz-json-1.0"
wrk.headers["X-Amz-Target"] = "AmazonSQS.ReceiveMessage"
wrk.body = '{"QueueUrl":"http://127.0.0.1/000000000000/bench-recv","MaxNumberOfMessages":1,' ..
           '"VisibilityTimeout":0,"WaitTimeSeconds":0}'
