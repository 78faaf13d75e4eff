/* The journal reader (supervisor/journal.c) on a directory of files the
 * input makes: what a crash, a full disk or a VM's uid may leave there.
 * The input is a list of files, each [name length][name][2-byte content
 * length][content].  Properties: journal_open loads entries in strictly
 * increasing seq order, each an object whose "seq" is its file's number;
 * no temporary leftover survives it; the next number it hands out is above
 * every number used in the directory and .seq; and what it holds after an
 * append (or a batch of two) reads back the same when the directory is
 * opened again. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/json.h"
#include "common/log.h"
#include "supervisor/journal.h"
#include "tests/fuzz/fuzz.h"

static char base_dir[64], dir[96];

static void empty_dir(void)
{
    DIR *d = opendir(dir);
    struct dirent *de;

    if (d == NULL)
        return;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            unlinkat(dirfd(d), de->d_name, 0);
    }
    closedir(d);
}

static void cleanup(void)
{
    empty_dir();
    rmdir(dir);
    rmdir(base_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    /* tmpfs when there is one: every append is fsynced. */
    const char *tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";

    log_init("fuzz_journal", (enum log_level)(LOG_LVL_ERR + 1));
    snprintf(base_dir, sizeof(base_dir), "%s/corral-fuzz-journal.XXXXXX", tmp);
    if (mkdtemp(base_dir) == NULL)
        abort();
    snprintf(dir, sizeof(dir), "%s/journal", base_dir);
    atexit(cleanup);
    return 0;
}

/* Writes the input's files into dir. */
static void make_files(const uint8_t *data, size_t size)
{
    size_t off = 0;
    int dfd;

    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        abort();
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        abort();
    while (off < size) {
        char name[64];
        size_t nlen = data[off++] % 48, clen;
        int fd;

        if (size - off < nlen + 2)
            break;
        memcpy(name, data + off, nlen);
        name[nlen] = '\0';
        off += nlen;
        clen = (size_t)data[off] | (size_t)data[off + 1] << 8;
        off += 2;
        if (clen > size - off)
            clen = size - off;
        if (nlen > 0 && strlen(name) == nlen && strchr(name, '/') == NULL &&
            strcmp(name, ".") != 0 && strcmp(name, "..") != 0 &&
            (fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) >= 0) {
            if (write(fd, data + off, clen) < 0)
                abort();
            close(fd);
        }
        off += clen;
    }
    close(dfd);
}

/* The highest number a name in dir uses (entries, set-aside entries) or
 * .seq holds, and no temporary file left. */
static long long seq_file(int dfd, long long highest)
{
    char buf[64] = "";
    int fd = openat(dfd, ".seq", O_RDONLY | O_CLOEXEC);
    long long v;

    if (fd < 0)
        return highest;
    if (read(fd, buf, sizeof(buf) - 1) < 0)
        buf[0] = '\0';
    close(fd);
    v = strtoll(buf, NULL, 10);
    return v > highest ? v : highest;
}

static long long scan_dir(void)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    long long highest = 0;

    FUZZ_ASSERT(d != NULL, "the journal directory is gone");
    while ((de = readdir(d)) != NULL) {
        char *end;
        long long v;

        FUZZ_ASSERT(strstr(de->d_name, ".tmp.") == NULL, "leftover %s survived journal_open",
                    de->d_name);
        if (strcmp(de->d_name, ".seq") == 0)
            highest = seq_file(dirfd(d), highest);
        if (strlen(de->d_name) < 20 || strspn(de->d_name, "0123456789") != 20)
            continue;
        errno = 0;
        v = strtoll(de->d_name, &end, 10);
        if (errno == 0 && v <= JOURNAL_SEQ_MAX &&
            (strcmp(end, ".json") == 0 || strcmp(end, ".json.corrupt") == 0) && v > highest)
            highest = v;
    }
    closedir(d);
    return highest;
}

static void check_pending(const struct journal *j)
{
    const cJSON *p = journal_pending(j), *item;
    double last = 0;

    FUZZ_ASSERT(cJSON_GetArraySize(p) == journal_count(j), "count %d, %d pending", journal_count(j),
                cJSON_GetArraySize(p));
    cJSON_ArrayForEach(item, p)
    {
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(item, "seq");

        FUZZ_ASSERT(cJSON_IsObject(item) && cJSON_IsNumber(s), "an entry without a seq");
        FUZZ_ASSERT(s->valuedouble > last, "seq %g after %g", s->valuedouble, last);
        last = s->valuedouble;
    }
}

static void check_reopen(const struct journal *j)
{
    struct cerr e;
    struct journal *again = journal_open(dir, &e);
    char *a, *b;

    FUZZ_ASSERT(again != NULL, "the journal does not open again: %s", e.msg);
    a = cJSON_PrintUnformatted(journal_pending(j));
    b = cJSON_PrintUnformatted(journal_pending(again));
    FUZZ_ASSERT(a != NULL && b != NULL && strcmp(a, b) == 0,
                "reopened, the journal differs:\n%s\n%s", a, b);
    cJSON_free(a);
    cJSON_free(b);
    journal_free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct journal *j;
    struct cerr e;
    long long used, seq;
    cJSON *report;

    empty_dir();
    make_files(data, size);
    j = journal_open(dir, &e);
    if (j == NULL) {
        FUZZ_ASSERT(e.msg[0] != '\0', "journal_open failed without a word");
        return 0;
    }
    check_pending(j);
    used = scan_dir();
    report = json_obj();
    json_add_str(report, "kind", "missing-on-disk");
    /* An odd size appends a batch of two (journal_append_many). */
    if (size % 2 == 1) {
        cJSON *batch = json_arr();

        json_arr_add(batch, json_dup(report));
        json_arr_add(batch, json_dup(report));
        seq = journal_append_many(j, batch, &e);
        cJSON_Delete(batch);
    } else
        seq = journal_append(j, report, &e);
    cJSON_Delete(report);
    if (seq >= 0) {
        FUZZ_ASSERT(seq > used, "handed out %lld, but %lld is used", seq, used);
        check_pending(j);
        check_reopen(j);
        FUZZ_ASSERT(journal_ack(j, seq, &e) == 0, "ack: %s", e.msg);
    }
    journal_free(j);
    return 0;
}
