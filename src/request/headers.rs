//! Header names as the servers behind certgate read them. CGI, WSGI, Rack and PHP map
//! `X-Client-Cert-Sha256` and `X_Client_Cert_Sha256` onto the same variable
//! (`HTTP_X_CLIENT_CERT_SHA256`), so a header counts as every name it collapses to with
//! `_` read as `-`, in any case.
//!
//! This module only reads and strips headers; what a duplicate means is decided by policy.

use http::{HeaderMap, HeaderName};

/// Headers certgate sets itself; every spelling of them is removed from incoming requests.
pub const RESERVED: &[&str] = &["x-client-cert-sha256", "client-cert", "client-cert-chain"];

/// Whether header name `name` (lower case, as `http` stores it) collapses to `target`
/// (lower case, with `-`).
pub fn same_variable(name: &str, target: &str) -> bool {
    name.len() == target.len()
        && name
            .bytes()
            .zip(target.bytes())
            .all(|(a, b)| a == b || (a == b'_' && b == b'-'))
}

/// Every header name in `headers` that is a spelling of a [`RESERVED`] header (for the
/// caller to remove).
pub fn reserved_spellings(headers: &HeaderMap) -> Vec<HeaderName> {
    let mut out = Vec::new();
    for r in RESERVED {
        if headers.contains_key(*r) {
            out.push(HeaderName::from_static(r));
        }
    }
    if headers.keys().any(|k| k.as_str().contains('_')) {
        out.extend(
            headers
                .keys()
                .filter(|k| k.as_str().contains('_') && RESERVED.iter().any(|r| same_variable(k.as_str(), r)))
                .cloned(),
        );
    }
    out
}

/// Removes header `name` in every spelling (see [`same_variable`]) from `req`; returns the
/// values it had, in all spellings.
pub fn take_spellings(req: &mut pingora::http::RequestHeader, name: &HeaderName) -> Vec<http::HeaderValue> {
    let names: Vec<HeaderName> = req
        .headers
        .keys()
        .filter(|k| *k == name || (k.as_str().contains('_') && same_variable(k.as_str(), name.as_str())))
        .cloned()
        .collect();
    let mut values = Vec::new();
    for n in names {
        values.extend(req.headers.get_all(&n).iter().cloned());
        req.remove_header(&n);
    }
    values
}

/// How many values `headers` carries under `name` and every other spelling of it.
pub fn count_spellings(headers: &HeaderMap, name: &HeaderName) -> usize {
    let direct = headers.get_all(name).iter().count();
    if !headers.keys().any(|k| k.as_str().contains('_')) {
        return direct;
    }
    direct
        + headers
            .keys()
            .filter(|k| *k != name && same_variable(k.as_str(), name.as_str()))
            .map(|k| headers.get_all(k).iter().count())
            .sum::<usize>()
}

/// The credential header was sent more than once, in one spelling or several.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Duplicate;

/// The token in header `name`: `Bearer <t>` (scheme case-insensitive) or the bare value;
/// `Ok(None)` when absent or empty. A header sent more than once, in any spelling
/// ([`count_spellings`]), is refused rather than read: another reader could take the other
/// value. The data plane and the admin API both read credentials with this.
pub fn bearer<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Result<Option<&'h [u8]>, Duplicate> {
    if count_spellings(headers, name) > 1 {
        return Err(Duplicate);
    }
    let Some(v) = headers.get(name).map(|v| v.as_bytes()) else {
        return Ok(None);
    };
    let v = match v.get(..7) {
        Some(p) if p.eq_ignore_ascii_case(b"bearer ") => &v[7..],
        _ if v.eq_ignore_ascii_case(b"bearer") => return Ok(None),
        _ => v,
    };
    let v = v.trim_ascii();
    Ok((!v.is_empty()).then_some(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_forms() {
        let h = HeaderName::from_static("authorization");
        assert_eq!(bearer(&HeaderMap::new(), &h), Ok(None));
        for (v, want) in [
            ("Bearer abc", Some("abc")),
            ("bearer  abc ", Some("abc")),
            ("abc", Some("abc")),
            ("Bearer ", None),
            ("Bearer", None),
            ("", None),
        ] {
            let m = map(&[("authorization", v)]);
            assert_eq!(bearer(&m, &h), Ok(want.map(str::as_bytes)), "{v:?}");
        }
        let m = map(&[("authorization", "Bearer a"), ("authorization", "Bearer a")]);
        assert_eq!(bearer(&m, &h), Err(Duplicate), "even the same value twice");
    }

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        m
    }

    #[test]
    fn every_spelling_of_a_reserved_header_is_removed() {
        let m = map(&[
            ("X-Client-Cert-Sha256", "a"),
            ("x_client_cert_sha256", "b"),
            ("X_Client-Cert_Sha256", "c"),
            ("x-client-cert-sha2566", "kept"),
            ("other", "kept"),
        ]);
        let doomed: Vec<_> = reserved_spellings(&m).iter().map(|k| k.as_str().to_string()).collect();
        assert_eq!(
            doomed,
            ["x-client-cert-sha256", "x_client_cert_sha256", "x_client-cert_sha256"]
        );
    }

    #[test]
    fn spellings_are_counted_together() {
        let name = HeaderName::from_static("x-api-key");
        assert_eq!(count_spellings(&map(&[("x-api-key", "a")]), &name), 1);
        assert_eq!(
            count_spellings(&map(&[("x-api-key", "a"), ("X_Api_Key", "b")]), &name),
            2
        );
        assert_eq!(
            count_spellings(&map(&[("x-api-key", "a"), ("X-API-KEY", "b")]), &name),
            2
        );
        assert_eq!(count_spellings(&map(&[("x_api_key", "b")]), &name), 1);
        let auth = HeaderName::from_static("authorization");
        assert_eq!(
            count_spellings(&map(&[("authorization", "a"), ("authorization", "b")]), &auth),
            2
        );
    }
}
