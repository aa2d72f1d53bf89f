//! One meaning per request (SPEC §3 step 0): before anything reads a request, its target,
//! host and certgate's reserved headers are put in the one form certgate decides on and
//! forwards, or the request is refused.
//!
//! [`canonicalize`] rewrites the downstream request header in place: the path normalised
//! ([`path`]), an absolute-form target turned into origin form with its authority as `Host`
//! ([`host`]), every spelling of a reserved header removed ([`headers`]). Routing and the
//! upstream request then read the same header, so what is decided is what is forwarded.
//!
//! This module parses and rewrites; it does not decide which API a request reaches or
//! whether it may.

pub mod forwarded;
pub mod headers;
pub mod host;
pub mod path;

use std::fmt;

use http::header::HOST;
use http::{HeaderValue, Method, Uri, Version};
use pingora::http::authority::{raw_target_authority, RawTargetAuthority};
use pingora::http::RequestHeader;

pub use host::HostError;
pub use path::PathError;

/// A request that cannot be given one meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadRequest {
    /// The request target.
    Path(PathError),
    /// The host.
    Host(HostError),
}

impl fmt::Display for BadRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadRequest::Path(e) => e.fmt(f),
            BadRequest::Host(e) => e.fmt(f),
        }
    }
}

/// What the caller needs besides the rewritten header.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Canonical {
    /// The path as a server that drops `;` parameters reads it, when that differs from the
    /// path (see [`path::without_params`]); routing must reach the same API with both.
    pub param_reading: Option<String>,
    /// A reserved header (in some spelling) was removed.
    pub stripped: bool,
}

/// Puts `req` in canonical form, or says why it has none.
pub fn canonicalize(req: &mut RequestHeader) -> Result<Canonical, BadRequest> {
    if !req.raw_path_is_utf8() {
        return Err(BadRequest::Path(PathError::NonAscii));
    }
    let absolute_authority = target_authority(req)?;
    if absolute_authority.is_none() && req.method == Method::OPTIONS && req.raw_path() == b"*" {
        check_host(req, None)?;
        let stripped = strip_reserved(req);
        return Ok(Canonical {
            param_reading: None,
            stripped,
        });
    }
    check_host(req, absolute_authority.as_deref())?;
    if let Some(q) = req.uri.query() {
        if q.bytes().any(|b| b < 0x21 || b == 0x7f) {
            return Err(BadRequest::Path(PathError::Control));
        }
    }
    let normalised = path::normalize(req.uri.path()).map_err(BadRequest::Path)?;
    // From the path as sent: `..;` must not be resolved away before it is read as `..`.
    let param_reading = match path::without_params(req.uri.path()) {
        None => None,
        Some(Err(e)) => return Err(BadRequest::Path(e)),
        Some(Ok(p)) => (p != *normalised).then_some(p),
    };
    let new_path = match normalised {
        std::borrow::Cow::Owned(p) => Some(p),
        std::borrow::Cow::Borrowed(_) => None,
    };
    if new_path.is_some() || absolute_authority.is_some() {
        let path = new_path.as_deref().unwrap_or(req.uri.path());
        let uri = rebuild_uri(&req.uri, path).map_err(|_| BadRequest::Path(PathError::BadEscape))?;
        req.set_uri(uri);
    }
    if let Some(authority) = absolute_authority {
        let value = HeaderValue::from_bytes(&authority).map_err(|_| BadRequest::Host(HostError::Malformed))?;
        req.insert_header(HOST, value)
            .map_err(|_| BadRequest::Host(HostError::Malformed))?;
    }
    let stripped = strip_reserved(req);
    Ok(Canonical {
        param_reading,
        stripped,
    })
}

/// Removes every spelling of certgate's reserved headers; whether there was one.
fn strip_reserved(req: &mut RequestHeader) -> bool {
    let doomed = headers::reserved_spellings(&req.headers);
    let any = !doomed.is_empty();
    for name in doomed {
        req.remove_header(&name);
    }
    any
}

/// The authority of an HTTP/1 absolute-form target (`http://host/path`), when the target
/// has that form; refuses targets that are neither origin-form nor absolute-form with an
/// `http`/`https` scheme (`OPTIONS *` is left to the caller).
fn target_authority(req: &RequestHeader) -> Result<Option<Vec<u8>>, BadRequest> {
    let raw = req.raw_path();
    match raw_target_authority(raw) {
        RawTargetAuthority::Absolute { scheme, authority, .. } => {
            if !(scheme.eq_ignore_ascii_case(b"http") || scheme.eq_ignore_ascii_case(b"https")) {
                return Err(BadRequest::Path(PathError::NotAbsolute));
            }
            Ok(Some(authority.to_vec()))
        }
        RawTargetAuthority::AmbiguousAuthority => Err(BadRequest::Path(PathError::NotAbsolute)),
        RawTargetAuthority::None => {
            if raw.first() == Some(&b'/') || (req.method == Method::OPTIONS && raw == b"*") {
                Ok(None)
            } else {
                Err(BadRequest::Path(PathError::NotAbsolute))
            }
        }
    }
}

/// Checks the host sources of `req`: at most one `Host`, agreeing with the target's (or
/// HTTP/2's) authority, well formed, and present except on HTTP/1.0.
fn check_host(req: &RequestHeader, absolute: Option<&[u8]>) -> Result<(), BadRequest> {
    let mut hosts = req.headers.get_all(HOST).iter();
    let (header, second) = (hosts.next(), hosts.next());
    if second.is_some() {
        return Err(BadRequest::Host(HostError::Conflicting));
    }
    let authority = absolute.or_else(|| req.uri.authority().map(|a| a.as_str().as_bytes()));
    let value = match (authority, header) {
        (Some(a), Some(h)) if !a.eq_ignore_ascii_case(h.as_bytes()) => {
            return Err(BadRequest::Host(HostError::Conflicting))
        }
        (Some(a), _) => a,
        (None, Some(h)) => h.as_bytes(),
        (None, None) if req.version <= Version::HTTP_10 => return Ok(()),
        (None, None) => return Err(BadRequest::Host(HostError::Missing)),
    };
    host::check_authority(value).map_err(BadRequest::Host)
}

/// `uri` with its path replaced by `path` (the query kept as sent), in origin form unless it
/// carries an authority (HTTP/2), which is kept.
fn rebuild_uri(uri: &Uri, path: &str) -> Result<Uri, http::Error> {
    let pq = match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    };
    match (uri.scheme(), uri.authority()) {
        (Some(s), Some(a)) => Ok(Uri::builder()
            .scheme(s.clone())
            .authority(a.clone())
            .path_and_query(pq)
            .build()?),
        _ => Ok(Uri::try_from(pq)?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(target: &[u8], host: Option<&str>) -> RequestHeader {
        let mut r = RequestHeader::build("GET", target, None).unwrap();
        if let Some(h) = host {
            r.insert_header(HOST, h).unwrap();
        }
        r
    }

    #[test]
    fn absolute_form_becomes_origin_form_with_its_host() {
        let mut r = req(b"http://api.example.com/a/../b?q=1", None);
        assert_eq!(canonicalize(&mut r), Ok(Canonical::default()));
        assert_eq!(r.raw_path(), b"/b?q=1");
        assert_eq!(r.headers.get(HOST).unwrap(), "api.example.com");
    }

    #[test]
    fn canonical_requests_are_left_alone() {
        let mut r = req(b"/a/b?x=%2e%2e", Some("h"));
        assert_eq!(canonicalize(&mut r), Ok(Canonical::default()));
        assert_eq!(r.raw_path(), b"/a/b?x=%2e%2e");
    }

    #[test]
    fn http10_may_omit_host() {
        let mut r = req(b"/a", None);
        r.set_version(Version::HTTP_10);
        assert_eq!(canonicalize(&mut r), Ok(Canonical::default()));
        let mut r = req(b"/a", None);
        assert_eq!(canonicalize(&mut r), Err(BadRequest::Host(HostError::Missing)));
    }
}
