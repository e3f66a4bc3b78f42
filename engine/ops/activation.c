// SPDX-License-Identifier: MIT
/*
 * activation.c - pointwise nonlinearities. Backward uses the saved output
 * (tanh' = 1 - y^2, sigmoid' = y (1 - y), relu' = [y > 0]), so the input
 * need not be kept alive.
 */
#include "internal.h"

#include <math.h>

enum act { ACT_RELU, ACT_TANH, ACT_SIGMOID, ACT_IDENTITY };

/* Elementwise, so split over the engine's threads for large maps
 * (nas__parallel_span). */
typedef struct {
    enum act a;
    const float *x, *y, *dy; /* forward: x; backward: y and dy */
    float *out;              /* forward: y; backward: dx */
} act_ctx;

static void act_fwd_span(void *arg, size_t i0, size_t i1)
{
    const act_ctx *c = arg;
    const float *restrict xv = c->x;
    float *restrict yv = c->out;
    switch (c->a) {
    case ACT_RELU:
        for (size_t i = i0; i < i1; i++)
            yv[i] = xv[i] > 0.0f ? xv[i] : 0.0f;
        break;
    case ACT_TANH:
        for (size_t i = i0; i < i1; i++)
            yv[i] = tanhf(xv[i]);
        break;
    case ACT_SIGMOID:
        for (size_t i = i0; i < i1; i++)
            yv[i] = 1.0f / (1.0f + expf(-xv[i]));
        break;
    default: memcpy(yv + i0, xv + i0, (i1 - i0) * sizeof(float));
    }
}

static void act_bwd_span(void *arg, size_t i0, size_t i1)
{
    const act_ctx *c = arg;
    const float *restrict yv = c->y, *restrict dy = c->dy;
    float *restrict dx = c->out;
    switch (c->a) {
    case ACT_RELU:
        for (size_t i = i0; i < i1; i++)
            dx[i] += yv[i] > 0.0f ? dy[i] : 0.0f;
        break;
    case ACT_TANH:
        for (size_t i = i0; i < i1; i++)
            dx[i] += dy[i] * (1.0f - yv[i] * yv[i]);
        break;
    case ACT_SIGMOID:
        for (size_t i = i0; i < i1; i++)
            dx[i] += dy[i] * yv[i] * (1.0f - yv[i]);
        break;
    default: nas__add_to(dx + i0, dy + i0, i1 - i0);
    }
}

static void act_bwd(nas_graph *g, nas_node *nd)
{
    nas_tensor *x = nd->in[0], *y = nd->out;
    if (!nas__want(g, x))
        return;
    act_ctx c = {.a = (enum act)nd->ia[0], .y = y->data, .dy = y->grad, .out = x->grad};
    nas__parallel_span(nas_tensor_numel(x), act_bwd_span, &c);
}

static const char *const act_onnx[] = {[ACT_RELU] = "Relu",
                                       [ACT_TANH] = "Tanh",
                                       [ACT_SIGMOID] = "Sigmoid",
                                       [ACT_IDENTITY] = "Identity"};

static nas_tensor *act(nas_graph *g, nas_tensor *x, enum act a)
{
    nas_tensor *y = nas__out(g, x->ndim, x->shape, &x, 1);
    act_ctx c = {.a = a, .x = x->data, .out = y->data};
    nas__parallel_span(nas_tensor_numel(x), act_fwd_span, &c);
    nas_node *nd = nas__record(g, act_bwd, y, &x, 1);
    if (nd)
        nd->ia[0] = a;
    NAS__PROF(nas__prof_op(g, NAS_PROF_ELEMENTWISE, y, &x, 1, (double)nas_tensor_numel(y)));
    NAS__EX(g, nas__ex_unary(g, y, x, act_onnx[a]));
    return y;
}

nas_tensor *nas_relu(nas_graph *g, nas_tensor *x)
{
    return act(g, x, ACT_RELU);
}

nas_tensor *nas_tanh(nas_graph *g, nas_tensor *x)
{
    return act(g, x, ACT_TANH);
}

nas_tensor *nas_sigmoid(nas_graph *g, nas_tensor *x)
{
    return act(g, x, ACT_SIGMOID);
}

nas_tensor *nas_identity(nas_graph *g, nas_tensor *x)
{
    return act(g, x, ACT_IDENTITY);
}
