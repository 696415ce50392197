// SPDX-License-Identifier: Apache-2.0
// Listener/Client: Unix and TCP addresses, the authkey handshake both ways
// (right, wrong, missing), a client in a child under every start method (fork, spawn, forkserver).
#include <gtest/gtest.h>

#include "tests/start_methods.h"

#include <chrono>
#include <cstring>
#include <string>

#include "mproc.h"
#include "tests/test_util.h"
#include "tests/ipc_test_util.h"

using namespace ipc_test;

namespace {

constexpr char kKey[] = "secret key";

struct ClientArg {
  char address[200];
  char key[32];  // empty: no key
};

// Child: connects, sends 'hello', expects 'bye' back. Exit code says how
// far it got (0: all; 10 + status: the connection failed).
MPROC_TASK(client_task) {
  const ClientArg *a = static_cast<const ClientArg *>(arg);
  (void)arg_len;
  mproc_connection_t *c;
  size_t klen = strlen(a->key);
  mproc_status_t st =
      mproc_client(&c, a->address, klen ? a->key : nullptr, klen, 10);
  if (st != MPROC_OK) return 10 + st;
  mproc_obj_t *hello = Str("hello"), *reply = nullptr;
  st = mproc_connection_send(c, hello, 10);
  if (st == MPROC_OK) st = mproc_connection_recv(c, &reply, 10);
  int code = st != MPROC_OK ? 50 + st : Repr(reply) == "'bye'" ? 0 : 3;
  mproc_obj_free(hello);
  mproc_obj_free(reply);
  mproc_connection_free(c);
  return code;
}

class ListenerTest : public ::testing::TestWithParam<const char *> {
 protected:
  // Listens on address with key, runs client_task with client_key, and
  // returns the accept status; on success it talks to the client.
  mproc_status_t Run(const char *address, const char *key,
                     const char *client_key, int *client_code) {
    mproc_listener_t *l;
    EXPECT_EQ(mproc_listener_create(&l, address, key,
                                    key ? strlen(key) : 0), MPROC_OK)
        << mproc_last_error();
    ClientArg a = {};
    const char *bound;
    mproc_listener_address(l, &bound);
    snprintf(a.address, sizeof a.address, "%s", bound);
    snprintf(a.key, sizeof a.key, "%s", client_key ? client_key : "");
    mproc_process_t *p = Start(GetParam(), client_task, {}, &a, sizeof a);
    mproc_connection_t *c = nullptr;
    mproc_status_t st = mproc_listener_accept(l, &c, 10);
    if (st == MPROC_OK) {
      mproc_obj_t *v;
      EXPECT_EQ(mproc_connection_recv(c, &v, 10), MPROC_OK);
      EXPECT_EQ(ReprFree(v), "'hello'");
      mproc_obj_t *bye = Str("bye");
      EXPECT_EQ(mproc_connection_send(c, bye, 10), MPROC_OK);
      mproc_obj_free(bye);
    }
    mproc_connection_free(c);
    mproc_listener_free(l);  // a waiting client sees EOF
    *client_code = Finish(p);
    return st;
  }
};

TEST_P(ListenerTest, RightKeyOverUnixSocket) {
  int code;
  EXPECT_EQ(Run(nullptr, kKey, kKey, &code), MPROC_OK);
  EXPECT_EQ(code, 0);
}

TEST_P(ListenerTest, RightKeyOverTcpLoopback) {
  int code;
  EXPECT_EQ(Run("127.0.0.1:0", kKey, kKey, &code), MPROC_OK);
  EXPECT_EQ(code, 0);
}

TEST_P(ListenerTest, NoKeyOnEitherSide) {
  int code;
  EXPECT_EQ(Run("127.0.0.1:0", nullptr, nullptr, &code), MPROC_OK);
  EXPECT_EQ(code, 0);
}

TEST_P(ListenerTest, WrongKeyIsRejectedOnBothSides) {
  int code;
  EXPECT_EQ(Run(nullptr, kKey, "another key", &code), MPROC_EAUTH);
  EXPECT_EQ(code, 10 + MPROC_EAUTH);
}

TEST_P(ListenerTest, MissingKeyIsRejectedBeforeThePayloadIsRead) {
  int code;
  // The keyless client sends its payload at once; the server takes it for
  // the answer to its challenge, refuses it, and never delivers it.
  EXPECT_EQ(Run(nullptr, kKey, nullptr, &code), MPROC_EAUTH);
  EXPECT_NE(code, 0);
}

INSTANTIATE_TEST_SUITE_P(Methods, ListenerTest,
                         MPROC_START_METHOD_CSTRS);

TEST(Listener, BadArguments) {
  mproc_listener_t *l;
  mproc_connection_t *c;
  EXPECT_EQ(mproc_listener_create(nullptr, nullptr, nullptr, 0), MPROC_EINVAL);
  EXPECT_EQ(mproc_listener_create(&l, "nocolon", nullptr, 0), MPROC_EINVAL);
  EXPECT_EQ(mproc_listener_create(&l, "127.0.0.1:99999", nullptr, 0),
            MPROC_EINVAL);
  EXPECT_EQ(mproc_listener_create(&l, nullptr, nullptr, 3), MPROC_EINVAL);
  EXPECT_EQ(mproc_listener_create(&l, nullptr, "k", 0), MPROC_EINVAL);
  EXPECT_EQ(mproc_client(&c, nullptr, nullptr, 0, 1), MPROC_EINVAL);
  EXPECT_EQ(mproc_client(&c, mproc_test::UnusedLocalAddress().c_str(), nullptr,
                         0, 1),
            MPROC_ESYS);
  ASSERT_EQ(mproc_listener_create(&l, "127.0.0.1:0", nullptr, 0), MPROC_OK);
  auto t = std::chrono::steady_clock::now();
  EXPECT_EQ(mproc_listener_accept(l, &c, 0.1), MPROC_ETIMEDOUT);
  EXPECT_GE(std::chrono::duration<double>(std::chrono::steady_clock::now() - t)
                .count(), 0.1);
  EXPECT_EQ(mproc_listener_accept(l, nullptr, 0.1), MPROC_EINVAL);
  EXPECT_EQ(mproc_listener_free(l), MPROC_OK);
  EXPECT_EQ(mproc_listener_close(nullptr), MPROC_EINVAL);
  EXPECT_EQ(mproc_listener_free(nullptr), MPROC_OK);
}

// CPython's Listener.close: no longer listening (the Unix path is gone, a
// client is refused), the address still readable; free releases it.
TEST(Listener, CloseStopsListeningFreeReleases) {
  mproc_listener_t *l;
  ASSERT_EQ(mproc_listener_create(&l, nullptr, nullptr, 0), MPROC_OK);
  const char *address = nullptr;
  ASSERT_EQ(mproc_listener_address(l, &address), MPROC_OK);
  std::string saved = address;
  EXPECT_EQ(mproc_listener_close(l), MPROC_OK);
  EXPECT_EQ(mproc_listener_close(l), MPROC_OK);  // twice is fine
  ASSERT_EQ(mproc_listener_address(l, &address), MPROC_OK);
  EXPECT_EQ(saved, address);
  mproc_connection_t *c = nullptr;
  EXPECT_EQ(mproc_listener_accept(l, &c, 0), MPROC_ESTATE);
  EXPECT_EQ(mproc_listener_set_handshake_timeout(l, 1), MPROC_ESTATE);
  EXPECT_EQ(mproc_client(&c, saved.c_str(), nullptr, 0, 1), MPROC_ESYS)
      << "nobody listens there any more";
  EXPECT_EQ(mproc_listener_free(l), MPROC_OK);
  EXPECT_EQ(mproc_listener_free(l), MPROC_EINVAL);  // stale
}

}  // namespace
