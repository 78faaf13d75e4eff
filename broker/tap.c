#include "broker/tap.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/fileutil.h"
#include "common/json.h"
#include "common/log.h"

/* The kernel never reports more than this about one tun descriptor. */
#define FDINFO_MAX 1024
#define RECORD_FILE "taps.json"
/* DOMAIN_MAX_NETS entries of a name and a number. */
#define RECORD_MAX 4096

static void ifr_init(struct ifreq *ifr, const char *name)
{
    memset(ifr, 0, sizeof(*ifr));
    snprintf(ifr->ifr_name, sizeof(ifr->ifr_name), "%s", name);
}

/* Where the tap goes, for messages: "interface 1 (bridge br0)". */
static void describe(const struct net_def *net, size_t i, char *buf, size_t len)
{
    if (net->type == NET_TYPE_BRIDGE)
        snprintf(buf, len, "interface %zu (bridge %s)", i, net->bridge);
    else
        snprintf(buf, len, "interface %zu (ethernet)", i);
}

/* The bridge must be there before a tap is made for it. */
static int bridge_check(const char *vm, const struct net_def *net, const char *what, struct cerr *e)
{
    if (net->type != NET_TYPE_BRIDGE || if_nametoindex(net->bridge) != 0)
        return 0;
    if (errno == ENODEV || errno == ENXIO)
        cerr_set(e, CE_OPERATION_INVALID,
                 "VM %s: %s: there is no network interface named %s on this host (create the "
                 "bridge first)",
                 vm, what, net->bridge);
    else
        cerr_set(e, CE_SYSTEM, "VM %s: %s: cannot look up bridge %s: %s", vm, what, net->bridge,
                 strerror(errno));
    return -1;
}

/* Opens a new, non-persistent tap; its name goes back into name. */
static int tap_open(const char *vm, const struct net_def *net, const char *what, char *name,
                    struct cerr *e)
{
    struct ifreq ifr;
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

    if (fd < 0) {
        cerr_set(e, CE_SYSTEM, "VM %s: %s: cannot open /dev/net/tun: %s", vm, what,
                 strerror(errno));
        return -1;
    }
    ifr_init(&ifr, net->ifname != NULL ? net->ifname : TAP_NAME_PATTERN);
    /* IFF_TUN_EXCL: a device of that name that exists already is refused
     * rather than attached to, whatever it is and whoever made it. */
    ifr.ifr_flags = (short)(IFF_TAP | IFF_NO_PI | IFF_TUN_EXCL);
    if (net->model == NET_MODEL_VIRTIO)
        ifr.ifr_flags |= IFF_VNET_HDR;
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        int err = errno;

        close(fd);
        if (err == EBUSY || err == EEXIST)
            cerr_set(e, CE_OPERATION_INVALID,
                     "VM %s: %s: a network interface named %s exists already; name another in "
                     "<target dev=...> or leave it out",
                     vm, what, net->ifname);
        else
            cerr_set(e, CE_SYSTEM, "VM %s: %s: cannot create a tap: TUNSETIFF: %s", vm, what,
                     strerror(err));
        return -1;
    }
    snprintf(name, IFNAMSIZ, "%s", ifr.ifr_name);
    return fd;
}

/* Attaches the tap to its bridge, then gives it the bridge's MTU (as
 * libvirt does: a smaller port would lower the bridge's).  Attaching first
 * tells a device that is not a bridge apart before its MTU can get in the
 * way.  sock: any socket, for the device ioctls. */
static int bridge_attach(int sock, const char *vm, const struct net_def *net, const char *what,
                         const char *name, int ifindex, struct cerr *e)
{
    struct ifreq ifr;
    const char *step = "SIOCBRADDIF";
    int mtu;

    ifr_init(&ifr, net->bridge);
    ifr.ifr_ifindex = ifindex;
    if (ioctl(sock, SIOCBRADDIF, &ifr) < 0) {
        if (errno == ENODEV)
            cerr_set(e, CE_OPERATION_INVALID,
                     "VM %s: %s: bridge %s has gone away (create the bridge first)", vm, what,
                     net->bridge);
        else if (errno == EOPNOTSUPP || errno == EINVAL)
            cerr_set(e, CE_OPERATION_INVALID, "VM %s: %s: %s is not a bridge", vm, what,
                     net->bridge);
        else
            goto fail;
        return -1;
    }
    ifr_init(&ifr, net->bridge);
    step = "SIOCGIFMTU";
    if (ioctl(sock, SIOCGIFMTU, &ifr) < 0)
        goto fail;
    mtu = ifr.ifr_mtu;
    ifr_init(&ifr, name);
    ifr.ifr_mtu = mtu;
    step = "SIOCSIFMTU";
    if (ioctl(sock, SIOCSIFMTU, &ifr) < 0)
        goto fail;
    return 0;
fail:
    cerr_set(e, CE_SYSTEM, "VM %s: %s: tap %s on bridge %s: %s: %s", vm, what, name, net->bridge,
             step, strerror(errno));
    return -1;
}

/* Attached to its bridge (if any) and up. */
static int tap_plug(int sock, const char *vm, const struct net_def *net, const char *what,
                    const char *name, int ifindex, struct cerr *e)
{
    struct ifreq ifr;

    if (net->type == NET_TYPE_BRIDGE && bridge_attach(sock, vm, net, what, name, ifindex, e) < 0)
        return -1;
    ifr_init(&ifr, name);
    if (ioctl(sock, SIOCGIFFLAGS, &ifr) < 0) {
        cerr_set(e, CE_SYSTEM, "VM %s: %s: tap %s: SIOCGIFFLAGS: %s", vm, what, name,
                 strerror(errno));
        return -1;
    }
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(sock, SIOCSIFFLAGS, &ifr) < 0) {
        cerr_set(e, CE_SYSTEM, "VM %s: %s: tap %s: SIOCSIFFLAGS: %s", vm, what, name,
                 strerror(errno));
        return -1;
    }
    return 0;
}

int tap_create_all(const struct domain_def *def, struct tap_set *set, struct cerr *e)
{
    int sock;

    memset(set, 0, sizeof(*set));
    if (domain_def_tap_count(def) == 0)
        return 0;
    sock = socket(AF_LOCAL, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0) {
        cerr_set(e, CE_SYSTEM, "VM %s: cannot create a socket for the tap ioctls: %s", def->name,
                 strerror(errno));
        return -1;
    }
    for (size_t i = 0; i < def->nnets; i++) {
        const struct net_def *net = &def->nets[i];
        char what[64 + IFNAMSIZ];
        int fd;

        if (net->type == NET_TYPE_USER)
            continue;
        describe(net, i, what, sizeof(what));
        if (bridge_check(def->name, net, what, e) < 0)
            goto fail;
        fd = tap_open(def->name, net, what, set->names[set->n], e);
        if (fd < 0)
            goto fail;
        set->fds[set->n++] = fd;
        set->ifindex[set->n - 1] = (int)if_nametoindex(set->names[set->n - 1]);
        if (set->ifindex[set->n - 1] == 0) {
            cerr_set(e, CE_SYSTEM, "VM %s: %s: tap %s vanished: %s", def->name, what,
                     set->names[set->n - 1], strerror(errno));
            goto fail;
        }
        if (tap_plug(sock, def->name, net, what, set->names[set->n - 1], set->ifindex[set->n - 1],
                     e) < 0)
            goto fail;
        log_info("VM %s: %s: tap %s", def->name, what, set->names[set->n - 1]);
    }
    close(sock);
    return 0;
fail:
    close(sock);
    tap_close_all(set);
    return -1;
}

void tap_close_all(struct tap_set *set)
{
    for (size_t i = 0; i < set->n; i++) {
        if (set->fds[i] >= 0)
            close(set->fds[i]);
        set->fds[i] = -1;
    }
}

int tap_record(const struct tap_set *set, const char *vm, const char *state_dir, struct cerr *e)
{
    char *path = xasprintf("%s/" RECORD_FILE, state_dir);
    cJSON *o = json_obj(), *list = json_arr();
    struct cerr we;
    int rc;

    for (size_t i = 0; i < set->n; i++) {
        cJSON *t = json_obj();

        json_add_str(t, "name", set->names[i]);
        json_add_num(t, "ifindex", set->ifindex[i]);
        json_arr_add(list, t);
    }
    json_add(o, "taps", list);
    rc = json_write_file(path, o, 0600, &we);
    if (rc < 0)
        cerr_set(e, we.code, "VM %s: cannot record its taps: %s", vm, we.msg);
    cJSON_Delete(o);
    free(path);
    return rc;
}

/* RTM_DELLINK by index: exactly that device, whatever its name is now. */
static int link_delete(int ifindex, struct cerr *e)
{
    struct {
        struct nlmsghdr h;
        struct ifinfomsg i;
    } req = {
        .h = {.nlmsg_len = sizeof(req),
              .nlmsg_type = RTM_DELLINK,
              .nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK,
              .nlmsg_seq = 1},
        .i = {.ifi_family = AF_UNSPEC, .ifi_index = ifindex},
    };
    struct {
        struct nlmsghdr h;
        struct nlmsgerr err;
    } ack;
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    ssize_t n = -1;

    if (fd >= 0 && send(fd, &req, sizeof(req), 0) == (ssize_t)sizeof(req))
        n = recv(fd, &ack, sizeof(ack), 0);
    if (n < 0) {
        cerr_set(e, CE_SYSTEM, "netlink: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    if ((size_t)n < sizeof(ack) || ack.h.nlmsg_type != NLMSG_ERROR) {
        cerr_set(e, CE_SYSTEM, "netlink: unexpected answer to RTM_DELLINK");
        return -1;
    }
    /* Gone already: what was wanted. */
    if (ack.err.error != 0 && ack.err.error != -ENODEV) {
        cerr_set(e, CE_SYSTEM, "RTM_DELLINK: %s", strerror(-ack.err.error));
        return -1;
    }
    return 0;
}

static void remove_one(const char *vm, const cJSON *t)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(t, "name");
    unsigned long long index;
    struct cerr e;

    if (!cJSON_IsString(name) || strlen(name->valuestring) >= IFNAMSIZ ||
        json_get_uint(t, "ifindex", INT32_MAX, &index) < 0 || index == 0)
        return;
    /* Not there, or the kernel's index for that name is another device's:
     * this VM's tap went with its last descriptor. */
    if (if_nametoindex(name->valuestring) != (unsigned)index)
        return;
    if (link_delete((int)index, &e) < 0)
        log_err_code(cerr_name(e.code),
                     "VM %s: cannot delete its tap %s (index %llu), which outlived QEMU: %s", vm,
                     name->valuestring, index, e.msg);
    else
        log_warn("VM %s: deleted its tap %s, which outlived QEMU (made persistent through "
                 "QEMU's descriptor)",
                 vm, name->valuestring);
}

void tap_remove_recorded(const char *vm, const char *state_dir)
{
    char *path = xasprintf("%s/" RECORD_FILE, state_dir);
    cJSON *o = json_read_object_file(path, RECORD_MAX), *t;
    struct cerr e;

    cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(o, "taps"))
    {
        remove_one(vm, t);
    }
    cJSON_Delete(o);
    if (file_remove_durable(path, &e) < 0)
        log_err_code(cerr_name(e.code), "VM %s: %s", vm, e.msg);
    free(path);
}

/* The "iff:" line of a tun descriptor's fdinfo: the device it is attached
 * to; 0 when it names one. */
static int fdinfo_iff(int procfd, const char *fdname, char name[IFNAMSIZ])
{
    char path[300], buf[FDINFO_MAX + 1];
    const char *p;
    ssize_t n;
    size_t len;
    int fd;

    snprintf(path, sizeof(path), "fdinfo/%s", fdname);
    fd = openat(procfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -1;
    n = read(fd, buf, FDINFO_MAX);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    p = strstr(buf, "\niff:\t");
    if (p == NULL)
        return -1;
    p += 6;
    len = strcspn(p, "\n");
    if (len == 0 || len >= IFNAMSIZ)
        return -1;
    memcpy(name, p, len);
    name[len] = '\0';
    return 0;
}

struct held {
    long fd;
    char name[IFNAMSIZ];
};

static int held_cmp(const void *a, const void *b)
{
    long x = ((const struct held *)a)->fd, y = ((const struct held *)b)->fd;

    return (x > y) - (x < y);
}

int tap_names_held(pid_t pid, char (*names)[IFNAMSIZ], size_t max, struct cerr *e)
{
    struct held found[DOMAIN_MAX_NETS];
    char path[64], target[32];
    struct dirent *d;
    size_t n = 0;
    int procfd, dfd;
    DIR *dir;

    snprintf(path, sizeof(path), "/proc/%ld", (long)pid);
    procfd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    dfd = procfd < 0 ? -1 : openat(procfd, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    dir = dfd < 0 ? NULL : fdopendir(dfd);
    if (dir == NULL) {
        cerr_set(e, CE_SYSTEM, "cannot list the descriptors of QEMU pid %ld: %s", (long)pid,
                 strerror(errno));
        if (dfd >= 0)
            close(dfd);
        if (procfd >= 0)
            close(procfd);
        return -1;
    }
    while ((d = readdir(dir)) != NULL && n < DOMAIN_MAX_NETS) {
        ssize_t len;
        char *end;
        long fd = strtol(d->d_name, &end, 10);

        if (*end != '\0' || end == d->d_name)
            continue;
        len = readlinkat(dfd, d->d_name, target, sizeof(target) - 1);
        if (len < 0)
            continue;
        target[len] = '\0';
        if (strcmp(target, "/dev/net/tun") != 0 || fdinfo_iff(procfd, d->d_name, found[n].name) < 0)
            continue;
        found[n++].fd = fd;
    }
    closedir(dir);
    close(procfd);
    qsort(found, n, sizeof(found[0]), held_cmp);
    for (size_t i = 0; i < n && i < max; i++)
        memcpy(names[i], found[i].name, IFNAMSIZ);
    return (int)(n < max ? n : max);
}
