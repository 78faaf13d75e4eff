/* corrald's command line: what each option means is in options_usage()
 * and corrald(8). */
#ifndef CORRAL_OPTIONS_H
#define CORRAL_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "broker/registry.h"

/* What options_parse returns when the broker is to run. */
#define OPTIONS_RUN (-1)

/* The options with no field of their own in struct broker: main.c turns
 * them into the broker's state.  The strings are argv's or constants. */
struct broker_options {
    const char *state_dir, *run_dir;
    const char *supervisor; /* NULL: next to corrald, else the installed one */
    bool no_isolation;
    const char **emulators; /* malloc'd array of argv strings */
    size_t nemulators;
    const char **bridges; /* --bridge: malloc'd array of argv strings */
    size_t nbridges;
};

/* Sets *o and the option fields of *b (debug, admin group, uid range,
 * --vm-user, restart limit, adopt timeout; every other field zero) from
 * argv.  Returns OPTIONS_RUN, or the exit status (0 after --help, 2 after a
 * bad option, said on stderr).  Either way the caller frees with
 * options_free and free(b->vm_users). */
int options_parse(int argc, char **argv, struct broker_options *o, struct broker *b);
void options_free(struct broker_options *o);
void options_usage(FILE *f);

#endif
