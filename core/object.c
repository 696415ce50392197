/* SPDX-License-Identifier: Apache-2.0 */
/* Shareable objects: the kind registry and the byte helpers. */
#include "core/object.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/locks.h"
#include "platform/platform.h"

static mp_object_ops_t *kinds;

void mp_object_kind_add(mp_object_ops_t *ops) {
  ops->next = kinds;
  kinds = ops;
}

const mp_object_ops_t *mp_object_kind(const char *kind) {
  for (const mp_object_ops_t *k = kinds; k; k = k->next)
    if (strcmp(k->kind, kind) == 0) return k;
  return NULL;
}

/* Inherited handles an import duplicated (spawned child, bootstrap only:
 * one thread). */
static mp_handles_t inherited;

void mp_object_note_inherited(mp_handle_t h) {
  for (size_t i = 0; i < inherited.len; i++)
    if (mp_handle_equal(inherited.items[i], h)) return;
  /* Out of memory: the original stays open, a leak but no harm to the
   * imported views. */
  mp_handles_add(&inherited, h);
}

void mp_object_close_inherited(void) {
  for (size_t i = 0; i < inherited.len; i++)
    mp_handle_close(inherited.items[i]);
  mp_handles_free(&inherited);
}

void mp_object_init(mp_object_t *o, const mp_object_ops_t *ops) {
  static uint64_t last_serial;
  o->magic = MP_OBJECT_MAGIC;
  o->ops = ops;
  o->serial = __atomic_add_fetch(&last_serial, 1, __ATOMIC_RELAXED);
}

void mp_object_invalidate(mp_object_t *o) { o->magic = 0; }

/* ---- type-stable object memory ------------------------------------- */

/* Each object is preceded by a prefix naming its size class and linking
 * it into the list of live objects (for the after_fork walk). Released
 * objects wait in one queue per class (powers of two from 64 bytes),
 * oldest first. An object too large for every class (none exists in mproc
 * today) goes back to malloc when released. Guarded by mp_objects_lock
 * (core/locks.c), which is held across every fork: a forked child never
 * sees a half-linked list. */
#define MIN_CLASS_SHIFT 6
#define NUM_CLASSES 7 /* 64 .. 4096 bytes */
#define NO_CLASS 0xffu

typedef struct prefix {
  _Alignas(16) unsigned size_class;
  struct prefix *prev_live, *next_live; /* while allocated */
} prefix_t;

typedef struct released {
  mp_object_t header; /* kept dead: magic 0 */
  struct released *next;
} released_t;

static struct {
  released_t *head, *tail;
} classes[NUM_CLASSES];
static prefix_t *live; /* every allocated object, newest first */

/* Under mp_objects_lock. */
static void link_live(prefix_t *p) {
  p->prev_live = NULL;
  p->next_live = live;
  if (live != NULL) live->prev_live = p;
  live = p;
}

static void unlink_live(prefix_t *p) {
  if (p->prev_live != NULL)
    p->prev_live->next_live = p->next_live;
  else
    live = p->next_live;
  if (p->next_live != NULL) p->next_live->prev_live = p->prev_live;
  p->prev_live = p->next_live = NULL;
}

static void classes_acquire(void) { mp_objects_lock(); }

static void classes_release(void) { mp_objects_unlock(); }

static void *object_of(prefix_t *p) { return p + 1; }

void mp_object_after_fork(void) {
  /* One thread now, and after_fork neither allocates nor releases. */
  for (prefix_t *p = live; p != NULL; p = p->next_live) {
    mp_object_t *o = object_of(p);
    if (o->magic == MP_OBJECT_MAGIC && o->ops != NULL &&
        o->ops->after_fork != NULL)
      o->ops->after_fork(o);
  }
}

static size_t class_size(unsigned c) {
  return (size_t)1 << (MIN_CLASS_SHIFT + c);
}

static unsigned class_of(size_t size) {
  for (unsigned c = 0; c < NUM_CLASSES; c++)
    if (size <= class_size(c)) return c;
  return NO_CLASS;
}

static prefix_t *prefix_of(void *object) { return (prefix_t *)object - 1; }

void *mp_object_alloc(size_t size) {
  if (size < sizeof(released_t)) size = sizeof(released_t);
  unsigned c = class_of(size);
  released_t *r = NULL;
  if (c != NO_CLASS) {
    classes_acquire();
    if ((r = classes[c].head) != NULL) {
      if ((classes[c].head = r->next) == NULL) classes[c].tail = NULL;
      link_live(prefix_of(r));
    }
    classes_release();
    size = class_size(c);
  }
  if (r != NULL) {
    memset(r, 0, size); /* the object only: the prefix keeps its links */
    return r;
  }
  prefix_t *p = calloc(1, sizeof *p + size);
  if (p == NULL) return NULL;
  p->size_class = c;
  classes_acquire();
  link_live(p);
  classes_release();
  return object_of(p);
}

void mp_object_release(void *object) {
  if (object == NULL) return;
  released_t *r = object;
  r->header.magic = 0;
  r->header.ops = NULL;
  r->next = NULL;
  unsigned c = prefix_of(object)->size_class;
  classes_acquire();
  unlink_live(prefix_of(object));
  if (c == NO_CLASS) {
    classes_release();
    free(prefix_of(object));
    return;
  }
  if (classes[c].tail != NULL)
    classes[c].tail->next = r;
  else
    classes[c].head = r;
  classes[c].tail = r;
  classes_release();
}

/* ---- nodes: type-stable, cached per thread -------------------------- */

typedef struct node {
  mp_object_t header; /* kept dead (magic 0) while released */
  struct node *next;
  _Alignas(16) char rest[MP_NODE_SIZE - sizeof(mp_object_t) - sizeof(void *)];
} node_t;

typedef struct {
  node_t *head, *tail; /* oldest first */
  size_t count;
} node_list_t;

#define NODES_PER_SLAB 256
/* Nodes travel between a thread's cache and the shared pool in batches. */
#define NODES_PER_BATCH (MP_NODE_CACHE_MAX / 2)

/* Every slab ever made, so leak checkers see released nodes reachable
 * after the thread that cached them ends. */
typedef struct slab {
  struct slab *next;
  /* The nodes, from the first 64-byte boundary in it (malloc aligns to
   * 16): each node is one cache line, so a new value costs one line. */
  unsigned char bytes[NODES_PER_SLAB * sizeof(node_t) + 64];
} slab_t;

_Static_assert(sizeof(node_t) == MP_NODE_SIZE, "a node is MP_NODE_SIZE");

/* Nodes move between threads in batches of addresses, never as a list
 * linked through the nodes: a batch a thread takes reads and writes no
 * node until each is handed out (released nodes are cold by then: a map's
 * hundred thousand results, freed by another thread), so the one cache
 * miss a new value costs is a store, which the processor overlaps with
 * the next ones, where walking a list of cold nodes waits for a miss at
 * each. The shared pool hands out its newest batch first (the warmest);
 * each of its nodes waited behind NODES_PER_BATCH others at least in the
 * cache of the thread that released it. A new slab becomes a batch. */
typedef struct batch {
  struct batch *next;
  struct batch *all; /* every batch ever made: leak checkers see them */
  size_t count;
  node_t *nodes[NODES_PER_BATCH];
} batch_t;

typedef struct {
  node_list_t released; /* released by this thread, oldest first */
  batch_t *taking;      /* a batch being handed out, from its end */
} node_cache_t;

static _Thread_local node_cache_t node_cache MP_TLS_FAST;
static batch_t *full_batches;  /* under mp_objects_lock */
static batch_t *empty_batches; /* under mp_objects_lock: kept for reuse */
static batch_t *all_batches;   /* under mp_objects_lock */
static slab_t *slabs;          /* under mp_objects_lock */

static void nodes_push(node_list_t *l, node_t *n) {
  n->next = NULL;
  if (l->tail != NULL)
    l->tail->next = n;
  else
    l->head = n;
  l->tail = n;
  l->count++;
}

static node_t *nodes_pop(node_list_t *l) {
  node_t *n = l->head;
  if (n == NULL) return NULL;
  if ((l->head = n->next) == NULL) l->tail = NULL;
  l->count--;
  return n;
}

/* An empty batch: a kept one, else a new one (under mp_objects_lock);
 * NULL when out of memory. */
static batch_t *empty_batch_locked(void) {
  batch_t *b = empty_batches;
  if (b != NULL) {
    empty_batches = b->next;
  } else if ((b = malloc(sizeof *b)) != NULL) {
    b->all = all_batches;
    all_batches = b;
  }
  if (b != NULL) b->count = 0;
  return b;
}

/* Puts b in the pool: with the full ones if it holds nodes. */
static void batch_put_locked(batch_t *b) {
  batch_t **list = b->count ? &full_batches : &empty_batches;
  b->next = *list;
  *list = b;
}

/* Moves the thread's oldest k released nodes (k <= NODES_PER_BATCH) to
 * the shared pool as one batch. Without memory for a batch they stay. */
static void nodes_give(size_t k) {
  node_list_t *l = &node_cache.released;
  classes_acquire();
  batch_t *b = empty_batch_locked();
  classes_release();
  if (b == NULL) return;
  while (b->count < k && l->head != NULL) b->nodes[b->count++] = nodes_pop(l);
  classes_acquire();
  batch_put_locked(b);
  classes_release();
}

/* The thread's batch is empty: takes the pool's newest full batch, or
 * makes one of a new slab, and hands out a node of it. Out of memory: a
 * released node still in quarantine, or NULL. */
static node_t *nodes_take(void) {
  node_cache_t *c = &node_cache;
  slab_t *slab = NULL;
  classes_acquire();
  if (c->taking != NULL) batch_put_locked(c->taking);
  batch_t *b = full_batches;
  if (b != NULL) {
    full_batches = b->next;
  } else if ((b = empty_batch_locked()) != NULL &&
             (slab = malloc(sizeof *slab)) != NULL) {
    slab->next = slabs;
    slabs = slab;
    node_t *nodes =
        (node_t *)(slab->bytes + (64 - (uintptr_t)slab->bytes % 64));
    for (size_t i = 0; i < NODES_PER_SLAB; i++) b->nodes[i] = &nodes[i];
    b->count = NODES_PER_SLAB;
  } else if (b != NULL) {
    batch_put_locked(b);
    b = NULL;
  }
  classes_release();
  c->taking = b;
  if (b == NULL) return nodes_pop(&c->released);
  return b->nodes[--b->count];
}

_Static_assert(NODES_PER_SLAB <= NODES_PER_BATCH, "a slab fills a batch");

#define PREFETCH_AHEAD 16

void *mp_node_alloc(void) {
  node_cache_t *c = &node_cache;
  node_t *n;
  batch_t *b = c->taking;
  if (c->released.count > MP_NODE_QUARANTINE) {
    n = nodes_pop(&c->released); /* warm: released lately */
  } else if (b != NULL && b->count > 0) {
    n = b->nodes[--b->count];
    /* A batch's nodes are cold: ask for one a few allocations ahead, so
     * its miss overlaps the work on this one (a map decodes a value each). */
    if (b->count >= PREFETCH_AHEAD)
      __builtin_prefetch(b->nodes[b->count - PREFETCH_AHEAD], 1);
  } else if ((n = nodes_take()) == NULL) {
    return NULL;
  }
  memset(n, 0, sizeof *n);
  return n;
}

void mp_node_release(void *node) {
  if (node == NULL) return;
  node_t *n = node;
  n->header.magic = 0;
  n->header.ops = NULL;
  nodes_push(&node_cache.released, n);
  if (node_cache.released.count > MP_NODE_CACHE_MAX)
    nodes_give(NODES_PER_BATCH);
}

void mp_node_flush_thread_cache(void) {
  node_cache_t *c = &node_cache;
  while (c->released.head != NULL) {
    size_t before = c->released.count;
    nodes_give(NODES_PER_BATCH);
    if (c->released.count == before) break; /* no memory for a batch */
  }
  if (c->taking != NULL) {
    classes_acquire();
    batch_put_locked(c->taking);
    classes_release();
    c->taking = NULL;
  }
}

mproc_status_t mp_object_free(void *object) {
  if (object == NULL) return MPROC_OK;
  const mp_object_t *o = object;
  if (o->magic != MP_OBJECT_MAGIC || o->ops == NULL)
    return mp_fail(MPROC_EINVAL,
                   "free: not a live mproc object (already freed, or never "
                   "one)");
  if (o->ops->free == NULL)
    return mp_fail(MPROC_EINVAL, "free: %s %s cannot be freed generically",
                   mp_kind_article(o->ops->kind), o->ops->kind);
  return o->ops->free(object);
}

/* ---- kind checks --------------------------------------------------- */

const char *mp_kind_article(const char *kind) {
  return strchr("aeiou", kind[0]) != NULL ? "an" : "a";
}

mproc_status_t mp_object_mismatch(const void *p, const mp_object_ops_t *ops,
                                  const char *call) {
  const mp_object_t *o = p;
  if (o == NULL)
    return mp_fail(MPROC_EINVAL, "%s: NULL %s", call, ops->kind);
  if (o->magic != MP_OBJECT_MAGIC || o->ops == NULL)
    return mp_fail(MPROC_EINVAL,
                   "%s: expected %s %s, got something that is not a live "
                   "mproc object (already freed, or never one)",
                   call, mp_kind_article(ops->kind), ops->kind);
  return mp_fail(MPROC_EINVAL, "%s: expected %s %s, got %s %s", call,
                 mp_kind_article(ops->kind), ops->kind,
                 mp_kind_article(o->ops->kind), o->ops->kind);
}

static int grow(void **items, size_t *cap, size_t need, size_t size) {
  if (need <= *cap) return 1;
  size_t cap2 = *cap ? *cap : 16;
  while (cap2 < need) cap2 *= 2;
  void *p = realloc(*items, cap2 * size);
  if (p == NULL) return 0;
  *items = p;
  *cap = cap2;
  return 1;
}

unsigned char *mp_buf_grow_room(mp_buf_t *b, size_t n) {
  if (b->failed) return NULL;
  if (n > SIZE_MAX - b->len ||
      !grow((void **)&b->data, &b->cap, b->len + n, 1)) {
    b->failed = 1;
    return NULL;
  }
  return b->data + b->len;
}

void mp_buf_put(mp_buf_t *b, const void *p, size_t n) {
  if (n == 0) return;
  unsigned char *room = mp_buf_room(b, n);
  if (room == NULL) return;
  memcpy(room, p, n);
  b->len += n;
}

void mp_buf_put_u64(mp_buf_t *b, uint64_t v) {
  unsigned char bytes[8];
  for (int i = 0; i < 8; i++) bytes[i] = (unsigned char)(v >> (8 * i));
  mp_buf_put(b, bytes, sizeof bytes);
}

void mp_buf_free(mp_buf_t *b) {
  free(b->data);
  memset(b, 0, sizeof *b);
}

uint64_t mp_read_u64(mp_reader_t *r) {
  const unsigned char *p = mp_read(r, 8);
  uint64_t v = 0;
  for (int i = 0; p && i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
  return v;
}

const void *mp_read(mp_reader_t *r, size_t n) {
  if (r->bad || n > r->len - r->pos) {
    r->bad = 1;
    return NULL;
  }
  const void *p = r->data + r->pos;
  r->pos += n;
  return p;
}

void mp_handles_add(mp_handles_t *h, mp_handle_t handle) {
  if (h->failed) return;
  if (!grow((void **)&h->items, &h->cap, h->len + 1, sizeof *h->items)) {
    h->failed = 1;
    return;
  }
  h->items[h->len++] = handle;
}

void mp_handles_free(mp_handles_t *h) {
  free(h->items);
  memset(h, 0, sizeof *h);
}
