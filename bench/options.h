// What one shmq-bench invocation measures: parsed once from the command line
// (shmq_bench.cc), read by every harness.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace shmq::bench {

enum class Mode { kLatency, kThroughput, kFloor, kFutex, kProbe };
enum class Mechanism { kShmq, kFloor, kUds, kPosixMq, kBoostMq, kRedis, kBeanstalkd };
// spin: a receive that returns at once when nothing is there, called in a
// loop; poll: a receive that sleeps until a message comes (shmq's long poll,
// a blocking read for the kernel peers, BLMOVE / reserve for the servers).
enum class ReceiverKind { kSpin, kPoll };

struct Options {
  Mode mode = Mode::kLatency;
  Mechanism mechanism = Mechanism::kShmq;
  std::vector<std::string> tests = {"oneway", "pingpong"};  // latency mode
  ReceiverKind receiver = ReceiverKind::kSpin;
  size_t size = 64;  // payload bytes
  bool pin = false;  // producer(s) and consumer(s) on CPUs 0 and 1

  // A run ends after `messages` measured messages or `duration_s` measured
  // seconds, whichever comes first (0: no such bound).
  uint64_t messages = 0;
  double duration_s = 3.0;
  // Warm-up, not measured. Latency: messages sent before the first
  // `warmup_messages` or before `warmup_s`, whichever ends first (slow peers
  // never reach the count). Throughput: the window opens `warmup_s` late.
  uint64_t warmup_messages = 1000;
  double warmup_s = 0.2;
  uint64_t gap_ns = 0;     // latency: idle time before each send
  double timeout_s = 120;  // a run that takes longer is killed

  int producers = 1;
  int consumers = 1;
  int batch = 1;              // messages per send / receive call
  bool remove_batch = false;  // shmq: remove_batch instead of remove per message
  bool send_each = false;     // shmq: send per message instead of send_batch
  int fifo_groups = 0;        // shmq: a FIFO queue, messages spread over this many groups
  std::string durability = "memory";  // shmq: the queues' Durability (memory | async | sync)

  std::string socket;  // shmq: an already running broker
  std::string broker_path;
  bool json = false;
  bool csv = false;
  bool probe = true;  // bracket each measurement with a bare-ring probe
};

// Thrown when a mechanism cannot run on this machine (a program, a library
// or a system limit is missing): reported as a skipped record, with the reason.
struct SkipRun : std::runtime_error {
  using std::runtime_error::runtime_error;
};

const char* mechanism_name(Mechanism m);
const char* receiver_name(ReceiverKind r);
const char* mode_name(Mode m);

// The first `warmup_messages` of a latency run, capped at a tenth of the run
// when the run is bounded by count.
inline uint64_t latency_warmup(const Options& o) {
  if (o.messages && o.warmup_messages > o.messages / 10) return o.messages / 10;
  return o.warmup_messages;
}

}  // namespace shmq::bench
