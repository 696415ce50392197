// SPDX-License-Identifier: Apache-2.0
// Value, Array, RawValue, RawArray and the atomic operations
// (docs/sync.md), under every start method (fork, spawn, forkserver).
#include <cmath>
#include <cstring>

#include "tests/sync_helpers.h"

namespace {

class ValueTest : public MethodTest {};
INSTANTIATE_METHODS(ValueTest);

TEST(Value, TypecodeSizesMatchC) {
  struct {
    char code;
    size_t size;
  } expected[] = {{'b', 1}, {'B', 1}, {'h', sizeof(short)},
                  {'H', sizeof(short)}, {'i', sizeof(int)},
                  {'I', sizeof(int)}, {'l', sizeof(long)},
                  {'L', sizeof(long)}, {'q', 8}, {'Q', 8},
                  {'f', sizeof(float)}, {'d', sizeof(double)}, {'c', 1}};
  for (auto &e : expected) {
    size_t size = 0;
    EXPECT_EQ(mproc_typecode_size(e.code, &size), MPROC_OK) << e.code;
    EXPECT_EQ(size, e.size) << e.code;
  }
  size_t size;
  EXPECT_EQ(mproc_typecode_size('x', &size), MPROC_EINVAL);
  EXPECT_EQ(mproc_typecode_size('i', nullptr), MPROC_EINVAL);
}

TEST(Value, GetSetEveryKind) {
  double d = 2.5;
  mproc_value_t *v;
  ASSERT_EQ(mproc_value_create(&v, 'd', &d), MPROC_OK);
  double out = 0;
  EXPECT_EQ(mproc_value_get(v, &out), MPROC_OK);
  EXPECT_EQ(out, 2.5);
  d = -1.25;
  EXPECT_EQ(mproc_value_set(v, &d), MPROC_OK);
  double *raw;
  EXPECT_EQ(mproc_value_get_obj(v, (void **)&raw), MPROC_OK);
  EXPECT_EQ(*raw, -1.25);
  char code = 0;
  EXPECT_EQ(mproc_value_typecode(v, &code), MPROC_OK);
  EXPECT_EQ(code, 'd');
  mproc_lock_t *lock;
  EXPECT_EQ(mproc_value_get_lock(v, &lock), MPROC_OK);
  int recursive = 0;
  EXPECT_EQ(mproc_lock_is_recursive(lock, &recursive), MPROC_OK);
  EXPECT_EQ(recursive, 1);  // lock=True makes an RLock
  EXPECT_EQ(mproc_lock_free(lock), MPROC_ESTATE);  // goes with the value
  // Held by us, the value is still readable (recursive), as in CPython.
  EXPECT_EQ(mproc_lock_acquire(lock, 0), MPROC_OK);
  EXPECT_EQ(mproc_value_get(v, &out), MPROC_OK);
  EXPECT_EQ(mproc_lock_release(lock), MPROC_OK);
  EXPECT_EQ(mproc_value_free(v), MPROC_OK);

  mproc_value_t *r;
  ASSERT_EQ(mproc_raw_value_create(&r, 'c', "x"), MPROC_OK);
  EXPECT_EQ(mproc_value_get_lock(r, &lock), MPROC_ESTATE);
  char c = 0;
  EXPECT_EQ(mproc_value_get(r, &c), MPROC_OK);
  EXPECT_EQ(c, 'x');
  EXPECT_EQ(mproc_value_free(r), MPROC_OK);
}

TEST(Value, ZeroWhenNoInitialAndBadArguments) {
  mproc_value_t *v;
  ASSERT_EQ(mproc_value_create(&v, 'q', nullptr), MPROC_OK);
  long long q = 5;
  EXPECT_EQ(mproc_value_get(v, &q), MPROC_OK);
  EXPECT_EQ(q, 0);
  EXPECT_EQ(mproc_value_get(v, nullptr), MPROC_EINVAL);
  EXPECT_EQ(mproc_value_set(v, nullptr), MPROC_EINVAL);
  EXPECT_EQ(mproc_value_free(v), MPROC_OK);
  EXPECT_EQ(mproc_value_create(nullptr, 'i', nullptr), MPROC_EINVAL);
  EXPECT_EQ(mproc_value_create(&v, 'z', nullptr), MPROC_EINVAL);
  EXPECT_EQ(mproc_value_create_with_lock(&v, 'i', nullptr, nullptr),
            MPROC_EINVAL);
  EXPECT_EQ(mproc_value_get(nullptr, &q), MPROC_EINVAL);
  EXPECT_EQ(mproc_value_free(nullptr), MPROC_OK);
  mproc_array_t *a;
  EXPECT_EQ(mproc_array_create(&a, 'i', 0, nullptr), MPROC_EINVAL);
  EXPECT_EQ(mproc_array_create(&a, 'i', SIZE_MAX / 2, nullptr), MPROC_ENOMEM);
  EXPECT_EQ(mproc_array_create(&a, '?', 3, nullptr), MPROC_EINVAL);
  EXPECT_EQ(mproc_array_free(nullptr), MPROC_OK);
}

TEST(Value, AtomicsOnEveryIntegerWidth) {
  for (char code : {'b', 'B', 'h', 'H', 'i', 'I', 'l', 'L', 'q', 'Q'}) {
    mproc_value_t *v;
    ASSERT_EQ(mproc_raw_value_create(&v, code, nullptr), MPROC_OK);
    int64_t old = 99;
    EXPECT_EQ(mproc_value_store(v, 5), MPROC_OK);
    EXPECT_EQ(mproc_value_fetch_add(v, -6, &old), MPROC_OK);
    EXPECT_EQ(old, 5) << code;
    int64_t now = 0;
    EXPECT_EQ(mproc_value_load(v, &now), MPROC_OK);
    bool is_signed = code == 'b' || code == 'h' || code == 'i' ||
                     code == 'l' || code == 'q';
    size_t size;
    mproc_typecode_size(code, &size);
    int64_t minus_one_unsigned =
        size == 8 ? -1 : (int64_t)((1ull << (8 * size)) - 1);
    EXPECT_EQ(now, is_signed ? -1 : minus_one_unsigned) << code;
    int64_t expected = 7;
    int swapped = 1;
    EXPECT_EQ(mproc_value_compare_exchange(v, &expected, 3, &swapped),
              MPROC_OK);
    EXPECT_EQ(swapped, 0) << code;
    EXPECT_EQ(expected, now) << code;
    EXPECT_EQ(mproc_value_compare_exchange(v, &expected, 3, &swapped),
              MPROC_OK);
    EXPECT_EQ(swapped, 1) << code;
    EXPECT_EQ(mproc_value_load(v, &now), MPROC_OK);
    EXPECT_EQ(now, 3) << code;
    mproc_value_free(v);
  }
  mproc_value_t *d;
  ASSERT_EQ(mproc_raw_value_create(&d, 'd', nullptr), MPROC_OK);
  int64_t x;
  EXPECT_EQ(mproc_value_load(d, &x), MPROC_EINVAL);
  EXPECT_EQ(mproc_value_fetch_add(d, 1, &x), MPROC_EINVAL);
  EXPECT_EQ(mproc_value_load(nullptr, &x), MPROC_EINVAL);
  mproc_value_free(d);
}

TEST(Array, ReadWriteAndRanges) {
  int init[5] = {1, 2, 3, 4, 5};
  mproc_array_t *a;
  ASSERT_EQ(mproc_array_create(&a, 'i', 5, init), MPROC_OK);
  size_t n = 0;
  EXPECT_EQ(mproc_array_length(a, &n), MPROC_OK);
  EXPECT_EQ(n, 5u);
  int two[2] = {20, 30};
  EXPECT_EQ(mproc_array_write(a, 1, 2, two), MPROC_OK);
  int all[5];
  EXPECT_EQ(mproc_array_read(a, 0, 5, all), MPROC_OK);
  EXPECT_EQ(all[1], 20);
  EXPECT_EQ(all[2], 30);
  EXPECT_EQ(all[4], 5);
  EXPECT_EQ(mproc_array_read(a, 4, 2, all), MPROC_EINVAL);
  EXPECT_EQ(mproc_array_read(a, 6, 0, all), MPROC_EINVAL);
  EXPECT_EQ(mproc_array_write(a, SIZE_MAX, 2, two), MPROC_EINVAL);
  EXPECT_EQ(mproc_array_read(a, 0, 1, nullptr), MPROC_EINVAL);
  EXPECT_EQ(mproc_array_read(a, 5, 0, all), MPROC_OK);  // empty slice
  char code;
  EXPECT_EQ(mproc_array_typecode(a, &code), MPROC_OK);
  EXPECT_EQ(code, 'i');
  mproc_lock_t *lock;
  EXPECT_EQ(mproc_array_get_lock(a, &lock), MPROC_OK);
  EXPECT_EQ(mproc_array_free(a), MPROC_OK);
  ASSERT_EQ(mproc_raw_array_create(&a, 'c', 3, "abc"), MPROC_OK);
  EXPECT_EQ(mproc_array_get_lock(a, &lock), MPROC_ESTATE);
  char *chars;
  EXPECT_EQ(mproc_array_get_obj(a, (void **)&chars), MPROC_OK);
  EXPECT_EQ(std::memcmp(chars, "abc", 3), 0);
  EXPECT_EQ(mproc_array_free(a), MPROC_OK);
}

// Doubles every element of the attached 'd' array.
MPROC_TASK(double_array) {
  (void)arg;
  (void)arg_len;
  auto *a = Attached<mproc_array_t>(0);
  size_t n;
  CHILD_EXPECT(mproc_array_length(a, &n) == MPROC_OK && n == 4, 1);
  double items[4];
  CHILD_EXPECT(mproc_array_read(a, 0, 4, items) == MPROC_OK, 2);
  for (double &x : items) x *= 2;
  CHILD_EXPECT(mproc_array_write(a, 0, 4, items) == MPROC_OK, 3);
  return 0;
}

TEST_P(ValueTest, ArrayChangedByChild) {
  double init[4] = {1, 2, 3, 4};
  mproc_array_t *a;
  ASSERT_EQ(mproc_array_create(&a, 'd', 4, init), MPROC_OK);
  EXPECT_EQ(Finish(Start(double_array, {a})), 0);
  double out[4];
  ASSERT_EQ(mproc_array_read(a, 0, 4, out), MPROC_OK);
  EXPECT_EQ(out[0], 2.0);
  EXPECT_EQ(out[3], 8.0);
  mproc_array_free(a);
}

// fetch_add 100k times without a lock.
MPROC_TASK(atomic_increments) {
  (void)arg;
  (void)arg_len;
  auto *v = Attached<mproc_value_t>(0);
  for (int i = 0; i < 100000; i++)
    CHILD_EXPECT(mproc_value_fetch_add(v, 1, nullptr) == MPROC_OK, 1);
  return 0;
}

TEST_P(ValueTest, AtomicIncrementsFromFourProcessesAreExact) {
  mproc_value_t *v;
  ASSERT_EQ(mproc_raw_value_create(&v, 'q', nullptr), MPROC_OK);
  mproc_process_t *p[4];
  for (auto &child : p) child = Start(atomic_increments, {v});
  for (auto &child : p) EXPECT_EQ(Finish(child), 0);
  int64_t total = 0;
  EXPECT_EQ(mproc_value_load(v, &total), MPROC_OK);
  EXPECT_EQ(total, 400000);
  mproc_value_free(v);
}

// counter.value += 1 under get_lock(), 100k times.
MPROC_TASK(value_lock_increments) {
  (void)arg;
  (void)arg_len;
  auto *v = Attached<mproc_value_t>(0);
  mproc_lock_t *lock;
  CHILD_EXPECT(mproc_value_get_lock(v, &lock) == MPROC_OK, 1);
  for (int i = 0; i < 100000; i++) {
    CHILD_EXPECT(mproc_lock_acquire(lock, MPROC_FOREVER) == MPROC_OK, 2);
    int x;
    mproc_value_get(v, &x);  // takes the (recursive) lock again
    x += 1;
    mproc_value_set(v, &x);
    CHILD_EXPECT(mproc_lock_release(lock) == MPROC_OK, 3);
  }
  return 0;
}

TEST_P(ValueTest, OwnLockIncrementsFromFourProcessesAreExact) {
  mproc_value_t *v;
  ASSERT_EQ(mproc_value_create(&v, 'i', nullptr), MPROC_OK);
  mproc_process_t *p[4];
  for (auto &child : p) child = Start(value_lock_increments, {v});
  for (auto &child : p) EXPECT_EQ(Finish(child), 0);
  int total = 0;
  EXPECT_EQ(mproc_value_get(v, &total), MPROC_OK);
  EXPECT_EQ(total, 400000);
  mproc_value_free(v);
}

// The value's lock is the given one: held by the parent, the child cannot
// take it; the child also sees the value's data.
MPROC_TASK(given_lock_is_shared) {
  (void)arg;
  (void)arg_len;
  auto *v = Attached<mproc_value_t>(0);
  mproc_lock_t *lock;
  CHILD_EXPECT(mproc_value_get_lock(v, &lock) == MPROC_OK, 1);
  CHILD_EXPECT(mproc_lock_acquire(lock, 0.05) == MPROC_ETIMEDOUT, 2);
  int *x;
  mproc_value_get_obj(v, (void **)&x);
  CHILD_EXPECT(*x == 42, 3);
  return 0;
}

TEST_P(ValueTest, GivenLockReachesChild) {
  mproc_lock_t *lock;
  ASSERT_EQ(mproc_lock_create(&lock), MPROC_OK);
  int init = 42;
  mproc_value_t *v;
  ASSERT_EQ(mproc_value_create_with_lock(&v, 'i', &init, lock), MPROC_OK);
  mproc_lock_t *got;
  ASSERT_EQ(mproc_value_get_lock(v, &got), MPROC_OK);
  EXPECT_EQ(got, lock);
  ASSERT_EQ(mproc_lock_acquire(lock, 0), MPROC_OK);
  EXPECT_EQ(Finish(Start(given_lock_is_shared, {v})), 0);
  EXPECT_EQ(mproc_lock_release(lock), MPROC_OK);
  EXPECT_EQ(mproc_value_free(v), MPROC_OK);
  EXPECT_EQ(mproc_lock_acquire(lock, 0), MPROC_OK);  // not closed with it
  EXPECT_EQ(mproc_lock_release(lock), MPROC_OK);
  mproc_lock_free(lock);
}

// Both the value and its own lock attached: they are one lock.
MPROC_TASK(own_lock_attached_separately) {
  (void)arg;
  (void)arg_len;
  auto *v = Attached<mproc_value_t>(0);
  auto *lock = Attached<mproc_lock_t>(1);
  mproc_lock_t *own;
  CHILD_EXPECT(mproc_value_get_lock(v, &own) == MPROC_OK, 1);
  CHILD_EXPECT(mproc_lock_acquire(lock, 5) == MPROC_OK, 2);
  // Same thread, same recursive lock: the value's view is ours as well.
  CHILD_EXPECT(mproc_lock_acquire(own, 0) == MPROC_OK, 3);
  mproc_lock_release(own);
  mproc_lock_release(lock);
  mproc_lock_free(lock);
  mproc_value_free(v);
  return 0;
}

TEST_P(ValueTest, OwnLockAttachedBesideItsValue) {
  mproc_value_t *v;
  ASSERT_EQ(mproc_value_create(&v, 'i', nullptr), MPROC_OK);
  mproc_lock_t *lock;
  ASSERT_EQ(mproc_value_get_lock(v, &lock), MPROC_OK);
  EXPECT_EQ(Finish(Start(own_lock_attached_separately, {v, lock})), 0);
  mproc_value_free(v);
}

}  // namespace
