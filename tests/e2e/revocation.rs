//! SPEC §10 with CRLs: revoked leaves on leaf-listed and CA APIs, a revoked intermediate,
//! an unrevoked sibling, stale CRLs under both policies, and new CRLs applying to
//! kept-alive and resumed connections from their next request.

use std::time::{Duration, Instant};

use certgate::echo::{self, EchoHandle};
use certgate::pki::{crl, Issued, Spec};

use crate::support::{Gateway, TestBed, TlsClient};

const ENV: &[(&str, &str)] = &[
    ("CERTGATE_ADMIN_KEY", "admin-key-for-the-tests-0123456789"),
    ("CERTGATE_SECRET", "secret-for-encrypting-keys-0123456789"),
];

struct World {
    bed: TestBed,
    _up: EchoHandle,
    gateway: Gateway,
    root: Issued,
    int: Issued,
    revoked: Issued,
    sibling: Issued,
    int_leaf: Issued,
}

fn yaml(up: &str, stale: &str) -> String {
    format!(
        "{head}certificate_store: {{dir: store}}\nadmin: {{data_dir: data}}\nsecurity:\n  revocation:\n    crls: [crls/]\n    stale_crl: {stale}\ntokens:\n  - token: record-revoked\n    apis: [credential]\n    certificate: revoked.crt\n  - token: record-sibling\n    apis: [credential]\n    certificate: sibling.crt\napis:\n  - name: listed\n    listen_path: /listed/\n    auth: {{mutual_tls: true, client_certificates: [revoked.crt, sibling.crt]}}\n    upstream: {{url: \"http://{up}\"}}\n  - name: ca\n    listen_path: /ca/\n    auth: {{mutual_tls: true, client_certificates: [root.crt]}}\n    upstream: {{url: \"http://{up}\"}}\n  - name: credential\n    listen_path: /credential/\n    auth: {{type: certificate}}\n    upstream: {{url: \"http://{up}\"}}\n",
        head = TestBed::head("  admin: \"127.0.0.1:{admin}\"\n")
    )
}

const HOUR: i64 = 3600;

fn now() -> i64 {
    certgate::clock::now_unix()
}

impl World {
    fn start() -> World {
        let bed = TestBed::new("revocation server CA");
        let root = Spec::ca("clients root").issue(None);
        let int = Spec::ca("clients intermediate").issue(Some(&root));
        let revoked = Spec::client("revoked").issue(Some(&root));
        let sibling = Spec::client("sibling").issue(Some(&root));
        let int_leaf = Spec::client("under the intermediate").issue(Some(&int));
        for (name, c) in [("root", &root), ("revoked", &revoked), ("sibling", &sibling)] {
            bed.write(&format!("{name}.crt"), c.cert_pem());
        }
        // The intermediate is known to the gateway through the store (its own CRL would be
        // verified with it).
        bed.write("store/int.pem", int.cert_pem());
        let c = crl(&root, &[&revoked.cert, &int.cert], now() - 60, now() + 7 * 24 * HOUR).unwrap();
        bed.write("crls/root.crl", c.to_pem().unwrap());
        let up = echo::start_plain("up").unwrap();
        let gateway = bed.start_with_env(&yaml(&up.addr.to_string(), "refuse"), ENV);
        World {
            bed,
            _up: up,
            gateway,
            root,
            int,
            revoked,
            sibling,
            int_leaf,
        }
    }

    fn client(&self, who: &Issued) -> TlsClient {
        let mut c = self.bed.client().with_cert(who);
        if !who.chain.is_empty() {
            c = c.with_chain(who.chain.clone());
        }
        c
    }

    fn call(&self, who: &Issued, path: &str) -> (u16, String) {
        self.client(who).get(self.gateway.https, path, &[]).verdict()
    }

    fn reload(&self, stale: &str) {
        self.gateway.write_config(&yaml(&self._up.addr.to_string(), stale));
        self.sighup("success");
    }

    /// Sends SIGHUP and waits until the reload counter for `result` moves.
    fn sighup(&self, result: &str) {
        let series = format!("certgate_config_reloads_total{{result=\"{result}\"}}");
        let before = self.gateway.metric(&series);
        self.gateway.signal("HUP");
        let start = Instant::now();
        while self.gateway.metric(&series) < before + 1.0 {
            assert!(start.elapsed() < Duration::from_secs(10), "{}", self.gateway.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `certgate check` on the gateway's config: success, and what it printed on stderr.
    fn check(&self) -> (bool, String) {
        let out = std::process::Command::new(crate::support::certgate_bin())
            .args(["check", "-c"])
            .arg(&self.gateway.config)
            .output()
            .unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
    }

    /// An admin API call.
    fn admin(&self, method: &str, path: &str, body: &[u8]) -> crate::support::client::Response {
        let auth = format!("Bearer {}", ENV[0].1);
        crate::support::client::http_request(self.gateway.admin, method, path, &[("Authorization", &auth)], body)
    }

    /// `GET /crls`.
    fn crls(&self) -> serde_json::Value {
        let r = self.admin("GET", "/crls", b"");
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()
    }

    fn write_crl(&self, revoked: &[&Issued], this_update: i64, next_update: i64) {
        let certs: Vec<_> = revoked.iter().map(|c| &c.cert).collect();
        let c = crl(&self.root, &certs, this_update, next_update).unwrap();
        self.bed.write("crls/root.crl", c.to_pem().unwrap());
    }
}

#[test]
fn revoked_leaves_and_intermediates_are_refused_and_siblings_pass() {
    let w = World::start();
    let revoked = (403, "cert_revoked".to_string());
    assert_eq!(w.call(&w.revoked, "/listed/x"), revoked, "leaf listed by ID");
    assert_eq!(w.call(&w.revoked, "/ca/x"), revoked, "leaf issued by a listed CA");
    assert_eq!(w.call(&w.int_leaf, "/ca/x"), revoked, "its intermediate is revoked");
    assert_eq!(
        w.call(&w.revoked, "/credential/x"),
        revoked,
        "the leaf as the credential"
    );
    assert_eq!(w.call(&w.sibling, "/credential/x").0, 200);
    assert_eq!(w.call(&w.sibling, "/listed/x").0, 200);
    assert_eq!(w.call(&w.sibling, "/ca/x").0, 200);
    let r = w.client(&w.revoked).get(w.gateway.https, "/ca/x", &[]);
    assert_eq!(r.json()["error"], "Certificate has been revoked");

    let m = w.gateway.metrics_text();
    let series = format!(
        "certgate_crl_next_update_timestamp_seconds{{issuer=\"{}\"}}",
        w.root.id().to_hex()
    );
    assert!(crate::support::gateway::metric_value(&m, &series) > now() as f64, "{m}");
    assert!(
        crate::support::gateway::metric_value(
            &m,
            "certgate_revocation_checks_total{result=\"revoked\",source=\"crl\"}"
        ) >= 3.0,
        "{m}"
    );
    let _ = &w.int;

    // GET /crls lists what the data plane checks.
    let list = w.crls();
    let crls = list["crls"].as_array().unwrap();
    assert_eq!(crls.len(), 1, "{list}");
    assert_eq!(crls[0]["issuer_id"], w.root.id().to_hex());
    assert_eq!(crls[0]["entries"], 2);
    assert!(crls[0]["issuer"].as_str().unwrap().contains("clients root"), "{list}");
    assert!(
        crls[0]["next_update"].is_string() && crls[0]["this_update"].is_string(),
        "{list}"
    );
}

#[test]
fn a_new_crl_applies_to_kept_alive_and_resumed_connections_from_the_next_request() {
    let w = World::start();
    let client = w.client(&w.sibling);
    let mut kept = client.connect(w.gateway.https, None);
    assert_eq!(kept.request("GET", "/ca/x", &[]).status, 200);
    let session = kept.session().expect("a session");

    w.write_crl(&[&w.revoked, &w.sibling], now() - 30, now() + 7 * 24 * HOUR);
    w.reload("refuse");
    let r = kept.request("GET", "/ca/x", &[]);
    assert_eq!(
        (r.status, r.code()),
        (403, "cert_revoked".into()),
        "kept-alive connection"
    );
    let r = kept.request("GET", "/listed/x", &[]);
    assert_eq!(r.code(), "cert_revoked", "same connection, leaf-listed API");

    let mut resumed = client.connect(w.gateway.https, Some(&session));
    assert!(resumed.resumed(), "the session resumed");
    assert_eq!(
        resumed.request("GET", "/ca/x", &[]).code(),
        "cert_revoked",
        "resumed session"
    );
}

#[test]
fn a_stale_crl_refuses_or_is_used_as_the_policy_says() {
    let w = World::start();
    w.write_crl(&[&w.revoked], now() - 2 * HOUR, now() - HOUR);
    w.reload("refuse");
    let unknown = (403, "revocation_unknown".to_string());
    assert_eq!(w.call(&w.sibling, "/ca/x"), unknown);
    assert_eq!(w.call(&w.sibling, "/listed/x"), unknown);
    let r = w.client(&w.sibling).get(w.gateway.https, "/ca/x", &[]);
    assert_eq!(r.json()["error"], "Certificate revocation status unknown");
    assert!(
        w.gateway.log().contains("is stale"),
        "warned at load:\n{}",
        w.gateway.log()
    );

    w.reload("allow");
    assert_eq!(w.call(&w.sibling, "/ca/x").0, 200, "stale but allowed");
    assert_eq!(w.call(&w.revoked, "/ca/x").1, "cert_revoked", "its entries still count");
}

#[test]
fn a_crl_the_gateway_cannot_trust_is_a_config_error() {
    let w = World::start();
    // Same issuer name, another key: the signature does not verify.
    let impostor = Spec::ca("clients root").issue(None);
    let forged = crl(&impostor, &[&w.sibling.cert], now() - 60, now() + HOUR).unwrap();
    w.bed.write("crls/root.crl", forged.to_pem().unwrap());
    let (ok, err) = w.check();
    assert!(!ok);
    assert!(
        err.contains("security.revocation.crls[0]") && err.contains("root.crl"),
        "{err}"
    );
    assert!(err.contains("signature does not verify"), "{err}");

    // A CRL of a CA nobody configured; and a file that is no CRL.
    let stranger = Spec::ca("unknown CA").issue(None);
    let c = crl(&stranger, &[], now() - 60, now() + HOUR).unwrap();
    w.bed.write("crls/root.crl", c.to_der().unwrap());
    w.bed.write("crls/junk.crl", b"not a crl");
    let (ok, err) = w.check();
    assert!(!ok);
    assert!(err.contains("no CA certificate certgate knows"), "{err}");
    assert!(err.contains("junk.crl"), "{err}");

    // A reload with it fails and keeps the old CRL: the revoked leaf stays refused.
    w.sighup("failure");
    assert_eq!(w.call(&w.revoked, "/ca/x").1, "cert_revoked");
}

#[test]
fn a_crl_uploaded_through_the_admin_api_applies_from_the_next_request_and_is_kept() {
    let mut w = World::start();
    let mut kept = w.client(&w.sibling).connect(w.gateway.https, None);
    assert_eq!(kept.request("GET", "/ca/x", &[]).status, 200);

    // A newer CRL of the same CA, revoking the sibling too, uploaded as PEM.
    let newer = crl(&w.root, &[&w.revoked.cert, &w.sibling.cert], now() - 30, now() + HOUR).unwrap();
    let r = w.admin("POST", "/crls", &newer.to_pem().unwrap());
    assert_eq!(r.status, 201, "{}", r.text());
    let upload_id = hex::encode(openssl::sha::sha256(&newer.to_der().unwrap()));
    assert_eq!(r.json()["crls"][0]["source"], format!("admin API upload {upload_id}"));
    assert_eq!(r.json()["crls"][0]["entries"], 2);
    let r = kept.request("GET", "/ca/x", &[]);
    assert_eq!(r.code(), "cert_revoked", "the kept-alive connection's next request");
    // One CRL per CA: the upload replaced the older file's for the data plane.
    let list = w.crls();
    assert_eq!(list["crls"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(
        list["crls"][0]["source"],
        format!("admin API upload {upload_id}"),
        "{list}"
    );

    // The same again, as DER: accepted, nothing changes.
    assert_eq!(w.admin("POST", "/crls", &newer.to_der().unwrap()).status, 201);
    // Older than the one applied: refused, it would un-revoke the sibling.
    let older = crl(&w.root, &[&w.revoked.cert], now() - HOUR, now() + HOUR).unwrap();
    let r = w.admin("POST", "/crls", &older.to_pem().unwrap());
    assert_eq!((r.status, r.code()), (409, "invalid_crl".into()), "{}", r.text());
    // Signed by an impostor of the same name, from an unknown CA, or not a CRL: 400.
    let impostor = Spec::ca("clients root").issue(None);
    let forged = crl(&impostor, &[], now(), now() + HOUR).unwrap();
    let r = w.admin("POST", "/crls", &forged.to_pem().unwrap());
    assert_eq!((r.status, r.code()), (400, "invalid_crl".into()), "{}", r.text());
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .contains("signature does not verify"),
        "{}",
        r.text()
    );
    let stranger = Spec::ca("unknown CA").issue(None);
    let r = w.admin(
        "POST",
        "/crls",
        &crl(&stranger, &[], now(), now() + HOUR).unwrap().to_der().unwrap(),
    );
    assert_eq!((r.status, r.code()), (400, "invalid_crl".into()), "{}", r.text());
    let r = w.admin(
        "POST",
        "/crls",
        b"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n",
    );
    assert_eq!((r.status, r.code()), (400, "invalid_crl".into()), "{}", r.text());
    assert_eq!(
        w.call(&w.sibling, "/ca/x").1,
        "cert_revoked",
        "refusals changed nothing"
    );

    // Persisted: a restart (and a SIGHUP, which rereads the older file) keeps the upload.
    w.gateway.restart(ENV);
    assert_eq!(w.call(&w.sibling, "/ca/x").1, "cert_revoked", "after a restart");
    w.sighup("success");
    assert_eq!(w.call(&w.sibling, "/listed/x").1, "cert_revoked", "after a SIGHUP");
    // A newer file wins over the upload at the next reload.
    w.write_crl(&[], now() - 5, now() + HOUR);
    w.sighup("success");
    assert_eq!(
        w.call(&w.sibling, "/ca/x").0,
        200,
        "the newest CRL counts, wherever it came from"
    );
    assert_eq!(w.call(&w.revoked, "/ca/x").0, 200);
}
