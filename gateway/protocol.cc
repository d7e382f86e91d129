#include "gateway/protocol.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>

#include "gateway/errors.h"

namespace shmq::gateway {

using nlohmann::json;

namespace {

constexpr const char* kXmlns = "http://queue.amazonaws.com/doc/2012-11-05/";

const std::set<std::string, std::less<>>& actions() {
  static const std::set<std::string, std::less<>> a = {
      "AddPermission", "CancelMessageMoveTask", "ChangeMessageVisibility", "ChangeMessageVisibilityBatch",
      "CreateQueue", "DeleteMessage", "DeleteMessageBatch", "DeleteQueue", "GetQueueAttributes", "GetQueueUrl",
      "ListDeadLetterSourceQueues", "ListMessageMoveTasks", "ListQueueTags", "ListQueues", "PurgeQueue",
      "ReceiveMessage", "RemovePermission", "SendMessage", "SendMessageBatch", "SetQueueAttributes",
      "StartMessageMoveTask", "TagQueue", "UntagQueue"};
  return a;
}

Status unknown_action(std::string_view action) {
  return Status("InvalidAction", "The action " + std::string(action) + " is not valid for this web service.");
}

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// ---- Query protocol: flattened names back to maps and lists ------------------

// `<Head>.N` lists of scalars and the JSON member they fill.
const std::map<std::string, std::string, std::less<>>& scalar_lists() {
  static const std::map<std::string, std::string, std::less<>> m = {
      {"AttributeName", "AttributeNames"},
      {"MessageSystemAttributeName", "MessageSystemAttributeNames"},
      {"MessageAttributeName", "MessageAttributeNames"},
      {"TagKey", "TagKeys"},
      {"AWSAccountId", "AWSAccountIds"},
      {"ActionName", "Actions"}};
  return m;
}

bool is_entry_list(std::string_view head) {
  return head == "SendMessageBatchRequestEntry" || head == "DeleteMessageBatchRequestEntry" ||
         head == "ChangeMessageVisibilityBatchRequestEntry";
}

Result<json> unflatten(const std::vector<std::pair<std::string, std::string>>& flat, std::string_view action) {
  json out = json::object();
  // head -> index -> (rest of the name -> value)
  std::map<std::string, std::map<long, std::vector<std::pair<std::string, std::string>>>> groups;
  for (const auto& [k, v] : flat) {
    const size_t dot = k.find('.');
    if (dot == std::string::npos) {
      out[k] = v;
      continue;
    }
    const std::string head = k.substr(0, dot);
    const std::string rest = k.substr(dot + 1);
    const size_t dot2 = rest.find('.');
    const std::string idx = rest.substr(0, dot2);
    char* end = nullptr;
    const long n = std::strtol(idx.c_str(), &end, 10);
    if (idx.empty() || *end != 0 || n < 1 || n > 100000)
      return Status("MalformedQueryString", "Invalid parameter name " + k + ".");
    groups[head][n].emplace_back(dot2 == std::string::npos ? "" : rest.substr(dot2 + 1), v);
  }
  for (const auto& [head, by_index] : groups) {
    if (auto s = scalar_lists().find(head); s != scalar_lists().end()) {
      json arr = json::array();
      for (const auto& [n, kv] : by_index)
        for (const auto& [sub, v] : kv)
          if (sub.empty()) arr.push_back(v);
      out[s->second] = arr;
    } else if (head == "Attribute" || head == "Tag") {
      const char* key_name = head == "Tag" ? "Key" : "Name";
      json obj = json::object();
      for (const auto& [n, kv] : by_index) {
        std::string key, value;
        bool has_key = false;
        for (const auto& [sub, v] : kv) {
          if (sub == key_name) key = v, has_key = true;
          if (sub == "Value") value = v;
        }
        if (!has_key)
          return Status("MissingParameter", "The request must contain the parameter " + head + "." +
                                                std::to_string(n) + "." + key_name + ".");
        obj[key] = value;
      }
      out[head == "Attribute" ? "Attributes" : (action == "CreateQueue" ? "tags" : "Tags")] = obj;
    } else if (head == "MessageAttribute" || head == "MessageSystemAttribute") {
      json obj = json::object();
      for (const auto& [n, kv] : by_index) {
        std::string name;
        bool has_name = false;
        json value = json::object();
        for (const auto& [sub, v] : kv) {
          if (sub == "Name") name = v, has_name = true;
          else if (sub.rfind("Value.", 0) == 0) value[sub.substr(6)] = v;
        }
        if (!has_name)
          return Status("MissingParameter",
                        "The request must contain the parameter " + head + "." + std::to_string(n) + ".Name.");
        obj[name] = value;
      }
      out[head + "s"] = obj;
    } else if (is_entry_list(head)) {
      json arr = json::array();
      for (const auto& [n, kv] : by_index) {
        auto entry = unflatten(kv, action);
        if (!entry.ok()) return entry.status();
        arr.push_back(entry.value());
      }
      out["Entries"] = arr;
    } else {
      // Unknown group: keep the flat names (the action ignores or rejects them).
      for (const auto& [n, kv] : by_index)
        for (const auto& [sub, v] : kv) out[head + "." + std::to_string(n) + (sub.empty() ? "" : "." + sub)] = v;
    }
  }
  return out;
}

// ---- XML ------------------------------------------------------------------------

void escape_xml(std::string_view s, std::string* out) {
  for (char c : s) {
    switch (c) {
      case '&': *out += "&amp;"; break;
      case '<': *out += "&lt;"; break;
      case '>': *out += "&gt;"; break;
      case '"': *out += "&quot;"; break;
      case '\'': *out += "&apos;"; break;
      case '\r': *out += "&#xD;"; break;  // SQS does this too: a CR must round-trip
      default: *out += c;
    }
  }
}

std::string scalar_text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  return v.dump();
}

void write_object(const json& obj, const std::string& action, std::string* out);

// The element name of one member of a flattened list.
std::string list_member(const std::string& action, const std::string& key) {
  if (key == "QueueUrls" || key == "queueUrls") return "QueueUrl";
  if (key == "Messages") return "Message";
  if (key == "Failed") return "BatchResultErrorEntry";
  if (key == "Successful") return action + "ResultEntry";
  if (key == "Results") return "ListMessageMoveTasksResultEntry";
  return key;
}

void write_member(const std::string& key, const json& v, const std::string& action, std::string* out) {
  if (v.is_object() && (key == "Attributes" || key == "Tags")) {
    const bool tag = key == "Tags";
    for (const auto& [n, val] : v.items()) {
      *out += tag ? "<Tag><Key>" : "<Attribute><Name>";
      escape_xml(n, out);
      *out += tag ? "</Key><Value>" : "</Name><Value>";
      escape_xml(scalar_text(val), out);
      *out += tag ? "</Value></Tag>" : "</Value></Attribute>";
    }
  } else if (v.is_object() && key == "MessageAttributes") {
    for (const auto& [n, val] : v.items()) {
      *out += "<MessageAttribute><Name>";
      escape_xml(n, out);
      *out += "</Name><Value>";
      write_object(val, action, out);
      *out += "</Value></MessageAttribute>";
    }
  } else if (v.is_array()) {
    const std::string elem = list_member(action, key);
    for (const auto& item : v) {
      *out += "<" + elem + ">";
      if (item.is_object()) write_object(item, action, out);
      else escape_xml(scalar_text(item), out);
      *out += "</" + elem + ">";
    }
  } else if (v.is_object()) {
    *out += "<" + key + ">";
    write_object(v, action, out);
    *out += "</" + key + ">";
  } else if (!v.is_null()) {
    *out += "<" + key + ">";
    escape_xml(scalar_text(v), out);
    *out += "</" + key + ">";
  }
}

void write_object(const json& obj, const std::string& action, std::string* out) {
  for (const auto& [k, v] : obj.items()) write_member(k, v, action, out);
}

bool has_output(std::string_view action) {
  static const std::set<std::string_view> none = {"AddPermission", "ChangeMessageVisibility", "DeleteMessage",
                                                  "DeleteQueue", "PurgeQueue", "RemovePermission",
                                                  "SetQueueAttributes", "TagQueue", "UntagQueue"};
  return !none.count(action);
}

}  // namespace

bool percent_decode(std::string_view in, bool form, std::string* out) {
  out->clear();
  out->reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      const int a = hex(in[i + 1]), b = hex(in[i + 2]);
      if (a < 0 || b < 0) return false;
      *out += char(a * 16 + b);
      i += 2;
    } else if (c == '+' && form) {
      *out += ' ';
    } else {
      *out += c;
    }
  }
  return true;
}

bool decode_form(std::string_view text, std::vector<std::pair<std::string, std::string>>* out) {
  while (!text.empty()) {
    const size_t amp = text.find('&');
    std::string_view pair = text.substr(0, amp);
    text = amp == std::string_view::npos ? std::string_view() : text.substr(amp + 1);
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    std::string k, v;
    if (!percent_decode(pair.substr(0, eq), true, &k)) return false;
    if (eq != std::string_view::npos && !percent_decode(pair.substr(eq + 1), true, &v)) return false;
    out->emplace_back(std::move(k), std::move(v));
  }
  return true;
}

Protocol detect_protocol(std::string_view x_amz_target, std::string_view content_type) {
  if (!x_amz_target.empty() || content_type.find("json") != std::string_view::npos) return Protocol::kJson;
  return Protocol::kQuery;
}

Result<ApiRequest> parse_request(std::string_view method, std::string_view target, std::string_view x_amz_target,
                                 std::string_view content_type, std::string_view body) {
  ApiRequest r;
  r.protocol = detect_protocol(x_amz_target, content_type);
  if (r.protocol == Protocol::kJson) {
    if (method != "POST") return Status("InvalidAction", "The JSON protocol takes POST requests.");
    constexpr std::string_view kPrefix = "AmazonSQS.";
    if (x_amz_target.empty())
      return Status("MissingAction", "The request must contain the header X-Amz-Target.");
    if (x_amz_target.substr(0, kPrefix.size()) != kPrefix) return unknown_action(x_amz_target);
    r.action = std::string(x_amz_target.substr(kPrefix.size()));
    if (!actions().count(r.action)) return unknown_action(r.action);
    json j = body.empty() ? json::object() : json::parse(body, nullptr, false);
    if (j.is_discarded() || !j.is_object())
      return Status("SerializationException", "The request body is not a valid JSON object.");
    r.params = std::move(j);
    return r;
  }
  if (method != "POST" && method != "GET")
    return Status("InvalidAction", "The Query protocol takes GET or POST requests.");
  std::vector<std::pair<std::string, std::string>> flat;
  const size_t q = target.find('?');
  if (q != std::string_view::npos && !decode_form(target.substr(q + 1), &flat))
    return Status("MalformedQueryString", "The query string is malformed.");
  if (method == "POST" && !decode_form(body, &flat))
    return Status("MalformedQueryString", "The request body is not valid form data.");
  std::vector<std::pair<std::string, std::string>> rest;
  for (auto& [k, v] : flat) {
    if (k == "Action") r.action = v;
    else if (k != "Version" && k.rfind("X-Amz-", 0) != 0 && k != "AWSAccessKeyId" && k != "SignatureVersion")
      rest.emplace_back(std::move(k), std::move(v));
  }
  if (r.action.empty()) return Status("MissingAction", "The request must contain the parameter Action.");
  if (!actions().count(r.action)) return unknown_action(r.action);
  auto params = unflatten(rest, r.action);
  if (!params.ok()) return params.status();
  r.params = std::move(params.value());
  return r;
}

const char* content_type(Protocol p) {
  return p == Protocol::kJson ? "application/x-amz-json-1.0" : "text/xml";
}

std::string render_result(Protocol p, const std::string& action, const json& result, const std::string& request_id) {
  if (p == Protocol::kJson) return result.dump(-1, ' ', false, json::error_handler_t::replace);
  std::string out = "<?xml version=\"1.0\"?><" + action + "Response xmlns=\"" + kXmlns + "\">";
  if (has_output(action)) {
    out += "<" + action + "Result>";
    write_object(result, action, &out);
    out += "</" + action + "Result>";
  }
  out += "<ResponseMetadata><RequestId>" + request_id + "</RequestId></ResponseMetadata></" + action + "Response>";
  return out;
}

std::string render_error(Protocol p, const Status& error, const std::string& request_id) {
  const WireError w = wire_error(error.code());
  if (p == Protocol::kJson)
    return json{{"__type", w.json_type}, {"message", error.message()}}.dump(-1, ' ', false,
                                                                          json::error_handler_t::replace);
  std::string out = std::string("<?xml version=\"1.0\"?><ErrorResponse xmlns=\"") + kXmlns + "\"><Error><Type>" +
                    (w.sender_fault ? "Sender" : "Receiver") + "</Type><Code>";
  escape_xml(w.query_code, &out);
  out += "</Code><Message>";
  escape_xml(error.message(), &out);
  out += "</Message><Detail/></Error><RequestId>" + request_id + "</RequestId></ErrorResponse>";
  return out;
}

}  // namespace shmq::gateway
