// SPDX-License-Identifier: Apache-2.0
// Found by the outside audit (docs/sync.md): the statuses of shared memory
// and Value/Array creation when descriptors run out or sizes are absurd.
#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <vector>

#include "tests/sync_helpers.h"

namespace {

bool DetailHas(const char *text) {
  return std::string(mproc_last_error()).find(text) != std::string::npos;
}

int HighestOpenFd() {
  int highest = 2;
  if (DIR *d = opendir("/proc/self/fd")) {
    while (dirent *e = readdir(d)) {
      int fd = atoi(e->d_name);
      if (fd > highest) highest = fd;
    }
    closedir(d);
  }
  return highest;
}

// Fills the descriptor table (under a lowered soft limit) but for `spare`
// free slots; everything is undone when it goes out of scope.
class FdExhaustion {
 public:
  explicit FdExhaustion(int spare) {
    getrlimit(RLIMIT_NOFILE, &saved_);
    struct rlimit low = saved_;
    low.rlim_cur = (rlim_t)HighestOpenFd() + 64;
    setrlimit(RLIMIT_NOFILE, &low);
    int fd;
    while ((fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
      fillers_.push_back(fd);
    for (int i = 0; i < spare && !fillers_.empty(); i++) {
      close(fillers_.back());
      fillers_.pop_back();
    }
  }
  ~FdExhaustion() {
    for (int fd : fillers_) close(fd);
    setrlimit(RLIMIT_NOFILE, &saved_);
  }

 private:
  struct rlimit saved_;
  std::vector<int> fillers_;
};

std::string UniqueName(const char *what) {
  return std::string("mproc_audit_") + what + "_" + std::to_string(getpid());
}

TEST(AuditShmStatus, AttachUnderFdExhaustionIsEsysNotEnoent) {
  std::string name = UniqueName("attach");
  mproc_shared_memory_t *owner;
  ASSERT_EQ(mproc_shared_memory_create(&owner, name.c_str(), 4096, 0),
            MPROC_OK);
  // With no descriptor left, and with one or two (the search needs a
  // directory and the segment's descriptor): never "no such segment".
  for (int spare = 0; spare <= 4; spare++) {
    mproc_shared_memory_t *view = nullptr;
    mproc_status_t st;
    std::string detail;
    {
      FdExhaustion full(spare);
      st = mproc_shared_memory_attach(&view, name.c_str());
      detail = mproc_last_error();
    }
    if (st == MPROC_OK) {
      mproc_shared_memory_free(view);
      continue;
    }
    EXPECT_EQ(st, MPROC_ESYS) << "spare " << spare << ": " << detail;
    EXPECT_NE(detail.find("Too many open files"), std::string::npos)
        << "spare " << spare << ": " << detail;
  }
  mproc_shared_memory_unlink(owner);
  mproc_shared_memory_free(owner);
}

TEST(AuditShmStatus, CreateUnderFdExhaustionSaysWhy) {
  std::string taken = UniqueName("taken");
  mproc_shared_memory_t *owner;
  ASSERT_EQ(mproc_shared_memory_create(&owner, taken.c_str(), 4096, 0),
            MPROC_OK);
  for (int spare = 0; spare <= 4; spare++) {
    for (int flags : {0, MPROC_SHM_PERSISTENT}) {
      std::string fresh = UniqueName("fresh") + std::to_string(spare);
      mproc_shared_memory_t *s = nullptr, *dup = nullptr;
      mproc_status_t st_fresh, st_taken;
      std::string detail_fresh, detail_taken;
      {
        FdExhaustion full(spare);
        st_fresh = mproc_shared_memory_create(&s, fresh.c_str(), 4096, flags);
        detail_fresh = mproc_last_error();
        st_taken = mproc_shared_memory_create(&dup, taken.c_str(), 4096, 0);
        detail_taken = mproc_last_error();
      }
      if (st_fresh == MPROC_OK) {
        mproc_shared_memory_unlink(s);
        mproc_shared_memory_free(s);
      } else {
        EXPECT_EQ(st_fresh, MPROC_ESYS) << spare << ": " << detail_fresh;
        EXPECT_NE(detail_fresh.find("Too many open files"), std::string::npos)
            << spare << ": " << detail_fresh;
      }
      // A taken name is never created a second time for want of
      // descriptors to look with.
      if (st_taken == MPROC_OK) mproc_shared_memory_free(dup);
      EXPECT_NE(st_taken, MPROC_OK) << spare;
      if (st_taken != MPROC_EEXIST) {
        EXPECT_EQ(st_taken, MPROC_ESYS) << spare << ": " << detail_taken;
        EXPECT_NE(detail_taken.find("Too many open files"), std::string::npos)
            << spare << ": " << detail_taken;
      }
    }
  }
  mproc_shared_memory_unlink(owner);
  mproc_shared_memory_free(owner);
}

TEST(AuditShmStatus, LargeArrayUnderFdExhaustionSaysWhy) {
  mproc_array_t *a = nullptr;
  mproc_status_t st;
  {
    FdExhaustion full(0);
    // Large enough for a segment of its own.
    st = mproc_raw_array_create(&a, 'd', 1 << 20, nullptr);
  }
  if (st == MPROC_OK) mproc_array_free(a);
  EXPECT_EQ(st, MPROC_ESYS);
  EXPECT_TRUE(DetailHas("Too many open files")) << mproc_last_error();
}

TEST(AuditShmStatus, HugeSharedMemoryIsEnomem) {
  for (int flags : {0, MPROC_SHM_PERSISTENT}) {
    for (size_t size : {(size_t)1 << 62, SIZE_MAX / 2, SIZE_MAX - 100,
                        SIZE_MAX}) {
      mproc_shared_memory_t *s = nullptr;
      std::string name = UniqueName("huge");
      mproc_status_t st =
          mproc_shared_memory_create(&s, name.c_str(), size, flags);
      EXPECT_EQ(st, MPROC_ENOMEM) << size << " " << mproc_last_error();
      if (st == MPROC_OK) mproc_shared_memory_free(s);
      // Nothing left behind by the failed persistent create.
      mproc_shared_memory_t *left = nullptr;
      EXPECT_EQ(mproc_shared_memory_attach(&left, name.c_str()), MPROC_ENOENT);
    }
  }
}

TEST(AuditShmStatus, HugeArraysAreEnomem) {
  struct Case {
    char typecode;
    size_t length;
  } cases[] = {{'q', (size_t)1 << 50}, {'b', (size_t)1 << 62},
               {'i', SIZE_MAX / 2},    {'d', SIZE_MAX / 8},
               {'q', SIZE_MAX},        {'c', SIZE_MAX}};
  mproc_lock_t *lock;
  ASSERT_EQ(mproc_lock_create(&lock), MPROC_OK);
  for (const Case &c : cases) {
    mproc_array_t *a = nullptr;
    EXPECT_EQ(mproc_array_create(&a, c.typecode, c.length, nullptr),
              MPROC_ENOMEM)
        << c.typecode << " x " << c.length << ": " << mproc_last_error();
    EXPECT_EQ(mproc_raw_array_create(&a, c.typecode, c.length, nullptr),
              MPROC_ENOMEM)
        << c.typecode << " x " << c.length << ": " << mproc_last_error();
    EXPECT_EQ(mproc_array_create_with_lock(&a, c.typecode, c.length, nullptr,
                                           lock),
              MPROC_ENOMEM)
        << c.typecode << " x " << c.length << ": " << mproc_last_error();
  }
  // A size the OS refuses names its reason.
  mproc_array_t *a = nullptr;
  EXPECT_EQ(mproc_raw_array_create(&a, 'q', (size_t)1 << 50, nullptr),
            MPROC_ENOMEM);
  EXPECT_TRUE(DetailHas("Cannot allocate memory")) << mproc_last_error();
  mproc_lock_free(lock);
}

}  // namespace
