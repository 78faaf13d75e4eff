/* Group membership for the admin check, cached per uid: every request asks,
 * and the lookups behind it (getpwuid_r, getgrouplist) may block on a
 * network directory. */
#ifndef CORRAL_ADMINS_H
#define CORRAL_ADMINS_H

#include <stdbool.h>
#include <sys/types.h>

struct admins;

struct admins *admins_new(void);
void admins_free(struct admins *a);
/* Whether uid's account has gid as its primary or a supplementary group.
 * A uid without an account, or a lookup that fails, is no member. */
bool admins_member(struct admins *a, gid_t gid, uid_t uid);

#endif
