// SPDX-License-Identifier: Apache-2.0
// Found by the outside audit (ipc): queue counters that wrapped, Full and
// Empty reported on mere lock contention, one object attached twice to a
// spawned child, listener handshakes that held accept forever, and socket
// files left behind or removed by the wrong process. Crossed tests run
// under every start method (MPROC_START_METHOD_CSTRS).
#include <gtest/gtest.h>

#include "tests/start_methods.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <future>
#include <string>
#include <vector>

#include "core/queue_testing.h"
#include "mproc.h"
#include "tests/ipc_test_util.h"

using namespace ipc_test;

namespace {

double Since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t)
      .count();
}

class AuditIpc : public ::testing::TestWithParam<const char *> {};

// ---- #7: JoinableQueue's unfinished count ---------------------------------

// 2^24 items put and got without task_done: the count used to wrap to 0
// there, so join(0) said every task was done.
TEST(AuditQueue, UnfinishedCountDoesNotWrapAtTwoToThe24) {
  mproc_queue_t *q;
  ASSERT_EQ(mproc_joinable_queue_create(&q, 0, 64 << 10), MPROC_OK);
  const uint32_t n = UINT32_C(1) << 24;
  char buf[1];
  size_t len;
  for (uint32_t i = 0; i < n; i++) {
    ASSERT_EQ(mproc_queue_put_bytes(q, "", 0, 0), MPROC_OK) << i;
    ASSERT_EQ(mproc_queue_get_bytes_into(q, buf, sizeof buf, &len, 0),
              MPROC_OK) << i;
  }
  EXPECT_EQ(mproc_queue_join(q, 0), MPROC_ETIMEDOUT)
      << "2^24 tasks unfinished, yet join says all are done";
  ASSERT_EQ(mproc_queue_task_done(q), MPROC_OK);
  EXPECT_EQ(mproc_queue_join(q, 0), MPROC_ETIMEDOUT);
  mproc_queue_free(q);
}

// CPython's limit (its semaphore's, 2^31 - 1) is ours: one more put is a
// clear MPROC_ESTATE that loses nothing; a task_done makes room again.
TEST(AuditQueue, UnfinishedCountStopsAtCPythonsLimitWithAClearError) {
  mproc_queue_t *q;
  ASSERT_EQ(mproc_joinable_queue_create(&q, 0, 0), MPROC_OK);
  const uint64_t limit = (UINT64_C(1) << 31) - 1;
  ASSERT_EQ(mp_queue_testing_pretend_unfinished(q, limit - 1), MPROC_OK);
  mproc_obj_t *v = Int(7);
  ASSERT_EQ(mproc_queue_put(q, v, 0), MPROC_OK);  // the limit-th
  EXPECT_EQ(mproc_queue_put(q, v, 0), MPROC_ESTATE);
  EXPECT_NE(std::string(mproc_last_error()).find("task_done"),
            std::string::npos) << mproc_last_error();
  size_t size = 0;
  ASSERT_EQ(mproc_queue_qsize(q, &size), MPROC_OK);
  EXPECT_EQ(size, 1u);  // the refused put left nothing behind
  ASSERT_EQ(mproc_queue_task_done(q), MPROC_OK);
  EXPECT_EQ(mproc_queue_put(q, v, 0), MPROC_OK);
  EXPECT_EQ(mproc_queue_join(q, 0), MPROC_ETIMEDOUT);
  mproc_obj_free(v);
  mproc_queue_free(q);
}

// ---- #8: contention is not Full, and not Empty ----------------------------

constexpr int kNowaitWorkers = 4;
constexpr int kNowaitItems = 20000;

// Child: kNowaitItems put_nowait on a queue with room; the exit code is the
// number of MPROC_EFULL (capped), 200 + status for any other failure.
MPROC_TASK(nowait_putter_task) {
  (void)arg, (void)arg_len;
  mproc_queue_t *q = Attached<mproc_queue_t>(0);
  // Every worker starts at once (spawned ones start slowly): contention.
  if (mproc_event_wait(Attached<mproc_event_t>(1), 60) != MPROC_OK) return 199;
  int full = 0;
  for (int i = 0; i < kNowaitItems; i++) {
    mproc_status_t st = mproc_queue_put_bytes(q, &i, sizeof i, 0);
    if (st == MPROC_EFULL) full++;
    else if (st != MPROC_OK) return 200 + st;
  }
  return full > 100 ? 100 : full;
}

// Child: kNowaitItems get_nowait on a queue that holds enough for every
// worker; the exit code counts MPROC_EEMPTY the same way.
MPROC_TASK(nowait_getter_task) {
  (void)arg, (void)arg_len;
  mproc_queue_t *q = Attached<mproc_queue_t>(0);
  if (mproc_event_wait(Attached<mproc_event_t>(1), 60) != MPROC_OK) return 199;
  int empty = 0;
  for (int i = 0; i < kNowaitItems; i++) {
    int item;
    size_t len;
    mproc_status_t st =
        mproc_queue_get_bytes_into(q, &item, sizeof item, &len, 0);
    if (st == MPROC_EEMPTY) empty++;
    else if (st != MPROC_OK) return 200 + st;
  }
  return empty > 100 ? 100 : empty;
}

TEST_P(AuditIpc, PutNowaitOnAQueueWithRoomIsNeverFull) {
  mproc_queue_t *q;
  ASSERT_EQ(mproc_queue_create(&q, 0, 0), MPROC_OK);
  mproc_event_t *go;
  ASSERT_EQ(mproc_event_create(&go), MPROC_OK);
  mproc_process_t *p[kNowaitWorkers];
  for (auto &w : p) w = Start(GetParam(), nowait_putter_task, {q, go});
  mproc_sleep(0.2);
  ASSERT_EQ(mproc_event_set(go), MPROC_OK);
  for (auto &w : p) EXPECT_EQ(Finish(w), 0) << "put_nowait said Full";
  size_t n = 0;
  ASSERT_EQ(mproc_queue_qsize(q, &n), MPROC_OK);
  EXPECT_EQ(n, static_cast<size_t>(kNowaitWorkers * kNowaitItems));
  mproc_event_free(go);
  mproc_queue_free(q);
}

TEST_P(AuditIpc, GetNowaitOnAQueueWithItemsIsNeverEmpty) {
  mproc_queue_t *q;
  ASSERT_EQ(mproc_queue_create(&q, 0, 0), MPROC_OK);
  for (int i = 0; i < kNowaitWorkers * kNowaitItems; i++)
    ASSERT_EQ(mproc_queue_put_bytes(q, &i, sizeof i, 0), MPROC_OK);
  mproc_event_t *go;
  ASSERT_EQ(mproc_event_create(&go), MPROC_OK);
  mproc_process_t *p[kNowaitWorkers];
  for (auto &w : p) w = Start(GetParam(), nowait_getter_task, {q, go});
  mproc_sleep(0.2);
  ASSERT_EQ(mproc_event_set(go), MPROC_OK);
  for (auto &w : p) EXPECT_EQ(Finish(w), 0) << "get_nowait said Empty";
  int empty = 0;
  ASSERT_EQ(mproc_queue_empty(q, &empty), MPROC_OK);
  EXPECT_EQ(empty, 1);
  mproc_event_free(go);
  mproc_queue_free(q);
}

// Child: waits in put (holding the producers' lock) on a full queue.
MPROC_TASK(blocked_putter_task) {
  (void)arg, (void)arg_len;
  mproc_queue_t *q = Attached<mproc_queue_t>(0);
  return mproc_queue_put_bytes(q, "x", 1, MPROC_FOREVER) == MPROC_OK ? 5 : 6;
}

// Child: waits in get (holding the consumers' lock) on an empty queue.
MPROC_TASK(blocked_taker_task) {
  (void)arg, (void)arg_len;
  mproc_queue_t *q = Attached<mproc_queue_t>(0);
  void *data;
  size_t len;
  mproc_status_t st = mproc_queue_get_bytes(q, &data, &len, MPROC_FOREVER);
  if (st == MPROC_OK) free(data);
  return st == MPROC_OK ? 5 : 6;
}

// A producer waiting for room holds the lock: then the queue really is
// full, and put_nowait says so at once rather than waiting for the lock.
TEST_P(AuditIpc, NowaitCallsBehindAWaitingHolderAnswerFullAndEmpty) {
  mproc_queue_t *q;
  ASSERT_EQ(mproc_queue_create(&q, 1, 0), MPROC_OK);
  ASSERT_EQ(mproc_queue_put_bytes(q, "a", 1, 0), MPROC_OK);
  mproc_process_t *putter = Start(GetParam(), blocked_putter_task, {q});
  mproc_sleep(0.5);  // let it reach its wait (either way the answer holds)
  auto t = std::chrono::steady_clock::now();
  EXPECT_EQ(mproc_queue_put_bytes(q, "b", 1, 0), MPROC_EFULL);
  EXPECT_LT(Since(t), 5.0);
  char c;
  size_t len;
  ASSERT_EQ(mproc_queue_get_bytes_into(q, &c, 1, &len, 10), MPROC_OK);
  EXPECT_EQ(Finish(putter), 5);
  ASSERT_EQ(mproc_queue_get_bytes_into(q, &c, 1, &len, 10), MPROC_OK);
  EXPECT_EQ(c, 'x');

  mproc_process_t *taker = Start(GetParam(), blocked_taker_task, {q});
  mproc_sleep(0.5);
  t = std::chrono::steady_clock::now();
  EXPECT_EQ(mproc_queue_get_bytes_into(q, &c, 1, &len, 0), MPROC_EEMPTY);
  EXPECT_LT(Since(t), 5.0);
  ASSERT_EQ(mproc_queue_put_bytes(q, "y", 1, 10), MPROC_OK);
  EXPECT_EQ(Finish(taker), 5);
  mproc_queue_free(q);
}

// ---- #13: one object attached twice ---------------------------------------

// Child: the queue is attached at 0 and 1, a pipe end to report on at 2.
// It frees view 0, opens a new pipe (which may take the number of the
// descriptor just closed), frees view 1, and checks the new pipe and the
// report end still work. Exit 0 when all did.
MPROC_TASK(queue_twice_task) {
  (void)arg, (void)arg_len;
  mproc_queue_t *a = Attached<mproc_queue_t>(0);
  mproc_queue_t *b = Attached<mproc_queue_t>(1);
  mproc_connection_t *report = Attached<mproc_connection_t>(2);
  if (!a || !b || !report) return 1;
  if (mproc_queue_put_bytes(b, "from b", 6, 10) != MPROC_OK) return 2;
  if (b != a) mproc_queue_free(a);
  mproc_connection_t *r, *w;
  if (mproc_pipe(&r, &w, 1) != MPROC_OK) return 3;
  if (mproc_queue_put_bytes(b, "still b", 7, 10) != MPROC_OK) return 4;
  mproc_queue_free(b);
  if (mproc_connection_send_bytes(w, "x", 1, 0, MPROC_REST, 10) != MPROC_OK)
    return 5;  // the second free closed the new pipe
  char c;
  size_t len;
  if (mproc_connection_recv_bytes_into(r, &c, 1, 0, &len, 10) != MPROC_OK)
    return 6;
  mproc_connection_free(r);
  mproc_connection_free(w);
  return mproc_connection_send_bytes(report, "ok", 2, 0, MPROC_REST, 10) ==
                 MPROC_OK ? 0 : 7;
}

TEST_P(AuditIpc, QueueAttachedTwiceGivesTwoViewsThatFreeIndependently) {
  mproc_queue_t *q;
  ASSERT_EQ(mproc_queue_create(&q, 0, 0), MPROC_OK);
  mproc_connection_t *r, *w;
  ASSERT_EQ(mproc_pipe(&r, &w, 0), MPROC_OK);
  mproc_process_t *p = Start(GetParam(), queue_twice_task, {q, q, w});
  EXPECT_EQ(Finish(p), 0);
  char buf[16];
  size_t len = 0;
  ASSERT_EQ(mproc_queue_get_bytes_into(q, buf, sizeof buf, &len, 10),
            MPROC_OK);
  EXPECT_EQ(std::string(buf, len), "from b");
  ASSERT_EQ(mproc_queue_get_bytes_into(q, buf, sizeof buf, &len, 10),
            MPROC_OK);
  EXPECT_EQ(std::string(buf, len), "still b");
  ASSERT_EQ(mproc_connection_recv_bytes_into(r, buf, sizeof buf, 0, &len, 10),
            MPROC_OK);
  EXPECT_EQ(std::string(buf, len), "ok");
  mproc_connection_free(r);
  mproc_connection_free(w);
  mproc_queue_free(q);
}

// Child: one write end attached at 0 and 1, an event at 2. Sends on each
// view and frees it, then waits for the event: meanwhile the parent must
// see end of stream, i.e. no copy of the end is left open in the child.
MPROC_TASK(connection_twice_task) {
  (void)arg, (void)arg_len;
  mproc_connection_t *a = Attached<mproc_connection_t>(0);
  mproc_connection_t *b = Attached<mproc_connection_t>(1);
  mproc_event_t *done = Attached<mproc_event_t>(2);
  if (!a || !b || !done) return 1;
  if (mproc_connection_send_bytes(a, "one", 3, 0, MPROC_REST, 10) != MPROC_OK)
    return 2;
  if (b != a) mproc_connection_free(a);
  if (mproc_connection_send_bytes(b, "two", 3, 0, MPROC_REST, 10) != MPROC_OK)
    return 3;  // freeing the first view closed the second's handle
  mproc_connection_free(b);
  return mproc_event_wait(done, 60) == MPROC_OK ? 0 : 4;
}

TEST_P(AuditIpc, ConnectionAttachedTwiceGivesTwoViewsAndNoHiddenCopy) {
  mproc_connection_t *r, *w;
  ASSERT_EQ(mproc_pipe(&r, &w, 0), MPROC_OK);
  mproc_event_t *done;
  ASSERT_EQ(mproc_event_create(&done), MPROC_OK);
  mproc_process_t *p = Start(GetParam(), connection_twice_task, {w, w, done});
  mproc_connection_free(w);  // the child's views are the only writers now
  char buf[8];
  size_t len = 0;
  ASSERT_EQ(mproc_connection_recv_bytes_into(r, buf, sizeof buf, 0, &len, 30),
            MPROC_OK);
  EXPECT_EQ(std::string(buf, len), "one");
  EXPECT_EQ(mproc_connection_recv_bytes_into(r, buf, sizeof buf, 0, &len, 30),
            MPROC_OK);
  EXPECT_EQ(std::string(buf, len), "two");
  EXPECT_EQ(mproc_connection_recv_bytes_into(r, buf, sizeof buf, 0, &len, 30),
            MPROC_EOF)
      << "the child still holds a copy of the write end";
  mproc_event_set(done);
  EXPECT_EQ(Finish(p), 0);
  mproc_event_free(done);
  mproc_connection_free(r);
}

// ---- #3: the listener's handshake is bounded, whatever accept's timeout --

constexpr char kKey[] = "audit key";

struct AddressArg {
  char address[200];
};

// Child: a proper client; says hello, expects bye. 0 when all went well.
MPROC_TASK(keyed_client_task) {
  const AddressArg *a = static_cast<const AddressArg *>(arg);
  (void)arg_len;
  mproc_connection_t *c;
  mproc_status_t st = mproc_client(&c, a->address, kKey, strlen(kKey), 30);
  if (st != MPROC_OK) return 10 + st;
  mproc_obj_t *hello = Str("hello"), *reply = nullptr;
  st = mproc_connection_send(c, hello, 30);
  if (st == MPROC_OK) st = mproc_connection_recv(c, &reply, 30);
  int code = st != MPROC_OK ? 50 + st : Repr(reply) == "'bye'" ? 0 : 3;
  mproc_obj_free(hello);
  mproc_obj_free(reply);
  mproc_connection_free(c);
  return code;
}

mproc_listener_t *KeyedListener(double handshake_timeout) {
  mproc_listener_t *l = nullptr;
  EXPECT_EQ(mproc_listener_create(&l, nullptr, kKey, strlen(kKey)), MPROC_OK)
      << mproc_last_error();
  EXPECT_EQ(mproc_listener_set_handshake_timeout(l, handshake_timeout),
            MPROC_OK);
  return l;
}

std::string UnixPath(mproc_listener_t *l) {
  const char *a = nullptr;
  mproc_listener_address(l, &a);
  std::string s = a;
  return s.rfind("unix:", 0) == 0 ? s.substr(5) : s;
}

// A raw client on the listener's socket, to send what no mproc client does.
int RawConnect(mproc_listener_t *l) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un a = {};
  a.sun_family = AF_UNIX;
  snprintf(a.sun_path, sizeof a.sun_path, "%s", UnixPath(l).c_str());
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof a), 0);
  return fd;
}

// Runs accept(timeout) on another thread; the status, or -1 when it had not
// returned within `bound` seconds (then *c is left for the caller).
struct AcceptResult {
  int status;
  mproc_connection_t *c;
};
std::future<AcceptResult> AcceptAsync(mproc_listener_t *l, double timeout) {
  return std::async(std::launch::async, [l, timeout] {
    AcceptResult r = {0, nullptr};
    r.status = mproc_listener_accept(l, &r.c, timeout);
    return r;
  });
}

bool ReturnsWithin(std::future<AcceptResult> &f, double seconds) {
  return f.wait_for(std::chrono::duration<double>(seconds)) ==
         std::future_status::ready;
}

// Talks to a keyed_client_task on c: hello in, bye out.
void ServeHello(mproc_connection_t *c) {
  mproc_obj_t *v = nullptr;
  ASSERT_EQ(mproc_connection_recv(c, &v, 30), MPROC_OK);
  EXPECT_EQ(ReprFree(v), "'hello'");
  mproc_obj_t *bye = Str("bye");
  EXPECT_EQ(mproc_connection_send(c, bye, 30), MPROC_OK);
  mproc_obj_free(bye);
}

// A client that connects and says nothing used to hold accept(FOREVER)
// for ever, and the proper client queued behind it was never served.
TEST_P(AuditIpc, AcceptForeverDropsASilentClientAndServesTheNext) {
  // Generous: the proper client, a running child, must answer within it.
  mproc_listener_t *l = KeyedListener(3.0);
  mproc_connection_t *silent = nullptr;  // keyless: connects, sends nothing
  const char *address;
  mproc_listener_address(l, &address);
  ASSERT_EQ(mproc_client(&silent, address, nullptr, 0, 10), MPROC_OK);
  AddressArg a = {};
  snprintf(a.address, sizeof a.address, "%s", address);
  mproc_process_t *p = Start(GetParam(), keyed_client_task, {}, &a, sizeof a);
  auto done = AcceptAsync(l, MPROC_FOREVER);
  bool returned = ReturnsWithin(done, 30);
  EXPECT_TRUE(returned) << "accept(FOREVER) is held by a silent client";
  mproc_connection_free(silent);  // unblocks a stuck accept
  AcceptResult r = done.get();
  EXPECT_EQ(r.status, MPROC_OK) << mproc_last_error();
  if (r.status == MPROC_OK) ServeHello(r.c);
  mproc_connection_free(r.c);
  mproc_listener_free(l);  // a child still waiting for a server sees EOF
  EXPECT_EQ(Finish(p), 0);
}

// Serves one proper client from a thread of this process after the bad
// one; returns the client's status.
std::future<int> ProperClientAsync(mproc_listener_t *l) {
  const char *address;
  mproc_listener_address(l, &address);
  std::string addr = address;
  return std::async(std::launch::async, [addr] {
    mproc_connection_t *c = nullptr;
    int st = mproc_client(&c, addr.c_str(), kKey, strlen(kKey), 30);
    mproc_connection_free(c);
    return st;
  });
}

// Half a length header, then nothing: dropped at the handshake deadline;
// accept(FOREVER) goes on to the next client.
TEST(AuditListener, ClientStallingInMidMessageIsDroppedAndTheNextServed) {
  mproc_listener_t *l = KeyedListener(2.0);
  int fd = RawConnect(l);
  auto t = std::chrono::steady_clock::now();
  ASSERT_EQ(write(fd, "\0\0", 2), 2);
  auto client = ProperClientAsync(l);
  auto done = AcceptAsync(l, MPROC_FOREVER);
  bool returned = ReturnsWithin(done, 30);
  EXPECT_TRUE(returned) << "accept(FOREVER) is held by a stalled client";
  close(fd);
  AcceptResult r = done.get();
  EXPECT_EQ(r.status, MPROC_OK) << mproc_last_error();
  EXPECT_GE(Since(t), 2.0);  // the stalled one had its deadline
  mproc_connection_free(r.c);
  EXPECT_EQ(client.get(), MPROC_OK);
  mproc_listener_free(l);
}

// A length prefix announcing 2 GiB (or 2^62 bytes): refused as an
// oversized handshake message at once, nothing allocated or awaited.
TEST(AuditListener, HugeLengthPrefixIsRefusedAtOnce) {
  const std::vector<std::string> prefixes = {
      std::string("\x7f\xff\xff\xff", 4),
      std::string("\xff\xff\xff\xff\x40\0\0\0\0\0\0\0", 12)};
  for (const std::string &prefix : prefixes) {
    mproc_listener_t *l = KeyedListener(30);
    int fd = RawConnect(l);
    ASSERT_EQ(write(fd, prefix.data(), prefix.size()),
              (ssize_t)prefix.size());
    auto done = AcceptAsync(l, MPROC_FOREVER);
    bool returned = ReturnsWithin(done, 10);
    EXPECT_TRUE(returned) << "accept waits for a 2 GiB handshake message";
    close(fd);
    AcceptResult r = done.get();
    EXPECT_EQ(r.status, MPROC_EAUTH) << mproc_last_error();
    mproc_connection_free(r.c);
    // The listener is fine: the next proper client is served.
    auto client = ProperClientAsync(l);
    r = AcceptResult{mproc_listener_accept(l, &r.c, 30), nullptr};
    EXPECT_EQ(r.status, MPROC_OK) << mproc_last_error();
    EXPECT_EQ(client.get(), MPROC_OK);
    mproc_listener_free(l);
  }
}

// accept with timeout 0 or a finite timeout and a silent client: returns
// ETIMEDOUT at the handshake deadline (not the caller's, which is shorter).
TEST(AuditListener, AcceptWithShortTimeoutAndASilentClientIsBounded) {
  for (double timeout : {0.0, 0.2}) {
    mproc_listener_t *l = KeyedListener(0.5);
    int fd = RawConnect(l);
    auto t = std::chrono::steady_clock::now();
    auto done = AcceptAsync(l, timeout);
    bool returned = ReturnsWithin(done, 10);
    EXPECT_TRUE(returned) << "accept(" << timeout << ") with a silent client";
    close(fd);
    AcceptResult r = done.get();
    EXPECT_EQ(r.status, MPROC_ETIMEDOUT) << mproc_last_error();
    EXPECT_GE(Since(t), 0.5);
    mproc_listener_free(l);
  }
}

// A raw server (a Unix socket that accepts and then sends what it is told)
// for the client's side of the handshake.
struct RawServer {
  std::string path;
  int fd = -1;
  explicit RawServer(const std::string &tag) {
    path = "/tmp/mproc-audit-" + tag + "-" + std::to_string(getpid());
    unlink(path.c_str());
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {};
    a.sun_family = AF_UNIX;
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
    EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof a), 0);
    EXPECT_EQ(listen(fd, 8), 0);
  }
  ~RawServer() {
    close(fd);
    unlink(path.c_str());
  }
};

// mproc_client with a timeout against a server that is silent, stalls in
// mid-message or announces a huge challenge: bounded, every time.
TEST(AuditListener, ClientHandshakeAgainstABadServerIsBounded) {
  const std::vector<std::string> sends = {
      "", std::string("\0\0", 2), std::string("\x7f\xff\xff\xff", 4)};
  const mproc_status_t expect[] = {MPROC_ETIMEDOUT, MPROC_ETIMEDOUT,
                                   MPROC_EAUTH};
  for (size_t i = 0; i < sends.size(); i++) {
    RawServer server("client" + std::to_string(i));
    auto client = std::async(std::launch::async, [&server] {
      mproc_connection_t *c = nullptr;
      int st = mproc_client(&c, ("unix:" + server.path).c_str(),
                            kKey, strlen(kKey), 0.5);
      mproc_connection_free(c);
      return st;
    });
    int peer = accept(server.fd, nullptr, nullptr);
    ASSERT_GE(peer, 0);
    if (!sends[i].empty()) {
      ASSERT_EQ(write(peer, sends[i].data(), sends[i].size()),
                (ssize_t)sends[i].size());
    }
    bool returned = client.wait_for(std::chrono::seconds(10)) ==
                    std::future_status::ready;
    EXPECT_TRUE(returned) << "client handshake case " << i;
    close(peer);
    EXPECT_EQ(client.get(), expect[i]) << "case " << i;
  }
}

TEST(AuditListener, HandshakeTimeoutMustBeFiniteAndPositive) {
  mproc_listener_t *l = KeyedListener(1);
  EXPECT_EQ(mproc_listener_set_handshake_timeout(l, 0), MPROC_EINVAL);
  EXPECT_EQ(mproc_listener_set_handshake_timeout(l, -1), MPROC_EINVAL);
  EXPECT_EQ(mproc_listener_set_handshake_timeout(l, std::nan("")),
            MPROC_EINVAL);
  EXPECT_EQ(mproc_listener_set_handshake_timeout(l, INFINITY), MPROC_EINVAL);
  EXPECT_EQ(mproc_listener_set_handshake_timeout(nullptr, 1), MPROC_EINVAL);
  EXPECT_EQ(mproc_listener_set_handshake_timeout(l, 0.25), MPROC_OK);
  mproc_process_t *p = nullptr;
  ASSERT_EQ(mproc_process_create(&p, nullptr, keyed_client_task, nullptr, 0),
            MPROC_OK);
  EXPECT_EQ(mproc_process_attach(p, l), MPROC_EINVAL);  // not shareable
  mproc_process_free(p);
  mproc_listener_free(l);
}

// ---- #6: socket files: removed at exit, and only by their creator --------

bool PathExists(const std::string &path) { return access(path.c_str(), F_OK) == 0; }

// Held to the end, never closed (static: not a leak to LeakSanitizer).
mproc_listener_t *never_closed_listener;

// Child: makes a listener on a fresh path, reports the path on the
// attached end, and returns without closing the listener.
MPROC_TASK(leaky_listener_task) {
  (void)arg, (void)arg_len;
  mproc_connection_t *report = Attached<mproc_connection_t>(0);
  mproc_listener_t *&l = never_closed_listener;
  if (mproc_listener_create(&l, nullptr, nullptr, 0) != MPROC_OK) return 1;
  const char *address;
  mproc_listener_address(l, &address);
  return mproc_connection_send_bytes(report, address, strlen(address), 0,
                                     MPROC_REST, 10) == MPROC_OK ? 0 : 2;
}

TEST_P(AuditIpc, ListenerNotClosedBeforeExitLeavesNoSocketFile) {
  mproc_connection_t *r, *w;
  ASSERT_EQ(mproc_pipe(&r, &w, 0), MPROC_OK);
  mproc_process_t *p = Start(GetParam(), leaky_listener_task, {w});
  char buf[300];
  size_t len = 0;
  ASSERT_EQ(mproc_connection_recv_bytes_into(r, buf, sizeof buf - 1, 0, &len,
                                             30), MPROC_OK);
  EXPECT_EQ(Finish(p), 0);
  std::string path = std::string(buf, len).substr(5);  // "unix:..."
  EXPECT_FALSE(PathExists(path)) << path << " left behind";
  unlink(path.c_str());
  mproc_connection_free(r);
  mproc_connection_free(w);
}

struct InheritedListenerArg {
  mproc_listener_t *listener;  // meaningful in a forked child only
};

// Forked child: closes its inherited copy of the parent's listener, exits.
MPROC_TASK(close_inherited_listener_task) {
  const InheritedListenerArg *a = static_cast<const InheritedListenerArg *>(arg);
  (void)arg_len;
  return mproc_listener_free(a->listener) == MPROC_OK ? 0 : 1;
}

// Exits without touching it (its exit duties must leave it alone too).
MPROC_TASK(ignore_inherited_listener_task) {
  (void)arg, (void)arg_len;
  return 0;
}

// Only the process that bound a socket path removes it: a forked child
// closing its copy of the listener, or just exiting, leaves the parent's
// listener reachable.
TEST(AuditListener, ForkedChildNeverRemovesItsParentsSocketFile) {
  bool can_fork = false;
  for (const char *const *m = mproc_all_start_methods(); *m; m++)
    can_fork = can_fork || strcmp(*m, "fork") == 0;
  if (!can_fork) GTEST_SKIP() << "no fork on this platform";
  mproc_listener_t *l;
  ASSERT_EQ(mproc_listener_create(&l, nullptr, nullptr, 0), MPROC_OK);
  std::string path = UnixPath(l);
  InheritedListenerArg a = {l};
  for (mproc_task_fn task :
       {close_inherited_listener_task, ignore_inherited_listener_task}) {
    mproc_process_t *p = Start("fork", task, {}, &a, sizeof a);
    EXPECT_EQ(Finish(p), 0);
    EXPECT_TRUE(PathExists(path)) << "a forked child removed " << path;
    const char *address;
    mproc_listener_address(l, &address);
    mproc_connection_t *c = nullptr, *s = nullptr;
    EXPECT_EQ(mproc_client(&c, address, nullptr, 0, 10), MPROC_OK)
        << mproc_last_error();
    EXPECT_EQ(mproc_listener_accept(l, &s, 10), MPROC_OK);
    mproc_connection_free(c);
    mproc_connection_free(s);
  }
  mproc_listener_free(l);
  EXPECT_FALSE(PathExists(path)) << "close by the creator removes it";
}

INSTANTIATE_TEST_SUITE_P(Methods, AuditIpc, MPROC_START_METHOD_CSTRS);

}  // namespace
