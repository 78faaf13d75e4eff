#include "common/log.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define JOURNAL_SOCKET "/run/systemd/journal/socket"
#define SYSLOG_SOCKET "/dev/log"
/* A message is cut there; the fields around it fit in a datagram of
 * LOG_DGRAM_MAX, far below any socket's limit, so that the journal never
 * needs the memfd the protocol uses for larger entries. */
#define LOG_LINE_MAX 2048
#define LOG_DGRAM_MAX 4096

static const char *log_prog = "corral";
static enum log_level log_min = LOG_LVL_INFO;
static enum log_target log_target = LOG_TARGET_STDERR;
static int log_sock = -1;
static const char *log_vm;

void log_init(const char *prog, enum log_level min)
{
    log_prog = prog;
    log_min = min;
}

int log_target_parse(const char *name, enum log_target *t)
{
    static const char *const names[] = {"auto", "stderr", "syslog", "journal"};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(name, names[i]) == 0) {
            *t = (enum log_target)i;
            return 0;
        }
    }
    return -1;
}

enum log_target log_target_current(void)
{
    return log_target;
}

int log_fd(void)
{
    return log_sock;
}

void log_set_vm(const char *vm)
{
    log_vm = vm;
}

/* systemd sets INVOCATION_ID for every service it starts, and
 * JOURNAL_STREAM (device:inode) when stderr is the journal's stream. */
static bool under_systemd(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;

    if (getenv("INVOCATION_ID") != NULL)
        return true;
    return js != NULL && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && fstat(2, &st) == 0 &&
           (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

/* A datagram socket connected to path, non-blocking so that a journal or
 * syslog daemon that stalls never stalls the event loop; -1 and errno. */
static int connect_dgram(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd, saved;

    if (strlen(path) >= sizeof(sa.sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

static const char *socket_path(enum log_target t)
{
    const char *over = getenv("CORRAL_LOG_SOCKET");

    if (over != NULL && over[0] != '\0')
        return over;
    return t == LOG_TARGET_JOURNAL ? JOURNAL_SOCKET : SYSLOG_SOCKET;
}

void log_select(enum log_target t)
{
    static const char *const names[] = {"auto", "stderr", "syslog", "journal"};

    if (t == LOG_TARGET_AUTO)
        t = under_systemd() ? LOG_TARGET_JOURNAL : LOG_TARGET_SYSLOG;
    if (log_sock >= 0)
        close(log_sock);
    log_sock = -1;
    log_target = LOG_TARGET_STDERR;
    if (t != LOG_TARGET_STDERR) {
        const char *path = socket_path(t);

        log_sock = connect_dgram(path);
        if (log_sock >= 0)
            log_target = t;
        else
            log_warn("cannot log to %s (%s): %s; logging to stderr", names[t], path,
                     strerror(errno));
    }
    if (setenv("CORRAL_LOG_TARGET", names[log_target], 1) < 0)
        log_warn("cannot pass the log target on to supervisors: %s", strerror(errno));
}

void log_select_inherited(void)
{
    const char *name = getenv("CORRAL_LOG_TARGET");
    enum log_target t;

    if (name != NULL && log_target_parse(name, &t) == 0 && t != LOG_TARGET_AUTO)
        log_select(t);
}

/* The NAME of "WORD NAME: " at the start of *text, which then points past
 * it; false when text does not start so. */
static bool lead_field(const char **text, const char *word, const char **name, size_t *len)
{
    size_t wl = strlen(word), n;
    const char *p = *text;

    if (strncmp(p, word, wl) != 0)
        return false;
    p += wl;
    n = strcspn(p, ": \n");
    if (n == 0 || p[n] != ':' || p[n + 1] != ' ')
        return false;
    *name = p;
    *len = n;
    *text = p + n + 2;
    return true;
}

/* The snapshot a VM's message is about, by the phrasings the supervisor
 * uses: "snapshot S: ...", "snapshot S created|deleted...", "reverted to
 * snapshot S". */
static bool snapshot_field(const char *text, const char **name, size_t *len)
{
    static const char *const verbs[] = {" created", " deleted"};
    const char *p = text;
    size_t n;

    if (lead_field(&p, "snapshot ", name, len))
        return true;
    if (strncmp(text, "reverted to snapshot ", 21) == 0) {
        *name = text + 21;
        *len = strcspn(*name, " \n");
        return *len > 0;
    }
    if (strncmp(text, "snapshot ", 9) != 0)
        return false;
    p = text + 9;
    n = strcspn(p, " \n");
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
        if (n > 0 && strncmp(p + n, verbs[i], strlen(verbs[i])) == 0) {
            *name = p;
            *len = n;
            return true;
        }
    }
    return false;
}

struct dgram {
    char data[LOG_DGRAM_MAX];
    size_t len;
};

/* KEY=VALUE, or the protocol's length-prefixed form when the value holds a
 * newline; a field that does not fit is left out. */
static void add_field(struct dgram *d, const char *key, const char *val, size_t vlen)
{
    size_t klen = strlen(key);
    bool binary = memchr(val, '\n', vlen) != NULL;
    size_t need = klen + 1 + (binary ? sizeof(uint64_t) : 0) + vlen + 1;

    if (d->len + need > sizeof(d->data))
        return;
    memcpy(d->data + d->len, key, klen);
    d->len += klen;
    if (binary) {
        uint64_t le = htole64((uint64_t)vlen);

        d->data[d->len++] = '\n';
        memcpy(d->data + d->len, &le, sizeof(le));
        d->len += sizeof(le);
    } else {
        d->data[d->len++] = '=';
    }
    memcpy(d->data + d->len, val, vlen);
    d->len += vlen;
    d->data[d->len++] = '\n';
}

static void add_fieldf(struct dgram *d, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void add_fieldf(struct dgram *d, const char *key, const char *fmt, ...)
{
    char val[256];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(val, sizeof(val), fmt, ap);
    va_end(ap);
    if (n >= 0)
        add_field(d, key, val, strnlen(val, sizeof(val)));
}

static int syslog_priority(enum log_level lvl)
{
    static const int prio[] = {LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR};

    return prio[lvl];
}

/* The journal's native protocol: one datagram of fields. */
static void journal_entry(struct dgram *d, enum log_level lvl, const char *code, const char *file,
                          int line, const char *func, const char *text)
{
    const char *rest = text, *vm = log_vm, *snap = NULL;
    size_t vmlen = log_vm ? strlen(log_vm) : 0, snaplen = 0;

    if (lead_field(&rest, "VM ", &vm, &vmlen) || log_vm != NULL)
        snapshot_field(rest, &snap, &snaplen);
    add_field(d, "MESSAGE", text, strlen(text));
    add_fieldf(d, "PRIORITY", "%d", syslog_priority(lvl));
    add_field(d, "SYSLOG_IDENTIFIER", log_prog, strlen(log_prog));
    add_fieldf(d, "SYSLOG_FACILITY", "%d", LOG_DAEMON >> 3);
    if (vm != NULL)
        add_field(d, "VM", vm, vmlen);
    if (snap != NULL)
        add_field(d, "SNAPSHOT", snap, snaplen);
    if (code != NULL)
        add_field(d, "CODE", code, strlen(code));
    add_field(d, "CODE_FILE", file, strlen(file));
    add_fieldf(d, "CODE_LINE", "%d", line);
    add_field(d, "CODE_FUNC", func, strlen(func));
}

/* RFC 3164, as glibc's syslog(3) writes it to /dev/log. */
static void syslog_entry(struct dgram *d, enum log_level lvl, const struct tm *tm, const char *text)
{
    char stamp[32] = "";
    int n;

    if (tm != NULL)
        strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", tm);
    n = snprintf(d->data, sizeof(d->data), "<%d>%s %s[%ld]: %s", LOG_DAEMON | syslog_priority(lvl),
                 stamp, log_prog, (long)getpid(), text);
    d->len = n < 0 ? 0 : (size_t)n < sizeof(d->data) ? (size_t)n : sizeof(d->data) - 1;
}

/* False when the daemon cannot take it now: the caller says it on stderr.
 * A daemon that restarted refuses the old connection: connect again once. */
static bool send_dgram(const struct dgram *d)
{
    int fd;

    if (send(log_sock, d->data, d->len, MSG_NOSIGNAL | MSG_DONTWAIT) >= 0)
        return true;
    if (errno != ECONNREFUSED && errno != ENOTCONN)
        return false;
    fd = connect_dgram(socket_path(log_target));
    if (fd < 0)
        return false;
    /* dup2 keeps the number log_fd() gave a process that closes its fds. */
    if (dup3(fd, log_sock, O_CLOEXEC) < 0) {
        close(fd);
        return false;
    }
    close(fd);
    return send(log_sock, d->data, d->len, MSG_NOSIGNAL | MSG_DONTWAIT) >= 0;
}

static void vlog(enum log_level lvl, const char *code, const char *file, int line, const char *func,
                 const char *fmt, va_list ap) __attribute__((format(printf, 6, 0)));

static void vlog(enum log_level lvl, const char *code, const char *file, int line, const char *func,
                 const char *fmt, va_list ap)
{
    static const char *names[] = {"debug", "info", "warning", "error"};
    char stamp[32] = "", text[LOG_LINE_MAX];
    struct timespec ts = {0};
    struct tm tm, *tmp = NULL;
    struct dgram d = {.len = 0};

    if (lvl < log_min)
        return;
    vsnprintf(text, sizeof(text), fmt, ap);
    if (clock_gettime(CLOCK_REALTIME, &ts) == 0)
        tmp = localtime_r(&ts.tv_sec, &tm);
    if (log_target == LOG_TARGET_JOURNAL)
        journal_entry(&d, lvl, code, file, line, func, text);
    else if (log_target == LOG_TARGET_SYSLOG)
        syslog_entry(&d, lvl, tmp, text);
    if (d.len > 0 && send_dgram(&d))
        return;
    if (tmp != NULL)
        strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", tmp);
    /* One fprintf per line keeps lines from several processes sharing a
     * stderr from interleaving mid-line. */
    fprintf(stderr, "%s.%03ld %s[%ld]: %s: %s\n", stamp, ts.tv_nsec / 1000000L, log_prog,
            (long)getpid(), names[lvl], text);
}

void log_msg(enum log_level lvl, const char *file, int line, const char *func, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog(lvl, NULL, file, line, func, fmt, ap);
    va_end(ap);
}

void log_code_msg(enum log_level lvl, const char *code, const char *file, int line,
                  const char *func, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog(lvl, code, file, line, func, fmt, ap);
    va_end(ap);
}
