//! SPEC §10: a client certificate allowed by step 2 (or presented as the credential of
//! `type: certificate`) against the loaded CRLs. The verdict is computed once per
//! connection, path and CRL generation ([`PeerCert::revocation_verdict`]); per request only
//! its freshness is compared with the clock.
//!
//! OCSP is asked last, once everything else allows the request ([`ocsp_need`], then the
//! caller's fetch, then [`ocsp_verdict`]): a request that would be refused anyway never
//! makes certgate call out, and only leaves that passed the allow list can name the
//! responder it calls.

use std::sync::atomic::{AtomicU64, Ordering};

use super::super::peer::RevocationVerdict;
use super::super::{Deny, PeerCert};
use super::client_cert::Allowed;
use openssl::x509::X509;

use crate::certs::ocsp::OcspStatus;
use crate::config::{AuthType, OcspMode, StaleCrl};
use crate::snapshot::revocation::{CrlAnswer, RevocationSet};
use crate::snapshot::Api;

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
    /// OCSP answered good.
    pub ocsp_good: AtomicU64,
    /// OCSP answered revoked.
    pub ocsp_revoked: AtomicU64,
    /// OCSP answered unknown.
    pub ocsp_unknown: AtomicU64,
    /// No usable OCSP answer (no responder or issuer, down, slow, unverifiable).
    pub ocsp_error: AtomicU64,
}

/// The process-wide [`CheckCounts`].
pub static CHECKS: CheckCounts = CheckCounts {
    crl_good: AtomicU64::new(0),
    crl_revoked: AtomicU64::new(0),
    crl_unknown: AtomicU64::new(0),
    ocsp_good: AtomicU64::new(0),
    ocsp_revoked: AtomicU64::new(0),
    ocsp_unknown: AtomicU64::new(0),
    ocsp_error: AtomicU64::new(0),
};

impl CheckCounts {
    /// `(source, result, count)` for every counted outcome.
    pub fn read(&self) -> [(&'static str, &'static str, u64); 7] {
        let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
        [
            ("crl", "good", n(&self.crl_good)),
            ("crl", "revoked", n(&self.crl_revoked)),
            ("crl", "unknown", n(&self.crl_unknown)),
            ("ocsp", "good", n(&self.ocsp_good)),
            ("ocsp", "revoked", n(&self.ocsp_revoked)),
            ("ocsp", "unknown", n(&self.ocsp_unknown)),
            ("ocsp", "error", n(&self.ocsp_error)),
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

/// What an OCSP check of a request's leaf needs, when its API asks for one.
pub struct OcspNeed {
    /// `leaf` or `leaf_strict`.
    pub mode: OcspMode,
    /// The certificate that issued the leaf (`None`: certgate knows none, so no request can
    /// be built, which counts as an error).
    pub issuer: Option<X509>,
}

/// Whether the request (already allowed by everything else) needs an OCSP answer for its
/// leaf: its API's mode is not `off` and it decided a client certificate.
pub fn ocsp_need(set: &RevocationSet, api: &Api, peer: &PeerCert) -> Option<OcspNeed> {
    let decides_a_certificate = api.auth.mutual_tls || api.auth.kind == AuthType::Certificate;
    if api.auth.ocsp == OcspMode::Off || !decides_a_certificate {
        return None;
    }
    Some(OcspNeed {
        mode: api.auth.ocsp,
        issuer: peer.issuer(&set.issuers, api.auth.allow.cas.as_deref()),
    })
}

/// What an OCSP answer (or the lack of one, with why) means for the request: revoked is
/// refused; `unknown` and errors are refused under `leaf_strict` and let through under
/// `leaf` (soft-fail). Every outcome is counted.
pub fn ocsp_verdict(mode: OcspMode, answer: &Result<OcspStatus, String>) -> Result<(), Deny> {
    let strict = mode == OcspMode::LeafStrict;
    match answer {
        Ok(OcspStatus::Good) => {
            CHECKS.ocsp_good.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
        Ok(OcspStatus::Revoked) => {
            CHECKS.ocsp_revoked.fetch_add(1, Ordering::Relaxed);
            Err(Deny::CertRevoked)
        }
        Ok(OcspStatus::Unknown) => {
            CHECKS.ocsp_unknown.fetch_add(1, Ordering::Relaxed);
            if strict {
                Err(Deny::RevocationUnknown)
            } else {
                Ok(())
            }
        }
        Err(_) => {
            CHECKS.ocsp_error.fetch_add(1, Ordering::Relaxed);
            if strict {
                Err(Deny::RevocationUnknown)
            } else {
                Ok(())
            }
        }
    }
}
