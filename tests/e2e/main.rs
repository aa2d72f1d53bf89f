//! End-to-end tests: a real certgate process, real TLS on loopback, certificates generated
//! per run.
//!
//! - `downstream`: every row of SPEC §3 (routing, allow list, token, JWT, certificate auth,
//!   binding, error bodies, headers) as a named case;
//! - `attacks`: chain tricks, validity and EKU, intermediates, forged headers;
//! - `resumption`: a resumed TLS session gets the same decision as a full handshake.

#[path = "../support/mod.rs"]
mod support;

mod fixture;
mod listener;
mod operations;

mod attacks;
mod control_plane;
mod downstream;
mod resumption;
mod upstream;
