#!/usr/bin/env python3
"""Cold-start benchmark of every Lambda function, on this machine, without AWS.

    python3 bench/cold-start/run.py [--no-build] [--functions a,b] [--cold-runs 15] [--warm 20]
                                    [--no-floor] [--no-node] [--json FILE] [--no-fail]

1. Builds every package under functions/ and the floor (bench/cold-start/floor) in release mode
   for the host (`cargo build --release -p <fn> …`; the release profile in Cargo.toml strips and
   tunes them), and installs bench/cold-start/node's pinned Node.js 22 and AWS SDK (`npm ci`).
2. Starts a moto server (from the project .venv, `make venv`) and creates the table and the sync
   queue the functions expect, as template.yaml does.
3. Runs each binary under a minimal local Lambda Runtime API (below) with the environment Lambda
   and template.yaml give it, and measures:
     - size:  the binary's size on disk (stripped: the ELF has no .symtab)
     - init:  process start -> its first `GET /runtime/invocation/next` (it is ready for work)
     - first: first invocation, event handed out -> response posted
     - warm:  median of --warm more invocations
     - peak:  VmHWM (peak resident set) from /proc/<pid>/status after all invocations
   Each function is started --cold-runs times (round robin over all of them); init and first are
   medians over those starts, peak memory is the largest seen.
   Two references run the same way in the same rounds: the floor (a Rust Lambda answering a
   constant) and Node.js 22 with the AWS SDK for JavaScript v3 doing `status`'s request.
4. Prints a table, the ratios ours / Node and ours / floor, compares with the targets (init
   <= 20 ms, <= 0.15 x Node's and <= 1.5 x the floor's; peak <= 16 MiB; size <= 8 MiB) and
   exits 1 on a miss unless --no-fail.

The invocation for each function ("a simple request") is in REQUESTS below: each one does the
function's real first step against DynamoDB in moto (a Query or GetItem; `create` also creates a
secret), so the first invocation includes building the AWS SDK's HTTP client and signing, but
not TLS: moto is plain HTTP on loopback.

Runs with the project's .venv Python (moto, boto3); started with another Python it re-executes
itself under .venv/bin/python.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import queue
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"

TARGET_INIT_MS = 20.0
TARGET_PEAK_MIB = 16.0
TARGET_SIZE_MIB = 8.0
# Side by side, in the same run: a function's init (median wall time) against the references'.
TARGET_INIT_VS_NODE = 0.15
TARGET_INIT_VS_FLOOR = 1.5

# Where distributions keep the one-file CA bundle: Amazon Linux / Fedora first (the template's).
CA_BUNDLES = ["/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/certs/ca-certificates.crt",
              "/etc/ssl/cert.pem"]

TENANT = "bench-tenant"
REGION = "eu-north-1"


def reexec_in_venv() -> None:
    """boto3 and moto live in the project's .venv; use its Python."""
    try:
        import boto3  # noqa: F401
        import moto  # noqa: F401
        return
    except ImportError:
        pass
    if VENV_PYTHON.exists() and Path(sys.executable).resolve() != VENV_PYTHON.resolve():
        os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), __file__, *sys.argv[1:]])
    sys.exit("bench: boto3/moto not found: run `make venv` first (installs requirements-dev.txt into .venv)")


# ---------------------------------------------------------------------------------------------
# Events: what API Gateway (HTTP API, payload 2.0), SQS and EventBridge hand the functions.
# ---------------------------------------------------------------------------------------------

def http_event(method: str, route: str, path: str, *, path_params=None, query=None, body=None,
               authorized: bool = True) -> dict:
    now_ms = int(time.time() * 1000)
    headers = {"host": "bench.execute-api.eu-north-1.amazonaws.com", "user-agent": "cold-start-bench"}
    if body is not None:
        headers["content-type"] = "application/json"
    ctx = {
        "accountId": "123456789012",
        "apiId": "bench",
        "domainName": headers["host"],
        "domainPrefix": "bench",
        "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1",
                 "userAgent": headers["user-agent"]},
        "requestId": str(uuid.uuid4()),
        "routeKey": f"{method} {route}",
        "stage": "$default",
        "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()),
        "timeEpoch": now_ms,
    }
    if authorized:
        ctx["authorizer"] = {"jwt": {"claims": {"tenant_id": TENANT, "sub": "bench-user"}, "scopes": None}}
    raw_query = "&".join(f"{k}={v}" for k, v in (query or {}).items())
    event = {
        "version": "2.0",
        "routeKey": f"{method} {route}",
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": ctx,
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = dict(query)
    if path_params:
        event["pathParameters"] = dict(path_params)
    if body is not None:
        event["body"] = json.dumps(body)
    return event


def function_url_event(method: str, path: str, body=None) -> dict:
    """A Lambda function URL event (payload 2.0, no authorizer, route `$default`)."""
    event = http_event(method, "$default", path, body=body, authorized=False)
    event["routeKey"] = event["requestContext"]["routeKey"] = "$default"
    event["requestContext"]["domainName"] = event["headers"]["host"] = "bench.lambda-url.eu-north-1.on.aws"
    return event


def sqs_event(body: str, queue_name: str) -> dict:
    return {"Records": [{
        "messageId": str(uuid.uuid4()),
        "receiptHandle": "bench-receipt",
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": str(int(time.time() * 1000)),
                       "SenderId": "bench", "ApproximateFirstReceiveTimestamp": str(int(time.time() * 1000))},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{REGION}:123456789012:{queue_name}",
        "awsRegion": REGION,
    }]}


def schedule_event() -> dict:
    return {
        "version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": REGION, "resources": [f"arn:aws:events:{REGION}:123456789012:rule/bench"], "detail": {},
    }


MISSING = "00000000-0000-4000-8000-000000000000"
JOB_MESSAGE = json.dumps({"tenant_id": TENANT, "integration_id": MISSING, "job_id": MISSING, "slice": 0})

# function -> (what it does, event factory, expected status for HTTP functions or None)
REQUESTS = {
    "create": ("POST /create fortnox: first 201 (secret + item), then 409 (one Query)",
               lambda: http_event("POST", "/api/integrations/create", "/api/integrations/create",
                                  body={"provider": "fortnox"}), (201, 409)),
    "authorize": ("GET /authorize/visma: reuse or create, store an OAuth state",
                  lambda: http_event("GET", "/api/integrations/authorize/{provider}",
                                     "/api/integrations/authorize/visma", path_params={"provider": "visma"}), (200,)),
    "connect": ("POST /{id}/connect, unknown id: GetItem -> 404",
                lambda: http_event("POST", "/api/integrations/{id}/connect", f"/api/integrations/{MISSING}/connect",
                                   path_params={"id": MISSING}), (404,)),
    "oauth_callback": ("GET /callback/fortnox?state=unknown: take the state -> 302 with an error",
                       lambda: http_event("GET", "/api/integrations/callback/{provider}",
                                          "/api/integrations/callback/fortnox", path_params={"provider": "fortnox"},
                                          query={"code": "c", "state": uuid.uuid4().hex}, authorized=False), (302,)),
    "confirm": ("POST /{id}/confirm, unknown confirmation: conditional DeleteItem -> 400",
                lambda: http_event("POST", "/api/integrations/{id}/confirm", f"/api/integrations/{MISSING}/confirm",
                                   path_params={"id": MISSING}, body={"confirmation": uuid.uuid4().hex}), (400,)),
    "status": ("GET /status: Query the tenant's integrations -> 200",
               lambda: http_event("GET", "/api/integrations/status", "/api/integrations/status"), (200,)),
    "disconnect": ("DELETE /{id}, unknown id: GetItem -> 404",
                   lambda: http_event("DELETE", "/api/integrations/{id}", f"/api/integrations/{MISSING}",
                                      path_params={"id": MISSING}), (404,)),
    "sync": ("POST /{id}/sync, unknown id: GetItem -> 404",
             lambda: http_event("POST", "/api/integrations/{id}/sync", f"/api/integrations/{MISSING}/sync",
                                path_params={"id": MISSING}, body={"direction": "both"}), (404,)),
    "sync_invoice": ("POST /sync-invoice, unknown integration: GetItem -> 404",
                     lambda: http_event("POST", "/api/integrations/sync-invoice", "/api/integrations/sync-invoice",
                                        body={"integration_id": MISSING, "invoice_id": "inv-1"}), (404,)),
    "invoice_send": ("POST /{id}/invoices/{invoice_id}/send, unknown id: GetItem -> 404",
                     lambda: http_event("POST", "/api/integrations/{id}/invoices/{invoice_id}/send",
                                        f"/api/integrations/{MISSING}/invoices/inv-1/send",
                                        path_params={"id": MISSING, "invoice_id": "inv-1"},
                                        body={"method": "email"}), (404,)),
    "invoice_pdf": ("GET /{id}/invoices/{invoice_id}/pdf, unknown id: GetItem -> 404",
                    lambda: http_event("GET", "/api/integrations/{id}/invoices/{invoice_id}/pdf",
                                       f"/api/integrations/{MISSING}/invoices/inv-1/pdf",
                                       path_params={"id": MISSING, "invoice_id": "inv-1"}), (404,)),
    "invoice_credit": ("POST /{id}/invoices/{invoice_id}/credit, unknown id: GetItem -> 404",
                       lambda: http_event("POST", "/api/integrations/{id}/invoices/{invoice_id}/credit",
                                          f"/api/integrations/{MISSING}/invoices/inv-1/credit",
                                          path_params={"id": MISSING, "invoice_id": "inv-1"}, body={}), (404,)),
    "records": ("GET /{id}/records/customers, unknown id: GetItem -> 404",
                lambda: http_event("GET", "/api/integrations/{id}/records/{entity}",
                                   f"/api/integrations/{MISSING}/records/customers",
                                   path_params={"id": MISSING, "entity": "customers"}), (404,)),
    "webhook": ("POST /{id}/webhook (function URL event), unsigned: the key lookup fails -> 401",
                lambda: function_url_event("POST", f"/api/integrations/{MISSING}/webhook",
                                           body={"id": "evt-1", "type": "invoice.updated", "entity_id": "1"}), (401,)),
    "webhook_key": ("POST /{id}/webhook-key/rotate, unknown id: GetItem -> 404",
                    lambda: http_event("POST", "/api/integrations/{id}/webhook-key/rotate",
                                       f"/api/integrations/{MISSING}/webhook-key/rotate",
                                       path_params={"id": MISSING}, body={}), (404,)),
    "worker": ("SQS message for a job that does not exist: GetItem -> dropped",
               lambda: sqs_event(JOB_MESSAGE, "sync"), None),
    "dead_letter": ("SQS dead-letter message for a job that does not exist: GetItem -> dropped",
                    lambda: sqs_event(JOB_MESSAGE, "sync-dlq"), None),
    "scheduler": ("scheduled event: Query connected integrations (none) -> report",
                  schedule_event, None),
    "watchdog": ("scheduled event: Query running jobs (none) -> report",
                 schedule_event, None),
    # The bench's 10 s deadline is inside the function's 20 s margin: the run takes the
    # stream lease and hands it back at once, without opening the socket.
    "stream": ("scheduled event: PutItem stream lease, DeleteItem -> report",
               schedule_event, None),
}


# ---------------------------------------------------------------------------------------------
# The references every function is compared with, in the same run
# ---------------------------------------------------------------------------------------------

# The floor: a Rust Lambda that answers a constant (bench/cold-start/floor: lambda_runtime, the
# workspace's tokio and serde_json, the release profile). Given `status`'s event.
FLOOR_PACKAGE = "cold-start-floor"
FLOOR = "ref:floor"
FLOOR_REQUEST = ("the floor: lambda_runtime answering a constant (given status's event) -> 200",
                 REQUESTS["status"][1], (200,))

# Node.js 22 with the AWS SDK for JavaScript v3 (bench/cold-start/node, pinned in its
# package-lock.json) doing `status`'s request: one DynamoDB Query -> 200.
NODE = "ref:node22"
NODE_DIR = Path(__file__).resolve().parent / "node"
NODE_REQUEST = ("status's request in Node.js 22 + AWS SDK v3: one DynamoDB Query -> 200",
                REQUESTS["status"][1], (200,))
# What Lambda's nodejs22.x runtime sets besides the common variables.
NODE_ENV = {"_HANDLER": "index.handler", "AWS_EXECUTION_ENV": "AWS_Lambda_nodejs22.x"}
NAMES = {"node": "Node.js", "floor": "the Rust floor"}


def node_flags(memory_mb: int) -> list[str]:
    """The flags the bootstrap of Lambda's Node.js runtime starts node with (its public base
    images): the heap sized from the function's memory."""
    new_space = memory_mb // 10
    return ["--expose-gc", "--max-http-header-size", "81920",
            f"--max-semi-space-size={new_space // 2}", f"--max-old-space-size={memory_mb - new_space}"]


def install_node() -> dict:
    """Installs bench/cold-start/node's pinned packages (`npm ci`: Node 22 as npm's
    node-linux-<arch> package, the AWS SDK) when its lockfile is newer than the install.
    Gives {"path", "description", "error"}; falls back to the machine's node (and says so)
    when the pinned one cannot be installed."""
    lock, stamp = NODE_DIR / "package-lock.json", NODE_DIR / "node_modules" / ".package-lock.json"
    error = None
    if not stamp.exists() or stamp.stat().st_mtime < lock.stat().st_mtime:
        npm = shutil.which("npm")
        cmd = ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"]
        print("$ (cd bench/cold-start/node && " + " ".join(cmd) + ")", flush=True)
        if npm is None:
            error = "npm not found: cannot install bench/cold-start/node"
        else:
            done = subprocess.run(cmd, cwd=NODE_DIR)
            if done.returncode != 0:
                error = f"npm ci failed in bench/cold-start/node (exit {done.returncode})"
    arch = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine().lower())
    pinned = NODE_DIR / "node_modules" / f"node-linux-{arch}" / "bin" / "node"
    if pinned.exists():
        path, how = str(pinned), "pinned, bench/cold-start/node/package-lock.json"
    else:
        path, how = shutil.which("node"), f"the machine's: the pinned node-linux-{arch} is not installed"
    if path is None:
        return {"path": None, "description": "none", "error": error or "no node binary"}
    version = subprocess.run([path, "--version"], capture_output=True, text=True).stdout.strip()
    sdk = NODE_DIR / "node_modules" / "@aws-sdk" / "client-dynamodb" / "package.json"
    sdk_version = json.loads(sdk.read_text())["version"] if sdk.exists() else None
    if sdk_version is None:
        error = error or "@aws-sdk/client-dynamodb is not installed in bench/cold-start/node"
    description = (f"{path} {version} ({how}), @aws-sdk/client-dynamodb {sdk_version}, "
                   f"runtime loop bench/cold-start/node/bootstrap.mjs")
    print(f"node: {description}", flush=True)
    return {"path": path, "description": description, "error": error}


# ---------------------------------------------------------------------------------------------
# A minimal Lambda Runtime API (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html)
# ---------------------------------------------------------------------------------------------

class Invocation:
    def __init__(self, request_id: str, event: dict):
        self.request_id = request_id
        self.event = event
        self.handed_out = 0.0
        self.done_at = 0.0
        self.outcome = ""  # "response" | "error"
        self.body = b""
        self.finished = threading.Event()


class RuntimeApi:
    """Serves one function process at a time: hands out queued invocations on `next`, records
    responses and errors with their arrival time."""

    def __init__(self):
        self.pending: "queue.Queue[Invocation | None]" = queue.Queue()
        self.by_id: dict[str, Invocation] = {}
        self.first_next_at = 0.0
        self.next_calls = threading.Event()
        self.next_count = 0
        self.waiting = threading.Condition()
        self.init_error: bytes | None = None
        self.init_failed = threading.Event()
        self.lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Each answer leaves in one segment, at once (TCP_NODELAY, headers and body through
            # one buffer, flushed by `_send`), as from Lambda's Runtime API (Go's net/http).
            # Unbuffered, the body waited behind the headers for the client's delayed ACK:
            # 40 ms stalls for a client that reads the whole answer (Node.js) before going on.
            disable_nagle_algorithm = True
            wbufsize = -1

            def log_message(self, *args):  # quiet
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    out = b""
                    while True:
                        size = int(self.rfile.readline().strip().split(b";")[0], 16)
                        if size == 0:
                            self.rfile.readline()
                            return out
                        out += self.rfile.read(size)
                        self.rfile.readline()
                n = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(n) if n else b""

            def _send(self, status: int, body: bytes = b"", headers: dict | None = None):
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                self.wfile.flush()

            def do_GET(self):
                now = time.perf_counter()
                if self.path != "/2018-06-01/runtime/invocation/next":
                    return self._send(404, b'{"errorType":"NotFound"}')
                with api.lock:
                    if not api.first_next_at:
                        api.first_next_at = now
                with api.waiting:
                    api.next_count += 1
                    api.waiting.notify_all()
                api.next_calls.set()
                inv = api.pending.get()
                if inv is None:  # the benchmark is done with this process
                    self.close_connection = True
                    return
                payload = json.dumps(inv.event).encode()
                deadline_ms = int(time.time() * 1000) + 10_000
                headers = {
                    "Lambda-Runtime-Aws-Request-Id": inv.request_id,
                    "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
                    "Lambda-Runtime-Invoked-Function-Arn": f"arn:aws:lambda:{REGION}:123456789012:function:bench",
                    "Lambda-Runtime-Trace-Id": f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};Sampled=0",
                }
                inv.handed_out = time.perf_counter()
                self._send(200, payload, headers)

            def do_POST(self):
                now = time.perf_counter()
                body = self._body()
                parts = self.path.strip("/").split("/")
                # 2018-06-01/runtime/invocation/{id}/response|error, 2018-06-01/runtime/init/error
                if parts[1:] == ["runtime", "init", "error"]:
                    api.init_error = body
                    api.init_failed.set()
                    return self._send(202, b'{"status":"OK"}')
                if len(parts) == 5 and parts[1:3] == ["runtime", "invocation"] and parts[4] in ("response", "error"):
                    inv = api.by_id.get(parts[3])
                    if inv is None:
                        return self._send(400, b'{"errorType":"InvalidRequestID"}')
                    inv.done_at = now
                    inv.outcome = parts[4]
                    inv.body = body
                    inv.finished.set()
                    return self._send(202, b'{"status":"OK"}')
                self._send(404, b'{"errorType":"NotFound"}')

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def invoke(self, event: dict, timeout: float = 30.0) -> Invocation:
        inv = Invocation(str(uuid.uuid4()), event)
        self.by_id[inv.request_id] = inv
        self.pending.put(inv)
        if not inv.finished.wait(timeout):
            raise TimeoutError("no response within %.0f s" % timeout)
        return inv

    def release(self):
        self.pending.put(None)

    def close(self):
        self.release()
        self.server.shutdown()
        self.server.server_close()


# ---------------------------------------------------------------------------------------------
# Build, AWS emulator, processes
# ---------------------------------------------------------------------------------------------

def function_binaries() -> tuple[Path, list[tuple[str, str]]]:
    """(target dir, [(package, binary)]) for every package under functions/."""
    meta = json.loads(subprocess.check_output(
        ["cargo", "metadata", "--format-version", "1", "--no-deps"], cwd=ROOT))
    fns = []
    for p in meta["packages"]:
        manifest = Path(p["manifest_path"])
        if manifest.parent.parent != ROOT / "functions":
            continue
        for t in p["targets"]:
            if "bin" in t["kind"]:
                fns.append((p["name"], t["name"]))
    return Path(meta["target_directory"]), sorted(fns)


def build(packages: list[str], jobs: str | None) -> None:
    cmd = ["cargo", "build", "--release"]
    if jobs:
        cmd += ["-j", jobs]
    for p in packages:
        cmd += ["-p", p]
    print("$ " + " ".join(cmd), flush=True)
    started = time.monotonic()
    subprocess.check_call(cmd, cwd=ROOT)
    print(f"built in {time.monotonic() - started:.0f} s", flush=True)


def is_stripped(path: Path) -> bool:
    """True when the ELF file has no symbol table (.symtab)."""
    with open(path, "rb") as f:
        head = f.read(64)
        if head[:4] != b"\x7fELF" or head[4] != 2:
            return False
        shoff, = struct.unpack_from("<Q", head, 0x28)
        shentsize, shnum, _ = struct.unpack_from("<HHH", head, 0x3A)
        f.seek(shoff)
        for _ in range(shnum):
            sh = f.read(shentsize)
            if struct.unpack_from("<I", sh, 4)[0] == 2:  # SHT_SYMTAB
                return False
    return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto() -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, endpoint
        except OSError:
            time.sleep(0.1)
    proc.kill()
    sys.exit("bench: moto server did not start within 30 s")


def create_resources(endpoint: str, table: str) -> str:
    import boto3
    kw = dict(endpoint_url=endpoint, region_name=REGION, aws_access_key_id="testing",
              aws_secret_access_key="testing")
    ddb = boto3.client("dynamodb", **kw)
    s = lambda n: {"AttributeName": n, "AttributeType": "S"}  # noqa: E731
    ddb.create_table(
        TableName=table, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[s("pk"), s("sk"), s("gsi1pk"), s("gsi1sk")],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[{
            "IndexName": "gsi1",
            "KeySchema": [{"AttributeName": "gsi1pk", "KeyType": "HASH"},
                          {"AttributeName": "gsi1sk", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "ALL"}}])
    ddb.update_time_to_live(TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"})
    sqs = boto3.client("sqs", **kw)
    return sqs.create_queue(QueueName=f"{table}-sync")["QueueUrl"]


def function_env(binary: str, runtime_port: int, endpoint: str, table: str, queue_url: str) -> dict:
    """What Lambda and template.yaml give a function, pointed at moto."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
        # Lambda's own variables
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{runtime_port}",
        "AWS_LAMBDA_FUNCTION_NAME": f"bench-{binary}",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/bench/{binary}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_LAMBDA_LOG_LEVEL": "INFO",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "_HANDLER": "bootstrap",
        "LAMBDA_TASK_ROOT": "/var/task",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_ENDPOINT_URL": endpoint,
        # template.yaml's Globals
        "TABLE_NAME": table,
        "SECRET_PREFIX": f"{table}-secrets",
        "TENANT_CLAIM": "tenant_id",
        "ALLOWED_RETURN_URLS": "https://app.example.se",
        "DEFAULT_RETURN_URL": "https://app.example.se/settings/integrations",
        "PUBLIC_API_URL": "https://api.example.se",
        "FORTNOX_CLIENT_ID": "bench", "FORTNOX_CLIENT_SECRET": "bench",
        "VISMA_CLIENT_ID": "bench", "VISMA_CLIENT_SECRET": "bench",
        "SYNC_QUEUE_URL": queue_url,
        "RUST_LOG": "INFO,hyper=warn,hyper_util=warn,h2=warn,rustls=warn",
    }
    # template.yaml names Amazon Linux 2023's CA bundle in SSL_CERT_FILE; name this host's.
    bundle = next((p for p in CA_BUNDLES if Path(p).is_file()), None)
    if bundle:
        env["SSL_CERT_FILE"] = bundle
    env.update({k[len("BENCH_ENV_"):]: v for k, v in os.environ.items() if k.startswith("BENCH_ENV_")})
    return env


def proc_status(pid: int) -> dict:
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            k, _, v = line.partition(":")
            if k in ("VmHWM", "VmRSS"):
                out[k] = int(v.split()[0]) / 1024  # kB -> MiB
    except OSError:
        pass
    return out


def init_cpu(cmd: list[str], env_base: dict, log) -> float | None:
    """CPU time (user + system, ms) the process spends until its first `next`: it is killed
    there and its rusage read. Unlike wall time, this hardly moves with the machine's load."""
    api = RuntimeApi()
    env = dict(env_base, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{api.port}")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        if not api.next_calls.wait(30):
            return None
        proc.kill()
        _, _, usage = os.wait4(proc.pid, 0)
        proc.returncode = -9
        return (usage.ru_utime + usage.ru_stime) * 1000
    finally:
        if proc.returncode is None:
            proc.kill()
            proc.wait()
        api.close()


def run_once(cmd: list[str], request: tuple, env_base: dict, warm: int, log) -> dict:
    """Starts the function once: init, first invocation, `warm` more, peak memory.
    `request` is (what, event factory, expected HTTP status or None), as in REQUESTS."""
    api = RuntimeApi()
    env = dict(env_base, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{api.port}")
    what, make_event, expect = request
    result = {"error": None}
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not api.next_calls.wait(0.05):
            if api.init_failed.is_set() or proc.poll() is not None or time.monotonic() > deadline:
                detail = (api.init_error or b"").decode(errors="replace")
                result["error"] = f"init failed (exit {proc.poll()}): {detail[:300]}"
                return result
        result["init_ms"] = (api.first_next_at - started) * 1000
        result["after_init"] = proc_status(proc.pid)
        if make_event is None:
            result["error"] = "no request defined for this function in bench/cold-start/run.py"
            return result
        latencies = []
        for i in range(1 + warm):
            inv = api.invoke(make_event())
            latencies.append((inv.done_at - inv.handed_out) * 1000)
            if inv.outcome != "response":
                result["error"] = f"invocation {i} answered {inv.outcome}: {inv.body[:300]!r}"
                return result
            if expect is not None:
                status = json.loads(inv.body or b"{}").get("statusCode")
                if status not in expect:
                    result["error"] = f"invocation {i} answered HTTP {status}, expected {expect}: {inv.body[:300]!r}"
                    return result
        # The process now waits in `next` again: read its peak memory before stopping it.
        with api.waiting:
            api.waiting.wait_for(lambda: api.next_count > 1 + warm, timeout=5)
        result["first_ms"] = latencies[0]
        result["warm_ms"] = statistics.median(latencies[1:]) if warm else float("nan")
        result.update(proc_status(proc.pid))
        return result
    finally:
        api.release()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        api.close()


# ---------------------------------------------------------------------------------------------

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--no-build", action="store_true", help="use the release binaries already built")
    ap.add_argument("--functions", help="comma-separated subset (default: every package under functions/)")
    ap.add_argument("--cold-runs", type=int, default=15, help="process starts per function (default 15)")
    ap.add_argument("--warm", type=int, default=20, help="warm invocations per start (default 20)")
    ap.add_argument("--jobs", "-j", help="cargo build jobs (default: cargo's; CARGO_BUILD_JOBS works too)")
    ap.add_argument("--binaries", help="directory of the binaries to measure (default: <target>/release); implies --no-build")
    ap.add_argument("--no-floor", action="store_true", help="leave out the Rust floor (and its targets)")
    ap.add_argument("--no-node", action="store_true", help="leave out the Node.js reference (and its targets)")
    ap.add_argument("--json", help="also write the results to this file")
    ap.add_argument("--no-fail", action="store_true", help="exit 0 even when a target is missed")
    args = ap.parse_args()

    target_dir, fns = function_binaries()
    if args.functions:
        wanted = {f.strip() for f in args.functions.split(",") if f.strip()}
        unknown = wanted - {p for p, _ in fns}
        if unknown:
            sys.exit(f"bench: no such function package: {', '.join(sorted(unknown))}")
        fns = [(p, b) for p, b in fns if p in wanted]
    bin_dir = Path(args.binaries) if args.binaries else target_dir / "release"
    if not args.no_build and not args.binaries:
        build([p for p, _ in fns] + ([] if args.no_floor else [FLOOR_PACKAGE]), args.jobs)
    node = None if args.no_node else install_node()

    out_dir = target_dir / "cold-start"
    out_dir.mkdir(parents=True, exist_ok=True)
    moto, endpoint = start_moto()
    rows = []
    try:
        table = f"bench-{uuid.uuid4().hex[:8]}"
        queue_url = create_resources(endpoint, table)
        print(f"moto at {endpoint}, table {table}; logs in {out_dir}/<function>.log", flush=True)

        # What is measured: the references first, then the functions.
        subjects = []
        if not args.no_floor:
            subjects.append(Subject(FLOOR, "floor", [str(bin_dir / FLOOR_PACKAGE)], FLOOR_REQUEST,
                                    function_env(FLOOR_PACKAGE, 0, endpoint, table, queue_url), bin_dir / FLOOR_PACKAGE))
        if not args.no_node:
            env = dict(function_env("node", 0, endpoint, table, queue_url), **NODE_ENV, LAMBDA_TASK_ROOT=str(NODE_DIR))
            cmd = [node["path"], *node_flags(int(env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"])), str(NODE_DIR / "bootstrap.mjs")] \
                if node["path"] else []
            subjects.append(Subject(NODE, "node", cmd, NODE_REQUEST, env, None, error=node["error"]))
        for package, binary in fns:
            subjects.append(Subject(package, "function", [str(bin_dir / binary)],
                                    REQUESTS.get(package, ("(no request defined)", None, None)),
                                    function_env(binary, 0, endpoint, table, queue_url), bin_dir / binary))
        for s in subjects:
            if s.binary is not None and not s.binary.exists():
                s.error = f"{s.binary} is missing (build it, or drop --no-build)"
            s.log = open(out_dir / f"{s.name}.log", "wb")

        # Round robin: every subject is started once per round, so that a change in the machine's
        # load during the run weighs on all of them alike (the ratios compare within one run).
        rounds = max(1, args.cold_runs)
        for i in range(rounds):
            print(f"round {i + 1}/{rounds} ...", flush=True)
            for s in subjects:
                if s.error is None:
                    s.runs.append(run_once(s.cmd, s.request, s.env, args.warm, s.log))
                    s.error = s.runs[-1]["error"]
        print("init cpu ...", flush=True)
        for _ in range(3):
            for s in subjects:
                if s.error is None:
                    c = init_cpu(s.cmd, s.env, s.log)
                    if c is not None:
                        s.cpu.append(c)
        rows = [s.row() for s in subjects]
    finally:
        moto.terminate()
        try:
            moto.wait(5)
        except subprocess.TimeoutExpired:
            moto.kill()

    print()
    misses = report(rows, node)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2, default=str))
    if misses and not args.no_fail:
        return 1
    return 0


class Subject:
    """One thing measured: a function, the Rust floor or the Node.js reference."""

    def __init__(self, name, kind, cmd, request, env, binary, error=None):
        self.name, self.kind, self.cmd, self.request, self.env, self.binary = name, kind, cmd, request, env, binary
        self.error = error
        self.runs: list[dict] = []
        self.cpu: list[float] = []
        self.log = None

    def row(self) -> dict:
        if self.log:
            self.log.close()
        exists = self.binary is not None and self.binary.exists()
        ok = [r for r in self.runs if not r["error"]]
        row = {
            "function": self.name,
            "kind": self.kind,
            "command": self.cmd,
            "size_mib": self.binary.stat().st_size / 2**20 if exists else None,
            "stripped": is_stripped(self.binary) if exists else None,
            "request": self.request[0],
            "runs": self.runs,
            "error": self.error,
        }
        if ok:
            row["init_ms"] = statistics.median(r["init_ms"] for r in ok)
            row["init_min_ms"] = min(r["init_ms"] for r in ok)
            row["first_ms"] = statistics.median(r["first_ms"] for r in ok)
            row["warm_ms"] = statistics.median(r["warm_ms"] for r in ok)
            row["init_cpu_ms"] = statistics.median(self.cpu) if self.cpu else None
            row["peak_mib"] = max(r.get("VmHWM", float("nan")) for r in ok)
            row["rss_after_init_mib"] = max(r["after_init"].get("VmHWM", float("nan")) for r in ok)
        return row


HEADER = (f"{'function':<15} {'size MiB':>8} {'init ms':>8} {'(min)':>6} {'init cpu':>8} {'first ms':>9} "
          f"{'warm ms':>8} {'peak MiB':>9}  ")


def fmt(v, spec):
    return format(v, spec) if isinstance(v, (int, float)) else format("-", spec.split(".")[0])


def print_row(row, verdict_text):
    print(f"{row['function']:<15} {fmt(row['size_mib'], '>8.2f')} {fmt(row.get('init_ms'), '>8.1f')} "
          f"{fmt(row.get('init_min_ms'), '>6.1f')} {fmt(row.get('init_cpu_ms'), '>8.1f')} {fmt(row.get('first_ms'), '>9.1f')} "
          f"{fmt(row.get('warm_ms'), '>8.2f')} {fmt(row.get('peak_mib'), '>9.1f')}  {verdict_text}", flush=True)


def ratio(row, ref, key):
    a, b = row.get(key), (ref or {}).get(key)
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)) or not b:
        return None
    return a / b


def misses_of(row, refs: dict) -> list[str]:
    """The targets a function misses; `refs` maps "floor"/"node" to their rows (absent: not measured)."""
    m = []
    if row["error"]:
        m.append("error: " + row["error"])
    if row["size_mib"] is not None and row["size_mib"] > TARGET_SIZE_MIB:
        m.append(f"size {row['size_mib']:.2f} MiB > {TARGET_SIZE_MIB:g}")
    if row["stripped"] is False:
        m.append("not stripped")
    if row.get("init_ms", 0) > TARGET_INIT_MS:
        m.append(f"init {row['init_ms']:.1f} ms > {TARGET_INIT_MS:g}")
    if row.get("peak_mib", 0) > TARGET_PEAK_MIB:
        m.append(f"peak {row['peak_mib']:.1f} MiB > {TARGET_PEAK_MIB:g}")
    if row["error"]:
        return m
    for kind, limit in (("node", TARGET_INIT_VS_NODE), ("floor", TARGET_INIT_VS_FLOOR)):
        if kind not in refs:
            continue
        r = ratio(row, refs[kind], "init_ms")
        if r is None:
            m.append(f"no init figure of the {kind} to compare with")
        elif r > limit:
            m.append(f"init {r:.2f} x {kind} > {limit:g}")
    return m


def report(rows, node) -> int:
    refs = {r["kind"]: r for r in rows if r["kind"] != "function"}
    funcs = [r for r in rows if r["kind"] == "function"]
    print(HEADER + "verdict")
    for r in rows:
        if r["kind"] != "function":
            print_row(r, "reference" + (f": ERROR {r['error']}" if r["error"] else ""))
    for r in funcs:
        m = misses_of(r, refs)
        print_row(r, "ok" if not m else "MISS: " + "; ".join(m))

    if refs:
        cols = [("init", "init_ms"), ("init cpu", "init_cpu_ms"), ("first", "first_ms"),
                ("init+first", "cold_ms"), ("warm", "warm_ms"), ("peak", "peak_mib")]
        for r in rows:
            if "init_ms" in r:
                r["cold_ms"] = r["init_ms"] + r["first_ms"]
        kinds = [k for k in ("node", "floor") if k in refs]
        width = 7 * len(kinds)
        print(f"\nours / reference ({' and '.join(NAMES[k] for k in kinds)}), medians of this run:")
        print(f"{'':<15}" + "".join(f"  {c:>{width}}" for c, _ in cols))
        print(f"{'function':<15}" + "".join("  " + "".join(f"{'/' + k:>7}" for k in kinds) for _ in cols))
        for r in funcs:
            cells = ["  " + "".join(f"{fmt(ratio(r, refs[k], key), '>7.2f')}" for k in kinds) for _, key in cols]
            print(f"{r['function']:<15}" + "".join(cells))
            r["ratios"] = {k: {key: ratio(r, refs[k], key) for _, key in cols} for k in kinds}

    misses = sum(1 for r in funcs if misses_of(r, refs))
    print(f"\ntargets: init <= {TARGET_INIT_MS:g} ms (median of the starts), peak memory <= {TARGET_PEAK_MIB:g} MiB, "
          f"binary <= {TARGET_SIZE_MIB:g} MiB, stripped"
          + ("" if "node" not in refs else f"; init <= {TARGET_INIT_VS_NODE:g} x Node's")
          + ("" if "floor" not in refs else f"; init <= {TARGET_INIT_VS_FLOOR:g} x the floor's"))
    if node:
        print(f"node: {node['description']}")
    print("requests:")
    for r in rows:
        print(f"  {r['function']:<15} {r['request']}")
    print(f"\n{len(funcs) - misses} of {len(funcs)} functions meet every target" + ("" if not misses else f"; {misses} miss"))
    return misses


if __name__ == "__main__":
    reexec_in_venv()
    sys.exit(main())
