// SPDX-License-Identifier: Apache-2.0
// The seam (platform/platform.h) driven directly, with no core/ object:
// what a porter runs first (docs/porting.md). Modelled on libuv's
// test/test-list.h: the cases below, plus a list of helpers that a case
// runs in a second process. A helper runs in a child made by mp_child_fork,
// or in this binary re-executed by mp_child_spawn: main() asks
// mp_spawned_bootstrap first, and a spawned child runs the helper its
// bootstrap names (its arguments follow, space-separated) and exits with
// the helper's result; only the parent runs googletest, whose XML report
// tools/test counts.
#include <gtest/gtest.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <dirent.h>

#include "mproc.h"
extern "C" {  // mproc's internal headers are C only
#include "base/error.h"
#include "platform/platform.h"
}

namespace {

// ---- helpers (the second process of a case) ----------------------------

using Args = std::vector<std::string>;
using Helper = int (*)(const Args &);

mp_stream_t StreamOf(const std::string &s) {
  return mp_stream_t{static_cast<intptr_t>(std::stoll(s))};
}

// Imports the segment it was passed, writes 0xfeed at its start, then
// sends "hello" on the passed stream. Args: stream, segment, size.
int HelperEcho(const Args &a) {
  if (a.size() != 3) return 90;
  mp_handle_t seg_handle = {MP_HANDLE_SHM,
                            static_cast<intptr_t>(std::stoll(a[1]))};
  mp_shm_t *seg = nullptr;
  if (mp_shm_import(&seg, seg_handle, std::stoul(a[2])) != MPROC_OK) return 91;
  static_cast<uint32_t *>(mp_shm_base(seg))[0] = 0xfeed;
  mp_shm_close(seg);
  mp_handle_close(seg_handle);  // the inherited original
  const char msg[] = "hello";
  mp_iovec_t iov = {msg, 5};
  if (mp_stream_write(StreamOf(a[0]), &iov, 1) != MPROC_OK) return 92;
  return 0;
}

// Exits with the code it is given.
int HelperExit(const Args &a) { return a.empty() ? 0 : std::stoi(a[0]); }

const std::map<std::string, Helper> &Helpers() {
  static const std::map<std::string, Helper> helpers = {
      {"echo", HelperEcho},
      {"exit", HelperExit},
  };
  return helpers;
}

int RunHelper(const std::string &line) {
  std::istringstream in(line);
  std::string name, word;
  in >> name;
  Args args;
  while (in >> word) args.push_back(word);
  auto it = Helpers().find(name);
  if (it == Helpers().end()) {
    std::fprintf(stderr, "platform_test: no helper '%s'\n", name.c_str());
    return 99;
  }
  return it->second(args);
}

// Spawns this binary to run the helper line (it inherits pass).
mproc_status_t SpawnHelper(mp_child_t **out, const std::string &line,
                           const std::vector<mp_handle_t> &pass,
                           int die_with_parent = 0) {
  return mp_child_spawn(out, line.data(), line.size(), pass.data(),
                        pass.size(), die_with_parent);
}

// Forks a child that runs fn(ctx) and exits with its result.
template <typename F>
mproc_status_t Fork(mp_child_t **out, F *fn, int die_with_parent = 0) {
  return mp_child_fork(
      out, [](void *ctx) { return (*static_cast<F *>(ctx))(); }, fn,
      die_with_parent);
}

// As SpawnHelper, through the forkserver.
mproc_status_t SpawnHelperVia(mp_child_t **out, const std::string &line) {
  return mp_child_forkserver(out, line.data(), line.size(), nullptr, 0, 0);
}

int Join(mp_child_t *c, double timeout = 30) {
  int code = -1000;
  EXPECT_EQ(MPROC_OK, mp_child_wait(c, timeout, &code)) << mproc_last_error();
  mp_child_free(c);
  return code;
}

// Descriptors this process has open (Linux's /proc), to tell that nothing
// is left behind; -1 where that cannot be told.
int OpenDescriptors() {
  DIR *d = opendir("/proc/self/fd");
  if (d == nullptr) return -1;
  int n = 0;
  while (readdir(d) != nullptr) n++;
  closedir(d);
  return n;
}

// ---- runtime facts ------------------------------------------------------

TEST(Runtime, ResidentMemoryGrowsWithTouchedPages) {
  size_t before = mp_process_rss();
  ASSERT_GT(before, 0u);
  size_t size = (size_t)48 << 20;
  char *volatile block = static_cast<char *>(malloc(size));
  ASSERT_NE(nullptr, block);
  memset(block, 1, size);
  EXPECT_GE(mp_process_rss(), before + size / 2);
  free(block);
}

TEST(Runtime, Facts) {
  EXPECT_GT(mp_getpid(), 0);
  EXPECT_GE(mp_cpu_count(), 1);
  EXPECT_GE(mp_usable_cpu_count(), 1);
  EXPECT_LE(mp_usable_cpu_count(), mp_cpu_count());
  EXPECT_EQ(1, mp_platform_can_fork());  // POSIX
  double t0 = mp_monotonic();
  mp_sleep(0.05);
  double slept = mp_monotonic() - t0;
  EXPECT_GE(slept, 0.05);
  EXPECT_LT(slept, 5.0);
  EXPECT_FALSE(mp_parent_alive(mp_getpid()));  // not our own parent
  mp_cpu_relax();
  EXPECT_NE(0u, mp_thread_id());
  EXPECT_EQ(1, mp_thread_alive(mp_thread_id()));
}

// ---- threads, mutex, condition variable, once, at-fork -----------------

struct Shared {
  mp_mutex_t mutex = MP_MUTEX_INIT;
  mp_cond_t cond = MP_COND_INIT;
  int counter = 0;
  bool flag = false;
};

TEST(Threads, CreateJoinAndMutex) {
  Shared s;
  auto body = [](void *p) {
    Shared *sh = static_cast<Shared *>(p);
    for (int i = 0; i < 10000; i++) {
      mp_mutex_lock(&sh->mutex);
      sh->counter++;
      mp_mutex_unlock(&sh->mutex);
    }
  };
  mp_thread_t *t[4];
  for (auto &th : t) ASSERT_EQ(MPROC_OK, mp_thread_create(&th, body, &s));
  for (auto &th : t) ASSERT_EQ(MPROC_OK, mp_thread_join(th));
  EXPECT_EQ(40000, s.counter);
  mp_mutex_destroy(&s.mutex);
  mp_cond_destroy(&s.cond);
}

TEST(Threads, OsNameOfTheCallingThread) {
  struct Names {
    char got[64];
  } n;
  auto body = [](void *p) {
    Names *names = static_cast<Names *>(p);
    mp_thread_set_os_name("mproc-a-very-long-thread-name");
    mp_thread_os_name(names->got, sizeof names->got);
  };
  mp_thread_t *t = nullptr;
  ASSERT_EQ(MPROC_OK, mp_thread_create(&t, body, &n));
  ASSERT_EQ(MPROC_OK, mp_thread_join(t));
  // A port that keeps names keeps at least 15 bytes of them; one that
  // keeps none says "".
  std::string got = n.got;
  if (!got.empty()) {
    EXPECT_EQ(0u, std::string("mproc-a-very-long-thread-name").rfind(got, 0))
        << got;
    EXPECT_GE(got.size(), 15u);
  }
  char mine[64];
  mp_thread_os_name(mine, sizeof mine);
  EXPECT_NE(got, std::string(mine)) << "named the wrong thread";
}

TEST(Threads, ConditionTimesOutAndIsSignalled) {
  Shared s;
  mp_mutex_lock(&s.mutex);
  double t0 = mp_monotonic();
  EXPECT_EQ(MPROC_ETIMEDOUT, mp_cond_wait(&s.cond, &s.mutex, 0.05));
  EXPECT_GE(mp_monotonic() - t0, 0.05);
  mp_mutex_unlock(&s.mutex);
  auto setter = [](void *p) {
    Shared *sh = static_cast<Shared *>(p);
    mp_sleep(0.02);
    mp_mutex_lock(&sh->mutex);
    sh->flag = true;
    mp_cond_broadcast(&sh->cond);
    mp_mutex_unlock(&sh->mutex);
  };
  mp_thread_t *t;
  ASSERT_EQ(MPROC_OK, mp_thread_create(&t, setter, &s));
  mp_mutex_lock(&s.mutex);
  mproc_status_t st = MPROC_OK;
  while (!s.flag && st == MPROC_OK) st = mp_cond_wait(&s.cond, &s.mutex, 30);
  mp_mutex_unlock(&s.mutex);
  EXPECT_EQ(MPROC_OK, st);
  EXPECT_TRUE(s.flag);
  ASSERT_EQ(MPROC_OK, mp_thread_join(t));
  mp_cond_signal(&s.cond);  // nobody waits: a no-op
}

int once_runs = 0;
mp_once_t once = MP_ONCE_INIT;
void CountOnce() {
  mp_sleep(0.01);  // the others arrive meanwhile and must wait for it
  once_runs++;
}

TEST(Threads, OnceRunsOnce) {
  auto body = [](void *p) {
    mp_once(&once, CountOnce);
    *static_cast<int *>(p) = once_runs;  // it ran before any returns
  };
  int seen[4] = {0, 0, 0, 0};
  mp_thread_t *t[4];
  for (int i = 0; i < 4; i++)
    ASSERT_EQ(MPROC_OK, mp_thread_create(&t[i], body, &seen[i]));
  for (auto &th : t) ASSERT_EQ(MPROC_OK, mp_thread_join(th));
  EXPECT_EQ(1, once_runs);
  for (int v : seen) EXPECT_EQ(1, v);
}

mp_once_t slow_once = MP_ONCE_INIT;
volatile int slow_once_entered = 0, slow_once_runs = 0;
void SlowOnce() {
  slow_once_entered = 1;
  mp_sleep(0.5);
  slow_once_runs++;
}

// A fork while another thread runs a once function: the child has no such
// thread, and its own mp_once must run the function instead of waiting
// for ever (the test's timeout would say so).
TEST(Threads, OnceCaughtMidwayByForkRunsAgainInTheChild) {
  mp_thread_t *t;
  ASSERT_EQ(MPROC_OK, mp_thread_create(
                          &t, [](void *) { mp_once(&slow_once, SlowOnce); },
                          nullptr));
  while (!slow_once_entered) mp_sleep(0.001);
  auto child = [] {
    mp_once(&slow_once, SlowOnce);
    return slow_once_runs;  // 1: its own run
  };
  mp_child_t *c;
  ASSERT_EQ(MPROC_OK, Fork(&c, &child)) << mproc_last_error();
  int code = -1;
  ASSERT_EQ(MPROC_OK, mp_child_wait(c, 10, &code)) << "the child hung";
  mp_child_free(c);
  EXPECT_EQ(1, code);
  ASSERT_EQ(MPROC_OK, mp_thread_join(t));
  EXPECT_EQ(1, slow_once_runs);
}

int prepared = 0, in_parent = 0, in_child = 0;

TEST(Threads, AtforkHooksRunAroundFork) {
  ASSERT_EQ(MPROC_OK, mp_atfork_register([] { prepared++; },
                                         [] { in_parent++; },
                                         [] { in_child++; }));
  auto child = [] { return prepared * 10 + in_child; };  // 11
  mp_child_t *c;
  ASSERT_EQ(MPROC_OK, Fork(&c, &child)) << mproc_last_error();
  EXPECT_EQ(11, Join(c));
  EXPECT_EQ(1, prepared);
  EXPECT_EQ(1, in_parent);
  EXPECT_EQ(0, in_child);
}

// ---- children -----------------------------------------------------------

TEST(Children, ForkExitCode) {
  auto child = [] { return 7; };
  mp_child_t *c;
  ASSERT_EQ(MPROC_OK, Fork(&c, &child));
  EXPECT_GT(mp_child_pid(c), 0);
  EXPECT_NE(mp_child_pid(c), mp_getpid());
  EXPECT_EQ(7, Join(c));
}

TEST(Children, WaitTimesOutThenSignalEnds) {
  auto child = [] {
    mp_sleep(60);
    return 0;
  };
  mp_child_t *c;
  ASSERT_EQ(MPROC_OK, Fork(&c, &child));
  int code = 0;
  double t0 = mp_monotonic();
  EXPECT_EQ(MPROC_ETIMEDOUT, mp_child_wait(c, 0.1, &code));
  EXPECT_GE(mp_monotonic() - t0, 0.1);
  mp_handle_t sentinel = mp_child_sentinel(c);
  EXPECT_EQ(MP_HANDLE_CHILD, sentinel.kind);
  int ready = 1;
  EXPECT_EQ(MPROC_ETIMEDOUT, mp_wait_handles(&sentinel, 1, 0, &ready, nullptr));
  EXPECT_EQ(0, ready);
  ASSERT_EQ(MPROC_OK, mp_child_signal(c, MP_SIGNAL_TERMINATE));
  size_t n = 0;
  ASSERT_EQ(MPROC_OK, mp_wait_handles(&sentinel, 1, 30, &ready, &n));
  EXPECT_EQ(1, ready);
  EXPECT_EQ(1u, n);
  EXPECT_EQ(-SIGTERM, Join(c));
}

TEST(Children, SignalAfterTheEndIsNoError) {
  auto child = [] { return 3; };
  mp_child_t *c;
  ASSERT_EQ(MPROC_OK, Fork(&c, &child));
  int code = 0;
  ASSERT_EQ(MPROC_OK, mp_child_wait(c, 30, &code));
  EXPECT_EQ(3, code);
  EXPECT_EQ(MPROC_OK, mp_child_signal(c, MP_SIGNAL_KILL));
  EXPECT_EQ(MPROC_OK, mp_child_wait(c, 0, &code));  // the same code again
  EXPECT_EQ(3, code);
  mp_child_free(c);
}

TEST(Children, SpawnWithPassedHandles) {
  mp_stream_t pair[2];
  ASSERT_EQ(MPROC_OK, mp_stream_pair(1, pair));
  mp_shm_t *seg;
  ASSERT_EQ(MPROC_OK, mp_shm_create(&seg, 4096));
  std::ostringstream line;
  line << "echo " << pair[1].os << " " << mp_shm_handle(seg).os << " 4096";
  mp_child_t *c;
  ASSERT_EQ(MPROC_OK, SpawnHelper(&c, line.str(),
                                  {mp_stream_item(pair[1]), mp_shm_handle(seg)}))
      << mproc_last_error();
  mp_stream_close(pair[1]);
  char buf[16] = {0};
  size_t got = 0;
  ASSERT_EQ(MPROC_OK, mp_stream_read(pair[0], buf, sizeof buf, &got));
  EXPECT_EQ("hello", std::string(buf, got));
  EXPECT_EQ(0, Join(c));
  EXPECT_EQ(0xfeedu, static_cast<uint32_t *>(mp_shm_base(seg))[0]);
  // The child held the only other end: it is gone, so is the stream.
  ASSERT_EQ(MPROC_OK, mp_stream_read(pair[0], buf, sizeof buf, &got));
  EXPECT_EQ(0u, got);
  mp_stream_close(pair[0]);
  mp_shm_close(seg);
}

// The forkserver section, where the platform has it: the same helper as
// SpawnWithPassedHandles, forked by the server with the handles placed at
// their values; its end comes through the server; the server starts once.
int RunHelperBlob(const void *blob, size_t len) {
  return RunHelper(std::string(static_cast<const char *>(blob), len));
}

TEST(Children, ForkserverWithPassedHandles) {
  if (!mp_platform_can_forkserver()) GTEST_SKIP() << "no forkserver here";
  EXPECT_EQ(0, mp_forkserver_pid()) << "started before any request";
  mp_stream_t pair[2];
  ASSERT_EQ(MPROC_OK, mp_stream_pair(1, pair));
  mp_shm_t *seg;
  ASSERT_EQ(MPROC_OK, mp_shm_create(&seg, 4096));
  std::ostringstream line;
  line << "echo " << pair[1].os << " " << mp_shm_handle(seg).os << " 4096";
  std::string text = line.str();
  std::vector<mp_handle_t> pass = {mp_stream_item(pair[1]), mp_shm_handle(seg)};
  mp_child_t *c;
  ASSERT_EQ(MPROC_OK, mp_child_forkserver(&c, text.data(), text.size(),
                                          pass.data(), pass.size(), 0))
      << mproc_last_error();
  long server = mp_forkserver_pid();
  EXPECT_GT(server, 0);
  EXPECT_NE(server, mp_child_pid(c));
  mp_stream_close(pair[1]);
  char buf[16] = {0};
  size_t got = 0;
  ASSERT_EQ(MPROC_OK, mp_stream_read(pair[0], buf, sizeof buf, &got));
  EXPECT_EQ("hello", std::string(buf, got));
  mp_handle_t sentinel = mp_child_sentinel(c);
  ASSERT_EQ(MPROC_OK, mp_wait_handles(&sentinel, 1, 30, nullptr, nullptr));
  int code = -1;
  ASSERT_EQ(MPROC_OK, mp_child_wait(c, 0, &code));
  EXPECT_EQ(0, code);
  // Still ready after the wait took the code (as a pipe at end of file).
  EXPECT_EQ(MPROC_OK, mp_wait_handles(&sentinel, 1, 0, nullptr, nullptr));
  mp_child_free(c);
  EXPECT_EQ(0xfeedu, static_cast<uint32_t *>(mp_shm_base(seg))[0]);
  ASSERT_EQ(MPROC_OK, SpawnHelperVia(&c, "exit 6"));
  EXPECT_EQ(6, Join(c));
  EXPECT_EQ(server, mp_forkserver_pid()) << "one server for every request";
  mp_stream_close(pair[0]);
  mp_shm_close(seg);
}

// die_with_parent: the parent decides, the platform arranges it in the
// child before its code runs. A middle child forks a grandchild with the
// flag and is killed: the grandchild ends too.
TEST(Children, DieWithParentIsArrangedByTheParent) {
  mp_stream_t pair[2];
  ASSERT_EQ(MPROC_OK, mp_stream_pair(1, pair));
  static mp_stream_t report;
  report = pair[1];
  auto middle = [] {
    auto grandchild = [] {
      mp_sleep(60);
      return 0;
    };
    mp_child_t *g;
    if (Fork(&g, &grandchild, 1) != MPROC_OK) return 1;
    long pid = mp_child_pid(g);
    mp_iovec_t piece = {&pid, sizeof pid};
    if (mp_stream_write(report, &piece, 1) != MPROC_OK) return 2;
    mp_sleep(60);
    return 0;
  };
  mp_child_t *m;
  ASSERT_EQ(MPROC_OK, Fork(&m, &middle));
  mp_stream_close(pair[1]);
  long grandchild = 0;
  size_t got = 0;
  ASSERT_EQ(MPROC_OK, mp_stream_read(pair[0], &grandchild, sizeof grandchild,
                                     &got));
  ASSERT_EQ(sizeof grandchild, got);
  ASSERT_EQ(MPROC_OK, mp_child_signal(m, MP_SIGNAL_KILL));
  EXPECT_EQ(-SIGKILL, Join(m));
  // The grandchild is not ours to reap: it is gone once kill(pid, 0) fails
  // or it is a zombie of init's.
  bool gone = false;
  for (int i = 0; i < 1000 && !gone; i++) {
    std::ifstream stat("/proc/" + std::to_string(grandchild) + "/stat");
    std::string pid, comm, state;
    gone = !(stat >> pid >> comm >> state) || state == "Z";
    if (!gone) mp_sleep(0.01);
  }
  EXPECT_TRUE(gone) << "the grandchild outlived its killed parent";
  if (!gone) kill(static_cast<pid_t>(grandchild), SIGKILL);
  mp_stream_close(pair[0]);
}

TEST(Children, SpawnRefusesAChildHandle) {
  auto child = [] { return 0; };
  mp_child_t *c;
  ASSERT_EQ(MPROC_OK, Fork(&c, &child));
  mp_child_t *spawned = nullptr;
  EXPECT_EQ(MPROC_EINVAL, SpawnHelper(&spawned, "exit 0", {mp_child_sentinel(c)}));
  EXPECT_EQ(0, Join(c));
  ASSERT_EQ(MPROC_OK, SpawnHelper(&spawned, "exit 5", {}));
  EXPECT_EQ(5, Join(spawned));
}

// ---- waiting on mixed typed items --------------------------------------

TEST(Waiting, MixedTypedItems) {
  mp_stream_t pair[2];
  ASSERT_EQ(MPROC_OK, mp_stream_pair(1, pair));
  mp_listener_t l;
  int port = 0;
  ASSERT_EQ(MPROC_OK, mp_listen_tcp("127.0.0.1", 0, 8, &l, &port));
  auto child = [] { return 0; };
  mp_child_t *c;
  ASSERT_EQ(MPROC_OK, Fork(&c, &child));
  std::vector<mp_handle_t> items = {mp_stream_item(pair[0]),
                                    mp_listener_item(l), mp_child_sentinel(c)};
  // The child ends: only its sentinel is ready.
  int ready[3] = {-1, -1, -1};
  size_t n = 0;
  ASSERT_EQ(MPROC_OK, mp_wait_handles(items.data(), 3, 30, ready, &n));
  EXPECT_EQ(0, ready[0]);
  EXPECT_EQ(0, ready[1]);
  EXPECT_EQ(1, ready[2]);
  EXPECT_EQ(1u, n);
  EXPECT_EQ(0, Join(c));
  // A client and a byte: the listener and the stream too.
  mp_stream_t client;
  ASSERT_EQ(MPROC_OK, mp_connect_tcp("127.0.0.1", port, mp_monotonic() + 10,
                                     &client));
  mp_iovec_t iov = {"x", 1};
  ASSERT_EQ(MPROC_OK, mp_stream_write(pair[1], &iov, 1));
  ASSERT_EQ(MPROC_OK, mp_wait_handles(items.data(), 2, 30, ready, &n));
  if (n < 2) {  // the connection may land a moment after the byte
    ASSERT_EQ(MPROC_OK, mp_wait_handles(&items[1], 1, 30, nullptr, nullptr));
    ready[1] = 1;
  }
  EXPECT_EQ(1, ready[0]);
  EXPECT_EQ(1, ready[1]);
  // A segment is not waitable; an unknown kind neither.
  mp_shm_t *seg;
  ASSERT_EQ(MPROC_OK, mp_shm_create(&seg, 64));
  mp_handle_t bad[2] = {mp_shm_handle(seg), {MP_HANDLE_NONE, 0}};
  EXPECT_EQ(MPROC_EINVAL, mp_wait_handles(&bad[0], 1, 0, nullptr, nullptr));
  EXPECT_EQ(MPROC_EINVAL, mp_wait_handles(&bad[1], 1, 0, nullptr, nullptr));
  mp_shm_close(seg);
  mp_stream_close(client);
  mp_listener_close(l);
  mp_stream_close(pair[0]);
  mp_stream_close(pair[1]);
}

// ---- shared memory ------------------------------------------------------

TEST(SharedMemory, CreateImportDuplicateLeaveNothing) {
  int before = OpenDescriptors();
  mp_shm_t *seg;
  ASSERT_EQ(MPROC_OK, mp_shm_create(&seg, 8192));
  EXPECT_EQ(8192u, mp_shm_size(seg));
  uint32_t *words = static_cast<uint32_t *>(mp_shm_base(seg));
  EXPECT_EQ(0u, words[0]);  // zero-filled
  EXPECT_EQ(0u, words[2047]);
  mp_handle_t h = mp_shm_handle(seg);
  EXPECT_EQ(MP_HANDLE_SHM, h.kind);
  // Every import maps a duplicate: two views, h stays open.
  mp_shm_t *a, *b;
  ASSERT_EQ(MPROC_OK, mp_shm_import(&a, h, 8192));
  ASSERT_EQ(MPROC_OK, mp_shm_import(&b, h, 8192));
  EXPECT_NE(h.os, mp_shm_handle(a).os);
  EXPECT_NE(mp_shm_handle(a).os, mp_shm_handle(b).os);
  static_cast<uint32_t *>(mp_shm_base(a))[5] = 42;
  mp_shm_close(a);
  EXPECT_EQ(42u, static_cast<uint32_t *>(mp_shm_base(b))[5]);
  EXPECT_EQ(42u, words[5]);
  mp_shm_close(b);
  // Refused: the wrong size, another kind, a closed handle.
  mp_shm_t *x = nullptr;
  EXPECT_EQ(MPROC_EINVAL, mp_shm_import(&x, h, 4096));
  mp_handle_t as_stream = {MP_HANDLE_STREAM, h.os};
  EXPECT_EQ(MPROC_EINVAL, mp_shm_import(&x, as_stream, 8192));
  mp_shm_close(seg);
  EXPECT_EQ(MPROC_EINVAL, mp_shm_import(&x, h, 8192));
  EXPECT_EQ(MPROC_EINVAL, mp_shm_create(&x, 0));
  if (before >= 0) {
    EXPECT_EQ(before, OpenDescriptors()) << "a descriptor leaked";
  }
}

TEST(SharedMemory, NamedCreateOpenUnlink) {
  char name[64];
  mp_named_shm_random_name(name, sizeof name);
  mp_named_shm_t *a, *b;
  ASSERT_EQ(MPROC_OK, mp_named_shm_create(&a, name, 4096, 0));
  EXPECT_EQ(MPROC_EEXIST, mp_named_shm_create(&b, name, 4096, 0));
  ASSERT_EQ(MPROC_OK, mp_named_shm_open(&b, name));
  EXPECT_GE(mp_named_shm_size(b), 4096u);
  static_cast<char *>(mp_named_shm_base(a))[0] = 'z';
  EXPECT_EQ('z', static_cast<char *>(mp_named_shm_base(b))[0]);
  EXPECT_EQ(MPROC_OK, mp_named_shm_unlink(a));
  mp_named_shm_t *c;
  EXPECT_EQ(MPROC_ENOENT, mp_named_shm_open(&c, name));
  mp_named_shm_close(b);
  mp_named_shm_close(a);
  EXPECT_EQ(MPROC_EINVAL, mp_named_shm_open(&c, "has/slash"));
}

// ---- wait/wake across processes ----------------------------------------

TEST(WaitWake, TimeoutAndMismatch) {
  mp_shm_t *seg;
  ASSERT_EQ(MPROC_OK, mp_shm_create(&seg, 64));
  double t0 = mp_monotonic();
  EXPECT_EQ(MPROC_ETIMEDOUT, mp_wait_on(seg, 8, 0, 0.05));
  EXPECT_GE(mp_monotonic() - t0, 0.04);  // the kernel's clock, not ours
  t0 = mp_monotonic();
  EXPECT_EQ(MPROC_OK, mp_wait_on(seg, 8, 1, 10));  // the word is 0, not 1
  EXPECT_LT(mp_monotonic() - t0, 5.0);
  mp_wake(seg, 8, 1);  // nobody sleeps: a no-op
  mp_shm_close(seg);
}

TEST(WaitWake, AcrossProcesses) {
  mp_shm_t *seg;
  ASSERT_EQ(MPROC_OK, mp_shm_create(&seg, 4096));
  volatile uint32_t *w = static_cast<uint32_t *>(mp_shm_base(seg));
  const size_t off = 1024;  // word at w[256]; w[0]: the child is about to sleep
  auto child = [&] {
    __atomic_store_n(&w[0], 1u, __ATOMIC_SEQ_CST);
    double deadline = mp_monotonic() + 30;
    while (__atomic_load_n(&w[256], __ATOMIC_SEQ_CST) == 0) {
      if (mp_monotonic() > deadline) return 2;
      mproc_status_t st = mp_wait_on(seg, off, 0, 30);
      if (st != MPROC_OK) return 3;
    }
    return __atomic_load_n(&w[256], __ATOMIC_SEQ_CST) == 7 ? 0 : 4;
  };
  mp_child_t *c;
  ASSERT_EQ(MPROC_OK, Fork(&c, &child));
  while (__atomic_load_n(&w[0], __ATOMIC_SEQ_CST) == 0) mp_sleep(0.001);
  mp_sleep(0.05);  // most likely asleep now; a wake before that is fine too
  __atomic_store_n(&w[256], 7u, __ATOMIC_SEQ_CST);
  mp_wake(seg, off, INT32_MAX);
  EXPECT_EQ(0, Join(c));
  mp_shm_close(seg);
}

// ---- owner death --------------------------------------------------------

TEST(OwnerDeath, ADeadOwnerIsTold) {
  mp_shm_t *seg;
  ASSERT_EQ(MPROC_OK, mp_shm_create(&seg, 4096));
  mp_owned_word_t *w = static_cast<mp_owned_word_t *>(mp_shm_base(seg));
  auto child = [&] {
    uint32_t expected = 0;
    return mp_owner_take(w, &expected, 0) ? 0 : 1;  // and dies holding it
  };
  mp_child_t *c;
  ASSERT_EQ(MPROC_OK, Fork(&c, &child));
  EXPECT_EQ(0, Join(c));
  uint32_t word = __atomic_load_n(&w->word, __ATOMIC_SEQ_CST);
  EXPECT_TRUE(word & MP_OWNER_DIED) << std::hex << word;
  EXPECT_EQ(0u, word & MP_OWNER_ID_MASK);
  // Taken over and released by this process.
  uint32_t expected = word;
  ASSERT_TRUE(mp_owner_take(w, &expected, 0));
  EXPECT_EQ(mp_thread_id(),
            __atomic_load_n(&w->word, __ATOMIC_SEQ_CST) & MP_OWNER_ID_MASK);
  EXPECT_EQ(mp_thread_id(), mp_owner_clear(w) & MP_OWNER_ID_MASK);
  EXPECT_EQ(1, mp_owner_detach(w));
  mp_shm_close(seg);
}

// ---- streams ------------------------------------------------------------

std::string ReadSome(mp_stream_t s) {
  char buf[64];
  size_t got = 0;
  EXPECT_EQ(MPROC_OK, mp_stream_read(s, buf, sizeof buf, &got));
  return std::string(buf, got);
}

void Write(mp_stream_t s, const char *text) {
  mp_iovec_t iov[2] = {{text, 1}, {text + 1, std::strlen(text) - 1}};
  EXPECT_EQ(MPROC_OK, mp_stream_write(s, iov, 2)) << mproc_last_error();
}

TEST(Streams, DuplexPair) {
  mp_stream_t p[2];
  ASSERT_EQ(MPROC_OK, mp_stream_pair(1, p));
  Write(p[0], "ping");
  EXPECT_EQ("ping", ReadSome(p[1]));
  Write(p[1], "pong");
  EXPECT_EQ("pong", ReadSome(p[0]));
  EXPECT_EQ(MPROC_OK, mp_stream_wait_writable(p[0], 1));
  mp_stream_close(p[1]);
  EXPECT_EQ("", ReadSome(p[0]));  // end of stream
  mp_iovec_t iov = {"x", 1};
  EXPECT_EQ(MPROC_EOF, mp_stream_write(p[0], &iov, 1));
  mp_stream_close(p[0]);
}

TEST(Streams, OneWayPair) {
  mp_stream_t p[2];
  ASSERT_EQ(MPROC_OK, mp_stream_pair(0, p));
  Write(p[1], "one way");
  EXPECT_EQ("one way", ReadSome(p[0]));
  // The other way is shut: the reader cannot write, and at the writer's
  // end nothing ever arrives.
  mp_iovec_t iov = {"x", 1};
  EXPECT_NE(MPROC_OK, mp_stream_write(p[0], &iov, 1));
  mp_handle_t writer = mp_stream_item(p[1]);
  int ready = 0;
  mproc_status_t st = mp_wait_handles(&writer, 1, 0.05, &ready, nullptr);
  if (st == MPROC_OK) {
    EXPECT_EQ("", ReadSome(p[1]));  // shut: reads 0 at once
  } else {
    EXPECT_EQ(MPROC_ETIMEDOUT, st);
  }
  mp_stream_close(p[1]);
  EXPECT_EQ("", ReadSome(p[0]));
  mp_stream_close(p[0]);
}

TEST(Streams, WriteRefusesTooManyPieces) {
  mp_stream_t p[2];
  ASSERT_EQ(MPROC_OK, mp_stream_pair(1, p));
  mp_iovec_t iov[9];
  for (auto &v : iov) v = {"a", 1};
  EXPECT_EQ(MPROC_EINVAL, mp_stream_write(p[0], iov, 9));
  mp_stream_close(p[0]);
  mp_stream_close(p[1]);
}

// ---- local endpoints ----------------------------------------------------

TEST(LocalEndpoints, ListenConnectRemove) {
  std::string unique = "platform-test-" + std::to_string(mp_getpid());
  char *address = nullptr;
  ASSERT_EQ(MPROC_OK, mp_local_default_address(unique.c_str(), &address));
  EXPECT_TRUE(mp_is_local_address(address)) << address;
  EXPECT_NE(nullptr, std::strstr(address, unique.c_str()));
  EXPECT_FALSE(mp_is_local_address("localhost:8080"));
  mp_listener_t l;
  ASSERT_EQ(MPROC_OK, mp_listen_local(address, 8, &l)) << mproc_last_error();
  mp_listener_t again;
  EXPECT_EQ(MPROC_ESYS, mp_listen_local(address, 8, &again));  // in use
  mp_stream_t client, server;
  ASSERT_EQ(MPROC_OK,
            mp_connect_local(address, mp_monotonic() + 10, &client));
  mp_handle_t item = mp_listener_item(l);
  ASSERT_EQ(MPROC_OK, mp_wait_handles(&item, 1, 10, nullptr, nullptr));
  ASSERT_EQ(MPROC_OK, mp_accept(l, &server));
  mp_stream_t second;
  EXPECT_EQ(MPROC_ETIMEDOUT, mp_accept(l, &second)) << "no other client";
  Write(client, "local");
  EXPECT_EQ("local", ReadSome(server));
  mp_stream_close(server);
  mp_listener_close(l);
  mp_local_remove(address);
  // Nothing left: a connect finds no endpoint.
  EXPECT_EQ(MPROC_ESYS, mp_connect_local(address, mp_monotonic() + 1, &server));
  EXPECT_EQ(ENOENT, mproc_last_os_error());
  mp_stream_close(client);
  std::free(address);
  mp_listener_t none;
  EXPECT_EQ(MPROC_EINVAL, mp_listen_local("unix:", 8, &none));
  EXPECT_EQ(MPROC_EINVAL, mp_listen_local("localhost:1", 8, &none));
}

// ---- TCP ----------------------------------------------------------------

TEST(Tcp, ListenConnectAccept) {
  mp_listener_t l;
  int port = 0;
  ASSERT_EQ(MPROC_OK, mp_listen_tcp("127.0.0.1", 0, 8, &l, &port));
  EXPECT_GT(port, 0);
  mp_stream_t client, server;
  ASSERT_EQ(MPROC_OK,
            mp_connect_tcp("127.0.0.1", port, mp_monotonic() + 10, &client));
  mp_handle_t item = mp_listener_item(l);
  ASSERT_EQ(MPROC_OK, mp_wait_handles(&item, 1, 10, nullptr, nullptr));
  ASSERT_EQ(MPROC_OK, mp_accept(l, &server));
  Write(server, "tcp");
  EXPECT_EQ("tcp", ReadSome(client));
  mp_stream_close(client);
  mp_stream_close(server);
  mp_listener_close(l);
  EXPECT_EQ(MPROC_EINVAL, mp_connect_tcp("no-such-host.invalid", 1,
                                         mp_monotonic() + 5, &client));
}

// ---- handles ------------------------------------------------------------

TEST(Handles, DuplicateAndClose) {
  mp_stream_t p[2], dup;
  ASSERT_EQ(MPROC_OK, mp_stream_pair(1, p));
  ASSERT_EQ(MPROC_OK, mp_stream_duplicate(p[0], &dup));
  EXPECT_NE(dup.os, p[0].os);
  mp_stream_close(p[0]);
  Write(dup, "dup");  // the duplicate is the same stream
  EXPECT_EQ("dup", ReadSome(p[1]));
  mp_stream_t none = {MP_NO_OS_HANDLE};
  mp_stream_close(none);  // ignored
  mp_handle_t no_handle = {MP_HANDLE_NONE, 0};
  mp_handle_close(no_handle);  // ignored: would be standard input
  mp_handle_close(mp_stream_item(dup));  // a stream closed as a handle
  EXPECT_EQ("", ReadSome(p[1]));
  EXPECT_EQ(MPROC_EINVAL, mp_stream_duplicate(dup, &none));  // closed now
  mp_stream_close(p[1]);
}

// ---- error codes --------------------------------------------------------

TEST(Errors, LastOsErrorAfterAFailingCall) {
  mp_stream_t s;
  EXPECT_EQ(MPROC_ESYS, mp_connect_local("unix:/nonexistent-mproc-dir/s",
                                         mp_monotonic() + 1, &s));
  EXPECT_EQ(ENOENT, mproc_last_os_error()) << mproc_last_error();
  mp_stream_t bad = {-5};
  EXPECT_EQ(MPROC_EINVAL, mp_stream_duplicate(bad, &s));
  EXPECT_EQ(0, mproc_last_os_error()) << "no OS call behind it";
  mp_stream_t closed = {1 << 20};  // far above any open descriptor
  EXPECT_EQ(MPROC_EINVAL, mp_stream_duplicate(closed, &s));
  EXPECT_EQ(EBADF, mproc_last_os_error());
  EXPECT_NE(nullptr, std::strstr(mproc_last_error(), "stream"));
}

}  // namespace

int main(int argc, char **argv) {
  if (mp_platform_init(argv[0]) != MPROC_OK) {
    std::fprintf(stderr, "mp_platform_init: %s\n", mproc_last_error());
    return 100;
  }
  int is_child = 0;
  void *blob = nullptr;
  size_t len = 0;
  if (mp_spawned_bootstrap(argc, argv, &is_child, &blob, &len) != MPROC_OK) {
    std::fprintf(stderr, "mp_spawned_bootstrap: %s\n", mproc_last_error());
    return 101;
  }
  if (mp_forkserver_is_server()) mp_forkserver_serve(RunHelperBlob);
  if (is_child) {
    std::string line(static_cast<char *>(blob), len);
    std::free(blob);
    return RunHelper(line);
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
