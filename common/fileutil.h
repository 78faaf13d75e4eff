/* Crash-safe file and directory helpers.  The writers and removers below
 * act on paths by name: only for directories nobody but the caller can
 * write (the broker's STATE/vms/NAME, a supervisor's own directories), so
 * that no one can swap an entry between two calls.  Where someone else
 * writes, root goes through directory fds opened without following links
 * (broker/vm_dirs.h, common/safe_open.h). */
#ifndef CORRAL_FILEUTIL_H
#define CORRAL_FILEUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/error.h"

/* Replaces path with data so that a crash leaves either the old or the new
 * content: temporary file in the same directory, fsync, rename, fsync of the
 * directory. */
int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode, struct cerr *e);
/* file_write_atomic in two halves, so that the first can run while the
 * caller waits for something else.  file_stage writes and fsyncs path's
 * temporary sibling, whose name it returns in *tmp (malloc'd; the caller
 * passes it on to file_commit or file_unstage, which free it): a crash
 * leaves only that temporary file, which nobody reads.  file_commit renames
 * it to path and fsyncs the directory; file_unstage removes it. */
int file_stage(const char *path, const void *data, size_t len, mode_t mode, char **tmp,
               struct cerr *e);
int file_commit(char *tmp, const char *path, struct cerr *e);
/* file_commit without the directory's fsync: the content is durable, its
 * name only once the caller syncs the directory (dir_fsync). */
int file_commit_unsynced(char *tmp, const char *path, struct cerr *e);
void file_unstage(char *tmp);
/* Replaces path with data so that a crash of any process leaves the old or
 * the new content (temporary file, rename), without the fsyncs: for records
 * of what runs now, which a power cut makes moot, and whose readers take a
 * missing or malformed file. */
int file_replace(const char *path, const void *data, size_t len, mode_t mode, struct cerr *e);
/* Writes n new files (paths[i] with datas[i] of lens[i] bytes), all in one
 * directory, so that after a crash each is absent or complete and on return
 * all are durable: temporary files, one syncfs for the lot, renames, one
 * fsync of the directory.  Cheaper than file_write_atomic on each when there
 * are many.  On failure none of them is left. */
int file_write_many(size_t n, char *const *paths, char *const *datas, const size_t *lens,
                    mode_t mode, struct cerr *e);
/* Reads a whole file of at most max bytes; returns a NUL-terminated buffer the
 * caller frees, or NULL with e set (CE_TOO_LARGE when over max). */
char *file_read_all(const char *path, size_t max, size_t *len, struct cerr *e);
/* The same from fd's offset to its end; closes fd whatever happens (name is
 * for errors). */
char *file_read_fd(int fd, const char *name, size_t max, size_t *len, struct cerr *e);
/* Reads name in dirfd as a file someone else may have planted: not through
 * a link, without blocking (a FIFO), only a regular file of at most max
 * bytes.  Returns a NUL-terminated buffer the caller frees, or NULL with e
 * set; the content is untrusted input. */
char *file_read_untrusted(int dirfd, const char *name, size_t max, size_t *len, struct cerr *e);
int dir_fsync(const char *dir, struct cerr *e);
/* syncfs of the file system dir is on: every file written there so far is
 * durable. */
int fs_sync(const char *dir, struct cerr *e);
/* Writes all len bytes of data to fd (EINTR retried); -1 with errno set. */
int file_write_all(int fd, const void *data, size_t len);
/* Creates each missing component of path with mode. */
int mkdir_p(const char *path, mode_t mode, struct cerr *e);
/* Removes a tree through directory fds: never follows a link, never leaves
 * the file system the tree's top is on, refuses trees deeper than 64. */
int rm_rf(const char *path, struct cerr *e);
/* Removes a file and fsyncs its directory; a missing file is not an error. */
int file_remove_durable(const char *path, struct cerr *e);
/* Removes a file without syncing: every process sees it gone at once, but
 * a crash of the machine before the next sync of its directory may bring
 * it back.  A missing file is not an error. */
int file_remove_unsynced(const char *path, struct cerr *e);
bool path_exists(const char *path);
/* Whether a uid with no groups can search every directory from / down to
 * path (path included); e names the first one it cannot. */
bool path_reachable_by_others(const char *path, struct cerr *e);
/* Formats into a malloc'd string; aborts the process on allocation failure
 * because every caller would otherwise have nothing sensible to do. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void *xcalloc(size_t n, size_t size);
void *xreallocarray(void *p, size_t n, size_t size);
char *xstrdup(const char *s);

#endif
