#!/usr/bin/env node
// dashboard.mjs — the browser test of the broker's dashboard (issue 5,
// must-show 5). Started by tests/it_dashboard.c against a real broker and
// real agents; runs on its own against any dashboard too:
//
//   node tests/browser/dashboard.mjs --dashboard http://127.0.0.1:8570/ \
//        --agent http://127.0.0.1:7001 --token-file a.token --to kela \
//        --client 0123456789abcdef0123456789abcdef --sla-ms 2000 \
//        --screenshot build/dashboard.png [--timeout-ms 60000]
//
// (each option may also come from the environment: POLKU_DASH_URL,
// POLKU_AGENT_URL, POLKU_AGENT_TOKEN_FILE or POLKU_AGENT_TOKEN, POLKU_TO,
// POLKU_CLIENT_KEY, POLKU_SLA_MS, POLKU_SCREENSHOT, POLKU_TIMEOUT_MS).
//
// Headless Debian Chromium (/usr/bin/chromium, or $POLKU_CHROMIUM) driven
// by playwright-core; no browser is downloaded. Steps:
//   1. open the dashboard; the tiles are shown, the feed state is "live";
//   2. create a referral through the agent's API (the receiver is down, so
//      it stays `requested`);
//   3. its row appears without a reload, brought by a feed event;
//   4. once its SLA has passed its overdue flag turns true (not before),
//      and an alert names it;
//   5. the page text holds no identity code; a screenshot is saved.
// Exits 0 on success; 1 with a message naming the failed step otherwise
// (a screenshot of the failing page is still written when possible).
import { mkdtempSync, readFileSync, rmSync, existsSync, statSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { parseArgs } from "node:util";

const HETU = /\d{6}[-+A-FU-Y]\d{3}[0-9A-Y]/;
const t0 = Date.now();

function log(msg) {
  console.log(`[dashboard ${((Date.now() - t0) / 1000).toFixed(1)}s] ${msg}`);
}

class Failure extends Error {}
function fail(msg) {
  throw new Failure(msg);
}

function options() {
  const { values } = parseArgs({
    options: {
      dashboard: { type: "string" },
      agent: { type: "string" },
      "token-file": { type: "string" },
      to: { type: "string" },
      client: { type: "string" },
      display: { type: "string" },
      "sla-ms": { type: "string" },
      screenshot: { type: "string" },
      "timeout-ms": { type: "string" },
    },
    strict: true,
  });
  const env = process.env;
  const o = {
    dashboard: values.dashboard ?? env.POLKU_DASH_URL,
    agent: values.agent ?? env.POLKU_AGENT_URL,
    tokenFile: values["token-file"] ?? env.POLKU_AGENT_TOKEN_FILE,
    token: env.POLKU_AGENT_TOKEN,
    to: values.to ?? env.POLKU_TO,
    client: values.client ?? env.POLKU_CLIENT_KEY,
    display: values.display ?? env.POLKU_DISPLAY_NAME,
    slaMs: Number(values["sla-ms"] ?? env.POLKU_SLA_MS ?? 2000),
    screenshot: values.screenshot ?? env.POLKU_SCREENSHOT,
    timeoutMs: Number(values["timeout-ms"] ?? env.POLKU_TIMEOUT_MS ?? 60000),
    chromium: env.POLKU_CHROMIUM || "/usr/bin/chromium",
  };
  const missing = ["dashboard", "agent", "to", "client", "display", "screenshot"].filter((k) => !o[k]);
  if (!o.tokenFile && !o.token) missing.push("token-file");
  if (missing.length) fail(`usage: missing --${missing.join(", --")}`);
  if (!/^[0-9a-f]{32}$/.test(o.client)) fail(`--client must be 32 lowercase hex, got ${o.client}`);
  if (!/^[0-9a-f]{32}$/.test(o.display)) fail(`--display must be 32 lowercase hex, got ${o.display}`);
  if (!(o.slaMs > 0) || !(o.timeoutMs > 0)) fail("--sla-ms and --timeout-ms must be positive numbers");
  if (!o.token) o.token = readFileSync(o.tokenFile, "utf8").trim();
  if (!o.dashboard.endsWith("/")) o.dashboard += "/";
  return o;
}

async function loadPlaywright() {
  try {
    return await import("playwright-core");
  } catch (e) {
    fail(`cannot load playwright-core (${e.message}); run scripts/bootstrap (npm ci at the repository root)`);
  }
}

async function createReferral(o) {
  const body = { client: { key: o.client }, to: o.to, reason: "x", urgency: "routine" };
  let r;
  try {
    r = await fetch(new URL("/v1/referrals", o.agent), {
      method: "POST",
      headers: { Authorization: `Bearer ${o.token}`, "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
  } catch (e) {
    fail(`POST ${o.agent}/v1/referrals: ${e.cause?.message ?? e.message}`);
  }
  const text = await r.text();
  if (r.status !== 201) fail(`POST /v1/referrals answered HTTP ${r.status}: ${text}`);
  let j;
  try {
    j = JSON.parse(text);
  } catch {
    fail(`POST /v1/referrals: not JSON: ${text}`);
  }
  if (typeof j.id !== "string" || !j.id) fail(`POST /v1/referrals: no id in ${text}`);
  return j;
}

/* Polls fn (async, returns a truthy value when done) every 100 ms until
 * deadline; fails naming what it waited for, with describe()'s state. */
async function waitFor(what, deadline, fn, describe) {
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) {
      const state = describe ? await describe().catch((e) => `(state unavailable: ${e.message})`) : "";
      fail(`timed out waiting for ${what}${state ? `\n  page state: ${state}` : ""}`);
    }
    await new Promise((res) => setTimeout(res, 100));
  }
}

async function pageState(page) {
  return page.evaluate(() => {
    const b = document.body;
    const conn = document.querySelector('[data-testid="connection"]');
    const rows = [...document.querySelectorAll("#items tr")].map(
      (r) => `${r.dataset.testid}(status=${r.dataset.status},overdue=${r.dataset.overdue},first=${r.dataset.firstSeen})`);
    const alerts = [...document.querySelectorAll("#alerts li")].map((a) => a.dataset.testid);
    const events = [...document.querySelectorAll("#events li")].map((e) => e.dataset.topic);
    const err = document.querySelector('[data-testid="fetch-error"]');
    return JSON.stringify({
      connection: conn && conn.dataset.state,
      refreshes: b.dataset.refreshCount,
      lastCause: b.dataset.lastRefreshCause,
      fetchError: err && !err.hidden ? err.textContent : null,
      rows, alerts, events,
    });
  });
}

async function main(o) {
  const deadline = t0 + o.timeoutMs;
  if (!existsSync(o.chromium))
    fail(`no Chromium at ${o.chromium}: run scripts/bootstrap (Debian package chromium)`);
  const { chromium } = await loadPlaywright();

  mkdirSync(dirname(o.screenshot), { recursive: true });
  const profile = mkdtempSync(join(tmpdir(), "polku-chromium-"));
  let context = null, page = null;
  const problems = []; // console errors, page errors, outside requests
  const dashOrigin = new URL(o.dashboard).origin;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: o.chromium,
      headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
             "--disable-dev-shm-usage"],
      viewport: { width: 1360, height: 900 },
      timeout: Math.max(5000, deadline - Date.now()),
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(Math.max(1000, deadline - Date.now()));
    page.on("console", (m) => { if (m.type() === "error") problems.push(`console: ${m.text()}`); });
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    // Nothing may be fetched from anywhere but the broker.
    await context.route("**/*", (route) => {
      const url = route.request().url();
      if (url.startsWith(dashOrigin + "/") || url === dashOrigin || url.startsWith("data:")) return route.continue();
      problems.push(`request outside the broker: ${url}`);
      return route.abort();
    });
    // A reload would lose this mark (the page rewrites its own address with
    // history.replaceState, which is no reload, so navigations are not
    // counted).
    let loads = 0;
    page.on("load", () => { loads++; });
    const reloaded = async () => loads !== 1 ||
      !(await page.evaluate(() => window.__polkuNoReload === true));

    // 1. Load. A long periodic refresh: only feed events may bring the row.
    const url = new URL("?refresh=3600", o.dashboard).toString();
    log(`opening ${url} in ${o.chromium}`);
    const resp = await page.goto(url, { waitUntil: "load" });
    if (!resp || resp.status() !== 200) fail(`GET ${url} answered HTTP ${resp ? resp.status() : "nothing"}`);
    await page.evaluate(() => { window.__polkuNoReload = true; });
    const st = (p) => pageState(p);
    for (const t of ["tile-pending", "tile-overdue", "tile-handovers", "tile-alerts"]) {
      await page.locator(`[data-testid="${t}"]`).waitFor({ state: "visible", timeout: Math.max(1000, deadline - Date.now()) })
        .catch(() => fail(`tile ${t} is not visible`));
    }
    await waitFor("the feed connection to be live and the first data fetched", deadline, () =>
      page.evaluate(() =>
        document.querySelector('[data-testid="connection"]').dataset.state === "live" &&
        Number(document.body.dataset.refreshCount) >= 2 &&
        document.querySelector('[data-testid="tile-pending-value"]').textContent !== "–"),
      () => st(page));
    log(`dashboard loaded, feed live: ${await st(page)}`);

    // 2. A referral through the agent's API.
    const before = Number(await page.evaluate(() => document.body.dataset.refreshCount));
    const created = await createReferral(o);
    const createdAt = Date.now();
    const rowSel = `[data-testid="referral-${created.id}"]`;
    log(`referral ${created.id} created at ${o.agent} to ${o.to} (status ${created.status})`);

    // 3. Its row appears live, brought by a feed event, without a reload.
    await waitFor(`row ${rowSel} to appear (live, no reload)`, deadline,
      async () => (await page.locator(rowSel).count()) > 0, () => st(page));
    const seenAt = Date.now();
    const row = await page.locator(rowSel).evaluate((r) => ({ ...r.dataset, text: r.innerText }));
    log(`row appeared after ${seenAt - createdAt} ms: ${JSON.stringify(row)}`);
    if (await reloaded()) fail(`the page was reloaded (${loads} loads)`);
    if (row.firstSeen !== "event")
      fail(`the row was brought by a "${row.firstSeen}" refresh, not by a feed event`);
    const after = Number(await page.evaluate(() => document.body.dataset.refreshCount));
    if (!(after > before)) fail("the row appeared without a refresh?");
    if (row.status !== "requested" && row.status !== "received")
      fail(`the new referral's row shows status ${row.status}`);
    if (row.overdue === "true" && seenAt - createdAt < o.slaMs - 500)
      fail(`the row was overdue ${seenAt - createdAt} ms after creation, before its SLA (${o.slaMs} ms)`);
    if (row.to !== o.to) fail(`the row's receiver is ${row.to}, not ${o.to}: ${row.text}`);
    // The broker names the client by its display pseudonym, never by the
    // client key the agent was given (docs/privacy.md).
    if (row.text.includes(o.display)) fail("the row shows the whole display pseudonym (should be shortened)");
    if (!row.text.includes(o.display.slice(0, 8))) fail(`the row does not show the shortened display pseudonym ${o.display.slice(0, 8)}`);
    if (row.clientKey !== o.display) fail(`the row names client ${row.clientKey}, not the display pseudonym ${o.display}`);
    if (row.text.includes(o.client.slice(0, 8))) fail(`the row shows the client key's prefix ${o.client.slice(0, 8)}`);

    // 4. After the SLA: overdue, on the row's overdue cell and in an alert.
    const cellSel = `${rowSel} [data-col="overdue"]`;
    await waitFor(`the overdue flag of ${rowSel} to turn true (SLA ${o.slaMs} ms)`, deadline,
      async () => (await page.locator(cellSel).getAttribute("data-overdue").catch(() => null)) === "true",
      () => st(page));
    const overdueAt = Date.now();
    log(`overdue after ${overdueAt - createdAt} ms`);
    if (overdueAt - createdAt < o.slaMs - 500)
      fail(`overdue after ${overdueAt - createdAt} ms, before the SLA of ${o.slaMs} ms`);
    if (await reloaded()) fail(`the page was reloaded (${loads} loads)`);
    await waitFor(`an alert about referral ${created.id}`, deadline,
      async () => (await page.locator(`#alerts li[data-subject-id="${created.id}"]`).count()) > 0,
      () => st(page));
    await waitFor("the overdue tile to count at least 1", deadline,
      () => page.evaluate(() => Number(document.querySelector('[data-testid="tile-overdue-value"]').textContent) >= 1),
      () => st(page));
    const conn = await page.locator('[data-testid="connection"]').getAttribute("data-state");
    if (conn !== "live") fail(`the feed connection is ${conn} at the end, not live`);

    // 5. No identity code anywhere in the page's text; no errors.
    const text = await page.evaluate(() => document.body.innerText);
    const html = await page.content();
    if (html.includes(o.client)) fail(`the page holds the client key ${o.client}`);
    const m = text.match(HETU);
    if (m) fail(`the page text holds something shaped like an identity code: ${m[0]}`);
    if (problems.length) fail(`the page reported problems:\n  ${problems.join("\n  ")}`);

    await page.screenshot({ path: o.screenshot, fullPage: true });
    const size = statSync(o.screenshot).size;
    log(`screenshot ${o.screenshot} (${size} bytes)`);
    log(`final state: ${await st(page)}`);
    console.log("dashboard: OK");
  } catch (e) {
    if (page) {
      await page.screenshot({ path: o.screenshot, fullPage: true, timeout: 5000 })
        .then(() => console.error(`dashboard: screenshot of the failing page: ${o.screenshot}`))
        .catch(() => {});
    }
    if (problems.length) console.error(`dashboard: page problems:\n  ${problems.join("\n  ")}`);
    throw e;
  } finally {
    if (context) await context.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  }
}

// The whole run is bounded even if something hangs inside the browser.
let bound = null;
function finish(e) {
  clearTimeout(bound);
  if (!e) process.exit(0);
  console.error(`dashboard: FAILED: ${e instanceof Failure ? e.message : e.stack || e}`);
  process.exit(1);
}
try {
  const o = options();
  const guard = new Promise((_, reject) => {
    bound = setTimeout(() => reject(new Failure(`no result within ${o.timeoutMs + 15000} ms`)),
                       o.timeoutMs + 15000);
  });
  Promise.race([main(o), guard]).then(() => finish(null), finish);
} catch (e) {
  finish(e);
}
