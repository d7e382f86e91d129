// The broker's queue registry: which queues exist, their attributes, owners
// and grants (persisted in <data-dir>/registry.json), and the shared-memory
// segment of each (Boost.Interprocess objects named after the instance, so a
// restarted broker re-attaches to them and several brokers can run side by
// side).
//
// Thread safety: broker conductor thread only.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/shared_memory_object.hpp>

#include "shm/segment.h"
#include "shmq/client.h"
#include "shmq/status.h"

namespace shmq::broker {

inline constexpr const char* kAccountId = "000000000000";
inline constexpr const char* kRegion = "local";

// Names the broker's shared-memory objects after its socket's absolute
// path, so brokers on different sockets never share a segment.
std::string instance_tag(const std::string& socket_path);
// The shared-memory object (under /dev/shm) of one queue.
std::string segment_object_name(const std::string& tag, uint32_t queue_uid);

struct Grant {
  std::string label;
  std::string principal;  // "uid:N" or "gid:N"
  std::vector<std::string> actions;  // "send", "receive", "admin"
};

struct QueueRecord {
  std::string name;
  uint32_t uid = 0;
  bool fifo = false;
  uint32_t owner_uid = 0;
  uint32_t owner_gid = 0;
  QueueAttributes attributes;  // as set by the user, validated
  std::vector<Grant> grants;
  std::map<std::string, std::string> tags;  // TagQueue / CreateQueue tags
  uint64_t created_s = 0;
  uint64_t modified_s = 0;
  uint64_t last_purge_ms = 0;

  std::unique_ptr<boost::interprocess::shared_memory_object> object;
  std::unique_ptr<boost::interprocess::mapped_region> region;
  shm::SegmentView view;
  // The broker's idle check: what the last scan saw.
  uint64_t scanned_fingerprint = 0;
  uint64_t next_deadline_ms = 0;  // 0: scan at the next tick
  uint32_t ticks_since_maintain = 0;  // FIFO: ticks since fifo_maintain
  uint64_t maintained_fingerprint = 0;  // FIFO: activity at the last fifo_maintain

  int fd() const { return int(object->get_mapping_handle().handle); }
  std::string url() const;
  std::string arn() const;
  // The queue's settings as GetQueueAttributes shows them: what was set,
  // else SQS's default (SQS.md), without the counts and timestamps. A
  // CreateQueue naming an existing queue compares against these.
  QueueAttributes effective_attributes() const;
};

class Registry {
 public:
  Registry(std::string data_dir, std::string instance_tag, shm::Geometry geometry);

  // Reads registry.json and attaches (or, after a reboot, recreates) every
  // queue's segment. Returns the names of recreated queues in *recreated.
  Status load(std::vector<std::string>* recreated);

  Result<QueueRecord*> create(const std::string& name, const QueueAttributes& attributes,
                              uint32_t owner_uid, uint32_t owner_gid, int64_t clock_skew_ms);
  QueueRecord* find(const std::string& name);
  QueueRecord* find_uid(uint32_t uid);
  // Unlinks the segment; clients that still map it see config.deleted.
  void remove(const std::string& name);
  // Validates and applies attributes (CreateQueue with an existing name
  // compares instead: see create()).
  Status set_attributes(QueueRecord* q, const QueueAttributes& attributes);
  Status save();

  std::map<std::string, std::unique_ptr<QueueRecord>>& queues() { return queues_; }

 private:
  std::string segment_name(uint32_t uid) const;
  Status map_segment(QueueRecord* q, bool create);
  Status apply_config(QueueRecord* q, const QueueAttributes& merged);

  std::string data_dir_;
  std::string instance_tag_;
  shm::Geometry geometry_;
  uint32_t next_uid_ = 1;
  std::map<std::string, std::unique_ptr<QueueRecord>> queues_;
};

}  // namespace shmq::broker
