//! The fleet's shared store on Redis: every key of one namespace, the one script that
//! commits a change, and the reads that load or replay the state. Synchronous, with 1 s
//! timeouts; callers run on the control plane's own threads, never on the request path.

use std::time::Duration;

use parking_lot::Mutex;
use redis::streams::StreamRangeReply;
use redis::{Client, Connection, ConnectionLike, RedisResult};

use super::log::{self, field};
use super::notice::sign_notice;
use crate::admin::Write;

/// Connect, read and write timeout of every Redis call but the bulk ones.
pub const TIMEOUT: Duration = Duration::from_secs(1);

/// Read and write timeout of a full load and a seed: a namespace of 200k records is a
/// reply of about 150 MB, 0.8 s on an idle loopback, so [`TIMEOUT`] would fail it on a busy
/// machine, and fail it again at every retry.
pub const BULK_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs a bulk call with [`BULK_TIMEOUT`], then puts the short timeouts back. A failed
/// call reports its own error, not one from restoring the timeouts.
fn bulk<T>(c: &mut Connection, f: impl FnOnce(&mut Connection) -> RedisResult<T>) -> RedisResult<T> {
    let set = |c: &mut Connection, t| c.set_read_timeout(Some(t)).and_then(|()| c.set_write_timeout(Some(t)));
    set(c, BULK_TIMEOUT)?;
    let out = f(c);
    let restored = set(c, TIMEOUT);
    let value = out?;
    restored.map(|()| value)
}

/// Change-log entries Redis keeps (approximately). A member further behind reloads in full.
pub const LOG_LENGTH: u64 = 100_000;

/// Largest replay; a member further behind reloads in full, which is cheaper.
const MAX_REPLAY: u64 = 10_000;

/// Commits one change: checks the revision the writer last saw, applies the writes, bumps
/// the revision, appends the change to the log and publishes the signed notice, or changes
/// nothing. The namespace's epoch (a random ID of its history, set by the first commit or a
/// seed) must be the writer's too. KEYS: records, rev, log, notices, meta. ARGV: expected
/// revision, log length, log JSON, notice, a new epoch (used when there is none yet), the
/// writer's epoch (empty: none yet), then (op, field, body) per write.
const COMMIT: &str = r"
local rev = tonumber(redis.call('GET', KEYS[2]) or '0')
local epoch = redis.call('HGET', KEYS[5], 'epoch')
if rev ~= tonumber(ARGV[1]) or (ARGV[6] ~= '' and epoch and epoch ~= ARGV[6]) then return {0, rev, epoch or ''} end
local last = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)[1]
if last and tonumber(string.match(last[1], '^(%d+)')) > rev then return {2, rev, epoch or ''} end
if not epoch then
  epoch = ARGV[5]
  redis.call('HSET', KEYS[5], 'epoch', epoch)
end
for i = 7, #ARGV, 3 do
  if ARGV[i] == 'put' then redis.call('HSET', KEYS[1], ARGV[i + 1], ARGV[i + 2])
  else redis.call('HDEL', KEYS[1], ARGV[i + 1]) end
end
local new = redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], new .. '-0', 'writes', ARGV[3])
redis.call('PUBLISH', KEYS[4], ARGV[4])
return {1, new, epoch}
";

/// Fills an empty namespace as revision 1, or changes nothing. KEYS: records, rev, log,
/// meta, notices. ARGV: salt (empty: none), notice, the new epoch, then (field, body) per
/// record.
const SEED: &str = r"
if redis.call('EXISTS', KEYS[1], KEYS[2], KEYS[3]) > 0 then return 0 end
for i = 4, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
if ARGV[1] ~= '' then redis.call('HSET', KEYS[4], 'kdf_salt', ARGV[1]) end
redis.call('HSET', KEYS[4], 'epoch', ARGV[3])
redis.call('SET', KEYS[2], 1)
redis.call('XADD', KEYS[3], '1-0', 'reload', 'seed')
redis.call('PUBLISH', KEYS[5], ARGV[2])
return 1
";

/// The keys of one namespace, all under the hash tag `certgate:{<name>}:`.
#[derive(Clone, Debug)]
pub struct Keys {
    /// Hash `kind/id` → record JSON.
    pub records: String,
    /// Hash of installation-wide values (`kdf_salt`).
    pub meta: String,
    /// The revision counter.
    pub rev: String,
    /// Stream of changes, entry ID `<revision>-0`.
    pub log: String,
    /// Pub/sub channel of signed notices.
    pub notices: String,
}

impl Keys {
    /// The keys of namespace `name`.
    pub fn new(name: &str) -> Keys {
        let k = |s: &str| format!("certgate:{{{name}}}:{s}");
        Keys {
            records: k("records"),
            meta: k("meta"),
            rev: k("rev"),
            log: k("log"),
            notices: k("notices"),
        }
    }
}

/// A fleet-store failure.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// Redis is unreachable or answered with an error.
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// Another member committed first; the revision now is this.
    #[error("the fleet is at revision {0} already")]
    Conflict(u64),
    /// The log and the revision counter disagree (someone edited the keys by hand).
    #[error("the change log is ahead of revision {0}: the namespace was edited outside certgate")]
    Corrupt(u64),
    /// A change-log entry does not decode.
    #[error("change {rev} in the log is unreadable: {why}")]
    BadEntry {
        /// Its revision.
        rev: u64,
        /// Why.
        why: String,
    },
    /// `fleet seed` into a namespace that holds something.
    #[error("namespace `{0}` is not empty; seed only an empty one")]
    NotEmpty(String),
}

/// Where a namespace's history stands: its epoch (`None` before the first change) and
/// revision.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Position {
    /// Random ID of the namespace's history; a seed starts a new one.
    pub epoch: Option<String>,
    /// Changes committed in this history.
    pub rev: u64,
}

/// How to bring a member from its revision to the fleet's.
#[derive(Debug)]
pub enum CatchUp {
    /// Nothing happened since.
    Current,
    /// Replay these changes, in order: (revision, writes), to be at `to`.
    Replay {
        /// Where the member is after the replay.
        to: Position,
        /// The changes.
        changes: Vec<(u64, Vec<Write>)>,
    },
    /// The log does not reach back far enough (or says so): load everything.
    Reload,
    /// The namespace is empty but this member has a history: Redis lost its data. Nothing
    /// is applied (an empty namespace must not wipe the fleet); `fleet seed` restores it.
    Emptied,
}

/// Everything in a namespace, read in one transaction.
#[derive(Debug, Default)]
pub struct FullState {
    /// Its epoch and revision.
    pub at: Position,
    /// Every record: (kind, id, body), sorted.
    pub records: Vec<(String, String, Vec<u8>)>,
    /// The shared key-derivation salt.
    pub salt: Option<Vec<u8>>,
}

/// A connection to one namespace.
pub struct FleetStore {
    client: Client,
    name: String,
    secret: Vec<u8>,
    keys: Keys,
    conn: Mutex<Option<Connection>>,
}

// === impl FleetStore ===

impl FleetStore {
    /// A store for namespace `name` through `client`; notices are signed with `secret`.
    /// Connects lazily.
    pub fn new(client: Client, name: &str, secret: Vec<u8>) -> FleetStore {
        FleetStore {
            client,
            name: name.to_string(),
            secret,
            keys: Keys::new(name),
            conn: Mutex::new(None),
        }
    }

    /// The namespace.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The namespace's keys.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// The notice secret (for checking notices).
    pub fn secret(&self) -> &[u8] {
        &self.secret
    }

    /// A new connection with the store's timeouts (the subscriber uses its own).
    pub fn connect(&self) -> RedisResult<Connection> {
        let c = self.client.get_connection_with_timeout(TIMEOUT)?;
        c.set_read_timeout(Some(TIMEOUT))?;
        c.set_write_timeout(Some(TIMEOUT))?;
        Ok(c)
    }

    /// Runs `f` on the shared command connection, connecting first when there is none. A
    /// connection that failed is dropped, so the next call starts afresh.
    fn with<T>(&self, f: impl FnOnce(&mut Connection, &Keys) -> RedisResult<T>) -> Result<T, FleetError> {
        let mut guard = self.conn.lock();
        let con = match guard.as_mut() {
            Some(c) if c.is_open() => c,
            _ => guard.insert(self.connect()?),
        };
        match f(con, &self.keys) {
            Ok(v) => Ok(v),
            Err(e) => {
                if !matches!(e.kind(), redis::ErrorKind::Server(_)) {
                    *guard = None;
                }
                Err(e.into())
            }
        }
    }

    /// Where the namespace stands (revision 0, no epoch: empty).
    pub fn position(&self) -> Result<Position, FleetError> {
        let (rev, epoch): (Option<u64>, Option<String>) =
            self.with(|c, k| redis::pipe().atomic().get(&k.rev).hget(&k.meta, "epoch").query(c))?;
        Ok(Position {
            epoch,
            rev: rev.unwrap_or(0),
        })
    }

    /// Everything, consistently (one MULTI/EXEC).
    pub fn load_all(&self) -> Result<FullState, FleetError> {
        // The records as a list of pairs: a map would hash 200k fields only to be sorted.
        type Reply = (Option<u64>, Option<String>, Vec<(String, Vec<u8>)>, Option<Vec<u8>>);
        let (rev, epoch, records, salt): Reply = self.with(|c, k| {
            bulk(c, |c| {
                redis::pipe()
                    .atomic()
                    .get(&k.rev)
                    .hget(&k.meta, "epoch")
                    .hgetall(&k.records)
                    .hget(&k.meta, "kdf_salt")
                    .query(c)
            })
        })?;
        let mut records: Vec<(String, String, Vec<u8>)> = records
            .into_iter()
            .filter_map(|(f, body)| log::split_field(&f).map(|(k, id)| (k.to_string(), id.to_string(), body)))
            .collect();
        records.sort_unstable();
        Ok(FullState {
            at: Position {
                epoch,
                rev: rev.unwrap_or(0),
            },
            records,
            salt,
        })
    }

    /// What a member at `at` must do to be current.
    pub fn catch_up(&self, at: &Position) -> Result<CatchUp, FleetError> {
        let fleet = self.position()?;
        if fleet == *at {
            return Ok(CatchUp::Current);
        }
        if fleet.epoch.is_none() && at.epoch.is_some() {
            return Ok(CatchUp::Emptied);
        }
        let from = at.rev;
        let now = fleet.rev;
        // A member that never saw a change replays this history from its start.
        let other_history = fleet.epoch != at.epoch && *at != Position::default();
        if other_history || now < from || now - from > MAX_REPLAY {
            return Ok(CatchUp::Reload);
        }
        let reply: StreamRangeReply = self.with(|c, k| {
            redis::cmd("XRANGE")
                .arg(&k.log)
                .arg(format!("{}-0", from + 1))
                .arg(format!("{now}-0"))
                .query(c)
        })?;
        let mut changes = Vec::with_capacity(reply.ids.len());
        for (expect, entry) in (from + 1..).zip(&reply.ids) {
            if entry.id != format!("{expect}-0") {
                return Ok(CatchUp::Reload); // trimmed, or a gap: never guess
            }
            let Some(json) = entry.get::<Vec<u8>>("writes") else {
                return Ok(CatchUp::Reload); // a seed says "load everything"
            };
            let writes = log::decode(&json).map_err(|e| FleetError::BadEntry {
                rev: expect,
                why: e.to_string(),
            })?;
            changes.push((expect, writes));
        }
        if changes.len() as u64 != now - from {
            return Ok(CatchUp::Reload);
        }
        Ok(CatchUp::Replay { to: fleet, changes })
    }

    /// Commits `writes` on top of `at`; the new position, or [`FleetError::Conflict`] when
    /// another member committed first (nothing changed).
    pub fn commit(&self, at: &Position, writes: &[Write]) -> Result<Position, FleetError> {
        let script = redis::Script::new(COMMIT);
        let notice = sign_notice(&self.secret, &self.name, at.rev + 1);
        let (code, rev, epoch): (u8, u64, String) = self.with(|c, k| {
            let mut inv = script.prepare_invoke();
            inv.key(&k.records).key(&k.rev).key(&k.log).key(&k.notices).key(&k.meta);
            inv.arg(at.rev).arg(LOG_LENGTH).arg(log::encode(writes)).arg(&notice);
            inv.arg(new_epoch()).arg(at.epoch.as_deref().unwrap_or(""));
            for w in writes {
                match w {
                    Write::Put { kind, id, body } => inv.arg("put").arg(field(kind, id)).arg(&body[..]),
                    Write::Remove { kind, id } => inv.arg("del").arg(field(kind, id)).arg(""),
                };
            }
            inv.invoke(c)
        })?;
        match code {
            1 => Ok(Position {
                epoch: Some(epoch),
                rev,
            }),
            0 => Err(FleetError::Conflict(rev)),
            _ => Err(FleetError::Corrupt(rev)),
        }
    }

    /// The namespace's key-derivation salt: the one already stored, else `proposed`.
    pub fn salt(&self, proposed: &[u8]) -> Result<Vec<u8>, FleetError> {
        let (_, salt): (bool, Vec<u8>) = self.with(|c, k| {
            redis::pipe()
                .atomic()
                .hset_nx(&k.meta, "kdf_salt", proposed)
                .hget(&k.meta, "kdf_salt")
                .query(c)
        })?;
        Ok(salt)
    }

    /// Fills an empty namespace with `records` (and the salt their keys were sealed
    /// with) as revision 1; refuses a namespace holding anything.
    pub fn seed(&self, records: &[(String, String, Vec<u8>)], salt: Option<&[u8]>) -> Result<u64, FleetError> {
        let script = redis::Script::new(SEED);
        let notice = sign_notice(&self.secret, &self.name, 1);
        let done: u8 = self.with(|c, k| {
            let mut inv = script.prepare_invoke();
            inv.key(&k.records).key(&k.rev).key(&k.log).key(&k.meta).key(&k.notices);
            inv.arg(salt.unwrap_or_default()).arg(&notice).arg(new_epoch());
            for (kind, id, body) in records {
                inv.arg(field(kind, id)).arg(&body[..]);
            }
            bulk(c, |c| inv.invoke(c))
        })?;
        match done {
            1 => Ok(1),
            _ => Err(FleetError::NotEmpty(self.name.clone())),
        }
    }
}

/// A fresh random epoch.
fn new_epoch() -> String {
    let mut b = [0u8; 16];
    let _ = openssl::rand::rand_bytes(&mut b);
    hex::encode(b)
}
