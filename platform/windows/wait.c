/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Waiting on typed handles, and closing them.
 *
 * Streams and listeners are sockets (WSAPoll); children are process
 * HANDLEs (WaitForMultipleObjects, at most 64 at a time). With only
 * children, up to 64 are waited on directly and the rest looked at
 * between slices; with both kinds, the sockets are polled in slices and
 * the processes looked at between them. No cap on the number of handles
 * (CPython's Windows pool stops at 61 workers because of the 64).
 */
#include "platform/windows/windows.h"

#include <stdlib.h>

#include "base/error.h"

/* How long one slice of a mixed or >64 wait is, at most. */
#define SLICE_SECONDS 0.005

static int is_socket_kind(mp_handle_kind_t k) {
  return k == MP_HANDLE_STREAM || k == MP_HANDLE_LISTENER;
}

/* Marks the ended children among the n handles (0 wait); the count. */
static size_t look_at_children(const mp_handle_t *h, size_t n, int *ready) {
  size_t got = 0;
  for (size_t i = 0; i < n; i++)
    if (h[i].kind == MP_HANDLE_CHILD &&
        WaitForSingleObject((HANDLE)h[i].os, 0) == WAIT_OBJECT_0) {
      ready[i] = 1;
      got++;
    }
  return got;
}

/* Sleeps until one of the first 64 children ends or ms pass. */
static void sleep_on_children(const mp_handle_t *h, size_t n, DWORD ms) {
  HANDLE set[MAXIMUM_WAIT_OBJECTS];
  DWORD k = 0;
  for (size_t i = 0; i < n && k < MAXIMUM_WAIT_OBJECTS; i++)
    if (h[i].kind == MP_HANDLE_CHILD) set[k++] = (HANDLE)h[i].os;
  if (k > 0) WaitForMultipleObjects(k, set, FALSE, ms);
  else Sleep(ms);
}

mproc_status_t mp_wait_handles(const mp_handle_t *h, size_t n, double timeout,
                               int *ready, size_t *nready) {
  int *marks = calloc(n ? n : 1, sizeof *marks);
  WSAPOLLFD *fds = calloc(n ? n : 1, sizeof *fds);
  size_t *where = calloc(n ? n : 1, sizeof *where);
  mproc_status_t st = MPROC_OK;
  size_t nsock = 0, nchild = 0, got = 0;
  if (!marks || !fds || !where) {
    st = mp_fail(MPROC_ENOMEM, "wait: %zu handles", n);
    goto done;
  }
  for (size_t i = 0; i < n; i++) {
    if (h[i].os == MP_NO_OS_HANDLE || h[i].kind == MP_HANDLE_NONE ||
        h[i].kind == MP_HANDLE_SHM) {
      st = mp_fail(MPROC_EINVAL, "wait: handle %lld (kind %d) is not valid",
                   (long long)h[i].os, (int)h[i].kind);
      goto done;
    }
    if (is_socket_kind(h[i].kind)) {
      fds[nsock].fd = (SOCKET)h[i].os;
      fds[nsock].events = POLLRDNORM;
      where[nsock++] = i;
    } else {
      nchild++;
    }
  }
  const double deadline = timeout < 0 ? -1 : mp_monotonic() + timeout;
  for (;;) {
    got = look_at_children(h, n, marks);
    double left = deadline < 0 ? -1 : deadline - mp_monotonic();
    if (left < 0 && deadline >= 0) left = 0;
    /* Children only, all in one wait: sleep on them for the whole time. */
    int sliced = nsock > 0 ? nchild > 0 : nchild > MAXIMUM_WAIT_OBJECTS;
    double slice = sliced && (left < 0 || left > SLICE_SECONDS) ? SLICE_SECONDS
                                                                : left;
    if (got == 0 && nsock > 0) {
      DWORD ms = got ? 0 : mp_win_ms(slice);
      int r = WSAPoll(fds, (ULONG)nsock,
                      ms == INFINITE ? -1 : (int)(ms > 0x7fffffff ? 0x7fffffff : ms));
      if (r < 0) {
        st = mp_win_fail(MPROC_ESYS, (DWORD)WSAGetLastError(), "wait: WSAPoll");
        goto done;
      }
      for (size_t k = 0; k < nsock; k++) {
        if (fds[k].revents & POLLNVAL) {
          st = mp_fail(MPROC_EINVAL, "wait: handle %lld is not open",
                       (long long)fds[k].fd);
          goto done;
        }
        if (fds[k].revents & (POLLRDNORM | POLLHUP | POLLERR)) {
          marks[where[k]] = 1;
          got++;
        }
      }
      if (got == 0) got = look_at_children(h, n, marks);
    } else if (got == 0) {
      sleep_on_children(h, n, mp_win_ms(slice));
      got = look_at_children(h, n, marks);
    }
    if (got > 0) break;
    if (deadline >= 0 && mp_monotonic() >= deadline) {
      st = MPROC_ETIMEDOUT;
      break;
    }
  }
done:
  if (ready)
    for (size_t i = 0; i < n; i++) ready[i] = st == MPROC_OK ? marks && marks[i] : 0;
  if (nready) *nready = st == MPROC_OK ? got : 0;
  free(marks);
  free(fds);
  free(where);
  return st;
}

void mp_handle_close(mp_handle_t h) {
  if (h.kind == MP_HANDLE_NONE || h.os == MP_NO_OS_HANDLE) return;
  if (is_socket_kind(h.kind))
    mp_win_close_socket(h.os);
  else
    CloseHandle((HANDLE)h.os);
}
