// shmq-journal-bench: what durability costs, measured against the disk it
// runs on, in one run (issue 5's targets):
//   1. the disk's own fdatasync rate: 4 KiB pwrite + fdatasync, in a loop;
//   2. sync sends with 1, 4, 16, 64 concurrent senders (threads, one lane
//      each): throughput, p50, p99; a drainer thread receives and deletes;
//   3. send + receive + delete cycles on a memory and an async queue.
// It starts its own broker (data directory under --dir, so the journal sits
// on the disk measured in step 1).
//
//   shmq-journal-bench --dir /var/tmp/jb --seconds 2 [--senders 1,4,16,64]
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <sys/mman.h>

#include "broker/journal/journal.h"
#include "broker/journal/replay.h"
#include "shm/restore.h"
#include "shm/segment.h"
#include "shmq/client.h"

namespace {

using Clock = std::chrono::steady_clock;

double pct(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, size_t(p * double(v.size())))];
}

struct SyncRate {
  double per_s = 0, p50_us = 0;
};

// 4 KiB pwrite + fdatasync at successive offsets. With prewritten, the file
// was written and synced first, so each fdatasync flushes data only (what
// the journal's appends into an already-written page cost); without, each
// write also converts a fallocated extent, which costs a metadata commit.
SyncRate measure_fdatasync(const std::string& dir, double seconds, bool prewritten) {
  const std::string path = dir + "/fdatasync-probe";
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
  constexpr off_t kSize = 16 << 20;
  posix_fallocate(fd, 0, kSize);
  if (prewritten) {
    std::vector<char> zeros(1 << 20, 0);
    for (off_t o = 0; o < kSize; o += off_t(zeros.size()))
      if (pwrite(fd, zeros.data(), zeros.size(), o) < 0) break;
  }
  fsync(fd);
  std::vector<double> lat;
  char buf[4096] = {1};
  const auto end = Clock::now() + std::chrono::duration<double>(seconds);
  off_t off = 0;
  auto start = Clock::now();
  while (Clock::now() < end) {
    auto t0 = Clock::now();
    if (pwrite(fd, buf, sizeof(buf), off) != ssize_t(sizeof(buf)) || fdatasync(fd) != 0) break;
    lat.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    off = (off + 4096) % kSize;
  }
  const double el = std::chrono::duration<double>(Clock::now() - start).count();
  close(fd);
  unlink(path.c_str());
  return {double(lat.size()) / el, pct(lat, 0.5)};
}

pid_t start_broker(const std::string& broker, const std::string& dir, const std::string& socket, bool posix) {
  pid_t pid = fork();
  if (pid == 0) {
    const std::string data = dir + "/data";
    std::vector<const char*> args = {broker.c_str(), "--socket", socket.c_str(), "--data-dir", data.c_str(),
                                     "--log-level", "warn", "--slots", "65536,1024,16,2"};
    if (posix) args.push_back("--journal-posix");
    args.push_back(nullptr);
    execv(broker.c_str(), const_cast<char* const*>(args.data()));
    _exit(127);
  }
  for (int i = 0; i < 500; ++i) {
    if (shmq::Client::connect(socket).ok()) return pid;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::fprintf(stderr, "the broker did not start\n");
  kill(pid, SIGKILL);
  exit(1);
}

struct SendRun {
  double per_s = 0, p50_us = 0, p99_us = 0;
  uint64_t failed = 0;
};

// batch > 1: each sender calls send_batch with that many entries (one
// group-commit wait per call); rates count messages, latency is per call.
SendRun run_sync_senders(shmq::Client& client, const std::string& queue, int senders, double seconds, int batch) {
  auto q = client.open_queue(queue).value();
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> failed{0};
  std::vector<std::vector<double>> lat;
  lat.resize(size_t(senders));
  std::vector<std::thread> ts;
  const std::string body(100, 'x');
  std::atomic<uint64_t> sent{0};
  for (int s = 0; s < senders; ++s)
    ts.emplace_back([&, s] {
      std::vector<shmq::SendBatchEntry> entries(static_cast<size_t>(batch));
      for (int i = 0; i < batch; ++i) {
        entries[size_t(i)].id = "e" + std::to_string(i);
        entries[size_t(i)].body = body;
      }
      while (!stop.load(std::memory_order_relaxed)) {
        auto t0 = Clock::now();
        size_t ok = 0;
        if (batch == 1) {
          ok = q->send(body).ok() ? 1 : 0;
        } else if (auto r = q->send_batch(entries); r.ok()) {
          ok = r->successful.size();
        }
        if (ok == 0) {
          ++failed;
          continue;
        }
        sent += ok;
        lat[size_t(s)].push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
      }
    });
  std::thread drainer([&] {  // keeps the queue from filling up
    shmq::Message m[10];
    while (!stop.load(std::memory_order_relaxed)) {
      auto n = q->receive(m, {.max_messages = 10, .wait_time_seconds = 0, .visibility_timeout = 600});
      if (!n.ok() || *n == 0) {
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        continue;
      }
      for (size_t i = 0; i < *n; ++i) (void)q->remove(m[i].receipt_handle);
    }
  });
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop.store(true);
  for (auto& t : ts) t.join();
  drainer.join();
  std::vector<double> all;
  for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  SendRun r;
  r.per_s = double(sent.load()) / seconds;
  r.p50_us = pct(all, 0.5);
  r.p99_us = pct(all, 0.99);
  r.failed = failed.load();
  (void)client.purge_queue(queue);
  return r;
}

// The broker's journal counters so far: batches (each one write +
// fdatasync) and the time spent writing them.
struct JournalCounters {
  uint64_t batches = 0, write_micros = 0;
};
JournalCounters journal_counters(shmq::Client& client) {
  auto s = client.stats();
  if (!s.ok()) return {};
  auto j = nlohmann::json::parse(*s, nullptr, false).value("journal", nlohmann::json::object());
  return {j.value("batches", uint64_t{0}), j.value("write_micros", uint64_t{0})};
}

double run_cycles(shmq::Client& client, const std::string& queue, double seconds) {
  auto q = client.open_queue(queue).value();
  const std::string body(100, 'y');
  uint64_t n = 0;
  shmq::Message m[1];
  const auto end = Clock::now() + std::chrono::duration<double>(seconds);
  auto start = Clock::now();
  while (Clock::now() < end) {
    for (int i = 0; i < 256; ++i) {
      if (!q->send(body).ok()) continue;
      auto got = q->receive(m, {.max_messages = 1, .wait_time_seconds = 0, .visibility_timeout = 600});
      if (got.ok() && *got == 1 && q->remove(m[0].receipt_handle).ok()) ++n;
    }
  }
  return double(n) / std::chrono::duration<double>(Clock::now() - start).count();
}

// Recovery at scale: journal n 100-byte sends (a tenth of them deleted
// again), then time what a broker start does with them: read and replay the
// journal, then put the live messages back into a segment of n slots.
int run_recovery(const std::string& dir, uint64_t n) {
  using namespace shmq;
  journal::JournalOptions o;
  o.dir = dir + "/journal";
  {
    auto j = journal::Journal::open(o, nullptr);
    if (!j.ok()) return std::fprintf(stderr, "%s\n", j.status().to_string().c_str()), 1;
    const std::string body(100, 'r');
    std::string batch;
    uint64_t last = 0;
    for (uint64_t i = 0; i < n; ++i) {
      journal::SendRecord r;
      r.queue_uid = 1;
      r.slot = uint32_t(i);
      r.incarnation = 1;
      r.sent_epoch_ms = 1;
      r.body = body;
      journal::append_record(r, &batch);
      if (i % 10 == 9)
        journal::append_record(journal::RecordType::kDelete, journal::encode(journal::DeleteRecord{1, uint32_t(i), 1}),
                               &batch);
      if (batch.size() > (1u << 20)) {
        last = (*j)->append_batch(&batch);
      }
    }
    last = (*j)->append_batch(&batch);
    if (!(*j)->wait_durable(last).ok()) return 1;
  }
  // The files are read from the page cache (dropping it would slow the
  // other users of this machine); a cold read adds the disk's read time.
  const auto t0 = Clock::now();
  journal::Replay replay;
  journal::RecoveryStats rs;
  auto j = journal::Journal::open(o, [&](const journal::ScannedRecord& r) { return replay.apply(r); }, &rs);
  if (!j.ok()) return std::fprintf(stderr, "%s\n", j.status().to_string().c_str()), 1;
  const auto t1 = Clock::now();
  shm::Geometry g;
  g.counts[0] = uint32_t(n);
  const size_t size = shm::segment_size(g, false);
  void* mem = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  shm::SegmentView v = shm::format_segment(mem, size, g, 1, false, 42);
  v.header->config.retention_s.store(345600);
  std::vector<shm::RestoredMessage> msgs;
  msgs.reserve(n);
  for (auto& [slot, m] : replay.queues()[1].slots) {
    if (m.deleted) continue;
    shm::RestoredMessage r;
    r.slot = slot;
    r.incarnation = m.incarnation;
    r.body = m.body;
    r.sent_epoch_ms = m.sent_epoch_ms;
    msgs.push_back(r);
  }
  Status s = shm::restore_messages(v, msgs, replay.queues()[1].max_incarnation);
  const auto t2 = Clock::now();
  std::printf("recovery of %llu journaled sends (%llu records, %llu files): read+replay %.2f s, restore %zu "
              "messages into the segment %.2f s, total %.2f s%s\n",
              static_cast<unsigned long long>(n), static_cast<unsigned long long>(rs.records),
              static_cast<unsigned long long>(rs.files), std::chrono::duration<double>(t1 - t0).count(), msgs.size(),
              std::chrono::duration<double>(t2 - t1).count(), std::chrono::duration<double>(t2 - t0).count(),
              s.ok() ? "" : (" FAILED: " + s.to_string()).c_str());
  munmap(mem, size);
  return s.ok() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = "/var/tmp/shmq-journal-bench";
  std::string broker = SHMQ_BROKER_PATH;
  double seconds = 2;
  std::vector<int> senders = {1, 4, 16, 64};
  CLI::App app{"shmq-journal-bench: sync/async send cost against the disk's fdatasync rate"};
  app.add_option("--dir", dir, "scratch directory on the disk to measure")->capture_default_str();
  app.add_option("--broker", broker, "shmq-broker binary")->capture_default_str();
  app.add_option("--seconds", seconds, "length of each run")->capture_default_str();
  app.add_option("--senders", senders, "concurrent sync senders per run")->delimiter(',')->capture_default_str();
  int batch = 1;
  app.add_option("--batch", batch, "messages per sync send call (send_batch when > 1)")
      ->check(CLI::Range(1, 10))
      ->capture_default_str();
  bool posix = false;
  app.add_flag("--journal-posix", posix, "the broker writes its journal with pwrite + fdatasync, not io_uring");
  uint64_t recovery = 0;
  app.add_option("--recovery", recovery, "instead: time the recovery of this many journaled messages");
  CLI11_PARSE(app, argc, argv);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  if (recovery) {
    int rc = run_recovery(dir, recovery);
    std::filesystem::remove_all(dir);
    return rc;
  }

  SyncRate fresh = measure_fdatasync(dir, seconds, false);
  SyncRate disk = measure_fdatasync(dir, seconds, true);
  std::printf("disk: %.0f fdatasync/s, p50 %.0f us (4 KiB pwrite + fdatasync over written blocks; each row "
              "below is measured against its own probes)\n",
              disk.per_s, disk.p50_us);
  std::printf("disk: %.0f fdatasync/s, p50 %.0f us (over fallocated, never written blocks)\n", fresh.per_s,
              fresh.p50_us);

  const std::string socket = dir + "/broker.sock";
  pid_t pid = start_broker(broker, dir, socket, posix);
  auto client = shmq::Client::connect(socket).value();
  (void)client->create_queue("sync", {{"Durability", "sync"}});
  (void)client->create_queue("async", {{"Durability", "async"}});
  (void)client->create_queue("memory", {{"Durability", "memory"}});

  if (batch > 1) std::printf("\nsync send_batch of %d messages per call (sends/s counts messages; latency per call)\n", batch);
  // The disk's fdatasync rate drifts by 2-10x from one second to the next
  // on this machine class (shared virtual disk): each row's ratios are to
  // the mean of a probe just before and one just after it.
  std::printf("\n| sync senders | sends/s | fdatasync/s before / after | x fdatasync rate | p50 us | p99 us | "
              "p50 / fdatasync p50 | failed | sends per journal batch | us per batch write |\n");
  std::printf("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (int n : senders) {
    const SyncRate pre = measure_fdatasync(dir, seconds / 2, true);
    const JournalCounters before = journal_counters(*client);
    SendRun r = run_sync_senders(*client, "sync", n, seconds, batch);
    const JournalCounters after = journal_counters(*client);
    const SyncRate post = measure_fdatasync(dir, seconds / 2, true);
    const double rate = (pre.per_s + post.per_s) / 2, p50 = (pre.p50_us + post.p50_us) / 2;
    const double batches = double(after.batches - before.batches);
    std::printf("| %d | %.0f | %.0f / %.0f | %.1f | %.0f | %.0f | %.2f | %llu | %.1f | %.0f |\n", n, r.per_s,
                pre.per_s, post.per_s, r.per_s / rate, r.p50_us, r.p99_us, r.p50_us / p50,
                static_cast<unsigned long long>(r.failed),
                batches > 0 ? r.per_s * seconds / batches : 0.0,
                batches > 0 ? double(after.write_micros - before.write_micros) / batches : 0.0);
    std::fflush(stdout);
    // Drained messages were purged; let the clock allow the next purge.
  }
  const double mem = run_cycles(*client, "memory", seconds);
  const double async = run_cycles(*client, "async", seconds);
  std::printf("\nsend+receive+delete, 1 thread, 100 B: memory %.0f/s, async %.0f/s (async/memory %.2f)\n", mem,
              async, async / mem);
  client.reset();
  kill(pid, SIGTERM);
  waitpid(pid, nullptr, 0);
  std::filesystem::remove_all(dir);
  return 0;
}
