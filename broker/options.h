/* corrald's command line: what each option means is in options_usage()
 * and corrald(8). */
#ifndef CORRAL_OPTIONS_H
#define CORRAL_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "broker/registry.h"
#include "common/log.h"

/* What options_parse returns when the broker is to run. */
#define OPTIONS_RUN (-1)

/* The options with no field of their own in struct broker: main.c turns
 * them into the broker's state.  The strings are argv's, constants or the
 * configuration file's (in owned). */
struct broker_options {
    const char *state_dir, *run_dir;
    const char *supervisor; /* NULL: next to corrald, else the installed one */
    const char *config;     /* the file looked for, NULL for none */
    bool no_isolation;
    enum log_target log_target;
    const char **emulators; /* malloc'd array */
    size_t nemulators;
    const char **bridges; /* --bridge: malloc'd array */
    size_t nbridges;
    char **owned; /* the configuration file's values, malloc'd */
    size_t nowned;
};

/* Sets *o and the option fields of *b (debug, admin group, uid range,
 * --vm-user, restart limit, adopt timeout; every other field zero) from the
 * configuration file (--config, else the default one if it exists), then
 * argv over it.  Returns OPTIONS_RUN, or the exit status (0 after --help, 2
 * after a bad option or file, said on stderr).  Either way the caller frees
 * with options_free and free(b->vm_users). */
int options_parse(int argc, char **argv, struct broker_options *o, struct broker *b);
void options_free(struct broker_options *o);
void options_usage(FILE *f);

#endif
