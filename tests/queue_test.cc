// SPDX-License-Identifier: Apache-2.0
// Queue, SimpleQueue and JoinableQueue across processes under fork and
// spawn: Empty/Full, timeouts, FIFO, many producers and consumers with every
// item accounted for, SIGKILL of a producer and of a consumer mid-stream,
// joining a producer before draining, a side's lockless owner handing
// over to a second user (and dying in mid-put), and bad arguments.
#include <gtest/gtest.h>

#include "tests/start_methods.h"

#include <chrono>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "core/queue_testing.h"
#include "mproc.h"
#include "tests/ipc_test_util.h"

using namespace ipc_test;

namespace {

double Elapsed(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since)
      .count();
}

// A 64-byte item: producer id, sequence number, and a pattern derived from
// both, so a torn or mixed-up item is detected.
struct Item {
  uint32_t producer;
  uint32_t seq;
  uint32_t pattern[14];
};

Item MakeItem(uint32_t producer, uint32_t seq) {
  Item it;
  it.producer = producer;
  it.seq = seq;
  for (int i = 0; i < 14; i++) it.pattern[i] = producer * 2654435761u ^ seq ^ i;
  return it;
}

bool ItemIntact(const Item &it) {
  Item expect = MakeItem(it.producer, it.seq);
  return memcmp(&expect, &it, sizeof it) == 0;
}

struct ProducerArg {
  uint32_t id;
  uint32_t count;  // 0: forever
};

// Child: puts count items (then an empty sentinel item), or forever.
MPROC_TASK(producer_task) {
  const ProducerArg *a = static_cast<const ProducerArg *>(arg);
  (void)arg_len;
  mproc_queue_t *q = Attached<mproc_queue_t>(0);
  for (uint32_t seq = 0; a->count == 0 || seq < a->count; seq++) {
    Item it = MakeItem(a->id, seq);
    if (mproc_queue_put_bytes(q, &it, sizeof it, 60) != MPROC_OK) return 1;
  }
  return mproc_queue_put_bytes(q, "", 0, 60) == MPROC_OK ? 0 : 2;
}

constexpr int kProducers = 4, kConsumers = 4;
constexpr uint32_t kPerProducer = 100000;

// Child: gets items until one empty sentinel; checks each item and the
// FIFO order per producer; reports a bitmap of what it got to results.
MPROC_TASK(consumer_task) {
  (void)arg, (void)arg_len;
  mproc_queue_t *q = Attached<mproc_queue_t>(0);
  mproc_queue_t *results = Attached<mproc_queue_t>(1);
  std::vector<uint8_t> seen(kProducers * kPerProducer / 8, 0);
  int64_t last[kProducers] = {-1, -1, -1, -1};
  for (;;) {
    Item it;
    size_t len;
    if (mproc_queue_get_bytes_into(q, &it, sizeof it, &len, 60) != MPROC_OK)
      return 1;
    if (len == 0) break;
    if (len != sizeof it || !ItemIntact(it) || it.producer >= kProducers ||
        it.seq >= kPerProducer)
      return 2;  // torn or foreign
    if ((int64_t)it.seq <= last[it.producer]) return 3;  // FIFO broken
    last[it.producer] = it.seq;
    size_t bit = it.producer * kPerProducer + it.seq;
    seen[bit / 8] |= (uint8_t)(1u << (bit % 8));
  }
  return mproc_queue_put_bytes(results, seen.data(), seen.size(), 60) ==
                 MPROC_OK ? 0 : 4;
}

// Child: gets items forever, reporting each sequence number on a pipe.
MPROC_TASK(reporting_consumer_task) {
  (void)arg, (void)arg_len;
  mproc_queue_t *q = Attached<mproc_queue_t>(0);
  mproc_connection_t *report = Attached<mproc_connection_t>(1);
  for (;;) {
    Item it;
    size_t len;
    if (mproc_queue_get_bytes_into(q, &it, sizeof it, &len, 60) != MPROC_OK)
      return 1;
    if (mproc_connection_send_bytes(report, &it.seq, sizeof it.seq, 0,
                                    MPROC_REST, 60) != MPROC_OK)
      return 2;
  }
}

// Child: puts 1000 items of 1 KiB (1 MiB, far more than a pipe holds).
MPROC_TASK(bulk_producer_task) {
  (void)arg, (void)arg_len;
  mproc_queue_t *q = Attached<mproc_queue_t>(0);
  std::vector<char> buf(1024);
  for (int i = 0; i < 1000; i++) {
    memset(buf.data(), i & 0xff, buf.size());
    if (mproc_queue_put_bytes(q, buf.data(), buf.size(), 60) != MPROC_OK)
      return 1;
  }
  return 0;
}

// Child: gets n values and marks each done (JoinableQueue).
MPROC_TASK(worker_task) {
  int n = *static_cast<const int *>(arg);
  (void)arg_len;
  mproc_queue_t *q = Attached<mproc_queue_t>(0);
  for (int i = 0; i < n; i++) {
    mproc_obj_t *v;
    if (mproc_queue_get(q, &v, 60) != MPROC_OK) return 1;
    mproc_obj_free(v);
    mproc_sleep(0.01);
    if (mproc_queue_task_done(q) != MPROC_OK) return 2;
  }
  return 0;
}

// Child: waits in get on an empty queue (holding the consumers' lock).
MPROC_TASK(blocked_getter_task) {
  (void)arg, (void)arg_len;
  mproc_queue_t *q = Attached<mproc_queue_t>(0);
  mproc_obj_t *v;
  return mproc_queue_get(q, &v, MPROC_FOREVER) == MPROC_OK ? 5 : 6;
}

// Child: puts items 0 and 1 (its second put goes without the lock: it is
// the put side's owner), then stalls in the put of item 2 between writing
// the record and committing it, to be killed there.
MPROC_TASK(stalling_producer_task) {
  (void)arg, (void)arg_len;
  mproc_queue_t *q = Attached<mproc_queue_t>(0);
  for (uint32_t seq = 0; seq < 2; seq++) {
    Item it = MakeItem(3, seq);
    if (mproc_queue_put_bytes(q, &it, sizeof it, 60) != MPROC_OK) return 1;
  }
  mp_queue_testing_stall_before_commit();
  Item it = MakeItem(3, 2);
  mproc_queue_put_bytes(q, &it, sizeof it, 60);
  return 2;  // never: the put stalls
}

// Whether q's put side (get side) still has a lockless owner.
int PutAlone(mproc_queue_t *q) {
  int put, get;
  EXPECT_EQ(mp_queue_testing_sides(q, &put, &get), MPROC_OK);
  return put;
}
int GetAlone(mproc_queue_t *q) {
  int put, get;
  EXPECT_EQ(mp_queue_testing_sides(q, &put, &get), MPROC_OK);
  return get;
}

class QueueTest : public ::testing::TestWithParam<const char *> {};

TEST_P(QueueTest, ConsumerKilledWhileWaitingInGetLeavesTheQueueUsable) {
  mproc_queue_t *q;
  ASSERT_EQ(mproc_queue_create(&q, 0, 0), MPROC_OK);
  mproc_process_t *p = Start(GetParam(), blocked_getter_task, {q});
  mproc_sleep(0.3);
  ASSERT_EQ(mproc_process_kill(p), MPROC_OK);
  EXPECT_EQ(Finish(p), -9);
  mproc_obj_t *x = Int(9), *v;
  ASSERT_EQ(mproc_queue_put(q, x, 1), MPROC_OK);
  ASSERT_EQ(mproc_queue_get(q, &v, 1), MPROC_OK) << mproc_last_error();
  EXPECT_EQ(ReprFree(v), "9");
  mproc_obj_free(x);
  mproc_queue_free(q);
}

TEST_P(QueueTest, ValuesCrossInFifoOrder) {
  mproc_queue_t *q;
  ASSERT_EQ(mproc_queue_create(&q, 0, 0), MPROC_OK);
  ProducerArg a = {7, 1000};
  mproc_process_t *p = Start(GetParam(), producer_task, {q}, &a, sizeof a);
  for (uint32_t seq = 0; seq < 1000; seq++) {
    Item it;
    size_t len;
    ASSERT_EQ(mproc_queue_get_bytes_into(q, &it, sizeof it, &len, 30),
              MPROC_OK);
    ASSERT_EQ(len, sizeof it);
    ASSERT_TRUE(ItemIntact(it));
    ASSERT_EQ(it.seq, seq);
  }
  mproc_obj_t *v;
  ASSERT_EQ(mproc_queue_get(q, &v, 30), MPROC_OK);  // the sentinel
  EXPECT_EQ(ReprFree(v), "b''");
  EXPECT_EQ(Finish(p), 0);
  mproc_queue_free(q);
}

TEST_P(QueueTest, FourProducersFourConsumersEveryItemOnce) {
  mproc_queue_t *q, *results;
  ASSERT_EQ(mproc_queue_create(&q, 0, 1 << 16), MPROC_OK);
  ASSERT_EQ(mproc_queue_create(&results, 0, 1 << 20), MPROC_OK);
  std::vector<mproc_process_t *> procs;
  for (int i = 0; i < kConsumers; i++)
    procs.push_back(Start(GetParam(), consumer_task, {q, results}));
  ProducerArg args[kProducers];
  for (int i = 0; i < kProducers; i++) {
    args[i] = {(uint32_t)i, kPerProducer};
    procs.push_back(
        Start(GetParam(), producer_task, {q}, &args[i], sizeof args[i]));
  }
  std::vector<uint8_t> all(kProducers * kPerProducer / 8, 0);
  bool duplicate = false;
  for (int i = 0; i < kConsumers; i++) {
    void *bitmap;
    size_t len;
    ASSERT_EQ(mproc_queue_get_bytes(results, &bitmap, &len, 120), MPROC_OK)
        << mproc_last_error();
    ASSERT_EQ(len, all.size());
    const uint8_t *b = static_cast<uint8_t *>(bitmap);
    for (size_t k = 0; k < len; k++) {
      duplicate |= (all[k] & b[k]) != 0;
      all[k] |= b[k];
    }
    free(bitmap);
  }
  EXPECT_FALSE(duplicate);
  size_t missing = 0;
  for (uint8_t byte : all) missing += 8 - __builtin_popcount(byte);
  EXPECT_EQ(missing, 0u);
  for (auto *p : procs) EXPECT_EQ(Finish(p), 0);
  mproc_queue_free(q);
  mproc_queue_free(results);
}

TEST_P(QueueTest, KilledProducerLosesNothingCommitted) {
  mproc_queue_t *q;
  // A small ring: the producer spends its life inside put, holding the
  // producers' lock while it waits for room, so the kill lands there.
  ASSERT_EQ(mproc_queue_create(&q, 0, 1024), MPROC_OK);
  ProducerArg a = {1, 0};
  mproc_process_t *p = Start(GetParam(), producer_task, {q}, &a, sizeof a);
  uint32_t expect = 0;
  Item it;
  size_t len;
  for (; expect < 2000; expect++) {
    ASSERT_EQ(mproc_queue_get_bytes_into(q, &it, sizeof it, &len, 30),
              MPROC_OK);
    ASSERT_EQ(it.seq, expect);
  }
  mproc_sleep(0.05);  // let it fill the ring and block in put
  ASSERT_EQ(mproc_process_kill(p), MPROC_OK);
  EXPECT_EQ(Finish(p), -9);
  // Whatever was committed comes out whole and in order; then it is empty.
  while (mproc_queue_get_bytes_into(q, &it, sizeof it, &len, 0) == MPROC_OK) {
    ASSERT_TRUE(ItemIntact(it));
    ASSERT_EQ(it.seq, expect++);
  }
  // The queue works for the living: the dead producer's lock is recovered.
  ProducerArg b = {2, 100};
  p = Start(GetParam(), producer_task, {q}, &b, sizeof b);
  for (uint32_t seq = 0; seq < 100; seq++) {
    ASSERT_EQ(mproc_queue_get_bytes_into(q, &it, sizeof it, &len, 30),
              MPROC_OK);
    ASSERT_EQ(it.producer, 2u);
    ASSERT_EQ(it.seq, seq);
  }
  EXPECT_EQ(Finish(p), 0);
  mproc_queue_free(q);
}

TEST_P(QueueTest, KilledConsumerLosesAtMostTheItemItHeld) {
  mproc_queue_t *q;
  mproc_connection_t *mine, *theirs;
  // Room for every item: after the kill nobody consumes until the end.
  ASSERT_EQ(mproc_queue_create(&q, 0, 1 << 20), MPROC_OK);
  ASSERT_EQ(mproc_pipe(&mine, &theirs, 0), MPROC_OK);
  mproc_process_t *c = Start(GetParam(), reporting_consumer_task, {q, theirs});
  mproc_connection_close(theirs);
  const uint32_t total = 10000;
  std::vector<int> got(total, 0);
  size_t reported = 0;
  uint32_t s;
  size_t len;
  // Reads the consumer's reports (waiting up to timeout for the first).
  auto drain_reports = [&](double timeout) {
    int ready = 0;
    while (mproc_connection_poll(mine, &ready, timeout) == MPROC_OK && ready &&
           mproc_connection_recv_bytes_into(mine, &s, sizeof s, 0, &len, 0) ==
               MPROC_OK) {
      got[s]++;
      reported++;
      timeout = 0;
    }
  };
  for (uint32_t seq = 0; seq < total; seq++) {
    Item it = MakeItem(0, seq);
    ASSERT_EQ(mproc_queue_put_bytes(q, &it, sizeof it, 30), MPROC_OK);
    if (c) drain_reports(0);
    if (seq == total / 2) {  // kill it in mid-stream
      drain_reports(30);
      ASSERT_EQ(mproc_process_kill(c), MPROC_OK);
      EXPECT_EQ(Finish(c), -9);
      c = nullptr;
      drain_reports(0);
    }
  }
  Item it;
  while (mproc_queue_get_bytes_into(q, &it, sizeof it, &len, 0) == MPROC_OK) {
    ASSERT_TRUE(ItemIntact(it));
    got[it.seq]++;
  }
  size_t lost = 0;
  for (uint32_t k = 0; k < total; k++) {
    ASSERT_LE(got[k], 1) << "item " << k << " twice";
    lost += got[k] == 0;
  }
  EXPECT_LE(lost, 1u);
  EXPECT_GT(reported, 0u);
  mproc_connection_free(mine);
  mproc_connection_free(theirs);
  mproc_queue_free(q);
}

TEST_P(QueueTest, JoiningAProducerBeforeDrainingDoesNotDeadlock) {
  mproc_queue_t *q;
  ASSERT_EQ(mproc_queue_create(&q, 0, 0), MPROC_OK);
  mproc_process_t *p = Start(GetParam(), bulk_producer_task, {q});
  EXPECT_EQ(Finish(p, 30), 0);  // CPython's documented trap: no hang here
  size_t n;
  ASSERT_EQ(mproc_queue_qsize(q, &n), MPROC_OK);
  EXPECT_EQ(n, 1000u);
  for (int i = 0; i < 1000; i++) {
    char buf[1024];
    size_t len;
    ASSERT_EQ(mproc_queue_get_bytes_into(q, buf, sizeof buf, &len, 0),
              MPROC_OK);
    ASSERT_EQ(len, sizeof buf);
    ASSERT_EQ((unsigned char)buf[1023], (unsigned char)(i & 0xff));
  }
  mproc_queue_free(q);
}

TEST_P(QueueTest, JoinableQueueJoinWaitsForTaskDone) {
  mproc_queue_t *q;
  ASSERT_EQ(mproc_joinable_queue_create(&q, 0, 0), MPROC_OK);
  const int n = 10;
  for (int i = 0; i < n; i++) {
    mproc_obj_t *v = Int(i);
    ASSERT_EQ(mproc_queue_put(q, v, 1), MPROC_OK);
    mproc_obj_free(v);
  }
  EXPECT_EQ(mproc_queue_join(q, 0.05), MPROC_ETIMEDOUT);
  mproc_process_t *w = Start(GetParam(), worker_task, {q}, &n, sizeof n);
  EXPECT_EQ(mproc_queue_join(q, 30), MPROC_OK);
  EXPECT_EQ(Finish(w), 0);
  EXPECT_EQ(mproc_queue_task_done(q), MPROC_ESTATE);  // one too many
  mproc_queue_free(q);
}

TEST_P(QueueTest, ASecondProducerTakesOverFromALocklessOwnerLosingNothing) {
  mproc_queue_t *q;
  // A small ring: the owner is often in mid-put (copying without the
  // lock, or waiting for room with it) when the second producer comes.
  ASSERT_EQ(mproc_queue_create(&q, 0, 4096), MPROC_OK);
  const uint32_t n = 20000;
  ProducerArg a = {0, n}, b = {1, n};
  mproc_process_t *first = Start(GetParam(), producer_task, {q}, &a, sizeof a);
  Item it;
  size_t len;
  uint32_t next[2] = {0, 0};
  for (; next[0] < 1000; next[0]++) {
    ASSERT_EQ(mproc_queue_get_bytes_into(q, &it, sizeof it, &len, 30),
              MPROC_OK);
    ASSERT_EQ(it.seq, next[0]);
  }
  // The first producer puts without the lock (where the platform lets a
  // sole user do so: not on Windows, where every call locks).
  const int lockless = mp_queue_testing_lockless();
  EXPECT_EQ(PutAlone(q), lockless);
  mproc_process_t *second = Start(GetParam(), producer_task, {q}, &b, sizeof b);
  for (int sentinels = 0; sentinels < 2;) {
    ASSERT_EQ(mproc_queue_get_bytes_into(q, &it, sizeof it, &len, 30),
              MPROC_OK);
    if (len == 0) {
      sentinels++;
      continue;
    }
    ASSERT_EQ(len, sizeof it);
    ASSERT_TRUE(ItemIntact(it));
    ASSERT_LT(it.producer, 2u);
    ASSERT_EQ(it.seq, next[it.producer]++);  // FIFO per producer, no gap
  }
  EXPECT_EQ(next[0], n);
  EXPECT_EQ(next[1], n);
  EXPECT_EQ(Finish(first), 0);
  EXPECT_EQ(Finish(second), 0);
  EXPECT_EQ(PutAlone(q), 0);  // shared for good
  EXPECT_EQ(GetAlone(q), lockless);  // this process was the only consumer
  EXPECT_EQ(mproc_queue_get_bytes_into(q, &it, sizeof it, &len, 0),
            MPROC_EEMPTY);
  mproc_queue_free(q);
}

TEST_P(QueueTest, AProducerKilledInALocklessPutNeitherHangsNorCorrupts) {
  mproc_queue_t *q;
  ASSERT_EQ(mproc_queue_create(&q, 0, 4096), MPROC_OK);
  mproc_process_t *p = Start(GetParam(), stalling_producer_task, {q});
  Item it;
  size_t len;
  for (uint32_t seq = 0; seq < 2; seq++) {
    ASSERT_EQ(mproc_queue_get_bytes_into(q, &it, sizeof it, &len, 30),
              MPROC_OK);
    ASSERT_TRUE(ItemIntact(it));
    ASSERT_EQ(it.seq, seq);
  }
  EXPECT_EQ(PutAlone(q), mp_queue_testing_lockless());
  mproc_sleep(0.3);  // into the stall, its record written, not committed
  // While the owner lives in mid-put, no one else may write the side: a
  // put waits (its timeout, the lock's grace) and finds the queue "full".
  Item early = MakeItem(4, 0);
  EXPECT_EQ(mproc_queue_put_bytes(q, &early, sizeof early, 0.1), MPROC_EFULL);
  ASSERT_EQ(mproc_process_kill(p), MPROC_OK);
  EXPECT_EQ(Finish(p), -9);
  // The half-put item never shows.
  EXPECT_EQ(mproc_queue_get_bytes_into(q, &it, sizeof it, &len, 0.2),
            MPROC_EEMPTY);
  // A second producer (this process) takes the side from the dead owner
  // within its timeout, and its items, written where the dead one's
  // record lies, come out whole and in order.
  for (uint32_t seq = 0; seq < 200; seq++) {
    Item mine = MakeItem(4, seq);
    ASSERT_EQ(mproc_queue_put_bytes(q, &mine, sizeof mine, 5), MPROC_OK)
        << mproc_last_error();
    ASSERT_EQ(mproc_queue_get_bytes_into(q, &it, sizeof it, &len, 5),
              MPROC_OK);
    ASSERT_EQ(len, sizeof it);
    ASSERT_TRUE(ItemIntact(it));
    ASSERT_EQ(it.producer, 4u);
    ASSERT_EQ(it.seq, seq);
  }
  EXPECT_EQ(PutAlone(q), 0);
  mproc_queue_free(q);
}

INSTANTIATE_TEST_SUITE_P(Methods, QueueTest,
                         MPROC_START_METHOD_CSTRS);

TEST(Queue, EmptyAndFullAreDistinctAndTimeoutsFire) {
  mproc_queue_t *q;
  ASSERT_EQ(mproc_queue_create(&q, 2, 0), MPROC_OK);
  mproc_obj_t *v;
  EXPECT_EQ(mproc_queue_get_nowait(q, &v), MPROC_EEMPTY);
  auto t = std::chrono::steady_clock::now();
  EXPECT_EQ(mproc_queue_get(q, &v, 0.1), MPROC_EEMPTY);
  EXPECT_GE(Elapsed(t), 0.1);
  EXPECT_LT(Elapsed(t), 5.0);
  mproc_obj_t *x = Int(1);
  int flag;
  EXPECT_EQ(mproc_queue_empty(q, &flag), MPROC_OK);
  EXPECT_EQ(flag, 1);
  EXPECT_EQ(mproc_queue_put_nowait(q, x), MPROC_OK);
  EXPECT_EQ(mproc_queue_put(q, x, 1), MPROC_OK);
  EXPECT_EQ(mproc_queue_full(q, &flag), MPROC_OK);
  EXPECT_EQ(flag, 1);
  EXPECT_EQ(mproc_queue_put_nowait(q, x), MPROC_EFULL);
  t = std::chrono::steady_clock::now();
  EXPECT_EQ(mproc_queue_put(q, x, 0.1), MPROC_EFULL);
  EXPECT_GE(Elapsed(t), 0.1);
  size_t n;
  EXPECT_EQ(mproc_queue_qsize(q, &n), MPROC_OK);
  EXPECT_EQ(n, 2u);
  ASSERT_EQ(mproc_queue_get(q, &v, 1), MPROC_OK);
  EXPECT_EQ(ReprFree(v), "1");
  mproc_obj_free(x);
  mproc_queue_free(q);
}

TEST(Queue, ItemsLargerThanTheRingAreRefused) {
  mproc_queue_t *q;
  ASSERT_EQ(mproc_queue_create(&q, 0, 64), MPROC_OK);
  std::vector<char> big(100);
  EXPECT_EQ(mproc_queue_put_bytes(q, big.data(), big.size(), 0),
            MPROC_EMSGSIZE);
  ASSERT_EQ(mproc_queue_put_bytes(q, big.data(), 50, 0), MPROC_OK);
  char small[10];
  size_t len;
  EXPECT_EQ(mproc_queue_get_bytes_into(q, small, sizeof small, &len, 0),
            MPROC_EMSGSIZE);
  EXPECT_EQ(len, 50u);  // and it stays queued
  void *data;
  ASSERT_EQ(mproc_queue_get_bytes(q, &data, &len, 0), MPROC_OK);
  EXPECT_EQ(len, 50u);
  free(data);
  mproc_queue_free(q);
}

TEST(Queue, SimpleQueueAndBadArguments) {
  mproc_queue_t *q;
  ASSERT_EQ(mproc_simple_queue_create(&q), MPROC_OK);
  mproc_obj_t *v;
  EXPECT_EQ(mproc_queue_create(nullptr, 0, 0), MPROC_EINVAL);
  EXPECT_EQ(mproc_queue_create(&q, 0, 10), MPROC_EINVAL);
  EXPECT_EQ(mproc_queue_create(&q, 0, (size_t)1 << 30), MPROC_EINVAL);
  EXPECT_EQ(mproc_queue_put(nullptr, nullptr, 0), MPROC_EINVAL);
  EXPECT_EQ(mproc_queue_put(q, nullptr, 0), MPROC_EINVAL);
  EXPECT_EQ(mproc_queue_put_bytes(q, nullptr, 4, 0), MPROC_EINVAL);
  EXPECT_EQ(mproc_queue_get(q, nullptr, 0), MPROC_EINVAL);
  EXPECT_EQ(mproc_queue_get(q, &v, std::nan("")), MPROC_EINVAL);
  EXPECT_EQ(mproc_queue_task_done(q), MPROC_ESTATE);  // not joinable
  EXPECT_EQ(mproc_queue_join(q, 0), MPROC_ESTATE);
  EXPECT_EQ(mproc_queue_join_thread(q), MPROC_ESTATE);  // not closed
  mproc_obj_t *x = Str("s");
  ASSERT_EQ(mproc_queue_put(q, x, MPROC_FOREVER), MPROC_OK);
  ASSERT_EQ(mproc_queue_get(q, &v, MPROC_FOREVER), MPROC_OK);
  EXPECT_EQ(ReprFree(v), "'s'");
  ASSERT_EQ(mproc_queue_close(q), MPROC_OK);
  EXPECT_EQ(mproc_queue_put(q, x, 0), MPROC_ESTATE);
  EXPECT_EQ(mproc_queue_get(q, &v, 0), MPROC_ESTATE);
  EXPECT_EQ(mproc_queue_join_thread(q), MPROC_OK);
  EXPECT_EQ(mproc_queue_cancel_join_thread(q), MPROC_OK);
  mproc_obj_free(x);
  EXPECT_EQ(mproc_queue_free(q), MPROC_OK);
  EXPECT_EQ(mproc_queue_free(nullptr), MPROC_OK);
}

}  // namespace
