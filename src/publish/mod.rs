//! The one writer of the snapshot store, and SIGHUP ([`Reloader`]). Both inputs of a snapshot go through here: the YAML
//! (at start and on SIGHUP) and the control plane's overlay (on every admin change). Each
//! publish compiles the latest good YAML with the latest overlay and swaps the result in.
//! The lock below is held by writers only; the request path never touches it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use log::{error, info, warn};

mod sighup;

use parking_lot::Mutex;
pub use sighup::Reloader;

use crate::certs::{FileSet, Files, PemCache};
use crate::config::{self, ConfigErrors, LoadedConfig};
use crate::metrics::Metrics;
use crate::snapshot::{compile_from, Overlay, Snapshot, SnapshotStore};

/// Builds and publishes snapshots.
pub struct Publisher {
    config_path: PathBuf,
    store: Arc<SnapshotStore>,
    metrics: Arc<Metrics>,
    cache: PemCache,
    state: Mutex<State>,
}

struct State {
    config: Arc<LoadedConfig>,
    /// Every file the last good YAML load read, as it read them: control-plane changes
    /// recompile against these, never against the disk.
    files: Arc<FileSet>,
    overlay: Arc<Overlay>,
}

/// What one YAML reload did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// The new generation is live.
    Applied(u64),
    /// The old snapshot stays; the errors were logged.
    Rejected(usize),
}

// === impl Publisher ===

impl Publisher {
    /// Compiles the loaded YAML with `overlay` and publishes it as generation 1; later
    /// reloads reread the same file.
    pub fn start(config: LoadedConfig, overlay: Overlay, metrics: Arc<Metrics>) -> Result<Publisher, ConfigErrors> {
        let cache = PemCache::default();
        let path = config.file.clone();
        let config = Arc::new(config);
        let (snap, files) = compile_disk(&config, 1, &cache, &overlay);
        let snap = snap?;
        log_warnings(&snap);
        metrics.reload(true);
        metrics.set_certificates(&snap.certificates);
        info!(
            "event=config_loaded generation=1 apis={} tokens={} store_certificates={} allow_entries={}",
            snap.stats.apis, snap.stats.tokens, snap.stats.store_certificates, snap.stats.allow_entries
        );
        Ok(Publisher {
            config_path: path,
            store: Arc::new(SnapshotStore::new(snap)),
            metrics,
            cache,
            state: Mutex::new(State {
                config,
                files: Arc::new(files),
                overlay: Arc::new(overlay),
            }),
        })
    }

    /// The store the data plane reads.
    pub fn store(&self) -> &Arc<SnapshotStore> {
        &self.store
    }

    /// The gateway's metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The YAML currently in force.
    pub fn config(&self) -> Arc<LoadedConfig> {
        self.state.lock().config.clone()
    }

    /// SIGHUP: rereads the YAML and every file it names. A config that does not compile
    /// keeps the running snapshot.
    pub fn reload_config(&self) -> ReloadOutcome {
        let mut state = self.state.lock();
        let old = self.store.load_full();
        let generation = old.generation + 1;
        let started = Instant::now();
        let result = config::load(&self.config_path).and_then(|c| {
            let (snap, files) = compile_disk(&c, generation, &self.cache, &state.overlay);
            Ok((c, snap?, files))
        });
        match result {
            Ok((config, snap, files)) => {
                if snap.listen != old.listen {
                    warn!("event=reload_listen_changed message=\"listen.*, tls.groups and tls.ciphersuites change only on restart or graceful upgrade (SIGQUIT)\"");
                }
                log_reload(&snap, &old, started);
                state.config = Arc::new(config);
                state.files = Arc::new(files);
                self.publish(snap);
                self.metrics.reload(true);
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
                self.metrics.reload(false);
                ReloadOutcome::Rejected(errors.len())
            }
        }
    }

    /// A control-plane change: the running YAML with a new overlay, published at once.
    pub fn set_overlay(&self, overlay: Overlay) -> Result<u64, ConfigErrors> {
        let mut state = self.state.lock();
        let generation = self.store.load().generation + 1;
        let overlay = Arc::new(overlay);
        let compiled = compile_from(&state.config, generation, &Files::replay(&state.files), &overlay);
        // Keep the overlay either way: it is what the control plane holds, and the next
        // successful YAML reload applies it.
        state.overlay = overlay;
        match compiled {
            Ok(snap) => {
                info!(
                    "event=control_plane_applied generation={generation} tokens={} allow_entries={}",
                    snap.stats.tokens, snap.stats.allow_entries
                );
                self.publish(snap);
                Ok(generation)
            }
            Err(errors) => {
                for e in errors.iter() {
                    error!("event=control_plane_not_applied {e}");
                }
                Err(errors)
            }
        }
    }

    fn publish(&self, snap: Snapshot) {
        log_warnings(&snap);
        self.metrics.set_certificates(&snap.certificates);
        self.store.publish(snap);
    }
}

/// Compiles against the disk; the snapshot and what was read for it.
fn compile_disk(
    config: &LoadedConfig,
    generation: u64,
    cache: &PemCache,
    overlay: &Overlay,
) -> (Result<Snapshot, ConfigErrors>, FileSet) {
    let files = Files::disk(cache);
    let snap = compile_from(config, generation, &files, overlay);
    let read = files.into_recorded();
    if snap.is_ok() {
        cache.retain_read(&read);
    }
    (snap, read)
}

fn log_reload(snap: &Snapshot, old: &Snapshot, started: Instant) {
    let (s, o) = (snap.stats, old.stats);
    let delta = |a: usize, b: usize| a as i64 - b as i64;
    info!(
        "event=reload result=success generation={} took_ms={} apis={}({:+}) tokens={}({:+}) store_certificates={}({:+}) allow_entries={}({:+})",
        snap.generation,
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
}

/// Logs a snapshot's warnings.
pub fn log_warnings(snap: &Snapshot) {
    for w in &snap.warnings {
        warn!("event=config_warning generation={} message=\"{w}\"", snap.generation);
    }
}
