//! What a new snapshot carries over from the one it replaces (issue 11 §4): a target found
//! down stays skipped across a reload or an admin change.

use certgate::config::parse_str;
use certgate::pki::Spec;
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
    let old = compile(&parse_str(&yaml("http://127.0.0.1:2"), &file).unwrap(), 1).unwrap();
    let now = 1_000;
    old.apis[0].upstream.targets[0].mark_down(now + 10_000);
    old.apis[0].upstream.targets[1].mark_down(now + 10_000);
    let mut new = compile(&parse_str(&yaml("http://127.0.0.1:3"), &file).unwrap(), 2).unwrap();
    new.inherit_target_health(&old);
    let t = &new.apis[0].upstream.targets;
    assert!(t[0].is_down(now), "the same target stays down");
    assert!(!t[1].is_down(now), "a new target starts healthy");
}
