/* The JSON-RPC framing (proto/conn.c) and request validation the broker
 * does before it acts: the input reaches rpc_conn's reader through a
 * socketpair in chunks whose sizes the input chooses, with a call of ours
 * in flight so that responses are matched too; each message it delivers goes
 * through rpc_classify and the broker's method table with authorisation
 * (dispatch_authorize) for root, a VM's owner and a stranger.  No handler
 * runs.  Properties: only requests and notifications are delivered; every
 * line sent back is one JSON-RPC error response; our call's callback runs
 * exactly once; a stranger is never allowed near the VM of another, an
 * owner never gets raw QMP, and a method outside the table is refused for
 * all. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "broker/dispatch_int.h"
#include "broker/policy.h"
#include "common/json.h"
#include "common/log.h"
#include "proto/conn.h"
#include "proto/rpc.h"
#include "tests/fuzz/fuzz.h"

#define OWNER 3900001
#define STRANGER 3900002

static struct event_base *base;
static struct broker b;
static struct bvm vm;
static struct domain_def def;

struct run {
    int replies; /* our call's callback */
    bool closed;
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    log_init("fuzz_rpc", (enum log_level)(LOG_LVL_ERR + 1));
    base = event_base_new();
    if (base == NULL)
        abort();
    def.name = "a";
    def.emulator = "/usr/bin/env";
    vm.b = &b;
    vm.def = &def;
    vm.owner = OWNER;
    b.vms = &vm;
    b.isolate = true;
    b.policy = policy_new();
    return 0;
}

static bool in_table(const char *method)
{
    for (size_t i = 0; i < dispatch_nmethods(); i++) {
        if (strcmp(dispatch_method_name(i), method) == 0)
            return true;
    }
    return false;
}

static void authorize_all(const struct rpc_msg *m)
{
    const cJSON *name = m->params ? cJSON_GetObjectItemCaseSensitive(m->params, "name") : NULL;
    bool on_a = cJSON_IsString(name) && strcmp(name->valuestring, "a") == 0;
    bool known = in_table(m->method);
    struct cerr e;
    int root = dispatch_authorize(&b, 0, m->method, m->params, &e);
    int owner = dispatch_authorize(&b, OWNER, m->method, m->params, &e);
    int stranger = dispatch_authorize(&b, STRANGER, m->method, m->params, &e);

    FUZZ_ASSERT(known || (root < 0 && owner < 0 && stranger < 0),
                "method '%s' outside the table "
                "allowed",
                m->method);
    FUZZ_ASSERT(!known || root == 0, "root refused %s: %s", m->method, e.msg);
    FUZZ_ASSERT(!on_a || stranger < 0, "a stranger may call %s on another's VM", m->method);
    FUZZ_ASSERT(strcmp(m->method, "vm.qmp") != 0 || (owner < 0 && stranger < 0),
                "a non-admin may call vm.qmp");
    FUZZ_ASSERT(stranger < 0 || owner == 0, "a stranger may call %s where the owner may not",
                m->method);
}

static void on_msg(struct rpc_conn *c, const cJSON *msg, void *arg)
{
    struct rpc_msg m;
    struct cerr e;

    FUZZ_ASSERT(rpc_classify(msg, &m, &e) == 0, "delivered a message that does not classify");
    FUZZ_ASSERT(m.kind != RPC_KIND_RESPONSE, "delivered a response");
    FUZZ_ASSERT(m.method != NULL, "a request without a method");
    authorize_all(&m);
}

static void on_close(struct rpc_conn *c, const char *why, void *arg)
{
    ((struct run *)arg)->closed = true;
}

static void on_reply(const cJSON *result, const struct cerr *e, void *arg)
{
    ((struct run *)arg)->replies++;
}

/* Every line the connection wrote to us: our request, then errors. */
static void check_output(int fd, char *acc, size_t *acclen, size_t cap)
{
    ssize_t n;
    char *nl;
    struct cerr e;

    while ((n = read(fd, acc + *acclen, cap - *acclen)) > 0) {
        *acclen += (size_t)n;
        while ((nl = memchr(acc, '\n', *acclen)) != NULL) {
            size_t len = (size_t)(nl - acc);
            cJSON *j = json_parse(acc, len, &e);
            struct rpc_msg m;

            FUZZ_ASSERT(j != NULL, "sent a line that is no JSON: %.*s", (int)len, acc);
            FUZZ_ASSERT(rpc_classify(j, &m, &e) == 0, "sent a line that is no JSON-RPC");
            FUZZ_ASSERT(m.kind == RPC_KIND_REQUEST ||
                            (m.kind == RPC_KIND_RESPONSE && m.error != NULL),
                        "sent something other than our call or an error");
            cJSON_Delete(j);
            memmove(acc, nl + 1, *acclen - len - 1);
            *acclen -= len + 1;
        }
        /* A line longer than what we keep is no reply of the reader's. */
        FUZZ_ASSERT(*acclen < cap, "sent a line of %zu bytes or more", cap);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char acc[65536];
    size_t acclen = 0, nsizes, off, k = 0, rounds = 0;
    struct run run = {0};
    struct rpc_conn *c;
    int sv[2];

    if (size < 1)
        return 0;
    /* The first byte says how many chunk sizes follow (0: one chunk). */
    nsizes = data[0] % 8;
    if (size < 1 + nsizes)
        return 0;
    off = 1 + nsizes;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
        abort();
    c = rpc_conn_new(base, sv[0], on_msg, on_close, &run);
    FUZZ_ASSERT(c != NULL, "rpc_conn_new failed");
    rpc_conn_call(c, "ping", NULL, 0, on_reply, &run);
    /* A reader that stops reading for good would leave us writing. */
    while (off < size && !run.closed && rounds++ < 100000) {
        size_t chunk = nsizes ? (size_t)data[1 + k++ % nsizes] + 1 : size - off;
        ssize_t n;

        if (chunk > size - off)
            chunk = size - off;
        n = write(sv[1], data + off, chunk);
        FUZZ_ASSERT(n > 0 || errno == EAGAIN, "write: %s", strerror(errno));
        if (n > 0)
            off += (size_t)n;
        event_base_loop(base, EVLOOP_NONBLOCK);
        check_output(sv[1], acc, &acclen, sizeof(acc));
    }
    event_base_loop(base, EVLOOP_NONBLOCK);
    check_output(sv[1], acc, &acclen, sizeof(acc));
    FUZZ_ASSERT(run.replies <= 1, "our call was answered %d times", run.replies);
    rpc_conn_free(c);
    FUZZ_ASSERT(run.replies == 1, "our call was answered %d times", run.replies);
    close(sv[1]);
    return 0;
}
