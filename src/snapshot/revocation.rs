//! Loaded CRLs (SPEC §10), compiled: each verified against the CA that issued it and indexed
//! by that CA's subject, so the policy finds a certificate's CRL in one lookup. Deciding
//! with them is [`crate::policy::downstream::revocation`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use openssl::pkey::{PKey, Public};
use openssl::x509::{X509Crl, X509Ref, X509};
use smallvec::SmallVec;

use crate::certs::crl::{serial_key, ParsedCrl};
use crate::certs::CertId;
use crate::config::{OcspMode, StaleCrl};

/// One CRL whose signature verified with its issuer's key.
pub struct Crl {
    /// The issuing CA's certificate ID (the `issuer` label of the next-update gauge).
    pub issuer_id: CertId,
    /// The issuing CA's key: a certificate is covered by this CRL only when this key
    /// signed it.
    pub issuer_key: PKey<Public>,
    /// What was parsed (times, serials, issuer name).
    pub parsed: Arc<ParsedCrl>,
    /// The file it came from.
    pub source: String,
}

impl Crl {
    /// `parsed` (read from `source`), once the CA among `issuers` that signed it is found:
    /// same subject as the CRL's issuer, and its key verifies the CRL's signature.
    pub fn verified(parsed: Arc<ParsedCrl>, source: &str, issuers: &[(CertId, X509)]) -> Result<Crl, String> {
        let crl = X509Crl::from_der(&parsed.der).map_err(|e| format!("unreadable: {e}"))?;
        let mut named = 0;
        for (id, cert) in issuers {
            if cert.subject_name().to_der().ok().as_deref() != Some(&parsed.issuer_der[..]) {
                continue;
            }
            named += 1;
            let Ok(key) = cert.public_key() else { continue };
            if crl.verify(&key).unwrap_or(false) {
                return Ok(Crl {
                    issuer_id: *id,
                    issuer_key: key,
                    parsed,
                    source: source.to_string(),
                });
            }
        }
        Err(if named == 0 {
            "no CA certificate certgate knows has this issuer name; add the CA to certificate_store.dir or an allow list".into()
        } else {
            format!("the signature does not verify with the key of any of the {named} CA certificate(s) of that name")
        })
    }
}

impl std::fmt::Debug for Crl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Crl")
            .field("issuer_id", &self.issuer_id)
            .field("parsed", &self.parsed)
            .field("source", &self.source)
            .finish()
    }
}

/// What a CRL says of one certificate it covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrlAnswer {
    /// Listed: revoked.
    Revoked,
    /// Not listed; the CRL is current until `next_update` (`i64::MAX` when it has none).
    NotListed {
        /// The CRL's nextUpdate.
        next_update: i64,
    },
}

/// Every loaded CRL and the revocation policy.
#[derive(Debug, Default)]
pub struct RevocationSet {
    /// A hash of the loaded CRLs: equal sets have equal values across reloads, so a
    /// connection's cached verdict survives a reload that changed no CRL. 0 when none.
    pub generation: u64,
    /// `stale_crl`.
    pub stale: StaleCrl,
    /// The gateway-wide `ocsp` mode.
    pub ocsp: OcspMode,
    /// The CRLs, one per issuing CA, in issuer-ID order.
    pub crls: Vec<Arc<Crl>>,
    /// The CA certificates the load knew, which a CRL may be verified against: what
    /// `POST /crls` checks an upload with before it stores it.
    pub issuers: Arc<[(CertId, X509)]>,
    /// `ocsp_timeout_ms`: the longest a request waits for a responder.
    pub ocsp_timeout: Duration,
    /// `ocsp_cache_seconds`: the longest an OCSP answer is kept.
    pub ocsp_cache: Duration,
    by_issuer_name: HashMap<Vec<u8>, SmallVec<[Arc<Crl>; 1]>>,
}

// === impl RevocationSet ===

impl RevocationSet {
    /// Indexes `crls` (at most one per issuing CA; the caller keeps the newest).
    pub fn new(crls: Vec<Arc<Crl>>, stale: StaleCrl, ocsp: OcspMode) -> RevocationSet {
        let mut by_issuer_name: HashMap<Vec<u8>, SmallVec<[Arc<Crl>; 1]>> = HashMap::new();
        let mut digests: Vec<[u8; 32]> = Vec::with_capacity(crls.len());
        for c in &crls {
            by_issuer_name
                .entry(c.parsed.issuer_der.clone())
                .or_default()
                .push(c.clone());
            digests.push(crate::certs::sha256(&c.parsed.der));
        }
        digests.sort();
        let generation = if digests.is_empty() {
            0
        } else {
            let all = crate::certs::sha256(&digests.concat());
            u64::from_le_bytes(all[..8].try_into().expect("8 bytes")) | 1
        };
        RevocationSet {
            generation,
            stale,
            ocsp,
            crls,
            issuers: Arc::from([]),
            ocsp_timeout: Duration::from_millis(1500),
            ocsp_cache: Duration::from_secs(300),
            by_issuer_name,
        }
    }

    /// Whether any CRL is loaded.
    pub fn is_empty(&self) -> bool {
        self.crls.is_empty()
    }

    /// What the CRL of `cert`'s issuer says of it, when such a CRL is loaded: the CRL whose
    /// issuer name is `cert`'s issuer and whose key verifies `cert`'s signature.
    pub fn lookup(&self, cert: &X509Ref) -> Option<CrlAnswer> {
        let name = cert.issuer_name().to_der().ok()?;
        let candidates = self.by_issuer_name.get(&name)?;
        let crl = candidates
            .iter()
            .find(|c| cert.verify(&c.issuer_key).unwrap_or(false))?;
        let serial = cert.serial_number().to_bn().ok()?.to_vec();
        Some(if crl.parsed.serials.contains(&serial_key(&serial)) {
            CrlAnswer::Revoked
        } else {
            CrlAnswer::NotListed {
                next_update: crl.parsed.next_update.unwrap_or(i64::MAX),
            }
        })
    }
}
