//! Renewal simulation: the simulated clock and the element lifecycles it drives.
//!
//! The state on any day is a pure function of the plan and that day ([`ElementSchedule::state_on`]),
//! so seeking in either direction is exact.

pub mod control;
pub mod cost_sharing;
pub mod indicators;
pub mod network;
pub mod plan;
pub mod quantities;
pub mod timeline;

use std::sync::Mutex;
use std::sync::mpsc::Receiver;

use bevy_app::{App, Plugin, Update};
use bevy_ecs::prelude::*;
use renewtwin_protocol::{ClockCommand, LifecycleState};

pub use plan::{ElementSchedule, Plan};

use renewtwin_importers::{Cache, ImportConfig, Model};

use crate::elements::{ElementId, GlobalId, IfcClass, Lifecycle};
use crate::manifest::Manifest;
use crate::scene::{SceneError, SceneModel, SceneSource};

/// A scene with its renewal plan resolved: ready to be simulated and served.
#[derive(Debug)]
pub struct LoadedScene {
    /// The manifest.
    pub manifest: Manifest,
    /// The model (several inputs are placed into one).
    pub model: Model,
    /// The resolved renewal plan.
    pub plan: Plan,
}

/// Why a scene could not be loaded and planned.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The manifest or a model could not be read.
    #[error(transparent)]
    Scene(#[from] SceneError),
    /// The renewal plan cannot be played (heritage, dependency cycles, unknown scenario).
    #[error(transparent)]
    Plan(#[from] plan::PlanError),
    /// The plan leaves a served building without a system it had ([`network`]).
    #[error(transparent)]
    Supply(#[from] network::SupplyError),
}

impl LoadedScene {
    /// Resolves the base plan of `scene`, or `scenario`'s plan when one is named, and refuses
    /// a plan that leaves a served building without a utility system it had
    /// ([`network::Networks::check`], unless `[networks] check_supply = false`).
    pub fn resolve(scene: SceneModel, scenario: Option<&str>) -> Result<Self, LoadError> {
        let SceneModel { manifest, model } = scene;
        let plan = Plan::resolve(&manifest, scenario, &model)?;
        if manifest.networks.check_supply {
            network::Networks::from_model(&model, &manifest.networks).check(&manifest, &plan)?;
        }
        for task in &plan.tasks {
            tracing::debug!(task = %task.id, elements = task.elements, start = ?task.start, end = ?task.end, "plan task resolved");
        }
        Ok(Self { manifest, model, plan })
    }

    /// Loads `source` ([`crate::scene::load`]) and resolves its plan.
    pub fn load(source: &SceneSource, scenario: Option<&str>, config: &ImportConfig, cache: Option<&Cache>) -> Result<Self, LoadError> {
        Self::resolve(crate::scene::load(source, config, cache)?, scenario)
    }

    /// [`Self::load`] that hands out the model's parse and its meshed batches while it loads
    /// ([`crate::scene::load_streaming`]); the plan is resolved once the model is complete.
    pub fn load_streaming(
        source: &SceneSource,
        scenario: Option<&str>,
        config: &ImportConfig,
        cache: Option<&Cache>,
        on_event: &mut dyn FnMut(renewtwin_importers::ImportEvent<'_>),
    ) -> Result<Self, LoadError> {
        Self::resolve(crate::scene::load_streaming(source, config, cache, on_event)?, scenario)
    }

    /// Loads the model a parsed `manifest` names (paths relative to `base`) and resolves its plan.
    pub fn from_manifest(manifest: Manifest, base: Option<&std::path::Path>, scenario: Option<&str>, config: &ImportConfig) -> Result<Self, LoadError> {
        Self::resolve(crate::scene::load_manifest(manifest, base, config)?, scenario)
    }
}

/// What an entity is spawned from: the element's identity in the model.
#[derive(Debug, Clone)]
pub struct ElementSeed {
    /// GlobalId.
    pub global_id: String,
    /// IFC class.
    pub class: String,
}

/// Spawns one entity per element, with its schedule from `plan` and its state on `day`.
pub fn spawn_elements(world: &mut World, elements: &[ElementSeed], plan: &Plan, day: i32) {
    let batch: Vec<_> = elements
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let schedule = plan.schedules.get(i).cloned().unwrap_or_default();
            let state = schedule.state_on(day);
            (
                ElementId(i as u32),
                GlobalId(e.global_id.to_owned()),
                IfcClass(e.class.to_owned()),
                Lifecycle(state),
                Schedule(schedule),
            )
        })
        .collect();
    world.spawn_batch(batch);
}

/// Real seconds elapsed since the previous update, set by whoever drives the app.
#[derive(Resource, Debug, Clone, Copy, Default)]
pub struct TickSeconds(pub f64);

/// The simulated clock, in days since the plan's start.
#[derive(Resource, Debug, Clone)]
pub struct SimClock {
    /// Current simulated day (fractional).
    pub day: f64,
    /// Simulated days per real second.
    pub speed: f64,
    /// Whether time advances.
    pub playing: bool,
    /// Jump back to day 0 after `end` (an exhibition that keeps playing).
    pub looping: bool,
    /// Day after the plan's last phase.
    pub end: f64,
}

impl SimClock {
    /// The whole simulated day the clock is in.
    pub fn whole_day(&self) -> i32 {
        self.day.floor() as i32
    }

    /// Moves to `day`, clamped to the plan.
    pub fn seek(&mut self, day: f64) {
        self.day = day.clamp(0.0, self.end.max(0.0));
    }
}

/// Commands for the clock from outside the app (the server), applied at the next update.
#[derive(Resource, Debug)]
pub struct ClockCommands(pub Mutex<Receiver<ClockCommand>>);

/// Re-resolved plans from outside the app (a recorded governance event changed the plan),
/// applied at the next update.
#[derive(Resource, Debug)]
pub struct PlanUpdates(pub Mutex<Receiver<Plan>>);

/// The plan as an ECS resource.
#[derive(Resource, Debug, Clone)]
pub struct RenewalPlan(pub Plan);

/// Systems of the renewal domain, in the order they run.
#[derive(SystemSet, Debug, Clone, PartialEq, Eq, Hash)]
pub enum RenewalSystems {
    /// Advances [`SimClock`].
    Clock,
    /// Updates every element's [`Lifecycle`] for the clock's day.
    Lifecycle,
}

/// Registers the clock and lifecycle systems. Expects [`SimClock`] and [`RenewalPlan`] to be
/// inserted by the scene loader.
#[derive(Debug, Default)]
pub struct RenewalPlugin;

impl Plugin for RenewalPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<TickSeconds>()
            .configure_sets(Update, (RenewalSystems::Clock, RenewalSystems::Lifecycle).chain())
            .add_systems(Update, (apply_plan_updates, apply_clock_commands, advance_clock).chain().in_set(RenewalSystems::Clock))
            .add_systems(Update, apply_lifecycles.in_set(RenewalSystems::Lifecycle));
    }
}

fn apply_plan_updates(
    updates: Option<Res<PlanUpdates>>,
    mut plan: ResMut<RenewalPlan>,
    mut clock: ResMut<SimClock>,
    mut schedules: Query<(&crate::elements::ElementId, &mut Schedule)>,
) {
    let Some(updates) = updates else { return };
    let Ok(rx) = updates.0.lock() else { return };
    let Some(latest) = rx.try_iter().last() else { return };
    for (id, mut schedule) in &mut schedules {
        if let Some(s) = latest.schedules.get(id.0 as usize)
            && schedule.0 != *s
        {
            schedule.0 = s.clone();
        }
    }
    clock.end = f64::from(latest.end);
    plan.0 = latest;
}

fn apply_clock_commands(mut clock: ResMut<SimClock>, commands: Option<Res<ClockCommands>>, mut tick: ResMut<TickSeconds>) {
    let Some(commands) = commands else { return };
    let Ok(rx) = commands.0.lock() else { return };
    while let Ok(command) = rx.try_recv() {
        match command {
            ClockCommand::Play => clock.playing = true,
            ClockCommand::Pause => clock.playing = false,
            ClockCommand::Speed(s) if s.is_finite() => clock.speed = s.clamp(0.0, 3650.0),
            ClockCommand::Speed(_) => {}
            ClockCommand::Seek(day) => {
                clock.seek(f64::from(day.0));
                // The seek lands exactly on the day asked for.
                tick.0 = 0.0;
            }
        }
    }
}

fn advance_clock(mut clock: ResMut<SimClock>, tick: Res<TickSeconds>) {
    if !clock.playing {
        return;
    }
    let next = clock.day + tick.0.max(0.0) * clock.speed;
    if next > clock.end {
        if clock.looping {
            clock.day = 0.0;
        } else {
            clock.day = clock.end;
            clock.playing = false;
        }
    } else {
        clock.day = next;
    }
}

fn apply_lifecycles(clock: Res<SimClock>, mut elements: Query<(&Schedule, &mut Lifecycle)>) {
    let day = clock.whole_day();
    for (schedule, mut lifecycle) in &mut elements {
        lifecycle.set_if_neq(Lifecycle(schedule.0.state_on(day)));
    }
}

/// An element's renewal steps.
#[derive(Component, Debug, Clone)]
pub struct Schedule(pub ElementSchedule);

/// Whether each element stands in the district as surveyed, before any work: everything the
/// plan does not add.
pub fn standing_before(plan: &Plan) -> Vec<bool> {
    plan.schedules.iter().map(|s| s.state_on(i32::MIN) == LifecycleState::Existing).collect()
}

/// Whether each element stands on `day`: there as surveyed, built or renewed, or on site
/// (being built, being taken down, temporary).
pub fn standing_on(plan: &Plan, day: i32) -> Vec<bool> {
    use LifecycleState as S;
    plan.schedules
        .iter()
        .map(|s| matches!(s.state_on(day), S::Existing | S::UnderConstruction | S::Renewed | S::Built | S::UnderDemolition | S::Temporary))
        .collect()
}

/// Whether each element stands once `plan` is finished.
pub fn standing_after(plan: &Plan) -> Vec<bool> {
    standing_on(plan, plan.end.saturating_add(1))
}

/// The lifecycle every element is in on `day` under `plan` (used for snapshots and tests).
pub fn states_on(plan: &Plan, day: i32) -> Vec<LifecycleState> {
    plan.schedules.iter().map(|s| s.state_on(day)).collect()
}
