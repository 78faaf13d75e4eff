#include "supervisor/snapshot_index.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fileutil.h"
#include "common/json.h"
#include "common/names.h"

#define INDEX_VERSION 1
/* Ten thousand snapshots take about 2 MiB. */
#define INDEX_MAX (64 * 1024 * 1024)

struct index_entry {
    const char *file;    /* borrowed from doc */
    const cJSON *fields; /* the entry object, borrowed from doc */
};

struct snapshot_index {
    cJSON *doc;
    struct index_entry *v; /* sorted by file */
    size_t n;
};

/* What identifies one version of a file: a rename-based rewrite makes a new
 * inode, and any change of the file moves its ctime. */
static void stat_key(const struct stat *st, char *buf, size_t len)
{
    snprintf(buf, len, "%llu:%lld:%lld.%09ld:%lld.%09ld", (unsigned long long)st->st_ino,
             (long long)st->st_size, (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec,
             (long long)st->st_ctim.tv_sec, st->st_ctim.tv_nsec);
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const struct index_entry *)a)->file, ((const struct index_entry *)b)->file);
}

static const char *member_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

struct snapshot_index *snapshot_index_read(const char *dir)
{
    char *path = xasprintf("%s/" SNAPSHOT_INDEX_FILE, dir);
    cJSON *doc = json_read_object_file(path, INDEX_MAX);
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(doc, "version");
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(doc, "files");
    struct snapshot_index *ix;
    const cJSON *f;

    free(path);
    if (!cJSON_IsNumber(version) || version->valuedouble != INDEX_VERSION ||
        !cJSON_IsArray(files)) {
        cJSON_Delete(doc);
        return NULL;
    }
    ix = xcalloc(1, sizeof(*ix));
    ix->doc = doc;
    ix->v = xcalloc((size_t)cJSON_GetArraySize(files) + 1, sizeof(*ix->v));
    cJSON_ArrayForEach(f, files)
    {
        const char *file = member_str(f, "file");

        if (file != NULL)
            ix->v[ix->n++] = (struct index_entry){file, f};
    }
    qsort(ix->v, ix->n, sizeof(*ix->v), cmp_entry);
    return ix;
}

void snapshot_index_free(struct snapshot_index *ix)
{
    if (ix == NULL)
        return;
    cJSON_Delete(ix->doc);
    free(ix->v);
    free(ix);
}

static enum snapshot_state state_of(const char *name)
{
    for (enum snapshot_state s = SNAPSHOT_STATE_RUNNING; s <= SNAPSHOT_STATE_DISK_SNAPSHOT; s++) {
        if (strcmp(snapshot_state_name(s), name) == 0)
            return s;
    }
    return SNAPSHOT_STATE_NONE;
}

static char *dup_or_null(const char *s)
{
    return s != NULL ? xstrdup(s) : NULL;
}

/* -1 when the disks are not what a parse could have produced. */
static int disks_of(const cJSON *arr, struct snapshot_def *def)
{
    const cJSON *d;

    if (!cJSON_IsArray(arr))
        return -1;
    def->disks = xcalloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof(*def->disks));
    cJSON_ArrayForEach(d, arr)
    {
        const char *name = member_str(d, "name");
        const cJSON *internal = cJSON_GetObjectItemCaseSensitive(d, "internal");
        struct cerr e;

        if (name == NULL || !cJSON_IsBool(internal) || !name_target_valid(name, &e))
            return -1;
        for (size_t i = 0; i < def->ndisks; i++) {
            if (strcmp(def->disks[i].name, name) == 0)
                return -1;
        }
        def->disks[def->ndisks].name = xstrdup(name);
        def->disks[def->ndisks].internal = cJSON_IsTrue(internal);
        def->ndisks++;
    }
    return 0;
}

/* The definition an entry stands for, checked as a parse checks it; NULL
 * when anything is off. */
static struct snapshot_def *def_of(const cJSON *f, const char *fname)
{
    const cJSON *time = cJSON_GetObjectItemCaseSensitive(f, "time");
    const cJSON *memory = cJSON_GetObjectItemCaseSensitive(f, "memory");
    const cJSON *current = cJSON_GetObjectItemCaseSensitive(f, "current");
    const char *name = member_str(f, "name"), *state = member_str(f, "state");
    struct snapshot_def *def;
    struct cerr e;

    if (name == NULL || state == NULL || !cJSON_IsNumber(time) || time->valuedouble < 0 ||
        time->valuedouble > 9e15 || !cJSON_IsBool(memory) || !cJSON_IsBool(current) ||
        strlen(fname) != strlen(name) + 4 || strncmp(fname, name, strlen(name)) != 0)
        return NULL;
    def = xcalloc(1, sizeof(*def));
    def->name = xstrdup(name);
    def->parent = dup_or_null(member_str(f, "parent"));
    def->description = dup_or_null(member_str(f, "description"));
    def->state = state_of(state);
    def->creation_time = (long long)time->valuedouble;
    def->memory_internal = cJSON_IsTrue(memory);
    def->current = cJSON_IsTrue(current);
    if (def->state == SNAPSHOT_STATE_NONE ||
        disks_of(cJSON_GetObjectItemCaseSensitive(f, "disks"), def) < 0 ||
        snapshot_def_check_storable(def, &e) < 0 ||
        (def->description != NULL && def->description[0] == '\0')) {
        snapshot_def_free(def);
        return NULL;
    }
    return def;
}

struct snapshot_def *snapshot_index_lookup(const struct snapshot_index *ix, const char *fname,
                                           const struct stat *st)
{
    struct index_entry key = {fname, NULL}, *hit;
    const char *stat_str;
    char want[128];

    if (ix == NULL || ix->n == 0)
        return NULL;
    hit = bsearch(&key, ix->v, ix->n, sizeof(*ix->v), cmp_entry);
    if (hit == NULL)
        return NULL;
    stat_key(st, want, sizeof(want));
    stat_str = member_str(hit->fields, "stat");
    if (stat_str == NULL || strcmp(stat_str, want) != 0)
        return NULL;
    return def_of(hit->fields, fname);
}

static cJSON *entry_json(const struct snapshot_def *def, const char *stat_str)
{
    cJSON *o = json_obj(), *disks = json_arr();

    json_add_str(o, "stat", stat_str);
    json_add_str(o, "name", def->name);
    json_add_str(o, "parent", def->parent);
    json_add_str(o, "description", def->description);
    json_add_str(o, "state", snapshot_state_name(def->state));
    json_add_num(o, "time", (double)def->creation_time);
    json_add_bool(o, "memory", def->memory_internal);
    json_add_bool(o, "current", def->current);
    for (size_t i = 0; i < def->ndisks; i++) {
        cJSON *d = json_obj();
        json_add_str(d, "name", def->disks[i].name);
        json_add_bool(d, "internal", def->disks[i].internal);
        json_arr_add(disks, d);
    }
    json_add(o, "disks", disks);
    return o;
}

int snapshot_index_write(const char *dir, const struct snapshot_def *const *defs, size_t n,
                         struct cerr *e)
{
    char *path = xasprintf("%s/" SNAPSHOT_INDEX_FILE, dir);
    cJSON *doc = json_obj(), *files = json_arr();
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = -1;

    json_add_num(doc, "version", INDEX_VERSION);
    json_add(doc, "files", files);
    if (dfd < 0) {
        cerr_set(e, CE_SYSTEM, "cannot open snapshot directory %s: %s", dir, strerror(errno));
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        char *fname = xasprintf("%s.xml", defs[i]->name);
        struct stat st;

        if (fstatat(dfd, fname, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode)) {
            char key[128];
            cJSON *entry;

            stat_key(&st, key, sizeof(key));
            entry = entry_json(defs[i], key);
            json_add_str(entry, "file", fname);
            json_arr_add(files, entry);
        }
        free(fname);
    }
    rc = json_write_file(path, doc, 0600, e);
    close(dfd);
out:
    cJSON_Delete(doc);
    free(path);
    return rc;
}

int snapshot_index_remove(const char *dir, struct cerr *e)
{
    char *path = xasprintf("%s/" SNAPSHOT_INDEX_FILE, dir);
    /* Not synced: a cache that comes back is checked against the files. */
    int rc = file_remove_unsynced(path, e);

    free(path);
    return rc;
}
