#include "gateway/sigv4.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <ctime>
#include <fstream>
#include <iomanip>
#include <sstream>

#include "gateway/codec.h"
#include "gateway/protocol.h"

namespace shmq::gateway {

namespace {

std::string uri_encode(std::string_view s, bool keep_slash) {
  static const char* d = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
      out += char(c);
    } else {
      out += '%';
      out += d[c >> 4];
      out += d[c & 15];
    }
  }
  return out;
}

std::string trim_collapse(std::string_view v) {
  std::string out;
  bool space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

Status incomplete(const std::string& why) { return Status("IncompleteSignature", why); }

// Parses "20240101T000000Z".
bool parse_amz_date(std::string_view s, std::time_t* out) {
  if (s.size() != 16 || s[8] != 'T' || s[15] != 'Z') return false;
  std::tm tm{};
  std::istringstream in{std::string(s)};
  in >> std::get_time(&tm, "%Y%m%dT%H%M%SZ");
  if (in.fail()) return false;
  *out = timegm(&tm);
  return true;
}

}  // namespace

Status Credentials::load(const std::string& path) {
  std::ifstream f(path);
  if (!f) return Status("InvalidParameterValue", "cannot read the credentials file " + path);
  std::string line;
  int n = 0;
  while (std::getline(f, line)) {
    ++n;
    if (auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    std::istringstream in(line);
    Credential c;
    if (!(in >> c.access_key_id)) continue;
    if (!(in >> c.secret))
      return Status("InvalidParameterValue", path + ":" + std::to_string(n) + ": expected ACCESS_KEY_ID SECRET [ACCOUNT_ID]");
    if (!(in >> c.account)) c.account = kDefaultAccount;
    if (c.account.size() != 12 || c.account.find_first_not_of("0123456789") != std::string::npos)
      return Status("InvalidParameterValue", path + ":" + std::to_string(n) + ": the account id must be 12 digits");
    by_key_[c.access_key_id] = c;
  }
  if (by_key_.empty()) return Status("InvalidParameterValue", path + " holds no credentials");
  return Status::OK();
}

const Credential* Credentials::find(std::string_view key) const {
  auto it = by_key_.find(key);
  return it == by_key_.end() ? nullptr : &it->second;
}

Result<const Credential*> verify_sigv4(const Credentials& credentials, const SignedRequest& r,
                                       std::chrono::system_clock::time_point now) {
  auto header = [&](std::string_view name) -> const std::string* {
    for (const auto& [k, v] : r.headers)
      if (k == name) return &v;
    return nullptr;
  };
  const std::string* auth = header("authorization");
  if (!auth) {
    if (r.target.find("X-Amz-Signature=") != std::string_view::npos)
      return Status("MissingAuthenticationToken", "Presigned requests are not supported; sign the Authorization header.");
    return Status("MissingAuthenticationToken", "Request is missing Authentication Token");
  }
  constexpr std::string_view kAlgo = "AWS4-HMAC-SHA256 ";
  if (auth->compare(0, kAlgo.size(), kAlgo) != 0)
    return incomplete("Unsupported signature algorithm: only AWS4-HMAC-SHA256 is accepted.");
  std::string credential, signed_headers, signature;
  {
    std::string_view rest = std::string_view(*auth).substr(kAlgo.size());
    while (!rest.empty()) {
      const size_t comma = rest.find(',');
      std::string part = trim_collapse(rest.substr(0, comma));
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      const size_t eq = part.find('=');
      if (eq == std::string::npos) continue;
      const std::string k = part.substr(0, eq), v = part.substr(eq + 1);
      if (k == "Credential") credential = v;
      else if (k == "SignedHeaders") signed_headers = v;
      else if (k == "Signature") signature = v;
    }
  }
  if (credential.empty() || signed_headers.empty() || signature.empty())
    return incomplete("Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters.");
  // Credential = AKID/DATE/REGION/SERVICE/aws4_request
  std::vector<std::string> scope;
  {
    std::istringstream in(credential);
    std::string part;
    while (std::getline(in, part, '/')) scope.push_back(part);
  }
  if (scope.size() != 5 || scope[4] != "aws4_request")
    return incomplete("Credential must have the form ACCESS_KEY_ID/DATE/REGION/SERVICE/aws4_request.");
  const Credential* cred = credentials.find(scope[0]);
  if (!cred) return Status("InvalidClientTokenId", "The security token included in the request is invalid.");
  const std::string* amz_date = header("x-amz-date");
  std::time_t t = 0;
  if (!amz_date || !parse_amz_date(*amz_date, &t))
    return incomplete("The request must carry an X-Amz-Date header (YYYYMMDDTHHMMSSZ).");
  if (amz_date->compare(0, 8, scope[1]) != 0)
    return Status("SignatureDoesNotMatch", "The credential scope date does not match X-Amz-Date.");
  const std::time_t now_t = std::chrono::system_clock::to_time_t(now);
  if (t > now_t + 900 || t < now_t - 900)
    return Status("RequestExpired", "Request has expired: X-Amz-Date is more than 15 minutes from the server's time.");

  // The canonical request.
  const std::string_view target = r.target;
  const size_t q = target.find('?');
  std::string canonical = std::string(r.method) + "\n" + uri_encode(target.substr(0, q), true) + "\n";
  if (q != std::string_view::npos) {
    std::vector<std::pair<std::string, std::string>> params;
    if (!decode_form(target.substr(q + 1), &params))
      return Status("MalformedQueryString", "The query string is malformed.");
    std::vector<std::pair<std::string, std::string>> enc;
    for (const auto& [k, v] : params)
      if (k != "X-Amz-Signature") enc.emplace_back(uri_encode(k, false), uri_encode(v, false));
    std::sort(enc.begin(), enc.end());
    for (size_t i = 0; i < enc.size(); ++i) canonical += (i ? "&" : "") + enc[i].first + "=" + enc[i].second;
  }
  canonical += "\n";
  {
    std::istringstream in(signed_headers);
    std::string name;
    while (std::getline(in, name, ';')) {
      std::string joined;
      bool found = false;
      for (const auto& [k, v] : r.headers)
        if (k == name) {
          joined += (found ? "," : "") + trim_collapse(v);
          found = true;
        }
      if (!found) return Status("SignatureDoesNotMatch", "Signed header " + name + " is missing from the request.");
      canonical += name + ":" + joined + "\n";
    }
  }
  const std::string body_hash = hex_lower(sha256(r.body));
  std::string payload = body_hash;
  if (const std::string* h = header("x-amz-content-sha256"); h && *h != "UNSIGNED-PAYLOAD") {
    if (*h != body_hash) return Status("SignatureDoesNotMatch", "The body does not match x-amz-content-sha256.");
  } else if (h) {
    payload = *h;
  }
  canonical += "\n" + signed_headers + "\n" + payload;

  const std::string scope_text = scope[1] + "/" + scope[2] + "/" + scope[3] + "/aws4_request";
  const std::string to_sign = "AWS4-HMAC-SHA256\n" + *amz_date + "\n" + scope_text + "\n" + hex_lower(sha256(canonical));
  std::string k = hmac_sha256("AWS4" + cred->secret, scope[1]);
  k = hmac_sha256(k, scope[2]);
  k = hmac_sha256(k, scope[3]);
  k = hmac_sha256(k, "aws4_request");
  const std::string expected = hex_lower(hmac_sha256(k, to_sign));
  if (expected.size() != signature.size() || CRYPTO_memcmp(expected.data(), signature.data(), expected.size()) != 0)
    return Status("SignatureDoesNotMatch",
                  "The request signature we calculated does not match the signature you provided. Check your AWS "
                  "Secret Access Key and signing method.");
  return cred;
}

}  // namespace shmq::gateway
