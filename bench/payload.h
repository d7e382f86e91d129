// The body every mechanism carries: `size` bytes of printable ASCII (shmq
// accepts only SQS's allowed characters, so the stamp is hex, not binary):
//
//   [0, 16)   send time, CLOCK_MONOTONIC ns, 16 hex digits
//   [16, 32)  sequence number, 16 hex digits (unique per message: Redis's
//             LREM and beanstalkd's ids need distinct bodies to be honest)
//   [32, size) 'x' filler
//
// A body that starts with 'T' is the terminator: it ends the run for the
// consumer that takes it. Reading a stamp touches the body's first cache line,
// which every consumer does for every message.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace shmq::bench {

inline constexpr size_t kStampBytes = 32;
inline constexpr size_t kMinPayload = kStampBytes;

inline std::string make_body(size_t size) { return std::string(size, 'x'); }

// Two hex digits per byte from a table: a stamp costs a few ns, which
// matters next to the floor's tens of nanoseconds.
struct HexPairs {
  char pair[256][2];
  constexpr HexPairs() : pair() {
    constexpr char kDigits[] = "0123456789abcdef";
    for (int b = 0; b < 256; ++b) {
      pair[b][0] = kDigits[b >> 4];
      pair[b][1] = kDigits[b & 15];
    }
  }
};
inline constexpr HexPairs kHexPairs;

inline void write_hex16(char* p, uint64_t v) {
  for (int i = 7; i >= 0; --i) {
    std::memcpy(p + 2 * i, kHexPairs.pair[v & 0xff], 2);
    v >>= 8;
  }
}

inline uint64_t read_hex16(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 16; ++i) {
    const char c = p[i];
    v = v << 4 | uint64_t(c <= '9' ? c - '0' : c - 'a' + 10);
  }
  return v;
}

inline void stamp(char* body, uint64_t send_ns, uint64_t seq) {
  write_hex16(body, send_ns);
  write_hex16(body + 16, seq);
}

inline void make_terminator(char* body) { body[0] = 'T'; }
inline bool is_terminator(std::string_view body) { return !body.empty() && body[0] == 'T'; }

struct Stamp {
  uint64_t send_ns = 0;
  uint64_t seq = 0;
  bool terminator = false;
};

// REQUIRES: body.size() >= kStampBytes.
inline Stamp read_stamp(std::string_view body) {
  if (is_terminator(body)) return Stamp{0, 0, true};
  return Stamp{read_hex16(body.data()), read_hex16(body.data() + 16), false};
}

}  // namespace shmq::bench
