/* The copy of a console's output in the file its <log file=...> names,
 * which the broker opened for the VM's owner and passed as a write-only
 * O_APPEND descriptor (corral-supervisor --log-fd).  At most
 * CONSOLE_LOG_CAP bytes are written per run of the VM; then a last line
 * says so and the copy stops (the ring and `corralctl console` go on).
 * Writes go to a regular file's page cache and are never retried: a
 * failed write stops the copy with one message in the supervisor's log,
 * so the event loop never waits for it. */
#ifndef CORRAL_CONSOLE_LOG_H
#define CORRAL_CONSOLE_LOG_H

#include <stdbool.h>
#include <stddef.h>

/* libvirt's virtlogd rotates at 2 MiB and keeps 3 old files; corral keeps
 * one file and stops at 1 MiB per run: a boot log and a session fit, and
 * a guest printing in a loop fills no disk. */
#define CONSOLE_LOG_CAP (1024 * 1024)

struct console_log;

/* Takes fd.  vm and dev name it in logs.  continued: a re-adopting
 * supervisor continuing a log that this run started empty (append='off'),
 * whose size counts against the cap already. */
struct console_log *console_log_new(const char *vm, const char *dev, int fd, bool continued);
/* Appends data, up to the cap. */
void console_log_write(struct console_log *l, const void *data, size_t n);
/* Closes the file; NULL is fine. */
void console_log_free(struct console_log *l);

#endif
