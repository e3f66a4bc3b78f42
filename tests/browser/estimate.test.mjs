// SPDX-License-Identifier: MIT
/*
 * estimate.test.mjs - the submit form's estimate (issue #15 item 1): the
 * form runs a dry run before it submits and shows its steps, time and
 * memory; a job estimated above an hour is only created once the user
 * confirms (the default DARTS search on Fashion-MNIST, 23,400 steps, is
 * one); a short one is submitted at once. Chromium and a real nasd, as
 * dashboard.test.mjs.
 *
 * The one design decision to know: the jobs are counted through the API
 * after each click, so "no job until confirmed" is checked on the server,
 * not on what the page shows.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startNasd, stopNasd, openBrowser, shot as shotOf, apiJson as api } from './common.mjs';

let nasd, base, browser, page;
const logLines = [];
const shot = name => shotOf(page, name);
const jobs = async () => (await api(base, '/v1/jobs')).body.jobs;

before(async () => {
  nasd = await startNasd({ workers: 1, prefix: 'nasd-browser-estimate-', logLines });
  base = nasd.base;
  ({ browser, page } = await openBrowser());
  page.on('pageerror', e => { logLines.push(`pageerror: ${e.message}\n`); });
});

after(async () => {
  if (browser) await browser.close();
  await stopNasd(nasd, logLines);
});

test('a search estimated above an hour is submitted only once confirmed', async () => {
  await page.goto(base + '/');
  await page.waitForSelector('#submit-form select[name=algorithm] option[value=darts]', { state: 'attached' });
  await page.selectOption('select[name=algorithm]', 'darts');
  await page.selectOption('select[name=dataset]', 'fashion-mnist');
  await page.click('#estimate-button');
  await page.waitForSelector('#estimate .estimate-text');
  const text = await page.textContent('#estimate');
  assert.match(text, /23,400 steps/, text);
  assert.match(text, /peak memory/, text);
  assert.equal((await jobs()).length, 0, 'an estimate creates no job');

  await page.click('#submit-form button[type=submit]');
  await page.waitForSelector('#confirm-long');
  assert.match(await page.textContent('#confirm-long'), /more than an hour/);
  await shot('estimate-01-confirm');
  assert.equal((await jobs()).length, 0, 'no job before the answer');
  await page.click('#cancel-submit');
  await page.waitForSelector('#confirm-long', { state: 'detached' });
  assert.equal((await jobs()).length, 0, 'no job after cancel');

  await page.click('#submit-form button[type=submit]');
  await page.click('#confirm-submit');
  await page.waitForFunction(() => location.hash.startsWith('#/job/'));
  const id = await page.evaluate(() => location.hash.slice('#/job/'.length));
  const list = await jobs();
  assert.equal(list.length, 1);
  assert.equal(list[0].id, id);
  const r = await api(base, `/v1/jobs/${id}:cancel`, { method: 'POST' });
  assert.ok(r.status === 200 || r.status === 202, JSON.stringify(r.body));
});

test('a short job is submitted without a question, its estimate shown', async () => {
  await page.goto(base + '/');
  await page.waitForSelector('#submit-form select[name=algorithm] option[value=train]', { state: 'attached' });
  await page.selectOption('select[name=algorithm]', 'train');
  await page.selectOption('select[name=dataset]', 'synthetic');
  await page.fill('input[name=epochs]', '1');
  const before = (await jobs()).length;
  await page.click('#submit-form button[type=submit]');
  await page.waitForFunction(() => location.hash.startsWith('#/job/'));
  assert.equal((await jobs()).length, before + 1);
});
