/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SyncManager's types, as tables of methods the server dispatches by name
 * (the same mproc_manager_type_t a program registers). Containers hold
 * mproc_obj_t trees; the synchronization types and queues are mproc's own
 * objects living in the server process, called from its client threads.
 * A method's arguments are a list (or NULL: none); docs/manager.md lists
 * each method's arguments and result.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/manager.h"
#include "core/payload.h"

/* ---- arguments ----------------------------------------------------- */

static size_t nargs(const mproc_obj_t *args) {
  return args && args->kind == MPROC_LIST ? args->len : 0;
}

static const mproc_obj_t *arg(const mproc_obj_t *args, size_t i) {
  return i < nargs(args) ? args->u.items[i] : NULL;
}

static mproc_status_t need(const mproc_obj_t *args, size_t lo, size_t hi,
                           const char *what) {
  if (args && args->kind != MPROC_LIST)
    return mp_fail(MPROC_EBADMSG, "%s: the arguments are not a list", what);
  size_t n = nargs(args);
  if (n < lo || n > hi)
    return mp_fail(MPROC_EINVAL, "%s: takes %zu to %zu arguments, got %zu",
                   what, lo, hi, n);
  return MPROC_OK;
}

#define NEED(args, lo, hi, what)                                 \
  do {                                                           \
    mproc_status_t need_st_ = need((args), (lo), (hi), (what));  \
    if (need_st_ != MPROC_OK) return need_st_;                   \
  } while (0)

/* A timeout argument: absent or None waits without limit. */
static mproc_status_t timeout_arg(const mproc_obj_t *v, double *out,
                                  const char *what) {
  *out = MPROC_FOREVER;
  if (v == NULL || v->kind == MPROC_NONE) return MPROC_OK;
  if (v->kind == MPROC_INT) *out = (double)v->u.i;
  else if (v->kind == MPROC_FLOAT && !isnan(v->u.f)) *out = v->u.f;
  else return mp_fail(MPROC_EINVAL, "%s: the timeout is not a number", what);
  return MPROC_OK;
}

static mproc_status_t int_arg(const mproc_obj_t *v, int64_t dflt,
                              int64_t *out, const char *what) {
  *out = dflt;
  if (v == NULL || v->kind == MPROC_NONE) return MPROC_OK;
  if (v->kind != MPROC_INT && v->kind != MPROC_BOOL)
    return mp_fail(MPROC_EINVAL, "%s: expected an int, got %s", what,
                   mp_kind_name(v->kind));
  *out = v->kind == MPROC_INT ? v->u.i : v->u.b;
  return MPROC_OK;
}

static mproc_status_t copy_out(mproc_obj_t **out, const mproc_obj_t *v) {
  return v ? mproc_obj_copy(out, v) : mproc_obj_none(out);
}

/* KeyError / IndexError / ValueError: the referent raised. */
static mproc_status_t raise_repr(const char *error, const mproc_obj_t *v) {
  char *r = NULL;
  if (v == NULL || mproc_obj_repr(v, &r) != MPROC_OK) r = NULL;
  mproc_status_t st = mp_fail(MPROC_EREMOTE, "%s: %s", error, r ? r : "");
  free(r);
  return st;
}

/* ---- dict (and Namespace) ------------------------------------------ */

static mproc_status_t new_container(const mproc_obj_t *args,
                                    mproc_kind_t kind, void **self,
                                    const char *what) {
  NEED(args, 0, 1, what);
  const mproc_obj_t *init = arg(args, 0);
  if (init && init->kind != kind)
    return mp_fail(MPROC_EINVAL, "%s: expected a %s to copy, got %s", what,
                   mp_kind_name(kind), mp_kind_name(init->kind));
  if (init) return mproc_obj_copy((mproc_obj_t **)self, init);
  return kind == MPROC_DICT ? mproc_obj_dict((mproc_obj_t **)self)
                            : mproc_obj_list((mproc_obj_t **)self);
}

static mproc_status_t dict_create(const mproc_obj_t *args, void **self) {
  return new_container(args, MPROC_DICT, self, "dict()");
}

static void container_destroy(void *self) { mproc_obj_free(self); }

/* dict[key] = value (copies of both). */
static mproc_status_t dict_put(mproc_obj_t *d, const mproc_obj_t *key,
                               const mproc_obj_t *value) {
  mproc_obj_t *k = NULL, *v = NULL;
  mproc_status_t st = mproc_obj_copy(&k, key);
  if (st == MPROC_OK) st = mproc_obj_copy(&v, value);
  if (st == MPROC_OK) st = mproc_obj_dict_set(d, k, v);
  if (st != MPROC_OK) {
    mproc_obj_free(k);
    mproc_obj_free(v);
  }
  return st;
}

static mproc_status_t dict_setitem(void *self, const mproc_obj_t *args,
                                   mproc_obj_t **out) {
  (void)out;
  NEED(args, 2, 2, "dict.__setitem__");
  return dict_put(self, arg(args, 0), arg(args, 1));
}

static mproc_status_t key_arg(const mproc_obj_t *args, size_t lo, size_t hi,
                              const char *what) {
  NEED(args, lo, hi, what);
  mproc_kind_t k = arg(args, 0)->kind;
  if (k != MPROC_INT && k != MPROC_STR)
    return mp_fail(MPROC_EINVAL, "%s: a key must be an int or a str, not %s",
                   what, mp_kind_name(k));
  return MPROC_OK;
}

static const mproc_obj_t *dict_lookup(const mproc_obj_t *d,
                                      const mproc_obj_t *key) {
  mproc_obj_t **slot = mp_dict_find(d, key);
  return slot ? slot[1] : NULL;
}

static mproc_status_t dict_getitem(void *self, const mproc_obj_t *args,
                                   mproc_obj_t **out) {
  mproc_status_t st = key_arg(args, 1, 1, "dict.__getitem__");
  if (st != MPROC_OK) return st;
  const mproc_obj_t *v = dict_lookup(self, arg(args, 0));
  return v ? mproc_obj_copy(out, v) : raise_repr("KeyError", arg(args, 0));
}

static mproc_status_t dict_get(void *self, const mproc_obj_t *args,
                               mproc_obj_t **out) {
  mproc_status_t st = key_arg(args, 1, 2, "dict.get");
  if (st != MPROC_OK) return st;
  const mproc_obj_t *v = dict_lookup(self, arg(args, 0));
  return copy_out(out, v ? v : arg(args, 1));
}

/* Removes key; *found says whether it was there. */
static void dict_remove(mproc_obj_t *d, const mproc_obj_t *key, int *found) {
  mproc_obj_t **slot = mp_dict_find(d, key);
  *found = slot != NULL;
  if (slot) mp_dict_remove_at(d, (size_t)(slot - d->u.items) / 2);
}

static mproc_status_t dict_delitem(void *self, const mproc_obj_t *args,
                                   mproc_obj_t **out) {
  (void)out;
  mproc_status_t st = key_arg(args, 1, 1, "dict.__delitem__");
  if (st != MPROC_OK) return st;
  int found;
  dict_remove(self, arg(args, 0), &found);
  return found ? MPROC_OK : raise_repr("KeyError", arg(args, 0));
}

static mproc_status_t dict_pop(void *self, const mproc_obj_t *args,
                               mproc_obj_t **out) {
  mproc_status_t st = key_arg(args, 1, 2, "dict.pop");
  if (st != MPROC_OK) return st;
  const mproc_obj_t *v = dict_lookup(self, arg(args, 0));
  if (v == NULL && nargs(args) < 2) return raise_repr("KeyError", arg(args, 0));
  if ((st = copy_out(out, v ? v : arg(args, 1))) != MPROC_OK) return st;
  int found;
  dict_remove(self, arg(args, 0), &found);
  return MPROC_OK;
}

static mproc_status_t dict_setdefault(void *self, const mproc_obj_t *args,
                                      mproc_obj_t **out) {
  mproc_status_t st = key_arg(args, 1, 2, "dict.setdefault");
  if (st != MPROC_OK) return st;
  const mproc_obj_t *v = dict_lookup(self, arg(args, 0));
  if (v) return mproc_obj_copy(out, v);
  mproc_obj_t *none = NULL;
  const mproc_obj_t *dflt = arg(args, 1);
  if (dflt == NULL && (st = mproc_obj_none(&none)) != MPROC_OK) return st;
  st = dict_put(self, arg(args, 0), dflt ? dflt : none);
  if (st == MPROC_OK) st = copy_out(out, dflt);
  mproc_obj_free(none);
  return st;
}

static mproc_status_t dict_contains(void *self, const mproc_obj_t *args,
                                    mproc_obj_t **out) {
  mproc_status_t st = key_arg(args, 1, 1, "dict.__contains__");
  if (st != MPROC_OK) return st;
  return mproc_obj_bool(out, dict_lookup(self, arg(args, 0)) != NULL);
}

static mproc_status_t container_len(void *self, const mproc_obj_t *args,
                                    mproc_obj_t **out) {
  NEED(args, 0, 0, "__len__");
  return mproc_obj_int(out, (int64_t)((mproc_obj_t *)self)->len);
}

static mproc_status_t container_copy(void *self, const mproc_obj_t *args,
                                     mproc_obj_t **out) {
  NEED(args, 0, 0, "copy");
  return mproc_obj_copy(out, self);
}

static mproc_status_t container_clear(void *self, const mproc_obj_t *args,
                                      mproc_obj_t **out) {
  (void)out;
  NEED(args, 0, 0, "clear");
  mproc_obj_t *c = self, *fresh = NULL;
  mproc_status_t st = c->kind == MPROC_DICT ? mproc_obj_dict(&fresh)
                                            : mproc_obj_list(&fresh);
  if (st != MPROC_OK) return st;
  /* Swap the contents: self keeps its identity. */
  mproc_obj_t tmp = *c;
  c->len = fresh->len, c->cap = fresh->cap, c->index = fresh->index;
  c->u = fresh->u;
  fresh->len = tmp.len, fresh->cap = tmp.cap, fresh->index = tmp.index;
  fresh->u = tmp.u;
  size_t n = c->kind == MPROC_DICT ? 2 * fresh->len : fresh->len;
  for (size_t i = 0; i < n; i++) fresh->u.items[i]->parent = fresh;
  mproc_obj_free(fresh);
  return MPROC_OK;
}

/* keys (0), values (1), items (2) as a list. */
static mproc_status_t dict_view(const mproc_obj_t *d, int which,
                                mproc_obj_t **out) {
  mproc_obj_t *list = NULL;
  mproc_status_t st = mproc_obj_list(&list);
  for (size_t e = 0; st == MPROC_OK && e < d->len; e++) {
    mproc_obj_t *item = NULL;
    const mproc_obj_t *k = d->u.items[2 * e], *v = d->u.items[2 * e + 1];
    if (which == 2) {
      mproc_obj_t *kc = NULL, *vc = NULL;
      st = mproc_obj_copy(&kc, k);
      if (st == MPROC_OK) st = mproc_obj_copy(&vc, v);
      if (st == MPROC_OK) st = mproc_obj_build(&item, "[NN]", kc, vc);
      if (st != MPROC_OK) mproc_obj_free(kc), mproc_obj_free(vc);
    } else {
      st = mproc_obj_copy(&item, which ? v : k);
    }
    if (st == MPROC_OK && (st = mproc_obj_list_append(list, item)) != MPROC_OK)
      mproc_obj_free(item);
  }
  if (st != MPROC_OK) {
    mproc_obj_free(list);
    return st;
  }
  *out = list;
  return MPROC_OK;
}

static mproc_status_t dict_keys(void *self, const mproc_obj_t *args,
                                mproc_obj_t **out) {
  NEED(args, 0, 0, "dict.keys");
  return dict_view(self, 0, out);
}

static mproc_status_t dict_values(void *self, const mproc_obj_t *args,
                                  mproc_obj_t **out) {
  NEED(args, 0, 0, "dict.values");
  return dict_view(self, 1, out);
}

static mproc_status_t dict_items(void *self, const mproc_obj_t *args,
                                 mproc_obj_t **out) {
  NEED(args, 0, 0, "dict.items");
  return dict_view(self, 2, out);
}

static mproc_status_t dict_update(void *self, const mproc_obj_t *args,
                                  mproc_obj_t **out) {
  (void)out;
  NEED(args, 1, 1, "dict.update");
  const mproc_obj_t *src = arg(args, 0);
  if (src->kind != MPROC_DICT)
    return mp_fail(MPROC_EINVAL, "dict.update: expected a dict, got %s",
                   mp_kind_name(src->kind));
  mproc_status_t st = MPROC_OK;
  for (size_t e = 0; st == MPROC_OK && e < src->len; e++)
    st = dict_put(self, src->u.items[2 * e], src->u.items[2 * e + 1]);
  return st;
}

/* The hottest two first: the server looks methods up in order. */
static const mproc_manager_method_t dict_methods[] = {
    {"__setitem__", dict_setitem, NULL},
    {"__getitem__", dict_getitem, NULL},
    {"get", dict_get, NULL},
    {"__delitem__", dict_delitem, NULL},
    {"__contains__", dict_contains, NULL},
    {"__len__", container_len, NULL},
    {"keys", dict_keys, NULL},
    {"values", dict_values, NULL},
    {"items", dict_items, NULL},
    {"update", dict_update, NULL},
    {"pop", dict_pop, NULL},
    {"setdefault", dict_setdefault, NULL},
    {"clear", container_clear, NULL},
    {"copy", container_copy, NULL},
    {NULL, NULL, NULL}};

static const mproc_manager_method_t namespace_methods[] = {
    {"__getattr__", dict_getitem, NULL},
    {"__setattr__", dict_setitem, NULL},
    {"__delattr__", dict_delitem, NULL},
    {"copy", container_copy, NULL},
    {NULL, NULL, NULL}};

/* ---- list ---------------------------------------------------------- */

static mproc_status_t list_create(const mproc_obj_t *args, void **self) {
  return new_container(args, MPROC_LIST, self, "list()");
}

/* Python's index rules: negative counts from the end; *at in [0, len)
 * (or [0, len] when end_ok). */
static mproc_status_t list_index(const mproc_obj_t *l, const mproc_obj_t *v,
                                 int end_ok, size_t *at, const char *what) {
  int64_t i;
  mproc_status_t st = int_arg(v, 0, &i, what);
  if (st != MPROC_OK) return st;
  int64_t n = (int64_t)l->len;
  if (i < 0) i += n;
  if (end_ok) i = i < 0 ? 0 : i > n ? n : i;
  if (i < 0 || i >= n + (end_ok ? 1 : 0))
    return mp_fail(MPROC_EREMOTE, "IndexError: list index out of range");
  *at = (size_t)i;
  return MPROC_OK;
}

/* Inserts a copy of v at index at. */
static mproc_status_t list_put(mproc_obj_t *l, size_t at,
                               const mproc_obj_t *v) {
  mproc_obj_t *c = NULL;
  mproc_status_t st = mproc_obj_copy(&c, v);
  if (st != MPROC_OK) return st;
  if (!mp_obj_reserve(l, 1)) {
    mproc_obj_free(c);
    return mp_fail(MPROC_ENOMEM, "list: room for an item");
  }
  memmove(&l->u.items[at + 1], &l->u.items[at],
          (l->len - at) * sizeof l->u.items[0]);
  l->u.items[at] = c;
  c->parent = l;
  l->len++;
  return MPROC_OK;
}

static void list_remove_at(mproc_obj_t *l, size_t at) {
  mp_obj_destroy(l->u.items[at]);
  memmove(&l->u.items[at], &l->u.items[at + 1],
          (l->len - at - 1) * sizeof l->u.items[0]);
  l->len--;
}

static mproc_status_t list_append(void *self, const mproc_obj_t *args,
                                  mproc_obj_t **out) {
  (void)out;
  NEED(args, 1, 1, "list.append");
  mproc_obj_t *l = self;
  return list_put(l, l->len, arg(args, 0));
}

static mproc_status_t list_extend(void *self, const mproc_obj_t *args,
                                  mproc_obj_t **out) {
  (void)out;
  NEED(args, 1, 1, "list.extend");
  const mproc_obj_t *src = arg(args, 0);
  if (src->kind != MPROC_LIST)
    return mp_fail(MPROC_EINVAL, "list.extend: expected a list, got %s",
                   mp_kind_name(src->kind));
  mproc_obj_t *l = self;
  mproc_status_t st = MPROC_OK;
  for (size_t i = 0; st == MPROC_OK && i < src->len; i++)
    st = list_put(l, l->len, src->u.items[i]);
  return st;
}

static mproc_status_t list_insert(void *self, const mproc_obj_t *args,
                                  mproc_obj_t **out) {
  (void)out;
  NEED(args, 2, 2, "list.insert");
  size_t at;
  mproc_status_t st = list_index(self, arg(args, 0), 1, &at, "list.insert");
  return st == MPROC_OK ? list_put(self, at, arg(args, 1)) : st;
}

static mproc_status_t list_getitem(void *self, const mproc_obj_t *args,
                                   mproc_obj_t **out) {
  NEED(args, 1, 1, "list.__getitem__");
  mproc_obj_t *l = self;
  size_t at;
  mproc_status_t st = list_index(l, arg(args, 0), 0, &at, "list.__getitem__");
  return st == MPROC_OK ? mproc_obj_copy(out, l->u.items[at]) : st;
}

static mproc_status_t list_setitem(void *self, const mproc_obj_t *args,
                                   mproc_obj_t **out) {
  (void)out;
  NEED(args, 2, 2, "list.__setitem__");
  mproc_obj_t *l = self;
  size_t at;
  mproc_status_t st = list_index(l, arg(args, 0), 0, &at, "list.__setitem__");
  if (st == MPROC_OK) st = list_put(l, at, arg(args, 1));
  if (st == MPROC_OK) list_remove_at(l, at + 1);
  return st;
}

static mproc_status_t list_pop(void *self, const mproc_obj_t *args,
                               mproc_obj_t **out) {
  NEED(args, 0, 1, "list.pop");
  mproc_obj_t *l = self;
  if (l->len == 0)
    return mp_fail(MPROC_EREMOTE, "IndexError: pop from empty list");
  size_t at = l->len - 1;
  mproc_status_t st =
      arg(args, 0) ? list_index(l, arg(args, 0), 0, &at, "list.pop") : MPROC_OK;
  if (st == MPROC_OK) st = mproc_obj_copy(out, l->u.items[at]);
  if (st == MPROC_OK) list_remove_at(l, at);
  return st;
}

/* The first index of an item equal to v, or l->len. */
static size_t list_find(const mproc_obj_t *l, const mproc_obj_t *v) {
  for (size_t i = 0; i < l->len; i++) {
    int eq = 0;
    if (mproc_obj_equal(l->u.items[i], v, &eq) == MPROC_OK && eq) return i;
  }
  return l->len;
}

static mproc_status_t list_remove(void *self, const mproc_obj_t *args,
                                  mproc_obj_t **out) {
  (void)out;
  NEED(args, 1, 1, "list.remove");
  mproc_obj_t *l = self;
  size_t at = list_find(l, arg(args, 0));
  if (at == l->len)
    return raise_repr("ValueError: list.remove(x): x not in list",
                      arg(args, 0));
  list_remove_at(l, at);
  return MPROC_OK;
}

static mproc_status_t list_index_of(void *self, const mproc_obj_t *args,
                                    mproc_obj_t **out) {
  NEED(args, 1, 1, "list.index");
  mproc_obj_t *l = self;
  size_t at = list_find(l, arg(args, 0));
  if (at == l->len) return raise_repr("ValueError: not in list", arg(args, 0));
  return mproc_obj_int(out, (int64_t)at);
}

static mproc_status_t list_count(void *self, const mproc_obj_t *args,
                                 mproc_obj_t **out) {
  NEED(args, 1, 1, "list.count");
  const mproc_obj_t *l = self;
  int64_t n = 0;
  for (size_t i = 0; i < l->len; i++) {
    int eq = 0;
    if (mproc_obj_equal(l->u.items[i], arg(args, 0), &eq) == MPROC_OK && eq)
      n++;
  }
  return mproc_obj_int(out, n);
}

static const mproc_manager_method_t list_methods[] = {
    {"append", list_append, NULL},
    {"__getitem__", list_getitem, NULL},
    {"__setitem__", list_setitem, NULL},
    {"__len__", container_len, NULL},
    {"extend", list_extend, NULL},
    {"insert", list_insert, NULL},
    {"pop", list_pop, NULL},
    {"remove", list_remove, NULL},
    {"index", list_index_of, NULL},
    {"count", list_count, NULL},
    {"clear", container_clear, NULL},
    {"copy", container_copy, NULL},
    {NULL, NULL, NULL}};

/* ---- Value and Array ----------------------------------------------- */

typedef struct {
  char typecode;
  mproc_obj_t *v; /* Value: the value; Array: a list of them */
} typed_t;

/* Checks (and for f/d converts) one item for typecode. */
static mproc_status_t typed_item(char typecode, const mproc_obj_t *v,
                                 mproc_obj_t **out) {
  size_t size;
  mproc_status_t st = mproc_typecode_size(typecode, &size);
  if (st != MPROC_OK) return st;
  int is_float = typecode == 'f' || typecode == 'd';
  if (typecode == 'c') {
    if (v->kind != MPROC_BYTES || v->len != 1)
      return mp_fail(MPROC_EINVAL, "typecode 'c' takes one byte");
  } else if (is_float && v->kind == MPROC_INT) {
    return mproc_obj_float(out, (double)v->u.i);
  } else if (is_float ? v->kind != MPROC_FLOAT
                      : v->kind != MPROC_INT && v->kind != MPROC_BOOL) {
    return mp_fail(MPROC_EINVAL, "typecode '%c' cannot hold a %s", typecode,
                   mp_kind_name(v->kind));
  }
  return mproc_obj_copy(out, v);
}

static void typed_destroy(void *self) {
  typed_t *t = self;
  mproc_obj_free(t->v);
  free(t);
}

static mproc_status_t typecode_arg(const mproc_obj_t *v, char *out,
                                   const char *what) {
  if (v->kind != MPROC_STR || v->len != 1)
    return mp_fail(MPROC_EINVAL, "%s: the typecode must be a one-letter str",
                   what);
  *out = v->u.s[0];
  return MPROC_OK;
}

static mproc_status_t value_create(const mproc_obj_t *args, void **self) {
  NEED(args, 2, 2, "Value()");
  typed_t *t = calloc(1, sizeof *t);
  if (t == NULL) return mp_fail(MPROC_ENOMEM, "Value()");
  mproc_status_t st = typecode_arg(arg(args, 0), &t->typecode, "Value()");
  if (st == MPROC_OK) st = typed_item(t->typecode, arg(args, 1), &t->v);
  if (st != MPROC_OK) {
    free(t);
    return st;
  }
  *self = t;
  return MPROC_OK;
}

static mproc_status_t value_get(void *self, const mproc_obj_t *args,
                                mproc_obj_t **out) {
  NEED(args, 0, 0, "Value.get");
  return mproc_obj_copy(out, ((typed_t *)self)->v);
}

static mproc_status_t value_set(void *self, const mproc_obj_t *args,
                                mproc_obj_t **out) {
  (void)out;
  NEED(args, 1, 1, "Value.set");
  typed_t *t = self;
  mproc_obj_t *v = NULL;
  mproc_status_t st = typed_item(t->typecode, arg(args, 0), &v);
  if (st != MPROC_OK) return st;
  mproc_obj_free(t->v);
  t->v = v;
  return MPROC_OK;
}

static const mproc_manager_method_t value_methods[] = {
    {"get", value_get, NULL}, {"set", value_set, NULL}, {NULL, NULL, NULL}};

/* Array(typecode, sequence or size). */
static mproc_status_t array_create(const mproc_obj_t *args, void **self) {
  NEED(args, 2, 2, "Array()");
  typed_t *t = calloc(1, sizeof *t);
  if (t == NULL) return mp_fail(MPROC_ENOMEM, "Array()");
  const mproc_obj_t *init = arg(args, 1);
  mproc_status_t st = typecode_arg(arg(args, 0), &t->typecode, "Array()");
  if (st == MPROC_OK) st = mproc_obj_list(&t->v);
  int64_t n = init->kind == MPROC_INT ? init->u.i : 0;
  if (st == MPROC_OK && init->kind != MPROC_INT && init->kind != MPROC_LIST)
    st = mp_fail(MPROC_EINVAL, "Array(): a size or a list of items");
  for (int64_t i = 0; st == MPROC_OK && i < n; i++) {
    mproc_obj_t *zero = NULL;
    st = t->typecode == 'f' || t->typecode == 'd' ? mproc_obj_float(&zero, 0)
         : t->typecode == 'c' ? mproc_obj_bytes(&zero, "", 1)
                              : mproc_obj_int(&zero, 0);
    if (st == MPROC_OK && (st = mproc_obj_list_append(t->v, zero)) != MPROC_OK)
      mproc_obj_free(zero);
  }
  for (size_t i = 0; st == MPROC_OK && init->kind == MPROC_LIST &&
                     i < init->len; i++) {
    mproc_obj_t *item = NULL;
    st = typed_item(t->typecode, init->u.items[i], &item);
    if (st == MPROC_OK && (st = mproc_obj_list_append(t->v, item)) != MPROC_OK)
      mproc_obj_free(item);
  }
  if (st != MPROC_OK) {
    typed_destroy(t);
    return st;
  }
  *self = t;
  return MPROC_OK;
}

static mproc_status_t array_getitem(void *self, const mproc_obj_t *args,
                                    mproc_obj_t **out) {
  return list_getitem(((typed_t *)self)->v, args, out);
}

static mproc_status_t array_setitem(void *self, const mproc_obj_t *args,
                                    mproc_obj_t **out) {
  typed_t *t = self;
  NEED(args, 2, 2, "Array.__setitem__");
  mproc_obj_t *item = NULL, *pair = NULL, *index = NULL;
  mproc_status_t st = typed_item(t->typecode, arg(args, 1), &item);
  if (st == MPROC_OK) st = mproc_obj_copy(&index, arg(args, 0));
  if (st == MPROC_OK) st = mproc_obj_build(&pair, "[NN]", index, item);
  if (st != MPROC_OK) {
    mproc_obj_free(item);
    mproc_obj_free(index);
    return st;
  }
  st = list_setitem(t->v, pair, out);
  mproc_obj_free(pair);
  return st;
}

static mproc_status_t array_len(void *self, const mproc_obj_t *args,
                                mproc_obj_t **out) {
  return container_len(((typed_t *)self)->v, args, out);
}

static mproc_status_t array_tolist(void *self, const mproc_obj_t *args,
                                   mproc_obj_t **out) {
  return container_copy(((typed_t *)self)->v, args, out);
}

static const mproc_manager_method_t array_methods[] = {
    {"__getitem__", array_getitem, NULL},
    {"__setitem__", array_setitem, NULL},
    {"__len__", array_len, NULL},
    {"tolist", array_tolist, NULL},
    {NULL, NULL, NULL}};

/* ---- queues -------------------------------------------------------- */

static mproc_status_t any_queue_create(const mproc_obj_t *args, void **self,
                                       int joinable) {
  NEED(args, 0, 1, "Queue()");
  int64_t maxsize;
  mproc_status_t st = int_arg(arg(args, 0), 0, &maxsize, "Queue()");
  if (st == MPROC_OK && maxsize < 0) maxsize = 0; /* Python: no limit */
  if (st != MPROC_OK) return st;
  return joinable ? mproc_joinable_queue_create((mproc_queue_t **)self,
                                                (size_t)maxsize, 0)
                  : mproc_queue_create((mproc_queue_t **)self,
                                       (size_t)maxsize, 0);
}

static mproc_status_t queue_create(const mproc_obj_t *args, void **self) {
  return any_queue_create(args, self, 0);
}

static mproc_status_t joinable_queue_create(const mproc_obj_t *args,
                                            void **self) {
  return any_queue_create(args, self, 1);
}

static void queue_destroy(void *self) { mproc_queue_free(self); }

static mproc_status_t queue_put(void *self, const mproc_obj_t *args,
                                mproc_obj_t **out) {
  (void)out;
  NEED(args, 1, 2, "Queue.put");
  double timeout;
  mproc_status_t st = timeout_arg(arg(args, 1), &timeout, "Queue.put");
  return st == MPROC_OK ? mproc_queue_put(self, arg(args, 0), timeout) : st;
}

static mproc_status_t queue_put_nowait(void *self, const mproc_obj_t *args,
                                       mproc_obj_t **out) {
  (void)out;
  NEED(args, 1, 1, "Queue.put_nowait");
  return mproc_queue_put_nowait(self, arg(args, 0));
}

static mproc_status_t queue_get(void *self, const mproc_obj_t *args,
                                mproc_obj_t **out) {
  NEED(args, 0, 1, "Queue.get");
  double timeout;
  mproc_status_t st = timeout_arg(arg(args, 0), &timeout, "Queue.get");
  return st == MPROC_OK ? mproc_queue_get(self, out, timeout) : st;
}

static mproc_status_t queue_get_nowait(void *self, const mproc_obj_t *args,
                                       mproc_obj_t **out) {
  NEED(args, 0, 0, "Queue.get_nowait");
  return mproc_queue_get_nowait(self, out);
}

static mproc_status_t queue_qsize(void *self, const mproc_obj_t *args,
                                  mproc_obj_t **out) {
  NEED(args, 0, 0, "Queue.qsize");
  size_t n;
  mproc_status_t st = mproc_queue_qsize(self, &n);
  return st == MPROC_OK ? mproc_obj_int(out, (int64_t)n) : st;
}

static mproc_status_t queue_empty(void *self, const mproc_obj_t *args,
                                  mproc_obj_t **out) {
  NEED(args, 0, 0, "Queue.empty");
  int b;
  mproc_status_t st = mproc_queue_empty(self, &b);
  return st == MPROC_OK ? mproc_obj_bool(out, b) : st;
}

static mproc_status_t queue_full(void *self, const mproc_obj_t *args,
                                 mproc_obj_t **out) {
  NEED(args, 0, 0, "Queue.full");
  int b;
  mproc_status_t st = mproc_queue_full(self, &b);
  return st == MPROC_OK ? mproc_obj_bool(out, b) : st;
}

static mproc_status_t queue_task_done(void *self, const mproc_obj_t *args,
                                      mproc_obj_t **out) {
  (void)out;
  NEED(args, 0, 0, "JoinableQueue.task_done");
  return mproc_queue_task_done(self);
}

static mproc_status_t queue_join(void *self, const mproc_obj_t *args,
                                 mproc_obj_t **out) {
  (void)out;
  NEED(args, 0, 1, "JoinableQueue.join");
  double timeout;
  mproc_status_t st = timeout_arg(arg(args, 0), &timeout, "join");
  return st == MPROC_OK ? mproc_queue_join(self, timeout) : st;
}

#define QUEUE_METHODS                                                \
  {"put", queue_put, NULL}, {"get", queue_get, NULL},                \
      {"put_nowait", queue_put_nowait, NULL},                        \
      {"get_nowait", queue_get_nowait, NULL},                        \
      {"qsize", queue_qsize, NULL}, {"empty", queue_empty, NULL},    \
      {"full", queue_full, NULL}

static const mproc_manager_method_t queue_methods[] = {QUEUE_METHODS,
                                                       {NULL, NULL, NULL}};
static const mproc_manager_method_t joinable_queue_methods[] = {
    QUEUE_METHODS,
    {"task_done", queue_task_done, NULL},
    {"join", queue_join, NULL},
    {NULL, NULL, NULL}};

/* ---- Lock, RLock, Semaphore, BoundedSemaphore ---------------------- */

static mproc_status_t lock_create(const mproc_obj_t *args, void **self) {
  NEED(args, 0, 0, "Lock()");
  return mproc_lock_create((mproc_lock_t **)self);
}

static mproc_status_t rlock_create(const mproc_obj_t *args, void **self) {
  NEED(args, 0, 0, "RLock()");
  return mproc_rlock_create((mproc_lock_t **)self);
}

static void lock_destroy(void *self) { mproc_lock_free(self); }

static mproc_status_t lock_acquire(void *self, const mproc_obj_t *args,
                                   mproc_obj_t **out) {
  (void)out;
  NEED(args, 0, 1, "Lock.acquire");
  double timeout;
  mproc_status_t st = timeout_arg(arg(args, 0), &timeout, "Lock.acquire");
  return st == MPROC_OK ? mproc_lock_acquire(self, timeout) : st;
}

static mproc_status_t lock_release(void *self, const mproc_obj_t *args,
                                   mproc_obj_t **out) {
  (void)out;
  NEED(args, 0, 0, "Lock.release");
  return mproc_lock_release(self);
}

static const mproc_manager_method_t lock_methods[] = {
    {"acquire", lock_acquire, NULL},
    {"release", lock_release, NULL},
    {NULL, NULL, NULL}};

static mproc_status_t any_semaphore_create(const mproc_obj_t *args,
                                           void **self, int bounded) {
  NEED(args, 0, 1, "Semaphore()");
  int64_t value;
  mproc_status_t st = int_arg(arg(args, 0), 1, &value, "Semaphore()");
  if (st == MPROC_OK && (value < 0 || value > (int64_t)MPROC_SEMAPHORE_MAX))
    st = mp_fail(MPROC_EINVAL, "Semaphore(): value %lld out of range",
                 (long long)value);
  if (st != MPROC_OK) return st;
  return bounded ? mproc_bounded_semaphore_create((mproc_semaphore_t **)self,
                                                  (unsigned)value)
                 : mproc_semaphore_create((mproc_semaphore_t **)self,
                                          (unsigned)value);
}

static mproc_status_t semaphore_create(const mproc_obj_t *args, void **self) {
  return any_semaphore_create(args, self, 0);
}

static mproc_status_t bounded_semaphore_create(const mproc_obj_t *args,
                                               void **self) {
  return any_semaphore_create(args, self, 1);
}

static void semaphore_destroy(void *self) { mproc_semaphore_free(self); }

static mproc_status_t semaphore_acquire(void *self, const mproc_obj_t *args,
                                        mproc_obj_t **out) {
  (void)out;
  NEED(args, 0, 1, "Semaphore.acquire");
  double timeout;
  mproc_status_t st = timeout_arg(arg(args, 0), &timeout, "acquire");
  return st == MPROC_OK ? mproc_semaphore_acquire(self, timeout) : st;
}

static mproc_status_t semaphore_release(void *self, const mproc_obj_t *args,
                                        mproc_obj_t **out) {
  (void)out;
  NEED(args, 0, 0, "Semaphore.release");
  return mproc_semaphore_release(self);
}

static mproc_status_t semaphore_get_value(void *self, const mproc_obj_t *args,
                                          mproc_obj_t **out) {
  NEED(args, 0, 0, "Semaphore.get_value");
  unsigned v;
  mproc_status_t st = mproc_semaphore_get_value(self, &v);
  return st == MPROC_OK ? mproc_obj_int(out, v) : st;
}

static const mproc_manager_method_t semaphore_methods[] = {
    {"acquire", semaphore_acquire, NULL},
    {"release", semaphore_release, NULL},
    {"get_value", semaphore_get_value, NULL},
    {NULL, NULL, NULL}};

/* ---- Condition, Event, Barrier ------------------------------------- */

static mproc_status_t condition_create(const mproc_obj_t *args, void **self) {
  NEED(args, 0, 0, "Condition()");
  return mproc_condition_create((mproc_condition_t **)self, NULL);
}

static void condition_destroy(void *self) { mproc_condition_free(self); }

static mproc_status_t condition_acquire(void *self, const mproc_obj_t *args,
                                        mproc_obj_t **out) {
  (void)out;
  NEED(args, 0, 1, "Condition.acquire");
  double timeout;
  mproc_status_t st = timeout_arg(arg(args, 0), &timeout, "acquire");
  return st == MPROC_OK ? mproc_condition_acquire(self, timeout) : st;
}

static mproc_status_t condition_release(void *self, const mproc_obj_t *args,
                                        mproc_obj_t **out) {
  (void)out;
  NEED(args, 0, 0, "Condition.release");
  return mproc_condition_release(self);
}

static mproc_status_t condition_wait(void *self, const mproc_obj_t *args,
                                     mproc_obj_t **out) {
  (void)out;
  NEED(args, 0, 1, "Condition.wait");
  double timeout;
  mproc_status_t st = timeout_arg(arg(args, 0), &timeout, "wait");
  return st == MPROC_OK ? mproc_condition_wait(self, timeout) : st;
}

static mproc_status_t condition_notify(void *self, const mproc_obj_t *args,
                                       mproc_obj_t **out) {
  (void)out;
  NEED(args, 0, 1, "Condition.notify");
  int64_t n;
  mproc_status_t st = int_arg(arg(args, 0), 1, &n, "notify");
  if (st == MPROC_OK && n < 0)
    st = mp_fail(MPROC_EINVAL, "Condition.notify: a negative count");
  return st == MPROC_OK ? mproc_condition_notify(self, (size_t)n) : st;
}

static mproc_status_t condition_notify_all(void *self, const mproc_obj_t *args,
                                           mproc_obj_t **out) {
  (void)out;
  NEED(args, 0, 0, "Condition.notify_all");
  return mproc_condition_notify_all(self);
}

static const mproc_manager_method_t condition_methods[] = {
    {"acquire", condition_acquire, NULL},
    {"release", condition_release, NULL},
    {"wait", condition_wait, NULL},
    {"notify", condition_notify, NULL},
    {"notify_all", condition_notify_all, NULL},
    {NULL, NULL, NULL}};

static mproc_status_t event_create(const mproc_obj_t *args, void **self) {
  NEED(args, 0, 0, "Event()");
  return mproc_event_create((mproc_event_t **)self);
}

static void event_destroy(void *self) { mproc_event_free(self); }

static mproc_status_t event_set(void *self, const mproc_obj_t *args,
                                mproc_obj_t **out) {
  (void)out;
  NEED(args, 0, 0, "Event.set");
  return mproc_event_set(self);
}

static mproc_status_t event_clear(void *self, const mproc_obj_t *args,
                                  mproc_obj_t **out) {
  (void)out;
  NEED(args, 0, 0, "Event.clear");
  return mproc_event_clear(self);
}

static mproc_status_t event_is_set(void *self, const mproc_obj_t *args,
                                   mproc_obj_t **out) {
  NEED(args, 0, 0, "Event.is_set");
  int b;
  mproc_status_t st = mproc_event_is_set(self, &b);
  return st == MPROC_OK ? mproc_obj_bool(out, b) : st;
}

static mproc_status_t event_wait(void *self, const mproc_obj_t *args,
                                 mproc_obj_t **out) {
  (void)out;
  NEED(args, 0, 1, "Event.wait");
  double timeout;
  mproc_status_t st = timeout_arg(arg(args, 0), &timeout, "wait");
  return st == MPROC_OK ? mproc_event_wait(self, timeout) : st;
}

static const mproc_manager_method_t event_methods[] = {
    {"set", event_set, NULL},       {"clear", event_clear, NULL},
    {"is_set", event_is_set, NULL}, {"wait", event_wait, NULL},
    {NULL, NULL, NULL}};

static mproc_status_t barrier_create(const mproc_obj_t *args, void **self) {
  NEED(args, 1, 2, "Barrier()");
  int64_t parties;
  double timeout;
  mproc_status_t st = int_arg(arg(args, 0), 0, &parties, "Barrier()");
  if (st == MPROC_OK) st = timeout_arg(arg(args, 1), &timeout, "Barrier()");
  if (st == MPROC_OK && (parties < 1 || parties > 0x7fffffff))
    st = mp_fail(MPROC_EINVAL, "Barrier(): parties out of range");
  if (st != MPROC_OK) return st;
  return mproc_barrier_create((mproc_barrier_t **)self, (unsigned)parties,
                              NULL, NULL, 0, timeout);
}

static void barrier_destroy(void *self) { mproc_barrier_free(self); }

static mproc_status_t barrier_wait(void *self, const mproc_obj_t *args,
                                   mproc_obj_t **out) {
  NEED(args, 0, 1, "Barrier.wait");
  unsigned index;
  mproc_status_t st;
  if (arg(args, 0) && arg(args, 0)->kind != MPROC_NONE) {
    double timeout;
    st = timeout_arg(arg(args, 0), &timeout, "Barrier.wait");
    if (st == MPROC_OK) st = mproc_barrier_wait_timeout(self, &index, timeout);
  } else {
    st = mproc_barrier_wait(self, &index);
  }
  return st == MPROC_OK ? mproc_obj_int(out, index) : st;
}

static mproc_status_t barrier_abort(void *self, const mproc_obj_t *args,
                                    mproc_obj_t **out) {
  (void)out;
  NEED(args, 0, 0, "Barrier.abort");
  return mproc_barrier_abort(self);
}

static mproc_status_t barrier_reset(void *self, const mproc_obj_t *args,
                                    mproc_obj_t **out) {
  (void)out;
  NEED(args, 0, 0, "Barrier.reset");
  return mproc_barrier_reset(self);
}

static mproc_status_t barrier_parties(void *self, const mproc_obj_t *args,
                                      mproc_obj_t **out) {
  NEED(args, 0, 0, "Barrier.parties");
  unsigned n;
  mproc_status_t st = mproc_barrier_parties(self, &n);
  return st == MPROC_OK ? mproc_obj_int(out, n) : st;
}

static mproc_status_t barrier_n_waiting(void *self, const mproc_obj_t *args,
                                        mproc_obj_t **out) {
  NEED(args, 0, 0, "Barrier.n_waiting");
  unsigned n;
  mproc_status_t st = mproc_barrier_n_waiting(self, &n);
  return st == MPROC_OK ? mproc_obj_int(out, n) : st;
}

static mproc_status_t barrier_broken(void *self, const mproc_obj_t *args,
                                     mproc_obj_t **out) {
  NEED(args, 0, 0, "Barrier.broken");
  int b;
  mproc_status_t st = mproc_barrier_broken(self, &b);
  return st == MPROC_OK ? mproc_obj_bool(out, b) : st;
}

static const mproc_manager_method_t barrier_methods[] = {
    {"wait", barrier_wait, NULL},
    {"abort", barrier_abort, NULL},
    {"reset", barrier_reset, NULL},
    {"parties", barrier_parties, NULL},
    {"n_waiting", barrier_n_waiting, NULL},
    {"broken", barrier_broken, NULL},
    {NULL, NULL, NULL}};

/* ---- the table ----------------------------------------------------- */

static const mproc_manager_type_t builtins[] = {
    {"dict", dict_create, container_destroy, dict_methods, 0},
    {"list", list_create, container_destroy, list_methods, 0},
    {"Namespace", dict_create, container_destroy, namespace_methods, 0},
    {"Value", value_create, typed_destroy, value_methods, 0},
    {"Array", array_create, typed_destroy, array_methods, 0},
    {"Queue", queue_create, queue_destroy, queue_methods, 1},
    {"JoinableQueue", joinable_queue_create, queue_destroy,
     joinable_queue_methods, 1},
    {"Lock", lock_create, lock_destroy, lock_methods, 1},
    {"RLock", rlock_create, lock_destroy, lock_methods, 1},
    {"Semaphore", semaphore_create, semaphore_destroy, semaphore_methods, 1},
    {"BoundedSemaphore", bounded_semaphore_create, semaphore_destroy,
     semaphore_methods, 1},
    {"Condition", condition_create, condition_destroy, condition_methods, 1},
    {"Event", event_create, event_destroy, event_methods, 1},
    {"Barrier", barrier_create, barrier_destroy, barrier_methods, 1},
};

#define NBUILTINS (sizeof builtins / sizeof builtins[0])

const mproc_manager_type_t *mp_manager_builtin_type(const char *type_id) {
  for (size_t i = 0; i < NBUILTINS; i++)
    if (strcmp(builtins[i].type_id, type_id) == 0) return &builtins[i];
  return NULL;
}

int mp_manager_is_builtin(const mproc_manager_type_t *t) {
  return t >= builtins && t < builtins + NBUILTINS;
}

int mp_manager_type_holds_values(const mproc_manager_type_t *t) {
  /* The first seven: containers and queues. */
  return t >= builtins && t < builtins + 7;
}
