// A JournalIo that fails on purpose (the journal's fault-injection seam,
// io.h): passes calls to a real backend until `fail_after` write_syncs have
// succeeded, then fails every write_sync (and, for ENOSPC, every allocate)
// with `err`. A failing write still writes half its bytes first: a failed
// write may have reached the disk in part, and recovery must cope.
//
// Used by the journal's unit tests and by `shmq-broker --test-journal-fault`
// (end-to-end tests: sync sends must fail, nothing falsely acknowledged).
//
// Thread safety: as JournalIo (one writer thread).
#pragma once

#include <memory>

#include "broker/journal/io.h"

namespace shmq::journal {

std::unique_ptr<JournalIo> make_faulty_io(std::unique_ptr<JournalIo> inner, int err, int fail_after);

}  // namespace shmq::journal
