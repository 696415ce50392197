/* SPDX-License-Identifier: Apache-2.0 */
/* Internal: contexts, one per start method (core/context.c). */
#ifndef MPROC_CORE_CONTEXT_H
#define MPROC_CORE_CONTEXT_H

#include "core/popen.h"
#include "mproc.h"

struct mproc_context {
  const mp_start_method_t *method;
};

/* The context used when none is given. */
const mproc_context_t *mp_default_context(void);
/* ctx's strategy; NULL: the default context's. */
const mp_start_method_t *mp_context_strategy(const mproc_context_t *ctx);
/* MPROC_OK for NULL (the default) or a context of mproc_get_context, else
 * MPROC_EINVAL naming call. */
mproc_status_t mp_context_check(const mproc_context_t *ctx, const char *call);

/* At init: the platform's default (the first of mproc_all_start_methods),
 * then MPROC_START_METHOD when set (use_env). Errors: those of
 * mproc_set_start_method for the variable's value. */
mproc_status_t mp_context_init(int use_env);

#endif
