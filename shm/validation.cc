// SQS's input rules. Error codes and texts follow ../shared/SQS.md and, where it
// gives none, the texts AWS was recorded returning (LocalStack snapshots and the
// SQS emulators that copy them), so that clients matching on them keep working.

#include "shm/validation.h"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>
#include <vector>

#include "shm/layout.h"

namespace shmq::shm {
namespace {

constexpr size_t kMaxQueueNameLength = 80;
constexpr size_t kMaxAttributeNameLength = 256;
constexpr size_t kMaxDataTypeLength = 256;
constexpr size_t kMaxTokenLength = 128;
constexpr size_t kMaxBatchIdLength = 80;
constexpr size_t kMaxPolicyBytes = 8192;
constexpr size_t kMaxSourceQueueArns = 10;
constexpr int kMaxNumberPrecision = 38;  // decimal digits, per the SQS docs
constexpr int kMaxNumberMagnitude = 126;
constexpr int kMinNumberMagnitude = -128;
constexpr uint8_t kStringKind = 1;  // also the MD5 transport byte for String/Number
constexpr uint8_t kBinaryKind = 2;
constexpr uint8_t kSystemKind = 3;  // a message system attribute, DataType String
constexpr std::string_view kSystemType = "String";
constexpr std::string_view kStandardNameRule =
    "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length";
constexpr std::string_view kFifoNameRule =
    "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, "
    "must end with .fifo suffix and be 1 to 80 in length.";
constexpr std::string_view kAllowedCharacters =
    "#x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]";

Status invalid_parameter(std::string message) {
  return Status("InvalidParameterValue", std::move(message));
}
Status invalid_attribute_value(std::string_view name, std::string_view reason) {
  return Status("InvalidAttributeValue", "Invalid value for the parameter " + std::string(name) +
                                             ". Reason: " + std::string(reason));
}

bool is_id_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}
bool is_id(std::string_view s, size_t max_length) {
  if (s.empty() || s.size() > max_length) return false;
  for (char c : s)  // a loop, not all_of(is_id_char): that called through a pointer per character
    if (!is_id_char(c)) return false;
  return true;
}
bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::string hex_code(uint32_t value) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "#x%X", value);
  return buf;
}

// Decodes the UTF-8 sequence at text[i]: its code point and *length, or -1 (length 1)
// for bytes that are not well-formed (stray continuation, truncated, overlong, above
// U+10FFFF). Surrogates decode so that they are reported by code point, as SQS does.
int32_t decode_code_point(std::string_view text, size_t i, size_t* length) {
  const auto b0 = static_cast<unsigned char>(text[i]);
  *length = 1;
  if (b0 < 0x80) return b0;
  size_t n;
  uint32_t cp, min;
  if ((b0 & 0xE0) == 0xC0) {
    n = 2, cp = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    n = 3, cp = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    n = 4, cp = b0 & 0x07, min = 0x10000;
  } else {
    return -1;
  }
  if (text.size() - i < n) return -1;
  for (size_t k = 1; k < n; ++k) {
    const auto b = static_cast<unsigned char>(text[i + k]);
    if ((b & 0xC0) != 0x80) return -1;
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF) return -1;
  *length = n;
  return static_cast<int32_t>(cp);
}

bool is_allowed_code_point(uint32_t cp) {
  return cp == 0x9 || cp == 0xA || cp == 0xD || (cp >= 0x20 && cp <= 0xD7FF) ||
         (cp >= 0xE000 && cp <= 0xFFFD) || (cp >= 0x10000 && cp <= 0x10FFFF);
}

// The first character SQS would refuse, described for an error message
// ("Invalid binary character '#x1'"), or nullopt when the text is acceptable.
std::optional<std::string> find_invalid_character(std::string_view text) {
  constexpr uint64_t kHigh = 0x8080808080808080ULL;
  constexpr uint64_t kSpace = 0x2020202020202020ULL;
  for (size_t i = 0; i < text.size();) {
    // Eight bytes at a time while they are all printable ASCII (each byte
    // below 0x80 and none below 0x20): bodies are mostly that.
    if (i + 8 <= text.size()) {
      uint64_t w;
      std::memcpy(&w, text.data() + i, 8);
      if ((w & kHigh) == 0 && ((w - kSpace) & ~w & kHigh) == 0) {
        i += 8;
        continue;
      }
    }
    const auto b = static_cast<unsigned char>(text[i]);
    if (b >= 0x20 && b < 0x80) {  // printable ASCII: the common case
      ++i;
      continue;
    }
    size_t length;
    const int32_t cp = decode_code_point(text, i, &length);
    if (cp < 0) return "Invalid UTF-8 byte '" + hex_code(b) + "'";
    if (!is_allowed_code_point(static_cast<uint32_t>(cp))) {
      return "Invalid binary character '" + hex_code(static_cast<uint32_t>(cp)) + "'";
    }
    i += length;
  }
  return std::nullopt;
}

bool is_binary_type(std::string_view type) {
  return type == "Binary" || type.starts_with("Binary.");
}

bool starts_with_ignoring_case(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != prefix[i]) return false;
  }
  return true;
}

// A Number attribute: [+-]digits[.digits][e[+-]digits] (either side of the point may
// be empty, not both), with at most 38 significant digits and a magnitude between
// 10^-128 and 10^126, which is what SQS documents it can store.
bool is_sqs_number(std::string_view s) {
  size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  // Positions among all mantissa digits (integer part, then fraction) of the first and
  // last non-zero digit; no copy of the digits is needed.
  int64_t digits = 0, integer_digits = 0, first = -1, last = -1;
  for (bool fraction = false; i < s.size(); ++i) {
    if (s[i] == '.' && !fraction) {
      fraction = true;
      continue;
    }
    if (!is_digit(s[i])) break;
    if (s[i] != '0') {
      if (first < 0) first = digits;
      last = digits;
    }
    ++digits;
    if (!fraction) ++integer_digits;
  }
  if (digits == 0) return false;
  int64_t exponent = 0;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    const bool negative = i < s.size() && s[i] == '-';
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (i == s.size()) return false;
    for (; i < s.size() && is_digit(s[i]); ++i) {
      exponent = std::min<int64_t>(exponent * 10 + (s[i] - '0'), 1'000'000);  // saturate
    }
    if (negative) exponent = -exponent;
  }
  if (i != s.size()) return false;
  if (first < 0) return true;  // zero, whatever the exponent
  if (last - first + 1 > kMaxNumberPrecision) return false;
  // The value is 0.d[first]... * 10^(integer_digits - first + exponent).
  const int64_t magnitude = integer_digits - first + exponent - 1;
  return magnitude >= kMinNumberMagnitude && magnitude <= kMaxNumberMagnitude;
}

// Queue attribute values are strings; SQS takes only plain decimal integers. A
// leading '-' is parsed (and then fails the range check), anything else is not an
// integer. Saturates far outside every range instead of overflowing.
std::optional<int64_t> parse_integer(std::string_view s) {
  const bool negative = !s.empty() && s[0] == '-';
  if (negative) s.remove_prefix(1);
  if (s.empty() || !std::all_of(s.begin(), s.end(), is_digit)) return std::nullopt;
  int64_t value = 0;
  for (char c : s) value = std::min<int64_t>(value * 10 + (c - '0'), int64_t{1} << 40);
  return negative ? -value : value;
}

struct IntegerAttribute {
  std::string_view name;
  int min;
  int max;
};
constexpr IntegerAttribute kIntegerAttributes[] = {
    {"DelaySeconds", 0, kMaxDelaySeconds},
    {"KmsDataKeyReusePeriodSeconds", 60, 86400},
    {"MaximumMessageSize", kMinMaximumMessageSize, kMaxMaximumMessageSize},
    {"MessageRetentionPeriod", kMinRetention, kMaxRetention},
    {"ReceiveMessageWaitTimeSeconds", 0, kMaxWaitTimeSeconds},
    {"VisibilityTimeout", 0, kMaxVisibilityTimeout},
};

struct EnumAttribute {
  std::string_view name;
  std::string_view values[3];  // unused entries are empty
  bool fifo_only;
};
constexpr EnumAttribute kEnumAttributes[] = {
    {"ContentBasedDeduplication", {"true", "false"}, true},
    {"DeduplicationScope", {"queue", "messageGroup"}, true},
    {"Durability", {"memory", "async", "sync"}, false},
    {"FifoThroughputLimit", {"perQueue", "perMessageGroupId"}, true},
    {"SqsManagedSseEnabled", {"true", "false"}, false},
};

Status validate_enum(const EnumAttribute& attribute, std::string_view value, bool fifo) {
  if (attribute.fifo_only && !fifo) {
    // What SQS answers for these on a standard queue.
    if (attribute.name == "ContentBasedDeduplication") {
      return Status("InvalidAttributeName", "Unknown Attribute ContentBasedDeduplication.");
    }
    return Status("InvalidAttributeName", "You can specify the " + std::string(attribute.name) +
                                              " only when FifoQueue is set to true.");
  }
  std::string allowed;
  for (std::string_view v : attribute.values) {
    if (v.empty()) continue;
    if (v == value) return Status::OK();
    allowed += (allowed.empty() ? "" : ", ") + std::string(v);
  }
  return invalid_attribute_value(attribute.name, "Must be one of: " + allowed + ".");
}

// Malformed JSON comes back as a discarded value (not an object), never as an
// exception: these texts come straight from users.
nlohmann::json parse_json(std::string_view text) {
  try {
    return nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  } catch (const std::exception&) {
    return nlohmann::json(nlohmann::json::value_t::discarded);
  }
}

Status validate_json_object(std::string_view name, std::string_view value) {
  const auto doc = parse_json(value);
  if (!doc.is_object()) return invalid_attribute_value(name, "Must be a JSON object.");
  return Status::OK();
}

Status validate_redrive_allow_policy(std::string_view value) {
  constexpr std::string_view kName = "RedriveAllowPolicy";
  try {
    const auto doc = parse_json(value);
    if (!doc.is_object()) return invalid_attribute_value(kName, "Must be a JSON object.");
    const auto permission = doc.find("redrivePermission");
    if (permission == doc.end() || !permission->is_string() ||
        (*permission != "allowAll" && *permission != "denyAll" && *permission != "byQueue")) {
      return invalid_attribute_value(kName,
                                     "redrivePermission must be allowAll, denyAll or byQueue.");
    }
    const auto arns = doc.find("sourceQueueArns");
    const bool by_queue = *permission == "byQueue";
    if (arns == doc.end()) {
      if (by_queue) return invalid_attribute_value(kName, "byQueue requires sourceQueueArns.");
      return Status::OK();
    }
    if (!arns->is_array() || arns->size() > kMaxSourceQueueArns || (by_queue && arns->empty()) ||
        !std::all_of(arns->begin(), arns->end(), [](const auto& a) { return a.is_string(); })) {
      return invalid_attribute_value(kName, "sourceQueueArns must list 1 to 10 queue ARNs.");
    }
    return Status::OK();
  } catch (const std::exception&) {  // nlohmann may throw on access; never let it escape
    return invalid_attribute_value(kName, "Must be a JSON object.");
  }
}

}  // namespace

Status validate_queue_name(std::string_view name, bool fifo) {
  if (!fifo) {
    if (is_id(name, kMaxQueueNameLength)) return Status::OK();
    return invalid_parameter(std::string(kStandardNameRule));
  }
  constexpr std::string_view kSuffix = ".fifo";
  if (name.size() <= kMaxQueueNameLength && name.ends_with(kSuffix) &&
      is_id(name.substr(0, name.size() - kSuffix.size()), kMaxQueueNameLength)) {
    return Status::OK();
  }
  return invalid_parameter(std::string(kFifoNameRule));
}

Status validate_body(std::string_view body) {
  if (body.empty()) {
    return Status("MissingParameter", "The request must contain the parameter MessageBody.");
  }
  if (auto bad = find_invalid_character(body)) {
    return Status("InvalidMessageContents", *bad +
                                                " was found in the message body, the set of "
                                                "allowed characters is " +
                                                std::string(kAllowedCharacters) + ".");
  }
  return Status::OK();
}

Status validate_message_attributes(const MessageAttributes& attributes) {
  if (attributes.size() > kMaxMessageAttributes) {
    return invalid_parameter("Number of message attributes [" + std::to_string(attributes.size()) +
                             "] exceeds the allowed maximum [" +
                             std::to_string(kMaxMessageAttributes) + "].");
  }
  for (const auto& [name, value] : attributes) {
    // Built only on failure: sends validate attributes on the data path.
    const auto quoted = [&name = name] { return "'" + name + "'"; };
    if (name.empty()) {
      return invalid_parameter(
          "The request must contain non-empty message (user) attribute names.");
    }
    if (name.size() > kMaxAttributeNameLength) {
      return invalid_parameter("Message (user) attribute name must be shorter than 256 bytes.");
    }
    if (starts_with_ignoring_case(name, "aws.") || starts_with_ignoring_case(name, "amazon.")) {
      return invalid_parameter(
          "You can't use message attribute names beginning with 'AWS.' or 'Amazon'. These "
          "strings are reserved for internal use.");
    }
    if (name.front() == '.') {
      return invalid_parameter("Message (user) attribute name must not begin with character '.'.");
    }
    if (name.back() == '.') {
      return invalid_parameter("Message (user) attribute name must not end with character '.'.");
    }
    if (name.find("..") != std::string::npos) {
      return invalid_parameter(
          "Message (user) attribute name must not have successive '.' characters.");
    }
    for (size_t i = 0; i < name.size(); ++i) {
      if (is_id_char(name[i]) || name[i] == '.') continue;
      size_t length;
      const int32_t cp = decode_code_point(name, i, &length);
      return invalid_parameter(
          "Invalid non-alphanumeric character '" +
          hex_code(cp < 0 ? static_cast<unsigned char>(name[i]) : static_cast<uint32_t>(cp)) +
          "' was found in the message attribute name. Can only include alphanumeric "
          "characters, hyphens, underscores, or dots.");
    }

    const std::string& type = value.data_type;
    if (type.empty()) {
      return invalid_parameter("The message (user) attribute " + quoted() +
                               " must contain a non-empty message attribute type.");
    }
    if (type.size() > kMaxDataTypeLength) {
      return invalid_parameter("Message (user) attribute type must be shorter than 256 bytes.");
    }
    const size_t dot = type.find('.');
    const std::string_view base = std::string_view(type).substr(0, dot);
    const bool label_ok =
        dot == std::string::npos ||
        (dot + 1 < type.size() && !find_invalid_character(std::string_view(type).substr(dot + 1)));
    if ((base != "String" && base != "Number" && base != "Binary") || !label_ok) {
      return invalid_parameter("The type of message (user) attribute " + quoted() +
                               " is invalid. You must use only the following supported type "
                               "prefixes: Binary, Number, String.");
    }
    if (!value.string_value.empty() && !value.binary_value.empty()) {
      return invalid_parameter("Message (user) attribute " + quoted() +
                               " must have a single value.");
    }
    const bool binary = base == "Binary";
    if ((binary ? value.binary_value : value.string_value).empty()) {
      return invalid_parameter("Message (user) attribute " + quoted() +
                               " must contain a non-empty value of type '" + type + "'.");
    }
    if (binary) continue;
    // String values travel in XML and JSON like the body, so the body's characters apply.
    if (auto bad = find_invalid_character(value.string_value)) {
      return invalid_parameter(*bad + " was found in the message attribute " + quoted() +
                               " value, the set of allowed characters is " +
                               std::string(kAllowedCharacters) + ".");
    }
    if (base == "Number" && !is_sqs_number(value.string_value)) {
      return invalid_parameter("Can't cast the value of message (user) attribute " + quoted() +
                               " to a number.");
    }
  }
  return Status::OK();
}

size_t message_attributes_size(const MessageAttributes& attributes) {
  size_t total = 0;
  for (const auto& [name, value] : attributes) {
    total += name.size() + value.data_type.size() +
             (is_binary_type(value.data_type) ? value.binary_value : value.string_value).size();
  }
  return total;
}

Status validate_message_size(size_t body_size, size_t attributes_size, size_t max_message_size) {
  // Written so that the sum cannot overflow.
  if (body_size <= max_message_size && attributes_size <= max_message_size - body_size) {
    return Status::OK();
  }
  return invalid_parameter(
      "One or more parameters are invalid. Reason: Message must be shorter than " +
      std::to_string(max_message_size) + " bytes.");
}

Status validate_batch_ids(std::span<const std::string_view> ids) {
  if (ids.empty()) {
    return Status("EmptyBatchRequest", "There should be at least one entry in the request.");
  }
  if (ids.size() > kMaxBatchEntries) {
    return Status("TooManyEntriesInBatchRequest",
                  "Maximum number of entries per request are " + std::to_string(kMaxBatchEntries) +
                      ". You have sent " + std::to_string(ids.size()) + ".");
  }
  for (std::string_view id : ids) {
    if (!is_id(id, kMaxBatchIdLength)) {
      return Status("InvalidBatchEntryId",
                    "A batch entry id can only contain alphanumeric characters, hyphens and "
                    "underscores. It can be at most 80 letters long.");
    }
  }
  // At most 10 ids: pairwise, with the length and the last character (ids
  // are mostly numbered) compared before any call to memcmp.
  for (size_t i = 0; i < ids.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (ids[i].size() == ids[j].size() && ids[i].back() == ids[j].back() && ids[i] == ids[j]) {
        return Status("BatchEntryIdsNotDistinct", "Id " + std::string(ids[i]) + " repeated.");
      }
    }
  }
  return Status::OK();
}

Status validate_batch_ids(const std::vector<std::string>& ids) {
  const std::vector<std::string_view> views(ids.begin(), ids.end());
  return validate_batch_ids(std::span<const std::string_view>(views));
}

Status validate_token(std::string_view value, std::string_view parameter) {
  // "Alphanumerics and punctuation" is exactly printable ASCII without the space.
  const bool ok =
      !value.empty() && value.size() <= kMaxTokenLength &&
      std::all_of(value.begin(), value.end(), [](char c) { return c > 0x20 && c < 0x7F; });
  if (ok) return Status::OK();
  const std::string p(parameter);
  return invalid_parameter("Value " + std::string(value) + " for parameter " + p +
                           " is invalid. Reason: " + p +
                           " can only include alphanumeric and punctuation characters. 1 to 128 "
                           "in length.");
}

bool is_known_queue_attribute(std::string_view name) {
  constexpr std::string_view kOthers[] = {
      "FifoQueue",    "RedrivePolicy", "RedriveAllowPolicy", "Policy", "KmsMasterKeyId",
      // computed by the broker
      "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed",
      "CreatedTimestamp", "LastModifiedTimestamp", "QueueArn"};
  const auto named = [&](const auto& a) { return a.name == name; };
  return std::any_of(std::begin(kIntegerAttributes), std::end(kIntegerAttributes), named) ||
         std::any_of(std::begin(kEnumAttributes), std::end(kEnumAttributes), named) ||
         std::find(std::begin(kOthers), std::end(kOthers), name) != std::end(kOthers);
}

Status validate_queue_attributes(const QueueAttributes& attributes, bool creating, bool fifo) {
  for (const auto& [name, value] : attributes) {
    const auto integer = std::find_if(std::begin(kIntegerAttributes), std::end(kIntegerAttributes),
                                      [&](const auto& a) { return a.name == name; });
    if (integer != std::end(kIntegerAttributes)) {
      const auto v = parse_integer(value);
      if (!v || *v < integer->min || *v > integer->max) {
        return invalid_attribute_value(name, "Must be an integer from " +
                                                 std::to_string(integer->min) + " to " +
                                                 std::to_string(integer->max) + ".");
      }
      continue;
    }
    const auto enumerated = std::find_if(std::begin(kEnumAttributes), std::end(kEnumAttributes),
                                         [&](const auto& a) { return a.name == name; });
    if (enumerated != std::end(kEnumAttributes)) {
      if (Status s = validate_enum(*enumerated, value, fifo); !s.ok()) return s;
      continue;
    }
    if (name == "FifoQueue") {
      if (!creating) return invalid_attribute_value(name, "Modifying queue type is not supported.");
      if (value != "true" && value != "false") {
        return invalid_attribute_value(name, "Must be one of: true, false.");
      }
      // The type decides which names are legal, so a disagreement is reported the way SQS
      // reports the name that does not fit the requested type.
      if ((value == "true") != fifo) {
        return invalid_parameter(std::string(value == "true" ? kFifoNameRule : kStandardNameRule));
      }
      continue;
    }
    if (name == "RedrivePolicy") {
      if (value.empty()) continue;  // "" removes the policy
      if (auto policy = parse_redrive_policy(value); !policy.ok()) return policy.status();
      continue;
    }
    if (name == "RedriveAllowPolicy") {
      if (value.empty()) continue;
      if (Status s = validate_redrive_allow_policy(value); !s.ok()) return s;
      continue;
    }
    if (name == "Policy") {
      if (value.empty()) continue;
      if (value.size() > kMaxPolicyBytes) {
        return invalid_attribute_value(name, "Must be at most 8192 bytes.");
      }
      if (Status s = validate_json_object(name, value); !s.ok()) return s;
      continue;
    }
    if (name == "KmsMasterKeyId") continue;  // any key id or alias; KMS is not emulated
    return Status("InvalidAttributeName", "Unknown Attribute " + name + ".");
  }

  // Rules that tie two attributes of the same request together.
  const auto get = [&](const char* name) -> std::string_view {
    const auto it = attributes.find(name);
    return it == attributes.end() ? std::string_view() : std::string_view(it->second);
  };
  if (get("FifoThroughputLimit") == "perMessageGroupId" &&
      (get("DeduplicationScope") == "queue" ||
       (creating && get("DeduplicationScope") != "messageGroup"))) {
    return invalid_attribute_value("FifoThroughputLimit",
                                   "The perMessageGroupId value is allowed only when the value "
                                   "for DeduplicationScope is messageGroup.");
  }
  if (get("SqsManagedSseEnabled") == "true" && !get("KmsMasterKeyId").empty()) {
    return invalid_attribute_value("SqsManagedSseEnabled",
                                   "You can use one type of server-side encryption (SSE) at one "
                                   "time. You can either enable KMS SSE or SQS SSE.");
  }
  return Status::OK();
}

Result<RedrivePolicy> parse_redrive_policy(std::string_view json) {
  const auto invalid = [&](std::string_view reason) {
    return Status("InvalidAttributeValue",
                  "Value " + std::string(json) +
                      " for parameter RedrivePolicy is invalid. Reason: " + std::string(reason));
  };
  try {
    const auto doc = parse_json(json);
    if (!doc.is_object()) return invalid("Redrive policy is not a JSON object.");
    for (const auto& item : doc.items()) {
      if (item.key() != "deadLetterTargetArn" && item.key() != "maxReceiveCount") {
        return invalid(
            "Only following attributes are supported: [deadLetterTargetArn, "
            "maxReceiveCount].");
      }
    }
    const auto arn = doc.find("deadLetterTargetArn");
    if (arn == doc.end()) {
      return invalid("Redrive policy does not contain mandatory attribute: deadLetterTargetArn.");
    }
    const auto count = doc.find("maxReceiveCount");
    if (count == doc.end()) {
      return invalid("Redrive policy does not contain mandatory attribute: maxReceiveCount.");
    }
    if (!arn->is_string() || arn->get_ref<const std::string&>().empty()) {
      return invalid("Invalid value for deadLetterTargetArn.");
    }
    // SDKs send maxReceiveCount as a JSON number or as a numeric string; both are fine.
    std::optional<int64_t> n;
    if (count->is_number_unsigned()) {
      n = static_cast<int64_t>(std::min<uint64_t>(count->get<uint64_t>(), INT64_MAX));
    } else if (count->is_number_integer()) {
      n = count->get<int64_t>();
    } else if (count->is_string()) {
      n = parse_integer(count->get_ref<const std::string&>());
    }
    if (!n || *n < 1 || *n > kMaxReceiveCountLimit) {
      // dump() recurses, so a nested value is named by its type instead.
      const std::string shown = count->is_string()       ? count->get<std::string>()
                                : count->is_structured() ? std::string(count->type_name())
                                                         : count->dump();
      return invalid("Invalid value for maxReceiveCount: " + shown +
                     ", valid values are from 1 to 1000 both inclusive.");
    }
    return RedrivePolicy{arn->get<std::string>(), static_cast<int>(*n)};
  } catch (const std::exception&) {  // nlohmann may throw on access; never let it escape
    return invalid("Redrive policy is not a JSON object.");
  }
}

namespace {

// Lower-case hex digest of the bytes with `md`, or "" when it is unavailable
// (e.g. MD5 under a FIPS-only provider).
std::string digest_hex(const EVP_MD* md, std::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (md == nullptr || EVP_Digest(bytes.data(), bytes.size(), digest, &length, md, nullptr) != 1)
    return "";
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(2 * length, '\0');
  for (unsigned int i = 0; i < length; ++i) {
    out[2 * i] = kHex[digest[i] >> 4];
    out[2 * i + 1] = kHex[digest[i] & 0xF];
  }
  return out;
}

}  // namespace

// Each fetches its algorithm once: EVP_md5() and friends make OpenSSL 3 look
// it up on every call, which costs more than hashing a small body.
std::string sha256_hex(std::string_view bytes) {
  static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return digest_hex(sha256, bytes);
}

std::string md5_hex(std::string_view bytes) {
  static EVP_MD* const md5 = EVP_MD_fetch(nullptr, "MD5", nullptr);
  return digest_hex(md5, bytes);
}

std::string md5_of_message_attributes(const MessageAttributes& attributes) {
  if (attributes.empty()) return "";
  // std::map already iterates names in byte order, which is the order SQS sorts by.
  std::string buf;
  const auto put = [&buf](std::string_view s) {
    const auto n = static_cast<uint32_t>(s.size());
    const char be[4] = {static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                        static_cast<char>(n >> 8), static_cast<char>(n)};
    buf.append(be, 4).append(s);
  };
  for (const auto& [name, value] : attributes) {
    const bool binary = is_binary_type(value.data_type);
    put(name);
    put(value.data_type);
    buf.push_back(static_cast<char>(binary ? kBinaryKind : kStringKind));
    put(binary ? value.binary_value : value.string_value);
  }
  return md5_hex(buf);
}

// The encoding's bytes beyond names, types and values (encode_attributes):
// the count, then per attribute the name and type lengths, the kind, the
// value length. SQS counts none of them against MaximumMessageSize: each
// payload reserves room for the most they can take.
constexpr size_t kEncodedCountBytes = 2;
constexpr size_t kEncodedPerAttributeBytes = 2 + 2 + 1 + 4;
static_assert(kEncodedCountBytes + kMaxMessageAttributes * kEncodedPerAttributeBytes <= kAttributesEncodingReserve,
              "the largest attribute encoding overhead must fit the payload reserve");

// Messages without attributes are the common case, so they encode to nothing at all
// (an empty blob); decode also accepts an explicit count of zero.
size_t encoded_attributes_size(const MessageAttributes& attributes) {
  return encoded_attributes_size(&attributes, SystemAttributes{});
}

namespace {

// Bytes one entry takes in the encoding.
size_t entry_size(std::string_view name, std::string_view type, std::string_view value) {
  return kEncodedPerAttributeBytes + name.size() + type.size() + value.size();
}

// The system attributes as (name, value) entries, in encoding order; an
// empty value is an absent attribute.
std::array<std::pair<std::string_view, std::string_view>, 2> system_entries(const SystemAttributes& s) {
  return {{{kTraceHeaderName, s.trace_header}, {kDeadLetterSourceArnName, s.dead_letter_source_arn}}};
}

}  // namespace

size_t encoded_attributes_size(const MessageAttributes* attributes, const SystemAttributes& system) {
  size_t total = 0;
  if (attributes)
    for (const auto& [name, value] : *attributes)
      total += entry_size(name, value.data_type,
                          is_binary_type(value.data_type) ? value.binary_value : value.string_value);
  for (const auto& [name, value] : system_entries(system))
    if (!value.empty()) total += entry_size(name, kSystemType, value);
  return total ? total + kEncodedCountBytes : 0;
}

namespace {

class Encoder {
 public:
  explicit Encoder(char* out) : out_(out) {}
  void put_le(uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) *out_++ = static_cast<char>(v >> (8 * i));
  }
  void put_bytes(std::string_view s) {
    if (!s.empty()) std::memcpy(out_, s.data(), s.size());
    out_ += s.size();
  }
  // Lengths fit their fields: validation bounds names and types to 256
  // bytes, MaximumMessageSize bounds values, kMaxTraceHeaderLength the system ones.
  void put_entry(std::string_view name, std::string_view type, uint8_t kind, std::string_view value) {
    put_le(name.size(), 2);
    put_bytes(name);
    put_le(type.size(), 2);
    put_bytes(type);
    put_le(kind, 1);
    put_le(value.size(), 4);
    put_bytes(value);
  }

 private:
  char* out_;
};

struct Entry {
  std::string_view name, type, value;
  uint8_t kind;
};

// Calls f(entry) for each entry of the blob in order; false when the blob is
// corrupt (then *why, if given, says how). Every read checks the remaining
// length first.
template <class F>
bool for_each_entry(std::string_view blob, F&& f, const char** why = nullptr) {
  const char* ignored = "";
  if (!why) why = &ignored;
  if (blob.empty()) return true;
  size_t pos = 0;
  const auto get_le = [&](int bytes, uint64_t* v) {
    if (blob.size() - pos < static_cast<size_t>(bytes)) return false;
    *v = 0;
    for (int i = 0; i < bytes; ++i) *v |= uint64_t{static_cast<unsigned char>(blob[pos++])} << (8 * i);
    return true;
  };
  const auto get_bytes = [&](int length_bytes, std::string_view* s) {
    uint64_t n;
    if (!get_le(length_bytes, &n) || blob.size() - pos < n) return false;
    *s = blob.substr(pos, n);
    pos += n;
    return true;
  };
  uint64_t count;
  if (!get_le(2, &count)) return *why = "truncated count", false;
  for (uint64_t i = 0; i < count; ++i) {
    Entry e;
    uint64_t kind;
    if (!get_bytes(2, &e.name) || !get_bytes(2, &e.type) || !get_le(1, &kind)) {
      return *why = "truncated attribute", false;
    }
    const uint8_t expect = kind == kSystemKind ? kSystemKind : is_binary_type(e.type) ? kBinaryKind : kStringKind;
    if (kind != expect || (kind == kSystemKind && e.type != kSystemType))
      return *why = "kind does not match type", false;
    e.kind = uint8_t(kind);
    if (!get_bytes(4, &e.value)) return *why = "truncated value", false;
    f(e);
  }
  if (pos != blob.size()) return *why = "trailing bytes", false;
  return true;
}

}  // namespace

void encode_attributes(const MessageAttributes& attributes, char* out) {
  encode_attributes(&attributes, SystemAttributes{}, out);
}

void encode_attributes(const MessageAttributes* attributes, const SystemAttributes& system, char* out) {
  size_t count = attributes ? attributes->size() : 0;
  for (const auto& [name, value] : system_entries(system)) count += !value.empty();
  if (count == 0) return;
  Encoder e(out);
  e.put_le(count, 2);
  if (attributes)
    for (const auto& [name, value] : *attributes) {
      const bool binary = is_binary_type(value.data_type);
      e.put_entry(name, value.data_type, binary ? kBinaryKind : kStringKind,
                  binary ? value.binary_value : value.string_value);
    }
  for (const auto& [name, value] : system_entries(system))
    if (!value.empty()) e.put_entry(name, kSystemType, kSystemKind, value);
}

Result<MessageAttributes> decode_attributes(std::string_view blob) {
  MessageAttributes out;
  bool duplicate = false;
  const char* why = "";
  const bool ok = for_each_entry(
      blob,
      [&](const Entry& e) {
        if (e.kind == kSystemKind) return;
        MessageAttributeValue value;
        value.data_type = e.type;
        (e.kind == kBinaryKind ? value.binary_value : value.string_value) = e.value;
        duplicate |= !out.emplace(std::string(e.name), std::move(value)).second;
      },
      &why);
  if (!ok || duplicate)
    return Status("InternalError", std::string("Corrupt message attributes: ") + (ok ? "duplicate name" : why) + ".");
  return out;
}

SystemAttributes system_attributes_of(std::string_view blob) {
  SystemAttributes out;
  const bool ok = for_each_entry(blob, [&](const Entry& e) {
    if (e.kind != kSystemKind) return;
    if (e.name == kTraceHeaderName) out.trace_header = e.value;
    if (e.name == kDeadLetterSourceArnName) out.dead_letter_source_arn = e.value;
  });
  return ok ? out : SystemAttributes{};
}

std::string with_dead_letter_source(std::string_view shared, std::string_view arn) {
  // The blob may lie in a segment clients write: read it once, from a copy.
  const std::string blob(shared);
  std::vector<Entry> kept;
  size_t bytes = kEncodedCountBytes + entry_size(kDeadLetterSourceArnName, kSystemType, arn);
  if (!for_each_entry(blob,
                      [&](const Entry& e) {
                        if (e.kind == kSystemKind && e.name == kDeadLetterSourceArnName) return;
                        kept.push_back(e);
                        bytes += entry_size(e.name, e.type, e.value);
                      }) ||
      kept.size() >= 0xffff)
    return blob;
  std::string out(bytes, '\0');
  Encoder enc(out.data());
  enc.put_le(kept.size() + 1, 2);
  for (const Entry& e : kept) enc.put_entry(e.name, e.type, e.kind, e.value);
  enc.put_entry(kDeadLetterSourceArnName, kSystemType, kSystemKind, arn);
  return out;
}

size_t counted_attributes_size(std::string_view blob) {
  size_t counted = 0;
  const bool ok = for_each_entry(blob, [&](const Entry& e) {
    if (e.kind != kSystemKind) counted += e.name.size() + e.type.size() + e.value.size();
  });
  return ok ? counted : blob.size();
}

Status validate_message_system_attributes(const MessageAttributes& system) {
  for (const auto& [name, value] : system) {
    if (name != kTraceHeaderName)
      return invalid_parameter("Message system attribute name '" + name +
                               "' is invalid. The only message system attribute a sender can set is "
                               "AWSTraceHeader.");
    if (value.data_type != kSystemType)
      return invalid_parameter("The message system attribute AWSTraceHeader must be of DataType String, not '" +
                               value.data_type + "'.");
    if (value.string_value.empty())
      return invalid_parameter("The message system attribute AWSTraceHeader must have a non-empty StringValue.");
    if (Status s = validate_trace_header(value.string_value); !s.ok()) return s;
  }
  return Status::OK();
}

std::string md5_of_message_system_attributes(std::string_view trace_header) {
  if (trace_header.empty()) return {};
  return md5_of_message_attributes({{std::string(kTraceHeaderName), {std::string(kSystemType), std::string(trace_header), ""}}});
}

std::string_view trace_header_of(const MessageAttributes& system) {
  auto it = system.find(std::string(kTraceHeaderName));
  return it == system.end() ? std::string_view() : std::string_view(it->second.string_value);
}

Status validate_trace_header(std::string_view value) {
  if (value.size() > kMaxTraceHeaderLength)
    return invalid_parameter("The message system attribute AWSTraceHeader must be at most " +
                             std::to_string(kMaxTraceHeaderLength) + " bytes.");
  if (auto bad = find_invalid_character(value))
    return Status("InvalidMessageContents", *bad + " was found in the message system attribute AWSTraceHeader, "
                                                    "the set of allowed characters is " +
                                                    std::string(kAllowedCharacters) + ".");
  return Status::OK();
}

}  // namespace shmq::shm
