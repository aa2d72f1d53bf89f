//! Runtime state of upstream targets lives outside the snapshot (`proxy::Health`) and
//! survives publishes (issue 11 §4, issue 12): a target found down stays skipped across a
//! reload that keeps it, and the round robin skips it.

use certgate::config::parse_str;
use certgate::pki::Spec;
use certgate::proxy::Health;
use certgate::snapshot::compile;

#[test]
fn target_health_survives_a_publish() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Spec::ca("ca").issue(None);
    Spec::server("localhost", &["localhost"])
        .issue(Some(&ca))
        .write(dir.path(), "server");
    let yaml = |second: &str| {
        format!(
            "listen:\n  https: \"127.0.0.1:8443\"\ntls: {{certificate: server.crt, key: server.key}}\napis:\n  - name: a\n    listen_path: /\n    upstream:\n      targets: [\"http://127.0.0.1:1\", \"{second}\"]\n"
        )
    };
    let file = dir.path().join("certgate.yaml");
    let health = Health::default();
    let old = compile(&parse_str(&yaml("http://127.0.0.1:2"), &file).unwrap(), 1).unwrap();
    health.prune(&old);
    let now = 1_000;
    let up = &old.apis[0].upstream;
    health.mark_down(&up.targets[0], now + 10_000);
    health.mark_down(&up.targets[1], now + 10_000);
    let new = compile(&parse_str(&yaml("http://127.0.0.1:3"), &file).unwrap(), 2).unwrap();
    health.prune(&new);
    health.prune(&old); // a request still on the old snapshot prunes nothing
    let t = &new.apis[0].upstream.targets;
    assert!(health.is_down(&t[0], now), "the same target stays down");
    assert!(!health.is_down(&t[1], now), "a new target starts healthy");
    for _ in 0..4 {
        assert_eq!(
            health.next_target(&new.apis[0].upstream, now),
            1,
            "round robin skips the down target"
        );
    }
}
