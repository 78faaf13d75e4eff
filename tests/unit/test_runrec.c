/* The records shared between supervisor and broker: what one side writes
 * the other reads back, and what a VM uid forges reads as "not said". */
#include "common/runrec.h"

#include <limits.h>
#include <unistd.h>

#include "common/fileutil.h"
#include "common/json.h"
#include "tests/unit/unit.h"

static char dir[] = "/tmp/corral-runrec-XXXXXX";

static cJSON *read_back(const char *name)
{
    char *path = xasprintf("%s/%s", dir, name);
    cJSON *j = json_read_object_file(path, RUNREC_MAX);

    free(path);
    return j;
}

static void run_record_round_trip(void)
{
    struct runrec_run w = {.protocol = 1,
                           .supervisor_pid = 4242,
                           .supervisor_start = 123456789012ULL,
                           .qemu_pid = 4343,
                           .qemu_start = 123456789999ULL,
                           .maintenance = true,
                           .started = 1700000000};
    struct runrec_run r;
    struct cerr e;
    cJSON *j;

    EXPECT(runrec_run_write(dir, "vm1", &w, &e) == 0);
    j = read_back(RUNREC_RUN_FILE);
    EXPECT(j != NULL);
    runrec_run_parse(j, &r);
    EXPECT_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "name")), "vm1");
    cJSON_Delete(j);
    EXPECT(r.protocol == 1 && r.supervisor_pid == 4242 && r.qemu_pid == 4343);
    EXPECT(r.supervisor_start == 123456789012ULL && r.qemu_start == 123456789999ULL);
    EXPECT(r.maintenance && !r.adopted && r.started == 1700000000);
    EXPECT(runrec_run_remove(dir, &e) == 0);
    j = read_back(RUNREC_RUN_FILE);
    EXPECT(j == NULL);
    /* Removing what is gone is no error. */
    EXPECT(runrec_run_remove(dir, &e) == 0);
}

static void forged_run_record_reads_as_not_said(void)
{
    static const char *const forged[] = {
        "{\"supervisor_pid\":-1,\"qemu_pid\":0,\"supervisor_start\":-5,\"protocol\":\"1\"}",
        "{\"supervisor_pid\":1e30,\"qemu_pid\":4294967297,\"qemu_start\":1.5}",
        "{\"supervisor_pid\":\"1\",\"qemu_pid\":true,\"started\":-1,\"maintenance\":1}",
    };
    struct runrec_run r;

    for (size_t i = 0; i < sizeof(forged) / sizeof(forged[0]); i++) {
        struct cerr e;
        cJSON *j = json_parse(forged[i], strlen(forged[i]), &e);
        EXPECT(j != NULL);
        runrec_run_parse(j, &r);
        cJSON_Delete(j);
        if (r.supervisor_pid != 0 || r.qemu_pid != 0 || r.supervisor_start != 0 ||
            r.qemu_start != 0 || r.protocol != -1 || r.started != 0 || r.maintenance)
            printf("# forged record %zu believed\n", i);
        EXPECT(r.supervisor_pid == 0 && r.qemu_pid == 0);
        EXPECT(r.supervisor_start == 0 && r.qemu_start == 0);
        EXPECT(r.protocol == -1 && r.started == 0 && !r.maintenance);
    }
    runrec_run_parse(NULL, &r);
    EXPECT(r.supervisor_pid == 0 && r.protocol == -1);
}

static void exit_facts_round_trip(void)
{
    struct runrec_exit w = {.state = "crashed",
                            .reason = "crashed: QEMU killed by signal 9",
                            .time = 1700000001,
                            .qemu_pid = 77,
                            .code_known = true,
                            .signaled = true,
                            .code = 9};
    struct runrec_exit x;
    struct cerr e;
    cJSON *j, *shown;

    EXPECT(runrec_exit_write(dir, &w, &e) == 0);
    j = read_back(RUNREC_EXIT_FILE);
    EXPECT(runrec_exit_parse(j, &x));
    cJSON_Delete(j);
    EXPECT_STR(x.state, "crashed");
    EXPECT_STR(x.reason, w.reason);
    EXPECT(x.time == 1700000001 && x.qemu_pid == 77);
    EXPECT(x.code_known && x.signaled && x.code == 9);
    /* vm.info's last_exit keeps the keys PROTOCOL.md names. */
    shown = runrec_exit_to_json(&x);
    EXPECT(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(shown, "signal")) == 9);
    EXPECT(cJSON_GetObjectItemCaseSensitive(shown, "status") == NULL);
    cJSON_Delete(shown);
}

static void half_forged_exit_facts_not_believed(void)
{
    static const char *const forged[] = {
        "{\"reason\":\"r\",\"time\":1}",
        "{\"state\":\"shut off\",\"reason\":\"r\"}",
        "{\"state\":\"shut off\",\"reason\":\"r\",\"time\":-1}",
        "{\"state\":\"shut off\",\"reason\":\"r\",\"time\":1,\"qemu_pid\":-3}",
        "{\"state\":\"shut off\",\"reason\":\"r\",\"time\":1,\"signaled\":true,\"signal\":1e9}",
        "{\"state\":\"longer than any state written\",\"reason\":\"r\",\"time\":1}",
    };
    struct runrec_exit x;

    for (size_t i = 0; i < sizeof(forged) / sizeof(forged[0]); i++) {
        struct cerr e;
        cJSON *j = json_parse(forged[i], strlen(forged[i]), &e);
        bool believed = runrec_exit_parse(j, &x);
        cJSON_Delete(j);
        if (believed)
            printf("# forged exit facts %zu believed\n", i);
        EXPECT(!believed);
    }
    EXPECT(!runrec_exit_parse(NULL, &x));
}

static void status_line_both_ways(void)
{
    cJSON *info = json_obj(), *got = NULL;
    struct cerr fail, e;
    size_t len;
    char *line;

    json_add_num(info, "qemu_pid", 99);
    line = runrec_status_format(info, NULL, &len);
    cJSON_Delete(info);
    EXPECT(line != NULL && line[len - 1] == '\n');
    EXPECT(runrec_status_parse(line, len - 1, &got, &e) == 1);
    free(line);
    EXPECT(runrec_status_qemu_pid(got) == 99);
    cJSON_Delete(got);

    cerr_set(&fail, CE_QEMU_FAILED, "QEMU of VM vm1 did not start");
    line = runrec_status_format(NULL, &fail, &len);
    EXPECT(runrec_status_parse(line, len - 1, &got, &e) == 0);
    free(line);
    EXPECT(got == NULL && e.code == CE_QEMU_FAILED);
    EXPECT_STR(e.msg, "QEMU of VM vm1 did not start");

    /* A supervisor's code that is none of the protocol's, or no words,
     * is not passed on (fuzz_runrec). */
    static const char *const forged[] = {
        "{\"ok\":false,\"code\":-2,\"message\":\"\"}",
        "{\"ok\":false,\"code\":0,\"message\":\"boom\"}",
        "{\"ok\":false,\"code\":1e300}",
    };
    for (size_t i = 0; i < sizeof(forged) / sizeof(forged[0]); i++) {
        EXPECT(runrec_status_parse(forged[i], strlen(forged[i]), &got, &e) == 0);
        EXPECT(got == NULL && e.code == CE_SUPERVISOR && e.msg[0] != '\0');
    }
    EXPECT_STR(e.msg, "start-up failed");
    EXPECT(runrec_status_parse("{\"ok\":\"yes\"}", 12, &got, &e) == -1);
    EXPECT(runrec_status_parse("not json", 8, &got, &e) == -1);
    EXPECT(runrec_status_qemu_pid(NULL) == 0);
}

int main(void)
{
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    RUN(run_record_round_trip);
    RUN(forged_run_record_reads_as_not_said);
    RUN(exit_facts_round_trip);
    RUN(half_forged_exit_facts_not_believed);
    RUN(status_line_both_ways);
    {
        struct cerr e;
        if (rm_rf(dir, &e) < 0)
            printf("# %s\n", e.msg);
    }
    return unit_done();
}
