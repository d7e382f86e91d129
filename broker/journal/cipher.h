// Encryption at rest for journal records: AES-256-GCM (OpenSSL EVP).
//
// A key file holds one or more keys, one per line as 64 hex digits; blank
// lines and lines starting with '#' are ignored. The LAST key encrypts new
// journal files; the earlier ones still decrypt older files, so a key is
// rotated by appending a line: the new key applies from the next journal
// file. Each key has an id (the first 8 bytes of a SHA-256 over it), which
// a journal file's header names, so a wrong or missing key is found at start
// before any record is trusted.
//
// Per record: IV = the file's random 64-bit salt || the record's 32-bit
// offset in the file (unique per key: a file is written once and never
// reused), AAD = the record header's type, flags and sequence.
//
// Thread safety: a KeyRing is immutable after load; seal/open are reentrant.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "shmq/status.h"

namespace shmq::journal {

inline constexpr size_t kTagSize = 16;
inline constexpr size_t kIvSize = 12;

struct Key {
  uint64_t id = 0;
  std::array<unsigned char, 32> bytes{};
};

class KeyRing {
 public:
  // Reads a key file. Errors name the file and the line.
  static Result<KeyRing> load(const std::string& path);
  static KeyRing from_keys(std::vector<Key> keys) { return KeyRing(std::move(keys)); }
  static Key key_from_bytes(const std::array<unsigned char, 32>& bytes);

  bool empty() const { return keys_.empty(); }
  const Key* current() const { return keys_.empty() ? nullptr : &keys_.back(); }
  const Key* find(uint64_t id) const;

  KeyRing() = default;

 private:
  explicit KeyRing(std::vector<Key> keys) : keys_(std::move(keys)) {}
  std::vector<Key> keys_;
};

// out receives plain.size() + kTagSize bytes.
Status seal(const Key& key, const unsigned char iv[kIvSize], std::string_view aad, std::string_view plain,
            char* out);
// in is ciphertext + tag; out receives in.size() - kTagSize bytes. An error
// when the tag does not verify (wrong key, or corrupted data).
Status open_sealed(const Key& key, const unsigned char iv[kIvSize], std::string_view aad, std::string_view in,
                   char* out);

void make_iv(uint64_t salt, uint32_t offset, unsigned char iv[kIvSize]);

}  // namespace shmq::journal
