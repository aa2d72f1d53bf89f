//! A real certgate process for a test: config written to a temp dir, ports chosen free,
//! stopped when dropped.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1, never one this test process was given before: the kernel
/// may hand the same ephemeral port out again once its probe socket is closed, and two
/// listeners of one gateway (or two tests running at once) must not be given the same one.
pub fn free_port() -> u16 {
    use std::collections::HashSet;
    static GIVEN: parking_lot::Mutex<Option<HashSet<u16>>> = parking_lot::Mutex::new(None);
    let mut given = GIVEN.lock();
    let given = given.get_or_insert_with(HashSet::new);
    loop {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        if given.insert(port) {
            return port;
        }
    }
}

/// The child gets SIGKILL when the thread that started it ends (PR_SET_PDEATHSIG): a
/// gateway a test leaks, or one a shared fixture's thread holds until the test process
/// exits, never outlives the tests.
pub fn die_with_parent_thread(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    #[allow(unsafe_code)]
    // SAFETY: prctl is async-signal-safe; the closure allocates nothing and touches no locks.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
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
    ///
    /// A port [`free_port`] found free can be taken by another test before certgate binds
    /// it; certgate then exits with `Address already in use`, and the gateway is started
    /// again on fresh ports (at most 5 times).
    pub fn start_with_env(dir: &Path, yaml: &str, env: &[(&str, &str)]) -> Gateway {
        let config = dir.join("certgate.yaml");
        for attempt in 1.. {
            let ports = [free_port(), free_port(), free_port(), free_port()];
            let text = yaml
                .replace("{https}", &ports[0].to_string())
                .replace("{http}", &ports[1].to_string())
                .replace("{metrics}", &ports[2].to_string())
                .replace("{admin}", &ports[3].to_string());
            std::fs::write(&config, text).unwrap();
            match Self::try_spawn(dir, config.clone(), ports, env) {
                Ok(g) => return g,
                Err(log) if attempt < 5 && log.contains("Address already in use") => continue,
                Err(log) => panic!("certgate did not start:\n{log}"),
            }
        }
        unreachable!()
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
        Self::try_spawn(dir, config, ports, env).unwrap_or_else(|log| panic!("certgate did not start:\n{log}"))
    }

    /// Starts certgate and waits until it listens; `Err` holds the log when it exits first.
    fn try_spawn(dir: &Path, config: PathBuf, ports: [u16; 4], env: &[(&str, &str)]) -> Result<Gateway, String> {
        let [https, http, metrics, admin] = ports;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("certgate.log"))
            .unwrap();
        let mut command = Command::new(crate::support::certgate_bin());
        die_with_parent_thread(&mut command);
        let child = command
            .args(["run", "-c"])
            .arg(&config)
            .arg("--upgrade-sock")
            .arg(dir.join("upgrade.sock"))
            .env("RUST_LOG", std::env::var("TEST_RUST_LOG").unwrap_or("info".into()))
            .envs(env.iter().copied())
            .stdout(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(dir.join("access.log"))
                    .unwrap(),
            )
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
        g.wait_ready()?;
        Ok(g)
    }

    /// Ready when a listener answers and the process is still running right after (a
    /// process that failed to bind one of its ports exits at once).
    fn wait_ready(&mut self) -> Result<(), String> {
        let start = Instant::now();
        let mut listening_since = None;
        while start.elapsed() < Duration::from_secs(30) {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("certgate exited ({status}):\n{}", self.log()));
            }
            if listening_since.is_some_and(|t: Instant| t.elapsed() > Duration::from_millis(30)) {
                return Ok(());
            }
            if listening_since.is_none()
                && [self.https, self.http, self.admin]
                    .iter()
                    .any(|p| std::net::TcpStream::connect(("127.0.0.1", *p)).is_ok())
            {
                listening_since = Some(Instant::now());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!("certgate did not start:\n{}", self.log()))
    }

    /// Starts a second certgate on the same config with `--upgrade`: it waits for this one's
    /// listening sockets (sent on SIGQUIT). Its log goes to `certgate-upgrade.log`.
    pub fn spawn_upgrade(&self) -> Child {
        let log = std::fs::File::create(self.dir.join("certgate-upgrade.log")).unwrap();
        Command::new(crate::support::certgate_bin())
            .args(["run", "--upgrade", "-c"])
            .arg(&self.config)
            .arg("--upgrade-sock")
            .arg(self.dir.join("upgrade.sock"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn certgate --upgrade")
    }

    /// What certgate wrote to stdout: the access log (waits up to 2 s for `lines` lines).
    pub fn access_log(&self, lines: usize) -> String {
        let path = self.dir.join("access.log");
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            if text.lines().count() >= lines || Instant::now() > deadline {
                return text;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
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
            .replace("{metrics}", &self.metrics.to_string())
            .replace("{admin}", &self.admin.to_string());
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
