#include "supervisor/qemu_argv.h"

#include <stdlib.h>
#include <string.h>

#include "common/fileutil.h"
#include "common/log.h"

void argv_add(struct argv_list *a, const char *s)
{
    if (a->n + 2 > a->cap) {
        size_t ncap = a->cap ? a->cap * 2 : 32;
        a->v = xreallocarray(a->v, ncap, sizeof(*a->v));
        a->cap = ncap;
    }
    a->v[a->n++] = xstrdup(s);
    a->v[a->n] = NULL;
}

void argv_take(struct argv_list *a, char *s)
{
    argv_add(a, s);
    free(s);
}

void argv_add_json(struct argv_list *a, cJSON *obj)
{
    char *text = cJSON_PrintUnformatted(obj);

    cJSON_Delete(obj);
    /* cJSON fails only when out of memory, which xcalloc treats as fatal
     * too. */
    if (text == NULL) {
        log_err("out of memory formatting a QEMU argument");
        abort();
    }
    argv_add(a, text);
    cJSON_free(text);
}

void argv_free(struct argv_list *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->v[i]);
    free(a->v);
    a->v = NULL;
    a->n = a->cap = 0;
}

char *argv_join(const struct argv_list *a)
{
    size_t len = 1;
    char *out, *p;

    for (size_t i = 0; i < a->n; i++)
        len += strlen(a->v[i]) * 4 + 3;
    out = xcalloc(1, len);
    p = out;
    for (size_t i = 0; i < a->n; i++) {
        if (i > 0)
            *p++ = ' ';
        *p++ = '\'';
        for (const char *s = a->v[i]; *s != '\0'; s++) {
            if (*s == '\'') {
                memcpy(p, "'\\''", 4);
                p += 4;
            } else
                *p++ = *s;
        }
        *p++ = '\'';
    }
    *p = '\0';
    return out;
}
