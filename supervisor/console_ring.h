/* The last CONSOLE_RING_SIZE bytes a guest wrote to a console, so that a
 * client attaching late still sees the boot log. */
#ifndef CORRAL_CONSOLE_RING_H
#define CORRAL_CONSOLE_RING_H

#include <stddef.h>

#define CONSOLE_RING_SIZE (64 * 1024)

struct console_ring {
    unsigned char buf[CONSOLE_RING_SIZE];
    size_t start, len; /* the oldest byte kept, how many are kept */
};

void console_ring_init(struct console_ring *r);
/* Keeps data, forgetting the oldest bytes beyond CONSOLE_RING_SIZE. */
void console_ring_add(struct console_ring *r, const void *data, size_t n);
/* What is kept, oldest first, as at most two spans (borrowed from r; a
 * span may be empty). */
void console_ring_spans(const struct console_ring *r, const void **a, size_t *alen, const void **b,
                        size_t *blen);

#endif
