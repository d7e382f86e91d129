// How an SQS error name (a shmq::Status code) travels over HTTP: the HTTP
// status, the JSON protocol's __type, and the Query protocol's <Code> (also
// the first half of the x-amzn-query-error header). ../shared/SQS.md 3.3.
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace shmq::gateway {

struct WireError {
  unsigned http_status;   // 400, 403, 404, 413, 500, 503
  std::string json_type;  // full __type, e.g. "com.amazonaws.sqs#QueueDoesNotExist"
  std::string query_code; // e.g. "AWS.SimpleQueueService.NonExistentQueue"
  bool sender_fault;      // Type Sender (true) or Receiver
};

// Unknown codes are reported as they are, 400, Sender; internal errors
// (InternalError, InternalFailure) as 500 Receiver.
WireError wire_error(std::string_view code);

}  // namespace shmq::gateway
