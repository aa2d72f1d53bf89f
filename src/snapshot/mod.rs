//! The compiled layer: one immutable [`Snapshot`] built from a [`crate::config::LoadedConfig`]
//! by [`compile`], published through a [`SnapshotStore`].
//!
//! Everything the request path needs is parsed here, once: certificates become IDs and
//! verification stores, host patterns become matchers, tokens become hashes, JWT keys are
//! loaded with their algorithms fixed. No phase ever parses a config string. This module
//! must NOT make per-request decisions; that is [`crate::policy`].

mod client_allow;
mod compile;
mod control;
pub mod domain_map;
pub mod handshake;
pub mod host;
pub mod ingress;
pub mod jwt;
mod overlay;
mod pins;
pub mod revocation;
mod routes;
mod server_tls;
mod store;
mod tokens;
pub mod upstream;

use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;

pub use client_allow::{CaSet, ClientAllowList};
pub use compile::{compile, compile_from, compile_with, EXPIRY_WARNING_DAYS};
pub use control::{ApiNames, ControlLayer, ControlStats};
pub use domain_map::{select, DomainMap};
pub use handshake::HandshakePrefs;
pub use overlay::{
    AllowEntry, AllowTarget, Entries, EntriesDelta, MemberEntry, Overlay, OverlayCrl, OverlaySource, OverlayToken,
};
pub use pins::PinSet;
pub use routes::{ApiIndex, RouteTable, RouteTableBuilder};
pub use server_tls::{ServerCredential, ServerIdentities, ServerIdentity};
pub use store::SnapshotStore;
pub use tokens::{Binding, TokenHash, TokenRecord, TokenTable};

use crate::certs::{CertId, DigestSet};
use crate::config::{AuthType, ClientAuth};
use jwt::JwtVerifier;
use upstream::ApiUpstream;

/// Everything one configuration generation decides with. Immutable once built: the YAML's
/// compiled part and the control plane's layer, each shared with the generations before
/// and after it that did not change it (a control-plane change makes a new generation
/// with the same [`Compiled`] and a patched [`ControlLayer`]).
pub struct Snapshot {
    /// Increases by one with every published change (YAML reload or control-plane change).
    pub generation: u64,
    /// The YAML compiled with the control plane's certificates and CA entries.
    pub compiled: Arc<Compiled>,
    /// The control plane's visible certificates, grants and issued tokens.
    pub control: Arc<ControlLayer>,
}

/// What one compile of the YAML (with the control plane's certificates) produced.
pub struct Compiled {
    /// Listener settings (frozen at start; a reload that changes them only warns).
    pub listen: ListenSettings,
    /// Handshake policy for client certificates.
    pub client_auth: ClientAuth,
    /// Server certificates by SNI (absent when there is no TLS listener).
    pub server: Option<ServerIdentities>,
    /// Host + path → API.
    pub routes: RouteTable,
    /// The APIs, indexed by [`ApiIndex`].
    pub apis: Box<[Api]>,
    /// Token records.
    pub tokens: TokenTable,
    /// `security.client_certificates` leaf IDs, allowed on every mTLS API.
    pub gateway_leaves: DigestSet<CertId>,
    /// Who may call the admin API, when it is mTLS-protected (`admin.client_certificates`).
    pub admin_allow: Option<ClientAllowList>,
    /// Every loaded certificate with a role, for the expiry gauges.
    pub certificates: Vec<CertGauge>,
    /// Loaded CRLs and the revocation policy (SPEC §10).
    pub revocation: Arc<revocation::RevocationSet>,
    /// The load balancer whose forwarded client certificates count (SPEC §12).
    pub ingress: Option<ingress::TrustedIngress>,
    /// Event and access log formats (`logging`).
    pub logging: crate::config::LoggingConf,
    /// Store certificates the YAML names by ID: removing one from the control plane needs
    /// a compile, which then reports the dangling reference.
    pub referenced: DigestSet<CertId>,
    /// Things an operator should know (expired certificates, ignored settings).
    pub warnings: Vec<String>,
    /// Counts for the reload log line (the YAML's side; see [`Snapshot::totals`]).
    pub stats: SnapshotStats,
}

/// Listener settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenSettings {
    /// TLS listener.
    pub https: Option<SocketAddr>,
    /// Plaintext listener.
    pub http: Option<SocketAddr>,
    /// Metrics listener.
    pub metrics: Option<SocketAddr>,
    /// Admin listener.
    pub admin: Option<SocketAddr>,
    /// Worker threads (0 = one per core).
    pub threads: usize,
    /// SIGTERM drain time.
    pub shutdown_grace_seconds: u64,
    /// `tls.groups` and `tls.ciphersuites`. Like the addresses, fixed when the listener is
    /// built.
    pub handshake: handshake::HandshakePrefs,
    /// Timeouts and head size per client connection; fixed when the listener is built.
    pub limits: ConnLimits,
}

/// Per-connection limits (`listen.*`), fixed when the listener starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnLimits {
    /// The whole request head must arrive within this (from accept, or from its first byte).
    pub header_timeout: Duration,
    /// Pingora's read and write timeouts while a request is in progress.
    pub body_timeout: Duration,
    /// An idle keep-alive connection (HTTP/1 and HTTP/2) is closed after this.
    pub keepalive_timeout: Duration,
    /// Largest request head (request line and headers), HTTP/1 and HTTP/2.
    pub max_header_bytes: usize,
}

impl Default for ConnLimits {
    fn default() -> ConnLimits {
        ConnLimits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            keepalive_timeout: Duration::from_secs(60),
            max_header_bytes: 64 * 1024,
        }
    }
}

/// One API, compiled.
pub struct Api {
    /// Position in [`Compiled::apis`].
    pub index: ApiIndex,
    /// The configured name (metrics label and log field).
    pub name: Arc<str>,
    /// The configured `listen_path`.
    pub listen_path: Box<str>,
    /// Remove `listen_path` before proxying.
    pub strip_listen_path: bool,
    /// Who may call.
    pub auth: ApiAuth,
    /// Where requests go.
    pub upstream: ApiUpstream,
    /// The certificate headers its upstream gets (`forward_client_cert`).
    pub forward: ingress::ForwardCert,
}

/// The downstream policy of one API.
pub struct ApiAuth {
    /// Credential type.
    pub kind: AuthType,
    /// Enforce the allow list.
    pub mutual_tls: bool,
    /// The API's own allow list (plus the gateway CAs).
    pub allow: ClientAllowList,
    /// Header carrying the token or JWT.
    pub token_header: HeaderName,
    /// JWT verification, for `kind == Jwt`.
    pub jwt: Option<JwtVerifier>,
    /// OCSP for the leaf: `auth.revocation.ocsp`, else `security.revocation.ocsp`.
    pub ocsp: crate::config::OcspMode,
}

/// A certificate's expiry, for `certgate_certificate_not_after_timestamp_seconds`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct CertGauge {
    /// Certificate ID.
    pub id: CertId,
    /// Subject (or key description).
    pub subject: String,
    /// `client_allow`, `upstream_client`, `server`, `pin` or `ca`.
    pub role: &'static str,
    /// Expiry, seconds since the epoch.
    pub not_after: i64,
}

/// Sizes of a snapshot, for logs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SnapshotStats {
    /// APIs.
    pub apis: usize,
    /// Token records.
    pub tokens: usize,
    /// Certificates in the store directory.
    pub store_certificates: usize,
    /// Allow-list entries over all APIs and the gateway list.
    pub allow_entries: usize,
}

// === impl Snapshot ===

impl Snapshot {
    /// Sizes of both parts, for logs.
    pub fn totals(&self) -> SnapshotStats {
        let (s, c) = (self.compiled.stats, self.control.stats());
        SnapshotStats {
            apis: s.apis,
            tokens: s.tokens + c.tokens,
            store_certificates: s.store_certificates,
            allow_entries: s.allow_entries + c.allow_entries,
        }
    }
}

impl Deref for Snapshot {
    type Target = Compiled;

    fn deref(&self) -> &Compiled {
        &self.compiled
    }
}

// === impl Compiled ===

impl Compiled {
    /// API names → indexes, for resolving control-plane entries.
    pub fn api_names(&self) -> ApiNames<'_> {
        self.apis.iter().map(|a| (&*a.name, a.index)).collect()
    }

    /// The API at `index`.
    pub fn api(&self, index: ApiIndex) -> &Api {
        &self.apis[index as usize]
    }

    /// Looks an API up by name.
    pub fn api_by_name(&self, name: &str) -> Option<&Api> {
        self.apis.iter().find(|a| &*a.name == name)
    }
}
