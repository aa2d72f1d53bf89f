//! The fleet's metrics (SPEC §9), exported only by fleet members: created with the member,
//! registered when it joins the gateway's [`super::Metrics`].

use prometheus::core::Collector;
use prometheus::{Gauge, IntCounterVec, IntGauge, Opts};

/// Reasons of `certgate_fleet_sync_errors_total`.
pub const SYNC_ERROR_REASONS: [&str; 5] = ["unreachable", "bad_notice", "bad_entry", "unreadable_state", "emptied"];

/// A fleet member's gauges and counters.
#[derive(Clone)]
pub struct FleetMetrics {
    /// `certgate_fleet_connected`: 1 while Redis answers and this member is in step.
    pub connected: IntGauge,
    /// `certgate_fleet_revision`: the revision this member serves.
    pub revision: IntGauge,
    /// `certgate_fleet_last_sync_timestamp_seconds`: when it last knew itself current.
    pub last_sync: Gauge,
    /// `certgate_fleet_sync_errors_total{reason}`.
    pub sync_errors: IntCounterVec,
}

// === impl FleetMetrics ===

impl FleetMetrics {
    /// Fresh, unregistered metrics.
    pub fn new() -> FleetMetrics {
        let sync_errors = IntCounterVec::new(
            Opts::new(
                "certgate_fleet_sync_errors_total",
                "Fleet synchronisation failures, by reason (unreachable Redis, notices with a bad MAC, unreadable log entries or records, an emptied namespace).",
            ),
            &["reason"],
        )
        .expect("valid metric");
        for r in SYNC_ERROR_REASONS {
            sync_errors.with_label_values(&[r]);
        }
        FleetMetrics {
            connected: IntGauge::new(
                "certgate_fleet_connected",
                "1 while the fleet's Redis answers and this instance is in step with it, else 0.",
            )
            .expect("valid metric"),
            revision: IntGauge::new(
                "certgate_fleet_revision",
                "The fleet revision (count of control-plane changes) this instance serves.",
            )
            .expect("valid metric"),
            last_sync: Gauge::new(
                "certgate_fleet_last_sync_timestamp_seconds",
                "When this instance last confirmed it serves the fleet's latest revision, seconds since the epoch.",
            )
            .expect("valid metric"),
            sync_errors,
        }
    }

    /// Counts a sync failure.
    pub fn sync_error(&self, reason: &'static str) {
        self.sync_errors.with_label_values(&[reason]).inc();
    }

    fn collectors(&self) -> [Box<dyn Collector>; 4] {
        [
            Box::new(self.connected.clone()),
            Box::new(self.revision.clone()),
            Box::new(self.last_sync.clone()),
            Box::new(self.sync_errors.clone()),
        ]
    }
}

impl Default for FleetMetrics {
    fn default() -> Self {
        FleetMetrics::new()
    }
}

impl super::Metrics {
    /// Exports a fleet member's metrics (once; a second call changes nothing).
    pub fn add_fleet(&self, fleet: &FleetMetrics) {
        for c in fleet.collectors() {
            let _ = self.registry.register(c);
        }
    }
}
