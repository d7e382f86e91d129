-- SendMessage (AWS JSON 1.0), 64-byte bodies, spread over $SHMQ_QUEUES queues
-- (bench-send-1..N) so the run never fills one queue.
local queues = tonumber(os.getenv("SHMQ_QUEUES") or "1")
local body = string.rep("x", 64)
local headers = {["Content-Type"] = "application/x-amz-json-1.0", ["X-Amz-Target"] = "AmazonSQS.SendMessage"}
local n = 0
request = function()
  n = n + 1
  local q = "bench-send-" .. ((n % queues) + 1)
  return wrk.format("POST", "/", headers,
    '{"QueueUrl":"http://127.0.0.1/000000000000/' .. q .. '","MessageBody":"' .. body .. '"}')
end
