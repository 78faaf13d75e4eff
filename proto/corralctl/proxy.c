/* corralctl proxy: the far end of `corralctl -c ssh://`, as libvirt's
 * virt-ssh-helper.  It relays bytes between its standard input and output
 * (ssh's channel) and the server's Unix socket, so the server sees this
 * process's uid (SO_PEERCRED) and authorises the ssh user as any local
 * client.  It never reads the bytes: consoles and event streams pass as
 * they are.  One buffer of fixed size per direction; a full buffer stops
 * reading until the other side takes it.  The end of standard input is
 * passed on as a half-close (the server then closes); the end of the
 * socket ends the proxy once what it sent has been written out. */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto/corralctl/ctl.h"

#define PROXY_BUF 65536

struct proxy;

/* One direction of the relay: bytes read from in wait in buf until written
 * to out. */
struct proxy_dir {
    struct proxy *p;
    const char *from, *to; /* for messages */
    int in, out;
    struct event *rev, *wev;
    char buf[PROXY_BUF];
    size_t off, len; /* buf[off..len) is still to be written */
    bool eof;        /* in has ended (or failed) */
};

struct proxy {
    struct event_base *base;
    struct proxy_dir up;   /* standard input to the socket */
    struct proxy_dir down; /* the socket to standard output */
    int sock;
    int status;
};

static void dir_done(struct proxy_dir *d)
{
    struct proxy *p = d->p;

    if (d == &p->up) {
        /* The client has no more to say: the server sees the end of its
         * requests and closes, which ends the other direction. */
        if (shutdown(p->sock, SHUT_WR) < 0 && errno != ENOTCONN)
            event_base_loopbreak(p->base);
        return;
    }
    event_base_loopbreak(p->base);
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
    struct proxy_dir *d = arg;
    ssize_t n = read(fd, d->buf + d->len, sizeof(d->buf) - d->len);

    (void)what;
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0) {
        /* An error reading is an end too: nothing more will come. */
        d->eof = true;
        event_del(d->rev);
        if (d->len == d->off)
            dir_done(d);
        return;
    }
    d->len += (size_t)n;
    if (d->len == sizeof(d->buf))
        event_del(d->rev);
    if (event_add(d->wev, NULL) < 0) {
        fprintf(stderr, "corralctl proxy: cannot watch %s\n", d->to);
        d->p->status = CTL_EXIT_ERROR;
        event_base_loopbreak(d->p->base);
    }
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
    struct proxy_dir *d = arg;
    ssize_t n = write(fd, d->buf + d->off, d->len - d->off);

    (void)what;
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n < 0) {
        /* Standard output gone: nobody is left to read.  The socket gone:
         * what the server said before is still relayed, to its end. */
        if (d == &d->p->down) {
            event_base_loopbreak(d->p->base);
            return;
        }
        d->eof = true;
        d->off = d->len = 0;
        event_del(d->rev);
        event_del(d->wev);
        return;
    }
    d->off += (size_t)n;
    if (d->off < d->len)
        return;
    d->off = d->len = 0;
    event_del(d->wev);
    if (d->eof)
        dir_done(d);
    else if (event_add(d->rev, NULL) < 0) {
        fprintf(stderr, "corralctl proxy: cannot watch %s\n", d->from);
        d->p->status = CTL_EXIT_ERROR;
        event_base_loopbreak(d->p->base);
    }
}

static int dir_init(struct proxy *p, struct proxy_dir *d, int in, int out, const char *from,
                    const char *to)
{
    d->p = p;
    d->in = in;
    d->out = out;
    d->from = from;
    d->to = to;
    d->rev = event_new(p->base, in, EV_READ | EV_PERSIST, on_read, d);
    d->wev = event_new(p->base, out, EV_WRITE | EV_PERSIST, on_write, d);
    if (d->rev == NULL || d->wev == NULL)
        return ctl_error("proxy: cannot create the events of %s", from);
    if (event_add(d->rev, NULL) < 0)
        return ctl_error("proxy: cannot watch %s (a pipe or a socket is needed)", from);
    return CTL_EXIT_OK;
}

/* Sets O_NONBLOCK on fd; *saved is its flags before, to put back. */
static int set_nonblock(int fd, int *saved, const char *what)
{
    *saved = fcntl(fd, F_GETFL);
    if (*saved < 0 || fcntl(fd, F_SETFL, *saved | O_NONBLOCK) < 0)
        return ctl_error("proxy: cannot make %s non-blocking: %s", what, strerror(errno));
    return CTL_EXIT_OK;
}

static int relay(struct proxy *p)
{
    int status = dir_init(p, &p->up, STDIN_FILENO, p->sock, "standard input", "the socket");

    if (status == CTL_EXIT_OK)
        status = dir_init(p, &p->down, p->sock, STDOUT_FILENO, "the socket", "standard output");
    if (status == CTL_EXIT_OK && event_base_dispatch(p->base) < 0)
        status = ctl_error("proxy: the event loop failed");
    if (status == CTL_EXIT_OK)
        status = p->status;
    for (struct proxy_dir *d = &p->up; d <= &p->down; d++) {
        if (d->rev != NULL)
            event_free(d->rev);
        if (d->wev != NULL)
            event_free(d->wev);
    }
    return status;
}

/* The stdio flags are those of descriptions a terminal or the caller may
 * share: put them back as they were. */
static int run_nonblocking(struct proxy *p)
{
    int in_flags, out_flags, status;

    status = set_nonblock(STDIN_FILENO, &in_flags, "standard input");
    if (status != CTL_EXIT_OK)
        return status;
    status = set_nonblock(STDOUT_FILENO, &out_flags, "standard output");
    if (status == CTL_EXIT_OK) {
        status = relay(p);
        fcntl(STDOUT_FILENO, F_SETFL, out_flags);
    }
    fcntl(STDIN_FILENO, F_SETFL, in_flags);
    return status;
}

int ctl_run_proxy(struct ctl *ctl, const struct ctl_args *a)
{
    const char *path = a->argc > 0 ? a->argv[0] : ctl->socket;
    struct proxy *p;
    struct cerr e;
    int status;

    /* Writes to a closed channel or socket are errors to handle, not a
     * signal that ends the proxy. */
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
        return ctl_error("proxy: cannot ignore SIGPIPE: %s", strerror(errno));
    cerr_clear(&e);
    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return ctl_error("proxy: out of memory");
    p->sock = rpc_client_unix_socket(path, &e);
    if (p->sock < 0) {
        free(p);
        return ctl_error_code(CTL_ERR_CONNECT, "proxy: %s", e.msg);
    }
    p->status = CTL_EXIT_OK;
    p->base = event_base_new();
    if (p->base == NULL)
        status = ctl_error("proxy: cannot create an event loop");
    else
        status = set_nonblock(p->sock, &(int){0}, "the socket");
    if (status == CTL_EXIT_OK)
        status = run_nonblocking(p);
    if (p->base != NULL)
        event_base_free(p->base);
    close(p->sock);
    free(p);
    return status;
}
