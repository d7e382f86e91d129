// What the durability tests share: a power loss (the broker SIGKILLed and
// its segments deleted, as a reboot leaves them), waiting until a queue's
// journal ring is drained, and draining a queue.
#pragma once

#include <map>
#include <string>

#include "shmq/client.h"
#include "tests/support/broker_process.h"

namespace shmq::testing {

// What a reboot does to the queues: their shared-memory segments are gone.
void remove_segments(const BrokerProcess& b);
// SIGKILL, segments removed, started again (the journal rebuilds the queues).
void power_loss(BrokerProcess& b);
// Waits (up to 2 s) until everything the queue's senders pushed is on disk.
bool wait_journaled(const BrokerProcess& b, const std::string& queue);
// Every message now in a standard queue, received (leased for 10 minutes):
// body -> MessageId.
std::map<std::string, std::string> drain(Queue& q);

}  // namespace shmq::testing
