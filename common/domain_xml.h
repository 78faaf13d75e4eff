/* The libvirt domain XML subset corral understands. */
#ifndef CORRAL_DOMAIN_XML_H
#define CORRAL_DOMAIN_XML_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

#define DOMAIN_MAX_DISKS 16
#define DOMAIN_DEFAULT_EMULATOR "/usr/bin/qemu-system-x86_64"
#define DOMAIN_DEFAULT_MACHINE "pc"

enum domain_virt { DOMAIN_VIRT_KVM, DOMAIN_VIRT_QEMU };
enum disk_format { DISK_FORMAT_QCOW2, DISK_FORMAT_RAW };

struct disk_def {
    char *source; /* absolute path of the image */
    char *target; /* "vda", validated by name_target_valid */
    enum disk_format format;
    bool readonly;
};

struct domain_def {
    char *name;    /* validated by name_vm_valid */
    char uuid[37]; /* lowercase canonical form */
    enum domain_virt virt;
    unsigned long long memory_kib;
    unsigned long long current_memory_kib;
    unsigned int vcpus;
    char *arch;     /* "x86_64" */
    char *machine;  /* QEMU machine type, DOMAIN_DEFAULT_MACHINE when absent */
    char *emulator; /* absolute path, DOMAIN_DEFAULT_EMULATOR when absent */
    size_t ndisks;
    struct disk_def *disks;
};

/* Parses untrusted domain XML (through xml_parse_untrusted).  On success
 * returns a new definition the caller frees with domain_def_free, and sets
 * *warnings to a malloc'd one-line message listing the ignored elements (or
 * NULL when nothing was ignored).  On failure returns NULL with e set. */
struct domain_def *domain_def_parse(const char *xml, size_t len, char **warnings, struct cerr *e);
/* Formats a definition as domain XML that domain_def_parse reads back to an
 * equal definition; returns a malloc'd NUL-terminated string. */
char *domain_def_format(const struct domain_def *def);
void domain_def_free(struct domain_def *def);
/* Checks every disk as disk_check_open does, whoever owns it, and that no
 * two disks are one file. */
int domain_def_check_disks(const struct domain_def *def, struct cerr *e);
/* Fills uuid (37 bytes) with a random version 4 UUID. */
int domain_uuid_generate(char uuid[37], struct cerr *e);

#endif
