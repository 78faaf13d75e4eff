/* The supervisor lifecycle's transition table (broker/lifecycle.h). */
#include "broker/lifecycle.h"

#include "tests/unit/unit.h"

#define P(x) LIFECYCLE_##x

/* Every change lifecycle.h lists, besides staying and going to OFF. */
static const struct {
    enum lifecycle_phase from, to;
} listed[] = {
    {P(OFF), P(STARTING)},
    {P(OFF), P(MAINT_STARTING)},
    {P(OFF), P(RUNNING)},
    {P(OFF), P(MAINT_READY)},
    {P(STARTING), P(RUNNING)},
    {P(RUNNING), P(REATTACHING)},
    {P(RUNNING), P(READOPTING)},
    {P(RUNNING), P(DEGRADED)},
    {P(REATTACHING), P(RUNNING)},
    {P(READOPTING), P(RUNNING)},
    {P(DEGRADED), P(READOPTING)},
    {P(DEGRADED), P(DESTROYING)},
    {P(MAINT_STARTING), P(MAINT_READY)},
    {P(MAINT_READY), P(MAINT_CLOSING)},
};

static bool is_listed(enum lifecycle_phase from, enum lifecycle_phase to)
{
    for (size_t i = 0; i < sizeof(listed) / sizeof(listed[0]); i++) {
        if (listed[i].from == from && listed[i].to == to)
            return true;
    }
    return false;
}

static void table_is_as_documented(void)
{
    for (int f = 0; f < LIFECYCLE_NPHASES; f++) {
        for (int t = 0; t < LIFECYCLE_NPHASES; t++) {
            bool want = f == t || t == LIFECYCLE_OFF || is_listed(f, t);
            if (lifecycle_may(f, t) != want)
                printf("# %s -> %s\n", lifecycle_name(f), lifecycle_name(t));
            EXPECT(lifecycle_may(f, t) == want);
        }
    }
}

/* The paths a VM takes, step by step. */
static void paths(void)
{
    static const enum lifecycle_phase walks[][6] = {
        /* Started, crashed, re-adopted, stopped. */
        {P(OFF), P(STARTING), P(RUNNING), P(READOPTING), P(RUNNING), P(OFF)},
        /* Crashed too often, degraded, started again. */
        {P(RUNNING), P(DEGRADED), P(READOPTING), P(RUNNING), P(DEGRADED), P(DESTROYING)},
        /* Found after a broker restart, died while awaited. */
        {P(OFF), P(RUNNING), P(REATTACHING), P(RUNNING), P(READOPTING), P(RUNNING)},
        /* Snapshot work on a shut-off VM, then a start. */
        {P(OFF), P(MAINT_STARTING), P(MAINT_READY), P(MAINT_CLOSING), P(OFF), P(STARTING)},
    };

    for (size_t w = 0; w < sizeof(walks) / sizeof(walks[0]); w++) {
        for (size_t i = 0; i + 1 < 6; i++)
            EXPECT(lifecycle_may(walks[w][i], walks[w][i + 1]));
    }
}

static void refused(void)
{
    /* A start's supervisor never re-attaches, a maintenance one never
     * serves a running VM, and QEMU being destroyed is not re-adopted. */
    EXPECT(!lifecycle_may(P(STARTING), P(REATTACHING)));
    EXPECT(!lifecycle_may(P(MAINT_READY), P(RUNNING)));
    EXPECT(!lifecycle_may(P(MAINT_CLOSING), P(MAINT_READY)));
    EXPECT(!lifecycle_may(P(DESTROYING), P(READOPTING)));
    EXPECT(!lifecycle_may(P(OFF), P(DEGRADED)));
    EXPECT(!lifecycle_may(P(STARTING), P(MAINT_STARTING)));
    EXPECT(!lifecycle_may(LIFECYCLE_NPHASES, P(OFF)));
}

static void predicates(void)
{
    for (int p = 0; p < LIFECYCLE_NPHASES; p++) {
        EXPECT(lifecycle_starting(p) == (p == P(STARTING) || p == P(MAINT_STARTING)));
        EXPECT(lifecycle_maintenance(p) ==
               (p == P(MAINT_STARTING) || p == P(MAINT_READY) || p == P(MAINT_CLOSING)));
        EXPECT(lifecycle_degraded(p) == (p == P(DEGRADED) || p == P(DESTROYING)));
        EXPECT(strcmp(lifecycle_name(p), "?") != 0);
    }
}

int main(void)
{
    RUN(table_is_as_documented);
    RUN(paths);
    RUN(refused);
    RUN(predicates);
    return unit_done();
}
