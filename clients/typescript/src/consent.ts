// The consent round trip in a browser: connect → the provider's consent page → back to the
// app's return URL → confirm. The callback connects nothing by itself: the browser comes back
// with `status=confirm&confirmation=…&integration_id=…`, and only the person who started the
// consent, with their own session, can post the confirmation (within 5 minutes). A frontend
// must confirm only consents it started itself; this module remembers them in a store
// (`sessionStorage` in a browser) and refuses any other.

/** The subset of the Web Storage API the consent helpers use (`sessionStorage` fits). */
export interface ConsentStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** A consent this browser started and has not finished. */
export interface PendingConsent {
  integrationId: string;
  provider: string;
  startedAt: string;
  expiresAt: string;
}

/** What the callback put in the return URL's query. */
export type ConsentReturn =
  | { status: "confirm"; integrationId: string; provider: string | undefined; confirmation: string }
  | {
      status: "error";
      error: string;
      description: string | undefined;
      integrationId: string | undefined;
      provider: string | undefined;
    };

const KEY = "accounting-integrations.pending-consents";

/** A store kept in memory (for servers, tests, and browsers without `sessionStorage`). */
export function memoryStore(): ConsentStore {
  const m = new Map<string, string>();
  return {
    getItem: (k) => m.get(k) ?? null,
    setItem: (k, v) => void m.set(k, v),
    removeItem: (k) => void m.delete(k),
  };
}

/** `sessionStorage` when there is one, else a memory store. */
export function defaultStore(): ConsentStore {
  const g = globalThis as { sessionStorage?: ConsentStore };
  return g.sessionStorage ?? memoryStore();
}

function readAll(store: ConsentStore): Record<string, PendingConsent> {
  try {
    const raw = store.getItem(KEY);
    const parsed: unknown = raw ? JSON.parse(raw) : {};
    return typeof parsed === "object" && parsed !== null ? (parsed as Record<string, PendingConsent>) : {};
  } catch {
    return {};
  }
}

/** Remembers that this browser started a consent for the integration. */
export function rememberConsent(store: ConsentStore, pending: PendingConsent): void {
  const all = readAll(store);
  all[pending.integrationId] = pending;
  store.setItem(KEY, JSON.stringify(all));
}

/** The pending consent of this browser for the integration, if it has not expired. */
export function pendingConsent(store: ConsentStore, integrationId: string, now = new Date()): PendingConsent | undefined {
  const p = readAll(store)[integrationId];
  if (!p) return undefined;
  // The callback gives 5 minutes after the consent to confirm; the state lives until
  // `expiresAt`. Keep it that long plus the confirmation window.
  const until = Date.parse(p.expiresAt) + 5 * 60 * 1000;
  return Number.isFinite(until) && until < now.getTime() ? undefined : p;
}

/** Forgets the pending consent of the integration. */
export function forgetConsent(store: ConsentStore, integrationId: string): void {
  const all = readAll(store);
  delete all[integrationId];
  store.setItem(KEY, JSON.stringify(all));
}

/** Reads the outcome the callback put in the return URL; undefined when it carries none. */
export function readConsentReturn(url: string | URL): ConsentReturn | undefined {
  const q = new URL(url.toString()).searchParams;
  const opt = (k: string) => q.get(k) ?? undefined;
  const status = q.get("status");
  if (status === "confirm") {
    const integrationId = q.get("integration_id");
    const confirmation = q.get("confirmation");
    if (!integrationId || !confirmation) {
      return { status: "error", error: "invalid_return", description: "the return URL lacks integration_id or confirmation", integrationId: opt("integration_id"), provider: opt("provider") };
    }
    return { status: "confirm", integrationId, provider: opt("provider"), confirmation };
  }
  if (status === "error") {
    return {
      status: "error",
      error: q.get("error") ?? "unknown",
      description: opt("error_description"),
      integrationId: opt("integration_id"),
      provider: opt("provider"),
    };
  }
  return undefined;
}

/** The return URL without the consent's query parameters (for `history.replaceState`, so a
 * reload does not post the confirmation again). */
export function withoutConsentParams(url: string | URL): string {
  const u = new URL(url.toString());
  for (const k of ["status", "confirmation", "integration_id", "provider", "error", "error_description"]) {
    u.searchParams.delete(k);
  }
  return u.toString();
}
