#include "broker/netinfo.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "broker/lifecycle.h"
#include "broker/redefine.h"
#include "broker/spawn.h"
#include "broker/tap.h"
#include "common/fileutil.h"
#include "common/json.h"
#include "common/log.h"

/* The kernel's ARP table of the broker's network namespace: one short line
 * per neighbour, so this covers thousands. */
#define ARP_MAX (1024 * 1024)
/* ATF_COM: the entry is resolved (not incomplete or failed). */
#define ARP_COMPLETE 0x2
/* What QEMU's user network (slirp) gives: corral sets neither net= nor
 * dhcpstart=, so the first DHCP client of each user interface gets QEMU's
 * default start address in 10.0.2.0/24. */
#define SLIRP_GUEST_ADDR "10.0.2.15"
#define SLIRP_PREFIX 24

static const char *const type_names[] = {"user", "bridge", "ethernet"};
static const char *const model_names[] = {"virtio", "e1000", "rtl8139"};

static bool running(const struct bvm *vm)
{
    return bvm_active(vm) && !lifecycle_maintenance(vm->phase) && spawn_qemu_alive(vm);
}

/* The taps QEMU holds, one per tap-backed interface in order (tap.h);
 * none when it is not running (or /proc would not say: logged).  Returns
 * how many. */
static size_t held_taps(const struct bvm *vm, char (*names)[IFNAMSIZ])
{
    struct cerr e;
    int n;

    if (!running(vm))
        return 0;
    n = tap_names_held(vm->qemu_pid, names, DOMAIN_MAX_NETS, &e);
    if (n < 0)
        log_warn_code(cerr_name(e.code), "VM %s: %s", vm->def->name, e.msg);
    /* /proc was read by pid: had QEMU ended meanwhile, the pid might name
     * another process, whose taps are not this VM's to show. */
    if (n > 0 && !running(vm))
        n = 0;
    return n < 0 ? 0 : (size_t)n;
}

/* Name of interface i: its tap when QEMU holds one, else NULL. */
static const char *tap_of(const struct domain_def *def, size_t i, char (*names)[IFNAMSIZ],
                          size_t ntaps)
{
    size_t k = 0;

    if (def->nets[i].type == NET_TYPE_USER)
        return NULL;
    for (size_t j = 0; j < i; j++)
        k += def->nets[j].type != NET_TYPE_USER;
    return k < ntaps ? names[k] : NULL;
}

cJSON *netinfo_list(const struct bvm *vm)
{
    char names[DOMAIN_MAX_NETS][IFNAMSIZ];
    /* What runs: a redefine waits for the next start. */
    const struct domain_def *def = redefine_live(vm);
    size_t ntaps = held_taps(vm, names);
    cJSON *r = json_obj(), *list = json_arr();

    for (size_t i = 0; i < def->nnets; i++) {
        const struct net_def *net = &def->nets[i];
        const char *tap = tap_of(def, i, names, ntaps);
        cJSON *o = json_obj();

        json_add(o, "interface", tap ? json_str(tap) : json_null());
        json_add_str(o, "type", type_names[net->type]);
        json_add(o, "source", net->bridge ? json_str(net->bridge) : json_null());
        json_add_str(o, "model", model_names[net->model]);
        json_add_str(o, "mac", net->mac);
        json_arr_add(list, o);
    }
    json_add(r, "interfaces", list);
    return r;
}

static cJSON *addr_json(const char *addr, int prefix)
{
    cJSON *a = json_obj();

    json_add_str(a, "type", "ipv4");
    json_add_str(a, "addr", addr);
    json_add_num(a, "prefix", prefix);
    return a;
}

/* Adds to addrs the IPv4 address of every resolved ARP entry for mac. */
static void arp_lookup(const char *table, const char *mac, cJSON *addrs)
{
    const char *line = strchr(table, '\n'); /* past the header */

    while (line != NULL && *++line != '\0') {
        char ip[64], hw[64], flags[16];
        struct in_addr a;

        if (sscanf(line, "%63s %*s %15s %63s", ip, flags, hw) == 3 && strcasecmp(hw, mac) == 0 &&
            (strtoul(flags, NULL, 16) & ARP_COMPLETE) != 0 && inet_pton(AF_INET, ip, &a) == 1)
            /* ARP knows no prefix: 0, as libvirt reports it. */
            json_arr_add(addrs, addr_json(ip, 0));
        line = strchr(line, '\n');
    }
}

cJSON *netinfo_addrs(const struct bvm *vm, const char *source, struct cerr *e)
{
    char names[DOMAIN_MAX_NETS][IFNAMSIZ];
    const struct domain_def *def = redefine_live(vm);
    bool arp = strcmp(source, "arp") == 0;
    char *table = NULL;
    size_t ntaps, len;
    cJSON *r, *list;

    if (strcmp(source, "agent") == 0) {
        cerr_set(e, CE_UNSUPPORTED,
                 "VM %s: corral has no guest agent channel; use --source lease or arp", def->name);
        return NULL;
    }
    if (!arp && strcmp(source, "lease") != 0) {
        cerr_set(e, CE_INVALID_PARAMS, "source must be lease, arp or agent, not %s", source);
        return NULL;
    }
    if (!running(vm)) {
        cerr_set(e, CE_OPERATION_INVALID, "VM %s is not running (state: %s)", def->name, vm->state);
        return NULL;
    }
    if (arp && (table = file_read_all("/proc/net/arp", ARP_MAX, &len, e)) == NULL)
        return NULL;
    ntaps = held_taps(vm, names);
    r = json_obj();
    list = json_arr();
    for (size_t i = 0; i < def->nnets; i++) {
        const struct net_def *net = &def->nets[i];
        const char *tap = tap_of(def, i, names, ntaps);
        cJSON *o = json_obj(), *addrs = json_arr();

        if (arp && net->type != NET_TYPE_USER)
            arp_lookup(table, net->mac, addrs);
        else if (!arp && net->type == NET_TYPE_USER)
            json_arr_add(addrs, addr_json(SLIRP_GUEST_ADDR, SLIRP_PREFIX));
        json_add(o, "interface", tap ? json_str(tap) : json_null());
        json_add_str(o, "mac", net->mac);
        json_add(o, "addrs", addrs);
        json_arr_add(list, o);
    }
    free(table);
    json_add(r, "interfaces", list);
    return r;
}
