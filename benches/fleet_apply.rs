//! What a fleet member does with the control plane at scale (issue 13): 100,000 uploaded
//! certificates, 100,000 issued keys and one managed grant over the organisation's
//! certificates.
//!
//! Run: `cargo bench --bench fleet_apply`. Cases:
//! - `one grant change`, `one key added`, `one certificate uploaded`: a replayed change
//!   applied to the state, its delta derived and patched into the running snapshot's control
//!   layer — what every member does for every change another member commits;
//! - `full resync`: every record parsed into a state and published — what a member does on
//!   every (re)connect to Redis; `through Redis, end to end` is all of it as a member runs
//!   it (`ControlPlane::fleet_resync`: the Redis read, the parse, the publish and the local
//!   copy);
//! - `compile with the whole overlay`: what a YAML reload costs at this size;
//! - `part: …`: the steps of one change, and the Redis read and local-copy rewrite of a
//!   full load, timed apart.

#![allow(missing_docs)]

use std::sync::Arc;

use certgate::admin::records::*;
use certgate::admin::{ControlState, Write};
use certgate::config::load;
use certgate::metrics::Metrics;
use certgate::pki::{bulk_leaves, Spec};
use certgate::publish::Publisher;
use certgate::snapshot::Overlay;
use criterion::{criterion_group, criterion_main, Criterion};

const CERTS: usize = 100_000;
const KEYS: usize = 100_000;

fn record<T: serde::Serialize>(kind: &str, id: &str, r: &T) -> (String, String, Vec<u8>) {
    (kind.to_string(), id.to_string(), serde_json::to_vec(r).unwrap())
}

fn grant(status: GrantStatus) -> Grant {
    Grant {
        id: "grant_1".into(),
        request: "req_1".into(),
        app: "app_1".into(),
        product: "prod_1".into(),
        token_sha256: Some(hex::encode(certgate::certs::sha256(b"grant token"))),
        apis: vec!["orders".into()],
        certificate_mode: CertificateMode::Managed,
        certificates: Vec::new(),
        bind: true,
        status,
        created_at: 0,
    }
}

/// An uploaded certificate of `org_1`, as a stored record.
fn cert_record(c: &openssl::x509::X509) -> (String, String, Vec<u8>) {
    let id = hex::encode(c.digest(openssl::hash::MessageDigest::sha256()).unwrap());
    let r = CertRecord {
        id: id.clone(),
        name: id.clone(),
        pem: String::from_utf8(c.to_pem().unwrap()).unwrap(),
        key_sealed: None,
        source: Source::Api,
        path: None,
        deleted: false,
        organisations: vec!["org_1".into()],
        created_at: 0,
    };
    record("certificate", &id, &r)
}

fn records() -> Vec<(String, String, Vec<u8>)> {
    let ca = Spec::ca("bench CA").issue(None);
    eprintln!("making {CERTS} certificates…");
    let mut out = Vec::with_capacity(CERTS + KEYS + 4);
    for c in bulk_leaves(&ca, CERTS) {
        out.push(cert_record(&c));
    }
    for k in 0..KEYS {
        let r = Key {
            id: format!("key_{k}"),
            token_sha256: hex::encode(certgate::certs::sha256(format!("key token {k}").as_bytes())),
            apis: vec!["orders".into()],
            bound_certificates: Vec::new(),
            expires_at: None,
            created_at: 0,
        };
        out.push(record("key", &r.id, &r));
    }
    let org = Organisation {
        id: "org_1".into(),
        name: "acme".into(),
    };
    out.push(record("organisation", &org.id, &org));
    let app = App {
        id: "app_1".into(),
        name: "app".into(),
        organisation: "org_1".into(),
    };
    out.push(record("app", &app.id, &app));
    out
}

fn publisher(dir: &std::path::Path) -> Publisher {
    let ca = Spec::ca("bench server CA").issue(None);
    Spec::server("localhost", &["localhost"])
        .issue(Some(&ca))
        .write(dir, "server");
    let yaml = "listen:\n  https: \"127.0.0.1:1\"\ntls:\n  certificate: server.crt\n  key: server.key\napis:\n  - name: orders\n    listen_path: /orders/\n    auth: {type: token, mutual_tls: true}\n    upstream: {url: \"https://orders.internal\"}\n";
    std::fs::write(dir.join("certgate.yaml"), yaml).unwrap();
    let cfg = load(&dir.join("certgate.yaml")).unwrap();
    Publisher::start(cfg, Arc::new(Overlay::default()), Arc::new(Metrics::new())).unwrap()
}

/// A fleet member of namespace `bench` on `redis_url`, opened (its first full load done) and
/// publishing into a gateway of its own.
fn member(dir: &std::path::Path, redis_url: &str) -> Arc<certgate::admin::ControlPlane> {
    let yaml = format!(
        "listen:\n  https: \"127.0.0.1:1\"\n  admin: \"127.0.0.1:2\"\ntls:\n  certificate: server.crt\n  key: server.key\nadmin:\n  data_dir: member\nfleet:\n  redis_url: \"{redis_url}\"\n  name: bench\n  secret_env: BENCH_FLEET_SECRET\napis:\n  - name: orders\n    listen_path: /orders/\n    auth: {{type: token, mutual_tls: true}}\n    upstream: {{url: \"https://orders.internal\"}}\n"
    );
    std::fs::write(dir.join("member.yaml"), yaml).unwrap();
    let cfg = load(&dir.join("member.yaml")).unwrap();
    let env = |name: &str| match name {
        "BENCH_FLEET_SECRET" => Some("bench fleet notice secret".to_string()),
        "CERTGATE_ADMIN_KEY" => Some("bench admin key, long enough".to_string()),
        _ => None,
    };
    let cp = Arc::new(certgate::admin::ControlPlane::open(&cfg, &env).unwrap());
    let p = Publisher::start(cfg, cp.source(), Arc::new(Metrics::new())).unwrap();
    cp.attach(Arc::new(p));
    cp.fleet_resync().unwrap();
    cp
}

/// Applies `writes` to a copy of `live` and publishes the change as a member does.
fn change(p: &Publisher, live: &mut ControlState, writes: &[Write]) {
    let mut next = live.clone();
    next.apply(writes, None).unwrap();
    let delta = ControlState::delta(live, &next);
    p.set_control(Arc::new(next.clone()), Some(delta)).unwrap();
    *live = next;
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let p = publisher(dir.path());
    let records = records();
    let state = ControlState::from_records(records.clone(), None).unwrap();
    p.set_overlay(state.overlay()).unwrap();
    let put = |kind: &'static str, id: &str, body: Vec<u8>| {
        vec![Write::Put {
            kind,
            id: id.into(),
            body,
        }]
    };
    let grant_writes = |status| put("grant", "grant_1", serde_json::to_vec(&grant(status)).unwrap());
    let (approve, revoke) = (grant_writes(GrantStatus::Active), grant_writes(GrantStatus::Revoked));
    let ca = Spec::ca("bench upload CA").issue(None);
    let uploads: Vec<Vec<Write>> = bulk_leaves(&ca, 64)
        .into_iter()
        .map(|c| {
            let (_, id, body) = cert_record(&c);
            put("certificate", &id, body)
        })
        .collect();
    let mut g = c.benchmark_group("fleet_apply");
    g.sample_size(10);
    let mut flip = false;
    let mut live = state.clone();
    g.bench_function("one grant change (100k certificates, 100k keys)", |b| {
        b.iter(|| {
            flip = !flip;
            change(&p, &mut live, if flip { &approve } else { &revoke });
        })
    });
    let mut n = 0u64;
    g.bench_function("one key added (100k certificates, 100k keys)", |b| {
        b.iter(|| {
            n += 1;
            let k = Key {
                id: format!("bench_key_{n}"),
                token_sha256: hex::encode(certgate::certs::sha256(format!("bench token {n}").as_bytes())),
                apis: vec!["orders".into()],
                bound_certificates: Vec::new(),
                expires_at: None,
                created_at: 0,
            };
            change(&p, &mut live, &put("key", &k.id, serde_json::to_vec(&k).unwrap()));
        })
    });
    let mut u = 0usize;
    g.bench_function("one certificate uploaded (100k certificates, 100k keys)", |b| {
        b.iter(|| {
            // The same few uploads again and again: each replaces its record (a new parse).
            u += 1;
            change(&p, &mut live, &uploads[u % uploads.len()]);
        })
    });
    // Where the time of one change goes.
    g.bench_function("part: clone + apply", |b| {
        b.iter(|| {
            let mut next = live.clone();
            next.apply(&approve, None).unwrap();
            next
        })
    });
    let mut approved = live.clone();
    approved.apply(&approve, None).unwrap();
    g.bench_function("part: delta()", |b| b.iter(|| ControlState::delta(&live, &approved)));
    g.bench_function("compile with the whole overlay (a YAML reload)", |b| {
        b.iter(|| p.set_overlay(live.overlay()).unwrap())
    });
    g.bench_function("full resync, nothing changed (100k certificates, 100k keys)", |b| {
        b.iter(|| {
            let s = ControlState::from_records_reusing(&records, None, &live).unwrap();
            let delta = ControlState::delta(&live, &s);
            p.set_control(Arc::new(s.clone()), Some(delta)).unwrap();
            live = s;
        })
    });
    // What a member also does at every full load, under the state lock: rewrite its local
    // copy (`admin.data_dir`) with every record, in one SQLite transaction.
    let local = certgate::admin::SqliteStore::open(&dir.path().join("local")).unwrap();
    g.bench_function("part: local copy rewrite (SQLite, 200k records)", |b| {
        b.iter(|| {
            use certgate::admin::ControlStore;
            local.replace_all(&records, &[("fleet_rev", b"1".to_vec())]).unwrap()
        })
    });
    // And what it reads first: the whole namespace from Redis (a `redis-server` of its own,
    // skipped when none is installed).
    if let Some(redis) = BenchRedis::start() {
        let store = certgate::admin::fleet::store::FleetStore::new(
            redis::Client::open(redis.url()).unwrap(),
            "bench",
            b"bench secret".to_vec(),
        );
        store.seed(&records, None).unwrap();
        g.bench_function("part: read the namespace from Redis (200k records)", |b| {
            b.iter(|| store.load_all().unwrap())
        });
        // The whole of it, as a member runs it on every reconnect: read, parse reusing what
        // it has, publish, rewrite the local copy.
        let cp = member(dir.path(), &redis.url());
        g.bench_function(
            "full resync through Redis, end to end (100k certificates, 100k keys)",
            |b| b.iter(|| cp.fleet_resync().unwrap()),
        );
    } else {
        eprintln!("redis-server not found: the Redis read is not measured");
    }
    g.bench_function("full resync, from nothing (100k certificates, 100k keys)", |b| {
        b.iter(|| {
            let s = ControlState::from_records(records.clone(), None).unwrap();
            let delta = ControlState::delta(&live, &s);
            p.set_control(Arc::new(s.clone()), Some(delta)).unwrap();
            live = s;
        })
    });
    g.finish();
}

/// A throwaway `redis-server` (no persistence) on a free loopback port.
struct BenchRedis {
    child: std::process::Child,
    port: u16,
}

impl BenchRedis {
    fn start() -> Option<BenchRedis> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .ok()?;
        let r = BenchRedis { child, port };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(r);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        None
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }
}

impl Drop for BenchRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
