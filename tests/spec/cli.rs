//! The command line: `certgate check -c FILE` and `certgate cert id FILE`.

use std::process::Command;

use certgate::pki::Spec;

fn certgate(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(crate::support::certgate_bin())
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn check_reports_errors_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.yaml");
    std::fs::write(&cfg, "listen:\n  http: \"127.0.0.1:1\"\napis:\n  - name: a\n    listen_path: /\n    upstream: {url: http://x}\n    extra: 1\n").unwrap();
    let (code, _, err) = certgate(&["check", "-c", cfg.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("apis[0].extra: unknown field `extra`"), "{err}");
    assert!(err.contains("c.yaml line 7"), "{err}");

    std::fs::write(
        &cfg,
        "listen:\n  http: \"127.0.0.1:1\"\napis:\n  - name: a\n    listen_path: /\n    upstream: {url: http://x}\n",
    )
    .unwrap();
    let (code, out, err) = certgate(&["check", "-c", cfg.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("ok (1 APIs, 0 tokens)"), "{out}");
}

#[test]
fn cert_id_prints_the_id_and_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Spec::ca("Test CA").issue(None);
    let leaf = Spec::server("api.example.com", &["api.example.com", "10.0.0.1"]).issue(Some(&ca));
    let combined = leaf.write_combined(dir.path(), "leaf");
    let (code, out, err) = certgate(&["cert", "id", combined.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("id: {}", leaf.id())), "{out}");
    assert!(out.contains("subject: CN=api.example.com"), "{out}");
    assert!(out.contains("issuer: CN=Test CA"), "{out}");
    assert!(out.contains("dns_names: api.example.com, 10.0.0.1"), "{out}");
    assert!(out.contains("has_private_key: true"), "{out}");
    assert!(out.contains("is_ca: false"), "{out}");
    // The ID is the SHA-256 of the leaf DER, as openssl prints it.
    let fp = leaf.cert.digest(openssl::hash::MessageDigest::sha256()).unwrap();
    assert_eq!(hex::encode(fp), leaf.id().to_hex());

    // A public key alone: its ID is the SHA-256 of the SPKI DER.
    let pubkey = dir.path().join("k.pub");
    std::fs::write(&pubkey, leaf.key.public_key_to_pem().unwrap()).unwrap();
    let (code, out, _) = certgate(&["cert", "id", pubkey.to_str().unwrap()]);
    assert_eq!(code, 0);
    let spki = leaf.key.public_key_to_der().unwrap();
    assert!(
        out.contains(&format!("id: {}", certgate::certs::CertId::of_der(&spki))),
        "{out}"
    );

    // A key that does not match the certificate, and garbage, name the file.
    let mismatch = dir.path().join("mismatch.pem");
    let mut body = leaf.cert_pem();
    body.extend(Spec::client("x").issue(None).key_pem());
    std::fs::write(&mismatch, body).unwrap();
    let (code, _, err) = certgate(&["cert", "id", mismatch.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(err.contains("mismatch.pem") && err.contains("does not match"), "{err}");
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "hello").unwrap();
    let (code, _, err) = certgate(&["cert", "id", garbage.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(err.contains("garbage.pem"), "{err}");
}

/// Issue 11: `check` accepts exactly what `run` accepts (short of binding sockets).
#[test]
fn check_runs_the_same_validation_as_run() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.yaml");
    std::fs::write(
        &cfg,
        "listen:\n  http: \"127.0.0.1:1\"\n  admin: \"127.0.0.1:2\"\nadmin:\n  key_env: CG_TEST_ADMIN_KEY\n  data_dir: data\n",
    )
    .unwrap();
    let check = |key: Option<&str>| {
        let mut cmd = Command::new(crate::support::certgate_bin());
        cmd.args(["check", "-c"]).arg(&cfg).env_remove("CG_TEST_ADMIN_KEY");
        if let Some(k) = key {
            cmd.env("CG_TEST_ADMIN_KEY", k);
        }
        let out = cmd.output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).to_string())
    };
    let (code, err) = check(None);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("admin.key_env: the environment variable CG_TEST_ADMIN_KEY"),
        "{err}"
    );
    let (code, err) = check(Some("short"));
    assert_eq!(code, Some(2));
    assert!(err.contains("at least 16 characters"), "{err}");
    let (code, err) = check(Some("a-long-enough-admin-key"));
    assert_eq!(code, Some(0), "{err}");
    assert!(!dir.path().join("data").exists(), "check writes nothing");
}

#[test]
fn check_refuses_an_alias_bomb_fast() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bomb.yaml");
    let mut text =
        String::from("listen:\n  http: \"127.0.0.1:1\"\nx0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..10 {
        let refs = vec![format!("*a{}", i - 1); 10].join(", ");
        text.push_str(&format!("x{i}: &a{i} [{refs}]\n"));
    }
    std::fs::write(&cfg, text).unwrap();
    let start = std::time::Instant::now();
    let (code, _, err) = certgate(&["check", "-c", cfg.to_str().unwrap()]);
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(code, 2);
    assert!(err.contains("alias bomb") && err.contains("bomb.yaml line"), "{err}");
}

#[test]
fn check_survives_store_directory_abuse() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("certs/nested/dir.pem")).unwrap();
    std::os::unix::fs::symlink(d.join("certs"), d.join("certs/nested/loop")).unwrap();
    std::os::unix::fs::symlink(d.join("missing.pem"), d.join("certs/dangling.pem")).unwrap();
    let c = Spec::client("in the store").issue(None);
    std::fs::write(d.join("certs/nested/c.pem"), c.cert_pem()).unwrap();
    let cfg = d.join("c.yaml");
    std::fs::write(
        &cfg,
        format!(
            "listen:\n  http: \"127.0.0.1:1\"\ncertificate_store: {{dir: certs}}\napis:\n  - name: a\n    listen_path: /\n    auth: {{mutual_tls: true, client_certificates: [{}]}}\n    upstream: {{url: http://x}}\n",
            c.id()
        ),
    )
    .unwrap();
    let start = std::time::Instant::now();
    let (code, out, err) = certgate(&["check", "-c", cfg.to_str().unwrap()]);
    assert!(
        start.elapsed() < std::time::Duration::from_secs(10),
        "a link loop must not hang the walk"
    );
    assert_eq!(code, 0, "{out}{err}");
}

/// `certgate cert verify`: the data plane's allow-list decision for one chain.
#[test]
fn cert_verify_prints_the_data_planes_decision() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let root = Spec::ca("verify root").issue(None);
    let inter = Spec::ca("verify intermediate").issue(Some(&root));
    let leaf = Spec::client("verify leaf").issue(Some(&inter));
    let stranger = Spec::client("stranger").issue(None);
    let write = |name: &str, pem: Vec<u8>| {
        let p = d.join(name);
        std::fs::write(&p, pem).unwrap();
        p.to_str().unwrap().to_string()
    };
    let root_f = write("root.pem", root.cert_pem());
    let inter_f = write("inter.pem", inter.cert_pem());
    let leaf_f = write("leaf.pem", leaf.cert_pem());
    let stranger_f = write("stranger.pem", stranger.cert_pem());
    let run = |args: &[&str]| certgate(&[&["cert", "verify"][..], args].concat());

    let (code, out, err) = run(&["--ca", &root_f, "--chain", &inter_f, &leaf_f]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("decision: allowed") && out.contains(&leaf.id().to_hex()),
        "{out}"
    );

    let (code, out, _) = run(&["--ca", &root_f, &leaf_f]);
    assert_eq!(code, 1, "without the intermediate: {out}");
    assert!(
        out.contains("reason: cert_not_allowed") && out.contains("detail: unable to get local issuer"),
        "{out}"
    );

    let (code, out, _) = run(&[
        "--ca",
        &root_f,
        "--chain",
        &inter_f,
        "--at",
        "2099-01-01T00:00:00Z",
        &leaf_f,
    ]);
    assert_eq!(code, 1);
    assert!(out.contains("reason: cert_expired"), "{out}");

    let (code, out, _) = run(&["--ca", &root_f, &stranger_f]);
    assert_eq!(code, 1);
    assert!(out.contains("reason: cert_not_allowed"), "{out}");

    let (code, out, _) = run(&["--ca", &stranger_f, &stranger_f]);
    assert_eq!(code, 0, "a listed leaf: {out}");

    // --crl: the intermediate's CRL revokes the leaf; the root's revokes the intermediate;
    // an empty one passes; a file that is no CRL is an error naming it.
    let now = certgate::clock::now_unix();
    let crl_pem = |issuer: &certgate::pki::Issued, revoked: &[&openssl::x509::X509]| {
        certgate::pki::crl(issuer, revoked, now - 60, now + 3600)
            .unwrap()
            .to_pem()
            .unwrap()
    };
    let by_inter = write("inter.crl", crl_pem(&inter, &[&leaf.cert]));
    let by_root = write("root.crl", crl_pem(&root, &[&inter.cert]));
    let empty = write("empty.crl", crl_pem(&inter, &[]));
    for (crl, want, fragment) in [
        (&by_inter, 1, "reason: cert_revoked"),
        (&by_root, 1, "reason: cert_revoked"),
        (&empty, 0, "decision: allowed"),
    ] {
        let (code, out, err) = run(&["--ca", &root_f, "--chain", &inter_f, "--crl", crl, &leaf_f]);
        assert_eq!(code, want, "{crl}: {out}{err}");
        assert!(out.contains(fragment), "{crl}: {out}");
    }
    let (code, _, err) = run(&["--ca", &root_f, "--chain", &inter_f, "--crl", &root_f, &leaf_f]);
    assert_eq!(code, 2);
    assert!(err.contains("root.pem"), "{err}");
    let (code, _, err) = run(&["--ca", &d.join("nope.pem").to_string_lossy(), &leaf_f]);
    assert_eq!(code, 2);
    assert!(err.contains("nope.pem"), "{err}");
}

/// Issue 11 §5, decided and kept: what OpenSSL's `sslclient` purpose and certgate's key
/// floor refuse on top of SPEC §3 step 2.
#[test]
fn client_chain_rules_certgate_keeps() {
    use certgate::pki::{Eku, KeyKind};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let root = Spec::ca("rules root").issue(None);
    let good_inter = Spec::ca("clientAuth intermediate").eku(Eku::Client).issue(Some(&root));
    let server_inter = Spec::ca("serverAuth-only intermediate")
        .eku(Eku::Server)
        .issue(Some(&root));
    let rows: Vec<(&str, certgate::pki::Issued, i32, &str)> = vec![
        ("a plain leaf", Spec::client("ok").issue(Some(&root)), 0, ""),
        (
            "under an intermediate that allows clientAuth",
            Spec::client("ok").issue(Some(&good_inter)),
            0,
            "",
        ),
        (
            "under an intermediate whose EKU lacks clientAuth",
            Spec::client("x").issue(Some(&server_inter)),
            1,
            "unsuitable certificate purpose",
        ),
        (
            "a leaf whose keyUsage lacks digitalSignature",
            Spec::client("x").without_signature_usage().issue(Some(&root)),
            1,
            "unsuitable certificate purpose",
        ),
        (
            "a leaf without any EKU",
            Spec::client("ok").eku(Eku::None).issue(Some(&root)),
            0,
            "",
        ),
        (
            "an RSA-1024 leaf",
            Spec::client("weak").key(KeyKind::Rsa1024).issue(Some(&root)),
            1,
            "cert_not_allowed",
        ),
    ];
    std::fs::write(d.join("root.pem"), root.cert_pem()).unwrap();
    let mut failures = Vec::new();
    for (i, (name, leaf, want, fragment)) in rows.iter().enumerate() {
        let f = d.join(format!("leaf{i}.pem"));
        std::fs::write(&f, leaf.chain_pem()).unwrap();
        let (code, out, err) = certgate(&[
            "cert",
            "verify",
            "--ca",
            d.join("root.pem").to_str().unwrap(),
            f.to_str().unwrap(),
        ]);
        if code != *want || !out.contains(fragment) {
            failures.push(format!("{name}: exit {code}\n{out}{err}"));
        }
    }
    // A weak key is refused even when its leaf is listed by ID.
    let weak = Spec::client("weak listed").key(KeyKind::Rsa1024).issue(None);
    std::fs::write(d.join("weak.pem"), weak.cert_pem()).unwrap();
    let (code, out, _) = certgate(&[
        "cert",
        "verify",
        "--ca",
        d.join("weak.pem").to_str().unwrap(),
        d.join("weak.pem").to_str().unwrap(),
    ]);
    if code != 1 {
        failures.push(format!("a listed RSA-1024 leaf: exit {code}\n{out}"));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn run_names_a_listener_whose_port_is_taken_and_exits_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let config = dir.path().join("certgate.yaml");
    std::fs::write(
        &config,
        format!("listen:\n  http: \"127.0.0.1:0\"\n  metrics: \"127.0.0.1:{port}\"\napis:\n  - name: a\n    listen_path: /\n    upstream: {{url: \"http://127.0.0.1:1\"}}\n"),
    )
    .unwrap();
    let start = std::time::Instant::now();
    let (code, _, err) = certgate(&["run", "-c", config.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!("listen.metrics: cannot listen on 127.0.0.1:{port}")),
        "{err}"
    );
    assert!(
        start.elapsed() < std::time::Duration::from_secs(10),
        "took {:?}",
        start.elapsed()
    );
}
