//! The `TlsAccept` callbacks and the listener's `TlsSettings`.

use std::any::Any;
use std::sync::Arc;

use async_trait::async_trait;
use log::warn;
use openssl::ssl::{NameType, SslSessionCacheMode, SslVerifyMode, SslVersion};
use openssl::x509::X509StoreContext;
use pingora::listeners::tls::TlsSettings;
use pingora::listeners::TlsAccept;
use pingora::protocols::tls::TlsRef;

use super::{disable_tls12_tickets, sent_chain_len, suppress_tls13_tickets, PeerCert};
use crate::config::ClientAuth;
use crate::metrics::Metrics;
use crate::snapshot::SnapshotStore;

/// Per-handshake callbacks: pick the server certificate from the current snapshot and
/// record the client certificate.
pub struct DownstreamTls {
    store: Arc<SnapshotStore>,
    metrics: Arc<Metrics>,
}

// === impl DownstreamTls ===

impl DownstreamTls {
    /// Callbacks reading `store`.
    pub fn new(store: Arc<SnapshotStore>, metrics: Arc<Metrics>) -> DownstreamTls {
        DownstreamTls { store, metrics }
    }
}

#[async_trait]
impl TlsAccept for DownstreamTls {
    async fn certificate_callback(&self, ssl: &mut TlsRef) {
        let snap = self.store.load_full();
        let Some(server) = &snap.server else { return };
        let identity = server.select(ssl.servername(NameType::HOST_NAME));
        let result = (|| {
            ssl.set_certificate(&identity.chain[0])?;
            ssl.set_private_key(&identity.key)?;
            for c in &identity.chain[1..] {
                ssl.add_chain_cert(c.clone())?;
            }
            Ok::<_, openssl::error::ErrorStack>(())
        })();
        if let Err(e) = result {
            warn!("event=tls_setup_failed error={e}");
        }
        ssl.set_verify(match snap.client_auth {
            ClientAuth::Request => SslVerifyMode::PEER,
            ClientAuth::Require => SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT,
            ClientAuth::None => SslVerifyMode::NONE,
        });
        if ssl.version2() != Some(SslVersion::TLS1_3) {
            disable_tls12_tickets(ssl);
        }
    }

    async fn handshake_complete_callback(&self, ssl: &TlsRef) -> Option<Arc<dyn Any + Send + Sync>> {
        let Some(leaf) = ssl.peer_certificate() else {
            self.metrics.handshake(false);
            return None;
        };
        self.metrics.handshake(true);
        let chain = ssl
            .peer_cert_chain()
            .map(|s| s.iter().map(|c| c.to_owned()).collect())
            .unwrap_or_default();
        match PeerCert::new(leaf, chain) {
            Ok(p) => Some(Arc::new(p)),
            Err(e) => {
                warn!("event=client_cert_unreadable error={e}");
                None
            }
        }
    }
}

/// TLS settings for the HTTPS listener: Mozilla intermediate profile, HTTP/2 and HTTP/1.1,
/// certificates chosen per handshake, and a client certificate request whose outcome is
/// only recorded (the per-API decision happens per request).
pub fn tls_settings(callbacks: DownstreamTls) -> pingora::Result<TlsSettings> {
    let mut settings = TlsSettings::with_callbacks(Box::new(callbacks))?;
    settings.enable_h2();
    // Accept any client certificate at the handshake; suppress resumption for clients whose
    // intermediates a resumed session would lose.
    settings.set_verify_callback(SslVerifyMode::PEER, |_ok, ctx| {
        if sent_chain_len(ctx) > 1 {
            if let Ok(idx) = X509StoreContext::ssl_idx() {
                if let Some(ssl) = ctx.ex_data(idx) {
                    suppress_tls13_tickets(ssl);
                }
            }
        }
        true
    });
    settings
        .set_session_id_context(b"certgate")
        .map_err(|e| pingora::Error::because(pingora::ErrorType::InternalError, "session id context", e))?;
    settings.set_session_cache_mode(SslSessionCacheMode::OFF);
    Ok(settings)
}
