/* A parsed definition as the broker hands it to a supervisor: every field
 * of struct domain_def in JSON, so that the supervisor starts without
 * parsing XML (and without loading libxml2, common/xml_lib.h).  Private to
 * corrald and corral-supervisor of one build: not the protocol's vm.info
 * form (common/domain_json.h), and not stored anywhere. */
#ifndef CORRAL_DOMAIN_HANDOVER_H
#define CORRAL_DOMAIN_HANDOVER_H

#include <stddef.h>

#include "common/domain_xml.h"
#include "common/error.h"

/* Bumped whenever struct domain_def changes: a supervisor of another build
 * refuses the handover (and reads the XML file instead). */
#define DOMAIN_HANDOVER_VERSION 1

/* Returns def as malloc'd NUL-terminated JSON text, or NULL when out of
 * memory. */
char *domain_handover_encode(const struct domain_def *def);
/* Reads what domain_handover_encode wrote (the broker's: trusted, but
 * checked for shape, ranges and version).  Returns a new definition the
 * caller frees with domain_def_free, or NULL with e set (CE_VERSION when it
 * comes from another build). */
struct domain_def *domain_handover_decode(const char *text, size_t len, struct cerr *e);

/* def encoded in a new sealed memfd (close-on-exec) for a supervisor to
 * read: no file, no fsync, nothing another process can change.  Returns
 * the descriptor, or -1 with e set. */
int domain_handover_memfd(const struct domain_def *def, struct cerr *e);
/* Reads and decodes what domain_handover_memfd wrote, from offset 0 of fd
 * (at most DOMAIN_HANDOVER_MAX bytes); as domain_handover_decode. */
struct domain_def *domain_handover_read(int fd, struct cerr *e);

/* A definition of DOMAIN_MAX_DISKS disks and DOMAIN_MAX_NETS interfaces,
 * every path PATH_MAX long, stays well below this. */
#define DOMAIN_HANDOVER_MAX (1024 * 1024)

#endif
