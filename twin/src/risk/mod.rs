//! Risk analytics: a safety score per old building ([`building`]) and a failure probability per
//! pipe segment ([`pipe`]), with warnings above the configured thresholds. Both are layers the
//! viewer can colour by (`GET /api/risk`: each building's element ids and each pipe's element
//! id with a colour).
//!
//! [`RiskPlugin`] only registers; [`RiskSystems::Assess`] reassesses when the simulated
//! calendar year changes (ages are counted in whole years).

pub mod building;
pub use crate::manifest::risk as config;
pub mod pipe;

use std::sync::Arc;

use bevy_app::{App, Plugin, Update};
use bevy_ecs::prelude::*;
use renewtwin_protocol::{CivilDate, SimDay};
use serde::Serialize;

pub use config::RiskConfig;

use crate::latest::Latest;
use crate::renewal::{RenewalSystems, SimClock};
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

/// Assesses every building and pipe of `site` in `year`.
pub fn assess(site: &Site, config: &RiskConfig, year: i32) -> RiskLayer {
    let buildings: Vec<BuildingRisk> = site.homes.iter().map(|h| safety_score(h, &config.building, year)).collect();
    let pipes: Vec<PipeRisk> = site.pipes.iter().map(|p| assess_pipe(p, &config.pipes, year)).collect();
    let mut warnings = Vec::new();
    for b in &buildings {
        let grade_d = b.grade.as_deref().is_some_and(|g| g.trim().eq_ignore_ascii_case("D"));
        if b.score < config.building.warn_below || grade_d {
            warnings.push(RiskWarning {
                kind: "building",
                global_id: b.global_id.clone(),
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
                    "hazards": b.hazards,
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
                }),
            });
        }
    }
    RiskLayer { year, buildings, pipes, warnings }
}

/// What the risk plugin assesses, as an ECS resource.
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

fn reassess(clock: Res<SimClock>, setup: Option<Res<RiskSetup>>, feed: Option<Res<RiskFeed>>, mut current: ResMut<CurrentRisk>) {
    let Some(setup) = setup else { return };
    let year = CivilDate::from_sim_day(setup.start, SimDay(clock.whole_day())).year;
    if current.0.as_ref().is_some_and(|l| l.year == year) {
        return;
    }
    let layer = assess(&setup.site, &setup.config, year);
    if let Some(feed) = feed {
        feed.0.set(layer.clone());
    }
    current.0 = Some(layer);
}
