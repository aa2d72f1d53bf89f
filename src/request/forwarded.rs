//! Client certificates forwarded by a TLS-terminating load balancer (SPEC §12), read from
//! the headers it sets: RFC 9440 (`Client-Cert: :<base64 DER>:` and a comma-separated
//! `Client-Cert-Chain`), URL-encoded PEM (AWS ALB's `X-Amzn-Mtls-Clientcert`: the leaf,
//! then its chain) and Envoy's `x-forwarded-client-cert` (the last element's `Cert` and
//! `Chain`, URL-encoded PEM).
//!
//! This module only parses; whether the sender is believed is decided by the caller.

use base64::Engine;
use openssl::x509::X509;

use crate::config::ForwardedFormat;

/// Most certificates one forwarded chain may hold (leaf excluded).
pub const MAX_CHAIN: usize = 10;

/// A forwarded certificate, parsed.
pub struct ForwardedCert {
    /// The client's leaf.
    pub leaf: X509,
    /// The intermediates it sent, nearest first, the leaf not among them.
    pub chain: Vec<X509>,
}

/// Why a forwarded certificate header cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ForwardedError {
    /// Not the format's syntax (base64, percent-encoding, XFCC quoting).
    #[error("the forwarded certificate header is not {0}")]
    Syntax(&'static str),
    /// The bytes are not an X.509 certificate.
    #[error("the forwarded certificate is not an X.509 certificate")]
    Certificate,
    /// More than [`MAX_CHAIN`] intermediates.
    #[error("the forwarded chain holds more than {MAX_CHAIN} certificates")]
    ChainTooLong,
}

/// Reads the certificate in `cert` (the leaf header's value) and `chain` (the chain
/// header's, when configured and sent) as `format` writes them. `Ok(None)`: the load
/// balancer says the client sent no certificate (an empty value, or an XFCC element
/// without `Cert`).
pub fn parse(
    format: ForwardedFormat,
    cert: &[u8],
    chain: Option<&[u8]>,
) -> Result<Option<ForwardedCert>, ForwardedError> {
    let cert = cert.trim_ascii();
    if cert.is_empty() {
        return Ok(None);
    }
    let (leaf, mut rest) = match format {
        ForwardedFormat::Rfc9440 => (rfc9440_item(cert)?, Vec::new()),
        ForwardedFormat::PemUrlencoded => {
            let mut all = pem_urlencoded(cert)?;
            if all.is_empty() {
                return Err(ForwardedError::Certificate);
            }
            let leaf = all.remove(0);
            (leaf, all)
        }
        ForwardedFormat::Xfcc => match xfcc(cert)? {
            None => return Ok(None),
            Some((leaf, chain)) => (leaf, chain),
        },
    };
    if let Some(chain) = chain.map(<[u8]>::trim_ascii).filter(|c| !c.is_empty()) {
        match format {
            ForwardedFormat::Rfc9440 => {
                for item in chain.split(|&b| b == b',') {
                    rest.push(rfc9440_item(item.trim_ascii())?);
                    if rest.len() > MAX_CHAIN {
                        return Err(ForwardedError::ChainTooLong);
                    }
                }
            }
            ForwardedFormat::PemUrlencoded | ForwardedFormat::Xfcc => rest.extend(pem_urlencoded(chain)?),
        }
    }
    // A chain that repeats the leaf (Envoy's `Chain` does) lists it once.
    let leaf_der = leaf.to_der().map_err(|_| ForwardedError::Certificate)?;
    rest.retain(|c| c.to_der().map(|d| d != leaf_der).unwrap_or(false));
    if rest.len() > MAX_CHAIN {
        return Err(ForwardedError::ChainTooLong);
    }
    Ok(Some(ForwardedCert { leaf, chain: rest }))
}

/// One RFC 8941 byte sequence, `:<base64>:`, as a certificate.
fn rfc9440_item(item: &[u8]) -> Result<X509, ForwardedError> {
    let inner = item
        .strip_prefix(b":")
        .and_then(|i| i.strip_suffix(b":"))
        .ok_or(ForwardedError::Syntax("an RFC 9440 byte sequence (:base64:)"))?;
    let der = base64::engine::general_purpose::STANDARD
        .decode(inner)
        .map_err(|_| ForwardedError::Syntax("an RFC 9440 byte sequence (:base64:)"))?;
    X509::from_der(&der).map_err(|_| ForwardedError::Certificate)
}

/// URL-encoded PEM: every certificate in it, in order.
fn pem_urlencoded(value: &[u8]) -> Result<Vec<X509>, ForwardedError> {
    let pem = percent_decode(value).ok_or(ForwardedError::Syntax("URL-encoded PEM"))?;
    if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
        return Err(ForwardedError::Syntax("URL-encoded PEM"));
    }
    let all = X509::stack_from_pem(&pem).map_err(|_| ForwardedError::Certificate)?;
    if all.len() > MAX_CHAIN + 1 {
        return Err(ForwardedError::ChainTooLong);
    }
    Ok(all)
}

/// `%XX` escapes decoded; anything else kept as it is (`+` stays `+`: base64 needs it).
fn percent_decode(value: &[u8]) -> Option<Vec<u8>> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(value.len());
    let mut i = 0;
    while i < value.len() {
        if value[i] == b'%' {
            let (h, l) = (hex(*value.get(i + 1)?)?, hex(*value.get(i + 2)?)?);
            out.push(h << 4 | l);
            i += 3;
        } else {
            out.push(value[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Envoy's XFCC: the last element (the one the nearest proxy, the trusted peer, added);
/// its `Cert` as the leaf and `Chain` as the chain. `None` when it has no `Cert`.
fn xfcc(value: &[u8]) -> Result<Option<(X509, Vec<X509>)>, ForwardedError> {
    const SYNTAX: ForwardedError = ForwardedError::Syntax("an x-forwarded-client-cert element");
    let elements = split_outside_quotes(value, b',').ok_or(SYNTAX)?;
    let last = elements.last().ok_or(SYNTAX)?;
    let (mut cert, mut chain) = (None, None);
    for pair in split_outside_quotes(last, b';').ok_or(SYNTAX)? {
        let pair = pair.trim_ascii();
        if pair.is_empty() {
            continue;
        }
        let eq = pair.iter().position(|&b| b == b'=').ok_or(SYNTAX)?;
        let (key, raw) = (&pair[..eq], unquote(&pair[eq + 1..]).ok_or(SYNTAX)?);
        let slot = if key.eq_ignore_ascii_case(b"Cert") {
            &mut cert
        } else if key.eq_ignore_ascii_case(b"Chain") {
            &mut chain
        } else {
            continue;
        };
        if slot.replace(raw).is_some() {
            return Err(SYNTAX);
        }
    }
    let Some(cert) = cert else { return Ok(None) };
    let mut leaf = pem_urlencoded(&cert)?;
    if leaf.len() != 1 {
        return Err(ForwardedError::Syntax("one certificate in XFCC's Cert"));
    }
    let chain = match chain {
        Some(c) => pem_urlencoded(&c)?,
        None => Vec::new(),
    };
    Ok(Some((leaf.remove(0), chain)))
}

/// Splits at `sep` outside double quotes (where `\` escapes the next byte); `None` when a
/// quote is left open.
fn split_outside_quotes(value: &[u8], sep: u8) -> Option<Vec<&[u8]>> {
    let (mut out, mut start, mut quoted, mut escaped) = (Vec::new(), 0, false, false);
    for (i, &b) in value.iter().enumerate() {
        if escaped {
            escaped = false;
        } else if quoted && b == b'\\' {
            escaped = true;
        } else if b == b'"' {
            quoted = !quoted;
        } else if b == sep && !quoted {
            out.push(&value[start..i]);
            start = i + 1;
        }
    }
    if quoted {
        return None;
    }
    out.push(&value[start..]);
    Some(out)
}

/// A value as written, or the inside of `"…"` with its `\` escapes undone.
fn unquote(v: &[u8]) -> Option<Vec<u8>> {
    let v = v.trim_ascii();
    let Some(inner) = v.strip_prefix(b"\"") else {
        return Some(v.to_vec());
    };
    let inner = inner.strip_suffix(b"\"")?;
    let mut out = Vec::with_capacity(inner.len());
    let mut it = inner.iter();
    while let Some(&b) = it.next() {
        out.push(if b == b'\\' { *it.next()? } else { b });
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::{self, Spec};

    fn chain() -> (X509, X509, X509) {
        let root = Spec::ca("forwarded root").issue(None);
        let mid = Spec::ca("forwarded mid").issue(Some(&root));
        let leaf = Spec::client("alice").issue(Some(&mid));
        (leaf.cert, mid.cert, root.cert)
    }

    fn der(c: &X509) -> Vec<u8> {
        c.to_der().unwrap()
    }

    #[test]
    fn rfc9440_leaf_and_chain() {
        let (leaf, mid, root) = chain();
        let chain_value = format!("{}, {}", pki::rfc9440(&mid), pki::rfc9440(&root));
        let got = parse(
            ForwardedFormat::Rfc9440,
            pki::rfc9440(&leaf).as_bytes(),
            Some(chain_value.as_bytes()),
        )
        .unwrap()
        .unwrap();
        assert_eq!(der(&got.leaf), der(&leaf));
        assert_eq!(
            got.chain.iter().map(der).collect::<Vec<_>>(),
            vec![der(&mid), der(&root)]
        );
        let bad = |v: &str| parse(ForwardedFormat::Rfc9440, v.as_bytes(), None).err();
        assert!(matches!(bad("MIIB"), Some(ForwardedError::Syntax(_))), "no colons");
        assert!(matches!(bad(":not base64!:"), Some(ForwardedError::Syntax(_))));
        assert_eq!(bad(":aGVsbG8=:"), Some(ForwardedError::Certificate), "base64 of junk");
        assert!(
            parse(ForwardedFormat::Rfc9440, b"  ", None).unwrap().is_none(),
            "empty: no certificate"
        );
    }

    #[test]
    fn pem_urlencoded_holds_the_leaf_then_its_chain() {
        let (leaf, mid, _) = chain();
        let value = pki::pem_urlencoded(&[&leaf, &mid]);
        let got = parse(ForwardedFormat::PemUrlencoded, value.as_bytes(), None)
            .unwrap()
            .unwrap();
        assert_eq!(der(&got.leaf), der(&leaf));
        assert_eq!(got.chain.iter().map(der).collect::<Vec<_>>(), vec![der(&mid)]);
        let bad = |v: &str| parse(ForwardedFormat::PemUrlencoded, v.as_bytes(), None).err();
        assert!(matches!(bad("%ZZ"), Some(ForwardedError::Syntax(_))));
        assert!(matches!(bad("hello"), Some(ForwardedError::Syntax(_))));
        let broken = pki::pem_urlencoded(&[&leaf]).replace("M", "");
        assert!(bad(&broken).is_some(), "a damaged PEM body");
    }

    #[test]
    fn xfcc_reads_the_last_element() {
        let (leaf, mid, _) = chain();
        let other = Spec::client("mallory").issue(None).cert;
        let value = format!(
            "By=spiffe://a;Cert=\"{}\",By=spiffe://b;Hash=00;Cert=\"{}\";Chain=\"{}\";Subject=\"CN=alice,O=x\"",
            pki::pem_urlencoded(&[&other]),
            pki::pem_urlencoded(&[&leaf]),
            pki::pem_urlencoded(&[&leaf, &mid]),
        );
        let got = parse(ForwardedFormat::Xfcc, value.as_bytes(), None).unwrap().unwrap();
        assert_eq!(der(&got.leaf), der(&leaf), "the nearest proxy's element counts");
        assert_eq!(
            got.chain.iter().map(der).collect::<Vec<_>>(),
            vec![der(&mid)],
            "the leaf is not its own chain"
        );
        let hash_only = "By=spiffe://b;Hash=468ed33be74eee6556d90c0149c1309e9ba61d6425303443c0748a02dd8de688";
        assert!(parse(ForwardedFormat::Xfcc, hash_only.as_bytes(), None)
            .unwrap()
            .is_none());
        let bad = |v: &str| parse(ForwardedFormat::Xfcc, v.as_bytes(), None).err();
        assert!(bad("Cert=\"open").is_some(), "an open quote");
        assert!(bad("By").is_some(), "no `=`");
        let twice = format!("Cert={0};Cert={0}", pki::pem_urlencoded(&[&leaf]));
        assert!(bad(&twice).is_some(), "Cert twice in one element");
    }

    #[test]
    fn long_chains_are_refused() {
        let (leaf, mid, _) = chain();
        let items: Vec<String> = (0..=MAX_CHAIN).map(|_| pki::rfc9440(&mid)).collect();
        let joined = items.join(",");
        let e = parse(
            ForwardedFormat::Rfc9440,
            pki::rfc9440(&leaf).as_bytes(),
            Some(joined.as_bytes()),
        )
        .err();
        assert_eq!(e, Some(ForwardedError::ChainTooLong));
    }

    #[test]
    fn percent_decoding_is_strict() {
        assert_eq!(percent_decode(b"a%20b+c").unwrap(), b"a b+c");
        assert!(percent_decode(b"a%2").is_none());
        assert!(percent_decode(b"a%g0").is_none());
    }
}
