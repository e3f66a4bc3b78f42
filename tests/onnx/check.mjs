// SPDX-License-Identifier: MIT
// tests/onnx/check.mjs DIR - every DIR/<space>.onnx nasd wrote, run in
// onnxruntime (CPU) on the images of DIR/<space>.ref (written by
// tests/test_onnx: int32 n, c, h, w, classes, then the pixels 0..255 and
// nasd's own logits, float32); fails unless every logit is within 1e-4 of
// nasd's (max absolute difference) with the same argmax for every image.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import ort from 'onnxruntime-node';

const TOL = 1e-4;
const dir = process.argv[2];
if (!dir) {
    console.error('usage: node check.mjs DIR');
    process.exit(2);
}
const names = readdirSync(dir).filter((f) => f.endsWith('.onnx')).sort();
if (names.length === 0) {
    console.error(`check.mjs: no .onnx file in ${dir}`);
    process.exit(1);
}
let failed = 0;
for (const f of names) {
    const space = f.slice(0, -'.onnx'.length);
    const ref = readFileSync(join(dir, `${space}.ref`));
    const hdr = new Int32Array(ref.buffer.slice(ref.byteOffset, ref.byteOffset + 20));
    const [n, c, h, w, k] = hdr;
    const floats = new Float32Array(ref.buffer.slice(ref.byteOffset + 20, ref.byteOffset + ref.length));
    const pixels = floats.subarray(0, n * c * h * w);
    const want = floats.subarray(n * c * h * w, n * c * h * w + n * k);
    const session = await ort.InferenceSession.create(join(dir, f));
    const out = await session.run({ pixels: new ort.Tensor('float32', pixels, [n, c, h, w]) });
    const got = out.logits.data;
    let maxDiff = 0;
    let argmaxSame = 0;
    for (let i = 0; i < n; i++) {
        let a = 0;
        let b = 0;
        for (let j = 0; j < k; j++) {
            const d = Math.abs(got[i * k + j] - want[i * k + j]);
            if (!(d <= maxDiff)) maxDiff = d; // NaN counts as a failure
            if (got[i * k + j] > got[i * k + a]) a = j;
            if (want[i * k + j] > want[i * k + b]) b = j;
        }
        argmaxSame += a === b ? 1 : 0;
    }
    const ok = maxDiff <= TOL && argmaxSame === n && got.length === n * k;
    if (!ok) failed++;
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${space}: ${n} images, max |logit diff| ${maxDiff.toExponential(3)} ` +
        `(limit ${TOL}), same argmax ${argmaxSame}/${n}`);
}
process.exit(failed ? 1 : 0);
