//! Who pays: each project's cost split over its declared funding sources (`funding_sources`),
//! and each lift's households' part shared by floor (`[projects.lift_cost_sharing]`,
//! `manifest::funding`).
//!
//! A lift's cost is its task's cost (lump sum plus priced quantities) over the lifts the task
//! works on. The households' part is that cost times the shares of the sources marked
//! `households = true` (the whole cost when the project declares no sources, said in `notes`).
//! A unit's households are `RenewTwin_Unit.Households` of its lift, spread evenly over the
//! building's `Pset_BuildingCommon.NumberOfStoreys` (the model gives a count per unit, not per
//! floor); each pays `part · w(floor) / Σ households(f) · w(f)`.

use renewtwin_importers::{Model, PropertyValue, SpatialKind};
use serde::Serialize;

use super::plan::Plan;
use crate::manifest::Manifest;
use crate::manifest::funding::FundingSource;

/// One funding source's part of a project.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FundingPart {
    /// Source name.
    pub name: String,
    /// Declared share.
    pub share: f64,
    /// Share × the project's cost, yuan.
    pub yuan: f64,
    /// The households' own contribution.
    pub households: bool,
}

/// A project's cost and who pays it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProjectFunding {
    /// Project id.
    pub project: String,
    /// Cost of its tasks that run and select an element, yuan.
    pub cost_yuan: f64,
    /// The declared funding text (`funding`).
    pub funding: Option<String>,
    /// The declared sources with their parts (empty: none declared).
    pub sources: Vec<FundingPart>,
    /// Where the shares come from.
    pub source: &'static str,
}

/// What a household on one floor pays.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FloorShare {
    /// Floor, 1 = ground.
    pub floor: u32,
    /// Households on the floor (the unit's households over its storeys).
    pub households: f64,
    /// Declared weight.
    pub weight: f64,
    /// Yuan each household of the floor pays.
    pub yuan_per_household: f64,
}

/// One unit's lift and its households' shares.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UnitLiftShare {
    /// `RenewTwin_Unit.Unit` of the lift (else its GlobalId).
    pub unit: String,
    /// The lift's cost, yuan.
    pub lift_yuan: f64,
    /// The households' part, yuan.
    pub households_yuan: f64,
    /// Per floor.
    pub floors: Vec<FloorShare>,
}

/// A project's lift cost sharing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiftSharing {
    /// Project id.
    pub project: String,
    /// The lift task.
    pub task: String,
    /// The formula applied.
    pub formula: &'static str,
    /// Where the weights come from.
    pub source: String,
    /// Share of the cost the households carry.
    pub households_share: f64,
    /// Per unit.
    pub units: Vec<UnitLiftShare>,
    /// What could not be shared, and assumptions.
    pub notes: Vec<String>,
}

/// The formula, as reported.
pub const FORMULA: &str = "pays(h) = lift cost × households' share × w(floor(h)) / Σ over the unit's households w(floor)";

fn number(v: Option<&PropertyValue>) -> Option<f64> {
    match v? {
        PropertyValue::Real(r) => Some(*r),
        PropertyValue::Integer(i) => Some(*i as f64),
        PropertyValue::Text(t) | PropertyValue::Other(t) => t.trim().parse().ok(),
        PropertyValue::Bool(_) => None,
    }
    .filter(|v: &f64| v.is_finite() && *v >= 0.0)
}

fn project_cost(plan: &Plan, pi: usize) -> f64 {
    plan.tasks.iter().filter(|t| t.project == pi && t.start.is_some() && t.elements > 0).map(|t| t.cost).fold(0.0, |a, b| a + b)
}

/// Each project's cost split over its funding sources (projects without sources list none).
pub fn funding(manifest: &Manifest, plan: &Plan) -> Vec<ProjectFunding> {
    manifest
        .projects
        .iter()
        .enumerate()
        .map(|(pi, p)| {
            let cost = project_cost(plan, pi);
            ProjectFunding {
                project: p.id.clone(),
                cost_yuan: cost,
                funding: p.funding.clone(),
                sources: p
                    .funding_sources
                    .iter()
                    .map(|s: &FundingSource| FundingPart { name: s.name.clone(), share: s.share, yuan: cost * s.share, households: s.households })
                    .collect(),
                source: "funding_sources of the project in scene.toml (declared shares)",
            }
        })
        .collect()
}

/// The lift cost sharing of every project that declares one.
pub fn lift_sharing(manifest: &Manifest, model: &Model, plan: &Plan) -> Vec<LiftSharing> {
    let mut out = Vec::new();
    for p in &manifest.projects {
        let Some(rule) = &p.lift_cost_sharing else { continue };
        let mut notes = Vec::new();
        let households_share = if p.funding_sources.is_empty() {
            notes.push("the project declares no funding_sources: the households carry the whole cost".to_owned());
            1.0
        } else {
            p.funding_sources.iter().filter(|s| s.households).map(|s| s.share).sum()
        };
        let Some(task) = plan.tasks.iter().find(|t| t.id == rule.task) else {
            notes.push(format!("task {:?} is not in the plan played", rule.task));
            out.push(LiftSharing { project: p.id.clone(), task: rule.task.clone(), formula: FORMULA, source: rule.source_text(), households_share, units: Vec::new(), notes });
            continue;
        };
        let lifts = task.selected.len();
        let mut units = Vec::new();
        for &ei in &task.selected {
            let ei = ei as usize;
            let e = model.elements.at(ei);
            let lift_yuan = task.cost / lifts as f64;
            let unit = match e.property("RenewTwin_Unit", "Unit") {
                Some(PropertyValue::Text(t) | PropertyValue::Other(t)) => t.clone(),
                _ => e.global_id.to_owned(),
            };
            let storeys = storeys_of(model, ei);
            let households = number(e.property("RenewTwin_Unit", "Households"));
            let (Some(storeys), Some(households)) = (storeys, households) else {
                notes.push(format!(
                    "{unit}: not shared, the model gives no {}",
                    if households.is_none() { "RenewTwin_Unit.Households on the lift" } else { "Pset_BuildingCommon.NumberOfStoreys of its building" }
                ));
                continue;
            };
            let per_floor = households / f64::from(storeys);
            let total_weight: f64 = (1..=storeys).map(|f| per_floor * rule.weight(f)).sum();
            let part = lift_yuan * households_share;
            let floors = (1..=storeys)
                .map(|f| FloorShare {
                    floor: f,
                    households: per_floor,
                    weight: rule.weight(f),
                    yuan_per_household: if total_weight > 0.0 { part * rule.weight(f) / total_weight } else { 0.0 },
                })
                .collect();
            units.push(UnitLiftShare { unit, lift_yuan, households_yuan: part, floors });
        }
        if !units.is_empty() {
            notes.push("households are spread evenly over the storeys (the model gives households per unit, not per floor)".to_owned());
        }
        out.push(LiftSharing { project: p.id.clone(), task: rule.task.clone(), formula: FORMULA, source: rule.source_text(), households_share, units, notes });
    }
    out
}

/// `Pset_BuildingCommon.NumberOfStoreys` of the building that holds element `ei`.
fn storeys_of(model: &Model, ei: usize) -> Option<u32> {
    let mut node = model.elements.get(ei)?.container;
    for _ in 0..model.spatial.len() {
        let n = &model.spatial[node?];
        if n.kind == SpatialKind::Building {
            return number(n.property("Pset_BuildingCommon", "NumberOfStoreys")).map(|s| s as u32).filter(|s| *s > 0);
        }
        node = n.parent;
    }
    None
}
