/* QMP replies and events (supervisor/qmp.c) with the supervisor's snapshot
 * machinery behind them: a scripted QEMU on the other end of the monitor
 * socket writes the input (greeting, replies, events) in chunks whose sizes
 * the input chooses, while the supervisor has in flight what it asks of a
 * real QEMU: a listing of two disks' snapshots (snapshot_qmp_list, which
 * reads query-named-block-nodes), a snapshot-save job
 * (snapshot_qmp_jobs_start: the command, JOB_STATUS_CHANGE events,
 * query-jobs and job-dismiss) and a reconcile (query-jobs).  The ids the
 * supervisor gives are corral-1 (qmp_capabilities), corral-2, ... in that
 * order, so the corpus can answer them.  Properties: every callback runs
 * exactly once (the last when the monitor goes away); a reply is either
 * a reply or an error, and qmp_reply_check agrees with its "error"
 * member; a job's outcome agrees with its ok flag; a listing names the
 * nodes asked for, in order.  (The snapshot_ops.c state machine above
 * this, with its metadata and journal, is not wired in: it needs a VM's
 * whole state directory.) */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "supervisor/qmp.h"
#include "supervisor/snapshot_qmp.h"
#include "supervisor/snapshot_qmp_jobs.h"
#include "tests/fuzz/fuzz.h"

static struct event_base *base;
static char sock_dir[32], sock_path[108];
static int listen_fd = -1;
static const char *const nodes[] = {"drive-vda", "drive-vdb"};

struct run {
    struct snapjobs *sj;
    int ready, closed, listed, saved, reconciled, queried;
};

static void cleanup(void)
{
    unlink(sock_path);
    rmdir(sock_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};

    log_init("fuzz_qmp", (enum log_level)(LOG_LVL_ERR + 1));
    base = event_base_new();
    snprintf(sock_dir, sizeof(sock_dir), "/tmp/corral-fuzz-qmp.XXXXXX");
    if (base == NULL || mkdtemp(sock_dir) == NULL)
        abort();
    snprintf(sock_path, sizeof(sock_path), "%s/qmp.sock", sock_dir);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
    listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(listen_fd, 4) < 0)
        abort();
    atexit(cleanup);
    return 0;
}

static void on_event(const char *event, const cJSON *data, void *arg)
{
    struct run *r = arg;

    FUZZ_ASSERT(event != NULL, "an event without a name");
    snapshot_qmp_jobs_handle_event(r->sj, event, data);
}

static void on_ready(void *arg)
{
    ((struct run *)arg)->ready++;
}

static void on_closed(const char *why, void *arg)
{
    struct run *r = arg;

    r->closed++;
    snapshot_qmp_jobs_handle_closed(r->sj);
}

static void on_listed(struct snapshot_qmp_nodes *l, const struct cerr *e, void *arg)
{
    ((struct run *)arg)->listed++;
    FUZZ_ASSERT((l == NULL) != (e == NULL), "a listing with both or neither result and error");
    if (l == NULL)
        return;
    FUZZ_ASSERT(l->n == 2, "a listing of %zu nodes for 2 asked", l->n);
    for (size_t i = 0; i < l->n; i++) {
        FUZZ_ASSERT(strcmp(l->nodes[i].node, nodes[i]) == 0, "node %zu is '%s'", i,
                    l->nodes[i].node);
        FUZZ_ASSERT(l->nodes[i].found || l->nodes[i].nsnaps == 0, "snapshots of a missing node");
        for (size_t k = 0; k < l->nodes[i].nsnaps; k++)
            FUZZ_ASSERT(l->nodes[i].snaps[k].name != NULL, "a snapshot without a tag");
    }
    snapshot_qmp_nodes_free(l);
}

static void on_saved(const struct snapjob_result *res, void *arg)
{
    ((struct run *)arg)->saved++;
    FUZZ_ASSERT(res->ok == (res->outcome == SNAPJOB_OK), "ok %d but outcome %d", res->ok,
                (int)res->outcome);
    FUZZ_ASSERT(res->ok || res->err.msg[0] != '\0', "a failed job says nothing");
    FUZZ_ASSERT(res->job_id != NULL && strcmp(res->job_id, "corral-save-1") == 0, "job id");
    for (size_t i = 0; i < res->nstatuses; i++)
        FUZZ_ASSERT(res->statuses[i] != NULL, "a NULL status");
}

static void on_progress(const char *job_id, const char *status, void *arg)
{
    FUZZ_ASSERT(strcmp(job_id, "corral-save-1") == 0, "progress of job '%s'", job_id);
}

static void on_reconciled(const struct snapjob_leftover *jobs, size_t n, const struct cerr *e,
                          void *arg)
{
    ((struct run *)arg)->reconciled++;
    FUZZ_ASSERT(e == NULL || n == 0, "jobs and an error");
    for (size_t i = 0; i < n; i++)
        FUZZ_ASSERT(jobs[i].id != NULL &&
                        strncmp(jobs[i].id, SNAPJOB_ID_PREFIX, strlen(SNAPJOB_ID_PREFIX)) == 0,
                    "reconciled a job that is not corral's");
}

static void on_status(const cJSON *reply, const struct cerr *e, void *arg)
{
    struct cerr ce;
    bool has_error;

    ((struct run *)arg)->queried++;
    FUZZ_ASSERT((reply == NULL) != (e == NULL), "a reply with both or neither");
    if (reply == NULL)
        return;
    FUZZ_ASSERT(cJSON_IsObject(reply), "a reply that is not an object");
    has_error = cJSON_GetObjectItemCaseSensitive(reply, "error") != NULL;
    FUZZ_ASSERT((qmp_reply_check(reply, "query-status", &ce) < 0) == has_error,
                "qmp_reply_check disagrees with the reply");
    FUZZ_ASSERT(!has_error || strncmp(ce.msg, "QEMU refused", 12) == 0, "check says '%s'", ce.msg);
}

/* Discards what the supervisor sends QEMU. */
static void drain(int fd)
{
    char buf[65536];

    while (read(fd, buf, sizeof(buf)) > 0)
        ;
}

static void feed(int peer, const uint8_t *data, size_t size, struct run *r)
{
    size_t nsizes = data[0] % 8, off = 1 + nsizes, k = 0, rounds = 0;

    if (size < off)
        return;
    while (off < size && r->closed == 0 && rounds++ < 100000) {
        size_t chunk = nsizes ? (size_t)data[1 + k++ % nsizes] + 1 : size - off;
        ssize_t n;

        if (chunk > size - off)
            chunk = size - off;
        n = write(peer, data + off, chunk);
        FUZZ_ASSERT(n > 0 || errno == EAGAIN, "write: %s", strerror(errno));
        if (n > 0)
            off += (size_t)n;
        event_base_loop(base, EVLOOP_NONBLOCK);
        drain(peer);
    }
    event_base_loop(base, EVLOOP_NONBLOCK);
    drain(peer);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct run r = {0};
    struct qmp *q;
    struct cerr e;
    int peer;

    if (size < 1)
        return 0;
    q = qmp_new(base, on_event, on_ready, on_closed, &r);
    r.sj = snapshot_qmp_jobs_new(base, q);
    FUZZ_ASSERT(q != NULL && r.sj != NULL, "qmp_new or snapshot_qmp_jobs_new failed");
    FUZZ_ASSERT(qmp_connect(q, sock_path) == 0 || errno == EINPROGRESS, "connect: %s",
                strerror(errno));
    peer = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    FUZZ_ASSERT(peer >= 0, "accept: %s", strerror(errno));
    snapshot_qmp_list(q, nodes, 2, 0, on_listed, &r);
    FUZZ_ASSERT(snapshot_qmp_jobs_start(r.sj, SNAPJOB_SAVE, "corral-save-1", "s1", "drive-vda",
                                        nodes, 2, 0, on_progress, on_saved, &r, &e) == 0,
                "snapshot_qmp_jobs_start: %s", e.msg);
    snapshot_qmp_jobs_reconcile(q, 0, on_reconciled, &r);
    qmp_command(q, "query-status", NULL, 0, on_status, &r);
    feed(peer, data, size, &r);
    qmp_disconnect(q, "the fuzzer's QEMU is done");
    event_base_loop(base, EVLOOP_NONBLOCK);
    FUZZ_ASSERT(r.ready <= 1 && r.closed == 1, "ready %d times, closed %d times", r.ready,
                r.closed);
    FUZZ_ASSERT(r.listed == 1 && r.saved == 1 && r.reconciled == 1 && r.queried == 1,
                "callbacks ran listed %d, saved %d, reconciled %d, query-status %d times", r.listed,
                r.saved, r.reconciled, r.queried);
    snapshot_qmp_jobs_free(r.sj);
    qmp_free(q);
    close(peer);
    return 0;
}
