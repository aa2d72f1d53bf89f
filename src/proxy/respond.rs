//! Every answer certgate writes itself: policy denials and upstream failures, as the
//! SPEC's JSON bodies (or, to a gRPC call, as gRPC: [`super::grpc`]).

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, WWW_AUTHENTICATE};
use pingora::http::ResponseHeader;
use pingora::protocols::http::ServerSession;
use pingora::proxy::Session;
use pingora::{Error, ErrorType};

use super::grpc;
use crate::policy::deny::{json_error, Deny};

/// Error type of a failed pin check (answered as `upstream_pin_mismatch`).
pub const PIN_MISMATCH: ErrorType = ErrorType::Custom("UpstreamPinMismatch");

/// An upstream failure as answered to the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UpstreamAnswer {
    /// HTTP status.
    pub status: u16,
    /// `error` field.
    pub message: &'static str,
    /// `code` field and metric reason.
    pub reason: &'static str,
}

/// Writes a denial.
pub async fn deny(session: &mut Session, deny: &Deny) -> pingora::Result<()> {
    if grpc::is_grpc(&session.req_header().headers) {
        return write_grpc(session, deny.status(), &deny.message(), deny.reason()).await;
    }
    let body = json_error(&deny.message(), deny.reason());
    write_json(session, deny.status(), body, deny.www_authenticate()).await
}

/// Writes an upstream failure.
pub async fn upstream_failure(session: &mut Session, a: UpstreamAnswer) -> pingora::Result<()> {
    if grpc::is_grpc(&session.req_header().headers) {
        return write_grpc(session, a.status, a.message, a.reason).await;
    }
    write_json(session, a.status, json_error(a.message, a.reason), None).await
}

/// Writes a `bad_request`-coded answer for a client-side fault (`status` 4xx).
pub async fn client_error(session: &mut Session, status: u16, message: &str) -> pingora::Result<()> {
    write_json(session, status, json_error(message, "bad_request"), None).await
}

/// Classifies a proxy error that came from the upstream side; `None` for others.
///
/// `fresh_tls_unanswered`: the error happened on a TLS connection made for this request
/// before the upstream sent anything. A TLS 1.3 server that refuses our client certificate
/// does so after the handshake, by closing: that is a TLS failure, not an unavailable upstream.
pub fn classify_upstream(e: &Error, fresh_tls_unanswered: bool) -> Option<UpstreamAnswer> {
    use ErrorType::*;
    let tls = UpstreamAnswer {
        status: 502,
        message: "Upstream TLS verification failed",
        reason: "upstream_tls_failed",
    };
    let down = UpstreamAnswer {
        status: 502,
        message: "Upstream unavailable",
        reason: "upstream_unavailable",
    };
    match e.etype() {
        t if *t == PIN_MISMATCH => Some(UpstreamAnswer {
            status: 502,
            message: "Upstream certificate pinning failed",
            reason: "upstream_pin_mismatch",
        }),
        InvalidCert | TLSHandshakeFailure | HandshakeError | TLSWantX509Lookup => Some(tls),
        WriteError | ReadError | ConnectionClosed
            if fresh_tls_unanswered && *e.esource() == pingora::ErrorSource::Upstream =>
        {
            Some(tls)
        }
        ReadTimedout | WriteTimedout if *e.esource() != pingora::ErrorSource::Downstream => Some(UpstreamAnswer {
            status: 504,
            message: "Upstream timed out",
            reason: "upstream_unavailable",
        }),
        _ if *e.esource() == pingora::ErrorSource::Upstream => Some(down),
        ConnectTimedout | ConnectRefused | ConnectNoRoute | ConnectError | BindError | SocketError
        | ConnectProxyFailure => Some(down),
        _ => None,
    }
}

/// A gRPC "Trailers-Only" answer: HTTP 200, headers only, the status in `grpc-status`.
async fn write_grpc(session: &mut Session, status: u16, message: &str, reason: &'static str) -> pingora::Result<()> {
    let mut resp = ResponseHeader::build(200, Some(5))?;
    resp.insert_header(CONTENT_TYPE, "application/grpc")?;
    resp.insert_header("grpc-status", grpc::status_for(status).to_string())?;
    resp.insert_header("grpc-message", grpc::percent_encode(message))?;
    resp.insert_header("certgate-reason", reason)?;
    resp.insert_header(CONTENT_LENGTH, 0)?;
    if let ServerSession::H2(h2) = &mut *session.downstream_session {
        // One HEADERS frame with END_STREAM, as gRPC's Trailers-Only form must be. Pingora's
        // `Session::write_response_header` drops the end flag on HTTP/2 and ends the stream
        // with an empty DATA frame, which strict clients (grpcio) reject as a protocol error.
        h2.write_response_header(Box::new(resp), true)?;
    } else {
        session.write_response_header(Box::new(resp), true).await?;
    }
    // On HTTP/2 the frame is only queued when this returns. Dropping the stream while the
    // client's half is still open resets it, but with NO_ERROR (our half is closed), and the
    // h2 crate sends everything queued before a NO_ERROR reset (RFC 9113 §8.1): nothing to
    // wait for here.
    Ok(())
}

async fn write_json(
    session: &mut Session,
    status: u16,
    body: Vec<u8>,
    www: Option<&'static str>,
) -> pingora::Result<()> {
    let mut resp = ResponseHeader::build(status, Some(4))?;
    resp.insert_header(CONTENT_TYPE, "application/json")?;
    resp.insert_header(CONTENT_LENGTH, body.len())?;
    if let Some(w) = www {
        resp.insert_header(WWW_AUTHENTICATE, w)?;
    }
    session.write_response_header(Box::new(resp), false).await?;
    session.write_response_body(Some(Bytes::from(body)), true).await
}
