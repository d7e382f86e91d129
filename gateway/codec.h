// Small encodings the gateway needs: base64 (BinaryValue), hex, SHA-256 and
// HMAC-SHA256 (SigV4, through OpenSSL), and request ids.
//
// Thread safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace shmq::gateway {

std::string base64_encode(std::string_view bytes);
// Strict: padding required, no whitespace. nullopt when malformed.
std::optional<std::string> base64_decode(std::string_view text);

std::string hex_lower(std::string_view bytes);
std::string sha256(std::string_view bytes);  // raw 32 bytes
std::string hmac_sha256(std::string_view key, std::string_view data);  // raw 32 bytes

// A fresh UUID-shaped id for x-amzn-RequestId.
std::string new_request_id();

}  // namespace shmq::gateway
