//! The control plane (SPEC §8): a certificate store with organisations, API products,
//! apps, access requests whose approval issues credentials and extends allow lists, and
//! directly issued keys — served as a JSON admin API on `listen.admin`.
//!
//! Flow: an admin call changes [`ControlState`] and persists it through a [`ControlStore`]
//! (atomically), then what the change did to the state's entries ([`ControlState::delta`])
//! is published at once ([`crate::publish::Publisher::set_control`]), patching the running
//! snapshot's control layer.

mod api;
pub mod console;
mod crypto;
mod entries;
pub mod error;
pub mod fleet;
mod http;
pub mod records;
mod state;
pub mod store;
mod sync;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use log::{info, warn};
use parking_lot::Mutex;

pub use api::{AdminRequest, AdminResponse, ROUTES};
pub use crypto::KeyVault;
pub use http::AdminApp;
pub use state::ControlState;
pub use store::{ControlStore, SqliteStore, Write};
pub use sync::StoreSync;

use crate::certs::PemCache;
use crate::config::{ConfigError, ConfigErrorKind, ConfigErrors, LoadedConfig};
use crate::publish::Publisher;
use crate::snapshot::{Overlay, OverlaySource};
use error::OpenError;

/// How often a fleet member retries a change another member's commit overtook.
pub const COMMIT_ATTEMPTS: usize = 5;

/// Default environment variable of the admin key.
pub const DEFAULT_KEY_ENV: &str = "CERTGATE_ADMIN_KEY";
/// Default environment variable of the key-encryption secret.
pub const DEFAULT_SECRET_ENV: &str = "CERTGATE_SECRET";

/// The control plane: its records, their persistence, and the publisher it feeds.
pub struct ControlPlane {
    /// The records on disk: the state itself on a single node, a fleet member's local copy.
    store: Box<dyn ControlStore>,
    /// Seals and opens stored private keys; set once the salt is known (a fleet member that
    /// never reached Redis learns it on its first load).
    vault: OnceLock<KeyVault>,
    /// `admin.secret_env`'s value, when set.
    secret: Option<String>,
    /// The fleet, when this instance is a member.
    fleet: Option<fleet::Member>,
    state: Mutex<ControlState>,
    publisher: OnceLock<Arc<Publisher>>,
    admin_key: String,
    store_dir: Option<PathBuf>,
    pem_cache: PemCache,
}

// === impl ControlPlane ===

impl ControlPlane {
    /// Opens the control plane the `admin` section describes. `env` reads environment
    /// variables (a closure, so tests never touch the process environment).
    pub fn open(cfg: &LoadedConfig, env: &dyn Fn(&str) -> Option<String>) -> Result<ControlPlane, OpenError> {
        let admin = cfg.raw.admin.as_ref().ok_or(OpenError::NoAdminSection)?;
        let admin_key = admin_key(cfg, env)?;
        let data_dir = cfg.resolve_path(admin.data_dir.as_deref().unwrap_or("data"));
        let store = SqliteStore::open(&data_dir)?;
        let member = match fleet_secret(cfg, env)? {
            Some(notice_key) => Some(fleet::Member::open(cfg, notice_key)?),
            None => None,
        };
        let at = match &member {
            Some(_) => fleet::local_position(&store)?.ok_or_else(|| OpenError::SingleNodeState {
                dir: data_dir.clone(),
                records: store.load_all().map(|r| r.len()).unwrap_or(0),
            })?,
            None => Default::default(),
        };
        let secret = secret(cfg, env);
        let local_salt = store.meta_get("kdf_salt")?;
        // Whether Redis answered (for the salt): then the fleet's state is loaded below.
        let mut reached = false;
        let salt = match (&member, local_salt) {
            // A member takes the namespace's salt (proposing its own or a new one).
            (Some(m), local) => {
                let proposed = local.clone().unwrap_or_else(crypto::new_salt);
                match m.store.salt(&proposed) {
                    Ok(shared) => {
                        reached = true;
                        if local.as_deref() != Some(&shared[..]) {
                            store.meta_set("kdf_salt", &shared)?;
                        }
                        Some(shared)
                    }
                    Err(e) => {
                        m.lost(&e);
                        local
                    }
                }
            }
            (None, Some(local)) => Some(local),
            (None, None) if secret.is_some() => {
                let s = crypto::new_salt();
                store.meta_set("kdf_salt", &s)?;
                Some(s)
            }
            (None, None) => None,
        };
        let vault = OnceLock::new();
        if let (Some(secret), Some(salt)) = (&secret, &salt) {
            let _ = vault.set(KeyVault::derive(secret.as_bytes(), salt)?);
        }
        let mut state = ControlState::from_records(store.load_all()?, vault.get())?;
        state.fleet_at = at;
        info!(
            "event=control_plane_opened data_dir={} certificates={} grants={} keys={} key_encryption={} fleet={}",
            data_dir.display(),
            state.certificates.len(),
            state.grants.len(),
            state.keys.len(),
            secret.is_some(),
            member.as_ref().map(|m| m.store.name()).unwrap_or("-")
        );
        let store_dir = cfg.raw.certificate_store.as_ref().map(|s| cfg.resolve_path(&s.dir));
        let cp = ControlPlane {
            store: Box::new(store),
            vault,
            secret,
            fleet: member,
            state: Mutex::new(state),
            publisher: OnceLock::new(),
            admin_key,
            store_dir,
            pem_cache: PemCache::default(),
        };
        if let Some(m) = cp.fleet.as_ref().filter(|_| reached) {
            // Redis answered for the salt: start from the fleet's state, not the local copy.
            if let Err(fleet::SyncError::Redis(e)) = cp.fleet_resync() {
                m.lost(&e);
            }
        }
        cp.sync_store_dir();
        Ok(cp)
    }

    /// The key vault, once known.
    fn vault(&self) -> Option<&KeyVault> {
        self.vault.get()
    }

    /// Derives the vault from the fleet's salt, unless it is known already.
    fn init_vault(&self, salt: &[u8]) {
        if self.vault.get().is_some() {
            return;
        }
        if let Some(secret) = &self.secret {
            match KeyVault::derive(secret.as_bytes(), salt) {
                Ok(v) => {
                    let _ = self.vault.set(v);
                }
                Err(e) => warn!("event=key_vault_unavailable error=\"{e}\""),
            }
        }
    }

    /// Whether this instance is a fleet member.
    pub fn is_fleet_member(&self) -> bool {
        self.fleet.is_some()
    }

    /// What `run` checks of the control plane before it serves, without writing anything:
    /// the admin key, and that the stored state (if any) loads, its sealed keys included.
    /// `certgate check` runs it, so it accepts exactly what `run` accepts. Returns what the
    /// stored state adds to the data plane, for the caller to compile with the YAML.
    pub fn preflight(cfg: &LoadedConfig, env: &dyn Fn(&str) -> Option<String>) -> Result<Overlay, ConfigErrors> {
        let Some(admin) = cfg.raw.admin.as_ref() else {
            return Ok(Overlay::default());
        };
        admin_key(cfg, env).map_err(|e| ConfigErrors(vec![e]))?;
        fleet_secret(cfg, env).map_err(|e| ConfigErrors(vec![e]))?;
        let data_dir = cfg.resolve_path(admin.data_dir.as_deref().unwrap_or("data"));
        let at = |e: &dyn std::fmt::Display| {
            ConfigErrors(vec![cfg.error(
                ConfigErrorKind::DataDir,
                "admin.data_dir",
                e.to_string(),
            )])
        };
        if data_dir.exists() && !data_dir.is_dir() {
            return Err(at(&format_args!("{} is not a directory", data_dir.display())));
        }
        let Some(store) = SqliteStore::open_existing_read_only(&data_dir).map_err(|e| at(&e))? else {
            return Ok(Overlay::default()); // a fresh data directory: nothing stored yet
        };
        if cfg.raw.fleet.is_some() && fleet::local_position(&store).map_err(|e| at(&e))?.is_none() {
            let records = store.load_all().map(|r| r.len()).unwrap_or(0);
            let e = OpenError::SingleNodeState { dir: data_dir, records };
            return Err(at(&e));
        }
        let vault = match (secret(cfg, env), store.meta_get("kdf_salt").map_err(|e| at(&e))?) {
            (Some(secret), Some(salt)) => Some(KeyVault::derive(secret.as_bytes(), &salt).map_err(|e| at(&e))?),
            _ => None,
        };
        let records = store.load_all().map_err(|e| at(&e))?;
        Ok(ControlState::from_records(records, vault.as_ref())
            .map_err(|e| at(&e))?
            .overlay())
    }

    /// The control plane now, as the publisher's source of overlays.
    pub fn source(&self) -> Arc<dyn OverlaySource> {
        Arc::new(self.state.lock().clone())
    }

    /// Connects the publisher that every change goes through (and, for a fleet member, the
    /// fleet's metrics to the gateway's).
    pub fn attach(&self, publisher: Arc<Publisher>) {
        if let Some(m) = &self.fleet {
            publisher.metrics().add_fleet(&m.metrics);
        }
        let _ = self.publisher.set(publisher);
    }

    /// Applies `change` to the state; when it succeeds, persists its writes atomically and
    /// publishes the new overlay. The state lock is held throughout, so changes are applied
    /// and published in order. A fleet member commits the writes to Redis first; when
    /// another member committed in between, it catches up and runs `change` again on the
    /// new state (at most [`COMMIT_ATTEMPTS`] times), so two members approving the same
    /// request at once yield one grant and one refusal.
    fn change<T>(
        &self,
        mut change: impl FnMut(&mut ControlState) -> Result<(T, Vec<Write>), api::ApiError>,
    ) -> Result<T, api::ApiError> {
        if self.fleet.as_ref().is_some_and(|m| !m.writable()) {
            // Refused before the lock: a full load may hold it.
            return Err(api::ApiError::fleet_unavailable());
        }
        let mut guard = self.state.lock();
        let Some(m) = &self.fleet else {
            let mut next = guard.clone();
            let (out, writes) = change(&mut next)?;
            if !writes.is_empty() {
                self.store.apply(&writes).map_err(api::ApiError::storage)?;
                self.publish_locked(&guard, &next);
            }
            *guard = next;
            return Ok(out);
        };
        if !m.writable() {
            return Err(api::ApiError::fleet_unavailable());
        }
        for _ in 0..COMMIT_ATTEMPTS {
            let mut next = guard.clone();
            let (out, writes) = change(&mut next)?;
            if writes.is_empty() {
                // Nothing to commit; in-memory refreshes (parsed files) still count.
                *guard = next;
                return Ok(out);
            }
            match m.store.commit(&guard.fleet_at, &writes) {
                Ok(at) => {
                    self.mirror(&writes, &at);
                    next.fleet_at = at.clone();
                    self.publish_locked(&guard, &next);
                    *guard = next;
                    m.in_step(&at);
                    return Ok(out);
                }
                Err(fleet::store::FleetError::Conflict(_)) => match self.catch_up_locked(m, &mut guard) {
                    Ok(()) => continue,
                    Err(fleet::SyncError::Redis(e)) => {
                        m.lost(&e);
                        return Err(api::ApiError::fleet_unavailable());
                    }
                    Err(fleet::SyncError::Held) => return Err(api::ApiError::fleet_unavailable()),
                },
                Err(e) => {
                    m.lost(&e);
                    return Err(api::ApiError::fleet_unavailable());
                }
            }
        }
        Err(api::ApiError::fleet_busy())
    }

    /// Applies `change` to this instance's state only: nothing is persisted or shared (a
    /// fleet member's view of its own store directory).
    fn change_local(&self, change: impl FnOnce(&mut ControlState)) {
        let mut guard = self.state.lock();
        let mut next = guard.clone();
        change(&mut next);
        self.publish_locked(&guard, &next);
        *guard = next;
    }

    /// Publishes the change from `before` to `after` (the caller holds the state lock, so
    /// publishes happen in the order of changes).
    fn publish_locked(&self, before: &ControlState, after: &ControlState) {
        if let Some(p) = self.publisher.get() {
            let delta = ControlState::delta(before, after);
            if let Err(e) = p.set_control(Arc::new(after.clone()), Some(delta)) {
                warn!(
                    "event=control_plane_pending message=\"saved; applies with the next good reload\" errors={}",
                    e.len()
                );
            }
        }
    }

    /// The YAML in force (for API names and their auth settings).
    fn config(&self) -> Option<Arc<LoadedConfig>> {
        self.publisher.get().map(|p| p.config())
    }
}

/// The admin key from `admin.key_env`: set, and at least 16 characters.
fn admin_key(cfg: &LoadedConfig, env: &dyn Fn(&str) -> Option<String>) -> Result<String, ConfigError> {
    let admin = cfg.raw.admin.as_ref();
    let key_env = admin.and_then(|a| a.key_env.as_deref()).unwrap_or(DEFAULT_KEY_ENV);
    required_secret(cfg, env, ("admin.key_env", key_env), "the admin key", "characters")
}

/// The HMAC key of fleet change notices from `fleet.secret_env` (at least 16 bytes), or
/// `None` without a `fleet` section.
pub fn fleet_secret(cfg: &LoadedConfig, env: &dyn Fn(&str) -> Option<String>) -> Result<Option<Vec<u8>>, ConfigError> {
    let Some(fleet) = cfg.raw.fleet.as_ref() else {
        return Ok(None);
    };
    let var = ("fleet.secret_env", fleet.secret_env.as_str());
    required_secret(cfg, env, var, "the fleet's notice key", "bytes").map(|s| Some(s.into_bytes()))
}

/// A secret from the environment variable `var.1` (named at YAML path `var.0`): set, not
/// empty, and at least 16 `unit`s long; otherwise an `Environment` error saying `what` it is.
fn required_secret(
    cfg: &LoadedConfig,
    env: &dyn Fn(&str) -> Option<String>,
    (path, name): (&str, &str),
    what: &str,
    unit: &str,
) -> Result<String, ConfigError> {
    let Some(value) = env(name).filter(|v| !v.is_empty()) else {
        let message = format!("the environment variable {name} holding {what} is not set");
        return Err(cfg.error(ConfigErrorKind::Environment, path, message));
    };
    if value.len() < 16 {
        let message = format!("{what} in {name} must be at least 16 {unit}");
        return Err(cfg.error(ConfigErrorKind::Environment, path, message));
    }
    Ok(value)
}

/// The key-encryption secret from `admin.secret_env`, when set.
fn secret(cfg: &LoadedConfig, env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let name = cfg
        .raw
        .admin
        .as_ref()
        .and_then(|a| a.secret_env.as_deref())
        .unwrap_or(DEFAULT_SECRET_ENV);
    env(name).filter(|s| !s.is_empty())
}
