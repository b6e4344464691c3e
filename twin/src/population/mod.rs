//! Population: residents per building (from `RenewTwin_Building`, else the manifest's
//! assumptions), daily flows between homes and stops, schools, markets and clinics by a
//! gravity model ([`gravity`]), and for each task the households and flows it disrupts
//! ([`disruption`]). The layer is served at `GET /api/population`; its per-scenario totals feed
//! the scenario indicators of `renewtwin simulate`.
//!
//! A task disrupts piece by piece: each building it works in only while that building is
//! worked, each trench section only while the work front is there ([`Works::pieces`]), and a
//! plan's totals are summed day by day over the pieces worked that day, so a trip disrupted by
//! two tasks at once counts once.
//!
//! [`PopulationPlugin`] only registers; [`PopulationSystems::Track`] sums, once per simulated
//! day, what the tasks at work disrupt that day.

pub use crate::manifest::population as config;
pub mod disruption;
pub mod gravity;

use std::collections::BTreeSet;
use std::sync::Arc;

use bevy_app::{App, Plugin, Update};
use bevy_ecs::prelude::*;
use serde::Serialize;

pub use config::PopulationConfig;

use crate::renewal::plan::Plan;
use crate::renewal::{RenewalPlan, RenewalSystems, SimClock};
use crate::latest::Latest;
use crate::site::works::Works;
use crate::site::{Home, Site};
use disruption::{PieceDisruption, TaskDisruption, combine, disruption_of};
use gravity::{Flow, Place};

/// The population model of a scene.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PopulationModel {
    /// The model, in words.
    pub model: &'static str,
    /// Deterrence decay, metres.
    pub decay_m: f64,
    /// Buffer around works, metres.
    pub work_zone_buffer_m: f64,
    /// The walk within which a trip keeps its accessible route, metres (`accessible_walk_m`).
    pub accessible_walk_m: f64,
    /// Homes.
    pub homes: Vec<Home>,
    /// Destinations.
    pub places: Vec<Place>,
    /// Where they come from: `population.places`, `map` or `none`.
    pub destinations_source: &'static str,
    /// Trip purposes without a destination, and why.
    pub diagnostics: Vec<String>,
    /// Daily flows.
    pub flows: Vec<Flow>,
    /// What each task disrupts, piece by piece.
    pub tasks: Vec<TaskDisruption>,
    /// Every task's works, to place the pieces in a plan's days.
    #[serde(skip)]
    works: Works,
}

/// A plan's disruption totals: the population input to the scenario indicators. Each day
/// counts the pieces of works worked that day (see [`disruption::combine`]): a flow disrupted
/// by two tasks on the same day counts once.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PlanDisruption {
    /// Households disrupted on some day (each counted once).
    pub households_disrupted: f64,
    /// Residents of those households.
    pub residents_disrupted: f64,
    /// Σ over days of the households disrupted that day.
    pub household_days: f64,
    /// Days on which something is disrupted.
    pub disruption_days: i32,
    /// Σ over days of the round trips disrupted that day.
    pub trip_days_disrupted: f64,
    /// Most round trips disrupted on one day.
    pub peak_trips_per_day: f64,
    /// Σ over days of the extra walking that day, km.
    pub detour_km: f64,
    /// The same for each task on its own.
    pub tasks: Vec<TaskPlanDisruption>,
    /// Vulnerable residents among the disrupted, and the buildings to look after first.
    pub vulnerable: VulnerableDisruption,
    /// Where the trips' destinations come from: `population.places`, `map` or `none`.
    pub destinations: &'static str,
    /// Trip purposes without a destination, and why.
    pub diagnostics: Vec<String>,
}

/// Vulnerable residents (elderly, disabled, children) the plan disrupts, from the model's
/// `RenewTwin_Building.Elderly`, `.Disabled`, `.Children`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct VulnerableDisruption {
    /// Whether any building declares vulnerable residents (otherwise every figure is 0 and
    /// unknown, not zero).
    pub declared: bool,
    /// Elderly residents of the disrupted buildings.
    pub elderly: f64,
    /// Residents with a disability of the disrupted buildings.
    pub disabled: f64,
    /// Children of the disrupted buildings.
    pub children: f64,
    /// Σ over days of the vulnerable residents of the buildings disrupted that day.
    pub vulnerable_resident_days: f64,
    /// Buildings with vulnerable residents, most vulnerable-resident-days first: whom to
    /// inform, move or help first.
    pub priority: Vec<VulnerablePriority>,
    /// Where the figures come from.
    pub source: &'static str,
    /// The trips of elderly and disabled residents that lose their accessible route.
    pub accessible_routes: AccessibleRoutes,
}

/// The accessible-route indicator: round trips of elderly and disabled residents (a home's
/// trips times its share of elderly + disabled residents) that the works cut, by restricting
/// the entrance of the home's building or closing the destination, or push by a detour from
/// within the accessible walk to beyond it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AccessibleRoutes {
    /// The accessible walk, metres one way.
    pub walk_m: f64,
    /// Where the walk comes from.
    pub walk_source: &'static str,
    /// Σ over days of those trips cut (works at home, destination closed).
    pub trip_days_cut: f64,
    /// Σ over days of those trips pushed beyond the walk by a detour.
    pub trip_days_beyond_walk: f64,
    /// Homes' buildings with such trips, most trip-days (cut + beyond) first.
    pub buildings: Vec<AccessibleLoss>,
}

/// One building's lost accessible trips.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccessibleLoss {
    /// Building name.
    pub building: String,
    /// Σ over days of its elderly and disabled residents' trips cut or pushed beyond the walk.
    pub trip_days: f64,
}

/// How the works take an accessible route from elderly and disabled residents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AccessLoss {
    /// The entrance of their building is restricted or the destination closed.
    Cut,
    /// A detour takes the trip from within the accessible walk to beyond it.
    BeyondWalk,
}

/// A home's disruption on one day, the strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HomeDisruption {
    /// Elderly or disabled residents lose their accessible route (cut, or beyond the walk).
    AccessibleRouteLost,
    /// Works on the home's building restrict its entrance.
    WorksAtHome,
    /// Some of its residents' trips are detoured or their destination closed.
    Trips,
    /// Nothing.
    Undisrupted,
}

/// Where the accessible walk comes from.
pub const ACCESSIBLE_WALK_SOURCE: &str = "GB 50180-2018 Table 4.0.1: five-minute life circle, walking distance 300 m (population.accessible_walk_m)";

/// One building's priority.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VulnerablePriority {
    /// Building name.
    pub building: String,
    /// Its vulnerable residents (elderly + disabled + children).
    pub vulnerable: f64,
    /// Days it is disrupted.
    pub days: i32,
    /// vulnerable × days.
    pub vulnerable_resident_days: f64,
}

/// What one task of a plan disrupts over its run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskPlanDisruption {
    /// Task id.
    pub task: String,
    /// Households disrupted on some day of it.
    pub households: f64,
    /// Days on which it disrupts something.
    pub days: i32,
    /// Σ over days of the round trips it disrupts.
    pub trip_days: f64,
    /// Σ over days of the extra walking it causes, km.
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

/// A piece of works of a plan with the days it is worked: (task index in the plan, piece,
/// first day, day after the last).
type Worked<'a> = (usize, &'a PieceDisruption, i32, i32);

/// Sums over a run of days.
#[derive(Debug, Default)]
struct Sum {
    homes: BTreeSet<usize>,
    home_days: std::collections::BTreeMap<usize, i32>,
    household_days: f64,
    days: i32,
    trip_days: f64,
    peak: f64,
    detour_km: f64,
    /// Per home: elderly and disabled residents' round trip-days (cut, beyond the walk).
    accessible: std::collections::BTreeMap<usize, (f64, f64)>,
}

impl PopulationModel {
    /// Builds the model of `site` with the works of every task.
    pub fn new(config: &PopulationConfig, model: &renewtwin_importers::Model, site: &Site, works: &Works) -> Self {
        let gravity::Destinations { places, source, diagnostics } = gravity::places(config, model, site);
        let flows = gravity::flows(&site.homes, &places, &config.trips_per_resident, config.decay_m);
        let tasks = works
            .tasks
            .iter()
            .map(|t| disruption_of(t, &site.homes, &places, &flows, config.work_zone_buffer_m))
            .collect();
        Self {
            model: "production-constrained gravity model T_ij = O_i·D_j·exp(-d_ij/decay) / Σ_k D_k·exp(-d_ik/decay) on straight-line paths; works close paths through their footprints grown by the buffer only on the days each building or trench section is worked, detours go round the zone's boundary",
            decay_m: config.decay_m,
            work_zone_buffer_m: config.work_zone_buffer_m,
            accessible_walk_m: config.accessible_walk_m,
            homes: site.homes.clone(),
            places,
            destinations_source: source,
            diagnostics,
            flows,
            tasks,
            works: works.clone(),
        }
    }

    /// Every piece of `plan`'s tasks with the days it is worked.
    fn worked<'a>(&'a self, plan: &Plan) -> Vec<Worked<'a>> {
        let mut out = Vec::new();
        for (ti, w) in plan.tasks.iter().enumerate() {
            let Some(t) = self.tasks.iter().find(|t| t.task == w.id) else { continue };
            for piece in self.works.pieces(plan, w) {
                if let Some(p) = t.pieces.iter().find(|p| p.key == piece.key) {
                    out.push((ti, p, piece.start, piece.end));
                }
            }
        }
        out
    }

    /// Adds what `pieces` disrupt together on each of `days` days to `sum`.
    fn add<'a>(&self, sum: &mut Sum, pieces: impl IntoIterator<Item = &'a PieceDisruption>, days: i32) {
        let (mut homes, flows) = combine(pieces);
        if homes.is_empty() && flows.is_empty() {
            return;
        }
        homes.extend(flows.iter().filter_map(|d| self.flows.get(d.flow)).map(|f| f.home));
        sum.household_days += self.households_of(&homes).0 * f64::from(days);
        for h in &homes {
            *sum.home_days.entry(*h).or_default() += days;
        }
        sum.homes.extend(homes);
        let trips: f64 = flows.iter().filter_map(|d| self.flows.get(d.flow)).map(|f| f.trips_per_day).sum();
        let detour: f64 = flows.iter().filter_map(|d| self.flows.get(d.flow).map(|f| f.trips_per_day * d.detour_m / 1000.0)).sum();
        for d in &flows {
            let Some((home, trips, loss)) = self.accessible_loss(d) else { continue };
            let entry = sum.accessible.entry(home).or_default();
            match loss {
                AccessLoss::Cut => entry.0 += trips * f64::from(days),
                AccessLoss::BeyondWalk => entry.1 += trips * f64::from(days),
            }
        }
        sum.days += days;
        sum.trip_days += trips * f64::from(days);
        sum.detour_km += detour * f64::from(days);
        sum.peak = sum.peak.max(trips);
    }

    /// Sums `worked` day by day: between consecutive start and end days the same pieces are
    /// worked, so each such run of days is combined once.
    fn sweep(&self, worked: &[Worked<'_>]) -> Sum {
        let mut bounds: Vec<i32> = worked.iter().flat_map(|w| [w.2, w.3]).collect();
        bounds.sort_unstable();
        bounds.dedup();
        let mut sum = Sum::default();
        for pair in bounds.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            self.add(&mut sum, worked.iter().filter(|w| w.2 <= a && a < w.3).map(|w| w.1), b - a);
        }
        sum
    }

    /// Whether disrupted flow `d` takes an accessible route from elderly and disabled
    /// residents: their home, their round trips a day (the flow's trips times their share of
    /// the home's residents) and how; `None` when it does not or the home declares none.
    fn accessible_loss(&self, d: &disruption::FlowDisruption) -> Option<(usize, f64, AccessLoss)> {
        let f = self.flows.get(d.flow)?;
        let home = self.homes.get(f.home)?;
        let v = home.vulnerable?;
        if home.residents <= 0.0 || v.elderly + v.disabled <= 0.0 {
            return None;
        }
        let trips = f.trips_per_day * ((v.elderly + v.disabled) / home.residents).min(1.0);
        let loss = match d.reason {
            "works at home" | "destination closed" => AccessLoss::Cut,
            _ => {
                let walk = self.accessible_walk_m;
                if !(f.distance_m <= walk && f.distance_m + d.detour_m / 2.0 > walk) {
                    return None;
                }
                AccessLoss::BeyondWalk
            }
        };
        Some((f.home, trips, loss))
    }

    /// Each home's disruption on `day` of `plan`, in home order.
    pub fn homes_on(&self, plan: &Plan, day: i32) -> Vec<HomeDisruption> {
        let worked: Vec<Worked<'_>> = self.worked(plan).into_iter().filter(|w| w.2 <= day && day < w.3).collect();
        let (homes_worked, flows) = combine(worked.iter().map(|w| w.1));
        let mut out = vec![HomeDisruption::Undisrupted; self.homes.len()];
        for d in &flows {
            if let Some(f) = self.flows.get(d.flow)
                && let Some(slot) = out.get_mut(f.home)
                && *slot == HomeDisruption::Undisrupted
            {
                *slot = HomeDisruption::Trips;
            }
        }
        for &h in &homes_worked {
            if let Some(slot) = out.get_mut(h) {
                *slot = HomeDisruption::WorksAtHome;
            }
        }
        for d in &flows {
            if let Some((h, _, _)) = self.accessible_loss(d)
                && let Some(slot) = out.get_mut(h)
            {
                *slot = HomeDisruption::AccessibleRouteLost;
            }
        }
        out
    }

    fn households_of(&self, homes: &BTreeSet<usize>) -> (f64, f64) {
        homes.iter().filter_map(|&h| self.homes.get(h)).fold((0.0, 0.0), |(a, b), h| (a + h.households, b + h.residents))
    }

    /// The disruption totals of `plan`.
    pub fn plan_disruption(&self, plan: &Plan) -> PlanDisruption {
        let worked = self.worked(plan);
        let tasks = plan
            .tasks
            .iter()
            .enumerate()
            .filter_map(|(ti, w)| {
                let mine: Vec<Worked<'_>> = worked.iter().filter(|p| p.0 == ti).copied().collect();
                if mine.is_empty() {
                    return None;
                }
                let s = self.sweep(&mine);
                Some(TaskPlanDisruption {
                    task: w.id.clone(),
                    households: self.households_of(&s.homes).0,
                    days: s.days,
                    trip_days: s.trip_days,
                    detour_km: s.detour_km,
                })
            })
            .collect();
        let all = self.sweep(&worked);
        let (households, residents) = self.households_of(&all.homes);
        PlanDisruption {
            households_disrupted: households,
            residents_disrupted: residents,
            household_days: all.household_days,
            disruption_days: all.days,
            trip_days_disrupted: all.trip_days,
            peak_trips_per_day: all.peak,
            detour_km: all.detour_km,
            tasks,
            vulnerable: self.vulnerable_of(&all),
            destinations: self.destinations_source,
            diagnostics: self.diagnostics.clone(),
        }
    }

    fn vulnerable_of(&self, all: &Sum) -> VulnerableDisruption {
        let declared = self.homes.iter().any(|h| h.vulnerable.is_some());
        let mut out = VulnerableDisruption {
            declared,
            source: "RenewTwin_Building.Elderly, .Disabled, .Children of the model (counts of residents); buildings that declare none count 0",
            ..VulnerableDisruption::default()
        };
        for (&h, &days) in &all.home_days {
            let Some(home) = self.homes.get(h) else { continue };
            let Some(v) = home.vulnerable else { continue };
            out.elderly += v.elderly;
            out.disabled += v.disabled;
            out.children += v.children;
            out.vulnerable_resident_days += v.total() * f64::from(days);
            if v.total() > 0.0 {
                out.priority.push(VulnerablePriority {
                    building: home.name.clone(),
                    vulnerable: v.total(),
                    days,
                    vulnerable_resident_days: v.total() * f64::from(days),
                });
            }
        }
        out.priority.sort_by(|a, b| b.vulnerable_resident_days.total_cmp(&a.vulnerable_resident_days).then(a.building.cmp(&b.building)));
        let routes = &mut out.accessible_routes;
        routes.walk_m = self.accessible_walk_m;
        routes.walk_source = ACCESSIBLE_WALK_SOURCE;
        for (&h, &(cut, beyond)) in &all.accessible {
            routes.trip_days_cut += cut;
            routes.trip_days_beyond_walk += beyond;
            if cut + beyond > 0.0 {
                let building = self.homes.get(h).map(|home| home.name.clone()).unwrap_or_default();
                routes.buildings.push(AccessibleLoss { building, trip_days: cut + beyond });
            }
        }
        routes.buildings.sort_by(|a, b| b.trip_days.total_cmp(&a.trip_days).then(a.building.cmp(&b.building)));
        out
    }

    /// What the tasks of `plan` at work on `day` disrupt.
    pub fn disruption_on(&self, plan: &Plan, day: i32) -> DisruptionToday {
        let worked: Vec<Worked<'_>> = self.worked(plan).into_iter().filter(|w| w.2 <= day && day < w.3).collect();
        let mut sum = Sum::default();
        self.add(&mut sum, worked.iter().map(|w| w.1), 1);
        let mut tasks: Vec<String> = Vec::new();
        for w in &worked {
            let id = &plan.tasks[w.0].id;
            if (!w.1.flows.is_empty() || !w.1.homes_worked.is_empty()) && !tasks.contains(id) {
                tasks.push(id.clone());
            }
        }
        DisruptionToday { day: Some(day), tasks, households: self.households_of(&sum.homes).0, trips_per_day: sum.trip_days }
    }
}

/// The population model as an ECS resource.
#[derive(Resource, Debug, Clone)]
pub struct PopulationSetup(pub Arc<PopulationModel>);

/// The population model and today's disruption shared with whoever serves the twin
/// (`GET /api/population`), as an ECS resource; absent when nobody serves it.
#[derive(Resource, Debug, Clone, Default)]
pub struct PopulationFeed {
    /// The model (set once per scene: it is large and does not change from day to day).
    pub model: Latest<PopulationModel>,
    /// Today's disruption.
    pub today: Latest<DisruptionToday>,
}

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
    feed: Option<Res<PopulationFeed>>,
    mut today: ResMut<Disruption>,
) {
    let (Some(plan), Some(setup)) = (plan, setup) else { return };
    let day = clock.whole_day();
    if today.0.day == Some(day) && !plan.is_changed() && !setup.is_changed() {
        return;
    }
    today.0 = setup.0.disruption_on(&plan.0, day);
    if let Some(feed) = feed {
        if setup.is_changed() || feed.model.get().is_none() {
            feed.model.set(setup.0.clone());
        }
        feed.today.set(today.0.clone());
    }
}
