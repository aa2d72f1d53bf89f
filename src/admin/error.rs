//! What can go wrong below the admin API: the store, the key vault, the stored state, and
//! opening the control plane. The API maps these onto its JSON errors; `run` and `check`
//! print them.

use std::path::PathBuf;

use crate::certs::CertError;
use crate::config::ConfigError;

/// A [`super::store::ControlStore`] failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The data directory cannot be created.
    #[error("{}: cannot create: {source}", path.display())]
    Create {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The directory or a database file cannot be made private (0700 / 0600).
    #[error("{}: cannot restrict permissions: {source}", path.display())]
    Permissions {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The database file cannot be created or opened.
    #[error("{}: {source}", path.display())]
    Open {
        /// The database file.
        path: PathBuf,
        /// Why.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A query or transaction failed.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

/// A [`super::crypto::KeyVault`] failure. Never carries key material.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// `admin.secret_env` holds fewer than 16 bytes.
    #[error("the secret must be at least 16 bytes")]
    WeakSecret,
    /// OpenSSL failed to derive, draw randomness or encrypt.
    #[error("{0}")]
    Crypto(#[from] openssl::error::ErrorStack),
    /// The blob is not something [`super::crypto::KeyVault::seal`] wrote.
    #[error("not a sealed key")]
    NotSealed,
    /// The tag does not verify: another secret, or a tampered record.
    #[error("cannot decrypt a stored private key (wrong secret?)")]
    Decrypt,
}

/// A stored record that cannot be turned back into state.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The JSON body does not parse.
    #[error("stored {kind} {id} is unreadable: {source}")]
    Unreadable {
        /// Record kind.
        kind: String,
        /// Record ID.
        id: String,
        /// Why.
        source: serde_json::Error,
    },
    /// A stored key needs `admin.secret_env`, which is not set.
    #[error("certificate {0} has a stored private key but no admin.secret_env is set")]
    NoSecret(String),
    /// A stored key does not decrypt.
    #[error("certificate {id}: {source}")]
    Vault {
        /// The certificate ID.
        id: String,
        /// Why.
        source: VaultError,
    },
    /// A stored certificate does not parse.
    #[error(transparent)]
    Certificate(#[from] CertError),
    /// A stored CRL does not parse.
    #[error("stored CRL {id} is unreadable: {why}")]
    Crl {
        /// Record ID.
        id: String,
        /// Why.
        why: String,
    },
}

/// Why [`super::ControlPlane::open`] failed.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The config has no `admin` section.
    #[error("no `admin` section")]
    NoAdminSection,
    /// The admin key is unset or weak.
    #[error(transparent)]
    AdminKey(#[from] ConfigError),
    /// The store cannot be opened or read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The key-encryption secret cannot be used.
    #[error("admin.secret_env: {0}")]
    Secret(#[from] VaultError),
    /// The stored state does not load.
    #[error(transparent)]
    State(#[from] StateError),
    /// The fleet's Redis client cannot be set up (not an outage: those are served through).
    #[error("fleet: {0}")]
    Fleet(String),
    /// `admin.data_dir` holds a single-node control plane, which joining a fleet would drop.
    #[error("{}: holds a single-node control plane ({records} records); copy it into the fleet with `certgate fleet seed -c FILE` first, or move it away", dir.display())]
    SingleNodeState {
        /// The data directory.
        dir: PathBuf,
        /// How many records it holds.
        records: usize,
    },
}
