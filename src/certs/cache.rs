//! Parsed PEM files kept between loads: a reload re-parses only files that changed. A file
//! counts as unchanged only if its device, inode, size, modification time and change time
//! (ctime) are: `cp -p` and `rsync -t` can keep the modification time of a replaced file,
//! but not its ctime, which no tool can set. Used only by the loader, never on the request
//! path.

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
    stamp: Stamp,
    cert: Arc<LoadedCert>,
}

/// What identifies one version of a file.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    modified: Option<SystemTime>,
    ctime: (i64, i64),
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
        use std::os::unix::fs::MetadataExt;
        let stamp = Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            modified: meta.modified().ok(),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        };
        if let Some(e) = self.files.lock().get(path.as_os_str()) {
            if e.stamp == stamp && stamp.modified.is_some() {
                return Ok(e.cert.clone());
            }
        }
        let cert = Arc::new(read_pem_file(path)?);
        self.files.lock().insert(
            path.as_os_str().to_owned(),
            Entry {
                stamp,
                cert: cert.clone(),
            },
        );
        Ok(cert)
    }

    /// Forgets files not in `keep` (called after a load with every path it read).
    pub fn retain(&self, keep: &HashSet<OsString>) {
        self.files.lock().retain(|p, _| keep.contains(p));
    }

    /// Forgets files that are not PEM files `set` read.
    pub fn retain_read(&self, set: &super::FileSet) {
        let keep: HashSet<OsString> = set.pem_paths().map(|p| p.as_os_str().to_owned()).collect();
        self.retain(&keep);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::Spec;

    /// Issue 11: a same-size file replaced with its modification time kept (`cp -p`) is
    /// read again.
    #[test]
    fn a_replacement_keeping_size_and_mtime_is_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.pem");
        // ECDSA signatures vary in length: issue until the two PEMs are the same size.
        let a = Spec::client("aaaa").issue(None);
        let pa = a.cert_pem();
        let b = (0..100)
            .map(|_| Spec::client("bbbb").issue(None))
            .find(|b| b.cert_pem().len() == pa.len())
            .expect("a same-size certificate");
        let pb = b.cert_pem();
        std::fs::write(&path, &pa).unwrap();
        let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
        let cache = PemCache::default();
        assert_eq!(cache.read(&path).unwrap().id, a.id());
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&path, &pb).unwrap();
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), mtime);
        assert_eq!(
            cache.read(&path).unwrap().id,
            b.id(),
            "the new certificate, not the cached one"
        );
    }
}
