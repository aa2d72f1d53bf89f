//! The server's store of resumable TLS 1.3 sessions (stateful tickets).
//!
//! With stateful tickets the ticket a client holds is only a session ID; resuming is a map
//! lookup instead of decrypting and re-parsing a serialised session (client certificate
//! included), and issuing a ticket needs no encryption. OpenSSL's internal cache cannot be
//! used: it drops a session whenever its connection ends without a close_notify from the
//! server, which is how Pingora ends most connections. So certgate keeps its own copies.
//!
//! Each ticket is single use (taken on resumption, RFC 8446 §C.4), lives at most `ttl`, and
//! the store holds at most `capacity` sessions in two generations: when the newer one is
//! half full or older than `ttl`, the older one is dropped whole.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use openssl::ssl::SslSession;
use parking_lot::Mutex;

/// A session ID (at most 32 bytes in TLS) as a fixed-size key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct SessionId([u8; 32], u8);

impl SessionId {
    fn of(id: &[u8]) -> Option<SessionId> {
        let mut key = [0u8; 32];
        key.get_mut(..id.len())?.copy_from_slice(id);
        Some(SessionId(key, id.len() as u8))
    }
}

/// One generation: sessions with the time they were stored.
type Generation = HashMap<SessionId, (SslSession, Instant)>;

struct Generations {
    current: Generation,
    previous: Generation,
    started: Instant,
}

/// Resumable sessions, bounded in number and age.
pub struct SessionStore {
    inner: Mutex<Generations>,
    capacity: usize,
    ttl: Duration,
}

// === impl SessionStore ===

impl SessionStore {
    /// A store keeping at most `capacity` sessions, each resumable for `ttl`.
    pub fn new(capacity: usize, ttl: Duration) -> SessionStore {
        SessionStore {
            inner: Mutex::new(Generations {
                current: HashMap::new(),
                previous: HashMap::new(),
                started: Instant::now(),
            }),
            capacity: capacity.max(2),
            ttl,
        }
    }

    /// Stores `session` under `id`.
    pub fn insert(&self, id: &[u8], session: SslSession) {
        let Some(key) = SessionId::of(id) else { return };
        let now = Instant::now();
        let mut g = self.inner.lock();
        if g.current.len() >= self.capacity / 2 || now.duration_since(g.started) >= self.ttl {
            g.previous = std::mem::take(&mut g.current);
            g.started = now;
        }
        g.current.insert(key, (session, now));
    }

    /// Removes and returns the session stored under `id`, if it is still fresh.
    pub fn take(&self, id: &[u8]) -> Option<SslSession> {
        let key = SessionId::of(id)?;
        let (session, stored) = {
            let mut g = self.inner.lock();
            match g.current.remove(&key) {
                Some(hit) => hit,
                None => g.previous.remove(&key)?,
            }
        };
        (stored.elapsed() < self.ttl).then_some(session)
    }

    /// Number of stored sessions (expired ones included until their generation is dropped).
    pub fn len(&self) -> usize {
        let g = self.inner.lock();
        g.current.len() + g.previous.len()
    }

    /// Whether no session is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::ssl::{SslAcceptor, SslConnector, SslMethod, SslVerifyMode};

    /// A real session from a TLS 1.3 handshake over a socket pair.
    fn session() -> SslSession {
        let pki = crate::pki::Spec::ca("t").issue(None);
        let leaf = crate::pki::Spec::server("localhost", &["localhost"]).issue(Some(&pki));
        let mut acc = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).unwrap();
        acc.set_certificate(&leaf.cert).unwrap();
        acc.set_private_key(&leaf.key).unwrap();
        let acc = acc.build();
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let server = std::thread::spawn(move || {
            let mut s = acc.accept(a).unwrap();
            let mut buf = [0u8; 1];
            let _ = std::io::Read::read(&mut s, &mut buf);
        });
        let mut c = SslConnector::builder(SslMethod::tls()).unwrap();
        c.set_verify(SslVerifyMode::NONE);
        let mut s = c.build().connect("localhost", b).unwrap();
        std::io::Write::write_all(&mut s, b"x").unwrap();
        server.join().unwrap();
        s.ssl().session().unwrap().to_owned()
    }

    #[test]
    fn a_session_is_taken_once() {
        let store = SessionStore::new(10, Duration::from_secs(60));
        store.insert(b"id-1", session());
        assert_eq!(store.len(), 1);
        assert!(store.take(b"id-2").is_none());
        assert!(store.take(b"id-1").is_some());
        assert!(store.take(b"id-1").is_none(), "single use");
    }

    #[test]
    fn capacity_and_age_are_bounded() {
        let s = session();
        let store = SessionStore::new(4, Duration::from_secs(60));
        for i in 0..10u8 {
            store.insert(&[i], s.clone());
        }
        assert!(store.len() <= 4, "{}", store.len());
        assert!(store.take(&[0]).is_none(), "the oldest generation is gone");
        assert!(store.take(&[9]).is_some());
        let expiring = SessionStore::new(10, Duration::from_millis(20));
        expiring.insert(b"old", s);
        std::thread::sleep(Duration::from_millis(30));
        assert!(expiring.take(b"old").is_none(), "past its lifetime");
        assert!(SessionStore::new(4, Duration::from_secs(1)).take(&[0u8; 40]).is_none());
    }
}
