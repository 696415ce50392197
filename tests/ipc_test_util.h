/* SPDX-License-Identifier: Apache-2.0 */
// Helpers for the ipc tests: start a child with attached objects under a
// start method, join it, and build values tersely.
#ifndef MPROC_TESTS_IPC_TEST_UTIL_H
#define MPROC_TESTS_IPC_TEST_UTIL_H

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>

#include "mproc.h"

namespace ipc_test {

inline mproc_context_t *Context(const char *method) {
  mproc_context_t *ctx = nullptr;
  EXPECT_EQ(mproc_get_context(method, &ctx), MPROC_OK);
  return ctx;
}

// Starts task in a child of the given method with objects attached in order.
inline mproc_process_t *Start(const char *method, mproc_task_fn task,
                              std::initializer_list<void *> objects,
                              const void *arg = nullptr, size_t arg_len = 0) {
  mproc_process_t *p = nullptr;
  EXPECT_EQ(mproc_process_create(&p, Context(method), task, arg, arg_len),
            MPROC_OK);
  for (void *o : objects) EXPECT_EQ(mproc_process_attach(p, o), MPROC_OK);
  EXPECT_EQ(mproc_process_start(p), MPROC_OK) << mproc_last_error();
  return p;
}

// Joins (bounded), closes, and returns the exit code (-1000 on a hang).
inline int Finish(mproc_process_t *p, double timeout = 60) {
  if (mproc_process_join(p, timeout) != MPROC_OK) {
    mproc_process_kill(p);
    mproc_process_join(p, MPROC_FOREVER);
    mproc_process_free(p);
    return -1000;
  }
  int code = -1;
  EXPECT_EQ(mproc_process_exitcode(p, &code), MPROC_OK);
  EXPECT_EQ(mproc_process_free(p), MPROC_OK);
  return code;
}

// In a child: the index-th attached object.
template <typename T>
T *Attached(size_t index) {
  void *o = nullptr;
  return mproc_attached(index, &o) == MPROC_OK ? static_cast<T *>(o)
                                                : nullptr;
}

inline mproc_obj_t *Int(int64_t i) {
  mproc_obj_t *v = nullptr;
  mproc_obj_int(&v, i);
  return v;
}

inline mproc_obj_t *Str(const char *s) {
  mproc_obj_t *v = nullptr;
  mproc_obj_str(&v, s);
  return v;
}

inline mproc_obj_t *List(std::initializer_list<mproc_obj_t *> items) {
  mproc_obj_t *v = nullptr;
  mproc_obj_list(&v);
  for (mproc_obj_t *i : items) mproc_obj_list_append(v, i);
  return v;
}

inline std::string Repr(const mproc_obj_t *v) {
  char *s = nullptr;
  if (mproc_obj_repr(v, &s) != MPROC_OK) return "<repr failed>";
  std::string out(s);
  free(s);
  return out;
}

// Frees v after taking its repr: for one-line checks.
inline std::string ReprFree(mproc_obj_t *v) {
  std::string s = Repr(v);
  mproc_obj_free(v);
  return s;
}

}  // namespace ipc_test

#endif
