/* The verb table as roff, for the VERBS section of corralctl(1): the man
 * page and `corralctl help` come from the same table and cannot drift. */
#include <string.h>

#include "proto/corralctl/ctl.h"

/* Prints s as roff text: a backslash and a hyphen escaped, and a line
 * starting with a control character made literal.  A blank line in s (two
 * newlines) starts an indented paragraph. */
static void print_text(FILE *f, const char *s)
{
    bool bol = true;

    for (; *s != '\0'; s++) {
        if (s[0] == '\n' && s[1] == '\n') {
            fputs("\n.IP\n", f);
            s++;
            bol = true;
            continue;
        }
        if (bol && (*s == '.' || *s == '\''))
            fputs("\\&", f);
        if (bol && *s == ' ') {
            s += strspn(s, " ") - 1;
            continue;
        }
        if (*s == '\\')
            fputs("\\e", f);
        else if (*s == '-')
            fputs("\\-", f);
        else
            fputc(*s, f);
        bol = *s == '\n';
    }
    fputc('\n', f);
}

/* s in bold, its hyphens escaped (as "--" when dashes). */
static void print_bold(FILE *f, bool dashes, const char *s)
{
    fputs(dashes ? "\\fB\\-\\-" : "\\fB", f);
    for (; *s != '\0'; s++) {
        if (*s == '-')
            fputs("\\-", f);
        else
            fputc(*s, f);
    }
    fputs("\\fR", f);
}

/* "--name METAVAR", bold and italic. */
static void print_opt(FILE *f, const struct ctl_opt *o)
{
    print_bold(f, true, o->name);
    if (o->type != CTL_OPT_FLAG)
        fprintf(f, " \\fI%s\\fR", o->metavar);
}

static void print_roff_synopsis(FILE *f, const struct ctl_verb *v)
{
    fputs(".TP\n", f);
    print_bold(f, false, v->name);
    if (v->args[0] != '\0')
        fprintf(f, " \\fI%s\\fR", v->args);
    for (const struct ctl_opt *o = v->opts; o->name != NULL; o++) {
        fputs(" [", f);
        print_opt(f, o);
        fputc(']', f);
    }
    fputc('\n', f);
}

void ctl_print_roff_verb(FILE *f, const struct ctl_verb *v)
{
    print_roff_synopsis(f, v);
    print_text(f, v->description);
    if (v->opts[0].name == NULL)
        return;
    fputs(".RS\n", f);
    for (const struct ctl_opt *o = v->opts; o->name != NULL; o++) {
        fputs(".TP\n", f);
        print_opt(f, o);
        fputc('\n', f);
        print_text(f, o->help);
    }
    fputs(".RE\n", f);
}
