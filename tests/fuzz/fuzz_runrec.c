/* The run-record readers of common/runrec.c, on what a VM's uid may have
 * written: the run record, the exit facts and the start-up status line.
 * Properties: what runrec_run_parse keeps is plausible (pids positive or
 * 0), exit facts it believes write back and read back the same, and a
 * status line is good, a failure, or malformed, nothing else. */
#include <string.h>

#include "common/json.h"
#include "common/log.h"
#include "common/runrec.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    log_init("fuzz_runrec", (enum log_level)(LOG_LVL_ERR + 1));
    return 0;
}

static void check_run(const cJSON *j)
{
    struct runrec_run r;

    memset(&r, 0xa5, sizeof(r));
    runrec_run_parse(j, &r);
    FUZZ_ASSERT(r.protocol >= -1, "protocol %d", r.protocol);
    FUZZ_ASSERT(r.supervisor_pid >= 0 && r.qemu_pid >= 0, "pids %ld %ld", (long)r.supervisor_pid,
                (long)r.qemu_pid);
    FUZZ_ASSERT(r.started >= 0, "started %lld", (long long)r.started);
}

static void check_exit(const cJSON *j)
{
    struct runrec_exit x, y;
    cJSON *back;

    if (!runrec_exit_parse(j, &x))
        return;
    FUZZ_ASSERT(memchr(x.state, '\0', sizeof(x.state)) != NULL, "state not terminated");
    FUZZ_ASSERT(memchr(x.reason, '\0', sizeof(x.reason)) != NULL, "reason not terminated");
    FUZZ_ASSERT(x.qemu_pid >= 0, "qemu_pid %ld", (long)x.qemu_pid);
    FUZZ_ASSERT(!x.code_known || (x.code >= 0 && x.code <= 255), "code %d", x.code);
    back = runrec_exit_to_json(&x);
    FUZZ_ASSERT(runrec_exit_parse(back, &y), "exit facts it wrote do not read back");
    FUZZ_ASSERT(strcmp(x.state, y.state) == 0 && strcmp(x.reason, y.reason) == 0 &&
                    x.time == y.time && x.qemu_pid == y.qemu_pid && x.code_known == y.code_known &&
                    x.signaled == y.signaled && x.code == y.code,
                "exit facts changed on the way back");
    cJSON_Delete(back);
}

static void check_status(const uint8_t *data, size_t size)
{
    cJSON *info = (cJSON *)1;
    struct cerr failure;
    int rc = runrec_status_parse((const char *)data, size, &info, &failure);

    FUZZ_ASSERT(rc >= -1 && rc <= 1, "runrec_status_parse returned %d", rc);
    FUZZ_ASSERT(rc == 1 || info == NULL, "info set on a failed status");
    FUZZ_ASSERT(rc == 1 || failure.msg[0] != '\0', "a failed status says nothing");
    FUZZ_ASSERT(rc != 0 ||
                    (failure.code != CE_OK && strcmp(cerr_name(failure.code), "unknown") != 0),
                "a failed status with undocumented code %d", (int)failure.code);
    if (rc == 1)
        FUZZ_ASSERT(runrec_status_qemu_pid(info) >= 0, "negative qemu pid");
    cJSON_Delete(info);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cerr e;
    cJSON *j = json_parse((const char *)data, size, &e);

    if (j != NULL) {
        check_run(j);
        check_exit(j);
        cJSON_Delete(j);
    }
    check_status(data, size);
    return 0;
}
