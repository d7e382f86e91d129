// The control protocol between clients and the broker: one JSON document per
// SOCK_SEQPACKET message, optionally carrying one file descriptor
// (SCM_RIGHTS). Requests have "op"; replies have "ok" and, when not ok,
// "code" and "message" (an SQS error name and text).
//
// Thread safety: functions are reentrant; a socket must not be used by two
// threads at once (the client serialises its requests).
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "shmq/status.h"

namespace shmq::wire {

inline constexpr int kProtocolVersion = 1;
inline constexpr size_t kMaxMessage = 1 << 20;

// Sends one message; fd < 0 sends none. Returns false on a broken socket.
bool send_message(int sock, std::string_view text, int fd = -1);
// Receives one message; *fd gets a passed descriptor or -1. Returns false on
// EOF or error (errno kept).
bool recv_message(int sock, std::string* text, int* fd);

// Builds an error reply / turns a reply into a Status.
nlohmann::json error_reply(const Status& s);
Status reply_status(const nlohmann::json& reply);

}  // namespace shmq::wire
