/* SPDX-License-Identifier: Apache-2.0 */
/* Guide example 04: a producer and a consumer with a None sentinel. */
#include <stdio.h>
#include <stdlib.h>

#include "mproc.h"

static int fail(const char *what) {
  fprintf(stderr, "%s: %s\n", what, mproc_last_error());
  return 1;
}

static mproc_queue_t *attached_queue(void) {
  void *q = NULL;
  mproc_attached(0, &q);
  return q;
}

static mproc_status_t put_int(mproc_queue_t *q, int64_t i) {
  mproc_obj_t *v;
  mproc_status_t st = mproc_obj_int(&v, i);
  if (st == MPROC_OK) st = mproc_queue_put(q, v, MPROC_FOREVER);
  mproc_obj_free(v);
  return st;
}

MPROC_TASK(producer) {
  const int *items = arg;
  size_t n = arg_len / sizeof *items;
  mproc_queue_t *q = attached_queue();
  for (size_t i = 0; i < n; i++) {
    if (put_int(q, items[i]) != MPROC_OK) return fail("producer: put");
    printf("Produced: %d\n", items[i]);
  }
  mproc_obj_t *none;
  if (mproc_obj_none(&none) != MPROC_OK ||
      mproc_queue_put(q, none, MPROC_FOREVER) != MPROC_OK)
    return fail("producer: put None");
  mproc_obj_free(none);
  return 0;
}

MPROC_TASK(consumer) {
  (void)arg, (void)arg_len;
  mproc_queue_t *q = attached_queue();
  for (;;) {
    mproc_obj_t *item;
    mproc_kind_t kind;
    if (mproc_queue_get(q, &item, MPROC_FOREVER) != MPROC_OK)
      return fail("consumer: get");
    mproc_obj_kind(item, &kind);
    if (kind == MPROC_NONE) {
      mproc_obj_free(item);
      break;
    }
    char *text;
    if (mproc_obj_format(item, &text) == MPROC_OK) {
      printf("Consumed: %s\n", text);
      free(text);
    }
    mproc_obj_free(item);
  }
  return 0;
}

int main(int argc, char **argv) {
  if (mproc_init(argc, argv) != MPROC_OK) return fail("init");
  mproc_queue_t *q;
  if (mproc_queue_create(&q, 0, 0) != MPROC_OK) return fail("queue");
  int items[5] = {0, 1, 2, 3, 4};
  mproc_process_t *p1, *p2;
  if (mproc_process_create(&p1, NULL, producer, items, sizeof items) !=
          MPROC_OK ||
      mproc_process_attach(p1, q) != MPROC_OK ||
      mproc_process_create(&p2, NULL, consumer, NULL, 0) != MPROC_OK ||
      mproc_process_attach(p2, q) != MPROC_OK)
    return fail("create");
  if (mproc_process_start(p1) != MPROC_OK ||
      mproc_process_start(p2) != MPROC_OK)
    return fail("start");
  mproc_process_join(p1, MPROC_FOREVER);
  mproc_process_join(p2, MPROC_FOREVER);
  mproc_process_free(p1);
  mproc_process_free(p2);
  mproc_queue_free(q);
  return 0;
}
