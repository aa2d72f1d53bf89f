//! SPEC §11, gRPC through certgate with a real gRPC client and server on both sides of it
//! (`tests/support/grpc_peer.py`, Python grpcio, installed by `scripts/install-deps.sh`),
//! over mTLS on both legs: the client presents its certificate to certgate, certgate
//! presents its own to the gRPC server (`upstream.protocol: h2`).
//!
//! All four call kinds with trailers, large messages, `grpc-timeout` passed on, a deadline
//! exceeded, cancellation, refusals answered as gRPC statuses, and an upstream that is down.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use certgate::pki::Spec;
use serde_json::Value;

use crate::support::{Gateway, TestBed};

/// The token of the `bound` API, bound to alice's certificate.
const TOKEN: &str = "grpc-bound-token-0123456789";

fn peer_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/grpc_peer.py")
}

/// The gRPC server, killed when dropped.
struct Server {
    child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct World {
    bed: TestBed,
    gateway: Gateway,
    server: Server,
}

fn start() -> World {
    let bed = TestBed::new("grpc edge CA");
    let clients = Spec::ca("grpc clients").issue(None);
    bed.write("clients.crt", clients.cert_pem());
    Spec::client("alice").issue(Some(&clients)).write(bed.path(), "alice");
    Spec::client("bob").issue(Some(&clients)).write(bed.path(), "bob");
    Spec::client("mallory").issue(None).write(bed.path(), "mallory");
    // The upstream leg: the gRPC server's certificate, and the one certgate presents to it.
    let up_ca = Spec::ca("grpc upstream CA").issue(None);
    bed.write("up-ca.crt", up_ca.cert_pem());
    Spec::server("localhost", &["localhost"])
        .issue(Some(&up_ca))
        .write(bed.path(), "up");
    let gw_ca = Spec::ca("grpc gateway clients").issue(None);
    bed.write("gw-ca.crt", gw_ca.cert_pem());
    Spec::client("certgate")
        .issue(Some(&gw_ca))
        .write_combined(bed.path(), "gw");

    let mut child = Command::new("python3")
        .arg(peer_script())
        .args(["server", "--cert"])
        .arg(bed.file("up.crt"))
        .arg("--key")
        .arg(bed.file("up.key"))
        .arg("--client-ca")
        .arg(bed.file("gw-ca.crt"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs (scripts/install-deps.sh installs grpcio)");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("the gRPC server did not start: {line:?}"));
    let server = Server { child };
    let yaml = format!(
        "{}apis:\n  - name: grpc\n    listen_path: /test.Echo/\n    auth: {{mutual_tls: true, client_certificates: [clients.crt]}}\n    upstream:\n      url: \"https://localhost:{port}\"\n      ca: up-ca.crt\n      protocol: h2\n      certificates: {{\"*\": gw.pem}}\n  - name: bound\n    listen_path: /test.Bound/\n    auth: {{type: token, mutual_tls: true, client_certificates: [clients.crt]}}\n    upstream:\n      url: \"https://localhost:{port}\"\n      ca: up-ca.crt\n      protocol: h2\n      certificates: {{\"*\": gw.pem}}\ntokens:\n  - token: {TOKEN}\n    apis: [bound]\n    bound_certificates: [alice.crt]\n",
        TestBed::head("")
    );
    let gateway = bed.start(&yaml);
    World { bed, gateway, server }
}

impl World {
    /// One call through certgate as `cert` (`alice`, `mallory`, or none); the client's
    /// JSON report (`code`, `details`, `responses`, `trailers`).
    fn call(&self, cert: Option<&str>, kind: &str, extra: &[&str]) -> Value {
        let mut cmd = Command::new("python3");
        cmd.arg(peer_script())
            .args(["client", "--port", &self.gateway.https.to_string(), "--ca"])
            .arg(self.bed.file("server-ca.crt"))
            .args(["--call", kind]);
        if let Some(c) = cert {
            cmd.arg("--cert")
                .arg(self.bed.file(&format!("{c}.crt")))
                .arg("--key")
                .arg(self.bed.file(&format!("{c}.key")));
        }
        let out = cmd.args(extra).output().expect("python3 runs");
        let text = String::from_utf8_lossy(&out.stdout);
        serde_json::from_str(text.trim()).unwrap_or_else(|_| {
            panic!(
                "{kind}: no report: {text}\n{}\n{}",
                String::from_utf8_lossy(&out.stderr),
                self.gateway.log()
            )
        })
    }
}

#[test]
fn all_four_call_kinds_pass_with_trailers_and_large_messages() {
    let w = start();
    let unary = w.call(Some("alice"), "unary", &[]);
    assert_eq!(unary["code"], "OK", "{unary}");
    assert_eq!(unary["responses"][0], "echo:hello");
    assert_eq!(unary["trailers"]["x-trailer"], "unary", "trailers pass: {unary}");

    let server = w.call(Some("alice"), "server", &[]);
    assert_eq!(server["code"], "OK", "{server}");
    assert_eq!(server["responses"], serde_json::json!(["m0", "m1", "m2", "m3", "m4"]));
    assert_eq!(server["trailers"]["x-trailer"], "server");

    let client = w.call(Some("alice"), "client", &[]);
    assert_eq!(client["code"], "OK", "{client}");
    assert_eq!(client["responses"][0], "got:4:20");

    let bidi = w.call(Some("alice"), "bidi", &[]);
    assert_eq!(bidi["code"], "OK", "{bidi}");
    assert_eq!(bidi["responses"], serde_json::json!(["cba", "fed", "olleh"]));

    // 8 MiB each way in one message, and four of them streamed in.
    let big = w.call(Some("alice"), "unary", &["--payload-bytes", "8388608"]);
    assert_eq!(big["code"], "OK", "{big}");
    assert_eq!(big["responses"][0], 8388608 + 5);
    let big_in = w.call(Some("alice"), "client", &["--payload-bytes", "4194304"]);
    assert_eq!(big_in["responses"][0], format!("got:4:{}", 4 * 4194304).len());
}

#[test]
fn deadlines_pass_on_and_expire_and_cancellation_ends_the_call() {
    let w = start();
    let seen = w.call(Some("alice"), "headers", &["--timeout", "5"]);
    assert_eq!(seen["code"], "OK", "{seen}");
    let upstream: Value = serde_json::from_str(seen["responses"][0].as_str().unwrap()).unwrap();
    let left = upstream["time_remaining"]
        .as_f64()
        .expect("grpc-timeout reached the server");
    assert!(left > 3.0 && left <= 5.0, "{left}");
    let id = upstream["x-client-cert-sha256"].as_str().unwrap_or_default();
    assert_eq!(id.len(), 64, "the leaf's ID is forwarded: {upstream}");

    let late = w.call(Some("alice"), "slow", &["--slow", "3", "--timeout", "1"]);
    assert_eq!(late["code"], "DEADLINE_EXCEEDED", "{late}");

    let cancelled = w.call(Some("alice"), "cancel", &[]);
    assert_eq!(cancelled["code"], "CANCELLED", "{cancelled}");
    assert_eq!(cancelled["responses"][0], "gnip");
    // The gateway and the server are fine afterwards.
    assert_eq!(w.call(Some("alice"), "unary", &[])["code"], "OK");
}

#[test]
fn refused_and_failed_calls_are_grpc_statuses() {
    let mut w = start();
    let none = w.call(None, "unary", &[]);
    assert_eq!(none["code"], "PERMISSION_DENIED", "{none}");
    assert!(none["details"].as_str().unwrap().contains("certificate"), "{none}");
    let other = w.call(Some("mallory"), "bidi", &[]);
    assert_eq!(other["code"], "PERMISSION_DENIED", "{other}");
    // Refused while the client is still sending (its half of the stream stays open): the
    // answer is queued and the stream dropped at once, and the answer still arrives whole.
    for _ in 0..5 {
        let open_half = w.call(Some("mallory"), "cancel", &[]);
        assert_eq!(open_half["code"], "PERMISSION_DENIED", "{open_half}");
        assert_eq!(
            open_half["trailers"]["certgate-reason"], "cert_not_allowed",
            "{open_half}"
        );
    }

    // The gRPC server goes away: UNAVAILABLE, not a protocol error.
    let _ = w.server.child.kill();
    let _ = w.server.child.wait();
    let down = w.call(Some("alice"), "unary", &[]);
    assert_eq!(down["code"], "UNAVAILABLE", "{down}");
}

#[test]
fn a_bound_token_works_only_with_its_certificate() {
    let w = start();
    let token = format!("authorization=Bearer {TOKEN}");
    let bound = ["--service", "Bound", "--metadata", &token];
    let ok = w.call(Some("alice"), "bidi", &bound);
    assert_eq!(ok["code"], "OK", "{ok}");
    assert_eq!(ok["responses"], serde_json::json!(["cba", "fed", "olleh"]));
    let stolen = w.call(Some("bob"), "bidi", &bound);
    // SPEC §3 step 4: a binding mismatch is 401, so UNAUTHENTICATED.
    assert_eq!(
        stolen["code"], "UNAUTHENTICATED",
        "another listed certificate: {stolen}"
    );
    assert_eq!(stolen["trailers"]["certgate-reason"], "cert_binding_mismatch");
    let missing = w.call(Some("alice"), "unary", &["--service", "Bound"]);
    assert_eq!(missing["code"], "UNAUTHENTICATED", "no token: 401 → 16: {missing}");
    let wrong = w.call(
        Some("alice"),
        "unary",
        &["--service", "Bound", "--metadata", "authorization=Bearer nope"],
    );
    assert_eq!(wrong["code"], "PERMISSION_DENIED", "an unknown token: 403 → 7: {wrong}");
    assert_eq!(wrong["trailers"]["certgate-reason"], "token_invalid");
}
