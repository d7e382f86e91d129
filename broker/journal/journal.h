// The journal: an append-only log of records (record.h) in preallocated files
// (journal_file.h), written by one writer thread with group commit.
//
// Group commit: append() only adds a record to the pending batch and returns
// its sequence number. The writer thread takes the whole pending batch,
// copies it into its I/O buffer (sealing each record when a key is set),
// writes it with one write + fdatasync (io.h), and only then publishes
// durable_seq() and wakes the threads waiting in wait_durable(). Whatever was
// appended while that fdatasync ran forms the next batch, so N concurrent
// waiters share one fdatasync.
//
// Sticky errors (as LevelDB and PostgreSQL learned): after a failed write or
// fdatasync nothing more is written, durable_seq() never moves again and every
// wait for a later record fails with error(). Nothing is reported durable that
// was not on disk when its fdatasync returned.
//
// Compaction runs in the writer thread after each batch (live_index.h): a
// closed file whose records are all dead is removed (after the batch is
// durable); a closed file less than half live has its live records copied
// into the current file, then goes once nothing pins it. Disk use therefore
// stays near twice the live data at most, plus the current file.
//
// Thread safety: append, wait_durable, durable_seq, error and stats may be
// called from any thread; open and the destructor from one; commit (only
// with writer_thread false) from one thread at a time.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "broker/journal/cipher.h"
#include "broker/journal/io.h"
#include "broker/journal/journal_file.h"
#include "broker/journal/live_index.h"
#include "broker/journal/reader.h"
#include "broker/journal/record.h"
#include "shmq/status.h"

namespace shmq::journal {

struct JournalOptions {
  std::string dir;
  uint64_t file_size = 64u << 20;   // each journal file, preallocated
  size_t buffer_size = 4u << 20;    // the writer's (registered) buffer; >= a max record
  bool prefer_posix = false;        // skip io_uring even where it works
  KeyRing keys;                     // empty: records are plain
  // Tests replace the I/O backend here (fault injection); null: make_io().
  std::function<std::unique_ptr<JournalIo>(size_t capacity)> make_io;
  bool compact = true;
  // false: no writer thread; the owner calls commit() from one thread of its
  // own (the broker's journal feed, which collects the rings and then writes
  // and syncs in the same thread: one hand-off fewer per group commit).
  // Records appended meanwhile wait for that thread's next commit().
  bool writer_thread = true;
};

struct RecoveryStats {
  uint64_t files = 0;
  uint64_t records = 0;
  uint64_t bytes = 0;
  uint64_t cut_files = 0;  // files whose tail was torn or corrupt
};

struct JournalStats {
  uint64_t files = 0;
  uint64_t disk_bytes = 0;  // sum of the files' preallocated sizes
  uint64_t live_bytes = 0;
  uint64_t live_messages = 0;
  uint64_t batches = 0;
  uint64_t records = 0;
  uint64_t write_micros = 0;   // time spent writing + syncing batches, in all
  uint64_t copies = 0;         // records compaction copied forward
  uint64_t files_removed = 0;
  std::string backend;
};

class Journal {
 public:
  // Reads every journal file in options.dir, oldest first, handing each good
  // record to replay (recovery); then opens a new file and starts the
  // writer. Errors: unreadable directory or file, a bad key (cipher.h), an
  // error returned by replay, or the first file cannot be created.
  static Result<std::unique_ptr<Journal>> open(JournalOptions options, const RecordVisitor& replay,
                                               RecoveryStats* recovered = nullptr);
  ~Journal();  // writes what is pending, then stops the writer
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // Queues a record; returns its sequence number (> 0). Never blocks on I/O.
  uint64_t append(RecordType type, std::string_view payload);
  // Queues several records at once (append_record's format: each header's
  // seq is assigned here); returns the last one's sequence, 0 when empty.
  // Takes the bytes (no copy when nothing else is pending): *records is
  // left empty.
  uint64_t append_batch(std::string* records);
  // Blocks until the record with this sequence is durable (OK) or the
  // journal has failed (its sticky error).
  Status wait_durable(uint64_t seq);
  // Writes and syncs every record appended so far as one batch, publishes
  // durable_seq() and calls the on_durable callback (what the writer thread
  // does each round). False when nothing was pending. Only with
  // JournalOptions::writer_thread false.
  bool commit();
  // Every record with a sequence <= this is on disk.
  uint64_t durable_seq() const { return durable_seq_.load(std::memory_order_acquire); }
  uint64_t last_seq() const;
  // OK, or the sticky error that stopped the journal.
  Status error() const;
  // Called by the writer thread each time durable_seq() moves, with its new
  // value (the broker's feed releases ring cells there). set_on_durable
  // returns only when no call to the previous callback is running.
  void set_on_durable(std::function<void(uint64_t)> callback);
  // The errno of the sticky error; 0 while the journal works.
  int error_errno() const { return error_.load(std::memory_order_acquire); }
  JournalStats stats() const;

 private:
  explicit Journal(JournalOptions options);
  void run();
  int write_batch(const std::string& batch);
  int place(RecordType type, uint8_t flags, uint64_t seq, std::string_view payload, bool is_copy);
  int flush_buffer();
  int start_file(uint64_t min_size);
  void compact();
  void remove_victims();
  void prefill();
  void fail(int err, const char* what);

  JournalOptions o_;
  std::unique_ptr<JournalIo> io_;
  int dir_fd_ = -1;

  // Shared with appending threads.
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::string pending_;  // plain records: header (crc unset) + payload
  uint64_t next_seq_ = 1;
  bool stop_ = false;
  std::atomic<uint64_t> durable_seq_{0};
  std::atomic<uint32_t> durable_futex_{0};
  std::atomic<uint32_t> waiters_{0};
  std::atomic<int> error_{0};
  std::string error_what_;  // set once, before error_ (release)
  std::mutex callback_mu_;  // held while on_durable_ runs
  std::function<void(uint64_t)> on_durable_;

  // Writer thread only (and open() before it starts).
  struct FileInfo {
    FileHeader header;
    uint64_t size = 0;
    int read_fd = -1;
  };
  std::map<uint64_t, FileInfo> files_;
  std::string batch_;  // the round being written
  LiveIndex index_;
  uint64_t cur_file_ = 0;
  int cur_fd_ = -1;
  uint64_t cur_off_ = 0;      // next record's offset in the current file
  uint64_t zeroed_to_ = 0;    // prefill() wrote zeros up to here
  uint64_t buf_file_off_ = 0;  // file offset of buffer()[0]
  size_t buf_len_ = 0;
  std::vector<uint64_t> victims_;
  std::atomic<uint64_t> batches_{0}, records_{0}, copies_{0}, removed_{0}, write_micros_{0};
  mutable std::mutex stats_mu_;  // guards the snapshot below
  JournalStats snapshot_;

  std::thread writer_;
};

}  // namespace shmq::journal
