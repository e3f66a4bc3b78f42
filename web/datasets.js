// SPDX-License-Identifier: MIT
/*
 * datasets.js - the dashboard's datasets page (issue #21), a part of
 * app.js's one page (its helpers h, api, withToken, progressBar, setParams
 * and parseHash are shared globals):
 *
 *   #/datasets?name=NAME     every dataset, the upload form, and one
 *                            dataset's metadata and sample grid
 *
 * The one design decision to know: the upload goes through
 * XMLHttpRequest rather than fetch, because only XHR reports the progress
 * of a request body; the bar shows the bytes sent, then "importing" until
 * nasd answers (it imports before it answers). The file is sent as it is,
 * never read into the page.
 */
'use strict';

/* The Content-Type nasd takes for a file, from its name. */
function uploadType(file) {
  const n = file.name.toLowerCase();
  if (n.endsWith('.zip') || n.endsWith('.npz')) return 'application/zip';
  if (n.endsWith('.tar')) return 'application/x-tar';
  if (n.endsWith('.tgz') || n.endsWith('.gz')) return 'application/gzip';
  return 'application/octet-stream';
}

/* POST /v1/datasets with the file as the body; onProgress(fraction) as it
 * is sent. Resolves to the dataset, rejects with an ApiError. */
function uploadDataset(name, kind, file, onProgress, resize) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    const size = resize ? `&resize=${encodeURIComponent(resize)}` : '';
    xhr.open('POST', `/v1/datasets?name=${encodeURIComponent(name)}&kind=${encodeURIComponent(kind)}${size}`);
    const t = token();
    if (t) xhr.setRequestHeader('Authorization', `Bearer ${t}`);
    xhr.setRequestHeader('Content-Type', uploadType(file));
    xhr.upload.onprogress = e => { if (e.lengthComputable) onProgress(e.loaded / e.total); };
    xhr.upload.onload = () => onProgress(1);
    xhr.onload = () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch (e) { body = { detail: xhr.responseText }; }
      if (xhr.status === 201) resolve(body); else reject(new ApiError(xhr.status, body));
    };
    xhr.onerror = () => reject(new ApiError(0, { detail: 'the upload failed: the connection closed' }));
    xhr.send(file);
  });
}

function datasetsPage(app) {
  const { params } = parseHash();
  let selected = params.get('name') || '', destroyed = false;

  const tbody = h('tbody');
  const table = h('table', { id: 'datasets' },
    h('thead', null, h('tr', null, ['name', 'kind', 'shape', 'classes', 'train', 'test', 'source', '']
      .map(c => h('th', null, c)))), tbody);
  const detail = h('section', { id: 'dataset-detail', class: 'card hidden' });
  const errBox = h('div', { class: 'error-box hidden', role: 'alert' });

  const nameIn = h('input', { name: 'name', required: true, pattern: '[a-z0-9][a-z0-9._\\-]{0,63}',
    placeholder: 'photos', 'aria-describedby': 'upload-status' });
  const kindIn = h('select', { name: 'kind' }, h('option', { value: 'image' }, 'image'),
    h('option', { value: 'text' }, 'text'));
  const fileIn = h('input', { name: 'file', type: 'file', required: true,
    accept: '.tar,.zip,.npz,.gz,.tgz,.txt' });
  const resizeIn = h('input', { name: 'resize', pattern: '[0-9]+x[0-9]+', placeholder: '32x32', size: 7,
    title: 'resize every image to HEIGHTxWIDTH (else images of mixed sizes are refused)' });
  const bar = h('span', { id: 'upload-progress', class: 'hidden' });
  const status = h('p', { id: 'upload-status', class: 'hint', 'aria-live': 'polite' });
  const button = h('button', { type: 'submit' }, 'Upload');
  const form = h('form', { id: 'upload-form', class: 'card', onsubmit: ev => { ev.preventDefault(); send(); } },
    h('h3', null, 'Upload a dataset'),
    h('p', { class: 'hint' }, 'Images: a .tar or .zip of <class>/<image>.png|.jpg folders ' +
      '(optionally under train/, valid/, test/; without test/ 10% of each class is held out), ' +
      'or NumPy x_train.npy and y_train.npy (and x_test.npy, y_test.npy) in a .npz, .tar or .zip; ' +
      'of one size, or resized to HxW. Text: one .txt file (split 80/10/10 by lines) or an archive of ' +
      'train.txt, valid.txt and test.txt.'),
    h('div', { class: 'toolbar' },
      h('label', null, 'name ', nameIn), h('label', null, 'kind ', kindIn),
      h('label', null, 'resize ', resizeIn), fileIn, button),
    bar, status);

  function setBar(fraction, label) {
    bar.replaceChildren(progressBar({ fraction }, true));
    bar.querySelector('em').textContent = label;
    bar.classList.remove('hidden');
  }

  async function send() {
    const file = fileIn.files[0];
    if (!file) return;
    button.disabled = true;
    status.className = 'hint';
    status.textContent = '';
    setBar(0, '0%');
    try {
      const ds = await uploadDataset(nameIn.value.trim(), kindIn.value, file, f =>
        setBar(f, f < 1 ? `${Math.round(f * 100)}% sent` : 'importing\u2026'), resizeIn.value.trim());
      setBar(1, 'imported');
      status.textContent = `${ds.name}: imported`;
      form.reset();
      selected = ds.name;
      setParams({ name: selected });
      await refresh();
    } catch (e) {
      bar.classList.add('hidden');
      status.className = 'form-error';
      const p = e.problem || {};
      status.textContent = (e.status ? `${e.status}: ` : '') + e.message +
        (p.file ? ` (file: ${p.file})` : '') + (p.limit_name ? ` (limit: ${p.limit_name} = ${p.limit})` : '');
    } finally {
      button.disabled = false;
    }
  }

  function showDetail(d) {
    if (!d) { detail.classList.add('hidden'); return; }
    const m = d.meta || {};
    const kv = [['name', d.name], ['kind', d.kind], ['source', d.uploaded ? 'uploaded' : 'built in']];
    if (d.shape) kv.push(['shape', d.shape.join(' \u00d7 ')]);
    if (m.classes) kv.push(['classes', m.classes.join(', ')]);
    if (m.splits) kv.push(['splits', Object.entries(m.splits).map(([k, v]) =>
      `${k} ${v.images != null ? v.images + ' images' : v.tokens + ' tokens'}`).join(', ')]);
    if (m.test_split) kv.push(['test split', m.test_split]);
    if (m.vocabulary) kv.push(['vocabulary', m.vocabulary]);
    if (m.mean) kv.push(['mean / std', `${m.mean.map(v => fmtNum(v, 3)).join(', ')} / ${m.std.map(v => fmtNum(v, 3)).join(', ')}`]);
    if (m.sha256) kv.push(['sha256', h('code', null, m.sha256)]);
    if (d.path) kv.push(['path', d.path]);
    detail.replaceChildren(h('h3', null, d.name),
      h('dl', { class: 'kv' }, kv.flatMap(([k, v]) => [h('dt', null, k), h('dd', null, v)])));
    if (d.uploaded && d.kind === 'image')
      detail.append(h('p', { class: 'hint' }, 'The first training images of each class, a row per class:'),
        h('img', { id: 'dataset-samples', class: 'cellimg', alt: `samples of ${d.name}`,
          src: withToken(`/v1/datasets/${encodeURIComponent(d.name)}?format=png`) }));
    detail.classList.remove('hidden');
  }

  function row(d) {
    const del = d.uploaded ? h('button', { class: 'small', 'data-delete': d.name, onclick: async ev => {
      ev.stopPropagation();
      if (!confirm(`Delete the dataset ${d.name}?`)) return;
      try {
        await api(`/v1/datasets/${encodeURIComponent(d.name)}`, { method: 'DELETE' });
        if (selected === d.name) { selected = ''; setParams({ name: '' }); }
        errBox.classList.add('hidden');
      } catch (e) {
        errBox.textContent = e.message;
        errBox.classList.remove('hidden');
      }
      refresh();
    } }, 'delete') : '';
    return h('tr', { 'data-name': d.name, class: d.name === selected ? 'selected' : null, onclick: () => {
      selected = d.name;
      setParams({ name: selected });
      refresh();
    } },
    h('td', null, h('a', { href: `#/datasets?name=${encodeURIComponent(d.name)}` }, d.name)),
    h('td', null, d.kind), h('td', null, d.shape ? d.shape.join('\u00d7') : ''),
    h('td', null, d.classes != null ? d.classes : ''), h('td', null, d.train_size != null ? d.train_size : ''),
    h('td', null, d.test_size != null ? d.test_size : ''),
    h('td', null, d.uploaded ? 'uploaded' : d.present ? 'built in' : 'built in (not installed)'),
    h('td', null, del));
  }

  async function refresh() {
    try {
      const { datasets } = await api('/v1/datasets');
      if (destroyed) return;
      tbody.replaceChildren(...datasets.map(row));
      showDetail(datasets.find(d => d.name === selected));
    } catch (e) {
      errBox.textContent = e.message;
      errBox.classList.remove('hidden');
    }
  }

  app.append(h('h2', null, 'Datasets'), errBox, form, table, detail);
  refresh();
  return { destroy() { destroyed = true; } };
}
