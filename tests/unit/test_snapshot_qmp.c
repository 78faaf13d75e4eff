/* snapshot_qmp against a real QEMU (-machine none, TCG, two qcow2 disks):
 * listing, the save/load/delete job dance, job ids, reconcile, a timeout and
 * a SIGKILL in the middle of a save; plus malformed replies fed to the
 * parsers and a scripted fake monitor for the moments a real QEMU cannot be
 * stopped at (the monitor lost between the return and "concluded", a
 * garbage query-jobs, a refused job-dismiss). */
#include "supervisor/snapshot_qmp.h"
#include "supervisor/snapshot_qmp_jobs.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/fileutil.h"
#include "common/log.h"
#include "common/json.h"
#include "supervisor/qmp.h"
#include "tests/unit/unit.h"

#define JOB_TIMEOUT_MS 10000
#define WAIT_MS 10000
#define VDA "drive-vda"
#define VDB "drive-vdb"

static struct event_base *base;
static struct event *tick;
static char topdir[64];
static const char *no_qemu; /* why QEMU tests are skipped, or NULL */

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
}

/* One pass of the loop, waking after at most 10 ms. */
static void loop_once(void)
{
    struct timeval tv = {0, 10000};

    if (evtimer_add(tick, &tv) < 0 || event_base_loop(base, EVLOOP_ONCE) < 0) {
        printf("# the event loop failed\n");
        exit(2);
    }
}

/* Runs the loop until *flag or ms elapse; returns *flag. */
static bool run_until(const bool *flag, int ms)
{
    long long end = now_ms() + ms;

    while (!*flag && now_ms() < end)
        loop_once();
    return *flag;
}

/* ---- one QEMU (or fake monitor) and its QMP connection ---- */

struct vmq {
    char dir[128];
    pid_t pid; /* 0: none */
    struct qmp *q;
    struct snapjobs *sj;
    bool ready, closed;
};

static struct vmq main_vm, ram_vm, fake_vm;

static void on_event(const char *event, const cJSON *data, void *arg)
{
    struct vmq *v = arg;

    snapshot_qmp_jobs_handle_event(v->sj, event, data);
}

static void on_ready(void *arg)
{
    struct vmq *v = arg;

    v->ready = true;
}

static void on_closed(const char *why, void *arg)
{
    struct vmq *v = arg;

    v->ready = false;
    v->closed = true;
    snapshot_qmp_jobs_handle_closed(v->sj);
}

static void vmq_init(struct vmq *v)
{
    v->q = qmp_new(base, on_event, on_ready, on_closed, v);
    v->sj = snapshot_qmp_jobs_new(base, v->q);
}

static void vmq_stop(struct vmq *v)
{
    snapshot_qmp_jobs_free(v->sj);
    qmp_free(v->q);
    v->sj = NULL;
    v->q = NULL;
    if (v->pid > 0) {
        kill(v->pid, SIGKILL);
        waitpid(v->pid, NULL, 0);
        v->pid = 0;
    }
}

/* Runs argv with output to log; its exit status, or -1. */
static int run_cmd(char *const argv[], const char *log)
{
    int status;
    pid_t pid = fork();

    if (pid < 0)
        return -1;
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

        if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
            _exit(126);
        execvp(argv[0], argv);
        _exit(127);
    }
    if (waitpid(pid, &status, 0) < 0)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static bool in_path(const char *prog)
{
    const char *path = getenv("PATH");
    char buf[4096];

    for (const char *p = path ? path : "/usr/bin:/bin"; *p != '\0';) {
        size_t n = strcspn(p, ":");

        snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, p, prog);
        if (access(buf, X_OK) == 0)
            return true;
        p += n + (p[n] == ':');
    }
    return false;
}

/* A file of size bytes that are all 0x5a: guest RAM that migration cannot
 * skip as zero pages, so a save takes long enough to be interrupted. */
static int write_ram_file(const char *path, size_t size)
{
    static char chunk[1 << 20];
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

    if (fd < 0)
        return -1;
    memset(chunk, 0x5a, sizeof(chunk));
    for (size_t done = 0; done < size; done += sizeof(chunk)) {
        if (write(fd, chunk, sizeof(chunk)) != (ssize_t)sizeof(chunk)) {
            close(fd);
            return -1;
        }
    }
    return close(fd);
}

/* Starts QEMU with disks vda and vdb in topdir/name and connects; with_ram
 * adds 64 MiB of non-zero guest RAM.  NULL on success, else why not. */
static const char *vmq_start(struct vmq *v, const char *name, bool with_ram)
{
    char sock[256], log[256], chardev[300], ram[256], ramobj[400], bd[4][400];
    char *argv[40];
    int argc = 0;
    long long end;

    snprintf(v->dir, sizeof(v->dir), "%s/%s", topdir, name);
    if (mkdir(v->dir, 0700) < 0)
        return "cannot create the VM directory";
    snprintf(log, sizeof(log), "%s/qemu.log", v->dir);
    for (int i = 0; i < 2; i++) {
        char img[256];
        char *img_argv[] = {"qemu-img", "create", "-q", "-f", "qcow2", img, "16M", NULL};

        snprintf(img, sizeof(img), "%s/%c.qcow2", v->dir, "ab"[i]);
        if (run_cmd(img_argv, log) != 0)
            return "qemu-img create failed";
        snprintf(bd[2 * i], sizeof(bd[0]),
                 "{\"driver\":\"file\",\"filename\":\"%s\",\"node-name\":\"drive-vd%c-file\"}", img,
                 "ab"[i]);
        snprintf(bd[2 * i + 1], sizeof(bd[0]),
                 "{\"driver\":\"qcow2\",\"file\":\"drive-vd%c-file\",\"node-name\":\"drive-vd%c\"}",
                 "ab"[i], "ab"[i]);
    }
    snprintf(sock, sizeof(sock), "%s/qmp.sock", v->dir);
    snprintf(chardev, sizeof(chardev), "socket,id=m,path=%s,server=on,wait=off", sock);
    argv[argc++] = "qemu-system-x86_64";
    argv[argc++] = "-machine";
    argv[argc++] = with_ram ? "none,memory-backend=mem" : "none";
    argv[argc++] = "-nodefaults";
    argv[argc++] = "-display";
    argv[argc++] = "none";
    argv[argc++] = "-S";
    argv[argc++] = "-accel";
    argv[argc++] = "tcg";
    argv[argc++] = "-chardev";
    argv[argc++] = chardev;
    argv[argc++] = "-mon";
    argv[argc++] = "chardev=m,mode=control";
    for (int i = 0; i < 4; i++) {
        argv[argc++] = "-blockdev";
        argv[argc++] = bd[i];
    }
    if (with_ram) {
        snprintf(ram, sizeof(ram), "%s/ram.bin", v->dir);
        if (write_ram_file(ram, 64u << 20) < 0)
            return "cannot write the guest RAM file";
        snprintf(ramobj, sizeof(ramobj),
                 "memory-backend-file,id=mem,size=64M,mem-path=%s,share=off", ram);
        argv[argc++] = "-m";
        argv[argc++] = "64";
        argv[argc++] = "-object";
        argv[argc++] = ramobj;
    }
    argv[argc] = NULL;

    v->pid = fork();
    if (v->pid < 0)
        return "fork failed";
    if (v->pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

        /* QEMU must not outlive a test that crashes. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
            _exit(126);
        execvp(argv[0], argv);
        _exit(127);
    }
    vmq_init(v);
    /* The socket appears at bind(), slightly before listen(). */
    end = now_ms() + 10000;
    while (qmp_connect(v->q, sock) < 0) {
        if ((errno != ENOENT && errno != ECONNREFUSED) || now_ms() > end ||
            waitpid(v->pid, NULL, WNOHANG) != 0)
            return "cannot connect to QEMU's monitor (see qemu.log)";
        usleep(20000);
    }
    if (!run_until(&v->ready, WAIT_MS))
        return "QMP negotiation did not finish";
    return NULL;
}

/* ---- waiting for results ---- */

struct job_wait {
    bool done;
    enum snapjob_outcome outcome;
    bool ok;
    bool has_qemu_error;
    char qemu_error[CERR_MSG_MAX];
    struct cerr err;
    char job_id[64];
    char statuses[256];
    char progress[256];
    char progress_id[64];
    pid_t kill_on_running; /* SIGKILLed when the job reports "running" */
};

/* Static so that a result arriving after a failed test gave up waiting
 * lands somewhere harmless. */
static struct job_wait job_pool[64];
static size_t job_pool_next;

static void append(char *buf, size_t len, const char *s)
{
    size_t used = strlen(buf);

    snprintf(buf + used, len - used, "%s%s", used > 0 ? "," : "", s);
}

static void job_progress_cb(const char *job_id, const char *status, void *arg)
{
    struct job_wait *w = arg;

    snprintf(w->progress_id, sizeof(w->progress_id), "%s", job_id);
    append(w->progress, sizeof(w->progress), status);
    if (w->kill_on_running > 0 && strcmp(status, "running") == 0)
        kill(w->kill_on_running, SIGKILL);
}

static void job_done_cb(const struct snapjob_result *r, void *arg)
{
    struct job_wait *w = arg;

    w->done = true;
    w->outcome = r->outcome;
    w->ok = r->ok;
    w->has_qemu_error = r->qemu_error != NULL;
    snprintf(w->qemu_error, sizeof(w->qemu_error), "%s", r->qemu_error ? r->qemu_error : "");
    w->err = r->err;
    snprintf(w->job_id, sizeof(w->job_id), "%s", r->job_id);
    for (size_t i = 0; i < r->nstatuses; i++)
        append(w->statuses, sizeof(w->statuses), r->statuses[i]);
}

static struct job_wait *start_job(struct vmq *v, enum snapjob_kind kind, const char *tag,
                                  const char *vmstate, const char *const *devs, size_t ndevs,
                                  int timeout_ms, pid_t kill_on_running)
{
    struct job_wait *w = &job_pool[job_pool_next++ % (sizeof(job_pool) / sizeof(job_pool[0]))];
    char id[SNAPJOB_ID_MAX];
    struct cerr e;

    memset(w, 0, sizeof(*w));
    w->kill_on_running = kill_on_running;
    snapshot_qmp_jobs_make_id(kind, id);
    if (snapshot_qmp_jobs_start(v->sj, kind, id, tag, vmstate, devs, ndevs, timeout_ms,
                                job_progress_cb, job_done_cb, w, &e) < 0) {
        printf("# snapshot_qmp_jobs_start: %s\n", e.msg);
        return NULL;
    }
    if (w->done) {
        printf("# the job's callback ran before snapshot_qmp_jobs_start returned\n");
        return NULL;
    }
    return w;
}

static struct job_wait *do_job(struct vmq *v, enum snapjob_kind kind, const char *tag,
                               const char *vmstate, const char *const *devs, size_t ndevs)
{
    struct job_wait *w = start_job(v, kind, tag, vmstate, devs, ndevs, JOB_TIMEOUT_MS, 0);

    if (w == NULL || !run_until(&w->done, WAIT_MS))
        return NULL;
    if (!w->ok)
        printf("# (job ended: %s)\n", w->err.msg);
    return w;
}

static struct {
    bool done;
    struct snapshot_qmp_nodes *l;
    struct cerr err;
} list_wait;

static void list_cb(struct snapshot_qmp_nodes *l, const struct cerr *e, void *arg)
{
    snapshot_qmp_nodes_free(list_wait.l);
    list_wait.l = l;
    if (e != NULL)
        list_wait.err = *e;
    list_wait.done = true;
}

/* The list (the caller frees it) or NULL; the error is in list_wait.err. */
static struct snapshot_qmp_nodes *do_list(struct vmq *v, const char *const *nodes, size_t n)
{
    struct snapshot_qmp_nodes *l;

    memset(&list_wait, 0, sizeof(list_wait));
    snapshot_qmp_list(v->q, nodes, n, JOB_TIMEOUT_MS, list_cb, NULL);
    if (!run_until(&list_wait.done, WAIT_MS))
        return NULL;
    if (list_wait.l == NULL)
        printf("# list: %s\n", list_wait.err.msg);
    l = list_wait.l;
    list_wait.l = NULL;
    return l;
}

static struct {
    bool done;
    cJSON *reply;
} cmd_wait;

static void cmd_cb(const cJSON *reply, const struct cerr *e, void *arg)
{
    cJSON_Delete(cmd_wait.reply);
    cmd_wait.reply = reply != NULL ? json_dup(reply) : NULL;
    if (e != NULL)
        printf("# command: %s\n", e->msg);
    cmd_wait.done = true;
}

/* QEMU's reply (the caller deletes it) to a raw command, or NULL. */
static cJSON *do_cmd(struct vmq *v, const char *execute, cJSON *args)
{
    cJSON *reply;

    memset(&cmd_wait, 0, sizeof(cmd_wait));
    qmp_command(v->q, execute, args, JOB_TIMEOUT_MS, cmd_cb, NULL);
    if (!run_until(&cmd_wait.done, WAIT_MS))
        return NULL;
    reply = cmd_wait.reply;
    cmd_wait.reply = NULL;
    return reply;
}

/* A raw snapshot-* job with a chosen id that nobody dismisses; true once
 * QEMU lists it concluded. */
static bool raw_job(struct vmq *v, const char *execute, const char *job_id, const char *tag)
{
    cJSON *args = json_obj(), *devs = json_arr(), *reply;
    bool ok;

    json_add_str(args, "job-id", job_id);
    json_add_str(args, "tag", tag);
    if (strcmp(execute, "snapshot-delete") != 0)
        json_add_str(args, "vmstate", VDA);
    json_arr_add(devs, json_str(VDA));
    json_add(args, "devices", devs);
    reply = do_cmd(v, execute, args);
    ok = reply != NULL && cJSON_GetObjectItem(reply, "error") == NULL;
    cJSON_Delete(reply);
    if (!ok)
        return false;
    /* Events emitted before query-jobs' reply have all been handled once
     * the reply is in. */
    for (int tries = 0; tries < 100; tries++) {
        const cJSON *job;

        reply = do_cmd(v, "query-jobs", NULL);
        cJSON_ArrayForEach(job, qmp_reply_return(reply))
        {
            const cJSON *id = cJSON_GetObjectItem(job, "id");
            const cJSON *status = cJSON_GetObjectItem(job, "status");

            if (cJSON_IsString(id) && strcmp(id->valuestring, job_id) == 0 &&
                cJSON_IsString(status) && strcmp(status->valuestring, "concluded") == 0) {
                cJSON_Delete(reply);
                return true;
            }
        }
        cJSON_Delete(reply);
        usleep(10000);
    }
    return false;
}

/* Entries in query-jobs, or -1. */
static int count_jobs(struct vmq *v)
{
    cJSON *reply = do_cmd(v, "query-jobs", NULL);
    const cJSON *ret = qmp_reply_return(reply);
    int n = cJSON_IsArray(ret) ? cJSON_GetArraySize(ret) : -1;

    cJSON_Delete(reply);
    return n;
}

static bool dismiss(struct vmq *v, const char *job_id)
{
    cJSON *args = json_obj(), *reply;
    bool ok;

    json_add_str(args, "id", job_id);
    reply = do_cmd(v, "job-dismiss", args);
    ok = reply != NULL && cJSON_GetObjectItem(reply, "error") == NULL;
    cJSON_Delete(reply);
    return ok;
}

/* QEMU's rule: a letter, then letters, digits, '-', '.', '_'. */
static bool job_id_valid(const char *id)
{
    if (!((*id >= 'a' && *id <= 'z') || (*id >= 'A' && *id <= 'Z')))
        return false;
    for (; *id != '\0'; id++)
        if (!((*id >= 'a' && *id <= 'z') || (*id >= 'A' && *id <= 'Z') ||
              (*id >= '0' && *id <= '9') || strchr("-._", *id) != NULL))
            return false;
    return true;
}

static const struct snapshot_qmp_entry *find_entry(const struct snapshot_qmp_nodes *l,
                                                   const char *node, const char *tag)
{
    const struct snapshot_qmp_node *n = snapshot_qmp_find_node(l, node);

    for (size_t i = 0; n != NULL && i < n->nsnaps; i++)
        if (strcmp(n->snaps[i].name, tag) == 0)
            return &n->snaps[i];
    return NULL;
}

#define REQUIRE_QEMU(v)                                                                            \
    do {                                                                                           \
        if (no_qemu != NULL)                                                                       \
            UNIT_SKIP(no_qemu);                                                                    \
        EXPECT((v)->ready);                                                                        \
    } while (0)

static const char *const both[] = {VDA, VDB};
static const char *const vda_only[] = {VDA};

/* ---- no QEMU needed ---- */

static void test_parse_garbage(void)
{
    static const struct {
        const char *json, *want;
    } cases[] = {
        {"{\"node-name\": \"drive-vda\"}", "not an array"},
        {"[1]", "entry 0 is not an object"},
        {"[{\"node-name\": \"x\"}, {\"node-name\": 5}]", "entry 1 is not an object"},
        {"[{\"node-name\": \"drive-vda\"}]", "no 'image' object"},
        {"[{\"node-name\": \"drive-vda\", \"image\": []}]", "no 'image' object"},
        {"[{\"node-name\": \"drive-vda\", \"image\": {\"snapshots\": {}}}]", "not an array"},
        {"[{\"node-name\": \"drive-vda\", \"image\": {\"snapshots\": [7]}}]",
         "snapshot 0: not an object"},
        {"[{\"node-name\": \"drive-vda\", \"image\": {\"snapshots\": [{\"name\": 5, \"id\": "
         "\"1\"}]}}]",
         "'name' is missing"},
        {"[{\"node-name\": \"drive-vda\", \"image\": {\"snapshots\": [{\"name\": \"s\", \"id\": "
         "1}]}}]",
         "'id' is missing"},
        {"[{\"node-name\": \"drive-vda\", \"image\": {\"snapshots\": [{\"name\": \"s\", \"id\": "
         "\"1\", \"vm-state-size\": \"12\", \"date-sec\": 1, \"date-nsec\": 1, "
         "\"vm-clock-sec\": 0, \"vm-clock-nsec\": 0}]}}]",
         "'vm-state-size' is missing or not a non-negative integer"},
        {"[{\"node-name\": \"drive-vda\", \"image\": {\"snapshots\": [{\"name\": \"s\", \"id\": "
         "\"1\", \"vm-state-size\": 1, \"date-sec\": -1, \"date-nsec\": 1, "
         "\"vm-clock-sec\": 0, \"vm-clock-nsec\": 0}]}}]",
         "'date-sec'"},
        {"[{\"node-name\": \"drive-vda\", \"image\": {\"snapshots\": [{\"name\": \"s\", \"id\": "
         "\"1\", \"vm-state-size\": 1, \"date-sec\": 1, \"vm-clock-sec\": 0, "
         "\"vm-clock-nsec\": 0}]}}]",
         "'date-nsec'"},
        {"[{\"node-name\": \"drive-vda\", \"image\": {\"snapshots\": [{\"name\": \"s\", \"id\": "
         "\"1\", \"vm-state-size\": 1, \"date-sec\": 1, \"date-nsec\": 1, "
         "\"vm-clock-sec\": 0, \"vm-clock-nsec\": 1.5}]}}]",
         "'vm-clock-nsec'"},
        {"[{\"node-name\": \"drive-vda\", \"image\": {\"snapshots\": [{\"name\": \"s\", \"id\": "
         "\"1\", \"vm-state-size\": 1e300, \"date-sec\": 1, \"date-nsec\": 1, "
         "\"vm-clock-sec\": 0, \"vm-clock-nsec\": 0}]}}]",
         "'vm-state-size'"},
        {"[{\"node-name\": \"drive-vda\", \"image\": {}}, {\"node-name\": \"drive-vda\", "
         "\"image\": {}}]",
         "listed twice"},
    };
    const char *const nodes[] = {VDA, VDB};
    struct cerr e;

    EXPECT(snapshot_qmp_parse_nodes(NULL, nodes, 2, &e) == NULL);
    EXPECT_CONTAINS(e.msg, "not an array");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cJSON *ret = cJSON_Parse(cases[i].json);
        struct snapshot_qmp_nodes *l;

        EXPECT(ret != NULL);
        cerr_clear(&e);
        l = snapshot_qmp_parse_nodes(ret, nodes, 2, &e);
        cJSON_Delete(ret);
        if (l != NULL)
            printf("# case %zu parsed\n", i);
        snapshot_qmp_nodes_free(l);
        EXPECT(l == NULL);
        EXPECT(e.code == CE_QEMU_FAILED);
        EXPECT_CONTAINS(e.msg, "query-named-block-nodes reply");
        EXPECT_CONTAINS(e.msg, cases[i].want);
    }
}

static void test_parse_filters_and_helpers(void)
{
    /* Garbage in nodes nobody asked about is none of our business. */
    static const char json[] =
        "[{\"node-name\": \"drive-vda-file\", \"image\": \"garbage\"},"
        " {\"node-name\": \"base\", \"image\": {\"snapshots\": [{\"name\": \"dup\"}]}},"
        " {\"node-name\": \"drive-vda\", \"drv\": \"qcow2\", \"image\": {\"snapshots\": ["
        "  {\"name\": \"dup\", \"id\": \"1\", \"vm-state-size\": 765, \"date-sec\": 1795316170,"
        "   \"date-nsec\": 685739000, \"vm-clock-sec\": 3, \"vm-clock-nsec\": 4},"
        "  {\"name\": \"other\", \"id\": \"2\", \"vm-state-size\": 0, \"date-sec\": 1,"
        "   \"date-nsec\": 0, \"vm-clock-sec\": 0, \"vm-clock-nsec\": 0, \"icount\": 0},"
        "  {\"name\": \"dup\", \"id\": \"3\", \"vm-state-size\": 0, \"date-sec\": 2,"
        "   \"date-nsec\": 0, \"vm-clock-sec\": 0, \"vm-clock-nsec\": 0}]}},"
        " {\"node-name\": \"drive-vdc\", \"image\": {}}]";
    const char *const nodes[] = {VDA, VDB, "drive-vdc"};
    const char *holders[3];
    cJSON *ret = cJSON_Parse(json);
    struct snapshot_qmp_nodes *l;
    const struct snapshot_qmp_node *n;
    struct cerr e;

    EXPECT(ret != NULL);
    l = snapshot_qmp_parse_nodes(ret, nodes, 3, &e);
    cJSON_Delete(ret);
    if (l == NULL)
        printf("# %s\n", e.msg);
    EXPECT(l != NULL);
    EXPECT(l->n == 3);
    n = snapshot_qmp_find_node(l, VDA);
    EXPECT(n != NULL && n->found && n->nsnaps == 3);
    EXPECT_STR(n->snaps[0].name, "dup");
    EXPECT_STR(n->snaps[0].id, "1");
    EXPECT(n->snaps[0].vm_state_size == 765);
    EXPECT(n->snaps[0].date_sec == 1795316170 && n->snaps[0].date_nsec == 685739000);
    EXPECT(n->snaps[0].vm_clock_sec == 3 && n->snaps[0].vm_clock_nsec == 4);
    n = snapshot_qmp_find_node(l, VDB);
    EXPECT(n != NULL && !n->found && n->nsnaps == 0);
    n = snapshot_qmp_find_node(l, "drive-vdc");
    EXPECT(n != NULL && n->found && n->nsnaps == 0);
    EXPECT(snapshot_qmp_find_node(l, "drive-vda-file") == NULL);
    EXPECT(snapshot_qmp_count(l, VDA, "dup") == 2);
    EXPECT(snapshot_qmp_count(l, VDA, "other") == 1);
    EXPECT(snapshot_qmp_count(l, VDB, "dup") == 0);
    EXPECT(snapshot_qmp_count(l, "base", "dup") == 0);
    EXPECT(snapshot_qmp_holders(l, "dup", holders) == 1);
    EXPECT_STR(holders[0], VDA);
    EXPECT(snapshot_qmp_holders(l, "nothing", holders) == 0);
    snapshot_qmp_nodes_free(l);
}

static void test_job_arguments_refused(void)
{
    static const struct {
        enum snapjob_kind kind;
        const char *id, *tag, *vmstate, *says;
    } cases[] = {
        {SNAPJOB_SAVE, "corral-save-1-1", "bad \xff tag", VDA, "UTF-8"},
        /* An encoded surrogate, which QEMU's parser rejects without an id. */
        {SNAPJOB_DELETE, "corral-delete-1-1", "a\xed\xa0\x80", NULL, "UTF-8"},
        {SNAPJOB_DELETE, "corral-delete-1-1", "t", VDA, "not taken"},
        {SNAPJOB_LOAD, "corral-load-1-1", "t", NULL, "required"},
        /* A snapshot name is no job id: QEMU would refuse most of them. */
        {SNAPJOB_DELETE, "my snap", "t", NULL, "job id"},
        {SNAPJOB_DELETE, "corral-a/b", "t", NULL, "job id"},
    };
    struct vmq v = {0};
    struct cerr e;

    vmq_init(&v);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc =
            snapshot_qmp_jobs_start(v.sj, cases[i].kind, cases[i].id, cases[i].tag,
                                    cases[i].vmstate, both, 2, 1000, NULL, job_done_cb, NULL, &e);
        if (rc == 0 || e.code != CE_INVALID_PARAMS || strstr(e.msg, cases[i].says) == NULL) {
            printf("# case %zu: rc %d: %s\n", i, rc, rc == 0 ? "accepted" : e.msg);
            unit_fail(__FILE__, __LINE__, "expected the arguments to be refused up front");
        }
    }
    EXPECT(!snapshot_qmp_jobs_busy(v.sj));
    vmq_stop(&v);
}

/* A monitor that is not connected: the command is never sent, and the
 * callback still comes from the loop, not from inside the call. */
static void test_not_connected(void)
{
    struct vmq v = {0};
    struct job_wait *w;
    bool busy, done;

    vmq_init(&v);
    w = start_job(&v, SNAPJOB_DELETE, "t", NULL, both, 2, 1000, 0);
    busy = snapshot_qmp_jobs_busy(v.sj);
    done = w != NULL && run_until(&w->done, 1000);
    busy = busy && !snapshot_qmp_jobs_busy(v.sj);
    vmq_stop(&v);
    EXPECT(w != NULL);
    EXPECT(busy);
    EXPECT(done);
    EXPECT(w->outcome == SNAPJOB_REFUSED);
    EXPECT_CONTAINS(w->err.msg, "was not sent");
    EXPECT_CONTAINS(w->err.msg, "snapshot-delete of 't' on drive-vda, drive-vdb (job corral-");
    EXPECT(!w->has_qemu_error);
}

/* ---- real QEMU ---- */

static void test_save_and_list(void)
{
    const char *const asked[] = {VDA, VDB, "drive-nope"};
    struct snapshot_qmp_nodes *l;
    const struct snapshot_qmp_entry *a, *b;
    const struct snapshot_qmp_node *nope;
    struct job_wait *w;
    bool good;

    REQUIRE_QEMU(&main_vm);
    w = do_job(&main_vm, SNAPJOB_SAVE, "s1", VDA, both, 2);
    EXPECT(w != NULL && w->ok && w->outcome == SNAPJOB_OK);
    EXPECT(!w->has_qemu_error);
    EXPECT(strncmp(w->job_id, "corral-save-", 12) == 0 && job_id_valid(w->job_id));
    EXPECT_STR(w->statuses, "created,running,waiting,pending,concluded,null");
    EXPECT_STR(w->progress, w->statuses);
    EXPECT_STR(w->progress_id, w->job_id);
    EXPECT(!snapshot_qmp_jobs_busy(main_vm.sj));
    EXPECT(count_jobs(&main_vm) == 0);

    l = do_list(&main_vm, asked, 3);
    EXPECT(l != NULL);
    a = find_entry(l, VDA, "s1");
    b = find_entry(l, VDB, "s1");
    nope = snapshot_qmp_find_node(l, "drive-nope");
    good = a != NULL && b != NULL && a->vm_state_size > 0 && b->vm_state_size == 0 &&
           a->date_sec > 1000000000 && snapshot_qmp_count(l, VDA, "s1") == 1 &&
           snapshot_qmp_count(l, VDB, "s1") == 1 && nope != NULL && !nope->found;
    if (a != NULL && b != NULL)
        printf("# vm-state-size: vda %llu, vdb %llu\n", (unsigned long long)a->vm_state_size,
               (unsigned long long)b->vm_state_size);
    snapshot_qmp_nodes_free(l);
    EXPECT(good);
}

static void test_utf8_tag(void)
{
    static const char tag[] = "before upgrade \xe2\x98\x83 caf\xc3\xa9 \"quoted\" \xf0\x9f\x90\xa7";
    struct snapshot_qmp_nodes *l;
    struct job_wait *w;
    size_t on_vda, on_vdb;

    REQUIRE_QEMU(&main_vm);
    w = do_job(&main_vm, SNAPJOB_SAVE, tag, VDA, both, 2);
    EXPECT(w != NULL && w->ok);
    EXPECT(job_id_valid(w->job_id));
    l = do_list(&main_vm, both, 2);
    EXPECT(l != NULL);
    on_vda = snapshot_qmp_count(l, VDA, tag);
    on_vdb = snapshot_qmp_count(l, VDB, tag);
    snapshot_qmp_nodes_free(l);
    EXPECT(on_vda == 1 && on_vdb == 1);
    w = do_job(&main_vm, SNAPJOB_DELETE, tag, NULL, both, 2);
    EXPECT(w != NULL && w->ok);
    EXPECT(job_id_valid(w->job_id));
    l = do_list(&main_vm, both, 2);
    EXPECT(l != NULL);
    on_vda = snapshot_qmp_count(l, VDA, tag);
    on_vdb = snapshot_qmp_count(l, VDB, tag);
    snapshot_qmp_nodes_free(l);
    EXPECT(on_vda == 0 && on_vdb == 0);
}

static void test_save_existing_fails(void)
{
    struct job_wait *w;

    REQUIRE_QEMU(&main_vm);
    w = do_job(&main_vm, SNAPJOB_SAVE, "s1", VDA, both, 2);
    EXPECT(w != NULL && !w->ok && w->outcome == SNAPJOB_FAILED);
    EXPECT(w->err.code == CE_JOB_FAILED);
    EXPECT_STR(w->qemu_error, "Snapshot 's1' already exists in one or more devices");
    EXPECT_CONTAINS(w->err.msg, "snapshot-save of 's1' on drive-vda, drive-vdb (job ");
    EXPECT_CONTAINS(w->err.msg, w->job_id);
    EXPECT_CONTAINS(w->err.msg, w->qemu_error);
    EXPECT_STR(w->statuses, "created,running,aborting,concluded,null");
    EXPECT(count_jobs(&main_vm) == 0);
}

static void test_delete_on_both(void)
{
    struct snapshot_qmp_nodes *l;
    struct job_wait *w;
    size_t left;

    REQUIRE_QEMU(&main_vm);
    w = do_job(&main_vm, SNAPJOB_DELETE, "s1", NULL, both, 2);
    EXPECT(w != NULL && w->ok);
    EXPECT(strncmp(w->job_id, "corral-delete-", 14) == 0);
    l = do_list(&main_vm, both, 2);
    EXPECT(l != NULL);
    left = snapshot_qmp_count(l, VDA, "s1") + snapshot_qmp_count(l, VDB, "s1");
    snapshot_qmp_nodes_free(l);
    EXPECT(left == 0);
}

/* QEMU is silent about a tag no device holds: the job succeeds, and only a
 * list tells the caller that nothing was there. */
static void test_delete_missing_is_silent(void)
{
    struct snapshot_qmp_nodes *l;
    const char *holders[2];
    struct job_wait *w;
    size_t n;

    REQUIRE_QEMU(&main_vm);
    l = do_list(&main_vm, both, 2);
    EXPECT(l != NULL);
    n = snapshot_qmp_holders(l, "never-made", holders);
    snapshot_qmp_nodes_free(l);
    EXPECT(n == 0);
    w = do_job(&main_vm, SNAPJOB_DELETE, "never-made", NULL, both, 2);
    EXPECT(w != NULL && w->ok && !w->has_qemu_error);
    EXPECT_STR(w->statuses, "created,running,waiting,pending,concluded,null");
}

static void test_delete_where_only_one_holds(void)
{
    struct snapshot_qmp_nodes *l;
    const char *holders[2];
    struct job_wait *w;
    size_t n, on_vda;

    REQUIRE_QEMU(&main_vm);
    w = do_job(&main_vm, SNAPJOB_SAVE, "vda-only", VDA, vda_only, 1);
    EXPECT(w != NULL && w->ok);
    l = do_list(&main_vm, both, 2);
    EXPECT(l != NULL);
    n = snapshot_qmp_holders(l, "vda-only", holders);
    n = n == 1 && strcmp(holders[0], VDA) == 0 ? n : 0;
    snapshot_qmp_nodes_free(l);
    EXPECT(n == 1);
    w = do_job(&main_vm, SNAPJOB_DELETE, "vda-only", NULL, both, 2);
    EXPECT(w != NULL && w->ok);
    l = do_list(&main_vm, both, 2);
    EXPECT(l != NULL);
    on_vda = snapshot_qmp_count(l, VDA, "vda-only");
    snapshot_qmp_nodes_free(l);
    EXPECT(on_vda == 0);
}

/* Save checks the tag on the vmstate node only, so a second device can end
 * up with two snapshots of one name; delete removes one per call. */
static void test_duplicates_counted(void)
{
    const char *const vdb_only[] = {VDB};
    struct snapshot_qmp_nodes *l;
    struct job_wait *w;
    size_t counts[3];

    REQUIRE_QEMU(&main_vm);
    w = do_job(&main_vm, SNAPJOB_SAVE, "dup", VDB, vdb_only, 1);
    EXPECT(w != NULL && w->ok);
    w = do_job(&main_vm, SNAPJOB_SAVE, "dup", VDA, both, 2);
    EXPECT(w != NULL && w->ok);
    for (int round = 0; round < 3; round++) {
        l = do_list(&main_vm, both, 2);
        EXPECT(l != NULL);
        counts[round] = snapshot_qmp_count(l, VDB, "dup");
        snapshot_qmp_nodes_free(l);
        if (round < 2) {
            w = do_job(&main_vm, SNAPJOB_DELETE, "dup", NULL, both, 2);
            EXPECT(w != NULL && w->ok);
        }
    }
    printf("# copies of 'dup' on vdb: %zu, then %zu, then %zu\n", counts[0], counts[1], counts[2]);
    EXPECT(counts[0] == 2 && counts[1] == 1 && counts[2] == 0);
}

static void test_load(void)
{
    cJSON *reply;
    const cJSON *status;
    struct job_wait *w;

    REQUIRE_QEMU(&main_vm);
    w = do_job(&main_vm, SNAPJOB_SAVE, "ld", VDA, vda_only, 1);
    EXPECT(w != NULL && w->ok);
    w = do_job(&main_vm, SNAPJOB_LOAD, "ld", VDA, both, 2);
    EXPECT(w != NULL && w->outcome == SNAPJOB_FAILED);
    EXPECT_CONTAINS(w->qemu_error, "does not exist");
    EXPECT_CONTAINS(w->err.msg, "snapshot-load of 'ld'");
    EXPECT(count_jobs(&main_vm) == 0);
    reply = do_cmd(&main_vm, "query-status", NULL);
    status = cJSON_GetObjectItem(qmp_reply_return(reply), "status");
    printf("# status after the failed load: %s\n",
           cJSON_IsString(status) ? status->valuestring : "?");
    cJSON_Delete(reply);
    w = do_job(&main_vm, SNAPJOB_LOAD, "ld", VDA, vda_only, 1);
    EXPECT(w != NULL && w->ok);
    EXPECT(strncmp(w->job_id, "corral-load-", 12) == 0);
    w = do_job(&main_vm, SNAPJOB_DELETE, "ld", NULL, vda_only, 1);
    EXPECT(w != NULL && w->ok);
}

static void test_job_ids_unique(void)
{
    enum { CONCURRENT = 5, TOTAL = 40 };
    static char ids[TOTAL][64];
    struct job_wait *w[CONCURRENT];

    REQUIRE_QEMU(&main_vm);
    for (int i = 0; i < CONCURRENT; i++) {
        w[i] = start_job(&main_vm, SNAPJOB_DELETE, "none", NULL, both, 2, JOB_TIMEOUT_MS, 0);
        EXPECT(w[i] != NULL);
    }
    EXPECT(snapshot_qmp_jobs_busy(main_vm.sj));
    for (int i = 0; i < CONCURRENT; i++) {
        EXPECT(run_until(&w[i]->done, WAIT_MS));
        EXPECT(w[i]->ok);
        EXPECT_CONTAINS(w[i]->statuses, "concluded");
        snprintf(ids[i], sizeof(ids[i]), "%s", w[i]->job_id);
    }
    for (int i = CONCURRENT; i < TOTAL; i++) {
        struct job_wait *one = do_job(&main_vm, i % 2 ? SNAPJOB_DELETE : SNAPJOB_SAVE, "many",
                                      i % 2 ? NULL : VDA, vda_only, 1);

        EXPECT(one != NULL && one->ok);
        snprintf(ids[i], sizeof(ids[i]), "%s", one->job_id);
    }
    for (int i = 0; i < TOTAL; i++) {
        EXPECT(job_id_valid(ids[i]));
        for (int k = 0; k < i; k++)
            EXPECT(strcmp(ids[i], ids[k]) != 0);
    }
    EXPECT(!snapshot_qmp_jobs_busy(main_vm.sj));
    EXPECT(count_jobs(&main_vm) == 0);
}

/* The command itself refused (no job created): provoked by taking the next
 * job id first, which only a test that knows the id format can do. */
static void test_command_refused(void)
{
    char next_id[64], kind[16];
    unsigned long counter;
    long pid;
    struct job_wait *w;

    REQUIRE_QEMU(&main_vm);
    w = do_job(&main_vm, SNAPJOB_DELETE, "none", NULL, vda_only, 1);
    EXPECT(w != NULL && w->ok);
    EXPECT(sscanf(w->job_id, "corral-%15[a-z]-%lu-%ld", kind, &counter, &pid) == 3);
    snprintf(next_id, sizeof(next_id), "corral-save-%lu-%ld", counter + 1, pid);
    EXPECT(raw_job(&main_vm, "snapshot-delete", next_id, "none"));
    w = do_job(&main_vm, SNAPJOB_SAVE, "refused", VDA, vda_only, 1);
    EXPECT(w != NULL && w->outcome == SNAPJOB_REFUSED);
    EXPECT_STR(w->job_id, next_id);
    EXPECT_CONTAINS(w->qemu_error, "already in use");
    EXPECT_CONTAINS(w->err.msg, "no job was created");
    EXPECT_STR(w->statuses, "");
    EXPECT(dismiss(&main_vm, next_id));
}

static struct {
    bool done;
    bool failed;
    size_t n;
    char ids[8][64], types[8][32], statuses[8][32], errors[8][128];
    bool dismissed[8];
} rec_wait;

static void reconcile_cb(const struct snapjob_leftover *jobs, size_t n, const struct cerr *e,
                         void *arg)
{
    rec_wait.done = true;
    rec_wait.failed = e != NULL;
    if (e != NULL)
        printf("# reconcile: %s\n", e->msg);
    rec_wait.n = n;
    for (size_t i = 0; i < n && i < 8; i++) {
        snprintf(rec_wait.ids[i], sizeof(rec_wait.ids[i]), "%s", jobs[i].id);
        snprintf(rec_wait.types[i], sizeof(rec_wait.types[i]), "%s", jobs[i].type);
        snprintf(rec_wait.statuses[i], sizeof(rec_wait.statuses[i]), "%s", jobs[i].status);
        snprintf(rec_wait.errors[i], sizeof(rec_wait.errors[i]), "%s",
                 jobs[i].error ? jobs[i].error : "(none)");
        rec_wait.dismissed[i] = jobs[i].dismissed;
    }
}

static bool do_reconcile(struct vmq *v)
{
    memset(&rec_wait, 0, sizeof(rec_wait));
    snapshot_qmp_jobs_reconcile(v->q, JOB_TIMEOUT_MS, reconcile_cb, NULL);
    return run_until(&rec_wait.done, WAIT_MS) && !rec_wait.failed;
}

static int rec_index(const char *id)
{
    for (size_t i = 0; i < rec_wait.n && i < 8; i++)
        if (strcmp(rec_wait.ids[i], id) == 0)
            return (int)i;
    return -1;
}

static void test_reconcile(void)
{
    int ok_i, failed_i;

    REQUIRE_QEMU(&main_vm);
    EXPECT(raw_job(&main_vm, "snapshot-delete", "corral-left-1", "none"));
    EXPECT(raw_job(&main_vm, "snapshot-load", "corral-left-2", "none"));
    EXPECT(raw_job(&main_vm, "snapshot-delete", "foreign-job", "none"));
    EXPECT(count_jobs(&main_vm) == 3);
    EXPECT(do_reconcile(&main_vm));
    EXPECT(rec_wait.n == 2);
    ok_i = rec_index("corral-left-1");
    failed_i = rec_index("corral-left-2");
    EXPECT(ok_i >= 0 && failed_i >= 0);
    EXPECT_STR(rec_wait.types[ok_i], "snapshot-delete");
    EXPECT_STR(rec_wait.statuses[ok_i], "concluded");
    EXPECT_STR(rec_wait.errors[ok_i], "(none)");
    EXPECT(rec_wait.dismissed[ok_i]);
    EXPECT_STR(rec_wait.types[failed_i], "snapshot-load");
    EXPECT_CONTAINS(rec_wait.errors[failed_i], "does not exist");
    EXPECT(rec_wait.dismissed[failed_i]);
    /* Someone else's job is left alone. */
    EXPECT(count_jobs(&main_vm) == 1);
    EXPECT(dismiss(&main_vm, "foreign-job"));
    EXPECT(do_reconcile(&main_vm));
    EXPECT(rec_wait.n == 0);
}

/* Freeing the snapjobs with a job in flight drops it without a callback;
 * QEMU's reply then finds the orphan, and the job is left for a reconcile. */
static void test_free_with_job_in_flight(void)
{
    struct job_wait *w;
    char job_id[64];

    REQUIRE_QEMU(&main_vm);
    w = start_job(&main_vm, SNAPJOB_DELETE, "none", NULL, both, 2, JOB_TIMEOUT_MS, 0);
    EXPECT(w != NULL);
    snapshot_qmp_jobs_free(main_vm.sj);
    main_vm.sj = snapshot_qmp_jobs_new(base, main_vm.q);
    /* Replies come in order: once this one is in, the orphan's is too. */
    EXPECT(count_jobs(&main_vm) == 1);
    EXPECT(!w->done);
    EXPECT(do_reconcile(&main_vm));
    EXPECT(rec_wait.n == 1 && rec_wait.dismissed[0]);
    snprintf(job_id, sizeof(job_id), "%s", rec_wait.ids[0]);
    EXPECT(strncmp(job_id, "corral-delete-", 14) == 0);
    EXPECT(count_jobs(&main_vm) == 0);
    EXPECT(!w->done);
}

/* A save that outlives its timeout: the outcome is unknown, and a
 * reconcile finds the job concluded afterwards. */
static void test_timeout_then_reconcile(void)
{
    struct snapshot_qmp_nodes *l;
    struct job_wait *w;
    size_t held;
    int i;

    REQUIRE_QEMU(&ram_vm);
    w = start_job(&ram_vm, SNAPJOB_SAVE, "slow", VDA, both, 2, 20, 0);
    EXPECT(w != NULL);
    EXPECT(run_until(&w->done, WAIT_MS));
    EXPECT(w->outcome == SNAPJOB_UNKNOWN);
    EXPECT(w->err.code == CE_TIMEOUT);
    EXPECT_CONTAINS(w->err.msg, "outcome unknown");
    EXPECT(!snapshot_qmp_jobs_busy(ram_vm.sj));
    /* query-jobs waits behind the save, which holds the monitor. */
    EXPECT(do_reconcile(&ram_vm));
    i = rec_index(w->job_id);
    EXPECT(rec_wait.n == 1 && i == 0);
    EXPECT_STR(rec_wait.statuses[0], "concluded");
    EXPECT_STR(rec_wait.errors[0], "(none)");
    EXPECT(rec_wait.dismissed[0]);
    EXPECT(count_jobs(&ram_vm) == 0);
    l = do_list(&ram_vm, both, 2);
    EXPECT(l != NULL);
    held = snapshot_qmp_count(l, VDA, "slow") + snapshot_qmp_count(l, VDB, "slow");
    snapshot_qmp_nodes_free(l);
    EXPECT(held == 2);
}

static void test_sigkill_mid_save(void)
{
    struct job_wait *w;
    long long t0;

    REQUIRE_QEMU(&ram_vm);
    t0 = now_ms();
    w = start_job(&ram_vm, SNAPJOB_SAVE, "killed", VDA, both, 2, JOB_TIMEOUT_MS, ram_vm.pid);
    EXPECT(w != NULL);
    EXPECT(run_until(&w->done, WAIT_MS));
    printf("# ended after %lld ms with statuses '%s'\n", now_ms() - t0, w->statuses);
    EXPECT(w->outcome == SNAPJOB_UNKNOWN);
    EXPECT_CONTAINS(w->err.msg, "QEMU's monitor was lost during the job: outcome unknown");
    EXPECT_CONTAINS(w->statuses, "running");
    EXPECT(strstr(w->statuses, "concluded") == NULL);
    EXPECT(!snapshot_qmp_jobs_busy(ram_vm.sj));
    EXPECT(run_until(&ram_vm.closed, WAIT_MS));
}

/* ---- a scripted fake monitor ---- */

struct fake {
    int listen_fd, fd;
    char buf[65536];
    size_t len;
};

static struct fake fk = {-1, -1, "", 0};

static void fake_close(void)
{
    if (fk.fd >= 0)
        close(fk.fd);
    if (fk.listen_fd >= 0)
        close(fk.listen_fd);
    fk.fd = fk.listen_fd = -1;
    fk.len = 0;
}

static bool fake_send(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static bool fake_send(const char *fmt, ...)
{
    char line[4096];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(line) - 1)
        return false;
    line[n++] = '\n';
    return write(fk.fd, line, (size_t)n) == n;
}

/* The next command the supervisor side sent (the caller deletes it), or
 * NULL after 5 s or at EOF; the loop runs meanwhile. */
static cJSON *fake_recv(void)
{
    long long end = now_ms() + 5000;

    while (now_ms() < end) {
        char *nl = memchr(fk.buf, '\n', fk.len);
        ssize_t r;

        if (nl != NULL) {
            cJSON *cmd = cJSON_ParseWithLength(fk.buf, (size_t)(nl - fk.buf));

            fk.len -= (size_t)(nl + 1 - fk.buf);
            memmove(fk.buf, nl + 1, fk.len);
            return cmd;
        }
        r = read(fk.fd, fk.buf + fk.len, sizeof(fk.buf) - fk.len);
        if (r > 0) {
            fk.len += (size_t)r;
            continue;
        }
        if (r == 0 || errno != EAGAIN)
            return NULL;
        loop_once();
    }
    return NULL;
}

/* A top-level string member of a command, or "". */
static const char *cmd_str(const cJSON *cmd, const char *key)
{
    const cJSON *v = cJSON_GetObjectItem(cmd, key);

    return cJSON_IsString(v) ? v->valuestring : "";
}

/* A command's id, which corral sends as a number; -1 when there is none. */
static int cmd_id(const cJSON *cmd)
{
    const cJSON *v = cJSON_GetObjectItem(cmd, "id");

    return cJSON_IsNumber(v) ? v->valueint : -1;
}

/* A string argument of a command, or "". */
static const char *cmd_arg(const cJSON *cmd, const char *key)
{
    return cmd_str(cJSON_GetObjectItem(cmd, "arguments"), key);
}

/* Connects fake_vm's qmp to a fresh fake monitor and negotiates. */
static bool fake_start(void)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    cJSON *cmd;
    bool ok;

    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/fake.sock", topdir);
    unlink(sa.sun_path);
    fk.listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fk.listen_fd < 0 || bind(fk.listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(fk.listen_fd, 1) < 0)
        return false;
    memset(&fake_vm, 0, sizeof(fake_vm));
    vmq_init(&fake_vm);
    if (qmp_connect(fake_vm.q, sa.sun_path) < 0)
        return false;
    fk.fd = accept4(fk.listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fk.fd < 0 || !fake_send("{\"QMP\": {\"version\": {}, \"capabilities\": []}}"))
        return false;
    cmd = fake_recv();
    ok = cmd != NULL && strcmp(cmd_str(cmd, "execute"), "qmp_capabilities") == 0 &&
         fake_send("{\"return\": {}, \"id\": %d}", cmd_id(cmd));
    cJSON_Delete(cmd);
    return ok && run_until(&fake_vm.ready, 2000);
}

static bool fake_event(const char *job_id, const char *status)
{
    return fake_send("{\"event\": \"JOB_STATUS_CHANGE\", \"data\": {\"status\": \"%s\", "
                     "\"id\": \"%s\"}, \"timestamp\": {\"seconds\": 1, \"microseconds\": 2}}",
                     status, job_id);
}

/* Starts a delete against the fake and plays QEMU's "created" and
 * "running", then the events in after (NULL-terminated), then the command's
 * return; the job id goes to job_id. */
static struct job_wait *fake_job_started(char *job_id, size_t len, const char *const *after)
{
    struct job_wait *w = start_job(&fake_vm, SNAPJOB_DELETE, "t", NULL, both, 2, 5000, 0);
    cJSON *cmd = w != NULL ? fake_recv() : NULL;
    bool ok;

    ok = cmd != NULL && strcmp(cmd_str(cmd, "execute"), "snapshot-delete") == 0;
    snprintf(job_id, len, "%s", cmd_arg(cmd, "job-id"));
    ok = ok && job_id_valid(job_id) && fake_event(job_id, "created") &&
         fake_event(job_id, "running");
    for (size_t i = 0; ok && after[i] != NULL; i++)
        ok = fake_event(job_id, after[i]);
    ok = ok && fake_send("{\"return\": {}, \"id\": %d}", cmd_id(cmd));
    cJSON_Delete(cmd);
    return ok ? w : NULL;
}

static void test_fake_lost_while_waiting(void)
{
    char job_id[64];
    struct job_wait *w;
    bool started, still_busy, done;

    static const char *const none[] = {NULL};

    started = fake_start();
    w = started ? fake_job_started(job_id, sizeof(job_id), none) : NULL;
    /* Let the return arrive: the job now waits for "concluded" with no
     * command in flight. */
    for (int i = 0; w != NULL && i < 20; i++)
        loop_once();
    still_busy = w != NULL && !w->done && snapshot_qmp_jobs_busy(fake_vm.sj);
    close(fk.fd);
    fk.fd = -1;
    done = w != NULL && run_until(&w->done, 2000);
    vmq_stop(&fake_vm);
    fake_close();
    EXPECT(started);
    EXPECT(w != NULL);
    EXPECT(still_busy);
    EXPECT(done);
    EXPECT_STR(w->statuses, "created,running");
    EXPECT(w->outcome == SNAPJOB_UNKNOWN);
    EXPECT_CONTAINS(w->err.msg, "QEMU's monitor was lost during the job: outcome unknown");
    EXPECT_CONTAINS(w->err.msg, job_id);
}

static void test_fake_garbage_query_jobs(void)
{
    char job_id[64];
    struct job_wait *w;
    cJSON *cmd = NULL;
    bool started, done = false, queried = false;

    static const char *const none[] = {NULL};

    started = fake_start();
    w = started ? fake_job_started(job_id, sizeof(job_id), none) : NULL;
    /* Only a job that went through "aborting" has its error read. */
    if (w != NULL && fake_event(job_id, "aborting") && fake_event(job_id, "concluded"))
        cmd = fake_recv();
    if (cmd != NULL && strcmp(cmd_str(cmd, "execute"), "query-jobs") == 0) {
        queried = fake_send("{\"return\": [{\"id\": \"%s\", \"status\": \"concluded\", "
                            "\"type\": \"snapshot-delete\", \"error\": 42}], \"id\": %d}",
                            job_id, cmd_id(cmd));
        done = run_until(&w->done, 2000);
    }
    cJSON_Delete(cmd);
    vmq_stop(&fake_vm);
    fake_close();
    EXPECT(started && w != NULL && queried);
    EXPECT(done);
    EXPECT(w->outcome == SNAPJOB_UNKNOWN);
    EXPECT_CONTAINS(w->err.msg, "no well-formed entry");
    /* Not dismissed: nothing is known about the job. */
    EXPECT_STR(w->statuses, "created,running,aborting,concluded");
}

static void test_fake_dismiss_refused(void)
{
    char job_id[64];
    struct job_wait *w;
    cJSON *cmd = NULL, *dis = NULL;
    bool started, done = false;

    /* The job concludes before its command returns. */
    static const char *const early[] = {"aborting", "concluded", NULL};

    started = fake_start();
    w = started ? fake_job_started(job_id, sizeof(job_id), early) : NULL;
    if (w != NULL)
        cmd = fake_recv();
    if (cmd != NULL && strcmp(cmd_str(cmd, "execute"), "query-jobs") == 0 &&
        fake_send("{\"return\": [{\"id\": \"other\", \"status\": \"running\", \"type\": \"x\"},"
                  " {\"id\": \"%s\", \"status\": \"concluded\", \"type\": \"snapshot-delete\","
                  " \"error\": \"Device 'drive-vdb' is writable but does not support "
                  "snapshots\"}], \"id\": %d}",
                  job_id, cmd_id(cmd)))
        dis = fake_recv();
    if (dis != NULL && strcmp(cmd_str(dis, "execute"), "job-dismiss") == 0 &&
        strcmp(cmd_arg(dis, "id"), job_id) == 0 &&
        fake_send("{\"error\": {\"class\": \"GenericError\", \"desc\": \"Job not found\"}, "
                  "\"id\": %d}",
                  cmd_id(dis)))
        done = run_until(&w->done, 2000);
    cJSON_Delete(cmd);
    cJSON_Delete(dis);
    vmq_stop(&fake_vm);
    fake_close();
    EXPECT(started && w != NULL);
    EXPECT(done);
    EXPECT(w->outcome == SNAPJOB_FAILED);
    EXPECT_STR(w->qemu_error, "Device 'drive-vdb' is writable but does not support snapshots");
    EXPECT_STR(w->statuses, "created,running,aborting,concluded");
}

/* Whether the done callback had run when the early one did. */
static bool early_ran, early_after_done;

static void early_cb(const struct snapjob_result *r, void *arg)
{
    struct job_wait *w = arg;

    early_ran = r->ok;
    early_after_done = w->done;
}

static void test_fake_success_dismissed_at_once(void)
{
    char job_id[64];
    struct job_wait *w;
    cJSON *dis = NULL;
    bool started, early_before_reply = false, done = false;

    static const char *const ok[] = {"waiting", "pending", "concluded", NULL};

    started = fake_start();
    w = started ? fake_job_started(job_id, sizeof(job_id), ok) : NULL;
    if (w != NULL) {
        snapshot_qmp_jobs_set_early(fake_vm.sj, job_id, early_cb);
        dis = fake_recv();
    }
    /* A success is dismissed without query-jobs, and the early callback
     * runs while job-dismiss is still unanswered. */
    if (dis != NULL && strcmp(cmd_str(dis, "execute"), "job-dismiss") == 0 &&
        strcmp(cmd_arg(dis, "id"), job_id) == 0) {
        for (int i = 0; i < 20 && !early_ran; i++)
            loop_once();
        early_before_reply = early_ran && !early_after_done;
        if (fake_send("{\"return\": {}, \"id\": %d}", cmd_id(dis)))
            done = run_until(&w->done, 2000);
    }
    cJSON_Delete(dis);
    vmq_stop(&fake_vm);
    fake_close();
    EXPECT(started && w != NULL);
    EXPECT(early_before_reply);
    EXPECT(done);
    EXPECT(w->outcome == SNAPJOB_OK);
    EXPECT_STR(w->statuses, "created,running,waiting,pending,concluded");
}

int main(void)
{
    const char *why;

    /* QEMU dying under a write must end the connection, not the test. */
    signal(SIGPIPE, SIG_IGN);
    log_init("test_snapshot_qmp", LOG_LVL_WARN);
    base = event_base_new();
    tick = base != NULL ? evtimer_new(base, tick_cb, NULL) : NULL;
    snprintf(topdir, sizeof(topdir), "/tmp/corral-snapqmp-XXXXXX");
    if (tick == NULL || mkdtemp(topdir) == NULL) {
        printf("# cannot set up the event loop or the temporary directory\n");
        return 1;
    }

    RUN(test_parse_garbage);
    RUN(test_parse_filters_and_helpers);
    RUN(test_job_arguments_refused);
    RUN(test_not_connected);
    RUN(test_fake_lost_while_waiting);
    RUN(test_fake_garbage_query_jobs);
    RUN(test_fake_dismiss_refused);
    RUN(test_fake_success_dismissed_at_once);

    if (!in_path("qemu-system-x86_64") || !in_path("qemu-img"))
        no_qemu = "qemu-system-x86_64 or qemu-img is not installed";
    if (no_qemu == NULL && (why = vmq_start(&main_vm, "main", false)) != NULL)
        printf("# starting QEMU: %s\n", why);
    RUN(test_save_and_list);
    RUN(test_utf8_tag);
    RUN(test_save_existing_fails);
    RUN(test_delete_on_both);
    RUN(test_delete_missing_is_silent);
    RUN(test_delete_where_only_one_holds);
    RUN(test_duplicates_counted);
    RUN(test_load);
    RUN(test_job_ids_unique);
    RUN(test_command_refused);
    RUN(test_reconcile);
    RUN(test_free_with_job_in_flight);
    vmq_stop(&main_vm);

    if (no_qemu == NULL && (why = vmq_start(&ram_vm, "ram", true)) != NULL)
        printf("# starting QEMU with RAM: %s\n", why);
    RUN(test_timeout_then_reconcile);
    RUN(test_sigkill_mid_save);
    vmq_stop(&ram_vm);

    struct cerr e;
    if (rm_rf(topdir, &e) < 0)
        printf("# %s\n", e.msg);
    event_free(tick);
    event_base_free(base);
    return unit_done();
}
