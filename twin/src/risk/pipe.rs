//! The failure probability of a pipe segment from a Weibull life model per material:
//! `F(t) = 1 − exp(−(t/η)^β)`; the probability of failing within the next year at age `a`,
//! having survived to `a`, is `P = 1 − exp((a/η)^β − ((a+1)/η)^β)`; the scale follows the
//! diameter as `η = η_material · (DN / DN_ref)^γ`. Parameters are in
//! [`super::config::PipeRiskConfig`].

use serde::Serialize;

use super::config::{PipeMaterialModel, PipeRiskConfig};
use crate::site::Pipe;

/// One pipe's assessment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PipeRisk {
    /// Element id.
    pub element: u32,
    /// GlobalId.
    pub global_id: String,
    /// Name.
    pub name: Option<String>,
    /// Material as surveyed.
    pub material: String,
    /// The model used.
    pub model: String,
    /// Age in years (0 when the install year is unknown or later).
    pub age_years: f64,
    /// Nominal diameter, metres.
    pub diameter_m: Option<f64>,
    /// Weibull shape β.
    pub shape: f64,
    /// Effective Weibull scale η, years.
    pub scale_years: f64,
    /// Probability of failing in the next year.
    pub annual_probability: f64,
    /// Probability of having failed by now, `F(age)`.
    pub cumulative_probability: f64,
    /// Display colour, `#rrggbb`.
    pub colour: String,
    /// Where the age comes from: `survey` (`RenewTwin_Survey.InstallYear`, whole years) or
    /// `plan` (the day the plan laid or relined it).
    pub age_from: &'static str,
    /// Date the plan laid or relined it, `YYYY-MM-DD`.
    pub laid_on: Option<String>,
}

/// Weibull CDF `F(t) = 1 − exp(−(t/η)^β)`.
pub fn weibull_cdf(t: f64, shape: f64, scale: f64) -> f64 {
    if t <= 0.0 { 0.0 } else { 1.0 - (-(t / scale).powf(shape)).exp() }
}

/// Probability of failing within the next year at age `age`, given survival to `age`.
pub fn annual_failure_probability(age: f64, shape: f64, scale: f64) -> f64 {
    let a = age.max(0.0);
    1.0 - ((a / scale).powf(shape) - ((a + 1.0) / scale).powf(shape)).exp()
}

/// The model for `material`.
pub fn model_for<'a>(material: &str, c: &'a PipeRiskConfig) -> &'a PipeMaterialModel {
    let m = material.to_lowercase();
    c.materials.iter().find(|x| x.matches.iter().any(|k| m.contains(&k.to_lowercase()))).unwrap_or(&c.fallback)
}

/// The assessment of `pipe` in `year`, its age from the surveyed install year.
pub fn assess_pipe(pipe: &Pipe, c: &PipeRiskConfig, year: i32) -> PipeRisk {
    assess_at_age(pipe, c, pipe.install_year.map_or(0.0, |y| f64::from(year - y).max(0.0)))
}

/// The assessment of `pipe` at `age` years.
pub fn assess_at_age(pipe: &Pipe, c: &PipeRiskConfig, age: f64) -> PipeRisk {
    let model = model_for(&pipe.material, c);
    let age = age.max(0.0);
    let scale = model.scale_years * pipe.diameter_m.map_or(1.0, |d| (d / c.reference_diameter_m).powf(c.diameter_exponent));
    let p = annual_failure_probability(age, model.shape, scale);
    PipeRisk {
        element: pipe.element,
        global_id: pipe.global_id.clone(),
        name: pipe.name.clone(),
        material: pipe.material.clone(),
        model: model.name.clone(),
        age_years: age,
        diameter_m: pipe.diameter_m,
        shape: model.shape,
        scale_years: scale,
        annual_probability: p,
        cumulative_probability: weibull_cdf(age, model.shape, scale),
        colour: super::ramp((p / (2.0 * c.warn_above)).min(1.0)),
        age_from: "survey",
        laid_on: None,
    }
}
