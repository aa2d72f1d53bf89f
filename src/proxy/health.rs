//! Runtime state of upstream targets, kept out of the immutable snapshot: which targets are
//! being skipped after failed connects, and each API's round-robin cursor. Keyed by what a
//! target *is* (API name and URL, hashed at compile time into [`Target::key`] and
//! [`ApiUpstream::key`]), so the state survives every publish that keeps the target, and
//! entries of targets a publish dropped are pruned the first time a request sees it.

use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};

use dashmap::DashMap;

use crate::certs::DigestHasher;
use crate::snapshot::upstream::{ApiUpstream, Target};
use crate::snapshot::Snapshot;

type Map<V> = DashMap<u64, V, std::hash::BuildHasherDefault<DigestHasher>>;

/// Target health and round-robin cursors, shared by every request.
#[derive(Default)]
pub struct Health {
    /// Target key → until when (ms since the epoch) it is skipped.
    down_until_ms: Map<AtomicI64>,
    /// API key → round-robin cursor.
    cursors: Map<AtomicUsize>,
    /// The snapshot generation the maps were last pruned for.
    pruned_for: AtomicU64,
}

// === impl Health ===

impl Health {
    /// Whether `target` is being skipped at `now_ms`.
    pub fn is_down(&self, target: &Target, now_ms: i64) -> bool {
        self.down_until_ms
            .get(&target.key)
            .is_some_and(|d| d.load(Ordering::Relaxed) > now_ms)
    }

    /// Skips `target` until `until_ms`.
    pub fn mark_down(&self, target: &Target, until_ms: i64) {
        self.down_until_ms
            .entry(target.key)
            .or_default()
            .store(until_ms, Ordering::Relaxed);
    }

    /// The index of the target for the next request: round robin over the targets that
    /// are not being skipped (all of them, when every one is).
    pub fn next_target(&self, up: &ApiUpstream, now_ms: i64) -> usize {
        let n = up.targets.len();
        if n == 1 {
            return 0;
        }
        let start = self.cursors.entry(up.key).or_default().fetch_add(1, Ordering::Relaxed);
        (0..n)
            .map(|i| (start + i) % n)
            .find(|&i| !self.is_down(&up.targets[i], now_ms))
            .unwrap_or(start % n)
    }

    /// Forgets targets and APIs that `snap` no longer has, once per newer generation (a
    /// request still on an older snapshot never prunes).
    pub fn prune(&self, snap: &Snapshot) {
        if self.pruned_for.fetch_max(snap.generation, Ordering::Relaxed) >= snap.generation {
            return;
        }
        let targets: std::collections::HashSet<u64> = snap
            .apis
            .iter()
            .flat_map(|a| a.upstream.targets.iter().map(|t| t.key))
            .collect();
        let apis: std::collections::HashSet<u64> = snap.apis.iter().map(|a| a.upstream.key).collect();
        self.down_until_ms.retain(|k, _| targets.contains(k));
        self.cursors.retain(|k, _| apis.contains(k));
    }
}
