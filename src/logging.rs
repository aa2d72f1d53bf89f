//! Log setup: one line per event on stderr (`RUST_LOG` to change the level), as text or as
//! JSON (`logging.format`); and the access log, one line per request on stdout
//! (`logging.access`), written by a thread of its own so a request never waits on it.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;

/// Event lines as JSON objects instead of text.
static JSON_EVENTS: AtomicBool = AtomicBool::new(false);

/// Most access-log bytes held for the writer; lines beyond it are dropped (and counted),
/// never waited for.
const ACCESS_MAX_PENDING: usize = 8 << 20;

/// How often the writer takes what has been queued and writes it out.
const ACCESS_FLUSH: std::time::Duration = std::time::Duration::from_millis(50);

/// Lines queued for stdout: a request appends its line under this lock (no system call, no
/// wake-up), the writer thread swaps the buffer out every [`ACCESS_FLUSH`].
static ACCESS: parking_lot::Mutex<Vec<u8>> = parking_lot::Mutex::new(Vec::new());
static ACCESS_WRITER: OnceLock<()> = OnceLock::new();
static ACCESS_DROPPED: AtomicU64 = AtomicU64::new(0);

/// Initialises the logger (info by default; Pingora's own chatter at warn).
pub fn init() {
    let mut b = env_logger::Builder::new();
    b.filter_level(log::LevelFilter::Info);
    b.filter_module("pingora_core", log::LevelFilter::Warn);
    b.filter_module("pingora_proxy", log::LevelFilter::Warn);
    if let Ok(spec) = std::env::var("RUST_LOG") {
        b.parse_filters(&spec);
    }
    b.format(|f, r| {
        let ts = f.timestamp_millis();
        let target = r.target().split("::").next().unwrap_or("");
        if JSON_EVENTS.load(Ordering::Relaxed) {
            let line = serde_json::json!({
                "time": ts.to_string(),
                "level": r.level().as_str(),
                "target": target,
                "message": r.args().to_string(),
            });
            writeln!(f, "{line}")
        } else {
            writeln!(f, "{ts} {} {target} {}", r.level(), r.args())
        }
    });
    let _ = b.try_init();
}

/// Sets the event line format (`logging.format`), at start and on every reload.
pub fn set_json_events(json: bool) {
    JSON_EVENTS.store(json, Ordering::Relaxed);
}

/// Queues one access line (without its newline) for stdout. When stdout has fallen
/// 8 MiB behind the line is dropped: the log never slows requests
/// down. Drops are counted and said at powers of two.
pub fn access(line: &[u8]) {
    ACCESS_WRITER.get_or_init(start_access_writer);
    {
        let mut pending = ACCESS.lock();
        if pending.len() + line.len() < ACCESS_MAX_PENDING {
            pending.extend_from_slice(line);
            pending.push(b'\n');
            return;
        }
    }
    let n = ACCESS_DROPPED.fetch_add(1, Ordering::Relaxed) + 1;
    if n.is_power_of_two() {
        log::warn!("event=access_log_dropped count={n} message=\"stdout does not keep up; access lines were dropped\"");
    }
}

/// Writes out what is queued now (the writer does every 50 ms; call it before
/// the process exits).
pub fn flush_access() {
    let batch = std::mem::take(&mut *ACCESS.lock());
    if !batch.is_empty() {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(&batch);
        let _ = out.flush();
    }
}

/// The writer: every [`ACCESS_FLUSH`], what was queued in one write.
fn start_access_writer() {
    let spawned = std::thread::Builder::new().name("access-log".into()).spawn(|| loop {
        std::thread::sleep(ACCESS_FLUSH);
        flush_access();
    });
    if let Err(e) = spawned {
        log::warn!("event=access_log_unavailable error=\"{e}\"");
    }
}
