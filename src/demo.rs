//! `certgate demo`: a throwaway PKI, an upstream that demands a client certificate, a real
//! certgate process in front of it, and curl calls that show what is allowed and refused.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::echo::{self, EchoConfig};
use crate::pki::Spec;

/// `certgate demo` options.
#[derive(clap::Args, Clone, Debug)]
pub struct DemoArgs {
    /// Where to write the PKI and the config (default: a new temporary directory).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Keep the gateway and upstream running after the calls, until Ctrl-C.
    #[arg(long)]
    pub serve: bool,
}

struct Call {
    what: &'static str,
    cert: Option<&'static str>,
    path: &'static str,
    header: Option<&'static str>,
    expect: u16,
}

const CALLS: &[Call] = &[
    Call {
        what: "alice (allow-listed leaf) calls /hello/",
        cert: Some("alice"),
        path: "/hello/world",
        header: None,
        expect: 200,
    },
    Call {
        what: "bob (issued by the allow-listed client CA)",
        cert: Some("bob"),
        path: "/hello/world",
        header: None,
        expect: 200,
    },
    Call {
        what: "mallory (self-signed, not allowed)",
        cert: Some("mallory"),
        path: "/hello/world",
        header: None,
        expect: 403,
    },
    Call {
        what: "no client certificate",
        cert: None,
        path: "/hello/world",
        header: None,
        expect: 403,
    },
    Call {
        what: "alice with her bound token on /payments/",
        cert: Some("alice"),
        path: "/payments/charge",
        header: Some("Authorization: Bearer demo-token-alice"),
        expect: 200,
    },
    Call {
        what: "alice without a token on /payments/",
        cert: Some("alice"),
        path: "/payments/charge",
        header: None,
        expect: 401,
    },
    Call {
        what: "bob with alice's bound token",
        cert: Some("bob"),
        path: "/payments/charge",
        header: Some("Authorization: Bearer demo-token-alice"),
        expect: 401,
    },
    Call {
        what: "a path no API serves",
        cert: Some("alice"),
        path: "/nothing",
        header: None,
        expect: 404,
    },
];

/// Runs the demo.
pub fn run(args: DemoArgs, _hup: Arc<AtomicBool>) -> anyhow::Result<()> {
    let dir = match &args.dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            d.clone()
        }
        None => std::env::temp_dir().join(format!("certgate-demo-{}", std::process::id())),
    };
    std::fs::create_dir_all(dir.join("pki"))?;
    std::fs::create_dir_all(dir.join("certs"))?;
    let pki = dir.join("pki");

    // The PKI: one CA for servers, one for clients, one the upstream trusts for the gateway.
    let server_ca = Spec::ca("certgate demo server CA").issue(None);
    let client_ca = Spec::ca("certgate demo client CA").issue(None);
    let gateway_ca = Spec::ca("certgate demo gateway CA").issue(None);
    let gateway_tls = Spec::server("localhost", &["localhost", "127.0.0.1"]).issue(Some(&server_ca));
    let upstream_tls = Spec::server("upstream.demo.internal", &["upstream.demo.internal"]).issue(Some(&server_ca));
    let gateway_client = Spec::client("certgate gateway").issue(Some(&gateway_ca));
    let alice = Spec::client("alice").issue(Some(&client_ca));
    let bob = Spec::client("bob").issue(Some(&client_ca));
    let mallory = Spec::client("mallory").issue(None);
    std::fs::write(pki.join("server-ca.crt"), server_ca.cert_pem())?;
    std::fs::write(pki.join("client-ca.crt"), client_ca.cert_pem())?;
    gateway_tls.write(&pki, "gateway");
    gateway_client.write_combined(&pki, "gateway-client");
    for (who, c) in [("alice", &alice), ("bob", &bob), ("mallory", &mallory)] {
        c.write(&pki, who);
    }
    std::fs::write(dir.join("certs/alice.pem"), alice.cert_pem())?;

    let upstream = echo::start(
        EchoConfig {
            name: "demo-upstream".into(),
            tls: Some(upstream_tls),
            client_ca: vec![gateway_ca.cert.clone()],
            h2: false,
        },
        "127.0.0.1:0".parse()?,
    )?;
    let https = free_port()?;
    let metrics = free_port()?;
    let config = dir.join("certgate.yaml");
    std::fs::write(
        &config,
        demo_config(https, metrics, upstream.addr, &alice.id().to_hex()),
    )?;

    println!("certgate demo in {}", dir.display());
    println!(
        "  upstream (demands a client certificate from the gateway CA): https://{}",
        upstream.addr
    );
    println!("  gateway: https://localhost:{https}   metrics: http://127.0.0.1:{metrics}/metrics");
    let mut gateway = spawn_gateway(&config, &dir)?;
    let ready = wait_for_port(https, Duration::from_secs(15));
    if !ready {
        let _ = gateway.kill();
        bail!("the gateway did not start; see {}", dir.join("certgate.log").display());
    }

    println!();
    let mut failed = 0;
    for call in CALLS {
        let cmd = curl_line(&dir, https, call);
        let (status, body) = run_curl(&cmd);
        let ok = status == Some(call.expect);
        if !ok {
            failed += 1;
        }
        println!(
            "{} {:<48} expect {} got {}",
            if ok { "ok  " } else { "FAIL" },
            call.what,
            call.expect,
            status.map(|s| s.to_string()).unwrap_or_else(|| "no answer".into())
        );
        println!("     $ {}", cmd.join(" "));
        println!("     {}", body.chars().take(160).collect::<String>());
    }
    println!();
    if args.serve {
        println!(
            "serving until Ctrl-C; try the curl lines above (config: {})",
            config.display()
        );
        let _ = gateway.wait();
    } else {
        let _ = gateway.kill();
        let _ = gateway.wait();
    }
    drop(upstream);
    if failed > 0 {
        bail!(
            "{failed} demo call(s) did not get the expected answer; see {}",
            dir.join("certgate.log").display()
        );
    }
    println!("all {} calls answered as expected", CALLS.len());
    Ok(())
}

fn demo_config(https: u16, metrics: u16, upstream: SocketAddr, alice_id: &str) -> String {
    format!(
        r#"# Written by `certgate demo`.
listen:
  https: "127.0.0.1:{https}"
  metrics: "127.0.0.1:{metrics}"
  threads: 1
tls:
  certificate: pki/gateway.crt
  key: pki/gateway.key
certificate_store:
  dir: certs/
security:
  upstream_ca: pki/server-ca.crt            # the upstream's server CA
  upstream_certificates:
    "upstream.demo.internal": pki/gateway-client.pem   # what the gateway presents upstream
tokens:
  - token: demo-token-alice
    apis: [payments]
    bound_certificates: [{alice_id}]      # alice's certificate ID (from the store)
apis:
  - name: hello
    listen_path: /hello/
    strip_listen_path: true
    auth:
      type: none
      mutual_tls: true
      client_certificates:
        - {alice_id}                      # a leaf, by ID
        - pki/client-ca.crt               # every client certificate this CA issued
    upstream:
      url: https://upstream.demo.internal:{port}
      connect_to: "127.0.0.1:{port}"
  - name: payments
    listen_path: /payments/
    strip_listen_path: true
    auth:
      type: token
      mutual_tls: true
      client_certificates: [pki/client-ca.crt]
    upstream:
      url: https://upstream.demo.internal:{port}
      connect_to: "127.0.0.1:{port}"
"#,
        port = upstream.port()
    )
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn spawn_gateway(config: &Path, dir: &Path) -> anyhow::Result<Child> {
    let log = std::fs::File::create(dir.join("certgate.log"))?;
    Command::new(std::env::current_exe()?)
        .args(["run", "-c"])
        .arg(config)
        .arg("--upgrade-sock")
        .arg(dir.join("upgrade.sock"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .context("starting the gateway")
}

fn wait_for_port(port: u16, max: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < max {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

fn curl_line(dir: &Path, port: u16, call: &Call) -> Vec<String> {
    let pki = dir.join("pki");
    let mut cmd = vec![
        "curl".to_string(),
        "-s".into(),
        "--cacert".into(),
        pki.join("server-ca.crt").display().to_string(),
    ];
    if let Some(who) = call.cert {
        cmd.extend([
            "--cert".into(),
            pki.join(format!("{who}.crt")).display().to_string(),
            "--key".into(),
            pki.join(format!("{who}.key")).display().to_string(),
        ]);
    }
    if let Some(h) = call.header {
        cmd.extend(["-H".into(), format!("'{h}'")]);
    }
    cmd.push(format!("https://localhost:{port}{}", call.path));
    cmd
}

/// Runs a curl line; returns the status and the body (on one line).
fn run_curl(cmd: &[String]) -> (Option<u16>, String) {
    let mut c = Command::new(&cmd[0]);
    for a in &cmd[1..] {
        c.arg(a.trim_matches('\''));
    }
    c.args(["-w", "\n%{http_code}"]);
    let Ok(out) = c.output() else {
        return (None, "curl is not installed".into());
    };
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.trim().parse().ok().filter(|s| *s != 0), body.replace('\n', " "))
}
