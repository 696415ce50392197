// SPDX-License-Identifier: Apache-2.0
// Pipe/Connection across processes under every start method (fork, spawn, forkserver): bytes and values,
// EOF, maxlength, recv_bytes_into, timeouts, poll, wait() over connections
// and process sentinels, and bad arguments.
#include <gtest/gtest.h>

#include "tests/start_methods.h"

#include <chrono>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "mproc.h"
#include "tests/ipc_test_util.h"

using namespace ipc_test;

namespace {

// Child: echoes every message back until EOF, then exits 0. It closes its
// copy of the parent's end first (attached second): under fork it inherited
// it, and EOF comes only when every copy of the writing end is closed.
MPROC_TASK(echo_task) {
  (void)arg, (void)arg_len;
  mproc_connection_t *c = Attached<mproc_connection_t>(0);
  mproc_connection_close(Attached<mproc_connection_t>(1));
  for (;;) {
    void *data;
    size_t len;
    mproc_status_t st = mproc_connection_recv_bytes(c, 0, &data, &len, 30);
    if (st == MPROC_EOF) return 0;
    if (st != MPROC_OK) return 10 + st;
    st = mproc_connection_send_bytes(c, data, len, 0, MPROC_REST, 30);
    free(data);
    if (st != MPROC_OK) return 40 + st;
  }
}

// Child: receives a value, replies with its repr as a str.
MPROC_TASK(repr_task) {
  (void)arg, (void)arg_len;
  mproc_connection_t *c = Attached<mproc_connection_t>(0);
  mproc_obj_t *v;
  if (mproc_connection_recv(c, &v, 30) != MPROC_OK) return 1;
  mproc_obj_t *reply = Str(Repr(v).c_str());
  mproc_status_t st = mproc_connection_send(c, reply, 30);
  mproc_obj_free(v);
  mproc_obj_free(reply);
  return st == MPROC_OK ? 0 : 2;
}

// Child: sends one message after the delay given as its argument, exits.
MPROC_TASK(late_sender_task) {
  double delay = *static_cast<const double *>(arg);
  (void)arg_len;
  mproc_sleep(delay);
  mproc_connection_t *c = Attached<mproc_connection_t>(0);
  return mproc_connection_send_bytes(c, "late", 4, 0, MPROC_REST, 30) ==
                 MPROC_OK ? 0 : 1;
}

// Child: exits at once (closing its ends).
MPROC_TASK(quit_task) {
  (void)arg, (void)arg_len;
  return 3;
}

// Child: receives one message and exits 0 if it is "two".
MPROC_TASK(expect_two_task) {
  (void)arg, (void)arg_len;
  mproc_connection_t *c = Attached<mproc_connection_t>(0);
  char buf[8];
  size_t len;
  if (mproc_connection_recv_bytes_into(c, buf, sizeof buf, 0, &len, 10) !=
      MPROC_OK)
    return 1;
  return std::string(buf, len) == "two" ? 0 : 2;
}

// Child: sends one 64 MiB message (it blocks once the socket is full).
MPROC_TASK(huge_sender_task) {
  (void)arg, (void)arg_len;
  mproc_connection_t *c = Attached<mproc_connection_t>(0);
  std::vector<char> big(64 << 20, 'h');
  mproc_connection_send_bytes(c, big.data(), big.size(), 0, MPROC_REST, 60);
  return 0;
}

class ConnectionTest : public ::testing::TestWithParam<const char *> {
 protected:
  void SetUp() override {
    ASSERT_EQ(mproc_pipe(&a_, &b_, 1), MPROC_OK);
  }
  void TearDown() override {
    mproc_connection_free(a_);
    mproc_connection_free(b_);
  }
  mproc_connection_t *a_ = nullptr, *b_ = nullptr;
};

TEST_P(ConnectionTest, BytesRoundTripThroughAChild) {
  mproc_process_t *p = Start(GetParam(), echo_task, {b_, a_});
  mproc_connection_close(b_);
  std::vector<std::string> msgs = {"", "x", std::string(1 << 20, 'q'),
                                   std::string("a\0b", 3)};
  for (auto &m : msgs) {
    ASSERT_EQ(mproc_connection_send_bytes(a_, m.data(), m.size(), 0,
                                          MPROC_REST, 10), MPROC_OK);
    void *data;
    size_t len;
    ASSERT_EQ(mproc_connection_recv_bytes(a_, 0, &data, &len, 10), MPROC_OK)
        << mproc_last_error();
    EXPECT_EQ(std::string(static_cast<char *>(data), len), m);
    free(data);
  }
  // offset/size select a slice, as CPython's send_bytes(buf, offset, size).
  ASSERT_EQ(mproc_connection_send_bytes(a_, "abcdef", 6, 2, 3, 10), MPROC_OK);
  char buf[16];
  size_t len;
  ASSERT_EQ(mproc_connection_recv_bytes_into(a_, buf, sizeof buf, 4, &len, 10),
            MPROC_OK);
  EXPECT_EQ(std::string(buf + 4, len), "cde");
  mproc_connection_close(a_);  // the child sees EOF and exits 0
  EXPECT_EQ(Finish(p), 0);
}

TEST_P(ConnectionTest, ValuesRoundTripThroughAChild) {
  mproc_process_t *p = Start(GetParam(), repr_task, {b_});
  mproc_obj_t *v = List({Str("x"), Int(1)});
  ASSERT_EQ(mproc_connection_send(a_, v, 10), MPROC_OK);
  mproc_obj_free(v);
  mproc_obj_t *reply;
  ASSERT_EQ(mproc_connection_recv(a_, &reply, 10), MPROC_OK);
  EXPECT_EQ(ReprFree(reply), "\"['x', 1]\"");
  EXPECT_EQ(Finish(p), 0);
}

TEST_P(ConnectionTest, EofWhenThePeerIsGone) {
  mproc_process_t *p = Start(GetParam(), quit_task, {b_});
  mproc_connection_close(b_);
  EXPECT_EQ(Finish(p), 3);
  void *data;
  size_t len;
  EXPECT_EQ(mproc_connection_recv_bytes(a_, 0, &data, &len, 10), MPROC_EOF);
  EXPECT_EQ(mproc_connection_send_bytes(a_, "x", 1, 0, 1, 10), MPROC_EOF);
  int ready = 0;
  EXPECT_EQ(mproc_connection_poll(a_, &ready, 0), MPROC_OK);
  EXPECT_EQ(ready, 1);  // EOF is readable, as in CPython
}

TEST_P(ConnectionTest, TimeoutFiresAndLateMessageStillArrives) {
  double delay = 0.5;
  mproc_process_t *p =
      Start(GetParam(), late_sender_task, {b_}, &delay, sizeof delay);
  void *data;
  size_t len;
  double t0 = std::nan("");
  mproc_status_t st;
  {
    auto start = std::chrono::steady_clock::now();
    st = mproc_connection_recv_bytes(a_, 0, &data, &len, 0.1);
    t0 = std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                       start).count();
  }
  EXPECT_EQ(st, MPROC_ETIMEDOUT);
  EXPECT_GE(t0, 0.1);
  EXPECT_LT(t0, 5.0);
  int ready = -1;
  EXPECT_EQ(mproc_connection_poll(a_, &ready, 0), MPROC_OK);
  EXPECT_EQ(ready, 0);
  EXPECT_EQ(mproc_connection_poll(a_, &ready, 30), MPROC_OK);
  EXPECT_EQ(ready, 1);
  ASSERT_EQ(mproc_connection_recv_bytes(a_, 0, &data, &len, 10), MPROC_OK);
  EXPECT_EQ(std::string(static_cast<char *>(data), len), "late");
  free(data);
  EXPECT_EQ(Finish(p), 0);
}

TEST_P(ConnectionTest, WaitOverConnectionsAndSentinels) {
  mproc_connection_t *c1, *c2;
  ASSERT_EQ(mproc_pipe(&c1, &c2, 1), MPROC_OK);
  double delay = 0.3;
  mproc_process_t *sender =
      Start(GetParam(), late_sender_task, {b_}, &delay, sizeof delay);
  mproc_process_t *quitter = Start(GetParam(), quit_task, {});
  mproc_sentinel_t s[3];
  ASSERT_EQ(mproc_connection_sentinel(a_, &s[0]), MPROC_OK);
  ASSERT_EQ(mproc_connection_sentinel(c1, &s[1]), MPROC_OK);
  ASSERT_EQ(mproc_process_sentinel(quitter, &s[2]), MPROC_OK);
  int ready[3];
  size_t n;
  // The quitter ends first; then the message arrives; c1 never is ready.
  ASSERT_EQ(mproc_wait(s, 3, ready, &n, 30), MPROC_OK);
  EXPECT_EQ(ready[1], 0);
  EXPECT_EQ(ready[2] + ready[0], (int)n);
  ASSERT_EQ(mproc_wait(s, 2, ready, &n, 30), MPROC_OK);
  EXPECT_EQ(ready[0], 1);
  EXPECT_EQ(ready[1], 0);
  EXPECT_EQ(mproc_wait(s + 1, 1, ready, &n, 0.05), MPROC_ETIMEDOUT);
  EXPECT_EQ(Finish(sender), 0);
  EXPECT_EQ(Finish(quitter), 3);
  mproc_connection_free(c1);
  mproc_connection_free(c2);
}

TEST_P(ConnectionTest, ReadAheadBytesGoWithTheEndToAChild) {
  ASSERT_EQ(mproc_connection_send_bytes(a_, "one", 3, 0, MPROC_REST, 1),
            MPROC_OK);
  ASSERT_EQ(mproc_connection_send_bytes(a_, "two", 3, 0, MPROC_REST, 1),
            MPROC_OK);
  char buf[8];
  size_t len;
  ASSERT_EQ(mproc_connection_recv_bytes_into(b_, buf, sizeof buf, 0, &len, 1),
            MPROC_OK);  // "two" is now read ahead, off the socket
  EXPECT_EQ(Finish(Start(GetParam(), expect_two_task, {b_})), 0);
}

TEST_P(ConnectionTest, PeerKilledInMidMessageIsEofForGood) {
  mproc_process_t *p = Start(GetParam(), huge_sender_task, {b_});
  mproc_connection_close(b_);
  int ready = 0;
  ASSERT_EQ(mproc_connection_poll(a_, &ready, 30), MPROC_OK);
  ASSERT_EQ(ready, 1);
  mproc_sleep(0.2);  // the sender is blocked with the socket full
  ASSERT_EQ(mproc_process_kill(p), MPROC_OK);
  EXPECT_EQ(Finish(p), -9);
  void *data;
  size_t len;
  EXPECT_EQ(mproc_connection_recv_bytes(a_, 0, &data, &len, 10), MPROC_EOF);
  EXPECT_NE(std::string(mproc_last_error()).find("mid-message"),
            std::string::npos) << mproc_last_error();
  EXPECT_EQ(mproc_connection_recv_bytes(a_, 0, &data, &len, 10), MPROC_EOF);
}

INSTANTIATE_TEST_SUITE_P(Methods, ConnectionTest,
                         MPROC_START_METHOD_CSTRS);

TEST(Connection, MaxlengthLeavesTheMessageForALaterCall) {
  mproc_connection_t *a, *b;
  ASSERT_EQ(mproc_pipe(&a, &b, 1), MPROC_OK);
  ASSERT_EQ(mproc_connection_send_bytes(a, "0123456789", 10, 0, MPROC_REST,
                                        1), MPROC_OK);
  void *data;
  size_t len = 0;
  EXPECT_EQ(mproc_connection_recv_bytes(b, 4, &data, &len, 1), MPROC_EMSGSIZE);
  EXPECT_EQ(len, 10u);
  char small[4];
  EXPECT_EQ(mproc_connection_recv_bytes_into(b, small, 4, 0, &len, 1),
            MPROC_EMSGSIZE);
  EXPECT_EQ(len, 10u);
  int ready = 0;
  EXPECT_EQ(mproc_connection_poll(b, &ready, 0), MPROC_OK);
  EXPECT_EQ(ready, 1);
  ASSERT_EQ(mproc_connection_recv_bytes(b, 10, &data, &len, 1), MPROC_OK);
  EXPECT_EQ(std::string(static_cast<char *>(data), len), "0123456789");
  free(data);
  mproc_connection_free(a);
  mproc_connection_free(b);
}

TEST(Connection, ReadAheadMessagesCountForPollAndWait) {
  mproc_connection_t *a, *b;
  ASSERT_EQ(mproc_pipe(&a, &b, 1), MPROC_OK);
  ASSERT_EQ(mproc_connection_send_bytes(a, "one", 3, 0, MPROC_REST, 1),
            MPROC_OK);
  ASSERT_EQ(mproc_connection_send_bytes(a, "two", 3, 0, MPROC_REST, 1),
            MPROC_OK);
  char buf[8];
  size_t len;
  // This read takes both messages off the socket: "two" is read ahead.
  ASSERT_EQ(mproc_connection_recv_bytes_into(b, buf, sizeof buf, 0, &len, 1),
            MPROC_OK);
  EXPECT_EQ(std::string(buf, len), "one");
  mproc_sentinel_t s;
  ASSERT_EQ(mproc_connection_sentinel(b, &s), MPROC_OK);
  int ready = 0;
  size_t n = 0;
  EXPECT_EQ(mproc_wait(&s, 1, &ready, &n, 5), MPROC_OK);
  EXPECT_EQ(ready, 1);
  EXPECT_EQ(n, 1u);
  EXPECT_EQ(mproc_connection_poll(b, &ready, 0), MPROC_OK);
  EXPECT_EQ(ready, 1);
  ASSERT_EQ(mproc_connection_recv_bytes_into(b, buf, sizeof buf, 0, &len, 0),
            MPROC_OK);
  EXPECT_EQ(std::string(buf, len), "two");
  EXPECT_EQ(mproc_wait(&s, 1, &ready, &n, 0.05), MPROC_ETIMEDOUT);
  mproc_connection_free(a);
  mproc_connection_free(b);
}

TEST(Connection, OneWayPipeHasFixedDirections) {
  mproc_connection_t *r, *w;
  ASSERT_EQ(mproc_pipe(&r, &w, 0), MPROC_OK);
  int flag;
  mproc_connection_readable(r, &flag);
  EXPECT_EQ(flag, 1);
  mproc_connection_writable(r, &flag);
  EXPECT_EQ(flag, 0);
  mproc_connection_readable(w, &flag);
  EXPECT_EQ(flag, 0);
  EXPECT_EQ(mproc_connection_send_bytes(r, "x", 1, 0, 1, 1), MPROC_ESTATE);
  void *data;
  size_t len;
  EXPECT_EQ(mproc_connection_recv_bytes(w, 0, &data, &len, 1), MPROC_ESTATE);
  ASSERT_EQ(mproc_connection_send_bytes(w, "x", 1, 0, 1, 1), MPROC_OK);
  ASSERT_EQ(mproc_connection_recv_bytes(r, 0, &data, &len, 1), MPROC_OK);
  free(data);
  mproc_connection_free(r);
  mproc_connection_free(w);
}

TEST(Connection, GarbageIsNotAValue) {
  mproc_connection_t *a, *b;
  ASSERT_EQ(mproc_pipe(&a, &b, 1), MPROC_OK);
  ASSERT_EQ(mproc_connection_send_bytes(a, "\xc1", 1, 0, 1, 1), MPROC_OK);
  mproc_obj_t *v;
  EXPECT_EQ(mproc_connection_recv(b, &v, 1), MPROC_EBADMSG);
  // The bad message was consumed: the next one is fine.
  mproc_obj_t *x = Int(5);
  ASSERT_EQ(mproc_connection_send(a, x, 1), MPROC_OK);
  mproc_obj_free(x);
  ASSERT_EQ(mproc_connection_recv(b, &v, 1), MPROC_OK);
  EXPECT_EQ(ReprFree(v), "5");
  mproc_connection_free(a);
  mproc_connection_free(b);
}

TEST(Connection, BadArgumentsAndClosedState) {
  mproc_connection_t *a, *b;
  EXPECT_EQ(mproc_pipe(nullptr, &b, 1), MPROC_EINVAL);
  ASSERT_EQ(mproc_pipe(&a, &b, 1), MPROC_OK);
  void *data;
  size_t len;
  int flag;
  EXPECT_EQ(mproc_connection_send_bytes(nullptr, "x", 1, 0, 1, 1),
            MPROC_EINVAL);
  EXPECT_EQ(mproc_connection_send_bytes(a, nullptr, 1, 0, 1, 1), MPROC_EINVAL);
  EXPECT_EQ(mproc_connection_send_bytes(a, "x", 1, 2, 0, 1), MPROC_EINVAL);
  EXPECT_EQ(mproc_connection_send_bytes(a, "xy", 2, 1, 2, 1), MPROC_EINVAL);
  EXPECT_EQ(mproc_connection_send_bytes(a, "x", 1, 0, 1, std::nan("")),
            MPROC_EINVAL);
  EXPECT_EQ(mproc_connection_recv_bytes(a, 0, nullptr, &len, 1), MPROC_EINVAL);
  EXPECT_EQ(mproc_connection_recv_bytes_into(a, nullptr, 4, 0, &len, 1),
            MPROC_EINVAL);
  EXPECT_EQ(mproc_connection_poll(a, nullptr, 0), MPROC_EINVAL);
  EXPECT_EQ(mproc_connection_closed(a, nullptr), MPROC_EINVAL);
  ASSERT_EQ(mproc_connection_close(a), MPROC_OK);
  ASSERT_EQ(mproc_connection_close(a), MPROC_OK);
  EXPECT_EQ(mproc_connection_closed(a, &flag), MPROC_OK);
  EXPECT_EQ(flag, 1);
  EXPECT_EQ(mproc_connection_recv_bytes(a, 0, &data, &len, 1), MPROC_ESTATE);
  EXPECT_EQ(mproc_connection_send_bytes(a, "x", 1, 0, 1, 1), MPROC_ESTATE);
  mproc_process_t *p;
  ASSERT_EQ(mproc_process_create(&p, nullptr, quit_task, nullptr, 0),
            MPROC_OK);
  ASSERT_EQ(mproc_process_attach(p, a), MPROC_OK);
  mproc_context_t *spawn = Context("spawn");
  mproc_process_t *ps;
  ASSERT_EQ(mproc_process_create(&ps, spawn, quit_task, nullptr, 0), MPROC_OK);
  ASSERT_EQ(mproc_process_attach(ps, a), MPROC_OK);
  EXPECT_EQ(mproc_process_start(ps), MPROC_ESTATE);  // a closed end
  mproc_process_free(ps);
  mproc_process_free(p);
  EXPECT_EQ(mproc_connection_free(nullptr), MPROC_OK);
  mproc_connection_free(a);
  mproc_connection_free(b);
}

}  // namespace
