// Client: control calls for tags, dead-letter sources, grants and message
// move tasks (broker/engine_ops.cc answers them).
#include "libclient/src/client_impl.h"

namespace shmq {

using nlohmann::json;

Result<std::vector<Permission>> Client::list_permissions(std::string_view queue) {
  auto r = impl_->call({{"op", "list_permissions"}, {"name", queue_name_from_url(queue)}});
  if (!r.ok()) return r.status();
  std::vector<Permission> out;
  for (const auto& g : r->value("grants", json::array()))
    out.push_back({g.value("label", ""), g.value("principal", ""), g.value("actions", std::vector<std::string>{})});
  return out;
}

Status Client::tag_queue(std::string_view queue, const std::map<std::string, std::string>& tags) {
  return impl_->call({{"op", "tag_queue"}, {"name", queue_name_from_url(queue)}, {"tags", tags}}).status();
}

Status Client::untag_queue(std::string_view queue, const std::vector<std::string>& keys) {
  return impl_->call({{"op", "untag_queue"}, {"name", queue_name_from_url(queue)}, {"keys", keys}}).status();
}

Result<std::map<std::string, std::string>> Client::list_queue_tags(std::string_view queue) {
  auto r = impl_->call({{"op", "list_queue_tags"}, {"name", queue_name_from_url(queue)}});
  if (!r.ok()) return r.status();
  return r->value("tags", std::map<std::string, std::string>{});
}

Result<std::vector<std::string>> Client::list_dead_letter_source_queues(std::string_view queue) {
  auto r = impl_->call({{"op", "list_dlq_sources"}, {"name", queue_name_from_url(queue)}});
  if (!r.ok()) return r.status();
  return r->value("urls", std::vector<std::string>{});
}

Result<std::string> Client::start_message_move_task(std::string_view source, std::string_view destination,
                                                    int max_per_second) {
  auto r = impl_->call({{"op", "start_move_task"}, {"source", source}, {"destination", destination},
                        {"max_per_second", max_per_second}});
  if (!r.ok()) return r.status();
  return r->value("handle", std::string());
}

Result<uint64_t> Client::cancel_message_move_task(std::string_view task_handle) {
  auto r = impl_->call({{"op", "cancel_move_task"}, {"handle", task_handle}});
  if (!r.ok()) return r.status();
  return r->value("moved", uint64_t{0});
}

Result<std::vector<MessageMoveTask>> Client::list_message_move_tasks(std::string_view source, int max_results) {
  auto r = impl_->call({{"op", "list_move_tasks"}, {"source", source}, {"max_results", max_results}});
  if (!r.ok()) return r.status();
  std::vector<MessageMoveTask> out;
  for (const auto& t : r->value("tasks", json::array())) {
    MessageMoveTask m;
    m.task_handle = t.value("handle", "");
    m.status = t.value("status", "");
    m.source = t.value("source", "");
    m.destination = t.value("destination", "");
    m.max_per_second = t.value("max_per_second", 0);
    m.moved = t.value("moved", uint64_t{0});
    m.to_move = t.value("to_move", uint64_t{0});
    m.failure_reason = t.value("failure_reason", "");
    m.started_ms = t.value("started_ms", uint64_t{0});
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace shmq
