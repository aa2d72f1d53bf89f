//! `certgate fleet seed -c FILE` (SPEC §9): copies the control plane under `admin.data_dir`
//! (a single-node state, or a member's local copy when Redis lost its data) into an empty
//! namespace, which it refuses to overwrite.

use std::path::Path;

use super::member::Member;
use super::store::FleetError;
use crate::admin::{ControlStore, SqliteStore};
use crate::config;

/// What a seed copied.
#[derive(Debug)]
pub struct Seeded {
    /// The namespace.
    pub namespace: String,
    /// Records copied.
    pub records: usize,
}

/// Seeds the fleet `config` names from its `admin.data_dir`. `env` reads the environment.
pub fn seed(config: &Path, env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<Seeded> {
    let cfg = config::load(config).map_err(|e| anyhow::anyhow!("{e}"))?;
    let Some(admin) = cfg.raw.admin.as_ref() else {
        anyhow::bail!("{}: no `admin` section: nothing to seed from", config.display());
    };
    let notice_key = crate::admin::fleet_secret(&cfg, env)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .ok_or_else(|| anyhow::anyhow!("{}: no `fleet` section: nothing to seed into", config.display()))?;
    let data_dir = cfg.resolve_path(admin.data_dir.as_deref().unwrap_or("data"));
    let Some(local) = SqliteStore::open_existing_read_only(&data_dir)? else {
        anyhow::bail!(
            "{}: no control plane here (certgate.db) to seed from",
            data_dir.display()
        );
    };
    let records = local.load_all()?;
    let salt = local.meta_get("kdf_salt")?;
    drop(local);
    let member = Member::open(&cfg, notice_key)?;
    let namespace = member.store.name().to_string();
    match member.store.seed(&records, salt.as_deref()) {
        Ok(_) => {}
        Err(FleetError::NotEmpty(_)) => anyhow::bail!(
            "namespace `{namespace}` on {} is not empty: seeding only fills an empty one",
            cfg.raw.fleet.as_ref().map(|f| f.redis_url.as_str()).unwrap_or("")
        ),
        Err(e) => return Err(e.into()),
    }
    // This directory is now a copy of the fleet at its first revision.
    let at = member.store.position()?;
    let local = SqliteStore::open(&data_dir)?;
    local.apply_with_meta(&[], &super::follow::position_meta(&at))?;
    Ok(Seeded {
        namespace,
        records: records.len(),
    })
}
