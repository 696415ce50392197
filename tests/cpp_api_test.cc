// SPDX-License-Identifier: Apache-2.0
// include/mproc.hpp: the C++17 layer (RAII owners, mproc::error, C++ tasks),
// under every start method.
#include "mproc.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "test_util.h"

namespace {

// ---- tasks -------------------------------------------------------------

// Puts 0..n-1 (n is the argument) on attached queue 0.
MPROC_CXX_TASK(cxx_producer) {
  auto q = mproc::queue::attached(0);
  int n = arg.as<int>();
  for (int i = 0; i < n; i++) q.put(mproc::obj::integer(i));
  return 0;
}

// Receives a list of ints on connection 0 and sends back their sum as a dict
// {"sum": s, "from": "child"}.
MPROC_CXX_TASK(cxx_summer) {
  auto c = mproc::connection::attached(0);
  mproc::obj list = c.recv(30);
  std::int64_t sum = 0;
  for (std::size_t i = 0; i < list.size(); i++) sum += list[i].as_int();
  mproc::obj reply = mproc::obj::dict();
  reply.set(mproc::obj::str("sum"), mproc::obj::integer(sum));
  reply.set(mproc::obj::str("from"), mproc::obj::str("child"));
  c.send(reply);
  return 0;
}

// Adds 1 to value 0 n times under mutex 1 (a std::lock_guard each time), and
// writes its index into array 2 at slot index.
struct counter_arg {
  int n;
  int index;
};
MPROC_CXX_TASK(cxx_counter) {
  auto v = mproc::value::attached(0);
  auto m = mproc::mutex::attached(1);
  auto a = mproc::array::attached(2);
  auto ca = arg.as<counter_arg>();
  for (int i = 0; i < ca.n; i++) {
    std::lock_guard<mproc::mutex> hold(m);
    v.set<std::int32_t>(v.get<std::int32_t>() + 1);
  }
  std::int32_t idx = ca.index;
  a.write(static_cast<std::size_t>(ca.index), 1, &idx);
  return 0;
}

// Event 0 is set; semaphore 1 released twice; then waits at barrier 2 and
// notifies condition 3 after setting shared value 4 to 7.
MPROC_CXX_TASK(cxx_signaller) {
  auto e = mproc::event::attached(0);
  auto s = mproc::semaphore::attached(1);
  auto b = mproc::barrier::attached(2);
  auto c = mproc::condition::attached(3);
  auto v = mproc::value::attached(4);
  e.set();
  s.release();
  s.release();
  b.wait(30);
  {
    std::lock_guard<mproc::condition> hold(c);
    v.store(7);
    c.notify_all();
  }
  return 0;
}

// Writes the argument text into shared memory 0.
MPROC_CXX_TASK(cxx_shm_writer) {
  auto shm = mproc::shared_memory::attached(0);
  std::string text(arg.str());
  if (text.size() >= shm.size()) return 3;
  std::memcpy(shm.data(), text.c_str(), text.size() + 1);
  return 0;
}

// Connects to the listener address given as argument (authkey "k3y") and
// sends "hello".
MPROC_CXX_TASK(cxx_client) {
  std::string address(arg.str());
  mproc::connection c = mproc::client(address, "k3y", 30);
  c.send(mproc::obj::str("hello"));
  return 0;
}

// Throws: the wrapper prints the exception and makes the exit code 1.
MPROC_CXX_TASK(cxx_thrower) {
  mproc::queue::create(0, 1);  // capacity 1 is MPROC_EINVAL
  return 0;
}

// Sleeps for the argument's seconds.
MPROC_CXX_TASK(cxx_sleeper) {
  mproc::sleep(arg.as<double>());
  return 0;
}

// A captureless lambda registered by name at static-initialization time.
const mproc::task_registration lambda_task(
    "cpp_api_test_lambda", +[](const void *arg, std::size_t len) -> int {
      return len == sizeof(int) ? *static_cast<const int *>(arg) + 1 : 99;
    });

class CppApiTest : public mproc_test::StartMethodTest {};

// ---- tests -------------------------------------------------------------

TEST(CppApi, ErrorsCarryTheStatusNameAndDetail) {
  try {
    mproc::queue::create(0, 1);
    FAIL() << "no exception";
  } catch (const mproc::error &e) {
    EXPECT_EQ(e.status(), MPROC_EINVAL);
    EXPECT_STREQ(e.name(), "MPROC_EINVAL");
    EXPECT_EQ(std::string(e.what()).rfind("MPROC_EINVAL: ", 0), 0u) << e.what();
    EXPECT_GT(std::strlen(e.what()), std::strlen("MPROC_EINVAL: ")) << e.what();
  }
  EXPECT_EQ(mproc::status_name(MPROC_EEMPTY), "MPROC_EEMPTY");
  EXPECT_EQ(mproc::version(), static_cast<unsigned>(MPROC_VERSION_HEX));
  EXPECT_EQ(mproc::version_string(), MPROC_VERSION_STRING);
  EXPECT_FALSE(mproc::all_start_methods().empty());
  EXPECT_TRUE(lambda_task.ok()) << mproc::status_name(lambda_task.status());
}

TEST(CppApi, EveryStatusHasItsSymbolicName) {
  for (int i = 0; i < MPROC_ESTATUS_COUNT_; i++) {
    std::string name = mproc_status_name(static_cast<mproc_status_t>(i));
    EXPECT_EQ(name.rfind("MPROC_", 0), 0u) << i;
    EXPECT_NE(name, "MPROC_UNKNOWN_STATUS") << "status " << i << " has no name";
  }
  EXPECT_STREQ(mproc_status_name(MPROC_OK), "MPROC_OK");
  EXPECT_STREQ(mproc_status_name(MPROC_EAUTH), "MPROC_EAUTH");
  EXPECT_STREQ(mproc_status_name(MPROC_ESTATUS_COUNT_), "MPROC_UNKNOWN_STATUS");
  EXPECT_STREQ(mproc_status_name(static_cast<mproc_status_t>(-1)), "MPROC_UNKNOWN_STATUS");
}

TEST(CppApi, PayloadObjectsBuildCompareAndRoundTrip) {
  mproc::obj d = mproc::obj::dict();
  mproc::obj l = mproc::obj::list();
  l.append(mproc::obj::integer(1)).append(mproc::obj::str("x"))
      .append(mproc::obj::none()).append(mproc::obj::boolean(true))
      .append(mproc::obj::real(1.5)).append(mproc::obj::bytes("\0a", 2));
  d.set(mproc::obj::str("k"), std::move(l));
  EXPECT_FALSE(l);  // moved into the dict
  EXPECT_EQ(d.repr(), "{'k': [1, 'x', None, True, 1.5, b'\\x00a']}");
  mproc::obj back = mproc::obj::decode(d.encode().data(), d.encode().size());
  EXPECT_TRUE(back == d);
  auto found = back.find(mproc::obj::str("k"));
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ((*found)[1].as_str(), "x");
  EXPECT_EQ((*found)[5].as_bytes(), std::string("\0a", 2));
  EXPECT_FALSE(back.find(mproc::obj::str("missing")).has_value());
  EXPECT_EQ(back.item(0).first.as_str(), "k");
  EXPECT_THROW((*found)[0].as_str(), mproc::error);  // an int, not a str
  EXPECT_TRUE(mproc::obj::integer(1) == mproc::obj::real(1.0));
}

TEST_P(CppApiTest, QueueCarriesValuesFromAChild) {
  auto q = mproc::queue::create();
  int n = 50;
  mproc::process p(cxx_producer, n, ctx());
  p.attach(q).start();
  for (int i = 0; i < n; i++) EXPECT_EQ(q.get(30).as_int(), i);
  EXPECT_FALSE(q.try_get(0.01).has_value());
  ASSERT_TRUE(p.join(30));
  EXPECT_EQ(p.exitcode(), std::optional<int>(0));
  try {
    q.get(0);
    FAIL() << "no exception";
  } catch (const mproc::error &e) {
    EXPECT_EQ(e.status(), MPROC_EEMPTY);
  }
}

TEST_P(CppApiTest, PipeSendsAndReceivesValues) {
  auto [mine, theirs] = mproc::pipe();
  mproc::process p(cxx_summer, nullptr, 0, ctx());
  p.attach(theirs).start();
  mproc::obj list = mproc::obj::list();
  for (int i = 1; i <= 10; i++) list.append(mproc::obj::integer(i));
  mine.send(list);
  ASSERT_TRUE(mine.poll(30));
  mproc::obj reply = mine.recv(30);
  EXPECT_EQ(reply.find(mproc::obj::str("sum"))->as_int(), 55);
  EXPECT_EQ(reply.find(mproc::obj::str("from"))->as_str(), "child");
  ASSERT_TRUE(p.join(30));
  EXPECT_EQ(p.exitcode(), std::optional<int>(0));
  mine.close();
  EXPECT_TRUE(mine.closed());
}

TEST_P(CppApiTest, ValueArrayAndMutexAcrossChildren) {
  std::int32_t zero = 0;
  auto v = mproc::value::raw('i', &zero);
  auto m = mproc::mutex::create();
  std::vector<std::int32_t> init(3, -1);
  auto a = mproc::array::create('i', init.size(), init.data());
  std::vector<mproc::process> children;
  for (int i = 0; i < 3; i++) {
    counter_arg ca{200, i};
    children.emplace_back(cxx_counter, ca, ctx());
    children.back().attach(v).attach(m).attach(a).start();
  }
  for (auto &c : children) {
    ASSERT_TRUE(c.join(60));
    EXPECT_EQ(c.exitcode(), std::optional<int>(0));
  }
  EXPECT_EQ(v.get<std::int32_t>(), 600);
  EXPECT_EQ(a.to_vector<std::int32_t>(), (std::vector<std::int32_t>{0, 1, 2}));
  EXPECT_THROW(v.get<std::int64_t>(), mproc::error);  // 'i' is 4 bytes
  EXPECT_FALSE(m.is_recursive());
  EXPECT_TRUE(mproc::mutex::recursive().is_recursive());
  ASSERT_TRUE(m.try_lock());
  EXPECT_FALSE(m.acquire(0.01));  // a Lock taken twice times out
  m.unlock();
}

TEST_P(CppApiTest, EventSemaphoreBarrierCondition) {
  auto e = mproc::event::create();
  auto s = mproc::semaphore::create(0);
  auto b = mproc::barrier::create(2);
  auto c = mproc::condition::create();
  auto v = mproc::value::create('q');
  EXPECT_FALSE(e.wait(0.01));
  EXPECT_FALSE(s.acquire(0.01));
  mproc::process p(cxx_signaller, nullptr, 0, ctx());
  p.attach(e).attach(s).attach(b).attach(c).attach(v).start();
  EXPECT_TRUE(e.wait(30));
  EXPECT_TRUE(e.is_set());
  EXPECT_TRUE(s.acquire(30));
  EXPECT_TRUE(s.acquire(30));
  EXPECT_EQ(s.value(), 0u);
  EXPECT_EQ(b.parties(), 2u);
  b.wait(30);
  {
    std::unique_lock<mproc::condition> hold(c);
    EXPECT_TRUE(c.wait_for([&] { return v.load() == 7; }, 30));
  }
  ASSERT_TRUE(p.join(30));
  EXPECT_EQ(p.exitcode(), std::optional<int>(0));
  b.abort();
  EXPECT_TRUE(b.broken());
  try {
    b.wait(1);
    FAIL() << "no exception";
  } catch (const mproc::error &err) {
    EXPECT_EQ(err.status(), MPROC_EBROKEN);
  }
}

TEST_P(CppApiTest, SharedMemoryWrittenByAChild) {
  auto shm = mproc::shared_memory::create(4096);
  EXPECT_EQ(shm.size(), 4096u);
  EXPECT_FALSE(shm.name().empty());
  std::string text = std::string("from ") + method();
  mproc::process p(cxx_shm_writer, std::string_view(text), ctx());
  p.attach(shm).start();
  ASSERT_TRUE(p.join(30));
  EXPECT_EQ(p.exitcode(), std::optional<int>(0));
  EXPECT_STREQ(static_cast<const char *>(shm.data()), text.c_str());
  auto again = mproc::shared_memory::attach(shm.name().c_str());
  EXPECT_STREQ(static_cast<const char *>(again.data()), text.c_str());
}

TEST_P(CppApiTest, ListenerAcceptsAnAuthenticatedClient) {
  auto l = mproc::listener::create(nullptr, "k3y");
  std::string address = l.address();
  EXPECT_FALSE(l.accept(0.01).has_value());
  mproc::process p(cxx_client, std::string_view(address), ctx());
  p.start();
  std::optional<mproc::connection> c = l.accept(30);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->recv(30).as_str(), "hello");
  ASSERT_TRUE(p.join(30));
  EXPECT_EQ(p.exitcode(), std::optional<int>(0));
}

TEST_P(CppApiTest, ExceptionInATaskIsExitCodeOne) {
  mproc::process p(cxx_thrower, nullptr, 0, ctx());
  p.start();
  ASSERT_TRUE(p.join(30));
  EXPECT_EQ(p.exitcode(), std::optional<int>(1));
}

TEST_P(CppApiTest, LambdaRegisteredByNameRuns) {
  int n = 41;
  mproc::process p(lambda_task, n, ctx());
  p.start();
  ASSERT_TRUE(p.join(30));
  EXPECT_EQ(p.exitcode(), std::optional<int>(42));
}

TEST_P(CppApiTest, JoinTimesOutThenDestructorWaits) {
  auto q = mproc::queue::create();
  {
    double secs = 0.3;
    mproc::process p(cxx_sleeper, secs, ctx());
    p.set_name("sleepy").start();
    EXPECT_EQ(p.name(), "sleepy");
    EXPECT_GT(p.pid(), 0);
    EXPECT_FALSE(p.join(0.01));
    EXPECT_TRUE(p.is_alive());
    EXPECT_FALSE(p.exitcode().has_value());
    auto ready = mproc::wait({p.sentinel()}, 0.01);
    EXPECT_FALSE(ready.has_value());
    std::vector<mproc::process> alive = mproc::process::active_children();
    ASSERT_EQ(alive.size(), 1u);
    EXPECT_EQ(alive[0].pid(), p.pid());
    EXPECT_EQ(mproc::process::current().name(), "MainProcess");
    EXPECT_FALSE(mproc::process::parent());  // none in the main program
  }  // the destructor joins the child, then releases it
  EXPECT_TRUE(mproc::process::active_children().empty());
  int n = 2;
  mproc::process p2(cxx_producer, n, ctx());
  p2.attach(q).start();
  auto ready = mproc::wait({p2.sentinel()}, 30);
  ASSERT_TRUE(ready.has_value());
  EXPECT_TRUE((*ready)[0]);
  EXPECT_EQ(q.get(30).as_int(), 0);
  EXPECT_EQ(q.get(30).as_int(), 1);
}

TEST_P(CppApiTest, TerminateEndsAChild) {
  double secs = 30;
  mproc::process p(cxx_sleeper, secs, ctx());
  p.start();
  p.terminate();
  ASSERT_TRUE(p.join(30));
  EXPECT_EQ(p.exitcode(), std::optional<int>(-15));
}

MPROC_INSTANTIATE_FOR_START_METHODS(CppApiTest);

}  // namespace
