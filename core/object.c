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

/* Every slab ever made, so leak checkers see released nodes reachable
 * after the thread that cached them ends. */
typedef struct slab {
  struct slab *next;
  _Alignas(16) node_t nodes[NODES_PER_SLAB];
} slab_t;

static _Thread_local node_list_t thread_nodes MP_TLS_FAST;
static node_list_t shared_nodes; /* under mp_objects_lock */
static slab_t *slabs;            /* under mp_objects_lock */

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

/* Moves the first k nodes of from to the end of to. */
static void nodes_move(node_list_t *from, node_list_t *to, size_t k) {
  while (k-- > 0 && from->head != NULL) nodes_push(to, nodes_pop(from));
}

/* Refills the thread's cache from the shared list or a new slab; 0 when
 * out of memory. */
static int nodes_refill(void) {
  classes_acquire();
  nodes_move(&shared_nodes, &thread_nodes, MP_NODE_CACHE_MAX / 2);
  classes_release();
  if (thread_nodes.count > MP_NODE_QUARANTINE) return 1;
  slab_t *slab = malloc(sizeof *slab);
  if (slab == NULL) return thread_nodes.count > 0;
  for (size_t i = 0; i < NODES_PER_SLAB; i++) {
    slab->nodes[i].header.magic = 0;
    slab->nodes[i].header.ops = NULL;
    nodes_push(&thread_nodes, &slab->nodes[i]);
  }
  classes_acquire();
  slab->next = slabs;
  slabs = slab;
  classes_release();
  return 1;
}

void *mp_node_alloc(void) {
  if (thread_nodes.count <= MP_NODE_QUARANTINE && !nodes_refill())
    return NULL;
  node_t *n = nodes_pop(&thread_nodes);
  memset(n, 0, sizeof *n);
  return n;
}

void mp_node_release(void *node) {
  if (node == NULL) return;
  node_t *n = node;
  n->header.magic = 0;
  n->header.ops = NULL;
  nodes_push(&thread_nodes, n);
  if (thread_nodes.count > MP_NODE_CACHE_MAX) {
    classes_acquire();
    nodes_move(&thread_nodes, &shared_nodes, MP_NODE_CACHE_MAX / 2);
    classes_release();
  }
}

void mp_node_flush_thread_cache(void) {
  classes_acquire();
  nodes_move(&thread_nodes, &shared_nodes, thread_nodes.count);
  classes_release();
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

void mp_buf_put(mp_buf_t *b, const void *p, size_t n) {
  if (b->failed || n == 0) return;
  if (!grow((void **)&b->data, &b->cap, b->len + n, 1)) {
    b->failed = 1;
    return;
  }
  memcpy(b->data + b->len, p, n);
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
