// SPDX-License-Identifier: Apache-2.0
// Robustness cases found by review: each failed before its fix. POSIX-only
// (it closes fd 0, speaks raw sockets), like posix_process_test.
#include <gtest/gtest.h>

#include <cerrno>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "mproc.h"
#include "tests/test_util.h"

using namespace mproc_test;

namespace {

// Child: replaces itself with sleep(1) running 3 s; the sentinel (close-on-
// exec) closes at exec, long before the process ends.
MPROC_TASK(exec_sleep_task) {
  (void)arg;
  (void)arg_len;
  execl("/bin/sleep", "sleep", "3", (char *)nullptr);
  return 99;
}

class ReviewProcess : public StartMethodTest {};

// is_alive must not block on a live child (CPython: waitpid WNOHANG).
TEST_P(ReviewProcess, IsAliveDoesNotBlockWhenChildExecs) {
  Child child(ctx(), exec_sleep_task);
  ASSERT_EQ(mproc_process_start(child.get()), MPROC_OK) << mproc_last_error();
  mproc_sleep(0.5);  // the exec has happened
  double t0 = Now();
  int alive = -1;
  ASSERT_EQ(mproc_process_is_alive(child.get(), &alive), MPROC_OK);
  double took = Now() - t0;
  EXPECT_EQ(alive, 1);
  EXPECT_LT(took, 1.0) << "is_alive blocked until the child ended";
  t0 = Now();
  EXPECT_EQ(mproc_process_join(child.get(), 0.2), MPROC_ETIMEDOUT);
  EXPECT_LT(Now() - t0, 1.0) << "join(0.2) blocked until the child ended";
}

MPROC_TASK(exit7_task) {
  (void)arg;
  (void)arg_len;
  return 7;
}

// A program started with stdin closed (`prog <&-`, a daemon) must still be
// able to start children.
TEST_P(ReviewProcess, StartWithStdinClosed) {
  int saved = dup(0);
  ASSERT_GE(saved, 0);
  close(0);
  mproc_process_t *p = nullptr;
  mproc_status_t st = mproc_process_create(&p, ctx(), exit7_task, nullptr, 0);
  mproc_status_t started = st == MPROC_OK ? mproc_process_start(p) : st;
  std::string why = mproc_last_error();
  int code = -1;
  if (started == MPROC_OK) {
    mproc_process_join(p, 10);
    mproc_process_exitcode(p, &code);
  }
  if (p) mproc_process_free(p);
  dup2(saved, 0);
  close(saved);
  EXPECT_EQ(started, MPROC_OK) << why;
  EXPECT_EQ(code, 7);
}

MPROC_INSTANTIATE_FOR_START_METHODS(ReviewProcess);

// accept(timeout) must return by its deadline even if the client stalls in
// the middle of a handshake message.
TEST(ReviewListener, AcceptTimeoutWithStalledClient) {
  std::string path = "/tmp/mproc-review-" + std::to_string(getpid()) + ".sock";
  mproc_listener_t *l;
  ASSERT_EQ(mproc_listener_create(&l, ("unix:" + path).c_str(), "k", 1),
            MPROC_OK)
      << mproc_last_error();
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un a = {};
  a.sun_family = AF_UNIX;
  snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
  ASSERT_EQ(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
  ASSERT_EQ(write(fd, "\0\0", 2), 2);  // half a length header, then nothing
  auto done = std::async(std::launch::async, [l] {
    mproc_connection_t *c = nullptr;
    return mproc_listener_accept(l, &c, 1.0);
  });
  bool returned =
      done.wait_for(std::chrono::seconds(4)) == std::future_status::ready;
  close(fd);  // unblocks a stuck accept (EOF)
  EXPECT_TRUE(returned) << "accept(1.0) still blocked after 4 s";
  done.get();
  mproc_listener_free(l);
}

// A client facing a listener that never accepts (its backlog full) gets
// MPROC_ETIMEDOUT by its timeout instead of blocking in connect().
TEST(ReviewListener, ClientTimeoutWithFullBacklog) {
  std::string path = "/tmp/mproc-review-full-" + std::to_string(getpid()) + ".sock";
  mproc_listener_t *l;
  ASSERT_EQ(mproc_listener_create(&l, ("unix:" + path).c_str(), nullptr, 0),
            MPROC_OK)
      << mproc_last_error();
  struct sockaddr_un a = {};
  a.sun_family = AF_UNIX;
  snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
  std::vector<int> fillers;
  bool full = false;
  for (int i = 0; i < 5000 && !full; i++) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ASSERT_GE(fd, 0);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
      full = errno == EAGAIN;
      close(fd);
      continue;
    }
    fillers.push_back(fd);
  }
  ASSERT_TRUE(full) << "the backlog never filled";
  mproc_connection_t *c = nullptr;
  double t0 = Now();
  EXPECT_EQ(mproc_client(&c, ("unix:" + path).c_str(), nullptr, 0, 0.3),
            MPROC_ETIMEDOUT)
      << mproc_last_error();
  double took = Now() - t0;
  EXPECT_GE(took, 0.29);
  EXPECT_LT(took, 3.0);
  for (int fd : fillers) close(fd);
  mproc_listener_free(l);
}

// A child forked while another thread is inside mp_wait_handles (APR pool
// create/destroy under the global allocator's mutex) must not deadlock in
// its own first wait.
MPROC_TASK(poll_in_child_task) {
  mproc_connection_t *c = *(mproc_connection_t *const *)arg;
  (void)arg_len;
  int ready;
  return mproc_connection_poll(c, &ready, 0) == MPROC_OK ? 0 : 1;
}

TEST(ReviewFork, ForkWhileAnotherThreadWaits) {
  MPROC_SKIP_WITHOUT_START_METHOD("fork");
  mproc_connection_t *a, *b;
  ASSERT_EQ(mproc_pipe(&a, &b, 1), MPROC_OK);
  std::atomic<bool> stop{false};
  std::thread poller([&] {
    int ready;
    while (!stop) mproc_connection_poll(a, &ready, 0);
  });
  mproc_context_t *fork_ctx = Context("fork");
  int hung = 0;
  for (int i = 0; i < 300 && hung == 0; i++) {
    mproc_process_t *p;
    ASSERT_EQ(mproc_process_create(&p, fork_ctx, poll_in_child_task, &b,
                                   sizeof b),
              MPROC_OK);
    ASSERT_EQ(mproc_process_start(p), MPROC_OK);
    if (mproc_process_join(p, 5) == MPROC_ETIMEDOUT) {
      hung = i + 1;
      mproc_process_kill(p);
      mproc_process_join(p, -1);
    }
    mproc_process_free(p);
  }
  stop = true;
  poller.join();
  EXPECT_EQ(hung, 0) << "child " << hung << " deadlocked in its first wait";
  mproc_connection_free(a);
  mproc_connection_free(b);
}

}  // namespace
