#include "broker/domstats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/redefine.h"
#include "broker/registry.h"
#include "broker/spawn.h"
#include "common/fileutil.h"
#include "common/json.h"
#include "common/procfs.h"
#include "proto/conn.h"
#include "proto/server.h"

/* libvirt's virDomainState, and the reasons corral has of each. */
enum { ST_RUNNING = 1, ST_PAUSED = 3, ST_SHUTOFF = 5, ST_CRASHED = 6 };

struct reason_code {
    const char *prefix; /* of corral's reason */
    int state, code;
};

static const struct reason_code reasons[] = {
    {"booted", ST_RUNNING, 1},    {"unpaused", ST_RUNNING, 5},    {"resumed", ST_RUNNING, 5},
    {"user", ST_PAUSED, 1},       {"io-error", ST_PAUSED, 5},     {"shutdown", ST_SHUTOFF, 1},
    {"destroyed", ST_SHUTOFF, 2}, {"QEMU exited", ST_SHUTOFF, 1},
};

static void add_state(const struct bvm *vm, cJSON *stats)
{
    int state = ST_SHUTOFF, reason = 0;

    if (strcmp(vm->state, "running") == 0 || strcmp(vm->state, "degraded") == 0)
        state = ST_RUNNING;
    else if (strcmp(vm->state, "paused") == 0)
        state = ST_PAUSED;
    else if (strcmp(vm->state, "crashed") == 0)
        state = ST_CRASHED;
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
        if (reasons[i].state == state &&
            strncmp(vm->reason, reasons[i].prefix, strlen(reasons[i].prefix)) == 0) {
            reason = reasons[i].code;
            break;
        }
    }
    json_add_num(stats, "state.state", state);
    json_add_num(stats, "state.reason", reason);
}

/* QEMU's CPU time, as libvirt reports its cgroup's: nanoseconds. */
static void add_cpu(const struct bvm *vm, cJSON *stats)
{
    unsigned long long user, sys;
    long hz = sysconf(_SC_CLK_TCK);

    if (hz <= 0 || !spawn_qemu_alive(vm) || !procfs_cpu_ticks(vm->qemu_pid, &user, &sys))
        return;
    json_add_num(stats, "cpu.time", (double)((user + sys) * (1000000000ULL / (unsigned long)hz)));
    json_add_num(stats, "cpu.user", (double)(user * (1000000000ULL / (unsigned long)hz)));
    json_add_num(stats, "cpu.system", (double)(sys * (1000000000ULL / (unsigned long)hz)));
}

static void add_config(const struct domain_def *def, cJSON *stats)
{
    json_add_num(stats, "balloon.current", (double)def->current_memory_kib);
    json_add_num(stats, "balloon.maximum", (double)def->memory_kib);
    json_add_num(stats, "vcpu.current", def->vcpus_current);
    json_add_num(stats, "vcpu.maximum", def->vcpus);
}

/* The query-blockstats entry of the disk with target (QEMU's device id is
 * the target), or NULL. */
static const cJSON *entry_of(const cJSON *list, const char *target)
{
    const cJSON *e;
    char *want = xasprintf("/machine/peripheral/%s", target);
    size_t n = strlen(want);

    cJSON_ArrayForEach(e, list)
    {
        const cJSON *qdev = cJSON_GetObjectItemCaseSensitive(e, "qdev");
        if (cJSON_IsString(qdev) && strncmp(qdev->valuestring, want, n) == 0 &&
            (qdev->valuestring[n] == '\0' || qdev->valuestring[n] == '/'))
            break;
    }
    free(want);
    return e;
}

/* QEMU's counters of one disk (untrusted: each a checked whole number)
 * under virsh's names. */
static void add_counters(const cJSON *entry, const char *prefix, cJSON *stats)
{
    static const char *const keys[][2] = {
        {"rd_operations", "rd.reqs"},     {"rd_bytes", "rd.bytes"},
        {"rd_total_time_ns", "rd.times"}, {"wr_operations", "wr.reqs"},
        {"wr_bytes", "wr.bytes"},         {"wr_total_time_ns", "wr.times"},
        {"flush_operations", "fl.reqs"},  {"flush_total_time_ns", "fl.times"},
    };
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(entry, "stats");

    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        unsigned long long v;
        if (json_get_uint(st, keys[i][0], JSON_UINT_MAX, &v) == 0) {
            char *k = xasprintf("%s.%s", prefix, keys[i][1]);
            json_add_num(stats, k, (double)v);
            free(k);
        }
    }
}

/* list: query-blockstats' answer, or NULL for names and paths alone. */
static void add_blocks(const struct domain_def *def, const cJSON *list, cJSON *stats)
{
    json_add_num(stats, "block.count", (double)def->ndisks);
    for (size_t i = 0; i < def->ndisks; i++) {
        const struct disk_def *d = &def->disks[i];
        const cJSON *entry = cJSON_IsArray(list) ? entry_of(list, d->target) : NULL;
        char *prefix = xasprintf("block.%zu", i), *k = xasprintf("%s.name", prefix);

        json_add_str(stats, k, d->target);
        free(k);
        if (d->source != NULL) {
            k = xasprintf("%s.path", prefix);
            json_add_str(stats, k, d->source);
            free(k);
        }
        if (entry != NULL)
            add_counters(entry, prefix, stats);
        free(prefix);
    }
}

struct pending {
    struct bvm *vm;
    struct rpc_req *req;
    cJSON *result; /* owned */
};

static void blockstats_cb(const cJSON *result, const struct cerr *e, void *arg)
{
    struct pending *p = arg;
    const cJSON *reply = cJSON_GetObjectItemCaseSensitive(result, "reply");
    cJSON *stats = cJSON_GetObjectItemCaseSensitive(p->result, "stats");

    /* Without QEMU's answer the counters are left out, as libvirt leaves
     * out what it cannot get. */
    add_blocks(redefine_live(p->vm),
               e == NULL ? cJSON_GetObjectItemCaseSensitive(reply, "return") : NULL, stats);
    rpc_req_done(p->req, p->result, NULL);
    free(p);
}

void domstats_request(struct bvm *vm, struct rpc_req *req)
{
    const struct domain_def *def = redefine_live(vm);
    cJSON *r = json_obj(), *stats = json_obj(), *cmd, *params;
    struct pending *p;

    json_add_str(r, "name", vm->def->name);
    json_add(r, "stats", stats);
    add_state(vm, stats);
    add_cpu(vm, stats);
    add_config(def, stats);
    if (vm->sup_conn == NULL || vm->phase != LIFECYCLE_RUNNING || vm->qemu_pid <= 0) {
        add_blocks(def, NULL, stats);
        rpc_req_done(req, r, NULL);
        return;
    }
    p = xcalloc(1, sizeof(*p));
    p->vm = vm;
    p->req = req;
    p->result = r;
    cmd = json_obj();
    json_add_str(cmd, "execute", "query-blockstats");
    params = json_obj();
    json_add(params, "command", cmd);
    rpc_conn_call(vm->sup_conn, "vm.qmp", params, BVM_CALL_TIMEOUT_MS, blockstats_cb, p);
}
