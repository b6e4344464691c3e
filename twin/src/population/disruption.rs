//! What each task disrupts: households whose building it works on (access restricted), and
//! flows whose straight path from home to destination crosses its works (closed path, with a
//! detour) or ends inside them (destination closed).
//!
//! A task's works come in pieces: each building it works in, and each element outside
//! buildings (pipe trenches, the park). A piece's zone is its footprint grown by
//! `work_zone_buffer_m`, and it disrupts only on the days it is worked (a per-building task
//! moves from building to building; a trench's work front advances), so what a plan disrupts
//! is summed day by day over the pieces worked that day ([`combine`]). A path crossing a zone
//! detours around it along the zone's boundary, the shorter way: the extra length of one
//! crossing is `boundary(entry → exit) − |exit − entry|`, and a round trip crosses twice.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::gravity::{Flow, Place};
use crate::site::{Home, Rect, distance};
use crate::site::works::{PieceKey, TaskSite};

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

/// What one piece of works disrupts while it is worked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PieceDisruption {
    /// The building or loose element worked.
    pub key: PieceKey,
    /// Homes (indices) whose building it is.
    pub homes_worked: Vec<usize>,
    /// Disrupted flows, in flow order.
    pub flows: Vec<FlowDisruption>,
    /// Round trips a day disrupted.
    pub trips_per_day: f64,
    /// Extra walking a day, km.
    pub detour_km_per_day: f64,
}

/// What one task disrupts over its run: the union of its pieces, each disrupting only while it
/// is worked (see [`crate::site::works::Works::pieces`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskDisruption {
    /// Task id.
    pub task: String,
    /// Buildings it works in.
    pub buildings_worked: Vec<usize>,
    /// Households whose building it works on or whose flows it disrupts at some time.
    pub households: f64,
    /// Residents of those households.
    pub residents: f64,
    /// Each piece of its works.
    pub pieces: Vec<PieceDisruption>,
}

/// What working `zone` (the footprint of piece `key`, already grown by the buffer) disrupts
/// among `homes`, `places` and `flows`.
pub fn piece_disruption(key: PieceKey, zone: &Rect, homes: &[Home], places: &[Place], flows: &[Flow]) -> PieceDisruption {
    let homes_worked: Vec<usize> = match key {
        PieceKey::Building(b) => homes.iter().enumerate().filter(|(_, h)| h.building == b).map(|(i, _)| i).collect(),
        PieceKey::Element(_) => Vec::new(),
    };
    let mut out = Vec::new();
    for (i, f) in flows.iter().enumerate() {
        let (Some(home), Some(place)) = (homes.get(f.home), places.get(f.place)) else { continue };
        if homes_worked.contains(&f.home) {
            out.push(FlowDisruption { flow: i, reason: "works at home", detour_m: 0.0 });
        } else if zone.contains(place.position) {
            out.push(FlowDisruption { flow: i, reason: "destination closed", detour_m: 0.0 });
        } else if let Some(extra) = detour_around(zone, home.rect.centre(), place.position) {
            out.push(FlowDisruption { flow: i, reason: "path closed", detour_m: 2.0 * extra });
        }
    }
    let trips_per_day = out.iter().map(|d| flows[d.flow].trips_per_day).sum();
    let detour_km_per_day = out.iter().map(|d| flows[d.flow].trips_per_day * d.detour_m / 1000.0).sum();
    PieceDisruption { key, homes_worked, flows: out, trips_per_day, detour_km_per_day }
}

/// What `pieces` worked at the same time disrupt together: the homes worked, and each flow
/// once, the strongest reason winning (works at home, then destination closed, then path
/// closed) with the detours round every zone on its path added up. Pieces with the same key
/// (two tasks in one building) count once.
pub fn combine<'a>(pieces: impl IntoIterator<Item = &'a PieceDisruption>) -> (BTreeSet<usize>, Vec<FlowDisruption>) {
    let rank = |r: &str| match r {
        "works at home" => 0,
        "destination closed" => 1,
        _ => 2,
    };
    let mut seen = BTreeSet::new();
    let mut homes = BTreeSet::new();
    let mut by_flow: BTreeMap<usize, FlowDisruption> = BTreeMap::new();
    for p in pieces {
        if !seen.insert(p.key) {
            continue;
        }
        homes.extend(p.homes_worked.iter().copied());
        for d in &p.flows {
            match by_flow.get_mut(&d.flow) {
                None => {
                    by_flow.insert(d.flow, d.clone());
                }
                Some(e) => match rank(d.reason).cmp(&rank(e.reason)) {
                    std::cmp::Ordering::Less => *e = d.clone(),
                    std::cmp::Ordering::Equal => e.detour_m += d.detour_m,
                    std::cmp::Ordering::Greater => {}
                },
            }
        }
    }
    (homes, by_flow.into_values().collect())
}

/// What `task` disrupts among `homes`, `places` and `flows`, piece by piece, with works zones
/// grown by `buffer_m`.
pub fn disruption_of(task: &TaskSite, homes: &[Home], places: &[Place], flows: &[Flow], buffer_m: f64) -> TaskDisruption {
    let pieces: Vec<PieceDisruption> = task
        .buildings
        .iter()
        .map(|b| (PieceKey::Building(b.building), b.rect))
        .chain(task.loose.iter().map(|(i, r)| (PieceKey::Element(*i), *r)))
        .map(|(key, rect)| piece_disruption(key, &rect.inflate(buffer_m), homes, places, flows))
        .collect();
    let (mut touched, disrupted) = combine(&pieces);
    touched.extend(disrupted.iter().filter_map(|d| flows.get(d.flow)).map(|f| f.home));
    let households = touched.iter().filter_map(|&h| homes.get(h)).map(|h| h.households).sum();
    let residents = touched.iter().filter_map(|&h| homes.get(h)).map(|h| h.residents).sum();
    TaskDisruption {
        task: task.id.clone(),
        buildings_worked: task.buildings.iter().map(|b| b.building).collect(),
        households,
        residents,
        pieces,
    }
}
