//! Downstream TLS: server certificates by SNI from the current snapshot, a client
//! certificate request that never decides anything by itself, and the connection's
//! [`PeerCert`] read once per connection.
//!
//! Session resumption is arranged so that a resumed connection gets exactly the decision a
//! full handshake would: the stored session is a copy of the handshake's own, carrying the
//! leaf and the intermediates the client sent, so a resumed connection verifies, checks
//! revocation and forwards the same chain. TLS 1.2 connections always do a full handshake.
//!
//! TLS 1.3 resumption is stateful: the ticket is only a key into an in-process session
//! cache, so resuming costs a lookup instead of decrypting and re-parsing a serialised
//! session (certificate included), and issuing a ticket costs no encryption.

mod accept;
mod ffi;
pub mod session_store;

pub use accept::{tls_settings, DownstreamTls};
pub use ffi::{dup_session, set_get_session_callback, set_session_timeout, tls12_sessions_not_resumable};

use crate::policy::PeerCert;
