/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Process objects: CPython's multiprocessing.Process over the platform seam.
 *
 * Every started child stays in a table (the registry) until it is closed,
 * so that active_children() can list it and the exit function can
 * terminate daemons and join the rest, as CPython's util._exit_function.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bootstrap.h"
#include "core/connection.h"
#include "core/context.h"
#include "core/internal.h"
#include "core/object.h"
#include "core/popen.h"
#include "core/task_registry.h"

typedef enum { KIND_CHILD, KIND_CURRENT, KIND_PARENT } process_kind_t;
typedef enum { STATE_CREATED, STATE_STARTED, STATE_CLOSED } process_state_t;

struct mproc_process {
  mp_object_t obj; /* kind "process": checked by every call, not attachable */
  process_kind_t kind;
  process_state_t state;
  const mproc_context_t *ctx;
  mproc_task_fn target;
  void *arg;
  size_t arg_len;
  char *name;
  int owns_name;  /* name is this object's to free (else static or borrowed) */
  char *identity; /* "1", "1:2": position in the tree of processes */
  int daemon;
  long creator_pid; /* only the creator may start, join or signal it */
  long pid;
  mp_child_t *child;
  mp_object_t **objects; /* attached, in order */
  size_t nobjects;
  int ended;
  int exitcode;
  mproc_process_t *prev, *next; /* registry links while started */
};

/* What this process is, and who its parent is. */
static mproc_status_t process_free_op(void *obj) {
  return mproc_process_free(obj);
}
static mp_object_ops_t process_ops = {.kind = "process",
                                      .free = process_free_op};
static mproc_process_t current = {.obj = {.magic = MP_OBJECT_MAGIC, .ops = &process_ops},
                                  .kind = KIND_CURRENT,
                                  .state = STATE_STARTED};
static mproc_process_t parent = {.obj = {.magic = MP_OBJECT_MAGIC, .ops = &process_ops},
                                 .kind = KIND_PARENT,
                                 .state = STATE_STARTED};
static int has_parent;
static unsigned long children_counter; /* names Process-N */
static mproc_process_t *registry;       /* started, not closed */
/* What the parent attached for this child (mproc_attached). */
static void **attached;
static size_t nattached;

/* Static names: the current process's strings are replaced in a child. */
static char main_name[] = "MainProcess";
static char empty_identity[] = "";

void mp_process_module_init(void) {
  current.name = main_name;
  current.identity = empty_identity;
  current.pid = mp_getpid();
  current.creator_pid = current.pid;
}

static void registry_add(mproc_process_t *p) {
  mp_registry_lock();
  p->prev = NULL;
  p->next = registry;
  if (registry) registry->prev = p;
  registry = p;
  mp_registry_unlock();
}

/* Whether this process started p. A process the program fork()ed itself
 * (not through mproc) inherits the registry, but its entries are its
 * parent's children: it can neither wait for them nor end them, and its
 * exit must not terminate its parent's daemons. */
static int is_own_child(const mproc_process_t *p) {
  return p->creator_pid == mp_getpid();
}

/* The pid a child of p sees as its parent's: p's creator, which is the
 * caller of start (checked), not current.pid, set when mproc_init or the
 * bootstrap ran: a process the program fork()ed itself has another. */
static long creator_pid_of(const mproc_process_t *p) { return p->creator_pid; }

/* Set (under the registry lock) while the exit function walks its
 * snapshot of the registry: those entries must not be freed under it. */
static int exiting;

/* Removes p unless the exit function is using the registry: 0 then. Its
 * snapshot holds only this process's own children, so one inherited
 * through a plain fork() is removed even then. */
static int registry_remove(mproc_process_t *p) {
  mp_registry_lock();
  int removed = !exiting || !is_own_child(p);
  if (removed) {
    if (p->prev) p->prev->next = p->next;
    if (p->next) p->next->prev = p->prev;
    if (registry == p) registry = p->next;
    p->prev = p->next = NULL;
  }
  mp_registry_unlock();
  return removed;
}

/* ---- creation ----------------------------------------------------- */

static mproc_status_t assign_identity(mproc_process_t *p) {
  mp_registry_lock();
  unsigned long n = ++children_counter;
  mp_registry_unlock();
  const char *base = current.identity;
  size_t size = strlen(base) + 24;
  p->identity = malloc(size);
  p->name = malloc(size + 8);
  if (p->identity == NULL || p->name == NULL)
    return mp_fail(MPROC_ENOMEM, "process_create: name");
  /* By hand, not snprintf: its frames reach a page of stack deeper than
   * the rest of start+join, one more copy-on-write fault at every fork. */
  char digits[24];
  size_t nd = 0;
  do {
    digits[nd++] = (char)('0' + n % 10);
    n /= 10;
  } while (n != 0);
  size_t len = strlen(base);
  char *out = p->identity;
  memcpy(out, base, len);
  out += len;
  if (len) *out++ = ':';
  while (nd) *out++ = digits[--nd];
  *out = '\0';
  memcpy(p->name, "Process-", 8);
  memcpy(p->name + 8, p->identity, (size_t)(out - p->identity) + 1);
  p->owns_name = 1;
  return MPROC_OK;
}

static void process_free(mproc_process_t *p) {
  free(p->objects);
  free(p->arg);
  free(p->name);
  free(p->identity);
  mp_object_release(p);
}

mproc_status_t mproc_process_create(mproc_process_t **out,
                                    mproc_context_t *ctx,
                                    mproc_task_fn target, const void *arg,
                                    size_t arg_len) {
  mproc_status_t st = mp_require_init();
  if (st != MPROC_OK) return st;
  MP_REQUIRE(out, "process_create: out");
  MP_REQUIRE(target, "process_create: target");
  if ((st = mp_context_check(ctx, "process_create")) != MPROC_OK) return st;
  if (arg == NULL && arg_len > 0)
    return mp_fail(MPROC_EINVAL, "process_create: arg NULL with arg_len %zu",
                   arg_len);
  mproc_process_t *p = mp_object_alloc(sizeof *p);
  if (p == NULL) return mp_fail(MPROC_ENOMEM, "process_create");
  mp_object_init(&p->obj, &process_ops);
  p->kind = KIND_CHILD;
  p->state = STATE_CREATED;
  p->ctx = ctx; /* NULL: the default when it starts, as in CPython */
  p->target = target;
  p->daemon = current.daemon; /* CPython: inherits the creator's flag */
  p->creator_pid = mp_getpid();
  p->pid = -1;
  if (arg_len > 0) {
    p->arg = malloc(arg_len);
    if (p->arg == NULL) {
      process_free(p);
      return mp_fail(MPROC_ENOMEM, "process_create: %zu argument bytes",
                     arg_len);
    }
    memcpy(p->arg, arg, arg_len);
    p->arg_len = arg_len;
  }
  if ((st = assign_identity(p)) != MPROC_OK) {
    process_free(p);
    return st;
  }
  *out = p;
  return MPROC_OK;
}

/* ---- state checks ------------------------------------------------- */

static mproc_status_t require_open(const mproc_process_t *p, const char *what) {
  MP_CHECK_KIND(p, &process_ops, what);
  if (p->state == STATE_CLOSED)
    return mp_fail(MPROC_ESTATE, "%s: the process object is closed", what);
  return MPROC_OK;
}

/* A started child of the calling process. */
static mproc_status_t require_own_child(const mproc_process_t *p,
                                        const char *what) {
  mproc_status_t st = require_open(p, what);
  if (st != MPROC_OK) return st;
  if (p->kind != KIND_CHILD)
    return mp_fail(MPROC_ESTATE, "%s: not a child process object", what);
  if (p->state != STATE_STARTED)
    return mp_fail(MPROC_ESTATE, "%s: the process was not started", what);
  if (p->creator_pid != mp_getpid())
    return mp_fail(MPROC_ESTATE, "%s: only the creating process may do this",
                   what);
  return MPROC_OK;
}

/* ---- accessors ---------------------------------------------------- */

mproc_status_t mproc_process_set_name(mproc_process_t *p, const char *name) {
  mproc_status_t st = require_open(p, "set_name");
  if (st != MPROC_OK) return st;
  MP_REQUIRE(name, "set_name: name");
  char *copy = mp_strdup(name);
  if (copy == NULL) return mp_fail(MPROC_ENOMEM, "set_name");
  if (p->owns_name) free(p->name);
  p->name = copy;
  p->owns_name = 1; /* CPython renames the current process too */
  return MPROC_OK;
}

mproc_status_t mproc_process_name(const mproc_process_t *p, const char **out) {
  mproc_status_t st = require_open(p, "name");
  if (st != MPROC_OK) return st;
  MP_REQUIRE(out, "name: out");
  *out = p->name;
  return MPROC_OK;
}

mproc_status_t mproc_process_set_daemon(mproc_process_t *p, int daemon) {
  mproc_status_t st = require_open(p, "set_daemon");
  if (st != MPROC_OK) return st;
  if (p->kind != KIND_CHILD || p->state != STATE_CREATED)
    return mp_fail(MPROC_ESTATE,
                   "set_daemon: only a process not yet started can change it");
  p->daemon = daemon != 0;
  return MPROC_OK;
}

mproc_status_t mproc_process_daemon(const mproc_process_t *p, int *out) {
  mproc_status_t st = require_open(p, "daemon");
  if (st != MPROC_OK) return st;
  MP_REQUIRE(out, "daemon: out");
  *out = p->daemon;
  return MPROC_OK;
}

mproc_status_t mproc_process_pid(const mproc_process_t *p, long *out) {
  mproc_status_t st = require_open(p, "pid");
  if (st != MPROC_OK) return st;
  MP_REQUIRE(out, "pid: out");
  if (p->state != STATE_STARTED)
    return mp_fail(MPROC_ESTATE, "pid: the process was not started");
  /* Ours asked now: this process may be a plain fork() of the one that
   * set current.pid. */
  *out = p->kind == KIND_CURRENT ? mp_getpid() : p->pid;
  return MPROC_OK;
}

mproc_status_t mproc_process_sentinel(const mproc_process_t *p,
                                      mproc_sentinel_t *out) {
  mproc_status_t st = require_own_child(p, "sentinel");
  if (st != MPROC_OK) return st;
  MP_REQUIRE(out, "sentinel: out");
  *out = mp_sentinel_make(MP_SENTINEL_PROCESS, mp_child_sentinel(p->child),
                          &p->obj);
  return MPROC_OK;
}

int mp_process_sentinel_live(const void *object, uint64_t serial,
                             intptr_t os) {
  const mproc_process_t *p = object;
  return p != NULL && p->obj.magic == MP_OBJECT_MAGIC &&
         p->obj.ops == &process_ops && p->obj.serial == serial &&
         p->kind == KIND_CHILD &&
         p->state == STATE_STARTED && p->child != NULL &&
         mp_child_sentinel(p->child).os == os;
}

mproc_status_t mproc_process_attach(mproc_process_t *p, void *object) {
  mproc_status_t st = require_open(p, "attach");
  if (st != MPROC_OK) return st;
  MP_REQUIRE(object, "attach: object");
  mp_object_t *o = object;
  if (o->magic != MP_OBJECT_MAGIC || o->ops == NULL)
    return mp_fail(MPROC_EINVAL, "attach: not a live mproc object");
  if (o->ops->export_state == NULL)
    return mp_fail(MPROC_EINVAL,
                   "attach: %s %s cannot be attached to a process",
                   mp_kind_article(o->ops->kind), o->ops->kind);
  if (p->kind != KIND_CHILD || p->state != STATE_CREATED)
    return mp_fail(MPROC_ESTATE, "attach: the process was started already");
  mp_object_t **grown = realloc(p->objects, (p->nobjects + 1) * sizeof *grown);
  if (grown == NULL) return mp_fail(MPROC_ENOMEM, "attach");
  grown[p->nobjects++] = o;
  p->objects = grown;
  return MPROC_OK;
}

mproc_status_t mproc_attached(size_t index, void **out) {
  mproc_status_t st = mp_require_init();
  if (st != MPROC_OK) return st;
  MP_REQUIRE(out, "attached: out");
  if (index >= nattached)
    return mp_fail(MPROC_EINVAL, "attached: index %zu, but %zu attached",
                   index, nattached);
  *out = attached[index];
  return MPROC_OK;
}

mproc_status_t mp_attached_as(size_t index, const mp_object_ops_t *ops,
                              void **out, const char *call) {
  MP_REQUIRE(out, call);
  void *object = NULL;
  mproc_status_t st = mproc_attached(index, &object);
  if (st != MPROC_OK) return st;
  if ((st = mp_object_check(object, ops, call)) != MPROC_OK) return st;
  *out = object;
  return MPROC_OK;
}

/* ---- starting ----------------------------------------------------- */

/* Becomes the child described by p: this process's view of itself. */
static void become_child(mproc_process_t *p, const char *parent_name,
                         long parent_pid) {
  parent.name = (char *)parent_name;
  parent.owns_name = 0;
  parent.identity = empty_identity;
  parent.pid = parent_pid;
  has_parent = 1;
  current.name = p->name; /* p stays alive for the child's whole life */
  current.owns_name = 0;
  current.identity = p->identity;
  current.daemon = p->daemon;
  /* Not asked here (getpid is a system call in every child): the current
   * process object answers its pid with mp_getpid() when asked, and its
   * creator_pid is never compared (it is no child of ours). */
  current.pid = 0;
  current.creator_pid = 0;
  /* The parent's children are not ours: unlinked, so that closing our
   * copy of one touches no other. */
  for (mproc_process_t *q = registry, *next; q; q = next) {
    next = q->next;
    q->prev = q->next = NULL;
  }
  registry = NULL;
  exiting = 0;
  children_counter = 0;
  attached = (void **)p->objects;
  nattached = p->nobjects;
}

/* The body of a child, after its process state is set up. Whether it
 * dies with its parent was decided by the parent when it created the
 * child (mp_process_dies_with_parent). */
/* A forked child flushes the standard streams only (flush_all 0): every
 * other stream it has may hold its parent's buffered output, which the
 * parent writes itself (core/popen_fork.c); CPython's forked child, which
 * ends with os._exit, flushes no more either. A spawned child's streams
 * are all its own: it flushes them all. */
static int run_task(mproc_task_fn target, const void *arg, size_t arg_len,
                    int flush_all) {
  int code = target(arg_len ? arg : NULL, arg_len);
  mp_process_exit_cleanup();
  if (flush_all) {
    fflush(NULL);
  } else {
    mp_flush_std_streams();
  }
  return code;
}

int mp_process_fork_main(void *ctx) {
  mproc_process_t *p = ctx;
  char *parent_name = current.name;
  mp_object_after_fork();
  become_child(p, parent_name, creator_pid_of(p));
  return run_task(p->target, p->arg, p->arg_len, 0);
}

int mp_process_dies_with_parent(const mproc_process_t *p) { return p->daemon; }

/* Writes each attached object as (kind, state) and gathers its handles. */
static mproc_status_t export_objects(const mproc_process_t *p, mp_buf_t *out,
                                     mp_handles_t *handles) {
  for (size_t i = 0; i < p->nobjects; i++) {
    const mp_object_ops_t *ops = p->objects[i]->ops;
    mp_buf_t state = {0};
    mproc_status_t st = ops->export_state(p->objects[i], &state, handles);
    size_t kind_len = strlen(ops->kind) + 1;
    mp_buf_put_u64(out, kind_len);
    mp_buf_put(out, ops->kind, kind_len);
    mp_buf_put_u64(out, state.len);
    mp_buf_put(out, state.data, state.len);
    int failed = state.failed;
    mp_buf_free(&state);
    if (st != MPROC_OK) return st;
    if (failed || out->failed || handles->failed)
      return mp_fail(MPROC_ENOMEM, "start: exporting a %s", ops->kind);
  }
  return MPROC_OK;
}

void mp_spawn_record_free(mp_spawn_record_t *r) {
  free(r->blob);
  r->blob = NULL;
  r->len = 0;
  mp_handles_free(&r->handles);
}

mproc_status_t mp_process_spawn_record(const mproc_process_t *p,
                                       const char *method,
                                       mp_spawn_record_t *out) {
  const mproc_task_entry_t *task = mp_task_by_fn(p->target);
  if (task == NULL)
    return mp_fail(MPROC_ENOTREGISTERED,
                   "start: the target of '%s' is not registered: define it "
                   "with MPROC_TASK to start it under %s",
                   p->name, method);
  char *key = mp_task_key(task);
  if (key == NULL) return mp_fail(MPROC_ENOMEM, "start: task key");
  mp_buf_t objects = {0};
  mp_spawn_record_t r = {0};
  mproc_status_t st = export_objects(p, &objects, &r.handles);
  mp_bootstrap_t boot = {
      .task = key,
      .name = p->name,
      .identity = p->identity,
      .parent_name = current.name,
      .start_method = mp_context_strategy(NULL)->name,
      .parent_pid = creator_pid_of(p),
      .daemon = p->daemon,
      .arg = p->arg,
      .arg_len = p->arg_len,
      .nobjects = p->nobjects,
      .objects = objects.data,
      .objects_len = objects.len,
  };
  if (st == MPROC_OK) st = mp_bootstrap_encode(&boot, &r.blob, &r.len);
  free(key);
  mp_buf_free(&objects);
  if (st != MPROC_OK) {
    mp_spawn_record_free(&r);
    return st;
  }
  *out = r;
  return MPROC_OK;
}

mproc_status_t mproc_process_start(mproc_process_t *p) {
  mproc_status_t st = require_open(p, "start");
  if (st != MPROC_OK) return st;
  if (p->kind != KIND_CHILD || p->state != STATE_CREATED)
    return mp_fail(MPROC_ESTATE, "start: a process can only be started once");
  if (p->creator_pid != mp_getpid())
    return mp_fail(MPROC_ESTATE,
                   "start: only the process that created it may start it");
  if (current.daemon)
    return mp_fail(MPROC_EDAEMON, "start: '%s' is a daemon", current.name);
  /* NULL: the default when it starts, as in CPython. */
  if ((st = mp_context_strategy(p->ctx)->start(p, &p->child)) != MPROC_OK)
    return st;
  p->pid = mp_child_pid(p->child);
  p->state = STATE_STARTED;
  registry_add(p);
  return MPROC_OK;
}

/* ---- the spawned child -------------------------------------------- */

/* Rebuilds the objects the parent attached, in order. */
static mproc_status_t import_objects(const mp_bootstrap_t *boot,
                                     mproc_process_t *self) {
  if (boot->nobjects > boot->objects_len)
    return mp_fail(MPROC_ESPAWN, "bootstrap: %zu objects in %zu bytes",
                   boot->nobjects, boot->objects_len);
  self->objects = calloc(boot->nobjects ? boot->nobjects : 1,
                         sizeof *self->objects);
  if (self->objects == NULL) return mp_fail(MPROC_ENOMEM, "bootstrap");
  mp_reader_t r = {boot->objects, boot->objects_len, 0, 0};
  for (size_t i = 0; i < boot->nobjects; i++) {
    size_t kind_len = (size_t)mp_read_u64(&r);
    const char *kind = mp_read(&r, kind_len);
    size_t state_len = (size_t)mp_read_u64(&r);
    const void *state = mp_read(&r, state_len);
    if (r.bad || kind_len == 0 || kind[kind_len - 1] != '\0')
      return mp_fail(MPROC_ESPAWN, "bootstrap: malformed object %zu", i);
    const mp_object_ops_t *ops = mp_object_kind(kind);
    if (ops == NULL)
      return mp_fail(MPROC_ESPAWN, "bootstrap: unknown object kind '%s'",
                     kind);
    void *obj;
    mproc_status_t st = ops->import_state(state, state_len, &obj);
    if (st != MPROC_OK) return st;
    self->objects[self->nobjects++] = obj;
  }
  return MPROC_OK;
}

int mp_process_run_spawned(const void *blob, size_t len) {
  mp_bootstrap_t boot;
  if (mp_bootstrap_decode(blob, len, &boot) != MPROC_OK) {
    fprintf(stderr, "mproc: %s\n", mproc_last_error());
    return 255;
  }
  const mproc_task_entry_t *task = mp_task_by_key(boot.task);
  if (task == NULL) {
    char what[1024];
    mp_task_key_describe(boot.task, what, sizeof what);
    fprintf(stderr, "mproc: spawned child: no task %s in this program\n",
            what);
    return 255;
  }
  /* The parent's choice, as CPython's spawn.prepare: not the environment,
   * which the parent may have changed after its own mproc_init. */
  mproc_status_t st = mproc_set_start_method(boot.start_method);
  if (st != MPROC_OK) {
    fprintf(stderr, "mproc: spawned child: %s\n", mproc_last_error());
    return 255;
  }
  static mproc_process_t self;
  st = import_objects(&boot, &self);
  mp_object_close_inherited(); /* each import took its own duplicate */
  if (st != MPROC_OK) {
    fprintf(stderr, "mproc: spawned child: %s\n", mproc_last_error());
    return 255;
  }
  self.name = mp_strdup(boot.name);
  self.identity = mp_strdup(boot.identity);
  char *parent_name = mp_strdup(boot.parent_name);
  if (!self.name || !self.identity || !parent_name) {
    fprintf(stderr, "mproc: spawned child: out of memory\n");
    return 255;
  }
  /* The record packs arg at any offset; the task may cast it to a struct. */
  void *arg = malloc(boot.arg_len ? boot.arg_len : 1);
  if (arg == NULL) {
    fprintf(stderr, "mproc: spawned child: out of memory\n");
    return 255;
  }
  if (boot.arg_len) memcpy(arg, boot.arg, boot.arg_len);
  self.daemon = boot.daemon;
  become_child(&self, parent_name, boot.parent_pid);
  int code = run_task(task->fn, arg, boot.arg_len, 1);
  free(arg);
  return code;
}

/* ---- waiting and signals ------------------------------------------ */

/* Polls or waits for the end of a started child; updates p->ended. */
static mproc_status_t child_wait(mproc_process_t *p, double timeout) {
  if (p->ended) return MPROC_OK;
  mproc_status_t st = mp_child_wait(p->child, timeout, &p->exitcode);
  if (st == MPROC_OK) p->ended = 1;
  return st;
}

static mproc_status_t join_parent(double timeout) {
  double deadline = mp_deadline(timeout);
  while (mp_parent_alive(parent.pid)) {
    if (mp_time_left(deadline) == 0)
      return mp_fail(MPROC_ETIMEDOUT, "join: the parent still runs");
    mp_sleep(0.01);
  }
  return MPROC_OK;
}

mproc_status_t mproc_process_join(mproc_process_t *p, double timeout) {
  mproc_status_t st = mp_check_timeout(timeout, "join");
  if (st != MPROC_OK) return st;
  if (p != NULL && p->kind == KIND_PARENT && has_parent)
    return join_parent(timeout);
  if (p != NULL && p->kind == KIND_CURRENT)
    return mp_fail(MPROC_ESTATE, "join: a process cannot join itself");
  if ((st = require_own_child(p, "join")) != MPROC_OK) return st;
  st = child_wait(p, timeout);
  if (st == MPROC_ETIMEDOUT)
    return mp_fail(MPROC_ETIMEDOUT, "join: '%s' still runs after %gs",
                   p->name, timeout);
  return st;
}

mproc_status_t mproc_process_is_alive(mproc_process_t *p, int *out) {
  mproc_status_t st = require_open(p, "is_alive");
  if (st != MPROC_OK) return st;
  MP_REQUIRE(out, "is_alive: out");
  if (p->kind == KIND_CURRENT) {
    *out = 1;
  } else if (p->kind == KIND_PARENT) {
    *out = mp_parent_alive(p->pid);
  } else if (p->state != STATE_STARTED || p->creator_pid != mp_getpid()) {
    *out = 0; /* CPython: never started; or not ours to know */
  } else {
    st = child_wait(p, 0);
    if (st != MPROC_OK && st != MPROC_ETIMEDOUT) return st;
    *out = !p->ended;
  }
  return MPROC_OK;
}

mproc_status_t mproc_process_exitcode(mproc_process_t *p, int *out) {
  mproc_status_t st = require_own_child(p, "exitcode");
  if (st != MPROC_OK) return st;
  MP_REQUIRE(out, "exitcode: out");
  st = child_wait(p, 0);
  if (st == MPROC_ETIMEDOUT)
    return mp_fail(MPROC_ERUNNING, "exitcode: '%s' still runs", p->name);
  if (st != MPROC_OK) return st;
  *out = p->exitcode;
  return MPROC_OK;
}

static mproc_status_t send_signal(mproc_process_t *p, mp_signal_t sig,
                                  const char *what) {
  mproc_status_t st = require_own_child(p, what);
  if (st != MPROC_OK) return st;
  if (p->ended) return MPROC_OK;
  return mp_child_signal(p->child, sig);
}

mproc_status_t mproc_process_terminate(mproc_process_t *p) {
  return send_signal(p, MP_SIGNAL_TERMINATE, "terminate");
}

mproc_status_t mproc_process_kill(mproc_process_t *p) {
  return send_signal(p, MP_SIGNAL_KILL, "kill");
}

mproc_status_t mp_process_kill_group(mproc_process_t *p) {
  return send_signal(p, MP_SIGNAL_KILL_GROUP, "kill");
}

/* CPython's Process.close: releases the OS resources (the child record,
 * its sentinel, the registry entry) and makes the object unusable; its
 * memory stays until mproc_process_free. A closed object is closed again
 * without error. */
static mproc_status_t process_close(mproc_process_t *p, const char *what) {
  if (p->kind != KIND_CHILD)
    return mp_fail(MPROC_EINVAL, "%s: the %s process object is mproc's",
                   what, p->kind == KIND_CURRENT ? "current" : "parent");
  if (p->state == STATE_CLOSED) return MPROC_OK;
  if (p->state == STATE_STARTED) {
    if (p->creator_pid == mp_getpid()) {
      mproc_status_t st = child_wait(p, 0);
      if (st == MPROC_ETIMEDOUT)
        return mp_fail(MPROC_ERUNNING,
                       "%s: '%s' still runs; join or kill it first", what,
                       p->name);
      if (st != MPROC_OK) return st;
    }
    /* Even when not ours (inherited through a plain fork): the registry
     * must not keep an object that is closed here. */
    if (!registry_remove(p))
      return mp_fail(MPROC_ESTATE,
                     "%s: the program is exiting and mproc is joining "
                     "'%s'", what, p->name);
    mp_child_free(p->child);
    p->child = NULL;
  }
  free(p->objects);
  p->objects = NULL;
  p->nobjects = 0;
  free(p->arg);
  p->arg = NULL;
  p->arg_len = 0;
  p->state = STATE_CLOSED;
  return MPROC_OK;
}

mproc_status_t mproc_process_close(mproc_process_t *p) {
  MP_CHECK_KIND(p, &process_ops, "close");
  return process_close(p, "close");
}

mproc_status_t mproc_process_free(mproc_process_t *p) {
  if (p == NULL) return MPROC_OK;
  MP_CHECK_KIND(p, &process_ops, "process_free");
  mproc_status_t st = process_close(p, "process_free");
  if (st != MPROC_OK) return st;
  process_free(p);
  return MPROC_OK;
}

/* ---- process-wide queries ----------------------------------------- */

mproc_status_t mproc_current_process(mproc_process_t **out) {
  mproc_status_t st = mp_require_init();
  if (st != MPROC_OK) return st;
  MP_REQUIRE(out, "current_process: out");
  *out = &current;
  return MPROC_OK;
}

mproc_status_t mproc_parent_process(mproc_process_t **out) {
  mproc_status_t st = mp_require_init();
  if (st != MPROC_OK) return st;
  MP_REQUIRE(out, "parent_process: out");
  *out = has_parent ? &parent : NULL;
  return MPROC_OK;
}

mproc_status_t mproc_active_children(mproc_process_t **out, size_t cap,
                                     size_t *count) {
  mproc_status_t st = mp_require_init();
  if (st != MPROC_OK) return st;
  MP_REQUIRE(count, "active_children: count");
  if (out == NULL && cap > 0)
    return mp_fail(MPROC_EINVAL, "active_children: NULL out with cap %zu", cap);
  size_t n = 0;
  mp_registry_lock();
  for (mproc_process_t *p = registry; p && st == MPROC_OK; p = p->next) {
    if (!is_own_child(p)) continue;
    st = child_wait(p, 0);
    if (st == MPROC_OK) continue; /* ended: reaped now */
    if (st != MPROC_ETIMEDOUT) break; /* not knowable: say so, drop nothing */
    st = MPROC_OK;
    if (n < cap) out[n] = p;
    n++;
  }
  mp_registry_unlock();
  if (st != MPROC_OK) return st;
  *count = n;
  return MPROC_OK;
}

mproc_status_t mproc_sleep(double seconds) {
  if (isnan(seconds) || seconds < 0)
    return mp_fail(MPROC_EINVAL, "sleep: %g seconds", seconds);
  mp_sleep(seconds);
  return MPROC_OK;
}

mproc_status_t mproc_cpu_count(int *out) {
  MP_REQUIRE(out, "cpu_count: out");
  *out = mp_cpu_count();
  return MPROC_OK;
}

/* ---- exit --------------------------------------------------------- */

/* Grace given to a terminated daemon before it is killed. CPython joins it
 * forever; a daemon that ignores SIGTERM would then hang our exit. */
#define DAEMON_GRACE_SECONDS 2.0

void mp_process_exit_cleanup(void) {
  /* First, as CPython's finalizers of priority 0: no client can connect
   * while the children are joined. */
  mp_listener_exit_cleanup();
  /* Snapshot under the lock, then wait without it. */
  mp_registry_lock();
  size_t n = 0;
  for (mproc_process_t *p = registry; p; p = p->next) n += is_own_child(p);
  mproc_process_t **all = n ? malloc(n * sizeof *all) : NULL;
  size_t k = 0;
  for (mproc_process_t *p = registry; p && all; p = p->next)
    if (is_own_child(p)) all[k++] = p;
  if (all) exiting = 1;
  mp_registry_unlock();
  if (all == NULL) return;
  /* A stopped daemon would only act on its SIGTERM once continued. */
  for (size_t i = 0; i < k; i++)
    if (all[i]->daemon && !all[i]->ended) {
      mp_child_signal(all[i]->child, MP_SIGNAL_TERMINATE);
      mp_child_signal(all[i]->child, MP_SIGNAL_CONTINUE);
    }
  /* Any status but "ended" (still running, or not knowable) is a kill:
   * the wait for ever that follows must not hang on a daemon. */
  for (size_t i = 0; i < k; i++) {
    mproc_process_t *p = all[i];
    if (p->daemon && child_wait(p, DAEMON_GRACE_SECONDS) != MPROC_OK)
      mp_child_signal(p->child, MP_SIGNAL_KILL);
    child_wait(p, MPROC_FOREVER);
  }
  free(all);
  mp_registry_lock();
  exiting = 0;
  mp_registry_unlock();
}
