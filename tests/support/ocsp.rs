//! A real OCSP responder per test: `openssl ocsp -port` on loopback (one connection at a
//! time), answering from an
//! index file that names certificates good or revoked, signed by the CA itself.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use certgate::pki::Issued;
use openssl::x509::X509;

use super::gateway::{die_with_parent_thread, free_port};

/// A running `openssl ocsp` responder; killed when dropped.
pub struct Responder {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Responder {
    /// Starts a responder for `ca`: `good` are valid, `revoked` revoked, every other serial
    /// unknown. With `requests`, it exits after answering that many (`-nrequest`).
    pub fn start(ca: &Issued, good: &[&Issued], revoked: &[&Issued], requests: Option<u32>) -> Responder {
        Self::start_on(free_port(), ca, good, revoked, requests)
    }

    /// [`Self::start`] on a port chosen before (the certificates' AIA names it).
    pub fn start_on(port: u16, ca: &Issued, good: &[&Issued], revoked: &[&Issued], requests: Option<u32>) -> Responder {
        let dir = tempfile::tempdir().unwrap();
        let p = |n: &str| dir.path().join(n);
        std::fs::write(p("ca.pem"), ca.cert_pem()).unwrap();
        std::fs::write(p("ca.key"), ca.key_pem()).unwrap();
        let good: Vec<&X509> = good.iter().map(|c| &c.cert).collect();
        let revoked: Vec<&X509> = revoked.iter().map(|c| &c.cert).collect();
        let index = certgate::pki::ocsp_index(&good, &revoked);
        std::fs::write(p("index.txt"), index).unwrap();
        let mut cmd = Command::new("openssl");
        die_with_parent_thread(&mut cmd);
        cmd.args(["ocsp", "-index"])
            .arg(p("index.txt"))
            .args(["-port", &port.to_string(), "-ndays", "1", "-CA"])
            .arg(p("ca.pem"))
            .arg("-rsigner")
            .arg(p("ca.pem"))
            .arg("-rkey")
            .arg(p("ca.key"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(p("responder.log")).unwrap());
        if let Some(n) = requests {
            cmd.args(["-nrequest", &n.to_string()]);
        }
        let child = cmd.spawn().expect("openssl ocsp starts");
        // It serves one connection at a time: a probe connection would hang it, so its
        // log says when it listens.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !std::fs::read_to_string(p("responder.log"))
            .unwrap_or_default()
            .contains("waiting for OCSP client connections")
        {
            assert!(
                Instant::now() < deadline,
                "openssl ocsp did not listen on {port}: {}",
                std::fs::read_to_string(p("responder.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Responder { child, port, _dir: dir }
    }

    /// Its URL, as a certificate's AIA names it.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// Whether the process has exited.
    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
