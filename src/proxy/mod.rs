//! The Pingora `ProxyHttp` implementation. Each phase is thin: read the context, call one
//! policy or helper function, record the outcome.
//!
//! | phase                     | does                                                              |
//! |---------------------------|-------------------------------------------------------------------|
//! | `new_ctx`                 | pins the current snapshot for the whole request                   |
//! | `request_filter`          | routes, [`authorize`], then OCSP when asked; answers a `Deny`     |
//! | `upstream_peer`           | picks the target (round robin, skipping dead ones), builds the peer |
//! | `fail_to_connect`         | fails over to the next address, then the next target              |
//! | `connected_to_upstream`   | checks pins and IP names, on new and reused connections           |
//! | `upstream_request_filter` | strips `listen_path`, sets `X-Client-Cert-Sha256`                 |
//! | `fail_to_proxy`           | answers upstream failures with the SPEC's JSON                    |
//! | `logging`                 | request metrics                                                   |

mod access;
mod conn_guard;
mod ctx;
mod forwarded;
mod grpc;
mod h2c;
mod health;
mod request;
pub mod resolve;
mod respond;
pub mod upstream;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use log::{info, warn};
use pingora::http::RequestHeader;
use pingora::protocols::Digest;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::upstreams::peer::{HttpPeer, Peer};
use pingora::Error;

pub use conn_guard::{GuardedApp, GuardedStream};
pub use ctx::{Identity, Inflight, RequestCtx};
pub use health::Health;
pub use request::{peer_cert, request_host, upstream_path, upstream_uri, CLIENT_CERT_HEADER};
pub use resolve::Resolver;
pub use respond::{classify_upstream, UpstreamAnswer, PIN_MISMATCH};

use crate::clock::{now_ms, now_unix};
use crate::metrics::Metrics;
use crate::ocsp::OcspCache;
use crate::policy::downstream::revocation::{ocsp_need, ocsp_verdict};
use crate::policy::downstream::{authorize, route, RequestView};
use crate::policy::Deny;
use crate::request::{canonicalize, BadRequest};
use crate::snapshot::{ConnLimits, SnapshotStore};

/// How long a target whose every address refused a connection is skipped.
const TARGET_DOWN_MS: i64 = 10_000;

/// The gateway: the snapshot store, metrics and the upstream resolver.
pub struct Gateway {
    store: Arc<SnapshotStore>,
    metrics: Arc<Metrics>,
    resolver: Resolver,
    inflight: Inflight,
    limits: ConnLimits,
    health: Health,
    ocsp: OcspCache,
    forwarded: forwarded::ForwardedPeers,
}

// === impl Gateway ===

impl Gateway {
    /// A gateway reading `store`, applying `limits` to client connections.
    pub fn new(store: Arc<SnapshotStore>, metrics: Arc<Metrics>, inflight: Inflight, limits: ConnLimits) -> Gateway {
        Gateway {
            store,
            metrics,
            resolver: Resolver::new(Duration::from_secs(30)),
            inflight,
            limits,
            health: Health::default(),
            ocsp: OcspCache::default(),
            forwarded: Default::default(),
        }
    }

    /// The requests in flight it counts.
    pub fn inflight(&self) -> &Inflight {
        &self.inflight
    }

    /// Makes the request canonical, routes and authorizes it; `Err` carries the denial and
    /// what the log line says about it (the leaf ID, or why the request has no one meaning).
    fn decide(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<(), (Deny, String)> {
        let peer_ip = session.client_addr().and_then(|a| a.as_inet()).map(|a| a.ip());
        let taken = self
            .forwarded
            .take(ctx.snap.compiled.ingress.as_ref(), session.req_header_mut(), peer_ip);
        let canonical = canonicalize(session.req_header_mut()).map_err(|e| {
            let deny = match e {
                BadRequest::Path(_) => Deny::BadPath,
                BadRequest::Host(_) => Deny::BadHost,
            };
            (deny, format!("detail=\"{e}\""))
        })?;
        if taken.carried || canonical.stripped {
            self.metrics.forwarded_certificate(taken.trusted && taken.carried);
        }
        if taken.trusted {
            let forwarded = taken
                .peer
                .map_err(|e| (Deny::BadForwardedCert, format!("detail=\"{e}\"")))?;
            ctx.identity = Identity::Forwarded(forwarded);
        }
        let forwarded = match &ctx.identity {
            Identity::Forwarded(p) => Some(p.clone()),
            Identity::Connection => None,
        };
        let req = session.req_header();
        let peer = match &forwarded {
            Some(p) => p.as_deref(),
            None => peer_cert(session),
        };
        let leaf = || format!("leaf={}", peer.map(|p| p.id.to_hex()).as_deref().unwrap_or("-"));
        let index = route(
            &ctx.snap,
            request_host(req),
            req.uri.path(),
            canonical.param_reading.as_deref(),
        )
        .map_err(|d| (d, leaf()))?;
        ctx.api = Some(index);
        let view = RequestView {
            headers: &req.headers,
            peer,
            now: now_unix(),
        };
        authorize(&ctx.snap, ctx.snap.api(index), &view).map_err(|d| (d, leaf()))
    }

    /// The OCSP step (SPEC §10), once [`Self::decide`] allowed the request: `None` when the
    /// request needs no OCSP answer (decided without awaiting anything), else the lookup of
    /// the leaf's answer, from the cache or fetched from its responder within
    /// `ocsp_timeout_ms`. The lookup is boxed: its future is about 4.4 KB, and inline it would
    /// make every request's `request_filter` future that large, copied into its box each time.
    fn check_ocsp<'a>(&'a self, session: &'a Session, ctx: &'a RequestCtx) -> Option<Lookup<'a>> {
        let (Some(index), Some(peer)) = (ctx.api, identity(session, ctx)) else {
            return None;
        };
        let set = &ctx.snap.revocation;
        let need = ocsp_need(set, ctx.snap.api(index), peer)?;
        Some(Box::pin(async move {
            let answer = match &need.issuer {
                Some(issuer) => self
                    .ocsp
                    .status(peer.id, peer.leaf(), issuer, set.ocsp_timeout, set.ocsp_cache)
                    .await
                    .map(|a| a.status),
                None => Err("no CA certificate certgate knows issued the leaf".to_string()),
            };
            ocsp_verdict(need.mode, &answer).map_err(|d| (d, format!("leaf={}", peer.id.to_hex())))
        }))
    }

    /// Counts, logs and answers a refused request; `about` is what the log line adds.
    async fn refuse(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        deny: Deny,
        about: String,
    ) -> pingora::Result<()> {
        ctx.refused = Some(deny.reason());
        let (api, reason) = (ctx.api_label(), deny.reason());
        self.metrics.rejection(api, reason);
        match deny.detail() {
            Some(detail) => info!("event=rejected api={api} reason={reason} detail={detail} {about}"),
            None => info!("event=rejected api={api} reason={reason} {about}"),
        }
        respond::deny(session, &deny).await
    }
}

/// A pending OCSP step: the request's verdict, with what its log line says on refusal.
type Lookup<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), (Deny, String)>> + Send + 'a>>;

#[async_trait]
impl ProxyHttp for Gateway {
    type CTX = RequestCtx;

    fn init_downstream_modules(&self, _modules: &mut pingora::modules::http::HttpModules) {
        // No response compression (Pingora adds a disabled one by default): an mTLS gateway
        // forwards bodies as they are, and every module costs on every request.
    }

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx::new(self.store.load_full(), &self.inflight)
    }

    async fn early_request_filter(&self, session: &mut Session, _ctx: &mut RequestCtx) -> pingora::Result<()> {
        conn_guard::request_started(session, &self.limits);
        Ok(())
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> pingora::Result<bool> {
        // Only what is rarely needed is awaited, and boxed (see `check_ocsp`): this future is
        // boxed and copied on every request, so it stays small.
        let decided = match self.decide(session, ctx) {
            Ok(()) => match self.check_ocsp(session, ctx) {
                Some(lookup) => lookup.await,
                None => Ok(()),
            },
            Err(e) => Err(e),
        };
        let Err((deny, about)) = decided else {
            return Ok(false);
        };
        Box::pin(self.refuse(session, ctx, deny, about)).await?;
        Ok(true)
    }

    async fn upstream_peer(&self, _session: &mut Session, ctx: &mut RequestCtx) -> pingora::Result<Box<HttpPeer>> {
        let api = ctx.snap.api(ctx.api.ok_or_else(|| Error::new_str("no API routed"))?);
        self.health.prune(&ctx.snap);
        let index = *ctx
            .target
            .get_or_insert_with(|| self.health.next_target(&api.upstream, now_ms()));
        let (peer, resolved) = upstream::peer_for(api, index, ctx.attempts, &self.resolver).await?;
        ctx.resolved = Some(resolved);
        Ok(peer)
    }

    fn fail_to_connect(
        &self,
        _session: &mut Session,
        peer: &HttpPeer,
        ctx: &mut RequestCtx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        let (Some(api), Some(index)) = (ctx.api, ctx.target) else {
            return e;
        };
        if !is_connect_failure(&e) {
            return e; // TLS failures are answered, not retried elsewhere
        }
        ctx.attempts += 1;
        if let (Some(resolved), Some(addr)) = (&ctx.resolved, peer.address().as_inet()) {
            resolved.failed(addr);
            if ctx.attempts < resolved.addrs.len() {
                e.set_retry(true);
                return e;
            }
        }
        // Every address of this target failed: skip it for a while, try the next target.
        let targets = &ctx.snap.api(api).upstream.targets;
        self.health.mark_down(&targets[index], now_ms() + TARGET_DOWN_MS);
        warn!(
            "event=upstream_target_down api={} target={} skip_seconds={} error=\"{e}\"",
            ctx.snap.api(api).name,
            targets[index].url,
            TARGET_DOWN_MS / 1000
        );
        ctx.failovers += 1;
        if ctx.failovers < targets.len() {
            ctx.target = None;
            ctx.attempts = 0;
            e.set_retry(true);
        }
        e
    }

    async fn connected_to_upstream(
        &self,
        _session: &mut Session,
        reused: bool,
        peer: &HttpPeer,
        #[cfg(unix)] _fd: std::os::unix::io::RawFd,
        #[cfg(windows)] _sock: std::os::windows::io::RawSocket,
        digest: Option<&Digest>,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<()> {
        ctx.fresh_tls = !reused && peer.is_tls();
        let (Some(api), Some(index)) = (ctx.api, ctx.target) else {
            return Ok(());
        };
        upstream::check_connection(&ctx.snap.api(api).upstream.targets[index], digest)
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        up: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<()> {
        for name in crate::request::headers::RESERVED {
            up.remove_header(*name);
        }
        if let (Some(api), Some(t)) = (ctx.api, ctx.target) {
            let api = ctx.snap.api(api);
            if let Some(peer) = identity(session, ctx) {
                request::forward_client_cert(up, api.forward, peer)?;
            }
            if let Some(uri) = upstream_uri(api, &api.upstream.targets[t], up) {
                up.set_uri(uri.map_err(|_| Error::new_str("bad upstream path"))?);
            }
            grpc::warn_if_over_http1(api, &up.headers);
        }
        Ok(())
    }

    async fn fail_to_proxy(&self, session: &mut Session, e: &Error, ctx: &mut RequestCtx) -> FailToProxy {
        let answer = classify_upstream(e, ctx.fresh_tls && !ctx.upstream_answered);
        if let Some(a) = answer {
            self.log_upstream_failure(ctx, a, e);
        }
        let code = match (answer, session.response_written().is_some()) {
            // The header already went out: anything written now would read as the rest of the
            // body. Abort instead (the connection closes without the final chunk, an HTTP/2
            // stream is reset), so the client can never take it for a complete answer.
            (Some(a), true) => {
                self.metrics.aborted(ctx.api_label(), a.reason);
                0
            }
            (Some(a), false) => match respond::upstream_failure(session, a).await {
                Ok(()) => a.status,
                Err(_) => 0,
            },
            (None, _) => pingora_default_status(session, e).await,
        };
        FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }

    fn suppress_error_log(&self, _session: &Session, _ctx: &RequestCtx, e: &Error) -> bool {
        // Upstream failures get our own one-line log in `fail_to_proxy`.
        classify_upstream(e, false).is_some()
    }

    async fn upstream_response_filter(
        &self,
        session: &mut Session,
        upstream_response: &mut pingora::http::ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<()> {
        ctx.upstream_answered = true;
        // A 101 the client did not ask for would turn the connection into a tunnel that no
        // request decision covers.
        if upstream_response.status == 101 && !session.is_upgrade_req() {
            return Error::e_explain(
                pingora::ErrorType::InvalidHTTPHeader,
                "the upstream switched protocols on a request that asked for no upgrade",
            )
            .map_err(|e| e.into_up());
        }
        Ok(())
    }

    async fn logging(&self, session: &mut Session, _e: Option<&Error>, ctx: &mut RequestCtx) {
        conn_guard::response_finished(session);
        let status = session.response_written().map(|r| r.status.as_u16()).unwrap_or(0);
        let elapsed = ctx.start.elapsed();
        self.metrics.request(ctx.api_label(), status, elapsed.as_secs_f64());
        let mode = ctx.snap.compiled.logging.access;
        if mode != crate::config::AccessLog::Off {
            let req = session.req_header();
            let entry = access::AccessEntry {
                api: ctx.api_label(),
                method: req.method.as_str(),
                path: req.uri.path(),
                status,
                reason: ctx.refused.or(ctx.upstream_failure),
                duration_ms: elapsed.as_secs_f64() * 1000.0,
                leaf: identity(session, ctx).and_then(|p| p.header_value.to_str().ok()),
                upstream: ctx
                    .api
                    .zip(ctx.target)
                    .map(|(a, t)| ctx.snap.api(a).upstream.targets[t].url.as_str()),
                bytes_in: session.body_bytes_read(),
                bytes_out: session.body_bytes_sent(),
            };
            access::log(mode, &entry);
        }
    }
}

impl Gateway {
    /// Counts and logs an upstream failure.
    fn log_upstream_failure(&self, ctx: &mut RequestCtx, answer: UpstreamAnswer, e: &Error) {
        ctx.upstream_failure = Some(answer.reason);
        let api = ctx.api_label();
        let target = match (ctx.api, ctx.target) {
            (Some(a), Some(t)) => ctx.snap.api(a).upstream.targets[t].url.as_str(),
            _ => "-",
        };
        self.metrics.upstream_error(api, answer.reason);
        warn!(
            "event=upstream_failed api={api} reason={} target={target} error=\"{e}\"",
            answer.reason
        );
    }
}

/// Whether the error is a failure to reach the target at all (safe to try elsewhere).
fn is_connect_failure(e: &Error) -> bool {
    use pingora::ErrorType::*;
    matches!(
        e.etype(),
        ConnectTimedout | ConnectRefused | ConnectNoRoute | ConnectError | SocketError
    )
}

/// Pingora's own answer for errors that are not upstream failures (bad requests, client gone).
async fn pingora_default_status(session: &mut Session, e: &Error) -> u16 {
    use pingora::{ErrorSource, ErrorType::*};
    let code = match e.etype() {
        HTTPStatus(c) => *c,
        _ => match e.esource() {
            ErrorSource::Downstream => match e.etype() {
                WriteError | ReadError | ConnectionClosed | WriteTimedout => 0,
                // The client stopped sending its body (`listen.body_timeout_ms`).
                ReadTimedout => {
                    let _ = respond::client_error(session, 408, "Request body timeout").await;
                    return 408;
                }
                _ => 400,
            },
            _ => 500,
        },
    };
    if code > 0 {
        let _ = session.respond_error(code).await;
    }
    code
}

/// The client certificate a request is decided on: the forwarded one for a request from
/// the trusted ingress, else the one on its own TLS connection.
fn identity<'a>(session: &'a Session, ctx: &'a RequestCtx) -> Option<&'a crate::policy::PeerCert> {
    match &ctx.identity {
        Identity::Forwarded(p) => p.as_deref(),
        Identity::Connection => peer_cert(session),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::Spec;
    use std::io::Cursor;
    use std::mem::size_of_val;

    /// Every request boxes each phase's future (`async_trait`) and copies it into the box,
    /// so a rarely taken branch that awaits something large costs on every request. These
    /// bounds keep the rare awaits (OCSP lookup, denial) boxed on their own.
    const MAX_PHASE_FUTURE: usize = 512;

    fn gateway(dir: &std::path::Path) -> Gateway {
        Spec::server("localhost", &["localhost"])
            .issue(Some(&Spec::ca("phase test CA").issue(None)))
            .write(dir, "server");
        let yaml = "listen:\n  https: \"127.0.0.1:1\"\ntls:\n  certificate: server.crt\n  key: server.key\napis:\n  - name: a\n    listen_path: /a/\n    auth: {type: none, mutual_tls: true}\n    upstream: {url: \"https://a.internal\"}\n";
        std::fs::write(dir.join("certgate.yaml"), yaml).unwrap();
        let cfg = crate::config::load(&dir.join("certgate.yaml")).unwrap();
        let snap = crate::snapshot::compile(&cfg, 1).unwrap();
        let store = Arc::new(SnapshotStore::new(snap));
        Gateway::new(
            store,
            Arc::new(Metrics::new()),
            Inflight::default(),
            ConnLimits::default(),
        )
    }

    #[test]
    fn the_per_request_phase_futures_stay_small() {
        let dir = tempfile::tempdir().unwrap();
        let gw = gateway(dir.path());
        let mut session = Session::new_h1(Box::new(Cursor::new(Vec::<u8>::new())));
        let mut ctx = gw.new_ctx();
        let mut up = RequestHeader::build("GET", b"/", None).unwrap();
        let mut answer = pingora::http::ResponseHeader::build(200, None).unwrap();
        let early = size_of_val(&*gw.early_request_filter(&mut session, &mut ctx));
        let request = size_of_val(&*gw.request_filter(&mut session, &mut ctx));
        let peer = size_of_val(&*gw.upstream_peer(&mut session, &mut ctx));
        let up_request = size_of_val(&*gw.upstream_request_filter(&mut session, &mut up, &mut ctx));
        let up_response = size_of_val(&*gw.upstream_response_filter(&mut session, &mut answer, &mut ctx));
        let logging = size_of_val(&*gw.logging(&mut session, None, &mut ctx));
        let sizes = [
            ("early_request_filter", early),
            ("request_filter", request),
            ("upstream_peer", peer),
            ("upstream_request_filter", up_request),
            ("upstream_response_filter", up_response),
            ("logging", logging),
        ];
        for (phase, size) in sizes {
            assert!(size <= MAX_PHASE_FUTURE, "{phase}'s future is {size} bytes");
        }
    }
}
