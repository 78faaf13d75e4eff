/* A console's log file: every byte up to the cap of one run, then the note
 * saying so and nothing more; a re-adopting supervisor that continues an
 * append='off' log counts what it holds. */
#include "supervisor/console_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "tests/unit/unit.h"

#define NOTE "\r\n[corral: this run's console log reached its 1 MiB cap; output goes on]\r\n"

static char path[] = "/tmp/corral-console-log-XXXXXX";
static char chunk[4000];

/* The log file emptied and opened as the broker opens it. */
static int fresh(void)
{
    return open(path, O_WRONLY | O_APPEND | O_TRUNC | O_CLOEXEC);
}

static off_t size_of(void)
{
    struct stat st;

    return stat(path, &st) == 0 ? st.st_size : -1;
}

/* The file's last n bytes equal s. */
static int ends_with(const char *s)
{
    size_t n = strlen(s);
    char buf[256];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t got = fd < 0 ? -1 : pread(fd, buf, n, size_of() - (off_t)n);

    if (fd >= 0)
        close(fd);
    return got == (ssize_t)n && memcmp(buf, s, n) == 0;
}

static void under_the_cap(void)
{
    int fd = fresh();

    EXPECT(fd >= 0);
    struct console_log *l = console_log_new("vm1", "serial0", fd, false);
    console_log_write(l, "hello\n", 6);
    console_log_write(l, chunk, sizeof(chunk));
    console_log_free(l);
    EXPECT(size_of() == 6 + (off_t)sizeof(chunk));
}

static void capped(void)
{
    int fd = fresh();

    EXPECT(fd >= 0);
    struct console_log *l = console_log_new("vm1", "serial0", fd, false);
    for (int i = 0; i < 400; i++)
        console_log_write(l, chunk, sizeof(chunk));
    console_log_free(l);
    EXPECT(size_of() == CONSOLE_LOG_CAP);
    EXPECT(ends_with(NOTE));
}

static void continued_counts_what_is_there(void)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    struct console_log *l;

    /* The file is at the cap from the test before. */
    EXPECT(fd >= 0 && size_of() == CONSOLE_LOG_CAP);
    l = console_log_new("vm1", "serial0", fd, true);
    console_log_write(l, chunk, sizeof(chunk));
    console_log_free(l);
    EXPECT(size_of() == CONSOLE_LOG_CAP);
    /* append='on': the count starts again, in the same file. */
    fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    l = console_log_new("vm1", "serial0", fd, false);
    console_log_write(l, "more\n", 5);
    console_log_free(l);
    EXPECT(size_of() == CONSOLE_LOG_CAP + 5);
}

int main(void)
{
    int fd = mkstemp(path);

    if (fd < 0)
        return 1;
    close(fd);
    log_init("test_console_log", LOG_LVL_ERR);
    memset(chunk, 'x', sizeof(chunk));
    RUN(under_the_cap);
    RUN(capped);
    RUN(continued_counts_what_is_there);
    unlink(path);
    return unit_done();
}
