// Message move tasks (StartMessageMoveTask / CancelMessageMoveTask /
// ListMessageMoveTasks): redrive what sits in a dead-letter queue back to
// the queues it came from, or to a destination queue, at a bounded rate.
//
// They run inside the broker, on the conductor's tick, through the broker's
// own lane of each segment: lease a few messages of the DLQ, send copies to
// the destination, delete the originals. A crash between the send and the
// delete leaves a duplicate (at-least-once), never a loss. Tasks live in
// memory: a broker restart forgets them (a RUNNING task simply stops, the
// messages not yet moved stay in the DLQ).
//
// "Back to its source": the broker remembers, for each message its timer
// moved into a DLQ, which queue it came from (note_origin). A message whose
// origin is unknown (moved before a broker restart) goes to the DLQ's only
// source queue; when the DLQ has several sources the task fails and asks for
// a DestinationArn.
//
// FIFO queues: a group's messages are moved in order, keep their group id and
// are not deduplicated again (as the broker's dead-letter moves).
//
// Thread safety: broker conductor thread only.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "broker/registry.h"
#include "shmq/status.h"

namespace shmq::broker {

struct MoveTask {
  std::string handle;
  std::string status;  // RUNNING, COMPLETED, CANCELLED, FAILED
  std::string source;  // queue names
  std::string destination;  // "" = each message's source
  int max_per_second = 0;   // 0 = as fast as the tick allows
  uint64_t moved = 0;
  uint64_t to_move = 0;
  std::string failure_reason;
  uint64_t started_ms = 0;  // epoch ms
  double budget = 0;        // messages this task may still move before the next tick
  uint64_t last_ms = 0;     // queue clock of the last step

  nlohmann::json to_json() const;
};

class MoveTasks {
 public:
  // Records that the message now in (dlq, slot) with this incarnation came
  // from queue source_uid.
  void note_origin(uint32_t dlq_uid, uint32_t slot, uint64_t incarnation, uint32_t source_uid);

  Result<std::string> start(Registry& registry, const std::string& source,
                            const std::string& destination, int max_per_second);
  Result<uint64_t> cancel(const std::string& handle);
  // Most recent first, at most max_results.
  Result<std::vector<MoveTask>> list(Registry& registry, const std::string& source,
                                     int max_results) const;

  // Moves what the rate allows. Called on every tick.
  void step(Registry& registry);

 private:
  void step_one(Registry& registry, MoveTask& t);

  std::map<std::string, std::deque<MoveTask>> tasks_;  // by source name, most recent first
  std::map<std::pair<uint32_t, uint32_t>, std::pair<uint64_t, uint32_t>> origins_;  // (dlq, slot) -> (incarnation, source)
  uint64_t next_id_ = 1;
};

}  // namespace shmq::broker
