//! Parsed PEM files kept between loads: a reload re-parses only files whose size or
//! modification time changed. Used only by the loader, never on the request path.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use parking_lot::Mutex;

use super::{read_pem_file, CertError, CertErrorKind, LoadedCert};

/// A cache of parsed PEM files by path.
#[derive(Default)]
pub struct PemCache {
    // Keyed by the path's bytes: hashing a `Path` walks its components, which shows in
    // profiles of a 100k-file store.
    files: Mutex<HashMap<OsString, Entry>>,
}

struct Entry {
    len: u64,
    modified: Option<SystemTime>,
    cert: Arc<LoadedCert>,
}

// === impl PemCache ===

impl PemCache {
    /// The parsed file, from the cache when its size and modification time are unchanged.
    pub fn read(&self, path: &Path) -> Result<Arc<LoadedCert>, CertError> {
        let meta = std::fs::metadata(path).map_err(|e| CertError {
            source_name: path.display().to_string(),
            message: format!("cannot read: {e}"),
            kind: CertErrorKind::Unreadable,
        })?;
        let (len, modified) = (meta.len(), meta.modified().ok());
        if let Some(e) = self.files.lock().get(path.as_os_str()) {
            if e.len == len && e.modified == modified && modified.is_some() {
                return Ok(e.cert.clone());
            }
        }
        let cert = Arc::new(read_pem_file(path)?);
        self.files.lock().insert(
            path.as_os_str().to_owned(),
            Entry {
                len,
                modified,
                cert: cert.clone(),
            },
        );
        Ok(cert)
    }

    /// Forgets files not in `keep` (called after a load with every path it read).
    pub fn retain(&self, keep: &HashSet<OsString>) {
        self.files.lock().retain(|p, _| keep.contains(p));
    }

    /// Number of cached files.
    pub fn len(&self) -> usize {
        self.files.lock().len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
