//! A resumed TLS session gets exactly the decision a full handshake gets.

use certgate::echo;
use certgate::pki::{self, Spec};

use crate::fixture::Fixture;
use crate::support::{TestBed, TlsClient};

/// Full handshake, then a resumption attempt: both answers, and whether it resumed.
fn twice(client: &TlsClient, port: u16, path: &str) -> (u16, String, u16, String, bool) {
    let mut first = client.connect(port, None);
    assert!(!first.resumed());
    let a = first.request("GET", path, &[]);
    let session = first.session().expect("a session");
    first.close();
    let mut second = client.connect(port, Some(&session));
    let b = second.request("GET", path, &[]);
    let resumed = second.resumed();
    (a.status, a.text(), b.status, b.text(), resumed)
}

#[test]
fn resumed_sessions_decide_like_full_handshakes() {
    let f = Fixture::shared();
    let port = f.gateway.https;
    for (cert, path, want) in [
        ("listed", "/cert/x", 200),
        ("ca_client", "/cert/x", 200),
        ("stranger", "/cert/x", 403),
        ("expired_listed", "/cert/x", 403),
    ] {
        let (s1, b1, s2, b2, resumed) = twice(&f.client(Some(cert)), port, path);
        assert!(resumed, "{cert}: a leaf-only client should resume (TLS 1.3 ticket)");
        assert_eq!(s1, want, "{cert} full handshake: {b1}");
        assert_eq!(s2, want, "{cert} resumed: {b2}");
        if want != 200 {
            assert_eq!(b1, b2, "{cert}: same denial body");
        } else {
            let (j1, j2): (serde_json::Value, serde_json::Value) =
                (serde_json::from_str(&b1).unwrap(), serde_json::from_str(&b2).unwrap());
            assert_eq!(
                j1["headers"]["x-client-cert-sha256"], j2["headers"]["x-client-cert-sha256"],
                "{cert}: same leaf ID upstream"
            );
        }
    }
}

#[test]
fn clients_that_send_intermediates_resume_with_them() {
    let f = Fixture::shared();
    let port = f.gateway.https;
    // `/cert/` allows the client CA, which issued the intermediate: only the sent chain
    // connects inter_client to it, so a resumed session without it would answer 403.
    for (chain, want) in [(vec![f.certs["inter"].cert.clone()], 200), (vec![], 403)] {
        let client = f.client(Some("inter_client")).with_chain(chain.clone());
        let (s1, b1, s2, b2, resumed) = twice(&client, port, "/cert/x");
        assert!(resumed, "{} sent: a ticket is offered", chain.len());
        assert_eq!((s1, s2), (want, want), "{} sent: {b1} / {b2}", chain.len());
        if want != 200 {
            assert_eq!(b1, b2, "same denial body");
        }
    }
    // What OpenSSL-based clients (curl, Python) send: the leaf and the CA from their trust
    // store, here a self-signed root the API trusts.
    let client = f
        .client(Some("ca_client"))
        .with_chain(vec![f.certs["client_ca"].cert.clone()]);
    let (s1, b1, s2, b2, resumed) = twice(&client, port, "/cert/x");
    assert!(resumed, "leaf + root: a ticket is offered");
    assert_eq!((s1, s2), (200, 200), "{b1} / {b2}");
}

/// A chain-only API forwarding the leaf and the chain (RFC 9440), behind a CRL that revokes
/// one of two intermediates: a resumed connection must verify, check revocation and forward
/// the chain its full handshake was given, through a second and a third resumption too.
#[test]
fn resumed_sessions_carry_the_sent_chain() {
    let bed = TestBed::new("resumption edge CA");
    let root = Spec::ca("client root").issue(None);
    let mid = Spec::ca("client mid").issue(Some(&root));
    let bad_mid = Spec::ca("revoked mid").issue(Some(&root));
    bed.write("client-root.crt", root.cert_pem());
    let now = certgate::clock::now_unix();
    let crl = pki::crl(&root, &[&bad_mid.cert], now - 60, now + 86400).unwrap();
    bed.write("client-root.crl", crl.to_pem().unwrap());
    let alice = Spec::client("alice").issue(Some(&mid));
    let carol = Spec::client("carol").issue(Some(&bad_mid));
    let up = echo::start_plain("resumption-up").unwrap();
    let gw = bed.start(&format!(
        "{}security:\n  revocation:\n    crls: [client-root.crl]\napis:\n  - name: ca\n    listen_path: /ca/\n    auth: {{mutual_tls: true, client_certificates: [client-root.crt]}}\n    forward_client_cert: [sha256, cert, chain]\n    upstream: {{url: \"http://{}\"}}\n",
        TestBed::head(""),
        up.addr
    ));

    let client = bed.client().with_cert(&alice).with_chain(vec![mid.cert.clone()]);
    let mut conn = client.connect(gw.https, None);
    let full = conn.request("GET", "/ca/x", &[]);
    assert_eq!(full.status, 200, "{}", full.text());
    let full = full.json();
    assert_eq!(full["headers"]["client-cert-chain"], pki::rfc9440(&mid.cert));
    for round in 1..=3 {
        let session = conn.session().expect("a session");
        conn.close();
        conn = client.connect(gw.https, Some(&session));
        assert!(conn.resumed(), "resumption {round}");
        let r = conn.request("GET", "/ca/x", &[]);
        assert_eq!(r.status, 200, "resumption {round}: {}", r.text());
        let r = r.json();
        for h in ["x-client-cert-sha256", "client-cert", "client-cert-chain"] {
            assert_eq!(r["headers"][h], full["headers"][h], "resumption {round}: {h}");
        }
    }

    let client = bed.client().with_cert(&carol).with_chain(vec![bad_mid.cert.clone()]);
    let (s1, b1, s2, b2, resumed) = twice(&client, gw.https, "/ca/x");
    assert!(resumed);
    assert_eq!((s1, s2), (403, 403), "{b1} / {b2}");
    assert!(
        b1.contains("cert_revoked"),
        "the revoked intermediate is on the path: {b1}"
    );
    assert_eq!(b1, b2, "same denial body");
}

#[test]
fn tls12_always_does_a_full_handshake() {
    let f = Fixture::shared();
    let client = f.client(Some("listed")).tls12();
    let (s1, _, s2, _, resumed) = twice(&client, f.gateway.https, "/cert/x");
    assert_eq!((s1, s2), (200, 200));
    assert!(!resumed);
}

#[test]
fn a_ticket_resumes_once() {
    let f = Fixture::shared();
    let client = f.client(Some("listed"));
    let mut first = client.connect(f.gateway.https, None);
    assert_eq!(first.request("GET", "/cert/x", &[]).status, 200);
    let session = first.session().expect("a session");
    first.close();
    let mut again = client.connect(f.gateway.https, Some(&session));
    assert!(again.resumed());
    assert_eq!(again.request("GET", "/cert/x", &[]).status, 200);
    let mut replay = client.connect(f.gateway.https, Some(&session));
    assert!(!replay.resumed(), "tickets are single use");
    assert_eq!(
        replay.request("GET", "/cert/x", &[]).status,
        200,
        "and the full handshake decides alike"
    );
}
