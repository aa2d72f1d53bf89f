//! Compiled upstream targets of one API (SPEC §2 `upstream`, §4).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use openssl::x509::X509;
use pingora::utils::tls::CertKey;

use super::PinSet;
use crate::certs::CertId;
use crate::config::UpstreamProtocol;

/// One upstream target URL, parsed.
#[derive(Debug)]
pub struct Target {
    /// The URL as written (for logs).
    pub url: String,
    /// `https`?
    pub is_tls: bool,
    /// Host, lower case, IPv6 without brackets.
    pub host: String,
    /// Port (defaulted from the scheme).
    pub port: u16,
    /// The host when it is an IP literal (no DNS needed).
    pub ip: Option<IpAddr>,
    /// Path prefix from the URL, without a trailing `/` (empty for none).
    pub base_path: String,
    /// How TLS to this target is set up (https targets).
    pub tls: Option<UpstreamTls>,
    /// Identifies the target (its API's name and its URL) for state that outlives this
    /// snapshot (`proxy::health`); set by [`ApiUpstream::new`].
    pub key: u64,
    /// `host:port` that is dialled (the API's `connect_to` when set): the resolver's cache
    /// key, written once here instead of formatted per request. Set by [`ApiUpstream::new`].
    pub dial_key: String,
}

/// The TLS side of one target (SPEC §4), decided once at load time.
#[derive(Debug)]
pub struct UpstreamTls {
    /// SNI and verification name (never empty).
    pub sni: String,
    /// Verify the upstream's chain and name (false with `insecure_skip_verify`).
    pub verify: bool,
    /// Trust anchors; `None` = the system store.
    pub ca: Option<Arc<Box<[X509]>>>,
    /// A hash of the trust anchors (0 for the system store).
    pub ca_fingerprint: u64,
    /// The client certificate presented to this domain.
    pub client_cert: Option<(CertId, Arc<CertKey>)>,
    /// Pins for this domain.
    pub pins: Option<Arc<PinSet>>,
    /// The target host when it is an IP address, checked against the leaf's IP SANs.
    pub ip: Option<IpAddr>,
    /// Keeps pooled connections apart by everything above.
    pub group_key: u64,
}

/// Where and how one API's requests go.
#[derive(Debug)]
pub struct ApiUpstream {
    /// Round-robin targets (at least one).
    pub targets: Box<[Target]>,
    /// Identifies the API (its name) for state that outlives this snapshot.
    pub key: u64,
    /// SNI / verification name override.
    pub sni: Option<String>,
    /// Dial this `host:port` instead of each target's own address.
    pub connect_to: Option<(String, u16)>,
    /// TCP + TLS connect timeout.
    pub connect_timeout: Duration,
    /// Read timeout.
    pub read_timeout: Duration,
    /// The protocol spoken to the targets.
    pub protocol: UpstreamProtocol,
    /// Most concurrent streams on one HTTP/2 connection.
    pub h2_max_streams: usize,
    /// Set once a gRPC call was sent to this API over HTTP/1.1 (`protocol: http1`), so that
    /// the warning that its trailers cannot pass is logged once per generation, not per call.
    pub grpc_over_http1_warned: std::sync::atomic::AtomicBool,
}

// === impl Target ===

impl Target {
    /// Parses `http(s)://host[:port][/path]`.
    pub fn parse(url: &str) -> Result<Target, String> {
        let uri: http::Uri = url.parse().map_err(|e| format!("`{url}` is not a URL: {e}"))?;
        let tls = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            Some(other) => return Err(format!("`{url}`: scheme must be http or https, not {other}")),
            None => return Err(format!("`{url}`: missing scheme (http:// or https://)")),
        };
        let authority = uri.authority().ok_or_else(|| format!("`{url}`: missing host"))?;
        if authority.as_str().contains('@') {
            return Err(format!("`{url}`: credentials in upstream URLs are not supported"));
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        if host.is_empty() {
            return Err(format!("`{url}`: missing host"));
        }
        // `http` reports a port it cannot read as u16 as no port at all.
        let written_port = authority
            .as_str()
            .rsplit_once(']')
            .map_or(authority.as_str(), |(_, p)| p)
            .contains(':');
        if written_port && authority.port_u16().is_none_or(|p| p == 0) {
            return Err(format!("`{url}`: the port must be between 1 and 65535"));
        }
        let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
        if uri.query().is_some() {
            return Err(format!("`{url}`: a query string is not allowed in an upstream URL"));
        }
        let base_path = uri.path().trim_end_matches('/').to_string();
        if !base_path.is_empty() {
            match crate::request::path::normalize(&base_path) {
                Ok(n) if n == base_path && !base_path.contains(';') => {}
                _ => return Err(format!("`{url}`: the base path must be a normalised path (no `.` or `..` segments, `//`, `;` or encoded `/`)")),
            }
        }
        Ok(Target {
            url: url.to_string(),
            is_tls: tls,
            ip: host.parse().ok(),
            host,
            port,
            base_path,
            tls: None,
            key: 0,
            dial_key: String::new(),
        })
    }

    /// The domain key of SPEC §4: `host:port` as written in the URL.
    pub fn domain_key(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

// === impl ApiUpstream ===

impl ApiUpstream {
    /// Builds the upstream of the API `api`.
    pub fn new(
        api: &str,
        mut targets: Vec<Target>,
        sni: Option<String>,
        connect_to: Option<(String, u16)>,
        connect_timeout: Duration,
        read_timeout: Duration,
    ) -> ApiUpstream {
        for t in &mut targets {
            t.key = state_key(&[api.as_bytes(), t.url.as_bytes()]);
            t.dial_key = match &connect_to {
                Some((host, port)) => format!("{host}:{port}"),
                None => format!("{}:{}", t.host, t.port),
            };
        }
        ApiUpstream {
            targets: targets.into(),
            key: state_key(&[api.as_bytes()]),
            sni,
            connect_to,
            connect_timeout,
            read_timeout,
            protocol: UpstreamProtocol::Http1,
            h2_max_streams: 1,
            grpc_over_http1_warned: Default::default(),
        }
    }
}

/// A 64-bit key from the SHA-256 of `parts`, each length-prefixed.
fn state_key(parts: &[&[u8]]) -> u64 {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    let d = h.finalize();
    u64::from_le_bytes(d[..8].try_into().expect("eight bytes"))
}

/// Parses `connect_to`: `host:port`, `[v6]:port`.
pub fn parse_host_port(s: &str) -> Result<(String, u16), String> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, p) = rest.split_once("]:").ok_or_else(|| format!("`{s}` is not host:port"))?;
        (h, p)
    } else {
        s.rsplit_once(':').ok_or_else(|| format!("`{s}` is not host:port"))?
    };
    let port: u16 = port.parse().map_err(|_| format!("`{s}`: bad port"))?;
    if host.is_empty() {
        return Err(format!("`{s}`: missing host"));
    }
    Ok((host.to_ascii_lowercase(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_targets() {
        let t = Target::parse("https://Payments.internal:9443/base/").unwrap();
        assert!(t.is_tls);
        assert_eq!(
            (t.host.as_str(), t.port, t.base_path.as_str()),
            ("payments.internal", 9443, "/base")
        );
        assert_eq!(t.domain_key(), "payments.internal:9443");
        let t = Target::parse("http://[::1]:8080").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 8080));
        assert!(t.ip.is_some());
        let t = Target::parse("https://example.com").unwrap();
        assert_eq!(t.port, 443);
        assert!(Target::parse("ftp://x").is_err());
        assert!(Target::parse("example.com").is_err());
    }
}
