/* Re-attaching, at the broker's start, to the supervisors a previous
 * broker started. */
#ifndef CORRAL_ADOPT_H
#define CORRAL_ADOPT_H

#include "broker/registry.h"

/* Re-attaches to the supervisors found from their run records (one whose
 * supervisor is gone gets a new one for its QEMU), then kills what no VM
 * owns in the run directory.  Re-attachments go on in the event loop
 * (broker.adopting).  After supervise_init. */
void adopt_all(struct broker *b);

#endif
