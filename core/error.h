/* SPDX-License-Identifier: Apache-2.0 */
/* Internal: the error module lives below core/ and platform/ (base/error.h);
 * this name stays for core/'s sources. */
#ifndef MPROC_CORE_ERROR_H
#define MPROC_CORE_ERROR_H

#include "base/error.h"

#endif
