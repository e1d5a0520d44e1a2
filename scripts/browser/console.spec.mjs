// Real-browser checks of the civitas web console (/console/<view>), against a running
// `civitas up` (scripts/console-browser.sh starts one and runs this file).
//
// A plain Node script: Debian's chromium driven by playwright-core, no test runner; the shared
// plumbing is harness.mjs. Each check is a named async function; the script prints `ok - NAME`
// or `not ok - NAME: REASON` per check and exits 1 if any failed. Every wait is bounded (at
// most 15 s).
//
// A page fails its check on any `pageerror`, any console message of type `error` (a CSP
// violation is one) and any dialog (alert/confirm/prompt; dismissed). A dialog anywhere also
// fails the whole run (check `no-dialogs`, last).
//
// Environment:
//   BASE_URL   the HTTP API / console          (default http://127.0.0.1:29780)
//   BROKER     the broker, for `saga request`  (default 127.0.0.1:29700)
//   CIVITAS    the civitas binary, for `saga request` (optional: without it no saga is made)
//   ARTIFACTS  screenshots, perf.md            (default scripts/browser/artifacts)
//   CHROMIUM   the browser                     (default /usr/bin/chromium)
//   UPDATE_DOCS_SCREENSHOTS=1  also copy the view screenshots to docs/console/
//   ONLY       comma-separated check names to run (besides `seed`), for debugging
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ARTIFACTS, CheckError, VIEWPORT, WAIT_MS, assert, envUrl, httpClient, poll, q, sleep } from './harness.mjs';
import { errorText, failOnProblems, newContext, noDialogs, openView as openViewAt, runChecks, screenshot, watchPages } from './harness.mjs';

const BASE_URL = envUrl('BASE_URL', 'http://127.0.0.1:29780');
const BROKER = process.env.BROKER || '127.0.0.1:29700';
const CIVITAS = process.env.CIVITAS || '';
const ONLY = (process.env.ONLY || '').split(',').map((s) => s.trim()).filter(Boolean);

const VIEWS = ['live', 'search', 'failures', 'sagas', 'workflows', 'secrets', 'topics', 'health'];
const XSS = '<script>alert(1)</script>';

// What the checks share: the ids the seed made, the measurements, every dialog seen.
const state = {
  okUser: null, // {username, correlationId}: a successful create on `local`
  failedCreate: null, // {correlationId}: the same create again (409)
  xss: null, // {correlationId}: a read of the user `<script>alert(1)</script>` (404)
  run: null, // {id, username}: an onboarding run waiting at its approval
  saga: null, // {datasetId}: a dataset-provisioning saga (null when it could not be made)
  perf: [], // {view, readyMs, readySource, dclMs, requests, bytes}
  liveLatencyMs: null,
  dialogs: [], // "page url: type 'message'"
};

// ---------------------------------------------------------------------------------------
// Small helpers

let counter = 0;
/** A fresh, lower-case id safe in CSS selectors, URLs and usernames. */
function uid(prefix) {
  counter += 1;
  return `${prefix}-${Date.now().toString(36)}${counter}${Math.random().toString(36).slice(2, 6)}`;
}

/** One HTTP request against BASE_URL; resolves to {status, headers, text, json}. */
const http = httpClient(BASE_URL);

/** POST /execute with an X-Correlation-ID. */
function execute(command, correlationId) {
  return http('/execute', { method: 'POST', body: command, headers: { 'X-Correlation-ID': correlationId } });
}

/** Creates the user `username` on `local`; returns the HTTP answer. */
function createUser(username, correlationId) {
  return execute(
    { system: 'local', object_type: 'user', action: 'create', params: { username, email: `${username}@example.org` } },
    correlationId,
  );
}

function runCommand(file, args, timeoutMs) {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs }, (error, stdout, stderr) => resolve({ error, stdout, stderr }));
  });
}

async function workflowStatus(runId) {
  const res = await http(`/workflow/status/${encodeURIComponent(runId)}`);
  return res.status === 200 ? res.json : null;
}

// ---------------------------------------------------------------------------------------
// Browser plumbing: every page is watched for errors and dialogs.

/**
 * Runs `fn(page)` on a fresh context and page, then fails if the page logged a console error,
 * threw, or opened a dialog. On failure a screenshot goes to $ARTIFACTS/fail-NAME.png.
 */
async function withPage(name, fn) {
  const context = await newContext();
  // Fallback time-to-ready, should the console not set window.__readyAt: the moment
  // body[data-ready="1"] appears (init scripts are injected by the driver, CSP does not apply).
  await context.addInitScript(() => {
    const mark = () => {
      if (window.__harnessReadyAt === undefined && document.body && document.body.getAttribute('data-ready') === '1') {
        window.__harnessReadyAt = performance.now();
      }
    };
    new MutationObserver(mark).observe(document, {
      subtree: true,
      childList: true,
      attributes: true,
      attributeFilter: ['data-ready'],
    });
  });
  const problems = [];
  const watch = watchPages(context, { problems, dialogs: state.dialogs });
  const page = await context.newPage();
  watch(page);
  try {
    await failOnProblems(
      () => fn(page),
      () => problems,
      () => page.screenshot({ path: path.join(ARTIFACTS, `fail-${name}.png`), fullPage: true }).catch(() => {}),
    );
  } finally {
    await context.close().catch(() => {});
  }
}

/** Opens a console URL (path + query) and waits until the view says it has its data. */
const openView = (page, urlPath) => openViewAt(page, BASE_URL, urlPath);

/** Waits until #live-status says the event stream is connected. */
async function waitLive(page) {
  await poll('#live-status to contain "live"', async () => {
    const text = (await page.locator('#live-status').textContent({ timeout: 1000 })) || '';
    return /\blive\b/i.test(text) ? text : false;
  });
}

const liEvent = (correlationId) => `li.event[data-correlation-id=${q(correlationId)}]`;

/** Parses "+12 ms", "+     0ms", "+1.5 s" into milliseconds (NaN when it is none of those). */
function parseGap(text) {
  const m = /\+\s*(-?\d+(?:\.\d+)?)\s*(ms|s)\b/.exec(text || '');
  if (!m) return NaN;
  return Number(m[1]) * (m[2] === 's' ? 1000 : 1);
}

// ---------------------------------------------------------------------------------------
// The checks

/** The data the other checks look at, made over HTTP (and `civitas saga request`). */
async function seed() {
  await poll(`${BASE_URL}/health/ready to answer 200`, async () => (await http('/health/ready')).status === 200);

  // The groups the onboarding workflow uses (409: they exist from an earlier run).
  for (const name of ['staff', 'newsletter', 'admins']) {
    const res = await execute({ system: 'local', object_type: 'group', action: 'create', params: { name } }, uid('cv-group'));
    assert(res.status === 200 || res.status === 409, `creating group ${name} answered ${res.status}: ${res.text}`);
  }

  const username = uid('cv-ok');
  const okId = uid('cv-corr-ok');
  let res = await createUser(username, okId);
  assert(res.status === 200, `the create answered ${res.status}: ${res.text}`);
  state.okUser = { username, correlationId: okId };

  const failId = uid('cv-corr-fail');
  res = await createUser(username, failId);
  assert(res.status === 409, `the same create again answered ${res.status} (expected 409): ${res.text}`);
  state.failedCreate = { correlationId: failId };

  const xssId = uid('cv-corr-xss');
  res = await execute({ system: 'local', object_type: 'user', action: 'read', object_id: XSS, params: {} }, xssId);
  assert(res.status >= 400 && res.status < 500, `the read of ${XSS} answered ${res.status}: ${res.text}`);
  state.xss = { correlationId: xssId };

  const wfUser = uid('cv-wf');
  res = await http('/workflow/start', {
    method: 'POST',
    body: { workflow_name: 'onboarding', data: { username: wfUser, email: `${wfUser}@example.org` } },
  });
  assert(res.status === 202 && res.json && res.json.id, `POST /workflow/start answered ${res.status}: ${res.text}`);
  const runId = res.json.id;
  const run = await poll(`run ${runId} to reach WAITING`, async () => {
    const r = await workflowStatus(runId);
    return r && r.status === 'WAITING' ? r : false;
  });
  state.run = { id: runId, username: wfUser, taskId: run.required_action && run.required_action.task_id };

  // A saga (dry-run adapters in `civitas up`): optional, the sagas check adapts.
  if (CIVITAS) {
    const datasetId = uid('ds-console');
    const out = await runCommand(
      CIVITAS,
      ['saga', 'request', '--kafka', BROKER, '--dataset-id', datasetId, '--name', 'Konsole', '--wait', '--wait-timeout-secs', '12'],
      14_000,
    );
    if (!out.error && /^COMPLETED saga /m.test(out.stdout)) {
      state.saga = { datasetId };
    } else {
      console.log(`# no saga: civitas saga request failed: ${(out.error && out.error.message) || ''} ${out.stderr}`.trim());
    }
  } else {
    console.log('# no saga: CIVITAS is not set');
  }
  console.log(
    `# seed: user ${username} (corr ${okId}), failed create corr ${failId}, xss corr ${xssId}, ` +
      `run ${runId}${state.saga ? `, saga dataset ${state.saga.datasetId}` : ''}`,
  );
}

/** Check 9: CSP without 'unsafe-inline', nosniff, no inline script, on every view. */
async function securityHeaders() {
  for (const view of VIEWS) {
    const res = await http(`/console/${view}`);
    assert(res.status === 200, `/console/${view} answered ${res.status}`);
    const csp = res.headers.get('content-security-policy');
    assert(csp, `/console/${view}: no content-security-policy header`);
    assert(/(^|;)\s*script-src\s[^;]*'self'/.test(csp), `/console/${view}: CSP has no script-src 'self': ${csp}`);
    assert(!csp.includes("'unsafe-inline'"), `/console/${view}: CSP allows 'unsafe-inline': ${csp}`);
    const nosniff = res.headers.get('x-content-type-options');
    assert(nosniff && nosniff.trim().toLowerCase() === 'nosniff', `/console/${view}: x-content-type-options is ${nosniff}`);
    for (const m of res.text.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script\s*>/gi)) {
      assert(/\ssrc\s*=/i.test(m[1]), `/console/${view}: a <script> without src: ${m[0].slice(0, 120)}`);
      assert(m[2].trim() === '', `/console/${view}: a <script src> with a body: ${m[0].slice(0, 120)}`);
    }
  }
}

/** /console redirects to /console/live. */
async function consoleRedirect() {
  const res = await http('/console', { redirect: 'manual' });
  assert(res.status >= 300 && res.status < 400, `/console answered ${res.status}, expected a redirect`);
  const location = res.headers.get('location') || '';
  assert(new URL(location, BASE_URL).pathname === '/console/live', `/console redirects to "${location}"`);
}

/** Check 1: each view loads, has the shared frame, is screenshotted and measured. */
async function viewsLoad() {
  await mkdir(ARTIFACTS, { recursive: true });
  const failures = [];
  for (const view of VIEWS) {
    try {
      await withPage(`view-${view}`, async (page) => {
        await openView(page, `/console/${view}`);
        const bodyView = await page.locator('body').getAttribute('data-view');
        assert(bodyView === view, `body[data-view] is ${JSON.stringify(bodyView)}`);
        for (const other of VIEWS) {
          const link = page.locator(`#nav a[data-nav=${q(other)}]`);
          assert((await link.count()) >= 1, `#nav has no a[data-nav="${other}"]`);
        }
        const banner = ((await page.locator('#auth-banner').textContent()) || '').trim();
        assert(/open/i.test(banner), `#auth-banner does not say "open": ${JSON.stringify(banner)}`);
        const perf = await page.evaluate(() => {
          const nav = performance.getEntriesByType('navigation')[0];
          const resources = performance.getEntriesByType('resource');
          const size = (e) => e.transferSize || e.encodedBodySize || 0;
          const start = nav ? nav.startTime : 0;
          const readyAt = typeof window.__readyAt === 'number' ? window.__readyAt : null;
          return {
            readyMs: readyAt !== null ? readyAt - start : window.__harnessReadyAt !== undefined ? window.__harnessReadyAt - start : null,
            readySource: readyAt !== null ? '__readyAt' : 'observer',
            dclMs: nav ? nav.domContentLoadedEventEnd - start : null,
            requests: (nav ? 1 : 0) + resources.length,
            bytes: [nav, ...resources].filter(Boolean).reduce((sum, e) => sum + size(e), 0),
          };
        });
        state.perf.push({ view, ...perf });
        await screenshot(page, view);
      });
    } catch (err) {
      failures.push(`${view}: ${err.message}`);
    }
  }
  await writePerf();
  assert(failures.length === 0, failures.join(' | '));
}

async function writePerf() {
  const fmt = (ms) => (ms === null || ms === undefined ? 'n/a' : ms.toFixed(0));
  const lines = [
    '# Console: time to ready and page weight',
    '',
    `Measured by scripts/browser/console.spec.mjs against ${BASE_URL}, Chromium, viewport ${VIEWPORT.width}x${VIEWPORT.height}, cold cache.`,
    'Ready: navigation start until the view set `data-ready` (`window.__readyAt`; "observer": the harness saw the attribute).',
    'Weight: transferSize (else encodedBodySize) of the document and every resource loaded until then.',
    '',
    '| view | ready (ms) | DOMContentLoaded (ms) | requests | weight (KiB) |',
    '|---|---:|---:|---:|---:|',
    ...state.perf.map(
      (p) =>
        `| ${p.view} | ${fmt(p.readyMs)}${p.readySource === 'observer' ? ' (observer)' : ''} | ${fmt(p.dclMs)} | ${p.requests} | ${(p.bytes / 1024).toFixed(1)} |`,
    ),
    '',
    `Live event latency (POST /execute until its li.event is shown): ${state.liveLatencyMs === null ? 'n/a' : `${state.liveLatencyMs} ms`}`,
    `Live flood (~1 000 events/s for 10 s): ${state.flood ? `${state.flood.shown} items kept, longest main-thread task ${state.flood.longestTaskMs} ms, slowest answer of the page ${state.flood.slowestAnswerMs} ms` : 'n/a'}`,
    '',
  ];
  const text = lines.join('\n');
  await mkdir(ARTIFACTS, { recursive: true });
  await writeFile(path.join(ARTIFACTS, 'perf.md'), text);
  return text;
}

/** Check 2: a create shows up in the live list; prints the latency. */
async function liveEvent() {
  await withPage('live-event', async (page) => {
    await openView(page, '/console/live');
    await waitLive(page);
    const id = uid('cv-corr-live');
    const t0 = Date.now();
    const res = await createUser(uid('cv-live'), id);
    assert(res.status === 200, `the create answered ${res.status}: ${res.text}`);
    await page.waitForSelector(liEvent(id), { state: 'attached', timeout: 10_000 }).catch(() => {
      throw new CheckError(`no ${liEvent(id)} within 10 s`);
    });
    state.liveLatencyMs = Date.now() - t0;
    console.log(`# live event latency: ${state.liveLatencyMs} ms (POST /execute until its li.event)`);
  });
}

/**
 * About 1 000 events/s for 10 s (`civitas emit --count 1000` once a second) into an open live
 * view: the list stays bounded (500) and the page keeps answering. Prints the longest main-thread
 * task and how long the page took to answer during the flood (figures, not assertions: timing
 * depends on the machine).
 */
async function liveFlood() {
  if (!CIVITAS) {
    console.log('# live-flood: CIVITAS not set, no emit');
    return;
  }
  await withPage('live-flood', async (page) => {
    await openView(page, '/console/live');
    await waitLive(page);
    // Long tasks (≥ 50 ms) of the main thread, recorded by the browser while the flood runs.
    await page.evaluate(() => {
      window.__longest = 0;
      new PerformanceObserver((list) => {
        for (const entry of list.getEntries()) window.__longest = Math.max(window.__longest, entry.duration);
      }).observe({ type: 'longtask', buffered: false });
    });
    let slowestAnswerMs = 0;
    for (let second = 0; second < 10; second += 1) {
      const started = Date.now();
      const emitted = await runCommand(CIVITAS, ['emit', '--count', '1000', '--kafka', BROKER], 10_000);
      assert(!emitted.error, `emit failed: ${emitted.stderr}`);
      const probe = Date.now();
      await page.evaluate(() => document.querySelectorAll('li.event').length);
      slowestAnswerMs = Math.max(slowestAnswerMs, Date.now() - probe);
      await sleep(Math.max(0, 1000 - (Date.now() - started)));
    }
    await sleep(1000);
    const shown = await page.locator('li.event').count();
    const longest = await page.evaluate(() => window.__longest);
    const counter = (await page.locator('#live-count').textContent()) || '';
    assert(shown > 0 && shown <= 500, `the live list holds ${shown} items (bounded at 500)`);
    state.flood = { shown, longestTaskMs: Math.round(longest), slowestAnswerMs };
    console.log(`# live flood (~1 000 events/s for 10 s): ${shown} shown (${counter}), longest main-thread task ${Math.round(longest)} ms, slowest answer of the page ${slowestAnswerMs} ms`);
  });
}

/** Clicking a live event shows the record as pretty JSON in #detail. */
async function liveDetail() {
  await withPage('live-detail', async (page) => {
    await openView(page, '/console/live');
    await waitLive(page);
    const id = uid('cv-corr-detail');
    const username = uid('cv-detail');
    const res = await createUser(username, id);
    assert(res.status === 200, `the create answered ${res.status}: ${res.text}`);
    const item = page.locator(liEvent(id)).first();
    await item.waitFor({ state: 'visible', timeout: 10_000 });
    const line = ((await item.textContent()) || '').trim();
    assert(line.includes(username), `the event line does not name ${username}: ${JSON.stringify(line)}`);
    await item.click();
    const record = await poll('#detail to hold the record as JSON', async () => {
      const text = (await page.locator('#detail').textContent({ timeout: 1000 })) || '';
      const parsed = JSON.parse(text);
      return parsed && parsed.value && parsed.value.correlation_id === id ? parsed : false;
    });
    for (const key of ['topic', 'partition', 'offset', 'key', 'headers', 'value']) {
      assert(key in record, `#detail's JSON has no "${key}": ${Object.keys(record).join(', ')}`);
    }
    assert(record.topic === 'crud.operations', `#detail's topic is ${record.topic}`);
    const detailText = (await page.locator('#detail').textContent()) || '';
    assert(detailText.includes('\n  '), '#detail is not pretty-printed JSON');
    const tag = await page.locator('#detail').evaluate((el) => el.tagName);
    assert(tag === 'PRE', `#detail is a <${tag.toLowerCase()}>, expected <pre>`);
  });
}

/** #pause stops the list (button says Resume), pressing it again goes on. */
async function livePause() {
  await withPage('live-pause', async (page) => {
    await openView(page, '/console/live');
    await waitLive(page);
    const pause = page.locator('#pause');
    const before = ((await pause.textContent()) || '').trim();
    assert(!/resume/i.test(before), `#pause says "${before}" before it was pressed`);
    await pause.click();
    await poll('#pause to say "Resume"', async () => /resume/i.test((await pause.textContent()) || ''));
    const id = uid('cv-corr-paused');
    const res = await createUser(uid('cv-paused'), id);
    assert(res.status === 200, `the create answered ${res.status}: ${res.text}`);
    await sleep(1500);
    const shown = await page.locator(liEvent(id)).filter({ visible: true }).count();
    assert(shown === 0, `an event arrived in #live-list while paused (${liEvent(id)})`);
    await pause.click();
    await poll('#pause to stop saying "Resume"', async () => !/resume/i.test((await pause.textContent()) || ''));
  });
}

/** The filter form reloads the page with its fields as query parameters. */
async function liveFilterForm() {
  await withPage('live-filter-form', async (page) => {
    await openView(page, '/console/live');
    const form = page.locator('#live-filters');
    for (const name of ['topic', 'failed', 'system', 'action', 'correlation_id', 'header']) {
      assert((await form.locator(`[name=${q(name)}]`).count()) === 1, `#live-filters has no [name=${name}]`);
    }
    const topic = form.locator('[name="topic"]');
    assert((await topic.evaluate((el) => el.tagName)) === 'SELECT', '[name=topic] is not a <select>');
    const options = await topic.locator('option').evaluateAll((els) => els.map((o) => o.value));
    assert(options.includes(''), `[name=topic] has no "" (all crud topics) option: ${options.join(', ')}`);
    assert(options.includes('crud.operations'), `[name=topic] has no crud.operations option: ${options.join(', ')}`);

    const header = 'ce_subject=local/user/cv-form';
    await form.locator('[name="header"]').fill(header);
    await form.locator('[name="failed"]').check();
    await form.locator('[name="system"]').fill('local');
    await Promise.all([
      page.waitForURL((url) => url.pathname === '/console/live' && url.searchParams.get('header') === header, { timeout: WAIT_MS }),
      page.locator('#apply').click(),
    ]);
    const params = new URL(page.url()).searchParams;
    assert(['1', 'on', 'true'].includes(params.get('failed') || ''), `after #apply the URL has failed=${params.get('failed')}: ${page.url()}`);
    assert(params.get('system') === 'local', `after #apply the URL has system=${params.get('system')}: ${page.url()}`);
    await page.waitForSelector('body[data-ready="1"]', { state: 'attached' });
    assert((await form.locator('[name="header"]').inputValue()) === header, 'the reloaded form does not show the header filter');
    assert(await form.locator('[name="failed"]').isChecked(), 'the reloaded form does not show failed checked');
  });
}

/** Check 3: ?header=ce_subject=local/user/A shows A's create and not B's. */
async function headerFilter() {
  await withPage('header-filter', async (page) => {
    const a = uid('cv-hfa');
    const b = uid('cv-hfb');
    await openView(page, `/console/live?header=${encodeURIComponent(`ce_subject=local/user/${a}`)}`);
    await waitLive(page);
    const idA = uid('cv-corr-hfa');
    const idB = uid('cv-corr-hfb');
    let res = await createUser(a, idA);
    assert(res.status === 200, `creating ${a} answered ${res.status}: ${res.text}`);
    res = await createUser(b, idB);
    assert(res.status === 200, `creating ${b} answered ${res.status}: ${res.text}`);
    await page.waitForSelector(liEvent(idA), { state: 'attached', timeout: 10_000 }).catch(() => {
      throw new CheckError(`A's event ${liEvent(idA)} did not appear within 10 s`);
    });
    await sleep(1500);
    assert((await page.locator(liEvent(idB)).count()) === 0, `B's event ${liEvent(idB)} is shown despite the header filter`);
  });
}

/** Check 4: the search timeline of the workflow run (several records) is in time order. */
async function timeline() {
  assert(state.run, 'no workflow run (seed failed)');
  await withPage('timeline', async (page) => {
    const id = state.run.id;
    let entries = 0;
    // The run's records reach the broker asynchronously: reload until they are there.
    await poll(`/console/search?q=${id} to list records`, async () => {
      await openView(page, `/console/search?q=${encodeURIComponent(id)}`);
      entries = await page.locator('ol#timeline li.entry').count();
      return entries >= 2;
    });
    const countText = ((await page.locator('#timeline-count').textContent()) || '').trim();
    const shown = Number((/\d+/.exec(countText) || [NaN])[0]);
    assert(shown === entries, `#timeline-count says "${countText}", the timeline has ${entries} entries`);
    assert((await page.locator('[name="q"]').inputValue()) === id, 'the search form does not show the query');
    const rows = await page.locator('ol#timeline li.entry').evaluateAll((lis) =>
      lis.map((li) => ({
        gap: (li.querySelector('.gap') || {}).textContent || '',
        topic: (li.querySelector('.topic') || {}).textContent || '',
        line: (li.querySelector('.line') || {}).textContent || '',
      })),
    );
    let previousGap = -Infinity;
    let previousTime = -Infinity;
    rows.forEach((row, i) => {
      assert(row.topic.trim(), `entry ${i} has no .topic`);
      assert(row.line.trim(), `entry ${i} has no .line`);
      const gap = parseGap(row.gap);
      assert(!Number.isNaN(gap), `entry ${i}: .gap "${row.gap}" is not "+N ms"`);
      assert(gap >= previousGap, `entry ${i}: gap ${gap} ms after ${previousGap} ms: not in time order`);
      previousGap = gap;
      const stamp = /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z/.exec(row.line);
      if (stamp) {
        const t = Date.parse(stamp[0]);
        assert(t >= previousTime, `entry ${i}: ${stamp[0]} is earlier than the entry before it`);
        previousTime = t;
      }
    });
    console.log(`# timeline of run ${id}: ${entries} records, last gap ${previousGap} ms`);
  });
}

/** Check 6: `<script>alert(1)</script>` from an event is shown as text, never run. */
async function escaping() {
  assert(state.xss, 'no <script> request (seed failed)');
  const assertInert = async (page, where) => {
    const injected = await page.evaluate(() => [...document.querySelectorAll('script')].some((s) => s.textContent.includes('alert(1)')));
    assert(!injected, `${where}: a <script> element with alert(1) is in the DOM (the event text was inserted as HTML)`);
    const matches = page.getByText(XSS, { exact: false });
    const count = await matches.count();
    assert(count >= 1, `${where}: the text ${XSS} is not in the page`);
    let visible = false;
    for (let i = 0; i < count && !visible; i += 1) visible = await matches.nth(i).isVisible();
    assert(visible, `${where}: the text ${XSS} is in the page but not visible`);
  };
  await withPage('escaping-live', async (page) => {
    await openView(page, '/console/live');
    await waitLive(page);
    const id = uid('cv-corr-xss-live');
    const res = await execute({ system: 'local', object_type: 'user', action: 'read', object_id: XSS, params: {} }, id);
    assert(res.status >= 400 && res.status < 500, `the read answered ${res.status}`);
    await page.waitForSelector(liEvent(id), { state: 'attached', timeout: 10_000 }).catch(() => {
      throw new CheckError(`the <script> request's event ${liEvent(id)} did not appear in the live list within 10 s`);
    });
    await assertInert(page, '/console/live');
    await page.locator(liEvent(id)).first().click();
    await poll('#detail to show the record', async () => ((await page.locator('#detail').textContent()) || '').includes(XSS));
    await assertInert(page, '/console/live (detail)');
  });
  await withPage('escaping-search', async (page) => {
    const id = state.xss.correlationId;
    await poll(`/console/search?q=${id} to show the <script> request`, async () => {
      await openView(page, `/console/search?q=${encodeURIComponent(id)}`);
      return (await page.locator('ol#timeline li.entry').count()) >= 1;
    });
    await assertInert(page, '/console/search');
  });
}

/** Check 7: the failures view groups the failures and lists the failed create. */
async function failures() {
  assert(state.failedCreate, 'no failed create (seed failed)');
  await withPage('failures', async (page) => {
    const id = state.failedCreate.correlationId;
    await poll(`the failed create (${id}) to be in #failures-list`, async () => {
      await openView(page, '/console/failures?since=1h');
      const list = page.locator('ul#failures-list');
      if ((await list.locator(liEvent(id)).count()) >= 1) return true;
      return ((await list.textContent()) || '').includes(id);
    });
    assert((await page.locator('svg#failures-chart').count()) === 1, 'no svg#failures-chart');
    const groups = page.locator('table#failures-groups tr.group');
    assert((await groups.count()) >= 1, 'table#failures-groups has no tr.group');
    const localCreate = groups.filter({ hasText: 'local' }).filter({ hasText: 'create' });
    assert((await localCreate.count()) >= 1, 'no tr.group for local / create');
    assert((await page.locator('table#failure-messages tr.message').count()) >= 1, 'table#failure-messages has no tr.message');
    await screenshot(page, 'failures-1h');
  });
}

/** Correlation ids are links to the search; following one shows that request's timeline. */
async function correlationLinks() {
  assert(state.failedCreate, 'no failed create (seed failed)');
  await withPage('correlation-links', async (page) => {
    await openView(page, '/console/failures?since=1h');
    const ids = await page.locator('ul#failures-list li.event').evaluateAll((lis) => lis.map((li) => li.getAttribute('data-correlation-id')));
    assert(ids.length >= 1, '#failures-list is empty');
    for (const [i, id] of ids.entries()) {
      assert(id, `li.event ${i} of #failures-list has no data-correlation-id`);
      const hrefs = await page
        .locator(`ul#failures-list ${liEvent(id)} a.corr`)
        .evaluateAll((as) => as.map((a) => a.getAttribute('href')));
      const good = hrefs.some((href) => {
        const url = new URL(href, 'http://x');
        return url.pathname === '/console/search' && url.searchParams.get('q') === id;
      });
      assert(good, `li.event ${id}: no a.corr to /console/search?q=${id} (links: ${hrefs.join(', ') || 'none'})`);
    }
    const id = state.failedCreate.correlationId;
    const link = page.locator(`ul#failures-list ${liEvent(id)} a.corr`).first();
    await Promise.all([page.waitForURL((url) => url.pathname === '/console/search', { timeout: WAIT_MS }), link.click()]);
    await page.waitForSelector('body[data-ready="1"]', { state: 'attached' });
    assert((await page.locator('ol#timeline li.entry').count()) >= 1, `the search for ${id} shows no entry`);
  });
}

/** Check 8: clicking the crud.operations row shows who writes it. */
async function topics() {
  await withPage('topics', async (page) => {
    await openView(page, '/console/topics');
    const row = page.locator('table#topics tr.topic[data-topic="crud.operations"]');
    assert((await row.count()) === 1, 'no tr.topic[data-topic="crud.operations"]');
    await row.click();
    await page.locator('#access').waitFor({ state: 'visible' });
    await poll('#writers to be non-empty', async () => ((await page.locator('#writers').textContent()) || '').trim().length > 0);
    assert((await page.locator('#readers').count()) === 1, 'no #readers');
  });
}

/** The sagas view lists the saga and shows its steps (or says there is none). */
async function sagas() {
  await withPage('sagas', async (page) => {
    if (!state.saga) {
      await openView(page, '/console/sagas');
      const rows = await page.locator('table#sagas tr.saga').count();
      const empty = await page.locator('#sagas-empty').isVisible().catch(() => false);
      assert(rows >= 1 || empty, 'neither tr.saga rows nor a visible #sagas-empty');
      console.log('# sagas: no saga was made; checked only that the view loads');
      return;
    }
    const { datasetId } = state.saga;
    const row = page.locator('table#sagas tr.saga').filter({ hasText: datasetId });
    await poll(`a tr.saga naming ${datasetId}`, async () => {
      await openView(page, '/console/sagas');
      return (await row.count()) >= 1;
    });
    await Promise.all([
      page.waitForURL((url) => url.pathname === '/console/sagas' && url.searchParams.has('id'), { timeout: WAIT_MS }),
      row.first().locator('a.saga-link').first().click(),
    ]);
    await page.waitForSelector('body[data-ready="1"]', { state: 'attached' });
    assert(!(await errorText(page)), `#error: ${await errorText(page)}`);
    assert((await page.locator('ol#saga-steps li.step').count()) >= 1, 'ol#saga-steps has no li.step');
  });
}

/** The secrets view has its table and list (nothing here resolves secrets: they may be empty). */
async function secrets() {
  await withPage('secrets', async (page) => {
    await openView(page, '/console/secrets');
    assert((await page.locator('table#secrets-groups').count()) === 1, 'no table#secrets-groups');
    assert((await page.locator('ul#secrets-list').count()) === 1, 'no ul#secrets-list');
  });
}

/** Health: a status word, and charts once a crud.metrics snapshot exists. */
async function health() {
  await withPage('health', async (page) => {
    await poll('#metrics-charts to contain an svg', async () => {
      await openView(page, '/console/health');
      return (await page.locator('#metrics-charts svg').count()) >= 1;
    }, { intervalMs: 1000 });
    const status = ((await page.locator('#health-status').textContent()) || '').trim().toLowerCase();
    assert(['ok', 'degraded', 'down'].includes(status), `#health-status is ${JSON.stringify(status)}`);
  });
}

/** Check 5: approving the waiting run's task in #inbox completes the run. */
async function approval() {
  assert(state.run, 'no workflow run (seed failed)');
  const { id, username } = state.run;
  await withPage('approval', async (page) => {
    const runRow = page.locator(`table#runs tr.run:has(a.run-link[href*=${q(id)}])`);
    const task = page.locator('#inbox .task').filter({ hasText: username });
    await poll(`the task of run ${id} in #inbox`, async () => {
      await openView(page, '/console/workflows');
      return (await task.count()) >= 1;
    });
    assert((await task.count()) === 1, `${await task.count()} tasks in #inbox name ${username}`);
    assert((await runRow.count()) === 1, `no tr.run with an a.run-link to run ${id}`);
    const before = await runRow.getAttribute('data-status');
    assert(before === 'WAITING', `the run's row says data-status=${before}, expected WAITING`);
    assert((await task.locator('button.reject').count()) === 1, 'the task has no button.reject');
    await task.locator('button.approve').click();
    await task.waitFor({ state: 'detached', timeout: WAIT_MS }).catch(() => {
      throw new CheckError(`the task of run ${id} is still in #inbox ${WAIT_MS} ms after approve`);
    });
    await poll(`GET /workflow/status/${id} to say COMPLETED`, async () => {
      const run = await workflowStatus(id);
      return run && run.status === 'COMPLETED';
    });
    await poll('the run row to say COMPLETED', async () => {
      await openView(page, '/console/workflows');
      return (await runRow.getAttribute('data-status', { timeout: 1000 })) === 'COMPLETED';
    });
  });
}

/** A run's link shows its timeline. */
async function runTimeline() {
  assert(state.run, 'no workflow run (seed failed)');
  const { id } = state.run;
  await withPage('run-timeline', async (page) => {
    await openView(page, '/console/workflows');
    const link = page.locator(`table#runs tr.run a.run-link[href*=${q(id)}]`).first();
    await Promise.all([
      page.waitForURL((url) => url.pathname === '/console/workflows' && url.searchParams.get('run') === id, { timeout: WAIT_MS }),
      link.click(),
    ]);
    await page.waitForSelector('body[data-ready="1"]', { state: 'attached' });
    assert(!(await errorText(page)), `#error: ${await errorText(page)}`);
    const steps = page.locator('ol#run-timeline > li');
    assert((await page.locator('ol#run-timeline').isVisible()), 'ol#run-timeline is not visible');
    assert((await steps.count()) >= 1, 'ol#run-timeline is empty');
    await screenshot(page, 'workflow-run');
  });
}

// ---------------------------------------------------------------------------------------

// In order; each prints as its name in kebab-case (`securityHeaders`: `security-headers`).
const CHECKS = [
  seed, securityHeaders, consoleRedirect, viewsLoad, liveEvent, liveDetail, livePause, liveFilterForm, headerFilter,
  timeline, escaping, failures, correlationLinks, topics, sagas, secrets, health, approval, runTimeline, liveFlood,
  noDialogs(state.dialogs), // last: a dialog anywhere fails the run
];

runChecks(CHECKS, {
  watchdogMinutes: 10,
  header: (version) => `# ${BASE_URL}, Chromium ${version}, artifacts in ${ARTIFACTS}`,
  select: (name) => !ONLY.length || name === 'seed' || ONLY.includes(name),
  finish: async () => {
    if (state.perf.length) console.log(`\n${await writePerf()}`);
  },
});
