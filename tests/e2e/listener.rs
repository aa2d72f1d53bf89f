//! The TLS listener: server certificates by SNI, the three `client_auth` modes, and round
//! robin over upstream targets.

use certgate::echo;
use certgate::pki::Spec;

use crate::support::{Gateway, TestBed, TlsClient};

fn gateway(
    client_auth: &str,
    extra_apis: &str,
) -> (
    TestBed,
    Gateway,
    certgate::pki::Issued,
    certgate::pki::Issued,
    echo::EchoHandle,
) {
    let dir = TestBed::new("listener CA");
    let d = dir.path();
    let ca = dir.server_ca.clone();
    Spec::server("default.test", &["localhost", "default.test"])
        .issue(Some(&ca))
        .write(d, "default");
    Spec::server("api", &["api.example.com"])
        .issue(Some(&ca))
        .write(d, "api");
    Spec::server("wild", &["*.example.org"])
        .issue(Some(&ca))
        .write(d, "wild");
    let client = Spec::client("client").issue(Some(&ca));
    std::fs::write(d.join("client.crt"), client.cert_pem()).unwrap();
    let up = echo::start_plain("up").unwrap();
    let yaml = format!(
        r#"
listen:
  https: "127.0.0.1:{{https}}"
tls:
  certificate: default.crt
  key: default.key
  client_auth: {client_auth}
  sni:
    - hosts: [api.example.com]
      certificate: api.crt
      key: api.key
    - hosts: ["*.example.org"]
      certificate: wild.crt
      key: wild.key
apis:
  - name: mtls
    listen_path: /mtls/
    auth:
      mutual_tls: true
      client_certificates: [client.crt]
    upstream: {{url: "http://{up}"}}
  - name: open
    listen_path: /open/
    upstream: {{url: "http://{up}"}}
{extra_apis}"#,
        up = up.addr
    );
    let g = Gateway::start(d, &yaml);
    (dir, g, ca, client, up)
}

#[test]
fn server_certificate_follows_sni() {
    let (_d, g, ca, _c, _up) = gateway("request", "");
    for (sni, cn) in [
        ("api.example.com", "api"),
        ("x.example.org", "wild"),
        ("localhost", "default.test"),
    ] {
        let conn = TlsClient::new(&ca).with_sni(sni).connect(g.https, None);
        assert_eq!(conn.server_cn(), cn, "SNI {sni}");
    }
}

#[test]
fn client_auth_request_accepts_any_and_decides_per_request() {
    let (_d, g, ca, client, _up) = gateway("request", "");
    let stranger = Spec::client("stranger").issue(None);
    assert_eq!(
        TlsClient::new(&ca).get(g.https, "/open/x", &[]).status,
        200,
        "no certificate, open API"
    );
    assert_eq!(
        TlsClient::new(&ca)
            .with_cert(&stranger)
            .get(g.https, "/open/x", &[])
            .status,
        200,
        "any certificate, open API"
    );
    assert_eq!(
        TlsClient::new(&ca)
            .with_cert(&stranger)
            .get(g.https, "/mtls/x", &[])
            .status,
        403
    );
    assert_eq!(
        TlsClient::new(&ca)
            .with_cert(&client)
            .get(g.https, "/mtls/x", &[])
            .status,
        200
    );
}

#[test]
fn client_auth_require_ends_handshakes_without_a_certificate() {
    let (_d, g, ca, client, _up) = gateway("require", "");
    let ok = TlsClient::new(&ca)
        .try_connect(g.https, None)
        .ok()
        .and_then(|mut c| c.try_request("/open/x"));
    assert!(ok.is_none(), "a client without a certificate gets no answer");
    assert_eq!(
        TlsClient::new(&ca)
            .with_cert(&client)
            .get(g.https, "/mtls/x", &[])
            .status,
        200
    );
    let stranger = Spec::client("stranger").issue(None);
    assert_eq!(
        TlsClient::new(&ca)
            .with_cert(&stranger)
            .get(g.https, "/mtls/x", &[])
            .status,
        403,
        "require is not an allow list"
    );
}

#[test]
fn client_auth_none_never_asks() {
    let (_d, g, ca, client, _up) = gateway("none", "");
    let r = TlsClient::new(&ca).with_cert(&client).get(g.https, "/mtls/x", &[]);
    assert_eq!(
        (r.status, r.json()["code"].as_str().unwrap()),
        (403, "client_cert_required")
    );
}

#[test]
fn round_robin_over_targets() {
    let r1 = echo::start_plain("r1").unwrap();
    let r2 = echo::start_plain("r2").unwrap();
    let extra = format!(
        "  - name: rr\n    listen_path: /rr/\n    upstream:\n      targets: [\"http://{}\", \"http://{}\"]\n",
        r1.addr, r2.addr
    );
    let (_d, g, ca, _c, _up) = gateway("request", &extra);
    let seen: Vec<String> = (0..4)
        .map(|_| {
            TlsClient::new(&ca).get(g.https, "/rr/x", &[]).json()["upstream"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_ne!(seen[0], seen[1], "{seen:?}");
    assert_eq!(seen[0], seen[2], "{seen:?}");
    assert_eq!(seen[1], seen[3], "{seen:?}");
}

#[test]
fn key_exchange_groups_follow_tls_groups() {
    // Default: OpenSSL's list, post-quantum hybrid included.
    let (_d, g, ca, _c, _up) = gateway("request", "");
    for offered in ["X25519MLKEM768", "X25519", "P-256"] {
        let r = TlsClient::new(&ca).with_groups(offered).get(g.https, "/open/x", &[]);
        assert_eq!(r.status, 200, "default groups accept a client offering only {offered}");
    }
    // tls.groups restricts what the listener agrees to.
    let (_d, g, ca, _c, _up) = gateway("request\n  groups: [P-384, X25519]", "");
    assert_eq!(
        TlsClient::new(&ca)
            .with_groups("P-384")
            .get(g.https, "/open/x", &[])
            .status,
        200
    );
    let refused = TlsClient::new(&ca)
        .with_groups("X25519MLKEM768:P-256")
        .try_connect(g.https, None);
    assert!(refused.is_err(), "a group outside tls.groups cannot be negotiated");
}

#[test]
fn tls13_cipher_suites_follow_the_servers_preference() {
    const AES128: &str = "TLS_AES_128_GCM_SHA256";
    const AES256: &str = "TLS_AES_256_GCM_SHA384";
    const CHACHA: &str = "TLS_CHACHA20_POLY1305_SHA256";
    let negotiated = |g: &Gateway, ca: &certgate::pki::Issued, offered: &str| {
        TlsClient::new(ca)
            .with_ciphersuites(offered)
            .try_connect(g.https, None)
            .map(|c| c.cipher())
    };
    // Default: AES-128-GCM first, whatever the client's order ...
    let (_d, g, ca, _c, _up) = gateway("request", "");
    assert_eq!(negotiated(&g, &ca, &format!("{AES256}:{AES128}")).unwrap(), AES128);
    // ... unless the client puts ChaCha20 first (clients without AES instructions do).
    assert_eq!(
        negotiated(&g, &ca, &format!("{CHACHA}:{AES256}:{AES128}")).unwrap(),
        CHACHA
    );
    // Every default suite is accepted on its own.
    for s in [AES128, AES256, CHACHA] {
        assert_eq!(negotiated(&g, &ca, s).unwrap(), s);
    }
    // tls.ciphersuites replaces the list and its order.
    let (_d, g, ca, _c, _up) = gateway(&format!("request\n  ciphersuites: [{AES256}]"), "");
    assert_eq!(negotiated(&g, &ca, &format!("{AES128}:{AES256}")).unwrap(), AES256);
    assert!(
        negotiated(&g, &ca, AES128).is_err(),
        "a suite outside tls.ciphersuites cannot be negotiated"
    );
}

#[test]
fn alternate_identity_each_client_gets_the_key_type_it_accepts() {
    use certgate::pki::KeyKind;
    use openssl::pkey::Id;
    let dir = TestBed::new("alternate CA");
    let d = dir.path();
    let ca = dir.server_ca.clone();
    Spec::server("default-ec", &["localhost"])
        .issue(Some(&ca))
        .write(d, "default-ec");
    // The RSA chain has an intermediate: it must be sent with the RSA leaf, not the ECDSA one.
    let intermediate = Spec::ca("alternate intermediate").issue(Some(&ca));
    Spec::server("default-rsa", &["localhost"])
        .key(KeyKind::Rsa2048)
        .issue(Some(&intermediate))
        .write(d, "default-rsa");
    Spec::server("api-rsa", &["api.example.com"])
        .key(KeyKind::Rsa2048)
        .issue(Some(&ca))
        .write(d, "api-rsa");
    Spec::server("api-ec", &["api.example.com"])
        .issue(Some(&ca))
        .write(d, "api-ec");
    let up = echo::start_plain("up").unwrap();
    let yaml = format!(
        r#"
listen:
  https: "127.0.0.1:{{https}}"
tls:
  certificate: default-ec.crt
  key: default-ec.key
  alternate: {{certificate: default-rsa.crt, key: default-rsa.key}}
  sni:
    - hosts: [api.example.com]
      certificate: api-rsa.crt
      key: api-rsa.key
      alternate: {{certificate: api-ec.crt, key: api-ec.key}}
apis:
  - name: open
    listen_path: /open/
    upstream: {{url: "http://{up}"}}
"#,
        up = up.addr
    );
    let g = Gateway::start(d, &yaml);
    const RSA_ONLY: &str = "rsa_pss_rsae_sha256:rsa_pkcs1_sha256";
    // (SNI, client, expected key type, expected CN): ECDSA whenever the client accepts it,
    // whichever of the two the config names first and whatever order the client lists.
    let cases = [
        ("localhost", TlsClient::new(&ca), Id::EC, "default-ec"),
        (
            "localhost",
            TlsClient::new(&ca).with_sigalgs(RSA_ONLY),
            Id::RSA,
            "default-rsa",
        ),
        (
            "localhost",
            TlsClient::new(&ca).with_sigalgs(&format!("{RSA_ONLY}:ecdsa_secp256r1_sha256")),
            Id::EC,
            "default-ec",
        ),
        ("api.example.com", TlsClient::new(&ca), Id::EC, "api-ec"),
        (
            "api.example.com",
            TlsClient::new(&ca).with_sigalgs(RSA_ONLY),
            Id::RSA,
            "api-rsa",
        ),
        (
            "localhost",
            TlsClient::new(&ca)
                .tls12()
                .with_tls12_ciphers("ECDHE-RSA-AES128-GCM-SHA256"),
            Id::RSA,
            "default-rsa",
        ),
        ("localhost", TlsClient::new(&ca).tls12(), Id::EC, "default-ec"),
    ];
    for (i, (sni, client, key_type, cn)) in cases.into_iter().enumerate() {
        let mut conn = client.with_sni(sni).connect(g.https, None);
        assert_eq!(
            (conn.server_key_type(), conn.server_cn().as_str()),
            (key_type, cn),
            "case {i}"
        );
        assert_eq!(conn.request("GET", "/open/x", &[]).status, 200, "case {i}");
    }
}
