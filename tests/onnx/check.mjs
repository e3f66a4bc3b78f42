// SPDX-License-Identifier: MIT
// tests/onnx/check.mjs DIR - every DIR/<space>.onnx nasd wrote, run in
// onnxruntime (CPU) on the inputs nasd ran it on (written by
// tests/test_onnx): an image model on DIR/<space>.ref (int32 n, c, h, w,
// classes, then the pixels 0..255 and nasd's own logits, float32); a
// language model's step on DIR/<space>.tref (int32 steps, columns, vocab,
// layers, hidden, cells, then the token ids step by step and nasd's
// logits), run step after step with the state it returns fed back, from
// zeros. Fails unless every logit is within 1e-4 of nasd's (max absolute
// difference) with the same argmax for every row.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
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
// Max |a - b| over rows of k, and the rows whose argmax agree.
function compare(got, want, rows, k) {
    let maxDiff = 0;
    let same = 0;
    for (let i = 0; i < rows; i++) {
        let a = 0;
        let b = 0;
        for (let j = 0; j < k; j++) {
            const d = Math.abs(got[i * k + j] - want[i * k + j]);
            if (!(d <= maxDiff)) maxDiff = d; // NaN counts as a failure
            if (got[i * k + j] > got[i * k + a]) a = j;
            if (want[i * k + j] > want[i * k + b]) b = j;
        }
        same += a === b ? 1 : 0;
    }
    return { maxDiff, same };
}

function ints(buf, off, n) {
    return new Int32Array(buf.buffer.slice(buf.byteOffset + off, buf.byteOffset + off + 4 * n));
}

function floats(buf, off, n) {
    return new Float32Array(buf.buffer.slice(buf.byteOffset + off, buf.byteOffset + off + 4 * n));
}

async function image(session, ref) {
    const [n, c, h, w, k] = ints(ref, 0, 5);
    const pixels = floats(ref, 20, n * c * h * w);
    const want = floats(ref, 20 + 4 * n * c * h * w, n * k);
    const out = await session.run({ pixels: new ort.Tensor('float32', pixels, [n, c, h, w]) });
    const r = compare(out.logits.data, want, n, k);
    return { ...r, rows: n, what: `${n} images` };
}

async function text(session, ref) {
    const [steps, cols, vocab, layers, hidden, cells] = ints(ref, 0, 6);
    const ids = ints(ref, 24, steps * cols);
    const logitsAt = 24 + 4 * steps * cols;
    const state = {};
    for (let l = 0; l < layers; l++) {
        state[`h.${l}`] = new ort.Tensor('float32', new Float32Array(cols * hidden), [cols, hidden]);
        if (cells) state[`c.${l}`] = new ort.Tensor('float32', new Float32Array(cols * hidden), [cols, hidden]);
    }
    let maxDiff = 0;
    let same = 0;
    for (let t = 0; t < steps; t++) {
        const tokens = BigInt64Array.from(ids.subarray(t * cols, (t + 1) * cols), (v) => BigInt(v));
        const out = await session.run({ tokens: new ort.Tensor('int64', tokens, [cols]), ...state });
        const want = floats(ref, logitsAt + 4 * t * cols * vocab, cols * vocab);
        const r = compare(out.logits.data, want, cols, vocab);
        if (!(r.maxDiff <= maxDiff)) maxDiff = r.maxDiff;
        same += r.same;
        for (let l = 0; l < layers; l++) {
            state[`h.${l}`] = out[`h_out.${l}`];
            if (cells) state[`c.${l}`] = out[`c_out.${l}`];
        }
    }
    return { maxDiff, same, rows: steps * cols, what: `${steps} steps x ${cols} columns` };
}

let failed = 0;
for (const f of names) {
    const space = f.slice(0, -'.onnx'.length);
    const session = await ort.InferenceSession.create(join(dir, f));
    const isText = existsSync(join(dir, `${space}.tref`));
    const ref = readFileSync(join(dir, `${space}.${isText ? 'tref' : 'ref'}`));
    const r = isText ? await text(session, ref) : await image(session, ref);
    const ok = r.maxDiff <= TOL && r.same === r.rows;
    if (!ok) failed++;
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${space}: ${r.what}, max |logit diff| ${r.maxDiff.toExponential(3)} ` +
        `(limit ${TOL}), same argmax ${r.same}/${r.rows}`);
}
process.exit(failed ? 1 : 0);
