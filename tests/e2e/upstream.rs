//! SPEC §4 through a real gateway and real upstream TLS servers that demand a client
//! certificate from the gateway CA.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use certgate::echo::{self, EchoConfig, EchoHandle};
use certgate::pki::{Issued, Spec};

use crate::support::hostile::{Hostile, Mode};
use crate::support::{Gateway, Response, TestBed, TlsClient};

struct Upstreams {
    _dir: TestBed,
    gateway: Gateway,
    servers: HashMap<&'static str, EchoHandle>,
    client_ids: HashMap<&'static str, String>,
    edge_ca: Issued,
}

/// Upstream servers by name: (certificate names, server cert validity, extra chain).
fn setup(
    apis_yaml: impl Fn(&HashMap<&'static str, EchoHandle>, &std::path::Path) -> String,
    security_yaml: &str,
) -> Upstreams {
    let dir = TestBed::new("edge CA");
    let d = dir.path();
    let edge_ca = dir.server_ca.clone();
    Spec::server("localhost", &["localhost"])
        .issue(Some(&edge_ca))
        .write(d, "edge");
    let up_ca = Spec::ca("upstream CA").issue(None);
    let gw_ca = Spec::ca("gateway client CA").issue(None);
    let rogue_ca = Spec::ca("rogue CA").issue(None);
    let unrelated_ca = Spec::ca("unrelated CA").issue(None);
    std::fs::write(d.join("up-ca.crt"), up_ca.cert_pem()).unwrap();
    std::fs::write(d.join("unrelated-ca.crt"), unrelated_ca.cert_pem()).unwrap();
    let mut client_ids = HashMap::new();
    for (name, issuer) in [("gw1", &gw_ca), ("gw2", &gw_ca), ("rogue", &rogue_ca)] {
        let c = Spec::client(&format!("gateway {name}")).issue(Some(issuer));
        c.write_combined(d, name);
        client_ids.insert(name, c.id().to_hex());
    }
    Spec::client("no key").issue(Some(&gw_ca)).write(d, "nokey");
    let mut servers = HashMap::new();
    let mut start = |name: &'static str, cert: Issued| {
        std::fs::write(d.join(format!("{name}-leaf.crt")), cert.cert_pem()).unwrap();
        let h = echo::start(
            EchoConfig {
                name: name.into(),
                tls: Some(cert),
                client_ca: vec![gw_ca.cert.clone()],
                h2: false,
            },
            "127.0.0.1:0".parse().unwrap(),
        )
        .unwrap();
        servers.insert(name, h);
    };
    start("a", Spec::server("a.internal", &["a.internal"]).issue(Some(&up_ca)));
    start("b", Spec::server("b.internal", &["b.internal"]).issue(Some(&up_ca)));
    start(
        "expired",
        Spec::server("expired.internal", &["expired.internal"])
            .valid(-10 * 86400, -86400)
            .issue(Some(&up_ca)),
    );
    start(
        "wronghost",
        Spec::server("other.internal", &["other.internal"]).issue(Some(&up_ca)),
    );
    start("ip", Spec::server("ip", &["127.0.0.1"]).issue(Some(&up_ca)));
    start(
        "ipless",
        Spec::server("ipless", &["ipless.internal"]).issue(Some(&up_ca)),
    );
    let mut appended = Spec::server("c.internal", &["c.internal"]).issue(Some(&up_ca));
    appended.chain = vec![unrelated_ca.cert.clone()];
    start("appended", appended);
    let yaml = format!(
        "listen:\n  https: \"127.0.0.1:{{https}}\"\n  metrics: \"127.0.0.1:{{metrics}}\"\n  threads: 2\ntls:\n  certificate: edge.crt\n  key: edge.key\n{security_yaml}\napis:\n{}",
        apis_yaml(&servers, d)
    );
    let gateway = Gateway::start(d, &yaml);
    Upstreams {
        _dir: dir,
        gateway,
        servers,
        client_ids,
        edge_ca,
    }
}

impl Upstreams {
    fn get(&self, path: &str) -> Response {
        TlsClient::new(&self.edge_ca).get(self.gateway.https, path, &[])
    }

    fn seen(&self, path: &str) -> String {
        let r = self.get(path);
        assert_eq!(r.status, 200, "{path}: {}\n{}", r.text(), self.gateway.log());
        r.json()["client_cert_sha256"].as_str().unwrap_or("none").to_string()
    }

    fn code(&self, path: &str) -> (u16, String) {
        let r = self.get(path);
        (r.status, r.code())
    }
}

fn api(name: &str, url: String, connect_to: u16, extra: &str) -> String {
    format!("  - name: {name}\n    listen_path: /{name}/\n    strip_listen_path: true\n    upstream:\n      url: {url}\n      connect_to: \"127.0.0.1:{connect_to}\"\n{extra}")
}

#[test]
fn the_right_client_certificate_reaches_each_domain() {
    let u = setup(
        |s, _| {
            [
                api(
                    "a",
                    format!("https://a.internal:{}", s["a"].addr.port()),
                    s["a"].addr.port(),
                    "",
                ),
                api(
                    "b",
                    format!("https://b.internal:{}", s["b"].addr.port()),
                    s["b"].addr.port(),
                    "      certificates:\n        \"b.internal\": gw2.pem\n",
                ),
                api(
                    "rogue",
                    format!("https://a.internal:{}", s["a"].addr.port()),
                    s["a"].addr.port(),
                    "      certificates:\n        \"*\": rogue.pem\n",
                ),
                api(
                    "none",
                    format!("https://a.internal:{}", s["a"].addr.port()),
                    s["a"].addr.port(),
                    "      certificates:\n        \"*.other\": gw1.pem\n",
                ),
            ]
            .concat()
        },
        "security:\n  upstream_ca: up-ca.crt\n  upstream_certificates:\n    \"*.internal\": gw1.pem\n",
    );
    assert_eq!(u.seen("/a/x"), u.client_ids["gw1"], "gateway map, wildcard");
    assert_eq!(u.seen("/b/x"), u.client_ids["gw2"], "API map beats gateway map");
    assert_eq!(
        u.code("/rogue/x"),
        (502, "upstream_tls_failed".into()),
        "a certificate the upstream does not trust"
    );
    // An API-map miss falls back to the gateway map (any API *hit* beats the gateway).
    assert_eq!(u.seen("/none/x"), u.client_ids["gw1"]);
    assert!(
        u.gateway
            .log()
            .contains("event=upstream_failed api=rogue reason=upstream_tls_failed"),
        "{}",
        u.gateway.log()
    );
}

#[test]
fn no_client_certificate_when_no_entry_matches() {
    let u = setup(
        |s, _| {
            api(
                "a",
                format!("https://a.internal:{}", s["a"].addr.port()),
                s["a"].addr.port(),
                "",
            )
        },
        "security:\n  upstream_ca: up-ca.crt\n  upstream_certificates:\n    \"*.elsewhere\": gw1.pem\n",
    );
    assert_eq!(
        u.code("/a/x"),
        (502, "upstream_tls_failed".into()),
        "the upstream demands a certificate\n{}",
        u.gateway.log()
    );
}

#[test]
fn verification_and_skip_verify() {
    let u = setup(
        |s, _| {
            let p = |n: &str| s[n].addr.port();
            [
                api(
                    "expired",
                    format!("https://expired.internal:{}", p("expired")),
                    p("expired"),
                    "",
                ),
                api(
                    "expired-skip",
                    format!("https://expired.internal:{}", p("expired")),
                    p("expired"),
                    "      insecure_skip_verify: true\n",
                ),
                api(
                    "wronghost",
                    format!("https://wrong.internal:{}", p("wronghost")),
                    p("wronghost"),
                    "",
                ),
                api(
                    "wronghost-skip",
                    format!("https://wrong.internal:{}", p("wronghost")),
                    p("wronghost"),
                    "      insecure_skip_verify: true\n",
                ),
                api(
                    "sni",
                    format!("https://wrong.internal:{}", p("wronghost")),
                    p("wronghost"),
                    "      sni: other.internal\n",
                ),
                api(
                    "untrusted",
                    format!("https://a.internal:{}", p("a")),
                    p("a"),
                    "      ca: unrelated-ca.crt\n",
                ),
                api("ip", format!("https://127.0.0.1:{}", p("ip")), p("ip"), ""),
                api("ipless", format!("https://127.0.0.1:{}", p("ipless")), p("ipless"), ""),
            ]
            .concat()
        },
        "security:\n  upstream_ca: up-ca.crt\n  upstream_certificates:\n    \"*\": gw1.pem\n",
    );
    assert_eq!(u.code("/expired/x"), (502, "upstream_tls_failed".into()));
    assert_eq!(u.get("/expired-skip/x").status, 200);
    assert_eq!(u.code("/wronghost/x"), (502, "upstream_tls_failed".into()));
    assert_eq!(u.get("/wronghost-skip/x").status, 200);
    assert_eq!(u.get("/sni/x").status, 200, "sni overrides the verification name");
    assert_eq!(u.get("/untrusted/x").status, 200, "an API's `ca` adds to the gateway's");
    assert_eq!(u.get("/ip/x").status, 200, "an IP target matches an IP SAN");
    assert_eq!(
        u.code("/ipless/x"),
        (502, "upstream_tls_failed".into()),
        "an IP target needs an IP SAN"
    );
    let log = u.gateway.log();
    assert!(
        log.contains("API expired-skip: upstream.insecure_skip_verify is ON"),
        "{log}"
    );
}

#[test]
fn pins() {
    let dir_pins = |s: &HashMap<&'static str, EchoHandle>, d: &std::path::Path| {
        let a_leaf = openssl::x509::X509::from_pem(&std::fs::read(d.join("a-leaf.crt")).unwrap()).unwrap();
        let spki = certgate::certs::sha256(&a_leaf.public_key().unwrap().public_key_to_der().unwrap());
        let b64 = {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode(spki)
        };
        let pin_forms = format!("      pinned_public_keys:\n        \"*\": [\"sha256//{b64}\"]\n");
        let pin_hex = format!("      pinned_public_keys:\n        \"*\": {}\n", hex::encode(spki));
        let p = |n: &str| s[n].addr.port();
        let url = |h: &str, n: &str| format!("https://{h}:{}", p(n));
        [
            api(
                "match",
                url("a.internal", "a"),
                p("a"),
                "      pinned_public_keys:\n        \"a.internal\": a-leaf.crt\n",
            ),
            api(
                "ca-pin",
                url("a.internal", "a"),
                p("a"),
                "      pinned_public_keys:\n        \"*\": up-ca.crt\n",
            ),
            api(
                "mismatch",
                url("a.internal", "a"),
                p("a"),
                "      pinned_public_keys:\n        \"*\": b-leaf.crt\n",
            ),
            api(
                "appended",
                url("c.internal", "appended"),
                p("appended"),
                "      pinned_public_keys:\n        \"*\": unrelated-ca.crt\n",
            ),
            api(
                "skip-leaf",
                url("a.internal", "a"),
                p("a"),
                "      insecure_skip_verify: true\n      pinned_public_keys:\n        \"*\": a-leaf.crt\n",
            ),
            api(
                "skip-ca",
                url("a.internal", "a"),
                p("a"),
                "      insecure_skip_verify: true\n      pinned_public_keys:\n        \"*\": up-ca.crt\n",
            ),
            api("gateway-pin", url("b.internal", "b"), p("b"), ""),
            api("curl-form", url("a.internal", "a"), p("a"), &pin_forms),
            api("hex-form", url("a.internal", "a"), p("a"), &pin_hex),
        ]
        .concat()
    };
    let u = setup(dir_pins, "security:\n  upstream_ca: up-ca.crt\n  upstream_certificates:\n    \"*\": gw1.pem\n  pinned_public_keys:\n    \"b.internal\": \"b-leaf.crt, 0000000000000000000000000000000000000000000000000000000000000000\"\n");
    assert_eq!(u.get("/match/x").status, 200, "leaf pin");
    assert_eq!(u.get("/ca-pin/x").status, 200, "a pin on the CA in the verified chain");
    assert_eq!(u.code("/mismatch/x"), (502, "upstream_pin_mismatch".into()));
    assert_eq!(
        u.code("/appended/x"),
        (502, "upstream_pin_mismatch".into()),
        "a pinned certificate appended to an unrelated chain"
    );
    assert_eq!(
        u.get("/skip-leaf/x").status,
        200,
        "skip-verify still honours a leaf pin"
    );
    assert_eq!(
        u.code("/skip-ca/x"),
        (502, "upstream_pin_mismatch".into()),
        "without verification only the leaf counts"
    );
    assert_eq!(u.get("/gateway-pin/x").status, 200, "gateway pins, comma-separated");
    assert_eq!(u.get("/curl-form/x").status, 200, "curl's sha256//base64 form");
    assert_eq!(u.get("/hex-form/x").status, 200, "64 hex digits of the SPKI SHA-256");
    // Pins are checked on reused connections too.
    for _ in 0..3 {
        assert_eq!(u.code("/mismatch/x").0, 502);
        assert_eq!(u.get("/match/x").status, 200);
    }
    let m = u.gateway.metrics_text();
    assert!(
        m.contains("certgate_upstream_errors_total{api=\"mismatch\",reason=\"upstream_pin_mismatch\"} 4"),
        "{m}"
    );
}

#[test]
fn pools_never_mix_certificates_or_pins() {
    let u = setup(
        |s, _| {
            let port = s["a"].addr.port();
            let url = format!("https://a.internal:{port}");
            [
                api("one", url.clone(), port, "      certificates: {\"*\": gw1.pem}\n"),
                api("two", url.clone(), port, "      certificates: {\"*\": gw2.pem}\n"),
                api("pin-a", url.clone(), port, "      certificates: {\"*\": gw1.pem}\n      pinned_public_keys: {\"*\": a-leaf.crt}\n"),
                api("pin-ab", url, port, "      certificates: {\"*\": gw1.pem}\n      pinned_public_keys: {\"*\": [a-leaf.crt, b-leaf.crt]}\n"),
            ]
            .concat()
        },
        "security:\n  upstream_ca: up-ca.crt\n",
    );
    for _ in 0..5 {
        assert_eq!(u.seen("/one/x"), u.client_ids["gw1"]);
        assert_eq!(u.seen("/two/x"), u.client_ids["gw2"]);
    }
    let before = u.servers["a"].stats.connections.load(Ordering::SeqCst);
    assert_eq!(before, 2, "one pooled connection per client certificate");
    for _ in 0..5 {
        u.seen("/pin-a/x");
        u.seen("/pin-ab/x");
    }
    let after = u.servers["a"].stats.connections.load(Ordering::SeqCst);
    assert_eq!(
        after - before,
        2,
        "one pooled connection per pin set, never shared with `one`"
    );
}

#[test]
fn config_errors_for_upstream_settings() {
    let dir = TestBed::new("ca");
    let d = dir.path();
    let ca = dir.server_ca.clone();
    Spec::client("no key").issue(Some(&ca)).write(d, "nokey");
    let yaml = "listen:\n  http: \"127.0.0.1:1\"\nsecurity:\n  upstream_certificates:\n    \"*.x\": nokey.crt\n    \"a*.y\": nokey.crt\n  pinned_public_keys:\n    \"z\": \"sha256//nope\"\napis:\n  - name: a\n    listen_path: /\n    upstream: {url: \"https://x\", sni: \"\"}\n";
    std::fs::write(d.join("c.yaml"), yaml).unwrap();
    let out = std::process::Command::new(crate::support::certgate_bin())
        .args(["check", "-c"])
        .arg(d.join("c.yaml"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("security.upstream_certificates.*.x:") && err.contains("needs its private key"),
        "{err}"
    );
    assert!(err.contains("security.pinned_public_keys.z[0]:"), "{err}");
    assert!(err.contains("apis[0].upstream.sni: must not be empty"), "{err}");
    assert!(err.contains("line "), "{err}");
}

#[test]
fn unavailable_targets_timeouts_and_failover() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let dead_port = crate::support::free_port();
    let u = setup(
        |s, _| {
            let a = s["a"].addr.port();
            format!(
                "{}{}  - name: failover\n    listen_path: /failover/\n    upstream:\n      targets: [\"https://127.0.0.1:{dead_port}\", \"https://127.0.0.1:{a}\"]\n      sni: a.internal\n      certificates: {{\"*\": gw1.pem}}\n      connect_timeout_ms: 500\n",
                api("dead", format!("http://127.0.0.1:{dead_port}"), dead_port, ""),
                api("slow", format!("http://127.0.0.1:{silent_port}"), silent_port, "      read_timeout_ms: 300\n"),
            )
        },
        "security:\n  upstream_ca: up-ca.crt\n",
    );
    assert_eq!(u.code("/dead/x"), (502, "upstream_unavailable".into()));
    let r = u.get("/slow/x");
    assert_eq!(
        (r.status, r.json()["code"].as_str().unwrap()),
        (504, "upstream_unavailable"),
        "{}",
        r.text()
    );
    // Round robin over a dead and a live target: every request succeeds (a failed connect
    // moves on to the next target), and the dead one is skipped after its first failure.
    for i in 0..6 {
        let r = u.get("/failover/x");
        assert_eq!(r.status, 200, "request {i}: {}", r.text());
    }
    let log = u.gateway.log();
    let downs = log
        .lines()
        .filter(|l| l.contains("event=upstream_target_down api=failover"))
        .count();
    assert_eq!(downs, 1, "the dead target is marked once, then skipped:\n{log}");
    drop(silent);
}

/// A TLS upstream writes a second, unsolicited answer right behind every real one, in the
/// same record or in a record of its own. certgate reads upstream connections ahead (whole
/// records and what follows), so it must never hand those extra bytes to a later request as
/// its answer, nor reuse such a connection.
#[test]
fn bytes_an_upstream_sends_after_its_answer_never_answer_a_later_request() {
    let bed = TestBed::new("chatty edge CA");
    let up_ca = Spec::ca("chatty upstream CA").issue(None);
    bed.write("up-ca.crt", up_ca.cert_pem());
    let cert = Spec::server("up.internal", &["up.internal"]).issue(Some(&up_ca));
    let same = Hostile::start_tls(Mode::ExtraAnswer, &cert);
    let apart = Hostile::start_tls(Mode::ExtraWrite, &cert);
    let (p_same, p_apart) = (same.addr.port(), apart.addr.port());
    let yaml = format!(
        "{}security:\n  upstream_ca: up-ca.crt\napis:\n{}{}",
        TestBed::head(""),
        api("same", format!("https://up.internal:{p_same}"), p_same, ""),
        api("apart", format!("https://up.internal:{p_apart}"), p_apart, ""),
    );
    let gw = bed.start(&yaml);
    for (path, up) in [("/same/x", &same), ("/apart/x", &apart)] {
        let mut kept = bed.client().connect(gw.https, None);
        for i in 1..=6 {
            // Alternate a kept-alive client connection and fresh ones.
            let r = if i % 2 == 0 {
                kept.request("GET", path, &[])
            } else {
                bed.client().get(gw.https, path, &[])
            };
            assert_eq!(r.status, 200, "{path} #{i}: {}", r.text());
            let body = r.text();
            assert!(
                body.starts_with("conn-") && body.ends_with("-req-1"),
                "{path} #{i}: every answer is the first on its upstream connection, never the extra bytes: {body}"
            );
        }
        assert_eq!(
            up.connections.load(Ordering::SeqCst),
            6,
            "{path}: a connection that sent more than its answer is never reused"
        );
    }
}
