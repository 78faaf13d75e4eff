#include "supervisor/snapshot_meta.h"

#include <errno.h>
#include <fcntl.h>
#include <libxml/tree.h>
#include <libxml/xmlsave.h>
#include <libxml/xmlstring.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/domain_xml.h"
#include "common/fileutil.h"
#include "common/log.h"
#include "common/names.h"
#include "common/xml_lib.h"
#include "common/xml_safe.h"

static const char *const state_names[] = {
    [SNAPSHOT_STATE_NONE] = "nostate",      [SNAPSHOT_STATE_RUNNING] = "running",
    [SNAPSHOT_STATE_BLOCKED] = "blocked",   [SNAPSHOT_STATE_PAUSED] = "paused",
    [SNAPSHOT_STATE_SHUTDOWN] = "shutdown", [SNAPSHOT_STATE_SHUTOFF] = "shutoff",
    [SNAPSHOT_STATE_CRASHED] = "crashed",   [SNAPSHOT_STATE_DISK_SNAPSHOT] = "disk-snapshot",
};

const char *snapshot_state_name(enum snapshot_state state)
{
    if ((size_t)state >= sizeof(state_names) / sizeof(state_names[0]))
        return "unknown";
    return state_names[state];
}

void snapshot_def_free(struct snapshot_def *def)
{
    if (def == NULL)
        return;
    free(def->name);
    free(def->description);
    free(def->parent);
    for (size_t i = 0; i < def->ndisks; i++)
        free(def->disks[i].name);
    free(def->disks);
    free(def->domain_xml);
    free(def);
}

/* libxml2 returns NULL only when it runs out of memory; like xcalloc, give
 * up then, since no caller could do anything sensible. */
static void *xml_oom_check(void *p)
{
    if (p == NULL) {
        log_err("out of memory building XML");
        abort();
    }
    return p;
}

/* The element's text exactly as written (libvirt does not trim names or
 * descriptions either, and a snapshot name may start with a space); NULL
 * when empty. */
static char *raw_text(xmlNodePtr node)
{
    xmlChar *raw = xml_lib.node_get_content(node);
    char *out = NULL;

    if (raw == NULL)
        return NULL;
    if (raw[0] != '\0')
        out = xstrdup((const char *)raw);
    xml_lib.free(raw);
    return out;
}

/* Serialises node (unformatted, raw UTF-8) through a document of its own, so
 * that namespaces declared on its ancestors are declared in the copy. */
static char *node_to_string(xmlNodePtr node, struct cerr *e)
{
    xmlDocPtr doc = xml_oom_check(xml_lib.new_doc(BAD_CAST "1.0"));
    xmlBufferPtr buf = xml_oom_check(xml_lib.buffer_create());
    xmlSaveCtxtPtr save;
    char *out = NULL;

    xml_lib.doc_set_root_element(doc, xml_oom_check(xml_lib.doc_copy_node(node, doc, 1)));
    save = xml_oom_check(xml_lib.save_to_buffer(buf, "UTF-8", XML_SAVE_NO_DECL));
    if (xml_lib.save_tree(save, xml_lib.doc_get_root_element(doc)) < 0 ||
        xml_lib.save_close(save) < 0)
        cerr_set(e, CE_INVALID_XML, "cannot serialise the <%s> element", (const char *)node->name);
    else
        out = xstrdup((const char *)xml_lib.buffer_content(buf));
    xml_lib.buffer_free(buf);
    xml_lib.free_doc(doc);
    return out;
}

static int parse_state(const char *text, enum snapshot_state *state, struct cerr *e)
{
    /* From 1: "nostate" is refused, as libvirt does. */
    for (size_t i = SNAPSHOT_STATE_NONE + 1; i < sizeof(state_names) / sizeof(state_names[0]);
         i++) {
        if (strcmp(text, state_names[i]) == 0) {
            *state = (enum snapshot_state)i;
            return 0;
        }
    }
    cerr_set(e, CE_INVALID_XML, "invalid snapshot state '%.64s'", text);
    return -1;
}

static int parse_creation_time(const char *text, long long *out, struct cerr *e)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(text, &end, 10);
    /* Negative values are refused because -1 means "absent" in memory. */
    if (errno != 0 || end == text || *end != '\0' || v < 0) {
        cerr_set(e, CE_INVALID_XML,
                 "invalid creationTime '%.64s': expected seconds since the epoch", text);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_name_and_parent(xmlNodePtr root, struct snapshot_def *def, struct cerr *e)
{
    xmlNodePtr parent = xml_child(root, "parent");

    def->name = raw_text(xml_child(root, "name"));
    if (def->name == NULL) {
        cerr_set(e, CE_INVALID_XML, "snapshot XML has no <name>");
        return -1;
    }
    if (!name_snapshot_valid(def->name, e))
        return -1;
    if (parent == NULL)
        return 0;
    def->parent = raw_text(xml_child(parent, "name"));
    if (def->parent == NULL) {
        cerr_set(e, CE_INVALID_XML, "<parent> of snapshot '%s' has no <name>", def->name);
        return -1;
    }
    return name_snapshot_valid(def->parent, e) ? 0 : -1;
}

static int parse_state_and_time(xmlNodePtr root, unsigned int flags, struct snapshot_def *def,
                                struct cerr *e)
{
    char *state = xml_node_text(xml_child(root, "state"));
    char *ctime = xml_node_text(xml_child(root, "creationTime"));
    int rc = -1;

    if ((flags & SNAPSHOT_PARSE_REDEFINE) && (state == NULL || ctime == NULL)) {
        cerr_set(e, CE_INVALID_XML, "snapshot '%s' must have a <%s> to be redefined", def->name,
                 state == NULL ? "state" : "creationTime");
        goto out;
    }
    if (state != NULL && parse_state(state, &def->state, e) < 0)
        goto out;
    if (ctime != NULL && parse_creation_time(ctime, &def->creation_time, e) < 0)
        goto out;
    rc = 0;
out:
    free(state);
    free(ctime);
    return rc;
}

/* "internal" -> true, "no" -> false; corral keeps only internal snapshots,
 * so an external or manual one is refused rather than silently rewritten as
 * "no" the next time the file is saved. */
static int parse_location(const char *loc, const char *what, bool *internal, struct cerr *e)
{
    if (strcmp(loc, "internal") == 0)
        *internal = true;
    else if (strcmp(loc, "no") == 0)
        *internal = false;
    else if (strcmp(loc, "external") == 0 || strcmp(loc, "manual") == 0) {
        cerr_set(e, CE_UNSUPPORTED, "%s: snapshot='%s' is not supported, only internal snapshots",
                 what, loc);
        return -1;
    } else {
        cerr_set(e, CE_INVALID_XML, "%s: invalid snapshot location '%.64s'", what, loc);
        return -1;
    }
    return 0;
}

static int parse_memory(xmlNodePtr root, struct snapshot_def *def, struct cerr *e)
{
    char *loc = xml_node_prop(xml_child(root, "memory"), "snapshot");
    int rc = 0;

    if (loc == NULL) {
        /* libvirt's default: no memory for a snapshot of a stopped VM or a
         * disk-only one, internal otherwise. */
        def->memory_internal = def->state != SNAPSHOT_STATE_NONE &&
                               def->state != SNAPSHOT_STATE_SHUTOFF &&
                               def->state != SNAPSHOT_STATE_DISK_SNAPSHOT;
        return 0;
    }
    rc = parse_location(loc, "<memory>", &def->memory_internal, e);
    free(loc);
    return rc;
}

static int parse_disk(xmlNodePtr node, struct snapshot_def *def, struct cerr *e)
{
    struct snapshot_disk *disk = &def->disks[def->ndisks];
    char *loc;
    int rc = 0;

    disk->name = xml_node_prop(node, "name");
    if (!name_target_valid(disk->name, e)) {
        free(disk->name);
        disk->name = NULL;
        return -1;
    }
    def->ndisks++;
    for (size_t i = 0; i + 1 < def->ndisks; i++) {
        if (strcmp(def->disks[i].name, disk->name) == 0) {
            cerr_set(e, CE_INVALID_XML, "disk '%s' is listed twice in snapshot '%s'", disk->name,
                     def->name);
            return -1;
        }
    }
    loc = xml_node_prop(node, "snapshot");
    if (loc != NULL)
        rc = parse_location(loc, disk->name, &disk->internal, e);
    else if (xml_child(node, "source") != NULL) {
        /* libvirt: a new image path implies an external snapshot. */
        cerr_set(e, CE_UNSUPPORTED, "%s: external disk snapshots are not supported", disk->name);
        rc = -1;
    } else
        disk->internal = true;
    free(loc);
    return rc;
}

static int parse_disks(xmlNodePtr root, struct snapshot_def *def, struct cerr *e)
{
    xmlNodePtr disks = xml_child(root, "disks");
    size_t n = 0;

    if (disks == NULL)
        return 0;
    for (xmlNodePtr c = disks->children; c != NULL; c = c->next)
        n += c->type == XML_ELEMENT_NODE && strcmp((const char *)c->name, "disk") == 0;
    def->disks = xcalloc(n, sizeof(*def->disks));
    for (xmlNodePtr c = disks->children; c != NULL; c = c->next) {
        if (c->type != XML_ELEMENT_NODE || strcmp((const char *)c->name, "disk") != 0)
            continue;
        if (parse_disk(c, def, e) < 0)
            return -1;
    }
    return 0;
}

static int parse_active(xmlNodePtr root, struct snapshot_def *def, struct cerr *e)
{
    char *active = xml_node_text(xml_child(root, "active"));
    int rc = 0;

    if (active == NULL)
        return 0;
    if (strcmp(active, "1") == 0)
        def->current = true;
    else if (strcmp(active, "0") != 0) {
        cerr_set(e, CE_INVALID_XML, "<active> of snapshot '%s' must be 0 or 1, not '%.16s'",
                 def->name, active);
        rc = -1;
    }
    free(active);
    return rc;
}

static int parse_root(xmlNodePtr root, unsigned int flags, struct snapshot_def *def, struct cerr *e)
{
    xmlNodePtr domain;

    if (strcmp((const char *)root->name, "domainsnapshot") != 0) {
        cerr_set(e, CE_INVALID_XML, "root element is <%.64s>, expected <domainsnapshot>",
                 (const char *)root->name);
        return -1;
    }
    if (parse_name_and_parent(root, def, e) < 0 || parse_state_and_time(root, flags, def, e) < 0 ||
        parse_memory(root, def, e) < 0 || parse_disks(root, def, e) < 0 ||
        parse_active(root, def, e) < 0)
        return -1;
    def->description = raw_text(xml_child(root, "description"));
    domain = (flags & SNAPSHOT_PARSE_NO_DOMAIN) ? NULL : xml_child(root, "domain");
    if (domain != NULL && (def->domain_xml = node_to_string(domain, e)) == NULL)
        return -1;
    return 0;
}

struct snapshot_def *snapshot_def_parse(const char *xml, size_t len, unsigned int flags,
                                        struct cerr *e)
{
    xmlDocPtr doc = xml_parse_untrusted(xml, len, XML_UNTRUSTED_MAX, "snapshot XML", e);
    struct snapshot_def *def;

    if (doc == NULL)
        return NULL;
    def = xcalloc(1, sizeof(*def));
    def->creation_time = -1;
    if (parse_root(xml_lib.doc_get_root_element(doc), flags, def, e) < 0) {
        snapshot_def_free(def);
        def = NULL;
    }
    xml_lib.free_doc(doc);
    return def;
}

/* XML 1.0 cannot carry C0 control characters other than tab, newline and
 * carriage return even as character references: a description holding one
 * would make a file that no parser reads back. */
static bool text_storable(const char *s)
{
    if (!xml_lib.check_utf8((const unsigned char *)s))
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r')
            return false;
    }
    return true;
}

int snapshot_def_check_storable(const struct snapshot_def *def, struct cerr *e)
{
    /* text_storable checks UTF-8 as libxml2 will read it. */
    if (xml_lib_load(e) < 0 || !name_snapshot_valid(def->name, e))
        return -1;
    if (def->parent != NULL && !name_snapshot_valid(def->parent, e))
        return -1;
    if (def->description != NULL && !text_storable(def->description)) {
        cerr_set(e, CE_INVALID_XML,
                 "description of snapshot '%s' is not UTF-8 or holds a control character",
                 def->name);
        return -1;
    }
    for (size_t i = 0; i < def->ndisks; i++) {
        if (!name_target_valid(def->disks[i].name, e))
            return -1;
    }
    return 0;
}

static xmlNodePtr add_text(xmlNodePtr parent, const char *name, const char *text)
{
    return xml_oom_check(xml_lib.new_text_child(parent, NULL, BAD_CAST name, BAD_CAST text));
}

static void add_location(xmlNodePtr node, bool internal)
{
    xml_oom_check(
        xml_lib.new_prop(node, BAD_CAST "snapshot", BAD_CAST(internal ? "internal" : "no")));
}

static void add_disks(xmlNodePtr root, const struct snapshot_def *def)
{
    xmlNodePtr disks;

    if (def->ndisks == 0)
        return;
    disks = add_text(root, "disks", NULL);
    for (size_t i = 0; i < def->ndisks; i++) {
        xmlNodePtr disk = add_text(disks, "disk", NULL);

        xml_oom_check(xml_lib.new_prop(disk, BAD_CAST "name", BAD_CAST def->disks[i].name));
        add_location(disk, def->disks[i].internal);
    }
}

/* Re-parses the stored <domain> rather than pasting the string, so that the
 * output is well formed whatever the string holds. */
static int add_domain(xmlDocPtr doc, xmlNodePtr root, const char *domain_xml, struct cerr *e)
{
    xmlDocPtr dom =
        xml_parse_untrusted(domain_xml, strlen(domain_xml), XML_UNTRUSTED_MAX, "domain XML", e);
    xmlNodePtr top;

    if (dom == NULL)
        return -1;
    top = xml_lib.doc_get_root_element(dom);
    if (strcmp((const char *)top->name, "domain") != 0) {
        cerr_set(e, CE_INVALID_XML, "embedded domain XML has root <%.64s>, expected <domain>",
                 (const char *)top->name);
        xml_lib.free_doc(dom);
        return -1;
    }
    xml_lib.add_child(root, xml_oom_check(xml_lib.doc_copy_node(top, doc, 1)));
    xml_lib.free_doc(dom);
    return 0;
}

static char *doc_to_string(xmlDocPtr doc, struct cerr *e)
{
    xmlBufferPtr buf = xml_oom_check(xml_lib.buffer_create());
    xmlSaveCtxtPtr save =
        xml_oom_check(xml_lib.save_to_buffer(buf, "UTF-8", XML_SAVE_FORMAT | XML_SAVE_NO_DECL));
    char *out = NULL;

    if (xml_lib.save_doc(save, doc) < 0 || xml_lib.save_close(save) < 0)
        cerr_set(e, CE_INVALID_XML, "cannot serialise snapshot XML");
    else
        out = xstrdup((const char *)xml_lib.buffer_content(buf));
    xml_lib.buffer_free(buf);
    return out;
}

char *snapshot_def_format(const struct snapshot_def *def, bool with_active, struct cerr *e)
{
    xmlDocPtr doc;
    xmlNodePtr root;
    char *out = NULL;

    if (snapshot_def_check_storable(def, e) < 0)
        return NULL;
    doc = xml_oom_check(xml_lib.new_doc(BAD_CAST "1.0"));
    root = xml_oom_check(xml_lib.new_node(NULL, BAD_CAST "domainsnapshot"));
    xml_lib.doc_set_root_element(doc, root);
    /* libvirt's element order. */
    add_text(root, "name", def->name);
    if (def->description != NULL)
        add_text(root, "description", def->description);
    if (def->state != SNAPSHOT_STATE_NONE)
        add_text(root, "state", snapshot_state_name(def->state));
    if (def->parent != NULL)
        add_text(add_text(root, "parent", NULL), "name", def->parent);
    if (def->creation_time >= 0) {
        char num[32];

        snprintf(num, sizeof(num), "%lld", def->creation_time);
        add_text(root, "creationTime", num);
    }
    add_location(add_text(root, "memory", NULL), def->memory_internal);
    add_disks(root, def);
    if (def->domain != NULL)
        xml_lib.add_child(root, domain_def_build(def->domain, doc));
    else if (def->domain_xml != NULL && add_domain(doc, root, def->domain_xml, e) < 0)
        goto out;
    if (with_active)
        add_text(root, "active", def->current ? "1" : "0");
    out = doc_to_string(doc, e);
out:
    xml_lib.free_doc(doc);
    return out;
}

char *snapshot_meta_path(const char *dir, const char *name)
{
    return xasprintf("%s/%s.xml", dir, name);
}

int snapshot_meta_stage(const char *dir, const struct snapshot_def *def, char **staged,
                        struct cerr *e)
{
    char *xml, *path;
    int rc;

    *staged = NULL;
    if (!name_snapshot_valid(def->name, e))
        return -1;
    if (strlen(def->name) > SNAPSHOT_META_NAME_MAX) {
        cerr_set(e, CE_INVALID_NAME,
                 "snapshot name is %zu bytes long; its metadata file name allows at most %d",
                 strlen(def->name), SNAPSHOT_META_NAME_MAX);
        return -1;
    }
    xml = snapshot_def_format(def, true, e);
    if (xml == NULL)
        return -1;
    path = snapshot_meta_path(dir, def->name);
    rc = file_stage(path, xml, strlen(xml), 0600, staged, e);
    free(path);
    free(xml);
    return rc;
}

/* What snapshot_meta_syncs_defer holds back: which kinds, the files whose
 * removal waits (paths, malloc'd), and whether a directory sync is owed. */
static struct {
    unsigned int what;
    char **removals;
    size_t nremovals;
    bool owed;
} deferred;

void snapshot_meta_syncs_defer(unsigned int what)
{
    deferred.what = what;
}

int snapshot_meta_syncs_flush(const char *dir, struct cerr *e)
{
    deferred.what = 0;
    while (deferred.nremovals > 0) {
        char *path = deferred.removals[deferred.nremovals - 1];
        if (file_remove_unsynced(path, e) < 0)
            return -1;
        free(path);
        deferred.nremovals--;
    }
    free(deferred.removals);
    deferred.removals = NULL;
    if (!deferred.owed)
        return 0;
    if (dir_fsync(dir, e) < 0)
        return -1;
    deferred.owed = false;
    return 0;
}

int snapshot_meta_commit(const char *dir, const char *name, char *staged, struct cerr *e)
{
    char *path;
    int rc;

    if (!name_snapshot_valid(name, e)) {
        file_unstage(staged);
        return -1;
    }
    path = snapshot_meta_path(dir, name);
    if (deferred.what & SNAPSHOT_META_DEFER_COMMITS) {
        rc = file_commit_unsynced(staged, path, e);
        deferred.owed |= rc == 0;
    } else
        rc = file_commit(staged, path, e);
    free(path);
    return rc;
}

int snapshot_meta_write(const char *dir, const struct snapshot_def *def, struct cerr *e)
{
    char *staged;

    if (snapshot_meta_stage(dir, def, &staged, e) < 0)
        return -1;
    return snapshot_meta_commit(dir, def->name, staged, e);
}

static ssize_t read_full(int fd, char *buf, size_t len)
{
    size_t got = 0;

    while (got < len) {
        ssize_t r = read(fd, buf + got, len - got);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

char *snapshot_meta_read_file(const char *path, size_t *len, struct cerr *e)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    char *buf = NULL;
    ssize_t got;

    if (fd < 0) {
        int err = errno;

        cerr_set(e, CE_SYSTEM, "cannot open %s: %s", path, strerror(err));
        errno = err;
        return NULL;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        cerr_set(e, CE_SYSTEM, "%s is not a regular file", path);
        goto out;
    }
    if (st.st_size > XML_UNTRUSTED_MAX) {
        cerr_set(e, CE_TOO_LARGE, "%s is %lld bytes, larger than the limit of %d bytes", path,
                 (long long)st.st_size, XML_UNTRUSTED_MAX);
        goto out;
    }
    buf = xcalloc(1, (size_t)st.st_size + 1);
    got = read_full(fd, buf, (size_t)st.st_size);
    if (got < 0) {
        cerr_set(e, CE_SYSTEM, "cannot read %s: %s", path, strerror(errno));
        free(buf);
        buf = NULL;
        goto out;
    }
    *len = (size_t)got;
out:
    close(fd);
    return buf;
}

int snapshot_meta_domain(const char *dir, const char *name, char **domain_xml, struct cerr *e)
{
    struct snapshot_def *def = NULL;
    size_t len = 0;
    char *path, *buf;

    *domain_xml = NULL;
    if (!name_snapshot_valid(name, e))
        return -1;
    path = snapshot_meta_path(dir, name);
    buf = snapshot_meta_read_file(path, &len, e);
    if (buf == NULL && errno == ENOENT) {
        free(path);
        return 0;
    }
    if (buf != NULL)
        def = snapshot_def_parse(buf, len, 0, e);
    free(buf);
    if (def != NULL && strcmp(def->name, name) != 0) {
        cerr_set(e, CE_INVALID_XML, "%s holds snapshot '%.64s', not '%s'", path, def->name, name);
        snapshot_def_free(def);
        def = NULL;
    }
    if (def == NULL) {
        char msg[CERR_MSG_MAX];

        memcpy(msg, e->msg, sizeof(msg));
        cerr_set(e, e->code, "cannot read back the <domain> of snapshot '%s': %s", name, msg);
        free(path);
        return -1;
    }
    *domain_xml = def->domain_xml;
    def->domain_xml = NULL;
    snapshot_def_free(def);
    free(path);
    return 0;
}

int snapshot_meta_remove(const char *dir, const char *name, struct cerr *e)
{
    char *path;
    int rc;

    /* The name becomes a path: never unlink outside dir. */
    if (!name_snapshot_valid(name, e))
        return -1;
    path = snapshot_meta_path(dir, name);
    if (deferred.what & SNAPSHOT_META_DEFER_REMOVES) {
        /* Unlinking a file with data waits for the block's discard here
         * (ext4 mounted with discard): that too can follow the answer. */
        deferred.removals =
            xreallocarray(deferred.removals, deferred.nremovals + 1, sizeof(*deferred.removals));
        deferred.removals[deferred.nremovals++] = path;
        deferred.owed = true;
        return 0;
    }
    rc = file_remove_durable(path, e);
    free(path);
    return rc;
}
