#include "broker/heap.h"

#include <malloc.h>

#include "common/log.h"

#define HEAP_CHECK_SECONDS 5
/* Free heap the broker keeps without asking: a listing's pages or a few
 * hundred clients' buffers, reused by the next burst. */
#define HEAP_FREE_KEPT (4u * 1024 * 1024)

static void heap_check_cb(evutil_socket_t fd, short what, void *arg)
{
    struct mallinfo2 mi = mallinfo2();

    (void)fd;
    (void)what;
    (void)arg;
    /* malloc_trim also gives back free pages below the top of the heap
     * (madvise), which free() never does. */
    if (mi.fordblks > HEAP_FREE_KEPT)
        malloc_trim(0);
}

struct event *heap_watch(struct event_base *base)
{
    static const struct timeval every = {HEAP_CHECK_SECONDS, 0};
    struct event *ev = event_new(base, -1, EV_PERSIST, heap_check_cb, NULL);

    if (ev == NULL || event_add(ev, &every) < 0) {
        log_warn("cannot watch the heap; memory freed after a load stays with the broker");
        if (ev != NULL)
            event_free(ev);
        return NULL;
    }
    return ev;
}
