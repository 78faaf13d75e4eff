#include "supervisor/console_ring.h"

#include <string.h>

void console_ring_init(struct console_ring *r)
{
    r->start = 0;
    r->len = 0;
}

void console_ring_add(struct console_ring *r, const void *data, size_t n)
{
    const unsigned char *p = data;

    if (n >= CONSOLE_RING_SIZE) {
        /* Only the tail can survive: keep it, starting over at 0. */
        memcpy(r->buf, p + n - CONSOLE_RING_SIZE, CONSOLE_RING_SIZE);
        r->start = 0;
        r->len = CONSOLE_RING_SIZE;
        return;
    }
    while (n > 0) {
        size_t end = (r->start + r->len) % CONSOLE_RING_SIZE;
        size_t chunk = CONSOLE_RING_SIZE - end;

        if (chunk > n)
            chunk = n;
        memcpy(r->buf + end, p, chunk);
        p += chunk;
        n -= chunk;
        r->len += chunk;
        if (r->len > CONSOLE_RING_SIZE) {
            r->start = (r->start + r->len - CONSOLE_RING_SIZE) % CONSOLE_RING_SIZE;
            r->len = CONSOLE_RING_SIZE;
        }
    }
}

void console_ring_spans(const struct console_ring *r, const void **a, size_t *alen, const void **b,
                        size_t *blen)
{
    size_t first = CONSOLE_RING_SIZE - r->start;

    if (first > r->len)
        first = r->len;
    *a = r->buf + r->start;
    *alen = first;
    *b = r->buf;
    *blen = r->len - first;
}
