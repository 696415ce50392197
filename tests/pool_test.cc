// SPDX-License-Identifier: Apache-2.0
// Pool and ThreadPool (docs/pool.md): every call and its errors, crossed
// with every start method; crashes, timeouts, recycling, leaks.

#include <algorithm>
#include <cstdio>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "mproc.h"
#include "platform/testing/testing.h"
#include "tests/test_util.h"

namespace {

using mproc_test::Int;
using mproc_test::IntOf;
using mproc_test::Pid;
using mproc_test::Range;

int g_init_calls = 0;
int64_t g_init_arg = 0;

}  // namespace

MPROC_FUNCTION(square) {
  int64_t x;
  mproc_status_t st = mproc_obj_get_int(in, &x);
  if (st != MPROC_OK) return st;
  return mproc_obj_int(out, x * x);
}

MPROC_FUNCTION(add) {
  const mproc_obj_t *a, *b;
  int64_t x, y;
  if (mproc_obj_list_get(in, 0, &a) != MPROC_OK ||
      mproc_obj_list_get(in, 1, &b) != MPROC_OK ||
      mproc_obj_get_int(a, &x) != MPROC_OK ||
      mproc_obj_get_int(b, &y) != MPROC_OK)
    return mproc_function_error(MPROC_EINVAL, "add: two ints expected");
  return mproc_obj_int(out, x + y);
}

MPROC_FUNCTION(fail_on_3) {
  int64_t x = IntOf(in);
  if (x == 3) return mproc_function_error(MPROC_ETASK, "bad item %d", (int)x);
  return mproc_obj_int(out, x);
}

MPROC_FUNCTION(echo) { return mproc_obj_copy(out, in); }

// Returns its input itself (const cast away): a value inside the task's
// items, which the worker must refuse to keep (and never free).
MPROC_FUNCTION(give_input) {
  *out = const_cast<mproc_obj_t *>(in);
  return MPROC_OK;
}

MPROC_FUNCTION(worker_pid) { return mproc_obj_int(out, Pid()); }

namespace {
size_t Rss();
}  // namespace

MPROC_FUNCTION(worker_rss) { return mproc_obj_int(out, (int64_t)Rss()); }

// Sleeps in milliseconds, returns the argument.
MPROC_FUNCTION(nap) {
  int64_t ms = IntOf(in);
  mproc_sleep((double)ms / 1000.0);
  return mproc_obj_int(out, ms);
}

// -1 segfaults, -2 exits with 3, -3 SIGKILLs itself; others square.
MPROC_FUNCTION(crashy) {
  int64_t x = IntOf(in);
  if (x == -1) {
    volatile int *p = nullptr;
    *p = 1;  // SIGSEGV
  }
  // _Exit, not exit: under LeakSanitizer, exit's leak check in a forked
  // worker counts the memory of the parent's other threads as leaked and
  // changes the exit code (the worker ends with 3 either way otherwise).
  if (x == -2) std::_Exit(3);
  if (x == -3) mp_test_kill_pid(Pid());
  return mproc_obj_int(out, x * x);
}

MPROC_FUNCTION(count_init) {
  g_init_calls++;
  g_init_arg = IntOf(in);
  return MPROC_OK;
}

// [pid, initializer calls, initializer's argument]
MPROC_FUNCTION(init_report) {
  return mproc_obj_build(out, "(lil)", Pid(), g_init_calls, (long)g_init_arg);
}

// The owner of a pool in a child: arg is "method\0path"; writes its
// workers' pids to path, then waits to be killed.
MPROC_TASK(pool_owner) {
  const char *method = static_cast<const char *>(arg);
  const char *path = method + std::strlen(method) + 1;
  mproc_context_t *c;
  if (mproc_get_context(method, &c) != MPROC_OK) return 10;
  mproc_pool_options_t o;
  mproc_pool_options_init(&o);
  o.processes = 2;
  o.context = c;
  mproc_pool_t *pool;
  if (mproc_pool_create_ex(&pool, &o) != MPROC_OK) return 11;
  mproc_obj_t *a, *v;
  mproc_obj_int(&a, 4);
  if (mproc_pool_apply(pool, square, a, &v, 60) != MPROC_OK) return 12;
  long pids[2];
  size_t n = 0;
  if (mproc_pool_worker_pids(pool, pids, 2, &n) != MPROC_OK || n != 2)
    return 13;
  std::string text = std::to_string(pids[0]) + " " + std::to_string(pids[1]);
  if (!mproc_test::WriteFileAtomically(path, text)) return 14;
  mproc_sleep(120);
  return 0;
}

// Touches 96 MiB and keeps it, then gives its pid.
MPROC_FUNCTION(rss_hog) {
  static char *volatile kept = nullptr;  // volatile: the pages stay
  size_t size = (size_t)96 << 20;
  kept = static_cast<char *>(std::malloc(size));
  if (kept == nullptr) return mproc_function_error(MPROC_ENOMEM, "rss_hog");
  std::memset(kept, 1, size);
  return mproc_obj_int(out, Pid());
}

MPROC_KERNEL(square_kernel) {
  const int64_t *a = static_cast<const int64_t *>(in);
  double *b = static_cast<double *>(out);
  for (size_t i = 0; i < count; i++) b[i] = (double)(a[i] * a[i]);
  return MPROC_OK;
}

MPROC_KERNEL(failing_kernel) {
  return mproc_function_error(MPROC_EINVAL, "kernel refused %zu", count);
}

static mproc_status_t unregistered_square(const mproc_obj_t *in,
                                          mproc_obj_t **out) {
  return mproc_obj_int(out, IntOf(in) * IntOf(in));
}

namespace {

mproc_obj_t *ListOf(const std::vector<int64_t> &xs) {
  mproc_obj_t *list = nullptr, *v = nullptr;
  EXPECT_EQ(MPROC_OK, mproc_obj_list(&list));
  for (int64_t x : xs) {
    EXPECT_EQ(MPROC_OK, mproc_obj_int(&v, x));
    EXPECT_EQ(MPROC_OK, mproc_obj_list_append(list, v));
  }
  return list;
}

std::vector<int64_t> Ints(const mproc_obj_t *list) {
  std::vector<int64_t> xs;
  size_t n = 0;
  EXPECT_EQ(MPROC_OK, mproc_obj_len(list, &n));
  for (size_t i = 0; i < n; i++) {
    const mproc_obj_t *v;
    EXPECT_EQ(MPROC_OK, mproc_obj_list_get(list, i, &v));
    xs.push_back(IntOf(v));
  }
  return xs;
}

std::string Repr(const mproc_obj_t *v) {
  char *s = nullptr;
  if (mproc_obj_repr(v, &s) != MPROC_OK) return "<repr failed>";
  std::string r(s);
  free(s);
  return r;
}

size_t OpenFds() {
  long n = mp_test_open_handles();
  return n < 0 ? 0 : (size_t)n;
}

size_t ShmEntries() { return (size_t)mp_test_shm_entries(); }

size_t Children() {
  size_t n = 0;
  EXPECT_EQ(MPROC_OK, mproc_active_children(nullptr, 0, &n));
  return n;
}

// Gone, or a zombie (ended, waiting for a reaper that may be slow or absent
// in a container).
bool PidGone(long pid) { return mp_test_pid_gone(pid) != 0; }

class PoolTest : public ::testing::TestWithParam<std::string> {
 protected:
  mproc_context_t *ctx() { return mproc_test::Context(GetParam().c_str()); }
  mproc_pool_t *Make(int processes, mproc_function_fn init = nullptr,
                     const mproc_obj_t *initargs = nullptr,
                     unsigned long maxtasks = 0) {
    mproc_pool_options_t o;
    EXPECT_EQ(MPROC_OK, mproc_pool_options_init(&o));
    o.processes = processes;
    o.context = ctx();
    o.initializer = init;
    o.initargs = initargs;
    o.maxtasksperchild = maxtasks;
    mproc_pool_t *p = nullptr;
    EXPECT_EQ(MPROC_OK, mproc_pool_create_ex(&p, &o)) << mproc_last_error();
    return p;
  }
  // A Pool(1) whose worker (pid) got a 20 s nap, r, as its only task
  // (lent to it: the direct lane); r is NULL on failure.
  struct Napping {
    mproc_pool_t *pool = nullptr;
    mproc_async_result_t *r = nullptr;
    long pid = 0;
  };
  Napping OneWorkerNapping() {
    Napping n;
    n.pool = Make(1);
    size_t count = 0;
    if (n.pool == nullptr ||
        mproc_pool_worker_pids(n.pool, &n.pid, 1, &count) != MPROC_OK)
      return n;
    mproc_obj_t *a = Int(20000);
    if (mproc_pool_apply_async(&n.r, n.pool, nap, a, nullptr, nullptr,
                               nullptr) != MPROC_OK)
      n.r = nullptr;
    mproc_obj_free(a);
    return n;
  }
};

TEST_P(PoolTest, MapKeepsOrderWithEveryChunksize) {
  mproc_pool_t *pool = Make(2);
  ASSERT_NE(nullptr, pool);
  mproc_obj_t *items = Range(100);
  for (size_t chunk : {MPROC_DEFAULT_CHUNKSIZE, (size_t)1, (size_t)7,
                       (size_t)1000}) {
    mproc_obj_t *out = nullptr;
    ASSERT_EQ(MPROC_OK,
              mproc_pool_map(pool, square, items, chunk, &out, 60))
        << mproc_last_error();
    std::vector<int64_t> got = Ints(out);
    ASSERT_EQ(100u, got.size());
    for (int64_t i = 0; i < 100; i++) EXPECT_EQ(i * i, got[i]) << chunk;
    mproc_obj_free(out);
  }
  // An empty map is an empty list.
  mproc_obj_t *empty = Range(0), *out = nullptr;
  ASSERT_EQ(MPROC_OK, mproc_pool_map(pool, square, empty, MPROC_DEFAULT_CHUNKSIZE,
                                     &out, 10));
  EXPECT_EQ("[]", Repr(out));
  mproc_obj_free(out);
  mproc_obj_free(empty);
  mproc_obj_free(items);
  EXPECT_EQ(MPROC_OK, mproc_pool_free(pool));
}

// Every kind of value travels as an item and back as a result: a worker
// decodes a chunk value by value (scalars into one reused value), and the
// parent decodes a reply straight into the result list.
TEST_P(PoolTest, MapCarriesEveryKindOfValue) {
  mproc_pool_t *pool = Make(2);
  ASSERT_NE(nullptr, pool);
  mproc_obj_t *items = nullptr, *out = nullptr;
  ASSERT_EQ(MPROC_OK,
            mproc_obj_build(&items, "[-bdiLsy#[i[s]]{si}iLd]", 1, 1.5, -7,
                            (long long)INT64_MIN, "h\xc3\xa9", "x\0y",
                            (size_t)3, 1, "k", "d", 2, 300,
                            (long long)INT64_MAX, -0.25))
      << mproc_last_error();
  std::string want = Repr(items);
  for (size_t chunk : {MPROC_DEFAULT_CHUNKSIZE, (size_t)1, (size_t)5}) {
    ASSERT_EQ(MPROC_OK, mproc_pool_map(pool, echo, items, chunk, &out, 60))
        << mproc_last_error();
    EXPECT_EQ(want, Repr(out)) << chunk;
    int eq = 0;
    ASSERT_EQ(MPROC_OK, mproc_obj_equal(items, out, &eq));
    EXPECT_TRUE(eq);
    // The results are the list's own: one is taken out and freed alone.
    const mproc_obj_t *first = nullptr;
    ASSERT_EQ(MPROC_OK, mproc_obj_list_get(out, 0, &first));
    EXPECT_EQ(MPROC_EINVAL, mproc_obj_free(const_cast<mproc_obj_t *>(first)));
    mproc_obj_free(out);
  }
  // A function giving back its input gets a clear error; the worker lives.
  EXPECT_EQ(MPROC_ETASK, mproc_pool_map(pool, give_input, items,
                                        MPROC_DEFAULT_CHUNKSIZE, &out, 60));
  EXPECT_NE(std::string::npos,
            std::string(mproc_last_error()).find("could not be kept"))
      << mproc_last_error();
  ASSERT_EQ(MPROC_OK, mproc_pool_map(pool, echo, items, 2, &out, 60))
      << mproc_last_error();
  EXPECT_EQ(want, Repr(out));
  mproc_obj_free(out);
  mproc_obj_free(items);
  EXPECT_EQ(MPROC_OK, mproc_pool_free(pool));
}

// Many fast tasks, some with messages far larger than a pipe's buffer:
// the result thread keeps a task ready behind each busy worker only for
// small messages, so a large one never blocks it while the worker blocks
// writing a large reply (a deadlock).
TEST_P(PoolTest, FastTasksOfEverySizeFlowWithoutDeadlock) {
  mproc_pool_t *pool = Make(2);
  ASSERT_NE(nullptr, pool);
  for (size_t chunk : {(size_t)1, (size_t)3, (size_t)40000}) {
    SCOPED_TRACE(chunk);
    int64_t n = chunk == 1 ? 5000 : 120000;
    mproc_obj_t *items = Range(n), *out = nullptr;
    ASSERT_EQ(MPROC_OK, mproc_pool_map(pool, square, items, chunk, &out, 120))
        << mproc_last_error();
    size_t len = 0;
    ASSERT_EQ(MPROC_OK, mproc_obj_len(out, &len));
    ASSERT_EQ((size_t)n, len);
    for (int64_t i = 0; i < n; i += 997) {
      const mproc_obj_t *v = nullptr;
      ASSERT_EQ(MPROC_OK, mproc_obj_list_get(out, (size_t)i, &v));
      EXPECT_EQ(i * i, IntOf(v));
    }
    mproc_obj_free(out);
    mproc_obj_free(items);
  }
  EXPECT_EQ(MPROC_OK, mproc_pool_free(pool));
}

TEST_P(PoolTest, StarmapApplyAndAsync) {
  mproc_pool_t *pool = Make(2);
  ASSERT_NE(nullptr, pool);
  mproc_obj_t *pairs = nullptr, *out = nullptr, *args = nullptr;
  ASSERT_EQ(MPROC_OK, mproc_obj_build(&pairs, "[(ii)(ii)(ii)]", 1, 2, 3, 4, 5, 6));
  ASSERT_EQ(MPROC_OK, mproc_pool_starmap(pool, add, pairs,
                                         MPROC_DEFAULT_CHUNKSIZE, &out, 30))
      << mproc_last_error();
  EXPECT_EQ("[3, 7, 11]", Repr(out));
  mproc_obj_free(out);

  mproc_async_result_t *r = nullptr;
  ASSERT_EQ(MPROC_OK, mproc_pool_starmap_async(&r, pool, add, pairs, 1,
                                               nullptr, nullptr, nullptr));
  ASSERT_EQ(MPROC_OK, mproc_async_result_get(r, &out, 30));
  EXPECT_EQ("[3, 7, 11]", Repr(out));
  mproc_obj_free(out);
  // get may be called again.
  ASSERT_EQ(MPROC_OK, mproc_async_result_get(r, &out, 0));
  EXPECT_EQ("[3, 7, 11]", Repr(out));
  mproc_obj_free(out);
  int ready = 0, ok = 0;
  EXPECT_EQ(MPROC_OK, mproc_async_result_ready(r, &ready));
  EXPECT_EQ(1, ready);
  EXPECT_EQ(MPROC_OK, mproc_async_result_successful(r, &ok));
  EXPECT_EQ(1, ok);
  EXPECT_EQ(MPROC_OK, mproc_async_result_free(r));

  ASSERT_EQ(MPROC_OK, mproc_obj_build(&args, "i", 10));
  ASSERT_EQ(MPROC_OK, mproc_pool_apply(pool, square, args, &out, 30));
  EXPECT_EQ(100, IntOf(out));
  mproc_obj_free(out);
  ASSERT_EQ(MPROC_OK, mproc_pool_apply_async(&r, pool, square, args, nullptr,
                                             nullptr, nullptr));
  EXPECT_EQ(MPROC_OK, mproc_async_result_wait(r, 30));
  ASSERT_EQ(MPROC_OK, mproc_async_result_get(r, &out, 30));
  EXPECT_EQ(100, IntOf(out));
  mproc_obj_free(out);
  mproc_async_result_free(r);

  mproc_obj_t *items = Range(5);
  ASSERT_EQ(MPROC_OK, mproc_pool_map_async(&r, pool, square, items,
                                           MPROC_DEFAULT_CHUNKSIZE, nullptr,
                                           nullptr, nullptr));
  ASSERT_EQ(MPROC_OK, mproc_async_result_get(r, &out, 30));
  EXPECT_EQ("[0, 1, 4, 9, 16]", Repr(out));
  mproc_obj_free(out);
  mproc_async_result_free(r);
  mproc_obj_free(items);
  mproc_obj_free(args);
  mproc_obj_free(pairs);
  mproc_pool_free(pool);
}

struct Seen {
  std::mutex mu;
  std::vector<int64_t> values;
  std::vector<std::string> errors;
  std::set<std::thread::id> threads;
};

void OnResult(const mproc_obj_t *v, void *ctx) {
  Seen *s = static_cast<Seen *>(ctx);
  std::lock_guard<std::mutex> g(s->mu);
  mproc_kind_t k;
  mproc_obj_kind(v, &k);
  if (k == MPROC_LIST) {
    for (int64_t x : Ints(v)) s->values.push_back(x);
  } else {
    s->values.push_back(IntOf(v));
  }
  s->threads.insert(std::this_thread::get_id());
}

void OnError(mproc_status_t st, const char *msg, void *ctx) {
  Seen *s = static_cast<Seen *>(ctx);
  std::lock_guard<std::mutex> g(s->mu);
  s->errors.push_back(std::string(mproc_status_name(st)) + ": " + msg);
  s->threads.insert(std::this_thread::get_id());
}

TEST_P(PoolTest, CallbacksRunInOneResultThread) {
  mproc_pool_t *pool = Make(2);
  ASSERT_NE(nullptr, pool);
  Seen seen;
  std::vector<mproc_async_result_t *> rs;
  for (int i = 0; i < 10; i++) {
    mproc_obj_t *a;
    ASSERT_EQ(MPROC_OK, mproc_obj_int(&a, i));
    mproc_async_result_t *r;
    ASSERT_EQ(MPROC_OK, mproc_pool_apply_async(&r, pool, fail_on_3, a,
                                               OnResult, OnError, &seen));
    rs.push_back(r);
    mproc_obj_free(a);
  }
  for (mproc_async_result_t *r : rs) {
    mproc_async_result_wait(r, 30);
  }
  // The callback runs before the result is ready... or just after: wait a bit.
  for (int i = 0; i < 100; i++) {
    {
      std::lock_guard<std::mutex> g(seen.mu);
      if (seen.values.size() + seen.errors.size() == 10) break;
    }
    mproc_sleep(0.01);
  }
  {
    std::lock_guard<std::mutex> g(seen.mu);
    std::vector<int64_t> v = seen.values;
    std::sort(v.begin(), v.end());
    EXPECT_EQ((std::vector<int64_t>{0, 1, 2, 4, 5, 6, 7, 8, 9}), v);
    ASSERT_EQ(1u, seen.errors.size());
    EXPECT_NE(std::string::npos, seen.errors[0].find("bad item 3"))
        << seen.errors[0];
    EXPECT_EQ(1u, seen.threads.size());
    EXPECT_EQ(0u, seen.threads.count(std::this_thread::get_id()));
  }
  int ok = 1;
  EXPECT_EQ(MPROC_OK, mproc_async_result_successful(rs[3], &ok));
  EXPECT_EQ(0, ok);
  for (mproc_async_result_t *r : rs) mproc_async_result_free(r);

  // map_async's callback gets the whole list.
  Seen whole;
  mproc_obj_t *items = Range(4);
  mproc_async_result_t *r;
  ASSERT_EQ(MPROC_OK, mproc_pool_map_async(&r, pool, square, items, 1,
                                           OnResult, OnError, &whole));
  ASSERT_EQ(MPROC_OK, mproc_async_result_wait(r, 30));
  for (int i = 0; i < 100 && whole.values.size() < 4; i++) mproc_sleep(0.01);
  {
    std::lock_guard<std::mutex> g(whole.mu);
    EXPECT_EQ((std::vector<int64_t>{0, 1, 4, 9}), whole.values);
  }
  mproc_async_result_free(r);
  mproc_obj_free(items);
  mproc_pool_free(pool);
}

TEST_P(PoolTest, FunctionErrorReachesGet) {
  mproc_pool_t *pool = Make(2);
  ASSERT_NE(nullptr, pool);
  mproc_obj_t *items = Range(8), *out = nullptr;
  EXPECT_EQ(MPROC_ETASK, mproc_pool_map(pool, fail_on_3, items, 2, &out, 30));
  EXPECT_NE(nullptr, std::strstr(mproc_last_error(), "bad item 3"))
      << mproc_last_error();
  // A failing function's own status does not leak: the caller sees ETASK.
  mproc_obj_t *bad = nullptr;
  ASSERT_EQ(MPROC_OK, mproc_obj_build(&bad, "s", "x"));
  EXPECT_EQ(MPROC_ETASK, mproc_pool_apply(pool, add, bad, &out, 30));
  EXPECT_NE(nullptr, std::strstr(mproc_last_error(), "two ints expected"));
  // The pool goes on.
  ASSERT_EQ(MPROC_OK, mproc_pool_map(pool, square, items, 3, &out, 30));
  EXPECT_EQ("[0, 1, 4, 9, 16, 25, 36, 49]", Repr(out));
  mproc_obj_free(out);
  mproc_obj_free(bad);
  mproc_obj_free(items);
  mproc_pool_free(pool);
}

TEST_P(PoolTest, ImapInOrderAndUnorderedAsAPermutation) {
  mproc_pool_t *pool = Make(3);
  ASSERT_NE(nullptr, pool);
  // Earlier items sleep longer, so completion order differs from input.
  mproc_obj_t *items = ListOf({60, 40, 20, 0, 50, 10, 30, 0});
  mproc_imap_t *it = nullptr;
  ASSERT_EQ(MPROC_OK, mproc_pool_imap(&it, pool, nap, items,
                                      MPROC_DEFAULT_CHUNKSIZE));
  std::vector<int64_t> got;
  mproc_obj_t *v;
  mproc_status_t st;
  while ((st = mproc_imap_next(it, &v, 30)) == MPROC_OK) {
    got.push_back(IntOf(v));
    mproc_obj_free(v);
  }
  EXPECT_EQ(MPROC_EOF, st) << mproc_last_error();
  EXPECT_EQ((std::vector<int64_t>{60, 40, 20, 0, 50, 10, 30, 0}), got);
  EXPECT_EQ(MPROC_EOF, mproc_imap_next(it, &v, 0));
  mproc_imap_free(it);

  ASSERT_EQ(MPROC_OK, mproc_pool_imap_unordered(&it, pool, nap, items, 1));
  got.clear();
  while ((st = mproc_imap_next(it, &v, 30)) == MPROC_OK) {
    got.push_back(IntOf(v));
    mproc_obj_free(v);
  }
  EXPECT_EQ(MPROC_EOF, st);
  std::sort(got.begin(), got.end());
  EXPECT_EQ((std::vector<int64_t>{0, 0, 10, 20, 30, 40, 50, 60}), got);
  mproc_imap_free(it);

  // next(timeout) times out while the item still runs; an error is given
  // in its place and the iterator moves on.
  mproc_obj_t *slow = ListOf({400, 3, 4});
  ASSERT_EQ(MPROC_OK, mproc_pool_imap(&it, pool, nap, slow, 1));
  EXPECT_EQ(MPROC_ETIMEDOUT, mproc_imap_next(it, &v, 0.01));
  ASSERT_EQ(MPROC_OK, mproc_imap_next(it, &v, 30));
  EXPECT_EQ(400, IntOf(v));
  mproc_obj_free(v);
  mproc_imap_free(it);
  ASSERT_EQ(MPROC_OK, mproc_pool_imap(&it, pool, fail_on_3, slow, 1));
  ASSERT_EQ(MPROC_OK, mproc_imap_next(it, &v, 30));
  EXPECT_EQ(400, IntOf(v));
  mproc_obj_free(v);
  EXPECT_EQ(MPROC_ETASK, mproc_imap_next(it, &v, 30));
  EXPECT_NE(nullptr, std::strstr(mproc_last_error(), "bad item 3"));
  ASSERT_EQ(MPROC_OK, mproc_imap_next(it, &v, 30));
  EXPECT_EQ(4, IntOf(v));
  mproc_obj_free(v);
  EXPECT_EQ(MPROC_EOF, mproc_imap_next(it, &v, 30));
  mproc_imap_free(it);
  mproc_obj_free(slow);
  mproc_obj_free(items);
  mproc_pool_free(pool);
}

struct Counter {
  int64_t next = 0, limit = 0;
};

mproc_status_t CountUp(void *ctx, mproc_obj_t **item) {
  Counter *c = static_cast<Counter *>(ctx);
  if (c->next == c->limit) return MPROC_EOF;
  return mproc_obj_int(item, c->next++);
}

size_t Rss() { return mp_test_rss(); }

TEST_P(PoolTest, ImapFromAnIteratorStaysFlat) {
  // 10 M items under the platform's default method, 1 M under the others
  // (and under a sanitizer).
  bool first = GetParam() == mproc_all_start_methods()[0];
#if defined(__SANITIZE_ADDRESS__)
  first = false;
#endif
  const int64_t n = first ? 10000000 : 1000000;
  mproc_pool_t *pool = Make(2);
  ASSERT_NE(nullptr, pool);
  Counter c;
  c.limit = n;
  mproc_imap_t *it;
  ASSERT_EQ(MPROC_OK, mproc_pool_imap_iter(&it, pool, square, CountUp, &c,
                                           10000, 40000, 1));
  size_t rss_early = 0;
  int64_t i = 0;
  mproc_obj_t *v;
  mproc_status_t st;
  while ((st = mproc_imap_next(it, &v, 60)) == MPROC_OK) {
    if (IntOf(v) != i * i) {
      ADD_FAILURE() << "item " << i << " gave " << IntOf(v);
      mproc_obj_free(v);
      break;
    }
    mproc_obj_free(v);
    // Never more than buffersize items pulled ahead of the consumer.
    if (c.next - i > 40000) {
      ADD_FAILURE() << c.next - i << " items in flight";
      break;
    }
    if (++i == n / 10) rss_early = Rss();
  }
  EXPECT_EQ(MPROC_EOF, st) << mproc_last_error();
  EXPECT_EQ(n, i);
  size_t rss_end = Rss();
#if !defined(__SANITIZE_ADDRESS__)
  // (AddressSanitizer keeps freed memory in quarantine, up to 256 MiB.)
  EXPECT_LT(rss_end, rss_early + ((size_t)16 << 20))
      << "resident memory grew from " << rss_early << " to " << rss_end;
#else
  (void)rss_end;
  (void)rss_early;
#endif
  mproc_imap_free(it);

  // Unordered: a permutation; a failing source ends the stream with its
  // error after the items before it.
  c.next = 0;
  c.limit = 1000;
  ASSERT_EQ(MPROC_OK, mproc_pool_imap_iter(&it, pool, square, CountUp, &c, 7,
                                           30, 0));
  std::vector<int64_t> got;
  while (mproc_imap_next(it, &v, 30) == MPROC_OK) {
    got.push_back(IntOf(v));
    mproc_obj_free(v);
  }
  std::sort(got.begin(), got.end());
  ASSERT_EQ(1000u, got.size());
  for (int64_t k = 0; k < 1000; k++) EXPECT_EQ(k * k, got[k]);
  mproc_imap_free(it);
  EXPECT_EQ(MPROC_EINVAL, mproc_pool_imap_iter(&it, pool, square, CountUp, &c,
                                               0, 10, 1));
  EXPECT_EQ(MPROC_EINVAL, mproc_pool_imap_iter(&it, pool, square, nullptr, &c,
                                               1, 10, 1));
  mproc_pool_free(pool);
}

mproc_status_t FailAt5(void *ctx, mproc_obj_t **item) {
  Counter *c = static_cast<Counter *>(ctx);
  if (c->next == 5) return mproc_function_error(MPROC_EBADMSG, "source broke");
  return mproc_obj_int(item, c->next++);
}

TEST_P(PoolTest, ImapIterSourceFailureComesLast) {
  mproc_pool_t *pool = Make(1);
  ASSERT_NE(nullptr, pool);
  Counter c;
  mproc_imap_t *it;
  ASSERT_EQ(MPROC_OK, mproc_pool_imap_iter(&it, pool, square, FailAt5, &c, 2,
                                           4, 1));
  mproc_obj_t *v;
  for (int64_t k = 0; k < 5; k++) {
    ASSERT_EQ(MPROC_OK, mproc_imap_next(it, &v, 30)) << mproc_last_error();
    EXPECT_EQ(k * k, IntOf(v));
    mproc_obj_free(v);
  }
  EXPECT_EQ(MPROC_EBADMSG, mproc_imap_next(it, &v, 30));
  EXPECT_NE(nullptr, std::strstr(mproc_last_error(), "source broke"));
  EXPECT_EQ(MPROC_EOF, mproc_imap_next(it, &v, 30));
  mproc_imap_free(it);
  mproc_pool_free(pool);
}

TEST_P(PoolTest, InitializerRunsOncePerWorker) {
  mproc_obj_t *arg = nullptr;
  ASSERT_EQ(MPROC_OK, mproc_obj_int(&arg, 42));
  mproc_pool_t *pool = Make(2, count_init, arg);
  ASSERT_NE(nullptr, pool);
  mproc_obj_free(arg);  // copied at create
  mproc_obj_t *items = Range(20), *out = nullptr;
  ASSERT_EQ(MPROC_OK, mproc_pool_map(pool, init_report, items, 1, &out, 30))
      << mproc_last_error();
  size_t n = 0;
  mproc_obj_len(out, &n);
  ASSERT_EQ(20u, n);
  std::set<int64_t> pids;
  for (size_t i = 0; i < n; i++) {
    const mproc_obj_t *row, *pid, *calls, *a;
    mproc_obj_list_get(out, i, &row);
    mproc_obj_list_get(row, 0, &pid);
    mproc_obj_list_get(row, 1, &calls);
    mproc_obj_list_get(row, 2, &a);
    pids.insert(IntOf(pid));
    EXPECT_EQ(1, IntOf(calls)) << Repr(row);
    EXPECT_EQ(42, IntOf(a));
  }
  EXPECT_LE(pids.size(), 2u);
  EXPECT_EQ(0, g_init_calls) << "the initializer ran in the parent";
  mproc_obj_free(out);
  mproc_obj_free(items);
  mproc_pool_free(pool);
}

TEST_P(PoolTest, MaxtasksperchildReplacesWorkers) {
  mproc_pool_t *pool = Make(2, nullptr, nullptr, 1);
  ASSERT_NE(nullptr, pool);
  mproc_obj_t *items = Range(8), *out = nullptr;
  ASSERT_EQ(MPROC_OK, mproc_pool_map(pool, worker_pid, items, 1, &out, 60))
      << mproc_last_error();
  std::vector<int64_t> pids = Ints(out);
  ASSERT_EQ(8u, pids.size());
  EXPECT_EQ(8u, std::set<int64_t>(pids.begin(), pids.end()).size())
      << "one task per worker: every task ran in a new one";
  mproc_obj_free(out);
  ASSERT_EQ(MPROC_OK, mproc_pool_map(pool, square, items, 1, &out, 60));
  EXPECT_EQ("[0, 1, 4, 9, 16, 25, 36, 49]", Repr(out));
  mproc_obj_free(out);
  mproc_obj_free(items);
  mproc_pool_free(pool);
}

TEST_P(PoolTest, MaxMemoryPerChildReplacesAGrownWorker) {
  // A worker's own resident memory at the start (a forked one starts with
  // this process's pages, a spawned one fresh), measured in a first pool.
  mproc_pool_t *probe = Make(1);
  ASSERT_NE(nullptr, probe);
  mproc_obj_t *r = nullptr;
  ASSERT_EQ(MPROC_OK, mproc_pool_apply(probe, worker_rss, nullptr, &r, 30));
  size_t base = (size_t)IntOf(r);
  mproc_obj_free(r);
  mproc_pool_free(probe);
  mproc_pool_options_t o;
  mproc_pool_options_init(&o);
  o.processes = 1;
  o.context = ctx();
  o.max_memory_per_child = base + ((size_t)48 << 20);
  mproc_pool_t *pool;
  ASSERT_EQ(MPROC_OK, mproc_pool_create_ex(&pool, &o)) << mproc_last_error();
  mproc_obj_t *v = nullptr;
  ASSERT_EQ(MPROC_OK, mproc_pool_apply(pool, worker_pid, nullptr, &v, 30));
  int64_t first = IntOf(v);
  mproc_obj_free(v);
  // A small task leaves the worker under the limit: it stays.
  ASSERT_EQ(MPROC_OK, mproc_pool_apply(pool, worker_pid, nullptr, &v, 30));
  EXPECT_EQ(first, IntOf(v));
  mproc_obj_free(v);
  ASSERT_EQ(MPROC_OK, mproc_pool_apply(pool, rss_hog, nullptr, &v, 30))
      << mproc_last_error();
  EXPECT_EQ(first, IntOf(v));
  mproc_obj_free(v);
  // The grown worker was replaced; no task failed for it.
  ASSERT_EQ(MPROC_OK, mproc_pool_apply(pool, worker_pid, nullptr, &v, 30))
      << mproc_last_error();
  EXPECT_NE(first, IntOf(v));
  mproc_obj_free(v);
  EXPECT_TRUE(PidGone(first) || [&] {
    for (int i = 0; i < 100 && !PidGone(first); i++) mproc_sleep(0.02);
    return PidGone(first);
  }());
  mproc_pool_free(pool);
}

TEST_P(PoolTest, TypedMapOverSharedMemoryIsExact) {
  const size_t n = 100000;
  mproc_shared_memory_t *in, *out;
  ASSERT_EQ(MPROC_OK, mproc_shared_memory_create(&in, nullptr, n * 8, 0));
  ASSERT_EQ(MPROC_OK, mproc_shared_memory_create(&out, nullptr, n * 8, 0));
  void *ib, *ob;
  ASSERT_EQ(MPROC_OK, mproc_shared_memory_buf(in, &ib));
  ASSERT_EQ(MPROC_OK, mproc_shared_memory_buf(out, &ob));
  int64_t *a = static_cast<int64_t *>(ib);
  double *b = static_cast<double *>(ob);
  for (size_t i = 0; i < n; i++) a[i] = (int64_t)i;
  mproc_pool_t *pool = Make(2);
  ASSERT_NE(nullptr, pool);
  ASSERT_EQ(MPROC_OK, mproc_pool_map_shared(pool, square_kernel, in, 8, out, 8,
                                            n, MPROC_DEFAULT_CHUNKSIZE, 60))
      << mproc_last_error();
  for (size_t i = 0; i < n; i++)
    ASSERT_EQ((double)((int64_t)i * (int64_t)i), b[i]) << i;
  // Odd chunks, part of the segment.
  std::memset(ob, 0, n * 8);
  ASSERT_EQ(MPROC_OK, mproc_pool_map_shared(pool, square_kernel, in, 8, out, 8,
                                            1001, 7, 60));
  EXPECT_EQ(1000.0 * 1000.0, b[1000]);
  EXPECT_EQ(0.0, b[1001]);
  EXPECT_EQ(MPROC_ETASK, mproc_pool_map_shared(pool, failing_kernel, in, 8, out,
                                               8, 10, 5, 60));
  EXPECT_NE(nullptr, std::strstr(mproc_last_error(), "kernel refused 5"))
      << mproc_last_error();
  EXPECT_EQ(MPROC_EINVAL, mproc_pool_map_shared(pool, square_kernel, in, 8, out,
                                                8, n + 1, 1, 60));
  EXPECT_EQ(MPROC_EINVAL, mproc_pool_map_shared(pool, square_kernel, in, 0, out,
                                                8, 1, 1, 60));
  EXPECT_EQ(MPROC_EINVAL, mproc_pool_map_shared(pool, square_kernel, in, 8, out,
                                                8, 1, 0, 60));
  mproc_pool_free(pool);
  mproc_shared_memory_unlink(in);
  mproc_shared_memory_unlink(out);
  mproc_shared_memory_free(in);
  mproc_shared_memory_free(out);
}

TEST_P(PoolTest, CrashFailsOnlyItsTask) {
  mproc_pool_t *pool = Make(2);
  ASSERT_NE(nullptr, pool);
  for (int64_t crash : {-1, -2, -3}) {
    SCOPED_TRACE(crash);
    std::vector<mproc_async_result_t *> rs;
    for (int64_t i = 0; i < 12; i++) {
      mproc_obj_t *a;
      ASSERT_EQ(MPROC_OK, mproc_obj_int(&a, i == 5 ? crash : i));
      mproc_async_result_t *r;
      ASSERT_EQ(MPROC_OK, mproc_pool_apply_async(&r, pool, crashy, a, nullptr,
                                                 nullptr, nullptr));
      mproc_obj_free(a);
      rs.push_back(r);
    }
    for (int64_t i = 0; i < 12; i++) {
      mproc_obj_t *v = nullptr;
      mproc_status_t st = mproc_async_result_get(rs[i], &v, 60);
      if (i == 5) {
        EXPECT_EQ(MPROC_EWORKERDIED, st) << mproc_last_error();
        std::string msg = mproc_last_error();
        EXPECT_NE(std::string::npos, msg.find("pid ")) << msg;
        if (crash == -2) {
#if defined(__SANITIZE_ADDRESS__)
          // LeakSanitizer's check at exit() may turn 3 into 1.
          EXPECT_NE(std::string::npos, msg.find("exited with exit code")) << msg;
#else
          EXPECT_NE(std::string::npos, msg.find("exit code 3")) << msg;
#endif
        }
        if (crash == -3) {
          EXPECT_NE(std::string::npos, msg.find("signal 9")) << msg;
        }
      } else {
        ASSERT_EQ(MPROC_OK, st) << i << ": " << mproc_last_error();
        EXPECT_EQ(i * i, IntOf(v));
        mproc_obj_free(v);
      }
      mproc_async_result_free(rs[i]);
    }
    size_t count = 0;
    long pids[8];
    ASSERT_EQ(MPROC_OK, mproc_pool_worker_pids(pool, pids, 8, &count));
    EXPECT_EQ(2u, count) << "the dead worker was replaced";
  }
  mproc_obj_t *items = Range(6), *out = nullptr;
  ASSERT_EQ(MPROC_OK, mproc_pool_map(pool, square, items, 1, &out, 30));
  EXPECT_EQ("[0, 1, 4, 9, 16, 25]", Repr(out));
  mproc_obj_free(out);
  mproc_obj_free(items);
  mproc_pool_free(pool);
}

TEST_P(PoolTest, SigkillFromOutsideFailsTheHeldTask) {
  mproc_pool_t *pool = Make(1);
  ASSERT_NE(nullptr, pool);
  long pid = 0;
  size_t count = 0;
  ASSERT_EQ(MPROC_OK, mproc_pool_worker_pids(pool, &pid, 1, &count));
  ASSERT_EQ(1u, count);
  mproc_obj_t *a = nullptr, *b = nullptr;
  ASSERT_EQ(MPROC_OK, mproc_obj_int(&a, 20000));
  ASSERT_EQ(MPROC_OK, mproc_obj_int(&b, 7));
  mproc_async_result_t *slow, *after;
  ASSERT_EQ(MPROC_OK, mproc_pool_apply_async(&slow, pool, nap, a, nullptr,
                                             nullptr, nullptr));
  ASSERT_EQ(MPROC_OK, mproc_pool_apply_async(&after, pool, square, b, nullptr,
                                             nullptr, nullptr));
  mproc_sleep(0.3);
  ASSERT_EQ(0, mp_test_kill_pid(pid));
  mproc_obj_t *v = nullptr;
  EXPECT_EQ(MPROC_EWORKERDIED, mproc_async_result_get(slow, &v, 30));
  std::string msg = mproc_last_error();
  EXPECT_NE(std::string::npos, msg.find(std::to_string(pid))) << msg;
  EXPECT_NE(std::string::npos, msg.find("signal 9")) << msg;
  ASSERT_EQ(MPROC_OK, mproc_async_result_get(after, &v, 30));
  EXPECT_EQ(49, IntOf(v));
  mproc_obj_free(v);
  long now = 0;
  ASSERT_EQ(MPROC_OK, mproc_pool_worker_pids(pool, &now, 1, &count));
  EXPECT_NE(pid, now);
  mproc_async_result_free(slow);
  mproc_async_result_free(after);
  mproc_obj_free(a);
  mproc_obj_free(b);
  mproc_pool_free(pool);
}

// The direct lane: an apply_async without callbacks on an idle worker is
// sent by the submitting thread, and get() reads the reply itself. The
// cases below reach that reader in each of its states.
TEST_P(PoolTest, LentTaskWorkerKilledWhileGetReads) {
  Napping n = OneWorkerNapping();
  ASSERT_NE(nullptr, n.r);
  std::thread killer([pid = n.pid] {
    mproc_sleep(0.3);
    mp_test_kill_pid(pid);
  });
  mproc_obj_t *v = nullptr;
  double t0 = mproc_test::Now();
  EXPECT_EQ(MPROC_EWORKERDIED, mproc_async_result_get(n.r, &v, 30));
  std::string msg = mproc_last_error();
  killer.join();
  EXPECT_LT(mproc_test::Now() - t0, 15.0);
  EXPECT_NE(std::string::npos, msg.find(std::to_string(n.pid))) << msg;
  EXPECT_NE(std::string::npos, msg.find("signal 9")) << msg;
  mproc_async_result_free(n.r);
  mproc_obj_t *b = Int(9);
  ASSERT_EQ(MPROC_OK, mproc_pool_apply(n.pool, square, b, &v, 30))
      << mproc_last_error();
  EXPECT_EQ(81, IntOf(v));
  mproc_obj_free(v);
  mproc_obj_free(b);
  mproc_pool_free(n.pool);
}

TEST_P(PoolTest, TerminateWhileGetReadsALentTask) {
  Napping n = OneWorkerNapping();
  ASSERT_NE(nullptr, n.r);
  mproc_status_t got = MPROC_OK;
  std::thread getter([&] {
    mproc_obj_t *v = nullptr;
    got = mproc_async_result_get(n.r, &v, 30);
    mproc_obj_free(v);
  });
  mproc_sleep(0.3);
  double t0 = mproc_test::Now();
  ASSERT_EQ(MPROC_OK, mproc_pool_terminate(n.pool));
  EXPECT_EQ(MPROC_OK, mproc_pool_join(n.pool, 10));
  getter.join();
  EXPECT_LT(mproc_test::Now() - t0, 15.0);
  EXPECT_EQ(MPROC_ESTATE, got);
  EXPECT_TRUE(PidGone(n.pid));
  mproc_async_result_free(n.r);
  mproc_pool_free(n.pool);
}

TEST_P(PoolTest, LentTaskGetTimeoutReadyAndAnotherGet) {
  mproc_pool_t *pool = Make(2);
  ASSERT_NE(nullptr, pool);
  mproc_obj_t *a = Int(300), *v = nullptr;
  mproc_async_result_t *r;
  ASSERT_EQ(MPROC_OK,
            mproc_pool_apply_async(&r, pool, nap, a, nullptr, nullptr, nullptr));
  EXPECT_EQ(MPROC_ETIMEDOUT, mproc_async_result_get(r, &v, 0.05));
  EXPECT_EQ(MPROC_ETIMEDOUT, mproc_async_result_get(r, &v, 0));
  int ready = 1;
  ASSERT_EQ(MPROC_OK, mproc_async_result_ready(r, &ready));
  EXPECT_EQ(0, ready);
  // Two waiters on one result: one reads, both see the value.
  std::atomic<int> seen{0};
  std::thread other([&] {
    mproc_obj_t *w = nullptr;
    if (mproc_async_result_get(r, &w, 30) == MPROC_OK && IntOf(w) == 300)
      seen++;
    mproc_obj_free(w);
  });
  ASSERT_EQ(MPROC_OK, mproc_async_result_get(r, &v, 30)) << mproc_last_error();
  EXPECT_EQ(300, IntOf(v));
  mproc_obj_free(v);
  other.join();
  EXPECT_EQ(1, seen.load());
  mproc_async_result_free(r);
  // ready() alone reads a reply that waits (nobody calls get).
  mproc_obj_t *b = Int(6);
  ASSERT_EQ(MPROC_OK,
            mproc_pool_apply_async(&r, pool, square, b, nullptr, nullptr, nullptr));
  mproc_obj_free(a);
  mproc_obj_free(b);
  double t0 = mproc_test::Now();
  ready = 0;
  while (!ready && mproc_test::Now() - t0 < 30) {
    ASSERT_EQ(MPROC_OK, mproc_async_result_ready(r, &ready));
    if (!ready) mproc_sleep(0.001);
  }
  EXPECT_EQ(1, ready);
  int ok = 0;
  ASSERT_EQ(MPROC_OK, mproc_async_result_successful(r, &ok));
  EXPECT_EQ(1, ok);
  mproc_async_result_free(r);
  mproc_pool_free(pool);
}

TEST_P(PoolTest, UncollectedLentTasksDoNotHoldTheWorkers) {
  mproc_pool_t *pool = Make(2);
  ASSERT_NE(nullptr, pool);
  // Results dropped and never waited for: their workers are still given
  // the tasks that follow, and a close finishes them.
  for (int64_t i = 0; i < 6; i++) {
    mproc_obj_t *a = Int(i);
    mproc_async_result_t *r;
    ASSERT_EQ(MPROC_OK, mproc_pool_apply_async(&r, pool, square, a, nullptr,
                                               nullptr, nullptr));
    mproc_async_result_free(r);
    mproc_obj_free(a);
  }
  mproc_obj_t *b = Int(12), *v = nullptr;
  ASSERT_EQ(MPROC_OK, mproc_pool_apply(pool, square, b, &v, 30))
      << mproc_last_error();
  EXPECT_EQ(144, IntOf(v));
  mproc_obj_free(v);
  mproc_async_result_t *kept;
  ASSERT_EQ(MPROC_OK, mproc_pool_apply_async(&kept, pool, square, b, nullptr,
                                             nullptr, nullptr));
  ASSERT_EQ(MPROC_OK, mproc_pool_close(pool));
  ASSERT_EQ(MPROC_OK, mproc_pool_join(pool, 30));
  int ready = 0;
  ASSERT_EQ(MPROC_OK, mproc_async_result_ready(kept, &ready));
  EXPECT_EQ(1, ready);
  ASSERT_EQ(MPROC_OK, mproc_async_result_get(kept, &v, 0));
  EXPECT_EQ(144, IntOf(v));
  mproc_obj_free(v);
  mproc_async_result_free(kept);
  mproc_obj_free(b);
  mproc_pool_free(pool);
}

TEST_P(PoolTest, ConcurrentAppliesAndMapsShareTheWorkers) {
  // Submitters lending tasks while others queue them (and the result
  // thread adopts and dispatches): every result right, nothing stuck.
  mproc_pool_t *pool = Make(2);
  ASSERT_NE(nullptr, pool);
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int k = 0; k < 4; k++)
    threads.emplace_back([&, k] {
      for (int64_t i = 0; i < 300; i++) {
        mproc_obj_t *a = Int(i + k), *v = nullptr;
        if (i % 3 == 0) {
          mproc_async_result_t *r;
          if (mproc_pool_apply_async(&r, pool, square, a, nullptr, nullptr,
                                     nullptr) != MPROC_OK) {
            wrong++;
          } else {
            int ready = 0;
            while (!ready && mproc_async_result_ready(r, &ready) == MPROC_OK)
              ;
            if (mproc_async_result_get(r, &v, 30) != MPROC_OK ||
                IntOf(v) != (i + k) * (i + k))
              wrong++;
            mproc_async_result_free(r);
          }
        } else if (mproc_pool_apply(pool, square, a, &v, 30) != MPROC_OK ||
                   IntOf(v) != (i + k) * (i + k)) {
          wrong++;
        }
        mproc_obj_free(v);
        mproc_obj_free(a);
      }
    });
  threads.emplace_back([&] {
    mproc_obj_t *items = Range(200);
    for (int round = 0; round < 5; round++) {
      mproc_obj_t *out = nullptr;
      if (mproc_pool_map(pool, square, items, 1, &out, 60) != MPROC_OK)
        wrong++;
      mproc_obj_free(out);
    }
    mproc_obj_free(items);
  });
  for (auto &t : threads) t.join();
  EXPECT_EQ(0, wrong.load());
  mproc_pool_free(pool);
}

TEST_P(PoolTest, TaskTimeoutKillsAndReplacesTheWorker) {
  mproc_pool_t *pool = Make(1);
  ASSERT_NE(nullptr, pool);
  long pid = 0;
  size_t count = 0;
  ASSERT_EQ(MPROC_OK, mproc_pool_worker_pids(pool, &pid, 1, &count));
  ASSERT_EQ(MPROC_OK, mproc_pool_set_task_timeout(pool, 0.3));
  mproc_obj_t *a = nullptr, *b = nullptr, *v = nullptr;
  ASSERT_EQ(MPROC_OK, mproc_obj_int(&a, 30000));
  ASSERT_EQ(MPROC_OK, mproc_obj_int(&b, 5));
  mproc_async_result_t *r;
  ASSERT_EQ(MPROC_OK, mproc_pool_apply_async(&r, pool, nap, a, nullptr, nullptr,
                                             nullptr));
  EXPECT_EQ(MPROC_ETIMEDOUT, mproc_async_result_get(r, &v, 20));
  EXPECT_NE(nullptr, std::strstr(mproc_last_error(), "timeout"))
      << mproc_last_error();
  mproc_async_result_free(r);
  // A task within its timeout completes, on a new worker.
  ASSERT_EQ(MPROC_OK, mproc_pool_apply(pool, square, b, &v, 20))
      << mproc_last_error();
  EXPECT_EQ(25, IntOf(v));
  mproc_obj_free(v);
  long now = 0;
  ASSERT_EQ(MPROC_OK, mproc_pool_worker_pids(pool, &now, 1, &count));
  EXPECT_NE(pid, now);
  for (int i = 0; i < 100 && !PidGone(pid); i++) mproc_sleep(0.02);
  EXPECT_TRUE(PidGone(pid));
  EXPECT_EQ(MPROC_EINVAL, mproc_pool_set_task_timeout(pool, std::nan("")));
  mproc_obj_free(a);
  mproc_obj_free(b);
  mproc_pool_free(pool);
}

// A task that starts a process of its own (it writes the pid into the
// file named by its argument), then naps for good.
MPROC_FUNCTION(start_grandchild_and_nap) {
  const char *path = nullptr;
  mproc_status_t st = mproc_obj_get_str(in, &path, nullptr);
  if (st != MPROC_OK) return st;
  long pid = mp_test_start_sleeper();
  if (FILE *f = std::fopen(path, "w")) {
    std::fprintf(f, "%ld\n", pid);
    std::fclose(f);
  }
  if (pid > 0) mproc_sleep(60);
  return mproc_obj_int(out, 0);
}

TEST_P(PoolTest, TimeoutKillsTheProcessesATaskStarted) {
  mproc_pool_t *pool = Make(1);
  ASSERT_NE(nullptr, pool);
  std::string path = ::testing::TempDir() + "grandchild." +
                     std::to_string(Pid()) + "." + GetParam();
  std::remove(path.c_str());
  mproc_obj_t *arg = nullptr, *v = nullptr;
  ASSERT_EQ(MPROC_OK, mproc_obj_str(&arg, path.c_str()));
  mproc_async_options_t o;
  mproc_async_options_init(&o);
  o.task_timeout = 1.0;
  mproc_async_result_t *r = nullptr;
  ASSERT_EQ(MPROC_OK, mproc_pool_apply_async_opts(
                          &r, pool, start_grandchild_and_nap, arg, &o));
  mproc_status_t st = mproc_async_result_get(r, &v, 30);
  mproc_async_result_free(r);
  long grandchild = std::atol(mproc_test::ReadFile(path).c_str());
  if (grandchild == -1) {
    mproc_obj_free(v);
    mproc_obj_free(arg);
    mproc_pool_free(pool);
    std::remove(path.c_str());
    GTEST_SKIP() << "this OS has no process groups (mp_process_lead_group): "
                    "a timed-out task's own children are not reached";
  }
  EXPECT_EQ(MPROC_ETIMEDOUT, st);
  ASSERT_GT(grandchild, 1) << "the task wrote no pid";
  for (int i = 0; i < 250 && !PidGone(grandchild); i++) mproc_sleep(0.02);
  EXPECT_TRUE(PidGone(grandchild)) << "pid " << grandchild << " still runs";
  if (!PidGone(grandchild)) mp_test_kill_pid(grandchild);
  std::remove(path.c_str());
  mproc_obj_free(arg);
  mproc_pool_free(pool);
}

TEST_P(PoolTest, PerCallTaskTimeout) {
  mproc_pool_t *pool = Make(2);
  ASSERT_NE(nullptr, pool);
  mproc_obj_t *slow = nullptr, *quick = nullptr, *v = nullptr;
  ASSERT_EQ(MPROC_OK, mproc_obj_int(&slow, 30000));
  ASSERT_EQ(MPROC_OK, mproc_obj_int(&quick, 400));
  mproc_async_options_t o;
  ASSERT_EQ(MPROC_OK, mproc_async_options_init(&o));
  EXPECT_EQ(MPROC_POOL_TIMEOUT, o.task_timeout);
  o.task_timeout = 0.3;
  // This call's task times out; another call at the same time, with the
  // pool's default (none), runs past 0.3 s and completes.
  mproc_async_result_t *limited = nullptr, *free_running = nullptr;
  double t0 = mproc_test::Now();
  ASSERT_EQ(MPROC_OK,
            mproc_pool_apply_async_opts(&limited, pool, nap, slow, &o));
  ASSERT_EQ(MPROC_OK, mproc_pool_apply_async(&free_running, pool, nap, quick,
                                             nullptr, nullptr, nullptr));
  EXPECT_EQ(MPROC_ETIMEDOUT, mproc_async_result_get(limited, &v, 20));
  EXPECT_LT(mproc_test::Now() - t0, 10.0);
  ASSERT_EQ(MPROC_OK, mproc_async_result_get(free_running, &v, 20))
      << mproc_last_error();
  EXPECT_EQ(400, IntOf(v));
  mproc_obj_free(v);
  mproc_async_result_free(limited);
  mproc_async_result_free(free_running);
  // MPROC_FOREVER overrides a pool-wide timeout for one map.
  ASSERT_EQ(MPROC_OK, mproc_pool_set_task_timeout(pool, 0.2));
  o.task_timeout = MPROC_FOREVER;
  mproc_obj_t *items = ListOf({400, 1});
  mproc_async_result_t *m = nullptr;
  ASSERT_EQ(MPROC_OK, mproc_pool_map_async_opts(&m, pool, nap, items, 1, &o));
  ASSERT_EQ(MPROC_OK, mproc_async_result_get(m, &v, 20)) << mproc_last_error();
  mproc_obj_free(v);
  mproc_async_result_free(m);
  // ... and the default follows the pool's.
  o.task_timeout = MPROC_POOL_TIMEOUT;
  ASSERT_EQ(MPROC_OK, mproc_pool_map_async_opts(&m, pool, nap, items, 1, &o));
  EXPECT_EQ(MPROC_ETIMEDOUT, mproc_async_result_get(m, &v, 20));
  mproc_async_result_free(m);
  // Bad options lose nothing and say why.
  for (double bad : {std::nan(""), -5.0}) {
    o.task_timeout = bad;
    EXPECT_EQ(MPROC_EINVAL,
              mproc_pool_apply_async_opts(&m, pool, nap, quick, &o));
    EXPECT_NE(nullptr, std::strstr(mproc_last_error(), "task_timeout"));
    EXPECT_EQ(MPROC_EINVAL,
              mproc_pool_starmap_async_opts(&m, pool, nap, items, 1, &o));
  }
  EXPECT_EQ(MPROC_EINVAL,
            mproc_pool_apply_async_opts(&m, pool, nap, quick, nullptr));
  EXPECT_EQ(MPROC_EINVAL, mproc_async_options_init(nullptr));
  mproc_obj_free(items);
  mproc_obj_free(slow);
  mproc_obj_free(quick);
  mproc_pool_free(pool);
}

TEST_P(PoolTest, TerminateWhileTasksRun) {
  mproc_pool_t *pool = Make(2);
  ASSERT_NE(nullptr, pool);
  long pids[2];
  size_t count = 0;
  ASSERT_EQ(MPROC_OK, mproc_pool_worker_pids(pool, pids, 2, &count));
  mproc_obj_t *items = ListOf({20000, 20000, 20000, 20000});
  mproc_async_result_t *r;
  ASSERT_EQ(MPROC_OK, mproc_pool_map_async(&r, pool, nap, items, 1, nullptr,
                                           nullptr, nullptr));
  mproc_sleep(0.2);
  double t0 = mproc_test::Now();
  ASSERT_EQ(MPROC_OK, mproc_pool_terminate(pool));
  EXPECT_EQ(MPROC_OK, mproc_pool_join(pool, 10));
  mproc_obj_t *v = nullptr;
  EXPECT_EQ(MPROC_ESTATE, mproc_async_result_get(r, &v, 10));
  EXPECT_LT(mproc_test::Now() - t0, 15.0);
  for (size_t i = 0; i < count; i++) EXPECT_TRUE(PidGone(pids[i]));
  EXPECT_EQ(MPROC_ESTATE, mproc_pool_map(pool, square, items, 1, &v, 1));
  EXPECT_EQ(MPROC_ESTATE, mproc_pool_worker_pids(pool, pids, 2, &count));
  EXPECT_EQ(MPROC_OK, mproc_pool_terminate(pool));  // idempotent
  mproc_async_result_free(r);  // outlives nothing: freed after the pool too
  mproc_obj_free(items);
  mproc_pool_free(pool);
}

TEST_P(PoolTest, CloseThenJoinFinishesQueuedWork) {
  size_t children = Children();  // the forkserver's server, if started
  mproc_pool_t *pool = Make(2);
  ASSERT_NE(nullptr, pool);
  mproc_obj_t *items = Range(10), *v = nullptr;
  mproc_async_result_t *r;
  ASSERT_EQ(MPROC_OK, mproc_pool_map_async(&r, pool, square, items, 1, nullptr,
                                           nullptr, nullptr));
  EXPECT_EQ(MPROC_ESTATE, mproc_pool_join(pool, 1));  // before close
  ASSERT_EQ(MPROC_OK, mproc_pool_close(pool));
  EXPECT_EQ(MPROC_ESTATE, mproc_pool_map(pool, square, items, 1, &v, 1));
  EXPECT_NE(nullptr, std::strstr(mproc_last_error(), "closed"));
  EXPECT_EQ(MPROC_ESTATE, mproc_pool_apply(pool, square, nullptr, &v, 1));
  ASSERT_EQ(MPROC_OK, mproc_pool_join(pool, 30)) << mproc_last_error();
  ASSERT_EQ(MPROC_OK, mproc_async_result_get(r, &v, 0));
  EXPECT_EQ("[0, 1, 4, 9, 16, 25, 36, 49, 64, 81]", Repr(v));
  mproc_obj_free(v);
  EXPECT_EQ(children, Children());
  mproc_async_result_free(r);
  mproc_obj_free(items);
  mproc_pool_free(pool);
}

TEST_P(PoolTest, BadUseIsAClearError) {
  mproc_pool_t *pool = nullptr;
  mproc_pool_options_t o;
  mproc_pool_options_init(&o);
  o.context = ctx();
  o.processes = 0;
  EXPECT_EQ(MPROC_EINVAL, mproc_pool_create_ex(&pool, &o));
  o.processes = -5;
  EXPECT_EQ(MPROC_EINVAL, mproc_pool_create_ex(&pool, &o));
  EXPECT_EQ(MPROC_EINVAL, mproc_pool_create_ex(nullptr, &o));
  EXPECT_EQ(MPROC_EINVAL, mproc_pool_create_ex(&pool, nullptr));
  EXPECT_EQ(MPROC_EINVAL, mproc_pool_options_init(nullptr));
  pool = Make(1);
  ASSERT_NE(nullptr, pool);
  mproc_obj_t *items = Range(3), *v = nullptr, *notlist = nullptr;
  mproc_obj_int(&notlist, 3);
  EXPECT_EQ(MPROC_EINVAL, mproc_pool_map(pool, square, items, 0, &v, 1));
  EXPECT_NE(nullptr, std::strstr(mproc_last_error(), "chunksize"));
  EXPECT_EQ(MPROC_EINVAL, mproc_pool_map(pool, square, notlist, 1, &v, 1));
  EXPECT_EQ(MPROC_EINVAL, mproc_pool_starmap(pool, add, items, 1, &v, 1));
  EXPECT_EQ(MPROC_EINVAL, mproc_pool_map(pool, nullptr, items, 1, &v, 1));
  EXPECT_EQ(MPROC_EINVAL, mproc_pool_map(pool, square, items, 1, nullptr, 1));
  EXPECT_EQ(MPROC_EINVAL,
            mproc_pool_map(pool, square, items, 1, &v, std::nan("")));
  // Not a pool: another kind of object.
  mproc_event_t *ev;
  ASSERT_EQ(MPROC_OK, mproc_event_create(&ev));
  EXPECT_EQ(MPROC_EINVAL,
            mproc_pool_map(reinterpret_cast<mproc_pool_t *>(ev), square, items,
                           1, &v, 1));
  EXPECT_NE(nullptr, std::strstr(mproc_last_error(), "expected a pool"));
  EXPECT_EQ(MPROC_EINVAL,
            mproc_async_result_free(reinterpret_cast<mproc_async_result_t *>(ev)));
  mproc_event_free(ev);
  // A result not ready yet.
  mproc_obj_t *a;
  mproc_obj_int(&a, 1000);
  mproc_async_result_t *r;
  ASSERT_EQ(MPROC_OK,
            mproc_pool_apply_async(&r, pool, nap, a, nullptr, nullptr, nullptr));
  int ok;
  EXPECT_EQ(MPROC_ESTATE, mproc_async_result_successful(r, &ok));
  EXPECT_EQ(MPROC_ETIMEDOUT, mproc_async_result_get(r, &v, 0.01));
  EXPECT_EQ(MPROC_ETIMEDOUT, mproc_async_result_wait(r, 0));
  mproc_async_result_free(r);
  // Unregistered functions: any under fork, none under spawn/forkserver.
  mproc_status_t st = mproc_pool_map(pool, unregistered_square, items, 1, &v, 30);
  if (GetParam() == "fork") {
    ASSERT_EQ(MPROC_OK, st) << mproc_last_error();
    EXPECT_EQ("[0, 1, 4]", Repr(v));
    mproc_obj_free(v);
  } else {
    EXPECT_EQ(MPROC_ENOTREGISTERED, st);
  }
  EXPECT_EQ(MPROC_OK, mproc_pool_free(nullptr));
  EXPECT_EQ(MPROC_OK, mproc_async_result_free(nullptr));
  EXPECT_EQ(MPROC_OK, mproc_imap_free(nullptr));
  int n = 0;
  EXPECT_EQ(MPROC_OK, mproc_pool_processes(pool, &n));
  EXPECT_EQ(1, n);
  mproc_obj_free(a);
  mproc_obj_free(notlist);
  mproc_obj_free(items);
  mproc_pool_free(pool);
}

// More workers than one WaitForMultipleObjects can watch (64): CPython caps
// a Windows pool at 61; mproc's waits have no such cap, on every OS.
TEST_P(PoolTest, AHundredWorkersAllServe) {
  mproc_pool_t *pool = Make(100);
  ASSERT_NE(nullptr, pool);
  long pids[100];
  size_t n = 0;
  ASSERT_EQ(MPROC_OK, mproc_pool_worker_pids(pool, pids, 100, &n));
  EXPECT_EQ(100u, n);
  mproc_obj_t *items = Range(1000), *out = nullptr;
  ASSERT_EQ(MPROC_OK, mproc_pool_map(pool, square, items, 1, &out, 120))
      << mproc_last_error();
  std::vector<int64_t> got = Ints(out);
  ASSERT_EQ(1000u, got.size());
  for (int64_t i = 0; i < 1000; i++) EXPECT_EQ(i * i, got[i]);
  mproc_obj_free(out);
  mproc_obj_free(items);
  mproc_pool_free(pool);
}

TEST_P(PoolTest, DefaultProcessesIsTheUsableCpuCount) {
  mproc_pool_t *pool = Make(MPROC_POOL_DEFAULT_PROCESSES);
  ASSERT_NE(nullptr, pool);
  int n = 0;
  EXPECT_EQ(MPROC_OK, mproc_pool_processes(pool, &n));
  EXPECT_EQ(mp_test_usable_cpus(), n);
  mproc_pool_free(pool);
}

TEST_P(PoolTest, ManyPoolsLeaveNothingBehind) {
  // 1000 pools under fork; fewer where each worker is a new program.
  int rounds = GetParam() == "fork" ? 1000 : 100;
  // A first pool starts the forkserver's server (kept for later pools).
  mproc_pool_t *first = Make(1);
  ASSERT_NE(nullptr, first);
  mproc_pool_free(first);
  size_t fds = OpenFds(), shm = ShmEntries(), children = Children();
  mproc_obj_t *a;
  mproc_obj_int(&a, 3);
  for (int i = 0; i < rounds; i++) {
    mproc_pool_t *pool = Make(1);
    ASSERT_NE(nullptr, pool);
    if (i % 50 == 0) {
      mproc_obj_t *v = nullptr;
      ASSERT_EQ(MPROC_OK, mproc_pool_apply(pool, square, a, &v, 30));
      EXPECT_EQ(9, IntOf(v));
      mproc_obj_free(v);
    }
    ASSERT_EQ(MPROC_OK, mproc_pool_free(pool));
  }
  mproc_obj_free(a);
  EXPECT_EQ(fds, OpenFds());
  EXPECT_EQ(shm, ShmEntries());
  EXPECT_EQ(children, Children());
}

TEST_P(PoolTest, WorkersDieWithAKilledOwner) {
  std::string path = mproc_test::TempPath("owner_pids");
  std::string arg = GetParam() + std::string(1, '\0') + path;
  mproc_process_t *owner;
  ASSERT_EQ(MPROC_OK, mproc_process_create(&owner, ctx(), pool_owner,
                                           arg.c_str(), arg.size() + 1));
  ASSERT_EQ(MPROC_OK, mproc_process_start(owner)) << mproc_last_error();
  ASSERT_TRUE(mproc_test::WaitForFile(path, 60));
  long a = 0, b = 0;
  ASSERT_EQ(2, std::sscanf(mproc_test::ReadFile(path).c_str(), "%ld %ld", &a, &b));
  EXPECT_FALSE(PidGone(a));
  EXPECT_FALSE(PidGone(b));
  ASSERT_EQ(MPROC_OK, mproc_process_kill(owner));
  ASSERT_EQ(MPROC_OK, mproc_process_join(owner, 30));
  // Reaped by init once the die-with-parent signal ended them.
  for (int i = 0; i < 500 && !(PidGone(a) && PidGone(b)); i++) mproc_sleep(0.02);
  EXPECT_TRUE(PidGone(a)) << a;
  EXPECT_TRUE(PidGone(b)) << b;
  mproc_process_free(owner);
}

MPROC_INSTANTIATE_FOR_START_METHODS(PoolTest);

// ---- not crossed: the builder, ThreadPool --------------------------------

TEST(ObjBuild, BuildsLikePyBuildValue) {
  mproc_obj_t *v = nullptr;
  ASSERT_EQ(MPROC_OK, mproc_obj_build(&v, "(ii)", 1, 2));
  EXPECT_EQ("[1, 2]", Repr(v));
  mproc_obj_free(v);
  ASSERT_EQ(MPROC_OK, mproc_obj_build(&v, "[is]", 3, "x"));
  EXPECT_EQ("[3, 'x']", Repr(v));
  mproc_obj_free(v);
  ASSERT_EQ(MPROC_OK, mproc_obj_build(&v, "{s:i, i:[d b -]}", "k", 1, 2, 1.5, 1));
  EXPECT_EQ("{'k': 1, 2: [1.5, True, None]}", Repr(v));
  mproc_obj_free(v);
  ASSERT_EQ(MPROC_OK, mproc_obj_build(&v, "ii", 4, 5));
  EXPECT_EQ("[4, 5]", Repr(v));
  mproc_obj_free(v);
  ASSERT_EQ(MPROC_OK, mproc_obj_build(&v, ""));
  EXPECT_EQ("None", Repr(v));
  mproc_obj_free(v);
  ASSERT_EQ(MPROC_OK, mproc_obj_build(&v, "lLn y#", 7L, 8LL, (size_t)9, "ab",
                                      (size_t)2));
  EXPECT_EQ("[7, 8, 9, b'ab']", Repr(v));
  mproc_obj_free(v);
  ASSERT_EQ(MPROC_OK, mproc_obj_build(&v, "s", (const char *)nullptr));
  EXPECT_EQ("None", Repr(v));
  mproc_obj_free(v);
  mproc_obj_t *inner;
  ASSERT_EQ(MPROC_OK, mproc_obj_build(&inner, "(i)", 1));
  ASSERT_EQ(MPROC_OK, mproc_obj_build(&v, "[N i]", inner, 2));
  EXPECT_EQ("[[1], 2]", Repr(v));
  mproc_obj_free(v);  // inner went with it

  // Errors: the N value given stays the caller's.
  ASSERT_EQ(MPROC_OK, mproc_obj_build(&inner, "(i)", 1));
  EXPECT_EQ(MPROC_EINVAL, mproc_obj_build(&v, "[N q]", inner));
  EXPECT_EQ("[1]", Repr(inner));
  EXPECT_EQ(MPROC_OK, mproc_obj_free(inner));
  EXPECT_EQ(MPROC_EINVAL, mproc_obj_build(&v, "(ii", 1, 2));
  EXPECT_EQ(MPROC_EINVAL, mproc_obj_build(&v, "{i}", 1));
  EXPECT_EQ(MPROC_EINVAL, mproc_obj_build(&v, "{d:i}", 1.0, 1));
  EXPECT_EQ(MPROC_EINVAL, mproc_obj_build(&v, "y", "x"));
  EXPECT_EQ(MPROC_EINVAL, mproc_obj_build(nullptr, "i", 1));
  EXPECT_EQ(MPROC_EINVAL, mproc_obj_build(&v, nullptr));

  mproc_obj_t *c = nullptr;
  ASSERT_EQ(MPROC_OK, mproc_obj_build(&v, "{s:[i(s)]}", "a", 1, "b"));
  ASSERT_EQ(MPROC_OK, mproc_obj_copy(&c, v));
  int eq = 0;
  EXPECT_EQ(MPROC_OK, mproc_obj_equal(v, c, &eq));
  EXPECT_EQ(1, eq);
  mproc_obj_free(v);
  EXPECT_EQ("{'a': [1, ['b']]}", Repr(c));
  mproc_obj_free(c);
}

static mproc_status_t registered_late(const mproc_obj_t *, mproc_obj_t **) {
  return MPROC_OK;
}

TEST(RegisterFunction, NamesBelongToOneFunction) {
  EXPECT_EQ(MPROC_OK, mproc_register_function("pool_test_sq", registered_late));
  EXPECT_EQ(MPROC_OK, mproc_register_function("pool_test_sq", registered_late));
  EXPECT_EQ(MPROC_ESTATE, mproc_register_function("pool_test_sq", square));
  EXPECT_EQ(MPROC_EINVAL, mproc_register_function("", square));
  EXPECT_EQ(MPROC_EINVAL, mproc_register_function(nullptr, square));
  EXPECT_EQ(MPROC_EINVAL, mproc_register_function("x", nullptr));
  EXPECT_EQ(MPROC_EINVAL, mproc_register_function("a\x1f" "b", square));
}

TEST(ThreadPool, SameCallsOverThreads) {
  mproc_pool_t *pool = nullptr;
  ASSERT_EQ(MPROC_OK, mproc_thread_pool_create(&pool, 3));
  mproc_obj_t *items = Range(50), *out = nullptr;
  ASSERT_EQ(MPROC_OK, mproc_pool_map(pool, square, items, MPROC_DEFAULT_CHUNKSIZE,
                                     &out, 30));
  std::vector<int64_t> got = Ints(out);
  ASSERT_EQ(50u, got.size());
  for (int64_t i = 0; i < 50; i++) EXPECT_EQ(i * i, got[i]);
  mproc_obj_free(out);
  // Threads of this process; any function, registered or not.
  mproc_obj_t *three = Range(3);
  ASSERT_EQ(MPROC_OK, mproc_pool_map(pool, worker_pid, three, 1, &out, 30));
  for (int64_t pid : Ints(out)) EXPECT_EQ(Pid(), pid);
  mproc_obj_free(out);
  ASSERT_EQ(MPROC_OK, mproc_pool_map(pool, unregistered_square, three, 1, &out, 30));
  EXPECT_EQ("[0, 1, 4]", Repr(out));
  mproc_obj_free(out);
  EXPECT_EQ(MPROC_ETASK, mproc_pool_map(pool, fail_on_3, items, 4, &out, 30));
  EXPECT_NE(nullptr, std::strstr(mproc_last_error(), "bad item 3"));
  mproc_imap_t *it;
  ASSERT_EQ(MPROC_OK, mproc_pool_imap_unordered(&it, pool, square, items, 1));
  std::vector<int64_t> un;
  mproc_obj_t *v;
  while (mproc_imap_next(it, &v, 30) == MPROC_OK) {
    un.push_back(IntOf(v));
    mproc_obj_free(v);
  }
  std::sort(un.begin(), un.end());
  EXPECT_EQ(got, un);
  mproc_imap_free(it);
  Seen seen;
  mproc_async_result_t *r;
  mproc_obj_t *a;
  mproc_obj_int(&a, 6);
  ASSERT_EQ(MPROC_OK,
            mproc_pool_apply_async(&r, pool, square, a, OnResult, OnError, &seen));
  ASSERT_EQ(MPROC_OK, mproc_async_result_get(r, &v, 30));
  EXPECT_EQ(36, IntOf(v));
  mproc_obj_free(v);
  mproc_async_result_free(r);
  EXPECT_EQ(MPROC_ENOTSUP, mproc_pool_set_task_timeout(pool, 1.0));
  mproc_async_options_t o;
  mproc_async_options_init(&o);
  o.task_timeout = 1.0;
  mproc_async_result_t *never = nullptr;
  EXPECT_EQ(MPROC_ENOTSUP,
            mproc_pool_apply_async_opts(&never, pool, square, nullptr, &o));
  ASSERT_EQ(MPROC_OK, mproc_pool_close(pool));
  ASSERT_EQ(MPROC_OK, mproc_pool_join(pool, 30));
  mproc_obj_free(a);
  mproc_obj_free(three);
  mproc_obj_free(items);
  mproc_pool_free(pool);
}

TEST(ThreadPool, InitializerOncePerThread) {
  static std::atomic<int> calls{0};
  calls = 0;
  struct F {
    static mproc_status_t init(const mproc_obj_t *, mproc_obj_t **) {
      calls++;
      return MPROC_OK;
    }
  };
  mproc_pool_options_t o;
  mproc_pool_options_init(&o);
  o.processes = 4;
  o.threads = 1;
  o.initializer = F::init;
  mproc_pool_t *pool;
  ASSERT_EQ(MPROC_OK, mproc_pool_create_ex(&pool, &o));
  mproc_obj_t *items = Range(20), *out;
  ASSERT_EQ(MPROC_OK, mproc_pool_map(pool, square, items, 1, &out, 30));
  mproc_obj_free(out);
  mproc_pool_close(pool);
  ASSERT_EQ(MPROC_OK, mproc_pool_join(pool, 30));
  EXPECT_EQ(4, calls.load());
  mproc_obj_free(items);
  mproc_pool_free(pool);
}

}  // namespace
