#include "broker/admins.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/fileutil.h"
#include "common/log.h"
#include "common/monotime.h"

/* A change of /etc/passwd or /etc/group (rewritten by useradd, usermod,
 * gpasswd: a new inode or mtime) drops the cache at once, so that a local
 * revocation holds from the next request; the TTL bounds how long a change
 * made in a network directory, which no local file shows, goes unseen. */
#define ADMIN_CACHE_MAX 128
#define ADMIN_CACHE_TTL_SECS 30
/* Bounds on what one lookup may allocate. */
#define PW_BUF_MAX (1024 * 1024)
#define GROUPS_MAX 65536

struct admin_entry {
    uid_t uid;
    bool member;
    time_t at; /* CLOCK_MONOTONIC seconds */
};

struct file_stamp {
    bool exists;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtim, ctim;
};

struct admins {
    gid_t gid; /* the group the cached answers are about */
    struct admin_entry entries[ADMIN_CACHE_MAX];
    size_t n;
    struct file_stamp passwd, group;
};

struct admins *admins_new(void)
{
    return xcalloc(1, sizeof(struct admins));
}

void admins_free(struct admins *a)
{
    free(a);
}

static time_t now_secs(void)
{
    long long ms = monotime_ms();

    /* Without a clock (never seen), 0 only expires entries early. */
    return ms < 0 ? 0 : (time_t)(ms / 1000);
}

static struct file_stamp stamp_of(const char *path)
{
    struct file_stamp s = {0};
    struct stat st;

    if (stat(path, &st) == 0) {
        s.exists = true;
        s.dev = st.st_dev;
        s.ino = st.st_ino;
        s.size = st.st_size;
        s.mtim = st.st_mtim;
        s.ctim = st.st_ctim;
    }
    return s;
}

static bool stamp_equal(const struct file_stamp *a, const struct file_stamp *b)
{
    return a->exists == b->exists && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtim.tv_sec == b->mtim.tv_sec && a->mtim.tv_nsec == b->mtim.tv_nsec &&
           a->ctim.tv_sec == b->ctim.tv_sec && a->ctim.tv_nsec == b->ctim.tv_nsec;
}

/* The uncached answer; -1 when the lookup itself failed (not cached, so
 * that the next request asks again). */
static int lookup_member(gid_t gid, uid_t uid, bool *member)
{
    struct passwd pw, *res = NULL;
    size_t buflen = 4096;
    char *buf = NULL;
    gid_t *groups = NULL;
    int n = 64, rc;

    *member = false;
    for (;;) {
        char *nb = realloc(buf, buflen);
        if (nb == NULL) {
            log_warn("cannot look up uid %ld: out of memory", (long)uid);
            free(buf);
            return -1;
        }
        buf = nb;
        rc = getpwuid_r(uid, &pw, buf, buflen, &res);
        if (rc != ERANGE || buflen >= PW_BUF_MAX)
            break;
        buflen *= 2;
    }
    if (rc != 0) {
        log_warn("cannot look up uid %ld: %s", (long)uid, strerror(rc));
        free(buf);
        return -1;
    }
    /* No account (a VM's uid, a deleted user): no groups. */
    if (res == NULL) {
        free(buf);
        return 0;
    }
    for (int tries = 0; tries < 3; tries++) {
        gid_t *ng = reallocarray(groups, (size_t)n, sizeof(*groups));
        int want = n;
        if (ng == NULL) {
            log_warn("cannot list the groups of uid %ld: out of memory", (long)uid);
            break;
        }
        groups = ng;
        if (getgrouplist(pw.pw_name, pw.pw_gid, groups, &want) >= 0) {
            for (int i = 0; i < want; i++)
                *member = *member || groups[i] == gid;
            free(groups);
            free(buf);
            return 0;
        }
        /* Too small: want now says how many there are. */
        if (want <= n || want > GROUPS_MAX) {
            log_warn("cannot list the groups of uid %ld", (long)uid);
            break;
        }
        n = want;
    }
    free(groups);
    free(buf);
    return -1;
}

bool admins_member(struct admins *a, gid_t gid, uid_t uid)
{
    struct file_stamp pws = stamp_of("/etc/passwd"), grs = stamp_of("/etc/group");
    struct admin_entry *slot = NULL;
    time_t now = now_secs();
    bool member;

    if (gid != a->gid || !stamp_equal(&pws, &a->passwd) || !stamp_equal(&grs, &a->group)) {
        a->n = 0;
        a->gid = gid;
        a->passwd = pws;
        a->group = grs;
    }
    for (size_t i = 0; i < a->n; i++) {
        if (a->entries[i].uid != uid)
            continue;
        if (now - a->entries[i].at < ADMIN_CACHE_TTL_SECS)
            return a->entries[i].member;
        slot = &a->entries[i];
        break;
    }
    if (lookup_member(gid, uid, &member) < 0)
        return false;
    if (slot == NULL && a->n < ADMIN_CACHE_MAX)
        slot = &a->entries[a->n++];
    if (slot == NULL) {
        /* Full: the oldest answer makes room. */
        slot = &a->entries[0];
        for (size_t i = 1; i < a->n; i++) {
            if (a->entries[i].at < slot->at)
                slot = &a->entries[i];
        }
    }
    *slot = (struct admin_entry){uid, member, now};
    return member;
}
