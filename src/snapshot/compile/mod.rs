//! `RawConfig` → [`Snapshot`]. The only validator beyond serde: collects every error (with
//! its YAML path and line) instead of stopping at the first.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

mod allow;
mod apis;
mod auth;
mod files;
mod fleet;
mod listen;
mod revocation;
mod server_tls;
mod tokens;
mod upstream;

use super::{CertGauge, Compiled, ControlLayer, Overlay, Snapshot, SnapshotStats};
use crate::certs::{CertId, CertStore, DigestSet, Files, LoadedCert, PemCache};
use crate::config::{ConfigError, ConfigErrorKind, ConfigErrors, LoadedConfig};

/// Compiles a loaded config, reading the certificate store directory and every file it names.
pub fn compile(cfg: &LoadedConfig, generation: u64) -> Result<Snapshot, ConfigErrors> {
    compile_with(cfg, generation, &PemCache::default(), &Overlay::default())
}

/// Like [`compile`], reusing the PEM files `cache` parsed on earlier loads, and merging the
/// control plane's `overlay` (its certificates join the store, its CA entries the CA sets,
/// and its entries make the snapshot's [`ControlLayer`]).
pub fn compile_with(
    cfg: &LoadedConfig,
    generation: u64,
    cache: &PemCache,
    overlay: &Overlay,
) -> Result<Snapshot, ConfigErrors> {
    let files = Files::disk(cache);
    let snap = compile_from(cfg, generation, &files, overlay);
    cache.retain_read(&files.into_recorded());
    snap
}

/// Like [`compile_with`], reading every file through `files`: the disk (recording what it
/// read), or what an earlier load recorded (see [`Files`]).
pub fn compile_from(
    cfg: &LoadedConfig,
    generation: u64,
    files: &Files<'_>,
    overlay: &Overlay,
) -> Result<Snapshot, ConfigErrors> {
    let mut c = Compiler::new(cfg, crate::clock::now_unix(), files, overlay);
    c.load_store(overlay.certificates.clone());
    let listen = c.listen();
    let server = c.server_identities();
    let (gateway_leaves, gateway_cas) = c.gateway_allow_list();
    let mut ca_sets = HashMap::new();
    let gateway_upstream = c.gateway_upstream();
    let (apis, routes) = c.apis(&gateway_cas, &mut ca_sets, &gateway_upstream);
    let tokens = c.tokens(&apis);
    let admin_allow = c.admin_allow();
    let revocation = Arc::new(c.revocation());
    let ingress = c.trusted_ingress();
    c.fleet();
    let allow_entries = gateway_leaves.len() + apis.iter().map(|a| a.auth.allow.leaves.len()).sum::<usize>();
    if !c.errors.is_empty() {
        return Err(ConfigErrors(c.errors));
    }
    let mut certificates: Vec<CertGauge> = c.gauges.into_iter().collect();
    certificates.sort();
    let mut compiled = Compiled {
        listen: listen.expect("listen has no errors"),
        client_auth: cfg.raw.tls.as_ref().map(|t| t.client_auth).unwrap_or_default(),
        server,
        routes,
        stats: SnapshotStats {
            apis: apis.len(),
            tokens: tokens.len(),
            store_certificates: c.store.len(),
            allow_entries,
        },
        apis: apis.into(),
        tokens,
        gateway_leaves,
        admin_allow,
        certificates,
        referenced: c.referenced,
        revocation,
        ingress,
        logging: cfg.raw.logging,
        warnings: c.warnings,
    };
    let (control, warnings) = ControlLayer::build(&overlay.entries, &compiled.api_names());
    compiled.warnings.extend(warnings);
    Ok(Snapshot {
        generation,
        compiled: Arc::new(compiled),
        control: Arc::new(control),
    })
}

/// Certificates expiring sooner than this are warned about at every load.
pub const EXPIRY_WARNING_DAYS: i64 = 30;

/// The state of one compile: the config, what was read, and every error and warning so
/// far. Each section of the config is compiled by the submodule named after it.
struct Compiler<'a> {
    cfg: &'a LoadedConfig,
    now: i64,
    errors: Vec<ConfigError>,
    warnings: Vec<String>,
    store: CertStore,
    cert_files: HashMap<PathBuf, Result<Arc<LoadedCert>, (ConfigErrorKind, String)>>,
    io: &'a Files<'a>,
    overlay: &'a Overlay,
    gauges: BTreeSet<CertGauge>,
    warned_expired: BTreeSet<CertId>,
    referenced: DigestSet<CertId>,
}

impl<'a> Compiler<'a> {
    fn new(cfg: &'a LoadedConfig, now: i64, io: &'a Files<'a>, overlay: &'a Overlay) -> Self {
        Compiler {
            cfg,
            now,
            errors: Vec::new(),
            warnings: Vec::new(),
            store: CertStore::default(),
            cert_files: HashMap::new(),
            io,
            overlay,
            gauges: BTreeSet::new(),
            warned_expired: BTreeSet::new(),
            referenced: DigestSet::default(),
        }
    }

    /// Records an error of `kind` at `path`.
    fn error(&mut self, kind: ConfigErrorKind, path: &str, message: impl Into<String>) {
        self.errors.push(self.cfg.error(kind, path, message));
    }

    /// The number of errors so far: a checkpoint for [`Self::failed_since`].
    fn mark(&self) -> usize {
        self.errors.len()
    }

    /// Whether an error was recorded since `mark`.
    fn failed_since(&self, mark: usize) -> bool {
        self.errors.len() > mark
    }
}
