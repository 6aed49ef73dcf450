// Errors the client throws. Every answer that is not a success becomes one of these, so a
// frontend can `catch (e) { if (e instanceof ProblemError && e.field === "return_url") … }`.

import type { components } from "./generated/api.js";

/** RFC 9457 problem details, as the API answers them (`application/problem+json`). */
export type Problem = components["schemas"]["Problem"];

/** The problem kinds the API names in `type` (`…/problems/<kind>`). */
export type ProblemKind =
  | "bad-request"
  | "invalid-field"
  | "unauthorized"
  | "not-found"
  | "conflict"
  | "payload-too-large"
  | "unsupported-media-type"
  | "idempotency-key-reused"
  | "provider-error"
  | "webhook-signature"
  | "internal"
  | (string & {});

/** Base of every error the API answered with. */
export class ApiError extends Error {
  /** HTTP status. */
  readonly status: number;
  /** Method and path of the request. */
  readonly request: string;
  constructor(message: string, status: number, request: string) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.request = request;
  }
}

/** An `application/problem+json` answer of one of the functions. */
export class ProblemError extends ApiError {
  /** The problem's `type` URI. */
  readonly type: string;
  /** Its last path segment: `invalid-field`, `not-found`, `conflict`, … */
  readonly kind: ProblemKind;
  readonly title: string;
  readonly detail: string;
  /** The request field at fault, for bad input. */
  readonly field: string | undefined;
  /** The whole problem document (it may carry more members). */
  readonly problem: Problem;
  constructor(problem: Problem, request: string) {
    super(`${problem.title}: ${problem.detail}`, problem.status, request);
    this.name = "ProblemError";
    this.problem = problem;
    this.type = problem.type;
    this.kind = problem.type.split("/").pop() ?? "";
    this.title = problem.title;
    this.detail = problem.detail;
    this.field = typeof problem.field === "string" ? problem.field : undefined;
  }
}

/** An answer of API Gateway itself (`{"message": "Unauthorized"}`): a missing, expired or
 * invalid JWT, no such route, or a function that failed outright. */
export class GatewayError extends ApiError {
  constructor(message: string, status: number, request: string) {
    super(message, status, request);
    this.name = "GatewayError";
  }
}

/** The consent did not end in a connection: the person denied it, the provider failed, the
 * state had expired (`code` is the callback's `error`), or this browser did not start it
 * (`not_started_here`: nothing was posted). */
export class ConsentError extends Error {
  readonly code: string;
  readonly description: string | undefined;
  readonly integrationId: string | undefined;
  constructor(code: string, description: string | undefined, integrationId: string | undefined) {
    super(description ? `consent ended with ${code}: ${description}` : `consent ended with ${code}`);
    this.name = "ConsentError";
    this.code = code;
    this.description = description;
    this.integrationId = integrationId;
  }
}

/** A job did not end within the time the caller gave. */
export class JobTimeoutError extends Error {
  readonly integrationId: string;
  readonly jobId: string;
  readonly lastState: string;
  constructor(integrationId: string, jobId: string, lastState: string, ms: number) {
    super(`job ${jobId} still ${lastState} after ${ms} ms`);
    this.name = "JobTimeoutError";
    this.integrationId = integrationId;
    this.jobId = jobId;
    this.lastState = lastState;
  }
}

function isProblem(body: unknown): body is Problem {
  if (typeof body !== "object" || body === null) return false;
  const b = body as Record<string, unknown>;
  return (
    typeof b.type === "string" &&
    typeof b.title === "string" &&
    typeof b.status === "number" &&
    typeof b.detail === "string"
  );
}

/** The typed error for a failed answer: `body` is what openapi-fetch read from it. */
export function errorFrom(response: Response, body: unknown, request: string): ApiError {
  const contentType = response.headers.get("content-type") ?? "";
  if (contentType.startsWith("application/problem+json") && isProblem(body)) {
    return new ProblemError(body, request);
  }
  if (typeof body === "object" && body !== null && typeof (body as { message?: unknown }).message === "string") {
    return new GatewayError((body as { message: string }).message, response.status, request);
  }
  const text = typeof body === "string" ? body.slice(0, 200) : response.statusText;
  return new ApiError(`${request} answered ${response.status}${text ? `: ${text}` : ""}`, response.status, request);
}
