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
use super::state::{kind, public_pem, ControlState, StoredCert};
use super::{ControlPlane, Write};
use crate::certs::{CertStore, LoadedCert};
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
        let on_disk: BTreeMap<String, Arc<LoadedCert>> = store.iter().map(|c| (c.id.to_hex(), c.clone())).collect();
        let Some(m) = &self.fleet else {
            let result = self.change(|s| Ok(reconcile(s, &on_disk, Mode::SingleNode)));
            return result.unwrap_or_else(|e| {
                warn!("event=store_sync_failed error=\"{}\"", e.message);
                0
            });
        };
        if m.writable() {
            if let Ok(n) = self.change(|s| Ok(reconcile(s, &on_disk, Mode::Member { share_new: true }))) {
                return n;
            }
        }
        // Redis is away: this instance's view still follows its directory; certificates new
        // to the fleet are shared by the first sync after it is back.
        let mut n = 0;
        self.change_local(|s| n = reconcile(s, &on_disk, Mode::Member { share_new: false }).0);
        n
    }
}

/// Who sees a store-directory record's visibility.
#[derive(Clone, Copy)]
enum Mode {
    /// One instance: visibility is part of the stored record.
    SingleNode,
    /// A fleet member: the record (name, organisations, PEM) is shared, but whether it is
    /// visible is this instance's alone, because each member has its own directory. So
    /// members with different directories never undo each other's view (no flapping).
    /// `share_new`: certificates the fleet has no record of are committed.
    Member { share_new: bool },
}

/// Brings `s` in line with the files in the directory; the count of changes and the writes
/// to share.
fn reconcile(s: &mut ControlState, on_disk: &BTreeMap<String, Arc<LoadedCert>>, mode: Mode) -> (usize, Vec<Write>) {
    let (shared_visibility, share_new) = match mode {
        Mode::SingleNode => (true, true),
        Mode::Member { share_new } => (false, share_new),
    };
    let mut writes = Vec::new();
    let (mut added, mut hidden, mut back) = (0, 0, 0);
    for (id, loaded) in on_disk {
        let path = Some(loaded.source.display().to_string());
        match s.certificates.get_mut(id) {
            None if share_new => {
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
            None => {} // shared once Redis is back
            Some(c) if c.record.source == Source::Dir => {
                // The file is what the record describes now (its key included).
                c.loaded = loaded.clone();
                let fix_pem = c.record.pem.is_empty() && share_new;
                if c.record.deleted || c.record.path != path || fix_pem {
                    back += c.record.deleted as usize;
                    c.record.deleted = false;
                    c.record.path = path;
                    c.record.pem = public_pem(loaded);
                    if shared_visibility || fix_pem {
                        writes.push(put_record(&c.record));
                    }
                }
            }
            Some(_) => {} // uploaded through the API first; the API record stays
        }
    }
    let gone: Vec<String> = s
        .certificates
        .values()
        .filter(|c| c.record.source == Source::Dir && !c.record.deleted && !on_disk.contains_key(&c.record.id))
        .map(|c| c.record.id.clone())
        .collect();
    for id in &gone {
        let Some(c) = s.certificates.get_mut(id) else { continue };
        c.record.deleted = true;
        if shared_visibility {
            writes.push(put_record(&c.record));
        }
        hidden += 1;
    }
    let changed = added + hidden + back;
    if changed > 0 {
        info!("event=store_sync added={added} hidden={hidden} returned={back}");
    }
    (changed.max(writes.len()), writes)
}

fn put_record(r: &CertRecord) -> Write {
    Write::Put {
        kind: kind::CERTIFICATE,
        id: r.id.clone(),
        body: serde_json::to_vec(r).unwrap_or_default(),
    }
}
