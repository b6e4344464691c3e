//! The safety score of an old building, 0 (unsafe) to 100 (safe):
//! `score = 100 · (1 − (w_g·h_grade + w_a·h_age + w_s·h_structure + w_d·h_defects))` with
//! - `h_grade` from the JGJ 125-2016 appraisal grade A–D (`RenewTwin_Building.InspectionGrade`),
//! - `h_age = min(age / design_life, 1)`, age from `Pset_BuildingCommon.YearOfConstruction`,
//! - `h_structure` per `RenewTwin_Building.StructureType`,
//! - `h_defects = 1 − exp(−defects / scale)` from `RenewTwin_Building.RecordedDefects`.
//!
//! Weights and factors are in [`super::config::BuildingRiskConfig`].

use serde::Serialize;

use super::config::BuildingRiskConfig;
use crate::site::Home;

/// The four hazards, each in 0..1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Hazards {
    /// From the appraisal grade.
    pub grade: f64,
    /// From age.
    pub age: f64,
    /// From the structure type.
    pub structure: f64,
    /// From recorded defects.
    pub defects: f64,
}

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
}

/// The hazards of `home` in `year`.
pub fn hazards(home: &Home, c: &BuildingRiskConfig, year: i32) -> Hazards {
    let grade = home
        .grade
        .as_deref()
        .and_then(|g| c.grade_hazard.iter().find(|(k, _)| k.eq_ignore_ascii_case(g.trim())).map(|(_, v)| *v))
        .unwrap_or(c.unknown_grade_hazard);
    let age = home.year.map_or(0.5, |y| (f64::from(year - y).max(0.0) / c.design_life_years).min(1.0));
    let structure = home
        .structure
        .as_deref()
        .and_then(|s| c.structure_hazard.iter().find(|(k, _)| k.eq_ignore_ascii_case(s.trim())).map(|(_, v)| *v))
        .unwrap_or(c.unknown_structure_hazard);
    let defects = home.defects.map_or(0.0, |d| 1.0 - (-d.max(0.0) / c.defects_scale).exp());
    Hazards { grade, age, structure, defects }
}

/// The safety score of `home` in `year`.
pub fn safety_score(home: &Home, c: &BuildingRiskConfig, year: i32) -> BuildingRisk {
    let h = hazards(home, c, year);
    let weighted = c.weight_grade * h.grade + c.weight_age * h.age + c.weight_structure * h.structure + c.weight_defects * h.defects;
    let score = (100.0 * (1.0 - weighted)).clamp(0.0, 100.0);
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
    }
}
