#include "broker/journal/cipher.h"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <cstring>
#include <fstream>
#include <memory>

namespace shmq::journal {
namespace {

using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Status crypto_error(const char* what) { return Status("InternalError", std::string("AES-GCM: ") + what); }

}  // namespace

Key KeyRing::key_from_bytes(const std::array<unsigned char, 32>& bytes) {
  Key k;
  k.bytes = bytes;
  unsigned char digest[SHA256_DIGEST_LENGTH];
  std::string in = "shmq-journal-key:";
  in.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  SHA256(reinterpret_cast<const unsigned char*>(in.data()), in.size(), digest);
  std::memcpy(&k.id, digest, 8);
  if (k.id == 0) k.id = 1;  // 0 means "not encrypted" in a file header
  return k;
}

Result<KeyRing> KeyRing::load(const std::string& path) {
  std::ifstream f(path);
  if (!f) return Status("InvalidParameterValue", "cannot read journal key file " + path);
  std::vector<Key> keys;
  std::string line;
  for (int n = 1; std::getline(f, line); ++n) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    std::array<unsigned char, 32> b{};
    bool ok = line.size() == 64;
    for (size_t i = 0; ok && i < 32; ++i) {
      int hi = hex_digit(line[2 * i]), lo = hex_digit(line[2 * i + 1]);
      ok = hi >= 0 && lo >= 0;
      b[i] = (unsigned char)(hi << 4 | lo);
    }
    if (!ok)
      return Status("InvalidParameterValue", "journal key file " + path + " line " + std::to_string(n) +
                                                 ": a key is 64 hex digits (256 bits)");
    keys.push_back(key_from_bytes(b));
  }
  if (keys.empty()) return Status("InvalidParameterValue", "journal key file " + path + " holds no key");
  return KeyRing(std::move(keys));
}

const Key* KeyRing::find(uint64_t id) const {
  for (const Key& k : keys_)
    if (k.id == id) return &k;
  return nullptr;
}

void make_iv(uint64_t salt, uint32_t offset, unsigned char iv[kIvSize]) {
  std::memcpy(iv, &salt, 8);
  std::memcpy(iv + 8, &offset, 4);
}

Status seal(const Key& key, const unsigned char iv[kIvSize], std::string_view aad, std::string_view plain,
            char* out) {
  CipherCtx ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  int n = 0;
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.bytes.data(), iv) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &n, reinterpret_cast<const unsigned char*>(aad.data()),
                        int(aad.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(out), &n,
                        reinterpret_cast<const unsigned char*>(plain.data()), int(plain.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(out) + n, &n) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, int(kTagSize), out + plain.size()) != 1)
    return crypto_error("encryption failed");
  return Status::OK();
}

Status open_sealed(const Key& key, const unsigned char iv[kIvSize], std::string_view aad, std::string_view in,
                   char* out) {
  if (in.size() < kTagSize) return crypto_error("record shorter than its tag");
  const size_t len = in.size() - kTagSize;
  CipherCtx ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  int n = 0;
  std::array<unsigned char, kTagSize> tag;
  std::memcpy(tag.data(), in.data() + len, kTagSize);
  if (!ctx || EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.bytes.data(), iv) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &n, reinterpret_cast<const unsigned char*>(aad.data()),
                        int(aad.size())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(out), &n,
                        reinterpret_cast<const unsigned char*>(in.data()), int(len)) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, int(kTagSize), tag.data()) != 1)
    return crypto_error("decryption failed");
  if (EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(out) + n, &n) != 1)
    return Status("InternalError", "journal record does not decrypt with its key (wrong key or corrupt data)");
  return Status::OK();
}

}  // namespace shmq::journal
