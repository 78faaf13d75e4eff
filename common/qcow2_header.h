/* The fixed part of a qcow2 header (QEMU's docs/interop/qcow2.txt), read
 * from an untrusted image: what decides which other files QEMU would open
 * for it, and whether it holds internal snapshots. */
#ifndef CORRAL_QCOW2_HEADER_H
#define CORRAL_QCOW2_HEADER_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/* Bytes that hold every field parsed (a version 3 header up to
 * incompatible_features). */
#define QCOW2_HEADER_READ 80
/* Incompatible feature bit 2: the guest data lives in an external file
 * named by a header extension, which QEMU opens by itself. */
#define QCOW2_INCOMPAT_DATA_FILE (1ULL << 2)

struct qcow2_header {
    uint32_t version;
    uint64_t backing_file_offset; /* 0: no backing file */
    uint32_t backing_file_size;
    uint64_t incompatible_features; /* 0 for version 2 */
    uint32_t nb_snapshots;          /* internal snapshots in the image's table */
};

/* Parses the first len bytes of an image; -1 with e set when they are no
 * qcow2 header of version 2 or 3. */
int qcow2_header_parse(const unsigned char *buf, size_t len, struct qcow2_header *h,
                       struct cerr *e);
/* Reads (pread, at most QCOW2_HEADER_READ bytes) and parses fd's header. */
int qcow2_header_read(int fd, struct qcow2_header *h, struct cerr *e);

#endif
