#include "supervisor/qemu_cmdline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileutil.h"
#include "proto/rpc.h"

void argv_add(struct argv_list *a, const char *s)
{
    if (a->n + 2 > a->cap) {
        size_t ncap = a->cap ? a->cap * 2 : 32;
        a->v = xreallocarray(a->v, ncap, sizeof(*a->v));
        a->cap = ncap;
    }
    a->v[a->n++] = xstrdup(s);
    a->v[a->n] = NULL;
}

static void argv_take(struct argv_list *a, char *s)
{
    argv_add(a, s);
    free(s);
}

void argv_free(struct argv_list *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->v[i]);
    free(a->v);
    a->v = NULL;
    a->n = a->cap = 0;
}

char *argv_join(const struct argv_list *a)
{
    size_t len = 1;
    char *out, *p;

    for (size_t i = 0; i < a->n; i++)
        len += strlen(a->v[i]) * 4 + 3;
    out = xcalloc(1, len);
    p = out;
    for (size_t i = 0; i < a->n; i++) {
        if (i > 0)
            *p++ = ' ';
        *p++ = '\'';
        for (const char *s = a->v[i]; *s != '\0'; s++) {
            if (*s == '\'') {
                memcpy(p, "'\\''", 4);
                p += 4;
            } else
                *p++ = *s;
        }
        *p++ = '\'';
    }
    *p = '\0';
    return out;
}

void qemu_node_name(const struct disk_def *d, char *buf, size_t len)
{
    /* Target names are at most 16 characters, so this stays within QEMU's
     * 31-character node-name limit. */
    snprintf(buf, len, "drive-%s", d->target);
}

/* QEMU's option parser treats ',' as a separator: a literal comma in a
 * value is written twice. */
static char *opt_escape(const char *s)
{
    char *out = xcalloc(2, strlen(s) + 1), *p = out;

    for (; *s != '\0'; s++) {
        *p++ = *s;
        if (*s == ',')
            *p++ = ',';
    }
    *p = '\0';
    return out;
}

static char *json_arg(cJSON *obj)
{
    char *text = cJSON_PrintUnformatted(obj);
    char *out;

    cJSON_Delete(obj);
    if (text == NULL)
        return xstrdup("{}");
    out = xstrdup(text);
    cJSON_free(text);
    return out;
}

static void add_disk(struct argv_list *a, const struct disk_def *d, bool with_device,
                     bool *have_scsi, bool first)
{
    char node[64], filenode[80];
    cJSON *file = json_obj(), *fmt = json_obj(), *dev;

    qemu_node_name(d, node, sizeof(node));
    snprintf(filenode, sizeof(filenode), "%s-file", node);
    json_add_str(file, "driver", "file");
    json_add_str(file, "filename", d->source);
    json_add_str(file, "node-name", filenode);
    json_add_bool(file, "read-only", d->readonly);
    json_add_bool(file, "auto-read-only", false);
    json_add_str(file, "discard", "unmap");
    argv_add(a, "-blockdev");
    argv_take(a, json_arg(file));

    json_add_str(fmt, "driver", d->format == DISK_FORMAT_QCOW2 ? "qcow2" : "raw");
    json_add_str(fmt, "file", filenode);
    json_add_str(fmt, "node-name", node);
    json_add_bool(fmt, "read-only", d->readonly);
    /* The domain XML subset has no backingStore: a backing file named in
     * the image's header (a host path, json:, nbd:) is never opened. */
    if (d->format == DISK_FORMAT_QCOW2)
        json_add_str(fmt, "backing", NULL); /* JSON null */
    argv_add(a, "-blockdev");
    argv_take(a, json_arg(fmt));

    if (!with_device)
        return;
    dev = json_obj();
    if (strncmp(d->target, "sd", 2) == 0) {
        if (!*have_scsi) {
            argv_add(a, "-device");
            argv_add(a, "{\"driver\":\"virtio-scsi-pci\",\"id\":\"scsi0\"}");
            *have_scsi = true;
        }
        json_add_str(dev, "driver", "scsi-hd");
        json_add_str(dev, "bus", "scsi0.0");
    } else if (strncmp(d->target, "hd", 2) == 0)
        json_add_str(dev, "driver", "ide-hd");
    else
        json_add_str(dev, "driver", "virtio-blk-pci");
    json_add_str(dev, "drive", node);
    json_add_str(dev, "id", d->target);
    if (first)
        json_add_num(dev, "bootindex", 1);
    argv_add(a, "-device");
    argv_take(a, json_arg(dev));
}

int qemu_build_argv(const struct domain_def *def, enum qemu_mode mode, const char *qmp_path,
                    struct argv_list *a, struct cerr *e)
{
    bool vm = mode == QEMU_MODE_VM;
    /* -machine none has no bus to plug a disk into; the nodes alone are
     * enough for snapshot jobs. */
    bool devices = vm && strcmp(def->machine, "none") != 0;
    bool have_scsi = false;
    char *qmp_esc;

    memset(a, 0, sizeof(*a));
    for (size_t i = 0; i < def->ndisks; i++) {
        const char *t = def->disks[i].target;
        if (devices && strncmp(t, "vd", 2) != 0 && strncmp(t, "sd", 2) != 0 &&
            strncmp(t, "hd", 2) != 0) {
            cerr_set(e, CE_UNSUPPORTED,
                     "disk target '%s': corral maps vd* to virtio-blk, sd* to SCSI and hd* to "
                     "IDE; other prefixes are not supported",
                     t);
            return -1;
        }
    }
    argv_add(a, def->emulator);
    argv_add(a, "-name");
    argv_take(a, xasprintf("guest=%s,debug-threads=on", def->name));
    argv_add(a, "-uuid");
    argv_add(a, def->uuid);
    argv_add(a, "-machine");
    argv_take(a, vm ? opt_escape(def->machine) : xstrdup("none"));
    argv_add(a, "-accel");
    argv_add(a, vm && def->virt == DOMAIN_VIRT_KVM ? "kvm" : "tcg");
    if (vm) {
        argv_add(a, "-m");
        argv_take(a, xasprintf("size=%lluk", def->memory_kib));
        argv_add(a, "-smp");
        argv_take(a, xasprintf("%u", def->vcpus));
    }
    argv_add(a, "-nodefaults");
    argv_add(a, "-no-user-config");
    argv_add(a, "-display");
    argv_add(a, "none");
    /* Start paused: the supervisor connects to QMP first, so it sees every
     * event from the first instruction on, then sends cont. */
    argv_add(a, "-S");
    qmp_esc = opt_escape(qmp_path);
    argv_add(a, "-chardev");
    argv_take(a, xasprintf("socket,id=corral-qmp,path=%s,server=on,wait=off", qmp_esc));
    free(qmp_esc);
    argv_add(a, "-mon");
    argv_add(a, "chardev=corral-qmp,mode=control");
    argv_add(a, "-sandbox");
    argv_add(a, "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
    for (size_t i = 0; i < def->ndisks; i++)
        add_disk(a, &def->disks[i], devices, &have_scsi, i == 0);
    return 0;
}
