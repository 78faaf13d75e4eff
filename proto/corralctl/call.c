/* Talking to the server (connection, hello, calls), reading its replies
 * defensively, and the output and error helpers of the verb handlers. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/monotime.h"

#include "proto/corralctl/ctl.h"
#include "proto/rpc.h"

/* JSON numbers are doubles: integers above this lose precision. */
#define JSON_INT_MAX (1LL << 53)
/* Room left for the message around an XML document, so that a document
 * under the limit is not refused for its envelope. */
#define XML_ENVELOPE 4096

/* Whether errors are printed as JSON: set with --json, which may come after
 * the verb, while most errors are printed where no struct ctl is at hand. */
static bool json_errors;

void ctl_set_json(struct ctl *ctl)
{
    ctl->json = true;
    json_errors = true;
}

/* The stable names of corralctl's own error codes (CTL_ERR_*). */
static const char *local_error_name(int code)
{
    switch (code) {
    case CTL_ERR_USAGE:
        return "usage";
    case CTL_ERR_CONNECT:
        return "connection-failed";
    case CTL_ERR_REPLY:
        return "unexpected-reply";
    case CTL_ERR_NO_REPLY:
        return "no-reply";
    default:
        return "client-error";
    }
}

/* Prints msg as "error: MSG", or with --json as one line of
 * {"error": {"code", "name", "message"}}. */
static void print_error(int code, const char *name, const char *msg)
{
    cJSON *o, *e;
    char *line = NULL;

    if (json_errors) {
        o = json_obj();
        e = json_obj();
        json_add_num(e, "code", code);
        json_add_str(e, "name", name);
        json_add_str(e, "message", msg);
        json_add(o, "error", e);
        line = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
    }
    /* Out of memory for the JSON, the text still says what failed. */
    if (line != NULL)
        fprintf(stderr, "%s\n", line);
    else
        fprintf(stderr, "error: %s\n", msg);
    free(line);
}

void ctl_verror_code(int code, const char *fmt, va_list ap)
{
    char msg[CERR_MSG_MAX + 512];
    const char *name = code >= CTL_ERR_USAGE ? local_error_name(code) : cerr_name(code);

    vsnprintf(msg, sizeof(msg), fmt, ap);
    print_error(code, name, msg);
}

int ctl_error_code(int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    ctl_verror_code(code, fmt, ap);
    va_end(ap);
    return CTL_EXIT_ERROR;
}

int ctl_error(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    ctl_verror_code(CTL_ERR_CLIENT, fmt, ap);
    va_end(ap);
    return CTL_EXIT_ERROR;
}

bool ctl_json_errors(void)
{
    return json_errors;
}

int ctl_unexpected(void)
{
    return ctl_error_code(CTL_ERR_REPLY, "unexpected reply from server");
}

static void report_call_error(const struct cerr *e, int timeout_ms, long long start)
{
    switch (e->code) {
    case CE_TIMEOUT:
        /* 1009 is also the server's own verdict on a slow operation: only
         * a wait as long as ours is the client giving up. */
        if (timeout_ms >= 0 && monotime_ms() - start >= timeout_ms)
            ctl_error_code(CTL_ERR_NO_REPLY, "no reply from the server within %d s (see --timeout)",
                           timeout_ms / 1000);
        else
            ctl_error_code(e->code, "%s", e->msg);
        break;
    case CE_PARSE:
    case CE_INVALID_REQUEST:
        /* The client library's verdict on what the server sent. */
        ctl_unexpected();
        break;
    case CE_VERSION:
        ctl_error_code(e->code, "incompatible server: %s (corralctl speaks protocol version %d)",
                       e->msg, RPC_PROTOCOL_VERSION);
        break;
    default:
        ctl_error_code(e->code, "%s", e->msg);
        break;
    }
}

cJSON *ctl_call_ms(struct ctl *ctl, const char *method, cJSON *params, int timeout_ms)
{
    long long start = monotime_ms();
    struct cerr e;
    cJSON *r;

    cerr_clear(&e);
    r = rpc_client_call(ctl->client, method, params, timeout_ms, &e);
    if (r == NULL) {
        report_call_error(&e, timeout_ms, start);
        return NULL;
    }
    if (!cJSON_IsObject(r)) {
        cJSON_Delete(r);
        ctl_unexpected();
        return NULL;
    }
    return r;
}

cJSON *ctl_call(struct ctl *ctl, const char *method, cJSON *params)
{
    return ctl_call_ms(ctl, method, params, ctl->timeout_ms);
}

cJSON *ctl_name_params(const char *name)
{
    cJSON *p = json_obj();

    json_add_str(p, "name", name);
    return p;
}

/* rpc_client_unix_socket says "cannot connect to PATH: WHY"; our message names
 * the server instead, so keep only WHY when the text has that shape. */
static const char *connect_detail(const char *path, const char *msg)
{
    static const char head[] = "cannot connect to ";
    size_t hlen = sizeof(head) - 1, plen = strlen(path);

    if (strncmp(msg, head, hlen) == 0 && strncmp(msg + hlen, path, plen) == 0 &&
        strncmp(msg + hlen + plen, ": ", 2) == 0)
        return msg + hlen + plen + 2;
    return msg;
}

/* What ssh wrote, on one line: a line end of two characters (ssh's own
 * "\r\n") becomes "; ", a lone one a space; trailing blanks are dropped.
 * Edits msg. */
static const char *one_line(char *msg)
{
    size_t n = strlen(msg);

    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r' || msg[n - 1] == ' '))
        msg[--n] = '\0';
    for (char *p = msg; *p != '\0'; p++) {
        if (*p == '\r' || *p == '\n')
            *p = p[1] == '\n' || p[1] == '\r' ? ';' : ' ';
    }
    return msg;
}

/* The ssh link ended before the server answered: reap ssh and say what it
 * (or the far shell, or the far proxy) said. */
static int ssh_failed(struct ctl *ctl, const char *why)
{
    const char *hint = "";
    int status;
    char *err;

    /* ssh ends once it sees the end of the stream: close ours first. */
    rpc_client_close(ctl->client);
    ctl->client = NULL;
    err = ctl_link_close(&ctl->link, &status);

    if (status == 127)
        hint = " (no corralctl on the far host's PATH? name it with ?command=PATH in the URI)";
    else if (status == 255)
        hint = " (ssh failed)";
    ctl_error_code(CTL_ERR_CONNECT, "cannot connect to %s: %s%s", ctl->uri,
                   err != NULL ? one_line(err) : why, hint);
    free(err);
    return CTL_EXIT_ERROR;
}

static int hello(struct ctl *ctl)
{
    long long start = monotime_ms(), protocol;
    cJSON *p = json_obj();
    struct cerr e;

    json_add_num(p, "version", RPC_PROTOCOL_VERSION);
    json_add_str(p, "client", "corralctl");
    cerr_clear(&e);
    ctl->hello = rpc_client_call(ctl->client, "hello", p, ctl->timeout_ms, &e);
    if (ctl->hello == NULL && e.code == CE_SUPERVISOR && ctl->link.ssh > 0)
        return ssh_failed(ctl, e.msg);
    if (ctl->hello == NULL) {
        report_call_error(&e, ctl->timeout_ms, start);
        return CTL_EXIT_ERROR;
    }
    if (!cJSON_IsObject(ctl->hello) || ctl_reply_int(ctl->hello, "protocol", true, &protocol) < 0)
        return ctl_unexpected();
    if (protocol != RPC_PROTOCOL_VERSION)
        return ctl_error("incompatible server: it speaks protocol version %lld, corralctl "
                         "speaks %d",
                         protocol, RPC_PROTOCOL_VERSION);
    return CTL_EXIT_OK;
}

/* Opens ctl->link to the URI or the socket; prints why on failure. */
static int open_link(struct ctl *ctl)
{
    const char *path = ctl->socket;
    struct ctl_uri u = {0};
    struct cerr e;
    int r;

    cerr_clear(&e);
    if (ctl->uri != NULL && ctl_uri_parse(ctl->uri, &u, &e) < 0) {
        ctl_error_code(CTL_ERR_USAGE, "%s", e.msg);
        return CTL_EXIT_USAGE;
    }
    if (ctl->uri == NULL)
        r = ctl_link_unix(path, &ctl->link, &e);
    else {
        r = ctl_link_open(&u, &ctl->link, &e);
        path = u.path;
    }
    if (r < 0 && ctl->vm_socket)
        ctl_error_code(CTL_ERR_CONNECT,
                       "cannot connect to the supervisor at %s: %s (is the VM running?)", path,
                       connect_detail(path, e.msg));
    else if (r < 0 && (ctl->uri == NULL || u.scheme == CTL_URI_UNIX))
        ctl_error_code(CTL_ERR_CONNECT,
                       "cannot connect to the broker at %s: %s (is corrald running? set "
                       "CORRAL_SOCKET, --socket or -c URI)",
                       path, connect_detail(path, e.msg));
    else if (r < 0)
        ctl_error_code(CTL_ERR_CONNECT, "cannot connect to %s: %s", ctl->uri, e.msg);
    ctl_uri_free(&u);
    return r < 0 ? CTL_EXIT_ERROR : CTL_EXIT_OK;
}

int ctl_connect(struct ctl *ctl)
{
    int status = open_link(ctl);

    if (status != CTL_EXIT_OK)
        return status;
    /* The client takes the socket; the link keeps the ssh child. */
    ctl->client = rpc_client_new(ctl->link.fd);
    ctl->link.fd = -1;
    return hello(ctl);
}

void ctl_disconnect(struct ctl *ctl)
{
    int status;
    char *err;

    cJSON_Delete(ctl->hello);
    ctl->hello = NULL;
    rpc_client_close(ctl->client);
    ctl->client = NULL;
    /* Whatever ssh said during a session (a warning, the far side's end) is
     * the user's to read, as a plain ssh would show it. */
    err = ctl_link_close(&ctl->link, &status);
    if (err != NULL)
        fputs(err, stderr);
    free(err);
}

static const cJSON *member(const cJSON *obj, const char *key)
{
    const cJSON *v = obj != NULL ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;

    return cJSON_IsNull(v) ? NULL : v;
}

int ctl_reply_str(const cJSON *obj, const char *key, bool required, const char **out)
{
    const cJSON *v = member(obj, key);

    if (v == NULL)
        return required ? -1 : 0;
    if (!cJSON_IsString(v))
        return -1;
    *out = v->valuestring;
    return 0;
}

int ctl_reply_int(const cJSON *obj, const char *key, bool required, long long *out)
{
    const cJSON *v = member(obj, key);

    if (v == NULL)
        return required ? -1 : 0;
    /* The range check comes before the cast, which would otherwise be
     * undefined for huge values. */
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > (double)JSON_INT_MAX ||
        v->valuedouble != (double)(long long)v->valuedouble)
        return -1;
    *out = (long long)v->valuedouble;
    return 0;
}

int ctl_reply_bool(const cJSON *obj, const char *key, bool *out)
{
    const cJSON *v = member(obj, key);

    if (v == NULL)
        return 0;
    if (!cJSON_IsBool(v))
        return -1;
    *out = cJSON_IsTrue(v);
    return 0;
}

int ctl_reply_strings(const cJSON *obj, const char *key, const cJSON **out)
{
    const cJSON *v = member(obj, key), *item;

    *out = NULL;
    if (v == NULL)
        return 0;
    if (!cJSON_IsArray(v))
        return -1;
    cJSON_ArrayForEach(item, v)
    {
        if (!cJSON_IsString(item))
            return -1;
    }
    *out = v;
    return 0;
}

static int print_compact(const cJSON *item)
{
    char *s = cJSON_PrintUnformatted(item);

    if (s == NULL)
        return -1;
    fputs(s, stdout);
    cJSON_free(s);
    return 0;
}

static int print_key(const char *key)
{
    /* A string item on the stack lets cJSON do the escaping. */
    cJSON k = {.type = cJSON_String, .valuestring = (char *)key};

    if (print_compact(&k) < 0)
        return -1;
    fputs(": ", stdout);
    return 0;
}

/* cJSON_Print's layout (tabs, a tab after each colon) reads poorly; this is
 * jq's, two spaces a level.  cJSON's parser caps nesting, and so the
 * recursion. */
static int print_pretty(const cJSON *item, int depth)
{
    bool obj = cJSON_IsObject(item);
    const cJSON *child;

    if (!obj && !cJSON_IsArray(item))
        return print_compact(item);
    if (item->child == NULL) {
        fputs(obj ? "{}" : "[]", stdout);
        return 0;
    }
    putchar(obj ? '{' : '[');
    cJSON_ArrayForEach(child, item)
    {
        printf("\n%*s", 2 * (depth + 1), "");
        if ((obj && print_key(child->string) < 0) || print_pretty(child, depth + 1) < 0)
            return -1;
        if (child->next != NULL)
            putchar(',');
    }
    printf("\n%*s%c", 2 * depth, "", obj ? '}' : ']');
    return 0;
}

int ctl_print_json(const cJSON *item, bool pretty)
{
    if ((pretty ? print_pretty(item, 0) : print_compact(item)) < 0)
        return ctl_error("out of memory formatting JSON");
    putchar('\n');
    return CTL_EXIT_OK;
}

int ctl_done(const struct ctl *ctl, const cJSON *result, const char *name, const char *what)
{
    if (ctl->json)
        return ctl_print_json(result, true);
    printf("Domain '%s' %s\n", name, what);
    return CTL_EXIT_OK;
}

void ctl_print_label(const char *label)
{
    int len = (int)strlen(label) + 1;

    /* A label longer than the column keeps one space before its value. */
    printf("%s:%*s", label, len < CTL_LABEL_WIDTH ? CTL_LABEL_WIDTH - len + 1 : 1, "");
}

void ctl_print_kv(const char *label, const char *value)
{
    ctl_print_label(label);
    puts(value);
}

int ctl_width(const char *s, int min)
{
    int n = (int)strlen(s);

    return n > min ? n : min;
}

void ctl_print_rule(int n)
{
    for (int i = 0; i < n; i++)
        putchar('-');
    putchar('\n');
}

int ctl_format_time(long long t, bool zone, char *buf, size_t size)
{
    time_t tt = (time_t)t;
    struct tm tm;

    /* Far-off years do not fit struct tm, or the buffer.  Literal formats
     * let the compiler check them. */
    if (localtime_r(&tt, &tm) == NULL ||
        (zone ? strftime(buf, size, "%Y-%m-%d %H:%M:%S %z", &tm)
              : strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm)) == 0)
        return -1;
    return 0;
}

/* Reads fd to its end; NULL with errno set (EFBIG: more than max bytes). */
static char *read_fd(int fd, size_t max, size_t *len)
{
    size_t cap = 0, n = 0;
    char *buf = NULL;

    for (;;) {
        ssize_t got;

        if (n > max) {
            errno = EFBIG;
            break;
        }
        if (n + 1 >= cap) {
            size_t ncap = cap != 0 ? cap * 2 : 65536;
            char *nb = realloc(buf, ncap);

            if (nb == NULL) {
                errno = ENOMEM;
                break;
            }
            buf = nb;
            cap = ncap;
        }
        got = read(fd, buf + n, cap - 1 - n);
        if (got == 0) {
            buf[n] = '\0';
            *len = n;
            return buf;
        }
        if (got > 0)
            n += (size_t)got;
        else if (errno != EINTR)
            break;
    }
    free(buf);
    return NULL;
}

char *ctl_read_input(const char *path, size_t max, size_t *len)
{
    bool is_stdin = strcmp(path, "-") == 0;
    const char *what = is_stdin ? "standard input" : path;
    int fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    char *buf;

    if (fd < 0) {
        ctl_error("cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    buf = read_fd(fd, max, len);
    if (buf == NULL && errno == EFBIG)
        ctl_error("%s is larger than the limit of %zu bytes", what, max);
    else if (buf == NULL)
        ctl_error("cannot read %s: %s", what, strerror(errno));
    /* Read only: close cannot lose data. */
    if (!is_stdin)
        close(fd);
    return buf;
}

char *ctl_read_xml(const char *path, const char *kind)
{
    size_t len;
    char *xml = ctl_read_input(path, RPC_MAX_MESSAGE - XML_ENVELOPE, &len);

    /* A JSON string ends at a NUL byte, so the XML would arrive cut short. */
    if (xml != NULL && memchr(xml, '\0', len) != NULL) {
        free(xml);
        ctl_error("%s contains a NUL byte: it is not %s XML", path, kind);
        return NULL;
    }
    return xml;
}
