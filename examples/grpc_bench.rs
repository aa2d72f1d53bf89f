//! The gRPC unary benchmark's two ends, for `scripts/bench.sh` (ghz, the usual tool, is a Go
//! binary that no registry here carries):
//!
//! ```text
//! grpc_bench serve ADDR CERT KEY CLIENT_CA
//!     a TLS h2 upstream on ADDR that demands a client certificate from CLIENT_CA and answers
//!     every gRPC call with the messages it sent and grpc-status 0 (certgate's echo server)
//! grpc_bench load HOST:PORT CA CERT KEY PATH SECONDS CONNECTIONS STREAMS [HEADER...]
//!     CONNECTIONS mTLS h2 connections, STREAMS unary calls in flight on each, for SECONDS;
//!     each call sends one 16-byte message and must get HTTP 200, its message back and
//!     grpc-status 0. Prints `calls/s`, `p50 ms`, `p99 ms`, `ok` and `failed`.
//! ```
//!
//! The load side runs on one thread (like `oha` and `wrk -t1` in the other runs), so that on
//! a two-core machine the client, the proxy and the upstream share the cores the same way
//! for every proxy measured.

#![allow(missing_docs)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use openssl::ssl::{SslConnector, SslFiletype, SslMethod};

/// One 16-byte message, gRPC-framed (no compression flag, big-endian length).
const CALL: &[u8] = b"\x00\x00\x00\x00\x10certgate-bench-0";

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("serve") if args.len() == 5 => serve(&args[1], &args[2], &args[3], &args[4]),
        Some("load") if args.len() >= 10 => load(&args[1..]),
        _ => bail!("usage: grpc_bench serve ADDR CERT KEY CLIENT_CA | load HOST:PORT CA CERT KEY PATH SECONDS CONNECTIONS STREAMS [HEADER...]"),
    }
}

fn serve(addr: &str, cert: &str, key: &str, client_ca: &str) -> anyhow::Result<()> {
    let read = |p: &str| std::fs::read(p).with_context(|| p.to_string());
    let id = certgate::pki::Issued {
        cert: openssl::x509::X509::from_pem(&read(cert)?)?,
        key: openssl::pkey::PKey::private_key_from_pem(&read(key)?)?,
        chain: vec![],
    };
    let cfg = certgate::echo::EchoConfig {
        name: "grpc-upstream".into(),
        tls: Some(id),
        client_ca: openssl::x509::X509::stack_from_pem(&read(client_ca)?)?,
        h2: true,
    };
    let bind: SocketAddr = addr.parse().context("ADDR")?;
    let _running = certgate::echo::start(cfg, bind)?;
    println!("serving on {bind}");
    loop {
        std::thread::park();
    }
}

struct Job {
    host: String,
    port: u16,
    connector: SslConnector,
    path: String,
    headers: Vec<(http::HeaderName, http::HeaderValue)>,
    until: Instant,
    ok: AtomicU64,
    failed: AtomicU64,
}

fn load(args: &[String]) -> anyhow::Result<()> {
    let (host, port) = args[0].rsplit_once(':').context("HOST:PORT")?;
    let mut tls = SslConnector::builder(SslMethod::tls_client())?;
    tls.set_ca_file(&args[1])?;
    tls.set_certificate_chain_file(&args[2])?;
    tls.set_private_key_file(&args[3], SslFiletype::PEM)?;
    tls.set_alpn_protos(b"\x02h2")?;
    let seconds: u64 = args[5].parse().context("SECONDS")?;
    let connections: usize = args[6].parse().context("CONNECTIONS")?;
    let streams: usize = args[7].parse().context("STREAMS")?;
    let mut headers = Vec::new();
    for h in &args[8..] {
        let (k, v) = h
            .split_once(':')
            .with_context(|| format!("header {h:?} is not `Name: value`"))?;
        headers.push((k.trim().to_ascii_lowercase().parse()?, v.trim().parse()?));
    }
    let job = Arc::new(Job {
        host: host.to_owned(),
        port: port.parse().context("PORT")?,
        connector: tls.build(),
        path: args[4].clone(),
        headers,
        until: Instant::now() + Duration::from_secs(seconds),
        ok: AtomicU64::new(0),
        failed: AtomicU64::new(0),
    });
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let started = Instant::now();
    let mut latencies: Vec<u32> = rt.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..connections {
            tasks.push(tokio::spawn(connection(job.clone(), streams)));
        }
        let mut all = Vec::new();
        for t in tasks {
            match t.await {
                Ok(Ok(l)) => all.extend(l),
                Ok(Err(e)) => eprintln!("connection failed: {e:#}"),
                Err(e) => eprintln!("connection task: {e}"),
            }
        }
        all
    });
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let pct = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |us| f64::from(*us) / 1000.0)
    };
    let ok = job.ok.load(Ordering::Relaxed);
    println!("calls/s {:.1}", ok as f64 / elapsed);
    println!("p50 ms {:.3}", pct(0.50));
    println!("p99 ms {:.3}", pct(0.99));
    println!("ok {ok}");
    println!("failed {}", job.failed.load(Ordering::Relaxed));
    Ok(())
}

/// One h2 connection with `streams` callers; returns their latencies in microseconds.
async fn connection(job: Arc<Job>, streams: usize) -> anyhow::Result<Vec<u32>> {
    let tcp = tokio::net::TcpStream::connect((job.host.as_str(), job.port)).await?;
    tcp.set_nodelay(true)?;
    let ssl = job.connector.configure()?.into_ssl(&job.host)?;
    let mut tls = tokio_openssl::SslStream::new(ssl, tcp)?;
    std::pin::Pin::new(&mut tls).connect().await?;
    if tls.ssl().selected_alpn_protocol() != Some(b"h2") {
        bail!("the server did not choose h2");
    }
    let (client, conn) = h2::client::handshake(tls).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut callers = Vec::new();
    for _ in 0..streams {
        let (job, client) = (job.clone(), client.clone());
        callers.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(1 << 16);
            while Instant::now() < job.until {
                let t = Instant::now();
                match call(&job, client.clone()).await {
                    Ok(()) => {
                        lat.push(t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                        job.ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        if job.failed.fetch_add(1, Ordering::Relaxed) < 3 {
                            eprintln!("call failed: {e:#}");
                        }
                    }
                }
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for c in callers {
        all.extend(c.await?);
    }
    Ok(all)
}

/// One unary call, checked: HTTP 200, the message back, `grpc-status: 0` in the trailers.
async fn call(job: &Job, client: h2::client::SendRequest<Bytes>) -> anyhow::Result<()> {
    let mut client = client.ready().await?;
    let mut req = http::Request::builder()
        .method("POST")
        .uri(format!("https://{}{}", job.host, job.path))
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    for (k, v) in &job.headers {
        req = req.header(k, v);
    }
    let (response, mut body) = client.send_request(req.body(())?, false)?;
    body.send_data(Bytes::from_static(CALL), true)?;
    let response = response.await?;
    if response.status() != 200 {
        bail!("HTTP {}", response.status());
    }
    if let Some(status) = response.headers().get("grpc-status") {
        // Trailers-Only: a refusal or a failure, answered in the headers.
        let reason = response.headers().get("certgate-reason");
        bail!("grpc-status {status:?} in the headers (certgate-reason {reason:?})");
    }
    let mut body = response.into_body();
    let mut got = 0;
    while let Some(chunk) = body.data().await {
        let chunk = chunk?;
        got += chunk.len();
        let _ = body.flow_control().release_capacity(chunk.len());
    }
    let trailers = body.trailers().await?.unwrap_or_default();
    match trailers.get("grpc-status").map(|v| v.as_bytes()) {
        Some(b"0") if got == CALL.len() => Ok(()),
        other => bail!("grpc-status {other:?}, {got} bytes"),
    }
}
