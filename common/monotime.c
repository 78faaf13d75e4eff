#include "common/monotime.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "common/log.h"

long long monotime_ms(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0) {
        log_err("cannot read the monotonic clock: %s", strerror(errno));
        return -1;
    }
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
