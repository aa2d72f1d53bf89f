//! SIGHUP: one reload through the [`Publisher`]. Signals that arrive during a reload are
//! coalesced into one more reload, never lost.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use log::error;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;

use super::Publisher;

/// The background service that waits for SIGHUP.
pub struct Reloader {
    publisher: Arc<Publisher>,
    hup: Arc<AtomicBool>,
}

// === impl Reloader ===

impl Reloader {
    /// Reloads through `publisher`; `hup` is set by the SIGHUP handler installed at start.
    pub fn new(publisher: Arc<Publisher>, hup: Arc<AtomicBool>) -> Reloader {
        Reloader { publisher, hup }
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
                let publisher = self.publisher.clone();
                let _ = tokio::task::spawn_blocking(move || publisher.reload_config()).await;
                continue;
            }
            tokio::select! {
                _ = hangup.recv() => { self.hup.store(true, Ordering::SeqCst); }
                _ = shutdown.changed() => return,
            }
        }
    }
}
