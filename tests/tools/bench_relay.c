/* The floor of a process hop, for make bench: relays bytes between each
 * client of LISTEN and a connection of its own to TARGET, on one libevent
 * loop, writing at once as proto/conn.c does, and neither parses nor
 * copies more than a relay must.  A vm.qmp round trip through corral
 * crosses two such hops (broker, supervisor) on top of QEMU's own.
 *   bench_relay LISTEN TARGET
 * Runs until killed. */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#define BENCH_TOOL "bench_relay"
#include "tests/tools/bench_io.h"

struct side {
    struct bufferevent *bev;
    struct side *peer;
};

static struct event_base *base;
static const char *target;

static void relay_cb(struct bufferevent *bev, void *arg)
{
    struct side *s = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    struct evbuffer *out = bufferevent_get_output(s->peer->bev);
    size_t n = evbuffer_get_length(in);

    if (evbuffer_get_length(out) == 0 && n > 0) {
        ssize_t w = send(bufferevent_getfd(s->peer->bev), evbuffer_pullup(in, (ssize_t)n), n,
                         MSG_DONTWAIT | MSG_NOSIGNAL);

        if (w > 0 && evbuffer_drain(in, (size_t)w) < 0)
            bench_die("evbuffer_drain");
    }
    if (evbuffer_add_buffer(out, in) < 0)
        bench_die("evbuffer_add_buffer");
}

static void closed_cb(struct bufferevent *bev, short what, void *arg)
{
    struct side *s = arg;

    (void)bev;
    (void)what;
    bufferevent_free(s->peer->bev);
    bufferevent_free(s->bev);
    free(s->peer);
    free(s);
}

static struct side *side_new(int fd)
{
    struct side *s = calloc(1, sizeof(*s));

    if (s == NULL || evutil_make_socket_nonblocking(fd) < 0)
        bench_die("set-up");
    s->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (s->bev == NULL)
        bench_die("bufferevent_socket_new");
    return s;
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len,
                      void *arg)
{
    struct side *a = side_new(fd), *b = side_new(bench_connect_unix(target));

    (void)l;
    (void)sa;
    (void)len;
    (void)arg;
    a->peer = b;
    b->peer = a;
    bufferevent_setcb(a->bev, relay_cb, NULL, closed_cb, a);
    bufferevent_setcb(b->bev, relay_cb, NULL, closed_cb, b);
    if (bufferevent_enable(a->bev, EV_READ | EV_WRITE) < 0 ||
        bufferevent_enable(b->bev, EV_READ | EV_WRITE) < 0)
        bench_die("bufferevent_enable");
}

int main(int argc, char **argv)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct evconnlistener *l;

    if (argc != 3 || strlen(argv[1]) >= sizeof(sa.sun_path)) {
        fprintf(stderr, "usage: bench_relay LISTEN TARGET\n");
        return 2;
    }
    target = argv[2];
    memcpy(sa.sun_path, argv[1], strlen(argv[1]) + 1);
    if (unlink(argv[1]) < 0 && errno != ENOENT)
        bench_die(argv[1]);
    base = event_base_new();
    if (base == NULL)
        bench_die("event_base_new");
    l = evconnlistener_new_bind(base, accept_cb, NULL, LEV_OPT_CLOSE_ON_FREE, -1,
                                (struct sockaddr *)&sa, sizeof(sa));
    if (l == NULL)
        bench_die(argv[1]);
    if (event_base_dispatch(base) < 0)
        bench_die("event_base_dispatch");
    evconnlistener_free(l);
    event_base_free(base);
    return 0;
}
