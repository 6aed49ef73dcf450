// A thin layer over the generated types and openapi-fetch: every call is typed by
// docs/openapi.yaml (regenerated into ./generated/api.ts by `npm run generate`), every failed
// answer is thrown as a typed error, and what types alone do not carry is here: the consent
// round trip, following a job to its end, and reading the change feed with its cursor.

import createClient, { type Client } from "openapi-fetch";
import type { components, paths } from "./generated/api.js";
import { ConsentError, errorFrom, JobTimeoutError } from "./errors.js";
import {
  type ConsentStore,
  defaultStore,
  forgetConsent,
  pendingConsent,
  readConsentReturn,
  rememberConsent,
} from "./consent.js";

export type Schemas = components["schemas"];
export type Integration = Schemas["Integration"];
export type ConnectStart = Schemas["ConnectStart"];
export type Job = Schemas["Job"];
export type JobState = Job["state"];
export type Conflict = Schemas["Conflict"];
export type FeedPage = Schemas["FeedPage"];
export type FeedEntry = Schemas["FeedEntry"];
export type Provider = Schemas["Provider"];
export type Entity = Schemas["Entity"];
export type CustomerInput = Schemas["CustomerInput"];
export type InvoiceInput = Schemas["InvoiceInput"];
export type UpsertOutcome = Schemas["UpsertOutcome"];
export type Disconnected = Schemas["Disconnected"];
export type RotatedKey = Schemas["RotatedKey"];
export type SyncRequest = NonNullable<
  paths["/api/integrations/{id}/sync"]["post"]["requestBody"]
>["content"]["application/json"];
export type SyncStarted =
  paths["/api/integrations/{id}/sync"]["post"]["responses"]["202"]["content"]["application/json"];

/** How a job ends. */
export const TERMINAL_STATES: readonly JobState[] = ["succeeded", "failed", "dead", "cancelled"];

export interface ClientOptions {
  /** Base URL of the API, e.g. `https://api.example.com` (no trailing `/api`). */
  baseUrl: string;
  /** The person's JWT, or a function giving a fresh one for each request. */
  token: string | (() => string | Promise<string>);
  /** Where consents this browser started are remembered (default `sessionStorage`, else memory). */
  consentStore?: ConsentStore;
  /** A fetch of your own (tests, instrumentation). */
  fetch?: (input: Request) => Promise<Response>;
}

/** What `followJob` reports after each poll. */
export interface JobProgress {
  job: Job;
  state: JobState;
  /** Records handled so far (done + skipped + failed). */
  handled: number;
  /** 100 once the job has ended; undefined while it runs (the API knows no total). */
  percent: number | undefined;
}

export interface FollowOptions {
  onProgress?: (p: JobProgress) => void;
  /** Poll interval (default 500 ms). */
  intervalMs?: number;
  /** Give up after this long (default 120 s): throws JobTimeoutError. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface FeedOptions {
  /** Start after this cursor (a `next_cursor` you kept; default 0, the beginning). */
  after?: number;
  /** Entries per page (1–500, default 100). */
  limit?: number;
  /** Called after each page with the cursor to keep for next time. */
  onCursor?: (cursor: number) => void | Promise<void>;
}

type Result<T> = { data?: T; error?: unknown; response: Response };

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(t);
      reject(signal.reason);
    }, { once: true });
  });

/** The integrations API. */
export class IntegrationsClient {
  /** The generated, fully typed openapi-fetch client, for anything this layer does not wrap. */
  readonly api: Client<paths>;
  readonly consentStore: ConsentStore;

  constructor(opts: ClientOptions) {
    const token = opts.token;
    this.consentStore = opts.consentStore ?? defaultStore();
    this.api = createClient<paths>({
      baseUrl: opts.baseUrl.replace(/\/+$/, ""),
      ...(opts.fetch ? { fetch: opts.fetch } : {}),
    });
    this.api.use({
      async onRequest({ request }) {
        const t = typeof token === "function" ? await token() : token;
        request.headers.set("Authorization", `Bearer ${t}`);
        return request;
      },
    });
  }

  private async ok<T>(what: string, call: Promise<Result<T>>): Promise<T> {
    const r = await call;
    if (r.response.ok) return r.data as T;
    throw errorFrom(r.response, r.error, what);
  }

  // ---- integrations ----

  /** The tenant's integrations. */
  async listIntegrations(): Promise<Integration[]> {
    const r = await this.ok("GET /api/integrations/status", this.api.GET("/api/integrations/status"));
    return r.integrations;
  }

  /** One integration's status. */
  getIntegration(id: string): Promise<Integration> {
    return this.ok(`GET /api/integrations/${id}/status`, this.api.GET("/api/integrations/{id}/status", { params: { path: { id } } }));
  }

  /** Creates an integration (409 ProblemError when the tenant has an active one for the provider). */
  createIntegration(provider: Provider, displayName?: string): Promise<Integration> {
    return this.ok("POST /api/integrations/create", this.api.POST("/api/integrations/create", {
      body: displayName === undefined ? { provider } : { provider, display_name: displayName },
    }));
  }

  /** Disconnects: revokes at the provider where possible and deletes the tokens. */
  disconnect(id: string): Promise<Disconnected> {
    return this.ok(`DELETE /api/integrations/${id}`, this.api.DELETE("/api/integrations/{id}", { params: { path: { id } } }));
  }

  // ---- consent: connect → provider → return URL → confirm ----

  /**
   * Step 1: starts a consent and remembers in the consent store that this browser started it.
   * Give an integration id (reconnect) or a provider (reuse or create the tenant's
   * integration). Then send the browser to `authorization_url`.
   */
  async startConsent(target: { integrationId: string } | { provider: Provider }, returnUrl?: string): Promise<ConnectStart> {
    let start: ConnectStart;
    if ("integrationId" in target) {
      const id = target.integrationId;
      start = await this.ok(`POST /api/integrations/${id}/connect`, this.api.POST("/api/integrations/{id}/connect", {
        params: { path: { id } },
        body: returnUrl === undefined ? {} : { return_url: returnUrl },
      }));
    } else {
      const provider = target.provider;
      start = await this.ok(`GET /api/integrations/authorize/${provider}`, this.api.GET("/api/integrations/authorize/{provider}", {
        params: { path: { provider }, ...(returnUrl === undefined ? {} : { query: { return_url: returnUrl } }) },
      }));
    }
    rememberConsent(this.consentStore, {
      integrationId: start.integration_id,
      provider: start.provider,
      startedAt: new Date().toISOString(),
      expiresAt: start.expires_at,
    });
    return start;
  }

  /**
   * Steps 3 and 4, on the page the browser returned to: reads the callback's outcome from
   * `url` and, when it asks for confirmation of a consent this browser started, posts it.
   * Resolves with the connected integration, or undefined when `url` carries no outcome.
   * Throws ConsentError when the consent failed or was not started here (then nothing is
   * posted), ProblemError when the API refuses the confirmation.
   */
  async completeConsent(url: string | URL): Promise<Integration | undefined> {
    const back = readConsentReturn(url);
    if (!back) return undefined;
    if (back.status === "error") {
      if (back.integrationId) forgetConsent(this.consentStore, back.integrationId);
      throw new ConsentError(back.error, back.description, back.integrationId);
    }
    if (!pendingConsent(this.consentStore, back.integrationId)) {
      throw new ConsentError("not_started_here", "this browser did not start a consent for this integration; nothing was confirmed", back.integrationId);
    }
    const id = back.integrationId;
    try {
      return await this.confirm(id, back.confirmation);
    } finally {
      forgetConsent(this.consentStore, id);
    }
  }

  /** `POST /api/integrations/{id}/confirm` as it is. */
  confirm(id: string, confirmation: string): Promise<Integration> {
    return this.ok(`POST /api/integrations/${id}/confirm`, this.api.POST("/api/integrations/{id}/confirm", {
      params: { path: { id } },
      body: { confirmation },
    }));
  }

  // ---- jobs ----

  /** Starts a sync; an empty request means both directions, every entity, incremental. */
  startSync(id: string, request: SyncRequest = {}): Promise<SyncStarted> {
    return this.ok(`POST /api/integrations/${id}/sync`, this.api.POST("/api/integrations/{id}/sync", {
      params: { path: { id } },
      body: request,
    }));
  }

  /** The integration's jobs, newest first. */
  async listJobs(id: string): Promise<Job[]> {
    const r = await this.ok(`GET /api/integrations/${id}/jobs`, this.api.GET("/api/integrations/{id}/jobs", { params: { path: { id } } }));
    return r.jobs;
  }

  getJob(id: string, job: string): Promise<Job> {
    return this.ok(`GET /api/integrations/${id}/jobs/${job}`, this.api.GET("/api/integrations/{id}/jobs/{job}", { params: { path: { id, job } } }));
  }

  /** Puts a failed or dead job back on the queue. */
  retryJob(id: string, job: string): Promise<Job> {
    return this.ok(`POST /api/integrations/${id}/jobs/${job}/retry`, this.api.POST("/api/integrations/{id}/jobs/{job}/retry", { params: { path: { id, job } } }));
  }

  /**
   * Polls a job until it ends and resolves with it, whatever the end (`succeeded`, `failed`,
   * `dead`, `cancelled`: look at `state` and `last_error`). `onProgress` hears every poll.
   */
  async followJob(id: string, job: string, opts: FollowOptions = {}): Promise<Job> {
    const interval = opts.intervalMs ?? 500;
    const timeout = opts.timeoutMs ?? 120_000;
    const deadline = Date.now() + timeout;
    for (;;) {
      opts.signal?.throwIfAborted();
      const j = await this.getJob(id, job);
      const ended = TERMINAL_STATES.includes(j.state);
      const p = j.progress;
      opts.onProgress?.({ job: j, state: j.state, handled: p.done + p.skipped + p.failed, percent: ended ? 100 : undefined });
      if (ended) return j;
      if (Date.now() + interval > deadline) throw new JobTimeoutError(id, job, j.state, timeout);
      await sleep(interval, opts.signal);
    }
  }

  /** The conflict log. */
  async listConflicts(id: string): Promise<Conflict[]> {
    const r = await this.ok(`GET /api/integrations/${id}/conflicts`, this.api.GET("/api/integrations/{id}/conflicts", { params: { path: { id } } }));
    return r.conflicts;
  }

  // ---- records ----

  /** Upserts the app's records (≤ 100); the answer names the export job. */
  upsertRecords(id: string, entity: "customers", records: CustomerInput[], idempotencyKey?: string): Promise<UpsertOutcome>;
  upsertRecords(id: string, entity: "invoices", records: InvoiceInput[], idempotencyKey?: string): Promise<UpsertOutcome>;
  upsertRecords(id: string, entity: Entity, records: CustomerInput[] | InvoiceInput[], idempotencyKey?: string): Promise<UpsertOutcome> {
    return this.ok(`POST /api/integrations/${id}/records/${entity}`, this.api.POST("/api/integrations/{id}/records/{entity}", {
      params: { path: { id, entity }, ...(idempotencyKey ? { header: { "Idempotency-Key": idempotencyKey } } : {}) },
      body: { records } as never,
    }));
  }

  /**
   * One page of the change feed after `after`: of one entity, or of several (an array, empty
   * for all of them) in one request, in the order the changes arrived.
   */
  feedPage(id: string, entity: Entity | readonly Entity[], after = 0, limit = 100): Promise<FeedPage> {
    if (typeof entity !== "string") {
      const query = entity.length > 0 ? { entities: entity.join(","), after, limit } : { after, limit };
      return this.ok(`GET /api/integrations/${id}/records`, this.api.GET("/api/integrations/{id}/records", {
        params: { path: { id }, query },
      }));
    }
    return this.ok(`GET /api/integrations/${id}/records/${entity}`, this.api.GET("/api/integrations/{id}/records/{entity}", {
      params: { path: { id, entity }, query: { after, limit } },
    }));
  }

  /**
   * Every feed entry after `opts.after`, page by page, until a page comes back empty. After
   * each page `onCursor` gets the cursor to keep; start there next time.
   */
  async *feed(id: string, entity: Entity | readonly Entity[], opts: FeedOptions = {}): AsyncGenerator<FeedEntry, number> {
    let cursor = opts.after ?? 0;
    for (;;) {
      const page = await this.feedPage(id, entity, cursor, opts.limit ?? 100);
      if (page.records.length === 0) return cursor;
      yield* page.records;
      cursor = page.next_cursor;
      await opts.onCursor?.(cursor);
    }
  }

  // ---- webhooks ----

  /** A new webhook signing key, answered this once. */
  rotateWebhookKey(id: string, body: NonNullable<paths["/api/integrations/{id}/webhook-key/rotate"]["post"]["requestBody"]>["content"]["application/json"] = {}): Promise<RotatedKey> {
    return this.ok(`POST /api/integrations/${id}/webhook-key/rotate`, this.api.POST("/api/integrations/{id}/webhook-key/rotate", {
      params: { path: { id } },
      body,
    }));
  }
}

/** A client for `baseUrl` acting with `token`. */
export function createIntegrationsClient(opts: ClientOptions): IntegrationsClient {
  return new IntegrationsClient(opts);
}
