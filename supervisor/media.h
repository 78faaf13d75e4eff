/* Removable media of a running VM: a cdrom's medium ejected, inserted or
 * changed through QMP, as virsh change-media does, and the live
 * definition kept in step so that vm.info (domblklist) shows it. */
#ifndef CORRAL_MEDIA_H
#define CORRAL_MEDIA_H

#include <stdbool.h>

#include "supervisor/vm.h"

enum media_mode {
    MEDIA_EJECT,  /* the tray must hold a medium */
    MEDIA_INSERT, /* the tray must be empty */
    MEDIA_UPDATE  /* either: a new medium, or none (an eject) */
};

/* disk is a target ("hdc") or the current source path; file (borrowed) is
 * the new medium, an absolute path the broker has checked, or NULL.  force
 * opens a tray the guest holds locked.  cb gets {target, source} (source
 * null when the tray is left empty) or the error. */
void media_change(struct vm *vm, const char *disk, const char *file, enum media_mode mode,
                  bool force, vm_done_cb cb, void *arg);

#endif
