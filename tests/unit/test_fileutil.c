/* What root does in directories a VM's uid writes: rm_rf never leaves the
 * tree, file_read_untrusted never blocks and reads only plain files. */
#include "common/fileutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/unit/unit.h"

static char *scratch(void)
{
    char tmpl[] = "/tmp/corral-fileutil-XXXXXX";
    char *d = mkdtemp(tmpl);

    return d != NULL ? xstrdup(d) : NULL;
}

static int put(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ssize_t n;

    if (fd < 0)
        return -1;
    n = write(fd, text, strlen(text));
    close(fd);
    return n == (ssize_t)strlen(text) ? 0 : -1;
}

static void rm_rf_leaves_link_targets(void)
{
    char *d = scratch();
    struct cerr e = {0};

    EXPECT(d != NULL);
    char *decoy = xasprintf("%s/decoy", d), *precious = xasprintf("%s/decoy/precious", d);
    char *tree = xasprintf("%s/tree", d), *deep = xasprintf("%s/tree/a/b", d);
    char *l1 = xasprintf("%s/tree/to-dir", d), *l2 = xasprintf("%s/tree/a/b/to-file", d);
    char *fifo = xasprintf("%s/tree/a/fifo", d);
    EXPECT(mkdir(decoy, 0755) == 0 && put(precious, "root's\n") == 0);
    EXPECT(mkdir_p(deep, 0755, &e) == 0);
    EXPECT(symlink(decoy, l1) == 0 && symlink(precious, l2) == 0 && mkfifo(fifo, 0600) == 0);
    EXPECT(rm_rf(tree, &e) == 0);
    EXPECT(!path_exists(tree));
    EXPECT(path_exists(precious));
    /* A link as the top is removed, not what it names. */
    EXPECT(symlink(decoy, tree) == 0);
    EXPECT(rm_rf(tree, &e) == 0);
    EXPECT(!path_exists(tree) && path_exists(precious));
    /* Missing is done already. */
    EXPECT(rm_rf(tree, &e) == 0);
    EXPECT(rm_rf(decoy, &e) == 0 && rmdir(d) == 0);
    free(decoy);
    free(precious);
    free(tree);
    free(deep);
    free(l1);
    free(l2);
    free(fifo);
    free(d);
}

static void rm_rf_refuses_too_deep(void)
{
    char *d = scratch();
    struct cerr e = {0};
    char *p;

    EXPECT(d != NULL);
    p = xstrdup(d);
    for (int i = 0; i < 70; i++) {
        char *n = xasprintf("%s/d", p);
        free(p);
        p = n;
        EXPECT(mkdir(p, 0755) == 0);
    }
    EXPECT(rm_rf(d, &e) < 0);
    EXPECT_CONTAINS(e.msg, "nested deeper");
    /* What is left goes bottom up, as an administrator would. */
    while (strcmp(p, d) != 0) {
        EXPECT(rmdir(p) == 0);
        *strrchr(p, '/') = '\0';
    }
    EXPECT(rmdir(d) == 0);
    free(p);
    free(d);
}

static void untrusted_read_refuses_what_is_not_a_file(void)
{
    char *d = scratch();
    struct cerr e = {0};
    size_t len = 0;
    char *text;
    int dfd;

    EXPECT(d != NULL);
    dfd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    EXPECT(dfd >= 0);
    char *ok = xasprintf("%s/ok", d), *fifo = xasprintf("%s/fifo", d);
    char *link = xasprintf("%s/link", d), *big = xasprintf("%s/big", d);
    EXPECT(put(ok, "{\"a\":1}") == 0 && mkfifo(fifo, 0666) == 0 && symlink(ok, link) == 0 &&
           put(big, "0123456789") == 0);
    text = file_read_untrusted(dfd, "ok", 64, &len, &e);
    EXPECT(text != NULL && len == 7);
    EXPECT_STR(text, "{\"a\":1}");
    free(text);
    /* A FIFO nobody writes to would block a plain open or read. */
    EXPECT(file_read_untrusted(dfd, "fifo", 64, &len, &e) == NULL);
    EXPECT_CONTAINS(e.msg, "not a regular file");
    EXPECT(file_read_untrusted(dfd, "link", 64, &len, &e) == NULL);
    EXPECT_CONTAINS(e.msg, "cannot open link");
    EXPECT(file_read_untrusted(dfd, "big", 9, &len, &e) == NULL && e.code == CE_TOO_LARGE);
    text = file_read_untrusted(dfd, "big", 10, &len, &e);
    EXPECT(text != NULL && len == 10);
    free(text);
    close(dfd);
    EXPECT(rm_rf(d, &e) == 0);
    free(ok);
    free(fifo);
    free(link);
    free(big);
    free(d);
}

/* A staged file is only its temporary sibling until committed; dropped,
 * nothing is left. */
static void stage_then_commit_or_drop(void)
{
    char *d = scratch();
    char *path = d ? xasprintf("%s/f.json", d) : NULL, *tmp = NULL, *text;
    struct cerr e = {0};
    size_t len = 0;

    EXPECT(path != NULL);
    EXPECT(file_stage(path, "new\n", 4, 0600, &tmp, &e) == 0 && tmp != NULL);
    EXPECT(path_exists(tmp) && !path_exists(path));
    EXPECT(file_commit(tmp, path, &e) == 0);
    text = file_read_all(path, 100, &len, &e);
    EXPECT(text != NULL && len == 4 && strcmp(text, "new\n") == 0);
    free(text);
    EXPECT(file_stage(path, "other\n", 6, 0600, &tmp, &e) == 0);
    char *kept = xstrdup(tmp);
    file_unstage(tmp);
    EXPECT(!path_exists(kept));
    free(kept);
    text = file_read_all(path, 100, &len, &e);
    EXPECT(text != NULL && strcmp(text, "new\n") == 0);
    free(text);
    EXPECT(file_remove_unsynced(path, &e) == 0 && !path_exists(path));
    EXPECT(file_remove_unsynced(path, &e) == 0);
    EXPECT(rm_rf(d, &e) == 0);
    free(path);
    free(d);
}

/* file_replace swaps in a whole new file: a link planted at the path is
 * replaced, never written through, and a failed rename leaves nothing
 * behind. */
static void replace_whole_or_nothing(void)
{
    char *d = scratch();
    struct cerr e = {0};
    struct stat st;
    size_t len = 0;

    EXPECT(d != NULL);
    char *path = xasprintf("%s/status.json", d), *target = xasprintf("%s/target", d);
    char *busy = xasprintf("%s/busy", d), *inside = xasprintf("%s/busy/x", d), *text;
    EXPECT(put(target, "precious\n") == 0 && symlink(target, path) == 0);
    EXPECT(file_replace(path, "new\n", 4, 0640, &e) == 0);
    EXPECT(lstat(path, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0640);
    text = file_read_all(target, 100, &len, &e);
    EXPECT(text != NULL && strcmp(text, "precious\n") == 0);
    free(text);
    text = file_read_all(path, 100, &len, &e);
    EXPECT(text != NULL && strcmp(text, "new\n") == 0);
    free(text);
    /* A non-empty directory in the way: the rename fails, said so. */
    EXPECT(mkdir(busy, 0755) == 0 && put(inside, "x") == 0);
    EXPECT(file_replace(busy, "new\n", 4, 0640, &e) < 0 && e.code == CE_SYSTEM);
    EXPECT_CONTAINS(e.msg, "cannot rename");
    EXPECT(rm_rf(inside, &e) == 0 && rmdir(busy) == 0);
    EXPECT(unlink(path) == 0 && unlink(target) == 0);
    /* Only what the test made was there: no temporary file was left. */
    EXPECT(rmdir(d) == 0);
    free(path);
    free(target);
    free(busy);
    free(inside);
    free(d);
}

int main(void)
{
    RUN(rm_rf_leaves_link_targets);
    RUN(rm_rf_refuses_too_deep);
    RUN(untrusted_read_refuses_what_is_not_a_file);
    RUN(stage_then_commit_or_drop);
    RUN(replace_whole_or_nothing);
    return unit_done();
}
