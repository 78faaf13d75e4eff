/* Connection URIs of corralctl -c: unix:///path/to/socket and
 * ssh://[user@]host[:port][/path/to/socket][?command=PATH]. */
#ifndef CORRAL_CTL_URI_H
#define CORRAL_CTL_URI_H

#include "common/error.h"

/* The far corralctl when the URI names none: the remote user's PATH finds it. */
#define CTL_URI_DEFAULT_COMMAND "corralctl"

enum ctl_uri_scheme { CTL_URI_UNIX, CTL_URI_SSH };

/* A parsed URI; every string is owned by it (ctl_uri_free). */
struct ctl_uri {
    enum ctl_uri_scheme scheme;
    char *path;    /* unix: the socket; ssh: the far socket, NULL for its default */
    char *user;    /* ssh: the far user, NULL for ssh's own choice */
    char *host;    /* ssh: a name or an address, without brackets */
    char *port;    /* ssh: decimal, NULL for ssh's own choice */
    char *command; /* ssh: the far corralctl */
};

/* Parses text into u.  Returns 0, or -1 with e saying what is wrong.  A
 * user or host that ssh could read as an option or a shell could expand
 * (a leading '-', a space, a quote, '%', ...) is refused here, before
 * anything runs. */
int ctl_uri_parse(const char *text, struct ctl_uri *u, struct cerr *e);
void ctl_uri_free(struct ctl_uri *u);

#endif
