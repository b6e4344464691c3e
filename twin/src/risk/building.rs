//! The safety score of an old building, 0 (unsafe) to 100 (safe):
//! `score = 100 · (1 − (w_g·h_grade + w_a·h_age + w_s·h_structure + w_d·h_defects))` with
//! - `h_grade` from the JGJ 125-2016 appraisal grade A–D (`RenewTwin_Building.InspectionGrade`),
//! - `h_age = min(age / design_life, 1)`, age from `Pset_BuildingCommon.YearOfConstruction`,
//! - `h_structure` per `RenewTwin_Building.StructureType`,
//! - `h_defects = 1 − exp(−defects / scale)` from `RenewTwin_Building.RecordedDefects`.
//!
//! Weights and factors are in [`super::config::BuildingRiskConfig`].

use serde::Serialize;

use super::config::{BuildingRiskConfig, BuildingSurvey};
use crate::site::Home;

pub use super::config::Hazards;

/// One building's score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BuildingRisk {
    /// Dense building index.
    pub building: usize,
    /// GlobalId of the IfcBuilding.
    pub global_id: String,
    /// Name.
    pub name: String,
    /// 0–100, higher is safer.
    pub score: f64,
    /// Its parts.
    pub hazards: Hazards,
    /// Inputs as read: grade, age in years, structure type, defects.
    pub grade: Option<String>,
    /// Age in years at the assessment.
    pub age_years: Option<f64>,
    /// Structure type.
    pub structure: Option<String>,
    /// Recorded defects.
    pub defects: Option<f64>,
    /// Display colour, `#rrggbb`, green (safe) to red.
    pub colour: String,
    /// Element ids of the building, to colour by.
    pub elements: Vec<u32>,
    /// Retrofit tasks whose declared improvement (`improves`) the score reads, in the order
    /// they finished (empty: the survey as read from the model).
    pub improved_by: Vec<String>,
}

/// The hazards of `home` in `year`.
pub fn hazards(home: &Home, c: &BuildingRiskConfig, year: i32) -> Hazards {
    c.hazards(&survey_of(home), year)
}

/// The survey of `home` as the score reads it.
pub fn survey_of(home: &Home) -> BuildingSurvey<'_> {
    BuildingSurvey { grade: home.grade.as_deref(), built: home.year, structure: home.structure.as_deref(), defects: home.defects }
}

/// The safety score of `home` in `year`.
pub fn safety_score(home: &Home, c: &BuildingRiskConfig, year: i32) -> BuildingRisk {
    let h = hazards(home, c, year);
    let score = c.score(&h);
    BuildingRisk {
        building: home.building,
        global_id: home.global_id.clone(),
        name: home.name.clone(),
        score: (score * 10.0).round() / 10.0,
        hazards: h,
        grade: home.grade.clone(),
        age_years: home.year.map(|y| f64::from(year - y)),
        structure: home.structure.clone(),
        defects: home.defects,
        colour: super::ramp(1.0 - score / 100.0),
        elements: home.elements.clone(),
        improved_by: Vec::new(),
    }
}
