/* The broker's VM registry.  Everything in it is derived from the state
 * directory (definitions, last known state) and the run directory (running
 * supervisors), so a restarted broker rebuilds it from disk. */
#ifndef CORRAL_REGISTRY_H
#define CORRAL_REGISTRY_H

#include <cjson/cJSON.h>
#include <event2/event.h>
#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

#include "broker/ledger.h"
#include "broker/lifecycle.h"
#include "common/domain_xml.h"
#include "common/error.h"

struct broker;
struct rpc_conn;
struct settle_waiter;
struct spawn_hooks;

/* In a VM's state_dir, root's: the VM starts when the host boots
 * (broker/autostart.h). */
#define REGISTRY_AUTOSTART_FILE "autostart"

/* How long the broker's own calls to a supervisor may take. */
#define BVM_CALL_TIMEOUT_MS 10000

struct handed_disk {
    dev_t dev;
    ino_t ino;
};

struct start_waiter {
    void *req; /* an rpc_req */
    struct start_waiter *next;
};

/* A snapshot request for a shut-off VM, waiting for its maintenance
 * supervisor. */
struct maint_op {
    char *method;
    cJSON *params;
    int timeout_ms;
    void *req; /* an rpc_req */
    struct maint_op *next;
};

struct bvm {
    struct broker *b;
    /* What the VM starts with next (domain.xml); while it runs on an older
     * definition, that one is live_def (broker/redefine.h), else NULL. */
    struct domain_def *def;
    struct domain_def *live_def;
    char *state_dir; /* STATE/vms/NAME: root's records */
    char *vm_dir;    /* STATE/vms/NAME/vm: the VM uid's (broker/vm_dirs.h) */
    char *run_dir;   /* RUN/vm/NAME */
    /* Its supervisor ran across the upgrade to the vm/ layout and still
     * writes in state_dir, which vm_dir equals until it stops. */
    bool old_layout;

    char state[16]; /* PROTOCOL.md state strings */
    char reason[256];

    /* Where its supervisor is in its life (broker/lifecycle.h). */
    enum lifecycle_phase phase;

    /* Supervisor, while one exists. */
    pid_t sup_pid;
    int sup_pidfd;
    struct event *sup_ev;
    bool sup_is_child; /* spawned by this broker, so it can be reaped */
    int status_fd;     /* start-up status pipe */
    struct event *status_ev;
    char *status_buf;
    size_t status_len;
    struct rpc_conn *sup_conn;
    pid_t qemu_pid;
    int qemu_pidfd;
    unsigned long long qemu_start; /* proc_start_time, to recognise it */
    char qemu_exit[64];            /* how QEMU ended, when the broker reaped it */
    time_t started;
    struct start_waiter *start_waiters;
    /* The next start leaves the guest paused (vm.start's paused). */
    bool start_paused;
    /* Why the broker killed the supervisor, for the reason it settles with. */
    char sup_kill_why[128];

    /* A new supervisor takes over the running QEMU of one that died
     * (broker/readopt.c, LIFECYCLE_READOPTING). */
    char readopt_error[256]; /* what it said when it could not */
    char restart_why[128];   /* why this re-adoption happens */
    time_t crash_window_start;
    unsigned crash_window_count;
    /* Too many crashes in a row: QEMU runs unmanaged, watched through its
     * pidfd, until it is destroyed or re-adopted by a start
     * (LIFECYCLE_DEGRADED, LIFECYCLE_DESTROYING). */
    struct event *qemu_ev, *kill_timer;
    struct start_waiter *destroy_waiters;
    /* Destroy and shutdown replies held until the VM is settled shut off,
     * and how long they may wait (broker/settle.h). */
    struct settle_waiter *settle_waiters;
    struct event *settle_timer;

    /* Re-attachment to a supervisor after a broker restart
     * (broker/adopt.c): counted in broker.adopting until it settles, which
     * may be phases later (lifecycle.h). */
    bool adopting;
    int reattach_pending;
    /* answers still awaited in LIFECYCLE_REATTACHING */ /* answers still awaited */

    /* Restarts during this run of the VM, persisted in status.json. */
    unsigned sup_restarts, reattached;
    time_t last_restart_time;
    char last_restart_why[160];

    /* The supervisor runs a maintenance QEMU (disks only) for snapshot
     * work on the shut-off VM; it lingers briefly for the next request
     * (LIFECYCLE_MAINT_*). */
    int maint_inflight;
    struct maint_op *maint_queue;
    struct event *maint_idle;
    /* A snapshot.revert to a live snapshot waits for the VM to start, then
     * goes to its supervisor (maintenance.c). */
    struct maint_op *revert_after_start;

    /* The local user the VM belongs to (recorded at define); separate from
     * the uid it runs as. */
    uid_t owner;
    /* REGISTRY_AUTOSTART_FILE exists. */
    bool autostart;

    /* The runtime identity (broker/identity.c), when uids are isolated. */
    bool has_identity;
    uid_t uid;
    gid_t gid;
    /* Disk images handed to that identity and not given back yet, as in
     * identity.json: compared by file, not by name. */
    struct handed_disk *handed;
    size_t nhanded;

    /* Highest report seq persisted for this VM; -1 until read from disk. */
    long long last_seq;
    bool last_seq_known;
    /* What the persisted reports about one QEMU job said (job, kind,
     * disks), read from disk with last_seq: a supervisor killed between
     * journalling such a report and recording that it did makes it again. */
    cJSON *job_reports;
    /* Reports over the rate, or that the ledger could not take, are not
     * acknowledged: while held, none is kept, and the supervisor is asked
     * to send its journal again when report_retry fires. */
    struct ledger_bucket report_bucket;
    bool reports_held;
    struct event *report_retry;
    /* Reports taken but not yet in the ledger: those that arrive together
     * are written with one flush (report_flush, run once the supervisor's
     * messages at hand are read), then fanned out and acknowledged. */
    cJSON *report_batch;
    long long batch_seq; /* highest seq in report_batch, 0 when none */
    struct event *report_flush;

    struct bvm *next;
};

struct broker {
    struct event_base *base;
    char *state_dir, *run_dir, *supervisor_path;
    struct rpc_server *srv;
    struct bvm *vms;
    bool debug;
    /* Admins (cached), the --emulator allowlist: broker/policy.c. */
    struct policy *policy;
    /* --admin-group: its members manage every VM, as root does. */
    bool has_admin_group;
    gid_t admin_gid;
    /* --vm-user NAME=USER: VMs that run as a named user, not from the range. */
    char **vm_users; /* "NAME=USER" strings */
    size_t nvm_users;
    /* --uid-range: one uid per VM from [uid_min, uid_max]. */
    bool isolate;
    uid_t uid_min, uid_max;
    /* --restart-limit COUNT/SECONDS: more supervisor crashes than that
     * within the interval leave the VM degraded. */
    unsigned restart_limit, restart_interval;
    /* --adopt-timeout: how long a re-attached supervisor has to answer. */
    unsigned adopt_timeout;
    /* Re-attachments after this broker's start still in flight, how many
     * succeeded, and since when (for one summary log line). */
    int adopting, adopted;
    bool adopt_reported;
    long long adopt_t0_ms;
    struct event *sigchld;
    /* What a status line and a supervisor's end lead to (supervise_init). */
    const struct spawn_hooks *spawn_hooks;
};

/* Loads every VM definition under STATE/vms. */
int registry_load(struct broker *b, struct cerr *e);
struct bvm *registry_find(struct broker *b, const char *name);
/* Looks up name after validating it; CE_INVALID_NAME / CE_NO_DOMAIN. */
struct bvm *registry_lookup(struct broker *b, const char *name, struct cerr *e);
/* Parses, checks and durably writes a definition; nothing is written on
 * failure.  A VM of the same name and uuid is updated in place
 * (*updated set; owner is then ignored: the VM keeps its owner); another VM
 * with either is refused, as libvirt does.  *warnings is malloc'd or NULL. */
struct bvm *registry_define(struct broker *b, const char *xml, size_t len, uid_t owner,
                            char **warnings, bool *updated, struct cerr *e);
/* The VM that defining def would update: the one of the same name, or
 * NULL; CE_DOMAIN_EXISTS when its name or uuid is another VM's. */
struct bvm *registry_define_target(struct broker *b, const struct domain_def *def, struct cerr *e);
/* Removes an inactive VM's definition and state directory. */
/* What undefine does with a UEFI VM's NVRAM file (virsh undefine's
 * --nvram and --keep-nvram): with neither, a VM that has one is refused,
 * as libvirt refuses it. */
enum registry_nvram { REGISTRY_NVRAM_REFUSE, REGISTRY_NVRAM_REMOVE, REGISTRY_NVRAM_KEEP };
/* take_def, when not NULL, receives the VM's definition (the caller's to
 * free) once it is undefined. */
int registry_undefine(struct broker *b, struct bvm *vm, enum registry_nvram nvram,
                      struct domain_def **take_def, struct cerr *e);
/* Whether the VM has a supervisor, or a QEMU the broker watches. */
bool bvm_active(const struct bvm *vm);
/* Writes state, reason and restart counters to STATE/vms/NAME/status.json,
 * whole after a crash but not synced (file_replace). */
void bvm_persist_status(const struct bvm *vm);
/* bvm_persist_status of each of n VMs. */
void bvm_persist_status_many(struct bvm *const *vms, size_t n);
/* Records a restart (why) in the per-run counters without persisting them:
 * the caller persists (bvm_persist_status or _many). */
void bvm_count_restart(struct bvm *vm, unsigned *counter, const char *why);
/* Records a restart (why) in the per-run counters and persists them. */
void bvm_note_restart(struct bvm *vm, unsigned *counter, const char *why);
/* Adds the per-run restart counters to a vm.info object. */
void bvm_add_restarts(const struct bvm *vm, cJSON *info);
/* Sets and persists state and reason, and tells event subscribers. */
void bvm_set_state(struct bvm *vm, const char *state, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* vm.state / vm.info objects for an inactive VM; caller owns them. */
cJSON *bvm_state_json(const struct bvm *vm);
cJSON *bvm_info_json(const struct bvm *vm);
/* Every inconsistency report kept for vm, oldest first, as a new array. */
cJSON *registry_reports(const struct bvm *vm, struct cerr *e);
void registry_free(struct broker *b);

#endif
