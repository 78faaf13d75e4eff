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
enum { OPTVAL_JSON = 256, OPTVAL_HELP, OPTVAL_VERB, OPTVAL_ARG = OPTVAL_VERB + CTL_MAX_OPTS };

/* The longest positional argument name, in the synopsis or as an option. */
#define ARG_WORD_MAX 32

/* virsh's option names for corralctl's positional arguments, so that
 * "--domain vm1" works wherever "vm1" does. */
static const struct {
    const char *metavar, *option;
} arg_options[] = {
    {"NAME", "domain"},   {"SNAP", "snapshotname"}, {"FILE", "file"},    {"DISK", "path"},
    {"SOURCE", "source"}, {"JSON", "cmd"},          {"VERB", "command"},
};

/* Width of the synopsis column in the verb list. */
#define SYNOPSIS_COLUMN 30
/* Width of the option column in a verb's help. */
#define OPTION_COLUMN 22

size_t ctl_verb_count(void)
{
    return ctl_ndomain_verbs + ctl_nsnapshot_verbs + ctl_nother_verbs;
}

const struct ctl_verb *ctl_verb_at(size_t i)
{
    if (i < ctl_ndomain_verbs)
        return &ctl_domain_verbs[i];
    i -= ctl_ndomain_verbs;
    if (i < ctl_nsnapshot_verbs)
        return &ctl_snapshot_verbs[i];
    return &ctl_other_verbs[i - ctl_nsnapshot_verbs];
}

const struct ctl_verb *ctl_find_verb(const char *name)
{
    for (size_t i = 0; i < ctl_verb_count(); i++)
        if (strcmp(ctl_verb_at(i)->name, name) == 0)
            return ctl_verb_at(i);
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

/* Copies the i-th word of s, without brackets and dots, into word; returns
 * -1 when s has no such word. */
static int nth_word(const char *s, size_t i, char word[ARG_WORD_MAX])
{
    size_t n = 0;

    for (;;) {
        size_t len;

        s += strspn(s, " [].");
        len = strcspn(s, " [].");
        if (len == 0)
            return -1;
        if (n++ == i) {
            snprintf(word, ARG_WORD_MAX, "%.*s", (int)len, s);
            return 0;
        }
        s += len;
    }
}

/* The option name of v's positional argument i (its metavar in metavar),
 * or -1 when v takes no such argument. */
static int arg_option(const struct ctl_verb *v, size_t i, char name[ARG_WORD_MAX],
                      char metavar[ARG_WORD_MAX])
{
    if (i >= CTL_MAX_ARGS || nth_word(v->args, i, metavar) < 0)
        return -1;
    if (v->argnames != NULL)
        return nth_word(v->argnames, i, name);
    for (size_t k = 0; k < sizeof(arg_options) / sizeof(arg_options[0]); k++)
        if (strcmp(arg_options[k].metavar, metavar) == 0) {
            snprintf(name, ARG_WORD_MAX, "%s", arg_options[k].option);
            return 0;
        }
    return -1;
}

/* Whether v has an option of its own called name. */
static bool has_option(const struct ctl_verb *v, const char *name)
{
    for (size_t i = 0; v->opts[i].name != NULL; i++)
        if (strcmp(v->opts[i].name, name) == 0)
            return true;
    return false;
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
          "  -c, --connect URI      the server to talk to: unix:///path/to/socket, or\n"
          "                         ssh://[user@]host[:port][/path/to/socket][?command=PATH]\n"
          "                         through ssh and 'corralctl proxy' on the host\n"
          "                         (default: $CORRAL_DEFAULT_URI, else the socket below)\n"
          "      --socket PATH      the broker's socket (default: $CORRAL_SOCKET, else\n"
          "                         " CTL_DEFAULT_SOCKET "); -c wins over it, it wins\n"
          "                         over $CORRAL_DEFAULT_URI\n"
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
    for (size_t i = 0; i < ctl_verb_count(); i++) {
        int n;

        fputs("  ", f);
        n = print_synopsis(f, ctl_verb_at(i));
        /* A synopsis too long for its column gets a line of its own. */
        if (n < 0 || n >= SYNOPSIS_COLUMN) {
            fputc('\n', f);
            n = -2;
        }
        fprintf(f, "%*s%s\n", SYNOPSIS_COLUMN - n, "", ctl_verb_at(i)->summary);
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
    for (size_t i = 0;; i++) {
        char name[ARG_WORD_MAX], metavar[ARG_WORD_MAX], help[ARG_WORD_MAX + 40];

        if (arg_option(v, i, name, metavar) < 0)
            break;
        if (has_option(v, name))
            continue;
        snprintf(help, sizeof(help), "%s as an option, as virsh spells it", metavar);
        print_option(f, "    --", name, metavar, help);
    }
    if (!(v->flags & CTL_VERB_LOCAL))
        print_option(f, "    --", "json", NULL, "print JSON instead of text");
    print_option(f, "-h, --", "help", NULL, "print this help");
}

int ctl_usage_error(const struct ctl_verb *v, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    ctl_verror_code(CTL_ERR_USAGE, fmt, ap);
    va_end(ap);
    /* JSON errors are one line each: no usage text after them. */
    if (ctl_json_errors())
        return CTL_EXIT_USAGE;
    if (v == NULL) {
        fputs("Try 'corralctl --help' for more information.\n", stderr);
        return CTL_EXIT_USAGE;
    }
    fputs("Usage: corralctl ", stderr);
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

/* Fills opts with the verb's own options, its positional arguments' option
 * spellings (their names kept in names) and the ones every verb takes. */
static void build_longopts(const struct ctl_verb *v, struct ctl_args *a, struct option *opts,
                           char names[CTL_MAX_ARGS][ARG_WORD_MAX])
{
    size_t n;

    for (n = 0; v->opts[n].name != NULL; n++) {
        opts[n] = (struct option){v->opts[n].name,
                                  v->opts[n].type != CTL_OPT_FLAG ? required_argument : no_argument,
                                  NULL, OPTVAL_VERB + (int)n};
        a->vals[n] = v->opts[n].def;
    }
    for (size_t i = 0; i < CTL_MAX_ARGS; i++) {
        char metavar[ARG_WORD_MAX];

        if (arg_option(v, i, names[i], metavar) < 0)
            break;
        if (!has_option(v, names[i]))
            opts[n++] = (struct option){names[i], required_argument, NULL, OPTVAL_ARG + (int)i};
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

/* Merges the positional arguments given as options (named[i], or NULL) with
 * the rest, in order, into a->args. */
static int merge_args(const struct ctl_verb *v, struct ctl_args *a, char **named, int argc,
                      char **argv)
{
    int n = 0, next = 0;

    for (int i = 0; i < CTL_MAX_ARGS; i++) {
        if (named[i] != NULL) {
            a->args[n++] = named[i];
        } else if (next < argc) {
            a->args[n++] = argv[next++];
        } else {
            for (int j = i + 1; j < CTL_MAX_ARGS; j++)
                if (named[j] != NULL)
                    return ctl_usage_error(v, "missing argument for '%s'", v->name);
            break;
        }
    }
    if (next < argc)
        return ctl_usage_error(v, "unexpected argument '%s' for '%s'", argv[next], v->name);
    a->argc = n;
    a->argv = a->args;
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
    struct option longopts[CTL_MAX_OPTS + CTL_MAX_ARGS + 3];
    char names[CTL_MAX_ARGS][ARG_WORD_MAX];
    char *named[CTL_MAX_ARGS] = {NULL};
    unsigned seen = 0;
    int c;

    memset(a, 0, sizeof(*a));
    a->verb = v;
    build_longopts(v, a, longopts, names);
    opterr = 0;
    /* 0, not 1: glibc then starts afresh on this new argument vector. */
    optind = 0;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        if (c == OPTVAL_HELP || c == 'h') {
            a->help = true;
        } else if (c == OPTVAL_JSON) {
            ctl_set_json(ctl);
        } else if (c >= OPTVAL_ARG) {
            if (named[c - OPTVAL_ARG] != NULL)
                return ctl_usage_error(v, "--%s given twice", names[c - OPTVAL_ARG]);
            named[c - OPTVAL_ARG] = optarg;
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
    if (check_combinations(v, seen) != 0 ||
        merge_args(v, a, named, argc - optind, argv + optind) != 0)
        return CTL_EXIT_USAGE;
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
