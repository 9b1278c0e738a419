//! Security end to end: credentials per role (read, write, admin; bearer and basic),
//! refusals with 401 and 403, open probes; listening beyond loopback without credentials
//! refused; HTTPS with rustls and a certificate swapped by `/-/reload`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod server_common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use server_common::{form, Server};

const AUTH: &str = "read:
  bearer_tokens: [reader-token]
  basic_auth: {grafana: graf-pass}
write:
  bearer_tokens: [writer-token]
admin:
  basic_auth: {ops: ops-pass}
";

fn basic(user: &str, pass: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    )
}

#[test]
fn credentials_per_role() {
    let tmp = tempfile::tempdir().unwrap();
    let auth = tmp.path().join("auth.yml");
    std::fs::write(&auth, AUTH).unwrap();
    let s = Server::start(
        &tmp.path().join("data"),
        &[
            "--auth-file",
            auth.to_str().unwrap(),
            "--self-scrape-interval",
            "0",
        ],
    );
    // probes need nothing
    assert_eq!(s.get("/-/healthy").status, 200);
    s.wait_ready();

    let read = [("Authorization", "Bearer reader-token")];
    let grafana = basic("grafana", "graf-pass");
    let ops = basic("ops", "ops-pass");
    let q = "/api/v1/query?query=1";
    let r = s.get(q);
    assert_eq!(r.status, 401);
    assert!(r.body.starts_with("Unauthorized"), "{}", r.body);
    assert_eq!(
        s.get_with(q, &[("Authorization", "Bearer nope")]).status,
        401
    );
    assert_eq!(
        s.get_with(q, &[("Authorization", &basic("grafana", "wrong"))])
            .status,
        401
    );
    assert_eq!(s.get_with(q, &read).status, 200);
    assert_eq!(s.get_with(q, &[("Authorization", &grafana)]).status, 200);
    assert_eq!(
        s.get_with(q, &[("Authorization", &ops)]).status,
        200,
        "admin may read"
    );
    let r = s.get_with(q, &[("Authorization", "Bearer writer-token")]);
    assert_eq!(r.status, 403, "a write credential may not read");
    assert!(r.body.contains("may not read"), "{}", r.body);
    assert_eq!(s.get_with("/metrics", &read).status, 200);
    assert_eq!(s.get("/metrics").status, 401);

    // admin endpoints
    let del = form(&[("match[]", "up")]);
    let r = s.post_form_with("/api/v1/admin/tsdb/delete_series", &del, &read);
    assert_eq!(r.status, 403);
    assert!(r.body.contains("may not administer"), "{}", r.body);
    let r = s.post_form_with(
        "/api/v1/admin/tsdb/delete_series",
        &del,
        &[("Authorization", &ops)],
    );
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(s.post_form_with("/-/reload", "", &read).status, 403);
    assert_eq!(
        s.post_form_with("/-/reload", "", &[("Authorization", &ops)])
            .status,
        200
    );

    // a reload reads the credentials file again: the old token stops working
    std::fs::write(&auth, AUTH.replace("reader-token", "new-reader-token")).unwrap();
    assert_eq!(
        s.post_form_with("/-/reload", "", &[("Authorization", &ops)])
            .status,
        200
    );
    assert_eq!(s.get_with(q, &read).status, 401);
    assert_eq!(
        s.get_with(q, &[("Authorization", "Bearer new-reader-token")])
            .status,
        200
    );
    // an invalid file is refused and the credentials in force stay
    std::fs::write(&auth, "read:\n  tokens: [x]\n").unwrap();
    let r = s.post_form_with("/-/reload", "", &[("Authorization", &ops)]);
    assert_eq!(r.status, 500);
    assert!(
        r.body.contains("tokens") && r.body.contains("line 2"),
        "{}",
        r.body
    );
    assert_eq!(
        s.get_with(q, &[("Authorization", "Bearer new-reader-token")])
            .status,
        200
    );
}

#[test]
fn public_addresses_need_credentials() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tsdb-server"))
        .args(["--listen", "0.0.0.0:0", "--data"])
        .arg(tmp.path().join("data"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refusing to listen on 0.0.0.0:0 without authentication"),
        "{err}"
    );
    assert!(
        !tmp.path().join("data").exists(),
        "nothing done before refusing"
    );
    // a loopback start says it has no authentication
    let s = Server::start(&tmp.path().join("data"), &["--self-scrape-interval", "0"]);
    s.wait_ready();
    assert!(
        s.log_text()
            .contains("no --auth-file: no authentication, so listening on loopback only"),
        "{}",
        s.log_text()
    );
}

fn tls_agent(root_pem: &Path) -> ureq::Agent {
    #[expect(
        deprecated,
        reason = "the server's provider, ring, in the test client too"
    )]
    let provider = rustls::crypto::ring::default_provider();
    let _ = provider.install_default();
    let pem = std::fs::read(root_pem).unwrap();
    let cert = ureq::tls::Certificate::from_pem(&pem).unwrap();
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .provider(ureq::tls::TlsProvider::Rustls)
                .root_certs(ureq::tls::RootCerts::Specific(Arc::new(vec![cert])))
                .build(),
        )
        .build()
        .into()
}

#[test]
fn https_and_certificate_reload() {
    let certs = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tls");
    let tmp = tempfile::tempdir().unwrap();
    let (cert, key) = (tmp.path().join("cert.pem"), tmp.path().join("key.pem"));
    std::fs::copy(certs.join("server1.pem"), &cert).unwrap();
    std::fs::copy(certs.join("server1.key"), &key).unwrap();
    let s = Server::start_with_agent(
        &tmp.path().join("data"),
        &[
            "--tls-cert-file",
            cert.to_str().unwrap(),
            "--tls-key-file",
            key.to_str().unwrap(),
            "--self-scrape-interval",
            "0",
        ],
        tls_agent(&certs.join("ca.pem")),
    );
    assert_eq!(s.scheme, "https");
    s.wait_ready();
    assert_eq!(s.get("/api/v1/query?query=1").status, 200);
    // plain HTTP to the TLS port gets no answer
    let plain = server_common::agent()
        .get(format!("http://{}/-/healthy", s.addr))
        .call();
    assert!(plain.is_err() || plain.is_ok_and(|r| r.status() != 200));

    // swap in the second certificate; a broken key first: refused, the old one stays
    std::fs::write(&key, "not a key").unwrap();
    std::fs::copy(certs.join("server2.pem"), &cert).unwrap();
    assert_eq!(s.post_form("/-/reload", "").status, 500);
    assert_eq!(
        s.get("/-/healthy").status,
        200,
        "still served with the first certificate"
    );
    std::fs::copy(certs.join("server2.key"), &key).unwrap();
    assert_eq!(s.post_form("/-/reload", "").status, 200);
    // new connections get the new certificate: the CA no longer vouches for it
    let old_trust = tls_agent(&certs.join("ca.pem"))
        .get(s.url("/-/healthy"))
        .call();
    assert!(old_trust.is_err(), "still the old certificate");
    let r = tls_agent(&certs.join("server2.pem"))
        .get(s.url("/-/healthy"))
        .call()
        .unwrap();
    assert_eq!(r.status(), 200);
}
