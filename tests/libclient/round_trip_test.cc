// The basic SQS cycle through a real broker: send, receive, delete.
#include <gtest/gtest.h>

#include "tests/support/broker_process.h"

namespace shmq {
namespace {

TEST(RoundTrip, SendReceiveDelete) {
  testing::BrokerProcess broker;
  auto client = broker.connect();
  auto q = client->create_queue("orders");
  ASSERT_TRUE(q.ok()) << q.status().to_string();
  auto sent = (*q)->send("hello");
  ASSERT_TRUE(sent.ok()) << sent.status().to_string();

  auto got = (*q)->receive();
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 1u);
  const Message& m = got.value()[0];
  EXPECT_EQ(m.body, "hello");
  EXPECT_EQ(m.message_id, sent->message_id);
  EXPECT_EQ(m.receive_count, 1u);

  // Leased: nobody else gets it.
  auto again = (*q)->receive();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->size(), 0u);

  ASSERT_TRUE((*q)->remove(m.receipt_handle.str()).ok());
  // Deleting twice is not an error (SQS).
  EXPECT_TRUE((*q)->remove(m.receipt_handle).ok());

  auto attrs = (*q)->get_attributes();
  ASSERT_TRUE(attrs.ok());
  EXPECT_EQ(attrs.value()["ApproximateNumberOfMessages"], "0");
  EXPECT_EQ(attrs.value()["ApproximateNumberOfMessagesNotVisible"], "0");
}

// A batch of ten through the batched shared-memory steps: send_batch,
// one receive of ten, remove_batch with the handles as received (no text),
// one of them forged: it alone fails.
TEST(RoundTrip, SendBatchReceiveTenRemoveBatchOfHandles) {
  testing::BrokerProcess broker;
  auto client = broker.connect();
  auto q = client->create_queue("batches");
  ASSERT_TRUE(q.ok()) << q.status().to_string();
  std::vector<SendBatchEntry> entries(10);
  for (int i = 0; i < 10; ++i) {
    entries[size_t(i)].id = "e" + std::to_string(i);
    entries[size_t(i)].body = "body " + std::to_string(i);
  }
  auto sent = (*q)->send_batch(entries);
  ASSERT_TRUE(sent.ok()) << sent.status().to_string();
  ASSERT_EQ(sent->successful.size(), 10u);
  EXPECT_TRUE(sent->failed.empty());

  Message m[10];
  ReceiveOptions ro;
  ro.max_messages = 10;
  auto n = (*q)->receive(std::span<Message>(m), ro);
  ASSERT_TRUE(n.ok());
  ASSERT_EQ(*n, 10u);
  ReceiptHandle handles[11];
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(m[i].body, "body " + std::to_string(i));  // in send order
    EXPECT_EQ(m[i].message_id, sent->successful[size_t(i)].message_id);
    handles[i] = m[i].receipt_handle;
  }
  handles[10] = handles[3];
  handles[10].check ^= 1;  // forged
  Status st[11];
  EXPECT_EQ((*q)->remove_batch(std::span<const ReceiptHandle>(handles, 11), st).status().code(),
            "TooManyEntriesInBatchRequest");
  std::swap(handles[9], handles[10]);  // the forged one in, the last real one out
  auto removed = (*q)->remove_batch(std::span<const ReceiptHandle>(handles, 10), std::span<Status>(st, 10));
  ASSERT_TRUE(removed.ok()) << removed.status().to_string();
  EXPECT_EQ(*removed, 9u);
  EXPECT_EQ(st[9].code(), "ReceiptHandleIsInvalid");
  for (int i = 0; i < 9; ++i) EXPECT_TRUE(st[i].ok()) << i << ": " << st[i].to_string();
  // The one left out goes through the text form, parsed then batched.
  auto text = (*q)->remove_batch({{"last", m[9].receipt_handle.str(), 0}});
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(text->successful.size(), 1u);
  auto attrs = (*q)->get_attributes();
  ASSERT_TRUE(attrs.ok());
  EXPECT_EQ(attrs.value()["ApproximateNumberOfMessages"], "0");
  EXPECT_EQ(attrs.value()["ApproximateNumberOfMessagesNotVisible"], "0");
}

TEST(RoundTrip, OpenFromSecondClientAndListQueues) {
  testing::BrokerProcess broker;
  auto a = broker.connect();
  ASSERT_TRUE(a->create_queue("alpha").ok());
  ASSERT_TRUE(a->create_queue("beta").ok());
  auto b = broker.connect();
  auto q = b->open_queue("alpha");
  ASSERT_TRUE(q.ok());
  auto urls = b->list_queues("al");
  ASSERT_TRUE(urls.ok());
  ASSERT_EQ(urls->size(), 1u);
  EXPECT_EQ(Client::queue_name_from_url(urls.value()[0]), "alpha");
  EXPECT_EQ(b->open_queue("gamma").status().code(), "QueueDoesNotExist");
}

}  // namespace
}  // namespace shmq
