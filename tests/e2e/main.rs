//! End-to-end tests: a real certgate process, real TLS on loopback, certificates generated
//! per run.
//!
//! - `downstream`: every row of SPEC §3 (routing, allow list, token, JWT, certificate auth,
//!   binding, error bodies, headers) as a named case;
//! - `attacks`: chain tricks, validity and EKU, intermediates, forged headers;
//! - `adversarial`: (issue 11) request targets, hosts, headers, slow clients and upstream
//!   faults, against an upstream that normalises paths the way real frameworks do;
//! - `resumption`: a resumed TLS session gets the same decision as a full handshake.

#![allow(missing_docs)]

#[path = "../support/mod.rs"]
mod support;

mod fixture;
mod listener;
mod operations;

mod access_log;
mod adversarial;
mod attacks;
mod console;
mod console_browser;
mod control_plane;
mod downstream;
mod explain;
mod fleet;
mod fleet_store;
mod forwarded;
mod grpc;
mod h2_downstream;
mod h2_floods;
mod h2_upstream;
mod ocsp;
mod reload_watch;
mod resumption;
mod revocation;
mod upstream;
