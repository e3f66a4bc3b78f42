// SPDX-License-Identifier: MIT
/*
 * controller.test.mjs - the dashboard's views of the controller-based
 * searches (issue #7 with #5 and #6) in a real browser: Debian's chromium
 * driven by playwright-core against a real nasd (the built binary) on a
 * loopback port with a temporary state directory, running real jobs on the
 * synthetic dataset.
 *
 * A tiny ENAS search over enas-micro and a tiny NAS-RL search over
 * nasrl-cnn are submitted through the API. On each job's page: the reward
 * chart holds one point per architecture row the API returns, with their
 * moving average and the controller's baseline; the entropy chart holds
 * one point per controller_entropy value; the architecture table sorts by
 * reward (descending, then ascending) when its header is clicked; the best
 * row opens, drawn by the server; the final architecture is drawn. A
 * random search over nasrl-cnn shows its rewards without controller
 * charts. Every
 * sampled architecture of both jobs can be drawn by the server (SVG), the
 * guard against a mismatch between what the engine emits and what
 * api/render.c reads.
 *
 * The one design decision to know: what a chart draws is read from the
 * data-points attribute that app.js writes from the very arrays it hands
 * to uPlot (non-null values per series, after downsampling), and compared
 * with what the API says; every wait is a condition with a deadline.
 * Screenshots go to $SCREENSHOT_DIR, each named in the log.
 *
 * Environment: as tests/browser/common.mjs (NASD, CHROMIUM,
 * SCREENSHOT_DIR, NASD_WEB_DIR).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startNasd, stopNasd, openBrowser, shot as shotOf, apiJson as api, submitJob } from './common.mjs';

const JOB_MS = 90000;

/* As tests/test_integration_enas.c, longer, to be watched live: 30
 * epochs of 10 controller steps of 2 children = 600 architecture rows
 * (a few seconds on two cores). */
const ENAS_EPOCHS = 30, ENAS_STEPS = 10, ENAS_AGG = 2;
const ENAS_SPEC = {
  name: 'browser-enas-micro', algorithm: 'enas', search_space: 'enas-micro', dataset: 'synthetic', seed: 3,
  budget: { epochs: ENAS_EPOCHS },
  hyperparameters: { C: 4, layers: 1, nodes: 3, batch_size: 8, max_examples: 48, train_portion: 0.5, lstm_size: 16,
    controller_steps: ENAS_STEPS, controller_aggregate: ENAS_AGG, final_samples: 4 },
};
/* Keeps a worker busy until it is cancelled. */
const BLOCKER_SPEC = Object.assign({}, ENAS_SPEC, { name: 'browser-blocker', budget: { epochs: 40000 } });
/* As tests/test_integration_nasrl.c: 6 children, 2 per update. */
const NASRL_ARCHS = 6;
const NASRL_SPEC = {
  name: 'browser-nas-rl', algorithm: 'nas-rl', dataset: 'synthetic', seed: 5,
  budget: { max_architectures: NASRL_ARCHS },
  hyperparameters: { child_epochs: 1, batch_size: 50, children_per_update: 2, lstm_size: 16,
    start_layers: 2, max_layers: 2, filter_heights: [1, 3], filter_widths: [1, 3], num_filters: [4, 6],
    max_examples: 1000 },
};

/* Random search over the same space: rewards but no controller. */
const RANDOM_SPEC = {
  name: 'browser-random', algorithm: 'random', search_space: 'nasrl-cnn', dataset: 'synthetic', seed: 5,
  budget: { max_architectures: 3 },
  hyperparameters: { child_epochs: 1, batch_size: 50, start_layers: 2, max_layers: 2, filter_heights: [1, 3],
    filter_widths: [1, 3], num_filters: [4, 6], max_examples: 1000 },
};

let nasd, base, browser, page;
const shot = name => shotOf(page, name);
const apiJson = (path, opts) => api(base, path, opts);
const submit = spec => submitJob(base, spec);
const logLines = [];
const pageErrors = [];
const ids = {};

async function waitSucceeded(id) {
  const deadline = Date.now() + JOB_MS;
  for (;;) {
    const { body } = await apiJson(`/v1/jobs/${id}`);
    if (body.state === 'succeeded') return body;
    assert.ok(!['failed', 'cancelled'].includes(body.state), `job ${id} ended ${body.state}: ${JSON.stringify(body.error)}`);
    assert.ok(Date.now() < deadline, `job ${id} still ${body.state} after ${JOB_MS} ms`);
    await new Promise(r => setTimeout(r, 200));
  }
}

/* The points each series of a chart draws, as app.js recorded them. */
async function chartPoints(id) {
  const attr = await page.getAttribute(`#chart-${id}`, 'data-points');
  return attr ? JSON.parse(attr) : {};
}

const imgDrawn = sel => page.waitForFunction(s => { const i = document.querySelector(s); return i && i.complete && i.naturalWidth > 100; }, sel);

before(async () => {
  nasd = await startNasd({ workers: 2, prefix: 'nasd-browser-ctrl-', logLines });
  base = nasd.base;
  /* These run while the browser starts (two workers). */
  ids.nasrl = await submit(NASRL_SPEC);
  ids.random = await submit(RANDOM_SPEC);
  ({ browser, page } = await openBrowser());
  page.on('pageerror', e => { pageErrors.push(e.message); logLines.push(`pageerror: ${e.message}\n`); });
  /* Every count of architectures each page's table ever shows. */
  await page.context().addInitScript(() => {
    window.__rows = [];
    new MutationObserver(() => {
      const m = (document.querySelector('#arch-page')?.textContent || '').match(/\((\d+) architectures\)/);
      if (m && window.__rows[window.__rows.length - 1] !== Number(m[1])) window.__rows.push(Number(m[1]));
    }).observe(document, { subtree: true, childList: true, characterData: true });
  });
});

after(async () => {
  if (browser) await browser.close();
  await stopNasd(nasd, logLines);
});

/* The job's page once it has succeeded: the header says so and the table
 * holds every row. */
async function openFinished(id, rows) {
  await waitSucceeded(id);
  await page.goto(`${base}/#/job/${id}`);
  await page.waitForFunction(() => document.querySelector('#app h2 [data-state]')?.dataset.state === 'succeeded');
  await page.waitForFunction(n => (document.querySelector('#arch-page')?.textContent || '').includes(`(${n} architectures)`), rows);
}

/* The reward chart: a point per row, the moving average over all of them,
 * the baseline at as many places as the controller reported it (each at a
 * distinct architecture count). The entropy chart: a point per value. */
async function checkCharts(id, rows, what) {
  const metrics = (await apiJson(`/v1/jobs/${id}/metrics`)).body.metrics;
  const count = name => metrics.filter(m => m.name === name).length;
  assert.ok(count('baseline') >= 2 && count('controller_entropy') >= 2, `${what}: the engine reports the controller: ${metrics.map(m => m.name)}`);
  await page.locator('#chart-reward canvas').first().waitFor();
  await page.waitForFunction(() => document.querySelector('#chart-reward')?.dataset.points);
  const reward = await chartPoints('reward');
  assert.equal(reward.reward, rows.length, `${what}: one reward point per architecture row: ${JSON.stringify(reward)}`);
  const ma = Object.keys(reward).find(k => k.startsWith('moving average'));
  assert.ok(ma, `${what}: a moving average: ${JSON.stringify(reward)}`);
  assert.equal(reward[ma], rows.length);
  assert.equal(reward.baseline, count('baseline'), `${what}: the baseline at each update: ${JSON.stringify(reward)}`);
  await page.locator('#chart-entropy canvas').first().waitFor();
  const entropy = await chartPoints('entropy');
  assert.equal(entropy.controller_entropy, count('controller_entropy'), `${what}: ${JSON.stringify(entropy)}`);
  assert.ok(await page.isHidden('[data-chart=baseline]'), `${what}: the baseline is in the reward chart, not a chart of its own`);
}

/* Sorted by reward on a click (descending), on a second click ascending;
 * the best row opens and is drawn. */
async function checkTable(id, rows, what, svgText) {
  const tableRewards = () => page.$$eval('#arch-table tbody tr', trs => trs.map(tr => tr.dataset.number));
  await page.click('#arch-table th[data-sort=reward]');
  assert.match(page.url(), /sort=reward&dir=desc/);
  assert.equal(await page.getAttribute('#arch-table th[data-sort=reward]', 'aria-sort'), 'descending');
  const bySeq = new Map(rows.map(r => [String(r.number), r.reward]));
  const shown = (await tableRewards()).map(s => bySeq.get(s));
  assert.equal(shown.length, Math.min(50, rows.length), `${what}: every row is in the table`);
  const desc = rows.map(r => r.reward).sort((a, b) => b - a).slice(0, 50);
  assert.deepEqual(shown, desc, `${what}: the table is sorted by reward, best first`);
  await page.click('#arch-table th[data-sort=reward]');
  assert.match(page.url(), /sort=reward&dir=asc/);
  const asc = (await tableRewards()).map(s => bySeq.get(s));
  assert.deepEqual(asc, rows.map(r => r.reward).sort((a, b) => a - b).slice(0, 50), `${what}: ascending on a second click`);
  await page.click('#arch-table th[data-sort=reward]');
  const best = page.locator('#arch-table tbody tr').first();
  const seq = await best.getAttribute('data-number');
  await best.click();
  await imgDrawn('#arch-svg');
  assert.match(page.url(), new RegExp(`arch=${seq}(&|$)`));
  assert.match(await page.textContent('#arch-detail h3'), new RegExp(`Architecture ${seq}`));
  const svg = await (await fetch(`${base}/v1/jobs/${id}/architectures/${seq}?format=svg`)).text();
  for (const t of svgText) assert.match(svg, t, `${what}: architecture ${seq} drawn`);
}

/* Every row and the result can be drawn by the server. */
async function checkAllDrawn(id, rows, kind) {
  for (const r of rows) {
    const res = await fetch(`${base}/v1/jobs/${id}/architectures/${r.number}?format=svg`);
    const body = await res.text();
    assert.equal(res.status, 200, `row ${r.number} ${JSON.stringify(r.architecture)}: ${body}`);
    assert.match(body, new RegExp(`data-kind="${kind}"`));
  }
  const res = await fetch(`${base}/v1/jobs/${id}/result?format=svg`);
  assert.equal(res.status, 200, await res.text());
}

test('an ENAS micro search: rows arrive live; rewards, baseline, entropy, sorted table, cells drawn', async () => {
  const what = 'enas-micro';
  /* Submitted now and opened at once: its rows arrive while it runs,
   * over the event stream. */
  /* However fast the machine, it waits in the queue behind two blockers
   * (one per worker) until the page has loaded its empty history. */
  const blockers = [await submit(BLOCKER_SPEC), await submit(BLOCKER_SPEC)];
  ids.enas = await submit(ENAS_SPEC);
  assert.equal((await apiJson(`/v1/jobs/${ids.enas}`)).body.state, 'queued');
  await page.goto(`${base}/#/job/${ids.enas}`);
  await page.waitForFunction(() => document.querySelector('#app h2 [data-state]')?.dataset.state === 'queued');
  await page.waitForFunction(() => (document.querySelector('#architectures')?.textContent || '').includes('None yet.'));
  for (const b of blockers) {
    const r = await apiJson(`/v1/jobs/${b}:cancel`, { method: 'POST' });
    assert.ok(r.status === 200 || r.status === 202, `cancel ${b}: ${r.status} ${JSON.stringify(r.body)}`);
  }
  await waitSucceeded(ids.enas);
  const all = (await apiJson(`/v1/jobs/${ids.enas}/architectures?limit=1000`)).body.architectures;
  assert.equal(all.length, ENAS_EPOCHS * ENAS_STEPS * ENAS_AGG, 'one row per controller child');
  await page.waitForFunction(() => document.querySelector('#app h2 [data-state]')?.dataset.state === 'succeeded');
  await page.waitForFunction(n => (document.querySelector('#arch-page')?.textContent || '').includes(`(${n} architectures)`), all.length);
  const live = await page.evaluate(() => window.__rows);
  console.log(`# rows the table showed while the job ran: ${live.join(',')}`);
  const mid = live.filter(n => n > 0 && n < all.length);
  assert.ok(mid.length >= 2, `the table grew while the job ran: ${live.join(',')}`);
  for (let i = 1; i < live.length; i++) assert.ok(live[i] > live[i - 1], `rows never go back: ${live.join(',')}`);
  await checkCharts(ids.enas, all, what);
  /* The final cells, drawn by the server. */
  await imgDrawn('#result-svg');
  const svg = await (await fetch(`${base}/v1/jobs/${ids.enas}/result?format=svg`)).text();
  assert.match(svg, />normal cell</);
  assert.match(svg, />reduction cell</);
  await shot('20-enas-micro');
  await checkTable(ids.enas, all, what, [/>normal cell</, />reduction cell</]);
  assert.equal(await page.locator('#arch-table th[data-sort=epoch]').count(), 1, 'ENAS rows have an epoch');
  await shot('21-enas-micro-architecture');
  await checkAllDrawn(ids.enas, all, 'enas-micro');
});

/* Opened while the job runs, with the event stream's request held back
 * (as a slow network might) until the job is a fifth done: the history
 * and the stream together hold every row, none twice. */
test('a page opened on a running search misses no row', async () => {
  let id;
  const delay = async route => {
    for (let t = Date.now(); Date.now() - t < JOB_MS;) {
      const { body } = await apiJson(`/v1/jobs/${id}`);
      if (body.state !== 'queued' && body.state !== 'running') break;
      if (body.progress && body.progress.fraction >= 0.2) break;
      await new Promise(r => setTimeout(r, 20));
    }
    await route.continue().catch(() => {});
  };
  await page.route('**/events', delay);
  id = await submit(ENAS_SPEC);
  await page.evaluate(() => { window.__rows = []; });
  await page.goto(`${base}/#/job/${id}`);
  await waitSucceeded(id);
  await page.unroute('**/events', delay);
  const n = ENAS_EPOCHS * ENAS_STEPS * ENAS_AGG;
  await page.waitForFunction(() => document.querySelector('#app h2 [data-state]')?.dataset.state === 'succeeded');
  await page.waitForFunction(n => (document.querySelector('#arch-page')?.textContent || '').includes(`(${n} architectures)`), n);
  const live = await page.evaluate(() => window.__rows);
  console.log(`# rows the table showed: ${live.join(',')}`);
  for (let i = 1; i < live.length; i++) assert.ok(live[i] > live[i - 1], `rows never go back: ${live.join(',')}`);
  await page.waitForFunction(() => document.querySelector('#chart-reward')?.dataset.points);
  assert.equal((await chartPoints('reward')).reward, n, 'one reward point per row');
});

test('a NAS-RL search: rewards, baseline, entropy, sorted table, network drawn', async () => {
  const what = 'nas-rl';
  await waitSucceeded(ids.nasrl);
  const all = (await apiJson(`/v1/jobs/${ids.nasrl}/architectures?limit=1000`)).body.architectures;
  assert.equal(all.length, NASRL_ARCHS);
  await openFinished(ids.nasrl, all.length);
  await checkCharts(ids.nasrl, all, what);
  await imgDrawn('#result-svg');
  const svg = await (await fetch(`${base}/v1/jobs/${ids.nasrl}/result?format=svg`)).text();
  assert.match(svg, />classifier</);
  await shot('22-nas-rl');
  await checkTable(ids.nasrl, all, what, [/>image</, />classifier</]);
  assert.equal(await page.locator('#arch-table th[data-sort=epoch]').count(), 0, 'no empty epoch column');
  await shot('23-nas-rl-architecture');
  await checkAllDrawn(ids.nasrl, all, 'nasrl-cnn');
});

test('a random search: rewards and their moving average, no controller charts', async () => {
  await waitSucceeded(ids.random);
  const all = (await apiJson(`/v1/jobs/${ids.random}/architectures?limit=1000`)).body.architectures;
  assert.equal(all.length, 3);
  await openFinished(ids.random, all.length);
  await page.waitForFunction(() => document.querySelector('#chart-reward')?.dataset.points);
  const reward = await chartPoints('reward');
  assert.equal(reward.reward, all.length, JSON.stringify(reward));
  assert.equal(reward.baseline, undefined, 'no baseline without a controller');
  assert.ok(await page.isHidden('[data-chart=entropy]'), 'no entropy chart without a controller');
  await imgDrawn('#result-svg');
  await shot('24-random');
  await checkAllDrawn(ids.random, all, 'nasrl-cnn');
});

test('a refresh keeps the sort and the open architecture', async () => {
  await page.goto(`${base}/#/job/${ids.nasrl}?sort=reward&dir=desc`);
  const first = page.locator('#arch-table tbody tr').first();
  await first.click();
  await imgDrawn('#arch-svg');
  const seq = new URL(page.url()).hash.match(/arch=(\d+)/)[1];
  await page.reload();
  await imgDrawn('#arch-svg');
  assert.equal(await page.getAttribute('#arch-table th[data-sort=reward]', 'aria-sort'), 'descending');
  assert.equal(await page.locator(`#arch-table tr.selected[data-number="${seq}"]`).count(), 1);
});

test('no script error on the way', () => {
  assert.deepEqual(pageErrors, []);
});
