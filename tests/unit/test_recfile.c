/* The record file a supervisor keeps its snapshot intent in: each write
 * reads back whole, a cleared or missing record reads as none, and what a
 * crash leaves half-written reads as torn, never as a record. */
#include "common/recfile.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileutil.h"
#include "tests/unit/unit.h"

static char *scratch(void)
{
    char tmpl[] = "/tmp/corral-recfile-XXXXXX";
    char *d = mkdtemp(tmpl);

    return d != NULL ? xstrdup(d) : NULL;
}

/* The record at path, or "<none>" / "<torn>" / "<error>" (static or
 * malloc'd into *keep, which the caller frees). */
static const char *read_back(const char *path, char **keep)
{
    enum recfile_read kind;
    size_t len;
    struct cerr e;

    *keep = NULL;
    if (recfile_read(path, 4096, keep, &len, &kind, &e) < 0)
        return "<error>";
    if (kind == RECFILE_NONE)
        return "<none>";
    if (kind == RECFILE_TORN)
        return "<torn>";
    return strlen(*keep) == len ? *keep : "<bad length>";
}

static int put_at(const char *path, off_t off, const void *data, size_t n)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    ssize_t w;

    if (fd < 0)
        return -1;
    w = pwrite(fd, data, n, off);
    close(fd);
    return w == (ssize_t)n ? 0 : -1;
}

static off_t size_of(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 ? st.st_size : -1;
}

static void writes_read_back_whole(void)
{
    char *d = scratch(), *path, *got;
    struct cerr e;
    const char *longer = "{\"op\":\"create\",\"snapshot\":\"a-rather-long-name\"}";

    EXPECT(d != NULL);
    path = xasprintf("%s/pending.json", d);
    EXPECT_STR(read_back(path, &got), "<none>");
    EXPECT(recfile_clear(path, true, &e) == 0);
    EXPECT(!path_exists(path));
    EXPECT(recfile_write(path, longer, strlen(longer), true, &e) == 0);
    EXPECT_STR(read_back(path, &got), longer);
    free(got);
    /* A shorter record over a longer one: the longer one's tail stays in
     * the file and is not read. */
    EXPECT(recfile_write(path, "{\"op\":\"delete\"}", 15, false, &e) == 0);
    EXPECT_STR(read_back(path, &got), "{\"op\":\"delete\"}");
    free(got);
    EXPECT(recfile_clear(path, false, &e) == 0);
    EXPECT_STR(read_back(path, &got), "<none>");
    EXPECT(path_exists(path));
    EXPECT(recfile_write(path, "{}", 2, true, &e) == 0);
    EXPECT_STR(read_back(path, &got), "{}");
    free(got);
    EXPECT(rm_rf(d, &e) == 0);
    free(path);
    free(d);
}

/* What a machine crash in the middle of a write can leave: the new header
 * over the old record, part of the new record, a byte changed. */
static void torn_records_are_not_records(void)
{
    char *d = scratch(), *path, *other, *newer, *got;
    struct cerr e;
    const char *old = "{\"op\":\"create\",\"snapshot\":\"old-one\",\"metadata\":\"xxxxxxxxxxxx\"}";
    const char *new = "{\"op\":\"delete\",\"snapshot\":\"new-one\",\"metadata\":\"yyyyyyyyyyyy\"}";
    size_t n;

    EXPECT(d != NULL);
    path = xasprintf("%s/pending.json", d);
    other = xasprintf("%s/other", d);
    EXPECT(recfile_write(other, new, strlen(new), false, &e) == 0);
    newer = file_read_all(other, 4096, &n, &e);
    EXPECT(newer != NULL);
    /* Only the first half of the new record's bytes reached the disk. */
    EXPECT(recfile_write(path, old, strlen(old), true, &e) == 0);
    EXPECT(put_at(path, 0, newer, n / 2) == 0);
    EXPECT_STR(read_back(path, &got), "<torn>");
    /* Only its second half did. */
    EXPECT(recfile_write(path, old, strlen(old), true, &e) == 0);
    EXPECT(put_at(path, (off_t)(n / 2), newer + n / 2, n - n / 2) == 0);
    EXPECT_STR(read_back(path, &got), "<torn>");
    /* One byte of the record changed. */
    EXPECT(recfile_write(path, new, strlen(new), true, &e) == 0);
    EXPECT(put_at(path, size_of(path) - 3, "z", 1) == 0);
    EXPECT_STR(read_back(path, &got), "<torn>");
    /* The file ends inside the record, or inside the header. */
    EXPECT(recfile_write(path, new, strlen(new), true, &e) == 0);
    EXPECT(truncate(path, size_of(path) - 5) == 0);
    EXPECT_STR(read_back(path, &got), "<torn>");
    EXPECT(truncate(path, 20) == 0);
    EXPECT_STR(read_back(path, &got), "<torn>");
    /* A length field that strtoull would take but is not ten digits. */
    EXPECT(recfile_write(path, new, strlen(new), true, &e) == 0);
    EXPECT(put_at(path, 16, "+", 1) == 0);
    EXPECT_STR(read_back(path, &got), "<torn>");
    /* The next write makes a whole record again. */
    EXPECT(recfile_write(path, new, strlen(new), true, &e) == 0);
    EXPECT_STR(read_back(path, &got), new);
    free(got);
    free(newer);
    EXPECT(rm_rf(d, &e) == 0);
    free(path);
    free(other);
    free(d);
}

/* A file an older corral wrote whole (plain JSON) is the record; the first
 * write or clear takes it over. */
static void plain_files_are_records(void)
{
    char *d = scratch(), *path, *got;
    struct cerr e;
    const char *plain = "{\"op\":\"revert\",\"snapshot\":\"s1\",\"job\":\"corral-load-1-2\"}\n";

    EXPECT(d != NULL);
    path = xasprintf("%s/pending.json", d);
    EXPECT(file_write_atomic(path, plain, strlen(plain), 0600, &e) == 0);
    EXPECT_STR(read_back(path, &got), plain);
    free(got);
    EXPECT(recfile_clear(path, true, &e) == 0);
    EXPECT_STR(read_back(path, &got), "<none>");
    EXPECT(file_write_atomic(path, plain, strlen(plain), 0600, &e) == 0);
    EXPECT(recfile_write(path, "{}", 2, true, &e) == 0);
    EXPECT_STR(read_back(path, &got), "{}");
    free(got);
    /* An empty file (the machine stopped right after creating it). */
    EXPECT(truncate(path, 0) == 0);
    EXPECT_STR(read_back(path, &got), "<none>");
    EXPECT(rm_rf(d, &e) == 0);
    free(path);
    free(d);
}

static void refuses_links_fifos_and_oversized(void)
{
    char *d = scratch(), *path, *target, *big, *got;
    struct cerr e;

    EXPECT(d != NULL);
    path = xasprintf("%s/pending.json", d);
    target = xasprintf("%s/target", d);
    EXPECT(file_write_atomic(target, "keep", 4, 0600, &e) == 0);
    EXPECT(symlink(target, path) == 0);
    EXPECT(recfile_write(path, "{}", 2, true, &e) < 0);
    EXPECT_CONTAINS(e.msg, path);
    EXPECT(recfile_clear(path, true, &e) < 0);
    EXPECT_STR(read_back(path, &got), "<error>");
    free(got);
    EXPECT(unlink(path) == 0);
    got = file_read_all(target, 64, &(size_t){0}, &e);
    EXPECT(got != NULL && strcmp(got, "keep") == 0);
    free(got);
    /* A FIFO (QEMU shares the writer's uid) is refused, not waited on. */
    EXPECT(mkfifo(path, 0600) == 0);
    EXPECT_STR(read_back(path, &got), "<error>");
    EXPECT(recfile_write(path, "{}", 2, true, &e) < 0);
    EXPECT_CONTAINS(e.msg, "not a regular file");
    EXPECT(recfile_clear(path, true, &e) < 0);
    EXPECT(unlink(path) == 0);
    big = xcalloc(1, 5000);
    memset(big, 'x', 4999);
    EXPECT(recfile_write(path, big, 4999, true, &e) == 0);
    EXPECT_STR(read_back(path, &got), "<error>");
    free(got);
    free(big);
    EXPECT(rm_rf(d, &e) == 0);
    free(path);
    free(target);
    free(d);
}

int main(void)
{
    RUN(writes_read_back_whole);
    RUN(torn_records_are_not_records);
    RUN(plain_files_are_records);
    RUN(refuses_links_fifos_and_oversized);
    return unit_done();
}
