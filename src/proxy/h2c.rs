//! HTTP/2 with prior knowledge (h2c) on the cleartext listener: which protocol a new
//! connection speaks is read from its first bytes, before Pingora chooses a codec.
//!
//! Pingora's own check (`HttpServerOptions::h2c`) waits for 24 bytes, so an HTTP/1 request
//! shorter than the preface (`GET / HTTP/1.0\r\n\r\n`) would hang until the client gave up,
//! and a client that sends nothing would be held with no deadline. [`sniff`] instead stops
//! at the first byte that differs from the preface, within the header timeout, and gives
//! back what it read, so the codec that takes the connection sees every byte.

use pingora::protocols::l4::stream::Stream as L4Stream;
use pingora::protocols::Stream;
use tokio::io::AsyncReadExt;
use tokio::time::Instant;

/// The connection preface every HTTP/2 client sends first (RFC 9113 §3.4).
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// What a cleartext connection's first bytes say.
pub enum Sniffed {
    /// The HTTP/2 preface: hand the connection to the HTTP/2 codec.
    H2c(Stream),
    /// Anything else (or nothing before the deadline): HTTP/1.
    Http1(Stream),
    /// Closed or failed before sending a byte.
    Gone,
}

/// Reads at most the preface's length from `stream` until it matches or differs, until
/// `deadline` at the latest, and puts the bytes back. A stream that is not a plain TCP or
/// Unix stream is taken as HTTP/1 unread.
pub async fn sniff(stream: Stream, deadline: Instant) -> Sniffed {
    if !stream.as_any().is::<L4Stream>() {
        return Sniffed::Http1(stream);
    }
    let Ok(mut l4) = stream.into_any().downcast::<L4Stream>() else {
        return Sniffed::Gone;
    };
    let mut buf = [0u8; PREFACE.len()];
    let mut n = 0;
    let h2 = loop {
        if n == PREFACE.len() {
            break true;
        }
        match tokio::time::timeout_at(deadline, l4.read(&mut buf[n..])).await {
            Ok(Ok(0)) | Ok(Err(_)) if n == 0 => return Sniffed::Gone,
            // Ended or failed part way: HTTP/1's parser reports what it got.
            Ok(Ok(0)) | Ok(Err(_)) => break false,
            Ok(Ok(read)) => {
                n += read;
                if buf[..n] != PREFACE[..n] {
                    break false;
                }
            }
            // Too slow: HTTP/1's head timeout (which counts from the accept) answers it.
            Err(_) => break false,
        }
    };
    l4.rewind(&buf[..n]);
    if h2 {
        Sniffed::H2c(l4)
    } else {
        Sniffed::Http1(l4)
    }
}
