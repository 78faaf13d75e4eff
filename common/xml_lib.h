/* libxml2, loaded when XML is first needed rather than at program start.
 *
 * libxml2 brings ICU and the C++ runtime with it: about 2.8 MiB of a
 * process's RSS, most of it touched at load by relocations and static
 * initializers.  A supervisor needs XML only at a few moments (its
 * definition at start, a snapshot's metadata, dumpxml), so it loads the
 * library then and unloads it when idle (xml_lib_unload); the broker keeps
 * it once loaded.  Every libxml2 function corral's common and supervisor
 * code calls goes through xml_lib, valid between a successful xml_lib_load
 * and the next xml_lib_unload. */
#ifndef CORRAL_XML_LIB_H
#define CORRAL_XML_LIB_H

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlsave.h>
#include <stdbool.h>

#include "common/error.h"

struct xml_lib {
    __typeof__(xmlAddChild) *add_child;
    __typeof__(xmlBufferContent) *buffer_content;
    __typeof__(xmlBufferCreate) *buffer_create;
    __typeof__(xmlBufferFree) *buffer_free;
    __typeof__(xmlCheckUTF8) *check_utf8;
    __typeof__(xmlCtxtGetLastError) *ctxt_get_last_error;
    __typeof__(xmlCtxtReadMemory) *ctxt_read_memory;
    __typeof__(xmlDocCopyNode) *doc_copy_node;
    __typeof__(xmlDocGetRootElement) *doc_get_root_element;
    __typeof__(xmlDocSetRootElement) *doc_set_root_element;
    __typeof__(xmlFreeDoc) *free_doc;
    __typeof__(xmlFreeParserCtxt) *free_parser_ctxt;
    __typeof__(xmlGetProp) *get_prop;
    __typeof__(xmlNewDoc) *new_doc;
    __typeof__(xmlNewDocNode) *new_doc_node;
    __typeof__(xmlNewNode) *new_node;
    __typeof__(xmlNewParserCtxt) *new_parser_ctxt;
    __typeof__(xmlNewProp) *new_prop;
    __typeof__(xmlNewTextChild) *new_text_child;
    __typeof__(xmlNodeGetContent) *node_get_content;
    __typeof__(xmlSaveClose) *save_close;
    __typeof__(xmlSaveDoc) *save_doc;
    __typeof__(xmlSaveToBuffer) *save_to_buffer;
    __typeof__(xmlSaveTree) *save_tree;
    __typeof__(xmlSetStructuredErrorFunc) *set_structured_error_func;
    /* The value of libxml2's xmlFree, which frees what xmlGetProp and
     * xmlNodeGetContent return. */
    xmlFreeFunc free;
};

/* libxml2's functions; all NULL while it is not loaded. */
extern struct xml_lib xml_lib;

/* Loads libxml2 unless it is loaded; 0, or -1 with e set (CE_SYSTEM).
 * Calls the hook of xml_lib_set_load_hook after a load. */
int xml_lib_load(struct cerr *e);
/* xml_lib_load for callers with no way to report a failure, as when they
 * run out of memory building XML: logs and aborts. */
void xml_lib_require(void);
/* Unloads libxml2 (what it loaded with it and does not pin stays: the C++
 * runtime cannot be unloaded).  Only where no document, node or buffer of
 * libxml2's is alive, which corral guarantees between events: none is kept
 * beyond the function that made it. */
void xml_lib_unload(void);
bool xml_lib_loaded(void);
/* fn(arg) after each load: how a process that unloads when idle learns
 * that it has something to unload. */
void xml_lib_set_load_hook(void (*fn)(void *arg), void *arg);

#endif
