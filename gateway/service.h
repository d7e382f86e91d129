// The SQS actions, answered through the public client API (shmq::Client):
// the gateway is a client of the queues like any other. One Service is shared
// by all connections and threads.
//
// Long polls do not hold a thread: call() returns `pending` when a receive
// found nothing yet and may still wait; the connection then sets a timer and
// calls again (Attempt carries the deadline) until a message comes or the
// wait ends. See docs/architecture.md, "HTTP gateway".
//
// Authorization (when credentials are configured): a queue belongs to the
// account that created it through the gateway (recorded as the grant
// "shmq-owner"), else to the broker's account 000000000000. Other accounts
// get what AddPermission granted them (SQS action names, "*" for all).
//
// Thread safety: every method may be called from any thread.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "gateway/protocol.h"
#include "shmq/client.h"

namespace shmq::gateway {

struct ServiceOptions {
  std::string region = "us-east-1";
  std::string scheme = "http";
  std::string default_host;  // host:port for queue URLs when a request has no Host header
  bool authorize = false;    // enforce queue ownership and grants
};

// Who is calling, and how they reached us.
struct Caller {
  std::string account = "000000000000";
  std::string host;  // the Host header
  std::string path;  // request path (older SDKs post to the queue URL)
};

struct Attempt {
  bool first = true;
  std::chrono::steady_clock::time_point deadline{};
};

struct Outcome {
  Result<nlohmann::json> result = nlohmann::json::object();
  bool pending = false;  // ReceiveMessage: nothing yet, call again (before attempt.deadline)
};

class Service {
 public:
  Service(std::shared_ptr<Client> client, ServiceOptions options);

  Outcome call(const ApiRequest& request, const Caller& caller, Attempt& attempt);

  const ServiceOptions& options() const { return options_; }

 private:
  struct OpenQueue {
    std::shared_ptr<Queue> queue;
    int receive_wait_s = 0;
    std::chrono::steady_clock::time_point fetched;
  };

  // ---- helpers (service.cc)
  std::string url_for(const Caller& c, const std::string& name) const;
  std::string arn_for(const std::string& name) const;
  Result<std::string> queue_name(const nlohmann::json& p, const Caller& c) const;
  Result<OpenQueue> open(const std::string& name, bool refresh_attributes = false);
  void forget(const std::string& name);
  // permission: an SQS action name AddPermission can grant, or "" (owner only).
  Status authorize(const Caller& c, const std::string& queue, const std::string& permission);
  std::string owner_of(const std::vector<Permission>& grants) const;
  Result<std::vector<Permission>> grants_of(const std::string& queue);
  void forget_grants(const std::string& queue);

  // ---- actions on messages (message_actions.cc)
  Result<nlohmann::json> send_message(const std::string& q, const nlohmann::json& p);
  Result<nlohmann::json> send_message_batch(const std::string& q, const nlohmann::json& p);
  Outcome receive_message(const std::string& q, const nlohmann::json& p, Attempt& attempt);
  Result<nlohmann::json> delete_message(const std::string& q, const nlohmann::json& p);
  Result<nlohmann::json> delete_message_batch(const std::string& q, const nlohmann::json& p);
  Result<nlohmann::json> change_visibility(const std::string& q, const nlohmann::json& p);
  Result<nlohmann::json> change_visibility_batch(const std::string& q, const nlohmann::json& p);

  // ---- actions on queues (queue_actions.cc)
  Result<nlohmann::json> queue_action(const std::string& action, const nlohmann::json& p, const Caller& c);
  Result<nlohmann::json> create_queue(const nlohmann::json& p, const Caller& c);
  Result<nlohmann::json> list_queues(const nlohmann::json& p, const Caller& c);
  Result<nlohmann::json> get_queue_attributes(const std::string& q, const nlohmann::json& p);
  Result<nlohmann::json> add_permission(const std::string& q, const nlohmann::json& p);
  Result<nlohmann::json> move_task_action(const std::string& action, const nlohmann::json& p, const Caller& c);

  std::shared_ptr<Client> client_;
  ServiceOptions options_;

  std::mutex mu_;  // guards the caches below
  std::map<std::string, OpenQueue> queues_;
  struct CachedGrants {
    std::vector<Permission> grants;
    std::chrono::steady_clock::time_point fetched;
  };
  std::map<std::string, CachedGrants> grants_;
  std::map<std::string, std::string> task_sources_;  // move task handle -> source queue
};

}  // namespace shmq::gateway
