#include "supervisor/console.h"

#include <errno.h>
#include <event2/buffer.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/fileutil.h"
#include "common/log.h"
#include "supervisor/console_log.h"
#include "supervisor/console_ring.h"

struct console_claim {
    struct console *con; /* NULL once superseded or the console is gone */
    uid_t uid;
};

struct console {
    struct event_base *base;
    char *vm, *dev, *path;
    bool started;               /* QEMU runs: keep connected to its chardev */
    struct bufferevent *chr;    /* QEMU's chardev socket, NULL while not connected */
    struct event *retry;        /* the next try to connect */
    bool retry_logged;          /* one warning per episode */
    struct bufferevent *client; /* the attached client, or NULL */
    uid_t client_uid;
    bool client_closing;  /* QEMU has gone: flushing, then closing */
    bool paused;          /* the guest's output waits for the client */
    size_t stall_backlog; /* the client's backlog when the stall timer was armed */
    struct event *stall;
    struct console_claim *claim; /* a client between claim and attach */
    struct console_ring ring;
    struct console_log *log; /* <log file=...>, or NULL */
};

static void chr_read_cb(struct bufferevent *bev, void *arg);

/* Reading the guest's output again, and what waited meanwhile. */
static void chr_resume(struct console *c)
{
    if (!c->paused)
        return;
    c->paused = false;
    evtimer_del(c->stall);
    if (c->chr == NULL)
        return;
    if (bufferevent_enable(c->chr, EV_READ) < 0)
        log_err("VM %s: console %s: cannot read QEMU's output again", c->vm, c->dev);
    if (evbuffer_get_length(bufferevent_get_input(c->chr)) > 0)
        chr_read_cb(c->chr, c);
}

static void client_drop(struct console *c, const char *why)
{
    if (c->client == NULL)
        return;
    log_info("VM %s: console %s: client of uid %ld detached: %s", c->vm, c->dev,
             (long)c->client_uid, why);
    bufferevent_free(c->client);
    c->client = NULL;
    c->client_closing = false;
    chr_resume(c);
}

static void arm_stall(struct console *c)
{
    struct timeval tv = {CONSOLE_STALL_MS / 1000, (CONSOLE_STALL_MS % 1000) * 1000};

    c->stall_backlog = evbuffer_get_length(bufferevent_get_output(c->client));
    if (evtimer_add(c->stall, &tv) < 0)
        client_drop(c, "cannot time its reading");
}

/* A client still reading keeps the guest's output waiting, as a serial
 * line with flow control would; one that has read nothing for
 * CONSOLE_STALL_MS is dropped, so it never holds the guest for longer. */
static void stall_cb(evutil_socket_t fd, short what, void *arg)
{
    struct console *c = arg;

    (void)fd;
    (void)what;
    if (c->client == NULL || !c->paused)
        return;
    if (evbuffer_get_length(bufferevent_get_output(c->client)) < c->stall_backlog)
        arm_stall(c);
    else
        client_drop(c, "it read nothing for 2 s while the guest's output waited for it");
}

/* Copies of the guest's output go to the ring, the log and the client.  Beyond
 * CONSOLE_CLIENT_BACKLOG unread by the client, reading waits for it
 * (client_write_cb), boundedly (stall_cb). */
static void chr_read_cb(struct bufferevent *bev, void *arg)
{
    struct console *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    unsigned char buf[16384];
    int n;

    while (!c->paused && (n = evbuffer_remove(in, buf, sizeof(buf))) > 0) {
        console_ring_add(&c->ring, buf, (size_t)n);
        console_log_write(c->log, buf, (size_t)n);
        if (c->client == NULL)
            continue;
        struct evbuffer *out = bufferevent_get_output(c->client);
        if (evbuffer_add(out, buf, (size_t)n) < 0)
            client_drop(c, "out of memory queueing output for it");
        else if (evbuffer_get_length(out) >= CONSOLE_CLIENT_BACKLOG) {
            c->paused = true;
            if (bufferevent_disable(bev, EV_READ) < 0)
                client_drop(c, "cannot wait for it");
            else
                arm_stall(c);
        }
    }
}

static void client_read_cb(struct bufferevent *bev, void *arg);

/* The guest has taken the input: the client may send more. */
static void chr_write_cb(struct bufferevent *bev, void *arg)
{
    struct console *c = arg;

    (void)bev;
    if (c->client != NULL && !c->client_closing) {
        if (bufferevent_enable(c->client, EV_READ) < 0)
            client_drop(c, "cannot read from it again");
        else if (evbuffer_get_length(bufferevent_get_input(c->client)) > 0)
            client_read_cb(c->client, c);
    }
}

static void arm_retry(struct console *c)
{
    struct timeval tv = {CONSOLE_RETRY_MS / 1000, (CONSOLE_RETRY_MS % 1000) * 1000};

    if (c->started && evtimer_add(c->retry, &tv) < 0)
        log_err("VM %s: console %s: cannot arm the reconnect timer", c->vm, c->dev);
}

static void chr_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct console *c = arg;

    (void)bev;
    if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
        return;
    log_warn("VM %s: console %s: QEMU's chardev socket %s", c->vm, c->dev,
             (what & BEV_EVENT_EOF) ? "closed" : strerror(EVUTIL_SOCKET_ERROR()));
    bufferevent_free(c->chr);
    c->chr = NULL;
    chr_resume(c);
    arm_retry(c);
}

/* QEMU serves one client on the socket and drops output while it has
 * none, so connecting early loses nothing the guest writes once running. */
static int chr_connect(struct console *c, struct cerr *e)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd;

    if (strlen(c->path) >= sizeof(sa.sun_path)) {
        cerr_set(e, CE_SYSTEM, "socket path %s is too long", c->path);
        return -1;
    }
    strcpy(sa.sun_path, c->path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        cerr_set(e, CE_SYSTEM, "cannot create a socket: %s", strerror(errno));
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        cerr_set(e, CE_SYSTEM, "cannot connect to %s: %s", c->path, strerror(errno));
        close(fd);
        return -1;
    }
    c->chr = bufferevent_socket_new(c->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (c->chr == NULL) {
        close(fd);
        cerr_set(e, CE_SYSTEM, "cannot set up the connection to %s", c->path);
        return -1;
    }
    bufferevent_setcb(c->chr, chr_read_cb, chr_write_cb, chr_event_cb, c);
    /* What waits for a slow client waits in QEMU, not here. */
    bufferevent_setwatermark(c->chr, EV_READ, 0, 65536);
    if (bufferevent_enable(c->chr, EV_READ | EV_WRITE) < 0) {
        bufferevent_free(c->chr);
        c->chr = NULL;
        cerr_set(e, CE_SYSTEM, "cannot read from %s", c->path);
        return -1;
    }
    return 0;
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
    struct console *c = arg;
    struct cerr e;

    (void)fd;
    (void)what;
    if (!c->started || c->chr != NULL)
        return;
    if (chr_connect(c, &e) < 0) {
        if (!c->retry_logged)
            log_warn("VM %s: console %s: %s; trying again every %d ms", c->vm, c->dev, e.msg,
                     CONSOLE_RETRY_MS);
        c->retry_logged = true;
        arm_retry(c);
        return;
    }
    c->retry_logged = false;
    log_info("VM %s: console %s connected to QEMU", c->vm, c->dev);
}

struct console *console_new(struct event_base *base, const char *vm, const char *dev,
                            const char *path)
{
    struct console *c = xcalloc(1, sizeof(*c));

    c->base = base;
    c->vm = xstrdup(vm);
    c->dev = xstrdup(dev);
    c->path = xstrdup(path);
    console_ring_init(&c->ring);
    c->retry = evtimer_new(base, retry_cb, c);
    c->stall = evtimer_new(base, stall_cb, c);
    if (c->retry == NULL || c->stall == NULL)
        log_err("VM %s: console %s: cannot create its timers", vm, dev);
    return c;
}

void console_free(struct console *c)
{
    if (c == NULL)
        return;
    client_drop(c, "the supervisor is exiting");
    if (c->claim != NULL)
        c->claim->con = NULL;
    if (c->chr != NULL)
        bufferevent_free(c->chr);
    if (c->retry != NULL)
        event_free(c->retry);
    if (c->stall != NULL)
        event_free(c->stall);
    console_log_free(c->log);
    free(c->vm);
    free(c->dev);
    free(c->path);
    free(c);
}

const char *console_dev(const struct console *c)
{
    return c->dev;
}

void console_set_log(struct console *c, struct console_log *log)
{
    console_log_free(c->log);
    c->log = log;
}

void console_start(struct console *c)
{
    c->started = true;
    if (c->chr == NULL && c->retry != NULL && c->stall != NULL)
        retry_cb(-1, 0, c);
}

void console_stop(struct console *c)
{
    c->started = false;
    if (c->retry != NULL)
        evtimer_del(c->retry);
    if (c->chr != NULL) {
        /* What QEMU wrote last is still to be read. */
        chr_read_cb(c->chr, c);
        bufferevent_free(c->chr);
        c->chr = NULL;
    }
    chr_resume(c);
    if (unlink(c->path) < 0 && errno != ENOENT)
        log_warn("VM %s: console %s: cannot remove %s: %s", c->vm, c->dev, c->path,
                 strerror(errno));
    if (c->client == NULL)
        return;
    c->client_closing = true;
    if (bufferevent_disable(c->client, EV_READ) < 0 ||
        evbuffer_get_length(bufferevent_get_output(c->client)) == 0)
        client_drop(c, "the VM has stopped");
}

/* Keystrokes go to the guest while it takes them; beyond
 * CONSOLE_INPUT_BACKLOG the client waits (chr_write_cb resumes it).  With
 * no chardev connected they are lost, as on a serial line with nobody at
 * the other end. */
static void client_read_cb(struct bufferevent *bev, void *arg)
{
    struct console *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);

    if (c->chr == NULL) {
        evbuffer_drain(in, evbuffer_get_length(in));
        return;
    }
    struct evbuffer *out = bufferevent_get_output(c->chr);
    size_t queued = evbuffer_get_length(out);
    if (queued >= CONSOLE_INPUT_BACKLOG) {
        if (bufferevent_disable(bev, EV_READ) < 0)
            client_drop(c, "cannot pause reading from it");
        return;
    }
    if (evbuffer_remove_buffer(in, out, CONSOLE_INPUT_BACKLOG - queued) < 0)
        client_drop(c, "cannot pass its input on");
}

/* Called once the client's backlog has drained to half of the most. */
static void client_write_cb(struct bufferevent *bev, void *arg)
{
    struct console *c = arg;

    if (c->client_closing && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
        client_drop(c, "the VM has stopped");
    else
        chr_resume(c);
}

static void client_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct console *c = arg;

    (void)bev;
    if (what & BEV_EVENT_EOF)
        client_drop(c, "it closed the connection");
    else if (what & BEV_EVENT_ERROR)
        client_drop(c, strerror(EVUTIL_SOCKET_ERROR()));
}

struct console_claim *console_claim(struct console *c, uid_t uid, bool force, struct cerr *e)
{
    struct console_claim *cl;

    if (!c->started) {
        cerr_set(e, CE_OPERATION_INVALID, "VM %s is not running: its console %s has no guest",
                 c->vm, c->dev);
        return NULL;
    }
    if ((c->client != NULL || c->claim != NULL) && !force) {
        cerr_set(e, CE_BUSY, "VM %s: console %s is in use by another client; --force takes it over",
                 c->vm, c->dev);
        return NULL;
    }
    client_drop(c, "another client took the console over (force)");
    if (c->claim != NULL)
        c->claim->con = NULL;
    cl = xcalloc(1, sizeof(*cl));
    cl->con = c;
    cl->uid = uid;
    c->claim = cl;
    return cl;
}

static int client_setup(struct console *c, struct bufferevent *bev)
{
    const void *a, *b;
    size_t alen, blen;

    console_ring_spans(&c->ring, &a, &alen, &b, &blen);
    if (evbuffer_add(bufferevent_get_output(bev), a, alen) < 0 ||
        evbuffer_add(bufferevent_get_output(bev), b, blen) < 0)
        return -1;
    bufferevent_setcb(bev, client_read_cb, client_write_cb, client_event_cb, c);
    bufferevent_setwatermark(bev, EV_WRITE, CONSOLE_CLIENT_BACKLOG / 2, 0);
    return bufferevent_enable(bev, EV_READ | EV_WRITE);
}

void console_attach(struct bufferevent *bev, void *arg)
{
    struct console_claim *cl = arg;
    struct console *c = cl->con;

    if (c != NULL)
        c->claim = NULL;
    if (c == NULL || bev == NULL || !c->started) {
        if (bev != NULL)
            bufferevent_free(bev);
        free(cl);
        return;
    }
    c->client = bev;
    c->client_uid = cl->uid;
    free(cl);
    if (client_setup(c, bev) < 0) {
        client_drop(c, "cannot set up its connection");
        return;
    }
    log_info("VM %s: console %s: client of uid %ld attached", c->vm, c->dev, (long)c->client_uid);
    /* Keystrokes it sent with its request. */
    if (evbuffer_get_length(bufferevent_get_input(bev)) > 0)
        client_read_cb(bev, c);
}
