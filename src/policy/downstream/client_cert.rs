//! SPEC §3 step 2: the leaf against the allow list. Only the leaf is ever matched; a
//! certificate the client appends to its chain never matches by itself.

use super::super::peer::ChainVerdict;
use super::super::{Deny, PeerCert};
use crate::certs::{CertId, DigestSet};
use crate::snapshot::{CaSet, ClientAllowList};

/// How a leaf was allowed: what the revocation check then covers.
#[derive(Clone, Copy, Debug)]
pub enum Allowed<'a> {
    /// Listed by ID: the leaf alone.
    Listed,
    /// Through a chain to a member of this CA set: every certificate on that path.
    Chain(&'a CaSet),
}

/// Allowed when the leaf ID is listed (API or gateway list) and the leaf is valid now, or
/// when the chain the client sent verifies up to a listed CA and every certificate on that
/// path is valid now. A leaf key below 112-bit security is never allowed.
pub fn check<'a>(
    gateway: &DigestSet<CertId>,
    allow: &'a ClientAllowList,
    peer: Option<&PeerCert>,
    now: i64,
) -> Result<Allowed<'a>, Deny> {
    check_listed(|id| gateway.contains(id), allow, peer, now)
}

/// [`check`], with `also_listed` saying which leaves other lists allow (the gateway-wide
/// list, the control plane's grants).
pub fn check_listed<'a>(
    also_listed: impl Fn(&CertId) -> bool,
    allow: &'a ClientAllowList,
    peer: Option<&PeerCert>,
    now: i64,
) -> Result<Allowed<'a>, Deny> {
    let peer = peer.ok_or(Deny::ClientCertRequired)?;
    if !peer.strong_key {
        // Below 112-bit security a key is refused however it is listed.
        return Err(Deny::CertNotAllowed(peer.id));
    }
    if allow.leaves.contains(&peer.id) || also_listed(&peer.id) {
        return if peer.valid_at(now) {
            Ok(Allowed::Listed)
        } else {
            Err(Deny::CertExpired)
        };
    }
    let Some(cas) = allow.cas.as_deref() else {
        return Err(Deny::CertNotAllowed(peer.id));
    };
    match peer.chain_verdict(cas) {
        ChainVerdict::Verified { not_before, not_after } => {
            if !peer.valid_at(now) {
                Err(Deny::CertExpired)
            } else if now < not_before || now > not_after {
                Err(Deny::CertNotAllowed(peer.id))
            } else {
                Ok(Allowed::Chain(cas))
            }
        }
        ChainVerdict::Failed => Err(Deny::CertNotAllowed(peer.id)),
    }
}
