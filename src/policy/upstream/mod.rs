//! Upstream decisions (SPEC §4): which entry of a domain map applies to a target
//! ([`domain_map`]) and whether an upstream's chain satisfies a pin set ([`pin`]).

pub mod domain_map;
pub mod pin;

pub use domain_map::{select, DomainMap};
pub use pin::{PinSet, UpstreamChain};
