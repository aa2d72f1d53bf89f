//! The one place the current snapshot lives.

use std::sync::Arc;

use arc_swap::ArcSwap;

use super::Snapshot;

/// Holds the current [`Snapshot`]. Readers take an `Arc` (lock-free); a reload builds a new
/// snapshot off the request path and publishes it with one atomic store.
pub struct SnapshotStore {
    current: ArcSwap<Snapshot>,
}

// === impl SnapshotStore ===

impl SnapshotStore {
    /// A store holding `first`.
    pub fn new(first: Snapshot) -> SnapshotStore {
        SnapshotStore {
            current: ArcSwap::from_pointee(first),
        }
    }

    /// The current snapshot, pinned for as long as the caller holds the `Arc`.
    pub fn load_full(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// A short-lived guard on the current snapshot; never hold it across `.await`.
    pub fn load(&self) -> arc_swap::Guard<Arc<Snapshot>> {
        self.current.load()
    }

    /// Publishes a new snapshot. Requests already holding the old one finish on it.
    pub fn publish(&self, next: Snapshot) {
        self.current.store(Arc::new(next));
    }
}
