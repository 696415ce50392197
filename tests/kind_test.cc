// SPDX-License-Identifier: Apache-2.0
// Every entry point checks the kind of the object it is given: an object of
// another kind, one already freed, or memory that is no mproc object is
// MPROC_EINVAL naming both kinds, never a crash, a silent success or a
// write into the wrong object (the audit: a lock passed to queue_put
// overflowed the heap under ASan). And the typed accessors for attached
// objects check the kind in the child, under every start method.
#include <gtest/gtest.h>

#include <dirent.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "mproc.h"
#include "tests/test_util.h"

namespace {

using Call = std::function<mproc_status_t(void *)>;

// One call of each entry point that takes an object, by kind.
struct Kind {
  const char *name;
  std::vector<std::pair<const char *, Call>> calls;
};

const std::vector<Kind> &Kinds() {
  static char bytes[64];
  static const std::vector<Kind> kinds = {
      {"queue",
       {{"queue_put_bytes",
         [](void *o) {
           return mproc_queue_put_bytes((mproc_queue_t *)o, "x", 1, 0);
         }},
        {"queue_get_bytes_into",
         [](void *o) {
           size_t len;
           return mproc_queue_get_bytes_into((mproc_queue_t *)o, bytes,
                                             sizeof bytes, &len, 0);
         }},
        {"queue_qsize",
         [](void *o) {
           size_t n;
           return mproc_queue_qsize((mproc_queue_t *)o, &n);
         }},
        {"queue_full",
         [](void *o) {
           int f;
           return mproc_queue_full((mproc_queue_t *)o, &f);
         }},
        {"queue_task_done",
         [](void *o) { return mproc_queue_task_done((mproc_queue_t *)o); }},
        {"queue_join",
         [](void *o) { return mproc_queue_join((mproc_queue_t *)o, 0); }},
        {"queue_close",
         [](void *o) { return mproc_queue_close((mproc_queue_t *)o); }},
        {"queue_join_thread",
         [](void *o) { return mproc_queue_join_thread((mproc_queue_t *)o); }},
        {"queue_cancel_join_thread",
         [](void *o) {
           return mproc_queue_cancel_join_thread((mproc_queue_t *)o);
         }},
        {"queue_free",
         [](void *o) { return mproc_queue_free((mproc_queue_t *)o); }}}},
      {"connection",
       {{"send_bytes",
         [](void *o) {
           return mproc_connection_send_bytes((mproc_connection_t *)o, "x", 1,
                                              0, 1, 0);
         }},
        {"recv_bytes_into",
         [](void *o) {
           size_t len;
           return mproc_connection_recv_bytes_into(
               (mproc_connection_t *)o, bytes, sizeof bytes, 0, &len, 0);
         }},
        {"poll",
         [](void *o) {
           int ready;
           return mproc_connection_poll((mproc_connection_t *)o, &ready, 0);
         }},
        {"connection_closed",
         [](void *o) {
           int f;
           return mproc_connection_closed((mproc_connection_t *)o, &f);
         }},
        {"connection_writable",
         [](void *o) {
           int f;
           return mproc_connection_writable((mproc_connection_t *)o, &f);
         }},
        {"connection_close",
         [](void *o) {
           return mproc_connection_close((mproc_connection_t *)o);
         }},
        {"connection_free",
         [](void *o) {
           return mproc_connection_free((mproc_connection_t *)o);
         }}}},
      {"lock",
       {{"lock_acquire",
         [](void *o) { return mproc_lock_acquire((mproc_lock_t *)o, 0); }},
        {"lock_release",
         [](void *o) { return mproc_lock_release((mproc_lock_t *)o); }},
        {"lock_is_recursive",
         [](void *o) {
           int r;
           return mproc_lock_is_recursive((mproc_lock_t *)o, &r);
         }},
        {"lock_free",
         [](void *o) { return mproc_lock_free((mproc_lock_t *)o); }},
        {"condition_create",
         [](void *o) {
           mproc_condition_t *c = nullptr;
           mproc_status_t st = mproc_condition_create(&c, (mproc_lock_t *)o);
           if (st == MPROC_OK) mproc_condition_free(c);
           return st;
         }},
        {"value_create_with_lock",
         [](void *o) {
           mproc_value_t *v = nullptr;
           mproc_status_t st = mproc_value_create_with_lock(
               &v, 'i', nullptr, (mproc_lock_t *)o);
           if (st == MPROC_OK) mproc_value_free(v);
           return st;
         }}}},
      {"semaphore",
       {{"semaphore_acquire",
         [](void *o) {
           return mproc_semaphore_acquire((mproc_semaphore_t *)o, 0);
         }},
        {"semaphore_release",
         [](void *o) {
           return mproc_semaphore_release((mproc_semaphore_t *)o);
         }},
        {"semaphore_get_value",
         [](void *o) {
           unsigned v;
           return mproc_semaphore_get_value((mproc_semaphore_t *)o, &v);
         }},
        {"semaphore_free",
         [](void *o) {
           return mproc_semaphore_free((mproc_semaphore_t *)o);
         }}}},
      {"event",
       {{"event_set",
         [](void *o) { return mproc_event_set((mproc_event_t *)o); }},
        {"event_clear",
         [](void *o) { return mproc_event_clear((mproc_event_t *)o); }},
        {"event_is_set",
         [](void *o) {
           int s;
           return mproc_event_is_set((mproc_event_t *)o, &s);
         }},
        {"event_wait",
         [](void *o) { return mproc_event_wait((mproc_event_t *)o, 0); }},
        {"event_free",
         [](void *o) { return mproc_event_free((mproc_event_t *)o); }}}},
      {"condition",
       {{"condition_get_lock",
         [](void *o) {
           mproc_lock_t *l;
           return mproc_condition_get_lock((mproc_condition_t *)o, &l);
         }},
        {"condition_acquire",
         [](void *o) {
           return mproc_condition_acquire((mproc_condition_t *)o, 0);
         }},
        {"condition_release",
         [](void *o) {
           return mproc_condition_release((mproc_condition_t *)o);
         }},
        {"condition_wait",
         [](void *o) {
           return mproc_condition_wait((mproc_condition_t *)o, 0);
         }},
        {"condition_notify",
         [](void *o) {
           return mproc_condition_notify((mproc_condition_t *)o, 1);
         }},
        {"condition_notify_all",
         [](void *o) {
           return mproc_condition_notify_all((mproc_condition_t *)o);
         }},
        {"condition_free",
         [](void *o) {
           return mproc_condition_free((mproc_condition_t *)o);
         }}}},
      {"barrier",
       {{"barrier_wait",
         [](void *o) {
           return mproc_barrier_wait_timeout((mproc_barrier_t *)o, nullptr,
                                             0);
         }},
        {"barrier_abort",
         [](void *o) { return mproc_barrier_abort((mproc_barrier_t *)o); }},
        {"barrier_reset",
         [](void *o) { return mproc_barrier_reset((mproc_barrier_t *)o); }},
        {"barrier_parties",
         [](void *o) {
           unsigned n;
           return mproc_barrier_parties((mproc_barrier_t *)o, &n);
         }},
        {"barrier_n_waiting",
         [](void *o) {
           unsigned n;
           return mproc_barrier_n_waiting((mproc_barrier_t *)o, &n);
         }},
        {"barrier_broken",
         [](void *o) {
           int b;
           return mproc_barrier_broken((mproc_barrier_t *)o, &b);
         }},
        {"barrier_free",
         [](void *o) { return mproc_barrier_free((mproc_barrier_t *)o); }}}},
      {"value",
       {{"value_get",
         [](void *o) { return mproc_value_get((mproc_value_t *)o, bytes); }},
        {"value_set",
         [](void *o) { return mproc_value_set((mproc_value_t *)o, bytes); }},
        {"value_get_obj",
         [](void *o) {
           void *p;
           return mproc_value_get_obj((mproc_value_t *)o, &p);
         }},
        {"value_get_lock",
         [](void *o) {
           mproc_lock_t *l;
           return mproc_value_get_lock((mproc_value_t *)o, &l);
         }},
        {"value_typecode",
         [](void *o) {
           char c;
           return mproc_value_typecode((mproc_value_t *)o, &c);
         }},
        {"value_store",
         [](void *o) { return mproc_value_store((mproc_value_t *)o, 1); }},
        {"value_fetch_add",
         [](void *o) {
           return mproc_value_fetch_add((mproc_value_t *)o, 1, nullptr);
         }},
        {"value_free",
         [](void *o) { return mproc_value_free((mproc_value_t *)o); }}}},
      {"array",
       {{"array_read",
         [](void *o) {
           return mproc_array_read((mproc_array_t *)o, 0, 1, bytes);
         }},
        {"array_write",
         [](void *o) {
           return mproc_array_write((mproc_array_t *)o, 0, 1, bytes);
         }},
        {"array_get_obj",
         [](void *o) {
           void *p;
           return mproc_array_get_obj((mproc_array_t *)o, &p);
         }},
        {"array_get_lock",
         [](void *o) {
           mproc_lock_t *l;
           return mproc_array_get_lock((mproc_array_t *)o, &l);
         }},
        {"array_length",
         [](void *o) {
           size_t n;
           return mproc_array_length((mproc_array_t *)o, &n);
         }},
        {"array_free",
         [](void *o) { return mproc_array_free((mproc_array_t *)o); }}}},
      {"shared_memory",
       {{"shared_memory_buf",
         [](void *o) {
           void *p;
           return mproc_shared_memory_buf((mproc_shared_memory_t *)o, &p);
         }},
        {"shared_memory_size",
         [](void *o) {
           size_t n;
           return mproc_shared_memory_size((mproc_shared_memory_t *)o, &n);
         }},
        {"shared_memory_unlink",
         [](void *o) {
           return mproc_shared_memory_unlink((mproc_shared_memory_t *)o);
         }},
        {"shared_memory_close",
         [](void *o) {
           return mproc_shared_memory_close((mproc_shared_memory_t *)o);
         }},
        {"shared_memory_free",
         [](void *o) {
           return mproc_shared_memory_free((mproc_shared_memory_t *)o);
         }}}},
      {"listener",
       {{"listener_address",
         [](void *o) {
           const char *a;
           return mproc_listener_address((mproc_listener_t *)o, &a);
         }},
        {"listener_accept",
         [](void *o) {
           mproc_connection_t *c;
           return mproc_listener_accept((mproc_listener_t *)o, &c, 0);
         }},
        {"listener_set_handshake_timeout",
         [](void *o) {
           return mproc_listener_set_handshake_timeout((mproc_listener_t *)o,
                                                       1);
         }},
        {"listener_close",
         [](void *o) {
           return mproc_listener_close((mproc_listener_t *)o);
         }},
        {"listener_free",
         [](void *o) {
           return mproc_listener_free((mproc_listener_t *)o);
         }}}},
      {"process",
       {{"set_name",
         [](void *o) {
           return mproc_process_set_name((mproc_process_t *)o, "x");
         }},
        {"set_daemon",
         [](void *o) {
           return mproc_process_set_daemon((mproc_process_t *)o, 1);
         }},
        {"pid",
         [](void *o) {
           long pid;
           return mproc_process_pid((mproc_process_t *)o, &pid);
         }},
        {"attach",
         [](void *o) {
           mproc_event_t *e = nullptr;
           mproc_event_create(&e);
           mproc_status_t st = mproc_process_attach((mproc_process_t *)o, e);
           mproc_event_free(e);
           return st;
         }},
        {"start",
         [](void *o) { return mproc_process_start((mproc_process_t *)o); }},
        {"join",
         [](void *o) { return mproc_process_join((mproc_process_t *)o, 0); }},
        {"is_alive",
         [](void *o) {
           int alive;
           return mproc_process_is_alive((mproc_process_t *)o, &alive);
         }},
        {"exitcode",
         [](void *o) {
           int code;
           return mproc_process_exitcode((mproc_process_t *)o, &code);
         }},
        {"terminate",
         [](void *o) {
           return mproc_process_terminate((mproc_process_t *)o);
         }},
        {"close",
         [](void *o) { return mproc_process_close((mproc_process_t *)o); }},
        {"process_free",
         [](void *o) { return mproc_process_free((mproc_process_t *)o); }}}},
      {"payload",
       {{"obj_kind",
         [](void *o) {
           mproc_kind_t k;
           return mproc_obj_kind((mproc_obj_t *)o, &k);
         }},
        {"obj_len",
         [](void *o) {
           size_t n;
           return mproc_obj_len((mproc_obj_t *)o, &n);
         }},
        {"obj_list_append",
         [](void *o) {
           mproc_obj_t *item = nullptr;
           mproc_obj_int(&item, 1);
           mproc_status_t st = mproc_obj_list_append((mproc_obj_t *)o, item);
           if (st != MPROC_OK) mproc_obj_free(item);
           return st;
         }},
        {"obj_list_get",
         [](void *o) {
           const mproc_obj_t *item;
           return mproc_obj_list_get((mproc_obj_t *)o, 0, &item);
         }},
        {"obj_encode",
         [](void *o) {
           void *data = nullptr;
           size_t len;
           mproc_status_t st = mproc_obj_encode((mproc_obj_t *)o, &data, &len);
           free(data);
           return st;
         }},
        {"obj_repr",
         [](void *o) {
           char *text = nullptr;
           mproc_status_t st = mproc_obj_repr((mproc_obj_t *)o, &text);
           free(text);
           return st;
         }},
        {"obj_equal",
         [](void *o) {
           int eq;
           return mproc_obj_equal((mproc_obj_t *)o, (mproc_obj_t *)o, &eq);
         }},
        {"obj_free",
         [](void *o) { return mproc_obj_free((mproc_obj_t *)o); }}}},
      {"proxy",
       {{"proxy_call",
         [](void *o) {
           return mproc_proxy_call((mproc_proxy_t *)o, "copy", nullptr,
                                   nullptr);
         }},
        {"proxy_callf",
         [](void *o) {
           return mproc_proxy_callf((mproc_proxy_t *)o, nullptr, "get", "i",
                                    1);
         }},
        {"proxy_call_proxy",
         [](void *o) {
           mproc_proxy_t *p;
           return mproc_proxy_call_proxy((mproc_proxy_t *)o, "copy", nullptr,
                                         &p);
         }},
        {"proxy_typeid",
         [](void *o) {
           const char *t;
           return mproc_proxy_typeid((mproc_proxy_t *)o, &t);
         }},
        {"proxy_token",
         [](void *o) {
           mproc_obj_t *t;
           return mproc_proxy_token(&t, (mproc_proxy_t *)o);
         }},
        {"proxy_from_token",
         [](void *o) {
           mproc_proxy_t *p;
           return mproc_proxy_from_token(&p, (mproc_proxy_t *)o, nullptr);
         }},
        {"proxy_free",
         [](void *o) { return mproc_proxy_free((mproc_proxy_t *)o); }}}},
      {"manager",
       {{"manager_address",
         [](void *o) {
           const char *a;
           return mproc_manager_address((mproc_manager_t *)o, &a);
         }},
        {"manager_authkey",
         [](void *o) {
           const void *k;
           size_t n;
           return mproc_manager_authkey((mproc_manager_t *)o, &k, &n);
         }},
        {"manager_create",
         [](void *o) {
           mproc_proxy_t *p;
           return mproc_manager_create(&p, (mproc_manager_t *)o, "dict",
                                       nullptr);
         }},
        {"manager_list",
         [](void *o) {
           mproc_proxy_t *p;
           return mproc_manager_list(&p, (mproc_manager_t *)o);
         }},
        {"manager_object_count",
         [](void *o) {
           size_t n;
           return mproc_manager_object_count((mproc_manager_t *)o, &n);
         }},
        {"manager_shutdown",
         [](void *o) {
           return mproc_manager_shutdown((mproc_manager_t *)o);
         }},
        {"manager_free",
         [](void *o) { return mproc_manager_free((mproc_manager_t *)o); }}}},
      {"manager server",
       {{"manager_server_address",
         [](void *o) {
           const char *a;
           return mproc_manager_server_address((mproc_manager_server_t *)o,
                                               &a);
         }},
        {"manager_server_serve_forever",
         [](void *o) {
           return mproc_manager_server_serve_forever(
               (mproc_manager_server_t *)o);
         }},
        {"manager_server_free",
         [](void *o) {
           return mproc_manager_server_free((mproc_manager_server_t *)o);
         }}}},
  };
  return kinds;
}

MPROC_TASK(never_run) {
  (void)arg;
  (void)arg_len;
  return 0;
}

// One live object of each kind (by name), freed at the end of the test.
class Objects {
 public:
  Objects() {
    mproc_queue_t *q;
    mproc_connection_t *a, *b;
    mproc_lock_t *l;
    mproc_semaphore_t *s;
    mproc_event_t *e;
    mproc_condition_t *c;
    mproc_barrier_t *br;
    mproc_value_t *v;
    mproc_array_t *arr;
    mproc_shared_memory_t *shm;
    EXPECT_EQ(MPROC_OK, mproc_queue_create(&q, 0, 0));
    EXPECT_EQ(MPROC_OK, mproc_pipe(&a, &b, 1));
    EXPECT_EQ(MPROC_OK, mproc_lock_create(&l));
    EXPECT_EQ(MPROC_OK, mproc_semaphore_create(&s, 1));
    EXPECT_EQ(MPROC_OK, mproc_event_create(&e));
    EXPECT_EQ(MPROC_OK, mproc_condition_create(&c, nullptr));
    EXPECT_EQ(MPROC_OK,
              mproc_barrier_create(&br, 2, nullptr, nullptr, 0, MPROC_FOREVER));
    EXPECT_EQ(MPROC_OK, mproc_value_create(&v, 'i', nullptr));
    EXPECT_EQ(MPROC_OK, mproc_array_create(&arr, 'd', 4, nullptr));
    EXPECT_EQ(MPROC_OK,
              mproc_shared_memory_create(&shm, nullptr, 4096, 0));
    mproc_listener_t *listener;
    mproc_process_t *process;
    mproc_obj_t *payload;
    EXPECT_EQ(MPROC_OK, mproc_listener_create(&listener, nullptr, nullptr, 0));
    EXPECT_EQ(MPROC_OK,
              mproc_process_create(&process, nullptr, never_run, nullptr, 0));
    EXPECT_EQ(MPROC_OK, mproc_obj_list(&payload));
    mproc_manager_t *manager;
    mproc_proxy_t *proxy;
    mproc_manager_server_t *server;
    EXPECT_EQ(MPROC_OK, mproc_manager_start(&manager, nullptr));
    EXPECT_EQ(MPROC_OK, mproc_manager_dict(&proxy, manager));
    EXPECT_EQ(MPROC_OK,
              mproc_manager_server_create(&server, nullptr, "k", 1));
    other_end_ = b;
    objects_ = {{"queue", q},     {"connection", a},   {"lock", l},
                {"semaphore", s}, {"event", e},        {"condition", c},
                {"barrier", br},  {"value", v},        {"array", arr},
                {"shared_memory", shm}, {"listener", listener},
                {"process", process},   {"payload", payload},
                {"proxy", proxy},       {"manager", manager},
                {"manager server", server}};
  }
  ~Objects() {
    for (auto &o : objects_) Free(o.first, o.second);
    mproc_connection_free(other_end_);
  }
  const std::vector<std::pair<std::string, void *>> &all() const {
    return objects_;
  }
  static void Free(const std::string &kind, void *o) {
    if (kind == "queue") mproc_queue_free((mproc_queue_t *)o);
    if (kind == "connection") mproc_connection_free((mproc_connection_t *)o);
    if (kind == "lock") mproc_lock_free((mproc_lock_t *)o);
    if (kind == "semaphore") mproc_semaphore_free((mproc_semaphore_t *)o);
    if (kind == "event") mproc_event_free((mproc_event_t *)o);
    if (kind == "condition") mproc_condition_free((mproc_condition_t *)o);
    if (kind == "barrier") mproc_barrier_free((mproc_barrier_t *)o);
    if (kind == "value") mproc_value_free((mproc_value_t *)o);
    if (kind == "array") mproc_array_free((mproc_array_t *)o);
    if (kind == "shared_memory")
      mproc_shared_memory_free((mproc_shared_memory_t *)o);
    if (kind == "listener") mproc_listener_free((mproc_listener_t *)o);
    if (kind == "process") mproc_process_free((mproc_process_t *)o);
    if (kind == "payload") mproc_obj_free((mproc_obj_t *)o);
    if (kind == "proxy") mproc_proxy_free((mproc_proxy_t *)o);
    if (kind == "manager") mproc_manager_free((mproc_manager_t *)o);
    if (kind == "manager server")
      mproc_manager_server_free((mproc_manager_server_t *)o);
  }

 private:
  std::vector<std::pair<std::string, void *>> objects_;
  mproc_connection_t *other_end_ = nullptr;
};

std::string Article(const std::string &kind) {
  return std::strchr("aeiou", kind[0]) ? "an " : "a ";
}

TEST(Kinds, EveryCallRefusesEveryOtherKindAndNamesBoth) {
  Objects objects;
  int checked = 0;
  for (const Kind &kind : Kinds()) {
    for (const auto &call : kind.calls) {
      for (const auto &other : objects.all()) {
        if (other.first == kind.name) continue;
        SCOPED_TRACE(std::string(call.first) + " given " + other.first);
        ASSERT_EQ(MPROC_EINVAL, call.second(other.second));
        std::string detail = mproc_last_error();
        EXPECT_NE(std::string::npos,
                  detail.find("expected " + Article(kind.name) + kind.name))
            << detail;
        EXPECT_NE(std::string::npos,
                  detail.find("got " + Article(other.first) + other.first))
            << detail;
        checked++;
      }
    }
  }
  EXPECT_GT(checked, 500);
  // The objects are intact after all that: a queue still carries an item.
  mproc_queue_t *q = (mproc_queue_t *)objects.all()[0].second;
  char got[8];
  size_t len = 0;
  ASSERT_EQ(MPROC_OK, mproc_queue_put_bytes(q, "ok", 2, 0));
  ASSERT_EQ(MPROC_OK, mproc_queue_get_bytes_into(q, got, sizeof got, &len, 1));
  EXPECT_EQ(2u, len);
}

TEST(Kinds, TheAuditCaseALockGivenToQueuePut) {
  mproc_lock_t *lock;
  ASSERT_EQ(MPROC_OK, mproc_lock_create(&lock));
  mproc_obj_t *item;
  ASSERT_EQ(MPROC_OK, mproc_obj_int(&item, 7));
  EXPECT_EQ(MPROC_EINVAL, mproc_queue_put((mproc_queue_t *)(void *)lock, item, 0));
  EXPECT_NE(std::string::npos, std::string(mproc_last_error())
                                   .find("queue_put: expected a queue, got a lock"))
      << mproc_last_error();
  EXPECT_EQ(MPROC_EINVAL,
            mproc_queue_put_nowait((mproc_queue_t *)(void *)lock, item));
  // The lock was not written into: it is still free and works.
  EXPECT_EQ(MPROC_OK, mproc_lock_acquire(lock, 0));
  EXPECT_EQ(MPROC_OK, mproc_lock_release(lock));
  mproc_obj_free(item);
  mproc_lock_free(lock);
}

TEST(Kinds, AFreedObjectIsRefusedByEveryCallIncludingASecondFree) {
  for (const Kind &kind : Kinds()) {
    for (const auto &call : kind.calls) {
      Objects objects;  // fresh ones, so the kind's free runs last
      void *victim = nullptr;
      for (const auto &o : objects.all())
        if (o.first == kind.name) victim = o.second;
      ASSERT_NE(nullptr, victim);
      Objects::Free(kind.name, victim);
      SCOPED_TRACE(std::string(call.first) + " on a freed " + kind.name);
      EXPECT_EQ(MPROC_EINVAL, call.second(victim));
      EXPECT_NE(std::string::npos,
                std::string(mproc_last_error()).find("not a live mproc object"))
          << mproc_last_error();
      // Objects' destructor frees the victim again: refused, harmless.
    }
  }
}

TEST(Kinds, MemoryThatIsNoObjectIsRefused) {
  alignas(16) unsigned char zeros[64] = {};
  alignas(16) unsigned char noise[64];
  for (size_t i = 0; i < sizeof noise; i++) noise[i] = (unsigned char)(i * 37 + 11);
  for (const Kind &kind : Kinds())
    for (const auto &call : kind.calls) {
      SCOPED_TRACE(call.first);
      EXPECT_EQ(MPROC_EINVAL, call.second(zeros));
      EXPECT_EQ(MPROC_EINVAL, call.second(noise));
      // NULL is documented as fine for every _free (free(NULL)), and for
      // condition_create (without a given lock it makes its own).
      std::string name = call.first;
      bool null_ok = name == "condition_create" ||
                     (name.size() > 5 &&
                      name.compare(name.size() - 5, 5, "_free") == 0);
      if (null_ok) {
        EXPECT_EQ(MPROC_OK, call.second(nullptr));
      } else {
        EXPECT_EQ(MPROC_EINVAL, call.second(nullptr));
      }
    }
}

// ---- one lifecycle rule ----------------------------------------------
// _free always releases the object; _close (where CPython has a close)
// never does: after it the object refuses use with MPROC_ESTATE, closes
// again without error and is still released by _free. _free(NULL) is
// MPROC_OK, as free(NULL); a second _free is MPROC_EINVAL (a stale object).

struct Lifecycle {
  const char *kind;
  std::function<void *()> create;
  std::function<mproc_status_t(void *)> close;  // empty: the kind has none
  std::function<mproc_status_t(void *)> use;    // after close: MPROC_ESTATE
  std::function<mproc_status_t(void *)> free;
};

std::string UniqueShmName() {
  static int n;
  return "mproc_kind_test_" + std::to_string(getpid()) + "_" +
         std::to_string(n++);
}

const std::vector<Lifecycle> &Lifecycles() {
  static const std::vector<Lifecycle> all = {
      {"queue",
       [] {
         mproc_queue_t *q = nullptr;
         EXPECT_EQ(MPROC_OK, mproc_queue_create(&q, 0, 4096));
         return (void *)q;
       },
       [](void *o) { return mproc_queue_close((mproc_queue_t *)o); },
       [](void *o) {
         return mproc_queue_put_bytes((mproc_queue_t *)o, "x", 1, 0);
       },
       [](void *o) { return mproc_queue_free((mproc_queue_t *)o); }},
      {"connection",
       [] {
         mproc_connection_t *a = nullptr, *b = nullptr;
         EXPECT_EQ(MPROC_OK, mproc_pipe(&a, &b, 1));
         mproc_connection_free(b);
         return (void *)a;
       },
       [](void *o) { return mproc_connection_close((mproc_connection_t *)o); },
       [](void *o) {
         return mproc_connection_send_bytes((mproc_connection_t *)o, "x", 1, 0,
                                            1, 0);
       },
       [](void *o) { return mproc_connection_free((mproc_connection_t *)o); }},
      {"listener",
       [] {
         mproc_listener_t *l = nullptr;
         EXPECT_EQ(MPROC_OK, mproc_listener_create(&l, nullptr, nullptr, 0));
         return (void *)l;
       },
       [](void *o) { return mproc_listener_close((mproc_listener_t *)o); },
       [](void *o) {
         mproc_connection_t *c = nullptr;
         return mproc_listener_accept((mproc_listener_t *)o, &c, 0);
       },
       [](void *o) { return mproc_listener_free((mproc_listener_t *)o); }},
      {"shared_memory",
       [] {
         mproc_shared_memory_t *s = nullptr;
         EXPECT_EQ(MPROC_OK,
                   mproc_shared_memory_create(&s, UniqueShmName().c_str(),
                                              4096, MPROC_SHM_PERSISTENT));
         return (void *)s;
       },
       [](void *o) {
         // CPython's close(); unlink(): the name goes after the unmap.
         mproc_status_t st =
             mproc_shared_memory_close((mproc_shared_memory_t *)o);
         if (st != MPROC_OK) return st;
         st = mproc_shared_memory_unlink((mproc_shared_memory_t *)o);
         return st == MPROC_ENOENT ? MPROC_OK : st;  // closed again
       },
       [](void *o) {
         void *p = nullptr;
         return mproc_shared_memory_buf((mproc_shared_memory_t *)o, &p);
       },
       [](void *o) {
         return mproc_shared_memory_free((mproc_shared_memory_t *)o);
       }},
      {"process",
       [] {
         mproc_process_t *p = nullptr;
         EXPECT_EQ(MPROC_OK,
                   mproc_process_create(&p, nullptr, never_run, nullptr, 0));
         return (void *)p;
       },
       [](void *o) { return mproc_process_close((mproc_process_t *)o); },
       [](void *o) { return mproc_process_start((mproc_process_t *)o); },
       [](void *o) { return mproc_process_free((mproc_process_t *)o); }},
      {"lock",
       [] {
         mproc_lock_t *l = nullptr;
         EXPECT_EQ(MPROC_OK, mproc_lock_create(&l));
         return (void *)l;
       },
       nullptr, nullptr,
       [](void *o) { return mproc_lock_free((mproc_lock_t *)o); }},
      {"semaphore",
       [] {
         mproc_semaphore_t *x = nullptr;
         EXPECT_EQ(MPROC_OK, mproc_semaphore_create(&x, 1));
         return (void *)x;
       },
       nullptr, nullptr,
       [](void *o) { return mproc_semaphore_free((mproc_semaphore_t *)o); }},
      {"event",
       [] {
         mproc_event_t *x = nullptr;
         EXPECT_EQ(MPROC_OK, mproc_event_create(&x));
         return (void *)x;
       },
       nullptr, nullptr,
       [](void *o) { return mproc_event_free((mproc_event_t *)o); }},
      {"condition",
       [] {
         mproc_condition_t *x = nullptr;
         EXPECT_EQ(MPROC_OK, mproc_condition_create(&x, nullptr));
         return (void *)x;
       },
       nullptr, nullptr,
       [](void *o) { return mproc_condition_free((mproc_condition_t *)o); }},
      {"barrier",
       [] {
         mproc_barrier_t *x = nullptr;
         EXPECT_EQ(MPROC_OK, mproc_barrier_create(&x, 2, nullptr, nullptr, 0,
                                                  MPROC_FOREVER));
         return (void *)x;
       },
       nullptr, nullptr,
       [](void *o) { return mproc_barrier_free((mproc_barrier_t *)o); }},
      {"value",
       [] {
         mproc_value_t *x = nullptr;
         EXPECT_EQ(MPROC_OK, mproc_value_create(&x, 'i', nullptr));
         return (void *)x;
       },
       nullptr, nullptr,
       [](void *o) { return mproc_value_free((mproc_value_t *)o); }},
      {"array",
       [] {
         mproc_array_t *x = nullptr;
         // Larger than the arena's objects: a segment of its own.
         EXPECT_EQ(MPROC_OK, mproc_array_create(&x, 'd', 4096, nullptr));
         return (void *)x;
       },
       nullptr, nullptr,
       [](void *o) { return mproc_array_free((mproc_array_t *)o); }},
      {"payload",
       [] {
         mproc_obj_t *x = nullptr;
         EXPECT_EQ(MPROC_OK, mproc_obj_list(&x));
         return (void *)x;
       },
       nullptr, nullptr,
       [](void *o) { return mproc_obj_free((mproc_obj_t *)o); }},
  };
  return all;
}

size_t OpenDescriptors() {
  size_t n = 0;
  if (DIR *d = opendir("/proc/self/fd")) {
    while (readdir(d) != nullptr) n++;
    closedir(d);
  }
  return n;
}

size_t KindTestSegments() {
  size_t n = 0;
  if (DIR *d = opendir("/dev/shm")) {
    while (dirent *e = readdir(d))
      if (std::string(e->d_name).find("mproc_kind_test_" +
                                      std::to_string(getpid()) + "_") == 0)
        n++;
    closedir(d);
  }
  return n;
}

TEST(Lifecycle, CloseNeverReleasesFreeAlwaysDoes) {
  for (const Lifecycle &k : Lifecycles()) {
    SCOPED_TRACE(k.kind);
    void *o = k.create();
    ASSERT_NE(nullptr, o);
    if (k.close) {
      ASSERT_EQ(MPROC_OK, k.close(o)) << mproc_last_error();
      EXPECT_EQ(MPROC_ESTATE, k.use(o)) << "used after close";
      EXPECT_NE(std::string::npos,
                std::string(mproc_last_error()).find("closed"))
          << mproc_last_error();
      // Still a live object: closing again is fine, _free releases it.
      EXPECT_EQ(MPROC_OK, k.close(o)) << mproc_last_error();
    }
    EXPECT_EQ(MPROC_OK, k.free(o)) << mproc_last_error();
    EXPECT_EQ(MPROC_EINVAL, k.free(o)) << "freed twice";
    EXPECT_NE(std::string::npos,
              std::string(mproc_last_error()).find("not a live mproc object"))
        << mproc_last_error();
    EXPECT_EQ(MPROC_OK, k.free(nullptr)) << "free(NULL)";
  }
}

TEST(Lifecycle, FreeWithoutCloseReleasesToo) {
  for (const Lifecycle &k : Lifecycles()) {
    SCOPED_TRACE(k.kind);
    void *o = k.create();
    ASSERT_NE(nullptr, o);
    if (std::string(k.kind) == "shared_memory") {
      EXPECT_EQ(MPROC_OK,
                mproc_shared_memory_unlink((mproc_shared_memory_t *)o));
    }
    EXPECT_EQ(MPROC_OK, k.free(o)) << mproc_last_error();
    EXPECT_EQ(MPROC_EINVAL, k.free(o)) << "freed twice";
  }
}

TEST(Lifecycle, CloseOrFreeOfAnotherKindIsRefused) {
  Objects objects;
  for (const Lifecycle &k : Lifecycles())
    for (const auto &other : objects.all()) {
      if (other.first == k.kind) continue;
      SCOPED_TRACE(std::string(k.kind) + " given " + other.first);
      if (k.close) {
        EXPECT_EQ(MPROC_EINVAL, k.close(other.second));
      }
      EXPECT_EQ(MPROC_EINVAL, k.free(other.second));
    }
}

TEST(Lifecycle, NothingLeaksOverManyCycles) {
  // Warm up: the arena's first segment and the like stay for the process.
  for (const Lifecycle &k : Lifecycles()) {
    void *o = k.create();
    if (k.close) k.close(o);
    k.free(o);
  }
  size_t fds = OpenDescriptors();
  for (int round = 0; round < 20; round++)
    for (const Lifecycle &k : Lifecycles()) {
      SCOPED_TRACE(k.kind);
      void *o = k.create();
      ASSERT_NE(nullptr, o);
      if (k.close && round % 2 == 0) {
        ASSERT_EQ(MPROC_OK, k.close(o));
      }
      if (std::string(k.kind) == "shared_memory" && round % 2 == 1) {
        ASSERT_EQ(MPROC_OK,
                  mproc_shared_memory_unlink((mproc_shared_memory_t *)o));
      }
      ASSERT_EQ(MPROC_OK, k.free(o)) << mproc_last_error();
    }
  EXPECT_EQ(fds, OpenDescriptors()) << "descriptors leaked";
  EXPECT_EQ(0u, KindTestSegments()) << "/dev/shm entries left";
}

TEST(Kinds, ObjectMemoryIsReusedWithoutGrowing) {
  // Create/free cycles reuse released memory (oldest first): the pool
  // cycles through a bounded set of addresses instead of growing.
  std::set<void *> distinct;
  for (int i = 0; i < 5000; i++) {
    mproc_event_t *e;
    ASSERT_EQ(MPROC_OK, mproc_event_create(&e)) << mproc_last_error();
    distinct.insert(e);
    ASSERT_EQ(MPROC_OK, mproc_event_free(e));
  }
  EXPECT_LT(distinct.size(), 2500u);
}

TEST(Kinds, WhatCannotBeAttachedIsRefusedByName) {
  Objects objects;
  mproc_process_t *p;
  ASSERT_EQ(MPROC_OK, mproc_process_create(&p, nullptr, never_run, nullptr, 0));
  for (const char *kind : {"listener", "process", "payload"}) {
    void *o = nullptr;
    for (const auto &entry : objects.all())
      if (entry.first == kind) o = entry.second;
    SCOPED_TRACE(kind);
    EXPECT_EQ(MPROC_EINVAL, mproc_process_attach(p, o));
    EXPECT_NE(std::string::npos,
              std::string(mproc_last_error()).find("cannot be attached"))
        << mproc_last_error();
  }
  EXPECT_EQ(MPROC_OK, mproc_process_free(p));
}

TEST(Kinds, AContextMustBeOneOfMprocs) {
  alignas(16) unsigned char fake[64] = {};
  auto *ctx = reinterpret_cast<mproc_context_t *>(fake);
  mproc_process_t *p = nullptr;
  EXPECT_EQ(MPROC_EINVAL,
            mproc_process_create(&p, ctx, never_run, nullptr, 0));
  EXPECT_EQ(nullptr, p);
  const char *method;
  EXPECT_EQ(MPROC_EINVAL, mproc_context_method(ctx, &method));
  mproc_context_t *real;
  ASSERT_EQ(MPROC_OK, mproc_get_context(nullptr, &real));
  EXPECT_EQ(MPROC_OK, mproc_context_method(real, &method));
}

// ---- typed accessors in a child -------------------------------------

MPROC_TASK(check_typed_accessors) {
  (void)arg;
  (void)arg_len;
  mproc_queue_t *q = nullptr;
  mproc_lock_t *l = nullptr;
  mproc_event_t *e = nullptr;
  if (mproc_attached_queue(0, &q) != MPROC_OK) return 10;
  if (mproc_attached_lock(1, &l) != MPROC_OK) return 11;
  // The wrong kind at each index is refused and named.
  if (mproc_attached_lock(0, &l) != MPROC_EINVAL) return 20;
  if (std::strstr(mproc_last_error(),
                  "attached_lock: expected a lock, got a queue") == nullptr)
    return 21;
  if (mproc_attached_queue(1, &q) != MPROC_EINVAL) return 22;
  if (mproc_attached_event(2, &e) != MPROC_EINVAL) return 23;  // out of range
  if (mproc_attached_event(0, nullptr) != MPROC_EINVAL) return 24;
  // And the good ones work across the process boundary.
  if (mproc_lock_acquire(l, 10) != MPROC_OK) return 30;
  if (mproc_queue_put_bytes(q, "hi", 2, 10) != MPROC_OK) return 31;
  if (mproc_lock_release(l) != MPROC_OK) return 32;
  return 0;
}

class KindsInChild : public mproc_test::StartMethodTest {};

TEST_P(KindsInChild, TypedAccessorsCheckTheKind) {
  mproc_queue_t *q;
  mproc_lock_t *l;
  ASSERT_EQ(MPROC_OK, mproc_queue_create(&q, 0, 0));
  ASSERT_EQ(MPROC_OK, mproc_lock_create(&l));
  mproc_test::Child child(ctx(), check_typed_accessors);
  ASSERT_EQ(MPROC_OK, mproc_process_attach(child.get(), q));
  ASSERT_EQ(MPROC_OK, mproc_process_attach(child.get(), l));
  EXPECT_EQ(0, child.RunToEnd());
  char got[8];
  size_t len = 0;
  EXPECT_EQ(MPROC_OK, mproc_queue_get_bytes_into(q, got, sizeof got, &len, 10));
  EXPECT_EQ(2u, len);
  EXPECT_EQ(MPROC_OK, mproc_lock_acquire(l, 0)) << "the child released it";
  mproc_lock_release(l);
  mproc_lock_free(l);
  mproc_queue_free(q);
}

MPROC_INSTANTIATE_FOR_START_METHODS(KindsInChild);

}  // namespace
