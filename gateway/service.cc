#include "gateway/service.h"

#include <set>

#include "gateway/params.h"
#include "gateway/sigv4.h"

namespace shmq::gateway {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kAttributesTtl = std::chrono::seconds(1);  // ReceiveMessageWaitTimeSeconds, grants
constexpr const char* kOwnerLabel = "shmq-owner";

// What an action needs from AddPermission, when a non-owner calls it.
std::string permission_for(const std::string& action) {
  static const std::map<std::string, std::string> m = {
      {"SendMessage", "SendMessage"},
      {"SendMessageBatch", "SendMessage"},
      {"ReceiveMessage", "ReceiveMessage"},
      {"DeleteMessage", "DeleteMessage"},
      {"DeleteMessageBatch", "DeleteMessage"},
      {"ChangeMessageVisibility", "ChangeMessageVisibility"},
      {"ChangeMessageVisibilityBatch", "ChangeMessageVisibility"},
      {"GetQueueAttributes", "GetQueueAttributes"},
      {"GetQueueUrl", "GetQueueUrl"},
      {"ListQueueTags", "ListQueueTags"},
      {"ListDeadLetterSourceQueues", "ListDeadLetterSourceQueues"},
      {"PurgeQueue", "PurgeQueue"}};
  auto it = m.find(action);
  return it == m.end() ? "" : it->second;
}

bool names_account(const std::string& principal, const std::string& account) {
  if (principal == "*") return true;
  if (principal.rfind("account:", 0) != 0) return false;
  std::string list = "," + principal.substr(8) + ",";
  return list.find("," + account + ",") != std::string::npos;
}

}  // namespace

Service::Service(std::shared_ptr<Client> client, ServiceOptions options)
    : client_(std::move(client)), options_(std::move(options)) {}

std::string Service::url_for(const Caller& c, const std::string& name) const {
  return options_.scheme + "://" + (c.host.empty() ? options_.default_host : c.host) + "/" + kDefaultAccount + "/" +
         name;
}

std::string Service::arn_for(const std::string& name) const {
  return "arn:aws:sqs:" + options_.region + ":" + kDefaultAccount + ":" + name;
}

Result<std::string> Service::queue_name(const json& p, const Caller& c) const {
  std::string url;
  if (Status s = get_string(p, "QueueUrl", &url); !s.ok()) return s;
  if (url.empty()) {
    // Older SDKs post to the queue URL itself: /<account>/<name>.
    const auto slash = c.path.find('/', 1);
    if (c.path.size() > 1 && slash != std::string::npos && slash + 1 < c.path.size()) url = c.path;
    else return missing("QueueUrl");
  }
  std::string name = Client::queue_name_from_url(url);
  if (name.empty() || name.size() > 80 || name.find_first_of(":?# ") != std::string::npos)
    return Status("QueueDoesNotExist", "The specified queue does not exist.");
  return name;
}

Result<Service::OpenQueue> Service::open(const std::string& name, bool refresh_attributes) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = queues_.find(name);
    if (it != queues_.end() && (!refresh_attributes || Clock::now() - it->second.fetched < kAttributesTtl))
      return it->second;
  }
  OpenQueue q;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = queues_.find(name); it != queues_.end()) q.queue = it->second.queue;
  }
  if (!q.queue) {
    auto opened = client_->open_queue(name);
    if (!opened.ok()) return opened.status();
    q.queue = opened.value();
  }
  auto attrs = q.queue->get_attributes({"ReceiveMessageWaitTimeSeconds"});
  if (!attrs.ok()) {
    forget(name);
    return attrs.status();
  }
  q.receive_wait_s = std::atoi(attrs.value()["ReceiveMessageWaitTimeSeconds"].c_str());
  q.fetched = Clock::now();
  std::lock_guard<std::mutex> lock(mu_);
  queues_[name] = q;
  return q;
}

void Service::forget(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  queues_.erase(name);
  grants_.erase(name);
}

Result<std::vector<Permission>> Service::grants_of(const std::string& queue) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = grants_.find(queue);
    if (it != grants_.end() && Clock::now() - it->second.fetched < kAttributesTtl) return it->second.grants;
  }
  auto g = client_->list_permissions(queue);
  if (!g.ok()) return g.status();
  std::lock_guard<std::mutex> lock(mu_);
  grants_[queue] = {g.value(), Clock::now()};
  return g.value();
}

void Service::forget_grants(const std::string& queue) {
  std::lock_guard<std::mutex> lock(mu_);
  grants_.erase(queue);
}

std::string Service::owner_of(const std::vector<Permission>& grants) const {
  for (const auto& g : grants)
    if (g.label == kOwnerLabel && g.principal.rfind("account:", 0) == 0) return g.principal.substr(8);
  return kDefaultAccount;
}

Status Service::authorize(const Caller& c, const std::string& queue, const std::string& permission) {
  if (!options_.authorize) return Status::OK();
  auto grants = grants_of(queue);
  if (!grants.ok()) return grants.status().code() == "QueueDoesNotExist" ? Status::OK() : grants.status();
  if (owner_of(grants.value()) == c.account) return Status::OK();
  for (const auto& g : grants.value()) {
    if (g.label == kOwnerLabel || !names_account(g.principal, c.account)) continue;
    for (const auto& a : g.actions)
      if (a == "*" || (!permission.empty() && (a == permission || a == "SQS:" + permission || a == "sqs:" + permission)))
        return Status::OK();
  }
  return Status("AccessDenied", "Access to the resource " + url_for(c, queue) + " is denied.");
}

Outcome Service::call(const ApiRequest& request, const Caller& caller, Attempt& attempt) {
  const std::string& a = request.action;
  const json& p = request.params;
  static const std::set<std::string> kMessageActions = {
      "SendMessage", "SendMessageBatch", "ReceiveMessage", "DeleteMessage", "DeleteMessageBatch",
      "ChangeMessageVisibility", "ChangeMessageVisibilityBatch"};
  if (!kMessageActions.count(a)) return Outcome{queue_action(a, p, caller)};

  auto name = queue_name(p, caller);
  if (!name.ok()) return Outcome{name.status()};
  if (attempt.first) {
    if (Status s = authorize(caller, name.value(), permission_for(a)); !s.ok()) return Outcome{s};
  }
  // A queue deleted and created again under the same name: the cached
  // mapping is of the old segment, which answers QueueDoesNotExist. Reopen once.
  for (int round = 0;; ++round) {
    Outcome out;
    if (a == "SendMessage") out.result = send_message(name.value(), p);
    else if (a == "SendMessageBatch") out.result = send_message_batch(name.value(), p);
    else if (a == "ReceiveMessage") out = receive_message(name.value(), p, attempt);
    else if (a == "DeleteMessage") out.result = delete_message(name.value(), p);
    else if (a == "DeleteMessageBatch") out.result = delete_message_batch(name.value(), p);
    else if (a == "ChangeMessageVisibility") out.result = change_visibility(name.value(), p);
    else out.result = change_visibility_batch(name.value(), p);
    if (out.result.ok() || out.result.status().code() != "QueueDoesNotExist" || round == 1) return out;
    forget(name.value());
  }
}

}  // namespace shmq::gateway
