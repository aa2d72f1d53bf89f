//! SPEC §3 in process: every row of the shared table (`support::spec3`) through the
//! decision itself (`policy::downstream::route` then `authorize`) on a snapshot compiled
//! from the world's config. The client certificate is a `PeerCert` built from the same
//! leaf and chain a TLS client would send; the answer is what `proxy::respond` writes.

use std::collections::HashSet;

use certgate::clock::now_unix;
use certgate::config::parse_str;
use certgate::policy::downstream::{authorize, route, RequestView};
use certgate::policy::PeerCert;
use certgate::snapshot::{compile, Snapshot};
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::support::spec3::{self, Row, SMOKE};
use crate::support::world::World;

fn snapshot(w: &World) -> Snapshot {
    let loaded = parse_str(&w.yaml_in_process(), &w.bed.file("certgate.yaml")).unwrap_or_else(|e| panic!("{e}"));
    compile(&loaded, 1).unwrap_or_else(|e| panic!("{e}"))
}

/// What the row's request gets: `None` when it passes, else (status, code, message, header).
fn decide(snap: &Snapshot, w: &World, r: &Row) -> Option<(u16, &'static str, String, Option<&'static str>)> {
    let mut headers = HeaderMap::new();
    for (k, v) in &r.headers {
        headers.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    let peer = r.cert.map(|n| {
        let c = &w.certs[n];
        PeerCert::new(c.cert.clone(), c.chain.clone()).unwrap()
    });
    let view = RequestView {
        headers: &headers,
        peer: peer.as_ref(),
        now: now_unix(),
    };
    let verdict = route(snap, Some("localhost"), r.path, None).and_then(|api| authorize(snap, snap.api(api), &view));
    verdict.err().map(|d| {
        let a = d.answer();
        (a.status, a.reason, a.message, a.www_authenticate)
    })
}

#[test]
fn every_row_of_spec_3() {
    let w = World::build("127.0.0.1:1");
    let snap = snapshot(&w);
    let rows = spec3::all(&w);
    let mut failures = Vec::new();
    for r in &rows {
        let want = &r.expect;
        let problem = match (decide(&snap, &w, r), want.code) {
            (None, None) => None,
            (None, Some(code)) => Some(format!("passed (want {} {code})", want.status)),
            (Some((status, code, ..)), None) => Some(format!("refused {status} {code} (want a pass)")),
            (Some((status, code, message, www)), Some(want_code)) => {
                let mut p = Vec::new();
                if status != want.status {
                    p.push(format!("status {status} (want {})", want.status));
                }
                if code != want_code {
                    p.push(format!("code {code} (want {want_code})"));
                }
                if want.message.as_ref().is_some_and(|m| *m != message) {
                    p.push(format!("error {message:?} (want {:?})", want.message));
                }
                if www != want.www {
                    p.push(format!("www-authenticate {www:?} (want {:?})", want.www));
                }
                (!p.is_empty()).then(|| p.join(", "))
            }
        };
        if let Some(p) = problem {
            failures.push(format!("row `{}`: {p}", r.name));
        }
    }
    spec3::assert_no_failures(&failures, rows.len());
}

#[test]
fn rows_have_unique_names_and_the_smoke_rows_exist() {
    let w = World::build("127.0.0.1:1");
    let rows = spec3::all(&w);
    let mut names = HashSet::new();
    for r in &rows {
        assert!(names.insert(r.name), "two rows named `{}`", r.name);
    }
    for s in SMOKE {
        assert!(names.contains(s), "smoke row `{s}` is not in the table");
    }
    assert!(
        rows.len() >= 3 * SMOKE.len(),
        "the table is mostly smoke: {} rows",
        rows.len()
    );
}
