// The two wire protocols of SQS (../shared/SQS.md 3.1, 3.2), reduced to one
// form: an action name and its parameters as the JSON protocol names them
// (the Query protocol's flattened `Attribute.1.Name=...` is rebuilt into the
// same maps and lists). Replies go the other way: a result in JSON-protocol
// shape, rendered as JSON or as the Query protocol's XML.
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "shmq/status.h"

namespace shmq::gateway {

enum class Protocol { kJson, kQuery };

struct ApiRequest {
  Protocol protocol = Protocol::kJson;
  std::string action;
  nlohmann::json params = nlohmann::json::object();
};

// Which protocol a request speaks, from its headers alone (so that even a
// request that fails to parse gets its error in the protocol it expects).
Protocol detect_protocol(std::string_view x_amz_target, std::string_view content_type);

// Parses an HTTP request. target is the request-target (path?query).
// Errors: MissingAction, InvalidAction, MalformedQueryString,
// SerializationException (bad JSON body).
Result<ApiRequest> parse_request(std::string_view method, std::string_view target,
                                 std::string_view x_amz_target, std::string_view content_type,
                                 std::string_view body);

// Decodes application/x-www-form-urlencoded text into (name, value) pairs.
// false on a malformed escape.
bool decode_form(std::string_view text, std::vector<std::pair<std::string, std::string>>* out);
// %XX-decoding ('+' is a space when form is true). false on a bad escape.
bool percent_decode(std::string_view in, bool form, std::string* out);

// The reply body of a successful action; result is in JSON-protocol shape.
std::string render_result(Protocol p, const std::string& action, const nlohmann::json& result,
                          const std::string& request_id);
// The reply body of an error.
std::string render_error(Protocol p, const Status& error, const std::string& request_id);
const char* content_type(Protocol p);

}  // namespace shmq::gateway
