/* Logging to stderr, syslog or the journal.  Every process starts on
 * stderr (log_init); the broker then picks its target (log_select) and its
 * supervisors inherit the choice (log_select_inherited).  A message that
 * starts "VM NAME: " carries the journal field VM=NAME, and one that goes on
 * "snapshot SNAP: " SNAPSHOT=SNAP, so that `journalctl VM=NAME` finds a VM's
 * lines whichever file logged them.  The _code variants add CODE=, the
 * stable name of the error being logged (cerr_name: "job-failed"), for
 * `journalctl CODE=job-failed`. */
#ifndef CORRAL_LOG_H
#define CORRAL_LOG_H

enum log_level { LOG_LVL_DEBUG, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERR };

enum log_target {
    LOG_TARGET_AUTO, /* the journal under systemd, else syslog */
    LOG_TARGET_STDERR,
    LOG_TARGET_SYSLOG,
    LOG_TARGET_JOURNAL,
};

void log_init(const char *prog, enum log_level min);
/* 0 and *t from "auto", "stderr", "syslog" or "journal"; -1 otherwise. */
int log_target_parse(const char *name, enum log_target *t);
/* Logs to t from now on (AUTO resolved), and exports the choice in the
 * environment (CORRAL_LOG_TARGET) for the supervisors started later.  The
 * socket is /run/systemd/journal/socket or /dev/log unless
 * CORRAL_LOG_SOCKET names another (tests).  A socket that cannot be reached
 * leaves stderr, said there. */
void log_select(enum log_target t);
/* What a supervisor calls: the broker's choice from the environment. */
void log_select_inherited(void);
/* The target messages go to now (never AUTO). */
enum log_target log_target_current(void);
/* The log socket, -1 on stderr: a process that closes its fds keeps it. */
int log_fd(void);
/* Every later message carries VM=vm (a supervisor's own VM); vm must live
 * as long as the process logs. */
void log_set_vm(const char *vm);

void log_msg(enum log_level lvl, const char *file, int line, const char *func, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* code: a static string, or NULL for none. */
void log_code_msg(enum log_level lvl, const char *code, const char *file, int line,
                  const char *func, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

#define log_debug(...) log_msg(LOG_LVL_DEBUG, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_err(...) log_msg(LOG_LVL_ERR, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_warn_code(code, ...)                                                                   \
    log_code_msg(LOG_LVL_WARN, code, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_err_code(code, ...)                                                                    \
    log_code_msg(LOG_LVL_ERR, code, __FILE__, __LINE__, __func__, __VA_ARGS__)

#endif
