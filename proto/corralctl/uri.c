/* Parsing corralctl's connection URIs.  A user and a host reach ssh's
 * command line and, through its configuration (%h, %r in ProxyCommand or
 * Match exec), a shell: only characters that mean nothing to either are
 * taken. */
#include "proto/corralctl/uri.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileutil.h"

#define URI_FORMS                                                                                  \
    "unix:///path/to/socket or ssh://[user@]host[:port][/path/to/socket][?command=PATH]"

static void uri_error(struct cerr *e, const char *text, const char *why)
{
    cerr_set(e, CE_INVALID_PARAMS, "invalid URI '%s': %s (expected " URI_FORMS ")", text, why);
}

/* The first len bytes of s, malloc'd. */
static char *copy_range(const char *s, size_t len)
{
    char *out = xcalloc(1, len + 1);

    memcpy(out, s, len);
    return out;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The first len bytes of s with %XX decoded (malloc'd), or NULL when an
 * escape is malformed or decodes to NUL. */
static char *percent_decode(const char *s, size_t len)
{
    char *out = xcalloc(1, len + 1), *o = out;

    for (size_t i = 0; i < len; i++) {
        if (s[i] != '%') {
            *o++ = s[i];
            continue;
        }
        int hi = i + 2 < len ? hex_value(s[i + 1]) : -1;
        int lo = i + 2 < len ? hex_value(s[i + 2]) : -1;
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
            free(out);
            return NULL;
        }
        *o++ = (char)(hi * 16 + lo);
        i += 2;
    }
    return out;
}

static bool is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

/* A user or host name of len bytes: name characters only, and no leading
 * '-' that ssh would take for an option. */
static bool is_safe_name(const char *s, size_t len, bool ipv6)
{
    if (len == 0 || s[0] == '-')
        return false;
    for (size_t i = 0; i < len; i++) {
        if (!is_name_char(s[i]) && !(ipv6 && s[i] == ':'))
            return false;
    }
    return true;
}

/* Splits [user@]host[:port] of len bytes into u. */
static int parse_authority(const char *text, const char *s, size_t len, struct ctl_uri *u,
                           struct cerr *e)
{
    const char *at = memchr(s, '@', len), *end = s + len, *host, *hend, *port = NULL;

    if (at != NULL) {
        if (!is_safe_name(s, (size_t)(at - s), false)) {
            uri_error(e, text,
                      "the user must be letters, digits, '.', '_' or '-', not starting with '-'");
            return -1;
        }
        u->user = copy_range(s, (size_t)(at - s));
        s = at + 1;
    }
    if (s < end && *s == '[') {
        host = s + 1;
        hend = memchr(host, ']', (size_t)(end - host));
        if (hend == NULL) {
            uri_error(e, text, "an IPv6 address needs its closing ']'");
            return -1;
        }
        if (hend + 1 < end && hend[1] != ':') {
            uri_error(e, text, "only ':port' may follow ']'");
            return -1;
        }
        port = hend + 1 < end ? hend + 2 : NULL;
    } else {
        host = s;
        hend = memchr(s, ':', (size_t)(end - s));
        if (hend != NULL)
            port = hend + 1;
        else
            hend = end;
    }
    if (!is_safe_name(host, (size_t)(hend - host), host != s)) {
        uri_error(e, text,
                  "the host must be a name or an address (letters, digits, '.', '_' or '-', not "
                  "starting with '-')");
        return -1;
    }
    u->host = copy_range(host, (size_t)(hend - host));
    if (port != NULL) {
        size_t plen = (size_t)(end - port);
        long n = 0;

        for (size_t i = 0; i < plen && n <= 65535; i++)
            n = port[i] >= '0' && port[i] <= '9' ? n * 10 + (port[i] - '0') : 65536;
        if (plen == 0 || n < 1 || n > 65535) {
            uri_error(e, text, "the port must be a number from 1 to 65535");
            return -1;
        }
        u->port = copy_range(port, plen);
    }
    return 0;
}

/* The query of an ssh URI: key=value pairs joined by '&'. */
static int parse_query(const char *text, const char *q, struct ctl_uri *u, struct cerr *e)
{
    while (*q != '\0') {
        size_t len = strcspn(q, "&");
        const char *eq = memchr(q, '=', len);

        if (eq == NULL || (size_t)(eq - q) != strlen("command") || strncmp(q, "command", 7) != 0) {
            uri_error(e, text, "the only parameter is command=PATH, the far corralctl");
            return -1;
        }
        free(u->command);
        u->command = percent_decode(eq + 1, len - 8);
        if (u->command == NULL || u->command[0] == '\0') {
            uri_error(e, text, "command= needs a path, with valid %XX escapes and no %00");
            return -1;
        }
        q += len + (q[len] == '&');
    }
    return 0;
}

static int parse_ssh(const char *text, const char *s, struct ctl_uri *u, struct cerr *e)
{
    size_t alen = strcspn(s, "/?");
    const char *path = s + alen, *query = strchr(path, '?');
    size_t plen = query != NULL ? (size_t)(query - path) : strlen(path);

    u->scheme = CTL_URI_SSH;
    if (parse_authority(text, s, alen, u, e) < 0)
        return -1;
    /* "ssh://host" and "ssh://host/" both leave the socket to the far side. */
    if (plen > 1) {
        u->path = percent_decode(path, plen);
        if (u->path == NULL) {
            uri_error(e, text, "the socket path has a malformed %XX escape or %00");
            return -1;
        }
    }
    u->command = xstrdup(CTL_URI_DEFAULT_COMMAND);
    return query != NULL ? parse_query(text, query + 1, u, e) : 0;
}

int ctl_uri_parse(const char *text, struct ctl_uri *u, struct cerr *e)
{
    static const char unix_scheme[] = "unix://", ssh_scheme[] = "ssh://";
    int r = 0;

    memset(u, 0, sizeof(*u));
    if (strchr(text, '#') != NULL) {
        uri_error(e, text, "a fragment ('#') means nothing here");
        return -1;
    }
    if (strncmp(text, unix_scheme, sizeof(unix_scheme) - 1) == 0) {
        const char *path = text + sizeof(unix_scheme) - 1;

        u->scheme = CTL_URI_UNIX;
        if (path[0] != '/' || strchr(path, '?') != NULL) {
            uri_error(e, text, "a unix URI is an absolute path and nothing else");
            return -1;
        }
        u->path = percent_decode(path, strlen(path));
        if (u->path == NULL) {
            uri_error(e, text, "the socket path has a malformed %XX escape or %00");
            return -1;
        }
    } else if (strncmp(text, ssh_scheme, sizeof(ssh_scheme) - 1) == 0) {
        r = parse_ssh(text, text + sizeof(ssh_scheme) - 1, u, e);
    } else {
        uri_error(e, text, "unknown scheme");
        r = -1;
    }
    if (r < 0)
        ctl_uri_free(u);
    return r;
}

void ctl_uri_free(struct ctl_uri *u)
{
    free(u->path);
    free(u->user);
    free(u->host);
    free(u->port);
    free(u->command);
    memset(u, 0, sizeof(*u));
}
