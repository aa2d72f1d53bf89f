//! Process wiring: the Pingora server and its services (proxy, metrics, admin, store sync,
//! SIGHUP), and stopping.

mod shutdown;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use log::info;
use pingora::apps::http_app::HttpServer;
use pingora::apps::HttpServerOptions;
use pingora::listeners::tls::TlsSettings;
use pingora::listeners::{L4BufferSettings, ListenerConfig};
use pingora::server::configuration::{Opt, ServerConf};
use pingora::server::Server;
use pingora::services::background::background_service;
use pingora::services::listening::Service;

use crate::admin::{AdminApp, ControlPlane, StoreSync};
use crate::certs::PemCache;
use crate::config::{self, ConfigErrors};
use crate::metrics::{Metrics, MetricsApp};
use crate::proxy::{Gateway, GuardedApp, Inflight};
use crate::publish::{Publisher, Reloader};
use crate::snapshot::{compile_with, Overlay, Snapshot};
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

/// Fails at once, naming the listener, when another process already listens on one of the
/// configured addresses. (Pingora would retry the bind every second for 30 s and then stop
/// only that service, leaving certgate up without the listener.) Not in `--upgrade` mode,
/// where the old process holds the sockets and hands them over.
fn ports_are_free(listen: &crate::snapshot::ListenSettings) -> anyhow::Result<()> {
    let named = [
        ("listen.https", listen.https),
        ("listen.http", listen.http),
        ("listen.metrics", listen.metrics),
        ("listen.admin", listen.admin),
    ];
    for (name, addr) in named {
        let Some(addr) = addr else { continue };
        // std binds with SO_REUSEADDR, as Pingora does: only a live listener refuses it.
        if let Err(e) = std::net::TcpListener::bind(addr) {
            anyhow::bail!("{name}: cannot listen on {addr}: {e}");
        }
    }
    Ok(())
}

/// Loads and compiles a config file (what `certgate check` does), reusing the PEM files
/// `cache` parsed before when they have not changed.
pub fn load_snapshot(path: &Path, generation: u64, cache: &PemCache) -> Result<Snapshot, ConfigErrors> {
    let loaded = config::load(path)?;
    compile_with(&loaded, generation, cache, &Overlay::default())
}

/// `certgate check`: everything `run` validates before it serves, short of binding its
/// sockets: the YAML and every file it names, the listeners, the admin key and the stored
/// control-plane state compiled together with the YAML. Reads `env` for the environment.
pub fn check(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Snapshot, ConfigErrors> {
    let loaded = config::load(path)?;
    let yaml_only = compile_with(&loaded, 1, &PemCache::default(), &Overlay::default());
    let overlay = ControlPlane::preflight(&loaded, env);
    match (yaml_only, overlay) {
        (Err(mut a), Err(b)) => {
            a.0.extend(b.0);
            Err(a)
        }
        (Err(e), Ok(_)) | (Ok(_), Err(e)) => Err(e),
        (Ok(snap), Ok(overlay)) if overlay.is_empty() => Ok(snap),
        (Ok(_), Ok(overlay)) => compile_with(&loaded, 1, &PemCache::default(), &overlay),
    }
}

/// No Pingora read buffer under downstream TLS: Pingora's (64 KiB, allocated zeroed) stays
/// with every idle connection. OpenSSL reads ahead instead, into a buffer it gives back
/// while the connection is idle (see `tls::tls_settings`), so a record still takes one read.
const DOWNSTREAM_READ_BUFFER: usize = 0;

/// The downstream HTTPS listener at `addr` with `settings`, and no Pingora read buffer
/// (`DOWNSTREAM_READ_BUFFER`: OpenSSL reads ahead instead).
pub fn https_listener(addr: &str, settings: TlsSettings) -> ListenerConfig {
    ListenerConfig::tcp(addr).tls(settings).l4_buffer(L4BufferSettings {
        read: Some(DOWNSTREAM_READ_BUFFER),
        write: None,
    })
}

/// The proxy with the client-connection limits: HTTP/1 connections guarded (head time and
/// size, idle time), HTTP/2 connections bounded by their settings.
pub fn guarded_proxy(
    conf: &Arc<ServerConf>,
    gateway: Gateway,
    limits: &crate::snapshot::ConnLimits,
) -> GuardedApp<pingora::proxy::HttpProxy<Gateway>> {
    let inflight = gateway.inflight().clone();
    let mut proxy = pingora::proxy::http_proxy(conf, gateway);
    let mut options = HttpServerOptions::default();
    options.h2_idle_timeout = Some(limits.keepalive_timeout);
    // HTTP/2 with prior knowledge on cleartext listeners (TLS ones choose by ALPN); the
    // guard has read the first bytes already (`proxy::h2c`).
    options.h2c = true;
    proxy.server_options = Some(options);
    let mut h2 = pingora::protocols::http::v2::server::default_h2_options();
    h2.max_header_list_size(limits.max_header_bytes as u32);
    proxy.h2_options = Some(h2);
    GuardedApp::new(proxy, *limits, inflight)
}

/// Runs the gateway until it is told to stop. `hup` is the SIGHUP flag installed at the very
/// start of the process, so that no SIGHUP can kill certgate once it runs.
pub fn run(opts: RunOptions, hup: Arc<AtomicBool>) -> anyhow::Result<()> {
    let metrics = Arc::new(Metrics::new());
    let first = config::load(&opts.config).map_err(|e| anyhow::anyhow!("{e}"))?;
    // The control plane opens first: its state is part of generation 1.
    let control = match &first.raw.admin {
        Some(_) => Some(Arc::new(
            ControlPlane::open(&first, &|name| std::env::var(name).ok()).map_err(|e| anyhow::anyhow!("{e}"))?,
        )),
        None => None,
    };
    let source = match &control {
        Some(c) => c.source(),
        None => Arc::new(crate::snapshot::Overlay::default()),
    };
    let publisher = Arc::new(Publisher::start(first, source, metrics.clone()).map_err(|e| anyhow::anyhow!("{e}"))?);
    if let Some(c) = &control {
        c.attach(publisher.clone());
    }
    let store = publisher.store().clone();
    let snap = store.load_full();
    let listen = snap.listen.clone();
    let admin_tls = snap.admin_allow.is_some();
    drop(snap);
    if !opts.upgrade {
        ports_are_free(&listen)?;
    }

    let threads = if listen.threads == 0 {
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    } else {
        listen.threads
    };
    let conf = ServerConf {
        threads,
        grace_period_seconds: Some(listen.shutdown_grace_seconds),
        graceful_shutdown_timeout_seconds: Some(1),
        // One thread: a current-thread runtime is measurably cheaper per request. Several
        // threads: keep work stealing, because Pingora's upstream pool hands an idle
        // connection between per-thread runtimes racily (its idle watcher still holds the
        // connection for a moment), so without stealing reuse often misses and certgate
        // opens extra upstream TLS connections.
        work_stealing: threads > 1,
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
        ..Opt::default()
    };
    let mut server = Server::new_with_opt_and_conf(opt, conf);
    server.bootstrap();

    let inflight = Inflight::default();
    let grace = Duration::from_secs(listen.shutdown_grace_seconds);
    shutdown::exit_when_drained(server.watch_execution_phase(), inflight.clone(), grace).context("drain watcher")?;
    let gateway = Gateway::new(store.clone(), metrics.clone(), inflight, listen.limits);
    let mut proxy = Service::new(
        "certgate".to_string(),
        guarded_proxy(&server.configuration, gateway, &listen.limits),
    );
    if let Some(addr) = listen.https {
        let settings = tls_settings(DownstreamTls::new(store.clone(), metrics.clone()), &listen.handshake)
            .context("TLS listener settings")?;
        proxy.add_listener(https_listener(&addr.to_string(), settings));
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
    if let (Some(addr), Some(cp)) = (listen.admin, &control) {
        let mut svc = Service::new(
            "admin".to_string(),
            HttpServer::new_app(AdminApp::new(cp.clone(), store.clone())),
        );
        if admin_tls {
            let settings = tls_settings(DownstreamTls::new(store.clone(), metrics.clone()), &listen.handshake)
                .context("admin TLS settings")?;
            svc.add_tls_with_settings(&addr.to_string(), None, settings);
        } else {
            svc.add_tcp(&addr.to_string());
        }
        server.add_service(svc);
    }
    if let Some(cp) = &control {
        if listen.admin.is_some() || cp.is_fleet_member() {
            let interval = publisher
                .config()
                .raw
                .admin
                .as_ref()
                .map(|a| a.sync_interval_seconds)
                .unwrap_or(5)
                .max(1);
            server.add_service(background_service(
                "store sync",
                StoreSync::new(cp.clone(), Duration::from_secs(interval)),
            ));
        }
        if cp.is_fleet_member() {
            let cp = cp.clone();
            std::thread::Builder::new()
                .name("fleet".into())
                .spawn(move || crate::admin::fleet::follow(cp))
                .context("fleet thread")?;
        }
    }
    let reload = publisher.config().raw.reload;
    if reload.watch {
        let debounce = Duration::from_millis(reload.debounce_ms);
        crate::publish::watch::start(publisher.clone(), debounce).context("reload.watch")?;
        info!("event=reload_watch_started debounce_ms={}", reload.debounce_ms);
    }
    server.add_service(background_service("reload", Reloader::new(publisher, hup)));
    info!(
        "event=started https={:?} http={:?} metrics={:?} admin={:?}",
        listen.https, listen.http, listen.metrics, listen.admin
    );
    server.run_forever();
}
