//! Host patterns: exact names and `*` labels (each `*` is exactly one label, anywhere).
//! Shared by API routing, per-SNI server certificates and the upstream domain maps.

use std::cmp::Ordering;
use std::collections::HashMap;

/// A host name pattern, stored as lower-case labels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostPattern {
    labels: Box<[Label]>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Label {
    Any,
    Literal(Box<str>),
}

/// How specific a pattern is; greater is more specific. Exact names beat every wildcard;
/// among wildcards, more literal labels win, then the longer run of literal labels at the
/// right end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Specificity {
    exact: bool,
    literal_labels: u16,
    right_literal_run: u16,
}

// === impl HostPattern ===

impl HostPattern {
    /// Parses `api.example.com`, `*.example.com`, `api.*.example.com`. A bare `*` and labels
    /// that mix `*` with other characters are rejected.
    pub fn parse(text: &str) -> Result<HostPattern, String> {
        let text = text.trim().trim_end_matches('.').to_ascii_lowercase();
        if text.is_empty() {
            return Err("empty host name".into());
        }
        if text == "*" {
            return Err("a bare `*` is not a host pattern".into());
        }
        if text.parse::<std::net::Ipv6Addr>().is_ok() {
            return Ok(HostPattern {
                labels: vec![Label::Literal(text.as_str().into())].into(),
            });
        }
        if text.contains(':') {
            return Err(format!(
                "`{text}` has a port: host patterns match the Host header without its port"
            ));
        }
        let mut labels = Vec::new();
        for label in text.split('.') {
            if label
                .bytes()
                .any(|b| !(b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'*'))
            {
                return Err(format!("`{text}` is not a host name"));
            }
            if label == "*" {
                labels.push(Label::Any);
            } else if label.is_empty() {
                return Err(format!("empty label in `{text}`"));
            } else if label.contains('*') {
                return Err(format!("`*` must be a whole label in `{text}`"));
            } else {
                labels.push(Label::Literal(label.into()));
            }
        }
        Ok(HostPattern { labels: labels.into() })
    }

    /// Whether the pattern has no wildcard.
    pub fn is_exact(&self) -> bool {
        self.labels.iter().all(|l| matches!(l, Label::Literal(_)))
    }

    /// The exact name, when [`Self::is_exact`].
    pub fn exact_name(&self) -> Option<String> {
        self.is_exact().then(|| self.to_string())
    }

    /// Whether `host` (already lower case, no port, no trailing dot) matches.
    pub fn matches(&self, host: &str) -> bool {
        let mut n = 0;
        for (label, pat) in host.split('.').zip(self.labels.iter()) {
            n += 1;
            match pat {
                Label::Any if !label.is_empty() => {}
                Label::Literal(l) if **l == *label => {}
                _ => return false,
            }
        }
        n == self.labels.len() && host.split('.').count() == n
    }

    /// Number of labels (a host must have exactly as many to match).
    pub fn label_count(&self) -> usize {
        self.labels.len()
    }

    /// The literal labels right of the last `*`, joined with dots (empty when the pattern
    /// ends in `*`): every matching host ends with exactly this.
    pub fn literal_suffix(&self) -> String {
        let run = self.specificity().right_literal_run as usize;
        self.labels[self.labels.len() - run..]
            .iter()
            .map(|l| match l {
                Label::Any => "*",
                Label::Literal(s) => s,
            })
            .collect::<Vec<_>>()
            .join(".")
    }

    /// See [`Specificity`].
    pub fn specificity(&self) -> Specificity {
        let literal_labels = self.labels.iter().filter(|l| matches!(l, Label::Literal(_))).count() as u16;
        let right_literal_run = self
            .labels
            .iter()
            .rev()
            .take_while(|l| matches!(l, Label::Literal(_)))
            .count() as u16;
        Specificity {
            exact: self.is_exact(),
            literal_labels,
            right_literal_run,
        }
    }
}

impl std::fmt::Display for HostPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, l) in self.labels.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            match l {
                Label::Any => f.write_str("*")?,
                Label::Literal(s) => f.write_str(s)?,
            }
        }
        Ok(())
    }
}

/// Values by host pattern: exact names in a hash map, wildcards sorted most specific first.
/// Used for API routing (a value per host tier) and for server certificates by SNI.
#[derive(Debug)]
pub struct HostMap<T> {
    exact: HashMap<Box<str>, T>,
    wildcard: Vec<(HostPattern, T)>,
    sorted: bool,
}

impl<T> Default for HostMap<T> {
    fn default() -> Self {
        HostMap {
            exact: HashMap::new(),
            wildcard: Vec::new(),
            sorted: true,
        }
    }
}

// === impl HostMap ===

impl<T> HostMap<T> {
    /// The value of `pattern`, inserted with `make` when the pattern is new.
    pub fn entry_or_insert_with(&mut self, pattern: &HostPattern, make: impl FnOnce() -> T) -> &mut T {
        match pattern.exact_name() {
            Some(name) => self.exact.entry(name.into()).or_insert_with(make),
            None => {
                let i = match self.wildcard.iter().position(|(p, _)| p == pattern) {
                    Some(i) => i,
                    None => {
                        self.sorted = false;
                        self.wildcard.push((pattern.clone(), make()));
                        self.wildcard.len() - 1
                    }
                };
                &mut self.wildcard[i].1
            }
        }
    }

    /// Sorts the wildcards most specific first; call once every pattern is in.
    pub fn finish(mut self) -> Self {
        sort_most_specific_first(&mut self.wildcard);
        self.sorted = true;
        self
    }

    /// The first `Some` that `f` gives for the values whose pattern matches `host` (lower
    /// case, no port, no trailing dot), tried exact first, then the wildcards most specific
    /// first.
    pub fn find_map<R>(&self, host: &str, mut f: impl FnMut(&T) -> Option<R>) -> Option<R> {
        debug_assert!(self.sorted, "HostMap::finish was not called");
        if let Some(r) = self.exact.get(host).and_then(&mut f) {
            return Some(r);
        }
        self.wildcard
            .iter()
            .filter(|(p, _)| p.matches(host))
            .find_map(|(_, v)| f(v))
    }

    /// The value of the most specific pattern that matches `host`.
    pub fn get(&self, host: &str) -> Option<&T> {
        debug_assert!(self.sorted, "HostMap::finish was not called");
        self.exact
            .get(host)
            .or_else(|| self.wildcard.iter().find(|(p, _)| p.matches(host)).map(|(_, v)| v))
    }
}

/// Sorts `(pattern, value)` pairs most specific first.
pub fn sort_most_specific_first<T>(items: &mut [(HostPattern, T)]) {
    items.sort_by(|a, b| match b.0.specificity().cmp(&a.0.specificity()) {
        Ordering::Equal => a.0.to_string().cmp(&b.0.to_string()),
        o => o,
    });
}

/// Lower-cases a request host and removes a port and a trailing dot, without allocating
/// when it is already in that form. `[::1]:8443` becomes `::1`.
pub fn normalize_host(host: &str) -> std::borrow::Cow<'_, str> {
    let h = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else if host.matches(':').count() == 1 {
        host.split(':').next().unwrap_or(host)
    } else {
        host
    };
    let h = h.strip_suffix('.').unwrap_or(h);
    if h.bytes().any(|b| b.is_ascii_uppercase()) {
        std::borrow::Cow::Owned(h.to_ascii_lowercase())
    } else {
        std::borrow::Cow::Borrowed(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MATCHES: &[(&str, &str, bool)] = &[
        ("example.com", "example.com", true),
        ("example.com", "api.example.com", false),
        ("*.example.com", "api.example.com", true),
        ("*.example.com", "a.b.example.com", false),
        ("*.example.com", "example.com", false),
        ("api.*.example.com", "api.prod.example.com", true),
        ("api.*.example.com", "web.prod.example.com", false),
        ("*.*.example.com", "a.b.example.com", true),
        ("*.com", "example.com", true),
    ];

    #[test]
    fn matching_table() {
        for (pat, host, want) in MATCHES {
            let p = HostPattern::parse(pat).unwrap();
            assert_eq!(p.matches(host), *want, "{pat} vs {host}");
        }
    }

    #[test]
    fn ipv6_hosts_are_one_label() {
        let p = HostPattern::parse("::1").unwrap();
        assert!(p.matches("::1") && p.is_exact());
    }

    #[test]
    fn specificity_orders_as_the_spec_says() {
        let s = |p: &str| HostPattern::parse(p).unwrap().specificity();
        assert!(s("api.example.com") > s("*.example.com"));
        assert!(s("*.prod.example.com") > s("api.*.example.com"));
        assert!(s("api.*.example.com") > s("*.*.example.com"));
    }

    #[test]
    fn rejects_bad_patterns() {
        for bad in [
            "*",
            "",
            "a*.example.com",
            "a..b",
            "api.example.com:8443",
            "a b.com",
            "a,b.com",
            "a/b",
        ] {
            assert!(HostPattern::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn normalizes_request_hosts() {
        assert_eq!(normalize_host("API.Example.com:8443"), "api.example.com");
        assert_eq!(normalize_host("[::1]:8443"), "::1");
        assert_eq!(normalize_host("::1"), "::1");
        assert_eq!(normalize_host("example.com."), "example.com");
    }
}
