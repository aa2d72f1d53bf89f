//! Every metric certgate exports (SPEC §6), declared in one place with its help text.
//! Label values come from config (API names) and closed enums, never from request data.

mod fleet;
mod server;

pub use fleet::{FleetMetrics, SYNC_ERROR_REASONS};
pub use server::MetricsApp;

use prometheus::{
    Encoder, Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry, TextEncoder,
};

use std::collections::HashSet;

use crate::snapshot::CertGauge;
#[cfg(test)]
use std::sync::Arc;

/// The expiry gauges' label sets: the compiled YAML's (replaced at every compile) and the
/// control plane's (patched change by change). A series is exported while either holds it.
#[derive(Default)]
struct CertLabels {
    compiled: HashSet<[String; 3]>,
    control: HashSet<[String; 3]>,
}

/// The API label used when no API matched (`no_route`).
pub const NO_API: &str = "";

/// certgate's metrics, in their own registry.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    duration: HistogramVec,
    rejections: IntCounterVec,
    upstream_errors: IntCounterVec,
    aborted: IntCounterVec,
    reloads: IntCounterVec,
    last_reload_success: Gauge,
    cert_not_after: GaugeVec,
    crl_next_update: GaugeVec,
    revocation_checks: IntCounterVec,
    /// The policy's check counts already added to `revocation_checks`.
    revocation_seen: parking_lot::Mutex<[u64; 7]>,
    /// Label sets of the expiry gauges now exported, by who sets them.
    cert_labels: parking_lot::Mutex<CertLabels>,
    handshakes_present: IntCounter,
    handshakes_absent: IntCounter,
    forwarded_trusted: IntCounter,
    forwarded_stripped: IntCounter,
}

// === impl Metrics ===

impl Metrics {
    /// Registers every metric in a fresh registry.
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry.register(Box::new(c.clone())).expect("unique metric");
            c
        };
        let requests = counter(
            "certgate_requests_total",
            "Requests answered, by API and HTTP status.",
            &["api", "status"],
        );
        let rejections = counter(
            "certgate_auth_rejections_total",
            "Requests refused by the downstream policy, by API and reason code.",
            &["api", "reason"],
        );
        let upstream_errors = counter(
            "certgate_upstream_errors_total",
            "Requests that failed on the upstream side, by API and reason code.",
            &["api", "reason"],
        );
        let aborted = counter(
            "certgate_responses_aborted_total",
            "Responses cut off after their header was sent because the upstream failed mid-body (the client sees a reset or a truncated body, never a complete answer), by API and reason code.",
            &["api", "reason"],
        );
        let reloads = counter(
            "certgate_config_reloads_total",
            "Configuration reloads, by result.",
            &["result"],
        );
        let handshakes = counter(
            "certgate_tls_handshakes_total",
            "Completed downstream TLS handshakes, by whether the client presented a certificate.",
            &["client_cert"],
        );
        let forwarded = counter(
            "certgate_forwarded_certificates_total",
            "Requests carrying a forwarded client certificate header, by source: trusted (from listen.trusted_ingress, decided on it) or stripped (from any other peer, removed and ignored).",
            &["source"],
        );
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "certgate_request_duration_seconds",
                "Time from request start to the end of the response, by API.",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["api"],
        )
        .expect("valid metric");
        registry.register(Box::new(duration.clone())).expect("unique metric");
        let last_reload_success = Gauge::new(
            "certgate_config_last_reload_success_timestamp_seconds",
            "When the configuration was last loaded successfully (start-up included), seconds since the epoch.",
        )
        .expect("valid metric");
        registry
            .register(Box::new(last_reload_success.clone()))
            .expect("unique metric");
        let cert_not_after = GaugeVec::new(
            Opts::new(
                "certgate_certificate_not_after_timestamp_seconds",
                "Expiry of every loaded certificate, by certificate ID, subject and role.",
            ),
            &["id", "subject", "role"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(cert_not_after.clone()))
            .expect("unique metric");
        for result in ["success", "failure"] {
            reloads.with_label_values(&[result]);
        }
        let revocation_checks = counter(
            "certgate_revocation_checks_total",
            "Revocation checks of client certificates, by source (crl, ocsp) and result (good, revoked, unknown, error).",
            &["source", "result"],
        );
        for source in ["crl", "ocsp"] {
            for result in ["good", "revoked", "unknown", "error"] {
                revocation_checks.with_label_values(&[source, result]);
            }
        }
        let crl_next_update = GaugeVec::new(
            Opts::new(
                "certgate_crl_next_update_timestamp_seconds",
                "nextUpdate of every loaded CRL, by issuing CA certificate ID (seconds since the epoch; +Inf without one).",
            ),
            &["issuer"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(crl_next_update.clone()))
            .expect("unique metric");
        Metrics {
            handshakes_present: handshakes.with_label_values(&["present"]),
            handshakes_absent: handshakes.with_label_values(&["absent"]),
            forwarded_trusted: forwarded.with_label_values(&["trusted"]),
            forwarded_stripped: forwarded.with_label_values(&["stripped"]),
            registry,
            requests,
            duration,
            rejections,
            upstream_errors,
            aborted,
            reloads,
            last_reload_success,
            cert_not_after,
            crl_next_update,
            revocation_checks,
            revocation_seen: Default::default(),
            cert_labels: Default::default(),
        }
    }

    /// Counts a completed downstream handshake.
    pub fn handshake(&self, client_cert: bool) {
        if client_cert {
            &self.handshakes_present
        } else {
            &self.handshakes_absent
        }
        .inc();
    }

    /// Counts a request that carried a forwarded certificate header: `trusted` when it
    /// came from the trusted ingress (and was decided on it), else stripped.
    pub fn forwarded_certificate(&self, trusted: bool) {
        if trusted {
            &self.forwarded_trusted
        } else {
            &self.forwarded_stripped
        }
        .inc();
    }

    /// Counts an answered request and observes its duration.
    pub fn request(&self, api: &str, status: u16, seconds: f64) {
        // 0 (no response written) and anything else out of range are counted as "0".
        let code = http::StatusCode::from_u16(status).ok();
        self.requests
            .with_label_values(&[api, code.as_ref().map_or("0", |c| c.as_str())])
            .inc();
        self.duration.with_label_values(&[api]).observe(seconds);
    }

    /// Counts a downstream policy refusal.
    pub fn rejection(&self, api: &str, reason: &str) {
        self.rejections.with_label_values(&[api, reason]).inc();
    }

    /// Counts an upstream failure.
    pub fn upstream_error(&self, api: &str, reason: &str) {
        self.upstream_errors.with_label_values(&[api, reason]).inc();
    }

    /// Counts a response aborted mid-body.
    pub fn aborted(&self, api: &str, reason: &str) {
        self.aborted.with_label_values(&[api, reason]).inc();
    }

    /// Reloads so far: (successes, failures, when the config last loaded, seconds since
    /// the epoch), for the console's status screen.
    pub fn reload_summary(&self) -> (u64, u64, f64) {
        let n = |r: &str| self.reloads.with_label_values(&[r]).get();
        (n("success"), n("failure"), self.last_reload_success.get())
    }

    /// Counts a reload (or the initial load) and, on success, stamps the time.
    pub fn reload(&self, success: bool) {
        self.reloads
            .with_label_values(&[if success { "success" } else { "failure" }])
            .inc();
        if success {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0);
            self.last_reload_success.set(now);
        }
    }

    /// Replaces the certificate expiry gauges with those of a new snapshot. New values are
    /// set before stale series are removed, so a scrape in between never sees a gauge
    /// missing (at worst, for a moment, one that is about to go).
    pub fn set_certificates(&self, certs: &[CertGauge]) {
        let mut labels = self.cert_labels.lock();
        let next: HashSet<[String; 3]> = certs.iter().map(|c| self.set_gauge(c)).collect();
        let gone: Vec<[String; 3]> = labels.compiled.difference(&next).cloned().collect();
        labels.compiled = next;
        for g in gone {
            if !labels.control.contains(&g) {
                let _ = self.cert_not_after.remove_label_values(&[&g[0], &g[1], &g[2]]);
            }
        }
    }

    /// The control plane's expiry gauges: `added` are set, then `removed` go (unless the
    /// compiled YAML has them too, or they were just added). With `replace`, every earlier
    /// control-plane gauge not in `added` goes as well.
    pub fn update_control_certificates<'a>(
        &self,
        removed: impl IntoIterator<Item = &'a CertGauge>,
        added: impl IntoIterator<Item = &'a CertGauge>,
        replace: bool,
    ) {
        let mut labels = self.cert_labels.lock();
        let added: HashSet<[String; 3]> = added.into_iter().map(|c| self.set_gauge(c)).collect();
        let mut gone: Vec<[String; 3]> = removed.into_iter().map(gauge_labels).collect();
        if replace {
            gone.extend(labels.control.drain());
        }
        for g in gone {
            if added.contains(&g) {
                continue;
            }
            labels.control.remove(&g);
            if !labels.compiled.contains(&g) {
                let _ = self.cert_not_after.remove_label_values(&[&g[0], &g[1], &g[2]]);
            }
        }
        labels.control.extend(added);
    }

    fn set_gauge(&self, c: &CertGauge) -> [String; 3] {
        let labels = gauge_labels(c);
        self.cert_not_after
            .with_label_values(&[&labels[0], &labels[1], &labels[2]])
            .set(c.not_after as f64);
        labels
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> Vec<u8> {
        let mut buf = Vec::new();
        self.sync_revocation_checks();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        buf
    }
}

fn gauge_labels(c: &CertGauge) -> [String; 3] {
    [c.id.to_hex(), c.subject.clone(), c.role.to_string()]
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Adds what the policy counted since the last scrape to `revocation_checks`.
    fn sync_revocation_checks(&self) {
        let mut seen = self.revocation_seen.lock();
        for (i, (source, result, n)) in crate::policy::downstream::revocation::CHECKS
            .read()
            .into_iter()
            .enumerate()
        {
            self.revocation_checks
                .with_label_values(&[source, result])
                .inc_by(n.saturating_sub(seen[i]));
            seen[i] = seen[i].max(n);
        }
    }

    /// Exports the nextUpdate of every loaded CRL, given as (issuing CA ID, nextUpdate), and
    /// drops the gauges of CRLs no longer loaded.
    pub fn set_crls(&self, crls: impl IntoIterator<Item = (crate::certs::CertId, Option<i64>)>) {
        self.crl_next_update.reset();
        for (issuer, next_update) in crls {
            let t = next_update.map(|t| t as f64).unwrap_or(f64::INFINITY);
            self.crl_next_update.with_label_values(&[&issuer.to_hex()]).set(t);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gauge(n: u8, not_after: i64) -> CertGauge {
        CertGauge {
            id: crate::certs::CertId([n; 32]),
            subject: format!("CN={n}"),
            role: "server",
            not_after,
        }
    }

    /// Issue 11: a publish never leaves the expiry gauges empty, even for a moment.
    #[test]
    fn expiry_gauges_are_replaced_without_a_gap() {
        let m = Arc::new(Metrics::new());
        m.set_certificates(&[gauge(1, 100), gauge(2, 200)]);
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let scraper = {
            let (m, stop) = (m.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut empty = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let text = String::from_utf8(m.encode()).unwrap();
                    if !text.contains("certgate_certificate_not_after_timestamp_seconds{") {
                        empty += 1;
                    }
                }
                empty
            })
        };
        for i in 0..2000 {
            m.set_certificates(&[gauge(1, 100 + i), gauge(3, 300)]);
            m.set_certificates(&[gauge(1, 100 + i), gauge(2, 200)]);
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(scraper.join().unwrap(), 0, "a scrape saw no expiry gauge");
        let text = String::from_utf8(m.encode()).unwrap();
        assert!(text.contains(&crate::certs::CertId([2; 32]).to_hex()));
        assert!(
            !text.contains(&crate::certs::CertId([3; 32]).to_hex()),
            "stale series are removed"
        );
    }
}
