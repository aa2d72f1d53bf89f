//! Downstream TLS: server certificates by SNI from the current snapshot, a client
//! certificate request that never decides anything by itself, and the connection's
//! [`PeerCert`] read once per connection.
//!
//! Session resumption is arranged so that a resumed connection gets exactly the decision a
//! full handshake would: a resumed session carries the leaf but not the intermediates the
//! client sent, so a session is only offered for resumption (a TLS 1.3 ticket) when the
//! client sent no intermediates. TLS 1.2 connections always do a full handshake.

mod accept;
mod ffi;

pub use accept::{tls_settings, DownstreamTls};
pub use ffi::{disable_tls12_tickets, sent_chain_len, suppress_tls13_tickets};

use crate::policy::PeerCert;
