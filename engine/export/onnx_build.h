// SPDX-License-Identifier: MIT
/*
 * onnx_build.h - what the two halves of the ONNX export share: the graph
 * being built (onnx.c) and the ops' hooks that add to it (onnx_ops.c).
 *
 * Everything of one export (nodes, initializers, names) is allocated from
 * the exporter's arena and freed at once; parameter data is referenced,
 * not copied. The first failure is kept (nas__ox_fail) and turns every
 * later hook into a no-op.
 */
#ifndef NAS_EXPORT_ONNX_BUILD_H
#define NAS_EXPORT_ONNX_BUILD_H

#include "export/onnx.h"
#include "onnx.pb-c.h"

/* True when the export has failed: hooks return at once. */
int nas__ox_failed(const nas__onnx *ex);
void nas__ox_fail(nas__onnx *ex, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The value name of t as an input of op: a parameter becomes an
 * initializer under its name; a traced op's output has its name. NULL
 * (and the export failed, naming op) when t came from anywhere else. */
const char *nas__ox_in(nas__onnx *ex, const nas_tensor *t, const char *op);
/* The input "tokens" when ids are the traced model's token ids (a
 * language model's step); NULL (and the export failed, naming op)
 * otherwise. */
const char *nas__ox_ids(nas__onnx *ex, const int32_t *ids, const char *op);
/* Binds a fresh name to t (an op's output) and returns it. */
const char *nas__ox_out(nas__onnx *ex, const nas_tensor *t);
/* A fresh name for an intermediate value of an op's ONNX form. */
const char *nas__ox_tmp(nas__onnx *ex);
/* Appends a node op(in[0, nin)) -> out; attributes go on the node. */
Onnx__NodeProto *nas__ox_node(nas__onnx *ex, const char *op, const char *const *in, int nin,
                              const char *out);
void nas__ox_attr_i(nas__onnx *ex, Onnx__NodeProto *n, const char *name, int64_t v);
void nas__ox_attr_f(nas__onnx *ex, Onnx__NodeProto *n, const char *name, float v);
void nas__ox_attr_ints(nas__onnx *ex, Onnx__NodeProto *n, const char *name, const int64_t *v,
                       int k);
/* Constant initializers: float data of shape dims[0, ndim) (copied), and
 * a 1-d int64 vector (shapes, axes). */
const char *nas__ox_const_f(nas__onnx *ex, int ndim, const int64_t *dims, const float *v);
const char *nas__ox_const_i64(nas__onnx *ex, int k, const int64_t *v);

#endif
