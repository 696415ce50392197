// SPDX-License-Identifier: Apache-2.0
// The process API of include/mproc.h under every start method: lifecycle,
// exit codes, names, daemons, arguments, the current and parent process,
// active_children, mproc_wait, attach, contexts, task registration, and the
// errors every call returns for bad input.
//
// Portable: only the C and C++ standard libraries and mproc. What needs an
// OS (signals sent from outside, prctl, /proc, descriptors) is in
// posix_process_test.cc.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "mproc.h"
extern "C" {  // mproc's internal headers are C only
#include "core/error.h"
#include "core/object.h"
#include "platform/platform.h"
}
#include "platform/testing/testing.h"
#include "tests/test_util.h"

using namespace mproc_test;  // NOLINT: the suite's own helpers

// Defined in process_test_twin.cc: a task with the same name as ours.
mproc_task_fn TwinTaskOfOtherFile();

namespace {

// The signal numbers of the exit codes the header documents (-15 after
// terminate, -9 after kill). SIGKILL is POSIX, not standard C.
constexpr int kSigTerm = SIGTERM;
constexpr int kSigKill = 9;

// ---- argument records ---------------------------------------------------

struct MethodArg {
  char method[16];
};

MethodArg MakeMethodArg(const std::string &method) {
  MethodArg arg{};
  std::strncpy(arg.method, method.c_str(), sizeof arg.method - 1);
  return arg;
}

// A sleeper announces itself through `ready` (if set), then sleeps.
struct SleepArg {
  PathArg ready;
  double seconds;
  int code;
};

SleepArg MakeSleepArg(const std::string &ready, double seconds, int code = 0) {
  SleepArg arg{};
  arg.ready = MakePathArg(ready);
  arg.seconds = seconds;
  arg.code = code;
  return arg;
}

// ---- tasks --------------------------------------------------------------

MPROC_TASK(return_int) {
  int code = 0;
  if (arg_len != sizeof code) return 200;
  std::memcpy(&code, arg, sizeof code);
  return code;
}

MPROC_TASK(call_exit_5) {
  (void)arg;
  (void)arg_len;
  std::exit(5);
}

MPROC_TASK(segfault) {
  (void)arg;
  (void)arg_len;
  // Default action, not a sanitizer's handler: the child must die of it.
  std::signal(SIGSEGV, SIG_DFL);
  std::raise(SIGSEGV);
  return 0;
}

MPROC_TASK(sleeper) {
  if (arg_len != sizeof(SleepArg)) return 200;
  const SleepArg *a = static_cast<const SleepArg *>(arg);
  if (a->ready.path[0] && !WriteFileAtomically(a->ready.path, "ready"))
    return 201;
  if (mproc_sleep(a->seconds) != MPROC_OK) return 202;
  return a->code;
}

MPROC_TASK(expect_no_arg) {
  return arg == nullptr && arg_len == 0 ? 0 : 1;
}

// The argument is a PathArg followed by a payload whose byte i is
// PayloadByte(i); the task reports what it received.
unsigned char PayloadByte(size_t i) {
  return static_cast<unsigned char>((i * 131) ^ (i >> 9) ^ 0x5a);
}

MPROC_TASK(report_payload) {
  if (arg_len < sizeof(PathArg)) return 200;
  const PathArg *report = static_cast<const PathArg *>(arg);
  const unsigned char *payload =
      static_cast<const unsigned char *>(arg) + sizeof(PathArg);
  size_t len = arg_len - sizeof(PathArg);
  bool intact = true;
  for (size_t i = 0; i < len && intact; i++)
    intact = payload[i] == PayloadByte(i);
  bool aligned =
      reinterpret_cast<uintptr_t>(arg) % alignof(std::max_align_t) == 0;
  std::ostringstream out;
  out << "len=" << len << " aligned=" << aligned << " intact=" << intact;
  return WriteFileAtomically(report->path, out.str()) ? 0 : 201;
}

// What a process knows about itself and its parent, as key=value lines.
std::string DescribeSelf() {
  std::ostringstream out;
  mproc_process_t *self = nullptr, *parent = nullptr;
  const char *name = "?";
  long pid = -1;
  int daemon = -1, alive = -1;
  size_t children = 999;
  void *object = nullptr;
  mproc_current_process(&self);
  mproc_process_name(self, &name);
  mproc_process_pid(self, &pid);
  mproc_process_daemon(self, &daemon);
  mproc_process_is_alive(self, &alive);
  mproc_active_children(nullptr, 0, &children);
  out << "name=" << name << "\npid=" << pid << "\ndaemon=" << daemon
      << "\nalive=" << alive << "\nchildren=" << children
      << "\nattached0=" << mproc_attached(0, &object)
      << "\njoin_self=" << mproc_process_join(self, 0)
      << "\nclose_self=" << mproc_process_free(self)
      << "\nset_daemon_self=" << mproc_process_set_daemon(self, 1) << "\n";
  mproc_parent_process(&parent);
  if (parent == nullptr) {
    out << "parent=none\n";
    return out.str();
  }
  const char *parent_name = "?";
  long parent_pid = -1;
  int parent_alive = -1;
  mproc_process_name(parent, &parent_name);
  mproc_process_pid(parent, &parent_pid);
  mproc_process_is_alive(parent, &parent_alive);
  out << "parent_name=" << parent_name << "\nparent_pid=" << parent_pid
      << "\nparent_alive=" << parent_alive
      << "\nparent_join=" << mproc_process_join(parent, 0.05)
      << "\nparent_close=" << mproc_process_free(parent)
      << "\nparent_set_daemon=" << mproc_process_set_daemon(parent, 1)
      << "\nparent_terminate=" << mproc_process_terminate(parent) << "\n";
  return out.str();
}

MPROC_TASK(report_self) {
  if (arg_len != sizeof(PathArg)) return 200;
  const PathArg *report = static_cast<const PathArg *>(arg);
  return WriteFileAtomically(report->path, DescribeSelf()) ? 0 : 201;
}

// A child that starts a grandchild (report_self) and reports itself too.
struct FamilyArg {
  MethodArg method;
  PathArg child_report;
  PathArg grandchild_report;
};

MPROC_TASK(report_self_and_grandchild) {
  if (arg_len != sizeof(FamilyArg)) return 200;
  const FamilyArg *a = static_cast<const FamilyArg *>(arg);
  mproc_context_t *ctx;
  mproc_process_t *p;
  if (mproc_get_context(a->method.method, &ctx) != MPROC_OK) return 201;
  if (mproc_process_create(&p, ctx, report_self, &a->grandchild_report,
                           sizeof a->grandchild_report) != MPROC_OK)
    return 202;
  if (mproc_process_start(p) != MPROC_OK) return 203;
  if (!WriteFileAtomically(a->child_report.path, DescribeSelf())) return 204;
  int code = -1;
  if (mproc_process_join(p, 30) != MPROC_OK) return 205;
  if (mproc_process_exitcode(p, &code) != MPROC_OK || code != 0) return 206;
  return mproc_process_free(p) == MPROC_OK ? 0 : 207;
}

// Tries to start a child; the exit code is the status of start (so a
// daemon reports MPROC_EDAEMON), or 100 if the new process object did not
// inherit this process's daemon flag.
MPROC_TASK(try_to_start_child) {
  if (arg_len != sizeof(MethodArg)) return 200;
  const MethodArg *a = static_cast<const MethodArg *>(arg);
  mproc_context_t *ctx;
  mproc_process_t *self, *p;
  int self_daemon = -1, child_daemon = -2;
  if (mproc_get_context(a->method, &ctx) != MPROC_OK) return 201;
  if (mproc_current_process(&self) != MPROC_OK ||
      mproc_process_daemon(self, &self_daemon) != MPROC_OK)
    return 202;
  if (mproc_process_create(&p, ctx, expect_no_arg, nullptr, 0) != MPROC_OK)
    return 203;
  if (mproc_process_daemon(p, &child_daemon) != MPROC_OK) return 204;
  if (child_daemon != self_daemon) return 100;
  mproc_status_t st = mproc_process_start(p);
  if (st == MPROC_OK) mproc_process_join(p, 30);
  if (mproc_process_free(p) != MPROC_OK) return 205;
  return st;
}

// At its exit a process terminates its daemon children (killing those that
// ignore it, after a grace period) and joins the rest.
struct ExitCleanupArg {
  MethodArg method;
  int daemon_ignores_terminate;
  PathArg daemon_started;   // the daemon grandchild writes it, then sleeps
  PathArg daemon_finished;  // ... and this one if it ever wakes up
  PathArg worker_finished;  // the non-daemon grandchild, after a short sleep
};

MPROC_TASK(write_then_sleep_then_write) {
  if (arg_len != sizeof(ExitCleanupArg)) return 200;
  const ExitCleanupArg *a = static_cast<const ExitCleanupArg *>(arg);
  if (a->daemon_ignores_terminate) std::signal(SIGTERM, SIG_IGN);
  if (!WriteFileAtomically(a->daemon_started.path, "started")) return 201;
  mproc_sleep(30);
  WriteFileAtomically(a->daemon_finished.path, "finished");
  return 0;
}

MPROC_TASK(sleep_briefly_then_write) {
  if (arg_len != sizeof(ExitCleanupArg)) return 200;
  const ExitCleanupArg *a = static_cast<const ExitCleanupArg *>(arg);
  mproc_sleep(0.3);
  return WriteFileAtomically(a->worker_finished.path, "finished") ? 0 : 201;
}

MPROC_TASK(leave_children_behind) {
  if (arg_len != sizeof(ExitCleanupArg)) return 200;
  const ExitCleanupArg *a = static_cast<const ExitCleanupArg *>(arg);
  mproc_context_t *ctx;
  mproc_process_t *daemon, *worker;
  if (mproc_get_context(a->method.method, &ctx) != MPROC_OK) return 201;
  if (mproc_process_create(&daemon, ctx, write_then_sleep_then_write, a,
                           sizeof *a) != MPROC_OK ||
      mproc_process_set_daemon(daemon, 1) != MPROC_OK ||
      mproc_process_start(daemon) != MPROC_OK)
    return 202;
  if (mproc_process_create(&worker, ctx, sleep_briefly_then_write, a,
                           sizeof *a) != MPROC_OK ||
      mproc_process_start(worker) != MPROC_OK)
    return 203;
  if (!WaitForFile(a->daemon_started.path, 10)) return 204;
  return 0;  // no join: mproc's exit handling must deal with both
}

// Not registered: fine under fork, refused under spawn.
int unregistered_task(const void *arg, size_t arg_len) {
  (void)arg;
  (void)arg_len;
  return 42;
}

MPROC_TASK(twin_task) {
  (void)arg;
  (void)arg_len;
  return 8;
}

// Registered by name before main (so in a spawned child too), not by
// MPROC_TASK.
int registered_before_main(const void *arg, size_t arg_len) {
  (void)arg;
  (void)arg_len;
  return 21;
}
const bool kRegisteredBeforeMain =
    mproc_register_task("registered_before_main", registered_before_main) ==
    MPROC_OK;

int registered_in_test(const void *arg, size_t arg_len) {
  (void)arg;
  (void)arg_len;
  return 22;
}

// ---- a test-only shareable object: a shared-memory word pair ------------

struct SharedWords {
  mp_object_t header;
  mp_shm_t *shm;
  uint32_t *words() const { return static_cast<uint32_t *>(mp_shm_base(shm)); }
};

mproc_status_t ExportSharedWords(void *obj, mp_buf_t *state,
                                 mp_handles_t *handles) {
  SharedWords *w = static_cast<SharedWords *>(obj);
  mp_buf_put_u64(state, mp_shm_size(w->shm));
  mp_buf_put_u64(state, static_cast<uint64_t>(mp_shm_handle(w->shm).os));
  mp_handles_add(handles, mp_shm_handle(w->shm));
  return MPROC_OK;
}

mproc_status_t ImportSharedWords(const void *state, size_t len, void **out);

mp_object_ops_t shared_words_ops = {"test-shared-words", ExportSharedWords,
                                    ImportSharedWords, nullptr, nullptr,
                                    nullptr};
MP_OBJECT_KIND(shared_words_ops)

mproc_status_t ImportSharedWords(const void *state, size_t len, void **out) {
  mp_reader_t r = {static_cast<const unsigned char *>(state), len, 0, 0};
  size_t size = mp_read_u64(&r);
  mp_handle_t handle = {MP_HANDLE_SHM, static_cast<intptr_t>(mp_read_u64(&r))};
  if (r.bad) return MPROC_ESPAWN;
  SharedWords *w = new SharedWords;
  mp_object_init(&w->header, &shared_words_ops);
  mproc_status_t st = mp_shm_import(&w->shm, handle, size);
  if (st != MPROC_OK) {
    delete w;
    return st;
  }
  mp_object_note_inherited(handle);  // the import mapped a duplicate
  *out = w;
  return MPROC_OK;
}

SharedWords *NewSharedWords() {
  SharedWords *w = new SharedWords;
  mp_object_init(&w->header, &shared_words_ops);
  EXPECT_EQ(MPROC_OK, mp_shm_create(&w->shm, 4096)) << mproc_last_error();
  return w;
}

void DeleteSharedWords(SharedWords *w) {
  mp_object_invalidate(&w->header);
  mp_shm_close(w->shm);
  delete w;
}

// The child checks each attached object's words[0] (its index + 1, set by
// the parent) and answers in words[1].
MPROC_TASK(answer_through_attached) {
  (void)arg;
  (void)arg_len;
  for (size_t i = 0;; i++) {
    void *obj = nullptr;
    mproc_status_t st = mproc_attached(i, &obj);
    if (st == MPROC_EINVAL) return i == 2 ? 0 : 10 + static_cast<int>(i);
    SharedWords *w = static_cast<SharedWords *>(obj);
    if (w->header.magic != MP_OBJECT_MAGIC ||
        w->header.ops != &shared_words_ops)
      return 20;
    if (w->words()[0] != i + 1) return 30 + static_cast<int>(i);
    w->words()[1] = 0xbeef0000u + static_cast<uint32_t>(i);
  }
}

// Under fork only: the parent's process objects, seen from a child. None
// of them is this child's to start, join or signal.
struct ForeignArg {
  mproc_process_t *running;
  mproc_process_t *unstarted;
};

MPROC_TASK(manage_parents_children) {
  if (arg_len != sizeof(ForeignArg)) return 200;
  const ForeignArg *a = static_cast<const ForeignArg *>(arg);
  mproc_process_t *s = a->running;
  int alive = -1, code;
  long pid = -1;
  mproc_sentinel_t sentinel;
  if (mproc_process_join(s, 0) != MPROC_ESTATE) return 1;
  if (mproc_process_terminate(s) != MPROC_ESTATE) return 2;
  if (mproc_process_kill(s) != MPROC_ESTATE) return 3;
  if (mproc_process_sentinel(s, &sentinel) != MPROC_ESTATE) return 4;
  if (mproc_process_exitcode(s, &code) != MPROC_ESTATE) return 5;
  if (mproc_process_is_alive(s, &alive) != MPROC_OK || alive != 0) return 6;
  if (mproc_process_pid(s, &pid) != MPROC_OK || pid <= 0) return 7;
  if (mproc_process_start(a->unstarted) != MPROC_ESTATE) return 8;
  return 0;
}

// An object kind whose export always fails: start must report it.
mproc_status_t RefuseExport(void *obj, mp_buf_t *state, mp_handles_t *handles) {
  (void)obj;
  (void)state;
  (void)handles;
  return mp_fail(MPROC_ENOTSUP, "test object: cannot be exported");
}

mproc_status_t RefuseImport(const void *state, size_t len, void **out) {
  (void)state;
  (void)len;
  (void)out;
  return MPROC_ENOTSUP;
}

mp_object_ops_t unexportable_ops = {"test-unexportable", RefuseExport,
                                    RefuseImport, nullptr, nullptr, nullptr};
MP_OBJECT_KIND(unexportable_ops)

// ---- helpers ------------------------------------------------------------

std::map<std::string, std::string> ParseReport(const std::string &text) {
  std::map<std::string, std::string> facts;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    size_t eq = line.find('=');
    if (eq != std::string::npos) facts[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return facts;
}

std::string StatusText(mproc_status_t st) { return std::to_string(st); }

std::string NameOf(mproc_process_t *p) {
  const char *name = nullptr;
  EXPECT_EQ(MPROC_OK, mproc_process_name(p, &name)) << mproc_last_error();
  return name ? name : "";
}

long PidOf(mproc_process_t *p) {
  long pid = -1;
  EXPECT_EQ(MPROC_OK, mproc_process_pid(p, &pid)) << mproc_last_error();
  return pid;
}

// Checks that call fails with want and that mproc_last_error() explains it
// (starts with the status's text and is not a stale message).
void ExpectFails(mproc_status_t want, const std::function<mproc_status_t()> &call,
                 const char *text) {
  mproc_context_t *ignored;
  ASSERT_EQ(MPROC_EINVAL, mproc_get_context("stale-detail", &ignored));
  mproc_status_t got = call();
  std::string detail = mproc_last_error();
  EXPECT_EQ(want, got) << text << ": " << detail;
  std::string prefix = std::string(mproc_strerror(want)) + ": ";
  EXPECT_EQ(0u, detail.rfind(prefix, 0)) << text << ": " << detail;
  EXPECT_GT(detail.size(), prefix.size()) << text << ": no detail";
  EXPECT_EQ(std::string::npos, detail.find("stale-detail")) << text;
}
#define EXPECT_FAILS(want, call) ExpectFails(want, [&] { return (call); }, #call)

// start fails with want, and leaves the process as it was: not started.
void ExpectStartRefused(Child &c, mproc_status_t want) {
  EXPECT_FAILS(want, mproc_process_start(c.get()));
  EXPECT_FALSE(c.IsAlive());
  long pid;
  EXPECT_FAILS(MPROC_ESTATE, mproc_process_pid(c.get(), &pid));
}

// ---- the start-method-parameterised suite -------------------------------

class ProcessTest : public StartMethodTest {};

// A sentinel names its object, not a descriptor number: once the object is
// closed or freed, a later object that got the same descriptor must not
// answer for it (the wait would watch the wrong thing).
TEST_P(ProcessTest, AStaleSentinelIsRefusedEvenWhenItsDescriptorIsReused) {
  int code = 0;
  mproc_process_t *p = nullptr;
  ASSERT_EQ(MPROC_OK,
            mproc_process_create(&p, ctx(), return_int, &code, sizeof code));
  ASSERT_EQ(MPROC_OK, mproc_process_start(p)) << mproc_last_error();
  mproc_sentinel_t ps{};
  ASSERT_EQ(MPROC_OK, mproc_process_sentinel(p, &ps));
  ASSERT_EQ(MPROC_OK, mproc_process_join(p, 30));
  ASSERT_EQ(MPROC_OK, mproc_wait(&ps, 1, nullptr, nullptr, 0))
      << mproc_last_error();
  ASSERT_EQ(MPROC_OK, mproc_process_free(p));
  mproc_connection_t *a = nullptr, *b = nullptr;
  ASSERT_EQ(MPROC_OK, mproc_pipe(&a, &b, 1));
  mproc_sentinel_t cs{};
  ASSERT_EQ(MPROC_OK, mproc_connection_sentinel(a, &cs));
  ASSERT_EQ(MPROC_OK, mproc_connection_free(a));
  ASSERT_EQ(MPROC_OK, mproc_connection_free(b));
  // New streams take the freed descriptors, and are readable at once.
  std::vector<mproc_connection_t *> fresh;
  for (int i = 0; i < 4; i++) {
    mproc_connection_t *x = nullptr, *y = nullptr;
    ASSERT_EQ(MPROC_OK, mproc_pipe(&x, &y, 1));
    ASSERT_EQ(MPROC_OK, mproc_connection_send_bytes(y, "x", 1, 0, 1, 5));
    fresh.push_back(x);
    fresh.push_back(y);
  }
  EXPECT_FAILS(MPROC_EINVAL, mproc_wait(&ps, 1, nullptr, nullptr, 0));
  EXPECT_FAILS(MPROC_EINVAL, mproc_wait(&cs, 1, nullptr, nullptr, 0));
  for (mproc_connection_t *c : fresh) mproc_connection_free(c);
}

TEST_P(ProcessTest, ReturnValueIsTheExitCode) {
  for (int code : {0, 3, 255}) {
    Child c(ctx(), return_int, &code, sizeof code);
    EXPECT_EQ(code, c.RunToEnd()) << "task returned " << code;
  }
}

TEST_P(ProcessTest, ReturnValueIsTruncatedAsExitWouldDo) {
  int code = 256 + 3;
  Child c(ctx(), return_int, &code, sizeof code);
  EXPECT_EQ(3, c.RunToEnd());
  int minus_one = -1;
  Child negative(ctx(), return_int, &minus_one, sizeof minus_one);
  EXPECT_EQ(255, negative.RunToEnd());
}

TEST_P(ProcessTest, ExitInTheTaskGivesItsStatus) {
  Child c(ctx(), call_exit_5);
  EXPECT_EQ(5, c.RunToEnd());
}

TEST_P(ProcessTest, DeathBySignalIsMinusTheSignal) {
  if (!mp_test_has_signals())
    GTEST_SKIP() << "no death by signal on this OS: a raised SIGSEGV with its "
                    "default action exits with status 3 (msvcrt)";
  Child c(ctx(), segfault);
  EXPECT_EQ(-SIGSEGV, c.RunToEnd());
}

// terminate ends a child blocked in mproc_sleep with -15, kill with -9;
// signalling a child that ended is a no-op, as in CPython.
TEST_P(ProcessTest, TerminateAndKillEndASleepingChild) {
  const struct {
    mproc_status_t (*send)(mproc_process_t *);
    int exitcode;
  } signals[] = {{mproc_process_terminate, -kSigTerm},
                 {mproc_process_kill, -kSigKill}};
  for (const auto &signal : signals) {
    std::string ready = TempPath("ready");
    SleepArg arg = MakeSleepArg(ready, 30);
    Child c(ctx(), sleeper, &arg, sizeof arg);
    ASSERT_TRUE(c.StartAndWaitFor(ready));
    EXPECT_EQ(MPROC_OK, signal.send(c.get())) << mproc_last_error();
    EXPECT_EQ(signal.exitcode, c.JoinCode(10));
    EXPECT_FALSE(c.IsAlive());
    EXPECT_EQ(MPROC_OK, mproc_process_terminate(c.get()));
    EXPECT_EQ(MPROC_OK, mproc_process_kill(c.get()));
  }
}

TEST_P(ProcessTest, JoinTimesOutWhileTheChildRuns) {
  std::string ready = TempPath("ready");
  SleepArg arg = MakeSleepArg(ready, 30);
  Child c(ctx(), sleeper, &arg, sizeof arg);
  ASSERT_TRUE(c.StartAndWaitFor(ready));
  // A timeout that is not a whole number of milliseconds.
  const double timeout = 0.1505;
  double start = Now();
  EXPECT_FAILS(MPROC_ETIMEDOUT, mproc_process_join(c.get(), timeout));
  double elapsed = Now() - start;
  EXPECT_GE(elapsed, timeout);
  EXPECT_LT(elapsed, timeout + 5);
  EXPECT_FAILS(MPROC_ETIMEDOUT, mproc_process_join(c.get(), 0));
  EXPECT_TRUE(c.IsAlive());
  int code;
  EXPECT_FAILS(MPROC_ERUNNING, mproc_process_exitcode(c.get(), &code));
  EXPECT_EQ(MPROC_OK, mproc_process_terminate(c.get()));
  EXPECT_EQ(-kSigTerm, c.JoinCode(10));
}

TEST_P(ProcessTest, IsAliveFollowsTheLifecycle) {
  std::string ready = TempPath("ready");
  SleepArg arg = MakeSleepArg(ready, 0.3, 7);
  Child c(ctx(), sleeper, &arg, sizeof arg);
  EXPECT_FALSE(c.IsAlive()) << "before start";
  ASSERT_EQ(MPROC_OK, mproc_process_start(c.get())) << mproc_last_error();
  EXPECT_TRUE(c.IsAlive()) << "just started";
  ASSERT_TRUE(WaitForFile(ready, 10));
  EXPECT_TRUE(c.IsAlive()) << "while running";
  EXPECT_EQ(7, c.JoinCode());
  EXPECT_FALSE(c.IsAlive()) << "after the end";
}

TEST_P(ProcessTest, PidAndExitcodeNeedAStartedProcess) {
  Child c(ctx(), expect_no_arg);
  long pid;
  int code;
  mproc_sentinel_t sentinel;
  EXPECT_FAILS(MPROC_ESTATE, mproc_process_pid(c.get(), &pid));
  EXPECT_FAILS(MPROC_ESTATE, mproc_process_exitcode(c.get(), &code));
  EXPECT_FAILS(MPROC_ESTATE, mproc_process_join(c.get(), 1));
  EXPECT_FAILS(MPROC_ESTATE, mproc_process_terminate(c.get()));
  EXPECT_FAILS(MPROC_ESTATE, mproc_process_kill(c.get()));
  EXPECT_FAILS(MPROC_ESTATE, mproc_process_sentinel(c.get(), &sentinel));
  EXPECT_EQ(0, c.RunToEnd());
  EXPECT_GT(c.Pid(), 0);
}

TEST_P(ProcessTest, StartTwiceIsRefused) {
  Child c(ctx(), expect_no_arg);
  ASSERT_EQ(MPROC_OK, mproc_process_start(c.get())) << mproc_last_error();
  EXPECT_FAILS(MPROC_ESTATE, mproc_process_start(c.get()));
  EXPECT_EQ(0, c.JoinCode());
  EXPECT_FAILS(MPROC_ESTATE, mproc_process_start(c.get()));
}

TEST_P(ProcessTest, DefaultNamesCountUpAndSetNameSticks) {
  mproc_process_t *a, *b;
  ASSERT_EQ(MPROC_OK, mproc_process_create(&a, ctx(), expect_no_arg, nullptr, 0));
  ASSERT_EQ(MPROC_OK, mproc_process_create(&b, ctx(), expect_no_arg, nullptr, 0));
  std::string name_a = NameOf(a), name_b = NameOf(b);
  ASSERT_EQ(0u, name_a.rfind("Process-", 0)) << name_a;
  int n = std::atoi(name_a.c_str() + 8);
  EXPECT_GE(n, 1);
  EXPECT_EQ("Process-" + std::to_string(n + 1), name_b);
  EXPECT_EQ(MPROC_OK, mproc_process_set_name(b, "worker b"));
  EXPECT_EQ("worker b", NameOf(b));
  EXPECT_EQ(MPROC_OK, mproc_process_free(a));
  EXPECT_EQ(MPROC_OK, mproc_process_free(b));
}

TEST_P(ProcessTest, TheChildSeesItselfAndItsParent) {
  std::string report = TempPath("self");
  PathArg arg = MakePathArg(report);
  Child c(ctx(), report_self, &arg, sizeof arg);
  ASSERT_EQ(MPROC_OK, mproc_process_set_name(c.get(), "reporter"));
  EXPECT_EQ(0, c.RunToEnd());
  auto facts = ParseReport(ReadFile(report));
  mproc_process_t *self;
  ASSERT_EQ(MPROC_OK, mproc_current_process(&self));
  EXPECT_EQ("reporter", facts["name"]);
  EXPECT_EQ(std::to_string(c.Pid()), facts["pid"]);
  EXPECT_EQ("0", facts["daemon"]);
  EXPECT_EQ("1", facts["alive"]);
  EXPECT_EQ("0", facts["children"]) << "a child has no children of its own";
  EXPECT_EQ(StatusText(MPROC_EINVAL), facts["attached0"]) << "none attached";
  EXPECT_EQ(StatusText(MPROC_ESTATE), facts["join_self"]);
  EXPECT_EQ(StatusText(MPROC_EINVAL), facts["close_self"]);
  EXPECT_EQ(StatusText(MPROC_ESTATE), facts["set_daemon_self"]);
  EXPECT_EQ("MainProcess", facts["parent_name"]);
  EXPECT_EQ(std::to_string(PidOf(self)), facts["parent_pid"]);
  EXPECT_EQ("1", facts["parent_alive"]);
  EXPECT_EQ(StatusText(MPROC_ETIMEDOUT), facts["parent_join"])
      << "the parent outlives a 0.05 s join";
  EXPECT_EQ(StatusText(MPROC_EINVAL), facts["parent_close"]);
  EXPECT_EQ(StatusText(MPROC_ESTATE), facts["parent_set_daemon"]);
  EXPECT_EQ(StatusText(MPROC_ESTATE), facts["parent_terminate"]);
}

TEST_P(ProcessTest, AGrandchildIsNamedAfterItsParent) {
  FamilyArg arg{};
  std::string child_report = TempPath("child"),
              grandchild_report = TempPath("grandchild");
  arg.method = MakeMethodArg(method());
  arg.child_report = MakePathArg(child_report);
  arg.grandchild_report = MakePathArg(grandchild_report);
  Child c(ctx(), report_self_and_grandchild, &arg, sizeof arg);
  std::string child_name = NameOf(c.get());
  EXPECT_EQ(0, c.RunToEnd());
  auto child = ParseReport(ReadFile(child_report));
  auto grandchild = ParseReport(ReadFile(grandchild_report));
  EXPECT_EQ(child_name, child["name"]);
  EXPECT_EQ("1", child["children"]) << "the grandchild was running";
  EXPECT_EQ(child_name + ":1", grandchild["name"]);
  EXPECT_EQ(child_name, grandchild["parent_name"]);
  EXPECT_EQ(child["pid"], grandchild["parent_pid"]);
  EXPECT_NE(child["pid"], grandchild["pid"]);
}

TEST_P(ProcessTest, DaemonFlagIsSetBeforeStartOnly) {
  Child c(ctx(), expect_no_arg);
  int daemon = -1;
  EXPECT_EQ(MPROC_OK, mproc_process_daemon(c.get(), &daemon));
  EXPECT_EQ(0, daemon) << "the main process is not a daemon";
  EXPECT_EQ(MPROC_OK, mproc_process_set_daemon(c.get(), 1));
  EXPECT_EQ(MPROC_OK, mproc_process_daemon(c.get(), &daemon));
  EXPECT_EQ(1, daemon);
  EXPECT_EQ(0, c.RunToEnd());
  EXPECT_FAILS(MPROC_ESTATE, mproc_process_set_daemon(c.get(), 0));
  EXPECT_EQ(MPROC_OK, mproc_process_daemon(c.get(), &daemon));
  EXPECT_EQ(1, daemon);
}

TEST_P(ProcessTest, ADaemonCannotStartChildren) {
  MethodArg arg = MakeMethodArg(method());
  Child daemon(ctx(), try_to_start_child, &arg, sizeof arg);
  ASSERT_EQ(MPROC_OK, mproc_process_set_daemon(daemon.get(), 1));
  EXPECT_EQ(MPROC_EDAEMON, daemon.RunToEnd());
  Child ordinary(ctx(), try_to_start_child, &arg, sizeof arg);
  EXPECT_EQ(MPROC_OK, ordinary.RunToEnd());
}

TEST_P(ProcessTest, ArgumentBytesArriveIntactAndAligned) {
  // Sizes around the spawn bootstrap pipe's buffer, and well past it.
  for (size_t len : {size_t{0}, size_t{1}, size_t{100}, size_t{65536 + 7},
                     size_t{1} << 20}) {
    std::string report = TempPath("payload");
    // One byte in, so the source is misaligned: the child's copy is not.
    std::vector<unsigned char> buffer(1 + sizeof(PathArg) + len);
    PathArg path = MakePathArg(report);
    std::memcpy(buffer.data() + 1, &path, sizeof path);
    for (size_t i = 0; i < len; i++)
      buffer[1 + sizeof path + i] = PayloadByte(i);
    Child c(ctx(), report_payload, buffer.data() + 1, buffer.size() - 1);
    // The bytes were copied at creation.
    std::fill(buffer.begin() + 1 + sizeof path, buffer.end(), 0);
    EXPECT_EQ(0, c.RunToEnd()) << len << " bytes";
    EXPECT_EQ("len=" + std::to_string(len) + " aligned=1 intact=1",
              ReadFile(report));
  }
}

TEST_P(ProcessTest, NoArgumentIsNull) {
  Child c(ctx(), expect_no_arg);
  EXPECT_EQ(0, c.RunToEnd());
  int ignored = 0;
  Child zero_length(ctx(), expect_no_arg, &ignored, 0);
  EXPECT_EQ(0, zero_length.RunToEnd()) << "arg_len 0 gives arg NULL";
}

TEST_P(ProcessTest, ActiveChildrenListsRunningChildrenOnly) {
  std::string ready_a = TempPath("a"), ready_b = TempPath("b");
  SleepArg arg_a = MakeSleepArg(ready_a, 30), arg_b = MakeSleepArg(ready_b, 30);
  Child a(ctx(), sleeper, &arg_a, sizeof arg_a);
  Child b(ctx(), sleeper, &arg_b, sizeof arg_b);
  Child quick(ctx(), expect_no_arg);
  Child unjoined(ctx(), expect_no_arg);
  Child never_started(ctx(), expect_no_arg);
  size_t count = 99;
  ASSERT_EQ(MPROC_OK, mproc_active_children(nullptr, 0, &count));
  EXPECT_EQ(0u, count);
  for (Child *c : {&a, &b, &quick, &unjoined})
    ASSERT_EQ(MPROC_OK, mproc_process_start(c->get())) << mproc_last_error();
  EXPECT_EQ(0, quick.JoinCode());
  // unjoined ends by itself: it must drop out without a join.
  mproc_sentinel_t sentinel;
  ASSERT_EQ(MPROC_OK, mproc_process_sentinel(unjoined.get(), &sentinel));
  ASSERT_EQ(MPROC_OK, mproc_wait(&sentinel, 1, nullptr, nullptr, 10));
  ASSERT_TRUE(WaitForFile(ready_a, 10));
  ASSERT_TRUE(WaitForFile(ready_b, 10));

  mproc_process_t *out[4] = {};
  ASSERT_EQ(MPROC_OK, mproc_active_children(out, 4, &count));
  EXPECT_EQ(2u, count);
  std::set<mproc_process_t *> listed(out, out + std::min<size_t>(count, 4));
  EXPECT_EQ((std::set<mproc_process_t *>{a.get(), b.get()}), listed);
  int code = -1;
  EXPECT_EQ(MPROC_OK, mproc_process_exitcode(unjoined.get(), &code));
  EXPECT_EQ(0, code);

  // cap smaller than the count: the count is still the total.
  mproc_process_t *one[2] = {nullptr, nullptr};
  ASSERT_EQ(MPROC_OK, mproc_active_children(one, 1, &count));
  EXPECT_EQ(2u, count);
  EXPECT_TRUE(one[0] == a.get() || one[0] == b.get());
  EXPECT_EQ(nullptr, one[1]);

  ASSERT_EQ(MPROC_OK, mproc_process_kill(a.get()));
  EXPECT_EQ(-kSigKill, a.JoinCode());
  ASSERT_EQ(MPROC_OK, mproc_active_children(out, 4, &count));
  EXPECT_EQ(1u, count);
  EXPECT_EQ(b.get(), out[0]);
  ASSERT_EQ(MPROC_OK, mproc_process_kill(b.get()));
  EXPECT_EQ(-kSigKill, b.JoinCode());
  ASSERT_EQ(MPROC_OK, mproc_active_children(out, 4, &count));
  EXPECT_EQ(0u, count);
}

TEST_P(ProcessTest, WaitReportsExactlyTheEndedSentinels) {
  std::string ready = TempPath("ready");
  SleepArg arg = MakeSleepArg(ready, 30);
  Child first(ctx(), expect_no_arg), sleeping(ctx(), sleeper, &arg, sizeof arg),
      last(ctx(), expect_no_arg);
  for (Child *c : {&first, &sleeping, &last})
    ASSERT_EQ(MPROC_OK, mproc_process_start(c->get())) << mproc_last_error();
  mproc_sentinel_t s[3];
  for (int i = 0; i < 3; i++) {
    Child *c = i == 0 ? &first : i == 1 ? &sleeping : &last;
    ASSERT_EQ(MPROC_OK, mproc_process_sentinel(c->get(), &s[i]));
  }
  ASSERT_TRUE(WaitForFile(ready, 10));

  // Only the sleeper: the timeout fires.
  int ready_flags[3] = {7, 7, 7};
  size_t nready = 7;
  double start = Now();
  EXPECT_FAILS(MPROC_ETIMEDOUT, mproc_wait(&s[1], 1, ready_flags, &nready, 0.1));
  EXPECT_GE(Now() - start, 0.1);
  EXPECT_EQ(0, ready_flags[0]);
  EXPECT_EQ(0u, nready);

  // All three once the two quick ones ended.
  EXPECT_EQ(0, first.JoinCode());
  EXPECT_EQ(0, last.JoinCode());
  ASSERT_EQ(MPROC_OK, mproc_wait(s, 3, ready_flags, &nready, 10))
      << mproc_last_error();
  EXPECT_EQ(1, ready_flags[0]);
  EXPECT_EQ(0, ready_flags[1]);
  EXPECT_EQ(1, ready_flags[2]);
  EXPECT_EQ(2u, nready);
  // ready and nready may be NULL.
  EXPECT_EQ(MPROC_OK, mproc_wait(s, 3, nullptr, nullptr, 10));
  // Many sentinels (the same one 40 times).
  std::vector<mproc_sentinel_t> many(40, s[0]);
  std::vector<int> many_ready(many.size(), 0);
  ASSERT_EQ(MPROC_OK, mproc_wait(many.data(), many.size(), many_ready.data(),
                                 &nready, 10));
  EXPECT_EQ(many.size(), nready);
  EXPECT_EQ(std::vector<int>(many.size(), 1), many_ready);
  // Nothing to wait for: the timeout fires.
  EXPECT_FAILS(MPROC_ETIMEDOUT, mproc_wait(nullptr, 0, nullptr, &nready, 0.01));

  ASSERT_EQ(MPROC_OK, mproc_process_terminate(sleeping.get()));
  ASSERT_EQ(MPROC_OK, mproc_wait(&s[1], 1, ready_flags, &nready, 10));
  EXPECT_EQ(1, ready_flags[0]);
  EXPECT_EQ(1u, nready);
  EXPECT_EQ(-kSigTerm, sleeping.JoinCode());
}

TEST_P(ProcessTest, CloseOfARunningProcessReleasesNothing) {
  std::string ready = TempPath("ready");
  SleepArg arg = MakeSleepArg(ready, 30);
  mproc_process_t *p;
  ASSERT_EQ(MPROC_OK, mproc_process_create(&p, ctx(), sleeper, &arg, sizeof arg));
  ASSERT_EQ(MPROC_OK, mproc_process_start(p)) << mproc_last_error();
  ASSERT_TRUE(WaitForFile(ready, 10));
  EXPECT_FAILS(MPROC_ERUNNING, mproc_process_close(p));
  EXPECT_FAILS(MPROC_ERUNNING, mproc_process_free(p));
  // Still whole: name, pid, active_children, then kill, join and close.
  EXPECT_EQ(0u, NameOf(p).rfind("Process-", 0));
  EXPECT_GT(PidOf(p), 0);
  mproc_process_t *listed = nullptr;
  size_t count = 0;
  EXPECT_EQ(MPROC_OK, mproc_active_children(&listed, 1, &count));
  EXPECT_EQ(1u, count);
  EXPECT_EQ(p, listed);
  EXPECT_EQ(MPROC_OK, mproc_process_kill(p));
  EXPECT_EQ(MPROC_OK, mproc_process_join(p, 10)) << mproc_last_error();
  int code = 0;
  EXPECT_EQ(MPROC_OK, mproc_process_exitcode(p, &code));
  EXPECT_EQ(-kSigKill, code);
  EXPECT_EQ(MPROC_OK, mproc_process_free(p)) << mproc_last_error();
  EXPECT_EQ(MPROC_OK, mproc_active_children(nullptr, 0, &count));
  EXPECT_EQ(0u, count);
}

TEST_P(ProcessTest, CloseWithoutStartOrAfterTheEnd) {
  mproc_process_t *p;
  ASSERT_EQ(MPROC_OK, mproc_process_create(&p, ctx(), expect_no_arg, nullptr, 0));
  EXPECT_EQ(MPROC_OK, mproc_process_free(p)) << "never started";
  ASSERT_EQ(MPROC_OK, mproc_process_create(&p, ctx(), expect_no_arg, nullptr, 0));
  ASSERT_EQ(MPROC_OK, mproc_process_start(p));
  mproc_sentinel_t s;
  ASSERT_EQ(MPROC_OK, mproc_process_sentinel(p, &s));
  ASSERT_EQ(MPROC_OK, mproc_wait(&s, 1, nullptr, nullptr, 10));
  // Ended but never joined: close may still have to find that out.
  EXPECT_EQ(MPROC_OK, mproc_process_close(p)) << mproc_last_error();
  // Closed: unusable, but not released; close again is fine.
  long pid = 0;
  int alive = 0;
  EXPECT_FAILS(MPROC_ESTATE, mproc_process_pid(p, &pid));
  EXPECT_FAILS(MPROC_ESTATE, mproc_process_is_alive(p, &alive));
  EXPECT_FAILS(MPROC_ESTATE, mproc_process_join(p, 0));
  EXPECT_FAILS(MPROC_ESTATE, mproc_process_sentinel(p, &s));
  EXPECT_FAILS(MPROC_ESTATE, mproc_process_start(p));
  EXPECT_EQ(MPROC_OK, mproc_process_close(p));
  EXPECT_EQ(MPROC_OK, mproc_process_free(p));
  EXPECT_FAILS(MPROC_EINVAL, mproc_process_free(p));  // freed twice
}

TEST_P(ProcessTest, AttachedObjectsReachTheChild) {
  SharedWords *first = NewSharedWords(), *second = NewSharedWords();
  first->words()[0] = 1;
  second->words()[0] = 2;
  {
    Child c(ctx(), answer_through_attached);
    EXPECT_EQ(MPROC_OK, mproc_process_attach(c.get(), first));
    EXPECT_EQ(MPROC_OK, mproc_process_attach(c.get(), second));
    EXPECT_EQ(0, c.RunToEnd());
    EXPECT_EQ(0xbeef0000u, first->words()[1]);
    EXPECT_EQ(0xbeef0001u, second->words()[1]);
    EXPECT_FAILS(MPROC_ESTATE, mproc_process_attach(c.get(), first));
  }
  DeleteSharedWords(first);
  DeleteSharedWords(second);
}

TEST_P(ProcessTest, AttachRefusesWhatIsNotALiveObject) {
  Child c(ctx(), expect_no_arg);
  uint64_t not_an_object[4] = {};
  EXPECT_FAILS(MPROC_EINVAL, mproc_process_attach(c.get(), not_an_object));
  EXPECT_FAILS(MPROC_EINVAL, mproc_process_attach(c.get(), nullptr));
  SharedWords *gone = NewSharedWords();
  mp_object_invalidate(&gone->header);
  EXPECT_FAILS(MPROC_EINVAL, mproc_process_attach(c.get(), gone));
  DeleteSharedWords(gone);
  mproc_process_t *self;
  SharedWords *live = NewSharedWords();
  ASSERT_EQ(MPROC_OK, mproc_current_process(&self));
  EXPECT_FAILS(MPROC_ESTATE, mproc_process_attach(self, live));
  DeleteSharedWords(live);
  EXPECT_EQ(0, c.RunToEnd()) << "refused attachments leave it usable";
}

TEST_P(ProcessTest, UnregisteredTargetsRunUnderForkOnly) {
  Child c(ctx(), unregistered_task);
  if (fresh_program()) {
    ExpectStartRefused(c, MPROC_ENOTREGISTERED);
  } else {
    EXPECT_EQ(42, c.RunToEnd());
  }
}

// MPROC_TASK names are qualified by their file: each runs its own function.
TEST_P(ProcessTest, ATaskNameDefinedInTwoFilesRunsEachFunction) {
  Child ours(ctx(), twin_task), theirs(ctx(), TwinTaskOfOtherFile());
  EXPECT_EQ(8, ours.RunToEnd());
  EXPECT_EQ(7, theirs.RunToEnd());
}

TEST_P(ProcessTest, TasksRegisteredByNameBeforeMainRun) {
  ASSERT_TRUE(kRegisteredBeforeMain);
  Child c(ctx(), registered_before_main);
  EXPECT_EQ(21, c.RunToEnd());
}

TEST_P(ProcessTest, TasksRegisteredAfterInitRunUnderForkOnly) {
  ASSERT_EQ(MPROC_OK, mproc_register_task("registered_in_test", registered_in_test));
  // Registering the same function again is harmless.
  ASSERT_EQ(MPROC_OK, mproc_register_task("registered_in_test", registered_in_test));
  Child c(ctx(), registered_in_test);
  int code = c.RunToEnd();
  if (fresh_program())
    // The re-executed program registers it only when the test body runs:
    // its mproc_init finds no such task (the header's warning).
    EXPECT_NE(22, code);
  else
    EXPECT_EQ(22, code);
}

// The intermediate child leaves a daemon (sleeping 30 s) and a worker
// (sleeping 0.3 s) behind; its join ends well before 30 s only if its exit
// ended the daemon, and the worker must have finished by then.
void ExpectExitEndsDaemonAndJoinsWorker(const char *method,
                                        bool daemon_ignores_terminate) {
  ExitCleanupArg arg{};
  std::string started = TempPath("daemon-started"),
              finished = TempPath("daemon-finished"),
              worker = TempPath("worker-finished");
  arg.method = MakeMethodArg(method);
  arg.daemon_ignores_terminate = daemon_ignores_terminate;
  arg.daemon_started = MakePathArg(started);
  arg.daemon_finished = MakePathArg(finished);
  arg.worker_finished = MakePathArg(worker);
  Child c(Context(method), leave_children_behind, &arg, sizeof arg);
  EXPECT_EQ(0, c.RunToEnd(15));
  EXPECT_TRUE(FileExists(started));
  EXPECT_TRUE(FileExists(worker)) << "the worker was joined before the exit";
  EXPECT_FALSE(FileExists(finished)) << "the daemon was ended";
}

TEST_P(ProcessTest, ExitTerminatesDaemonsAndJoinsTheRest) {
  ExpectExitEndsDaemonAndJoinsWorker(method(), false);
}

// Beyond CPython (which would wait forever): a daemon that ignores SIGTERM
// is killed after a grace period when its parent exits.
TEST_P(ProcessTest, ExitKillsADaemonThatIgnoresTerminate) {
  ExpectExitEndsDaemonAndJoinsWorker(method(), true);
}

TEST_P(ProcessTest, AFailingExportFailsTheSpawnStartOnly) {
  mp_object_t unexportable;
  mp_object_init(&unexportable, &unexportable_ops);
  Child c(ctx(), expect_no_arg);
  ASSERT_EQ(MPROC_OK, mproc_process_attach(c.get(), &unexportable));
  if (fresh_program()) {
    ExpectStartRefused(c, MPROC_ENOTSUP);
  } else {
    EXPECT_EQ(0, c.RunToEnd()) << "fork exports nothing";
  }
}

// While one thread starts and joins short children, another keeps forking
// long-lived ones. A forked child copies every descriptor of the moment,
// so if it caught the write end of a sentinel (between its creation and
// the parent closing it), that sentinel would stay open until the test
// kills the long-lived children, and the short child's join would time out.
TEST_P(ProcessTest, ConcurrentStartsDoNotHoldEachOthersSentinels) {
  MPROC_SKIP_WITHOUT_START_METHOD("fork");
  mproc_context_t *fork_ctx = Context("fork");
  std::atomic<bool> done{false};
  std::atomic<int> forker_failures{0};
  std::thread forker([&] {
    std::vector<mproc_process_t *> sleepers;
    SleepArg arg = MakeSleepArg("", 30);
    for (; !done; mproc_sleep(0.01)) {
      mproc_process_t *p;
      if (sleepers.size() == 100) continue;
      if (mproc_process_create(&p, fork_ctx, sleeper, &arg, sizeof arg) != MPROC_OK ||
          mproc_process_start(p) != MPROC_OK) {
        forker_failures++;
        break;
      }
      sleepers.push_back(p);
    }
    for (mproc_process_t *p : sleepers) {
      if (mproc_process_kill(p) != MPROC_OK || mproc_process_join(p, 30) != MPROC_OK ||
          mproc_process_free(p) != MPROC_OK)
        forker_failures++;
    }
  });
  double stop = Now() + 1.0;
  int rounds = 0;
  while (Now() < stop) {
    Child c(ctx(), expect_no_arg);
    rounds++;
    if (c.RunToEnd(5) != 0) {
      ADD_FAILURE() << "round " << rounds << " failed";
      break;
    }
  }
  done = true;
  forker.join();
  EXPECT_EQ(0, forker_failures.load());
}

// CPython allows current_process().name = "..."; children see the new name
// as their parent's.
TEST_P(ProcessTest, TheCurrentProcessCanBeRenamed) {
  mproc_process_t *self;
  ASSERT_EQ(MPROC_OK, mproc_current_process(&self));
  struct RestoreName {
    mproc_process_t *self;
    ~RestoreName() { mproc_process_set_name(self, "MainProcess"); }
  } restore{self};
  ASSERT_EQ(MPROC_OK, mproc_process_set_name(self, "renamed main"))
      << mproc_last_error();
  EXPECT_EQ("renamed main", NameOf(self));
  ASSERT_EQ(MPROC_OK, mproc_process_set_name(self, "renamed twice"));
  std::string report = TempPath("self");
  PathArg arg = MakePathArg(report);
  Child c(ctx(), report_self, &arg, sizeof arg);
  EXPECT_EQ(0, c.RunToEnd());
  EXPECT_EQ("renamed twice", ParseReport(ReadFile(report))["parent_name"]);
}

MPROC_INSTANTIATE_FOR_START_METHODS(ProcessTest);

// ---- process-wide calls -------------------------------------------------

TEST(ForkedChild, CannotManageItsParentsChildren) {
  MPROC_SKIP_WITHOUT_START_METHOD("fork");
  mproc_context_t *fork_ctx = Context("fork");
  std::string ready = TempPath("ready");
  SleepArg sleep_arg = MakeSleepArg(ready, 30);
  Child running(fork_ctx, sleeper, &sleep_arg, sizeof sleep_arg);
  Child unstarted(fork_ctx, expect_no_arg);
  ASSERT_TRUE(running.StartAndWaitFor(ready));
  ForeignArg arg{running.get(), unstarted.get()};
  Child meddler(fork_ctx, manage_parents_children, &arg, sizeof arg);
  EXPECT_EQ(0, meddler.RunToEnd());
  EXPECT_TRUE(running.IsAlive()) << "the child's exit left our children alone";
  EXPECT_EQ(MPROC_OK, mproc_process_terminate(running.get()));
  EXPECT_EQ(-kSigTerm, running.JoinCode());
  EXPECT_EQ(0, unstarted.RunToEnd());
}

// ---- the after_fork and free operations of an object kind ---------------

// A test kind with process-local state: after_fork sets forked_in to the
// child's pid; free counts the releases.
struct ForkAware {
  mp_object_t header;
  long forked_in;
};
int fork_aware_frees = 0;

void ForkAwareAfterFork(void *obj) {
  static_cast<ForkAware *>(obj)->forked_in = mp_getpid();
}

mproc_status_t ForkAwareFree(void *obj) {
  fork_aware_frees++;
  mp_object_release(obj);
  return MPROC_OK;
}

mp_object_ops_t fork_aware_ops = {"test-fork-aware", nullptr, nullptr,
                                  ForkAwareAfterFork, ForkAwareFree, nullptr};

struct ForkAwareArg {
  ForkAware *allocated;
  ForkAware *dead;
};

// In the forked child: after_fork ran for the live object, not the dead one.
MPROC_TASK(check_after_fork) {
  if (arg_len != sizeof(ForkAwareArg)) return 200;
  const ForkAwareArg *a = static_cast<const ForkAwareArg *>(arg);
  if (a->allocated->forked_in != mp_getpid()) return 1;
  return 0;
}

TEST(ObjectOps, AfterForkRunsForEachLiveObjectInAForkedChild) {
  MPROC_SKIP_WITHOUT_START_METHOD("fork");
  auto *live = static_cast<ForkAware *>(mp_object_alloc(sizeof(ForkAware)));
  ASSERT_NE(nullptr, live);
  mp_object_init(&live->header, &fork_aware_ops);
  // Released before the fork: no after_fork call for it.
  auto *dead = static_cast<ForkAware *>(mp_object_alloc(sizeof(ForkAware)));
  ASSERT_NE(nullptr, dead);
  mp_object_init(&dead->header, &fork_aware_ops);
  ASSERT_EQ(MPROC_OK, mp_object_free(dead));
  ForkAwareArg arg{live, dead};
  Child child(Context("fork"), check_after_fork, &arg, sizeof arg);
  EXPECT_EQ(0, child.RunToEnd());
  EXPECT_EQ(0, live->forked_in) << "the parent's object is untouched";
  EXPECT_EQ(MPROC_OK, mp_object_free(live));
  EXPECT_EQ(2, fork_aware_frees);
}

TEST(ObjectOps, GenericFreeReleasesEveryKind) {
  std::vector<void *> objects;
  mproc_queue_t *q;
  mproc_connection_t *a, *b;
  mproc_lock_t *l;
  mproc_event_t *e;
  mproc_value_t *v;
  mproc_listener_t *listener;
  mproc_shared_memory_t *shm;
  mproc_obj_t *payload;
  mproc_process_t *p;
  ASSERT_EQ(MPROC_OK, mproc_queue_create(&q, 0, 4096));
  ASSERT_EQ(MPROC_OK, mproc_pipe(&a, &b, 1));
  ASSERT_EQ(MPROC_OK, mproc_lock_create(&l));
  ASSERT_EQ(MPROC_OK, mproc_event_create(&e));
  ASSERT_EQ(MPROC_OK, mproc_value_create(&v, 'i', nullptr));
  ASSERT_EQ(MPROC_OK, mproc_listener_create(&listener, nullptr, nullptr, 0));
  ASSERT_EQ(MPROC_OK, mproc_shared_memory_create(&shm, nullptr, 64, 0));
  ASSERT_EQ(MPROC_OK, mproc_obj_list(&payload));
  ASSERT_EQ(MPROC_OK, mproc_process_create(&p, nullptr, expect_no_arg,
                                           nullptr, 0));
  objects = {q, a, b, l, e, v, listener, shm, payload, p};
  for (void *o : objects) {
    EXPECT_EQ(MPROC_OK, mp_object_free(o)) << mproc_last_error();
    EXPECT_EQ(MPROC_EINVAL, mp_object_free(o)) << "a stale object";
  }
  EXPECT_EQ(MPROC_OK, mp_object_free(nullptr));
  mp_object_t on_stack;
  mp_object_init(&on_stack, &unexportable_ops);  // a kind without free
  EXPECT_EQ(MPROC_EINVAL, mp_object_free(&on_stack));
  mp_object_invalidate(&on_stack);
}

TEST(CurrentProcess, IsTheMainProcessHere) {
  mproc_process_t *self = nullptr;
  ASSERT_EQ(MPROC_OK, mproc_current_process(&self));
  ASSERT_NE(nullptr, self);
  mproc_process_t *parent = self;
  EXPECT_EQ("MainProcess", NameOf(self));
  EXPECT_GT(PidOf(self), 0);
  int alive = 0, daemon = -1;
  EXPECT_EQ(MPROC_OK, mproc_process_is_alive(self, &alive));
  EXPECT_EQ(1, alive);
  EXPECT_EQ(MPROC_OK, mproc_process_daemon(self, &daemon));
  EXPECT_EQ(0, daemon);
  EXPECT_FAILS(MPROC_ESTATE, mproc_process_join(self, 0));
  EXPECT_FAILS(MPROC_ESTATE, mproc_process_set_daemon(self, 1));
  EXPECT_FAILS(MPROC_EINVAL, mproc_process_free(self));
  EXPECT_FAILS(MPROC_ESTATE, mproc_process_terminate(self));
  EXPECT_FAILS(MPROC_ESTATE, mproc_process_kill(self));
  EXPECT_FAILS(MPROC_ESTATE, mproc_process_start(self));
  int code;
  mproc_sentinel_t sentinel;
  EXPECT_FAILS(MPROC_ESTATE, mproc_process_exitcode(self, &code));
  EXPECT_FAILS(MPROC_ESTATE, mproc_process_sentinel(self, &sentinel));
  mproc_process_t *again = nullptr;
  ASSERT_EQ(MPROC_OK, mproc_current_process(&again));
  EXPECT_EQ(self, again);
  ASSERT_EQ(MPROC_OK, mproc_parent_process(&parent));
  EXPECT_EQ(nullptr, parent);
}

TEST(CpuCount, IsPositive) {
  int n = 0;
  ASSERT_EQ(MPROC_OK, mproc_cpu_count(&n));
  EXPECT_GE(n, 1);
}

TEST(Sleep, SleepsAtLeastTheTime) {
  double start = Now();
  ASSERT_EQ(MPROC_OK, mproc_sleep(0.1));
  double elapsed = Now() - start;
  EXPECT_GE(elapsed, 0.1);
  EXPECT_LT(elapsed, 5);
  EXPECT_EQ(MPROC_OK, mproc_sleep(0));
}

TEST(Contexts, LookUpByName) {
  MPROC_SKIP_WITHOUT_START_METHOD("fork");
  mproc_context_t *fork_ctx = nullptr, *spawn_ctx = nullptr,
                  *default_ctx = nullptr;
  ASSERT_EQ(MPROC_OK, mproc_get_context("fork", &fork_ctx));
  ASSERT_EQ(MPROC_OK, mproc_get_context("spawn", &spawn_ctx));
  ASSERT_EQ(MPROC_OK, mproc_get_context(nullptr, &default_ctx));
  EXPECT_NE(fork_ctx, spawn_ctx);
  const char *name = nullptr;
  EXPECT_EQ(MPROC_OK, mproc_context_method(fork_ctx, &name));
  EXPECT_STREQ("fork", name);
  EXPECT_EQ(MPROC_OK, mproc_context_method(spawn_ctx, &name));
  EXPECT_STREQ("spawn", name);
  const char *default_name = nullptr;
  EXPECT_EQ(MPROC_OK, mproc_context_method(nullptr, &default_name));
  EXPECT_EQ(MPROC_OK, mproc_context_method(default_ctx, &name));
  EXPECT_STREQ(default_name, name);
  mproc_context_t *again = nullptr;
  ASSERT_EQ(MPROC_OK, mproc_get_context("spawn", &again));
  EXPECT_EQ(spawn_ctx, again) << "contexts are static";
  // Every listed method has its own context, named as listed.
  for (const char *const *m = mproc_all_start_methods(); *m; m++) {
    mproc_context_t *ctx = nullptr;
    ASSERT_EQ(MPROC_OK, mproc_get_context(*m, &ctx)) << *m;
    EXPECT_EQ(MPROC_OK, mproc_context_method(ctx, &name));
    EXPECT_STREQ(*m, name);
  }
  mproc_context_t *untouched = spawn_ctx;
  EXPECT_FAILS(MPROC_EINVAL, mproc_get_context("threads", &untouched));
  EXPECT_FAILS(MPROC_EINVAL, mproc_get_context("", &untouched));
  EXPECT_EQ(spawn_ctx, untouched);
}

TEST(Contexts, AllStartMethodsStartWithTheDefault) {
  const char *const *methods = mproc_all_start_methods();
  ASSERT_NE(nullptr, methods);
  std::vector<std::string> names;
  for (const char *const *m = methods; *m; m++) names.push_back(*m);
  ASSERT_FALSE(names.empty());
  // The first is the default; each one names a context; spawn is on every
  // platform; none is listed twice.
  mproc_context_t *def = nullptr;
  const char *def_method = nullptr;
  ASSERT_EQ(MPROC_OK, mproc_get_context(nullptr, &def));
  ASSERT_EQ(MPROC_OK, mproc_context_method(def, &def_method));
  EXPECT_EQ(names[0], def_method);
  for (const std::string &name : names) {
    mproc_context_t *ctx = nullptr;
    EXPECT_EQ(MPROC_OK, mproc_get_context(name.c_str(), &ctx)) << name;
    EXPECT_EQ(1, std::count(names.begin(), names.end(), name)) << name;
  }
  EXPECT_EQ(1, std::count(names.begin(), names.end(), "spawn"));
}

TEST(Contexts, SetStartMethodChangesTheDefault) {
  MPROC_SKIP_WITHOUT_START_METHOD("fork");
  const char *before = nullptr;
  ASSERT_EQ(MPROC_OK, mproc_context_method(nullptr, &before));
  std::string saved = before;
  ASSERT_EQ(MPROC_OK, mproc_set_start_method("spawn"));
  const char *now = nullptr;
  EXPECT_EQ(MPROC_OK, mproc_context_method(nullptr, &now));
  EXPECT_STREQ("spawn", now);
  {
    // A NULL context is the default one: spawn refuses an unregistered task.
    Child c(nullptr, unregistered_task);
    ExpectStartRefused(c, MPROC_ENOTREGISTERED);
  }
  ASSERT_EQ(MPROC_OK, mproc_set_start_method("fork"));
  {
    Child c(nullptr, unregistered_task);
    EXPECT_EQ(42, c.RunToEnd());
  }
  EXPECT_FAILS(MPROC_EINVAL, mproc_set_start_method("threads"));
  EXPECT_FAILS(MPROC_EINVAL, mproc_set_start_method(nullptr));
  EXPECT_EQ(MPROC_OK, mproc_context_method(nullptr, &now));
  EXPECT_STREQ("fork", now) << "a refused method changes nothing";
  ASSERT_EQ(MPROC_OK, mproc_set_start_method(saved.c_str()));
}

TEST(Contexts, TheDefaultIsTakenAtStartNotAtCreation) {
  MPROC_SKIP_WITHOUT_START_METHOD("fork");
  const char *before = nullptr;
  ASSERT_EQ(MPROC_OK, mproc_context_method(nullptr, &before));
  std::string saved = before;
  ASSERT_EQ(MPROC_OK, mproc_set_start_method("fork"));
  {
    Child c(nullptr, unregistered_task);  // created while fork is the default
    ASSERT_EQ(MPROC_OK, mproc_set_start_method("spawn"));
    ExpectStartRefused(c, MPROC_ENOTREGISTERED);  // so spawn it is
  }
  ASSERT_EQ(MPROC_OK, mproc_set_start_method(saved.c_str()));
}

TEST(RegisterTask, RefusesBadNamesAndTakenNames) {
  EXPECT_FAILS(MPROC_EINVAL, mproc_register_task(nullptr, registered_in_test));
  EXPECT_FAILS(MPROC_EINVAL, mproc_register_task("", registered_in_test));
  EXPECT_FAILS(MPROC_EINVAL, mproc_register_task("no_function", nullptr));
  // Taken by MPROC_TASK(sleeper) and by a run-time registration.
  EXPECT_FAILS(MPROC_ESTATE, mproc_register_task("sleeper", registered_in_test));
  ASSERT_EQ(MPROC_OK, mproc_register_task("registered_in_test", registered_in_test));
  EXPECT_FAILS(MPROC_ESTATE, mproc_register_task("registered_in_test", unregistered_task));
  // A NULL or incomplete load-time entry is ignored, not a crash.
  mproc_task_entry_add_(nullptr);
  mproc_task_entry_t incomplete = {nullptr, nullptr, nullptr, nullptr};
  mproc_task_entry_add_(&incomplete);
}

TEST(Errors, EveryStatusHasItsOwnText) {
  std::set<std::string> texts;
  for (int s = MPROC_OK; s < MPROC_ESTATUS_COUNT_; s++) {
    const char *text = mproc_strerror(static_cast<mproc_status_t>(s));
    ASSERT_NE(nullptr, text) << s;
    EXPECT_STRNE("unknown status", text) << s;
    EXPECT_GT(std::strlen(text), 0u) << s;
    texts.insert(text);
  }
  EXPECT_EQ(static_cast<size_t>(MPROC_ESTATUS_COUNT_), texts.size());
  for (int s : {-1, static_cast<int>(MPROC_ESTATUS_COUNT_), 1000})
    EXPECT_STREQ("unknown status", mproc_strerror(static_cast<mproc_status_t>(s)));
}

TEST(Errors, LastErrorIsPerThreadAndNeverNull) {
  ASSERT_NE(nullptr, mproc_last_error());
  EXPECT_FAILS(MPROC_EINVAL, mproc_sleep(-1));
  EXPECT_NE(nullptr, std::strstr(mproc_last_error(), "sleep"));
}

// The OS error code of the last failure: an OS call's errno, kept beside the
// detail; 0 after a failure that had no OS call behind it.
TEST(Errors, LastOsErrorIsTheFailingCallsErrno) {
  mproc_connection_t *c = nullptr;
  const std::string nobody = mproc_test::UnusedLocalAddress();
  ASSERT_FALSE(nobody.empty());
  EXPECT_FAILS(MPROC_ESYS, mproc_client(&c, nobody.c_str(), nullptr, 0, 5));
  EXPECT_EQ(ENOENT, mproc_last_os_error()) << mproc_last_error();
  std::thread([] { EXPECT_EQ(0, mproc_last_os_error()) << "per thread"; }).join();
  EXPECT_FAILS(MPROC_EINVAL, mproc_sleep(-1));
  EXPECT_EQ(0, mproc_last_os_error()) << "a bad argument has no OS error";
}

// Every public call refuses NULL pointers, NaN timeouts and other invalid
// values with MPROC_EINVAL and an explanation, and never crashes.
TEST(BadArguments, AreRefusedNotFatal) {
  MPROC_SKIP_WITHOUT_START_METHOD("fork");
  const double nan = std::nan("");
  mproc_context_t *ctx = Context("fork");
  mproc_process_t *p = nullptr;
  ASSERT_EQ(MPROC_OK, mproc_process_create(&p, ctx, expect_no_arg, nullptr, 0));
  const char *text;
  int value;
  long pid;
  mproc_sentinel_t sentinel;
  size_t count;
  void *object;
  mproc_process_t *out;

  EXPECT_FAILS(MPROC_EINVAL, mproc_init(-1, nullptr));
  EXPECT_FAILS(MPROC_EINVAL, mproc_init(1, nullptr));
  EXPECT_EQ(MPROC_OK, mproc_init(0, nullptr)) << "a second init is fine";

  EXPECT_FAILS(MPROC_EINVAL, mproc_get_context("fork", nullptr));
  EXPECT_FAILS(MPROC_EINVAL, mproc_context_method(ctx, nullptr));

  EXPECT_FAILS(MPROC_EINVAL, mproc_process_create(nullptr, ctx, expect_no_arg, nullptr, 0));
  EXPECT_FAILS(MPROC_EINVAL, mproc_process_create(&out, ctx, nullptr, nullptr, 0));
  EXPECT_FAILS(MPROC_EINVAL, mproc_process_create(&out, ctx, expect_no_arg, nullptr, 1));

  EXPECT_FAILS(MPROC_EINVAL, mproc_process_set_name(nullptr, "x"));
  EXPECT_FAILS(MPROC_EINVAL, mproc_process_set_name(p, nullptr));
  EXPECT_FAILS(MPROC_EINVAL, mproc_process_name(nullptr, &text));
  EXPECT_FAILS(MPROC_EINVAL, mproc_process_name(p, nullptr));
  EXPECT_FAILS(MPROC_EINVAL, mproc_process_set_daemon(nullptr, 1));
  EXPECT_FAILS(MPROC_EINVAL, mproc_process_daemon(nullptr, &value));
  EXPECT_FAILS(MPROC_EINVAL, mproc_process_daemon(p, nullptr));
  EXPECT_FAILS(MPROC_EINVAL, mproc_process_attach(nullptr, p));
  EXPECT_FAILS(MPROC_EINVAL, mproc_process_attach(p, nullptr));
  EXPECT_FAILS(MPROC_EINVAL, mproc_attached(0, nullptr));
  EXPECT_FAILS(MPROC_EINVAL, mproc_attached(0, &object));  // none attached
  EXPECT_FAILS(MPROC_EINVAL, mproc_process_start(nullptr));
  EXPECT_FAILS(MPROC_EINVAL, mproc_process_join(nullptr, 1));
  EXPECT_FAILS(MPROC_EINVAL, mproc_process_join(p, nan));
  EXPECT_FAILS(MPROC_EINVAL, mproc_process_is_alive(nullptr, &value));
  EXPECT_FAILS(MPROC_EINVAL, mproc_process_is_alive(p, nullptr));
  EXPECT_FAILS(MPROC_EINVAL, mproc_process_pid(nullptr, &pid));
  EXPECT_FAILS(MPROC_EINVAL, mproc_process_exitcode(nullptr, &value));
  EXPECT_FAILS(MPROC_EINVAL, mproc_process_terminate(nullptr));
  EXPECT_FAILS(MPROC_EINVAL, mproc_process_kill(nullptr));
  EXPECT_FAILS(MPROC_EINVAL, mproc_process_sentinel(nullptr, &sentinel));
  EXPECT_FAILS(MPROC_EINVAL, mproc_process_close(nullptr));
  EXPECT_EQ(MPROC_OK, mproc_process_free(nullptr));
  EXPECT_FAILS(MPROC_EINVAL, mproc_current_process(nullptr));
  EXPECT_FAILS(MPROC_EINVAL, mproc_parent_process(nullptr));
  EXPECT_FAILS(MPROC_EINVAL, mproc_active_children(nullptr, 0, nullptr));
  EXPECT_FAILS(MPROC_EINVAL, mproc_active_children(nullptr, 1, &count));
  EXPECT_FAILS(MPROC_EINVAL, mproc_sleep(nan));
  EXPECT_FAILS(MPROC_EINVAL, mproc_sleep(-0.5));
  EXPECT_FAILS(MPROC_EINVAL, mproc_cpu_count(nullptr));
  EXPECT_FAILS(MPROC_EINVAL, mproc_wait(nullptr, 1, nullptr, nullptr, 0));
  mproc_sentinel_t bad{};  // zeroed: not a sentinel
  EXPECT_FAILS(MPROC_EINVAL, mproc_wait(&bad, 1, nullptr, nullptr, 0));


  // The same calls on a started process, with the timeout checks too.
  ASSERT_EQ(MPROC_OK, mproc_process_start(p));
  ASSERT_EQ(MPROC_OK, mproc_process_sentinel(p, &sentinel));
  bad = sentinel;
  bad.os_ = -1;  // a sentinel whose handle is not valid
  EXPECT_FAILS(MPROC_EINVAL, mproc_wait(&bad, 1, nullptr, nullptr, 0));
  EXPECT_FAILS(MPROC_EINVAL, mproc_process_join(p, nan));
  EXPECT_FAILS(MPROC_EINVAL, mproc_wait(&sentinel, 1, nullptr, nullptr, nan));
  EXPECT_FAILS(MPROC_EINVAL, mproc_process_exitcode(p, nullptr));
  EXPECT_FAILS(MPROC_EINVAL, mproc_process_pid(p, nullptr));
  EXPECT_FAILS(MPROC_EINVAL, mproc_process_sentinel(p, nullptr));
  EXPECT_EQ(MPROC_OK, mproc_process_join(p, 10));
  EXPECT_EQ(MPROC_OK, mproc_process_free(p));
}

}  // namespace
