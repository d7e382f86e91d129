// AWS Signature Version 4, verified (not produced) by the gateway, with the
// credentials of --credentials-file.
//
// The file: one credential per line, `ACCESS_KEY_ID SECRET_ACCESS_KEY
// [ACCOUNT_ID]`, whitespace-separated; `#` starts a comment. ACCOUNT_ID
// (12 digits, default 000000000000, the broker's own account) is the
// principal that AddPermission grants name and that owns the queues it
// creates.
//
// Only the Authorization header form is accepted (the SDKs and the CLI use
// it); presigned URLs (X-Amz-Signature in the query) are refused with
// MissingAuthenticationToken.
//
// Thread safety: a loaded Credentials is immutable; verify() is reentrant.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shmq/status.h"

namespace shmq::gateway {

inline constexpr const char* kDefaultAccount = "000000000000";

struct Credential {
  std::string access_key_id;
  std::string secret;
  std::string account;
};

class Credentials {
 public:
  Status load(const std::string& path);
  bool empty() const { return by_key_.empty(); }
  const Credential* find(std::string_view access_key_id) const;

 private:
  std::map<std::string, Credential, std::less<>> by_key_;
};

struct SignedRequest {
  std::string_view method;
  std::string_view target;  // path?query as received
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-case
  std::string_view body;
};

// The credential that signed the request, or the SQS error:
// MissingAuthenticationToken, IncompleteSignature, InvalidClientTokenId,
// SignatureDoesNotMatch, RequestExpired (clock skew over 15 minutes).
Result<const Credential*> verify_sigv4(const Credentials& credentials, const SignedRequest& request,
                                       std::chrono::system_clock::time_point now);

}  // namespace shmq::gateway
