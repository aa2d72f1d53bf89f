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

/// Appends now as RFC 3339 in UTC with milliseconds (`2026-12-04T20:21:09.123Z`) to
/// `out`, for log lines. The date and time of the current second are formatted once per
/// second and thread, not per line.
pub fn write_rfc3339_ms(out: &mut String) {
    use std::cell::RefCell;
    thread_local! {
        static SECOND: RefCell<(i64, String)> = const { RefCell::new((i64::MIN, String::new())) };
    }
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let (secs, millis) = (d.as_secs() as i64, d.subsec_millis());
    SECOND.with(|cached| {
        let mut cached = cached.borrow_mut();
        if cached.0 != secs {
            let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
            let text = time::OffsetDateTime::from_unix_timestamp(secs)
                .ok()
                .and_then(|t| t.format(&format).ok())
                .unwrap_or_default();
            *cached = (secs, text);
        }
        out.push_str(&cached.1);
    });
    use std::fmt::Write;
    let _ = write!(out, ".{millis:03}Z");
}
