// SPDX-License-Identifier: MIT
/*
 * enas_micro.h - what the micro space (enas_micro.c) offers beyond the
 * nas_enas_space interface of enas.h; internal to the engine.
 */
#ifndef NAS_SEARCH_ENAS_MICRO_H
#define NAS_SEARCH_ENAS_MICRO_H

#include "search/enas/enas.h"

/* on (the default): the stem, calibrations, nodes and cell outputs keep
 * only their inputs and outputs on the tape and recompute their ops in
 * backward (low memory); off: every op stays on the tape (faster, several
 * times the memory). Same numbers either way. self: the space's state
 * from nas__enas_micro.declare. */
void nas__enas_micro_recompute(void *self, int on);
/* The drop path of the next training forwards at step step (0-based) of
 * a training of steps steps, as micro_child.py's _fixed_layer applies
 * it: on the output of every op but identity, cell i (0-based over the
 * layers + 2 cells, the reductions counted) dropping with
 * p (i + 1) / (layers + 2) min(1, (step + 1) / steps). p in [0, 1); 0 (the
 * default, and the search's): none. Eval forwards never drop. */
void nas__enas_micro_drop_path(void *self, float p, int64_t step, int64_t steps);
/* The most the scratch graph (one part's ops, recomputed) ever held. */
size_t nas__enas_micro_scratch_peak(void *self);

#endif
