// SPDX-License-Identifier: Apache-2.0
// Defects from the outside audit of processes, under every start method:
// stopped children are alive (is_alive, exitcode, join, active_children and
// the exit function), daemons end with a killed parent even when they
// ignore SIGTERM or are stopped, and handles created while a standard
// descriptor is closed survive the trip to a child.
//
// POSIX: signals, /proc, descriptors.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "mproc.h"
#include "tests/posix_test_util.h"
#include "tests/test_util.h"

using namespace mproc_test;  // NOLINT: the suite's own helpers

namespace {

// ---- helpers ------------------------------------------------------------

// The one-letter state of a process (/proc/pid/stat), or '?' if gone.
char ProcessState(long pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), {});
  size_t end_of_name = stat.rfind(')');
  if (end_of_name == std::string::npos || end_of_name + 2 >= stat.size())
    return '?';
  return stat[end_of_name + 2];
}

// Waits up to timeout seconds for pid to reach state (e.g. 'T': stopped).
bool WaitForState(long pid, char state, double timeout) {
  double deadline = Now() + timeout;
  while (ProcessState(pid) != state) {
    if (Now() > deadline) return false;
    mproc_sleep(0.005);
  }
  return true;
}


// Makes this process adopt its orphaned descendants, for the test's life.
class Subreaper {
 public:
  Subreaper() { EXPECT_EQ(0, prctl(PR_SET_CHILD_SUBREAPER, 1)); }
  ~Subreaper() { prctl(PR_SET_CHILD_SUBREAPER, 0); }
};

// Kills pid when the test leaves, whatever happened (a stopped orphan
// would otherwise stay behind for ever).
class KillAtEnd {
 public:
  explicit KillAtEnd(pid_t pid) : pid_(pid) {}
  ~KillAtEnd() {
    if (pid_ > 0 && kill(pid_, SIGKILL) == 0) ReapWithin(pid_, 5);
  }

 private:
  pid_t pid_;
};

// ---- tasks --------------------------------------------------------------

struct DaemonArg {
  char method[16];
  int ignore_terminate;
  int handle_terminate; // the daemon writes `terminated` on SIGTERM, exits 0
  PathArg terminated;
  int stop_daemon;  // the middle process stops its daemon before it exits
  PathArg ready;    // the daemon writes it once it runs
  PathArg pids;     // the middle process writes "<daemon pid>"
};

// Where the SIGTERM handler of a daemon writes (set before it is armed).
const char *terminated_path;

void write_terminated_and_exit(int) {
  // A test program: not async-signal-safe, but the task only sleeps.
  WriteFileAtomically(terminated_path, "terminated");
  _exit(0);
}

MPROC_TASK(announce_then_sleep) {
  if (arg_len != sizeof(DaemonArg)) return 200;
  const DaemonArg *a = static_cast<const DaemonArg *>(arg);
  if (a->ignore_terminate) signal(SIGTERM, SIG_IGN);
  if (a->handle_terminate) {
    terminated_path = a->terminated.path;
    signal(SIGTERM, write_terminated_and_exit);
  }
  if (!WriteFileAtomically(a->ready.path, "ready")) return 201;
  mproc_sleep(60);
  return 0;
}

// Starts a daemon, reports its pid, optionally stops it, and then either
// returns (the exit function must end the daemon) or blocks (the test
// kills this process).
int StartDaemon(const DaemonArg *a, long *pid) {
  mproc_context_t *ctx;
  mproc_process_t *daemon;
  if (mproc_get_context(a->method, &ctx) != MPROC_OK) return 201;
  if (mproc_process_create(&daemon, ctx, announce_then_sleep, a, sizeof *a) !=
          MPROC_OK ||
      mproc_process_set_daemon(daemon, 1) != MPROC_OK ||
      mproc_process_start(daemon) != MPROC_OK ||
      mproc_process_pid(daemon, pid) != MPROC_OK)
    return 202;
  if (!WaitForFile(a->ready.path, 20)) return 203;
  if (a->stop_daemon) {
    if (kill(static_cast<pid_t>(*pid), SIGSTOP) != 0) return 204;
    if (!WaitForState(*pid, 'T', 10)) return 205;
  }
  if (!WriteFileAtomically(a->pids.path, std::to_string(*pid))) return 206;
  return 0;
}

MPROC_TASK(start_daemon_then_exit) {
  if (arg_len != sizeof(DaemonArg)) return 200;
  long pid;
  return StartDaemon(static_cast<const DaemonArg *>(arg), &pid);
}

MPROC_TASK(start_daemon_then_block) {
  if (arg_len != sizeof(DaemonArg)) return 200;
  long pid;
  int code = StartDaemon(static_cast<const DaemonArg *>(arg), &pid);
  if (code != 0) return code;
  mproc_sleep(60);
  return 0;
}

// Sends "hello" through the attached connection: 0 on success.
MPROC_TASK(say_hello) {
  (void)arg;
  (void)arg_len;
  void *obj = nullptr;
  if (mproc_attached(0, &obj) != MPROC_OK) return 200;
  auto *c = static_cast<mproc_connection_t *>(obj);
  return mproc_connection_send_bytes(c, "hello", 5, 0, MPROC_REST, 10) ==
                 MPROC_OK
             ? 0
             : 201;
}

// Puts 42 into the attached queue: 0 on success.
MPROC_TASK(put_42) {
  (void)arg;
  (void)arg_len;
  void *obj = nullptr;
  if (mproc_attached(0, &obj) != MPROC_OK) return 200;
  int v = 42;
  return mproc_queue_put_bytes(static_cast<mproc_queue_t *>(obj), &v, sizeof v,
                               10) == MPROC_OK
             ? 0
             : 201;
}

class AuditProcess : public StartMethodTest {
 protected:
  DaemonArg MakeDaemonArg(bool ignore_terminate, bool stop_daemon) {
    DaemonArg a{};
    std::strncpy(a.method, method(), sizeof a.method - 1);
    a.ignore_terminate = ignore_terminate;
    a.stop_daemon = stop_daemon;
    a.ready = MakePathArg(TempPath("daemon-ready"));
    a.pids = MakePathArg(TempPath("daemon-pid"));
    return a;
  }
};

// ---- 1. stopped children ------------------------------------------------

// A stopped child (SIGSTOP, a user's Ctrl-Z) is alive, as in CPython.
TEST_P(AuditProcess, AStoppedChildIsAlive) {
  DaemonArg arg = MakeDaemonArg(false, false);
  Child c(ctx(), announce_then_sleep, &arg, sizeof arg);
  ASSERT_TRUE(c.StartAndWaitFor(arg.ready.path));
  ASSERT_EQ(0, kill(static_cast<pid_t>(c.Pid()), SIGSTOP));
  ASSERT_TRUE(WaitForState(c.Pid(), 'T', 10));

  int alive = -1;
  EXPECT_EQ(MPROC_OK, mproc_process_is_alive(c.get(), &alive))
      << mproc_last_error();
  EXPECT_EQ(1, alive);
  int code = 0;
  EXPECT_EQ(MPROC_ERUNNING, mproc_process_exitcode(c.get(), &code))
      << mproc_last_error();
  EXPECT_EQ(MPROC_ETIMEDOUT, mproc_process_join(c.get(), 0.2))
      << mproc_last_error();
  mproc_process_t *active[4] = {};
  size_t count = 0;
  EXPECT_EQ(MPROC_OK, mproc_active_children(active, 4, &count));
  ASSERT_EQ(1u, count) << "the stopped child is an active child";
  EXPECT_EQ(c.get(), active[0]);
  EXPECT_EQ(MPROC_ERUNNING, mproc_process_free(c.get()));

  // Continued, it is still the same running child.
  ASSERT_EQ(0, kill(static_cast<pid_t>(c.Pid()), SIGCONT));
  ASSERT_TRUE(WaitForState(c.Pid(), 'S', 10));
  EXPECT_EQ(MPROC_OK, mproc_process_is_alive(c.get(), &alive))
      << mproc_last_error();
  EXPECT_EQ(1, alive);
  EXPECT_EQ(MPROC_ETIMEDOUT, mproc_process_join(c.get(), 0.1))
      << mproc_last_error();

  // Stopped again, a SIGKILL still ends it, and join says so.
  ASSERT_EQ(0, kill(static_cast<pid_t>(c.Pid()), SIGSTOP));
  ASSERT_TRUE(WaitForState(c.Pid(), 'T', 10));
  EXPECT_EQ(MPROC_OK, mproc_process_kill(c.get())) << mproc_last_error();
  EXPECT_EQ(-SIGKILL, c.JoinCode(10));
}

// join without a timeout keeps waiting on a stopped child (no error), and
// returns once the child ends.
TEST_P(AuditProcess, JoinForeverWaitsThroughAStop) {
  DaemonArg arg = MakeDaemonArg(false, false);
  Child c(ctx(), announce_then_sleep, &arg, sizeof arg);
  ASSERT_TRUE(c.StartAndWaitFor(arg.ready.path));
  ASSERT_EQ(0, kill(static_cast<pid_t>(c.Pid()), SIGSTOP));
  ASSERT_TRUE(WaitForState(c.Pid(), 'T', 10));
  std::atomic<int> joined{-1};
  std::thread joiner(
      [&] { joined = mproc_process_join(c.get(), MPROC_FOREVER); });
  mproc_sleep(0.3);
  EXPECT_EQ(-1, joined.load()) << "join returned " << joined.load()
                               << " while the child was stopped";
  kill(static_cast<pid_t>(c.Pid()), SIGKILL);
  joiner.join();
  EXPECT_EQ(MPROC_OK, joined.load());
  EXPECT_EQ(-SIGKILL, c.JoinCode(10));
}

// At exit, a stopped daemon that ignores SIGTERM is killed after the grace
// period: the program exits instead of hanging for ever.
TEST_P(AuditProcess, ExitEndsAStoppedDaemonThatIgnoresTerminate) {
  DaemonArg arg = MakeDaemonArg(true, true);
  Child middle(ctx(), start_daemon_then_exit, &arg, sizeof arg);
  ASSERT_EQ(MPROC_OK, mproc_process_start(middle.get())) << mproc_last_error();
  ASSERT_TRUE(WaitForFile(arg.pids.path, 30)) << "the daemon never started";
  pid_t daemon = static_cast<pid_t>(std::stol(ReadFile(arg.pids.path)));
  KillAtEnd cleanup(daemon);
  EXPECT_EQ(0, middle.JoinCode(20)) << "the exit hung on the stopped daemon";
  EXPECT_NE(0, kill(daemon, 0)) << "the daemon outlived its parent's exit";
}

// At exit, a stopped daemon is continued after its SIGTERM, so that its
// handler runs (instead of a SIGKILL 2 seconds later).
TEST_P(AuditProcess, ExitLetsAStoppedDaemonHandleTerminate) {
  DaemonArg arg = MakeDaemonArg(false, true);
  arg.handle_terminate = 1;
  std::string terminated = TempPath("terminated");
  arg.terminated = MakePathArg(terminated);
  Child middle(ctx(), start_daemon_then_exit, &arg, sizeof arg);
  ASSERT_EQ(MPROC_OK, mproc_process_start(middle.get())) << mproc_last_error();
  ASSERT_TRUE(WaitForFile(arg.pids.path, 30)) << "the daemon never started";
  pid_t daemon = static_cast<pid_t>(std::stol(ReadFile(arg.pids.path)));
  KillAtEnd cleanup(daemon);
  EXPECT_EQ(0, middle.JoinCode(20));
  EXPECT_TRUE(FileExists(terminated)) << "the daemon's SIGTERM handler never ran";
}

// ---- 2. daemons and a killed parent -------------------------------------

void ExpectDaemonDiesWithKilledParent(AuditProcess *test, const DaemonArg &arg,
                                      mproc_context_t *ctx) {
  (void)test;
  Subreaper subreaper;
  Child middle(ctx, start_daemon_then_block, &arg, sizeof arg);
  ASSERT_EQ(MPROC_OK, mproc_process_start(middle.get())) << mproc_last_error();
  ASSERT_TRUE(WaitForFile(arg.pids.path, 30)) << "the daemon never started";
  pid_t daemon = static_cast<pid_t>(std::stol(ReadFile(arg.pids.path)));
  KillAtEnd cleanup(daemon);
  ASSERT_EQ(MPROC_OK, mproc_process_kill(middle.get()));
  EXPECT_EQ(-SIGKILL, middle.JoinCode(10));
  int status = ReapWithin(daemon, 15);
  ASSERT_NE(-1, status) << "the daemon outlived its killed parent";
  EXPECT_TRUE(WIFSIGNALED(status)) << status;
}

TEST_P(AuditProcess, ADaemonIgnoringTerminateDiesWithItsKilledParent) {
  ExpectDaemonDiesWithKilledParent(this, MakeDaemonArg(true, false), ctx());
}

TEST_P(AuditProcess, AStoppedDaemonDiesWithItsKilledParent) {
  ExpectDaemonDiesWithKilledParent(this, MakeDaemonArg(true, true), ctx());
}

// ---- 4. standard descriptors closed -------------------------------------

// Runs body with descriptor fd closed, then puts it back.
template <typename Body>
void WithDescriptorClosed(int fd, Body body) {
  int saved = fcntl(fd, F_DUPFD_CLOEXEC, 10);
  ASSERT_GE(saved, 0);
  close(fd);
  body();
  dup2(saved, fd);
  close(saved);
}

bool IsClosed(int fd) { return fcntl(fd, F_GETFD) == -1 && errno == EBADF; }

// Every descriptor mproc makes stays above standard input, output and
// error, so that nothing (a child's /dev/null stdin, its printf) lands on
// one of them.
TEST(AuditDescriptors, NoObjectTakesAClosedStandardDescriptor) {
  for (int fd = 0; fd <= 2; fd++) {
    WithDescriptorClosed(fd, [&] {
      mproc_connection_t *a = nullptr, *b = nullptr;
      ASSERT_EQ(MPROC_OK, mproc_pipe(&a, &b, 1)) << mproc_last_error();
      EXPECT_TRUE(IsClosed(fd)) << "a pipe took descriptor " << fd;
      mproc_connection_free(a);
      mproc_connection_free(b);
      mproc_queue_t *q = nullptr;
      ASSERT_EQ(MPROC_OK, mproc_queue_create(&q, 0, 4096)) << mproc_last_error();
      EXPECT_TRUE(IsClosed(fd)) << "a queue took descriptor " << fd;
      mproc_queue_free(q);
      mproc_lock_t *l = nullptr;
      ASSERT_EQ(MPROC_OK, mproc_lock_create(&l)) << mproc_last_error();
      EXPECT_TRUE(IsClosed(fd)) << "a lock took descriptor " << fd;
      mproc_lock_free(l);
      int zero = 0;
      mproc_value_t *v = nullptr;
      ASSERT_EQ(MPROC_OK, mproc_value_create(&v, 'i', &zero))
          << mproc_last_error();
      EXPECT_TRUE(IsClosed(fd)) << "a value took descriptor " << fd;
      mproc_value_free(v);
    });
  }
}

// A connection made while standard input is closed reaches the child (its
// first end is the one that would take descriptor 0).
TEST_P(AuditProcess, AConnectionMadeWithStdinClosedReachesTheChild) {
  WithDescriptorClosed(0, [&] {
    mproc_connection_t *writer = nullptr, *reader = nullptr;
    ASSERT_EQ(MPROC_OK, mproc_pipe(&writer, &reader, 1)) << mproc_last_error();
    Child c(ctx(), say_hello);
    ASSERT_EQ(MPROC_OK, mproc_process_attach(c.get(), writer));
    EXPECT_EQ(0, c.RunToEnd());
    void *got = nullptr;
    size_t len = 0;
    EXPECT_EQ(MPROC_OK,
              mproc_connection_recv_bytes(reader, 0, &got, &len, 0))
        << mproc_last_error();
    EXPECT_EQ("hello", std::string(static_cast<char *>(got), len));
    free(got);
    mproc_connection_free(reader);
    mproc_connection_free(writer);
  });
}

// A queue made while standard input is closed reaches the child.
TEST_P(AuditProcess, AQueueMadeWithStdinClosedReachesTheChild) {
  WithDescriptorClosed(0, [&] {
    mproc_queue_t *q = nullptr;
    ASSERT_EQ(MPROC_OK, mproc_queue_create(&q, 0, 4096)) << mproc_last_error();
    Child c(ctx(), put_42);
    ASSERT_EQ(MPROC_OK, mproc_process_attach(c.get(), q));
    EXPECT_EQ(0, c.RunToEnd());
    int v = 0;
    size_t len = 0;
    EXPECT_EQ(MPROC_OK, mproc_queue_get_bytes_into(q, &v, sizeof v, &len, 5))
        << mproc_last_error();
    EXPECT_EQ(42, v);
    mproc_queue_free(q);
  });
}

MPROC_INSTANTIATE_FOR_START_METHODS(AuditProcess);

}  // namespace
