/* Opening corralctl's connection: connect(2) to a Unix socket, or run the
 * real OpenSSH client with `corralctl proxy` as its remote command on a
 * socketpair, as libvirt's qemu+ssh:// runs virt-ssh-helper.  ssh keeps its
 * user's keys, agent and ~/.ssh/config; ssh's stderr goes to an anonymous
 * file rather than a pipe, so that ssh never blocks on a reader that is
 * busy with a console. */
#include "proto/corralctl/connect.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/fileutil.h"
#include "proto/client.h"

/* How much of ssh's stderr is kept for the user: its last words. */
#define SSH_ERR_MAX 4096
/* ssh, -T, -e, none, -p, PORT, -l, USER, --, HOST, COMMAND, NULL. */
#define SSH_ARGV_MAX 12

extern char **environ;

/* s quoted for a POSIX shell, which is what sshd runs the remote command
 * with: '...' with each ' written '\''.  Malloc'd. */
static char *shell_quote(const char *s)
{
    size_t n = 2;
    char *out, *o;

    for (const char *p = s; *p != '\0'; p++)
        n += *p == '\'' ? 4 : 1;
    out = xcalloc(1, n + 1);
    o = out;
    *o++ = '\'';
    for (const char *p = s; *p != '\0'; p++) {
        if (*p == '\'') {
            memcpy(o, "'\\''", 4);
            o += 4;
        } else
            *o++ = *p;
    }
    *o = '\'';
    return out;
}

/* "'COMMAND' proxy ['SOCKET']", malloc'd: ssh hands the far shell one
 * string. */
static char *remote_command(const struct ctl_uri *u)
{
    char *cmd = shell_quote(u->command), *path = u->path != NULL ? shell_quote(u->path) : NULL;
    size_t n = strlen(cmd) + strlen(" proxy ") + (path != NULL ? strlen(path) : 0) + 1;
    char *out = xcalloc(1, n);

    snprintf(out, n, "%s proxy%s%s", cmd, path != NULL ? " " : "", path != NULL ? path : "");
    free(cmd);
    free(path);
    return out;
}

/* -T: no pseudo-terminal, which would mangle the byte stream; -e none: no
 * escape character, so a console's bytes pass untouched whatever the
 * configuration says; -- ends ssh's options before the host.  No
 * BatchMode: ssh may ask for a passphrase or password on the terminal,
 * which it opens itself (/dev/tty), not on our socket. */
static void ssh_argv(const struct ctl_uri *u, char *remote, char **argv)
{
    int n = 0;

    argv[n++] = "ssh";
    argv[n++] = "-T";
    argv[n++] = "-e";
    argv[n++] = "none";
    if (u->port != NULL) {
        argv[n++] = "-p";
        argv[n++] = u->port;
    }
    if (u->user != NULL) {
        argv[n++] = "-l";
        argv[n++] = u->user;
    }
    argv[n++] = "--";
    argv[n++] = u->host;
    argv[n++] = remote;
    argv[n] = NULL;
}

static int spawn_ssh(const struct ctl_uri *u, int stream, int errfd, pid_t *pid, struct cerr *e)
{
    posix_spawn_file_actions_t fa;
    char *argv[SSH_ARGV_MAX];
    char *remote = remote_command(u);
    int r;

    ssh_argv(u, remote, argv);
    r = posix_spawn_file_actions_init(&fa);
    if (r == 0) {
        if ((r = posix_spawn_file_actions_adddup2(&fa, stream, STDIN_FILENO)) == 0 &&
            (r = posix_spawn_file_actions_adddup2(&fa, stream, STDOUT_FILENO)) == 0 &&
            (r = posix_spawn_file_actions_adddup2(&fa, errfd, STDERR_FILENO)) == 0)
            r = posix_spawnp(pid, "ssh", &fa, NULL, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
    }
    free(remote);
    if (r != 0) {
        cerr_set(e, CE_SYSTEM, "cannot run ssh to reach %s: %s", u->host, strerror(r));
        return -1;
    }
    return 0;
}

static int open_ssh(const struct ctl_uri *u, struct ctl_link *l, struct cerr *e)
{
    int sv[2];

    l->ssh_err = memfd_create("corralctl-ssh-stderr", MFD_CLOEXEC);
    if (l->ssh_err < 0) {
        cerr_set(e, CE_SYSTEM, "cannot create a file for ssh's messages: %s", strerror(errno));
        return -1;
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        cerr_set(e, CE_SYSTEM, "cannot create a socket pair for ssh: %s", strerror(errno));
        close(l->ssh_err);
        l->ssh_err = -1;
        return -1;
    }
    if (spawn_ssh(u, sv[1], l->ssh_err, &l->ssh, e) < 0) {
        close(sv[0]);
        close(sv[1]);
        close(l->ssh_err);
        l->ssh_err = -1;
        return -1;
    }
    close(sv[1]);
    l->fd = sv[0];
    return 0;
}

int ctl_link_unix(const char *path, struct ctl_link *l, struct cerr *e)
{
    l->fd = rpc_client_unix_socket(path, e);
    l->ssh_err = -1;
    l->ssh = -1;
    return l->fd < 0 ? -1 : 0;
}

int ctl_link_open(const struct ctl_uri *u, struct ctl_link *l, struct cerr *e)
{
    if (u->scheme == CTL_URI_UNIX)
        return ctl_link_unix(u->path, l, e);
    l->fd = l->ssh_err = -1;
    l->ssh = -1;
    return open_ssh(u, l, e);
}

/* Waits for ssh to exit on its own, which it does once the far side has
 * seen the end of the stream, and ends it otherwise. */
static int reap_ssh(pid_t pid)
{
    int pidfd = pidfd_open(pid, 0), status;

    if (pidfd >= 0) {
        struct pollfd p = {.fd = pidfd, .events = POLLIN};
        int r;

        while ((r = poll(&p, 1, CTL_SSH_EXIT_WAIT_MS)) < 0 && errno == EINTR)
            ;
        if (r == 0)
            kill(pid, SIGTERM);
        close(pidfd);
    } else
        kill(pid, SIGTERM); /* cannot wait with a bound: do not wait unbounded */
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The last SSH_ERR_MAX bytes of the file fd, malloc'd, or NULL when empty
 * or unreadable (ssh's messages are a courtesy on top of our error). */
static char *read_tail(int fd)
{
    struct stat st;
    off_t from;
    char *buf;
    ssize_t n;

    if (fstat(fd, &st) < 0 || st.st_size == 0)
        return NULL;
    from = st.st_size > SSH_ERR_MAX ? st.st_size - SSH_ERR_MAX : 0;
    buf = xcalloc(1, (size_t)(st.st_size - from) + 1);
    n = pread(fd, buf, (size_t)(st.st_size - from), from);
    if (n <= 0) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

char *ctl_link_close(struct ctl_link *l, int *exit_status)
{
    char *err = NULL;

    *exit_status = -1;
    if (l->fd >= 0)
        close(l->fd);
    l->fd = -1;
    if (l->ssh > 0) {
        *exit_status = reap_ssh(l->ssh);
        l->ssh = -1;
    }
    if (l->ssh_err >= 0) {
        err = read_tail(l->ssh_err);
        close(l->ssh_err);
        l->ssh_err = -1;
    }
    return err;
}
