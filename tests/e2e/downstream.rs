//! SPEC §3 end to end: the smoke rows of the shared table ([`crate::support::spec3`]; the
//! in-process decision test runs all of them) through a real gateway and real TLS, and what
//! only a running gateway shows (the forwarded request, the plaintext listener).

use crate::fixture::Fixture;
use crate::support::spec3::{self, Row};

fn run_rows(f: &Fixture, rows: Vec<Row>) {
    let rows: Vec<Row> = rows.into_iter().filter(|r| r.smoke).collect();
    assert!(!rows.is_empty(), "no smoke rows");
    let mut failures = Vec::new();
    for r in &rows {
        let headers: Vec<(&str, &str)> = r.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let resp = f.get(r.cert, r.path, &headers);
        let mut problems = Vec::new();
        if resp.status != r.expect.status {
            problems.push(format!("status {} (want {})", resp.status, r.expect.status));
        }
        match r.expect.code {
            Some(code) => {
                let body = resp.json();
                if body["code"] != code {
                    problems.push(format!("code {} (want {code})", body["code"]));
                }
                if let Some(m) = &r.expect.message {
                    if body["error"] != m.as_str() {
                        problems.push(format!("error {} (want {m:?})", body["error"]));
                    }
                }
                if resp.header("content-type") != Some("application/json") {
                    problems.push(format!("content-type {:?}", resp.header("content-type")));
                }
            }
            None => {
                if resp.status == 200 && resp.json()["upstream"] != "echo" {
                    problems.push(format!("did not reach the upstream: {}", resp.text()));
                }
            }
        }
        if resp.header("www-authenticate") != r.expect.www {
            problems.push(format!(
                "www-authenticate {:?} (want {:?})",
                resp.header("www-authenticate"),
                r.expect.www
            ));
        }
        if !problems.is_empty() {
            failures.push(format!(
                "row `{}`: {} — body {}",
                r.name,
                problems.join(", "),
                resp.text()
            ));
        }
    }
    spec3::assert_no_failures(&failures, rows.len());
}

#[test]
fn spec_3_routing_and_client_certificates() {
    let f = Fixture::shared();
    run_rows(f, spec3::routing_and_client_certificates(f));
}

#[test]
fn spec_3_tokens_and_certificate_credentials() {
    let f = Fixture::shared();
    run_rows(f, spec3::tokens_and_certificate_credentials(f));
}

#[test]
fn spec_3_jwt_and_rfc8705_binding() {
    let f = Fixture::shared();
    run_rows(f, spec3::jwt_and_rfc8705_binding(f));
}

#[test]
fn spec_3_forwarded_request_and_client_cert_header() {
    let f = Fixture::shared();
    let listed = f.certs["listed"].id().to_hex();
    // Stripped listen_path, credential header forwarded, leaf ID set.
    let r = f.get(
        Some("listed"),
        "/cert/deep/path?q=1",
        &[("X-Client-Cert-Sha256", "forged")],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let echo = r.json();
    assert_eq!(echo["path"], "/deep/path?q=1");
    assert_eq!(
        echo["headers"]["x-client-cert-sha256"],
        listed.as_str(),
        "the leaf ID replaces a forged header"
    );
    // Not stripped: the path goes through as received, with the credential header.
    let r = f.get(
        None,
        "/token/a/b",
        &[("Authorization", "Bearer tok-good"), ("X-Client-Cert-Sha256", "forged")],
    );
    let echo = r.json();
    assert_eq!(echo["path"], "/token/a/b");
    assert_eq!(echo["headers"]["authorization"], "Bearer tok-good");
    assert!(
        echo["headers"].get("x-client-cert-sha256").is_none(),
        "a forged header never reaches the upstream: {echo}"
    );
    // Over the plaintext listener, a mTLS API answers 403 and a header cannot stand in for a certificate.
    let r = crate::support::client::http_get(f.gateway.http, "/cert/x", &[("X-Client-Cert-Sha256", &listed)]);
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["code"], "client_cert_required");
    let r = crate::support::client::http_get(f.gateway.http, "/open/x", &[("X-Client-Cert-Sha256", &listed)]);
    assert!(r.json()["headers"].get("x-client-cert-sha256").is_none());
}
