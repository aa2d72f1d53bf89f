//! Upstreams that behave the way real servers do when certgate gets things wrong.
//!
//! [`Mode::Normalise`] reads a path the way the most permissive frameworks do, all at once:
//! it percent-decodes everything once (`%2f` and `%5c` included), reads `\` as `/`, drops
//! `;` parameters from every segment, resolves dot segments (clamping at the root), merges
//! slashes and lower-cases. It answers with the resource it would serve, so a request that
//! certgate decided for one API but the upstream serves from another shows up as a bypass.
//! The other modes are upstream faults: dying mid-body, stalling, a `101` nobody asked for,
//! huge headers, never answering, or an unsolicited extra answer behind every real one.
//! [`Hostile::start_tls`] serves the same modes over TLS.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How the upstream answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// 200 JSON `{"resource", "raw", "headers"}` (see the module doc), keep-alive.
    Normalise,
    /// Sends the header and part of a `Content-Length` body, then closes.
    CloseMidBody,
    /// Sends the header and one chunk of a chunked body, then closes.
    CloseMidChunked,
    /// Sends the header and part of a body, then stops sending (but keeps the connection).
    StallMidBody,
    /// Answers `101 Switching Protocols` to any request, then echoes bytes back.
    Switch101,
    /// Answers with a 200 whose headers total about 1 MB.
    HugeHeaders,
    /// Reads the request and never answers.
    Silent,
    /// Answers `conn-<connection>-req-<request>` and writes a second, unsolicited answer
    /// (`EVIL!`) right behind it in the same write (over TLS: the same record).
    ExtraAnswer,
    /// Like [`Mode::ExtraAnswer`], with the extra answer in a write (a record) of its own.
    ExtraWrite,
}

/// A running upstream; stops accepting when dropped.
pub struct Hostile {
    pub addr: std::net::SocketAddr,
    /// Requests read so far.
    pub requests: Arc<AtomicUsize>,
    /// Every request line read, in order.
    pub seen: Arc<parking_lot::Mutex<Vec<String>>>,
    /// Connections accepted so far.
    pub connections: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

impl Hostile {
    /// Serves `mode` in the clear.
    pub fn start(mode: Mode) -> Hostile {
        Self::serve_with(mode, Some)
    }

    /// Serves `mode` over TLS with `cert` (no client certificate asked).
    pub fn start_tls(mode: Mode, cert: &certgate::pki::Issued) -> Hostile {
        use openssl::ssl::{SslAcceptor, SslMethod};
        let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).unwrap();
        b.set_certificate(&cert.cert).unwrap();
        b.set_private_key(&cert.key).unwrap();
        let acceptor = b.build();
        Self::serve_with(mode, move |tcp| acceptor.accept(tcp).ok())
    }

    /// Accepts connections, each wrapped by `wrap` (`None`: dropped) and served on a thread.
    fn serve_with<S, W>(mode: Mode, wrap: W) -> Hostile
    where
        S: Read + Write + Send + 'static,
        W: Fn(TcpStream) -> Option<S> + Send + Sync + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicUsize::new(0));
        let connections = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(parking_lot::Mutex::new(Vec::new()));
        let (s, n, c, log) = (stop.clone(), requests.clone(), connections.clone(), seen.clone());
        let wrap = Arc::new(wrap);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let number = c.fetch_add(1, Ordering::SeqCst) + 1;
                let (n, log, wrap) = (n.clone(), log.clone(), wrap.clone());
                std::thread::spawn(move || {
                    if let Some(stream) = wrap(conn) {
                        serve(stream, mode, number, &n, &log)
                    }
                });
            }
        });
        Hostile {
            addr,
            requests,
            seen,
            connections,
            stop,
        }
    }
}

/// A request head as read off the wire.
struct Head {
    line: String,
    target: String,
    headers: Vec<(String, String)>,
    content_length: usize,
}

fn read_head(r: &mut impl BufRead) -> Option<Head> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let target = line.split_whitespace().nth(1)?.to_string();
    let line = line.trim_end().to_string();
    let mut headers = Vec::new();
    let mut content_length = 0;
    loop {
        let mut raw = Vec::new();
        if r.read_until(b'\n', &mut raw).ok()? == 0 {
            return None;
        }
        let h = String::from_utf8_lossy(&raw).to_string();
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            let (k, v) = (k.trim().to_string(), v.trim().to_string());
            if k.eq_ignore_ascii_case("content-length") {
                content_length = v.parse().unwrap_or(0);
            }
            headers.push((k, v));
        }
    }
    Some(Head {
        line,
        target,
        headers,
        content_length,
    })
}

/// Serves connection number `conn` (writes go through the reader to the stream below it).
fn serve<S: Read + Write>(
    stream: S,
    mode: Mode,
    conn: usize,
    requests: &AtomicUsize,
    log: &parking_lot::Mutex<Vec<String>>,
) {
    let mut r = BufReader::new(stream);
    let mut on_conn = 0;
    while let Some(head) = read_head(&mut r) {
        on_conn += 1;
        requests.fetch_add(1, Ordering::SeqCst);
        log.lock().push(head.line.clone());
        let mut body = vec![0; head.content_length];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        match mode {
            Mode::Normalise => {
                let doc = serde_json::json!({
                    "resource": normalise(&head.target),
                    "raw": head.target,
                    "headers": head.headers,
                    "body_len": body.len(),
                });
                let b = doc.to_string();
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{b}",
                    b.len()
                );
                if r.get_mut().write_all(resp.as_bytes()).is_err() {
                    return;
                }
            }
            // Part of a response, then the connection closes (after 100 ms) or stalls (60 s).
            Mode::CloseMidBody | Mode::CloseMidChunked | Mode::StallMidBody => {
                let partial: &[u8] = match mode {
                    Mode::CloseMidChunked => b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
                    _ => b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                };
                let _ = r.get_mut().write_all(partial);
                let _ = r.get_mut().flush();
                let hold = if mode == Mode::StallMidBody { 60_000 } else { 100 };
                std::thread::sleep(Duration::from_millis(hold));
                return;
            }
            Mode::Switch101 => {
                let _ = r
                    .get_mut()
                    .write_all(b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: evil\r\n\r\n");
                let mut buf = [0u8; 1024];
                loop {
                    match r.get_mut().read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if r.get_mut().write_all(&buf[..n]).is_err() {
                                return;
                            }
                        }
                    }
                }
            }
            Mode::HugeHeaders => {
                let mut resp = String::from("HTTP/1.1 200 OK\r\n");
                for i in 0..1000 {
                    resp.push_str(&format!("X-Big-{i}: {}\r\n", "y".repeat(1000)));
                }
                resp.push_str("Content-Length: 2\r\n\r\nok");
                let _ = r.get_mut().write_all(resp.as_bytes());
            }
            Mode::Silent => {
                std::thread::sleep(Duration::from_secs(60));
                return;
            }
            Mode::ExtraAnswer | Mode::ExtraWrite => {
                let b = format!("conn-{conn}-req-{on_conn}");
                let real = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{b}", b.len());
                let extra = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nEVIL!";
                let w = r.get_mut();
                let sent = if mode == Mode::ExtraAnswer {
                    w.write_all(format!("{real}{extra}").as_bytes())
                } else {
                    w.write_all(real.as_bytes())
                        .and_then(|()| w.write_all(extra.as_bytes()))
                };
                if sent.is_err() {
                    return;
                }
            }
        }
    }
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// The resource a permissive framework serves for `target` (see the module doc).
pub fn normalise(target: &str) -> String {
    let path = target.split('?').next().unwrap_or("");
    let bytes = path.as_bytes();
    let mut decoded = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                decoded.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        decoded.push(bytes[i]);
        i += 1;
    }
    let text = String::from_utf8_lossy(&decoded)
        .replace('\\', "/")
        .to_ascii_lowercase();
    let mut segs: Vec<&str> = Vec::new();
    for seg in text.split('/') {
        let seg = seg.split(';').next().unwrap_or("");
        match seg {
            "" | "." => {}
            ".." => {
                segs.pop();
            }
            s => segs.push(s),
        }
    }
    format!("/{}", segs.join("/"))
}

#[test]
fn the_normaliser_reads_paths_permissively() {
    for (raw, want) in [
        ("/open/../colon/x", "/colon/x"),
        ("/open/%2e%2e/colon/x", "/colon/x"),
        ("/open/..%2fcolon%2fx", "/colon/x"),
        ("/open/..%5ccolon", "/colon"),
        ("/open/..;/colon/x", "/colon/x"),
        ("/OPEN/..\\COLON/x?q", "/colon/x"),
        ("/../../colon", "/colon"),
    ] {
        assert_eq!(normalise(raw), want, "{raw}");
    }
}
