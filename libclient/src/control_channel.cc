#include "libclient/src/control_channel.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace shmq::wire {

bool send_message(int sock, std::string_view text, int fd) {
  iovec iov{const_cast<char*>(text.data()), text.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  if (fd >= 0) {
    std::memset(control, 0, sizeof(control));
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
  }
  for (;;) {
    ssize_t n = sendmsg(sock, &msg, MSG_NOSIGNAL);
    if (n >= 0) return size_t(n) == text.size();
    if (errno != EINTR) return false;
  }
}

bool recv_message(int sock, std::string* text, int* fd) {
  *fd = -1;
  std::vector<char> buf(kMaxMessage);
  iovec iov{buf.data(), buf.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ssize_t n;
  do {
    n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n == 0) errno = EPIPE;  // the peer closed: not to be mistaken for EAGAIN
  if (n <= 0) return false;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      // Keep the first descriptor; close any extra a hostile peer sent.
      size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < count; ++i) {
        int got;
        std::memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        if (*fd < 0) *fd = got; else close(got);
      }
    }
  }
  if (msg.msg_flags & MSG_TRUNC) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
    errno = EMSGSIZE;
    return false;
  }
  text->assign(buf.data(), size_t(n));
  return true;
}

nlohmann::json error_reply(const Status& s) {
  return {{"ok", false}, {"code", s.code()}, {"message", s.message()}};
}

Status reply_status(const nlohmann::json& reply) {
  if (!reply.is_object()) return Status("InternalError", "malformed reply from the broker");
  if (reply.value("ok", false)) return Status::OK();
  return Status(reply.value("code", std::string("InternalError")),
                reply.value("message", std::string("the broker refused the request")));
}

}  // namespace shmq::wire
