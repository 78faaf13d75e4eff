#include "broker/lifecycle.h"

#include <stdio.h>
#include <time.h>

#include "broker/registry.h"
#include "common/log.h"
#include "common/monotime.h"
#include "common/notify.h"

#define BIT(p) (1u << (p))

/* allowed[from]: the phases from may go to (lifecycle.h); OFF is allowed
 * from anywhere (the broker's exit releases every handle). */
static const unsigned allowed[LIFECYCLE_NPHASES] = {
    [LIFECYCLE_OFF] = BIT(LIFECYCLE_STARTING) | BIT(LIFECYCLE_MAINT_STARTING) |
                      BIT(LIFECYCLE_RUNNING) | BIT(LIFECYCLE_MAINT_READY),
    [LIFECYCLE_STARTING] = BIT(LIFECYCLE_RUNNING),
    [LIFECYCLE_RUNNING] =
        BIT(LIFECYCLE_REATTACHING) | BIT(LIFECYCLE_READOPTING) | BIT(LIFECYCLE_DEGRADED),
    [LIFECYCLE_REATTACHING] = BIT(LIFECYCLE_RUNNING),
    [LIFECYCLE_READOPTING] = BIT(LIFECYCLE_RUNNING),
    [LIFECYCLE_DEGRADED] = BIT(LIFECYCLE_READOPTING) | BIT(LIFECYCLE_DESTROYING),
    [LIFECYCLE_DESTROYING] = 0,
    [LIFECYCLE_MAINT_STARTING] = BIT(LIFECYCLE_MAINT_READY),
    [LIFECYCLE_MAINT_READY] = BIT(LIFECYCLE_MAINT_CLOSING),
    [LIFECYCLE_MAINT_CLOSING] = 0,
};

const char *lifecycle_name(enum lifecycle_phase p)
{
    switch (p) {
    case LIFECYCLE_OFF:
        return "off";
    case LIFECYCLE_STARTING:
        return "starting";
    case LIFECYCLE_RUNNING:
        return "running";
    case LIFECYCLE_REATTACHING:
        return "reattaching";
    case LIFECYCLE_READOPTING:
        return "readopting";
    case LIFECYCLE_DEGRADED:
        return "degraded";
    case LIFECYCLE_DESTROYING:
        return "destroying";
    case LIFECYCLE_MAINT_STARTING:
        return "maintenance-starting";
    case LIFECYCLE_MAINT_READY:
        return "maintenance";
    case LIFECYCLE_MAINT_CLOSING:
        return "maintenance-closing";
    }
    return "?";
}

bool lifecycle_may(enum lifecycle_phase from, enum lifecycle_phase to)
{
    if ((unsigned)from >= LIFECYCLE_NPHASES || (unsigned)to >= LIFECYCLE_NPHASES)
        return false;
    return from == to || to == LIFECYCLE_OFF || (allowed[from] & BIT(to)) != 0;
}

void lifecycle_set(struct bvm *vm, enum lifecycle_phase to)
{
    if (!lifecycle_may(vm->phase, to))
        log_err("VM %s: the broker moved its supervisor from %s to %s, which lifecycle.h does "
                "not allow (a bug)",
                vm->def->name, lifecycle_name(vm->phase), lifecycle_name(to));
    vm->phase = to;
}

bool lifecycle_starting(enum lifecycle_phase p)
{
    return p == LIFECYCLE_STARTING || p == LIFECYCLE_MAINT_STARTING;
}

bool lifecycle_maintenance(enum lifecycle_phase p)
{
    return p == LIFECYCLE_MAINT_STARTING || p == LIFECYCLE_MAINT_READY ||
           p == LIFECYCLE_MAINT_CLOSING;
}

bool lifecycle_degraded(enum lifecycle_phase p)
{
    return p == LIFECYCLE_DEGRADED || p == LIFECYCLE_DESTROYING;
}

void lifecycle_adopt_report(struct broker *b)
{
    if (b->adopting > 0 || b->adopt_reported)
        return;
    b->adopt_reported = true;
    log_info("re-attached %d VMs in %lld ms", b->adopted, monotime_ms() - b->adopt_t0_ms);
    /* Only now may systemd call the broker started: every VM that ran
     * answers as running again. */
    char state[96];
    struct cerr e;
    snprintf(state, sizeof(state), "READY=1\nSTATUS=serving, %d VMs re-attached", b->adopted);
    if (notify_send(state, &e) < 0)
        log_warn_code(cerr_name(e.code), "%s", e.msg);
}

void lifecycle_adopt_settled(struct bvm *vm, bool reattached)
{
    if (!vm->adopting)
        return;
    vm->adopting = false;
    vm->b->adopting--;
    if (reattached)
        vm->b->adopted++;
    lifecycle_adopt_report(vm->b);
}
