/* The qcow2 header fields that decide which other files QEMU would open,
 * and its snapshot count, parsed from untrusted bytes. */
#include "common/qcow2_header.h"

#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "tests/unit/unit.h"

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static void put64(unsigned char *p, uint64_t v)
{
    put32(p, (uint32_t)(v >> 32));
    put32(p + 4, (uint32_t)v);
}

/* A header as qemu-img writes it: version 3, 104 bytes. */
static void header(unsigned char *buf, uint32_t version, uint64_t backing, uint64_t incompat)
{
    memset(buf, 0, 112);
    put32(buf, 0x514649fbU);
    put32(buf + 4, version);
    put64(buf + 8, backing);
    put32(buf + 16, backing != 0 ? 15 : 0);
    put32(buf + 20, 16);
    if (version == 3) {
        put64(buf + 72, incompat);
        put32(buf + 96, 4);
        put32(buf + 100, 104);
    }
}

static void plain_v3(void)
{
    unsigned char buf[112];
    struct qcow2_header h;
    struct cerr e = {0};

    header(buf, 3, 0, 0);
    EXPECT(qcow2_header_parse(buf, sizeof(buf), &h, &e) == 0);
    EXPECT(h.version == 3 && h.backing_file_offset == 0 && h.incompatible_features == 0);
}

static void data_file_bit(void)
{
    unsigned char buf[112];
    struct qcow2_header h;
    struct cerr e = {0};

    header(buf, 3, 0, QCOW2_INCOMPAT_DATA_FILE);
    EXPECT(qcow2_header_parse(buf, sizeof(buf), &h, &e) == 0);
    EXPECT(h.incompatible_features & QCOW2_INCOMPAT_DATA_FILE);
}

/* What QEMU lists as the image's snapshots: the count its table holds. */
static void snapshot_count(void)
{
    unsigned char buf[112];
    struct qcow2_header h;
    struct cerr e = {0};

    header(buf, 3, 0, 0);
    EXPECT(qcow2_header_parse(buf, sizeof(buf), &h, &e) == 0);
    EXPECT(h.nb_snapshots == 0);
    put32(buf + 60, 1000);
    EXPECT(qcow2_header_parse(buf, sizeof(buf), &h, &e) == 0);
    EXPECT(h.nb_snapshots == 1000);
}

static void backing_v2(void)
{
    unsigned char buf[112];
    struct qcow2_header h;
    struct cerr e = {0};

    /* Bytes past a version 2 header are cluster data, not features. */
    header(buf, 2, 0x210, 0);
    memset(buf + 72, 0xff, 8);
    EXPECT(qcow2_header_parse(buf, 72, &h, &e) == 0);
    EXPECT(h.version == 2 && h.backing_file_offset == 0x210 && h.backing_file_size == 15);
    EXPECT(qcow2_header_parse(buf, sizeof(buf), &h, &e) == 0);
    EXPECT(h.incompatible_features == 0);
}

static void not_qcow2_refused(void)
{
    unsigned char buf[112];
    struct qcow2_header h;
    struct cerr e1 = {0}, e2 = {0}, e3 = {0}, e4 = {0};

    header(buf, 3, 0, 0);
    EXPECT(qcow2_header_parse(buf, 0, &h, &e1) == -1);
    EXPECT_CONTAINS(e1.msg, "no qcow2 header");
    EXPECT(qcow2_header_parse(buf, 79, &h, &e2) == -1);
    EXPECT_CONTAINS(e2.msg, "cut short at 79 bytes");
    header(buf, 4, 0, 0);
    EXPECT(qcow2_header_parse(buf, sizeof(buf), &h, &e3) == -1);
    EXPECT_CONTAINS(e3.msg, "version 4");
    header(buf, 3, 0, 0);
    buf[3] = 0;
    EXPECT(qcow2_header_parse(buf, sizeof(buf), &h, &e4) == -1);
    EXPECT_CONTAINS(e4.msg, "no qcow2 header");
}

static void read_from_fd(void)
{
    char path[] = "/tmp/corral-test-qcow2-XXXXXX";
    unsigned char buf[112];
    struct qcow2_header h;
    struct cerr e = {0}, e_short = {0};
    int fd = mkstemp(path), rc, rc_short;

    EXPECT(fd >= 0);
    unlink(path);
    header(buf, 3, 0x210, QCOW2_INCOMPAT_DATA_FILE);
    rc = write(fd, buf, sizeof(buf)) == (ssize_t)sizeof(buf) ? qcow2_header_read(fd, &h, &e) : -2;
    rc_short = ftruncate(fd, 10) == 0 ? qcow2_header_read(fd, &h, &e_short) : -2;
    close(fd);
    EXPECT(rc == 0);
    EXPECT(h.backing_file_offset == 0x210 && (h.incompatible_features & QCOW2_INCOMPAT_DATA_FILE));
    EXPECT(rc_short == -1);
    EXPECT_CONTAINS(e_short.msg, "no qcow2 header");
}

int main(void)
{
    RUN(plain_v3);
    RUN(data_file_bit);
    RUN(snapshot_count);
    RUN(backing_v2);
    RUN(not_qcow2_refused);
    RUN(read_from_fd);
    return unit_done();
}
