//! Process wiring: the Pingora server, its services, and configuration reloads.

mod reload;
mod shutdown;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::Context;
use log::{info, warn};
use pingora::apps::http_app::HttpServer;
use pingora::proxy::http_proxy_service_with_name;
use pingora::server::configuration::{Opt, ServerConf};
use pingora::server::Server;
use pingora::services::background::background_service;
use pingora::services::listening::Service;

pub use reload::{reload_once, ReloadOutcome, Reloader};

use crate::certs::PemCache;
use crate::config::{self, ConfigErrors};
use crate::metrics::{Metrics, MetricsApp};
use crate::proxy::{Gateway, Inflight};
use crate::snapshot::{compile_with, Snapshot, SnapshotStore};
use crate::tls::{tls_settings, DownstreamTls};

/// How `certgate run` was started.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// The YAML config.
    pub config: PathBuf,
    /// Take the listening sockets over from a running certgate (graceful upgrade).
    pub upgrade: bool,
    /// Where the upgrade socket lives (shared by old and new process).
    pub upgrade_sock: Option<PathBuf>,
}

/// Loads and compiles a config file (what `certgate check` and every reload do), reusing
/// the PEM files `cache` parsed before when they have not changed.
pub fn load_snapshot(path: &Path, generation: u64, cache: &PemCache) -> Result<Snapshot, ConfigErrors> {
    let loaded = config::load(path)?;
    compile_with(&loaded, generation, cache, Vec::new())
}

/// Logs a snapshot's warnings.
pub fn log_warnings(snap: &Snapshot) {
    for w in &snap.warnings {
        warn!("event=config_warning generation={} message=\"{w}\"", snap.generation);
    }
}

/// Runs the gateway until it is told to stop. `hup` is the SIGHUP flag installed at the very
/// start of the process, so that no SIGHUP can kill certgate once it runs.
pub fn run(opts: RunOptions, hup: Arc<AtomicBool>) -> anyhow::Result<()> {
    let cache = Arc::new(PemCache::default());
    let snap = load_snapshot(&opts.config, 1, &cache).map_err(|e| anyhow::anyhow!("{e}"))?;
    log_warnings(&snap);
    let listen = snap.listen.clone();
    let metrics = Arc::new(Metrics::new());
    metrics.reload(true);
    metrics.set_certificates(&snap.certificates);
    info!(
        "event=config_loaded generation=1 apis={} tokens={} store_certificates={} allow_entries={}",
        snap.stats.apis, snap.stats.tokens, snap.stats.store_certificates, snap.stats.allow_entries
    );
    let store = Arc::new(SnapshotStore::new(snap));

    let conf = ServerConf {
        threads: if listen.threads == 0 {
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
        } else {
            listen.threads
        },
        grace_period_seconds: Some(listen.shutdown_grace_seconds),
        graceful_shutdown_timeout_seconds: Some(1),
        upgrade_sock: opts
            .upgrade_sock
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "/tmp/certgate_upgrade.sock".into()),
        pid_file: "/tmp/certgate.pid".into(),
        ..ServerConf::default()
    };
    let opt = Opt {
        upgrade: opts.upgrade,
        daemon: false,
        nocapture: false,
        test: false,
        conf: None,
    };
    let mut server = Server::new_with_opt_and_conf(opt, conf);
    server.bootstrap();

    let inflight = Inflight::default();
    let grace = std::time::Duration::from_secs(listen.shutdown_grace_seconds);
    shutdown::exit_when_drained(server.watch_execution_phase(), inflight.clone(), grace).context("drain watcher")?;
    let gateway = Gateway::new(store.clone(), metrics.clone(), inflight);
    let mut proxy = http_proxy_service_with_name(&server.configuration, gateway, "certgate");
    if let Some(addr) = listen.https {
        let settings =
            tls_settings(DownstreamTls::new(store.clone(), metrics.clone())).context("TLS listener settings")?;
        proxy.add_tls_with_settings(&addr.to_string(), None, settings);
    }
    if let Some(addr) = listen.http {
        proxy.add_tcp(&addr.to_string());
    }
    server.add_service(proxy);

    if let Some(addr) = listen.metrics {
        let mut svc = Service::new(
            "metrics".to_string(),
            HttpServer::new_app(MetricsApp::new(metrics.clone())),
        );
        svc.add_tcp(&addr.to_string());
        server.add_service(svc);
    }
    server.add_service(background_service(
        "reload",
        Reloader::new(opts.config.clone(), store, metrics, hup, cache),
    ));
    info!(
        "event=started https={:?} http={:?} metrics={:?}",
        listen.https, listen.http, listen.metrics
    );
    server.run_forever();
}
