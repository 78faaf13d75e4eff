/* snapshot_meta: the libvirt <domainsnapshot> document and its file. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <dirent.h>

#include "common/fileutil.h"
#include "common/xml_safe.h"
#include "supervisor/snapshot_meta.h"
#include "tests/unit/unit.h"

#define DOMAIN_XML                                                                                 \
    "<domain type=\"kvm\">\n    <name>vm1</name>\n    <uuid>6d3d2a6c-2c1a-4c59-9a4e-"              \
    "0e5fb3b0e1a1</uuid>\n  </domain>"

/* What libvirt 9.x writes into /var/lib/libvirt/qemu/snapshot/VM/NAME.xml,
 * including elements corral ignores (<cookie>, <inactiveDomain>). */
static const char libvirt_file[] =
    "<!--\nWARNING: THIS IS AN AUTO-GENERATED FILE. CHANGES TO IT ARE LIKELY TO BE\n"
    "OVERWRITTEN AND LOST. Changes to this xml configuration should be made using:\n"
    "  virsh snapshot-edit\nor other application using the libvirt API.\n-->\n\n"
    "<domainsnapshot>\n"
    "  <name>s1</name>\n"
    "  <description>before upgrade</description>\n"
    "  <state>running</state>\n"
    "  <parent>\n    <name>s0</name>\n  </parent>\n"
    "  <creationTime>1795316170</creationTime>\n"
    "  <memory snapshot='internal'/>\n"
    "  <disks>\n"
    "    <disk name='vda' snapshot='internal'/>\n"
    "    <disk name='vdc' snapshot='no'/>\n"
    "  </disks>\n"
    "  <domain type='kvm'>\n    <name>vm1</name>\n    <memory unit='KiB'>1048576</memory>\n"
    "  </domain>\n"
    "  <inactiveDomain type='kvm'><name>vm1</name></inactiveDomain>\n"
    "  <cookie>\n    <cpu mode='custom' match='exact' check='partial'/>\n  </cookie>\n"
    "  <active>1</active>\n"
    "</domainsnapshot>\n";

static struct snapshot_def *parse_str(const char *xml, unsigned int flags, struct cerr *e)
{
    return snapshot_def_parse(xml, strlen(xml), flags, e);
}

/* A definition with every field set, names and description awkward. */
static struct snapshot_def *full_def(void)
{
    struct snapshot_def *def = xcalloc(1, sizeof(*def));

    def->name = xstrdup("my snap \xc3\xa9t\xc3\xa9 \xe2\x9c\x93");
    def->description = xstrdup("before <upgrade> & 'test' \"q\"\n\xc3\xbc second line ]]>");
    def->state = SNAPSHOT_STATE_PAUSED;
    def->parent = xstrdup("base snap \xe6\x97\xa5");
    def->creation_time = 1795316170;
    def->memory_internal = true;
    def->ndisks = 2;
    def->disks = xcalloc(2, sizeof(*def->disks));
    def->disks[0].name = xstrdup("vda");
    def->disks[0].internal = true;
    def->disks[1].name = xstrdup("vdc");
    def->domain_xml = xstrdup(DOMAIN_XML);
    def->current = true;
    return def;
}

static bool defs_equal(const struct snapshot_def *a, const struct snapshot_def *b)
{
    if (strcmp(a->name, b->name) != 0 || a->state != b->state ||
        a->creation_time != b->creation_time || a->memory_internal != b->memory_internal ||
        a->current != b->current || a->ndisks != b->ndisks)
        return false;
    if ((a->parent == NULL) != (b->parent == NULL) ||
        (a->parent != NULL && strcmp(a->parent, b->parent) != 0))
        return false;
    if ((a->description == NULL) != (b->description == NULL) ||
        (a->description != NULL && strcmp(a->description, b->description) != 0))
        return false;
    if ((a->domain_xml == NULL) != (b->domain_xml == NULL) ||
        (a->domain_xml != NULL && strcmp(a->domain_xml, b->domain_xml) != 0))
        return false;
    for (size_t i = 0; i < a->ndisks; i++) {
        if (strcmp(a->disks[i].name, b->disks[i].name) != 0 ||
            a->disks[i].internal != b->disks[i].internal)
            return false;
    }
    return true;
}

static void test_round_trip(void)
{
    struct cerr e = {0};
    struct snapshot_def *def = full_def(), *back;
    char *xml = snapshot_def_format(def, true, &e), *again;

    EXPECT(xml != NULL);
    EXPECT_CONTAINS(xml, "<description>before &lt;upgrade&gt; &amp; 'test' \"q\"\n\xc3\xbc");
    EXPECT_CONTAINS(xml, "<name>my snap \xc3\xa9t\xc3\xa9 \xe2\x9c\x93</name>");
    EXPECT_CONTAINS(xml, "<parent>\n    <name>base snap \xe6\x97\xa5</name>\n  </parent>");
    EXPECT_CONTAINS(xml, "<state>paused</state>");
    EXPECT_CONTAINS(xml, "<creationTime>1795316170</creationTime>");
    EXPECT_CONTAINS(xml, "<memory snapshot=\"internal\"/>");
    EXPECT_CONTAINS(xml, "<disk name=\"vdc\" snapshot=\"no\"/>");
    EXPECT_CONTAINS(xml, "<active>1</active>");
    back = parse_str(xml, SNAPSHOT_PARSE_REDEFINE, &e);
    EXPECT(back != NULL);
    EXPECT(defs_equal(def, back));
    /* Formatting is stable: what is read back formats identically. */
    again = snapshot_def_format(back, true, &e);
    EXPECT_STR(again, xml);
    free(again);
    free(xml);
    snapshot_def_free(back);
    snapshot_def_free(def);
}

static void test_dumpxml_has_no_active(void)
{
    struct cerr e = {0};
    struct snapshot_def *def = full_def();
    char *pub = snapshot_def_format(def, false, &e), *disk;

    EXPECT(pub != NULL);
    EXPECT(strstr(pub, "active") == NULL);
    EXPECT_CONTAINS(pub, "<domain type=\"kvm\">");
    def->current = false;
    disk = snapshot_def_format(def, true, &e);
    EXPECT_CONTAINS(disk, "<active>0</active>");
    free(disk);
    free(pub);
    snapshot_def_free(def);
}

static void test_parse_libvirt_file(void)
{
    struct cerr e = {0};
    struct snapshot_def *def = parse_str(libvirt_file, SNAPSHOT_PARSE_REDEFINE, &e);

    EXPECT(def != NULL);
    EXPECT_STR(def->name, "s1");
    EXPECT_STR(def->description, "before upgrade");
    EXPECT(def->state == SNAPSHOT_STATE_RUNNING);
    EXPECT_STR(def->parent, "s0");
    EXPECT(def->creation_time == 1795316170LL);
    EXPECT(def->memory_internal);
    EXPECT(def->ndisks == 2);
    EXPECT_STR(def->disks[0].name, "vda");
    EXPECT(def->disks[0].internal);
    EXPECT_STR(def->disks[1].name, "vdc");
    EXPECT(!def->disks[1].internal);
    EXPECT(def->current);
    /* The <domain> element, verbatim, and nothing of the ignored ones. */
    EXPECT_STR(def->domain_xml, "<domain type=\"kvm\">\n    <name>vm1</name>\n"
                                "    <memory unit=\"KiB\">1048576</memory>\n  </domain>");
    snapshot_def_free(def);
}

static void test_parse_minimal_and_defaults(void)
{
    struct cerr e = {0};
    struct snapshot_def *def = parse_str("<domainsnapshot><name>a</name></domainsnapshot>", 0, &e);

    EXPECT(def != NULL);
    EXPECT(def->state == SNAPSHOT_STATE_NONE);
    EXPECT(def->creation_time == -1);
    EXPECT(def->parent == NULL && def->description == NULL && def->domain_xml == NULL);
    EXPECT(!def->current && def->ndisks == 0);
    snapshot_def_free(def);
    /* Memory defaults as libvirt's: none for a stopped VM, else internal;
     * a disk without snapshot= is internal. */
    def = parse_str("<domainsnapshot><name>b</name><state>shutoff</state>"
                    "<creationTime>5</creationTime><disks><disk name='vda'/></disks>"
                    "</domainsnapshot>",
                    SNAPSHOT_PARSE_REDEFINE, &e);
    EXPECT(def != NULL);
    EXPECT(!def->memory_internal);
    EXPECT(def->ndisks == 1 && def->disks[0].internal);
    snapshot_def_free(def);
    def = parse_str("<domainsnapshot><name>c</name><state>running</state>"
                    "<creationTime>5</creationTime></domainsnapshot>",
                    SNAPSHOT_PARSE_REDEFINE, &e);
    EXPECT(def != NULL);
    EXPECT(def->memory_internal);
    snapshot_def_free(def);
}

/* Parses xml expecting a failure with code; returns the message. */
static const char *parse_fails(const char *xml, unsigned int flags, enum corral_err code)
{
    static struct cerr e;
    struct snapshot_def *def;

    cerr_clear(&e);
    def = parse_str(xml, flags, &e);
    if (def != NULL) {
        snapshot_def_free(def);
        return NULL;
    }
    if (e.code != code) {
        printf("# code %d for %s: %s\n", e.code, xml, e.msg);
        return NULL;
    }
    return e.msg;
}

#define R SNAPSHOT_PARSE_REDEFINE
#define HEAD "<domainsnapshot><name>s</name><state>running</state><creationTime>1</creationTime>"

static void test_parse_rejects(void)
{
    EXPECT_CONTAINS(parse_fails("<domainsnapshot><name>s</name><creationTime>1</creationTime>"
                                "</domainsnapshot>",
                                R, CE_INVALID_XML),
                    "<state>");
    EXPECT_CONTAINS(parse_fails("<domainsnapshot><name>s</name><state>running</state>"
                                "</domainsnapshot>",
                                R, CE_INVALID_XML),
                    "<creationTime>");
    EXPECT_CONTAINS(parse_fails("<snapshot><name>s</name></snapshot>", 0, CE_INVALID_XML),
                    "expected <domainsnapshot>");
    EXPECT_CONTAINS(parse_fails("<domainsnapshot/>", 0, CE_INVALID_XML), "no <name>");
    EXPECT_CONTAINS(
        parse_fails("<domainsnapshot><name>a/b</name></domainsnapshot>", 0, CE_INVALID_NAME),
        "'/'");
    EXPECT_CONTAINS(
        parse_fails("<domainsnapshot><name>.x</name></domainsnapshot>", 0, CE_INVALID_NAME), "'.'");
    EXPECT(parse_fails("<domainsnapshot><name>s</name><parent><name>../x</name></parent>"
                       "</domainsnapshot>",
                       0, CE_INVALID_NAME) != NULL);
    EXPECT(parse_fails("<domainsnapshot><name>s</name><parent/></domainsnapshot>", 0,
                       CE_INVALID_XML) != NULL);
    EXPECT_CONTAINS(parse_fails("<domainsnapshot><name>s</name><state>nostate</state>"
                                "</domainsnapshot>",
                                0, CE_INVALID_XML),
                    "invalid snapshot state");
    EXPECT(parse_fails("<domainsnapshot><name>s</name><creationTime>12abc</creationTime>"
                       "</domainsnapshot>",
                       0, CE_INVALID_XML) != NULL);
    EXPECT(parse_fails("<domainsnapshot><name>s</name><creationTime>-5</creationTime>"
                       "</domainsnapshot>",
                       0, CE_INVALID_XML) != NULL);
    EXPECT(parse_fails(HEAD "<active>2</active></domainsnapshot>", R, CE_INVALID_XML) != NULL);
    EXPECT(parse_fails(HEAD "<memory snapshot='external' file='/m'/></domainsnapshot>", R,
                       CE_UNSUPPORTED) != NULL);
    EXPECT(parse_fails(HEAD "<memory snapshot='bogus'/></domainsnapshot>", R, CE_INVALID_XML) !=
           NULL);
    EXPECT(parse_fails(HEAD "<disks><disk name='vda' snapshot='external'/></disks>"
                            "</domainsnapshot>",
                       R, CE_UNSUPPORTED) != NULL);
    EXPECT(parse_fails(HEAD "<disks><disk name='vda'><source file='/x.qcow2'/></disk></disks>"
                            "</domainsnapshot>",
                       R, CE_UNSUPPORTED) != NULL);
    EXPECT(parse_fails(HEAD "<disks><disk name='/dev/vda'/></disks></domainsnapshot>", R,
                       CE_INVALID_XML) != NULL);
    EXPECT_CONTAINS(parse_fails(HEAD "<disks><disk name='vda'/><disk name='vda'/></disks>"
                                     "</domainsnapshot>",
                                R, CE_INVALID_XML),
                    "twice");
    EXPECT(parse_fails("<domainsnapshot><name>s</name>", 0, CE_INVALID_XML) != NULL);
    EXPECT(parse_fails("", 0, CE_INVALID_XML) != NULL);
}

static void test_parse_refuses_bombs(void)
{
    const char *laughs =
        "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n<!ENTITY lol \"lol\">\n"
        "<!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
        "<!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n"
        "]>\n<domainsnapshot><name>&lol3;</name></domainsnapshot>";
    const char *external = "<!DOCTYPE d [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"
                           "<domainsnapshot><name>&x;</name></domainsnapshot>";
    size_t depth = 100000, big = XML_UNTRUSTED_MAX + 1;
    char *deep = xcalloc(depth * 7 + 64, 1), *huge, *p;
    const char *msg;

    EXPECT_CONTAINS(parse_fails(laughs, 0, CE_INVALID_XML), "DOCTYPE");
    EXPECT_CONTAINS(parse_fails(external, 0, CE_INVALID_XML), "DOCTYPE");
    p = deep + sprintf(deep, "<domainsnapshot><name>s</name>");
    for (size_t i = 0; i < depth; i++, p += 3)
        memcpy(p, "<a>", 3);
    for (size_t i = 0; i < depth; i++, p += 4)
        memcpy(p, "</a>", 4);
    strcpy(p, "</domainsnapshot>");
    msg = parse_fails(deep, 0, CE_INVALID_XML);
    free(deep);
    EXPECT(msg != NULL);
    huge = xcalloc(big + 1, 1);
    memset(huge, ' ', big);
    memcpy(huge, "<domainsnapshot><name>s</name>", 30);
    memcpy(huge + big - 17, "</domainsnapshot>", 17);
    msg = parse_fails(huge, 0, CE_TOO_LARGE);
    free(huge);
    EXPECT(msg != NULL);
}

static void test_domain_namespace_kept(void)
{
    struct cerr e = {0};
    const char *xml = "<domainsnapshot xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>"
                      "<name>s</name><domain type='kvm'><name>vm</name><qemu:commandline>"
                      "<qemu:arg value='-S'/></qemu:commandline></domain></domainsnapshot>";
    struct snapshot_def *def = parse_str(xml, 0, &e), *back;
    char *out;

    EXPECT(def != NULL);
    /* Declared on <domainsnapshot>, needed inside <domain>: the stored
     * element must declare it itself to stay well formed. */
    EXPECT_CONTAINS(def->domain_xml, "xmlns:qemu=\"http://libvirt.org/schemas/domain/qemu/1.0\"");
    out = snapshot_def_format(def, false, &e);
    EXPECT(out != NULL);
    back = parse_str(out, 0, &e);
    EXPECT(back != NULL);
    EXPECT_CONTAINS(back->domain_xml, "<qemu:arg value=\"-S\"/>");
    snapshot_def_free(back);
    free(out);
    snapshot_def_free(def);
}

static void test_format_refuses_unstorable(void)
{
    struct cerr e = {0};
    struct snapshot_def *def = full_def();
    char *out;

    free(def->description);
    def->description = xstrdup("bell \a here");
    EXPECT(snapshot_def_format(def, true, &e) == NULL);
    EXPECT(e.code == CE_INVALID_XML);
    free(def->description);
    def->description = NULL;
    free(def->domain_xml);
    def->domain_xml = xstrdup("<domain><name>x</domain>");
    EXPECT(snapshot_def_format(def, true, &e) == NULL);
    free(def->domain_xml);
    def->domain_xml = xstrdup("<notdomain/>");
    EXPECT(snapshot_def_format(def, true, &e) == NULL);
    EXPECT_CONTAINS(e.msg, "expected <domain>");
    free(def->domain_xml);
    def->domain_xml = NULL;
    free(def->disks[1].name);
    def->disks[1].name = xstrdup("../x");
    EXPECT(snapshot_def_format(def, true, &e) == NULL);
    free(def->disks[1].name);
    def->disks[1].name = xstrdup("vdc");
    out = snapshot_def_format(def, true, &e);
    EXPECT(out != NULL);
    free(out);
    snapshot_def_free(def);
}

static size_t count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    size_t n = 0;

    while (d != NULL && (de = readdir(d)) != NULL)
        n += de->d_name[0] != '.';
    if (d != NULL)
        closedir(d);
    return n;
}

static void test_write_and_remove(void)
{
    char dir[] = "/tmp/corral-snapmeta-XXXXXX";
    struct cerr e = {0};
    struct snapshot_def *def = full_def(), *back;
    char *path, *buf;
    struct stat st;
    size_t len;

    EXPECT(mkdtemp(dir) != NULL);
    path = snapshot_meta_path(dir, def->name);
    EXPECT_CONTAINS(path, "/my snap \xc3\xa9t\xc3\xa9 \xe2\x9c\x93.xml");
    EXPECT(snapshot_meta_write(dir, def, &e) == 0);
    EXPECT(stat(path, &st) == 0);
    EXPECT((st.st_mode & 0777) == 0600);
    EXPECT(count_entries(dir) == 1); /* no temporary file left */
    buf = file_read_all(path, XML_UNTRUSTED_MAX, &len, &e);
    EXPECT(buf != NULL);
    back = snapshot_def_parse(buf, len, SNAPSHOT_PARSE_REDEFINE, &e);
    free(buf);
    EXPECT(back != NULL);
    EXPECT(defs_equal(def, back));
    snapshot_def_free(back);
    EXPECT(snapshot_meta_remove(dir, def->name, &e) == 0);
    EXPECT(!path_exists(path));
    EXPECT(snapshot_meta_remove(dir, def->name, &e) == 0); /* already gone: fine */
    EXPECT(snapshot_meta_remove(dir, "../escape", &e) < 0);
    EXPECT(e.code == CE_INVALID_NAME);
    /* A name whose temporary file name would exceed NAME_MAX. */
    free(def->name);
    def->name = xcalloc(SNAPSHOT_META_NAME_MAX + 2, 1);
    memset(def->name, 'n', SNAPSHOT_META_NAME_MAX + 1);
    EXPECT(snapshot_meta_write(dir, def, &e) < 0);
    EXPECT(e.code == CE_INVALID_NAME);
    def->name[SNAPSHOT_META_NAME_MAX] = '\0';
    EXPECT(snapshot_meta_write(dir, def, &e) == 0);
    EXPECT(count_entries(dir) == 1);
    EXPECT(rm_rf(dir, &e) == 0);
    free(path);
    snapshot_def_free(def);
}

/* While syncs are deferred a write is in place at once, a removal only at
 * the flush; the flush then owes nothing more. */
static void test_deferred_syncs(void)
{
    char dir[] = "/tmp/corral-snapmeta-XXXXXX";
    struct cerr e = {0};
    struct snapshot_def *def = full_def();
    char *path;

    EXPECT(mkdtemp(dir) != NULL);
    path = snapshot_meta_path(dir, def->name);
    snapshot_meta_syncs_defer(SNAPSHOT_META_DEFER_COMMITS | SNAPSHOT_META_DEFER_REMOVES);
    EXPECT(snapshot_meta_write(dir, def, &e) == 0);
    EXPECT(path_exists(path) && count_entries(dir) == 1);
    EXPECT(snapshot_meta_remove(dir, def->name, &e) == 0);
    EXPECT(path_exists(path));
    EXPECT(snapshot_meta_syncs_flush(dir, &e) == 0);
    EXPECT(!path_exists(path) && count_entries(dir) == 0);
    EXPECT(snapshot_meta_syncs_flush(dir, &e) == 0);
    /* Past the flush, removals are immediate again. */
    EXPECT(snapshot_meta_write(dir, def, &e) == 0);
    EXPECT(snapshot_meta_remove(dir, def->name, &e) == 0);
    EXPECT(!path_exists(path));
    EXPECT(rm_rf(dir, &e) == 0);
    free(path);
    snapshot_def_free(def);
}

int main(void)
{
    RUN(test_round_trip);
    RUN(test_dumpxml_has_no_active);
    RUN(test_parse_libvirt_file);
    RUN(test_parse_minimal_and_defaults);
    RUN(test_parse_rejects);
    RUN(test_parse_refuses_bombs);
    RUN(test_domain_namespace_kept);
    RUN(test_format_refuses_unstorable);
    RUN(test_write_and_remove);
    RUN(test_deferred_syncs);
    return unit_done();
}
