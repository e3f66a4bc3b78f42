// SPDX-License-Identifier: MIT
/*
 * jobs.h - what the job files share (internal): the resolved job, its
 * position in the run, reporting helpers, checkpointing of the position
 * and the dataset loaders. Users see only the "jobs" section of nas.h.
 *
 * The one design decision to know: a run's position (nas__job_pos) is
 * "what has been done", counted in whole optimizer steps, and together
 * with the parameter store (weights, moments, BN statistics, carried LSTM
 * state) and the op rng it is everything the numbers depend on. Every
 * random draw comes from one of two streams: the data-order rng, consumed
 * only by the shuffle at the start of an epoch (so its state at the start
 * of the epoch is saved), and the op rng (dropout, augmentation), saved as
 * it stands. Doubles are saved as the hex of their bits, so a resumed run
 * continues with exactly the sums an uninterrupted one would have.
 */
#ifndef NAS_JOBS_H
#define NAS_JOBS_H

#include "internal.h"
#include "core/json.h"

#include <stdatomic.h>

/* The job files' two idioms: a field's default when it is still zero
 * (see nas_job_spec_defaults), and a failure naming the field:
 * return BAD("lr", "%g must be > 0", v). */
#define SET0(f, v)                                                                                 \
    do {                                                                                           \
        if (!(f))                                                                                  \
            (f) = (v);                                                                             \
    } while (0)
#define BAD(field, ...) nas_fail(NAS_EINVAL, field ": " __VA_ARGS__)

/* What nas__job_check returns besides NAS_RUN and the nas_stop values. */
#define NAS__STOP_TIME 3

typedef struct nas__job_pos {
    int epoch;            /* epoch in progress, 1-based; epochs + 1: done */
    int64_t step;         /* steps done inside the epoch */
    int64_t global_step;  /* steps done over the job */
    int64_t sgd_steps;    /* nas_sgd.steps */
    int64_t adam_steps;   /* nas_adam.steps (darts' alpha optimizer; 0 in
                             train, optional in the file) */
    nas_rng data_rng;     /* data-order rng at the start of the epoch */
    double loss_sum;      /* over the steps done in this epoch: sum of
                             per-step losses (image) or of loss*tokens */
    double correct, seen; /* images right / seen (text: tokens seen) */
    double last_loss;     /* of the last finished epoch: train loss, */
    double last_acc;      /* train accuracy (text: valid perplexity) */
    double elapsed;       /* training seconds before this process */
} nas__job_pos;

typedef struct nas__job {
    nas_job_spec spec; /* validated; arch and data_path resolved */
    const char *kind;  /* "train" or "darts", for messages */
    const nas_dataset_desc *desc;
    nas_job_reporter rep; /* a copy: NULL callbacks are skipped */
    const _Atomic int *stop;
    double t0;                /* monotonic seconds when this process started */
    double elapsed0;          /* pos.elapsed when this process started */
    int64_t step0;            /* pos.global_step when this process started */
    char spec_text[1280];     /* "key=value ..." of the fields that matter */
    const nas_kv *extra_meta; /* written into every checkpoint after the
                                 position (darts' stage), or NULL */
    int nextra;
    int64_t after_steps;      /* steps and epochs of a stage that follows this
                                 one (darts' final training), counted in the */
    int after_epochs;         /* progress totals so that they do not jump */
    double after_max_seconds; /* that stage's own time limit (0: none),
                                 for the ETA */
    const nas_dist *dist;     /* the data-parallel group (size >= 2), or NULL */
} nas__job;

/* -------------------------------------------------------------- kinds.c */

/* One row per job kind (kinds.c): everything job.c and estimate.c do
 * that depends on the kind goes through it. */
typedef struct nas__kind {
    const char *algorithm;
    const char *space;         /* NULL: every space of the algorithm */
    const char *default_space; /* the engine's when search_space is NULL */
    int common_checks;         /* prepare runs the shared checks first */
    /* What no row of the spec table holds (spec_table.c gives the rest),
     * into the fields still zero; NULL: nothing. */
    void (*defaults)(nas_job_spec *s);
    /* Checks the spec (NAS_EINVAL naming the field) and writes the spec
     * text; data_path and desc are resolved. */
    int (*prepare)(nas__job *j);
    int (*run)(nas__job *j);
    /* The memory of the run (estimate.c); s has its defaults. */
    int (*estimate)(nas_job_spec *s, const nas_dataset_desc *d, nas_job_memory *out);
    /* The final training that runs after the search in its place, when
     * s->final_epochs: raises out to its figure if larger. NULL: none. */
    void (*estimate_final)(const nas_job_spec *s, const nas_dataset_desc *d, nas_job_memory *out);
    /* The steps of the run and of its final training, and the
     * multiply-adds of one of each (estimate_steps.c); s has its
     * defaults. */
    int (*steps)(nas_job_spec *s, const nas_dataset_desc *d, nas_job_steps *out);
} nas__kind;

/* The kind of (algorithm (NULL: train), space): the row of that space,
 * the algorithm's row for every space, or the algorithm's first row when
 * the space is NULL or unknown (its prepare names it). NULL for an
 * unknown algorithm. */
const nas__kind *nas__kind_of(const char *algorithm, const char *space);
/* "train, darts, enas, nas-rl, random": the algorithms, for messages. */
void nas__kind_names(char *out, size_t cap);

/* The train kind (job.c). */
void nas__train_defaults(nas_job_spec *s);
int nas__train_prepare(nas__job *j);

/* What both estimates (memory, steps) start from: the spec with its
 * defaults in *s, its dataset and its kind; a failure names what is wrong. */
int nas__estimate_prepare(const nas_job_spec *spec, nas_job_spec *s, const nas_dataset_desc **d,
                          const nas__kind **k);
/* The estimates per kind (estimate.c). */
int nas__estimate_train(nas_job_spec *s, const nas_dataset_desc *d, nas_job_memory *out);
int nas__estimate_darts_cnn(nas_job_spec *s, const nas_dataset_desc *d, nas_job_memory *out);
int nas__estimate_darts_rnn(nas_job_spec *s, const nas_dataset_desc *d, nas_job_memory *out);
int nas__estimate_enas_cnn(nas_job_spec *s, const nas_dataset_desc *d, nas_job_memory *out);
int nas__estimate_enas_rnn(nas_job_spec *s, const nas_dataset_desc *d, nas_job_memory *out);
int nas__estimate_nasrl(nas_job_spec *s, const nas_dataset_desc *d, nas_job_memory *out);
/* Spec texts (job_ckpt.c): in with every float word (a decimal with a
 * point or an exponent, between blanks, '=' and ',') in the shortest form
 * that reads back as the same float, into out[cap] (cut short when it does
 * not fit); and whether two texts are the same spec, their floats read
 * back (a checkpoint written before the shortening has %.9g text). */
void nas__spec_text_shorten(const char *in, char *out, size_t cap);
int nas__spec_text_same(const char *a, const char *b);

/* The steps per kind (estimate_steps.c). */
int nas__steps_train(nas_job_spec *s, const nas_dataset_desc *d, nas_job_steps *out);
int nas__steps_darts_cnn(nas_job_spec *s, const nas_dataset_desc *d, nas_job_steps *out);
int nas__steps_darts_rnn(nas_job_spec *s, const nas_dataset_desc *d, nas_job_steps *out);
int nas__steps_enas_cnn(nas_job_spec *s, const nas_dataset_desc *d, nas_job_steps *out);
int nas__steps_enas_rnn(nas_job_spec *s, const nas_dataset_desc *d, nas_job_steps *out);
int nas__steps_nasrl(nas_job_spec *s, const nas_dataset_desc *d, nas_job_steps *out);
/* The child depth of a nas-rl / random search after `done` architectures
 * (nasrl_job.c): start_layers grown by layers_step every grow_every, at
 * most max_layers; the memory estimate takes the budget's last one. */
int nas__nasrl_layers_at(const nas_job_spec *s, int done);
void nas__estimate_darts_final(const nas_job_spec *s, const nas_dataset_desc *d,
                               nas_job_memory *out);
void nas__estimate_enas_final(const nas_job_spec *s, const nas_dataset_desc *d,
                              nas_job_memory *out);

/* --------------------------------------------------------- spec_table.c */

/* The row of the engine's table a spec runs under: (algorithm,
 * search_space; NULL: the algorithm's first), or for train the row of
 * its architecture on data of data_kind (NAS_ARCH_DEFAULT: that kind's
 * first). NULL when the table has none (a train spec of an architecture
 * only the searches build: enas-cnn, enas-rnn, darts-rnn networks). */
const nas_spec_space *nas__spec_row_of(const nas_job_spec *s, const char *data_kind);
/* Every default of the row (its fields, fixed values and budget) into
 * the fields of s that are still zero. */
void nas__spec_defaults(nas_job_spec *s, const nas_spec_space *row);
/* The values of s against the type and range of the row's
 * hyperparameters named in names (NULL-terminated; NULL: every one the
 * row stores): NAS_EINVAL "name: why" with the API's name, or NAS_OK. A
 * kind lists the fields whose range it takes from the table. */
int nas__spec_check(const nas_job_spec *s, const nas_spec_space *row, const char *const *names);

/* ---------------------------------------------------------------- job.c */

/* Validates spec into j (defaults resolved, spec text written) without
 * running it: nas_job_run's first half, for a kind that runs another
 * (darts' final training runs the train kind). */
int nas__job_prepare(nas__job *j, const nas_job_spec *spec, const nas_job_reporter *rep,
                     const _Atomic int *stop);

/* Training seconds of the whole job so far (across resumes). */
double nas__job_elapsed(const nas__job *j);
/* Between steps: NAS_RUN, NAS_STOP_CANCEL, NAS_STOP_SHUTDOWN or
 * NAS__STOP_TIME (max_seconds spent). */
int nas__job_check(const nas__job *j);
/* The same from this process's flag and clock alone: no collective, so
 * any thread may call it (a group's job that runs whole trainings on its
 * ranks, nas-rl's, brings rank 0's decision to the others itself). */
int nas__job_check_local(const nas__job *j);
/* An uploaded dataset's descriptor by name, NULL when none (user_datasets.c). */
const nas_dataset_desc *nas__dataset_find_uploaded(const char *name);
/* The check between two steps, acted upon: NAS_RUN (go on),
 * NAS__STOP_TIME (finish up), NAS_ECANCELLED after a cancel, or after the
 * shutdown checkpoint (or an error writing it). */
int nas__job_between_steps(nas__job *j, nas_params *p, const nas_rng *op_rng, nas__job_pos *pos);
void nas__job_progress(const nas__job *j, const nas__job_pos *pos, int64_t total_steps);
/* The epochs a stage has begun (the last one maybe cut short), at most
 * spec.epochs: what a following stage's epoch numbers count on from. */
int nas__job_epochs_done(const nas__job *j, const nas__job_pos *pos);
/* The progress of a stage its max_seconds cut short: its totals become
 * what it did (plus the stages after it), so the job still ends at 1. */
void nas__job_progress_cut(const nas__job *j, const nas__job_pos *pos);
/* The epochs of a run, from pos->epoch through spec.epochs: starts the
 * clock (j->t0), calls run_epoch(ctx) once per epoch (it moves *pos on)
 * and stops early when it returns NAS__STOP_TIME (logged, *by_time = 1)
 * or a negative error (returned). NAS_OK otherwise. */
int nas__job_epochs(nas__job *j, const nas__job_pos *pos, int (*run_epoch)(void *ctx), void *ctx,
                    int *by_time);
/* A search kind's stages over its own state ctx: setup, the epochs
 * (nas__job_epochs with run_epoch, from *pos as setup left it), then
 * finish (told whether max_seconds cut the epochs short; it reports or
 * hands the result over in out) - and teardown whatever happened, which
 * frees the search's memory before anything that follows it. */
typedef struct nas__job_stages {
    int (*setup)(void *ctx);
    int (*run_epoch)(void *ctx);
    int (*finish)(void *ctx, int by_time, void *out);
    void (*teardown)(void *ctx);
} nas__job_stages;
int nas__job_search(nas__job *j, const nas__job_pos *pos, const nas__job_stages *st, void *ctx,
                    void *out);
void nas__job_metric(const nas__job *j, int epoch, int64_t step, const char *name, double value);
void nas__job_log(const nas__job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* job_ckpt.c. Saves store + op rng + position at spec.checkpoint_path (a no-op
 * returning NAS_OK without a path) and reports it once durable. */
int nas__job_save(nas__job *j, nas_params *p, const nas_rng *op_rng, nas__job_pos *pos);
/* When spec.resume and the checkpoint exists: check that it belongs to
 * this spec, load it into p, op_rng and pos (validated against the plan
 * of steps_per_epoch steps) and set *resumed. Otherwise leave all alone. */
int nas__job_resume(nas__job *j, nas_params *p, nas_rng *op_rng, int64_t steps_per_epoch,
                    nas__job_pos *pos, int *resumed);

/* Appends "name":value (a JSON number, null when not finite) after a comma
 * unless first. */
void nas__json_num(nas_json_buf *b, int first, const char *name, double v);

/* One epoch from pos->step: step(ctx) per step between the checks of
 * nas__job_between_steps, then end(ctx) unless nothing was done, then the
 * checkpoint when the epoch is whole. NAS_OK, NAS__STOP_TIME or a negative
 * error, like a run_epoch of nas__job_epochs. */
int nas__job_run_epoch(nas__job *j, nas_params *p, const nas_rng *op_rng, nas__job_pos *pos,
                       int64_t spe, int64_t total, void (*step)(void *ctx), int (*end)(void *ctx),
                       void *ctx);
/* Moves pos to the start of the next epoch (the sums cleared). */
void nas__job_next_epoch(nas__job_pos *pos);
/* Result JSON fields: "epochs" and "steps"; "parameters" and
 * "stopped_by". */
void nas__job_json_steps(nas_json_buf *res, const nas__job_pos *pos, int64_t spe);
void nas__job_json_stop(nas_json_buf *res, nas_params *p, int by_time);
/* A search's result JSON: its opening {"search_space":..,"dataset":..,
 * and its close (epochs, steps, parameters, stopped_by, seconds, "}");
 * the close returns the seconds it wrote. */
void nas__job_json_open(nas_json_buf *res, const char *space, const nas__job *j);
double nas__job_json_close(nas_json_buf *res, const nas__job *j, const nas__job_pos *pos,
                           int64_t spe, nas_params *p, int by_time);
/* Reports a train kind's architecture (with reward) and result (metric
 * name = value), or fails when any buffer ran out of memory; frees the
 * three buffers either way. */
int nas__job_report(nas__job *j, nas_json_buf *arch, nas_json_buf *res, nas_json_buf *met,
                    double reward, const char *name, double value);

/* -------------------------------------------------------------- model.c */

/* What a model file says of its network besides the job's spec. */
typedef struct nas__model_info {
    const char *arch_json; /* the architecture the result names */
    const char *metric;    /* the test metric's name */
    double value;
    const nas_dataset *train; /* images: the normalisation (or NULL) */
    const nas_corpus *corpus; /* text: the vocabulary (or NULL) */
    /* images: the network's eval forward, x (N, C, H, W) normalised ->
     * logits (N, classes), for the ONNX export (NULL: none). */
    nas_tensor *(*forward)(void *ctx, nas_graph *g, nas_params *p, nas_tensor *x);
    void *forward_ctx;
    /* text: one step of the language model (export/onnx.h nas__onnx_step)
     * and its state's shape, for the ONNX export (NULL: none) */
    nas_tensor *(*step)(void *ctx, nas_graph *g, nas_params *p, const int32_t *ids, int n,
                        nas_tensor **h, nas_tensor **c);
    void *step_ctx;
    int layers, hidden, cells;
} nas__model_info;

/* Writes the trained network in p (weights and batch-norm statistics) to
 * j->spec.model_path with its metadata (model.c says which); NAS_OK
 * without a path. */
int nas__job_save_model(const nas__job *j, nas_params *p, const nas__model_info *m);
/* Tests only: called, when set, after a model's files are written, while
 * the network is in memory (a test runs m->forward on images of its own
 * to compare nasd's logits with another runtime's). */
extern void (*nas__model_probe)(const nas__job *j, nas_params *p, const nas__model_info *m);

/* A nasrl-rnn train job's decisions (its genotype's ints, checked as the
 * space checks them) into dec[cap]: their count, or NAS_EINVAL naming
 * the genotype (nasrl_train.c). */
int nas__nasrl_rnn_fixed_dec(const nas_job_spec *s, int *dec, int cap);
/* Appends a language model's sizes ("embed", "hidden", "bptt" of s)
 * inside the closing brace of its cell's JSON in a (a nasrl-rnn train
 * job's result, a random or nas-rl search's on a text space), so that a
 * train job on it, and the model loader, build the network of these
 * sizes (nasrl_train.c). */
void nas__text_arch_sizes(nas_json_buf *a, const nas_job_spec *s);

/* ----------------------------------------------------------- datasets.c */

/* A token stream batchified as rows of bsz ids (nas_batchify). */
typedef struct nas__stream {
    int32_t *ids; /* rows * bsz, malloc'd */
    int rows, bsz;
} nas__stream;

/* ids[0..n) in bsz columns; NAS_EINVAL naming `what` when a column would
 * hold fewer than 2 tokens. */
int nas__stream_make(const int32_t *ids, int n, int bsz, const char *what, nas__stream *out);

/* The train and test sets of an image job, the test set normalised with
 * the training statistics. */
int nas__job_load_images(const nas__job *j, nas_dataset **train, nas_dataset **test);
/* What the spec's augment means on dataset d (one rule for every kind):
 * a random crop after zero padding by 4 on 32x32 images (2 on smaller
 * ones, i.e. 28x28 Fashion-MNIST: the same 1/8 of the side), plus a
 * random horizontal flip on cifar10 only (Fashion-MNIST's classes are
 * not all mirror-symmetric and the synthetic set's sides matter). All
 * zero when augment is off. */
nas_augment nas__job_augment(const nas_job_spec *s, const nas_dataset_desc *d);
int nas__job_load_corpus(const nas__job *j, nas_corpus **out);

/* ------------------------------------------------------ nasrl_train.c */

/* train kind, NAS_ARCH_NASRL_CNN / NAS_ARCH_NASRL_RNN: validates the
 * architecture (genotype's ints) for dataset d and appends the spec
 * text's architecture part to buf; runs the job. */
int nas__nasrl_fixed_check(const nas_job_spec *s, const nas_dataset_desc *d, char *buf, size_t cap);
int nas__train_nasrl(nas__job *j);
/* A nasrl-cnn train spec's genotype ints as the network's layers (the
 * train kind's and the model loader's one reading of them). */
struct nas_nasrl_arc;
int nas__nasrl_cnn_fixed_arc(const nas_job_spec *s, struct nas_nasrl_arc *a);

/* ------------------------------------------------- train_image/text.c */

int nas__train_image(nas__job *j);
int nas__train_text(nas__job *j);
/* Random search's darts-rnn children (jobs/random_job.c): the language
 * model of t (a train spec, validated here) trained from scratch for
 * t->epochs on corpus' train split (borrowed: the caller's, its vocabulary
 * whatever t says) exactly as the train kind trains it, with nothing
 * reported or checkpointed; scored on the valid split after every epoch.
 * should_stop(ctx) (may be NULL) between steps: NAS_ECANCELLED. keep
 * (may be NULL) is called once after the last epoch with the network's
 * store and *out filled (a final training keeps the network so); its
 * error is returned. */
typedef struct nas__text_child {
    double val_perplexity, train_loss; /* after the last epoch */
    size_t parameters;
    int epochs;
    int by_time; /* t->max_seconds stopped it (evaluated then) */
} nas__text_child;
int nas__train_text_child(const nas_job_spec *t, nas_corpus *corpus, int (*should_stop)(void *ctx),
                          void *ctx,
                          int (*keep)(void *keep_ctx, nas_params *p, const nas__text_child *c),
                          void *keep_ctx, nas__text_child *out);

/* ------------------------------------------------ jobs/darts_job.c */

/* The darts kind's defaults (see nas.h) into the zero fields of s. */
void nas__darts_job_defaults(nas_job_spec *s);
/* Validates the darts fields of j->spec (the shared ones are checked by
 * job.c) and writes j->spec_text. */
int nas__darts_job_prepare(nas__job *j);
/* Runs the darts-cnn search, then its final training when asked; the
 * same contract as nas_job_run. */
int nas__darts_job(nas__job *j);

/* --------------------------------------------- jobs/darts_final.c */

/* What the final training needs of the search: its genotype (the result
 * architecture) and result JSON (malloc'd), its size in steps and epochs,
 * its seconds. */
typedef struct nas__darts_search_out {
    char *arch, *res;
    nas_darts_genotype darts_cnn;     /* what the final training trains */
    nas_darts_rnn_genotype darts_rnn; /* (darts-cnn or darts-rnn) */
    int64_t steps;
    int epochs;
    double seconds;
} nas__darts_search_out;

/* *stage = 1 when j resumes and its checkpoint was written by the final
 * training (metadata job.stage "final"), else 0. */
int nas__darts_final_stage(const nas__job *j, int *stage);
/* Trains the genotype of `so` from scratch with the train kind (resume:
 * from j's checkpoint) and reports the combined result through j. */
int nas__darts_final_run(nas__job *j, const nas__darts_search_out *so, int resume);
/* The search's outcome from a final-training checkpoint's metadata, then
 * nas__darts_final_run(resume = 1). */
int nas__darts_final_resume(nas__job *j);
/* A darts job's stages, for both spaces: straight back into the final
 * training when the checkpoint says it was there; otherwise search(j,
 * out), which reports its result itself or - when final training
 * follows - hands it over in *out (out->arch set) after freeing its own
 * memory, and then the final training. */
int nas__darts_stages(nas__job *j, int (*search)(nas__job *j, nas__darts_search_out *out));
/* The driver under both, shared with enas (jobs/enas_final.c): fn
 * writes the train kind's spec for the search's outcome (so->arch is the
 * search's result architecture JSON, so->res its result JSON); the
 * checkpoint metadata keys are "<prefix>.spec", "<prefix>.genotype", ...
 * The headline is test_perplexity when the spec is a language model,
 * test_accuracy otherwise. */
typedef int (*nas__final_spec_fn)(const nas__job *j, const nas__darts_search_out *so, int resume,
                                  nas_job_spec *t);
int nas__final_run(nas__job *j, const char *prefix, nas__final_spec_fn fn,
                   const nas__darts_search_out *so, int resume);
int nas__final_resume(nas__job *j, const char *prefix, nas__final_spec_fn fn);

/* ----------------------------------------------- jobs/enas_final.c */

/* Validates final_epochs, final_C and final_layers of an enas job (enas-rnn:
 * final_epochs only) and sets the progress totals of the final training
 * (image datasets; a text corpus' size is known only once loaded). */
int nas__enas_final_check(nas__job *j);
/* The channels and layers of an enas-micro / enas-macro final network
 * (final_C, final_layers, or the search's; a macro arc fixes its layers):
 * for the final training and the memory estimate alike. */
void nas__enas_final_size(const nas_job_spec *s, int *C, int *layers);
/* Before the search: when j resumes inside its final training, runs it
 * to the end (*done = 1, its code returned); otherwise, with final
 * training asked for, routes j's result reporter into *cap so that the
 * search's result is kept for nas__enas_final_end. */
typedef struct nas__enas_final_cap {
    nas_job_reporter orig;
    char *arch, *res;
    int active;
} nas__enas_final_cap;
int nas__enas_final_begin(nas__job *j, nas__enas_final_cap *cap, int *done);
/* After the search (rc its code, its memory already freed): restores the
 * reporter and, when the search ended by its epochs, trains the found
 * architecture from scratch and reports the combined result (a search
 * stopped by max_seconds reports its own with final_training skipped). */
int nas__enas_final_end(nas__job *j, nas__enas_final_cap *cap, int rc);
/* An enas kind's run, for both enas_job.c and enas_rnn_job.c:
 * nas__enas_final_begin, the search's stages (nas__job_search over run,
 * whose result its finish reports), nas__enas_final_end. */
int nas__enas_stages(nas__job *j, const nas__job_pos *pos, const nas__job_stages *st, void *run);
/* The fixed-arc string (the reference's, as the space's arc_string
 * writes it) into arc[*alen] for space self of sp, checked decision by
 * decision against the space's controller program; NAS_EINVAL names
 * "genotype". arc has room for the program's decisions (nas__enas_arc_len). */
struct nas_enas_space;
#define NAS__ENAS_MAX_DECISIONS 512 /* of an arc that is parsed or sampled */
int nas__enas_arc_len(const struct nas_enas_space *sp, void *self);
/* The number of values of each decision (CHOICE: its options, PICK: the
 * anchors it picks among, a SKIPS bit: 2) into hi[cap]; the count, or
 * NAS_EINVAL when there are more than cap. */
int nas__enas_arc_ranges(const struct nas_enas_space *sp, void *self, int *hi, int cap);
int nas__enas_arc_parse(const struct nas_enas_space *sp, void *self, const char *text, int *arc);
/* enas-rnn: the fixed-arc string (its ints in arc order) into arc
 * (nas__enas_rnn_arc_len ints), checked; NAS_EINVAL names "genotype". */
struct nas__enas_rnn;
int nas__enas_fixed_rnn_arc(const struct nas__enas_rnn *n, const char *text, int *arc);
/* train kind, NAS_ARCH_ENAS_RNN: validates nodes, hidden, bptt,
 * max_vocab, the dropouts and the fixed arc in genotype, and appends the
 * spec text's architecture part to buf. */
int nas__enas_fixed_rnn_check(const nas_job_spec *s, const nas_dataset_desc *d, char *buf,
                              size_t cap);
/* The space named name (enas-micro, enas-macro) or NULL. */
const struct nas_enas_space *nas__enas_space_find(const char *name);
/* train kind, NAS_ARCH_ENAS_CNN: validates search_space, C, layers, nodes
 * and the fixed arc in genotype for dataset d, and appends the spec text's
 * architecture part to buf. */
int nas__enas_fixed_check(const nas_job_spec *s, const nas_dataset_desc *d, char *buf, size_t cap);

/* ------------------------------------------- jobs/darts_common.c */

struct nas_darts_hp;
/* Validates arch_lr, arch_beta1, arch_beta2 and arch_weight_decay. */
int nas__darts_job_check_arch(const nas_job_spec *s);
/* The search hyperparameters of s for a search of `steps` alpha steps
 * (which arch_lr_steps scales the alpha lr by). */
void nas__darts_job_hp(const nas_job_spec *s, int64_t steps, struct nas_darts_hp *hp);
/* Seeds *op_rng and pos->data_rng from the spec's seed, starts pos at
 * epoch 1, resumes from the checkpoint when asked and checks that the
 * position has one weight and one alpha step per search step. */
int nas__darts_job_resume(nas__job *j, nas_params *p, nas_rng *op_rng, int64_t spe,
                          nas__job_pos *pos);
/* {"epoch":..,"step":..,"train_loss":..,"<train_name>":last_acc,
 * "val_loss":..,"<val_name>":..,"lr":..,"alpha":alpha}: malloc'd, NULL
 * when out of memory; frees alpha (which may be NULL: out of memory). */
char *nas__darts_job_epoch_json(char *alpha, int epoch, const nas__job_pos *pos,
                                const char *train_name, const char *val_name, double val_loss,
                                double val_value, double lr);
/* The result JSON's opening: search space, dataset, order, genotype
 * text and alpha, then "<val_name>": val_value, "val_loss", "train_loss"
 * (pos->last_loss) and "<train_name>" (pos->last_acc). */
void nas__darts_job_result_head(nas_json_buf *res, const char *space, const nas__job *j,
                                const char *text, const char *alpha, const char *val_name,
                                double val_value, double val_loss, const char *train_name,
                                const nas__job_pos *pos);
/* The result's tail (steps, how the search stopped, seconds) closes res
 * (the caller wrote its head and its space's numbers), then the result
 * goes to j's reporter as arch with metric = value, or - when final
 * training follows - into *out (out->arch and out->res take *arch and
 * res->s, which become NULL; the caller gives out its genotype). */
int nas__darts_job_deliver(nas__job *j, const char *space, nas_json_buf *res,
                           const nas__job_pos *pos, int64_t spe, nas_params *p, int stopped_by_time,
                           char **arch, const char *metric, double value,
                           nas__darts_search_out *out);

/* ------------------------------------------- jobs/darts_rnn_job.c */

/* The darts-rnn defaults (see nas.h) into the zero fields of s. */
void nas__darts_rnn_job_defaults(nas_job_spec *s);
/* Validates the darts-rnn fields and writes j->spec_text. */
int nas__darts_rnn_job_prepare(nas__job *j);
/* Runs the darts-rnn search; the same contract as nas_job_run. */
int nas__darts_rnn_job(nas__job *j);

/* ----------------------------------------------- jobs/enas_job.c */

/* The enas defaults of the CNN spaces that are no row of the spec table
 * (engine/jobs/spec_table.c enas_micro_hp / enas_macro_hp hold the
 * reference's cifar10_{micro,macro}_search.sh): search_space NULL is
 * enas-micro. */
void nas__enas_job_defaults(nas_job_spec *s);
/* Validates the enas fields of an enas-micro or enas-macro job (the
 * shared ones are checked by job.c) and writes j->spec_text. */
int nas__enas_job_prepare(nas__job *j);
/* Runs the ENAS search over the job's CNN space; the same contract as
 * nas_job_run. */
int nas__enas_job(nas__job *j);
/* Validates the controller keys every enas space has (lstm_size,
 * lstm_layers, controller_lr, entropy_weight, tanh_constant, temperature,
 * baseline_decay, controller_steps, controller_aggregate,
 * final_samples), naming the API key. */
int nas__enas_check_controller(const nas_job_spec *s);

/* ------------------------------------------- jobs/enas_rnn_job.c */

/* (Its defaults, the reference's ptb_search.sh, are all rows of the
 * spec table: engine/jobs/spec_table.c enas_rnn_hp.) */
/* Validates the enas-rnn fields and writes j->spec_text. */
int nas__enas_rnn_job_prepare(nas__job *j);
/* Runs the enas-rnn search; the same contract as nas_job_run. */
int nas__enas_rnn_job(nas__job *j);

/* ------------------ jobs/nasrl_spec.c, nasrl_job.c, random_job.c */

/* The nas-rl and random defaults per search space into the zero fields
 * of s, after the spec table's rows (engine/jobs/spec_table.c
 * nasrl_cnn_hp, nasrl_rnn_hp, random_*_hp): the child training of the
 * sampled space, which random's few keys leave to it. */
void nas__nasrl_job_defaults(nas_job_spec *s);
/* Validates the nas-rl / random fields (the shared ones too) and writes
 * j->spec_text. */
int nas__nasrl_job_prepare(nas__job *j);
/* The search loop of nas-rl (controller) and random (uniform) over
 * nasrl-cnn, nasrl-rnn and (random) darts-cnn; the same contract as
 * nas_job_run. */
int nas__nasrl_search(nas__job *j);
/* The random kind (the loop above with uniform samples). */
int nas__random_job(nas__job *j);
/* The spaces of the loop: nasrl-cnn and nasrl-rnn are the search's
 * (search/nasrl/nasrl.h); random's spaces over the networks of the other
 * searches are random_job.c's. */
struct nas__nasrl_space;
extern const struct nas__nasrl_space nas__random_darts_cnn_space;
extern const struct nas__nasrl_space nas__random_enas_micro_space;
extern const struct nas__nasrl_space nas__random_enas_macro_space;
extern const struct nas__nasrl_space nas__random_darts_rnn_space;
extern const struct nas__nasrl_space nas__random_enas_rnn_space;
/* The space of s->search_space (a validated spec). */
const struct nas__nasrl_space *nas__nasrl_space_of(const nas_job_spec *s);

#endif
