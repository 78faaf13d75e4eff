/* <os> (machine, UEFI firmware, direct kernel boot, boot order), <vcpu> and <cpu>. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/domain_xml_int.h"
#include "common/firmware.h"
#include "common/names.h"
#include "common/xml_safe.h"

#define MACHINE_MAX 64
#define CPU_MODEL_MAX 64
#define VCPUS_MAX 255
/* x86 Linux's COMMAND_LINE_SIZE. */
#define CMDLINE_MAX 2048

static const char *const boot_dev_names[] = {"hd", "cdrom", "network", NULL};
static const char *const firmware_names[] = {"", "bios", "efi", NULL};
static const char *const yes_no[] = {"", "yes", "no", NULL};
static const char *const fw_feature_names[] = {"secure-boot", "enrolled-keys", NULL};
static const char *const cpu_mode_names[] = {"",        "host-passthrough", "host-model",
                                             "maximum", "custom",           NULL};
static const char *const cpu_check_names[] = {"", "none", "partial", "full", NULL};
static const char *const cpu_fallback_names[] = {"", "allow", "forbid", NULL};

/* QEMU machine and CPU model names: what they contain and what a value
 * smuggled into -machine or -cpu could not. */
static bool model_name_valid(const char *m, size_t max)
{
    size_t len = strlen(m);

    if (len == 0 || len > max || m[0] == '-')
        return false;
    for (const char *p = m; *p != '\0'; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == '-'))
            return false;
    }
    return true;
}

static int parse_os_type(struct parse_ctx *c, xmlNodePtr n)
{
    char *text = xml_node_text(n), *arch = xml_node_prop(n, "arch");
    char *machine = xml_node_prop(n, "machine");
    char shown[96];
    int rc = -1;

    if (text != NULL && strcmp(text, "hvm") != 0) {
        name_escape(text, shown, sizeof(shown));
        cerr_set(c->e, CE_UNSUPPORTED, "os/type '%s' is not supported (only hvm)", shown);
    } else if (arch != NULL && strcmp(arch, "x86_64") != 0) {
        name_escape(arch, shown, sizeof(shown));
        cerr_set(c->e, CE_UNSUPPORTED, "os/type arch='%s' is not supported (only x86_64)", shown);
    } else if (machine != NULL && !model_name_valid(machine, MACHINE_MAX)) {
        name_escape(machine, shown, sizeof(shown));
        cerr_set(c->e, CE_INVALID_XML,
                 "os/type machine='%s' is invalid (1-%d characters of A-Z a-z 0-9 . _ -, not "
                 "starting with -)",
                 shown, MACHINE_MAX);
    } else {
        c->def->machine = machine;
        machine = NULL;
        rc = 0;
    }
    free(text);
    free(arch);
    free(machine);
    return rc;
}

/* <kernel> and <initrd>: a path; <cmdline>: the kernel's command line,
 * one argument of -append that QEMU does not parse. */
static int parse_os_file(struct parse_ctx *c, xmlNodePtr n, const char *what, char **out)
{
    char path[32];
    char *text;

    snprintf(path, sizeof(path), "os/%s", what);
    if (*out != NULL)
        return dx_duplicate(c, path);
    text = xml_node_text(n);
    if (text == NULL) {
        cerr_set(c->e, CE_INVALID_XML, "%s is empty", path);
        return -1;
    }
    *out = text;
    if (strcmp(what, "cmdline") != 0)
        return dx_check_path(c, path, text);
    if (strlen(text) >= CMDLINE_MAX) {
        cerr_set(c->e, CE_INVALID_XML, "os/cmdline is %zu bytes long, the limit is %d",
                 strlen(text), CMDLINE_MAX - 1);
        return -1;
    }
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++) {
        if ((*p < 0x20 && *p != '\t') || *p == 0x7f) {
            cerr_set(c->e, CE_INVALID_XML, "os/cmdline contains a control character");
            return -1;
        }
    }
    return 0;
}

static int parse_os_boot(struct parse_ctx *c, xmlNodePtr n)
{
    struct domain_def *def = c->def;
    char *dev = xml_node_prop(n, "dev");
    int which;

    if (dev == NULL) {
        cerr_set(c->e, CE_INVALID_XML, "os/boot has no dev attribute (hd, cdrom or network)");
        return -1;
    }
    free(dev);
    which = dx_enum_attr(c, n, "dev", "os/boot dev", boot_dev_names, -1);
    if (which < 0)
        return -1;
    for (size_t i = 0; i < def->nboot_devs; i++) {
        if (def->boot_devs[i] == (enum domain_boot_dev)which) {
            cerr_set(c->e, CE_INVALID_XML, "os/boot dev='%s' is given more than once",
                     boot_dev_names[which]);
            return -1;
        }
    }
    def->boot_devs[def->nboot_devs++] = (enum domain_boot_dev)which;
    return 0;
}

/* <firmware><feature enabled='yes|no' name='secure-boot|enrolled-keys'/>:
 * what autoselection must (or must not) find, as libvirt's. */
static int parse_os_firmware(struct parse_ctx *c, xmlNodePtr fw)
{
    struct firmware_def *f = &c->def->fw;

    for (xmlNodePtr n = fw->children; n != NULL; n = n->next) {
        enum domain_fw_feature *slot;
        int name, enabled;

        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (!dx_is_elem(n, "feature"))
            return dx_unsupported(c, "os/firmware", n);
        name = dx_enum_attr(c, n, "name", "os/firmware/feature name", fw_feature_names, -1);
        if (name < 0)
            return -1;
        enabled = dx_enum_attr(c, n, "enabled", "os/firmware/feature enabled", yes_no, 0);
        if (enabled < 0)
            return -1;
        if (enabled == 0) {
            cerr_set(c->e, CE_INVALID_XML, "os/firmware/feature name='%s' has no enabled='yes|no'",
                     fw_feature_names[name]);
            return -1;
        }
        slot = name == 0 ? &f->secure_boot : &f->enrolled_keys;
        if (*slot != DOMAIN_FW_FEATURE_ANY)
            return dx_duplicate(c, "os/firmware/feature");
        *slot = (enum domain_fw_feature)enabled;
    }
    return 0;
}

/* <loader readonly='yes' type='pflash' secure=>PATH</loader>: corral runs
 * the split layout only, so read-only code in a pflash. */
static int parse_os_loader(struct parse_ctx *c, xmlNodePtr n)
{
    static const char *const types[] = {"", "pflash", "rom", NULL};
    struct firmware_def *f = &c->def->fw;
    int type, readonly, secure;
    char *stateless;

    if (f->loader != NULL)
        return dx_duplicate(c, "os/loader");
    type = dx_enum_attr(c, n, "type", "os/loader type", types, 1);
    readonly = dx_enum_attr(c, n, "readonly", "os/loader readonly", yes_no, 1);
    secure = dx_enum_attr(c, n, "secure", "os/loader secure", yes_no, 2);
    if (type < 0 || readonly < 0 || secure < 0)
        return -1;
    stateless = xml_node_prop(n, "stateless");
    free(stateless);
    if (type != 1 || readonly != 1 || stateless != NULL) {
        cerr_set(c->e, CE_UNSUPPORTED,
                 "os/loader: only readonly='yes' type='pflash' (code and a separate NVRAM) is "
                 "supported%s",
                 type == 2 ? ", not type='rom'" : "");
        return -1;
    }
    f->secure = secure == 1;
    f->loader = xml_node_text(n);
    if (f->loader == NULL) {
        cerr_set(c->e, CE_INVALID_XML, "os/loader is empty");
        return -1;
    }
    return dx_check_path(c, "os/loader", f->loader);
}

/* <nvram template=...>PATH</nvram>: the VM's own copy always lives in its
 * state directory; PATH, an existing libvirt NVRAM, is what that copy is
 * made from at the first start, in place of the template. */
static int parse_os_nvram(struct parse_ctx *c, xmlNodePtr n, bool *seen)
{
    static const char *const formats[] = {"", "raw", NULL};
    struct firmware_def *f = &c->def->fw;

    if (dx_once(c, seen, "os/nvram") < 0 ||
        dx_enum_attr(c, n, "format", "os/nvram format", formats, 1) < 0)
        return -1;
    f->nvram_template = xml_node_prop(n, "template");
    if (f->nvram_template != NULL && dx_check_path(c, "os/nvram template", f->nvram_template) < 0)
        return -1;
    f->nvram_import = xml_node_text(n);
    return f->nvram_import == NULL ? 0 : dx_check_path(c, "os/nvram", f->nvram_import);
}

static int parse_os_child(struct parse_ctx *c, xmlNodePtr n, bool *have_type, bool *have_fw,
                          bool *have_nvram)
{
    struct domain_def *def = c->def;

    if (dx_is_elem(n, "type"))
        return dx_once(c, have_type, "os/type") < 0 ? -1 : parse_os_type(c, n);
    if (dx_is_elem(n, "kernel"))
        return parse_os_file(c, n, "kernel", &def->kernel);
    if (dx_is_elem(n, "initrd"))
        return parse_os_file(c, n, "initrd", &def->initrd);
    if (dx_is_elem(n, "cmdline"))
        return parse_os_file(c, n, "cmdline", &def->cmdline);
    if (dx_is_elem(n, "firmware"))
        return dx_once(c, have_fw, "os/firmware") < 0 ? -1 : parse_os_firmware(c, n);
    if (dx_is_elem(n, "loader"))
        return parse_os_loader(c, n);
    if (dx_is_elem(n, "nvram"))
        return parse_os_nvram(c, n, have_nvram);
    if (dx_is_elem(n, "boot")) {
        if (def->nboot_devs == DOMAIN_MAX_BOOT_DEVS)
            return dx_duplicate(c, "os/boot");
        return parse_os_boot(c, n);
    }
    dx_note_ignored(c, "os", n);
    return 0;
}

int dx_parse_os(struct parse_ctx *c, xmlNodePtr os)
{
    bool have_type = false, have_fw = false, have_nvram = false;
    int kind;

    if (dx_once(c, &c->have_os, "os") < 0)
        return -1;
    kind = dx_enum_attr(c, os, "firmware", "os firmware", firmware_names, 0);
    if (kind < 0)
        return -1;
    c->def->fw.kind = (enum domain_firmware)kind;
    for (xmlNodePtr n = os->children; n != NULL; n = n->next) {
        if (n->type == XML_ELEMENT_NODE &&
            parse_os_child(c, n, &have_type, &have_fw, &have_nvram) < 0)
            return -1;
    }
    return 0;
}

int dx_parse_vcpu(struct parse_ctx *c, xmlNodePtr n)
{
    char *text;
    char shown[64];
    unsigned long long v = 0;
    enum dx_num num;
    int rc = -1;

    if (dx_once(c, &c->have_vcpu, "vcpu") < 0)
        return -1;
    text = xml_node_text(n);
    name_escape(text ? text : "", shown, sizeof(shown));
    if (text == NULL)
        cerr_set(c->e, CE_INVALID_XML, "vcpu is empty");
    else if ((num = dx_parse_ull(text, &v)) == DX_NUM_GARBAGE)
        cerr_set(c->e, CE_INVALID_XML, "vcpu value '%s' is not a decimal integer", shown);
    else if (v == 0)
        cerr_set(c->e, CE_INVALID_XML, "vcpu count must be at least 1");
    else if (num == DX_NUM_RANGE || v > VCPUS_MAX)
        cerr_set(c->e, CE_UNSUPPORTED, "vcpu count %s is more than corral supports (%d)", shown,
                 VCPUS_MAX);
    else {
        c->def->vcpus = (unsigned int)v;
        rc = dx_uint_attr(c, n, "current", "vcpu current", 1, VCPUS_MAX, &c->def->vcpus_current);
    }
    free(text);
    return rc;
}

static int parse_cpu_model(struct parse_ctx *c, xmlNodePtr n)
{
    struct cpu_def *cpu = &c->def->cpu;
    char shown[96];
    int fallback;

    if (cpu->model != NULL)
        return dx_duplicate(c, "cpu/model");
    fallback = dx_enum_attr(c, n, "fallback", "cpu/model fallback", cpu_fallback_names, 0);
    if (fallback < 0)
        return -1;
    cpu->fallback = (enum cpu_fallback)fallback;
    cpu->model = xml_node_text(n);
    if (cpu->model == NULL || !model_name_valid(cpu->model, CPU_MODEL_MAX)) {
        name_escape(cpu->model ? cpu->model : "", shown, sizeof(shown));
        cerr_set(c->e, CE_INVALID_XML,
                 "cpu/model '%s' is not a CPU model name (1-%d characters of A-Z a-z 0-9 . _ -, "
                 "not starting with -)",
                 shown, CPU_MODEL_MAX);
        return -1;
    }
    return 0;
}

static int parse_cpu_topology(struct parse_ctx *c, xmlNodePtr n)
{
    static const char *const attrs[] = {"sockets", "cores", "threads"};
    struct cpu_def *cpu = &c->def->cpu;

    if (cpu->sockets != 0)
        return dx_duplicate(c, "cpu/topology");
    for (size_t i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++) {
        char *v = xml_node_prop(n, attrs[i]);

        if (v == NULL) {
            cerr_set(c->e, CE_INVALID_XML, "cpu/topology has no %s attribute", attrs[i]);
            return -1;
        }
        free(v);
    }
    cpu->dies = 1;
    if (dx_uint_attr(c, n, "sockets", "cpu/topology sockets", 1, VCPUS_MAX, &cpu->sockets) < 0 ||
        dx_uint_attr(c, n, "dies", "cpu/topology dies", 1, VCPUS_MAX, &cpu->dies) < 0 ||
        dx_uint_attr(c, n, "cores", "cpu/topology cores", 1, VCPUS_MAX, &cpu->cores) < 0 ||
        dx_uint_attr(c, n, "threads", "cpu/topology threads", 1, VCPUS_MAX, &cpu->threads) < 0)
        return -1;
    return 0;
}

int dx_parse_cpu(struct parse_ctx *c, xmlNodePtr cpu_node)
{
    struct cpu_def *cpu = &c->def->cpu;
    int mode, check;

    if (dx_once(c, &c->have_cpu, "cpu") < 0)
        return -1;
    /* libvirt's default mode is custom: with no <model> that is QEMU's
     * default CPU, which CPU_MODE_NONE stands for. */
    mode = dx_enum_attr(c, cpu_node, "mode", "cpu mode", cpu_mode_names, CPU_MODE_CUSTOM);
    check = dx_enum_attr(c, cpu_node, "check", "cpu check", cpu_check_names, CPU_CHECK_DEFAULT);
    if (mode < 0 || check < 0)
        return -1;
    cpu->mode = (enum cpu_mode)mode;
    cpu->check = (enum cpu_check)check;
    for (xmlNodePtr n = cpu_node->children; n != NULL; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (dx_is_elem(n, "model") && cpu->mode == CPU_MODE_CUSTOM) {
            if (parse_cpu_model(c, n) < 0)
                return -1;
        } else if (dx_is_elem(n, "topology")) {
            if (parse_cpu_topology(c, n) < 0)
                return -1;
        } else
            /* <feature>, <cache>, <numa>, <vendor>, and a <model> a host
             * mode has no use for. */
            dx_note_ignored(c, "cpu", n);
    }
    if (cpu->mode == CPU_MODE_CUSTOM && cpu->model == NULL)
        cpu->mode = CPU_MODE_NONE;
    return 0;
}

/* libvirt refuses both kinds in one domain ("per-device boot elements
 * cannot be used together with os/boot elements"), and one order for two
 * devices. */
static int check_boot_orders(struct parse_ctx *c)
{
    struct domain_def *def = c->def;
    unsigned int orders[DOMAIN_MAX_DISKS + DOMAIN_MAX_NETS];
    size_t n = 0;

    for (size_t i = 0; i < def->ndisks; i++) {
        if (def->disks[i].boot_order != 0)
            orders[n++] = def->disks[i].boot_order;
    }
    for (size_t i = 0; i < def->nnets; i++) {
        if (def->nets[i].boot_order != 0)
            orders[n++] = def->nets[i].boot_order;
    }
    if (n > 0 && def->nboot_devs > 0) {
        cerr_set(c->e, CE_INVALID_XML,
                 "per-device <boot order='N'/> cannot be used together with <os><boot dev=.../>");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < i; j++) {
            if (orders[i] == orders[j]) {
                cerr_set(c->e, CE_INVALID_XML, "boot order %u is used by more than one device",
                         orders[i]);
                return -1;
            }
        }
    }
    /* libvirt's default when neither is given. */
    if (n == 0 && def->nboot_devs == 0)
        def->boot_devs[def->nboot_devs++] = DOMAIN_BOOT_HD;
    return 0;
}

/* A <loader> that a descriptor names becomes the file itself (Debian names
 * its Secure Boot code through a link), with the descriptor's template
 * when the definition has none and SMM when it needs it; one no descriptor
 * names is used as written, and needs a template. */
static int finish_manual_firmware(struct parse_ctx *c, struct firmware_request *req)
{
    struct firmware_def *f = &c->def->fw;
    struct firmware_choice ch;
    int rc;

    req->code = f->loader;
    rc = firmware_select(firmware_default_dirs, firmware_default_ndirs, req, &ch, c->e);
    if (rc <= 0)
        return f->nvram_template != NULL ? 0 : -1;
    free(f->loader);
    f->loader = ch.code;
    ch.code = NULL;
    if (f->nvram_template == NULL) {
        f->nvram_template = ch.vars_template;
        ch.vars_template = NULL;
    }
    f->secure = f->secure || ch.requires_smm;
    firmware_choice_free(&ch);
    return 0;
}

/* firmware='efi' without a <loader>: the first descriptor that fits, as
 * libvirt's autoselection; with one, finish_manual_firmware. */
static int finish_firmware(struct parse_ctx *c)
{
    struct domain_def *def = c->def;
    struct firmware_def *f = &def->fw;
    struct firmware_request req = {def->machine, (enum firmware_want)f->secure_boot,
                                   (enum firmware_want)f->enrolled_keys, NULL};
    struct firmware_choice ch;

    if (f->kind == DOMAIN_FIRMWARE_BIOS && f->loader != NULL) {
        cerr_set(c->e, CE_INVALID_XML, "os firmware='bios' cannot have a pflash os/loader");
        return -1;
    }
    if (f->loader == NULL && f->kind != DOMAIN_FIRMWARE_EFI) {
        if (f->nvram_template == NULL && f->secure_boot == DOMAIN_FW_FEATURE_ANY &&
            f->enrolled_keys == DOMAIN_FW_FEATURE_ANY)
            return 0;
        cerr_set(c->e, CE_INVALID_XML,
                 "os/nvram and os/firmware need UEFI: os firmware='efi' or an os/loader");
        return -1;
    }
    if (strcmp(def->machine, "none") == 0) {
        cerr_set(c->e, CE_INVALID_XML, "UEFI firmware needs a machine type, not 'none'");
        return -1;
    }
    if (f->loader != NULL)
        return finish_manual_firmware(c, &req);
    if (firmware_select(firmware_default_dirs, firmware_default_ndirs, &req, &ch, c->e) <= 0)
        return -1;
    f->loader = ch.code;
    ch.code = NULL;
    free(f->nvram_template);
    f->nvram_template = ch.vars_template;
    ch.vars_template = NULL;
    f->secure = ch.requires_smm;
    f->secure_boot = ch.secure_boot ? DOMAIN_FW_FEATURE_YES : DOMAIN_FW_FEATURE_NO;
    f->enrolled_keys = ch.enrolled_keys ? DOMAIN_FW_FEATURE_YES : DOMAIN_FW_FEATURE_NO;
    firmware_choice_free(&ch);
    return 0;
}

int domain_def_check_firmware_files(const struct domain_def *def, struct cerr *e)
{
    if (def->fw.loader != NULL && firmware_check_file("os/loader", def->fw.loader, e) < 0)
        return -1;
    if (def->fw.nvram_template != NULL &&
        firmware_check_file("os/nvram template", def->fw.nvram_template, e) < 0)
        return -1;
    return 0;
}

int dx_finish_os_cpu(struct parse_ctx *c)
{
    struct domain_def *def = c->def;
    const struct cpu_def *cpu = &def->cpu;

    if (def->vcpus_current == 0)
        def->vcpus_current = def->vcpus;
    else if (def->vcpus_current > def->vcpus) {
        cerr_set(c->e, CE_INVALID_XML, "vcpu current='%u' is more than the maximum %u",
                 def->vcpus_current, def->vcpus);
        return -1;
    }
    if (cpu->sockets != 0 &&
        (unsigned long long)cpu->sockets * cpu->dies * cpu->cores * cpu->threads != def->vcpus) {
        cerr_set(c->e, CE_INVALID_XML,
                 "cpu/topology sockets=%u dies=%u cores=%u threads=%u makes %llu vCPUs, but vcpu "
                 "says %u: the product must equal the vcpu maximum",
                 cpu->sockets, cpu->dies, cpu->cores, cpu->threads,
                 (unsigned long long)cpu->sockets * cpu->dies * cpu->cores * cpu->threads,
                 def->vcpus);
        return -1;
    }
    if ((def->initrd != NULL || def->cmdline != NULL) && def->kernel == NULL) {
        cerr_set(c->e, CE_INVALID_XML, "os/%s needs os/kernel (direct kernel boot)",
                 def->initrd != NULL ? "initrd" : "cmdline");
        return -1;
    }
    if (finish_firmware(c) < 0)
        return -1;
    if (def->fw.nvram_import != NULL && def->fw.loader == NULL) {
        dx_note_ignored_path(c, "os/nvram path (a BIOS guest has no NVRAM)");
        free(def->fw.nvram_import);
        def->fw.nvram_import = NULL;
    }
    return check_boot_orders(c);
}

static void format_cpu(const struct cpu_def *cpu, xmlNodePtr root)
{
    xmlNodePtr node;

    if (cpu->mode == CPU_MODE_NONE && cpu->sockets == 0)
        return;
    node = dx_add_child(root, "cpu", NULL);
    dx_add_prop(node, "mode", cpu->mode == CPU_MODE_NONE ? "custom" : cpu_mode_names[cpu->mode]);
    if (cpu->check != CPU_CHECK_DEFAULT)
        dx_add_prop(node, "check", cpu_check_names[cpu->check]);
    if (cpu->model != NULL) {
        xmlNodePtr model = dx_add_child(node, "model", cpu->model);

        if (cpu->fallback != CPU_FALLBACK_DEFAULT)
            dx_add_prop(model, "fallback", cpu_fallback_names[cpu->fallback]);
    }
    if (cpu->sockets != 0) {
        xmlNodePtr topo = dx_add_child(node, "topology", NULL);

        dx_add_uint_prop(topo, "sockets", cpu->sockets);
        dx_add_uint_prop(topo, "dies", cpu->dies);
        dx_add_uint_prop(topo, "cores", cpu->cores);
        dx_add_uint_prop(topo, "threads", cpu->threads);
    }
}

/* libvirt's order inside <os>: type, firmware, loader, nvram. */
static void format_firmware(const struct firmware_def *f, xmlNodePtr os)
{
    const enum domain_fw_feature feats[] = {f->enrolled_keys, f->secure_boot};
    const char *const names[] = {"enrolled-keys", "secure-boot"};
    xmlNodePtr node = NULL;

    if (f->kind != DOMAIN_FIRMWARE_DEFAULT)
        dx_add_prop(os, "firmware", firmware_names[f->kind]);
    for (size_t i = 0; i < 2; i++) {
        xmlNodePtr feat;
        if (feats[i] == DOMAIN_FW_FEATURE_ANY)
            continue;
        if (node == NULL)
            node = dx_add_child(os, "firmware", NULL);
        feat = dx_add_child(node, "feature", NULL);
        dx_add_prop(feat, "enabled", yes_no[feats[i]]);
        dx_add_prop(feat, "name", names[i]);
    }
    if (f->loader == NULL)
        return;
    node = dx_add_child(os, "loader", f->loader);
    dx_add_prop(node, "readonly", "yes");
    if (f->secure)
        dx_add_prop(node, "secure", "yes");
    dx_add_prop(node, "type", "pflash");
    dx_add_prop(dx_add_child(os, "nvram", f->nvram_import), "template", f->nvram_template);
}

void dx_format_os_cpu(const struct domain_def *def, xmlNodePtr root)
{
    char num[16];
    xmlNodePtr node, os;

    snprintf(num, sizeof(num), "%u", def->vcpus);
    node = dx_add_child(root, "vcpu", num);
    /* What libvirt writes when no cpuset pins the vCPUs. */
    dx_add_prop(node, "placement", "static");
    if (def->vcpus_current != def->vcpus)
        dx_add_uint_prop(node, "current", def->vcpus_current);
    os = dx_add_child(root, "os", NULL);
    node = dx_add_child(os, "type", "hvm");
    dx_add_prop(node, "arch", def->arch);
    dx_add_prop(node, "machine", def->machine);
    format_firmware(&def->fw, os);
    if (def->kernel != NULL)
        dx_add_child(os, "kernel", def->kernel);
    if (def->initrd != NULL)
        dx_add_child(os, "initrd", def->initrd);
    if (def->cmdline != NULL)
        dx_add_child(os, "cmdline", def->cmdline);
    for (size_t i = 0; i < def->nboot_devs; i++)
        dx_add_prop(dx_add_child(os, "boot", NULL), "dev", boot_dev_names[def->boot_devs[i]]);
    format_cpu(&def->cpu, root);
}

void dx_free_os_cpu(struct domain_def *def)
{
    free(def->kernel);
    free(def->initrd);
    free(def->cmdline);
    free(def->cpu.model);
    free(def->fw.loader);
    free(def->fw.nvram_template);
    free(def->fw.nvram_import);
}
