/* Line ends in a libevent input buffer that fills a few KiB at a time.
 * evbuffer_search_eol from the start on every read scans a 16 MiB line
 * thousands of times over; this resumes where the last search stopped. */
#ifndef CORRAL_EVLINE_H
#define CORRAL_EVLINE_H

#include <event2/buffer.h>
#include <sys/types.h>

/* The bytes of the buffer searched so far without finding a line end: 0
 * for a new buffer and after every line taken out of it (or drained). */
struct evline {
    size_t scanned;
};

/* The offset of the first line end of in (style EVBUFFER_EOL_LF or
 * EVBUFFER_EOL_CRLF) with its length in *eol_len, or -1 when the buffer
 * holds no whole line yet.  The caller removes the line, then calls
 * evline_reset. */
ssize_t evline_find(struct evline *l, struct evbuffer *in, enum evbuffer_eol_style style,
                    size_t *eol_len);
void evline_reset(struct evline *l);

#endif
