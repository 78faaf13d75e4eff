#include "common/evline.h"

ssize_t evline_find(struct evline *l, struct evbuffer *in, enum evbuffer_eol_style style,
                    size_t *eol_len)
{
    struct evbuffer_ptr start, p;
    size_t have = evbuffer_get_length(in);
    /* A CR that ended the last search may be the first half of a CRLF. */
    size_t from = l->scanned > 0 && style == EVBUFFER_EOL_CRLF ? l->scanned - 1 : l->scanned;

    if (from > have)
        from = 0;
    if (evbuffer_ptr_set(in, &start, from, EVBUFFER_PTR_SET) < 0)
        return -1;
    *eol_len = 0;
    p = evbuffer_search_eol(in, &start, eol_len, style);
    if (p.pos < 0) {
        l->scanned = have;
        return -1;
    }
    return (ssize_t)p.pos;
}

void evline_reset(struct evline *l)
{
    l->scanned = 0;
}
