//! Per-domain maps (`upstream_certificates`, `pinned_public_keys`): the domain key is the
//! target URL's host and port, never the Host header.
//!
//! Within one map: exact `host:port` > exact `host` > wildcard with port > wildcard without
//! port > `"*"`. Among wildcards the more specific wins ([`crate::snapshot::host::Specificity`]): more literal
//! labels, then the longer run of literal labels at the right end. Two wildcards that could
//! match the same host with the same specificity are a config error. Across maps, any API
//! hit beats any gateway hit ([`select`]).

use std::collections::HashMap;
use std::net::Ipv6Addr;

use crate::snapshot::host::HostPattern;

/// A compiled domain map.
#[derive(Debug)]
pub struct DomainMap<T> {
    /// Exact host → its `host:port` entries (few per host), so a lookup needs no allocation.
    exact_port: HashMap<String, Vec<(u16, T)>>,
    exact: HashMap<String, T>,
    wild_port: Wildcards<T>,
    wild: Wildcards<T>,
    star: Option<T>,
}

/// Wildcard keys indexed by (port, label count) and then by the literal labels right of
/// their last `*`, so a lookup probes one bucket per suffix of the host instead of scanning
/// every wildcard. Each bucket is sorted most specific first.
#[derive(Debug)]
struct Wildcards<T> {
    buckets: HashMap<(u16, usize), BySuffix<T>>,
}

/// Literal suffix → the wildcards ending in it, most specific first.
type BySuffix<T> = HashMap<Box<str>, Vec<(HostPattern, T)>>;

impl<T> Default for Wildcards<T> {
    fn default() -> Self {
        Wildcards {
            buckets: HashMap::new(),
        }
    }
}

impl<T> Wildcards<T> {
    /// Adds a wildcard. Returns the pattern already present that ties with it, if any: two
    /// wildcards can only tie when they share port, label count and literal suffix (equal
    /// specificity means equally long literal suffixes, and different ones never meet), which
    /// is exactly one bucket.
    fn insert(&mut self, port: u16, pattern: HostPattern, value: T) -> Option<HostPattern> {
        let bucket = self
            .buckets
            .entry((port, pattern.label_count()))
            .or_default()
            .entry(pattern.literal_suffix().into())
            .or_default();
        let tie = bucket
            .iter()
            .find(|(q, _)| q.specificity() == pattern.specificity() && could_overlap(q, &pattern))
            .map(|(q, _)| q.clone());
        bucket.push((pattern, value));
        tie
    }

    fn sort(&mut self) {
        for bucket in self.buckets.values_mut().flat_map(|b| b.values_mut()) {
            bucket.sort_by_key(|w| std::cmp::Reverse(w.0.specificity()));
        }
    }

    fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    /// The most specific wildcard matching `host` on `port`.
    fn find(&self, port: u16, host: &str) -> Option<&T> {
        let labels = host.split('.').count();
        let by_suffix = self.buckets.get(&(port, labels))?;
        let mut best: Option<&(HostPattern, T)> = None;
        // Suffixes of `host` by whole labels: "", "com", "example.com", ...
        let suffixes = std::iter::once("").chain(host.match_indices('.').rev().map(|(i, _)| &host[i + 1..]));
        for suffix in suffixes {
            let Some(bucket) = by_suffix.get(suffix) else { continue };
            if let Some(hit) = bucket.iter().find(|(p, _)| p.matches(host)) {
                if best.is_none_or(|b| hit.0.specificity() > b.0.specificity()) {
                    best = Some(hit);
                }
            }
        }
        best.map(|(_, v)| v)
    }
}

/// A parsed map key.
#[derive(Debug, PartialEq, Eq)]
enum Key {
    Star,
    Host(HostPattern, Option<u16>),
}

// === impl DomainMap ===

impl<T> Default for DomainMap<T> {
    fn default() -> Self {
        DomainMap {
            exact_port: HashMap::new(),
            exact: HashMap::new(),
            wild_port: Wildcards::default(),
            wild: Wildcards::default(),
            star: None,
        }
    }
}

impl<T> DomainMap<T> {
    /// Builds a map. Errors are `(key, message)` for keys that do not parse, keys that name
    /// the same domain twice, and wildcards that tie.
    pub fn build(entries: impl IntoIterator<Item = (String, T)>) -> Result<DomainMap<T>, Vec<(String, String)>> {
        let mut map = DomainMap::default();
        let mut errors = Vec::new();
        for (raw, value) in entries {
            let key = match parse_key(&raw) {
                Ok(k) => k,
                Err(e) => {
                    errors.push((raw, e));
                    continue;
                }
            };
            let dup = match key {
                Key::Star => map.star.replace(value).is_some(),
                Key::Host(p, port) => match (p.exact_name(), port) {
                    (Some(name), Some(port)) => {
                        let entries = map.exact_port.entry(name).or_default();
                        let dup = entries.iter().any(|(p, _)| *p == port);
                        entries.push((port, value));
                        dup
                    }
                    (Some(name), None) => map.exact.insert(name, value).is_some(),
                    (None, port) => {
                        let tie = match port {
                            Some(port) => map.wild_port.insert(port, p, value).map(|q| format!("{q}:{port}")),
                            None => map.wild.insert(0, p, value).map(|q| q.to_string()),
                        };
                        if let Some(other) = tie {
                            errors.push((
                                raw.clone(),
                                format!("ties with `{other}`: both can match the same host with the same specificity"),
                            ));
                        }
                        false
                    }
                },
            };
            if dup {
                errors.push((raw, "names the same domain as another key".into()));
            }
        }
        map.wild_port.sort();
        map.wild.sort();
        if errors.is_empty() {
            Ok(map)
        } else {
            Err(errors)
        }
    }

    /// The entry for `host` (lower case, IPv6 without brackets) and `port`.
    pub fn lookup(&self, host: &str, port: u16) -> Option<&T> {
        let host = host.trim_end_matches('.');
        if let Some((_, v)) = self
            .exact_port
            .get(host)
            .and_then(|e| e.iter().find(|(p, _)| *p == port))
        {
            return Some(v);
        }
        if let Some(v) = self.exact.get(host) {
            return Some(v);
        }
        if let Some(v) = self.wild_port.find(port, host) {
            return Some(v);
        }
        if let Some(v) = self.wild.find(0, host) {
            return Some(v);
        }
        self.star.as_ref()
    }

    /// Whether the map has no entries.
    pub fn is_empty(&self) -> bool {
        self.exact_port.is_empty()
            && self.exact.is_empty()
            && self.wild_port.is_empty()
            && self.wild.is_empty()
            && self.star.is_none()
    }
}

/// The API map's entry if it has one, else the gateway map's: any API hit beats any gateway hit.
pub fn select<'a, T>(api: &'a DomainMap<T>, gateway: &'a DomainMap<T>, host: &str, port: u16) -> Option<&'a T> {
    api.lookup(host, port).or_else(|| gateway.lookup(host, port))
}

fn parse_key(raw: &str) -> Result<Key, String> {
    let k = raw.trim().to_ascii_lowercase();
    if k == "*" {
        return Ok(Key::Star);
    }
    if k.parse::<Ipv6Addr>().is_ok() {
        return Ok(Key::Host(HostPattern::parse(&k)?, None));
    }
    let (host, port) = if let Some(rest) = k.strip_prefix('[') {
        let (h, p) = rest.split_once(']').ok_or("unclosed `[`")?;
        let port = match p.strip_prefix(':') {
            Some(p) => Some(p.parse::<u16>().map_err(|_| format!("bad port in `{raw}`"))?),
            None if p.is_empty() => None,
            None => return Err(format!("`{raw}` is not host, host:port or [ipv6]:port")),
        };
        (h.to_string(), port)
    } else if let Some((h, p)) = k.split_once(':') {
        (
            h.to_string(),
            Some(p.parse::<u16>().map_err(|_| format!("bad port in `{raw}`"))?),
        )
    } else {
        (k.clone(), None)
    };
    Ok(Key::Host(HostPattern::parse(&host)?, port))
}

/// Whether two wildcard patterns could both match one host: same label count and, at every
/// position, equal literals or a `*` on either side.
fn could_overlap(a: &HostPattern, b: &HostPattern) -> bool {
    let (a, b) = (a.to_string(), b.to_string());
    let (la, lb): (Vec<&str>, Vec<&str>) = (a.split('.').collect(), b.split('.').collect());
    la.len() == lb.len() && la.iter().zip(&lb).all(|(x, y)| *x == "*" || *y == "*" || x == y)
}
