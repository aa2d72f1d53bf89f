//! This instance as a fleet member: its connection to the namespace, whether it is in step
//! (and so may write), its metrics, and the one log line per change of state.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use log::{error, info, warn};

use super::store::{FleetStore, Position};
use crate::admin::error::OpenError;
use crate::config::LoadedConfig;
use crate::metrics::FleetMetrics;

const NEVER: u8 = 0;
const UP: u8 = 1;
const DOWN: u8 = 2;

/// A fleet member.
pub struct Member {
    /// The namespace in Redis.
    pub store: FleetStore,
    /// Its metrics.
    pub metrics: FleetMetrics,
    /// In step since the last (re)connect: writes are accepted.
    ready: AtomicBool,
    /// What was last logged: never connected, up or down.
    logged: AtomicU8,
}

// === impl Member ===

impl Member {
    /// The member the `fleet` section describes, with notice key `secret`. Connects
    /// lazily: an unreachable Redis is an outage, not an error.
    pub fn open(cfg: &LoadedConfig, secret: Vec<u8>) -> Result<Member, OpenError> {
        let f = cfg.raw.fleet.as_ref().ok_or(OpenError::NoAdminSection)?;
        let client = match &f.tls {
            None => redis::Client::open(f.redis_url.as_str()),
            Some(tls) => {
                // rustls needs one process-wide crypto provider; ring is the one compiled in.
                let _ = rustls::crypto::ring::default_provider().install_default();
                let read = |p: &str| {
                    let path = cfg.resolve_path(p);
                    std::fs::read(&path).map_err(|e| OpenError::Fleet(format!("{}: {e}", path.display())))
                };
                let root_cert = tls.ca.as_deref().map(read).transpose()?;
                let client_tls = tls.certificate.as_deref().map(read).transpose()?.map(|pem| {
                    // One PEM holds both: the certificate parser skips the key and the key
                    // parser the certificates.
                    redis::ClientTlsConfig {
                        client_cert: pem.clone(),
                        client_key: pem,
                    }
                });
                redis::Client::build_with_tls(f.redis_url.as_str(), redis::TlsCertificates { client_tls, root_cert })
            }
        }
        .map_err(|e| OpenError::Fleet(format!("fleet.redis_url: {e}")))?;
        Ok(Member {
            store: FleetStore::new(client, &f.name, secret),
            metrics: FleetMetrics::new(),
            ready: AtomicBool::new(false),
            logged: AtomicU8::new(NEVER),
        })
    }

    /// Whether admin writes are accepted: Redis answered and this member caught up since.
    pub fn writable(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Redis stopped answering: writes are refused until the next full load. Logged once
    /// per outage.
    pub fn lost(&self, why: &dyn std::fmt::Display) {
        self.ready.store(false, Ordering::Release);
        self.metrics.connected.set(0);
        self.metrics.sync_error("unreachable");
        if self.logged.swap(DOWN, Ordering::AcqRel) != DOWN {
            warn!(
                "event=fleet_unavailable namespace={} error=\"{why}\" message=\"serving the last state; admin writes answer 503 until Redis is back\"",
                self.store.name()
            );
        }
    }

    /// Redis answers but this member must not follow it (an emptied namespace).
    pub fn hold(&self, reason: &'static str, message: &str) {
        self.ready.store(false, Ordering::Release);
        self.metrics.connected.set(0);
        self.metrics.sync_error(reason);
        if self.logged.swap(DOWN, Ordering::AcqRel) != DOWN {
            error!(
                "event=fleet_held namespace={} reason={reason} message=\"{message}\"",
                self.store.name()
            );
        }
    }

    /// This member serves the fleet's latest revision `at`.
    pub fn in_step(&self, at: &Position) {
        self.metrics.revision.set(at.rev as i64);
        self.metrics.last_sync.set(crate::clock::now_unix() as f64);
        self.metrics.connected.set(1);
        self.ready.store(true, Ordering::Release);
        if self.logged.swap(UP, Ordering::AcqRel) != UP {
            info!(
                "event=fleet_in_step namespace={} revision={} message=\"admin writes accepted\"",
                self.store.name(),
                at.rev
            );
        }
    }
}
