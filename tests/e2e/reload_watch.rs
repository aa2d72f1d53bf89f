//! `reload.watch`: a change to the config file or a file it names reloads, through the
//! SIGHUP path, for every way files change in practice: an in-place write, an editor's
//! write-and-rename, a named PEM replaced, Kubernetes' `..data` symlink swap; a broken edit
//! keeps the old policy and is counted; a file the config does not name changes nothing.

use std::path::Path;
use std::time::{Duration, Instant};

use certgate::echo::{self, EchoHandle};
use certgate::pki::{Issued, Spec};

use crate::support::{Gateway, TestBed};

struct World {
    bed: TestBed,
    _up: EchoHandle,
    gateway: Gateway,
    alice: Issued,
    bob: Issued,
}

fn world() -> World {
    let bed = TestBed::new("watch CA");
    let ca = Spec::ca("watch clients").issue(None);
    let alice = Spec::client("alice").issue(Some(&ca));
    let bob = Spec::client("bob").issue(Some(&ca));
    alice.write(bed.path(), "alice");
    bob.write(bed.path(), "bob");
    // The allow list names `allowed.crt`, which starts as alice's certificate.
    std::fs::copy(bed.file("alice.crt"), bed.file("allowed.crt")).unwrap();
    let up = echo::start_plain("watch-up").unwrap();
    let yaml = format!(
        "{}reload: {{watch: true, debounce_ms: 100}}\napis:\n  - name: orders\n    listen_path: /orders/\n    auth: {{mutual_tls: true, client_certificates: [allowed.crt]}}\n    upstream: {{url: \"http://{}\"}}\n",
        TestBed::head(""),
        up.addr
    );
    let gateway = bed.start(&yaml);
    World {
        bed,
        _up: up,
        gateway,
        alice,
        bob,
    }
}

impl World {
    fn status(&self, who: &Issued) -> u16 {
        self.bed
            .client()
            .with_cert(who)
            .get(self.gateway.https, "/orders/x", &[])
            .status
    }

    fn reloads(&self, result: &str) -> f64 {
        self.gateway
            .metric(&format!("certgate_config_reloads_total{{result=\"{result}\"}}"))
    }

    /// The config as the gateway runs it (ports filled in).
    fn config(&self) -> String {
        std::fs::read_to_string(&self.gateway.config).unwrap()
    }

    /// Waits until `who` gets `want` (at most 5 s, no SIGHUP sent).
    fn until(&self, who: &Issued, want: u16, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.status(who) != want {
            assert!(
                Instant::now() < deadline,
                "{what}: not applied in 5 s\n{}",
                self.gateway.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the success counter reaches `n`.
    fn until_reloads(&self, result: &str, n: f64) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.reloads(result) < n {
            assert!(Instant::now() < deadline, "no {result} reload\n{}", self.gateway.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Writes `text` to `path` the way editors do: a new file, renamed over the old one.
fn write_by_rename(path: &Path, text: &str) {
    let tmp = path.with_extension("swp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[test]
fn edits_reload_and_unrelated_files_do_not() {
    let w = world();
    assert_eq!((w.status(&w.alice), w.status(&w.bob)), (200, 403));
    let start = w.reloads("success");

    // In place: the allow list now names bob.
    let bob_config = w.config().replace("[allowed.crt]", "[bob.crt]");
    std::fs::write(&w.gateway.config, &bob_config).unwrap();
    w.until(&w.bob, 200, "an in-place write");
    assert_eq!(w.status(&w.alice), 403);
    assert!(w.gateway.log().contains("event=reload_watch"), "{}", w.gateway.log());

    // An editor's write-and-rename: back to allowed.crt.
    write_by_rename(&w.gateway.config, &bob_config.replace("[bob.crt]", "[allowed.crt]"));
    w.until(&w.alice, 200, "a write by rename");

    // A file the config names is replaced: allowed.crt becomes bob's certificate.
    write_by_rename(
        &w.bed.file("allowed.crt"),
        &String::from_utf8(w.bob.cert_pem()).unwrap(),
    );
    w.until(&w.bob, 200, "a named PEM replaced");
    assert_eq!(w.status(&w.alice), 403);
    let applied = w.reloads("success");
    assert!(applied >= start + 3.0, "{start} -> {applied}");

    // A broken edit: counted as a failure, the old policy kept; the fix applies.
    let failures = w.reloads("failure");
    let good = w.config();
    std::fs::write(
        &w.gateway.config,
        good.replace("listen_path: /orders/", "listen_path: [broken"),
    )
    .unwrap();
    w.until_reloads("failure", failures + 1.0);
    assert_eq!(
        (w.status(&w.alice), w.status(&w.bob)),
        (403, 200),
        "the old policy serves"
    );
    std::fs::write(&w.gateway.config, good.replace("[allowed.crt]", "[alice.crt]")).unwrap();
    w.until(&w.alice, 200, "the fixed edit");

    // Files the config does not name, in the same directory: no reload.
    let before = w.reloads("success") + w.reloads("failure");
    std::fs::write(w.bed.file("notes.txt"), "unrelated").unwrap();
    std::fs::write(w.bed.file("certgate.yaml.swp"), "an editor's swap file").unwrap();
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        w.reloads("success") + w.reloads("failure"),
        before,
        "{}",
        w.gateway.log()
    );
}

#[test]
fn a_kubernetes_configmap_update_reloads() {
    let w = world();
    let dir = w.bed.path();
    // Lay the config out as a ConfigMap mount: certgate.yaml -> ..data/certgate.yaml,
    // ..data -> ..v1 (the file the gateway started on is swapped for the link).
    std::fs::create_dir(dir.join("..v1")).unwrap();
    std::fs::write(dir.join("..v1/certgate.yaml"), w.config()).unwrap();
    std::os::unix::fs::symlink("..v1", dir.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/certgate.yaml", dir.join("link.tmp")).unwrap();
    let before = w.reloads("success");
    std::fs::rename(dir.join("link.tmp"), &w.gateway.config).unwrap();
    w.until_reloads("success", before + 1.0);
    assert_eq!((w.status(&w.alice), w.status(&w.bob)), (200, 403));

    // The update: a new version directory, ..data swapped by rename(2).
    std::fs::create_dir(dir.join("..v2")).unwrap();
    std::fs::write(
        dir.join("..v2/certgate.yaml"),
        w.config().replace("[allowed.crt]", "[bob.crt]"),
    )
    .unwrap();
    std::os::unix::fs::symlink("..v2", dir.join("..data_tmp")).unwrap();
    std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
    std::fs::remove_dir_all(dir.join("..v1")).unwrap();
    w.until(&w.bob, 200, "a ..data swap");
    assert_eq!(w.status(&w.alice), 403);
}
