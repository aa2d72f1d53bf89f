//! The certificate store directory (SPEC §1): every `*.pem` / `*.crt` file under it.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use super::{CertError, CertErrorKind, CertId, LoadedCert, PemCache};

/// Certificates by ID, loaded from `certificate_store.dir` (and, later, the control plane).
#[derive(Default, Debug)]
pub struct CertStore {
    by_id: HashMap<CertId, Arc<LoadedCert>>,
}

// === impl CertStore ===

impl CertStore {
    /// Loads every `*.pem` and `*.crt` file under `dir` (recursively, in name order),
    /// reusing what `cache` already parsed. Returns the store, one error per file that could
    /// not be loaded, and every path read.
    pub fn load_dir(dir: &Path, cache: &PemCache) -> (CertStore, Vec<CertError>, Vec<std::path::PathBuf>) {
        let mut store = CertStore::default();
        let mut errors = Vec::new();
        let mut files = Vec::new();
        if let Err(e) = collect_files(dir, &mut files) {
            errors.push(CertError {
                source_name: dir.display().to_string(),
                message: format!("cannot read directory: {e}"),
                kind: CertErrorKind::Unreadable,
            });
            return (store, errors, files);
        }
        files.sort_by(|a, b| a.as_os_str().cmp(b.as_os_str()));
        // Parse on every core: a cold load of a large store is dominated by X.509 parsing.
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(8);
        let chunk = files.len().div_ceil(threads).max(1);
        let results: Vec<Vec<Result<Arc<LoadedCert>, CertError>>> = std::thread::scope(|s| {
            let handles: Vec<_> = files
                .chunks(chunk)
                .map(|part| s.spawn(move || part.iter().map(|f| cache.read(f)).collect()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or_default()).collect()
        });
        for r in results.into_iter().flatten() {
            match r {
                Ok(cert) => store.insert(cert),
                Err(e) => errors.push(e),
            }
        }
        (store, errors, files)
    }

    /// Adds a certificate; a second copy of the same ID keeps the one that has a key.
    pub fn insert(&mut self, cert: Arc<LoadedCert>) {
        match self.by_id.get(&cert.id) {
            Some(existing) if existing.key.is_some() || cert.key.is_none() => {}
            _ => {
                self.by_id.insert(cert.id, cert);
            }
        }
    }

    /// The certificate with this ID.
    pub fn get(&self, id: &CertId) -> Option<&Arc<LoadedCert>> {
        self.by_id.get(id)
    }

    /// Number of certificates.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Every certificate, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<LoadedCert>> {
        self.by_id.values()
    }
}

fn collect_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let ty = entry.file_type()?;
        if ty.is_dir() {
            collect_files(&path, out)?;
        } else if matches!(path.extension().and_then(|e| e.to_str()), Some("pem" | "crt")) {
            out.push(path);
        }
    }
    Ok(())
}
