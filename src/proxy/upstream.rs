//! Building the Pingora peer for a request's target, and checking an upstream connection
//! (pins, IP names) before any request byte is sent on it.

use std::net::IpAddr;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use pingora::protocols::Digest;
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorType, OrErr};

use super::resolve::{Resolved, Resolver};
use super::respond::PIN_MISMATCH;
use crate::config::UpstreamProtocol;
use crate::policy::upstream::UpstreamChain;
use crate::snapshot::upstream::Target;
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
    let resolved = resolver
        .resolve(&target.dial_key, host, port)
        .await
        .or_err_with(ErrorType::ConnectError, || format!("cannot resolve {host}"))
        .map_err(|mut e: Box<Error>| {
            e.esource = pingora::ErrorSource::Upstream;
            e
        })?;
    let addr = resolved.pick(attempt);
    let sni = target.tls.as_ref().map(|t| t.sni.clone()).unwrap_or_default();
    let mut peer = HttpPeer::new(addr, target.is_tls, sni);
    if let Some(tls) = &target.tls {
        peer.options.verify_cert = tls.verify;
        peer.options.verify_hostname = tls.verify && tls.ip.is_none();
        peer.options.ca = tls.ca.clone();
        peer.client_cert_key = tls.client_cert.as_ref().map(|c| c.1.clone());
        peer.group_key = tls.group_key;
        if tls.pins.is_some() || (tls.verify && tls.ip.is_some()) {
            peer.options.upstream_tls_handshake_complete_hook = Some(CHAIN_HOOK.clone());
        }
    }
    set_protocol(&mut peer, up.protocol, up.h2_max_streams);
    peer.options.connection_timeout = Some(up.connect_timeout);
    peer.options.total_connection_timeout = Some(up.connect_timeout);
    peer.options.read_timeout = Some(up.read_timeout);
    peer.options.idle_timeout = Some(POOL_IDLE);
    Ok((Box::new(peer), resolved))
}

/// Sets the HTTP versions the peer may speak, and keeps connections of different protocol
/// settings apart in Pingora's pool: its pool key does not include the ALPN choice, so the
/// protocol is folded into the group key (which it does include), next to the pins.
fn set_protocol(peer: &mut HttpPeer, protocol: UpstreamProtocol, h2_max_streams: usize) {
    let (max, min, tag) = match protocol {
        UpstreamProtocol::Http1 => (1, 1, 0x11),
        UpstreamProtocol::H2 => (2, 2, 0x22),
        UpstreamProtocol::H2c => (2, 2, 0x2c),
        UpstreamProtocol::Auto => (2, 1, 0x21),
    };
    peer.options.set_http_version(max, min);
    if max == 2 {
        peer.options.max_h2_streams = h2_max_streams;
    }
    peer.group_key ^= tag << 56;
}

/// Checks an upstream connection (new or reused) against the target's pins and, for IP
/// targets, the leaf's IP names. Errors surface as 502s.
pub fn check_connection(target: &Target, digest: Option<&Digest>) -> pingora::Result<()> {
    let Some(tls) = &target.tls else { return Ok(()) };
    if tls.pins.is_none() && !(tls.verify && tls.ip.is_some()) {
        return Ok(());
    }
    let chain = digest
        .and_then(|d| d.ssl_digest.as_ref())
        .and_then(|s| s.extension.get::<UpstreamChain>());
    let Some(chain) = chain else {
        return Error::e_explain(
            PIN_MISMATCH,
            "no certificate chain recorded for this upstream connection",
        )
        .map_err(|e| e.into_up());
    };
    if tls.verify && tls.ip.is_some_and(|ip| !chain.names_ip(ip)) {
        return Error::e_explain(
            ErrorType::InvalidCert,
            format!("the upstream certificate does not name {}", target.host),
        )
        .map_err(|e| e.into_up());
    }
    if let Some(pins) = &tls.pins {
        if crate::policy::upstream::pin::check(pins, chain).is_err() {
            return Error::e_explain(PIN_MISMATCH, format!("no pinned key in the chain of {}", target.host))
                .map_err(|e| e.into_up());
        }
    }
    Ok(())
}

/// The handshake hook every checked upstream connection gets (one, shared: cloning it is a
/// reference count, not an allocation per request). It records the SPKI hashes that count
/// for pinning (the verified chain when verification is on, the leaf alone when it is off)
/// and the leaf's IP names; [`check_connection`] decides on them.
static CHAIN_HOOK: LazyLock<pingora::protocols::tls::HandshakeCompleteHook> = LazyLock::new(|| {
    Arc::new(|ssl| {
        use crate::certs::spki_sha256;
        use openssl::ssl::SslVerifyMode;
        let spki = |c: &openssl::x509::X509Ref| {
            c.public_key()
                .and_then(|k| k.public_key_to_der())
                .ok()
                .map(|d| spki_sha256(&d))
        };
        let mut chain = UpstreamChain::default();
        let verified = ssl.verify_mode().contains(SslVerifyMode::PEER);
        match (verified, ssl.verified_chain()) {
            (true, Some(vc)) => chain.spki.extend(vc.iter().filter_map(spki)),
            (true, None) => {}
            (false, _) => chain.spki.extend(ssl.peer_certificate().as_deref().and_then(spki)),
        }
        if let Some(names) = ssl.peer_certificate().and_then(|c| c.subject_alt_names()) {
            chain
                .leaf_ips
                .extend(names.iter().filter_map(|n| ip_of(n.ipaddress()?)));
        }
        Some(Arc::new(chain))
    })
});

/// An `iPAddress` name's octets as an address (4 or 16 bytes; anything else is no address).
fn ip_of(octets: &[u8]) -> Option<IpAddr> {
    match octets.len() {
        4 => Some(IpAddr::from(<[u8; 4]>::try_from(octets).ok()?)),
        16 => Some(IpAddr::from(<[u8; 16]>::try_from(octets).ok()?)),
        _ => None,
    }
}
