#include "broker/uidrange.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileutil.h"
#include "common/log.h"
#include "common/names.h"

/* Far above any real /etc/subuid (a few bytes per user); only a bound on
 * what is read. */
#define SUBID_FILE_MAX (64u * 1024 * 1024)

/* A field as newuidmap reads it (strtoul with base 0, no sign). */
static bool parse_id(const char *s, size_t len, unsigned long long *out)
{
    char buf[32], *end;
    const char *p;

    if (len == 0 || len >= sizeof(buf))
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    for (p = buf; *p == ' ' || (*p >= '\t' && *p <= '\r'); p++)
        ;
    if (*p == '-')
        return false;
    errno = 0;
    *out = strtoull(buf, &end, 0);
    return errno == 0 && end != buf && *end == '\0';
}

/* Returns 1 with *hit set when the line grants an id in [lo, hi]. */
static int scan_line(const char *line, size_t len, unsigned lineno, unsigned long long lo,
                     unsigned long long hi, struct uidrange_entry *hit, unsigned *skipped)
{
    const char *f[3];
    size_t flen[3];
    const char *p = line, *end = line + len;
    unsigned long long start, count, last;
    char raw[sizeof(hit->owner)];

    for (int i = 0; i < 3; i++) {
        const char *colon = memchr(p, ':', (size_t)(end - p));
        if (colon == NULL && i < 2) {
            ++*skipped;
            return 0;
        }
        f[i] = p;
        flen[i] = (size_t)((colon ? colon : end) - p);
        p = colon ? colon + 1 : end;
    }
    if (flen[0] == 0 || !parse_id(f[1], flen[1], &start) || !parse_id(f[2], flen[2], &count)) {
        ++*skipped;
        return 0;
    }
    if (count == 0)
        return 0;
    last = start + (count - 1);
    if (last < start)
        last = ~0ULL;
    if (start > hi || last < lo)
        return 0;
    hit->line = lineno;
    hit->start = start;
    hit->count = count;
    hit->last = last;
    size_t n = flen[0] < sizeof(raw) - 1 ? flen[0] : sizeof(raw) - 1;
    memcpy(raw, f[0], n);
    raw[n] = '\0';
    name_escape(raw, hit->owner, sizeof(hit->owner));
    return 1;
}

int uidrange_find_subid(const char *text, size_t len, unsigned long long lo, unsigned long long hi,
                        struct uidrange_entry *hit, unsigned *skipped)
{
    const char *p = text, *end = text + len;
    unsigned lineno = 0;

    *skipped = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl : end;
        lineno++;
        if (stop > p && scan_line(p, (size_t)(stop - p), lineno, lo, hi, hit, skipped) == 1)
            return 1;
        p = nl ? nl + 1 : end;
    }
    return 0;
}

/* The whole of a root-owned file under /etc; *text is NULL when it does not
 * exist (no subordinate ids are delegated). */
static int read_etc(const char *path, char **text, size_t *len, struct cerr *e)
{
    *len = 0;
    *text = NULL;
    if (!path_exists(path))
        return 0;
    *text = file_read_untrusted(AT_FDCWD, path, SUBID_FILE_MAX, len, e);
    return *text != NULL ? 0 : -1;
}

static int check_subid_file(const char *path, uid_t lo, uid_t hi, struct cerr *e)
{
    struct uidrange_entry hit;
    unsigned skipped = 0;
    char *text;
    size_t len;
    int found;

    if (read_etc(path, &text, &len, e) < 0)
        return -1;
    if (text == NULL)
        return 0;
    found = uidrange_find_subid(text, len, lo, hi, &hit, &skipped);
    free(text);
    if (skipped > 0)
        log_warn("%s: %u line(s) are not NAME:START:COUNT; newuidmap ignores them, and so does "
                 "the check of the VM uid range",
                 path, skipped);
    if (found) {
        cerr_set(e, CE_SYSTEM,
                 "--uid-range %lu-%lu overlaps %s line %u: %s has the subordinate ids %llu-%llu "
                 "(start %llu, count %llu), so that user could act as a VM's uid in a user "
                 "namespace; choose a range no subordinate ids, account or group use",
                 (unsigned long)lo, (unsigned long)hi, path, hit.line, hit.owner, hit.start,
                 hit.last, hit.start, hit.count);
        return -1;
    }
    return 0;
}

/* getpwent and getgrent end with NULL and errno 0 or ENOENT; anything else
 * is a failing NSS source. */
static bool enum_failed(void)
{
    return errno != 0 && errno != ENOENT;
}

static int check_accounts(uid_t lo, uid_t hi, struct cerr *e)
{
    struct passwd *pw;
    struct group *gr;
    char shown[64];
    int rc = 0;

    setpwent();
    for (errno = 0; rc == 0 && (pw = getpwent()) != NULL; errno = 0) {
        if (pw->pw_uid >= lo && pw->pw_uid <= hi) {
            name_escape(pw->pw_name, shown, sizeof(shown));
            cerr_set(e, CE_SYSTEM,
                     "--uid-range %lu-%lu contains the uid %lu of the account %s; choose a range "
                     "no subordinate ids, account or group use",
                     (unsigned long)lo, (unsigned long)hi, (unsigned long)pw->pw_uid, shown);
            rc = -1;
        }
    }
    if (rc == 0 && enum_failed())
        log_warn("cannot list every account (%s): an account inside --uid-range %lu-%lu may "
                 "go unnoticed",
                 strerror(errno), (unsigned long)lo, (unsigned long)hi);
    endpwent();
    if (rc < 0)
        return -1;
    setgrent();
    for (errno = 0; rc == 0 && (gr = getgrent()) != NULL; errno = 0) {
        if (gr->gr_gid >= lo && gr->gr_gid <= hi) {
            name_escape(gr->gr_name, shown, sizeof(shown));
            cerr_set(e, CE_SYSTEM,
                     "--uid-range %lu-%lu contains the gid %lu of the group %s (each VM's gid "
                     "is its uid); choose a range no subordinate ids, account or group use",
                     (unsigned long)lo, (unsigned long)hi, (unsigned long)gr->gr_gid, shown);
            rc = -1;
        }
    }
    if (rc == 0 && enum_failed())
        log_warn("cannot list every group (%s): a group inside --uid-range %lu-%lu may go "
                 "unnoticed",
                 strerror(errno), (unsigned long)lo, (unsigned long)hi);
    endgrent();
    return rc;
}

int uidrange_check_free(uid_t lo, uid_t hi, struct cerr *e)
{
    if (check_subid_file("/etc/subuid", lo, hi, e) < 0 ||
        check_subid_file("/etc/subgid", lo, hi, e) < 0)
        return -1;
    return check_accounts(lo, hi, e);
}
