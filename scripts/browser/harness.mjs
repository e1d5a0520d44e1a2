// What the browser specs (console.spec.mjs, console-auth.spec.mjs) share: bounded waits, HTTP
// from Node, pages watched for errors and dialogs, a check that fails on what its pages
// reported, screenshots, and the loop that runs the checks and prints
// `ok - NAME (N ms)` or `not ok - NAME: REASON`, then `# P/N checks passed`, and exits 1 if any
// failed.
//
// Environment (read here, for both specs):
//   ARTIFACTS  screenshots and the like         (default scripts/browser/artifacts)
//   CHROMIUM   the browser                      (default /usr/bin/chromium)
//   UPDATE_DOCS_SCREENSHOTS=1  also copy the screenshots to docs/console/
import { chromium } from 'playwright-core';
import { copyFile, mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ARTIFACTS = path.resolve(process.env.ARTIFACTS || path.join(HERE, 'artifacts'));
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const DOCS_SCREENSHOTS = process.env.UPDATE_DOCS_SCREENSHOTS === '1' ? path.resolve(HERE, '../../docs/console') : null;

export const WAIT_MS = 15_000; // the longest any single wait may take
export const VIEWPORT = { width: 1280, height: 800 };

/** The URL in the environment variable `name` (else `fallback`), without a trailing slash. */
export function envUrl(name, fallback) {
  return (process.env[name] || fallback).replace(/\/+$/, '');
}

// ---------------------------------------------------------------------------------------
// Small helpers

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class CheckError extends Error {}
export function assert(condition, message) {
  if (!condition) throw new CheckError(message);
}

/** Polls `fn` until it returns a truthy value; throws `what` after `timeoutMs`. */
export async function poll(what, fn, { timeoutMs = WAIT_MS, intervalMs = 250 } = {}) {
  const deadline = Date.now() + Math.min(timeoutMs, WAIT_MS);
  let last;
  for (;;) {
    try {
      const value = await fn();
      if (value) return value;
      last = value;
    } catch (err) {
      last = err;
    }
    if (Date.now() >= deadline) {
      const detail = last instanceof Error ? `: ${last.message}` : last === undefined ? '' : `: last ${JSON.stringify(last)}`;
      throw new CheckError(`${what} (waited ${timeoutMs} ms)${detail}`);
    }
    await sleep(intervalMs);
  }
}

export function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/**
 * An HTTP client from Node (no browser, no session unless a Cookie header says so) against
 * `defaultBase`: `http(pathname, {method, body, headers, redirect, base})` resolves to
 * {status, headers, text, json}.
 */
export function httpClient(defaultBase) {
  return async function http(pathname, { method = 'GET', body, headers = {}, redirect = 'follow', base = defaultBase } = {}) {
    const res = await fetch(base + pathname, {
      method,
      redirect,
      headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, text, json: parseJson(text) };
  };
}

/** CSS attribute selector value, quoted. */
export const q = (value) => JSON.stringify(String(value));

/** The distinct problems (with how often each happened), at most 5 of them. */
export function summarize(problems) {
  const counts = new Map();
  for (const p of problems) counts.set(p, (counts.get(p) || 0) + 1);
  const distinct = [...counts].map(([p, n]) => (n > 1 ? `${p} (${n} times)` : p));
  const more = distinct.length > 5 ? `; and ${distinct.length - 5} more` : '';
  return distinct.slice(0, 5).join('; ') + more;
}

/** A failure's reason on one line-ish: no ANSI colours, no Playwright call log. */
export function reasonOf(err) {
  if (!(err instanceof Error)) return String(err);
  // eslint-disable-next-line no-control-regex
  let text = err.message.replace(/\u001b\[[0-9;]*m/g, '').replace(/\n\s*Call log:[\s\S]*?(?=; also:|$)/, '');
  if (!(err instanceof CheckError) && !/^(page|locator|frame|browser)/.test(text) && err.stack) {
    text = err.stack.split('\n').slice(0, 3).join('\n');
  }
  return text.length > 1500 ? `${text.slice(0, 1500)}…` : text;
}

// ---------------------------------------------------------------------------------------
// Browser plumbing

let browser;

/** A fresh browser context (the viewport, every wait bounded by WAIT_MS). */
export async function newContext() {
  const context = await browser.newContext({ viewport: VIEWPORT });
  context.setDefaultTimeout(WAIT_MS);
  context.setDefaultNavigationTimeout(WAIT_MS);
  return context;
}

/**
 * Watches every page of `context` (and any page passed to the function it returns): a
 * `pageerror`, a console message of type `error` (a CSP violation is one) and a dialog
 * (dismissed) go to `problems`; each dialog also to `dialogs`.
 *
 * `expectedRefusals`: {url, status} of requests made on purpose to be refused. Chromium's
 * "Failed to load resource: … status of STATUS" for exactly that URL is not a problem; each
 * entry excuses one such message and is then removed.
 */
export function watchPages(context, { problems, dialogs, expectedRefusals = [] }) {
  const watched = new WeakSet();
  const watch = (page) => {
    if (watched.has(page)) return;
    watched.add(page);
    page.on('pageerror', (err) => problems.push(`pageerror on ${page.url()}: ${err.message}`));
    page.on('console', (msg) => {
      if (msg.type() !== 'error') return;
      const where = (msg.location() && msg.location().url) || '';
      const refused = /Failed to load resource: the server responded with a status of (\d+)/.exec(msg.text());
      if (refused) {
        const i = expectedRefusals.findIndex((e) => e.url === where && e.status === Number(refused[1]));
        if (i >= 0) {
          expectedRefusals.splice(i, 1);
          return;
        }
      }
      problems.push(`console error on ${page.url()}: ${msg.text()}${where ? ` (${where})` : ''}`);
    });
    page.on('dialog', (dialog) => {
      const seen = `${page.url()}: ${dialog.type()} ${JSON.stringify(dialog.message())}`;
      problems.push(`dialog on ${seen}`);
      dialogs.push(seen);
      dialog.dismiss().catch(() => {});
    });
  };
  context.on('page', watch);
  return watch;
}

/**
 * Runs `fn`; it fails on what it throws and on any problem the pages reported meanwhile
 * (`problems()`: those reported since `fn` started). On failure `onFailure()` runs first (the
 * screenshots; $ARTIFACTS exists by then).
 */
export async function failOnProblems(fn, problems, onFailure) {
  let body = true; // false once fn has returned: then a throw is about the problems only
  try {
    await fn();
    body = false;
    // Let late errors (a failing fetch after data-ready, a CSP report) arrive.
    await sleep(200);
    const seen = problems();
    assert(seen.length === 0, summarize(seen));
  } catch (err) {
    await mkdir(ARTIFACTS, { recursive: true });
    await onFailure();
    const seen = problems();
    if (body && seen.length) err.message += `; also: ${summarize(seen)}`;
    throw err;
  }
}

/** The text of a visible #error, else "". */
export async function errorText(page) {
  const error = page.locator('#error');
  if ((await error.count()) === 0) return '';
  if (!(await error.first().isVisible())) return '';
  return ((await error.first().textContent()) || '').trim();
}

/** Waits until the view says it has its data, and shows no error. */
export async function waitReady(page, what) {
  await page.waitForSelector('body[data-ready="1"]', { state: 'attached', timeout: WAIT_MS }).catch(async () => {
    const error = await errorText(page);
    throw new CheckError(`${what}: body[data-ready="1"] did not appear within ${WAIT_MS} ms${error ? `; #error says: ${error}` : ''}`);
  });
  const error = await errorText(page);
  assert(!error, `${what}: #error shows "${error}"`);
}

/**
 * Opens a console URL (`base` + `urlPath`, a path and query) and waits until the view says it
 * has its data. `stay`: also fail when the page ended at another path (a redirect to sign in).
 */
export async function openView(page, base, urlPath, { stay = false } = {}) {
  const res = await page.goto(base + urlPath, { waitUntil: 'domcontentloaded' });
  assert(res, `no response for ${urlPath}`);
  assert(res.status() === 200, `${urlPath} answered ${res.status()}`);
  if (stay) {
    assert(new URL(page.url()).pathname === new URL(base + urlPath).pathname, `${urlPath} ended at ${page.url()} (signed out?)`);
  }
  await waitReady(page, urlPath);
}

/** A full-page screenshot $ARTIFACTS/NAME.png (with UPDATE_DOCS_SCREENSHOTS=1 also in docs/console/). */
export async function screenshot(page, name) {
  await mkdir(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  if (DOCS_SCREENSHOTS) {
    await mkdir(DOCS_SCREENSHOTS, { recursive: true });
    await copyFile(file, path.join(DOCS_SCREENSHOTS, `${name}.png`));
  }
}

// ---------------------------------------------------------------------------------------
// The run

/** The last check of a run: no page opened a dialog (`dialogs`: every dialog seen). */
export function noDialogs(dialogs) {
  return async function noDialogs() {
    assert(dialogs.length === 0, `dialogs opened: ${dialogs.join('; ')}`);
  };
}

/** A check's name: its function's name in kebab-case (`signInAlice` is `sign-in-alice`). */
export const checkName = (fn) => fn.name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/**
 * Runs the checks (async functions, each named by checkName) in order against one Chromium and
 * exits: 0 when all passed, 1 otherwise (also when the harness itself fails, or the run takes
 * over `watchdogMinutes`).
 *
 * - `prepare()`: after $ARTIFACTS is made, before the browser starts
 * - `header(version)`: the `# …` line printed once the browser runs (its version given)
 * - `select(name)`: whether to run the check (default: all)
 * - `run(name, fn)`: runs one check (default: `fn()`)
 * - `finish()`: after the browser is closed, before the count
 */
export function runChecks(checks, { watchdogMinutes, prepare = async () => {}, header, select = () => true, run = (name, fn) => fn(), finish = async () => {} }) {
  const main = async () => {
    // Nothing here may hang: the whole run is bounded too.
    const watchdog = setTimeout(() => {
      console.log(`not ok - watchdog: the run took over ${watchdogMinutes} minutes`);
      process.exit(1);
    }, watchdogMinutes * 60_000);
    watchdog.unref();

    await mkdir(ARTIFACTS, { recursive: true });
    await prepare();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'], timeout: WAIT_MS });
    console.log(header(browser.version()));
    let failed = 0;
    let ran = 0;
    try {
      for (const fn of checks) {
        const name = checkName(fn);
        if (!select(name)) continue;
        ran += 1;
        const started = Date.now();
        try {
          await run(name, fn);
          console.log(`ok - ${name} (${Date.now() - started} ms)`);
        } catch (err) {
          failed += 1;
          console.log(`not ok - ${name}: ${reasonOf(err).replace(/\n/g, '\n#   ')}`);
        }
      }
    } finally {
      await browser.close().catch(() => {});
    }
    await finish();
    console.log(`# ${ran - failed}/${ran} checks passed`);
    process.exit(failed ? 1 : 0);
  };
  main().catch((err) => {
    console.log(`not ok - harness: ${(err && err.stack) || err}`);
    process.exit(1);
  });
}
