#include "bench/record.h"

#include <cstdio>
#include <sstream>

#include <nlohmann/json.hpp>

namespace shmq::bench {

const char* mechanism_name(Mechanism m) {
  switch (m) {
    case Mechanism::kShmq:
      return "shmq";
    case Mechanism::kFloor:
      return "floor";
    case Mechanism::kUds:
      return "uds";
    case Mechanism::kPosixMq:
      return "posix-mq";
    case Mechanism::kBoostMq:
      return "boost-mq";
    case Mechanism::kRedis:
      return "redis";
    case Mechanism::kBeanstalkd:
      return "beanstalkd";
  }
  return "?";
}

const char* receiver_name(ReceiverKind r) { return r == ReceiverKind::kSpin ? "spin" : "poll"; }

const char* mode_name(Mode m) {
  switch (m) {
    case Mode::kLatency:
      return "latency";
    case Mode::kThroughput:
      return "throughput";
    case Mode::kFloor:
      return "floor";
    case Mode::kFutex:
      return "futex";
    case Mode::kProbe:
      return "probe";
  }
  return "?";
}

Record base_record(const Options& o, const std::string& mechanism, const std::string& mode,
                   const std::string& metric) {
  Record r;
  r.mechanism = mechanism;
  r.mode = mode;
  r.metric = metric;
  r.receiver = receiver_name(o.receiver);
  r.size = o.size;
  r.pin = o.pin;
  r.producers = mode == "throughput" ? o.producers : 1;
  r.consumers = mode == "throughput" ? o.consumers : 1;
  r.batch = mode == "throughput" ? o.batch : 1;
  r.gap_ns = mode == "latency" ? o.gap_ns : 0;
  if (mechanism == "shmq" && mode == "throughput" && o.batch > 1) {
    r.variant = std::string(o.send_each ? "send" : "send_batch") + "+" +
                (o.remove_batch ? "remove_batch" : "remove");
  }
  if (mechanism == "shmq" && mode == "throughput" && o.fifo_groups > 0)
    r.variant = "fifo " + std::to_string(o.fifo_groups) + " groups" + (r.variant.empty() ? "" : ", " + r.variant);
  if (mechanism == "shmq" && o.durability != "memory")
    r.variant = "durability " + o.durability + (r.variant.empty() ? "" : ", " + r.variant);
  if ((mechanism == "redis" || mechanism == "beanstalkd") && mode == "throughput")
    r.variant = o.batch > 1 ? "pipelined" : "one request at a time";
  return r;
}

void fill_percentiles(Record& r, const Histogram& h) {
  r.samples = h.count();
  r.p50 = h.percentile(0.5);
  r.p90 = h.percentile(0.9);
  r.p99 = h.percentile(0.99);
  r.p999 = h.percentile(0.999);
  r.p9999 = h.percentile(0.9999);
  r.max = h.max();
}

namespace {

std::string describe(const Record& r) {
  std::ostringstream s;
  s << r.mechanism << " " << r.mode << " " << r.metric << " " << r.receiver << " " << r.size << "B";
  if (r.mode == "throughput") s << " " << r.producers << "x" << r.consumers << " batch " << r.batch;
  if (!r.variant.empty()) s << " (" << r.variant << ")";
  s << (r.pin ? " pinned" : " unpinned");
  if (r.gap_ns) s << " gap " << r.gap_ns / 1000 << "us";
  return s.str();
}

std::string regime_text(const Record& r) {
  std::ostringstream s;
  s << "[regime " << r.regime;
  if (r.probe_before_ns || r.probe_after_ns)
    s << ": probe " << r.probe_before_ns << "/" << r.probe_after_ns << " ns";
  s << "]";
  return s.str();
}

}  // namespace

std::string human_line(const Record& r) {
  std::ostringstream s;
  s << describe(r) << ": ";
  if (!r.skipped.empty()) {
    s << "skipped: " << r.skipped;
    return s.str();
  }
  if (r.metric == "probe") {
    s << "p50 " << r.p50 << " ns ";
  } else if (r.mode == "latency") {
    s << "p50 " << r.p50 << " p90 " << r.p90 << " p99 " << r.p99 << " p99.9 " << r.p999
      << " p99.99 " << r.p9999 << " max " << r.max << " ns (" << r.samples
      << " samples, clock read " << r.clock_read_ns << " ns) ";
  } else {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.3f M msgs/s", r.msgs_per_s / 1e6);
    s << buf << " (" << r.samples << " msgs in " << r.seconds << " s";
    if (r.lost) s << ", LOST " << r.lost;
    s << ") ";
  }
  s << regime_text(r);
  return s.str();
}

std::string json_line(const Record& r) {
  nlohmann::json j = {{"mechanism", r.mechanism},
                      {"mode", r.mode},
                      {"metric", r.metric},
                      {"receiver", r.receiver},
                      {"variant", r.variant},
                      {"size", r.size},
                      {"pin", r.pin},
                      {"producers", r.producers},
                      {"consumers", r.consumers},
                      {"batch", r.batch},
                      {"gap_ns", r.gap_ns},
                      {"samples", r.samples},
                      {"p50_ns", r.p50},
                      {"p90_ns", r.p90},
                      {"p99_ns", r.p99},
                      {"p999_ns", r.p999},
                      {"p9999_ns", r.p9999},
                      {"max_ns", r.max},
                      {"msgs_per_s", r.msgs_per_s},
                      {"seconds", r.seconds},
                      {"lost", r.lost},
                      {"clock_read_ns", r.clock_read_ns},
                      {"probe_before_ns", r.probe_before_ns},
                      {"probe_after_ns", r.probe_after_ns},
                      {"regime", r.regime},
                      {"skipped", r.skipped}};
  return j.dump();
}

std::string csv_header() {
  return "mechanism,mode,metric,receiver,variant,size,pin,producers,consumers,batch,gap_ns,samples,"
         "p50_ns,p90_ns,p99_ns,p999_ns,p9999_ns,max_ns,msgs_per_s,seconds,lost,clock_read_ns,"
         "probe_before_ns,probe_after_ns,regime,skipped";
}

std::string csv_row(const Record& r) {
  auto quoted = [](const std::string& s) {
    std::string q = "\"";
    for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
  };
  std::ostringstream s;
  s << r.mechanism << "," << r.mode << "," << r.metric << "," << r.receiver << ","
    << quoted(r.variant) << "," << r.size << "," << (r.pin ? 1 : 0) << "," << r.producers << ","
    << r.consumers << "," << r.batch << "," << r.gap_ns << "," << r.samples << "," << r.p50 << ","
    << r.p90 << "," << r.p99 << "," << r.p999 << "," << r.p9999 << "," << r.max << ","
    << r.msgs_per_s << "," << r.seconds << "," << r.lost << "," << r.clock_read_ns << ","
    << r.probe_before_ns << "," << r.probe_after_ns << "," << r.regime << "," << quoted(r.skipped);
  return s.str();
}

void RecordPrinter::print(const Record& r) {
  const std::string human = human_line(r);
  if (json_ || csv_) std::fprintf(stderr, "%s\n", human.c_str());
  if (json_) std::printf("%s\n", json_line(r).c_str());
  if (csv_) {
    if (!csv_header_done_) std::printf("%s\n", csv_header().c_str());
    csv_header_done_ = true;
    std::printf("%s\n", csv_row(r).c_str());
  }
  if (!json_ && !csv_) std::printf("%s\n", human.c_str());
  std::fflush(stdout);
  std::fflush(stderr);
}

}  // namespace shmq::bench
