/* The snapshot operations (create, delete, revert, check, list, info) of a
 * running VM against the scripted QMP peer tests/integration/fake-qemu,
 * started as the domain's <emulator> by vm_start exactly as the supervisor
 * starts QEMU; its mode comes from the guest name.  Each case asserts what
 * a user sees: the answer or error, the metadata files a restarted
 * supervisor would load, the inconsistency reports sent to subscribers,
 * pending.json, and which disks hold which tags (asked through the raw QMP
 * passthrough).  fake-qemu has no snapshot-load: a revert is refused by
 * QEMU or, with a disk lacking the tag, by corral. */
#include "supervisor/snapshot_ops.h"

#include <event2/event.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/domain_xml.h"
#include "common/fileutil.h"
#include "common/json.h"
#include "common/log.h"
#include "common/recfile.h"
#include "proto/rpc.h"
#include "supervisor/snapshot_check.h"
#include "supervisor/snapshot_core.h"
#include "supervisor/snapshot_create.h"
#include "supervisor/snapshot_delete.h"
#include "supervisor/snapshot_list.h"
#include "supervisor/snapshot_query.h"
#include "supervisor/snapshot_recover.h"
#include "supervisor/snapshot_revert.h"
#include "supervisor/snapshot_tags.h"
#include "supervisor/snapshot_tree.h"
#include "supervisor/snapshot_tree_load.h"
#include "tests/unit/unit.h"

#define WAIT_MS 20000

static struct event_base *base;
static struct event *tick;
static char fake_qemu[PATH_MAX]; /* empty: the cases are skipped */
static const char *no_fake;      /* why they are skipped */

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
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

/* Runs the loop until *n exceeds floor or WAIT_MS pass; whether it did. */
static bool wait_above(const int *n, int floor)
{
    long long end = now_ms() + WAIT_MS;

    while (*n <= floor && now_ms() < end)
        loop_once();
    return *n > floor;
}

static bool wait_flag(const bool *flag)
{
    long long end = now_ms() + WAIT_MS;

    while (!*flag && now_ms() < end)
        loop_once();
    return *flag;
}

/* ---- one supervisor's view of a VM run by fake-qemu ---- */

struct fx {
    char dir[64];
    char *state_dir, *xml;
    struct vm *vm;
    struct snapops *so;
    cJSON *events; /* [{"method", "params"}] as notify saw them */
    bool started, gone;
    char start_error[CERR_MSG_MAX];
    int recoveries; /* snapshot recoveries finished */
    pid_t qemu_pid;
};

static void notify(const char *method, cJSON *params, void *arg)
{
    struct fx *f = arg;
    cJSON *ev = json_obj();

    json_add_str(ev, "method", method);
    json_add(ev, "params", params);
    json_arr_add(f->events, ev);
}

static void on_state(struct vm *vm, void *arg)
{
    (void)vm;
    (void)arg;
}

/* The pid of the VM's fake-qemu while it runs, else 0. */
static pid_t qemu_pid_of(const struct vm *vm)
{
    cJSON *info = vm_info_json(vm);
    const cJSON *pid = cJSON_GetObjectItemCaseSensitive(info, "qemu_pid");
    pid_t p = cJSON_IsNumber(pid) ? (pid_t)pid->valuedouble : 0;

    cJSON_Delete(info);
    return p;
}

static void on_started(struct vm *vm, const struct cerr *e, void *arg)
{
    struct fx *f = arg;

    f->started = true;
    snprintf(f->start_error, sizeof(f->start_error), "%s", e ? e->msg : "");
    if (qemu_pid_of(vm) > 0)
        f->qemu_pid = qemu_pid_of(vm);
}

static void on_gone(struct vm *vm, void *arg)
{
    struct fx *f = arg;

    (void)vm;
    f->gone = true;
}

static void recovered(const struct cerr *e, void *arg)
{
    struct fx *f = arg;

    f->recoveries++;
    vm_recovered(f->vm, e);
}

/* As the supervisor's main.c wires it. */
static void on_recover(struct vm *vm, const char *context, void *arg)
{
    struct fx *f = arg;

    (void)vm;
    snaprecover_run(f->so, context, recovered, f);
}

static bool open_sup(struct fx *f)
{
    struct cerr e;
    struct vm_hooks hooks = {on_state, on_started, on_gone, on_recover, f};
    struct domain_def *def = domain_def_parse(f->xml, strlen(f->xml), NULL, &e);

    if (def == NULL) {
        printf("# %s\n", e.msg);
        return false;
    }
    f->started = f->gone = false;
    f->vm = vm_new(base, def, f->state_dir, f->dir, false, &hooks);
    f->so = snapops_new(f->vm, f->state_dir, notify, f, &e);
    if (f->so == NULL)
        printf("# snapops_new: %s\n", e.msg);
    return f->so != NULL;
}

static void close_sup(struct fx *f)
{
    snapops_free(f->so);
    vm_free(f->vm);
    f->so = NULL;
    f->vm = NULL;
}

static bool wait_started(struct fx *f)
{
    if (!wait_flag(&f->started)) {
        printf("# the VM did not start in time\n");
        return false;
    }
    if (f->start_error[0] != '\0')
        printf("# start failed: %s\n", f->start_error);
    return f->start_error[0] == '\0' && vm_get_state(f->vm) == VM_RUNNING;
}

static bool empty_file(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

    return fd >= 0 && close(fd) == 0;
}

/* A VM named MODE-vm with two (empty) qcow2 disks vda and vdb, started. */
static bool setup(struct fx *f, const char *mode)
{
    struct cerr e;

    snprintf(f->dir, sizeof(f->dir), "/tmp/corral-fakeqmp-XXXXXX");
    f->events = json_arr();
    if (mkdtemp(f->dir) == NULL)
        return false;
    f->state_dir = xasprintf("%s/vm", f->dir);
    char *a = xasprintf("%s/a.qcow2", f->dir), *b = xasprintf("%s/b.qcow2", f->dir);
    /* fake-qemu never reads the images, and a file without a qcow2 header is
     * left to QEMU by the disk check. */
    bool made = mkdir(f->state_dir, 0700) == 0 && empty_file(a) && empty_file(b);
    f->xml = xasprintf("<domain type='qemu'><name>%s-vm</name><memory unit='MiB'>64</memory>"
                       "<os><type arch='x86_64' machine='none'>hvm</type></os><devices>"
                       "<emulator>%s</emulator>"
                       "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
                       "<source file='%s'/><target dev='vda'/></disk>"
                       "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
                       "<source file='%s'/><target dev='vdb'/></disk></devices></domain>",
                       mode, fake_qemu, a, b);
    free(a);
    free(b);
    if (!made || !open_sup(f))
        return false;
    if (vm_start(f->vm, &e) < 0) {
        printf("# vm_start: %s\n", e.msg);
        return false;
    }
    return wait_started(f);
}

static void destroyed(void *arg, cJSON *result, const struct cerr *e)
{
    (void)arg;
    (void)e;
    cJSON_Delete(result);
}

static void teardown(struct fx *f)
{
    struct cerr e;

    if (f->vm != NULL && qemu_pid_of(f->vm) > 0)
        f->qemu_pid = qemu_pid_of(f->vm);
    if (f->vm != NULL && vm_is_active(f->vm)) {
        vm_destroy(f->vm, destroyed, NULL);
        if (!wait_flag(&f->gone))
            printf("# QEMU did not go\n");
    }
    /* fake-qemu is this process's child also when a restarted supervisor
     * adopted it (nobody reaps it then) or it never finished starting; one
     * reaped already is not ours any more and is left alone. */
    if (f->qemu_pid > 0 && waitpid(f->qemu_pid, NULL, WNOHANG) == 0) {
        kill(f->qemu_pid, SIGKILL);
        waitpid(f->qemu_pid, NULL, 0);
    }
    close_sup(f);
    if (f->dir[0] != '\0' && rm_rf(f->dir, &e) < 0)
        printf("# %s\n", e.msg);
    free(f->state_dir);
    free(f->xml);
    cJSON_Delete(f->events);
}

/* A restarted supervisor: the old one goes (QEMU lives on), a new one
 * loads the metadata and re-adopts QEMU, which runs recovery. */
static bool restart_sup(struct fx *f)
{
    struct cerr e;
    pid_t pid = f->qemu_pid;

    close_sup(f);
    if (!open_sup(f))
        return false;
    if (vm_adopt(f->vm, pid, &e) < 0) {
        printf("# vm_adopt: %s\n", e.msg);
        return false;
    }
    return wait_started(f);
}

/* ---- asking and looking ---- */

typedef void (*op_fn)(struct snapops *so, const cJSON *params, vm_done_cb cb, void *arg);

struct answer {
    struct fx *f;
    bool done, failed;
    cJSON *result;
    struct cerr e;
    cJSON *intent; /* pending.json when the answer came */
};

/* Static so that an answer arriving after a failed wait lands somewhere
 * harmless. */
static struct answer answers[32];
static size_t answers_next;

static char *state_file(const struct fx *f, const char *name)
{
    return xasprintf("%s/%s", f->state_dir, name);
}

/* The intent recorded in pending.json (new), or NULL when none is. */
static cJSON *read_pending(const struct fx *f)
{
    char *path = state_file(f, "pending.json");
    enum recfile_read kind;
    char *text;
    size_t len;
    cJSON *o = NULL;
    struct cerr e;

    if (recfile_read(path, 1024 * 1024, &text, &len, &kind, &e) == 0 && kind == RECFILE_FOUND) {
        o = json_parse(text, len, &e);
        free(text);
    }
    free(path);
    return o;
}

static void answered(void *arg, cJSON *result, const struct cerr *e)
{
    struct answer *a = arg;

    a->done = true;
    a->result = result;
    a->failed = e != NULL;
    if (e != NULL)
        a->e = *e;
    /* Read at once: a reconnect may settle the intent right after. */
    a->intent = read_pending(a->f);
}

static void answer_clear(struct answer *a)
{
    cJSON_Delete(a->result);
    cJSON_Delete(a->intent);
    memset(a, 0, sizeof(*a));
}

/* Runs op with params (consumed) and waits for its answer, which lives
 * until the slot comes round again. */
static struct answer *call(struct fx *f, op_fn op, cJSON *params)
{
    struct answer *a = &answers[answers_next++ % (sizeof(answers) / sizeof(answers[0]))];

    answer_clear(a);
    a->f = f;
    op(f->so, params, answered, a);
    cJSON_Delete(params);
    if (!wait_flag(&a->done)) {
        a->failed = true;
        snprintf(a->e.msg, sizeof(a->e.msg), "no answer within %d ms", WAIT_MS);
    }
    return a;
}

static cJSON *snap_params(const char *snap)
{
    cJSON *p = json_obj();

    json_add_str(p, "snapshot", snap);
    return p;
}

static struct answer *create_snap(struct fx *f, const char *snap)
{
    return call(f, snapcreate_run, snap_params(snap));
}

/* Creates snap, which is expected to work. */
static bool created(struct fx *f, const char *snap)
{
    struct answer *a = create_snap(f, snap);

    if (a->failed)
        printf("# creating %s: %s\n", snap, a->e.msg);
    return !a->failed;
}

static struct answer *delete_snap(struct fx *f, const char *snap)
{
    return call(f, snapdelete_run, snap_params(snap));
}

static struct answer *check_snaps(struct fx *f)
{
    return call(f, snapcheck_run, json_obj());
}

/* Events of one method, in order (borrowed params; NULL past the end). */
static const cJSON *event_n(const struct fx *f, const char *method, int n)
{
    const cJSON *ev;

    cJSON_ArrayForEach(ev, f->events)
    {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(ev, "method");
        if (cJSON_IsString(m) && strcmp(m->valuestring, method) == 0 && n-- == 0)
            return cJSON_GetObjectItemCaseSensitive(ev, "params");
    }
    return NULL;
}

static int count_events(const struct fx *f, const char *method)
{
    int n = 0;

    while (event_n(f, method, n) != NULL)
        n++;
    return n;
}

static int reports(const struct fx *f)
{
    return count_events(f, "snapshot.inconsistency");
}

static const cJSON *report_n(const struct fx *f, int n)
{
    return event_n(f, "snapshot.inconsistency", n);
}

static const char *str_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* A JSON value as compact text, for comparing arrays (static buffer). */
static const char *text_of(const cJSON *o, const char *key)
{
    static char buf[1024];
    char *t = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(o, key));

    snprintf(buf, sizeof(buf), "%s", t ? t : "(none)");
    cJSON_free(t);
    return buf;
}

static bool meta_exists(const struct fx *f, const char *snap)
{
    char *path = xasprintf("%s/snapshots/%s.xml", f->state_dir, snap);
    bool there = path_exists(path);

    free(path);
    return there;
}

static bool pending_exists(const struct fx *f)
{
    cJSON *o = read_pending(f);
    bool there = o != NULL;

    cJSON_Delete(o);
    return there;
}

/* The tree as a restarted supervisor would load it from the metadata
 * files: "name<parent*" per snapshot in name order ('*' marks current),
 * or why it does not load cleanly (static buffer). */
static const char *tree_on_disk(const struct fx *f)
{
    static char buf[512];
    struct snapshot_problem *problems = NULL;
    size_t nproblems = 0, n;
    struct cerr e;
    char *dir = xasprintf("%s/snapshots", f->state_dir);
    struct snapshot_tree *t = snapshot_tree_load(dir, &problems, &nproblems, &e);
    const struct snapshot_def **all;

    free(dir);
    if (t == NULL) {
        snprintf(buf, sizeof(buf), "load failed: %.400s", e.msg);
        return buf;
    }
    buf[0] = '\0';
    if (nproblems > 0)
        snprintf(buf, sizeof(buf), "problem: %.400s", problems[0].detail);
    all = snapshot_tree_topological(t, &n);
    for (size_t i = 0; nproblems == 0 && all != NULL && i < n; i++) {
        size_t used = strlen(buf);
        snprintf(buf + used, sizeof(buf) - used, "%s%s<%s%s", used ? " " : "", all[i]->name,
                 all[i]->parent ? all[i]->parent : "", all[i]->current ? "*" : "");
    }
    free(all);
    snapshot_problems_free(problems, nproblems);
    snapshot_tree_free(t);
    return buf;
}

struct qmp_wait {
    bool done;
    cJSON *result;
};

static void qmp_answered(void *arg, const char *result, size_t len, const struct cerr *e)
{
    struct qmp_wait *w = arg;

    if (e != NULL)
        printf("# passthrough: %s\n", e->msg);
    w->result = result != NULL ? cJSON_ParseWithLength(result, len) : NULL;
    w->done = true;
}

/* QEMU's reply to a raw command (text; caller owns it), or NULL. */
static cJSON *passthrough(struct fx *f, const char *text)
{
    static struct qmp_wait w;
    cJSON *cmd = cJSON_Parse(text), *reply;

    cJSON_Delete(w.result);
    memset(&w, 0, sizeof(w));
    vm_qmp(f->vm, cmd, qmp_answered, &w);
    cJSON_Delete(cmd);
    if (!wait_flag(&w.done))
        return NULL;
    reply = cJSON_DetachItemFromObjectCaseSensitive(w.result, "reply");
    return reply;
}

/* The tags the disk's node holds as QEMU lists them, comma-separated
 * (static buffer). */
static const char *tags_on(struct fx *f, const char *node)
{
    static char buf[256];
    cJSON *reply = passthrough(f, "{\"execute\":\"query-named-block-nodes\"}");
    const cJSON *n;

    snprintf(buf, sizeof(buf), "(no such node)");
    cJSON_ArrayForEach(n, cJSON_GetObjectItemCaseSensitive(reply, "return"))
    {
        const cJSON *img = cJSON_GetObjectItemCaseSensitive(n, "image"), *s;
        if (strcmp(str_of(n, "node-name") ? str_of(n, "node-name") : "", node) != 0)
            continue;
        buf[0] = '\0';
        cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(img, "snapshots"))
        {
            size_t used = strlen(buf);
            snprintf(buf + used, sizeof(buf) - used, "%s%s", used ? "," : "", str_of(s, "name"));
        }
    }
    cJSON_Delete(reply);
    return buf;
}

/* Someone deletes tag on one disk behind corral's back, with a raw QMP
 * command of a job id that is not corral's. */
static bool drop_tag(struct fx *f, const char *tag, const char *node)
{
    char *text = xasprintf("{\"execute\":\"snapshot-delete\",\"arguments\":{\"job-id\":"
                           "\"manual-%s\",\"tag\":\"%s\",\"devices\":[\"%s\"]}}",
                           node, tag, node);
    cJSON *reply = passthrough(f, text);
    bool ok = reply != NULL && cJSON_GetObjectItemCaseSensitive(reply, "return") != NULL;

    cJSON_Delete(reply);
    free(text);
    return ok;
}

#define WITH_FAKE(mode, body)                                                                      \
    do {                                                                                           \
        struct fx f_ = {0};                                                                        \
        if (no_fake != NULL)                                                                       \
            UNIT_SKIP(no_fake);                                                                    \
        bool up_ = setup(&f_, mode);                                                               \
        if (up_)                                                                                   \
            body(&f_);                                                                             \
        teardown(&f_);                                                                             \
        EXPECT(up_);                                                                               \
    } while (0)

/* ---- the cases ---- */

static void create_delete_body(struct fx *f)
{
    struct answer *a = create_snap(f, "s1");

    EXPECT(!a->failed);
    EXPECT_STR(str_of(a->result, "name"), "s1");
    EXPECT_STR(text_of(a->result, "disks"),
               "[{\"target\":\"vda\",\"internal\":true},{\"target\":\"vdb\",\"internal\":true}]");
    /* The answer comes while the intent, which holds the metadata, still
     * makes it durable; the intent goes right after. */
    EXPECT_STR(str_of(a->intent, "op"), "create");
    EXPECT_STR(str_of(a->intent, "snapshot"), "s1");
    EXPECT(!pending_exists(f));
    a = create_snap(f, "s2");
    EXPECT(!a->failed);
    EXPECT_STR(str_of(a->result, "parent"), "s1");
    EXPECT_STR(tree_on_disk(f), "s1< s2<s1*");
    EXPECT_STR(tags_on(f, "drive-vda"), "s1,s2");
    EXPECT_STR(tags_on(f, "drive-vdb"), "s1,s2");
    EXPECT(count_events(f, "snapshot.created") == 2);

    a = delete_snap(f, "s2");
    EXPECT(!a->failed);
    EXPECT_STR(text_of(a->result, "deleted"), "[\"s2\"]");
    EXPECT_STR(text_of(a->result, "reports"), "[]");
    EXPECT_STR(str_of(a->intent, "op"), "delete");
    EXPECT(!pending_exists(f));
    EXPECT(!meta_exists(f, "s2") && meta_exists(f, "s1"));
    /* The current marker moves to the deleted snapshot's parent. */
    EXPECT_STR(str_of(a->result, "current"), "s1");
    EXPECT_STR(tree_on_disk(f), "s1<*");
    EXPECT_STR(tags_on(f, "drive-vda"), "s1");
    EXPECT_STR(tags_on(f, "drive-vdb"), "s1");
    EXPECT_STR(str_of(event_n(f, "snapshot.deleted", 0), "snapshot"), "s2");

    a = check_snaps(f);
    EXPECT(!a->failed);
    EXPECT(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a->result, "consistent")));
    EXPECT(reports(f) == 0);
    EXPECT(!pending_exists(f));
    EXPECT(vm_get_state(f->vm) == VM_RUNNING);
}

static void test_create_delete_two_disks(void)
{
    WITH_FAKE("plain", create_delete_body);
}

/* An intent that cannot be written (pending.json is a directory here)
 * refuses the create before QEMU is sent the job. */
static void intent_unwritable_body(struct fx *f)
{
    char *path = state_file(f, "pending.json");
    struct answer *a = create_snap(f, "s1");

    EXPECT(!a->failed);
    EXPECT(unlink(path) == 0 && mkdir(path, 0700) == 0);
    a = create_snap(f, "s2");
    EXPECT(a->failed);
    EXPECT_CONTAINS(a->e.msg, "cannot record the snapshot operation it starts");
    EXPECT_STR(tags_on(f, "drive-vda"), "s1");
    EXPECT_STR(tags_on(f, "drive-vdb"), "s1");
    EXPECT(!meta_exists(f, "s2"));
    EXPECT(count_events(f, "snapshot.created") == 1);
    /* Once it can be written again, the create goes through. */
    EXPECT(rmdir(path) == 0);
    a = create_snap(f, "s2");
    EXPECT(!a->failed);
    EXPECT_STR(tags_on(f, "drive-vda"), "s1,s2");
    EXPECT(!pending_exists(f));
    free(path);
}

static void test_intent_unwritable(void)
{
    WITH_FAKE("plain", intent_unwritable_body);
}

static void missing_body(struct fx *f)
{
    struct answer *a;

    EXPECT(created(f, "s1") && created(f, "s2"));
    EXPECT(drop_tag(f, "s1", "drive-vdb") && drop_tag(f, "s2", "drive-vdb"));
    EXPECT_STR(tags_on(f, "drive-vdb"), "");

    /* Met by the delete itself: reported with the answer and as an event. */
    a = delete_snap(f, "s1");
    EXPECT(!a->failed);
    EXPECT_STR(text_of(a->result, "deleted"), "[\"s1\"]");
    const cJSON *r = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(a->result, "reports"), 0);
    EXPECT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(a->result, "reports")) == 1);
    EXPECT_STR(str_of(r, "kind"), "missing");
    EXPECT_STR(text_of(r, "disks"), "[\"vdb\"]");
    EXPECT(!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "reported_before")));
    EXPECT(reports(f) == 1);
    EXPECT_STR(str_of(report_n(f, 0), "snapshot"), "s1");
    EXPECT_STR(str_of(report_n(f, 0), "vm"), "plain-vm");
    EXPECT(!meta_exists(f, "s1") && a->intent == NULL && !pending_exists(f));
    EXPECT_STR(tags_on(f, "drive-vda"), "s2");

    /* snapshot-check answers with it but sends no report... */
    a = check_snaps(f);
    EXPECT(!a->failed);
    EXPECT(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(a->result, "consistent")));
    r = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(a->result, "reports"), 0);
    EXPECT_STR(str_of(r, "snapshot"), "s2");
    EXPECT_STR(text_of(r, "disks"), "[\"vdb\"]");
    EXPECT(reports(f) == 1);
    /* ...the recovery of a restarted supervisor does, once, and the delete
     * then does not tell it again. */
    EXPECT(restart_sup(f));
    EXPECT(reports(f) == 2);
    EXPECT_STR(str_of(report_n(f, 1), "kind"), "missing");
    EXPECT_STR(str_of(report_n(f, 1), "snapshot"), "s2");
    EXPECT_STR(text_of(report_n(f, 1), "disks"), "[\"vdb\"]");
    a = delete_snap(f, "s2");
    EXPECT(!a->failed);
    r = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(a->result, "reports"), 0);
    EXPECT_STR(str_of(r, "kind"), "missing");
    EXPECT(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "reported_before")));
    EXPECT(reports(f) == 2);
    EXPECT_STR(tree_on_disk(f), "");
    EXPECT_STR(tags_on(f, "drive-vda"), "");

    a = check_snaps(f);
    EXPECT(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a->result, "consistent")));
    EXPECT(reports(f) == 2);
}

static void test_delete_missing_on_one_disk(void)
{
    WITH_FAKE("plain", missing_body);
}

static void revert_body(struct fx *f)
{
    struct answer *a;

    EXPECT(created(f, "s1") && created(f, "s2"));
    a = call(f, snapquery_info, snap_params("s1"));
    EXPECT(!a->failed);
    EXPECT(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(a->result, "vm_state_size")) == 1);
    EXPECT_STR(text_of(a->result, "children"), "[\"s2\"]");

    /* fake-qemu has no snapshot-load: QEMU refuses, nothing changes. */
    a = call(f, snaprevert_run, snap_params("s1"));
    EXPECT(a->failed);
    EXPECT(a->e.code == CE_JOB_FAILED);
    EXPECT_CONTAINS(
        a->e.msg, "VM plain-vm: revert to s1 failed (fake: no snapshot-load); nothing was changed");
    EXPECT(a->intent == NULL && !pending_exists(f));
    EXPECT_STR(tree_on_disk(f), "s1< s2<s1*");
    EXPECT(vm_get_state(f->vm) == VM_RUNNING);

    /* A disk without the tag: refused before QEMU is asked. */
    EXPECT(drop_tag(f, "s1", "drive-vdb"));
    a = call(f, snaprevert_run, snap_params("s1"));
    EXPECT(a->failed);
    EXPECT(a->e.code == CE_OPERATION_INVALID);
    EXPECT_CONTAINS(a->e.msg, "VM plain-vm cannot be reverted to s1: disk vdb does not hold it");
    EXPECT(a->intent == NULL && !pending_exists(f));
    EXPECT_STR(tree_on_disk(f), "s1< s2<s1*");
    EXPECT(reports(f) == 0);
    EXPECT(vm_get_state(f->vm) == VM_RUNNING);
}

static void test_revert_refused(void)
{
    WITH_FAKE("plain", revert_body);
}

static void job_fails_body(struct fx *f)
{
    struct answer *a;

    EXPECT(created(f, "s1"));
    a = delete_snap(f, "s1");
    EXPECT(a->failed);
    EXPECT(a->e.code == CE_JOB_FAILED);
    EXPECT_CONTAINS(a->e.msg, "VM faildel-vm");
    EXPECT_CONTAINS(a->e.msg, "snapshot s1");
    EXPECT_CONTAINS(a->e.msg, "fake: I/O error on the second device");
    /* The report says what was done: nothing is left to settle. */
    EXPECT(a->intent == NULL && !pending_exists(f));
    EXPECT(meta_exists(f, "s1"));
    EXPECT_STR(tree_on_disk(f), "s1<*");
    EXPECT(count_events(f, "snapshot.deleted") == 0);
    EXPECT(reports(f) == 1);
    const cJSON *r = report_n(f, 0);
    EXPECT_STR(str_of(r, "kind"), "job-failed");
    EXPECT_STR(str_of(r, "snapshot"), "s1");
    EXPECT_STR(text_of(r, "disks"), "[\"vdb\"]");
    EXPECT_CONTAINS(str_of(r, "job"), "corral-delete-");
    EXPECT_CONTAINS(str_of(r, "detail"), "already deleted on: [\"vda\"]");
    EXPECT_CONTAINS(str_of(r, "detail"), "metadata kept");
    EXPECT_STR(tags_on(f, "drive-vda"), "");
    EXPECT_STR(tags_on(f, "drive-vdb"), "s1");
    EXPECT(vm_get_state(f->vm) == VM_RUNNING);

    /* Deleted again, it goes; vda's missing tag is what the report said,
     * not news. */
    a = delete_snap(f, "s1");
    EXPECT(!a->failed);
    EXPECT_STR(text_of(a->result, "deleted"), "[\"s1\"]");
    EXPECT(reports(f) == 1);
    EXPECT(!meta_exists(f, "s1") && !pending_exists(f));
    EXPECT_STR(tags_on(f, "drive-vdb"), "");
}

static void test_delete_job_fails(void)
{
    WITH_FAKE("faildel", job_fails_body);
}

static void monitor_lost_body(struct fx *f)
{
    struct answer *a;
    int recoveries;

    EXPECT(created(f, "s1"));
    recoveries = f->recoveries;
    a = delete_snap(f, "s1");
    EXPECT(a->failed);
    EXPECT(a->e.code == CE_JOB_FAILED);
    EXPECT_CONTAINS(a->e.msg, "VM eofdel-vm");
    EXPECT_CONTAINS(a->e.msg, "snapshot s1 was cut short");
    /* Kept for recovery, marked as told. */
    EXPECT(a->intent != NULL);
    EXPECT_STR(str_of(a->intent, "op"), "delete");
    EXPECT_STR(str_of(a->intent, "snapshot"), "s1");
    EXPECT(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a->intent, "reported")));
    EXPECT(meta_exists(f, "s1"));
    EXPECT(reports(f) >= 1);
    EXPECT_STR(str_of(report_n(f, 0), "kind"), "interrupted");
    EXPECT_STR(text_of(report_n(f, 0), "disks"), "[\"vda\",\"vdb\"]");

    /* The monitor comes back: recovery finds the job's error and what the
     * disks hold, and reports that once. */
    EXPECT(wait_above(&f->recoveries, recoveries));
    EXPECT(!pending_exists(f));
    EXPECT(reports(f) == 2);
    const cJSON *r = report_n(f, 1);
    EXPECT_STR(str_of(r, "kind"), "interrupted");
    EXPECT_STR(text_of(r, "disks"), "[\"vdb\"]");
    EXPECT_CONTAINS(str_of(r, "detail"), "deleted on [\"vda\"]");
    EXPECT_CONTAINS(str_of(r, "detail"), "I/O error on the second device");
    EXPECT_CONTAINS(str_of(r, "detail"), "metadata kept");
    EXPECT_STR(tree_on_disk(f), "s1<*");
    EXPECT(vm_get_state(f->vm) == VM_RUNNING);

    /* Deleted again: the disk that lost it was reported already. */
    a = delete_snap(f, "s1");
    EXPECT(!a->failed);
    EXPECT_STR(text_of(a->result, "deleted"), "[\"s1\"]");
    EXPECT(reports(f) == 2);
    EXPECT(!meta_exists(f, "s1") && !pending_exists(f));
    EXPECT_STR(tags_on(f, "drive-vdb"), "");
}

static void test_monitor_lost_mid_delete(void)
{
    WITH_FAKE("eofdel", monitor_lost_body);
}

static void noise_body(struct fx *f)
{
    struct answer *a;

    EXPECT(created(f, "s1") && created(f, "s2"));
    a = delete_snap(f, "s1");
    EXPECT(!a->failed);
    EXPECT_STR(text_of(a->result, "deleted"), "[\"s1\"]");
    EXPECT_STR(tree_on_disk(f), "s2<*");
    EXPECT_STR(tags_on(f, "drive-vda"), "s2");
    EXPECT_STR(tags_on(f, "drive-vdb"), "s2");
    a = call(f, snaplist_run, json_obj());
    EXPECT(!a->failed);
    EXPECT(reports(f) == 0 && !pending_exists(f));
    EXPECT(vm_get_state(f->vm) == VM_RUNNING);
}

static void test_garbage_noise(void)
{
    WITH_FAKE("garbage", noise_body);
}

static void bad_jobs_body(struct fx *f)
{
    struct answer *a;

    EXPECT(created(f, "s1"));
    a = delete_snap(f, "s1");
    EXPECT(a->failed);
    EXPECT(a->e.code == CE_JOB_FAILED);
    EXPECT_CONTAINS(a->e.msg, "VM badjobs-vm");
    EXPECT_CONTAINS(a->e.msg, "snapshot s1");
    EXPECT_CONTAINS(a->e.msg, "query-jobs has no well-formed entry");
    EXPECT(a->intent != NULL && pending_exists(f));
    EXPECT(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a->intent, "reported")));
    EXPECT(meta_exists(f, "s1"));
    EXPECT(reports(f) == 1);
    EXPECT_STR(str_of(report_n(f, 0), "kind"), "interrupted");
    EXPECT_STR(text_of(report_n(f, 0), "disks"), "[\"vda\",\"vdb\"]");
    EXPECT(vm_get_state(f->vm) == VM_RUNNING);

    /* The next supervisor settles it: QEMU deleted everywhere, so the
     * metadata goes; that was told already and is not told again. */
    int recoveries = f->recoveries;
    EXPECT(restart_sup(f));
    EXPECT(f->recoveries == recoveries + 1);
    EXPECT(!pending_exists(f));
    EXPECT(!meta_exists(f, "s1"));
    EXPECT_STR(tree_on_disk(f), "");
    EXPECT_STR(str_of(event_n(f, "snapshot.deleted", 0), "snapshot"), "s1");
    EXPECT(reports(f) == 1);
    EXPECT_STR(vm_reason(f->vm), "re-adopted");
}

static void test_garbage_query_jobs(void)
{
    WITH_FAKE("badjobs", bad_jobs_body);
}

static void bad_list_body(struct fx *f)
{
    struct answer *a;

    EXPECT(created(f, "s1"));
    /* This fake changes its listing without a command, which a real QEMU
     * never does: the tags the supervisor knows since s1 are forgotten, as
     * a vm.qmp command would have them, so that the disks are listed. */
    snapshot_tags_forget(snapshot_qmp_jobs_tags(vm_snapjobs(f->vm)));
    a = create_snap(f, "s2");
    EXPECT(a->failed);
    EXPECT(a->e.code == CE_QEMU_FAILED);
    EXPECT_CONTAINS(a->e.msg, "'image.snapshots' is not an array");
    /* The error names the VM and the snapshot. */
    EXPECT_CONTAINS(a->e.msg, "VM badlist-vm: creating snapshot s2: ");
    /* Refused before anything reached QEMU: nothing to settle or report. */
    EXPECT(a->intent == NULL && !pending_exists(f));
    EXPECT(!meta_exists(f, "s2"));
    EXPECT_STR(tree_on_disk(f), "s1<*");
    EXPECT(reports(f) == 0);
    EXPECT(count_events(f, "snapshot.created") == 1);
    /* The operation is over: the next one meets the same reply, not "busy". */
    a = delete_snap(f, "s1");
    EXPECT(a->failed);
    EXPECT(a->e.code == CE_QEMU_FAILED);
    EXPECT_CONTAINS(a->e.msg, "VM badlist-vm: deleting snapshot s1: ");
    EXPECT(meta_exists(f, "s1"));
    EXPECT(vm_get_state(f->vm) == VM_RUNNING);
}

static void test_garbage_snapshot_list(void)
{
    WITH_FAKE("badlist", bad_list_body);
}

/* fake-qemu in the source tree: from the working directory (the repo's
 * root, as tests/run-tests is run) or from this binary's place in
 * build/KIND/tests. */
static void find_fake(void)
{
    char exe[PATH_MAX], *candidate = NULL;
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

    if (access("tests/integration/fake-qemu", X_OK) == 0)
        candidate = realpath("tests/integration/fake-qemu", NULL);
    if (candidate == NULL && n > 0) {
        exe[n] = '\0';
        for (int up = 0; up < 4; up++) {
            char *slash = strrchr(exe, '/');
            if (slash != NULL)
                *slash = '\0';
        }
        char *path = xasprintf("%s/tests/integration/fake-qemu", exe);
        if (access(path, X_OK) == 0)
            candidate = realpath(path, NULL);
        free(path);
    }
    if (candidate == NULL)
        no_fake = "tests/integration/fake-qemu not found";
    else if (system("python3 -c '' >/dev/null 2>&1") != 0)
        no_fake = "python3 (for fake-qemu) is not installed";
    else
        snprintf(fake_qemu, sizeof(fake_qemu), "%s", candidate);
    free(candidate);
}

int main(void)
{
    /* fake-qemu dying under a write must end the connection, not the test. */
    signal(SIGPIPE, SIG_IGN);
    log_init("test_snapshot_fakeqmp", LOG_LVL_ERR);
    base = event_base_new();
    tick = base != NULL ? evtimer_new(base, tick_cb, NULL) : NULL;
    if (tick == NULL)
        return 2;
    find_fake();
    RUN(test_create_delete_two_disks);
    RUN(test_intent_unwritable);
    RUN(test_delete_missing_on_one_disk);
    RUN(test_revert_refused);
    RUN(test_delete_job_fails);
    RUN(test_monitor_lost_mid_delete);
    RUN(test_garbage_noise);
    RUN(test_garbage_query_jobs);
    RUN(test_garbage_snapshot_list);
    for (size_t i = 0; i < sizeof(answers) / sizeof(answers[0]); i++)
        answer_clear(&answers[i]);
    event_free(tick);
    event_base_free(base);
    return unit_done();
}
