//! The configs in `conf/` compile, given the files they name.

use certgate::config::load;
use certgate::pki::{KeyKind, Spec};
use certgate::snapshot::compile;

fn pki(dir: &std::path::Path) {
    let p = dir.join("pki");
    std::fs::create_dir_all(&p).unwrap();
    std::fs::create_dir_all(dir.join("certs")).unwrap();
    let ca = Spec::ca("example CA").issue(None);
    let client_ca = Spec::ca("example client CA").issue(None);
    Spec::server("gateway", &["gateway.example.com"])
        .issue(Some(&ca))
        .write(&p, "server");
    Spec::server("api", &["api.example.com"])
        .issue(Some(&ca))
        .write(&p, "api");
    Spec::client("gateway client")
        .issue(Some(&ca))
        .write_combined(&p, "gateway-client");
    std::fs::write(
        p.join("payments-upstream.crt"),
        Spec::server("p", &["payments.internal.example.com"])
            .issue(Some(&ca))
            .cert_pem(),
    )
    .unwrap();
    std::fs::write(p.join("internal-ca.crt"), ca.cert_pem()).unwrap();
    std::fs::write(p.join("client-ca.crt"), client_ca.cert_pem()).unwrap();
    std::fs::write(
        p.join("alice.crt"),
        Spec::client("alice").issue(Some(&client_ca)).cert_pem(),
    )
    .unwrap();
    std::fs::write(
        p.join("partner.crt"),
        Spec::client("partner").issue(Some(&client_ca)).cert_pem(),
    )
    .unwrap();
    let signer = Spec::client("jwt").key(KeyKind::EcP256).issue(None);
    std::fs::write(p.join("jwt-signer.pub"), signer.key.public_key_to_pem().unwrap()).unwrap();
}

#[test]
fn conf_examples_compile() {
    for name in ["example.yaml", "minimal.yaml"] {
        let dir = tempfile::tempdir().unwrap();
        pki(dir.path());
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("conf").join(name);
        let dst = dir.path().join(name);
        std::fs::copy(&src, &dst).unwrap();
        let loaded = load(&dst).unwrap_or_else(|e| panic!("{name}: {e}"));
        let snap = compile(&loaded, 1).unwrap_or_else(|e| panic!("{name}:\n{e}"));
        assert!(snap.stats.apis >= 1, "{name}");
        // What `certgate check` runs, control plane included (example.yaml has one).
        let env = |n: &str| (n == "CERTGATE_ADMIN_KEY" || n == "CERTGATE_SECRET").then(|| "k".repeat(24));
        certgate::server::check(&dst, &env).unwrap_or_else(|e| panic!("{name}: check:\n{e}"));
        assert_eq!(loaded.raw.admin.is_some(), name == "example.yaml", "{name}");
    }
}
