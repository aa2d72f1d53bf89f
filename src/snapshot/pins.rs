//! Compiled pin sets (SPEC §4 `pinned_public_keys`): SPKI SHA-256 values per domain, with a
//! fingerprint for connection-pool keys. Checking a connection against one is
//! [`crate::policy::upstream::pin::check`].

use sha2::{Digest, Sha256};

/// Pinned SPKI SHA-256 values for one domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PinSet {
    /// The pins, sorted and deduplicated.
    pub spki: Vec<[u8; 32]>,
    /// A hash of the set, for connection-pool keys.
    pub fingerprint: u64,
}

// === impl PinSet ===

impl PinSet {
    /// A set from SPKI hashes.
    pub fn new(mut spki: Vec<[u8; 32]>) -> PinSet {
        spki.sort();
        spki.dedup();
        let mut h = Sha256::new();
        for p in &spki {
            h.update(p);
        }
        let d = h.finalize();
        let mut fp = [0u8; 8];
        fp.copy_from_slice(&d[..8]);
        PinSet {
            spki,
            fingerprint: u64::from_le_bytes(fp),
        }
    }
}
