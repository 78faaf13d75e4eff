/* The broker is a child subreaper: a QEMU whose supervisor died becomes
 * the broker's child, not init's, so that its exit is seen and its status
 * known.  One SIGCHLD handler reaps every child: a supervisor through its
 * VM's exit path, anything else (an orphaned QEMU) on the spot. */
#ifndef CORRAL_REAPER_H
#define CORRAL_REAPER_H

#include "broker/registry.h"

/* Becomes a subreaper and handles SIGCHLD in b's event loop. */
int reaper_init(struct broker *b, struct cerr *e);
void reaper_free(struct broker *b);

#endif
