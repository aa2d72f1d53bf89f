//! The control plane (SPEC §8) end to end: real admin calls, real mTLS calls to the gateway.

use certgate::echo::{self, EchoHandle};
use certgate::pki::{Issued, Spec};
use serde_json::{json, Value};

use crate::support::client::{call, http_request, Response};
use crate::support::{Gateway, TestBed, TlsClient};

const ADMIN_KEY: &str = "admin-key-for-the-tests-0123456789";
const SECRET: &str = "secret-for-encrypting-keys-0123456789";
const ENV: &[(&str, &str)] = &[("CERTGATE_ADMIN_KEY", ADMIN_KEY), ("CERTGATE_SECRET", SECRET)];

struct Cp {
    dir: TestBed,
    _up: EchoHandle,
    gateway: Gateway,
    ca: Issued,
    client_ca: Issued,
    /// Allow-listed on `orders` by the YAML.
    yaml_listed: Issued,
}

fn config(up: &str, admin_extra: &str) -> String {
    format!(
        r#"
listen:
  https: "127.0.0.1:{{https}}"
  admin: "127.0.0.1:{{admin}}"
  threads: 2
tls: {{certificate: server.crt, key: server.key}}
certificate_store: {{dir: certs}}
admin:
  data_dir: data
  sync_interval_seconds: 1
{admin_extra}
tokens:
  - token: yaml-token
    apis: [orders]
apis:
  - name: orders
    listen_path: /orders/
    auth: {{type: token, mutual_tls: true, client_certificates: [yaml-listed.crt]}}
    upstream: {{url: "http://{up}"}}
  - name: reports
    listen_path: /reports/
    auth: {{type: token, mutual_tls: true}}
    upstream: {{url: "http://{up}"}}
  - name: open
    listen_path: /open/
    upstream: {{url: "http://{up}"}}
"#
    )
}

fn start(admin_extra: &str) -> Cp {
    let dir = TestBed::new("cp server CA");
    let d = dir.path();
    std::fs::create_dir_all(d.join("certs")).unwrap();
    let ca = dir.server_ca.clone();
    let client_ca = Spec::ca("cp clients").issue(None);
    let yaml_listed = Spec::client("yaml listed").issue(Some(&client_ca));
    std::fs::write(d.join("yaml-listed.crt"), yaml_listed.cert_pem()).unwrap();
    let up = echo::start_plain("up").unwrap();
    let gateway = dir.start_with_env(&config(&up.addr.to_string(), admin_extra), ENV);
    Cp {
        dir,
        _up: up,
        gateway,
        ca,
        client_ca,
        yaml_listed,
    }
}

impl Cp {
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Response {
        let b = body.map(|v| serde_json::to_vec(&v).unwrap()).unwrap_or_default();
        http_request(
            self.gateway.admin,
            method,
            path,
            &[
                ("Authorization", &format!("Bearer {ADMIN_KEY}")),
                ("Content-Type", "application/json"),
            ],
            &b,
        )
    }

    fn pem(&self, path: &str, pem: &[u8]) -> Response {
        http_request(
            self.gateway.admin,
            "POST",
            path,
            &[("Authorization", &format!("Bearer {ADMIN_KEY}"))],
            pem,
        )
    }

    /// Creates the product `product`, an app of `org`, and an approved access request of
    /// that app for it; the grant.
    fn managed_grant(&self, org: &str, product: Value) -> Value {
        let product = self.ok("POST", "/products", Some(product), 201);
        let app = self.ok("POST", "/apps", Some(json!({"name": "app", "organisation": org})), 201);
        let req = self.ok(
            "POST",
            "/access-requests",
            Some(json!({"app": app["id"], "product": product["id"]})),
            201,
        );
        self.approve(&req)
    }

    /// Approves the access request `req` (as returned by POST /access-requests); the grant.
    fn approve(&self, req: &Value) -> Value {
        let path = format!("/access-requests/{}/approve", req["id"].as_str().unwrap());
        self.ok("POST", &path, None, 200)["grant"].clone()
    }

    fn ok(&self, method: &str, path: &str, body: Option<Value>, status: u16) -> Value {
        let r = self.call(method, path, body);
        assert_eq!(r.status, status, "{method} {path}: {}", r.text());
        if r.body.is_empty() {
            Value::Null
        } else {
            r.json()
        }
    }

    fn client(&self) -> Issued {
        Spec::client("consumer").issue(Some(&self.client_ca))
    }

    /// Status of a gateway call presenting `cert` and `token`.
    fn gw(&self, api: &str, cert: Option<&Issued>, token: Option<&str>) -> (u16, String) {
        call(&self.ca, self.gateway.https, &format!("/{api}/x"), cert, token)
    }

    fn org(&self, name: &str) -> String {
        self.ok("POST", "/organisations", Some(json!({"name": name})), 201)["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    fn upload(&self, cert: &Issued, query: &str) -> Value {
        let r = self.pem(&format!("/certificates{query}"), &cert.cert_pem());
        assert_eq!(r.status, 201, "{}", r.text());
        r.json()
    }
}

#[test]
fn managed_product_with_binding_follows_the_organisation() {
    let cp = start("");
    let org = cp.org("acme");
    let (a, b) = (cp.client(), cp.client());
    let up = cp.upload(&a, &format!("?organisation={org}&name=acme-a"));
    assert_eq!(up["id"], a.id().to_hex());
    assert_eq!(up["name"], "acme-a");
    assert_eq!(up["organisations"], json!([org]));
    assert_eq!(up["has_private_key"], false);
    let product = cp.ok("POST", "/products", Some(json!({"name": "orders gold", "apis": ["orders"], "auth": "token_mtls", "certificate_mode": "managed", "bind_certificate_to_token": true})), 201);
    let app = cp.ok(
        "POST",
        "/apps",
        Some(json!({"name": "acme app", "organisation": org})),
        201,
    );
    let req = cp.ok(
        "POST",
        "/access-requests",
        Some(json!({"app": app["id"], "product": product["id"]})),
        201,
    );
    assert_eq!(req["status"], "pending");
    assert_eq!(
        cp.gw("orders", Some(&a), Some("yaml-token")).1,
        "cert_not_allowed",
        "nothing changes before approval"
    );

    let grant = cp.approve(&req);
    let token = grant["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("cgt_"));
    assert_eq!(grant["apis"], json!(["orders"]));
    assert_eq!(grant["certificates"], json!([a.id().to_hex()]));
    assert_eq!(grant["bound_certificates"], json!([a.id().to_hex()]));
    assert_eq!(
        cp.gw("orders", Some(&a), Some(&token)).0,
        200,
        "approved at once, no SIGHUP"
    );
    assert_eq!(
        cp.gw("orders", Some(&a), Some("yaml-token")).0,
        200,
        "the allow-list entry works with other tokens too"
    );
    assert_eq!(
        cp.gw("orders", Some(&b), Some(&token)).1,
        "cert_not_allowed",
        "b is not in the organisation"
    );
    assert_eq!(
        cp.gw("reports", Some(&a), Some(&token)).1,
        "cert_not_allowed",
        "only the product's APIs"
    );
    // A certificate added to the organisation later joins the grant (allow list and binding).
    cp.upload(&b, "");
    cp.ok(
        "PATCH",
        &format!("/certificates/{}", b.id()),
        Some(json!({"organisations": [org]})),
        200,
    );
    assert_eq!(cp.gw("orders", Some(&b), Some(&token)).0, 200);
    // The token is bound: with the YAML-listed certificate (allowed on orders) it is refused.
    assert_eq!(cp.gw("orders", Some(&cp.yaml_listed), Some("yaml-token")).0, 200);
    assert_eq!(
        cp.gw("orders", Some(&cp.yaml_listed), Some(&token)),
        (401, "cert_binding_mismatch".into())
    );
    let grant_id = grant["id"].as_str().unwrap();
    let g = cp.ok("GET", &format!("/grants/{grant_id}"), None, 200);
    assert_eq!(g["certificates"].as_array().unwrap().len(), 2);
    // Revoking removes the token and the allow-list entries no other grant needs.
    assert_eq!(
        cp.ok("POST", &format!("/grants/{grant_id}/revoke"), None, 200),
        json!({"id": grant_id, "status": "revoked"})
    );
    assert_eq!(cp.gw("orders", Some(&a), Some("yaml-token")).1, "cert_not_allowed");
    assert_eq!(cp.gw("orders", Some(&b), Some(&token)).1, "cert_not_allowed");
}

#[test]
fn self_serve_binding_off_reject_and_shared_entries() {
    let cp = start("");
    let org = cp.org("beta");
    let s = cp.client();
    let product = cp.ok("POST", "/products", Some(json!({"name": "orders self", "apis": ["orders"], "auth": "token_mtls", "certificate_mode": "self_serve", "bind_certificate_to_token": false})), 201);
    let app1 = cp.ok("POST", "/apps", Some(json!({"name": "one", "organisation": org})), 201);
    let app2 = cp.ok("POST", "/apps", Some(json!({"name": "two", "organisation": org})), 201);
    let pem = String::from_utf8(s.cert_pem()).unwrap();
    let r1 = cp.ok(
        "POST",
        "/access-requests",
        Some(json!({"app": app1["id"], "product": product["id"], "certificate": pem})),
        201,
    );
    let r2 = cp.ok(
        "POST",
        "/access-requests",
        Some(json!({"app": app2["id"], "product": product["id"], "certificate": pem})),
        201,
    );
    let r3 = cp.ok("POST", "/access-requests", Some(json!({"app": app2["id"], "product": product["id"], "certificate": String::from_utf8(cp.client().cert_pem()).unwrap()})), 201);
    // The submitted certificate entered the store.
    cp.ok("GET", &format!("/certificates/{}", s.id()), None, 200);
    // Rejecting changes nothing on the data plane.
    assert_eq!(
        cp.ok(
            "POST",
            &format!("/access-requests/{}/reject", r3["id"].as_str().unwrap()),
            None,
            200
        )["status"],
        "rejected"
    );
    assert_eq!(
        cp.call(
            "POST",
            &format!("/access-requests/{}/approve", r3["id"].as_str().unwrap()),
            None
        )
        .status,
        409
    );
    assert_eq!(cp.gw("orders", Some(&s), Some("yaml-token")).1, "cert_not_allowed");
    let g1 = cp.approve(&r1);
    let g2 = cp.approve(&r2);
    assert_eq!(g1["bound_certificates"], json!([]));
    let (t1, t2) = (g1["token"].as_str().unwrap(), g2["token"].as_str().unwrap());
    assert_eq!(cp.gw("orders", Some(&s), Some(t1)).0, 200);
    // Unbound: the token works with any allowed certificate.
    assert_eq!(cp.gw("orders", Some(&cp.yaml_listed), Some(t1)).0, 200);
    // Revoking one grant keeps the entry the other grant still needs.
    cp.ok(
        "POST",
        &format!("/grants/{}/revoke", g1["id"].as_str().unwrap()),
        None,
        200,
    );
    assert_eq!(
        cp.gw("orders", Some(&s), Some(t1)).1,
        "token_invalid",
        "the revoked token is gone"
    );
    assert_eq!(
        cp.gw("orders", Some(&s), Some(t2)).0,
        200,
        "the certificate is still allowed through the other grant"
    );
    cp.ok(
        "POST",
        &format!("/grants/{}/revoke", g2["id"].as_str().unwrap()),
        None,
        200,
    );
    assert_eq!(cp.gw("orders", Some(&s), Some("yaml-token")).1, "cert_not_allowed");
}

#[test]
fn keys_api_issues_bound_and_expiring_tokens() {
    let cp = start("");
    let a = cp.client();
    let org = cp.org("k");
    cp.upload(&a, &format!("?organisation={org}"));
    // Allow `a` on orders through a grant-free route: a managed product approved for its org.
    cp.managed_grant(
        &org,
        json!({"name": "p", "apis": ["orders"], "auth": "token_mtls", "certificate_mode": "managed"}),
    );
    let key = cp.ok(
        "POST",
        "/keys",
        Some(
            json!({"apis": ["orders"], "bound_certificates": [a.id().to_hex()], "expires_at": "2099-01-01T00:00:00Z"}),
        ),
        201,
    );
    let token = key["token"].as_str().unwrap();
    assert_eq!(cp.gw("orders", Some(&a), Some(token)).0, 200);
    // An expiry in the past is refused; a key that expires soon works until then.
    let past = cp.call(
        "POST",
        "/keys",
        Some(json!({"apis": ["orders"], "expires_at": "2020-01-01T00:00:00Z"})),
    );
    assert_eq!(past.status, 400, "{}", past.text());
    let soon = certgate::rfc3339::format(certgate::clock::now_unix() + 2);
    let expiring = cp.ok(
        "POST",
        "/keys",
        Some(json!({"apis": ["orders"], "expires_at": soon})),
        201,
    );
    let expiring = expiring["token"].as_str().unwrap();
    assert_eq!(cp.gw("orders", Some(&a), Some(expiring)).0, 200);
    // Refused from its expiry on: polled, at most 2 s past it.
    let start = std::time::Instant::now();
    while cp.gw("orders", Some(&a), Some(expiring)).0 == 200 {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(4),
            "the key never expired"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(cp.gw("orders", Some(&a), Some(expiring)).1, "token_invalid");
    let r = cp.call(
        "POST",
        "/keys",
        Some(json!({"apis": ["orders"], "bound_certificates": ["00".repeat(32), "nope"]})),
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["code"], "unknown_certificate");
    let msg = r.json()["error"].as_str().unwrap().to_string();
    assert!(msg.contains(&"00".repeat(32)) && msg.contains("nope"), "{msg}");
}

#[test]
fn store_directory_sync_hides_and_restores() {
    let cp = start("");
    let org = cp.org("dir");
    let c = cp.client();
    let file = cp.dir.path().join("certs/partner.pem");
    let id = c.id().to_hex();
    let wait = |present: bool| {
        let start = std::time::Instant::now();
        loop {
            let got = cp.call("GET", &format!("/certificates/{id}"), None).status == 200;
            if got == present {
                return;
            }
            assert!(
                start.elapsed() < std::time::Duration::from_secs(10),
                "sync did not see the file {}",
                if present { "appear" } else { "go" }
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    };
    std::fs::write(&file, c.cert_pem()).unwrap();
    wait(true);
    let got = cp.ok("GET", &format!("/certificates/{id}"), None, 200);
    assert_eq!(got["name"], "partner");
    assert_eq!(got["source"], "dir");
    cp.ok(
        "PATCH",
        &format!("/certificates/{id}"),
        Some(json!({"name": "Partner Inc", "organisations": [org]})),
        200,
    );
    assert_eq!(
        cp.call("DELETE", &format!("/certificates/{id}"), None).status,
        409,
        "a directory certificate is removed by removing its file"
    );
    std::fs::remove_file(&file).unwrap();
    wait(false);
    let list = cp.ok("GET", "/certificates", None, 200);
    assert!(!list.to_string().contains(&id), "hidden from lists");
    std::fs::write(&file, c.cert_pem()).unwrap();
    wait(true);
    let back = cp.ok("GET", &format!("/certificates/{id}"), None, 200);
    assert_eq!(
        (back["name"].clone(), back["organisations"].clone()),
        (json!("Partner Inc"), json!([org])),
        "it comes back as it was"
    );
    let listed = cp.ok("GET", &format!("/certificates?organisation={org}"), None, 200);
    assert_eq!(listed["certificates"].as_array().unwrap().len(), 1);
}

#[test]
fn state_survives_a_restart_and_keys_are_encrypted() {
    let mut cp = start("");
    let org = cp.org("persist");
    let with_key = cp.client();
    let mut pem = with_key.cert_pem();
    pem.extend(with_key.key_pem());
    let r = cp.pem(&format!("/certificates?organisation={org}"), &pem);
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["has_private_key"], true);
    assert!(!r.text().contains("PRIVATE KEY"), "the key is never returned");
    let grant = cp.managed_grant(
        &org,
        json!({"name": "p", "apis": ["orders"], "auth": "token_mtls", "certificate_mode": "managed", "bind_certificate_to_token": true}),
    );
    let token = grant["token"].as_str().unwrap().to_string();
    assert_eq!(cp.gw("orders", Some(&with_key), Some(&token)).0, 200);

    cp.gateway.restart(ENV);
    assert_eq!(
        cp.gw("orders", Some(&with_key), Some(&token)).0,
        200,
        "grant, token and allow list survive a restart"
    );
    let got = cp.ok(
        "GET",
        &format!("/certificates?has_private_key=true&organisation={org}"),
        None,
        200,
    );
    assert_eq!(got["certificates"].as_array().unwrap().len(), 1);
    // Nothing in the data directory holds the key or the token in the clear.
    let key_body: String = String::from_utf8(with_key.key_pem())
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .to_string();
    for entry in std::fs::read_dir(cp.dir.path().join("data")).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains("PRIVATE KEY") && !text.contains(&key_body),
            "a private key is stored in the clear"
        );
        assert!(!text.contains(&token), "a token is stored in the clear");
    }
    // A wrong secret cannot open the stored key: certgate refuses to start rather than lose it,
    // and `check` says so first.
    let _ = cp.gateway.child.kill();
    let _ = cp.gateway.child.wait();
    let out = std::process::Command::new(crate::support::certgate_bin())
        .args(["check", "-c"])
        .arg(&cp.gateway.config)
        .env("CERTGATE_ADMIN_KEY", ADMIN_KEY)
        .env("CERTGATE_SECRET", "a-different-secret-0123456789")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "check accepts what run refuses");
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrong secret"));
    let out = std::process::Command::new(crate::support::certgate_bin())
        .args(["run", "-c"])
        .arg(&cp.gateway.config)
        .env("CERTGATE_ADMIN_KEY", ADMIN_KEY)
        .env("CERTGATE_SECRET", "a-different-secret-0123456789")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("wrong secret"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let cp = start("");
    let org = cp.org("bad");
    let good = cp.client();
    cp.upload(&good, "");
    let snapshot = |cp: &Cp| {
        (
            cp.ok("GET", "/certificates", None, 200),
            cp.ok("GET", "/organisations", None, 200),
            cp.ok("GET", "/products", None, 200),
        )
    };
    let before = snapshot(&cp);
    let expired = Spec::client("old")
        .valid(-10 * 86400, -86400)
        .issue(Some(&cp.client_ca));
    let mut mismatch = cp.client().cert_pem();
    mismatch.extend(cp.client().key_pem());
    let big = vec![b'a'; 1024 * 1024 + 10];
    let auth = format!("Bearer {ADMIN_KEY}");
    let cases: Vec<(&str, Response, u16, &str)> = vec![
        (
            "garbage PEM",
            cp.pem("/certificates", b"not a certificate"),
            400,
            "invalid_certificate",
        ),
        ("empty body", cp.pem("/certificates", b""), 400, "invalid_certificate"),
        (
            "key does not match",
            cp.pem("/certificates", &mismatch),
            400,
            "key_mismatch",
        ),
        (
            "expired certificate",
            cp.pem("/certificates", &expired.cert_pem()),
            400,
            "certificate_expired",
        ),
        ("duplicate", cp.pem("/certificates", &good.cert_pem()), 409, "duplicate"),
        (
            "unknown organisation on upload",
            cp.pem("/certificates?organisation=org_nope", &cp.client().cert_pem()),
            400,
            "invalid_request",
        ),
        (
            "unknown certificate",
            cp.call("GET", &format!("/certificates/{}", "ab".repeat(32)), None),
            404,
            "not_found",
        ),
        (
            "patch unknown certificate",
            cp.call("PATCH", "/certificates/nope", Some(json!({"name": "x"}))),
            404,
            "not_found",
        ),
        (
            "patch unknown organisation",
            cp.call(
                "PATCH",
                &format!("/certificates/{}", good.id()),
                Some(json!({"organisations": ["org_nope"]})),
            ),
            400,
            "invalid_request",
        ),
        (
            "delete unknown",
            cp.call("DELETE", "/certificates/nope", None),
            404,
            "not_found",
        ),
        (
            "organisation without name",
            cp.call("POST", "/organisations", Some(json!({}))),
            400,
            "invalid_request",
        ),
        (
            "bad JSON",
            http_request(
                cp.gateway.admin,
                "POST",
                "/organisations",
                &[("Authorization", &auth)],
                b"{",
            ),
            400,
            "invalid_request",
        ),
        (
            "unknown field",
            cp.call("POST", "/organisations", Some(json!({"name": "x", "colour": "red"}))),
            400,
            "invalid_request",
        ),
        (
            "product with unknown API",
            cp.call(
                "POST",
                "/products",
                Some(json!({"name": "p", "apis": ["nope"], "auth": "token_mtls", "certificate_mode": "managed"})),
            ),
            400,
            "unknown_api",
        ),
        (
            "product on a non-mTLS API",
            cp.call(
                "POST",
                "/products",
                Some(json!({"name": "p", "apis": ["open"], "auth": "token_mtls", "certificate_mode": "managed"})),
            ),
            400,
            "invalid_request",
        ),
        (
            "product with a bad mode",
            cp.call(
                "POST",
                "/products",
                Some(json!({"name": "p", "apis": ["orders"], "auth": "token_mtls", "certificate_mode": "sometimes"})),
            ),
            400,
            "invalid_request",
        ),
        (
            "app in an unknown organisation",
            cp.call("POST", "/apps", Some(json!({"name": "a", "organisation": "org_nope"}))),
            400,
            "invalid_request",
        ),
        (
            "request for unknown app",
            cp.call(
                "POST",
                "/access-requests",
                Some(json!({"app": "app_nope", "product": "prod_nope"})),
            ),
            400,
            "invalid_request",
        ),
        (
            "approve unknown request",
            cp.call("POST", "/access-requests/req_nope/approve", None),
            404,
            "not_found",
        ),
        (
            "revoke unknown grant",
            cp.call("POST", "/grants/grant_nope/revoke", None),
            404,
            "not_found",
        ),
        (
            "key for unknown API",
            cp.call("POST", "/keys", Some(json!({"apis": ["nope"]}))),
            400,
            "unknown_api",
        ),
        (
            "key with bad expiry",
            cp.call("POST", "/keys", Some(json!({"apis": ["orders"], "expires_at": "soon"}))),
            400,
            "invalid_request",
        ),
        (
            "no admin key",
            http_request(cp.gateway.admin, "GET", "/certificates", &[], b""),
            401,
            "admin_key_missing",
        ),
        (
            "wrong admin key",
            http_request(
                cp.gateway.admin,
                "GET",
                "/certificates",
                &[("Authorization", "Bearer wrong-key-wrong-key-wrong")],
                b"",
            ),
            403,
            "admin_key_invalid",
        ),
        (
            "oversized body",
            http_request(
                cp.gateway.admin,
                "POST",
                "/certificates",
                &[("Authorization", &auth)],
                &big,
            ),
            413,
            "invalid_request",
        ),
        ("unknown route", cp.call("GET", "/nothing", None), 404, "not_found"),
        (
            "wrong method",
            cp.call("PUT", "/certificates", None),
            405,
            "invalid_request",
        ),
    ];
    let mut failures = Vec::new();
    for (name, r, status, code) in &cases {
        let body: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        if r.status != *status || body["code"] != *code || body["error"].as_str().is_none_or(|m| m.is_empty()) {
            failures.push(format!("{name}: {} {}", r.status, r.text()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(snapshot(&cp), before, "no bad call changed anything");
    let _ = org;
}

#[test]
fn admin_api_over_mtls_with_its_own_allow_list() {
    let dir_ca = Spec::ca("admin operators").issue(None);
    let operator = Spec::client("operator").issue(Some(&dir_ca));
    let former = Spec::client("former operator").issue(Some(&dir_ca));
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("ops-ca.crt"), dir_ca.cert_pem()).unwrap();
    let now = certgate::clock::now_unix();
    let crl = certgate::pki::crl(&dir_ca, &[&former.cert], now - 60, now + 3600).unwrap();
    std::fs::write(tmp.path().join("ops.crl"), crl.to_pem().unwrap()).unwrap();
    // The admin listener's certificates are checked against the CRLs like an API's.
    let cp = start(&format!(
        "  client_certificates: [{}]\nsecurity:\n  revocation:\n    crls: [{}]\n",
        tmp.path().join("ops-ca.crt").display(),
        tmp.path().join("ops.crl").display()
    ));
    let call = |cert: Option<&Issued>| {
        let mut c = TlsClient::new(&cp.ca);
        if let Some(cert) = cert {
            c = c.with_cert(cert);
        }
        c.get(
            cp.gateway.admin,
            "/organisations",
            &[("Authorization", &format!("Bearer {ADMIN_KEY}"))],
        )
    };
    assert_eq!(call(Some(&operator)).status, 200);
    let r = call(None);
    assert_eq!(
        (r.status, r.json()["code"].as_str().unwrap()),
        (403, "client_cert_required")
    );
    let r = call(Some(&cp.client()));
    assert_eq!(
        (r.status, r.json()["code"].as_str().unwrap()),
        (403, "cert_not_allowed")
    );
    let r = call(Some(&former));
    assert_eq!((r.status, r.code()), (403, "cert_revoked".to_string()));
}

#[test]
fn certificate_filters_and_delete() {
    let cp = start("");
    let org = cp.org("filters");
    let soon = Spec::client("soon").valid(-3600, 5 * 86400).issue(Some(&cp.client_ca));
    let later = cp.client();
    let with_key = cp.client();
    cp.upload(&soon, &format!("?organisation={org}"));
    cp.upload(&later, "");
    let mut pem = with_key.cert_pem();
    pem.extend(with_key.key_pem());
    assert_eq!(cp.pem("/certificates", &pem).status, 201);
    let ids = |q: &str| -> Vec<String> {
        let mut v: Vec<String> = cp.ok("GET", &format!("/certificates{q}"), None, 200)["certificates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    assert_eq!(ids(&format!("?organisation={org}")), vec![soon.id().to_hex()]);
    assert_eq!(ids("?expiring_within_days=30"), vec![soon.id().to_hex()]);
    assert_eq!(ids("?has_private_key=true"), vec![with_key.id().to_hex()]);
    assert_eq!(ids("?has_private_key=false").len(), 2);
    assert_eq!(ids("").len(), 3);
    let one = cp.ok("GET", &format!("/certificates/{}", soon.id()), None, 200);
    for field in [
        "id",
        "name",
        "subject",
        "issuer",
        "dns_names",
        "serial",
        "not_before",
        "not_after",
        "is_ca",
        "has_private_key",
        "spki_sha256",
        "organisations",
    ] {
        assert!(one.get(field).is_some(), "certificate object lacks {field}: {one}");
    }
    assert_eq!(
        cp.call("DELETE", &format!("/certificates/{}", later.id()), None).status,
        204
    );
    assert_eq!(
        cp.call("GET", &format!("/certificates/{}", later.id()), None).status,
        404
    );
    assert_eq!(ids("").len(), 2);
}

/// Issue 11: with a store directory, every restart after the first used to exit 2 (records
/// of directory files were stored with an empty PEM). Restarts keep working, and records an
/// older version wrote that way still load, or wait for their file.
#[test]
fn restarts_with_a_store_directory_keep_every_record() {
    let mut cp = start("");
    let org = cp.org("dir");
    let with_key = cp.client();
    let bare_key = cp.client();
    std::fs::write(cp.dir.path().join("certs/with-key.pem"), {
        let mut p = with_key.cert_pem();
        p.extend(with_key.key_pem());
        p
    })
    .unwrap();
    std::fs::write(
        cp.dir.path().join("certs/bare.pem"),
        bare_key.key.public_key_to_pem().unwrap(),
    )
    .unwrap();
    cp.gateway.restart(ENV);
    let id = with_key.id().to_hex();
    cp.ok(
        "PATCH",
        &format!("/certificates/{id}"),
        Some(json!({"name": "kept name", "organisations": [org]})),
        200,
    );
    for round in 0..2 {
        cp.gateway.restart(ENV);
        let got = cp.ok("GET", &format!("/certificates/{id}"), None, 200);
        assert_eq!(
            (
                got["name"].clone(),
                got["organisations"].clone(),
                got["has_private_key"].clone()
            ),
            (json!("kept name"), json!([org]), json!(true)),
            "restart {round}"
        );
        let list = cp.ok("GET", "/certificates", None, 200);
        assert_eq!(
            list["certificates"].as_array().unwrap().len(),
            2,
            "restart {round}: {list}"
        );
    }
    // What an older version stored: directory records without their PEM.
    let _ = cp.gateway.child.kill();
    let _ = cp.gateway.child.wait();
    {
        let db = rusqlite::Connection::open(cp.dir.path().join("data/certgate.db")).unwrap();
        let rows: Vec<(String, Vec<u8>)> = db
            .prepare("SELECT id, body FROM records WHERE kind = 'certificate'")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        for (rid, body) in rows {
            let mut v: Value = serde_json::from_slice(&body).unwrap();
            v["pem"] = json!("");
            db.execute(
                "UPDATE records SET body = ?1 WHERE kind = 'certificate' AND id = ?2",
                rusqlite::params![serde_json::to_vec(&v).unwrap(), rid],
            )
            .unwrap();
        }
    }
    std::fs::remove_file(cp.dir.path().join("certs/with-key.pem")).unwrap();
    cp.gateway.restart(ENV);
    assert_eq!(
        cp.call("GET", &format!("/certificates/{id}"), None).status,
        404,
        "file gone"
    );
    cp.gateway.restart(ENV);
    std::fs::write(cp.dir.path().join("certs/with-key.pem"), with_key.cert_pem()).unwrap();
    let start = std::time::Instant::now();
    loop {
        let r = cp.call("GET", &format!("/certificates/{id}"), None);
        if r.status == 200 {
            assert_eq!(r.json()["name"], "kept name", "the record returns with its file");
            assert_eq!(r.json()["organisations"], json!([org]));
            break;
        }
        assert!(start.elapsed() < std::time::Duration::from_secs(10), "{}", r.text());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Issue 11 §2/§3: what an attacker or a careless operator sends the admin API.
#[test]
fn admin_abuse_is_refused_and_changes_nothing() {
    let cp = start("");
    let auth = format!("Bearer {ADMIN_KEY}");
    let org = cp.org("abuse");
    let product = cp.ok(
        "POST",
        "/products",
        Some(json!({"name": "self", "apis": ["orders"], "auth": "token_mtls", "certificate_mode": "self_serve"})),
        201,
    );
    let app = cp.ok("POST", "/apps", Some(json!({"name": "a", "organisation": org})), 201);
    let consumer = cp.client();
    let mut with_key = String::from_utf8(consumer.cert_pem()).unwrap();
    with_key.push_str(&String::from_utf8(consumer.key_pem()).unwrap());
    let before = (
        cp.ok("GET", "/certificates", None, 200),
        cp.ok("GET", "/organisations", None, 200),
        cp.ok("GET", "/products", None, 200),
    );
    // A chunked body over 1 MiB (no Content-Length to refuse it by).
    let chunked = {
        use std::io::{Read, Write};
        let mut tcp = std::net::TcpStream::connect(("127.0.0.1", cp.gateway.admin)).unwrap();
        tcp.set_read_timeout(Some(std::time::Duration::from_secs(20))).unwrap();
        let head = format!("POST /certificates HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
        tcp.write_all(head.as_bytes()).unwrap();
        let chunk = vec![b'a'; 64 * 1024];
        for _ in 0..20 {
            if tcp.write_all(format!("{:x}\r\n", chunk.len()).as_bytes()).is_err()
                || tcp.write_all(&chunk).is_err()
                || tcp.write_all(b"\r\n").is_err()
            {
                break;
            }
        }
        let _ = tcp.write_all(b"0\r\n\r\n");
        let mut out = Vec::new();
        let _ = tcp.read_to_end(&mut out);
        String::from_utf8_lossy(&out).to_string()
    };
    assert!(chunked.starts_with("HTTP/1.1 413"), "chunked over 1 MiB: {chunked}");
    let cases: Vec<(&str, Response, u16, &str)> = vec![
        (
            "Authorization twice",
            http_request(
                cp.gateway.admin,
                "GET",
                "/certificates",
                &[("Authorization", &auth), ("Authorization", "Bearer other")],
                b"",
            ),
            400,
            "invalid_request",
        ),
        (
            "a name with NUL",
            cp.call("POST", "/organisations", Some(json!({"name": "evil\u{0}org"}))),
            400,
            "invalid_request",
        ),
        (
            "a name with a bidi override",
            cp.call("POST", "/organisations", Some(json!({"name": "acme\u{202E}gpj.exe"}))),
            400,
            "invalid_request",
        ),
        (
            "an app name with a zero-width space",
            cp.call(
                "POST",
                "/apps",
                Some(json!({"name": "a\u{200B}b", "organisation": org})),
            ),
            400,
            "invalid_request",
        ),
        (
            "a name of 10,000 characters",
            cp.call("POST", "/organisations", Some(json!({"name": "x".repeat(10_000)}))),
            400,
            "invalid_request",
        ),
        (
            "a self-serve request carrying the consumer's private key",
            cp.call(
                "POST",
                "/access-requests",
                Some(json!({"app": app["id"], "product": product["id"], "certificate": with_key})),
            ),
            400,
            "invalid_certificate",
        ),
        (
            "a key that expired already",
            cp.call(
                "POST",
                "/keys",
                Some(json!({"apis": ["orders"], "expires_at": "2020-01-01T00:00:00Z"})),
            ),
            400,
            "invalid_request",
        ),
        (
            "malformed JSON: wrong type",
            cp.call("POST", "/organisations", Some(json!({"name": 7}))),
            400,
            "invalid_request",
        ),
        (
            "malformed JSON: not UTF-8",
            http_request(
                cp.gateway.admin,
                "POST",
                "/organisations",
                &[("Authorization", &auth)],
                b"{\"name\": \"\xff\"}",
            ),
            400,
            "invalid_request",
        ),
        (
            "unknown app in a request",
            cp.call(
                "POST",
                "/access-requests",
                Some(json!({"app": "app_x", "product": product["id"]})),
            ),
            400,
            "invalid_request",
        ),
    ];
    let mut failures = Vec::new();
    for (name, r, status, code) in &cases {
        let body: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        if r.status != *status || body["code"] != *code {
            failures.push(format!("{name}: {} {}", r.status, r.text()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let after = (
        cp.ok("GET", "/certificates", None, 200),
        cp.ok("GET", "/organisations", None, 200),
        cp.ok("GET", "/products", None, 200),
    );
    assert_eq!(after, before, "no refused call changed anything");
    assert!(!cp
        .call("GET", "/certificates", None)
        .text()
        .contains(&consumer.id().to_hex()));

    // Approving, rejecting or revoking twice.
    let req = cp.ok(
        "POST",
        "/access-requests",
        Some(json!({"app": app["id"], "product": product["id"], "certificate": String::from_utf8(consumer.cert_pem()).unwrap()})),
        201,
    );
    let grant = cp.approve(&req);
    let id = req["id"].as_str().unwrap();
    assert_eq!(
        cp.call("POST", &format!("/access-requests/{id}/approve"), None).status,
        409,
        "approve twice"
    );
    assert_eq!(
        cp.call("POST", &format!("/access-requests/{id}/reject"), None).status,
        409,
        "reject after approve"
    );
    let g = grant["id"].as_str().unwrap();
    for _ in 0..2 {
        let r = cp.ok("POST", &format!("/grants/{g}/revoke"), None, 200);
        assert_eq!(r["status"], "revoked");
    }
    let token = grant["token"].as_str().unwrap();
    assert_eq!(
        cp.gw("orders", Some(&consumer), Some(token)).0,
        403,
        "a revoked grant stays revoked"
    );
}

/// Issue 11 §4: an admin change recompiles the YAML against the files of the last good
/// load, never the disk: an edited PEM waits for SIGHUP, and a broken one blocks nothing.
#[test]
fn admin_changes_never_pick_up_unreloaded_file_edits() {
    let cp = start("");
    let listed_file = cp.dir.path().join("yaml-listed.crt");
    let replacement = cp.client();
    let org = cp.org("edits");
    let c1 = cp.client();
    cp.upload(&c1, &format!("?organisation={org}"));
    let grant = cp.managed_grant(
        &org,
        json!({"name": "p", "apis": ["orders"], "auth": "token_mtls", "certificate_mode": "managed"}),
    );
    let token = grant["token"].as_str().unwrap().to_string();
    assert_eq!(cp.gw("orders", Some(&cp.yaml_listed), Some("yaml-token")).0, 200);

    // Edited on disk, no SIGHUP: an admin change must not publish the edit.
    std::fs::write(&listed_file, replacement.cert_pem()).unwrap();
    let c2 = cp.client();
    cp.upload(&c2, &format!("?organisation={org}"));
    assert_eq!(
        cp.gw("orders", Some(&c2), Some(&token)).0,
        200,
        "the admin change applied"
    );
    assert_eq!(
        cp.gw("orders", Some(&cp.yaml_listed), Some("yaml-token")).0,
        200,
        "the YAML's file as of the last load still counts"
    );
    assert_eq!(
        cp.gw("orders", Some(&replacement), Some("yaml-token")).0,
        403,
        "the unreloaded edit is not live"
    );

    // A broken edit: admin changes keep applying.
    std::fs::write(
        &listed_file,
        b"-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let c3 = cp.client();
    cp.upload(&c3, &format!("?organisation={org}"));
    assert_eq!(
        cp.gw("orders", Some(&c3), Some(&token)).0,
        200,
        "applied despite the broken file"
    );
    assert!(
        !cp.gateway.log().contains("control_plane_not_applied"),
        "{}",
        cp.gateway.log()
    );

    // SIGHUP with the broken file is refused; with the replacement it applies.
    cp.gateway.signal("HUP");
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(cp.gw("orders", Some(&cp.yaml_listed), Some("yaml-token")).0, 200);
    std::fs::write(&listed_file, replacement.cert_pem()).unwrap();
    cp.gateway.signal("HUP");
    let start = std::time::Instant::now();
    while cp.gw("orders", Some(&replacement), Some("yaml-token")).0 != 200 {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "the reload applies the edit"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
