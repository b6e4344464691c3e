//! `vibration` of a `[[heritage]]` rule: the vibration limit at the protected elements and the
//! works' vibration as the scene declares it. The check is in `renewal::indicators`
//! (`heritage_vibration`).
//!
//! Prediction: the peak particle velocity a task's works cause at a protected element at plan
//! distance `d` (between their plan-view bounds, at least `reference_m`) is
//! `v(d) = v_ref · (reference_m / d)^n`, with `v_ref` the declared velocity of the task's action
//! at `reference_m` and `n` the geometric spreading exponent: 0.5 for surface (Rayleigh) waves,
//! whose amplitude falls as `1/√r` on a half-space, the default; 1 for body waves. Material
//! damping is left out, so the prediction errs high. The limit is the scene's: GB/T 50452-2008
//! (古建筑防工业振动技术规范, *Technical specifications for protection of historic buildings
//! against man-made vibration*) tabulates allowable vibration velocities of historic structures
//! by structure, protection level and elastic-wave velocity; the scene states the value it takes
//! and where from (`standard`).

use std::collections::BTreeMap;

use serde::Deserialize;

/// `vibration = { limit_mm_s = …, standard = "…", reference_m = …, ppv_mm_s = { demolish = … } }`.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct VibrationRule {
    /// Allowable peak particle velocity at the protected elements, mm/s.
    pub limit_mm_s: f64,
    /// Where the limit comes from (standard, table, protection level).
    pub standard: String,
    /// Distance at which the works' velocities are declared, m.
    pub reference_m: f64,
    /// Peak particle velocity of each action's works at `reference_m`, mm/s (actions not
    /// listed cause none).
    pub ppv_mm_s: BTreeMap<String, f64>,
    /// Where the works' velocities come from (measurements, a source handbook, an assumption).
    pub ppv_source: String,
    /// Geometric spreading exponent `n` (0.5: surface waves).
    #[serde(default = "half")]
    pub spreading_exponent: f64,
}

fn half() -> f64 {
    0.5
}

impl VibrationRule {
    /// Checks the values; the message says what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.limit_mm_s.is_finite() && self.limit_mm_s > 0.0) {
            return Err("limit_mm_s must be a positive velocity".into());
        }
        if !(self.reference_m.is_finite() && self.reference_m > 0.0) {
            return Err("reference_m must be a positive distance".into());
        }
        if !(self.spreading_exponent.is_finite() && self.spreading_exponent > 0.0) {
            return Err("spreading_exponent must be positive".into());
        }
        for (action, v) in &self.ppv_mm_s {
            if !["keep", "retrofit", "demolish", "new", "temporary"].contains(&action.as_str()) {
                return Err(format!("ppv_mm_s: unknown action {action:?}; expected retrofit, demolish, new, temporary or keep"));
            }
            if !(v.is_finite() && *v >= 0.0) {
                return Err(format!("ppv_mm_s.{action} must be a non-negative velocity"));
            }
        }
        if self.standard.trim().is_empty() {
            return Err("name where the limit comes from in `standard`".into());
        }
        Ok(())
    }

    /// The predicted peak particle velocity of `action`'s works at distance `d` metres, mm/s.
    pub fn predict(&self, action: &str, d: f64) -> f64 {
        let v = self.ppv_mm_s.get(action).copied().unwrap_or(0.0);
        v * (self.reference_m / d.max(self.reference_m)).powf(self.spreading_exponent)
    }
}
