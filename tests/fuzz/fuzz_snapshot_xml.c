/* Snapshot XML (supervisor/snapshot_meta.c), from a user's --redefine or a
 * metadata file on disk: what snapshot_def_parse accepts,
 * snapshot_def_format writes, and what is written parses back to the same
 * definition and formats to the same text. */
#include <string.h>

#include "common/log.h"
#include "supervisor/snapshot_meta.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    log_init("fuzz_snapshot_xml", (enum log_level)(LOG_LVL_ERR + 1));
    return 0;
}

static bool same_str(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static void same_def(const struct snapshot_def *a, const struct snapshot_def *b, bool active)
{
    FUZZ_ASSERT(strcmp(a->name, b->name) == 0, "name '%s' came back as '%s'", a->name, b->name);
    FUZZ_ASSERT(same_str(a->description, b->description), "description changed");
    FUZZ_ASSERT(a->state == b->state, "state %d came back as %d", a->state, b->state);
    FUZZ_ASSERT(same_str(a->parent, b->parent), "parent changed");
    FUZZ_ASSERT(a->creation_time == b->creation_time, "creationTime %lld came back as %lld",
                a->creation_time, b->creation_time);
    FUZZ_ASSERT(a->memory_internal == b->memory_internal, "memory changed");
    FUZZ_ASSERT(a->ndisks == b->ndisks, "%zu disks came back as %zu", a->ndisks, b->ndisks);
    for (size_t i = 0; i < a->ndisks; i++)
        FUZZ_ASSERT(strcmp(a->disks[i].name, b->disks[i].name) == 0 &&
                        a->disks[i].internal == b->disks[i].internal,
                    "disk %zu changed", i);
    FUZZ_ASSERT((a->domain_xml == NULL) == (b->domain_xml == NULL), "<domain> lost or added");
    FUZZ_ASSERT(!active || a->current == b->current, "active changed");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned int flags;
    bool active;
    struct snapshot_def *def, *again;
    char *text, *text2;
    struct cerr e;

    if (size < 1)
        return 0;
    /* The first byte picks the flags and the form written. */
    flags = (data[0] & 1) ? SNAPSHOT_PARSE_REDEFINE : 0;
    active = (data[0] & 2) != 0;
    def = snapshot_def_parse((const char *)data + 1, size - 1, flags, &e);
    if (def == NULL)
        return 0;
    text = snapshot_def_format(def, active, &e);
    FUZZ_ASSERT(text != NULL, "an accepted snapshot does not format: %s", e.msg);
    again = snapshot_def_parse(text, strlen(text), flags, &e);
    FUZZ_ASSERT(again != NULL, "what was written does not parse back: %s\n%s", e.msg, text);
    same_def(def, again, active);
    text2 = snapshot_def_format(again, active, &e);
    FUZZ_ASSERT(text2 != NULL && strcmp(text, text2) == 0, "written twice, two texts:\n%s\n%s",
                text, text2 ? text2 : e.msg);
    free(text2);
    free(text);
    snapshot_def_free(again);
    snapshot_def_free(def);
    return 0;
}
