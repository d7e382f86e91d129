// The control actions: queues, attributes, tags, permissions, dead-letter
// sources and message move tasks, through shmq::Client's control calls.
#include <algorithm>
#include <functional>
#include <set>

#include "gateway/codec.h"
#include "gateway/params.h"
#include "gateway/service.h"
#include "gateway/sigv4.h"

namespace shmq::gateway {

using nlohmann::json;

namespace {

constexpr const char* kOwnerLabel = "shmq-owner";

json empty() { return json::object(); }

Status reserved_label() {
  return Status("InvalidParameterValue", std::string("Value ") + kOwnerLabel +
                                             " for parameter Label is invalid. Reason: reserved by shmq.");
}

// ListQueues / ListDeadLetterSourceQueues paging over names in order.
// NextToken is the base64 of the last name returned.
Result<json> page(std::vector<std::string> names, const json& p, const char* member,
                  const std::function<std::string(const std::string&)>& url) {
  int64_t max = 1000;
  bool limited = false;
  if (Status s = get_int(p, "MaxResults", &max, &limited); !s.ok()) return s;
  if (limited && (max < 1 || max > 1000))
    return Status("InvalidParameterValue", "Value " + std::to_string(max) +
                                               " for parameter MaxResults is invalid. Reason: MaxResults must be "
                                               "an integer between 1 and 1000.");
  std::string token;
  if (Status s = get_string(p, "NextToken", &token); !s.ok()) return s;
  std::sort(names.begin(), names.end());
  size_t start = 0;
  if (!token.empty()) {
    auto after = base64_decode(token);
    if (!after) return Status("InvalidParameterValue", "Invalid NextToken value.");
    start = size_t(std::upper_bound(names.begin(), names.end(), *after) - names.begin());
  }
  json urls = json::array();
  size_t i = start;
  for (; i < names.size() && int64_t(urls.size()) < max; ++i) urls.push_back(url(names[i]));
  json out{{member, urls}};
  if (limited && i < names.size()) out["NextToken"] = base64_encode(names[i - 1]);
  return out;
}

std::vector<std::string> names_of(const std::vector<std::string>& urls) {
  std::vector<std::string> out;
  for (const auto& u : urls) out.push_back(Client::queue_name_from_url(u));
  return out;
}

}  // namespace

Result<json> Service::queue_action(const std::string& a, const json& p, const Caller& c) {
  if (a == "CreateQueue") return create_queue(p, c);
  if (a == "ListQueues") return list_queues(p, c);
  if (a == "StartMessageMoveTask" || a == "CancelMessageMoveTask" || a == "ListMessageMoveTasks")
    return move_task_action(a, p, c);
  if (a == "GetQueueUrl") {
    std::string name;
    if (Status s = get_string(p, "QueueName", &name, true); !s.ok()) return s;
    if (Status s = authorize(c, name, "GetQueueUrl"); !s.ok()) return s;
    auto r = client_->get_queue_url(name);
    if (!r.ok()) return r.status();
    return json{{"QueueUrl", url_for(c, name)}};
  }

  auto name_r = queue_name(p, c);
  if (!name_r.ok()) return name_r.status();
  const std::string name = name_r.value();
  // Owner-only actions have no AddPermission name.
  const std::string permission = a == "GetQueueAttributes" || a == "ListQueueTags" ||
                                         a == "ListDeadLetterSourceQueues" || a == "PurgeQueue"
                                     ? a
                                     : "";
  if (Status s = authorize(c, name, permission); !s.ok()) return s;

  if (a == "DeleteQueue") {
    Status s = client_->delete_queue(name);
    forget(name);
    if (!s.ok()) return s;
    return empty();
  }
  if (a == "GetQueueAttributes") return get_queue_attributes(name, p);
  if (a == "SetQueueAttributes") {
    std::map<std::string, std::string> attrs;
    if (Status s = get_string_map(p, "Attributes", &attrs, true); !s.ok()) return s;
    if (Status s = client_->set_queue_attributes(name, attrs); !s.ok()) return s;
    return empty();
  }
  if (a == "PurgeQueue") {
    if (Status s = client_->purge_queue(name); !s.ok()) return s;
    return empty();
  }
  if (a == "TagQueue") {
    std::map<std::string, std::string> tags;
    if (Status s = get_string_map(p, "Tags", &tags, true); !s.ok()) return s;
    if (Status s = client_->tag_queue(name, tags); !s.ok()) return s;
    return empty();
  }
  if (a == "UntagQueue") {
    std::vector<std::string> keys;
    if (Status s = get_string_list(p, "TagKeys", &keys, true); !s.ok()) return s;
    if (Status s = client_->untag_queue(name, keys); !s.ok()) return s;
    return empty();
  }
  if (a == "ListQueueTags") {
    auto r = client_->list_queue_tags(name);
    if (!r.ok()) return r.status();
    json out = json::object();
    if (!r->empty()) out["Tags"] = r.value();
    return out;
  }
  if (a == "ListDeadLetterSourceQueues") {
    auto r = client_->list_dead_letter_source_queues(name);
    if (!r.ok()) return r.status();
    return page(names_of(r.value()), p, "queueUrls", [&](const std::string& n) { return url_for(c, n); });
  }
  if (a == "AddPermission") return add_permission(name, p);
  if (a == "RemovePermission") {
    std::string label;
    if (Status s = get_string(p, "Label", &label, true); !s.ok()) return s;
    if (label == kOwnerLabel) return reserved_label();
    Status s = client_->remove_permission(name, label);
    forget_grants(name);
    if (!s.ok()) return s;
    return empty();
  }
  return Status("InvalidAction", "The action " + a + " is not valid for this web service.");
}

Result<json> Service::create_queue(const json& p, const Caller& c) {
  std::string name;
  if (Status s = get_string(p, "QueueName", &name, true); !s.ok()) return s;
  std::map<std::string, std::string> attrs, tags;
  if (Status s = get_string_map(p, "Attributes", &attrs); !s.ok()) return s;
  if (Status s = get_string_map(p, "tags", &tags); !s.ok()) return s;
  // Whether the queue exists matters only to the checks below: no lookup otherwise.
  const bool existed = (options_.authorize || !tags.empty()) && client_->get_queue_url(name).ok();
  if (options_.authorize && existed)
    if (Status s = authorize(c, name, ""); !s.ok()) return s;
  // An existing queue is returned only when the request matches it: its
  // attributes (the broker checks them) and, when tags are given, its tags
  // (SQS refuses other tags rather than change the queue).
  if (existed && !tags.empty()) {
    auto have = client_->list_queue_tags(name);
    if (have.ok() && have.value() != tags)
      return Status("QueueNameExists", "A queue already exists with the same name and different tags");
  }
  auto q = client_->create_queue(name, attrs);
  if (!q.ok()) return q.status();
  {
    std::lock_guard<std::mutex> lock(mu_);
    queues_.erase(name);  // a cached mapping may be of a queue deleted since
  }
  if (options_.authorize && !existed && c.account != kDefaultAccount) {
    if (Status s = client_->add_permission(name, kOwnerLabel, "account:" + c.account, {"*"}); !s.ok()) return s;
    forget_grants(name);
  }
  if (!tags.empty())
    if (Status s = client_->tag_queue(name, tags); !s.ok()) return s;
  return json{{"QueueUrl", url_for(c, name)}};
}

Result<json> Service::list_queues(const json& p, const Caller& c) {
  std::string prefix;
  if (Status s = get_string(p, "QueueNamePrefix", &prefix); !s.ok()) return s;
  auto r = client_->list_queues(prefix);
  if (!r.ok()) return r.status();
  std::vector<std::string> names;
  for (const auto& n : names_of(r.value())) {
    if (options_.authorize) {
      auto g = grants_of(n);
      if (!g.ok()) continue;
      bool visible = owner_of(g.value()) == c.account;
      for (const auto& grant : g.value())
        if (grant.label != kOwnerLabel &&
            (grant.principal == "*" || ("," + grant.principal.substr(std::min<size_t>(8, grant.principal.size())) + ",")
                                               .find("," + c.account + ",") != std::string::npos))
          visible = true;
      if (!visible) continue;
    }
    names.push_back(n);
  }
  auto out = page(names, p, "QueueUrls", [&](const std::string& n) { return url_for(c, n); });
  if (out.ok() && out.value()["QueueUrls"].empty()) out.value().erase("QueueUrls");
  return out;
}

Result<json> Service::get_queue_attributes(const std::string& name, const json& p) {
  std::vector<std::string> names;
  if (Status s = get_string_list(p, "AttributeNames", &names); !s.ok()) return s;
  // No names: nothing asked, but the queue must exist.
  auto r = client_->get_queue_attributes(name, names.empty() ? std::vector<std::string>{"QueueArn"} : names);
  if (!r.ok()) return r.status();
  if (names.empty()) return empty();
  QueueAttributes attrs = r.value();
  if (auto it = attrs.find("QueueArn"); it != attrs.end()) it->second = arn_for(name);
  json out = json::object();
  if (!attrs.empty()) out["Attributes"] = attrs;
  return out;
}

Result<json> Service::add_permission(const std::string& name, const json& p) {
  std::string label;
  std::vector<std::string> accounts, actions;
  if (Status s = get_string(p, "Label", &label, true); !s.ok()) return s;
  if (Status s = get_string_list(p, "AWSAccountIds", &accounts, true); !s.ok()) return s;
  if (Status s = get_string_list(p, "Actions", &actions, true); !s.ok()) return s;
  if (label == kOwnerLabel) return reserved_label();
  if (label.empty() || label.size() > 80 || label.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") != std::string::npos)
    return Status("InvalidParameterValue", "Value " + label + " for parameter Label is invalid. Reason: Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length.");
  if (accounts.empty()) return missing("AWSAccountIds");
  if (actions.empty()) return missing("Actions");
  if (actions.size() > 7)
    return Status("OverLimit", std::to_string(actions.size()) + " Actions were found, maximum allowed is 7.");
  static const std::set<std::string> kGrantable = {"*", "SendMessage", "ReceiveMessage", "DeleteMessage",
                                                   "ChangeMessageVisibility", "GetQueueAttributes", "GetQueueUrl",
                                                   "ListDeadLetterSourceQueues", "ListQueueTags", "PurgeQueue"};
  for (const auto& a : actions)
    if (!kGrantable.count(a))
      return Status("InvalidParameterValue",
                    "Value SQS:" + a + " for parameter ActionName is invalid. Reason: Only the queue owner is allowed to invoke this action.");
  std::string principal = "account:";
  for (size_t i = 0; i < accounts.size(); ++i) {
    if (accounts[i].size() != 12 || accounts[i].find_first_not_of("0123456789") != std::string::npos)
      return Status("InvalidParameterValue", "Value " + accounts[i] + " for parameter AWSAccountIds is invalid. Reason: An AWS account id has 12 digits.");
    principal += (i ? "," : "") + accounts[i];
  }
  Status s = client_->add_permission(name, label, principal, actions);
  forget_grants(name);
  if (!s.ok()) return s;
  return empty();
}

Result<json> Service::move_task_action(const std::string& a, const json& p, const Caller& c) {
  auto queue_of_arn = [](const std::string& arn) -> Result<std::string> {
    // arn:aws:sqs:REGION:ACCOUNT:NAME
    if (arn.rfind("arn:", 0) != 0 || std::count(arn.begin(), arn.end(), ':') != 5 || arn.back() == ':')
      return Status("ResourceNotFoundException", "The resource that you specified for the SourceArn parameter does not exist.");
    return arn.substr(arn.rfind(':') + 1);
  };
  if (a == "CancelMessageMoveTask") {
    std::string handle;
    if (Status s = get_string(p, "TaskHandle", &handle, true); !s.ok()) return s;
    std::string source;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (auto it = task_sources_.find(handle); it != task_sources_.end()) source = it->second;
    }
    if (options_.authorize) {
      if (source.empty() ? c.account != kDefaultAccount : !authorize(c, source, "").ok())
        return Status("AccessDenied", "Access to the task is denied.");
    }
    auto r = client_->cancel_message_move_task(handle);
    if (!r.ok()) return r.status();
    return json{{"ApproximateNumberOfMessagesMoved", r.value()}};
  }
  std::string source_arn;
  if (Status s = get_string(p, "SourceArn", &source_arn, true); !s.ok()) return s;
  auto source = queue_of_arn(source_arn);
  if (!source.ok()) return source.status();
  if (Status s = authorize(c, source.value(), ""); !s.ok()) return s;
  if (a == "StartMessageMoveTask") {
    std::string dest_arn;
    if (Status s = get_string(p, "DestinationArn", &dest_arn); !s.ok()) return s;
    std::string dest;
    if (!dest_arn.empty()) {
      auto d = queue_of_arn(dest_arn);
      if (!d.ok()) return Status("ResourceNotFoundException", "The resource that you specified for the DestinationArn parameter does not exist.");
      dest = d.value();
      if (Status s = authorize(c, dest, "SendMessage"); !s.ok()) return s;
    }
    int64_t rate = 0;
    bool present = false;
    if (Status s = get_int(p, "MaxNumberOfMessagesPerSecond", &rate, &present); !s.ok()) return s;
    if (present && (rate < 1 || rate > 500))
      return Status("InvalidParameterValue", "Value " + std::to_string(rate) + " for parameter MaxNumberOfMessagesPerSecond is invalid. Reason: Must be between 1 and 500.");
    auto r = client_->start_message_move_task(source.value(), dest, int(rate));
    if (!r.ok()) return r.status();
    std::lock_guard<std::mutex> lock(mu_);
    task_sources_[r.value()] = source.value();
    return json{{"TaskHandle", r.value()}};
  }
  // ListMessageMoveTasks
  int64_t max = 1;
  if (Status s = get_int(p, "MaxResults", &max); !s.ok()) return s;
  auto r = client_->list_message_move_tasks(source.value(), int(std::clamp<int64_t>(max, -1, 1000)));
  if (!r.ok()) return r.status();
  json results = json::array();
  for (const auto& t : r.value()) {
    json j{{"Status", t.status},
           {"SourceArn", arn_for(t.source)},
           {"ApproximateNumberOfMessagesMoved", t.moved},
           {"ApproximateNumberOfMessagesToMove", t.to_move},
           {"StartedTimestamp", t.started_ms}};
    if (!t.task_handle.empty()) j["TaskHandle"] = t.task_handle;
    if (!t.destination.empty()) j["DestinationArn"] = arn_for(t.destination);
    if (t.max_per_second > 0) j["MaxNumberOfMessagesPerSecond"] = t.max_per_second;
    if (!t.failure_reason.empty()) j["FailureReason"] = t.failure_reason;
    results.push_back(std::move(j));
  }
  return json{{"Results", results}};
}

}  // namespace shmq::gateway
