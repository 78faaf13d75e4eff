/* corralctl console: the terminal on a VM's console, as virsh console.
 * After vm.console's reply the connection is a raw byte stream both ways
 * (PROTOCOL.md, "vm.console"); ^] ends it. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "common/json.h"
#include "proto/corralctl/ctl.h"

#define ESCAPE_CHAR 0x1d /* ^] */

/* The terminal as it was, put back on every way out, signals included. */
static struct termios saved_tio;
static volatile sig_atomic_t tio_saved;

static void restore_terminal(void)
{
    if (tio_saved)
        tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
    tio_saved = 0;
}

/* Only async-signal-safe calls: tcsetattr, signal, raise. */
static void on_fatal_signal(int sig)
{
    restore_terminal();
    signal(sig, SIG_DFL);
    raise(sig);
}

static int enter_raw_mode(void)
{
    static const int sigs[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM};
    struct sigaction sa;
    struct termios raw;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_fatal_signal;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        if (sigaction(sigs[i], &sa, NULL) < 0)
            return ctl_error("cannot handle signal %d: %s", sigs[i], strerror(errno));
    }
    if (!isatty(STDIN_FILENO))
        return CTL_EXIT_OK; /* a pipe or a file: nothing to set */
    if (tcgetattr(STDIN_FILENO, &saved_tio) < 0)
        return ctl_error("cannot read the terminal's settings: %s", strerror(errno));
    raw = saved_tio;
    cfmakeraw(&raw);
    tio_saved = 1;
    if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) < 0) {
        tio_saved = 0;
        return ctl_error("cannot put the terminal in raw mode: %s", strerror(errno));
    }
    return CTL_EXIT_OK;
}

static int write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == ENOTSOCK)
            n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

enum { END_DETACHED, END_CLOSED, END_INPUT, END_ERROR };

/* Typed bytes go to the console up to ^], which detaches. */
static int from_terminal(int sock, char *why, size_t whylen)
{
    char buf[4096];
    ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
    char *esc;

    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return -1;
    if (n <= 0)
        return END_INPUT;
    esc = memchr(buf, ESCAPE_CHAR, (size_t)n);
    if (write_all(sock, buf, esc != NULL ? (size_t)(esc - buf) : (size_t)n) < 0) {
        snprintf(why, whylen, "cannot send to the console: %s", strerror(errno));
        return END_ERROR;
    }
    return esc != NULL ? END_DETACHED : -1;
}

static int to_terminal(int sock, char *why, size_t whylen)
{
    char buf[16384];
    ssize_t n = read(sock, buf, sizeof(buf));

    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return -1;
    if (n < 0) {
        snprintf(why, whylen, "connection lost: %s", strerror(errno));
        return END_ERROR;
    }
    if (n == 0)
        return END_CLOSED;
    if (write_all(STDOUT_FILENO, buf, (size_t)n) < 0) {
        snprintf(why, whylen, "cannot write to standard output: %s", strerror(errno));
        return END_ERROR;
    }
    return -1;
}

/* Until ^], the end of standard input, or the console's end. */
static int relay(int sock, char *why, size_t whylen)
{
    struct pollfd p[2] = {{.fd = STDIN_FILENO, .events = POLLIN}, {.fd = sock, .events = POLLIN}};
    int end = -1;

    while (end < 0) {
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            snprintf(why, whylen, "poll failed: %s", strerror(errno));
            return END_ERROR;
        }
        /* Output first: what the guest said before a detach is shown. */
        if (p[1].revents != 0)
            end = to_terminal(sock, why, whylen);
        if (end < 0 && p[0].revents != 0)
            end = from_terminal(sock, why, whylen);
    }
    return end;
}

static cJSON *console_params(const struct ctl_args *a)
{
    cJSON *p = ctl_name_params(a->argv[0]);

    if (ctl_opt(a, "force"))
        json_add_bool(p, "force", true);
    if (ctl_opt(a, "safe"))
        json_add_bool(p, "safe", true);
    if (ctl_opt_str(a, "devname") != NULL)
        json_add_str(p, "devname", ctl_opt_str(a, "devname"));
    return p;
}

int ctl_run_console(struct ctl *ctl, const struct ctl_args *a)
{
    const char *name = a->argv[0];
    char why[256] = "";
    char *rest;
    size_t restlen;
    int sock, status, end;
    cJSON *r = ctl_call_ms(ctl, a->verb->method, console_params(a), ctl->timeout_ms);

    if (r == NULL)
        return CTL_EXIT_ERROR;
    cJSON_Delete(r);
    sock = rpc_client_release(ctl->client, &rest, &restlen);
    ctl->client = NULL;
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
        free(rest);
        close(sock);
        return ctl_error("cannot ignore SIGPIPE: %s", strerror(errno));
    }
    printf("Connected to domain '%s'\nEscape character is ^]\n", name);
    fflush(stdout);
    status = enter_raw_mode();
    if (status == CTL_EXIT_OK && restlen > 0 && write_all(STDOUT_FILENO, rest, restlen) < 0) {
        snprintf(why, sizeof(why), "cannot write to standard output: %s", strerror(errno));
        end = END_ERROR;
    } else
        end = status == CTL_EXIT_OK ? relay(sock, why, sizeof(why)) : END_ERROR;
    restore_terminal();
    free(rest);
    close(sock);
    if (status != CTL_EXIT_OK)
        return status;
    printf("\n");
    if (end == END_CLOSED)
        fprintf(stderr,
                "Disconnected from domain '%s': the console was closed (the VM stopped, "
                "or another client took it over)\n",
                name);
    else if (end == END_ERROR)
        return ctl_error("console of domain '%s': %s", name, why);
    return CTL_EXIT_OK;
}
