//! Live state for clients: the latest snapshot and a broadcast of encoded deltas.
//!
//! The publishing system runs after the lifecycles are updated. It updates the snapshot first
//! and broadcasts second, so a client that subscribes and then reads the snapshot never misses
//! a delta: every delta it receives either is newer than the snapshot or carries a `seq` at or
//! below the snapshot's and is skipped.

use std::sync::{Arc, RwLock};

use bevy_app::{App, Plugin, Update};
use bevy_ecs::prelude::*;
use renewtwin_protocol::{CivilDate, LifecycleState, PhaseInfo, ServerMsg, SimDay, StateChange, StateDelta};
use tokio::sync::broadcast;

use crate::renewal::{RenewalPlan, RenewalSystems, SimClock};
use crate::twin::{ElementId, Lifecycle};

/// Deltas a slow client may fall behind by before it is resynchronised with a full snapshot.
pub const BROADCAST_CAPACITY: usize = 256;

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
        }
    }
}

/// One encoded delta on the broadcast.
#[derive(Debug)]
pub struct LiveFrame {
    /// Its sequence number.
    pub seq: u64,
    /// The encoded [`ServerMsg::State`].
    pub bytes: axum::body::Bytes,
}

/// Shared between the simulation thread and the server.
#[derive(Debug)]
pub struct LiveShared {
    snapshot: RwLock<LiveSnapshot>,
    tx: broadcast::Sender<Arc<LiveFrame>>,
    plan_start: CivilDate,
}

impl LiveShared {
    /// Starts from `snapshot`; `plan_start` is the date of day 0.
    pub fn new(snapshot: LiveSnapshot, plan_start: CivilDate) -> Arc<Self> {
        let (tx, _) = broadcast::channel(BROADCAST_CAPACITY);
        Arc::new(Self { snapshot: RwLock::new(snapshot), tx, plan_start })
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
    let delta = StateDelta { seq: snap.seq, day: SimDay(day), date: snap.date, changes, phases: changed_phases };
    let seq = snap.seq;
    drop(snap);
    match renewtwin_protocol::encode(&ServerMsg::State(delta)) {
        // No receiver is not an error: nobody is watching right now.
        Ok(bytes) => drop(shared.tx.send(Arc::new(LiveFrame { seq, bytes: bytes.into() }))),
        Err(e) => tracing::error!(error = %e, "cannot encode a state delta"),
    }
}
