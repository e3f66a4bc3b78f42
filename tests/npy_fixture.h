// SPDX-License-Identifier: MIT
/*
 * npy_fixture.h - a NumPy .npy file written here, by hand, the way
 * numpy.save writes one (test_import.c, test_integration_uploads.c): the
 * magic, the version, the header length, the header dict padded with
 * spaces and a newline to a multiple of 64 bytes, then the data.
 */
#ifndef NAS_TESTS_NPY_FIXTURE_H
#define NAS_TESTS_NPY_FIXTURE_H

#include <stdint.h>
#include <string.h>

/* The file of format version v.0 with the header dict and len bytes of
 * data into buf; its length. */
static inline size_t npy_file(uint8_t *buf, int v, const char *dict, const void *data, size_t len)
{
    size_t pre = v == 1 ? 10 : 12, d = strlen(dict), h = d + 1;
    while ((pre + h) % 64)
        h++;
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (uint8_t)v;
    buf[7] = 0;
    for (size_t k = 0; k < pre - 8; k++)
        buf[8 + k] = (uint8_t)(h >> (8 * k));
    memcpy(buf + pre, dict, d);
    memset(buf + pre + d, ' ', h - d - 1);
    buf[pre + h - 1] = '\n';
    if (len)
        memcpy(buf + pre + h, data, len);
    return pre + h + len;
}

#endif
