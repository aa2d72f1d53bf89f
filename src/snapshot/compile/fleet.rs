//! `fleet:` (SPEC §9): what can be checked without Redis or the environment. The secret in
//! `fleet.secret_env` is checked with the admin key, by the control plane's preflight.

use super::Compiler;
use crate::config::ConfigErrorKind as Kind;

/// Longest namespace: it is part of every Redis key.
const MAX_NAME: usize = 64;

impl Compiler<'_> {
    pub(super) fn fleet(&mut self) {
        let Some(f) = self.cfg.raw.fleet.as_ref() else { return };
        if self.cfg.raw.admin.is_none() {
            self.error(
                Kind::Missing,
                "fleet",
                "a fleet member needs an `admin` section (secret_env for stored keys, data_dir for its local copy)",
            );
        }
        let scheme = f.redis_url.split_once("://").map(|(s, _)| s);
        match scheme {
            Some("redis" | "rediss" | "unix") if redis::Client::open(f.redis_url.as_str()).is_ok() => {}
            Some("redis" | "rediss" | "unix") => {
                self.error(Kind::Invalid, "fleet.redis_url", "is not a valid Redis URL");
            }
            _ => self.error(
                Kind::Invalid,
                "fleet.redis_url",
                "must start with redis://, rediss:// (TLS) or unix://",
            ),
        }
        let name_ok = !f.name.is_empty()
            && f.name.len() <= MAX_NAME
            && f.name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !name_ok {
            self.error(
                Kind::Invalid,
                "fleet.name",
                format!("1 to {MAX_NAME} letters, digits, `.`, `_` or `-`"),
            );
        }
        let Some(tls) = &f.tls else { return };
        if scheme != Some("rediss") {
            self.error(Kind::Conflict, "fleet.tls", "TLS settings need a rediss:// URL");
        }
        if let Some(ca) = &tls.ca {
            if let Err((kind, e)) = self.read_cert_file(ca) {
                self.error(kind, "fleet.tls.ca", e);
            }
        }
        if let Some(cert) = &tls.certificate {
            match self.read_cert_file(cert) {
                Ok(c) if c.key.is_none() || c.is_public_key_only() => self.error(
                    Kind::Certificate,
                    "fleet.tls.certificate",
                    format!(
                        "{}: a client certificate for Redis needs its private key in the same PEM",
                        c.source.display()
                    ),
                ),
                Ok(_) => {}
                Err((kind, e)) => self.error(kind, "fleet.tls.certificate", e),
            }
        }
    }
}
