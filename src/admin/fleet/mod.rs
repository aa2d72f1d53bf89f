//! The fleet (SPEC §9): Redis as the one source of truth for the control plane of many
//! gateways: every change is one atomic script ([`store`]) that
//! checks the revision the writer last saw, applies the records, bumps the revision,
//! appends the change to a replayable log and publishes a signed notice. A lost notice is
//! caught by comparing revisions; a trimmed log by a full reload.
//!
//! Keys, all under the hash tag `certgate:{<name>}:` (one Redis Cluster slot):
//! `records` (hash `kind/id` → JSON), `meta` (hash), `rev` (counter), `log` (stream, entry
//! ID `<rev>-0`, field `writes`), and the pub/sub channel `notices`.

mod follow;
mod log;
mod member;
mod notice;
mod seed;
pub mod store;

pub use follow::{follow, local_position, SyncError, POLL};
pub use member::Member;
pub use notice::{sign_notice, verify_notice};
pub use seed::{seed, Seeded};
