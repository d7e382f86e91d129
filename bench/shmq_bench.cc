// shmq-bench: end-to-end latency and throughput of shmq through its client
// library against a real broker, beside the floor (a bare shared-memory
// ring), a bare futex wake and the peers (peers.h), every measurement
// bracketed by a regime probe (probe.h). See bench/RESULTS.md for a run.
//
//   shmq-bench latency    [--mech M] [--test oneway|pingpong|all] [--receiver spin|poll] ...
//   shmq-bench throughput [--mech M] [--producers P] [--consumers C] [--batch B] ...
//   shmq-bench floor      the bare ring: one-way, ping-pong and streaming throughput
//   shmq-bench futex      bare futex wake between two processes
//   shmq-bench probe      the regime probe alone
//   shmq-bench report FILE...   tables and plot data from --json output
#include <cstdio>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "bench/floor_mechanism.h"
#include "bench/futex_wake.h"
#include "bench/peers.h"
#include "bench/probe.h"
#include "bench/report.h"
#include "bench/runner.h"
#include "bench/shmq_mechanism.h"
#include "bench/team.h"

#ifndef SHMQ_BROKER_PATH
#define SHMQ_BROKER_PATH "shmq-broker"
#endif

namespace shmq::bench {
namespace {

struct Cli {
  Options o;
  std::string mechanism = "shmq";
  std::string test = "all";
  std::string receiver = "spin";
  std::string remove = "each";
  std::string send = "batch";
  double gap_us = -1;
  std::vector<std::string> report_files;
  std::string plot_dir;
};

void add_run_options(CLI::App* app, Cli& c, bool with_mechanism) {
  Options& o = c.o;
  if (with_mechanism)
    app->add_option("--mech", c.mechanism,
                    "shmq, floor, uds, posix-mq, boost-mq, redis, beanstalkd")
        ->check(
            CLI::IsMember({"shmq", "floor", "uds", "posix-mq", "boost-mq", "redis", "beanstalkd"}))
        ->capture_default_str();
  app->add_option("--receiver", c.receiver,
                  "spin (receive returns at once, in a loop) or poll (sleeps)")
      ->check(CLI::IsMember({"spin", "poll"}))
      ->capture_default_str();
  app->add_option("--size", o.size, "payload bytes (64, 1024, 65536, ...)")
      ->check(CLI::Range(size_t(kMinPayload), size_t(1) << 20))
      ->capture_default_str();
  app->add_flag("--pin", o.pin, "pin producer(s) and consumer(s) to CPUs 0 and 1");
  app->add_option("--messages", o.messages, "measured messages (0: no bound)")
      ->capture_default_str();
  app->add_option("--duration", o.duration_s, "measured seconds (0: no bound)")
      ->capture_default_str();
  app->add_option("--warmup", o.warmup_messages,
                  "latency: unrecorded first messages (or --warmup-seconds, whichever ends first)")
      ->capture_default_str();
  app->add_option("--warmup-seconds", o.warmup_s, "unmeasured first seconds")
      ->capture_default_str();
  app->add_option("--gap-us", c.gap_us,
                  "idle time before each send (default 200 us for a poll receiver and futex, so "
                  "the receiver is asleep; 0 otherwise)");
  app->add_option("--timeout", o.timeout_s, "kill a run that takes longer (s)")
      ->capture_default_str();
  app->add_option("--socket", o.socket, "shmq: use the broker running on this socket");
  app->add_option("--durability", o.durability,
                  "shmq: the queues' Durability; memory measures the shared-memory path alone, "
                  "async and sync add the broker's journal")
      ->check(CLI::IsMember({"memory", "async", "sync"}))
      ->capture_default_str();
  app->add_option("--broker", o.broker_path, "shmq: the shmq-broker to start")
      ->capture_default_str();
  app->add_flag("--json", o.json, "print JSON, one object per line, on stdout");
  app->add_flag("--csv", o.csv, "print CSV on stdout");
  app->add_flag(
      "--no-probe", [&o](int64_t) { o.probe = false; }, "skip the regime probes");
}

void add_throughput_options(CLI::App* app, Cli& c) {
  Options& o = c.o;
  app->add_option("--producers", o.producers, "producer processes")
      ->check(CLI::Range(1, 8))
      ->capture_default_str();
  app->add_option("--consumers", o.consumers, "consumer processes")
      ->check(CLI::Range(1, 8))
      ->capture_default_str();
  app->add_option("--batch", o.batch, "messages per send / receive (shmq at most 10)")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  app->add_option("--remove", c.remove, "shmq: remove each message, or remove_batch")
      ->check(CLI::IsMember({"each", "batch"}))
      ->capture_default_str();
  app->add_option("--send", c.send, "shmq, batch > 1: send_batch, or send each message")
      ->check(CLI::IsMember({"batch", "each"}))
      ->capture_default_str();
  app->add_option("--fifo-groups", o.fifo_groups,
                  "shmq: a FIFO queue; each producer sends round-robin over this many message groups")
      ->check(CLI::Range(0, 100000))
      ->capture_default_str();
}

Mechanism parse_mechanism(const std::string& s) {
  if (s == "floor") return Mechanism::kFloor;
  if (s == "uds") return Mechanism::kUds;
  if (s == "posix-mq") return Mechanism::kPosixMq;
  if (s == "boost-mq") return Mechanism::kBoostMq;
  if (s == "redis") return Mechanism::kRedis;
  if (s == "beanstalkd") return Mechanism::kBeanstalkd;
  return Mechanism::kShmq;
}

void finish_options(Cli& c, bool duration_given) {
  Options& o = c.o;
  o.mechanism = parse_mechanism(c.mechanism);
  o.receiver = c.receiver == "poll" ? ReceiverKind::kPoll : ReceiverKind::kSpin;
  if (c.test == "all")
    o.tests = {"oneway", "pingpong"};
  else
    o.tests = {c.test};
  o.remove_batch = c.remove == "batch";
  o.send_each = c.send == "each";
  if (o.messages && !duration_given) o.duration_s = 0;
  const bool sleeper = o.receiver == ReceiverKind::kPoll || o.mode == Mode::kFutex;
  o.gap_ns = uint64_t((c.gap_us >= 0 ? c.gap_us : sleeper ? 200.0 : 0.0) * 1000);
  if (o.mode == Mode::kFloor) o.mechanism = Mechanism::kFloor;
  if (o.mechanism == Mechanism::kShmq && o.batch > 10)
    throw CLI::ValidationError("--batch", "shmq receives at most 10 messages at a time");
}

void run_shmq(const Options& o, RecordPrinter& printer) {
  Broker broker(o);
  run_mechanism<ShmqMechanism>(o, printer, [&](int channels) {
    return std::make_unique<ShmqMechanism>(broker, o, channels);
  });
}

void run_floor(const Options& o, RecordPrinter& printer) {
  auto make = [&](int channels) { return std::make_unique<FloorMechanism>(o, channels); };
  run_mechanism<FloorMechanism>(o, printer, make);
}

void run(const Options& o, RecordPrinter& printer) {
  switch (o.mode) {
    case Mode::kProbe: {
      const uint64_t p = probe_floor_p50();
      Record r = base_record(o, "floor", "latency", "probe");
      r.pin = true;
      r.samples = 20000;
      r.p50 = p;
      r.probe_before_ns = r.probe_after_ns = p;
      r.regime = regime_of(p, p);
      printer.print(r);
      return;
    }
    case Mode::kFutex:
      for (const Record& r : bracketed(o, [&] { return futex_wake(o); })) printer.print(r);
      return;
    case Mode::kFloor: {
      Options latency = o;
      latency.mode = Mode::kLatency;
      latency.receiver = ReceiverKind::kSpin;
      run_floor(latency, printer);
      Options stream = o;
      stream.mode = Mode::kThroughput;
      stream.producers = stream.consumers = 1;
      run_floor(stream, printer);
      return;
    }
    case Mode::kLatency:
    case Mode::kThroughput:
      if (o.mechanism == Mechanism::kShmq) return run_shmq(o, printer);
      if (o.mechanism == Mechanism::kFloor) return run_floor(o, printer);
      return run_peer(o, printer);
  }
}

}  // namespace
}  // namespace shmq::bench

int main(int argc, char** argv) {
  using namespace shmq::bench;
  Cli c;
  c.o.broker_path = SHMQ_BROKER_PATH;
  CLI::App app{"shmq-bench: shmq end to end, beside the floor and the peers"};
  app.require_subcommand(1);
  auto* latency = app.add_subcommand("latency", "one-way, send->receive->delete cycle, ping-pong");
  add_run_options(latency, c, true);
  latency->add_option("--test", c.test, "oneway (also gives cycle), pingpong, or all")
      ->check(CLI::IsMember({"oneway", "pingpong", "all"}))
      ->capture_default_str();
  auto* throughput = app.add_subcommand("throughput", "P producers x C consumers, full cycle");
  add_run_options(throughput, c, true);
  add_throughput_options(throughput, c);
  auto* floor = app.add_subcommand("floor", "the bare SPSC ring: one-way, ping-pong, stream");
  add_run_options(floor, c, false);
  floor->add_option("--batch", c.o.batch, "stream: messages per publish")->capture_default_str();
  auto* futex = app.add_subcommand("futex", "bare futex wake between two processes");
  add_run_options(futex, c, false);
  auto* probe = app.add_subcommand("probe", "the regime probe alone");
  add_run_options(probe, c, false);
  auto* report = app.add_subcommand("report", "figures, ratios and plot data from --json output");
  report->add_option("files", c.report_files, "JSON-lines files")->required();
  report->add_option("--plot-dir", c.plot_dir, "write gnuplot data files here");

  CLI11_PARSE(app, argc, argv);
  if (report->parsed()) return run_report(c.report_files, c.plot_dir);

  CLI::App* used = app.get_subcommands().at(0);
  if (used == latency) c.o.mode = Mode::kLatency;
  if (used == throughput) c.o.mode = Mode::kThroughput;
  if (used == floor) c.o.mode = Mode::kFloor;
  if (used == futex) c.o.mode = Mode::kFutex;
  if (used == probe) c.o.mode = Mode::kProbe;
  try {
    const CLI::Option* duration = used->get_option_no_throw("--duration");
    finish_options(c, duration && duration->count() > 0);
    install_interrupt_handlers();
    RecordPrinter printer(c.o);
    run(c.o, printer);
  } catch (const CLI::Error& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "shmq-bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
