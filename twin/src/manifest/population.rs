//! The `[population]` section of the scene manifest: household size, trip rates per purpose,
//! the gravity model's distance decay, the buffer around works, and the destinations
//! (stops, schools, markets, clinics) as coordinates in the scene frame.

use std::collections::BTreeMap;

use serde::Deserialize;

/// `[population]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PopulationConfig {
    /// Residents per household where a building gives households but not residents
    /// (assumed 2.5; China's 2020 census: 2.62 persons per family household).
    pub residents_per_household: f64,
    /// Daily round trips per resident to each kind of destination (assumed: stop 0.9,
    /// school 0.15, market 0.5, clinic 0.05).
    pub trips_per_resident: BTreeMap<String, f64>,
    /// Distance decay of the gravity model's deterrence `f(d) = exp(-d / decay_m)`, metres
    /// (assumed 400 m, a typical walking catchment).
    pub decay_m: f64,
    /// Works close a path within this many metres of their footprint (assumed 3 m: scaffold
    /// and hoarding).
    pub work_zone_buffer_m: f64,
    /// The walk within which a trip keeps its accessible route, metres: 300 m, the walking
    /// distance of the five-minute life circle in GB 50180-2018 《城市居住区规划设计标准》
    /// Table 4.0.1 (五分钟生活圈居住区, 步行距离 300 m). A detour that takes an elderly or
    /// disabled resident's trip from within this walk to beyond it counts against the
    /// accessible-route indicator.
    pub accessible_walk_m: f64,
    /// Destinations; when none are given, one of each kind is placed around the model's
    /// extent (a placeholder, stated in the layer).
    pub places: Vec<PlaceConfig>,
}

/// `[[population.places]]`: one destination.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlaceConfig {
    /// `stop`, `school`, `market`, `clinic`, or any kind with a trip rate.
    pub kind: String,
    /// Name shown to users.
    pub name: String,
    /// East, metres in the scene frame.
    pub x: f64,
    /// North, metres in the scene frame.
    pub y: f64,
    /// Attractiveness `D_j` (default 1).
    #[serde(default = "one")]
    pub weight: f64,
}

fn one() -> f64 {
    1.0
}

impl Default for PopulationConfig {
    fn default() -> Self {
        Self {
            residents_per_household: 2.5,
            trips_per_resident: [("stop", 0.9), ("school", 0.15), ("market", 0.5), ("clinic", 0.05)]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
            decay_m: 400.0,
            work_zone_buffer_m: 3.0,
            accessible_walk_m: 300.0,
            places: Vec::new(),
        }
    }
}

impl PopulationConfig {
    /// Checks values a model cannot work with; the error names the field.
    pub fn validate(&self) -> Result<(), super::ConfigError> {
        let bad = |f: &str, m: &str| Err(super::ConfigError::new(format!("population.{f}"), m));
        if !(self.residents_per_household.is_finite() && self.residents_per_household >= 0.0) {
            return bad("residents_per_household", "must be a non-negative number");
        }
        if !(self.decay_m.is_finite() && self.decay_m > 0.0) {
            return bad("decay_m", "must be a positive number of metres");
        }
        if !(self.work_zone_buffer_m.is_finite() && self.work_zone_buffer_m >= 0.0) {
            return bad("work_zone_buffer_m", "must be a non-negative number of metres");
        }
        if !(self.accessible_walk_m.is_finite() && self.accessible_walk_m > 0.0) {
            return bad("accessible_walk_m", "must be a positive number of metres");
        }
        if self.trips_per_resident.values().any(|v| !(v.is_finite() && *v >= 0.0)) {
            return bad("trips_per_resident", "rates must be non-negative numbers");
        }
        for (i, p) in self.places.iter().enumerate() {
            if !(p.x.is_finite() && p.y.is_finite() && p.weight.is_finite() && p.weight > 0.0) {
                return Err(super::ConfigError::new(format!("population.places[{i}]"), "x and y must be numbers and weight positive"));
            }
        }
        Ok(())
    }
}
