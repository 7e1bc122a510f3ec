// Drives the web page in Debian's chromium against a running fakescope server and compares
// what the page shows with what the API answers for the same request.
// Environment: FS_URL, FS_KEY (an admin key), FS_IMAGE, FS_VIDEO, FS_FRAMES, FS_MODELS (comma
// list), FS_NETWORK (a meso4 .safetensors to upload), FS_SHOTS (folder for screenshots),
// CHROMIUM (default /usr/bin/chromium).
import { chromium } from 'playwright-core';
import { readFileSync, mkdirSync } from 'node:fs';
import { basename } from 'node:path';

const env = (k, d) => process.env[k] ?? d;
const URL = env('FS_URL'), KEY = env('FS_KEY'), IMAGE = env('FS_IMAGE'), VIDEO = env('FS_VIDEO');
const FRAMES = env('FS_FRAMES', '4'), MODELS = env('FS_MODELS').split(','), SHOTS = env('FS_SHOTS');
const NETWORK = env('FS_NETWORK');
const WAIT_MS = 80000; // the ASan server is slow on video
const VIEWPORTS = [{ name: 'desktop', width: 1280, height: 800 }, { name: 'phone', width: 390, height: 844 }];

let failures = 0;
function check(what, ok, detail = '') {
  if (ok) console.log('ok: ' + what);
  else { failures++; console.error('FAIL: ' + what + (detail ? ': ' + detail : '')); }
}

async function apiJson(path, opts = {}, key = KEY) {
  const res = await fetch(URL + path, { ...opts, headers: { Authorization: 'Bearer ' + key, ...(opts.headers || {}) } });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}
const postJson = (path, body, key = KEY) =>
  apiJson(path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) }, key);

// The image check of the picture with one model, as the API answers it.
async function imageCheck(model, query, crop) {
  const fd = new FormData();
  fd.append('image', new Blob([readFileSync(IMAGE)], { type: 'image/jpeg' }), basename(IMAGE));
  fd.append('modelName', model);
  fd.append('token', KEY);
  if (crop) fd.append('crop', crop);
  return apiJson('/api/1.1/wf/api-deepfake-detection' + query, { method: 'POST', body: fd });
}

// Boxes the API gives for the picture, and its verdict.
async function imageTruth() {
  const data = 'data:image/jpeg;base64,' + readFileSync(IMAGE).toString('base64');
  const r = await apiJson('/face/v1/deepfake/images?detail=1&models=' + MODELS.join(','), {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ frames: [data] }),
  });
  if (r.body.status === 'NO_FACE') {
    let sum = 0;
    for (const m of MODELS) {
      const fd = new FormData();
      fd.append('image', new Blob([readFileSync(IMAGE)], { type: 'image/jpeg' }), basename(IMAGE));
      fd.append('modelName', m);
      fd.append('token', KEY);
      const ic = await apiJson('/api/1.1/wf/api-deepfake-detection', { method: 'POST', body: fd });
      sum += ic.body.response.confidence[0];
    }
    return { boxes: 0, verdict: sum / MODELS.length >= 0.5 ? 'fake' : 'real' };
  }
  const d = r.body.read.deepfake;
  return { boxes: r.body.read.detail.frames[0].faces.length, verdict: d.value };
}

async function videoTruth() {
  const fd = new FormData();
  fd.append('video', new Blob([readFileSync(VIDEO)], { type: 'video/mp4' }), basename(VIDEO));
  const r = await apiJson('/face/v1/deepfake?detail=1&frames=' + FRAMES + '&models=' + MODELS.join(','), { method: 'POST', body: fd });
  if (r.body.status !== 'SUCCESS') return { boxes: 0, verdict: 'none', frames: 0 };
  const fr = r.body.read.detail.frames;
  return {
    boxes: fr.reduce((n, f) => n + f.faces.length, 0),
    frames: fr.filter((f) => f.faces.length).length,
  };
}

async function shoot(page, name) {
  for (const v of VIEWPORTS) {
    await page.setViewportSize({ width: v.width, height: v.height });
    await page.waitForTimeout(150);
    await page.screenshot({ path: `${SHOTS}/${name}-${v.name}.png`, fullPage: true });
    if (v.name === 'phone') {
      const sw = await page.evaluate(() => document.documentElement.scrollWidth);
      check(`${name}: no sideways scrolling at 390 px (${sw})`, sw <= v.width + 1);
    }
  }
  await page.setViewportSize({ width: 1280, height: 800 });
}

async function waitResult(page) {
  await page.waitForSelector('#result[data-state="done"], #result[data-state="error"]', { timeout: WAIT_MS, state: 'attached' });
  return page.getAttribute('#result', 'data-state');
}

const browser = await chromium.launch({
  executablePath: env('CHROMIUM', '/usr/bin/chromium'),
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
try {
  mkdirSync(SHOTS, { recursive: true });
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.setDefaultTimeout(20000);
  await page.goto(URL + '/');
  check('page title', (await page.title()) === 'fakescope');

  // models listed for the check, all ticked
  await page.waitForSelector('#model-list input[type=checkbox]');
  const listed = await page.$$eval('#model-list input', (xs) => xs.map((x) => x.value).sort());
  check('models listed from /api/models', JSON.stringify(listed) === JSON.stringify([...MODELS].sort()), listed.join(','));

  // a check without a file, then with a wrong key, shows readable errors
  await page.click('#check-button');
  check('no file: a readable error', /Choose an image or a video/.test(await page.textContent('#error')));
  await page.fill('#key-input', 'fsk_' + '0'.repeat(64));
  await page.press('#key-input', 'Enter');
  await page.setInputFiles('#file-input', IMAGE);
  await page.click('#check-button');
  check('wrong key: the check ends in error', (await waitResult(page)) === 'error');
  const err = await page.textContent('#error');
  check('wrong key: the error names HTTP 401', /HTTP 401/.test(err), err);
  await page.waitForFunction(() => document.body.dataset.admin !== undefined);
  check('wrong key: no Manage tab', !(await page.isVisible('#tab-manage')));

  // the real key, kept across a reload
  await page.fill('#key-input', KEY);
  await page.click('#key-form button[type=submit]');
  await page.reload();
  check('key kept in localStorage', (await page.evaluate(() => localStorage.getItem('fakescope.key'))) === KEY);
  check('key not shown in full', !(await page.textContent('#key-state')).includes(KEY));

  // image
  await page.waitForSelector('#model-list input[type=checkbox]');
  await page.setInputFiles('#file-input', IMAGE);
  await page.click('#check-button');
  let state = await waitResult(page);
  check('image: check done', state === 'done', await page.textContent('#error'));
  const it = await imageTruth();
  const iv = await page.getAttribute('#result', 'data-verdict');
  check(`image: verdict ${iv} is the API's ${it.verdict}`, iv === it.verdict);
  check('image: verdict text', /^Likely (fake|real): P\(fake\) \d+\.\d\u00a0%$/.test(await page.textContent('#verdict-text')));
  const ib = Number(await page.getAttribute('#faces', 'data-face-boxes'));
  check(`image: ${ib} face boxes drawn, the API found ${it.boxes}`, ib === it.boxes);
  check('image: a canvas', (await page.$$('#faces canvas')).length === 1);
  const rows = await page.$$eval('#model-table tbody tr', (r) => r.length);
  check(`image: per-model rows (${rows})`, rows >= MODELS.length);
  // the Content Credentials panel says what the image check's "provenance" says
  const prov = (await imageCheck(MODELS[0], '')).body.provenance;
  const credState = await page.getAttribute('#credentials', 'data-state');
  check(`image: Content Credentials panel shown, state ${credState} is the API's ${prov && prov.state}`,
    (await page.isVisible('#credentials')) && prov && credState === prov.state);
  await shoot(page, 'check-image');

  // the same picture with Explain: one Grad-CAM overlay per model for the whole picture and one
  // per model and face, each the PNG the API answers; the scores do not change
  const scoresBefore = await page.$$eval('#model-table tbody tr', (r) => r.map((x) => x.textContent));
  await page.check('#explain-input');
  await page.click('#check-button');
  state = await waitResult(page);
  check('explain: check done', state === 'done', await page.textContent('#error'));
  check('explain: the Grad-CAM section is shown', await page.isVisible('#explain'));
  const nOver = Number(await page.getAttribute('#explain', 'data-overlays'));
  const apiFaces = (await imageCheck(MODELS[0], '?explain=1', 'faces')).body.explanation?.faces ?? [];
  const faceCount = apiFaces.length;
  check(`explain: ${nOver} overlays, ${MODELS.length} models x (whole + ${faceCount} faces)`, nOver === MODELS.length * (1 + faceCount));
  const shown = await page.$$eval('#explain-figs img', (xs) => xs.map((x) => ({ src: x.src, w: x.naturalWidth, h: x.naturalHeight, model: x.dataset.model, alt: x.alt })));
  check('explain: every overlay is a decoded 256x256 PNG', shown.length > 0 && shown.every((x) => x.src.startsWith('data:image/png;base64,') && x.w === 256 && x.h === 256),
    JSON.stringify(shown.map((x) => [x.w, x.h])));
  check('explain: every overlay has a text alternative', shown.every((x) => /^Grad-CAM heat map of /.test(x.alt)));
  const api0 = await imageCheck(MODELS[0], '?explain=1');
  check('explain: the page shows the API\'s overlay for the whole picture', shown.some((x) => x.model === MODELS[0] && x.src === api0.body.explanation.faces[0].overlay));
  check('explain: the page shows the API\'s overlay of each face', faceCount > 0 && apiFaces.every((f) => shown.some((x) => x.model === MODELS[0] && x.src === f.overlay)));
  check('explain: the face overlays differ from the whole picture\'s', apiFaces.every((f) => f.overlay !== api0.body.explanation.faces[0].overlay));
  const scoresAfter = await page.$$eval('#model-table tbody tr', (r) => r.map((x) => x.textContent));
  check('explain: the scores are those without it', JSON.stringify(scoresAfter) === JSON.stringify(scoresBefore), scoresAfter.join(' | '));
  await shoot(page, 'check-explain');
  await page.uncheck('#explain-input');

  // video
  await page.setInputFiles('#file-input', VIDEO);
  await page.fill('#frames-input', FRAMES);
  await page.click('#check-button');
  state = await waitResult(page);
  check('video: check done', state === 'done', await page.textContent('#error'));
  const vt = await videoTruth();
  const vb = Number(await page.getAttribute('#faces', 'data-face-boxes'));
  check(`video: ${vb} face boxes drawn on captured frames, the API found ${vt.boxes}`, vb === vt.boxes);
  check('video: one captured frame per sampled frame', (await page.$$('#faces canvas')).length === Number(FRAMES));
  check('video: verdict text', /^Likely (fake|real)/.test(await page.textContent('#verdict-text')));
  check('video: timeline drawn', (await page.$$('#timeline svg')).length === 1);
  const tf = Number(await page.getAttribute('#timeline svg', 'data-frames'));
  check(`video: timeline has ${tf} frames with a face, the API ${vt.frames}`, tf === vt.frames);
  const dots = (await page.$$('#timeline svg circle')).length;
  check(`video: one point per frame with a face per model (${dots})`, dots === vt.frames * MODELS.length);
  const heur = await page.$$eval('#heuristics tbody th', (x) => x.map((e) => e.textContent));
  check('video: the six heuristics beside the chart', heur.length === 6 && heur.includes('Majority'), heur.join(','));
  await shoot(page, 'check-video');

  // explorer
  await page.click('#tab-models');
  await page.waitForSelector('#model-cards .card');
  const cards = await page.$$eval('#model-cards .card', (x) => x.map((e) => e.dataset.model).sort());
  check('explorer: the models listed', JSON.stringify(cards) === JSON.stringify([...MODELS].sort()), cards.join(','));
  const reports = await page.$$eval('#model-cards .card table', (ts) => ts.map((t) => t.tBodies[0].rows.length));
  check(`explorer: classification reports of 5 rows (${reports})`, reports.every((n) => n === 5));
  const first = page.locator('#model-cards .card').first();
  await first.locator('input[type=checkbox]').first().check();
  await first.locator('button[type=submit]').click();
  await first.locator('.preds li').first().waitFor({ timeout: WAIT_MS });
  const preds = await first.locator('.preds li').count();
  const plots = await first.locator('.preds li img').count();
  check(`explorer: 4 predictions with a feature-map plot each (${preds}, ${plots} images)`, preds === 4 && plots === 8);
  await shoot(page, 'models');

  // dataset game
  await page.click('#tab-game');
  await page.waitForSelector('#game-model option', { state: 'attached' });
  await page.click('#game-form button[type=submit]');
  await page.waitForSelector('#game-grid li', { timeout: WAIT_MS });
  const n = await page.locator('#game-grid li').count();
  for (let i = 0; i < n; i++) await page.check(`#guess-${i}-${i % 2 ? 'real' : 'fake'}`);
  await page.click('#game-reveal');
  const score = await page.textContent('#game-score');
  check(`game: ${n} pictures and a score (${score})`, n === 4 && /^You: \d \/ 4 right\. The model: \d \/ 4\.$/.test(score));
  const truths = await page.$$eval('.answer', (xs) => xs.map((x) => /Truth: (\w+)/.exec(x.textContent)[1]));
  let right = 0;
  truths.forEach((t, i) => { if ((i % 2 ? 'real' : 'fake') === (t === 'real' ? 'real' : 'fake')) right++; });
  check(`game: your score counts ${right} right guesses (${truths})`, score.startsWith(`You: ${right} / 4 right.`));
  check('game: truth and model shown for each', (await page.locator('.answer:has-text("Truth")').count()) === n);
  await shoot(page, 'game');

  // management: shown for the admin key; lists what the admin key created through the API,
  // paged; create and delete a spec in the page; the API's errors as readable sentences
  check('admin key: the Manage tab is shown', await page.isVisible('#tab-manage'));
  const made = [];
  for (let i = 1; i <= 6; i++) made.push((await postJson('/v0.7/recognition/specs', { name: 'api-spec-' + i, labels: ['real', 'fake'] })).body);
  const nf = new FormData();
  nf.append('name', 'browser-net');
  nf.append('architecture', 'meso4');
  nf.append('file', new Blob([readFileSync(NETWORK)]), basename(NETWORK));
  const net = (await apiJson('/v0.7/networks', { method: 'POST', body: nf })).body;
  const ver = (await postJson('/v0.7/recognition/versions', { spec_id: made[0].id, network_id: net.id,
    post_processings: [{ classification: { thresholds: [0.5, 0.5] } }] })).body;
  check('management: records made through the API', made.every((x) => x.id) && net.id && ver.id, JSON.stringify([net, ver]));
  await page.click('#tab-manage');
  await page.waitForSelector('#specs-box table');
  const specCount = async () => Number(await page.getAttribute('#specs-box .list', 'data-count'));
  const specNames = () => page.$$eval('#specs-box tbody tr td:first-of-type', (x) => x.map((e) => e.textContent));
  check(`management: spec count ${await specCount()} is the API's 6`, (await specCount()) === 6);
  const page1 = await specNames();
  check('management: first page of 5 specs', page1.length === 5 && page1[0] === 'api-spec-1', page1.join(','));
  await page.click('#specs-box button:has-text("Next page")');
  await page.waitForFunction(() => document.querySelector('#specs-box tbody tr td')?.textContent === 'api-spec-6');
  check('management: second page holds the sixth', JSON.stringify(await specNames()) === '["api-spec-6"]');
  check('management: no next page after the last', await page.isDisabled('#specs-box button:has-text("Next page")'));
  await page.click('#specs-box button:has-text("Previous page")');
  await page.waitForFunction(() => document.querySelectorAll('#specs-box tbody tr').length === 5);
  await page.waitForSelector('#networks-box tbody tr[data-id="' + net.id + '"]');
  check('management: the network listed', (await page.textContent('#networks-box tbody')).includes('browser-net'));
  await page.waitForSelector('#versions-box tbody tr[data-id="' + ver.id + '"]');
  check('management: the version listed with its spec and network',
    /api-spec-1.*browser-net/.test(await page.textContent('#versions-box tbody tr[data-id="' + ver.id + '"]')));
  // a refused create: the API's sentence, naming the field
  await page.fill('#spec-name', 'no-labels');
  await page.fill('#spec-labels', '');
  await page.click('#spec-form button[type=submit]');
  await page.waitForSelector('#specs-box .error:not([hidden])');
  const e400 = await page.textContent('#specs-box .error');
  check('management: a refused spec shows the API\'s reason', /^HTTP 400: .*labels.*\(field labels\)$/.test(e400), e400);
  // create in the page, seen by the API
  await page.fill('#spec-name', 'page-spec');
  await page.fill('#spec-desc', 'made in the browser');
  await page.fill('#spec-labels', 'real, fake');
  await page.click('#spec-form button[type=submit]');
  await page.waitForFunction(() => /Created spec/.test(document.querySelector('#specs-box .status').textContent));
  check('management: the error is cleared after a good create', await page.isHidden('#specs-box .error'));
  const afterCreate = (await apiJson('/v0.7/recognition/specs?limit=100')).body.results;
  const pageSpec = afterCreate.find((x) => x.name === 'page-spec');
  check('management: the API has the spec made in the page', pageSpec && pageSpec.description === 'made in the browser' &&
    JSON.stringify(pageSpec.labels) === '["real","fake"]', JSON.stringify(pageSpec));
  check('management: the count follows', (await specCount()) === 7);
  page.on('dialog', (d) => d.accept());
  // deleting a spec a version uses: the API's 409 as a sentence
  await page.click(`#specs-box tr[data-id="${made[0].id}"] button.danger`);
  await page.waitForSelector('#specs-box .error:not([hidden])');
  const e409 = await page.textContent('#specs-box .error');
  check('management: a spec in use is not deleted, and says so', /^HTTP 409: /.test(e409), e409);
  await shoot(page, 'manage');
  // delete the version, then the page's spec
  await page.click(`#versions-box tr[data-id="${ver.id}"] button.danger`);
  await page.waitForFunction(() => /Deleted version/.test(document.querySelector('#versions-box .status').textContent));
  check('management: the version is gone from the API', (await apiJson('/v0.7/recognition/versions/' + ver.id)).status === 404);
  await page.click('#specs-box button:has-text("Next page")');
  await page.waitForSelector(`#specs-box tr[data-id="${pageSpec.id}"]`);
  await page.click(`#specs-box tr[data-id="${pageSpec.id}"] button.danger`);
  await page.waitForFunction(() => /Deleted spec/.test(document.querySelector('#specs-box .status').textContent));
  check('management: the spec deleted in the page is gone from the API', (await apiJson('/v0.7/recognition/specs/' + pageSpec.id)).status === 404);
  check('management: the list steps back to a page that has rows', (await specCount()) === 6 && (await specNames()).length > 0);

  // keyboard: arrows move between tabs, the last being Manage for an admin
  await page.focus('#tab-manage');
  await page.keyboard.press('ArrowRight');
  check('keyboard: ArrowRight from the last tab selects the first', await page.isVisible('#view-check'));
  await page.keyboard.press('ArrowLeft');
  check('keyboard: ArrowLeft from the first tab selects Manage', await page.isVisible('#view-manage'));

  // a key that is not an admin key: no Manage tab, and the view goes back to the check
  const viewer = (await postJson('/admin/keys', { name: 'viewer' })).body.secret;
  await page.fill('#key-input', viewer);
  await page.click('#key-form button[type=submit]');
  await page.waitForFunction(() => document.body.dataset.admin === '0');
  check('viewer key: no Manage tab', !(await page.isVisible('#tab-manage')) && (await page.isVisible('#view-check')));

  check('no script error on the page', pageErrors.length === 0, pageErrors.join(' | '));
} catch (e) {
  failures++;
  console.error('FAIL: ' + e.message);
} finally {
  await browser.close();
}
process.exit(failures ? 1 : 0);
