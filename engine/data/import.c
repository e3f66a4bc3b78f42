// SPDX-License-Identifier: MIT
/*
 * import.c - an uploaded image archive into nasd's own format: read the
 * tar or zip entry by entry with libarchive, decode each image, work out
 * the class-folder layout, hold out a test split when there is none, and
 * hand the images to import_meta.c, which writes the IDX files and
 * meta.json.
 *
 * The layout: [<top>/][train|valid|test/]<class>/<file>.png|.jpg|.jpeg,
 * or the four IDX files of the MNIST layout (import_idx.c).
 * One top folder common to every entry is dropped (`tar cf photos.tar
 * photos`); hidden entries (a name starting with '.') and __MACOSX/ are
 * skipped. valid/ joins train (the searches make their validation part
 * from the training split, as for the built-in datasets). Without test/,
 * a seeded 10% of each class's images (at least one of a class of two or
 * more; chosen from the images in path order, so the same archive gives
 * the same split) becomes the test split. Images must all have one size:
 * the others are refused, listed by name with their sizes.
 *
 * The one design decision to know: nothing in the archive is trusted.
 * An entry is refused when its name leaves the archive's folder ('/' at
 * the start, a ".." component), when it is a link (symbolic or hard) or
 * anything but a file or a folder, when the entries number more than
 * max_files or unpack to more than max_expanded bytes (counted as they
 * unpack, not as the headers say) and when an image is corrupt,
 * truncated or over max_pixels. Pixels go to a spool file as they are
 * decoded, so memory holds one image at a time, and nothing is written
 * outside out_dir, which the caller removes on failure.
 */
#include "import.h"

#include "../core/json.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdlib.h>
#include <strings.h>

#define MAX_CLASSES 256 /* labels are one byte in IDX */
#define IMAGE_FILE_SLACK ((size_t)1 << 20)

typedef struct raw_entry {
    char *path; /* as in the archive */
    char *norm; /* without "./" and empty components or a trailing '/' */
    int is_dir;
    int w, h, color;
    uint64_t off;
} raw_entry;

typedef struct importer {
    const nas_import_limits *lim;
    nas_import_error *err;
    const char *out_dir;
    int idx[4]; /* IDX files copied (import_idx.c) */
    int npy[4]; /* NumPy arrays copied (import_npy.c) */
    int images; /* image files read */
    raw_entry *e;
    size_t n, cap;
    uint64_t expanded;
    imp_set set;
} importer;

static int fail_at(importer *im, int code, const char *where, const char *fmt, const char *detail)
{
    snprintf(im->err->where, sizeof im->err->where, "%s", where);
    return nas_fail(code, fmt, where, detail);
}

static int fail_limit(importer *im, const char *where, const char *limit, const char *what,
                      unsigned long long value)
{
    snprintf(im->err->where, sizeof im->err->where, "%s", where);
    snprintf(im->err->limit, sizeof im->err->limit, "%s", limit);
    return nas_fail(NAS_EINVAL, "%s%s%s is over the limit of %llu (%s)", where, *where ? ": " : "",
                    what, value, limit);
}

/* The name without "./", empty components and a trailing '/'; NULL when
 * it leaves the folder (absolute, or a ".." component). */
char *nas__import_normalize(const char *p)
{
    if (p[0] == '/' || strchr(p, '\\'))
        return NULL;
    char *out = malloc(strlen(p) + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    while (*p) {
        size_t k = strcspn(p, "/");
        if (k == 2 && p[0] == '.' && p[1] == '.') {
            free(out);
            return NULL;
        }
        if (k && !(k == 1 && p[0] == '.')) {
            if (o)
                out[o++] = '/';
            memcpy(out + o, p, k);
            o += k;
        }
        p += k;
        p += *p == '/';
    }
    out[o] = '\0';
    return out;
}

int nas__import_hidden(const char *norm)
{
    for (const char *p = norm; *p;) {
        if (*p == '.' || strncmp(p, "__MACOSX", 8) == 0)
            return 1;
        p += strcspn(p, "/");
        p += *p == '/';
    }
    return 0;
}

static int is_image_name(const char *norm)
{
    const char *dot = strrchr(norm, '.');
    return dot && (strcasecmp(dot, ".png") == 0 || strcasecmp(dot, ".jpg") == 0 ||
                   strcasecmp(dot, ".jpeg") == 0);
}

static int push(importer *im, raw_entry *r)
{
    if (im->n == im->cap) {
        size_t cap = im->cap ? im->cap * 2 : 256;
        raw_entry *e = realloc(im->e, cap * sizeof *e);
        if (!e)
            return nas_fail(NAS_ENOMEM, "import: out of memory");
        im->e = e;
        im->cap = cap;
    }
    im->e[im->n++] = *r;
    return NAS_OK;
}

/* Reads the current entry's data (within the limits) and decodes it. */
static int read_image(importer *im, struct archive *a, raw_entry *r)
{
    size_t cap = 1 << 16, len = 0;
    size_t file_max = (size_t)im->lim->max_pixels * 8 + IMAGE_FILE_SLACK;
    uint8_t *buf = malloc(cap);
    char why[200];
    int rc = NAS_OK;
    if (!buf)
        return nas_fail(NAS_ENOMEM, "import: out of memory");
    for (;;) {
        if (len == cap) {
            uint8_t *nb = realloc(buf, cap * 2);
            if (!nb) {
                rc = nas_fail(NAS_ENOMEM, "import: out of memory");
                goto done;
            }
            buf = nb;
            cap *= 2;
        }
        la_ssize_t got = archive_read_data(a, buf + len, cap - len);
        if (got < 0) {
            rc = fail_at(im, NAS_EFORMAT, r->path, "%s: the archive is corrupt or truncated: %s",
                         archive_error_string(a));
            goto done;
        }
        if (got == 0)
            break;
        len += (size_t)got;
        im->expanded += (uint64_t)got;
        if (im->expanded > im->lim->max_expanded) {
            rc = fail_limit(im, r->path, "max-dataset-expanded-bytes", "the unpacked size",
                            (unsigned long long)im->lim->max_expanded);
            goto done;
        }
        if (len > file_max) {
            rc = fail_limit(im, r->path, "max-dataset-pixels", "an image file of this many bytes",
                            (unsigned long long)file_max);
            goto done;
        }
    }
    nas_image img;
    if (nas_image_decode(buf, len, im->lim->max_pixels, &img, why, sizeof why) != 0) {
        if (strstr(why, "(max-dataset-pixels)"))
            snprintf(im->err->limit, sizeof im->err->limit, "max-dataset-pixels");
        rc = fail_at(im, im->err->limit[0] ? NAS_EINVAL : NAS_EFORMAT, r->path, "%s: %s", why);
        goto done;
    }
    r->color = img.color;
    rc = nas__import_spool(&im->set, img.rgb, img.h, img.w, &r->h, &r->w, &r->off);
    nas_image_free(&img);
done:
    free(buf);
    return rc;
}

int nas__import_spool(imp_set *s, const uint8_t *rgb, int h, int w, int *oh, int *ow, uint64_t *off)
{
    uint8_t *sized = NULL;
    if (s->resize_h > 0 && (s->resize_h != h || s->resize_w != w)) {
        sized = malloc((size_t)s->resize_h * (size_t)s->resize_w * 3);
        if (!sized)
            return nas_fail(NAS_ENOMEM, "import: out of memory");
        int rc = nas_image_resize(rgb, h, w, sized, s->resize_h, s->resize_w);
        if (rc < 0) {
            free(sized);
            return rc;
        }
        rgb = sized;
        h = s->resize_h;
        w = s->resize_w;
    }
    *oh = h;
    *ow = w;
    *off = (uint64_t)ftello(s->spool);
    size_t bytes = (size_t)w * (size_t)h * 3;
    int bad = fwrite(rgb, 1, bytes, s->spool) != bytes;
    free(sized);
    return bad ? nas_fail(NAS_EIO, "import: cannot write the pixel spool: %s", strerror(errno))
               : NAS_OK;
}

/* An IDX file of the MNIST layout or a NumPy array, copied to out_dir
 * (as dest) as it unpacks; *seen counts the files of its role. */
static int copy_entry(importer *im, struct archive *a, const char *path, const char *dest,
                      int *seen)
{
    char p[4096], buf[1 << 16];
    int rc = NAS_OK;
    if ((*seen)++)
        return fail_at(im, NAS_EINVAL, path, "%s: %s", "a second file of this role");
    snprintf(p, sizeof p, "%s/%s", im->out_dir, dest);
    FILE *f = fopen(p, "wb");
    if (!f)
        return nas_fail(NAS_EIO, "%s: %s", p, strerror(errno));
    la_ssize_t got;
    while ((got = archive_read_data(a, buf, sizeof buf)) > 0) {
        im->expanded += (uint64_t)got;
        if (im->expanded > im->lim->max_expanded) {
            rc = fail_limit(im, path, "max-dataset-expanded-bytes", "the unpacked size",
                            (unsigned long long)im->lim->max_expanded);
            break;
        }
        if (fwrite(buf, 1, (size_t)got, f) != (size_t)got) {
            rc = nas_fail(NAS_EIO, "%s: %s", p, strerror(errno));
            break;
        }
    }
    if (rc == NAS_OK && got < 0)
        rc = fail_at(im, NAS_EFORMAT, path, "%s: the archive is corrupt or truncated: %s",
                     archive_error_string(a));
    int bad = fflush(f) != 0 || fsync(fileno(f)) != 0;
    bad |= fclose(f) != 0;
    if (rc == NAS_OK && bad)
        rc = nas_fail(NAS_EIO, "%s: cannot write", p);
    return rc;
}

static int read_archive(importer *im, const char *upload)
{
    struct archive *a = archive_read_new();
    struct archive_entry *ae;
    int rc = NAS_OK;
    long count = 0;
    if (!a)
        return nas_fail(NAS_ENOMEM, "import: out of memory");
    archive_read_support_format_tar(a);
    archive_read_support_format_zip(a);
    archive_read_support_filter_gzip(a);
    if (archive_read_open_filename(a, upload, 1 << 16) != ARCHIVE_OK) {
        rc = fail_at(im, NAS_EFORMAT, "", "%sthe body is not a tar or zip archive: %s",
                     archive_error_string(a));
        goto done;
    }
    for (;;) {
        int r = archive_read_next_header(a, &ae);
        if (r == ARCHIVE_EOF)
            break;
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
            rc = fail_at(im, NAS_EFORMAT, "",
                         count ? "%sthe archive is corrupt or truncated: %s"
                               : "%sthe body is not a tar or zip archive: %s",
                         archive_error_string(a));
            goto done;
        }
        if (im->lim->stop && *im->lim->stop) {
            rc = nas_fail(NAS_ECANCELLED, "import: nasd is stopping");
            goto done;
        }
        if (++count > im->lim->max_files) {
            rc = fail_limit(im, "", "max-dataset-files", "the number of archive entries",
                            (unsigned long long)im->lim->max_files);
            goto done;
        }
        const char *path = archive_entry_pathname(ae);
        if (!path)
            path = "";
        raw_entry e = {0};
        e.norm = nas__import_normalize(path);
        if (!e.norm) {
            rc = fail_at(im, NAS_EINVAL, path, "%s: %s",
                         "the entry's name leaves the archive's folder (absolute, or \"..\")");
            goto done;
        }
        mode_t type = archive_entry_filetype(ae);
        if (archive_entry_hardlink(ae) || type == AE_IFLNK) {
            free(e.norm);
            rc = fail_at(im, NAS_EINVAL, path, "%s: %s",
                         "links are refused (symbolic or hard): archive the file itself");
            goto done;
        }
        if (type != AE_IFREG && type != AE_IFDIR) {
            free(e.norm);
            rc = fail_at(im, NAS_EINVAL, path, "%s: %s",
                         "only files and folders are taken (not devices, fifos, sockets)");
            goto done;
        }
        if (!e.norm[0] || nas__import_hidden(e.norm)) {
            free(e.norm);
            continue;
        }
        e.is_dir = type == AE_IFDIR;
        int role = e.is_dir ? -1 : nas__import_idx_role(e.norm);
        if (role >= 0) {
            free(e.norm);
            if ((rc = copy_entry(im, a, path, nas__import_idx_files[role], &im->idx[role])) < 0)
                goto done;
            continue;
        }
        int npy = e.is_dir ? -1 : nas__import_npy_role(e.norm);
        if (npy >= 0 && npy != NAS__NPY_OTHER) {
            free(e.norm);
            if ((rc = copy_entry(im, a, path, nas__import_npy_files[npy], &im->npy[npy])) < 0)
                goto done;
            continue;
        }
        if (!e.is_dir && !is_image_name(e.norm)) {
            free(e.norm);
            rc = fail_at(im, NAS_EINVAL, path, "%s: %s",
                         npy == NAS__NPY_OTHER
                             ? "NumPy arrays are taken as x_train.npy, y_train.npy, x_test.npy "
                               "and y_test.npy only"
                             : "only .png, .jpg and .jpeg files (in <class>/ folders), the four "
                               "IDX files of the MNIST layout or the NumPy arrays x_train.npy, "
                               "y_train.npy, x_test.npy and y_test.npy are taken");
            goto done;
        }
        if (!(e.path = strdup(path))) {
            free(e.norm);
            rc = nas_fail(NAS_ENOMEM, "import: out of memory");
            goto done;
        }
        if ((rc = push(im, &e)) < 0) {
            free(e.path);
            free(e.norm);
            goto done;
        }
        im->images += !e.is_dir;
        if (!e.is_dir && (rc = read_image(im, a, &im->e[im->n - 1])) < 0)
            goto done;
    }
done:
    archive_read_free(a);
    return rc;
}

static int depth_of(const char *norm)
{
    int d = 1;
    for (; *norm; norm++)
        d += *norm == '/';
    return d;
}

static int split_of(const char *comp, size_t k)
{
    if (k == 5 && strncmp(comp, "train", 5) == 0)
        return 0;
    if (k == 5 && strncmp(comp, "valid", 5) == 0)
        return 1;
    if (k == 4 && strncmp(comp, "test", 4) == 0)
        return 2;
    return -1;
}

/* Drops the top folder every entry shares (when it is not a split name
 * and every image is below a class folder inside it). */
static void strip_top(importer *im)
{
    if (!im->n)
        return;
    const char *first = im->e[0].norm;
    size_t k = strcspn(first, "/");
    if (split_of(first, k) >= 0)
        return;
    for (size_t i = 0; i < im->n; i++) {
        const char *p = im->e[i].norm;
        if (strncmp(p, first, k) != 0 || (p[k] != '/' && p[k] != '\0'))
            return;
        if (!im->e[i].is_dir && depth_of(p) < 3)
            return;
    }
    for (size_t i = 0; i < im->n; i++) {
        char *p = im->e[i].norm;
        size_t skip = p[k] == '/' ? k + 1 : k;
        memmove(p, p + skip, strlen(p + skip) + 1);
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int class_index(const imp_set *s, const char *name)
{
    char *const *hit = bsearch(&name, s->classes, (size_t)s->nclasses, sizeof(char *), cmp_str);
    return hit ? (int)(hit - s->classes) : -1;
}

/* The class of an entry into cls (a copy; "" for a split's own folder),
 * its split into *split (-1: none); NULL, or what is wrong. */
static const char *place(const raw_entry *e, int splits, char *cls, size_t n, int *split)
{
    const char *p = e->norm;
    int folders = depth_of(p) - !e->is_dir;
    size_t k = strcspn(p, "/");
    *split = -1;
    cls[0] = '\0';
    if (splits) {
        if ((*split = split_of(p, k)) < 0)
            return "with train/, valid/ or test/ in the archive, every entry belongs in one";
        if (folders == 1 && e->is_dir)
            return NULL;
        if (folders != 2)
            return folders < 2 ? "a file outside a class folder: want <split>/<class>/<file>"
                               : "nested folders: want <split>/<class>/<file>";
        p += k + 1;
        k = strcspn(p, "/");
    } else if (folders != 1) {
        return folders < 1 ? "a file outside a class folder: want <class>/<file>"
                           : "nested folders: want <class>/<file> or <split>/<class>/<file>";
    }
    snprintf(cls, n, "%.*s", (int)k, p);
    return NULL;
}

static int collect_classes(importer *im, int splits)
{
    imp_set *s = &im->set;
    char cls[256];
    int split;
    s->classes = calloc(im->n + 1, sizeof(char *));
    if (!s->classes)
        return nas_fail(NAS_ENOMEM, "import: out of memory");
    for (size_t i = 0; i < im->n; i++) {
        const char *why = place(&im->e[i], splits, cls, sizeof cls, &split);
        if (why)
            return fail_at(im, NAS_EINVAL, im->e[i].path, "%s: %s", why);
        if (!cls[0])
            continue;
        if (!nas__json_utf8_valid(cls))
            return fail_at(im, NAS_EINVAL, im->e[i].path, "%s: %s",
                           "a class folder's name is not valid UTF-8");
        int seen = 0;
        for (int c = 0; c < s->nclasses && !seen; c++)
            seen = strcmp(s->classes[c], cls) == 0;
        if (!seen && s->nclasses == MAX_CLASSES)
            return fail_limit(im, im->e[i].path, "classes", "the number of class folders",
                              MAX_CLASSES);
        if (!seen && !(s->classes[s->nclasses++] = strdup(cls)))
            return nas_fail(NAS_ENOMEM, "import: out of memory");
    }
    qsort(s->classes, (size_t)s->nclasses, sizeof(char *), cmp_str);
    if (s->nclasses < 2)
        return fail_at(im, NAS_EINVAL, "", "%sthe archive has %s: a classifier needs two or more",
                       s->nclasses ? "one class folder" : "no class folders");
    return NAS_OK;
}

static int cmp_item(const void *a, const void *b)
{
    return strcmp(((const imp_item *)a)->path, ((const imp_item *)b)->path);
}

/* Images into set->items, sorted by path; split and class set. */
static int make_items(importer *im, int splits)
{
    imp_set *s = &im->set;
    char cls[256];
    int split;
    s->items = calloc(im->n + 1, sizeof(imp_item));
    if (!s->items)
        return nas_fail(NAS_ENOMEM, "import: out of memory");
    for (size_t i = 0; i < im->n; i++) {
        raw_entry *e = &im->e[i];
        if (e->is_dir)
            continue;
        place(e, splits, cls, sizeof cls, &split);
        imp_item *it = &s->items[s->n++];
        *it = (imp_item){
            e->path, class_index(s, cls), split == 2 ? IMP_TEST : IMP_TRAIN, e->w, e->h, e->off};
        s->color |= e->color;
    }
    qsort(s->items, s->n, sizeof(imp_item), cmp_item);
    return NAS_OK;
}

/* Without test/: a seeded 10% of each class (at least one of a class of
 * two or more) becomes the test split. */
static void hold_out(imp_set *s)
{
    nas_rng r;
    size_t *idx = malloc((s->n + 1) * sizeof *idx);
    if (!idx)
        return;
    for (int c = 0; c < s->nclasses; c++) {
        size_t m = 0;
        for (size_t i = 0; i < s->n; i++)
            if (s->items[i].cls == c)
                idx[m++] = i;
        size_t k = m / 10;
        if (k == 0 && m >= 2)
            k = 1;
        nas_rng_seed(&r, 0x6e617364u + (uint64_t)c);
        for (size_t i = 0; i < k; i++) {
            size_t j = i + nas_rng_below(&r, (uint32_t)(m - i));
            size_t t = idx[i];
            idx[i] = idx[j];
            idx[j] = t;
            s->items[idx[i]].split = IMP_TEST;
        }
    }
    free(idx);
}

static int check_classes(importer *im)
{
    imp_set *s = &im->set;
    size_t test = 0;
    for (int c = 0; c < s->nclasses; c++) {
        size_t train = 0;
        for (size_t i = 0; i < s->n; i++)
            train += s->items[i].cls == c && s->items[i].split == IMP_TRAIN;
        if (!train)
            return fail_at(im, NAS_EINVAL, s->classes[c], "class %s: %s",
                           "no training images (a class folder needs at least one image outside "
                           "test/)");
    }
    for (size_t i = 0; i < s->n; i++)
        test += s->items[i].split == IMP_TEST;
    if (!test)
        return fail_at(im, NAS_EINVAL, "", "%s%s",
                       "no test images: add test/ or more images "
                       "per class (10% of each is held out)");
    return NAS_OK;
}

static int cmp_size(const void *a, const void *b)
{
    const int *x = a, *y = b;
    return x[0] != y[0] ? (x[0] > y[0]) - (x[0] < y[0]) : (x[1] > y[1]) - (x[1] < y[1]);
}

/* Every image the most common size, else the others listed. */
static int check_sizes(importer *im, int *h, int *w)
{
    imp_set *s = &im->set;
    size_t best = 0;
    int(*hw)[2] = malloc((s->n + 1) * sizeof *hw);
    if (!hw)
        return nas_fail(NAS_ENOMEM, "import: out of memory");
    for (size_t i = 0; i < s->n; i++) {
        hw[i][0] = s->items[i].h;
        hw[i][1] = s->items[i].w;
    }
    qsort(hw, s->n, sizeof *hw, cmp_size);
    for (size_t i = 0, run = 0; i < s->n; i++) {
        run = i && cmp_size(hw[i], hw[i - 1]) == 0 ? run + 1 : 1;
        if (run > best) {
            best = run;
            *h = hw[i][0];
            *w = hw[i][1];
        }
    }
    free(hw);
    if (best == s->n)
        return NAS_OK;
    char list[1024] = "";
    size_t bad = 0, o = 0;
    const char *first = NULL;
    for (size_t i = 0; i < s->n; i++) {
        const imp_item *it = &s->items[i];
        if (it->w == *w && it->h == *h)
            continue;
        if (!first)
            first = it->path;
        if (bad++ < 8 && o < sizeof list - 1)
            o += (size_t)snprintf(list + o, sizeof list - o, "%s%s (%dx%d)", o ? ", " : "",
                                  it->path, it->h, it->w);
    }
    snprintf(im->err->where, sizeof im->err->where, "%s", first ? first : "");
    return nas_fail(NAS_EINVAL,
                    "%zu images are not %dx%d (height x width), the size of the most: %s%s; "
                    "nasd takes images of one size (resize them before the upload)",
                    bad, *h, *w, list, bad > 8 ? ", ..." : "");
}

int nas__import_hash_file(const char *path, char out[65])
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return nas_fail(NAS_EIO, "%s: %s", path, strerror(errno));
    nas_sha256 h;
    nas_sha256_init(&h);
    uint8_t buf[1 << 16];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, f)) > 0)
        nas_sha256_update(&h, buf, got);
    int bad = ferror(f);
    fclose(f);
    if (bad)
        return nas_fail(NAS_EIO, "%s: read error", path);
    nas_sha256_hex(&h, out);
    return NAS_OK;
}

/* A lone .npy file has no labels: said so, rather than "not an archive". */
static int not_npy(importer *im, const char *upload)
{
    char head[6] = {0};
    FILE *f = fopen(upload, "rb");
    size_t got = f ? fread(head, 1, sizeof head, f) : 0;
    if (f)
        fclose(f);
    if (got == sizeof head && memcmp(head, "\x93NUMPY", 6) == 0)
        return fail_at(im, NAS_EINVAL, "", "%s%s",
                       "the body is one .npy file, which holds no labels: upload a .npz "
                       "(numpy.savez) or a tar or zip of x_train.npy and y_train.npy (and "
                       "x_test.npy, y_test.npy)");
    return NAS_OK;
}

int nas_dataset_import(const char *upload, const char *name, const nas_import_limits *lim,
                       const char *out_dir, char **meta_json, nas_import_error *err)
{
    importer im = {.lim = lim, .err = err, .out_dir = out_dir};
    char spool[4096];
    int rc, splits = 0, test_split = 0, h = 0, w = 0;
    const char *held;
    memset(err, 0, sizeof *err);
    *meta_json = NULL;
    im.set.resize_h = lim->resize_h > 0 && lim->resize_w > 0 ? lim->resize_h : 0;
    im.set.resize_w = im.set.resize_h ? lim->resize_w : 0;
    snprintf(spool, sizeof spool, "%s/pixels.spool", out_dir);
    if (!(im.set.spool = fopen(spool, "w+b"))) {
        rc = nas_fail(NAS_EIO, "%s: %s", spool, strerror(errno));
        goto done;
    }
    if ((rc = nas__import_hash_file(upload, im.set.sha256)) < 0 ||
        (rc = not_npy(&im, upload)) < 0 || (rc = read_archive(&im, upload)) < 0)
        goto done;
    if (im.idx[0] + im.idx[1] + im.idx[2] + im.idx[3]) {
        static const char *const want[4] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                            "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
        for (int r = 0; r < 4; r++)
            if (!im.idx[r]) {
                rc = fail_at(&im, NAS_EINVAL, want[r], "%s: %s",
                             "missing: IDX uploads need the four files of the MNIST layout");
                goto done;
            }
        if (im.images || im.npy[0] + im.npy[1] + im.npy[2] + im.npy[3]) {
            rc = fail_at(&im, NAS_EINVAL, "", "%s%s",
                         "the archive mixes IDX files with images or NumPy arrays: upload one "
                         "kind");
            goto done;
        }
        if (im.set.resize_h) {
            snprintf(err->where, sizeof err->where, "resize");
            rc = nas_fail(NAS_EINVAL, "resize: IDX uploads are stored as they are; resize "
                                      "applies to image files and NumPy arrays");
            goto done;
        }
        rc = nas__import_idx_finish(out_dir, name, im.set.sha256, meta_json, err);
        goto done;
    }
    if (im.npy[0] + im.npy[1] + im.npy[2] + im.npy[3]) {
        if (im.images) {
            rc = fail_at(&im, NAS_EINVAL, "", "%s%s",
                         "the archive mixes NumPy arrays and images: upload one or the other");
            goto done;
        }
        if ((rc = nas__import_npy_read(&im.set, out_dir, im.npy, lim, err)) < 0)
            goto done;
        test_split = im.npy[2] != 0;
        held = "x_test.npy";
    } else {
        strip_top(&im);
        for (size_t i = 0; i < im.n; i++) {
            const char *p = im.e[i].norm;
            int sp = split_of(p, strcspn(p, "/"));
            splits |= sp >= 0;
            test_split |= sp == 2;
        }
        if ((rc = collect_classes(&im, splits)) < 0 || (rc = make_items(&im, splits)) < 0)
            goto done;
        held = "test/";
    }
    if (!test_split)
        hold_out(&im.set);
    if ((rc = check_classes(&im)) < 0 || (rc = check_sizes(&im, &h, &w)) < 0)
        goto done;
    rc = nas__import_write(&im.set, name, out_dir, h, w,
                           test_split ? held : "a seeded 10% of each class", meta_json);
done:
    if (im.set.spool)
        fclose(im.set.spool);
    unlink(spool);
    for (size_t i = 0; i < im.n; i++) {
        free(im.e[i].path);
        free(im.e[i].norm);
    }
    free(im.e);
    for (int c = 0; c < im.set.nclasses; c++)
        free(im.set.classes[c]);
    free(im.set.classes);
    free(im.set.items);
    return rc;
}
