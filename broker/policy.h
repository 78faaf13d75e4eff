/* Broker-wide rules beyond who owns a VM: who is an admin (cached), which
 * programs may run as QEMU (the --emulator allowlist), which bridges users'
 * VMs may join (--bridge), what a broker without
 * uid isolation lets non-admins do, and who may use a --vm-user binding.
 * dispatch.c asks it before a define and before anything that spawns a
 * supervisor and QEMU for a VM. */
#ifndef CORRAL_POLICY_H
#define CORRAL_POLICY_H

#include <stdbool.h>
#include <sys/types.h>

#include "broker/registry.h"
#include "common/error.h"

struct policy;

struct policy *policy_new(void);
void policy_free(struct policy *p);
/* Adds path to the emulator allowlist after checking that only root (or
 * this broker's own user) can change it: see policy.c.  missing_ok lets a
 * path that does not exist yet in (the built-in default on a host without
 * QEMU); it is checked again at each VM start. */
int policy_allow_emulator(struct policy *p, const char *path, bool missing_ok, struct cerr *e);
/* Adds name to the bridges every user's VMs may join (--bridge); refuses
 * what is not an interface name. */
int policy_allow_bridge(struct policy *p, const char *name, struct cerr *e);
/* Logs each loaded VM whose emulator is not on the list (definitions from
 * an earlier configuration): such a VM will not start. */
void policy_report_vms(const struct broker *b);
/* Start-up checks of the configuration in b: the uid range belongs to
 * nobody else (uidrange.h), --vm-user bindings name real non-root users
 * outside it; says what --no-isolation means. */
int policy_check_config(const struct broker *b, struct cerr *e);
/* Root, this broker's own user and the members of --admin-group. */
bool policy_is_admin(const struct broker *b, uid_t uid);
/* May caller define xml for owner?  Beyond the disks (dispatch.c): the
 * emulator, --no-isolation and --vm-user rules, and the console logs
 * (chardev_log_check).  CE_PERMISSION when not. */
int policy_check_define(const struct broker *b, uid_t caller, uid_t owner, const char *xml,
                        struct cerr *e);
/* May caller have a supervisor and QEMU spawned for vm (a start, or a
 * maintenance QEMU for snapshot work on a shut-off VM)?  Re-checks what
 * define checked against the configuration of this run of the broker. */
int policy_check_run(const struct broker *b, uid_t caller, const struct bvm *vm, struct cerr *e);
/* policy_check_run, and for a start the interfaces as define checks them
 * (bridges on the --bridge list, no tap name of the user's choosing) unless
 * the caller or the VM's owner is an admin. */
int policy_check_start(const struct broker *b, uid_t caller, const struct bvm *vm, struct cerr *e);

#endif
