//! certgate: an mTLS edge gateway on Pingora.
//!
//! ```text
//!  YAML ──► config (raw, serde, source map) ──► snapshot::compile ──► Snapshot ──► publish (ArcSwap store)
//!                                                                                      │ load_full() per request
//!  TLS handshake ──► tls::DownstreamTls ──► PeerCert (leaf ID, chain verdict cache) ───┤
//!                                                                                      ▼
//!  proxy::Gateway (ProxyHttp phases, thin) ──► request::canonicalize ──► policy::downstream ──► Deny / pass
//!                                         └──► upstream peer (targets, TLS)        ──► metrics, logs
//! ```
//!
//! Modules appear below in that order, and each uses only modules above it (the
//! `module_graph` spec test holds the code to it). A module either parses (certs, config,
//! request, snapshot) or decides (policy); tls and proxy wire them to Pingora; publish and
//! admin feed the snapshot store; server starts everything; the tools come last.

#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(rustdoc::broken_intra_doc_links)]

// Leaf utilities.
pub mod clock;
pub mod logging;
pub mod rfc3339;

// Parse: what arrives from files and from clients, into plain data.
pub mod certs;
pub mod config;
pub mod request;

// Compile: config into one immutable snapshot.
pub mod snapshot;

// Decide: pure functions over the snapshot and one request.
pub mod policy;

// Fetch: OCSP answers for client leaves (the only outbound I/O a decision waits on).
pub mod ocsp;

// Observe.
pub mod metrics;

// Wire to Pingora: TLS callbacks and the ProxyHttp phases.
pub mod proxy;
pub mod tls;

// Feed the snapshot store: SIGHUP reloads and every publish,
pub mod publish;
// and the control plane, which publishes through it.
pub mod admin;

// The process.
pub mod server;

// Tools: the throwaway PKI,
pub mod pki;
// the demo upstream (feature `demo`),
#[cfg(feature = "demo")]
pub mod echo;
// the demo, the CLI helpers and the fuzz entry points.
pub mod cli;
// `certgate explain`: one request through the data plane's own decision, step by step,
#[cfg(feature = "demo")]
pub mod demo;
pub mod explain;
pub mod fuzz_targets;
