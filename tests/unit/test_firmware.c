/* Firmware selection against descriptors written into a scratch tree:
 * libvirt's rules (interface, flash mapping, target and machine glob,
 * features asked for and refused), the first by file name, a name in a
 * higher directory overriding (or masking) the same name below. */
#include "common/firmware.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileutil.h"
#include "tests/unit/unit.h"

static char root[PATH_MAX];
static char etc_dir[PATH_MAX + 16], share_dir[PATH_MAX + 16];

static int put(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ssize_t n;

    if (fd < 0)
        return -1;
    n = write(fd, text, strlen(text));
    close(fd);
    return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* A descriptor: code and vars are file names under root. */
static int descriptor(const char *dir, const char *name, const char *iface, const char *code,
                      const char *vars, const char *machines, const char *features,
                      const char *extra_mapping)
{
    char *path = xasprintf("%s/%s", dir, name);
    char *text = xasprintf(
        "{\"description\":\"test\",\"interface-types\":[\"%s\"],"
        "\"mapping\":{\"device\":\"flash\"%s,\"executable\":{\"filename\":\"%s/%s\","
        "\"format\":\"raw\"},\"nvram-template\":{\"filename\":\"%s/%s\",\"format\":\"raw\"}},"
        "\"targets\":[{\"architecture\":\"x86_64\",\"machines\":[%s]}],\"features\":[%s],"
        "\"tags\":[]}",
        iface, extra_mapping, root, code, root, vars, machines, features);
    int rc = put(path, text);

    free(path);
    free(text);
    return rc;
}

static const char *const dirs[2] = {etc_dir, share_dir};

/* Debian 12's ovmf, in miniature. */
static int setup(void)
{
    char tmpl[] = "/tmp/corral-firmware-XXXXXX";
    char *d = mkdtemp(tmpl), *p;
    static const char *const files[] = {"CODE_SB.fd", "CODE.fd", "VARS_MS.fd", "VARS.fd"};

    if (d == NULL)
        return -1;
    snprintf(root, sizeof(root), "%s", d);
    snprintf(etc_dir, sizeof(etc_dir), "%s/etc", root);
    snprintf(share_dir, sizeof(share_dir), "%s/share", root);
    /* A VM's uid must reach firmware files (files_checked). */
    if (chmod(root, 0755) < 0 || mkdir(etc_dir, 0755) < 0 || mkdir(share_dir, 0755) < 0)
        return -1;
    for (size_t i = 0; i < 4; i++) {
        p = xasprintf("%s/%s", root, files[i]);
        int rc = put(p, "flash");
        free(p);
        if (rc < 0)
            return -1;
    }
    /* Debian names its Secure Boot code through a link. */
    p = xasprintf("%s/CODE_MS.fd", root);
    if (symlink("CODE_SB.fd", p) < 0) {
        free(p);
        return -1;
    }
    free(p);
    return descriptor(share_dir, "40-sb-enrolled.json", "uefi", "CODE_MS.fd", "VARS_MS.fd",
                      "\"pc-q35-*\"",
                      "\"acpi-s3\",\"enrolled-keys\",\"requires-smm\",\"secure-boot\"", "") |
           descriptor(share_dir, "50-sb.json", "uefi", "CODE_SB.fd", "VARS.fd", "\"pc-q35-*\"",
                      "\"requires-smm\",\"secure-boot\"", "") |
           descriptor(share_dir, "60-plain.json", "uefi", "CODE.fd", "VARS.fd",
                      "\"pc-i440fx-*\",\"pc-q35-*\"", "\"acpi-s3\"", "");
}

static void teardown(void)
{
    struct cerr e;

    if (root[0] != '\0')
        rm_rf(root, &e);
}

/* Selects for machine with the wanted features; returns the chosen
 * descriptor's file name, "" when none fits, NULL on error. */
static const char *choose(const char *machine, enum firmware_want sb, enum firmware_want keys,
                          const char *code, struct firmware_choice *c, struct cerr *e)
{
    struct firmware_request req = {machine, sb, keys, code};
    int rc = firmware_select(dirs, 2, &req, c, e);

    if (rc < 0)
        return NULL;
    if (rc == 0)
        return "";
    return strrchr(c->descriptor, '/') + 1;
}

static void first_fitting_descriptor_by_name(void)
{
    struct firmware_choice c;
    struct cerr e = {0};
    char *want;

    /* q35, nothing asked: the first by name, Secure Boot and enrolled
     * keys, its linked code resolved. */
    EXPECT_STR(choose("q35", FIRMWARE_WANT_ANY, FIRMWARE_WANT_ANY, NULL, &c, &e),
               "40-sb-enrolled.json");
    want = xasprintf("%s/CODE_SB.fd", root);
    EXPECT_STR(c.code, want);
    free(want);
    EXPECT(c.requires_smm && c.secure_boot && c.enrolled_keys);
    firmware_choice_free(&c);
    /* i440fx: only the plain one targets it. */
    EXPECT_STR(choose("pc", FIRMWARE_WANT_ANY, FIRMWARE_WANT_ANY, NULL, &c, &e), "60-plain.json");
    EXPECT(!c.requires_smm && !c.secure_boot);
    firmware_choice_free(&c);
    EXPECT_STR(choose("pc-i440fx-7.2", FIRMWARE_WANT_ANY, FIRMWARE_WANT_ANY, NULL, &c, &e),
               "60-plain.json");
    firmware_choice_free(&c);
}

static void features_asked_and_refused(void)
{
    struct firmware_choice c;
    struct cerr e = {0};

    EXPECT_STR(choose("q35", FIRMWARE_WANT_NO, FIRMWARE_WANT_ANY, NULL, &c, &e), "60-plain.json");
    firmware_choice_free(&c);
    EXPECT_STR(choose("q35", FIRMWARE_WANT_ANY, FIRMWARE_WANT_NO, NULL, &c, &e), "50-sb.json");
    firmware_choice_free(&c);
    EXPECT_STR(choose("pc-q35-7.2", FIRMWARE_WANT_YES, FIRMWARE_WANT_NO, NULL, &c, &e),
               "50-sb.json");
    firmware_choice_free(&c);
    /* Nothing offers Secure Boot on i440fx, nor keys without it. */
    EXPECT_STR(choose("pc", FIRMWARE_WANT_YES, FIRMWARE_WANT_ANY, NULL, &c, &e), "");
    EXPECT(e.code == CE_UNSUPPORTED);
    EXPECT_CONTAINS(e.msg, "offers UEFI for x86_64 machine pc-i440fx-latest, secure-boot yes");
    EXPECT_STR(choose("q35", FIRMWARE_WANT_NO, FIRMWARE_WANT_YES, NULL, &c, &e), "");
    EXPECT_CONTAINS(e.msg, "secure-boot no, enrolled-keys yes");
    EXPECT_STR(choose("microvm", FIRMWARE_WANT_ANY, FIRMWARE_WANT_ANY, NULL, &c, &e), "");
}

static void manual_loader_finds_its_template(void)
{
    struct firmware_choice c;
    struct cerr e = {0};
    char *code = xasprintf("%s/CODE_SB.fd", root), *vars = xasprintf("%s/VARS_MS.fd", root);
    const char *got = choose("q35", FIRMWARE_WANT_ANY, FIRMWARE_WANT_ANY, code, &c, &e);
    bool ok = got != NULL && strcmp(got, "40-sb-enrolled.json") == 0 && c.vars_template != NULL &&
              strcmp(c.vars_template, vars) == 0;

    firmware_choice_free(&c);
    EXPECT(ok);
    /* As the descriptor spells it (a link): the definition's path is
     * compared, never resolved. */
    free(code);
    code = xasprintf("%s/CODE_MS.fd", root);
    got = choose("q35", FIRMWARE_WANT_ANY, FIRMWARE_WANT_ANY, code, &c, &e);
    ok = got != NULL && strcmp(got, "40-sb-enrolled.json") == 0 &&
         strcmp(c.vars_template, vars) == 0;
    firmware_choice_free(&c);
    free(vars);
    EXPECT(ok);
    got = choose("pc", FIRMWARE_WANT_ANY, FIRMWARE_WANT_ANY, code, &c, &e);
    free(code);
    EXPECT(got != NULL && got[0] == '\0');
    EXPECT_CONTAINS(e.msg, "with code '");
}

/* /etc over /usr/share for one name; an empty file there hides it. */
static void higher_directory_overrides_and_masks(void)
{
    struct firmware_choice c;
    struct cerr e = {0};
    char *masked = xasprintf("%s/40-sb-enrolled.json", etc_dir);
    int rc = put(masked, "");

    EXPECT(rc == 0);
    EXPECT_STR(choose("q35", FIRMWARE_WANT_ANY, FIRMWARE_WANT_ANY, NULL, &c, &e), "50-sb.json");
    firmware_choice_free(&c);
    EXPECT(descriptor(etc_dir, "60-plain.json", "uefi", "CODE_SB.fd", "VARS_MS.fd",
                      "\"pc-i440fx-*\"", "", "") == 0);
    EXPECT_STR(choose("pc", FIRMWARE_WANT_ANY, FIRMWARE_WANT_ANY, NULL, &c, &e), "60-plain.json");
    EXPECT_CONTAINS(c.descriptor, "/etc/60-plain.json");
    EXPECT_CONTAINS(c.vars_template, "/VARS_MS.fd");
    firmware_choice_free(&c);
    unlink(masked);
    free(masked);
    masked = xasprintf("%s/60-plain.json", etc_dir);
    unlink(masked);
    free(masked);
}

/* Before the good ones by name: each is skipped for its own reason. */
static void unfit_descriptors_skipped(void)
{
    struct firmware_choice c;
    struct cerr e = {0};
    char *bad = xasprintf("%s/05-garbage.json", etc_dir);

    EXPECT(put(bad, "{ not json") == 0);
    free(bad);
    EXPECT(descriptor(etc_dir, "10-bios.json", "bios", "CODE.fd", "VARS.fd", "\"pc-i440fx-*\"", "",
                      "") == 0);
    EXPECT(descriptor(etc_dir, "11-combined.json", "uefi", "CODE.fd", "VARS.fd", "\"pc-i440fx-*\"",
                      "", ",\"mode\":\"combined\"") == 0);
    EXPECT(descriptor(etc_dir, "12-missing.json", "uefi", "NOPE.fd", "VARS.fd", "\"pc-i440fx-*\"",
                      "", "") == 0);
    bad = xasprintf("%s/13-notjson.txt", etc_dir);
    EXPECT(descriptor(etc_dir, "13-notjson.txt", "uefi", "CODE.fd", "VARS.fd", "\"pc-i440fx-*\"",
                      "", "") == 0);
    free(bad);
    EXPECT_STR(choose("pc", FIRMWARE_WANT_ANY, FIRMWARE_WANT_ANY, NULL, &c, &e), "60-plain.json");
    firmware_choice_free(&c);
}

static void missing_directories(void)
{
    static const char *const none[] = {"/nonexistent/corral/a", "/nonexistent/corral/b"};
    struct firmware_request req = {"q35", FIRMWARE_WANT_ANY, FIRMWARE_WANT_ANY, NULL};
    struct firmware_choice c;
    struct cerr e = {0};

    EXPECT(firmware_select(none, 2, &req, &c, &e) == 0);
    EXPECT_CONTAINS(e.msg, "no firmware descriptor in /nonexistent/corral/a or "
                           "/nonexistent/corral/b offers UEFI for x86_64 machine pc-q35-latest");
    EXPECT_CONTAINS(e.msg, "install Debian's ovmf package");
}

static void canonical_machines(void)
{
    char buf[64];

    firmware_canonical_machine("q35", buf, sizeof(buf));
    EXPECT_STR(buf, "pc-q35-latest");
    firmware_canonical_machine("pc", buf, sizeof(buf));
    EXPECT_STR(buf, "pc-i440fx-latest");
    firmware_canonical_machine("pc-q35-7.2", buf, sizeof(buf));
    EXPECT_STR(buf, "pc-q35-7.2");
}

static void files_checked(void)
{
    struct cerr e = {0};
    char *code = xasprintf("%s/CODE.fd", root), *link = xasprintf("%s/CODE_MS.fd", root);

    EXPECT(firmware_check_file("os/loader", code, &e) == 0);
    EXPECT(firmware_check_file("os/loader", link, &e) < 0);
    EXPECT_CONTAINS(e.msg, "is a symlink");
    EXPECT(firmware_check_file("os/loader", root, &e) < 0);
    EXPECT_CONTAINS(e.msg, "is not a regular file");
    EXPECT(chmod(code, 0600) == 0);
    EXPECT(firmware_check_file("os/nvram template", code, &e) < 0);
    EXPECT_CONTAINS(e.msg, "os/nvram template: '");
    EXPECT_CONTAINS(e.msg, "is not readable by other users");
    free(code);
    free(link);
}

int main(void)
{
    if (setup() != 0) {
        printf("not ok - setup\n");
        teardown();
        return 1;
    }
    RUN(first_fitting_descriptor_by_name);
    RUN(features_asked_and_refused);
    RUN(manual_loader_finds_its_template);
    RUN(higher_directory_overrides_and_masks);
    RUN(unfit_descriptors_skipped);
    RUN(missing_directories);
    RUN(canonical_machines);
    RUN(files_checked);
    teardown();
    return unit_done();
}
