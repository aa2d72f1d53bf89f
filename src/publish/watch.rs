//! `reload.watch`: reload when the config file or any file it names changes, through the
//! very path a SIGHUP takes (the watcher raises SIGHUP on its own process).
//!
//! It watches the *directories* holding those files, not the files: Kubernetes updates a
//! mounted Secret or ConfigMap by swapping its `..data` symlink, and editors save by
//! writing a new file and renaming it over the old one; a watch on the file itself would
//! see neither. Any event in one of those directories starts a debounce; when the
//! directories have been quiet for `debounce`, the files' identities (device, inode, size,
//! modification time, symlinks followed; a directory's entries) are compared with the last
//! ones, and only a difference reloads. So the control plane's SQLite files, editor swap
//! files or anything else sharing a directory never cause a reload.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

use log::{info, warn};
use notify::{RecursiveMode, Watcher};

use super::Publisher;

/// What a watched path is, as far as a reload cares.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Identity {
    /// Not known to match what the last reload read: differs from anything seen.
    Unknown,
    Missing,
    File {
        dev: u64,
        ino: u64,
        len: u64,
        mtime_ns: i128,
    },
    Dir(Vec<(String, Box<Identity>)>),
}

/// What `publisher` says to watch, as absolute paths (event paths are absolute).
fn watched(publisher: &Publisher) -> Vec<PathBuf> {
    publisher
        .watched_paths()
        .into_iter()
        .map(|p| std::path::absolute(&p).unwrap_or(p))
        .collect()
}

impl Identity {
    /// Whether a file's modification time is at or after `t` (or close before it: file
    /// times are coarser than the clock).
    fn modified_since(&self, t: std::time::SystemTime) -> bool {
        let Identity::File { mtime_ns, .. } = self else {
            return false;
        };
        let t_ns = t
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as i128)
            .unwrap_or(0);
        *mtime_ns >= t_ns - 20_000_000
    }
}

/// The identities of `paths` now.
fn identities(paths: &[PathBuf]) -> BTreeMap<PathBuf, Identity> {
    paths.iter().map(|p| (p.clone(), identity(p, true))).collect()
}

fn identity(path: &Path, list_dir: bool) -> Identity {
    use std::os::unix::fs::MetadataExt;
    let Ok(m) = std::fs::metadata(path) else {
        return Identity::Missing;
    };
    if m.is_dir() && list_dir {
        let mut entries: Vec<(String, Box<Identity>)> = std::fs::read_dir(path)
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .map(|e| {
                        (
                            e.file_name().to_string_lossy().into_owned(),
                            Box::new(identity(&e.path(), false)),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        return Identity::Dir(entries);
    }
    Identity::File {
        dev: m.dev(),
        ino: m.ino(),
        len: m.len(),
        mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
    }
}

/// The paths whose events count: every watched path, every symlink met on the way to what
/// it points at (Kubernetes' `..data`, and the version directory it names), and anything
/// inside a watched directory (the certificate store).
struct Interesting {
    exact: HashSet<PathBuf>,
    dirs: HashSet<PathBuf>,
}

impl Interesting {
    fn of(paths: &[PathBuf]) -> Interesting {
        let mut exact = HashSet::new();
        let mut dirs = HashSet::new();
        for p in paths {
            if p.is_dir() {
                dirs.insert(p.clone());
            }
            let mut cur = p.clone();
            for _ in 0..16 {
                exact.insert(cur.clone());
                // Each component that is a symlink, resolved against its own directory.
                let mut next = None;
                let mut prefix = PathBuf::new();
                for c in cur.components() {
                    prefix.push(c);
                    if let Ok(target) = std::fs::read_link(&prefix) {
                        exact.insert(prefix.clone());
                        let base = prefix.parent().unwrap_or(Path::new("/")).to_path_buf();
                        let rest = cur.strip_prefix(&prefix).unwrap_or(Path::new(""));
                        next = Some(base.join(target).join(rest));
                        break;
                    }
                }
                match next {
                    Some(n) => cur = n,
                    None => break,
                }
            }
        }
        Interesting { exact, dirs }
    }

    /// Whether an event about `paths` may change a watched path.
    fn any(&self, paths: &[PathBuf]) -> bool {
        paths.iter().any(|p| {
            self.exact.contains(p)
                || p.parent().is_some_and(|d| self.dirs.contains(d))
                || self.exact.iter().any(|e| e.starts_with(p))
        })
    }
}

/// The directories to watch for `paths`: each path's parent, and a directory path itself.
fn directories(paths: &[PathBuf]) -> HashSet<PathBuf> {
    let mut dirs = HashSet::new();
    for p in paths {
        if p.is_dir() {
            dirs.insert(p.clone());
        }
        if let Some(parent) = p.parent() {
            dirs.insert(if parent.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                parent.to_path_buf()
            });
        }
    }
    dirs
}

/// Starts the watcher thread: from now on, a change to the config or a file it names
/// reloads after `debounce` of quiet.
pub fn start(publisher: Arc<Publisher>, debounce: Duration) -> std::io::Result<()> {
    let (tx, rx) = channel::<Vec<PathBuf>>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(e) = event {
            let _ = tx.send(e.paths);
        }
    })
    .map_err(std::io::Error::other)?;
    std::thread::Builder::new().name("reload-watch".into()).spawn(move || {
        let mut watching: HashSet<PathBuf> = HashSet::new();
        let mut paths = watched(&publisher);
        let mut last = identities(&paths);
        let mut names = Interesting::of(&paths);
        loop {
            for dir in directories(&paths) {
                if !watching.contains(&dir) {
                    match watcher.watch(&dir, RecursiveMode::NonRecursive) {
                        Ok(()) => {
                            watching.insert(dir);
                        }
                        Err(e) => warn!("event=reload_watch_failed path={} error=\"{e}\"", dir.display()),
                    }
                }
            }
            // Wait for an event about a watched path, then for `debounce` without one. Events
            // about anything else in these directories (the logs, the control plane's
            // files, swap files) are ignored, so they can neither reload nor hold a reload off.
            loop {
                match rx.recv() {
                    Ok(p) if names.any(&p) => break,
                    Ok(_) => continue,
                    Err(_) => return,
                }
            }
            let mut quiet_since = std::time::Instant::now();
            while quiet_since.elapsed() < debounce {
                match rx.recv_timeout(debounce.saturating_sub(quiet_since.elapsed())) {
                    Ok(p) if names.any(&p) => quiet_since = std::time::Instant::now(),
                    Ok(_) => {}
                    Err(RecvTimeoutError::Timeout) => break,
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            }
            let now = identities(&paths);
            if now == last {
                continue;
            }
            let changed: Vec<String> = now
                .iter()
                .filter(|(p, id)| last.get(*p) != Some(id))
                .map(|(p, _)| p.display().to_string())
                .collect();
            info!("event=reload_watch changed=\"{}\"", changed.join(","));
            last = now;
            let (asked, done) = (std::time::SystemTime::now(), publisher.reloads_done());
            if let Err(e) = signal_hook::low_level::raise(signal_hook::consts::SIGHUP) {
                warn!("event=reload_watch_failed error=\"cannot raise SIGHUP: {e}\"");
            }
            // Once the reload has run, watch what it read (a new CRL, a renamed file). A
            // path new to the set that changed after the reload was asked for may have
            // been read before or after its change: it counts as changed, so the next
            // event reloads once more. Paths kept keep the identity seen before; gone
            // ones are forgotten.
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while publisher.reloads_done() == done && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            paths = watched(&publisher);
            names = Interesting::of(&paths);
            last = identities(&paths)
                .into_iter()
                .map(|(p, id)| {
                    let seen = match last.get(&p) {
                        Some(seen) => seen.clone(),
                        None if id.modified_since(asked) => Identity::Unknown,
                        None => id,
                    };
                    (p, seen)
                })
                .collect();
        }
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_see_renames_symlink_swaps_and_new_entries_but_not_touches_elsewhere() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("v1")).unwrap();
        std::fs::write(d.join("v1/c.yaml"), "a").unwrap();
        std::os::unix::fs::symlink("v1", d.join("..data")).unwrap();
        std::os::unix::fs::symlink("..data/c.yaml", d.join("c.yaml")).unwrap();
        std::fs::create_dir(d.join("store")).unwrap();
        let paths = vec![d.join("c.yaml"), d.join("store")];
        let before = identities(&paths);
        std::fs::write(d.join("unrelated.txt"), "x").unwrap();
        assert_eq!(identities(&paths), before, "a file the config does not name");
        // Kubernetes: a new version directory, the ..data link swapped by rename.
        std::fs::create_dir(d.join("v2")).unwrap();
        std::fs::write(d.join("v2/c.yaml"), "a").unwrap();
        std::os::unix::fs::symlink("v2", d.join("..data_tmp")).unwrap();
        std::fs::rename(d.join("..data_tmp"), d.join("..data")).unwrap();
        let swapped = identities(&paths);
        assert_ne!(swapped, before, "same bytes, another file");
        // A certificate added to the store directory.
        std::fs::write(d.join("store/new.pem"), "pem").unwrap();
        assert_ne!(identities(&paths), swapped);
        assert!(directories(&paths).contains(d), "the config's directory is watched");
        assert!(directories(&paths).contains(&d.join("store")));
    }
}
