//! certgate: an mTLS edge gateway on Pingora.
//!
//! ```text
//!  YAML ──► config (raw, serde, source map) ──► snapshot::compile ──► Snapshot ──► SnapshotStore (ArcSwap)
//!                                                                                      │ load_full() per request
//!  TLS handshake ──► tls::DownstreamTls ──► PeerCert (leaf ID, chain verdict cache) ───┤
//!                                                                                      ▼
//!  proxy::Gateway (ProxyHttp phases, thin) ──► policy::downstream::authorize ──► Deny / pass
//!                                         └──► upstream peer (targets, TLS)   ──► metrics, logs
//! ```
//!
//! Modules appear below in that order. A module either parses (config, certs, snapshot) or
//! decides (policy); the proxy wires them to Pingora.

#![forbid(unsafe_op_in_unsafe_fn)]

pub mod admin;
pub mod certs;
pub mod cli;
pub mod clock;
pub mod config;
pub mod demo;
pub mod echo;
pub mod fuzz_targets;
pub mod logging;
pub mod metrics;
pub mod pki;
pub mod policy;
pub mod proxy;
pub mod request;
pub mod rfc3339;
pub mod server;
pub mod snapshot;
pub mod tls;
