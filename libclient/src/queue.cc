// Queue: the data plane over the mapped segment, and control calls.
#include <immintrin.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <unordered_set>

#include "libclient/src/client_impl.h"
#include "shm/fifo.h"
#include "shm/futex.h"
#include "shm/journal_ring.h"
#include "shm/queue_batch.h"
#include "shm/queue_ops.h"
#include "shm/ring.h"
#include "shm/validation.h"

namespace shmq {
namespace {

// A message's id: the queue secret's high half with the slot, and the
// incarnation (the same for send, send_batch and receive).
MessageId message_id_of(uint64_t secret, uint32_t slot, uint64_t incarnation) {
  return MessageId{(secret & 0xffffffff00000000ULL) | slot, incarnation};
}

// What send() takes for one entry of a send_batch.
SendOptions options_of(const SendBatchEntry& e) {
  SendOptions o;
  o.delay_seconds = e.delay_seconds;
  o.attributes = &e.attributes;
  o.message_group_id = e.message_group_id;
  o.message_deduplication_id = e.message_deduplication_id;
  o.aws_trace_header = e.aws_trace_header;
  return o;
}

// ---- per-thread lanes ------------------------------------------------------
// Each thread caches the lane it claimed in each queue it used. When the
// thread exits, its lanes go back (if the queue still exists).

std::mutex g_live_mu;
std::map<uint64_t, std::weak_ptr<Queue::Impl>>& live_queues() {
  static auto* m = new std::map<uint64_t, std::weak_ptr<Queue::Impl>>();
  return *m;
}

struct LaneCache {
  static constexpr int kFast = 8;
  uint64_t ids[kFast] = {};
  uint32_t lanes[kFast] = {};
  std::map<uint64_t, uint32_t> more;

  ~LaneCache() {
    std::vector<std::pair<uint64_t, uint32_t>> all(more.begin(), more.end());
    for (int i = 0; i < kFast; ++i)
      if (ids[i]) all.emplace_back(ids[i], lanes[i]);
    for (auto& [id, lane] : all) {
      std::shared_ptr<Queue::Impl> q;
      {
        std::lock_guard<std::mutex> lock(g_live_mu);
        auto it = live_queues().find(id);
        if (it != live_queues().end()) q = it->second.lock();
      }
      if (q) q->release_lane(lane);
    }
  }
};
thread_local LaneCache t_lanes;

uint64_t check_of(uint64_t secret, uint32_t queue_uid, uint32_t slot, uint32_t gen, uint64_t seq) {
  uint64_t x = secret ^ (uint64_t(queue_uid) << 32 | slot) ^ (uint64_t(gen) * 0x9E3779B97F4A7C15ULL) ^
               (seq * 0xC2B2AE3D27D4EB4FULL);
  x ^= x >> 31;
  x *= 0x7FB5D329728EA185ULL;
  x ^= x >> 27;
  x *= 0x81DADEF4BC2DD44DULL;
  x ^= x >> 33;
  return x;
}

Status queue_gone() {
  return Status("QueueDoesNotExist", "The specified queue does not exist.");
}

Status no_lane() {
  return Status("OverLimit", "Too many threads use this queue at once (256 lanes).");
}

// A handle built in this process (not parsed) still has to be of this queue
// and carry the right check.
Status check_handle(const shm::Header* h, const ReceiptHandle& handle) {
  if (handle.queue_uid == h->queue_uid &&
      handle.check == uint32_t(check_of(h->secret, handle.queue_uid, handle.slot, handle.gen, handle.seq)))
    return Status::OK();
  return Status("ReceiptHandleIsInvalid",
                "The input receipt handle \"" + handle.str() + "\" is not a valid receipt handle.");
}

bool parse_hex(std::string_view s, uint64_t* out) {
  uint64_t v = 0;
  for (char c : s) {
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else return false;
    v = v << 4 | uint64_t(d);
  }
  *out = v;
  return true;
}

}  // namespace

Queue::Impl::~Impl() {
  {
    std::lock_guard<std::mutex> lock(g_live_mu);
    live_queues().erase(id);
  }
  for (uint32_t l : lanes) {
    shm::Lane& lane = view.lanes[l];
    lane.owner_pid.store(0, std::memory_order_relaxed);
    lane.owner.store(0, std::memory_order_release);
  }
  if (map) munmap(map, size);
}

void Queue::Impl::release_lane(uint32_t l) {
  std::lock_guard<std::mutex> lock(lanes_mu);
  for (size_t i = 0; i < lanes.size(); ++i) {
    if (lanes[i] != l) continue;
    lanes.erase(lanes.begin() + long(i));
    shm::Lane& lane = view.lanes[l];
    // The thread finished its last step, so intent and op are clear.
    lane.owner_pid.store(0, std::memory_order_relaxed);
    lane.owner.store(0, std::memory_order_release);
    return;
  }
}

shm::Lane* Queue::Impl::lane() {
  LaneCache& c = t_lanes;
  for (int i = 0; i < LaneCache::kFast; ++i)
    if (c.ids[i] == id) return &view.lanes[c.lanes[i]];
  if (auto it = c.more.find(id); it != c.more.end()) return &view.lanes[it->second];

  // First use by this thread: claim a free lane (lane 0 is the broker's).
  for (uint32_t l = 1; l < shm::kMaxLanes; ++l) {
    shm::Lane& lane = view.lanes[l];
    uint32_t expect = 0;
    if (!lane.owner.compare_exchange_strong(expect, client_id, std::memory_order_acq_rel)) continue;
    lane.owner_pid.store(uint32_t(pid), std::memory_order_relaxed);
    lane.owner_start.store(start_time, std::memory_order_relaxed);
    lane.intent.store(0, std::memory_order_relaxed);
    lane.group_lock.store(0, std::memory_order_relaxed);
    lane.aux_lock.store(0, std::memory_order_relaxed);
    lane.dedup_pending.store(0, std::memory_order_relaxed);
    lane.batch.store(0, std::memory_order_relaxed);
    lane.op.store(0, std::memory_order_release);
    {
      std::lock_guard<std::mutex> lock(lanes_mu);
      lanes.push_back(l);
    }
    {
      std::lock_guard<std::mutex> lock(g_live_mu);
      live_queues()[id] = weak_from_this();
    }
    bool cached = false;
    for (int i = 0; i < LaneCache::kFast && !cached; ++i)
      if (c.ids[i] == 0) {
        c.ids[i] = id;
        c.lanes[i] = l;
        cached = true;
      }
    if (!cached) c.more[id] = l;
    return &lane;
  }
  return nullptr;
}

uint32_t Queue::uid() const { return impl_->view.header->queue_uid; }
bool Queue::fifo() const { return impl_->view.header->fifo != 0; }

Queue::~Queue() = default;

Result<SendResult> Queue::send(std::string_view body, const SendOptions& options) {
  return send_deferred(body, options, nullptr);
}

Status Queue::prepare_send(std::string_view body, const SendOptions& options, shm::SendInput* in,
                           std::string* content_dedup, std::string_view* dedup_id) {
  const shm::SegmentView& v = impl_->view;
  const shm::QueueConfig& cfg = v.header->config;
  if (cfg.deleted.load(std::memory_order_relaxed)) return queue_gone();
  if (Status s = shm::validate_body(body); !s.ok()) return s;
  const shm::SystemAttributes system{options.aws_trace_header, {}};
  if (!system.trace_header.empty()) {
    if (Status s = shm::validate_trace_header(system.trace_header); !s.ok()) return s;
  }
  const MessageAttributes* attributes =
      options.attributes && !options.attributes->empty() ? options.attributes : nullptr;
  if (attributes) {
    if (Status s = shm::validate_message_attributes(*attributes); !s.ok()) return s;
    if (Status s = shm::validate_message_size(body.size(), shm::message_attributes_size(*attributes),
                                              cfg.max_message_size.load(std::memory_order_relaxed));
        !s.ok())
      return s;
  } else if (Status s = shm::validate_message_size(
                 body.size(), 0, cfg.max_message_size.load(std::memory_order_relaxed));
             !s.ok()) {
    return s;
  }
  if (options.delay_seconds > shm::kMaxDelaySeconds || options.delay_seconds < -1)
    return Status("InvalidParameterValue",
                  "Value " + std::to_string(options.delay_seconds) +
                      " for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 "
                      "and <= 900.");
  // FIFO queues have no per-message delay; an explicit 0 is accepted, as
  // SQS does, and the queue's DelaySeconds applies.
  if (fifo() && options.delay_seconds > 0)
    return Status("InvalidParameterValue",
                  "Value " + std::to_string(options.delay_seconds) +
                      " for parameter DelaySeconds is invalid. Reason: The request include "
                      "parameter that is not valid for this queue type.");
  *dedup_id = options.message_deduplication_id;
  if (!options.message_group_id.empty()) {
    if (Status s = shm::validate_token(options.message_group_id, "MessageGroupId"); !s.ok()) return s;
  } else if (fifo()) {
    return Status("MissingParameter", "The request must contain the parameter MessageGroupId.");
  }
  if (!dedup_id->empty()) {
    if (!fifo())
      return Status("InvalidParameterValue",
                    "Value " + std::string(*dedup_id) +
                        " for parameter MessageDeduplicationId is invalid. Reason: The request "
                        "includes a parameter that is not valid for this queue type.");
    if (Status s = shm::validate_token(*dedup_id, "MessageDeduplicationId"); !s.ok()) return s;
  } else if (fifo()) {
    if (!cfg.content_based_dedup.load(std::memory_order_relaxed))
      return Status("InvalidParameterValue",
                    "The queue should either have ContentBasedDeduplication enabled or "
                    "MessageDeduplicationId provided explicitly");
    *content_dedup = shm::sha256_hex(body);
    *dedup_id = *content_dedup;
  }
  const uint32_t delay_s = options.delay_seconds >= 0 && !fifo() ? uint32_t(options.delay_seconds)
                                                                 : cfg.delay_s.load(std::memory_order_relaxed);
  in->body = body;
  in->attributes = attributes;
  in->system = system;
  in->attributes_size = attributes || !system.empty() ? shm::encoded_attributes_size(attributes, system) : 0;
  in->delay_ms = delay_s * 1000;
  in->sender_uid = impl_->sender_uid;
  return Status::OK();
}

Result<SendResult> Queue::send_deferred(std::string_view body, const SendOptions& options,
                                        uint64_t* durable_wait) {
  const shm::SegmentView& v = impl_->view;
  shm::SendInput in;
  std::string content_dedup;
  std::string_view dedup_id;
  if (Status s = prepare_send(body, options, &in, &content_dedup, &dedup_id); !s.ok()) return s;
  in.durable_wait = durable_wait;
  shm::Lane* lane = impl_->lane();
  if (!lane) return no_lane();
  SendResult r;
  if (fifo()) {
    shm::FifoSendOutput out;
    if (Status s = shm::fifo_send(v, *lane, in, options.message_group_id, dedup_id, &out); !s.ok())
      return s;
    r.message_id = message_id_of(v.header->secret, out.slot, out.incarnation);
    r.sequence_number = out.sequence_number;
    return r;
  }
  shm::SendOutput out;
  if (Status s = shm::send_message(v, *lane, in, &out); !s.ok()) return s;
  r.message_id = message_id_of(v.header->secret, out.slot, out.incarnation);
  return r;
}

namespace {
// The batch rules on the entries' ids (shm::validate_batch_ids), read in
// place: no copy of the ids on the data path.
template <class Entry>
Status check_batch_ids(const std::vector<Entry>& entries) {
  if (entries.size() > size_t(shm::kMaxBatchEntries)) {  // the error names the count
    const std::vector<std::string_view> all(entries.size());
    return shm::validate_batch_ids(std::span<const std::string_view>(all));
  }
  std::string_view ids[shm::kMaxBatchEntries];
  for (size_t i = 0; i < entries.size(); ++i) ids[i] = entries[i].id;
  return shm::validate_batch_ids(std::span<const std::string_view>(ids, entries.size()));
}

void add_failure(SendBatchResult* result, const SendBatchEntry& e, Status s, bool fifo) {
  if (s.code() == "MissingParameter" && fifo && e.message_group_id.empty())  // SQS, in a batch
    s = Status("InvalidParameterValue", s.message());
  result->failed.push_back({e.id, s.code() != "InternalError" && s.code() != "OverLimit", s.code(),
                            s.message()});
}
}  // namespace

Result<SendBatchResult> Queue::send_batch(const std::vector<SendBatchEntry>& entries) {
  if (Status s = check_batch_ids(entries); !s.ok()) return s;
  size_t total = 0;
  for (const auto& e : entries) total += e.body.size() + shm::message_attributes_size(e.attributes);
  if (total > size_t(shm::kMaxMaximumMessageSize))
    return Status("BatchRequestTooLong", "Batch requests cannot be longer than 1048576 bytes. You have sent " +
                                             std::to_string(total) + " bytes.");
  SendBatchResult result;
  result.successful.reserve(entries.size());
  uint64_t durable_wait = 0;  // sync queues: one group-commit wait for the whole batch
  const bool is_fifo = fifo();
  if (is_fifo) {
    // FIFO queues: one batched step too (fifo.h: fifo_send_messages), which
    // appends the entries of a group under one hold of its lock, in order.
    shm::FifoSendEntry in[shm::kMaxBatchEntries];
    std::string content_dedup[shm::kMaxBatchEntries];
    uint32_t index[shm::kMaxBatchEntries];
    size_t n = 0;
    for (size_t i = 0; i < entries.size() && i < size_t(shm::kMaxBatchEntries); ++i) {
      const SendBatchEntry& e = entries[i];
      if (Status s = prepare_send(e.body, options_of(e), &in[n].in, &content_dedup[n], &in[n].dedup_id);
          !s.ok()) {
        add_failure(&result, e, s, true);
        continue;
      }
      in[n].group_id = e.message_group_id;
      in[n].in.durable_wait = &durable_wait;
      index[n++] = uint32_t(i);
    }
    if (n > 0) {
      shm::Lane* lane = impl_->lane();
      if (!lane) return no_lane();
      const shm::SegmentView& v = impl_->view;
      shm::FifoSendOutput out[shm::kMaxBatchEntries];
      Status st[shm::kMaxBatchEntries];
      shm::fifo_send_messages(v, *lane, in, n, out, st);
      for (size_t k = 0; k < n; ++k) {
        const SendBatchEntry& e = entries[index[k]];
        if (st[k].ok())
          result.successful.push_back({e.id, index[k], message_id_of(v.header->secret, out[k].slot, out[k].incarnation),
                                       out[k].sequence_number});
        else
          add_failure(&result, e, st[k], true);
      }
    }
  } else {
    // Standard queues: one batched step in shared memory for every entry
    // that passed its checks (queue_batch.h).
    shm::SendInput in[shm::kMaxBatchEntries];
    uint32_t index[shm::kMaxBatchEntries];
    size_t n = 0;
    for (size_t i = 0; i < entries.size(); ++i) {
      const SendBatchEntry& e = entries[i];
      std::string content_dedup;
      std::string_view dedup_id;
      if (Status s = prepare_send(e.body, options_of(e), &in[n], &content_dedup, &dedup_id); !s.ok()) {
        add_failure(&result, e, s, false);
        continue;
      }
      in[n].durable_wait = &durable_wait;
      index[n++] = uint32_t(i);
    }
    if (n > 0) {
      shm::Lane* lane = impl_->lane();
      if (!lane) return no_lane();
      const shm::SegmentView& v = impl_->view;
      shm::SendOutput out[shm::kMaxBatchEntries];
      Status st[shm::kMaxBatchEntries];
      shm::send_messages(v, *lane, in, n, out, st);
      for (size_t k = 0; k < n; ++k) {
        const SendBatchEntry& e = entries[index[k]];
        if (st[k].ok())
          result.successful.push_back(
              {e.id, index[k], message_id_of(v.header->secret, out[k].slot, out[k].incarnation), 0});
        else
          add_failure(&result, e, st[k], false);
      }
    }
  }
  // A sync queue's sends raised durable_wait: wait once, as the lane the
  // sends used (cached per thread).
  shm::Lane* lane = durable_wait ? impl_->lane() : nullptr;
  if (Status s = lane ? shm::journal_wait_durable(impl_->view, *lane, durable_wait) : Status::OK(); !s.ok()) {
    // Sent but not known to be on disk: not acknowledged, like a single
    // sync send that fails its wait (the messages may still be delivered).
    for (const auto& e : result.successful) result.failed.push_back({e.id, false, s.code(), s.message()});
    result.successful.clear();
  }
  return result;
}

Result<size_t> Queue::receive(std::span<Message> out, const ReceiveOptions& options) {
  const shm::SegmentView& v = impl_->view;
  shm::Header* h = v.header;
  const shm::QueueConfig& cfg = h->config;
  if (cfg.deleted.load(std::memory_order_relaxed)) return queue_gone();
  if (options.max_messages < 1 || options.max_messages > shm::kMaxBatchEntries)
    return Status("InvalidParameterValue",
                  "Value " + std::to_string(options.max_messages) +
                      " for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 "
                      "and 10, if provided.");
  if (options.wait_time_seconds < -1 || options.wait_time_seconds > shm::kMaxWaitTimeSeconds)
    return Status("InvalidParameterValue",
                  "Value " + std::to_string(options.wait_time_seconds) +
                      " for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, "
                      "if provided.");
  if (options.visibility_timeout < -1 || options.visibility_timeout > shm::kMaxVisibilityTimeout)
    return Status("InvalidParameterValue",
                  "Value " + std::to_string(options.visibility_timeout) +
                      " for parameter VisibilityTimeout is invalid. Reason: Must be >= 0 and <= "
                      "43200, if provided.");
  shm::Lane* lane = impl_->lane();
  if (!lane) return no_lane();
  const size_t max = std::min(out.size(), size_t(options.max_messages));
  const uint64_t vt_ms = uint64_t(options.visibility_timeout >= 0
                                      ? uint32_t(options.visibility_timeout)
                                      : cfg.visibility_timeout_s.load(std::memory_order_relaxed)) *
                         1000;
  const uint64_t wait_ms = uint64_t(options.wait_time_seconds >= 0
                                        ? uint32_t(options.wait_time_seconds)
                                        : cfg.receive_wait_s.load(std::memory_order_relaxed)) *
                           1000;
  shm::Delivery d[shm::kMaxBatchEntries];
  const bool is_fifo = fifo();
  auto take = [&] {
    return is_fifo ? shm::fifo_receive(v, *lane, vt_ms, max, d)
                   : shm::receive_messages(v, *lane, vt_ms, max, d);
  };
  // A retried FIFO receive (same ReceiveRequestAttemptId within 5 minutes)
  // returns the messages the first one leased, while their leases hold.
  const std::string_view attempt = is_fifo ? options.receive_request_attempt_id : std::string_view();
  if (!attempt.empty()) {
    if (Status s = shm::validate_token(attempt, "ReceiveRequestAttemptId"); !s.ok()) return s;
  }
  size_t n = 0;
  bool replayed = false;
  if (!attempt.empty()) {
    std::lock_guard<std::mutex> lock(impl_->attempts_mu);
    const uint64_t now = shm::queue_clock_ms(h);
    std::erase_if(impl_->attempts, [&](const auto& a) { return a.second.at_ms + shm::kDedupWindowMs <= now; });
    if (auto it = impl_->attempts.find(attempt); it != impl_->attempts.end()) {
      for (const ReceiptHandle& rh : it->second.handles)
        if (n < max && shm::fifo_peek(v, {rh.slot, rh.gen, rh.seq}, &d[n])) ++n;
      replayed = n > 0;
    }
  }
  if (!replayed) n = take();
  if (n == 0 && wait_ms > 0 && !replayed) {
    // Spin briefly (a message may be microseconds away), then sleep on the
    // futex; a sender wakes us only when a sleeping bit says someone sleeps and
    // no receiver spins.
    n = shm::spin_before_sleep(v, *lane, 2000, take);
    const uint32_t me = shm::lane_index(v, *lane);
    // The wait is real time (a precise clock: the coarse queue clock could
    // end it a tick early).
    using Clock = std::chrono::steady_clock;
    const Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(wait_ms);
    while (n == 0) {
      const uint32_t seen = h->ready_futex.load(std::memory_order_acquire);
      shm::set_lane_bit(h->sleeping, me);
      n = take();
      const Clock::time_point now = Clock::now();
      if (n == 0 && now < deadline && !cfg.deleted.load(std::memory_order_relaxed)) {
        uint64_t left_us = uint64_t(std::chrono::duration_cast<std::chrono::microseconds>(deadline - now).count());
        shm::futex_wait_us(&h->ready_futex, seen, std::min<uint64_t>(left_us, 100000));
      }
      shm::clear_lane_bit(h->sleeping, me);
      if (n == 0) n = take();
      if (n == 0 && (Clock::now() >= deadline || cfg.deleted.load(std::memory_order_relaxed))) break;
    }
  }
  if (!replayed) shm::journal_after_receive(v, *lane, d, n);  // redeliveries' counts
  const uint64_t secret = h->secret;
  const uint32_t quid = h->queue_uid;
  for (size_t i = 0; i < n; ++i) {
    Message& m = out[i];
    m.message_id = message_id_of(secret, d[i].slot, d[i].incarnation);
    m.receipt_handle = ReceiptHandle{
        quid, d[i].slot, d[i].gen,
        uint32_t(check_of(secret, quid, d[i].slot, d[i].gen, d[i].incarnation)), d[i].incarnation};
    m.body = std::string_view(d[i].body, d[i].body_len);
    m.raw_attributes = std::string_view(d[i].attributes, d[i].attributes_len);
    m.receive_count = d[i].receive_count;
    m.sent_timestamp_ms = d[i].sent_epoch_ms;
    m.first_receive_timestamp_ms = d[i].first_receive_epoch_ms;
    m.sender_uid = d[i].sender_uid;
    m.message_group_id = std::string_view(d[i].group_id ? d[i].group_id : "", d[i].group_len);
    m.message_deduplication_id = std::string_view(d[i].dedup_id ? d[i].dedup_id : "", d[i].dedup_len);
    m.sequence_number = d[i].sequence_number;
    if (d[i].attributes_len) {  // messages without attributes skip the walk
      const shm::SystemAttributes sys = shm::system_attributes_of(m.raw_attributes);
      m.aws_trace_header = sys.trace_header;
      m.dead_letter_queue_source_arn = sys.dead_letter_source_arn;
    } else {
      m.aws_trace_header = m.dead_letter_queue_source_arn = {};
    }
  }
  if (!attempt.empty() && !replayed && n > 0) {
    std::lock_guard<std::mutex> lock(impl_->attempts_mu);
    auto& a = impl_->attempts[std::string(attempt)];
    a.at_ms = shm::queue_clock_ms(h);
    a.handles.clear();
    for (size_t i = 0; i < n; ++i) a.handles.push_back(out[i].receipt_handle);
  }
  return n;
}

Result<std::vector<Message>> Queue::receive(const ReceiveOptions& options) {
  std::vector<Message> out(shm::kMaxBatchEntries);
  auto n = receive(std::span<Message>(out), options);
  if (!n.ok()) return n.status();
  out.resize(n.value());
  return out;
}

Result<ReceiptHandle> Queue::parse_receipt_handle(std::string_view text) const {
  auto invalid = [&] {
    std::string shown(text.substr(0, 200));
    return Status("ReceiptHandleIsInvalid",
                  "The input receipt handle \"" + shown + "\" is not a valid receipt handle.");
  };
  if (text.size() != 48) return invalid();
  uint64_t quid, slot, gen, seq, check;
  if (!parse_hex(text.substr(0, 8), &quid) || !parse_hex(text.substr(8, 8), &slot) ||
      !parse_hex(text.substr(16, 8), &gen) || !parse_hex(text.substr(24, 16), &seq) ||
      !parse_hex(text.substr(40, 8), &check))
    return invalid();
  const shm::Header* h = impl_->view.header;
  if (quid != h->queue_uid || slot >= h->total_slots ||
      uint32_t(check_of(h->secret, uint32_t(quid), uint32_t(slot), uint32_t(gen), seq)) != check)
    return invalid();
  return ReceiptHandle{uint32_t(quid), uint32_t(slot), uint32_t(gen), uint32_t(check), seq};
}

Status Queue::remove(const ReceiptHandle& handle) {
  const shm::SegmentView& v = impl_->view;
  if (v.header->config.deleted.load(std::memory_order_relaxed)) return queue_gone();
  if (Status s = check_handle(v.header, handle); !s.ok()) return s;
  shm::Lane* lane = impl_->lane();
  if (!lane) return no_lane();
  if (fifo()) return shm::fifo_delete(v, *lane, {handle.slot, handle.gen, handle.seq});
  return shm::delete_message(v, *lane, {handle.slot, handle.gen, handle.seq});
}

Status Queue::remove(std::string_view receipt_handle) {
  auto h = parse_receipt_handle(receipt_handle);
  if (!h.ok()) return h.status();
  return remove(h.value());
}

Status Queue::change_visibility(const ReceiptHandle& handle, int visibility_timeout) {
  const shm::SegmentView& v = impl_->view;
  if (v.header->config.deleted.load(std::memory_order_relaxed)) return queue_gone();
  if (visibility_timeout < 0 || visibility_timeout > shm::kMaxVisibilityTimeout)
    return Status("InvalidParameterValue",
                  "Value " + std::to_string(visibility_timeout) +
                      " for parameter VisibilityTimeout is invalid. Reason: Must be >= 0 and <= "
                      "43200.");
  if (Status s = check_handle(v.header, handle); !s.ok()) return s;
  shm::Lane* lane = impl_->lane();
  if (!lane) return no_lane();
  if (fifo())
    return shm::fifo_change_visibility(v, *lane, {handle.slot, handle.gen, handle.seq},
                                       uint64_t(visibility_timeout) * 1000);
  return shm::change_visibility(v, *lane, {handle.slot, handle.gen, handle.seq},
                                uint64_t(visibility_timeout) * 1000);
}

Status Queue::change_visibility(std::string_view receipt_handle, int visibility_timeout) {
  auto h = parse_receipt_handle(receipt_handle);
  if (!h.ok()) return h.status();
  return change_visibility(h.value(), visibility_timeout);
}

namespace {
template <class Op>
Result<BatchResult> for_each_handle(const std::vector<BatchHandleEntry>& entries, Op op) {
  if (Status s = check_batch_ids(entries); !s.ok()) return s;
  BatchResult r;
  for (const auto& e : entries) {
    Status s = op(e);
    if (s.ok())
      r.successful.push_back(e.id);
    else
      r.failed.push_back({e.id, true, s.code(), s.message()});
  }
  return r;
}
}  // namespace

Result<BatchResult> Queue::remove_batch(const std::vector<BatchHandleEntry>& entries) {
  if (Status s = check_batch_ids(entries); !s.ok()) return s;
  // Parse every handle, then remove the valid ones in one batched step.
  ReceiptHandle handles[shm::kMaxBatchEntries];
  Status st[shm::kMaxBatchEntries];
  uint32_t index[shm::kMaxBatchEntries];
  size_t n = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    auto h = parse_receipt_handle(entries[i].receipt_handle);
    if (h.ok()) {
      handles[n] = h.value();
      index[n++] = uint32_t(i);
    } else {
      st[i] = h.status();
    }
  }
  Status parsed_st[shm::kMaxBatchEntries];
  if (n > 0) {
    auto r = remove_batch(std::span<const ReceiptHandle>(handles, n), std::span<Status>(parsed_st, n));
    if (!r.ok()) return r.status();
  }
  for (size_t k = 0; k < n; ++k) st[index[k]] = parsed_st[k];
  BatchResult r;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (st[i].ok())
      r.successful.push_back(entries[i].id);
    else
      r.failed.push_back({entries[i].id, true, st[i].code(), st[i].message()});
  }
  return r;
}

Result<size_t> Queue::remove_batch(std::span<const ReceiptHandle> handles, std::span<Status> statuses) {
  const shm::SegmentView& v = impl_->view;
  if (v.header->config.deleted.load(std::memory_order_relaxed)) return queue_gone();
  if (handles.empty()) return Status("EmptyBatchRequest", "There should be at least one entry in the request.");
  if (handles.size() > size_t(shm::kMaxBatchEntries))
    return Status("TooManyEntriesInBatchRequest",
                  "Maximum number of entries per request are " + std::to_string(shm::kMaxBatchEntries) +
                      ". You have sent " + std::to_string(handles.size()) + ".");
  if (!statuses.empty() && statuses.size() != handles.size())
    return Status("InvalidParameterValue", "remove_batch: one status per handle");
  shm::Lane* lane = impl_->lane();
  if (!lane) return no_lane();
  Status st[shm::kMaxBatchEntries];
  shm::HandleRef refs[shm::kMaxBatchEntries];
  uint32_t index[shm::kMaxBatchEntries];
  size_t n = 0;
  for (size_t i = 0; i < handles.size(); ++i) {
    const ReceiptHandle& h = handles[i];
    st[i] = check_handle(v.header, h);
    if (!st[i].ok()) continue;
    refs[n] = {h.slot, h.gen, h.seq};
    index[n++] = uint32_t(i);
  }
  if (n > 0) {
    Status batch_st[shm::kMaxBatchEntries];
    if (fifo())
      shm::fifo_delete_messages(v, *lane, refs, n, batch_st);
    else
      shm::delete_messages(v, *lane, refs, n, batch_st);
    for (size_t k = 0; k < n; ++k) st[index[k]] = std::move(batch_st[k]);
  }
  size_t removed = 0;
  for (size_t i = 0; i < handles.size(); ++i) {
    removed += st[i].ok() ? 1 : 0;
    if (!statuses.empty()) statuses[i] = std::move(st[i]);
  }
  return removed;
}

Result<BatchResult> Queue::change_visibility_batch(const std::vector<BatchHandleEntry>& entries) {
  return for_each_handle(entries, [&](const BatchHandleEntry& e) {
    return change_visibility(e.receipt_handle, e.visibility_timeout);
  });
}

Result<QueueAttributes> Queue::get_attributes(const std::vector<std::string>& names) {
  auto c = impl_->client.lock();
  if (!c) return Status("ServiceUnavailable", "the client that opened this queue is gone");
  auto r = c->call({{"op", "get_queue_attributes"}, {"name", name_}, {"names", names}});
  if (!r.ok()) return r.status();
  return r->value("attributes", QueueAttributes{});
}

Status Queue::set_attributes(const QueueAttributes& attributes) {
  auto c = impl_->client.lock();
  if (!c) return Status("ServiceUnavailable", "the client that opened this queue is gone");
  return c->call({{"op", "set_queue_attributes"}, {"name", name_}, {"attributes", attributes}})
      .status();
}

Status Queue::purge() {
  auto c = impl_->client.lock();
  if (!c) return Status("ServiceUnavailable", "the client that opened this queue is gone");
  return c->call({{"op", "purge_queue"}, {"name", name_}}).status();
}

}  // namespace shmq
