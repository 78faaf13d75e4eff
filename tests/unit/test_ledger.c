/* The report ledger (broker/ledger.c): a hostile supervisor's reports are
 * checked as untrusted input, rate-limited, and appended only to a regular
 * file of the broker's, under a size cap.  These replay what a supervisor
 * running as a compromised VM uid could send. */
#include "broker/ledger.h"

#include <fcntl.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileutil.h"
#include "common/json.h"
#include "tests/unit/unit.h"

static char *tmpdir(void)
{
    char tmpl[] = "/tmp/corral-ledger-XXXXXX";

    if (mkdtemp(tmpl) == NULL) {
        perror("mkdtemp");
        abort();
    }
    return xstrdup(tmpl);
}

static void rmtree(const char *dir)
{
    struct cerr e;

    if (rm_rf(dir, &e) < 0)
        printf("# %s\n", e.msg);
}

/* What a supervisor sends (supervisor/snapshot_ops.c). */
static cJSON *good_report(void)
{
    struct cerr e;
    const char *text =
        "{\"vm\":\"web\",\"snapshot\":\"s1\",\"kind\":\"missing\",\"disks\":[\"vda\"],"
        "\"detail\":\"vda lacks the tag\",\"job\":\"snap-1\",\"time\":1700000000,"
        "\"seq\":42}";
    cJSON *r = json_parse(text, strlen(text), &e);

    if (r == NULL)
        abort();
    return r;
}

/* good_report with member key replaced by item (NULL: removed). */
static int check_with(const char *key, cJSON *item, long long *seq, struct cerr *e)
{
    cJSON *r = good_report();
    int rc;

    cJSON_DeleteItemFromObjectCaseSensitive(r, key);
    if (item != NULL)
        cJSON_AddItemToObject(r, key, item);
    rc = ledger_check_report(r, "web", seq, e);
    cJSON_Delete(r);
    return rc;
}

static void accepts_what_supervisors_send(void)
{
    cJSON *r = good_report();
    struct cerr e = {0};
    long long seq = 0;

    EXPECT(ledger_check_report(r, "web", &seq, &e) == 0);
    EXPECT(seq == 42);
    cJSON_Delete(r);
    /* Unjournalled (seq -1), no job, no snapshot, said before. */
    EXPECT(check_with("seq", cJSON_CreateNumber(-1), &seq, &e) == 0 && seq == -1);
    EXPECT(check_with("job", NULL, &seq, &e) == 0);
    EXPECT(check_with("snapshot", cJSON_CreateNull(), &seq, &e) == 0);
    EXPECT(check_with("reported_before", cJSON_CreateTrue(), &seq, &e) == 0);
}

static void refuses_hostile_reports(void)
{
    struct cerr e = {0};
    long long seq = 7;
    char *big = xcalloc(LEDGER_REPORT_MAX + 1, 1);
    int refused[16];
    size_t n = 0;

    memset(big, 'x', LEDGER_REPORT_MAX);
    refused[n++] = check_with("seq", cJSON_CreateNumber(NAN), &seq, &e);
    refused[n++] = check_with("seq", cJSON_CreateNumber(1e300), &seq, &e);
    refused[n++] = check_with("seq", cJSON_CreateNumber(-2), &seq, &e);
    refused[n++] = check_with("seq", cJSON_CreateNumber(9007199254740994.0), &seq, &e);
    refused[n++] = check_with("seq", cJSON_CreateNumber(1.5), &seq, &e);
    refused[n++] = check_with("seq", cJSON_CreateString("1"), &seq, &e);
    refused[n++] = check_with("time", cJSON_CreateNumber(-1e300), &seq, &e);
    refused[n++] = check_with("kind", cJSON_CreateNumber(1), &seq, &e);
    refused[n++] = check_with("detail", cJSON_CreateString(big), &seq, &e);
    refused[n++] = check_with("disks", cJSON_CreateString("vda"), &seq, &e);
    refused[n++] = check_with("disks", cJSON_CreateIntArray((const int[]){1, 2}, 2), &seq, &e);
    /* Another VM's name: it would be fanned out as about that VM. */
    refused[n++] = check_with("vm", cJSON_CreateString("db"), &seq, &e);
    refused[n++] = check_with("extra", cJSON_CreateString("x"), &seq, &e);
    refused[n++] = check_with("reported_before", cJSON_CreateString("yes"), &seq, &e);
    free(big);
    for (size_t i = 0; i < n; i++) {
        if (refused[i] != -1)
            printf("# case %zu was accepted\n", i);
        EXPECT(refused[i] == -1);
    }
    EXPECT(seq == 7);
    /* Too large as a whole, each member within its own limit. */
    cJSON *r = good_report(), *disks = cJSON_GetObjectItemCaseSensitive(r, "disks");
    char name[256];
    memset(name, 'd', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    for (int i = 0; i < 63; i++)
        cJSON_AddItemToArray(disks, cJSON_CreateString(name));
    EXPECT(ledger_check_report(r, "web", &seq, &e) == -1);
    EXPECT(e.code == CE_TOO_LARGE);
    cJSON_Delete(r);
}

static void rate_limit_bursts_then_refills(void)
{
    struct ledger_bucket bk = {0};
    int taken = 0;

    for (int i = 0; i < LEDGER_BURST + 500; i++)
        taken += ledger_take(&bk, 100.0);
    EXPECT(taken == LEDGER_BURST);
    /* Half a second later, half a second's worth. */
    taken = 0;
    for (int i = 0; i < LEDGER_RATE; i++)
        taken += ledger_take(&bk, 100.5);
    EXPECT(taken == LEDGER_RATE / 2);
    /* A long pause refills to the burst, no more. */
    taken = 0;
    for (int i = 0; i < LEDGER_BURST + 10; i++)
        taken += ledger_take(&bk, 10000.0);
    EXPECT(taken == LEDGER_BURST);
}

static void append_refuses_planted_files(void)
{
    char *dir = tmpdir();
    char *ledger = xasprintf("%s/inconsistencies.jsonl", dir);
    char *decoy = xasprintf("%s/decoy", dir);
    cJSON *r = good_report();
    struct cerr e = {0};
    struct stat st;
    int fd;

    fd = open(decoy, O_WRONLY | O_CREAT | O_EXCL, 0600);
    EXPECT(fd >= 0 && write(fd, "keep\n", 5) == 5 && close(fd) == 0);
    /* A symlink the VM uid planted. */
    EXPECT(symlink(decoy, ledger) == 0);
    EXPECT(ledger_append(ledger, r, &e) == -1);
    EXPECT(stat(decoy, &st) == 0 && st.st_size == 5);
    /* A hard link to someone else's file. */
    EXPECT(unlink(ledger) == 0 && link(decoy, ledger) == 0);
    EXPECT(ledger_append(ledger, r, &e) == -1);
    EXPECT_CONTAINS(e.msg, "one link");
    EXPECT(stat(decoy, &st) == 0 && st.st_size == 5);
    /* A FIFO would block the broker's loop. */
    EXPECT(unlink(ledger) == 0 && mkfifo(ledger, 0600) == 0);
    EXPECT(ledger_append(ledger, r, &e) == -1);
    EXPECT(unlink(ledger) == 0);
    /* The real thing: one line per report. */
    EXPECT(ledger_append(ledger, r, &e) == 0);
    EXPECT(ledger_append(ledger, r, &e) == 0);
    size_t len = 0;
    char *text = file_read_all(ledger, 1 << 20, &len, &e);
    EXPECT(text != NULL);
    EXPECT(len > 0 && text[len - 1] == '\n' && memchr(text, '\n', len) != text + len - 1);
    free(text);
    cJSON_Delete(r);
    free(decoy);
    free(ledger);
    rmtree(dir);
    free(dir);
}

static void append_stops_at_the_size_cap(void)
{
    char *dir = tmpdir();
    char *ledger = xasprintf("%s/inconsistencies.jsonl", dir);
    cJSON *r = good_report();
    struct cerr e = {0};
    struct stat st;
    int fd = open(ledger, O_WRONLY | O_CREAT | O_EXCL, 0640);

    /* Sparse: the cap is about the size, not the blocks. */
    EXPECT(fd >= 0 && ftruncate(fd, LEDGER_FILE_MAX - 10) == 0 && close(fd) == 0);
    EXPECT(ledger_append(ledger, r, &e) == -1);
    EXPECT(e.code == CE_TOO_LARGE);
    EXPECT(stat(ledger, &st) == 0 && st.st_size == LEDGER_FILE_MAX - 10);
    cJSON_Delete(r);
    free(ledger);
    rmtree(dir);
    free(dir);
}

int main(void)
{
    RUN(accepts_what_supervisors_send);
    RUN(refuses_hostile_reports);
    RUN(rate_limit_bursts_then_refills);
    RUN(append_refuses_planted_files);
    RUN(append_stops_at_the_size_cap);
    return unit_done();
}
