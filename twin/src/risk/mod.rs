//! Risk analytics: a safety score per old building ([`building`]) and a failure probability per
//! pipe segment ([`pipe`]), with warnings above the configured thresholds. Both are layers the
//! viewer can colour by (`GET /api/risk`: each building's element ids and each pipe's element
//! id with a colour).
//!
//! The layers follow the twin ([`assess_on`]): on the day asked, elements the plan has
//! demolished or removed, and new ones not yet built, drop out; a pipe laid (or relined) by the
//! plan ages from the day its work finished; a building a retrofit task has finished is scored
//! with what that task declares it improves (`improves`, [`config::Improvement`]).
//!
//! [`RiskPlugin`] only registers; [`RiskSystems::Assess`] reassesses when the simulated day or
//! the plan changes.

pub mod building;
pub use crate::manifest::risk as config;
pub mod pipe;

use std::sync::Arc;

use bevy_app::{App, Plugin, Update};
use bevy_ecs::prelude::*;
use renewtwin_protocol::{CivilDate, LifecycleState, SimDay};
use serde::Serialize;

pub use config::RiskConfig;

use crate::latest::Latest;
use crate::manifest::Action;
use crate::renewal::{Plan, RenewalPlan, RenewalSystems, SimClock};
use crate::site::Site;
use building::{BuildingRisk, safety_score};
use pipe::{PipeRisk, assess_pipe};

/// A building or pipe above its threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RiskWarning {
    /// `building` or `pipe`.
    pub kind: &'static str,
    /// GlobalId of the building or pipe.
    pub global_id: String,
    /// Name.
    pub name: String,
    /// Safety score or annual failure probability.
    pub value: f64,
    /// The threshold it crossed.
    pub threshold: f64,
    /// One line for people.
    pub message: String,
    /// The inputs and parts of the value.
    pub evidence: serde_json::Value,
}

/// The risk layer in one year.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RiskLayer {
    /// Year of the assessment.
    pub year: i32,
    /// Simulated day of the assessment (`None`: the survey as read, before any work).
    pub day: Option<i32>,
    /// Date of the assessment, `YYYY-MM-DD` (`None` with `day`).
    pub date: Option<String>,
    /// Per building.
    pub buildings: Vec<BuildingRisk>,
    /// Per surveyed pipe.
    pub pipes: Vec<PipeRisk>,
    /// Above the thresholds.
    pub warnings: Vec<RiskWarning>,
}

/// Green (#2e7d32) at 0 to amber to red (#c62828) at 1.
pub(crate) fn ramp(x: f64) -> String {
    let x = if x.is_finite() { x.clamp(0.0, 1.0) } else { 1.0 };
    let (g, a, r) = ([0x2e, 0x7d, 0x32], [0xf9, 0xa8, 0x25], [0xc6, 0x28, 0x28]);
    let (from, to, t) = if x < 0.5 { (g, a, x * 2.0) } else { (a, r, x * 2.0 - 1.0) };
    let c: Vec<u8> = (0..3).map(|i| (f64::from(from[i]) + (f64::from(to[i]) - f64::from(from[i])) * t).round() as u8).collect();
    format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2])
}

/// Assesses every building and pipe of `site` as surveyed, in `year` (no plan applied).
pub fn assess(site: &Site, config: &RiskConfig, year: i32) -> RiskLayer {
    let buildings: Vec<BuildingRisk> = site.homes.iter().map(|h| safety_score(h, &config.building, year)).collect();
    let pipes: Vec<PipeRisk> = site.pipes.iter().map(|p| assess_pipe(p, &config.pipes, year)).collect();
    layer(config, year, None, None, buildings, pipes)
}

/// Whether an element in `state` stands in service for the risk layer: not yet built
/// (`Planned`), demolished and removed elements do not.
fn in_service(state: LifecycleState, new: bool) -> bool {
    use LifecycleState as S;
    match state {
        S::Planned | S::Demolished | S::Removed | S::Absent => false,
        // A new element under construction is not in service yet; an existing one under
        // retrofit still is.
        S::UnderConstruction => !new,
        _ => true,
    }
}

/// Days in a year, for the age of a pipe laid by the plan (the mean Gregorian year).
const DAYS_PER_YEAR: f64 = 365.2425;

/// Assesses the district as it stands on `day` of `plan` (day 0 is `start`):
/// - a building none of whose elements stands (all demolished or removed, or never built)
///   drops out;
/// - a building that retrofit tasks with `improves` have finished is scored with the declared
///   grade and defects (the latest finished task wins), and lists those tasks in `improved_by`;
/// - a pipe demolished, removed or not yet built drops out; a pipe that the plan lays (`new`)
///   or relines (`retrofit`) ages from the day that work finished (`age_from = "plan"`), others
///   from the surveyed `InstallYear` in whole years.
pub fn assess_on(site: &Site, config: &RiskConfig, plan: &Plan, start: CivilDate, day: i32) -> RiskLayer {
    let date = CivilDate::from_sim_day(start, SimDay(day));
    let year = date.year;
    let state = |e: u32| plan.schedules.get(e as usize).map_or((LifecycleState::Existing, false), |s| {
        (s.state_on(day), s.0.first().is_some_and(|f| f.action == Action::New))
    });
    let mut improvements: Vec<(i32, usize, &str, &config::Improvement)> = plan
        .tasks
        .iter()
        .filter_map(|t| t.improves.as_ref().map(|i| (t, i)))
        .flat_map(|(t, i)| t.building_ends.iter().filter(|(_, end)| **end <= day).map(move |(b, end)| (*end, *b, t.id.as_str(), i)))
        .collect();
    improvements.sort_by_key(|(end, b, id, _)| (*end, *b, *id));
    let buildings: Vec<BuildingRisk> = site
        .homes
        .iter()
        .filter(|h| h.elements.is_empty() || h.elements.iter().any(|&e| {
            let (s, new) = state(e);
            in_service(s, new)
        }))
        .map(|h| {
            let mut home = h.clone();
            let mut by = Vec::new();
            for (_, _, id, imp) in improvements.iter().filter(|(_, b, _, _)| *b == h.building) {
                if let Some(g) = &imp.inspection_grade {
                    home.grade = Some(g.clone());
                }
                if let Some(d) = imp.defects {
                    home.defects = Some(d);
                }
                by.push((*id).to_owned());
            }
            let mut r = safety_score(&home, &config.building, year);
            r.improved_by = by;
            r
        })
        .collect();
    let pipes: Vec<PipeRisk> = site
        .pipes
        .iter()
        .filter_map(|p| {
            let (s, new) = state(p.element);
            if !in_service(s, new) {
                return None;
            }
            let laid = plan.schedules.get(p.element as usize).and_then(|sch| {
                sch.0.iter().filter(|st| matches!(st.action, Action::New | Action::Retrofit) && st.end <= day).map(|st| st.end).max()
            });
            let mut r = assess_pipe(p, &config.pipes, year);
            if let Some(laid) = laid {
                let age = f64::from(day - laid) / DAYS_PER_YEAR;
                r = pipe::assess_at_age(p, &config.pipes, age);
                r.age_from = "plan";
                r.laid_on = Some(CivilDate::from_sim_day(start, SimDay(laid)).to_string());
            }
            Some(r)
        })
        .collect();
    layer(config, year, Some(day), Some(date.to_string()), buildings, pipes)
}

fn layer(config: &RiskConfig, year: i32, day: Option<i32>, date: Option<String>, buildings: Vec<BuildingRisk>, pipes: Vec<PipeRisk>) -> RiskLayer {
    let mut warnings = Vec::new();
    for b in &buildings {
        let grade_d = b.grade.as_deref().is_some_and(|g| g.trim().eq_ignore_ascii_case("D"));
        if b.score < config.building.warn_below || grade_d {
            warnings.push(RiskWarning {
                kind: "building",
                global_id: b.global_id.to_owned(),
                name: b.name.clone(),
                value: b.score,
                threshold: config.building.warn_below,
                message: if grade_d {
                    format!("{}: appraised grade D (whole building dangerous), safety score {:.1}", b.name, b.score)
                } else {
                    format!("{}: safety score {:.1} below {:.0}", b.name, b.score, config.building.warn_below)
                },
                evidence: serde_json::json!({
                    "grade": b.grade, "age_years": b.age_years, "structure": b.structure, "defects": b.defects,
                    "hazards": b.hazards, "improved_by": b.improved_by,
                }),
            });
        }
    }
    for p in &pipes {
        if p.annual_probability > config.pipes.warn_above {
            let name = p.name.clone().unwrap_or_else(|| p.global_id.clone());
            warnings.push(RiskWarning {
                kind: "pipe",
                global_id: p.global_id.clone(),
                message: format!(
                    "{name}: {:.1}% chance of failure in the next year ({}, {:.0} years old)",
                    p.annual_probability * 100.0,
                    p.model,
                    p.age_years
                ),
                name,
                value: p.annual_probability,
                threshold: config.pipes.warn_above,
                evidence: serde_json::json!({
                    "material": p.material, "model": p.model, "age_years": p.age_years, "diameter_m": p.diameter_m,
                    "shape": p.shape, "scale_years": p.scale_years, "cumulative_probability": p.cumulative_probability,
                    "age_from": p.age_from, "laid_on": p.laid_on,
                }),
            });
        }
    }
    RiskLayer { year, day, date, buildings, pipes, warnings }
}

/// One building's score before the works and on the day the outcome is taken.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BuildingOutcome {
    /// Name.
    pub name: String,
    /// GlobalId.
    pub global_id: String,
    /// Score on day 0 (the survey as read, in the start year).
    pub score_before: f64,
    /// Score on the day (`None`: the building no longer stands).
    pub score_after: Option<f64>,
    /// Retrofit tasks whose declared improvement the later score reads.
    pub improved_by: Vec<String>,
}

/// The risk layer's outcome of a plan: before the works and on one day (the plan's end, or
/// `simulate --until`), as `renewtwin simulate` reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RiskOutcome {
    /// The day of the later assessment.
    pub day: i32,
    /// Its date.
    pub date: String,
    /// Per building.
    pub buildings: Vec<BuildingOutcome>,
    /// Surveyed pipes in service on day 0.
    pub pipes_before: usize,
    /// Pipes in service on the day.
    pub pipes_after: usize,
    /// Warnings on day 0.
    pub warnings_before: usize,
    /// Warnings on the day.
    pub warnings_after: usize,
    /// Where the figures come from.
    pub source: &'static str,
}

/// Compares the district on day 0 (the survey as read) with the district on `day` of `plan`.
pub fn outcome(site: &Site, config: &RiskConfig, plan: &Plan, start: CivilDate, day: i32) -> RiskOutcome {
    let before = assess_on(site, config, plan, start, 0);
    let after = assess_on(site, config, plan, start, day);
    let buildings = before
        .buildings
        .iter()
        .map(|b| {
            let a = after.buildings.iter().find(|x| x.building == b.building);
            BuildingOutcome {
                name: b.name.clone(),
                global_id: b.global_id.to_owned(),
                score_before: b.score,
                score_after: a.map(|a| a.score),
                improved_by: a.map(|a| a.improved_by.clone()).unwrap_or_default(),
            }
        })
        .collect();
    RiskOutcome {
        day,
        date: after.date.clone().unwrap_or_default(),
        buildings,
        pipes_before: before.pipes.len(),
        pipes_after: after.pipes.len(),
        warnings_before: before.warnings.len(),
        warnings_after: after.warnings.len(),
        source: "[risk] models of the scene (JGJ 125-2016 grades, Weibull pipe lives) on the element states of the plan; improvements as the retrofit tasks declare them (`improves`)",
    }
}

#[derive(Resource, Debug, Clone)]
pub struct RiskSetup {
    /// The district.
    pub site: Arc<Site>,
    /// The models.
    pub config: Arc<RiskConfig>,
    /// Date of day 0.
    pub start: CivilDate,
}

/// The current assessment.
#[derive(Resource, Debug, Clone, Default)]
pub struct CurrentRisk(pub Option<RiskLayer>);

/// The latest assessment shared with whoever serves the twin (`GET /api/risk`), as an ECS
/// resource; absent when nobody serves it.
#[derive(Resource, Debug, Clone, Default)]
pub struct RiskFeed(pub Latest<RiskLayer>);

/// Systems of the risk domain.
#[derive(SystemSet, Debug, Clone, PartialEq, Eq, Hash)]
pub enum RiskSystems {
    /// Reassesses on a new calendar year.
    Assess,
}

/// Registers the risk assessment. Does nothing until a [`RiskSetup`] is inserted.
#[derive(Debug, Default)]
pub struct RiskPlugin;

impl Plugin for RiskPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<CurrentRisk>()
            .configure_sets(Update, RiskSystems::Assess.after(RenewalSystems::Clock))
            .add_systems(Update, reassess.in_set(RiskSystems::Assess));
    }
}

fn reassess(
    clock: Res<SimClock>,
    setup: Option<Res<RiskSetup>>,
    plan: Option<Res<RenewalPlan>>,
    feed: Option<Res<RiskFeed>>,
    mut current: ResMut<CurrentRisk>,
) {
    let Some(setup) = setup else { return };
    let day = clock.whole_day();
    let plan_changed = plan.as_ref().is_some_and(|p| p.is_changed());
    let layer = match &plan {
        Some(plan) => {
            if !plan_changed && current.0.as_ref().is_some_and(|l| l.day == Some(day)) {
                return;
            }
            assess_on(&setup.site, &setup.config, &plan.0, setup.start, day)
        }
        None => {
            let year = CivilDate::from_sim_day(setup.start, SimDay(day)).year;
            if current.0.as_ref().is_some_and(|l| l.year == year) {
                return;
            }
            assess(&setup.site, &setup.config, year)
        }
    };
    if let Some(feed) = feed {
        feed.0.set(layer.clone());
    }
    current.0 = Some(layer);
}
