//! SIGHUP reloads: load, compile and validate off the request path, then one atomic swap.
//! A failed reload keeps the old snapshot. Signals that arrive during a reload are coalesced
//! into one more reload, never lost.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use log::{error, info, warn};
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;

use super::log_warnings;
use crate::certs::PemCache;
use crate::metrics::Metrics;
use crate::snapshot::SnapshotStore;

/// The background service that waits for SIGHUP.
pub struct Reloader {
    config: PathBuf,
    store: Arc<SnapshotStore>,
    metrics: Arc<Metrics>,
    hup: Arc<AtomicBool>,
    cache: Arc<PemCache>,
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
    /// A reloader of `config` into `store`; `hup` is set by the SIGHUP handler.
    pub fn new(
        config: PathBuf,
        store: Arc<SnapshotStore>,
        metrics: Arc<Metrics>,
        hup: Arc<AtomicBool>,
        cache: Arc<PemCache>,
    ) -> Reloader {
        Reloader {
            config,
            store,
            metrics,
            hup,
            cache,
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
            // A SIGHUP that arrived before this service started, or during a reload, is
            // recorded in the flag: one more reload covers them all.
            if self.hup.swap(false, Ordering::SeqCst) {
                let (config, store, metrics, cache) = (
                    self.config.clone(),
                    self.store.clone(),
                    self.metrics.clone(),
                    self.cache.clone(),
                );
                let _ = tokio::task::spawn_blocking(move || reload_once(&config, &store, &metrics, &cache)).await;
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
pub fn reload_once(config: &Path, store: &SnapshotStore, metrics: &Metrics, cache: &PemCache) -> ReloadOutcome {
    let old = store.load_full();
    let generation = old.generation + 1;
    let started = Instant::now();
    match super::load_snapshot(config, generation, cache) {
        Ok(snap) => {
            log_warnings(&snap);
            if snap.listen != old.listen {
                warn!("event=reload_listen_changed message=\"listen settings change only on restart or graceful upgrade (SIGQUIT)\"");
            }
            let (s, o) = (snap.stats, old.stats);
            let delta = |a: usize, b: usize| a as i64 - b as i64;
            info!(
                "event=reload result=success generation={generation} took_ms={} apis={}({:+}) tokens={}({:+}) store_certificates={}({:+}) allow_entries={}({:+})",
                started.elapsed().as_millis(),
                s.apis,
                delta(s.apis, o.apis),
                s.tokens,
                delta(s.tokens, o.tokens),
                s.store_certificates,
                delta(s.store_certificates, o.store_certificates),
                s.allow_entries,
                delta(s.allow_entries, o.allow_entries),
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
