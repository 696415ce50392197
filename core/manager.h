/* SPDX-License-Identifier: Apache-2.0 */
/* Internal: what the manager's client, server and types share. */
#ifndef MPROC_CORE_MANAGER_H
#define MPROC_CORE_MANAGER_H

#include <stdint.h>

#include "mproc.h"

/* SyncManager's types (core/manager_types.c), or NULL. */
const mproc_manager_type_t *mp_manager_builtin_type(const char *type_id);
/* Whether t is one of those (its failures keep their own status). */
int mp_manager_is_builtin(const mproc_manager_type_t *t);
/* Whether a built-in type keeps the values it is given (dict, list,
 * Namespace, Value, Array, the queues): the server then keeps every
 * proxy token among them alive. */
int mp_manager_type_holds_values(const mproc_manager_type_t *t);
/* A built-in or registered type, or NULL. */
const mproc_manager_type_t *mp_manager_find_type(const char *type_id);
/* The object a proxy token names, or 0 when v is no token. */
uint64_t mp_manager_token_oid(const mproc_obj_t *v);

/* Fails with status, the message "<what>: <the last error's detail>"
 * (the detail copied first: mp_fail writes where it is read from). */
mproc_status_t mp_manager_fail_with_last(mproc_status_t status,
                                         const char *what);

#endif
