//! Pure decisions. Functions here take the compiled snapshot (or a part of it) and a view of
//! the request, and return a permit or a [`Deny`]. They get no `Session`, do no I/O, touch no
//! metrics and write no logs: the proxy phases do that with what these return.

pub mod deny;
pub mod downstream;
pub mod peer;
pub mod upstream;

pub use deny::Deny;
pub use peer::{PeerCert, RevocationVerdict};
