#include "broker/journal/record.h"

#include <bit>
#include <cstring>

#include "broker/journal/crc32c.h"

namespace shmq::journal {
namespace {

// Little-endian writer/reader; the machines we run on are little endian, and
// memcpy keeps unaligned access defined.
static_assert(std::endian::native == std::endian::little);

class Writer {
 public:
  Writer() = default;
  explicit Writer(std::string* into) : s_(std::move(*into)), into_(into) {}
  ~Writer() {
    if (into_) *into_ = std::move(s_);
  }
  template <class T>
  void put(T v) {
    char b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));
    s_.append(b, sizeof(T));
  }
  void bytes(std::string_view v) {
    put(uint32_t(v.size()));
    s_.append(v);
  }
  std::string take() { return std::move(s_); }

 private:
  std::string s_;
  std::string* into_ = nullptr;
};

template <class W>
void put_send(W& w, const SendRecord& r) {
  w.put(r.queue_uid);
  w.put(r.slot);
  w.put(r.incarnation);
  w.put(r.sent_epoch_ms);
  w.put(r.visible_epoch_ms);
  w.put(r.sequence_number);
  w.put(r.sender_uid);
  w.put(r.receive_count);
  w.bytes(r.attributes);
  w.bytes(r.body);
  w.bytes(r.group_id);
  w.bytes(r.dedup_id);
}

class Reader {
 public:
  explicit Reader(std::string_view s) : s_(s) {}
  template <class T>
  bool get(T* v) {
    if (s_.size() - pos_ < sizeof(T)) return ok_ = false;
    std::memcpy(v, s_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }
  bool bytes(std::string_view* v) {
    uint32_t n;
    if (!get(&n) || s_.size() - pos_ < n) return ok_ = false;
    *v = s_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  Status done(const char* what) const {
    if (ok_ && pos_ == s_.size()) return Status::OK();
    return Status("InternalError", std::string("malformed journal ") + what + " record");
  }

 private:
  std::string_view s_;
  size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace

std::string encode(const SendRecord& r) {
  Writer w;
  put_send(w, r);
  return w.take();
}

namespace {

// A record header (seq 0, no crc), then what put(w) writes, into *out.
template <class Put>
void append_encoded(RecordType type, std::string* out, const Put& put) {
  const size_t at = out->size();
  out->resize(at + kRecordHeaderSize);
  {
    Writer w(out);
    put(w);
  }
  RecordHeader h;
  h.length = uint32_t(out->size() - at - kRecordHeaderSize);
  h.type = type;
  put_header(out->data() + at, h);
}

void put_delete(Writer& w, const DeleteRecord& r) {
  w.put(r.queue_uid);
  w.put(r.slot);
  w.put(r.incarnation);
}

}  // namespace

void append_record(const SendRecord& r, std::string* out) {
  append_encoded(RecordType::kSend, out, [&](Writer& w) { put_send(w, r); });
}

void append_record(const DeleteRecord& r, std::string* out) {
  append_encoded(RecordType::kDelete, out, [&](Writer& w) { put_delete(w, r); });
}

void append_record(RecordType type, std::string_view payload, std::string* out) {
  const size_t at = out->size();
  out->resize(at + kRecordHeaderSize);
  RecordHeader h;
  h.length = uint32_t(payload.size());
  h.type = type;
  put_header(out->data() + at, h);
  out->append(payload);
}

Status decode(std::string_view p, SendRecord* r) {
  Reader x(p);
  x.get(&r->queue_uid) && x.get(&r->slot) && x.get(&r->incarnation) && x.get(&r->sent_epoch_ms) &&
      x.get(&r->visible_epoch_ms) && x.get(&r->sequence_number) && x.get(&r->sender_uid) &&
      x.get(&r->receive_count) && x.bytes(&r->attributes) && x.bytes(&r->body) && x.bytes(&r->group_id) &&
      x.bytes(&r->dedup_id);
  return x.done("SEND");
}

std::string encode(const DeleteRecord& r) {
  Writer w;
  put_delete(w, r);
  return w.take();
}

Status decode(std::string_view p, DeleteRecord* r) {
  Reader x(p);
  x.get(&r->queue_uid) && x.get(&r->slot) && x.get(&r->incarnation);
  return x.done("DELETE");
}

std::string encode(const FifoDedupRecord& r) {
  Writer w;
  w.put(r.queue_uid);
  w.put(r.slot);
  w.put(r.incarnation);
  w.put(r.sequence_number);
  w.put(r.seen_epoch_ms);
  w.put(r.key_hi);
  w.put(r.key_lo);
  return w.take();
}

Status decode(std::string_view p, FifoDedupRecord* r) {
  Reader x(p);
  x.get(&r->queue_uid) && x.get(&r->slot) && x.get(&r->incarnation) && x.get(&r->sequence_number) &&
      x.get(&r->seen_epoch_ms) && x.get(&r->key_hi) && x.get(&r->key_lo);
  return x.done("FIFO_DEDUP");
}

std::string encode(const QueueStateRecord& r) {
  Writer w;
  w.put(r.queue_uid);
  w.put(uint8_t(r.fifo));
  w.put(r.secret);
  w.put(r.created_s);
  w.bytes(r.name);
  w.bytes(r.attributes_json);
  return w.take();
}

Status decode(std::string_view p, QueueStateRecord* r) {
  Reader x(p);
  uint8_t fifo = 0;
  x.get(&r->queue_uid) && x.get(&fifo) && x.get(&r->secret) && x.get(&r->created_s) && x.bytes(&r->name) &&
      x.bytes(&r->attributes_json);
  r->fifo = fifo != 0;
  return x.done("QUEUE");
}

std::string encode(const QueueRecordRef& r) {
  Writer w;
  w.put(r.queue_uid);
  return w.take();
}

Status decode(std::string_view p, QueueRecordRef* r) {
  Reader x(p);
  x.get(&r->queue_uid);
  return x.done("queue reference");
}

void put_header(char* out, const RecordHeader& h) {
  std::memcpy(out, &h.length, 4);
  std::memcpy(out + 4, &h.crc, 4);
  out[8] = char(h.type);
  out[9] = char(h.flags);
  std::memset(out + 10, 0, 6);
  std::memcpy(out + 16, &h.seq, 8);
}

RecordHeader get_header(const char* in) {
  RecordHeader h;
  std::memcpy(&h.length, in, 4);
  std::memcpy(&h.crc, in + 4, 4);
  h.type = RecordType(uint8_t(in[8]));
  h.flags = uint8_t(in[9]);
  std::memcpy(&h.seq, in + 16, 8);
  return h;
}

uint32_t record_crc(const char* p, uint32_t length) {
  return crc32c(p + 8, kRecordHeaderSize - 8 + size_t(length));
}

}  // namespace shmq::journal
