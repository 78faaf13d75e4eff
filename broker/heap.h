/* The broker's heap after a burst of load: what hundreds of clients and
 * subscribers that never read left free in the middle of the heap stays
 * with the process unless it is asked back, since later blocks sit above
 * it and free() gives back only the top. */
#ifndef CORRAL_BROKER_HEAP_H
#define CORRAL_BROKER_HEAP_H

#include <event2/event.h>

/* Looks at the heap every few seconds and gives its free pages back once
 * more than a few MiB lie free.  Returns the timer the caller frees with
 * event_free, or NULL (logged) when it cannot be set up. */
struct event *heap_watch(struct event_base *base);

#endif
