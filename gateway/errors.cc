#include "gateway/errors.h"

#include <map>

namespace shmq::gateway {

namespace {

struct Row {
  const char* query_code;
  unsigned status;
  bool modelled;  // a shape of the SQS model (__type com.amazonaws.sqs#Name)
};

const std::map<std::string_view, Row>& table() {
  static const std::map<std::string_view, Row> t = {
      {"QueueDoesNotExist", {"AWS.SimpleQueueService.NonExistentQueue", 400, true}},
      {"QueueNameExists", {"QueueAlreadyExists", 400, true}},
      {"QueueDeletedRecently", {"AWS.SimpleQueueService.QueueDeletedRecently", 400, true}},
      {"ReceiptHandleIsInvalid", {"ReceiptHandleIsInvalid", 404, true}},
      {"MessageNotInflight", {"AWS.SimpleQueueService.MessageNotInflight", 400, true}},
      {"EmptyBatchRequest", {"AWS.SimpleQueueService.EmptyBatchRequest", 400, true}},
      {"TooManyEntriesInBatchRequest", {"AWS.SimpleQueueService.TooManyEntriesInBatchRequest", 400, true}},
      {"BatchEntryIdsNotDistinct", {"AWS.SimpleQueueService.BatchEntryIdsNotDistinct", 400, true}},
      {"InvalidBatchEntryId", {"AWS.SimpleQueueService.InvalidBatchEntryId", 400, true}},
      {"BatchRequestTooLong", {"AWS.SimpleQueueService.BatchRequestTooLong", 400, true}},
      {"PurgeQueueInProgress", {"AWS.SimpleQueueService.PurgeQueueInProgress", 403, true}},
      {"OverLimit", {"OverLimit", 403, true}},
      {"InvalidAttributeName", {"InvalidAttributeName", 400, true}},
      {"InvalidAttributeValue", {"InvalidAttributeValue", 400, true}},
      {"InvalidMessageContents", {"InvalidMessageContents", 400, true}},
      {"UnsupportedOperation", {"AWS.SimpleQueueService.UnsupportedOperation", 400, true}},
      {"RequestThrottled", {"RequestThrottled", 403, true}},
      {"InvalidAddress", {"InvalidAddress", 404, true}},
      {"InvalidSecurity", {"InvalidSecurity", 403, true}},
      {"ResourceNotFoundException", {"ResourceNotFoundException", 404, true}},
      // Common errors (not SQS shapes): __type com.amazon.coral.service#<Name>Exception.
      {"InvalidParameterValue", {"InvalidParameterValue", 400, false}},
      {"MissingParameter", {"MissingParameter", 400, false}},
      {"AccessDenied", {"AccessDenied", 400, false}},
      {"InvalidAction", {"InvalidAction", 400, false}},
      {"MissingAction", {"MissingAction", 400, false}},
      {"InvalidQueryParameter", {"InvalidQueryParameter", 400, false}},
      {"MalformedQueryString", {"MalformedQueryString", 404, false}},
      {"IncompleteSignature", {"IncompleteSignature", 400, false}},
      {"RequestExpired", {"RequestExpired", 400, false}},
      {"InvalidClientTokenId", {"InvalidClientTokenId", 403, false}},
      {"SignatureDoesNotMatch", {"SignatureDoesNotMatch", 403, false}},
      {"MissingAuthenticationToken", {"MissingAuthenticationToken", 403, false}},
      {"RequestEntityTooLarge", {"RequestEntityTooLarge", 413, false}},
      {"SerializationException", {"SerializationException", 400, false}},
      {"MalformedHttpRequest", {"MalformedHttpRequest", 400, false}},
      {"InternalError", {"InternalFailure", 500, false}},
      {"InternalFailure", {"InternalFailure", 500, false}},
      {"ServiceUnavailable", {"ServiceUnavailable", 503, false}},
  };
  return t;
}

// The coral names of the common errors, as AWS sends them in __type.
std::string coral_name(std::string_view code) {
  if (code == "InvalidParameterValue") return "InvalidParameterValueException";
  if (code == "MissingParameter") return "MissingRequiredParameterException";
  if (code == "AccessDenied") return "AccessDeniedException";
  if (code == "InternalError") return "InternalFailure";
  return std::string(code);
}

}  // namespace

WireError wire_error(std::string_view code) {
  auto it = table().find(code);
  if (it == table().end()) return {400, "com.amazonaws.sqs#" + std::string(code), std::string(code), true};
  const Row& r = it->second;
  WireError e;
  e.http_status = r.status;
  e.json_type = r.modelled ? "com.amazonaws.sqs#" + std::string(code)
                           : "com.amazon.coral.service#" + coral_name(code);
  e.query_code = r.query_code;
  e.sender_fault = r.status < 500;
  return e;
}

}  // namespace shmq::gateway
