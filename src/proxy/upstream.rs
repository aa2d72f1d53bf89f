//! Building the Pingora peer for a request's target.

use std::sync::Arc;
use std::time::Duration;

use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorType, OrErr};

use super::resolve::{Resolved, Resolver};
use crate::snapshot::Api;

/// How long an idle pooled upstream connection is kept.
const POOL_IDLE: Duration = Duration::from_secs(60);

/// The peer for `api`'s target `index`, on the `attempt`-th address try.
pub async fn peer_for(
    api: &Api,
    index: usize,
    attempt: usize,
    resolver: &Resolver,
) -> pingora::Result<(Box<HttpPeer>, Arc<Resolved>)> {
    let up = &api.upstream;
    let target = &up.targets[index];
    let (host, port) = match &up.connect_to {
        Some((h, p)) => (h.as_str(), *p),
        None => (target.host.as_str(), target.port),
    };
    let key = format!("{host}:{port}");
    let resolved = resolver
        .resolve(&key, host, port)
        .await
        .or_err_with(ErrorType::ConnectError, || format!("cannot resolve {host}"))
        .map_err(|mut e: Box<Error>| {
            e.esource = pingora::ErrorSource::Upstream;
            e
        })?;
    let addr = resolved.pick(attempt);
    let sni = up.sni.clone().unwrap_or_else(|| target.host.clone());
    let mut peer = HttpPeer::new(addr, target.tls, sni);
    peer.options.connection_timeout = Some(up.connect_timeout);
    peer.options.total_connection_timeout = Some(up.connect_timeout);
    peer.options.read_timeout = Some(up.read_timeout);
    peer.options.idle_timeout = Some(POOL_IDLE);
    Ok((Box::new(peer), resolved))
}
