//! Upstream decisions at request time (SPEC §4): whether an upstream connection's chain
//! satisfies the domain's pin set ([`pin`]). Which certificate and pins a target gets is
//! decided at compile time ([`crate::snapshot::domain_map`]).

pub mod pin;

pub use pin::{PinMismatch, UpstreamChain};
