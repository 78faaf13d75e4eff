#include "common/qcow2_header.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#define QCOW2_MAGIC 0x514649fbU /* "QFI\xfb" */
/* A version 2 header ends before the feature fields. */
#define QCOW2_V2_LEN 72

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const unsigned char *p)
{
    return (uint64_t)be32(p) << 32 | be32(p + 4);
}

int qcow2_header_parse(const unsigned char *buf, size_t len, struct qcow2_header *h, struct cerr *e)
{
    if (len < QCOW2_V2_LEN || be32(buf) != QCOW2_MAGIC) {
        cerr_set(e, CE_UNSUPPORTED, "it has no qcow2 header");
        return -1;
    }
    h->version = be32(buf + 4);
    if (h->version != 2 && h->version != 3) {
        cerr_set(e, CE_UNSUPPORTED, "its qcow2 header has version %u (only 2 and 3 exist)",
                 (unsigned)h->version);
        return -1;
    }
    if (h->version == 3 && len < QCOW2_HEADER_READ) {
        cerr_set(e, CE_UNSUPPORTED, "its qcow2 version 3 header is cut short at %zu bytes", len);
        return -1;
    }
    h->backing_file_offset = be64(buf + 8);
    h->backing_file_size = be32(buf + 16);
    h->nb_snapshots = be32(buf + 60);
    h->incompatible_features = h->version == 3 ? be64(buf + 72) : 0;
    return 0;
}

int qcow2_header_read(int fd, struct qcow2_header *h, struct cerr *e)
{
    unsigned char buf[QCOW2_HEADER_READ];
    size_t got = 0;

    while (got < sizeof(buf)) {
        ssize_t n = pread(fd, buf + got, sizeof(buf) - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            cerr_set(e, CE_SYSTEM, "cannot read its qcow2 header: %s", strerror(errno));
            return -1;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return qcow2_header_parse(buf, got, h, e);
}
