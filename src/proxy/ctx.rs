//! Per-request state shared by the phases.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use super::resolve::Resolved;
use crate::snapshot::{ApiIndex, Snapshot};

/// What one request carries from phase to phase. The snapshot is pinned when the request
/// starts; every phase reads only it.
pub struct RequestCtx {
    /// The configuration this request is decided and proxied with.
    pub snap: Arc<Snapshot>,
    /// The matched API, once routed.
    pub api: Option<ApiIndex>,
    /// The target chosen for this request (kept across connect retries).
    pub target: Option<usize>,
    /// Address attempts made on the current target (for failing over between addresses).
    pub attempts: usize,
    /// Targets given up on for this request.
    pub failovers: usize,
    /// When the request started.
    pub start: Instant,
    /// Reason code of an upstream failure, once one happened.
    pub upstream_failure: Option<&'static str>,
    /// Reason code of the policy's refusal, when the request was refused.
    pub refused: Option<&'static str>,
    /// The current upstream connection is a TLS connection made for this request.
    pub fresh_tls: bool,
    /// The upstream sent a response header.
    pub upstream_answered: bool,
    /// Addresses of the current target (to record failed connects).
    pub resolved: Option<Arc<Resolved>>,
    /// Whose client certificate the request is decided on and forwarded with.
    pub identity: Identity,
    /// Counts this request as in flight until the context is dropped.
    _inflight: InflightGuard,
}

/// Whose client certificate counts for a request.
pub enum Identity {
    /// The one presented on the request's own TLS connection (if any).
    Connection,
    /// The one a trusted load balancer forwarded in a header (`None`: it says the client
    /// sent none); the connection's own certificate, the load balancer's, does not count.
    Forwarded(Option<Arc<crate::policy::PeerCert>>),
}

/// Requests in flight, for draining on SIGTERM.
#[derive(Clone, Default)]
pub struct Inflight(Arc<AtomicUsize>);

/// Counts one request (or a first request awaited while stopping) until dropped.
pub(crate) struct InflightGuard(Arc<AtomicUsize>);

// === impl Inflight ===

impl Inflight {
    /// Requests currently in flight.
    pub fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }

    /// Counts one more until the guard is dropped.
    pub(crate) fn enter(&self) -> InflightGuard {
        self.0.fetch_add(1, Ordering::SeqCst);
        InflightGuard(self.0.clone())
    }
}

impl Drop for InflightGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

// === impl RequestCtx ===

impl RequestCtx {
    /// A context pinned to `snap`, counted in `inflight`.
    pub fn new(snap: Arc<Snapshot>, inflight: &Inflight) -> RequestCtx {
        RequestCtx {
            snap,
            api: None,
            target: None,
            attempts: 0,
            failovers: 0,
            start: Instant::now(),
            upstream_failure: None,
            refused: None,
            fresh_tls: false,
            upstream_answered: false,
            resolved: None,
            identity: Identity::Connection,
            _inflight: inflight.enter(),
        }
    }

    /// The matched API's name, or the no-API label.
    pub fn api_label(&self) -> &str {
        match self.api {
            Some(i) => &self.snap.api(i).name,
            None => crate::metrics::NO_API,
        }
    }
}
