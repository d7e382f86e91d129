// Google Benchmark micro-benchmarks of the shared-memory primitives, in one
// process on one core: ring push/pop, the slot transitions of a full
// send -> receive -> delete cycle, and the receipt-handle text form.
// Cross-core figures come from shmq-bench; these isolate the instruction cost.
#include <sys/mman.h>

#include <charconv>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "shm/fifo.h"
#include "shm/queue_batch.h"
#include "shm/queue_ops.h"
#include "shm/repair.h"
#include "shm/ring.h"
#include "shm/segment.h"
#include "shmq/client.h"

namespace shmq::shm {
namespace {

struct Fixture {
  explicit Fixture(bool fifo = false) {
    Geometry g;
    g.counts[0] = 1024;
    g.counts[1] = 16;
    g.counts[2] = 4;
    g.counts[3] = 1;
    size = segment_size(g, fifo);
    base = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    v = format_segment(base, size, g, 1, fifo, 99);
    v.header->config.visibility_timeout_s = 30;
    v.header->config.retention_s = 345600;
    v.header->config.max_message_size = 1048576;
    v.lanes[1].owner = 2;
  }
  ~Fixture() { munmap(base, size); }
  size_t size;
  void* base;
  SegmentView v;
};

void BM_RingPushPop(benchmark::State& state) {
  std::vector<Cell> cells(1024);
  for (uint64_t i = 0; i < cells.size(); ++i) cells[i].seq.store(i);
  RingPositions pos{};
  RingView r{&pos, cells.data(), cells.size() - 1, 0};
  Lane lane{};
  uint64_t v;
  for (auto _ : state) {
    ring_push(r, lane, 42, [] {});
    ring_pop(r, lane, &v, [](uint64_t) {});
    benchmark::DoNotOptimize(v);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RingPushPop);

void BM_SendReceiveDelete(benchmark::State& state) {
  Fixture f;
  std::string body(size_t(state.range(0)), 'x');
  SendInput in;
  in.body = body;
  Delivery d;
  Lane& lane = f.v.lanes[1];
  for (auto _ : state) {
    send_message(f.v, lane, in, nullptr);
    receive_messages(f.v, lane, 30000, 1, &d);
    delete_message(f.v, lane, {d.slot, d.gen, d.incarnation});
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SendReceiveDelete)->Arg(64)->Arg(200);

void BM_SendReceiveDeleteBatch10(benchmark::State& state) {
  Fixture f;
  std::string body(64, 'x');
  SendInput in;
  in.body = body;
  Delivery d[10];
  Lane& lane = f.v.lanes[1];
  for (auto _ : state) {
    for (int i = 0; i < 10; ++i) send_message(f.v, lane, in, nullptr);
    size_t n = receive_messages(f.v, lane, 30000, 10, d);
    for (size_t i = 0; i < n; ++i) delete_message(f.v, lane, {d[i].slot, d[i].gen, d[i].incarnation});
  }
  state.SetItemsProcessed(state.iterations() * 10);
}
BENCHMARK(BM_SendReceiveDeleteBatch10);

// The same ten messages through the batched steps (queue_batch.h): one claim
// per ring per batch, one wake-up check per batch.
void BM_SendReceiveDeleteBatched10(benchmark::State& state) {
  Fixture f;
  std::string body(64, 'x');
  SendInput in[10];
  for (auto& i : in) i.body = body;
  Delivery d[10];
  HandleRef h[10];
  Status st[10];
  Lane& lane = f.v.lanes[1];
  for (auto _ : state) {
    send_messages(f.v, lane, in, 10, nullptr, st);
    size_t n = receive_messages(f.v, lane, 30000, 10, d);
    for (size_t i = 0; i < n; ++i) h[i] = {d[i].slot, d[i].gen, d[i].incarnation};
    delete_messages(f.v, lane, h, n, st);
  }
  state.SetItemsProcessed(state.iterations() * 10);
}
BENCHMARK(BM_SendReceiveDeleteBatched10);

// The FIFO cycle, one message group per iteration out of state.range(0),
// with a unique dedup id per message (the dedup table's cost included).
void BM_FifoSendReceiveDelete(benchmark::State& state) {
  Fixture f(true);
  std::string body(64, 'x');
  SendInput in;
  in.body = body;
  Delivery d;
  Lane& lane = f.v.lanes[1];
  std::vector<std::string> groups;
  for (int g = 0; g < state.range(0); ++g) groups.push_back("g" + std::to_string(g));
  uint64_t i = 0;
  char dedup[24];
  const bool deduplicate = state.range(1) != 0;
  for (auto _ : state) {
    const size_t len = size_t(std::to_chars(dedup, dedup + sizeof dedup, i).ptr - dedup);
    fifo_send(f.v, lane, in, groups[i % groups.size()],
              deduplicate ? std::string_view(dedup, len) : std::string_view(), nullptr);
    ++i;
    fifo_receive(f.v, lane, 30000, 1, &d);
    fifo_delete(f.v, lane, {d.slot, d.gen, d.incarnation});
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FifoSendReceiveDelete)->Args({1, 1})->Args({100, 1})->Args({100, 0});

// The FIFO cycle with batches of ten over 100 groups (round-robin, unique
// dedup ids, as bench/fifo.sh sends): range(0) 0 sends, receives and deletes
// message by message (what send_batch / remove_batch did before FIFO
// batches), 1 through fifo_send_messages / fifo_delete_messages.
void BM_FifoSendReceiveDeleteBatch10(benchmark::State& state) {
  Fixture f(true);
  std::string body(64, 'x');
  Lane& lane = f.v.lanes[1];
  std::vector<std::string> groups;
  for (int g = 0; g < 100; ++g) groups.push_back("g" + std::to_string(g));
  const bool batched = state.range(0) != 0;
  uint64_t i = 0;
  char dedup[10][24];
  FifoSendEntry e[10];
  Delivery d[10];
  HandleRef h[10];
  Status st[10];
  for (auto _ : state) {
    for (int k = 0; k < 10; ++k, ++i) {
      const size_t len = size_t(std::to_chars(dedup[k], dedup[k] + sizeof dedup[k], i).ptr - dedup[k]);
      e[k].in.body = body;
      e[k].group_id = groups[i % groups.size()];
      e[k].dedup_id = std::string_view(dedup[k], len);
    }
    if (batched) {
      fifo_send_messages(f.v, lane, e, 10, nullptr, st);
    } else {
      for (auto& x : e) fifo_send(f.v, lane, x.in, x.group_id, x.dedup_id, nullptr);
    }
    const size_t n = fifo_receive(f.v, lane, 30000, 10, d);
    for (size_t k = 0; k < n; ++k) h[k] = {d[k].slot, d[k].gen, d[k].incarnation};
    if (batched) {
      fifo_delete_messages(f.v, lane, h, n, st);
    } else {
      for (size_t k = 0; k < n; ++k) fifo_delete(f.v, lane, h[k]);
    }
  }
  state.SetItemsProcessed(state.iterations() * 10);
}
BENCHMARK(BM_FifoSendReceiveDeleteBatch10)->Arg(0)->Arg(1);

void BM_ScanIdleQueue(benchmark::State& state) {
  Fixture f;
  for (auto _ : state) benchmark::DoNotOptimize(scan_slots(f.v, queue_clock_ms(f.v.header), nullptr));
  state.SetItemsProcessed(state.iterations() * f.v.total_slots());
}
BENCHMARK(BM_ScanIdleQueue);

void BM_ReceiptHandleText(benchmark::State& state) {
  ReceiptHandle h{7, 12345, 99, 0xdeadbeef, 123456789};
  for (auto _ : state) benchmark::DoNotOptimize(h.str());
}
BENCHMARK(BM_ReceiptHandleText);

}  // namespace
}  // namespace shmq::shm

BENCHMARK_MAIN();
