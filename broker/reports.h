/* Inconsistency reports a supervisor sends the broker: checked, kept once
 * in the VM's ledger (broker/ledger.c), told to subscribers and
 * acknowledged, or held and asked for again. */
#ifndef CORRAL_REPORTS_H
#define CORRAL_REPORTS_H

#include <cjson/cJSON.h>

#include "broker/registry.h"

/* A snapshot.inconsistency notification from vm's supervisor. */
void reports_receive(struct bvm *vm, const cJSON *report);
/* The supervisor's connection is gone: nothing is held for it any more. */
void reports_drop(struct bvm *vm);

#endif
