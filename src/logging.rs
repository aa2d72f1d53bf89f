//! Log setup: one line per event on stderr, `RUST_LOG` to change the level.

use std::io::Write;

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
        writeln!(
            f,
            "{ts} {} {} {}",
            r.level(),
            r.target().split("::").next().unwrap_or(""),
            r.args()
        )
    });
    let _ = b.try_init();
}
