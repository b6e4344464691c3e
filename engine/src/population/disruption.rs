//! What each task disrupts: households whose building it works on (access restricted), and
//! flows whose straight path from home to destination crosses its works (closed path, with a
//! detour) or ends inside them (destination closed).
//!
//! A works zone is the footprint of each building it works in, or of each element outside
//! buildings (pipe trenches, the park), grown by `work_zone_buffer_m`. A path crossing a zone
//! detours around it along the zone's boundary, the shorter way: the extra length of one
//! crossing is `boundary(entry → exit) − |exit − entry|`, and a round trip crosses twice.

use serde::Serialize;

use super::gravity::{Flow, Place};
use super::site::{Home, Rect, distance};
use crate::sensors::works::TaskSite;

/// Extra metres to walk around `zone` on the way from `a` to `b`; `None` when the straight
/// path misses it or starts or ends inside it.
pub fn detour_around(zone: &Rect, a: [f64; 2], b: [f64; 2]) -> Option<f64> {
    if zone.contains(a) || zone.contains(b) {
        return None;
    }
    let (t0, t1) = zone.clip(a, b)?;
    let at = |t: f64| [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t];
    let (entry, exit) = (at(t0), at(t1));
    let (s0, s1) = (zone.perimeter_position(entry), zone.perimeter_position(exit));
    let along = (s0 - s1).abs();
    let around = along.min(zone.perimeter() - along);
    Some((around - distance(entry, exit)).max(0.0))
}

/// One flow a task disrupts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlowDisruption {
    /// Index in the flows.
    pub flow: usize,
    /// `works at home`, `destination closed` or `path closed`.
    pub reason: &'static str,
    /// Extra metres per round trip (path closed).
    pub detour_m: f64,
}

/// What one task disrupts while it runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskDisruption {
    /// Task id.
    pub task: String,
    /// Buildings it works in.
    pub buildings_worked: Vec<usize>,
    /// Households whose building is worked on or whose flows it disrupts.
    pub households: f64,
    /// Residents of those households.
    pub residents: f64,
    /// Disrupted flows.
    pub flows: Vec<FlowDisruption>,
    /// Round trips a day disrupted.
    pub trips_per_day: f64,
    /// Extra walking a day, km.
    pub detour_km_per_day: f64,
}

/// What `task` disrupts among `homes`, `places` and `flows`.
pub fn disruption_of(task: &TaskSite, homes: &[Home], places: &[Place], flows: &[Flow], buffer_m: f64) -> TaskDisruption {
    let zones: Vec<Rect> = task.zones().iter().map(|z| z.inflate(buffer_m)).collect();
    let worked: Vec<usize> = task.buildings.iter().map(|b| b.building).collect();
    let mut touched: Vec<bool> = homes.iter().map(|h| worked.contains(&h.building)).collect();
    let mut out = Vec::new();
    for (i, f) in flows.iter().enumerate() {
        let (Some(home), Some(place)) = (homes.get(f.home), places.get(f.place)) else { continue };
        if worked.contains(&home.building) {
            out.push(FlowDisruption { flow: i, reason: "works at home", detour_m: 0.0 });
            continue;
        }
        if zones.iter().any(|z| z.contains(place.position)) {
            out.push(FlowDisruption { flow: i, reason: "destination closed", detour_m: 0.0 });
            touched[f.home] = true;
            continue;
        }
        let a = home.rect.centre();
        let extra: f64 = zones.iter().filter_map(|z| detour_around(z, a, place.position)).sum();
        if zones.iter().any(|z| !z.contains(a) && z.clip(a, place.position).is_some()) {
            out.push(FlowDisruption { flow: i, reason: "path closed", detour_m: 2.0 * extra });
            touched[f.home] = true;
        }
    }
    let households = homes.iter().zip(&touched).filter(|(_, t)| **t).map(|(h, _)| h.households).sum();
    let residents = homes.iter().zip(&touched).filter(|(_, t)| **t).map(|(h, _)| h.residents).sum();
    let trips_per_day = out.iter().map(|d| flows[d.flow].trips_per_day).sum();
    let detour_km_per_day = out.iter().map(|d| flows[d.flow].trips_per_day * d.detour_m / 1000.0).sum();
    TaskDisruption { task: task.id.clone(), buildings_worked: worked, households, residents, flows: out, trips_per_day, detour_km_per_day }
}
