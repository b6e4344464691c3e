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

/// Where the destinations come from, and what could not be modelled.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Destinations {
    /// The places.
    pub places: Vec<Place>,
    /// `population.places` (declared in the scene), `map` (points of interest of the scene's
    /// GeoJSON/CityJSON layers) or `none`.
    pub source: &'static str,
    /// Trip purposes with a rate but no destination, and why nothing is modelled.
    pub diagnostics: Vec<String>,
}

/// The kind of destination a map feature is, from its GeoJSON properties or CityJSON
/// attributes: an explicit `kind` / `poi` / `category` naming a trip purpose, else the
/// OpenStreetMap tags `amenity` (school, kindergarten, college → school; clinic, doctors,
/// hospital → clinic; marketplace → market), `shop` (supermarket, convenience, greengrocer →
/// market), `highway = bus_stop`, `public_transport` (platform, stop_position, station) and
/// `railway` (station, halt, tram_stop, subway_entrance) → stop.
pub fn poi_kind(props: &renewtwin_importers::PropertySet, kinds: &BTreeMap<String, f64>) -> Option<String> {
    let text = |k: &str| match props.get(k) {
        Some(renewtwin_importers::PropertyValue::Text(t) | renewtwin_importers::PropertyValue::Other(t)) => Some(t.trim().to_lowercase()),
        _ => None,
    };
    for key in ["kind", "poi", "category"] {
        if let Some(v) = text(key)
            && kinds.contains_key(&v)
        {
            return Some(v);
        }
    }
    let tag = |key: &str, values: &[&str], kind: &str| text(key).filter(|v| values.contains(&v.as_str())).map(|_| kind.to_owned());
    tag("amenity", &["school", "kindergarten", "college"], "school")
        .or_else(|| tag("amenity", &["clinic", "doctors", "hospital"], "clinic"))
        .or_else(|| tag("amenity", &["marketplace"], "market"))
        .or_else(|| tag("shop", &["supermarket", "convenience", "greengrocer"], "market"))
        .or_else(|| tag("highway", &["bus_stop"], "stop"))
        .or_else(|| tag("public_transport", &["platform", "stop_position", "station"], "stop"))
        .or_else(|| tag("railway", &["station", "halt", "tram_stop", "subway_entrance"], "stop"))
        .filter(|k| kinds.contains_key(k))
}

/// The destinations: those the scene declares (`[[population.places]]`), else the points of
/// interest of its map layers (elements of a GeoJSON or CityJSON model recognised by
/// [`poi_kind`], at the centre of their footprint), else none, with a diagnostic. Nothing is
/// placed by assumption.
pub fn places(config: &PopulationConfig, model: &renewtwin_importers::Model, site: &Site) -> Destinations {
    let mut out = if !config.places.is_empty() {
        Destinations {
            places: config
                .places
                .iter()
                .map(|p| Place { kind: p.kind.clone(), name: p.name.clone(), position: [p.x, p.y], weight: p.weight })
                .collect(),
            source: "population.places",
            diagnostics: Vec::new(),
        }
    } else {
        let mut places = Vec::new();
        for (i, e) in model.elements.iter().enumerate() {
            let Some(kind) = e
                .property_sets
                .iter()
                .filter(|p| p.name == "GeoJSON" || p.name == "CityJSON attributes")
                .find_map(|p| poi_kind(p, &config.trips_per_resident))
            else {
                continue;
            };
            let Some(position) = site.centre_of(i) else { continue };
            places.push(Place { kind, name: e.name.unwrap_or(e.global_id).to_owned(), position, weight: 1.0 });
        }
        let source = if places.is_empty() { "none" } else { "map" };
        Destinations { places, source, diagnostics: Vec::new() }
    };
    if out.places.is_empty() {
        out.diagnostics.push(
            "no destinations: the scene declares no [[population.places]] and its models carry no points of interest (GeoJSON/CityJSON features with kind, amenity, shop, highway = bus_stop, public_transport or railway); trips and their disruption are not modelled".to_owned(),
        );
    } else {
        for kind in config.trips_per_resident.keys().filter(|k| !out.places.iter().any(|p| &p.kind == *k)) {
            out.diagnostics.push(format!("no {kind} among the destinations: {kind} trips are not modelled"));
        }
    }
    out
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
