#include "common/names.h"

#include <stdio.h>
#include <string.h>

void name_escape(const char *in, char *out, size_t outlen)
{
    size_t o = 0;

    if (outlen == 0)
        return;
    for (const unsigned char *p = (const unsigned char *)in; *p != '\0'; p++) {
        char tmp[8];
        size_t n;

        if (*p < 0x20 || *p == 0x7f || *p == '\\')
            n = (size_t)snprintf(tmp, sizeof(tmp), "\\x%02x", *p);
        else {
            tmp[0] = (char)*p;
            n = 1;
        }
        if (o + n + 4 >= outlen) {
            /* A buffer of under 4 bytes has no room for the mark. */
            if (o + 4 <= outlen) {
                memcpy(out + o, "...", 3);
                o += 3;
            }
            break;
        }
        memcpy(out + o, tmp, n);
        o += n;
    }
    out[o] = '\0';
}

bool name_vm_valid(const char *name, struct cerr *e)
{
    char shown[96];
    size_t len;

    if (name == NULL || name[0] == '\0') {
        cerr_set(e, CE_INVALID_NAME, "VM name is empty");
        return false;
    }
    len = strlen(name);
    name_escape(name, shown, sizeof(shown));
    if (len > VM_NAME_MAX) {
        cerr_set(e, CE_INVALID_NAME, "VM name '%s' is %zu bytes long, the limit is %d", shown, len,
                 VM_NAME_MAX);
        return false;
    }
    if (name[0] == '.' || name[0] == '-') {
        cerr_set(e, CE_INVALID_NAME, "VM name '%s' must not start with '%c'", shown, name[0]);
        return false;
    }
    for (const char *p = name; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '.' || c == '_' || c == '-' || c == '+')
            continue;
        if (c == '/')
            cerr_set(e, CE_INVALID_NAME, "VM name '%s' contains '/'", shown);
        else if (c < 0x20 || c == 0x7f)
            cerr_set(e, CE_INVALID_NAME, "VM name '%s' contains a control character", shown);
        else
            cerr_set(e, CE_INVALID_NAME,
                     "VM name '%s' contains '%c'; allowed are letters, digits and . _ - +", shown,
                     c < 0x80 ? c : '?');
        return false;
    }
    return true;
}

/* Returns the length of the UTF-8 sequence at p, or 0 if it is malformed. */
static size_t utf8_seq_len(const unsigned char *p)
{
    size_t n;
    unsigned int cp;

    if (p[0] < 0x80)
        return 1;
    if ((p[0] & 0xe0) == 0xc0) {
        n = 2;
        cp = p[0] & 0x1f;
    } else if ((p[0] & 0xf0) == 0xe0) {
        n = 3;
        cp = p[0] & 0x0f;
    } else if ((p[0] & 0xf8) == 0xf0) {
        n = 4;
        cp = p[0] & 0x07;
    } else
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    /* C1 control characters. */
    if (cp >= 0x80 && cp < 0xa0)
        return 0;
    return n;
}

bool name_snapshot_valid(const char *name, struct cerr *e)
{
    char shown[96];
    size_t len;

    if (name == NULL || name[0] == '\0') {
        cerr_set(e, CE_INVALID_NAME, "snapshot name is empty");
        return false;
    }
    len = strlen(name);
    name_escape(name, shown, sizeof(shown));
    if (len > SNAPSHOT_NAME_MAX) {
        cerr_set(e, CE_INVALID_NAME, "snapshot name '%s' is %zu bytes long, the limit is %d", shown,
                 len, SNAPSHOT_NAME_MAX);
        return false;
    }
    if (name[0] == '.') {
        cerr_set(e, CE_INVALID_NAME, "snapshot name '%s' must not start with '.'", shown);
        return false;
    }
    for (const unsigned char *p = (const unsigned char *)name; *p != '\0';) {
        size_t n;

        if (*p == '/') {
            cerr_set(e, CE_INVALID_NAME, "snapshot name '%s' contains '/'", shown);
            return false;
        }
        if (*p < 0x20 || *p == 0x7f) {
            cerr_set(e, CE_INVALID_NAME, "snapshot name '%s' contains a control character", shown);
            return false;
        }
        n = utf8_seq_len(p);
        if (n == 0) {
            cerr_set(e, CE_INVALID_NAME,
                     "snapshot name '%s' is not valid UTF-8 or holds a control character", shown);
            return false;
        }
        p += n;
    }
    return true;
}

bool name_target_valid(const char *name, struct cerr *e)
{
    char shown[64];
    size_t len = name ? strlen(name) : 0;

    if (name == NULL) {
        cerr_set(e, CE_INVALID_XML, "disk target dev is missing");
        return false;
    }
    name_escape(name, shown, sizeof(shown));
    if (len < 2 || len > 16 || name[0] < 'a' || name[0] > 'z') {
        cerr_set(e, CE_INVALID_XML,
                 "disk target dev '%s' must be 2-16 lowercase letters and digits, such as vda",
                 shown);
        return false;
    }
    for (const char *p = name; *p != '\0'; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9'))) {
            cerr_set(e, CE_INVALID_XML,
                     "disk target dev '%s' must be lowercase letters and digits, such as vda",
                     shown);
            return false;
        }
    }
    return true;
}
