/* SPDX-License-Identifier: Apache-2.0 */
/* Guide example 05: a Pipe between two processes (string, list, reply). */
#include <stdio.h>
#include <stdlib.h>

#include "mproc.h"

static int fail(const char *what) {
  fprintf(stderr, "%s: %s\n", what, mproc_last_error());
  return 1;
}

static mproc_connection_t *attached_connection(void) {
  void *conn = NULL;
  mproc_attached(0, &conn);
  return conn;
}

/* print(f"{prefix}{value}"), flushed at once: the two children share the
 * output pipe, and the reply must not overtake the lines printed before it. */
static void print_value(const char *prefix, const mproc_obj_t *v) {
  char *text;
  if (mproc_obj_format(v, &text) != MPROC_OK) return;
  printf("%s%s\n", prefix, text);
  fflush(stdout);
  free(text);
}

static mproc_status_t send_str(mproc_connection_t *conn, const char *s) {
  mproc_obj_t *v;
  mproc_status_t st = mproc_obj_str(&v, s);
  if (st == MPROC_OK) st = mproc_connection_send(conn, v, MPROC_FOREVER);
  mproc_obj_free(v);
  return st;
}

static mproc_status_t send_list_123(mproc_connection_t *conn) {
  mproc_obj_t *list, *item;
  mproc_status_t st = mproc_obj_list(&list);
  for (int i = 1; i <= 3 && st == MPROC_OK; i++) {
    st = mproc_obj_int(&item, i);
    if (st == MPROC_OK && (st = mproc_obj_list_append(list, item)) != MPROC_OK)
      mproc_obj_free(item);
  }
  if (st == MPROC_OK) st = mproc_connection_send(conn, list, MPROC_FOREVER);
  mproc_obj_free(list);
  return st;
}

MPROC_TASK(sender) {
  (void)arg, (void)arg_len;
  mproc_connection_t *conn = attached_connection();
  if (send_str(conn, "Hello from sender") != MPROC_OK ||
      send_list_123(conn) != MPROC_OK)
    return fail("sender: send");
  mproc_obj_t *response;
  if (mproc_connection_recv(conn, &response, MPROC_FOREVER) != MPROC_OK)
    return fail("sender: recv");
  print_value("Sender received: ", response);
  mproc_obj_free(response);
  mproc_connection_close(conn);
  return 0;
}

MPROC_TASK(receiver) {
  (void)arg, (void)arg_len;
  mproc_connection_t *conn = attached_connection();
  for (int i = 0; i < 2; i++) {
    mproc_obj_t *msg;
    if (mproc_connection_recv(conn, &msg, MPROC_FOREVER) != MPROC_OK)
      return fail("receiver: recv");
    print_value("Receiver got: ", msg);
    mproc_obj_free(msg);
  }
  if (send_str(conn, "Thanks!") != MPROC_OK) return fail("receiver: send");
  mproc_connection_close(conn);
  return 0;
}

int main(int argc, char **argv) {
  if (mproc_init(argc, argv) != MPROC_OK) return fail("init");
  mproc_connection_t *parent_conn, *child_conn;
  if (mproc_pipe(&parent_conn, &child_conn, 1) != MPROC_OK) return fail("pipe");
  mproc_process_t *p1, *p2;
  if (mproc_process_create(&p1, NULL, sender, NULL, 0) != MPROC_OK ||
      mproc_process_attach(p1, parent_conn) != MPROC_OK ||
      mproc_process_create(&p2, NULL, receiver, NULL, 0) != MPROC_OK ||
      mproc_process_attach(p2, child_conn) != MPROC_OK)
    return fail("create");
  if (mproc_process_start(p1) != MPROC_OK ||
      mproc_process_start(p2) != MPROC_OK)
    return fail("start");
  mproc_process_join(p1, MPROC_FOREVER);
  mproc_process_join(p2, MPROC_FOREVER);
  mproc_process_free(p1);
  mproc_process_free(p2);
  mproc_connection_free(parent_conn);
  mproc_connection_free(child_conn);
  return 0;
}
