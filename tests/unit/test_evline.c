/* Line ends found in a buffer that fills a few bytes at a time, as a
 * socket's input does. */
#include "common/evline.h"

#include <event2/buffer.h>

#include "tests/unit/unit.h"

/* Adds s to in, then looks for a line end. */
static ssize_t feed(struct evline *l, struct evbuffer *in, const char *s,
                    enum evbuffer_eol_style style, size_t *eol_len)
{
    if (evbuffer_add(in, s, strlen(s)) < 0) {
        printf("# evbuffer_add failed\n");
        exit(2);
    }
    return evline_find(l, in, style, eol_len);
}

static void test_crlf_split_across_reads(void)
{
    struct evbuffer *in = evbuffer_new();
    struct evline l = {0};
    size_t eol = 0;

    EXPECT(in != NULL);
    EXPECT(feed(&l, in, "{\"a\":", EVBUFFER_EOL_CRLF, &eol) == -1);
    EXPECT(feed(&l, in, "1}\r", EVBUFFER_EOL_CRLF, &eol) == -1);
    EXPECT(feed(&l, in, "\n{\"b\"", EVBUFFER_EOL_CRLF, &eol) == 7);
    EXPECT(eol == 2);
    evbuffer_drain(in, 9);
    evline_reset(&l);
    EXPECT(feed(&l, in, ":2}\n", EVBUFFER_EOL_CRLF, &eol) == 7);
    EXPECT(eol == 1);
    evbuffer_free(in);
}

static void test_long_line_in_small_reads(void)
{
    struct evbuffer *in = evbuffer_new();
    struct evline l = {0};
    char chunk[4097];
    size_t eol = 0;

    EXPECT(in != NULL);
    memset(chunk, 'x', sizeof(chunk) - 1);
    chunk[sizeof(chunk) - 1] = '\0';
    for (int i = 0; i < 256; i++) {
        EXPECT(feed(&l, in, chunk, EVBUFFER_EOL_LF, &eol) == -1);
        EXPECT(l.scanned == evbuffer_get_length(in));
    }
    /* Nothing new: nothing found, nothing past the end searched. */
    EXPECT(evline_find(&l, in, EVBUFFER_EOL_LF, &eol) == -1);
    EXPECT(feed(&l, in, "\nnext", EVBUFFER_EOL_LF, &eol) == 256 * 4096);
    EXPECT(eol == 1);
    evbuffer_free(in);
}

static void test_reset_after_drain(void)
{
    struct evbuffer *in = evbuffer_new();
    struct evline l = {0};
    size_t eol = 0;

    EXPECT(in != NULL);
    EXPECT(feed(&l, in, "0123456789", EVBUFFER_EOL_LF, &eol) == -1);
    evbuffer_drain(in, 10);
    /* A caller that drained without resetting still finds the next line. */
    EXPECT(feed(&l, in, "ab\n", EVBUFFER_EOL_LF, &eol) == 2);
    evbuffer_free(in);
}

int main(void)
{
    unit_run("crlf_split_across_reads", test_crlf_split_across_reads);
    unit_run("long_line_in_small_reads", test_long_line_in_small_reads);
    unit_run("reset_after_drain", test_reset_after_drain);
    return unit_done();
}
