#include "common/firmware.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileutil.h"
#include "common/json.h"
#include "common/log.h"
#include "common/names.h"
#include "common/safe_open.h"

/* QEMU's search list (docs/interop/firmware.json) without the per-user
 * $XDG_CONFIG_HOME/qemu/firmware. */
const char *const firmware_default_dirs[] = {"/etc/qemu/firmware", "/usr/share/qemu/firmware"};
const size_t firmware_default_ndirs = sizeof(firmware_default_dirs) / sizeof(char *);

/* Descriptors are a few hundred bytes; a directory of more than this many
 * is not a firmware directory. */
#define DESCRIPTOR_MAX (64 * 1024)
#define DESCRIPTORS_MAX 256

struct entry {
    char *name;
    size_t dir;
};

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const struct entry *)a)->name, ((const struct entry *)b)->name);
}

static bool have_name(const struct entry *v, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(v[i].name, name) == 0)
            return true;
    }
    return false;
}

/* Every *.json name of every directory, a name taken from the first
 * directory that has it, sorted: the order QEMU's specification gives. */
static int list_descriptors(const char *const *dirs, size_t ndirs, struct entry *v, size_t *n,
                            struct cerr *e)
{
    *n = 0;
    for (size_t d = 0; d < ndirs; d++) {
        DIR *dir = opendir(dirs[d]);
        struct dirent *de;

        if (dir == NULL) {
            if (errno == ENOENT)
                continue;
            cerr_set(e, CE_SYSTEM, "cannot read the firmware descriptor directory %s: %s", dirs[d],
                     strerror(errno));
            return -1;
        }
        while ((de = readdir(dir)) != NULL) {
            size_t len = strlen(de->d_name);
            if (de->d_name[0] == '.' || len < 6 || strcmp(de->d_name + len - 5, ".json") != 0 ||
                have_name(v, *n, de->d_name))
                continue;
            if (*n == DESCRIPTORS_MAX) {
                log_warn("more than %d firmware descriptors; the rest of %s is not read",
                         DESCRIPTORS_MAX, dirs[d]);
                break;
            }
            v[*n].name = xstrdup(de->d_name);
            v[(*n)++].dir = d;
        }
        closedir(dir);
    }
    qsort(v, *n, sizeof(*v), entry_cmp);
    return 0;
}

/* NULL for a masked descriptor (empty, or a link to /dev/null, as QEMU's
 * specification says an administrator hides one) and for one that cannot
 * be read or parsed, which is logged and skipped. */
static cJSON *read_descriptor(const char *path)
{
    struct cerr e;
    size_t len = 0;
    char *text = file_read_all(path, DESCRIPTOR_MAX, &len, &e);
    cJSON *j = NULL;

    if (text == NULL) {
        log_warn("cannot read firmware descriptor %s: %s; skipped", path, e.msg);
        return NULL;
    }
    if (len > 0) {
        j = json_parse(text, len, &e);
        if (j == NULL || !cJSON_IsObject(j)) {
            log_warn("firmware descriptor %s is not a JSON object; skipped", path);
            cJSON_Delete(j);
            j = NULL;
        }
    }
    free(text);
    return j;
}

static bool str_in(const cJSON *arr, const char *s)
{
    const cJSON *it;

    cJSON_ArrayForEach(it, arr)
    {
        if (cJSON_IsString(it) && strcmp(it->valuestring, s) == 0)
            return true;
    }
    return false;
}

static const char *member_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

void firmware_canonical_machine(const char *machine, char *buf, size_t len)
{
    /* QEMU resolves the aliases to its newest versioned type; any version
     * matches the globs descriptors carry. */
    if (strcmp(machine, "q35") == 0)
        snprintf(buf, len, "pc-q35-latest");
    else if (strcmp(machine, "pc") == 0)
        snprintf(buf, len, "pc-i440fx-latest");
    else
        snprintf(buf, len, "%s", machine);
}

static bool target_fits(const cJSON *targets, const char *machine)
{
    const cJSON *t, *m;

    cJSON_ArrayForEach(t, targets)
    {
        const char *arch = member_str(t, "architecture");
        if (arch == NULL || strcmp(arch, "x86_64") != 0)
            continue;
        cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(t, "machines"))
        {
            if (cJSON_IsString(m) && fnmatch(m->valuestring, machine, 0) == 0)
                return true;
        }
    }
    return false;
}

static bool feature_fits(const cJSON *features, const char *name, enum firmware_want want)
{
    bool has = str_in(features, name);

    return want == FIRMWARE_WANT_ANY || has == (want == FIRMWARE_WANT_YES);
}

/* A raw file of the flash mapping: its resolved path, or NULL; *named is
 * the path as the descriptor spells it. */
static char *flash_file(const cJSON *mapping, const char *key, const char **named)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(mapping, key);
    const char *name = member_str(f, "filename"), *format = member_str(f, "format");

    if (name == NULL || name[0] != '/' || (format != NULL && strcmp(format, "raw") != 0))
        return NULL;
    if (named != NULL)
        *named = name;
    /* Descriptors and what they name are the system's (root's
     * directories): their links are resolved once, here, and the
     * definition names the file itself. */
    return realpath(name, NULL);
}

/* libvirt's rules for a UEFI guest: interface uefi; flash mapping in split
 * mode (code and a template for the VM's own variables), raw; an x86_64
 * target whose machine glob matches; each feature the domain asks for
 * present, each it refuses absent. */
static bool descriptor_fits(const cJSON *d, const struct firmware_request *req, const char *machine,
                            struct firmware_choice *out)
{
    const cJSON *mapping = cJSON_GetObjectItemCaseSensitive(d, "mapping");
    const cJSON *features = cJSON_GetObjectItemCaseSensitive(d, "features");
    const char *device = member_str(mapping, "device"), *mode = member_str(mapping, "mode");
    char *code = NULL, *vars = NULL;

    if (!str_in(cJSON_GetObjectItemCaseSensitive(d, "interface-types"), "uefi") || device == NULL ||
        strcmp(device, "flash") != 0 || (mode != NULL && strcmp(mode, "split")) ||
        !target_fits(cJSON_GetObjectItemCaseSensitive(d, "targets"), machine) ||
        !feature_fits(features, "secure-boot", req->secure_boot) ||
        !feature_fits(features, "enrolled-keys", req->enrolled_keys))
        return false;
    const char *named = NULL;

    code = flash_file(mapping, "executable", &named);
    vars = flash_file(mapping, "nvram-template", NULL);
    /* The definition's path is compared, never resolved: root does not
     * walk a path a user named. */
    if (code == NULL || vars == NULL ||
        (req->code != NULL && strcmp(req->code, code) != 0 && strcmp(req->code, named) != 0)) {
        free(code);
        free(vars);
        return false;
    }
    out->code = code;
    out->vars_template = vars;
    out->requires_smm = str_in(features, "requires-smm");
    out->secure_boot = str_in(features, "secure-boot");
    out->enrolled_keys = str_in(features, "enrolled-keys");
    return true;
}

static const char *want_name(enum firmware_want w)
{
    return w == FIRMWARE_WANT_YES ? "yes" : "no";
}

static void explain_none(const char *const *dirs, size_t ndirs, const struct firmware_request *req,
                         const char *machine, struct cerr *e)
{
    char wanted[256], shown[PATH_MAX];
    int len = snprintf(wanted, sizeof(wanted), "UEFI for x86_64 machine %s", machine);

    if (req->secure_boot != FIRMWARE_WANT_ANY)
        len += snprintf(wanted + len, sizeof(wanted) - (size_t)len, ", secure-boot %s",
                        want_name(req->secure_boot));
    if (req->enrolled_keys != FIRMWARE_WANT_ANY)
        snprintf(wanted + len, sizeof(wanted) - (size_t)len, ", enrolled-keys %s",
                 want_name(req->enrolled_keys));
    name_escape(req->code ? req->code : "", shown, sizeof(shown));
    cerr_set(e, CE_UNSUPPORTED,
             "no firmware descriptor in %s%s%s offers %s%s%s%s (install Debian's ovmf package, or "
             "name the files with <loader> and <nvram template=>)",
             dirs[0], ndirs > 1 ? " or " : "", ndirs > 1 ? dirs[ndirs - 1] : "", wanted,
             req->code ? " with code '" : "", shown, req->code ? "'" : "");
}

int firmware_select(const char *const *dirs, size_t ndirs, const struct firmware_request *req,
                    struct firmware_choice *out, struct cerr *e)
{
    struct entry *v = xcalloc(DESCRIPTORS_MAX, sizeof(*v));
    char machine[128];
    size_t n = 0;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    firmware_canonical_machine(req->machine, machine, sizeof(machine));
    if (list_descriptors(dirs, ndirs, v, &n, e) < 0)
        rc = -1;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char *path = xasprintf("%s/%s", dirs[v[i].dir], v[i].name);
        cJSON *d = read_descriptor(path);
        if (d != NULL && descriptor_fits(d, req, machine, out)) {
            out->descriptor = path;
            path = NULL;
            rc = 1;
        }
        cJSON_Delete(d);
        free(path);
    }
    for (size_t i = 0; i < n; i++)
        free(v[i].name);
    free(v);
    if (rc == 0)
        explain_none(dirs, ndirs, req, machine, e);
    return rc;
}

void firmware_choice_free(struct firmware_choice *c)
{
    free(c->descriptor);
    free(c->code);
    free(c->vars_template);
    memset(c, 0, sizeof(*c));
}

int firmware_check_file(const char *what, const char *path, struct cerr *e)
{
    char shown[512], *dir;
    struct cerr why;
    struct stat st;
    int fd = safe_open_path(path, &st, &why);
    bool reachable;

    name_escape(path, shown, sizeof(shown));
    if (fd < 0) {
        cerr_set(e, CE_SYSTEM, "%s: %s", what, why.msg);
        return -1;
    }
    close(fd);
    if (S_ISLNK(st.st_mode) || !S_ISREG(st.st_mode)) {
        cerr_set(e, CE_SYSTEM, "%s: '%s' is %s", what, shown,
                 S_ISLNK(st.st_mode) ? "a symlink" : "not a regular file");
        return -1;
    }
    if ((st.st_mode & S_IROTH) == 0) {
        cerr_set(e, CE_SYSTEM, "%s: '%s' is not readable by other users (chmod o+r)", what, shown);
        return -1;
    }
    dir = xstrdup(path);
    *strrchr(dir, '/') = '\0';
    reachable = path_reachable_by_others(dir[0] ? dir : "/", &why);
    free(dir);
    if (!reachable) {
        cerr_set(e, CE_SYSTEM, "%s: '%s' cannot be reached by a VM's uid: %s", what, shown,
                 why.msg);
        return -1;
    }
    return 0;
}

char *firmware_nvram_name(const char *vm_name)
{
    return xasprintf("%s_VARS.fd", vm_name);
}
