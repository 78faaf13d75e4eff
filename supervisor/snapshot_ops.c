#include "supervisor/snapshot_ops.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fileutil.h"
#include "common/log.h"
#include "common/json.h"
#include "supervisor/journal.h"
#include "supervisor/snapshot_core.h"
#include "supervisor/snapshot_report.h"
#include "supervisor/snapshot_tree.h"
#include "supervisor/snapshot_tree_load.h"

/* Only the files supervisors write in the state directory: the broker
 * writes others there and may be in the middle of one. */
static bool state_leftover(const char *name)
{
    static const char *const ours[] = {"pending.json.tmp.", "standing.json.tmp.",
                                       "last-exit.json.tmp."};

    for (size_t i = 0; i < sizeof(ours) / sizeof(ours[0]); i++)
        if (strncmp(name, ours[i], strlen(ours[i])) == 0)
            return true;
    return false;
}

/* NAME.xml.tmp.XXXXXX: a snapshot's metadata whose writer was killed; the
 * same of the snapshot index. */
static bool snapshot_leftover(const char *name)
{
    return strstr(name, ".xml.tmp.") != NULL || strncmp(name, ".index.json.tmp.", 16) == 0;
}

/* Removes what a crashed file_write_atomic left in dir; none is in use, as
 * this supervisor alone writes those files and has not started to. */
static void remove_leftovers(const char *dir, bool (*leftover)(const char *name))
{
    DIR *d = opendir(dir);
    struct dirent *de;

    if (d == NULL) {
        if (errno != ENOENT)
            log_warn("cannot read %s: %s", dir, strerror(errno));
        return;
    }
    while ((de = readdir(d)) != NULL) {
        if (!leftover(de->d_name))
            continue;
        if (unlinkat(dirfd(d), de->d_name, 0) < 0)
            log_warn("cannot remove %s/%s: %s", dir, de->d_name, strerror(errno));
        else
            log_info("removed %s/%s, left by a crash", dir, de->d_name);
    }
    closedir(d);
}

struct snapops *snapops_new(struct vm *vm, const char *state_dir, snapops_notify_fn notify,
                            void *arg, struct cerr *e)
{
    struct snapops *so = xcalloc(1, sizeof(*so));
    struct snapshot_problem *problems = NULL;
    size_t nproblems = 0;

    so->vm = vm;
    so->name = vm_def(vm)->name;
    so->notify = notify;
    so->notify_arg = arg;
    so->dir = xasprintf("%s/snapshots", state_dir);
    so->state_dir = xstrdup(state_dir);
    remove_leftovers(state_dir, state_leftover);
    remove_leftovers(so->dir, snapshot_leftover);
    if (mkdir_p(so->dir, 0700, e) < 0)
        goto fail;
    char *jdir = xasprintf("%s/journal", state_dir);
    so->journal = journal_open(jdir, e);
    free(jdir);
    if (so->journal == NULL)
        goto fail;
    so->tree = snapshot_tree_load(so->dir, &problems, &nproblems, e);
    if (so->tree == NULL) {
        journal_free(so->journal);
        goto fail;
    }
    /* Every supervisor reloads the tree: what an earlier one reported and
     * is still wrong is not reported again. */
    cJSON *findings = json_arr();
    for (size_t i = 0; i < nproblems; i++) {
        cJSON *f = json_obj();
        json_add_str(f, "snapshot", problems[i].name);
        json_add_str(f, "kind", snapshot_problem_kind_name(problems[i].kind));
        json_add(f, "disks", json_arr());
        json_add_str(f, "detail", problems[i].detail);
        json_arr_add(findings, f);
    }
    snapreport_findings(so, "load", findings);
    cJSON_Delete(findings);
    snapshot_problems_free(problems, nproblems);
    return so;
fail:
    free(so->state_dir);
    free(so->dir);
    free(so);
    return NULL;
}

void snapops_resend(struct snapops *so)
{
    const cJSON *pending = journal_pending(so->journal);
    const cJSON *r;

    cJSON_ArrayForEach(r, pending)
        so->notify("snapshot.inconsistency", json_dup(r), so->notify_arg);
}

int snapops_ack(struct snapops *so, long long seq, struct cerr *e)
{
    return journal_ack(so->journal, seq, e);
}

void snapops_free(struct snapops *so)
{
    if (so == NULL)
        return;
    snapreport_release(so);
    journal_free(so->journal);
    snapshot_tree_free(so->tree);
    cJSON_Delete(so->standing);
    free(so->state_dir);
    free(so->dir);
    free(so);
}
