//! Least privilege for secrets, read from `template.yaml` itself: which function may do what to
//! the OAuth token secrets (`{SecretPrefix}/*`), the webhook key secrets
//! (`{SecretPrefix}-webhooks/*`) and the app credentials, and with which KMS actions.
//!
//! The policies are evaluated, not string-compared: every `Allow` statement is matched (ARN
//! globs with `*`, `StringLike` on `kms:EncryptionContext:SecretARN`) against concrete secret
//! ARNs built from the template's own parameter defaults and environment variables. Moto does
//! not enforce IAM, so this is what keeps a policy from quietly widening.

use serde_yaml::Value;
use std::collections::{BTreeMap, BTreeSet};

const REGION: &str = "eu-north-1";
const ACCOUNT: &str = "123456789012";
const KEY_ARN: &str = "arn:aws:kms:eu-north-1:123456789012:key/SecretsKey";
const CREDENTIALS_ARN: &str =
    "arn:aws:secretsmanager:eu-north-1:123456789012:secret:app-credentials-Ab12Cd";

/// The functions that call the token manager or read tokens (worker: every sync slice;
/// scheduler: `refresh_ahead`; confirm: stores the tokens of a consent its starter confirmed;
/// disconnect: reads them to revoke, then deletes the secret; stream: Fortnox's
/// `add-tenants-v1` takes each company's access token; invoice_send, invoice_pdf and
/// invoice_credit call the provider for the app, refreshing a refused token through the same
/// lease). Nobody else may read a token secret; the public OAuth callback holds no secret
/// permission at all.
const TOKEN_READERS: &[&str] = &[
    "ConfirmFunction",
    "DisconnectFunction",
    "InvoiceCreditFunction",
    "InvoicePdfFunction",
    "InvoiceSendFunction",
    "SchedulerFunction",
    "StreamFunction",
    "WorkerFunction",
];

fn template() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).expect("template.yaml parses")
}

/// The template's parameter defaults plus the pseudo parameters of an example account.
fn parameters(t: &Value) -> BTreeMap<String, String> {
    let mut p: BTreeMap<String, String> = t["Parameters"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter_map(|(k, v)| {
            let d = match &v["Default"] {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => return None,
            };
            Some((k.as_str()?.to_string(), d))
        })
        .collect();
    p.insert(
        "ProviderCredentialsSecretArn".into(),
        CREDENTIALS_ARN.into(),
    );
    p.insert("AWS::Partition".into(), "aws".into());
    p.insert("AWS::Region".into(), REGION.into());
    p.insert("AWS::AccountId".into(), ACCOUNT.into());
    p
}

/// A value with `!Sub`, `!Ref` and `!GetAtt` resolved against `params` (the key's ARN for
/// `SecretsKey.Arn`, `<resource>.<attribute>` for anything else).
fn resolve(v: &Value, params: &BTreeMap<String, String>) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Sequence(items) => items.iter().flat_map(|i| resolve(i, params)).collect(),
        Value::Tagged(t) => {
            let inner = t.value.as_str().unwrap_or_default().to_string();
            match t.tag.to_string().as_str() {
                "!Sub" => {
                    let mut out = inner;
                    for (k, val) in params {
                        out = out.replace(&format!("${{{k}}}"), val);
                    }
                    // What is left names a resource attribute (`${Table.Arn}`): keep its name.
                    while let Some(start) = out.find("${") {
                        let end = start + out[start..].find('}').expect("closed ${…}");
                        let name = out[start + 2..end].to_string();
                        out.replace_range(start..=end, &name);
                    }
                    vec![out]
                }
                "!Ref" => vec![params.get(&inner).cloned().unwrap_or(inner)],
                "!GetAtt" if inner == "SecretsKey.Arn" => vec![KEY_ARN.to_string()],
                "!GetAtt" => vec![inner],
                other => panic!("unexpected tag {other} in a policy"),
            }
        }
        other => panic!("unexpected value in a policy: {other:?}"),
    }
}

/// IAM's ARN and `StringLike` globbing: `*` any run of characters, `?` one character.
fn glob(pattern: &str, s: &str) -> bool {
    fn go(p: &[u8], s: &[u8]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], s) || (!s.is_empty() && go(p, &s[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &s[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &s[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), s.as_bytes())
}

/// One `Allow` statement, resolved.
#[derive(Debug)]
struct Statement {
    actions: Vec<String>,
    resources: Vec<String>,
    /// `kms:ViaService` required (StringEquals), if any.
    via_service: Option<String>,
    /// `kms:EncryptionContext:SecretARN` patterns (StringLike), if any.
    secret_arn_context: Option<Vec<String>>,
}

/// Every function's statements.
fn policies() -> BTreeMap<String, Vec<Statement>> {
    let t = template();
    let params = parameters(&t);
    let mut out = BTreeMap::new();
    for (name, r) in t["Resources"].as_mapping().unwrap() {
        if r["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let mut statements = Vec::new();
        for policy in r["Properties"]["Policies"]
            .as_sequence()
            .into_iter()
            .flatten()
        {
            let list = policy["Statement"].as_sequence().expect(
                "inline policies only (a managed or SAM policy template would hide its actions)",
            );
            for st in list {
                assert_eq!(st["Effect"].as_str(), Some("Allow"), "{st:?}");
                let cond = &st["Condition"];
                let one = |op: &str, key: &str| -> Option<Vec<String>> {
                    let v = &cond[op][key];
                    (!v.is_null()).then(|| resolve(v, &params))
                };
                statements.push(Statement {
                    actions: resolve(&st["Action"], &params),
                    resources: resolve(&st["Resource"], &params),
                    via_service: one("StringEquals", "kms:ViaService").map(|v| v.concat()),
                    secret_arn_context: one("StringLike", "kms:EncryptionContext:SecretARN"),
                });
            }
        }
        out.insert(name.as_str().unwrap().to_string(), statements);
    }
    out
}

/// Whether a function's statements allow `action` on `resource`. For KMS the request is the
/// one Secrets Manager makes for `secret`: through the service, with the secret's ARN as
/// encryption context.
fn allows(statements: &[Statement], action: &str, resource: &str, secret: Option<&str>) -> bool {
    statements.iter().any(|st| {
        st.actions.iter().any(|a| glob(a, action))
            && st.resources.iter().any(|r| glob(r, resource))
            && st
                .via_service
                .as_ref()
                .is_none_or(|v| v == &format!("secretsmanager.{REGION}.amazonaws.com"))
            && st
                .secret_arn_context
                .as_ref()
                .is_none_or(|patterns| secret.is_some_and(|s| patterns.iter().any(|p| glob(p, s))))
    })
}

/// The prefixes as the functions see them (Globals' environment), and a secret under each.
struct Secrets {
    token: String,
    webhook: String,
}

fn secrets() -> Secrets {
    let t = template();
    let params = parameters(&t);
    let env = &t["Globals"]["Function"]["Environment"]["Variables"];
    let token_prefix = resolve(&env["SECRET_PREFIX"], &params).concat();
    let webhook_prefix = resolve(&env["WEBHOOK_SECRET_PREFIX"], &params).concat();
    assert_ne!(token_prefix, webhook_prefix);
    // Secrets Manager appends a dash and six random characters to a secret's name in its ARN.
    let arn = |prefix: &str| {
        format!("arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{prefix}/acme-bygg/3f0c2d1e-aaaa-4000-8000-000000000000-Ab12Cd")
    };
    Secrets {
        token: arn(&token_prefix),
        webhook: arn(&webhook_prefix),
    }
}

const SECRET_ACTIONS: &[&str] = &[
    "secretsmanager:GetSecretValue",
    "secretsmanager:DescribeSecret",
    "secretsmanager:PutSecretValue",
    "secretsmanager:UpdateSecret",
    "secretsmanager:CreateSecret",
    "secretsmanager:TagResource",
    "secretsmanager:DeleteSecret",
    "secretsmanager:ListSecrets",
    "secretsmanager:BatchGetSecretValue",
];
const KMS_ACTIONS: &[&str] = &["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"];

/// What `statements` allow on `secret`, Secrets Manager and KMS actions by their short names.
fn granted(statements: &[Statement], secret: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for a in SECRET_ACTIONS {
        if allows(statements, a, secret, None) {
            out.insert(a.trim_start_matches("secretsmanager:").to_string());
        }
    }
    for a in KMS_ACTIONS {
        if allows(statements, a, KEY_ARN, Some(secret)) {
            out.insert(a.to_string());
        }
    }
    out
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn each_function_gets_exactly_its_row_of_secret_access() {
    let s = secrets();
    let kms_rw = ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"];
    let with = |a: &[&str], b: &[&str]| set(&[a, b].concat());
    // (token secrets, webhook key secrets, app credentials) per function.
    let expected: BTreeMap<&str, [BTreeSet<String>; 3]> = [
        // No secret is made with the integration: the token secret at consent, the webhook
        // key secret at the first rotation.
        ("CreateFunction", [set(&[]), set(&[]), set(&[])]),
        (
            "AuthorizeFunction",
            [
                set(&[]),
                set(&[]),
                // The authorization URL carries the app's client id.
                set(&["GetSecretValue"]),
            ],
        ),
        (
            "ConnectFunction",
            [set(&[]), set(&[]), set(&["GetSecretValue"])],
        ),
        ("OAuthCallbackFunction", [set(&[]), set(&[]), set(&[])]),
        (
            "ConfirmFunction",
            [
                with(
                    &[
                        "GetSecretValue",
                        "DescribeSecret",
                        "PutSecretValue",
                        "UpdateSecret",
                        "CreateSecret",
                        "TagResource",
                    ],
                    &kms_rw,
                ),
                set(&[]),
                set(&["GetSecretValue"]),
            ],
        ),
        ("StatusFunction", [set(&[]), set(&[]), set(&[])]),
        (
            "DisconnectFunction",
            [
                set(&[
                    "GetSecretValue",
                    "DescribeSecret",
                    "DeleteSecret",
                    "kms:Decrypt",
                ]),
                set(&["DeleteSecret"]),
                set(&["GetSecretValue"]),
            ],
        ),
        (
            "WorkerFunction",
            [
                with(&["GetSecretValue", "PutSecretValue"], &kms_rw),
                set(&[]),
                set(&["GetSecretValue"]),
            ],
        ),
        ("DeadLetterFunction", [set(&[]), set(&[]), set(&[])]),
        (
            "InvoiceSendFunction",
            [
                with(&["GetSecretValue", "PutSecretValue"], &kms_rw),
                set(&[]),
                set(&["GetSecretValue"]),
            ],
        ),
        (
            "InvoicePdfFunction",
            [
                with(&["GetSecretValue", "PutSecretValue"], &kms_rw),
                set(&[]),
                set(&["GetSecretValue"]),
            ],
        ),
        (
            "InvoiceCreditFunction",
            [
                with(&["GetSecretValue", "PutSecretValue"], &kms_rw),
                set(&[]),
                set(&["GetSecretValue"]),
            ],
        ),
        (
            "SchedulerFunction",
            [
                with(&["GetSecretValue", "PutSecretValue"], &kms_rw),
                with(&["CreateSecret", "TagResource"], &kms_rw),
                set(&["GetSecretValue"]),
            ],
        ),
        (
            "StreamFunction",
            [
                with(&["GetSecretValue", "PutSecretValue"], &kms_rw),
                set(&[]),
                set(&["GetSecretValue"]),
            ],
        ),
        ("WatchdogFunction", [set(&[]), set(&[]), set(&[])]),
        ("SyncFunction", [set(&[]), set(&[]), set(&[])]),
        ("SyncInvoiceFunction", [set(&[]), set(&[]), set(&[])]),
        ("RecordsFunction", [set(&[]), set(&[]), set(&[])]),
        (
            "WebhookFunction",
            [set(&[]), set(&["GetSecretValue", "kms:Decrypt"]), set(&[])],
        ),
        (
            "WebhookKeyFunction",
            [
                set(&[]),
                with(
                    &[
                        "GetSecretValue",
                        "PutSecretValue",
                        "CreateSecret",
                        "TagResource",
                    ],
                    &kms_rw,
                ),
                set(&[]),
            ],
        ),
    ]
    .into_iter()
    .collect();

    let policies = policies();
    assert_eq!(
        policies.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        expected.keys().copied().collect::<BTreeSet<_>>(),
        "every function of the template has a row here"
    );
    for (name, statements) in &policies {
        let actual = [
            granted(statements, &s.token),
            granted(statements, &s.webhook),
            granted(statements, CREDENTIALS_ARN),
        ];
        assert_eq!(
            &actual,
            &expected[name.as_str()],
            "{name}: [token secrets, webhook key secrets, app credentials]"
        );
    }
}

#[test]
fn only_the_functions_that_use_tokens_can_read_token_secrets() {
    let s = secrets();
    let policies = policies();
    let readers: Vec<&str> = policies
        .iter()
        .filter(|(_, st)| {
            allows(st, "secretsmanager:GetSecretValue", &s.token, None)
                || allows(st, "kms:Decrypt", KEY_ARN, Some(&s.token))
        })
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(readers, TOKEN_READERS);
}

#[test]
fn the_public_webhook_function_reaches_no_token_secret() {
    let s = secrets();
    let p = policies();
    let webhook = &p["WebhookFunction"];
    for action in SECRET_ACTIONS {
        assert!(
            !allows(webhook, action, &s.token, None),
            "WebhookFunction may {action} a token secret"
        );
    }
    for action in KMS_ACTIONS {
        assert!(
            !allows(webhook, action, KEY_ARN, Some(&s.token)),
            "WebhookFunction may {action} a token secret's data key"
        );
    }
    // No statement of the public function (or of the key rotation) is open-ended.
    for name in ["WebhookFunction", "WebhookKeyFunction"] {
        for st in &p[name] {
            assert!(!st.resources.iter().any(|r| r == "*"), "{name}: {st:?}");
            assert!(
                !st.actions.iter().any(|a| a.ends_with(":*")),
                "{name}: {st:?}"
            );
        }
    }
}

#[test]
fn every_kms_grant_is_through_secrets_manager_and_bound_to_secret_arns() {
    for (name, statements) in policies() {
        for st in statements
            .iter()
            .filter(|st| st.actions.iter().any(|a| a.starts_with("kms:")))
        {
            assert_eq!(st.resources, vec![KEY_ARN.to_string()], "{name}: {st:?}");
            assert_eq!(
                st.via_service.as_deref(),
                Some(format!("secretsmanager.{REGION}.amazonaws.com").as_str()),
                "{name}: {st:?}"
            );
            let ctx = st.secret_arn_context.as_ref().unwrap_or_else(|| {
                panic!("{name}: a KMS grant without kms:EncryptionContext:SecretARN: {st:?}")
            });
            assert!(
                !ctx.is_empty() && ctx.iter().all(|c| c.contains(":secret:")),
                "{name}"
            );
        }
    }
}

#[test]
fn the_globbing_and_the_prefixes_cannot_overlap() {
    // The matcher itself: otherwise every test above could pass vacuously.
    assert!(glob("arn:x:secret:p/*", "arn:x:secret:p/t/i-Ab12Cd"));
    assert!(!glob(
        "arn:x:secret:p/*",
        "arn:x:secret:p-webhooks/t/i-Ab12Cd"
    ));
    assert!(!glob(
        "arn:x:secret:p-webhooks/*",
        "arn:x:secret:p/t/i-Ab12Cd"
    ));
    assert!(glob("a?c", "abc") && !glob("a?c", "ac"));
    let s = secrets();
    assert!(
        s.token.contains(":secret:accounting-integrations/"),
        "{}",
        s.token
    );
    assert!(
        s.webhook
            .contains(":secret:accounting-integrations-webhooks/"),
        "{}",
        s.webhook
    );
}
