//! One OCSP exchange: the request POSTed to the responder (RFC 6960 appendix A.1) over
//! Pingora's HTTP/1 connector, the answer read back within the timeout.

use std::net::SocketAddr;
use std::time::Duration;

use pingora::connectors::http::v1::Connector;
use pingora::http::RequestHeader;
use pingora::upstreams::peer::HttpPeer;

/// Largest response accepted (real ones are a few KiB).
pub const MAX_RESPONSE: usize = 64 * 1024;

/// POSTs `request` (DER) to `url` (`http://host[:port]/path`) and returns the response
/// body, all within `timeout`.
pub async fn fetch(connector: &Connector, url: &str, request: &[u8], timeout: Duration) -> Result<Vec<u8>, String> {
    match tokio::time::timeout(timeout, exchange(connector, url, request)).await {
        Ok(r) => r,
        Err(_) => Err(format!("no answer from {url} within {} ms", timeout.as_millis())),
    }
}

async fn exchange(connector: &Connector, url: &str, request: &[u8]) -> Result<Vec<u8>, String> {
    let (authority, path) = split_url(url).ok_or_else(|| format!("{url}: not an http:// URL"))?;
    let addr: SocketAddr = tokio::net::lookup_host(with_port(authority))
        .await
        .map_err(|e| format!("{url}: cannot resolve: {e}"))?
        .next()
        .ok_or_else(|| format!("{url}: no address"))?;
    let peer = HttpPeer::new(addr, false, String::new());
    let (mut session, _) = connector
        .get_http_session(&peer)
        .await
        .map_err(|e| format!("{url}: cannot connect: {e}"))?;
    let mut req = RequestHeader::build("POST", path.as_bytes(), None).map_err(|e| e.to_string())?;
    let headers = [
        ("Host", authority.to_string()),
        ("Content-Type", "application/ocsp-request".to_string()),
        ("Accept", "application/ocsp-response".to_string()),
        ("Content-Length", request.len().to_string()),
        ("Connection", "close".to_string()),
    ];
    for (k, v) in headers {
        req.insert_header(k, v).map_err(|e| e.to_string())?;
    }
    let io = |e: Box<pingora::Error>| format!("{url}: {e}");
    session.write_request_header(Box::new(req)).await.map_err(io)?;
    session.write_body(request).await.map_err(io)?;
    session.finish_body().await.map_err(io)?;
    session.read_response().await.map_err(io)?;
    let status = session.get_status().map(|s| s.as_u16()).unwrap_or(0);
    if status != 200 {
        return Err(format!("{url}: HTTP status {status}"));
    }
    let mut body = Vec::new();
    while let Some(chunk) = session.read_body_ref().await.map_err(io)? {
        if body.len() + chunk.len() > MAX_RESPONSE {
            return Err(format!("{url}: the response is over {MAX_RESPONSE} bytes"));
        }
        body.extend_from_slice(chunk);
    }
    Ok(body)
}

/// `http://authority/path` → (authority, path); `/` when there is no path.
fn split_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("http://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    (!authority.is_empty()).then_some((authority, path))
}

/// The authority with port 80 when it names none.
fn with_port(authority: &str) -> String {
    let has_port = match authority.rfind(':') {
        Some(i) => !authority[i..].contains(']'),
        None => false,
    };
    if has_port {
        authority.to_string()
    } else {
        format!("{authority}:80")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_authority_and_path() {
        assert_eq!(split_url("http://ocsp.example/a/b"), Some(("ocsp.example", "/a/b")));
        assert_eq!(split_url("http://127.0.0.1:8080"), Some(("127.0.0.1:8080", "/")));
        assert_eq!(split_url("https://x/"), None);
        assert_eq!(split_url("http:///x"), None);
        assert_eq!(with_port("ocsp.example"), "ocsp.example:80");
        assert_eq!(with_port("[::1]"), "[::1]:80");
        assert_eq!(with_port("[::1]:81"), "[::1]:81");
    }
}
