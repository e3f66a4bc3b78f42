// SPDX-License-Identifier: MIT
/*
 * common.mjs - what the browser tests share (dashboard.test.mjs,
 * controller.test.mjs): a real nasd on a loopback port with a temporary
 * state directory, Debian's chromium through playwright-core, screenshots,
 * and the JSON API.
 *
 * The one design decision to know: nasd's port is read from its
 * "listening on http://127.0.0.1:PORT" line (never guessed), and its log
 * is kept in the caller's array, which the caller also fills with page
 * errors, so a failed file prints one story; the state directory is
 * removed only when the file passed.
 *
 * Environment: NASD (the nasd binary, required), CHROMIUM (default
 * /usr/bin/chromium), SCREENSHOT_DIR, NASD_WEB_DIR (default ../../web).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const NASD = process.env.NASD;
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const WEB = process.env.NASD_WEB_DIR || resolve(here, '../../web');
export const SHOTS = process.env.SCREENSHOT_DIR || join(here, 'screenshots');

/* Starts nasd with `workers` workers of one thread each (and the arguments
 * of `extra`) in a new directory named from `prefix`; resolves to { proc,
 * base, stateDir } once it listens. Its output goes to logLines. */
export function startNasd({ workers, prefix, logLines, extra = [] }) {
  assert.ok(NASD, 'set NASD to the nasd binary');
  const stateDir = mkdtempSync(join(tmpdir(), prefix));
  return new Promise((resolveStart, reject) => {
    const args = ['--listen', '127.0.0.1:0', '--state-dir', stateDir, '--workers', String(workers),
      '--threads-per-job', '1', '--web-dir', WEB, ...extra];
    const proc = spawn(NASD, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let base;
    const timer = setTimeout(() => reject(new Error(`nasd did not start:\n${logLines.join('')}`)), 20000);
    const onData = chunk => {
      logLines.push(chunk.toString());
      const m = logLines.join('').match(/listening on (http:\/\/127\.0\.0\.1:\d+)/);
      if (m && !base) {
        base = m[1];
        clearTimeout(timer);
        resolveStart({ proc, base, stateDir });
      }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.on('exit', code => {
      if (!base) {
        clearTimeout(timer);
        reject(new Error(`nasd exited with ${code}:\n${logLines.join('')}`));
      }
    });
  });
}

/* SIGTERM (SIGKILL after 20 s); then the log when the file failed, else
 * the state directory goes. */
export async function stopNasd(nasd, logLines) {
  if (nasd && nasd.proc.exitCode == null) {
    nasd.proc.kill('SIGTERM');
    await new Promise(r => {
      const t = setTimeout(() => { nasd.proc.kill('SIGKILL'); r(); }, 20000);
      nasd.proc.on('exit', () => { clearTimeout(t); r(); });
    });
  }
  if (process.exitCode && process.exitCode !== 0) console.log(logLines.join(''));
  else if (nasd) rmSync(nasd.stateDir, { recursive: true, force: true });
}

/* Chromium (without its sandbox when run as root, which it refuses
 * otherwise) and a 1280x900 page with a 30 s default timeout. */
export async function openBrowser() {
  mkdirSync(SHOTS, { recursive: true });
  console.log(`# screenshots are written to ${SHOTS}`);
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: root ? ['--no-sandbox'] : [] });
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  page.setDefaultTimeout(30000);
  return { browser, page };
}

/* A full-page screenshot SHOTS/name.png, named in the log. */
export async function shot(page, name) {
  const path = join(SHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  console.log(`# screenshot: ${path}`);
}

/* fetch(base + path, opts): the status and the JSON body (null if none). */
export async function apiJson(base, path, opts) {
  const res = await fetch(base + path, opts);
  return { status: res.status, body: await res.json().catch(() => null) };
}

/* POST /v1/jobs of spec as application/json, which must answer 202: the id. */
export async function submitJob(base, spec) {
  const r = await apiJson(base, '/v1/jobs', {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(spec),
  });
  assert.equal(r.status, 202, JSON.stringify(r.body));
  return r.body.id;
}
