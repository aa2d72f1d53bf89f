//! The one way a test world starts: [`TestBed`] is a temporary directory holding a server
//! identity (`server.crt`/`server.key` for `localhost` and `127.0.0.1`, issued by a fresh
//! CA also written as `server-ca.crt`), plus whatever files the world adds, and it starts
//! gateways on configs written there. Listener addresses in a config are placeholders
//! (`{https}`, `{http}`, `{metrics}`, `{admin}`) that [`Gateway`] fills with free ports.

use std::path::{Path, PathBuf};

use certgate::pki::{Issued, Spec};
use tempfile::TempDir;

use super::{Gateway, TlsClient};

/// A world's directory and server identity.
pub struct TestBed {
    /// Removed when the bed is dropped.
    pub dir: TempDir,
    /// The CA that issued `server.crt`: what clients trust.
    pub server_ca: Issued,
}

impl TestBed {
    /// A fresh directory with a server identity issued by a CA named `ca_name`.
    pub fn new(ca_name: &str) -> TestBed {
        Self::with_dir(tempfile::tempdir().unwrap(), ca_name)
    }

    /// Like [`Self::new`], for a world that lives until the test process exits (a shared
    /// fixture, never dropped): its directory is named after the process, and those of
    /// processes that have exited are removed first.
    pub fn for_the_process(ca_name: &str) -> TestBed {
        const PREFIX: &str = "certgate-shared-";
        let tmp = std::env::temp_dir();
        for entry in std::fs::read_dir(&tmp).into_iter().flatten().flatten() {
            let name = entry.file_name();
            let pid = name.to_str().and_then(|n| n.strip_prefix(PREFIX)?.split('-').next());
            if pid.is_some_and(|p| p.parse::<u32>().is_ok() && !Path::new("/proc").join(p).exists()) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        let dir = tempfile::Builder::new()
            .prefix(&format!("{PREFIX}{}-", std::process::id()))
            .tempdir()
            .unwrap();
        Self::with_dir(dir, ca_name)
    }

    fn with_dir(dir: TempDir, ca_name: &str) -> TestBed {
        let server_ca = Spec::ca(ca_name).issue(None);
        Spec::server("localhost", &["localhost", "127.0.0.1"])
            .issue(Some(&server_ca))
            .write(dir.path(), "server");
        std::fs::write(dir.path().join("server-ca.crt"), server_ca.cert_pem()).unwrap();
        TestBed { dir, server_ca }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A file in the directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes a file into the directory (parents created).
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) {
        let path = self.file(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(path, contents).unwrap();
    }

    /// The `listen` section (every listener a placeholder, two worker threads, then
    /// `listen_extra`, indented lines) and the `tls` section with the server identity.
    pub fn head(listen_extra: &str) -> String {
        format!(
            "listen:\n  https: \"127.0.0.1:{{https}}\"\n  http: \"127.0.0.1:{{http}}\"\n  metrics: \"127.0.0.1:{{metrics}}\"\n  threads: 2\n{listen_extra}tls:\n  certificate: server.crt\n  key: server.key\n"
        )
    }

    /// Starts a gateway on `yaml` (placeholders filled), written as `certgate.yaml`.
    pub fn start(&self, yaml: &str) -> Gateway {
        Gateway::start(self.path(), yaml)
    }

    /// Like [`Self::start`], with environment variables.
    pub fn start_with_env(&self, yaml: &str, env: &[(&str, &str)]) -> Gateway {
        Gateway::start_with_env(self.path(), yaml, env)
    }

    /// A client that trusts the server identity (add a certificate with `with_cert`).
    pub fn client(&self) -> TlsClient {
        TlsClient::new(&self.server_ca)
    }
}
