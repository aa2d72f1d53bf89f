//! The request path as certgate routes and forwards it (SPEC §3 step 0).
//!
//! [`normalize`] turns the path component of a request target into its one canonical form:
//! percent-encoded unreserved characters decoded, other escapes in upper case, dot segments
//! resolved (RFC 3986 §5.2.4) and repeated `/` merged. What cannot be made unambiguous is
//! refused with a [`PathError`]. [`without_params`] is the path as a server that drops
//! `;` path parameters (Tomcat, Jetty, Spring) reads it, so the caller can refuse a request
//! whose two readings would be decided differently.
//!
//! This module only parses: it knows nothing of APIs or routes.

use std::borrow::Cow;
use std::fmt;

/// Why a path cannot be given one meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathError {
    /// The path does not start with `/`.
    NotAbsolute,
    /// A NUL or other control byte, raw or percent-encoded, or a space.
    Control,
    /// A raw `\` (many servers read it as `/`).
    Backslash,
    /// `%2f` or `%5c`: an encoded separator, read as one by some servers and not by others.
    EncodedSeparator,
    /// A `%` not followed by two hex digits.
    BadEscape,
    /// A raw byte outside ASCII (it must be percent-encoded).
    NonAscii,
    /// A `#` (a fragment is never part of a request target).
    Fragment,
    /// A `..` segment above the root.
    AboveRoot,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathError::NotAbsolute => "path does not start with /",
            PathError::Control => "control byte in path",
            PathError::Backslash => "backslash in path",
            PathError::EncodedSeparator => "encoded / or \\ in path",
            PathError::BadEscape => "malformed percent escape",
            PathError::NonAscii => "raw non-ASCII byte in path",
            PathError::Fragment => "fragment in request target",
            PathError::AboveRoot => "dot segment above the root",
        })
    }
}

/// What one byte of a path needs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Kept as it is.
    Plain,
    /// `/`.
    Slash,
    /// `.`.
    Dot,
    /// `%`, to be decoded or re-cased.
    Percent,
}

/// Normalises the path component of a request target (no query). Borrows when the path is
/// already canonical, which is the common case.
pub fn normalize(path: &str) -> Result<Cow<'_, str>, PathError> {
    let bytes = path.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(PathError::NotAbsolute);
    }
    // One scan: validate every byte and notice whether anything needs rewriting.
    let mut dirty = false;
    let mut seg_start = 1;
    for (i, &b) in bytes.iter().enumerate() {
        match classify(b)? {
            Class::Plain | Class::Dot => {}
            Class::Percent => dirty = true,
            Class::Slash => {
                if i > 0 && (i == seg_start || is_dot_segment(&bytes[seg_start..i])) {
                    dirty = true;
                }
                seg_start = i + 1;
            }
        }
    }
    if is_dot_segment(&bytes[seg_start..]) {
        dirty = true;
    }
    if !dirty {
        return Ok(Cow::Borrowed(path));
    }
    let decoded = decode_unreserved(bytes)?;
    resolve_segments(&decoded).map(Cow::Owned)
}

/// The path as a server that strips `;` parameters from every segment reads it (`..;` is
/// then `..`), normalised again; `None` when the path has no `;`.
pub fn without_params(path: &str) -> Option<Result<String, PathError>> {
    if !path.contains(';') {
        return None;
    }
    let mut out = String::with_capacity(path.len());
    for (i, seg) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(seg.split(';').next().unwrap_or(""));
    }
    Some(normalize(&out).map(Cow::into_owned))
}

/// Validates one byte.
fn classify(b: u8) -> Result<Class, PathError> {
    match b {
        b'/' => Ok(Class::Slash),
        b'.' => Ok(Class::Dot),
        b'%' => Ok(Class::Percent),
        b'\\' => Err(PathError::Backslash),
        b'#' => Err(PathError::Fragment),
        0..=0x20 | 0x7f => Err(PathError::Control),
        0x80..=0xff => Err(PathError::NonAscii),
        _ => Ok(Class::Plain),
    }
}

fn is_dot_segment(seg: &[u8]) -> bool {
    seg == b"." || seg == b".."
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes escapes of unreserved characters and upper-cases the hex of the others.
fn decode_unreserved(bytes: &[u8]) -> Result<String, PathError> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b != b'%' {
            out.push(b as char);
            i += 1;
            continue;
        }
        let (Some(hi), Some(lo)) = (
            bytes.get(i + 1).copied().and_then(hex_value),
            bytes.get(i + 2).copied().and_then(hex_value),
        ) else {
            return Err(PathError::BadEscape);
        };
        let v = hi << 4 | lo;
        match v {
            b'/' | b'\\' => return Err(PathError::EncodedSeparator),
            0..=0x1f | 0x7f => return Err(PathError::Control),
            v if is_unreserved(v) => out.push(v as char),
            v => {
                out.push('%');
                out.push(HEX[(v >> 4) as usize] as char);
                out.push(HEX[(v & 15) as usize] as char);
            }
        }
        i += 3;
    }
    Ok(out)
}

/// Resolves `.` and `..` and merges empty segments; a trailing `/` (or a trailing dot
/// segment) leaves the result ending in `/`.
fn resolve_segments(path: &str) -> Result<String, PathError> {
    let mut segments: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    for seg in path.split('/').skip(1) {
        trailing_slash = false;
        match seg {
            "" | "." => trailing_slash = true,
            ".." => {
                segments.pop().ok_or(PathError::AboveRoot)?;
                trailing_slash = true;
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(path.len());
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    if trailing_slash || segments.is_empty() {
        out.push('/');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CASES: &[(&str, Result<&str, PathError>)] = &[
        ("/", Ok("/")),
        ("/a/b", Ok("/a/b")),
        ("/a/b/", Ok("/a/b/")),
        ("/a//b", Ok("/a/b")),
        ("//a", Ok("/a")),
        ("/a/./b", Ok("/a/b")),
        ("/a/../b", Ok("/b")),
        ("/a/..", Ok("/")),
        ("/a/b/..", Ok("/a/")),
        ("/a/.", Ok("/a/")),
        ("/a/%2e%2E/b", Ok("/b")),
        ("/a/.%2e/b", Ok("/b")),
        ("/%41%7e", Ok("/A~")),
        ("/%c3%a9", Ok("/%C3%A9")),
        ("/..", Err(PathError::AboveRoot)),
        ("/a/../..", Err(PathError::AboveRoot)),
        ("/a%2fb", Err(PathError::EncodedSeparator)),
        ("/a%5Cb", Err(PathError::EncodedSeparator)),
        ("/a\\b", Err(PathError::Backslash)),
        ("/a%00", Err(PathError::Control)),
        ("/a%zz", Err(PathError::BadEscape)),
        ("/a%2", Err(PathError::BadEscape)),
        ("a/b", Err(PathError::NotAbsolute)),
        ("/a\u{e9}", Err(PathError::NonAscii)),
        ("/a b", Err(PathError::Control)),
        ("/a#b", Err(PathError::Fragment)),
        ("/...", Ok("/...")),
        ("/a;b/c", Ok("/a;b/c")),
    ];

    #[test]
    fn normalisation_table() {
        for (input, want) in CASES {
            assert_eq!(normalize(input).as_deref().map_err(|e| *e), *want, "{input}");
        }
    }

    #[test]
    fn canonical_paths_borrow() {
        for p in ["/", "/a/b", "/a/b/", "/a.b/c..d/...", "/a;b"] {
            assert!(matches!(normalize(p), Ok(Cow::Borrowed(_))), "{p}");
        }
    }

    #[test]
    fn normalised_paths_are_fixed_points() {
        for (input, want) in CASES {
            if let Ok(w) = want {
                assert_eq!(normalize(w).as_deref(), Ok(*w), "{input}");
            }
        }
    }

    #[test]
    fn params_stripped() {
        assert_eq!(without_params("/a/b"), None);
        assert_eq!(without_params("/a;x/b"), Some(Ok("/a/b".into())));
        assert_eq!(without_params("/open/..;/mtls/x"), Some(Ok("/mtls/x".into())));
        assert_eq!(without_params("/..;/x"), Some(Err(PathError::AboveRoot)));
    }
}
