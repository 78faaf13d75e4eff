#include "common/json_size.h"

#include <string.h>

/* A number printed by cJSON (%1.17g, or an integer) never exceeds this. */
#define NUMBER_MAX 32

static size_t string_bound(const char *s)
{
    size_t n = 2; /* the quotes */

    if (s == NULL)
        return 4; /* cJSON prints a NULL string as "" or null */
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\')
            n += 2;
        else if (*p < 0x20)
            n += 6; /* \u00XX */
        else
            n += 1;
    }
    return n;
}

size_t json_size_bound(const cJSON *item)
{
    size_t n;

    if (item == NULL)
        return 0;
    if (cJSON_IsString(item) || cJSON_IsRaw(item))
        return string_bound(item->valuestring);
    if (cJSON_IsNumber(item))
        return NUMBER_MAX;
    if (!cJSON_IsArray(item) && !cJSON_IsObject(item))
        return 5; /* false, true, null */
    n = 2;        /* brackets or braces */
    for (const cJSON *c = item->child; c != NULL; c = c->next) {
        n += json_size_bound(c) + 1; /* and the comma */
        if (cJSON_IsObject(item))
            n += string_bound(c->string) + 1; /* the key and its colon */
    }
    return n;
}

size_t json_size_trim(cJSON *arr, size_t budget)
{
    size_t used = 2, dropped = 0;
    cJSON *c = arr->child;

    while (c != NULL && (used += json_size_bound(c) + 1) <= budget)
        c = c->next;
    while (c != NULL) {
        cJSON *next = c->next;

        cJSON_Delete(cJSON_DetachItemViaPointer(arr, c));
        c = next;
        dropped++;
    }
    return dropped;
}
