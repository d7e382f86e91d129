#include "bench/futex_wake.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bench/clock.h"
#include "bench/harness.h"
#include "bench/shared_memory.h"
#include "bench/team.h"

namespace shmq::bench {
namespace {

// The waker sets this in the word's top bit to end the run.
constexpr uint32_t kLast = 1u << 31;

void wait_while(std::atomic<uint32_t>* w, uint32_t v) {
  while (w->load(std::memory_order_acquire) == v)
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(w), FUTEX_WAIT, v, nullptr, nullptr, 0);
}

void wake_one(std::atomic<uint32_t>* w) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(w), FUTEX_WAKE, 1, nullptr, nullptr, 0);
}

}  // namespace

std::vector<Record> futex_wake(const Options& o) {
  SharedObject<Team> team;
  const uint64_t warmup = latency_warmup(o);
  // ack = n: the waiter is about to sleep waiting for wake n + 1.
  Role waker{"waker", detail::producer_cpu(o, 0), [&](Team& t, int self) {
               arrive_and_wait(t);
               uint32_t n = 0;
               for (; !detail::latency_done(t, o, n, warmup); ++n) {
                 detail::wait_for_ack(t, n);
                 spin_until_ns(now_ns() + o.gap_ns);
                 t.wake_ns.store(now_ns(), std::memory_order_relaxed);
                 t.futex_word.store(n + 1, std::memory_order_release);
                 wake_one(&t.futex_word);
                 detail::report_progress(t, self, n);
               }
               detail::wait_for_ack(t, n);
               t.futex_word.store(kLast, std::memory_order_release);
               wake_one(&t.futex_word);
             }};
  Role waiter{"waiter", detail::consumer_cpu(o, 0), [&](Team& t, int) {
                Histogram h;
                const detail::Warmup warm(o, arrive_and_wait(t));
                for (uint32_t n = 0;; ++n) {
                  t.ack.store(n, std::memory_order_release);
                  wait_while(&t.futex_word, n);
                  const uint64_t woke = now_ns();
                  if (t.futex_word.load(std::memory_order_acquire) == kLast) break;
                  const uint64_t sent = t.wake_ns.load(std::memory_order_relaxed);
                  if (warm.over(n, sent)) h.record(detail::elapsed(sent, woke));
                }
                t.hist[0] = h;
              }};
  run_team(*team, {waker, waiter}, detail::limits(o, "futex wake", 0));
  Record r = base_record(o, "futex", "latency", "wake");
  r.receiver = "poll";
  fill_percentiles(r, team->hist[0]);
  return {r};
}

}  // namespace shmq::bench
