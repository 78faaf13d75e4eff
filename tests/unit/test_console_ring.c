/* The console's ring buffer: a late client gets exactly the last 64 KiB
 * the guest wrote, in order, whatever the sizes of the writes. */
#include "supervisor/console_ring.h"

#include "tests/unit/unit.h"

static struct console_ring ring;
static unsigned char stream[4 * CONSOLE_RING_SIZE];
static unsigned char got[CONSOLE_RING_SIZE];

/* What the ring holds, oldest first, in got; returns its length. */
static size_t contents(void)
{
    const void *a, *b;
    size_t alen, blen;

    console_ring_spans(&ring, &a, &alen, &b, &blen);
    memcpy(got, a, alen);
    memcpy(got + alen, b, blen);
    return alen + blen;
}

/* Feeds stream in writes of the given sizes (cycled) and checks after
 * each that the ring holds the tail of what was written. */
static int feeds_keep_tail(const size_t *sizes, size_t nsizes)
{
    size_t off = 0;

    console_ring_init(&ring);
    for (size_t i = 0; off < sizeof(stream); i++) {
        size_t n = sizes[i % nsizes], keep, len;

        if (n > sizeof(stream) - off)
            n = sizeof(stream) - off;
        console_ring_add(&ring, stream + off, n);
        off += n;
        keep = off < CONSOLE_RING_SIZE ? off : CONSOLE_RING_SIZE;
        len = contents();
        if (len != keep || memcmp(got, stream + off - keep, keep) != 0) {
            printf("# after %zu bytes: holds %zu, want the last %zu\n", off, len, keep);
            return 0;
        }
    }
    return 1;
}

static void empty_ring(void)
{
    console_ring_init(&ring);
    EXPECT(contents() == 0);
}

static void small_writes(void)
{
    static const size_t sizes[] = {1, 7, 100, 4093};

    EXPECT(feeds_keep_tail(sizes, 4));
}

static void writes_around_the_size(void)
{
    static const size_t sizes[] = {CONSOLE_RING_SIZE - 1, 2, CONSOLE_RING_SIZE,
                                   CONSOLE_RING_SIZE + 5, 3};

    EXPECT(feeds_keep_tail(sizes, 5));
}

int main(void)
{
    for (size_t i = 0; i < sizeof(stream); i++)
        stream[i] = (unsigned char)(i * 7 + i / 251);
    RUN(empty_ring);
    RUN(small_writes);
    RUN(writes_around_the_size);
    return unit_done();
}
