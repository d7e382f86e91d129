// shmq-http-bench-prep: fills a queue for bench/http_bench.sh through the
// client library and, for the DeleteMessage run, leases every message and
// writes one receipt handle per line, so that each HTTP delete deletes a
// real message.
//
//   shmq-http-bench-prep SOCKET QUEUE COUNT [HANDLES_FILE]
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "shmq/client.h"

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: shmq-http-bench-prep SOCKET QUEUE COUNT [HANDLES_FILE]\n");
    return 2;
  }
  auto c = shmq::Client::connect(argv[1]);
  if (!c.ok()) return std::fprintf(stderr, "%s\n", c.status().to_string().c_str()), 1;
  auto q = (*c)->create_queue(argv[2]);
  if (!q.ok()) return std::fprintf(stderr, "%s\n", q.status().to_string().c_str()), 1;
  const long n = std::atol(argv[3]);
  const std::string body(64, 'x');
  for (long i = 0; i < n; ++i)
    if (auto s = (*q)->send(body); !s.ok()) return std::fprintf(stderr, "send: %s\n", s.status().to_string().c_str()), 1;
  if (argc < 5) return 0;
  std::ofstream out(argv[4]);
  shmq::Message m[10];
  for (long got = 0; got < n;) {
    auto r = (*q)->receive(m, {.max_messages = 10, .wait_time_seconds = 0, .visibility_timeout = 43200});
    if (!r.ok()) return std::fprintf(stderr, "receive: %s\n", r.status().to_string().c_str()), 1;
    for (size_t i = 0; i < r.value(); ++i) out << m[i].receipt_handle.str() << "\n";
    got += long(r.value());
  }
  return 0;
}
