// The client against a running devstack (node's test runner; `scripts/frontend.sh` starts the
// devstack and sets API_URL). Each test uses a tenant of its own.

import assert from "node:assert/strict";
import { test } from "node:test";
import {
  ApiError,
  ConsentError,
  createIntegrationsClient,
  GatewayError,
  type JobProgress,
  memoryStore,
  ProblemError,
  readConsentReturn,
} from "../src/index.js";
import { answerConsent, API_URL, newTenant, seedAtProvider, tokenFor } from "./support.js";

const RETURN_URL = `${API_URL}/dev/return`;

async function clientFor(tenant: string, user?: string) {
  return createIntegrationsClient({ baseUrl: API_URL, token: await tokenFor(tenant, user), consentStore: memoryStore() });
}

test("bad input is a typed ProblemError naming the field, and changes nothing", async () => {
  const client = await clientFor(newTenant("ts-problem"));
  await assert.rejects(client.createIntegration("quickbooks" as never), (e: unknown) => {
    assert.ok(e instanceof ProblemError, `ProblemError expected, got ${String(e)}`);
    assert.equal(e.status, 400);
    assert.equal(e.kind, "invalid-field");
    assert.equal(e.field, "provider");
    assert.match(e.detail, /fortnox|visma/);
    return true;
  });
  assert.deepEqual(await client.listIntegrations(), []);
  await assert.rejects(client.getIntegration("no-such-integration"), (e: unknown) => e instanceof ProblemError && e.status === 404 && e.kind === "not-found");
});

test("a missing or wrong JWT is a GatewayError 401", async () => {
  const client = createIntegrationsClient({ baseUrl: API_URL, token: "not-a-jwt" });
  await assert.rejects(client.listIntegrations(), (e: unknown) => e instanceof GatewayError && e instanceof ApiError && e.status === 401);
});

test("connect → consent → return → confirm connects, and the company is named", async () => {
  const tenant = newTenant("ts-consent");
  const client = await clientFor(tenant);
  const start = await client.startConsent({ provider: "fortnox" }, RETURN_URL);
  assert.equal(start.provider, "fortnox");
  assert.equal((await client.getIntegration(start.integration_id)).status, "pending");
  const back = await answerConsent(start.authorization_url, true);
  assert.ok(back.startsWith(RETURN_URL), back);
  const outcome = readConsentReturn(back);
  assert.equal(outcome?.status, "confirm");
  // The callback connected nothing by itself.
  assert.equal((await client.getIntegration(start.integration_id)).status, "pending");
  const connected = await client.completeConsent(back);
  assert.equal(connected?.status, "connected");
  assert.ok(connected?.company_name, "company named");
  assert.equal((await client.getIntegration(start.integration_id)).status, "connected");
  // The confirmation is spent: posting it again is refused, naming the field.
  if (outcome?.status === "confirm") {
    await assert.rejects(client.confirm(start.integration_id, outcome.confirmation), (e: unknown) => e instanceof ProblemError && e.status === 400 && e.field === "confirmation");
  }
});

test("a return this browser did not start posts nothing; another person's confirmation connects nothing", async () => {
  const tenant = newTenant("ts-csrf");
  const starter = await clientFor(tenant);
  const start = await starter.startConsent({ provider: "visma" }, RETURN_URL);
  const back = await answerConsent(start.authorization_url, true);
  // Another browser (its own consent store), even with a session of the same tenant.
  const elsewhere = await clientFor(tenant);
  await assert.rejects(elsewhere.completeConsent(back), (e: unknown) => e instanceof ConsentError && e.code === "not_started_here");
  // Another person of the tenant posting the confirmation directly is refused by the API.
  const colleague = await clientFor(tenant, "someone-else");
  const outcome = readConsentReturn(back);
  assert.equal(outcome?.status, "confirm");
  if (outcome?.status === "confirm") {
    await assert.rejects(colleague.confirm(start.integration_id, outcome.confirmation), (e: unknown) => e instanceof ProblemError && e.field === "confirmation");
  }
  assert.equal((await starter.getIntegration(start.integration_id)).status, "pending");
  // The starter still can.
  assert.equal((await starter.completeConsent(back))?.status, "connected");
});

test("a denied consent is a ConsentError access_denied", async () => {
  const client = await clientFor(newTenant("ts-deny"));
  const start = await client.startConsent({ provider: "fortnox" }, RETURN_URL);
  const back = await answerConsent(start.authorization_url, false);
  await assert.rejects(client.completeConsent(back), (e: unknown) => e instanceof ConsentError && e.code === "access_denied" && e.integrationId === start.integration_id);
  assert.equal((await client.getIntegration(start.integration_id)).status, "pending");
});

test("records export in a job followed to 100 %, a pull fills the feed, read with its cursor", async () => {
  const tenant = newTenant("ts-sync");
  const client = await clientFor(tenant);
  const start = await client.startConsent({ provider: "fortnox" }, RETURN_URL);
  const id = (await client.completeConsent(await answerConsent(start.authorization_url, true)))?.id ?? "";
  assert.ok(id);
  const now = new Date().toISOString();
  const tag = tenant.slice(-6);
  const customers = Array.from({ length: 12 }, (_, i) => ({
    id: `ts-cust-${i}`,
    name: `Klientkund ${tag} ${i} AB`,
    email: `kund${i}@example.se`,
    currency: "SEK",
    is_private_person: false,
    active: true,
    updated_at: now,
  }));
  const up = await client.upsertRecords(id, "customers", customers, `key-${tenant}`);
  assert.equal(up.accepted, 12);
  assert.ok(up.job_id);
  const seen: JobProgress[] = [];
  const job = await client.followJob(id, up.job_id ?? "", { intervalMs: 200, onProgress: (p) => seen.push(p) });
  assert.equal(job.state, "succeeded", JSON.stringify(job.last_error));
  assert.equal(job.progress.done, 12);
  assert.equal(seen.at(-1)?.percent, 100);
  assert.ok(seen.slice(0, -1).every((p) => p.percent === undefined), "no percentage before the end: the API knows no total");
  // The same Idempotency-Key answers the first answer again.
  assert.deepEqual(await client.upsertRecords(id, "customers", customers, `key-${tenant}`), up);

  // Someone adds customers in Fortnox; a pull brings them into the feed (our own exports are
  // not echoed back).
  const seeded = await seedAtProvider(start.authorization_url, "fortnox", 7);
  const sync = await client.startSync(id, { direction: "pull", entities: ["customers"], mode: "full" });
  assert.equal(sync.job_ids.length, 1);
  const pulled = await client.followJob(id, sync.job_ids[0] ?? "", { intervalMs: 200 });
  assert.equal(pulled.state, "succeeded", JSON.stringify(pulled.last_error));

  const cursors: number[] = [];
  const entries = [];
  for await (const e of client.feed(id, "customers", { limit: 5, onCursor: (c) => void cursors.push(c) })) entries.push(e);
  const remote = new Set(entries.map((e) => e.remote_id));
  assert.ok(seeded.every((r) => remote.has(r)), `every customer added at the provider is in the feed: ${seeded} in ${[...remote]}`);
  assert.ok(entries.every((e) => e.entity === "customers" && e.op === "upsert" && e.record !== null));
  assert.deepEqual([...cursors].sort((a, b) => a - b), cursors, "cursors only grow");
  assert.ok(cursors.length >= 2, "paged by 5");
  assert.deepEqual(entries.map((e) => e.seq), [...entries.map((e) => e.seq)].sort((a, b) => a - b), "oldest first");
  const last = cursors.at(-1) ?? 0;
  const more = [];
  for await (const e of client.feed(id, "customers", { after: last })) more.push(e);
  assert.equal(more.length, 0, "nothing after the kept cursor");
  // The feed of several entities in one request: the same entries, the same cursor.
  const across = [];
  for await (const e of client.feed(id, ["customers", "invoices"], { limit: 5 })) across.push(e);
  assert.deepEqual(across.map((e) => e.seq), entries.map((e) => e.seq), "the same entries in the same order");
  assert.equal((await client.feedPage(id, [], last)).records.length, 0, "all entities: nothing after the kept cursor");
});
