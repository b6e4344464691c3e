//! Population: residents per building (from `RenewTwin_Building`, else the manifest's
//! assumptions), daily flows between homes and stops, schools, markets and clinics by a
//! gravity model ([`gravity`]), and for each task the households and flows it disrupts
//! ([`disruption`]). The layer is served at `GET /api/population`; its per-scenario totals feed
//! the scenario indicators of `renewtwin simulate`.
//!
//! [`PopulationPlugin`] only registers; [`PopulationSystems::Track`] sums, once per simulated
//! day, what the tasks at work disrupt that day.

pub mod config;
pub mod disruption;
pub mod gravity;
pub mod site;

use std::collections::BTreeSet;
use std::sync::Arc;

use bevy_app::{App, Plugin, Update};
use bevy_ecs::prelude::*;
use serde::Serialize;

pub use config::PopulationConfig;

use crate::renewal::plan::Plan;
use crate::renewal::{RenewalPlan, RenewalSystems, SimClock};
use crate::sensors::SensorFeed;
use crate::sensors::works::Works;
use disruption::{TaskDisruption, disruption_of};
use gravity::{Flow, Place};
use site::{Home, Site};

/// The population model of a scene.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PopulationModel {
    /// The model, in words.
    pub model: &'static str,
    /// Deterrence decay, metres.
    pub decay_m: f64,
    /// Buffer around works, metres.
    pub work_zone_buffer_m: f64,
    /// Homes.
    pub homes: Vec<Home>,
    /// Destinations.
    pub places: Vec<Place>,
    /// Daily flows.
    pub flows: Vec<Flow>,
    /// What each task disrupts while it runs.
    pub tasks: Vec<TaskDisruption>,
}

/// A plan's disruption totals: the population input to the scenario indicators.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanDisruption {
    /// Households disrupted by any task that runs (each counted once).
    pub households_disrupted: f64,
    /// Residents of those households.
    pub residents_disrupted: f64,
    /// Σ over tasks of disrupted round trips a day × days the task runs.
    pub trip_days_disrupted: f64,
    /// Σ over tasks of extra walking a day × days, km.
    pub detour_km: f64,
}

/// Today's disruption.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DisruptionToday {
    /// Simulated day.
    pub day: Option<i32>,
    /// Tasks at work that disrupt something.
    pub tasks: Vec<String>,
    /// Households disrupted.
    pub households: f64,
    /// Round trips disrupted.
    pub trips_per_day: f64,
}

impl PopulationModel {
    /// Builds the model of `site` with the works of every task.
    pub fn new(config: &PopulationConfig, site: &Site, works: &Works) -> Self {
        let places = gravity::places(config, site);
        let flows = gravity::flows(&site.homes, &places, &config.trips_per_resident, config.decay_m);
        let tasks = works
            .tasks
            .iter()
            .map(|t| disruption_of(t, &site.homes, &places, &flows, config.work_zone_buffer_m))
            .collect();
        Self {
            model: "production-constrained gravity model T_ij = O_i·D_j·exp(-d_ij/decay) / Σ_k D_k·exp(-d_ik/decay) on straight-line paths; works close paths through their footprints grown by the buffer, detours go round the zone's boundary",
            decay_m: config.decay_m,
            work_zone_buffer_m: config.work_zone_buffer_m,
            homes: site.homes.clone(),
            places,
            flows,
            tasks,
        }
    }

    fn households_of(&self, tasks: &[&TaskDisruption]) -> (f64, f64) {
        let mut homes = BTreeSet::new();
        for t in tasks {
            homes.extend(t.buildings_worked.iter().filter_map(|b| self.homes.iter().position(|h| h.building == *b)));
            homes.extend(t.flows.iter().filter_map(|d| self.flows.get(d.flow)).map(|f| f.home));
        }
        homes.iter().filter_map(|&h| self.homes.get(h)).fold((0.0, 0.0), |(a, b), h| (a + h.households, b + h.residents))
    }

    /// The disruption totals of `plan`.
    pub fn plan_disruption(&self, plan: &Plan) -> PlanDisruption {
        let mut running = Vec::new();
        let (mut trip_days, mut detour_km) = (0.0, 0.0);
        for w in &plan.tasks {
            let (Some(s), Some(e)) = (w.start, w.end) else { continue };
            let Some(t) = self.tasks.iter().find(|t| t.task == w.id) else { continue };
            let days = f64::from((e - s).max(0));
            trip_days += t.trips_per_day * days;
            detour_km += t.detour_km_per_day * days;
            running.push(t);
        }
        let (households, residents) = self.households_of(&running);
        PlanDisruption { households_disrupted: households, residents_disrupted: residents, trip_days_disrupted: trip_days, detour_km }
    }

    /// What the tasks of `plan` at work on `day` disrupt.
    pub fn disruption_on(&self, plan: &Plan, day: i32) -> DisruptionToday {
        let running: Vec<&TaskDisruption> = plan
            .tasks
            .iter()
            .filter(|w| matches!((w.start, w.end), (Some(s), Some(e)) if s <= day && day < e))
            .filter_map(|w| self.tasks.iter().find(|t| t.task == w.id))
            .filter(|t| !t.flows.is_empty() || !t.buildings_worked.is_empty())
            .collect();
        let (households, _) = self.households_of(&running);
        DisruptionToday {
            day: Some(day),
            tasks: running.iter().map(|t| t.task.clone()).collect(),
            households,
            trips_per_day: running.iter().map(|t| t.trips_per_day).sum(),
        }
    }
}

/// The population model as an ECS resource.
#[derive(Resource, Debug, Clone)]
pub struct PopulationSetup(pub Arc<PopulationModel>);

/// Today's disruption as an ECS resource.
#[derive(Resource, Debug, Clone, Default)]
pub struct Disruption(pub DisruptionToday);

/// Systems of the population domain.
#[derive(SystemSet, Debug, Clone, PartialEq, Eq, Hash)]
pub enum PopulationSystems {
    /// Sums today's disruption.
    Track,
}

/// Registers the daily disruption tracking. Does nothing until a [`PopulationSetup`] is
/// inserted.
#[derive(Debug, Default)]
pub struct PopulationPlugin;

impl Plugin for PopulationPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Disruption>()
            .configure_sets(Update, PopulationSystems::Track.after(RenewalSystems::Lifecycle))
            .add_systems(Update, track.in_set(PopulationSystems::Track));
    }
}

fn track(
    clock: Res<SimClock>,
    plan: Option<Res<RenewalPlan>>,
    setup: Option<Res<PopulationSetup>>,
    feed: Option<Res<SensorFeed>>,
    mut today: ResMut<Disruption>,
) {
    let (Some(plan), Some(setup)) = (plan, setup) else { return };
    let day = clock.whole_day();
    if today.0.day == Some(day) && !plan.is_changed() {
        return;
    }
    today.0 = setup.0.disruption_on(&plan.0, day);
    if let Some(feed) = feed {
        match serde_json::to_value(serde_json::json!({ "model": &*setup.0, "today": &today.0 })) {
            Ok(v) => feed.0.set_population(v),
            Err(e) => tracing::error!(error = %e, "cannot serialise the population layer"),
        }
    }
}
