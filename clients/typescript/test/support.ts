// Shared by the tests: where the devstack is, dev tokens, and a "browser" that answers the
// sandbox's consent page the way a person would (for the tests that run without Chromium).

import assert from "node:assert/strict";

/** The devstack's base URL (`scripts/frontend.sh` sets it). */
export const API_URL = (process.env.API_URL ?? "").replace(/\/+$/, "");
if (!API_URL) throw new Error("API_URL is not set: run these tests through scripts/frontend.sh (make test) against a devstack");

/** A fresh tenant id for one test. */
export function newTenant(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

/** A dev JWT from the devstack for `tenant` (and `user`, default `user-of-<tenant>`). */
export async function tokenFor(tenant: string, user?: string): Promise<string> {
  const q = new URLSearchParams({ tenant, ...(user ? { user } : {}) });
  const r = await fetch(`${API_URL}/dev/token?${q}`);
  assert.equal(r.status, 200, `/dev/token answered ${r.status}`);
  return ((await r.json()) as { token: string }).token;
}

const unescape = (s: string) =>
  s.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");

/**
 * Opens `authorizationUrl` (the sandbox's consent page), approves or denies with the
 * preselected company, follows the provider's redirect to our callback, and gives the URL the
 * callback sends the browser back to (the app's return URL with the outcome).
 */
export async function answerConsent(authorizationUrl: string, approve: boolean): Promise<string> {
  const page = await fetch(authorizationUrl, { redirect: "manual" });
  assert.equal(page.status, 200, `consent page answered ${page.status}`);
  const html = await page.text();
  const action = unescape(/<form method="post" action="([^"]*)"/.exec(html)?.[1] ?? "");
  const consentId = unescape(/name="consent_id" value="([^"]*)"/.exec(html)?.[1] ?? "");
  const company = unescape(/<option value="([^"]*)" selected>/.exec(html)?.[1] ?? "");
  assert.ok(action && consentId, "the consent page has its form");
  const form = new URLSearchParams({ consent_id: consentId, decision: approve ? "approve" : "deny", company });
  const decided = await fetch(new URL(action, authorizationUrl), { method: "POST", body: form, redirect: "manual" });
  assert.equal(decided.status, 302, `consent form answered ${decided.status}`);
  const callback = decided.headers.get("location") ?? "";
  assert.match(callback, /\/api\/integrations\/callback\//);
  const back = await fetch(new URL(callback, authorizationUrl), { redirect: "manual" });
  assert.equal(back.status, 302, `callback answered ${back.status}`);
  return back.headers.get("location") ?? "";
}

/** A person adds `n` customers in the accounting system: the sandbox's seeding view, on the
 * origin of the provider's consent page. Gives their provider ids. */
export async function seedAtProvider(authorizationUrl: string, provider: "fortnox" | "visma", n: number): Promise<string[]> {
  const r = await fetch(new URL(`/_sandbox/${provider}/seed-customers`, authorizationUrl), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ n }),
  });
  assert.equal(r.status, 200, `seed-customers answered ${r.status}`);
  const ids = ((await r.json()) as { ids: unknown[] }).ids.map(String);
  assert.equal(ids.length, n);
  return ids;
}
