/* The method table and authorize() as the unit tests reach them
 * (tests/unit/test_authorize.c): the server reaches them through
 * dispatch_serve only. */
#ifndef CORRAL_DISPATCH_INT_H
#define CORRAL_DISPATCH_INT_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <sys/types.h>

#include "broker/registry.h"
#include "common/error.h"

/* The table's rows, in order; NULL past the end. */
size_t dispatch_nmethods(void);
const char *dispatch_method_name(size_t i);
/* What the server asks before it calls method for uid with params: 0, or
 * -1 with e set (CE_PERMISSION; CE_NO_METHOD for a name not in the table). */
int dispatch_authorize(struct broker *b, uid_t uid, const char *method, const cJSON *params,
                       struct cerr *e);

#endif
