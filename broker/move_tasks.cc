#include "broker/move_tasks.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>

#include <spdlog/spdlog.h>

#include "shm/fifo.h"
#include "shm/queue_ops.h"
#include "shm/validation.h"

namespace shmq::broker {

using nlohmann::json;

namespace {

uint64_t steady_ms() {
  return uint64_t(std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now().time_since_epoch()).count());
}
uint64_t epoch_ms() {
  return uint64_t(std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch()).count());
}

constexpr uint64_t kMoveLeaseMs = 60000;   // long enough to copy; short if the broker dies mid-move
constexpr double kUnlimitedPerTick = 500;  // "system-optimised" rate: at most this per tick

std::vector<QueueRecord*> sources_of(Registry& registry, const QueueRecord& dlq) {
  std::vector<QueueRecord*> out;
  for (auto& [name, q] : registry.queues())
    if (q.get() != &dlq && q->view.header->config.dlq_uid.load() == dlq.uid) out.push_back(q.get());
  return out;
}

Status not_found(const std::string& what) {
  return Status("ResourceNotFoundException", what + " does not exist.");
}

}  // namespace

json MoveTask::to_json() const {
  json j{{"status", status},
         {"source", source},
         {"destination", destination},
         {"max_per_second", max_per_second},
         {"moved", moved},
         {"to_move", to_move},
         {"started_ms", started_ms}};
  if (status == "RUNNING") j["handle"] = handle;
  if (!failure_reason.empty()) j["failure_reason"] = failure_reason;
  return j;
}

void MoveTasks::note_origin(uint32_t dlq_uid, uint32_t slot, uint64_t incarnation, uint32_t source_uid) {
  origins_[std::make_pair(dlq_uid, slot)] = {incarnation, source_uid};
}

Result<std::string> MoveTasks::start(Registry& registry, const std::string& source,
                                     const std::string& destination, int max_per_second) {
  QueueRecord* src = registry.find(source);
  if (!src) return not_found("The resource that you specified for the SourceArn parameter");
  if (sources_of(registry, *src).empty())
    return Status("InvalidParameterValue", "Source queue must be configured as a Dead Letter Queue.");
  if (!destination.empty()) {
    QueueRecord* dst = registry.find(destination);
    if (!dst) return not_found("The resource that you specified for the DestinationArn parameter");
    if (dst == src || dst->fifo != src->fifo)
      return Status("InvalidParameterValue",
                    "Destination queue must be a different queue of the same type as the source.");
  }
  if (max_per_second < 0 || max_per_second > 500)
    return Status("InvalidParameterValue",
                  "Value " + std::to_string(max_per_second) +
                      " for parameter MaxNumberOfMessagesPerSecond is invalid. Reason: Must be between 1 and 500.");
  auto& list = tasks_[source];
  for (const auto& t : list)
    if (t.status == "RUNNING")
      return Status("InvalidParameterValue",
                    "There is already a task running. Only one active task is allowed for a source queue "
                    "arn at a given time.");
  static std::mt19937_64 rng(std::random_device{}());
  char handle[40];
  std::snprintf(handle, sizeof(handle), "%016llx%08llx", static_cast<unsigned long long>(rng()),
                static_cast<unsigned long long>(next_id_++));
  MoveTask t;
  t.handle = handle;
  t.status = "RUNNING";
  t.source = source;
  t.destination = destination;
  t.max_per_second = max_per_second;
  t.to_move = src->view.header->counters.approx_visible.load();
  t.started_ms = epoch_ms();
  t.last_ms = steady_ms();
  list.push_front(std::move(t));
  while (list.size() > 10) list.pop_back();
  spdlog::info("message move task {} started: {} -> {}", handle, source,
               destination.empty() ? "each message's source" : destination);
  return std::string(handle);
}

Result<uint64_t> MoveTasks::cancel(const std::string& handle) {
  for (auto& [source, list] : tasks_)
    for (auto& t : list)
      if (t.handle == handle) {
        if (t.status != "RUNNING")
          return Status("InvalidParameterValue", "Only active tasks can be cancelled.");
        t.status = "CANCELLED";
        return t.moved;
      }
  return not_found("Task " + handle);
}

Result<std::vector<MoveTask>> MoveTasks::list(Registry& registry, const std::string& source,
                                              int max_results) const {
  if (!registry.find(source)) return not_found("The resource that you specified for the SourceArn parameter");
  if (max_results < 1 || max_results > 10)
    return Status("InvalidParameterValue",
                  "Value " + std::to_string(max_results) +
                      " for parameter MaxResults is invalid. Reason: You must enter a number that's between 1 and 10.");
  std::vector<MoveTask> out;
  if (auto it = tasks_.find(source); it != tasks_.end())
    for (const auto& t : it->second) {
      if (int(out.size()) == max_results) break;
      out.push_back(t);
    }
  return out;
}

void MoveTasks::step(Registry& registry) {
  for (auto& [source, list] : tasks_)
    for (auto& t : list)
      if (t.status == "RUNNING") step_one(registry, t);
}

void MoveTasks::step_one(Registry& registry, MoveTask& t) {
  auto fail = [&](const std::string& reason) {
    t.status = "FAILED";
    t.failure_reason = reason;
    spdlog::warn("message move task {} failed: {}", t.handle, reason);
  };
  QueueRecord* src = registry.find(t.source);
  if (!src) return fail("AWS.SimpleQueueService.NonExistentQueue");
  const uint64_t now = steady_ms();
  if (t.max_per_second > 0) {
    t.budget = std::min<double>(t.budget + double(now - t.last_ms) * t.max_per_second / 1000.0,
                                std::max(1, t.max_per_second / 10));
  } else {
    t.budget = kUnlimitedPerTick;
  }
  t.last_ms = now;
  const shm::SegmentView& sv = src->view;
  shm::Lane& slane = sv.lanes[shm::kBrokerLane];
  const bool fifo = src->fifo;  // the destination is of the same type (start())
  auto release = [&](const shm::HandleRef& h) {
    if (fifo) shm::fifo_change_visibility(sv, slane, h, 0);
    else shm::change_visibility(sv, slane, h, 0);
  };
  while (t.budget >= 1) {
    shm::Delivery d[shm::kMaxBatchEntries];
    const size_t want = std::min<size_t>(shm::kMaxBatchEntries, size_t(t.budget));
    // FIFO: a group's head run at a time, so each group keeps its order.
    const size_t got = fifo ? shm::fifo_receive(sv, slane, kMoveLeaseMs, want, d)
                            : shm::receive_messages(sv, slane, kMoveLeaseMs, want, d);
    if (got == 0) {
      t.status = "COMPLETED";
      spdlog::info("message move task {} completed: {} message(s) moved", t.handle, t.moved);
      return;
    }
    for (size_t i = 0; i < got; ++i) {
      const shm::HandleRef ref{d[i].slot, d[i].gen, d[i].incarnation};
      auto put_back = [&] {
        for (size_t j = i; j < got; ++j)
          release(shm::HandleRef{d[j].slot, d[j].gen, d[j].incarnation});
      };
      QueueRecord* dst = nullptr;
      if (!t.destination.empty()) {
        dst = registry.find(t.destination);
      } else if (auto o = origins_.find(std::make_pair(src->uid, d[i].slot));
                 o != origins_.end() && o->second.first == d[i].incarnation) {
        dst = registry.find_uid(o->second.second);
      } else {
        auto sources = sources_of(registry, *src);
        if (sources.size() > 1) {
          put_back();
          return fail("The dead-letter queue has several source queues and this message's is unknown "
                      "(moved before a broker restart): give a DestinationArn");
        }
        if (!sources.empty()) dst = sources[0];
      }
      if (!dst) {
        put_back();
        return fail("AWS.SimpleQueueService.NonExistentQueue");
      }
      // SQS's size: the body and the message attributes' names, types and
      // values (not the encoding, nor DeadLetterQueueSourceArn or a trace header).
      if (uint64_t(d[i].body_len) +
              shm::counted_attributes_size(std::string_view(d[i].attributes, d[i].attributes_len)) >
          dst->view.header->config.max_message_size.load()) {
        put_back();
        return fail("A message is larger than the destination's MaximumMessageSize");
      }
      shm::SendInput in;
      in.body = std::string_view(d[i].body, d[i].body_len);
      in.raw_attributes = d[i].attributes;
      in.attributes_size = d[i].attributes_len;
      in.sender_uid = d[i].sender_uid;
      shm::Lane& dlane = dst->view.lanes[shm::kBrokerLane];
      const Status sent =
          fifo ? shm::fifo_send(dst->view, dlane, in, std::string_view(d[i].group_id, d[i].group_len), {}, nullptr)
               : shm::send_message(dst->view, dlane, in, nullptr);
      if (!sent.ok()) {
        put_back();  // the destination is full: try again next tick
        return;
      }
      if (fifo) shm::fifo_delete(sv, slane, ref);
      else shm::delete_message(sv, slane, ref);
      origins_.erase(std::make_pair(src->uid, d[i].slot));
      ++t.moved;
      t.budget -= 1;
    }
  }
}

}  // namespace shmq::broker
