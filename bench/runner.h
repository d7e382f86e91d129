// Runs what the options ask of one mechanism: each latency test (its own
// channels, its own processes) or the throughput run, each bracketed by the
// regime probes, printing each record as soon as it is measured.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bench/harness.h"
#include "bench/options.h"
#include "bench/probe.h"
#include "bench/record.h"

namespace shmq::bench {

inline Record skipped_record(const Options& o, const std::string& mechanism,
                             const std::string& metric, const std::string& why) {
  Record r =
      base_record(o, mechanism, o.mode == Mode::kThroughput ? "throughput" : "latency", metric);
  r.skipped = why;
  r.regime = "unknown";
  return r;
}

// make(channels) returns a std::unique_ptr<M> made in the parent.
template <class M, class Make>
void run_mechanism(const Options& o, RecordPrinter& printer, Make make) {
  // A mechanism that cannot run here (SkipRun from its set-up) prints why.
  auto emit = [&](const std::string& metric, const std::function<std::vector<Record>()>& measure) {
    try {
      for (const Record& r : bracketed(o, measure)) printer.print(r);
    } catch (const SkipRun& e) {
      printer.print(skipped_record(o, M::kName, metric, e.what()));
    }
  };
  if (o.mode == Mode::kThroughput) {
    if ((o.producers > 1 && !M::kMultiProducer) || (o.consumers > 1 && !M::kMultiConsumer)) {
      printer.print(skipped_record(o, M::kName, "cycle", "single producer / single consumer only"));
      return;
    }
    emit("cycle", [&] {
      auto m = make(1);
      return throughput(*m, o);
    });
    return;
  }
  for (const std::string& test : o.tests) {
    emit(test, [&] {
      auto m = make(2);
      return test == "oneway" ? one_way(*m, o) : ping_pong(*m, o);
    });
  }
}

}  // namespace shmq::bench
