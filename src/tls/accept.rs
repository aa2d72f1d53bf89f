//! The `TlsAccept` callbacks and the listener's `TlsSettings`.

use std::any::Any;
use std::sync::Arc;

use async_trait::async_trait;
use log::warn;
use openssl::ssl::{NameType, SslMode, SslOptions, SslSessionCacheMode, SslVerifyMode};
use pingora::listeners::tls::TlsSettings;
use pingora::listeners::TlsAccept;
use pingora::protocols::tls::TlsRef;

use super::session_store::SessionStore;
use super::{dup_session, set_get_session_callback, set_session_timeout, tls12_sessions_not_resumable, PeerCert};
use crate::config::ClientAuth;
use crate::metrics::Metrics;
use crate::snapshot::handshake::DEFAULT_CIPHERSUITES;
use crate::snapshot::{HandshakePrefs, SnapshotStore};

/// Sessions kept for TLS 1.3 resumption.
const SESSION_CAPACITY: usize = 20_000;
/// How long a session may be resumed.
const SESSION_TTL: std::time::Duration = std::time::Duration::from_secs(300);

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
        // One OpenSSL slot per key type: a chain certificate joins the slot of the key set
        // just before it. OpenSSL then signs with what the client accepts, ECDSA first.
        let result = identity.credentials.iter().try_for_each(|c| {
            ssl.set_certificate(&c.chain[0])?;
            ssl.set_private_key(&c.key)?;
            for cert in &c.chain[1..] {
                ssl.add_chain_cert(cert.clone())?;
            }
            Ok::<_, openssl::error::ErrorStack>(())
        });
        if let Err(e) = result {
            warn!("event=tls_setup_failed error={e}");
        }
        ssl.set_verify(match snap.client_auth {
            ClientAuth::Request => SslVerifyMode::PEER,
            ClientAuth::Require => SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT,
            ClientAuth::None => SslVerifyMode::NONE,
        });
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
/// only recorded (the per-API decision happens per request). `prefs` sets the key-exchange
/// groups and the TLS 1.3 cipher suites, both in the server's order of preference.
pub fn tls_settings(callbacks: DownstreamTls, prefs: &HandshakePrefs) -> pingora::Result<TlsSettings> {
    let mut settings = TlsSettings::with_callbacks(Box::new(callbacks))?;
    settings.enable_h2();
    // Accept any client certificate at the handshake: what it may call is decided per
    // request. A session keeps the leaf and the intermediates the client sent
    // (`SSL_SESSION_dup` copies both), so a resumed connection decides, and forwards, exactly
    // like the full handshake it came from (tests/e2e/resumption.rs pins this).
    settings.set_verify_callback(SslVerifyMode::PEER, |_ok, _ctx| true);
    // Give OpenSSL's ~34 KiB of record buffers back while a connection is idle (as NGINX
    // does), and read whole records (and what follows) in one syscall: the listener has no
    // buffer of its own below TLS.
    settings.set_mode(SslMode::RELEASE_BUFFERS);
    settings.set_read_ahead(true);
    if let Some(groups) = &prefs.groups {
        settings.set_groups_list(groups).map_err(setup_failed("tls.groups"))?;
    }
    let suites = prefs.ciphersuites.as_deref().unwrap_or(DEFAULT_CIPHERSUITES);
    settings
        .set_ciphersuites(suites)
        .map_err(setup_failed("tls.ciphersuites"))?;
    settings.set_options(SslOptions::CIPHER_SERVER_PREFERENCE | SslOptions::PRIORITIZE_CHACHA);
    // Stateful TLS 1.3 tickets (NO_TICKET turns a ticket into a session ID) from certgate's
    // own store, one per handshake, resumable for five minutes like NGINX's default
    // ssl_session_timeout; TLS 1.2 sessions are never resumable.
    settings
        .set_session_id_context(b"certgate")
        .map_err(setup_failed("session id context"))?;
    settings.set_options(SslOptions::NO_TICKET);
    settings.set_session_cache_mode(SslSessionCacheMode::SERVER | SslSessionCacheMode::NO_INTERNAL);
    set_session_timeout(&mut settings, SESSION_TTL.as_secs() as u32);
    settings.set_num_tickets(1).map_err(setup_failed("num tickets"))?;
    tls12_sessions_not_resumable(&mut settings);
    let store = Arc::new(SessionStore::new(SESSION_CAPACITY, SESSION_TTL));
    let saved = store.clone();
    settings.set_new_session_callback(move |_ssl, session| {
        // A copy: OpenSSL marks the original unresumable when its connection ends uncleanly.
        if let Some(copy) = dup_session(&session) {
            saved.insert(session.id(), copy);
        }
    });
    set_get_session_callback(&mut settings, move |id| store.take(id));
    Ok(settings)
}

/// Turns an OpenSSL error while building the listener's settings into Pingora's.
fn setup_failed(what: &'static str) -> impl Fn(openssl::error::ErrorStack) -> Box<pingora::Error> {
    move |e| pingora::Error::because(pingora::ErrorType::InternalError, what, e)
}
