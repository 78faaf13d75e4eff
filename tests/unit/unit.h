/* A minimal unit test harness.  Each test case prints one line that
 * tests/run-tests counts: "ok - NAME", "not ok - NAME: WHY" or
 * "skip - NAME: WHY". */
#ifndef CORRAL_UNIT_H
#define CORRAL_UNIT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int unit_failures;
static int unit_current_failed;
static const char *unit_skip_reason;

static inline void unit_fail(const char *file, int line, const char *what)
{
    if (!unit_current_failed)
        printf("# %s:%d: %s\n", file, line, what);
    unit_current_failed = 1;
}

#define EXPECT(cond)                                                                               \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            unit_fail(__FILE__, __LINE__, "expected " #cond);                                      \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define EXPECT_STR(a, b)                                                                           \
    do {                                                                                           \
        const char *ea_ = (a), *eb_ = (b);                                                         \
        if (ea_ == NULL || eb_ == NULL || strcmp(ea_, eb_) != 0) {                                 \
            printf("# got '%s', want '%s'\n", ea_ ? ea_ : "(null)", eb_ ? eb_ : "(null)");         \
            unit_fail(__FILE__, __LINE__, "expected " #a " == " #b);                               \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define EXPECT_CONTAINS(hay, needle)                                                               \
    do {                                                                                           \
        const char *eh_ = (hay), *en_ = (needle);                                                  \
        if (eh_ == NULL || strstr(eh_, en_) == NULL) {                                             \
            printf("# '%s' does not contain '%s'\n", eh_ ? eh_ : "(null)", en_);                   \
            unit_fail(__FILE__, __LINE__, "expected " #hay " to contain " #needle);                \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define UNIT_SKIP(why)                                                                             \
    do {                                                                                           \
        unit_skip_reason = (why);                                                                  \
        return;                                                                                    \
    } while (0)

static inline void unit_run(const char *name, void (*fn)(void))
{
    unit_current_failed = 0;
    unit_skip_reason = NULL;
    fflush(stdout);
    fn();
    if (unit_current_failed) {
        printf("not ok - %s\n", name);
        unit_failures++;
    } else if (unit_skip_reason != NULL)
        printf("skip - %s: %s\n", name, unit_skip_reason);
    else
        printf("ok - %s\n", name);
    fflush(stdout);
}

#define RUN(fn) unit_run(#fn, fn)

static inline int unit_done(void)
{
    return unit_failures == 0 ? 0 : 1;
}

#endif
