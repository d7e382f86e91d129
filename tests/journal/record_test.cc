// Record encoding, CRC32C and the cipher: the pieces every journal record
// goes through.
#include <gtest/gtest.h>

#include "broker/journal/cipher.h"
#include "broker/journal/crc32c.h"
#include "broker/journal/record.h"

namespace shmq::journal {
namespace {

TEST(Crc32c, KnownVectors) {
  EXPECT_EQ(crc32c("", 0), 0u);
  EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);  // the CRC-32C check value
  std::string zeros(32, '\0');
  EXPECT_EQ(crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);  // RFC 3720 B.4
  // Extending in pieces equals one pass.
  std::string s = "the quick brown fox jumps over the lazy dog, twice over";
  EXPECT_EQ(crc32c_extend(crc32c(s.data(), 7), s.data() + 7, s.size() - 7), crc32c(s.data(), s.size()));
}

TEST(Record, SendRoundTrip) {
  SendRecord r;
  r.queue_uid = 7;
  r.slot = 42;
  r.incarnation = 1234567890123ULL;
  r.sent_epoch_ms = 1700000000000ULL;
  r.visible_epoch_ms = 1700000005000ULL;
  r.sequence_number = 99;
  r.sender_uid = 1000;
  r.attributes = std::string_view("\x01\x02\x00\x03", 4);
  r.body = "hello";
  r.group_id = "group";
  r.dedup_id = "dedup";
  std::string p = encode(r);
  SendRecord d;
  ASSERT_TRUE(decode(p, &d).ok());
  EXPECT_EQ(d.queue_uid, 7u);
  EXPECT_EQ(d.slot, 42u);
  EXPECT_EQ(d.incarnation, r.incarnation);
  EXPECT_EQ(d.visible_epoch_ms, r.visible_epoch_ms);
  EXPECT_EQ(d.sequence_number, 99u);
  EXPECT_EQ(d.attributes, r.attributes);
  EXPECT_EQ(d.body, "hello");
  EXPECT_EQ(d.group_id, "group");
  EXPECT_EQ(d.dedup_id, "dedup");
}

TEST(Record, FifoDedupRoundTripAndChecks) {
  FifoDedupRecord r;
  r.queue_uid = 9;
  r.slot = 17;
  r.incarnation = (1ULL << 40) + 3;
  r.sequence_number = 123456789;
  r.seen_epoch_ms = 1700000000123ULL;
  r.key_hi = 0x0123456789abcdefULL;
  r.key_lo = 0xfedcba9876543210ULL;
  const std::string p = encode(r);
  FifoDedupRecord d;
  ASSERT_TRUE(decode(p, &d).ok());
  EXPECT_EQ(d.queue_uid, 9u);
  EXPECT_EQ(d.slot, 17u);
  EXPECT_EQ(d.incarnation, r.incarnation);
  EXPECT_EQ(d.sequence_number, r.sequence_number);
  EXPECT_EQ(d.seen_epoch_ms, r.seen_epoch_ms);
  EXPECT_EQ(d.key_hi, r.key_hi);
  EXPECT_EQ(d.key_lo, r.key_lo);
  // Starts like SEND and DELETE (queue, slot, incarnation): what the live
  // index reads without decoding.
  DeleteRecord prefix;
  ASSERT_TRUE(decode(std::string_view(p).substr(0, 16), &prefix).ok());
  EXPECT_EQ(prefix.slot, 17u);
  EXPECT_EQ(prefix.incarnation, r.incarnation);
  for (size_t n = 0; n < p.size(); ++n) EXPECT_FALSE(decode(std::string_view(p).substr(0, n), &d).ok()) << n;
  EXPECT_FALSE(decode(p + "x", &d).ok());
  // As a whole record: typed 6, CRC32C over type, flags, seq and payload.
  std::string rec;
  append_record(RecordType::kFifoDedup, p, &rec);
  RecordHeader h = get_header(rec.data());
  EXPECT_EQ(h.type, RecordType::kFifoDedup);
  EXPECT_EQ(uint8_t(h.type), kMaxRecordType);
  EXPECT_EQ(h.length, p.size());
  h.crc = record_crc(rec.data(), h.length);
  put_header(rec.data(), h);
  const uint32_t good = record_crc(rec.data(), h.length);
  for (size_t i = 8; i < rec.size(); ++i) {
    rec[i] ^= 0x01;
    EXPECT_NE(record_crc(rec.data(), h.length), good) << "a flip at byte " << i << " went unnoticed";
    rec[i] ^= 0x01;
  }
}

// The journal feed appends SEND and DELETE records straight into its batch:
// the same bytes as a header plus encode(), and they decode back.
TEST(Record, AppendedRecordsMatchTheirEncodings) {
  SendRecord s;
  s.queue_uid = 4;
  s.slot = 17;
  s.incarnation = 1ull << 40;
  s.body = "body";
  s.group_id = "g";
  const DeleteRecord d{4, 17, (1ull << 40) + 1};
  std::string batch = "prefix";
  append_record(s, &batch);
  append_record(d, &batch);
  std::string expected = "prefix";
  append_record(RecordType::kSend, encode(s), &expected);
  append_record(RecordType::kDelete, encode(d), &expected);
  EXPECT_EQ(batch, expected);
  const size_t second = 6 + kRecordHeaderSize + get_header(batch.data() + 6).length;
  const RecordHeader h = get_header(batch.data() + second);
  EXPECT_EQ(h.type, RecordType::kDelete);
  DeleteRecord back;
  ASSERT_TRUE(decode(std::string_view(batch).substr(second + kRecordHeaderSize, h.length), &back).ok());
  EXPECT_EQ(back.incarnation, d.incarnation);
  EXPECT_EQ(back.slot, 17u);
}

TEST(Record, TruncatedOrPaddedPayloadIsRefused) {
  SendRecord r;
  r.body = "hello";
  std::string p = encode(r);
  SendRecord d;
  for (size_t n = 0; n < p.size(); ++n) EXPECT_FALSE(decode(std::string_view(p).substr(0, n), &d).ok()) << n;
  EXPECT_FALSE(decode(p + "x", &d).ok());
  QueueStateRecord q;
  EXPECT_FALSE(decode(std::string_view("\x01\x00"), &q).ok());
}

TEST(Cipher, SealOpenAndTamper) {
  std::array<unsigned char, 32> kb{};
  kb[0] = 1;
  Key k = KeyRing::key_from_bytes(kb);
  kb[0] = 2;
  Key other = KeyRing::key_from_bytes(kb);
  EXPECT_NE(k.id, other.id);
  unsigned char iv[kIvSize];
  make_iv(0x1122334455667788ULL, 4096, iv);
  std::string plain = "a secret body";
  std::string sealed(plain.size() + kTagSize, '\0');
  ASSERT_TRUE(seal(k, iv, "aad", plain, sealed.data()).ok());
  EXPECT_EQ(sealed.find("secret"), std::string::npos);
  std::string out(plain.size(), '\0');
  ASSERT_TRUE(open_sealed(k, iv, "aad", sealed, out.data()).ok());
  EXPECT_EQ(out, plain);
  EXPECT_FALSE(open_sealed(other, iv, "aad", sealed, out.data()).ok());
  EXPECT_FALSE(open_sealed(k, iv, "AAD", sealed, out.data()).ok());
  sealed[3] ^= 1;
  EXPECT_FALSE(open_sealed(k, iv, "aad", sealed, out.data()).ok());
}

}  // namespace
}  // namespace shmq::journal
