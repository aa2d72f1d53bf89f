//! Public-key pinning (SPEC §4): a pin set holds SPKI SHA-256 values; an upstream passes
//! when the SPKI of a certificate in its *verified* chain (only its leaf, when verification
//! is skipped) is in the set.

use sha2::{Digest, Sha256};
use smallvec::SmallVec;

/// Pinned SPKI SHA-256 values for one domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PinSet {
    /// The pins, sorted and deduplicated.
    pub spki: Vec<[u8; 32]>,
    /// A hash of the set, for connection-pool keys.
    pub fingerprint: u64,
}

/// SPKI SHA-256 of the certificates that count for pinning on one upstream connection,
/// recorded at handshake time.
#[derive(Clone, Debug, Default)]
pub struct UpstreamChain {
    /// Leaf first, then the rest of the verified chain.
    pub spki: SmallVec<[[u8; 32]; 4]>,
    /// The target is an IP address that the leaf does not name (checked when verifying).
    pub ip_mismatch: bool,
}

/// The upstream's chain has no pinned key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PinMismatch;

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

    /// Passes when any certificate that counts is pinned.
    pub fn check(&self, chain: &UpstreamChain) -> Result<(), PinMismatch> {
        if chain.spki.iter().any(|s| self.spki.binary_search(s).is_ok()) {
            Ok(())
        } else {
            Err(PinMismatch)
        }
    }
}

/// SHA-256 of a SubjectPublicKeyInfo DER.
pub fn spki_sha256(spki_der: &[u8]) -> [u8; 32] {
    Sha256::digest(spki_der).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_counted_certificate_may_match() {
        let set = PinSet::new(vec![[2; 32], [1; 32]]);
        let chain = |v: &[[u8; 32]]| UpstreamChain {
            spki: v.iter().copied().collect(),
            ip_mismatch: false,
        };
        assert!(set.check(&chain(&[[9; 32], [1; 32]])).is_ok());
        assert!(set.check(&chain(&[[2; 32]])).is_ok());
        assert_eq!(set.check(&chain(&[[9; 32]])), Err(PinMismatch));
        assert_eq!(set.check(&chain(&[])), Err(PinMismatch));
        assert_eq!(PinSet::new(vec![[1; 32], [2; 32]]).fingerprint, set.fingerprint);
    }
}
