/* corralctl's connection URIs: what each part becomes, and what is refused
 * before ssh could see it. */
#include "proto/corralctl/uri.h"

#include "tests/unit/unit.h"

/* Expects text to be refused with a message containing needle. */
static int refused(const char *text, const char *needle)
{
    struct ctl_uri u;
    struct cerr e = {0};

    if (ctl_uri_parse(text, &u, &e) == 0) {
        printf("# '%s' was accepted\n", text);
        ctl_uri_free(&u);
        return 0;
    }
    if (e.code != CE_INVALID_PARAMS || strstr(e.msg, needle) == NULL) {
        printf("# '%s': got '%s', want '%s'\n", text, e.msg, needle);
        return 0;
    }
    return 1;
}

static void unix_uri(void)
{
    struct ctl_uri u;
    struct cerr e = {0};

    EXPECT(ctl_uri_parse("unix:///run/corral/my%20corrald.sock", &u, &e) == 0);
    EXPECT(u.scheme == CTL_URI_UNIX);
    EXPECT_STR(u.path, "/run/corral/my corrald.sock");
    ctl_uri_free(&u);
}

static void ssh_uri_every_part(void)
{
    struct ctl_uri u;
    struct cerr e = {0};

    EXPECT(ctl_uri_parse("ssh://admin@host1.example.org:2222/run/x.sock?command=/opt/bin/corralctl",
                         &u, &e) == 0);
    EXPECT(u.scheme == CTL_URI_SSH);
    EXPECT_STR(u.user, "admin");
    EXPECT_STR(u.host, "host1.example.org");
    EXPECT_STR(u.port, "2222");
    EXPECT_STR(u.path, "/run/x.sock");
    EXPECT_STR(u.command, "/opt/bin/corralctl");
    ctl_uri_free(&u);
}

static void ssh_uri_defaults(void)
{
    struct ctl_uri u;
    struct cerr e = {0};

    EXPECT(ctl_uri_parse("ssh://host1", &u, &e) == 0);
    EXPECT(u.user == NULL && u.port == NULL && u.path == NULL);
    EXPECT_STR(u.host, "host1");
    EXPECT_STR(u.command, CTL_URI_DEFAULT_COMMAND);
    ctl_uri_free(&u);
    EXPECT(ctl_uri_parse("ssh://host1/", &u, &e) == 0);
    EXPECT(u.path == NULL);
    ctl_uri_free(&u);
}

static void ssh_uri_ipv6(void)
{
    struct ctl_uri u;
    struct cerr e = {0};

    EXPECT(ctl_uri_parse("ssh://[::1]:22/s", &u, &e) == 0);
    EXPECT_STR(u.host, "::1");
    EXPECT_STR(u.port, "22");
    ctl_uri_free(&u);
    EXPECT(refused("ssh://[::1", "closing ']'"));
    EXPECT(refused("ssh://[::1]x", "':port'"));
    EXPECT(refused("ssh://::1/s", "the host"));
}

static void options_and_shell_refused(void)
{
    EXPECT(refused("ssh://-oProxyCommand=x/s", "the host"));
    EXPECT(refused("ssh://-oProxyCommand=x@h/s", "the user"));
    EXPECT(refused("ssh://a@-p", "the host"));
    EXPECT(refused("ssh://h%3bid", "the host"));
    EXPECT(refused("ssh://h$(id)", "the host"));
    EXPECT(refused("ssh://a b@h", "the user"));
    EXPECT(refused("ssh://a'@h", "the user"));
    EXPECT(refused("ssh://@h", "the user"));
    EXPECT(refused("ssh://a@b@h", "the host"));
    EXPECT(refused("ssh:///s", "the host"));
}

static void malformed_refused(void)
{
    EXPECT(refused("", "unknown scheme"));
    EXPECT(refused("/run/corral/corrald.sock", "unknown scheme"));
    EXPECT(refused("qemu+ssh://h/system", "unknown scheme"));
    EXPECT(refused("unix://relative", "absolute path"));
    EXPECT(refused("unix:///a?b", "absolute path"));
    EXPECT(refused("unix:///a%zz", "escape"));
    EXPECT(refused("ssh://h/a%00b", "%00"));
    EXPECT(refused("ssh://h/a%2", "escape"));
    EXPECT(refused("ssh://h:0", "the port"));
    EXPECT(refused("ssh://h:65536", "the port"));
    EXPECT(refused("ssh://h:", "the port"));
    EXPECT(refused("ssh://h:22a", "the port"));
    EXPECT(refused("ssh://h?socket=/x", "command=PATH"));
    EXPECT(refused("ssh://h?command=", "needs a path"));
    EXPECT(refused("ssh://h#x", "fragment"));
}

int main(void)
{
    RUN(unix_uri);
    RUN(ssh_uri_every_part);
    RUN(ssh_uri_defaults);
    RUN(ssh_uri_ipv6);
    RUN(options_and_shell_refused);
    RUN(malformed_refused);
    return unit_done();
}
