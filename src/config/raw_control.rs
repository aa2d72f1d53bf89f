//! Serde structs of the control-plane sections: `admin:` (SPEC §8) and `fleet:` (SPEC §9).

use serde::Deserialize;

/// `admin:`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Admin {
    /// Environment variable holding the admin bearer key.
    #[serde(default)]
    pub key_env: Option<String>,
    /// Environment variable holding the secret that encrypts stored private keys.
    #[serde(default)]
    pub secret_env: Option<String>,
    /// Directory of the control-plane state (SQLite, WAL).
    #[serde(default)]
    pub data_dir: Option<String>,
    /// When set, the admin listener speaks TLS (with the `tls` identities) and only clients
    /// presenting one of these certificates (leaf or issuing CA references) may call it.
    #[serde(default)]
    pub client_certificates: Vec<String>,
    /// How often `certificate_store.dir` is compared with the control plane's records
    /// (default 5 seconds).
    #[serde(default = "default_sync_interval")]
    pub sync_interval_seconds: u64,
}

/// `fleet:`: Redis as the shared source of truth of the control plane.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fleet {
    /// `redis://host:port/db`, `rediss://…` (TLS) or `unix:///path/to.sock`.
    pub redis_url: String,
    /// Namespace: every key lives under `certgate:{<name>}:` (default `default`).
    #[serde(default = "default_fleet_name")]
    pub name: String,
    /// Environment variable holding the HMAC key of change notices (>= 16 bytes).
    #[serde(default = "default_fleet_secret_env")]
    pub secret_env: String,
    /// TLS to Redis (`rediss://`): the CA to trust and a client certificate to present.
    #[serde(default)]
    pub tls: Option<FleetTls>,
}

/// `fleet.tls:`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetTls {
    /// PEM bundle of the CAs that may issue Redis's certificate (default: the system store).
    #[serde(default)]
    pub ca: Option<String>,
    /// PEM holding the client certificate and its private key, presented to Redis.
    #[serde(default)]
    pub certificate: Option<String>,
}

fn default_sync_interval() -> u64 {
    5
}

fn default_fleet_name() -> String {
    "default".into()
}

fn default_fleet_secret_env() -> String {
    "CERTGATE_FLEET_SECRET".into()
}
