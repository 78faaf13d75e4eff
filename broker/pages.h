/* The broker's paged listings (PROTOCOL.md, Paging): vm.list and
 * vm.inconsistencies answer a page at a time, each below the message
 * limit however many VMs or reports there are. */
#ifndef CORRAL_BROKER_PAGES_H
#define CORRAL_BROKER_PAGES_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <sys/types.h>

#include "broker/registry.h"

/* Most VMs, and most reports, one page holds (limit's maximum and
 * default); a page also ends before JSON_SIZE_PAGE_BUDGET bytes. */
#define PAGES_MAX 1000

/* vm.list: the VMs uid may see (admin: all), by name, from the one after
 * params' cursor on.  NULL with e for bad params. */
cJSON *pages_vm_list(const struct broker *b, uid_t uid, bool admin, const cJSON *params,
                     struct cerr *e);
/* vm.inconsistencies: vm's reports, oldest first, from params' cursor on. */
cJSON *pages_inconsistencies(const struct bvm *vm, const cJSON *params, struct cerr *e);

#endif
