/* Command line parsing shared by every verb, driven by the verb table, and
 * the help texts built from it. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "proto/corralctl/ctl.h"

/* getopt_long values: a verb option's value is OPTVAL_VERB plus its index in
 * the table, so that the value leads straight back to it.  No long option
 * uses a character's value: ctl_bad_option tells them apart by it. */
enum { OPTVAL_JSON = 256, OPTVAL_HELP, OPTVAL_VERB };

/* Width of the synopsis column in the verb list. */
#define SYNOPSIS_COLUMN 30
/* Width of the option column in a verb's help. */
#define OPTION_COLUMN 22

const struct ctl_verb *ctl_find_verb(const char *name)
{
    for (size_t i = 0; i < ctl_nverbs; i++)
        if (strcmp(ctl_verbs[i].name, name) == 0)
            return &ctl_verbs[i];
    return NULL;
}

int ctl_parse_number(const char *s, long long min, long long max, long long *out)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* The index of v's option called name. */
static size_t opt_index(const struct ctl_verb *v, const char *name)
{
    for (size_t i = 0; v->opts[i].name != NULL; i++)
        if (strcmp(v->opts[i].name, name) == 0)
            return i;
    /* A handler or a needs member named an option the table entry lacks:
     * a bug that no command line can cause. */
    abort();
}

long long ctl_opt(const struct ctl_args *a, const char *name)
{
    return a->vals[opt_index(a->verb, name)];
}

const char *ctl_opt_str(const struct ctl_args *a, const char *name)
{
    return a->strs[opt_index(a->verb, name)];
}

/* Prints "verb ARGS [--opt]..." and returns its width. */
static int print_synopsis(FILE *f, const struct ctl_verb *v)
{
    int n = fprintf(f, "%s%s%s", v->name, v->args[0] != '\0' ? " " : "", v->args);

    for (const struct ctl_opt *o = v->opts; o->name != NULL; o++) {
        if (o->type != CTL_OPT_FLAG)
            n += fprintf(f, " [--%s %s]", o->name, o->metavar);
        else
            n += fprintf(f, " [--%s]", o->name);
    }
    return n;
}

void ctl_usage(FILE *f)
{
    fputs("Usage: corralctl [OPTIONS] VERB [ARGS]\n"
          "Manage QEMU virtual machines through corrald, the corral broker.\n"
          "\n"
          "Options:\n"
          "      --socket PATH      the broker's socket (default: $CORRAL_SOCKET, else\n"
          "                         " CTL_DEFAULT_SOCKET ")\n"
          "      --vm-socket PATH   talk straight to one VM's supervisor control socket\n"
          "                         (per-VM verbs only)\n"
          "      --json             print the JSON result, pretty printed, instead of text\n"
          "      --timeout SECONDS  wait at most SECONDS for each reply (default 120;\n"
          "                         0: no limit)\n"
          "  -h, --help             print this help\n"
          "      --version          print the version\n"
          "\n"
          "Verbs:\n",
          f);
    for (size_t i = 0; i < ctl_nverbs; i++) {
        int n;

        fputs("  ", f);
        n = print_synopsis(f, &ctl_verbs[i]);
        /* A synopsis too long for its column gets a line of its own. */
        if (n < 0 || n >= SYNOPSIS_COLUMN) {
            fputc('\n', f);
            n = -2;
        }
        fprintf(f, "%*s%s\n", SYNOPSIS_COLUMN - n, "", ctl_verbs[i].summary);
    }
    fputs("\n'corralctl help VERB' or 'corralctl VERB --help' describes VERB.\n", f);
}

/* Prints one entry of a verb's option list: the spelling, then its help in a
 * column; each line after a newline in help starts at that column too. */
static void print_option(FILE *f, const char *dashes, const char *name, const char *metavar,
                         const char *help)
{
    int n = fprintf(f, "  %s%s%s%s", dashes, name, metavar != NULL ? " " : "",
                    metavar != NULL ? metavar : "");
    const char *nl;

    fprintf(f, "%*s", n >= 0 && n < OPTION_COLUMN ? OPTION_COLUMN - n : 1, "");
    while ((nl = strchr(help, '\n')) != NULL) {
        fprintf(f, "%.*s\n%*s", (int)(nl - help), help, OPTION_COLUMN, "");
        help = nl + 1;
    }
    fprintf(f, "%s\n", help);
}

void ctl_verb_usage(FILE *f, const struct ctl_verb *v)
{
    fputs("Usage: corralctl ", f);
    print_synopsis(f, v);
    fprintf(f, "\n\n%s\n\nOptions:\n", v->description);
    for (const struct ctl_opt *o = v->opts; o->name != NULL; o++)
        print_option(f, "    --", o->name, o->type != CTL_OPT_FLAG ? o->metavar : NULL, o->help);
    if (!(v->flags & CTL_VERB_LOCAL))
        print_option(f, "    --", "json", NULL, "print JSON instead of text");
    print_option(f, "-h, --", "help", NULL, "print this help");
}

int ctl_usage_error(const struct ctl_verb *v, const char *fmt, ...)
{
    va_list ap;

    fputs("error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (v == NULL) {
        fputs("\nTry 'corralctl --help' for more information.\n", stderr);
        return CTL_EXIT_USAGE;
    }
    fputs("\nUsage: corralctl ", stderr);
    print_synopsis(stderr, v);
    fprintf(stderr, "\nTry 'corralctl help %s' for more information.\n", v->name);
    return CTL_EXIT_USAGE;
}

/* Reports the option getopt_long just refused ('?'): optopt holds a short
 * option's character; a long option is the argument just passed over. */
int ctl_bad_option(const struct ctl_verb *v, char **argv)
{
    if (optopt > 0 && optopt < 256)
        return ctl_usage_error(v, "unknown option '-%c'", optopt);
    return ctl_usage_error(v, "unknown option '%s'", argv[optind - 1]);
}

static int set_option(const struct ctl_verb *v, struct ctl_args *a, int i, const char *arg)
{
    const struct ctl_opt *o = &v->opts[i];

    if (o->type != CTL_OPT_INT) {
        a->vals[i] = 1;
        a->strs[i] = arg;
        return 0;
    }
    if (ctl_parse_number(arg, o->min, o->max, &a->vals[i]) < 0)
        return ctl_usage_error(v, "--%s must be an integer from %lld to %lld", o->name, o->min,
                               o->max);
    return 0;
}

/* Fills opts with the verb's own options and the ones every verb takes. */
static void build_longopts(const struct ctl_verb *v, struct ctl_args *a, struct option *opts)
{
    size_t n;

    for (n = 0; v->opts[n].name != NULL; n++) {
        opts[n] = (struct option){v->opts[n].name,
                                  v->opts[n].type != CTL_OPT_FLAG ? required_argument : no_argument,
                                  NULL, OPTVAL_VERB + (int)n};
        a->vals[n] = v->opts[n].def;
    }
    opts[n++] = (struct option){"json", no_argument, NULL, OPTVAL_JSON};
    opts[n++] = (struct option){"help", no_argument, NULL, OPTVAL_HELP};
    opts[n] = (struct option){NULL, 0, NULL, 0};
}

/* Refuses the combinations the table forbids; seen has bit i set when
 * option i was given. */
static int check_combinations(const struct ctl_verb *v, unsigned seen)
{
    for (size_t i = 0; v->opts[i].name != NULL; i++) {
        const struct ctl_opt *o = &v->opts[i];

        if (!(seen & 1u << i))
            continue;
        if (o->needs != NULL && !(seen & 1u << opt_index(v, o->needs)))
            return ctl_usage_error(v, "--%s needs --%s", o->name, o->needs);
        for (size_t j = i + 1; v->opts[j].name != NULL; j++)
            if ((seen & 1u << j) && (o->excl & v->opts[j].excl))
                return ctl_usage_error(v, "--%s and --%s cannot be combined", o->name,
                                       v->opts[j].name);
    }
    return 0;
}

static int check_arg_count(const struct ctl_verb *v, int argc, char **argv)
{
    if (argc < v->min_args)
        return ctl_usage_error(v, "missing argument for '%s'", v->name);
    if (argc > v->max_args)
        return ctl_usage_error(v, "unexpected argument '%s' for '%s'", argv[v->max_args], v->name);
    return 0;
}

int ctl_parse_verb(struct ctl *ctl, const struct ctl_verb *v, int argc, char **argv,
                   struct ctl_args *a)
{
    struct option longopts[CTL_MAX_OPTS + 3];
    unsigned seen = 0;
    int c;

    memset(a, 0, sizeof(*a));
    a->verb = v;
    build_longopts(v, a, longopts);
    opterr = 0;
    /* 0, not 1: glibc then starts afresh on this new argument vector. */
    optind = 0;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        if (c == OPTVAL_HELP || c == 'h') {
            a->help = true;
        } else if (c == OPTVAL_JSON) {
            ctl->json = true;
        } else if (c >= OPTVAL_VERB) {
            if (set_option(v, a, c - OPTVAL_VERB, optarg) != 0)
                return CTL_EXIT_USAGE;
            seen |= 1u << (c - OPTVAL_VERB);
        } else if (c == ':') {
            return ctl_usage_error(v, "option '%s' needs a value", argv[optind - 1]);
        } else {
            return ctl_bad_option(v, argv);
        }
    }
    if (a->help)
        return 0;
    if (check_combinations(v, seen) != 0)
        return CTL_EXIT_USAGE;
    a->argc = argc - optind;
    a->argv = argv + optind;
    return check_arg_count(v, a->argc, a->argv);
}

int ctl_run_help(struct ctl *ctl, const struct ctl_args *a)
{
    const struct ctl_verb *v;

    if (a->argc == 0) {
        ctl_usage(stdout);
        return CTL_EXIT_OK;
    }
    v = ctl_find_verb(a->argv[0]);
    if (v == NULL)
        return ctl_usage_error(NULL, "unknown verb '%s'", a->argv[0]);
    ctl_verb_usage(stdout, v);
    return CTL_EXIT_OK;
}
