//! `certgate explain` (SPEC §7): the route and every step of SPEC §3 with its verdict, from
//! the data plane's own functions, so its verdict is the gateway's.

use std::process::Command;

use certgate::echo::{self, EchoHandle};
use certgate::pki::{Issued, Spec};

use crate::support::{Gateway, TestBed};

const TOKEN: &str = "explain-bound-token-0123456789";

struct World {
    bed: TestBed,
    _up: EchoHandle,
    gateway: Gateway,
    people: Vec<(&'static str, Issued)>,
}

fn world() -> World {
    let bed = TestBed::new("explain CA");
    let ca = Spec::ca("explain clients").issue(None);
    let mut people = Vec::new();
    for name in ["alice", "mallory"] {
        let c = Spec::client(name).issue(Some(&ca));
        c.write(bed.path(), name);
        people.push((name, c));
    }
    let up = echo::start_plain("explain-up").unwrap();
    let yaml = format!(
        "{}tokens:\n  - token: {TOKEN}\n    apis: [orders]\n    bound_certificates: [alice.crt]\napis:\n  - name: orders\n    hosts: [localhost]\n    listen_path: /orders/\n    auth: {{type: token, mutual_tls: true, client_certificates: [alice.crt, mallory.crt]}}\n    upstream: {{url: \"http://{}\"}}\n  - name: open\n    listen_path: /open/\n    upstream: {{url: \"http://{}\"}}\n",
        TestBed::head(""),
        up.addr,
        up.addr
    );
    let gateway = bed.start(&yaml);
    World {
        bed,
        _up: up,
        gateway,
        people,
    }
}

impl World {
    fn person(&self, name: &str) -> &Issued {
        &self.people.iter().find(|(n, _)| *n == name).unwrap().1
    }

    /// `certgate explain` for one request: (exit code, stdout).
    fn explain(&self, host: &str, path: &str, cert: Option<&str>, token: bool) -> (i32, String) {
        let mut cmd = Command::new(crate::support::certgate_bin());
        cmd.args(["explain", "-c"])
            .arg(&self.gateway.config)
            .args(["--host", host, "--path", path]);
        if let Some(c) = cert {
            cmd.arg("--cert").arg(self.bed.file(&format!("{c}.crt")));
        }
        if token {
            cmd.args(["--header", &format!("Authorization: Bearer {TOKEN}")]);
        }
        let out = cmd.output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        (out.status.code().unwrap_or(-1), text)
    }

    /// The gateway's answer to the same request: (status, code).
    fn gateway(&self, host: &str, path: &str, cert: Option<&str>, token: bool) -> (u16, String) {
        let mut c = self.bed.client();
        if let Some(name) = cert {
            c = c.with_cert(self.person(name));
        }
        let auth = format!("Bearer {TOKEN}");
        // The client sends `Host: localhost`, the only name the test server certificate has.
        assert_eq!(host, "localhost");
        let mut headers: Vec<(&str, &str)> = vec![];
        if token {
            headers.push(("authorization", auth.as_str()));
        }
        let r = c.get(self.gateway.https, path, &headers);
        let code = r.json()["code"].as_str().unwrap_or("-").to_string();
        (r.status, code)
    }
}

#[test]
fn every_step_with_its_verdict() {
    let w = world();
    let (code, out) = w.explain("localhost", "/orders/a/../items?x=1", Some("alice"), true);
    assert_eq!(code, 0, "{out}");
    for line in [
        "0. one meaning per request: pass (path as decided: /orders/items)",
        "1. route: API `orders` (listen_path /orders/)",
        "2. client certificate against the allow list (mutual_tls): pass",
        "3. credential (auth.type): pass",
        "4. certificate binding: pass",
        "verdict: allowed, proxied to http://",
    ] {
        assert!(out.contains(line), "{line:?} missing:\n{out}");
    }
    assert!(out.contains(&w.person("alice").id().to_hex()), "{out}");

    let (code, out) = w.explain("localhost", "/orders/x", Some("mallory"), true);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("3. credential (auth.type): pass"), "{out}");
    assert!(
        out.contains("4. certificate binding: refused (cert_binding_mismatch)"),
        "{out}"
    );
    assert!(out.contains("verdict: refused with 401 cert_binding_mismatch"), "{out}");

    let (_, out) = w.explain("localhost", "/orders/x", None, false);
    assert!(out.contains("refused (client_cert_required)"), "{out}");
    assert!(!out.contains("3. credential"), "it stops at the first refusal: {out}");
    let (_, out) = w.explain("localhost", "/orders/x", Some("alice"), false);
    assert!(
        out.contains("3. credential (auth.type): refused (token_missing)"),
        "{out}"
    );
    let (_, out) = w.explain("other.example", "/orders/x", Some("alice"), true);
    assert!(out.contains("1. route: refused"), "{out}");
    assert!(out.contains("verdict: refused with 404 no_route"), "{out}");
    let (_, out) = w.explain("localhost", "/orders/../../etc", None, false);
    assert!(out.contains("0. one meaning per request: refused"), "{out}");
    let (code, out) = w.explain("any", "/open/x", None, false);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("3. credential (auth.type): not required by this API"),
        "{out}"
    );
}

#[test]
fn its_verdict_is_the_gateways() {
    let w = world();
    let cases: &[(&str, &str, Option<&str>, bool)] = &[
        ("localhost", "/orders/x", Some("alice"), true),
        ("localhost", "/orders/x", Some("mallory"), true),
        ("localhost", "/orders/x", None, true),
        ("localhost", "/orders/x", Some("alice"), false),
        ("localhost", "/nowhere/x", Some("alice"), true),
        ("localhost", "/orders/%2e%2e/x", Some("alice"), true),
        ("localhost", "/orders/a/..;/x", Some("alice"), true),
        ("localhost", "/open/y", None, false),
    ];
    for &(host, path, cert, token) in cases {
        let (status, code) = w.gateway(host, path, cert, token);
        let (exit, out) = w.explain(host, path, cert, token);
        let verdict = out.lines().find(|l| l.starts_with("verdict:")).unwrap_or("");
        if status == 200 {
            assert_eq!(exit, 0, "{host}{path}: the gateway allowed it:\n{out}");
        } else {
            assert_eq!(exit, 1, "{host}{path}:\n{out}");
            assert!(
                verdict.contains(&format!("refused with {status} {code}")),
                "{host}{path} {cert:?}: the gateway said {status} {code}:\n{out}"
            );
        }
    }
}
