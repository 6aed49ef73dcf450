//! A function started without what Lambda puts in its environment (the region, the credentials)
//! or with an AWS variable it could not use stops at init, before asking for work, with an error
//! naming the variable (Lambda reports it as the init failure) and nothing else said.

use std::path::Path;
use std::process::{Command, Stdio};

/// Lambda's environment and the template's required variables; the Runtime API is a closed
/// port, so a function that got past init would fail there instead, saying so.
fn lambda_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:1"),
        ("AWS_LAMBDA_FUNCTION_NAME", "status"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
        ("AWS_REGION", "eu-north-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing-secret-value"),
        ("AWS_SESSION_TOKEN", "testing-session-token"),
        ("TABLE_NAME", "t"),
        ("DEFAULT_RETURN_URL", "https://app.example.se/integrations"),
        ("PUBLIC_API_URL", "https://api.example.se"),
    ]
}

/// Runs the status binary with `env`; (exit code, stdout and stderr).
fn run(env: &[(&str, &str)]) -> (Option<i32>, String) {
    let out = Command::new(Path::new(env!("CARGO_BIN_EXE_lambda-status")))
        .env_clear()
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("the status binary starts");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

#[test]
fn a_function_without_region_or_credentials_or_with_a_bad_aws_variable_stops_at_init_naming_it() {
    // With everything there it gets past init and fails only at the closed Runtime API port.
    let (code, text) = run(&lambda_env());
    assert_ne!(code, Some(0));
    assert!(text.contains("127.0.0.1:1"), "got past init: {text}");

    let cases: [(&str, Option<&str>, &str); 5] = [
        ("AWS_REGION", None, "AWS_REGION is not set"),
        (
            "AWS_ACCESS_KEY_ID",
            None,
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set",
        ),
        (
            "AWS_SECRET_ACCESS_KEY",
            None,
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set",
        ),
        (
            "AWS_ENDPOINT_URL",
            Some("localhost:5000"),
            "AWS_ENDPOINT_URL `localhost:5000` must be an http or https URL",
        ),
        (
            "AWS_USE_FIPS_ENDPOINT",
            Some("yes"),
            "AWS_USE_FIPS_ENDPOINT must be true or false",
        ),
    ];
    for (key, value, says) in cases {
        let mut env: Vec<(&str, &str)> = lambda_env()
            .into_iter()
            .filter(|(k, _)| *k != key)
            .collect();
        if let Some(v) = value {
            env.push((key, v));
        }
        let (code, text) = run(&env);
        assert_eq!(code, Some(1), "{key}: {text}");
        assert!(text.contains(says), "{key}: {text}");
        assert!(
            !text.contains("127.0.0.1:1"),
            "{key}: it asked for work: {text}"
        );
        for secret in ["testing-secret-value", "testing-session-token"] {
            assert!(
                !text.contains(secret),
                "{key}: a credential in the output: {text}"
            );
        }
    }
}
