// The shmq client library: SQS semantics over shared memory.
//
//   auto client = shmq::Client::connect();          // $SHMQ_SOCKET or the default
//   auto q = client->create_queue("orders", {{"VisibilityTimeout", "60"}});
//   (*q)->send("hello");
//   shmq::Message m[10];
//   auto n = (*q)->receive(m, {.max_messages = 10, .wait_time_seconds = 20});
//   for (size_t i = 0; i < *n; ++i) (*q)->remove(m[i].receipt_handle);
//
// Control operations (create, open, list, attributes, purge, permissions)
// talk to the broker over its Unix socket. Data operations (send, receive,
// remove, change_visibility) touch only the mapped queue segment: no syscall,
// no lock and no heap allocation on that path for a queue that is open, except
// a futex wait/wake when a long-polling receiver sleeps.
//
// Thread safety: a Client and its Queues may be used from many threads at once.
// Each thread gets its own lane in each queue segment on first use.
//
// Lifetime: a Queue keeps its segment mapped for as long as it lives; it may
// outlive the Client that opened it, but control calls through it then fail.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "shmq/status.h"

namespace shmq {

namespace shm {
struct SegmentView;
struct SendInput;
}

// Default control socket when SHMQ_SOCKET is not set.
inline constexpr const char* kDefaultSocketPath = "/tmp/shmq.sock";
// Resolves the socket a client should use: explicit path, else $SHMQ_SOCKET,
// else kDefaultSocketPath.
std::string resolve_socket_path(std::string_view explicit_path = {});

// A message attribute, as SQS has it. data_type is "String", "Number" or
// "Binary", optionally followed by ".label". For String and Number the value is
// in string_value; for Binary the raw bytes are in binary_value.
struct MessageAttributeValue {
  std::string data_type;
  std::string string_value;
  std::string binary_value;
};
using MessageAttributes = std::map<std::string, MessageAttributeValue>;
using QueueAttributes = std::map<std::string, std::string>;

// 128-bit message id, printed as a UUID.
struct MessageId {
  uint64_t hi = 0;
  uint64_t lo = 0;
  std::string str() const;
  bool operator==(const MessageId&) const = default;
};

// What a receive hands out and remove/change_visibility take back. Fixed size,
// no allocation. The text form (str()) is what SQS users see.
struct ReceiptHandle {
  uint32_t queue_uid = 0;
  uint32_t slot = 0;
  uint32_t gen = 0;
  uint32_t check = 0;
  uint64_t seq = 0;  // the slot's incarnation when the message was sent
  std::string str() const;
};

struct SendOptions {
  int delay_seconds = -1;  // -1: the queue's DelaySeconds
  const MessageAttributes* attributes = nullptr;
  std::string_view message_group_id;          // FIFO: required (1..128 chars)
  std::string_view message_deduplication_id;  // FIFO: required unless ContentBasedDeduplication
  // The AWSTraceHeader message system attribute (an X-Ray trace header, at
  // most 1 KiB); empty: none. Counts toward no size limit.
  std::string_view aws_trace_header;
};

struct SendResult {
  MessageId message_id;
  uint64_t sequence_number = 0;  // FIFO queues
};

struct SendBatchEntry {
  std::string id;
  std::string body;
  int delay_seconds = -1;
  MessageAttributes attributes;
  std::string message_group_id;
  std::string message_deduplication_id;
  std::string aws_trace_header;
};
struct BatchResultError {
  std::string id;
  bool sender_fault = true;
  std::string code;
  std::string message;
};
struct SendBatchResult {
  // No MD5OfMessageBody here: nothing crosses a wire between the caller and
  // the queue, so the digest checks nothing; a gateway that answers SQS
  // clients computes it from entries[index] (shm::md5_hex).
  struct Entry {
    std::string id;
    size_t index = 0;  // position of the entry in the request
    MessageId message_id;
    uint64_t sequence_number = 0;  // FIFO queues
  };
  std::vector<Entry> successful;
  std::vector<BatchResultError> failed;
};

struct ReceiveOptions {
  int max_messages = 1;        // 1..10
  int wait_time_seconds = -1;  // 0..20; -1: the queue's ReceiveMessageWaitTimeSeconds
  int visibility_timeout = -1;  // 0..43200; -1: the queue's VisibilityTimeout
  // FIFO: a receive retried with the same id within 5 minutes returns the same
  // messages (while their leases hold). Ignored on standard queues.
  std::string_view receive_request_attempt_id{};
};

// A received message. The body view points into the shared segment and stays
// valid while the lease is held (until the visibility timeout ends or the
// message is removed); copy it with body_copy() to keep it longer.
struct Message {
  MessageId message_id;
  ReceiptHandle receipt_handle;
  std::string_view body;
  std::string_view raw_attributes;  // encoded message attributes, in the segment
  uint32_t receive_count = 0;       // ApproximateReceiveCount, including this one
  uint64_t sent_timestamp_ms = 0;   // SentTimestamp (epoch ms)
  uint64_t first_receive_timestamp_ms = 0;  // ApproximateFirstReceiveTimestamp
  uint32_t sender_uid = 0;                  // SenderId
  // FIFO queues only (empty / 0 otherwise); views into the segment like body.
  std::string_view message_group_id{};          // MessageGroupId
  std::string_view message_deduplication_id{};  // MessageDeduplicationId
  uint64_t sequence_number = 0;               // SequenceNumber
  // Message system attributes, views into the segment like body; empty when absent.
  std::string_view aws_trace_header{};              // AWSTraceHeader, as sent
  std::string_view dead_letter_queue_source_arn{};  // DeadLetterQueueSourceArn: set by a dead-letter move

  std::string body_copy() const { return std::string(body); }
  MessageAttributes attributes() const;  // decodes raw_attributes (allocates)
};

struct BatchHandleEntry {
  std::string id;
  std::string receipt_handle;
  int visibility_timeout = 0;  // for change_visibility_batch
};
struct BatchResult {
  std::vector<std::string> successful;  // ids
  std::vector<BatchResultError> failed;
};

// A grant on a queue, as add_permission made it.
struct Permission {
  std::string label;
  std::string principal;  // "uid:N", "gid:N", "*", or "account:ID[,ID...]" (HTTP gateway)
  std::vector<std::string> actions;
};

// A message move task (StartMessageMoveTask): redrives a dead-letter queue.
struct MessageMoveTask {
  std::string task_handle;  // only while RUNNING
  std::string status;       // RUNNING, COMPLETED, CANCELLED, FAILED
  std::string source;       // queue names
  std::string destination;  // empty: each message back to its source queue
  int max_per_second = 0;   // 0: as fast as the broker's tick allows
  uint64_t moved = 0;       // ApproximateNumberOfMessagesMoved
  uint64_t to_move = 0;     // ApproximateNumberOfMessagesToMove (at the start)
  std::string failure_reason;
  uint64_t started_ms = 0;  // epoch ms
};

class Client;

class Queue {
 public:
  ~Queue();
  Queue(const Queue&) = delete;
  Queue& operator=(const Queue&) = delete;

  const std::string& name() const { return name_; }
  const std::string& url() const { return url_; }
  uint32_t uid() const;
  bool fifo() const;

  // SendMessage. Fails with InvalidParameterValue / InvalidMessageContents /
  // MissingParameter as SQS does, or OverLimit when the queue is full.
  Result<SendResult> send(std::string_view body, const SendOptions& options = {});
  Result<SendBatchResult> send_batch(const std::vector<SendBatchEntry>& entries);

  // ReceiveMessage into out[0..n); returns n (0 when nothing came within the wait).
  Result<size_t> receive(std::span<Message> out, const ReceiveOptions& options = {});
  // Convenience form that allocates.
  Result<std::vector<Message>> receive(const ReceiveOptions& options = {});

  // DeleteMessage. "remove" because delete is a keyword.
  Status remove(const ReceiptHandle& handle);
  Status remove(std::string_view receipt_handle);
  Result<BatchResult> remove_batch(const std::vector<BatchHandleEntry>& entries);
  // DeleteMessageBatch with the handles a receive handed out, no text: one
  // batched step in shared memory for up to 10 handles. statuses is empty
  // or has one element per handle, which gets that handle's result.
  // Returns how many were removed (a handle whose message is already gone
  // counts, as in SQS). EmptyBatchRequest / TooManyEntriesInBatchRequest.
  Result<size_t> remove_batch(std::span<const ReceiptHandle> handles, std::span<Status> statuses);

  // ChangeMessageVisibility: the lease now ends visibility_timeout seconds from now.
  Status change_visibility(const ReceiptHandle& handle, int visibility_timeout);
  Status change_visibility(std::string_view receipt_handle, int visibility_timeout);
  Result<BatchResult> change_visibility_batch(const std::vector<BatchHandleEntry>& entries);

  // Parses the text form; ReceiptHandleIsInvalid when malformed or not of this queue.
  Result<ReceiptHandle> parse_receipt_handle(std::string_view text) const;

  // Control operations through the owning client.
  Result<QueueAttributes> get_attributes(const std::vector<std::string>& names = {"All"});
  Status set_attributes(const QueueAttributes& attributes);
  Status purge();

  struct Impl;

 private:
  friend class Client;
  Queue() = default;
  // send, but a sync queue's wait for the disk is left to the caller
  // (durable_wait: see shm::journal_after_send), so a batch waits once.
  Result<SendResult> send_deferred(std::string_view body, const SendOptions& options, uint64_t* durable_wait);
  // The checks of a send; fills *in (body, attributes, delay, sender) and,
  // on FIFO queues, *dedup_id (a content-based one is kept in *content_dedup).
  Status prepare_send(std::string_view body, const SendOptions& options, shm::SendInput* in,
                      std::string* content_dedup, std::string_view* dedup_id);
  std::string name_;
  std::string url_;
  std::shared_ptr<Impl> impl_;
};

class Client {
 public:
  // Connects and says hello. socket_path "" means resolve_socket_path().
  static Result<std::shared_ptr<Client>> connect(std::string_view socket_path = {});
  ~Client();

  Result<std::shared_ptr<Queue>> create_queue(std::string_view name,
                                              const QueueAttributes& attributes = {});
  Result<std::shared_ptr<Queue>> open_queue(std::string_view name);
  Result<std::string> get_queue_url(std::string_view name);
  Result<std::vector<std::string>> list_queues(std::string_view prefix = {});  // URLs
  Status delete_queue(std::string_view name);
  Status purge_queue(std::string_view name);
  Result<QueueAttributes> get_queue_attributes(std::string_view name,
                                               const std::vector<std::string>& names = {"All"});
  Status set_queue_attributes(std::string_view name, const QueueAttributes& attributes);

  // Grants principal ("uid:N" or "gid:N") the actions ("send", "receive", "admin").
  Status add_permission(std::string_view queue, std::string_view label,
                        std::string_view principal, const std::vector<std::string>& actions);
  Status remove_permission(std::string_view queue, std::string_view label);
  Result<std::vector<Permission>> list_permissions(std::string_view queue);

  // Tags (TagQueue / UntagQueue / ListQueueTags): key 1..128 chars, not
  // "aws:..."; value 0..256; at most 50 per queue. Admin only for changes.
  Status tag_queue(std::string_view queue, const std::map<std::string, std::string>& tags);
  Status untag_queue(std::string_view queue, const std::vector<std::string>& keys);
  Result<std::map<std::string, std::string>> list_queue_tags(std::string_view queue);
  // URLs of the queues whose RedrivePolicy names this queue as their DLQ.
  Result<std::vector<std::string>> list_dead_letter_source_queues(std::string_view queue);

  // Message move tasks (run by the broker). source and destination are queue
  // names, URLs or ARNs; source must be a dead-letter queue. With no
  // destination each message goes back to the queue it came from.
  // max_per_second 0 = unlimited, else 1..500. Returns the task handle.
  Result<std::string> start_message_move_task(std::string_view source, std::string_view destination = {},
                                              int max_per_second = 0);
  // Returns ApproximateNumberOfMessagesMoved. ResourceNotFoundException for an unknown handle.
  Result<uint64_t> cancel_message_move_task(std::string_view task_handle);
  // Most recent first; max_results 1..10.
  Result<std::vector<MessageMoveTask>> list_message_move_tasks(std::string_view source, int max_results = 1);

  // Broker statistics as a JSON document (per-queue counts, recovery counters).
  Result<std::string> stats();
  // Test-only: moves the broker's clock (and every queue's) forward. Refused
  // unless the broker runs with --test-clock.
  Status advance_clock(uint64_t milliseconds);

  // Extracts the queue name from a URL as create_queue returns it, or returns
  // the argument when it is already a bare name.
  static std::string queue_name_from_url(std::string_view url_or_name);
  const std::string& socket_path() const;
  uint32_t client_id() const;

  struct Impl;

 private:
  Client() = default;
  std::shared_ptr<Impl> impl_;
};

}  // namespace shmq
