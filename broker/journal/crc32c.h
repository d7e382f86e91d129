// CRC32C (Castagnoli), the checksum of every journal record. Uses the SSE4.2
// crc32 instruction when the CPU has it (checked once), else a table.
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>

namespace shmq::journal {

// Extends crc (0 for a fresh checksum) with n bytes at p.
uint32_t crc32c_extend(uint32_t crc, const void* p, size_t n);
inline uint32_t crc32c(const void* p, size_t n) { return crc32c_extend(0, p, n); }

}  // namespace shmq::journal
