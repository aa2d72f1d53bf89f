//! The fleet (SPEC §9): Redis as the one source of truth for the control plane of many
//! gateways. So far: signed change notices. Planned (issue 13), the shared store: every change is one atomic script that
//! checks the revision the writer last saw, applies the records, bumps the revision,
//! appends the change to a replayable log and publishes a signed notice. A lost notice is
//! caught by comparing revisions; a trimmed log by a full reload.
//!
//! Keys, all under the hash tag `certgate:{<name>}:` (one Redis Cluster slot):
//! `records` (hash `kind/id` → JSON), `meta` (hash), `rev` (counter), `log` (stream, entry
//! ID `<rev>-0`, field `writes`), and the pub/sub channel `notices`.

mod notice;

pub use notice::{sign_notice, verify_notice};
mod log;
pub mod store;
