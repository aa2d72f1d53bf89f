//! SIGHUP reloads: load, compile and validate off the request path, then one atomic swap.
//! A failed reload keeps the old snapshot. Signals that arrive during a reload are coalesced
//! into one more reload, never lost.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use log::{error, info, warn};
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;

use super::log_warnings;
use crate::metrics::Metrics;
use crate::snapshot::SnapshotStore;

/// The background service that waits for SIGHUP.
pub struct Reloader {
    config: PathBuf,
    store: Arc<SnapshotStore>,
    metrics: Arc<Metrics>,
    hup: Arc<AtomicBool>,
}

/// What one reload did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// The new generation is live.
    Applied(u64),
    /// The old snapshot stays; the errors were logged.
    Rejected(usize),
}

// === impl Reloader ===

impl Reloader {
    /// A reloader of `config` into `store`.
    pub fn new(config: PathBuf, store: Arc<SnapshotStore>, metrics: Arc<Metrics>, hup: Arc<AtomicBool>) -> Reloader {
        Reloader {
            config,
            store,
            metrics,
            hup,
        }
    }
}

#[async_trait]
impl BackgroundService for Reloader {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut hangup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                error!("event=reload_unavailable error={e}");
                return;
            }
        };
        loop {
            // A SIGHUP that arrived before this service started (or during a reload) is
            // recorded in the flag.
            if self.hup.swap(false, Ordering::SeqCst) {
                let (config, store, metrics) = (self.config.clone(), self.store.clone(), self.metrics.clone());
                let _ = tokio::task::spawn_blocking(move || reload_once(&config, &store, &metrics)).await;
                continue;
            }
            tokio::select! {
                _ = hangup.recv() => { self.hup.store(true, Ordering::SeqCst); }
                _ = shutdown.changed() => return,
            }
        }
    }
}

/// Reloads `config` into `store` once.
pub fn reload_once(config: &std::path::Path, store: &SnapshotStore, metrics: &Metrics) -> ReloadOutcome {
    let old = store.load_full();
    let generation = old.generation + 1;
    match super::load_snapshot(config, generation) {
        Ok(snap) => {
            log_warnings(&snap);
            if snap.listen != old.listen {
                warn!("event=reload_listen_changed message=\"listen settings change only on restart or graceful upgrade (SIGQUIT)\"");
            }
            let (s, o) = (snap.stats, old.stats);
            info!(
                "event=reload result=success generation={generation} apis={}({:+}) tokens={}({:+}) store_certificates={}({:+}) allow_entries={}({:+})",
                s.apis,
                s.apis as i64 - o.apis as i64,
                s.tokens,
                s.tokens as i64 - o.tokens as i64,
                s.store_certificates,
                s.store_certificates as i64 - o.store_certificates as i64,
                s.allow_entries,
                s.allow_entries as i64 - o.allow_entries as i64
            );
            metrics.set_certificates(&snap.certificates);
            store.publish(snap);
            metrics.reload(true);
            ReloadOutcome::Applied(generation)
        }
        Err(errors) => {
            for e in errors.iter() {
                error!("event=reload_error {e}");
            }
            error!(
                "event=reload result=failure generation={} errors={} message=\"keeping the running configuration\"",
                old.generation,
                errors.len()
            );
            metrics.reload(false);
            ReloadOutcome::Rejected(errors.len())
        }
    }
}
