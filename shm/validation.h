// SQS's input rules, checked the same way by the client library (before a
// message touches shared memory) and the broker (queue attributes). Every
// function is pure: no I/O, no shared memory. The limits and error texts come
// from ../shared/SQS.md.
//
// Thread safety: all functions are thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "shmq/client.h"
#include "shmq/status.h"

namespace shmq::shm {

inline constexpr int kMaxVisibilityTimeout = 43200;
inline constexpr int kDefaultVisibilityTimeout = 30;
inline constexpr int kMinRetention = 60;
inline constexpr int kMaxRetention = 1209600;
inline constexpr int kDefaultRetention = 345600;
inline constexpr int kMaxDelaySeconds = 900;
inline constexpr int kMinMaximumMessageSize = 1024;
inline constexpr int kMaxMaximumMessageSize = 1048576;
inline constexpr int kMaxWaitTimeSeconds = 20;
inline constexpr int kMaxMessageAttributes = 10;
inline constexpr int kMaxBatchEntries = 10;
inline constexpr int kMaxReceiveCountLimit = 1000;

// Queue names: 1..80 of [A-Za-z0-9_-]; a FIFO name ends in ".fifo" (counted).
// InvalidParameterValue otherwise.
Status validate_queue_name(std::string_view name, bool fifo);

// Body: at least one character (MissingParameter "The request must contain the
// parameter MessageBody."), valid UTF-8 made only of #x9 #xA #xD #x20-#xD7FF
// #xE000-#xFFFD #x10000-#x10FFFF (InvalidMessageContents).
Status validate_body(std::string_view body);

// At most 10 attributes; names <= 256 of [A-Za-z0-9_.-], not starting with
// "AWS." or "Amazon." (any case), not starting/ending with '.', no "..";
// data type String|Number|Binary with an optional ".label", <= 256 chars;
// non-empty value of the right kind; Number values parse as a decimal number.
// InvalidParameterValue with SQS's texts.
Status validate_message_attributes(const MessageAttributes& attributes);

// Bytes that count toward MaximumMessageSize: every name, data type and value.
size_t message_attributes_size(const MessageAttributes& attributes);

// Size check: body plus attributes must be <= max_message_size, else
// InvalidParameterValue "One or more parameters are invalid. Reason: Message
// must be shorter than <max> bytes."
Status validate_message_size(size_t body_size, size_t attributes_size, size_t max_message_size);

// Batch entry ids: 1..80 of [A-Za-z0-9_-] (InvalidBatchEntryId), distinct
// (BatchEntryIdsNotDistinct), 1..10 entries (EmptyBatchRequest,
// TooManyEntriesInBatchRequest).
Status validate_batch_ids(std::span<const std::string_view> ids);
Status validate_batch_ids(const std::vector<std::string>& ids);

// MessageGroupId / MessageDeduplicationId / ReceiveRequestAttemptId: 1..128
// of alphanumerics and punctuation. InvalidParameterValue naming `parameter`.
Status validate_token(std::string_view value, std::string_view parameter);

// Queue attributes as CreateQueue / SetQueueAttributes take them. Known names:
// DelaySeconds, MaximumMessageSize, MessageRetentionPeriod, Policy,
// ReceiveMessageWaitTimeSeconds, VisibilityTimeout, RedrivePolicy,
// RedriveAllowPolicy, FifoQueue, ContentBasedDeduplication, DeduplicationScope,
// FifoThroughputLimit, KmsMasterKeyId, KmsDataKeyReusePeriodSeconds,
// SqsManagedSseEnabled, Durability. Unknown name: InvalidAttributeName
// "Unknown Attribute X."; bad value: InvalidAttributeValue (SQS's text).
// FifoQueue only when creating; FIFO-only attributes on a standard queue are
// rejected. RedrivePolicy is checked for JSON shape and maxReceiveCount
// 1..1000 here; that the target exists is the broker's business.
Status validate_queue_attributes(const QueueAttributes& attributes, bool creating, bool fifo);

// Whether GetQueueAttributes knows the name: one validate_queue_attributes
// takes, or one the broker computes (ApproximateNumberOf*, CreatedTimestamp,
// LastModifiedTimestamp, QueueArn). A known name the queue does not show (no
// RedrivePolicy set, a FIFO setting on a standard queue) is left out of the
// answer; an unknown one is InvalidAttributeName.
bool is_known_queue_attribute(std::string_view name);

// Parsed RedrivePolicy. Returns InvalidAttributeValue when malformed.
struct RedrivePolicy {
  std::string dead_letter_target_arn;
  int max_receive_count = 0;
};
Result<RedrivePolicy> parse_redrive_policy(std::string_view json);

// Lower-case hex MD5 of the bytes (MD5OfMessageBody).
std::string md5_hex(std::string_view bytes);
// Lower-case hex SHA-256 of the bytes (the content-based deduplication id).
std::string sha256_hex(std::string_view bytes);
// MD5OfMessageAttributes, SQS's algorithm (SQS.md 3.4); "" when empty.
std::string md5_of_message_attributes(const MessageAttributes& attributes);

// Message system attributes a message carries besides its message
// attributes (SQS.md 2.3): AWSTraceHeader, which a sender may set, and
// DeadLetterQueueSourceArn, which a dead-letter move sets. Views; empty when
// absent. They count toward no size limit and no MD5OfMessageAttributes.
struct SystemAttributes {
  std::string_view trace_header;            // AWSTraceHeader
  std::string_view dead_letter_source_arn;  // DeadLetterQueueSourceArn
  bool empty() const { return trace_header.empty() && dead_letter_source_arn.empty(); }
};
inline constexpr std::string_view kTraceHeaderName = "AWSTraceHeader";
inline constexpr std::string_view kDeadLetterSourceArnName = "DeadLetterQueueSourceArn";
// The longest AWSTraceHeader value taken (an X-Ray header is ~100 bytes; SQS
// documents no limit). The largest size class reserves room for it and a
// dead-letter source ARN (layout.h: kSystemAttributesReserve).
inline constexpr size_t kMaxTraceHeaderLength = 1024;

// MessageSystemAttributes of a send: only AWSTraceHeader, of DataType String,
// with a value of 1..kMaxTraceHeaderLength allowed characters
// (validate_trace_header). InvalidParameterValue otherwise.
Status validate_message_system_attributes(const MessageAttributes& system);
// MD5OfMessageSystemAttributes of a send with this AWSTraceHeader (SQS's
// attribute digest over the system attributes); "" when there is none.
std::string md5_of_message_system_attributes(std::string_view trace_header);
// The AWSTraceHeader value of validated MessageSystemAttributes (a view into
// them), or empty.
std::string_view trace_header_of(const MessageAttributes& system);
// An AWSTraceHeader value (empty: none): at most kMaxTraceHeaderLength bytes
// (InvalidParameterValue) of the body's allowed characters (InvalidMessageContents).
Status validate_trace_header(std::string_view value);

// The attributes' wire form inside a segment:
//   u16 count, then per attribute: u16 name_len, name, u16 type_len, type,
//   u8 kind (1 string, 2 binary, 3 system string), u32 value_len, value.
//   Little-endian. System attributes are entries of kind 3, type "String".
// No attributes of either sort encode to nothing (an empty blob).
size_t encoded_attributes_size(const MessageAttributes& attributes);
size_t encoded_attributes_size(const MessageAttributes* attributes, const SystemAttributes& system);
// REQUIRES: out has encoded_attributes_size(...) bytes for the same arguments.
void encode_attributes(const MessageAttributes& attributes, char* out);
void encode_attributes(const MessageAttributes* attributes, const SystemAttributes& system, char* out);
// The message attributes alone (system entries left out). Never trusts its
// input: a truncated or inconsistent blob is an error (InternalError), never
// an out-of-bounds read. An empty blob is no attributes.
Result<MessageAttributes> decode_attributes(std::string_view blob);
// The system attributes in a blob, as views into it; none when the blob is
// corrupt (decode_attributes says why).
SystemAttributes system_attributes_of(std::string_view blob);
// The blob with DeadLetterQueueSourceArn set to arn (replacing an earlier one:
// a message moved on from one dead-letter queue to another names the last).
// A corrupt blob is returned unchanged.
std::string with_dead_letter_source(std::string_view blob, std::string_view arn);
// What SQS counts of an encoded blob toward MaximumMessageSize: the message
// attributes' names, types and values (message_attributes_size), not the
// encoding's lengths nor the system attributes. A corrupt blob counts whole.
size_t counted_attributes_size(std::string_view blob);

}  // namespace shmq::shm
