/* Name validation: what may become a path, a QEMU node name or a log line. */
#include "common/names.h"

#include "tests/unit/unit.h"

static char *repeat(char ch, size_t n)
{
    char *s = malloc(n + 1);

    if (s == NULL)
        abort();
    memset(s, ch, n);
    s[n] = '\0';
    return s;
}

/* Expects check to refuse name with code and a message containing needle;
 * prints the case when it does not. */
static int refused(bool (*check)(const char *, struct cerr *), const char *name,
                   enum corral_err code, const char *needle)
{
    struct cerr e = {0};

    if (check(name, &e)) {
        printf("# '%s' was accepted\n", name ? name : "(null)");
        return 0;
    }
    if (e.code != code || strstr(e.msg, needle) == NULL) {
        printf("# '%s': got code %d '%s', want code %d and '%s'\n", name ? name : "(null)", e.code,
               e.msg, code, needle);
        return 0;
    }
    return 1;
}

static void vm_names_accepted(void)
{
    struct cerr e = {0};
    char *longest = repeat('a', VM_NAME_MAX);

    EXPECT(name_vm_valid("vm1", &e));
    EXPECT(name_vm_valid("Web_01.prod-eu+2", &e));
    EXPECT(name_vm_valid("a", &e));
    EXPECT(name_vm_valid(longest, &e));
    free(longest);
}

static void vm_names_refused(void)
{
    char *too_long = repeat('a', VM_NAME_MAX + 1);
    int ok = refused(name_vm_valid, too_long, CE_INVALID_NAME, "65 bytes long, the limit is 64");

    free(too_long);
    EXPECT(ok);
    EXPECT(refused(name_vm_valid, NULL, CE_INVALID_NAME, "empty"));
    EXPECT(refused(name_vm_valid, "", CE_INVALID_NAME, "empty"));
    EXPECT(refused(name_vm_valid, "a/b", CE_INVALID_NAME, "contains '/'"));
    EXPECT(refused(name_vm_valid, "../etc", CE_INVALID_NAME, "must not start with '.'"));
    EXPECT(refused(name_vm_valid, ".hidden", CE_INVALID_NAME, "must not start with '.'"));
    EXPECT(refused(name_vm_valid, "-rf", CE_INVALID_NAME, "must not start with '-'"));
    EXPECT(refused(name_vm_valid, "vm\n1", CE_INVALID_NAME, "control character"));
    EXPECT(refused(name_vm_valid, "vm\x7f", CE_INVALID_NAME, "control character"));
    EXPECT(refused(name_vm_valid, "my vm", CE_INVALID_NAME, "contains ' '"));
    EXPECT(refused(name_vm_valid, "vm,if=none", CE_INVALID_NAME, "contains ','"));
    EXPECT(refused(name_vm_valid, "caf\xc3\xa9", CE_INVALID_NAME, "contains '?'"));
}

/* The message shows the name escaped: a newline in a name must not split
 * the log line that reports it. */
static void vm_name_message_escaped(void)
{
    struct cerr e = {0};

    EXPECT(!name_vm_valid("a\nforged: log line", &e));
    EXPECT(strchr(e.msg, '\n') == NULL);
    EXPECT_CONTAINS(e.msg, "a\\x0aforged");
}

static void snapshot_names_accepted(void)
{
    struct cerr e = {0};
    char *longest = repeat('s', SNAPSHOT_NAME_MAX);

    EXPECT(name_snapshot_valid("before upgrade", &e));
    EXPECT(name_snapshot_valid("v1.2-rc", &e));
    EXPECT(name_snapshot_valid("caf\xc3\xa9 \xe2\x98\x83 \xf0\x9f\x98\x80", &e));
    EXPECT(name_snapshot_valid("a..b", &e));
    EXPECT(name_snapshot_valid(longest, &e));
    free(longest);
}

static void snapshot_names_refused(void)
{
    char *too_long = repeat('s', SNAPSHOT_NAME_MAX + 1);
    int ok =
        refused(name_snapshot_valid, too_long, CE_INVALID_NAME, "256 bytes long, the limit is 255");

    free(too_long);
    EXPECT(ok);
    EXPECT(refused(name_snapshot_valid, NULL, CE_INVALID_NAME, "empty"));
    EXPECT(refused(name_snapshot_valid, "", CE_INVALID_NAME, "empty"));
    EXPECT(refused(name_snapshot_valid, "a/b", CE_INVALID_NAME, "contains '/'"));
    EXPECT(refused(name_snapshot_valid, ".snap", CE_INVALID_NAME, "must not start with '.'"));
    EXPECT(refused(name_snapshot_valid, "..", CE_INVALID_NAME, "must not start with '.'"));
    EXPECT(refused(name_snapshot_valid, "a\tb", CE_INVALID_NAME, "control character"));
    EXPECT(refused(name_snapshot_valid, "a\x1b[31m", CE_INVALID_NAME, "control character"));
    EXPECT(refused(name_snapshot_valid, "del\x7f", CE_INVALID_NAME, "control character"));
}

static void snapshot_names_bad_utf8_refused(void)
{
    static const char *const bad[] = {
        "\xff",             /* never valid in UTF-8 */
        "caf\xc3",          /* truncated sequence */
        "\xc3(",            /* bad continuation byte */
        "\xc0\xaf",         /* overlong '/' */
        "\xe0\x80\xaf",     /* overlong '/', three bytes */
        "\xed\xa0\x80",     /* UTF-16 surrogate */
        "\xf4\x90\x80\x80", /* beyond U+10FFFF */
        "\xc2\x85",         /* C1 control NEL */
        "\xc2\x9b[31m",     /* C1 control CSI */
        "\xc2\x80",         /* first C1 control */
    };
    struct cerr e = {0};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        EXPECT(refused(name_snapshot_valid, bad[i], CE_INVALID_NAME, "not valid UTF-8"));
    }
    /* U+00A0, just past the C1 range, is an ordinary character. */
    EXPECT(name_snapshot_valid("a\xc2\xa0z", &e));
}

static void target_names(void)
{
    struct cerr e = {0};

    EXPECT(name_target_valid("vda", &e));
    EXPECT(name_target_valid("sdb", &e));
    EXPECT(name_target_valid("hdc", &e));
    EXPECT(name_target_valid("nvme0n1", &e));
    EXPECT(name_target_valid("abcdefghijklmnop", &e));
    EXPECT(refused(name_target_valid, NULL, CE_INVALID_XML, "missing"));
    EXPECT(refused(name_target_valid, "", CE_INVALID_XML, "2-16 lowercase"));
    EXPECT(refused(name_target_valid, "v", CE_INVALID_XML, "2-16 lowercase"));
    EXPECT(refused(name_target_valid, "abcdefghijklmnopq", CE_INVALID_XML, "2-16 lowercase"));
    EXPECT(refused(name_target_valid, "VDA", CE_INVALID_XML, "'VDA'"));
    EXPECT(refused(name_target_valid, "1da", CE_INVALID_XML, "'1da'"));
    EXPECT(refused(name_target_valid, "vdA", CE_INVALID_XML, "'vdA'"));
    EXPECT(refused(name_target_valid, "vd-a", CE_INVALID_XML, "'vd-a'"));
    EXPECT(refused(name_target_valid, "vd/a", CE_INVALID_XML, "'vd/a'"));
    EXPECT(refused(name_target_valid, "vd,a", CE_INVALID_XML, "'vd,a'"));
    EXPECT(refused(name_target_valid, "vd\na", CE_INVALID_XML, "'vd\\x0aa'"));
}

static void escape_plain_and_controls(void)
{
    char out[64];

    name_escape("vm1", out, sizeof(out));
    EXPECT_STR(out, "vm1");
    name_escape("", out, sizeof(out));
    EXPECT_STR(out, "");
    name_escape("a\nb\tc\x7f", out, sizeof(out));
    EXPECT_STR(out, "a\\x0ab\\x09c\\x7f");
    /* The backslash itself is escaped so that "\x0a" in the output always
     * means an escaped byte, never a literal one. */
    name_escape("a\\x0a", out, sizeof(out));
    EXPECT_STR(out, "a\\x5cx0a");
    /* Bytes >= 0x80 pass through: UTF-8 names stay readable. */
    name_escape("caf\xc3\xa9", out, sizeof(out));
    EXPECT_STR(out, "caf\xc3\xa9");
}

static void escape_truncates(void)
{
    char out[16];
    char small[4] = "xyz";

    name_escape("abcdefghijklmnopqrstuvwxyz", out, sizeof(out));
    EXPECT(strlen(out) < sizeof(out));
    EXPECT_STR(out, "abcdefghijk...");
    /* An escape sequence is never cut in half. */
    name_escape("abcdefghi\n\n\n\n", out, sizeof(out));
    EXPECT(strlen(out) < sizeof(out));
    EXPECT_STR(out, "abcdefghi...");
    /* A zero-length buffer is left alone. */
    name_escape("abc", small, 0);
    EXPECT_STR(small, "xyz");
    /* Too small for "...": cut to nothing, within the buffer (fuzz_names
     * found 4 bytes written into 3). */
    char tiny[8] = "ZZZZZZZ";
    name_escape("a/b", tiny, 3);
    EXPECT(tiny[0] == '\0' && tiny[3] == 'Z');
    name_escape("a/b", tiny, 4);
    EXPECT_STR(tiny, "...");
}

int main(void)
{
    RUN(vm_names_accepted);
    RUN(vm_names_refused);
    RUN(vm_name_message_escaped);
    RUN(snapshot_names_accepted);
    RUN(snapshot_names_refused);
    RUN(snapshot_names_bad_utf8_refused);
    RUN(target_names);
    RUN(escape_plain_and_controls);
    RUN(escape_truncates);
    return unit_done();
}
