//! Console sessions: a random ID in an HttpOnly, SameSite=Strict cookie (Secure when the
//! admin listener is TLS), kept server side with its CSRF token and an idle expiry.
//! Only the SHA-256 of an ID is stored, so the table never holds a usable cookie.

use std::time::{Duration, Instant};

use dashmap::DashMap;

use crate::certs::sha256;

/// The session cookie's name.
pub const COOKIE: &str = "certgate_session";
/// The sign-in form's own CSRF cookie (before there is a session).
pub const LOGIN_COOKIE: &str = "certgate_login";
/// A session unused for this long is over.
pub const IDLE: Duration = Duration::from_secs(30 * 60);
/// Most sessions kept; the oldest are dropped beyond it.
const MAX_SESSIONS: usize = 10_000;

/// One signed-in browser.
#[derive(Clone, Debug)]
pub struct Session {
    /// The token every state-changing form carries.
    pub csrf: String,
    last_used: Instant,
}

/// The live sessions, by the SHA-256 of their ID.
#[derive(Default)]
pub struct Sessions {
    live: DashMap<[u8; 32], Session>,
}

impl Sessions {
    /// Starts a session; its ID (for the cookie) and CSRF token.
    pub fn start(&self) -> (String, Session) {
        if self.live.len() >= MAX_SESSIONS {
            self.expire(Instant::now());
        }
        let id = random_token();
        let session = Session {
            csrf: random_token(),
            last_used: Instant::now(),
        };
        self.live.insert(sha256(id.as_bytes()), session.clone());
        (id, session)
    }

    /// The session a cookie names, touched; `None` when unknown or idle too long.
    pub fn get(&self, id: &str) -> Option<Session> {
        let key = sha256(id.as_bytes());
        let now = Instant::now();
        let mut entry = self.live.get_mut(&key)?;
        if now.duration_since(entry.last_used) > IDLE {
            drop(entry);
            self.live.remove(&key);
            return None;
        }
        entry.last_used = now;
        Some(entry.clone())
    }

    /// Ends a session.
    pub fn end(&self, id: &str) {
        self.live.remove(&sha256(id.as_bytes()));
    }

    fn expire(&self, now: Instant) {
        self.live.retain(|_, s| now.duration_since(s.last_used) <= IDLE);
        if self.live.len() >= MAX_SESSIONS {
            self.live.clear();
        }
    }
}

/// 32 random bytes, hex.
pub fn random_token() -> String {
    let mut b = [0u8; 32];
    openssl::rand::rand_bytes(&mut b).expect("the OpenSSL random generator works");
    hex::encode(b)
}

/// A `Set-Cookie` value for `name` = `value` under `/ui` (`max_age` 0 clears it).
pub fn set_cookie(name: &str, value: &str, secure: bool, max_age: Option<u64>) -> String {
    let mut c = format!("{name}={value}; Path=/ui; HttpOnly; SameSite=Strict");
    if secure {
        c.push_str("; Secure");
    }
    if let Some(a) = max_age {
        c.push_str(&format!("; Max-Age={a}"));
    }
    c
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie<'h>(header: Option<&'h str>, name: &str) -> Option<&'h str> {
    header?.split(';').find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

/// Compares two secrets in constant time: their SHA-256s, so neither the length nor the
/// bytes leak (the admin API's key check and the console's tokens alike).
pub fn same_secret(a: impl AsRef<[u8]>, b: impl AsRef<[u8]>) -> bool {
    openssl::memcmp::eq(&sha256(a.as_ref()), &sha256(b.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_start_touch_and_end() {
        let s = Sessions::default();
        let (id, session) = s.start();
        assert_eq!(id.len(), 64);
        assert_eq!(s.get(&id).unwrap().csrf, session.csrf);
        assert!(s.get("nope").is_none());
        s.end(&id);
        assert!(s.get(&id).is_none());
    }

    #[test]
    fn cookies_are_http_only_and_strict() {
        let c = set_cookie(COOKIE, "abc", true, None);
        assert_eq!(c, "certgate_session=abc; Path=/ui; HttpOnly; SameSite=Strict; Secure");
        assert!(!set_cookie(COOKIE, "abc", false, Some(0)).contains("Secure"));
        assert_eq!(cookie(Some("a=1; certgate_session=xyz; b=2"), COOKIE), Some("xyz"));
        assert_eq!(cookie(Some("certgate_sessionx=1"), COOKIE), None);
        assert!(same_secret("k", "k") && !same_secret("k", "K"));
    }
}
