//! The `[risk]` section of the scene manifest: the building safety score's weights and factors
//! and the pipes' Weibull parameters per material, with the warning thresholds. Every default
//! is an assumption stated where it is defined (typical literature values, not a calibration
//! for this district).

use std::collections::BTreeMap;

use serde::Deserialize;

/// `[risk]`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RiskConfig {
    /// Building safety score.
    pub building: BuildingRiskConfig,
    /// Pipe failure probability.
    pub pipes: PipeRiskConfig,
    /// The order in which a `per_building` task takes the buildings (`work_order`).
    pub work_order: WorkOrder,
}

/// `[risk] work_order`: the order in which a `per_building` task works through the buildings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkOrder {
    /// The model's order of buildings (the default).
    #[default]
    Model,
    /// The least safe building first: ascending safety score on the plan's start date (the
    /// building score of `[risk.building]` on the survey as read from the model); ties keep
    /// the model's order.
    LeastSafeFirst,
}

/// What a retrofit task declares it improves in each building it finishes (`improves = {
/// inspection_grade = "B", defects = 0 }` on the task). From the day the task's work on a
/// building ends, the risk layer reads that building's survey with these values instead of the
/// model's. The scene declares the outcome; nothing here predicts it.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Improvement {
    /// The JGJ 125-2016 appraisal grade (A–D) the building has after the works.
    #[serde(default)]
    pub inspection_grade: Option<String>,
    /// Recorded defects left after the works.
    #[serde(default)]
    pub defects: Option<f64>,
}

impl Improvement {
    /// Checks the declared values; the message says what is wrong.
    pub fn validate(&self) -> Result<Self, String> {
        if self.inspection_grade.is_none() && self.defects.is_none() {
            return Err("declare what the retrofit improves: inspection_grade and/or defects".into());
        }
        if let Some(g) = &self.inspection_grade
            && !matches!(g.trim().to_ascii_uppercase().as_str(), "A" | "B" | "C" | "D")
        {
            return Err(format!("inspection_grade {g:?} is not a JGJ 125-2016 grade (A, B, C or D)"));
        }
        if self.defects.is_some_and(|d| !(d.is_finite() && d >= 0.0)) {
            return Err("defects must be a non-negative number".into());
        }
        Ok(Self { inspection_grade: self.inspection_grade.as_ref().map(|g| g.trim().to_ascii_uppercase()), defects: self.defects })
    }
}

/// The survey inputs of a building's safety score.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct BuildingSurvey<'a> {
    /// JGJ 125-2016 grade, A–D.
    pub grade: Option<&'a str>,
    /// Year of construction.
    pub built: Option<i32>,
    /// Structure type.
    pub structure: Option<&'a str>,
    /// Recorded defects.
    pub defects: Option<f64>,
}

/// The four hazards of a building, each in 0..1.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
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

impl BuildingRiskConfig {
    /// The hazards of a building with `survey` in `year`.
    pub fn hazards(&self, survey: &BuildingSurvey<'_>, year: i32) -> Hazards {
        let grade = survey
            .grade
            .and_then(|g| self.grade_hazard.iter().find(|(k, _)| k.eq_ignore_ascii_case(g.trim())).map(|(_, v)| *v))
            .unwrap_or(self.unknown_grade_hazard);
        let age = survey.built.map_or(0.5, |y| (f64::from(year - y).max(0.0) / self.design_life_years).min(1.0));
        let structure = survey
            .structure
            .and_then(|s| self.structure_hazard.iter().find(|(k, _)| k.eq_ignore_ascii_case(s.trim())).map(|(_, v)| *v))
            .unwrap_or(self.unknown_structure_hazard);
        let defects = survey.defects.map_or(0.0, |d| 1.0 - (-d.max(0.0) / self.defects_scale).exp());
        Hazards { grade, age, structure, defects }
    }

    /// The safety score, 0–100 (unrounded), of hazards `h`: `100 · (1 − Σ wᵢ·hᵢ)`.
    pub fn score(&self, h: &Hazards) -> f64 {
        let weighted = self.weight_grade * h.grade + self.weight_age * h.age + self.weight_structure * h.structure + self.weight_defects * h.defects;
        (100.0 * (1.0 - weighted)).clamp(0.0, 100.0)
    }
}

/// `[risk.building]`: `score = 100 · (1 − Σ wᵢ·hᵢ)` over four hazards in 0..1.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BuildingRiskConfig {
    /// Weight of the inspection grade (assumed 0.5: the appraisal is the strongest evidence).
    pub weight_grade: f64,
    /// Weight of age (assumed 0.2).
    pub weight_age: f64,
    /// Weight of the structure type (assumed 0.15).
    pub weight_structure: f64,
    /// Weight of recorded defects (assumed 0.15).
    pub weight_defects: f64,
    /// Hazard per JGJ 125-2016 grade: A (no danger) 0, B (some members dangerous, structure
    /// safe) 1/3, C (part of the building dangerous) 2/3, D (the whole building dangerous) 1.
    pub grade_hazard: BTreeMap<String, f64>,
    /// Hazard of an unknown grade (assumed 0.5).
    pub unknown_grade_hazard: f64,
    /// Age hazard is `min(age / design_life_years, 1)`; 50 years is the design working life of
    /// ordinary buildings (GB 50068-2018).
    pub design_life_years: f64,
    /// Hazard per structure type (assumed: frame 0.2, brick-concrete 0.5, masonry 0.8).
    pub structure_hazard: BTreeMap<String, f64>,
    /// Hazard of an unknown structure type (assumed 0.6).
    pub unknown_structure_hazard: f64,
    /// Defect hazard is `1 − exp(−defects / defects_scale)` (assumed scale 5 defects).
    pub defects_scale: f64,
    /// Warn when the score is below this (assumed 50), or the grade is D.
    pub warn_below: f64,
}

/// A Weibull life model for pipes whose material text contains any of `matches`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipeMaterialModel {
    /// Name of the model.
    pub name: String,
    /// Case-insensitive substrings of `RenewTwin_Survey.Material`.
    pub matches: Vec<String>,
    /// Weibull shape β.
    pub shape: f64,
    /// Weibull scale η at the reference diameter, years.
    pub scale_years: f64,
}

/// `[risk.pipes]`: `F(t) = 1 − exp(−(t/η)^β)`, the annual failure probability at age `a` is
/// `P = 1 − exp((a/η)^β − ((a+1)/η)^β)` (failing within the next year, having survived to `a`),
/// with `η = η_material · (DN / reference_diameter_m)^diameter_exponent` (smaller mains break
/// more often).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipeRiskConfig {
    /// Models in matching order (the first whose `matches` hits wins). Assumed typical values
    /// from the water-main deterioration literature (Weibull shapes of 1.5–3 and scales of
    /// 50–120 years are commonly reported): grey cast iron β 2.2, η 85 y; ductile iron β 2.0,
    /// η 110 y; galvanised steel β 2.0, η 50 y; steel β 2.0, η 60 y; reinforced concrete β 2.5,
    /// η 100 y; PE β 1.8, η 120 y.
    pub materials: Vec<PipeMaterialModel>,
    /// Model of materials nobody matches (assumed β 2.0, η 70 y).
    pub fallback: PipeMaterialModel,
    /// Reference diameter of the scales, metres (assumed 0.2).
    pub reference_diameter_m: f64,
    /// Diameter exponent of the scale (assumed 0.3).
    pub diameter_exponent: f64,
    /// Warn when the annual failure probability exceeds this (assumed 0.05).
    pub warn_above: f64,
}

impl Default for BuildingRiskConfig {
    fn default() -> Self {
        let map = |v: &[(&str, f64)]| v.iter().map(|(k, x)| ((*k).to_owned(), *x)).collect();
        Self {
            weight_grade: 0.5,
            weight_age: 0.2,
            weight_structure: 0.15,
            weight_defects: 0.15,
            grade_hazard: map(&[("A", 0.0), ("B", 1.0 / 3.0), ("C", 2.0 / 3.0), ("D", 1.0)]),
            unknown_grade_hazard: 0.5,
            design_life_years: 50.0,
            structure_hazard: map(&[("frame", 0.2), ("brick-concrete", 0.5), ("masonry", 0.8)]),
            unknown_structure_hazard: 0.6,
            defects_scale: 5.0,
            warn_below: 50.0,
        }
    }
}

impl Default for PipeRiskConfig {
    fn default() -> Self {
        let m = |name: &str, matches: &[&str], shape, scale_years| PipeMaterialModel {
            name: name.into(),
            matches: matches.iter().map(|s| (*s).to_owned()).collect(),
            shape,
            scale_years,
        };
        Self {
            materials: vec![
                m("grey cast iron", &["grey cast iron", "gray cast iron", "灰口铸铁", "cast iron"], 2.2, 85.0),
                m("reinforced concrete", &["concrete", "混凝土"], 2.5, 100.0),
                m("ductile iron", &["ductile", "球墨铸铁"], 2.0, 110.0),
                m("galvanised steel", &["galvanised", "galvanized", "镀锌"], 2.0, 50.0),
                m("steel", &["steel", "钢"], 2.0, 60.0),
                m("polyethylene", &["pe100", "pe80", "polyethylene", "聚乙烯"], 1.8, 120.0),
            ],
            fallback: m("unknown material", &[], 2.0, 70.0),
            reference_diameter_m: 0.2,
            diameter_exponent: 0.3,
            warn_above: 0.05,
        }
    }
}

impl RiskConfig {
    /// Checks values the models cannot work with; the error names the field.
    pub fn validate(&self) -> Result<(), super::ConfigError> {
        let b = &self.building;
        let weights = [b.weight_grade, b.weight_age, b.weight_structure, b.weight_defects];
        if weights.iter().any(|w| !(w.is_finite() && *w >= 0.0)) || (weights.iter().sum::<f64>() - 1.0).abs() > 1e-6 {
            return Err(super::ConfigError::new("risk.building", "the four weights must be non-negative and sum to 1"));
        }
        if !(b.design_life_years > 0.0 && b.defects_scale > 0.0) {
            return Err(super::ConfigError::new("risk.building", "design_life_years and defects_scale must be positive"));
        }
        let p = &self.pipes;
        for (i, m) in p.materials.iter().chain(std::iter::once(&p.fallback)).enumerate() {
            if !(m.shape.is_finite() && m.shape > 0.0 && m.scale_years.is_finite() && m.scale_years > 0.0) {
                return Err(super::ConfigError::new(format!("risk.pipes.materials[{i}]"), "shape and scale_years must be positive"));
            }
        }
        if !(p.reference_diameter_m > 0.0 && p.diameter_exponent.is_finite()) {
            return Err(super::ConfigError::new("risk.pipes", "reference_diameter_m must be positive"));
        }
        Ok(())
    }
}
