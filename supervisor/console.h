/* One console of a VM (its serial port or its virtio console): the
 * supervisor is the client of QEMU's chardev socket in the run directory,
 * keeps the last 64 KiB of output, and relays between the guest and at
 * most one attached client (PROTOCOL.md, "vm.console"). */
#ifndef CORRAL_CONSOLE_H
#define CORRAL_CONSOLE_H

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdbool.h>
#include <sys/types.h>

#include "common/error.h"

/* Output a client may leave unread before reading the guest's output
 * waits for it: more than the ring, so the replay on attach always fits. */
#define CONSOLE_CLIENT_BACKLOG (1024 * 1024)
/* How long the guest's output may wait for a client that reads nothing
 * before the client is dropped and the guest goes on. */
#define CONSOLE_STALL_MS 2000
/* Input the guest may leave unread before the client's input waits. */
#define CONSOLE_INPUT_BACKLOG (64 * 1024)
/* How often connecting to QEMU's chardev socket is tried again. */
#define CONSOLE_RETRY_MS 200

struct console;
struct console_claim;
struct console_log;

/* vm names the VM and dev the console ("serial0") in logs; QEMU listens at
 * path.  Strings are copied. */
struct console *console_new(struct event_base *base, const char *vm, const char *dev,
                            const char *path);
/* Closes everything but leaves QEMU's socket: a new supervisor re-adopting
 * QEMU connects to it again. */
void console_free(struct console *c);
const char *console_dev(const struct console *c);
/* The copy of the output goes to log (supervisor/console_log.h), which c
 * takes. */
void console_set_log(struct console *c, struct console_log *log);
/* QEMU runs: connects to its chardev (again), trying until it answers.
 * Does nothing when connected already. */
void console_start(struct console *c);
/* QEMU has gone: the client gets what output is left, then end of file. */
void console_stop(struct console *c);
/* Reserves the console for a client of uid, which attaches with
 * console_attach(bev, claim).  Refused with CE_BUSY while another client
 * is attached or attaching, unless force, which detaches it. */
struct console_claim *console_claim(struct console *c, uid_t uid, bool force, struct cerr *e);
/* An rpc_upgrade_cb: the claimed client's socket (taken), or NULL when it
 * went before attaching.  It first gets the output kept so far. */
void console_attach(struct bufferevent *bev, void *claim);

#endif
