-- DeleteMessage with the receipt handles in $SHMQ_HANDLES (lines "QUEUE
-- HANDLE", each a leased message): every request deletes a real message
-- while the run stays under the number of handles (http_bench.sh checks it).
local handles = {}
for line in io.lines(os.getenv("SHMQ_HANDLES")) do
  local q, h = line:match("^(%S+) (%S+)$")
  handles[#handles + 1] = {q, h}
end
local headers = {["Content-Type"] = "application/x-amz-json-1.0", ["X-Amz-Target"] = "AmazonSQS.DeleteMessage"}
local i = 0
request = function()
  i = i + 1
  local e = handles[(i - 1) % #handles + 1]
  return wrk.format("POST", "/", headers,
    '{"QueueUrl":"http://127.0.0.1/000000000000/' .. e[1] .. '","ReceiptHandle":"' .. e[2] .. '"}')
end
