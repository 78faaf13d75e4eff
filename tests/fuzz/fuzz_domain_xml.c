/* Domain XML (common/domain_xml*.c), from any user who may define a VM,
 * and the QEMU command line supervisor/qemu_cmdline.c builds from what it
 * accepts.  Properties: what is accepted formats to XML that parses back to
 * the same text; and no value from the definition can add a QEMU option.
 * The command line is read back the way QEMU reads it: every argument in
 * option position must be an option corral writes, and each option's
 * QemuOpts value ("a,b=c,,d") is split as QEMU's get_opt_name_value does
 * (",," a literal comma) into keys that must be ones corral writes for that
 * option, with the implied values ("-machine TYPE", "-cpu MODEL") equal to
 * the definition's.  JSON values (-blockdev, -device {...}) must be one
 * JSON object. */
#include <string.h>

#include "common/domain_xml.h"
#include "common/json.h"
#include "common/log.h"
#include "supervisor/qemu_cmdline.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    log_init("fuzz_domain_xml", (enum log_level)(LOG_LVL_ERR + 1));
    return 0;
}

/* Each option corral writes, with the keys its value may hold (" "
 * separated, with spaces around): "" means no value. */
struct opt_rule {
    const char *opt;
    bool has_value;
    bool implied; /* the first element may be a value without a key */
    const char *keys;
};

static const struct opt_rule rules[] = {
    {"-name", true, false, " guest debug-threads "},
    {"-uuid", true, true, " "},
    {"-machine", true, true, " pflash0 pflash1 smm "},
    {"-accel", true, true, " "},
    {"-m", true, false, " size "},
    {"-cpu", true, true, " enforce "},
    {"-smp", true, true, " maxcpus sockets dies cores threads "},
    {"-kernel", true, false, NULL},
    {"-initrd", true, false, NULL},
    {"-append", true, false, NULL},
    {"-nodefaults", false, false, ""},
    {"-no-user-config", false, false, ""},
    {"-display", true, true, " "},
    {"-S", false, false, ""},
    {"-add-fd", true, false, " fd set opaque "},
    {"-chardev", true, true, " id path server wait fd "},
    {"-mon", true, false, " chardev mode "},
    {"-sandbox", true, true, " obsolete elevateprivileges spawn resourcecontrol "},
    {"-blockdev", true, false, NULL},
    {"-global", true, false, " driver property value "},
    {"-device", true, true,
     " chardev id netdev mac bootindex bus addr port chassis multifunction "},
    {"-netdev", true, true, " id hostfwd fd "},
    {"-vnc", true, true, " "},
};

static const struct opt_rule *rule_of(const char *opt)
{
    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
        if (strcmp(rules[i].opt, opt) == 0)
            return &rules[i];
    }
    return NULL;
}

/* QEMU's get_opt_value: up to a ',' that is not ",,"; returns where it
 * stopped. */
static const char *opt_value(const char *p, char *out, size_t outlen)
{
    size_t n = 0;

    for (; *p != '\0'; p++) {
        if (*p == ',') {
            if (p[1] != ',')
                break;
            p++;
        }
        if (n + 1 < outlen)
            out[n++] = *p;
    }
    out[n] = '\0';
    return p;
}

/* Splits a QemuOpts value and checks every key against rule; *implied
 * gets the first element's value when it has no key ("" otherwise). */
static void check_opts(const struct opt_rule *rule, const char *value, char *implied, size_t ilen)
{
    const char *p = value;
    bool first = true;
    char key[64], val[4096];

    implied[0] = '\0';
    while (*p != '\0') {
        size_t len = strcspn(p, "=,");

        if (p[len] != '=') {
            if (first && rule->implied) {
                p = opt_value(p, implied, ilen);
            } else {
                snprintf(key, sizeof(key), " %.*s ", (int)len, p);
                FUZZ_ASSERT(strstr(rule->keys, key) != NULL, "%s %s: flag%s smuggled", rule->opt,
                            value, key);
                p += len;
            }
        } else {
            snprintf(key, sizeof(key), " %.*s ", (int)len, p);
            FUZZ_ASSERT(len > 0 && strstr(rule->keys, key) != NULL, "%s %s: key%s smuggled",
                        rule->opt, value, key);
            p = opt_value(p + len + 1, val, sizeof(val));
        }
        if (*p == ',')
            p++;
        first = false;
    }
}

static bool printable(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
            return false;
    }
    return true;
}

/* The implied value of -machine and -cpu is the definition's own. */
static void check_implied(const struct domain_def *def, enum qemu_mode mode, const char *opt,
                          const char *implied)
{
    if (strcmp(opt, "-machine") == 0)
        FUZZ_ASSERT(strcmp(implied, mode == QEMU_MODE_VM ? def->machine : "none") == 0,
                    "-machine reads as '%s', the definition says '%s'", implied, def->machine);
    if (strcmp(opt, "-cpu") == 0)
        FUZZ_ASSERT(strcmp(implied, "host") == 0 || strcmp(implied, "max") == 0 ||
                        (def->cpu.model != NULL && strcmp(implied, def->cpu.model) == 0),
                    "-cpu reads as '%s'", implied);
    if (strcmp(opt, "-accel") == 0)
        FUZZ_ASSERT(strcmp(implied, "kvm") == 0 || strcmp(implied, "tcg") == 0, "-accel %s",
                    implied);
}

static void check_value(const struct domain_def *def, enum qemu_mode mode,
                        const struct opt_rule *rule, const char *value)
{
    char implied[4096];
    struct cerr e;

    if (strcmp(rule->opt, "-kernel") == 0 || strcmp(rule->opt, "-initrd") == 0) {
        FUZZ_ASSERT(value[0] == '/' && printable(value), "%s '%s'", rule->opt, value);
        return;
    }
    if (strcmp(rule->opt, "-append") == 0) {
        FUZZ_ASSERT(printable(value), "-append with a control character");
        return;
    }
    if (value[0] == '{' &&
        (strcmp(rule->opt, "-blockdev") == 0 || strcmp(rule->opt, "-device") == 0)) {
        cJSON *j = json_parse(value, strlen(value), &e);
        FUZZ_ASSERT(cJSON_IsObject(j), "%s %s is not one JSON object", rule->opt, value);
        cJSON_Delete(j);
        return;
    }
    FUZZ_ASSERT(strcmp(rule->opt, "-blockdev") != 0, "-blockdev %s is not JSON", value);
    FUZZ_ASSERT(value[0] != '-', "%s takes '%s' as its value", rule->opt, value);
    check_opts(rule, value, implied, sizeof(implied));
    check_implied(def, mode, rule->opt, implied);
}

static void check_argv(const struct domain_def *def, enum qemu_mode mode, const struct argv_list *a)
{
    FUZZ_ASSERT(a->n >= 1 && strcmp(a->v[0], def->emulator) == 0, "argv[0] is not the emulator");
    for (size_t i = 1; i < a->n; i++) {
        const struct opt_rule *rule = rule_of(a->v[i]);

        FUZZ_ASSERT(rule != NULL, "argument %zu '%s' stands where an option should", i, a->v[i]);
        if (!rule->has_value)
            continue;
        FUZZ_ASSERT(i + 1 < a->n, "%s without its value", a->v[i]);
        check_value(def, mode, rule, a->v[++i]);
    }
}

static void build(const struct domain_def *def, enum qemu_mode mode)
{
    static const int taps[DOMAIN_MAX_NETS] = {40, 41, 42, 43, 44, 45, 46, 47};
    struct qemu_inputs in;
    struct argv_list a;
    char *warning = NULL;
    struct cerr e;

    qemu_inputs_init(&in, def);
    in.qmp_fd = 50;
    in.qmp_name_fd = 51;
    in.tap_fds = taps;
    in.ntap_fds = DOMAIN_MAX_NETS;
    in.nvram = "/var/lib/corral/vms/x/x_VARS.fd";
    if (qemu_build_argv(def, mode, "/run/corral/x/qmp.sock", &in, &a, &warning, &e) < 0)
        return;
    check_argv(def, mode, &a);
    free(warning);
    argv_free(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *warnings = NULL, *text, *text2;
    struct domain_def *def, *again;
    struct cerr e;

    def = domain_def_parse((const char *)data, size, &warnings, &e);
    free(warnings);
    if (def == NULL)
        return 0;
    FUZZ_ASSERT(domain_def_apply_defaults(def, &e) == 0, "apply_defaults: %s", e.msg);
    text = domain_def_format(def);
    again = domain_def_parse(text, strlen(text), &warnings, &e);
    free(warnings);
    FUZZ_ASSERT(again != NULL, "what was written does not parse back: %s\n%s", e.msg, text);
    text2 = domain_def_format(again);
    FUZZ_ASSERT(strcmp(text, text2) == 0, "written twice, two texts:\n%s\n%s", text, text2);
    build(def, QEMU_MODE_VM);
    build(def, QEMU_MODE_MAINTENANCE);
    free(text2);
    free(text);
    domain_def_free(again);
    domain_def_free(def);
    return 0;
}
