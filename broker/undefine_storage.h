/* undefine --remove-all-storage: a VM's disk images removed as the caller
 * would remove them, never more. */
#ifndef CORRAL_UNDEFINE_STORAGE_H
#define CORRAL_UNDEFINE_STORAGE_H

#include <cjson/cJSON.h>
#include <sys/types.h>

#include "common/domain_xml.h"

/* Removes each image of def's file disks (not cdroms) that caller owns:
 * its directory found without following a link (common/safe_open.c), the
 * entry checked (a regular file with one link, caller's) and unlinked
 * relative to that directory with the caller's file-system rights
 * (setfsuid), so that whatever takes its place meanwhile is removed only
 * if the caller could remove it.  Returns {"removed": [{"target",
 * "source"}], "kept": [{"target", "source", "why"}]}. */
cJSON *undefine_storage_remove(const struct domain_def *def, uid_t caller);

#endif
