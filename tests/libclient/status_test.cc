// Tests for shmq/status.h: an OK Status is free to create and drop (the data
// path returns one from every step), and an error keeps its code and message
// through copies and moves.

#include "shmq/status.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>

namespace shmq {
namespace {

TEST(Status, OkIsOnePointerWide) {
  // Two empty strings per Status cost the batched send 30 % of its rate
  // (bench/RESULTS.md, session 13).
  EXPECT_EQ(sizeof(Status), sizeof(void*));
  EXPECT_TRUE(Status().ok());
  EXPECT_TRUE(Status::OK().ok());
  EXPECT_EQ(Status().code(), "");
  EXPECT_EQ(Status().message(), "");
  EXPECT_EQ(Status().to_string(), "OK");
}

TEST(Status, AnEmptyCodeIsOk) {
  Status s("", "ignored");
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.message(), "");
}

TEST(Status, ErrorsSurviveCopiesAndMoves) {
  Status e("QueueDoesNotExist", "The specified queue does not exist.");
  EXPECT_FALSE(e.ok());
  Status copy = e;
  Status assigned;
  assigned = e;
  e = Status::OK();  // the copies are deep: dropping the original changes nothing
  EXPECT_TRUE(e.ok());
  for (const Status* s : {&copy, &assigned}) {
    EXPECT_EQ(s->code(), "QueueDoesNotExist");
    EXPECT_EQ(s->message(), "The specified queue does not exist.");
    EXPECT_EQ(s->to_string(), "QueueDoesNotExist: The specified queue does not exist.");
  }
  Status moved = std::move(copy);
  EXPECT_EQ(moved.code(), "QueueDoesNotExist");
  assigned = Status::OK();
  EXPECT_TRUE(assigned.ok());
  Status self("A", "b");
  const Status& alias = self;
  self = alias;
  EXPECT_EQ(self.code(), "A");
}

TEST(Status, ResultCarriesEitherSide) {
  Result<int> v(7);
  EXPECT_TRUE(v.ok());
  EXPECT_EQ(*v, 7);
  EXPECT_TRUE(v.status().ok());
  Result<int> err("OverLimit", "full");
  EXPECT_FALSE(err.ok());
  EXPECT_EQ(err.status().code(), "OverLimit");
  EXPECT_EQ(err.status().message(), "full");
}

}  // namespace
}  // namespace shmq
