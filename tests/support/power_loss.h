// What the durability tests share: a power loss (the broker SIGKILLed and
// its segments deleted, as a reboot leaves them), waiting until a queue's
// journal ring is drained, and draining a queue.
#pragma once

#include <functional>
#include <map>
#include <string>

#include "shmq/client.h"
#include "tests/support/broker_process.h"

namespace shmq::testing {

// What a reboot does to the queues: their shared-memory segments are gone.
void remove_segments(const BrokerProcess& b);
// SIGKILL, segments removed, started again (the journal rebuilds the queues).
void power_loss(BrokerProcess& b);
// The power goes while a sender works: forks a child that runs
// sender(fd), writing one line to fd per acknowledged send (and never
// returning), waits until it has written min_acks lines (or 5 s), then
// SIGKILLs the broker and the child. Returns every line the child wrote.
std::string kill_during_sends(BrokerProcess& b, const std::function<void(int fd)>& sender, int min_acks);
// Waits (up to 2 s) until everything the queue's senders pushed is on disk.
bool wait_journaled(const BrokerProcess& b, const std::string& queue);
// Every message now in a standard queue, received (leased for 10 minutes):
// body -> MessageId.
std::map<std::string, std::string> drain(Queue& q);

}  // namespace shmq::testing
