// SPDX-License-Identifier: MIT
/*
 * fuzz_import.c - libFuzzer on what an upload passes through: the archive
 * reader and layout rules of nas_dataset_import (tar or zip, libarchive)
 * and nas_dataset_import_text, the .npy header reader, the resize
 * and the image decoders behind it (nas_image_decode: libpng,
 * libjpeg-turbo), on arbitrary bytes.
 *
 * The one design decision to know: an input is
 *   byte 0   bit 0: the bytes are one image file for nas_image_decode;
 *            bit 2: one .npy file for nas_npy_header (the NumPy reader;
 *            its arrays in an archive reach import_npy.c through
 *            nas_dataset_import); else they are an upload for
 *            nas_dataset_import, or (bit 1) for nas_dataset_import_text;
 *            bit 3: the image import resizes to 5x7 (nas_image_resize)
 *   bytes 1- the file
 * with small limits (a few entries, small images), so that the fuzzer
 * spends its time in the parsers rather than on big allocations. An
 * import that succeeds must have written its five files and valid
 * metadata; the output directory is emptied after each input.
 */
#include "nas.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char upload[256], out_dir[256];

static void die(const char *what)
{
    fprintf(stderr, "fuzz_import: %s\n", what);
    abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    if (!tmp || !*tmp)
        tmp = "/tmp";
    snprintf(upload, sizeof upload, "%s/nasd-fuzz-import-%d", tmp, (int)getpid());
    snprintf(out_dir, sizeof out_dir, "%s/nasd-fuzz-import-%d.d", tmp, (int)getpid());
    if (mkdir(out_dir, 0700) != 0)
        die("cannot create the output directory");
    return 0;
}

static void empty_dir(void)
{
    DIR *d = opendir(out_dir);
    struct dirent *e;
    char p[600];
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(p, sizeof p, "%s/%s", out_dir, e->d_name);
            unlink(p);
        }
    if (d)
        closedir(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (data[0] & 1) {
        nas_image img;
        char why[200];
        if (nas_image_decode(data + 1, size - 1, 1 << 16, &img, why, sizeof why) == 0) {
            if (img.w < 1 || img.h < 1 || (long)img.w * img.h > 1 << 16)
                die("a decoded image with impossible sizes");
            nas_image_free(&img);
        }
        return 0;
    }
    if (data[0] & 4) {
        nas_npy h;
        char why[200];
        if (nas_npy_header(data + 1, size - 1, &h, why, sizeof why) == 0) {
            if (h.header_len > size - 1 || h.ndim < 0 || h.ndim > 4 || !h.item)
                die("a .npy header read beyond its file or with an impossible shape");
            uint64_t c = 1;
            for (int i = 0; i < h.ndim; i++)
                c *= (uint64_t)h.shape[i];
            if (c != h.count)
                die("a .npy header whose count is not its shape's");
        }
        return 0;
    }
    int fd = open(upload, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, data + 1, size - 1) != (ssize_t)(size - 1))
        die("cannot write the upload");
    close(fd);
    nas_import_limits lim = {1 << 22, 64, 1 << 12, NULL, 0, 0};
    if (data[0] & 8) {
        lim.resize_h = 5;
        lim.resize_w = 7;
    }
    nas_import_error err;
    char *meta = NULL;
    if (data[0] & 2) {
        if (nas_dataset_import_text(upload, "fuzz", &lim, out_dir, &meta, &err) == NAS_OK &&
            (!meta || meta[0] != '{'))
            die("a successful text import without metadata");
    } else if (nas_dataset_import(upload, "fuzz", &lim, out_dir, &meta, &err) == NAS_OK) {
        static const char *const files[] = {"train-images.idx", "train-labels.idx",
                                            "test-images.idx", "test-labels.idx", "meta.json"};
        char p[600];
        struct stat st;
        for (int i = 0; i < 5; i++) {
            snprintf(p, sizeof p, "%s/%s", out_dir, files[i]);
            if (stat(p, &st) != 0)
                die("a successful import without one of its files");
        }
        if (!meta || meta[0] != '{')
            die("a successful import without metadata");
        nas_dataset *tr = NULL;
        char a[600];
        snprintf(p, sizeof p, "%s/train-images.idx", out_dir);
        snprintf(a, sizeof a, "%s/train-labels.idx", out_dir);
        if (nas_idx_load(p, a, &tr) != NAS_OK)
            die("an import the IDX loader cannot read");
        nas_dataset_free(tr);
    }
    free(meta);
    empty_dir();
    return 0;
}
