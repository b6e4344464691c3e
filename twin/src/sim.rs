//! The headless simulation: a Bevy [`App`] with the twin, renewal and live plugins, and the
//! thread that ticks it in real time.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bevy_app::{App, TaskPoolPlugin};
use renewtwin_protocol::{CivilDate, ClockCommand, SimDay};

use crate::live::{LiveFeed, LivePlugin, LiveShared, LiveSnapshot};
use crate::renewal::{ClockCommands, Plan, PlanUpdates, RenewalPlan, RenewalPlugin, SimClock, TickSeconds, states_on};
use crate::renewal::{ElementSeed, LoadedScene, spawn_elements};

/// How the clock runs.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Simulated days per real second.
    pub speed: f64,
    /// Day to start on.
    pub start_day: f64,
    /// Restart from day 0 after the plan ends.
    pub looping: bool,
    /// Real time between ticks.
    pub tick: Duration,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self { speed: 10.0, start_day: 0.0, looping: true, tick: Duration::from_millis(100) }
    }
}

/// What the simulation needs from a loaded scene (no geometry), so it can move to its thread.
#[derive(Debug, Clone)]
pub struct SimInput {
    plan: Plan,
    start: CivilDate,
    elements: Vec<ElementSeed>,
    analytics: Option<crate::analytics::Analytics>,
}

impl SimInput {
    /// A simulation of `elements` under `plan`, whose day 0 is `start`.
    pub fn new(plan: Plan, start: CivilDate, elements: Vec<ElementSeed>) -> Self {
        Self { plan, start, elements, analytics: None }
    }

    /// Adds the sensors, risk and population analytics of the scene.
    pub fn with_analytics(mut self, analytics: crate::analytics::Analytics) -> Self {
        self.analytics = Some(analytics);
        self
    }

    /// Takes what the simulation needs from `scene`.
    pub fn from_scene(scene: &LoadedScene) -> Self {
        Self {
            plan: scene.plan.clone(),
            start: scene.manifest.start,
            elements: scene
                .model
                .elements
                .iter()
                .map(|e| ElementSeed { global_id: e.global_id.to_owned(), class: e.class.to_owned() })
                .collect(),
            analytics: None,
        }
    }
}

/// Builds the headless app (no renderer, no window) and the live feed it publishes to.
pub fn build_app(input: SimInput, config: &SimConfig) -> (App, Arc<LiveShared>) {
    let SimInput { plan, start, elements, analytics } = input;
    let mut clock = SimClock {
        day: 0.0,
        speed: config.speed,
        playing: config.speed > 0.0,
        looping: config.looping,
        end: f64::from(plan.end),
    };
    clock.seek(config.start_day);
    let day = clock.whole_day();
    let live = LiveShared::new(
        LiveSnapshot {
            seq: 0,
            day,
            date: CivilDate::from_sim_day(start, SimDay(day)),
            states: states_on(&plan, day),
            phases: plan.phase_infos(day),
        },
        start,
    );
    let mut app = App::new();
    app.add_plugins((TaskPoolPlugin::default(), RenewalPlugin, LivePlugin))
        .insert_resource(clock)
        .insert_resource(LiveFeed(live.clone()));
    app.add_plugins((crate::sensors::SensorsPlugin, crate::risk::RiskPlugin, crate::population::PopulationPlugin));
    if let Some(analytics) = analytics {
        analytics.insert_into(&mut app);
    }
    spawn_elements(app.world_mut(), &elements, &plan, day);
    app.insert_resource(RenewalPlan(plan));
    app.finish();
    app.cleanup();
    (app, live)
}

/// A running simulation thread.
#[derive(Debug)]
pub struct SimHandle {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    commands: std::sync::mpsc::Sender<ClockCommand>,
    plans: std::sync::mpsc::Sender<Plan>,
}

impl SimHandle {
    /// A sender for re-resolved plans, swapped in at the next tick.
    pub fn plans(&self) -> std::sync::mpsc::Sender<Plan> {
        self.plans.clone()
    }

    /// A sender for clock commands, applied at the next tick.
    pub fn commands(&self) -> std::sync::mpsc::Sender<ClockCommand> {
        self.commands.clone()
    }

    /// Stops the thread and waits for it.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take()
            && t.join().is_err()
        {
            tracing::error!("the simulation thread panicked");
        }
    }
}

/// Builds the app on its own thread (a Bevy `App` is not `Send`) and ticks it every
/// `config.tick` until stopped. Returns once the live feed exists.
pub fn spawn(input: SimInput, config: SimConfig) -> std::io::Result<(Arc<LiveShared>, SimHandle)> {
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = std::sync::mpsc::channel();
    let stop_flag = stop.clone();
    let (commands, command_rx) = std::sync::mpsc::channel();
    let (plans, plan_rx) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new().name("renewtwin-sim".into()).spawn(move || {
        let (mut app, live) = build_app(input, &config);
        app.insert_resource(ClockCommands(std::sync::Mutex::new(command_rx)));
        app.insert_resource(PlanUpdates(std::sync::Mutex::new(plan_rx)));
        if tx.send(live).is_err() {
            return;
        }
        let mut last = Instant::now();
        while !stop_flag.load(Ordering::Relaxed) {
            std::thread::sleep(config.tick.saturating_sub(last.elapsed()));
            let now = Instant::now();
            app.world_mut().insert_resource(TickSeconds((now - last).as_secs_f64()));
            last = now;
            app.update();
        }
    })?;
    let live = rx
        .recv()
        .map_err(|_| std::io::Error::other("the simulation thread stopped before it started"))?;
    Ok((live, SimHandle { stop, thread: Some(thread), commands, plans }))
}

/// A simulation whose clock only moves when told: each [`DrivenSim::step`] runs one update with
/// the given real seconds, after the clock commands and plans sent before it. Replicas of a
/// cluster drive their twin from one ordered log this way, so every replica ticks the same
/// updates with the same inputs and publishes the same deltas with the same sequence numbers.
#[derive(Debug)]
pub struct DrivenSim {
    steps: std::sync::mpsc::SyncSender<(f64, std::sync::mpsc::SyncSender<()>)>,
    thread: Option<std::thread::JoinHandle<()>>,
    commands: std::sync::mpsc::Sender<ClockCommand>,
    plans: std::sync::mpsc::Sender<Plan>,
}

impl DrivenSim {
    /// A sender for re-resolved plans, swapped in at the next step.
    pub fn plans(&self) -> std::sync::mpsc::Sender<Plan> {
        self.plans.clone()
    }

    /// A sender for clock commands, applied at the next step.
    pub fn commands(&self) -> std::sync::mpsc::Sender<ClockCommand> {
        self.commands.clone()
    }

    /// Runs one update as if `seconds` of real time had passed (0: apply what was sent and
    /// recompute without moving the clock), and waits for it. False once the thread stopped.
    pub fn step(&self, seconds: f64) -> bool {
        let (done, wait) = std::sync::mpsc::sync_channel(1);
        self.steps.send((seconds, done)).is_ok() && wait.recv().is_ok()
    }

    /// Stops the thread and waits for it.
    pub fn stop(mut self) {
        let (steps, _) = std::sync::mpsc::sync_channel(1);
        drop(std::mem::replace(&mut self.steps, steps));
        if let Some(t) = self.thread.take()
            && t.join().is_err()
        {
            tracing::error!("the simulation thread panicked");
        }
    }
}

/// Builds the app on its own thread, paused on `config.start_day`, which then runs one update
/// per [`DrivenSim::step`] and never on its own. Returns once the live feed exists.
pub fn spawn_driven(input: SimInput, config: SimConfig) -> std::io::Result<(Arc<LiveShared>, DrivenSim)> {
    let (tx, rx) = std::sync::mpsc::channel();
    let (commands, command_rx) = std::sync::mpsc::channel();
    let (plans, plan_rx) = std::sync::mpsc::channel();
    let (steps, step_rx) = std::sync::mpsc::sync_channel::<(f64, std::sync::mpsc::SyncSender<()>)>(1);
    let thread = std::thread::Builder::new().name("renewtwin-sim".into()).spawn(move || {
        let config = SimConfig { speed: 0.0, ..config };
        let (mut app, live) = build_app(input, &config);
        app.insert_resource(ClockCommands(std::sync::Mutex::new(command_rx)));
        app.insert_resource(PlanUpdates(std::sync::Mutex::new(plan_rx)));
        if tx.send(live).is_err() {
            return;
        }
        while let Ok((seconds, done)) = step_rx.recv() {
            app.world_mut().insert_resource(TickSeconds(seconds));
            app.update();
            let _ = done.send(());
        }
    })?;
    let live = rx
        .recv()
        .map_err(|_| std::io::Error::other("the simulation thread stopped before it started"))?;
    Ok((live, DrivenSim { steps, thread: Some(thread), commands, plans }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::renewal::plan::{ElementSchedule, Step};
    use crate::manifest::Action;
    use renewtwin_protocol::LifecycleState;

    fn two_element_input() -> SimInput {
        let plan = Plan {
            projects: vec!["Facade".into()],
            schedules: vec![
                ElementSchedule(vec![Step { start: 2, end: 5, action: Action::Retrofit }]),
                ElementSchedule(vec![Step { start: 4, end: 6, action: Action::New }]),
            ],
            end: 10,
            ..Plan::default()
        };
        let seed = |g: &str, c: &str| ElementSeed { global_id: g.into(), class: c.into() };
        SimInput::new(plan, CivilDate::new(2026, 3, 2), vec![seed("wall", "IfcWall"), seed("lift", "IfcTransportElement")])
    }

    fn step_days(app: &mut App, days: f64, speed: f64) {
        app.world_mut().insert_resource(TickSeconds(days / speed));
        app.update();
    }

    #[test]
    fn a_facade_wall_goes_existing_then_under_construction_then_renewed_as_days_pass() {
        let config = SimConfig { speed: 1.0, looping: false, ..SimConfig::default() };
        let (mut app, live) = build_app(two_element_input(), &config);
        assert_eq!(live.snapshot().states, vec![LifecycleState::Existing, LifecycleState::Planned]);
        step_days(&mut app, 3.0, 1.0);
        let snap = live.snapshot();
        assert_eq!(snap.day, 3);
        assert_eq!(snap.date, CivilDate::new(2026, 3, 5));
        assert_eq!(snap.states, vec![LifecycleState::UnderConstruction, LifecycleState::Planned]);
        step_days(&mut app, 2.0, 1.0);
        assert_eq!(live.snapshot().states, vec![LifecycleState::Renewed, LifecycleState::UnderConstruction]);
        step_days(&mut app, 100.0, 1.0);
        let snap = live.snapshot();
        assert_eq!(snap.day, 10, "the clock stops at the plan's end without looping");
        assert_eq!(snap.states, vec![LifecycleState::Renewed, LifecycleState::Built]);
    }

    #[test]
    fn every_change_is_broadcast_once_with_increasing_sequence_numbers() {
        let config = SimConfig { speed: 1.0, looping: false, ..SimConfig::default() };
        let (mut app, live) = build_app(two_element_input(), &config);
        let mut rx = live.subscribe();
        for _ in 0..8 {
            step_days(&mut app, 1.0, 1.0);
        }
        let mut seqs = Vec::new();
        let mut wall_states = Vec::new();
        while let Ok(frame) = rx.try_recv() {
            seqs.push(frame.seq);
            let Ok(renewtwin_protocol::ServerMsg::State(delta)) = renewtwin_protocol::decode(&frame.bytes) else {
                panic!("a state frame")
            };
            wall_states.extend(delta.changes.iter().filter(|c| c.element == 0).map(|c| c.state));
        }
        assert_eq!(seqs, (1..=8).collect::<Vec<u64>>(), "one delta per simulated day");
        assert_eq!(wall_states, vec![LifecycleState::UnderConstruction, LifecycleState::Renewed]);
    }

    #[test]
    fn a_looping_clock_starts_over_after_the_plan_ends() {
        let config = SimConfig { speed: 1.0, looping: true, start_day: 9.0, ..SimConfig::default() };
        let (mut app, live) = build_app(two_element_input(), &config);
        assert_eq!(live.snapshot().states, vec![LifecycleState::Renewed, LifecycleState::Built]);
        step_days(&mut app, 2.0, 1.0);
        let snap = live.snapshot();
        assert_eq!(snap.day, 0);
        assert_eq!(snap.states, vec![LifecycleState::Existing, LifecycleState::Planned], "seeking back is exact");
    }

    #[test]
    fn a_driven_simulation_moves_only_when_stepped_and_two_give_the_same_deltas() {
        let run = || {
            let config = SimConfig { speed: 1.0, looping: false, ..SimConfig::default() };
            let (live, sim) = spawn_driven(two_element_input(), config).expect("the thread starts");
            let mut rx = live.subscribe();
            assert!(sim.step(0.5));
            assert_eq!(live.snapshot().day, 0, "built paused: a step does not move the clock");
            sim.commands().send(ClockCommand::Speed(1.0)).expect("send");
            sim.commands().send(ClockCommand::Play).expect("send");
            for _ in 0..6 {
                assert!(sim.step(1.0));
            }
            sim.commands().send(ClockCommand::Seek(SimDay(2))).expect("send");
            assert!(sim.step(0.0));
            let mut seen = Vec::new();
            while let Ok(f) = rx.try_recv() {
                seen.push((f.seq, f.delta.day, f.delta.changes.clone()));
            }
            let snap = live.snapshot();
            sim.stop();
            (seen, snap.seq, snap.day, snap.states)
        };
        let (a, b) = (run(), run());
        assert_eq!(a.2, 2, "the seek was applied at its step");
        assert_eq!(a.1, 7, "six days, then the seek: one delta each");
        assert_eq!(a, b, "the same steps give the same deltas, sequence numbers and states");
    }
}
