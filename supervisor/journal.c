/* Durable journal of inconsistency reports: see supervisor/journal.h. */
#include "supervisor/journal.h"

#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileutil.h"
#include "common/log.h"
#include "common/json.h"

#define SEQ_DIGITS 20
#define ENTRY_SUFFIX ".json"
#define CORRUPT_SUFFIX ".corrupt"
#define BATCH_SUFFIX ".batch.json"
#define SEQ_FILE ".seq"
/* ".seq" holds at most 20 digits and a newline. */
#define SEQ_FILE_MAX 64

/* Most entries in one batch file, which bounds what load reads at once. */
#define BATCH_MAX_ENTRIES 1000
#define BATCH_MAX_BYTES ((size_t)BATCH_MAX_ENTRIES * JOURNAL_MAX_ENTRY_BYTES)

/* A batch file, FIRST.batch.json: its pending entries are those numbered
 * first..last; it goes once none is left. */
struct batch {
    long long first, last;
    int total, left;
};

struct journal {
    char *dir;
    /* Pending entries in increasing seq order. */
    cJSON *pending;
    int count;
    /* Highest sequence number assigned so far, on disk or in memory. */
    long long last_seq;
    /* In increasing order of first; the ranges do not overlap. */
    struct batch *batches;
    size_t nbatches, capbatches;
};

struct loaded {
    long long seq;
    cJSON *entry;
};

static char *entry_path(const struct journal *j, long long seq)
{
    return xasprintf("%s/%0*lld" ENTRY_SUFFIX, j->dir, SEQ_DIGITS, seq);
}

static char *batch_path(const struct journal *j, long long first)
{
    return xasprintf("%s/%0*lld" BATCH_SUFFIX, j->dir, SEQ_DIGITS, first);
}

static void batch_add(struct journal *j, long long first, long long last, int n)
{
    size_t i = j->nbatches;

    if (j->nbatches == j->capbatches) {
        j->capbatches = j->capbatches ? j->capbatches * 2 : 8;
        j->batches = xreallocarray(j->batches, j->capbatches, sizeof(*j->batches));
    }
    while (i > 0 && j->batches[i - 1].first > first) {
        j->batches[i] = j->batches[i - 1];
        i--;
    }
    j->batches[i] = (struct batch){first, last, n, n};
    j->nbatches++;
}

/* The batch holding entry seq, or NULL for an entry with a file of its
 * own. */
static struct batch *batch_of(struct journal *j, long long seq)
{
    size_t lo = 0, hi = j->nbatches;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (j->batches[mid].last < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < j->nbatches && j->batches[lo].first <= seq ? &j->batches[lo] : NULL;
}

/* Parses exactly SEQ_DIGITS digits at the start of s into 1..JOURNAL_SEQ_MAX;
 * -1 otherwise. */
static long long parse_seq_prefix(const char *s)
{
    long long v = 0;

    for (int i = 0; i < SEQ_DIGITS; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        if (v > JOURNAL_SEQ_MAX / 10)
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v >= 1 && v <= JOURNAL_SEQ_MAX ? v : -1;
}

static bool has_seq_prefix(const char *name)
{
    for (int i = 0; i < SEQ_DIGITS; i++)
        if (name[i] < '0' || name[i] > '9')
            return false;
    return true;
}

/* Reads DIR/.seq into *out (0 when it does not exist). */
static int read_seq_file(const struct journal *j, long long *out, struct cerr *e)
{
    char *path = xasprintf("%s/" SEQ_FILE, j->dir);
    char *buf, *end;
    size_t len;
    long long v;
    int rc = -1;

    *out = 0;
    if (!path_exists(path)) {
        free(path);
        return 0;
    }
    buf = file_read_all(path, SEQ_FILE_MAX, &len, e);
    if (buf == NULL)
        goto out;
    errno = 0;
    v = strtoll(buf, &end, 10);
    if (end == buf || buf[0] < '0' || buf[0] > '9' || errno != 0 ||
        (*end != '\0' && strcmp(end, "\n") != 0) || v < 0 || v > JOURNAL_SEQ_MAX) {
        cerr_set(e, CE_SYSTEM,
                 "%s is corrupt (not a sequence number): remove it only after making sure "
                 "the broker will not confuse old report numbers with new ones",
                 path);
        free(buf);
        goto out;
    }
    free(buf);
    *out = v;
    rc = 0;
out:
    free(path);
    return rc;
}

/* Sets a file that does not load aside so that it is not retried forever. */
static void set_aside(const char *path, const char *why)
{
    char *dest = xasprintf("%s" CORRUPT_SUFFIX, path);

    if (rename(path, dest) < 0)
        log_warn("journal entry %s does not load (%s) and cannot be renamed to %s: %s", path, why,
                 dest, strerror(errno));
    else
        log_warn("journal entry %s does not load (%s): renamed to %s", path, why, dest);
    free(dest);
}

/* Loads one entry file; NULL when it does not parse or is not an entry for
 * seq (the caller sets it aside), with *fatal set when the failure is not
 * the file's content but reading it. */
static cJSON *load_entry(const char *path, long long seq, bool *fatal, struct cerr *e)
{
    struct cerr pe;
    size_t len;
    char *buf;
    cJSON *entry, *s;

    *fatal = false;
    cerr_clear(&pe);
    buf = file_read_all(path, JOURNAL_MAX_ENTRY_BYTES, &len, &pe);
    if (buf == NULL) {
        if (pe.code != CE_TOO_LARGE) {
            *fatal = true;
            *e = pe;
            return NULL;
        }
        set_aside(path, pe.msg);
        return NULL;
    }
    entry = json_parse(buf, len, &pe);
    free(buf);
    if (entry == NULL) {
        set_aside(path, pe.msg);
        return NULL;
    }
    s = cJSON_GetObjectItemCaseSensitive(entry, "seq");
    if (!cJSON_IsObject(entry) || !cJSON_IsNumber(s) || s->valuedouble != (double)seq) {
        set_aside(path, "not an object whose \"seq\" matches the file name");
        cJSON_Delete(entry);
        return NULL;
    }
    return entry;
}

struct loaded_list {
    struct loaded *v;
    size_t n, cap;
};

static void loaded_add(struct loaded_list *l, long long seq, cJSON *entry)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->v = xreallocarray(l->v, l->cap, sizeof(*l->v));
    }
    l->v[l->n].seq = seq;
    l->v[l->n].entry = entry;
    l->n++;
}

/* Checks the lines of a batch file named first: objects whose "seq" grows
 * from first on.  Returns the entries as a JSON array (the caller's) or
 * NULL with why. */
static cJSON *parse_batch(char *buf, long long first, const char **why)
{
    cJSON *entries = json_arr();
    long long prev = first - 1;

    for (char *line = buf, *end; *line != '\0'; line = end + 1) {
        struct cerr pe;
        cJSON *entry, *s;

        end = strchr(line, '\n');
        if (end == NULL) {
            *why = "its last line is cut short";
            goto bad;
        }
        *end = '\0';
        entry = json_parse(line, (size_t)(end - line), &pe);
        s = cJSON_GetObjectItemCaseSensitive(entry, "seq");
        if (!cJSON_IsObject(entry) || !cJSON_IsNumber(s) || s->valuedouble <= (double)prev ||
            s->valuedouble > (double)JOURNAL_SEQ_MAX) {
            cJSON_Delete(entry);
            *why = "a line is not an object whose \"seq\" follows the one before";
            goto bad;
        }
        prev = (long long)s->valuedouble;
        json_arr_add(entries, entry);
    }
    if (cJSON_GetArraySize(entries) == 0) {
        *why = "it holds no entry";
        goto bad;
    }
    return entries;
bad:
    cJSON_Delete(entries);
    return NULL;
}

/* Loads batch file path, named first, into l; a file that does not load
 * is set aside.  -1 with e set when reading it failed. */
static int load_batch(struct journal *j, const char *path, long long first, struct loaded_list *l,
                      struct cerr *e)
{
    const char *why = NULL;
    struct cerr pe;
    cJSON *entries, *entry;
    size_t len;
    char *buf;
    int n = 0;

    cerr_clear(&pe);
    buf = file_read_all(path, BATCH_MAX_BYTES, &len, &pe);
    if (buf == NULL) {
        if (pe.code != CE_TOO_LARGE) {
            *e = pe;
            return -1;
        }
        set_aside(path, pe.msg);
        return 0;
    }
    entries = parse_batch(buf, first, &why);
    free(buf);
    if (entries == NULL) {
        set_aside(path, why);
        return 0;
    }
    while ((entry = cJSON_DetachItemFromArray(entries, 0)) != NULL) {
        long long seq = (long long)cJSON_GetObjectItemCaseSensitive(entry, "seq")->valuedouble;

        loaded_add(l, seq, entry);
        if (seq > j->last_seq)
            j->last_seq = seq;
        n++;
    }
    batch_add(j, first, l->v[l->n - 1].seq, n);
    cJSON_Delete(entries);
    return 0;
}

static int cmp_loaded(const void *a, const void *b)
{
    long long x = ((const struct loaded *)a)->seq, y = ((const struct loaded *)b)->seq;

    return (x > y) - (x < y);
}

/* Reads the names in dir (except "." and ".."), so that the caller can
 * rename and remove files without disturbing readdir. */
static char **list_dir(const char *dir, size_t *n, struct cerr *e)
{
    DIR *d = opendir(dir);
    char **names = NULL;
    size_t cap = 0;
    struct dirent *de;

    *n = 0;
    if (d == NULL) {
        cerr_set(e, CE_SYSTEM, "cannot open journal directory %s: %s", dir, strerror(errno));
        return NULL;
    }
    for (;;) {
        errno = 0;
        de = readdir(d);
        if (de == NULL)
            break;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            names = xreallocarray(names, cap, sizeof(*names));
        }
        names[(*n)++] = xstrdup(de->d_name);
    }
    if (errno != 0) {
        cerr_set(e, CE_SYSTEM, "cannot read journal directory %s: %s", dir, strerror(errno));
        closedir(d);
        for (size_t i = 0; i < *n; i++)
            free(names[i]);
        free(names);
        *n = 0;
        return NULL;
    }
    closedir(d);
    if (names == NULL)
        names = xcalloc(1, sizeof(*names));
    return names;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

static int load_dir(struct journal *j, struct cerr *e)
{
    size_t nnames;
    char **names = list_dir(j->dir, &nnames, e);
    struct loaded_list l = {0};
    int rc = -1;

    if (names == NULL)
        return -1;
    for (size_t i = 0; i < nnames; i++) {
        const char *name = names[i];
        char *path = xasprintf("%s/%s", j->dir, name);
        struct stat st;
        long long seq;
        bool fatal;

        if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
            /* Vanished, or not ours (a directory, a symlink): leave it. */
            free(path);
            continue;
        }
        if (strstr(name, ".tmp.") != NULL) {
            /* A file_write_atomic interrupted before its rename: the old
             * content (or no file) is what counts. */
            if (unlink(path) < 0 && errno != ENOENT)
                log_warn("cannot remove journal leftover %s: %s", path, strerror(errno));
            else
                log_info("removed journal leftover %s", path);
            free(path);
            continue;
        }
        if (name[0] == '.' || !has_seq_prefix(name)) {
            free(path);
            continue;
        }
        seq = parse_seq_prefix(name);
        if (seq > 0 && strcmp(name + SEQ_DIGITS, BATCH_SUFFIX) == 0) {
            int brc = load_batch(j, path, seq, &l, e);

            free(path);
            if (brc < 0)
                goto out;
        } else if (strcmp(name + SEQ_DIGITS, ENTRY_SUFFIX) == 0) {
            if (seq < 0) {
                set_aside(path, "sequence number out of range");
                free(path);
                continue;
            }
            /* Even an entry that does not load used its number. */
            if (seq > j->last_seq)
                j->last_seq = seq;
            cJSON *entry = load_entry(path, seq, &fatal, e);
            free(path);
            if (entry == NULL) {
                if (fatal)
                    goto out;
                continue;
            }
            loaded_add(&l, seq, entry);
        } else {
            /* NAME.corrupt from an earlier run: its number stays used. */
            if (seq > j->last_seq && (strcmp(name + SEQ_DIGITS, ENTRY_SUFFIX CORRUPT_SUFFIX) == 0 ||
                                      strcmp(name + SEQ_DIGITS, BATCH_SUFFIX CORRUPT_SUFFIX) == 0))
                j->last_seq = seq;
            free(path);
        }
    }
    if (l.n > 0)
        qsort(l.v, l.n, sizeof(*l.v), cmp_loaded);
    for (size_t i = 0; i < l.n; i++) {
        json_arr_add(j->pending, l.v[i].entry);
        l.v[i].entry = NULL;
    }
    j->count = (int)l.n;
    rc = 0;
out:
    for (size_t i = 0; i < l.n; i++)
        cJSON_Delete(l.v[i].entry);
    free(l.v);
    free_names(names, nnames);
    return rc;
}

struct journal *journal_open(const char *dir, struct cerr *e)
{
    struct journal *j;
    struct stat st;
    bool existed = path_exists(dir);
    long long seq_file;

    if (!existed && mkdir_p(dir, 0700, e) < 0)
        return NULL;
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        cerr_set(e, CE_SYSTEM, "journal directory %s is not a directory", dir);
        return NULL;
    }
    if (!existed) {
        /* Make the new directory's own name durable: file_write_atomic only
         * syncs the directory an entry is in. */
        char *parent = xstrdup(dir);
        int rc = dir_fsync(dirname(parent), e);

        free(parent);
        if (rc < 0)
            return NULL;
    }
    j = xcalloc(1, sizeof(*j));
    j->dir = xstrdup(dir);
    j->pending = json_arr();
    if (read_seq_file(j, &seq_file, e) < 0) {
        journal_free(j);
        return NULL;
    }
    j->last_seq = seq_file;
    if (load_dir(j, e) < 0) {
        journal_free(j);
        return NULL;
    }
    if (j->count > 0)
        log_info("journal %s: %d pending reports, last sequence number %lld", dir, j->count,
                 j->last_seq);
    return j;
}

/* A copy of report with "seq" set (the caller owns it), and its text, one
 * line, in *text (cJSON_free it); NULL with e set. */
static cJSON *make_entry(const struct journal *j, const cJSON *report, long long seq, char **text,
                         size_t *len, struct cerr *e)
{
    cJSON *entry;

    if (!cJSON_IsObject(report)) {
        cerr_set(e, CE_INVALID_PARAMS, "a journal report must be a JSON object");
        return NULL;
    }
    if (seq > JOURNAL_SEQ_MAX) {
        cerr_set(e, CE_SYSTEM, "journal %s has run out of sequence numbers", j->dir);
        return NULL;
    }
    entry = json_dup(report);
    cJSON_DeleteItemFromObjectCaseSensitive(entry, "seq");
    json_add_num(entry, "seq", (double)seq);
    *text = cJSON_PrintUnformatted(entry);
    if (*text == NULL) {
        cerr_set(e, CE_SYSTEM, "out of memory serializing a journal report");
        cJSON_Delete(entry);
        return NULL;
    }
    *len = strlen(*text);
    if (*len + 1 > JOURNAL_MAX_ENTRY_BYTES) {
        cerr_set(e, CE_TOO_LARGE, "report of %zu bytes exceeds the journal limit of %d bytes",
                 *len + 1, JOURNAL_MAX_ENTRY_BYTES);
        cJSON_free(*text);
        cJSON_Delete(entry);
        return NULL;
    }
    (*text)[(*len)++] = '\n'; /* replaces the NUL: the length is known */
    return entry;
}

/* .seq first, then the entries.  After a crash between the two, .seq covers
 * numbers that have no entry: a harmless gap.  The other order could leave
 * entry N on disk with .seq still at N-1; the broker then acknowledges N,
 * the file is deleted, and after the next restart N is handed out again for
 * a different report, which the broker may take for the one it already has.
 * So .seq is always >= every number that has ever been on disk. */
static int write_seq(const struct journal *j, long long seq, struct cerr *e)
{
    char *seqpath = xasprintf("%s/" SEQ_FILE, j->dir), seqbuf[32];
    int n = snprintf(seqbuf, sizeof(seqbuf), "%lld\n", seq);
    int rc = file_write_atomic(seqpath, seqbuf, (size_t)n, 0600, e);

    free(seqpath);
    return rc;
}

/* Stores the n files paths[] (texts[] of lens[] bytes): one with
 * file_write_atomic, more with file_write_many (one sync for all). */
static int write_files(size_t n, char **paths, char **texts, const size_t *lens, struct cerr *e)
{
    if (n == 1 && file_write_atomic(paths[0], texts[0], lens[0], 0600, e) < 0) {
        /* The rename may have happened before a failing directory fsync:
         * take the file back so that "nothing was stored" holds.  The
         * numbers are not reused on disk (.seq already covers them), only
         * in memory, and the file name is the same, so no two entries can
         * ever share one. */
        unlink(paths[0]);
        return -1;
    }
    return n == 1 ? 0 : file_write_many(n, paths, texts, lens, 0600, e);
}

/* Stores the n entries numbered first.. (texts[], one line each): one in a
 * file of its own, more as batch files of up to BATCH_MAX_ENTRIES lines.  A
 * thousand files cost a thousand creations and renames where one batch
 * file costs one, for the same syncs. */
static int write_entries(struct journal *j, long long first, size_t n, char **texts,
                         const size_t *lens, struct cerr *e)
{
    size_t nfiles = n == 1 ? 1 : (n + BATCH_MAX_ENTRIES - 1) / BATCH_MAX_ENTRIES;
    char **paths = xcalloc(nfiles, sizeof(*paths)), **bufs = xcalloc(nfiles, sizeof(*bufs));
    size_t *blens = xcalloc(nfiles, sizeof(*blens));
    int rc;

    if (n == 1) {
        paths[0] = entry_path(j, first);
        rc = write_files(1, paths, texts, lens, e);
    } else {
        for (size_t f = 0; f < nfiles; f++) {
            size_t from = f * BATCH_MAX_ENTRIES, to = from + BATCH_MAX_ENTRIES, len = 0;

            if (to > n)
                to = n;
            for (size_t i = from; i < to; i++)
                len += lens[i];
            paths[f] = batch_path(j, first + (long long)from);
            bufs[f] = xcalloc(1, len + 1);
            for (size_t i = from; i < to; i++) {
                memcpy(bufs[f] + blens[f], texts[i], lens[i]);
                blens[f] += lens[i];
            }
        }
        rc = write_files(nfiles, paths, bufs, blens, e);
        for (size_t f = 0; rc == 0 && f < nfiles; f++) {
            size_t from = f * BATCH_MAX_ENTRIES, to = from + BATCH_MAX_ENTRIES;

            if (to > n)
                to = n;
            batch_add(j, first + (long long)from, first + (long long)to - 1, (int)(to - from));
        }
    }
    for (size_t f = 0; f < nfiles; f++) {
        free(paths[f]);
        free(bufs[f]);
    }
    free(paths);
    free(bufs);
    free(blens);
    return rc;
}

long long journal_append_many(struct journal *j, const cJSON *reports, struct cerr *e)
{
    size_t n = (size_t)cJSON_GetArraySize(reports), made = 0;
    long long first = j->last_seq + 1;
    cJSON **entries = xcalloc(n ? n : 1, sizeof(*entries));
    char **texts = xcalloc(n ? n : 1, sizeof(*texts));
    size_t *lens = xcalloc(n ? n : 1, sizeof(*lens));
    const cJSON *r;
    long long rc = -1;

    if (n == 0) {
        cerr_set(e, CE_INVALID_PARAMS, "no report to journal in %s", j->dir);
        goto out;
    }
    if ((size_t)j->count + n > JOURNAL_MAX_ENTRIES) {
        cerr_set(e, CE_SYSTEM,
                 "journal %s is full: %d reports are waiting for the broker to acknowledge them",
                 j->dir, j->count);
        goto out;
    }
    cJSON_ArrayForEach(r, reports)
    {
        entries[made] = make_entry(j, r, first + (long long)made, &texts[made], &lens[made], e);
        if (entries[made] == NULL)
            goto out;
        made++;
    }
    if (write_seq(j, first + (long long)n - 1, e) < 0 ||
        write_entries(j, first, n, texts, lens, e) < 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        json_arr_add(j->pending, entries[i]);
        entries[i] = NULL;
    }
    j->count += (int)n;
    j->last_seq = first + (long long)n - 1;
    rc = first;
out:
    for (size_t i = 0; i < made; i++) {
        cJSON_Delete(entries[i]);
        cJSON_free(texts[i]);
    }
    free(entries);
    free(texts);
    free(lens);
    return rc;
}

long long journal_append(struct journal *j, const cJSON *report, struct cerr *e)
{
    cJSON *one = json_arr();
    long long seq;

    json_arr_add(one, json_dup(report));
    seq = journal_append_many(j, one, e);
    cJSON_Delete(one);
    return seq;
}

const cJSON *journal_pending(const struct journal *j)
{
    return j->pending;
}

int journal_count(const struct journal *j)
{
    return j->count;
}

const char *journal_dir(const struct journal *j)
{
    return j->dir;
}

int journal_ack(struct journal *j, long long seq, struct cerr *e)
{
    cJSON *item;
    int idx = 0;

    cJSON_ArrayForEach(item, j->pending)
    {
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(item, "seq");

        if (cJSON_IsNumber(s) && s->valuedouble == (double)seq)
            break;
        idx++;
    }
    if (item == NULL) {
        log_debug("journal %s: sequence number %lld is not pending (already acknowledged?)", j->dir,
                  seq);
        return 0;
    }
    struct batch *bt = batch_of(j, seq);
    /* A batch file goes with its last pending entry. */
    char *path = bt == NULL ? entry_path(j, seq) : bt->left == 1 ? batch_path(j, bt->first) : NULL;

    /* Not synced: an entry a crash brings back is sent again, and the
     * broker only acknowledges a report it already holds.  A sync per
     * acknowledgement made a burst of reports cost one fsync each. */
    if (path != NULL && unlink(path) < 0 && errno != ENOENT) {
        cerr_set(e, CE_SYSTEM, "cannot remove %s: %s", path, strerror(errno));
        free(path);
        return -1;
    }
    free(path);
    if (bt != NULL && --bt->left == 0) {
        size_t i = (size_t)(bt - j->batches);

        memmove(bt, bt + 1, (j->nbatches - i - 1) * sizeof(*bt));
        j->nbatches--;
    }
    cJSON_DeleteItemFromArray(j->pending, idx);
    j->count--;
    return 0;
}

/* Rewrites a batch file some of whose entries were acknowledged with the
 * others only, so that a journal reopened after a clean stop does not send
 * the acknowledged ones again (after a crash it may: see journal_ack). */
static void compact_batch(const struct journal *j, const struct batch *bt)
{
    char *path = batch_path(j, bt->first), *text;
    size_t len = 0, cap = 4096;
    const cJSON *item;
    struct cerr e;

    text = xcalloc(1, cap);
    cJSON_ArrayForEach(item, j->pending)
    {
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(item, "seq");
        char *line;
        size_t n;

        if (!cJSON_IsNumber(s) || s->valuedouble < (double)bt->first ||
            s->valuedouble > (double)bt->last)
            continue;
        line = cJSON_PrintUnformatted(item);
        if (line == NULL)
            goto out; /* out of memory: the old file stays, and is resent */
        n = strlen(line);
        while (len + n + 2 > cap) {
            cap *= 2;
            text = xreallocarray(text, cap, 1);
        }
        memcpy(text + len, line, n);
        len += n;
        text[len++] = '\n';
        cJSON_free(line);
    }
    if (file_write_atomic(path, text, len, 0600, &e) < 0)
        log_warn_code(cerr_name(e.code),
                      "journal %s: cannot drop acknowledged reports from %s (they will be sent "
                      "again): %s",
                      j->dir, path, e.msg);
out:
    free(text);
    free(path);
}

void journal_free(struct journal *j)
{
    if (j == NULL)
        return;
    for (size_t i = 0; i < j->nbatches; i++) {
        if (j->batches[i].left < j->batches[i].total)
            compact_batch(j, &j->batches[i]);
    }
    cJSON_Delete(j->pending);
    free(j->batches);
    free(j->dir);
    free(j);
}
