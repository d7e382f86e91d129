// The bare SPSC ring (spsc_ring.h) behind the harness's mechanism interface,
// so the floor runs through exactly the same loops as shmq and the peers.
//
// A mechanism M, as harness.h uses it:
//   M(const Options&, int channels)        parent, before fork: makes the channels
//   M::Sender M::sender(int channel)       in a child
//   M::Receiver M::receiver(int channel)   in a child
//   Sender:   std::string& buffer(i)       payload i of the next send (o.size bytes)
//             void send(n)                 sends buffers [0, n); waits while full
//   Receiver: size_t receive(max)          0 when nothing came (spin) or the wait ended
//             std::string_view body(i)     valid until finish()
//             void finish()                deletes / acknowledges what receive returned
//   kName, kHasLease (finish does real work), kMultiProducer, kMultiConsumer
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench/clock.h"
#include "bench/options.h"
#include "bench/payload.h"
#include "bench/spsc_ring.h"

namespace shmq::bench {

class FloorMechanism {
 public:
  static constexpr const char* kName = "floor";
  static constexpr bool kHasLease = false;
  static constexpr bool kMultiProducer = false;
  static constexpr bool kMultiConsumer = false;

  FloorMechanism(const Options& o, int channels) : size_(o.size), batch_(size_t(o.batch)) {
    for (int i = 0; i < channels; ++i)
      rings_.push_back(std::make_unique<SpscRing>(o.size, spsc_capacity_for(o.size)));
  }

  class Sender {
   public:
    Sender(const SpscRing& ring, size_t size, size_t batch)
        : producer_(ring), buffers_(batch, make_body(size)) {}
    std::string& buffer(size_t i) { return buffers_[i]; }
    void send(size_t n) {
      for (size_t i = 0; i < n; ++i) {
        SpinWait full;
        while (!producer_.try_write(buffers_[i].data(), buffers_[i].size())) {
          producer_.publish();  // a batch larger than the ring must not wait on itself
          full.wait();
        }
      }
      producer_.publish();
    }

   private:
    SpscRing::Producer producer_;
    std::vector<std::string> buffers_;
  };

  class Receiver {
   public:
    explicit Receiver(const SpscRing& ring) : consumer_(ring) {}
    size_t receive(size_t max) { return n_ = consumer_.peek(max); }
    std::string_view body(size_t i) const { return consumer_.slot(i); }
    void finish() { consumer_.release(n_); }

   private:
    SpscRing::Consumer consumer_;
    size_t n_ = 0;
  };

  Sender sender(int channel) { return Sender(*rings_.at(size_t(channel)), size_, batch_); }
  // The floor only spins: a bare ring has no way to sleep.
  Receiver receiver(int channel) { return Receiver(*rings_.at(size_t(channel))); }

 private:
  size_t size_;
  size_t batch_;
  std::vector<std::unique_ptr<SpscRing>> rings_;
};

}  // namespace shmq::bench
