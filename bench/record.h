// One result: a latency distribution or a throughput figure from one run,
// with what was measured, how, and the regime the machine was in. Printed as
// a human line, a JSON object (one per line) or a CSV row.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bench/histogram.h"
#include "bench/options.h"

namespace shmq::bench {

struct Record {
  std::string mechanism;  // shmq, floor, uds, posix-mq, boost-mq, redis, beanstalkd, futex
  std::string mode;       // latency | throughput
  // latency: oneway (send -> receive returned), cycle (send -> delete
  // returned), send_call (the sender's send call alone), pingpong (round
  // trip / 2), wake (futex); throughput: cycle.
  std::string metric;
  std::string receiver;  // spin | poll
  std::string variant;   // free text: "remove_batch", "pipelined", ...
  uint64_t size = 0;
  bool pin = false;
  int producers = 1;
  int consumers = 1;
  int batch = 1;
  uint64_t gap_ns = 0;

  uint64_t samples = 0;  // latency: recorded samples; throughput: messages in the window
  uint64_t p50 = 0, p90 = 0, p99 = 0, p999 = 0, p9999 = 0, max = 0;  // ns
  double msgs_per_s = 0;
  double seconds = 0;  // measured window
  int64_t lost = 0;    // throughput: sent - received (must be 0)
  uint64_t clock_read_ns = 0;

  uint64_t probe_before_ns = 0;  // bare-ring one-way p50 just before
  uint64_t probe_after_ns = 0;   // and just after
  std::string regime;            // fast | slow | mixed | unknown
  std::string skipped;           // non-empty: not measured, and why
};

// The fields common to every record of a run, from the options.
Record base_record(const Options& o, const std::string& mechanism, const std::string& mode,
                   const std::string& metric);
void fill_percentiles(Record& r, const Histogram& h);

// Prints records as the options ask: human lines on stdout (on stderr when
// --json or --csv own stdout), JSON lines, or CSV with one header.
class RecordPrinter {
 public:
  explicit RecordPrinter(const Options& o) : json_(o.json), csv_(o.csv) {}
  void print(const Record& r);

 private:
  bool json_;
  bool csv_;
  bool csv_header_done_ = false;
};

std::string human_line(const Record& r);
std::string json_line(const Record& r);
std::string csv_header();
std::string csv_row(const Record& r);

}  // namespace shmq::bench
