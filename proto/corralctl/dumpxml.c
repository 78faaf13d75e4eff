/* dumpxml: a VM's domain XML, whole or through an XPath expression, as
 * virsh prints it. */
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <libxml/xpath.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileutil.h"
#include "common/json.h"
#include "common/xml_safe.h"
#include "proto/corralctl/ctl.h"

char *ctl_fetch_xml(struct ctl *ctl, const char *name, bool inactive)
{
    cJSON *p = ctl_name_params(name), *r;
    const char *xml = NULL;
    char *out = NULL;

    if (inactive)
        json_add_bool(p, "inactive", true);
    r = ctl_call(ctl, "vm.dumpxml", p);
    if (r == NULL)
        return NULL;
    if (ctl_reply_str(r, "xml", true, &xml) < 0)
        ctl_unexpected();
    else
        out = xstrdup(xml);
    cJSON_Delete(r);
    return out;
}

/* libxml2 would print its own complaint on stderr; ours says it once. */
static void quiet(void *arg, xmlErrorPtr err)
{
    (void)arg;
    (void)err;
}

static void print_node(xmlDocPtr doc, xmlNodePtr node)
{
    xmlBufferPtr buf = xmlBufferCreate();

    if (buf == NULL || xmlNodeDump(buf, doc, node, 0, 1) < 0) {
        ctl_error("cannot format an XPath result");
        xmlBufferFree(buf);
        return;
    }
    printf("%s\n", (const char *)xmlBufferContent(buf));
    xmlBufferFree(buf);
}

/* As virsh: each node of a node set on its own (or all under <nodes> with
 * wrap), any other result as its string value. */
static int print_result(xmlDocPtr doc, xmlXPathObjectPtr obj, bool wrap)
{
    xmlNodeSetPtr set = obj->nodesetval;
    xmlChar *str;

    if (obj->type != XPATH_NODESET) {
        str = xmlXPathCastToString(obj);
        if (str == NULL)
            return ctl_error("out of memory");
        printf("%s\n", (const char *)str);
        xmlFree(str);
        return CTL_EXIT_OK;
    }
    if (!wrap) {
        for (int i = 0; set != NULL && i < set->nodeNr; i++)
            print_node(doc, set->nodeTab[i]);
        return CTL_EXIT_OK;
    }
    xmlNodePtr nodes = xmlNewDocNode(doc, NULL, BAD_CAST "nodes", NULL);
    if (nodes == NULL)
        return ctl_error("out of memory");
    for (int i = 0; set != NULL && i < set->nodeNr; i++) {
        xmlNodePtr copy = xmlDocCopyNode(set->nodeTab[i], doc, 1);
        if (copy == NULL || xmlAddChild(nodes, copy) == NULL) {
            xmlFreeNode(copy);
            xmlFreeNode(nodes);
            return ctl_error("out of memory");
        }
    }
    print_node(doc, nodes);
    xmlFreeNode(nodes);
    return CTL_EXIT_OK;
}

static int run_xpath(const char *xml, const char *expr, bool wrap)
{
    xmlXPathCompExprPtr comp;
    xmlXPathContextPtr xc;
    xmlXPathObjectPtr obj;
    xmlDocPtr doc;
    struct cerr e;
    int status;

    xmlSetStructuredErrorFunc(NULL, quiet);
    comp = xmlXPathCompile(BAD_CAST expr);
    if (comp == NULL)
        return ctl_error("XPath expression '%s' is not valid XPath", expr);
    doc = xml_parse_untrusted(xml, strlen(xml), XML_UNTRUSTED_MAX, "domain XML", &e);
    if (doc == NULL) {
        xmlXPathFreeCompExpr(comp);
        return ctl_error("%s", e.msg);
    }
    xc = xmlXPathNewContext(doc);
    obj = xc != NULL ? xmlXPathCompiledEval(comp, xc) : NULL;
    if (obj == NULL)
        status = ctl_error("cannot evaluate XPath expression '%s'", expr);
    else
        status = print_result(doc, obj, wrap);
    xmlXPathFreeObject(obj);
    xmlXPathFreeContext(xc);
    xmlXPathFreeCompExpr(comp);
    xmlFreeDoc(doc);
    return status;
}

int ctl_run_dumpxml(struct ctl *ctl, const struct ctl_args *a)
{
    const char *xpath = ctl_opt_str(a, "xpath");
    char *xml = ctl_fetch_xml(ctl, a->argv[0], ctl_opt(a, "inactive") != 0);
    int status = CTL_EXIT_OK;

    if (xml == NULL)
        return CTL_EXIT_ERROR;
    if (xpath != NULL)
        status = run_xpath(xml, xpath, ctl_opt(a, "wrap") != 0);
    else if (ctl->json) {
        cJSON *o = json_obj();
        json_add_str(o, "xml", xml);
        status = ctl_print_json(o, true);
        cJSON_Delete(o);
    } else
        fputs(xml, stdout);
    free(xml);
    return status;
}
