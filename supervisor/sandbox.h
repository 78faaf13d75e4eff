/* The corral-supervisor sandbox.  The supervisor parses what a possibly
 * hostile QEMU says, so it gives up everything it does not need before it
 * does: the broker's file descriptors, its environment, root and every
 * capability, the ability to gain privileges again, and finally most system
 * calls.
 *
 * The steps are separate because QEMU is started between the last two.  The
 * supervisor's main calls them in this order and exits on the first failure:
 *
 *   1. sandbox_close_fds        only stdio and what the broker handed over
 *   2. sandbox_clear_env        PATH alone (and the sanitizers' options)
 *   3. sandbox_set_rlimits      while root: raising a hard limit needs it
 *   4. sandbox_drop_privileges  the VM's uid/gid, no groups but /dev/kvm's, no caps
 *   5. sandbox_no_new_privs     no setuid or file-capability gains on exec
 *      ... fork and exec QEMU ...
 *   6. sandbox_seccomp_install  allowlist; anything else kills the process
 *
 * Sanitizer builds: after step 6, LeakSanitizer's exit-time check cannot run
 * (it needs clone and ptrace, which stay forbidden) and would get the
 * process killed by SIGSYS at exit.  A sandboxed program built with
 * SANITIZE=1 must turn it off, either with detect_leaks=0 or, regardless of
 * ASAN_OPTIONS/LSAN_OPTIONS, by defining
 *     int __lsan_is_turned_off(void) { return 1; }
 * as tests/tools/sandbox_probe.c does.  Reports from clang's runtime must
 * also be left unsymbolized (symbolize=0, e.g. from __asan_default_options)
 * because it symbolizes by forking llvm-symbolizer; gcc's runtime
 * symbolizes in process and needs nothing more. */
#ifndef CORRAL_SANDBOX_H
#define CORRAL_SANDBOX_H

#include <stddef.h>
#include <stdint.h>
#include <linux/filter.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "common/error.h"

/* Closes every file descriptor except 0, 1, 2 and the nkeep listed in keep,
 * which must all be open.  Uses close_range(2) around the kept descriptors
 * and falls back to walking /proc/self/fd where close_range is missing. */
int sandbox_close_fds(const int *keep, size_t nkeep, struct cerr *e);

/* Empties the environment and sets PATH=/usr/sbin:/usr/bin:/sbin:/bin.
 * ASAN_OPTIONS, UBSAN_OPTIONS and LSAN_OPTIONS survive when set, so that
 * sanitizer-built programs the supervisor starts in the test suite still get
 * the suite's settings. */
int sandbox_clear_env(struct cerr *e);

/* The per-VM limits; RLIMIT_CORE is always 0 (a core file would hold guest
 * memory and secrets), RLIMIT_FSIZE always unlimited (disk images grow) and
 * RLIMIT_AS is never set (QEMU maps guest RAM, ASan reserves terabytes). */
struct sandbox_limits {
    /* RLIMIT_NOFILE, soft and hard. */
    rlim_t nofile;
    /* RLIMIT_NPROC, soft and hard.  The kernel counts every thread of the
     * uid, and the uid is the VM's, so this bounds the supervisor plus QEMU:
     * one thread per vCPU, up to 64 block I/O workers, and a few more. */
    rlim_t nproc;
};

#define SANDBOX_LIMITS_DEFAULT ((struct sandbox_limits){.nofile = 1024, .nproc = 256})

/* Sets the limits above, soft and hard alike, so that they cannot be raised
 * again once root is gone. */
int sandbox_set_rlimits(const struct sandbox_limits *l, struct cerr *e);

/* Switches to uid/gid (neither may be 0) with no supplementary groups but
 * the group keep when it is not 0 (/dev/kvm's group for a type='kvm' VM,
 * as libvirt's qemu user is in group kvm) and empty effective, permitted,
 * inheritable, ambient and bounding capability sets, then verifies all of
 * it through getres[ug]id, getgroups and /proc/self/status.  A process without CAP_SETUID,
 * CAP_SETGID and CAP_SETPCAP can only stay what it is: uid and gid must then be its own, it drops
 * the capabilities it has, and its groups and bounding set, which it cannot change, are left
 * (no_new_privs makes the bounding set moot). */
int sandbox_drop_privileges(uid_t uid, gid_t gid, gid_t keep, struct cerr *e);

/* Sets and verifies PR_SET_NO_NEW_PRIVS. */
int sandbox_no_new_privs(struct cerr *e);

/* Installs the system call allowlist (sandbox.c lists it) on every thread;
 * any other call kills the whole process with SIGSYS.  Verifies that
 * /proc/self/status then says "Seccomp: 2".  sandbox_seccomp_compile and
 * sandbox_seccomp_load are its two halves: the supervisor compiles the
 * allowlist (most of a millisecond) while QEMU starts, and only loads it
 * once QEMU has, before it reports the start. */
int sandbox_seccomp_install(struct cerr *e);

/* The allowlist as a BPF program (insns is the caller's to free with
 * sandbox_filter_free). */
struct sandbox_filter {
    struct sock_filter *insns;
    unsigned short len;
};

int sandbox_seccomp_compile(struct sandbox_filter *f, struct cerr *e);
void sandbox_filter_free(struct sandbox_filter *f);
int sandbox_seccomp_load(const struct sandbox_filter *f, struct cerr *e);

/* What actually applies to the calling process, for `corralctl
 * sandbox-report`; sandbox_status_read and sandbox_report only use system
 * calls the allowlist has. */
struct sandbox_status {
    /* Real, effective, saved and file system ids. */
    uid_t ruid, euid, suid, fsuid;
    gid_t rgid, egid, sgid, fsgid;
    int ngroups;
    /* Capability sets from /proc/self/status, one bit per capability. */
    uint64_t cap_inh, cap_prm, cap_eff, cap_bnd, cap_amb;
    /* NoNewPrivs (0 or 1) and Seccomp (0 none, 1 strict, 2 filter). */
    int no_new_privs;
    int seccomp;
    struct rlimit core, nofile, nproc, fsize, as;
};

int sandbox_status_read(struct sandbox_status *st, struct cerr *e);

/* Reads the status and formats it as "key: value" lines:
 *   uid: REAL EFFECTIVE SAVED FS     gid: likewise      groups: COUNT
 *   CapInh/CapPrm/CapEff/CapBnd/CapAmb: 16 hex digits, as in /proc
 *   NoNewPrivs: 0|1                  Seccomp: 0|1|2
 *   RLIMIT_CORE/NOFILE/NPROC/FSIZE/AS: SOFT HARD ("unlimited" for infinity)
 * Fails (CE_INTERNAL) when buf is too small. */
int sandbox_report(char *buf, size_t len, struct cerr *e);

#endif
