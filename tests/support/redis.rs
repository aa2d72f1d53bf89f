//! A real `redis-server` per test (Debian's, installed by `scripts/install-deps.sh`): its own
//! port and directory, append-only file on, killed when dropped or when the test wants an
//! outage, and started again on the same directory and port.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::gateway::free_port;

/// TLS settings of a `--tls-port` Redis: its certificate, key and the CA its clients need.
#[derive(Clone)]
pub struct RedisTls {
    /// Server certificate (PEM).
    pub cert: PathBuf,
    /// Server key (PEM).
    pub key: PathBuf,
    /// CA whose certificates clients must present (PEM).
    pub client_ca: PathBuf,
}

/// A running (or stopped) Redis.
pub struct Redis {
    child: Option<Child>,
    pub dir: PathBuf,
    pub port: u16,
    tls: Option<RedisTls>,
}

impl Redis {
    /// Starts a plaintext Redis with its data in `dir`.
    pub fn start(dir: &Path) -> Redis {
        Self::start_with(dir, None)
    }

    /// Starts Redis on TLS only, requiring client certificates.
    pub fn start_tls(dir: &Path, tls: RedisTls) -> Redis {
        Self::start_with(dir, Some(tls))
    }

    fn start_with(dir: &Path, tls: Option<RedisTls>) -> Redis {
        std::fs::create_dir_all(dir).unwrap();
        let mut r = Redis {
            child: None,
            dir: dir.to_path_buf(),
            port: free_port(),
            tls,
        };
        r.restart();
        r
    }

    /// `redis://127.0.0.1:<port>/0` (or `rediss://`).
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "rediss" } else { "redis" };
        format!("{scheme}://127.0.0.1:{}/0", self.port)
    }

    /// Kills Redis (SIGKILL: an outage, not a shutdown).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts Redis again on the same port and directory (its append-only file replays).
    pub fn restart(&mut self) {
        self.kill();
        let mut cmd = Command::new("redis-server");
        cmd.arg("--bind")
            .arg("127.0.0.1")
            .arg("--dir")
            .arg(&self.dir)
            .arg("--appendonly")
            .arg("yes")
            .arg("--appendfsync")
            .arg("always")
            .arg("--save")
            .arg("")
            .arg("--protected-mode")
            .arg("no");
        match &self.tls {
            None => {
                cmd.arg("--port").arg(self.port.to_string());
            }
            Some(t) => {
                cmd.arg("--port")
                    .arg("0")
                    .arg("--tls-port")
                    .arg(self.port.to_string())
                    .arg("--tls-cert-file")
                    .arg(&t.cert)
                    .arg("--tls-key-file")
                    .arg(&t.key)
                    .arg("--tls-ca-cert-file")
                    .arg(&t.client_ca)
                    .arg("--tls-auth-clients")
                    .arg("yes");
            }
        }
        let log = std::fs::File::create(self.dir.join("redis.log")).unwrap();
        cmd.stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log));
        super::gateway::die_with_parent_thread(&mut cmd);
        let child = cmd.spawn().expect("redis-server (scripts/install-deps.sh installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not start:\n{}",
                std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A client connection (plaintext Redis only).
    pub fn client(&self) -> redis::Connection {
        redis::Client::open(self.url()).unwrap().get_connection().unwrap()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}
