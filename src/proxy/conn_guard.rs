//! Limits on what one HTTP/1 client connection may cost: how long its request head may take
//! to arrive, how long it may sit idle between requests, and how large the head may grow.
//! Pingora times out single reads only, so a client trickling a byte every few seconds
//! could hold a connection (and its buffers) forever; this module bounds the whole head.
//!
//! [`GuardedApp`] wraps the proxy and puts every HTTP/1 connection in a [`GuardedStream`]
//! (HTTP/2 connections, by ALPN or by their preface in the clear, are bounded by the h2
//! settings instead). The stream tracks one phase:
//!
//! | phase  | starts                                   | ends, or                                   |
//! |--------|------------------------------------------|--------------------------------------------|
//! | `Head` | at accept, or at the first byte after idle | the head is parsed ([`request_started`]) |
//! | `Busy` | the head is parsed                        | the response is done ([`response_finished`]) |
//! | `Idle` | the response is done                      | the next byte arrives                      |
//!
//! A head that takes longer than `header_timeout` gets a 408, one that grows past
//! `max_header_bytes` a 431 (both JSON, then the connection closes); an idle connection is
//! closed quietly after `keepalive_timeout`. While busy, Pingora's per-read and per-write
//! timeouts apply, set to `body_timeout`.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use pingora::apps::ServerApp;
use pingora::protocols::raw_connect::ProxyDigest;
use pingora::protocols::{
    GetProxyDigest, GetSocketDigest, GetTimingDigest, Peek, Shutdown, SocketDigest, Ssl, Stream, TimingDigest,
    UniqueID, UniqueIDType, ALPN,
};
use pingora::proxy::Session;
use pingora::server::ShutdownWatch;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::h2c::Sniffed;
use crate::policy::deny::json_error;
use crate::snapshot::ConnLimits;

const HEAD: u8 = 0;
const BUSY: u8 = 1;
const IDLE: u8 = 2;

/// A downstream HTTP/1 stream that enforces [`ConnLimits`] on request heads and idle time.
pub struct GuardedStream {
    inner: Stream,
    limits: ConnLimits,
    phase: AtomicU8,
    /// When the current phase started, as milliseconds after `epoch`.
    phase_start_ms: AtomicU64,
    head_bytes: AtomicUsize,
    epoch: Instant,
    timer: Pin<Box<Sleep>>,
    /// An answer being written before the connection closes, and how much of it is out.
    refusal: Option<Refusal>,
}

impl std::fmt::Debug for GuardedStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardedStream").field("inner", &self.inner).finish()
    }
}

// === impl GuardedStream ===

impl GuardedStream {
    /// Wraps a stream accepted at `epoch`: its first request head is due by `epoch` plus the
    /// header timeout, however long the protocol sniffing took.
    pub fn since(inner: Stream, limits: ConnLimits, epoch: Instant) -> GuardedStream {
        GuardedStream {
            inner,
            limits,
            phase: AtomicU8::new(HEAD),
            phase_start_ms: AtomicU64::new(0),
            head_bytes: AtomicUsize::new(0),
            epoch,
            timer: Box::pin(tokio::time::sleep_until(epoch + limits.header_timeout)),
            refusal: None,
        }
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn enter(&self, phase: u8) {
        self.phase_start_ms.store(self.now_ms(), Ordering::Relaxed);
        self.head_bytes.store(0, Ordering::Relaxed);
        self.phase.store(phase, Ordering::Release);
    }

    /// The request head was parsed.
    pub fn mark_busy(&self) {
        self.enter(BUSY);
    }

    /// The response was written; the connection waits for the next request.
    pub fn mark_idle(&self) {
        self.enter(IDLE);
    }

    fn deadline(&self, phase: u8) -> Instant {
        let start = self.epoch + Duration::from_millis(self.phase_start_ms.load(Ordering::Relaxed));
        start
            + match phase {
                IDLE => self.limits.keepalive_timeout,
                _ => self.limits.header_timeout,
            }
    }

    fn refuse(&mut self, status: u16, reason: &str, message: &str) {
        let body = json_error(message, "bad_request");
        let mut out = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        out.extend(body);
        self.refusal = Some(Refusal {
            bytes: out,
            sent: 0,
            lingering: false,
            drained: 0,
        });
    }

    /// Writes the pending refusal, lingers, then ends the read side with an error.
    ///
    /// Lingering (as NGINX's `lingering_close` does): a client still sending the rest of an
    /// oversized head would otherwise have its unread bytes answered by a TCP reset, which
    /// destroys the refusal before the client reads it. What it sends is read and dropped
    /// until it stops, [`LINGER`] passes or [`LINGER_BYTES`] arrive.
    fn poll_refusal(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let aborted = || {
            Poll::Ready(Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "request head refused by the connection limits",
            )))
        };
        let Some(r) = self.refusal.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        while r.sent < r.bytes.len() {
            match Pin::new(&mut self.inner).poll_write(cx, &r.bytes[r.sent..]) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => return aborted(),
                Poll::Ready(Ok(n)) => r.sent += n,
            }
        }
        if !r.lingering {
            match Pin::new(&mut self.inner).poll_flush(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(_)) => return aborted(),
                Poll::Ready(Ok(())) => {}
            }
            r.lingering = true;
            self.timer.as_mut().reset(Instant::now() + LINGER);
        }
        let mut scratch = [0u8; 4096];
        loop {
            let mut rb = ReadBuf::new(&mut scratch);
            match Pin::new(&mut self.inner).poll_read(cx, &mut rb) {
                Poll::Ready(Ok(())) if rb.filled().is_empty() => return aborted(),
                Poll::Ready(Ok(())) => {
                    r.drained += rb.filled().len();
                    if r.drained > LINGER_BYTES {
                        return aborted();
                    }
                }
                Poll::Ready(Err(_)) => return aborted(),
                Poll::Pending => {
                    return match self.timer.as_mut().poll(cx) {
                        Poll::Ready(()) => aborted(),
                        Poll::Pending => Poll::Pending,
                    }
                }
            }
        }
    }
}

/// A 408 or 431 being written, then the lingering read after it.
struct Refusal {
    bytes: Vec<u8>,
    sent: usize,
    lingering: bool,
    drained: usize,
}

/// Longest a refused connection is read (and dropped) after its answer.
const LINGER: Duration = Duration::from_secs(1);
/// Most a refused connection may send after its answer before it is closed anyway.
const LINGER_BYTES: usize = 1 << 20;

impl AsyncRead for GuardedStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.refusal.is_some() {
            return this.poll_refusal(cx);
        }
        let phase = this.phase.load(Ordering::Acquire);
        if phase == BUSY {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let n = buf.filled().len() - before;
                if n == 0 {
                    return Poll::Ready(Ok(()));
                }
                if phase == IDLE {
                    this.enter(HEAD);
                }
                let total = this.head_bytes.fetch_add(n, Ordering::Relaxed) + n;
                if total > this.limits.max_header_bytes {
                    buf.set_filled(before);
                    this.refuse(431, "Request Header Fields Too Large", "Request header too large");
                    return this.poll_refusal(cx);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                let deadline = this.deadline(phase);
                if this.timer.deadline() != deadline {
                    this.timer.as_mut().reset(deadline);
                }
                if this.timer.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                match phase {
                    // Idle too long: end quietly, as a client closing would.
                    IDLE => Poll::Ready(Ok(())),
                    // A head begun but not finished in time.
                    _ if this.head_bytes.load(Ordering::Relaxed) > 0 => {
                        this.refuse(408, "Request Timeout", "Request header timeout");
                        this.poll_refusal(cx)
                    }
                    // Connected but never sent anything.
                    _ => Poll::Ready(Ok(())),
                }
            }
        }
    }
}

impl AsyncWrite for GuardedStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[async_trait]
impl Shutdown for GuardedStream {
    async fn shutdown(&mut self) {
        self.inner.shutdown().await
    }
}

impl UniqueID for GuardedStream {
    fn id(&self) -> UniqueIDType {
        self.inner.id()
    }
}

impl Ssl for GuardedStream {
    fn get_ssl(&self) -> Option<&pingora::protocols::tls::TlsRef> {
        self.inner.get_ssl()
    }

    fn get_ssl_digest(&self) -> Option<Arc<pingora::protocols::tls::SslDigest>> {
        self.inner.get_ssl_digest()
    }

    fn selected_alpn_proto(&self) -> Option<ALPN> {
        self.inner.selected_alpn_proto()
    }
}

impl GetTimingDigest for GuardedStream {
    fn get_timing_digest(&self) -> Vec<Option<TimingDigest>> {
        self.inner.get_timing_digest()
    }

    fn get_read_pending_time(&self) -> Duration {
        self.inner.get_read_pending_time()
    }

    fn get_write_pending_time(&self) -> Duration {
        self.inner.get_write_pending_time()
    }
}

impl GetProxyDigest for GuardedStream {
    fn get_proxy_digest(&self) -> Option<Arc<ProxyDigest>> {
        self.inner.get_proxy_digest()
    }

    fn set_proxy_digest(&mut self, digest: ProxyDigest) {
        self.inner.set_proxy_digest(digest)
    }
}

impl GetSocketDigest for GuardedStream {
    fn get_socket_digest(&self) -> Option<Arc<SocketDigest>> {
        self.inner.get_socket_digest()
    }

    fn set_socket_digest(&mut self, digest: SocketDigest) {
        self.inner.set_socket_digest(digest)
    }
}

/// Pingora peeks at a cleartext connection for the HTTP/2 preface (its `h2c` option). A
/// guarded stream is HTTP/1 by construction (`proxy::h2c::sniff` decided before), so the
/// answer is "peeked, and not the preface" at once: Pingora's own peek would wait for 24
/// bytes, which a short HTTP/1 request never sends.
#[async_trait]
impl Peek for GuardedStream {
    async fn try_peek(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        buf.fill(0);
        Ok(true)
    }
}

/// The guard of the session's connection, when it has one (HTTP/1).
fn guard_of(session: &Session) -> Option<&GuardedStream> {
    session
        .downstream_session
        .stream()?
        .as_any()
        .downcast_ref::<GuardedStream>()
}

/// The request head was read: stop its clock, apply the per-read body and write timeouts,
/// and keep pipelined requests (answered in order) rather than dropping them.
pub fn request_started(session: &mut Session, limits: &ConnLimits) {
    if let Some(g) = guard_of(session) {
        g.mark_busy();
    }
    let s = &mut session.downstream_session;
    s.set_read_timeout(Some(limits.body_timeout));
    s.set_write_timeout(Some(limits.body_timeout));
    s.set_pipelining_enabled(true);
}

/// The response is done: the connection's idle clock starts.
pub fn response_finished(session: &Session) {
    if let Some(g) = guard_of(session) {
        g.mark_idle();
    }
}

/// The proxy application with [`ConnLimits`] on every HTTP/1 connection.
pub struct GuardedApp<A> {
    inner: Arc<A>,
    limits: ConnLimits,
}

impl<A> GuardedApp<A> {
    /// Guards `inner`'s connections with `limits`.
    pub fn new(inner: A, limits: ConnLimits) -> GuardedApp<A> {
        GuardedApp {
            inner: Arc::new(inner),
            limits,
        }
    }
}

#[async_trait]
impl<A: ServerApp + Send + Sync + 'static> ServerApp for GuardedApp<A> {
    async fn process_new(self: &Arc<Self>, stream: Stream, shutdown: &ShutdownWatch) -> Option<Stream> {
        let accepted = Instant::now();
        let stream: Stream = if matches!(stream.selected_alpn_proto(), Some(ALPN::H2)) {
            stream
        } else if stream.get_ssl_digest().is_none() {
            // Cleartext: HTTP/2 with prior knowledge or HTTP/1, by the first bytes.
            // Its deadline is the first head's: sniffing takes none of the HTTP/1 time.
            match super::h2c::sniff(stream, accepted + self.limits.header_timeout).await {
                Sniffed::H2c(stream) => stream,
                Sniffed::Http1(stream) => Box::new(GuardedStream::since(stream, self.limits, accepted)),
                Sniffed::Gone => return None,
            }
        } else {
            Box::new(GuardedStream::since(stream, self.limits, accepted))
        };
        self.inner.process_new(stream, shutdown).await
    }

    async fn cleanup(&self) {
        self.inner.cleanup().await
    }
}
