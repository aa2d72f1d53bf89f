//! SPEC §11, downstream side, with curl over HTTP/2 (ALPN h2 on `listen.https`, prior
//! knowledge on `listen.http`): the same decisions and answers as HTTP/1.1, and refused
//! gRPC calls answered as gRPC (HTTP 200, `grpc-status`, `grpc-message`,
//! `certgate-reason`), for policy refusals and for an upstream that is down.

use std::process::Command;

use certgate::pki::Spec;

use crate::support::gateway::free_port;
use crate::support::{Gateway, TestBed};

struct World {
    bed: TestBed,
    gateway: Gateway,
    _up: certgate::echo::EchoHandle,
}

fn start() -> World {
    let bed = TestBed::new("h2 downstream CA");
    let clients = Spec::ca("h2 clients").issue(None);
    bed.write("clients.crt", clients.cert_pem());
    Spec::client("alice").issue(Some(&clients)).write(bed.path(), "alice");
    Spec::client("mallory").issue(None).write(bed.path(), "mallory");
    let up = certgate::echo::start_plain("up").unwrap();
    let yaml = format!(
        "{}apis:\n  - name: mtls\n    listen_path: /mtls/\n    auth: {{mutual_tls: true, client_certificates: [clients.crt]}}\n    upstream: {{url: \"http://{}\"}}\n  - name: down\n    listen_path: /down/\n    upstream: {{url: \"http://127.0.0.1:{}\"}}\n  - name: open\n    listen_path: /open/\n    upstream: {{url: \"http://{}\"}}\n",
        TestBed::head("  header_timeout_ms: 1500\n"),
        up.addr,
        free_port(),
        up.addr
    );
    let gateway = bed.start(&yaml);
    World { bed, gateway, _up: up }
}

/// What curl saw: HTTP version, status, and the response headers (lower-case names).
struct Seen {
    version: String,
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Splits what `curl -D -` printed into a [`Seen`].
fn seen(out: &std::process::Output) -> Seen {
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.split_whitespace();
    let version = parts.next().unwrap_or_default().to_string();
    let status = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Seen {
        version,
        status,
        headers,
        body: body.to_string(),
    }
}

impl World {
    /// curl on the cleartext listener with `mode` (`--http2-prior-knowledge`, `--http1.1`).
    fn curl_plain(&self, mode: &str, path: &str, extra: &[&str]) -> Seen {
        let out = Command::new("curl")
            .args(["-s", mode, "-D", "-", "--max-time", "10"])
            .args(extra)
            .arg(format!("http://127.0.0.1:{}{path}", self.gateway.http))
            .output()
            .expect("curl runs");
        seen(&out)
    }

    /// Writes `bytes` on a new cleartext connection and reads until the gateway closes it.
    fn raw_plain(&self, bytes: &[u8]) -> (String, std::time::Duration) {
        use std::io::{Read, Write};
        let mut tcp = std::net::TcpStream::connect(("127.0.0.1", self.gateway.http)).unwrap();
        tcp.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
        tcp.write_all(bytes).unwrap();
        let start = std::time::Instant::now();
        let mut out = Vec::new();
        let _ = tcp.read_to_end(&mut out);
        (String::from_utf8_lossy(&out).into_owned(), start.elapsed())
    }

    fn curl(&self, cert: Option<&str>, path: &str, extra: &[&str]) -> Seen {
        let mut cmd = Command::new("curl");
        cmd.args(["-s", "--http2", "-D", "-", "--max-time", "10", "--cacert"])
            .arg(self.bed.file("server-ca.crt"))
            .args(["--resolve", &format!("localhost:{}:127.0.0.1", self.gateway.https)]);
        if let Some(c) = cert {
            cmd.arg("--cert")
                .arg(self.bed.file(&format!("{c}.crt")))
                .arg("--key")
                .arg(self.bed.file(&format!("{c}.key")));
        }
        let out = cmd
            .args(extra)
            .arg(format!("https://localhost:{}{path}", self.gateway.https))
            .output()
            .expect("curl runs");
        seen(&out)
    }
}

#[test]
fn http2_gets_the_same_decisions_as_http1() {
    let w = start();
    let ok = w.curl(Some("alice"), "/mtls/x", &[]);
    assert_eq!((ok.version.as_str(), ok.status), ("HTTP/2", 200), "{}", ok.body);
    assert!(ok.body.contains("\"path\":\"/mtls/x\""), "{}", ok.body);
    let none = w.curl(None, "/mtls/x", &[]);
    assert_eq!((none.version.as_str(), none.status), ("HTTP/2", 403));
    assert!(none.body.contains("\"code\":\"client_cert_required\""), "{}", none.body);
    let other = w.curl(Some("mallory"), "/mtls/x", &[]);
    assert_eq!(other.status, 403);
    assert!(other.body.contains("cert_not_allowed"), "{}", other.body);
    // `..` in :path is one meaning only: resolved before routing, or refused.
    let dots = w.curl(None, "/mtls/../mtls/x", &["--path-as-is"]);
    assert_ne!(dots.status, 200, "{}", dots.body);
    let none_route = w.curl(Some("alice"), "/nowhere", &[]);
    assert_eq!(none_route.status, 404);
}

#[test]
fn refused_grpc_calls_are_answered_as_grpc() {
    let w = start();
    let grpc = [
        "-H",
        "content-type: application/grpc",
        "-H",
        "te: trailers",
        "--data-binary",
        "",
    ];
    let refused = w.curl(None, "/mtls/pkg.Service/Call", &grpc);
    assert_eq!(refused.status, 200, "gRPC answers are HTTP 200: {:?}", refused.headers);
    assert_eq!(refused.header("content-type"), Some("application/grpc"));
    assert_eq!(refused.header("grpc-status"), Some("7"), "403 → PERMISSION_DENIED");
    assert_eq!(refused.header("certgate-reason"), Some("client_cert_required"));
    assert!(refused.header("grpc-message").is_some_and(|m| !m.is_empty()));
    assert!(refused.body.is_empty(), "headers only: {}", refused.body);

    let other = w.curl(Some("mallory"), "/mtls/pkg.Service/Call", &grpc);
    assert_eq!(other.header("certgate-reason"), Some("cert_not_allowed"));
    let unrouted = w.curl(Some("alice"), "/nowhere/pkg.Service/Call", &grpc);
    assert_eq!(unrouted.header("grpc-status"), Some("12"), "404 → UNIMPLEMENTED");
    let down = w.curl(None, "/down/pkg.Service/Call", &grpc);
    assert_eq!(down.status, 200);
    assert_eq!(
        down.header("grpc-status"),
        Some("14"),
        "502 → UNAVAILABLE: {:?}",
        down.headers
    );
    assert_eq!(down.header("certgate-reason"), Some("upstream_unavailable"));
    // Not gRPC: the JSON answer stays.
    let json = w.curl(None, "/mtls/x", &[]);
    assert_eq!(json.header("content-type"), Some("application/json"));
}

#[test]
fn prior_knowledge_on_the_cleartext_listener_gets_the_same_decisions() {
    let w = start();
    let h2 = "--http2-prior-knowledge";
    let ok = w.curl_plain(h2, "/open/x?q=1", &[]);
    assert_eq!((ok.version.as_str(), ok.status), ("HTTP/2", 200), "{}", ok.body);
    assert!(ok.body.contains("\"path\":\"/open/x?q=1\""), "{}", ok.body);
    let none = w.curl_plain(h2, "/mtls/x", &[]);
    assert_eq!((none.version.as_str(), none.status), ("HTTP/2", 403));
    assert!(none.body.contains("\"code\":\"client_cert_required\""), "{}", none.body);
    let dots = w.curl_plain(h2, "/open/../mtls/x", &["--path-as-is"]);
    assert_eq!(dots.status, 403, "`..` resolved before routing: {}", dots.body);
    let unrouted = w.curl_plain(h2, "/nowhere", &[]);
    assert_eq!(unrouted.status, 404);
    let grpc = w.curl_plain(
        h2,
        "/mtls/pkg.Service/Call",
        &["-H", "content-type: application/grpc", "--data-binary", ""],
    );
    assert_eq!(grpc.header("grpc-status"), Some("7"), "{:?}", grpc.headers);
    // HTTP/1.1 on the same port, unchanged.
    let h1 = w.curl_plain("--http1.1", "/open/x", &[]);
    assert_eq!((h1.version.as_str(), h1.status), ("HTTP/1.1", 200), "{}", h1.body);
}

#[test]
fn the_cleartext_listener_tells_http1_from_http2_without_waiting_for_24_bytes() {
    let w = start();
    // Shorter than the HTTP/2 preface: answered at once, not after a timeout.
    let (answer, took) = w.raw_plain(b"GET /open/ HTTP/1.0\r\n\r\n");
    assert!(answer.starts_with("HTTP/1."), "{answer}");
    assert!(took < std::time::Duration::from_secs(1), "short request took {took:?}");
    // A preface begun and never finished: after the header timeout (1.5 s, counted from the
    // accept) HTTP/1 takes it, and refuses it.
    let (answer, took) = w.raw_plain(b"PRI * HTTP/2.0\r\n");
    assert!(took < std::time::Duration::from_secs(5), "half a preface kept {took:?}");
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408") || answer.starts_with("HTTP/1.1 400"),
        "{answer}"
    );
    // Connected and silent: closed within the header timeout.
    let (answer, took) = w.raw_plain(b"");
    assert!(answer.is_empty(), "{answer}");
    assert!(took < std::time::Duration::from_secs(5), "silent client kept {took:?}");
    let ok = w.curl_plain("--http2-prior-knowledge", "/open/x", &[]);
    assert_eq!(ok.status, 200, "others are still served");
}

/// The pingora#935 pattern: HTTP/2 clients on an HTTP/1 upstream, each request given up
/// while its answer is still on the way (the stream is reset, the upstream connection holds
/// an unread answer). Such a connection must never go back to the pool: every later
/// request, over HTTP/2 or HTTP/1.1, gets its own answer.
#[test]
fn an_abandoned_http2_request_never_leaves_its_answer_on_a_pooled_upstream_connection() {
    let w = start();
    for round in 0..4 {
        let abandoned = Command::new("curl")
            .args(["-s", "--http2-prior-knowledge", "--max-time", "0.2"])
            .arg(format!(
                "http://127.0.0.1:{}/open/abandoned{round}?delay_ms=400",
                w.gateway.http
            ))
            .output()
            .expect("curl runs");
        assert!(!abandoned.status.success(), "the client gave up");
        for (mode, label) in [("--http2-prior-knowledge", "h2"), ("--http1.1", "h1")] {
            let path = format!("/open/next{round}{label}");
            let r = w.curl_plain(mode, &path, &[]);
            assert_eq!(r.status, 200, "round {round} {label}: {}", r.body);
            assert!(
                r.body.contains(&format!("\"path\":\"{path}\"")),
                "round {round} {label}: got another request's answer: {}",
                r.body
            );
        }
    }
    // And once the abandoned answers were due: still every request its own.
    std::thread::sleep(std::time::Duration::from_millis(500));
    for i in 0..5 {
        let path = format!("/open/after{i}");
        let r = w.curl_plain("--http2-prior-knowledge", &path, &[]);
        assert!(r.body.contains(&format!("\"path\":\"{path}\"")), "{}", r.body);
    }
}
