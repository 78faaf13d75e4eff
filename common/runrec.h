/* The records one process writes and another reads, in one place: the run
 * record (supervisor.json in the run directory), the exit facts
 * (last-exit.json in the VM's own directory) and the start-up status line
 * (one line on the status pipe).  The supervisor writes them as the VM's
 * uid; the broker reads them as untrusted input, so every parser here
 * accepts only plausible values and reads anything else as "not said". */
#ifndef CORRAL_RUNREC_H
#define CORRAL_RUNREC_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "common/error.h"

#define RUNREC_RUN_FILE "supervisor.json"
#define RUNREC_EXIT_FILE "last-exit.json"
/* Largest record a reader accepts. */
#define RUNREC_MAX (64 * 1024)

/* Who serves a VM.  A pid is acted on only after /proc confirms it (its
 * command line, and its start time when one is recorded), so a forged one
 * costs nothing but a look. */
struct runrec_run {
    int protocol;                                    /* -1: not said */
    pid_t supervisor_pid, qemu_pid;                  /* 0: not said, or not a pid */
    unsigned long long supervisor_start, qemu_start; /* procfs_start_time; 0: unknown */
    bool maintenance, adopted;
    time_t started; /* 0: not said */
};

/* Writes run_dir's run record for VM name, naming the sockets in run_dir. */
int runrec_run_write(const char *run_dir, const char *name, const struct runrec_run *r,
                     struct cerr *e);
/* Removes run_dir's run record: its supervisor has nothing left to serve.
 * A missing one is no error. */
int runrec_run_remove(const char *run_dir, struct cerr *e);
/* Fills r from j (NULL reads as an empty record). */
void runrec_run_parse(const cJSON *j, struct runrec_run *r);

/* How a VM's QEMU ended, as its supervisor saw it. */
struct runrec_exit {
    char state[16]; /* "shut off", "crashed" */
    char reason[256];
    time_t time;
    pid_t qemu_pid;  /* 0: not said */
    bool code_known; /* whether signaled and code say anything */
    bool signaled;
    int code; /* exit status, or the signal when signaled */
};

int runrec_exit_write(const char *vm_dir, const struct runrec_exit *x, struct cerr *e);
/* false, x unspecified, unless j holds a state, a reason and a time and
 * nothing it holds is implausible: a half-forged record is not believed. */
bool runrec_exit_parse(const cJSON *j, struct runrec_exit *x);
/* vm.info's last_exit (PROTOCOL.md), as a new object. */
cJSON *runrec_exit_to_json(const struct runrec_exit *x);

/* The start-up status line: info (borrowed) when start-up went well,
 * failure otherwise.  Returns the line with its newline, *len bytes;
 * caller frees. */
char *runrec_status_format(const cJSON *info, const struct cerr *failure, size_t *len);
/* Reads a status line: 1 and *info (caller frees, may be NULL) when it
 * says start-up went well; 0 and failure set to what it says went wrong;
 * -1 and failure set when the line is malformed. */
int runrec_status_parse(const char *line, size_t len, cJSON **info, struct cerr *failure);
/* The QEMU pid a good status line's info names; 0 when none is plausible. */
pid_t runrec_status_qemu_pid(const cJSON *info);

#endif
