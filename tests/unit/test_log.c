/* common/log.c's journal and syslog datagrams, read from a socket of the
 * test's (CORRAL_LOG_SOCKET), and its fall-back to stderr. */
#include <endian.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "tests/unit/unit.h"

static char sock_path[108];
static int sock_fd = -1;

/* A fresh datagram socket the log writes to. */
static int listen_log(void)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};

    snprintf(sock_path, sizeof(sock_path), "/tmp/corral-test-log-%ld", (long)getpid());
    unlink(sock_path);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
    sock_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock_fd < 0 || bind(sock_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        return -1;
    return setenv("CORRAL_LOG_SOCKET", sock_path, 1);
}

static void close_log(void)
{
    log_select(LOG_TARGET_STDERR);
    close(sock_fd);
    unlink(sock_path);
}

/* The value of key in the journal datagram d (either form), copied. */
static const char *field(const char *d, size_t len, const char *key, char *out, size_t outlen)
{
    size_t i = 0, klen = strlen(key);

    while (i < len) {
        const char *nl = memchr(d + i, '\n', len - i);
        size_t n;

        if (nl == NULL)
            return NULL;
        if (memchr(d + i, '=', (size_t)(nl - (d + i))) != NULL) {
            n = (size_t)(nl - (d + i)) - klen - 1;
            if (strncmp(d + i, key, klen) == 0 && d[i + klen] == '=' && n < outlen) {
                memcpy(out, d + i + klen + 1, n);
                out[n] = '\0';
                return out;
            }
            i = (size_t)(nl - d) + 1;
            continue;
        }
        uint64_t le;
        memcpy(&le, nl + 1, sizeof(le));
        n = (size_t)le64toh(le);
        if ((size_t)(nl - (d + i)) == klen && strncmp(d + i, key, klen) == 0 && n < outlen) {
            memcpy(out, nl + 1 + sizeof(le), n);
            out[n] = '\0';
            return out;
        }
        i = (size_t)(nl - d) + 1 + sizeof(le) + n + 1;
    }
    return NULL;
}

static void journal_fields(void)
{
    char d[8192], v[512];
    ssize_t n;

    EXPECT(listen_log() == 0);
    log_init("test_log", LOG_LVL_DEBUG);
    log_select(LOG_TARGET_JOURNAL);
    EXPECT(log_target_current() == LOG_TARGET_JOURNAL && log_fd() >= 0);
    EXPECT_STR(getenv("CORRAL_LOG_TARGET"), "journal");
    log_err("VM web1: snapshot s1: inconsistency\nsecond line");
    n = recv(sock_fd, d, sizeof(d), MSG_DONTWAIT);
    EXPECT(n > 0);
    EXPECT_STR(field(d, (size_t)n, "MESSAGE", v, sizeof(v)),
               "VM web1: snapshot s1: inconsistency\nsecond line");
    EXPECT_STR(field(d, (size_t)n, "PRIORITY", v, sizeof(v)), "3");
    EXPECT_STR(field(d, (size_t)n, "SYSLOG_IDENTIFIER", v, sizeof(v)), "test_log");
    EXPECT_STR(field(d, (size_t)n, "VM", v, sizeof(v)), "web1");
    EXPECT_STR(field(d, (size_t)n, "SNAPSHOT", v, sizeof(v)), "s1");
    EXPECT_STR(field(d, (size_t)n, "CODE_FUNC", v, sizeof(v)), "journal_fields");
    /* The supervisor's phrasings, and a message about no VM. */
    log_info("VM web1: reverted to snapshot before-upgrade");
    n = recv(sock_fd, d, sizeof(d), MSG_DONTWAIT);
    EXPECT(n > 0);
    EXPECT_STR(field(d, (size_t)n, "SNAPSHOT", v, sizeof(v)), "before-upgrade");
    EXPECT_STR(field(d, (size_t)n, "PRIORITY", v, sizeof(v)), "6");
    log_warn("VM web1: snapshot recovery skipped: an operation is under way");
    n = recv(sock_fd, d, sizeof(d), MSG_DONTWAIT);
    EXPECT(n > 0);
    EXPECT(field(d, (size_t)n, "SNAPSHOT", v, sizeof(v)) == NULL);
    log_info("serving");
    n = recv(sock_fd, d, sizeof(d), MSG_DONTWAIT);
    EXPECT(n > 0);
    EXPECT(field(d, (size_t)n, "VM", v, sizeof(v)) == NULL);
    /* A supervisor's own VM tags every line. */
    log_set_vm("db2");
    log_debug("QEMU pid 42");
    n = recv(sock_fd, d, sizeof(d), MSG_DONTWAIT);
    log_set_vm(NULL);
    EXPECT(n > 0);
    EXPECT_STR(field(d, (size_t)n, "VM", v, sizeof(v)), "db2");
    EXPECT_STR(field(d, (size_t)n, "PRIORITY", v, sizeof(v)), "7");
    close_log();
}

static void syslog_line(void)
{
    char d[4096];
    ssize_t n;

    EXPECT(listen_log() == 0);
    log_init("test_log", LOG_LVL_INFO);
    log_select(LOG_TARGET_SYSLOG);
    EXPECT(log_target_current() == LOG_TARGET_SYSLOG);
    log_debug("below the level: not sent");
    log_warn("VM web1: disk given back");
    n = recv(sock_fd, d, sizeof(d) - 1, MSG_DONTWAIT);
    EXPECT(n > 0);
    d[n] = '\0';
    /* daemon.warning is 3 * 8 + 4. */
    EXPECT(strncmp(d, "<28>", 4) == 0);
    EXPECT_CONTAINS(d, " test_log[");
    EXPECT_CONTAINS(d, "]: VM web1: disk given back");
    EXPECT(recv(sock_fd, d, sizeof(d), MSG_DONTWAIT) < 0);
    close_log();
}

/* No socket there: stderr, and the supervisors are told so. */
static void unreachable_falls_back(void)
{
    EXPECT(setenv("CORRAL_LOG_SOCKET", "/nonexistent/corral-log", 1) == 0);
    log_init("test_log", LOG_LVL_ERR);
    log_select(LOG_TARGET_JOURNAL);
    EXPECT(log_target_current() == LOG_TARGET_STDERR && log_fd() < 0);
    EXPECT_STR(getenv("CORRAL_LOG_TARGET"), "stderr");
}

static void targets_parsed(void)
{
    enum log_target t;

    EXPECT(log_target_parse("journal", &t) == 0 && t == LOG_TARGET_JOURNAL);
    EXPECT(log_target_parse("auto", &t) == 0 && t == LOG_TARGET_AUTO);
    EXPECT(log_target_parse("stderr", &t) == 0 && t == LOG_TARGET_STDERR);
    EXPECT(log_target_parse("syslog", &t) == 0 && t == LOG_TARGET_SYSLOG);
    EXPECT(log_target_parse("Journal", &t) < 0 && log_target_parse("", &t) < 0);
}

int main(void)
{
    RUN(journal_fields);
    RUN(syslog_line);
    RUN(unreachable_falls_back);
    RUN(targets_parsed);
    return unit_done();
}
