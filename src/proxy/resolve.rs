//! Upstream name resolution with a short-lived cache, so the request path does not call
//! `getaddrinfo` every time, and a remembered preference for the address that answered.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;

/// Resolved addresses of one `host:port`.
pub struct Resolved {
    /// The addresses, in resolver order.
    pub addrs: Box<[SocketAddr]>,
    /// Index of the address to try first.
    preferred: AtomicUsize,
    at: Instant,
}

/// A DNS cache keyed by `host:port`.
pub struct Resolver {
    cache: DashMap<Box<str>, Arc<Resolved>>,
    ttl: Duration,
}

// === impl Resolved ===

impl Resolved {
    /// The address for the `attempt`-th try of a request.
    pub fn pick(&self, attempt: usize) -> SocketAddr {
        self.addrs[(self.preferred.load(Ordering::Relaxed) + attempt) % self.addrs.len()]
    }

    /// Records that `addr` failed to connect, so later requests start with the next one.
    pub fn failed(&self, addr: &SocketAddr) {
        if let Some(i) = self.addrs.iter().position(|a| a == addr) {
            let _ =
                self.preferred
                    .compare_exchange(i, (i + 1) % self.addrs.len(), Ordering::Relaxed, Ordering::Relaxed);
        }
    }
}

// === impl Resolver ===

impl Resolver {
    /// A cache whose entries live `ttl`.
    pub fn new(ttl: Duration) -> Resolver {
        Resolver {
            cache: DashMap::new(),
            ttl,
        }
    }

    /// The addresses of `host:port`; `key` is that pair written as one string.
    pub async fn resolve(&self, key: &str, host: &str, port: u16) -> std::io::Result<Arc<Resolved>> {
        if let Some(r) = self.cache.get(key) {
            if r.at.elapsed() < self.ttl {
                return Ok(r.clone());
            }
        }
        let addrs: Box<[SocketAddr]> = match host.parse::<IpAddr>() {
            Ok(ip) => Box::new([SocketAddr::new(ip, port)]),
            Err(_) => tokio::net::lookup_host((host, port)).await?.collect(),
        };
        if addrs.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{host} has no addresses"),
            ));
        }
        let preferred = self
            .cache
            .get(key)
            .and_then(|old| {
                old.addrs
                    .get(old.preferred.load(Ordering::Relaxed))
                    .and_then(|a| addrs.iter().position(|b| b == a))
            })
            .unwrap_or(0);
        let r = Arc::new(Resolved {
            addrs,
            preferred: AtomicUsize::new(preferred),
            at: Instant::now(),
        });
        self.cache.insert(key.into(), r.clone());
        Ok(r)
    }
}
