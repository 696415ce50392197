// SPDX-License-Identifier: Apache-2.0
// Executors and futures (docs/executor.md): every call and its errors,
// crossed with every start method; crashes, cancel, map's bound, threads.

#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "mproc.h"
#include "platform/testing/testing.h"
#include "tests/test_util.h"

namespace {

using mproc_test::Int;
using mproc_test::IntOf;
using mproc_test::Pid;
using mproc_test::Range;

}  // namespace

MPROC_FUNCTION(ex_square) {
  int64_t x;
  mproc_status_t st = mproc_obj_get_int(in, &x);
  if (st != MPROC_OK) return st;
  return mproc_obj_int(out, x * x);
}

MPROC_FUNCTION(ex_fail_on_3) {
  int64_t x = IntOf(in);
  if (x == 3) return mproc_function_error(MPROC_ETASK, "bad item %d", (int)x);
  return mproc_obj_int(out, x);
}

// Sleeps in milliseconds, returns the argument.
MPROC_FUNCTION(ex_nap) {
  int64_t ms = IntOf(in);
  mproc_sleep((double)ms / 1000.0);
  return mproc_obj_int(out, ms);
}

MPROC_FUNCTION(ex_pid) { return mproc_obj_int(out, Pid()); }
MPROC_FUNCTION(ex_thread_name) {
  (void)in;
  mproc_sleep(0.02);  // so the next task lands on another worker
  char name[MPROC_THREAD_NAME_MAX];
  mproc_status_t st = mproc_thread_name(name, sizeof name);
  if (st != MPROC_OK) return st;
  return mproc_obj_str(out, name);
}

// -3 SIGKILLs itself, -2 exits with 3; others square.
MPROC_FUNCTION(ex_crashy) {
  int64_t x = IntOf(in);
  // _Exit, not exit: under LeakSanitizer, exit's leak check in a forked
  // worker counts the memory of the parent's other threads as leaked and
  // changes the exit code (the worker ends with 3 either way otherwise).
  if (x == -2) std::_Exit(3);
  if (x == -3) mp_test_kill_pid(Pid());
  return mproc_obj_int(out, x * x);
}

namespace {

int64_t g_init_arg = 0;

}  // namespace

MPROC_FUNCTION(ex_init) {
  g_init_arg = IntOf(in);
  return MPROC_OK;
}

MPROC_FUNCTION(ex_init_report) { return mproc_obj_int(out, g_init_arg); }

namespace {

class ExecutorTest : public ::testing::TestWithParam<std::string> {
 protected:
  mproc_executor_t *Make(int workers, unsigned long max_tasks = 0,
                         double task_timeout = -1) {
    mproc_executor_options_t o;
    EXPECT_EQ(MPROC_OK, mproc_executor_options_init(&o));
    o.max_workers = workers;
    o.context = mproc_test::Context(GetParam().c_str());
    o.max_tasks_per_child = max_tasks;
    o.task_timeout = task_timeout;
    mproc_executor_t *ex = nullptr;
    EXPECT_EQ(MPROC_OK, mproc_process_executor_create(&ex, &o))
        << mproc_last_error();
    return ex;
  }
};

mproc_future_t *Submit(mproc_executor_t *ex, mproc_function_fn fn,
                       int64_t x) {
  mproc_obj_t *a = Int(x);
  mproc_future_t *f = nullptr;
  EXPECT_EQ(MPROC_OK, mproc_executor_submit(&f, ex, fn, a))
      << mproc_last_error();
  mproc_obj_free(a);
  return f;
}

int64_t ResultOf(mproc_future_t *f, double timeout = 60) {
  mproc_obj_t *v = nullptr;
  mproc_status_t st = mproc_future_result(f, &v, timeout);
  EXPECT_EQ(MPROC_OK, st) << mproc_last_error();
  int64_t x = st == MPROC_OK ? IntOf(v) : -999999;
  mproc_obj_free(v);
  return x;
}

TEST_P(ExecutorTest, SubmitGivesResults) {
  mproc_executor_t *ex = Make(2);
  ASSERT_NE(nullptr, ex);
  int n = 0;
  EXPECT_EQ(MPROC_OK, mproc_executor_max_workers(ex, &n));
  EXPECT_EQ(2, n);
  std::vector<mproc_future_t *> fs;
  for (int i = 0; i < 20; i++) fs.push_back(Submit(ex, ex_square, i));
  for (int i = 0; i < 20; i++) {
    EXPECT_EQ(i * i, ResultOf(fs[i]));
    int done = 0, cancelled = 1, running = 1;
    EXPECT_EQ(MPROC_OK, mproc_future_done(fs[i], &done));
    EXPECT_EQ(MPROC_OK, mproc_future_cancelled(fs[i], &cancelled));
    EXPECT_EQ(MPROC_OK, mproc_future_running(fs[i], &running));
    EXPECT_EQ(1, done);
    EXPECT_EQ(0, cancelled);
    EXPECT_EQ(0, running);
    // result may be asked again
    EXPECT_EQ(i * i, ResultOf(fs[i], 0));
    mproc_status_t st = MPROC_EINVAL;
    const char *msg = "x";
    EXPECT_EQ(MPROC_OK, mproc_future_exception(fs[i], &st, &msg, 0));
    EXPECT_EQ(MPROC_OK, st);
    EXPECT_EQ(nullptr, msg);
  }
  // The calls' own errors on a live future and executor.
  mproc_obj_t *v = nullptr;
  EXPECT_EQ(MPROC_EINVAL, mproc_future_result(fs[0], nullptr, 1));
  EXPECT_EQ(MPROC_EINVAL, mproc_future_result(fs[0], &v, std::nan("")));
  EXPECT_EQ(MPROC_EINVAL, mproc_future_exception(fs[0], nullptr, nullptr, 1));
  EXPECT_EQ(MPROC_EINVAL, mproc_future_done(fs[0], nullptr));
  mproc_future_t *g = nullptr;
  EXPECT_EQ(MPROC_EINVAL, mproc_executor_submit(nullptr, ex, ex_square, nullptr));
  EXPECT_EQ(MPROC_EINVAL, mproc_executor_submit(&g, ex, nullptr, nullptr));
  EXPECT_EQ(MPROC_EINVAL, mproc_executor_max_workers(ex, nullptr));
  mproc_as_completed_t *it = nullptr;
  EXPECT_EQ(MPROC_EINVAL, mproc_as_completed(nullptr, fs.data(), 1));
  EXPECT_EQ(MPROC_EINVAL, mproc_as_completed(&it, nullptr, 1));
  ASSERT_EQ(MPROC_OK, mproc_as_completed(&it, fs.data(), 1));
  EXPECT_EQ(MPROC_EINVAL, mproc_as_completed_next(it, &g, std::nan("")));
  EXPECT_EQ(MPROC_EINVAL, mproc_as_completed_next(it, nullptr, 1));
  EXPECT_EQ(MPROC_OK, mproc_as_completed_free(it));
  mproc_executor_map_t *m = nullptr;
  EXPECT_EQ(MPROC_EINVAL, mproc_executor_map(&m, ex, ex_square, nullptr, 1, 1, 0));
  EXPECT_EQ(MPROC_EINVAL,
            mproc_executor_map_iter(&m, ex, ex_square, nullptr, nullptr, 1, 1, 0));
  // None as the argument: the function gets None.
  g = nullptr;
  ASSERT_EQ(MPROC_OK, mproc_executor_submit(&g, ex, ex_square, nullptr));
  EXPECT_NE(MPROC_OK, mproc_future_result(g, &v, 60));  // square(None) fails
  mproc_future_free(g);
  for (auto *f : fs) EXPECT_EQ(MPROC_OK, mproc_future_free(f));
  EXPECT_EQ(MPROC_OK, mproc_executor_free(ex));
}

TEST_P(ExecutorTest, FailureIsTheFunctionsStatusAndMessage) {
  mproc_executor_t *ex = Make(1);
  ASSERT_NE(nullptr, ex);
  mproc_future_t *f = Submit(ex, ex_fail_on_3, 3);
  mproc_obj_t *v = nullptr;
  EXPECT_EQ(MPROC_ETASK, mproc_future_result(f, &v, 60));
  EXPECT_NE(nullptr, std::strstr(mproc_last_error(), "bad item 3"))
      << mproc_last_error();
  mproc_status_t st = MPROC_OK;
  const char *msg = nullptr;
  EXPECT_EQ(MPROC_OK, mproc_future_exception(f, &st, &msg, 60));
  EXPECT_EQ(MPROC_ETASK, st);
  ASSERT_NE(nullptr, msg);
  EXPECT_NE(nullptr, std::strstr(msg, "bad item 3")) << msg;
  mproc_future_free(f);
  mproc_executor_free(ex);
}

TEST_P(ExecutorTest, ResultAndExceptionTimeOut) {
  mproc_executor_t *ex = Make(1);
  ASSERT_NE(nullptr, ex);
  mproc_future_t *f = Submit(ex, ex_nap, 400);
  mproc_obj_t *v = nullptr;
  EXPECT_EQ(MPROC_ETIMEDOUT, mproc_future_result(f, &v, 0.02));
  mproc_status_t st;
  EXPECT_EQ(MPROC_ETIMEDOUT, mproc_future_exception(f, &st, nullptr, 0));
  EXPECT_EQ(400, ResultOf(f));
  mproc_future_free(f);
  mproc_executor_free(ex);
}

TEST_P(ExecutorTest, CancelPendingNotRunning) {
  mproc_executor_t *ex = Make(1);
  ASSERT_NE(nullptr, ex);
  mproc_future_t *busy = Submit(ex, ex_nap, 300);
  mproc_future_t *queued = Submit(ex, ex_square, 5);
  // Wait until the worker has the first one.
  int running = 0;
  for (int i = 0; i < 500 && !running; i++) {
    mproc_future_running(busy, &running);
    if (!running) mproc_sleep(0.01);
  }
  EXPECT_EQ(1, running);
  int ok = 1;
  EXPECT_EQ(MPROC_OK, mproc_future_running(queued, &ok));
  EXPECT_EQ(0, ok);
  EXPECT_EQ(MPROC_OK, mproc_future_cancel(busy, &ok));
  EXPECT_EQ(0, ok);  // running: CPython's cancel refuses
  EXPECT_EQ(MPROC_OK, mproc_future_cancel(queued, &ok));
  EXPECT_EQ(1, ok);
  EXPECT_EQ(MPROC_OK, mproc_future_cancelled(queued, &ok));
  EXPECT_EQ(1, ok);
  EXPECT_EQ(MPROC_OK, mproc_future_done(queued, &ok));
  EXPECT_EQ(1, ok);
  mproc_obj_t *v = nullptr;
  EXPECT_EQ(MPROC_ECANCELLED, mproc_future_result(queued, &v, 0));
  mproc_status_t st;
  EXPECT_EQ(MPROC_ECANCELLED, mproc_future_exception(queued, &st, nullptr, 0));
  EXPECT_EQ(300, ResultOf(busy));
  EXPECT_EQ(MPROC_OK, mproc_future_cancel(busy, &ok));
  EXPECT_EQ(0, ok);  // done
  mproc_future_free(busy);
  mproc_future_free(queued);
  mproc_executor_free(ex);
}

struct CallbackLog {
  std::atomic<int> calls{0};
  std::atomic<int64_t> value{0};
};

mproc_status_t RecordCallback(mproc_future_t *f, void *ctx) {
  auto *log = static_cast<CallbackLog *>(ctx);
  mproc_obj_t *v = nullptr;
  if (mproc_future_result(f, &v, 0) == MPROC_OK) log->value = IntOf(v);
  mproc_obj_free(v);
  log->calls++;
  return MPROC_OK;
}

mproc_status_t FailingCallback(mproc_future_t *, void *ctx) {
  static_cast<CallbackLog *>(ctx)->calls++;
  return mproc_function_error(MPROC_EINVAL, "the callback refuses");
}

TEST_P(ExecutorTest, DoneCallbacks) {
  mproc_executor_t *ex = Make(1);
  ASSERT_NE(nullptr, ex);
  CallbackLog later, failing, now;
  mproc_future_t *f = Submit(ex, ex_nap, 100);
  EXPECT_EQ(MPROC_OK, mproc_future_add_done_callback(f, RecordCallback, &later));
  EXPECT_EQ(MPROC_OK,
            mproc_future_add_done_callback(f, FailingCallback, &failing));
  EXPECT_EQ(100, ResultOf(f));
  for (int i = 0; i < 500 && (later.calls < 1 || failing.calls < 1); i++)
    mproc_sleep(0.01);
  EXPECT_EQ(1, later.calls.load());
  EXPECT_EQ(100, later.value.load());
  EXPECT_EQ(1, failing.calls.load());
  // Already done: runs at once, in this thread.
  EXPECT_EQ(MPROC_OK, mproc_future_add_done_callback(f, RecordCallback, &now));
  EXPECT_EQ(1, now.calls.load());
  EXPECT_EQ(MPROC_EINVAL, mproc_future_add_done_callback(f, nullptr, nullptr));
  // The failing callback did not hurt the executor.
  mproc_future_t *g = Submit(ex, ex_square, 7);
  EXPECT_EQ(49, ResultOf(g));
  mproc_future_free(g);
  mproc_future_free(f);
  mproc_executor_free(ex);
}

TEST_P(ExecutorTest, WaitWithEachReturnWhen) {
  mproc_executor_t *ex = Make(2);
  ASSERT_NE(nullptr, ex);
  mproc_future_t *fs[3] = {Submit(ex, ex_nap, 10), Submit(ex, ex_nap, 1500),
                           Submit(ex, ex_fail_on_3, 3)};
  int done[3];
  size_t ndone = 0;
  EXPECT_EQ(MPROC_OK, mproc_futures_wait(fs, 3, MPROC_FIRST_COMPLETED, done,
                                         &ndone, 60));
  EXPECT_GE(ndone, 1u);
  EXPECT_EQ(0, done[1]);
  EXPECT_EQ(MPROC_OK, mproc_futures_wait(fs, 3, MPROC_FIRST_EXCEPTION, done,
                                         &ndone, 60));
  EXPECT_EQ(1, done[2]);
  EXPECT_EQ(0, done[1]);
  // Expiring: not an error, the flags tell.
  EXPECT_EQ(MPROC_OK, mproc_futures_wait(fs, 3, MPROC_ALL_COMPLETED, done,
                                         &ndone, 0.01));
  EXPECT_EQ(0, done[1]);
  EXPECT_EQ(2u, ndone);
  EXPECT_EQ(MPROC_OK, mproc_futures_wait(fs, 3, MPROC_ALL_COMPLETED, done,
                                         &ndone, 60));
  EXPECT_EQ(3u, ndone);
  EXPECT_EQ(MPROC_EINVAL,
            mproc_futures_wait(fs, 3, 99, done, &ndone, 1));
  EXPECT_EQ(MPROC_EINVAL, mproc_futures_wait(nullptr, 3, MPROC_ALL_COMPLETED,
                                             done, &ndone, 1));
  mproc_future_t *bad[1] = {reinterpret_cast<mproc_future_t *>(ex)};
  EXPECT_EQ(MPROC_EINVAL,
            mproc_futures_wait(bad, 1, MPROC_ALL_COMPLETED, done, &ndone, 1));
  for (auto *f : fs) mproc_future_free(f);
  mproc_executor_free(ex);
}

TEST_P(ExecutorTest, AsCompletedGivesEachOnceAndTimesOut) {
  mproc_executor_t *ex = Make(2);
  ASSERT_NE(nullptr, ex);
  mproc_future_t *fs[3] = {Submit(ex, ex_nap, 1500), Submit(ex, ex_nap, 10),
                           Submit(ex, ex_nap, 20)};
  mproc_as_completed_t *it = nullptr;
  ASSERT_EQ(MPROC_OK, mproc_as_completed(&it, fs, 3));
  std::set<mproc_future_t *> seen;
  mproc_future_t *f = nullptr;
  EXPECT_EQ(MPROC_OK, mproc_as_completed_next(it, &f, 60));
  seen.insert(f);
  EXPECT_EQ(MPROC_OK, mproc_as_completed_next(it, &f, 60));
  seen.insert(f);
  EXPECT_EQ(0u, seen.count(fs[0]));
  EXPECT_EQ(MPROC_ETIMEDOUT, mproc_as_completed_next(it, &f, 0.01));
  EXPECT_EQ(MPROC_OK, mproc_as_completed_next(it, &f, 60));
  EXPECT_EQ(fs[0], f);
  EXPECT_EQ(MPROC_EOF, mproc_as_completed_next(it, &f, 60));
  EXPECT_EQ(MPROC_OK, mproc_as_completed_free(it));
  for (auto *g : fs) mproc_future_free(g);
  mproc_executor_free(ex);
}

TEST_P(ExecutorTest, MapKeepsOrder) {
  mproc_executor_t *ex = Make(2);
  ASSERT_NE(nullptr, ex);
  mproc_obj_t *items = Range(50);
  for (size_t chunk : {(size_t)1, (size_t)7, (size_t)100}) {
    for (size_t buffer : {(size_t)0, (size_t)2}) {
      mproc_executor_map_t *it = nullptr;
      ASSERT_EQ(MPROC_OK, mproc_executor_map(&it, ex, ex_square, items, 60,
                                             chunk, buffer))
          << mproc_last_error();
      mproc_obj_t *v = nullptr;
      for (int64_t i = 0; i < 50; i++) {
        ASSERT_EQ(MPROC_OK, mproc_executor_map_next(it, &v));
        EXPECT_EQ(i * i, IntOf(v));
        mproc_obj_free(v);
      }
      EXPECT_EQ(MPROC_EOF, mproc_executor_map_next(it, &v));
      mproc_executor_map_free(it);
    }
  }
  mproc_obj_free(items);
  mproc_executor_free(ex);
}

struct Counter {
  int64_t next = 0, end = 0;
};

mproc_status_t CountingSource(void *ctx, mproc_obj_t **item) {
  auto *c = static_cast<Counter *>(ctx);
  if (c->next == c->end) return MPROC_EOF;
  return mproc_obj_int(item, c->next++);
}

TEST_P(ExecutorTest, MapReadsAtMostBuffersizeTasksAhead) {
  mproc_executor_t *ex = Make(2);
  ASSERT_NE(nullptr, ex);
  Counter c;
  c.end = 1000;
  mproc_executor_map_t *it = nullptr;
  ASSERT_EQ(MPROC_OK, mproc_executor_map_iter(&it, ex, ex_square,
                                              CountingSource, &c, 60, 3, 2));
  EXPECT_EQ(6, c.next);  // 2 tasks of 3 items
  mproc_obj_t *v = nullptr;
  for (int64_t i = 0; i < 10; i++) {
    ASSERT_EQ(MPROC_OK, mproc_executor_map_next(it, &v));
    EXPECT_EQ(i * i, IntOf(v));
    mproc_obj_free(v);
    EXPECT_LE(c.next, (i / 3 + 1) * 3 + 6);
  }
  EXPECT_EQ(MPROC_OK, mproc_executor_map_free(it));
  EXPECT_LE(c.next, 18);
  mproc_executor_free(ex);
}

TEST_P(ExecutorTest, MapFailedItemAndTimeout) {
  mproc_executor_t *ex = Make(2);
  ASSERT_NE(nullptr, ex);
  mproc_obj_t *items = Range(5);
  mproc_executor_map_t *it = nullptr;
  ASSERT_EQ(MPROC_OK,
            mproc_executor_map(&it, ex, ex_fail_on_3, items, 60, 1, 0));
  mproc_obj_t *v = nullptr;
  for (int64_t i = 0; i < 5; i++) {
    mproc_status_t st = mproc_executor_map_next(it, &v);
    if (i == 3) {
      EXPECT_EQ(MPROC_ETASK, st);
      continue;
    }
    ASSERT_EQ(MPROC_OK, st);
    EXPECT_EQ(i, IntOf(v));
    mproc_obj_free(v);
  }
  mproc_executor_map_free(it);
  mproc_obj_t *slow = nullptr;
  ASSERT_EQ(MPROC_OK, mproc_obj_build(&slow, "[i]", 500));
  ASSERT_EQ(MPROC_OK, mproc_executor_map(&it, ex, ex_nap, slow, 0.05, 1, 0));
  EXPECT_EQ(MPROC_ETIMEDOUT, mproc_executor_map_next(it, &v));
  mproc_executor_map_free(it);
  EXPECT_EQ(MPROC_EINVAL,
            mproc_executor_map(&it, ex, ex_square, items, 60, 0, 0));
  mproc_obj_t *notlist = Int(3);
  EXPECT_EQ(MPROC_EINVAL,
            mproc_executor_map(&it, ex, ex_square, notlist, 60, 1, 0));
  mproc_obj_free(notlist);
  mproc_obj_free(slow);
  mproc_obj_free(items);
  mproc_executor_free(ex);
}

TEST_P(ExecutorTest, ShutdownWithAndWithoutCancelFutures) {
  for (int cancel : {0, 1}) {
    mproc_executor_t *ex = Make(1);
    ASSERT_NE(nullptr, ex);
    mproc_future_t *busy = Submit(ex, ex_nap, 200);
    mproc_future_t *queued = Submit(ex, ex_square, 6);
    int running = 0;
    for (int i = 0; i < 500 && !running; i++) {
      mproc_future_running(busy, &running);
      if (!running) mproc_sleep(0.01);
    }
    EXPECT_EQ(MPROC_OK, mproc_executor_shutdown(ex, 1, cancel));
    EXPECT_EQ(200, ResultOf(busy, 0));
    int c = -1;
    mproc_future_cancelled(queued, &c);
    EXPECT_EQ(cancel, c);
    if (!cancel) {
      EXPECT_EQ(36, ResultOf(queued, 0));
    }
    mproc_future_t *late = nullptr;
    mproc_obj_t *a = Int(1);
    EXPECT_EQ(MPROC_ESTATE, mproc_executor_submit(&late, ex, ex_square, a));
    EXPECT_NE(nullptr, std::strstr(mproc_last_error(), "after shutdown"));
    mproc_obj_free(a);
    EXPECT_EQ(MPROC_OK, mproc_executor_shutdown(ex, 1, 0));  // idempotent
    mproc_future_free(busy);
    mproc_future_free(queued);
    EXPECT_EQ(MPROC_OK, mproc_executor_free(ex));
  }
}

TEST_P(ExecutorTest, ShutdownWithoutWaitThenFree) {
  mproc_executor_t *ex = Make(1);
  ASSERT_NE(nullptr, ex);
  mproc_future_t *f = Submit(ex, ex_nap, 100);
  EXPECT_EQ(MPROC_OK, mproc_executor_shutdown(ex, 0, 0));
  EXPECT_EQ(MPROC_OK, mproc_executor_free(ex));  // waits
  EXPECT_EQ(100, ResultOf(f, 0));
  mproc_future_free(f);
}

TEST_P(ExecutorTest, TerminateAndKillWorkers) {
  for (int kill_them : {0, 1}) {
    mproc_executor_t *ex = Make(1);
    ASSERT_NE(nullptr, ex);
    mproc_future_t *busy = Submit(ex, ex_nap, 5000);
    mproc_future_t *queued = Submit(ex, ex_square, 2);
    int running = 0;
    for (int i = 0; i < 500 && !running; i++) {
      mproc_future_running(busy, &running);
      if (!running) mproc_sleep(0.01);
    }
    EXPECT_EQ(MPROC_OK, kill_them ? mproc_executor_kill_workers(ex)
                                  : mproc_executor_terminate_workers(ex));
    mproc_obj_t *v = nullptr;
    EXPECT_EQ(MPROC_ESTATE, mproc_future_result(busy, &v, 10));
    // terminate_workers sends SIGTERM, kill_workers SIGKILL (CPython 3.14).
    std::string msg = mproc_last_error();
    EXPECT_NE(std::string::npos,
              msg.find(kill_them ? "signal 9" : "signal 15"))
        << msg;
    EXPECT_EQ(MPROC_ECANCELLED, mproc_future_result(queued, &v, 10));
    mproc_future_t *late = nullptr;
    mproc_obj_t *a = Int(1);
    EXPECT_EQ(MPROC_ESTATE, mproc_executor_submit(&late, ex, ex_square, a));
    mproc_obj_free(a);
    mproc_future_free(busy);
    mproc_future_free(queued);
    EXPECT_EQ(MPROC_OK, mproc_executor_free(ex));
  }
}

MPROC_FUNCTION(ex_ignore_sigterm_and_nap) {
  signal(SIGTERM, SIG_IGN);
  return ex_nap(in, out);
}

TEST_P(ExecutorTest, TerminateWorkersKillsAWorkerThatIgnoresIt) {
  if (!mp_test_has_signals())
    GTEST_SKIP() << "no signals on this OS: a terminate cannot be ignored";
  mproc_executor_t *ex = Make(1);
  ASSERT_NE(nullptr, ex);
  mproc_future_t *busy = Submit(ex, ex_ignore_sigterm_and_nap, 20000);
  int running = 0;
  for (int i = 0; i < 500 && !running; i++) {
    mproc_future_running(busy, &running);
    if (!running) mproc_sleep(0.01);
  }
  mproc_sleep(0.2);  // let it set SIG_IGN
  EXPECT_EQ(MPROC_OK, mproc_executor_terminate_workers(ex));
  mproc_obj_t *v = nullptr;
  EXPECT_EQ(MPROC_ESTATE, mproc_future_result(busy, &v, 10));
  std::string msg = mproc_last_error();
  EXPECT_NE(std::string::npos, msg.find("signal 9")) << msg;
  mproc_future_free(busy);
  EXPECT_EQ(MPROC_OK, mproc_executor_free(ex));
}

TEST_P(ExecutorTest, CrashedWorkerFailsOnlyItsFuture) {
  mproc_executor_t *ex = Make(2);
  ASSERT_NE(nullptr, ex);
  std::vector<mproc_future_t *> fs;
  for (int i = 0; i < 12; i++)
    fs.push_back(Submit(ex, ex_crashy, i == 4 ? -3 : (i == 8 ? -2 : i)));
  for (int i = 0; i < 12; i++) {
    mproc_obj_t *v = nullptr;
    mproc_status_t st = mproc_future_result(fs[i], &v, 60);
    if (i == 4 || i == 8) {
      EXPECT_EQ(MPROC_EWORKERDIED, st);
      std::string msg = mproc_last_error();
      EXPECT_NE(std::string::npos, msg.find("pid")) << msg;
      EXPECT_NE(std::string::npos,
                msg.find(i == 4 ? "signal 9" : "exit code 3"))
          << msg;
    } else {
      ASSERT_EQ(MPROC_OK, st) << mproc_last_error();
      EXPECT_EQ(i * i, IntOf(v));
    }
    mproc_obj_free(v);
  }
  // Still working.
  mproc_future_t *g = Submit(ex, ex_square, 9);
  EXPECT_EQ(81, ResultOf(g));
  mproc_future_free(g);
  for (auto *f : fs) mproc_future_free(f);
  mproc_executor_free(ex);
}

TEST_P(ExecutorTest, PerFutureTimeoutKillsAndReplacesTheWorker) {
  mproc_executor_t *ex = Make(1, 0, 0.3);
  ASSERT_NE(nullptr, ex);
  mproc_future_t *slow = Submit(ex, ex_nap, 5000);
  mproc_obj_t *v = nullptr;
  EXPECT_EQ(MPROC_ETIMEDOUT, mproc_future_result(slow, &v, 30));
  EXPECT_NE(nullptr, std::strstr(mproc_last_error(), "timeout"));
  mproc_future_t *g = Submit(ex, ex_square, 4);
  EXPECT_EQ(16, ResultOf(g));
  mproc_future_free(g);
  mproc_future_free(slow);
  mproc_executor_free(ex);
}

TEST_P(ExecutorTest, CancelRunningKillsAndReplacesTheWorker) {
  mproc_executor_options_t o;
  mproc_executor_options_init(&o);
  o.max_workers = 1;
  o.context = mproc_test::Context(GetParam().c_str());
  o.cancel_running = 1;
  mproc_executor_t *ex = nullptr;
  ASSERT_EQ(MPROC_OK, mproc_process_executor_create(&ex, &o))
      << mproc_last_error();
  mproc_future_t *first = Submit(ex, ex_pid, 0);
  int64_t pid = ResultOf(first);
  mproc_future_t *slow = Submit(ex, ex_nap, 20000);
  int running = 0;
  for (int i = 0; i < 500 && !running; i++) {
    mproc_future_running(slow, &running);
    if (!running) mproc_sleep(0.01);
  }
  ASSERT_EQ(1, running);
  int ok = 0;
  EXPECT_EQ(MPROC_OK, mproc_future_cancel(slow, &ok));
  EXPECT_EQ(1, ok);
  mproc_obj_t *v = nullptr;
  EXPECT_EQ(MPROC_ECANCELLED, mproc_future_result(slow, &v, 0));
  EXPECT_NE(nullptr, std::strstr(mproc_last_error(), "killed"))
      << mproc_last_error();
  // A new worker runs the next future.
  mproc_future_t *after = Submit(ex, ex_pid, 0);
  int64_t pid2 = ResultOf(after);
  EXPECT_NE(pid, pid2);
  EXPECT_GT(pid2, 0);
  mproc_future_free(after);
  mproc_future_free(slow);
  mproc_future_free(first);
  EXPECT_EQ(MPROC_OK, mproc_executor_free(ex));
}

TEST_P(ExecutorTest, MaxTasksPerChildReplacesWorkers) {
  mproc_executor_t *ex = Make(1, 2);
  ASSERT_NE(nullptr, ex);
  std::vector<mproc_future_t *> fs;
  for (int i = 0; i < 6; i++) fs.push_back(Submit(ex, ex_pid, 0));
  std::set<int64_t> pids;
  for (auto *f : fs) pids.insert(ResultOf(f));
  EXPECT_EQ(3u, pids.size());
  for (auto *f : fs) mproc_future_free(f);
  EXPECT_EQ(MPROC_OK, mproc_executor_free(ex));
}

TEST_P(ExecutorTest, Initializer) {
  mproc_executor_options_t o;
  mproc_executor_options_init(&o);
  o.max_workers = 1;
  o.context = mproc_test::Context(GetParam().c_str());
  o.initializer = ex_init;
  mproc_obj_t *a = Int(42);
  o.initargs = a;
  mproc_executor_t *ex = nullptr;
  ASSERT_EQ(MPROC_OK, mproc_process_executor_create(&ex, &o))
      << mproc_last_error();
  mproc_obj_free(a);
  mproc_future_t *f = Submit(ex, ex_init_report, 0);
  EXPECT_EQ(42, ResultOf(f));
  mproc_future_free(f);
  mproc_executor_free(ex);
}

TEST_P(ExecutorTest, ThreadAndProcessFuturesWaitedTogether) {
  mproc_executor_t *ex = Make(1);
  ASSERT_NE(nullptr, ex);
  mproc_executor_t *tx = nullptr;
  ASSERT_EQ(MPROC_OK, mproc_thread_executor_create(&tx, nullptr));
  mproc_future_t *fs[2] = {Submit(ex, ex_nap, 50), Submit(tx, ex_nap, 30)};
  int done[2];
  size_t ndone = 0;
  EXPECT_EQ(MPROC_OK, mproc_futures_wait(fs, 2, MPROC_ALL_COMPLETED, done,
                                         &ndone, 60));
  EXPECT_EQ(2u, ndone);
  mproc_as_completed_t *it = nullptr;
  ASSERT_EQ(MPROC_OK, mproc_as_completed(&it, fs, 2));
  mproc_future_t *f;
  EXPECT_EQ(MPROC_OK, mproc_as_completed_next(it, &f, 1));
  EXPECT_EQ(MPROC_OK, mproc_as_completed_next(it, &f, 1));
  EXPECT_EQ(MPROC_EOF, mproc_as_completed_next(it, &f, 1));
  mproc_as_completed_free(it);
  for (auto *g : fs) mproc_future_free(g);
  mproc_executor_free(tx);
  mproc_executor_free(ex);
}

MPROC_INSTANTIATE_FOR_START_METHODS(ExecutorTest);

// ---- not crossed: the calls' errors, the thread executor, threads ----

TEST(ExecutorErrors, EveryCallChecksItsArguments) {
  mproc_executor_t *ex = nullptr;
  mproc_executor_options_t o;
  EXPECT_EQ(MPROC_EINVAL, mproc_executor_options_init(nullptr));
  EXPECT_EQ(MPROC_OK, mproc_executor_options_init(&o));
  EXPECT_EQ(MPROC_EXECUTOR_DEFAULT_WORKERS, o.max_workers);
  EXPECT_EQ(MPROC_EINVAL, mproc_process_executor_create(nullptr, &o));
  o.max_workers = 0;
  EXPECT_EQ(MPROC_EINVAL, mproc_process_executor_create(&ex, &o));
  o.max_workers = 1;
  o.task_timeout = 1;
  EXPECT_EQ(MPROC_EINVAL, mproc_thread_executor_create(&ex, &o));
  o.task_timeout = -1;
  o.max_tasks_per_child = 3;
  EXPECT_EQ(MPROC_EINVAL, mproc_thread_executor_create(&ex, &o));
  o.max_tasks_per_child = 0;
  o.cancel_running = 1;
  EXPECT_EQ(MPROC_EINVAL, mproc_thread_executor_create(&ex, &o));
  // A non-object of another kind.
  mproc_obj_t *v = nullptr;
  ASSERT_EQ(MPROC_OK, mproc_obj_int(&v, 1));
  void *wrong = v;
  mproc_future_t *f = nullptr;
  int flag;
  EXPECT_EQ(MPROC_EINVAL, mproc_executor_submit(&f, nullptr, ex_square, v));
  EXPECT_EQ(MPROC_EINVAL,
            mproc_executor_submit(&f, static_cast<mproc_executor_t *>(wrong),
                                  ex_square, v));
  EXPECT_EQ(MPROC_EINVAL, mproc_executor_shutdown(nullptr, 1, 0));
  EXPECT_EQ(MPROC_EINVAL, mproc_executor_terminate_workers(nullptr));
  EXPECT_EQ(MPROC_EINVAL, mproc_executor_kill_workers(nullptr));
  EXPECT_EQ(MPROC_OK, mproc_executor_free(nullptr));
  EXPECT_EQ(MPROC_EINVAL,
            mproc_executor_free(static_cast<mproc_executor_t *>(wrong)));
  mproc_future_t *wf = static_cast<mproc_future_t *>(wrong);
  EXPECT_EQ(MPROC_EINVAL, mproc_future_result(wf, &v, 0));
  EXPECT_EQ(MPROC_EINVAL, mproc_future_cancel(wf, &flag));
  EXPECT_EQ(MPROC_EINVAL, mproc_future_cancelled(wf, &flag));
  EXPECT_EQ(MPROC_EINVAL, mproc_future_running(wf, &flag));
  EXPECT_EQ(MPROC_EINVAL, mproc_future_done(wf, &flag));
  EXPECT_EQ(MPROC_EINVAL, mproc_future_free(wf));
  EXPECT_EQ(MPROC_OK, mproc_future_free(nullptr));
  EXPECT_EQ(MPROC_OK, mproc_as_completed_free(nullptr));
  EXPECT_EQ(MPROC_OK, mproc_executor_map_free(nullptr));
  EXPECT_EQ(MPROC_OK, mproc_thread_free(nullptr));
  EXPECT_EQ(MPROC_EINVAL, mproc_thread_create(nullptr, nullptr, nullptr));
  mproc_obj_free(v);
}

TEST(ThreadExecutor, DefaultsSubmitMapAndPrefix) {
  mproc_executor_options_t o;
  mproc_executor_options_init(&o);
  o.thread_name_prefix = "worker";
  mproc_executor_t *tx = nullptr;
  ASSERT_EQ(MPROC_OK, mproc_thread_executor_create(&tx, &o));
  int n = 0;
  EXPECT_EQ(MPROC_OK, mproc_executor_max_workers(tx, &n));
  EXPECT_GE(n, 5);
  EXPECT_LE(n, 32);
  const char *prefix = nullptr;
  EXPECT_EQ(MPROC_OK, mproc_executor_thread_name_prefix(tx, &prefix));
  EXPECT_STREQ("worker", prefix);
  // Each worker thread is named "worker_<i>" (CPython's "%s_%d").
  std::set<std::string> names;
  for (int i = 0; i < 4 * n; i++) {
    mproc_future_t *nf = Submit(tx, ex_thread_name, 20);
    mproc_obj_t *nv = nullptr;
    ASSERT_EQ(MPROC_OK, mproc_future_result(nf, &nv, 30));
    const char *got = nullptr;
    size_t got_len = 0;
    ASSERT_EQ(MPROC_OK, mproc_obj_get_str(nv, &got, &got_len));
    names.insert(std::string(got, got_len));
    mproc_future_free(nf);
  }
  for (const std::string &name : names) {
    ASSERT_EQ(0u, name.rfind("worker_", 0)) << name;
    int index = std::stoi(name.substr(7));
    EXPECT_GE(index, 0);
    EXPECT_LT(index, n);
  }
  mproc_future_t *f = Submit(tx, ex_pid, 0);
  EXPECT_EQ(Pid(), ResultOf(f));
  mproc_future_free(f);
  mproc_obj_t *items = Range(20);
  mproc_executor_map_t *it = nullptr;
  ASSERT_EQ(MPROC_OK, mproc_executor_map(&it, tx, ex_square, items, 60, 3, 2));
  mproc_obj_t *v = nullptr;
  for (int64_t i = 0; i < 20; i++) {
    ASSERT_EQ(MPROC_OK, mproc_executor_map_next(it, &v));
    EXPECT_EQ(i * i, IntOf(v));
    mproc_obj_free(v);
  }
  mproc_executor_map_free(it);
  mproc_obj_free(items);
  EXPECT_EQ(MPROC_OK, mproc_executor_free(tx));
}

void AddOne(void *arg) { static_cast<std::atomic<int> *>(arg)->fetch_add(1); }

void Sleepy(void *) { mproc_sleep(0.3); }

TEST(Threads, NamesArePerThread) {
  static char seen[MPROC_THREAD_NAME_MAX];
  char mine[MPROC_THREAD_NAME_MAX];
  ASSERT_EQ(MPROC_OK, mproc_thread_set_name("main-of-test"));
  mproc_thread_t *t = nullptr;
  ASSERT_EQ(MPROC_OK, mproc_thread_create(
                          &t,
                          [](void *) {
                            (void)mproc_thread_name(seen, sizeof seen);
                            if (seen[0] == 0) {
                              (void)mproc_thread_set_name("helper");
                              (void)mproc_thread_name(seen, sizeof seen);
                            }
                          },
                          nullptr));
  ASSERT_EQ(MPROC_OK, mproc_thread_free(t));
  EXPECT_STREQ("helper", seen);  // a new thread starts unnamed
  ASSERT_EQ(MPROC_OK, mproc_thread_name(mine, sizeof mine));
  EXPECT_STREQ("main-of-test", mine);
  char tiny[4];
  EXPECT_EQ(MPROC_EINVAL, mproc_thread_name(tiny, sizeof tiny));
  EXPECT_EQ(MPROC_EINVAL, mproc_thread_name(nullptr, 10));
  EXPECT_EQ(MPROC_EINVAL, mproc_thread_set_name(nullptr));
  std::string too_long(MPROC_THREAD_NAME_MAX, 'x');
  EXPECT_EQ(MPROC_EINVAL, mproc_thread_set_name(too_long.c_str()));
  ASSERT_EQ(MPROC_OK, mproc_thread_name(mine, sizeof mine));
  EXPECT_STREQ("main-of-test", mine);  // a refused name changes nothing
  ASSERT_EQ(MPROC_OK, mproc_thread_set_name(""));
}

TEST(Threads, CreateJoinTimeout) {
  std::atomic<int> count{0};
  mproc_thread_t *ts[4];
  for (auto &t : ts) ASSERT_EQ(MPROC_OK, mproc_thread_create(&t, AddOne, &count));
  for (auto *t : ts) EXPECT_EQ(MPROC_OK, mproc_thread_join(t, 10));
  EXPECT_EQ(4, count.load());
  for (auto *t : ts) {
    EXPECT_EQ(MPROC_OK, mproc_thread_join(t, 0));  // again: fine
    EXPECT_EQ(MPROC_OK, mproc_thread_free(t));
  }
  mproc_thread_t *s = nullptr;
  ASSERT_EQ(MPROC_OK, mproc_thread_create(&s, Sleepy, nullptr));
  EXPECT_EQ(MPROC_ETIMEDOUT, mproc_thread_join(s, 0.01));
  EXPECT_EQ(MPROC_OK, mproc_thread_free(s));  // joins
}

}  // namespace
