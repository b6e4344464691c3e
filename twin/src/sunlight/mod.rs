//! Sunlight (日照): the hours of direct sun each window receives on the standard day, for the
//! district as it stands and as each plan leaves it, against the scene's rule.
//!
//! The rule's defaults are GB 50180-2018 *Standard for urban residential area planning and
//! design* §4.0.9, Table 4.0.9, for climate zones I, II, III and VII in cities of at least
//! 500,000 residents (Beijing, where the default scene lies): at least 2 hours of sun on 大寒日
//! counted within the effective period 8:00–16:00 local true solar time, at the window sill. The
//! other rows of the table (3 h on 大寒日; 1 h on 冬至日 within 9:00–15:00) are the scene's
//! `[sunlight]` settings. §4.0.9 also says that nothing added to a building may lower a
//! neighbouring dwelling's sunlight below the standard, except a lift added to an existing
//! residential building for accessibility: the report therefore names the windows the plan takes
//! below the standard and leaves the judgement of the exemption to the planner.
//!
//! Method: the sun's direction every `step_minutes` of true solar time from the solar position
//! ([`solar`]); a minute counts when the sun is above the horizon, in front of the window
//! (its outward normal) and no triangle of a standing element lies on the ray from the window
//! sill's outer face to the sun ([`raycast`]). Obstructions closer than [`REVEAL`] (the window's
//! own reveal and frame) are not counted, as the standard measures at the façade plane.

pub mod raycast;
pub mod solar;

use renewtwin_importers::Model;
use serde::Serialize;

use self::raycast::Occluders;
pub use crate::manifest::sunlight::SunlightRule;
#[cfg(test)]
use self::solar::StandardDay;

/// Obstructions nearer than this to the calculation point (metres) are the window's own reveal.
pub const REVEAL: f64 = 0.5;

/// Why the sunlight cannot be computed.
#[derive(Debug, thiserror::Error)]
pub enum SunlightError {
    /// The model does not say where on the earth it is.
    #[error("the model has no latitude (IfcSite RefLatitude): sunlight needs to know where the site is")]
    NoLocation,
}

/// Where the site is and which way is north in the model frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SiteFrame {
    /// Degrees north.
    pub latitude: f64,
    /// Degrees east.
    pub longitude: f64,
    /// Rotation from the model's X axis to map east, counter-clockwise, degrees (0: X east,
    /// Y north).
    pub east_rotation: f64,
}

impl SiteFrame {
    /// The model's location and orientation from its georeference.
    pub fn of(model: &Model) -> Result<Self, SunlightError> {
        let georef = model.georef.as_ref();
        let site = georef.and_then(|g| g.site_location).ok_or(SunlightError::NoLocation)?;
        let east_rotation = georef.and_then(|g| g.map_conversion.as_ref()).map_or(0.0, |m| m.rotation_degrees());
        Ok(Self { latitude: site.latitude, longitude: site.longitude, east_rotation })
    }

    /// An east-north-up direction in the model frame.
    fn to_model(self, enu: [f64; 3]) -> [f64; 3] {
        let (s, c) = self.east_rotation.to_radians().sin_cos();
        // Model X is map east turned by θ: map = R(θ) model, so model = R(−θ) map.
        [c * enu[0] + s * enu[1], -s * enu[0] + c * enu[1], enu[2]]
    }
}

/// The sun over the site at one moment ([`sun_at`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SunAt {
    /// Degrees clockwise from true north.
    pub azimuth: f64,
    /// Degrees above the horizon (negative: below it, night).
    pub elevation: f64,
    /// Unit vector towards the sun in the model frame (Z up): what a viewer's light and
    /// shadow pass take.
    pub direction: [f64; 3],
}

/// The sun over the site of `frame` on a date at true solar time `solar_hours` (the time
/// GB 50180-2018's sunlight hours are counted in): the position of [`solar`] (NOAA), turned
/// into the model frame by the georeference's rotation.
pub fn sun_at(frame: SiteFrame, year: i32, month: u32, day: u32, solar_hours: f64) -> SunAt {
    let doy = solar::day_of_year(year, month, day);
    // The declination moves some 0.4° a day: the UTC hour only needs to be near.
    let utc_hours = solar_hours - frame.longitude / 15.0;
    let position = solar::position_at_solar_time(frame.latitude, solar::declination(year, doy, utc_hours), solar_hours);
    SunAt { azimuth: position.azimuth, elevation: position.elevation, direction: frame.to_model(position.direction_enu()) }
}

/// One window's sun on the standard day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowSun {
    /// The element's index in the model.
    #[serde(skip)]
    pub element: usize,
    /// Its GlobalId.
    pub global_id: String,
    /// Its name.
    pub name: Option<String>,
    /// The building it is in.
    pub building: Option<String>,
    /// The calculation point: the sill's middle on the outer face (model frame, metres).
    pub point: [f64; 3],
    /// Which way the window faces: azimuth of its outward normal, degrees from north.
    pub facing: f64,
    /// Hours of direct sun within the effective period.
    pub hours: f64,
}

/// The sun directions (model frame) sampled on the standard day, one per step.
pub fn sun_samples(rule: &SunlightRule, frame: SiteFrame, year: i32) -> Vec<[f64; 3]> {
    let (y, m, d) = solar::term_date(rule.standard_day, year);
    let doy = solar::day_of_year(y, m, d);
    // Declination at the day's middle (true solar noon is within minutes of 04:00 UTC in
    // China; the change over a day, ≤ 0.4°, is within the formula's accuracy at these dates).
    let declination = solar::declination(y, doy, 12.0 - frame.longitude / 15.0);
    let step = f64::from(rule.step_minutes) / 60.0;
    let n = ((rule.to_hour - rule.from_hour) / step).round() as usize;
    (0..n)
        .map(|i| {
            // The middle of each step stands for it.
            let t = rule.from_hour + (i as f64 + 0.5) * step;
            let p = solar::position_at_solar_time(frame.latitude, declination, t);
            if p.elevation <= 0.0 { [0.0, 0.0, -1.0] } else { frame.to_model(p.direction_enu()) }
        })
        .collect()
}

/// The geometry sunlight needs, collected once from a model with its meshes (a server drops
/// them after streaming): every distinct mesh once and every placement, tagged with its
/// element, in one two-level hierarchy, and each evaluated window's calculation point.
#[derive(Debug, Default)]
pub struct SunlightGeometry {
    /// The placements until the first query builds the hierarchy over them.
    placements: std::sync::Mutex<raycast::Placements>,
    occluders: std::sync::OnceLock<Occluders>,
    windows: Vec<WindowSpot>,
}

/// An evaluated window: where its sun is counted and which way it faces.
#[derive(Debug, Clone)]
struct WindowSpot {
    element: usize,
    point: [f64; 3],
    normal: [f64; 3],
}

impl SunlightGeometry {
    /// Collects the geometry of `model`, evaluating the elements of `classes`.
    pub fn collect(model: &Model, classes: &[String]) -> Self {
        // Each mesh kept once, in its own frame, as the importer made it: a district's
        // placements repeat a few hundred shapes (see `raycast`).
        let mut placements = raycast::Placements::with_capacity(model.elements.iter().map(|e| e.placements.len()).sum());
        let mut kept: std::collections::HashMap<u32, u32> = std::collections::HashMap::new();
        for (ei, e) in model.elements.iter().enumerate() {
            for p in e.placements {
                let Some(mesh) = model.meshes.get(p.mesh.0 as usize) else { continue };
                let index = *kept.entry(p.mesh.0).or_insert_with(|| {
                    let at = |i: u32| -> Option<[f32; 3]> {
                        let v = mesh.positions.get(i as usize * 3..i as usize * 3 + 3)?;
                        Some([v[0], v[1], v[2]])
                    };
                    let triangles = mesh
                        .indices
                        .chunks_exact(3)
                        .filter_map(|t| Some([at(t[0])?, at(t[1])?, at(t[2])?]))
                        .collect();
                    placements.add_mesh(triangles)
                });
                placements.place(index, p.transform, u32::try_from(ei).unwrap_or(u32::MAX));
            }
        }
        let building_of = buildings_of(model);
        let buildings = building_of.iter().flatten().max().map_or(0, |b| b + 1);
        // Each building's centre in plan: the mean of its elements' box centres (the whole
        // model's for elements in no building). A window faces away from it.
        let mut centres = vec![([0.0f64; 2], 0usize); buildings + 1];
        for (ei, c) in element_centres(model).into_iter().enumerate() {
            let Some(c) = c else { continue };
            let mut slots = vec![buildings];
            slots.extend(building_of[ei]);
            for slot in slots {
                centres[slot].0[0] += c[0];
                centres[slot].0[1] += c[1];
                centres[slot].1 += 1;
            }
        }
        let windows = model
            .elements
            .iter()
            .enumerate()
            .filter(|(_, e)| classes.iter().any(|c| c.eq_ignore_ascii_case(e.class)))
            .filter_map(|(ei, _)| {
                let away = building_of[ei]
                    .and_then(|b| centres.get(b))
                    .filter(|(_, n)| *n > 1)
                    .or_else(|| centres.last())
                    .map_or([f64::NAN; 2], |(c, n)| [c[0] / (*n).max(1) as f64, c[1] / (*n).max(1) as f64]);
                let (point, normal) = window_point(model, ei, away)?;
                Some(WindowSpot { element: ei, point, normal })
            })
            .collect();
        Self { placements: std::sync::Mutex::new(placements), occluders: std::sync::OnceLock::new(), windows }
    }

    /// The hierarchy, built on first use (a server that is never asked pays nothing).
    fn occluders(&self) -> &Occluders {
        self.occluders.get_or_init(|| {
            let placements = std::mem::take(&mut *self.placements.lock().unwrap_or_else(|p| p.into_inner()));
            Occluders::build(placements)
        })
    }

    /// The hours of sun on each evaluated window standing in `stands`, with every standing
    /// element as a possible obstruction.
    pub fn hours(&self, model: &Model, stands: &[bool], rule: &SunlightRule, frame: SiteFrame, year: i32) -> Vec<WindowSun> {
        self.hours_where(model, stands, rule, frame, year, |_| true)
    }

    /// The hours of sun on window `element` alone (`None` when it is not an evaluated window
    /// or does not stand in `stands`): what the inspect panel asks for one picked window.
    pub fn hours_of(&self, element: usize, model: &Model, stands: &[bool], rule: &SunlightRule, frame: SiteFrame, year: i32) -> Option<WindowSun> {
        self.hours_where(model, stands, rule, frame, year, |e| e == element).into_iter().next()
    }

    /// Whether `element` is one of the evaluated windows.
    pub fn evaluates(&self, element: usize) -> bool {
        self.windows.iter().any(|w| w.element == element)
    }

    fn hours_where(
        &self,
        model: &Model,
        stands: &[bool],
        rule: &SunlightRule,
        frame: SiteFrame,
        year: i32,
        keep: impl Fn(usize) -> bool,
    ) -> Vec<WindowSun> {
        let samples = sun_samples(rule, frame, year);
        let building_of = buildings_of(model);
        let building_names: Vec<Option<String>> = model
            .spatial
            .iter()
            .filter(|n| n.kind == renewtwin_importers::SpatialKind::Building)
            .map(|n| n.name.clone().or_else(|| Some(n.global_id.clone())))
            .collect();
        let step_hours = f64::from(rule.step_minutes) / 60.0;
        let (s, c) = frame.east_rotation.to_radians().sin_cos();
        let occluders = self.occluders();
        self.windows
            .iter()
            .filter(|w| keep(w.element) && stands.get(w.element).copied().unwrap_or(false))
            .filter_map(|w| {
                let e = model.elements.get(w.element)?;
                let lit = samples
                    .iter()
                    .filter(|d| d[2] > 0.0 && d[0] * w.normal[0] + d[1] * w.normal[1] > 0.0 && !occluders.blocked(w.point, **d, REVEAL, stands))
                    .count();
                // The normal back to map axes: azimuth from north, clockwise.
                let east = c * w.normal[0] - s * w.normal[1];
                let north = s * w.normal[0] + c * w.normal[1];
                Some(WindowSun {
                    element: w.element,
                    global_id: e.global_id.to_owned(),
                    name: e.name.map(str::to_owned),
                    building: building_of[w.element].and_then(|b| building_names.get(b).cloned().flatten()),
                    point: w.point,
                    facing: east.atan2(north).to_degrees().rem_euclid(360.0),
                    hours: (lit as f64 * step_hours * 100.0).round() / 100.0,
                })
            })
            .collect()
    }
}

/// Dense building index (in spatial-tree order) of each element's container, if any.
fn buildings_of(model: &Model) -> Vec<Option<usize>> {
    let mut dense = vec![None; model.spatial.len()];
    let mut next = 0;
    for (i, node) in model.spatial.iter().enumerate() {
        if node.kind == renewtwin_importers::SpatialKind::Building {
            dense[i] = Some(next);
            next += 1;
        }
    }
    let of_node = |mut i: usize| {
        for _ in 0..model.spatial.len() {
            if let Some(b) = dense.get(i).copied().flatten() {
                return Some(b);
            }
            i = model.spatial.get(i)?.parent?;
        }
        None
    };
    model.elements.iter().map(|e| e.container.and_then(of_node)).collect()
}

/// The plan centre of each element's placed geometry.
fn element_centres(model: &Model) -> Vec<Option<[f64; 2]>> {
    model
        .elements
        .iter()
        .map(|e| {
            let (mut lo, mut hi) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
            for p in e.placements {
                let Some(mesh) = model.meshes.get(p.mesh.0 as usize) else { continue };
                for v in mesh.positions.chunks_exact(3) {
                    let w = apply(&p.transform, [f64::from(v[0]), f64::from(v[1]), f64::from(v[2])]);
                    for k in 0..2 {
                        lo[k] = lo[k].min(w[k]);
                        hi[k] = hi[k].max(w[k]);
                    }
                }
            }
            lo[0].is_finite().then(|| [(lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0])
        })
        .collect()
}

/// A column-major 4×4 transform applied to a point.
fn apply(m: &[f64; 16], p: [f64; 3]) -> [f64; 3] {
    [
        m[0] * p[0] + m[4] * p[1] + m[8] * p[2] + m[12],
        m[1] * p[0] + m[5] * p[1] + m[9] * p[2] + m[13],
        m[2] * p[0] + m[6] * p[1] + m[10] * p[2] + m[14],
    ]
}

/// A window's calculation point and outward normal: the dominant horizontal direction of its
/// triangles' normals (area-weighted), turned away from its building's centre; the point is the
/// middle of the sill (the lowest point of its box), just outside its outer face.
fn window_point(model: &Model, element: usize, away_from: [f64; 2]) -> Option<([f64; 3], [f64; 3])> {
    let e = model.elements.at(element);
    let (mut lo, mut hi) = ([f64::INFINITY; 3], [f64::NEG_INFINITY; 3]);
    // The 2×2 scatter of horizontal normals: its main axis is the window's facing line.
    let (mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0);
    for p in e.placements {
        let mesh = model.meshes.get(p.mesh.0 as usize)?;
        let at = |i: u32| -> Option<[f64; 3]> {
            let v = mesh.positions.get(i as usize * 3..i as usize * 3 + 3)?;
            Some(apply(&p.transform, [f64::from(v[0]), f64::from(v[1]), f64::from(v[2])]))
        };
        for t in mesh.indices.chunks_exact(3) {
            let (Some(a), Some(b), Some(c)) = (at(t[0]), at(t[1]), at(t[2])) else { continue };
            for v in [a, b, c] {
                for k in 0..3 {
                    lo[k] = lo[k].min(v[k]);
                    hi[k] = hi[k].max(v[k]);
                }
            }
            let (u, w) = ([b[0] - a[0], b[1] - a[1], b[2] - a[2]], [c[0] - a[0], c[1] - a[1], c[2] - a[2]]);
            // Twice the area times the normal: area-weighted.
            let n = [u[1] * w[2] - u[2] * w[1], u[2] * w[0] - u[0] * w[2]];
            sxx += n[0] * n[0];
            sxy += n[0] * n[1];
            syy += n[1] * n[1];
        }
    }
    if !lo[0].is_finite() || sxx + syy <= 0.0 {
        return None;
    }
    // Main eigenvector of [[sxx, sxy], [sxy, syy]].
    let angle = 0.5 * (2.0 * sxy).atan2(sxx - syy);
    let mut normal = [angle.cos(), angle.sin(), 0.0];
    let centre = [(lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0];
    if normal[0] * (centre[0] - away_from[0]) + normal[1] * (centre[1] - away_from[1]) < 0.0 {
        normal = [-normal[0], -normal[1], 0.0];
    }
    // Half the box's depth along the normal, then 5 cm out.
    let depth = ((hi[0] - lo[0]) * normal[0].abs() + (hi[1] - lo[1]) * normal[1].abs()) / 2.0 + 0.05;
    let point = [centre[0] + normal[0] * depth, centre[1] + normal[1] * depth, lo[2] + 0.01];
    Some((point, normal))
}

/// The hours of sun on each evaluated window standing in `stands` (collects the geometry: for
/// one-off use; [`SunlightGeometry`] serves many).
pub fn window_hours(model: &Model, stands: &[bool], rule: &SunlightRule, frame: SiteFrame, year: i32) -> Vec<WindowSun> {
    SunlightGeometry::collect(model, &rule.classes).hours(model, stands, rule, frame, year)
}

/// Sunlight before and after each plan.
#[derive(Debug, Clone, Serialize)]
pub struct SunlightReport {
    /// The rule applied.
    pub rule: SunlightRule,
    /// The standard day, `YYYY-MM-DD`.
    pub date: String,
    /// `before`, then each plan's name (`base` or the scenario).
    pub states: Vec<String>,
    /// Windows evaluated, with their hours in each state (`None`: not standing there).
    pub windows: Vec<WindowReport>,
    /// Per state: windows below the standard.
    pub below_standard: Vec<usize>,
    /// Per plan (after `before`): windows that met the standard before and do not after.
    pub taken_below: Vec<usize>,
    /// Windows facing north of the east–west line: in winter the sun never reaches them, so
    /// they count below the standard in every state (a dwelling meets the standard through
    /// its main rooms, which the model does not name).
    pub north_facing: usize,
}

/// One window in every state.
#[derive(Debug, Clone, Serialize)]
pub struct WindowReport {
    pub global_id: String,
    pub name: Option<String>,
    pub building: Option<String>,
    pub facing: f64,
    /// Hours per state, in the order of [`SunlightReport::states`].
    pub hours: Vec<Option<f64>>,
}

/// The report for the district in each of `states` (a name and which elements stand: the
/// district as surveyed first, then as each plan leaves it).
pub fn report(model: &Model, rule: &SunlightRule, year: i32, states: &[(String, Vec<bool>)]) -> Result<SunlightReport, SunlightError> {
    let frame = SiteFrame::of(model)?;
    let year = rule.year.unwrap_or(year);
    let (y, m, d) = solar::term_date(rule.standard_day, year);
    let geometry = SunlightGeometry::collect(model, &rule.classes);
    let stands: Vec<&Vec<bool>> = states.iter().map(|(_, s)| s).collect();
    let states: Vec<String> = states.iter().map(|(n, _)| n.clone()).collect();
    let mut by_element: std::collections::BTreeMap<usize, WindowReport> = std::collections::BTreeMap::new();
    for (si, s) in stands.iter().enumerate() {
        for w in geometry.hours(model, s, rule, frame, year) {
            let entry = by_element.entry(w.element).or_insert_with(|| WindowReport {
                global_id: w.global_id.clone(),
                name: w.name.clone(),
                building: w.building.clone(),
                facing: (w.facing * 10.0).round() / 10.0,
                hours: vec![None; stands.len()],
            });
            entry.hours[si] = Some(w.hours);
        }
    }
    let windows: Vec<WindowReport> = by_element.into_values().collect();
    let meets = |h: Option<f64>| h.is_some_and(|h| h + 1e-9 >= rule.min_hours);
    let below_standard = (0..states.len()).map(|si| windows.iter().filter(|w| w.hours[si].is_some() && !meets(w.hours[si])).count()).collect();
    let taken_below = (1..states.len())
        .map(|si| windows.iter().filter(|w| meets(w.hours[0]) && w.hours[si].is_some() && !meets(w.hours[si])).count())
        .collect();
    let north_facing = windows.iter().filter(|w| w.facing.to_radians().cos() > 0.0).count();
    Ok(SunlightReport { rule: rule.clone(), date: format!("{y:04}-{m:02}-{d:02}"), states, windows, below_standard, taken_below, north_facing })
}

#[cfg(test)]
mod tests {
    use super::*;
    use renewtwin_importers::{Element, Mesh, MeshId, Placement};

    const IDENTITY: [f64; 16] = [1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0];

    /// A box mesh from `lo` to `hi` (12 triangles).
    fn cuboid(lo: [f32; 3], hi: [f32; 3]) -> Mesh {
        let mut positions = Vec::new();
        for i in 0..8 {
            positions.extend_from_slice(&[
                if i & 1 == 0 { lo[0] } else { hi[0] },
                if i & 2 == 0 { lo[1] } else { hi[1] },
                if i & 4 == 0 { lo[2] } else { hi[2] },
            ]);
        }
        let indices = vec![
            0, 2, 1, 1, 2, 3, 4, 5, 6, 5, 7, 6, 0, 1, 4, 1, 5, 4, 2, 6, 3, 3, 6, 7, 0, 4, 2, 2, 4, 6, 1, 3, 5, 3, 7, 5,
        ];
        Mesh { normals: vec![0.0; positions.len()], positions, indices }
    }

    fn element(class: &str, id: &str, mesh: u32) -> Element {
        Element {
            step_id: 0,
            global_id: id.into(),
            class: class.into(),
            name: Some(id.into()),
            container: None,
            type_name: None,
            property_sets: Vec::new(),
            placements: vec![Placement { mesh: MeshId(mesh), transform: IDENTITY }],
            materials: Vec::new(),
        }
    }

    /// A south-facing window (1 m wide, 0.1 m deep, sill at 3 m) at the origin in the wall
    /// y = 0 of a house that lies to its north, and optionally a block `distance` m south of
    /// it, `height` m high and 200 m wide.
    fn site(obstruction: Option<(f32, f32)>) -> Model {
        let mut model = Model {
            georef: Some(renewtwin_importers::GeoRef {
                map_conversion: None,
                site_location: Some(renewtwin_importers::SiteLocation { latitude: 39.9, longitude: 116.4, elevation: None }),
            }),
            ..Model::default()
        };
        // The window and the house are one building: the window faces away from its centre.
        model.spatial.push(renewtwin_importers::SpatialNode {
            step_id: 1,
            global_id: "b".into(),
            class: "IfcBuilding".into(),
            kind: renewtwin_importers::SpatialKind::Building,
            name: Some("1号楼".into()),
            parent: None,
            elevation: None,
            property_sets: Vec::new(),
        });
        model.meshes.push(cuboid([-0.5, -0.05, 3.0], [0.5, 0.05, 4.5]));
        model.elements.push(Element { container: Some(0), ..element("IfcWindow", "w", 0) });
        model.meshes.push(cuboid([-5.0, 0.06, 0.0], [5.0, 10.0, 9.0]));
        model.elements.push(Element { container: Some(0), ..element("IfcWall", "house", 1) });
        if let Some((distance, height)) = obstruction {
            model.meshes.push(cuboid([-100.0, -distance - 10.0, 0.0], [100.0, -distance, height]));
            model.elements.push(element("IfcBuildingElementProxy", "block", 2));
        }
        model
    }

    fn hours(model: &Model, rule: &SunlightRule) -> f64 {
        let stands = vec![true; model.elements.len()];
        let frame = SiteFrame::of(model).expect("located");
        // The window faces south: away from the house's centre (which is north of it).
        let w = window_hours(model, &stands, rule, frame, 2026);
        assert_eq!(w.len(), 1);
        assert!((w[0].facing - 180.0).abs() < 1e-6, "{w:?}");
        assert_eq!(w[0].building.as_deref(), Some("1号楼"));
        w[0].hours
    }

    #[test]
    fn an_open_south_window_has_the_whole_effective_period() {
        // Beijing on 大寒日 2026 (20 January): the sun is up and south of east–west all of
        // 8:00–16:00 true solar time (sunrise ≈ 7:05), so an unobstructed south window gets 8 h.
        let rule = SunlightRule { step_minutes: 10, ..SunlightRule::default() };
        assert_eq!(hours(&site(None), &rule), 8.0);
        // On 冬至日 with 9:00–15:00: 6 h.
        let rule = SunlightRule { standard_day: StandardDay::Dongzhi, from_hour: 9.0, to_hour: 15.0, step_minutes: 10, ..SunlightRule::default() };
        assert_eq!(hours(&site(None), &rule), 6.0);
    }

    #[test]
    fn a_block_to_the_south_takes_the_hours_its_shadow_covers() {
        // Hand-computed (independently of the ray casting, from the shadow condition): the
        // calculation point is 3.01 m up and 0.10 m south of the wall; a 200 m-wide block whose
        // north face is 20 m south of the wall and H m high shades it while
        // tan(elevation) < (H − 3.01) · cos(A) / 19.9, A the sun's azimuth from south.
        // On 大寒日 2026 in Beijing (δ = −20.37°, noon elevation 29.73°):
        // - H = 15 m: at noon tan 29.73° = 0.571 < 11.99 / 19.9 = 0.603, so shade all day: 0 h;
        // - H = 13 m: sun from 9:57 to 14:03 true solar time, 4.1 h (4.0 h on 10-minute samples);
        // - 200 m away, a 9 m block never reaches the sill in 8:00–16:00: 8 h.
        let rule = SunlightRule { step_minutes: 10, ..SunlightRule::default() };
        assert_eq!(hours(&site(Some((20.0, 15.0))), &rule), 0.0);
        let h = hours(&site(Some((20.0, 13.0))), &rule);
        assert!((h - 4.0).abs() < 0.2, "{h}");
        assert_eq!(hours(&site(Some((200.0, 9.0))), &rule), 8.0);
    }

    #[test]
    fn a_model_without_a_location_is_refused_and_the_rule_is_checked() {
        let mut m = site(None);
        m.georef = None;
        assert!(matches!(SiteFrame::of(&m), Err(SunlightError::NoLocation)));
        assert!(SunlightRule { to_hour: 7.0, ..SunlightRule::default() }.check().is_err());
        assert!(SunlightRule { step_minutes: 0, ..SunlightRule::default() }.check().is_err());
        assert!(SunlightRule::default().check().is_ok());
    }
}
