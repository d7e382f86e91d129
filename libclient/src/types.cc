// Text forms of ids and handles, and attribute decoding.
#include <cstdio>

#include "shm/validation.h"
#include "shmq/client.h"

namespace shmq {

std::string MessageId::str() const {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%08x-%04x-%04x-%04x-%012llx", uint32_t(hi >> 32),
                uint32_t(hi >> 16) & 0xffff, uint32_t(hi) & 0xffff, uint32_t(lo >> 48) & 0xffff,
                static_cast<unsigned long long>(lo & 0xffffffffffffULL));
  return buf;
}

std::string ReceiptHandle::str() const {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%08x%08x%08x%016llx%08x", queue_uid, slot, gen,
                static_cast<unsigned long long>(seq), check);
  return buf;
}

MessageAttributes Message::attributes() const {
  auto r = shm::decode_attributes(raw_attributes);
  return r.ok() ? r.value() : MessageAttributes{};
}

}  // namespace shmq
