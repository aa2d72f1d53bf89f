//! A small HTTP/1.1 (and, when asked, HTTP/2) echo upstream, optionally TLS and optionally
//! demanding a client certificate from a given CA. Used by `certgate demo` and by the tests: it answers every
//! request with JSON describing what it received, including the client certificate it saw.
//! A `delay_ms=N` query parameter delays the answer.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use openssl::ssl::{SslAcceptor, SslMethod, SslVerifyMode};
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::X509;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use crate::certs::CertId;
use crate::pki::Issued;

/// How the echo server listens.
#[derive(Clone)]
pub struct EchoConfig {
    /// Name reported in every answer.
    pub name: String,
    /// Server identity; plain HTTP when `None`.
    pub tls: Option<Issued>,
    /// Demand a client certificate issued by one of these CAs.
    pub client_ca: Vec<X509>,
    /// Speak HTTP/2 too: ALPN `h2` over TLS, prior knowledge (h2c) in the clear.
    pub h2: bool,
}

/// Counters of a running echo server.
#[derive(Default, Debug)]
pub struct EchoStats {
    /// Accepted connections (TLS handshakes completed, for TLS).
    pub connections: AtomicUsize,
    /// Answered requests.
    pub requests: AtomicUsize,
}

/// A running echo server; it stops when the handle is dropped.
pub struct EchoHandle {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its counters.
    pub stats: Arc<EchoStats>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for EchoHandle {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A plain-HTTP echo server answering as `name`, on a free loopback port.
pub fn start_plain(name: &str) -> std::io::Result<EchoHandle> {
    start(
        EchoConfig {
            name: name.into(),
            tls: None,
            client_ca: vec![],
            h2: false,
        },
        SocketAddr::from(([127, 0, 0, 1], 0)),
    )
}

/// Starts an echo server on `bind` (use port 0 for any) in its own thread.
pub fn start(cfg: EchoConfig, bind: SocketAddr) -> std::io::Result<EchoHandle> {
    let std_listener = std::net::TcpListener::bind(bind)?;
    std_listener.set_nonblocking(true)?;
    let addr = std_listener.local_addr()?;
    let acceptor = match &cfg.tls {
        Some(id) => Some(Arc::new(
            build_acceptor(id, &cfg.client_ca, cfg.h2).map_err(std::io::Error::other)?,
        )),
        None => None,
    };
    let stats = Arc::new(EchoStats::default());
    let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
    let st = stats.clone();
    let thread = std::thread::Builder::new().name(format!("echo-{}", cfg.name)).spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        rt.block_on(async move {
            let listener = TcpListener::from_std(std_listener).expect("listener");
            let name: Arc<str> = cfg.name.into();
            let h2 = cfg.h2;
            loop {
                tokio::select! {
                    _ = &mut stop_rx => break,
                    accepted = listener.accept() => {
                        let Ok((tcp, _)) = accepted else { continue };
                        let _ = tcp.set_nodelay(true);
                        let (acceptor, st, name) = (acceptor.clone(), st.clone(), name.clone());
                        tokio::spawn(async move {
                            match acceptor {
                                Some(acc) => {
                                    let Ok(ssl) = openssl::ssl::Ssl::new(acc.context()) else { return };
                                    let Ok(mut tls) = tokio_openssl::SslStream::new(ssl, tcp) else { return };
                                    if std::pin::Pin::new(&mut tls).accept().await.is_err() {
                                        return;
                                    }
                                    let seen = tls.ssl().peer_certificate().and_then(|c| c.to_der().ok()).map(|d| CertId::of_der(&d).to_hex());
                                    st.connections.fetch_add(1, Ordering::Relaxed);
                                    if tls.ssl().selected_alpn_protocol() == Some(b"h2") {
                                        serve_h2(tls, name, seen, st).await;
                                    } else {
                                        serve(tls, &name, seen, &st).await;
                                    }
                                }
                                None => {
                                    st.connections.fetch_add(1, Ordering::Relaxed);
                                    if h2 && has_h2_preface(&tcp).await {
                                        serve_h2(tcp, name, None, st).await;
                                    } else {
                                        serve(tcp, &name, None, &st).await;
                                    }
                                }
                            }
                        });
                    }
                }
            }
        });
    })?;
    Ok(EchoHandle {
        addr,
        stats,
        stop: Some(stop_tx),
        thread: Some(thread),
    })
}

fn build_acceptor(id: &Issued, client_ca: &[X509], h2: bool) -> Result<SslAcceptor, openssl::error::ErrorStack> {
    let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls())?;
    let offer: &'static [u8] = if h2 { b"\x02h2\x08http/1.1" } else { b"\x08http/1.1" };
    b.set_alpn_select_callback(move |_, client| {
        openssl::ssl::select_next_proto(offer, client).ok_or(openssl::ssl::AlpnError::NOACK)
    });
    b.set_certificate(&id.cert)?;
    for c in &id.chain {
        b.add_extra_chain_cert(c.clone())?;
    }
    b.set_private_key(&id.key)?;
    // Clients that resume (NGINX's proxy_ssl_session_reuse) need a session ID context when
    // client certificates are verified; without one OpenSSL fails the handshake.
    b.set_session_id_context(b"certgate-echo")?;
    if !client_ca.is_empty() {
        let mut store = X509StoreBuilder::new()?;
        for c in client_ca {
            store.add_cert(c.clone())?;
        }
        b.set_verify_cert_store(store.build())?;
        b.set_verify(SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT);
    }
    Ok(b.build())
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    name: &str,
    client_cert: Option<String>,
    stats: &EchoStats,
) {
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let mut parts = line.split_whitespace();
        let (method, path) = (
            parts.next().unwrap_or("").to_string(),
            parts.next().unwrap_or("").to_string(),
        );
        let mut headers = serde_json::Map::new();
        let mut content_length = 0usize;
        let mut chunked = false;
        let mut close = false;
        loop {
            let mut h = String::new();
            match reader.read_line(&mut h).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_string());
                if k == "content-length" {
                    content_length = v.parse().unwrap_or(0);
                }
                if k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked") {
                    chunked = true;
                }
                if k == "connection" && v.eq_ignore_ascii_case("close") {
                    close = true;
                }
                headers.insert(k, serde_json::Value::String(v));
            }
        }
        let body_len = if chunked {
            match read_chunked(&mut reader).await {
                Some(n) => n,
                None => return,
            }
        } else {
            let mut body = vec![0u8; content_length];
            if reader.read_exact(&mut body).await.is_err() {
                return;
            }
            content_length
        };
        stats.requests.fetch_add(1, Ordering::Relaxed);
        // `?delay_ms=N` (anywhere in the query) makes the answer wait, for drain and timeout tests.
        delay(&path).await;
        let answer = serde_json::json!({
            "upstream": name,
            "version": "HTTP/1.1",
            "method": method,
            "path": path,
            "client_cert_sha256": client_cert,
            "headers": headers,
            "body_bytes": body_len,
        });
        let payload = serde_json::to_vec(&answer).unwrap_or_default();
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{}\r\n",
            payload.len(),
            if close { "connection: close\r\n" } else { "" }
        );
        let s = reader.get_mut();
        if s.write_all(head.as_bytes()).await.is_err()
            || s.write_all(&payload).await.is_err()
            || s.flush().await.is_err()
        {
            return;
        }
        if close {
            let _ = s.shutdown().await;
            return;
        }
    }
}

/// Reads a chunked request body (and its trailer section, dropped); its length, or `None`
/// when the stream ends or the framing is broken.
async fn read_chunked<R: AsyncBufReadExt + AsyncReadExt + Unpin>(reader: &mut R) -> Option<usize> {
    let mut total = 0usize;
    loop {
        let mut size = String::new();
        if reader.read_line(&mut size).await.ok()? == 0 {
            return None;
        }
        let hex = size.trim_end().split(';').next().unwrap_or("").trim();
        let n = usize::from_str_radix(hex, 16).ok()?;
        if n == 0 {
            break;
        }
        let mut chunk = vec![0u8; n + 2];
        reader.read_exact(&mut chunk).await.ok()?;
        total += n;
    }
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        if line.trim_end().is_empty() {
            return Some(total);
        }
    }
}

/// Waits `delay_ms=N` milliseconds when the query (anywhere in `path`) asks.
async fn delay(path: &str) {
    if let Some(ms) = path
        .split(['?', '&'])
        .find_map(|kv| kv.strip_prefix("delay_ms="))
        .and_then(|v| v.parse().ok())
    {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
}

/// Whether the client opened with the HTTP/2 connection preface (h2 prior knowledge).
async fn has_h2_preface(tcp: &tokio::net::TcpStream) -> bool {
    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n";
    let mut buf = [0u8; 16];
    for _ in 0..50 {
        match tcp.peek(&mut buf).await {
            Ok(n) if n >= PREFACE.len() => return buf[..PREFACE.len()] == *PREFACE,
            Ok(n) if buf[..n] != PREFACE[..n] => return false,
            Ok(0) | Err(_) => return false,
            Ok(_) => tokio::time::sleep(std::time::Duration::from_millis(2)).await,
        }
    }
    false
}

/// Serves one HTTP/2 connection: every stream answered like [`serve`] answers a request,
/// with the request's trailers echoed as response trailers (or `x-trailer: V` when the
/// request carries `x-want-trailer: V`); a gRPC request
/// (`content-type: application/grpc…`) gets its own messages back with `grpc-status: 0`.
async fn serve_h2<S>(stream: S, name: Arc<str>, client_cert: Option<String>, stats: Arc<EchoStats>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Ok(mut conn) = h2::server::handshake(stream).await else {
        return;
    };
    while let Some(Ok((req, mut respond))) = conn.accept().await {
        let (name, client_cert, stats) = (name.clone(), client_cert.clone(), stats.clone());
        tokio::spawn(async move {
            let (parts, mut body) = req.into_parts();
            let grpc = parts
                .headers
                .get("content-type")
                .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
            let mut received = 0usize;
            let mut echoed = bytes::BytesMut::new();
            while let Some(Ok(chunk)) = body.data().await {
                received += chunk.len();
                let _ = body.flow_control().release_capacity(chunk.len());
                if grpc {
                    echoed.extend_from_slice(&chunk);
                }
            }
            let trailers = body.trailers().await.ok().flatten();
            stats.requests.fetch_add(1, Ordering::Relaxed);
            if grpc {
                answer_grpc(respond, echoed.freeze());
                return;
            }
            delay(parts.uri.query().unwrap_or("")).await;
            let headers: serde_json::Map<String, serde_json::Value> = parts
                .headers
                .iter()
                .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned().into()))
                .collect();
            let answer = serde_json::json!({
                "upstream": &*name,
                "version": "HTTP/2",
                "method": parts.method.as_str(),
                "path": parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"),
                "authority": parts.uri.authority().map(|a| a.as_str()),
                "client_cert_sha256": client_cert,
                "headers": headers,
                "body_bytes": received,
            });
            let payload = serde_json::to_vec(&answer).unwrap_or_default();
            let head = http::Response::builder()
                .status(200)
                .header("content-type", "application/json")
                .body(())
                .expect("a static response head");
            let Ok(mut send) = respond.send_response(head, false) else {
                return;
            };
            // Trailers back: the request's own, else `x-trailer: <value>` when the request
            // asked for them with `x-want-trailer: <value>`.
            let trailers = trailers.or_else(|| {
                let want = parts.headers.get("x-want-trailer")?.clone();
                let mut t = http::HeaderMap::new();
                t.insert("x-trailer", want);
                Some(t)
            });
            let _ = send.send_data(bytes::Bytes::from(payload), trailers.is_none());
            if let Some(t) = trailers {
                let _ = send.send_trailers(t);
            }
        });
    }
}

/// Answers a gRPC call with the messages it sent (its length-prefixed frames, unchanged) and
/// `grpc-status: 0`: the benchmarks' unary upstream, cheap enough not to be what is measured.
fn answer_grpc(mut respond: h2::server::SendResponse<bytes::Bytes>, messages: bytes::Bytes) {
    let head = http::Response::builder()
        .status(200)
        .header("content-type", "application/grpc")
        .body(())
        .expect("a static response head");
    let Ok(mut send) = respond.send_response(head, false) else {
        return;
    };
    let _ = send.send_data(messages, false);
    let mut trailers = http::HeaderMap::new();
    trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
    let _ = send.send_trailers(trailers);
}
