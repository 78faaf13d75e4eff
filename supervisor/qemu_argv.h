/* A growing, NULL-terminated argument vector for QEMU's command line, and
 * the quoting that QEMU's option parser needs. */
#ifndef CORRAL_QEMU_ARGV_H
#define CORRAL_QEMU_ARGV_H

#include <stddef.h>

#include "common/json.h"

struct argv_list {
    char **v; /* NULL-terminated */
    size_t n, cap;
};

void argv_add(struct argv_list *a, const char *s);
/* Adds s and frees it. */
void argv_take(struct argv_list *a, char *s);
/* Adds obj as one unformatted JSON argument and deletes obj. */
void argv_add_json(struct argv_list *a, cJSON *obj);
void argv_free(struct argv_list *a);
/* One shell-quoted line for logs. */
char *argv_join(const struct argv_list *a);

#endif
