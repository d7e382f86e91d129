#include "bench/plot_data.h"

#include <fstream>

namespace shmq::bench {
namespace {

// A series' title with the regime its record ran in.
std::string titled(const char* title, const RecordJson* r) {
  return std::string(title) +
         (r ? " [" + r->value("regime", std::string("?")) + "]" : " [not run]");
}

void write_latency_dat(const std::vector<RecordJson>& rs, const std::string& path) {
  struct Series {
    const char* title;
    RecordJson where;
  };
  const std::vector<Series> series = {
      {"floor one-way", latency64("floor", "oneway", "spin")},
      {"shmq one-way", latency64("shmq", "oneway", "spin")},
      {"shmq cycle (+delete)", latency64("shmq", "cycle", "spin")},
      {"shmq ping-pong/2", latency64("shmq", "pingpong", "spin")},
      {"shmq long-poll wake", latency64("shmq", "oneway", "poll")},
      {"bare futex wake", latency64("futex", "wake", "poll")},
      {"UDS ping-pong/2", latency64("uds", "pingpong", "poll")},
      {"POSIX mq ping-pong/2", latency64("posix-mq", "pingpong", "poll")},
      {"Boost mq ping-pong/2", latency64("boost-mq", "pingpong", "poll")},
      {"Redis cycle", latency64("redis", "cycle", "poll")},
      {"beanstalkd cycle", latency64("beanstalkd", "cycle", "poll")},
  };
  std::ofstream out(path);
  out << "percentile";
  for (const auto& s : series)
    out << " \"" << titled(s.title, median_record(rs, s.where, "p50_ns")) << "\"";
  out << "\n";
  const char* fields[] = {"p50_ns", "p90_ns", "p99_ns", "p999_ns", "p9999_ns", "max_ns"};
  const char* labels[] = {"p50", "p90", "p99", "p99.9", "p99.99", "max"};
  for (int i = 0; i < 6; ++i) {
    out << labels[i];
    for (const auto& s : series) {
      const RecordJson* r = median_record(rs, s.where, "p50_ns");
      out << " ";
      if (r)
        out << (*r)[fields[i]].get<uint64_t>();
      else
        out << "-";
    }
    out << "\n";
  }
}

void write_size_dat(const std::vector<RecordJson>& rs, const std::string& path) {
  struct Series {
    const char* title;
    const char* mech;
    const char* metric;
    const char* receiver;
  };
  const std::vector<Series> series = {
      {"floor one-way", "floor", "oneway", "spin"},
      {"shmq one-way", "shmq", "oneway", "spin"},
      {"shmq cycle", "shmq", "cycle", "spin"},
      {"shmq ping-pong/2", "shmq", "pingpong", "spin"},
      {"UDS ping-pong/2", "uds", "pingpong", "poll"},
      {"POSIX mq ping-pong/2", "posix-mq", "pingpong", "poll"},
      {"Boost mq ping-pong/2", "boost-mq", "pingpong", "poll"},
      {"Redis cycle", "redis", "cycle", "poll"},
      {"beanstalkd cycle", "beanstalkd", "cycle", "poll"},
  };
  std::ofstream out(path);
  out << "size";
  for (const auto& s : series) out << " \"" << s.title << "\"";
  out << "\n";
  for (int size : {64, 1024, 65536}) {
    out << size;
    for (const auto& s : series) {
      RecordJson w = latency64(s.mech, s.metric, s.receiver);
      w["size"] = size;
      const RecordJson* r = median_record(rs, w, "p50_ns");
      out << " ";
      if (r)
        out << (*r)["p50_ns"].get<uint64_t>();
      else
        out << "-";
    }
    out << "\n";
  }
}

void write_throughput_dat(const std::vector<RecordJson>& rs, const std::string& path) {
  struct Series {
    const char* title;
    const char* mech;
    int batch;
    const char* variant;  // "" any
  };
  const std::vector<Series> series = {
      {"shmq batch 1", "shmq", 1, ""},
      {"shmq batch 10 (send_batch)", "shmq", 10, "send_batch+remove"},
      {"shmq batch 10 (send x10)", "shmq", 10, "send+remove"},
      {"UDS", "uds", 1, ""},
      {"POSIX mq", "posix-mq", 1, ""},
      {"Boost mq", "boost-mq", 1, ""},
  };
  std::ofstream out(path);
  out << "config";
  for (const auto& s : series)
    out << " \"" << s.title << "\"";  // regimes differ per point: see the tables
  out << "\n";
  for (auto [p, c] : {std::pair{1, 1}, {1, 2}, {2, 1}, {2, 2}}) {
    out << p << "x" << c;
    for (const auto& s : series) {
      RecordJson w = rate64(s.mech, p, c, s.batch, false);
      if (*s.variant) w["variant"] = s.variant;
      const RecordJson* r = median_record(rs, w, "msgs_per_s");
      out << " ";
      if (r)
        out << (*r)["msgs_per_s"].get<double>();
      else
        out << "-";
    }
    out << "\n";
  }
}

void write_rates_dat(const std::vector<RecordJson>& rs, const std::string& path) {
  struct Bar {
    const char* title;
    RecordJson where;
  };
  auto v = [](const char* mech, int batch, const char* variant) {
    RecordJson w = rate64(mech, 1, 1, batch, true);
    if (*variant) w["variant"] = variant;
    return w;
  };
  const std::vector<Bar> bars = {
      {"floor", v("floor", 1, "")},
      {"shmq", v("shmq", 1, "")},
      {"shmq b10", v("shmq", 10, "send_batch+remove")},
      {"UDS", v("uds", 1, "")},
      {"POSIX mq", v("posix-mq", 1, "")},
      {"Boost mq", v("boost-mq", 1, "")},
      {"Redis", v("redis", 1, "")},
      {"Redis pipelined", v("redis", 64, "pipelined")},
      {"beanstalkd", v("beanstalkd", 1, "")},
      {"beanstalkd pipelined", v("beanstalkd", 64, "pipelined")},
  };
  std::ofstream out(path);
  out << "mechanism rate regime\n";
  for (const auto& b : bars) {
    const RecordJson* r = median_record(rs, b.where, "msgs_per_s");
    out << "\"" << b.title << "\" ";
    if (r)
      out << (*r)["msgs_per_s"].get<double>() << " " << r->value("regime", std::string("?"));
    else
      out << "- -";
    out << "\n";
  }
}

}  // namespace

void write_plot_data(const std::vector<RecordJson>& rs, const std::string& dir) {
  write_latency_dat(rs, dir + "/latency.dat");
  write_size_dat(rs, dir + "/latency_size.dat");
  write_throughput_dat(rs, dir + "/throughput.dat");
  write_rates_dat(rs, dir + "/rates.dat");
}

}  // namespace shmq::bench
