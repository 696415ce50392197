/* SPDX-License-Identifier: Apache-2.0 */
/* Guide example 03: map, starmap, apply_async, map_async. */
#include <stdio.h>
#include <stdlib.h>

#include "mproc.h"

static int fail(const char *what) {
  fprintf(stderr, "%s: %s\n", what, mproc_last_error());
  return 1;
}

MPROC_FUNCTION(square) {
  int64_t x;
  mproc_status_t st = mproc_obj_get_int(in, &x);
  if (st != MPROC_OK) return st;
  return mproc_obj_int(out, x * x);
}

MPROC_FUNCTION(add) {
  const mproc_obj_t *a, *b;
  int64_t x, y;
  mproc_status_t st = mproc_obj_list_get(in, 0, &a);
  if (st == MPROC_OK) st = mproc_obj_list_get(in, 1, &b);
  if (st == MPROC_OK) st = mproc_obj_get_int(a, &x);
  if (st == MPROC_OK) st = mproc_obj_get_int(b, &y);
  if (st != MPROC_OK) return st;
  return mproc_obj_int(out, x + y);
}

static mproc_obj_t *range(int n) {
  mproc_obj_t *list, *v;
  if (mproc_obj_list(&list) != MPROC_OK) return NULL;
  for (int i = 0; i < n; i++)
    if (mproc_obj_int(&v, i) != MPROC_OK ||
        mproc_obj_list_append(list, v) != MPROC_OK)
      return NULL;
  return list;
}

static void print_value(const char *label, mproc_obj_t *v) {
  char *text = NULL;
  mproc_obj_format(v, &text);
  printf("%s: %s\n", label, text ? text : "?");
  free(text);
  mproc_obj_free(v);
}

int main(int argc, char **argv) {
  if (mproc_init(argc, argv) != MPROC_OK) return fail("mproc_init");
  mproc_pool_t *pool;
  if (mproc_pool_create(&pool, 4) != MPROC_OK) return fail("pool_create");
  mproc_obj_t *results, *items = range(10), *pairs, *args, *five = range(5);
  if (items == NULL || five == NULL) return fail("range");

  /* map - apply function to iterable */
  if (mproc_pool_map(pool, square, items, MPROC_DEFAULT_CHUNKSIZE, &results,
                     MPROC_FOREVER) != MPROC_OK)
    return fail("map");
  print_value("map", results);

  /* starmap - unpack arguments from iterable */
  if (mproc_obj_build(&pairs, "[(ii) (ii) (ii)]", 1, 2, 3, 4, 5, 6) != MPROC_OK)
    return fail("obj_build");
  if (mproc_pool_starmap(pool, add, pairs, MPROC_DEFAULT_CHUNKSIZE, &results,
                         MPROC_FOREVER) != MPROC_OK)
    return fail("starmap");
  print_value("starmap", results);

  /* apply_async - non-blocking single call */
  mproc_async_result_t *result;
  if (mproc_obj_build(&args, "i", 10) != MPROC_OK) return fail("obj_build");
  if (mproc_pool_apply_async(&result, pool, square, args, NULL, NULL, NULL) !=
          MPROC_OK ||
      mproc_async_result_get(result, &results, MPROC_FOREVER) != MPROC_OK)
    return fail("apply_async");
  print_value("apply_async", results);
  mproc_async_result_free(result);

  /* map_async - non-blocking map */
  if (mproc_pool_map_async(&result, pool, square, five,
                           MPROC_DEFAULT_CHUNKSIZE, NULL, NULL,
                           NULL) != MPROC_OK ||
      mproc_async_result_get(result, &results, MPROC_FOREVER) != MPROC_OK)
    return fail("map_async");
  print_value("map_async", results);
  mproc_async_result_free(result);

  mproc_obj_free(args);
  mproc_obj_free(pairs);
  mproc_obj_free(items);
  mproc_obj_free(five);
  mproc_pool_free(pool);
  return 0;
}
