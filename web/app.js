/* fakescope web page: talks to the server's own API dialects from the browser.
 *  - Check a file: an image goes to the face check (/face/v1/deepfake/images?detail=1, which
 *    answers face boxes and per-model scores) and to the image check of each chosen model (the
 *    whole picture, or its faces for a model that learned faces); a video goes to classification by hash (progress while it runs, per-frame
 *    scores, one verdict per heuristic), then to the face-video check with the same settings,
 *    which the server answers from the stored result, for the boxes and the frame times.
 *    With Explain ticked, the image checks ask for ?explain=1 (the whole picture, and each face
 *    with crop=faces when the face check found faces) and show the Grad-CAM overlays.
 *  - Models: the explorer (cards, metrics, loss curve, predictions with feature maps).
 *  - Dataset game: guess real or fake on random dataset pictures, then compare with the model.
 *  - Manage (only for an admin key, probed with GET /admin/keys): the recognition API's specs,
 *    networks and versions, paged, with create and delete of specs and delete of the others.
 * The key is asked once and kept in localStorage. Numbers the browser test checks are exposed
 * as data attributes (data-state, data-verdict, data-face-boxes, data-overlays, data-count). */
'use strict';

const KEY_STORE = 'fakescope.key';
const POLL_MS = 400;          /* classification GET polling period */
const POLL_MAX_MS = 600000;   /* give up polling after 10 minutes */
const SEEK_MAX_MS = 5000;     /* a frame the browser cannot seek to is drawn as it stands */
const PAGE_SIZE = 5;          /* rows per page in the management lists */
const MODEL_COLOURS = ['#0b5cad', '#b3261e', '#1e6b34', '#8a5300', '#6a1b9a', '#00695c'];

const $ = (id) => document.getElementById(id);
const el = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'text') e.textContent = v;
    else if (k === 'class') e.className = v;
    else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k);
  return e;
};
const pct = (p) => (100 * p).toFixed(1) + '\u00a0%'; /* no line break before the sign */

/* ------------------------------------------------------------------ key and errors */

function getKey() { return localStorage.getItem(KEY_STORE) || ''; }

function showKeyState() {
  const k = getKey();
  $('key-state').textContent = k ? 'saved (' + k.slice(0, 12) + '…)' : 'not set: checks need a key';
  $('key-input').value = '';
  $('key-input').placeholder = k ? 'saved; type to replace' : 'fsk_…';
}

function showError(text) {
  const e = $('error');
  e.textContent = text;
  e.hidden = !text;
}

/* The dialects answer errors in different shapes; this finds the sentence in any of them. */
function errorText(status, body) {
  let m = '';
  if (body && typeof body === 'object') {
    if (body.error && typeof body.error === 'object') {
      m = body.error.message;
      if (m && body.error.field) m += ' (field ' + body.error.field + ')';
    }
    else if (typeof body.error === 'string') m = body.error;
    m = m || (typeof body.message === 'string' && body.message) || body.translation || body.reason || '';
  } else if (typeof body === 'string') m = body.slice(0, 300);
  if (status === 401 && !m) m = 'the API key is missing or not valid';
  return 'HTTP ' + status + ': ' + (m || 'the server gave no reason');
}

class ApiError extends Error {
  constructor(status, body) { super(errorText(status, body)); this.status = status; this.body = body; }
}

/* fetch + JSON; 2xx answers resolve with {status, body}, others throw ApiError.
 * okStatuses lets a caller accept an answer such as NO_FACE's 200 or a pending 202. */
async function api(path, opts = {}, auth = true) {
  const headers = Object.assign({}, opts.headers || {});
  if (auth) {
    const k = getKey();
    if (!k) throw new Error('Enter your API key first (top of the page).');
    headers['Authorization'] = 'Bearer ' + k;
  }
  let res;
  try {
    res = await fetch(path, Object.assign({}, opts, { headers }));
  } catch (e) {
    throw new Error('The server could not be reached: ' + e.message);
  }
  const text = await res.text();
  let body = text;
  try { body = text ? JSON.parse(text) : null; } catch (e) { /* not JSON: keep the text */ }
  if (!res.ok) throw new ApiError(res.status, body);
  return { status: res.status, body };
}

/* ------------------------------------------------------------------ tabs */

const ALL_TABS = ['check', 'models', 'game', 'manage'];
const loaded = {};
/* The tabs shown: Manage only for an admin key. */
const TABS = () => ALL_TABS.filter((t) => t !== 'manage' || document.body.dataset.admin === '1');

function selectTab(name, focus) {
  if (!TABS().includes(name)) name = 'check';
  for (const t of ALL_TABS) {
    const on = t === name;
    const b = $('tab-' + t);
    b.setAttribute('aria-selected', String(on));
    b.tabIndex = on ? 0 : -1;
    $('view-' + t).hidden = !on;
    if (on && focus) b.focus();
  }
  showError('');
  if (name === 'models' && !loaded.models) { loaded.models = true; loadExplorer(); }
  if (name === 'game' && !loaded.game) { loaded.game = true; loadGameModels(); }
  if (name === 'manage') loadManage();
  if (location.hash !== '#' + name) history.replaceState(null, '', '#' + name);
}

function setupTabs() {
  ALL_TABS.forEach((t) => {
    const b = $('tab-' + t);
    b.addEventListener('click', () => selectTab(t, false));
    b.addEventListener('keydown', (ev) => {
      const d = ev.key === 'ArrowRight' ? 1 : ev.key === 'ArrowLeft' ? -1 : 0;
      if (!d) return;
      ev.preventDefault();
      const tabs = TABS(), i = tabs.indexOf(t);
      selectTab(tabs[(i + d + tabs.length) % tabs.length], true);
    });
  });
  const h = location.hash.slice(1);
  selectTab(TABS().includes(h) ? h : 'check', false);
}

/* Shows the Manage tab when the saved key is an admin key (GET /admin/keys answers 200). */
async function probeAdmin() {
  let admin = false;
  if (getKey()) {
    try { await api('/admin/keys'); admin = true; } catch (e) { admin = false; }
  }
  document.body.dataset.admin = admin ? '1' : '0';
  $('tab-manage-item').hidden = !admin;
  const wanted = location.hash.slice(1);
  if (!admin && !$('view-manage').hidden) selectTab('check', false);
  else if (admin && wanted === 'manage' && $('view-manage').hidden) selectTab('manage', false);
}

/* ------------------------------------------------------------------ check a file */

let chosenFile = null;

async function loadModels() {
  const box = $('model-list');
  try {
    const { body } = await api('/api/models', {}, false);
    const models = (body && body.models) || [];
    box.replaceChildren(el('legend', { text: 'Models' }));
    if (!models.length) box.append(el('p', { class: 'muted', text: 'The server has no model (start it with --models DIR).' }));
    for (const m of models) {
      const id = 'model-' + m.name.replace(/[^A-Za-z0-9_-]/g, '_');
      const cb = el('input', { type: 'checkbox', id, value: m.name, checked: '' });
      const lab = el('label', { for: id, title: m.description || '' }, cb, m.name);
      box.append(lab);
    }
  } catch (e) {
    box.replaceChildren(el('legend', { text: 'Models' }), el('p', { class: 'error', text: 'Could not list the models: ' + e.message }));
  }
}

function chosenModels() {
  return [...document.querySelectorAll('#model-list input:checked')].map((c) => c.value);
}

function setFile(f) {
  chosenFile = f || null;
  $('file-name').textContent = f ? f.name + ' (' + Math.round(f.size / 1024) + ' KiB, ' + (f.type || 'unknown type') + ')' : '';
}

function setupDrop() {
  const d = $('drop');
  $('file-input').addEventListener('change', (ev) => setFile(ev.target.files[0]));
  d.addEventListener('dragover', (ev) => { ev.preventDefault(); d.classList.add('over'); });
  d.addEventListener('dragleave', () => d.classList.remove('over'));
  d.addEventListener('drop', (ev) => {
    ev.preventDefault();
    d.classList.remove('over');
    if (ev.dataTransfer.files.length) setFile(ev.dataTransfer.files[0]);
  });
}

function status(text) { $('check-status').textContent = text; }

function resetResult() {
  const r = $('result');
  r.hidden = true;
  r.dataset.state = 'running';
  delete r.dataset.verdict;
  $('faces').replaceChildren();
  $('faces').dataset.faceBoxes = '0';
  $('faces').className = 'faces';
  $('model-table').tBodies[0].replaceChildren();
  $('heuristics').tBodies[0].replaceChildren();
  $('timeline').replaceChildren();
  $('video-extra').hidden = true;
  $('explain').hidden = true;
  $('explain').dataset.overlays = '0';
  $('explain-figs').replaceChildren();
  $('credentials').hidden = true;
  $('credentials').dataset.state = 'none';
  $('credentials-list').replaceChildren();
  $('check-progress').hidden = true;
}

/* The image check's "provenance" object (docs/provenance.md) as a short list: validation state,
 * signer, generator, time, the signed AI statement, and the unsigned hint kept apart. */
const CRED_STATE = {
  none: 'No Content Credentials in this file',
  invalid: 'Present but failed validation',
  valid: 'Valid (signer not on the server\'s trust list)',
  trusted: 'Valid, signed by a trusted signer',
};
function showCredentials(p) {
  if (!p || typeof p.state !== 'string') return;
  const box = $('credentials');
  box.hidden = false;
  box.dataset.state = p.state;
  const rows = [['Validation', CRED_STATE[p.state] || p.state]];
  const active = (p.manifests || [])[(p.manifests || []).length - 1];
  const failures = ((active && active.validation && active.validation.failure) || []).map((f) => f.code);
  if (failures.length) rows.push(['Failures', failures.join(', ')]);
  if (p.store_error) rows.push(['Error', p.store_error]);
  if (p.signer) rows.push(['Signer', p.signer + (p.issuer ? ' (issued by ' + p.issuer + ')' : '')]);
  if (p.claim_generator) rows.push(['Generator', p.claim_generator]);
  if (p.time) rows.push(['Signed at', p.time]);
  const ai = p.ai_generated || {};
  if (p.state !== 'none')
    rows.push(['AI-generated (signed)', ai.signed ? 'Yes: ' + ai.signed.split('/').pop() : 'No such statement']);
  if (ai.unsigned_hint) rows.push(['Unsigned hint', ai.unsigned_hint]);
  $('credentials-list').replaceChildren(...rows.flatMap(([k, v]) => [el('dt', { text: k }), el('dd', { text: v })]));
}

/* verdict: 'fake' | 'real' | 'none'; p: P(fake) or null */
function showVerdict(verdict, p, detail) {
  const r = $('result');
  r.hidden = false;
  r.dataset.verdict = verdict;
  const t = $('verdict-text');
  t.className = verdict;
  t.textContent = verdict === 'none' ? 'No face found' :
    (verdict === 'fake' ? 'Likely fake' : 'Likely real') + ': P(fake) ' + pct(p);
  $('verdict-bar').style.width = p == null ? '0' : (100 * p).toFixed(1) + '%';
  $('verdict-bar-label').setAttribute('aria-label', p == null ? 'no score' : 'P(fake) ' + pct(p) + ', the mark in the middle is 50 %');
  $('verdict-detail').textContent = detail;
}

function addModelRow(model, p, label, source) {
  const tr = el('tr', {}, el('th', { scope: 'row', text: model }), el('td', { class: 'num', text: p == null ? '–' : pct(p) }),
    el('td', { text: label }), el('td', { text: source }));
  $('model-table').tBodies[0].append(tr);
}

/* Face boxes: red or green by P(fake); with mainPerson given, everyone else is drawn grey and
 * labelled as another person (their scores do not make the verdict). Keypoints as dots. */
function drawBoxes(ctx, faces, scale, mainPerson) {
  ctx.lineWidth = Math.max(2, 3 / scale);
  ctx.font = Math.round(14 / scale) + 'px sans-serif';
  let n = 0;
  for (const f of faces) {
    const b = f.box;
    if (!b) continue;
    const ps = Object.values(f.p_fake || {}).filter((v) => typeof v === 'number');
    const worst = ps.length ? Math.max(...ps) : null;
    const other = mainPerson != null && f.person != null && f.person !== mainPerson;
    ctx.strokeStyle = other ? '#8e8e93' : worst != null && worst >= 0.5 ? '#ff3b30' : '#34c759';
    ctx.strokeRect(b.x, b.y, b.w, b.h);
    ctx.fillStyle = ctx.strokeStyle;
    for (const [x, y] of f.keypoints || []) {
      ctx.beginPath();
      ctx.arc(x, y, Math.max(2, 3 / scale), 0, 2 * Math.PI);
      ctx.fill();
    }
    if (worst != null) {
      const label = (other ? 'other person ' : '') + (100 * worst).toFixed(0) + '%';
      const h = Math.round(18 / scale);
      ctx.fillStyle = 'rgba(0,0,0,.7)';
      ctx.fillRect(b.x, Math.max(0, b.y - h), ctx.measureText(label).width + 8 / scale, h);
      ctx.fillStyle = '#fff';
      ctx.fillText(label, b.x + 4 / scale, Math.max(0, b.y - h) + h - 4 / scale);
    }
    n++;
  }
  return n;
}

function faceFigure(source, w, h, faces, caption) {
  const c = el('canvas', { width: String(w), height: String(h) });
  const ctx = c.getContext('2d');
  ctx.drawImage(source, 0, 0, w, h);
  const n = drawBoxes(ctx, faces, Math.min(1, 600 / w));
  c.setAttribute('role', 'img');
  c.setAttribute('aria-label', caption + ': ' + n + (n === 1 ? ' face box' : ' face boxes'));
  return { fig: el('figure', {}, c, el('figcaption', { text: caption })), n };
}

function readAsDataURL(file) {
  return new Promise((ok, fail) => {
    const r = new FileReader();
    r.onload = () => ok(r.result);
    r.onerror = () => fail(new Error('the file could not be read'));
    r.readAsDataURL(file);
  });
}

function loadImage(src) {
  return new Promise((ok, fail) => {
    const i = new Image();
    i.onload = () => ok(i);
    i.onerror = () => fail(new Error('the browser cannot show this picture'));
    i.src = src;
  });
}

/* One image check (seed 001) of the file with model m; crop 'faces' judges each face. */
function imageCheck(file, m, explain, crop) {
  const fd = new FormData();
  fd.append('image', file, file.name);
  fd.append('modelName', m);
  fd.append('token', getKey());
  if (crop) fd.append('crop', crop);
  return api('/api/1.1/wf/api-deepfake-detection' + (explain ? '?explain=1' : ''), { method: 'POST', body: fd });
}

/* Grad-CAM overlays of an image check answer (its "explanation" object) under #explain. */
function addOverlays(model, where, body) {
  const x = body && body.explanation;
  if (!x || !Array.isArray(x.faces)) return;
  const box = $('explain');
  box.hidden = false;
  x.faces.forEach((f, i) => {
    const label = where === 'faces' ? 'face ' + (i + 1) : 'whole picture';
    const img = el('img', { src: f.overlay, width: String(f.width), height: String(f.height),
      alt: 'Grad-CAM heat map of ' + model + ' over the ' + label + ' (P(fake) ' + pct(f.p_fake) + ')' });
    img.dataset.model = model;
    $('explain-figs').append(el('figure', {}, img, el('figcaption', { text: model + ', ' + label + ': P(fake) ' + pct(f.p_fake) })));
  });
  box.dataset.overlays = String($('explain-figs').querySelectorAll('img').length);
}

async function checkImage(file, models, explain) {
  const dataUrl = await readAsDataURL(file);
  status('Looking for faces and scoring them…');
  const q = '?detail=1' + (models.length ? '&models=' + encodeURIComponent(models.join(',')) : '');
  const faceCall = api('/face/v1/deepfake/images' + q, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ frames: [dataUrl] }),
  });
  const wholeCalls = models.map((m) => imageCheck(file, m, explain));
  const [face, ...whole] = await Promise.allSettled([faceCall, ...wholeCalls]);
  const img = await loadImage(dataUrl);

  const wholeP = [];
  whole.forEach((w, i) => {
    if (w.status === 'fulfilled') {
      const resp = w.value.body.response || {};
      const p = Array.isArray(resp.confidence) ? resp.confidence[0] : null;
      if (p != null) wholeP.push(p);
      /* a model that learned faces (its card's picture_input) judges the faces without being asked */
      const where = (w.value.body.crops || []).some((c) => c.kind === 'face') ? 'faces' : 'whole';
      addModelRow(models[i], p, resp.result || '', where === 'faces' ? 'faces (image check)' : 'whole picture (image check)');
      if (explain) addOverlays(models[i], where, w.value.body);
      if (i === whole.findIndex((x) => x.status === 'fulfilled')) showCredentials(w.value.body.provenance);
    } else addModelRow(models[i], null, w.reason.message, 'image check');
  });

  if (face.status === 'rejected') throw face.reason;
  const body = face.value.body || {};
  if (body.status === 'NO_FACE') {
    const mean = wholeP.length ? wholeP.reduce((a, b) => a + b, 0) / wholeP.length : null;
    if (mean == null) showVerdict('none', null, body.reason || 'No face was found.');
    else showVerdict(mean >= 0.5 ? 'fake' : 'real', mean, 'No face was found, so this is the mean of the whole-picture scores.');
    const { fig } = faceFigure(img, img.naturalWidth, img.naturalHeight, [], 'no face found');
    $('faces').append(fig);
    return;
  }
  const read = (body.read && body.read.deepfake) || {};
  const detail = (body.read && body.read.detail) || { frames: [], people: [] };
  showVerdict(read.value === 'fake' ? 'fake' : 'real', read.confidence,
    'Average over the faces of ' + (detail.models || models).join(', ') + '. The bar is P(fake); the mark is 50 %.');
  for (const person of detail.people || [])
    for (const m of person.models || [])
      addModelRow(m.model, m.mean, m.classification || '', 'face ' + (person.person + 1));
  const faces = (detail.frames[0] && detail.frames[0].faces) || [];
  const { fig, n } = faceFigure(img, img.naturalWidth, img.naturalHeight, faces, n1(faces.length, 'face'));
  $('faces').append(fig);
  $('faces').dataset.faceBoxes = String(n);
  if (explain && faces.length) {
    status('Explaining the faces…');
    const calls = await Promise.allSettled(models.map((m) => imageCheck(file, m, true, 'faces')));
    calls.forEach((c, i) => {
      if (c.status === 'fulfilled') addOverlays(models[i], 'faces', c.value.body);
      else $('explain-figs').append(el('p', { class: 'error', text: models[i] + ': ' + c.reason.message }));
    });
  }
}

const n1 = (n, w) => n + ' ' + w + (n === 1 ? '' : 's');

async function pollClassification(hash) {
  const t0 = Date.now();
  const bar = $('check-progress');
  bar.hidden = false;
  for (;;) {
    const { status: code, body } = await api('/api/classification_video/' + hash);
    if (code === 200) { bar.value = 1; return body; }
    const p = typeof body.progress === 'number' ? body.progress : 0;
    bar.value = p;
    status('Video ' + (body.status || 'pending') + ': ' + Math.round(100 * p) + ' % done');
    if (Date.now() - t0 > POLL_MAX_MS) throw new Error('The video was not done within 10 minutes; try again later (hash ' + hash + ').');
    await new Promise((ok) => setTimeout(ok, POLL_MS));
  }
}

function seek(video, t) {
  return new Promise((ok) => {
    let timer = 0;
    const done = () => { clearTimeout(timer); video.removeEventListener('seeked', done); ok(); };
    timer = setTimeout(done, SEEK_MAX_MS);
    video.addEventListener('seeked', done);
    video.currentTime = Math.min(Math.max(0, t), Math.max(0, (video.duration || 0) - 0.01));
  });
}

/* Captures the sampled frames from a <video> of the local file and draws the boxes on them. */
async function frameStrip(file, frames, mainPerson) {
  const strip = $('faces');
  strip.className = 'faces strip';
  const url = URL.createObjectURL(file);
  const v = el('video', { muted: '', preload: 'auto', playsinline: '' });
  v.muted = true;
  v.src = url;
  let total = 0;
  try {
    await new Promise((ok, fail) => {
      v.onloadeddata = ok;
      v.onerror = () => fail(new Error('the browser cannot play this video, so its frames are not shown'));
    });
    for (const f of frames) {
      await seek(v, f.time || 0);
      const scale = Math.min(1, 480 / v.videoWidth);
      const c = el('canvas', { width: String(Math.round(v.videoWidth * scale)), height: String(Math.round(v.videoHeight * scale)) });
      const ctx = c.getContext('2d');
      ctx.drawImage(v, 0, 0, c.width, c.height);
      ctx.save();
      ctx.scale(scale, scale);
      const n = drawBoxes(ctx, f.faces || [], scale, mainPerson);
      ctx.restore();
      total += n;
      const cap = 'frame ' + f.index + ' at ' + (f.time || 0).toFixed(2) + ' s, ' + n1(n, 'face');
      c.setAttribute('role', 'img');
      c.setAttribute('aria-label', cap);
      strip.append(el('figure', {}, c, el('figcaption', { text: cap })));
    }
  } catch (e) {
    strip.append(el('p', { class: 'muted', text: e.message }));
  } finally {
    URL.revokeObjectURL(url);
  }
  strip.dataset.faceBoxes = String(total);
}

/* Inline SVG line chart: x = frame time (or order), y = P(fake) of the frame per model. */
function timeline(frames, models, timed) {
  const W = 640, H = 260, L = 44, R = 12, T = 12, B = 36;
  const NS = 'http://www.w3.org/2000/svg';
  const s = (tag, a) => { const e = document.createElementNS(NS, tag); for (const k in a) e.setAttribute(k, a[k]); return e; };
  const pts = frames.filter((f) => (f.faces || []).length);
  const xs = frames.map((f) => f.time || 0);
  const x0 = Math.min(...xs, 0), x1 = Math.max(...xs, x0 + 1);
  const X = (t) => L + (W - L - R) * (t - x0) / (x1 - x0);
  const Y = (p) => T + (H - T - B) * (1 - p);
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-labelledby': 'tl-title', 'data-frames': String(pts.length) });
  const title = s('title', { id: 'tl-title' });
  title.textContent = 'P(fake) per sampled frame for ' + models.join(', ');
  svg.append(title);
  svg.append(s('rect', { x: L, y: T, width: W - L - R, height: H - T - B, fill: '#fff', stroke: '#999' }));
  for (const p of [0, 0.25, 0.5, 0.75, 1]) {
    svg.append(s('line', { x1: L, x2: W - R, y1: Y(p), y2: Y(p), stroke: p === 0.5 ? '#333' : '#ddd', 'stroke-dasharray': p === 0.5 ? '5 4' : '' }));
    const tx = s('text', { x: L - 6, y: Y(p) + 4, 'text-anchor': 'end', 'font-size': 12, fill: '#333' });
    tx.textContent = p.toFixed(2);
    svg.append(tx);
  }
  const xl = s('text', { x: (L + W - R) / 2, y: H - 6, 'text-anchor': 'middle', 'font-size': 12, fill: '#333' });
  xl.textContent = timed ? 'time in the video (s), ' + x0.toFixed(1) + ' to ' + x1.toFixed(1) : 'frame with a face (order)';
  svg.append(xl);
  const legend = el('ul', { class: 'legend' });
  models.forEach((m, i) => {
    const col = MODEL_COLOURS[i % MODEL_COLOURS.length];
    const series = pts.map((f) => {
      const ps = f.faces.map((x) => (x.p_fake || {})[m]).filter((v) => typeof v === 'number');
      return ps.length ? [X(f.time || 0), Y(Math.max(...ps))] : null;
    }).filter(Boolean);
    if (series.length > 1)
      svg.append(s('polyline', { points: series.map((p) => p.join(',')).join(' '), fill: 'none', stroke: col, 'stroke-width': 2.5 }));
    for (const [x, y] of series) svg.append(s('circle', { cx: x, cy: y, r: 4, fill: col }));
    legend.append(el('li', {}, el('span', { class: 'swatch', style: 'background:' + col }), m));
  });
  const fig = $('timeline');
  fig.replaceChildren(svg, legend, el('figcaption', { class: 'muted', text: 'Each point is the main person\'s face in that frame (the strongest face track, whose verdict is the video\'s); dashed line: 50 %. ' +
    'Other people are drawn grey in the frames below and do not change the verdict.' }));
}

async function checkVideo(file, models) {
  const frames = Math.max(1, Math.min(64, parseInt($('frames-input').value, 10) || 8));
  const fd = new FormData();
  fd.append('file', file, file.name);
  fd.append('frames', String(frames));
  if (models.length) fd.append('models', models.join(','));
  status('Uploading the video…');
  const post = await api('/api/classification_video', { method: 'POST', body: fd });
  const hash = post.body.hash;
  const res = post.status === 200 ? (await api('/api/classification_video/' + hash)).body : await pollClassification(hash);
  $('check-progress').hidden = true;

  /* the same settings give the same stored result, so this answer comes at once */
  status('Reading face boxes…');
  const vd = new FormData();
  vd.append('video', file, file.name);
  const q = '?detail=1&frames=' + frames + (models.length ? '&models=' + encodeURIComponent(models.join(',')) : '');
  let detail = null, faceErr = '';
  try {
    const fv = await api('/face/v1/deepfake' + q, { method: 'POST', body: vd });
    detail = fv.body.read && fv.body.read.detail;
    if (fv.body.status === 'NO_FACE') faceErr = 'No face was found in the sampled frames.';
  } catch (e) { faceErr = 'Face boxes are not available: ' + e.message; }

  const verdicts = res.verdicts || [];
  const avg = verdicts.find((v) => v.heuristic === 'Average') || verdicts[0];
  if (!avg) showVerdict('none', null, 'No face was found in the sampled frames, so there is nothing to judge.');
  else {
    const pf = avg.classification === 'artificial' ? avg.confidence : 1 - avg.confidence;
    showVerdict(avg.classification === 'artificial' ? 'fake' : 'real', pf,
      'Average heuristic over ' + n1((res.results.images || []).length, 'frame') + ' with a face; the other heuristics are beside the chart.');
  }
  const cm = (res.results && res.results.classification_matrix) || {};
  const sd = (res.results && res.results.std_deviations) || {};
  for (const [m, c] of Object.entries(cm)) {
    const pf = c.classification === 'artificial' ? c.confidence : 1 - c.confidence;
    addModelRow(m, pf, c.classification + ' (σ ' + (sd[m] != null ? sd[m].toFixed(3) : '–') + ')', 'mean over frames');
  }
  const hb = $('heuristics').tBodies[0];
  for (const v of verdicts)
    hb.append(el('tr', {}, el('th', { scope: 'row', text: v.heuristic }), el('td', { text: v.classification }),
      el('td', { class: 'num', text: pct(v.confidence) })));
  $('video-extra').hidden = false;
  /* The chart shows the per-frame scores the verdicts were computed from (classification
   * results, one entry per frame with a face), at the times the face check reports. */
  const imgs = (res.results && res.results.images) || [];
  const withFace = ((detail && detail.frames) || []).filter((f) => (f.faces || []).length);
  const times = withFace.length === imgs.length ? withFace.map((f) => f.time || 0) : imgs.map((_, i) => i);
  timeline(imgs.map((fr, i) => ({ index: i, time: times[i], faces: [{ p_fake: Object.fromEntries(fr.map((x) => [x.model, x.classification[0].score])) }] })),
    Object.keys(cm).length ? Object.keys(cm) : models, withFace.length === imgs.length);
  if (detail) {
    status('Capturing the sampled frames…');
    await frameStrip(file, detail.frames || [], detail.main_person);
  } else {
    $('faces').append(el('p', { class: 'muted', text: faceErr }));
  }
}

async function onCheck(ev) {
  ev.preventDefault();
  showError('');
  if (!chosenFile) { showError('Choose an image or a video first.'); $('file-input').focus(); return; }
  const models = chosenModels();
  if (!models.length) { showError('Choose at least one model.'); return; }
  if (!getKey()) { showError('Enter your API key first (top of the page).'); $('key-input').focus(); return; }
  const btn = $('check-button');
  btn.disabled = true;
  resetResult();
  const isVideo = (chosenFile.type || '').startsWith('video/') || /\.(mp4|mov|webm|mkv|avi)$/i.test(chosenFile.name);
  try {
    const explain = $('explain-input').checked;
    if (isVideo) {
      await checkVideo(chosenFile, models);
      if (explain) {
        $('explain').hidden = false;
        $('explain-figs').replaceChildren(el('p', { class: 'muted', text: 'Explanations are drawn for pictures only.' }));
      }
    } else await checkImage(chosenFile, models, explain);
    $('result').dataset.state = 'done';
    status('Done.');
  } catch (e) {
    $('result').dataset.state = 'error';
    status('');
    showError(e.message);
  } finally {
    btn.disabled = false;
    $('check-progress').hidden = true;
  }
}

/* ------------------------------------------------------------------ explorer */

/* clr is {"columns": ["", "precision", ...], "rows": [["real", 0.9, ...], ...]}. */
function reportTable(clr) {
  const t = el('table', {}, el('caption', { text: 'Classification report' }));
  const cols = Array.isArray(clr.columns) ? clr.columns : [];
  const head = el('tr');
  cols.forEach((c, i) => head.append(el('th', { scope: 'col', text: i ? c : 'class' })));
  t.append(el('thead', {}, head));
  const tb = el('tbody');
  for (const row of Array.isArray(clr.rows) ? clr.rows : []) {
    const tr = el('tr', {}, el('th', { scope: 'row', text: String(row[0]) }));
    row.slice(1).forEach((v) => tr.append(el('td', { class: 'num', text: v == null ? '' : String(v) })));
    tb.append(tr);
  }
  t.append(tb);
  return el('div', { class: 'table-wrap' }, t);
}

async function showPredictions(card, m, out, layers) {
  out.replaceChildren(el('p', { class: 'muted', text: 'Predicting…' }));
  try {
    const { body } = await api('/api/predictions/' + encodeURIComponent(m.model_id) + '/4/' + layers + (layers ? '/' : ''), {}, false);
    const ul = el('ul', { class: 'preds' });
    for (const p of body) {
      const li = el('li', {}, el('img', { src: p.img_url, alt: 'dataset picture, truly ' + p.true_label }),
        el('p', { text: 'truth ' + p.true_label + ', model ' + p.pred_label + ' (' + p.probability.toFixed(1) + ' %)' }));
      (p.plots || []).forEach((u, i) => li.append(el('img', { src: u, alt: 'feature maps of conv layer ' + layers[i] })));
      ul.append(li);
    }
    out.replaceChildren(ul);
  } catch (e) {
    out.replaceChildren(el('p', { class: 'error', text: e.message }));
  }
}

async function loadExplorer() {
  const box = $('model-cards');
  box.replaceChildren(el('p', { class: 'muted', text: 'Loading…' }));
  try {
    const size = await api('/api/dataset-size/', {}, false).catch(() => null);
    $('dataset-size').textContent = size ? 'Dataset: ' + size.body.size + ' pictures.' : '';
    const { body } = await api('/api/available-models/', {}, false);
    box.replaceChildren();
    if (!body.length) box.append(el('p', { text: 'No model to explore: a model is listed when the server measured it on its dataset (serve --dataset DIR) or its card has held-out figures.' }));
    for (const m of body) {
      const card = el('article', { class: 'card', 'data-model': m.model_name });
      card.append(el('h3', { text: m.model_name }), el('p', { class: 'muted', text: m.model_desc || '' }));
      /* Measured on the server's dataset, or (no dataset, or measuring failed) the card's held-out figures. */
      const measured = m.metrics_status === 'ready';
      card.append(el('p', { text: (measured ? 'Accuracy on the dataset: ' : 'Accuracy on its held-out set (model card): ') + m.accuracy + ' %' }));
      if (m.metrics_error) card.append(el('p', { class: 'muted', text: 'Measuring on the dataset failed: ' + m.metrics_error }));
      if (m.clr) card.append(reportTable(m.clr));
      if (m.loss_curve) card.append(el('img', { src: m.loss_curve, alt: 'loss curve of ' + m.model_name, loading: 'lazy' }));
      const layers = m.conv_layers || [];
      const form = el('form', { class: 'row' });
      const fs = el('fieldset', { class: 'models' }, el('legend', { text: 'Conv layers (' + layers.length + ')' }));
      layers.forEach((l, i) => {
        const id = 'cl-' + m.model_id + '-' + i;
        fs.append(el('label', { for: id }, el('input', { type: 'checkbox', id, value: String(i) }),
          i + ': ' + l[0] + ' filters ' + l[1][0] + '×' + l[1][1]));
      });
      form.append(fs, el('button', { type: 'submit', text: 'Predict 4 pictures' }));
      const out = el('div', { 'aria-live': 'polite' });
      form.addEventListener('submit', (ev) => {
        ev.preventDefault();
        const ls = [...fs.querySelectorAll('input:checked')].map((c) => c.value).join('');
        showPredictions(card, m, out, ls);
      });
      card.append(form, out);
      box.append(card);
    }
  } catch (e) {
    box.replaceChildren(el('p', { class: 'error', text: 'Could not load the models: ' + e.message }));
  }
}

/* ------------------------------------------------------------------ dataset game */

let round = [];

async function loadGameModels() {
  const sel = $('game-model');
  try {
    const { body } = await api('/api/available-models/', {}, false);
    sel.replaceChildren(...body.map((m) => el('option', { value: m.model_id, text: m.model_name })));
  } catch (e) { $('game-status').textContent = e.message; }
}

async function newRound(ev) {
  ev.preventDefault();
  showError('');
  const n = Math.max(1, Math.min(12, parseInt($('game-n').value, 10) || 4));
  const id = $('game-model').value;
  const grid = $('game-grid');
  grid.replaceChildren();
  $('game-score').textContent = '';
  $('game-reveal').hidden = true;
  if (!id) { showError('No model to play with.'); return; }
  $('game-status').textContent = 'Picking pictures…';
  try {
    const { body } = await api('/api/predictions/' + encodeURIComponent(id) + '/' + n + '/', {}, false);
    round = body;
    body.forEach((p, i) => {
      const name = 'guess-' + i;
      const fs = el('fieldset', {}, el('legend', { class: 'muted', text: 'Your guess' }));
      for (const g of ['real', 'fake']) {
        const rid = name + '-' + g;
        fs.append(el('label', { for: rid }, el('input', { type: 'radio', name, id: rid, value: g }), ' ' + g));
      }
      grid.append(el('li', {}, el('img', { src: p.img_url, alt: 'picture ' + (i + 1) }), fs, el('p', { class: 'answer', id: 'answer-' + i })));
    });
    $('game-status').textContent = 'Make your guesses, then press Reveal.';
    $('game-reveal').hidden = false;
  } catch (e) {
    $('game-status').textContent = '';
    showError(e.message);
  }
}

function reveal() {
  let you = 0, model = 0;
  round.forEach((p, i) => {
    const g = document.querySelector('input[name="guess-' + i + '"]:checked');
    const mine = g ? g.value : null;
    const right = mine != null && (mine === 'fake') === (p.true_label !== 'real'); /* the fake class is "deepfake" */
    const a = $('answer-' + i);
    a.replaceChildren(
      el('span', { text: 'Truth: ' + p.true_label + '. ' }),
      el('span', { class: right ? 'ok' : 'bad', text: 'You: ' + (mine || 'no guess') + '. ' }),
      el('span', { class: p.pred_label === p.true_label ? 'ok' : 'bad', text: 'Model: ' + p.pred_label + ' (' + p.probability.toFixed(1) + ' %)' }));
    if (right) you++;
    if (p.pred_label === p.true_label) model++;
  });
  $('game-score').textContent = 'You: ' + you + ' / ' + round.length + ' right. The model: ' + model + ' / ' + round.length + '.';
}

/* ------------------------------------------------------------------ management (/v0.7) */

/* A paged list of one kind of record: a table, Previous / Next, a delete button per row.
 * Columns marked 1 are left out on a phone (class "opt"). */
const LISTS = {
  specs: { box: 'specs-box', path: '/v0.7/recognition/specs', what: 'spec',
    cols: [['id', 'Id'], ['name', 'Name'], ['labels', 'Labels'], ['roi', 'Kind', 1], ['update_date', 'Updated', 1]] },
  networks: { box: 'networks-box', path: '/v0.7/networks', what: 'network',
    cols: [['id', 'Id'], ['name', 'Name'], ['architecture', 'Architecture'], ['output', 'Output', 1], ['size', 'Bytes', 1]] },
  versions: { box: 'versions-box', path: '/v0.7/recognition/versions', what: 'version',
    cols: [['id', 'Id'], ['spec_name', 'Spec'], ['network_name', 'Network'], ['update_date', 'Updated', 1]] },
};
const offsets = { specs: 0, networks: 0, versions: 0 };

function listPart(kind, cls) { return $(LISTS[kind].box).querySelector('.' + cls); }
function listError(kind, text) { const e = listPart(kind, 'error'); e.textContent = text; e.hidden = !text; }
const cell = (v) => Array.isArray(v) ? v.join(', ') : v == null ? '' : typeof v === 'string' && /^\d{4}-\d\d-\d\dT/.test(v) ? v.slice(0, 19).replace('T', ' ') : String(v);

async function loadList(kind) {
  const L = LISTS[kind];
  const out = listPart(kind, 'list');
  try {
    const { body } = await api(L.path + '?limit=' + PAGE_SIZE + '&offset=' + offsets[kind]);
    const rows = body.results || [];
    if (!rows.length && offsets[kind] > 0 && body.count > 0) { /* the page emptied: step back */
      offsets[kind] = Math.max(0, offsets[kind] - PAGE_SIZE);
      return loadList(kind);
    }
    const t = el('table', { 'data-count': String(body.count) }, el('caption', { class: 'muted', text:
      body.count ? (offsets[kind] + 1) + '–' + (offsets[kind] + rows.length) + ' of ' + body.count : 'None yet.' }));
    const head = el('tr');
    for (const [, title, opt] of L.cols) head.append(el('th', { scope: 'col', text: title, class: opt ? 'opt' : '' }));
    head.append(el('th', { scope: 'col', text: 'Action' }));
    t.append(el('thead', {}, head));
    const tb = el('tbody');
    for (const r of rows) {
      const tr = el('tr', { 'data-id': String(r.id) });
      L.cols.forEach(([k, , opt], i) => tr.append(i ? el('td', { text: cell(r[k]), class: opt ? 'opt' : '' }) : el('th', { scope: 'row', text: cell(r[k]) })));
      const del = el('button', { type: 'button', class: 'danger', text: 'Delete', 'aria-label': 'Delete ' + L.what + ' ' + r.id + ' (' + (r.name || r.spec_name || '') + ')' });
      del.addEventListener('click', () => deleteRecord(kind, r));
      tr.append(el('td', {}, del));
      tb.append(tr);
    }
    t.append(tb);
    const prev = el('button', { type: 'button', text: 'Previous page' });
    const next = el('button', { type: 'button', text: 'Next page' });
    prev.disabled = !body.previous;
    next.disabled = !body.next;
    prev.addEventListener('click', () => { offsets[kind] = Math.max(0, offsets[kind] - PAGE_SIZE); loadList(kind); });
    next.addEventListener('click', () => { offsets[kind] += PAGE_SIZE; loadList(kind); });
    out.replaceChildren(el('div', { class: 'table-wrap' }, t), el('div', { class: 'row pager', role: 'group', 'aria-label': L.what + ' pages' }, prev, next));
    out.dataset.count = String(body.count);
  } catch (e) {
    listError(kind, e.message);
  }
}

async function deleteRecord(kind, r) {
  const L = LISTS[kind];
  listError(kind, '');
  listPart(kind, 'status').textContent = '';
  if (!window.confirm('Delete ' + L.what + ' ' + r.id + (r.name ? ' (' + r.name + ')' : '') + '?')) return;
  let done = '';
  try {
    await api(L.path + '/' + r.id, { method: 'DELETE' });
    done = 'Deleted ' + L.what + ' ' + r.id + '.';
  } catch (e) {
    listError(kind, e.message);
  }
  await loadList(kind);
  listPart(kind, 'status').textContent = done; /* after the list, so the two agree */
}

async function createSpec(ev) {
  ev.preventDefault();
  listError('specs', '');
  listPart('specs', 'status').textContent = '';
  const labels = $('spec-labels').value.split(',').map((x) => x.trim()).filter(Boolean);
  const body = { name: $('spec-name').value.trim(), description: $('spec-desc').value.trim(), labels, roi: $('spec-roi').value };
  try {
    const { body: made } = await api('/v0.7/recognition/specs', {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    $('spec-name').value = '';
    $('spec-desc').value = '';
    await loadList('specs');
    listPart('specs', 'status').textContent = 'Created spec ' + made.id + ' (' + made.name + ').';
  } catch (e) {
    listError('specs', e.message);
  }
}

function loadManage() {
  for (const k of Object.keys(LISTS)) { listError(k, ''); loadList(k); }
}

/* ------------------------------------------------------------------ start */

$('key-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const v = $('key-input').value.trim();
  if (v) localStorage.setItem(KEY_STORE, v);
  showKeyState();
  probeAdmin();
});
$('spec-form').addEventListener('submit', createSpec);
$('check-form').addEventListener('submit', onCheck);
$('game-form').addEventListener('submit', newRound);
$('game-reveal').addEventListener('click', reveal);
setupDrop();
showKeyState();
setupTabs();
loadModels();
probeAdmin();
