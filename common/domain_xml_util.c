/* Element, attribute and number helpers of the domain XML parser and
 * formatter. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/domain_xml_int.h"
#include "common/fileutil.h"
#include "common/log.h"
#include "common/names.h"
#include "common/xml_lib.h"
#include "common/xml_safe.h"

/* Matches only elements outside any namespace, so that a foreign
 * <x:name xmlns:x='...'> can never stand in for the real <name>. */
bool dx_is_elem(xmlNodePtr n, const char *name)
{
    return n->ns == NULL && strcmp((const char *)n->name, name) == 0;
}

bool dx_is_one_of(xmlNodePtr n, const char *const *names, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        if (dx_is_elem(n, names[i]))
            return true;
    }
    return false;
}

/* The element's name as the document spells it (prefix included), escaped
 * for messages. */
void dx_elem_name(xmlNodePtr n, char *out, size_t outlen)
{
    char prefix[32], local[64];

    name_escape((const char *)n->name, local, sizeof(local));
    if (n->ns != NULL && n->ns->prefix != NULL) {
        name_escape((const char *)n->ns->prefix, prefix, sizeof(prefix));
        snprintf(out, outlen, "%s:%s", prefix, local);
    } else
        snprintf(out, outlen, "%s", local);
}

void dx_note_ignored_path(struct parse_ctx *c, const char *path)
{
    for (size_t i = 0; i < c->nignored; i++) {
        if (strcmp(c->ignored[i], path) == 0)
            return;
    }
    if (c->nignored == DOMAIN_IGNORED_MAX) {
        c->ignored_more = true;
        return;
    }
    snprintf(c->ignored[c->nignored++], DOMAIN_IGNORED_PATH_LEN, "%s", path);
}

void dx_note_ignored(struct parse_ctx *c, const char *parent, xmlNodePtr n)
{
    char name[DOMAIN_ELEM_NAME_LEN], path[DOMAIN_IGNORED_PATH_LEN];

    dx_elem_name(n, name, sizeof(name));
    snprintf(path, sizeof(path), "%s%s%s", parent, parent[0] != '\0' ? "/" : "", name);
    dx_note_ignored_path(c, path);
}

char *dx_ignored_line(const struct parse_ctx *c)
{
    static const char prefix[] = "ignored unsupported elements: ";
    static const char more[] = ", and more";
    size_t len = sizeof(prefix) + sizeof(more);
    char *out, *p;

    if (c->nignored == 0)
        return NULL;
    for (size_t i = 0; i < c->nignored; i++)
        len += strlen(c->ignored[i]) + 2;
    out = xcalloc(1, len);
    p = stpcpy(out, prefix);
    for (size_t i = 0; i < c->nignored; i++) {
        if (i > 0)
            p = stpcpy(p, ", ");
        p = stpcpy(p, c->ignored[i]);
    }
    if (c->ignored_more)
        stpcpy(p, more);
    return out;
}

int dx_unsupported(struct parse_ctx *c, const char *parent, xmlNodePtr n)
{
    char name[DOMAIN_ELEM_NAME_LEN];

    dx_elem_name(n, name, sizeof(name));
    cerr_set(c->e, CE_UNSUPPORTED, "%s/%s is not supported by corral", parent, name);
    return -1;
}

/* libvirt reads only the first of repeated elements; refusing repeats
 * instead keeps a second, different value from hiding in the document. */
int dx_duplicate(struct parse_ctx *c, const char *path)
{
    cerr_set(c->e, CE_INVALID_XML, "domain XML has more than one '%s' element", path);
    return -1;
}

int dx_once(struct parse_ctx *c, bool *seen, const char *path)
{
    if (*seen)
        return dx_duplicate(c, path);
    *seen = true;
    return 0;
}

/* Decimal digits only: strtoull alone would accept leading space, a sign
 * (wrapping "-1" to ULLONG_MAX) and trailing garbage. */
enum dx_num dx_parse_ull(const char *s, unsigned long long *out)
{
    char *end;

    if (s[0] < '0' || s[0] > '9')
        return DX_NUM_GARBAGE;
    errno = 0;
    *out = strtoull(s, &end, 10);
    if (*end != '\0')
        return DX_NUM_GARBAGE;
    return errno == ERANGE ? DX_NUM_RANGE : DX_NUM_OK;
}

int dx_uint_attr(struct parse_ctx *c, xmlNodePtr n, const char *name, const char *what,
                 unsigned int min, unsigned int max, unsigned int *out)
{
    char *text = xml_node_prop(n, name);
    char shown[64];
    unsigned long long v = 0;
    enum dx_num num;

    if (text == NULL)
        return 0;
    name_escape(text, shown, sizeof(shown));
    num = dx_parse_ull(text, &v);
    free(text);
    if (num == DX_NUM_GARBAGE) {
        cerr_set(c->e, CE_INVALID_XML, "%s='%s' is not a decimal integer", what, shown);
        return -1;
    }
    if (num == DX_NUM_RANGE || v < min || v > max) {
        cerr_set(c->e, CE_INVALID_XML, "%s='%s' is out of range (%u-%u)", what, shown, min, max);
        return -1;
    }
    *out = (unsigned int)v;
    return 0;
}

int dx_boot_order(struct parse_ctx *c, xmlNodePtr boot, const char *what, unsigned int *out)
{
    char *text = xml_node_prop(boot, "order");

    if (text == NULL) {
        cerr_set(c->e, CE_INVALID_XML, "%s: <boot> has no order attribute", what);
        return -1;
    }
    free(text);
    /* QEMU's bootindex is an int32; libvirt takes any positive int. */
    return dx_uint_attr(c, boot, "order", what, 1, 0x7fffffff, out);
}

int dx_enum_attr(struct parse_ctx *c, xmlNodePtr n, const char *name, const char *what,
                 const char *const *values, int dflt)
{
    char *text = xml_node_prop(n, name);
    char shown[64], list[256] = "";
    size_t used = 0;

    if (text == NULL)
        return dflt;
    for (int i = 0; values[i] != NULL; i++) {
        /* "" holds the place of a value no attribute spells. */
        if (values[i][0] == '\0')
            continue;
        if (strcmp(text, values[i]) == 0) {
            free(text);
            return i;
        }
        used += (size_t)snprintf(list + used, sizeof(list) - used, "%s'%s'", used > 0 ? ", " : "",
                                 values[i]);
        if (used >= sizeof(list))
            used = sizeof(list) - 1;
    }
    name_escape(text, shown, sizeof(shown));
    free(text);
    cerr_set(c->e, CE_UNSUPPORTED, "%s='%s' is not supported (only %s)", what, shown, list);
    return -1;
}

/* Paths go to QEMU and into messages: absolute, bounded, and free of
 * control characters that could forge log lines or split arguments. */
int dx_check_path(struct parse_ctx *c, const char *what, const char *path)
{
    char shown[256];
    size_t len = strlen(path);

    name_escape(path, shown, sizeof(shown));
    if (len > DOMAIN_PATH_MAX) {
        cerr_set(c->e, CE_INVALID_XML, "%s '%s' is %zu bytes long, the limit is %d", what, shown,
                 len, DOMAIN_PATH_MAX);
        return -1;
    }
    if (path[0] != '/') {
        cerr_set(c->e, CE_INVALID_XML, "%s '%s' is not an absolute path", what, shown);
        return -1;
    }
    for (const unsigned char *p = (const unsigned char *)path; *p != '\0'; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            cerr_set(c->e, CE_INVALID_XML, "%s '%s' contains a control character", what, shown);
            return -1;
        }
    }
    return 0;
}

void *dx_must(void *p)
{
    if (p == NULL) {
        log_err("out of memory building XML");
        abort();
    }
    return p;
}

/* xmlNewTextChild rather than xmlNewChild: the latter takes its content as
 * already-escaped markup, so an '&' in a path would turn into an entity
 * reference. */
xmlNodePtr dx_add_child(xmlNodePtr parent, const char *name, const char *text)
{
    return dx_must(xml_lib.new_text_child(parent, NULL, BAD_CAST name, BAD_CAST text));
}

void dx_add_prop(xmlNodePtr node, const char *name, const char *value)
{
    dx_must(xml_lib.new_prop(node, BAD_CAST name, BAD_CAST value));
}

void dx_add_uint_prop(xmlNodePtr node, const char *name, unsigned int value)
{
    char num[16];

    snprintf(num, sizeof(num), "%u", value);
    dx_add_prop(node, name, num);
}
