//! Where control-plane records live. [`ControlStore`] is a small document store (kind, id,
//! JSON body) with atomic multi-record writes, so a shared backend for a fleet of gateways
//! can implement it later; [`SqliteStore`] is the embedded one (WAL, under `data_dir`).

use std::collections::HashMap;
use std::path::Path;

use parking_lot::Mutex;
use rusqlite::{params, Connection};

pub use super::error::StoreError;

/// One write in a [`ControlStore::apply`] batch.
#[derive(Clone, Debug)]
pub enum Write {
    /// Insert or replace a record.
    Put {
        /// Record kind (`certificate`, `organisation`, …).
        kind: &'static str,
        /// Record ID.
        id: String,
        /// JSON body.
        body: Vec<u8>,
    },
    /// Remove a record.
    Remove {
        /// Record kind.
        kind: &'static str,
        /// Record ID.
        id: String,
    },
}

/// Persistence for the control plane.
pub trait ControlStore: Send + Sync {
    /// Every record: (kind, id, body).
    fn load_all(&self) -> Result<Vec<(String, String, Vec<u8>)>, StoreError>;
    /// Applies the writes atomically (all or none).
    fn apply(&self, writes: &[Write]) -> Result<(), StoreError> {
        self.apply_with_meta(writes, &[])
    }
    /// Applies the writes and sets the `meta` values, in one transaction.
    fn apply_with_meta(&self, writes: &[Write], meta: &[(&str, Vec<u8>)]) -> Result<(), StoreError>;
    /// Replaces every record and sets the `meta` values, in one transaction (a fleet
    /// member's local copy after a full load).
    fn replace_all(&self, records: &[(String, String, Vec<u8>)], meta: &[(&str, Vec<u8>)]) -> Result<(), StoreError>;
    /// A small installation-wide value (the key-derivation salt).
    fn meta_get(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Sets a [`Self::meta_get`] value.
    fn meta_set(&self, name: &str, value: &[u8]) -> Result<(), StoreError>;
}

/// The embedded SQLite store.
pub struct SqliteStore {
    conn: Mutex<Connection>,
}

// === impl SqliteStore ===

impl SqliteStore {
    /// Opens (creating) `dir/certgate.db` in WAL mode.
    pub fn open(dir: &Path) -> Result<SqliteStore, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Create {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join("certgate.db");
        private_files(dir, &path)?;
        let conn = Connection::open(&path).map_err(|e| open_error(&path, e))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS records (kind TEXT NOT NULL, id TEXT NOT NULL, body BLOB NOT NULL, PRIMARY KEY (kind, id));
             CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value BLOB NOT NULL);",
        )
        ?;
        Ok(SqliteStore { conn: Mutex::new(conn) })
    }
}

/// The data directory is the owner's alone (0700) and so is the database (0600). The file is
/// created before SQLite opens it, so its journal and WAL files, which SQLite creates with
/// the database's mode, are 0600 too; files from older versions are tightened.
fn private_files(dir: &Path, db: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let tighten = |p: &Path, mode: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).map_err(|source| StoreError::Permissions {
            path: p.to_path_buf(),
            source,
        })
    };
    tighten(dir, 0o700)?;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(db)
        .map_err(|e| open_error(db, e))?;
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let p = Path::new(&format!("{}{suffix}", db.display())).to_path_buf();
        if p.exists() {
            tighten(&p, 0o600)?;
        }
    }
    Ok(())
}

fn open_error(path: &Path, e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Open {
        path: path.to_path_buf(),
        source: Box::new(e),
    }
}

impl SqliteStore {
    /// Opens `dir/certgate.db` read-only, or `None` when there is none yet. Creates nothing.
    pub fn open_existing_read_only(dir: &Path) -> Result<Option<SqliteStore>, StoreError> {
        let path = dir.join("certgate.db");
        if !path.exists() {
            return Ok(None);
        }
        let conn = Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| open_error(&path, e))?;
        Ok(Some(SqliteStore { conn: Mutex::new(conn) }))
    }
}

impl ControlStore for SqliteStore {
    fn load_all(&self) -> Result<Vec<(String, String, Vec<u8>)>, StoreError> {
        let conn = self.conn.lock();
        let mut stmt = conn.prepare("SELECT kind, id, body FROM records ORDER BY kind, id")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn apply_with_meta(&self, writes: &[Write], meta: &[(&str, Vec<u8>)]) -> Result<(), StoreError> {
        let mut conn = self.conn.lock();
        let tx = conn.transaction()?;
        set_meta(&tx, meta)?;
        for w in writes {
            match w {
                Write::Put { kind, id, body } => tx
                    .execute(
                        "INSERT OR REPLACE INTO records (kind, id, body) VALUES (?1, ?2, ?3)",
                        params![kind, id, body],
                    )
                    .map(|_| ()),
                Write::Remove { kind, id } => tx
                    .execute("DELETE FROM records WHERE kind = ?1 AND id = ?2", params![kind, id])
                    .map(|_| ()),
            }?;
        }
        Ok(tx.commit()?)
    }

    fn replace_all(&self, records: &[(String, String, Vec<u8>)], meta: &[(&str, Vec<u8>)]) -> Result<(), StoreError> {
        let mut conn = self.conn.lock();
        let tx = conn.transaction()?;
        // Only the rows that differ are written: a full load usually finds the copy almost
        // equal, and reading a row costs far less than writing it. The comparison is with
        // the copy's own rows, so a mirror write that failed earlier is repaired here.
        // By kind, then ID, so a row is found from borrowed `&str`s (no key built per row).
        let mut stale: HashMap<String, HashMap<String, Vec<u8>>> = HashMap::new();
        {
            let mut stmt = tx.prepare("SELECT kind, id, body FROM records")?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                stale.entry(r.get(0)?).or_default().insert(r.get(1)?, r.get(2)?);
            }
        }
        {
            // One prepared statement per kind of write (`execute` would prepare each time).
            let mut upsert =
                tx.prepare_cached("INSERT OR REPLACE INTO records (kind, id, body) VALUES (?1, ?2, ?3)")?;
            for (kind, id, body) in records {
                match stale.get_mut(kind.as_str()).and_then(|ids| ids.remove(id.as_str())) {
                    Some(old) if old == *body => {}
                    _ => {
                        upsert.execute(params![kind, id, body])?;
                    }
                }
            }
            let mut delete = tx.prepare_cached("DELETE FROM records WHERE kind = ?1 AND id = ?2")?;
            for (kind, ids) in &stale {
                for id in ids.keys() {
                    delete.execute(params![kind, id])?;
                }
            }
        }
        set_meta(&tx, meta)?;
        Ok(tx.commit()?)
    }

    fn meta_get(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let conn = self.conn.lock();
        let mut stmt = conn.prepare("SELECT value FROM meta WHERE name = ?1")?;
        let mut rows = stmt.query(params![name])?;
        match rows.next()? {
            Some(r) => Ok(Some(r.get(0)?)),
            None => Ok(None),
        }
    }

    fn meta_set(&self, name: &str, value: &[u8]) -> Result<(), StoreError> {
        self.conn
            .lock()
            .execute(
                "INSERT OR REPLACE INTO meta (name, value) VALUES (?1, ?2)",
                params![name, value],
            )
            .map(|_| ())?;
        Ok(())
    }
}

fn set_meta(tx: &rusqlite::Transaction<'_>, meta: &[(&str, Vec<u8>)]) -> Result<(), StoreError> {
    for (name, value) in meta {
        tx.execute(
            "INSERT OR REPLACE INTO meta (name, value) VALUES (?1, ?2)",
            params![name, value],
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_are_atomic_and_durable() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = SqliteStore::open(dir.path()).unwrap();
            s.apply(&[
                Write::Put {
                    kind: "a",
                    id: "1".into(),
                    body: b"x".to_vec(),
                },
                Write::Put {
                    kind: "a",
                    id: "2".into(),
                    body: b"y".to_vec(),
                },
            ])
            .unwrap();
            s.apply(&[Write::Remove {
                kind: "a",
                id: "1".into(),
            }])
            .unwrap();
            s.meta_set("salt", b"s").unwrap();
        }
        let s = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(
            s.load_all().unwrap(),
            vec![("a".to_string(), "2".to_string(), b"y".to_vec())]
        );
        assert_eq!(s.meta_get("salt").unwrap(), Some(b"s".to_vec()));
        assert_eq!(s.meta_get("other").unwrap(), None);
    }

    #[test]
    fn replace_all_leaves_exactly_the_given_records() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(dir.path()).unwrap();
        let rec = |k: &str, id: &str, b: &str| (k.to_string(), id.to_string(), b.as_bytes().to_vec());
        s.apply(&[
            Write::Put {
                kind: "a",
                id: "same".into(),
                body: b"1".to_vec(),
            },
            Write::Put {
                kind: "a",
                id: "changed".into(),
                body: b"old".to_vec(),
            },
            Write::Put {
                kind: "a",
                id: "gone".into(),
                body: b"x".to_vec(),
            },
            // Same ID under another kind: a different record.
            Write::Put {
                kind: "b",
                id: "same".into(),
                body: b"1".to_vec(),
            },
        ])
        .unwrap();
        let wanted = vec![
            rec("a", "changed", "new"),
            rec("a", "new", "n"),
            rec("a", "same", "1"),
            rec("c", "gone", "x"),
        ];
        s.replace_all(&wanted, &[("fleet_rev", b"7".to_vec())]).unwrap();
        assert_eq!(s.load_all().unwrap(), wanted);
        assert_eq!(s.meta_get("fleet_rev").unwrap(), Some(b"7".to_vec()));
        s.replace_all(&[], &[]).unwrap();
        assert!(s.load_all().unwrap().is_empty());
    }

    #[test]
    fn the_data_is_the_owners_alone() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
        let s = SqliteStore::open(&data).unwrap();
        s.meta_set("x", b"y").unwrap();
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&data), 0o700);
        for entry in std::fs::read_dir(&data).unwrap() {
            let p = entry.unwrap().path();
            assert_eq!(mode(&p), 0o600, "{}", p.display());
        }
    }
}
