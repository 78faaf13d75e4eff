/* cJSON helpers every process shares: builders that abort on
 * out-of-memory (the project's convention for small allocations), readers of
 * untrusted JSON, and the one way a JSON record reaches a file. */
#ifndef CORRAL_JSON_H
#define CORRAL_JSON_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/error.h"

/* Largest JSON text json_parse accepts: the protocol's message limit. */
#define JSON_MAX_TEXT (1024 * 1024)

/* Largest integer a JSON number (a double) holds exactly: 2^53. */
#define JSON_UINT_MAX 9007199254740992ULL
/* Reads member key of obj, untrusted input, as a whole number from 0 to max
 * (at most JSON_UINT_MAX).  0 and *out set when it is one; -1 with *out
 * untouched when it is missing, not a number, NaN, fractional, negative or
 * above max: never a conversion of an out-of-range double. */
int json_get_uint(const cJSON *obj, const char *key, unsigned long long max,
                  unsigned long long *out);

cJSON *json_obj(void);
cJSON *json_arr(void);
void json_add_str(cJSON *obj, const char *key, const char *val);
void json_add_num(cJSON *obj, const char *key, double val);
void json_add_bool(cJSON *obj, const char *key, bool val);
void json_add(cJSON *obj, const char *key, cJSON *item);
void json_arr_add(cJSON *arr, cJSON *item);
cJSON *json_str(const char *s);
cJSON *json_null(void);
cJSON *json_dup(const cJSON *item);
/* Reads a file holding one JSON object of at most max bytes; NULL when it
 * is missing, unreadable, malformed or not an object.  Caller frees. */
cJSON *json_read_object_file(const char *path, size_t max);
/* Parses untrusted JSON text of at most JSON_MAX_TEXT bytes. */
cJSON *json_parse(const char *buf, size_t len, struct cerr *e);

/* Writes obj to path as one line of JSON through file_write_atomic: a
 * crash leaves the old file or the new one. */
int json_write_file(const char *path, const cJSON *obj, mode_t mode, struct cerr *e);
/* The same through file_replace: whole after a crash, not synced. */
int json_replace_file(const char *path, const cJSON *obj, mode_t mode, struct cerr *e);

#endif
