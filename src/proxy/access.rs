//! The access log line of one request (`logging.access`): time, API, method, the
//! normalised path without its query, status, reason, duration, leaf ID, upstream target
//! and body bytes in and out. No header, query string, token or JWT is ever part of it.

use std::io::Write;

use crate::config::AccessLog;

/// What one access line says.
pub struct AccessEntry<'a> {
    /// The API's name, or `-` when none matched.
    pub api: &'a str,
    /// The request method.
    pub method: &'a str,
    /// The path certgate decided on (normalised; the query is not part of it).
    pub path: &'a str,
    /// The status written (0 when none was).
    pub status: u16,
    /// The reason code of a refusal or an upstream failure.
    pub reason: Option<&'static str>,
    /// From the request's start to the end of the response.
    pub duration_ms: f64,
    /// The client's leaf ID (hex), when there is one.
    pub leaf: Option<&'a str>,
    /// The upstream target's URL, when one was chosen.
    pub upstream: Option<&'a str>,
    /// Request body bytes read.
    pub bytes_in: usize,
    /// Response body bytes sent.
    pub bytes_out: usize,
}

/// Writes `entry` to the access log in `mode` (nothing when it is off). The line is
/// formatted into a buffer this thread keeps, then queued.
pub fn log(mode: AccessLog, entry: &AccessEntry<'_>) {
    use std::cell::RefCell;
    thread_local! {
        static LINE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }
    if mode == AccessLog::Off {
        return;
    }
    LINE.with(|line| {
        let mut line = line.borrow_mut();
        line.clear();
        let mut now = String::with_capacity(24);
        crate::clock::write_rfc3339_ms(&mut now);
        format_into(&mut line, mode, entry, &now);
        crate::logging::access(&line);
    });
}

/// The line for `entry` in `mode` (`None` when the access log is off), without a newline.
/// `now` is the time written first (RFC 3339, UTC, milliseconds).
#[cfg(test)]
fn line(mode: AccessLog, entry: &AccessEntry<'_>, now: &str) -> Option<String> {
    let mut out = Vec::new();
    (mode != AccessLog::Off).then(|| {
        format_into(&mut out, mode, entry, now);
        String::from_utf8_lossy(&out).into_owned()
    })
}

fn format_into(out: &mut Vec<u8>, mode: AccessLog, e: &AccessEntry<'_>, now: &str) {
    match mode {
        AccessLog::Off => {}
        AccessLog::Text => {
            let _ = write!(
                out,
                "{now} api={} method={} path={} status={} reason={} duration_ms={:.3} leaf={} upstream={} bytes_in={} bytes_out={}",
                safe(if e.api.is_empty() { "-" } else { e.api }),
                safe(e.method),
                safe(e.path),
                e.status,
                e.reason.unwrap_or("-"),
                e.duration_ms,
                e.leaf.unwrap_or("-"),
                e.upstream.map(safe).unwrap_or(std::borrow::Cow::Borrowed("-")),
                e.bytes_in,
                e.bytes_out,
            );
        }
        AccessLog::Json => {
            #[derive(serde::Serialize)]
            struct Json<'a> {
                time: &'a str,
                api: Option<&'a str>,
                method: &'a str,
                path: &'a str,
                status: u16,
                reason: Option<&'a str>,
                duration_ms: f64,
                leaf: Option<&'a str>,
                upstream: Option<&'a str>,
                bytes_in: usize,
                bytes_out: usize,
            }
            let j = Json {
                time: now,
                api: (!e.api.is_empty()).then_some(e.api),
                method: e.method,
                path: e.path,
                status: e.status,
                reason: e.reason,
                duration_ms: (e.duration_ms * 1000.0).round() / 1000.0,
                leaf: e.leaf,
                upstream: e.upstream,
                bytes_in: e.bytes_in,
                bytes_out: e.bytes_out,
            };
            // Serialising these types into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut *out, &j);
        }
    }
}

/// A value as one text-log token: bytes outside printable ASCII, spaces, `"` and `%`
/// percent-encoded, so a path can never forge a field or a line.
fn safe(v: &str) -> std::borrow::Cow<'_, str> {
    let clean = |b: u8| (0x21..=0x7e).contains(&b) && b != b'"' && b != b'%';
    if v.bytes().all(clean) {
        return std::borrow::Cow::Borrowed(v);
    }
    let mut out = String::with_capacity(v.len() + 8);
    for b in v.bytes() {
        if clean(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEAF: &str = "abababababababababababababababababababababababababababababababab";

    fn entry<'a>(path: &'a str) -> AccessEntry<'a> {
        AccessEntry {
            api: "orders",
            method: "GET",
            path,
            status: 403,
            reason: Some("cert_not_allowed"),
            duration_ms: 1.23456,
            leaf: Some(LEAF),
            upstream: None,
            bytes_in: 0,
            bytes_out: 97,
        }
    }

    #[test]
    fn text_lines_have_every_field_and_cannot_be_forged() {
        let l = line(AccessLog::Text, &entry("/orders/a b\"x=1\nfake"), "T").unwrap();
        assert_eq!(
            l,
            format!("T api=orders method=GET path=/orders/a%20b%22x=1%0Afake status=403 reason=cert_not_allowed duration_ms=1.235 leaf={} upstream=- bytes_in=0 bytes_out=97", "ab".repeat(32))
        );
        assert!(!l.contains('\n'));
    }

    #[test]
    fn json_lines_parse_back() {
        let l = line(AccessLog::Json, &entry("/orders/x"), "T").unwrap();
        let v: serde_json::Value = serde_json::from_str(&l).unwrap();
        assert_eq!(v["path"], "/orders/x");
        assert_eq!(v["status"], 403);
        assert_eq!(v["reason"], "cert_not_allowed");
        assert_eq!(v["duration_ms"], 1.235);
        assert!(v["upstream"].is_null());
        assert!(line(AccessLog::Off, &entry("/"), "T").is_none());
    }
}
