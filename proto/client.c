#include "proto/client.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/fileutil.h"
#include "common/monotime.h"
#include "proto/rpc.h"

struct rpc_client {
    int fd;
    char *buf; /* bytes received and not yet consumed */
    size_t len, cap;
    long long next_id;
    rpc_client_notify_cb notify;
    void *notify_arg;
};

int rpc_client_unix_socket(const char *path, struct cerr *e)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd;

    if (strlen(path) >= sizeof(sa.sun_path)) {
        cerr_set(e, CE_INVALID_PARAMS, "socket path %s is too long", path);
        return -1;
    }
    strcpy(sa.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        cerr_set(e, CE_SYSTEM, "cannot create a socket: %s", strerror(errno));
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        cerr_set(e, CE_SYSTEM, "cannot connect to %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

struct rpc_client *rpc_client_new(int fd)
{
    struct rpc_client *c = xcalloc(1, sizeof(*c));

    c->fd = fd;
    c->cap = 65536;
    c->buf = xcalloc(1, c->cap);
    c->next_id = 1;
    return c;
}

struct rpc_client *rpc_client_connect(const char *path, struct cerr *e)
{
    int fd = rpc_client_unix_socket(path, e);

    return fd < 0 ? NULL : rpc_client_new(fd);
}

void rpc_client_close(struct rpc_client *c)
{
    if (c == NULL)
        return;
    close(c->fd);
    free(c->buf);
    free(c);
}

int rpc_client_release(struct rpc_client *c, char **rest, size_t *restlen)
{
    int fd = c->fd;

    *restlen = c->len;
    *rest = c->buf;
    if (c->len == 0) {
        free(c->buf);
        *rest = NULL;
    }
    free(c);
    return fd;
}

void rpc_client_on_notify(struct rpc_client *c, rpc_client_notify_cb cb, void *arg)
{
    c->notify = cb;
    c->notify_arg = arg;
}

static int send_all(int fd, const char *p, size_t len, struct cerr *e)
{
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            cerr_set(e, CE_SUPERVISOR, "cannot send: %s", strerror(errno));
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

cJSON *rpc_client_next(struct rpc_client *c, int timeout_ms, struct cerr *e)
{
    long long deadline = timeout_ms < 0 ? -1 : monotime_ms() + timeout_ms;

    for (;;) {
        char *nl = memchr(c->buf, '\n', c->len);
        if (nl != NULL) {
            size_t linelen = (size_t)(nl - c->buf);
            cJSON *msg = json_parse(c->buf, linelen, e);
            memmove(c->buf, nl + 1, c->len - linelen - 1);
            c->len -= linelen + 1;
            if (msg == NULL)
                return NULL;
            return msg;
        }
        if (c->len >= RPC_MAX_MESSAGE) {
            cerr_set(e, CE_TOO_LARGE, "reply exceeds the limit of %d bytes", RPC_MAX_MESSAGE);
            return NULL;
        }
        if (c->len == c->cap) {
            char *nb = realloc(c->buf, c->cap * 2);
            if (nb == NULL) {
                cerr_set(e, CE_SYSTEM, "out of memory reading a reply");
                return NULL;
            }
            c->buf = nb;
            c->cap *= 2;
        }
        int wait = -1;
        if (deadline >= 0) {
            long long left = deadline - monotime_ms();
            if (left <= 0) {
                cerr_set(e, CE_TIMEOUT, "no reply within %d ms", timeout_ms);
                return NULL;
            }
            wait = (int)left;
        }
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        int r = poll(&pfd, 1, wait);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            cerr_set(e, CE_SYSTEM, "poll failed: %s", strerror(errno));
            return NULL;
        }
        if (r == 0)
            continue;
        ssize_t n = read(c->fd, c->buf + c->len, c->cap - c->len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            cerr_set(e, CE_SUPERVISOR, "connection lost: %s", strerror(errno));
            return NULL;
        }
        if (n == 0) {
            cerr_set(e, CE_SUPERVISOR, "the server closed the connection");
            return NULL;
        }
        c->len += (size_t)n;
    }
}

cJSON *rpc_client_call(struct rpc_client *c, const char *method, cJSON *params, int timeout_ms,
                       struct cerr *e)
{
    long long id = c->next_id++;
    cJSON *req = rpc_request(method, params, id);
    size_t len;
    char *line = rpc_serialize(req, &len, e);

    cJSON_Delete(req);
    if (line == NULL)
        return NULL;
    if (send_all(c->fd, line, len, e) < 0) {
        free(line);
        return NULL;
    }
    free(line);
    for (;;) {
        struct rpc_msg m;
        cJSON *msg = rpc_client_next(c, timeout_ms, e);
        cJSON *result;

        if (msg == NULL)
            return NULL;
        if (rpc_classify(msg, &m, e) < 0) {
            cJSON_Delete(msg);
            return NULL;
        }
        if (m.kind == RPC_KIND_NOTIFICATION) {
            if (c->notify != NULL)
                c->notify(msg, c->notify_arg);
            cJSON_Delete(msg);
            continue;
        }
        if (m.kind != RPC_KIND_RESPONSE || !cJSON_IsNumber(m.id) ||
            m.id->valuedouble != (double)id) {
            /* An error with a null id answers a frame we sent that the
             * server could not parse: ours. */
            if (m.kind == RPC_KIND_RESPONSE && m.error != NULL && cJSON_IsNull(m.id)) {
                rpc_error_to_cerr(m.error, e);
                cJSON_Delete(msg);
                return NULL;
            }
            cJSON_Delete(msg);
            continue;
        }
        if (m.error != NULL) {
            rpc_error_to_cerr(m.error, e);
            cJSON_Delete(msg);
            return NULL;
        }
        result = cJSON_DetachItemViaPointer(msg, (cJSON *)m.result);
        cJSON_Delete(msg);
        return result;
    }
}
