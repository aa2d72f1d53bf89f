//! Keeping this member's state equal to the fleet's: a full load on every (re)connect, then
//! replays on each signed notice and on a revision poll every [`POLL`] (so a lost notice
//! costs at most that long). Runs on its own thread; the request path never waits on it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use log::warn;
use parking_lot::MutexGuard;

use super::member::Member;
use super::notice::verify_notice;
use super::store::{CatchUp, FleetError, FullState, Position};
use crate::admin::state::ControlState;
use crate::admin::{ControlPlane, Write};

/// How often a member compares its revision with the fleet's, notice or not.
pub const POLL: Duration = Duration::from_millis(250);

/// Longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Why a sync did not bring this member in step.
#[derive(Debug)]
pub enum SyncError {
    /// Redis is unreachable: reconnect.
    Redis(FleetError),
    /// Redis answers but must not be followed (see [`Member::hold`]); keep polling.
    Held,
}

impl From<FleetError> for SyncError {
    fn from(e: FleetError) -> SyncError {
        SyncError::Redis(e)
    }
}

/// The local copy's position in the fleet's history: `Some` once it was a fleet copy (or
/// fresh), `None` for a single-node database with records.
pub fn local_position(
    store: &dyn crate::admin::ControlStore,
) -> Result<Option<Position>, crate::admin::error::StoreError> {
    let rev = store.meta_get("fleet_rev")?;
    let epoch = store.meta_get("fleet_epoch")?;
    match rev.as_deref().and_then(|r| std::str::from_utf8(r).ok()?.parse().ok()) {
        Some(rev) => Ok(Some(Position {
            epoch: epoch
                .filter(|e| !e.is_empty())
                .map(|e| String::from_utf8_lossy(&e).into_owned()),
            rev,
        })),
        None if store.load_all()?.is_empty() => Ok(Some(Position::default())),
        None => Ok(None),
    }
}

/// The meta values that record `at` in the local copy.
pub(in crate::admin) fn position_meta(at: &Position) -> [(&'static str, Vec<u8>); 2] {
    [
        ("fleet_rev", at.rev.to_string().into_bytes()),
        ("fleet_epoch", at.epoch.clone().unwrap_or_default().into_bytes()),
    ]
}

// === impl ControlPlane (fleet) ===

impl ControlPlane {
    /// Loads the whole namespace and serves it. Redis is read and the records parsed
    /// without the state lock (a full load of a large namespace takes seconds), so admin
    /// reads keep answering from the local state meanwhile.
    pub fn fleet_resync(&self) -> Result<(), SyncError> {
        let Some(m) = &self.fleet else { return Ok(()) };
        let before = self.state.lock().clone();
        let loaded = self.load_full(m, &before)?;
        let mut guard = self.state.lock();
        if guard.fleet_at != before.fleet_at {
            // A change landed while the load ran: it may be the newer one, so go forward
            // from what is served instead.
            return self.catch_up_locked(m, &mut guard);
        }
        self.install_locked(m, &mut guard, loaded);
        Ok(())
    }

    /// Brings this member up to the fleet's revision (replay, or a full load).
    pub fn fleet_catch_up(&self) -> Result<(), SyncError> {
        let Some(m) = &self.fleet else { return Ok(()) };
        let mut guard = self.state.lock();
        self.catch_up_locked(m, &mut guard)
    }

    pub(in crate::admin) fn resync_locked(
        &self,
        m: &Member,
        guard: &mut MutexGuard<'_, ControlState>,
    ) -> Result<(), SyncError> {
        let loaded = self.load_full(m, guard)?;
        self.install_locked(m, guard, loaded);
        Ok(())
    }

    /// Reads the whole namespace and builds the state it describes, reusing what `before`
    /// already parsed.
    fn load_full(&self, m: &Member, before: &ControlState) -> Result<(FullState, ControlState), SyncError> {
        let full = m.store.load_all()?;
        if full.at.epoch.is_none() && before.fleet_at.epoch.is_some() {
            return Err(self.emptied(m));
        }
        if let Some(salt) = &full.salt {
            self.init_vault(salt);
        }
        match ControlState::from_records_reusing(&full.records, self.vault(), before) {
            Ok(next) => Ok((full, next)),
            Err(e) => {
                m.hold(
                    "unreadable_state",
                    &format!("the fleet's records do not load here: {e}"),
                );
                Err(SyncError::Held)
            }
        }
    }

    /// Serves a full load, rewrites the local copy with it, and accepts writes again. The
    /// copy is written under the state lock, so no later change's mirror can land in it
    /// before this one. (Writing it on a second thread while publishing was measured and
    /// won nothing: 1.45 s end to end either way at 200k records.)
    fn install_locked(
        &self,
        m: &Member,
        guard: &mut MutexGuard<'_, ControlState>,
        (full, mut next): (FullState, ControlState),
    ) {
        next.keep_local_dir(guard);
        next.fleet_at = full.at.clone();
        if let Err(e) = self.store.replace_all(&full.records, &position_meta(&full.at)) {
            warn!("event=fleet_local_copy_failed error=\"{e}\"");
        }
        self.publish_locked(guard, &next);
        **guard = next;
        m.in_step(&full.at);
    }

    pub(in crate::admin) fn catch_up_locked(
        &self,
        m: &Member,
        guard: &mut MutexGuard<'_, ControlState>,
    ) -> Result<(), SyncError> {
        match m.store.catch_up(&guard.fleet_at) {
            Ok(CatchUp::Current) => {
                m.in_step(&guard.fleet_at);
                Ok(())
            }
            Ok(CatchUp::Replay { to, changes }) => {
                let mut next = (**guard).clone();
                for (_, writes) in &changes {
                    if let Err(e) = next.apply(writes, self.vault()) {
                        warn!(
                            "event=fleet_replay_failed error=\"{e}\" message=\"loading the whole namespace instead\""
                        );
                        m.metrics.sync_error("bad_entry");
                        return self.resync_locked(m, guard);
                    }
                }
                next.fleet_at = to.clone();
                let writes: Vec<Write> = changes.into_iter().flat_map(|c| c.1).collect();
                self.mirror(&writes, &to);
                self.publish_locked(guard, &next);
                **guard = next;
                m.in_step(&to);
                Ok(())
            }
            Ok(CatchUp::Reload) => self.resync_locked(m, guard),
            Ok(CatchUp::Emptied) => Err(self.emptied(m)),
            Err(FleetError::BadEntry { rev, why }) => {
                warn!("event=fleet_replay_failed revision={rev} error=\"{why}\" message=\"loading the whole namespace instead\"");
                m.metrics.sync_error("bad_entry");
                self.resync_locked(m, guard)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Writes a committed or replayed change into the local copy (a failure costs only the
    /// copy's freshness: the next full load rewrites it).
    pub(in crate::admin) fn mirror(&self, writes: &[Write], at: &Position) {
        if let Err(e) = self.store.apply_with_meta(writes, &position_meta(at)) {
            warn!("event=fleet_local_copy_failed error=\"{e}\"");
        }
    }

    fn emptied(&self, m: &Member) -> SyncError {
        m.hold(
            "emptied",
            "the fleet's namespace is empty but this instance served a history: Redis lost its data. Serving the last state; restore the namespace with `certgate fleet seed` from an instance's admin.data_dir",
        );
        SyncError::Held
    }
}

/// Follows the fleet until the process ends: subscribe, load in full, then replay on
/// notices and polls; on any Redis failure, start over after a backoff.
pub fn follow(cp: Arc<ControlPlane>) {
    let Some(m) = cp.fleet.as_ref() else { return };
    let mut backoff = Backoff::default();
    loop {
        let e = follow_once(&cp, m, &mut backoff);
        m.lost(&e);
        std::thread::sleep(backoff.after_failure());
    }
}

/// The waits between reconnection attempts: doubling from [`MIN_BACKOFF`] up to
/// `MAX_BACKOFF` while Redis keeps failing, and back to the shortest once a connection
/// worked (subscribed and in step), so the next outage starts with a quick retry.
#[derive(Debug)]
struct Backoff(Duration);

impl Default for Backoff {
    fn default() -> Self {
        Backoff(MIN_BACKOFF)
    }
}

impl Backoff {
    /// How long to wait after a failed attempt; the wait after the next failure doubles.
    fn after_failure(&mut self) -> Duration {
        let wait = self.0;
        self.0 = (self.0 * 2).min(MAX_BACKOFF);
        wait
    }

    /// A connection worked: the next failure is retried after the shortest wait.
    fn connected(&mut self) {
        self.0 = MIN_BACKOFF;
    }
}

/// Shortest wait between reconnection attempts (and the first one after a connection
/// that worked).
const MIN_BACKOFF: Duration = Duration::from_millis(100);

/// One connection's worth of following; returns why Redis failed. Once subscribed and in
/// step it resets `backoff`.
fn follow_once(cp: &ControlPlane, m: &Member, backoff: &mut Backoff) -> FleetError {
    match follow_connected(cp, m, backoff) {
        Ok(never) => match never {},
        Err(e) => e,
    }
}

fn follow_connected(
    cp: &ControlPlane,
    m: &Member,
    backoff: &mut Backoff,
) -> Result<std::convert::Infallible, FleetError> {
    let mut con = m.store.connect()?;
    con.set_read_timeout(Some(POLL))?;
    let mut ps = con.as_pubsub();
    ps.subscribe(&m.store.keys().notices)?;
    // Subscribed first, synced second: no change can fall between the two. A member still
    // in step (the load `ControlPlane::open` did) only catches up; after an outage it loads
    // in full before it accepts writes again.
    let mut last_check = Instant::now();
    let synced = if m.writable() {
        cp.fleet_catch_up()
    } else {
        cp.fleet_resync()
    };
    match synced {
        Ok(()) | Err(SyncError::Held) => backoff.connected(),
        Err(SyncError::Redis(e)) => return Err(e),
    }
    loop {
        let announced = match ps.get_message() {
            Ok(msg) => {
                let payload: String = msg.get_payload().unwrap_or_default();
                match verify_notice(m.store.secret(), m.store.name(), &payload) {
                    Some(rev) => rev > cp.state.lock().fleet_at.rev,
                    None => {
                        m.metrics.sync_error("bad_notice");
                        let n = m.metrics.sync_errors.with_label_values(&["bad_notice"]).get();
                        if n.is_power_of_two() {
                            warn!("event=fleet_bad_notice count={n} message=\"ignored a notice without a valid MAC on the fleet channel\"");
                        }
                        false
                    }
                }
            }
            Err(e) if e.is_timeout() => false,
            Err(e) => return Err(e.into()),
        };
        if announced || last_check.elapsed() >= POLL {
            last_check = Instant::now();
            match cp.fleet_catch_up() {
                Ok(()) | Err(SyncError::Held) => {}
                Err(SyncError::Redis(e)) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_to_its_cap_and_starts_over_once_connected() {
        let mut b = Backoff::default();
        let waits: Vec<u128> = (0..7).map(|_| b.after_failure().as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1600, 2000, 2000]);
        b.connected();
        assert_eq!(b.after_failure(), MIN_BACKOFF, "a connection that worked resets it");
        assert_eq!(b.after_failure().as_millis(), 200);
    }
}
