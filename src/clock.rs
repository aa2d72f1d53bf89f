//! The wall clock, in the two units certgate uses. One place, so every module reads time
//! the same way (and none depends on another only for the time).

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the epoch.
pub fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Now as RFC 3339 in UTC with milliseconds (`2026-12-04T20:21:09.123Z`), for log lines.
pub fn now_rfc3339_ms() -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    time::OffsetDateTime::now_utc().format(&format).unwrap_or_default()
}
