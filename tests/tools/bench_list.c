/* Lists every snapshot of a VM through snapshot.list, page after page,
 * for make bench: prints the milliseconds the whole listing took, the
 * snapshots and the pages it got.  In C, so that the figure is the
 * servers' (supervisor and broker), not an interpreter's: Python's
 * json.loads of the 2.5 MB of 10,000 entries takes longer than both.
 * By default a page is read as bytes, its cursor parsed from the reply's
 * last member and its entries counted by their first key, which is the
 * least any client does; with --parse each page is parsed whole with
 * cJSON, as a C client that reads every entry must.
 *   bench_list [--parse] SOCKET VM [LIMIT] */
#include <cjson/cJSON.h>
#include <stdbool.h>

#define BENCH_TOOL "bench_list"
#include "tests/tools/bench_io.h"

static void request(int fd, const char *vm, const char *cursor, int id, int limit)
{
    cJSON *m = cJSON_CreateObject(), *p = cJSON_CreateObject();
    char *text = NULL;

    if (m == NULL || p == NULL || cJSON_AddStringToObject(m, "jsonrpc", "2.0") == NULL ||
        cJSON_AddNumberToObject(m, "id", id) == NULL ||
        cJSON_AddStringToObject(m, "method", "snapshot.list") == NULL ||
        cJSON_AddStringToObject(p, "name", vm) == NULL ||
        (cursor != NULL && cJSON_AddStringToObject(p, "after", cursor) == NULL) ||
        (limit > 0 && cJSON_AddNumberToObject(p, "limit", limit) == NULL) ||
        !cJSON_AddItemToObject(m, "params", p) || (text = cJSON_PrintUnformatted(m)) == NULL) {
        errno = ENOMEM;
        bench_die("request");
    }
    bench_write_all(fd, text, strlen(text));
    bench_write_all(fd, "\n", 1);
    cJSON_free(text);
    cJSON_Delete(m);
}

/* The snapshots of the reply line and its next (malloc'd, or NULL), read
 * as bytes: corral's replies end with "next" and a snapshot object starts
 * with its name, and neither text can occur inside a JSON string, where a
 * quote is escaped. */
static long scan_page(const char *line, char **cursor)
{
    static const char entry[] = "{\"name\":", next_key[] = "\"next\":";
    const char *p = line, *last = NULL;
    cJSON *next;
    long n = 0;

    if (strncmp(line, "{\"jsonrpc\":\"2.0\",\"result\":", 26) != 0)
        return -1;
    while ((p = strstr(p, entry)) != NULL) {
        n++;
        p += sizeof(entry) - 1;
    }
    for (p = line; (p = strstr(p, next_key)) != NULL; p += sizeof(next_key) - 1)
        last = p;
    if (last == NULL)
        return -1;
    next = cJSON_ParseWithOpts(last + sizeof(next_key) - 1, NULL, false);
    *cursor = NULL;
    if (cJSON_IsString(next) && (*cursor = strdup(next->valuestring)) == NULL)
        bench_die("strdup");
    if (!cJSON_IsString(next) && !cJSON_IsNull(next))
        n = -1;
    cJSON_Delete(next);
    return n;
}

/* The same, parsing the whole line. */
static long parse_page(const char *line, char **cursor)
{
    cJSON *reply = cJSON_Parse(line), *result, *next;
    long n = -1;

    result = cJSON_GetObjectItemCaseSensitive(reply, "result");
    next = cJSON_GetObjectItemCaseSensitive(result, "next");
    *cursor = NULL;
    if (cJSON_IsString(next) && (*cursor = strdup(next->valuestring)) == NULL)
        bench_die("strdup");
    if (cJSON_IsString(next) || cJSON_IsNull(next))
        n = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(result, "snapshots"));
    cJSON_Delete(reply);
    return n;
}

int main(int argc, char **argv)
{
    struct bench_reader r = {0};
    char *cursor = NULL;
    long snapshots = 0, pages = 0;
    int parse = argc > 1 && strcmp(argv[1], "--parse") == 0;
    double start;

    argc -= parse;
    argv += parse;
    if (argc != 3 && argc != 4) {
        fprintf(stderr, "usage: bench_list [--parse] SOCKET VM [LIMIT]\n");
        return 2;
    }
    r.fd = bench_connect_unix(argv[1]);
    r.buf = malloc(BENCH_LINE_MAX);
    if (r.buf == NULL)
        bench_die("malloc");
    start = bench_now_s();
    do {
        char *line;
        long n;

        request(r.fd, argv[2], cursor, (int)pages + 1, argc == 4 ? atoi(argv[3]) : 0);
        free(cursor);
        line = bench_read_line(&r);
        n = parse ? parse_page(line, &cursor) : scan_page(line, &cursor);
        if (n < 0) {
            fprintf(stderr, "bench_list: page %ld: not a page of snapshot.list: %.200s\n",
                    pages + 1, line);
            free(cursor);
            return 1;
        }
        snapshots += n;
        pages++;
    } while (cursor != NULL);
    printf("%.3f %ld %ld\n", (bench_now_s() - start) * 1000, snapshots, pages);
    free(r.buf);
    if (close(r.fd) < 0)
        bench_die("close");
    return 0;
}
