/* Paths opened as root never follow a symlink, in any component. */
#include "common/safe_open.h"

#include <errno.h>
#include <fcntl.h>
#include <seccomp.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/fileutil.h"
#include "tests/unit/unit.h"

static char dir[] = "/tmp/corral-test-safe-XXXXXX";

/* dir/real/img (a file), dir/link -> real, dir/real/ln -> img. */
static int make_tree(void)
{
    if (mkdtemp(dir) == NULL)
        return -1;
    char *real = xasprintf("%s/real", dir), *img = xasprintf("%s/real/img", dir);
    char *link = xasprintf("%s/link", dir), *ln = xasprintf("%s/real/ln", dir);
    int fd, rc = -1;

    if (mkdir(real, 0755) < 0)
        goto out;
    fd = open(img, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, "data", 4) != 4 || close(fd) < 0)
        goto out;
    if (symlink("real", link) < 0 || symlink("img", ln) < 0)
        goto out;
    rc = 0;
out:
    free(real);
    free(img);
    free(link);
    free(ln);
    return rc;
}

static int try_open(const char *rel, struct stat *st, struct cerr *e)
{
    char *p = xasprintf("%s%s", dir, rel);
    int fd = safe_open_path(p, st, e);

    free(p);
    return fd;
}

static void paths(void)
{
    struct stat st;
    struct cerr e1 = {0}, e2 = {0}, e3 = {0}, e4 = {0}, e5 = {0}, e6 = {0};
    char buf[8] = {0};
    int fd, rfd;

    EXPECT(make_tree() == 0);
    fd = try_open("/real/img", &st, &e1);
    EXPECT(fd >= 0 && S_ISREG(st.st_mode));
    rfd = safe_reopen(fd, &st, O_RDONLY, &e1);
    close(fd);
    EXPECT(rfd >= 0);
    EXPECT(pread(rfd, buf, 4, 0) == 4 && strcmp(buf, "data") == 0);
    close(rfd);
    /* The final symlink is opened as itself, for the caller to refuse. */
    fd = try_open("/real/ln", &st, &e2);
    EXPECT(fd >= 0 && S_ISLNK(st.st_mode));
    close(fd);
    EXPECT(try_open("/link/img", &st, &e3) == -1);
    EXPECT_CONTAINS(e3.msg, "/link' is a symlink");
    EXPECT(try_open("/real/../real/img", &st, &e4) == -1);
    EXPECT_CONTAINS(e4.msg, "goes up with '..'");
    EXPECT(try_open("/real/none", &st, &e5) == -1);
    EXPECT_CONTAINS(e5.msg, "/real/none' does not exist");
    EXPECT(try_open("/real/img/x", &st, &e6) == -1);
    EXPECT_CONTAINS(e6.msg, "/real/img' is not a directory");
}

/* In a child where openat2 says ENOSYS (an older kernel, or a seccomp
 * filter), the component walk finds the same things. */
static int walk_child(void)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    struct stat st;
    struct cerr e1 = {0}, e2 = {0};
    int fd;

    if (ctx == NULL || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
        seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(openat2), 0) < 0 ||
        seccomp_load(ctx) < 0)
        return 2;
    seccomp_release(ctx);
    fd = try_open("/real/img", &st, &e1);
    if (fd < 0 || !S_ISREG(st.st_mode))
        return 3;
    close(fd);
    fd = try_open("/real/ln", &st, &e1);
    if (fd < 0 || !S_ISLNK(st.st_mode))
        return 4;
    close(fd);
    if (try_open("/link/img", &st, &e2) != -1 || strstr(e2.msg, "/link' is a symlink") == NULL)
        return 5;
    return 0;
}

static void walk_without_openat2(void)
{
    int status = -1;
    pid_t pid;

    EXPECT(dir[strlen(dir) - 1] != 'X'); /* the tree of paths() */
    fflush(stdout);
    pid = fork();
    EXPECT(pid >= 0);
    if (pid == 0)
        _exit(walk_child());
    EXPECT(waitpid(pid, &status, 0) == pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        printf("# child status %d\n", status);
    EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void relative_refused(void)
{
    struct stat st;
    struct cerr e = {0};

    EXPECT(safe_open_path("tmp/x", &st, &e) == -1);
    EXPECT_CONTAINS(e.msg, "is not an absolute path");
}

int main(void)
{
    RUN(paths);
    RUN(walk_without_openat2);
    RUN(relative_refused);
    if (dir[strlen(dir) - 1] != 'X') {
        struct cerr e;
        rm_rf(dir, &e);
    }
    return unit_done();
}
