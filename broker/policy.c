#include "broker/policy.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/admins.h"
#include "broker/chardev_log.h"
#include "broker/tap.h"
#include "broker/uidrange.h"
#include "common/domain_xml.h"
#include "common/fileutil.h"
#include "common/log.h"
#include "common/names.h"

struct policy {
    char **emulators; /* canonical absolute paths, owned */
    size_t nemulators;
    char **bridges; /* --bridge names, owned */
    size_t nbridges;
    struct admins *admins;
};

struct policy *policy_new(void)
{
    struct policy *p = xcalloc(1, sizeof(*p));

    p->admins = admins_new();
    return p;
}

void policy_free(struct policy *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->nemulators; i++)
        free(p->emulators[i]);
    free(p->emulators);
    for (size_t i = 0; i < p->nbridges; i++)
        free(p->bridges[i]);
    free(p->bridges);
    admins_free(p->admins);
    free(p);
}

bool policy_is_admin(const struct broker *b, uid_t uid)
{
    if (uid == 0 || uid == geteuid())
        return true;
    return b->has_admin_group && admins_member(b->policy->admins, b->admin_gid, uid);
}

/* ---- the emulator allowlist ---- */

/* Whose files root lets VMs execute: root's, and this broker's own user's
 * when it is not root (such a broker runs VMs as itself anyway). */
static bool trusted_owner(uid_t uid)
{
    return uid == 0 || uid == geteuid();
}

/* Whether root may let VMs execute path, as sshd checks its AuthorizedKeys
 * path: absolute with no symlink, empty, "." or ".." component (so that the
 * string names the file, and the allowlist compares strings), every
 * directory on the way owned by a trusted uid and writable by nobody else
 * unless sticky (in a sticky directory only an entry's owner, trusted here
 * too, can rename or replace it), and the file a regular file of a trusted
 * owner that nobody else can write, without set-id bits.  Nobody else can
 * then change what the path runs.  *missing tells a path that does not
 * exist apart. */
static int trusted_executable(const char *path, bool *missing, struct cerr *e)
{
    char shown[512];
    const char *p = path + 1;
    struct stat st;

    *missing = false;
    name_escape(path, shown, sizeof(shown));
    if (path[0] != '/') {
        cerr_set(e, CE_PERMISSION, "emulator %s is not an absolute path", shown);
        return -1;
    }
    if (lstat("/", &st) < 0 || !trusted_owner(st.st_uid) || (st.st_mode & 022) != 0) {
        cerr_set(e, CE_PERMISSION, "emulator %s: / is not owned by root or is writable by others",
                 shown);
        return -1;
    }
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t clen = slash ? (size_t)(slash - p) : strlen(p);
        if (clen == 0 || (clen == 1 && p[0] == '.') || (clen == 2 && p[0] == '.' && p[1] == '.')) {
            cerr_set(e, CE_PERMISSION,
                     "emulator %s is not a canonical path (an empty, '.' or '..' component)",
                     shown);
            return -1;
        }
        char *prefix = strndup(path, (size_t)(p - path) + clen);
        if (prefix == NULL) {
            cerr_set(e, CE_SYSTEM, "emulator %s: out of memory", shown);
            return -1;
        }
        /* "emulator /a/b/c", or "emulator /a/b/c: /a" for a directory. */
        char where[1100];
        if (slash == NULL)
            snprintf(where, sizeof(where), "emulator %s", shown);
        else {
            char dir[512];
            name_escape(prefix, dir, sizeof(dir));
            snprintf(where, sizeof(where), "emulator %s: %s", shown, dir);
        }
        int rc = lstat(prefix, &st), err = errno;
        free(prefix);
        if (rc < 0) {
            *missing = err == ENOENT;
            cerr_set(e, CE_PERMISSION, "%s: %s", where, strerror(err));
            return -1;
        }
        if (S_ISLNK(st.st_mode)) {
            cerr_set(e, CE_PERMISSION, "%s is a symbolic link; name the file it leads to", where);
            return -1;
        }
        if (!trusted_owner(st.st_uid)) {
            cerr_set(e, CE_PERMISSION, "%s belongs to uid %ld, not root", where, (long)st.st_uid);
            return -1;
        }
        if (slash == NULL)
            break;
        if (!S_ISDIR(st.st_mode) || ((st.st_mode & 022) != 0 && !(st.st_mode & S_ISVTX))) {
            cerr_set(e, CE_PERMISSION, "%s is %s", where,
                     S_ISDIR(st.st_mode) ? "a directory others may write to (and not sticky)"
                                         : "not a directory");
            return -1;
        }
        p = slash + 1;
    }
    if (!S_ISREG(st.st_mode) || (st.st_mode & 022) != 0 ||
        (st.st_mode & (S_ISUID | S_ISGID)) != 0) {
        cerr_set(e, CE_PERMISSION,
                 "emulator %s is not a regular file that only its owner may write and without "
                 "set-id bits (mode %04o)",
                 shown, (unsigned)(st.st_mode & 07777));
        return -1;
    }
    return 0;
}

static bool emulator_listed(const struct policy *p, const char *path)
{
    for (size_t i = 0; i < p->nemulators; i++) {
        if (strcmp(p->emulators[i], path) == 0)
            return true;
    }
    return false;
}

/* The allowlist for messages, truncated to fit. */
static void emulator_list(const struct policy *p, char *out, size_t len)
{
    size_t o = 0;

    out[0] = '\0';
    for (size_t i = 0; i < p->nemulators && o < len; i++) {
        int n = snprintf(out + o, len - o, "%s%s", i ? ", " : "", p->emulators[i]);
        if (n < 0)
            break;
        o += (size_t)n;
    }
    if (p->nemulators == 0)
        snprintf(out, len, "(none)");
}

int policy_allow_emulator(struct policy *p, const char *path, bool missing_ok, struct cerr *e)
{
    bool missing;

    if (trusted_executable(path, &missing, e) < 0) {
        if (!missing || !missing_ok)
            return -1;
        log_warn_code(cerr_name(e->code),
                      "%s: VMs that use it will not start until it is installed", e->msg);
    }
    if (emulator_listed(p, path))
        return 0;
    p->emulators = xreallocarray(p->emulators, p->nemulators + 1, sizeof(*p->emulators));
    p->emulators[p->nemulators++] = xstrdup(path);
    return 0;
}

void policy_report_vms(const struct broker *b)
{
    for (const struct bvm *vm = b->vms; vm != NULL; vm = vm->next) {
        char shown[512];
        if (emulator_listed(b->policy, vm->def->emulator))
            continue;
        name_escape(vm->def->emulator, shown, sizeof(shown));
        log_warn("VM %s: its emulator %s is not on the --emulator list; it will not start until "
                 "the list names it or the VM is redefined",
                 vm->def->name, shown);
    }
}

/* ---- the bridge allowlist ---- */

static bool bridge_listed(const struct policy *p, const char *name)
{
    for (size_t i = 0; i < p->nbridges; i++) {
        if (strcmp(p->bridges[i], name) == 0)
            return true;
    }
    return false;
}

int policy_allow_bridge(struct policy *p, const char *name, struct cerr *e)
{
    char shown[64];
    size_t len = strlen(name);
    bool ok = len > 0 && len < IFNAMSIZ && name[0] != '-' && name[0] != '.';

    for (const char *c = name; ok && *c != '\0'; c++)
        ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
             *c == '.' || *c == '_' || *c == '-';
    if (!ok) {
        name_escape(name, shown, sizeof(shown));
        cerr_set(e, CE_INVALID_PARAMS,
                 "%s is not an interface name (1-%d characters of A-Z a-z 0-9 . _ -, not "
                 "starting with . or -)",
                 shown, IFNAMSIZ - 1);
        return -1;
    }
    if (!bridge_listed(p, name)) {
        p->bridges = xreallocarray(p->bridges, p->nbridges + 1, sizeof(*p->bridges));
        p->bridges[p->nbridges++] = xstrdup(name);
    }
    return 0;
}

/* What a user who is not an admin may not have in def's interfaces: a
 * bridge off the --bridge list (which networks a guest joins is the
 * host's choice), and a tap name of her choosing (a name the host's
 * firewall or network configuration trusts, or will give to a device
 * later, would be hers). */
static int check_nets(const struct broker *b, uid_t caller, const struct domain_def *def,
                      struct cerr *e)
{
    for (size_t i = 0; i < def->nnets; i++) {
        const struct net_def *net = &def->nets[i];

        if (net->type == NET_TYPE_BRIDGE && !bridge_listed(b->policy, net->bridge)) {
            cerr_set(e, CE_PERMISSION,
                     "permission denied: uid %ld may not put VM %s on bridge %s: it is not on "
                     "corrald's --bridge list%s%s (root and the admin group may use any bridge)",
                     (long)caller, def->name, net->bridge,
                     b->policy->nbridges > 0 ? ", " : " (none is)",
                     b->policy->nbridges > 0 ? "which names the bridges users may use" : "");
            return -1;
        }
        if (net->type != NET_TYPE_USER && net->ifname != NULL) {
            cerr_set(e, CE_PERMISSION,
                     "permission denied: uid %ld may not name the tap of VM %s (<target "
                     "dev='%s'/>): only root and the admin group may; leave it out and the "
                     "kernel names it (%s)",
                     (long)caller, def->name, net->ifname, TAP_NAME_PATTERN);
            return -1;
        }
    }
    return 0;
}

int policy_check_start(const struct broker *b, uid_t caller, const struct bvm *vm, struct cerr *e)
{
    if (policy_check_run(b, caller, vm, e) < 0)
        return -1;
    /* The list may have changed since the VM was defined. */
    if (policy_is_admin(b, caller) || policy_is_admin(b, vm->owner))
        return 0;
    return check_nets(b, caller, vm->def, e);
}

/* ---- configuration, define, run ---- */

/* The local user a --vm-user binding names for the VM, or NULL. */
static const char *bound_user(const struct broker *b, const char *name)
{
    size_t n = strlen(name);

    for (size_t i = 0; i < b->nvm_users; i++) {
        const char *s = b->vm_users[i], *eq = strchr(s, '=');
        if (eq != NULL && (size_t)(eq - s) == n && strncmp(s, name, n) == 0)
            return eq + 1;
    }
    return NULL;
}

/* Looks a --vm-user USER up and refuses root and the VM range. */
static const struct passwd *bound_account(const struct broker *b, const char *user,
                                          const char *what, struct cerr *e)
{
    char shown[128];
    const struct passwd *pw;

    name_escape(user, shown, sizeof(shown));
    errno = 0;
    pw = getpwnam(user);
    if (pw == NULL) {
        if (errno == 0 || errno == ENOENT || errno == ESRCH)
            cerr_set(e, CE_SYSTEM, "%s: --vm-user names %s, which is no local user", what, shown);
        else
            cerr_set(e, CE_SYSTEM, "%s: cannot look up the --vm-user %s: %s", what, shown,
                     strerror(errno));
        return NULL;
    }
    if (pw->pw_uid == 0) {
        cerr_set(e, CE_SYSTEM, "%s: --vm-user names %s, which is root; no VM runs as root", what,
                 shown);
        return NULL;
    }
    if (pw->pw_uid >= b->uid_min && pw->pw_uid <= b->uid_max) {
        cerr_set(e, CE_SYSTEM,
                 "%s: --vm-user names %s, whose uid %lu lies in --uid-range %lu-%lu, which "
                 "belongs to VMs",
                 what, shown, (unsigned long)pw->pw_uid, (unsigned long)b->uid_min,
                 (unsigned long)b->uid_max);
        return NULL;
    }
    return pw;
}

int policy_check_config(const struct broker *b, struct cerr *e)
{
    if (!b->isolate) {
        if (geteuid() == 0)
            log_warn("--no-isolation: every VM runs as root, with root's capabilities; only root "
                     "and the admin group may define VMs, start them or run snapshot work on a "
                     "shut-off one");
        else
            log_info("every VM runs as this broker's uid %ld; only it, root and the admin group "
                     "may define VMs, start them or run snapshot work on a shut-off one",
                     (long)geteuid());
        if (b->nvm_users > 0)
            log_warn("--vm-user has no effect without a uid range: every VM runs as uid %ld",
                     (long)geteuid());
        return 0;
    }
    if (uidrange_check_free(b->uid_min, b->uid_max, e) < 0)
        return -1;
    for (size_t i = 0; i < b->nvm_users; i++) {
        const char *s = b->vm_users[i], *eq = strchr(s, '=');
        char *name = strndup(s, (size_t)(eq - s));
        char what[160], shown[96];
        struct cerr ne;
        if (name == NULL) {
            cerr_set(e, CE_SYSTEM, "--vm-user: out of memory");
            return -1;
        }
        name_escape(s, shown, sizeof(shown));
        snprintf(what, sizeof(what), "--vm-user %s", shown);
        bool ok = name_vm_valid(name, &ne);
        if (!ok)
            cerr_set(e, CE_SYSTEM, "%s: %s", what, ne.msg);
        else if (bound_user(b, name) != eq + 1) {
            cerr_set(e, CE_SYSTEM, "%s: VM %s is bound twice", what, name);
            ok = false;
        } else
            ok = bound_account(b, eq + 1, what, e) != NULL;
        free(name);
        if (!ok)
            return -1;
    }
    return 0;
}

/* A broker that does not isolate VMs runs them as itself: root, as a rule. */
static int check_isolation(const struct broker *b, uid_t caller, const char *what, struct cerr *e)
{
    if (b->isolate || policy_is_admin(b, caller))
        return 0;
    cerr_set(e, CE_PERMISSION,
             "permission denied: uid %ld may not %s: this corrald runs with%s every VM as uid "
             "%ld%s, so only root and the admin group may",
             (long)caller, what, geteuid() == 0 ? " --no-isolation," : "", (long)geteuid(),
             geteuid() == 0 ? " (root) with root's capabilities" : " (its own)");
    return -1;
}

static int check_emulator_listed(const struct broker *b, const char *vmname, const char *emulator,
                                 struct cerr *e)
{
    char shown[512], list[512];

    if (emulator_listed(b->policy, emulator))
        return 0;
    name_escape(emulator, shown, sizeof(shown));
    emulator_list(b->policy, list, sizeof(list));
    cerr_set(e, CE_PERMISSION,
             "permission denied: VM %s: the emulator %s is not one corrald may run (corrald "
             "--emulator: %s)",
             vmname, shown, list);
    return -1;
}

int policy_check_define(const struct broker *b, uid_t caller, uid_t owner, const char *xml,
                        struct cerr *e)
{
    bool admin = policy_is_admin(b, caller);
    struct domain_def *def;
    char *warnings = NULL;
    const char *user;
    int rc = -1;

    if (check_isolation(b, caller, "define VMs", e) < 0)
        return -1;
    def = domain_def_parse(xml, strlen(xml), &warnings, e);
    free(warnings);
    if (def == NULL)
        return -1;
    /* The emulator runs as the VM's uid, holding its disks and directories:
     * only an admin chooses it.  Everybody else gets the default, which
     * libvirt's own XML usually names, and may name too. */
    if (!admin && strcmp(def->emulator, DOMAIN_DEFAULT_EMULATOR) != 0) {
        char shown[512];
        name_escape(def->emulator, shown, sizeof(shown));
        cerr_set(e, CE_PERMISSION,
                 "permission denied: uid %ld may not choose the emulator %s for VM %s: only root "
                 "and the admin group may; leave <emulator> out or name %s",
                 (long)caller, shown, def->name, DOMAIN_DEFAULT_EMULATOR);
        goto out;
    }
    if (check_emulator_listed(b, def->name, def->emulator, e) < 0)
        goto out;
    /* A TCP listener (VNC, a port forward off loopback) reaches beyond the
     * host: the host's choice, not a user's. */
    if (!admin && (domain_def_check_admin_only(def, e) < 0 || check_nets(b, caller, def, e) < 0))
        goto out;
    /* A bound VM runs as that user: whoever defines it gets that user's
     * uid. */
    user = bound_user(b, def->name);
    if (user != NULL && !policy_is_admin(b, owner)) {
        char shown[128];
        name_escape(user, shown, sizeof(shown));
        cerr_set(e, CE_PERMISSION,
                 "permission denied: VM name %s runs as the local user %s (corrald --vm-user): "
                 "only root and the admin group may define it, for an owner among them",
                 def->name, shown);
        goto out;
    }
    /* A console log is opened as its owner at each start: one the owner
     * could not have is refused now, whoever defines the VM. */
    if (chardev_log_check(def, owner, policy_is_admin(b, owner), e) < 0)
        goto out;
    rc = 0;
out:
    domain_def_free(def);
    return rc;
}

int policy_check_run(const struct broker *b, uid_t caller, const struct bvm *vm, struct cerr *e)
{
    const char *name = vm->def->name, *user;
    bool missing;

    if (check_isolation(b, caller, "start VMs or run snapshot work on a shut-off one", e) < 0 ||
        check_emulator_listed(b, name, vm->def->emulator, e) < 0)
        return -1;
    /* The allowlist was checked at start-up; the file may have changed. */
    if (trusted_executable(vm->def->emulator, &missing, e) < 0) {
        char why[CERR_MSG_MAX];
        snprintf(why, sizeof(why), "%s", e->msg);
        cerr_set(e, missing ? CE_QEMU_FAILED : CE_PERMISSION, "VM %s: %s", name, why);
        return -1;
    }
    user = b->isolate ? bound_user(b, name) : NULL;
    if (user == NULL)
        return 0;
    /* Defined before bindings were checked, or bound since. */
    if (!policy_is_admin(b, vm->owner)) {
        char shown[128];
        name_escape(user, shown, sizeof(shown));
        cerr_set(e, CE_PERMISSION,
                 "permission denied: VM %s would run as the local user %s (corrald --vm-user), "
                 "but belongs to uid %ld, who is not an admin; only a VM of root or the admin "
                 "group may",
                 name, shown, (long)vm->owner);
        return -1;
    }
    char what[128];
    snprintf(what, sizeof(what), "VM %s", name);
    return bound_account(b, user, what, e) != NULL ? 0 : -1;
}
