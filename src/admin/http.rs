//! The admin API over HTTP: authentication (admin key, and the admin allow list when the
//! listener is mTLS), the body limits (1 MiB; 32 MiB for `POST /crls`), and JSON answers.

use std::sync::Arc;

use async_trait::async_trait;
use http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use http::Response;
use log::info;
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use serde_json::json;

use super::api::{AdminRequest, AdminResponse, MAX_CRL_BODY};
use super::console::session::same_secret;
use super::console::{Console, ConsoleRequest, SECURITY_HEADERS};
use super::ControlPlane;
use crate::clock::now_unix;
use crate::policy::downstream::{client_cert, revocation};
use crate::policy::PeerCert;
use crate::request::headers::bearer;
use crate::snapshot::SnapshotStore;

/// Largest accepted request body.
pub const MAX_BODY: usize = 1024 * 1024;

/// The admin API application, with the operator console under `/ui/`.
pub struct AdminApp {
    cp: Arc<ControlPlane>,
    store: Arc<SnapshotStore>,
    console: Arc<Console>,
}

// === impl AdminApp ===

impl AdminApp {
    /// Serves `cp`; `store` provides the admin allow list (`admin.client_certificates`).
    pub fn new(cp: Arc<ControlPlane>, store: Arc<SnapshotStore>) -> AdminApp {
        AdminApp {
            cp,
            store,
            console: Arc::new(Console::default()),
        }
    }

    /// `admin.client_certificates`: when the admin listener is mTLS, the client's leaf
    /// against its allow list and the CRLs (for the API and the console alike).
    fn check_client(&self, session: &ServerSession) -> Result<(), AdminResponse> {
        let deny = |status: u16, code: &str, message: &str| AdminResponse {
            status,
            body: Some(json!({"error": message, "code": code})),
        };
        let snap = self.store.load();
        if let Some(allow) = snap.admin_allow.as_ref() {
            let peer = session
                .digest()
                .and_then(|d| d.ssl_digest.as_ref())
                .and_then(|s| s.extension.get::<PeerCert>());
            // The admin listener's certificates are checked against the CRLs too.
            let now = now_unix();
            let decided = client_cert::check(&Default::default(), allow, peer, now).and_then(|allowed| match peer {
                Some(p) => revocation::check(&snap.revocation, p, allowed, now),
                None => Ok(()),
            });
            if let Err(d) = decided {
                let a = d.answer();
                return Err(deny(403, a.reason, &a.message));
            }
        }
        Ok(())
    }

    fn authenticate(&self, session: &ServerSession) -> Result<(), AdminResponse> {
        let deny = |status: u16, code: &str, message: &str| AdminResponse {
            status,
            body: Some(json!({"error": message, "code": code})),
        };
        self.check_client(session)?;
        let Ok(token) = bearer(&session.req_header().headers, &AUTHORIZATION) else {
            return Err(deny(400, "invalid_request", "Authorization sent more than once"));
        };
        let Some(token) = token else {
            return Err(deny(
                401,
                "admin_key_missing",
                "Authorization: Bearer <admin key> is required",
            ));
        };
        if same_secret(token, &self.cp.admin_key) {
            Ok(())
        } else {
            Err(deny(403, "admin_key_invalid", "the admin key is not valid"))
        }
    }
}

#[async_trait]
impl ServeHttp for AdminApp {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let path = session.req_header().uri.path();
        if path == "/ui" || path.starts_with("/ui/") {
            return self.console(session).await;
        }
        let answer = match self.authenticate(session) {
            Err(a) => a,
            Ok(()) => match read_body(session, body_limit(session)).await {
                Err(a) => a,
                Ok(body) => {
                    let req = session.req_header();
                    let request = AdminRequest {
                        method: req.method.clone(),
                        path: req.uri.path().to_string(),
                        query: req.uri.query().map(String::from),
                        body,
                    };
                    let cp = self.cp.clone();
                    let (method, path) = (request.method.clone(), request.path.clone());
                    let a = tokio::task::spawn_blocking(move || cp.handle(&request))
                        .await
                        .unwrap_or_else(|_| AdminResponse {
                            status: 500,
                            body: Some(json!({"error": "internal error", "code": "internal_error"})),
                        });
                    if method != http::Method::GET {
                        info!("event=admin_call method={method} path={path} status={}", a.status);
                    }
                    a
                }
            },
        };
        json_response(answer)
    }
}

impl AdminApp {
    /// A console request: the admin allow list first (as for the API), then the console.
    async fn console(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        if let Err(a) = self.check_client(session) {
            return json_response(a);
        }
        let body = match read_body(session, body_limit(session)).await {
            Ok(b) => b,
            Err(a) => return json_response(a),
        };
        let tls = session.digest().is_some_and(|d| d.ssl_digest.is_some());
        let req = session.req_header();
        let header = |name: &str| req.headers.get(name).and_then(|v| v.to_str().ok()).map(String::from);
        let (method, path, query) = (
            req.method.clone(),
            req.uri.path().to_string(),
            req.uri.query().map(String::from),
        );
        let (cookie, origin, fetch_site) = (header("cookie"), header("origin"), header("sec-fetch-site"));
        let content_type = header("content-type");
        let host = req
            .uri
            .authority()
            .map(|a| a.as_str().to_string())
            .or_else(|| header("host"));
        let (cp, console) = (self.cp.clone(), self.console.clone());
        let answer = tokio::task::spawn_blocking(move || {
            console.handle(
                &cp,
                &ConsoleRequest {
                    method: &method,
                    path: &path,
                    query: query.as_deref(),
                    cookie: cookie.as_deref(),
                    origin: origin.as_deref(),
                    fetch_site: fetch_site.as_deref(),
                    host: host.as_deref(),
                    content_type: content_type.as_deref(),
                    body: &body,
                    tls,
                },
            )
        })
        .await;
        let Ok(answer) = answer else {
            return json_response(AdminResponse {
                status: 500,
                body: Some(json!({"error": "internal error", "code": "internal_error"})),
            });
        };
        let mut b = Response::builder()
            .status(answer.status)
            .header(CONTENT_LENGTH, answer.body.len());
        for (k, v) in SECURITY_HEADERS {
            b = b.header(*k, *v);
        }
        for (k, v) in &answer.headers {
            b = b.header(*k, v.as_str());
        }
        b.body(answer.body).unwrap_or_default()
    }
}

/// An admin API answer as an HTTP response.
fn json_response(answer: AdminResponse) -> Response<Vec<u8>> {
    let body = answer
        .body
        .map(|v| serde_json::to_vec(&v).unwrap_or_default())
        .unwrap_or_default();
    let mut b = Response::builder()
        .status(answer.status)
        .header(CONTENT_LENGTH, body.len());
    if !body.is_empty() {
        b = b.header(CONTENT_TYPE, "application/json");
    }
    b.body(body).unwrap_or_default()
}

/// The largest body this call may send: CRLs are large (through the API or the console),
/// everything else is small JSON or a small form.
fn body_limit(session: &ServerSession) -> usize {
    let req = session.req_header();
    let path = req.uri.path().trim_end_matches('/');
    if req.method == http::Method::POST && (path == "/crls" || path == "/ui/crls") {
        MAX_CRL_BODY
    } else {
        MAX_BODY
    }
}

async fn read_body(session: &mut ServerSession, limit: usize) -> Result<Vec<u8>, AdminResponse> {
    let too_large = || AdminResponse {
        status: 413,
        body: Some(json!({
            "error": format!("the request body is over {} MiB", limit >> 20),
            "code": "invalid_request"
        })),
    };
    let declared = session
        .req_header()
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    loop {
        match session.read_request_body().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > limit {
                    return Err(too_large());
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) => {
                return Err(AdminResponse {
                    status: 400,
                    body: Some(json!({"error": format!("cannot read the body: {e}"), "code": "invalid_request"})),
                })
            }
        }
    }
}
