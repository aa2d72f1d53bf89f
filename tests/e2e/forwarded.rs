//! SPEC §12: client certificates forwarded by a TLS-terminating load balancer. A certgate
//! in front of a certgate (the outer one forwards RFC 9440 `Client-Cert` and
//! `Client-Cert-Chain`, the inner one trusts the outer's address) decides like one
//! certgate; the same headers from an untrusted address change nothing; each format
//! (`rfc9440`, `pem_urlencoded`, `xfcc`) has its rows, malformed headers answer 400.
//!
//! Every connection here is on loopback: the trusted ingress is `127.0.0.1`, and an
//! untrusted client is curl bound to `127.0.0.2` (`--interface`), which Linux routes over
//! `lo` like any 127/8 address.

use std::process::Command;

use base64::Engine;
use certgate::echo::{self, EchoHandle};
use certgate::pki::{self, Issued, Spec};
use openssl::x509::X509;

use crate::support::{Gateway, TestBed};

const TOKEN: &str = "forwarded-bound-token-0123456789";
const JWT_SECRET: &str = "forwarded-jwt-secret-0123456789";

struct World {
    bed: TestBed,
    _up: EchoHandle,
    people: std::collections::HashMap<&'static str, Issued>,
    mid: Issued,
}

/// The APIs every gateway here serves, to the echo upstream at `up`: `listed` (alice by
/// leaf), `ca` (anyone under the client root, chain needed), `bound` (a token bound to
/// alice), `jwt` (a JWT whose `cnf` must name the leaf), `open` (no auth); every upstream
/// is told sha256, cert and chain. The root's CRL revokes carol.
fn apis(up: &str) -> String {
    let api = |name: &str, auth: &str| {
        format!("  - name: {name}\n    listen_path: /{name}/\n    auth: {auth}\n    forward_client_cert: [sha256, cert, chain]\n    upstream: {{url: \"http://{up}\"}}\n")
    };
    format!(
        "security:\n  revocation:\n    crls: [client-root.crl]\napis:\n{}{}{}{}{}tokens:\n  - token: {TOKEN}\n    apis: [bound]\n    bound_certificates: [alice.crt]\n",
        api("listed", "{mutual_tls: true, client_certificates: [alice.crt]}"),
        api("ca", "{mutual_tls: true, client_certificates: [client-root.crt]}"),
        api(
            "bound",
            "{type: token, mutual_tls: true, client_certificates: [client-root.crt]}"
        ),
        api(
            "jwt",
            &format!("{{type: jwt, mutual_tls: true, client_certificates: [client-root.crt], jwt: {{algorithms: [HS256], secret: \"{JWT_SECRET}\", require_cnf: true}}}}")
        ),
        api("open", "{}"),
    )
}

fn world() -> World {
    let bed = TestBed::new("forwarded edge CA");
    let root = Spec::ca("client root").issue(None);
    let mid = Spec::ca("client mid").issue(Some(&root));
    bed.write("client-root.crt", root.cert_pem());
    let mut people = std::collections::HashMap::new();
    for name in ["alice", "bob"] {
        let c = Spec::client(name).issue(Some(&mid));
        c.write(bed.path(), name);
        people.insert(name, c);
    }
    let expired = Spec::client("old").valid(-3 * 86400, -86400).issue(Some(&mid));
    people.insert("expired", expired);
    let carol = Spec::client("carol").issue(Some(&root));
    let now = certgate::clock::now_unix();
    let crl = certgate::pki::crl(&root, &[&carol.cert], now - 60, now + 86400).unwrap();
    bed.write("client-root.crl", crl.to_pem().unwrap());
    people.insert("carol", carol);
    people.insert("mallory", Spec::client("mallory").issue(None));
    let up = echo::start_plain("forwarded-up").unwrap();
    World {
        bed,
        _up: up,
        people,
        mid,
    }
}

impl World {
    fn up(&self) -> String {
        self._up.addr.to_string()
    }

    /// A gateway with `listen_extra` (e.g. a `trusted_ingress`) and the shared APIs.
    fn gateway(&self, listen_extra: &str) -> Gateway {
        self.bed
            .start(&format!("{}{}", TestBed::head(listen_extra), apis(&self.up())))
    }

    /// The outer certgate: passes everything to `inner`'s plaintext listener, forwarding
    /// the client's certificate and chain as RFC 9440.
    fn outer(&self, inner: &Gateway) -> Gateway {
        let yaml = format!(
            "{}apis:\n  - name: edge\n    listen_path: /\n    forward_client_cert: [cert, chain]\n    upstream: {{url: \"http://127.0.0.1:{}\"}}\n",
            TestBed::head(""),
            inner.http
        );
        self.bed.start(&yaml)
    }

    /// One TLS call as `who` (sending the intermediate when `with_chain`), with the token
    /// when `token`: (status, JSON body).
    fn tls(&self, port: u16, who: Option<&str>, with_chain: bool, path: &str, auth: Auth) -> (u16, serde_json::Value) {
        let mut c = self.bed.client();
        if let Some(w) = who {
            let chain = if with_chain {
                vec![self.mid.cert.clone()]
            } else {
                vec![]
            };
            c = c.with_cert(&self.people[w]).with_chain(chain);
        }
        let value = match auth {
            Auth::None => None,
            Auth::Token => Some(format!("Bearer {TOKEN}")),
            Auth::Jwt => Some(format!("Bearer {}", self.jwt_for("alice"))),
        };
        let headers: Vec<(&str, &str)> = value.iter().map(|v| ("authorization", v.as_str())).collect();
        let r = c.get(port, path, &headers);
        (r.status, r.json())
    }

    /// An HS256 JWT bound to `who`'s certificate (RFC 8705 `cnf."x5t#S256"`).
    fn jwt_for(&self, who: &str) -> String {
        let der = self.cert(who).to_der().unwrap();
        let x5t = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(openssl::sha::sha256(&der));
        let claims =
            serde_json::json!({"sub": who, "exp": certgate::clock::now_unix() + 600, "cnf": {"x5t#S256": x5t}});
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()),
        )
        .unwrap()
    }

    fn cert(&self, who: &str) -> &X509 {
        &self.people[who].cert
    }
}

/// What credential a call carries.
#[derive(Clone, Copy, Debug)]
enum Auth {
    None,
    Token,
    Jwt,
}

/// A plaintext call with curl from `source` (127.0.0.1 is the trusted ingress, 127.0.0.2
/// is not): (status, JSON body).
fn curl(port: u16, source: &str, path: &str, headers: &[String]) -> (u16, serde_json::Value) {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "--interface", source, "-w", "\n%{http_code}"]);
    for h in headers {
        cmd.arg("-H").arg(h);
    }
    let out = cmd
        .arg(format!("http://127.0.0.1:{port}{path}"))
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (
        code.trim().parse().unwrap_or(0),
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    )
}

fn code(v: &serde_json::Value) -> &str {
    v["code"].as_str().unwrap_or("-")
}

#[test]
fn a_certgate_behind_a_certgate_decides_like_one() {
    let w = world();
    let single = w.gateway("");
    let inner = w.gateway("  trusted_ingress: {from: [\"127.0.0.1\"], format: rfc9440}\n");
    let outer = w.outer(&inner);
    use Auth::{Jwt, Token};
    // (who, sends the intermediate, path, credential)
    let rows: &[(Option<&str>, bool, &str, Auth)] = &[
        (Some("alice"), false, "/listed/x", Auth::None),
        (Some("bob"), true, "/listed/x", Auth::None),
        (None, false, "/listed/x", Auth::None),
        (Some("alice"), true, "/ca/x", Auth::None),
        (Some("bob"), true, "/ca/x", Auth::None),
        (Some("alice"), false, "/ca/x", Auth::None),
        (Some("mallory"), false, "/ca/x", Auth::None),
        (Some("expired"), true, "/ca/x", Auth::None),
        (Some("carol"), false, "/ca/x", Auth::None),
        (Some("alice"), true, "/bound/x", Token),
        (Some("bob"), true, "/bound/x", Token),
        (None, false, "/bound/x", Token),
        (Some("alice"), true, "/jwt/x", Jwt),
        (Some("bob"), true, "/jwt/x", Jwt),
        (None, false, "/open/x", Auth::None),
    ];
    let mut seen = Vec::new();
    for &(who, chain, path, auth) in rows {
        let (s1, b1) = w.tls(single.https, who, chain, path, auth);
        let (s2, b2) = w.tls(outer.https, who, chain, path, auth);
        assert_eq!(
            (s2, code(&b2)),
            (s1, code(&b1)),
            "{who:?} chain={chain} {path} {auth:?}: one certgate said {b1}, two said {b2}\n{}",
            inner.log()
        );
        seen.push((s1, code(&b1).to_string()));
    }
    let statuses: Vec<u16> = seen.iter().map(|s| s.0).collect();
    assert_eq!(
        statuses,
        [200, 403, 403, 200, 200, 403, 403, 403, 403, 200, 401, 403, 200, 401, 200],
        "{seen:?}"
    );
    assert_eq!(seen[8].1, "cert_revoked", "carol is on the root's CRL: {seen:?}");
    assert_eq!(
        seen[13].1, "cert_binding_mismatch",
        "the JWT's cnf names alice: {seen:?}"
    );

    // What the inner one's upstream is told: the forwarded leaf, exactly as one certgate
    // would tell it, and never the outer's own forwarding headers as such.
    let (_, through) = w.tls(outer.https, Some("alice"), true, "/ca/x", Auth::None);
    let (_, direct) = w.tls(single.https, Some("alice"), true, "/ca/x", Auth::None);
    for h in ["x-client-cert-sha256", "client-cert", "client-cert-chain"] {
        assert_eq!(through["headers"][h], direct["headers"][h], "{h}: {through}");
    }
    assert_eq!(
        through["headers"]["x-client-cert-sha256"],
        w.people["alice"].id().to_hex()
    );
    assert_eq!(through["headers"]["client-cert"], pki::rfc9440(w.cert("alice")));
    assert_eq!(through["headers"]["client-cert-chain"], pki::rfc9440(&w.mid.cert));
    assert!(inner.metric("certgate_forwarded_certificates_total{source=\"trusted\"}") >= 10.0);
}

#[test]
fn headers_from_an_untrusted_address_change_nothing() {
    let w = world();
    let g = w.gateway("  trusted_ingress: {from: [\"127.0.0.1\"], format: rfc9440}\n");
    let alice = format!("Client-Cert: {}", pki::rfc9440(w.cert("alice")));
    let chain = format!("Client-Cert-Chain: {}", pki::rfc9440(&w.mid.cert));
    let sha = format!("X-Client-Cert-Sha256: {}", w.people["alice"].id().to_hex());
    let before = g.metric("certgate_forwarded_certificates_total{source=\"stripped\"}");
    // From 127.0.0.2: no certificate at all, whatever the headers say.
    let (s, b) = curl(g.http, "127.0.0.2", "/listed/x", &[alice.clone(), chain.clone()]);
    assert_eq!((s, code(&b)), (403, "client_cert_required"), "{b}");
    let (s, b) = curl(
        g.http,
        "127.0.0.2",
        "/open/x",
        &[alice.clone(), chain.clone(), sha.clone()],
    );
    assert_eq!(s, 200);
    for h in ["client-cert", "client-cert-chain", "x-client-cert-sha256"] {
        assert!(b["headers"][h].is_null(), "{h} reached the upstream: {b}");
    }
    // Underscore spellings are the same variable to CGI-style servers: stripped as well.
    let sneaky = format!("Client_Cert: {}", pki::rfc9440(w.cert("alice")));
    let (_, b) = curl(g.http, "127.0.0.2", "/open/x", &[sneaky]);
    assert!(b["headers"]["client_cert"].is_null(), "{b}");
    let after = g.metric("certgate_forwarded_certificates_total{source=\"stripped\"}");
    assert_eq!(after - before, 3.0, "each request that carried one is counted");

    // Without any trusted_ingress, and with one reading another format, the RFC 9440
    // headers are certgate's own all the same: removed from every request.
    for extra in ["", "  trusted_ingress: {from: [\"127.0.0.1\"], format: xfcc}\n"] {
        let other = w.gateway(extra);
        let (s, b) = curl(
            other.http,
            "127.0.0.1",
            "/open/x",
            &[alice.clone(), chain.clone(), sha.clone()],
        );
        assert_eq!(s, 200);
        for h in ["client-cert", "client-cert-chain", "x-client-cert-sha256"] {
            assert!(b["headers"][h].is_null(), "{extra:?}: {h} reached the upstream: {b}");
        }
        let (s, b) = curl(other.http, "127.0.0.1", "/listed/x", std::slice::from_ref(&alice));
        assert_eq!((s, code(&b)), (403, "client_cert_required"), "{extra:?}");
        assert_eq!(
            other.metric("certgate_forwarded_certificates_total{source=\"stripped\"}"),
            2.0
        );
    }

    // Over TLS from an untrusted peer, the connection's own certificate decides: bob's
    // connection claiming to be alice is bob.
    let untrusted = w.gateway("  trusted_ingress: {from: [\"10.0.0.0/8\"], format: rfc9440}\n");
    let mut c = w.bed.client().with_cert(&w.people["bob"]);
    c = c.with_chain(vec![w.mid.cert.clone()]);
    let r = c.get(
        untrusted.https,
        "/listed/x",
        &[("client-cert", &pki::rfc9440(w.cert("alice")))],
    );
    assert_eq!((r.status, r.json()["code"].as_str()), (403, Some("cert_not_allowed")));
    let r = c.get(
        untrusted.https,
        "/ca/x",
        &[("client-cert", &pki::rfc9440(w.cert("alice")))],
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json()["headers"]["x-client-cert-sha256"],
        w.people["bob"].id().to_hex()
    );
}

#[test]
fn each_format_has_its_rows() {
    let w = world();
    let (alice, bob, mid) = (w.cert("alice"), w.cert("bob"), &w.mid.cert);

    // RFC 9440, from the trusted address, in the clear.
    let g = w.gateway("  trusted_ingress: {from: [\"127.0.0.0/8\"], format: rfc9440}\n");
    let call = |path: &str, h: &[String]| curl(g.http, "127.0.0.1", path, h);
    let cc = |c: &X509| format!("Client-Cert: {}", pki::rfc9440(c));
    let chain = format!("Client-Cert-Chain: {}", pki::rfc9440(mid));
    assert_eq!(call("/listed/x", &[cc(alice)]).0, 200);
    assert_eq!(
        code(&call("/listed/x", &[cc(bob), chain.clone()]).1),
        "cert_not_allowed"
    );
    assert_eq!(
        call("/ca/x", &[cc(bob), chain.clone()]).0,
        200,
        "chain from chain_header"
    );
    assert_eq!(
        code(&call("/ca/x", &[cc(bob)]).1),
        "cert_not_allowed",
        "no chain, no path"
    );
    assert_eq!(code(&call("/listed/x", &[]).1), "client_cert_required");
    for bad in [
        vec!["Client-Cert: not-a-byte-sequence".to_string()],
        vec!["Client-Cert: :aGVsbG8=:".to_string()],
        vec![cc(alice), "Client-Cert-Chain: :junk".to_string()],
        vec![cc(alice), cc(bob)],
    ] {
        let (s, b) = call("/open/x", &bad);
        assert_eq!((s, code(&b)), (400, "bad_request"), "{bad:?}: {b}");
        assert_eq!(b["error"], "Invalid forwarded client certificate");
    }
    // Its own TLS certificate does not count for a trusted peer: only what it forwards.
    let r = w
        .bed
        .client()
        .with_cert(&w.people["alice"])
        .get(g.https, "/listed/x", &[]);
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (403, Some("client_cert_required"))
    );

    // AWS ALB: URL-encoded PEM, the leaf then its chain, in X-Amzn-Mtls-Clientcert.
    let g = w.gateway("  trusted_ingress: {from: [\"127.0.0.1\"], format: pem_urlencoded}\n");
    let call = |path: &str, h: &[String]| curl(g.http, "127.0.0.1", path, h);
    let alb = |certs: &[&X509]| format!("X-Amzn-Mtls-Clientcert: {}", pki::pem_urlencoded(certs));
    assert_eq!(call("/listed/x", &[alb(&[alice])]).0, 200);
    assert_eq!(call("/ca/x", &[alb(&[bob, mid])]).0, 200);
    assert_eq!(code(&call("/listed/x", &[alb(&[bob, mid])]).1), "cert_not_allowed");
    let (s, b) = call("/open/x", &["X-Amzn-Mtls-Clientcert: %ZZ".to_string()]);
    assert_eq!((s, code(&b)), (400, "bad_request"));
    let (_, b) = call("/open/x", &[alb(&[alice])]);
    assert_eq!(b["headers"]["x-client-cert-sha256"], w.people["alice"].id().to_hex());
    assert!(
        b["headers"]["x-amzn-mtls-clientcert"].is_null(),
        "the ingress header is not passed on: {b}"
    );

    // Envoy: the last XFCC element's Cert and Chain.
    let g = w.gateway("  trusted_ingress: {from: [\"127.0.0.1\"], format: xfcc}\n");
    let call = |path: &str, h: &[String]| curl(g.http, "127.0.0.1", path, h);
    let xfcc = |leaf: &X509, chain: &[&X509]| {
        format!(
            "X-Forwarded-Client-Cert: By=spiffe://far;Cert=\"{}\",By=spiffe://near;Hash=00;Cert=\"{}\";Chain=\"{}\";Subject=\"CN=x,O=y\"",
            pki::pem_urlencoded(&[w.cert("mallory")]),
            pki::pem_urlencoded(&[leaf]),
            pki::pem_urlencoded(chain)
        )
    };
    assert_eq!(
        call("/ca/x", &[xfcc(bob, &[bob, mid])]).0,
        200,
        "the nearest element counts"
    );
    assert_eq!(call("/listed/x", &[xfcc(alice, &[alice])]).0, 200);
    assert_eq!(
        code(&call("/listed/x", &[xfcc(bob, &[bob, mid])]).1),
        "cert_not_allowed"
    );
    let hash_only = "X-Forwarded-Client-Cert: By=spiffe://near;Hash=468ed33b".to_string();
    assert_eq!(code(&call("/listed/x", &[hash_only]).1), "client_cert_required");
    let (s, b) = call("/open/x", &["X-Forwarded-Client-Cert: Cert=\"unterminated".to_string()]);
    assert_eq!((s, code(&b)), (400, "bad_request"));
}

#[test]
fn config_errors_name_the_setting() {
    let w = world();
    for (extra, path) in [
        (
            "  trusted_ingress: {from: [\"10.0.0.0/33\"], format: rfc9440}\n",
            "listen.trusted_ingress.from[0]",
        ),
        (
            "  trusted_ingress: {from: [], format: rfc9440}\n",
            "listen.trusted_ingress.from",
        ),
        (
            "  trusted_ingress: {from: [\"10.0.0.1\"], format: rfc9440, header: \"bad header\"}\n",
            "listen.trusted_ingress.header",
        ),
        (
            "  trusted_ingress: {from: [\"10.0.0.1\"], format: pem}\n",
            "listen.trusted_ingress.format",
        ),
    ] {
        let yaml = format!("{}{}", TestBed::head(extra), apis(&w.up()));
        let yaml = yaml
            .replace("{https}", "1")
            .replace("{http}", "2")
            .replace("{metrics}", "3");
        w.bed.write("certgate.yaml", yaml);
        let out = Command::new(crate::support::certgate_bin())
            .args(["check", "-c"])
            .arg(w.bed.file("certgate.yaml"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{extra}");
        assert!(err.contains(path), "{extra}: {err}");
        assert!(err.contains("line "), "{err}");
    }
}
