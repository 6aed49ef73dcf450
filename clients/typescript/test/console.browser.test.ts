// The integrations console in headless Chromium (Debian's `chromium`), driven by
// playwright-core: connect Fortnox and Visma through the sandbox's consent pages, come back to
// the console, which confirms the consent (POST /api/integrations/{id}/confirm), start a sync,
// see its job reach 100 %. Screenshots go to SCREENSHOT_DIR (target/frontend/screenshots).

import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, test } from "node:test";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { createIntegrationsClient, memoryStore } from "../src/index.js";
import { API_URL, newTenant, seedAtProvider, tokenFor } from "./support.js";

const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const SHOTS = resolve(process.env.SCREENSHOT_DIR ?? "../../target/frontend/screenshots");
// Without the background-networking switches Chromium phones home and, on a closed network,
// its connections are refused; a fresh profile keeps runs independent.
const ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

let profile = "";
let context: BrowserContext;
let page: Page;
const pageErrors: string[] = [];

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  profile = mkdtempSync(join(tmpdir(), "console-chromium-"));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 1200, height: 900 },
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(30_000);
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  page.on("console", (m) => {
    if (m.type() === "error") pageErrors.push(`${m.text()} (${m.location().url})`);
  });
  // Browsers ask every origin for /favicon.ico; the sandbox has none.
  page.on("response", (r) => {
    if (r.status() >= 400 && !r.url().endsWith("/favicon.ico")) pageErrors.push(`${r.status()} ${r.url()}`);
  });
});

after(async () => {
  await context?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

const shot = (name: string) => page.screenshot({ path: join(SHOTS, name), fullPage: true });

let sandboxPage = "";

async function connectThroughSandbox(provider: "fortnox" | "visma", consentShot: string) {
  await page.click(`[data-testid=connect-${provider}]`);
  // The provider's consent page (the sandbox), a page of another origin.
  const approve = page.locator('button[name=decision][value=approve]');
  await approve.waitFor();
  assert.ok(!page.url().startsWith(API_URL), `on the provider's page, not ours: ${page.url()}`);
  assert.match(page.url(), new RegExp(`/${provider}/`));
  sandboxPage = page.url();
  await shot(consentShot);
  await approve.click();
  // Back on the console, which confirms the consent it started.
  await page.waitForURL((u) => u.pathname === "/dev/console" && !u.searchParams.has("confirmation"));
  await page.locator(`tr[data-provider=${provider}][data-status=connected]`).waitFor();
  assert.match((await page.locator("#banner").textContent()) ?? "", /connected/);
}

test("connect Fortnox and Visma through the consent pages, sync, see the job reach 100 %, disconnect", async () => {
  const tenant = newTenant("browser");
  await page.goto(`${API_URL}/dev/console?tenant=${tenant}`);
  await page.getByText("No integrations yet").waitFor();
  await shot("01-console-empty.png");

  await connectThroughSandbox("fortnox", "02-fortnox-consent-page.png");
  await shot("03-fortnox-connected.png");
  await connectThroughSandbox("visma", "04-visma-consent-page.png");
  await page.locator("tr[data-integration-id]").nth(1).waitFor();
  await shot("05-both-connected.png");

  // What the API says, not only the page: both connected, companies named.
  const client = createIntegrationsClient({ baseUrl: API_URL, token: await tokenFor(tenant), consentStore: memoryStore() });
  const integrations = await client.listIntegrations();
  assert.deepEqual(integrations.map((i) => [i.provider, i.status]).sort(), [["fortnox", "connected"], ["visma", "connected"]]);
  assert.ok(integrations.every((i) => i.company_name), "companies named");
  const fortnox = integrations.find((i) => i.provider === "fortnox");
  assert.ok(fortnox);

  // The app stores some customers (an export job of its own), someone adds customers in
  // Fortnox, then the person syncs: the new ones come into the feed.
  await seedAtProvider(sandboxPage, "fortnox", 5);
  const now = new Date().toISOString();
  const customers = Array.from({ length: 15 }, (_, i) => ({ id: `browser-cust-${i}`, name: `Webbkund ${i} Bygg AB`, currency: "SEK", updated_at: now }));
  const up = await client.upsertRecords(fortnox.id, "customers", customers);
  assert.ok(up.job_id);
  await page.locator(`tr[data-provider=fortnox] button[data-action=sync]`).click();
  await page.locator("#banner", { hasText: "Sync finished" }).waitFor({ timeout: 60_000 });
  const card = page.locator(`[data-card="${fortnox.id}"]`);
  await card.locator('tr[data-job-id][data-state=succeeded][data-percent="100"]').nth(1).waitFor();
  await card.locator(".feed tbody tr[data-seq]").first().waitFor();
  await page.waitForFunction(() => !document.querySelector('tr[data-job-id]:not([data-percent="100"])'));
  await shot("06-sync-reached-100.png");

  // Fortnox's stream turns the changes at Fortnox (ours read back among them) into targeted
  // pulls of a second or two each: let them end before counting.
  let jobs = await client.listJobs(fortnox.id);
  for (let i = 0; i < 150 && jobs.some((j) => j.state === "queued" || j.state === "running"); i++) {
    await new Promise((r) => setTimeout(r, 200));
    jobs = await client.listJobs(fortnox.id);
  }
  await page.waitForFunction(() => !document.querySelector('tr[data-job-id]:not([data-percent="100"])'));
  const rows = await card.locator("tr[data-job-id]").evaluateAll((trs) => trs.map((tr) => [(tr as HTMLElement).dataset.state, (tr as HTMLElement).dataset.percent]));
  assert.ok(rows.length >= 2, `jobs shown: ${JSON.stringify(rows)}`);
  assert.ok(rows.every(([s, p]) => s === "succeeded" && p === "100"), JSON.stringify(rows));
  assert.ok(jobs.length >= 2 && jobs.every((j) => j.state === "succeeded"), JSON.stringify(jobs.map((j) => [j.trigger, j.state, j.last_error])));
  assert.equal(jobs.find((j) => j.id === up.job_id)?.progress.done, 15);
  assert.ok((await card.locator(".feed tbody tr[data-seq]").count()) >= 5, "the feed shows the new customers");

  // Disconnect Visma from the console: revoked at the provider, tokens gone, shown as such.
  const visma = integrations.find((i) => i.provider === "visma");
  assert.ok(visma);
  await page.locator(`tr[data-provider=visma] button[data-action=disconnect]`).click();
  await page.locator(`tr[data-provider=visma][data-status=disconnected]`).waitFor();
  await page.locator("#banner", { hasText: "Disconnected" }).waitFor();
  await shot("07-visma-disconnected.png");
  assert.equal((await client.getIntegration(visma.id)).status, "disconnected");
  assert.equal((await client.getIntegration(fortnox.id)).status, "connected");

  assert.deepEqual(pageErrors.filter((e) => !e.includes("/favicon.ico")), [], "no script errors or failed requests");
});
