// SPDX-License-Identifier: MIT
/*
 * datasets.test.mjs - the datasets page in a real browser (issue #21):
 * a user uploads a tar of PNG images made here from the page's form,
 * watches the progress bar, finds the dataset in the table with its
 * metadata and sample grid, finds it in the submit form's datasets, gets
 * a refused archive's problem (naming the entry) next to the form, and
 * deletes the dataset. No request may leave nasd's origin.
 *
 * The one design decision to know: the archive and its images are made
 * in this file (a ustar writer and a PNG writer over node:zlib, a few
 * lines each), so the test needs nothing installed beyond run.sh's. Every
 * wait is a condition with a deadline.
 *
 * Environment: as tests/browser/common.mjs (NASD, CHROMIUM,
 * SCREENSHOT_DIR, NASD_WEB_DIR).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { deflateSync } from 'node:zlib';
import { startNasd, stopNasd, openBrowser, shot as shotOf, apiJson as api } from './common.mjs';

let nasd, base, browser, page;
const shot = name => shotOf(page, name);
const apiJson = (path, opts) => api(base, path, opts);
const foreign = [];
const logLines = [];

/* ------------------------------------------------- PNG and tar writers */

const CRC = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const len = Buffer.alloc(4), crc = Buffer.alloc(4), td = Buffer.concat([Buffer.from(type), data]);
  len.writeUInt32BE(data.length);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}
/* A w x h greyscale PNG: a bright left (cls 0) or right (cls 1) half. */
function png(w, h, cls, seed) {
  const rows = [];
  for (let y = 0; y < h; y++) {
    const row = Buffer.alloc(w + 1);
    for (let x = 0; x < w; x++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      row[x + 1] = ((x < w / 2) === (cls === 0) ? 200 : 30) + (seed >>> 28);
    }
    rows.push(row);
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8;
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr), chunk('IDAT', deflateSync(Buffer.concat(rows))), chunk('IEND', Buffer.alloc(0))]);
}
/* A ustar archive of [name, data] files. */
function tar(files) {
  const parts = [];
  for (const [name, data] of files) {
    const hd = Buffer.alloc(512);
    hd.write(name, 0, 100);
    hd.write('0000644\0', 100);
    hd.write('0000000\0', 108);
    hd.write('0000000\0', 116);
    hd.write(data.length.toString(8).padStart(11, '0') + '\0', 124);
    hd.write('00000000000\0', 136);
    hd.write('        ', 148);
    hd.write('0', 156);
    hd.write('ustar\0' + '00', 257);
    let sum = 0;
    for (const b of hd) sum += b;
    hd.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
    parts.push(hd, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}
function photos(extra = []) {
  const files = [];
  for (const [c, cls] of [['cat', 0], ['dog', 1]])
    for (let i = 0; i < 12; i++) files.push([`photos/${c}/${i}.png`, png(8, 8, cls, i + 1)]);
  return tar([...files, ...extra]);
}

/* ---------------------------------------------------------------- tests */

before(async () => {
  nasd = await startNasd({ workers: 1, prefix: 'nasd-browser-ds-', logLines });
  base = nasd.base;
  ({ browser, page } = await openBrowser());
  page.on('request', req => {
    const u = new URL(req.url());
    if (u.protocol !== 'data:' && u.protocol !== 'blob:' && u.origin !== base) foreign.push(req.url());
  });
  page.on('pageerror', e => { logLines.push(`pageerror: ${e.message}\n`); });
  page.on('dialog', d => d.accept());
  /* Every label the upload's progress bar ever shows. */
  await page.addInitScript(() => {
    window.__upload = [];
    new MutationObserver(() => {
      const em = document.querySelector('#upload-progress em');
      if (!em) return;
      const t = em.textContent;
      if (window.__upload[window.__upload.length - 1] !== t) window.__upload.push(t);
    }).observe(document, { subtree: true, childList: true, characterData: true });
  });
});

after(async () => {
  if (browser) await browser.close();
  await stopNasd(nasd, logLines);
});

test('a tar of images uploads from the form, with its progress, metadata and samples', async () => {
  await page.goto(base + '/#/datasets');
  await page.waitForSelector('#datasets tbody tr[data-name=fashion-mnist]');
  await shot('ds-01-datasets');
  await page.fill('#upload-form input[name=name]', 'photos');
  await page.setInputFiles('#upload-form input[name=file]',
    { name: 'photos.tar', mimeType: 'application/x-tar', buffer: photos() });
  await page.click('#upload-form button[type=submit]');
  await page.waitForFunction(() => /imported/.test(document.querySelector('#upload-status').textContent));
  const labels = await page.evaluate(() => window.__upload);
  assert.ok(labels.some(l => /sent|importing/.test(l)) && labels.includes('imported'),
    `the bar showed the upload: ${labels.join(' | ')}`);
  await page.waitForSelector('#datasets tbody tr[data-name=photos]');
  const detail = await page.textContent('#dataset-detail');
  assert.match(detail, /cat, dog/, 'the class names are shown');
  assert.match(detail, /1 × 8 × 8/, 'the shape is shown');
  await page.waitForFunction(() => {
    const img = document.querySelector('#dataset-samples');
    return img && img.complete && img.naturalWidth > 0;
  });
  assert.equal(await page.evaluate(() => document.querySelector('#dataset-samples').naturalWidth), 82,
    'the grid is 8 tiles of 8 pixels with 2-pixel gaps');
  assert.match(page.url(), /#\/datasets\?name=photos$/, 'the selection is in the URL');
  await shot('ds-02-uploaded');
});

test('a refused archive names the entry next to the form, and leaves no dataset', async () => {
  await page.fill('#upload-form input[name=name]', 'evil');
  await page.setInputFiles('#upload-form input[name=file]',
    { name: 'evil.tar', mimeType: 'application/x-tar', buffer: photos([['../evil.png', png(8, 8, 0, 1)]]) });
  await page.click('#upload-form button[type=submit]');
  await page.waitForFunction(() => /file: \.\.\/evil\.png/.test(document.querySelector('#upload-status').textContent));
  assert.equal((await apiJson('/v1/datasets/evil')).status, 404);
  await shot('ds-03-refused');
});

test('the resize field makes images of mixed sizes one size', async () => {
  await page.fill('#upload-form input[name=name]', 'mixed');
  await page.fill('#upload-form input[name=resize]', '8x8');
  await page.setInputFiles('#upload-form input[name=file]', { name: 'mixed.tar',
    mimeType: 'application/x-tar', buffer: photos([['photos/cat/wide.png', png(12, 8, 0, 1)]]) });
  await page.click('#upload-form button[type=submit]');
  await page.waitForFunction(() => /mixed: imported/.test(document.querySelector('#upload-status').textContent));
  const ds = await apiJson('/v1/datasets/mixed');
  assert.deepEqual(ds.body.shape, [1, 8, 8], 'the wide image was resized');
  assert.equal(ds.body.train_size + ds.body.test_size, 25);
});

test('the submit form offers the upload, and it can be deleted', async () => {
  await page.goto(base + '/');
  await page.waitForSelector('select[name=dataset] option[value=photos]', { state: 'attached' });
  await page.goto(base + '/#/datasets?name=photos');
  await page.click('#datasets button[data-delete=photos]');
  await page.waitForSelector('#datasets tbody tr[data-name=photos]', { state: 'detached' });
  assert.equal((await apiJson('/v1/datasets/photos')).status, 404);
  assert.deepEqual(foreign, [], 'no request left nasd\'s origin');
});
