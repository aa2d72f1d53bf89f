//! A real certgate process for a test: config written to a temp dir, ports chosen free,
//! stopped when dropped.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A running gateway.
pub struct Gateway {
    pub child: Child,
    pub dir: PathBuf,
    pub config: PathBuf,
    pub https: u16,
    pub metrics: u16,
    pub http: u16,
    pub admin: u16,
}

impl Gateway {
    /// Writes `yaml` (with `{https}`, `{http}`, `{metrics}`, `{admin}` substituted) as
    /// `certgate.yaml` in `dir` and starts certgate on it.
    pub fn start(dir: &Path, yaml: &str) -> Gateway {
        Self::start_with_env(dir, yaml, &[])
    }

    /// Like [`Gateway::start`], with environment variables (admin key, secret).
    pub fn start_with_env(dir: &Path, yaml: &str, env: &[(&str, &str)]) -> Gateway {
        let (https, http, metrics, admin) = (free_port(), free_port(), free_port(), free_port());
        let config = dir.join("certgate.yaml");
        let text = yaml
            .replace("{https}", &https.to_string())
            .replace("{http}", &http.to_string())
            .replace("{metrics}", &metrics.to_string())
            .replace("{admin}", &admin.to_string());
        std::fs::write(&config, text).unwrap();
        Self::spawn(dir, config, [https, http, metrics, admin], env)
    }

    /// Stops certgate and starts it again on the same config and ports.
    pub fn restart(&mut self, env: &[(&str, &str)]) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let fresh = Self::spawn(
            &self.dir,
            self.config.clone(),
            [self.https, self.http, self.metrics, self.admin],
            env,
        );
        let old = std::mem::replace(self, fresh);
        drop(old); // kills nothing: its child already exited
    }

    fn spawn(dir: &Path, config: PathBuf, ports: [u16; 4], env: &[(&str, &str)]) -> Gateway {
        let [https, http, metrics, admin] = ports;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("certgate.log"))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_certgate"))
            .args(["run", "-c"])
            .arg(&config)
            .arg("--upgrade-sock")
            .arg(dir.join("upgrade.sock"))
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn certgate");
        let mut g = Gateway {
            child,
            dir: dir.to_path_buf(),
            config,
            https,
            metrics,
            http,
            admin,
        };
        g.wait_ready();
        g
    }

    fn wait_ready(&mut self) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("certgate exited ({status}):\n{}", self.log());
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.https)).is_ok()
                || std::net::TcpStream::connect(("127.0.0.1", self.http)).is_ok()
                || std::net::TcpStream::connect(("127.0.0.1", self.admin)).is_ok()
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("certgate did not start:\n{}", self.log());
    }

    /// Starts a second certgate on the same config with `--upgrade`: it waits for this one's
    /// listening sockets (sent on SIGQUIT). Its log goes to `certgate-upgrade.log`.
    pub fn spawn_upgrade(&self) -> Child {
        let log = std::fs::File::create(self.dir.join("certgate-upgrade.log")).unwrap();
        Command::new(env!("CARGO_BIN_EXE_certgate"))
            .args(["run", "--upgrade", "-c"])
            .arg(&self.config)
            .arg("--upgrade-sock")
            .arg(self.dir.join("upgrade.sock"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn certgate --upgrade")
    }

    /// The log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("certgate.log")).unwrap_or_default()
    }

    /// Sends a signal by name (`HUP`, `TERM`, ...).
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig} failed");
    }

    /// Rewrites the config (same substitutions and ports) without signalling.
    pub fn write_config(&self, yaml: &str) {
        let text = yaml
            .replace("{https}", &self.https.to_string())
            .replace("{http}", &self.http.to_string())
            .replace("{metrics}", &self.metrics.to_string());
        std::fs::write(&self.config, text).unwrap();
    }

    /// The metrics text.
    pub fn metrics_text(&self) -> String {
        super::client::http_get(self.metrics, "/metrics", &[]).text()
    }

    /// The value of one metric series (exact label set as written by the encoder), or 0.
    pub fn metric(&self, series: &str) -> f64 {
        metric_value(&self.metrics_text(), series)
    }
}

/// Finds `series` (e.g. `certgate_requests_total{api="a",status="200"}`) in exposition text.
pub fn metric_value(text: &str, series: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            l.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
                .map(|v| v.trim().parse::<f64>().unwrap())
        })
        .unwrap_or(0.0)
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
