// The bare futex wake between two processes, the floor of any sleeping
// receiver: a waiter sleeps on a shared word (FUTEX_WAIT, not PRIVATE, as
// shmq's long poll does); the waker lets it fall asleep (--gap-us of spinning,
// so the other vCPU halts), stamps the time, bumps the word and calls
// FUTEX_WAKE; the waiter records the time from the stamp to its return.
#pragma once

#include <vector>

#include "bench/options.h"
#include "bench/record.h"

namespace shmq::bench {

std::vector<Record> futex_wake(const Options& o);

}  // namespace shmq::bench
