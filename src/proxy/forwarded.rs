//! Client certificates a trusted load balancer forwards in a header (SPEC §12): the
//! ingress headers are taken off every request; from a peer in `listen.trusted_ingress`
//! the certificate in them becomes the request's identity (and its own TLS connection's
//! does not count), from any other peer they are dropped unread.

use std::net::IpAddr;
use std::sync::Arc;

use dashmap::DashMap;
use pingora::http::RequestHeader;
use sha2::{Digest, Sha256};

use crate::policy::PeerCert;
use crate::request::forwarded::{parse, ForwardedError};
use crate::request::headers::take_spellings;
use crate::snapshot::ingress::TrustedIngress;

/// Most distinct forwarded certificates kept parsed (with their verdict caches); the map is
/// emptied when it is full.
const MAX_CACHED: usize = 10_000;

/// What the ingress headers of one request said.
pub struct Taken {
    /// The TCP peer is the trusted ingress: the request is decided on `peer` alone.
    pub trusted: bool,
    /// An ingress header was present (read when trusted, dropped otherwise).
    pub carried: bool,
    /// For a trusted peer, the forwarded certificate (`None`: the client sent none).
    pub peer: Result<Option<Arc<PeerCert>>, ForwardedError>,
}

/// Parsed forwarded certificates by the SHA-256 of the header values that carried them,
/// so a load balancer's keep-alive connection carrying many clients parses and verifies
/// each client's chain once, not per request.
#[derive(Default)]
pub struct ForwardedPeers {
    parsed: DashMap<[u8; 32], Arc<PeerCert>>,
}

impl ForwardedPeers {
    /// Takes the ingress headers off `req` and reads them when `peer_ip` is trusted.
    pub fn take(&self, ingress: Option<&TrustedIngress>, req: &mut RequestHeader, peer_ip: Option<IpAddr>) -> Taken {
        let Some(ingress) = ingress else {
            return Taken {
                trusted: false,
                carried: false,
                peer: Ok(None),
            };
        };
        let cert = take_spellings(req, &ingress.header);
        let chain = match &ingress.chain_header {
            Some(h) => take_spellings(req, h),
            None => Vec::new(),
        };
        let carried = !cert.is_empty() || !chain.is_empty();
        let trusted = peer_ip.is_some_and(|ip| ingress.trusts(ip));
        let peer = if !trusted || cert.is_empty() {
            Ok(None)
        } else if cert.len() > 1 || chain.len() > 1 {
            // Two values: which one counts would depend on who reads them.
            Err(ForwardedError::Syntax("a single header value"))
        } else {
            self.peer(ingress, cert[0].as_bytes(), chain.first().map(|c| c.as_bytes()))
        };
        Taken { trusted, carried, peer }
    }

    fn peer(
        &self,
        ingress: &TrustedIngress,
        cert: &[u8],
        chain: Option<&[u8]>,
    ) -> Result<Option<Arc<PeerCert>>, ForwardedError> {
        let mut h = Sha256::new();
        h.update([ingress.format as u8]);
        h.update((cert.len() as u64).to_be_bytes());
        h.update(cert);
        h.update(chain.unwrap_or_default());
        let key: [u8; 32] = h.finalize().into();
        if let Some(p) = self.parsed.get(&key) {
            return Ok(Some(p.clone()));
        }
        let Some(fwd) = parse(ingress.format, cert, chain)? else {
            return Ok(None);
        };
        let peer = Arc::new(PeerCert::new(fwd.leaf, fwd.chain).map_err(|_| ForwardedError::Certificate)?);
        if self.parsed.len() >= MAX_CACHED {
            self.parsed.clear();
        }
        self.parsed.insert(key, peer.clone());
        Ok(Some(peer))
    }
}
