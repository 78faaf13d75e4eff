/* edit: virsh's loop of editor and define on a copy of the VM's
 * persistent XML. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/fileutil.h"
#include "common/json.h"
#include "proto/corralctl/ctl.h"
#include "proto/rpc.h"

#define EDIT_ANSWER_MAX 16

/* $VISUAL, then $EDITOR, then vi, run by the shell as virsh does (so that
 * EDITOR='vim -n' works) on path, given as "$1". */
static int run_editor(const char *path)
{
    const char *editor = getenv("VISUAL");
    char *cmd;
    pid_t pid;
    int status;

    if (editor == NULL || editor[0] == '\0')
        editor = getenv("EDITOR");
    if (editor == NULL || editor[0] == '\0')
        editor = "vi";
    cmd = xasprintf("%s \"$1\"", editor);
    fflush(stdout);
    pid = fork();
    if (pid < 0) {
        free(cmd);
        return ctl_error("cannot start the editor %s: %s", editor, strerror(errno));
    }
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, "sh", path, (char *)NULL);
        _exit(127);
    }
    free(cmd);
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return ctl_error("cannot wait for the editor %s: %s", editor, strerror(errno));
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return ctl_error("the editor %s failed (%s %d); nothing was changed", editor,
                         WIFEXITED(status) ? "exit status" : "signal",
                         WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    return CTL_EXIT_OK;
}

static int write_copy(char *path, const char *xml)
{
    int fd = mkstemps(path, 4);
    size_t len = strlen(xml), done = 0;

    if (fd < 0)
        return ctl_error("cannot create a temporary file %s: %s", path, strerror(errno));
    while (done < len) {
        ssize_t n = write(fd, xml + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int err = errno;
            close(fd);
            unlink(path);
            return ctl_error("cannot write %s: %s", path, strerror(err));
        }
        done += (size_t)n;
    }
    if (close(fd) < 0) {
        int err = errno;
        unlink(path);
        return ctl_error("cannot write %s: %s", path, strerror(err));
    }
    return CTL_EXIT_OK;
}

/* Defines the edited text; 0 when it was taken, 1 when the broker refused
 * it (the error printed), -1 on a failure of ours. */
static int define_edited(struct ctl *ctl, const char *name, const char *path)
{
    char *xml = ctl_read_xml(path, "domain");
    const cJSON *warnings, *w;
    cJSON *p, *r;

    if (xml == NULL)
        return -1;
    p = json_obj();
    json_add_str(p, "xml", xml);
    free(xml);
    r = ctl_call(ctl, "vm.define", p);
    if (r == NULL)
        return 1;
    if (ctl_reply_strings(r, "warnings", &warnings) < 0) {
        cJSON_Delete(r);
        ctl_unexpected();
        return -1;
    }
    if (ctl->json)
        ctl_print_json(r, true);
    else
        printf("Domain '%s' XML configuration edited.\n", name);
    cJSON_ArrayForEach(w, warnings)
    {
        fprintf(stderr, "warning: %s\n", w->valuestring);
    }
    cJSON_Delete(r);
    return 0;
}

/* virsh's question after a refused edit: 'y' again, 'n' no.  corral has
 * no unvalidated define, so 'i' and 'f' are explained and asked again. */
static bool ask_again(void)
{
    char line[EDIT_ANSWER_MAX];

    for (;;) {
        fputs("Failed. Try again? [y,n,i,f,?]: ", stdout);
        fflush(stdout);
        if (fgets(line, sizeof(line), stdin) == NULL)
            return false;
        switch (line[0]) {
        case 'y':
        case 'Y':
            return true;
        case 'n':
        case 'N':
            return false;
        case 'i':
        case 'f':
            puts("corral cannot skip validation: the broker checks every definition");
            break;
        default:
            puts("y - yes, start editor again\n"
                 "n - no, throw away my changes\n"
                 "i, f - not available: the broker always validates the definition\n"
                 "? - print this help");
        }
    }
}

/* virsh's loop: the editor, then ops->unchanged when the text is orig's
 * (true ends the edit), else ops->submit, asking again after a refusal. */
static int edit_loop(const char *orig, const char *path, const struct ctl_edit_ops *ops)
{
    for (;;) {
        size_t len;
        char *now;
        bool same;
        int rc;

        if (run_editor(path) != CTL_EXIT_OK)
            return CTL_EXIT_ERROR;
        now = ctl_read_input(path, RPC_MAX_MESSAGE, &len);
        if (now == NULL)
            return CTL_EXIT_ERROR;
        same = strcmp(now, orig) == 0;
        free(now);
        if (same && ops->unchanged(ops->arg))
            return CTL_EXIT_OK;
        rc = ops->submit(ops->arg, path);
        if (rc <= 0)
            return rc == 0 ? CTL_EXIT_OK : CTL_EXIT_ERROR;
        /* Without a terminal nobody can answer: no loop. */
        if (!isatty(STDIN_FILENO) || !ask_again())
            return CTL_EXIT_ERROR;
    }
}

int ctl_edit(const char *label, const char *orig, const struct ctl_edit_ops *ops)
{
    const char *tmp = getenv("TMPDIR");
    char *path =
        xasprintf("%s/corralctl-%s-XXXXXX.xml", tmp != NULL && tmp[0] == '/' ? tmp : "/tmp", label);
    int status = write_copy(path, orig);

    if (status == CTL_EXIT_OK) {
        status = edit_loop(orig, path, ops);
        unlink(path);
    }
    free(path);
    return status;
}

struct domain_edit {
    struct ctl *ctl;
    const char *name;
};

static bool domain_unchanged(void *arg)
{
    printf("Domain '%s' XML configuration not changed.\n", ((struct domain_edit *)arg)->name);
    return true;
}

static int domain_submit(void *arg, const char *path)
{
    struct domain_edit *d = arg;

    return define_edited(d->ctl, d->name, path);
}

int ctl_run_edit(struct ctl *ctl, const struct ctl_args *a)
{
    struct domain_edit d = {ctl, a->argv[0]};
    struct ctl_edit_ops ops = {domain_unchanged, domain_submit, &d};
    char *orig = ctl_fetch_xml(ctl, d.name, true);
    int status;

    if (orig == NULL)
        return CTL_EXIT_ERROR;
    status = ctl_edit(d.name, orig, &ops);
    free(orig);
    return status;
}
