/*
 * activation.c - pointwise nonlinearities. Backward uses the saved output
 * (tanh' = 1 - y^2, sigmoid' = y (1 - y), relu' = [y > 0]), so the input
 * need not be kept alive.
 */
#include "internal.h"

#include <math.h>

enum act { ACT_RELU, ACT_TANH, ACT_SIGMOID, ACT_IDENTITY };

static void act_bwd(nas_graph *g, nas_node *nd)
{
    nas_tensor *x = nd->in[0], *y = nd->out;
    if (!nas__want(g, x))
        return;
    size_t n = nas_tensor_numel(x);
    const float *yv = y->data, *dy = y->grad;
    float *dx = x->grad;
    switch (nd->ia[0]) {
    case ACT_RELU:
        for (size_t i = 0; i < n; i++)
            dx[i] += yv[i] > 0.0f ? dy[i] : 0.0f;
        break;
    case ACT_TANH:
        for (size_t i = 0; i < n; i++)
            dx[i] += dy[i] * (1.0f - yv[i] * yv[i]);
        break;
    case ACT_SIGMOID:
        for (size_t i = 0; i < n; i++)
            dx[i] += dy[i] * yv[i] * (1.0f - yv[i]);
        break;
    default:
        nas__add_to(dx, dy, n);
    }
}

static nas_tensor *act(nas_graph *g, nas_tensor *x, enum act a)
{
    nas_tensor *y = nas__out(g, x->ndim, x->shape, &x, 1);
    size_t n = nas_tensor_numel(x);
    const float *xv = x->data;
    float *yv = y->data;
    switch (a) {
    case ACT_RELU:
        for (size_t i = 0; i < n; i++)
            yv[i] = xv[i] > 0.0f ? xv[i] : 0.0f;
        break;
    case ACT_TANH:
        for (size_t i = 0; i < n; i++)
            yv[i] = tanhf(xv[i]);
        break;
    case ACT_SIGMOID:
        for (size_t i = 0; i < n; i++)
            yv[i] = 1.0f / (1.0f + expf(-xv[i]));
        break;
    default:
        memcpy(yv, xv, n * sizeof(float));
    }
    nas_node *nd = nas__record(g, act_bwd, y, &x, 1);
    if (nd)
        nd->ia[0] = a;
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
