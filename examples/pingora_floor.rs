//! The Pingora floor: what certgate's keep-alive proxying would cost with no per-request
//! logic of its own. Same Pingora, same listener TLS (certgate's `tls_settings`: server
//! certificate, client certificate request, session store, read-ahead) and the same
//! upstream TLS peer (client certificate, CA, SNI, pooled connections), built from a
//! certgate config; but no routing, allow list, token check, metrics, header or log.
//! `scripts/profile.sh` runs it next to certgate to show how much of certgate's cost per
//! request is Pingora's.
//!
//! ```text
//! cargo run --release --example pingora_floor -- CONFIG.yaml
//! ```
//!
//! It listens on the config's `listen.https` and sends every request to the first target of
//! the config's first API. A benchmarking aid, not a server.

#![allow(missing_docs)]

use std::net::ToSocketAddrs;
use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use pingora::proxy::{http_proxy_service_with_name, ProxyHttp, Session};
use pingora::server::configuration::{Opt, ServerConf};
use pingora::server::Server;
use pingora::upstreams::peer::HttpPeer;

use certgate::certs::PemCache;
use certgate::metrics::Metrics;
use certgate::server::{https_listener, load_snapshot};
use certgate::snapshot::SnapshotStore;
use certgate::tls::{tls_settings, DownstreamTls};

/// Proxies every request to one prebuilt peer.
struct Floor {
    peer: HttpPeer,
}

#[async_trait]
impl ProxyHttp for Floor {
    type CTX = ();

    fn init_downstream_modules(&self, _modules: &mut pingora::modules::http::HttpModules) {}

    fn new_ctx(&self) {}

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut ()) -> pingora::Result<Box<HttpPeer>> {
        Ok(Box::new(self.peer.clone()))
    }
}

fn main() -> anyhow::Result<()> {
    let path = std::env::args().nth(1).context("usage: pingora_floor CONFIG.yaml")?;
    let snap = load_snapshot(path.as_ref(), 1, &PemCache::default()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let api = snap.apis.first().context("the config has no API")?;
    let target = &api.upstream.targets[0];
    let addr = (target.host.as_str(), target.port)
        .to_socket_addrs()?
        .next()
        .context("upstream address")?;
    let mut peer = HttpPeer::new(addr, target.is_tls, target.host.clone());
    if let Some(tls) = &target.tls {
        peer.sni = tls.sni.clone();
        peer.options.verify_cert = tls.verify;
        peer.options.verify_hostname = tls.verify;
        peer.options.ca = tls.ca.clone();
        peer.client_cert_key = tls.client_cert.as_ref().map(|c| c.1.clone());
    }
    let listen = snap.listen.clone();
    let https = listen.https.context("the config has no listen.https")?;
    let handshake = listen.handshake.clone();
    let store = Arc::new(SnapshotStore::new(snap));

    let conf = ServerConf {
        threads: listen.threads.max(1),
        work_stealing: listen.threads > 1,
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(Opt::default(), conf);
    server.bootstrap();
    let mut proxy = http_proxy_service_with_name(&server.configuration, Floor { peer }, "pingora-floor");
    let settings = tls_settings(DownstreamTls::new(store, Arc::new(Metrics::new())), &handshake)?;
    proxy.add_listener(https_listener(&https.to_string(), settings));
    server.add_service(proxy);
    server.run_forever();
}
