//! `logging.access` (one line per request on stdout) and `logging.format` (event lines on
//! stderr): every field of SPEC §7, the normalised path without its query, and never a
//! token, a JWT or a query string.

use certgate::echo::{self, EchoHandle};
use certgate::pki::{Issued, Spec};

use crate::support::{Gateway, TestBed};

const TOKEN: &str = "access-log-secret-token-0123456789";

struct World {
    bed: TestBed,
    up: EchoHandle,
    alice: Issued,
    mallory: Issued,
}

fn world() -> World {
    let bed = TestBed::new("access log CA");
    let ca = Spec::ca("access clients").issue(None);
    let alice = Spec::client("alice").issue(Some(&ca));
    alice.write(bed.path(), "alice");
    let mallory = Spec::client("mallory").issue(Some(&ca));
    World {
        bed,
        up: echo::start_plain("access-up").unwrap(),
        alice,
        mallory,
    }
}

impl World {
    fn start(&self, logging: &str) -> Gateway {
        let up = self.up.addr;
        self.bed.start(&format!(
            "{}{logging}tokens:\n  - token: {TOKEN}\n    apis: [orders]\napis:\n  - name: orders\n    listen_path: /orders/\n    auth: {{type: token, mutual_tls: true, client_certificates: [alice.crt]}}\n    upstream: {{url: \"http://{up}\"}}\n",
            TestBed::head("")
        ))
    }

    /// Three requests: allowed (with a query and a `..`), refused (mallory), unrouted.
    fn traffic(&self, g: &Gateway) {
        let auth = format!("Bearer {TOKEN}");
        let ok = self.bed.client().with_cert(&self.alice).get(
            g.https,
            "/orders/a/../items?card=4111111111111111&token=leak",
            &[("authorization", &auth)],
        );
        assert_eq!(ok.status, 200, "{}", ok.text());
        let refused = self
            .bed
            .client()
            .with_cert(&self.mallory)
            .get(g.https, "/orders/x", &[("authorization", &auth)]);
        assert_eq!(refused.status, 403);
        assert_eq!(self.bed.client().get(g.https, "/nowhere?q=1", &[]).status, 404);
    }
}

#[test]
fn text_lines_say_what_happened_and_nothing_secret() {
    let w = world();
    let g = w.start("");
    w.traffic(&g);
    let log = g.access_log(3);
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 3, "{log}");
    let alice = w.alice.id().to_hex();
    let up = format!("http://{}", w.up.addr);
    let ok = lines[0];
    for field in [
        "api=orders",
        "method=GET",
        "path=/orders/items ",
        "status=200",
        "reason=-",
        &format!("leaf={alice}"),
        &format!("upstream={up}"),
        "bytes_in=0",
    ] {
        assert!(ok.contains(field), "{field} missing: {ok}");
    }
    assert!(ok.contains(" duration_ms="), "{ok}");
    assert!(
        ok.split(' ').next().unwrap().ends_with('Z'),
        "RFC 3339 time first: {ok}"
    );
    let out: usize = ok.split("bytes_out=").nth(1).unwrap().parse().unwrap();
    assert!(out > 0, "{ok}");
    assert!(lines[1].contains("status=403 reason=cert_not_allowed"), "{}", lines[1]);
    assert!(lines[1].contains(&format!("leaf={}", w.mallory.id().to_hex())));
    assert!(lines[1].contains("upstream=-"), "refused requests go nowhere");
    assert!(
        lines[2].contains("api=- method=GET path=/nowhere status=404 reason=no_route ")
            && lines[2].contains(" leaf=- upstream=- "),
        "{}",
        lines[2]
    );
    for secret in [TOKEN, "4111111111111111", "leak", "card=", "?"] {
        assert!(!log.contains(secret), "`{secret}` in the access log: {log}");
        assert!(!g.log().contains(TOKEN), "the token in the event log");
    }
}

#[test]
fn json_lines_and_json_events() {
    let w = world();
    let g = w.start("logging: {format: json, access: json}\n");
    w.traffic(&g);
    let log = g.access_log(3);
    let lines: Vec<serde_json::Value> = log.lines().map(|l| serde_json::from_str(l).expect(l)).collect();
    assert_eq!(lines.len(), 3, "{log}");
    assert_eq!(lines[0]["api"], "orders");
    assert_eq!(lines[0]["path"], "/orders/items");
    assert_eq!(lines[0]["status"], 200);
    assert!(lines[0]["reason"].is_null());
    assert_eq!(lines[0]["leaf"], w.alice.id().to_hex());
    assert!(lines[0]["duration_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(lines[1]["reason"], "cert_not_allowed");
    assert!(lines[2]["api"].is_null());
    assert!(!log.contains(TOKEN) && !log.contains("4111111111111111"));
    // Event lines on stderr are JSON objects too once the config is loaded.
    let events = g.log();
    let rejected = events
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["message"].as_str().is_some_and(|m| m.contains("event=rejected")))
        .unwrap_or_else(|| panic!("no JSON event line: {events}"));
    assert_eq!(rejected["level"], "INFO");
    assert_eq!(rejected["target"], "certgate");
}

#[test]
fn off_means_no_lines() {
    let w = world();
    let g = w.start("logging: {access: off}\n");
    w.traffic(&g);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(g.access_log(0), "");
}
