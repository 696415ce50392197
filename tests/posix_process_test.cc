// SPDX-License-Identifier: Apache-2.0
// POSIX- and Linux-specific behaviour of processes, under every start method (fork, spawn, forkserver):
// daemon children die with a SIGKILLed parent (PR_SET_PDEATHSIG) but not
// with the thread that started them, orphans that are not daemons live on,
// spawned children inherit only the descriptors mproc passes, and
// mproc_sleep sleeps through signals and through huge durations.
//
// This file may use signals, prctl, /proc and descriptors; the portable
// suite is process_test.cc.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

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

// ---- tasks --------------------------------------------------------------

MPROC_TASK(announce_then_sleep) {
  if (arg_len != sizeof(PathArg)) return 200;
  const PathArg *ready = static_cast<const PathArg *>(arg);
  if (!WriteFileAtomically(ready->path, "ready")) return 201;
  mproc_sleep(30);
  return 0;
}

struct OrphanArg {
  char method[16];
  PathArg daemon_ready, worker_ready;
  PathArg pids;  // "<daemon pid> <worker pid>", once both are ready
};

// Starts a daemon and a non-daemon child, reports their pids, and waits to
// be killed.
MPROC_TASK(start_children_then_block) {
  if (arg_len != sizeof(OrphanArg)) return 200;
  const OrphanArg *a = static_cast<const OrphanArg *>(arg);
  mproc_context_t *ctx;
  mproc_process_t *daemon, *worker;
  long daemon_pid, worker_pid;
  if (mproc_get_context(a->method, &ctx) != MPROC_OK) return 201;
  if (mproc_process_create(&daemon, ctx, announce_then_sleep,
                           &a->daemon_ready, sizeof a->daemon_ready) != MPROC_OK ||
      mproc_process_set_daemon(daemon, 1) != MPROC_OK ||
      mproc_process_start(daemon) != MPROC_OK ||
      mproc_process_pid(daemon, &daemon_pid) != MPROC_OK)
    return 202;
  if (mproc_process_create(&worker, ctx, announce_then_sleep,
                           &a->worker_ready, sizeof a->worker_ready) != MPROC_OK ||
      mproc_process_start(worker) != MPROC_OK ||
      mproc_process_pid(worker, &worker_pid) != MPROC_OK)
    return 203;
  if (!WaitForFile(a->daemon_ready.path, 10) ||
      !WaitForFile(a->worker_ready.path, 10))
    return 204;
  std::string pids = std::to_string(daemon_pid) + " " + std::to_string(worker_pid);
  if (!WriteFileAtomically(a->pids.path, pids)) return 205;
  mproc_sleep(30);
  return 0;
}

// Exit code 0 when descriptor *arg is closed in this process, 1 when open.
MPROC_TASK(is_descriptor_closed) {
  int fd;
  if (arg_len != sizeof fd) return 200;
  std::memcpy(&fd, arg, sizeof fd);
  return fcntl(fd, F_GETFD) == -1 && errno == EBADF ? 0 : 1;
}

volatile sig_atomic_t signals_seen;
void count_signal(int) { signals_seen = signals_seen + 1; }

// Sleeps 0.3 s while the parent sends SIGUSR1: 0 if the sleep lasted.
MPROC_TASK(sleep_through_signals) {
  if (arg_len != sizeof(PathArg)) return 200;
  struct sigaction action = {};
  action.sa_handler = count_signal;  // no SA_RESTART: sleeps are interrupted
  sigemptyset(&action.sa_mask);
  if (sigaction(SIGUSR1, &action, nullptr) != 0) return 201;
  if (!WriteFileAtomically(static_cast<const PathArg *>(arg)->path, "ready"))
    return 202;
  double start = Now();
  if (mproc_sleep(0.3) != MPROC_OK) return 203;
  if (Now() - start < 0.3) return 1;
  return signals_seen > 0 ? 0 : 2;
}

MPROC_TASK(sleep_for_ages) {
  if (arg_len != sizeof(PathArg)) return 200;
  if (!WriteFileAtomically(static_cast<const PathArg *>(arg)->path, "ready"))
    return 201;
  return mproc_sleep(1e15) == MPROC_OK ? 0 : 202;
}

// The parent-watching grandchild: once told its parent was killed (and not
// yet reaped: a zombie), it checks that the parent object says so.
struct WatchArg {
  char method[16];
  PathArg grandchild_pid;  // the middle process writes it
  PathArg parent_killed;   // the test writes it
  PathArg verdict;         // the grandchild writes "alive=<0|1> join=<status>"
};

MPROC_TASK(watch_parent) {
  if (arg_len != sizeof(WatchArg)) return 200;
  const WatchArg *a = static_cast<const WatchArg *>(arg);
  mproc_process_t *parent = nullptr;
  if (mproc_parent_process(&parent) != MPROC_OK || parent == nullptr) return 201;
  if (!WaitForFile(a->parent_killed.path, 20)) return 202;
  int alive = -1;
  mproc_process_is_alive(parent, &alive);
  mproc_status_t joined = mproc_process_join(parent, 2);
  std::string verdict = "alive=" + std::to_string(alive) +
                        " join=" + std::to_string(joined);
  return WriteFileAtomically(a->verdict.path, verdict) ? 0 : 203;
}

MPROC_TASK(start_watcher_then_block) {
  if (arg_len != sizeof(WatchArg)) return 200;
  const WatchArg *a = static_cast<const WatchArg *>(arg);
  mproc_context_t *ctx;
  mproc_process_t *watcher;
  long pid;
  if (mproc_get_context(a->method, &ctx) != MPROC_OK ||
      mproc_process_create(&watcher, ctx, watch_parent, a, sizeof *a) != MPROC_OK ||
      mproc_process_start(watcher) != MPROC_OK ||
      mproc_process_pid(watcher, &pid) != MPROC_OK)
    return 201;
  if (!WriteFileAtomically(a->grandchild_pid.path, std::to_string(pid)))
    return 202;
  mproc_sleep(30);
  return 0;
}

// ---- helpers ------------------------------------------------------------


// User plus system CPU time of a process, in clock ticks (/proc/pid/stat).
long CpuTicks(long pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), {});
  size_t end_of_name = stat.rfind(')');
  if (end_of_name == std::string::npos) return -1;
  std::istringstream fields(stat.substr(end_of_name + 2));
  std::string field;
  long utime = -1, stime = -1;
  // After the name: state is field 3; utime and stime are fields 14 and 15.
  for (int i = 3; i <= 15 && fields >> field; i++) {
    if (i == 14) utime = std::stol(field);
    if (i == 15) stime = std::stol(field);
  }
  return utime < 0 || stime < 0 ? -1 : utime + stime;
}

// Makes this process adopt its orphaned descendants, for the test's life.
class Subreaper {
 public:
  Subreaper() { EXPECT_EQ(0, prctl(PR_SET_CHILD_SUBREAPER, 1)); }
  ~Subreaper() { prctl(PR_SET_CHILD_SUBREAPER, 0); }
};

class PosixProcessTest : public StartMethodTest {};

// ---- tests --------------------------------------------------------------

TEST_P(PosixProcessTest, ADaemonDiesWithItsKilledParentAWorkerLivesOn) {
  Subreaper subreaper;
  OrphanArg arg{};
  std::string pids_path = TempPath("pids");
  std::strncpy(arg.method, method(), sizeof arg.method - 1);
  arg.daemon_ready = MakePathArg(TempPath("daemon-ready"));
  arg.worker_ready = MakePathArg(TempPath("worker-ready"));
  arg.pids = MakePathArg(pids_path);
  Child parent(ctx(), start_children_then_block, &arg, sizeof arg);
  ASSERT_EQ(MPROC_OK, mproc_process_start(parent.get())) << mproc_last_error();
  ASSERT_TRUE(WaitForFile(pids_path, 20)) << "the children never started";
  pid_t daemon = 0, worker = 0;
  std::istringstream(ReadFile(pids_path)) >> daemon >> worker;
  ASSERT_GT(daemon, 0);
  ASSERT_GT(worker, 0);

  ASSERT_EQ(MPROC_OK, mproc_process_kill(parent.get()));
  EXPECT_EQ(-SIGKILL, parent.JoinCode(10));
  // Both orphans are ours now; the daemon got SIGTERM from the kernel.
  int status = ReapWithin(daemon, 5);
  ASSERT_NE(-1, status) << "the daemon outlived its killed parent";
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM) << status;
  EXPECT_EQ(-1, ReapWithin(worker, 0.3)) << "a non-daemon orphan lives on";
  kill(worker, SIGKILL);
  EXPECT_NE(-1, ReapWithin(worker, 5));
}

// The parent of a child was killed but not reaped yet (a zombie, as when
// the main program has not joined it): the child must see it as ended.
TEST_P(PosixProcessTest, AParentThatDiedIsNotAliveEvenUnreaped) {
  Subreaper subreaper;
  WatchArg arg{};
  std::string pid_path = TempPath("grandchild-pid"),
              killed_path = TempPath("parent-killed"),
              verdict_path = TempPath("verdict");
  std::strncpy(arg.method, method(), sizeof arg.method - 1);
  arg.grandchild_pid = MakePathArg(pid_path);
  arg.parent_killed = MakePathArg(killed_path);
  arg.verdict = MakePathArg(verdict_path);
  Child middle(ctx(), start_watcher_then_block, &arg, sizeof arg);
  ASSERT_EQ(MPROC_OK, mproc_process_start(middle.get())) << mproc_last_error();
  ASSERT_TRUE(WaitForFile(pid_path, 20));
  pid_t grandchild = static_cast<pid_t>(std::stol(ReadFile(pid_path)));
  // Killed behind mproc's back, and waited for without reaping (WNOWAIT):
  // it is a zombie until mproc joins it at the end.
  pid_t middle_pid = static_cast<pid_t>(middle.Pid());
  ASSERT_EQ(0, kill(middle_pid, SIGKILL));
  // A forkserver child is the server's to reap (ECHILD here): then it is
  // its server that may not have reaped it yet.
  siginfo_t info;
  if (waitid(P_PID, static_cast<id_t>(middle_pid), &info, WEXITED | WNOWAIT) !=
      0) {
    ASSERT_EQ(ECHILD, errno);
    // Its end is known once the server told it (the sentinel is ready; it
    // is not consumed): only then is it sure to have ended.
    mproc_sentinel_t s{};
    ASSERT_EQ(MPROC_OK, mproc_process_sentinel(middle.get(), &s));
    ASSERT_EQ(MPROC_OK, mproc_wait(&s, 1, nullptr, nullptr, 20))
        << mproc_last_error();
  }
  ASSERT_TRUE(WriteFileAtomically(killed_path.c_str(), "killed"));
  int status = ReapWithin(grandchild, 20);
  ASSERT_NE(-1, status) << "the grandchild never finished";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_EQ("alive=0 join=0", ReadFile(verdict_path));
  EXPECT_EQ(-SIGKILL, middle.JoinCode(10));
}

TEST_P(PosixProcessTest, ADaemonOutlivesTheThreadThatStartedIt) {
  std::string ready = TempPath("ready");
  PathArg arg = MakePathArg(ready);
  Child daemon(ctx(), announce_then_sleep, &arg, sizeof arg);
  ASSERT_EQ(MPROC_OK, mproc_process_set_daemon(daemon.get(), 1));
  mproc_status_t started = MPROC_ESYS;
  bool became_ready = false;
  // The thread ends only once the daemon runs its task (so it had set up
  // its parent-death signal while the thread was still there).
  std::thread starter([&] {
    started = mproc_process_start(daemon.get());
    became_ready = started == MPROC_OK && WaitForFile(ready, 10);
  });
  starter.join();
  ASSERT_EQ(MPROC_OK, started) << mproc_last_error();
  ASSERT_TRUE(became_ready);
  mproc_sleep(0.2);
  EXPECT_TRUE(daemon.IsAlive()) << "the daemon died with the starting thread";
  ASSERT_EQ(MPROC_OK, mproc_process_terminate(daemon.get()));
  EXPECT_EQ(-SIGTERM, daemon.JoinCode(10));
}

TEST_P(PosixProcessTest, SpawnedChildrenInheritOnlyWhatMprocPasses) {
  int fds[2];
  ASSERT_EQ(0, pipe(fds));  // no close-on-exec: a careless user's pipe
  Child c(ctx(), is_descriptor_closed, &fds[1], sizeof fds[1]);
  int code = c.RunToEnd();
  if (fresh_program())
    EXPECT_EQ(0, code) << "a spawned child must not inherit the user's pipe";
  else
    EXPECT_EQ(1, code) << "a forked child has every descriptor";
  close(fds[0]);
  close(fds[1]);
}

TEST_P(PosixProcessTest, SleepResumesAfterSignals) {
  std::string ready = TempPath("ready");
  PathArg arg = MakePathArg(ready);
  Child c(ctx(), sleep_through_signals, &arg, sizeof arg);
  ASSERT_TRUE(c.StartAndWaitFor(ready));
  for (int i = 0; i < 5 && c.IsAlive(); i++) {
    kill(static_cast<pid_t>(c.Pid()), SIGUSR1);
    mproc_sleep(0.03);
  }
  EXPECT_EQ(0, c.JoinCode(10)) << "1: woke early; 2: no signal arrived";
}

TEST_P(PosixProcessTest, AHugeSleepSleepsInsteadOfSpinning) {
  std::string ready = TempPath("ready");
  PathArg arg = MakePathArg(ready);
  Child c(ctx(), sleep_for_ages, &arg, sizeof arg);
  ASSERT_TRUE(c.StartAndWaitFor(ready));
  mproc_sleep(0.05);
  long before = CpuTicks(c.Pid());
  mproc_sleep(0.5);
  long after = CpuTicks(c.Pid());
  ASSERT_GE(before, 0);
  // A sleeper uses no CPU; a spinning loop would burn most of 0.5 s (50
  // ticks at 100 Hz) even on a busy machine.
  EXPECT_LT(after - before, 5) << "mproc_sleep(1e15) is a busy loop";
  EXPECT_TRUE(c.IsAlive());
  ASSERT_EQ(MPROC_OK, mproc_process_terminate(c.get()));
  EXPECT_EQ(-SIGTERM, c.JoinCode(10));
}

MPROC_INSTANTIATE_FOR_START_METHODS(PosixProcessTest);

}  // namespace
