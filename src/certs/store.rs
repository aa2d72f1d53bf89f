//! The certificate store directory (SPEC §1): every `*.pem` / `*.crt` file under it.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use super::{CertError, CertErrorKind, CertId, Files, LoadedCert};

/// Certificates by ID, loaded from `certificate_store.dir` (and, later, the control plane).
#[derive(Default, Debug)]
pub struct CertStore {
    by_id: HashMap<CertId, Arc<LoadedCert>>,
}

// === impl CertStore ===

impl CertStore {
    /// Loads every `*.pem` and `*.crt` file under `dir` (recursively, in name order) through
    /// `files`. Returns the store, one error per file that could not be loaded, and every
    /// path read.
    pub fn load_dir(dir: &Path, files: &Files<'_>) -> (CertStore, Vec<CertError>, Vec<std::path::PathBuf>) {
        let mut store = CertStore::default();
        let mut errors = Vec::new();
        let paths = match files.list_store(dir) {
            Ok(p) => p,
            Err(e) => {
                errors.push(CertError {
                    source_name: dir.display().to_string(),
                    message: format!("cannot read directory: {e}"),
                    kind: CertErrorKind::Unreadable,
                });
                return (store, errors, Vec::new());
            }
        };
        // Parse on every core: a cold load of a large store is dominated by X.509 parsing.
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(8);
        let chunk = paths.len().div_ceil(threads).max(1);
        let results: Vec<Vec<Result<Arc<LoadedCert>, CertError>>> = std::thread::scope(|s| {
            let handles: Vec<_> = paths
                .chunks(chunk)
                .map(|part| (part, s.spawn(move || part.iter().map(|f| files.read_pem(f)).collect())))
                .collect();
            handles
                .into_iter()
                .map(|(part, h)| loader_results(part, h.join()))
                .collect()
        });
        for r in results.into_iter().flatten() {
            match r {
                Ok(cert) => store.insert(cert),
                Err(e) => errors.push(e),
            }
        }
        (store, errors, paths)
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

/// What one loader thread read; a loader that panicked must not make its files vanish
/// silently: each of them becomes an error naming it.
fn loader_results(
    part: &[std::path::PathBuf],
    joined: std::thread::Result<Vec<Result<Arc<LoadedCert>, CertError>>>,
) -> Vec<Result<Arc<LoadedCert>, CertError>> {
    joined.unwrap_or_else(|_| {
        part.iter()
            .map(|f| {
                Err(CertError {
                    source_name: f.display().to_string(),
                    message: "the loader failed while reading this file (a bug: please report it)".into(),
                    kind: CertErrorKind::Invalid,
                })
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 11: a panicking loader thread reports its files instead of dropping them.
    #[test]
    fn a_panicking_loader_names_its_files() {
        let part = vec![
            std::path::PathBuf::from("certs/a.pem"),
            std::path::PathBuf::from("certs/b.pem"),
        ];
        let joined = std::thread::spawn(|| -> Vec<Result<Arc<LoadedCert>, CertError>> { panic!("boom") }).join();
        let out = loader_results(&part, joined);
        let names: Vec<String> = out.into_iter().map(|r| r.unwrap_err().source_name).collect();
        assert_eq!(names, ["certs/a.pem", "certs/b.pem"]);
    }
}
