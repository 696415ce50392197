/* SPDX-License-Identifier: Apache-2.0 */
/* Internal: what a parent tells a spawned child, as bytes. */
#ifndef MPROC_CORE_BOOTSTRAP_H
#define MPROC_CORE_BOOTSTRAP_H

#include <stddef.h>

#include "mproc.h"

typedef struct {
  const char *task;        /* the task's key (mp_task_key) */
  const char *name;        /* the child's process name */
  const char *identity;    /* "1:2" */
  const char *parent_name;
  const char *start_method; /* the parent's default (CPython's prepare) */
  long parent_pid;
  int daemon;
  const void *arg;
  size_t arg_len;
  /* Attached objects: nobjects entries of (kind string, state bytes), as
   * mp_bootstrap_put_object wrote them. */
  size_t nobjects;
  const void *objects;
  size_t objects_len;
} mp_bootstrap_t;

/* Encodes b into a malloc'd buffer. Errors: MPROC_ENOMEM. */
mproc_status_t mp_bootstrap_encode(const mp_bootstrap_t *b, void **out,
                                   size_t *len);

/* Decodes in place: the strings, arg and objects of *b point into blob.
 * Errors: MPROC_ESPAWN (truncated, wrong version, unterminated string). */
mproc_status_t mp_bootstrap_decode(const void *blob, size_t len,
                                   mp_bootstrap_t *b);

#endif
