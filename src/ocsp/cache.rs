//! Answers per leaf, kept until `min(nextUpdate, ocsp_cache_seconds)`; concurrent first
//! requests for one leaf share one fetch (a once-cell per leaf and fetch), and a failed
//! fetch is not retried for [`RETRY_AFTER_ERROR`] seconds, so a responder that is down is
//! not asked again by every request.

use std::hash::BuildHasherDefault;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use log::warn;
use openssl::x509::X509;
use pingora::connectors::http::v1::Connector;
use tokio::sync::OnceCell;

use super::fetch::fetch;
use crate::certs::ocsp::{read_response, request_der, responder_urls, OcspAnswer};
use crate::certs::{CertId, DigestHasher};
use crate::clock::now_unix;

/// Seconds a failed fetch stands before the next request for that leaf asks again.
pub const RETRY_AFTER_ERROR: i64 = 10;

/// Leaves kept; past it, expired answers are dropped.
pub const MAX_CACHED: usize = 100_000;

/// The outcome of one fetch, and until when it stands.
#[derive(Clone, Debug)]
struct Outcome {
    answer: Result<OcspAnswer, String>,
    until: i64,
}

/// One leaf's current fetch: set once, by whichever request came first.
#[derive(Default)]
struct Slot(OnceCell<Outcome>);

impl Slot {
    fn expired(&self, now: i64) -> bool {
        self.0.get().is_some_and(|o| o.until <= now)
    }
}

/// The gateway's OCSP answers, by leaf certificate ID. Shared by every connection.
pub struct OcspCache {
    connector: Connector,
    slots: DashMap<CertId, Arc<Slot>, BuildHasherDefault<DigestHasher>>,
    fetches: AtomicU64,
}

impl Default for OcspCache {
    fn default() -> Self {
        OcspCache {
            connector: Connector::new(None),
            slots: DashMap::default(),
            fetches: AtomicU64::new(0),
        }
    }
}

impl OcspCache {
    /// The status of `leaf` (ID `leaf_id`, issued by `issuer`): the kept answer while it
    /// stands, else one fetch from the leaf's responder within `timeout`, kept for at most
    /// `cache_for`. `Err` says why no answer could be had (no responder, down, slow, a
    /// response that does not verify).
    pub async fn status(
        &self,
        leaf_id: CertId,
        leaf: &X509,
        issuer: &X509,
        timeout: Duration,
        cache_for: Duration,
    ) -> Result<OcspAnswer, String> {
        let now = now_unix();
        let slot = {
            if self.slots.len() >= MAX_CACHED {
                self.slots.retain(|_, s| !s.expired(now));
            }
            let mut e = self.slots.entry(leaf_id).or_default();
            if e.expired(now) {
                *e = Arc::new(Slot::default());
            }
            e.clone()
        };
        let outcome = slot
            .0
            .get_or_init(|| async {
                self.fetches.fetch_add(1, Ordering::Relaxed);
                let answer = self.ask(leaf, issuer, timeout).await;
                if let Err(e) = &answer {
                    // Once per fetch (a failure stands RETRY_AFTER_ERROR s), not per request.
                    warn!(
                        "event=ocsp_error leaf={} retry_in_s={RETRY_AFTER_ERROR} error=\"{}\"",
                        leaf_id.to_hex(),
                        e.replace('"', "'")
                    );
                }
                let done = now_unix();
                let cap = done + cache_for.as_secs() as i64;
                let until = match &answer {
                    Ok(a) => a.next_update.map_or(cap, |n| n.min(cap)),
                    // At least a second, so a zero cache does not refetch within one.
                    Err(_) => (done + RETRY_AFTER_ERROR).min(cap.max(done + 1)),
                };
                Outcome { answer, until }
            })
            .await;
        outcome.answer.clone()
    }

    /// How many fetches were started (each leaf's first request, and each after expiry).
    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// Asks the leaf's responders in turn until one gives an answer that verifies.
    async fn ask(&self, leaf: &X509, issuer: &X509, timeout: Duration) -> Result<OcspAnswer, String> {
        let urls = responder_urls(leaf);
        if urls.is_empty() {
            return Err("the certificate names no http:// OCSP responder".into());
        }
        let request = request_der(leaf, issuer)?;
        let mut last = String::new();
        for url in &urls {
            match fetch(&self.connector, url, &request, timeout).await {
                Ok(body) => match read_response(&body, leaf, issuer) {
                    Ok(a) => return Ok(a),
                    Err(e) => last = format!("{url}: {e}"),
                },
                Err(e) => last = e,
            }
        }
        Err(last)
    }
}
