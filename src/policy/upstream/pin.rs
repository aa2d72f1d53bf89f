//! Public-key pinning (SPEC §4), at request time: an upstream passes when the SPKI of a
//! certificate in its *verified* chain (only its leaf, when verification is skipped) is in
//! the domain's [`PinSet`] (compiled in [`crate::snapshot`]).

use smallvec::SmallVec;

use crate::snapshot::PinSet;

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

/// Passes when any certificate that counts is pinned (checked on new and reused upstream
/// connections, before any request byte is sent).
pub fn check(pins: &PinSet, chain: &UpstreamChain) -> Result<(), PinMismatch> {
    if chain.spki.iter().any(|s| pins.spki.binary_search(s).is_ok()) {
        Ok(())
    } else {
        Err(PinMismatch)
    }
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
        assert!(check(&set, &chain(&[[9; 32], [1; 32]])).is_ok());
        assert!(check(&set, &chain(&[[2; 32]])).is_ok());
        assert_eq!(check(&set, &chain(&[[9; 32]])), Err(PinMismatch));
        assert_eq!(check(&set, &chain(&[])), Err(PinMismatch));
        assert_eq!(PinSet::new(vec![[1; 32], [2; 32]]).fingerprint, set.fingerprint);
    }
}
