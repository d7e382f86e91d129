// What every connection of a gateway shares. Immutable after Gateway::run()
// (the Service guards its own caches).
#pragma once

#include <memory>

#include "gateway/gateway.h"
#include "gateway/service.h"
#include "gateway/sigv4.h"

namespace shmq::gateway {

struct GatewayShared {
  GatewayOptions options;
  Credentials credentials;  // empty: every request is accepted
  std::unique_ptr<Service> service;
};

}  // namespace shmq::gateway
