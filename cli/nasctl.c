// SPDX-License-Identifier: MIT
/*
 * nasctl.c - main() of nasctl, nasd's command-line client: the command
 * line parsed into nasctl_opts, the token read, the command run, its exit
 * code returned (cli/nasctl.h lists them).
 *
 * The one design decision to know: two tables, one row per command and
 * one per option, say everything about the command line: which commands
 * take which options, the synopsis and the help text all come from them,
 * so `nasctl --help`, a usage error and man/nasctl.1 (checked against
 * --help by tests/test_man.sh) cannot drift apart. Options may stand
 * anywhere after the program name, before or after the command.
 */
#include "nasctl.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_URL "http://127.0.0.1:8080"

typedef struct command {
    const char *name;
    int (*run)(const nasctl_opts *o);
    const char *arg; /* the positional argument's name, or NULL */
    const char *help;
} command;

static const command commands[] = {
    {"submit", nasctl_cmd_submit, "SPEC.json",
     "submit a job spec (a file, or - for stdin); print its id"},
    {"get", nasctl_cmd_get, "ID", "show a job"},
    {"list", nasctl_cmd_list, NULL, "list jobs, newest first (one page; --all: every page)"},
    {"cancel", nasctl_cmd_cancel, "ID", "cancel a queued or running job"},
    {"delete", nasctl_cmd_delete, "ID", "delete a finished job and its files"},
    {"result", nasctl_cmd_result, "ID", "show a job's result, or draw it (--svg, --dot)"},
    {"architectures", nasctl_cmd_architectures, "ID", "list the architectures a job sampled"},
    {"model", nasctl_cmd_model, "ID", "download a job's trained network (-o FILE)"},
    {"metrics", nasctl_cmd_metrics, "ID", "list a job's metric points"},
    {"dataset-upload", nasctl_cmd_dataset_upload, "FILE",
     "upload a dataset (tar, zip, .npz, text); print what nasd imported"},
    {"dataset-list", nasctl_cmd_dataset_list, NULL, "list the datasets, built in and uploaded"},
    {"dataset-get", nasctl_cmd_dataset_get, "NAME", "show a dataset, or save its sample grid (-o)"},
    {"dataset-delete", nasctl_cmd_dataset_delete, "NAME", "delete an uploaded dataset"},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

enum opt_kind { O_FLAG, O_VALUE, O_URL, O_TOKEN_FILE, O_HELP, O_VERSION };

typedef struct option {
    const char *name;     /* --name */
    char short_name;      /* -x, or 0 */
    enum opt_kind kind;   /* O_FLAG and O_VALUE set the field at offset */
    size_t offset;        /* in nasctl_opts */
    const char *commands; /* the commands taking it ("" for every one) */
    const char *value;    /* the value's name in the help */
    const char *help;
} option;

#define OFF(f) offsetof(nasctl_opts, f)
static const option options[] = {
    {"url", 0, O_URL, 0, "", "URL", "nasd's address (default $NASD_URL, else " DEFAULT_URL ")"},
    {"token-file", 0, O_TOKEN_FILE, 0, "", "FILE",
     "send the bearer token in FILE (its first line that is not blank or #)"},
    {"json", 0, O_FLAG, OFF(json), "", NULL, "print nasd's JSON instead of text"},
    {"follow", 'f', O_FLAG, OFF(follow), "submit", NULL,
     "draw the job's progress on stderr until it ends, then print its result"},
    {"dry-run", 0, O_FLAG, OFF(dry_run), "submit", NULL,
     "check the spec and print it completed with its estimate; start nothing"},
    {"state", 0, O_VALUE, OFF(state), "list", "S",
     "only jobs in state S (queued, running, succeeded, failed, cancelled)"},
    {"name", 0, O_VALUE, OFF(name), "list metrics dataset-upload", "N",
     "only jobs (metrics) named N; the name of an upload (default: the file's, to its first .)"},
    {"kind", 0, O_VALUE, OFF(kind), "dataset-upload", "K", "image (the default) or text"},
    {"resize", 0, O_VALUE, OFF(resize), "dataset-upload", "HxW",
     "resize every image to H x W pixels (else images of mixed sizes are refused)"},
    {"algorithm", 0, O_VALUE, OFF(algorithm), "list", "A", "only jobs of algorithm A"},
    {"search-space", 0, O_VALUE, OFF(search_space), "list", "S", "only jobs of search space S"},
    {"dataset", 0, O_VALUE, OFF(dataset), "list", "D", "only jobs on dataset D"},
    {"tag", 0, O_VALUE, OFF(tag), "list", "T", "only jobs tagged T"},
    {"all", 'a', O_FLAG, OFF(all), "list", NULL, "every page, not only the first"},
    {"page-size", 0, O_VALUE, OFF(page_size), "list", "N",
     "jobs per request, 1 to 200 (default 20; 200 with --all)"},
    {"svg", 0, O_VALUE, OFF(svg), "result", "FILE",
     "write the result's drawing to FILE (- stdout)"},
    {"dot", 0, O_FLAG, OFF(dot), "result", NULL, "print the result as a Graphviz dot graph"},
    {"onnx", 0, O_FLAG, OFF(onnx), "model", NULL, "the ONNX file instead of safetensors"},
    {"output", 'o', O_VALUE, OFF(output), "model dataset-get", "FILE",
     "where the model (dataset get: the sample grid PNG) goes (- stdout)"},
    {"help", 'h', O_HELP, 0, "", NULL, "this help"},
    {"version", 0, O_VERSION, 0, "", NULL, "nasctl's version"},
};
#undef OFF
#define N_OPTIONS (sizeof options / sizeof options[0])

/* An option's commands as the user types them: "list dataset-get" is
 * "list, dataset get". */
static void put_names(FILE *f, const char *names)
{
    for (; *names; names++)
        fputs(*names == ' ' ? ", " : *names == '-' ? " " : (char[2]){*names, 0}, f);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: nasctl [OPTIONS] COMMAND [ARG] [OPTIONS]\n"
               "The command-line client of nasd, neural architecture search as a service.\n\n"
               "commands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++) {
        char syn[64];
        snprintf(syn, sizeof(syn), "%s %s", commands[i].name,
                 commands[i].arg ? commands[i].arg : "");
        for (char *c = syn; *c; c++)
            *c = *c == '-' ? ' ' : *c;
        fprintf(f, "  %-24s %s\n", syn, commands[i].help);
    }
    fprintf(f, "\noptions:\n");
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const option *o = &options[i];
        char syn[64];
        if (o->short_name)
            snprintf(syn, sizeof(syn), "-%c, --%s%s%s", o->short_name, o->name, o->value ? " " : "",
                     o->value ? o->value : "");
        else
            snprintf(syn, sizeof(syn), "--%s%s%s", o->name, o->value ? " " : "",
                     o->value ? o->value : "");
        fprintf(f, "  %-24s %s%s", syn, o->help, o->commands[0] ? " [" : "");
        put_names(f, o->commands);
        fprintf(f, "%s\n", o->commands[0] ? "]" : "");
    }
    fprintf(f, "\nexit status:\n"
               "  0  success\n"
               "  1  nasd answered an error (4xx, 5xx); its problem is printed on stderr\n"
               "  2  usage error: bad arguments, or a file given cannot be read or written\n"
               "  3  nasd cannot be reached (connection refused, name not found, cut short)\n"
               "  4  submit --follow: the job ended failed or cancelled\n"
               "\nSee nasctl(1).\n");
}

static int usage_error(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "nasctl: ");
    fprintf(stderr, fmt, a, b);
    fprintf(stderr, " (see nasctl --help)\n");
    return NASCTL_USAGE;
}

static int takes(const option *o, const char *cmd)
{
    if (!o->commands[0])
        return 1;
    size_t n = strlen(cmd);
    for (const char *p = o->commands; (p = strstr(p, cmd)) != NULL; p += n)
        if ((p == o->commands || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
            return 1;
    return 0;
}

static const option *find_option(const char *arg, const char **value)
{
    *value = NULL;
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const option *o = &options[i];
        if (arg[1] != '-') {
            if (arg[1] == o->short_name && o->short_name)
                return arg[2] ? (*value = arg + 2, o) : o; /* -oFILE */
            continue;
        }
        size_t n = strlen(o->name);
        if (strncmp(arg + 2, o->name, n) == 0 && (arg[2 + n] == '\0' || arg[2 + n] == '=')) {
            if (arg[2 + n] == '=')
                *value = arg + 3 + n;
            return o;
        }
    }
    return NULL;
}

/* The token: the first line of path that is not blank or a # comment. */
static int read_token(const char *path, char **out)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "nasctl: --token-file %s: %s\n", path, strerror(errno));
        return NASCTL_USAGE;
    }
    char line[1024];
    *out = NULL;
    while (!*out && fgets(line, sizeof(line), f)) {
        char *s = line, *e;
        while (*s == ' ' || *s == '\t')
            s++;
        e = s + strlen(s);
        while (e > s && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
            *--e = '\0';
        if (*s && *s != '#') {
            for (const char *c = s; *c; c++)
                if ((unsigned char)*c < 0x20 || *c == 0x7f) {
                    fclose(f);
                    fprintf(stderr, "nasctl: --token-file %s: the token has a control character\n",
                            path);
                    return NASCTL_USAGE;
                }
            *out = strdup(s);
        }
    }
    fclose(f);
    if (!*out) {
        fprintf(stderr, "nasctl: --token-file %s holds no token\n", path);
        return NASCTL_USAGE;
    }
    return NASCTL_OK;
}

/* The arguments after argv[0] in o and *cmd; NASCTL_OK, NASCTL_USAGE
 * (said), or -1 for --help/--version done. */
static int parse(int argc, char **argv, nasctl_opts *o, const command **cmd, const char **tfile)
{
    const char *positional[3] = {NULL, NULL, NULL};
    int npos = 0, no_more_options = 0;
    const option *seen[64];
    int nseen = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *value;
        if (no_more_options || a[0] != '-' || strcmp(a, "-") == 0) {
            if (npos == 3)
                return usage_error("unexpected argument '%s'%s", a, "");
            positional[npos++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            no_more_options = 1;
            continue;
        }
        const option *op = find_option(a, &value);
        if (!op)
            return usage_error("unknown option '%s'%s", a, "");
        if (op->kind == O_HELP) {
            usage(stdout);
            return -1;
        }
        if (op->kind == O_VERSION) {
            printf("nasctl %s\n", PACKAGE_VERSION);
            return -1;
        }
        int wants_value = op->kind == O_VALUE || op->kind == O_URL || op->kind == O_TOKEN_FILE;
        if (!wants_value && value)
            return usage_error("%s takes no value%s", op->name, "");
        if (wants_value && !value) {
            if (i + 1 >= argc)
                return usage_error("%s needs a value%s", a, "");
            value = argv[++i];
        }
        if (nseen < 64)
            seen[nseen++] = op;
        switch (op->kind) {
        case O_URL: o->url = value; break;
        case O_TOKEN_FILE: *tfile = value; break;
        case O_FLAG: *(int *)((char *)o + op->offset) = 1; break;
        case O_VALUE: *(const char **)((char *)o + op->offset) = value; break;
        default: break;
        }
    }
    if (!positional[0])
        return usage_error("no command given%s%s", "", "");
    /* dataset SUB: the command dataset-SUB, its argument after SUB. */
    char two[64];
    const char *name = positional[0];
    if (strcmp(name, "dataset") == 0) {
        if (!positional[1])
            return usage_error("dataset needs upload, list, get or delete%s%s", "", "");
        snprintf(two, sizeof(two), "dataset-%.40s", positional[1]);
        name = two;
        positional[1] = positional[2];
        positional[2] = NULL;
    }
    if (positional[2])
        return usage_error("unexpected argument '%s'%s", positional[2], "");
    *cmd = NULL;
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            *cmd = &commands[i];
    if (!*cmd)
        return usage_error("unknown command '%s'%s", name == two ? two + 8 : name,
                           name == two ? " (dataset takes upload, list, get or delete)" : "");
    for (int i = 0; i < nseen; i++)
        if (!takes(seen[i], (*cmd)->name))
            return usage_error("%s does not take --%s", (*cmd)->name, seen[i]->name);
    if ((*cmd)->arg && !positional[1])
        return usage_error("%s needs %s", (*cmd)->name, (*cmd)->arg);
    if (!(*cmd)->arg && positional[1])
        return usage_error("unexpected argument '%s'%s", positional[1], "");
    o->arg = positional[1];
    if (strcmp((*cmd)->name, "model") == 0 && !o->output)
        return usage_error("model needs -o FILE (- for stdout)%s%s", "", "");
    if (o->svg && o->dot)
        return usage_error("result takes --svg or --dot, not both%s%s", "", "");
    if (o->follow && o->dry_run)
        return usage_error("submit takes --follow or --dry-run, not both%s%s", "", "");
    return NASCTL_OK;
}

int main(int argc, char **argv)
{
    nasctl_opts o;
    memset(&o, 0, sizeof(o));
    const command *cmd = NULL;
    const char *token_file = getenv("NASD_TOKEN_FILE");
    o.url = getenv("NASD_URL");
    if (token_file && !*token_file)
        token_file = NULL;
    int rc = parse(argc, argv, &o, &cmd, &token_file);
    if (rc != NASCTL_OK)
        return rc < 0 ? NASCTL_OK : rc;
    if (!o.url || !*o.url)
        o.url = DEFAULT_URL;
    char url[2048];
    size_t n = strlen(o.url);
    while (n > 0 && o.url[n - 1] == '/')
        n--;
    if (n == 0 || n >= sizeof(url))
        return usage_error("'%s' is not a URL nasctl can use%s", o.url, "");
    memcpy(url, o.url, n);
    url[n] = '\0';
    o.url = url;
    if (token_file && (rc = read_token(token_file, &o.token)) != NASCTL_OK)
        return rc;
    if ((rc = nasctl_client_init(&o)) == NASCTL_OK) {
        rc = cmd->run(&o);
        nasctl_client_cleanup();
    }
    free(o.token);
    if (fflush(stdout) != 0 && rc == NASCTL_OK)
        rc = NASCTL_USAGE; /* stdout was closed or full */
    return rc;
}
