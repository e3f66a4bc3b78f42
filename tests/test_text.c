// SPDX-License-Identifier: MIT
/*
 * test_text.c - the text loaders: word- and character-level corpora (PTB
 * layout: vocabulary, <unk> and <eos>, ids), batchify, and fortune files
 * dealt into train, valid and test by position.
 *
 * The one design decision to know: every corpus a test reads is written
 * by the test itself (tests/data_files.h), so each case is a few exact
 * lines and the expected ids are worked out here by hand. Only the
 * real-fortunes tests read an installed file.
 */
#include <criterion/criterion.h>

#include "nas.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data_files.h"

TestSuite(corpus, .init = data_dir_make, .fini = data_dir_remove);
TestSuite(fortunes, .init = data_dir_make, .fini = data_dir_remove);

/* ------------------------------------------------------------ corpora */

static int find_word(const nas_corpus *c, const char *w)
{
    for (int i = 0; i < c->vocab_size; i++)
        if (strcmp(c->vocab[i], w) == 0)
            return i;
    return -1;
}

static void expect_ids(const int32_t *got, int n, const int32_t *want, int nwant)
{
    cr_assert_eq(n, nwant);
    for (int i = 0; i < n; i++)
        cr_assert_eq(got[i], want[i], "token %d: %d, want %d", i, got[i], want[i]);
}

static void expect_vocab(const nas_corpus *c, const char *const *want, int n)
{
    cr_assert_eq(c->vocab_size, n);
    for (int i = 0; i < n; i++)
        cr_assert_str_eq(c->vocab[i], want[i]);
}

Test(corpus, word_level_vocab_and_ids)
{
    write_text(tpath("train"), "a b c\nb\tc  \n\n   \nc\n");
    write_text(tpath("valid"), "a z\n");
    write_text(tpath("test"), "  \n b");
    nas_corpus *c = NULL;
    cr_assert_eq(
        nas_corpus_load(tpath("train"), tpath("valid"), tpath("test"), NAS_CORPUS_WORD, 0, &c),
        NAS_OK, "%s", nas_errmsg());
    /* Counts c 3, <eos> 3 (c first), b 2, a 1, <unk> 0. */
    const char *vocab[] = {"c", "<eos>", "b", "a", "<unk>"};
    expect_vocab(c, vocab, 5);
    expect_ids(c->train, c->ntrain, (int32_t[]){3, 2, 0, 1, 2, 0, 1, 0, 1}, 9);
    expect_ids(c->valid, c->nvalid, (int32_t[]){3, 4, 1}, 3);
    expect_ids(c->test, c->ntest, (int32_t[]){2, 1}, 2);
    nas_corpus_free(c);
}

Test(corpus, max_vocab_keeps_unk_and_eos)
{
    write_text(tpath("train"), "a b c\nb c\nc\n");
    write_text(tpath("valid"), "a\n");
    write_text(tpath("test"), "c\n");
    nas_corpus *c = NULL;
    cr_assert_eq(
        nas_corpus_load(tpath("train"), tpath("valid"), tpath("test"), NAS_CORPUS_WORD, 3, &c),
        NAS_OK, "%s", nas_errmsg());
    const char *vocab[] = {"c", "<eos>", "<unk>"};
    expect_vocab(c, vocab, 3);
    expect_ids(c->train, c->ntrain, (int32_t[]){2, 2, 0, 1, 2, 0, 1, 0, 1}, 9);
    expect_ids(c->valid, c->nvalid, (int32_t[]){2, 1}, 2);
    nas_corpus_free(c);
    cr_assert_eq(
        nas_corpus_load(tpath("train"), tpath("valid"), tpath("test"), NAS_CORPUS_WORD, 1, &c),
        NAS_EINVAL);
    cr_assert_null(c);
}

/* PTB writes "<unk>" literally; it is then an ordinary counted word. */
Test(corpus, literal_unk_is_counted)
{
    write_text(tpath("train"), "<unk> x <unk>\n");
    write_text(tpath("valid"), "y\n");
    write_text(tpath("test"), "x\n");
    nas_corpus *c = NULL;
    cr_assert_eq(
        nas_corpus_load(tpath("train"), tpath("valid"), tpath("test"), NAS_CORPUS_WORD, 0, &c),
        NAS_OK);
    const char *vocab[] = {"<unk>", "x", "<eos>"};
    expect_vocab(c, vocab, 3);
    expect_ids(c->valid, c->nvalid, (int32_t[]){0, 2}, 2);
    nas_corpus_free(c);
}

Test(corpus, char_level)
{
    write_text(tpath("train"), "ab\n\nba\n");
    write_text(tpath("valid"), "a c\n");
    write_text(tpath("test"), "b");
    nas_corpus *c = NULL;
    cr_assert_eq(
        nas_corpus_load(tpath("train"), tpath("valid"), tpath("test"), NAS_CORPUS_CHAR, 0, &c),
        NAS_OK, "%s", nas_errmsg());
    const char *vocab[] = {"a", "b", "<eos>", "<unk>"};
    expect_vocab(c, vocab, 4);
    expect_ids(c->train, c->ntrain, (int32_t[]){0, 1, 2, 1, 0, 2}, 6);
    expect_ids(c->valid, c->nvalid, (int32_t[]){0, 3, 3, 2}, 4);
    expect_ids(c->test, c->ntest, (int32_t[]){1, 2}, 2);
    nas_corpus_free(c);
}

Test(corpus, empty_corpus)
{
    write_text(tpath("train"), "");
    write_text(tpath("blank"), " \n\t\n\n");
    write_text(tpath("valid"), "a\n");
    nas_corpus *c = NULL;
    int rc =
        nas_corpus_load(tpath("train"), tpath("valid"), tpath("valid"), NAS_CORPUS_WORD, 0, &c);
    expect_fail(rc, NAS_EFORMAT, tpath("train"), "empty corpus");
    rc = nas_corpus_load(tpath("blank"), tpath("valid"), tpath("valid"), NAS_CORPUS_CHAR, 0, &c);
    expect_fail(rc, NAS_EFORMAT, tpath("blank"), "empty corpus");
    rc = nas_corpus_load(tpath("valid"), tpath("blank"), tpath("valid"), NAS_CORPUS_WORD, 0, &c);
    expect_fail(rc, NAS_EFORMAT, tpath("blank"), "empty corpus");
    cr_assert_null(c);
}

Test(corpus, missing_file)
{
    write_text(tpath("train"), "a\n");
    nas_corpus *c = NULL;
    int rc = nas_corpus_load(tpath("train"), tpath("train"), tpath("none"), NAS_CORPUS_WORD, 0, &c);
    expect_fail(rc, NAS_EIO, tpath("none"), "cannot open");
    cr_assert_null(c);
}

Test(corpus, batchify_columns)
{
    int32_t ids[11], *out = NULL;
    int steps = 0;
    for (int i = 0; i < 11; i++)
        ids[i] = i;
    cr_assert_eq(nas_batchify(ids, 11, 3, &out, &steps), NAS_OK);
    cr_assert_eq(steps, 3);
    /* Column b is ids[3b .. 3b+3); tokens 9 and 10 are dropped. */
    for (int t = 0; t < 3; t++)
        for (int b = 0; b < 3; b++)
            cr_assert_eq(out[t * 3 + b], b * 3 + t);
    free(out);
    cr_assert_eq(nas_batchify(ids, 11, 0, &out, &steps), NAS_EINVAL);
    cr_assert_eq(nas_batchify(ids, 2, 3, &out, &steps), NAS_EINVAL);
    cr_assert_null(out);
}

/* ----------------------------------------------------------- fortunes */

static int count_id(const int32_t *ids, int n, int id)
{
    int k = 0;
    for (int i = 0; i < n; i++)
        k += ids[i] == id;
    return k;
}

Test(fortunes, dealt_by_position)
{
    /* 20 entries named e0..e19; entry 3 has two lines and a blank one;
     * an empty entry (two "%" in a row) does not count. "%%" is text. */
    char text[4096] = "";
    for (int i = 0; i < 20; i++) {
        char e[128];
        if (i == 3)
            snprintf(e, sizeof(e), "e3 first\n\n e3 second\n%%\n%%\n");
        else if (i == 5)
            snprintf(e, sizeof(e), "e5 %%%%\n%%\n");
        else
            snprintf(e, sizeof(e), "e%d\n%%\n", i);
        strcat(text, e);
    }
    write_text(tpath("fort"), text);
    nas_corpus *c = NULL;
    cr_assert_eq(nas_corpus_load_fortunes(tpath("fort"), NAS_CORPUS_WORD, 0, &c), NAS_OK, "%s",
                 nas_errmsg());
    int eos = find_word(c, "<eos>");
    cr_assert_geq(eos, 0);
    cr_assert_geq(find_word(c, "<unk>"), 0);
    cr_assert_geq(find_word(c, "%%"), 0);
    /* valid: e8 e18; test: e9 e19; train: 16 entries, 17 lines. */
    int unk = find_word(c, "<unk>");
    expect_ids(c->valid, c->nvalid, (int32_t[]){unk, eos, unk, eos}, 4);
    expect_ids(c->test, c->ntest, (int32_t[]){unk, eos, unk, eos}, 4);
    cr_assert_eq(count_id(c->train, c->ntrain, eos), 17);
    cr_assert_eq(find_word(c, "e8"), -1);
    cr_assert_eq(find_word(c, "e19"), -1);
    cr_assert_geq(find_word(c, "e17"), 0);
    cr_assert_geq(find_word(c, "second"), 0);
    nas_corpus_free(c);
}

Test(fortunes, too_few_entries)
{
    write_text(tpath("fort"), "one\n%\ntwo\n%\n");
    nas_corpus *c = NULL;
    int rc = nas_corpus_load_fortunes(tpath("fort"), NAS_CORPUS_WORD, 0, &c);
    expect_fail(rc, NAS_EFORMAT, tpath("fort"), "valid split");
    rc = nas_corpus_load_fortunes(tpath("nofile"), NAS_CORPUS_CHAR, 0, &c);
    expect_fail(rc, NAS_EIO, tpath("nofile"), "cannot open");
    cr_assert_null(c);
}

static void check_real_fortunes(enum nas_corpus_level level)
{
    const char *path = "/usr/share/games/fortunes/fortunes";
    if (access(path, R_OK) != 0)
        cr_skip_test("%s not installed", path);
    nas_corpus *c = NULL;
    cr_assert_eq(nas_corpus_load_fortunes(path, level, 0, &c), NAS_OK, "%s", nas_errmsg());
    cr_assert_geq(find_word(c, "<unk>"), 0);
    cr_assert_geq(find_word(c, "<eos>"), 0);
    cr_assert_gt(c->ntrain, 0);
    cr_assert_gt(c->nvalid, 0);
    cr_assert_gt(c->ntest, 0);
    cr_assert_gt(c->ntrain, 4 * c->nvalid);
    for (int i = 0; i < c->ntrain; i++)
        cr_assert(c->train[i] >= 0 && c->train[i] < c->vocab_size);
    for (int i = 0; i < c->ntest; i++)
        cr_assert(c->test[i] >= 0 && c->test[i] < c->vocab_size);
    nas_corpus_free(c);
}

Test(fortunes, real_file_word_level)
{
    check_real_fortunes(NAS_CORPUS_WORD);
}

Test(fortunes, real_file_char_level)
{
    check_real_fortunes(NAS_CORPUS_CHAR);
}
