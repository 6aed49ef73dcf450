// @accounting-integrations/client: the typed client of the accounting integrations API.
export * from "./client.js";
export * from "./errors.js";
export * from "./consent.js";
export type { paths, components, operations } from "./generated/api.js";
