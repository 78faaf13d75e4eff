/* snapshot_tags: what is known of the disks' tags between listings, and
 * every reason it stops being known. */
#include "supervisor/snapshot_tags.h"

#include <cjson/cJSON.h>

#include "tests/unit/unit.h"

static const char *const nodes[] = {"drive-vda", "drive-vdb"};

/* A listing of nodes whose top-level images hold the snapshot objects
 * vda_snaps and vdb_snaps (JSON array contents; "" for none), next to a
 * protocol node that is not asked about. */
static struct snapshot_qmp_nodes *listing(const char *vda_snaps, const char *vdb_snaps)
{
    char text[2048];
    cJSON *ret;
    struct snapshot_qmp_nodes *l;
    struct cerr e;

    snprintf(text, sizeof(text),
             "[{\"node-name\":\"drive-vda\",\"image\":{\"snapshots\":[%s]}},"
             "{\"node-name\":\"drive-vda-file\",\"image\":{}},"
             "{\"node-name\":\"drive-vdb\",\"image\":{\"snapshots\":[%s]}}]",
             vda_snaps, vdb_snaps);
    ret = cJSON_Parse(text);
    l = snapshot_qmp_parse_nodes(ret, nodes, 2, &e);
    if (l == NULL)
        printf("# %s\n", e.msg);
    cJSON_Delete(ret);
    return l;
}

#define SNAP(name)                                                                                 \
    "{\"name\":\"" name "\",\"id\":\"1\",\"vm-state-size\":0,\"date-sec\":1,\"date-nsec\":0,"      \
    "\"vm-clock-sec\":0,\"vm-clock-nsec\":0}"

/* How many copies of tag node holds by what t knows; -1: not known. */
static int known_count(const struct snapshot_tags *t, const char *node, const char *tag)
{
    struct snapshot_qmp_nodes *l = snapshot_tags_known(t, nodes, 2);
    int n;

    if (l == NULL)
        return -1;
    n = (int)snapshot_qmp_count(l, node, tag);
    snapshot_qmp_nodes_free(l);
    return n;
}

/* t after learning a listing where vda holds "a" twice and "b", vdb "a". */
static struct snapshot_tags *learnt(void)
{
    struct snapshot_tags *t = snapshot_tags_new();
    struct snapshot_qmp_nodes *l = listing(SNAP("a") "," SNAP("b") "," SNAP("a"), SNAP("a"));

    snapshot_tags_learn(t, snapshot_tags_epoch(t), l);
    snapshot_qmp_nodes_free(l);
    return t;
}

static void test_nothing_known_at_first(void)
{
    struct snapshot_tags *t = snapshot_tags_new();

    EXPECT(known_count(t, "drive-vda", "a") == -1);
    EXPECT(snapshot_tags_known(NULL, nodes, 2) == NULL);
    snapshot_tags_free(t);
}

static void test_learnt_listing_is_answered(void)
{
    struct snapshot_tags *t = learnt();
    struct snapshot_qmp_nodes *l = snapshot_tags_known(t, nodes, 2);
    const char *holders[2];

    EXPECT(l != NULL);
    EXPECT(l->n == 2 && l->nodes[0].found && l->nodes[1].found);
    EXPECT(l->nodes[0].nsnaps == 3);
    EXPECT_STR(l->nodes[0].snaps[1].name, "b");
    EXPECT(snapshot_qmp_count(l, "drive-vda", "a") == 2);
    EXPECT(snapshot_qmp_holders(l, "b", holders) == 1);
    EXPECT_STR(holders[0], "drive-vda");
    EXPECT(snapshot_qmp_holders(l, "c", holders) == 0);
    snapshot_qmp_nodes_free(l);
    snapshot_tags_free(t);
}

static void test_other_nodes_not_answered(void)
{
    struct snapshot_tags *t = learnt();
    const char *const swapped[] = {"drive-vdb", "drive-vda"};

    EXPECT(snapshot_tags_known(t, swapped, 2) == NULL);
    EXPECT(snapshot_tags_known(t, nodes, 1) == NULL);
    snapshot_tags_free(t);
}

static void test_stale_listing_not_learnt(void)
{
    struct snapshot_tags *t = snapshot_tags_new();
    struct snapshot_qmp_nodes *l = listing(SNAP("a"), "");
    uint64_t epoch = snapshot_tags_epoch(t);

    /* A vm.qmp command went out while the listing was under way. */
    snapshot_tags_forget(t);
    snapshot_tags_learn(t, epoch, l);
    EXPECT(known_count(t, "drive-vda", "a") == -1);
    /* A job of ours started and ended meanwhile. */
    epoch = snapshot_tags_epoch(t);
    snapshot_tags_job_started(t);
    snapshot_tags_job_ended(t, SNAPSHOT_TAGS_UNCHANGED, "x", nodes, 2);
    snapshot_tags_learn(t, epoch, l);
    EXPECT(known_count(t, "drive-vda", "a") == -1);
    /* A job of ours is running. */
    snapshot_tags_job_started(t);
    snapshot_tags_learn(t, snapshot_tags_epoch(t), l);
    EXPECT(known_count(t, "drive-vda", "a") == -1);
    snapshot_tags_job_ended(t, SNAPSHOT_TAGS_UNKNOWN, "x", nodes, 2);
    /* A token of never: 0, and another instance's. */
    snapshot_tags_learn(t, 0, l);
    EXPECT(known_count(t, "drive-vda", "a") == -1);
    {
        struct snapshot_tags *other = snapshot_tags_new();

        snapshot_tags_learn(t, snapshot_tags_epoch(other), l);
        EXPECT(known_count(t, "drive-vda", "a") == -1);
        snapshot_tags_free(other);
    }
    snapshot_tags_learn(t, snapshot_tags_epoch(t), l);
    EXPECT(known_count(t, "drive-vda", "a") == 1);
    snapshot_qmp_nodes_free(l);
    snapshot_tags_free(t);
}

static void test_forget(void)
{
    struct snapshot_tags *t = learnt();

    snapshot_tags_forget(t);
    EXPECT(known_count(t, "drive-vda", "a") == -1);
    snapshot_tags_forget(NULL);
    snapshot_tags_free(t);
}

static void test_save_adds_a_copy(void)
{
    struct snapshot_tags *t = learnt();

    snapshot_tags_job_started(t);
    EXPECT(known_count(t, "drive-vda", "c") == -1);
    snapshot_tags_job_ended(t, SNAPSHOT_TAGS_SAVED, "c", nodes, 2);
    EXPECT(known_count(t, "drive-vda", "c") == 1);
    EXPECT(known_count(t, "drive-vdb", "c") == 1);
    snapshot_tags_job_started(t);
    snapshot_tags_job_ended(t, SNAPSHOT_TAGS_SAVED, "b", &nodes[1], 1);
    EXPECT(known_count(t, "drive-vda", "b") == 1);
    EXPECT(known_count(t, "drive-vdb", "b") == 1);
    snapshot_tags_free(t);
}

static void test_delete_removes_one_copy(void)
{
    struct snapshot_tags *t = learnt();

    snapshot_tags_job_started(t);
    snapshot_tags_job_ended(t, SNAPSHOT_TAGS_DELETED, "a", nodes, 2);
    EXPECT(known_count(t, "drive-vda", "a") == 1);
    EXPECT(known_count(t, "drive-vdb", "a") == 0);
    EXPECT(known_count(t, "drive-vda", "b") == 1);
    /* A device without the tag is skipped, as QEMU does. */
    snapshot_tags_job_started(t);
    snapshot_tags_job_ended(t, SNAPSHOT_TAGS_DELETED, "b", nodes, 2);
    EXPECT(known_count(t, "drive-vda", "b") == 0);
    EXPECT(known_count(t, "drive-vda", "a") == 1);
    snapshot_tags_free(t);
}

static void test_load_changes_nothing(void)
{
    struct snapshot_tags *t = learnt();

    snapshot_tags_job_started(t);
    snapshot_tags_job_ended(t, SNAPSHOT_TAGS_UNCHANGED, "b", nodes, 2);
    EXPECT(known_count(t, "drive-vda", "b") == 1);
    snapshot_tags_free(t);
}

static void test_unknown_end_forgets(void)
{
    struct snapshot_tags *t = learnt();

    snapshot_tags_job_started(t);
    snapshot_tags_job_ended(t, SNAPSHOT_TAGS_UNKNOWN, "a", nodes, 2);
    EXPECT(known_count(t, "drive-vda", "a") == -1);
    snapshot_tags_free(t);
}

static void test_job_on_unknown_device_forgets(void)
{
    struct snapshot_tags *t = learnt();
    const char *const other[] = {"drive-vdc"};

    snapshot_tags_job_started(t);
    snapshot_tags_job_ended(t, SNAPSHOT_TAGS_SAVED, "c", other, 1);
    EXPECT(known_count(t, "drive-vda", "c") == -1);
    snapshot_tags_free(t);
}

static void test_missing_node_known_as_missing(void)
{
    struct snapshot_tags *t = snapshot_tags_new();
    const char *const two[] = {"drive-vda", "drive-vdx"};
    cJSON *ret = cJSON_Parse("[{\"node-name\":\"drive-vda\",\"image\":{}}]");
    struct cerr e;
    struct snapshot_qmp_nodes *l = snapshot_qmp_parse_nodes(ret, two, 2, &e), *k;

    cJSON_Delete(ret);
    EXPECT(l != NULL);
    snapshot_tags_learn(t, snapshot_tags_epoch(t), l);
    snapshot_qmp_nodes_free(l);
    k = snapshot_tags_known(t, two, 2);
    EXPECT(k != NULL);
    EXPECT(k->nodes[0].found && !k->nodes[1].found);
    snapshot_qmp_nodes_free(k);
    /* A save that claims to have reached a node QEMU lacks: not believed. */
    snapshot_tags_job_started(t);
    snapshot_tags_job_ended(t, SNAPSHOT_TAGS_SAVED, "c", two, 2);
    EXPECT(snapshot_tags_known(t, two, 2) == NULL);
    snapshot_tags_free(t);
}

int main(void)
{
    RUN(test_nothing_known_at_first);
    RUN(test_learnt_listing_is_answered);
    RUN(test_other_nodes_not_answered);
    RUN(test_stale_listing_not_learnt);
    RUN(test_forget);
    RUN(test_save_adds_a_copy);
    RUN(test_delete_removes_one_copy);
    RUN(test_load_changes_nothing);
    RUN(test_unknown_end_forgets);
    RUN(test_job_on_unknown_device_forgets);
    RUN(test_missing_node_known_as_missing);
    return unit_done();
}
