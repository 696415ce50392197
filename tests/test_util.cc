// SPDX-License-Identifier: Apache-2.0
#include "tests/test_util.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace mproc_test {

mproc_context_t *Context(const char *method) {
  mproc_context_t *ctx = nullptr;
  EXPECT_EQ(MPROC_OK, mproc_get_context(method, &ctx)) << mproc_last_error();
  return ctx;
}

double Now() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

std::string TempPath(const std::string &tag) {
  static unsigned counter;
  const char *dir = std::getenv("TEST_TMPDIR");
  std::string base =
      dir ? dir : std::filesystem::temp_directory_path().string();
  long self = 0;
  mproc_process_t *current;
  if (mproc_current_process(&current) == MPROC_OK)
    mproc_process_pid(current, &self);
  std::string path = base + "/mproc-" + std::to_string(self) + "-" +
                     std::to_string(++counter) + "-" + tag;
  std::remove(path.c_str());
  return path;
}

bool WriteFileAtomically(const char *path, const std::string &text) {
  std::string tmp = std::string(path) + ".part";
  FILE *f = std::fopen(tmp.c_str(), "w");
  if (f == nullptr) return false;
  bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  ok = std::fclose(f) == 0 && ok;
  return ok && std::rename(tmp.c_str(), path) == 0;
}

std::string ReadFile(const std::string &path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

bool FileExists(const std::string &path) {
  return std::filesystem::exists(path);
}

bool WaitForFile(const std::string &path, double timeout) {
  double deadline = Now() + timeout;
  while (!FileExists(path)) {
    if (Now() > deadline) return false;
    mproc_sleep(0.005);
  }
  return true;
}

PathArg MakePathArg(const std::string &path) {
  PathArg arg{};
  EXPECT_LT(path.size(), sizeof arg.path);
  std::strncpy(arg.path, path.c_str(), sizeof arg.path - 1);
  return arg;
}

Child::Child(mproc_context_t *ctx, mproc_task_fn fn, const void *arg,
             size_t arg_len) {
  EXPECT_EQ(MPROC_OK, mproc_process_create(&p_, ctx, fn, arg, arg_len))
      << mproc_last_error();
}

Child::~Child() {
  if (p_ == nullptr) return;
  int alive = 0;
  if (mproc_process_is_alive(p_, &alive) == MPROC_OK && alive) {
    // No timeout: a killed child ends, and this join waits for the process
    // itself rather than its sentinel (which a failing test may have leaked).
    mproc_process_kill(p_);
    mproc_process_join(p_, MPROC_FOREVER);
  }
  EXPECT_EQ(MPROC_OK, mproc_process_free(p_)) << mproc_last_error();
}

mproc_process_t *Child::Release() {
  mproc_process_t *p = p_;
  p_ = nullptr;
  return p;
}

bool Child::StartAndWaitFor(const std::string &path, double timeout) {
  mproc_status_t st = mproc_process_start(p_);
  EXPECT_EQ(MPROC_OK, st) << mproc_last_error();
  if (st != MPROC_OK) return false;
  bool ready = WaitForFile(path, timeout);
  EXPECT_TRUE(ready) << "the child never created " << path;
  return ready;
}

int Child::RunToEnd(double timeout) {
  mproc_status_t st = mproc_process_start(p_);
  EXPECT_EQ(MPROC_OK, st) << mproc_last_error();
  if (st != MPROC_OK) return kNoExitCode;
  return JoinCode(timeout);
}

int Child::JoinCode(double timeout) {
  mproc_status_t st = mproc_process_join(p_, timeout);
  EXPECT_EQ(MPROC_OK, st) << mproc_last_error();
  int code = kNoExitCode;
  if (st == MPROC_OK) {
    EXPECT_EQ(MPROC_OK, mproc_process_exitcode(p_, &code))
        << mproc_last_error();
  }
  return code;
}

bool Child::IsAlive() {
  int alive = -1;
  EXPECT_EQ(MPROC_OK, mproc_process_is_alive(p_, &alive))
      << mproc_last_error();
  return alive == 1;
}

long Child::Pid() {
  long pid = -1;
  EXPECT_EQ(MPROC_OK, mproc_process_pid(p_, &pid)) << mproc_last_error();
  return pid;
}

std::string UnusedLocalAddress() {
  mproc_listener_t *l = nullptr;
  std::string address;
  const char *a = nullptr;
  if (mproc_listener_create(&l, nullptr, nullptr, 0) == MPROC_OK &&
      mproc_listener_address(l, &a) == MPROC_OK)
    address = a;
  mproc_listener_free(l);
  return address;
}

int64_t IntOf(const mproc_obj_t *v) {
  int64_t x = -999999;
  mproc_obj_get_int(v, &x);
  return x;
}

mproc_obj_t *Int(int64_t x) {
  mproc_obj_t *v = nullptr;
  EXPECT_EQ(MPROC_OK, mproc_obj_int(&v, x));
  return v;
}

mproc_obj_t *Range(int64_t n) {
  mproc_obj_t *list = nullptr;
  EXPECT_EQ(MPROC_OK, mproc_obj_list(&list));
  for (int64_t i = 0; i < n; i++)
    EXPECT_EQ(MPROC_OK, mproc_obj_list_append(list, Int(i)));
  return list;
}

long Pid() {
  mproc_process_t *me;
  long pid = -1;
  if (mproc_current_process(&me) == MPROC_OK) mproc_process_pid(me, &pid);
  return pid;
}

}  // namespace mproc_test
