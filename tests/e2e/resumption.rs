//! A resumed TLS session gets exactly the decision a full handshake gets.

use crate::fixture::Fixture;
use crate::support::TlsClient;

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
fn clients_that_send_intermediates_are_not_offered_resumption() {
    let f = Fixture::shared();
    let port = f.gateway.https;
    let client = f
        .client(Some("inter_client"))
        .with_chain(vec![f.certs["inter"].cert.clone()]);
    let (s1, b1, s2, b2, resumed) = twice(&client, port, "/cert/x");
    assert_eq!((s1, s2), (200, 200), "{b1} / {b2}");
    assert!(
        !resumed,
        "a resumed session would lose the intermediates, so none is offered"
    );
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
