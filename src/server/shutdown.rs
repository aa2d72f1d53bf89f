//! Stopping. On SIGTERM (and on SIGQUIT once the listeners are handed to the new process)
//! Pingora stops accepting and then always sleeps its whole grace period. certgate exits as
//! soon as the requests in flight have finished, or when the grace period is over, whichever
//! comes first: an idle gateway stops at once and a busy one drains.

use std::time::{Duration, Instant};

use log::info;
use pingora::server::ExecutionPhase;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::broadcast::Receiver;

use crate::proxy::Inflight;

/// Watches the server's phases and exits once drained after shutdown begins.
pub fn exit_when_drained(
    mut phases: Receiver<ExecutionPhase>,
    inflight: Inflight,
    grace: Duration,
) -> std::io::Result<()> {
    std::thread::Builder::new().name("drain".into()).spawn(move || loop {
        match phases.blocking_recv() {
            Ok(ExecutionPhase::ShutdownGracePeriod) => break drain(&inflight, grace),
            Ok(_) | Err(RecvError::Lagged(_)) => continue,
            Err(RecvError::Closed) => break,
        }
    })?;
    Ok(())
}

fn drain(inflight: &Inflight, grace: Duration) {
    let start = Instant::now();
    info!(
        "event=stopping grace_seconds={} inflight={}",
        grace.as_secs(),
        inflight.get()
    );
    // Two quiet checks in a row, so a request that was just accepted is counted.
    let mut quiet = 0;
    while start.elapsed() < grace {
        quiet = if inflight.get() == 0 { quiet + 1 } else { 0 };
        if quiet >= 2 {
            info!("event=stopped drained=true after_ms={}", start.elapsed().as_millis());
            crate::logging::flush_access();
            std::process::exit(0);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    info!("event=stopping grace_over=true inflight={}", inflight.get());
    crate::logging::flush_access();
}
