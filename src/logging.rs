//! Log setup: one line per event on stderr (`RUST_LOG` to change the level), as text or as
//! JSON (`logging.format`); and the access log, one line per request on stdout
//! (`logging.access`), written by a thread of its own so a request never waits on it.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::OnceLock;

/// Event lines as JSON objects instead of text.
static JSON_EVENTS: AtomicBool = AtomicBool::new(false);

/// Access lines waiting for the writer; more are dropped (and counted), never waited for.
const ACCESS_QUEUE: usize = 65_536;

static ACCESS: OnceLock<SyncSender<String>> = OnceLock::new();
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

/// Queues one access line (without its newline) for stdout. A full queue drops the line:
/// the log never slows requests down. Drops are counted and said at powers of two.
pub fn access(line: String) {
    let tx = ACCESS.get_or_init(start_access_writer);
    match tx.try_send(line) {
        Ok(()) => {}
        Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
            let n = ACCESS_DROPPED.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                log::warn!(
                    "event=access_log_dropped count={n} message=\"stdout does not keep up; access lines were dropped\""
                );
            }
        }
    }
}

/// Access lines dropped so far because stdout did not keep up.
pub fn access_dropped() -> u64 {
    ACCESS_DROPPED.load(Ordering::Relaxed)
}

/// The writer: lines in batches into a buffer, flushed whenever the queue is empty.
fn start_access_writer() -> SyncSender<String> {
    let (tx, rx) = sync_channel::<String>(ACCESS_QUEUE);
    let spawned = std::thread::Builder::new().name("access-log".into()).spawn(move || {
        let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout());
        while let Ok(line) = rx.recv() {
            let _ = writeln!(out, "{line}");
            while let Ok(more) = rx.try_recv() {
                let _ = writeln!(out, "{more}");
            }
            let _ = out.flush();
        }
    });
    if let Err(e) = spawned {
        log::warn!("event=access_log_unavailable error=\"{e}\"");
    }
    tx
}
