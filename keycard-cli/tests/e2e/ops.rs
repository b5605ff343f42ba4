//! Operating Keycard: readiness apart from liveness.

use std::time::Duration;

use crate::harness::{Env, eventually};

#[test]
fn readyz_follows_the_users_file_while_healthz_stays_up() {
    let env = Env::new();
    let server = env.serve(&[]);
    let ready = || server.get("/readyz", None);
    // No users file yet is an empty database: ready.
    let r = ready();
    assert_eq!(
        (r.status, r.json()["status"].as_str()),
        (200, Some("ready"))
    );
    env.add_user("alice", "user", "alice-password");
    assert_eq!(ready().status, 200);

    let good = std::fs::read(env.users_file()).unwrap();
    std::fs::write(env.users_file(), b"{ not json").unwrap();
    let r = ready();
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.json()["error"], "not_ready");
    let said = r.json()["error_description"].as_str().unwrap().to_owned();
    assert_eq!(said, "users: the users file cannot be read");
    assert!(
        !said.contains(env.dir.path().to_str().unwrap()),
        "no path to the prober"
    );
    assert_eq!(server.get("/healthz", None).status, 200, "still alive");

    std::fs::write(env.users_file(), good).unwrap();
    assert!(eventually(Duration::from_secs(3), || ready().status == 200));
    // A directory where the token store should be: not ready either.
    std::fs::create_dir(env.path("users.tokens.json")).unwrap();
    let r = ready();
    assert_eq!(
        (r.status, r.json()["error_description"].as_str()),
        (503, Some("tokens: the token store cannot be read"))
    );
}

#[test]
fn a_verify_only_node_is_ready_once_it_holds_keys_and_fresh_revocations() {
    let env = Env::new();
    let key = env.run(&["keys", "generate", "--out", "k.pem"], "");
    assert!(key.status.success());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let node = env.serve_with(
        env.cmd(),
        &[
            "--jwks-url",
            &format!("http://{listen}/.well-known/jwks.json"),
            "--jwks-refetch-interval",
            "1s",
            "--revocation-refresh",
            "1s",
            "--revocation-max-stale",
            "3s",
            "--leeway",
            "1s",
        ],
    );
    let r = node.get("/readyz", None);
    assert_eq!(
        (r.status, r.json()["error_description"].as_str()),
        (503, Some("keys: no verification keys from the issuer yet"))
    );
    let issuer = env.serve_with(env.cmd(), &["--signing-key", "k.pem", "--listen", &listen]);
    assert!(eventually(Duration::from_secs(10), || node
        .get("/readyz", None)
        .status
        == 200));
    drop(issuer);
    assert!(eventually(Duration::from_secs(15), || {
        node.get("/readyz", None).json()["error_description"]
            == "revocations: the issuer's revocation feed is stale"
    }));
}
