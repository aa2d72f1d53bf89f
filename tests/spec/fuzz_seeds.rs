//! Replays the fuzz corpus (`fuzz/corpus/<target>/`) through the functions the fuzz targets
//! call (`certgate::fuzz_targets`), on stable Rust: an input that once crashed a target
//! stays in the corpus and keeps being tried here.

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| run(&data));
        assert!(outcome.is_ok(), "{target}: {} panicked", path.display());
        n += 1;
    }
    assert!(n > 0, "{target}: empty corpus");
}

#[test]
fn config_corpus() {
    replay("config", certgate::fuzz_targets::config);
}

#[test]
fn pem_corpus() {
    replay("pem", certgate::fuzz_targets::pem);
}

#[test]
fn jwt_corpus() {
    replay("jwt", certgate::fuzz_targets::jwt);
}

#[test]
fn request_target_corpus() {
    replay("request_target", certgate::fuzz_targets::request_target);
}

#[test]
fn admin_corpus() {
    replay("admin", certgate::fuzz_targets::admin);
}
