// SPDX-License-Identifier: MIT
/*
 * model.js - what the dashboard does with a trained network (issue #14):
 * on a succeeded job that has a model, the download buttons (safetensors,
 * ONNX) and "try it" (an IDX file of images from the user's disk: its
 * first images go to POST /v1/jobs/{id}/predictions and come back drawn
 * with their predicted classes; a language model instead scores a typed
 * text, or continues it with a seed); and "retrain this architecture", which
 * opens the submit form filled in with {"algorithm": "train",
 * "architecture": ...} from a result or an architecture row.
 *
 * The one design decision to know: the dashboard cannot read nasd's
 * dataset files, so "try it" takes a file the user picks (the dataset's
 * own t10k-images-idx3-ubyte.gz works as it is: gzip is undone in the
 * browser), and retraining is a URL (#/?retrain=ID&number=N), so the filled
 * form survives a reload like every other view. Loaded after app.js,
 * whose helpers (h, api, token, ApiError) it uses.
 */
'use strict';

const TRY_IMAGES = 16;   /* images of the file sent to nasd */

/* The hash that opens the submit form filled in with job id's result
 * architecture, or with its architecture row `number`. */
function retrainHash(id, number) {
  return `#/?retrain=${id}${number != null ? `&number=${number}` : ''}`;
}

function retrainButton(id, number) {
  return h('button', {
    'data-action': 'retrain', title: 'open the submit form with a train job on this architecture',
    onclick: ev => { ev.stopPropagation(); location.hash = retrainHash(id, number); },
  }, 'retrain this architecture');
}

/* What the form is filled with for #/?retrain=ID[&number=N]: the job's
 * dataset and the architecture (with its space: a search's rows may
 * leave it to the job's search space). */
async function retrainSource(id, number) {
  const job = await api(`/v1/jobs/${id}`);
  const src = number != null ? await api(`/v1/jobs/${id}/architectures/${number}`) : await api(`/v1/jobs/${id}/result`);
  let arch = src.architecture !== undefined ? src.architecture : src.arch;
  if (arch && typeof arch === 'object' && !arch.space) {
    const space = job.search_space || (job.spec && job.spec.search_space);
    if (space) arch = Object.assign({ space }, arch);
  }
  return { job, arch };
}

/* A button that fetches url (with the token) and saves it as filename,
 * or shows nasd's problem in status. */
function downloadButton(url, filename, label, status, action) {
  return h('button', {
    'data-action': action,
    onclick: async () => {
      status.textContent = '';
      const t = token();
      try {
        const res = await fetch(url, t ? { headers: { Authorization: `Bearer ${t}` } } : {});
        if (!res.ok) {
          const p = await res.json().catch(() => ({}));
          status.textContent = `${label}: ${p.detail || p.title || 'HTTP ' + res.status} (${res.status})`;
          return;
        }
        const a = h('a', { href: URL.createObjectURL(await res.blob()), download: filename });
        document.body.append(a);
        a.click();
        a.remove();
        setTimeout(() => URL.revokeObjectURL(a.href), 10000);
      } catch (e) {
        status.textContent = `${label}: ${e.message}`;
      }
    },
  }, label);
}

/* The bytes of a picked file, gunzipped when they are gzip. */
async function fileBytes(file) {
  let buf = new Uint8Array(await file.arrayBuffer());
  if (buf.length > 2 && buf[0] === 0x1f && buf[1] === 0x8b) {
    const stream = new Blob([buf]).stream().pipeThrough(new DecompressionStream('gzip'));
    buf = new Uint8Array(await new Response(stream).arrayBuffer());
  }
  return buf;
}

/* An IDX file of unsigned bytes -> {n, c, h, w, pixels} of its first
 * `max` images, or throws what is wrong. */
function parseIdx(buf, max) {
  const dims = buf[3];
  if (buf.length < 4 || buf[0] || buf[1] || buf[2] !== 8 || (dims !== 3 && dims !== 4) || buf.length < 4 + 4 * dims)
    throw new Error('not an IDX file of images (magic 0x00000803 or 0x00000804)');
  const dv = new DataView(buf.buffer, buf.byteOffset);
  const d = [];
  for (let i = 0; i < dims; i++) d.push(dv.getUint32(4 + 4 * i));
  const [count, c, hh, ww] = dims === 3 ? [d[0], 1, d[1], d[2]] : d;
  const n = Math.min(count, max), img = c * hh * ww, head = 4 + 4 * dims;
  if (buf.length < head + n * img) throw new Error('the IDX file is shorter than its header says');
  return { n, c, h: hh, w: ww, dims, pixels: buf.subarray(head, head + n * img) };
}

/* An IDX body holding exactly these images. */
function idxBody(x) {
  const head = new Uint8Array(4 + 4 * x.dims);
  const dv = new DataView(head.buffer);
  dv.setUint32(0, x.dims === 3 ? 0x803 : 0x804);
  const dims = x.dims === 3 ? [x.n, x.h, x.w] : [x.n, x.c, x.h, x.w];
  dims.forEach((v, i) => dv.setUint32(4 + 4 * i, v));
  return new Blob([head, x.pixels]);
}

/* Image i of x on a canvas, scaled up. */
function drawImage(x, i) {
  const cv = h('canvas', { width: x.w, height: x.h, class: 'try-img' });
  const ctx = cv.getContext('2d'), im = ctx.createImageData(x.w, x.h), plane = x.h * x.w;
  const at = i * x.c * plane;
  for (let p = 0; p < plane; p++) {
    const v = k => x.pixels[at + (x.c === 1 ? 0 : k) * plane + p];
    im.data[4 * p] = v(0); im.data[4 * p + 1] = v(1); im.data[4 * p + 2] = v(2); im.data[4 * p + 3] = 255;
  }
  ctx.putImageData(im, 0, 0);
  return cv;
}

/* "Try it" for a language model: the perplexity of the typed text, or
 * its continuation (tokens and seed as typed), as nasd answers them. */
function textTry(base, status) {
  const text = h('textarea', { id: 'try-text', rows: 3, cols: 60, placeholder: 'a text, or the start of one' });
  const tokens = h('input', { type: 'number', id: 'try-tokens', min: 1, value: 20, size: 4 });
  const seed = h('input', { type: 'number', id: 'try-seed', min: 0, value: 0, size: 6 });
  const out = h('pre', { id: 'try-text-result', class: 'mono' });
  const ask = async body => {
    status.textContent = '';
    out.textContent = '';
    try {
      return await api(`${base}/predictions`, {
        method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
      });
    } catch (e) {
      status.textContent = `predictions: ${e.message}`;
      return null;
    }
  };
  const score = h('button', {
    'data-action': 'try-perplexity', onclick: async () => {
      const r = await ask({ text: text.value });
      if (r) out.textContent = `perplexity ${fmtNum(r.perplexity)} over ${r.predicted} predicted tokens (${r.tokens} tokens, ${r.unknown} unknown)`;
    },
  }, 'perplexity');
  const more = h('button', {
    'data-action': 'try-continue', onclick: async () => {
      const r = await ask({ prompt: text.value, tokens: Number(tokens.value), seed: Number(seed.value) });
      if (r) out.textContent = r.continuation;
    },
  }, 'continue');
  return h('div', { id: 'try-text-box', class: 'hidden' },
    h('p', null, h('label', null, 'Try it: a text ', text)),
    h('p', null, score, ' ', more, ' ', h('label', null, 'tokens ', tokens), ' ', h('label', null, 'seed ', seed)),
    out);
}

/* The model card of job id: shown when GET .../model has a file. */
function modelCard(id) {
  const base = `/v1/jobs/${id}`;
  const card = h('div', { class: 'card hidden', id: 'model' });
  const status = h('p', { class: 'form-error', id: 'model-status', role: 'alert' });
  const grid = h('div', { class: 'try-grid', id: 'try-results' });
  const input = h('input', { type: 'file', id: 'try-file', accept: '.idx,.gz,.ubyte,application/octet-stream,application/gzip' });
  input.addEventListener('change', async () => {
    status.textContent = '';
    grid.replaceChildren();
    const file = input.files && input.files[0];
    if (!file) return;
    let x;
    try { x = parseIdx(await fileBytes(file), TRY_IMAGES); } catch (e) { status.textContent = `${file.name}: ${e.message}`; return; }
    try {
      const res = await api(`${base}/predictions`, {
        method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body: idxBody(x),
      });
      res.predictions.forEach((p, i) => {
        const conf = p.probabilities[p.class];
        grid.append(h('figure', { class: 'try-item', 'data-class': p.class },
          drawImage(x, i), h('figcaption', null, h('strong', null, p.label), ` ${(100 * conf).toFixed(1)}%`)));
      });
    } catch (e) {
      status.textContent = `predictions: ${e.message}`;
    }
  });
  const tryImages = h('p', { id: 'try-images' }, h('label', null, 'Try it: an IDX file of images (e.g. the dataset\'s t10k-images-idx3-ubyte.gz; ',
    `its first ${TRY_IMAGES} are sent) `, input));
  const tryText = textTry(base, status);
  card.append(
    h('h3', null, 'Model: the trained network'),
    h('p', null,
      downloadButton(`${base}/model`, `${id}.safetensors`, 'download safetensors', status, 'download-safetensors'), ' ',
      downloadButton(`${base}/model?format=onnx`, `${id}.onnx`, 'download ONNX', status, 'download-onnx')),
    tryImages, tryText, status, grid);
  /* HEAD: whether the job kept a network (no body is fetched); called
   * once the job has succeeded, with its result: a perplexity is a
   * language model's, which takes text instead of images. */
  card.check = res => {
    const text = /perplexity/.test((res && res.metric) || '');
    tryImages.classList.toggle('hidden', text);
    tryText.classList.toggle('hidden', !text);
    const t = token();
    fetch(`${base}/model`, { method: 'HEAD', headers: t ? { Authorization: `Bearer ${t}` } : {} })
      .then(r => { if (r.ok) card.classList.remove('hidden'); })
      .catch(() => {});
  };
  return card;
}
