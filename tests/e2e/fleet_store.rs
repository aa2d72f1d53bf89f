//! The fleet's Redis store on a real `redis-server`: one change is one atomic commit, a
//! stale writer changes nothing, a member catches up by replay or by a full load, never by
//! luck, and seeding takes only an empty namespace.

use certgate::admin::fleet::store::{CatchUp, FleetError, FleetStore, Position};
use certgate::admin::fleet::verify_notice;
use certgate::admin::Write;

use crate::support::redis::Redis;

const SECRET: &[u8] = b"fleet secret for the tests, 32 b";

fn store(r: &Redis, name: &str) -> FleetStore {
    FleetStore::new(redis::Client::open(r.url()).unwrap(), name, SECRET.to_vec())
}

fn put(id: &str, body: &str) -> Write {
    Write::Put {
        kind: "grant",
        id: id.into(),
        body: body.as_bytes().to_vec(),
    }
}

#[test]
fn commits_are_ordered_replayable_and_refused_when_stale() {
    let dir = tempfile::tempdir().unwrap();
    let r = Redis::start(dir.path());
    let (a, b) = (store(&r, "t"), store(&r, "t"));
    let mut sub = r.client();
    let mut ps = sub.as_pubsub();
    ps.subscribe(&a.keys().notices).unwrap();

    let start = Position::default();
    assert!(matches!(a.catch_up(&start).unwrap(), CatchUp::Current));
    let one = a.commit(&start, &[put("g1", r#"{"n":1}"#)]).unwrap();
    assert_eq!(one.rev, 1);
    assert!(one.epoch.is_some());
    // B still thinks the namespace is empty: its write changes nothing.
    match b.commit(&start, &[put("g1", r#"{"n":"b"}"#)]) {
        Err(FleetError::Conflict(1)) => {}
        other => panic!("stale write: {other:?}"),
    }
    let two = a
        .commit(
            &one,
            &[
                put("g2", "{}"),
                Write::Remove {
                    kind: "grant",
                    id: "g1".into(),
                },
            ],
        )
        .unwrap();
    assert_eq!(two.rev, 2);
    // B catches up by replaying both changes, in order.
    match b.catch_up(&start).unwrap() {
        CatchUp::Replay { to, changes } => {
            assert_eq!(to, two.clone());
            let revs: Vec<u64> = changes.iter().map(|c| c.0).collect();
            assert_eq!(revs, [1, 2]);
            assert_eq!(changes[1].1.len(), 2);
        }
        other => panic!("{other:?}"),
    }
    let full = b.load_all().unwrap();
    assert_eq!(full.at, two);
    assert_eq!(full.records, vec![("grant".into(), "g2".into(), b"{}".to_vec())]);
    // Each commit published one signed notice for its revision.
    for want in [1, 2] {
        let msg = ps.get_message().unwrap();
        let payload: String = msg.get_payload().unwrap();
        assert_eq!(verify_notice(SECRET, "t", &payload), Some(want));
    }
    // Another namespace on the same Redis is another world.
    assert!(matches!(store(&r, "other").catch_up(&start).unwrap(), CatchUp::Current));
}

#[test]
fn a_trimmed_log_or_a_new_history_means_a_full_load_and_an_emptied_redis_holds() {
    let dir = tempfile::tempdir().unwrap();
    let r = Redis::start(dir.path());
    let a = store(&r, "t");
    let mut at = Position::default();
    for i in 0..3 {
        at = a.commit(&at, &[put(&format!("g{i}"), "{}")]).unwrap();
    }
    let behind = Position {
        epoch: at.epoch.clone(),
        rev: 1,
    };
    let mut con = r.client();
    let _: () = redis::cmd("XTRIM")
        .arg(&a.keys().log)
        .arg("MAXLEN")
        .arg(1)
        .query(&mut con)
        .unwrap();
    assert!(matches!(a.catch_up(&behind).unwrap(), CatchUp::Reload), "trimmed log");
    let other_history = Position {
        epoch: Some("another".into()),
        rev: 3,
    };
    assert!(matches!(a.catch_up(&other_history).unwrap(), CatchUp::Reload));
    // Redis lost everything: a member with a history must not follow it into emptiness.
    let _: () = redis::cmd("FLUSHALL").query(&mut con).unwrap();
    assert!(matches!(a.catch_up(&at).unwrap(), CatchUp::Emptied));
    // ... and a stale epoch cannot write either.
    assert!(matches!(a.commit(&at, &[put("x", "{}")]), Err(FleetError::Conflict(0))));
}

#[test]
fn seeding_takes_an_empty_namespace_only() {
    let dir = tempfile::tempdir().unwrap();
    let r = Redis::start(dir.path());
    let a = store(&r, "t");
    let records = vec![
        ("grant".to_string(), "g1".to_string(), b"{}".to_vec()),
        ("key".to_string(), "k1".to_string(), b"{\"k\":1}".to_vec()),
    ];
    assert_eq!(a.seed(&records, Some(b"salt")).unwrap(), 1);
    let full = a.load_all().unwrap();
    assert_eq!(full.at.rev, 1);
    assert_eq!(full.records, records);
    assert_eq!(full.salt.as_deref(), Some(&b"salt"[..]));
    assert!(matches!(a.seed(&records, None), Err(FleetError::NotEmpty(_))));
    // A member that saw nothing yet loads everything (the seed is not replayable).
    assert!(matches!(a.catch_up(&Position::default()).unwrap(), CatchUp::Reload));
    // The salt is shared: the first one stored wins.
    assert_eq!(a.salt(b"other").unwrap(), b"salt");
}

#[test]
fn redis_down_is_an_error_not_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = Redis::start(dir.path());
    let a = store(&r, "t");
    let at = a.commit(&Position::default(), &[put("g1", "{}")]).unwrap();
    r.kill();
    let started = std::time::Instant::now();
    assert!(matches!(a.position(), Err(FleetError::Redis(_))));
    assert!(matches!(a.commit(&at, &[put("g2", "{}")]), Err(FleetError::Redis(_))));
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    // Back, with its append-only file: the history is intact and writes go on.
    r.restart();
    // The client reconnects on its own; on a loaded machine that can take a moment.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let position = loop {
        match a.position() {
            Ok(p) => break p,
            Err(e) if std::time::Instant::now() > deadline => panic!("no reconnect: {e}"),
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(50)),
        }
    };
    assert_eq!(position, at);
    assert_eq!(a.commit(&at, &[put("g2", "{}")]).unwrap().rev, 2);
}
