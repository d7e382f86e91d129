#include "gateway/params.h"

#include <cerrno>
#include <cstdlib>

#include "gateway/codec.h"

namespace shmq::gateway {

using nlohmann::json;

namespace {
Status invalid(const std::string& name, const std::string& why) {
  return Status("InvalidParameterValue", "Value for parameter " + name + " is invalid. Reason: " + why);
}
}  // namespace

Status missing(const std::string& name) {
  return Status("MissingParameter", "The request must contain the parameter " + name + ".");
}

Status get_string(const json& p, const char* name, std::string* out, bool required) {
  auto it = p.find(name);
  if (it == p.end() || it->is_null()) return required ? missing(name) : Status::OK();
  if (!it->is_string()) return invalid(name, "must be a string.");
  *out = it->get<std::string>();
  return Status::OK();
}

Status get_int(const json& p, const char* name, int64_t* out, bool* present) {
  if (present) *present = false;
  auto it = p.find(name);
  if (it == p.end() || it->is_null()) return Status::OK();
  if (it->is_number_integer()) {
    *out = it->get<int64_t>();
  } else if (it->is_string()) {
    const std::string s = it->get<std::string>();
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(s.c_str(), &end, 10);
    if (s.empty() || *end != 0 || errno != 0)
      return Status("InvalidParameterValue", "Value " + s + " for parameter " + name + " is invalid. Reason: must be an integer.");
    *out = v;
  } else {
    return invalid(name, "must be an integer.");
  }
  if (present) *present = true;
  return Status::OK();
}

Status get_string_map(const json& p, const char* name, std::map<std::string, std::string>* out, bool required) {
  auto it = p.find(name);
  if (it == p.end() || it->is_null()) return required ? missing(name) : Status::OK();
  if (!it->is_object()) return invalid(name, "must be a map of strings.");
  for (const auto& [k, v] : it->items()) {
    if (!v.is_string()) return invalid(name, "the value of " + k + " must be a string.");
    (*out)[k] = v.get<std::string>();
  }
  return Status::OK();
}

Status get_string_list(const json& p, const char* name, std::vector<std::string>* out, bool required) {
  auto it = p.find(name);
  if (it == p.end() || it->is_null()) return required ? missing(name) : Status::OK();
  if (!it->is_array()) return invalid(name, "must be a list of strings.");
  for (const auto& v : *it) {
    if (!v.is_string()) return invalid(name, "must be a list of strings.");
    out->push_back(v.get<std::string>());
  }
  return Status::OK();
}

Status get_message_attributes(const json& p, const char* name, MessageAttributes* out) {
  auto it = p.find(name);
  if (it == p.end() || it->is_null()) return Status::OK();
  if (!it->is_object()) return invalid(name, "must be a map.");
  for (const auto& [k, v] : it->items()) {
    if (!v.is_object()) return invalid(name, "the value of " + k + " must be a structure.");
    MessageAttributeValue a;
    if (Status s = get_string(v, "DataType", &a.data_type); !s.ok()) return s;
    if (a.data_type.empty())
      return Status("InvalidParameterValue",
                    "The message attribute '" + k + "' must contain non-empty message attribute type.");
    if (v.contains("StringListValues") || v.contains("BinaryListValues"))
      return Status("InvalidParameterValue", "Message attribute list values are not supported (reserved for future use).");
    if (Status s = get_string(v, "StringValue", &a.string_value); !s.ok()) return s;
    std::string b64;
    if (Status s = get_string(v, "BinaryValue", &b64); !s.ok()) return s;
    if (!b64.empty()) {
      auto raw = base64_decode(b64);
      if (!raw) return Status("InvalidParameterValue", "The message attribute '" + k + "' has an invalid base64 BinaryValue.");
      a.binary_value = std::move(*raw);
    }
    (*out)[k] = std::move(a);
  }
  return Status::OK();
}

Status get_entries(const json& p, std::vector<const json*>* out) {
  auto it = p.find("Entries");
  if (it == p.end() || it->is_null()) return missing("Entries");
  if (!it->is_array()) return invalid("Entries", "must be a list.");
  for (const auto& e : *it) {
    if (!e.is_object()) return invalid("Entries", "each entry must be a structure.");
    out->push_back(&e);
  }
  return Status::OK();
}

}  // namespace shmq::gateway
