/* corrald's configuration file: INI read by inih, one "key = value" per
 * line, no sections.  Which keys there are, and what they mean, is the
 * caller's (options.c); this file checks who may have written the file. */
#ifndef CORRAL_CONFFILE_H
#define CORRAL_CONFFILE_H

#include <stdbool.h>

#include "common/error.h"

/* Takes one key and its value: 0, or -1 with e saying what the value
 * wants (the line is added by conffile_read). */
typedef int (*conffile_handler)(const char *key, const char *value, void *user, struct cerr *e);

/* Calls h for every key of the file at path, in order.  The file must be
 * a regular file reached without a symbolic link, owned by root (or by
 * the broker's own user) and writable by nobody else: root acts on what
 * it says.  A missing file is 0 unless must_exist.  -1 with e naming the
 * file, and the line for a bad key or value. */
int conffile_read(const char *path, bool must_exist, conffile_handler h, void *user,
                  struct cerr *e);

#endif
