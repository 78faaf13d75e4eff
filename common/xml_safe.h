/* The only way corral parses XML it did not write itself. */
#ifndef CORRAL_XML_SAFE_H
#define CORRAL_XML_SAFE_H

#include <libxml/tree.h>
#include <stddef.h>

#include "common/error.h"

#define XML_UNTRUSTED_MAX (1024 * 1024)

/* Parses len bytes of untrusted XML: at most max bytes, never touching the
 * network, refusing any DOCTYPE (and so every entity), with libxml2's default
 * depth limits.  Returns a document the caller frees with xmlFreeDoc, or NULL
 * with e set (CE_INVALID_XML, CE_TOO_LARGE); `what` names the document in
 * messages ("domain XML"). */
xmlDocPtr xml_parse_untrusted(const char *buf, size_t len, size_t max, const char *what,
                              struct cerr *e);

/* Returns a malloc'd copy of the node's text content with surrounding white
 * space trimmed, or NULL when the node has none. */
char *xml_node_text(xmlNodePtr node);
/* Returns a malloc'd copy of attribute name of node, or NULL. */
char *xml_node_prop(xmlNodePtr node, const char *name);
/* First element child of parent named name, or NULL. */
xmlNodePtr xml_child(xmlNodePtr parent, const char *name);

#endif
