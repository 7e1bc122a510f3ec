// Drives the web page in Debian's chromium against a running fakescope server and compares
// what the page shows with what the API answers for the same request.
// Environment: FS_URL, FS_KEY, FS_IMAGE, FS_VIDEO, FS_FRAMES, FS_MODELS (comma list),
// FS_SHOTS (folder for screenshots), CHROMIUM (default /usr/bin/chromium).
import { chromium } from 'playwright-core';
import { readFileSync, mkdirSync } from 'node:fs';
import { basename } from 'node:path';

const env = (k, d) => process.env[k] ?? d;
const URL = env('FS_URL'), KEY = env('FS_KEY'), IMAGE = env('FS_IMAGE'), VIDEO = env('FS_VIDEO');
const FRAMES = env('FS_FRAMES', '4'), MODELS = env('FS_MODELS').split(','), SHOTS = env('FS_SHOTS');
const WAIT_MS = 80000; // the ASan server is slow on video
const VIEWPORTS = [{ name: 'desktop', width: 1280, height: 800 }, { name: 'phone', width: 390, height: 844 }];

let failures = 0;
function check(what, ok, detail = '') {
  if (ok) console.log('ok: ' + what);
  else { failures++; console.error('FAIL: ' + what + (detail ? ': ' + detail : '')); }
}

async function apiJson(path, opts = {}) {
  const res = await fetch(URL + path, { ...opts, headers: { Authorization: 'Bearer ' + KEY, ...(opts.headers || {}) } });
  return { status: res.status, body: await res.json() };
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
  await shoot(page, 'check-image');

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

  // keyboard: arrows move between tabs
  await page.focus('#tab-game');
  await page.keyboard.press('ArrowRight');
  check('keyboard: ArrowRight from the last tab selects the first', await page.isVisible('#view-check'));

  check('no script error on the page', pageErrors.length === 0, pageErrors.join(' | '));
} catch (e) {
  failures++;
  console.error('FAIL: ' + e.message);
} finally {
  await browser.close();
}
process.exit(failures ? 1 : 0);
