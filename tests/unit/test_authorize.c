/* authorize() (broker/dispatch.c) for every method and every kind of
 * caller, and the --no-isolation and --bridge rules policy_check_run,
 * policy_check_start and policy_check_define (broker/policy.c) add for
 * non-admins. */
#include <pwd.h>
#include <unistd.h>

#include "broker/dispatch_int.h"
#include "broker/policy.h"
#include "common/json.h"
#include "tests/unit/unit.h"

#define OWNER 3900001
#define STRANGER 3900002
/* An emulator that exists, owned by root and writable by nobody else. */
#define EMULATOR "/usr/bin/env"

/* The methods only admins may call, and the one a non-admin must name a VM
 * for; written out here so that the table is checked, not echoed. */
static const char *const admin_only[] = {"vm.qmp"};
static const char *const needs_name[] = {"events.subscribe"};
static const char *const all_methods[] = {"hello",
                                          "vm.define",
                                          "vm.undefine",
                                          "vm.list",
                                          "vm.start",
                                          "vm.state",
                                          "vm.domstats",
                                          "vm.autostart",
                                          "vm.info",
                                          "vm.dumpxml",
                                          "vm.sandbox",
                                          "vm.suspend",
                                          "vm.resume",
                                          "vm.reboot",
                                          "vm.reset",
                                          "vm.shutdown",
                                          "vm.destroy",
                                          "vm.console",
                                          "vm.qmp",
                                          "vm.change_media",
                                          "events.subscribe",
                                          "snapshot.create",
                                          "snapshot.delete",
                                          "snapshot.list",
                                          "snapshot.info",
                                          "snapshot.dumpxml",
                                          "snapshot.parent",
                                          "snapshot.current",
                                          "snapshot.revert",
                                          "snapshot.redefine",
                                          "snapshot.check",
                                          "vm.inconsistencies",
                                          "vm.iflist",
                                          "vm.ifaddr"};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static struct broker b;
static struct bvm vm;
static struct domain_def def;
static uid_t admin_uid; /* 0: this host has no account to make an admin */

static bool listed(const char *const *list, size_t n, const char *method)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(list[i], method) == 0)
            return true;
    }
    return false;
}

static void setup(void)
{
    struct passwd *pw;

    def.name = "a";
    def.emulator = EMULATOR;
    vm.b = &b;
    vm.def = &def;
    vm.owner = OWNER;
    b.vms = &vm;
    b.isolate = true;
    b.policy = policy_new();
    /* The first account that is neither root nor this process stands for
     * an admin: its primary group becomes --admin-group. */
    setpwent();
    while ((pw = getpwent()) != NULL) {
        if (pw->pw_uid != 0 && pw->pw_uid != geteuid() && pw->pw_uid != OWNER &&
            pw->pw_uid != STRANGER) {
            admin_uid = pw->pw_uid;
            b.has_admin_group = true;
            b.admin_gid = pw->pw_gid;
            break;
        }
    }
    endpwent();
}

static cJSON *named(const char *name, bool force)
{
    cJSON *p = json_obj();

    if (name != NULL)
        json_add_str(p, "name", name);
    if (force)
        cJSON_AddBoolToObject(p, "force", true);
    return p;
}

/* authorize(uid, method, {name?, force?}): 0, or -1 with the message in e. */
static int ask(uid_t uid, const char *method, const char *name, bool force, struct cerr *e)
{
    cJSON *p = named(name, force);
    int rc = dispatch_authorize(&b, uid, method, p, e);

    cJSON_Delete(p);
    return rc;
}

static void table_lists_every_method(void)
{
    EXPECT(dispatch_nmethods() == COUNT(all_methods));
    for (size_t i = 0; i < COUNT(all_methods); i++)
        EXPECT_STR(dispatch_method_name(i), all_methods[i]);
    EXPECT(dispatch_method_name(COUNT(all_methods)) == NULL);
}

static void root_may_do_everything(void)
{
    struct cerr e;

    for (size_t i = 0; i < dispatch_nmethods(); i++) {
        const char *m = dispatch_method_name(i);
        EXPECT(ask(0, m, "a", false, &e) == 0);
        EXPECT(ask(0, m, "a", true, &e) == 0);
        EXPECT(ask(0, m, NULL, false, &e) == 0);
        EXPECT(ask(0, m, "nosuchvm", false, &e) == 0);
    }
}

static void admin_group_may_do_everything(void)
{
    struct cerr e;

    if (admin_uid == 0)
        UNIT_SKIP("no account on this host to make an admin");
    for (size_t i = 0; i < dispatch_nmethods(); i++) {
        const char *m = dispatch_method_name(i);
        EXPECT(ask(admin_uid, m, "a", false, &e) == 0);
        EXPECT(ask(admin_uid, m, "a", true, &e) == 0);
        EXPECT(ask(admin_uid, m, NULL, false, &e) == 0);
    }
}

static void owner_may_do_all_but_raw_qmp(void)
{
    struct cerr e;

    for (size_t i = 0; i < dispatch_nmethods(); i++) {
        const char *m = dispatch_method_name(i);
        bool admin = listed(admin_only, COUNT(admin_only), m);
        EXPECT(ask(OWNER, m, "a", false, &e) == (admin ? -1 : 0));
        EXPECT(ask(OWNER, m, "a", true, &e) == (admin ? -1 : 0));
        if (admin) {
            EXPECT(e.code == CE_PERMISSION);
            EXPECT_CONTAINS(e.msg, "needs the 'admin' permission: root and the admin group");
        }
    }
    EXPECT(ask(OWNER, "vm.qmp", NULL, false, &e) == -1);
}

static void stranger_may_do_nothing_on_a_vm(void)
{
    struct cerr e;
    char want[160];

    for (size_t i = 0; i < dispatch_nmethods(); i++) {
        const char *m = dispatch_method_name(i);
        EXPECT(ask(STRANGER, m, "a", false, &e) == -1);
        EXPECT(e.code == CE_PERMISSION);
        if (!listed(admin_only, COUNT(admin_only), m)) {
            snprintf(want, sizeof(want), "uid %d may not call %s on VM a", STRANGER, m);
            EXPECT_CONTAINS(e.msg, want);
            EXPECT_CONTAINS(e.msg, "the VM belongs to uid 3900001");
        }
    }
}

static void without_a_vm_name(void)
{
    struct cerr e;

    for (size_t i = 0; i < dispatch_nmethods(); i++) {
        const char *m = dispatch_method_name(i);
        bool refused =
            listed(admin_only, COUNT(admin_only), m) || listed(needs_name, COUNT(needs_name), m);
        EXPECT(ask(STRANGER, m, NULL, false, &e) == (refused ? -1 : 0));
        /* A VM that does not exist: the method itself says so. */
        EXPECT(ask(STRANGER, m, "nosuchvm", false, &e) ==
               (listed(admin_only, COUNT(admin_only), m) ? -1 : 0));
    }
    EXPECT(ask(STRANGER, "events.subscribe", NULL, false, &e) == -1);
    EXPECT_CONTAINS(e.msg, "must name one of its VMs to follow events");
}

/* The permission a refusal names. */
static void refusals_name_the_permission(void)
{
    static const struct {
        const char *method;
        bool force;
        const char *perm;
    } cases[] = {
        {"vm.state", false, "read"},
        {"vm.define", false, "define"},
        {"vm.undefine", false, "define"},
        {"vm.start", false, "power"},
        {"vm.destroy", false, "power"},
        {"snapshot.create", false, "snapshot"},
        {"snapshot.revert", false, "revert"},
        {"snapshot.delete", false, "delete-snapshot"},
        {"snapshot.delete", true, "force"},
        {"snapshot.create", true, "snapshot"},
        {"snapshot.current", false, "snapshot"},
    };
    struct cerr e;
    char want[64];

    for (size_t i = 0; i < COUNT(cases); i++) {
        EXPECT(ask(STRANGER, cases[i].method, "a", cases[i].force, &e) == -1);
        snprintf(want, sizeof(want), "needs the '%s' permission;", cases[i].perm);
        EXPECT_CONTAINS(e.msg, want);
    }
}

static void unknown_method(void)
{
    struct cerr e;

    EXPECT(ask(0, "vm.nosuch", "a", false, &e) == -1);
    EXPECT(e.code == CE_NO_METHOD);
}

/* Starting a VM, or snapshot work on a shut-off one, runs QEMU as the
 * broker's uid under --no-isolation: only admins may then. */
static void no_isolation_starts_are_admins(void)
{
    struct cerr e;

    if (access(EMULATOR, X_OK) < 0)
        UNIT_SKIP(EMULATOR " is missing");
    EXPECT(policy_allow_emulator(b.policy, EMULATOR, false, &e) == 0);
    b.isolate = true;
    EXPECT(policy_check_run(&b, OWNER, &vm, &e) == 0);
    EXPECT(policy_check_run(&b, 0, &vm, &e) == 0);
    b.isolate = false;
    EXPECT(policy_check_run(&b, 0, &vm, &e) == 0);
    if (admin_uid != 0)
        EXPECT(policy_check_run(&b, admin_uid, &vm, &e) == 0);
    EXPECT(policy_check_run(&b, OWNER, &vm, &e) == -1);
    EXPECT(e.code == CE_PERMISSION);
    EXPECT_CONTAINS(e.msg, "may not start VMs or run snapshot work on a shut-off one");
    EXPECT(policy_check_define(&b, OWNER, OWNER, "<domain/>", &e) == -1);
    EXPECT(e.code == CE_PERMISSION);
    EXPECT_CONTAINS(e.msg, "may not define VMs");
    b.isolate = true;
}

static int define_nic(uid_t caller, const char *nic, struct cerr *e)
{
    char xml[512];

    snprintf(xml, sizeof(xml),
             "<domain type='qemu'><name>n</name><memory>65536</memory><devices>%s</devices>"
             "</domain>",
             nic);
    return policy_check_define(&b, caller, caller, xml, e);
}

/* Which bridges users' VMs join is the host's choice (--bridge); nor may
 * they name a tap.  Admins may do both. */
static void bridges_are_the_hosts_choice(void)
{
    struct net_def net = {.type = NET_TYPE_BRIDGE, .bridge = "br9"};
    struct cerr e;

    EXPECT(policy_allow_bridge(b.policy, "br0", &e) == 0);
    EXPECT(policy_allow_bridge(b.policy, "-x", &e) == -1);
    EXPECT(policy_allow_bridge(b.policy, "a-name-far-too-long", &e) == -1);
    EXPECT(policy_allow_bridge(b.policy, "a,b", &e) == -1);
    EXPECT(policy_allow_emulator(b.policy, DOMAIN_DEFAULT_EMULATOR, true, &e) == 0);
    b.isolate = true;
    EXPECT(define_nic(OWNER, "<interface type='bridge'><source bridge='br0'/></interface>", &e) ==
           0);
    EXPECT(define_nic(OWNER, "<interface type='ethernet'/>", &e) == 0);
    EXPECT(define_nic(OWNER, "<interface type='bridge'><source bridge='br9'/></interface>", &e) ==
           -1);
    EXPECT(e.code == CE_PERMISSION);
    EXPECT_CONTAINS(e.msg, "may not put VM n on bridge br9: it is not on corrald's --bridge list");
    EXPECT(define_nic(OWNER, "<interface type='ethernet'><target dev='eth7'/></interface>", &e) ==
           -1);
    EXPECT_CONTAINS(e.msg, "may not name the tap of VM n (<target dev='eth7'/>)");
    EXPECT(define_nic(0, "<interface type='bridge'><source bridge='br9'/></interface>", &e) == 0);
    EXPECT(define_nic(0, "<interface type='ethernet'><target dev='eth7'/></interface>", &e) == 0);

    /* At start, against this run's list. */
    if (access(EMULATOR, X_OK) < 0)
        UNIT_SKIP(EMULATOR " is missing");
    def.nnets = 1;
    def.nets = &net;
    EXPECT(policy_check_start(&b, OWNER, &vm, &e) == -1);
    EXPECT_CONTAINS(e.msg, "bridge br9");
    EXPECT(policy_check_start(&b, 0, &vm, &e) == 0);
    net.bridge = "br0";
    EXPECT(policy_check_start(&b, OWNER, &vm, &e) == 0);
    def.nnets = 0;
    def.nets = NULL;
}

int main(void)
{
    setup();
    RUN(table_lists_every_method);
    RUN(root_may_do_everything);
    RUN(admin_group_may_do_everything);
    RUN(owner_may_do_all_but_raw_qmp);
    RUN(stranger_may_do_nothing_on_a_vm);
    RUN(without_a_vm_name);
    RUN(refusals_name_the_permission);
    RUN(unknown_method);
    RUN(no_isolation_starts_are_admins);
    RUN(bridges_are_the_hosts_choice);
    policy_free(b.policy);
    return unit_done();
}
