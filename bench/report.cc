#include "bench/report.h"

#include <cstdio>
#include <string>
#include <vector>

#include "bench/plot_data.h"
#include "bench/record_query.h"

namespace shmq::bench {
namespace {

using json = RecordJson;

// rate64 narrowed to a receiver kind ("" any).
json rate(const std::string& mech, int p, int c, int batch, bool pin, const std::string& receiver) {
  json w = rate64(mech, p, c, batch, pin);
  if (!receiver.empty()) w["receiver"] = receiver;
  return w;
}

// Figures compare fairly only within one regime (measured-here.md).
bool same_regime(const json& a, const json& b) {
  const std::string ra = a.value("regime", std::string()), rb = b.value("regime", std::string());
  return ra == rb && (ra == "fast" || ra == "slow");
}

std::string fmt_ns(double ns) {
  char b[32];
  if (ns >= 1e6)
    std::snprintf(b, sizeof b, "%.2f ms", ns / 1e6);
  else if (ns >= 1e4)
    std::snprintf(b, sizeof b, "%.1f us", ns / 1e3);
  else
    std::snprintf(b, sizeof b, "%.0f ns", ns);
  return b;
}

std::string fmt_rate(double r) {
  char b[32];
  if (r >= 1e6)
    std::snprintf(b, sizeof b, "%.2f M/s", r / 1e6);
  else
    std::snprintf(b, sizeof b, "%.1f k/s", r / 1e3);
  return b;
}

std::string fmt_x(double x) {
  char b[32];
  std::snprintf(b, sizeof b, x >= 100 ? "%.0fx" : x >= 10 ? "%.1fx" : "%.2fx", x);
  return b;
}

std::string regime(const json& r) {
  return r.value("regime", std::string("?")) + " (" +
         std::to_string(r.value("probe_before_ns", 0)) + "/" +
         std::to_string(r.value("probe_after_ns", 0)) + " ns)";
}

void print_figures(const std::vector<json>& rs) {
  std::printf(
      "### Latency (ns)\n\n| mechanism | metric | receiver | size | pin | p50 | p90 | p99 | "
      "p99.9 | p99.99 | max | samples | regime (probe before/after) |\n"
      "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (const auto& r : rs) {
    if (r.value("mode", std::string()) != "latency" || !r.value("skipped", std::string()).empty())
      continue;
    std::printf(
        "| %s | %s | %s | %d | %s | %llu | %llu | %llu | %llu | %llu | %llu | %llu | %s |\n",
        r.value("mechanism", std::string()).c_str(), r.value("metric", std::string()).c_str(),
        r.value("receiver", std::string()).c_str(), r.value("size", 0),
        r.value("pin", false) ? "yes" : "no", (unsigned long long)r.value("p50_ns", 0ULL),
        (unsigned long long)r.value("p90_ns", 0ULL), (unsigned long long)r.value("p99_ns", 0ULL),
        (unsigned long long)r.value("p999_ns", 0ULL), (unsigned long long)r.value("p9999_ns", 0ULL),
        (unsigned long long)r.value("max_ns", 0ULL), (unsigned long long)r.value("samples", 0ULL),
        regime(r).c_str());
  }
  std::printf(
      "\n### Throughput, full cycle (send, receive, delete)\n\n| mechanism | P x C | batch | "
      "variant | receiver | size | pin | msgs/s | lost | regime (probe before/after) |\n"
      "|---|---|---|---|---|---|---|---|---|---|\n");
  for (const auto& r : rs) {
    if (r.value("mode", std::string()) != "throughput" ||
        !r.value("skipped", std::string()).empty())
      continue;
    std::printf("| %s | %dx%d | %d | %s | %s | %d | %s | %s | %lld | %s |\n",
                r.value("mechanism", std::string()).c_str(), r.value("producers", 1),
                r.value("consumers", 1), r.value("batch", 1),
                r.value("variant", std::string()).c_str(),
                r.value("receiver", std::string()).c_str(), r.value("size", 0),
                r.value("pin", false) ? "yes" : "no", fmt_rate(r.value("msgs_per_s", 0.0)).c_str(),
                (long long)r.value("lost", 0LL), regime(r).c_str());
  }
  bool any = false;
  for (const auto& r : rs) {
    if (r.value("skipped", std::string()).empty()) continue;
    if (!any) std::printf("\n### Skipped\n\n");
    any = true;
    std::printf("- %s: %s\n", r.value("mechanism", std::string()).c_str(),
                r.value("skipped", std::string()).c_str());
  }
  std::printf("\n");
}

// Figures compare fairly only within one regime, and the regime flips between
// runs, so run.sh measures the key figures in several rounds. A comparison
// takes, in one regime that both sides ran in (fast first), the median record
// of each side; when there is none, the median of each side over all regimes,
// marked "regimes differ".
struct Pair {
  const json* shmq = nullptr;
  const json* other = nullptr;
  size_t shmq_runs = 0;  // records the median was taken over
  size_t other_runs = 0;
  bool comparable() const { return shmq && other && same_regime(*shmq, *other); }
};

size_t count_in(const std::vector<json>& rs, const json& where, const std::string& regime) {
  size_t n = 0;
  for (const json* r : find_records(rs, where))
    n += regime.empty() || r->value("regime", std::string()) == regime;
  return n;
}

Pair pick(const std::vector<json>& rs, const json& shmq, const json& other, const char* field) {
  for (const std::string regime : {"fast", "slow", ""}) {
    const json* a = median_record(rs, shmq, field, regime);
    const json* b = median_record(rs, other, field, regime);
    if ((a && b) || regime.empty())
      return {a, b, count_in(rs, shmq, regime), count_in(rs, other, regime)};
  }
  return {};
}

std::string regimes(const Pair& p) {
  std::string s = p.shmq->value("regime", std::string("?")) + " / " +
                  p.other->value("regime", std::string("?"));
  if (p.shmq_runs > 1 || p.other_runs > 1)
    s += " (medians of " + std::to_string(p.shmq_runs) + " / " + std::to_string(p.other_runs) + ")";
  return s + (p.comparable() ? "" : " (regimes differ)");
}

// One line of the ratio table: shmq's figure, the other's, and how many
// times better or worse shmq does.
void ratio_row(const std::string& what, const Pair& p, const char* field, bool latency) {
  if (!p.shmq || !p.other) {
    std::printf("| %s | - | - | - | not measured |\n", what.c_str());
    return;
  }
  const double a = (*p.shmq)[field].get<double>(), b = (*p.other)[field].get<double>();
  // > 1: shmq better (lower latency, higher rate).
  const double better = latency ? (a > 0 ? b / a : 0) : (b > 0 ? a / b : 0);
  const std::string verdict =
      better >= 1 ? fmt_x(better) + (latency ? " faster" : " more")
                  : fmt_x(better > 0 ? 1 / better : 0) + (latency ? " slower" : " less");
  std::printf("| %s | %s | %s | shmq %s | %s |\n", what.c_str(),
              latency ? fmt_ns(a).c_str() : fmt_rate(a).c_str(),
              latency ? fmt_ns(b).c_str() : fmt_rate(b).c_str(), verdict.c_str(),
              regimes(p).c_str());
}

json with_variant(json w, const char* variant) {
  w["variant"] = variant;
  return w;
}

// The shmq records the comparisons use.
const json kShmqOneWay = latency64("shmq", "oneway", "spin");
const json kShmqCycle = latency64("shmq", "cycle", "spin");
const json kShmqPingPong = latency64("shmq", "pingpong", "spin");
const json kShmqLongPoll = latency64("shmq", "oneway", "poll");
const json kShmq1x1 = rate("shmq", 1, 1, 1, true, "spin");
const json kShmq1x1Batch10 =
    with_variant(rate("shmq", 1, 1, 10, true, "spin"), "send_batch+remove");
const json kFloorStream = rate("floor", 1, 1, 1, true, "");

void print_ratios(const std::vector<json>& rs) {
  std::printf(
      "### shmq against the floor and each peer (64 B, pinned)\n\n"
      "p50 latencies and full-cycle rates; the ratio says how many times faster "
      "(or more messages/s) shmq is, or slower.\n\n"
      "| comparison | shmq | other | ratio | regimes (shmq / other) |\n|---|---|---|---|---|\n");
  auto lat = [&](const std::string& what, const json& shmq, const json& other) {
    ratio_row(what, pick(rs, shmq, other, "p50_ns"), "p50_ns", true);
  };
  auto thr = [&](const std::string& what, const json& shmq, const json& other) {
    ratio_row(what, pick(rs, shmq, other, "msgs_per_s"), "msgs_per_s", false);
  };
  lat("one-way p50 vs floor one-way", kShmqOneWay, latency64("floor", "oneway", "spin"));
  lat("cycle (incl. delete) p50 vs floor one-way", kShmqCycle,
      latency64("floor", "oneway", "spin"));
  lat("ping-pong p50 vs floor ping-pong", kShmqPingPong, latency64("floor", "pingpong", "spin"));
  for (std::string peer : {"uds", "posix-mq", "boost-mq", "redis", "beanstalkd"})
    lat("ping-pong p50 vs " + peer + " ping-pong (blocking)", kShmqPingPong,
        latency64(peer, "pingpong", "poll"));
  for (std::string peer : {"uds", "posix-mq", "boost-mq"})
    lat("ping-pong p50 vs " + peer + " ping-pong (non-blocking, spinning)", kShmqPingPong,
        latency64(peer, "pingpong", "spin"));
  lat("long-poll wake one-way p50 vs bare futex wake", kShmqLongPoll,
      latency64("futex", "wake", "poll"));
  thr("1x1 cycle rate vs floor stream", kShmq1x1, kFloorStream);
  thr("1x1 batch 10 (send_batch) rate vs floor stream", kShmq1x1Batch10, kFloorStream);
  for (std::string peer : {"uds", "posix-mq", "boost-mq", "redis", "beanstalkd"})
    thr("1x1 cycle rate vs " + peer + " (one at a time)", kShmq1x1, rate(peer, 1, 1, 1, true, ""));
  for (std::string peer : {"redis", "beanstalkd"})
    thr("1x1 batch 10 rate vs " + peer + " pipelined (64)", kShmq1x1Batch10,
        with_variant(rate(peer, 1, 1, 64, true, ""), "pipelined"));
  std::printf("\n");
}

// A target is a ratio between a shmq figure and another's, with a bound.
struct Target {
  std::string name;
  json shmq;
  json other;
  const char* field;
  bool latency;
  enum Ratio { kShmqOverOther, kOtherOverShmq } ratio;
  double limit;
  bool at_most;  // met when ratio <= limit (else >= limit)
};

void print_target(const std::vector<json>& rs, const Target& t) {
  const Pair p = pick(rs, t.shmq, t.other, t.field);
  if (!p.shmq || !p.other) {
    std::printf("| %s | - | - | not measured | |\n", t.name.c_str());
    return;
  }
  const double a = (*p.shmq)[t.field].get<double>(), b = (*p.other)[t.field].get<double>();
  const double x = t.ratio == Target::kShmqOverOther ? (b > 0 ? a / b : 0) : (a > 0 ? b / a : 0);
  const bool met = t.at_most ? x <= t.limit : x >= t.limit;
  std::string shown =
      t.latency ? fmt_ns(a) + " vs " + fmt_ns(b) : fmt_rate(a) + " vs " + fmt_rate(b);
  std::printf("| %s | %s | %s | **%s** | %s |\n", t.name.c_str(), shown.c_str(), fmt_x(x).c_str(),
              met ? "met" : "missed", regimes(p).c_str());
}

void print_targets(const std::vector<json>& rs) {
  std::printf(
      "### Issue 3 targets in this run\n\n| target | figures (shmq vs other) | ratio | "
      "verdict | regimes (shmq / other) |\n|---|---|---|---|---|\n");
  auto unpinned_b10 = [](int pc) {
    return with_variant(rate("shmq", pc, pc, 10, false, "spin"), "send_batch+remove");
  };
  const auto S = Target::kShmqOverOther, O = Target::kOtherOverShmq;
  const std::vector<Target> targets = {
      {"one-way p50 incl. delete <= 3x floor one-way (shmq / floor)", kShmqCycle,
       latency64("floor", "oneway", "spin"), "p50_ns", true, S, 3.0, true},
      {"1x1 unbatched >= 10% of floor stream (shmq / floor)", kShmq1x1, kFloorStream, "msgs_per_s",
       false, S, 0.10, false},
      {"1x1 batch 10 (send_batch) >= 35% of floor stream (shmq / floor)", kShmq1x1Batch10,
       kFloorStream, "msgs_per_s", false, S, 0.35, false},
      {"1x1 unbatched >= 500x Redis one at a time", kShmq1x1, rate("redis", 1, 1, 1, true, ""),
       "msgs_per_s", false, S, 500, false},
      {"1x1 unbatched >= 500x beanstalkd one at a time", kShmq1x1,
       rate("beanstalkd", 1, 1, 1, true, ""), "msgs_per_s", false, S, 500, false},
      {"1x1 batch 10 >= 20x Redis pipelined (64)", kShmq1x1Batch10,
       with_variant(rate("redis", 1, 1, 64, true, ""), "pipelined"), "msgs_per_s", false, S, 20,
       false},
      {"1x1 batch 10 >= 20x beanstalkd pipelined (64)", kShmq1x1Batch10,
       with_variant(rate("beanstalkd", 1, 1, 64, true, ""), "pipelined"), "msgs_per_s", false, S,
       20, false},
      {"p50 >= 100x lower than UDS ping-pong (UDS / shmq, both ping-pong / 2)", kShmqPingPong,
       latency64("uds", "pingpong", "poll"), "p50_ns", true, O, 100, false},
      {"long-poll wake p50 <= 1.2x bare futex wake (shmq / futex)", kShmqLongPoll,
       latency64("futex", "wake", "poll"), "p50_ns", true, S, 1.2, true},
      {"2x2 unpinned batch 10 >= half of 1x1 unpinned batch 10 (2x2 / 1x1)", unpinned_b10(2),
       unpinned_b10(1), "msgs_per_s", false, S, 0.5, false},
  };
  for (const auto& t : targets) print_target(rs, t);
  std::printf("\n");
}

}  // namespace

int run_report(const std::vector<std::string>& files, const std::string& plot_dir) {
  const std::vector<json> rs = load_records(files);
  if (rs.empty()) {
    std::fprintf(stderr, "shmq-bench report: no records in the given files\n");
    return 1;
  }
  print_targets(rs);
  print_ratios(rs);
  print_figures(rs);
  if (!plot_dir.empty()) {
    write_plot_data(rs, plot_dir);
  }
  return 0;
}

}  // namespace shmq::bench
