//! Keeping the control plane's records in step with `certificate_store.dir`: a file that
//! appears is added, one that disappears is hidden (its record, name and organisations are
//! kept), and one that comes back reappears as it was.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use log::{info, warn};
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;

use super::records::{CertRecord, Source};
use super::state::{kind, public_pem, StoredCert};
use super::{ControlPlane, Write};
use crate::certs::CertStore;
use crate::clock::now_unix;

/// The background service that syncs the store directory every interval.
pub struct StoreSync {
    cp: Arc<ControlPlane>,
    interval: Duration,
}

// === impl StoreSync ===

impl StoreSync {
    /// Syncs `cp` every `interval`.
    pub fn new(cp: Arc<ControlPlane>, interval: Duration) -> StoreSync {
        StoreSync { cp, interval }
    }
}

#[async_trait]
impl BackgroundService for StoreSync {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(self.interval) => {
                    let cp = self.cp.clone();
                    let _ = tokio::task::spawn_blocking(move || cp.sync_store_dir()).await;
                }
                _ = shutdown.changed() => return,
            }
        }
    }
}

// === impl ControlPlane (sync) ===

impl ControlPlane {
    /// Compares the store directory with the records once; publishes when anything changed.
    pub fn sync_store_dir(&self) -> usize {
        let Some(dir) = &self.store_dir else { return 0 };
        let (store, errors, _) = CertStore::load_dir(dir, &crate::certs::Files::disk(&self.pem_cache));
        for e in &errors {
            warn!("event=store_sync_skipped {e}");
        }
        if !errors.is_empty() && store.is_empty() {
            return 0; // an unreadable directory is not "every file disappeared"
        }
        let on_disk: BTreeMap<String, Arc<crate::certs::LoadedCert>> =
            store.iter().map(|c| (c.id.to_hex(), c.clone())).collect();
        let result = self.change(|s| {
            let mut writes = Vec::new();
            let (mut added, mut hidden, mut back) = (0, 0, 0);
            for (id, loaded) in &on_disk {
                match s.certificates.get_mut(id) {
                    None => {
                        let path = Some(loaded.source.display().to_string());
                        let record = match s.dormant.remove(id) {
                            // A record from before records kept their PEM: its file is back.
                            Some(mut r) => {
                                back += 1;
                                r.deleted = false;
                                r.path = path;
                                r.pem = public_pem(loaded);
                                r
                            }
                            None => {
                                added += 1;
                                CertRecord {
                                    id: id.clone(),
                                    name: loaded
                                        .source
                                        .file_stem()
                                        .map(|n| n.to_string_lossy().into_owned())
                                        .unwrap_or_else(|| id.clone()),
                                    pem: public_pem(loaded),
                                    key_sealed: None,
                                    source: Source::Dir,
                                    path,
                                    deleted: false,
                                    organisations: Vec::new(),
                                    created_at: now_unix(),
                                }
                            }
                        };
                        writes.push(put_record(&record));
                        s.certificates.insert(
                            id.clone(),
                            StoredCert {
                                record,
                                loaded: loaded.clone(),
                            },
                        );
                    }
                    Some(c) if c.record.source == Source::Dir => {
                        let path = Some(loaded.source.display().to_string());
                        // The file is what the record describes now (its key included).
                        c.loaded = loaded.clone();
                        if c.record.deleted || c.record.path != path || c.record.pem.is_empty() {
                            back += c.record.deleted as usize;
                            c.record.deleted = false;
                            c.record.path = path;
                            c.record.pem = public_pem(loaded);
                            writes.push(put_record(&c.record));
                        }
                    }
                    Some(_) => {} // uploaded through the API first; the API record stays
                }
            }
            for c in s.certificates.values_mut() {
                if c.record.source == Source::Dir && !c.record.deleted && !on_disk.contains_key(&c.record.id) {
                    c.record.deleted = true;
                    writes.push(put_record(&c.record));
                    hidden += 1;
                }
            }
            if !writes.is_empty() {
                info!("event=store_sync added={added} hidden={hidden} returned={back}");
            }
            Ok((writes.len(), writes))
        });
        result.unwrap_or_else(|e| {
            warn!("event=store_sync_failed error=\"{}\"", e.message);
            0
        })
    }
}

fn put_record(r: &CertRecord) -> Write {
    Write::Put {
        kind: kind::CERTIFICATE,
        id: r.id.clone(),
        body: serde_json::to_vec(r).unwrap_or_default(),
    }
}
