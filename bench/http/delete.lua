-- DeleteMessage with the receipt handles in $SHMQ_HANDLES (one per line, each
-- a leased message): every request deletes a real message while the run
-- stays under the number of handles (http_bench.sh checks it).
local handles = {}
for line in io.lines(os.getenv("SHMQ_HANDLES")) do handles[#handles + 1] = line end
local headers = {["Content-Type"] = "application/x-amz-json-1.0", ["X-Amz-Target"] = "AmazonSQS.DeleteMessage"}
local i = 0
request = function()
  i = i + 1
  return wrk.format("POST", "/", headers,
    '{"QueueUrl":"http://127.0.0.1/000000000000/bench-del","ReceiptHandle":"' .. handles[(i - 1) % #handles + 1] .. '"}')
end
