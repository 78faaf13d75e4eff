/* json_size_bound never undercounts what cJSON prints (a page that passed
 * its budget could pass the message limit), and json_size_trim keeps the
 * longest prefix that fits. */
#include "common/json_size.h"

#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "tests/unit/unit.h"

static size_t printed(const cJSON *item)
{
    char *s = cJSON_PrintUnformatted(item);
    size_t n;

    if (s == NULL)
        abort();
    n = strlen(s);
    free(s);
    return n;
}

static void bound_covers_escapes_and_numbers(void)
{
    cJSON *o = json_obj(), *a = json_arr();

    json_add_str(o, "quote\"key", "a\"b\\c\n\x01\x1f é");
    json_add_num(o, "big", 9007199254740992.0);
    json_add_num(o, "frac", -0.1234567890123456789);
    json_add_num(o, "small", 1e-300);
    json_add_bool(o, "t", true);
    json_add(o, "n", json_null());
    json_add_str(o, "nullstr", NULL);
    json_arr_add(a, json_str(""));
    json_arr_add(a, json_obj());
    json_arr_add(a, json_arr());
    json_add(o, "list", a);
    EXPECT(json_size_bound(o) >= printed(o));
    /* Plain text costs what it prints. */
    cJSON *s = json_str("plain name");
    EXPECT(json_size_bound(s) == printed(s));
    cJSON_Delete(s);
    cJSON_Delete(o);
}

static void trim_keeps_what_fits(void)
{
    cJSON *a = json_arr();

    for (int i = 0; i < 100; i++)
        json_arr_add(a, json_str("0123456789")); /* 12 bytes and a comma */
    EXPECT(json_size_trim(a, 2 + 13 * 40) == 60);
    EXPECT(cJSON_GetArraySize(a) == 40);
    EXPECT(printed(a) <= 2 + 13 * 40);
    EXPECT(json_size_trim(a, 1) == 40);
    EXPECT(cJSON_GetArraySize(a) == 0);
    cJSON_Delete(a);
}

int main(void)
{
    RUN(bound_covers_escapes_and_numbers);
    RUN(trim_keeps_what_fits);
    return unit_done();
}
