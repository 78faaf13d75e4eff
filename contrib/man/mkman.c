/* Builds corralctl(1) from its template (standard input) and corralctl's
 * verb table: a line ".\" @VERBS FIRST LAST@" is replaced by the entries of
 * the verbs from FIRST to LAST in help's order (ctl_verb_at).  Every verb must appear
 * exactly once, so that a new verb cannot be left out of the page. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/corralctl/ctl.h"

#define MARKER ".\\\" @VERBS "

static size_t verb_index(const char *name)
{
    for (size_t i = 0; i < ctl_verb_count(); i++)
        if (strcmp(ctl_verb_at(i)->name, name) == 0)
            return i;
    fprintf(stderr, "mkman: the template names an unknown verb '%s'\n", name);
    exit(1);
}

/* Replaces one marker line; printed[] counts each verb's entries. */
static void expand(const char *line, unsigned *printed)
{
    char first[64], last[64];
    size_t a, b;

    if (sscanf(line + strlen(MARKER), "%63s %63[^@]@", first, last) != 2) {
        fprintf(stderr, "mkman: malformed marker: %s", line);
        exit(1);
    }
    a = verb_index(first);
    b = verb_index(last);
    if (a > b) {
        fprintf(stderr, "mkman: %s comes after %s in the verb table\n", first, last);
        exit(1);
    }
    for (size_t i = a; i <= b; i++) {
        ctl_print_roff_verb(stdout, ctl_verb_at(i));
        printed[i]++;
    }
}

int main(void)
{
    unsigned *printed = calloc(ctl_verb_count(), sizeof(*printed));
    char line[4096];
    int status = 0;

    if (printed == NULL) {
        perror("mkman");
        return 1;
    }
    while (fgets(line, sizeof(line), stdin) != NULL) {
        if (strncmp(line, MARKER, strlen(MARKER)) == 0)
            expand(line, printed);
        else
            fputs(line, stdout);
    }
    for (size_t i = 0; i < ctl_verb_count(); i++)
        if (printed[i] != 1) {
            fprintf(stderr, "mkman: verb %s appears %u times in the page, not once\n",
                    ctl_verb_at(i)->name, printed[i]);
            status = 1;
        }
    free(printed);
    if (ferror(stdin) || fflush(stdout) != 0) {
        perror("mkman");
        status = 1;
    }
    return status;
}
