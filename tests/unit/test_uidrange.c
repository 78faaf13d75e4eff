/* The /etc/subuid and /etc/subgid reader behind the VM uid range check:
 * an entry counts exactly when newuidmap would grant it. */
#include "broker/uidrange.h"

#include "tests/unit/unit.h"

#define LO 1879100000ULL
#define HI 1879100999ULL

static int find(const char *text, struct uidrange_entry *hit, unsigned *skipped)
{
    return uidrange_find_subid(text, strlen(text), LO, HI, hit, skipped);
}

static void names_the_overlapping_entry(void)
{
    struct uidrange_entry hit;
    unsigned skipped;

    EXPECT(find("alice:100000:65536\nbob:1879100500:65536\ncarol:1879100600:1\n", &hit, &skipped) ==
           1);
    EXPECT(hit.line == 2);
    EXPECT_STR(hit.owner, "bob");
    EXPECT(hit.start == 1879100500ULL && hit.count == 65536 && hit.last == 1879166035ULL);
    EXPECT(skipped == 0);
}

static void edges(void)
{
    struct uidrange_entry hit;
    unsigned skipped;

    /* Ends just below, starts just above: outside. */
    EXPECT(find("a:1879099000:1000\nb:1879101000:5\n", &hit, &skipped) == 0);
    /* One id on either edge: inside. */
    EXPECT(find("a:1879099000:1001\n", &hit, &skipped) == 1);
    EXPECT(find("b:1879100999:1\n", &hit, &skipped) == 1);
    /* Covering the whole range from far below. */
    EXPECT(find("c:0:4294967296\n", &hit, &skipped) == 1);
    /* No ids at all. */
    EXPECT(find("d:1879100000:0\n", &hit, &skipped) == 0);
    EXPECT(find("", &hit, &skipped) == 0 && skipped == 0);
    EXPECT(find("\n\n", &hit, &skipped) == 0 && skipped == 0);
    /* A last line without its newline still counts. */
    EXPECT(find("a:1:1\ne:1879100010:1", &hit, &skipped) == 1 && hit.line == 2);
}

static void numbers_as_newuidmap_reads_them(void)
{
    struct uidrange_entry hit;
    unsigned skipped;

    /* strtoul with base 0: hex and octal are ids too. */
    EXPECT(find("h:0x7000ca60:1\n", &hit, &skipped) == 1);
    EXPECT(hit.start == 0x7000ca60ULL && hit.start == LO);
    EXPECT(uidrange_find_subid("o:010:1\n", 8, 8, 8, &hit, &skipped) == 1);
    EXPECT(uidrange_find_subid("o:010:1\n", 8, 10, 10, &hit, &skipped) == 0);
    EXPECT(find("w: 1879100000:+5\n", &hit, &skipped) == 1 && hit.count == 5);
    /* Sums past the largest value are capped, not wrapped. */
    EXPECT(find("big:1879100000:18446744073709551615\n", &hit, &skipped) == 1);
    EXPECT(hit.last == ~0ULL);
    EXPECT(find("big:18446744073709551615:18446744073709551615\n", &hit, &skipped) == 0);
}

static void lines_newuidmap_refuses_grant_nothing(void)
{
    struct uidrange_entry hit;
    unsigned skipped;

    EXPECT(find("garbage\n"
                "a:1879100000\n"
                ":1879100000:5\n"
                "a:x1879100000:5\n"
                "a:-1:5\n"
                "a:1879100000:-5\n"
                "a::5\n"
                "a:1879100000:5\r\n"
                "a:99999999999999999999999:5\n",
                &hit, &skipped) == 0);
    EXPECT(skipped == 9);
}

static void odd_but_valid_lines(void)
{
    struct uidrange_entry hit;
    unsigned skipped;

    /* A uid for a name, and a fourth field older shadow ignores. */
    EXPECT(find("1000:1879100000:5\n", &hit, &skipped) == 1);
    EXPECT_STR(hit.owner, "1000");
    EXPECT(find("a:1879100000:5:more\n", &hit, &skipped) == 1 && hit.count == 5);
    /* The owner is shown escaped. */
    EXPECT(find("a\033b:1879100000:5\n", &hit, &skipped) == 1);
    EXPECT_STR(hit.owner, "a\\x1bb");
}

int main(void)
{
    RUN(names_the_overlapping_entry);
    RUN(edges);
    RUN(numbers_as_newuidmap_reads_them);
    RUN(lines_newuidmap_refuses_grant_nothing);
    RUN(odd_but_valid_lines);
    return unit_done();
}
