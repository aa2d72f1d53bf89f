//! Operations (SPEC §5, §6): SIGHUP reloads under load with zero failed requests, failed
//! reloads that keep the old policy, metrics that move by exactly what happened, and
//! SIGTERM draining.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use certgate::echo::{self, EchoHandle};
use certgate::pki::{Issued, Spec};

use crate::support::{Gateway, TestBed, TlsClient};

struct World {
    _dir: TestBed,
    _up: EchoHandle,
    gateway: Gateway,
    ca: Issued,
    stable: Issued,
    c1: Issued,
    c2: Issued,
}

/// One version of the policy.
struct Version {
    server: &'static str,
    allow: &'static [&'static str],
    tokens: &'static [&'static str],
}

fn yaml(v: &Version, up: &str, extra: &str) -> String {
    let tokens: String = v
        .tokens
        .iter()
        .map(|t| format!("  - token: {t}\n    apis: [api]\n"))
        .collect();
    let allow: Vec<String> = v.allow.iter().map(|a| format!("{a}.crt")).collect();
    format!(
        "listen:\n  https: \"127.0.0.1:{{https}}\"\n  metrics: \"127.0.0.1:{{metrics}}\"\n  threads: 2\n  shutdown_grace_seconds: 5\ntls:\n  certificate: {s}.crt\n  key: {s}.key\ntokens:\n{tokens}apis:\n  - name: api\n    listen_path: /api/\n    auth:\n      type: token\n      mutual_tls: true\n      client_certificates: [{}]\n    upstream: {{url: \"http://{up}\"}}\n{extra}",
        allow.join(", "),
        s = v.server
    )
}

const V1: Version = Version {
    server: "s1",
    allow: &["stable", "c1"],
    tokens: &["stable-token", "tok-a"],
};
const V2: Version = Version {
    server: "s2",
    allow: &["stable", "c2"],
    tokens: &["stable-token", "tok-b"],
};
const V3: Version = Version {
    server: "s1",
    allow: &["stable", "c1", "c2"],
    tokens: &["stable-token", "tok-a", "tok-b"],
};

fn world() -> World {
    let dir = TestBed::new("ops CA");
    let d = dir.path();
    let ca = dir.server_ca.clone();
    Spec::server("server-one", &["localhost"])
        .issue(Some(&ca))
        .write(d, "s1");
    Spec::server("server-two", &["localhost"])
        .issue(Some(&ca))
        .write(d, "s2");
    let other = Spec::ca("clients").issue(None);
    let (stable, c1, c2) = (
        Spec::client("stable").issue(Some(&other)),
        Spec::client("c1").issue(Some(&other)),
        Spec::client("c2").issue(Some(&other)),
    );
    for (n, c) in [("stable", &stable), ("c1", &c1), ("c2", &c2)] {
        std::fs::write(d.join(format!("{n}.crt")), c.cert_pem()).unwrap();
    }
    let up = echo::start_plain("up").unwrap();
    let gateway = dir.start(&yaml(&V1, &up.addr.to_string(), ""));
    World {
        _dir: dir,
        _up: up,
        gateway,
        ca,
        stable,
        c1,
        c2,
    }
}

impl World {
    fn status(&self, cert: &Issued, token: &str) -> u16 {
        TlsClient::new(&self.ca)
            .with_cert(cert)
            .get(
                self.gateway.https,
                "/api/x",
                &[("Authorization", &format!("Bearer {token}"))],
            )
            .status
    }

    fn server_cn(&self) -> String {
        TlsClient::new(&self.ca).connect(self.gateway.https, None).server_cn()
    }

    fn reloads(&self, result: &str) -> f64 {
        self.gateway
            .metric(&format!("certgate_config_reloads_total{{result=\"{result}\"}}"))
    }

    /// Writes the config, sends SIGHUP, and waits until the reload counter for `result` moves.
    fn reload(&self, text: &str, result: &str) {
        let before = self.reloads(result);
        self.gateway.write_config(text);
        self.gateway.signal("HUP");
        let start = Instant::now();
        while self.reloads(result) < before + 1.0 {
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "no {result} reload:\n{}",
                self.gateway.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn check(&self, v: &Version) {
        let allowed = |n: &str| v.allow.contains(&n);
        let granted = |t: &str| v.tokens.contains(&t);
        assert_eq!(
            self.status(&self.c1, "stable-token"),
            if allowed("c1") { 200 } else { 403 },
            "c1 under {:?}",
            v.allow
        );
        assert_eq!(
            self.status(&self.c2, "stable-token"),
            if allowed("c2") { 200 } else { 403 },
            "c2 under {:?}",
            v.allow
        );
        assert_eq!(
            self.status(&self.stable, "tok-a"),
            if granted("tok-a") { 200 } else { 403 },
            "tok-a under {:?}",
            v.tokens
        );
        assert_eq!(
            self.status(&self.stable, "tok-b"),
            if granted("tok-b") { 200 } else { 403 },
            "tok-b under {:?}",
            v.tokens
        );
        let want = if v.server == "s1" { "server-one" } else { "server-two" };
        assert_eq!(self.server_cn(), want, "server certificate after reload");
    }
}

#[test]
fn sighup_under_load_fails_no_request_and_applies_at_once() {
    let w = Arc::new(world());
    let up = w._up.addr.to_string();
    w.check(&V1);
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let errors = Arc::new(parking_lot::Mutex::new(Vec::<String>::new()));
    let mut workers = Vec::new();
    for i in 0..4 {
        let (w, stop, ok, failed, errors) = (w.clone(), stop.clone(), ok.clone(), failed.clone(), errors.clone());
        workers.push(std::thread::spawn(move || {
            let client = TlsClient::new(&w.ca).with_cert(&w.stable);
            let deadline = Instant::now() + Duration::from_secs(60);
            while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
                // Workers 0 and 1 keep connections alive for 25 requests; 2 and 3 reconnect each time.
                let per_conn = if i < 2 { 25 } else { 1 };
                let mut conn = match client.try_connect(w.gateway.https, None) {
                    Ok(c) => c,
                    Err(e) => {
                        failed.fetch_add(1, Ordering::SeqCst);
                        errors.lock().push(format!("connect: {e}"));
                        continue;
                    }
                };
                for _ in 0..per_conn {
                    match conn.try_full_request("GET", "/api/x", &[("Authorization", "Bearer stable-token")]) {
                        Ok(r) if r.status == 200 => ok.fetch_add(1, Ordering::SeqCst),
                        Ok(r) => {
                            errors.lock().push(format!("status {}: {}", r.status, r.text()));
                            failed.fetch_add(1, Ordering::SeqCst)
                        }
                        Err(e) => {
                            errors.lock().push(format!("request: {e}"));
                            failed.fetch_add(1, Ordering::SeqCst)
                        }
                    };
                }
                conn.close();
            }
        }));
    }
    for v in [&V2, &V3, &V1, &V2, &V3] {
        std::thread::sleep(Duration::from_millis(150));
        w.reload(&yaml(v, &up, ""), "success");
        w.check(v);
    }
    stop.store(true, Ordering::SeqCst);
    for h in workers {
        h.join().unwrap();
    }
    let (ok, failed) = (ok.load(Ordering::SeqCst), failed.load(Ordering::SeqCst));
    assert!(ok > 100, "too few requests made: {ok}");
    assert_eq!(
        failed,
        0,
        "{failed} of {} requests failed: {:?}",
        ok + failed,
        &errors.lock()[..errors.lock().len().min(5)]
    );
    assert!(
        w.gateway.log().contains("event=reload result=success generation=6"),
        "{}",
        w.gateway.log()
    );
}

#[test]
fn failed_reloads_keep_the_old_policy() {
    let w = world();
    let up = w._up.addr.to_string();
    w.reload(&yaml(&V2, &up, ""), "success");
    w.check(&V2);
    let cases = [
        ("broken YAML", "listen: [\n".to_string(), "certgate.yaml"),
        (
            "missing file",
            yaml(&V1, &up, "").replace("c1.crt", "missing.pem"),
            "missing.pem: file not found",
        ),
        (
            "certificate/key mismatch",
            yaml(&V1, &up, "").replace("key: s1.key", "key: s2.key"),
            "tls.key: the key does not match",
        ),
    ];
    for (name, text, in_log) in cases {
        let failures = w.reloads("failure");
        w.reload(&text, "failure");
        assert_eq!(w.reloads("failure"), failures + 1.0, "{name}");
        w.check(&V2);
        let log = w.gateway.log();
        assert!(log.contains(in_log), "{name}: log lacks {in_log:?}:\n{log}");
        assert!(
            log.contains("certgate.yaml line"),
            "{name}: log lacks the file and line:\n{log}"
        );
    }
    // A good config after the failures applies.
    w.reload(&yaml(&V3, &up, ""), "success");
    w.check(&V3);
}

#[test]
fn metrics_move_by_exactly_what_happened() {
    let w = world();
    let before = w.gateway.metrics_text();
    let m = |text: &str, s: &str| crate::support::gateway::metric_value(text, s);
    let stranger = Spec::client("stranger").issue(None);
    for _ in 0..3 {
        assert_eq!(w.status(&w.stable, "stable-token"), 200);
    }
    for _ in 0..2 {
        assert_eq!(w.status(&stranger, "stable-token"), 403);
    }
    let r = TlsClient::new(&w.ca)
        .with_cert(&w.stable)
        .get(w.gateway.https, "/api/x", &[]);
    assert_eq!(r.status, 401);
    let r = TlsClient::new(&w.ca).get(w.gateway.https, "/nowhere", &[]);
    assert_eq!(r.status, 404);
    let after = w.gateway.metrics_text();
    for (series, delta) in [
        ("certgate_requests_total{api=\"api\",status=\"200\"}", 3.0),
        ("certgate_requests_total{api=\"api\",status=\"403\"}", 2.0),
        ("certgate_requests_total{api=\"api\",status=\"401\"}", 1.0),
        ("certgate_requests_total{api=\"\",status=\"404\"}", 1.0),
        (
            "certgate_auth_rejections_total{api=\"api\",reason=\"cert_not_allowed\"}",
            2.0,
        ),
        (
            "certgate_auth_rejections_total{api=\"api\",reason=\"token_missing\"}",
            1.0,
        ),
        ("certgate_auth_rejections_total{api=\"\",reason=\"no_route\"}", 1.0),
        ("certgate_request_duration_seconds_count{api=\"api\"}", 6.0),
        ("certgate_tls_handshakes_total{client_cert=\"present\"}", 6.0),
        ("certgate_tls_handshakes_total{client_cert=\"absent\"}", 1.0),
        ("certgate_config_reloads_total{result=\"success\"}", 0.0),
    ] {
        assert_eq!(m(&after, series) - m(&before, series), delta, "{series}\n{after}");
    }
    assert_eq!(
        m(&after, "certgate_config_reloads_total{result=\"success\"}"),
        1.0,
        "the start-up load counts"
    );
    assert!(m(&after, "certgate_config_last_reload_success_timestamp_seconds") > 1.7e9);
    let server_id = certgate::certs::CertId::of_der(
        &std::fs::read(w._dir.path().join("s1.crt"))
            .map(|p| openssl::x509::X509::from_pem(&p).unwrap().to_der().unwrap())
            .unwrap(),
    );
    let gauge = format!("certgate_certificate_not_after_timestamp_seconds{{id=\"{server_id}\",role=\"server\",subject=\"CN=server-one\"}}");
    assert!(m(&after, &gauge) > 1.7e9, "{gauge} missing:\n{after}");
    assert!(after.contains("role=\"client_allow\",subject=\"CN=c1\""), "{after}");
    // promtool, when installed, finds nothing to report.
    if let Ok(mut child) = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(after.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success() && text.trim().is_empty(), "promtool: {text}");
    }
    // Other paths on the metrics listener are 404.
    assert_eq!(
        crate::support::client::http_get(w.gateway.metrics, "/", &[]).status,
        404
    );
}

#[test]
fn sigterm_drains_in_flight_requests_then_exits() {
    let mut w = world();
    let (ca, stable, port) = (w.ca.clone(), w.stable.clone(), w.gateway.https);
    let slow = std::thread::spawn(move || {
        TlsClient::new(&ca)
            .with_cert(&stable)
            .get(
                port,
                "/api/x?delay_ms=1500",
                &[("Authorization", "Bearer stable-token")],
            )
            .status
    });
    std::thread::sleep(Duration::from_millis(300));
    let start = Instant::now();
    w.gateway.signal("TERM");
    assert_eq!(slow.join().unwrap(), 200, "the in-flight request finishes");
    let status = loop {
        if let Some(s) = w.gateway.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "still running after the grace period"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(1100),
        "exited before the request finished: {took:?}"
    );
    assert!(
        took < Duration::from_millis(3500),
        "waited too long after draining: {took:?}\n{}",
        w.gateway.log()
    );
}

#[test]
fn sigterm_on_an_idle_gateway_exits_quickly() {
    let mut w = world();
    let start = Instant::now();
    w.gateway.signal("TERM");
    while w.gateway.child.try_wait().unwrap().is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "an idle gateway should not sit out its grace period"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigquit_hands_the_listener_to_an_upgraded_process() {
    let mut w = world();
    assert_eq!(w.status(&w.stable, "stable-token"), 200);
    let mut new = w.gateway.spawn_upgrade();
    // Ready when it listens on the upgrade socket for the old process's listeners.
    let sock = w.gateway.dir.join("upgrade.sock");
    let start = Instant::now();
    while !sock.exists() {
        assert!(start.elapsed() < Duration::from_secs(10), "the upgrade never listened");
        std::thread::sleep(Duration::from_millis(20));
    }
    w.gateway.signal("QUIT");
    // Requests keep succeeding while the old process hands over and drains.
    let start = Instant::now();
    let mut old_gone = None;
    while start.elapsed() < Duration::from_secs(12) {
        assert_eq!(w.status(&w.stable, "stable-token"), 200, "during the upgrade");
        if old_gone.is_none() && w.gateway.child.try_wait().unwrap().is_some() {
            old_gone = Some(start.elapsed());
        }
        if old_gone.is_some_and(|t| start.elapsed() > t + Duration::from_millis(500)) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(old_gone.is_some(), "the old process did not exit:\n{}", w.gateway.log());
    assert!(new.try_wait().unwrap().is_none(), "the new process serves on");
    assert_eq!(w.status(&w.stable, "stable-token"), 200, "served by the new process");
    let _ = new.kill();
    let _ = new.wait();
}

#[test]
fn sigterm_serves_the_first_request_of_a_connection_already_accepted() {
    let mut w = world();
    let client = TlsClient::new(&w.ca).with_cert(&w.stable);
    let auth = [("Authorization", "Bearer stable-token")];
    // Handshake done, request not yet sent (a client that has had no answer would not retry).
    let mut fresh = client.connect(w.gateway.https, None);
    // And one kept alive, idle after its first answer.
    let mut kept = client.connect(w.gateway.https, None);
    assert_eq!(kept.request("GET", "/api/x", &auth).status, 200);
    let start = Instant::now();
    w.gateway.signal("TERM");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        kept.try_request("/api/x").is_none(),
        "an idle kept-alive connection closes when the service stops"
    );
    let r = fresh.request("GET", "/api/x", &auth);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("connection"), Some("close"), "and is not kept alive");
    while w.gateway.child.try_wait().unwrap().is_none() {
        assert!(start.elapsed() < Duration::from_secs(3), "then the gateway exits");
        std::thread::sleep(Duration::from_millis(20));
    }
}
