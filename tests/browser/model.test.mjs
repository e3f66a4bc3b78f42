// SPDX-License-Identifier: MIT
/*
 * model.test.mjs - what the dashboard does with a trained network (issue
 * #14 part 5), in a real browser against a real nasd: on a succeeded
 * train job the model card appears; "download safetensors" saves the
 * file nasd serves, byte for byte; "download ONNX" either saves a file
 * or shows nasd's problem (until the export lands, a 4xx/5xx problem);
 * "try it" sends the first images of a picked IDX file (gzip too) and
 * shows their predicted classes, the ones the API gives for the same
 * bytes; "retrain this architecture" on the result and on an
 * architecture row opens the submit form filled in, whose job is a
 * train job on that architecture.
 *
 * Every wait is a condition with a deadline. Environment: as
 * tests/browser/common.mjs.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { startNasd, stopNasd, openBrowser, shot as shotOf, apiJson as api, submitJob } from './common.mjs';

const JOB_MS = 120000;
let nasd, base, browser, page, jobId;
const logLines = [];
const shot = name => shotOf(page, name);
const apiJson = (path, opts) => api(base, path, opts);

/* n synthetic-shaped images (1 x 16 x 16): a bright bar at row or column
 * k, as the synthetic dataset draws its classes, on a dark background. */
function idxFile(n) {
  const head = Buffer.alloc(16);
  head.writeUInt32BE(0x803, 0);
  head.writeUInt32BE(n, 4);
  head.writeUInt32BE(16, 8);
  head.writeUInt32BE(16, 12);
  const px = Buffer.alloc(n * 256, 40);
  for (let i = 0; i < n; i++)
    for (let t = 0; t < 16; t++) px[i * 256 + (i % 2 ? t * 16 + i : i * 16 + t)] = 220;
  return Buffer.concat([head, px]);
}

before(async () => {
  nasd = await startNasd({ workers: 1, prefix: 'nasd-browser-model-', logLines });
  base = nasd.base;
  ({ browser, page } = await openBrowser());
  page.on('pageerror', e => { logLines.push(`pageerror: ${e.message}\n`); });
  jobId = await submitJob(base, { algorithm: 'train', dataset: 'synthetic', name: 'small-cnn', seed: 5,
    architecture: { space: 'fixed-cnn', channels: [4, 8], hidden: 16 }, budget: { epochs: 1 } });
  const t0 = Date.now();
  for (;;) {
    const j = await apiJson(`/v1/jobs/${jobId}`);
    if (j.body.state === 'succeeded') break;
    assert.ok(!['failed', 'cancelled'].includes(j.body.state), JSON.stringify(j.body));
    assert.ok(Date.now() - t0 < JOB_MS, 'the train job did not finish');
    await new Promise(r => setTimeout(r, 200));
  }
});

after(async () => {
  if (browser) await browser.close();
  await stopNasd(nasd, logLines);
});

test('a succeeded train job shows its model; safetensors downloads as served', async () => {
  await page.goto(`${base}/#/job/${jobId}`);
  await page.locator('#model').waitFor({ state: 'visible' });
  const [dl] = await Promise.all([page.waitForEvent('download'), page.click('button[data-action=download-safetensors]')]);
  assert.equal(dl.suggestedFilename(), `${jobId}.safetensors`);
  const got = readFileSync(await dl.path());
  const want = Buffer.from(await (await fetch(`${base}/v1/jobs/${jobId}/model`)).arrayBuffer());
  assert.ok(want.length > 8 && got.equals(want), 'the saved file is the served one');
  /* ONNX: a file once the export exists, else nasd's problem, shown. */
  const onnx = await fetch(`${base}/v1/jobs/${jobId}/model?format=onnx`);
  if (onnx.ok) {
    const [d2] = await Promise.all([page.waitForEvent('download'), page.click('button[data-action=download-onnx]')]);
    assert.equal(d2.suggestedFilename(), `${jobId}.onnx`);
  } else {
    await page.click('button[data-action=download-onnx]');
    await page.waitForFunction(() => /download ONNX: .+\(\d{3}\)/.test(document.querySelector('#model-status').textContent));
  }
  await shot('m1-model-card');
});

test('try it: the first images of a picked IDX file come back with their classes', async () => {
  const file = idxFile(20);
  /* The API's answer for the first 16, the ones the page sends. */
  const first = Buffer.concat([file.subarray(0, 16), file.subarray(16, 16 + 16 * 256)]);
  first.writeUInt32BE(16, 4);
  const r = await fetch(`${base}/v1/jobs/${jobId}/predictions`, {
    method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body: first,
  });
  assert.equal(r.status, 200);
  const want = (await r.json()).predictions.map(p => String(p.class));
  for (const [name, bytes] of [['bars.idx', file], ['bars.idx.gz', gzipSync(file)]]) {
    await page.setInputFiles('#try-file', { name, mimeType: 'application/octet-stream', buffer: bytes });
    await page.waitForFunction(n => document.querySelectorAll('#try-results figure').length === n, 16);
    const got = await page.$$eval('#try-results figure', fs => fs.map(f => f.dataset.class));
    assert.deepEqual(got, want, `${name}: the classes the API gives`);
    assert.match(await page.textContent('#try-results figure figcaption'), /^\d+ \d+\.\d%$/);
  }
  await shot('m2-try-it');
  /* Not an IDX file: said so, nothing sent. */
  await page.setInputFiles('#try-file', { name: 'x.txt', mimeType: 'text/plain', buffer: Buffer.from('hello') });
  await page.waitForFunction(() => /not an IDX file/.test(document.querySelector('#model-status').textContent));
});

test('retrain this architecture: from the result and from a row, the form comes filled in', async () => {
  await page.goto(`${base}/#/job/${jobId}`);
  await page.locator('#result button[data-action=retrain]').click();
  await page.waitForURL(new RegExp(`#/\\?retrain=${jobId}$`));
  await page.waitForFunction(() => document.querySelector('#submit-form')?.dataset.retrain);
  assert.equal(await page.inputValue('select[name=algorithm]'), 'train');
  assert.equal(await page.inputValue('select[name=search_space]'), 'fixed-cnn');
  assert.equal(await page.inputValue('select[name=dataset]'), 'synthetic');
  const arch = JSON.parse(await page.inputValue('textarea[name=architecture]'));
  assert.deepEqual(arch.channels, [4, 8]);
  await shot('m3-retrain-form');
  await page.fill('input[name=epochs]', '1');
  await page.click('#submit-form button[type=submit]');
  await page.waitForURL(/#\/job\/[0-9a-f]{32}/);
  const again = page.url().match(/#\/job\/([0-9a-f]{32})/)[1];
  assert.notEqual(again, jobId);
  const stored = await apiJson(`/v1/jobs/${again}`);
  assert.equal(stored.body.algorithm, 'train');
  assert.deepEqual(stored.body.spec.architecture.channels, [4, 8]);
  assert.equal(stored.body.spec.architecture.hidden, 16);
  await apiJson(`/v1/jobs/${again}:cancel`, { method: 'POST' });

  /* A row of the architectures table has its own button. */
  await page.goto(`${base}/#/job/${jobId}`);
  const row = page.locator('#arch-table tbody tr').first();
  await row.waitFor();
  const number = await row.getAttribute('data-number');
  await row.locator('button[data-action=retrain]').click();
  await page.waitForURL(new RegExp(`retrain=${jobId}&number=${number}$`));
  await page.waitForFunction(() => document.querySelector('#submit-form')?.dataset.retrain);
  assert.equal(await page.inputValue('select[name=algorithm]'), 'train');
  assert.deepEqual(JSON.parse(await page.inputValue('textarea[name=architecture]')).channels, [4, 8]);
  /* A reload keeps the filled form: it is the URL. */
  await page.reload();
  await page.waitForFunction(() => document.querySelector('#submit-form')?.dataset.retrain);
  assert.equal(await page.inputValue('select[name=search_space]'), 'fixed-cnn');
});

test('try it on a language model: a text\'s perplexity and a continuation, as the API gives them', async () => {
  const lm = await submitJob(base, { algorithm: 'train', dataset: 'fortunes', seed: 3,
    architecture: { space: 'lstm-lm', embed: 8, hidden: 8, layers: 1, bptt: 8, max_vocab: 200 },
    budget: { epochs: 1 }, hyperparameters: { batch_size: 10 } });
  const t0 = Date.now();
  for (;;) {
    const j = await apiJson(`/v1/jobs/${lm}`);
    if (j.body.state === 'succeeded') break;
    assert.ok(!['failed', 'cancelled'].includes(j.body.state), JSON.stringify(j.body));
    assert.ok(Date.now() - t0 < JOB_MS, 'the language model did not finish');
    await new Promise(r => setTimeout(r, 200));
  }
  await page.goto(`${base}/#/job/${lm}`);
  await page.locator('#try-text-box').waitFor({ state: 'visible' });
  assert.ok(await page.locator('#try-images').isHidden(), 'no image picker for a language model');
  const ask = async body => (await apiJson(`/v1/jobs/${lm}/predictions`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
  })).body;
  await page.fill('#try-text', 'the man and the dog');
  await page.click('button[data-action=try-perplexity]');
  const score = await ask({ text: 'the man and the dog' });
  await page.waitForFunction(() => /^perplexity /.test(document.querySelector('#try-text-result').textContent));
  assert.match(await page.textContent('#try-text-result'), new RegExp(`over ${score.predicted} predicted tokens \\(${score.tokens} tokens`));
  await page.fill('#try-tokens', '7');
  await page.fill('#try-seed', '4');
  await page.click('button[data-action=try-continue]');
  const more = await ask({ prompt: 'the man and the dog', tokens: 7, seed: 4 });
  await page.waitForFunction(want => document.querySelector('#try-text-result').textContent === want, more.continuation);
  await shot('m4-try-text');
});
