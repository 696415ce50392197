/* SPDX-License-Identifier: Apache-2.0 */
/* Guide example 07: four processes fill a managed dict and list. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mproc.h"

#define CHECK(call)                                     \
  do {                                                  \
    if ((call) != MPROC_OK) {                           \
      fprintf(stderr, "%s\n", mproc_last_error());      \
      return 1;                                         \
    }                                                   \
  } while (0)

/* shared_dict[worker_id] = worker_id * 10; shared_list.append(worker_id) */
MPROC_TASK(worker) {
  int worker_id;
  mproc_proxy_t *shared_dict, *shared_list;
  if (arg_len != sizeof worker_id) return 2;
  memcpy(&worker_id, arg, sizeof worker_id);
  CHECK(mproc_attached_proxy(0, &shared_dict));
  CHECK(mproc_attached_proxy(1, &shared_list));
  CHECK(mproc_proxy_callf(shared_dict, NULL, "__setitem__", "ii", worker_id,
                          worker_id * 10));
  CHECK(mproc_proxy_callf(shared_list, NULL, "append", "i", worker_id));
  return 0;
}

/* print(f"{label}: {proxy.copy()}") */
static int print_copy(const char *label, mproc_proxy_t *proxy) {
  mproc_obj_t *copy;
  char *text;
  CHECK(mproc_proxy_call(proxy, "copy", NULL, &copy));
  CHECK(mproc_obj_format(copy, &text));
  printf("%s: %s\n", label, text);
  free(text);
  mproc_obj_free(copy);
  return 0;
}

int main(int argc, char **argv) {
  CHECK(mproc_init(argc, argv));
  mproc_manager_t *manager;
  CHECK(mproc_manager_start(&manager, NULL));
  mproc_proxy_t *shared_dict, *shared_list;
  CHECK(mproc_manager_dict(&shared_dict, manager));
  CHECK(mproc_manager_list(&shared_list, manager));

  mproc_process_t *processes[4];
  for (int i = 0; i < 4; i++) {
    CHECK(mproc_process_create(&processes[i], NULL, worker, &i, sizeof i));
    CHECK(mproc_process_attach(processes[i], shared_dict));
    CHECK(mproc_process_attach(processes[i], shared_list));
    CHECK(mproc_process_start(processes[i]));
  }
  for (int i = 0; i < 4; i++) {
    int code;
    CHECK(mproc_process_join(processes[i], MPROC_FOREVER));
    CHECK(mproc_process_exitcode(processes[i], &code));
    if (code != 0) return 1;
    CHECK(mproc_process_free(processes[i]));
  }

  if (print_copy("Dict", shared_dict) || print_copy("List", shared_list))
    return 1;
  CHECK(mproc_proxy_free(shared_dict));
  CHECK(mproc_proxy_free(shared_list));
  CHECK(mproc_manager_free(manager));
  return 0;
}
