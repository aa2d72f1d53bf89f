//! Everything an attacker sends, against a real certgate in front of an upstream that reads
//! paths as permissively as real frameworks do ([`Mode::Normalise`]): a request certgate
//! decides for one API but the upstream serves from another is a bypass, not a different
//! string. Each family of cases is one test; every case says what it expects.

use std::path::PathBuf;
use std::process::Command;

use certgate::pki::{Issued, Spec};

use crate::support::client::http_raw;
use crate::support::hostile::{Hostile, Mode};
use crate::support::{Gateway, Response, TestBed, TlsClient};

/// A gateway with an open API, an mTLS API and a token API, all on one upstream.
pub struct Adversary {
    pub bed: TestBed,
    pub gateway: Gateway,
    pub upstream: Hostile,
    pub client: Issued,
}

const TOKEN: &str = "tok-adversarial";

impl Adversary {
    pub fn start(mode: Mode, listen_extra: &str) -> Adversary {
        let bed = TestBed::new("adversarial server CA");
        let client = Spec::client("allowed client").issue(None);
        client.write(bed.path(), "client");
        let upstream = Hostile::start(mode);
        let yaml = format!(
            r#"{head}tokens:
  - token: {TOKEN}
    apis: [token]
apis:
  - name: open
    listen_path: /open/
    upstream: {{url: "http://{up}", read_timeout_ms: 2000}}
  - name: colon
    listen_path: /colon/
    auth: {{mutual_tls: true, client_certificates: [client.crt]}}
    upstream: {{url: "http://{up}", read_timeout_ms: 2000}}
  - name: token
    listen_path: /token/
    auth: {{type: token}}
    upstream: {{url: "http://{up}", read_timeout_ms: 2000}}
"#,
            head = TestBed::head(listen_extra),
            up = upstream.addr
        );
        let gateway = bed.start(&yaml);
        Adversary {
            bed,
            gateway,
            upstream,
            client,
        }
    }

    pub fn tls(&self) -> TlsClient {
        self.bed.client()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.bed.file(name)
    }
}

pub fn code(r: &Response) -> String {
    serde_json::from_slice::<serde_json::Value>(&r.body)
        .ok()
        .and_then(|v| v["code"].as_str().map(String::from))
        .unwrap_or_default()
}

/// Targets that try to reach `/colon/` (mTLS) through `/open/` (no certificate).
const TRAVERSALS: &[&str] = &[
    "/open/../colon/x",
    "/open/./../colon/x",
    "/open/%2e%2e/colon/x",
    "/open/%2E%2E/colon/x",
    "/open/.%2e/colon/x",
    "/open/%2e./colon/x",
    "/open/%2e%2e%2fcolon%2fx",
    "/open/..%2fcolon%2fx",
    "/open/..%2Fcolon%2Fx",
    "/open/..%5ccolon%5cx",
    "/open/..%5Ccolon",
    "/open/..\\colon\\x",
    "/open\\..\\colon\\x",
    "/open/..;/colon/x",
    "/open/..;/../colon/x",
    "/open/x;/../..;/../colon/x",
    "/open/%2e%2e;/colon/x",
    "/open;/../colon/x",
    "/open/x/../../colon/x",
    "/open//../colon/x",
    "//open/../colon/x",
    "/open/../COLON/x",
    "/open/../Colon/x",
    "/OPEN/../colon/x",
    "/open/%2e%2e/%43olon/x",
    "/open/..%00/colon/x",
    "/open/%00/../../colon/x",
    "/open/..%09/colon/x",
    "/open/%252e%252e/colon/x",
    "/open/..%252fcolon",
    "/open?/../colon/x",
    "/open/x?/../../colon/x",
    "/open/%3f/../../colon/x",
    "/open/%23/../../colon/x",
    "/open#/../colon/x",
    "/../colon/x",
    "/%2e%2e/colon/x",
    "/open/../../../colon/x",
    "/colonx/../colon/x",
    "/colon%2fx",
    "/colon;/x",
    "/colon;x=1/x",
    "/colon/x/..;/..;/open/../colon/y",
];

/// Whether an answer to a certificate-less request for `target` is a bypass: the upstream
/// served a resource of the mTLS API.
fn bypass(r: &Response) -> Option<String> {
    if r.status != 200 {
        return None;
    }
    let doc: serde_json::Value = serde_json::from_slice(&r.body).ok()?;
    let resource = doc["resource"].as_str().unwrap_or("");
    (resource == "/colon" || resource.starts_with("/colon/")).then(|| format!("served {resource} (raw {})", doc["raw"]))
}

fn check_no_bypass(label: &str, answers: Vec<(&str, Result<Response, String>)>) {
    let mut failures = Vec::new();
    for (target, r) in answers {
        match r {
            Err(e) => failures.push(format!("{target}: no answer ({e})")),
            Ok(r) => {
                if let Some(b) = bypass(&r) {
                    failures.push(format!("{target}: BYPASS, {b}"));
                } else if ![200, 400, 403, 404].contains(&r.status) {
                    failures.push(format!("{target}: status {} {}", r.status, r.text()));
                } else if r.status != 200 && code(&r).is_empty() && r.status != 400 {
                    failures.push(format!("{target}: {} without a JSON reason: {}", r.status, r.text()));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{label}:\n{}", failures.join("\n"));
}

#[test]
fn traversal_never_reaches_an_mtls_api_without_a_certificate() {
    let a = Adversary::start(Mode::Normalise, "");
    let tls = a.tls();
    let answers = TRAVERSALS
        .iter()
        .map(|t| (*t, tls.connect(a.gateway.https, None).try_full_request("GET", t, &[])))
        .collect();
    check_no_bypass("HTTPS, HTTP/1.1", answers);
    let answers = TRAVERSALS
        .iter()
        .map(|t| {
            let req = format!("GET {t} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
            (*t, http_raw(a.gateway.http, req.as_bytes()))
        })
        .collect();
    check_no_bypass("plain HTTP listener", answers);
    // The same requests with the certificate: the upstream serves what certgate decided on.
    let with_cert = a.tls().with_cert(&a.client);
    for (target, want) in [
        ("/open/../colon/x", "/colon/x"),
        ("/open/%2e%2e/colon/x", "/colon/x"),
        ("/open//../colon/x", "/colon/x"),
        ("/open/../Colon/x", "/Colon/x"),
    ] {
        let r = with_cert.get(a.gateway.https, target, &[]);
        assert_eq!(r.status, 200, "{target}: {}", r.text());
        assert_eq!(r.json()["raw"], want, "{target} is forwarded as routed");
    }
}

#[test]
fn bad_targets_get_the_spec_json() {
    let a = Adversary::start(Mode::Normalise, "");
    for target in ["/open/..%2fcolon", "/..", "/open/%00", "/open/..\\x", "/open/..;/../x"] {
        let r = a.tls().get(a.gateway.https, target, &[]);
        assert_eq!(
            (r.status, r.json()["code"].as_str(), r.json()["error"].as_str()),
            (400, Some("bad_request"), Some("Invalid request path")),
            "{target}"
        );
    }
    let m = a
        .gateway
        .metric(r#"certgate_auth_rejections_total{api="",reason="bad_request"}"#);
    assert!(m >= 5.0, "bad requests are counted: {m}");
    assert_eq!(a.upstream.requests.load(std::sync::atomic::Ordering::SeqCst), 0);
}

/// `curl` over HTTP/2 (ALPN h2) with the path as written.
pub fn curl_h2(a: &Adversary, target: &str, cert: bool, headers: &[&str]) -> Result<(u16, String), String> {
    let mut cmd = Command::new("curl");
    cmd.args([
        "-sS",
        "--http2",
        "--path-as-is",
        "--max-time",
        "20",
        "-o",
        "-",
        "-w",
        "\n%{http_code} %{http_version}",
    ])
    .arg("--cacert")
    .arg(a.path("server-ca.crt"));
    if cert {
        cmd.arg("--cert")
            .arg(a.path("client.crt"))
            .arg("--key")
            .arg(a.path("client.key"));
    }
    for h in headers {
        cmd.args(["-H", h]);
    }
    cmd.arg(format!("https://localhost:{}{target}", a.gateway.https));
    let out = cmd.output().map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, tail) = text.rsplit_once('\n').ok_or("no curl output")?;
    let mut it = tail.split(' ');
    let status = it
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("curl: {tail}"))?;
    if status == 0 {
        return Err(format!("no answer: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    if it.next() != Some("2") {
        return Err(format!("not HTTP/2: {tail}"));
    }
    Ok((status, body.to_string()))
}

#[test]
fn traversal_over_http2_follows_the_same_rules() {
    let a = Adversary::start(Mode::Normalise, "");
    let answers = TRAVERSALS
        .iter()
        // curl refuses to send these itself.
        .filter(|t| !t.contains('#') && !t.contains('\\'))
        .map(|t| {
            let r = curl_h2(&a, t, false, &[]).map(|(status, body)| Response {
                status,
                headers: vec![],
                body: body.into_bytes(),
            });
            (*t, r)
        })
        .collect();
    check_no_bypass("HTTPS, HTTP/2", answers);
    let (status, body) = curl_h2(&a, "/open/%2e%2e/colon/x", true, &[]).unwrap();
    assert_eq!(status, 200, "{body}");
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["raw"], "/colon/x", "h2 is forwarded as routed");
}

#[test]
fn absolute_form_routes_on_its_authority_and_is_forwarded_in_origin_form() {
    let a = Adversary::start(Mode::Normalise, "");
    let mut conn = a.tls().with_cert(&a.client).connect(a.gateway.https, None);
    let r = conn
        .raw(b"GET http://localhost/open/../colon/x?q=1 HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["raw"], "/colon/x?q=1");
    // No Host at all: the target's authority is the host.
    let r = a
        .tls()
        .connect(a.gateway.https, None)
        .raw(b"GET http://localhost/open/../colon/x HTTP/1.1\r\n\r\n")
        .unwrap();
    assert_eq!(
        (r.status, code(&r)),
        (403, "client_cert_required".into()),
        "{}",
        r.text()
    );
}

#[test]
fn hosts_that_mean_two_things_are_refused() {
    let a = Adversary::start(Mode::Normalise, "");
    let send = |head: &str| {
        a.tls()
            .connect(a.gateway.https, None)
            .raw(head.as_bytes())
            .unwrap_or_else(|e| panic!("{head:?}: {e}"))
    };
    for (name, head, json) in [
        ("no Host on HTTP/1.1", "GET /open/x HTTP/1.1\r\n\r\n", true),
        ("a comma", "GET /open/x HTTP/1.1\r\nHost: localhost,evil\r\n\r\n", true),
        (
            "a bad port",
            "GET /open/x HTTP/1.1\r\nHost: localhost:99999\r\n\r\n",
            true,
        ),
        ("empty", "GET /open/x HTTP/1.1\r\nHost:\r\n\r\n", true),
        // Pingora's HTTP/1 parser refuses these itself, before certgate sees them.
        (
            "two Host headers",
            "GET /open/x HTTP/1.1\r\nHost: localhost\r\nHost: evil\r\n\r\n",
            false,
        ),
        (
            "target authority differs",
            "GET http://evil/open/x HTTP/1.1\r\nHost: localhost\r\n\r\n",
            false,
        ),
        (
            "userinfo",
            "GET /open/x HTTP/1.1\r\nHost: user@localhost\r\n\r\n",
            false,
        ),
    ] {
        let r = send(head);
        assert_eq!(r.status, 400, "{name}: {}", r.text());
        if json {
            assert_eq!(
                (code(&r), r.json()["error"].as_str().unwrap_or("")),
                ("bad_request".into(), "Invalid Host header"),
                "{name}"
            );
        }
    }
    let r = send("GET /open/x HTTP/1.0\r\n\r\n");
    assert_eq!(r.status, 200, "HTTP/1.0 may omit Host: {}", r.text());
    assert_eq!(a.upstream.requests.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[test]
fn reserved_headers_are_stripped_in_every_spelling() {
    let a = Adversary::start(Mode::Normalise, "");
    let forged = [
        ("X-Client-Cert-Sha256", "forged1"),
        ("X_Client_Cert_Sha256", "forged2"),
        ("x_client-cert_sha256", "forged3"),
        ("X-CLIENT-CERT-SHA256", "forged4"),
    ];
    for cert in [false, true] {
        let c = if cert { a.tls().with_cert(&a.client) } else { a.tls() };
        let r = c.get(a.gateway.https, "/open/x", &forged);
        let seen: Vec<(String, String)> = serde_json::from_value(r.json()["headers"].clone()).unwrap();
        let reserved: Vec<_> = seen
            .iter()
            .filter(|(k, _)| k.to_ascii_lowercase().replace('_', "-") == "x-client-cert-sha256")
            .collect();
        if cert {
            assert_eq!(reserved.len(), 1, "only certgate's own: {reserved:?}");
            assert_eq!(reserved[0].1, a.client.id().to_hex());
        } else {
            assert!(reserved.is_empty(), "forged headers forwarded: {reserved:?}");
        }
    }
    // Over HTTP/2 too.
    let (status, body) = curl_h2(
        &a,
        "/open/x",
        false,
        &["X-Client-Cert-Sha256: forged", "X_Client_Cert_Sha256: forged"],
    )
    .unwrap();
    assert_eq!(status, 200);
    assert!(!body.contains("forged"), "h2 forwarded a forged header: {body}");
}

#[test]
fn a_credential_sent_twice_is_refused() {
    let a = Adversary::start(Mode::Normalise, "");
    let good = format!("Bearer {TOKEN}");
    let r = a.tls().get(a.gateway.https, "/token/x", &[("Authorization", &good)]);
    assert_eq!(r.status, 200, "one token: {}", r.text());
    for (name, headers) in [
        (
            "good then bad",
            vec![("Authorization", good.as_str()), ("Authorization", "Bearer other")],
        ),
        (
            "bad then good",
            vec![("Authorization", "Bearer other"), ("Authorization", good.as_str())],
        ),
        (
            "the same twice",
            vec![("Authorization", good.as_str()), ("authorization", good.as_str())],
        ),
    ] {
        let r = a.tls().get(a.gateway.https, "/token/x", &headers);
        assert_eq!(
            (r.status, code(&r)),
            (400, "bad_request".into()),
            "{name}: {}",
            r.text()
        );
    }
    let h1 = format!("Authorization: {good}");
    let (status, body) = curl_h2(&a, "/token/x", false, &[&h1, "Authorization: Bearer other"]).unwrap();
    assert_eq!(status, 400, "h2 duplicate Authorization: {body}");
    let (status, _) = curl_h2(&a, "/token/x", false, &[&h1]).unwrap();
    assert_eq!(status, 200);
}

/// `curl` over HTTP/1.1 or HTTP/2; its exit code and status.
fn curl_exit(a: &Adversary, target: &str, http2: bool) -> (i32, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(if http2 { "--http2" } else { "--http1.1" })
        .arg("--cacert")
        .arg(a.path("server-ca.crt"))
        .arg(format!("https://localhost:{}{target}", a.gateway.https))
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
    )
}

#[test]
fn an_upstream_dying_mid_body_aborts_the_response() {
    // The three faults are independent gateways, waited on at once (one stalls until its
    // read timeout).
    std::thread::scope(|scope| {
        for (mode, reason) in [
            (Mode::CloseMidBody, "upstream_unavailable"),
            (Mode::CloseMidChunked, "upstream_unavailable"),
            (Mode::StallMidBody, "upstream_unavailable"),
        ] {
            scope.spawn(move || aborts_mid_body(mode, reason));
        }
    });
}

fn aborts_mid_body(mode: Mode, reason: &str) {
    let a = Adversary::start(mode, "");
    let r = a
        .tls()
        .connect(a.gateway.https, None)
        .try_full_request("GET", "/open/x", &[]);
    assert!(
        r.is_err(),
        "{mode:?}: the client read a complete response: {:?}",
        r.map(|r| r.text())
    );
    std::thread::scope(|scope| {
        for http2 in [false, true] {
            let a = &a;
            scope.spawn(move || {
                let (exit, status) = curl_exit(a, "/open/x", http2);
                assert!(exit != 0, "{mode:?} http2={http2}: curl exit 0 (status {status})");
            });
        }
    });
    let aborted = a.gateway.metric(&format!(
        r#"certgate_responses_aborted_total{{api="open",reason="{reason}"}}"#
    ));
    assert_eq!(aborted, 3.0, "{mode:?}: aborted responses are counted");
    let log = a.gateway.log();
    assert!(log.contains("event=upstream_failed api=open"), "{mode:?}: {log}");
}

#[test]
fn upstream_faults_before_the_header_are_answered() {
    let a = Adversary::start(Mode::Silent, "");
    let start = std::time::Instant::now();
    let r = a.tls().get(a.gateway.https, "/open/x", &[]);
    assert_eq!(
        (r.status, code(&r)),
        (504, "upstream_unavailable".into()),
        "{}",
        r.text()
    );
    assert!(
        start.elapsed() < std::time::Duration::from_secs(10),
        "read_timeout_ms applies"
    );

    let a = Adversary::start(Mode::HugeHeaders, "");
    let r = a.tls().get(a.gateway.https, "/open/x", &[]);
    assert_eq!(
        (r.status, code(&r)),
        (502, "upstream_unavailable".into()),
        "huge upstream headers: {}",
        r.text().chars().take(200).collect::<String>()
    );
}

#[test]
fn an_unsolicited_101_never_opens_a_tunnel() {
    let a = Adversary::start(Mode::Switch101, "");
    let mut conn = a.tls().connect(a.gateway.https, None);
    let r = conn.raw(b"GET /open/x HTTP/1.1\r\nHost: localhost\r\n\r\n");
    match r {
        Ok(r) => assert_eq!(
            (r.status, code(&r)),
            (502, "upstream_unavailable".into()),
            "{}",
            r.text()
        ),
        Err(e) => panic!("no answer: {e}"),
    }
    // Nothing written after the answer reaches the upstream as tunnel bytes.
    let _ = conn.write_raw(b"TUNNEL BYTES\r\n\r\n");
    let echoed = conn.read_response();
    assert!(
        echoed.is_err() || echoed.as_ref().is_ok_and(|r| r.status != 101),
        "{echoed:?}"
    );
    // A request that asks for the upgrade still gets it.
    let mut conn = a.tls().connect(a.gateway.https, None);
    let r = conn
        .raw(b"GET /open/ws HTTP/1.1\r\nHost: localhost\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n")
        .unwrap();
    assert_eq!(r.status, 101, "{}", r.text());
}

const TIGHT: &str = "  header_timeout_ms: 1500\n  body_timeout_ms: 1500\n  keepalive_timeout_ms: 1500\n";

/// Reads until the peer closes (or 10 s pass); what arrived and how long it took.
fn read_until_closed(conn: &mut crate::support::Conn) -> (Vec<u8>, std::time::Duration) {
    let start = std::time::Instant::now();
    let mut out = Vec::new();
    let _ = conn.read_to_end(&mut out);
    (out, start.elapsed())
}

#[test]
fn slow_and_idle_clients_are_cut_off_and_others_keep_being_served() {
    let a = Adversary::start(Mode::Normalise, TIGHT);
    let port = a.gateway.https;
    let served = |label: &str| {
        let r = a.tls().get(port, "/open/x", &[]);
        assert_eq!(r.status, 200, "{label}: another client is served");
    };
    // Every slow client at once, each on its own connection: each must be cut off by its
    // own limit while the others wait on theirs, and other clients are served meanwhile.
    std::thread::scope(|scope| {
        // Slowloris on the head: one byte every 400 ms never finishes within 1.5 s.
        scope.spawn(|| {
            let mut slow = a.tls().connect(port, None);
            slow.write_raw(b"GET /open/x HTTP/1.1\r\nHost: localhost\r\n").unwrap();
            for _ in 0..20 {
                if slow.write_raw(b"X").is_err() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(400));
            }
            let (answer, _) = read_until_closed(&mut slow);
            let text = String::from_utf8_lossy(&answer);
            assert!(text.starts_with("HTTP/1.1 408"), "slowloris head: {text}");
            assert!(text.contains(r#""code":"bad_request""#), "{text}");
        });

        // Connected over TLS but never sends a request: closed without an answer.
        scope.spawn(|| {
            let mut idle = a.tls().connect(port, None);
            let (answer, took) = read_until_closed(&mut idle);
            assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
            assert!(
                took < std::time::Duration::from_secs(5),
                "idle TLS connection kept {took:?}"
            );
        });

        // Idle keep-alive after a request: closed.
        scope.spawn(|| {
            let mut kept = a.tls().connect(port, None);
            assert_eq!(kept.request("GET", "/open/x", &[]).status, 200);
            let (answer, took) = read_until_closed(&mut kept);
            assert!(answer.is_empty());
            assert!(
                took < std::time::Duration::from_secs(5),
                "idle keep-alive kept {took:?}"
            );
        });

        // Slowloris on the body: 10 of 100 bytes, then nothing (body_timeout_ms 1.5 s, under the
        // upstream read_timeout_ms of 2 s, so the gateway cuts the client off first).
        scope.spawn(|| {
            let mut body = a.tls().connect(port, None);
            body.write_raw(b"POST /open/x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n0123456789")
                .unwrap();
            let (answer, took) = read_until_closed(&mut body);
            assert!(took < std::time::Duration::from_secs(6), "stalled body kept {took:?}");
            let text = String::from_utf8_lossy(&answer);
            assert!(
                text.starts_with("HTTP/1.1 408") && text.contains("bad_request"),
                "stalled body: {text}"
            );
        });

        // The plain listener: a head that never ends.
        scope.spawn(|| {
            use std::io::{Read, Write};
            let mut tcp = std::net::TcpStream::connect(("127.0.0.1", a.gateway.http)).unwrap();
            tcp.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
            tcp.write_all(b"GET /open/x HTTP/1.1\r\nHost: x").unwrap();
            let mut out = Vec::new();
            let start = std::time::Instant::now();
            let _ = tcp.read_to_end(&mut out);
            assert!(start.elapsed() < std::time::Duration::from_secs(5));
            assert!(
                String::from_utf8_lossy(&out).starts_with("HTTP/1.1 408"),
                "{}",
                String::from_utf8_lossy(&out)
            );
        });

        std::thread::sleep(std::time::Duration::from_millis(200));
        served("during the slow clients");
    });
    served("after the slow clients");
}

#[test]
fn garbage_on_the_tls_port_is_dropped_and_others_keep_being_served() {
    let a = Adversary::start(Mode::Normalise, "");
    use std::io::{Read, Write};
    for garbage in [
        &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        b"\x16\x03\x01\xff\xff garbage",
        &[0u8; 4096][..],
    ] {
        let mut tcp = std::net::TcpStream::connect(("127.0.0.1", a.gateway.https)).unwrap();
        tcp.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
        let _ = tcp.write_all(garbage);
        let start = std::time::Instant::now();
        let mut out = Vec::new();
        let _ = tcp.read_to_end(&mut out);
        assert!(
            start.elapsed() < std::time::Duration::from_secs(5),
            "garbage kept the connection open"
        );
    }
    assert_eq!(a.tls().get(a.gateway.https, "/open/x", &[]).status, 200);
}

#[test]
fn header_limits_answer_431_on_http1_and_http2() {
    let a = Adversary::start(Mode::Normalise, "");
    let big = "a".repeat(70 * 1024);
    let r = a
        .tls()
        .connect(a.gateway.https, None)
        .try_full_request("GET", "/open/x", &[("X-Big", &big)]);
    let r = r.expect("an answer");
    assert_eq!((r.status, code(&r)), (431, "bad_request".into()), "{}", r.text());
    let r = a
        .tls()
        .get(a.gateway.https, "/open/x", &[("X-Big", &"a".repeat(60 * 1024))]);
    assert_eq!(r.status, 200, "under the limit");
    let h = format!("X-Big: {big}");
    // HTTP/2 advertises the limit (SETTINGS_MAX_HEADER_LIST_SIZE); a client that sends more
    // loses the connection in the HTTP/2 layer, and nothing is forwarded.
    let got = curl_h2(&a, "/open/x", false, &[&h]);
    assert!(
        matches!(got, Err(_) | Ok((431, _))),
        "h2 header over the limit: {got:?}"
    );
    // Pingora refuses more than 256 header fields itself.
    let many: Vec<(String, String)> = (0..300).map(|i| (format!("X-H{i}"), "v".to_string())).collect();
    let refs: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let r = a
        .tls()
        .connect(a.gateway.https, None)
        .try_full_request("GET", "/open/x", &refs);
    assert!(r.map(|r| r.status == 400).unwrap_or(true), "too many header fields");
    assert_eq!(a.upstream.requests.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[test]
fn pipelined_requests_are_all_answered_in_order() {
    let a = Adversary::start(Mode::Normalise, "");
    let mut conn = a.tls().connect(a.gateway.https, None);
    conn.write_raw(
        b"GET /open/1 HTTP/1.1\r\nHost: localhost\r\n\r\nGET /open/2 HTTP/1.1\r\nHost: localhost\r\n\r\nGET /colon/3 HTTP/1.1\r\nHost: localhost\r\n\r\n",
    )
    .unwrap();
    let first = conn.read_response().unwrap();
    let second = conn.read_response().unwrap();
    let third = conn.read_response().unwrap();
    assert_eq!((first.status, first.json()["raw"].as_str()), (200, Some("/open/1")));
    assert_eq!((second.status, second.json()["raw"].as_str()), (200, Some("/open/2")));
    assert_eq!((third.status, code(&third)), (403, "client_cert_required".into()));
}

/// Before each request the gateway waits for its first bytes and hands them to Pingora's
/// parser (`proxy::conn_guard`): a head that comes in pieces after an idle pause, and a
/// pipelined head cut in two, are each read exactly as sent.
#[test]
fn request_heads_arriving_in_pieces_after_idle_are_read_whole() {
    let pause = || std::thread::sleep(std::time::Duration::from_millis(250));
    let a = Adversary::start(Mode::Normalise, "");
    let mut conn = a.tls().connect(a.gateway.https, None);
    let raw = |r: Response| (r.status, r.json()["raw"].as_str().map(String::from));
    conn.write_raw(b"GET /open/1 HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    assert_eq!(raw(conn.read_response().unwrap()), (200, Some("/open/1".into())));
    // Idle, then one byte, a pause, the rest of the head.
    pause();
    conn.write_raw(b"G").unwrap();
    pause();
    conn.write_raw(b"ET /open/2 HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    assert_eq!(raw(conn.read_response().unwrap()), (200, Some("/open/2".into())));
    // A pipelined second head cut in two: the first is answered, the second when whole.
    conn.write_raw(b"GET /open/3 HTTP/1.1\r\nHost: localhost\r\n\r\nGET /open/")
        .unwrap();
    assert_eq!(raw(conn.read_response().unwrap()), (200, Some("/open/3".into())));
    pause();
    conn.write_raw(b"4 HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    assert_eq!(raw(conn.read_response().unwrap()), (200, Some("/open/4".into())));
    // And a head of many small pieces, the first of them alone after idle.
    pause();
    for piece in ["GET ", "/open/5 ", "HTTP/1.1\r\n", "Host: localhost\r\n", "\r\n"] {
        conn.write_raw(piece.as_bytes()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(30));
    }
    assert_eq!(raw(conn.read_response().unwrap()), (200, Some("/open/5".into())));
}

/// Request smuggling: every framing trick either gets a 400 or is read one way only, and
/// nothing hidden in a body ever reaches the upstream as a request of its own.
#[test]
fn smuggling_attempts_never_reach_the_upstream_as_requests() {
    let a = Adversary::start(Mode::Normalise, "");
    let smuggled = "GET /colon/smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let cases: Vec<(&str, String, &[u16])> = vec![
        (
            "CL.TE",
            format!("POST /open/a HTTP/1.1\r\nHost: localhost\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{smuggled}"),
            &[200, 400],
        ),
        (
            "TE.CL",
            format!(
                "POST /open/a HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n{:x}\r\n{smuggled}\r\n0\r\n\r\n",
                smuggled.len()
            ),
            &[200, 400],
        ),
        (
            "two different Content-Length",
            format!("POST /open/a HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nContent-Length: {}\r\n\r\n{smuggled}", smuggled.len()),
            &[400],
        ),
        (
            "Content-Length list",
            format!("POST /open/a HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0, {}\r\n\r\n{smuggled}", smuggled.len()),
            &[400],
        ),
        (
            "obs-fold hiding Transfer-Encoding",
            format!("POST /open/a HTTP/1.1\r\nHost: localhost\r\nX-A: b\r\n Transfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n{smuggled}"),
            &[400],
        ),
        (
            "space before the colon",
            format!("POST /open/a HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n{smuggled}"),
            &[400],
        ),
        (
            "Transfer-Encoding that is not chunked last",
            format!("POST /open/a HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n{smuggled}"),
            &[400],
        ),
        (
            "xchunked",
            format!("POST /open/a HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n{smuggled}"),
            &[400],
        ),
        (
            "Transfer-Encoding on HTTP/1.0",
            format!("POST /open/a HTTP/1.0\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{smuggled}"),
            &[400],
        ),
        (
            "bad chunk size",
            format!("POST /open/a HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{smuggled}\r\n0\r\n\r\n"),
            &[200, 400],
        ),
        (
            "NUL in a header value",
            format!("GET /open/a HTTP/1.1\r\nHost: localhost\r\nX-A: a\0b\r\n\r\n{smuggled}"),
            &[400],
        ),
        (
            "bare LF line endings",
            format!("GET /open/a HTTP/1.1\nHost: localhost\n\n{}", smuggled.replace("\r\n", "\n")),
            &[200],
        ),
    ];
    let mut failures = Vec::new();
    for (name, bytes, allowed) in &cases {
        a.upstream.seen.lock().clear();
        let mut conn = a.tls().connect(a.gateway.https, None);
        let first = conn.raw(bytes.as_bytes());
        // Whatever follows on the connection must be an answer to a request we sent.
        let second = conn.read_response();
        std::thread::sleep(std::time::Duration::from_millis(100));
        let seen = a.upstream.seen.lock().clone();
        match &first {
            Ok(r) if allowed.contains(&r.status) => {}
            Ok(r) => failures.push(format!("{name}: status {} {}", r.status, r.text())),
            Err(e) => failures.push(format!("{name}: no answer ({e})")),
        }
        if seen.iter().any(|l| l.contains("/colon/")) {
            failures.push(format!("{name}: SMUGGLED to the upstream: {seen:?}"));
        }
        if let Ok(r) = &second {
            // Only a pipelined request certgate itself decided may be answered: the mTLS
            // API refuses a certificate-less client.
            if r.status == 200 {
                failures.push(format!("{name}: a second response {} {}", r.status, r.text()));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn oversized_and_non_utf8_credentials_are_refused_cleanly() {
    let a = Adversary::start(Mode::Normalise, "");
    // The client is still sending when the 431 goes out: the gateway reads the rest (and
    // drops it) before closing, so the answer is never lost to a TCP reset.
    for size in [100 * 1024, 300 * 1024, 900 * 1024] {
        let huge = format!("Bearer {}", "t".repeat(size));
        let r = a
            .tls()
            .connect(a.gateway.https, None)
            .try_full_request("GET", "/token/x", &[("Authorization", &huge)]);
        assert_eq!(r.map(|r| r.status).ok(), Some(431), "{} KB token", size / 1024);
    }
    let mut conn = a.tls().connect(a.gateway.https, None);
    let r = conn
        .raw(b"GET /token/x HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer \xff\xfe\x80token\r\n\r\n")
        .unwrap();
    assert_eq!(
        (r.status, code(&r)),
        (403, "token_invalid".into()),
        "non-UTF-8 token: {}",
        r.text()
    );
    let r = conn
        .raw(b"GET /open/x HTTP/1.1\r\nHost: localhost\r\nX-Latin1: caf\xe9\r\n\r\n")
        .unwrap();
    assert_eq!(r.status, 200, "non-UTF-8 in another header is forwarded: {}", r.text());
    assert!(!a.gateway.log().contains("tttttttt"), "tokens never reach the log");
}

fn b64u(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// A compact JWS with this header and payload, HMAC-SHA256 signed with `key`.
fn hs256_with(key: &[u8], header: &str, payload: &str) -> String {
    let signing_input = format!("{}.{}", b64u(header.as_bytes()), b64u(payload.as_bytes()));
    let pkey = openssl::pkey::PKey::hmac(key).unwrap();
    let mut signer = openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &pkey).unwrap();
    signer.update(signing_input.as_bytes()).unwrap();
    format!("{signing_input}.{}", b64u(&signer.sign_to_vec().unwrap()))
}

#[test]
fn jwt_abuse_is_refused() {
    use crate::fixture::{now, Fixture, JWT_SECRET};
    let f = Fixture::shared();
    let secret = JWT_SECRET.as_bytes();
    let good_claims = format!(r#"{{"iss":"certgate-tests","aud":"api","exp":{}}}"#, now() + 600);
    let hs = r#"{"alg":"HS256","typ":"JWT"}"#;
    let listed = f.certs["listed"].id();
    let thumb = b64u(&listed.0);
    let hex_thumb = listed.to_hex();
    let std_b64 = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(listed.0)
    };
    let rsa_pub = f.rsa_jwt.key.public_key_to_pem().unwrap();
    let cnf = |v: &str| format!(r#"{{"cnf":{{"x5t#S256":{v}}}}}"#);
    let cases: Vec<(&str, &str, Option<&str>, String, u16)> = vec![
        (
            "control: a good HS256 JWT",
            "/jwt/x",
            None,
            hs256_with(secret, hs, &good_claims),
            200,
        ),
        (
            "alg none, no signature",
            "/jwt/x",
            None,
            format!("{}.{}.", b64u(br#"{"alg":"none"}"#), b64u(good_claims.as_bytes())),
            401,
        ),
        (
            "alg None",
            "/jwt/x",
            None,
            hs256_with(secret, r#"{"alg":"None"}"#, &good_claims),
            401,
        ),
        (
            "alg hs256 in lower case",
            "/jwt/x",
            None,
            hs256_with(secret, r#"{"alg":"hs256"}"#, &good_claims),
            401,
        ),
        (
            "RS/HS confusion: HS256 keyed with the RSA public key",
            "/jwt-rs/x",
            None,
            hs256_with(&rsa_pub, hs, &format!(r#"{{"exp":{}}}"#, now() + 600)),
            401,
        ),
        (
            "RS256 header over an HMAC signature",
            "/jwt/x",
            None,
            hs256_with(secret, r#"{"alg":"RS256"}"#, &good_claims),
            401,
        ),
        (
            "crit header",
            "/jwt/x",
            None,
            hs256_with(secret, r#"{"alg":"HS256","crit":["exp"]}"#, &good_claims),
            401,
        ),
        (
            "a claim twice",
            "/jwt/x",
            None,
            hs256_with(
                secret,
                hs,
                &format!(
                    r#"{{"iss":"certgate-tests","aud":"api","exp":1,"exp":{}}}"#,
                    now() + 600
                ),
            ),
            401,
        ),
        (
            "padded signature",
            "/jwt/x",
            None,
            format!("{}=", hs256_with(secret, hs, &good_claims)),
            401,
        ),
        (
            "four parts",
            "/jwt/x",
            None,
            format!("{}.x", hs256_with(secret, hs, &good_claims)),
            401,
        ),
        ("not base64", "/jwt/x", None, "a.b.c".into(), 401),
        (
            "a 40 KB payload",
            "/jwt/x",
            None,
            hs256_with(secret, hs, &format!(r#"{{"pad":"{}"}}"#, "x".repeat(40_000))),
            401,
        ),
        (
            "cnf: the right thumbprint",
            "/jwt-cnf/x",
            Some("listed"),
            hs256_with(secret, hs, &cnf(&format!("\"{thumb}\""))),
            200,
        ),
        (
            "cnf: hex instead of base64url",
            "/jwt-cnf/x",
            Some("listed"),
            hs256_with(secret, hs, &cnf(&format!("\"{hex_thumb}\""))),
            401,
        ),
        (
            "cnf: standard base64 with padding",
            "/jwt-cnf/x",
            Some("listed"),
            hs256_with(secret, hs, &cnf(&format!("\"{std_b64}\""))),
            401,
        ),
        (
            "cnf: base64url with padding",
            "/jwt-cnf/x",
            Some("listed"),
            hs256_with(secret, hs, &cnf(&format!("\"{thumb}=\""))),
            401,
        ),
        (
            "cnf: a number",
            "/jwt-cnf/x",
            Some("listed"),
            hs256_with(secret, hs, &cnf("7")),
            401,
        ),
        (
            "cnf: a list",
            "/jwt-cnf/x",
            Some("listed"),
            hs256_with(secret, hs, &cnf(&format!("[\"{thumb}\"]"))),
            401,
        ),
        (
            "cnf: another certificate's",
            "/jwt-cnf/x",
            Some("listed2"),
            hs256_with(secret, hs, &cnf(&format!("\"{thumb}\""))),
            401,
        ),
    ];
    let mut failures = Vec::new();
    for (name, path, cert, jwt, want) in &cases {
        let auth = format!("Bearer {jwt}");
        let r = f.get(*cert, path, &[("Authorization", &auth)]);
        let ok = r.status == *want && (*want == 200 || r.json()["error"] == "Invalid JWT");
        if !ok {
            failures.push(format!("{name}: {} {}", r.status, r.text()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// One HTTP/2 request with exactly these pseudo-headers and headers (curl turns a `Host`
/// header into `:authority`, so it cannot send both); the status, or the stream error.
fn raw_h2(a: &Adversary, authority: &str, path: &str, headers: &[(&str, &str)]) -> Result<u16, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut b = openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls()).unwrap();
        b.cert_store_mut().add_cert(a.bed.server_ca.cert.clone()).unwrap();
        b.set_alpn_protos(b"\x02h2").unwrap();
        let ssl = b.build().configure().unwrap().into_ssl("localhost").unwrap();
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", a.gateway.https))
            .await
            .unwrap();
        let mut tls = tokio_openssl::SslStream::new(ssl, tcp).unwrap();
        std::pin::Pin::new(&mut tls)
            .connect()
            .await
            .map_err(|e| e.to_string())?;
        let (client, conn) = h2::client::handshake(tls).await.map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let mut client = client.ready().await.map_err(|e| e.to_string())?;
        let mut req = http::Request::builder().uri(format!("https://{authority}{path}"));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let (resp, _) = client
            .send_request(req.body(()).unwrap(), true)
            .map_err(|e| e.to_string())?;
        let resp = resp.await.map_err(|e| e.to_string())?;
        Ok(resp.status().as_u16())
    })
}

#[test]
fn http2_authority_and_host_must_agree() {
    let a = Adversary::start(Mode::Normalise, "");
    assert_eq!(raw_h2(&a, "localhost", "/open/x", &[]), Ok(200), "control");
    assert_eq!(
        raw_h2(&a, "localhost", "/open/x", &[("host", "localhost")]),
        Ok(200),
        "the same host twice"
    );
    let before = a.upstream.requests.load(std::sync::atomic::Ordering::SeqCst);
    let r = raw_h2(&a, "localhost", "/open/x", &[("host", "evil.example.com")]);
    assert!(!matches!(r, Ok(200)), ":authority and Host disagree: {r:?}");
    let r = raw_h2(
        &a,
        "localhost",
        "/open/x",
        &[("host", "localhost"), ("host", "localhost")],
    );
    assert!(!matches!(r, Ok(200)), "two Host headers: {r:?}");
    let r = raw_h2(&a, "localhost", "/open/../colon/x", &[]);
    assert_eq!(r, Ok(403), "h2 :path dot segments are resolved before routing");
    assert_eq!(a.upstream.requests.load(std::sync::atomic::Ordering::SeqCst), before);
}
