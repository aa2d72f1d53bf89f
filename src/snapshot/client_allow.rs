//! Downstream allow lists (SPEC §3 step 2), compiled: leaf IDs in a set, CA entries in a
//! verification store. Deciding against them is [`crate::policy::downstream::client_cert`].

use std::sync::Arc;

use openssl::x509::store::{X509Store, X509StoreBuilder};
use openssl::x509::verify::{X509VerifyFlags, X509VerifyParam};
use openssl::x509::{X509PurposeId, X509};
use sha2::{Digest, Sha256};

use crate::certs::{CertId, DigestSet};

/// The allow list of one API (the gateway-wide list is kept separately in the snapshot).
#[derive(Debug, Default)]
pub struct ClientAllowList {
    /// Leaf IDs that may call.
    pub leaves: DigestSet<CertId>,
    /// CA entries (the API's and the gateway's): a chain that verifies up to one of them may call.
    pub cas: Option<Arc<CaSet>>,
}

/// OpenSSL authentication security level for client chains verified against a CA set
/// (level 2 = 112-bit security).
pub const MIN_SECURITY_LEVEL: i32 = 2;

/// A set of allow-listed CA certificates, ready for chain verification.
pub struct CaSet {
    /// A hash of the member IDs; equal sets have equal fingerprints, across reloads too, so a
    /// connection's cached verdict stays valid while its CA set is unchanged.
    pub fingerprint: u64,
    /// Member IDs, sorted.
    pub ids: Vec<CertId>,
    /// Trust store: the members as anchors (partial chains allowed, so an allow-listed
    /// intermediate is enough), purpose `sslclient` (clientAuth EKU when present). Validity is
    /// checked per request against the cached chain window, not here.
    pub store: X509Store,
}

// === impl CaSet ===

impl CaSet {
    /// Builds a set from CA certificates (duplicates are dropped).
    pub fn new(mut certs: Vec<(CertId, X509)>) -> Result<CaSet, openssl::error::ErrorStack> {
        certs.sort_by_key(|c| c.0);
        certs.dedup_by(|a, b| a.0 == b.0);
        let mut hasher = Sha256::new();
        for (id, _) in &certs {
            hasher.update(id.0);
        }
        let digest = hasher.finalize();
        let mut fp = [0u8; 8];
        fp.copy_from_slice(&digest[..8]);
        let mut builder = X509StoreBuilder::new()?;
        builder.set_flags(X509VerifyFlags::PARTIAL_CHAIN | X509VerifyFlags::NO_CHECK_TIME)?;
        builder.set_purpose(X509PurposeId::SSL_CLIENT)?;
        // At least 112 bits of security for every key and signature on the path: no RSA or
        // DSA below 2048 bits, no curve below P-224, no SHA-1 signatures.
        let mut param = X509VerifyParam::new()?;
        param.set_auth_level(MIN_SECURITY_LEVEL);
        builder.set_param(&param)?;
        let mut ids = Vec::with_capacity(certs.len());
        for (id, cert) in certs {
            builder.add_cert(cert)?;
            ids.push(id);
        }
        Ok(CaSet {
            fingerprint: u64::from_le_bytes(fp),
            ids,
            store: builder.build(),
        })
    }
}

impl std::fmt::Debug for CaSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaSet")
            .field("fingerprint", &self.fingerprint)
            .field("ids", &self.ids)
            .finish()
    }
}
