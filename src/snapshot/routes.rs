//! API routing (SPEC §3 step 1): Host match first, then the longest `listen_path` prefix.
//!
//! Hosts are tried in tiers: APIs that list the exact request host, then APIs whose
//! wildcard matches it (most specific first), then APIs without `hosts`. The first tier
//! with a path match wins, so a host-specific API is never shadowed by a host-less one.

use std::collections::HashMap;

use super::host::{normalize_host, sort_most_specific_first, HostPattern};

/// Index of an API in [`super::Snapshot::apis`].
pub type ApiIndex = u32;

/// Compiled routing table.
#[derive(Debug, Default)]
pub struct RouteTable {
    exact: HashMap<Box<str>, PathTable>,
    wildcard: Vec<(HostPattern, PathTable)>,
    any_host: PathTable,
}

/// Path prefixes of one host tier.
#[derive(Debug, Default)]
struct PathTable {
    by_prefix: HashMap<Box<str>, ApiIndex>,
    /// `listen_path` without its trailing `/`, so that `/payments` reaches `/payments/`.
    by_trimmed: HashMap<Box<str>, ApiIndex>,
    /// Distinct prefix lengths, longest first.
    lengths: Vec<usize>,
}

/// Builds a [`RouteTable`], rejecting two APIs with the same host and path.
#[derive(Default)]
pub struct RouteTableBuilder {
    table: RouteTable,
    wildcard: Vec<(HostPattern, PathTable)>,
}

// === impl RouteTable ===

impl RouteTable {
    /// The API for this request host (any form: port, case) and path.
    pub fn find(&self, host: Option<&str>, path: &str) -> Option<ApiIndex> {
        if let Some(host) = host {
            let host = normalize_host(host);
            if let Some(t) = self.exact.get(&*host) {
                if let Some(i) = t.find(path) {
                    return Some(i);
                }
            }
            for (pattern, t) in &self.wildcard {
                if pattern.matches(&host) {
                    if let Some(i) = t.find(path) {
                        return Some(i);
                    }
                }
            }
        }
        self.any_host.find(path)
    }
}

// === impl PathTable ===

impl PathTable {
    fn find(&self, path: &str) -> Option<ApiIndex> {
        if let Some(i) = self.by_prefix.get(path) {
            return Some(*i);
        }
        if let Some(i) = self.by_trimmed.get(path) {
            return Some(*i);
        }
        for &len in &self.lengths {
            if len < path.len() && path.is_char_boundary(len) {
                if let Some(i) = self.by_prefix.get(&path[..len]) {
                    return Some(*i);
                }
            }
        }
        None
    }

    fn insert(&mut self, listen_path: &str, api: ApiIndex) -> Result<(), ApiIndex> {
        if let Some(existing) = self.by_prefix.get(listen_path) {
            return Err(*existing);
        }
        self.by_prefix.insert(listen_path.into(), api);
        if let Some(trimmed) = listen_path.strip_suffix('/') {
            if !trimmed.is_empty() {
                self.by_trimmed.entry(trimmed.into()).or_insert(api);
            }
        }
        if !self.lengths.contains(&listen_path.len()) {
            self.lengths.push(listen_path.len());
            self.lengths.sort_unstable_by(|a, b| b.cmp(a));
        }
        Ok(())
    }
}

// === impl RouteTableBuilder ===

impl RouteTableBuilder {
    /// Adds an API under each of its host patterns (or under any host when there are none).
    /// On a clash returns the index of the API that already holds that host and path.
    pub fn add(&mut self, hosts: &[HostPattern], listen_path: &str, api: ApiIndex) -> Result<(), ApiIndex> {
        if hosts.is_empty() {
            return self.table.any_host.insert(listen_path, api);
        }
        for h in hosts {
            if let Some(name) = h.exact_name() {
                self.table
                    .exact
                    .entry(name.into())
                    .or_default()
                    .insert(listen_path, api)?;
            } else if let Some((_, t)) = self.wildcard.iter_mut().find(|(p, _)| p == h) {
                t.insert(listen_path, api)?;
            } else {
                let mut t = PathTable::default();
                t.insert(listen_path, api)?;
                self.wildcard.push((h.clone(), t));
            }
        }
        Ok(())
    }

    /// The finished table.
    pub fn build(mut self) -> RouteTable {
        sort_most_specific_first(&mut self.wildcard);
        self.table.wildcard = self.wildcard;
        self.table
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
    }
}
