//! What a fleet member does with the control plane at scale (issue 13): 100,000 uploaded
//! certificates, 100,000 issued keys and one managed grant over the organisation's
//! certificates.
//!
//! Run: `cargo bench --bench fleet_apply`. Cases:
//! - `one grant change`: a replayed change (one grant record) applied to the state, its
//!   overlay derived and published into the data plane — what every member does for every
//!   change another member commits;
//! - `full resync`: every record parsed into a state and published — what a member does on
//!   every (re)connect to Redis;
//! - `part: …`: the three steps of one change, timed apart.

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

fn records() -> Vec<(String, String, Vec<u8>)> {
    let ca = Spec::ca("bench CA").issue(None);
    eprintln!("making {CERTS} certificates…");
    let mut out = Vec::with_capacity(CERTS + KEYS + 4);
    for c in bulk_leaves(&ca, CERTS) {
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
        out.push(record("certificate", &id, &r));
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
    Publisher::start(cfg, Overlay::default(), Arc::new(Metrics::new())).unwrap()
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let p = publisher(dir.path());
    let records = records();
    let state = ControlState::from_records(records.clone(), None).unwrap();
    p.set_overlay(state.overlay()).unwrap();
    let writes = |status| {
        vec![Write::Put {
            kind: "grant",
            id: "grant_1".into(),
            body: serde_json::to_vec(&grant(status)).unwrap(),
        }]
    };
    let (approve, revoke) = (writes(GrantStatus::Active), writes(GrantStatus::Revoked));
    let mut g = c.benchmark_group("fleet_apply");
    g.sample_size(10);
    let mut flip = false;
    let mut live = state.clone();
    g.bench_function("one grant change (100k certificates, 100k keys)", |b| {
        b.iter(|| {
            flip = !flip;
            let mut next = live.clone();
            next.apply(if flip { &approve } else { &revoke }, None).unwrap();
            p.set_overlay(next.overlay()).unwrap();
            live = next;
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
    g.bench_function("part: overlay()", |b| b.iter(|| live.overlay()));
    let overlay = live.overlay();
    g.bench_function("part: publish (YAML compiled with the overlay)", |b| {
        b.iter(|| p.set_overlay(overlay.clone()).unwrap())
    });
    g.bench_function("full resync (100k certificates, 100k keys)", |b| {
        b.iter(|| {
            let s = ControlState::from_records(records.clone(), None).unwrap();
            p.set_overlay(s.overlay()).unwrap();
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
