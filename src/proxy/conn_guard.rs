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
//!
//! [`GuardedApp`] also runs the HTTP/1 request loop itself (what Pingora's blanket
//! `ServerApp` does for an `HttpServerApp`), with one difference: before each request it
//! waits for the request's first bytes holding nothing but the connection, and only then
//! builds Pingora's session and its proxy task. Pingora builds them first and waits inside
//! them, so every idle keep-alive connection held the proxy task's state, the session and a
//! 4 KiB header buffer (about 9 KiB, measured with heaptrack). The bytes the wait read are
//! handed to the session's first read ([`GuardedStream`] keeps them); a request Pingora has
//! already read ahead (pipelining) is served without waiting.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use bytes::{Buf, Bytes};
use futures::FutureExt;
use pingora::apps::{HttpPersistentSettings, HttpServerApp, ServerApp};
use pingora::protocols::http::ServerSession;
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
use super::Inflight;
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
    /// Bytes [`GuardedStream::next_request_arrived`] read, for the next read to return
    /// (already counted and timed).
    pushback: Option<Bytes>,
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
            pushback: None,
        }
    }

    /// Waits for the first bytes of the next request, holding nothing but the connection,
    /// under the same clocks and limits as any read (the idle or head deadline, the head
    /// size). The bytes are kept for the next read. `false`: the client closed the
    /// connection, it stayed idle too long, it sent nothing in time, or it failed.
    pub async fn next_request_arrived(&mut self) -> bool {
        if self.pushback.is_some() {
            return true;
        }
        std::future::poll_fn(|cx| {
            // On the stack only while polled: an idle connection holds no buffer.
            let mut scratch = [0u8; 2048];
            let mut read = ReadBuf::new(&mut scratch);
            match Pin::new(&mut *self).poll_read(cx, &mut read) {
                Poll::Ready(Ok(())) if !read.filled().is_empty() => {
                    self.pushback = Some(Bytes::copy_from_slice(read.filled()));
                    Poll::Ready(true)
                }
                Poll::Ready(_) => Poll::Ready(false),
                Poll::Pending => Poll::Pending,
            }
        })
        .await
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
        if let Some(kept) = this.pushback.as_mut() {
            let n = kept.len().min(buf.remaining());
            buf.put_slice(&kept[..n]);
            kept.advance(n);
            if kept.is_empty() {
                this.pushback = None;
            }
            return Poll::Ready(Ok(()));
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

/// The proxy application with [`ConnLimits`] on every HTTP/1 connection, running the
/// HTTP/1 request loop so that idle connections wait before their request state exists.
pub struct GuardedApp<A> {
    inner: Arc<A>,
    limits: ConnLimits,
    stop: StopSignal,
}

impl<A> GuardedApp<A> {
    /// Guards `inner`'s connections with `limits`; a fresh connection awaiting its first
    /// request while the service stops counts in `inflight`, so the drain waits for it.
    pub fn new(inner: A, limits: ConnLimits, inflight: Inflight) -> GuardedApp<A> {
        GuardedApp {
            inner: Arc::new(inner),
            limits,
            stop: StopSignal::new(inflight),
        }
    }
}

/// How long a fresh connection may still take to send its first request once the service
/// stops (its header timeout applies too): the request follows the handshake at once.
const FIRST_REQUEST_WHEN_STOPPING: Duration = Duration::from_secs(1);

/// The service is stopping: a kept-alive connection waiting for its next request closes
/// (as in Pingora's own wait) unless that request has already arrived; a fresh connection,
/// which has had no answer and would not retry, still gets its first request served.
struct StopSignal {
    closing: AtomicBool,
    closed: tokio::sync::Notify,
    inflight: Inflight,
}

impl StopSignal {
    fn new(inflight: Inflight) -> StopSignal {
        StopSignal {
            closing: AtomicBool::new(false),
            closed: tokio::sync::Notify::new(),
            inflight,
        }
    }

    /// Tells every current and later wait that the service stops.
    fn stop(&self) {
        self.closing.store(true, Ordering::Release);
        self.closed.notify_waiters();
    }

    /// The next request's first bytes, unless the service stops first (`first`: the
    /// connection's first request, see [`StopSignal`]).
    async fn next_request(&self, guarded: &mut GuardedStream, first: bool) -> bool {
        let closed = self.closed.notified();
        tokio::pin!(closed);
        closed.as_mut().enable();
        let stopping = async {
            if !self.closing.load(Ordering::Acquire) {
                closed.await;
            }
        };
        // Read first, as Pingora's own wait does: bytes already seen are served.
        tokio::select! {
            biased;
            arrived = guarded.next_request_arrived() => return arrived,
            () = stopping => {}
        }
        if first {
            let _counted = self.inflight.enter();
            let wait = tokio::time::timeout(FIRST_REQUEST_WHEN_STOPPING, guarded.next_request_arrived());
            return wait.await.unwrap_or(false);
        }
        // Bytes can be in the socket before the runtime has reported them: let it poll its
        // events once, then look again without waiting.
        tokio::task::yield_now().await;
        guarded.next_request_arrived().now_or_never().unwrap_or(false)
    }
}

/// Pingora's default keep-alive (seconds) for a connection's first session, as its own
/// HTTP/1 loop sets it; later sessions carry what the previous one left.
const PINGORA_KEEPALIVE_SECS: u64 = 60;

impl<A: HttpServerApp + Send + Sync + 'static> GuardedApp<A> {
    /// Pingora's HTTP/1 loop (`ServerApp` for an `HttpServerApp`), waiting for each
    /// request's first bytes before it builds the session and the proxy task.
    async fn serve_http1(&self, mut guarded: Box<GuardedStream>, shutdown: &ShutdownWatch) {
        let mut carried: Option<HttpPersistentSettings> = None;
        let mut first = true;
        loop {
            let read_ahead = carried
                .as_ref()
                .is_some_and(HttpPersistentSettings::has_pipelined_prefix);
            if !read_ahead && !self.stop.next_request(&mut guarded, first).await {
                return;
            }
            let mut session = ServerSession::new_http1(guarded);
            if first {
                let stopping = *shutdown.borrow();
                session.set_keepalive((!stopping).then_some(PINGORA_KEEPALIVE_SECS));
                let limit = self.inner.server_options().and_then(|o| o.keepalive_request_limit);
                session.set_keepalive_reuses_remaining(limit);
                first = false;
            } else if let Some(settings) = carried.take() {
                settings.apply_to_session(&mut session);
            }
            let Some(reused) = self.inner.process_new_http(session, shutdown).await else {
                return;
            };
            let (stream, settings) = reused.consume();
            let Ok(stream) = stream.into_any().downcast::<GuardedStream>() else {
                return;
            };
            guarded = stream;
            carried = settings;
        }
    }
}

#[async_trait]
impl<A: HttpServerApp + Send + Sync + 'static> ServerApp for GuardedApp<A> {
    async fn process_new(self: &Arc<Self>, stream: Stream, shutdown: &ShutdownWatch) -> Option<Stream> {
        let accepted = Instant::now();
        if matches!(stream.selected_alpn_proto(), Some(ALPN::H2)) {
            return ServerApp::process_new(&self.inner, stream, shutdown).await;
        }
        let stream = if stream.get_ssl_digest().is_none() {
            // Cleartext: HTTP/2 with prior knowledge or HTTP/1, by the first bytes.
            // Its deadline is the first head's: sniffing takes none of the HTTP/1 time.
            // (Boxed: its state is not kept in this task while the connection lives.)
            match Box::pin(super::h2c::sniff(stream, accepted + self.limits.header_timeout)).await {
                Sniffed::H2c(stream) => return ServerApp::process_new(&self.inner, stream, shutdown).await,
                Sniffed::Http1(stream) => stream,
                Sniffed::Gone => return None,
            }
        } else {
            stream
        };
        let guarded = Box::new(GuardedStream::since(stream, self.limits, accepted));
        self.serve_http1(guarded, shutdown).await;
        None
    }

    async fn cleanup(&self) {
        self.stop.stop();
        ServerApp::cleanup(&*self.inner).await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::AsyncWriteExt;
    use tokio::net::UnixStream;

    use super::*;

    /// A guarded server end and the client end of a fresh connection.
    fn connection() -> (Box<GuardedStream>, UnixStream) {
        let (server, client) = UnixStream::pair().unwrap();
        let stream: Stream = Box::new(pingora::protocols::l4::stream::Stream::from(server));
        let guarded = GuardedStream::since(stream, ConnLimits::default(), Instant::now());
        (Box::new(guarded), client)
    }

    fn stopped() -> StopSignal {
        let stop = StopSignal::new(Inflight::default());
        stop.stop();
        stop
    }

    async fn wait(
        stop: &StopSignal,
        guarded: &mut GuardedStream,
        first: bool,
    ) -> Result<bool, tokio::time::error::Elapsed> {
        tokio::time::timeout(Duration::from_secs(5), stop.next_request(guarded, first)).await
    }

    const HEAD: &[u8] = b"GET / HTTP/1.1\r\n";

    #[tokio::test]
    async fn a_request_sent_before_the_service_stopped_is_served() {
        for first in [true, false] {
            let (mut guarded, mut client) = connection();
            client.write_all(HEAD).await.unwrap();
            assert_eq!(wait(&stopped(), &mut guarded, first).await, Ok(true), "first: {first}");
            assert_eq!(guarded.pushback.as_deref(), Some(HEAD), "first: {first}");
        }
    }

    #[tokio::test]
    async fn a_first_request_sent_just_after_the_stop_is_served_and_counted() {
        let (mut guarded, mut client) = connection();
        let stop = stopped();
        let inflight = stop.inflight.clone();
        let sender = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let counted = inflight.get();
            client.write_all(HEAD).await.unwrap();
            (counted, client)
        });
        assert_eq!(wait(&stop, &mut guarded, true).await, Ok(true));
        let (counted, _client) = sender.await.unwrap();
        assert_eq!(counted, 1, "the drain waits for it");
        assert_eq!(stop.inflight.get(), 0);
    }

    #[tokio::test]
    async fn idle_connections_close_when_the_service_stops() {
        let (mut guarded, _client) = connection();
        assert_eq!(wait(&stopped(), &mut guarded, false).await, Ok(false), "kept alive");
        let started = Instant::now();
        assert_eq!(wait(&stopped(), &mut guarded, true).await, Ok(false), "fresh, silent");
        assert!(started.elapsed() >= FIRST_REQUEST_WHEN_STOPPING);
        // Stopped during the wait.
        let stop = Arc::new(StopSignal::new(Inflight::default()));
        let stopper = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            stopper.stop();
        });
        assert_eq!(wait(&stop, &mut guarded, false).await, Ok(false), "stopped while idle");
    }

    #[tokio::test]
    async fn a_request_arriving_while_running_is_served() {
        let (mut guarded, mut client) = connection();
        let stop = StopSignal::new(Inflight::default());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            client.write_all(b"G").await.unwrap();
            client
        });
        assert_eq!(wait(&stop, &mut guarded, false).await, Ok(true));
        assert_eq!(guarded.pushback.as_deref(), Some(&b"G"[..]));
    }
}
