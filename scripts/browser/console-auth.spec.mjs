// Real-browser checks of the civitas web console with caller authentication: sign-in through
// an OpenID Connect issuer (authorization code with PKCE), the session cookie, the CSRF token,
// and who may decide an approval. Against a `civitas up --auth-issuer ISSUER --workflows
// config/workflows` whose issuer is scripts/browser/oidc-issuer.py (scripts/console-browser.sh
// starts both and runs this file).
//
// A plain Node script, as console.spec.mjs: Debian's chromium driven by playwright-core, no
// test runner; the shared plumbing is harness.mjs. Each check is a named async function; the
// script prints `ok - NAME` or `not ok - NAME: REASON` per check and exits 1 if any failed.
// Every wait is bounded (at most 15 s). The checks build on each other (alice signs in, seeds,
// approves, signs out).
//
// The people (three browser contexts, each with its own session):
//   alice  a member of directory group `admins` once she has seeded it: approves
//   bob    nobody in particular: may neither see the task as his nor decide it
//   carol  starts the onboarding run. Not alice: whoever started a run may not decide its
//          approval (`allow_initiator: false`, docs/workflows.md); check `initiator-may-not-decide`
//
// Every page (the console's and the issuer's) fails the check that was running on any
// `pageerror`, any console message of type `error` (a CSP violation is one) and any dialog
// (dismissed). The one exception: a request this script makes on purpose to be refused
// (expectRefusal) may log Chromium's "Failed to load resource: … status of 403" for exactly
// that URL and status, once. A dialog anywhere also fails the run (check `no-dialogs`, last).
//
// Environment:
//   BASE_URL   the HTTP API / console          (default http://127.0.0.1:29781)
//   ISSUER     the issuer                      (default http://127.0.0.1:29790/realms/test)
//   ARTIFACTS  screenshots                     (default scripts/browser/artifacts)
//   CHROMIUM   the browser                     (default /usr/bin/chromium)
//   UPDATE_DOCS_SCREENSHOTS=1  also copy the screenshot to docs/console/
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { ARTIFACTS, CheckError, WAIT_MS, assert, envUrl, httpClient, parseJson, poll, q } from './harness.mjs';
import { errorText, failOnProblems, newContext, noDialogs, openView as openViewAt, runChecks, screenshot, waitReady, watchPages } from './harness.mjs';

const BASE_URL = envUrl('BASE_URL', 'http://127.0.0.1:29781');
const ISSUER = envUrl('ISSUER', 'http://127.0.0.1:29790/realms/test');

const SESSION_COOKIE = 'civitas_console';
const WORKFLOWS = '/console/workflows';

// What the checks share.
const state = {
  people: new Map(), // name -> {context, page}
  problems: [], // every error/dialog seen on any page, in order
  expected: [], // {url, status}: refusals asked for on purpose (one console message each)
  dialogs: [],
  run: null, // {id, username, taskId, version}: carol's onboarding run, waiting for approval
};

// ---------------------------------------------------------------------------------------
// Small helpers

/** One HTTP request from Node (no browser, no session unless `cookie`); {status, headers, text, json}. */
const http = httpClient(BASE_URL);

/** Short text for a failure message. */
const brief = (text) => (text.length > 300 ? `${text.slice(0, 300)}…` : text);

// ---------------------------------------------------------------------------------------
// Browser plumbing: a person is a browser context with one page, watched for problems.

/** The person `name`'s context and page (made on first use). */
async function person(name) {
  let p = state.people.get(name);
  if (!p) {
    const context = await newContext();
    watchPages(context, { problems: state.problems, dialogs: state.dialogs, expectedRefusals: state.expected });
    const page = await context.newPage();
    p = { name, context, page, signedIn: false };
    state.people.set(name, p);
  }
  return p;
}

/** The signed-in person `name` (a check before this one signed them in). */
function signedIn(name) {
  const p = state.people.get(name);
  assert(p && p.signedIn, `${name} is not signed in (an earlier check failed)`);
  return p;
}

/** Runs a check: it fails on what it throws and on any problem a page reported meanwhile. */
async function runCheck(name, fn) {
  const from = state.problems.length;
  await failOnProblems(fn, () => state.problems.slice(from), async () => {
    for (const p of state.people.values()) {
      await p.page.screenshot({ path: path.join(ARTIFACTS, `fail-auth-${name}-${p.name}.png`), fullPage: true }).catch(() => {});
    }
  });
}

/** Opens a console view of a signed-in person (no redirect to sign in) and waits for its data. */
const openView = (page, urlPath) => openViewAt(page, BASE_URL, urlPath, { stay: true });

/**
 * A request from the person's console page, with their session cookie (and, unless
 * `csrf: false`, the page's CSRF token on a state-changing one): {status, text, json}.
 * `refused`: the status this request is meant to be refused with (its console message is
 * then expected).
 */
async function pageFetch(page, pathname, { method = 'GET', body, headers = {}, csrf = true, refused } = {}) {
  if (refused) state.expected.push({ url: BASE_URL + pathname, status: refused });
  const res = await page.evaluate(
    async ({ pathname, method, body, headers, csrf }) => {
      const meta = document.querySelector('meta[name="csrf-token"]');
      const all = { Accept: 'application/json', ...headers };
      if (body !== null) all['Content-Type'] = 'application/json';
      if (csrf && method !== 'GET') {
        if (!meta) throw new Error(`no <meta name="csrf-token"> on ${location.href}`);
        all['X-CSRF-Token'] = meta.getAttribute('content');
      }
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), 10_000);
      try {
        const r = await fetch(pathname, {
          method,
          headers: all,
          credentials: 'same-origin',
          body: body === null ? undefined : JSON.stringify(body),
          signal: controller.signal,
        });
        return { status: r.status, text: await r.text() };
      } finally {
        clearTimeout(timer);
      }
    },
    { pathname, method, body: body === undefined ? null : body, headers, csrf },
  );
  return { ...res, json: parseJson(res.text) };
}

/** The person's csrf token, from their page. */
async function csrfToken(page) {
  return page.locator('meta[name="csrf-token"]').getAttribute('content', { timeout: 1000 }).catch(() => null);
}

/**
 * POST /execute as the person; `ok`: the statuses that count as done (a 409 among them: the
 * object exists, made by an earlier run against the same database; Chromium logs it).
 */
async function execute(page, command, ok = [200]) {
  const conflict = { url: `${BASE_URL}/execute`, status: 409 };
  if (ok.includes(409)) state.expected.push(conflict);
  const res = await pageFetch(page, '/execute', { method: 'POST', body: command });
  if (res.status !== 409 && state.expected.includes(conflict)) state.expected.splice(state.expected.indexOf(conflict), 1);
  assert(ok.includes(res.status), `${command.object_type} ${command.action} ${JSON.stringify(command.object_id || command.params)} answered ${res.status}: ${brief(res.text)}`);
  return res;
}

/** GET /workflow/status/{id} through the person's page. */
async function runStatus(page, id) {
  const res = await pageFetch(page, `/workflow/status/${encodeURIComponent(id)}`);
  assert(res.status === 200 && res.json, `GET /workflow/status/${id} answered ${res.status}: ${brief(res.text)}`);
  return res.json;
}

/**
 * Signs `name` in through the browser: `start` (a console path) sends them to the issuer,
 * they choose themselves there, and land back on `start`, ready.
 */
async function signIn(name, start = WORKFLOWS) {
  const p = await person(name);
  await p.page.goto(BASE_URL + start, { waitUntil: 'domcontentloaded' });
  const atIssuer = new URL(p.page.url());
  assert(
    `${atIssuer.origin}${atIssuer.pathname}` === `${ISSUER}/auth`,
    `${start} without a session ended at ${p.page.url()}, expected the issuer's ${ISSUER}/auth`,
  );
  const link = p.page.locator(`#as-${name}`);
  assert((await link.count()) === 1, `the issuer's page has no #as-${name}`);
  await link.click();
  // The callback page moves on by a meta refresh: the URL is polled (Playwright's waitForURL
  // does not always see that navigation), then the view's data-ready.
  await waitForUrl(p.page, (url) => url.origin === new URL(BASE_URL).origin && `${url.pathname}${url.search}` === start, `${name} to get back to ${start}`);
  await waitReady(p.page, `${start} after sign-in`);
  const banner = ((await p.page.locator('#auth-banner').textContent()) || '').replace(/\s+/g, ' ').trim();
  assert(banner.includes(`signed in as ${name}`), `#auth-banner says ${JSON.stringify(banner)}, expected "signed in as ${name}"`);
  assert(await csrfToken(p.page), `${start} has no <meta name="csrf-token"> after sign-in`);
  p.signedIn = true;
  return p;
}

/** Polls the page's URL until `match(url)`; says where the page is (and what it shows) if not. */
async function waitForUrl(page, match, what) {
  await poll(what, async () => match(new URL(page.url())), { intervalMs: 100 }).catch(async (err) => {
    const text = ((await page.locator('body').textContent({ timeout: 1000 }).catch(() => '')) || '').replace(/\s+/g, ' ').trim();
    throw new CheckError(`${err.message}; the page is at ${page.url()} and says ${JSON.stringify(brief(text))}`);
  });
}

/** The pending task of `runId` in the page's #inbox. */
const taskOf = (page, runId) => page.locator(`#inbox .task[data-run-id=${q(runId)}]`);

// ---------------------------------------------------------------------------------------
// The checks

/** The service and the issuer answer. */
async function setup() {
  await poll(`${BASE_URL}/health/ready to answer 200`, async () => (await http('/health/ready')).status === 200);
  const discovery = await http('/.well-known/openid-configuration', { base: ISSUER });
  assert(discovery.status === 200 && discovery.json && discovery.json.issuer === ISSUER, `the issuer's discovery answered ${discovery.status}: ${brief(discovery.text)}`);
}

/** Without a session: views redirect to sign in, the data and the API answer 401. */
async function unauthenticated() {
  const view = await http('/console/live', { redirect: 'manual' });
  assert(view.status === 303, `GET /console/live answered ${view.status}, expected 303`);
  const location = new URL(view.headers.get('location') || '', BASE_URL);
  assert(location.pathname === '/console/auth/login', `GET /console/live redirects to ${location}, expected /console/auth/login?next=…`);
  assert(location.searchParams.get('next') === '/console/live', `the sign-in's next is ${JSON.stringify(location.searchParams.get('next'))}, expected "/console/live"`);

  const withQuery = await http('/console/search?q=a%20b', { redirect: 'manual' });
  const next = new URL(withQuery.headers.get('location') || '', BASE_URL).searchParams.get('next');
  assert(withQuery.status === 303 && next === '/console/search?q=a%20b', `GET /console/search?q=a%20b answered ${withQuery.status} with next=${JSON.stringify(next)}`);

  const topics = await http('/console/api/topics');
  assert(topics.status === 401, `GET /console/api/topics answered ${topics.status}, expected 401: ${brief(topics.text)}`);
  const exec = await http('/execute', { method: 'POST', body: { system: 'local', object_type: 'group', action: 'create', params: { name: 'nobody' } } });
  assert(exec.status === 401, `POST /execute without a token or session answered ${exec.status}, expected 401: ${brief(exec.text)}`);
  const forged = await http('/console/api/topics', { headers: { Cookie: `${SESSION_COOKIE}=forged-session-id` } });
  assert(forged.status === 401, `GET /console/api/topics with a made-up session cookie answered ${forged.status}, expected 401`);
}

/** The login endpoint sends the browser to the issuer with PKCE S256, state and nonce. */
async function loginRedirect() {
  const res = await http(`/console/auth/login?next=${encodeURIComponent(WORKFLOWS)}`, { redirect: 'manual' });
  assert(res.status === 303 || res.status === 302, `GET /console/auth/login answered ${res.status}, expected a redirect`);
  const to = new URL(res.headers.get('location') || '');
  assert(`${to.origin}${to.pathname}` === `${ISSUER}/auth`, `the login redirects to ${to.origin}${to.pathname}, expected ${ISSUER}/auth`);
  const p = to.searchParams;
  assert(p.get('response_type') === 'code', `response_type=${p.get('response_type')}`);
  assert(p.get('code_challenge_method') === 'S256', `code_challenge_method=${p.get('code_challenge_method')}, expected S256`);
  assert(/^[A-Za-z0-9_-]{43}$/.test(p.get('code_challenge') || ''), `code_challenge ${JSON.stringify(p.get('code_challenge'))} is not a base64url SHA-256`);
  assert((p.get('state') || '').length >= 16, `state ${JSON.stringify(p.get('state'))} is missing or short`);
  assert((p.get('nonce') || '').length >= 16, `nonce ${JSON.stringify(p.get('nonce'))} is missing or short`);
  assert(p.get('state') !== p.get('nonce'), 'state and nonce are the same value');
  assert(p.get('redirect_uri') === `${BASE_URL}/console/auth/callback`, `redirect_uri=${p.get('redirect_uri')}`);
  assert(p.get('client_id'), 'no client_id');
  const cookies = res.headers.getSetCookie();
  assert(cookies.length >= 1, 'the login sets no cookie');
  for (const c of cookies) assert(/;\s*HttpOnly\b/i.test(c), `a cookie of the login is not HttpOnly: ${c}`);
  assert(cookies.some((c) => c.includes(p.get('state'))), `no cookie of the login binds its state: ${cookies.join(' | ')}`);

  // Another login: fresh values.
  const again = new URL((await http('/console/auth/login', { redirect: 'manual' })).headers.get('location') || '');
  for (const k of ['state', 'nonce', 'code_challenge']) {
    assert(again.searchParams.get(k) !== p.get(k), `two logins got the same ${k}`);
  }
}

/** alice signs in through the browser from /console/workflows and gets the session cookie. */
async function signInAlice() {
  const alice = await signIn('alice', WORKFLOWS);
  const cookies = await alice.context.cookies(BASE_URL);
  const session = cookies.find((c) => c.name === SESSION_COOKIE);
  assert(session, `no ${SESSION_COOKIE} cookie after sign-in (cookies: ${cookies.map((c) => c.name).join(', ') || 'none'})`);
  assert(session.httpOnly === true, `${SESSION_COOKIE} is not httpOnly`);
  assert(session.sameSite === 'Strict', `${SESSION_COOKIE} is sameSite ${session.sameSite}, expected Strict`);
  assert(session.path === '/', `${SESSION_COOKIE} has path ${session.path}`);
  assert(session.value.length >= 32, `${SESSION_COOKIE} is short: ${session.value.length} characters`);
  assert(!cookies.some((c) => c.name === 'civitas_login' && c.value), 'the login cookie is still set after sign-in');
  const token = await csrfToken(alice.page);
  assert(token.length >= 32, `the CSRF token is short: ${token.length} characters`);
  // The page's script cannot read the session cookie.
  const visible = await alice.page.evaluate(() => document.cookie);
  assert(!visible.includes(SESSION_COOKIE), `document.cookie shows the session: ${visible}`);
  // Signed in, the data answers.
  const topics = await pageFetch(alice.page, '/console/api/topics');
  assert(topics.status === 200, `GET /console/api/topics as alice answered ${topics.status}: ${brief(topics.text)}`);
}

/** alice makes the directory the workflow needs; without the CSRF token a POST is 403. */
async function seed() {
  const { page } = signedIn('alice');
  const noCsrf = await pageFetch(page, '/execute', {
    method: 'POST',
    csrf: false,
    refused: 403,
    body: { system: 'local', object_type: 'group', action: 'create', params: { name: 'no-csrf' } },
  });
  assert(noCsrf.status === 403, `POST /execute without X-CSRF-Token answered ${noCsrf.status}, expected 403: ${brief(noCsrf.text)}`);
  const wrong = await pageFetch(page, '/execute', {
    method: 'POST',
    csrf: false,
    refused: 403,
    headers: { 'X-CSRF-Token': 'not-the-token' },
    body: { system: 'local', object_type: 'group', action: 'create', params: { name: 'no-csrf' } },
  });
  assert(wrong.status === 403, `POST /execute with a wrong X-CSRF-Token answered ${wrong.status}, expected 403: ${brief(wrong.text)}`);

  // 409: made by an earlier run against the same database.
  await execute(page, { system: 'local', object_type: 'user', action: 'create', params: { username: 'alice', email: 'alice@example.org' } }, [200, 409]);
  for (const name of ['staff', 'newsletter', 'admins']) {
    await execute(page, { system: 'local', object_type: 'group', action: 'create', params: { name } }, [200, 409]);
  }
  await execute(page, { system: 'local', object_type: 'group', action: 'add_member', object_id: 'admins', params: { username: 'alice' } }, [200, 409]);
  const group = await pageFetch(page, '/execute', {
    method: 'POST',
    body: { system: 'local', object_type: 'group', action: 'read', object_id: 'admins', params: {} },
  });
  assert(group.status === 200, `reading group admins answered ${group.status}: ${brief(group.text)}`);
  assert(group.text.includes('"alice"'), `group admins does not list alice: ${brief(group.text)}`);
  // The group `no-csrf` was not made by the refused requests.
  const absent = await pageFetch(page, '/execute', {
    method: 'POST',
    refused: 404,
    body: { system: 'local', object_type: 'group', action: 'read', object_id: 'no-csrf', params: {} },
  });
  assert(absent.status === 404, `reading group no-csrf answered ${absent.status}, expected 404 (a refused request made it?)`);
}

/** carol signs in and starts an onboarding run; it reaches its approval. */
async function startRun() {
  signedIn('alice');
  const carol = await signIn('carol', WORKFLOWS);
  const username = `erika${Date.now().toString(36)}`;
  const res = await pageFetch(carol.page, '/workflow/start', {
    method: 'POST',
    body: { workflow_name: 'onboarding', data: { username, email: `${username}@example.org` } },
  });
  assert(res.status === 202 && res.json && res.json.id, `POST /workflow/start as carol answered ${res.status}: ${brief(res.text)}`);
  const id = res.json.id;
  const run = await poll(`run ${id} to reach WAITING`, async () => {
    const r = await runStatus(carol.page, id);
    assert(!['FAILED', 'COMPLETED', 'CANCELLED'].includes(r.status), `run ${id} is ${r.status}: ${JSON.stringify(r.error || '')}`);
    return r.status === 'WAITING' ? r : false;
  });
  assert(run.required_action && run.required_action.task_id, `run ${id} waits without a required_action.task_id: ${brief(JSON.stringify(run))}`);
  assert(Number.isInteger(run.state_version), `run ${id} has no integer state_version: ${run.state_version}`);
  assert(run.started_by === 'carol', `run ${id} says started_by ${JSON.stringify(run.started_by)}, expected "carol"`);
  state.run = { id, username, taskId: run.required_action.task_id, version: run.state_version };
  console.log(`# run ${id} (onboarding of ${username}) started by carol, task ${state.run.taskId}, version ${state.run.version}`);
}

/** bob signs in: no approve button for him, and his resume is refused (403). */
async function bobMayNotApprove() {
  assert(state.run, 'no run (start-run failed)');
  const { id, taskId } = state.run;
  const bob = await signIn('bob', WORKFLOWS);
  // The run is listed for him (everyone may read without a policy): the view has loaded it.
  await poll(`run ${id} to be listed in bob's table#runs`, async () => {
    await openView(bob.page, WORKFLOWS);
    return (await bob.page.locator(`table#runs tr.run[data-run-id=${q(id)}]`).count()) === 1;
  });
  const buttons = await bob.page.locator('#inbox button.approve').count();
  const tasks = await taskOf(bob.page, id).count();
  assert(buttons === 0, `bob's #inbox shows ${buttons} button.approve (task listed: ${tasks})`);

  const { state_version: version, required_action: action } = await runStatus(bob.page, id);
  assert(action && action.task_id === taskId, `bob sees required_action ${JSON.stringify(action)}, expected task ${taskId}`);
  const res = await pageFetch(bob.page, `/workflow/resume/${encodeURIComponent(taskId)}`, {
    method: 'POST',
    refused: 403,
    headers: { 'If-Match': String(version) },
    body: { decision: 'approve', state_version: version, idempotency_key: 'bob-1' },
  });
  assert(res.status === 403, `bob's POST /workflow/resume/${taskId} answered ${res.status}, expected 403: ${brief(res.text)}`);
  assert(/not an approver/i.test(res.text), `bob's resume was refused, but not for not being an approver: ${brief(res.text)}`);
  console.log(`# bob's resume: ${res.status} ${brief(res.text)}`);
  const after = await runStatus(bob.page, id);
  assert(after.status === 'WAITING', `after bob's refused approve the run is ${after.status}`);
}

/** alice sees the task with its buttons, approves it in the page, and the run completes. */
async function aliceApproves() {
  assert(state.run, 'no run (start-run failed)');
  const { id } = state.run;
  const { page } = signedIn('alice');
  const task = taskOf(page, id);
  await poll(`the task of run ${id} in alice's #inbox`, async () => {
    await openView(page, WORKFLOWS);
    return (await task.count()) === 1;
  });
  assert((await task.locator('button.approve').count()) === 1, `the task of run ${id} has no button.approve for alice`);
  assert((await task.locator('button.reject').count()) === 1, `the task of run ${id} has no button.reject for alice`);
  const banner = ((await page.locator('#auth-banner').textContent()) || '').replace(/\s+/g, ' ').trim();
  assert(banner.includes('signed in as alice'), `#auth-banner says ${JSON.stringify(banner)}`);
  await screenshot(page, 'workflows-signed-in');
  await task.locator('button.approve').click();
  await task.waitFor({ state: 'detached', timeout: WAIT_MS }).catch(async () => {
    throw new CheckError(`the task of run ${id} is still in #inbox ${WAIT_MS} ms after approve; #error: ${JSON.stringify(await errorText(page))}`);
  });
  const error = await errorText(page);
  assert(!error, `after approve #error shows "${error}"`);
  const run = await poll(`GET /workflow/status/${id} to say COMPLETED`, async () => {
    const r = await runStatus(page, id);
    assert(!['FAILED', 'CANCELLED', 'REJECTED'].includes(r.status), `run ${id} is ${r.status}: ${JSON.stringify(r.error || '')}`);
    return r.status === 'COMPLETED' ? r : false;
  });
  const timeline = JSON.stringify(run.timeline || []);
  assert(timeline.includes('alice'), `the run's timeline does not name alice as the approver: ${brief(timeline)}`);
  await poll('the run row to say COMPLETED', async () => {
    await openView(page, WORKFLOWS);
    return (await page.locator(`table#runs tr.run[data-run-id=${q(id)}]`).getAttribute('data-status', { timeout: 1000 })) === 'COMPLETED';
  });
}

/**
 * Why carol starts the run: alice may not decide a run she started herself (the approval has
 * no allow_initiator): no task in her inbox, and her resume is 403.
 */
async function initiatorMayNotDecide() {
  const { page } = signedIn('alice');
  const username = `frieda${Date.now().toString(36)}`;
  const res = await pageFetch(page, '/workflow/start', {
    method: 'POST',
    body: { workflow_name: 'onboarding', data: { username, email: `${username}@example.org` } },
  });
  assert(res.status === 202 && res.json && res.json.id, `POST /workflow/start as alice answered ${res.status}: ${brief(res.text)}`);
  const id = res.json.id;
  const run = await poll(`run ${id} to reach WAITING`, async () => {
    const r = await runStatus(page, id);
    return r.status === 'WAITING' ? r : false;
  });
  await openView(page, WORKFLOWS);
  assert((await page.locator(`table#runs tr.run[data-run-id=${q(id)}]`).count()) === 1, `run ${id} is not in alice's table#runs`);
  assert((await taskOf(page, id).locator('button.approve').count()) === 0, `alice's #inbox offers to approve the run ${id} she started`);
  const taskId = run.required_action.task_id;
  const version = run.state_version;
  const resume = await pageFetch(page, `/workflow/resume/${encodeURIComponent(taskId)}`, {
    method: 'POST',
    refused: 403,
    headers: { 'If-Match': String(version) },
    body: { decision: 'approve', state_version: version, idempotency_key: 'alice-own-1' },
  });
  assert(resume.status === 403, `alice's resume of her own run answered ${resume.status}, expected 403: ${brief(resume.text)}`);
  assert(/started this run/i.test(resume.text), `alice's resume was refused, but not by the initiator rule: ${brief(resume.text)}`);
  console.log(`# alice's resume of her own run ${id}: ${resume.status} ${brief(resume.text)}`);
}

/** alice signs out: the session is gone (server-side too) and the views send her to sign in. */
async function logout() {
  const alice = signedIn('alice');
  const { page, context } = alice;
  await openView(page, WORKFLOWS);
  const before = (await context.cookies(BASE_URL)).find((c) => c.name === SESSION_COOKIE);
  assert(before, `no ${SESSION_COOKIE} cookie before signing out`);
  await page.locator('#logout').click();
  await waitForUrl(page, (url) => `${url.origin}${url.pathname}` === `${ISSUER}/auth`, "the page after #logout to be the issuer's sign-in page");
  await page.locator('#as-alice').waitFor({ state: 'attached' });
  alice.signedIn = false;
  const after = (await context.cookies(BASE_URL)).find((c) => c.name === SESSION_COOKIE);
  assert(!after || !after.value, `${SESSION_COOKIE} is still set after signing out`);
  // Opening a view again goes to sign in.
  await page.goto(`${BASE_URL}/console/live`, { waitUntil: 'domcontentloaded' });
  const at = new URL(page.url());
  assert(`${at.origin}${at.pathname}` === `${ISSUER}/auth`, `/console/live after signing out ended at ${page.url()}`);
  assert((await page.locator('#as-alice').count()) === 1, 'the issuer page after signing out has no #as-alice');
  // The old session id is worth nothing now.
  const cookie = `${SESSION_COOKIE}=${before.value}`;
  const view = await http('/console/live', { redirect: 'manual', headers: { Cookie: cookie } });
  assert(view.status === 303 && (view.headers.get('location') || '').startsWith('/console/auth/login'), `/console/live with the old session cookie answered ${view.status} to ${view.headers.get('location')}`);
  const data = await http('/console/api/topics', { headers: { Cookie: cookie } });
  assert(data.status === 401, `/console/api/topics with the old session cookie answered ${data.status}, expected 401`);
  // The others are still signed in.
  const bob = signedIn('bob');
  const mine = await pageFetch(bob.page, '/console/api/topics');
  assert(mine.status === 200, `bob's session answered ${mine.status} after alice signed out`);
}

// ---------------------------------------------------------------------------------------

// In order, as they build on each other; each prints as its name in kebab-case
// (`signInAlice`: `sign-in-alice`).
const CHECKS = [
  setup, unauthenticated, loginRedirect, signInAlice, seed, startRun, bobMayNotApprove, aliceApproves,
  initiatorMayNotDecide, logout, noDialogs(state.dialogs), // last: a dialog anywhere fails the run
];

runChecks(CHECKS, {
  watchdogMinutes: 5,
  // This run's failure screenshots only.
  prepare: async () => {
    for (const file of await readdir(ARTIFACTS)) {
      if (/^fail-auth-.*\.png$/.test(file)) await rm(path.join(ARTIFACTS, file), { force: true });
    }
  },
  header: (version) => `# ${BASE_URL} with issuer ${ISSUER}, Chromium ${version}, artifacts in ${ARTIFACTS}`,
  run: runCheck,
});
