//! SPEC §10: a client certificate allowed by step 2 (or presented as the credential of
//! `type: certificate`) against the loaded CRLs. The verdict is computed once per
//! connection, path and CRL generation ([`PeerCert::revocation_verdict`]); per request only
//! its freshness is compared with the clock.

use std::sync::atomic::{AtomicU64, Ordering};

use super::super::peer::RevocationVerdict;
use super::super::{Deny, PeerCert};
use super::client_cert::Allowed;
use crate::config::StaleCrl;
use crate::snapshot::revocation::{CrlAnswer, RevocationSet};

/// Revocation checks so far, process-wide (the policy holds no metrics handle; the
/// metrics module exports these as `certgate_revocation_checks_total`). A CRL check is
/// counted when a connection's verdict is computed (once per connection, path and CRL
/// generation); `unknown` per refused request.
pub struct CheckCounts {
    /// CRL consulted, nothing on the path listed.
    pub crl_good: AtomicU64,
    /// A certificate on the path listed.
    pub crl_revoked: AtomicU64,
    /// Refused because a CRL consulted was stale.
    pub crl_unknown: AtomicU64,
}

/// The process-wide [`CheckCounts`].
pub static CHECKS: CheckCounts = CheckCounts {
    crl_good: AtomicU64::new(0),
    crl_revoked: AtomicU64::new(0),
    crl_unknown: AtomicU64::new(0),
};

impl CheckCounts {
    /// `(source, result, count)` for every counted outcome.
    pub fn read(&self) -> [(&'static str, &'static str, u64); 3] {
        [
            ("crl", "good", self.crl_good.load(Ordering::Relaxed)),
            ("crl", "revoked", self.crl_revoked.load(Ordering::Relaxed)),
            ("crl", "unknown", self.crl_unknown.load(Ordering::Relaxed)),
        ]
    }
}

/// Refuses `peer` when a certificate on the path it was `allowed` by is revoked, or when a
/// CRL consulted is stale and `stale_crl` is `refuse`.
pub fn check(set: &RevocationSet, peer: &PeerCert, allowed: Allowed<'_>, now: i64) -> Result<(), Deny> {
    if set.is_empty() {
        return Ok(());
    }
    let path_key = match allowed {
        Allowed::Listed => 0,
        Allowed::Chain(cas) => cas.fingerprint,
    };
    match peer.revocation_verdict(path_key, set.generation, || verdict(set, peer, allowed)) {
        RevocationVerdict::Revoked => Err(Deny::CertRevoked),
        RevocationVerdict::NotRevoked { fresh_until } if now > fresh_until && set.stale == StaleCrl::Refuse => {
            CHECKS.crl_unknown.fetch_add(1, Ordering::Relaxed);
            Err(Deny::RevocationUnknown)
        }
        RevocationVerdict::NotRevoked { .. } => Ok(()),
    }
}

/// What the CRLs say of every certificate on the path.
fn verdict(set: &RevocationSet, peer: &PeerCert, allowed: Allowed<'_>) -> RevocationVerdict {
    let path = match allowed {
        Allowed::Listed => None,
        Allowed::Chain(cas) => peer.verified_path(cas),
    };
    let leaf = [peer.leaf().clone()];
    let certs = path.as_deref().unwrap_or(&leaf);
    let mut fresh_until = i64::MAX;
    for cert in certs {
        match set.lookup(cert) {
            Some(CrlAnswer::Revoked) => {
                CHECKS.crl_revoked.fetch_add(1, Ordering::Relaxed);
                return RevocationVerdict::Revoked;
            }
            Some(CrlAnswer::NotListed { next_update }) => fresh_until = fresh_until.min(next_update),
            None => {}
        }
    }
    if fresh_until != i64::MAX {
        CHECKS.crl_good.fetch_add(1, Ordering::Relaxed);
    }
    RevocationVerdict::NotRevoked { fresh_until }
}
