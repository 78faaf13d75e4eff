/* corralctl internals: the verb table, parsed command lines and the helpers
 * that the verb handlers share.  A new verb is one entry in a verb table
 * (verbs.c, verbs_snapshot.c) plus one handler declared here. */
#ifndef CORRAL_CTL_H
#define CORRAL_CTL_H

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "proto/client.h"
#include "proto/corralctl/connect.h"

#ifndef CORRAL_VERSION
#define CORRAL_VERSION "0.1"
#endif

#define CTL_DEFAULT_SOCKET "/run/corral/corrald.sock"
#define CTL_DEFAULT_TIMEOUT_S 120

/* Exit statuses, documented in corralctl(1). */
enum { CTL_EXIT_OK = 0, CTL_EXIT_ERROR = 1, CTL_EXIT_USAGE = 2 };

/* corralctl's own error codes, printed with --json beside the server's
 * (common/error.h), documented in corralctl(1). */
enum {
    CTL_ERR_USAGE = 2000,    /* the command line is wrong */
    CTL_ERR_CONNECT = 2001,  /* the server cannot be reached */
    CTL_ERR_REPLY = 2002,    /* the server's reply makes no sense */
    CTL_ERR_NO_REPLY = 2003, /* no reply within --timeout */
    CTL_ERR_CLIENT = 2004,   /* corralctl itself failed (a file, the terminal) */
};

/* Verb properties (ctl_verb.flags). */
enum {
    CTL_VERB_BROKER = 1 << 0, /* only the broker serves it: refused with --vm-socket */
    CTL_VERB_LOCAL = 1 << 1,  /* runs without a server */
};

enum ctl_opt_type { CTL_OPT_FLAG, CTL_OPT_INT, CTL_OPT_STR };

/* A verb option, always a long one (--name) as in virsh. */
struct ctl_opt {
    const char *name;
    enum ctl_opt_type type;
    const char *metavar;     /* CTL_OPT_INT, CTL_OPT_STR: the value's name in help */
    long long min, max, def; /* CTL_OPT_INT: accepted range and default */
    const char *help;
    /* Options of one verb whose excl masks share a bit cannot be combined;
     * the parser refuses them before anything is sent. */
    unsigned excl;
    const char *needs; /* another option this one is refused without */
};

#define CTL_MAX_OPTS 20
/* Positional arguments a verb takes at most. */
#define CTL_MAX_ARGS 4

struct ctl;
struct ctl_args;

struct ctl_verb {
    const char *name;
    const char *method; /* the RPC method the handler calls, if any */
    const char *args;   /* positional arguments, for the synopsis */
    /* virsh's option names for the positional arguments, space-separated,
     * when they differ from the defaults (NAME: --domain, SNAP:
     * --snapshotname, FILE: --file; see cmdline.c). */
    const char *argnames;
    int min_args, max_args;
    unsigned flags;                        /* CTL_VERB_* */
    const char *done;                      /* ctl_run_simple: "Domain 'NAME' <done>" */
    const char *summary;                   /* one line in the verb list */
    const char *description;               /* paragraph of the verb's own help */
    struct ctl_opt opts[CTL_MAX_OPTS + 1]; /* ends at a NULL name */
    int (*run)(struct ctl *ctl, const struct ctl_args *a);
};

/* One verb's parsed command line; argv borrows from main's. */
struct ctl_args {
    const struct ctl_verb *verb;
    int argc;
    char **argv;                    /* positional arguments: points into args */
    char *args[CTL_MAX_ARGS];       /* borrowed from main's argv */
    long long vals[CTL_MAX_OPTS];   /* CTL_OPT_STR: 1 when given */
    const char *strs[CTL_MAX_OPTS]; /* CTL_OPT_STR: the value, or NULL */
    bool help;
};

/* State shared by every verb. */
struct ctl {
    struct rpc_client *client;
    struct ctl_link link; /* where client's socket came from (an ssh child) */
    const char *uri;      /* -c or $CORRAL_DEFAULT_URI, when it beats socket */
    const char *socket;
    bool vm_socket; /* socket is a supervisor's, not the broker's */
    bool json;
    int timeout_ms; /* per reply; -1 waits forever */
    cJSON *hello;   /* the server's hello result */
};

/* The verb tables, in the order help lists them: verbs.c's verbs about a
 * VM, verbs_snapshot.c's, then verbs.c's general ones. */
extern const struct ctl_verb ctl_domain_verbs[], ctl_snapshot_verbs[], ctl_other_verbs[];
extern const size_t ctl_ndomain_verbs, ctl_nsnapshot_verbs, ctl_nother_verbs;

/* cmdline.c: parsing and help. */
/* The number of verbs, and the i-th in help's order (i below that). */
size_t ctl_verb_count(void);
const struct ctl_verb *ctl_verb_at(size_t i);
const struct ctl_verb *ctl_find_verb(const char *name);
/* Parses argv[1..] of verb v (argv[0] is the verb).  Returns 0, or
 * CTL_EXIT_USAGE after printing why. */
int ctl_parse_verb(struct ctl *ctl, const struct ctl_verb *v, int argc, char **argv,
                   struct ctl_args *a);
/* The value of the option called name (0/1 for flags and strings). */
long long ctl_opt(const struct ctl_args *a, const char *name);
/* The value of the string option called name, or NULL when not given. */
const char *ctl_opt_str(const struct ctl_args *a, const char *name);
int ctl_parse_number(const char *s, long long min, long long max, long long *out);
void ctl_usage(FILE *f);
void ctl_verb_usage(FILE *f, const struct ctl_verb *v);
/* Print "error: ..." and a usage hint (for v, or the global one when NULL);
 * return CTL_EXIT_USAGE. */
int ctl_usage_error(const struct ctl_verb *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int ctl_bad_option(const struct ctl_verb *v, char **argv);

/* help_roff.c: verb v's entry in corralctl(1)'s VERBS section. */
void ctl_print_roff_verb(FILE *f, const struct ctl_verb *v);

/* call.c: talking to the server, errors and output. */
/* Connects to ctl->uri, else ctl->socket, and says hello; prints why on
 * failure. */
int ctl_connect(struct ctl *ctl);
void ctl_disconnect(struct ctl *ctl);
/* Calls method (params consumed) and returns its result, always an object,
 * or NULL after printing the error. */
cJSON *ctl_call(struct ctl *ctl, const char *method, cJSON *params);
cJSON *ctl_call_ms(struct ctl *ctl, const char *method, cJSON *params, int timeout_ms);
/* A paged listing (PROTOCOL.md, Paging) whole: calls method with params
 * (consumed) page after page and returns the first reply holding every
 * page's array key, without next; NULL after printing why. */
cJSON *ctl_call_pages(struct ctl *ctl, const char *method, cJSON *params, const char *key);
cJSON *ctl_name_params(const char *name);
/* Turns --json on, for the output and for errors. */
void ctl_set_json(struct ctl *ctl);
bool ctl_json_errors(void);
/* Prints "error: ..." on stderr, or with --json one line of JSON with code,
 * its stable name and the message; returns CTL_EXIT_ERROR.  ctl_error's
 * code is CTL_ERR_CLIENT. */
int ctl_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int ctl_error_code(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ctl_verror_code(int code, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
int ctl_unexpected(void);
/* Reply readers: 0 when the member is valid or absent (and not required),
 * -1 when it has the wrong type or a required one is absent.  Integers are
 * 0 to 2^53, what a JSON number holds exactly. */
int ctl_reply_str(const cJSON *obj, const char *key, bool required, const char **out);
int ctl_reply_int(const cJSON *obj, const char *key, bool required, long long *out);
int ctl_reply_bool(const cJSON *obj, const char *key, bool *out);
/* *out is the array of strings, or NULL when the member is absent or null. */
int ctl_reply_strings(const cJSON *obj, const char *key, const cJSON **out);
int ctl_print_json(const cJSON *item, bool pretty);
/* With --json prints result, else "Domain 'NAME' what". */
int ctl_done(const struct ctl *ctl, const cJSON *result, const char *name, const char *what);
/* virsh's key/value layout: "Label:" padded to this width, a space, the
 * value. */
#define CTL_LABEL_WIDTH 15
/* Prints "Label:" and the padding; the caller prints the value. */
void ctl_print_label(const char *label);
void ctl_print_kv(const char *label, const char *value);
/* Table helpers: the larger of s's length and min; a rule of n dashes. */
int ctl_width(const char *s, int min);
void ctl_print_rule(int n);
/* Formats the Unix time t as local time, "%Y-%m-%d %H:%M:%S" and with
 * zone " %z"; -1 when it is no date. */
int ctl_format_time(long long t, bool zone, char *buf, size_t size);
/* Reads a whole file ('-': standard input) of at most max bytes; NULL after
 * printing why. */
char *ctl_read_input(const char *path, size_t max, size_t *len);
/* ctl_read_input for an XML document sent as a JSON string: at most what a
 * message holds, and no NUL byte; kind names it in the error ("domain"). */
char *ctl_read_xml(const char *path, const char *kind);

/* dumpxml.c: the domain XML of VM name (its persistent definition when
 * inactive), malloc'd; NULL after printing why. */
char *ctl_fetch_xml(struct ctl *ctl, const char *name, bool inactive);

/* edit.c: virsh's editing session, shared with snapshot-edit. */
struct ctl_edit_ops {
    /* The text came back as it was: says so; true ends the edit. */
    bool (*unchanged)(void *arg);
    /* Sends the edited file: 0 taken, 1 refused (error printed; the user
     * may edit again), -1 a failure of ours. */
    int (*submit)(void *arg, const char *path);
    void *arg;
};
/* Opens a temporary copy of orig (named after label) in $VISUAL, $EDITOR or
 * vi until it is taken, unchanged or given up; removes the copy. */
int ctl_edit(const char *label, const char *orig, const struct ctl_edit_ops *ops);

/* Verb handlers. */
int ctl_run_help(struct ctl *ctl, const struct ctl_args *a);
int ctl_run_simple(struct ctl *ctl, const struct ctl_args *a);
int ctl_run_undefine(struct ctl *ctl, const struct ctl_args *a);
int ctl_run_define(struct ctl *ctl, const struct ctl_args *a);
int ctl_run_dumpxml(struct ctl *ctl, const struct ctl_args *a);
int ctl_run_edit(struct ctl *ctl, const struct ctl_args *a);
int ctl_run_shutdown(struct ctl *ctl, const struct ctl_args *a);
int ctl_run_start(struct ctl *ctl, const struct ctl_args *a);
int ctl_run_reboot(struct ctl *ctl, const struct ctl_args *a);
int ctl_run_autostart(struct ctl *ctl, const struct ctl_args *a);
int ctl_run_domstats(struct ctl *ctl, const struct ctl_args *a);
int ctl_run_qmp(struct ctl *ctl, const struct ctl_args *a);
int ctl_run_console(struct ctl *ctl, const struct ctl_args *a);
int ctl_run_list(struct ctl *ctl, const struct ctl_args *a);
int ctl_run_domstate(struct ctl *ctl, const struct ctl_args *a);
int ctl_run_dominfo(struct ctl *ctl, const struct ctl_args *a);
int ctl_run_domdisplay(struct ctl *ctl, const struct ctl_args *a);
/* media.c */
int ctl_run_domblklist(struct ctl *ctl, const struct ctl_args *a);
int ctl_run_change_media(struct ctl *ctl, const struct ctl_args *a);
int ctl_run_hello(struct ctl *ctl, const struct ctl_args *a);
int ctl_run_sandbox_report(struct ctl *ctl, const struct ctl_args *a);
int ctl_run_events(struct ctl *ctl, const struct ctl_args *a);
/* proxy.c */
int ctl_run_proxy(struct ctl *ctl, const struct ctl_args *a);
int ctl_run_snapshot_create(struct ctl *ctl, const struct ctl_args *a);
int ctl_run_snapshot_list(struct ctl *ctl, const struct ctl_args *a);
int ctl_run_snapshot_info(struct ctl *ctl, const struct ctl_args *a);
int ctl_run_snapshot_dumpxml(struct ctl *ctl, const struct ctl_args *a);
int ctl_run_snapshot_current(struct ctl *ctl, const struct ctl_args *a);
int ctl_run_snapshot_parent(struct ctl *ctl, const struct ctl_args *a);
int ctl_run_snapshot_delete(struct ctl *ctl, const struct ctl_args *a);
int ctl_run_snapshot_revert(struct ctl *ctl, const struct ctl_args *a);
int ctl_run_snapshot_redefine(struct ctl *ctl, const struct ctl_args *a);
int ctl_run_snapshot_check(struct ctl *ctl, const struct ctl_args *a);
int ctl_run_snapshot_edit(struct ctl *ctl, const struct ctl_args *a);
int ctl_run_inconsistencies(struct ctl *ctl, const struct ctl_args *a);
int ctl_run_domiflist(struct ctl *ctl, const struct ctl_args *a);
int ctl_run_domifaddr(struct ctl *ctl, const struct ctl_args *a);

/* snapshot.c: an inconsistency report (snapshot.delete's, snapshot.check's
 * and vm.inconsistencies' reports, the snapshot.inconsistency event),
 * borrowed from the JSON it was read from. */
struct ctl_report {
    const char *snapshot, *kind, *detail; /* detail may be NULL */
    const char *job;                      /* the QEMU job it is about, or NULL */
    bool reported_before;                 /* in an answer: a standing difference */
    const cJSON *disks;                   /* array of strings, or NULL */
    long long time;                       /* Unix seconds, -1 when absent */
};

/* -1 when obj is not a report. */
int ctl_read_report(const cJSON *obj, struct ctl_report *rep);
/* Prints "KIND on DISKS: DETAIL (job JOB)" and a newline. */
void ctl_print_report(FILE *f, const struct ctl_report *rep);

#endif
