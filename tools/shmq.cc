// shmq: the command line for the shmq broker, shaped like `aws sqs`.
//
//   shmq create-queue --queue-name orders --attributes VisibilityTimeout=60
//   shmq send-message --queue-url "$URL" --message-body hello
//   shmq receive-message --queue-name orders --attribute-names All --message-attribute-names All
//
// Subcommands and options carry the `aws sqs` names, output is the AWS CLI's
// JSON (2-space indent, AWS keys, nothing printed for an empty response), and
// errors and exit codes follow the AWS CLI: 254 for a service error, 252 for a
// usage or parameter error, 255 when the broker cannot be reached or something
// unexpected fails. Parameter values may be given as file://PATH (or
// fileb://PATH) to read them from a file, as with the AWS CLI.

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shm/validation.h"
#include "shmq/client.h"
#include "shmq/status.h"

namespace {

using Json = nlohmann::ordered_json;
using shmq::Status;

constexpr int kExitUsage = 252;
constexpr int kExitService = 254;
constexpr int kExitOther = 255;

// ---------------------------------------------------------------------------
// Errors. Commands throw these; run_command() turns them into output and an
// exit code.

// A parameter cannot be used (exit 252). `banner` adds the usage lines.
struct UsageError {
  std::string message;
  bool banner = false;
};
// The broker or the library refused the operation (exit 254).
struct ServiceError {
  Status status;
};
// The broker cannot be reached (exit 255).
struct ConnectError {
  std::string message;
};

template <class T>
T unwrap(shmq::Result<T> result) {
  if (!result.ok()) throw ServiceError{result.status()};
  return std::move(result).value();
}

void check(const Status& status) {
  if (!status.ok()) throw ServiceError{status};
}

[[noreturn]] void param_error(std::string_view option, const std::string& detail) {
  throw UsageError{"Error parsing parameter '" + std::string(option) + "': " + detail};
}

[[noreturn]] void validation_error(const std::string& detail) {
  throw UsageError{"Parameter validation failed:\n" + detail};
}

void print_usage_error(const std::string& message) {
  std::cerr << "\nusage: shmq [--socket PATH] <command> [parameters]\n"
               "To see help text, you can run:\n\n"
               "  shmq --help\n"
               "  shmq <command> --help\n\n"
               "shmq: error: "
            << message << "\n";
}

// ---------------------------------------------------------------------------
// Text helpers.

std::string_view trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(" \t\r\n") - first + 1);
}

std::optional<int> parse_int(std::string_view s) {
  int value = 0;
  s = trim(s);
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return value;
}

constexpr std::string_view kBase64 =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64_encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  for (size_t i = 0; i < in.size(); i += 3) {
    uint32_t n = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) n |= static_cast<unsigned char>(in[i + 1]) << 8;
    if (i + 2 < in.size()) n |= static_cast<unsigned char>(in[i + 2]);
    out += kBase64[(n >> 18) & 63];
    out += kBase64[(n >> 12) & 63];
    out += i + 1 < in.size() ? kBase64[(n >> 6) & 63] : '=';
    out += i + 2 < in.size() ? kBase64[n & 63] : '=';
  }
  return out;
}

// Standard alphabet; padding optional; whitespace ignored. nullopt if malformed.
std::optional<std::string> base64_decode(std::string_view in) {
  std::string out;
  uint32_t bits = 0;
  int nbits = 0, chars = 0;
  bool padding = false;
  for (char c : in) {
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    if (c == '=') {
      padding = true;
      continue;
    }
    const auto v = kBase64.find(c);
    if (v == std::string_view::npos || padding) return std::nullopt;
    bits = (bits << 6) | static_cast<uint32_t>(v);
    nbits += 6;
    ++chars;
    if (nbits >= 8) {
      nbits -= 8;
      out += static_cast<char>((bits >> nbits) & 0xff);
    }
  }
  if (chars % 4 == 1) return std::nullopt;
  return out;
}

// file://PATH and fileb://PATH load the value from a file, as the AWS CLI does.
std::string load_param(std::string_view option, const std::string& value) {
  for (std::string_view prefix : {"file://", "fileb://"}) {
    if (!value.starts_with(prefix)) continue;
    const std::string path = value.substr(prefix.size());
    std::ifstream in(path, std::ios::binary);
    if (!in) param_error(option, "Unable to load paramfile " + value + ": " + std::strerror(errno));
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  return value;
}

Json parse_json(std::string_view option, const std::string& text) {
  try {
    return Json::parse(text);
  } catch (const Json::exception& e) {
    param_error(option, std::string("Invalid JSON: ") + e.what() + "\nJSON received: " + text);
  }
}

// AWS shorthand for a flat structure: "Key=Value,Key=Value". All values are strings.
Json parse_shorthand(std::string_view option, std::string_view text) {
  Json obj = Json::object();
  while (!text.empty()) {
    const auto comma = text.find(',');
    const std::string_view piece = text.substr(0, comma);
    const auto eq = piece.find('=');
    if (eq == std::string_view::npos || trim(piece.substr(0, eq)).empty()) {
      param_error(option, "Expected: '=', received: '" + std::string(piece) +
                              "' (use Key=Value,Key=Value or JSON)");
    }
    obj[std::string(trim(piece.substr(0, eq)))] = std::string(piece.substr(eq + 1));
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
  }
  return obj;
}

// A structure-valued parameter: JSON when it looks like JSON, else shorthand.
Json parse_structure(std::string_view option, const std::string& raw) {
  const std::string text = load_param(option, raw);
  const std::string_view t = trim(text);
  if (t.starts_with('{') || t.starts_with('[')) return parse_json(option, text);
  return parse_shorthand(option, t);
}

// A list-of-structures parameter (--entries): one JSON array, or one JSON
// object / shorthand structure per value.
Json parse_structure_list(std::string_view option, const std::vector<std::string>& values) {
  if (values.size() == 1) {
    Json one = parse_structure(option, values[0]);
    if (one.is_array()) return one;
    return Json::array({std::move(one)});
  }
  Json list = Json::array();
  for (const std::string& v : values) list.push_back(parse_structure(option, v));
  return list;
}

// ---------------------------------------------------------------------------
// Checking parsed JSON against the request shapes, as botocore does before
// sending (so errors read the same).

std::string json_type(const Json& j) {
  return j.is_object() ? "object" : j.is_array() ? "list" : j.type_name();
}

void check_structure(const Json& obj, const std::string& where,
                     std::initializer_list<std::string_view> allowed,
                     std::initializer_list<std::string_view> required) {
  if (!obj.is_object()) {
    validation_error("Invalid type for parameter " + where + ", value: " + obj.dump() +
                     ", type: " + json_type(obj) + ", valid types: object");
  }
  for (const auto& [key, value] : obj.items()) {
    if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
    std::string names;
    for (std::string_view a : allowed) names += (names.empty() ? "" : ", ") + std::string(a);
    validation_error("Unknown parameter in " + where + ": \"" + key +
                     "\", must be one of: " + names);
  }
  for (std::string_view key : required) {
    if (!obj.contains(key)) {
      validation_error("Missing required parameter in " + where + ": \"" + std::string(key) + "\"");
    }
  }
}

std::string get_string(const Json& obj, const char* key, const std::string& where) {
  const auto it = obj.find(key);
  if (it == obj.end()) return {};
  if (!it->is_string()) {
    validation_error("Invalid type for parameter " + where + "." + key + ", value: " + it->dump() +
                     ", type: " + json_type(*it) + ", valid types: string");
  }
  return it->get<std::string>();
}

// Integers may come as JSON numbers or, from shorthand, as decimal strings.
int get_int(const Json& obj, const char* key, const std::string& where, int fallback) {
  const auto it = obj.find(key);
  if (it == obj.end()) return fallback;
  if (it->is_number_integer() && it->get<int64_t>() >= INT32_MIN &&
      it->get<int64_t>() <= INT32_MAX) {
    return it->get<int>();
  }
  if (it->is_string()) {
    if (const auto v = parse_int(it->get<std::string>())) return *v;
  }
  validation_error("Invalid type for parameter " + where + "." + key + ", value: " + it->dump() +
                   ", type: " + json_type(*it) + ", valid types: integer");
}

// {"Name": {"DataType": "String", "StringValue": "x"}}; BinaryValue is base64.
shmq::MessageAttributes to_message_attributes(const Json& obj, const std::string& where) {
  if (!obj.is_object()) {
    validation_error("Invalid type for parameter " + where + ", value: " + obj.dump() +
                     ", type: " + json_type(obj) + ", valid types: object");
  }
  shmq::MessageAttributes out;
  for (const auto& [name, value] : obj.items()) {
    const std::string at = where + "." + name;
    check_structure(value, at, {"DataType", "StringValue", "BinaryValue"}, {"DataType"});
    shmq::MessageAttributeValue& attr = out[name];
    attr.data_type = get_string(value, "DataType", at);
    attr.string_value = get_string(value, "StringValue", at);
    if (value.contains("BinaryValue")) {
      const auto bytes = base64_decode(get_string(value, "BinaryValue", at));
      if (!bytes) validation_error("Invalid base64 for parameter " + at + ".BinaryValue");
      attr.binary_value = *bytes;
    }
  }
  return out;
}

shmq::MessageAttributes parse_message_attributes(const std::string& raw,
                                                 const char* option = "--message-attributes") {
  if (raw.empty()) return {};
  const std::string text = load_param(option, raw);
  if (!trim(text).starts_with('{')) {
    param_error(option,
                "expected a JSON object such as "
                "{\"Name\":{\"DataType\":\"String\",\"StringValue\":\"x\"}}");
  }
  return to_message_attributes(parse_json(option, text), "MessageAttributes");
}

// --message-system-attributes (AWSTraceHeader only), checked before the send.
shmq::MessageAttributes parse_message_system_attributes(const std::string& raw) {
  shmq::MessageAttributes out = parse_message_attributes(raw, "--message-system-attributes");
  check(shmq::shm::validate_message_system_attributes(out));
  return out;
}

// Queue attributes: JSON object or Key=Value,Key=Value. Non-string JSON
// values are accepted and converted (objects such as a RedrivePolicy are
// serialized), which is friendlier than the AWS CLI.
shmq::QueueAttributes parse_queue_attributes(const std::string& raw) {
  const char* option = "--attributes";
  const Json obj = parse_structure(option, raw);
  if (!obj.is_object()) param_error(option, "expected a JSON object or Key=Value,Key=Value");
  shmq::QueueAttributes out;
  for (const auto& [key, value] : obj.items()) {
    out[key] = value.is_string() ? value.get<std::string>() : value.dump();
  }
  return out;
}

std::vector<shmq::SendBatchEntry> parse_send_entries(const std::vector<std::string>& values) {
  const Json list = parse_structure_list("--entries", values);
  std::vector<shmq::SendBatchEntry> out;
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string where = "Entries[" + std::to_string(i) + "]";
    const Json& e = list[i];
    check_structure(e, where,
                    {"Id", "MessageBody", "DelaySeconds", "MessageAttributes", "MessageSystemAttributes",
                     "MessageGroupId", "MessageDeduplicationId"},
                    {"Id", "MessageBody"});
    shmq::SendBatchEntry& entry = out.emplace_back();
    entry.id = get_string(e, "Id", where);
    entry.body = get_string(e, "MessageBody", where);
    entry.delay_seconds = get_int(e, "DelaySeconds", where, -1);
    if (e.contains("MessageAttributes")) {
      entry.attributes =
          to_message_attributes(e["MessageAttributes"], where + ".MessageAttributes");
    }
    entry.message_group_id = get_string(e, "MessageGroupId", where);
    entry.message_deduplication_id = get_string(e, "MessageDeduplicationId", where);
    if (e.contains("MessageSystemAttributes")) {
      const shmq::MessageAttributes system =
          to_message_attributes(e["MessageSystemAttributes"], where + ".MessageSystemAttributes");
      check(shmq::shm::validate_message_system_attributes(system));
      entry.aws_trace_header = shmq::shm::trace_header_of(system);
    }
  }
  return out;
}

// Entries of delete-message-batch and change-message-visibility-batch.
std::vector<shmq::BatchHandleEntry> parse_handle_entries(const std::vector<std::string>& values,
                                                         bool with_timeout) {
  const Json list = parse_structure_list("--entries", values);
  std::vector<shmq::BatchHandleEntry> out;
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string where = "Entries[" + std::to_string(i) + "]";
    if (with_timeout) {
      check_structure(list[i], where, {"Id", "ReceiptHandle", "VisibilityTimeout"},
                      {"Id", "ReceiptHandle"});
    } else {
      check_structure(list[i], where, {"Id", "ReceiptHandle"}, {"Id", "ReceiptHandle"});
    }
    shmq::BatchHandleEntry& entry = out.emplace_back();
    entry.id = get_string(list[i], "Id", where);
    entry.receipt_handle = get_string(list[i], "ReceiptHandle", where);
    entry.visibility_timeout = get_int(list[i], "VisibilityTimeout", where, 0);
  }
  return out;
}

// ---------------------------------------------------------------------------
// Options and the session a command runs in.

struct Args {
  std::string socket;
  std::string queue_url, queue_name;
  std::string queue_name_prefix;
  std::string attributes;
  std::vector<std::string> attribute_names;
  std::vector<std::string> system_attribute_names;
  std::vector<std::string> message_attribute_names;
  std::string message_body;
  int delay_seconds = -1;
  std::string message_attributes;
  std::string message_system_attributes;
  std::string message_group_id, message_deduplication_id;
  std::vector<std::string> entries;
  int max_number_of_messages = 1;
  int wait_time_seconds = -1;
  int visibility_timeout = -1;
  std::string receive_request_attempt_id;  // FIFO; remembered per process, so a CLI retry is a new receive
  std::string receipt_handle;
  std::string label, principal;
  std::vector<std::string> actions;
  // Tags, dead-letter sources and message move tasks.
  std::vector<std::string> tags, tag_keys;
  std::string source_arn, destination_arn, task_handle;
  int max_per_second = 0;
  int max_results = 1;
};

class Session {
 public:
  explicit Session(const Args& args) : args_(args) {}

  shmq::Client& client() {
    if (!client_) {
      auto connected = shmq::Client::connect(args_.socket);
      if (!connected.ok()) {
        throw ConnectError{"Could not connect to the shmq broker at \"" +
                           shmq::resolve_socket_path(args_.socket) +
                           "\": " + connected.status().to_string()};
      }
      client_ = std::move(connected).value();
    }
    return *client_;
  }

  // The queue named by --queue-url or --queue-name.
  std::string queue_name() const {
    return shmq::Client::queue_name_from_url(args_.queue_url.empty() ? args_.queue_name
                                                                     : args_.queue_url);
  }

  std::shared_ptr<shmq::Queue> open_queue() { return unwrap(client().open_queue(queue_name())); }

 private:
  const Args& args_;
  std::shared_ptr<shmq::Client> client_;
};

// ---------------------------------------------------------------------------
// Output pieces.

Json batch_failed_json(const std::vector<shmq::BatchResultError>& failed) {
  Json out = Json::array();
  for (const auto& f : failed) {
    out.push_back(
        {{"Id", f.id}, {"SenderFault", f.sender_fault}, {"Code", f.code}, {"Message", f.message}});
  }
  return out;
}

// {"Successful": [...], "Failed": [...]}, each only when non-empty.
Json batch_json(Json successful, const std::vector<shmq::BatchResultError>& failed) {
  Json out = Json::object();
  if (!successful.empty()) out["Successful"] = std::move(successful);
  if (!failed.empty()) out["Failed"] = batch_failed_json(failed);
  return out;
}

Json handle_batch_json(const shmq::BatchResult& result) {
  Json ok = Json::array();
  for (const std::string& id : result.successful) ok.push_back({{"Id", id}});
  return batch_json(std::move(ok), result.failed);
}

Json message_attributes_json(const shmq::MessageAttributes& attributes) {
  Json out = Json::object();
  for (const auto& [name, value] : attributes) {
    const bool binary = value.data_type.starts_with("Binary");
    out[name] = binary ? Json{{"BinaryValue", base64_encode(value.binary_value)},
                              {"DataType", value.data_type}}
                       : Json{{"StringValue", value.string_value}, {"DataType", value.data_type}};
  }
  return out;
}

bool contains(const std::vector<std::string>& names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// --message-attribute-names: "All" or ".*" selects all, "prefix.*" a prefix,
// anything else an exact name.
bool attribute_selected(const std::vector<std::string>& selectors, std::string_view name) {
  for (std::string_view s : selectors) {
    if (s == "All" || s == ".*" || s == name) return true;
    if (s.ends_with(".*") && name.starts_with(s.substr(0, s.size() - 1))) return true;
  }
  return false;
}

// System attributes requested by --attribute-names / --message-system-attribute-names.
Json system_attributes_json(const shmq::Message& m, const Args& a) {
  std::vector<std::string> names = a.attribute_names;
  names.insert(names.end(), a.system_attribute_names.begin(), a.system_attribute_names.end());
  const bool all = contains(names, "All");
  Json out = Json::object();
  auto add = [&](const char* key, uint64_t value) {
    if (all || contains(names, key)) out[key] = std::to_string(value);
  };
  add("SenderId", m.sender_uid);
  add("ApproximateFirstReceiveTimestamp", m.first_receive_timestamp_ms);
  add("ApproximateReceiveCount", m.receive_count);
  add("SentTimestamp", m.sent_timestamp_ms);
  if (!m.message_group_id.empty()) {  // FIFO queues
    if (all || contains(names, "MessageGroupId")) out["MessageGroupId"] = std::string(m.message_group_id);
    if (all || contains(names, "MessageDeduplicationId"))
      out["MessageDeduplicationId"] = std::string(m.message_deduplication_id);
    add("SequenceNumber", m.sequence_number);
  }
  auto add_text = [&](const char* key, std::string_view value) {
    if (!value.empty() && (all || contains(names, key))) out[key] = std::string(value);
  };
  add_text("AWSTraceHeader", m.aws_trace_header);
  add_text("DeadLetterQueueSourceArn", m.dead_letter_queue_source_arn);
  return out;
}

Json message_json(const shmq::Message& m, const Args& a) {
  Json out{{"MessageId", m.message_id.str()},
           {"ReceiptHandle", m.receipt_handle.str()},
           {"MD5OfBody", shmq::shm::md5_hex(m.body)},
           {"Body", std::string(m.body)}};
  Json system = system_attributes_json(m, a);
  if (!system.empty()) out["Attributes"] = std::move(system);
  if (!a.message_attribute_names.empty() && !m.raw_attributes.empty()) {
    shmq::MessageAttributes selected;
    for (auto& [name, value] : m.attributes()) {
      if (attribute_selected(a.message_attribute_names, name)) selected.emplace(name, value);
    }
    if (!selected.empty()) {
      out["MD5OfMessageAttributes"] = shmq::shm::md5_of_message_attributes(selected);
      out["MessageAttributes"] = message_attributes_json(selected);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// The commands: how each declares its options and what it does. A command
// returns the JSON to print (nothing when empty).

// A list option as the AWS CLI has them: space-separated values after the
// option (also repeatable). CLI11's own list handling would split a value
// written as "[...]" on commas, which breaks JSON, so it is turned off.
CLI::Option* list_option(CLI::App& c, const std::string& name, std::vector<std::string>& values,
                         const std::string& help) {
  return c.add_option(name, values, help)->expected(1, 1000)->allow_extra_args(false);
}

// Negative values would mean "the queue's default" to the library; refuse them.
const CLI::Validator kNonNegative(
    [](std::string& s) {
      const auto v = parse_int(s);
      return v && *v >= 0 ? std::string() : "must be a non-negative integer, got " + s;
    },
    "NONNEGATIVE");

void opt_queue(CLI::App& c, Args& a) {
  auto* url = c.add_option("--queue-url", a.queue_url, "Queue URL (as create-queue returns it)");
  auto* name = c.add_option("--queue-name", a.queue_name, "Queue name (instead of --queue-url)");
  url->excludes(name);
}

void opt_attributes(CLI::App& c, Args& a, bool required) {
  auto* o = c.add_option("--attributes", a.attributes,
                         "Queue attributes: JSON object or Key=Value,Key=Value");
  if (required) o->required();
}

void opt_entries(CLI::App& c, Args& a) {
  list_option(c, "--entries", a.entries, "Batch entries: JSON list, or Key=Value,... per entry")
      ->required();
}

void opt_create_queue(CLI::App& c, Args& a) {
  c.add_option("--queue-name", a.queue_name, "Queue name")->required();
  opt_attributes(c, a, false);
}
Json run_create_queue(Session& s, const Args& a) {
  const shmq::QueueAttributes attributes = parse_queue_attributes(a.attributes);
  const auto queue = unwrap(s.client().create_queue(a.queue_name, attributes));
  return {{"QueueUrl", queue->url()}};
}

void opt_list_queues(CLI::App& c, Args& a) {
  c.add_option("--queue-name-prefix", a.queue_name_prefix, "Only queues whose name starts so");
}
Json run_list_queues(Session& s, const Args& a) {
  const auto urls = unwrap(s.client().list_queues(a.queue_name_prefix));
  if (urls.empty()) return Json::object();
  return {{"QueueUrls", urls}};
}

void opt_get_queue_url(CLI::App& c, Args& a) {
  c.add_option("--queue-name", a.queue_name, "Queue name")->required();
}
Json run_get_queue_url(Session& s, const Args& a) {
  return {{"QueueUrl", unwrap(s.client().get_queue_url(a.queue_name))}};
}

void opt_none(CLI::App&, Args&) {}

Json run_delete_queue(Session& s, const Args&) {
  check(s.client().delete_queue(s.queue_name()));
  return Json::object();
}

Json run_purge_queue(Session& s, const Args&) {
  check(s.client().purge_queue(s.queue_name()));
  return Json::object();
}

void opt_send_message(CLI::App& c, Args& a) {
  c.add_option("--message-body", a.message_body, "Message body")->required();
  c.add_option("--delay-seconds", a.delay_seconds, "0..900 (default: the queue's)")
      ->check(kNonNegative);
  c.add_option("--message-attributes", a.message_attributes,
               "JSON: {\"Name\":{\"DataType\":\"String\",\"StringValue\":\"x\"}}");
  c.add_option("--message-system-attributes", a.message_system_attributes,
               "JSON: {\"AWSTraceHeader\":{\"DataType\":\"String\",\"StringValue\":\"Root=...\"}}");
  c.add_option("--message-group-id", a.message_group_id, "FIFO message group");
  c.add_option("--message-deduplication-id", a.message_deduplication_id, "FIFO dedup id");
}
Json run_send_message(Session& s, const Args& a) {
  const std::string body = load_param("--message-body", a.message_body);
  const shmq::MessageAttributes attributes = parse_message_attributes(a.message_attributes);
  const shmq::MessageAttributes system = parse_message_system_attributes(a.message_system_attributes);
  shmq::SendOptions options;
  options.aws_trace_header = shmq::shm::trace_header_of(system);
  options.delay_seconds = a.delay_seconds;
  options.attributes = attributes.empty() ? nullptr : &attributes;
  options.message_group_id = a.message_group_id;
  options.message_deduplication_id = a.message_deduplication_id;
  const auto queue = s.open_queue();
  const shmq::SendResult sent = unwrap(queue->send(body, options));
  Json out{{"MD5OfMessageBody", shmq::shm::md5_hex(body)}};
  if (!attributes.empty()) {
    out["MD5OfMessageAttributes"] = shmq::shm::md5_of_message_attributes(attributes);
  }
  if (!options.aws_trace_header.empty())
    out["MD5OfMessageSystemAttributes"] = shmq::shm::md5_of_message_system_attributes(options.aws_trace_header);
  out["MessageId"] = sent.message_id.str();
  if (queue->fifo()) out["SequenceNumber"] = std::to_string(sent.sequence_number);
  return out;
}

Json run_send_message_batch(Session& s, const Args& a) {
  const auto entries = parse_send_entries(a.entries);
  const auto result = unwrap(s.open_queue()->send_batch(entries));
  Json ok = Json::array();
  for (const auto& e : result.successful) {
    const shmq::SendBatchEntry& in = entries[e.index];
    Json j{{"Id", e.id}, {"MessageId", e.message_id.str()}, {"MD5OfMessageBody", shmq::shm::md5_hex(in.body)}};
    if (!in.attributes.empty()) {
      j["MD5OfMessageAttributes"] = shmq::shm::md5_of_message_attributes(in.attributes);
    }
    if (!in.aws_trace_header.empty())
      j["MD5OfMessageSystemAttributes"] = shmq::shm::md5_of_message_system_attributes(in.aws_trace_header);
    if (e.sequence_number) j["SequenceNumber"] = std::to_string(e.sequence_number);
    ok.push_back(std::move(j));
  }
  return batch_json(std::move(ok), result.failed);
}

void opt_receive_message(CLI::App& c, Args& a) {
  c.add_option("--max-number-of-messages", a.max_number_of_messages, "1..10 (default 1)");
  c.add_option("--wait-time-seconds", a.wait_time_seconds, "Long poll 0..20 (default: queue's)")
      ->check(kNonNegative);
  c.add_option("--visibility-timeout", a.visibility_timeout, "Lease for these messages, seconds")
      ->check(kNonNegative);
  list_option(c, "--attribute-names", a.attribute_names, "System attributes: All or names")
      ->delimiter(',');
  list_option(c, "--message-system-attribute-names", a.system_attribute_names,
              "All, SenderId, SentTimestamp, ApproximateReceiveCount, "
              "ApproximateFirstReceiveTimestamp, AWSTraceHeader, DeadLetterQueueSourceArn")
      ->delimiter(',');
  list_option(c, "--message-attribute-names", a.message_attribute_names,
              "Message attributes: All, .*, names or prefix.*")
      ->delimiter(',');
  c.add_option("--receive-request-attempt-id", a.receive_request_attempt_id,
               "FIFO: a retry with the same id returns the same messages (within one process)");
}
Json run_receive_message(Session& s, const Args& a) {
  shmq::ReceiveOptions options;
  options.max_messages = a.max_number_of_messages;
  options.wait_time_seconds = a.wait_time_seconds;
  options.visibility_timeout = a.visibility_timeout;
  options.receive_request_attempt_id = a.receive_request_attempt_id;
  const auto queue = s.open_queue();  // keeps the bodies' segment mapped
  const auto messages = unwrap(queue->receive(options));
  if (messages.empty()) return Json::object();
  Json list = Json::array();
  for (const shmq::Message& m : messages) list.push_back(message_json(m, a));
  return {{"Messages", std::move(list)}};
}

void opt_receipt_handle(CLI::App& c, Args& a) {
  c.add_option("--receipt-handle", a.receipt_handle, "Receipt handle from receive-message")
      ->required();
}
Json run_delete_message(Session& s, const Args& a) {
  check(s.open_queue()->remove(std::string_view(a.receipt_handle)));
  return Json::object();
}

Json run_delete_message_batch(Session& s, const Args& a) {
  const auto entries = parse_handle_entries(a.entries, false);
  return handle_batch_json(unwrap(s.open_queue()->remove_batch(entries)));
}

void opt_change_visibility(CLI::App& c, Args& a) {
  opt_receipt_handle(c, a);
  c.add_option("--visibility-timeout", a.visibility_timeout, "New lease from now, 0..43200 s")
      ->required()
      ->check(kNonNegative);
}
Json run_change_visibility(Session& s, const Args& a) {
  check(
      s.open_queue()->change_visibility(std::string_view(a.receipt_handle), a.visibility_timeout));
  return Json::object();
}

Json run_change_visibility_batch(Session& s, const Args& a) {
  const auto entries = parse_handle_entries(a.entries, true);
  return handle_batch_json(unwrap(s.open_queue()->change_visibility_batch(entries)));
}

void opt_get_queue_attributes(CLI::App& c, Args& a) {
  list_option(c, "--attribute-names", a.attribute_names, "All (default) or names")->delimiter(',');
}
Json run_get_queue_attributes(Session& s, const Args& a) {
  std::vector<std::string> names = a.attribute_names;
  if (names.empty()) names = {"All"};
  const auto attributes = unwrap(s.client().get_queue_attributes(s.queue_name(), names));
  if (attributes.empty()) return Json::object();
  return {{"Attributes", attributes}};
}

void opt_set_queue_attributes(CLI::App& c, Args& a) { opt_attributes(c, a, true); }
Json run_set_queue_attributes(Session& s, const Args& a) {
  check(s.client().set_queue_attributes(s.queue_name(), parse_queue_attributes(a.attributes)));
  return Json::object();
}

void opt_label(CLI::App& c, Args& a) {
  c.add_option("--label", a.label, "Permission label")->required();
}
void opt_add_permission(CLI::App& c, Args& a) {
  opt_label(c, a);
  c.add_option("--principal", a.principal, "uid:N or gid:N")->required();
  list_option(c, "--actions", a.actions, "send receive admin")->required()->delimiter(',');
}
Json run_add_permission(Session& s, const Args& a) {
  check(s.client().add_permission(s.queue_name(), a.label, a.principal, a.actions));
  return Json::object();
}

Json run_remove_permission(Session& s, const Args& a) {
  check(s.client().remove_permission(s.queue_name(), a.label));
  return Json::object();
}

Json run_stats(Session& s, const Args&) {
  const std::string text = unwrap(s.client().stats());
  Json doc = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    std::cout << text << "\n";  // not JSON after all: show it as it came
    return Json::object();
  }
  return doc;
}

// ---- tags, dead-letter sources, message move tasks -------------------------

void opt_tags(CLI::App& c, Args& a) {
  list_option(c, "--tags", a.tags, "Key=Value,...")->required()->delimiter(',');
}
Json run_tag_queue(Session& s, const Args& a) {
  std::map<std::string, std::string> tags;
  for (const auto& kv : a.tags) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos) param_error("--tags", "expected Key=Value, got " + kv);
    tags[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  check(s.client().tag_queue(s.queue_name(), tags));
  return Json::object();
}
void opt_tag_keys(CLI::App& c, Args& a) {
  list_option(c, "--tag-keys", a.tag_keys, "Keys to remove")->required()->delimiter(',');
}
Json run_untag_queue(Session& s, const Args& a) {
  check(s.client().untag_queue(s.queue_name(), a.tag_keys));
  return Json::object();
}
Json run_list_queue_tags(Session& s, const Args&) {
  const auto tags = unwrap(s.client().list_queue_tags(s.queue_name()));
  if (tags.empty()) return Json::object();
  return {{"Tags", tags}};
}
Json run_list_dlq_sources(Session& s, const Args&) {
  return {{"queueUrls", unwrap(s.client().list_dead_letter_source_queues(s.queue_name()))}};
}
void opt_start_move_task(CLI::App& c, Args& a) {
  c.add_option("--source-arn", a.source_arn, "The dead-letter queue (ARN, URL or name)")->required();
  c.add_option("--destination-arn", a.destination_arn, "Where to (default: each message's source queue)");
  c.add_option("--max-number-of-messages-per-second", a.max_per_second, "1..500 (default: as fast as possible)");
}
Json run_start_move_task(Session& s, const Args& a) {
  return {{"TaskHandle",
           unwrap(s.client().start_message_move_task(a.source_arn, a.destination_arn, a.max_per_second))}};
}
void opt_task_handle(CLI::App& c, Args& a) { c.add_option("--task-handle", a.task_handle)->required(); }
Json run_cancel_move_task(Session& s, const Args& a) {
  return {{"ApproximateNumberOfMessagesMoved", unwrap(s.client().cancel_message_move_task(a.task_handle))}};
}
void opt_list_move_tasks(CLI::App& c, Args& a) {
  c.add_option("--source-arn", a.source_arn, "The dead-letter queue (ARN, URL or name)")->required();
  c.add_option("--max-results", a.max_results, "1..10 (default 1)");
}
Json run_list_move_tasks(Session& s, const Args& a) {
  Json results = Json::array();
  for (const auto& t : unwrap(s.client().list_message_move_tasks(a.source_arn, a.max_results))) {
    Json j;
    if (!t.task_handle.empty()) j["TaskHandle"] = t.task_handle;
    j["Status"] = t.status;
    j["SourceArn"] = "arn:aws:sqs:local:000000000000:" + t.source;
    if (!t.destination.empty()) j["DestinationArn"] = "arn:aws:sqs:local:000000000000:" + t.destination;
    if (t.max_per_second) j["MaxNumberOfMessagesPerSecond"] = t.max_per_second;
    j["ApproximateNumberOfMessagesMoved"] = t.moved;
    j["ApproximateNumberOfMessagesToMove"] = t.to_move;
    if (!t.failure_reason.empty()) j["FailureReason"] = t.failure_reason;
    j["StartedTimestamp"] = t.started_ms;
    results.push_back(j);
  }
  return {{"Results", results}};
}

struct Command {
  const char* name;
  const char* operation;  // the SQS action, for error messages
  const char* help;
  bool takes_queue;  // adds --queue-url / --queue-name
  void (*add_options)(CLI::App&, Args&);
  Json (*run)(Session&, const Args&);
};

constexpr Command kCommands[] = {
    {"create-queue", "CreateQueue", "Create a queue (or get the URL of an identical one)", false,
     opt_create_queue, run_create_queue},
    {"list-queues", "ListQueues", "List queue URLs", false, opt_list_queues, run_list_queues},
    {"get-queue-url", "GetQueueUrl", "Get a queue's URL", false, opt_get_queue_url,
     run_get_queue_url},
    {"delete-queue", "DeleteQueue", "Delete a queue and its messages", true, opt_none,
     run_delete_queue},
    {"send-message", "SendMessage", "Send a message", true, opt_send_message, run_send_message},
    {"send-message-batch", "SendMessageBatch", "Send up to 10 messages", true, opt_entries,
     run_send_message_batch},
    {"receive-message", "ReceiveMessage", "Receive up to 10 messages", true, opt_receive_message,
     run_receive_message},
    {"delete-message", "DeleteMessage", "Delete a received message", true, opt_receipt_handle,
     run_delete_message},
    {"delete-message-batch", "DeleteMessageBatch", "Delete up to 10 received messages", true,
     opt_entries, run_delete_message_batch},
    {"change-message-visibility", "ChangeMessageVisibility", "Change a message's lease", true,
     opt_change_visibility, run_change_visibility},
    {"change-message-visibility-batch", "ChangeMessageVisibilityBatch",
     "Change up to 10 messages' leases", true, opt_entries, run_change_visibility_batch},
    {"purge-queue", "PurgeQueue", "Delete every message in a queue", true, opt_none,
     run_purge_queue},
    {"get-queue-attributes", "GetQueueAttributes", "Show queue attributes", true,
     opt_get_queue_attributes, run_get_queue_attributes},
    {"set-queue-attributes", "SetQueueAttributes", "Change queue attributes", true,
     opt_set_queue_attributes, run_set_queue_attributes},
    {"add-permission", "AddPermission", "Grant a uid or gid actions on a queue", true,
     opt_add_permission, run_add_permission},
    {"remove-permission", "RemovePermission", "Revoke a permission by label", true, opt_label,
     run_remove_permission},
    {"stats", "Stats", "Show broker statistics", false, opt_none, run_stats},
    {"tag-queue", "TagQueue", "Add or change queue tags", true, opt_tags, run_tag_queue},
    {"untag-queue", "UntagQueue", "Remove queue tags", true, opt_tag_keys, run_untag_queue},
    {"list-queue-tags", "ListQueueTags", "Show queue tags", true, opt_none, run_list_queue_tags},
    {"list-dead-letter-source-queues", "ListDeadLetterSourceQueues",
     "Queues whose RedrivePolicy names this queue", true, opt_none, run_list_dlq_sources},
    {"start-message-move-task", "StartMessageMoveTask", "Redrive a dead-letter queue", false,
     opt_start_move_task, run_start_move_task},
    {"cancel-message-move-task", "CancelMessageMoveTask", "Cancel a running move task", false,
     opt_task_handle, run_cancel_move_task},
    {"list-message-move-tasks", "ListMessageMoveTasks", "Show a dead-letter queue's move tasks", false,
     opt_list_move_tasks, run_list_move_tasks},
};

void print_json(const Json& out) {
  if (out.empty()) return;  // the AWS CLI prints nothing for an empty response
  std::cout << out.dump(2, ' ', false, Json::error_handler_t::replace) << std::endl;
}

int run_command(const Command& cmd, const Args& args) {
  try {
    if (cmd.takes_queue && args.queue_url.empty() && args.queue_name.empty()) {
      throw UsageError{"the following arguments are required: --queue-url (or --queue-name)", true};
    }
    Session session(args);
    print_json(cmd.run(session, args));
    return 0;
  } catch (const UsageError& e) {
    if (e.banner) {
      print_usage_error(e.message);
    } else {
      std::cerr << "\n" << e.message << "\n";
    }
    return kExitUsage;
  } catch (const ServiceError& e) {
    std::cerr << "\nAn error occurred (" << e.status.code() << ") when calling the "
              << cmd.operation << " operation: " << e.status.message() << "\n";
    return kExitService;
  } catch (const ConnectError& e) {
    std::cerr << "\n" << e.message << "\n";
    return kExitOther;
  } catch (const std::exception& e) {
    std::cerr << "\n" << e.what() << "\n";
    return kExitOther;
  }
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  CLI::App app{"shmq: Amazon SQS semantics over shared memory (commands as in `aws sqs`)", "shmq"};
  app.add_option("--socket", args.socket,
                 std::string("Broker control socket (default: $SHMQ_SOCKET, else ") +
                     shmq::kDefaultSocketPath + ")");
  app.require_subcommand(1);
  app.fallthrough();  // --socket may also follow the subcommand

  std::vector<std::pair<CLI::App*, const Command*>> subcommands;
  for (const Command& cmd : kCommands) {
    CLI::App* sub = app.add_subcommand(cmd.name, cmd.help);
    if (cmd.takes_queue) opt_queue(*sub, args);
    cmd.add_options(*sub, args);
    subcommands.emplace_back(sub, &cmd);
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    print_usage_error(e.what());
    return kExitUsage;
  }

  for (const auto& [sub, cmd] : subcommands) {
    if (sub->parsed()) return run_command(*cmd, args);
  }
  return kExitUsage;  // unreachable: require_subcommand(1)
}
