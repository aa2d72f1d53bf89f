//! HTTP/2 floods against the downstream listener (issue 15), with hand-written frames over
//! h2c (prior knowledge on `listen.http`), so nothing in a client library smooths them:
//! a rapid-reset flood (CVE-2023-44487: a request opened and cancelled at once, over and
//! over) and a CONTINUATION flood (a header block that never ends). Each must end with the
//! flooding connection cut or its streams bounded, the gateway's memory bounded, and other
//! clients served during and after.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::support::{Gateway, TestBed};

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const GOAWAY: u8 = 0x7;
const CONTINUATION: u8 = 0x9;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;

/// One HTTP/2 frame.
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(9 + payload.len());
    f.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    f.push(kind);
    f.push(flags);
    f.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// HPACK for `GET http://localhost/open/x`: static-table entries and two literals without
/// indexing (so every block is the same bytes).
fn request_block() -> Vec<u8> {
    let mut b = vec![0x82, 0x86, 0x04, 7];
    b.extend_from_slice(b"/open/x");
    b.extend_from_slice(&[0x01, 9]);
    b.extend_from_slice(b"localhost");
    b
}

struct World {
    _bed: TestBed,
    gateway: Gateway,
    up: certgate::echo::EchoHandle,
}

fn start() -> World {
    let bed = TestBed::new("h2 flood CA");
    let up = certgate::echo::start_plain("up").unwrap();
    let yaml = format!(
        "{}apis:\n  - name: open\n    listen_path: /open/\n    upstream: {{url: \"http://{}\"}}\n",
        TestBed::head(""),
        up.addr
    );
    let gateway = bed.start(&yaml);
    World { _bed: bed, gateway, up }
}

impl World {
    /// A new h2c connection with the preface and an empty SETTINGS frame sent.
    fn h2c(&self) -> TcpStream {
        let mut tcp = TcpStream::connect(("127.0.0.1", self.gateway.http)).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        tcp.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
        tcp.write_all(PREFACE).unwrap();
        tcp.write_all(&frame(SETTINGS, 0, 0, &[])).unwrap();
        tcp
    }

    /// Another client, on its own connection: served?
    fn served(&self) -> bool {
        let out = std::process::Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10"])
            .arg("--http2-prior-knowledge")
            .arg(format!("http://127.0.0.1:{}/open/x", self.gateway.http))
            .output()
            .expect("curl runs");
        String::from_utf8_lossy(&out.stdout) == "200"
    }

    /// After a flood: the gateway grew by less than 64 MiB since `rss_before` and still
    /// serves other clients.
    fn assert_unharmed(&self, rss_before: u64) {
        let grown = self.rss_kib().saturating_sub(rss_before);
        assert!(grown < 64 * 1024, "memory grew by {grown} KiB");
        assert!(self.served(), "another client is served after the flood");
    }

    /// The gateway's resident memory, in KiB.
    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.gateway.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }
}

/// Reads frames until the gateway closes the connection (or `within` passes); whether a
/// GOAWAY came, and how long it took.
fn read_until_closed(tcp: &mut TcpStream, within: Duration) -> (bool, Duration) {
    let start = Instant::now();
    let mut goaway = false;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    while start.elapsed() < within {
        match tcp.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        // Walk the complete frames received so far.
        let mut at = 0;
        while buf.len() >= at + 9 {
            let len = u32::from_be_bytes([0, buf[at], buf[at + 1], buf[at + 2]]) as usize;
            if buf.len() < at + 9 + len {
                break;
            }
            goaway |= buf[at + 3] == GOAWAY;
            at += 9 + len;
        }
        buf.drain(..at);
    }
    (goaway, start.elapsed())
}

#[test]
fn a_rapid_reset_flood_is_bounded_and_others_are_served() {
    let w = start();
    assert!(w.served(), "control");
    let rss_before = w.rss_kib();
    let mut tcp = w.h2c();
    let block = request_block();
    const STREAMS: u32 = 100_000;
    let writer = {
        let mut tcp = tcp.try_clone().unwrap();
        std::thread::spawn(move || {
            let mut sent = 0u32;
            let mut batch = Vec::new();
            for i in 0..STREAMS {
                let id = 2 * i + 1;
                batch.extend(frame(HEADERS, END_HEADERS | END_STREAM, id, &block));
                batch.extend(frame(RST_STREAM, 0, id, &8u32.to_be_bytes()));
                if batch.len() > 32 * 1024 {
                    if tcp.write_all(&batch).is_err() {
                        return sent;
                    }
                    batch.clear();
                }
                sent = i + 1;
            }
            let _ = tcp.write_all(&batch);
            sent
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    assert!(w.served(), "another client is served during the flood");
    let (goaway, took) = read_until_closed(&mut tcp, Duration::from_secs(30));
    let sent = writer.join().unwrap();
    let upstream = w.up.stats.requests.load(Ordering::SeqCst);
    eprintln!(
        "rapid reset: {sent} streams sent, goaway={goaway}, closed after {took:?}, {upstream} reached the upstream"
    );
    assert!(goaway, "the flooding connection is told to go away");
    assert!(
        upstream < (STREAMS / 10) as usize,
        "cancelled streams must not each become an upstream request: {upstream}"
    );
    w.assert_unharmed(rss_before);
}

#[test]
fn a_continuation_flood_is_cut_off_and_others_are_served() {
    let w = start();
    assert!(w.served(), "control");
    let rss_before = w.rss_kib();
    let mut tcp = w.h2c();
    // A header block opened and never ended: CONTINUATION frames of 16 KiB of literal
    // headers (`x-flood: aaaa…`), up to 64 MiB in all unless the gateway stops it first.
    let mut literal = vec![0x00, 7];
    literal.extend_from_slice(b"x-flood");
    literal.push(100);
    literal.extend(std::iter::repeat_n(b'a', 100));
    let mut payload = Vec::new();
    while payload.len() + literal.len() <= 16 * 1024 {
        payload.extend_from_slice(&literal);
    }
    let writer = {
        let mut tcp = tcp.try_clone().unwrap();
        std::thread::spawn(move || {
            let mut sent = 0usize;
            if tcp.write_all(&frame(HEADERS, 0, 1, &request_block())).is_err() {
                return sent;
            }
            let continuation = frame(CONTINUATION, 0, 1, &payload);
            while sent < 64 << 20 {
                if tcp.write_all(&continuation).is_err() {
                    break;
                }
                sent += continuation.len();
            }
            sent
        })
    };
    let (_, took) = read_until_closed(&mut tcp, Duration::from_secs(30));
    // Stop writing whatever happened, so the writer ends.
    let _ = tcp.shutdown(std::net::Shutdown::Both);
    let sent = writer.join().unwrap();
    eprintln!("continuation flood: {sent} bytes sent, closed after {took:?}");
    assert!(
        sent < 16 << 20,
        "the gateway read {sent} bytes of one header block before cutting it off"
    );
    w.assert_unharmed(rss_before);
}
