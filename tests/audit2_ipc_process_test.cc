// SPDX-License-Identifier: Apache-2.0
// Second audit of processes, spawn, connections, listeners and queues:
// cases the first audit did not try. Crossed tests run under every start
// method (StartMethodTest).
//
// POSIX: plain fork(), signals.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "mproc.h"
#include "tests/posix_test_util.h"
#include "tests/test_util.h"

using namespace mproc_test;  // NOLINT: the suite's own helpers

namespace {

MPROC_TASK(audit2_sleeper) {
  (void)arg;
  (void)arg_len;
  mproc_sleep(60);
  return 0;
}

class Audit2Process : public StartMethodTest {};

// ---- the exit function in a process the program fork()ed itself ---------

// A process made by plain fork() (not mproc) inherits the table of its
// parent's children, but they are not its own: when it exits, the exit
// function used to terminate the parent's daemons (SIGTERM, then SIGKILL)
// and to ask for children it cannot wait for. Nothing may happen to them.
TEST_P(Audit2Process, PlainForkedProcessLeavesItsParentsChildrenAlone) {
  Child daemon(ctx(), audit2_sleeper);
  ASSERT_EQ(mproc_process_set_daemon(daemon.get(), 1), MPROC_OK);
  ASSERT_EQ(mproc_process_start(daemon.get()), MPROC_OK);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // active_children: the parent's children are not this process's.
    size_t n = 99;
    int code = mproc_active_children(nullptr, 0, &n) == MPROC_OK && n == 0
                   ? 0
                   : 3;
    exit(code);  // runs the exit function (atexit)
  }
  int status = ReapWithin(pid, 30);
  ASSERT_TRUE(WIFEXITED(status)) << "the forked process did not exit";
  EXPECT_EQ(WEXITSTATUS(status), 0)
      << "active_children in the forked process failed or listed the "
         "parent's children";
  mproc_sleep(0.2);  // a SIGTERM, if one was sent, has been acted on
  EXPECT_TRUE(daemon.IsAlive())
      << "the forked process's exit ended its parent's daemon";
  ASSERT_EQ(mproc_process_kill(daemon.get()), MPROC_OK);
}

// A process made by plain fork() may close its copy of a parent's process
// object (it cannot join it, but may release it). That copy used to stay
// in the table of children: the next object allocated took its memory,
// and active_children or the exit function walked into it.
TEST_P(Audit2Process, PlainForkedProcessMayCloseItsParentsChildren) {
  Child child(ctx(), audit2_sleeper);
  ASSERT_EQ(mproc_process_start(child.get()), MPROC_OK);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (mproc_process_free(child.get()) != MPROC_OK) _exit(2);
    mproc_process_t *fresh = nullptr;  // may reuse the closed one's memory
    if (mproc_process_create(&fresh, ctx(), audit2_sleeper, nullptr, 0) !=
        MPROC_OK)
      _exit(3);
    size_t n = 99;
    if (mproc_active_children(nullptr, 0, &n) != MPROC_OK || n != 0) _exit(4);
    mproc_process_free(fresh);
    exit(0);  // and the exit function
  }
  int status = ReapWithin(pid, 30);
  ASSERT_TRUE(WIFEXITED(status)) << "the forked process crashed (status "
                                 << status << ")";
  EXPECT_EQ(WEXITSTATUS(status), 0);
  ASSERT_EQ(mproc_process_kill(child.get()), MPROC_OK);
}

// Child: 0 if its parent process object names a live parent with the pid
// given in arg; it then lives a little, as a daemon watching that parent.
MPROC_TASK(audit2_check_parent) {
  if (arg_len != sizeof(long)) return 2;
  mproc_process_t *parent = nullptr;
  long pid = -1;
  int alive = 0;
  if (mproc_parent_process(&parent) != MPROC_OK || parent == nullptr ||
      mproc_process_pid(parent, &pid) != MPROC_OK ||
      mproc_process_is_alive(parent, &alive) != MPROC_OK)
    return 3;
  if (pid != *static_cast<const long *>(arg)) return 4;
  if (!alive) return 5;
  mproc_sleep(0.5);  // a daemon told its parent is gone would end here
  return 0;
}

// A process made by plain fork() is not its parent: its process object
// and the children it starts used to carry its parent's pid, so its
// children saw their parent as gone (is_alive 0, join at once), and a
// daemon among them ended (SIGTERM) as soon as it started.
TEST_P(Audit2Process, PlainForkedProcessStartsChildrenOfItsOwn) {
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    mproc_process_t *me = nullptr;
    long my_pid = 0;
    if (mproc_current_process(&me) != MPROC_OK ||
        mproc_process_pid(me, &my_pid) != MPROC_OK || my_pid != getpid())
      _exit(10);
    mproc_process_t *p = nullptr;
    if (mproc_process_create(&p, ctx(), audit2_check_parent, &my_pid,
                             sizeof my_pid) != MPROC_OK ||
        mproc_process_set_daemon(p, 1) != MPROC_OK ||
        mproc_process_start(p) != MPROC_OK ||
        mproc_process_join(p, 30) != MPROC_OK)
      _exit(11);
    int code = -1;
    mproc_process_exitcode(p, &code);
    mproc_process_free(p);
    _exit(code < 0 ? 20 - code : code);
  }
  int status = ReapWithin(pid, 60);
  ASSERT_TRUE(WIFEXITED(status)) << "the forked process did not exit";
  EXPECT_EQ(WEXITSTATUS(status), 0)
      << "10: wrong pid of the current process; 3-5: the child's parent "
         "object is wrong or dead; 20+n: the child died of signal n";
}

// ---- a child that exec'd -------------------------------------------------

MPROC_TASK(audit2_exec_sleep) {
  (void)arg;
  (void)arg_len;
  execl("/bin/sleep", "sleep", "30", static_cast<char *>(nullptr));
  return 9;
}

// A child that exec'd closed its sentinel but runs on. Each is_alive of it
// used to wait out the 50 ms grace given to a child that is just exiting
// (and active_children that long per such child, holding the registry
// lock): 40 calls took 2 s. The grace is taken once.
TEST_P(Audit2Process, IsAliveOfAChildThatExecdDoesNotWaitEachTime) {
  if (GetParam() == "forkserver")
    GTEST_SKIP() << "a forkserver child's sentinel is its server connection, "
                    "which its exec does not close: no grace to take";
  Child child(ctx(), audit2_exec_sleep);
  ASSERT_EQ(mproc_process_start(child.get()), MPROC_OK);
  mproc_sentinel_t s;
  ASSERT_EQ(mproc_process_sentinel(child.get(), &s), MPROC_OK);
  ASSERT_EQ(mproc_wait(&s, 1, nullptr, nullptr, 30), MPROC_OK);  // exec'd
  int alive = 0;
  ASSERT_EQ(mproc_process_is_alive(child.get(), &alive), MPROC_OK);
  ASSERT_EQ(alive, 1);
  double start = Now();
  for (int i = 0; i < 40; i++) {
    ASSERT_EQ(mproc_process_is_alive(child.get(), &alive), MPROC_OK);
    ASSERT_EQ(alive, 1);
    size_t n = 0;
    ASSERT_EQ(mproc_active_children(nullptr, 0, &n), MPROC_OK);
    ASSERT_EQ(n, 1u);
  }
  EXPECT_LT(Now() - start, 1.0) << "80 queries of a running child";
  ASSERT_EQ(mproc_process_kill(child.get()), MPROC_OK);
  EXPECT_EQ(child.JoinCode(), -SIGKILL);
}

// ---- a spawned child's default start method ------------------------------

// Child: 0 if its default start method is the one named by arg.
MPROC_TASK(audit2_report_default_method) {
  const char *method = nullptr;
  if (mproc_context_method(nullptr, &method) != MPROC_OK) return 2;
  return strlen(method) == arg_len && memcmp(method, arg, arg_len) == 0 ? 0
                                                                        : 3;
}

// Restores the default start method and MPROC_START_METHOD on leaving.
class DefaultMethodRestorer {
 public:
  DefaultMethodRestorer() {
    mproc_context_method(nullptr, &method_);
    const char *env = getenv("MPROC_START_METHOD");
    had_env_ = env != nullptr;
    if (env) env_ = env;
  }
  ~DefaultMethodRestorer() {
    mproc_set_start_method(method_);
    if (had_env_)
      setenv("MPROC_START_METHOD", env_.c_str(), 1);
    else
      unsetenv("MPROC_START_METHOD");
  }

 private:
  const char *method_ = "fork";
  bool had_env_ = false;
  std::string env_;
};

// CPython hands a spawned child its parent's start method (spawn.prepare).
// A spawned child used to read MPROC_START_METHOD again instead: the
// parent's mproc_set_start_method was lost in it, and a value the program
// put in the environment after mproc_init (here an unknown one) made the
// child's mproc_init fail, so it ran main instead of its task.
TEST_P(Audit2Process, ChildrenKeepTheParentsDefaultStartMethod) {
  DefaultMethodRestorer restore;
  ASSERT_EQ(mproc_set_start_method(method()), MPROC_OK);
  setenv("MPROC_START_METHOD", "no-such-method", 1);
  Child child(nullptr, audit2_report_default_method, method(),
              strlen(method()));
  EXPECT_EQ(child.RunToEnd(), 0)
      << "the child's default start method is not the parent's";
}

}  // namespace

MPROC_INSTANTIATE_FOR_START_METHODS(Audit2Process);
