// The integrations console (`/dev/console` on the devstack): the TypeScript client at work in
// a browser. Shows the tenant's integrations, their jobs with progress, conflicts and the
// newest change-feed entries; connects through the real consent flow and starts syncs.
// Development aid only: it gets its JWT from the devstack's `/dev/token`.

import {
  ConsentError,
  createIntegrationsClient,
  type FeedEntry,
  type Integration,
  type IntegrationsClient,
  type Job,
  type Provider,
  ProblemError,
  TERMINAL_STATES,
  withoutConsentParams,
} from "../src/index.js";

const params = new URLSearchParams(location.search);
const tenant = params.get("tenant") || "demo-tenant";
const $ = <T extends HTMLElement>(sel: string) => document.querySelector(sel) as T;

const esc = (s: unknown) =>
  String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] as string);

const PROVIDER_NAMES: Record<string, string> = { fortnox: "Fortnox", visma: "Visma eAccounting" };

function ago(iso: string | null | undefined): string {
  if (!iso) return "never";
  const s = Math.round((Date.now() - Date.parse(iso)) / 1000);
  if (s < 0) return `in ${fmtDuration(-s)}`;
  return `${fmtDuration(s)} ago`;
}
function fmtDuration(s: number): string {
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  if (s < 86400) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} d`;
}

function banner(text: string, error = false) {
  const b = $("#banner");
  b.textContent = text;
  b.className = error ? "error" : "";
  b.hidden = false;
}

function describe(e: unknown): string {
  if (e instanceof ProblemError) return `${e.title}: ${e.detail}${e.field ? ` (field ${e.field})` : ""}`;
  if (e instanceof ConsentError) return `Consent not completed: ${e.code}${e.description ? ` — ${e.description}` : ""}`;
  return e instanceof Error ? e.message : String(e);
}

async function devToken(): Promise<string> {
  const r = await fetch(`/dev/token?tenant=${encodeURIComponent(tenant)}`);
  if (!r.ok) throw new Error(`/dev/token answered ${r.status}: ${await r.text()}`);
  return ((await r.json()) as { token: string }).token;
}

interface View {
  integrations: Integration[];
  jobs: Map<string, Job[]>;
  conflicts: Map<string, number>;
  feed: Map<string, FeedEntry[]>;
}

/** Live progress from `followJob`, shown until the next refresh has the job in a final state. */
const following = new Map<string, { handled: number; percent: number | undefined; state: string }>();

async function load(client: IntegrationsClient): Promise<View> {
  const integrations = await client.listIntegrations();
  const view: View = { integrations, jobs: new Map(), conflicts: new Map(), feed: new Map() };
  await Promise.all(
    integrations
      .filter((i) => i.status !== "disconnected")
      .map(async (i) => {
        const [jobs, conflicts, customers, invoices] = await Promise.all([
          client.listJobs(i.id),
          client.listConflicts(i.id),
          newestFeed(client, i.id, "customers"),
          newestFeed(client, i.id, "invoices"),
        ]);
        view.jobs.set(i.id, jobs);
        view.conflicts.set(i.id, conflicts.length);
        view.feed.set(i.id, [...customers, ...invoices].sort((a, b) => b.pulled_at.localeCompare(a.pulled_at) || b.seq - a.seq).slice(0, 8));
      }),
  );
  return view;
}

/** The newest entries of a feed: reads it from the start (a dev tenant's feed is short). */
async function newestFeed(client: IntegrationsClient, id: string, entity: "customers" | "invoices"): Promise<FeedEntry[]> {
  const all: FeedEntry[] = [];
  for await (const e of client.feed(id, entity, { limit: 500 })) {
    all.push(e);
    if (all.length > 2000) all.splice(0, 1000);
  }
  return all.slice(-8);
}

function freshness(jobs: Job[] | undefined): string {
  const last = (jobs ?? []).filter((j) => j.state === "succeeded" && j.finished_at).sort((a, b) => (b.finished_at ?? "").localeCompare(a.finished_at ?? ""))[0];
  return last ? `synced ${ago(last.finished_at)}` : "not synced yet";
}

function jobRow(integrationId: string, j: Job): string {
  const live = following.get(`${integrationId}/${j.id}`);
  const ended = TERMINAL_STATES.includes(j.state);
  const handled = j.progress.done + j.progress.skipped + j.progress.failed;
  const percent = ended ? 100 : live?.percent;
  const bar = percent === undefined ? `<progress max="100"></progress>` : `<progress max="100" value="${percent}"></progress>`;
  const err = j.last_error ? `<div class="err">${esc(j.last_error.code)}: ${esc(j.last_error.message)}</div>` : "";
  return `<tr data-job-id="${esc(j.id)}" data-state="${esc(j.state)}" data-percent="${percent ?? ""}">
    <td><code>${esc(j.id)}</code><div class="muted">${esc(j.trigger)} · ${esc(j.direction)} ${esc(j.entities.join(", "))}</div></td>
    <td><span class="badge ${esc(j.state)}">${esc(j.state)}</span></td>
    <td>${bar} <span class="pct">${percent === undefined ? "…" : `${percent} %`}</span>${err}</td>
    <td>${handled} handled<div class="muted">done ${j.progress.done} · skipped ${j.progress.skipped} · failed ${j.progress.failed} · conflicts ${j.progress.conflicts}</div></td>
    <td class="muted">${esc(ago(j.finished_at ?? j.updated_at))}</td></tr>`;
}

function render(view: View) {
  const rows = view.integrations.map((i) => {
    const active = i.status !== "disconnected";
    const actions = [
      i.status === "connected" ? `<button class="primary" data-action="sync" data-id="${esc(i.id)}">Sync now</button>` : "",
      active && i.status !== "connected" ? `<button data-action="reconnect" data-id="${esc(i.id)}">Connect</button>` : "",
      active ? `<button class="danger" data-action="disconnect" data-id="${esc(i.id)}">Disconnect</button>` : "",
    ].join(" ");
    const lastError = i.last_error ? `<div class="err">${esc(i.last_error.code)}: ${esc(i.last_error.message)}</div>` : "";
    return `<tr data-integration-id="${esc(i.id)}" data-provider="${esc(i.provider)}" data-status="${esc(i.status)}">
      <td><strong>${esc(PROVIDER_NAMES[i.provider] ?? i.provider)}</strong><div class="muted"><code>${esc(i.id)}</code></div></td>
      <td><span class="badge ${esc(i.status)}">${esc(i.status)}</span>${lastError}</td>
      <td>${esc(i.company_name ?? (i.company_pending ? "(being looked up)" : "—"))}<div class="muted">${esc(i.provider_company_id ?? "")}</div></td>
      <td>${i.token_expires_at ? `${esc(new Date(i.token_expires_at).toLocaleTimeString())}<div class="muted">${esc(ago(i.token_expires_at))}</div>` : "—"}</td>
      <td>${active ? esc(freshness(view.jobs.get(i.id))) : "—"}</td>
      <td>${actions}</td></tr>`;
  });
  $("#integrations tbody").innerHTML = rows.length ? rows.join("") : `<tr><td colspan="6" class="empty">No integrations yet: connect one.</td></tr>`;

  const cards = view.integrations
    .filter((i) => view.jobs.has(i.id))
    .map((i) => {
      const jobs = (view.jobs.get(i.id) ?? []).slice(0, 6);
      const feed = view.feed.get(i.id) ?? [];
      return `<div class="card" data-card="${esc(i.id)}">
        <h2>${esc(PROVIDER_NAMES[i.provider] ?? i.provider)} · ${esc(i.company_name ?? i.id)}</h2>
        <h3>Jobs</h3>
        <table class="jobs"><thead><tr><th>job</th><th>state</th><th>progress</th><th>records</th><th>updated</th></tr></thead>
        <tbody>${jobs.length ? jobs.map((j) => jobRow(i.id, j)).join("") : `<tr><td colspan="5" class="empty">No jobs yet.</td></tr>`}</tbody></table>
        <div class="grid">
          <div><h3>Newest change-feed entries</h3>
            <table class="feed"><thead><tr><th>#</th><th>record</th><th>op</th><th>pulled</th></tr></thead><tbody>
            ${feed.length ? feed.map((e) => `<tr data-seq="${e.seq}"><td>${e.seq}</td><td>${esc(e.entity)} <code>${esc(e.our_id)}</code><div class="muted">${esc(recordName(e))}</div></td><td>${esc(e.op)}</td><td class="muted">${esc(ago(e.pulled_at))}</td></tr>`).join("") : `<tr><td colspan="4" class="empty">Nothing pulled yet.</td></tr>`}
            </tbody></table></div>
          <div><h3>Conflict log</h3><p class="muted" data-conflicts="${view.conflicts.get(i.id) ?? 0}">${view.conflicts.get(i.id) ?? 0} conflicts decided (last write wins)</p></div>
        </div></div>`;
    });
  $("#details").innerHTML = cards.join("");
}

function recordName(e: FeedEntry): string {
  const r = e.record as { name?: string; invoice_number?: string; customer_id?: string } | null;
  return r?.name ?? r?.invoice_number ?? r?.customer_id ?? "";
}

async function main() {
  ($("#tenant") as HTMLInputElement).value = tenant;
  const client = createIntegrationsClient({ baseUrl: location.origin, token: await devToken() });
  const returnUrl = `${location.origin}/dev/console?tenant=${encodeURIComponent(tenant)}`;

  // Back from the provider: confirm the consent this browser started, then clean the URL.
  try {
    const connected = await client.completeConsent(location.href);
    if (connected) banner(`${PROVIDER_NAMES[connected.provider] ?? connected.provider} connected: ${connected.company_name ?? connected.id}`);
  } catch (e) {
    banner(describe(e), true);
  }
  history.replaceState(null, "", withoutConsentParams(location.href));

  let timer: ReturnType<typeof setTimeout> | undefined;
  const refresh = async () => {
    clearTimeout(timer);
    let busy = false;
    try {
      const view = await load(client);
      render(view);
      busy = [...view.jobs.values()].some((jobs) => jobs.some((j) => !TERMINAL_STATES.includes(j.state)));
    } catch (e) {
      banner(describe(e), true);
    }
    timer = setTimeout(refresh, busy ? 1000 : 5000);
  };

  const connect = async (target: { provider: Provider } | { integrationId: string }) => {
    try {
      const start = await client.startConsent(target, returnUrl);
      location.assign(start.authorization_url);
    } catch (e) {
      banner(describe(e), true);
    }
  };
  $("#connect-fortnox").addEventListener("click", () => connect({ provider: "fortnox" }));
  $("#connect-visma").addEventListener("click", () => connect({ provider: "visma" }));
  $("#tenant-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    location.search = `?tenant=${encodeURIComponent(($("#tenant") as HTMLInputElement).value.trim())}`;
  });
  document.addEventListener("click", async (ev) => {
    const b = (ev.target as HTMLElement).closest("button[data-action]") as HTMLButtonElement | null;
    if (!b) return;
    const id = b.dataset.id ?? "";
    try {
      if (b.dataset.action === "sync") {
        b.disabled = true;
        const started = await client.startSync(id, {});
        banner(`Sync started: ${started.job_ids.join(", ")}`);
        await refresh();
        await Promise.all(
          started.job_ids.map((job) =>
            client.followJob(id, job, {
              intervalMs: 400,
              onProgress: (p) => {
                following.set(`${id}/${job}`, { handled: p.handled, percent: p.percent, state: p.state });
                const row = document.querySelector(`tr[data-job-id="${CSS.escape(job)}"]`);
                if (row) row.outerHTML = jobRow(id, p.job);
              },
            }),
          ),
        );
        banner(`Sync finished: ${started.job_ids.join(", ")}`);
      } else if (b.dataset.action === "reconnect") {
        await connect({ integrationId: id });
        return;
      } else if (b.dataset.action === "disconnect") {
        const d = await client.disconnect(id);
        banner(`Disconnected${d.revoked_at_provider ? " (revoked at the provider)" : ""}`);
      }
    } catch (e) {
      banner(describe(e), true);
    }
    await refresh();
  });
  await refresh();
}

main().catch((e) => banner(describe(e), true));
