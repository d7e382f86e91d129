#include "broker/registry.h"

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <filesystem>
#include <random>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "broker/journal_recovery.h"
#include "shm/validation.h"

namespace shmq::broker {

namespace bip = boost::interprocess;
using nlohmann::json;

namespace {

uint64_t now_s() {
  return uint64_t(std::chrono::duration_cast<std::chrono::seconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count());
}

uint32_t attr_u32(const QueueAttributes& a, const char* name, uint32_t dflt) {
  auto it = a.find(name);
  return it == a.end() ? dflt : uint32_t(std::stoul(it->second));
}

}  // namespace

std::string instance_tag(const std::string& socket_path) {
  std::error_code ec;
  std::string abs = std::filesystem::absolute(socket_path, ec).lexically_normal().string();
  uint64_t h = 1469598103934665603ULL;  // FNV-1a
  for (unsigned char c : abs) h = (h ^ c) * 1099511628211ULL;
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

std::string segment_object_name(const std::string& tag, uint32_t queue_uid) {
  return "shmq-" + tag + "-" + std::to_string(queue_uid);
}

std::string QueueRecord::url() const {
  return std::string("shmq://localhost/") + kAccountId + "/" + name;
}
std::string QueueRecord::arn() const {
  return std::string("arn:aws:sqs:") + kRegion + ":" + kAccountId + ":" + name;
}

Registry::Registry(std::string data_dir, std::string instance_tag, shm::Geometry geometry)
    : data_dir_(std::move(data_dir)), instance_tag_(std::move(instance_tag)), geometry_(geometry) {}

std::string Registry::segment_name(uint32_t uid) const {
  return segment_object_name(instance_tag_, uid);
}

Status Registry::map_segment(QueueRecord* q, bool create) {
  const std::string name = segment_name(q->uid);
  const size_t size = shm::segment_size(geometry_, q->fifo);
  try {
    if (create) {
      bip::shared_memory_object::remove(name.c_str());
      bip::permissions perm(0600);
      q->object = std::make_unique<bip::shared_memory_object>(bip::create_only, name.c_str(),
                                                              bip::read_write, perm);
      q->object->truncate(bip::offset_t(size));
    } else {
      q->object = std::make_unique<bip::shared_memory_object>(bip::open_only, name.c_str(), bip::read_write);
    }
    q->region = std::make_unique<bip::mapped_region>(*q->object, bip::read_write);
    shm::advise_huge_pages(q->region->get_address(), q->region->get_size());  // before format's first touch
  } catch (const bip::interprocess_exception& e) {
    q->object.reset();
    q->region.reset();
    return Status("InternalError", "segment " + name + ": " + e.what());
  }
  if (create) {
    std::random_device rd;
    uint64_t secret = (uint64_t(rd()) << 32) ^ rd();
    q->view = shm::format_segment(q->region->get_address(), q->region->get_size(), geometry_, q->uid,
                                  q->fifo, secret);
    q->view.lanes[shm::kBrokerLane].owner.store(shm::kBrokerClientId);
    q->view.header->created_epoch_s.store(q->created_s);
    return Status::OK();
  }
  auto v = shm::attach_segment(q->region->get_address(), q->region->get_size());
  if (!v.ok()) {
    q->region.reset();
    q->object.reset();
    return v.status();
  }
  q->view = v.value();
  if (q->view.header->queue_uid != q->uid || bool(q->view.header->fifo) != q->fifo) {
    q->region.reset();
    q->object.reset();
    return Status("InternalError", "segment " + name + " belongs to another queue");
  }
  return Status::OK();
}

Status Registry::apply_config(QueueRecord* q, const QueueAttributes& a) {
  uint32_t max_rc = 0, dlq_uid = 0;
  if (auto it = a.find("RedrivePolicy"); it != a.end() && !it->second.empty()) {
    auto rp = shm::parse_redrive_policy(it->second);
    if (!rp.ok()) return rp.status();
    std::string target = rp->dead_letter_target_arn.substr(rp->dead_letter_target_arn.rfind(':') + 1);
    QueueRecord* dlq = find(target);
    if (!dlq)
      return Status("InvalidParameterValue",
                    "Value " + it->second +
                        " for parameter RedrivePolicy is invalid. Reason: Dead letter target does not exist.");
    if (dlq->fifo != q->fifo)
      return Status("InvalidParameterValue",
                    "Value " + it->second +
                        " for parameter RedrivePolicy is invalid. Reason: Dead-letter queue must be same "
                        "type of queue as the source.");
    max_rc = uint32_t(rp->max_receive_count);
    dlq_uid = dlq->uid;
  }
  shm::QueueConfig& c = q->view.header->config;
  c.visibility_timeout_s.store(attr_u32(a, "VisibilityTimeout", shm::kDefaultVisibilityTimeout));
  c.delay_s.store(attr_u32(a, "DelaySeconds", 0));
  c.retention_s.store(attr_u32(a, "MessageRetentionPeriod", shm::kDefaultRetention));
  c.max_message_size.store(attr_u32(a, "MaximumMessageSize", shm::kMaxMaximumMessageSize));
  c.receive_wait_s.store(attr_u32(a, "ReceiveMessageWaitTimeSeconds", 0));
  c.max_receive_count.store(max_rc);
  c.dlq_uid.store(dlq_uid);
  c.content_based_dedup.store(a.count("ContentBasedDeduplication") && a.at("ContentBasedDeduplication") == "true");
  c.dedup_per_group.store(a.count("DeduplicationScope") && a.at("DeduplicationScope") == "messageGroup");
  q->view.header->modified_epoch_s.store(q->modified_s);
  return Status::OK();
}

QueueAttributes QueueRecord::effective_attributes() const {
  const shm::QueueConfig& cfg = view.header->config;
  QueueAttributes all{
      {"VisibilityTimeout", std::to_string(cfg.visibility_timeout_s.load())},
      {"MaximumMessageSize", std::to_string(cfg.max_message_size.load())},
      {"MessageRetentionPeriod", std::to_string(cfg.retention_s.load())},
      {"DelaySeconds", std::to_string(cfg.delay_s.load())},
      {"ReceiveMessageWaitTimeSeconds", std::to_string(cfg.receive_wait_s.load())},
  };
  // Server-side encryption, as SQS shows it (KMS is not emulated; the
  // journal's own encryption is --journal-key-file): one kind per queue,
  // SSE-SQS on unless turned off or a KMS key is set.
  const auto attribute = [&](const char* key, const char* fallback) {
    auto it = attributes.find(key);
    return it != attributes.end() && !it->second.empty() ? it->second : std::string(fallback);
  };
  if (const std::string kms = attribute("KmsMasterKeyId", ""); !kms.empty()) {
    all["KmsMasterKeyId"] = kms;
    all["KmsDataKeyReusePeriodSeconds"] = attribute("KmsDataKeyReusePeriodSeconds", "300");
    all["SqsManagedSseEnabled"] = "false";
  } else {
    all["SqsManagedSseEnabled"] = attribute("SqsManagedSseEnabled", "true");
  }
  if (fifo) {  // a FIFO queue always shows its FIFO settings (SQS.md: defaults)
    all["FifoQueue"] = "true";
    all["ContentBasedDeduplication"] = attribute("ContentBasedDeduplication", "false");
    all["DeduplicationScope"] = attribute("DeduplicationScope", "queue");
    all["FifoThroughputLimit"] = attribute("FifoThroughputLimit", "perQueue");
  }
  // An empty policy or key id is SQS's way to remove it ("set RedrivePolicy
  // to an empty string"): not shown, no dead-letter queue (apply_config).
  for (const char* extra : {"RedrivePolicy", "RedriveAllowPolicy", "Policy"})
    if (auto it = attributes.find(extra); it != attributes.end() && !it->second.empty()) all[extra] = it->second;
  all["Durability"] = durability_name(durability_of(attributes));
  return all;
}

Result<QueueRecord*> Registry::create(const std::string& name, const QueueAttributes& attributes,
                                      uint32_t owner_uid, uint32_t owner_gid, int64_t clock_skew_ms) {
  bool fifo = false;
  if (auto it = attributes.find("FifoQueue"); it != attributes.end()) fifo = it->second == "true";
  if (Status s = shm::validate_queue_name(name, fifo); !s.ok()) return s;
  if (Status s = shm::validate_queue_attributes(attributes, true, fifo); !s.ok()) return s;
  if (QueueRecord* existing = find(name)) {
    // Same name: fine when every given attribute equals the queue's
    // effective value (what it was set to, else the default).
    const QueueAttributes have = existing->effective_attributes();
    for (const auto& [k, v] : attributes) {
      if (k == "FifoQueue" && v == (existing->fifo ? "true" : "false")) continue;
      auto it = have.find(k);
      auto set = existing->attributes.find(k);  // one shown only with another (KMS reuse period)
      const std::string value = it != have.end()                    ? it->second
                                : set != existing->attributes.end() ? set->second
                                                                    : std::string();
      if (value != v)
        return Status("QueueNameExists",
                      "A queue already exists with the same name and a different value for attribute " + k);
    }
    return existing;
  }
  auto q = std::make_unique<QueueRecord>();
  q->name = name;
  q->uid = next_uid_++;
  q->fifo = fifo;
  q->owner_uid = owner_uid;
  q->owner_gid = owner_gid;
  q->attributes = attributes;
  q->attributes.erase("FifoQueue");
  q->created_s = q->modified_s = now_s();
  if (Status s = map_segment(q.get(), true); !s.ok()) return s;
  q->view.header->clock_skew_ms.store(clock_skew_ms);
  if (Status s = apply_config(q.get(), q->attributes); !s.ok()) {
    bip::shared_memory_object::remove(segment_name(q->uid).c_str());
    return s;
  }
  QueueRecord* raw = q.get();
  queues_[name] = std::move(q);
  if (Status s = save(); !s.ok()) spdlog::error("cannot save the registry: {}", s.to_string());
  return raw;
}

QueueRecord* Registry::find(const std::string& name) {
  auto it = queues_.find(name);
  return it == queues_.end() ? nullptr : it->second.get();
}

QueueRecord* Registry::find_uid(uint32_t uid) {
  for (auto& [n, q] : queues_)
    if (q->uid == uid) return q.get();
  return nullptr;
}

void Registry::remove(const std::string& name) {
  QueueRecord* q = find(name);
  if (!q) return;
  q->view.header->config.deleted.store(1);
  q->view.header->ready_futex.fetch_add(1);
  bip::shared_memory_object::remove(segment_name(q->uid).c_str());
  queues_.erase(name);
  if (Status s = save(); !s.ok()) spdlog::error("cannot save the registry: {}", s.to_string());
}

Status Registry::set_attributes(QueueRecord* q, const QueueAttributes& attributes) {
  if (Status s = shm::validate_queue_attributes(attributes, false, q->fifo); !s.ok()) return s;
  QueueAttributes merged = q->attributes;
  for (const auto& [k, v] : attributes) merged[k] = v;
  const uint64_t before = q->modified_s;
  q->modified_s = now_s();
  if (Status s = apply_config(q, merged); !s.ok()) {
    q->modified_s = before;
    return s;
  }
  q->attributes = std::move(merged);
  return save();
}

Status Registry::save() {
  json doc{{"next_uid", next_uid_}, {"queues", json::array()}};
  for (auto& [name, q] : queues_) {
    json grants = json::array();
    for (const auto& g : q->grants)
      grants.push_back({{"label", g.label}, {"principal", g.principal}, {"actions", g.actions}});
    doc["queues"].push_back({{"name", q->name}, {"uid", q->uid}, {"fifo", q->fifo},
                             {"owner_uid", q->owner_uid}, {"owner_gid", q->owner_gid},
                             {"attributes", q->attributes}, {"grants", grants}, {"tags", q->tags},
                             {"created", q->created_s}, {"modified", q->modified_s}});
  }
  const std::string path = data_dir_ + "/registry.json";
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << doc.dump(2) << "\n";
    f.flush();
    if (!f) return Status("InternalError", "cannot write " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    return Status("InternalError", "cannot replace " + path + ": " + std::strerror(errno));
  return Status::OK();
}

Status Registry::load(std::vector<std::string>* recreated) {
  const std::string path = data_dir_ + "/registry.json";
  std::ifstream f(path);
  if (!f) return Status::OK();  // a new data directory
  json doc = json::parse(f, nullptr, false);
  if (doc.is_discarded() || !doc.is_object())
    return Status("InternalError", path + " is not valid JSON; move it away to start empty");
  try {
    next_uid_ = doc.value("next_uid", 1u);
    // Attach every segment first, then apply configs (a redrive policy names
    // another queue, which must already be known).
    for (const auto& e : doc.value("queues", json::array())) {
      auto q = std::make_unique<QueueRecord>();
      q->name = e.at("name").get<std::string>();
      q->uid = e.at("uid").get<uint32_t>();
      q->fifo = e.value("fifo", false);
      q->owner_uid = e.value("owner_uid", 0u);
      q->owner_gid = e.value("owner_gid", 0u);
      q->attributes = e.value("attributes", QueueAttributes{});
      q->tags = e.value("tags", std::map<std::string, std::string>{});
      q->created_s = e.value("created", uint64_t{0});
      q->modified_s = e.value("modified", uint64_t{0});
      for (const auto& g : e.value("grants", json::array()))
        q->grants.push_back({g.value("label", ""), g.value("principal", ""),
                             g.value("actions", std::vector<std::string>{})});
      if (Status s = map_segment(q.get(), false); !s.ok()) {
        spdlog::warn("queue {}: {}; recreating it empty", q->name, s.message());
        if (Status c = map_segment(q.get(), true); !c.ok()) return c;
        recreated->push_back(q->name);
      }
      next_uid_ = std::max(next_uid_, q->uid + 1);
      queues_[q->name] = std::move(q);
    }
  } catch (const std::exception& e) {
    return Status("InternalError", path + ": " + e.what());
  }
  for (auto& [name, q] : queues_)
    if (Status s = apply_config(q.get(), q->attributes); !s.ok())
      spdlog::warn("queue {}: {}", name, s.to_string());
  return Status::OK();
}

}  // namespace shmq::broker
