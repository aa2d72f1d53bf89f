//! The access log line of one request (`logging.access`): time, API, method, the
//! normalised path without its query, status, reason, duration, leaf ID, upstream target
//! and body bytes in and out. No header, query string, token or JWT is ever part of it.

use std::fmt::Write;

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
    pub leaf: Option<String>,
    /// The upstream target's URL, when one was chosen.
    pub upstream: Option<&'a str>,
    /// Request body bytes read.
    pub bytes_in: usize,
    /// Response body bytes sent.
    pub bytes_out: usize,
}

/// The line for `entry` in `mode` (`None` when the access log is off), without a newline.
/// `now` is the time written first (RFC 3339, UTC, milliseconds).
pub fn line(mode: AccessLog, entry: &AccessEntry<'_>, now: &str) -> Option<String> {
    match mode {
        AccessLog::Off => None,
        AccessLog::Text => Some(text(entry, now)),
        AccessLog::Json => Some(json(entry, now)),
    }
}

fn text(e: &AccessEntry<'_>, now: &str) -> String {
    let mut out = String::with_capacity(256);
    let _ = write!(
        out,
        "{now} api={} method={} path={} status={} reason={} duration_ms={:.3} leaf={} upstream={} bytes_in={} bytes_out={}",
        safe(if e.api.is_empty() { "-" } else { e.api }),
        safe(e.method),
        safe(e.path),
        e.status,
        e.reason.unwrap_or("-"),
        e.duration_ms,
        e.leaf.as_deref().unwrap_or("-"),
        e.upstream.map(safe).unwrap_or(std::borrow::Cow::Borrowed("-")),
        e.bytes_in,
        e.bytes_out,
    );
    out
}

fn json(e: &AccessEntry<'_>, now: &str) -> String {
    serde_json::json!({
        "time": now,
        "api": if e.api.is_empty() { None } else { Some(e.api) },
        "method": e.method,
        "path": e.path,
        "status": e.status,
        "reason": e.reason,
        "duration_ms": (e.duration_ms * 1000.0).round() / 1000.0,
        "leaf": e.leaf,
        "upstream": e.upstream,
        "bytes_in": e.bytes_in,
        "bytes_out": e.bytes_out,
    })
    .to_string()
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
            let _ = write!(out, "%{b:02X}");
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry<'a>(path: &'a str) -> AccessEntry<'a> {
        AccessEntry {
            api: "orders",
            method: "GET",
            path,
            status: 403,
            reason: Some("cert_not_allowed"),
            duration_ms: 1.23456,
            leaf: Some("ab".repeat(32)),
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
