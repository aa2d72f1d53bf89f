//! Every file a compile reads goes through one door, [`Files`], which records what it read
//! ([`FileSet`]). A SIGHUP compiles against the disk; a control-plane change recompiles the
//! same YAML against the [`FileSet`] of the last good load, so an edited PEM, key, CA bundle
//! or JWKS never goes live without a reload, and a broken edit cannot block admin changes.
//!
//! This module only reads; what the bytes mean is for the caller.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use super::{CertError, CertErrorKind, LoadedCert, PemCache};

/// What one compile read: file bytes, parsed PEM files and store-directory listings, with
/// the errors reading them gave.
#[derive(Clone, Default)]
pub struct FileSet {
    bytes: HashMap<PathBuf, Result<Arc<[u8]>, String>>,
    pems: HashMap<PathBuf, Result<Arc<LoadedCert>, CertError>>,
    dirs: HashMap<PathBuf, Result<Vec<PathBuf>, String>>,
    exists: HashMap<PathBuf, bool>,
}

enum Source<'a> {
    Disk(&'a PemCache),
    Replay(&'a FileSet),
}

/// The door every compile reads files through.
pub struct Files<'a> {
    source: Source<'a>,
    record: Mutex<FileSet>,
}

// === impl FileSet ===

impl FileSet {
    /// Every path read: files, PEM files, listed directories, existence checks.
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.bytes
            .keys()
            .chain(self.pems.keys())
            .chain(self.dirs.keys())
            .chain(self.exists.keys())
            .map(PathBuf::as_path)
    }

    /// Paths of the PEM files read (to trim a [`PemCache`] to them).
    pub fn pem_paths(&self) -> impl Iterator<Item = &Path> {
        self.pems.keys().map(PathBuf::as_path)
    }
}

// === impl Files ===

impl<'a> Files<'a> {
    /// Reads the disk now; PEM files come from `cache` when unchanged there.
    pub fn disk(cache: &'a PemCache) -> Files<'a> {
        Files {
            source: Source::Disk(cache),
            record: Mutex::default(),
        }
    }

    /// Reads only what `set` recorded; anything else is "not read at the last load".
    pub fn replay(set: &'a FileSet) -> Files<'a> {
        Files {
            source: Source::Replay(set),
            record: Mutex::default(),
        }
    }

    /// What was read through this door.
    pub fn into_recorded(self) -> FileSet {
        self.record.into_inner()
    }

    /// A file's bytes; the error is the I/O error's text.
    pub fn read(&self, path: &Path) -> Result<Arc<[u8]>, String> {
        let r = match &self.source {
            Source::Disk(_) => std::fs::read(path).map(Arc::from).map_err(|e| e.to_string()),
            Source::Replay(set) => set.bytes.get(path).cloned().unwrap_or_else(|| Err(not_recorded())),
        };
        self.record.lock().bytes.insert(path.to_path_buf(), r.clone());
        r
    }

    /// Whether `path` exists.
    pub fn exists(&self, path: &Path) -> bool {
        let r = match &self.source {
            Source::Disk(_) => path.exists(),
            Source::Replay(set) => set.exists.get(path).copied().unwrap_or(false),
        };
        self.record.lock().exists.insert(path.to_path_buf(), r);
        r
    }

    /// A parsed PEM file.
    pub fn read_pem(&self, path: &Path) -> Result<Arc<LoadedCert>, CertError> {
        let r = match &self.source {
            Source::Disk(cache) => cache.read(path),
            Source::Replay(set) => set.pems.get(path).cloned().unwrap_or_else(|| {
                Err(CertError {
                    source_name: path.display().to_string(),
                    message: not_recorded(),
                    kind: CertErrorKind::Unreadable,
                })
            }),
        };
        self.record.lock().pems.insert(path.to_path_buf(), r.clone());
        r
    }

    /// The CRL files directly in `dir` (`*.crl`, `*.pem`, `*.der`), in name order.
    pub fn list_crls(&self, dir: &Path) -> Result<Vec<PathBuf>, String> {
        // Recorded apart from the store listing of the same directory.
        let key = dir.join(".certgate-crl-listing");
        let r = match &self.source {
            Source::Disk(_) => std::fs::read_dir(dir)
                .and_then(|entries| {
                    let mut out = Vec::new();
                    for e in entries {
                        let path = e?.path();
                        let ext = path.extension().and_then(|x| x.to_str()).unwrap_or("");
                        if path.is_file() && ["crl", "pem", "der"].contains(&ext) {
                            out.push(path);
                        }
                    }
                    out.sort();
                    Ok(out)
                })
                .map_err(|e| e.to_string()),
            Source::Replay(set) => set.dirs.get(&key).cloned().unwrap_or_else(|| Err(not_recorded())),
        };
        self.record.lock().dirs.insert(key, r.clone());
        r
    }

    /// Every `*.pem` and `*.crt` file below `dir`, in name order. Symbolic links are
    /// followed, but a directory is entered once (a link loop ends there), and only regular
    /// files are taken (a directory named `x.pem` is walked, not read).
    pub fn list_store(&self, dir: &Path) -> Result<Vec<PathBuf>, String> {
        let r = match &self.source {
            Source::Disk(_) => {
                let mut out = Vec::new();
                let mut seen = std::collections::HashSet::new();
                collect_files(dir, &mut out, &mut seen)
                    .map(|()| {
                        out.sort_by(|a, b| a.as_os_str().cmp(b.as_os_str()));
                        out
                    })
                    .map_err(|e| e.to_string())
            }
            Source::Replay(set) => set.dirs.get(dir).cloned().unwrap_or_else(|| Err(not_recorded())),
        };
        self.record.lock().dirs.insert(dir.to_path_buf(), r.clone());
        r
    }
}

fn not_recorded() -> String {
    "not read at the last good load (reload to read it)".into()
}

/// Walks `dir`, entering each directory (by device and inode) at most once.
fn collect_files(
    dir: &Path,
    out: &mut Vec<PathBuf>,
    seen: &mut std::collections::HashSet<(u64, u64)>,
) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(dir)?;
    if !seen.insert((meta.dev(), meta.ino())) {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        // Follow links; a dangling one is skipped like any unreadable entry would fail later.
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            collect_files(&path, out, seen)?;
        } else if meta.is_file() && matches!(path.extension().and_then(|e| e.to_str()), Some("pem" | "crt")) {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_returns_what_the_disk_gave_then() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.bin");
        std::fs::write(&f, b"first").unwrap();
        let cache = PemCache::default();
        let disk = Files::disk(&cache);
        assert_eq!(&*disk.read(&f).unwrap(), b"first");
        let set = disk.into_recorded();
        std::fs::write(&f, b"second").unwrap();
        let replay = Files::replay(&set);
        assert_eq!(&*replay.read(&f).unwrap(), b"first");
        assert!(replay.read(&dir.path().join("other")).is_err());
    }

    #[test]
    fn store_walks_survive_link_loops_and_pem_named_directories() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("sub/dir.pem")).unwrap();
        std::fs::write(d.join("sub/a.pem"), b"x").unwrap();
        std::os::unix::fs::symlink(d, d.join("sub/loop")).unwrap();
        let cache = PemCache::default();
        let files = Files::disk(&cache).list_store(d).unwrap();
        assert_eq!(files, vec![d.join("sub/a.pem")]);
    }
}
