//! Public-key pinning (SPEC §4), at request time: an upstream passes when the SPKI of a
//! certificate in its *verified* chain (only its leaf, when verification is skipped) is in
//! the domain's [`PinSet`] (compiled in [`crate::snapshot`]).

use std::net::IpAddr;

use smallvec::SmallVec;

use crate::snapshot::PinSet;

/// What one upstream connection's handshake showed, recorded once per connection (the
/// same for every target, so the recording hook is built once): the SPKI SHA-256 of the
/// certificates that count for pinning, and the IP addresses the leaf names.
#[derive(Clone, Debug, Default)]
pub struct UpstreamChain {
    /// Leaf first, then the rest of the verified chain.
    pub spki: SmallVec<[[u8; 32]; 4]>,
    /// The leaf's `iPAddress` subject alternative names.
    pub leaf_ips: SmallVec<[IpAddr; 2]>,
}

// === impl UpstreamChain ===

impl UpstreamChain {
    /// Whether the leaf names `ip` (an IP target is verified against these, not its SNI).
    pub fn names_ip(&self, ip: IpAddr) -> bool {
        self.leaf_ips.contains(&ip)
    }
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
            leaf_ips: SmallVec::new(),
        };
        assert!(check(&set, &chain(&[[9; 32], [1; 32]])).is_ok());
        assert!(check(&set, &chain(&[[2; 32]])).is_ok());
        assert_eq!(check(&set, &chain(&[[9; 32]])), Err(PinMismatch));
        assert_eq!(check(&set, &chain(&[])), Err(PinMismatch));
        assert_eq!(PinSet::new(vec![[1; 32], [2; 32]]).fingerprint, set.fingerprint);
    }
}
