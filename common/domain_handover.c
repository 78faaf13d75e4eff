#include "common/domain_handover.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileutil.h"
#include "common/json.h"

/* Every enum of a definition is stored as the unsigned int it is. */
_Static_assert(sizeof(enum disk_type) == sizeof(unsigned int), "enums are unsigned ints");

enum kind {
    K_STR,   /* char *, NULL allowed */
    K_CHARS, /* char[size], NUL-terminated */
    K_UINT,  /* unsigned int up to max */
    K_ULL,   /* unsigned long long */
    K_BOOL,
    K_ENUM, /* an enum, 0 to max */
};

/* One member of a struct: its key, what it is, where it is. */
struct field {
    const char *key;
    enum kind kind;
    size_t off;
    size_t size;            /* K_CHARS */
    unsigned long long max; /* K_UINT, K_ENUM */
};

#define STR(t, m)                                                                                  \
    {                                                                                              \
#m, K_STR, offsetof(t, m), 0, 0                                                            \
    }
#define CHARS(t, m)                                                                                \
    {                                                                                              \
#m, K_CHARS, offsetof(t, m), sizeof(((t *)0)->m), 0                                        \
    }
#define UINT(t, m)                                                                                 \
    {                                                                                              \
#m, K_UINT, offsetof(t, m), 0, 0xffffffffULL                                               \
    }
#define ULL(t, m)                                                                                  \
    {                                                                                              \
#m, K_ULL, offsetof(t, m), 0, 0                                                            \
    }
#define BOOL(t, m)                                                                                 \
    {                                                                                              \
#m, K_BOOL, offsetof(t, m), 0, 0                                                           \
    }
#define ENUM(t, m, last)                                                                           \
    {                                                                                              \
#m, K_ENUM, offsetof(t, m), 0, (last)                                                      \
    }
/* A member of a member: its key is the whole path. */
#define SUB(kindm, t, path, ...)                                                                   \
    {                                                                                              \
#path, kindm, offsetof(t, path), __VA_ARGS__                                               \
    }

/* Every member of struct domain_def and of what it holds
 * (common/domain_xml.h): one added there is added here, and set in
 * tests/unit/test_domain_handover.c's rich_xml so that the round trip
 * checks it. */
static const struct field domain_fields[] = {
    STR(struct domain_def, name),
    CHARS(struct domain_def, uuid),
    ENUM(struct domain_def, virt, DOMAIN_VIRT_QEMU),
    ULL(struct domain_def, memory_kib),
    ULL(struct domain_def, current_memory_kib),
    UINT(struct domain_def, vcpus),
    UINT(struct domain_def, vcpus_current),
    STR(struct domain_def, arch),
    STR(struct domain_def, machine),
    STR(struct domain_def, emulator),
    STR(struct domain_def, kernel),
    STR(struct domain_def, initrd),
    STR(struct domain_def, cmdline),
    SUB(K_ENUM, struct domain_def, fw.kind, 0, DOMAIN_FIRMWARE_EFI),
    SUB(K_ENUM, struct domain_def, fw.secure_boot, 0, DOMAIN_FW_FEATURE_NO),
    SUB(K_ENUM, struct domain_def, fw.enrolled_keys, 0, DOMAIN_FW_FEATURE_NO),
    SUB(K_STR, struct domain_def, fw.loader, 0, 0),
    SUB(K_BOOL, struct domain_def, fw.secure, 0, 0),
    SUB(K_STR, struct domain_def, fw.nvram_template, 0, 0),
    SUB(K_STR, struct domain_def, fw.nvram_import, 0, 0),
    SUB(K_ENUM, struct domain_def, cpu.mode, 0, CPU_MODE_CUSTOM),
    SUB(K_ENUM, struct domain_def, cpu.check, 0, CPU_CHECK_FULL),
    SUB(K_ENUM, struct domain_def, cpu.fallback, 0, CPU_FALLBACK_FORBID),
    SUB(K_STR, struct domain_def, cpu.model, 0, 0),
    SUB(K_UINT, struct domain_def, cpu.sockets, 0, 0xffffffffULL),
    SUB(K_UINT, struct domain_def, cpu.dies, 0, 0xffffffffULL),
    SUB(K_UINT, struct domain_def, cpu.cores, 0, 0xffffffffULL),
    SUB(K_UINT, struct domain_def, cpu.threads, 0, 0xffffffffULL),
    BOOL(struct domain_def, serial),
    SUB(K_STR, struct domain_def, serial_log.file, 0, 0),
    SUB(K_BOOL, struct domain_def, serial_log.append, 0, 0),
    BOOL(struct domain_def, virtio_console),
    SUB(K_STR, struct domain_def, console_log.file, 0, 0),
    SUB(K_BOOL, struct domain_def, console_log.append, 0, 0),
    SUB(K_ENUM, struct domain_def, graphics.type, 0, GRAPHICS_VNC),
    SUB(K_STR, struct domain_def, graphics.listen, 0, 0),
    SUB(K_UINT, struct domain_def, graphics.port, 0, 0xffffffffULL),
    BOOL(struct domain_def, memballoon_none),
};

static const struct field disk_fields[] = {
    ENUM(struct disk_def, type, DISK_TYPE_BLOCK),
    ENUM(struct disk_def, device, DISK_DEVICE_CDROM),
    ENUM(struct disk_def, bus, DISK_BUS_USB),
    STR(struct disk_def, source),
    STR(struct disk_def, target),
    ENUM(struct disk_def, format, DISK_FORMAT_RAW),
    BOOL(struct disk_def, readonly),
    UINT(struct disk_def, boot_order),
    ENUM(struct disk_def, cache, DISK_CACHE_UNSAFE),
    ENUM(struct disk_def, io, DISK_IO_URING),
    ENUM(struct disk_def, discard, DISK_DISCARD_IGNORE),
    ENUM(struct disk_def, detect_zeroes, DISK_ZEROES_UNMAP),
    STR(struct disk_def, serial),
};

static const struct field net_fields[] = {
    ENUM(struct net_def, type, NET_TYPE_ETHERNET),
    ENUM(struct net_def, model, NET_MODEL_RTL8139),
    CHARS(struct net_def, mac),
    STR(struct net_def, bridge),
    STR(struct net_def, ifname),
    UINT(struct net_def, boot_order),
};

static const struct field forward_fields[] = {
    ENUM(struct port_forward, proto, NET_PROTO_UDP),
    STR(struct port_forward, address),
    UINT(struct port_forward, start),
    UINT(struct port_forward, end),
    UINT(struct port_forward, to),
};

#define NFIELDS(t) (sizeof(t) / sizeof((t)[0]))

/* --- Encoding ----------------------------------------------------------- */

static void encode_fields(cJSON *o, const void *base, const struct field *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        /* Each member is read through a pointer of its own type. */
        const void *p = (const char *)base + f[i].off;

        switch (f[i].kind) {
        case K_STR:
            json_add_str(o, f[i].key, *(char *const *)p);
            break;
        case K_CHARS:
            json_add_str(o, f[i].key, p);
            break;
        case K_UINT:
        case K_ENUM:
            json_add_num(o, f[i].key, *(const unsigned int *)p);
            break;
        case K_ULL:
            /* Memory sizes: far below 2^53 KiB, exact in a double. */
            json_add_num(o, f[i].key, (double)*(const unsigned long long *)p);
            break;
        case K_BOOL:
            json_add_bool(o, f[i].key, *(const bool *)p);
            break;
        }
    }
}

char *domain_handover_encode(const struct domain_def *def)
{
    cJSON *o = json_obj(), *boot = json_arr(), *disks = json_arr(), *nets = json_arr();
    char *text;

    json_add_num(o, "version", DOMAIN_HANDOVER_VERSION);
    encode_fields(o, def, domain_fields, NFIELDS(domain_fields));
    for (size_t i = 0; i < def->nboot_devs; i++)
        json_arr_add(boot, cJSON_CreateNumber(def->boot_devs[i]));
    json_add(o, "boot_devs", boot);
    for (size_t i = 0; i < def->ndisks; i++) {
        cJSON *d = json_obj();

        encode_fields(d, &def->disks[i], disk_fields, NFIELDS(disk_fields));
        json_arr_add(disks, d);
    }
    json_add(o, "disks", disks);
    for (size_t i = 0; i < def->nnets; i++) {
        const struct net_def *net = &def->nets[i];
        cJSON *nj = json_obj(), *fw = json_arr();

        encode_fields(nj, net, net_fields, NFIELDS(net_fields));
        for (size_t j = 0; j < net->nforwards; j++) {
            cJSON *fj = json_obj();

            encode_fields(fj, &net->forwards[j], forward_fields, NFIELDS(forward_fields));
            json_arr_add(fw, fj);
        }
        json_add(nj, "forwards", fw);
        json_arr_add(nets, nj);
    }
    json_add(o, "nets", nets);
    text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}

/* --- Decoding ----------------------------------------------------------- */

static int decode_fields(const cJSON *o, void *base, const struct field *f, size_t n,
                         const char *what, struct cerr *e)
{
    for (size_t i = 0; i < n; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, f[i].key);
        char *p = (char *)base + f[i].off;
        unsigned long long num;

        switch (f[i].kind) {
        case K_STR:
            if (cJSON_IsNull(v))
                break;
            if (!cJSON_IsString(v))
                goto bad;
            *(char **)(void *)p = xstrdup(v->valuestring);
            break;
        case K_CHARS:
            if (!cJSON_IsString(v) || strlen(v->valuestring) >= f[i].size)
                goto bad;
            snprintf(p, f[i].size, "%s", v->valuestring);
            break;
        case K_UINT:
        case K_ENUM:
            if (json_get_uint(o, f[i].key, f[i].max, &num) < 0)
                goto bad;
            *(unsigned int *)(void *)p = (unsigned int)num;
            break;
        case K_ULL:
            if (json_get_uint(o, f[i].key, JSON_UINT_MAX, &num) < 0)
                goto bad;
            *(unsigned long long *)(void *)p = num;
            break;
        case K_BOOL:
            if (!cJSON_IsBool(v))
                goto bad;
            *(bool *)(void *)p = cJSON_IsTrue(v);
            break;
        }
        continue;
    bad:
        cerr_set(e, CE_INTERNAL, "definition handover: %s member %s is missing or out of range",
                 what, f[i].key);
        return -1;
    }
    return 0;
}

/* The array member key of o with at most max elements, or NULL with e set. */
static const cJSON *array_of(const cJSON *o, const char *key, size_t max, size_t *n, struct cerr *e)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, key);

    if (!cJSON_IsArray(a) || (size_t)cJSON_GetArraySize(a) > max) {
        cerr_set(e, CE_INTERNAL, "definition handover: %s is not an array of at most %zu", key,
                 max);
        return NULL;
    }
    *n = (size_t)cJSON_GetArraySize(a);
    return a;
}

static int decode_boot(const cJSON *o, struct domain_def *def, struct cerr *e)
{
    const cJSON *a = array_of(o, "boot_devs", DOMAIN_MAX_BOOT_DEVS, &def->nboot_devs, e);
    size_t i = 0;
    const cJSON *v;

    if (a == NULL)
        return -1;
    cJSON_ArrayForEach(v, a)
    {
        if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > DOMAIN_BOOT_NETWORK ||
            v->valuedouble != (double)(int)v->valuedouble) {
            cerr_set(e, CE_INTERNAL, "definition handover: a boot device is out of range");
            return -1;
        }
        def->boot_devs[i++] = (enum domain_boot_dev)v->valueint;
    }
    return 0;
}

static int decode_disks(const cJSON *o, struct domain_def *def, struct cerr *e)
{
    size_t n, i = 0;
    const cJSON *a = array_of(o, "disks", DOMAIN_MAX_DISKS, &n, e), *v;

    if (a == NULL)
        return -1;
    def->disks = xcalloc(n > 0 ? n : 1, sizeof(*def->disks));
    cJSON_ArrayForEach(v, a)
    {
        /* Counted as filled before decoding: domain_def_free frees what a
         * failure left. */
        def->ndisks = ++i;
        if (!cJSON_IsObject(v) ||
            decode_fields(v, &def->disks[i - 1], disk_fields, NFIELDS(disk_fields), "disk", e) < 0)
            return -1;
        if (def->disks[i - 1].target == NULL) {
            cerr_set(e, CE_INTERNAL, "definition handover: a disk has no target");
            return -1;
        }
    }
    return 0;
}

static int decode_forwards(const cJSON *o, struct net_def *net, struct cerr *e)
{
    size_t n, i = 0;
    const cJSON *a = array_of(o, "forwards", DOMAIN_MAX_FORWARDS, &n, e), *v;

    if (a == NULL)
        return -1;
    net->forwards = xcalloc(n > 0 ? n : 1, sizeof(*net->forwards));
    cJSON_ArrayForEach(v, a)
    {
        net->nforwards = ++i;
        if (!cJSON_IsObject(v) || decode_fields(v, &net->forwards[i - 1], forward_fields,
                                                NFIELDS(forward_fields), "port forward", e) < 0)
            return -1;
    }
    return 0;
}

static int decode_nets(const cJSON *o, struct domain_def *def, struct cerr *e)
{
    size_t n, i = 0;
    const cJSON *a = array_of(o, "nets", DOMAIN_MAX_NETS, &n, e), *v;

    if (a == NULL)
        return -1;
    def->nets = xcalloc(n > 0 ? n : 1, sizeof(*def->nets));
    cJSON_ArrayForEach(v, a)
    {
        struct net_def *net = &def->nets[i];

        def->nnets = ++i;
        if (!cJSON_IsObject(v) ||
            decode_fields(v, net, net_fields, NFIELDS(net_fields), "interface", e) < 0 ||
            decode_forwards(v, net, e) < 0)
            return -1;
    }
    return 0;
}

struct domain_def *domain_handover_decode(const char *text, size_t len, struct cerr *e)
{
    cJSON *o = json_parse(text, len, e);
    struct domain_def *def;
    unsigned long long version;

    if (o == NULL)
        return NULL;
    if (!cJSON_IsObject(o) || json_get_uint(o, "version", JSON_UINT_MAX, &version) < 0 ||
        version != DOMAIN_HANDOVER_VERSION) {
        cerr_set(e, CE_VERSION, "definition handover: not version %d (another build's broker?)",
                 DOMAIN_HANDOVER_VERSION);
        cJSON_Delete(o);
        return NULL;
    }
    def = xcalloc(1, sizeof(*def));
    if (decode_fields(o, def, domain_fields, NFIELDS(domain_fields), "domain", e) < 0 ||
        decode_boot(o, def, e) < 0 || decode_disks(o, def, e) < 0 || decode_nets(o, def, e) < 0) {
        cJSON_Delete(o);
        domain_def_free(def);
        return NULL;
    }
    cJSON_Delete(o);
    if (def->name == NULL || def->arch == NULL || def->machine == NULL || def->emulator == NULL) {
        cerr_set(e, CE_INTERNAL, "definition handover: name, arch, machine or emulator missing");
        domain_def_free(def);
        return NULL;
    }
    return def;
}

/* --- Through a memfd ----------------------------------------------------- */

int domain_handover_memfd(const struct domain_def *def, struct cerr *e)
{
    char *text = domain_handover_encode(def);
    int fd;

    if (text == NULL) {
        cerr_set(e, CE_SYSTEM, "VM %s: out of memory encoding its definition", def->name);
        return -1;
    }
    fd = memfd_create("corral-definition", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0 || file_write_all(fd, text, strlen(text)) < 0 ||
        fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0) {
        cerr_set(e, CE_SYSTEM, "VM %s: cannot hand its definition over in a memfd: %s", def->name,
                 strerror(errno));
        free(text);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    free(text);
    return fd;
}

struct domain_def *domain_handover_read(int fd, struct cerr *e)
{
    struct domain_def *def;
    struct stat st;
    size_t len = 0;
    char *buf;

    if (fstat(fd, &st) < 0) {
        cerr_set(e, CE_SYSTEM, "cannot read the definition handed over: fstat: %s",
                 strerror(errno));
        return NULL;
    }
    if (st.st_size < 0 || st.st_size > DOMAIN_HANDOVER_MAX) {
        cerr_set(e, CE_TOO_LARGE, "the definition handed over is larger than %d bytes",
                 DOMAIN_HANDOVER_MAX);
        return NULL;
    }
    /* Sealed by the broker: its size cannot change under the reads. */
    buf = xcalloc(1, (size_t)st.st_size + 1);
    while (len < (size_t)st.st_size) {
        ssize_t n = pread(fd, buf + len, (size_t)st.st_size - len, (off_t)len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            cerr_set(e, CE_SYSTEM, "cannot read the definition handed over: %s",
                     n < 0 ? strerror(errno) : "it ends early");
            free(buf);
            return NULL;
        }
        len += (size_t)n;
    }
    def = domain_handover_decode(buf, len, e);
    free(buf);
    return def;
}
