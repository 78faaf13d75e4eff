/* vm.console through the broker: a connection of its own to the VM's
 * supervisor asks for the console, and once both it and the client's
 * connection have become byte streams the broker relays between them with
 * bounded buffers (PROTOCOL.md, "vm.console"). */
#ifndef CORRAL_CONSOLE_RELAY_H
#define CORRAL_CONSOLE_RELAY_H

#include <cjson/cJSON.h>

#include "broker/registry.h"
#include "proto/server.h"

/* Bytes one direction may hold: reading the other side waits beyond it. */
#define CONSOLE_RELAY_BUFFER (256 * 1024)
/* How long what is left for a side whose peer has gone may take to drain
 * before the side is closed anyway. */
#define CONSOLE_RELAY_DRAIN_MS 10000

/* Completes req (the client's vm.console on vm, params borrowed) with the
 * supervisor's answer and, on success, relays. */
void console_relay_start(struct bvm *vm, const cJSON *params, struct rpc_req *req);

/* Ends every relay (the broker is exiting): their clients see the end of
 * the stream, the consoles stay with their supervisors. */
void console_relay_free_all(void);

#endif
