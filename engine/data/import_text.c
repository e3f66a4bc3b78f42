// SPDX-License-Identifier: MIT
/*
 * import_text.c - an uploaded text corpus into nasd's format: the three
 * files of the PTB layout (ptb.train.txt, ptb.valid.txt, ptb.test.txt)
 * and meta.json, so that a job loads an upload with nas_corpus_load, the
 * loader of PTB.
 *
 * Two bodies are taken. A tar or zip archive holding train.txt, valid.txt
 * and test.txt (or the ptb.*.txt names; at its top or in one folder),
 * read under the same rules as an image archive (import.c: no entry
 * leaving the folder, no links, the entry and unpacked-size limits); or
 * one text file, whose lines nasd splits in order: the first 80% train,
 * the next 10% valid, the last 10% test (contiguous, as language-model
 * corpora are split; at least 10 lines). Text must not hold NUL bytes.
 * The corpus is then loaded once with the word-level loader, which checks
 * it and gives the counts meta.json reports.
 */
#include "import.h"

#include "../core/json.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

static const char *const split_names[3] = {"train", "valid", "test"};

static int fail_where(nas_import_error *err, int code, const char *where, const char *why)
{
    snprintf(err->where, sizeof err->where, "%s", where);
    return nas_fail(code, "%s%s%s", where, *where ? ": " : "", why);
}

static int fail_expanded(nas_import_error *err, const char *where, uint64_t limit)
{
    snprintf(err->where, sizeof err->where, "%s", where);
    snprintf(err->limit, sizeof err->limit, "max-dataset-expanded-bytes");
    return nas_fail(NAS_EINVAL,
                    "%s: the unpacked size is over the limit of %llu (max-dataset-expanded-bytes)",
                    where, (unsigned long long)limit);
}

static void out_path(char *p, size_t n, const char *dir, int split)
{
    snprintf(p, n, "%s/ptb.%s.txt", dir, split_names[split]);
}

/* Which split a file name is (-1: none). */
static int split_of_name(const char *base)
{
    for (int i = 0; i < 3; i++) {
        char a[16], b[24];
        snprintf(a, sizeof a, "%s.txt", split_names[i]);
        snprintf(b, sizeof b, "ptb.%s.txt", split_names[i]);
        if (strcmp(base, a) == 0 || strcmp(base, b) == 0)
            return i;
    }
    return -1;
}

static int is_archive(const char *upload)
{
    uint8_t b[262] = {0};
    FILE *f = fopen(upload, "rb");
    size_t n = f ? fread(b, 1, sizeof b, f) : 0;
    if (f)
        fclose(f);
    return (n >= 4 && memcmp(b, "PK\x03\x04", 4) == 0) ||
           (n >= 2 && b[0] == 0x1f && b[1] == 0x8b) ||
           (n >= 262 && memcmp(b + 257, "ustar", 5) == 0);
}

static int from_archive(const char *upload, const nas_import_limits *lim, const char *out_dir,
                        nas_import_error *err)
{
    struct archive *a = archive_read_new();
    struct archive_entry *ae;
    int rc = NAS_OK, have[3] = {0};
    long count = 0;
    uint64_t expanded = 0;
    char *norm = NULL, buf[1 << 16], p[4096];
    FILE *out = NULL;
    if (!a)
        return nas_fail(NAS_ENOMEM, "import: out of memory");
    archive_read_support_format_tar(a);
    archive_read_support_format_zip(a);
    archive_read_support_filter_gzip(a);
    if (archive_read_open_filename(a, upload, 1 << 16) != ARCHIVE_OK) {
        rc = fail_where(err, NAS_EFORMAT, "", "the body is not a tar or zip archive");
        goto done;
    }
    for (;;) {
        int r = archive_read_next_header(a, &ae);
        if (r == ARCHIVE_EOF)
            break;
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
            rc = fail_where(err, NAS_EFORMAT, "", "the archive is corrupt or truncated");
            goto done;
        }
        if (lim->stop && *lim->stop) {
            rc = nas_fail(NAS_ECANCELLED, "import: nasd is stopping");
            goto done;
        }
        if (++count > lim->max_files) {
            snprintf(err->limit, sizeof err->limit, "max-dataset-files");
            rc = nas_fail(NAS_EINVAL, "the archive has more than %ld entries (max-dataset-files)",
                          lim->max_files);
            goto done;
        }
        const char *path = archive_entry_pathname(ae) ? archive_entry_pathname(ae) : "";
        mode_t type = archive_entry_filetype(ae);
        free(norm);
        if (!(norm = nas__import_normalize(path))) {
            rc = fail_where(err, NAS_EINVAL, path,
                            "the entry's name leaves the archive's folder (absolute, or \"..\")");
            goto done;
        }
        if (archive_entry_hardlink(ae) || type == AE_IFLNK) {
            rc = fail_where(err, NAS_EINVAL, path,
                            "links are refused (symbolic or hard): archive the file itself");
            goto done;
        }
        if (type == AE_IFDIR || !norm[0] || nas__import_hidden(norm))
            continue;
        const char *slash = strrchr(norm, '/'), *base = slash ? slash + 1 : norm;
        int split = type == AE_IFREG ? split_of_name(base) : -1;
        if (split < 0 || (slash && strchr(norm, '/') != slash)) {
            rc = fail_where(err, NAS_EINVAL, path,
                            "a text archive holds train.txt, valid.txt and test.txt (at its top "
                            "or in one folder) and nothing else");
            goto done;
        }
        if (have[split]++) {
            rc = fail_where(err, NAS_EINVAL, path, "a second file of this split");
            goto done;
        }
        out_path(p, sizeof p, out_dir, split);
        if (!(out = fopen(p, "wb"))) {
            rc = nas_fail(NAS_EIO, "%s: %s", p, strerror(errno));
            goto done;
        }
        la_ssize_t got;
        while ((got = archive_read_data(a, buf, sizeof buf)) > 0) {
            expanded += (uint64_t)got;
            if (expanded > lim->max_expanded) {
                rc = fail_expanded(err, path, lim->max_expanded);
                goto done;
            }
            if (memchr(buf, 0, (size_t)got)) {
                rc = fail_where(err, NAS_EINVAL, path, "a NUL byte: not a text file");
                goto done;
            }
            if (fwrite(buf, 1, (size_t)got, out) != (size_t)got) {
                rc = nas_fail(NAS_EIO, "%s: %s", p, strerror(errno));
                goto done;
            }
        }
        if (got < 0) {
            rc = fail_where(err, NAS_EFORMAT, path, "the archive is corrupt or truncated");
            goto done;
        }
        int bad = fflush(out) != 0 || fsync(fileno(out)) != 0;
        bad |= fclose(out) != 0;
        out = NULL;
        if (bad) {
            rc = nas_fail(NAS_EIO, "%s: cannot write", p);
            goto done;
        }
    }
    for (int i = 0; i < 3; i++)
        if (!have[i]) {
            char want[32];
            snprintf(want, sizeof want, "%s.txt", split_names[i]);
            rc = fail_where(err, NAS_EINVAL, want, "missing from the archive");
            goto done;
        }
done:
    if (out)
        fclose(out);
    free(norm);
    archive_read_free(a);
    return rc;
}

/* One text file: its lines 80/10/10 in order. */
static int from_file(const char *upload, const nas_import_limits *lim, const char *out_dir,
                     nas_import_error *err)
{
    FILE *in = fopen(upload, "rb"), *out = NULL;
    char *line = NULL, p[4096];
    size_t cap = 0, lines = 0, i = 0;
    ssize_t n;
    int rc = NAS_OK, split = -1;
    if (!in)
        return nas_fail(NAS_EIO, "%s: %s", upload, strerror(errno));
    while ((n = getline(&line, &cap, in)) > 0) {
        if (memchr(line, 0, (size_t)n)) {
            rc = fail_where(err, NAS_EINVAL, "", "a NUL byte: the body is not a text file");
            goto done;
        }
        lines++;
    }
    if (lines < 10) {
        rc = fail_where(err, NAS_EINVAL, "",
                        "a text of fewer than 10 lines cannot be split 80/10/10 into "
                        "train, valid and test");
        goto done;
    }
    size_t end[3] = {lines * 8 / 10, lines * 9 / 10, lines};
    rewind(in);
    (void)lim;
    while ((n = getline(&line, &cap, in)) > 0) {
        if (split < 0 || i == end[split]) {
            if (out) {
                int bad = fflush(out) != 0 || fsync(fileno(out)) != 0;
                bad |= fclose(out) != 0;
                out = NULL;
                if (bad) {
                    rc = nas_fail(NAS_EIO, "%s: cannot write", p);
                    goto done;
                }
            }
            split++;
            out_path(p, sizeof p, out_dir, split);
            if (!(out = fopen(p, "wb"))) {
                rc = nas_fail(NAS_EIO, "%s: %s", p, strerror(errno));
                goto done;
            }
        }
        if (fwrite(line, 1, (size_t)n, out) != (size_t)n) {
            rc = nas_fail(NAS_EIO, "%s: %s", p, strerror(errno));
            goto done;
        }
        i++;
    }
    if (out) {
        int bad = fflush(out) != 0 || fsync(fileno(out)) != 0;
        bad |= fclose(out) != 0;
        out = NULL;
        if (bad)
            rc = nas_fail(NAS_EIO, "%s: cannot write", p);
    }
done:
    if (out)
        fclose(out);
    fclose(in);
    free(line);
    return rc;
}

int nas_dataset_import_text(const char *upload, const char *name, const nas_import_limits *lim,
                            const char *out_dir, char **meta_json, nas_import_error *err)
{
    char sha[65], f[3][4096];
    int rc, archive = is_archive(upload);
    nas_corpus *c = NULL;
    memset(err, 0, sizeof *err);
    *meta_json = NULL;
    if ((rc = nas__import_hash_file(upload, sha)) < 0)
        return rc;
    rc = archive ? from_archive(upload, lim, out_dir, err) : from_file(upload, lim, out_dir, err);
    if (rc < 0)
        return rc;
    for (int i = 0; i < 3; i++)
        out_path(f[i], sizeof f[i], out_dir, i);
    if ((rc = nas_corpus_load(f[0], f[1], f[2], NAS_CORPUS_WORD, 0, &c)) < 0) {
        snprintf(err->where, sizeof err->where, "%s", "");
        return rc;
    }
    nas_json_buf b = {0};
    int ntok[3] = {c->ntrain, c->nvalid, c->ntest};
    nas__json_buf_puts(&b, "{\"name\":");
    nas__json_buf_str(&b, name, "");
    nas__json_buf_puts(&b, ",\"kind\":\"text\",\"format\":\"nasd-ptb-1\",\"vocabulary\":");
    nas__json_buf_u64(&b, (uint64_t)c->vocab_size);
    nas__json_buf_puts(&b, ",\"splits\":{");
    for (int i = 0; i < 3; i++) {
        nas__json_buf_puts(&b, i ? ",\"" : "\"");
        nas__json_buf_puts(&b, split_names[i]);
        nas__json_buf_puts(&b, "\":{\"tokens\":");
        nas__json_buf_u64(&b, (uint64_t)ntok[i]);
        nas__json_buf_puts(&b, "}");
    }
    nas__json_buf_puts(&b, "},\"test_split\":");
    nas__json_buf_str(&b, archive ? "test.txt" : "the last 10% of the lines", "");
    nas__json_buf_puts(&b, ",\"sha256\":");
    nas__json_buf_str(&b, sha, "");
    nas__json_buf_puts(&b, "}\n");
    nas_corpus_free(c);
    if (b.oom) {
        free(b.s);
        return nas_fail(NAS_ENOMEM, "import: out of memory");
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/meta.json", out_dir);
    FILE *m = fopen(path, "wb");
    int bad = !m || fwrite(b.s, 1, b.len, m) != b.len;
    if (m) {
        bad |= fflush(m) != 0 || fsync(fileno(m)) != 0;
        bad |= fclose(m) != 0;
    }
    if (bad) {
        free(b.s);
        return nas_fail(NAS_EIO, "%s: cannot write", path);
    }
    *meta_json = b.s;
    return NAS_OK;
}
