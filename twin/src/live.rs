//! Live state for clients: the latest snapshot, a broadcast of encoded deltas, a bounded ring
//! of recent deltas for resuming and coalescing, and the clock's play state.
//!
//! The publishing system runs after the lifecycles are updated. It updates the snapshot and
//! the ring first (under the snapshot's lock) and broadcasts second, so a client that
//! subscribes and then reads the snapshot never misses a delta: every delta it receives either
//! is newer than the snapshot or carries a `seq` at or below the snapshot's and is skipped.
//!
//! Memory is bounded whatever the clients do: the broadcast holds [`BROADCAST_CAPACITY`]
//! shared frames and the ring [`RING_CAPACITY`]; a client that falls behind is sent one
//! coalesced delta built from the ring and the snapshot ([`LiveShared::coalesced_since`]).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, RwLock};

use bevy_app::{App, Plugin, Update};
use bevy_ecs::prelude::*;
use renewtwin_protocol::{CivilDate, ClockState, LifecycleState, PhaseInfo, ServerMsg, SimDay, StateChange, StateDelta};
use tokio::sync::{broadcast, watch};

use crate::renewal::{RenewalPlan, RenewalSystems, SimClock};
use crate::elements::{ElementId, Lifecycle};

/// Deltas a slow client may fall behind by on the broadcast before it is resynchronised.
pub const BROADCAST_CAPACITY: usize = 256;

/// Recent deltas kept for resume and coalescing (about 100 s at 10 deltas per second).
pub const RING_CAPACITY: usize = 1024;

/// Server wall clock, microseconds since the Unix epoch.
pub fn now_us() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64)
}

/// The live state at one moment.
#[derive(Debug, Clone)]
pub struct LiveSnapshot {
    /// Sequence number of the last delta folded in.
    pub seq: u64,
    /// Current simulated day.
    pub day: i32,
    /// Its calendar date.
    pub date: CivilDate,
    /// Lifecycle state per element id.
    pub states: Vec<LifecycleState>,
    /// Phase statuses.
    pub phases: Vec<PhaseInfo>,
}

impl LiveSnapshot {
    /// A delta that sets every element and phase, for clients that fell behind.
    pub fn full_delta(&self) -> StateDelta {
        StateDelta {
            seq: self.seq,
            day: SimDay(self.day),
            date: self.date,
            changes: self
                .states
                .iter()
                .enumerate()
                .map(|(i, &state)| StateChange { element: i as u32, state })
                .collect(),
            phases: self.phases.clone(),
            sent_at_us: now_us(),
        }
    }
}

/// One encoded delta on the broadcast.
#[derive(Debug)]
pub struct LiveFrame {
    /// Its sequence number.
    pub seq: u64,
    /// The encoded [`ServerMsg::State`].
    pub bytes: bytes::Bytes,
    /// The delta itself, for sessions that filter it or write JSON.
    pub delta: StateDelta,
}

/// The clock's play state (the day travels in the deltas).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlayState {
    /// Whether simulated time runs.
    pub playing: bool,
    /// Simulated days per real second.
    pub speed: f64,
}

/// What a client that fell behind gets instead of the deltas it missed.
#[derive(Debug, Clone, PartialEq)]
pub struct Coalesced {
    /// One delta with the latest state of every element that changed (every element and
    /// phase when `full`).
    pub delta: StateDelta,
    /// Whether the delta sets everything because the ring no longer reaches back far enough.
    pub full: bool,
}

/// Shared between the simulation thread and the server.
#[derive(Debug)]
pub struct LiveShared {
    snapshot: RwLock<LiveSnapshot>,
    ring: Mutex<VecDeque<Arc<LiveFrame>>>,
    tx: broadcast::Sender<Arc<LiveFrame>>,
    play: watch::Sender<PlayState>,
    plan_start: CivilDate,
}

impl LiveShared {
    /// Starts from `snapshot`; `plan_start` is the date of day 0.
    pub fn new(snapshot: LiveSnapshot, plan_start: CivilDate) -> Arc<Self> {
        let (tx, _) = broadcast::channel(BROADCAST_CAPACITY);
        let (play, _) = watch::channel(PlayState { playing: false, speed: 0.0 });
        Arc::new(Self {
            snapshot: RwLock::new(snapshot),
            ring: Mutex::new(VecDeque::with_capacity(RING_CAPACITY)),
            tx,
            play,
            plan_start,
        })
    }

    /// Publishes a delta as the system does (snapshot and ring under the lock, then the
    /// broadcast): for whoever drives a session without a simulation, such as tests.
    pub fn publish_changes(&self, changes: &[(u32, LifecycleState)]) {
        let mut snap = self.snapshot.write().unwrap_or_else(|p| p.into_inner());
        snap.seq += 1;
        for &(e, s) in changes {
            snap.states[e as usize] = s;
        }
        let delta = StateDelta {
            seq: snap.seq,
            day: SimDay(snap.day),
            date: snap.date,
            changes: changes.iter().map(|&(element, state)| StateChange { element, state }).collect(),
            phases: vec![],
            sent_at_us: now_us(),
        };
        let bytes = renewtwin_protocol::encode(&ServerMsg::State(delta.clone())).unwrap_or_default();
        let frame = Arc::new(LiveFrame { seq: snap.seq, bytes: bytes.into(), delta });
        {
            let mut ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
            if ring.len() == RING_CAPACITY {
                ring.pop_front();
            }
            ring.push_back(frame.clone());
        }
        drop(snap);
        drop(self.tx.send(frame));
    }

    /// Watches the clock's play state.
    pub fn watch_play(&self) -> watch::Receiver<PlayState> {
        self.play.subscribe()
    }

    /// The clock as a message, with the snapshot's day.
    pub fn clock_state(&self) -> ClockState {
        let play = *self.play.borrow();
        let (day, date) = self.day();
        ClockState { day: SimDay(day), date, playing: play.playing, speed: play.speed }
    }

    /// Number of receivers on the broadcast (connected live sessions).
    pub fn receivers(&self) -> usize {
        self.tx.receiver_count()
    }

    /// The recent deltas after `seq`, in order, when the ring still holds all of them (and
    /// `seq` is not in the future); `None` otherwise.
    pub fn frames_since(&self, seq: u64) -> Option<Vec<Arc<LiveFrame>>> {
        let snap = self.snapshot.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        if seq > snap.seq {
            return None;
        }
        let ring = self.ring.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let covered = seq == snap.seq || ring.front().is_some_and(|f| f.seq <= seq + 1);
        covered.then(|| ring.iter().filter(|f| f.seq > seq).cloned().collect())
    }

    /// One delta that brings a client whose last delta was `seq` up to date: the latest state
    /// of every element changed since then (from the ring), or everything when the ring no
    /// longer reaches back to `seq`.
    pub fn coalesced_since(&self, seq: u64) -> Coalesced {
        let snap = self.snapshot.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        let ring = self.ring.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let covered = seq <= snap.seq && (seq == snap.seq || ring.front().is_some_and(|f| f.seq <= seq + 1));
        if !covered {
            return Coalesced { delta: snap.full_delta(), full: true };
        }
        let mut elements: Vec<u32> =
            ring.iter().filter(|f| f.seq > seq).flat_map(|f| f.delta.changes.iter().map(|c| c.element)).collect();
        elements.sort_unstable();
        elements.dedup();
        let changes = elements
            .into_iter()
            .filter_map(|e| snap.states.get(e as usize).map(|&state| StateChange { element: e, state }))
            .collect();
        let phases_changed = ring.iter().any(|f| f.seq > seq && !f.delta.phases.is_empty());
        Coalesced {
            delta: StateDelta {
                seq: snap.seq,
                day: SimDay(snap.day),
                date: snap.date,
                changes,
                phases: if phases_changed { snap.phases.clone() } else { Vec::new() },
                sent_at_us: now_us(),
            },
            full: false,
        }
    }

    /// Subscribes to deltas. Subscribe first, then read [`LiveShared::snapshot`].
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<LiveFrame>> {
        self.tx.subscribe()
    }

    /// A copy of the latest snapshot.
    pub fn snapshot(&self) -> LiveSnapshot {
        self.snapshot.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// Current day and date without copying the states.
    pub fn day(&self) -> (i32, CivilDate) {
        let snap = self.snapshot.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        (snap.day, snap.date)
    }

    /// Date of simulated day 0.
    pub fn plan_start(&self) -> CivilDate {
        self.plan_start
    }
}

/// The live feed as an ECS resource.
#[derive(Resource, Debug, Clone)]
pub struct LiveFeed(pub Arc<LiveShared>);

/// Systems of the live domain.
#[derive(SystemSet, Debug, Clone, PartialEq, Eq, Hash)]
pub struct LiveSystems;

/// Publishes lifecycle and clock changes after the renewal systems ran.
#[derive(Debug, Default)]
pub struct LivePlugin;

impl Plugin for LivePlugin {
    fn build(&self, app: &mut App) {
        app.configure_sets(Update, LiveSystems.after(RenewalSystems::Lifecycle))
            .add_systems(Update, publish_changes.in_set(LiveSystems));
    }
}

fn publish_changes(
    feed: Res<LiveFeed>,
    clock: Res<SimClock>,
    plan: Res<RenewalPlan>,
    changed: Query<(&ElementId, &Lifecycle), Changed<Lifecycle>>,
) {
    let shared = &feed.0;
    let day = clock.whole_day();
    let mut snap = shared.snapshot.write().unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut changes: Vec<StateChange> = changed
        .iter()
        .filter(|(id, lc)| snap.states.get(id.0 as usize).is_some_and(|s| *s != lc.0))
        .map(|(id, lc)| StateChange { element: id.0, state: lc.0 })
        .collect();
    let play = PlayState { playing: clock.playing, speed: clock.speed };
    shared.play.send_if_modified(|old| {
        let changed = *old != play;
        *old = play;
        changed
    });
    let phases = plan.0.phase_infos(day);
    let changed_phases: Vec<PhaseInfo> =
        phases.iter().zip(&snap.phases).filter(|(new, old)| new != old).map(|(new, _)| new.clone()).collect();
    if changes.is_empty() && changed_phases.is_empty() && day == snap.day {
        return;
    }
    changes.sort_by_key(|c| c.element);
    for c in &changes {
        snap.states[c.element as usize] = c.state;
    }
    snap.seq += 1;
    snap.day = day;
    snap.date = CivilDate::from_sim_day(shared.plan_start, SimDay(day));
    snap.phases = phases;
    let delta = StateDelta { seq: snap.seq, day: SimDay(day), date: snap.date, changes, phases: changed_phases, sent_at_us: now_us() };
    let seq = snap.seq;
    let bytes = match renewtwin_protocol::encode(&ServerMsg::State(delta.clone())) {
        Ok(bytes) => bytes,
        Err(e) => {
            tracing::error!(error = %e, "cannot encode a state delta");
            return;
        }
    };
    let frame = Arc::new(LiveFrame { seq, bytes: bytes.into(), delta });
    {
        let mut ring = shared.ring.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if ring.len() == RING_CAPACITY {
            ring.pop_front();
        }
        ring.push_back(frame.clone());
    }
    drop(snap);
    // No receiver is not an error: nobody is watching right now.
    drop(shared.tx.send(frame));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(states: usize) -> Arc<LiveShared> {
        let start = CivilDate::new(2026, 3, 1);
        LiveShared::new(LiveSnapshot { seq: 0, day: 0, date: start, states: vec![LifecycleState::Existing; states], phases: vec![] }, start)
    }

    fn publish(shared: &LiveShared, changes: &[(u32, LifecycleState)]) {
        shared.publish_changes(changes);
    }

    #[test]
    fn a_coalesced_delta_holds_the_latest_state_of_each_changed_element_once() {
        let live = shared(4);
        publish(&live, &[(1, LifecycleState::UnderConstruction)]);
        publish(&live, &[(2, LifecycleState::UnderDemolition)]);
        publish(&live, &[(1, LifecycleState::Renewed)]);
        let c = live.coalesced_since(1);
        assert!(!c.full);
        assert_eq!(c.delta.seq, 3);
        assert_eq!(
            c.delta.changes,
            vec![
                StateChange { element: 1, state: LifecycleState::Renewed },
                StateChange { element: 2, state: LifecycleState::UnderDemolition }
            ]
        );
        assert_eq!(live.frames_since(1).map(|f| f.iter().map(|f| f.seq).collect::<Vec<_>>()), Some(vec![2, 3]));
        assert_eq!(live.frames_since(3).map(|f| f.len()), Some(0));
        assert!(live.frames_since(4).is_none(), "a seq from the future is not resumable");
    }

    #[test]
    fn a_client_older_than_the_ring_gets_everything() {
        let live = shared(2);
        for i in 0..RING_CAPACITY + 5 {
            let state = if i % 2 == 0 { LifecycleState::Renewed } else { LifecycleState::Existing };
            publish(&live, &[(0, state)]);
        }
        assert!(live.frames_since(2).is_none());
        let c = live.coalesced_since(2);
        assert!(c.full);
        assert_eq!(c.delta.changes.len(), 2, "every element");
        assert_eq!(live.ring.lock().map(|r| r.len()).unwrap_or_default(), RING_CAPACITY, "the ring is bounded");
        assert!(!live.coalesced_since(6).full, "a client inside the ring is coalesced, not reset");
    }
}
