/* What the domain_xml*.c files share: the parse context, the element
 * helpers and the per-part parsers and formatters.  Only they include it. */
#ifndef CORRAL_DOMAIN_XML_INT_H
#define CORRAL_DOMAIN_XML_INT_H

#include <libxml/tree.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/domain_xml.h"

#define DOMAIN_PATH_MAX 4096
/* Room for an escaped, possibly prefixed element name (see elem_name). */
#define DOMAIN_ELEM_NAME_LEN 100
#define DOMAIN_IGNORED_PATH_LEN 128
/* A hostile document can carry thousands of distinct unknown elements: the
 * warning lists this many and then only says there were more, which also
 * keeps the duplicate check linear in the document size. */
#define DOMAIN_IGNORED_MAX 32

struct parse_ctx {
    struct domain_def *def;
    struct cerr *e;
    bool have_name, have_uuid, have_memory, have_current, have_vcpu, have_os, have_devices;
    bool have_emulator, have_cpu, have_graphics, have_memballoon;
    bool have_lifecycle[3]; /* on_poweroff, on_reboot, on_crash */
    /* A <console> of target type serial was seen: it names serial port 0. */
    bool console_on_serial;
    struct chardev_log console_serial_log;
    char ignored[DOMAIN_IGNORED_MAX][DOMAIN_IGNORED_PATH_LEN];
    size_t nignored;
    bool ignored_more;
};

/* Element helpers (domain_xml_util.c). */
bool dx_is_elem(xmlNodePtr n, const char *name);
bool dx_is_one_of(xmlNodePtr n, const char *const *names, size_t count);
void dx_elem_name(xmlNodePtr n, char *out, size_t outlen);
/* Lists path (parent/name) in the warning, once. */
void dx_note_ignored(struct parse_ctx *c, const char *parent, xmlNodePtr n);
void dx_note_ignored_path(struct parse_ctx *c, const char *path);
char *dx_ignored_line(const struct parse_ctx *c);
int dx_unsupported(struct parse_ctx *c, const char *parent, xmlNodePtr n);
int dx_duplicate(struct parse_ctx *c, const char *path);
int dx_once(struct parse_ctx *c, bool *seen, const char *path);

enum dx_num { DX_NUM_OK, DX_NUM_GARBAGE, DX_NUM_RANGE };
enum dx_num dx_parse_ull(const char *s, unsigned long long *out);
/* Attribute name of n as a decimal integer in [min, max]; *out untouched
 * and 0 returned when absent.  what names it in messages. */
int dx_uint_attr(struct parse_ctx *c, xmlNodePtr n, const char *name, const char *what,
                 unsigned int min, unsigned int max, unsigned int *out);
/* <boot order='N'/> of a disk or interface, N >= 1. */
int dx_boot_order(struct parse_ctx *c, xmlNodePtr boot, const char *what, unsigned int *out);
/* Absolute, at most DOMAIN_PATH_MAX bytes, no control character. */
int dx_check_path(struct parse_ctx *c, const char *what, const char *path);
/* Attribute name of n equal to one of values (NULL-terminated); returns its
 * index, dflt when absent, -1 with e set otherwise.  An empty entry of
 * values is skipped: it holds the place of a value no document spells. */
int dx_enum_attr(struct parse_ctx *c, xmlNodePtr n, const char *name, const char *what,
                 const char *const *values, int dflt);

/* Formatting helpers: abort on allocation failure, as libxml2 gives no
 * other way out of a half-built tree. */
void *dx_must(void *p);
xmlNodePtr dx_add_child(xmlNodePtr parent, const char *name, const char *text);
void dx_add_prop(xmlNodePtr node, const char *name, const char *value);
void dx_add_uint_prop(xmlNodePtr node, const char *name, unsigned int value);

/* <os>, <vcpu> and <cpu> (domain_xml_os_cpu.c). */
int dx_parse_os(struct parse_ctx *c, xmlNodePtr os);
int dx_parse_vcpu(struct parse_ctx *c, xmlNodePtr n);
int dx_parse_cpu(struct parse_ctx *c, xmlNodePtr n);
int dx_finish_os_cpu(struct parse_ctx *c);
void dx_format_os_cpu(const struct domain_def *def, xmlNodePtr root);
void dx_free_os_cpu(struct domain_def *def);

/* <emulator> and <disk> (domain_xml_disks.c). */
int dx_parse_emulator(struct parse_ctx *c, xmlNodePtr n);
int dx_parse_disk(struct parse_ctx *c, xmlNodePtr disk);
void dx_format_disks(const struct domain_def *def, xmlNodePtr devices);
void dx_free_disks(struct domain_def *def);

/* <devices> and the character and graphics devices (domain_xml_devices.c). */
int dx_parse_devices(struct parse_ctx *c, xmlNodePtr devices);
int dx_finish_devices(struct parse_ctx *c);
void dx_format_chardevs_graphics(const struct domain_def *def, xmlNodePtr devices);
void dx_free_devices(struct domain_def *def);

/* <controller> and <memballoon> (domain_xml_controllers.c). */
int dx_parse_controller(struct parse_ctx *c, xmlNodePtr n);
int dx_parse_memballoon(struct parse_ctx *c, xmlNodePtr n);
void dx_format_controllers(const struct domain_def *def, xmlNodePtr devices);
void dx_format_memballoon(const struct domain_def *def, xmlNodePtr devices);

/* <interface> (domain_xml_net.c). */
int dx_parse_interface(struct parse_ctx *c, xmlNodePtr n);
void dx_format_nets(const struct domain_def *def, xmlNodePtr devices);
void dx_free_nets(struct domain_def *def);

#endif
