//! The `/metrics` HTTP endpoint.

use std::sync::Arc;

use async_trait::async_trait;
use http::Response;
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;

use super::Metrics;

/// Serves `GET /metrics` in the Prometheus text format; every other path is 404.
pub struct MetricsApp {
    metrics: Arc<Metrics>,
}

// === impl MetricsApp ===

impl MetricsApp {
    /// An endpoint over `metrics`.
    pub fn new(metrics: Arc<Metrics>) -> MetricsApp {
        MetricsApp { metrics }
    }
}

#[async_trait]
impl ServeHttp for MetricsApp {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let req = session.req_header();
        let (status, ctype, body) =
            if req.uri.path() == "/metrics" && (req.method == http::Method::GET || req.method == http::Method::HEAD) {
                (200, "text/plain; version=0.0.4", self.metrics.encode())
            } else {
                (404, "text/plain", b"not found\n".to_vec())
            };
        Response::builder()
            .status(status)
            .header(http::header::CONTENT_TYPE, ctype)
            .header(http::header::CONTENT_LENGTH, body.len())
            .body(body)
            .unwrap_or_default()
    }
}
