//! The request host as certgate routes on it (SPEC §3 step 0): the authority of an
//! absolute-form target or HTTP/2 `:authority`, else `Host`. [`check_authority`] accepts
//! only what every server reads the same way: a DNS name or an IP literal and an optional
//! numeric port; anything else (a comma, userinfo, spaces, percent escapes) is refused.
//!
//! This module only parses.

use std::fmt;

/// Why a request's host cannot be given one meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostError {
    /// HTTP/1.1 (or HTTP/2) without any host.
    Missing,
    /// Two `Host` headers, or `Host` disagreeing with the target's authority.
    Conflicting,
    /// A value that is not `name[:port]`, `IPv4[:port]` or `[IPv6][:port]`.
    Malformed,
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HostError::Missing => "no Host",
            HostError::Conflicting => "conflicting Host values",
            HostError::Malformed => "malformed Host",
        })
    }
}

/// Checks one authority value (`Host`, `:authority` or an absolute-form authority).
pub fn check_authority(value: &[u8]) -> Result<(), HostError> {
    let (host, port) = split_port(value)?;
    if let Some(p) = port {
        if p.is_empty() || p.len() > 5 || !p.iter().all(u8::is_ascii_digit) {
            return Err(HostError::Malformed);
        }
        let n: u32 = p.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0'));
        if n > 65535 {
            return Err(HostError::Malformed);
        }
    }
    if let Some(inner) = host.strip_prefix(b"[") {
        let inner = inner.strip_suffix(b"]").ok_or(HostError::Malformed)?;
        let text = std::str::from_utf8(inner).map_err(|_| HostError::Malformed)?;
        return text
            .parse::<std::net::Ipv6Addr>()
            .map(|_| ())
            .map_err(|_| HostError::Malformed);
    }
    check_name(host)
}

/// Splits `host[:port]`, keeping IPv6 brackets on the host.
fn split_port(value: &[u8]) -> Result<(&[u8], Option<&[u8]>), HostError> {
    if value.first() == Some(&b'[') {
        let close = value.iter().position(|&b| b == b']').ok_or(HostError::Malformed)?;
        let (host, rest) = value.split_at(close + 1);
        return match rest {
            [] => Ok((host, None)),
            [b':', port @ ..] => Ok((host, Some(port))),
            _ => Err(HostError::Malformed),
        };
    }
    match value.iter().position(|&b| b == b':') {
        Some(i) => Ok((&value[..i], Some(&value[i + 1..]))),
        None => Ok((value, None)),
    }
}

/// A DNS name (letters, digits, `-`, `_`), labels of 1 to 63 bytes, one optional trailing
/// dot; IPv4 literals pass as names.
fn check_name(name: &[u8]) -> Result<(), HostError> {
    let name = name.strip_suffix(b".").unwrap_or(name);
    if name.is_empty() || name.len() > 253 {
        return Err(HostError::Malformed);
    }
    for label in name.split(|&b| b == b'.') {
        if label.is_empty() || label.len() > 63 {
            return Err(HostError::Malformed);
        }
        if !label
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(HostError::Malformed);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CASES: &[(&str, Result<(), HostError>)] = &[
        ("example.com", Ok(())),
        ("Example.COM:8443", Ok(())),
        ("example.com.", Ok(())),
        ("127.0.0.1:80", Ok(())),
        ("[::1]", Ok(())),
        ("[::1]:8443", Ok(())),
        ("my_host", Ok(())),
        ("", Err(HostError::Malformed)),
        ("a,b", Err(HostError::Malformed)),
        ("a b", Err(HostError::Malformed)),
        ("user@host", Err(HostError::Malformed)),
        ("host:", Err(HostError::Malformed)),
        ("host:99999", Err(HostError::Malformed)),
        ("host:80:80", Err(HostError::Malformed)),
        ("host:8x", Err(HostError::Malformed)),
        ("a..b", Err(HostError::Malformed)),
        ("example.com..", Err(HostError::Malformed)),
        ("%65xample.com", Err(HostError::Malformed)),
        ("[::1", Err(HostError::Malformed)),
        ("[nothex]", Err(HostError::Malformed)),
        ("[::1]x", Err(HostError::Malformed)),
        ("::1", Err(HostError::Malformed)),
        ("a/b", Err(HostError::Malformed)),
        ("a\\b", Err(HostError::Malformed)),
    ];

    #[test]
    fn authority_table() {
        for (v, want) in CASES {
            assert_eq!(check_authority(v.as_bytes()), *want, "{v:?}");
        }
    }
}
