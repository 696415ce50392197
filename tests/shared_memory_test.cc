// SPDX-License-Identifier: Apache-2.0
// SharedMemory by name (docs/sync.md): create, attach, unlink, errors, and
// the cleanup guarantee: nothing left in /dev/shm, even after SIGKILL.
#include <dirent.h>
#include <unistd.h>

#include <cstring>
#include <set>
#include <string>

#include "platform/testing/testing.h"
#include "tests/sync_helpers.h"

namespace {

class SharedMemoryTest : public MethodTest {};
INSTANTIATE_METHODS(SharedMemoryTest);

// Entries of /dev/shm whose name contains part (other programs may add
// their own at any time, so only ours are compared).
std::set<std::string> DevShm(const std::string &part) {
  std::set<std::string> names;
  if (DIR *d = opendir("/dev/shm")) {
    while (dirent *e = readdir(d))
      if (std::string(e->d_name).find(part) != std::string::npos)
        names.insert(e->d_name);
    closedir(d);
  }
  return names;
}

// A name no other test run uses at the same time.
std::string UniqueName(const char *what) {
  return std::string("mproc_test_") + what + "_" + std::to_string(getpid());
}

TEST(SharedMemory, CreateAttachUnlinkClose) {
  std::string name = UniqueName("basic");
  mproc_shared_memory_t *a, *b;
  ASSERT_EQ(mproc_shared_memory_create(&a, name.c_str(), 10000, 0), MPROC_OK)
      << mproc_last_error();
  EXPECT_TRUE(DevShm(name).empty());  // not a /dev/shm object
  size_t size = 0;
  EXPECT_EQ(mproc_shared_memory_size(a, &size), MPROC_OK);
  EXPECT_EQ(size, 10000u);
  const char *got_name;
  EXPECT_EQ(mproc_shared_memory_name(a, &got_name), MPROC_OK);
  EXPECT_EQ(name, got_name);
  char *buf_a, *buf_b;
  ASSERT_EQ(mproc_shared_memory_buf(a, (void **)&buf_a), MPROC_OK);
  EXPECT_EQ(buf_a[0], 0);
  EXPECT_EQ(buf_a[9999], 0);
  std::strcpy(buf_a, "hello");
  ASSERT_EQ(mproc_shared_memory_attach(&b, ("/" + name).c_str()), MPROC_OK)
      << mproc_last_error();
  ASSERT_EQ(mproc_shared_memory_buf(b, (void **)&buf_b), MPROC_OK);
  EXPECT_STREQ(buf_b, "hello");
  EXPECT_EQ(mproc_shared_memory_size(b, &size), MPROC_OK);
  EXPECT_EQ(size, 10000u);
  mproc_shared_memory_t *c;
  EXPECT_EQ(mproc_shared_memory_create(&c, name.c_str(), 10, 0), MPROC_EEXIST);
  EXPECT_EQ(mproc_shared_memory_unlink(a), MPROC_OK);
  EXPECT_EQ(mproc_shared_memory_unlink(b), MPROC_ENOENT);
  EXPECT_EQ(mproc_shared_memory_attach(&c, name.c_str()), MPROC_ENOENT);
  std::strcpy(buf_b, "still shared");  // users keep it after unlink
  EXPECT_STREQ(buf_a, "still shared");
  // The name is free again: a new, different segment.
  ASSERT_EQ(mproc_shared_memory_create(&c, name.c_str(), 10, 0), MPROC_OK);
  char *buf_c;
  mproc_shared_memory_buf(c, (void **)&buf_c);
  EXPECT_EQ(buf_c[0], 0);
  EXPECT_EQ(mproc_shared_memory_free(c), MPROC_OK);
  EXPECT_EQ(mproc_shared_memory_free(a), MPROC_OK);
  EXPECT_EQ(mproc_shared_memory_free(b), MPROC_OK);
}

TEST(SharedMemory, GoneWhenLastUserCloses) {
  std::string name = UniqueName("closed");
  mproc_shared_memory_t *a;
  ASSERT_EQ(mproc_shared_memory_create(&a, name.c_str(), 64, 0), MPROC_OK);
  EXPECT_EQ(mproc_shared_memory_free(a), MPROC_OK);
  EXPECT_EQ(mproc_shared_memory_attach(&a, name.c_str()), MPROC_ENOENT);
}

// CPython's SharedMemory.close: unmaps the view; name and size stay, unlink
// still works (close(); unlink()), buf does not; free releases the object.
TEST(SharedMemory, CloseUnmapsFreeReleases) {
  for (int flags : {0, MPROC_SHM_PERSISTENT}) {
    SCOPED_TRACE(flags);
    std::string name = UniqueName("closeview");
    mproc_shared_memory_t *a, *b;
    ASSERT_EQ(mproc_shared_memory_create(&a, name.c_str(), 100, flags),
              MPROC_OK);
    ASSERT_EQ(mproc_shared_memory_attach(&b, name.c_str()), MPROC_OK);
    EXPECT_EQ(mproc_shared_memory_close(a), MPROC_OK);
    EXPECT_EQ(mproc_shared_memory_close(a), MPROC_OK);  // twice is fine
    void *buf = nullptr;
    EXPECT_EQ(mproc_shared_memory_buf(a, &buf), MPROC_ESTATE);
    size_t size = 0;
    EXPECT_EQ(mproc_shared_memory_size(a, &size), MPROC_OK);
    EXPECT_EQ(size, 100u);
    const char *got = nullptr;
    EXPECT_EQ(mproc_shared_memory_name(a, &got), MPROC_OK);
    EXPECT_EQ(name, got);
    // b still maps it: the segment is there, and a's unlink removes it.
    EXPECT_EQ(mproc_shared_memory_unlink(a), MPROC_OK) << mproc_last_error();
    mproc_shared_memory_t *c;
    EXPECT_EQ(mproc_shared_memory_attach(&c, name.c_str()), MPROC_ENOENT);
    EXPECT_EQ(mproc_shared_memory_unlink(a), MPROC_ENOENT);
    EXPECT_EQ(mproc_shared_memory_buf(b, &buf), MPROC_OK);
    EXPECT_TRUE(DevShm(name).empty());
    EXPECT_EQ(mproc_shared_memory_free(a), MPROC_OK);
    EXPECT_EQ(mproc_shared_memory_free(a), MPROC_EINVAL);  // stale
    EXPECT_EQ(mproc_shared_memory_free(b), MPROC_OK);
  }
}

TEST(SharedMemory, RandomNamesAndBadArguments) {
  mproc_shared_memory_t *a, *b;
  ASSERT_EQ(mproc_shared_memory_create(&a, nullptr, 100, 0), MPROC_OK);
  const char *name;
  ASSERT_EQ(mproc_shared_memory_name(a, &name), MPROC_OK);
  EXPECT_GT(std::strlen(name), 8u);
  ASSERT_EQ(mproc_shared_memory_attach(&b, name), MPROC_OK);
  mproc_shared_memory_free(b);
  mproc_shared_memory_free(a);
  EXPECT_EQ(mproc_shared_memory_create(nullptr, "x", 1, 0), MPROC_EINVAL);
  EXPECT_EQ(mproc_shared_memory_create(&a, "x", 0, 0), MPROC_EINVAL);
  EXPECT_EQ(mproc_shared_memory_create(&a, "x", 1, 8), MPROC_EINVAL);
  EXPECT_EQ(mproc_shared_memory_create(&a, "", 1, 0), MPROC_EINVAL);
  EXPECT_EQ(mproc_shared_memory_create(&a, "a/b", 1, 0), MPROC_EINVAL);
  EXPECT_EQ(mproc_shared_memory_create(&a, std::string(201, 'x').c_str(), 1,
                                       0),
            MPROC_EINVAL);
  EXPECT_EQ(mproc_shared_memory_attach(&a, nullptr), MPROC_EINVAL);
  EXPECT_EQ(mproc_shared_memory_attach(nullptr, "x"), MPROC_EINVAL);
  EXPECT_EQ(mproc_shared_memory_attach(&a, "a/b"), MPROC_EINVAL);
  EXPECT_EQ(mproc_shared_memory_attach(&a, UniqueName("missing").c_str()),
            MPROC_ENOENT);
  void *buf;
  size_t size;
  EXPECT_EQ(mproc_shared_memory_buf(nullptr, &buf), MPROC_EINVAL);
  EXPECT_EQ(mproc_shared_memory_size(nullptr, &size), MPROC_EINVAL);
  EXPECT_EQ(mproc_shared_memory_unlink(nullptr), MPROC_EINVAL);
  EXPECT_EQ(mproc_shared_memory_close(nullptr), MPROC_EINVAL);
  EXPECT_EQ(mproc_shared_memory_free(nullptr), MPROC_OK);
}

TEST(SharedMemory, PersistentIsAPlainDevShmObject) {
  if (!mp_test_persistent_shm())
    GTEST_SKIP() << "no segment outlives its last user on this OS (Windows: "
                    "a file mapping goes with its last handle)";
  std::string name = UniqueName("persistent");
  mproc_shared_memory_t *a, *b;
  ASSERT_EQ(mproc_shared_memory_create(&a, name.c_str(), 4096,
                                       MPROC_SHM_PERSISTENT),
            MPROC_OK)
      << mproc_last_error();
  EXPECT_EQ(DevShm(name).count(name), 1u);
  mproc_shared_memory_t *c;
  EXPECT_EQ(mproc_shared_memory_create(&c, name.c_str(), 10, 0), MPROC_EEXIST);
  EXPECT_EQ(mproc_shared_memory_create(&c, name.c_str(), 10,
                                       MPROC_SHM_PERSISTENT),
            MPROC_EEXIST);
  EXPECT_EQ(mproc_shared_memory_free(a), MPROC_OK);
  ASSERT_EQ(mproc_shared_memory_attach(&b, name.c_str()), MPROC_OK);
  size_t size;
  EXPECT_EQ(mproc_shared_memory_size(b, &size), MPROC_OK);
  EXPECT_EQ(size, 4096u);
  EXPECT_EQ(mproc_shared_memory_unlink(b), MPROC_OK);
  EXPECT_TRUE(DevShm(name).empty());
  EXPECT_EQ(mproc_shared_memory_unlink(b), MPROC_ENOENT);
  EXPECT_EQ(mproc_shared_memory_free(b), MPROC_OK);
}

// Writes its argument string into the segment named in it: "name\0text".
MPROC_TASK(write_by_name) {
  (void)arg_len;
  const char *name = static_cast<const char *>(arg);
  const char *text = name + std::strlen(name) + 1;
  mproc_shared_memory_t *s;
  CHILD_EXPECT(mproc_shared_memory_attach(&s, name) == MPROC_OK, 1);
  char *buf;
  mproc_shared_memory_buf(s, (void **)&buf);
  std::strcpy(buf, text);
  mproc_shared_memory_free(s);
  return 0;
}

// Writes into the attached segment.
MPROC_TASK(write_attached) {
  (void)arg;
  (void)arg_len;
  auto *s = Attached<mproc_shared_memory_t>(0);
  char *buf;
  CHILD_EXPECT(mproc_shared_memory_buf(s, (void **)&buf) == MPROC_OK, 1);
  std::strcpy(buf + 100, "attached");
  return 0;
}

TEST_P(SharedMemoryTest, ChildrenReachItByNameAndByAttach) {
  std::string name = UniqueName("child");
  mproc_shared_memory_t *s;
  ASSERT_EQ(mproc_shared_memory_create(&s, name.c_str(), 4096, 0), MPROC_OK);
  std::string arg = name + '\0' + "by name";
  EXPECT_EQ(Finish(Start(write_by_name, {}, arg.data(), arg.size() + 1)), 0);
  EXPECT_EQ(Finish(Start(write_attached, {s})), 0);
  char *buf;
  mproc_shared_memory_buf(s, (void **)&buf);
  EXPECT_STREQ(buf, "by name");
  EXPECT_STREQ(buf + 100, "attached");
  mproc_shared_memory_free(s);
}

// Creates (arg: "c<name>") or attaches ("a<name>"), says so, and hangs.
MPROC_TASK(use_and_hang) {
  (void)arg_len;
  const char *spec = static_cast<const char *>(arg);
  auto *ready = Attached<mproc_semaphore_t>(0);
  mproc_shared_memory_t *s;
  mproc_status_t st =
      spec[0] == 'c' ? mproc_shared_memory_create(&s, spec + 1, 1 << 20, 0)
                     : mproc_shared_memory_attach(&s, spec + 1);
  CHILD_EXPECT(st == MPROC_OK, 1);
  mproc_semaphore_release(ready);
  mproc_sleep(60);
  return 2;
}

TEST_P(SharedMemoryTest, NothingLeftAfterSigkillOfEveryUser) {
  std::string name = UniqueName("killed");
  mproc_semaphore_t *ready;
  ASSERT_EQ(mproc_semaphore_create(&ready, 0), MPROC_OK);
  std::string create = "c" + name, attach = "a" + name;
  mproc_process_t *creator =
      Start(use_and_hang, {ready}, create.c_str(), create.size() + 1);
  ASSERT_EQ(mproc_semaphore_acquire(ready, 20), MPROC_OK);
  mproc_process_t *user =
      Start(use_and_hang, {ready}, attach.c_str(), attach.size() + 1);
  ASSERT_EQ(mproc_semaphore_acquire(ready, 20), MPROC_OK);
  // Both hold it; it is findable, and nothing is in /dev/shm.
  mproc_shared_memory_t *probe;
  ASSERT_EQ(mproc_shared_memory_attach(&probe, name.c_str()), MPROC_OK);
  mproc_shared_memory_free(probe);
  EXPECT_TRUE(DevShm(name).empty());
  ASSERT_EQ(mproc_process_kill(creator), MPROC_OK);
  EXPECT_EQ(Finish(creator), -9);
  // The creator is gone; the other user still makes it reachable.
  ASSERT_EQ(mproc_shared_memory_attach(&probe, name.c_str()), MPROC_OK);
  mproc_shared_memory_free(probe);
  ASSERT_EQ(mproc_process_kill(user), MPROC_OK);
  EXPECT_EQ(Finish(user), -9);
  EXPECT_EQ(mproc_shared_memory_attach(&probe, name.c_str()), MPROC_ENOENT);
  EXPECT_TRUE(DevShm(name).empty());
  mproc_semaphore_free(ready);
}

}  // namespace
