//! Who may forward a client certificate in a header (`listen.trusted_ingress`, SPEC §12),
//! and what each API tells its upstream of the client's certificate
//! (`apis[].forward_client_cert`).

use std::net::IpAddr;

use http::HeaderName;

use crate::config::ForwardedFormat;

/// A TLS-terminating load balancer certgate believes, compiled.
#[derive(Clone, Debug)]
pub struct TrustedIngress {
    /// Its TCP peer addresses: (network, prefix length). IPv4-mapped IPv6 peers are
    /// compared as IPv4.
    pub from: Vec<(IpAddr, u8)>,
    /// How the certificate is written.
    pub format: ForwardedFormat,
    /// The header carrying the leaf.
    pub header: HeaderName,
    /// The header carrying the chain, when one is read.
    pub chain_header: Option<HeaderName>,
}

/// Which certificate headers an API's upstream gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ForwardCert {
    /// `X-Client-Cert-Sha256`.
    pub sha256: bool,
    /// RFC 9440 `Client-Cert`.
    pub cert: bool,
    /// RFC 9440 `Client-Cert-Chain`.
    pub chain: bool,
}

impl Default for ForwardCert {
    /// `[sha256]`, as before SPEC §12.
    fn default() -> Self {
        ForwardCert {
            sha256: true,
            cert: false,
            chain: false,
        }
    }
}

// === impl TrustedIngress ===

impl TrustedIngress {
    /// The header a format is read from unless `header` says otherwise.
    pub fn default_header(format: ForwardedFormat) -> &'static str {
        match format {
            ForwardedFormat::Rfc9440 => "client-cert",
            ForwardedFormat::PemUrlencoded => "x-amzn-mtls-clientcert",
            ForwardedFormat::Xfcc => "x-forwarded-client-cert",
        }
    }

    /// Whether a connection from `peer` is this load balancer.
    pub fn trusts(&self, peer: IpAddr) -> bool {
        let peer = match peer {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(peer),
            v4 => v4,
        };
        self.from.iter().any(|&(net, len)| in_network(peer, net, len))
    }
}

/// Whether `ip` is in `net/len`.
fn in_network(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    let (a, b, bits) = match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u32::from(a) as u128, u32::from(b) as u128, 32u32),
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), 128),
        _ => return false,
    };
    let len = u32::from(len).min(bits);
    if len == 0 {
        return true;
    }
    let shift = bits - len;
    (a >> shift) == (b >> shift)
}

/// Parses `addr` or `addr/len` into (network, prefix length).
pub fn parse_cidr(s: &str) -> Result<(IpAddr, u8), String> {
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let ip: IpAddr = addr
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not an IP address or CIDR (10.0.0.0/8, fd00::/8)"))?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len = match len {
        None => max,
        Some(l) => match l.trim().parse::<u8>() {
            Ok(n) if n <= max => n,
            _ => return Err(format!("`{s}`: the prefix length must be 0-{max}")),
        },
    };
    Ok((ip, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ingress(from: &[&str]) -> TrustedIngress {
        TrustedIngress {
            from: from.iter().map(|s| parse_cidr(s).unwrap()).collect(),
            format: ForwardedFormat::Rfc9440,
            header: HeaderName::from_static("client-cert"),
            chain_header: None,
        }
    }

    #[test]
    fn peers_are_matched_by_network() {
        let i = ingress(&["10.0.0.0/8", "192.168.1.7", "fd00::/8"]);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(i.trusts(ip("10.200.3.4")));
        assert!(!i.trusts(ip("11.0.0.1")));
        assert!(i.trusts(ip("192.168.1.7")));
        assert!(!i.trusts(ip("192.168.1.8")));
        assert!(i.trusts(ip("fd12::1")));
        assert!(!i.trusts(ip("fe80::1")));
        assert!(i.trusts(ip("::ffff:10.1.1.1")), "IPv4-mapped IPv6");
        assert!(ingress(&["0.0.0.0/0"]).trusts(ip("8.8.8.8")));
    }

    #[test]
    fn cidrs_are_checked() {
        assert!(parse_cidr("10.0.0.0/33").is_err());
        assert!(parse_cidr("10.0.0/8").is_err());
        assert!(parse_cidr("::1/129").is_err());
        assert_eq!(parse_cidr("::1").unwrap().1, 128);
    }
}
