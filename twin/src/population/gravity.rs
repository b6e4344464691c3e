//! Daily flows between homes and destinations by a production-constrained gravity model:
//! `T_ij = O_i · D_j · f(d_ij) / Σ_k D_k · f(d_ik)` for each purpose (stop, school, market,
//! clinic), so that every home sends exactly its `O_i = residents_i × trip rate` round trips
//! a day, shared among the destinations of that purpose by attractiveness `D_j` and the
//! deterrence `f(d) = exp(−d / decay)` of the straight-line distance `d`.

use std::collections::BTreeMap;

use serde::Serialize;

use super::config::PopulationConfig;
use crate::site::{Home, Site, distance};

/// A destination.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Place {
    /// `stop`, `school`, `market`, `clinic`, …
    pub kind: String,
    /// Name.
    pub name: String,
    /// Plan position, metres.
    pub position: [f64; 2],
    /// Attractiveness.
    pub weight: f64,
    /// Placed by default around the model rather than configured.
    pub assumed: bool,
}

/// Round trips a day from a home to a destination.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Flow {
    /// Index in the homes.
    pub home: usize,
    /// Index in the places.
    pub place: usize,
    /// Purpose (the place's kind).
    pub kind: String,
    /// Round trips a day.
    pub trips_per_day: f64,
    /// Straight-line distance, metres.
    pub distance_m: f64,
}

/// Deterrence `f(d) = exp(−d / decay)`.
pub fn deterrence(d: f64, decay_m: f64) -> f64 {
    (-d / decay_m).exp()
}

/// The configured places, or one of each kind with a trip rate placed around the site's
/// extent (south: stop; west: school; south-east: market; east: clinic; others north).
pub fn places(config: &PopulationConfig, site: &Site) -> Vec<Place> {
    if !config.places.is_empty() {
        return config
            .places
            .iter()
            .map(|p| Place { kind: p.kind.clone(), name: p.name.clone(), position: [p.x, p.y], weight: p.weight, assumed: false })
            .collect();
    }
    let Some(r) = site.extent else { return Vec::new() };
    let c = r.centre();
    config
        .trips_per_resident
        .keys()
        .map(|kind| {
            let position = match kind.as_str() {
                "stop" => [c[0], r.min[1] - 10.0],
                "school" => [r.min[0] - 50.0, c[1]],
                "market" => [r.max[0] + 30.0, r.min[1] - 10.0],
                "clinic" => [r.max[0] + 50.0, c[1]],
                _ => [c[0], r.max[1] + 30.0],
            };
            Place { kind: kind.clone(), name: format!("{kind} (assumed position)"), position, weight: 1.0, assumed: true }
        })
        .collect()
}

/// The flows from `homes` to `places` at `rates` (round trips per resident per day by kind).
pub fn flows(homes: &[Home], places: &[Place], rates: &BTreeMap<String, f64>, decay_m: f64) -> Vec<Flow> {
    let mut out = Vec::new();
    for (h, home) in homes.iter().enumerate() {
        let origin = home.rect.centre();
        for (kind, rate) in rates {
            let candidates: Vec<(usize, f64, f64)> = places
                .iter()
                .enumerate()
                .filter(|(_, p)| &p.kind == kind)
                .map(|(j, p)| {
                    let d = distance(origin, p.position);
                    (j, d, p.weight * deterrence(d, decay_m))
                })
                .collect();
            let total: f64 = candidates.iter().map(|c| c.2).sum();
            if total <= 0.0 {
                continue;
            }
            let produced = home.residents * rate;
            for (j, d, w) in candidates {
                out.push(Flow { home: h, place: j, kind: kind.clone(), trips_per_day: produced * w / total, distance_m: d });
            }
        }
    }
    out
}
