#include "common/xml_safe.h"

#include <ctype.h>
#include <libxml/parser.h>
#include <libxml/xmlerror.h>
#include <string.h>

#include "common/fileutil.h"
#include "common/xml_lib.h"

/* libxml2 prints parse errors to stderr by default; corral reports them to
 * the client instead, from the parser context. */
static void xml_quiet(void *ctx, const xmlError *err)
{
    (void)ctx;
    (void)err;
}

static int contains(const char *buf, size_t len, const char *needle)
{
    return memmem(buf, len, needle, strlen(needle)) != NULL;
}

xmlDocPtr xml_parse_untrusted(const char *buf, size_t len, size_t max, const char *what,
                              struct cerr *e)
{
    xmlParserCtxtPtr ctxt;
    xmlDocPtr doc;

    if (len > max) {
        cerr_set(e, CE_TOO_LARGE, "%s is %zu bytes, larger than the limit of %zu bytes", what, len,
                 max);
        return NULL;
    }
    if (len == 0) {
        cerr_set(e, CE_INVALID_XML, "%s is empty", what);
        return NULL;
    }
    /* Refuse before libxml2 sees a DTD at all: no entity can then be
     * declared, so none can be expanded, external or internal. */
    if (contains(buf, len, "<!DOCTYPE") || contains(buf, len, "<!ENTITY")) {
        cerr_set(e, CE_INVALID_XML, "%s must not contain a DOCTYPE or ENTITY declaration", what);
        return NULL;
    }
    if (memchr(buf, '\0', len) != NULL) {
        cerr_set(e, CE_INVALID_XML, "%s contains a NUL byte", what);
        return NULL;
    }
    if (xml_lib_load(e) < 0)
        return NULL;
    xml_lib.set_structured_error_func(NULL, (xmlStructuredErrorFunc)xml_quiet);
    ctxt = xml_lib.new_parser_ctxt();
    if (ctxt == NULL) {
        cerr_set(e, CE_SYSTEM, "out of memory creating an XML parser for %s", what);
        return NULL;
    }
    doc = xml_lib.ctxt_read_memory(ctxt, buf, (int)len, "untrusted.xml", NULL,
                                   XML_PARSE_NONET | XML_PARSE_NOCDATA | XML_PARSE_NOERROR |
                                       XML_PARSE_NOWARNING);
    if (doc == NULL || !ctxt->wellFormed) {
        const xmlError *xe = xml_lib.ctxt_get_last_error(ctxt);
        char msg[256] = "not well-formed";

        if (xe != NULL && xe->message != NULL) {
            snprintf(msg, sizeof(msg), "%s", xe->message);
            msg[strcspn(msg, "\n")] = '\0';
        }
        cerr_set(e, CE_INVALID_XML, "%s is malformed (line %d): %s", what,
                 xe != NULL ? xe->line : 0, msg);
        if (doc != NULL)
            xml_lib.free_doc(doc);
        xml_lib.free_parser_ctxt(ctxt);
        return NULL;
    }
    xml_lib.free_parser_ctxt(ctxt);
    if (doc->intSubset != NULL || doc->extSubset != NULL) {
        cerr_set(e, CE_INVALID_XML, "%s must not contain a DOCTYPE declaration", what);
        xml_lib.free_doc(doc);
        return NULL;
    }
    if (xml_lib.doc_get_root_element(doc) == NULL) {
        cerr_set(e, CE_INVALID_XML, "%s has no root element", what);
        xml_lib.free_doc(doc);
        return NULL;
    }
    return doc;
}

char *xml_node_text(xmlNodePtr node)
{
    xmlChar *raw = xml_lib.node_get_content(node);
    char *start, *end, *out;

    if (raw == NULL)
        return NULL;
    start = (char *)raw;
    while (*start != '\0' && isspace((unsigned char)*start))
        start++;
    end = start + strlen(start);
    while (end > start && isspace((unsigned char)end[-1]))
        end--;
    if (end == start) {
        xml_lib.free(raw);
        return NULL;
    }
    out = xcalloc(1, (size_t)(end - start) + 1);
    memcpy(out, start, (size_t)(end - start));
    xml_lib.free(raw);
    return out;
}

char *xml_node_prop(xmlNodePtr node, const char *name)
{
    xmlChar *raw = xml_lib.get_prop(node, (const xmlChar *)name);
    char *out;

    if (raw == NULL)
        return NULL;
    out = xstrdup((const char *)raw);
    xml_lib.free(raw);
    return out;
}

xmlNodePtr xml_child(xmlNodePtr parent, const char *name)
{
    for (xmlNodePtr c = parent ? parent->children : NULL; c != NULL; c = c->next) {
        if (c->type == XML_ELEMENT_NODE && strcmp((const char *)c->name, name) == 0)
            return c;
    }
    return NULL;
}
