// Reading action parameters. Both protocols end up as a JSON object (see
// protocol.h); the Query protocol gives every scalar as a string, so numbers
// and booleans are accepted as JSON values or as their text.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "shmq/client.h"
#include "shmq/status.h"

namespace shmq::gateway {

Status missing(const std::string& name);

// *out untouched when absent (MissingParameter if required).
Status get_string(const nlohmann::json& p, const char* name, std::string* out, bool required = false);
// *present (may be null) tells whether it was given.
Status get_int(const nlohmann::json& p, const char* name, int64_t* out, bool* present = nullptr);
Status get_string_map(const nlohmann::json& p, const char* name, std::map<std::string, std::string>* out,
                      bool required = false);
Status get_string_list(const nlohmann::json& p, const char* name, std::vector<std::string>* out,
                       bool required = false);
// MessageAttributes: {name: {DataType, StringValue | BinaryValue (base64)}}.
Status get_message_attributes(const nlohmann::json& p, const char* name, MessageAttributes* out);
// Entries of a batch: a list of objects (MissingParameter when absent).
Status get_entries(const nlohmann::json& p, std::vector<const nlohmann::json*>* out);

}  // namespace shmq::gateway
