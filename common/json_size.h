/* How many bytes a cJSON tree takes on the wire, without printing it: the
 * paged listings (snapshot.list, vm.list, vm.inconsistencies, ...) stop a
 * page before it could pass the protocol's message limit. */
#ifndef CORRAL_JSON_SIZE_H
#define CORRAL_JSON_SIZE_H

#include <cjson/cJSON.h>
#include <stddef.h>

/* What a page of a paged reply may take, in bytes: half the message limit,
 * which leaves room for the envelope, the cursor and a relaying hop. */
#define JSON_SIZE_PAGE_BUDGET (512 * 1024)

/* An upper bound of the length of item printed unformatted by cJSON: every
 * escape counted at its longest, every number at 32 bytes. */
size_t json_size_bound(const cJSON *item);

/* Drops the items of array arr from the first that would take the array
 * past budget bytes on; returns how many it dropped. */
size_t json_size_trim(cJSON *arr, size_t budget);

#endif
