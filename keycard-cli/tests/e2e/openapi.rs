//! The OpenAPI document against the live binary: valid OpenAPI 3.1 by a third-party
//! validator, cut to each configuration, and fuzzed by schemathesis — every operation,
//! every check, the stateful links — with zero failures.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::harness::{
    Echo, Env, Server, generate_key, python_has, required, run_cmd, stderr, stdout, succeeds,
};

/// `keycard-cli/tests/schemathesis`: the configuration and the hooks.
fn schemathesis_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/schemathesis")
}

fn document(server: &Server) -> Value {
    let r = server.get("/openapi.json", None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    r.json()
}

fn paths(doc: &Value) -> Vec<String> {
    let mut paths: Vec<String> = doc["paths"].as_object().unwrap().keys().cloned().collect();
    paths.sort();
    paths
}

/// Validates `doc` with openapi-spec-validator (the OpenAPI 3.1 meta-schema and the
/// rules beyond it: unique operation ids, resolvable references, …).
fn assert_valid_openapi(env: &Env, doc: &Value) {
    if !python_has("openapi_spec_validator") {
        required::<()>("Python's openapi-spec-validator");
        return;
    }
    let file = env.path("openapi.json");
    std::fs::write(&file, doc.to_string()).unwrap();
    let out = run_cmd(
        Command::new("python3")
            .args(["-m", "openapi_spec_validator"])
            .arg(&file),
        "",
    );
    assert!(
        out.status.success(),
        "not valid OpenAPI: {}{}",
        stdout(&out),
        stderr(&out)
    );
}

#[test]
fn each_configuration_publishes_a_valid_document_of_what_it_serves() {
    let env = Env::new();
    generate_key(&env, "EdDSA", "issuer.pem");
    let issuer = env.serve_with(env.cmd(), &["--signing-key", "issuer.pem"]);
    let doc = document(&issuer);
    assert_valid_openapi(&env, &doc);
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        paths(&doc),
        [
            "/.well-known/jwks.json",
            "/.well-known/keycard-revocations",
            "/auth/verify",
            "/healthz",
            "/me",
            "/openapi.json",
            "/readyz",
            "/revoke",
            "/token"
        ]
    );

    // HMAC: no JWKS, and the forward-auth headers are the ones configured.
    let hmac = env.serve(&["--forward-auth", "traefik"]);
    let doc = document(&hmac);
    assert_valid_openapi(&env, &doc);
    assert!(!paths(&doc).contains(&"/.well-known/jwks.json".to_owned()));
    assert_eq!(
        doc["components"]["parameters"]["OriginalUri"]["name"],
        "x-forwarded-uri"
    );

    // A verify-only node: no /token, /revoke or feed.
    let jwks = format!("http://{}/.well-known/jwks.json", issuer.addr);
    let node = env.serve_with(env.cmd(), &["--jwks-url", &jwks]);
    let doc = document(&node);
    assert_valid_openapi(&env, &doc);
    assert_eq!(
        paths(&doc),
        [
            "/auth/verify",
            "/healthz",
            "/me",
            "/openapi.json",
            "/readyz"
        ]
    );

    // `keycard openapi` prints the whole document, valid too.
    let out = env.run(&["openapi"], "");
    assert!(out.status.success(), "{}", stderr(&out));
    let whole: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_valid_openapi(&env, &whole);
    assert_eq!(whole["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(paths(&whole).len(), 11);
}

#[test]
fn in_gateway_mode_openapi_json_is_the_upstreams_and_protected() {
    let echo = Echo::start();
    let env = Env::new();
    env.add_user("alice", "user", "alice-password");
    let server = env.serve(&["--upstream", &format!("http://{}", echo.addr)]);
    let r = server.get("/openapi.json", None);
    assert_eq!((r.status, r.error()), (401, "missing_token".to_owned()));
    let token = server.token("alice", "alice-password");
    let r = server.get("/openapi.json", Some(&token));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-upstream"), Some("echo"), "forwarded");
    assert_eq!(r.json()["target"], "/openapi.json");
}

/// Runs schemathesis against `server` (users `fuzz` / `fuzz-password-1` exist there);
/// returns its JSON report and the hook's counts.
fn schemathesis(env: &Env, server: &Server, examples: &str) -> (Value, Value) {
    let dir = schemathesis_dir();
    let report = env.path("schemathesis.json");
    let counts = env.path("counts.json");
    let python_path = match std::env::var_os("PYTHONPATH") {
        Some(p) => format!("{}:{}", dir.display(), p.to_string_lossy()),
        None => dir.display().to_string(),
    };
    let out = run_cmd(
        Command::new("python3")
            .args(["-m", "schemathesis.cli"])
            .current_dir(env.dir.path())
            .env("PYTHONPATH", python_path)
            .env("SCHEMATHESIS_HOOKS", "hooks")
            .env("KEYCARD_ST_COUNTS", &counts)
            .arg("--config-file")
            .arg(dir.join("schemathesis.toml"))
            .arg("run")
            .arg(format!("http://{}/openapi.json", server.addr))
            .args(["--phases", "examples,coverage,fuzzing,stateful"])
            .args(["--max-examples", examples])
            .args(["--report", "json", "--report-json-path"])
            .arg(&report),
        "",
    );
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        out.status.success(),
        "schemathesis found failures:\n{text}\n--- keycard's log:\n{}",
        server.log()
    );
    let report: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let counts: Value = std::fs::read(&counts)
        .map(|b| serde_json::from_slice(&b).unwrap())
        .unwrap_or_else(|_| serde_json::json!({"revoked": 0, "refused_after_revoke": 0}));
    eprintln!(
        "schemathesis: {} test cases generated, {} operations, {}s; {} revoked tokens refused at /me",
        report["test_cases"]["generated"],
        report["operations"]["tested"],
        report["running_time"].as_f64().unwrap_or(0.0).round(),
        counts["refused_after_revoke"]
    );
    (report, counts)
}

fn assert_clean(report: &Value, operations: u64) {
    assert_eq!(report["complete"], true, "{report}");
    assert_eq!(report["failures"], serde_json::json!([]), "{report}");
    assert_eq!(report["errors"], serde_json::json!([]), "{report}");
    assert_eq!(report["operations"]["tested"], operations, "{report}");
    for phase in ["examples", "coverage", "fuzzing", "stateful"] {
        assert_eq!(
            report["phases"][phase]["status"], "success",
            "{phase}: {report}"
        );
    }
    assert!(report["test_cases"]["generated"].as_u64().unwrap() > 100 * operations / 10);
}

/// A working directory with the user schemathesis.toml logs in as, when schemathesis
/// is installed.
fn fuzz_env() -> Option<Env> {
    if !succeeds("python3", &["-m", "schemathesis.cli", "--version"]) {
        return required("schemathesis (PyPI)");
    }
    let env = Env::new();
    env.add_user("fuzz", "admin", "fuzz-password-1");
    Some(env)
}

fn fuzz_examples() -> String {
    std::env::var("KEYCARD_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "100".to_owned())
}

#[test]
fn schemathesis_finds_nothing_wrong_with_a_live_issuer() {
    let Some(env) = fuzz_env() else { return };
    generate_key(&env, "EdDSA", "issuer.pem");
    // The limits are raised so the fuzzer's logins are judged rather than throttled
    // (the limits have tests of their own); everything else is as shipped.
    let server = env.serve_with(
        env.cmd(),
        &[
            "--signing-key",
            "issuer.pem",
            "--refresh-ttl",
            "1d",
            "--rate-limit-user",
            "100000/m",
            "--rate-limit-ip",
            "100000/m",
        ],
    );
    let (report, counts) = schemathesis(&env, &server, &fuzz_examples());
    // /auth/verify's eight methods count as seven: schemathesis leaves TRACE out.
    assert_clean(&report, 15);
    assert!(
        counts["refused_after_revoke"].as_u64().unwrap() >= 1,
        "the stateful links never revoked a token and tried it again: {counts}"
    );
    assert_eq!(
        server.get("/healthz", None).status,
        200,
        "still up afterwards"
    );
    assert!(!server.log().contains("panicked"), "{}", server.log());
}

#[test]
fn schemathesis_finds_nothing_wrong_with_an_hmac_issuer_behind_traefik() {
    let Some(env) = fuzz_env() else { return };
    let server = env.serve(&[
        "--forward-auth",
        "traefik",
        "--user-header",
        "Remote-User",
        "--rate-limit-user",
        "100000/m",
        "--rate-limit-ip",
        "100000/m",
        "--public",
        "/public*",
    ]);
    let (report, _) = schemathesis(&env, &server, "50");
    // No JWKS under HMAC.
    assert_clean(&report, 14);
    assert!(!server.log().contains("panicked"), "{}", server.log());
}
