/* SPDX-License-Identifier: Apache-2.0 */
/* A queue program as a user outside Bazel writes it: built by
 * //packaging:install_test with plain cc and `pkg-config --cflags --libs mproc`
 * against an installed prefix. The child puts 1..N on a queue with the
 * default start method (MPROC_START_METHOD); the parent sums them.
 * `queue_app --methods` prints mproc_all_start_methods(), one a line. */
#include <stdio.h>
#include <string.h>

#include "mproc.h"

enum { N = 100 };

MPROC_TASK(producer) {
  mproc_queue_t *q;
  if (mproc_attached_queue(0, &q) != MPROC_OK) return 2;
  for (int64_t i = 1; i <= N; i++) {
    mproc_obj_t *v;
    if (mproc_obj_int(&v, i) != MPROC_OK) return 3;
    mproc_status_t st = mproc_queue_put(q, v, MPROC_FOREVER);
    mproc_obj_free(v);
    if (st != MPROC_OK) return 4;
  }
  return 0;
}

static int fail(const char *what, mproc_status_t st) {
  fprintf(stderr, "%s: %s (%s): %s\n", what, mproc_status_name(st),
          mproc_strerror(st), mproc_last_error());
  return 1;
}

int main(int argc, char **argv) {
  mproc_status_t st = mproc_init(argc, argv);
  if (st != MPROC_OK) return fail("mproc_init", st);
  if (argc > 1 && strcmp(argv[1], "--methods") == 0) {
    for (const char *const *m = mproc_all_start_methods(); *m; m++) puts(*m);
    return 0;
  }
  mproc_context_t *ctx;
  const char *method;
  if ((st = mproc_get_context(NULL, &ctx)) != MPROC_OK ||
      (st = mproc_context_method(ctx, &method)) != MPROC_OK)
    return fail("context", st);
  mproc_queue_t *q;
  if ((st = mproc_queue_create(&q, 0, 0)) != MPROC_OK)
    return fail("mproc_queue_create", st);
  mproc_process_t *p;
  if ((st = mproc_process_create(&p, ctx, producer, NULL, 0)) != MPROC_OK ||
      (st = mproc_process_attach(p, q)) != MPROC_OK ||
      (st = mproc_process_start(p)) != MPROC_OK)
    return fail("process", st);
  int64_t sum = 0;
  for (int i = 0; i < N; i++) {
    mproc_obj_t *v;
    int64_t x;
    if ((st = mproc_queue_get(q, &v, 30.0)) != MPROC_OK)
      return fail("mproc_queue_get", st);
    if ((st = mproc_obj_get_int(v, &x)) != MPROC_OK) return fail("get_int", st);
    mproc_obj_free(v);
    sum += x;
  }
  int code = -1;
  if ((st = mproc_process_join(p, 30.0)) != MPROC_OK ||
      (st = mproc_process_exitcode(p, &code)) != MPROC_OK)
    return fail("join", st);
  printf("%s: sum %lld, exit code %d, mproc %s\n", method, (long long)sum, code,
         mproc_version_string());
  mproc_process_free(p);
  mproc_queue_free(q);
  return sum == (int64_t)N * (N + 1) / 2 && code == 0 ? 0 : 1;
}
