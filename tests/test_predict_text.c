// SPDX-License-Identifier: MIT
/*
 * test_predict_text.c - language models opened for predictions
 * (engine/jobs/predict.c, issue #14 part 4): a train job of each language
 * model (the LSTM LM, darts-rnn, enas-rnn, nasrl-rnn) writes its file on
 * Debian's fortunes; nas_model_open rebuilds it from the job's spec, and
 * reading the job's test split one column at a time (the columns the
 * job's evaluation cut it into, each from a zero state) gives the test
 * perplexity the job reported, within float round-off: the job runs its
 * ten columns at once and takes each chunk's mean cross-entropy in float,
 * the loader one token at a time with the log-softmax in double, so the
 * sums differ in their last bits (bounded here by 1e-5 relative). A text
 * is encoded as the corpus encodes its splits, unknown words counted; a
 * continuation is the same for the same seed and differs across seeds.
 */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jobs/jobs.h"
#include "nas.h"
#include "model_fixture.h"

static void train(trained *t, const char *arch)
{
    if (access(FORTUNES, R_OK) != 0)
        cr_skip_test("no %s (Debian's fortunes)", FORTUNES);
    train_model(t, "nas_predict_text", lm_spec(arch), 0, "test_perplexity");
}

static void replays_the_test_perplexity(const char *arch)
{
    trained t;
    train(&t, arch);
    nas__job j;
    cr_assert_eq(nas__job_prepare(&j, &t.s, NULL, NULL), NAS_OK, "%s", nas_errmsg());
    nas_corpus *c = NULL;
    cr_assert_eq(nas__job_load_corpus(&j, &c), NAS_OK, "%s", nas_errmsg());
    nas_model *m = NULL;
    cr_assert_eq(nas_model_open(t.model, &t.s, &m), NAS_OK, "%s: %s", arch, nas_errmsg());
    cr_assert(nas_model_is_text(m));
    cr_assert_eq(nas_model_vocab_size(m), c->vocab_size);
    for (int i = 0; i < c->vocab_size; i++)
        cr_assert_str_eq(nas_model_token(m, i), c->vocab[i]);

    /* the evaluation's columns: min(10, n / 2) of n / columns tokens each */
    int cols = c->ntest / 2 < 10 ? c->ntest / 2 : 10, rows = c->ntest / cols;
    double nll = 0.0;
    for (int b = 0; b < cols; b++) {
        double one;
        cr_assert_eq(nas_model_text_nll(m, c->test + (size_t)b * rows, rows, &one), NAS_OK);
        nll += one;
    }
    double ppl = exp(nll / ((double)cols * (rows - 1)));
    double rel = fabs(ppl - t.r.value) / t.r.value;
    cr_log_info("%s: test perplexity %.9g replayed as %.9g (relative %.3g)", arch, t.r.value, ppl,
                rel);
    cr_assert(rel < 1e-5, "%s: the job's test perplexity %.9g, replayed %.9g", arch, t.r.value,
              ppl);

    /* a continuation: the same for the same seed, another for another */
    int32_t a[30], b2[30], g[30];
    cr_assert_eq(nas_model_sample(m, c->test, 5, 30, 7, 1.0, a), NAS_OK);
    cr_assert_eq(nas_model_sample(m, c->test, 5, 30, 7, 1.0, b2), NAS_OK);
    cr_assert(memcmp(a, b2, sizeof a) == 0, "%s: seed 7 twice, two continuations", arch);
    cr_assert_eq(nas_model_sample(m, c->test, 5, 30, 8, 1.0, b2), NAS_OK);
    cr_assert(memcmp(a, b2, sizeof a) != 0, "%s: seeds 7 and 8, one continuation", arch);
    for (int i = 0; i < 30; i++)
        cr_assert(a[i] >= 0 && a[i] < c->vocab_size);
    /* temperature 0: the most likely token each time, whatever the seed */
    cr_assert_eq(nas_model_sample(m, c->test, 5, 30, 1, 0.0, g), NAS_OK);
    cr_assert_eq(nas_model_sample(m, c->test, 5, 30, 2, 0.0, b2), NAS_OK);
    cr_assert(memcmp(g, b2, sizeof g) == 0);
    nas_model_free(m);
    nas_corpus_free(c);
    untrain(&t);
}

Test(predict_text, lstm_lm_replays_the_test_perplexity)
{
    replays_the_test_perplexity("lstm-lm");
}

Test(predict_text, darts_rnn_replays_the_test_perplexity)
{
    replays_the_test_perplexity("darts-rnn");
}

Test(predict_text, enas_rnn_replays_the_test_perplexity)
{
    replays_the_test_perplexity("enas-rnn");
}

Test(predict_text, nasrl_rnn_replays_the_test_perplexity)
{
    replays_the_test_perplexity("nasrl-rnn");
}

/* Words split on whitespace, "<eos>" after every non-blank line, words
 * outside the vocabulary "<unk>" and counted; open_end: no "<eos>" after
 * an unended last line. */
Test(predict_text, encodes_as_the_corpus_does)
{
    char *vocab[] = {"<eos>", "the", "<unk>", "cat", "sat"};
    int32_t *ids;
    int n, unk;
    const char *text = "the cat  sat\n\n  the dog\nsat";
    cr_assert_eq(
        nas_corpus_encode(vocab, 5, NAS_CORPUS_WORD, text, strlen(text), 0, &ids, &n, &unk),
        NAS_OK);
    int32_t want[] = {1, 3, 4, 0, 1, 2, 0, 4, 0};
    cr_assert_eq(n, 9);
    cr_assert_eq(unk, 1);
    cr_assert(memcmp(ids, want, sizeof want) == 0);
    free(ids);
    cr_assert_eq(
        nas_corpus_encode(vocab, 5, NAS_CORPUS_WORD, text, strlen(text), 1, &ids, &n, &unk),
        NAS_OK);
    cr_assert_eq(n, 8, "no <eos> after the unended last line");
    cr_assert(memcmp(ids, want, 8 * sizeof(int32_t)) == 0);
    free(ids);
    cr_assert_eq(nas_corpus_encode(vocab, 5, NAS_CORPUS_WORD, "a\n", 2, 1, &ids, &n, &unk), NAS_OK);
    cr_assert(n == 2 && ids[0] == 2 && ids[1] == 0 && unk == 1, "an ended line keeps its <eos>");
    free(ids);
    cr_assert_eq(nas_corpus_encode(vocab, 5, NAS_CORPUS_WORD, " \n", 2, 0, &ids, &n, &unk), NAS_OK);
    cr_assert(n == 0 && !ids);
    char *no_unk[] = {"<eos>", "x"};
    cr_assert_eq(nas_corpus_encode(no_unk, 2, NAS_CORPUS_WORD, "x", 1, 0, &ids, &n, &unk),
                 NAS_EINVAL);
}
