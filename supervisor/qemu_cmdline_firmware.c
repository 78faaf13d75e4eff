#include "supervisor/qemu_cmdline_firmware.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileutil.h"
#include "common/json.h"

static char *print_obj(cJSON *obj)
{
    char *text = cJSON_PrintUnformatted(obj);
    char *out;

    cJSON_Delete(obj);
    if (text == NULL)
        abort(); /* cJSON's only failure is out of memory */
    out = xstrdup(text);
    cJSON_free(text);
    return out;
}

/* A raw image in two nodes, file and format, as every corral disk. */
static void add_flash(struct qemu_firmware_args *out, size_t slot, const char *path,
                      const char *node, bool readonly)
{
    char filenode[48];
    cJSON *file = json_obj(), *fmt = json_obj();

    snprintf(filenode, sizeof(filenode), "%s-file", node);
    json_add_str(file, "driver", "file");
    json_add_str(file, "filename", path);
    json_add_str(file, "node-name", filenode);
    json_add_bool(file, "read-only", readonly);
    json_add_bool(file, "auto-read-only", false);
    json_add_str(fmt, "driver", "raw");
    json_add_str(fmt, "file", filenode);
    json_add_str(fmt, "node-name", node);
    json_add_bool(fmt, "read-only", readonly);
    out->blockdev[slot] = print_obj(file);
    out->blockdev[slot + 1] = print_obj(fmt);
}

static bool printable(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p < 0x20 || *p == 0x7f)
            return false;
    }
    return s[0] == '/';
}

/* q35 is the only x86 machine with SMM-protected flash in QEMU; libvirt
 * refuses secure='yes' elsewhere too. */
static bool machine_is_q35(const char *m)
{
    return strcmp(m, "q35") == 0 || strncmp(m, "pc-q35-", 7) == 0;
}

int qemu_firmware_build(const struct domain_def *def, const char *nvram,
                        struct qemu_firmware_args *out, struct cerr *e)
{
    const struct firmware_def *f = &def->fw;

    memset(out, 0, sizeof(*out));
    if (f->loader == NULL)
        return 0;
    if (nvram == NULL) {
        cerr_set(e, CE_SYSTEM, "VM %s: UEFI firmware but no NVRAM file was prepared for it",
                 def->name);
        return -1;
    }
    if (!printable(f->loader) || !printable(nvram)) {
        cerr_set(e, CE_INVALID_XML, "VM %s: os/loader or its NVRAM path holds control characters",
                 def->name);
        return -1;
    }
    if (f->secure && !machine_is_q35(def->machine)) {
        cerr_set(e, CE_UNSUPPORTED,
                 "VM %s: os/loader secure='yes' (SMM) needs a q35 machine type, not '%s'",
                 def->name, def->machine);
        return -1;
    }
    add_flash(out, 0, f->loader, QEMU_PFLASH_CODE_NODE, true);
    add_flash(out, 2, nvram, QEMU_PFLASH_VARS_NODE, false);
    out->machine_opts = xasprintf(",pflash0=%s,pflash1=%s%s", QEMU_PFLASH_CODE_NODE,
                                  QEMU_PFLASH_VARS_NODE, f->secure ? ",smm=on" : "");
    out->secure_pflash = f->secure;
    return 0;
}

void qemu_firmware_args_free(struct qemu_firmware_args *f)
{
    free(f->machine_opts);
    for (size_t i = 0; i < QEMU_FIRMWARE_BLOCKDEVS; i++)
        free(f->blockdev[i]);
    memset(f, 0, sizeof(*f));
}
