#include "broker/journal_feed.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <sched.h>

#include <chrono>
#include <ctime>
#include <vector>

#include <spdlog/spdlog.h>

#include "broker/journal/record.h"
#include "shm/fifo.h"
#include "shm/futex.h"
#include "shm/journal_ring.h"

namespace shmq::broker {
namespace {

constexpr uint64_t kMaxPerPass = 8192;  // entries per queue per pass: bounds a batch
constexpr long kIdleSleepNs = 2'000'000;
constexpr std::chrono::nanoseconds kMaxGather{500'000};  // bounds a sync sender's extra wait
// How long a record nobody waits for (async send, delete) may sit collected
// before it is written; async records reach the disk within this plus one
// idle sleep plus one commit.
constexpr std::chrono::nanoseconds kAsyncDelay{1'000'000};

bool live_state(shm::SlotState k) {
  return k == shm::SlotState::kVisible || k == shm::SlotState::kLeased || k == shm::SlotState::kDelayed;
}

// The full incarnation from its low 32 bits and the slot's current one
// (the slot can only have moved forward since the entry was pushed).
uint64_t widen_incarnation(uint64_t current, uint32_t low) {
  uint64_t c = (current & ~uint64_t{0xffffffff}) | low;
  if (c > current && c >= (uint64_t{1} << 32)) c -= uint64_t{1} << 32;
  return c;
}

}  // namespace

JournalFeed::JournalFeed(journal::Journal* journal) : journal_(journal) {
  thread_ = std::thread([this] { run(); });
}

JournalFeed::~JournalFeed() {
  stop_.store(true);
  wake_.fetch_add(1);
  shm::futex_wake_all(&wake_);
  if (thread_.joinable()) thread_.join();
}

void JournalFeed::add_queue(uint32_t uid, const shm::SegmentView& view) {
  std::lock_guard<std::mutex> lock(mu_);
  if (feeds_.count(uid)) return;  // already fed (an attribute change)
  shm::recover_journal_head(view);
  Feed f;
  f.view = view;
  f.next = view.journal.pos->head.load(std::memory_order_acquire);
  if (journal_->error_errno() != 0)
    view.header->journal.error.store(uint32_t(journal_->error_errno()), std::memory_order_release);
  feeds_[uid] = f;
}

void JournalFeed::remove_queue(uint32_t uid) {
  std::lock_guard<std::mutex> lock(mu_);
  feeds_.erase(uid);
}

bool JournalFeed::collect() {
  bool any = false;
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Feed*> advanced;
  for (auto& [uid, f] : feeds_) {
    const shm::SegmentView& v = f.view;
    const shm::RingView& r = v.journal;
    const uint64_t tail = r.pos->tail.load(std::memory_order_acquire);
    const bool sync = shm::Durability(v.header->journal.durability.load(std::memory_order_relaxed)) ==
                      shm::Durability::kSync;
    uint64_t p = f.next;
    uint64_t sync_sends = 0;
    while (p < tail && p - f.next < kMaxPerPass) {
      shm::Cell& c = r.cells[p & r.mask];
      if (c.seq.load(std::memory_order_acquire) != p + 1) break;  // claimed, not yet published
      const uint64_t e = c.data.load(std::memory_order_relaxed);
      ++p;
      if (e == shm::kTombstone) continue;
      if (shm::journal_entry_kind(e) == shm::JournalKind::kFifoDedup) {
        append_fifo_dedup(uid, v, e);  // an entry reused meanwhile: its SEND still carries the id
        continue;
      }
      const uint32_t slot = shm::journal_entry_slot(e);
      if (slot >= v.total_slots()) continue;  // a corrupt entry: nothing to journal
      shm::Slot& s = v.slot(slot);
      const uint64_t inc = widen_incarnation(s.incarnation.load(std::memory_order_acquire),
                                             shm::journal_entry_incarnation(e));
      if (shm::journal_entry_kind(e) == shm::JournalKind::kDelete) {
        journal::append_record(journal::DeleteRecord{uid, slot, inc}, &batch_);
        continue;
      }
      // SEND: a sync sender waits for it, journaled or not (a message
      // received and deleted before the feed got here is dropped below).
      // A redelivery is copied the same way; nobody waits for it.
      if (sync && shm::journal_entry_kind(e) == shm::JournalKind::kSend) ++sync_sends;
      // Copy, then check the slot still held this message throughout.
      const uint64_t st = s.state.load(std::memory_order_acquire);
      if (s.incarnation.load(std::memory_order_acquire) != inc || !live_state(shm::state_of(st))) {
        dropped_.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      const uint32_t attrs = s.attrs_len.load(std::memory_order_relaxed);
      const uint32_t body = s.body_len.load(std::memory_order_relaxed);
      // FIFO: FifoMeta, group id and dedup id come before the attributes.
      shm::FifoIds ids;
      if (v.header->fifo) ids = shm::fifo_ids(v, slot);
      if (uint64_t(ids.prefix) + attrs + body > v.payload_capacity(slot)) continue;
      journal::SendRecord rec;
      rec.sequence_number = ids.sequence_number;
      rec.queue_uid = uid;
      rec.slot = slot;
      rec.incarnation = inc;
      rec.sent_epoch_ms = s.sent_epoch_ms.load(std::memory_order_relaxed);
      rec.sender_uid = s.sender_uid.load(std::memory_order_relaxed);
      rec.receive_count = s.receive_count.load(std::memory_order_relaxed);
      if (shm::state_of(st) == shm::SlotState::kDelayed)
        rec.visible_epoch_ms = shm::epoch_ms(v.header, shm::value_of(st));
      // Encoded straight from the segment (one copy), then kept only if the
      // slot still held this message throughout (seqlock).
      const char* payload = v.payload(slot);
      rec.group_id = ids.group_id;
      rec.dedup_id = ids.dedup_id;
      rec.attributes = std::string_view(payload + ids.prefix, attrs);
      rec.body = std::string_view(payload + ids.prefix + attrs, body);
      const size_t mark = batch_.size();
      journal::append_record(rec, &batch_);
      std::atomic_thread_fence(std::memory_order_acquire);
      if (s.incarnation.load(std::memory_order_relaxed) != inc ||
          !live_state(shm::state_of(s.state.load(std::memory_order_relaxed)))) {
        batch_.resize(mark);
        dropped_.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
    }
    if (p != f.next) {
      any = true;
      advanced.push_back(&f);
      f.pass_sync_sends = sync_sends;
      sync_since_commit_ += sync_sends;
    }
    f.next = p;
  }
  if (any) {
    // The last sequence appended so far covers this pass's records (or, when
    // every entry was dropped, whatever was appended before them).
    const uint64_t seq = batch_.empty() ? journal_->last_seq() : journal_->append_batch(&batch_);
    for (Feed* f : advanced) f->marks.push_back(Mark{f->next, seq, f->pass_sync_sends});
  }
  // Wake the senders whose records are durable (the last commit's) only now,
  // after taking what the others pushed during that commit: gather() waits
  // for both (in a closed loop each released sync SEND comes back as one).
  if (const uint64_t released = release(journal_->durable_seq()); released != 0)
    gather_target_ = sync_since_commit_ + released;
  return any;
}

// A FIFO dedup entry (bucket * 8 + way in the entry's slot field): copied
// without the bucket's lock, seqlock style (`when` changes whenever the
// entry is reused, and is pending while its sender writes it), and kept only
// when it still names the message the entry was pushed for.
bool JournalFeed::append_fifo_dedup(uint32_t uid, const shm::SegmentView& v, uint64_t e) {
  const uint32_t ref = shm::journal_entry_slot(e);
  const uint32_t bi = ref / 8, way = ref % 8;
  if (!v.header->fifo || bi >= v.header->dedup_buckets || way >= shm::kDedupWays) return false;
  shm::DedupBucket& b = v.dedup[bi];
  shm::DedupEntry& d = b.entries[way];
  const uint32_t when = b.when[way].load(std::memory_order_acquire);
  if (when == 0 || (when & shm::kDedupPendingBit)) return false;
  journal::FifoDedupRecord rec;
  rec.queue_uid = uid;
  rec.key_hi = d.key_hi.load(std::memory_order_relaxed);
  rec.key_lo = d.key_lo.load(std::memory_order_relaxed);
  rec.seen_epoch_ms = shm::epoch_ms(v.header, d.seen_ms.load(std::memory_order_relaxed));
  rec.incarnation = d.incarnation.load(std::memory_order_relaxed);
  rec.sequence_number = d.seq.load(std::memory_order_relaxed);
  rec.slot = d.slot.load(std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_acquire);
  if (b.when[way].load(std::memory_order_relaxed) != when ||
      d.key_hi.load(std::memory_order_relaxed) != rec.key_hi ||
      uint32_t(rec.incarnation) != shm::journal_entry_incarnation(e) || rec.slot >= v.total_slots())
    return false;
  journal::append_record(journal::RecordType::kFifoDedup, journal::encode(rec), &batch_);
  return true;
}

// The records of every mark up to durable_seq are on disk: hand the cells
// back and move each head, which is what sync senders wait for.
uint64_t JournalFeed::release(uint64_t durable_seq) {
  uint64_t released = 0;
  for (auto& [uid, f] : feeds_) {
    uint64_t end = 0;
    while (!f.marks.empty() && f.marks.front().seq <= durable_seq) {
      end = f.marks.front().end;
      released += f.marks.front().sync_sends;
      f.marks.pop_front();
    }
    if (end == 0) continue;
    const shm::RingView& r = f.view.journal;
    const uint64_t head = r.pos->head.load(std::memory_order_relaxed);
    if (end <= head) continue;
    for (uint64_t p = head; p < end; ++p) r.cells[p & r.mask].seq.store(p + r.mask + 1, std::memory_order_release);
    r.pos->head.store(end, std::memory_order_seq_cst);
    shm::JournalControl& j = f.view.header->journal;
    // Pairs with a sender's durable_sleeping bit, set before its last look
    // at head (Dekker): either it sees the new head or we see its bit.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (shm::any_lane_bit(j.durable_sleeping)) {
      j.durable_futex.fetch_add(1, std::memory_order_seq_cst);
      shm::futex_wake_all(&j.durable_futex);
    }
  }
  return released;
}

void JournalFeed::propagate_error() {
  const int err = journal_->error_errno();
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [uid, f] : feeds_) {
    shm::JournalControl& j = f.view.header->journal;
    j.error.store(uint32_t(err), std::memory_order_seq_cst);
    j.durable_futex.fetch_add(1, std::memory_order_seq_cst);
    shm::futex_wake_all(&j.durable_futex);
  }
}

void JournalFeed::sleep_idle(long timeout_ns) {
  std::vector<futex_waitv> w;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [uid, f] : feeds_) f.view.header->journal.collector_sleeping.store(1, std::memory_order_seq_cst);
    // After announcing the sleep, look once more (Dekker with the senders).
    for (auto& [uid, f] : feeds_) {
      if (f.view.journal.pos->tail.load(std::memory_order_seq_cst) != f.next) {
        for (auto& [u, g] : feeds_) g.view.header->journal.collector_sleeping.store(0, std::memory_order_relaxed);
        return;
      }
      if (w.size() + 1 < FUTEX_WAITV_MAX) {
        auto& d = f.view.header->journal.doorbell;
        w.push_back(futex_waitv{d.load(std::memory_order_seq_cst), reinterpret_cast<uint64_t>(&d), FUTEX_32, 0});
      }
    }
    w.push_back(futex_waitv{wake_.load(), reinterpret_cast<uint64_t>(&wake_), FUTEX_32 | FUTEX_PRIVATE_FLAG, 0});
  }
  if (!stop_.load()) {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_nsec += timeout_ns;
    if (ts.tv_nsec >= 1'000'000'000) {
      ts.tv_sec += 1;
      ts.tv_nsec -= 1'000'000'000;
    }
    if (syscall(SYS_futex_waitv, w.data(), unsigned(w.size()), 0, &ts, CLOCK_MONOTONIC) < 0 && errno == ENOSYS) {
      timespec d{0, timeout_ns};
      nanosleep(&d, nullptr);
    }
  }
  // The segments may be gone by now only through remove_queue, under mu_.
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [uid, f] : feeds_) f.view.header->journal.collector_sleeping.store(0, std::memory_order_relaxed);
}

// Group commit, gathering: the senders a release woke come back with their
// next sends some microseconds apart (16 of them take 100-200 us to wake on
// 2 vCPUs), and others pushed theirs while the last fdatasync ran. Writing
// what has arrived at once would split them over two fdatasyncs for good
// (two cohorts taking turns), so after a release the feed keeps collecting,
// yielding the CPU to the senders, until as many sync SENDs have arrived as
// were pending plus released (each released one is a sender that may send
// again), or as long as the last commit took (at most kMaxGather) has
// passed. Measured (session 11): counting the waiters instead counted a
// sender pushed during the fdatasync twice, so every gather ran to its
// deadline; sleeping on the doorbells until the first sender came back cost
// a wake-up; half a commit's time cut 16 senders into 11 + 5.
void JournalFeed::gather() {
  if (sync_since_commit_ >= gather_target_) return;
  const auto deadline = std::chrono::steady_clock::now() + last_commit_;
  while (sync_since_commit_ < gather_target_ && std::chrono::steady_clock::now() < deadline) {
    sched_yield();
    collect();
  }
  gather_target_ = 0;  // met or given up: one wait per release
}

void JournalFeed::run() {
  using Clock = std::chrono::steady_clock;
  Clock::time_point oldest{};  // when the oldest record not yet committed was collected
  bool slept = false;
  while (!stop_.load(std::memory_order_relaxed)) {
    if (journal_->error_errno() != 0) {
      propagate_error();
      sleep_idle(kIdleSleepNs);  // a failed journal consumes nothing more
      continue;
    }
    const bool collected = collect();
    if (collected && oldest == Clock::time_point{}) oldest = Clock::now();
    gather();
    // A sync sender waits: write now. Records nobody waits for (async sends,
    // deletes) ride along, or go after kAsyncDelay (fewer, larger fdatasyncs
    // that do not hold up the next sync sender); after an idle sleep the
    // broker's own appends go too.
    const auto now = Clock::now();
    if (sync_since_commit_ > 0 || slept || (oldest != Clock::time_point{} && now - oldest >= kAsyncDelay)) {
      sync_since_commit_ = gather_target_ = 0;
      oldest = {};
      slept = false;
      if (journal_->commit()) {  // write + fdatasync in this thread
        last_commit_ = std::min<std::chrono::nanoseconds>(Clock::now() - now, kMaxGather);
        continue;  // collect() releases the senders
      }
    }
    if (collected) continue;
    long timeout = kIdleSleepNs;
    if (oldest != Clock::time_point{})
      timeout = std::max<long>(1000, std::chrono::nanoseconds(oldest + kAsyncDelay - now).count());
    sleep_idle(timeout);
    slept = true;
  }
}

}  // namespace shmq::broker
