/* A definition changed in place (define over an existing VM): the
 * persistent definition (STATE/vms/NAME/domain.xml, struct bvm.def) is what
 * the VM starts with next; while its QEMU runs on an older one, that one is
 * kept too (domain-live.xml, struct bvm.live_def) until the VM stops, so
 * that a re-adopting supervisor and a restarted broker see what really
 * runs. */
#ifndef CORRAL_REDEFINE_H
#define CORRAL_REDEFINE_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "broker/registry.h"
#include "common/domain_xml.h"
#include "common/error.h"

#define REDEFINE_LIVE_FILE "domain-live.xml"

/* Reads and parses dir/file (root's record, read as untrusted all the
 * same), which must define the VM called name; NULL with e set. */
struct domain_def *redefine_read(const char *dir, const char *file, const char *name,
                                 struct cerr *e);
/* Replaces vm's persistent definition with def (same name and uuid),
 * durably; an active VM (one with a supervisor, which has read its
 * definition) keeps running on its current one, recorded first.  Takes def
 * on success. */
int redefine_update(struct bvm *vm, struct domain_def *def, bool active, struct cerr *e);
/* At broker start: the live definition of a VM whose supervisor may run
 * (has_run_record), or the end of a pending change of one that stopped
 * while no broker watched. */
void redefine_load(struct bvm *vm, bool has_run_record);
/* The VM stopped: its next start uses the persistent definition. */
void redefine_apply(struct bvm *vm);
/* The definition file a supervisor reads: the live one when it takes over
 * a running QEMU (adopt), else domain.xml.  Caller frees. */
char *redefine_definition_path(const struct bvm *vm, bool adopt);
/* The definition the VM runs with now (or would, when shut off). */
const struct domain_def *redefine_live(const struct bvm *vm);
/* Whether the next start changes the definition. */
bool redefine_pending(const struct bvm *vm);
/* Adds pending_changes to a vm.info object. */
void redefine_add_info(const struct bvm *vm, cJSON *info);
/* change-media --config: the persistent definition's cdrom disk (a target
 * or its source) gets file by mode ("eject", "insert", "update" or NULL
 * for update; update without file ejects), by the path of a define over
 * the VM; the caller has checked file as a medium.  An active VM keeps its
 * live definition until it stops.  Returns the disk's index. */
int redefine_change_media(struct bvm *vm, const char *disk, const char *file, const char *mode,
                          bool active, struct cerr *e);
/* virsh's --live/--config/--current: neither flag means the running VM,
 * or the definition of a shut-off one; --live of a VM that is not running
 * is refused (CE_OPERATION_INVALID) before anything changes. */
int redefine_media_targets(const struct bvm *vm, bool running, bool *live, bool *config,
                           struct cerr *e);
/* vm.change_media's result for the definition alone: {"target","source"}. */
cJSON *redefine_media_result(const struct bvm *vm, size_t disk);
/* A vm.dumpxml result ({"xml"}) from the broker's copy of the live
 * definition, for a supervisor too old to know that method. */
cJSON *redefine_dumpxml_result(const struct bvm *vm);

#endif
