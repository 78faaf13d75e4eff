/* vm.domstats: virsh domstats' key=value statistics of a VM, from what
 * QEMU gives without a guest agent: the state, QEMU's CPU time (read by the
 * broker from /proc), the configured vCPUs and memory, and each disk's
 * counters (QMP query-blockstats, through the supervisor). */
#ifndef CORRAL_DOMSTATS_H
#define CORRAL_DOMSTATS_H

struct bvm;
struct rpc_req;

/* Completes req with {"name", "stats": {"state.state": N, ...}}. */
void domstats_request(struct bvm *vm, struct rpc_req *req);

#endif
