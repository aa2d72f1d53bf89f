//! `tokens[]` into the token table (the control plane's issued tokens are in its layer,
//! [`crate::snapshot::ControlLayer`]).

use std::collections::{BTreeSet, HashMap};

use super::Compiler;
use crate::certs::CertId;
use crate::config::ConfigErrorKind as Kind;
use crate::snapshot::tokens::{Binding, TokenHash, TokenRecord, TokenTable};
use crate::snapshot::Api;

impl Compiler<'_> {
    pub(super) fn tokens(&mut self, apis: &[Api]) -> TokenTable {
        let by_name: HashMap<&str, u32> = apis.iter().map(|a| (&*a.name, a.index)).collect();
        let known_names: BTreeSet<&str> = self.cfg.raw.apis.iter().map(|a| a.name.as_str()).collect();
        let mut table = TokenTable::with_capacity(self.cfg.raw.tokens.len());
        for (i, t) in self.cfg.raw.tokens.iter().enumerate() {
            let base = format!("tokens[{i}]");
            let mark = self.mark();
            let hash = match (&t.token, &t.token_sha256) {
                (Some(plain), None) if !plain.is_empty() => Some(TokenHash::of(plain.as_bytes())),
                (None, Some(h)) => match CertId::parse(h) {
                    Some(d) => Some(TokenHash(d.0)),
                    None => {
                        self.error(Kind::Invalid, &format!("{base}.token_sha256"), "must be 64 hex digits");
                        None
                    }
                },
                (Some(_), Some(_)) => {
                    self.error(Kind::Conflict, &base, "set `token` or `token_sha256`, not both");
                    None
                }
                _ => {
                    self.error(Kind::Missing, &base, "set `token` or `token_sha256`");
                    None
                }
            };
            let mut grants = Vec::new();
            for (j, name) in t.apis.iter().enumerate() {
                match by_name.get(name.as_str()) {
                    Some(idx) => grants.push(*idx),
                    None if known_names.contains(name.as_str()) => {} // that API has its own error
                    None => self.error(
                        Kind::UnknownName,
                        &format!("{base}.apis[{j}]"),
                        format!("unknown API `{name}`"),
                    ),
                }
            }
            let mut bound = Vec::new();
            for (j, r) in t.bound_certificates.iter().enumerate() {
                if let Some(c) = self.resolve(r, &format!("{base}.bound_certificates[{j}]")) {
                    bound.push(c.id);
                }
            }
            let certificate = match &t.certificate {
                Some(r) => self.resolve(r, &format!("{base}.certificate")).map(|c| c.id),
                None => None,
            };
            let expires_at = t.expires_at.as_deref().and_then(|s| {
                let ts = crate::rfc3339::parse(s);
                if ts.is_none() {
                    self.error(
                        Kind::Invalid,
                        &format!("{base}.expires_at"),
                        format!("`{s}` is not an RFC 3339 time (e.g. 2027-01-01T00:00:00Z)"),
                    );
                }
                ts
            });
            if self.failed_since(mark) {
                continue;
            }
            let Some(hash) = hash else { continue };
            let record = TokenRecord {
                apis: grants.into(),
                binding: if bound.is_empty() {
                    Binding::Unbound
                } else {
                    Binding::Leaves(bound.into())
                },
                certificate,
                expires_at,
            };
            if !table.insert(hash, record) {
                self.error(Kind::Duplicate, &base, "the same token appears twice");
            }
        }
        table
    }
}
