/* The name validators of common/names.c: a name they accept must be usable
 * as one path component inside the directory it names a file in (no '/',
 * not "." or "..", no NUL or control character, within its length limit,
 * not an option), and name_escape's output must be printable and fit.
 * (common/safe_open.c walks the real file system: it is no pure check and
 * is not fuzzed here.) */
#include <string.h>

#include "common/names.h"
#include "tests/fuzz/fuzz.h"

static void component_safe(const char *name, size_t max, const char *what)
{
    size_t len = strlen(name);

    FUZZ_ASSERT(len >= 1 && len <= max, "%s of %zu bytes accepted", what, len);
    FUZZ_ASSERT(strchr(name, '/') == NULL, "%s with '/' accepted", what);
    FUZZ_ASSERT(strcmp(name, ".") != 0 && strcmp(name, "..") != 0, "%s '%s' accepted", what, name);
    FUZZ_ASSERT(name[0] != '.', "hidden %s '%s' accepted", what, name);
    for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++)
        FUZZ_ASSERT(*p >= 0x20 && *p != 0x7f, "%s with control byte 0x%02x accepted", what, *p);
}

static void check_escape(const char *in, size_t outlen)
{
    char out[300];
    size_t len;

    memset(out, 'Z', sizeof(out));
    name_escape(in, out, outlen);
    if (outlen == 0) {
        FUZZ_ASSERT(out[0] == 'Z', "name_escape wrote into a buffer of 0 bytes");
        return;
    }
    len = strnlen(out, outlen);
    FUZZ_ASSERT(len < outlen, "name_escape left no NUL within %zu bytes", outlen);
    FUZZ_ASSERT(out[outlen] == 'Z' || outlen == sizeof(out), "name_escape wrote past %zu bytes",
                outlen);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)out[i];
        FUZZ_ASSERT(c >= 0x20 && c != 0x7f, "name_escape let control byte 0x%02x through", c);
    }
    /* What fits is copied or escaped in full: a short input comes back
     * whole (each byte at most 4 bytes), never cut. */
    if (strlen(in) * 4 + 4 < outlen)
        FUZZ_ASSERT(len >= strlen(in), "name_escape cut a short input");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *name;
    struct cerr e;
    size_t outlen;

    if (size < 1)
        return 0;
    /* The first byte sizes name_escape's buffer (the rest is the name). */
    outlen = data[0] % 300;
    name = fuzz_cstr(data + 1, size - 1);
    if (name_vm_valid(name, &e)) {
        component_safe(name, VM_NAME_MAX, "VM name");
        FUZZ_ASSERT(name[0] != '-', "VM name '%s' that reads as an option accepted", name);
        FUZZ_ASSERT(strpbrk(name, ",= :") == NULL, "VM name '%s' with a QEMU separator", name);
    }
    if (name_snapshot_valid(name, &e))
        component_safe(name, SNAPSHOT_NAME_MAX, "snapshot name");
    if (name_target_valid(name, &e)) {
        component_safe(name, 16, "disk target");
        for (const char *p = name; *p != '\0'; p++)
            FUZZ_ASSERT((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9'),
                        "disk target '%s' accepted", name);
    }
    check_escape(name, outlen);
    free(name);
    return 0;
}
