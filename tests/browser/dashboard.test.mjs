// SPDX-License-Identifier: MIT
/*
 * dashboard.test.mjs - the dashboard in a real browser (issue #7): Debian's
 * chromium driven by playwright-core against a real nasd (the built
 * binary) on a loopback port with a temporary state directory.
 *
 * A user opens the dashboard, gets the inline error for a bad field (a
 * negative budget, next to the field the problem's JSON pointer names),
 * submits a short darts search on the synthetic dataset from the form,
 * watches its progress advance over the event stream, sees the final cells
 * drawn (the server's SVG), opens one sampled architecture, reloads and
 * finds the same view, filters the job list, cancels and deletes a job. No
 * request may leave nasd's origin.
 *
 * The one design decision to know: every wait is a condition with a
 * deadline (playwright's waitForFunction / expect-style polling), never a
 * fixed sleep; progress is recorded in the page by a MutationObserver so
 * that a fast machine cannot make the test miss it. Screenshots go to
 * $SCREENSHOT_DIR (run.sh: BUILD/tests/browser/screenshots), printed at
 * the start.
 *
 * Environment: as tests/browser/common.mjs (NASD, CHROMIUM,
 * SCREENSHOT_DIR, NASD_WEB_DIR).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startNasd, stopNasd, openBrowser, shot as shotOf, apiJson as api } from './common.mjs';

const JOB_MS = 120000;

/* Big enough to take a few seconds (tens of progress events), small
 * enough for a 2-core machine: darts-cnn, C 4, 3 cells, 1 epoch. */
const TINY_HP = '{"C": 4, "layers": 3, "batch_size": 8, "max_examples": 960}';

let nasd, base, browser, page;
const shot = name => shotOf(page, name);
const apiJson = (path, opts) => api(base, path, opts);
const foreign = [];
const logLines = [];

before(async () => {
  nasd = await startNasd({ workers: 1, prefix: 'nasd-browser-', logLines });
  base = nasd.base;
  ({ browser, page } = await openBrowser());
  page.on('request', req => {
    const u = new URL(req.url());
    if (u.protocol !== 'data:' && u.origin !== base) foreign.push(req.url());
  });
  page.on('pageerror', e => { logLines.push(`pageerror: ${e.message}\n`); });
  /* Every value the page's progress bar ever shows. */
  await page.addInitScript(() => {
    window.__progress = [];
    new MutationObserver(() => {
      const bar = document.querySelector('#app .bar.big[role=progressbar]');
      if (!bar) return;
      const v = Number(bar.getAttribute('aria-valuenow'));
      if (window.__progress[window.__progress.length - 1] !== v) window.__progress.push(v);
    }).observe(document, { subtree: true, childList: true, attributes: true });
  });
});

after(async () => {
  if (browser) await browser.close();
  await stopNasd(nasd, logLines);
});

test('the jobs page loads with the submit form and its defaults', async () => {
  await page.goto(base + '/');
  await page.waitForSelector('#submit-form select[name=algorithm] option[value=darts]', { state: 'attached' });
  assert.equal(await page.inputValue('select[name=algorithm]'), 'darts', 'the default algorithm is preselected');
  const hint = await page.textContent('label:has(input[name=epochs]) .hint');
  assert.match(hint, /darts 50/, 'the default budget is shown');
  await page.waitForSelector('#jobs tbody tr');
  await shot('01-jobs-empty');
});

test('a bad field gets the API\'s error inline, next to it', async () => {
  await page.goto(base + '/');
  await page.waitForSelector('select[name=dataset] option[value=synthetic]', { state: 'attached' });
  await page.selectOption('select[name=dataset]', 'synthetic');
  await page.fill('input[name=epochs]', '-1');
  await page.click('#submit-form button[type=submit]');
  const err = page.locator('#err-epochs');
  await err.waitFor({ state: 'visible' });
  const text = await err.textContent();
  assert.match(text, /\/budget\/epochs/, `the error names the field: ${text}`);
  assert.equal(await page.getAttribute('input[name=epochs]', 'aria-invalid'), 'true');
  assert.equal(await page.textContent('#err-seed'), '', 'other fields carry no error');
  assert.match(page.url(), /#\/?$|\/$/, 'no job page was opened');
  const jobs = await apiJson('/v1/jobs');
  assert.equal(jobs.body.jobs.length, 0, 'no job was made');
  await shot('02-inline-error');
  /* Invalid JSON in the hyperparameters is caught before sending. */
  await page.fill('input[name=epochs]', '1');
  await page.fill('textarea[name=hyperparameters]', '{"C": ');
  await page.click('#submit-form button[type=submit]');
  await page.locator('#err-hyperparameters').waitFor({ state: 'visible' });
  assert.equal(await page.textContent('#err-epochs'), '', 'the old error is cleared');
});

let jobId;

test('a job submitted from the form runs live and ends with its cell drawn', async () => {
  /* However fast the machine, the job waits in the queue behind this one
   * (the only worker's) until its page is open. */
  const blocker = await apiJson('/v1/jobs', {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ algorithm: 'train', dataset: 'synthetic', name: 'blocker', budget: { epochs: 1000 },
      architecture: { space: 'fixed-cnn', channels: [8, 16], hidden: 32 } }),
  });
  assert.equal(blocker.status, 202);
  await page.goto(base + '/');
  await page.waitForSelector('select[name=dataset] option[value=synthetic]', { state: 'attached' });
  await page.fill('input[name=name]', 'browser-darts');
  await page.selectOption('select[name=algorithm]', 'darts');
  await page.selectOption('select[name=dataset]', 'synthetic');
  await page.fill('input[name=epochs]', '1');
  await page.fill('input[name=seed]', '7');
  await page.fill('textarea[name=hyperparameters]', TINY_HP);
  await page.click('#submit-form button[type=submit]');
  await page.waitForURL(/#\/job\/[0-9a-f]{32}/);
  jobId = page.url().match(/#\/job\/([0-9a-f]{32})/)[1];
  const stored = await apiJson(`/v1/jobs/${jobId}`);
  assert.equal(stored.body.name, 'browser-darts');
  assert.equal(stored.body.spec.hyperparameters.max_examples, 960);
  assert.equal(stored.body.spec.budget.epochs, 1);
  await page.waitForFunction(() => document.querySelector('#app h2 [data-state]')?.dataset.state === 'queued');
  const cancelled = await apiJson(`/v1/jobs/${blocker.body.id}:cancel`, { method: 'POST' });
  assert.equal(cancelled.status, 202, JSON.stringify(cancelled.body));

  /* Progress advances: the bar shows values strictly between 0 and 100
   * before it reaches 100. */
  await page.waitForFunction(() => window.__progress.some(v => v > 0 && v < 100), null, { timeout: JOB_MS });
  await shot('03-job-running');
  await page.waitForFunction(() => document.querySelector('#app h2 [data-state]')?.dataset.state === 'succeeded', null, { timeout: JOB_MS });
  const seen = await page.evaluate(() => window.__progress);
  const mid = seen.filter(v => v > 0 && v < 100);
  assert.ok(mid.length >= 2, `progress advanced through several values: ${seen.join(',')}`);
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i] >= seen[i - 1], `progress never goes back: ${seen.join(',')}`);
  assert.equal(seen[seen.length - 1], 100);

  /* The final cells: the server's SVG, loaded as an image. */
  await page.waitForFunction(() => { const i = document.querySelector('#result-svg'); return i && i.complete && i.naturalWidth > 100; }, null, { timeout: 30000 });
  const svg = await (await fetch(`${base}/v1/jobs/${jobId}/result?format=svg`)).text();
  assert.match(svg, />normal cell</);
  assert.match(svg, />reduction cell</);
  /* Curves of this job. */
  await page.locator('#chart-loss canvas').first().waitFor();
  await page.locator('#chart-accuracy canvas').first().waitFor();
  await page.locator('#alpha-card canvas[data-cell=normal]').waitFor();
  /* DARTS reports per epoch: its curves are drawn by epoch. */
  await page.waitForSelector('#chart-loss[data-x=epoch]');
  /* The heatmap's colour scale is drawn with its values, and each op has
   * a row tall enough to name it (issue #15 item 6). */
  assert.equal(await page.locator('#alpha-scale canvas').count(), 1);
  const rowsPx = await page.$eval('#alpha-card canvas[data-cell=normal]', c => c.height / 14);
  assert.ok(rowsPx >= 8 * 9, `an edge's band is ${rowsPx} px for its 8 ops`);
  await shot('04-job-succeeded');
});

test('an architecture opens, and a reload keeps the view', async () => {
  const row = page.locator('#arch-table tbody tr').first();
  await row.waitFor();
  const seq = await row.getAttribute('data-number');
  await row.click();
  await page.waitForFunction(() => { const i = document.querySelector('#arch-svg'); return i && i.complete && i.naturalWidth > 100; });
  assert.match(page.url(), new RegExp(`arch=${seq}`));
  /* Sorting is in the URL too. */
  await page.click('#arch-table th[data-sort=reward]');
  assert.match(page.url(), /sort=reward/);
  await page.reload();
  await page.waitForFunction(() => { const i = document.querySelector('#arch-svg'); return i && i.complete && i.naturalWidth > 100; });
  assert.equal(await page.getAttribute('#arch-table th[data-sort=reward]', 'aria-sort'), 'descending');
  assert.equal(await page.locator(`#arch-table tr.selected[data-number="${seq}"]`).count(), 1);
  await shot('05-architecture-open');
});

test('the job list filters by state, cancels and deletes a job', async () => {
  /* A long job to cancel, through the API. */
  const long = await apiJson('/v1/jobs', {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ algorithm: 'train', dataset: 'synthetic', name: 'long-train', budget: { epochs: 1000 },
      architecture: { space: 'fixed-cnn', channels: [8, 16], hidden: 32 } }),
  });
  assert.equal(long.status, 202);
  await page.goto(base + '/#/?state=succeeded');
  await page.waitForSelector(`#jobs tbody tr[data-id="${jobId}"]`);
  assert.equal(await page.inputValue('#state-filter'), 'succeeded', 'the filter comes from the URL');
  assert.equal(await page.locator(`#jobs tbody tr[data-id="${long.body.id}"]`).count(), 0);
  await page.selectOption('#state-filter', '');
  const longRow = page.locator(`#jobs tbody tr[data-id="${long.body.id}"]`);
  await longRow.waitFor();
  await longRow.locator('button[data-action=cancel]').click();
  await page.waitForFunction(id => document.querySelector(`#jobs tr[data-id="${id}"] [data-state]`)?.dataset.state === 'cancelled', long.body.id, { timeout: 30000 });
  await shot('06-jobs-after-cancel');
  /* Finished, it can be deleted (after a confirmation). */
  page.once('dialog', d => d.accept());
  await longRow.locator('button[data-action=delete]').click();
  await page.waitForFunction(id => !document.querySelector(`#jobs tr[data-id="${id}"]`), long.body.id);
  assert.equal((await apiJson(`/v1/jobs/${long.body.id}`)).status, 404);
});

/* Two jobs ticked in the list open the compare view (issue #15 item 5):
 * a row per job with its best architecture drawn by nasd, and the loss
 * curves of both overlaid in one chart. */
test('chosen jobs compare side by side', async () => {
  const other = await apiJson('/v1/jobs', {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ algorithm: 'darts', dataset: 'synthetic', name: 'compare-darts', budget: { epochs: 1 }, seed: 7,
      hyperparameters: { C: 4, layers: 3, batch_size: 8, max_examples: 64 } }),
  });
  assert.equal(other.status, 202);
  const deadline = Date.now() + 120000;
  for (;;) {
    const j = (await apiJson(`/v1/jobs/${other.body.id}`)).body;
    if (j.state === 'succeeded') break;
    assert.ok(!['failed', 'cancelled'].includes(j.state), j.state);
    assert.ok(Date.now() < deadline, `compare-darts still ${j.state}`);
    await new Promise(r => setTimeout(r, 100));
  }
  await page.goto(base + '/#/');
  await page.waitForSelector(`#jobs tbody tr[data-id="${other.body.id}"]`);
  assert.ok(await page.isDisabled('#compare'), 'nothing chosen yet');
  await page.check(`#jobs tr[data-id="${jobId}"] input.choose`);
  await page.check(`#jobs tr[data-id="${other.body.id}"] input.choose`);
  await page.click('#compare');
  await page.waitForSelector('#compare-table tbody tr:nth-child(2)');
  assert.match(page.url(), new RegExp(`#/compare\\?ids=.*${other.body.id}`));
  assert.equal(await page.locator('#compare-table tbody tr').count(), 2);
  await page.waitForFunction(() => Array.from(document.querySelectorAll('#compare-table img')).every(i => i.complete && i.naturalWidth > 50));
  await page.locator('#chart-loss canvas').first().waitFor();
  const points = JSON.parse(await page.getAttribute('#chart-loss', 'data-points'));
  const labels = Object.keys(points);
  assert.ok(labels.some(l => l.startsWith('compare-darts: ')) && labels.some(l => !l.startsWith('compare-darts: ')),
    `both jobs' curves in one chart: ${labels}`);
  await shot('08-compare');
});

/* A second nasd that asks for a token (--token-file): the dashboard asks
 * the user once (a prompt), keeps the token in localStorage, and from
 * then on its API calls, its event stream and its drawings carry it. */
test('with a token, the dashboard asks for it once and then works', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nasd-browser-token-'));
  const tokenFile = join(dir, 'tokens');
  writeFileSync(tokenFile, 'secret-token-for-the-browser-test\n');
  const lines = [];
  const tnasd = await startNasd({ workers: 1, prefix: 'nasd-browser-token-state-', logLines: lines,
    extra: ['--token-file', tokenFile] });
  const tbase = tnasd.base;
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const tpage = await ctx.newPage();
  tpage.setDefaultTimeout(30000);
  let prompts = 0;
  const unauthorized = [];
  tpage.on('dialog', d => { prompts++; d.accept('secret-token-for-the-browser-test'); });
  tpage.on('response', r => { if (r.status() === 401) unauthorized.push(r.url()); });
  try {
    assert.equal((await fetch(tbase + '/v1/jobs')).status, 401, 'the API needs the token');
    await tpage.goto(tbase + '/');
    await tpage.waitForSelector('#jobs tbody tr');
    assert.equal(prompts, 1, 'asked once');
    const early = unauthorized.length;   /* the page's first requests, sent before it knew */
    /* A job submitted with the token, opened in the page: its live stream
     * (EventSource, ?access_token=) connects and it ends drawn. */
    const res = await fetch(tbase + '/v1/jobs', {
      method: 'POST',
      headers: { Authorization: 'Bearer secret-token-for-the-browser-test', 'Content-Type': 'application/json' },
      body: `{"algorithm":"darts","dataset":"synthetic","budget":{"epochs":1},"hyperparameters":${TINY_HP},"seed":3}`,
    });
    assert.equal(res.status, 202);
    const { id } = await res.json();
    await tpage.goto(`${tbase}/#/job/${id}`);
    await tpage.waitForSelector('#result-svg', { timeout: JOB_MS });
    await tpage.waitForFunction(() => document.querySelector('#result-svg').naturalWidth > 0);
    assert.equal(prompts, 1, 'not asked again');
    assert.deepEqual(unauthorized.slice(early), [], 'every later request carried the token');
    await shotOf(tpage, '07-token');
  } finally {
    await ctx.close();
    await stopNasd(tnasd, lines);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('no request left nasd\'s origin', () => {
  assert.deepEqual(foreign, []);
});
