/* SPDX-License-Identifier: Apache-2.0 */
/* mproc_obj_build (a Py_BuildValue for payload values), mproc_obj_copy and
 * mproc_function_error. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/payload.h"
#include "mproc.h"

/* N arguments taken so far are recorded so that an error gives them back
 * (the caller still owns each). */
typedef struct {
  const char *p;
  va_list ap;
  mproc_obj_t *stolen[64];
  size_t nstolen;
  int depth;
} builder_t;

static void skip_separators(builder_t *b) {
  while (*b->p == ' ' || *b->p == ',' || *b->p == ':' || *b->p == '\t')
    b->p++;
}

static mproc_status_t build_one(builder_t *b, mproc_obj_t **out);

/* Detaches the N values from a tree being destroyed on an error, so the
 * caller keeps them. */
static void give_back(builder_t *b) {
  for (size_t i = 0; i < b->nstolen; i++) {
    mproc_obj_t *v = b->stolen[i];
    mproc_obj_t *parent = v->parent;
    if (parent == NULL) continue;
    if (parent->kind == MPROC_LIST) {
      for (size_t j = 0; j < parent->len; j++)
        if (parent->u.items[j] == v) {
          memmove(&parent->u.items[j], &parent->u.items[j + 1],
                  (parent->len - j - 1) * sizeof parent->u.items[0]);
          parent->len--;
          break;
        }
      v->parent = NULL;
    } else {
      /* A dict slot gets a None in its place; with no memory for one the
       * value stays (and goes with the dict). */
      mproc_obj_t *none = mp_obj_new(MPROC_NONE);
      if (none == NULL) continue;
      for (size_t j = 0; j < 2 * parent->len; j++)
        if (parent->u.items[j] == v) {
          parent->u.items[j] = none;
          none->parent = parent;
        }
      v->parent = NULL;
    }
  }
}

/* Destroys v, a value being built, after giving the N values back. */
static void discard(builder_t *b, mproc_obj_t *v) {
  give_back(b);
  for (size_t i = 0; i < b->nstolen; i++)
    if (b->stolen[i] == v) return;
  mp_obj_destroy(v);
}


/* Items up to the closing bracket into container c (list or dict). */
static mproc_status_t build_items(builder_t *b, mproc_obj_t *c, char close) {
  for (;;) {
    skip_separators(b);
    if (*b->p == close) {
      b->p++;
      return MPROC_OK;
    }
    if (*b->p == '\0')
      return mp_fail(MPROC_EINVAL, "obj_build: '%c' missing", close);
    mproc_obj_t *item = NULL;
    mproc_status_t st = build_one(b, &item);
    if (st != MPROC_OK) return st;
    if (close == '}') {
      skip_separators(b);
      mproc_obj_t *value = NULL;
      if (*b->p == '}' || *b->p == '\0') {
        discard(b, item);
        return mp_fail(MPROC_EINVAL, "obj_build: a dict key without a value");
      }
      st = build_one(b, &value);
      if (st != MPROC_OK) {
        discard(b, item);
        return st;
      }
      st = mproc_obj_dict_set(c, item, value);
      if (st != MPROC_OK) {
        discard(b, item);
        discard(b, value);
        return st;
      }
    } else {
      st = mproc_obj_list_append(c, item);
      if (st != MPROC_OK) {
        discard(b, item);
        return st;
      }
    }
  }
}

static mproc_status_t build_one(builder_t *b, mproc_obj_t **out) {
  char code = *b->p++;
  switch (code) {
    case 'i': return mproc_obj_int(out, va_arg(b->ap, int));
    case 'l': return mproc_obj_int(out, va_arg(b->ap, long));
    case 'L': return mproc_obj_int(out, va_arg(b->ap, long long));
    case 'n': return mproc_obj_int(out, (int64_t)va_arg(b->ap, size_t));
    case 'b': return mproc_obj_bool(out, va_arg(b->ap, int) != 0);
    case 'd': return mproc_obj_float(out, va_arg(b->ap, double));
    case '-': return mproc_obj_none(out);
    case 's': {
      const char *s = va_arg(b->ap, const char *);
      return s ? mproc_obj_str(out, s) : mproc_obj_none(out);
    }
    case 'y': {
      if (*b->p != '#')
        return mp_fail(MPROC_EINVAL, "obj_build: 'y' must be 'y#'");
      b->p++;
      const void *p = va_arg(b->ap, const void *);
      size_t len = va_arg(b->ap, size_t);
      return mproc_obj_bytes(out, p, len);
    }
    case 'N': {
      mproc_obj_t *v = va_arg(b->ap, mproc_obj_t *);
      MP_CHECK_PAYLOAD(v, "obj_build: N");
      if (v->parent != NULL)
        return mp_fail(MPROC_EINVAL, "obj_build: an N value inside a container");
      if (b->nstolen == sizeof b->stolen / sizeof b->stolen[0])
        return mp_fail(MPROC_EINVAL, "obj_build: more than 64 N values");
      b->stolen[b->nstolen++] = v;
      *out = v;
      return MPROC_OK;
    }
    case '(':
    case '[':
    case '{': {
      if (++b->depth > MPROC_OBJ_MAX_DEPTH)
        return mp_fail(MPROC_EINVAL, "obj_build: nested too deep");
      mproc_obj_t *c = NULL;
      mproc_status_t st =
          code == '{' ? mproc_obj_dict(&c) : mproc_obj_list(&c);
      if (st != MPROC_OK) return st;
      st = build_items(b, c, code == '(' ? ')' : code == '[' ? ']' : '}');
      b->depth--;
      if (st != MPROC_OK) {
        discard(b, c);
        return st;
      }
      *out = c;
      return MPROC_OK;
    }
    case '\0':
      b->p--;
      return mp_fail(MPROC_EINVAL, "obj_build: the format ended early");
    default:
      return mp_fail(MPROC_EINVAL, "obj_build: unknown code '%c'", code);
  }
}

mproc_status_t mproc_obj_build(mproc_obj_t **out, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  mproc_status_t st = mp_obj_vbuild(out, fmt, ap);
  va_end(ap);
  return st;
}

mproc_status_t mp_obj_vbuild(mproc_obj_t **out, const char *fmt, va_list ap) {
  MP_REQUIRE(out, "obj_build: out");
  MP_REQUIRE(fmt, "obj_build: fmt");
  builder_t b;
  memset(&b, 0, sizeof b);
  b.p = fmt;
  va_copy(b.ap, ap);
  mproc_obj_t *list = NULL, *first = NULL;
  size_t n = 0;
  mproc_status_t st = MPROC_OK;
  for (;;) {
    skip_separators(&b);
    if (*b.p == '\0') break;
    mproc_obj_t *item = NULL;
    st = build_one(&b, &item);
    if (st != MPROC_OK) break;
    if (n == 0) {
      first = item;
    } else {
      if (list == NULL) {
        st = mproc_obj_list(&list);
        if (st == MPROC_OK) st = mproc_obj_list_append(list, first);
        if (st != MPROC_OK) {
          discard(&b, item);
          break;
        }
        first = NULL;
      }
      st = mproc_obj_list_append(list, item);
      if (st != MPROC_OK) {
        discard(&b, item);
        break;
      }
    }
    n++;
  }
  va_end(b.ap);
  if (st != MPROC_OK) {
    discard(&b, first);
    discard(&b, list);
    return st;
  }
  if (n == 0) return mproc_obj_none(out);
  *out = list ? list : first;
  return MPROC_OK;
}

static mproc_status_t copy_tree(const mproc_obj_t *v, mproc_obj_t **out,
                                int depth) {
  if (depth > MPROC_OBJ_MAX_DEPTH)
    return mp_fail(MPROC_EINVAL, "obj_copy: nested too deep");
  mproc_obj_t *c = mp_obj_new(v->kind);
  if (c == NULL) return mp_fail(MPROC_ENOMEM, "obj_copy");
  switch (v->kind) {
    case MPROC_NONE: break;
    case MPROC_BOOL: c->u.b = v->u.b; break;
    case MPROC_INT: c->u.i = v->u.i; break;
    case MPROC_FLOAT: c->u.f = v->u.f; break;
    case MPROC_STR:
    case MPROC_BYTES:
      if (!mp_obj_set_data(c, v->u.s, v->len)) {
        mp_obj_destroy(c);
        return mp_fail(MPROC_ENOMEM, "obj_copy");
      }
      break;
    case MPROC_LIST:
      for (size_t i = 0; i < v->len; i++) {
        mproc_obj_t *item;
        mproc_status_t st = copy_tree(v->u.items[i], &item, depth + 1);
        if (st == MPROC_OK) {
          st = mproc_obj_list_append(c, item);
          if (st != MPROC_OK) mp_obj_destroy(item);
        }
        if (st != MPROC_OK) {
          mp_obj_destroy(c);
          return st;
        }
      }
      break;
    case MPROC_DICT:
      for (size_t i = 0; i < v->len; i++) {
        mproc_obj_t *key = NULL, *value = NULL;
        mproc_status_t st = copy_tree(v->u.items[2 * i], &key, depth + 1);
        if (st == MPROC_OK)
          st = copy_tree(v->u.items[2 * i + 1], &value, depth + 1);
        if (st == MPROC_OK) st = mproc_obj_dict_set(c, key, value);
        if (st != MPROC_OK) {
          mp_obj_destroy(key);
          mp_obj_destroy(value);
          mp_obj_destroy(c);
          return st;
        }
      }
      break;
  }
  *out = c;
  return MPROC_OK;
}

mproc_status_t mproc_obj_copy(mproc_obj_t **out, const mproc_obj_t *v) {
  MP_REQUIRE(out, "obj_copy: out");
  MP_CHECK_PAYLOAD(v, "obj_copy");
  return copy_tree(v, out, 0);
}

mproc_status_t mproc_function_error(mproc_status_t status, const char *fmt,
                                    ...) {
  char text[1024];
  if (fmt == NULL) {
    snprintf(text, sizeof text, "%s", mproc_strerror(status));
  } else {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
  }
  mp_fail(status, "%s", text);
  return status;
}
