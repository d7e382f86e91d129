// Control ops beyond the queue basics: tags, dead-letter sources, the grants
// list (the HTTP gateway enforces account grants with it) and message move
// tasks. Kept apart from server.cc so the core request path stays short.
#include <algorithm>

#include <nlohmann/json.hpp>

#include "broker/server.h"
#include "libclient/src/control_channel.h"

namespace shmq::broker {

using nlohmann::json;

namespace {

std::string fail(const char* code, const std::string& message) {
  return wire::error_reply(Status(code, message)).dump();
}

std::string reply(const Status& s) { return (s.ok() ? json{{"ok", true}} : wire::error_reply(s)).dump(); }

// The queue name in an ARN (arn:aws:sqs:REGION:ACCOUNT:NAME) or URL, or a bare name.
std::string name_of(const std::string& arn_or_url) {
  const size_t cut = arn_or_url.find_last_of(":/");
  return cut == std::string::npos ? arn_or_url : arn_or_url.substr(cut + 1);
}

bool printable_utf8(const std::string& s) {
  for (unsigned char ch : s)
    if (ch < 0x20 || ch == 0x7f) return false;
  return true;
}

// SQS: key 1..128, value 0..256, no "aws:" prefix on keys, at most 50 tags.
Status validate_tags(const std::map<std::string, std::string>& tags) {
  for (const auto& [k, v] : tags) {
    if (k.empty() || k.size() > 128 || !printable_utf8(k))
      return Status("InvalidParameterValue", "Tag keys must be between 1 and 128 characters in length.");
    if (k.rfind("aws:", 0) == 0)
      return Status("InvalidParameterValue", "Tag keys must not start with the reserved prefix aws:.");
    if (v.size() > 256 || !printable_utf8(v))
      return Status("InvalidParameterValue", "Tag values must be at most 256 characters in length.");
  }
  return Status::OK();
}

}  // namespace

std::optional<std::string> Server::handle_engine_op(Connection& c, const std::string& op, const json& req) {
  if (op == "start_move_task") {
    const std::string source = name_of(req.value("source", std::string()));
    const std::string dest = name_of(req.value("destination", std::string()));
    QueueRecord* src = registry_.find(source);
    if (src && !allowed(c, *src, "admin")) return fail("AccessDenied", "Access to " + source + " is denied.");
    auto r = move_tasks_.start(registry_, source, dest, req.value("max_per_second", 0));
    if (!r.ok()) return wire::error_reply(r.status()).dump();
    return json{{"ok", true}, {"handle", r.value()}}.dump();
  }
  if (op == "cancel_move_task") {
    auto r = move_tasks_.cancel(req.value("handle", std::string()));
    if (!r.ok()) return wire::error_reply(r.status()).dump();
    return json{{"ok", true}, {"moved", r.value()}}.dump();
  }
  if (op == "list_move_tasks") {
    const std::string source = name_of(req.value("source", std::string()));
    auto r = move_tasks_.list(registry_, source, req.value("max_results", 1));
    if (!r.ok()) return wire::error_reply(r.status()).dump();
    json tasks = json::array();
    for (const auto& t : r.value()) tasks.push_back(t.to_json());
    return json{{"ok", true}, {"tasks", tasks}}.dump();
  }

  static const char* kQueueOps[] = {"tag_queue", "untag_queue", "list_queue_tags", "list_dlq_sources",
                                    "list_permissions"};
  if (std::find(std::begin(kQueueOps), std::end(kQueueOps), op) == std::end(kQueueOps)) return std::nullopt;
  const std::string name = Client::queue_name_from_url(req.value("name", std::string()));
  QueueRecord* q = registry_.find(name);
  if (!q) return fail("QueueDoesNotExist", "The specified queue does not exist.");
  const bool reader = allowed(c, *q, "send") || allowed(c, *q, "receive");
  if (!reader) return fail("AccessDenied", "Access to the resource " + name + " is denied (" + op + ").");

  if (op == "list_queue_tags") return json{{"ok", true}, {"tags", q->tags}}.dump();
  if (op == "list_dlq_sources") {
    json urls = json::array();
    for (auto& [n, other] : registry_.queues())
      if (other.get() != q && other->view.header->config.dlq_uid.load() == q->uid) urls.push_back(other->url());
    return json{{"ok", true}, {"urls", urls}}.dump();
  }
  if (op == "list_permissions") {
    json grants = json::array();
    for (const auto& g : q->grants)
      grants.push_back({{"label", g.label}, {"principal", g.principal}, {"actions", g.actions}});
    return json{{"ok", true}, {"grants", grants}}.dump();
  }
  if (!allowed(c, *q, "admin")) return fail("AccessDenied", "Access to the resource " + name + " is denied (" + op + ").");
  if (op == "tag_queue") {
    auto tags = req.value("tags", std::map<std::string, std::string>{});
    if (Status s = validate_tags(tags); !s.ok()) return wire::error_reply(s).dump();
    auto merged = q->tags;
    for (const auto& [k, v] : tags) merged[k] = v;
    if (merged.size() > 50)
      return fail("InvalidParameterValue", "Too many tags: a queue has at most 50.");
    q->tags = std::move(merged);
    return reply(registry_.save());
  }
  // untag_queue
  for (const auto& k : req.value("keys", std::vector<std::string>{})) q->tags.erase(k);
  return reply(registry_.save());
}

}  // namespace shmq::broker
