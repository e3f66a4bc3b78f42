// SPDX-License-Identifier: MIT
/*
 * app.js - the nasd dashboard: one page, hash routes, only the public API.
 *
 *   #/?state=running                      the jobs table and the submit form
 *   #/compare?ids=ID,ID,...               chosen jobs side by side: curves
 *                                         overlaid, best architectures drawn
 *   #/?retrain=ID&number=N                the form filled in to retrain job
 *                                         ID's result (or row N) (model.js)
 *   #/job/ID?sort=reward&dir=desc&page=2&arch=NUMBER
 *                                         one job: live progress, curves,
 *                                         DARTS alphas, sampled architectures,
 *                                         the final cells drawn by the server
 *   #/datasets?name=NAME                  the datasets, uploads (datasets.js)
 *
 * The one design decision to know: every view state that matters (the
 * filter, the sort, the page, the open architecture) lives in the URL hash,
 * so a refresh or a shared link shows the same thing; the data is then
 * fetched again from the API, history first (paged with ?after=), and the
 * server-sent events stream keeps it current. Charts are drawn with uPlot
 * (vendored) from downsampled series; the cells are the server's own SVG
 * (GET ...?format=svg), so the browser never lays out a graph.
 */
'use strict';

/* ------------------------------------------------------------ helpers */

const $ = (sel, root = document) => root.querySelector(sel);

function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const kid of kids.flat()) {
    if (kid == null || kid === false) continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}

class ApiError extends Error {
  constructor(status, problem) {
    super(problem && problem.detail ? problem.detail : 'HTTP ' + status);
    this.status = status;
    this.problem = problem || {};
  }
}

/* The API token, when nasd is run with one (--token-file): kept in this
 * browser's localStorage, sent as a bearer header, and as ?access_token=
 * where a header cannot go (EventSource, <img src>). A 401 asks for it. */
const TOKEN_KEY = 'nasd-token';
const token = () => localStorage.getItem(TOKEN_KEY) || '';

function withToken(url) {
  const t = token();
  if (!t) return url;
  return `${url}${url.includes('?') ? '&' : '?'}access_token=${encodeURIComponent(t)}`;
}

/* A link to an API URL that opens in a new tab. With a token it is
 * fetched with the header and shown from a blob: nasd takes
 * ?access_token= only for event streams and drawings, and a token in a
 * URL would stay in the history. */
function apiLink(url, label) {
  return h('a', {
    href: url, target: '_blank', rel: 'noreferrer',
    onclick: ev => {
      const t = token();
      if (!t) return;
      ev.preventDefault();
      const w = window.open('', '_blank');
      fetch(url, { headers: { Authorization: `Bearer ${t}` } })
        .then(r => r.blob())
        .then(b => { if (w) w.location = URL.createObjectURL(b); })
        .catch(() => { if (w) w.close(); });
    },
  }, label);
}

let tokenDeclined = false;   /* asked once per page load, not on every poll */

function askToken(why) {
  if (tokenDeclined) return false;
  const t = prompt(`${why}\nAPI token (as in nasd's --token-file; empty to forget it):`, token());
  if (t === null) { tokenDeclined = true; return false; }
  if (t.trim()) localStorage.setItem(TOKEN_KEY, t.trim()); else localStorage.removeItem(TOKEN_KEY);
  return true;
}

async function api(path, opts = {}) {
  const t = token();
  const sent = t ? { ...opts, headers: { ...(opts.headers || {}), Authorization: `Bearer ${t}` } } : opts;
  const res = await fetch(path, sent);
  /* Requests sent together all come back 401: the first asks, the others
   * find the token changed since they left and just go again. */
  if (res.status === 401 && (token() !== t || askToken('nasd asks for an API token.')))
    return api(path, opts);
  if (res.status === 204) return null;
  const type = res.headers.get('Content-Type') || '';
  const body = type.includes('json') ? await res.json().catch(() => null) : await res.text();
  if (!res.ok) throw new ApiError(res.status, typeof body === 'object' ? body : { detail: body });
  return body;
}

/* Every page of a cursor-paged list (?after=SEQ&limit=N), calling onPage
 * with each batch as it arrives. */
/* Every item of a cursor-paged list from `after` on; returns the cursor
 * after the last item, to go on from later. */
async function pages(path, key, onPage, signal, after = 0) {
  for (;;) {
    const sep = path.includes('?') ? '&' : '?';
    const page = await api(`${path}${sep}after=${after}&limit=1000`, { signal });
    const items = page[key] || [];
    onPage(items);
    if (page.next_after == null || items.length === 0) return after;
    after = page.next_after;
  }
}

function fmtNum(v, digits = 4) {
  if (v == null || Number.isNaN(v)) return '';
  if (typeof v !== 'number') return String(v);
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(2) : v.toFixed(digits);
}

function fmtTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return d.toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

function fmtDuration(sec) {
  if (sec == null || !isFinite(sec) || sec < 0) return '';
  sec = Math.round(sec);
  const hh = Math.floor(sec / 3600), mm = Math.floor(sec / 60) % 60, ss = sec % 60;
  return hh ? `${hh}h ${mm}m` : mm ? `${mm}m ${ss}s` : `${ss}s`;
}

function jobDuration(j) {
  if (!j.started_at) return null;
  const end = j.finished_at ? Date.parse(j.finished_at) : Date.now();
  return (end - Date.parse(j.started_at)) / 1000;
}

const FINAL = new Set(['succeeded', 'failed', 'cancelled']);
const STATES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'];

function stateBadge(st) {
  return h('span', { class: `badge state-${st}`, 'data-state': st }, st);
}

function progressBar(p, big) {
  const f = p && typeof p.fraction === 'number' ? Math.max(0, Math.min(1, p.fraction)) : 0;
  const bar = h('span', { class: 'bar' + (big ? ' big' : ''), role: 'progressbar',
    'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': Math.round(f * 100) },
  h('span'), h('em', null, `${Math.round(f * 100)}%`));
  bar.firstChild.style.width = `${f * 100}%`;
  return bar;
}

/* The headline number of a job: its result, else its best architecture. */
function bestOf(j) {
  if (j.result && j.result.value != null) return `${j.result.metric} ${fmtNum(j.result.value)}`;
  const b = j.best_architecture;
  if (b && b.reward != null) return `reward ${fmtNum(b.reward)}`;
  const m = j.metrics || {};
  for (const k of ['val_accuracy', 'test_accuracy', 'train_accuracy', 'val_perplexity'])
    if (m[k]) return `${k} ${fmtNum(m[k].value)}`;
  return '';
}

/* ------------------------------------------------------------- routing */

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const [path, query] = raw.split('?');
  return { path, params: new URLSearchParams(query || '') };
}

/* Rewrites the hash's query without a new history entry or a re-route. */
function setParams(changes) {
  const { path, params } = parseHash();
  for (const [k, v] of Object.entries(changes)) {
    if (v == null || v === '') params.delete(k); else params.set(k, String(v));
  }
  const q = params.toString();
  history.replaceState(null, '', `#${path}${q ? '?' + q : ''}`);
}

let current = null;   /* the page object: {destroy()} */

function route() {
  if (current && current.destroy) current.destroy();
  current = null;
  const { path } = parseHash();
  const app = $('#app');
  app.replaceChildren();
  const m = path.match(/^\/job\/([0-9a-f]{32})$/);
  if (m) current = jobPage(app, m[1]);
  else if (path === '/compare') current = comparePage(app);
  else if (path === '/datasets') current = datasetsPage(app);
  else current = jobsPage(app);
}

window.addEventListener('hashchange', route);
window.addEventListener('DOMContentLoaded', route);

/* GET /v1/search-spaces: every algorithm, its spaces, their datasets and
 * every field with type, range, default and doc (the engine's one
 * job-spec table), for the submit form. */
let searchSpacesPromise = null;
function searchSpaces() {
  if (!searchSpacesPromise)
    searchSpacesPromise = api('/v1/search-spaces').catch(() => ({ algorithms: [] }));
  return searchSpacesPromise;
}

/* ============================================================ jobs page */

function jobsPage(app) {
  const { params } = parseHash();
  let stateFilter = params.get('state') || '';
  let timer = null, pageTokens = [null], pageIndex = 0, destroyed = false;

  const filter = h('select', { id: 'state-filter', 'aria-label': 'filter by state',
    onchange: () => { stateFilter = filter.value; setParams({ state: stateFilter }); pageTokens = [null]; pageIndex = 0; refresh(); } },
  h('option', { value: '' }, 'all states'), STATES.map(s => h('option', { value: s }, s)));
  filter.value = stateFilter;
  const tbody = h('tbody');
  const table = h('table', { id: 'jobs' },
    h('thead', null, h('tr', null, ['', 'name', 'id', 'algorithm', 'space', 'dataset', 'state', 'progress',
      'best', 'started', 'duration', ''].map(t => h('th', null, t)))), tbody);
  /* Jobs ticked for the compare view; kept across refreshes and pages. */
  const chosen = new Set();
  const compareBtn = h('button', { id: 'compare', disabled: true,
    onclick: () => { location.hash = `#/compare?ids=${Array.from(chosen).join(',')}`; } }, 'compare chosen');
  const syncCompare = () => { compareBtn.disabled = chosen.size < 2; compareBtn.textContent = `compare chosen (${chosen.size})`; };
  const prev = h('button', { onclick: () => { if (pageIndex > 0) { pageIndex--; refresh(); } } }, '\u2190 newer');
  const next = h('button', { onclick: () => { if (pageTokens[pageIndex + 1]) { pageIndex++; refresh(); } } }, 'older \u2192');
  const pageLabel = h('span', { class: 'muted' });
  const err = h('div', { class: 'error-box hidden', role: 'alert' });

  const retrain = params.get('retrain');
  const form = submitForm(retrain ? { id: retrain, number: params.get('number') } : null);
  app.append(
    h('h2', null, 'Submit a job'), form,
    h('h2', null, 'Jobs'),
    h('div', { class: 'toolbar' }, h('label', null, 'State ', filter), compareBtn, h('div', { class: 'pager' }, prev, pageLabel, next)),
    err, table);

  async function act(method, url, what) {
    try { await api(url, { method }); } catch (e) { err.textContent = `${what}: ${e.message}`; err.classList.remove('hidden'); }
    refresh();
  }

  function row(j) {
    const finished = FINAL.has(j.state);
    const tick = h('input', { type: 'checkbox', class: 'choose', 'aria-label': `compare ${j.name || j.id}`,
      onchange: () => { if (tick.checked) chosen.add(j.id); else chosen.delete(j.id); syncCompare(); } });
    tick.checked = chosen.has(j.id);
    return h('tr', { 'data-id': j.id },
      h('td', null, tick),
      h('td', null, h('a', { href: `#/job/${j.id}` }, j.name || '(unnamed)')),
      h('td', { class: 'mono', title: j.id }, h('a', { href: `#/job/${j.id}` }, j.id.slice(0, 8))),
      h('td', null, j.algorithm), h('td', null, j.search_space || ''), h('td', null, j.dataset || ''),
      h('td', null, stateBadge(j.state)),
      h('td', null, progressBar(j.progress)),
      h('td', { class: 'num' }, bestOf(j)),
      h('td', null, fmtTime(j.started_at)),
      h('td', { class: 'num' }, fmtDuration(jobDuration(j))),
      h('td', null, finished
        ? h('button', { class: 'danger', 'data-action': 'delete', onclick: () => { if (confirm(`Delete job ${j.name || j.id}?`)) act('DELETE', `/v1/jobs/${j.id}`, 'delete'); } }, 'delete')
        : h('button', { 'data-action': 'cancel', onclick: () => act('POST', `/v1/jobs/${j.id}:cancel`, 'cancel') }, 'cancel')));
  }

  async function refresh() {
    clearTimeout(timer);
    const q = new URLSearchParams({ page_size: '50' });
    if (stateFilter) q.set('state', stateFilter);
    if (pageTokens[pageIndex]) q.set('page_token', pageTokens[pageIndex]);
    try {
      const page = await api(`/v1/jobs?${q}`);
      if (destroyed) return;
      pageTokens[pageIndex + 1] = page.next_page_token || null;
      tbody.replaceChildren(...page.jobs.map(row));
      if (!page.jobs.length) tbody.append(h('tr', null, h('td', { colspan: 12, class: 'muted' }, 'No jobs' + (stateFilter ? ` in state ${stateFilter}` : '') + '.')));
      prev.disabled = pageIndex === 0;
      next.disabled = !pageTokens[pageIndex + 1];
      pageLabel.textContent = `page ${pageIndex + 1}`;
      $('#conn').textContent = '';
    } catch (e) {
      $('#conn').textContent = 'nasd unreachable; retrying';
    }
    if (!destroyed) timer = setTimeout(refresh, 2000);
  }
  refresh();
  return { destroy() { destroyed = true; clearTimeout(timer); } };
}

/* The submit form, built from GET /v1/search-spaces. Fields left empty
 * are not sent, so the server fills in its defaults (shown as
 * placeholders); choosing an algorithm and a space lists that space's
 * datasets and one input per field of its hyperparameters (architecture
 * for train, final training where there is one), each with its range and
 * doc. The JSON box is for what is easier typed whole; its keys win. The
 * server's problem+json errors are shown next to the field their JSON
 * pointer names. */
function submitForm(retrain) {
  const fields = [
    { name: 'name', ptr: '/name', label: 'name', type: 'text', hint: 'default: ALGORITHM-DATASET' },
    { name: 'algorithm', ptr: '/algorithm', label: 'algorithm', type: 'select' },
    { name: 'search_space', ptr: '/search_space', label: 'search space', type: 'select' },
    { name: 'dataset', ptr: '/dataset', label: 'dataset', type: 'select' },
    { name: 'epochs', ptr: '/budget/epochs', label: 'budget: epochs', type: 'number' },
    { name: 'max_seconds', ptr: '/budget/max_seconds', label: 'budget: max seconds', type: 'number' },
    { name: 'max_architectures', ptr: '/budget/max_architectures', label: 'budget: max architectures', type: 'number' },
    { name: 'seed', ptr: '/seed', label: 'seed', type: 'number', hint: 'default: drawn at random (stored with the job)' },
    { name: 'hyperparameters', ptr: '/hyperparameters', label: 'hyperparameters (JSON object; its keys win over the fields below)', type: 'textarea', wide: true, hint: 'e.g. {"C": 4, "layers": 3, "batch_size": 8, "max_examples": 64}' },
    { name: 'architecture', ptr: '/architecture', label: 'architecture (train: a JSON object as a result serves it; the fields below win)', type: 'textarea', wide: true, hint: '"retrain this architecture" on a job fills it in' },
  ];
  const form = h('form', { class: 'submit', id: 'submit-form', novalidate: true });
  const formError = h('div', { class: 'form-error', role: 'alert', id: 'form-error' });
  const inputs = {};
  function addField(f, parent) {
    let input;
    if (f.type === 'select') input = h('select', { name: f.name });
    else if (f.type === 'textarea') input = h('textarea', { name: f.name, placeholder: '{}' });
    else input = h('input', { name: f.name, type: 'text', inputmode: f.type === 'number' ? 'decimal' : null });
    inputs[f.name] = input;
    f.hintEl = h('span', { class: 'hint' }, f.hint || '');
    f.errEl = h('span', { class: 'field-error', 'data-pointer': f.ptr, id: `err-${f.name}` });
    input.setAttribute('aria-describedby', f.errEl.id);
    f.labelEl = h('label', { class: f.wide ? 'wide' : null }, f.label, input, f.hintEl, f.errEl);
    parent.append(f.labelEl);
    return input;
  }
  for (const f of fields) addField(f, form);
  /* The fields of the chosen space, rebuilt when it changes. */
  const spaceFields = h('div', { class: 'space-fields wide', id: 'space-fields' });
  form.append(spaceFields);
  let dynamic = [];
  const submit = h('button', { class: 'primary', type: 'submit' }, 'Submit');
  const estimateButton = h('button', { type: 'button', id: 'estimate-button' }, 'Estimate');
  /* The dry run's estimate, and the question asked above an hour. */
  const estimateBox = h('div', { class: 'estimate', id: 'estimate', 'aria-live': 'polite' });
  form.append(h('div', { class: 'actions' }, submit, estimateButton, formError), estimateBox);

  let doc = { algorithms: [] };
  const algoOf = name => doc.algorithms.find(a => a.name === name) || doc.algorithms[0];
  const spaceOf = () => {
    const a = algoOf(inputs.algorithm.value);
    if (!a) return null;
    return a.spaces.find(s => s.name === inputs.search_space.value) ||
      a.spaces.find(s => s.name === a.default_space) || a.spaces[0];
  };
  const present = new Map(), uploaded = new Map();
  const show = v => (v === null || v === undefined ? 'null' : typeof v === 'object' ? JSON.stringify(v) : String(v));
  function range(s) {
    const item = s.items || s;
    const lo = item.minimum !== undefined ? `[${item.minimum}` : item.exclusiveMinimum !== undefined ? `(${item.exclusiveMinimum}` : null;
    const hi = item.maximum !== undefined ? `${item.maximum}]` : item.exclusiveMaximum !== undefined ? `${item.exclusiveMaximum})` : null;
    if (item.enum) return `one of ${item.enum.map(show).join(', ')}`;
    return lo || hi ? `${lo || '(-inf'}, ${hi || 'inf)'}` : '';
  }
  /* One object's fields: a select for booleans and choices, a text input
   * (JSON or plain text) for the rest. */
  function objectFields(obj, schema) {
    const props = (schema && schema.properties) || {};
    const group = h('fieldset', { class: 'space-object', 'data-object': obj }, h('legend', null, obj));
    for (const [key, s] of Object.entries(props)) {
      const t = Array.isArray(s.type) ? s.type.filter(x => x !== 'null')[0] : s.type;
      if (t === 'null') continue;   /* does not apply here */
      const f = { name: `${obj}.${key}`, obj, key, ptr: `/${obj}/${key}`, label: key,
        type: t === 'boolean' || s.enum ? 'select' : 'text', schema: s,
        hint: [range(s), s.description].filter(Boolean).join('; ') };
      const input = addField(f, group);
      if (f.type === 'select') {
        input.append(h('option', { value: '' }, `(default: ${show(s.default)})`));
        for (const v of s.enum || [true, false]) input.append(h('option', { value: JSON.stringify(v) }, show(v)));
      } else if (s.default !== undefined) {
        input.placeholder = `default: ${show(s.default)}`;
      }
      dynamic.push(f);
    }
    return group;
  }
  function fillDatasets(space) {
    const sel = inputs.dataset, keep = sel.value;
    sel.replaceChildren(h('option', { value: '' }, `(default: ${space ? space.default_dataset : '?'})`));
    for (const d of (space && space.datasets) || [])
      sel.append(h('option', { value: d }, d + (present.get(d) === false ? ' (not installed)' : '')));
    /* The uploaded datasets of the space's kind (#/datasets). */
    for (const [d, kind] of uploaded)
      if (space && kind === space.data_kind) sel.append(h('option', { value: d }, `${d} (uploaded)`));
    if ([...sel.options].some(o => o.value === keep)) sel.value = keep;
  }
  function fillSpace() {
    const space = spaceOf();
    fillDatasets(space);
    for (const f of dynamic) delete inputs[f.name];
    dynamic = [];
    spaceFields.replaceChildren();
    if (!space) return;
    spaceFields.append(h('p', { class: 'hint' }, space.doc));
    for (const obj of ['architecture', 'hyperparameters', 'final_training'])
      if (space.fields[obj]) spaceFields.append(objectFields(obj, space.fields[obj]));
    for (const n of ['epochs', 'max_architectures']) {
      const s = space.fields.budget && space.fields.budget.properties[n];
      inputs[n].placeholder = s && s.default != null ? `default: ${s.default}` : 'does not apply';
    }
  }
  function fillAlgorithm() {
    const a = algoOf(inputs.algorithm.value), sel = inputs.search_space;
    sel.replaceChildren(h('option', { value: '' }, `(default: ${a ? a.default_space : '?'})`));
    for (const s of (a && a.spaces) || []) sel.append(h('option', { value: s.name }, s.name));
    fillSpace();
  }
  /* "darts 50, enas 150/310/100, ...": a budget field's default per algorithm. */
  function budgetHint(key) {
    return 'default: ' + doc.algorithms.map(a => {
      const v = [...new Set(a.spaces.map(s => s.fields.budget && s.fields.budget.properties[key])
        .filter(s => s && s.default != null).map(s => s.default))];
      return v.length ? `${a.name} ${v.join('/')}` : null;
    }).filter(Boolean).join(', ') + '; null for the others';
  }

  Promise.all([searchSpaces(), api('/v1/datasets').catch(() => ({}))]).then(([d, ds]) => {
    doc = d && d.algorithms ? d : doc;
    for (const x of (ds && ds.datasets) || []) {
      present.set(x.name, x.present);
      if (x.uploaded) uploaded.set(x.name, x.kind);
    }
    for (const a of doc.algorithms)
      inputs.algorithm.append(h('option', { value: a.name }, a.name + (a.name === doc.default_algorithm ? ' (default)' : '')));
    if (doc.default_algorithm) inputs.algorithm.value = doc.default_algorithm;
    fields.find(f => f.name === 'epochs').hintEl.textContent = budgetHint('epochs');
    fields.find(f => f.name === 'max_architectures').hintEl.textContent = budgetHint('max_architectures');
    fields.find(f => f.name === 'max_seconds').hintEl.textContent = 'wall-clock limit; default: 0 (none)';
    fillAlgorithm();
    if (retrain) prefill(retrain);
  });
  inputs.algorithm.addEventListener('change', fillAlgorithm);

  /* #/?retrain=ID[&number=N]: a train job on that architecture (model.js). */
  async function prefill({ id, number }) {
    let src;
    try { src = await retrainSource(id, number); } catch (e) { formError.textContent = `retrain: ${e.message}`; return; }
    inputs.algorithm.value = 'train';
    fillAlgorithm();
    const space = src.arch && src.arch.space;
    if ([...inputs.search_space.options].some(o => o.value === space)) inputs.search_space.value = space;
    fillSpace();
    if ([...inputs.dataset.options].some(o => o.value === src.job.dataset)) inputs.dataset.value = src.job.dataset;
    inputs.name.value = `retrain-${src.job.name || id.slice(0, 8)}${number != null ? '-' + number : ''}`;
    inputs.architecture.value = JSON.stringify(src.arch, null, 1);
    form.dataset.retrain = id;
    form.scrollIntoView({ block: 'start' });
  }
  inputs.search_space.addEventListener('change', fillSpace);

  const allFields = () => fields.concat(dynamic);
  function clearErrors() {
    formError.textContent = '';
    for (const f of allFields()) { f.errEl.textContent = ''; f.labelEl.querySelector('input,select,textarea').removeAttribute('aria-invalid'); }
  }

  function showProblem(p) {
    const ptr = p.pointer || '';
    let best = null;
    for (const f of allFields())
      if (ptr === f.ptr || ptr.startsWith(f.ptr + '/'))
        if (!best || f.ptr.length > best.ptr.length) best = f;
    let msg = p.detail || p.title || 'error';
    if (Array.isArray(p.allowed)) msg += ` (allowed: ${p.allowed.join(', ')})`;
    else if (p.allowed && typeof p.allowed === 'object') {
      const parts = Object.entries(p.allowed).map(([k, v]) => `${k} ${v}`);
      if (parts.length) msg += ` (${parts.join(', ')})`;
    }
    if (best) {
      const input = best.labelEl.querySelector('input,select,textarea');
      best.errEl.textContent = msg;
      input.setAttribute('aria-invalid', 'true');
      input.focus();
    } else {
      formError.textContent = msg;
    }
  }

  /* The spec the form describes, or null (the error shown). */
  function specOf() {
    const spec = {};
    const val = n => inputs[n].value.trim();
    const parse = v => { try { return JSON.parse(v); } catch (e) { return v; } };
    for (const n of ['name', 'algorithm', 'search_space', 'dataset'])
      if (val(n)) spec[n] = val(n);
    /* train's space is its architecture's */
    const a = algoOf(inputs.algorithm.value);
    if (a && a.space_in === 'architecture.space' && spec.search_space) {
      spec.architecture = { space: spec.search_space };
      delete spec.search_space;
    }
    const budget = {};
    for (const n of ['epochs', 'max_seconds', 'max_architectures'])
      if (val(n)) budget[n] = Number.isNaN(Number(val(n))) ? val(n) : Number(val(n));
    if (Object.keys(budget).length) spec.budget = budget;
    if (val('seed')) spec.seed = Number.isNaN(Number(val('seed'))) ? val('seed') : Number(val('seed'));
    for (const f of dynamic) {
      const v = inputs[f.name].value.trim();
      if (!v) continue;
      spec[f.obj] = spec[f.obj] || {};
      spec[f.obj][f.key] = parse(v);
    }
    if (spec.final_training && spec.final_training.enabled === undefined) spec.final_training.enabled = true;
    if (val('architecture')) {
      try { spec.architecture = Object.assign(JSON.parse(val('architecture')), spec.architecture || {}); } catch (e) {
        showProblem({ pointer: '/architecture', detail: `not valid JSON: ${e.message}` });
        return;
      }
    }
    if (val('hyperparameters')) {
      try { spec.hyperparameters = Object.assign(spec.hyperparameters || {}, JSON.parse(val('hyperparameters'))); } catch (e) {
        showProblem({ pointer: '/hyperparameters', detail: `not valid JSON: ${e.message}` });
        return null;
      }
    }
    return spec;
  }

  const post = (spec, query) => api(`/v1/jobs${query}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(spec) });
  const failed = e => {
    if (e instanceof ApiError) showProblem(e.problem);
    else formError.textContent = `nasd unreachable: ${e.message}`;
  };
  /* The dry run's estimate into the box; the answer, or null. */
  async function estimate(spec) {
    estimateBox.replaceChildren('estimating…');
    try {
      const r = await post(spec, '?dry_run=true');
      const e = r.estimate || {};
      const parts = [];
      if (e.steps !== undefined) parts.push(`${e.steps.toLocaleString('en-US')} steps${e.time_parts && !e.time_parts.steps_exact ? ' (at most, or estimated)' : ''}`);
      if (e.seconds !== undefined) parts.push(`about ${fmtEstimate(e.seconds)}${e.time_parts && e.time_parts.capped_by_max_seconds ? ' (its max_seconds)' : ''}`);
      if (e.memory_bytes !== undefined) parts.push(`peak memory ${fmtBytes(e.memory_bytes)}`);
      estimateBox.replaceChildren(h('span', { class: 'estimate-text' }, parts.length ? `Estimate: ${parts.join(', ')}` : 'No estimate for this job here.'));
      return r;
    } catch (e) {
      estimateBox.replaceChildren();
      failed(e);
      return null;
    }
  }
  async function send(spec) {
    submit.disabled = true;
    try {
      const job = await post(spec, '');
      location.hash = `#/job/${job.id}`;
    } catch (e) {
      failed(e);
    } finally {
      submit.disabled = false;
    }
  }

  estimateButton.addEventListener('click', () => {
    clearErrors();
    const spec = specOf();
    if (spec) estimate(spec);
  });
  /* Submit: the estimate first; above an hour, a question before the job
   * is created. */
  form.addEventListener('submit', async ev => {
    ev.preventDefault();
    clearErrors();
    const spec = specOf();
    if (!spec) return;
    submit.disabled = true;
    const r = await estimate(spec);
    submit.disabled = false;
    if (!r) return;
    const secs = r.estimate && r.estimate.seconds;
    if (!(secs > 3600)) { send(spec); return; }
    const yes = h('button', { type: 'button', class: 'primary', id: 'confirm-submit' }, 'Submit anyway');
    const no = h('button', { type: 'button', id: 'cancel-submit' }, 'Cancel');
    const ask = h('div', { class: 'confirm', role: 'alertdialog', id: 'confirm-long' },
      `This job is estimated to run for about ${fmtEstimate(secs)}, more than an hour. Submit it? `, yes, no);
    yes.addEventListener('click', () => { ask.remove(); send(spec); });
    no.addEventListener('click', () => ask.remove());
    estimateBox.append(ask);
    yes.focus();
  });
  return form;
}

/* An estimate's seconds: "4.2 days" from a day and a half on, else as
 * fmtDuration ("3h 5m"). */
function fmtEstimate(s) {
  return s >= 1.5 * 86400 ? `${(s / 86400).toFixed(1)} days` : fmtDuration(s);
}

function fmtBytes(b) {
  return b >= 1 << 30 ? `${(b / (1 << 30)).toFixed(1)} GiB` : `${Math.round(b / (1 << 20))} MiB`;
}

/* ============================================================= job page */

/* Metric names grouped into charts; a chart appears once one of its
 * series has a point. */
const CHART_GROUPS = [
  /* Entropy and loss apart: their scales differ by an order of magnitude
   * (an ENAS micro policy's entropy is ~30, its loss ~2). */
  { id: 'entropy', title: 'Controller entropy', test: n => /^controller_entropy$/.test(n) },
  { id: 'controller', title: 'Controller loss', test: n => /^controller_/.test(n) },
  /* Per update or epoch; drawn in the reward chart when there are rows. */
  { id: 'baseline', title: 'Controller: baseline and mean reward', test: n => /^(baseline|reward|reward_mean)$/.test(n) },
  { id: 'loss', title: 'Loss', test: n => /(^|[._])loss$/.test(n) && !/controller/.test(n) },
  { id: 'accuracy', title: 'Accuracy', test: n => /accuracy$/.test(n) },
  { id: 'perplexity', title: 'Perplexity', test: n => /perplexity$/.test(n) },
  { id: 'lr', title: 'Learning rate', test: n => /(^|\.)lr$/.test(n) },
  { id: 'other', title: 'Other metrics', test: () => true },
];
const PALETTE = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#4b5563', '#ca8a04'];
const MAX_POINTS = 1500;   /* per series drawn; more are bucketed */
const ARCH_PAGE = 50;

/* (x, y) pairs down to at most max points: per bucket its min and max y,
 * so spikes survive. */
function downsample(xs, ys, max) {
  if (xs.length <= max) return [xs, ys];
  const buckets = Math.floor(max / 2), per = xs.length / buckets, ox = [], oy = [];
  for (let b = 0; b < buckets; b++) {
    const lo = Math.floor(b * per), hi = Math.min(xs.length, Math.floor((b + 1) * per));
    let imin = lo, imax = lo;
    for (let i = lo; i < hi; i++) {
      if (ys[i] < ys[imin]) imin = i;
      if (ys[i] > ys[imax]) imax = i;
    }
    for (const i of imin <= imax ? [imin, imax] : [imax, imin]) {
      if (ox.length && ox[ox.length - 1] === xs[i]) continue;
      ox.push(xs[i]); oy.push(ys[i]);
    }
  }
  return [ox, oy];
}

/* Aligns several (xs, ys) series on the union of their xs (uPlot's
 * shape), with nulls where a series has no point. */
function align(series) {
  const xsSet = new Set();
  for (const s of series) for (const x of s.xs) xsSet.add(x);
  const xs = Array.from(xsSet).sort((a, b) => a - b);
  const index = new Map(xs.map((x, i) => [x, i]));
  const data = [xs];
  for (const s of series) {
    const col = new Array(xs.length).fill(null);
    s.xs.forEach((x, i) => { col[index.get(x)] = s.ys[i]; });
    data.push(col);
  }
  return data;
}

function movingAverage(ys, w) {
  const out = new Array(ys.length);
  let sum = 0;
  for (let i = 0; i < ys.length; i++) {
    sum += ys[i];
    if (i >= w) sum -= ys[i - w];
    out[i] = sum / Math.min(i + 1, w);
  }
  return out;
}

const INT_INCRS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 1e7];

/* Tick labels with as many decimals as their spacing needs, so that a
 * nearly flat series (an entropy that moves in the 6th digit) does not get
 * the same label on every tick. */
function tickLabels(splits) {
  const step = splits.length > 1 ? Math.abs(splits[1] - splits[0]) : 0;
  const big = Math.max(...splits.map(v => Math.abs(v)));
  if (big >= 1e5 || (big > 0 && big < 1e-3)) return splits.map(v => v.toExponential(2));
  const dec = step > 0 ? Math.min(8, Math.max(0, Math.ceil(-Math.log10(step) - 1e-9))) : 0;
  return splits.map(v => v.toFixed(dec));
}

/* A uPlot chart in a card that redraws when its data changes and resizes
 * with its card. */
function makeChart(parent, id, title, xLabel) {
  const body = h('div', { class: 'chart', id: `chart-${id}` });
  const card = h('div', { class: 'card hidden', 'data-chart': id }, h('h3', null, title), body);
  parent.append(card);
  let plot = null, key = '';
  const ro = new ResizeObserver(() => { if (plot) plot.setSize({ width: body.clientWidth, height: 220 }); });
  ro.observe(body);
  return {
    card,
    update(series, opts = {}, xName = xLabel) {
      if (!series.length || !window.uPlot) return;
      card.classList.remove('hidden');
      const data = align(series);
      /* What is drawn, per series: its number of points (for tests and
       * for a curious reader of the DOM). */
      body.dataset.x = xName;
      body.dataset.points = JSON.stringify(Object.fromEntries(series.map((s, i) =>
        [s.label, data[i + 1].reduce((n, v) => n + (v == null ? 0 : 1), 0)])));
      /* Few points are drawn as dots too (one epoch is one point). */
      const dots = s => s.points || s.xs.length <= 40;
      const k = xName + ':' + series.map(s => s.label + (dots(s) ? '.' : '')).join('|');
      if (plot && k === key) { plot.setData(data); return; }
      if (plot) plot.destroy();
      key = k;
      plot = new uPlot({
        width: Math.max(300, body.clientWidth), height: 220,
        scales: { x: { time: false } },
        /* x: steps, epochs and architecture numbers are integers; y: as
         * wide as its longest label. */
        axes: [{ label: xName, incrs: INT_INCRS },
          { values: (u, splits) => tickLabels(splits),
            size: (u, values) => Math.max(50, 16 + 7 * Math.max(0, ...(values || []).map(v => String(v).length))) }],
        series: [{ label: xName }].concat(series.map((s, i) => ({
          label: s.label, stroke: s.color || PALETTE[i % PALETTE.length], width: s.points ? 0 : 1.5,
          spanGaps: true,
          points: dots(s) ? { show: true, size: s.points ? 5 : 6, fill: s.color || PALETTE[i % PALETTE.length] } : { show: false },
        }))),
        legend: { live: true },
        ...opts,
      }, data, body);
    },
    hide() { card.classList.add('hidden'); },
    destroy() { ro.disconnect(); if (plot) plot.destroy(); },
  };
}

/* A one-line text of an architecture, for the table. */
function summarize(a) {
  if (!a || typeof a !== 'object') return '';
  if (a.genotype) a = a.genotype;
  const pair = g => Array.isArray(g) ? `${g[0]}\u2190${g[1]}` : '';
  if (Array.isArray(a.normal) && Array.isArray(a.normal[0]))
    return `normal ${a.normal.map(pair).join(' ')} | reduce ${(a.reduce || []).map(pair).join(' ')}`;
  if (Array.isArray(a.recurrent)) return `recurrent ${a.recurrent.map(pair).join(' ')}`;
  /* ENAS micro: node j + 2 takes its two inputs through its two ops. */
  const enasCell = c => c.map((n, j) => `${j + 2}: ${(n.ops || []).map((o, i) => `${o}\u2190${(n.inputs || [])[i]}`).join(' ')}`).join('; ');
  if (Array.isArray(a.normal))
    return `normal ${enasCell(a.normal)}` + (Array.isArray(a.reduce) ? ` | reduce ${enasCell(a.reduce)}` : '');
  if (Array.isArray(a.nodes)) return a.nodes.map((n, i) => `${i}:${n.activation}\u2190${n.input == null ? 'x' : n.input}`).join(' ');
  /* Layer lists: enas-macro ops with their skips (-1 the stem), nasrl-cnn
   * convs with their inputs (none: the image). */
  const from = (ks, stem) => (Array.isArray(ks) && ks.length ? `\u2190${ks.map(k => (k < 0 ? stem : k)).join(',')}` : '');
  if (Array.isArray(a.layers))
    return a.layers.map((l, i) => (l.op ? `${i}: ${l.op}${from(l.skips, 'stem')}`
      : `${i}: ${l.filter_height}x${l.filter_width} conv ${l.filters}${l.stride > 1 ? '/' + l.stride : ''}${from(l.inputs, '')}`)).join(' \u2192 ');
  return JSON.stringify(a).slice(0, 160);
}

/* DARTS edge names: node i takes edges from 2 + i inputs. */
function dartsEdgeNames(n, rnn) {
  const names = [];
  if (rnn) {
    for (let i = 0; names.length < n; i++) for (let j = 0; j <= i && names.length < n; j++) names.push(`${i + 1}\u2190${j}`);
    return names;
  }
  const inName = j => (j === 0 ? 'c_{k-2}' : j === 1 ? 'c_{k-1}' : String(j - 2));
  for (let i = 0; names.length < n; i++) for (let j = 0; j < i + 2 && names.length < n; j++) names.push(`${i}\u2190${inName(j)}`);
  return names;
}

/* The softmax of alpha over epochs: one canvas per cell; for each edge a
 * band of one row per op (named at its left), one column per epoch,
 * darker = larger. The colour scale is absolute (0 to 1, square-root
 * spaced so that small weights stay apart) and drawn with its values
 * beside the cells, so 0.1244 and 0.1257 look alike, as they are. */
const HEAT_ROW = 9, HEAT_GAP = 6, HEAT_LEFT = 150;
function heatColour(v) {
  const t = Math.sqrt(Math.min(1, Math.max(0, v)));
  return `hsl(220, 80%, ${Math.round(97 - 67 * t)}%)`;
}

function heatScale() {
  const cv = h('canvas', { class: 'heat-scale', width: 260, height: 34 });
  const ctx = cv.getContext('2d');
  for (let x = 0; x < 240; x++) {
    const t = x / 239;
    ctx.fillStyle = heatColour(t * t);
    ctx.fillRect(10 + x, 0, 1, 14);
  }
  ctx.fillStyle = '#333';
  ctx.font = '10px sans-serif';
  for (const v of [0, 0.05, 0.125, 0.25, 0.5, 1]) {
    const x = 10 + Math.round(239 * Math.sqrt(v));
    ctx.fillRect(x, 14, 1, 4);
    ctx.fillText(String(v), Math.min(x - 6, 236), 30);
  }
  return cv;
}

function makeHeatmaps(parent) {
  const card = h('div', { class: 'card hidden', id: 'alpha-card' },
    h('h3', null, 'DARTS: softmax of alpha per edge over epochs'),
    h('p', { class: 'legend-note' }, 'Each band is one edge (node\u2190input), one row per candidate op; columns are epochs; darker is a larger weight, on the scale below. Hover for values.'));
  const scale = h('div', { class: 'legend-note', id: 'alpha-scale' }, 'weight: ', heatScale());
  const tip = h('div', { class: 'heat-tip' });
  const holder = h('div', { class: 'grid2' });
  card.append(scale, holder, tip);
  parent.append(card);
  const canvases = new Map();
  return {
    card,
    update(rows) {
      const alphas = rows.map(r => r.metrics && r.metrics.alpha).filter(Boolean);
      if (!alphas.length) return;
      card.classList.remove('hidden');
      const ops = alphas[0].ops || [];
      const epochs = rows.filter(r => r.metrics && r.metrics.alpha).map(r => (r.metrics.epoch != null ? r.metrics.epoch : r.number));
      for (const cellName of Object.keys(alphas[0]).filter(k => k !== 'ops' && Array.isArray(alphas[0][k]))) {
        const nEdges = alphas[0][cellName].length, nOps = ops.length || (alphas[0][cellName][0] || []).length;
        const names = dartsEdgeNames(nEdges, cellName === 'recurrent');
        const rowH = HEAT_ROW, gap = HEAT_GAP, left = HEAT_LEFT, colW = Math.max(4, Math.min(24, Math.floor(520 / alphas.length)));
        const bandH = nOps * rowH + gap + 12;
        let cv = canvases.get(cellName);
        if (!cv) {
          cv = h('canvas', { class: 'heat', 'data-cell': cellName });
          const box = h('div', null, h('div', { class: 'muted' }, `${cellName} cell`), cv);
          holder.append(box);
          canvases.set(cellName, cv);
          cv.addEventListener('mousemove', ev => {
            const r = cv.getBoundingClientRect(), x = (ev.clientX - r.left) * (cv.width / r.width), y = (ev.clientY - r.top) * (cv.height / r.height);
            const c = Math.floor((x - left) / cv._colW), band = Math.floor(y / bandH), op = Math.floor((y - band * bandH - 12) / rowH);
            const a = cv._alphas;
            if (c >= 0 && c < a.length && band < nEdges && op >= 0 && op < nOps && a[c][cellName][band])
              tip.textContent = `${cellName} edge ${names[band]}, ${ops[op] || 'op ' + op}, epoch ${cv._epochs[c]}: ${fmtNum(a[c][cellName][band][op], 4)}`;
          });
        }
        cv._alphas = alphas; cv._epochs = epochs; cv._colW = colW;
        cv.width = left + colW * alphas.length + 2;
        cv.height = nEdges * bandH;
        const ctx = cv.getContext('2d');
        ctx.clearRect(0, 0, cv.width, cv.height);
        for (let e = 0; e < nEdges; e++) {
          const y0 = e * bandH;
          ctx.fillStyle = '#111';
          ctx.font = 'bold 10px sans-serif';
          ctx.fillText(`edge ${names[e]}`, 2, y0 + 10);
          ctx.font = '8px sans-serif';
          for (let o = 0; o < nOps; o++) {
            ctx.fillStyle = '#444';
            ctx.fillText(ops[o] || `op ${o}`, 8, y0 + 12 + o * rowH + rowH - 1);
            for (let c = 0; c < alphas.length; c++) {
              const edge = alphas[c][cellName][e] || [];
              ctx.fillStyle = heatColour(edge[o] || 0);
              ctx.fillRect(left + c * colW, y0 + 12 + o * rowH, colW - (colW > 4 ? 1 : 0), rowH - 1);
            }
          }
        }
      }
    },
  };
}

/* ========================================================= compare page */

/* Every point of a job's metrics (GET .../metrics, paged by ?after=). */
async function allMetrics(id, signal) {
  const out = [];
  let after = 0;
  for (;;) {
    const page = await api(`/v1/jobs/${id}/metrics?after=${after}&limit=1000`, { signal });
    out.push(...page.metrics);
    if (page.next_after == null) return out;
    after = page.next_after;
  }
}

/* Chosen jobs side by side (issue #15 item 5): each metric group's curves
 * overlaid (one series per job and metric), and a table of each job's
 * best architecture, drawn by nasd, with its reward and test metric. */
function comparePage(app) {
  const ids = (parseHash().params.get('ids') || '').split(',').filter(x => /^[0-9a-f]{32}$/.test(x)).slice(0, 8);
  const ctl = new AbortController();
  const charts = h('div', { class: 'grid2', id: 'compare-charts' });
  const tbody = h('tbody');
  const err = h('div', { class: 'error-box hidden', role: 'alert' });
  app.append(h('h2', null, `Comparing ${ids.length} jobs`), err,
    h('table', { id: 'compare-table' }, h('thead', null, h('tr', null,
      ['job', 'algorithm', 'space', 'dataset', 'state', 'result', 'reward', 'best architecture'].map(t => h('th', null, t)))), tbody),
    charts);
  const chartObjs = {};
  for (const g of CHART_GROUPS) chartObjs[g.id] = makeChart(charts, g.id, g.title, 'step');
  (async () => {
    const jobs = [];
    for (const id of ids) {
      try { jobs.push({ id, job: await api(`/v1/jobs/${id}`, { signal: ctl.signal }), metrics: await allMetrics(id, ctl.signal) }); }
      catch (e) { if (e.name === 'AbortError') return; err.textContent = `job ${id}: ${e.message}`; err.classList.remove('hidden'); }
    }
    for (const { id, job } of jobs) {
      const res = job.result, best = job.best_architecture;
      const draw = res ? `/v1/jobs/${id}/result?format=svg` : best ? `/v1/jobs/${id}/architectures/${best.number}?format=svg` : null;
      const img = draw ? h('img', { class: 'cellimg', alt: `best architecture of ${job.name}`, src: withToken(draw) }) : h('span', { class: 'muted' }, 'none yet');
      if (draw) img.addEventListener('error', () => img.replaceWith(h('span', { class: 'muted' }, 'not drawable')));
      tbody.append(h('tr', { 'data-id': id },
        h('td', null, h('a', { href: `#/job/${id}` }, job.name || id.slice(0, 8))),
        h('td', null, job.algorithm), h('td', null, job.search_space || ''), h('td', null, job.dataset || ''),
        h('td', null, stateBadge(job.state)),
        h('td', { class: 'num' }, res && res.value != null ? `${res.metric} ${fmtNum(res.value)}${res.details && res.details.partial ? ' (partial)' : ''}` : ''),
        h('td', { class: 'num' }, best && best.reward != null ? fmtNum(best.reward) : ''),
        h('td', null, img)));
    }
    /* One series per job and metric, grouped as the job page groups them. */
    const groups = new Map();
    for (const { job, metrics } of jobs) {
      const byName = new Map();
      for (const m of metrics) {
        if (m.value == null) continue;
        if (!byName.has(m.name)) byName.set(m.name, { xs: [], ys: [] });
        const s = byName.get(m.name);
        s.xs.push(m.step != null ? m.step : m.epoch); s.ys.push(m.value);
      }
      for (const [name, s] of byName) {
        const g = CHART_GROUPS.find(c => c.test(name));
        if (!groups.has(g.id)) groups.set(g.id, []);
        const [xs, ys] = downsample(s.xs, s.ys, MAX_POINTS);
        groups.get(g.id).push({ label: `${job.name || job.id.slice(0, 8)}: ${name}`, xs, ys });
      }
    }
    for (const [gid, series] of groups) chartObjs[gid].update(series);
  })();
  return { destroy() { ctl.abort(); } };
}

function jobPage(app, id) {
  const base = `/v1/jobs/${id}`;
  const ctl = new AbortController();
  let es = null, job = null, destroyed = false;
  const metrics = new Map();   /* name -> {xs: [], ys: [], seen: Set} */
  const archs = [];            /* rows in seq order */
  const archSeqs = new Set();
  let drawQueued = false, historyLoaded = false;
  const buffered = [];

  const title = h('h2', null, 'Job ', h('span', { class: 'mono' }, id));
  const headerInfo = h('div');
  const errBox = h('div', { class: 'error-box hidden', role: 'alert' });
  const charts = h('div', { class: 'grid2', id: 'charts' });
  const chartObjs = {};
  const rewardChart = makeChart(charts, 'reward', 'Reward of every sampled architecture, its moving average and the baseline', 'architecture');
  for (const g of CHART_GROUPS) chartObjs[g.id] = makeChart(charts, g.id, g.title, 'step');
  const heat = makeHeatmaps(app);
  const resultBox = h('div', { class: 'card hidden', id: 'result' });
  const model = modelCard(id);   /* model.js: shown once nasd has a model */
  const archSection = h('div', { id: 'architectures' });
  const archDetail = h('div', { class: 'card hidden', id: 'arch-detail' });

  app.append(title, headerInfo, errBox, resultBox, model, charts);
  app.append(heat.card);
  app.append(h('h2', null, 'Sampled and derived architectures'), archSection, archDetail);

  function showError(msg) { errBox.textContent = msg; errBox.classList.remove('hidden'); }

  /* ---- header */
  function renderHeader() {
    if (!job) return;
    const p = job.progress || {};
    const finished = FINAL.has(job.state);
    title.replaceChildren(job.name || 'job', ' ', stateBadge(job.state));
    const act = async (method, url, then) => {
      try { await api(url, { method }); if (then) then(); else reloadJob(); } catch (e) { showError(e.message); }
    };
    headerInfo.replaceChildren(
      h('div', { class: 'toolbar' },
        progressBar(p, true),
        h('span', { id: 'progress-text', class: 'muted' },
          p.epochs != null ? `epoch ${p.epoch || 0}/${p.epochs}` : '',
          p.steps != null ? `  step ${p.step || 0}/${p.steps}` : '',
          p.eta_seconds != null && !finished ? `  eta ${fmtDuration(p.eta_seconds)}` : ''),
        finished
          ? h('button', { class: 'danger', onclick: () => { if (confirm('Delete this job?')) act('DELETE', base, () => { location.hash = '#/'; }); } }, 'delete')
          : h('button', { onclick: () => act('POST', `${base}:cancel`) }, 'cancel'),
        apiLink(base, 'JSON')),
      h('dl', { class: 'kv' },
        h('dt', null, 'id'), h('dd', { class: 'mono' }, job.id),
        h('dt', null, 'algorithm'), h('dd', null, `${job.algorithm}${job.search_space ? ' on ' + job.search_space : ''}, dataset ${job.dataset}`),
        h('dt', null, 'started'), h('dd', null, job.started_at ? `${fmtTime(job.started_at)} (${fmtDuration(jobDuration(job))})` : 'not yet'),
        /* A job on several Open MPI ranks (issue #18) says so; one rank is nasd's own process. */
        job.spec && job.spec.resources && job.spec.resources.ranks > 1
          ? [h('dt', null, 'ranks'), h('dd', { id: 'job-ranks' }, `${job.spec.resources.ranks} Open MPI ranks`)] : null,
        h('dt', null, 'best'), h('dd', null, bestOf(job) || '\u2014'),
        job.error ? [h('dt', null, 'error'), h('dd', { class: 'form-error' }, typeof job.error === 'string' ? job.error : (job.error.detail || JSON.stringify(job.error)))] : null,
        h('dt', null, 'spec'), h('dd', null, h('details', null, h('summary', null, 'the stored spec (defaults filled in)'), h('pre', null, JSON.stringify(job.spec, null, 2))))));
  }

  async function reloadJob() {
    try {
      job = await api(base, { signal: ctl.signal });
      renderHeader();
      if (job.state === 'succeeded' || job.result) loadResult();
    } catch (e) {
      if (e.name === 'AbortError') return;
      showError(e.status === 404 ? `No job ${id} (deleted?).` : e.message);
    }
  }

  /* ---- result */
  let resultShown = false;
  async function loadResult() {
    if (resultShown) return;
    let res;
    try { res = await api(`${base}/result`, { signal: ctl.signal }); } catch (e) { return; }
    resultShown = true;
    model.check(res);
    const img = h('img', { class: 'cellimg', id: 'result-svg', alt: 'the final architecture, drawn by nasd', src: withToken(`${base}/result?format=svg`) });
    img.addEventListener('error', () => img.replaceWith(h('p', { class: 'muted' }, 'nasd cannot draw this architecture (see the JSON below).')));
    const partial = res.details && res.details.partial;
    resultBox.replaceChildren(...[
      h('h3', null, partial ? 'Result (partial): the best architecture so far' : 'Result: the final architecture'),
      partial ? h('p', { class: 'muted', id: 'result-partial' },
        `The job was ${res.details.reason} before its end; nasd kept its best architecture so far` +
        (res.details.architecture ? ` (number ${res.details.architecture.number})` : '') + '.') : null,
      h('p', null, res.metric ? `${res.metric} ${fmtNum(res.value)}` : '', '  ',
        apiLink(`${base}/result?format=svg`, 'SVG'), ' \u00b7 ',
        apiLink(`${base}/result?format=dot`, 'DOT'), ' \u00b7 ',
        apiLink(`${base}/result`, 'JSON'), ' ',
        res.architecture ? retrainButton(id) : null),
      img,
      h('details', null, h('summary', null, 'architecture JSON'), h('pre', null, JSON.stringify(res.architecture, null, 2)))].filter(Boolean));
    resultBox.classList.remove('hidden');
  }

  /* ---- data in */
  function addMetric(m) {
    let s = metrics.get(m.name);
    if (!s) { s = { xs: [], ys: [], qs: [], ks: [], es: [], seen: new Set() }; metrics.set(m.name, s); }
    const key = `${m.step}/${m.epoch}`;
    if (s.seen.has(key) || m.value == null) return;
    s.seen.add(key);
    const x = m.step != null ? m.step : m.epoch, q = m.seq != null ? m.seq : 0;
    const e = m.epoch != null ? m.epoch : x;
    /* Points arrive in order; keep xs sorted all the same. */
    if (s.xs.length && x < s.xs[s.xs.length - 1]) {
      let i = s.xs.length;
      while (i > 0 && s.xs[i - 1] > x) i--;
      s.xs.splice(i, 0, x); s.ys.splice(i, 0, m.value); s.qs.splice(i, 0, q); s.ks.splice(i, 0, key); s.es.splice(i, 0, e);
    } else { s.xs.push(x); s.ys.push(m.value); s.qs.push(q); s.ks.push(key); s.es.push(e); }
  }

  /* nasd took back the rows after these cursors (a job resumed from an
   * earlier checkpoint after a crash; it reports them again): drop them. */
  function rewind(d) {
    const ma = d.metrics_after, aa = d.architectures_after;
    for (const [name, s] of metrics) {
      const keep = s.qs.map(q => q <= ma), kept = (_, i) => keep[i];
      s.xs = s.xs.filter(kept); s.ys = s.ys.filter(kept); s.qs = s.qs.filter(kept); s.ks = s.ks.filter(kept); s.es = s.es.filter(kept);
      /* A rerun reports the same step/epoch keys again. */
      s.seen = new Set(s.ks);
      if (!s.xs.length) metrics.delete(name);
    }
    for (let i = archs.length - 1; i >= 0; i--)
      if (archs[i].seq > aa) { archSeqs.delete(archs[i].seq); archs.splice(i, 1); }
    if (metricsAfter > ma) metricsAfter = ma;
    scheduleDraw();
  }

  function addArch(a) {
    const seq = a.seq;
    if (seq == null || archSeqs.has(seq)) return;
    archSeqs.add(seq);
    archs.push({ seq, number: a.number, architecture: a.architecture, reward: a.reward, metrics: a.metrics, t: a.t });
    if (archs.length > 1 && archs[archs.length - 2].seq > seq) archs.sort((x, y) => x.seq - y.seq);
  }

  function scheduleDraw() {
    if (drawQueued) return;
    drawQueued = true;
    requestAnimationFrame(() => { drawQueued = false; if (!destroyed) draw(); });
  }

  function draw() {
    /* Metric charts. */
    const groups = new Map();
    /* DARTS reports once per epoch (search and final training): its
     * curves are drawn by epoch, the others by step. */
    const byEpoch = !!(job && job.algorithm === 'darts');
    for (const name of Array.from(metrics.keys()).sort()) {
      const g = CHART_GROUPS.find(c => c.test(name));
      if (!groups.has(g.id)) groups.set(g.id, []);
      const s = metrics.get(name);
      const [xs, ys] = downsample(byEpoch ? s.es : s.xs, s.ys, MAX_POINTS);
      groups.get(g.id).push({ label: name, xs, ys });
    }
    const rewarded = archs.filter(a => typeof a.reward === 'number' && !(a.metrics && a.metrics.alpha));
    for (const [gid, series] of groups)
      if (!(gid === 'baseline' && rewarded.length)) chartObjs[gid].update(series, {}, byEpoch ? 'epoch' : 'step');
    /* Rewards: every sampled architecture (a point each, x = its number
     * in sampling order), their moving average, and the controller's
     * baseline and mean reward, which are reported per update (NAS-RL) or
     * per epoch (ENAS) at a step: each is placed at the number of
     * architectures sampled by that step. ENAS rows say their step, and
     * many rows share one; NAS-RL's step is the count of architectures
     * itself. DARTS rows (one per epoch, with alphas) are no samples. */
    if (rewarded.length) {
      const xs = rewarded.map((a, i) => i + 1), ys = rewarded.map(a => a.reward);
      const w = Math.max(5, Math.min(100, Math.round(ys.length / 20)));
      const ma = movingAverage(ys, w);
      const [dx, dy] = downsample(xs, ys, MAX_POINTS * 2);
      const [mx, my] = downsample(xs, ma, MAX_POINTS);
      const series = [{ label: 'reward', xs: dx, ys: dy, points: true, color: '#2563eb' },
        { label: `moving average (${w})`, xs: mx, ys: my, color: '#dc2626' }];
      const steps = rewarded.every(a => a.metrics && typeof a.metrics.step === 'number')
        ? rewarded.map(a => a.metrics.step).sort((p, q) => p - q) : null;
      /* How many rows have a step <= s (binary search). */
      const sampledBy = s => {
        if (!steps) return s <= rewarded.length ? s : null;
        let lo = 0, hi = steps.length;
        while (lo < hi) { const mid = (lo + hi) >> 1; if (steps[mid] <= s) lo = mid + 1; else hi = mid; }
        return lo || null;
      };
      for (const [name, label, color] of [['baseline', 'baseline', '#16a34a'],
        ['reward_mean', 'mean reward of the update', '#9333ea'], ['reward', 'mean reward', '#9333ea']]) {
        const m = metrics.get(name);
        if (!m) continue;
        const bx = [], by = [];
        m.xs.forEach((s, i) => {
          const x = sampledBy(s);
          if (x != null && (!bx.length || x > bx[bx.length - 1])) { bx.push(x); by.push(m.ys[i]); }
        });
        if (bx.length) {
          const [px, py] = downsample(bx, by, MAX_POINTS);
          series.push({ label, xs: px, ys: py, color });
        }
      }
      rewardChart.update(series, {}, 'architecture (in sampling order)');
      chartObjs.baseline.hide();
    }
    heat.update(archs);
    renderArchTable();
  }

  /* ---- the architecture table: sorted, one page at a time */
  function renderArchTable() {
    const { params } = parseHash();
    const sort = params.get('sort') || 'number', dir = params.get('dir') || (sort === 'number' ? 'asc' : 'desc');
    const npages = Math.max(1, Math.ceil(archs.length / ARCH_PAGE));
    const page = Math.min(npages - 1, Math.max(0, parseInt(params.get('page') || '0', 10) || 0));
    const open = params.get('arch');
    const keyOf = {
      number: a => a.number, reward: a => (a.reward == null ? -Infinity : a.reward),
      epoch: a => (a.metrics && a.metrics.epoch != null ? a.metrics.epoch : -Infinity),
    }[sort] || (a => a.number);
    const sorted = archs.slice().sort((x, y) => (keyOf(x) - keyOf(y)) * (dir === 'asc' ? 1 : -1) || x.seq - y.seq);
    const rows = sorted.slice(page * ARCH_PAGE, (page + 1) * ARCH_PAGE);
    /* NAS-RL and random rows have no epoch: no empty column for them. */
    const hasEpoch = archs.some(a => a.metrics && a.metrics.epoch != null);
    const th = (key, label) => h('th', { class: 'sortable', 'data-sort': key,
      'aria-sort': sort === key ? (dir === 'asc' ? 'ascending' : 'descending') : null,
      onclick: () => { setParams({ sort: key, dir: sort === key && dir === 'desc' ? 'asc' : 'desc', page: 0 }); renderArchTable(); } }, label);
    const tbody = h('tbody');
    rows.forEach((a, i) => tbody.append(h('tr', { class: 'clickable' + (String(a.number) === open ? ' selected' : ''), 'data-number': a.number,
      onclick: () => { setParams({ arch: a.number }); renderArchTable(); showArch(); archDetail.scrollIntoView({ block: 'nearest' }); } },
    h('td', { class: 'num' }, page * ARCH_PAGE + i + 1), h('td', { class: 'num' }, a.number),
    hasEpoch ? h('td', { class: 'num' }, a.metrics && a.metrics.epoch != null ? a.metrics.epoch : '') : null,
    h('td', { class: 'num' }, fmtNum(a.reward)), h('td', { class: 'summary' }, summarize(a.architecture)),
    h('td', null, retrainButton(id, a.number)))));
    const go = p => { setParams({ page: p }); renderArchTable(); };
    archSection.replaceChildren(...[
      archs.length ? h('div', { class: 'pager' },
        h('button', { disabled: page === 0, onclick: () => go(page - 1) }, '\u2190'),
        h('span', { class: 'muted', id: 'arch-page' }, `page ${page + 1} of ${npages} (${archs.length} architectures)`),
        h('button', { disabled: page >= npages - 1, onclick: () => go(page + 1) }, '\u2192')) : h('p', { class: 'muted' }, historyLoaded ? 'None yet.' : 'Loading\u2026'),
      archs.length ? h('table', { id: 'arch-table' }, h('thead', null, h('tr', null, h('th', null, '#'), th('number', 'number'), hasEpoch ? th('epoch', 'epoch') : null, th('reward', 'reward'), h('th', null, 'architecture'), h('th', null, ''))), tbody) : null].filter(Boolean));
  }

  let shownArch = null;
  function showArch() {
    const num = parseHash().params.get('arch');
    if (!num) { archDetail.classList.add('hidden'); shownArch = null; return; }
    if (num === shownArch) return;
    const a = archs.find(x => String(x.number) === num);
    if (!a) return;
    shownArch = num;
    const url = `${base}/architectures/${num}`;
    const img = h('img', { class: 'cellimg', id: 'arch-svg', alt: `architecture ${num}, drawn by nasd`, src: withToken(`${url}?format=svg`) });
    img.addEventListener('error', () => img.replaceWith(h('p', { class: 'muted' }, 'nasd cannot draw this architecture.')));
    const m = Object.assign({}, a.metrics || {});
    delete m.alpha;
    archDetail.replaceChildren(
      h('h3', null, `Architecture ${num}`, a.reward != null ? ` \u2014 reward ${fmtNum(a.reward)}` : '', ' ',
        h('button', { onclick: () => { setParams({ arch: null }); renderArchTable(); showArch(); } }, 'close')),
      h('p', null, apiLink(`${url}?format=svg`, 'SVG'), ' \u00b7 ',
        apiLink(`${url}?format=dot`, 'DOT'), ' \u00b7 ',
        apiLink(url, 'JSON'), ' ', retrainButton(id, num)),
      img,
      h('details', null, h('summary', null, 'JSON and metrics'), h('pre', null, JSON.stringify({ architecture: a.architecture, metrics: m }, null, 2))));
    archDetail.classList.remove('hidden');
  }

  /* ---- live: the stream first (buffered), then the history, then the
   * buffer (deduplicated), so nothing falls between the two. The history
   * is read only once nasd has the stream registered (its first event,
   * the job's state, says so): an event published before that is in the
   * history, one after it comes over the stream. After a reconnect the
   * browser sends Last-Event-ID (nasd's cursor) and nasd replays what was
   * published while the stream was down, after a `rewind` event when a
   * crash took rows back. */
  let metricsAfter = 0, pollTimer = null;

  /* When nasd refuses the stream (429: its streams, or this client's, are
   * all taken) EventSource gives up for good: poll the job and its
   * history instead until it ends. */
  function startPolling() {
    if (pollTimer || destroyed) return;
    $('#conn').textContent = 'polling';
    pollTimer = setInterval(async () => {
      try {
        job = await api(base, { signal: ctl.signal });
        renderHeader();
        if (historyLoaded) await loadHistory();
        scheduleDraw();
        if (FINAL.has(job.state)) {
          clearInterval(pollTimer);
          pollTimer = null;
          $('#conn').textContent = '';
          reloadJob();
        }
      } catch (e) {
        if (e.name === 'AbortError') { clearInterval(pollTimer); pollTimer = null; }
      }
    }, 5000);
  }
  function onEvent(type, data) {
    if (!historyLoaded) { buffered.push([type, data]); return; }
    if (type === 'rewind') { rewind(data); renderArchTable(); return; }
    if (type === 'metric') addMetric(data);
    else if (type === 'architecture') addArch(data);
    else if (type === 'progress' && job) { job = Object.assign({}, job, { progress: data }); renderHeader(); return; }
    else if (type === 'state') {
      if (data.progress && data.spec) { job = data; renderHeader(); } else reloadJob();
      if (FINAL.has(data.state) && es) { es.close(); es = null; $('#conn').textContent = ''; reloadJob(); }
      return;
    }
    scheduleDraw();
    if (type === 'architecture') showArch();
  }

  async function loadHistory() {
    const archAfter = archs.length ? archs[archs.length - 1].seq : 0;
    const [m] = await Promise.all([
      pages(`${base}/metrics`, 'metrics', items => { items.forEach(addMetric); scheduleDraw(); }, ctl.signal, metricsAfter),
      pages(`${base}/architectures`, 'architectures', items => { items.forEach(addArch); scheduleDraw(); }, ctl.signal, archAfter),
    ]);
    metricsAfter = m;
  }

  /* Resolves once nasd has registered the stream (or it failed). */
  function openStream() {
    return new Promise(resolve => {
      let registered = false;
      const ready = () => { if (!registered) { registered = true; resolve(); } };
      es = new EventSource(withToken(`${base}/events`));
      for (const t of ['state', 'progress', 'metric', 'architecture', 'rewind'])
        es.addEventListener(t, ev => {
          ready();
          let d; try { d = JSON.parse(ev.data); } catch (e) { return; }
          onEvent(t, d);
        });
      es.onopen = () => { $('#conn').textContent = 'live'; };
      es.onerror = () => {
        ready();
        $('#conn').textContent = es && es.readyState === 2 ? '' : 'reconnecting\u2026';
        if (es && es.readyState === 2 && job && !FINAL.has(job.state)) startPolling();
      };
    });
  }

  (async () => {
    try {
      job = await api(base, { signal: ctl.signal });
    } catch (e) {
      if (e.name !== 'AbortError') showError(e.status === 404 ? `No job ${id} (deleted?).` : e.message);
      return;
    }
    renderHeader();
    /* A finished job's result does not wait for its history (thousands
     * of architecture rows take a few pages). */
    if (job.state === 'succeeded' || job.result) loadResult();
    if (!FINAL.has(job.state)) await openStream();
    if (destroyed) return;
    try {
      await loadHistory();
    } catch (e) {
      if (e.name === 'AbortError') return;
      showError(`loading the history failed: ${e.message}`);
    }
    historyLoaded = true;
    for (const [t, d] of buffered.splice(0)) onEvent(t, d);
    scheduleDraw();
    showArch();
    if (job.state === 'succeeded' || job.result) loadResult();
  })();

  return {
    destroy() {
      destroyed = true;
      ctl.abort();
      if (pollTimer) clearInterval(pollTimer);
      if (es) es.close();
      for (const c of Object.values(chartObjs)) c.destroy();
      rewardChart.destroy();
      $('#conn').textContent = '';
    },
  };
}
