// The measuring loops, written once for every mechanism (floor_mechanism.h
// describes the interface a mechanism provides). Each function forks the
// processes of one run (team.h), and returns the run's records without the
// probe fields (probe.h brackets them).
//
//  one_way     producer stamps the send time in the body and sends (it also
//              times the send call itself: sample "send_call"); the consumer
//              receives, reads the stamp (sample "oneway"), finishes
//              (deletes), reads the clock again (sample "cycle") and acks
//              through shared memory; the producer sends the next message only
//              after the ack, so the figure is latency, not queueing.
//  ping_pong   two channels; the initiator times the round trip and records
//              half of it; the echoer receives, copies, finishes, sends back.
//  throughput  P producers x C consumers on one channel; consumers finish
//              (delete) everything; messages/s counted by the consumers in a
//              window that opens after the warm-up and closes at the stop.
#pragma once

#include <algorithm>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "bench/clock.h"
#include "bench/options.h"
#include "bench/payload.h"
#include "bench/record.h"
#include "bench/shared_memory.h"
#include "bench/team.h"

namespace shmq::bench {

namespace detail {

inline int producer_cpu(const Options& o, int i) { return o.pin ? i % 2 : -1; }
inline int consumer_cpu(const Options& o, int j) { return o.pin ? (j + 1) % 2 : -1; }

inline TeamLimits limits(const Options& o, const std::string& label, double warmup_s) {
  return TeamLimits{label, o.duration_s, warmup_s, o.timeout_s};
}

// True when a latency loop that has sent `seq` messages should stop.
inline bool latency_done(const Team& t, const Options& o, uint64_t seq, uint64_t warmup) {
  if (o.messages && seq >= warmup + o.messages) return true;
  return t.stop.load(std::memory_order_relaxed) != 0;
}

inline uint64_t elapsed(uint64_t from, uint64_t to) { return to > from ? to - from : 0; }

// Latency warm-up: message `seq`, sent at `send_ns`, is measured once either
// the warm-up count or the warm-up time since go is behind it.
class Warmup {
 public:
  Warmup(const Options& o, uint64_t t_go)
      : count_(latency_warmup(o)), until_ns_(t_go + uint64_t(o.warmup_s * 1e9)) {}
  bool over(uint64_t seq, uint64_t send_ns) const { return seq >= count_ || send_ns >= until_ns_; }

 private:
  uint64_t count_;
  uint64_t until_ns_;
};

inline void report_progress(Team& t, int role, uint64_t n) {
  if ((n & 1023) == 0) t.progress[role].value.store(n, std::memory_order_relaxed);
}

template <class Receiver>
size_t receive_some(Receiver& rx, size_t max) {
  size_t n;
  SpinWait spin;
  while ((n = rx.receive(max)) == 0) spin.wait();
  return n;
}

inline void wait_for_ack(const Team& t, uint64_t value) {
  SpinWait spin;
  while (t.ack.load(std::memory_order_acquire) != value) spin.wait();
}

}  // namespace detail

namespace detail {

// Sends stamped messages one at a time, each only after the consumer acked
// the previous one; times its own send calls.
template <class M>
Role one_way_producer(M& m, const Options& o) {
  return Role{"producer", producer_cpu(o, 0), [&m, &o](Team& t, int self) {
                auto tx = m.sender(0);
                std::string& body = tx.buffer(0);
                Histogram send_call;
                const Warmup warm(o, arrive_and_wait(t));
                uint64_t seq = 0;
                for (; !latency_done(t, o, seq, latency_warmup(o)); ++seq) {
                  if (o.gap_ns) spin_until_ns(now_ns() + o.gap_ns);
                  const uint64_t start = now_ns();
                  stamp(body.data(), start, seq);
                  tx.send(1);
                  if (warm.over(seq, start)) send_call.record(now_ns() - start);
                  wait_for_ack(t, seq + 1);
                  report_progress(t, self, seq);
                }
                t.hist[2] = send_call;
                make_terminator(body.data());
                tx.send(1);
              }};
}

// Receives, records send -> received (hist 0) and send -> finished (hist 1), acks.
template <class M>
Role one_way_consumer(M& m, const Options& o) {
  return Role{"consumer", consumer_cpu(o, 0), [&m, &o](Team& t, int) {
                auto rx = m.receiver(0);
                Histogram one, cycle;
                const Warmup warm(o, arrive_and_wait(t));
                for (;;) {
                  receive_some(rx, 1);
                  const uint64_t received = now_ns();
                  const Stamp s = read_stamp(rx.body(0));
                  rx.finish();
                  const uint64_t finished = M::kHasLease ? now_ns() : received;
                  if (s.terminator) break;
                  if (warm.over(s.seq, s.send_ns)) {
                    one.record(elapsed(s.send_ns, received));
                    cycle.record(elapsed(s.send_ns, finished));
                  }
                  t.ack.store(s.seq + 1, std::memory_order_release);
                }
                t.hist[0] = one;
                t.hist[1] = cycle;
              }};
}

// Sends on channel 0, waits for the echo on channel 1, records half the round trip.
template <class M>
Role ping_pong_initiator(M& m, const Options& o) {
  return Role{"initiator", producer_cpu(o, 0), [&m, &o](Team& t, int self) {
                auto tx = m.sender(0);
                auto rx = m.receiver(1);
                std::string& body = tx.buffer(0);
                Histogram half;
                const Warmup warm(o, arrive_and_wait(t));
                for (uint64_t seq = 0; !latency_done(t, o, seq, latency_warmup(o)); ++seq) {
                  const uint64_t start = now_ns();
                  stamp(body.data(), start, seq);
                  tx.send(1);
                  receive_some(rx, 1);
                  rx.finish();
                  const uint64_t back = now_ns();
                  if (warm.over(seq, start)) half.record(elapsed(start, back) / 2);
                  report_progress(t, self, seq);
                }
                make_terminator(body.data());
                tx.send(1);
                t.hist[0] = half;
              }};
}

// Receives on channel 0, copies, finishes (deletes), sends the copy back on 1.
template <class M>
Role ping_pong_echoer(M& m, const Options& o) {
  return Role{"echoer", consumer_cpu(o, 0), [&m](Team& t, int) {
                auto rx = m.receiver(0);
                auto tx = m.sender(1);
                std::string& reply = tx.buffer(0);
                arrive_and_wait(t);
                for (;;) {
                  receive_some(rx, 1);
                  const std::string_view body = rx.body(0);
                  const bool last = is_terminator(body);
                  std::memcpy(reply.data(), body.data(), std::min(body.size(), reply.size()));
                  rx.finish();
                  if (last) break;
                  tx.send(1);
                }
              }};
}

}  // namespace detail

template <class M>
std::vector<Record> one_way(M& m, const Options& o) {
  SharedObject<Team> team;
  run_team(*team, {detail::one_way_producer(m, o), detail::one_way_consumer(m, o)},
           detail::limits(o, std::string(M::kName) + " one-way", 0));
  std::vector<Record> out;
  Record r = base_record(o, M::kName, "latency", "oneway");
  fill_percentiles(r, team->hist[0]);
  out.push_back(r);
  if (M::kHasLease) {
    Record c = base_record(o, M::kName, "latency", "cycle");
    fill_percentiles(c, team->hist[1]);
    out.push_back(c);
  }
  Record s = base_record(o, M::kName, "latency", "send_call");
  fill_percentiles(s, team->hist[2]);
  out.push_back(s);
  return out;
}

template <class M>
std::vector<Record> ping_pong(M& m, const Options& o) {
  SharedObject<Team> team;
  run_team(*team, {detail::ping_pong_initiator(m, o), detail::ping_pong_echoer(m, o)},
           detail::limits(o, std::string(M::kName) + " ping-pong", 0));
  Record r = base_record(o, M::kName, "latency", "pingpong");
  fill_percentiles(r, team->hist[0]);
  return {r};
}

namespace detail {

// A consumer's measuring window: opens at the first check after the warm-up,
// closes at the first check after the stop (or at the terminator).
class Window {
 public:
  Window(uint64_t t_go, double warmup_s)
      : opens_at_(t_go + uint64_t(warmup_s * 1e9)), t_go_(t_go) {}
  void check(const Team& t, uint64_t count) {
    const uint64_t now = now_ns();
    if (!open_ && now >= opens_at_) {
      open_ = true;
      r_.window_begin_ns = now;
      r_.window_begin_count = count;
    }
    if (!closed_ && t.stop.load(std::memory_order_relaxed)) close(count, now);
  }
  RoleResult finish(uint64_t count) {
    const uint64_t now = now_ns();
    if (!open_) {  // a run shorter than the warm-up: measure all of it
      r_.window_begin_ns = t_go_;
      r_.window_begin_count = 0;
    }
    if (!closed_) close(count, now);
    r_.total = count;
    return r_;
  }

 private:
  void close(uint64_t count, uint64_t now) {
    closed_ = true;
    r_.window_end_ns = now;
    r_.window_end_count = count;
  }
  uint64_t opens_at_;
  uint64_t t_go_;
  bool open_ = false;
  bool closed_ = false;
  RoleResult r_;
};

}  // namespace detail

namespace detail {

// Producer i of P: sends its share (or until the stop) in batches; the last
// producer to finish sends one terminator per consumer.
template <class M>
Role throughput_producer(M& m, const Options& o, int i) {
  return Role{"producer " + std::to_string(i), producer_cpu(o, i), [&m, &o, i](Team& t, int self) {
                const uint64_t P = uint64_t(o.producers);
                auto tx = m.sender(0);
                const uint64_t quota =
                    o.messages ? o.messages / P + (uint64_t(i) < o.messages % P) : UINT64_MAX;
                arrive_and_wait(t);
                uint64_t sent = 0;
                while (sent < quota && !t.stop.load(std::memory_order_relaxed)) {
                  const size_t n = size_t(std::min<uint64_t>(uint64_t(o.batch), quota - sent));
                  for (size_t k = 0; k < n; ++k)
                    stamp(tx.buffer(k).data(), 0, uint64_t(i) << 48 | (sent + k));
                  tx.send(n);
                  sent += n;
                  t.progress[self].value.store(sent, std::memory_order_relaxed);
                }
                t.results[self].total = sent;
                if (t.producers_done.fetch_add(1, std::memory_order_acq_rel) + 1 == uint32_t(P)) {
                  for (int c = 0; c < o.consumers; ++c) {
                    make_terminator(tx.buffer(0).data());
                    tx.send(1);
                  }
                }
              }};
}

// Consumer j: receives and finishes (deletes) batches until it takes a
// terminator, counting messages in its window.
template <class M>
Role throughput_consumer(M& m, const Options& o, int j) {
  return Role{
      "consumer " + std::to_string(j), consumer_cpu(o, j), [&m, &o](Team& t, int self) {
        auto rx = m.receiver(0);
        Window window(arrive_and_wait(t), o.warmup_s);
        uint64_t count = 0;
        uint64_t terminators = 0;
        // More processes than CPUs: a consumer that finds nothing gives its
        // CPU away after a few empty polls, since a spinning consumer holds a
        // CPU the producers need (4 consumers on 2 CPUs left the producer a
        // fifth of one). Otherwise it spins, as the latency runs do.
        const bool oversubscribed = o.producers + o.consumers > int(std::thread::hardware_concurrency());
        SpinWait idle(oversubscribed ? 32 : 0x4000);
        // A FIFO queue delivers in order only within a group: a terminator
        // (in one group) may overtake messages of other groups, so after it
        // the consumer drains until the queue stays empty for a while.
        const int drain_empties = o.fifo_groups > 0 ? 2000 : 0;
        int empties = 0;
        for (uint64_t iter = 0; terminators == 0 || empties < drain_empties; ++iter) {
          if ((iter & 63) == 0) {
            window.check(t, count);
            t.progress[self].value.store(count, std::memory_order_relaxed);
          }
          if constexpr (requires { rx.stop_waiting(); })
            if (terminators && empties == 0) rx.stop_waiting();  // draining: no long polls
          const size_t n = rx.receive(size_t(o.batch));
          empties = n == 0 ? empties + 1 : 0;
          if (n == 0) idle.wait();
          for (size_t k = 0; k < n; ++k) {
            if (is_terminator(rx.body(k)))
              ++terminators;
            else
              ++count;
          }
          if (n) rx.finish();
        }
        t.results[self] = window.finish(count);
        if (terminators > 1) {  // a batch took another consumer's terminator too: pass it on
          auto tx = m.sender(0);
          for (uint64_t k = 1; k < terminators; ++k) {
            make_terminator(tx.buffer(0).data());
            tx.send(1);
          }
        }
      }};
}

// The rate over the union of the consumers' windows, and the loss check.
inline Record throughput_record(const Team& team, const Options& o, const char* mechanism) {
  const int P = o.producers, C = o.consumers;
  uint64_t sent = 0, received = 0, in_window = 0, begin = UINT64_MAX, end = 0;
  for (int i = 0; i < P; ++i) sent += team.results[i].total;
  for (int j = P; j < P + C; ++j) {
    const RoleResult& r = team.results[j];
    received += r.total;
    in_window += r.window_end_count - r.window_begin_count;
    begin = std::min(begin, r.window_begin_ns);
    end = std::max(end, r.window_end_ns);
  }
  Record r = base_record(o, mechanism, "throughput", "cycle");
  r.samples = in_window;
  r.seconds = end > begin ? double(end - begin) / 1e9 : 0;
  r.msgs_per_s = r.seconds > 0 ? double(in_window) / r.seconds : 0;
  r.lost = int64_t(sent) - int64_t(received);
  return r;
}

}  // namespace detail

template <class M>
std::vector<Record> throughput(M& m, const Options& o) {
  SharedObject<Team> team;
  std::vector<Role> roles;
  for (int i = 0; i < o.producers; ++i) roles.push_back(detail::throughput_producer(m, o, i));
  for (int j = 0; j < o.consumers; ++j) roles.push_back(detail::throughput_consumer(m, o, j));
  const std::string label = std::string(M::kName) + " throughput " + std::to_string(o.producers) +
                            "x" + std::to_string(o.consumers);
  run_team(*team, roles, detail::limits(o, label, o.warmup_s));
  return {detail::throughput_record(*team, o, M::kName)};
}

}  // namespace shmq::bench
