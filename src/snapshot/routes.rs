//! API routing (SPEC §3 step 1): Host match first, then the longest `listen_path` prefix.
//!
//! Hosts are tried in tiers: APIs that list the exact request host, then APIs whose
//! wildcard matches it (most specific first), then APIs without `hosts`. The first tier
//! with a path match wins, so a host-specific API is never shadowed by a host-less one.

use std::collections::HashMap;

use smallvec::SmallVec;

use super::host::{normalize_host, HostMap, HostPattern};

/// Index of an API in [`super::Compiled::apis`].
pub type ApiIndex = u32;

/// Compiled routing table.
#[derive(Debug, Default)]
pub struct RouteTable {
    by_host: HostMap<PathTable>,
    any_host: PathTable,
}

/// Listen paths of one host tier. Keys are lower case without a trailing `/` (the root is
/// `""`), so `/pay/` and `/pay` are one key, and a key matches a path only at a segment
/// boundary: `/pay` serves `/pay`, `/pay/` and `/pay/x`, never `/payx`.
#[derive(Debug, Default)]
struct PathTable {
    by_prefix: HashMap<Box<str>, ApiIndex>,
    /// Distinct key lengths, longest first.
    lengths: Vec<usize>,
}

/// Builds a [`RouteTable`], rejecting two APIs with the same host and path.
#[derive(Default)]
pub struct RouteTableBuilder {
    by_host: HostMap<PathTable>,
    any_host: PathTable,
}

// === impl RouteTable ===

impl RouteTable {
    /// The API for this request host (any form: port, case) and path.
    pub fn find(&self, host: Option<&str>, path: &str) -> Option<ApiIndex> {
        if let Some(host) = host {
            let host = normalize_host(host);
            if let Some(i) = self.by_host.find_map(&host, |t| t.find(path)) {
                return Some(i);
            }
        }
        self.any_host.find(path)
    }
}

// === impl PathTable ===

impl PathTable {
    /// The API with the longest listen path that is a whole-segment prefix of `path` (a
    /// normalised path), compared case-insensitively.
    fn find(&self, path: &str) -> Option<ApiIndex> {
        let longest = *self.lengths.first()?;
        // Lower-case only as much of the path as the longest key can cover.
        let mut buf: SmallVec<[u8; 128]> = SmallVec::new();
        let head = &path.as_bytes()[..path.len().min(longest + 1)];
        buf.extend(head.iter().map(u8::to_ascii_lowercase));
        for &len in &self.lengths {
            let boundary = match buf.get(len) {
                None => len == path.len(),
                Some(&b) => b == b'/',
            };
            if !boundary {
                continue;
            }
            // The prefix is ASCII-lowered bytes of a str cut before an ASCII `/` or at the end.
            let Ok(key) = std::str::from_utf8(&buf[..len]) else {
                continue;
            };
            if let Some(i) = self.by_prefix.get(key) {
                return Some(*i);
            }
        }
        None
    }

    fn insert(&mut self, listen_path: &str, api: ApiIndex) -> Result<(), ApiIndex> {
        let key = route_key(listen_path);
        if let Some(existing) = self.by_prefix.get(key.as_str()) {
            return Err(*existing);
        }
        if !self.lengths.contains(&key.len()) {
            self.lengths.push(key.len());
            self.lengths.sort_unstable_by(|a, b| b.cmp(a));
        }
        self.by_prefix.insert(key.into(), api);
        Ok(())
    }
}

/// A listen path as a routing key: lower case, without its trailing `/`.
pub fn route_key(listen_path: &str) -> String {
    listen_path.trim_end_matches('/').to_ascii_lowercase()
}

// === impl RouteTableBuilder ===

impl RouteTableBuilder {
    /// Adds an API under each of its host patterns (or under any host when there are none).
    /// On a clash returns the index of the API that already holds that host and path.
    pub fn add(&mut self, hosts: &[HostPattern], listen_path: &str, api: ApiIndex) -> Result<(), ApiIndex> {
        if hosts.is_empty() {
            return self.any_host.insert(listen_path, api);
        }
        for h in hosts {
            self.by_host
                .entry_or_insert_with(h, PathTable::default)
                .insert(listen_path, api)?;
        }
        Ok(())
    }

    /// The finished table.
    pub fn build(self) -> RouteTable {
        RouteTable {
            by_host: self.by_host.finish(),
            any_host: self.any_host,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> RouteTable {
        let mut b = RouteTableBuilder::default();
        let hp = |s: &str| HostPattern::parse(s).unwrap();
        b.add(&[], "/", 0).unwrap();
        b.add(&[], "/payments/", 1).unwrap();
        b.add(&[], "/payments/admin/", 2).unwrap();
        b.add(&[hp("api.example.com")], "/", 3).unwrap();
        b.add(&[hp("*.example.org")], "/payments/", 4).unwrap();
        b.build()
    }

    const CASES: &[(&str, Option<&str>, &str, Option<ApiIndex>)] = &[
        ("root", None, "/x", Some(0)),
        ("longest prefix", None, "/payments/x", Some(1)),
        ("longer still", None, "/payments/admin/x", Some(2)),
        ("no trailing slash reaches the api", None, "/payments", Some(1)),
        (
            "exact host beats host-less",
            Some("api.example.com"),
            "/payments/x",
            Some(3),
        ),
        ("host with port and case", Some("API.example.com:8443"), "/x", Some(3)),
        ("wildcard host", Some("a.example.org"), "/payments/x", Some(4)),
        (
            "wildcard host, path miss falls back",
            Some("a.example.org"),
            "/other",
            Some(0),
        ),
        ("unknown host uses host-less", Some("other.net"), "/payments/x", Some(1)),
        ("whole segments only", None, "/paymentsx", Some(0)),
        ("whole segments only, deeper", None, "/payments/adminx", Some(1)),
        ("trailing slash", None, "/payments/admin/", Some(2)),
        ("case-insensitive", None, "/PAYMENTS/Admin/x", Some(2)),
    ];

    #[test]
    fn routing_table() {
        let t = table();
        for (name, host, path, want) in CASES {
            assert_eq!(t.find(*host, path), *want, "case {name}");
        }
    }

    #[test]
    fn no_route() {
        let mut b = RouteTableBuilder::default();
        b.add(&[], "/only/", 0).unwrap();
        assert_eq!(b.build().find(None, "/other"), None);
    }

    #[test]
    fn duplicate_is_rejected() {
        let mut b = RouteTableBuilder::default();
        b.add(&[], "/a/", 0).unwrap();
        assert_eq!(b.add(&[], "/a/", 1), Err(0));
        assert_eq!(b.add(&[], "/a", 1), Err(0), "with and without the trailing slash");
        assert_eq!(b.add(&[], "/A/", 1), Err(0), "in another case");
    }

    #[test]
    fn listen_path_without_trailing_slash_matches_segments() {
        let mut b = RouteTableBuilder::default();
        b.add(&[], "/pay", 0).unwrap();
        let t = b.build();
        for (path, want) in [
            ("/pay", Some(0)),
            ("/pay/", Some(0)),
            ("/pay/x", Some(0)),
            ("/payx", None),
        ] {
            assert_eq!(t.find(None, path), want, "{path}");
        }
    }
}
