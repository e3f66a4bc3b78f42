# SPDX-License-Identifier: MIT
# tests/onnx/check.py DIR - Debian's ONNX checker (python3-onnx) on every
# DIR/*.onnx, with full_check (shape inference too); fails on the first
# model it refuses.
import os
import sys

import onnx

d = sys.argv[1]
names = sorted(f for f in os.listdir(d) if f.endswith(".onnx"))
if not names:
    sys.exit(f"check.py: no .onnx file in {d}")
for f in names:
    m = onnx.load(os.path.join(d, f))
    onnx.checker.check_model(m, full_check=True)
    ops = sorted({n.op_type for n in m.graph.node})
    print(f"ok   {f[:-5]}: onnx {onnx.__version__} checker (full_check) accepts it; "
          f"opset {m.opset_import[0].version}, {len(m.graph.node)} nodes: {' '.join(ops)}")
