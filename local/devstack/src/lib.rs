//! The whole system on one machine: moto for AWS, the provider sandbox, and every function
//! served on loopback the way API Gateway's HTTP API would serve it (JWT verified, claims
//! passed in the request context, path parameters matched). Tests use the same [`Stack`], and
//! a stack that is dropped asserts that every request and response it saw kept to the
//! providers' OpenAPI contracts ([`Stack::assert_contracts_kept`]).

pub mod aws;
pub mod aws_faults;
pub mod console;
pub mod gateway;
pub mod jwt;
pub mod metering;
pub mod moto;
pub mod poller;
pub mod real;
pub mod runtime_api;

use shared::domain::ProviderKind;
use shared::{AppContext, Config};
use std::collections::HashMap;
use std::sync::Arc;

pub use gateway::{Function, ROUTES};

/// Dev JWT settings: the issuer, audience and HS256 key the local gateway accepts.
pub const DEV_ISSUER: &str = "https://auth.devstack.local/";
/// Audience of dev JWTs.
pub const DEV_AUDIENCE: &str = "accounting-integrations";

/// The HS256 key of dev JWTs: the same in every devstack, so `make token` can mint a token
/// for a running stack without asking it. Not a secret; the devstack is never deployed.
pub const DEV_SIGNING_KEY: &[u8] = b"devstack-only-signing-key-not-a-secret";

/// The signer and verifier of dev JWTs.
pub fn dev_jwt() -> jwt::DevJwt {
    jwt::DevJwt::new(DEV_ISSUER, DEV_AUDIENCE, DEV_SIGNING_KEY)
}

/// What to start.
#[derive(Clone, Debug)]
pub struct StackOptions {
    /// Port for the API (0 = any free port).
    pub api_port: u16,
    /// Port for the sandbox (0 = any free port).
    pub sandbox_port: u16,
    /// Port for the stack's moto server (0 = any free port).
    pub moto_port: u16,
    /// DynamoDB table name (unique per test).
    pub table_name: String,
    /// Secret name prefix (unique per test).
    pub secret_prefix: String,
    /// Extra or overriding configuration variables.
    pub env: HashMap<String, String>,
    /// Sandbox configuration.
    pub sandbox: sandbox::SandboxConfig,
    /// Worker pollers on the sync queue (0 = none; tests then drive the queue themselves).
    pub workers: usize,
    /// Visibility timeout of the sync queue, seconds.
    pub visibility_timeout: u64,
    /// Put the fault-injecting AWS proxy ([`aws_faults`]) between the functions and moto
    /// (faults stay off until [`Stack::set_aws_faults`]). Also switched on by the environment
    /// variable `DEVSTACK_AWS_FAULTS` (its value, a rate such as `0.1`, is then set at once).
    pub aws_faults: bool,
}

impl Default for StackOptions {
    fn default() -> Self {
        let run = uuid::Uuid::new_v4().simple().to_string();
        StackOptions {
            api_port: 0,
            sandbox_port: 0,
            moto_port: 0,
            table_name: format!("integrations-{}", &run[..12]),
            secret_prefix: format!("accounting-integrations-{}", &run[..12]),
            env: HashMap::new(),
            // The strictest provider behaviour: presenting a spent refresh token revokes its
            // whole family, so a product that spends a refresh token twice loses the grant.
            sandbox: sandbox::SandboxConfig {
                refresh_reuse_revokes_family: true,
                ..sandbox::SandboxConfig::with_defaults()
            },
            workers: 2,
            visibility_timeout: 30,
            aws_faults: false,
        }
    }
}

/// A running stream consumer (see [`Stack::start_stream`]).
pub struct StreamConsumer {
    task: tokio::task::JoinHandle<()>,
    reports: Arc<std::sync::Mutex<Vec<shared::stream::RunReport>>>,
}

impl StreamConsumer {
    /// Stops it at once, mid-run.
    pub fn kill(&self) {
        self.task.abort();
    }

    /// The reports of the runs that ended so far.
    pub fn reports(&self) -> Vec<shared::stream::RunReport> {
        self.reports.lock().expect("reports").clone()
    }
}

impl Drop for StreamConsumer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A running system.
pub struct Stack {
    /// Base URL of the API (`http://127.0.0.1:port`).
    pub api_url: String,
    /// The provider sandbox.
    pub sandbox: sandbox::RunningSandbox,
    /// The functions' context (the same one the gateway serves with).
    pub ctx: Arc<AppContext>,
    /// AWS configuration pointing straight at moto (never through the fault proxy): for a
    /// test's own setup and inspection.
    pub sdk: aws_config::SdkConfig,
    /// A context over `sdk`, straight to moto, for a test's own reads and writes; the same as
    /// `ctx` unless the fault proxy is on.
    pub direct: Arc<AppContext>,
    /// The fault-injecting proxy the functions talk to AWS through, when asked for.
    pub aws_faults: Option<aws_faults::AwsFaultProxy>,
    function_sdk: aws_config::SdkConfig,
    /// The customer-managed key the secrets are encrypted with.
    pub kms_key_arn: String,
    /// The configuration variables the functions were built from.
    pub vars: HashMap<String, String>,
    /// The dev JWT signing key.
    pub jwt: jwt::DevJwt,
    /// The sync queue and its dead-letter queue.
    pub queues: aws::Queues,
    /// The stack's own moto server (stops with the stack).
    pub moto: moto::Moto,
    workers: std::sync::Mutex<Vec<poller::Pollers>>,
    server: tokio::task::JoinHandle<()>,
}

impl Stack {
    /// Starts moto (once per process), the sandbox, the table and key, and the API.
    pub async fn start(
        opts: StackOptions,
    ) -> Result<Stack, Box<dyn std::error::Error + Send + Sync>> {
        let moto = moto::start_own(opts.moto_port).await?;
        let sdk = aws::sdk_config(&moto.endpoint).await;
        aws::create_table(&sdk, &opts.table_name).await?;
        let kms_key_arn = aws::create_key(&sdk).await?;
        let queues = aws::create_queues(&sdk, &opts.table_name, opts.visibility_timeout, 5).await?;
        let env_rate = std::env::var("DEVSTACK_AWS_FAULTS")
            .ok()
            .and_then(|r| r.trim().parse::<f64>().ok());
        let aws_faults = if opts.aws_faults || env_rate.is_some() {
            let proxy = aws_faults::AwsFaultProxy::start(&moto.endpoint).await?;
            if let Some(rate) = env_rate {
                proxy.set_faults(aws_faults::FaultConfig::rate(rate, 1));
            }
            Some(proxy)
        } else {
            None
        };
        let function_sdk = match &aws_faults {
            Some(p) => aws::sdk_config(&p.endpoint).await,
            None => sdk.clone(),
        };

        let mut sandbox_config = opts.sandbox.clone();
        sandbox_config.bind = std::net::SocketAddr::from(([127, 0, 0, 1], opts.sandbox_port));
        let sandbox = sandbox::start(sandbox_config).await?;

        let listener = tokio::net::TcpListener::bind(("127.0.0.1", opts.api_port)).await?;
        let api_url = format!("http://{}", listener.local_addr()?);

        let mut vars: HashMap<String, String> = [
            ("TABLE_NAME", opts.table_name.clone()),
            ("SECRET_PREFIX", opts.secret_prefix.clone()),
            // Webhook keys apart from the tokens, as template.yaml names them.
            (
                "WEBHOOK_SECRET_PREFIX",
                format!("{}-webhooks", opts.secret_prefix),
            ),
            ("KMS_KEY_ID", kms_key_arn.clone()),
            ("TENANT_CLAIM", "tenant_id".into()),
            (
                "ALLOWED_RETURN_URLS",
                format!("{api_url},http://localhost:5173"),
            ),
            ("DEFAULT_RETURN_URL", format!("{api_url}/dev/return")),
            ("PUBLIC_API_URL", api_url.clone()),
            // The webhook function's URL in AWS; here the same listener serves it.
            ("WEBHOOK_BASE_URL", api_url.clone()),
            ("FORTNOX_AUTH_URL", format!("{}/fortnox", sandbox.base_url)),
            ("FORTNOX_API_URL", format!("{}/fortnox", sandbox.base_url)),
            ("VISMA_IDENTITY_URL", format!("{}/visma", sandbox.base_url)),
            ("VISMA_API_URL", format!("{}/visma", sandbox.base_url)),
            ("FORTNOX_CLIENT_ID", "fortnox-dev-client".into()),
            ("FORTNOX_CLIENT_SECRET", "fortnox-dev-secret".into()),
            ("VISMA_CLIENT_ID", "visma-dev-client".into()),
            ("VISMA_CLIENT_SECRET", "visma-dev-secret".into()),
            ("SYNC_QUEUE_URL", queues.sync_url.clone()),
            ("SLICE_SECONDS", "20".into()),
            ("LEASE_GRACE_SECONDS", "5".into()),
            ("BUSY_RETRY_SECONDS", "1".into()),
            ("BACKOFF_BASE_SECONDS", "1".into()),
            ("BACKOFF_CAP_SECONDS", "2".into()),
            // A create whose answer was lost waits this long for a late commit before it is
            // sent again (300 s in production). The sandbox commits late within seconds; a
            // killed worker's create that never reached it must not hold a test for minutes.
            ("CREATE_SETTLE_SECONDS", "10".into()),
            // Fortnox's change stream: the sandbox's socket; new connections join within
            // seconds, and a consumer that dies hands over after five (the lease's life).
            (
                "FORTNOX_STREAM_URL",
                format!(
                    "{}/fortnox/topics-v1",
                    sandbox.base_url.replacen("http", "ws", 1)
                ),
            ),
            ("STREAM_MEMBERSHIP_SECONDS", "2".into()),
            ("STREAM_HANDOVER_SECONDS", "5".into()),
            ("STREAM_BATCH_MS", "100".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        vars.extend(opts.env.clone());
        let config = Config::from_lookup(|k| vars.get(k).cloned())?;
        let ctx = Arc::new(AppContext::new(config.clone(), &function_sdk));
        let direct = match aws_faults {
            Some(_) => Arc::new(AppContext::new(config, &sdk)),
            None => ctx.clone(),
        };
        let jwt = dev_jwt();
        let server = tokio::spawn(gateway::serve(
            listener,
            ctx.clone(),
            jwt.clone(),
            vars.get("TENANT_CLAIM").cloned().unwrap_or_default(),
        ));
        let stack = Stack {
            api_url,
            sandbox,
            ctx,
            sdk,
            direct,
            aws_faults,
            function_sdk,
            kms_key_arn,
            vars,
            jwt,
            queues,
            moto,
            workers: std::sync::Mutex::new(Vec::new()),
            server,
        };
        stack.start_workers(opts.workers);
        Ok(stack)
    }

    /// Starts `n` worker pollers on the sync queue and one on the dead-letter queue, each
    /// over its own "container" (its own context and caches), like Lambda would.
    pub fn start_workers(&self, n: usize) {
        if n == 0 {
            return;
        }
        let mut w = self.workers.lock().expect("workers lock");
        for _ in 0..n {
            let ctx = Arc::new(self.metered_container("worker"));
            w.push(poller::Pollers::start(
                ctx,
                aws_sdk_sqs::Client::new(&self.sdk),
                self.queues.sync_url.clone(),
                poller::Target::Worker,
                1,
                1,
            ));
        }
        let ctx = Arc::new(self.new_container());
        w.push(poller::Pollers::start(
            ctx,
            aws_sdk_sqs::Client::new(&self.sdk),
            self.queues.dead_letter_url.clone(),
            poller::Target::DeadLetter,
            1,
            10,
        ));
    }

    /// Starts the Fortnox stream consumer as EventBridge would: a run after another, each in a
    /// container of its own, every second while the stream is held by none (a run that finds
    /// it held ends at once). Dropping or [`StreamConsumer::kill`]ing the handle stops it
    /// mid-run, as a crash would: its lease then runs out and the next consumer takes over.
    pub fn start_stream(&self, run: std::time::Duration) -> StreamConsumer {
        let ctx = Arc::new(self.new_container());
        let settings = shared::stream::StreamSettings::from_lookup(|k| self.vars.get(k).cloned());
        let reports = Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = reports.clone();
        let task = tokio::spawn(async move {
            loop {
                let deadline = tokio::time::Instant::now() + run;
                match shared::stream::run(&ctx, &settings, deadline).await {
                    Ok(r) => {
                        let skipped = r.role == "skipped";
                        kept.lock().expect("reports").push(r);
                        if skipped {
                            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "stream run failed");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    }
                }
            }
        });
        StreamConsumer { task, reports }
    }

    /// Kills every worker at once, mid-invocation, as a crash would.
    pub fn kill_workers(&self) {
        let mut w = self.workers.lock().expect("workers lock");
        for p in w.iter() {
            p.kill();
        }
        w.clear();
    }

    /// Waits until the job is in a terminal state; gives it.
    pub async fn wait_for_job(
        &self,
        integration_id: &str,
        job_id: &str,
        timeout: std::time::Duration,
    ) -> Result<shared::domain::Job, Box<dyn std::error::Error + Send + Sync>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(j) = self.direct.db.get_job(integration_id, job_id).await? {
                if j.state.is_terminal() {
                    return Ok(j);
                }
                if tokio::time::Instant::now() > deadline {
                    return Err(format!(
                        "job {job_id} still {} after {timeout:?}: {:?}, {} attempt(s), {} slice(s), last error {:?}",
                        j.state, j.progress, j.attempts, j.slices, j.last_error
                    )
                    .into());
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// A container of `function` whose waits on AWS are metered apart
    /// ([`metering::aws_waits`]) when the stack runs the AWS proxy.
    pub fn metered_container(&self, function: &str) -> AppContext {
        static CONTAINERS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let Some(proxy) = &self.aws_faults else {
            return self.new_container();
        };
        let n = CONTAINERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let sdk = self
            .function_sdk
            .to_builder()
            .endpoint_url(format!("{}/fn/{function}-{n}", proxy.endpoint))
            .build();
        self.container_over(&sdk)
    }

    /// Another context over the same configuration: a second "container" with its own caches.
    pub fn new_container(&self) -> AppContext {
        self.container_over(&self.function_sdk)
    }

    fn container_over(&self, sdk: &aws_config::SdkConfig) -> AppContext {
        let config = Config::from_lookup(|k| self.vars.get(k).cloned())
            .expect("configuration was valid once");
        AppContext::new(config, sdk)
    }

    /// Sets the AWS faults the functions meet from now on; panics unless the stack was started
    /// with [`StackOptions::aws_faults`].
    #[track_caller]
    pub fn set_aws_faults(&self, config: aws_faults::FaultConfig) {
        self.aws_faults
            .as_ref()
            .expect("the stack was started with aws_faults: true")
            .set_faults(config);
    }

    /// What the AWS fault proxy saw and injected, by service and operation (empty without it).
    pub fn aws_fault_counts(&self) -> aws_faults::Counts {
        self.aws_faults
            .as_ref()
            .map(|p| p.counts())
            .unwrap_or_default()
    }

    /// A dev JWT for `tenant`, as the frontend would send it.
    pub fn token_for(&self, tenant: &str) -> String {
        self.jwt.sign_for_tenant(tenant, 3600)
    }

    /// An HTTP client that does not follow redirects.
    pub fn http(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http client")
    }

    /// Calls the API as `tenant`.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        tenant: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> Result<ApiResponse, reqwest::Error> {
        let token = tenant.map(|t| self.token_for(t));
        self.send(method, path, token.as_deref(), body).await
    }

    /// Calls the API with a JWT of the caller's making (another user, odd claims).
    pub async fn call_with_token(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<serde_json::Value>,
    ) -> Result<ApiResponse, reqwest::Error> {
        self.send(method, path, Some(token), body).await
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> Result<ApiResponse, reqwest::Error> {
        let mut rb = self
            .http()
            .request(method, format!("{}{path}", self.api_url));
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let resp = rb.send().await?;
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = resp.text().await?;
        let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
        Ok(ApiResponse {
            status,
            content_type,
            location,
            json,
            text,
        })
    }

    /// The whole consent flow for `tenant` and `provider`: create, connect, approve or deny
    /// at the sandbox, return through the callback, and confirm as the same person when the
    /// callback asks for it (what the app's frontend does). Gives the integration id and the
    /// callback's redirect location.
    pub async fn connect(
        &self,
        tenant: &str,
        provider: ProviderKind,
        approve: bool,
    ) -> Result<(String, String), Box<dyn std::error::Error + Send + Sync>> {
        let (id, callback) = self.create_and_consent(tenant, provider, approve).await?;
        let back = self.follow_callback(&callback).await?;
        self.confirm_if_asked(tenant, &back).await?;
        Ok((id, back))
    }

    /// When `back` (where the callback sent the browser) asks for confirmation, confirms as
    /// `tenant`'s user, the way the app's frontend does; an error unless that connects.
    pub async fn confirm_if_asked(
        &self,
        tenant: &str,
        back: &str,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        if query_of(back).get("status").map(String::as_str) != Some("confirm") {
            return Ok(());
        }
        let r = self.confirm(tenant, None, back).await?;
        if r.status != 200 {
            return Err(format!("confirm answered {}: {}", r.status, r.text).into());
        }
        Ok(())
    }

    /// Posts the confirmation `back` carries as `tenant`, as `user` (default: the tenant's
    /// user, `user-of-<tenant>`).
    pub async fn confirm(
        &self,
        tenant: &str,
        user: Option<&str>,
        back: &str,
    ) -> Result<ApiResponse, reqwest::Error> {
        let q = query_of(back);
        let id = q.get("integration_id").cloned().unwrap_or_default();
        let body = serde_json::json!({
            "confirmation": q.get("confirmation").cloned().unwrap_or_default()
        });
        let path = format!("/api/integrations/{id}/confirm");
        match user {
            None => {
                self.call(reqwest::Method::POST, &path, Some(tenant), Some(body))
                    .await
            }
            Some(u) => {
                self.call_with_token(
                    reqwest::Method::POST,
                    &path,
                    &self.jwt.sign_for(tenant, u, 3600),
                    Some(body),
                )
                .await
            }
        }
    }

    /// Creates an integration, starts consent and answers it at the sandbox. Gives the
    /// integration id and the callback URL the provider sends the browser to, not yet followed
    /// (tests replay it, let it expire or break the provider first).
    pub async fn create_and_consent(
        &self,
        tenant: &str,
        provider: ProviderKind,
        approve: bool,
    ) -> Result<(String, String), Box<dyn std::error::Error + Send + Sync>> {
        let created = self
            .call(
                reqwest::Method::POST,
                "/api/integrations/create",
                Some(tenant),
                Some(serde_json::json!({"provider": provider.as_str()})),
            )
            .await?;
        if created.status != 201 {
            return Err(format!("create answered {}: {}", created.status, created.text).into());
        }
        let id = created.json["id"].as_str().unwrap_or_default().to_string();
        let callback = self.consent_callback(tenant, &id, approve).await?;
        Ok((id, callback))
    }

    /// Starts consent on an existing integration, answers it at the sandbox, follows the
    /// callback and confirms when asked. Gives the callback's redirect location.
    pub async fn consent(
        &self,
        tenant: &str,
        id: &str,
        approve: bool,
    ) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
        let callback = self.consent_callback(tenant, id, approve).await?;
        let back = self.follow_callback(&callback).await?;
        self.confirm_if_asked(tenant, &back).await?;
        Ok(back)
    }

    /// Starts consent on an existing integration and answers it at the sandbox. Gives the
    /// callback URL, not yet followed.
    pub async fn consent_callback(
        &self,
        tenant: &str,
        id: &str,
        approve: bool,
    ) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
        let start = self
            .call(
                reqwest::Method::POST,
                &format!("/api/integrations/{id}/connect"),
                Some(tenant),
                None,
            )
            .await?;
        let auth_url = start.json["authorization_url"]
            .as_str()
            .ok_or_else(|| format!("connect answered {}: {}", start.status, start.text))?;
        Ok(sandbox::give_consent(&self.http(), auth_url, approve).await?)
    }

    /// Follows a provider redirect to our callback and gives where the callback sends the
    /// browser.
    pub async fn follow_callback(
        &self,
        callback: &str,
    ) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
        let resp = self.http().get(callback).send().await?;
        if resp.status().as_u16() != 302 {
            return Err(format!("callback answered {}", resp.status()).into());
        }
        Ok(resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string())
    }
}

impl Stack {
    /// Panics, listing the violations grouped by operation, when a request the product sent
    /// or a response the sandbox answered broke the provider's OpenAPI contract (the sandbox
    /// checks every one of them against `local/sandbox/contracts/`).
    #[track_caller]
    pub fn assert_contracts_kept(&self) {
        self.sandbox.assert_contracts_kept();
    }
}

/// Dropping a stack stops its API, and (unless the thread is already panicking) asserts that
/// every request and response it saw kept to the providers' contracts: every test that talks
/// to a provider ends with that check, and no test can forget it.
impl Drop for Stack {
    fn drop(&mut self) {
        self.server.abort();
        if !std::thread::panicking() {
            self.sandbox.assert_contracts_kept();
        } else {
            // The test failed already; still show what broke the contracts.
            let report = self.sandbox.contract_report();
            if !report.is_empty() {
                eprintln!("{report}");
            }
        }
    }
}

/// An API answer, read whole.
#[derive(Debug, Clone)]
pub struct ApiResponse {
    /// HTTP status.
    pub status: u16,
    /// Content type.
    pub content_type: String,
    /// Location header of a redirect.
    pub location: Option<String>,
    /// The body as JSON (`Null` when it is not JSON).
    pub json: serde_json::Value,
    /// The body as text.
    pub text: String,
}

/// The query parameters of a URL, as a map.
pub fn query_of(url: &str) -> HashMap<String, String> {
    url::Url::parse(url)
        .map(|u| u.query_pairs().into_owned().collect())
        .unwrap_or_default()
}
