// A Lambda runtime loop for Node.js that does what the runtime interface client (npm
// `aws-lambda-ric`, the loop of Lambda's managed nodejs22.x runtime) does for a buffered
// handler, in plain JavaScript: its native HTTP client needs curl and aws-lambda-cpp built
// from source with cmake at `npm install` (bench/cold-start/README.md).
//
//   init:  import the handler module (`_HANDLER`, default index.handler) from this directory;
//          on failure POST /runtime/init/error and exit
//   loop:  GET /runtime/invocation/next -> handler(event, context) ->
//          POST /runtime/invocation/{id}/response (or /error with Lambda-Runtime-Function-Error-Type)
//
// One keep-alive connection to the Runtime API (node:http Agent, maxSockets 1, as the RIC's
// JavaScript client), TCP_NODELAY (as curl, its native one); `_X_AMZN_TRACE_ID` is set from the
// trace header per invocation.
import { Agent, request } from "node:http";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const [host, port] = process.env.AWS_LAMBDA_RUNTIME_API.split(":");
const agent = new Agent({ keepAlive: true, maxSockets: 1 });
const BASE = "/2018-06-01/runtime";

function call(method, path, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(body, "utf8");
    const req = request({
      host, port, path: BASE + path, method, agent,
      headers: data ? { "Content-Type": "application/json", "Content-Length": data.length, ...headers } : headers,
    }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.on("socket", (socket) => socket.setNoDelay(true)); // as curl, the RIC's native client
    req.end(data);
  });
}

function errorBody(err) {
  return JSON.stringify({
    errorType: err?.name ?? "Error",
    errorMessage: err?.message ?? String(err),
    trace: String(err?.stack ?? "").split("\n"),
  });
}

const [file, name] = (process.env._HANDLER || "index.handler").split(".");
let handler;
try {
  const mod = await import(join(dirname(fileURLToPath(import.meta.url)), `${file}.mjs`));
  handler = mod[name];
  if (typeof handler !== "function") throw new TypeError(`${file}.${name} is not a function`);
} catch (err) {
  await call("POST", "/init/error", errorBody(err), { "Lambda-Runtime-Function-Error-Type": "Runtime.ImportModuleError" });
  process.exit(1);
}

for (;;) {
  let next;
  try {
    next = await call("GET", "/invocation/next");
  } catch {
    process.exit(0); // the Runtime API is gone: the sandbox is shutting down
  }
  const id = next.headers["lambda-runtime-aws-request-id"];
  const deadline = Number(next.headers["lambda-runtime-deadline-ms"]);
  if (next.headers["lambda-runtime-trace-id"]) process.env._X_AMZN_TRACE_ID = next.headers["lambda-runtime-trace-id"];
  else delete process.env._X_AMZN_TRACE_ID;
  const context = {
    awsRequestId: id,
    invokedFunctionArn: next.headers["lambda-runtime-invoked-function-arn"],
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => deadline - Date.now(),
  };
  let result;
  try {
    result = await handler(JSON.parse(next.body), context);
  } catch (err) {
    await call("POST", `/invocation/${encodeURIComponent(id)}/error`, errorBody(err),
      { "Lambda-Runtime-Function-Error-Type": err?.name ?? "Error" });
    continue;
  }
  await call("POST", `/invocation/${encodeURIComponent(id)}/response`, JSON.stringify(result ?? null));
}
