//! SIGTERM: Pingora stops accepting and then always sleeps its whole grace period. certgate
//! exits as soon as the requests in flight have finished (or the grace period is over,
//! whichever comes first), so an idle gateway stops at once and a busy one drains.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::info;

use crate::proxy::Inflight;

/// Installs the SIGTERM watcher.
pub fn exit_when_drained(inflight: Inflight, grace: Duration) -> std::io::Result<()> {
    let term = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGTERM, term.clone())?;
    std::thread::Builder::new().name("drain".into()).spawn(move || {
        while !term.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(50));
        }
        let start = Instant::now();
        info!(
            "event=stopping grace_seconds={} inflight={}",
            grace.as_secs(),
            inflight.get()
        );
        // Let Pingora close its listeners first, then wait for two quiet checks in a row.
        std::thread::sleep(Duration::from_millis(200));
        let mut quiet = 0;
        while start.elapsed() < grace {
            quiet = if inflight.get() == 0 { quiet + 1 } else { 0 };
            if quiet >= 2 {
                info!("event=stopped drained=true after_ms={}", start.elapsed().as_millis());
                std::process::exit(0);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        info!("event=stopping grace_over=true inflight={}", inflight.get());
    })?;
    Ok(())
}
