#include "bench/peers.h"

#include <memory>

#include "bench/kernel_peers.h"
#include "bench/runner.h"
#include "bench/server_peers.h"

namespace shmq::bench {
namespace {

template <class M>
void run_kernel_peer(const Options& o, RecordPrinter& printer) {
  run_mechanism<M>(o, printer, [&](int channels) { return std::make_unique<M>(o, channels); });
}

template <class M, class Server>
void run_server_peer(const Options& o, RecordPrinter& printer) {
  std::unique_ptr<Server> server;
  try {
    server = std::make_unique<Server>();
  } catch (const SkipRun& e) {
    printer.print(skipped_record(o, M::kName, "-", e.what()));
    return;
  }
  run_mechanism<M>(o, printer,
                   [&](int channels) { return std::make_unique<M>(*server, o, channels); });
}

}  // namespace

void run_peer(const Options& o, RecordPrinter& printer) {
  switch (o.mechanism) {
    case Mechanism::kUds:
      return run_kernel_peer<UdsMechanism>(o, printer);
    case Mechanism::kPosixMq:
      return run_kernel_peer<PosixMqMechanism>(o, printer);
    case Mechanism::kBoostMq:
      return run_kernel_peer<BoostMqMechanism>(o, printer);
    case Mechanism::kRedis:
      return run_server_peer<RedisMechanism, RedisServer>(o, printer);
    case Mechanism::kBeanstalkd:
      return run_server_peer<BeanstalkdMechanism, BeanstalkdServer>(o, printer);
    default:
      break;
  }
}

}  // namespace shmq::bench
