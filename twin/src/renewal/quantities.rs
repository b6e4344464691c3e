//! Quantities of the elements a task selects, for unit-rate costs: a count, an area (m²) and a
//! length (m) per element, from the model's IFC quantity sets where it has them, else measured
//! on its placed meshes.
//!
//! - area: the first of `NetSideArea`, `GrossSideArea`, `NetArea`, `GrossArea` in a property set
//!   named `Qto_…` (IFC4 base quantities: wall side area, slab/window/roof area); else half the
//!   placed mesh's surface area (one side of a thin element; it counts half the edge faces too,
//!   so it exceeds the side area by about thickness × perimeter / 2);
//! - length: `Length` in a `Qto_…` set; else the longest side of the placed mesh's bounds.

use renewtwin_importers::{Model, PropertyValue};
use serde::Serialize;

/// Where a quantity came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QuantitySource {
    /// Counted.
    Count,
    /// An IFC quantity set (`Qto_…`).
    QuantitySet,
    /// Measured on the placed meshes.
    Mesh,
    /// Both, for different elements.
    Mixed,
}

impl QuantitySource {
    fn merge(self, other: Self) -> Self {
        if self == other { self } else { Self::Mixed }
    }
}

fn number(value: &PropertyValue) -> Option<f64> {
    match value {
        PropertyValue::Real(r) => Some(*r),
        PropertyValue::Integer(i) => Some(*i as f64),
        PropertyValue::Text(t) | PropertyValue::Other(t) => t.trim().parse().ok(),
        PropertyValue::Bool(_) => None,
    }
    .filter(|v| v.is_finite() && *v >= 0.0)
}

fn from_qto(model: &Model, ei: usize, names: &[&str]) -> Option<f64> {
    let e = model.elements.get(ei)?;
    names.iter().find_map(|name| {
        e.property_sets
            .iter()
            .filter(|p| p.name.starts_with("Qto_"))
            .find_map(|p| p.get(name).and_then(number))
    })
}

fn placed_vertices(model: &Model, ei: usize) -> impl Iterator<Item = (Vec<[f64; 3]>, &[u32])> + '_ {
    model.elements.at(ei).placements.iter().filter_map(move |p| {
        let mesh = model.meshes.get(p.mesh.0 as usize)?;
        let t = &p.transform;
        let v = mesh
            .positions
            .chunks_exact(3)
            .map(|v| {
                let (x, y, z) = (f64::from(v[0]), f64::from(v[1]), f64::from(v[2]));
                [
                    t[0] * x + t[4] * y + t[8] * z + t[12],
                    t[1] * x + t[5] * y + t[9] * z + t[13],
                    t[2] * x + t[6] * y + t[10] * z + t[14],
                ]
            })
            .collect();
        Some((v, mesh.indices.as_slice()))
    })
}

/// Half the surface area of element `ei`'s placed meshes, m².
pub fn mesh_half_area(model: &Model, ei: usize) -> f64 {
    let mut area = 0.0;
    for (v, indices) in placed_vertices(model, ei) {
        for tri in indices.chunks_exact(3) {
            let (Some(a), Some(b), Some(c)) = (
                v.get(tri[0] as usize),
                v.get(tri[1] as usize),
                v.get(tri[2] as usize),
            ) else {
                continue;
            };
            let u = [b[0] - a[0], b[1] - a[1], b[2] - a[2]];
            let w = [c[0] - a[0], c[1] - a[1], c[2] - a[2]];
            let n = [
                u[1] * w[2] - u[2] * w[1],
                u[2] * w[0] - u[0] * w[2],
                u[0] * w[1] - u[1] * w[0],
            ];
            area += 0.5 * (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt();
        }
    }
    area / 2.0
}

/// The longest side of element `ei`'s placed meshes' bounds, m.
pub fn mesh_length(model: &Model, ei: usize) -> f64 {
    let mut lo = [f64::INFINITY; 3];
    let mut hi = [f64::NEG_INFINITY; 3];
    for (v, _) in placed_vertices(model, ei) {
        for p in v {
            for a in 0..3 {
                lo[a] = lo[a].min(p[a]);
                hi[a] = hi[a].max(p[a]);
            }
        }
    }
    (0..3)
        .map(|a| hi[a] - lo[a])
        .filter(|d| d.is_finite())
        .fold(0.0, f64::max)
}

/// Area of element `ei` (m²) and where it came from.
pub fn area(model: &Model, ei: usize) -> (f64, QuantitySource) {
    match from_qto(
        model,
        ei,
        &["NetSideArea", "GrossSideArea", "NetArea", "GrossArea"],
    ) {
        Some(a) => (a, QuantitySource::QuantitySet),
        None => (mesh_half_area(model, ei), QuantitySource::Mesh),
    }
}

/// Length of element `ei` (m) and where it came from.
pub fn length(model: &Model, ei: usize) -> (f64, QuantitySource) {
    match from_qto(model, ei, &["Length"]) {
        Some(l) => (l, QuantitySource::QuantitySet),
        None => (mesh_length(model, ei), QuantitySource::Mesh),
    }
}

/// One priced quantity of a task.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PricedQuantity {
    /// `item`, `m2` or `m`.
    pub unit: &'static str,
    /// The quantity over the task's elements.
    pub amount: f64,
    /// Yuan per unit, as declared in the scene.
    pub rate_yuan: f64,
    /// amount × rate.
    pub yuan: f64,
    /// Where the amounts came from.
    pub source: QuantitySource,
}

/// The quantities of `elements` priced at `rates` (`per_item`, `per_m2`, `per_m`; absent
/// rates are left out).
pub fn price(
    model: &Model,
    elements: &[usize],
    rates: &crate::manifest::UnitRates,
) -> Vec<PricedQuantity> {
    let mut out = Vec::new();
    let mut push = |unit, rate: Option<f64>, measure: &dyn Fn(usize) -> (f64, QuantitySource)| {
        let Some(rate) = rate else { return };
        let mut amount = 0.0;
        let mut source: Option<QuantitySource> = None;
        for &ei in elements {
            let (a, s) = measure(ei);
            amount += a;
            source = Some(source.map_or(s, |x| x.merge(s)));
        }
        out.push(PricedQuantity {
            unit,
            amount,
            rate_yuan: rate,
            yuan: amount * rate,
            source: source.unwrap_or(QuantitySource::Count),
        });
    };
    push("item", rates.per_item, &|_| (1.0, QuantitySource::Count));
    push("m2", rates.per_m2, &|ei| area(model, ei));
    push("m", rates.per_m, &|ei| length(model, ei));
    out
}

/// The length of one diameter of pipe a task works on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PipeLength {
    /// Task id.
    pub task: String,
    /// What the task does to them (`new`, `demolish`, …).
    pub action: &'static str,
    /// Nominal diameter, m (`RenewTwin_Survey.NominalDiameter`, else any property set's
    /// `NominalDiameter`); `None` where the model gives none.
    pub diameter_m: Option<f64>,
    /// Pipe segments.
    pub segments: usize,
    /// Total length, m (`Qto_….Length`, else the longest side of the mesh bounds).
    pub length_m: f64,
    /// Where the lengths came from.
    pub source: QuantitySource,
}

/// The nominal diameter of element `ei`, m.
pub fn nominal_diameter(model: &Model, ei: usize) -> Option<f64> {
    let e = model.elements.get(ei)?;
    e.property("RenewTwin_Survey", "NominalDiameter")
        .and_then(number)
        .or_else(|| e.property_sets.iter().find_map(|p| p.get("NominalDiameter").and_then(number)))
        .filter(|d| *d > 0.0)
}

/// The pipe segments (`IfcPipeSegment`) among `elements`, their length summed per nominal
/// diameter (diameters equal to the millimetre are one group), widest first, unknown last.
pub fn pipe_lengths(model: &Model, task: &str, action: &'static str, elements: &[usize]) -> Vec<PipeLength> {
    let mut groups: std::collections::BTreeMap<std::cmp::Reverse<Option<i64>>, PipeLength> = std::collections::BTreeMap::new();
    for &ei in elements {
        if !model.elements.get(ei).is_some_and(|e| e.class.starts_with("IfcPipeSegment")) {
            continue;
        }
        let d = nominal_diameter(model, ei);
        let key = std::cmp::Reverse(d.map(|d| (d * 1000.0).round() as i64));
        let (len, src) = length(model, ei);
        let g = groups.entry(key).or_insert_with(|| PipeLength {
            task: task.to_owned(),
            action,
            diameter_m: d.map(|d| (d * 1000.0).round() / 1000.0),
            segments: 0,
            length_m: 0.0,
            source: src,
        });
        g.segments += 1;
        g.length_m += len;
        g.source = g.source.merge(src);
    }
    // Reverse(None) sorts after every Reverse(Some(_)): unknown diameters come last.
    groups.into_values().collect()
}
