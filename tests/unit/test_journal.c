/* journal: durable inconsistency reports waiting for the broker. */
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileutil.h"
#include "common/log.h"
#include "common/json.h"
#include "supervisor/journal.h"
#include "tests/unit/unit.h"

/* A fresh directory; the journal lives in a subdirectory that journal_open
 * must create. */
static char *tmpdir(void)
{
    char tmpl[] = "/tmp/corral-journal-XXXXXX";

    if (mkdtemp(tmpl) == NULL) {
        perror("mkdtemp");
        abort();
    }
    return xstrdup(tmpl);
}

static void cleanup(char *top)
{
    struct cerr e;

    cerr_clear(&e);
    if (rm_rf(top, &e) < 0)
        printf("# cannot remove %s: %s\n", top, e.msg);
    free(top);
}

static cJSON *report(const char *snapshot, int n)
{
    cJSON *r = json_obj();

    json_add_str(r, "kind", "snapshot-disk-mismatch");
    json_add_str(r, "snapshot", snapshot);
    json_add_num(r, "n", n);
    return r;
}

static long long append_one(struct journal *j, const char *snapshot, int n, struct cerr *e)
{
    cJSON *r = report(snapshot, n);
    long long seq = journal_append(j, r, e);

    cJSON_Delete(r);
    return seq;
}

static long long item_seq(const cJSON *item)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(item, "seq");

    return cJSON_IsNumber(s) ? (long long)s->valuedouble : -1;
}

static long long pending_seq(const struct journal *j, int i)
{
    return item_seq(cJSON_GetArrayItem(journal_pending(j), i));
}

static const char *pending_str(const struct journal *j, int i, const char *key)
{
    const cJSON *v =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(journal_pending(j), i), key);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Number of names in dir, "." and ".." excepted, that end with suffix (all
 * when suffix is ""). */
static int count_files(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    size_t sl = strlen(suffix);
    int n = 0;

    if (d == NULL)
        return -1;
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);

        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (l >= sl && strcmp(de->d_name + l - sl, suffix) == 0)
            n++;
    }
    closedir(d);
    return n;
}

static bool write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    if (f == NULL)
        return false;
    fputs(text, f);
    return fclose(f) == 0;
}

static void test_round_trip(void)
{
    char *top = tmpdir();
    char *dir = xasprintf("%s/vms/vm1/journal", top);
    struct cerr e;
    struct journal *j;
    struct stat st;
    long long s1, s2, s3;

    cerr_clear(&e);
    j = journal_open(dir, &e);
    EXPECT(j != NULL);
    EXPECT(stat(dir, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700);
    EXPECT(journal_count(j) == 0);
    EXPECT(cJSON_GetArraySize(journal_pending(j)) == 0);
    s1 = append_one(j, "s1", 1, &e);
    s2 = append_one(j, "s2", 2, &e);
    s3 = append_one(j, "s3", 3, &e);
    EXPECT(s1 == 1 && s2 == 2 && s3 == 3);
    EXPECT(journal_count(j) == 3);
    EXPECT(pending_seq(j, 0) == 1 && pending_seq(j, 2) == 3);
    EXPECT_STR(pending_str(j, 1, "snapshot"), "s2");
    EXPECT(journal_ack(j, s2, &e) == 0);
    EXPECT(journal_count(j) == 2);
    EXPECT(count_files(dir, ".json") == 2);
    journal_free(j);

    j = journal_open(dir, &e);
    EXPECT(j != NULL);
    EXPECT(journal_count(j) == 2);
    EXPECT(pending_seq(j, 0) == s1 && pending_seq(j, 1) == s3);
    EXPECT_STR(pending_str(j, 0, "snapshot"), "s1");
    EXPECT_STR(pending_str(j, 0, "kind"), "snapshot-disk-mismatch");
    EXPECT_STR(pending_str(j, 1, "snapshot"), "s3");
    EXPECT(append_one(j, "s4", 4, &e) == 4);
    journal_free(j);
    cleanup(top);
    free(dir);
}

/* The caller's "seq" member is replaced and the caller's object untouched. */
static void test_seq_member_replaced(void)
{
    char *top = tmpdir();
    struct cerr e;
    struct journal *j;
    cJSON *r = report("s1", 1);

    cerr_clear(&e);
    json_add_num(r, "seq", 999);
    j = journal_open(top, &e);
    EXPECT(j != NULL);
    EXPECT(journal_append(j, r, &e) == 1);
    EXPECT(item_seq(r) == 999);
    EXPECT(pending_seq(j, 0) == 1);
    EXPECT(cJSON_GetArraySize(cJSON_GetArrayItem(journal_pending(j), 0)) == 4);
    cJSON_Delete(r);
    journal_free(j);
    cleanup(top);
}

static void test_seq_never_goes_backwards(void)
{
    char *top = tmpdir();
    struct cerr e;
    struct journal *j;
    long long last = 0;

    cerr_clear(&e);
    j = journal_open(top, &e);
    EXPECT(j != NULL);
    for (int i = 0; i < 5; i++)
        last = append_one(j, "s", i, &e);
    EXPECT(last == 5);
    for (long long s = 1; s <= 5; s++)
        EXPECT(journal_ack(j, s, &e) == 0);
    EXPECT(journal_count(j) == 0);
    EXPECT(count_files(top, ".json") == 0);
    journal_free(j);

    j = journal_open(top, &e);
    EXPECT(j != NULL);
    EXPECT(journal_count(j) == 0);
    EXPECT(append_one(j, "s", 6, &e) == 6);
    journal_free(j);
    cleanup(top);
}

static void test_crash_leftovers(void)
{
    char *top = tmpdir();
    char *tmp1 = xasprintf("%s/00000000000000000004.json.tmp.Ab12Cd", top);
    char *tmp2 = xasprintf("%s/.seq.tmp.Zz9yX8", top);
    char *entry2 = xasprintf("%s/00000000000000000002.json", top);
    char *corrupt2 = xasprintf("%s/00000000000000000002.json.corrupt", top);
    char *other = xasprintf("%s/README", top);
    struct cerr e;
    struct journal *j;

    cerr_clear(&e);
    j = journal_open(top, &e);
    EXPECT(j != NULL);
    for (int i = 1; i <= 3; i++)
        EXPECT(append_one(j, "s", i, &e) == i);
    journal_free(j);
    /* A crashed atomic write of entry 4 and of .seq, a truncated entry 2 and
     * a file that is none of the journal's business. */
    EXPECT(write_file(tmp1, "{\"seq\":4,\"kind\":\"x\"}\n"));
    EXPECT(write_file(tmp2, "4\n"));
    EXPECT(write_file(entry2, "{\"kind\":\"snapshot-disk-mis"));
    EXPECT(write_file(other, "hello"));

    j = journal_open(top, &e);
    EXPECT(j != NULL);
    EXPECT(!path_exists(tmp1));
    EXPECT(!path_exists(tmp2));
    EXPECT(!path_exists(entry2));
    EXPECT(path_exists(corrupt2));
    EXPECT(path_exists(other));
    EXPECT(journal_count(j) == 2);
    EXPECT(pending_seq(j, 0) == 1 && pending_seq(j, 1) == 3);
    /* The leftover's number was never assigned: .seq says 3. */
    EXPECT(append_one(j, "s", 4, &e) == 4);
    journal_free(j);

    /* The corrupt file is not retried. */
    j = journal_open(top, &e);
    EXPECT(j != NULL);
    EXPECT(journal_count(j) == 3);
    EXPECT(path_exists(corrupt2));
    EXPECT(count_files(top, ".corrupt") == 1);
    journal_free(j);
    cleanup(top);
    free(tmp1);
    free(tmp2);
    free(entry2);
    free(corrupt2);
    free(other);
}

/* Valid JSON that is not an entry for its file name is set aside too. */
static void test_mismatched_entry(void)
{
    char *top = tmpdir();
    char *p7 = xasprintf("%s/00000000000000000007.json", top);
    char *p8 = xasprintf("%s/00000000000000000008.json", top);
    char *p9 = xasprintf("%s/00000000000000000009.json", top);
    struct cerr e;
    struct journal *j;

    cerr_clear(&e);
    EXPECT(write_file(p7, "{\"seq\":7,\"kind\":\"ok\"}\n"));
    EXPECT(write_file(p8, "{\"seq\":3}\n"));
    EXPECT(write_file(p9, "[9]\n"));
    j = journal_open(top, &e);
    EXPECT(j != NULL);
    EXPECT(journal_count(j) == 1);
    EXPECT(pending_seq(j, 0) == 7);
    EXPECT(count_files(top, ".corrupt") == 2);
    /* Without .seq, the set-aside entries' numbers still count. */
    EXPECT(append_one(j, "s", 1, &e) == 10);
    journal_free(j);
    cleanup(top);
    free(p7);
    free(p8);
    free(p9);
}

static void test_ack_idempotent(void)
{
    char *top = tmpdir();
    struct cerr e;
    struct journal *j;

    cerr_clear(&e);
    j = journal_open(top, &e);
    EXPECT(j != NULL);
    EXPECT(append_one(j, "a", 1, &e) == 1);
    EXPECT(append_one(j, "b", 2, &e) == 2);
    EXPECT(journal_ack(j, 1, &e) == 0);
    EXPECT(journal_ack(j, 1, &e) == 0);
    EXPECT(journal_ack(j, 42, &e) == 0);
    EXPECT(journal_ack(j, 0, &e) == 0);
    EXPECT(journal_ack(j, -1, &e) == 0);
    EXPECT(e.code == CE_OK);
    EXPECT(journal_count(j) == 1);
    EXPECT(pending_seq(j, 0) == 2);
    journal_free(j);

    /* Across a restart too. */
    j = journal_open(top, &e);
    EXPECT(j != NULL);
    EXPECT(journal_ack(j, 1, &e) == 0);
    EXPECT(journal_ack(j, 2, &e) == 0);
    EXPECT(journal_ack(j, 2, &e) == 0);
    EXPECT(journal_count(j) == 0);
    EXPECT(count_files(top, ".json") == 0);
    journal_free(j);
    cleanup(top);
}

static void test_oversized_refused(void)
{
    char *top = tmpdir();
    char *big = xcalloc(JOURNAL_MAX_ENTRY_BYTES + 1, 1);
    struct cerr e;
    struct journal *j;
    cJSON *r;
    long long seq;

    cerr_clear(&e);
    memset(big, 'x', JOURNAL_MAX_ENTRY_BYTES);
    j = journal_open(top, &e);
    EXPECT(j != NULL);
    EXPECT(append_one(j, "a", 1, &e) == 1);
    r = report("big", 2);
    json_add_str(r, "detail", big);
    seq = journal_append(j, r, &e);
    cJSON_Delete(r);
    EXPECT(seq == -1);
    EXPECT(e.code == CE_TOO_LARGE);
    EXPECT(journal_count(j) == 1);
    /* Nothing on disk either: one entry and .seq. */
    EXPECT(count_files(top, "") == 2);
    cerr_clear(&e);
    EXPECT(append_one(j, "b", 3, &e) == 2);
    /* Just under the limit is fine. */
    r = report("edge", 4);
    big[JOURNAL_MAX_ENTRY_BYTES - 200] = '\0';
    json_add_str(r, "detail", big);
    seq = journal_append(j, r, &e);
    cJSON_Delete(r);
    EXPECT(seq == 3);
    journal_free(j);

    j = journal_open(top, &e);
    EXPECT(j != NULL);
    EXPECT(journal_count(j) == 3);
    EXPECT(strlen(pending_str(j, 2, "detail")) == JOURNAL_MAX_ENTRY_BYTES - 200);
    journal_free(j);
    free(big);
    cleanup(top);
}

static void test_non_object_refused(void)
{
    char *top = tmpdir();
    struct cerr e;
    struct journal *j;
    cJSON *s = json_str("oops");

    cerr_clear(&e);
    j = journal_open(top, &e);
    EXPECT(j != NULL);
    EXPECT(journal_append(j, s, &e) == -1);
    EXPECT(e.code == CE_INVALID_PARAMS);
    EXPECT(count_files(top, "") == 0);
    cJSON_Delete(s);
    journal_free(j);
    cleanup(top);
}

static void test_order_by_seq(void)
{
    char *top = tmpdir();
    struct cerr e;
    struct journal *j;

    cerr_clear(&e);
    j = journal_open(top, &e);
    EXPECT(j != NULL);
    for (int i = 1; i <= 25; i++)
        EXPECT(append_one(j, "s", i, &e) == i);
    EXPECT(journal_ack(j, 5, &e) == 0);
    journal_free(j);
    /* A hand-made entry far beyond the others, unpadded names would sort it
     * between 1 and 2. */
    {
        char *p = xasprintf("%s/00000000000000000100.json", top);
        bool ok = write_file(p, "{\"seq\":100}");

        free(p);
        EXPECT(ok);
    }

    j = journal_open(top, &e);
    EXPECT(j != NULL);
    EXPECT(journal_count(j) == 25);
    for (int i = 0; i < 25; i++) {
        long long want = i < 4 ? i + 1 : i < 24 ? i + 2 : 100;
        EXPECT(pending_seq(j, i) == want);
    }
    EXPECT(append_one(j, "s", 0, &e) == 101);
    EXPECT(pending_seq(j, 25) == 101);
    journal_free(j);
    cleanup(top);
}

/* A crash after .seq was written and before the entry was: the number is a
 * gap, never handed out twice. */
static void test_crash_between_seq_and_entry(void)
{
    char *top = tmpdir();
    char *seqpath = xasprintf("%s/.seq", top);
    struct cerr e;
    struct journal *j;

    cerr_clear(&e);
    j = journal_open(top, &e);
    EXPECT(j != NULL);
    EXPECT(append_one(j, "a", 1, &e) == 1);
    EXPECT(append_one(j, "b", 2, &e) == 2);
    journal_free(j);
    EXPECT(write_file(seqpath, "3\n"));

    j = journal_open(top, &e);
    EXPECT(j != NULL);
    EXPECT(journal_count(j) == 2);
    EXPECT(append_one(j, "c", 3, &e) == 4);
    /* Everything acknowledged, then the same crash again. */
    for (long long s = 1; s <= 4; s++)
        EXPECT(journal_ack(j, s, &e) == 0);
    journal_free(j);
    EXPECT(write_file(seqpath, "5\n"));

    j = journal_open(top, &e);
    EXPECT(j != NULL);
    EXPECT(journal_count(j) == 0);
    EXPECT(append_one(j, "d", 4, &e) == 6);
    journal_free(j);
    free(seqpath);
    cleanup(top);
}

static void test_corrupt_seq_file(void)
{
    char *top = tmpdir();
    char *seqpath = xasprintf("%s/.seq", top);
    struct cerr e;
    struct journal *j;

    cerr_clear(&e);
    EXPECT(write_file(seqpath, "12x\n"));
    j = journal_open(top, &e);
    EXPECT(j == NULL);
    EXPECT(e.code == CE_SYSTEM);
    EXPECT_CONTAINS(e.msg, seqpath);
    free(seqpath);
    cleanup(top);
}

/* The last numbers are written as they are and read back (fuzz_journal:
 * 9007199254740992 was written as 9.00719925474099e+15 and the entry set
 * aside); past the last, nothing is stored. */
static void test_last_numbers(void)
{
    char *top = tmpdir();
    char *seqpath = xasprintf("%s/.seq", top);
    char *text = xasprintf("%lld\n", JOURNAL_SEQ_MAX - 1);
    struct cerr e;
    struct journal *j;

    cerr_clear(&e);
    EXPECT(write_file(seqpath, text));
    j = journal_open(top, &e);
    EXPECT(j != NULL);
    EXPECT(append_one(j, "a", 1, &e) == JOURNAL_SEQ_MAX);
    EXPECT(append_one(j, "b", 2, &e) == -1);
    journal_free(j);
    j = journal_open(top, &e);
    EXPECT(j != NULL && journal_count(j) == 1);
    EXPECT(j != NULL && pending_seq(j, 0) == JOURNAL_SEQ_MAX);
    journal_free(j);
    free(text);
    free(seqpath);
    cleanup(top);
}

static void test_full(void)
{
    char *top = tmpdir();
    char *dir = xasprintf("%s/vms/vm1/journal", top);
    struct cerr e;
    struct journal *j;
    struct stat st;

    cerr_clear(&e);
    EXPECT(mkdir_p(dir, 0700, &e) == 0);
    /* Filled by hand: 10000 durable appends would be slow. */
    for (int i = 1; i <= JOURNAL_MAX_ENTRIES; i++) {
        char *p = xasprintf("%s/%020d.json", dir, i);
        char *text = xasprintf("{\"seq\":%d}", i);
        bool ok = write_file(p, text);

        free(p);
        free(text);
        EXPECT(ok);
    }
    j = journal_open(dir, &e);
    EXPECT(j != NULL);
    EXPECT(journal_count(j) == JOURNAL_MAX_ENTRIES);
    EXPECT(append_one(j, "s", 1, &e) == -1);
    EXPECT(e.code == CE_SYSTEM);
    EXPECT_CONTAINS(e.msg, dir);
    EXPECT_CONTAINS(e.msg, "full");
    EXPECT(stat(dir, &st) == 0);
    EXPECT(count_files(dir, "") == JOURNAL_MAX_ENTRIES);
    /* Acknowledging one makes room again. */
    cerr_clear(&e);
    EXPECT(journal_ack(j, 1, &e) == 0);
    EXPECT(append_one(j, "s", 2, &e) == JOURNAL_MAX_ENTRIES + 1);
    EXPECT(append_one(j, "s", 3, &e) == -1);
    journal_free(j);
    free(dir);
    cleanup(top);
}

/* A batch takes consecutive numbers with one sync and loads back like
 * single appends; a batch with one bad report stores nothing and consumes
 * no number; a batch that would overfill the journal is refused whole. */
static void test_batch(void)
{
    char *top = tmpdir();
    char *dir = xasprintf("%s/vms/vm1/journal", top);
    cJSON *batch = json_arr();
    struct cerr e;
    struct journal *j;

    cerr_clear(&e);
    j = journal_open(dir, &e);
    EXPECT(j != NULL);
    EXPECT(append_one(j, "s0", 0, &e) == 1);
    for (int i = 1; i <= 3; i++)
        json_arr_add(batch, report("b", i));
    EXPECT(journal_append_many(j, batch, &e) == 2);
    EXPECT(journal_count(j) == 4);
    EXPECT(pending_seq(j, 1) == 2 && pending_seq(j, 3) == 4);
    /* The three share one file. */
    EXPECT(count_files(dir, ".json") == 2 && count_files(dir, ".batch.json") == 1);
    EXPECT(count_files(dir, "") == 3); /* and .seq; no temporary file left */
    json_arr_add(batch, json_str("not an object"));
    EXPECT(journal_append_many(j, batch, &e) == -1);
    EXPECT(e.code == CE_INVALID_PARAMS);
    EXPECT(journal_count(j) == 4 && count_files(dir, ".json") == 2 && count_files(dir, "") == 3);
    cJSON_Delete(cJSON_DetachItemFromArray(batch, 3));
    journal_free(j);

    j = journal_open(dir, &e);
    EXPECT(j != NULL);
    EXPECT(journal_count(j) == 4);
    EXPECT(pending_seq(j, 3) == 4);
    EXPECT(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(journal_pending(j), 3), "n")
               ->valuedouble == 3);
    EXPECT(journal_append_many(j, batch, &e) == 5);
    EXPECT(journal_count(j) == 7);
    journal_free(j);
    cJSON_Delete(batch);
    free(dir);
    cleanup(top);
}

/* A batch file stays while one of its reports is pending, drops the
 * acknowledged ones when the journal is closed, and goes with the last. */
static void test_batch_ack(void)
{
    char *top = tmpdir();
    cJSON *batch = json_arr();
    struct cerr e;
    struct journal *j;

    cerr_clear(&e);
    j = journal_open(top, &e);
    EXPECT(j != NULL);
    for (int i = 1; i <= 3; i++)
        json_arr_add(batch, report("b", i));
    EXPECT(journal_append_many(j, batch, &e) == 1);
    EXPECT(journal_append_many(j, batch, &e) == 4);
    EXPECT(count_files(top, ".batch.json") == 2);
    EXPECT(journal_ack(j, 2, &e) == 0 && journal_ack(j, 1, &e) == 0);
    EXPECT(count_files(top, ".batch.json") == 2);
    EXPECT(journal_ack(j, 3, &e) == 0);
    EXPECT(count_files(top, ".batch.json") == 1 && journal_count(j) == 3);
    EXPECT(journal_ack(j, 5, &e) == 0);
    journal_free(j);

    j = journal_open(top, &e);
    EXPECT(j != NULL);
    EXPECT(journal_count(j) == 2 && pending_seq(j, 0) == 4 && pending_seq(j, 1) == 6);
    EXPECT(journal_append_many(j, batch, &e) == 7);
    EXPECT(journal_ack(j, 4, &e) == 0 && journal_ack(j, 6, &e) == 0);
    EXPECT(count_files(top, ".batch.json") == 1);
    journal_free(j);

    /* A batch file cut short is set aside whole. */
    {
        char *path = xasprintf("%s/00000000000000000010.batch.json", top);
        EXPECT(write_file(path, "{\"seq\":10,\"n\":1}\n{\"seq\":11"));
        free(path);
    }
    j = journal_open(top, &e);
    EXPECT(j != NULL);
    EXPECT(journal_count(j) == 3 && pending_seq(j, 0) == 7);
    EXPECT(count_files(top, ".batch.json.corrupt") == 1);
    journal_free(j);
    cJSON_Delete(batch);
    cleanup(top);
}

int main(void)
{
    /* Shows the warnings (set-aside entries), not the routine messages. */
    log_init("test_journal", LOG_LVL_WARN);
    RUN(test_round_trip);
    RUN(test_seq_member_replaced);
    RUN(test_seq_never_goes_backwards);
    RUN(test_crash_leftovers);
    RUN(test_mismatched_entry);
    RUN(test_ack_idempotent);
    RUN(test_oversized_refused);
    RUN(test_non_object_refused);
    RUN(test_order_by_seq);
    RUN(test_crash_between_seq_and_entry);
    RUN(test_corrupt_seq_file);
    RUN(test_last_numbers);
    RUN(test_full);
    RUN(test_batch);
    RUN(test_batch_ack);
    return unit_done();
}
