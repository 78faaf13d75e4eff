/* The snapshot modules above snapshot_qmp.c without QEMU: report
 * de-duplication through standing.json (also across a restarted
 * supervisor), the intent file's life, and snapshot-delete driven through
 * snapdelete_run where it needs no QEMU (metadata only; a VM that does not
 * run). */
#include "supervisor/snapshot_ops.h"

#include <event2/event.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/domain_xml.h"
#include "common/fileutil.h"
#include "common/json.h"
#include "supervisor/snapshot_core.h"
#include "supervisor/snapshot_delete.h"
#include "supervisor/snapshot_intent.h"
#include "supervisor/snapshot_report.h"
#include "supervisor/snapshot_tree.h"
#include "tests/unit/unit.h"

static const char domain[] = "<domain type='kvm'><name>vm1</name><memory unit='MiB'>64</memory>"
                             "<devices><disk type='file' device='disk'>"
                             "<driver name='qemu' type='qcow2'/><source file='/nonexistent.qcow2'/>"
                             "<target dev='vda' bus='virtio'/></disk></devices></domain>";

static struct event_base *base;

/* One supervisor's view: a VM that was never started and its snapops. */
struct fixture {
    char dir[64];
    char *state_dir;
    struct vm *vm;
    struct snapops *so;
    cJSON *events; /* [{"method", "params"}] as notify saw them */
};

static void notify(const char *method, cJSON *params, void *arg)
{
    struct fixture *f = arg;
    cJSON *ev = json_obj();

    json_add_str(ev, "method", method);
    json_add(ev, "params", params);
    json_arr_add(f->events, ev);
}

static const struct vm_hooks no_hooks;

/* Opens (or reopens, as a restarted supervisor does) the fixture's VM. */
static bool open_vm(struct fixture *f)
{
    struct cerr e;
    struct domain_def *def = domain_def_parse(domain, sizeof(domain) - 1, NULL, &e);

    if (def == NULL) {
        printf("# %s\n", e.msg);
        return false;
    }
    f->vm = vm_new(base, def, f->state_dir, f->dir, false, &no_hooks);
    f->so = snapops_new(f->vm, f->state_dir, notify, f, &e);
    if (f->so == NULL)
        printf("# %s\n", e.msg);
    return f->so != NULL;
}

static void close_vm(struct fixture *f)
{
    snapops_free(f->so);
    vm_free(f->vm);
    f->so = NULL;
    f->vm = NULL;
}

static bool setup(struct fixture *f)
{
    snprintf(f->dir, sizeof(f->dir), "/tmp/corral-snapops-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return false;
    f->state_dir = xasprintf("%s/vm", f->dir);
    f->events = json_arr();
    if (mkdir(f->state_dir, 0700) < 0)
        return false;
    return open_vm(f);
}

static void teardown(struct fixture *f)
{
    struct cerr e;

    close_vm(f);
    if (rm_rf(f->dir, &e) < 0)
        printf("# %s\n", e.msg);
    free(f->state_dir);
    cJSON_Delete(f->events);
}

static size_t count_events(const struct fixture *f, const char *method)
{
    const cJSON *ev;
    size_t n = 0;

    cJSON_ArrayForEach(ev, f->events)
    {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(ev, "method");
        n += cJSON_IsString(m) && strcmp(m->valuestring, method) == 0;
    }
    return n;
}

static cJSON *one_disk(void)
{
    cJSON *a = json_arr();

    json_arr_add(a, json_str("vda"));
    return a;
}

static bool reported_before(const cJSON *r)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "reported_before"));
}

static void test_difference_reported_once(void)
{
    struct fixture f = {0};
    cJSON *r1, *r2, *r3, *r4;

    if (!setup(&f)) {
        teardown(&f);
        EXPECT(false);
    }
    r1 = snapreport_difference(f.so, "s1", "missing", one_disk(), "lacks it");
    r2 = snapreport_difference(f.so, "s1", "missing", one_disk(), "lacks it");
    /* A restarted supervisor reads standing.json back. */
    close_vm(&f);
    bool reopened = open_vm(&f);
    r3 = reopened ? snapreport_difference(f.so, "s1", "missing", one_disk(), "lacks it") : NULL;
    /* The metadata went away: a snapshot of that name is reported anew. */
    if (reopened)
        snapreport_forget(f.so, "s1");
    r4 = reopened ? snapreport_difference(f.so, "s1", "missing", one_disk(), "lacks it") : NULL;
    bool ok = r1 && !reported_before(r1) && cJSON_GetObjectItemCaseSensitive(r1, "seq") &&
              reported_before(r2) && r3 && reported_before(r3) && r4 && !reported_before(r4) &&
              count_events(&f, "snapshot.inconsistency") == 2;
    cJSON_Delete(r1);
    cJSON_Delete(r2);
    cJSON_Delete(r3);
    cJSON_Delete(r4);
    teardown(&f);
    EXPECT(reopened);
    EXPECT(ok);
}

static void test_intent_life(void)
{
    struct fixture f = {0};
    struct disks ds;
    struct cerr e;
    cJSON *in, *back, *flagged;

    if (!setup(&f)) {
        teardown(&f);
        EXPECT(false);
    }
    bool disks_ok = snapcore_disks(f.so, &ds, &e) == 0 && ds.n == 1;
    in = snapintent_new("delete", "s1", "corral-delete-1", &ds, ds.nodes, ds.n);
    bool begun = snapintent_begin(f.so, in, &e) == 0;
    back = snapintent_load(f.so);
    snapintent_reported(f.so);
    flagged = snapintent_load(f.so);
    snapintent_end(f.so);
    cJSON *gone = snapintent_load(f.so);
    const cJSON *devs = cJSON_GetObjectItemCaseSensitive(back, "devices");
    bool ok = disks_ok && begun && back && cJSON_GetArraySize(devs) == 1 &&
              strcmp(cJSON_GetArrayItem(devs, 0)->valuestring, "vda") == 0 &&
              cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(back, "reported")) && flagged &&
              cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(flagged, "reported")) && gone == NULL;
    cJSON_Delete(back);
    cJSON_Delete(flagged);
    cJSON_Delete(gone);
    teardown(&f);
    EXPECT(ok);
}

struct answer {
    bool done;
    cJSON *result;
    struct cerr e;
    bool failed;
};

static void answered(void *arg, cJSON *result, const struct cerr *e)
{
    struct answer *a = arg;

    a->done = true;
    a->result = result;
    a->failed = e != NULL;
    if (e != NULL)
        a->e = *e;
}

static struct snapshot_def *mkdef(const char *name, const char *parent)
{
    struct snapshot_def *def = xcalloc(1, sizeof(*def));

    def->name = xstrdup(name);
    def->parent = parent ? xstrdup(parent) : NULL;
    def->state = SNAPSHOT_STATE_RUNNING;
    def->creation_time = 1795316170;
    def->memory_internal = true;
    def->ndisks = 1;
    def->disks = xcalloc(1, sizeof(*def->disks));
    def->disks[0].name = xstrdup("vda");
    def->disks[0].internal = true;
    def->domain_xml = xstrdup(domain);
    return def;
}

static void test_delete_without_qemu(void)
{
    struct fixture f = {0};
    struct answer refused = {0}, deleted = {0};
    struct cerr e;
    cJSON *p1 = json_obj(), *p2 = json_obj();

    if (!setup(&f)) {
        teardown(&f);
        EXPECT(false);
    }
    bool added = snapshot_tree_add(f.so->tree, f.so->dir, mkdef("s1", NULL), true, &e) == 0 &&
                 snapshot_tree_add(f.so->tree, f.so->dir, mkdef("s2", "s1"), true, &e) == 0;
    /* The disks' copy needs QEMU: refused while the VM does not run. */
    json_add_str(p1, "snapshot", "s1");
    snapdelete_run(f.so, p1, answered, &refused);
    /* The metadata alone goes without QEMU, children with it. */
    json_add_str(p2, "snapshot", "s1");
    json_add_bool(p2, "metadata", true);
    json_add_bool(p2, "children", true);
    snapdelete_run(f.so, p2, answered, &deleted);
    const cJSON *names = cJSON_GetObjectItemCaseSensitive(deleted.result, "deleted");
    bool ok = added && refused.done && refused.failed && refused.e.code == CE_OPERATION_INVALID &&
              strstr(refused.e.msg, "is not running") != NULL && deleted.done && !deleted.failed &&
              cJSON_GetArraySize(names) == 2 && snapshot_tree_count(f.so->tree) == 0 &&
              count_events(&f, "snapshot.deleted") == 2 && !f.so->busy;
    cJSON_Delete(p1);
    cJSON_Delete(p2);
    cJSON_Delete(refused.result);
    cJSON_Delete(deleted.result);
    teardown(&f);
    EXPECT(ok);
}

static bool touch(const char *path)
{
    FILE *fp = fopen(path, "w");

    return fp != NULL && fclose(fp) == 0;
}

/* A supervisor killed while writing a snapshot's metadata, pending.json or
 * standing.json leaves NAME.tmp.XXXXXX behind: the next one removes them,
 * and only them. */
static void test_crash_leftovers_removed(void)
{
    struct fixture f = {0};
    char *snaptmp, *statetmp, *keep, *brokertmp;
    bool ok;

    if (!setup(&f)) {
        teardown(&f);
        EXPECT(false);
    }
    close_vm(&f);
    snaptmp = xasprintf("%s/snapshots/s1.xml.tmp.Ab12Cd", f.state_dir);
    statetmp = xasprintf("%s/pending.json.tmp.Ab12Cd", f.state_dir);
    keep = xasprintf("%s/snapshots/notes.txt", f.state_dir);
    brokertmp = xasprintf("%s/domain.xml.tmp.Ab12Cd", f.state_dir);
    ok = touch(snaptmp) && touch(statetmp) && touch(keep) && touch(brokertmp) && open_vm(&f);
    EXPECT(ok);
    EXPECT(!path_exists(snaptmp) && !path_exists(statetmp));
    EXPECT(path_exists(keep) && path_exists(brokertmp));
    free(snaptmp);
    free(statetmp);
    free(keep);
    free(brokertmp);
    teardown(&f);
}

int main(void)
{
    base = event_base_new();
    if (base == NULL)
        return 2;
    RUN(test_difference_reported_once);
    RUN(test_intent_life);
    RUN(test_delete_without_qemu);
    RUN(test_crash_leftovers_removed);
    event_base_free(base);
    return unit_done();
}
