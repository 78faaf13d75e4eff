/* vm.undefine: what goes with a VM's definition (its NVRAM), and what
 * waits for it (a maintenance supervisor that still holds its disks). */
#ifndef CORRAL_UNDEFINE_H
#define CORRAL_UNDEFINE_H

#include <cjson/cJSON.h>

struct bvm;
struct rpc_req;

/* Undefines vm as params say, and completes req. */
void undefine_request(struct bvm *vm, struct rpc_req *req, const cJSON *params);

#endif
