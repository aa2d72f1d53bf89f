//! Reading what the policy needs from a Pingora session, and rewriting the upstream request.

use http::header::HOST;
use pingora::http::RequestHeader;
use pingora::proxy::Session;

use crate::policy::PeerCert;
use crate::snapshot::ingress::ForwardCert;
use crate::snapshot::upstream::Target;
use crate::snapshot::Api;

/// The header certgate sets to the leaf ID, and removes from every incoming request.
pub const CLIENT_CERT_HEADER: &str = "x-client-cert-sha256";

/// The connection's client certificate, as recorded at handshake time.
pub fn peer_cert(session: &Session) -> Option<&PeerCert> {
    session.digest()?.ssl_digest.as_ref()?.extension.get::<PeerCert>()
}

/// Sets the certificate headers `forward` asks for on the upstream request (every
/// incoming copy of them was removed when the request was made canonical).
pub fn forward_client_cert(up: &mut RequestHeader, forward: ForwardCert, peer: &PeerCert) -> pingora::Result<()> {
    if forward.sha256 {
        up.insert_header(CLIENT_CERT_HEADER, peer.header_value.clone())?;
    }
    if forward.cert || forward.chain {
        let rfc = peer.rfc9440();
        if forward.cert {
            up.insert_header("client-cert", rfc.cert.clone())?;
        }
        if let (true, Some(chain)) = (forward.chain, &rfc.chain) {
            up.insert_header("client-cert-chain", chain.clone())?;
        }
    }
    Ok(())
}

/// The request's host: the URI authority (HTTP/2, absolute form) or the `Host` header.
pub fn request_host(req: &RequestHeader) -> Option<&str> {
    req.uri
        .host()
        .or_else(|| req.headers.get(HOST).and_then(|h| h.to_str().ok()))
}

/// The path and query to send upstream: `listen_path` stripped when configured, the
/// target's base path prepended. `None` when nothing changes.
pub fn upstream_path(api: &Api, target: &Target, req: &RequestHeader) -> Option<String> {
    let path = req.uri.path();
    let rest = if api.strip_listen_path {
        // Routing matched the listen path case-insensitively and at a segment boundary.
        let lp = api.listen_path.trim_end_matches('/');
        match path.get(..lp.len()) {
            Some(head) if head.eq_ignore_ascii_case(lp) => &path[lp.len()..],
            _ => path,
        }
    } else {
        path
    };
    if target.base_path.is_empty() && rest.len() == path.len() {
        return None;
    }
    let mut out = String::with_capacity(target.base_path.len() + rest.len() + 1);
    out.push_str(&target.base_path);
    if !rest.starts_with('/') {
        out.push('/');
    }
    out.push_str(rest);
    if let Some(q) = req.uri.query() {
        out.push('?');
        out.push_str(q);
    }
    Some(out)
}

/// [`upstream_path`] as the URI Pingora sends: the string's buffer becomes the URI's
/// (`from_maybe_shared` takes it without a copy); the URI only validates it.
pub fn upstream_uri(
    api: &Api,
    target: &Target,
    req: &RequestHeader,
) -> Option<Result<http::Uri, http::uri::InvalidUri>> {
    upstream_path(api, target, req).map(|p| http::Uri::from_maybe_shared(bytes::Bytes::from(p)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(listen_path: &str, strip: bool) -> Api {
        use crate::config::AuthType;
        use crate::snapshot::upstream::ApiUpstream;
        use crate::snapshot::{ApiAuth, ClientAllowList};
        Api {
            index: 0,
            name: "a".into(),
            listen_path: listen_path.into(),
            strip_listen_path: strip,
            auth: ApiAuth {
                kind: AuthType::None,
                mutual_tls: false,
                allow: ClientAllowList::default(),
                token_header: http::header::AUTHORIZATION,
                jwt: None,
                ocsp: Default::default(),
            },
            upstream: ApiUpstream::new("a", vec![], None, None, Default::default(), Default::default()),
            forward: Default::default(),
        }
    }

    #[test]
    fn rewrites() {
        let t = Target::parse("http://x").unwrap();
        let tb = Target::parse("http://x/base").unwrap();
        let req = |p: &str| RequestHeader::build("GET", p.as_bytes(), None).unwrap();
        let cases: &[(&str, bool, &Target, &str, Option<&str>)] = &[
            ("/payments/", true, &t, "/payments/x?a=1", Some("/x?a=1")),
            ("/payments/", true, &t, "/payments", Some("/")),
            ("/payments/", false, &t, "/payments/x", None),
            ("/payments/", false, &tb, "/payments/x", Some("/base/payments/x")),
            ("/payments/", true, &tb, "/payments/x", Some("/base/x")),
            ("/", true, &t, "/x", None),
            ("/payments/", true, &t, "/PAYMENTS/x", Some("/x")),
            ("/payments", true, &tb, "/payments", Some("/base/")),
        ];
        for (lp, strip, target, path, want) in cases {
            assert_eq!(
                upstream_path(&api(lp, *strip), target, &req(path)).as_deref(),
                *want,
                "{lp} {strip} {path}"
            );
        }
    }
}
