/* snaplist_run: virsh snapshot-list's selections, filters and orders on a
 * tree of four (a -> b -> c, a -> d; current d), and the params it
 * refuses. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileutil.h"
#include "common/json.h"
#include "supervisor/snapshot_core.h"
#include "supervisor/snapshot_list.h"
#include "supervisor/snapshot_tree.h"
#include "supervisor/snapshot_tree_load.h"
#include "tests/unit/unit.h"

static struct snapops so;
static char dir[] = "/tmp/corral-snaplist-XXXXXX";

static struct snapshot_def *mkdef(const char *name, const char *parent, enum snapshot_state st)
{
    struct snapshot_def *def = xcalloc(1, sizeof(*def));

    def->name = xstrdup(name);
    def->parent = parent ? xstrdup(parent) : NULL;
    def->state = st;
    def->creation_time = 1795316170;
    def->memory_internal = st != SNAPSHOT_STATE_SHUTOFF;
    return def;
}

static int setup(void)
{
    struct snapshot_problem *problems = NULL;
    size_t n = 0;
    struct cerr e;

    if (mkdtemp(dir) == NULL)
        return -1;
    so.name = "vm1";
    so.dir = dir;
    so.tree = snapshot_tree_load(dir, &problems, &n, &e);
    snapshot_problems_free(problems, n);
    if (so.tree == NULL ||
        snapshot_tree_add(so.tree, dir, mkdef("a", NULL, SNAPSHOT_STATE_RUNNING), true, &e) < 0 ||
        snapshot_tree_add(so.tree, dir, mkdef("b", "a", SNAPSHOT_STATE_PAUSED), true, &e) < 0 ||
        snapshot_tree_add(so.tree, dir, mkdef("c", "b", SNAPSHOT_STATE_SHUTOFF), true, &e) < 0 ||
        snapshot_tree_add(so.tree, dir, mkdef("d", "a", SNAPSHOT_STATE_RUNNING), true, &e) < 0)
        return -1;
    return 0;
}

/* What the last call answered: names joined by spaces, or "error CODE". */
static char answer[256];

static void done(void *arg, cJSON *result, const struct cerr *e)
{
    const cJSON *s;
    char *text;
    cJSON *wire;

    (void)arg;
    answer[0] = '\0';
    if (e != NULL) {
        snprintf(answer, sizeof(answer), "error %d", e->code);
        return;
    }
    /* The reply as a client reads it: the page's array is printed text. */
    text = cJSON_PrintUnformatted(result);
    wire = cJSON_Parse(text);
    EXPECT(wire != NULL);
    cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(wire, "snapshots"))
    {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(s, "name");
        if (answer[0] != '\0')
            strncat(answer, " ", sizeof(answer) - strlen(answer) - 1);
        strncat(answer, name->valuestring, sizeof(answer) - strlen(answer) - 1);
    }
    cJSON_Delete(wire);
    cJSON_free(text);
    cJSON_Delete(result);
}

/* Lists with params given as JSON text. */
static const char *list(const char *json)
{
    cJSON *p = cJSON_Parse(json);

    snaplist_run(&so, p, done, NULL);
    cJSON_Delete(p);
    return answer;
}

static void test_selections(void)
{
    EXPECT_STR(list("{}"), "a b c d");
    EXPECT_STR(list("{\"filter\":\"roots\"}"), "a");
    EXPECT_STR(list("{\"filter\":\"current\"}"), "d");
    EXPECT_STR(list("{\"from\":\"a\"}"), "b d");
    EXPECT_STR(list("{\"from\":\"a\",\"descendants\":true}"), "b c d");
    /* virsh's --current: the current snapshot's children, not itself. */
    EXPECT_STR(list("{\"from_current\":true}"), "");
}

static void test_filters(void)
{
    EXPECT_STR(list("{\"leaves\":true}"), "c d");
    EXPECT_STR(list("{\"no_leaves\":true}"), "a b");
    EXPECT_STR(list("{\"leaves\":true,\"no_leaves\":true}"), "a b c d");
    EXPECT_STR(list("{\"inactive\":true}"), "c");
    EXPECT_STR(list("{\"active\":true}"), "a b d");
    EXPECT_STR(list("{\"active\":true,\"inactive\":true}"), "a b c d");
    EXPECT_STR(list("{\"disk_only\":true}"), "");
    EXPECT_STR(list("{\"metadata\":true}"), "a b c d");
    EXPECT_STR(list("{\"no_metadata\":true}"), "");
    EXPECT_STR(list("{\"internal\":true,\"external\":true}"), "a b c d");
    EXPECT_STR(list("{\"external\":true}"), "");
    EXPECT_STR(list("{\"from\":\"a\",\"descendants\":true,\"leaves\":true}"), "c d");
    EXPECT_STR(list("{\"filter\":\"roots\",\"leaves\":true}"), "");
}

static void test_topological(void)
{
    struct cerr e;

    /* Parents first; by name, "0" (a child of d) comes first. */
    EXPECT(snapshot_tree_add(so.tree, dir, mkdef("0", "d", SNAPSHOT_STATE_RUNNING), false, &e) ==
           0);
    EXPECT_STR(list("{}"), "0 a b c d");
    EXPECT_STR(list("{\"topological\":true}"), "a b c d 0");
    EXPECT_STR(list("{\"topological\":true,\"leaves\":true}"), "c 0");
}

static void test_refused(void)
{
    struct cerr e;

    EXPECT_STR(list("{\"filter\":\"bogus\"}"), "error -32602");
    EXPECT_STR(list("{\"from\":\"nosuch\"}"), "error 1012");
    EXPECT_STR(list("{\"from\":\"a\",\"from_current\":true}"), "error -32602");
    EXPECT_STR(list("{\"leaves\":\"yes\"}"), "error -32602");
    EXPECT(snapshot_tree_set_current(so.tree, dir, NULL, &e) == 0);
    EXPECT_STR(list("{\"from_current\":true}"), "error 1012");
}

int main(void)
{
    struct cerr e;
    int rc;

    if (setup() < 0) {
        printf("not ok - setup\n");
        return 1;
    }
    RUN(test_selections);
    RUN(test_filters);
    RUN(test_topological);
    RUN(test_refused);
    rc = unit_done();
    snapshot_tree_free(so.tree);
    if (rm_rf(dir, &e) < 0)
        printf("# %s\n", e.msg);
    return rc;
}
