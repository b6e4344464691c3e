//! The district in plan view, as the analytics see it: every element's footprint, the homes
//! (one per `IfcBuilding`, with households, residents and the survey data of
//! `RenewTwin_Building`) and the surveyed pipes (`RenewTwin_Survey`). Coordinates are metres
//! in the scene's local frame, x east and y north (IFC's plan axes).

pub mod works;

use renewtwin_importers::{Model, PropertyValue};
use serde::Serialize;

use crate::renewal::plan::{building_indices, buildings_of_elements};

/// An axis-aligned rectangle in plan, metres.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Rect {
    /// South-west corner.
    pub min: [f64; 2],
    /// North-east corner.
    pub max: [f64; 2],
}

impl Rect {
    /// The empty rectangle (includes nothing).
    pub const EMPTY: Rect = Rect { min: [f64::INFINITY; 2], max: [f64::NEG_INFINITY; 2] };

    /// A rectangle from its corners (in any order).
    pub fn new(a: [f64; 2], b: [f64; 2]) -> Self {
        Rect { min: [a[0].min(b[0]), a[1].min(b[1])], max: [a[0].max(b[0]), a[1].max(b[1])] }
    }

    /// Whether it includes no point.
    pub fn is_empty(&self) -> bool {
        self.min[0] > self.max[0] || self.min[1] > self.max[1]
    }

    /// Grows to include `p`.
    pub fn include(&mut self, p: [f64; 2]) {
        for (k, v) in p.into_iter().enumerate() {
            self.min[k] = self.min[k].min(v);
            self.max[k] = self.max[k].max(v);
        }
    }

    /// Grows to include `other`.
    pub fn union(&mut self, other: &Rect) {
        if !other.is_empty() {
            self.include(other.min);
            self.include(other.max);
        }
    }

    /// The rectangle grown by `by` metres on every side.
    pub fn inflate(&self, by: f64) -> Rect {
        Rect { min: [self.min[0] - by, self.min[1] - by], max: [self.max[0] + by, self.max[1] + by] }
    }

    /// Its centre.
    pub fn centre(&self) -> [f64; 2] {
        [(self.min[0] + self.max[0]) / 2.0, (self.min[1] + self.max[1]) / 2.0]
    }

    /// Distance from `p` to the rectangle, metres (0 inside).
    pub fn distance_to(&self, p: [f64; 2]) -> f64 {
        let dx = (self.min[0] - p[0]).max(0.0).max(p[0] - self.max[0]);
        let dy = (self.min[1] - p[1]).max(0.0).max(p[1] - self.max[1]);
        dx.hypot(dy)
    }

    /// Whether `p` is inside or on the boundary.
    pub fn contains(&self, p: [f64; 2]) -> bool {
        (self.min[0]..=self.max[0]).contains(&p[0]) && (self.min[1]..=self.max[1]).contains(&p[1])
    }

    /// Perimeter length.
    pub fn perimeter(&self) -> f64 {
        2.0 * ((self.max[0] - self.min[0]) + (self.max[1] - self.min[1]))
    }

    /// The part of segment `a`→`b` inside, as parameters `0 ≤ t0 ≤ t1 ≤ 1` (Liang–Barsky
    /// clipping); `None` when the segment misses the rectangle.
    pub fn clip(&self, a: [f64; 2], b: [f64; 2]) -> Option<(f64, f64)> {
        if self.is_empty() {
            return None;
        }
        let d = [b[0] - a[0], b[1] - a[1]];
        let (mut t0, mut t1) = (0.0f64, 1.0f64);
        for k in 0..2 {
            for (p, q) in [(-d[k], a[k] - self.min[k]), (d[k], self.max[k] - a[k])] {
                if p == 0.0 {
                    if q < 0.0 {
                        return None;
                    }
                } else {
                    let r = q / p;
                    if p < 0.0 {
                        t0 = t0.max(r);
                    } else {
                        t1 = t1.min(r);
                    }
                }
            }
        }
        (t0 <= t1).then_some((t0, t1))
    }

    /// Position of a boundary point along the perimeter, anticlockwise from the south-west
    /// corner (points off the boundary are taken to the nearest side).
    pub fn perimeter_position(&self, p: [f64; 2]) -> f64 {
        let (w, h) = (self.max[0] - self.min[0], self.max[1] - self.min[1]);
        let sides = [
            (p[1] - self.min[1]).abs(), // south
            (p[0] - self.max[0]).abs(), // east
            (p[1] - self.max[1]).abs(), // north
            (p[0] - self.min[0]).abs(), // west
        ];
        let side = (0..4).min_by(|&i, &j| sides[i].total_cmp(&sides[j])).unwrap_or(0);
        match side {
            0 => (p[0] - self.min[0]).clamp(0.0, w),
            1 => w + (p[1] - self.min[1]).clamp(0.0, h),
            2 => w + h + (self.max[0] - p[0]).clamp(0.0, w),
            _ => 2.0 * w + h + (self.max[1] - p[1]).clamp(0.0, h),
        }
    }
}

/// Distance between two plan points.
pub fn distance(a: [f64; 2], b: [f64; 2]) -> f64 {
    (a[0] - b[0]).hypot(a[1] - b[1])
}

/// One residential building.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Home {
    /// Dense building index (as in `TaskWindow::buildings`).
    pub building: usize,
    /// GlobalId of the `IfcBuilding`.
    pub global_id: String,
    /// Its name.
    pub name: String,
    /// Footprint: the plan extent of the elements it contains.
    pub rect: Rect,
    /// Households (`RenewTwin_Building.Households`, else the manifest's assumption).
    pub households: f64,
    /// Residents (`RenewTwin_Building.Residents`, else households × residents per household).
    pub residents: f64,
    /// `Pset_BuildingCommon.YearOfConstruction`.
    pub year: Option<i32>,
    /// `RenewTwin_Building.StructureType`.
    pub structure: Option<String>,
    /// `RenewTwin_Building.InspectionGrade` (A–D).
    pub grade: Option<String>,
    /// `RenewTwin_Building.RecordedDefects`.
    pub defects: Option<f64>,
    /// Element ids it contains.
    pub elements: Vec<u32>,
    /// Vulnerable residents the model declares (`RenewTwin_Building.Elderly`, `.Disabled`,
    /// `.Children`); `None` where it declares none of them.
    pub vulnerable: Option<Vulnerable>,
}

/// Vulnerable residents of a building, as counts of residents.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Vulnerable {
    /// Residents aged 60 or over (`RenewTwin_Building.Elderly`).
    pub elderly: f64,
    /// Residents with a disability (`RenewTwin_Building.Disabled`).
    pub disabled: f64,
    /// Children (`RenewTwin_Building.Children`).
    pub children: f64,
}

impl Vulnerable {
    /// Elderly + disabled + children (a person counted in two groups counts twice).
    pub fn total(&self) -> f64 {
        self.elderly + self.disabled + self.children
    }
}

/// One surveyed pipe segment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pipe {
    /// Element id.
    pub element: u32,
    /// GlobalId.
    pub global_id: String,
    /// Name.
    pub name: Option<String>,
    /// `RenewTwin_Survey.Material`.
    pub material: String,
    /// `RenewTwin_Survey.InstallYear`.
    pub install_year: Option<i32>,
    /// `RenewTwin_Survey.NominalDiameter`, metres.
    pub diameter_m: Option<f64>,
    /// `RenewTwin_Survey.Status` (EXISTING, NEW, …).
    pub status: Option<String>,
}

/// The district in plan view.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Site {
    /// Plan footprint of every element (`None`: no geometry), indexed like the model's elements.
    pub footprints: Vec<Option<Rect>>,
    /// Dense building index of every element.
    pub building_of: Vec<Option<usize>>,
    /// The buildings.
    pub homes: Vec<Home>,
    /// Surveyed pipes.
    pub pipes: Vec<Pipe>,
    /// Plan extent of the whole model.
    pub extent: Option<Rect>,
}

/// A property as a number (integers, reals and numeric text).
pub fn number(value: Option<&PropertyValue>) -> Option<f64> {
    match value? {
        PropertyValue::Real(r) => r.is_finite().then_some(*r),
        PropertyValue::Integer(i) => Some(*i as f64),
        PropertyValue::Text(t) | PropertyValue::Other(t) => t.trim().parse().ok().filter(|v: &f64| v.is_finite()),
        PropertyValue::Bool(_) => None,
    }
}

/// A property as text.
pub fn text(value: Option<&PropertyValue>) -> Option<String> {
    match value? {
        PropertyValue::Text(t) | PropertyValue::Other(t) => Some(t.trim().to_owned()),
        PropertyValue::Integer(i) => Some(i.to_string()),
        PropertyValue::Real(r) => Some(r.to_string()),
        PropertyValue::Bool(b) => Some(b.to_string()),
    }
}

impl Site {
    /// Reads the site from `model`; households default to `households_per_building` and
    /// residents to households × `residents_per_household` where the model is silent.
    pub fn from_model(model: &Model, households_per_building: f64, residents_per_household: f64) -> Self {
        let footprints: Vec<Option<Rect>> = model
            .elements
            .iter()
            .map(|e| {
                let mut r = Rect::EMPTY;
                for p in e.placements {
                    let Some(mesh) = model.meshes.get(p.mesh.0 as usize) else { continue };
                    let m = &p.transform;
                    for v in mesh.positions.chunks_exact(3) {
                        let (x, y, z) = (f64::from(v[0]), f64::from(v[1]), f64::from(v[2]));
                        r.include([m[0] * x + m[4] * y + m[8] * z + m[12], m[1] * x + m[5] * y + m[9] * z + m[13]]);
                    }
                }
                (!r.is_empty() && r.min.iter().chain(&r.max).all(|v| v.is_finite())).then_some(r)
            })
            .collect();
        let building_of = buildings_of_elements(model);
        let dense = building_indices(model);
        let mut homes: Vec<Home> = model
            .spatial
            .iter()
            .zip(&dense)
            .filter_map(|(n, d)| d.map(|b| (n, b)))
            .map(|(n, b)| {
                let households = number(n.property("RenewTwin_Building", "Households")).map_or(households_per_building, |h| h.max(0.0));
                Home {
                    building: b,
                    global_id: n.global_id.clone(),
                    name: n.name.clone().unwrap_or_else(|| format!("building {b}")),
                    rect: Rect::EMPTY,
                    households,
                    residents: number(n.property("RenewTwin_Building", "Residents"))
                        .map_or(households * residents_per_household, |r| r.max(0.0)),
                    year: number(n.property("Pset_BuildingCommon", "YearOfConstruction")).map(|y| y as i32),
                    structure: text(n.property("RenewTwin_Building", "StructureType")),
                    grade: text(n.property("RenewTwin_Building", "InspectionGrade")),
                    defects: number(n.property("RenewTwin_Building", "RecordedDefects")),
                    elements: Vec::new(),
                    vulnerable: {
                        let v = |k: &str| number(n.property("RenewTwin_Building", k)).map(|x| x.max(0.0));
                        let (e, d, c) = (v("Elderly"), v("Disabled"), v("Children"));
                        (e.is_some() || d.is_some() || c.is_some()).then(|| Vulnerable {
                            elderly: e.unwrap_or(0.0),
                            disabled: d.unwrap_or(0.0),
                            children: c.unwrap_or(0.0),
                        })
                    },
                }
            })
            .collect();
        homes.sort_by_key(|h| h.building);
        let mut extent = Rect::EMPTY;
        for (i, (f, b)) in footprints.iter().zip(&building_of).enumerate() {
            if let Some(f) = f {
                extent.union(f);
                if let Some(home) = b.and_then(|b| homes.get_mut(b)) {
                    home.rect.union(f);
                }
            }
            if let Some(home) = b.and_then(|b| homes.get_mut(b)) {
                home.elements.push(i as u32);
            }
        }
        let pipes = model
            .elements
            .iter()
            .enumerate()
            .filter(|(_, e)| e.class.starts_with("IfcPipe") && e.property_sets.iter().any(|p| p.name == "RenewTwin_Survey"))
            .map(|(i, e)| Pipe {
                element: i as u32,
                global_id: e.global_id.to_owned(),
                name: e.name.map(str::to_owned),
                material: text(e.property("RenewTwin_Survey", "Material")).unwrap_or_default(),
                install_year: number(e.property("RenewTwin_Survey", "InstallYear")).map(|y| y as i32),
                diameter_m: number(e.property("RenewTwin_Survey", "NominalDiameter")).filter(|d| *d > 0.0),
                status: text(e.property("RenewTwin_Survey", "Status")),
            })
            .collect();
        Site { footprints, building_of, homes, pipes, extent: (!extent.is_empty()).then_some(extent) }
    }

    /// The centre of element `i`'s footprint.
    pub fn centre_of(&self, i: usize) -> Option<[f64; 2]> {
        self.footprints.get(i).copied().flatten().map(|r| r.centre())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_segment_through_a_square_is_clipped_where_it_enters_and_leaves() {
        let r = Rect::new([0.0, 0.0], [10.0, 10.0]);
        let (t0, t1) = r.clip([-10.0, 5.0], [20.0, 5.0]).expect("crosses");
        assert!((t0 - 10.0 / 30.0).abs() < 1e-12 && (t1 - 20.0 / 30.0).abs() < 1e-12);
        assert_eq!(r.clip([-10.0, 15.0], [20.0, 15.0]), None, "passes north of it");
    }

    #[test]
    fn perimeter_positions_run_anticlockwise_from_the_south_west_corner() {
        let r = Rect::new([0.0, 0.0], [10.0, 4.0]);
        assert_eq!(r.perimeter_position([5.0, 0.0]), 5.0);
        assert_eq!(r.perimeter_position([10.0, 2.0]), 12.0);
        assert_eq!(r.perimeter_position([5.0, 4.0]), 19.0);
        assert_eq!(r.perimeter_position([0.0, 1.0]), 27.0);
        assert_eq!(r.perimeter(), 28.0);
    }
}
