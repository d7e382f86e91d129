// shm::advise_huge_pages on a tmpfs of the test's own mounted huge=advise
// (as /dev/shm would be on a tuned host): a segment-sized mapping it advised
// is backed by 2 MiB pages, one it did not advise is not. Needs root (mount,
// as the suite's other root-only tests) and a kernel with shmem THP; where
// either is missing it fails and says which.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "shm/segment.h"

namespace shmq::shm {
namespace {

constexpr size_t kSize = size_t(8) << 20;

// Kilobytes of the mapping at `addr` that are mapped with PMDs (huge pages).
long pmd_mapped_kb(const void* addr) {
  std::ifstream smaps("/proc/self/smaps");
  char start[32];
  std::snprintf(start, sizeof start, "%lx-", reinterpret_cast<unsigned long>(addr));
  std::string line;
  bool in = false;
  long kb = 0;
  while (std::getline(smaps, line)) {
    if (line.rfind(start, 0) == 0) {
      in = true;
      continue;
    }
    if (!in) continue;
    if (line.find('-') != std::string::npos && line.find(':') == std::string::npos) break;  // next mapping
    long v = 0;
    if (std::sscanf(line.c_str(), "ShmemPmdMapped: %ld kB", &v) == 1 ||
        std::sscanf(line.c_str(), "FilePmdMapped: %ld kB", &v) == 1)
      kb += v;
  }
  return kb;
}

class HugePagesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ifstream thp("/sys/kernel/mm/transparent_hugepage/shmem_enabled");
    std::getline(thp, modes_);
    ASSERT_FALSE(modes_.empty()) << "this kernel has no shmem transparent huge pages: nothing to check";
    ASSERT_EQ(modes_.find("[deny]"), std::string::npos)
        << "shmem_enabled is " << modes_ << ": it overrides every mount; set it to never or advise";
    char tmpl[] = "/tmp/shmq-huge-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    if (mount("shmq-huge", tmpl, "tmpfs", 0, "huge=advise,size=64m") != 0) {
      const int e = errno;
      rmdir(tmpl);
      FAIL() << "cannot mount a tmpfs with huge=advise (the test needs root): " << std::strerror(e);
    }
    dir_ = tmpl;
  }
  void TearDown() override {
    if (dir_.empty()) return;
    umount2(dir_.c_str(), MNT_DETACH);
    rmdir(dir_.c_str());
  }

  // Maps a fresh kSize file of the mount, advised or not, and touches every page.
  long map_and_touch(const char* name, bool advise) {
    const std::string path = dir_ + "/" + name;
    const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
    EXPECT_GE(fd, 0) << std::strerror(errno);
    EXPECT_EQ(ftruncate(fd, off_t(kSize)), 0);
    void* p = mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    EXPECT_NE(p, MAP_FAILED);
    if (p == MAP_FAILED) return -1;
    if (advise) advise_huge_pages(p, kSize);
    for (size_t i = 0; i < kSize; i += 4096) static_cast<volatile char*>(p)[i] = 1;
    const long kb = pmd_mapped_kb(p);
    munmap(p, kSize);
    return kb;
  }

  std::string modes_;
  std::string dir_;
};

TEST_F(HugePagesTest, AnAdvisedSegmentMappingGetsHugePagesAndAnUnadvisedOneDoesNot) {
  // Under shmem_enabled "force" every mapping is huge, advised or not.
  if (modes_.find("[force]") == std::string::npos)
    EXPECT_EQ(map_and_touch("plain", false), 0) << "the mount alone gave huge pages: the test proves nothing";
  // The kernel aligns a tmpfs mapping to 2 MiB; of 8 MiB at least the
  // aligned middle is huge even if an end were not.
  EXPECT_GE(map_and_touch("advised", true), 4096);
}

}  // namespace
}  // namespace shmq::shm
