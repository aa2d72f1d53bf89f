//! Refusals of gRPC calls, answered as gRPC (SPEC §11): HTTP 200, `content-type:
//! application/grpc`, headers only ("Trailers-Only"), `grpc-status` from the HTTP status,
//! `grpc-message` (percent-encoded as the gRPC spec asks) and `certgate-reason`. A gRPC
//! client then sees `UNAUTHENTICATED` or `PERMISSION_DENIED` instead of a protocol error.

use http::HeaderMap;

/// Whether the request is a gRPC call (`content-type: application/grpc` or `+proto` etc.).
pub fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            let v = v.trim_start().to_ascii_lowercase();
            v == "application/grpc" || v.starts_with("application/grpc+") || v.starts_with("application/grpc;")
        })
}

/// Logs once per API (and generation) that a gRPC call goes to an HTTP/1.1 upstream
/// (`upstream.protocol: http1`): HTTP/1.1 carries no trailers, so the call's `grpc-status`
/// is lost and the client sees an error. The call is still forwarded; what the upstream
/// answers is its own business, but the operator learns why gRPC fails there.
pub fn warn_if_over_http1(api: &crate::snapshot::Api, headers: &HeaderMap) {
    use std::sync::atomic::Ordering;
    if api.upstream.protocol == crate::config::UpstreamProtocol::Http1
        && is_grpc(headers)
        && !api.upstream.grpc_over_http1_warned.swap(true, Ordering::Relaxed)
    {
        log::warn!(
            "event=grpc_over_http1 api={} message=\"a gRPC call goes to an HTTP/1.1 upstream, which cannot carry its trailers (grpc-status); set upstream.protocol: h2 (or h2c)\"",
            api.name
        );
    }
}

/// The gRPC status code for an HTTP status: SPEC §11's table (400→3, 401→16, 403→7, 404→12,
/// 502/503→14, 504→4), then 408→4, 413/429/431→8, other 5xx→13, anything else 2 (UNKNOWN).
pub fn status_for(http_status: u16) -> u8 {
    match http_status {
        400 => 3,
        401 => 16,
        403 => 7,
        404 => 12,
        502 | 503 => 14,
        504 | 408 => 4,
        413 | 429 | 431 => 8,
        500..=599 => 13,
        _ => 2,
    }
}

/// `grpc-message` encoding: every byte outside printable ASCII, and `%`, as `%XX`.
pub fn percent_encode(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for b in message.bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_requests_are_recognised_by_content_type() {
        let with = |ct: &str| {
            let mut h = HeaderMap::new();
            h.insert(http::header::CONTENT_TYPE, ct.parse().unwrap());
            is_grpc(&h)
        };
        assert!(with("application/grpc"));
        assert!(with("application/grpc+proto"));
        assert!(with("Application/GRPC"));
        assert!(!with("application/grpc-web-text"), "grpc-web is not gRPC over HTTP/2");
        assert!(!with("application/json"));
        assert!(!is_grpc(&HeaderMap::new()));
    }

    #[test]
    fn statuses_follow_the_spec_table() {
        let table = [(400, 3), (401, 16), (403, 7), (404, 12), (502, 14), (503, 14), (504, 4)];
        for (http, grpc) in table {
            assert_eq!(status_for(http), grpc, "{http}");
        }
        assert_eq!(status_for(431), 8);
        assert_eq!(status_for(500), 13);
    }

    #[test]
    fn messages_are_percent_encoded() {
        assert_eq!(
            percent_encode("Certificate has been revoked"),
            "Certificate has been revoked"
        );
        assert_eq!(percent_encode("100% é\n"), "100%25 %C3%A9%0A");
    }
}
