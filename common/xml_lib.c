#include "common/xml_lib.h"

#include <dlfcn.h>
#include <stdlib.h>

#include "common/log.h"

/* The ABI the headers describe, found by the dynamic linker as a
 * DT_NEEDED entry would be. */
#define XML_LIB_SONAME "libxml2.so.2"

struct xml_lib xml_lib;

static void *handle;
static void (*load_hook)(void *arg);
static void *load_hook_arg;

/* One function or variable of libxml2 and where its address goes. */
struct sym {
    const char *name;
    void **slot;
};

/* Object and function pointers share a representation on every platform
 * dlsym works on, which POSIX requires. */
#define SYM(field, name)                                                                           \
    {                                                                                              \
        name, (void **)&xml_lib.field                                                              \
    }

static int resolve(struct cerr *e)
{
    void *free_var;
    const struct sym syms[] = {
        SYM(add_child, "xmlAddChild"),
        SYM(buffer_content, "xmlBufferContent"),
        SYM(buffer_create, "xmlBufferCreate"),
        SYM(buffer_free, "xmlBufferFree"),
        SYM(check_utf8, "xmlCheckUTF8"),
        SYM(ctxt_get_last_error, "xmlCtxtGetLastError"),
        SYM(ctxt_read_memory, "xmlCtxtReadMemory"),
        SYM(doc_copy_node, "xmlDocCopyNode"),
        SYM(doc_get_root_element, "xmlDocGetRootElement"),
        SYM(doc_set_root_element, "xmlDocSetRootElement"),
        SYM(free_doc, "xmlFreeDoc"),
        SYM(free_parser_ctxt, "xmlFreeParserCtxt"),
        SYM(get_prop, "xmlGetProp"),
        SYM(new_doc, "xmlNewDoc"),
        SYM(new_doc_node, "xmlNewDocNode"),
        SYM(new_node, "xmlNewNode"),
        SYM(new_parser_ctxt, "xmlNewParserCtxt"),
        SYM(new_prop, "xmlNewProp"),
        SYM(new_text_child, "xmlNewTextChild"),
        SYM(node_get_content, "xmlNodeGetContent"),
        SYM(save_close, "xmlSaveClose"),
        SYM(save_doc, "xmlSaveDoc"),
        SYM(save_to_buffer, "xmlSaveToBuffer"),
        SYM(save_tree, "xmlSaveTree"),
        SYM(set_structured_error_func, "xmlSetStructuredErrorFunc"),
    };

    for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
        *syms[i].slot = dlsym(handle, syms[i].name);
        if (*syms[i].slot == NULL) {
            cerr_set(e, CE_SYSTEM, "%s has no %s: %s", XML_LIB_SONAME, syms[i].name, dlerror());
            return -1;
        }
    }
    /* xmlFree is a variable holding the function. */
    free_var = dlsym(handle, "xmlFree");
    if (free_var == NULL || *(xmlFreeFunc *)free_var == NULL) {
        cerr_set(e, CE_SYSTEM, "%s has no xmlFree", XML_LIB_SONAME);
        return -1;
    }
    xml_lib.free = *(xmlFreeFunc *)free_var;
    return 0;
}

int xml_lib_load(struct cerr *e)
{
    const char *why;

    if (handle != NULL)
        return 0;
    handle = dlopen(XML_LIB_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
        why = dlerror();
        cerr_set(e, CE_SYSTEM, "cannot load %s: %s", XML_LIB_SONAME,
                 why != NULL ? why : "unknown error");
        return -1;
    }
    if (resolve(e) < 0) {
        xml_lib_unload();
        return -1;
    }
    if (load_hook != NULL)
        load_hook(load_hook_arg);
    return 0;
}

void xml_lib_require(void)
{
    struct cerr e;

    if (xml_lib_load(&e) < 0) {
        log_err("cannot build XML: %s", e.msg);
        abort();
    }
}

void xml_lib_unload(void)
{
    if (handle == NULL)
        return;
    if (dlclose(handle) != 0)
        log_warn("cannot unload %s: %s", XML_LIB_SONAME, dlerror());
    handle = NULL;
    xml_lib = (struct xml_lib){0};
}

bool xml_lib_loaded(void)
{
    return handle != NULL;
}

void xml_lib_set_load_hook(void (*fn)(void *arg), void *arg)
{
    load_hook = fn;
    load_hook_arg = arg;
}
