// SPDX-License-Identifier: Apache-2.0
// Managers and proxies (docs/manager.md), under every start method: the
// server is started with the method under test and so are the children
// that use its proxies.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "mproc.h"
#include "tests/test_util.h"

using mproc_test::Child;
using mproc_test::StartMethodTest;

namespace {

std::string Repr(const mproc_obj_t *v) {
  char *s = nullptr;
  if (mproc_obj_repr(v, &s) != MPROC_OK) return "<repr failed>";
  std::string r = s;
  free(s);
  return r;
}

// The repr of a call's result, or "MPROC_ESTATUS detail" when it failed.
std::string Result(mproc_status_t st, mproc_obj_t *v) {
  if (st != MPROC_OK)
    return std::string(mproc_status_name(st)) + " " + mproc_last_error();
  std::string r = Repr(v);
  mproc_obj_free(v);
  return r;
}

#define CALL(p, method, ...)                                        \
  ([&] {                                                            \
    mproc_obj_t *v_ = nullptr;                                      \
    mproc_status_t st_ = mproc_proxy_callf((p), &v_, (method), __VA_ARGS__); \
    return Result(st_, v_);                                         \
  }())

bool Has(const std::string &text, const std::string &part) {
  return text.find(part) != std::string::npos;
}

// ---- a registered type: a counter with a method that returns a proxy --

struct Counter {
  int64_t n;
};

mproc_status_t counter_create(const mproc_obj_t *args, void **self) {
  int64_t start = 0;
  size_t len = 0;
  if (args && mproc_obj_len(args, &len) == MPROC_OK && len > 0) {
    const mproc_obj_t *a;
    mproc_obj_list_get(args, 0, &a);
    if (mproc_obj_get_int(a, &start) != MPROC_OK)
      return mproc_function_error(MPROC_EINVAL, "Counter wants an int");
  }
  Counter *c = static_cast<Counter *>(malloc(sizeof(Counter)));
  if (!c) return MPROC_ENOMEM;
  c->n = start;
  *self = c;
  return MPROC_OK;
}

void counter_destroy(void *self) { free(self); }

mproc_status_t counter_add(void *self, const mproc_obj_t *args,
                           mproc_obj_t **out) {
  const mproc_obj_t *a;
  int64_t by;
  if (mproc_obj_list_get(args, 0, &a) != MPROC_OK ||
      mproc_obj_get_int(a, &by) != MPROC_OK)
    return mproc_function_error(MPROC_EINVAL, "add wants an int");
  if (by < 0) return mproc_function_error(MPROC_ETASK, "negative step %lld",
                                          (long long)by);
  static_cast<Counter *>(self)->n += by;
  return mproc_obj_int(out, static_cast<Counter *>(self)->n);
}

// method_to_typeid: a dict {"n": value} served as a managed dict.
mproc_status_t counter_snapshot(void *self, const mproc_obj_t *,
                                mproc_obj_t **out) {
  return mproc_obj_build(out, "{s:L}", "n",
                         (long long)static_cast<Counter *>(self)->n);
}

const mproc_manager_method_t counter_methods[] = {
    {"add", counter_add, nullptr},
    {"snapshot", counter_snapshot, "dict"},
    {nullptr, nullptr, nullptr}};

const mproc_manager_type_t counter_type = {"Counter", counter_create,
                                           counter_destroy, counter_methods,
                                           0};

// A type whose one method ends the server process: the manager dies in
// the middle of other clients' calls.
mproc_status_t crasher_create(const mproc_obj_t *, void **self) {
  *self = nullptr;
  return MPROC_OK;
}

mproc_status_t crasher_die(void *, const mproc_obj_t *, mproc_obj_t **) {
  std::_Exit(9);
}

const mproc_manager_method_t crasher_methods[] = {
    {"die", crasher_die, nullptr}, {nullptr, nullptr, nullptr}};

const mproc_manager_type_t crasher_type = {"Crasher", crasher_create,
                                           nullptr, crasher_methods, 1};

// Registered at load time: a server started by spawn or forkserver is a
// fresh copy of this program and must know the type too.
__attribute__((constructor)) void register_types() {
  mproc_manager_register(&counter_type);
  mproc_manager_register(&crasher_type);
}

// The server's initializer: creates the file named by its argument.
MPROC_TASK(initializer_task) {
  std::string path(static_cast<const char *>(arg), arg_len);
  return mproc_test::WriteFileAtomically(path.c_str(), "init") ? 0 : 1;
}

// ---- child tasks (they report through their exit code) --------------

// d[key] = key * 10 for key in [base, base + count): arg {base, count}.
struct Range {
  int base, count;
};

MPROC_TASK(fill_task) {
  Range r;
  if (arg_len != sizeof r) return 90;
  memcpy(&r, arg, sizeof r);
  mproc_proxy_t *d;
  if (mproc_attached_proxy(0, &d) != MPROC_OK) return 91;
  for (int i = r.base; i < r.base + r.count; i++)
    if (mproc_proxy_callf(d, nullptr, "__setitem__", "ii", i, i * 10) !=
        MPROC_OK)
      return 92;
  return 0;
}

// Lock held by the parent: 3 if acquire(0.2) timed out, then waits for
// the event and takes the lock.
MPROC_TASK(sync_task) {
  mproc_proxy_t *lock, *event, *q;
  if (mproc_attached_proxy(0, &lock) != MPROC_OK ||
      mproc_attached_proxy(1, &event) != MPROC_OK ||
      mproc_attached_proxy(2, &q) != MPROC_OK)
    return 91;
  if (mproc_proxy_callf(lock, nullptr, "acquire", "d", 0.2) !=
      MPROC_ETIMEDOUT)
    return 92;
  if (mproc_proxy_callf(q, nullptr, "put", "s", "timed out") != MPROC_OK)
    return 93;
  if (mproc_proxy_callf(event, nullptr, "wait", "d", 20.0) != MPROC_OK)
    return 94;
  if (mproc_proxy_callf(lock, nullptr, "acquire", "d", 20.0) != MPROC_OK)
    return 95;
  if (mproc_proxy_callf(lock, nullptr, "release", "") != MPROC_OK) return 96;
  return 3;
}

MPROC_TASK(barrier_task) {
  mproc_proxy_t *b;
  if (mproc_attached_proxy(0, &b) != MPROC_OK) return 91;
  return mproc_proxy_callf(b, nullptr, "wait", "d", 20.0) == MPROC_OK ? 4 : 92;
}

// A second program: connects by address and key, fills d["remote"].
struct Where {
  char address[512];
  char key[64];
  size_t keylen;
};

MPROC_TASK(connect_task) {
  Where w;
  if (arg_len != sizeof w) return 90;
  memcpy(&w, arg, sizeof w);
  mproc_manager_t *m;
  if (mproc_manager_connect(&m, w.address, w.key, w.keylen, 10) != MPROC_OK)
    return 91;
  mproc_proxy_t *d;
  if (mproc_manager_dict(&d, m) != MPROC_OK) return 92;
  if (mproc_proxy_callf(d, nullptr, "__setitem__", "si", "remote", 7) !=
      MPROC_OK)
    return 94;
  mproc_obj_t *v = nullptr;
  int64_t n = 0;
  if (mproc_proxy_callf(d, &v, "__getitem__", "s", "remote") != MPROC_OK ||
      mproc_obj_get_int(v, &n) != MPROC_OK || n != 7)
    return 95;
  mproc_obj_free(v);
  mproc_proxy_free(d);
  mproc_manager_free(m);  // connected, not started: the server stays
  return 5;
}

// Creates objects through its own connection, then waits to be killed.
MPROC_TASK(hoarder_task) {
  Where w;
  if (arg_len != sizeof w) return 90;
  memcpy(&w, arg, sizeof w);
  mproc_manager_t *m;
  if (mproc_manager_connect(&m, w.address, w.key, w.keylen, 10) != MPROC_OK)
    return 91;
  for (int i = 0; i < 5; i++) {
    mproc_proxy_t *p;
    if (mproc_manager_list(&p, m) != MPROC_OK) return 92;
  }
  mproc_proxy_t *q;
  if (mproc_attached_proxy(0, &q) != MPROC_OK) return 93;
  if (mproc_proxy_callf(q, nullptr, "put", "s", "ready") != MPROC_OK)
    return 94;
  mproc_sleep(60);
  return 0;
}

class ManagerTest : public StartMethodTest {
 protected:
  void SetUp() override {
    mproc_manager_options_t o{};
    o.ctx = ctx();
    ASSERT_EQ(mproc_manager_start(&m_, &o), MPROC_OK) << mproc_last_error();
  }
  void TearDown() override {
    if (m_) {
      EXPECT_EQ(mproc_manager_free(m_), MPROC_OK);
    }
  }
  mproc_proxy_t *MakeWith(const char *type_id, mproc_obj_t *args) {
    mproc_proxy_t *p = nullptr;
    EXPECT_EQ(mproc_manager_create(&p, m_, type_id, args), MPROC_OK)
        << mproc_last_error();
    mproc_obj_free(args);
    return p;
  }
  Where Address() {
    Where w{};
    const char *a;
    const void *k;
    EXPECT_EQ(mproc_manager_address(m_, &a), MPROC_OK);
    EXPECT_EQ(mproc_manager_authkey(m_, &k, &w.keylen), MPROC_OK);
    snprintf(w.address, sizeof w.address, "%s", a);
    memcpy(w.key, k, w.keylen);
    return w;
  }
  size_t Count() {
    size_t n = 12345;
    EXPECT_EQ(mproc_manager_object_count(m_, &n), MPROC_OK)
        << mproc_last_error();
    return n;
  }
  // The count once it is want, or what it is after 10 s: a child's
  // references go when the server has seen its connections close, a
  // moment after the child ended.
  size_t CountSettled(size_t want) {
    size_t n = Count();
    for (int i = 0; i < 500 && n != want; i++) {
      mproc_sleep(0.02);
      n = Count();
    }
    return n;
  }
  mproc_manager_t *m_ = nullptr;
};

TEST_P(ManagerTest, DictOperationsAndKeyError) {
  mproc_proxy_t *d;
  ASSERT_EQ(mproc_manager_dict(&d, m_), MPROC_OK);
  EXPECT_EQ(CALL(d, "__setitem__", "ii", 1, 10), "None");
  EXPECT_EQ(CALL(d, "__setitem__", "si", "b", 2), "None");
  EXPECT_EQ(CALL(d, "__getitem__", "i", 1), "10");
  EXPECT_EQ(CALL(d, "__contains__", "s", "b"), "True");
  EXPECT_EQ(CALL(d, "__contains__", "s", "zz"), "False");
  EXPECT_EQ(CALL(d, "__len__", ""), "2");
  EXPECT_EQ(CALL(d, "get", "si", "zz", 5), "5");
  EXPECT_EQ(CALL(d, "get", "s", "zz"), "None");
  EXPECT_EQ(CALL(d, "keys", ""), "[1, 'b']");
  EXPECT_EQ(CALL(d, "values", ""), "[10, 2]");
  EXPECT_EQ(CALL(d, "items", ""), "[[1, 10], ['b', 2]]");
  EXPECT_EQ(CALL(d, "update", "{i:s,s:i}", 3, "three", "b", 20), "None");
  EXPECT_EQ(CALL(d, "copy", ""), "{1: 10, 'b': 20, 3: 'three'}");
  EXPECT_EQ(CALL(d, "setdefault", "ii", 4, 40), "40");
  EXPECT_EQ(CALL(d, "setdefault", "ii", 4, 99), "40");
  EXPECT_EQ(CALL(d, "pop", "i", 1), "10");
  EXPECT_EQ(CALL(d, "pop", "ii", 1, -1), "-1");
  EXPECT_EQ(CALL(d, "__delitem__", "s", "b"), "None");
  EXPECT_EQ(CALL(d, "copy", ""), "{3: 'three', 4: 40}");
  std::string e = CALL(d, "__getitem__", "s", "nope");
  EXPECT_TRUE(Has(e, "MPROC_EREMOTE") && Has(e, "KeyError: 'nope'")) << e;
  e = CALL(d, "__delitem__", "i", 77);
  EXPECT_TRUE(Has(e, "MPROC_EREMOTE") && Has(e, "KeyError: 77")) << e;
  e = CALL(d, "__setitem__", "di", 1.5, 1);
  EXPECT_TRUE(Has(e, "MPROC_EINVAL")) << e;  // a float key
  e = CALL(d, "frobnicate", "");
  EXPECT_TRUE(Has(e, "MPROC_EINVAL") && Has(e, "frobnicate")) << e;
  e = CALL(d, "__getitem__", "");
  EXPECT_TRUE(Has(e, "MPROC_EINVAL") && Has(e, "argument")) << e;
  EXPECT_EQ(CALL(d, "clear", ""), "None");
  EXPECT_EQ(CALL(d, "__len__", ""), "0");
  // Many keys: deletion keeps the hash index right.
  for (int i = 0; i < 100; i++)
    mproc_proxy_callf(d, nullptr, "__setitem__", "ii", i, i);
  for (int i = 0; i < 100; i += 2)
    mproc_proxy_callf(d, nullptr, "__delitem__", "i", i);
  EXPECT_EQ(CALL(d, "__getitem__", "i", 51), "51");
  EXPECT_EQ(CALL(d, "__contains__", "i", 50), "False");
  EXPECT_EQ(CALL(d, "__len__", ""), "50");
  EXPECT_EQ(mproc_proxy_free(d), MPROC_OK);
  EXPECT_EQ(mproc_proxy_call(d, "copy", nullptr, nullptr), MPROC_EINVAL);
}

TEST_P(ManagerTest, ListOperationsAndIndexError) {
  mproc_proxy_t *l;
  ASSERT_EQ(mproc_manager_list(&l, m_), MPROC_OK);
  EXPECT_EQ(CALL(l, "append", "i", 1), "None");
  EXPECT_EQ(CALL(l, "extend", "[iis]", 2, 3, "x"), "None");
  EXPECT_EQ(CALL(l, "insert", "ii", 0, 0), "None");
  EXPECT_EQ(CALL(l, "insert", "ii", -1, 9), "None");
  EXPECT_EQ(CALL(l, "copy", ""), "[0, 1, 2, 3, 9, 'x']");
  EXPECT_EQ(CALL(l, "__getitem__", "i", -1), "'x'");
  EXPECT_EQ(CALL(l, "__setitem__", "is", 1, "one"), "None");
  EXPECT_EQ(CALL(l, "pop", ""), "'x'");
  EXPECT_EQ(CALL(l, "pop", "i", 0), "0");
  EXPECT_EQ(CALL(l, "remove", "i", 9), "None");
  EXPECT_EQ(CALL(l, "index", "i", 3), "2");
  EXPECT_EQ(CALL(l, "append", "i", 3), "None");
  EXPECT_EQ(CALL(l, "count", "i", 3), "2");
  EXPECT_EQ(CALL(l, "__len__", ""), "4");
  EXPECT_EQ(CALL(l, "copy", ""), "['one', 2, 3, 3]");
  std::string e = CALL(l, "__getitem__", "i", 10);
  EXPECT_TRUE(Has(e, "MPROC_EREMOTE") && Has(e, "IndexError")) << e;
  e = CALL(l, "remove", "i", 42);
  EXPECT_TRUE(Has(e, "MPROC_EREMOTE") && Has(e, "ValueError")) << e;
  EXPECT_EQ(CALL(l, "clear", ""), "None");
  e = CALL(l, "pop", "");
  EXPECT_TRUE(Has(e, "IndexError: pop from empty list")) << e;
  mproc_proxy_free(l);
}

TEST_P(ManagerTest, NamespaceValueArray) {
  mproc_proxy_t *ns = MakeWith("Namespace", nullptr);
  EXPECT_EQ(CALL(ns, "__setattr__", "si", "x", 1), "None");
  EXPECT_EQ(CALL(ns, "__getattr__", "s", "x"), "1");
  EXPECT_EQ(CALL(ns, "__delattr__", "s", "x"), "None");
  EXPECT_TRUE(Has(CALL(ns, "__getattr__", "s", "x"), "MPROC_EREMOTE"));
  mproc_obj_t *args;
  ASSERT_EQ(mproc_obj_build(&args, "[si]", "d", 2), MPROC_OK);
  mproc_proxy_t *v = MakeWith("Value", args);
  EXPECT_EQ(CALL(v, "get", ""), "2.0");
  EXPECT_EQ(CALL(v, "set", "d", 2.5), "None");
  EXPECT_EQ(CALL(v, "get", ""), "2.5");
  EXPECT_TRUE(Has(CALL(v, "set", "s", "no"), "MPROC_EINVAL"));
  ASSERT_EQ(mproc_obj_build(&args, "[s[iii]]", "i", 1, 2, 3), MPROC_OK);
  mproc_proxy_t *a = MakeWith("Array", args);
  EXPECT_EQ(CALL(a, "__setitem__", "ii", -1, 30), "None");
  EXPECT_EQ(CALL(a, "__getitem__", "i", 2), "30");
  EXPECT_EQ(CALL(a, "__len__", ""), "3");
  EXPECT_EQ(CALL(a, "tolist", ""), "[1, 2, 30]");
  EXPECT_TRUE(Has(CALL(a, "__setitem__", "is", 0, "x"), "MPROC_EINVAL"));
  mproc_proxy_t *bad = nullptr;
  ASSERT_EQ(mproc_obj_build(&args, "[si]", "?", 1), MPROC_OK);
  EXPECT_EQ(mproc_manager_create(&bad, m_, "Value", args), MPROC_EINVAL);
  mproc_obj_free(args);
  EXPECT_EQ(mproc_manager_create(&bad, m_, "NoSuchType", nullptr),
            MPROC_EINVAL);
  EXPECT_TRUE(Has(mproc_last_error(), "NoSuchType"));
  mproc_proxy_free(ns);
  mproc_proxy_free(v);
  mproc_proxy_free(a);
  EXPECT_EQ(Count(), 0u);
}

TEST_P(ManagerTest, LockEventQueueAcrossAChild) {
  mproc_proxy_t *lock = MakeWith("Lock", nullptr);
  mproc_proxy_t *event = MakeWith("Event", nullptr);
  mproc_proxy_t *q = MakeWith("Queue", nullptr);
  EXPECT_EQ(mproc_proxy_callf(q, nullptr, "get", "d", 0.05), MPROC_EEMPTY);
  ASSERT_EQ(mproc_proxy_callf(lock, nullptr, "acquire", ""), MPROC_OK);
  Child c(ctx(), sync_task);
  ASSERT_EQ(mproc_process_attach(c.get(), lock), MPROC_OK);
  ASSERT_EQ(mproc_process_attach(c.get(), event), MPROC_OK);
  ASSERT_EQ(mproc_process_attach(c.get(), q), MPROC_OK);
  ASSERT_EQ(mproc_process_start(c.get()), MPROC_OK);
  EXPECT_EQ(CALL(q, "get", "d", 20.0), "'timed out'");
  EXPECT_EQ(CALL(event, "is_set", ""), "False");
  ASSERT_EQ(mproc_proxy_callf(lock, nullptr, "release", ""), MPROC_OK);
  ASSERT_EQ(mproc_proxy_callf(event, nullptr, "set", ""), MPROC_OK);
  EXPECT_EQ(c.JoinCode(), 3);
  EXPECT_EQ(CALL(event, "wait", "d", 0.0), "None");
  mproc_proxy_free(lock);
  mproc_proxy_free(event);
  mproc_proxy_free(q);
}

TEST_P(ManagerTest, SemaphoreConditionBarrierRLock) {
  mproc_obj_t *args;
  ASSERT_EQ(mproc_obj_build(&args, "[i]", 1), MPROC_OK);
  mproc_proxy_t *s = MakeWith("BoundedSemaphore", args);
  EXPECT_EQ(mproc_proxy_callf(s, nullptr, "acquire", "d", 0.0), MPROC_OK);
  EXPECT_EQ(mproc_proxy_callf(s, nullptr, "acquire", "d", 0.05),
            MPROC_ETIMEDOUT);
  EXPECT_EQ(CALL(s, "get_value", ""), "0");
  EXPECT_EQ(mproc_proxy_callf(s, nullptr, "release", ""), MPROC_OK);
  EXPECT_EQ(mproc_proxy_callf(s, nullptr, "release", ""), MPROC_ESTATE);
  mproc_proxy_t *r = MakeWith("RLock", nullptr);
  EXPECT_EQ(mproc_proxy_callf(r, nullptr, "acquire", ""), MPROC_OK);
  EXPECT_EQ(mproc_proxy_callf(r, nullptr, "acquire", ""), MPROC_OK);
  EXPECT_EQ(mproc_proxy_callf(r, nullptr, "release", ""), MPROC_OK);
  EXPECT_EQ(mproc_proxy_callf(r, nullptr, "release", ""), MPROC_OK);
  mproc_proxy_t *cond = MakeWith("Condition", nullptr);
  EXPECT_EQ(mproc_proxy_callf(cond, nullptr, "acquire", ""), MPROC_OK);
  EXPECT_EQ(mproc_proxy_callf(cond, nullptr, "wait", "d", 0.05),
            MPROC_ETIMEDOUT);
  EXPECT_EQ(mproc_proxy_callf(cond, nullptr, "notify_all", ""), MPROC_OK);
  EXPECT_EQ(mproc_proxy_callf(cond, nullptr, "release", ""), MPROC_OK);
  ASSERT_EQ(mproc_obj_build(&args, "[i]", 2), MPROC_OK);
  mproc_proxy_t *b = MakeWith("Barrier", args);
  EXPECT_EQ(CALL(b, "parties", ""), "2");
  Child c(ctx(), barrier_task);
  ASSERT_EQ(mproc_process_attach(c.get(), b), MPROC_OK);
  ASSERT_EQ(mproc_process_start(c.get()), MPROC_OK);
  std::string i = CALL(b, "wait", "d", 20.0);
  EXPECT_TRUE(i == "0" || i == "1") << i;
  EXPECT_EQ(c.JoinCode(), 4);
  EXPECT_EQ(CALL(b, "broken", ""), "False");
  for (mproc_proxy_t *p : {s, r, cond, b}) mproc_proxy_free(p);
  EXPECT_EQ(CountSettled(0), 0u);
}

TEST_P(ManagerTest, NestedProxyStoredInADictComesBackAsAProxy) {
  mproc_proxy_t *d, *inner;
  ASSERT_EQ(mproc_manager_dict(&d, m_), MPROC_OK);
  ASSERT_EQ(mproc_manager_list(&inner, m_), MPROC_OK);
  mproc_obj_t *token, *args;
  ASSERT_EQ(mproc_proxy_token(&token, inner), MPROC_OK);
  ASSERT_EQ(mproc_obj_build(&args, "[sN]", "inner", token), MPROC_OK);
  ASSERT_EQ(mproc_proxy_call(d, "__setitem__", args, nullptr), MPROC_OK);
  mproc_obj_free(args);
  // The dict keeps the list alive after our proxy is gone.
  ASSERT_EQ(mproc_proxy_free(inner), MPROC_OK);
  EXPECT_EQ(Count(), 2u);
  mproc_obj_t *back = nullptr;
  ASSERT_EQ(mproc_proxy_callf(d, &back, "__getitem__", "s", "inner"),
            MPROC_OK);
  mproc_proxy_t *again;
  ASSERT_EQ(mproc_proxy_from_token(&again, d, back), MPROC_OK)
      << mproc_last_error();
  mproc_obj_free(back);
  const char *t;
  ASSERT_EQ(mproc_proxy_typeid(again, &t), MPROC_OK);
  EXPECT_STREQ(t, "list");
  EXPECT_EQ(CALL(again, "append", "i", 5), "None");
  EXPECT_EQ(CALL(again, "copy", ""), "[5]");
  mproc_obj_t *notoken;
  ASSERT_EQ(mproc_obj_int(&notoken, 3), MPROC_OK);
  mproc_proxy_t *x;
  EXPECT_EQ(mproc_proxy_from_token(&x, d, notoken), MPROC_EINVAL);
  mproc_obj_free(notoken);
  mproc_proxy_free(again);
  mproc_proxy_free(d);
}

TEST_P(ManagerTest, RegisteredTypeWithMethodToTypeidAndRemoteError) {
  mproc_obj_t *args;
  ASSERT_EQ(mproc_obj_build(&args, "[i]", 5), MPROC_OK);
  mproc_proxy_t *c = MakeWith("Counter", args);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(CALL(c, "add", "i", 2), "7");
  std::string e = CALL(c, "add", "i", -1);
  EXPECT_TRUE(Has(e, "MPROC_EREMOTE") && Has(e, "negative step -1")) << e;
  e = CALL(c, "missing", "");
  EXPECT_TRUE(Has(e, "MPROC_EINVAL") && Has(e, "missing")) << e;
  mproc_proxy_t *snap;
  ASSERT_EQ(mproc_proxy_call_proxy(c, "snapshot", nullptr, &snap), MPROC_OK)
      << mproc_last_error();
  EXPECT_EQ(CALL(snap, "copy", ""), "{'n': 7}");
  EXPECT_EQ(mproc_proxy_call(c, "snapshot", nullptr, nullptr), MPROC_EINVAL);
  mproc_proxy_t *no;
  EXPECT_EQ(mproc_proxy_call_proxy(c, "add", nullptr, &no), MPROC_EREMOTE);
  ASSERT_EQ(mproc_obj_build(&args, "[s]", "x"), MPROC_OK);
  EXPECT_EQ(mproc_manager_create(&no, m_, "Counter", args), MPROC_EREMOTE);
  EXPECT_TRUE(Has(mproc_last_error(), "Counter wants an int"))
      << mproc_last_error();
  mproc_obj_free(args);
  EXPECT_EQ(mproc_manager_register(&counter_type), MPROC_ESTATE);
  mproc_proxy_free(snap);
  mproc_proxy_free(c);
  EXPECT_EQ(Count(), 0u);
}

TEST_P(ManagerTest, ChildrenFillOneDictEveryUpdatePresent) {
  mproc_proxy_t *d;
  ASSERT_EQ(mproc_manager_dict(&d, m_), MPROC_OK);
  const int kProcs = 8, kEach = 10000;
  std::vector<std::unique_ptr<Child>> kids;
  for (int i = 0; i < kProcs; i++) {
    Range r{i * kEach, kEach};
    kids.emplace_back(new Child(ctx(), fill_task, &r, sizeof r));
    ASSERT_EQ(mproc_process_attach(kids.back()->get(), d), MPROC_OK);
    ASSERT_EQ(mproc_process_start(kids.back()->get()), MPROC_OK);
  }
  for (auto &k : kids) EXPECT_EQ(k->JoinCode(120), 0);
  EXPECT_EQ(CALL(d, "__len__", ""), std::to_string(kProcs * kEach));
  mproc_obj_t *all = nullptr;
  ASSERT_EQ(mproc_proxy_call(d, "copy", nullptr, &all), MPROC_OK);
  int missing = 0;
  for (int i = 0; i < kProcs * kEach; i++) {
    mproc_obj_t *k;
    const mproc_obj_t *v;
    int64_t n = -1;
    mproc_obj_int(&k, i);
    if (mproc_obj_dict_get(all, k, &v) != MPROC_OK || v == nullptr ||
        mproc_obj_get_int(v, &n) != MPROC_OK || n != i * 10)
      missing++;
    mproc_obj_free(k);
  }
  EXPECT_EQ(missing, 0);
  mproc_obj_free(all);
  mproc_proxy_free(d);
}

TEST_P(ManagerTest, OneProxyFromManyThreads) {
  mproc_proxy_t *d;
  ASSERT_EQ(mproc_manager_dict(&d, m_), MPROC_OK);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; t++)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; i++)
        if (mproc_proxy_callf(d, nullptr, "__setitem__", "ii", t * 1000 + i,
                              i) != MPROC_OK)
          failures++;
    });
  for (auto &t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(CALL(d, "__len__", ""), "2000");
  mproc_proxy_free(d);
}

TEST_P(ManagerTest, AnRLockIsOwnedByOneThreadAsInCPython) {
  mproc_proxy_t *r = MakeWith("RLock", nullptr);
  ASSERT_EQ(mproc_proxy_callf(r, nullptr, "acquire", ""), MPROC_OK);
  mproc_status_t other = MPROC_OK, other_release = MPROC_OK;
  std::thread t([&] {
    other = mproc_proxy_callf(r, nullptr, "acquire", "d", 0.1);
    other_release = mproc_proxy_callf(r, nullptr, "release", "");
  });
  t.join();
  EXPECT_EQ(other, MPROC_ETIMEDOUT);
  EXPECT_EQ(other_release, MPROC_ESTATE);  // not the owner
  EXPECT_EQ(mproc_proxy_callf(r, nullptr, "acquire", "d", 0.0), MPROC_OK);
  EXPECT_EQ(mproc_proxy_callf(r, nullptr, "release", ""), MPROC_OK);
  EXPECT_EQ(mproc_proxy_callf(r, nullptr, "release", ""), MPROC_OK);
  mproc_proxy_free(r);
}

TEST_P(ManagerTest, SecondProgramConnectsByAddressAndKey) {
  Where w = Address();
  Child c(ctx(), connect_task, &w, sizeof w);
  EXPECT_EQ(c.RunToEnd(), 5);
  // The child's proxy is gone with its connection: nothing leaks.
  EXPECT_EQ(CountSettled(0), 0u);
  mproc_manager_t *other;
  EXPECT_EQ(mproc_manager_connect(&other, w.address, "wrong", 5, 5),
            MPROC_EAUTH);
  mproc_status_t st = mproc_manager_connect(&other, w.address, nullptr, 0, 2);
  EXPECT_TRUE(st == MPROC_EAUTH || st == MPROC_ETIMEDOUT) << mproc_status_name(st);
  ASSERT_EQ(mproc_manager_connect(&other, w.address, w.key, w.keylen, 5),
            MPROC_OK);
  mproc_proxy_t *d;
  ASSERT_EQ(mproc_manager_dict(&d, other), MPROC_OK);
  EXPECT_EQ(Count(), 1u);
  mproc_proxy_free(d);
  mproc_manager_free(other);
  EXPECT_EQ(CountSettled(0), 0u);
}

TEST_P(ManagerTest, TcpOnLoopback) {
  mproc_manager_options_t o{};
  o.ctx = ctx();
  o.address = "127.0.0.1:0";
  o.authkey = "tcp key";
  o.authkey_len = 7;
  mproc_manager_t *tcp;
  ASSERT_EQ(mproc_manager_start(&tcp, &o), MPROC_OK) << mproc_last_error();
  const char *a;
  ASSERT_EQ(mproc_manager_address(tcp, &a), MPROC_OK);
  EXPECT_EQ(std::string(a).rfind("127.0.0.1:", 0), 0u) << a;
  EXPECT_NE(std::string(a), "127.0.0.1:0");
  Where w{};
  snprintf(w.address, sizeof w.address, "%s", a);
  memcpy(w.key, "tcp key", 7);
  w.keylen = 7;
  Child c(ctx(), connect_task, &w, sizeof w);
  EXPECT_EQ(c.RunToEnd(), 5);
  mproc_manager_t *bad;
  EXPECT_EQ(mproc_manager_connect(&bad, a, "nope", 4, 5), MPROC_EAUTH);
  EXPECT_EQ(mproc_manager_free(tcp), MPROC_OK);
}

TEST_P(ManagerTest, KilledClientsReferencesAreDropped) {
  Where w = Address();
  mproc_proxy_t *q = MakeWith("Queue", nullptr);
  Child c(ctx(), hoarder_task, &w, sizeof w);
  ASSERT_EQ(mproc_process_attach(c.get(), q), MPROC_OK);
  ASSERT_EQ(mproc_process_start(c.get()), MPROC_OK);
  EXPECT_EQ(CALL(q, "get", "d", 30.0), "'ready'");
  EXPECT_EQ(Count(), 6u);  // the queue and the child's five lists
  ASSERT_EQ(mproc_process_kill(c.get()), MPROC_OK);
  EXPECT_EQ(c.JoinCode(), -9);
  EXPECT_EQ(CountSettled(1), 1u);
  mproc_proxy_free(q);
  EXPECT_EQ(Count(), 0u);
}

TEST_P(ManagerTest, DeadManagerFailsAtOnceWithEManager) {
  mproc_proxy_t *d;
  ASSERT_EQ(mproc_manager_dict(&d, m_), MPROC_OK);
  ASSERT_EQ(mproc_proxy_callf(d, nullptr, "__setitem__", "ii", 1, 1),
            MPROC_OK);
  // Kill the server under the proxy (shutdown is the polite way).
  ASSERT_EQ(mproc_manager_shutdown(m_), MPROC_OK);
  double t0 = mproc_test::Now();
  EXPECT_EQ(mproc_proxy_callf(d, nullptr, "__getitem__", "i", 1),
            MPROC_EMANAGER);
  EXPECT_EQ(mproc_proxy_callf(d, nullptr, "__getitem__", "i", 1),
            MPROC_EMANAGER);
  EXPECT_LT(mproc_test::Now() - t0, 5.0);
  EXPECT_EQ(mproc_manager_shutdown(m_), MPROC_OK);  // twice is fine
  EXPECT_EQ(mproc_proxy_free(d), MPROC_OK);         // gone is fine
  size_t n;
  EXPECT_EQ(mproc_manager_object_count(m_, &n), MPROC_EMANAGER);
}

TEST_P(ManagerTest, MalformedRequestsGetErrorsAndTheServerServesOn) {
  Where w = Address();
  mproc_connection_t *raw;
  ASSERT_EQ(mproc_client(&raw, w.address, w.key, w.keylen, 5), MPROC_OK);
  auto ask = [&](const std::string &req) {
    EXPECT_EQ(mproc_connection_send_bytes(raw, req.data(), req.size(), 0,
                                          MPROC_REST, 5),
              MPROC_OK);
    void *reply = nullptr;
    size_t len = 0;
    EXPECT_EQ(mproc_connection_recv_bytes(raw, 0, &reply, &len, 5), MPROC_OK);
    int status = len >= 1 ? static_cast<unsigned char *>(reply)[0] : -1;
    free(reply);
    return status;
  };
  EXPECT_EQ(ask(std::string("\x03", 1)), MPROC_EBADMSG);  // short
  std::string hdr(10, '\0');
  hdr[0] = 99;  // unknown op
  EXPECT_EQ(ask(hdr), MPROC_EBADMSG);
  hdr[0] = 3;  // call
  hdr[1] = 40;  // a name longer than the request
  EXPECT_EQ(ask(hdr), MPROC_EBADMSG);
  hdr[1] = 0;
  EXPECT_EQ(ask(hdr + "\xc1"), MPROC_EBADMSG);  // not MessagePack
  hdr[1] = 3;
  hdr[2] = 42;  // no object 42
  EXPECT_EQ(ask(hdr + "get"), MPROC_EINVAL);
  std::string create(10, '\0');
  create[0] = 2;
  create[1] = 5;
  EXPECT_EQ(ask(create + "bogus"), MPROC_EINVAL);
  create[1] = 4;
  EXPECT_EQ(ask(create + "dict" + "\xc1"), MPROC_EBADMSG);  // bad arguments
  // The server still serves others, and this connection too.
  mproc_proxy_t *d;
  ASSERT_EQ(mproc_manager_dict(&d, m_), MPROC_OK);
  EXPECT_EQ(CALL(d, "__len__", ""), "0");
  std::string count(10, '\0');
  count[0] = 7;
  EXPECT_EQ(ask(count), MPROC_OK);
  mproc_connection_free(raw);
  mproc_proxy_free(d);
}

TEST_P(ManagerTest, ManagerDyingUnderBlockedAndNewCallsFailAtOnce) {
  mproc_proxy_t *q = MakeWith("Queue", nullptr);
  mproc_proxy_t *crasher = MakeWith("Crasher", nullptr);
  std::atomic<int> blocked_status{-1};
  std::thread getter([&] {
    blocked_status = mproc_proxy_callf(q, nullptr, "get", "");  // forever
  });
  mproc_sleep(0.2);
  double t0 = mproc_test::Now();
  EXPECT_EQ(mproc_proxy_callf(crasher, nullptr, "die", ""), MPROC_EMANAGER);
  getter.join();
  EXPECT_EQ(blocked_status.load(), MPROC_EMANAGER);
  EXPECT_EQ(mproc_proxy_callf(q, nullptr, "put", "i", 1), MPROC_EMANAGER);
  EXPECT_TRUE(Has(mproc_last_error(), "the manager is gone"))
      << mproc_last_error();
  EXPECT_LT(mproc_test::Now() - t0, 5.0);
  mproc_proxy_free(q);
  mproc_proxy_free(crasher);
  EXPECT_EQ(mproc_manager_free(m_), MPROC_OK);  // the server is gone already
  m_ = nullptr;
}

TEST_P(ManagerTest, InitializerRunsInTheServerFirst) {
  std::string path = mproc_test::TempPath("manager-init");
  mproc_manager_options_t o{};
  o.ctx = ctx();
  o.initializer = initializer_task;
  o.initarg = path.data();
  o.initarg_len = path.size();
  o.shutdown_timeout = 0.5;
  mproc_manager_t *m;
  ASSERT_EQ(mproc_manager_start(&m, &o), MPROC_OK) << mproc_last_error();
  EXPECT_EQ(mproc_test::ReadFile(path), "init");
  EXPECT_EQ(mproc_manager_free(m), MPROC_OK);
  o.initarg = "/nonexistent-dir/x";
  o.initarg_len = strlen("/nonexistent-dir/x");
  EXPECT_EQ(mproc_manager_start(&m, &o), MPROC_ESPAWN);
  EXPECT_TRUE(Has(mproc_last_error(), "initializer")) << mproc_last_error();
}

MPROC_INSTANTIATE_FOR_START_METHODS(ManagerTest);

TEST(Manager, ServeForeverInThisProcess) {
  mproc_manager_server_t *s;
  ASSERT_EQ(mproc_manager_server_create(&s, nullptr, nullptr, 0),
            MPROC_EINVAL);
  ASSERT_EQ(mproc_manager_server_create(&s, nullptr, "k", 1), MPROC_OK);
  const char *a;
  ASSERT_EQ(mproc_manager_server_address(s, &a), MPROC_OK);
  std::string address = a;
  std::thread server([s] { mproc_manager_server_serve_forever(s); });
  mproc_manager_t *m;
  ASSERT_EQ(mproc_manager_connect(&m, address.c_str(), "k", 1, 5), MPROC_OK);
  mproc_proxy_t *d;
  ASSERT_EQ(mproc_manager_dict(&d, m), MPROC_OK);
  EXPECT_EQ(CALL(d, "__setitem__", "ii", 1, 2), "None");
  EXPECT_EQ(CALL(d, "copy", ""), "{1: 2}");
  mproc_proxy_free(d);
  EXPECT_EQ(mproc_manager_shutdown(m), MPROC_OK);
  server.join();
  EXPECT_EQ(mproc_manager_server_serve_forever(s), MPROC_ESTATE);
  EXPECT_EQ(mproc_manager_server_free(s), MPROC_OK);
  EXPECT_EQ(mproc_manager_free(m), MPROC_OK);
}

TEST(Manager, BadArgumentsAndKinds) {
  mproc_manager_t *m;
  mproc_manager_options_t o{};
  o.authkey_len = 3;
  EXPECT_EQ(mproc_manager_start(nullptr, nullptr), MPROC_EINVAL);
  EXPECT_EQ(mproc_manager_start(&m, &o), MPROC_EINVAL);
  o.authkey_len = 0;
  o.shutdown_timeout = -1;
  EXPECT_EQ(mproc_manager_start(&m, &o), MPROC_EINVAL);
  mproc_lock_t *lock;
  ASSERT_EQ(mproc_lock_create(&lock), MPROC_OK);
  EXPECT_EQ(mproc_proxy_call(reinterpret_cast<mproc_proxy_t *>(lock), "x",
                             nullptr, nullptr),
            MPROC_EINVAL);
  EXPECT_EQ(mproc_manager_free(reinterpret_cast<mproc_manager_t *>(lock)),
            MPROC_EINVAL);
  mproc_lock_free(lock);
  EXPECT_EQ(mproc_manager_connect(&m, "/nonexistent/mproc.sock", "k", 1, 1),
            MPROC_EMANAGER);
  EXPECT_EQ(mproc_proxy_free(nullptr), MPROC_OK);
  EXPECT_EQ(mproc_manager_free(nullptr), MPROC_OK);
  EXPECT_STREQ(mproc_status_name(MPROC_EMANAGER), "MPROC_EMANAGER");
  EXPECT_STREQ(mproc_status_name(MPROC_EREMOTE), "MPROC_EREMOTE");
}

}  // namespace
