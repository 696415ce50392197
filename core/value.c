/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Value, Array, RawValue, RawArray: typed data in a block of shared
 * memory (core/arena.c: a slot of the arena for small ones, a segment of
 * its own for large arrays).
 *
 * Block layout (offsets in bytes):
 *   0    value_header_t: typecode, element size, length
 *   16   mp_lock_state_t of the own RLock (lock=True), else unused
 *   80   the elements, length * element size: a cache line apart from
 *        the lock word, which contenders write while the owner updates
 *        the elements (as before the arena, W7 measures it)
 * The own lock lives in the same block, so one export carries both to a
 * spawned child; get_lock returns a view of it that goes with the value. A
 * given lock is a separate object: its state is nested in the value's
 * exported state, and the child's value owns the imported copy.
 *
 * mproc_value_t and mproc_array_t are the same object here (a Value is an
 * array of one element that remembers it is a Value).
 */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/sync.h"

/* The header (16 bytes), the own lock's state (mp_lock_state_t, 64 bytes:
 * its word and the OS's owner-death bookkeeping), then the data: the lock
 * word's cache line (0-63) holds no data, so a writer of the data does not
 * bounce the line a lock waiter reads. */
#define LOCK_OFFSET 16
#define DATA_OFFSET 80
_Static_assert(LOCK_OFFSET + sizeof(mp_lock_state_t) <= DATA_OFFSET,
               "a Value's data must not overlap its lock");
_Static_assert(DATA_OFFSET % 16 == 0, "data aligned for any element");

typedef struct {
  uint32_t typecode;
  uint32_t elem_size;
  uint64_t length;
} value_header_t;

typedef enum { LOCK_NONE, LOCK_OWN, LOCK_GIVEN } lock_kind_t;

typedef struct {
  mp_object_t obj;
  mp_block_t block;
  char typecode;
  int is_integer, is_signed; /* of the typecode, for the atomics */
  size_t elem_size;
  size_t length;
  void *data;
  lock_kind_t lock_kind;
  mproc_lock_t *lock;
  int owns_given_lock; /* an imported copy of a given lock */
} shared_t;

static const struct {
  char code;
  size_t size;
  int is_integer;
  int is_signed;
} typecodes[] = {
    {'b', sizeof(signed char), 1, 1},   {'B', sizeof(unsigned char), 1, 0},
    {'h', sizeof(short), 1, 1},         {'H', sizeof(unsigned short), 1, 0},
    {'i', sizeof(int), 1, 1},           {'I', sizeof(unsigned int), 1, 0},
    {'l', sizeof(long), 1, 1},          {'L', sizeof(unsigned long), 1, 0},
    {'q', sizeof(long long), 1, 1},     {'Q', sizeof(unsigned long long), 1, 0},
    {'f', sizeof(float), 0, 0},         {'d', sizeof(double), 0, 0},
    {'c', sizeof(char), 0, 0},
};

static int typecode_index(char code) {
  for (size_t i = 0; i < sizeof typecodes / sizeof *typecodes; i++)
    if (typecodes[i].code == code) return (int)i;
  return -1;
}

mproc_status_t mproc_typecode_size(char typecode, size_t *out) {
  MP_REQUIRE(out, "typecode_size: out");
  int i = typecode_index(typecode);
  if (i < 0)
    return mp_fail(MPROC_EINVAL, "typecode_size: unknown typecode '%c'",
                   typecode);
  *out = typecodes[i].size;
  return MPROC_OK;
}

/* ---- export / import ---------------------------------------------- */

static mproc_status_t shared_export(void *obj, mp_buf_t *state,
                                    mp_handles_t *handles) {
  shared_t *v = obj;
  mp_block_export(&v->block, state, handles);
  mp_buf_put_u64(state, v->lock_kind);
  if (v->lock_kind == LOCK_GIVEN)
    return mp_lock_export(v->lock, state, handles);
  return MPROC_OK;
}

static void shared_free(shared_t *v) {
  int own_lock = v->lock_kind == LOCK_OWN;
  if (own_lock) mp_lock_free_view(v->lock);
  if (v->owns_given_lock) mp_lock_free_adopted(v->lock);
  /* The own lock's word may be on a thread's robust list (held while
   * freed): mp_lock_block_free lets go of it first. */
  if (own_lock)
    mp_lock_block_free(&v->block, LOCK_OFFSET);
  else
    mp_block_free(&v->block);
  mp_object_release(v);
}

/* Fills v's process-local fields from its block. */
static mproc_status_t bind_block(shared_t *v) {
  const value_header_t *h = v->block.base;
  int i = typecode_index((char)h->typecode);
  if (i < 0 || h->elem_size != typecodes[i].size ||
      h->length > (v->block.size - DATA_OFFSET) / h->elem_size)
    return mp_fail(MPROC_ESPAWN, "import: malformed value block");
  v->typecode = (char)h->typecode;
  v->is_integer = typecodes[i].is_integer;
  v->is_signed = typecodes[i].is_signed;
  v->elem_size = h->elem_size;
  v->length = (size_t)h->length;
  v->data = (char *)v->block.base + DATA_OFFSET;
  if (v->lock_kind == LOCK_OWN)
    return mp_lock_view(&v->lock, &v->block, LOCK_OFFSET);
  return MPROC_OK;
}

static mproc_status_t shared_import(const void *state, size_t len,
                                    const mp_object_ops_t *ops, void **out) {
  mp_reader_t r = {state, len, 0, 0};
  shared_t *v = mp_object_alloc(sizeof *v);
  if (v == NULL) return mp_fail(MPROC_ENOMEM, "import: %s", ops->kind);
  mp_object_init(&v->obj, ops);
  mproc_status_t st = mp_block_import(&r, &v->block, DATA_OFFSET + 1);
  if (st != MPROC_OK) {
    mp_object_release(v);
    return st;
  }
  uint64_t kind = mp_read_u64(&r);
  v->lock_kind = kind <= LOCK_GIVEN ? (lock_kind_t)kind : LOCK_NONE;
  if (r.bad || kind > LOCK_GIVEN)
    st = mp_fail(MPROC_ESPAWN, "import: malformed %s state", ops->kind);
  if (st == MPROC_OK && v->lock_kind == LOCK_GIVEN &&
      (st = mp_lock_import(&r, &v->lock)) == MPROC_OK) {
    mp_lock_adopt(v->lock);
    v->owns_given_lock = 1;
  }
  if (st == MPROC_OK) st = bind_block(v);
  if (st != MPROC_OK) {
    if (v->lock_kind == LOCK_OWN) v->lock_kind = LOCK_NONE;
    shared_free(v);
    return st;
  }
  *out = v;
  return MPROC_OK;
}

static mp_object_ops_t value_ops;
static mp_object_ops_t array_ops;

static mproc_status_t value_import(const void *state, size_t len,
                                   void **out) {
  return shared_import(state, len, &value_ops, out);
}

static mproc_status_t array_import(const void *state, size_t len,
                                   void **out) {
  return shared_import(state, len, &array_ops, out);
}

static mproc_status_t value_free_op(void *obj) {
  return mproc_value_free(obj);
}
static mproc_status_t array_free_op(void *obj) {
  return mproc_array_free(obj);
}

/* No after_fork: the data and the own lock are in the shared block. */
static mp_object_ops_t value_ops = {.kind = "value",
                                    .export_state = shared_export,
                                    .import_state = value_import,
                                    .free = value_free_op};
static mp_object_ops_t array_ops = {.kind = "array",
                                    .export_state = shared_export,
                                    .import_state = array_import,
                                    .free = array_free_op};
MP_OBJECT_KIND(value_ops)
MP_OBJECT_KIND(array_ops)

/* ---- creation ----------------------------------------------------- */

static mproc_status_t shared_new(shared_t **out, const mp_object_ops_t *ops,
                                 char typecode, size_t length,
                                 const void *initial, lock_kind_t lock_kind,
                                 mproc_lock_t *lock, const char *what) {
  MP_REQUIRE(out, what);
  int i = typecode_index(typecode);
  if (i < 0)
    return mp_fail(MPROC_EINVAL, "%s: unknown typecode '%c'", what, typecode);
  if (lock_kind == LOCK_GIVEN) {
    mproc_status_t st = mp_lock_check(lock, what);
    if (st != MPROC_OK) return st;
  }
  size_t elem = typecodes[i].size;
  if (length == 0) return mp_fail(MPROC_EINVAL, "%s: length 0", what);
  /* Checked before multiplying: length * elem must not wrap around. */
  if (length > (SIZE_MAX - DATA_OFFSET) / elem)
    return mp_fail(MPROC_ENOMEM, "%s: %zu elements of %zu bytes overflow "
                   "the address space", what, length, elem);
  shared_t *v = mp_object_alloc(sizeof *v);
  if (v == NULL) return mp_fail(MPROC_ENOMEM, "%s", what);
  mp_object_init(&v->obj, ops);
  mproc_status_t st = mp_block_alloc(&v->block, DATA_OFFSET + length * elem);
  if (st != MPROC_OK) {
    mp_object_release(v);
    return st;
  }
  value_header_t *h = v->block.base;
  h->typecode = (uint32_t)(unsigned char)typecode;
  h->elem_size = (uint32_t)elem;
  h->length = length;
  if (lock_kind == LOCK_OWN)
    mp_lock_state_init(
        (mp_lock_state_t *)((char *)v->block.base + LOCK_OFFSET), 1);
  v->lock_kind = lock_kind;
  v->lock = lock;
  if ((st = bind_block(v)) != MPROC_OK) {
    v->lock_kind = LOCK_NONE;
    shared_free(v);
    return st;
  }
  if (initial) memcpy(v->data, initial, length * elem);
  *out = v;
  return MPROC_OK;
}

mproc_status_t mproc_value_create(mproc_value_t **out, char typecode,
                                  const void *initial) {
  return shared_new((shared_t **)out, &value_ops, typecode, 1, initial,
                    LOCK_OWN, NULL, "value_create");
}

mproc_status_t mproc_value_create_with_lock(mproc_value_t **out,
                                            char typecode,
                                            const void *initial,
                                            mproc_lock_t *lock) {
  return shared_new((shared_t **)out, &value_ops, typecode, 1, initial,
                    LOCK_GIVEN, lock, "value_create_with_lock");
}

mproc_status_t mproc_raw_value_create(mproc_value_t **out, char typecode,
                                      const void *initial) {
  return shared_new((shared_t **)out, &value_ops, typecode, 1, initial,
                    LOCK_NONE, NULL, "raw_value_create");
}

mproc_status_t mproc_array_create(mproc_array_t **out, char typecode,
                                  size_t length, const void *initial) {
  return shared_new((shared_t **)out, &array_ops, typecode, length, initial,
                    LOCK_OWN, NULL, "array_create");
}

mproc_status_t mproc_array_create_with_lock(mproc_array_t **out,
                                            char typecode, size_t length,
                                            const void *initial,
                                            mproc_lock_t *lock) {
  return shared_new((shared_t **)out, &array_ops, typecode, length, initial,
                    LOCK_GIVEN, lock, "array_create_with_lock");
}

mproc_status_t mproc_raw_array_create(mproc_array_t **out, char typecode,
                                      size_t length, const void *initial) {
  return shared_new((shared_t **)out, &array_ops, typecode, length, initial,
                    LOCK_NONE, NULL, "raw_array_create");
}

/* ---- locked copies ------------------------------------------------ */

/* Copies under the lock (if any); dst/src point into or out of the data. */
static mproc_status_t locked_copy(shared_t *v, void *dst, const void *src,
                                  size_t n) {
  mproc_status_t st = MPROC_OK;
  /* A given lock is borrowed: it may have been freed first. */
  if (v->lock && (st = mp_lock_check(v->lock, v->obj.ops->kind)) != MPROC_OK)
    return st;
  mp_lock_state_t *lock = v->lock ? mp_lock_state_of(v->lock) : NULL;
  const mp_shm_t *seg = v->lock ? mp_lock_segment_of(v->lock) : NULL;
  if (lock) {
    st = mp_lock_state_acquire(seg, lock, MPROC_FOREVER);
    if (st != MPROC_OK && st != MPROC_EOWNERDEAD) return st;
  }
  memcpy(dst, src, n);
  if (lock) mp_lock_state_release(seg, lock);
  return st;
}

mproc_status_t mproc_value_get(mproc_value_t *value, void *out) {
  MP_CHECK_KIND(value, &value_ops, "value_get");
  MP_REQUIRE(out, "value_get: out");
  shared_t *v = (shared_t *)value;
  return locked_copy(v, out, v->data, v->elem_size);
}

mproc_status_t mproc_value_set(mproc_value_t *value, const void *in) {
  MP_CHECK_KIND(value, &value_ops, "value_set");
  MP_REQUIRE(in, "value_set: in");
  shared_t *v = (shared_t *)value;
  return locked_copy(v, v->data, in, v->elem_size);
}

static mproc_status_t check_range(const shared_t *a, size_t start,
                                  size_t count, const void *buf,
                                  const char *what) {
  MP_CHECK_KIND(a, &array_ops, what);
  MP_REQUIRE(buf, what);
  if (start > a->length || count > a->length - start)
    return mp_fail(MPROC_EINVAL, "%s: [%zu, %zu+%zu) is outside the %zu "
                   "elements", what, start, start, count, a->length);
  return MPROC_OK;
}

mproc_status_t mproc_array_read(mproc_array_t *array, size_t start,
                                size_t count, void *out) {
  shared_t *a = (shared_t *)array;
  mproc_status_t st = check_range(a, start, count, out, "array_read");
  if (st != MPROC_OK) return st;
  return locked_copy(a, out, (char *)a->data + start * a->elem_size,
                     count * a->elem_size);
}

mproc_status_t mproc_array_write(mproc_array_t *array, size_t start,
                                 size_t count, const void *in) {
  shared_t *a = (shared_t *)array;
  mproc_status_t st = check_range(a, start, count, in, "array_write");
  if (st != MPROC_OK) return st;
  return locked_copy(a, (char *)a->data + start * a->elem_size, in,
                     count * a->elem_size);
}

/* ---- accessors ---------------------------------------------------- */

static mproc_status_t get_obj(shared_t *v, const mp_object_ops_t *ops,
                              void **out, const char *what) {
  MP_CHECK_KIND(v, ops, what);
  MP_REQUIRE(out, what);
  *out = v->data;
  return MPROC_OK;
}

mproc_status_t mproc_value_get_obj(mproc_value_t *value, void **out) {
  return get_obj((shared_t *)value, &value_ops, out, "value_get_obj");
}

mproc_status_t mproc_array_get_obj(mproc_array_t *array, void **out) {
  return get_obj((shared_t *)array, &array_ops, out, "array_get_obj");
}

static mproc_status_t get_lock(shared_t *v, const mp_object_ops_t *ops,
                               mproc_lock_t **out, const char *what) {
  MP_CHECK_KIND(v, ops, what);
  MP_REQUIRE(out, what);
  if (v->lock == NULL)
    return mp_fail(MPROC_ESTATE, "%s: a raw value or array has no lock",
                   what);
  *out = v->lock;
  return MPROC_OK;
}

mproc_status_t mproc_value_get_lock(mproc_value_t *value,
                                    mproc_lock_t **out) {
  return get_lock((shared_t *)value, &value_ops, out, "value_get_lock");
}

mproc_status_t mproc_array_get_lock(mproc_array_t *array,
                                    mproc_lock_t **out) {
  return get_lock((shared_t *)array, &array_ops, out, "array_get_lock");
}

mproc_status_t mproc_value_typecode(const mproc_value_t *value, char *out) {
  MP_CHECK_KIND(value, &value_ops, "value_typecode");
  MP_REQUIRE(out, "value_typecode: out");
  *out = ((const shared_t *)value)->typecode;
  return MPROC_OK;
}

mproc_status_t mproc_array_typecode(const mproc_array_t *array, char *out) {
  MP_CHECK_KIND(array, &array_ops, "array_typecode");
  MP_REQUIRE(out, "array_typecode: out");
  *out = ((const shared_t *)array)->typecode;
  return MPROC_OK;
}

mproc_status_t mproc_array_length(const mproc_array_t *array, size_t *out) {
  MP_CHECK_KIND(array, &array_ops, "array_length");
  MP_REQUIRE(out, "array_length: out");
  *out = ((const shared_t *)array)->length;
  return MPROC_OK;
}

mproc_status_t mproc_value_free(mproc_value_t *value) {
  if (value == NULL) return MPROC_OK;
  MP_CHECK_KIND(value, &value_ops, "value_free");
  shared_free((shared_t *)value);
  return MPROC_OK;
}

mproc_status_t mproc_array_free(mproc_array_t *array) {
  if (array == NULL) return MPROC_OK;
  MP_CHECK_KIND(array, &array_ops, "array_free");
  shared_free((shared_t *)array);
  return MPROC_OK;
}

/* ---- lock-free atomics on integer values -------------------------- */

static mproc_status_t integer_value(mproc_value_t *value, shared_t **out,
                                    const char *what) {
  MP_CHECK_KIND(value, &value_ops, what);
  shared_t *v = (shared_t *)value;
  if (!v->is_integer)
    return mp_fail(MPROC_EINVAL, "%s: typecode '%c' is not an integer", what,
                   v->typecode);
  *out = v;
  return MPROC_OK;
}

/* Widens the raw bits of an element to int64_t (sign-extending). */
static int64_t widen(const shared_t *v, uint64_t bits) {
  int signed_type = v->is_signed;
  unsigned width = (unsigned)v->elem_size * 8;
  if (width == 64) return (int64_t)bits;
  uint64_t mask = ((uint64_t)1 << width) - 1;
  bits &= mask;
  if (signed_type && (bits >> (width - 1))) bits |= ~mask;
  return (int64_t)bits;
}

#define ATOMIC_BY_SIZE(v, op, ...)                                           \
  switch ((v)->elem_size) {                                                  \
    case 1: result = (uint64_t)op((uint8_t *)(v)->data, __VA_ARGS__); break;  \
    case 2: result = (uint64_t)op((uint16_t *)(v)->data, __VA_ARGS__); break; \
    case 4: result = (uint64_t)op((uint32_t *)(v)->data, __VA_ARGS__); break; \
    default: result = (uint64_t)op((uint64_t *)(v)->data, __VA_ARGS__); break; \
  }

#define LOAD(p, order) __atomic_load_n(p, order)
#define EXCHANGE(p, x, order) __atomic_exchange_n(p, x, order)
#define FETCH_ADD(p, x, order) __atomic_fetch_add(p, x, order)

mproc_status_t mproc_value_load(mproc_value_t *value, int64_t *out) {
  shared_t *v = NULL;
  mproc_status_t st = integer_value(value, &v, "value_load");
  if (st != MPROC_OK) return st;
  MP_REQUIRE(out, "value_load: out");
  uint64_t result;
  ATOMIC_BY_SIZE(v, LOAD, __ATOMIC_SEQ_CST)
  *out = widen(v, result);
  return MPROC_OK;
}

mproc_status_t mproc_value_store(mproc_value_t *value, int64_t x) {
  shared_t *v = NULL;
  mproc_status_t st = integer_value(value, &v, "value_store");
  if (st != MPROC_OK) return st;
  uint64_t result;
  ATOMIC_BY_SIZE(v, EXCHANGE, x, __ATOMIC_SEQ_CST)
  (void)result;
  return MPROC_OK;
}

mproc_status_t mproc_value_fetch_add(mproc_value_t *value, int64_t delta,
                                     int64_t *old) {
  shared_t *v = NULL;
  mproc_status_t st = integer_value(value, &v, "value_fetch_add");
  if (st != MPROC_OK) return st;
  uint64_t result;
  ATOMIC_BY_SIZE(v, FETCH_ADD, delta, __ATOMIC_SEQ_CST)
  if (old) *old = widen(v, result);
  return MPROC_OK;
}

static int cas_bits(shared_t *v, uint64_t *expected, uint64_t desired) {
#define CAS_AS(type)                                                        \
  do {                                                                      \
    type e = (type)*expected;                                               \
    int ok = __atomic_compare_exchange_n((type *)v->data, &e, (type)desired, \
                                         0, __ATOMIC_SEQ_CST,               \
                                         __ATOMIC_SEQ_CST);                 \
    *expected = e;                                                          \
    return ok;                                                              \
  } while (0)
  switch (v->elem_size) {
    case 1: CAS_AS(uint8_t);
    case 2: CAS_AS(uint16_t);
    case 4: CAS_AS(uint32_t);
    default: CAS_AS(uint64_t);
  }
#undef CAS_AS
}

mproc_status_t mproc_value_compare_exchange(mproc_value_t *value,
                                            int64_t *expected,
                                            int64_t desired, int *swapped) {
  shared_t *v = NULL;
  mproc_status_t st = integer_value(value, &v, "value_compare_exchange");
  if (st != MPROC_OK) return st;
  MP_REQUIRE(expected, "value_compare_exchange: expected");
  uint64_t bits = (uint64_t)*expected;
  int ok = cas_bits(v, &bits, (uint64_t)desired);
  *expected = widen(v, bits);
  if (swapped) *swapped = ok;
  return MPROC_OK;
}

mproc_status_t mproc_attached_value(size_t index, mproc_value_t **out) {
  return mp_attached_as(index, &value_ops, (void **)out, "attached_value");
}

mproc_status_t mproc_attached_array(size_t index, mproc_array_t **out) {
  return mp_attached_as(index, &array_ops, (void **)out, "attached_array");
}
