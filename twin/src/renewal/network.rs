//! Utility networks (water supply, drainage, gas, heating, power) read from the model, and the
//! check that a plan never leaves a served building without a system it had.
//!
//! **What a network is.** Every pipe or cable element (`IfcPipe*`, `IfcCable*`, `IfcDuct*`)
//! whose system can be read (`RenewTwin_Survey.System`, else any property named `System`,
//! else its name; see [`System::from_text`]) is a network element. Its centre line is found
//! from its mesh: the two vertices farthest apart give a first axis, and each end is the
//! centroid of the vertices within a tenth of the length of that end (for a straight pipe, the
//! centre of its end ring), refined once. Its diameter is `RenewTwin_Survey.NominalDiameter`,
//! else `Pset_PipeSegmentTypeCommon.NominalDiameter`, else twice the largest distance of a
//! vertex from the centre line.
//!
//! **Connectivity** comes from the model where it says it: elements connected through their
//! ports (`IfcRelConnectsPorts`, read by the importer into `Model::connections`) are connected,
//! also across elements that are not network elements themselves (a manhole, a fitting without
//! a readable system) joining two network elements of one system. An element with no port
//! connection is connected by snapping: two elements of one system are connected when an end of
//! one lies within `[networks] snap_tolerance_m` (3D) of the other's centre line (a tee or a
//! joint). An element serves a building when one of its ends lies within the tolerance of the
//! building's plan footprint (the extent of the elements it contains).
//!
//! **Where a system is fed from**: the elements named in `[networks] sources`, else, per
//! system, every element at least as wide as the widest element in service before the works
//! (the mains).
//!
//! **In service** on a day: an element that exists, was renewed or built, or is a temporary
//! work standing ([`LifecycleState`] `Existing`, `Renewed`, `Built`, `Temporary`); a pipe under
//! construction, under demolition, demolished, removed or still planned carries nothing.
//!
//! A building is **served** by a system on a day when an element in service that serves it is
//! connected, through elements in service, to a source in service. The check compares each day
//! of the plan with the day before the works: a building served then and not served on a day
//! is a gap, unless a task with `temporary_supply` naming the system (and the building, or
//! every building) runs that day. The states only change on a step's first or last day, so the
//! days checked are those.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use renewtwin_importers::{Model, PropertyValue, SpatialKind};
use renewtwin_protocol::{CivilDate, LifecycleState, SimDay};
use serde::Serialize;

use super::plan::{NEVER, Plan, buildings_of_elements};
use crate::manifest::Manifest;
use crate::manifest::networks::{NetworksConfig, System};

/// One network element.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NetworkElement {
    /// Element index in the model.
    pub element: usize,
    /// Its system.
    pub system: System,
    /// The two ends of its centre line, metres.
    pub ends: [[f64; 3]; 2],
    /// Diameter, metres.
    pub diameter_m: f64,
    /// Dense indices of the buildings it serves.
    pub serves: Vec<usize>,
}

/// A building as the networks see it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NetworkBuilding {
    /// Dense building index.
    pub building: usize,
    /// GlobalId of the `IfcBuilding`.
    pub global_id: String,
    /// Name.
    pub name: String,
}

/// The networks of a model.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Networks {
    /// Network elements.
    pub elements: Vec<NetworkElement>,
    /// For each network element, the network elements it is connected to.
    pub links: Vec<Vec<usize>>,
    /// The buildings, by dense index.
    pub buildings: Vec<NetworkBuilding>,
    /// Declared sources (element indices in the model); empty: the widest of each system.
    pub declared_sources: BTreeSet<usize>,
    /// The snapping tolerance used, metres.
    pub tolerance_m: f64,
}

/// A building left without a system over some days.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SupplyGap {
    /// Building name.
    pub building: String,
    /// GlobalId of the building.
    pub global_id: String,
    /// The system it loses.
    pub system: System,
    /// First day without it.
    pub from_day: i32,
    /// Day it is back (`None`: never, under this plan).
    pub until_day: Option<i32>,
    /// `from_day` as a date.
    pub from: CivilDate,
    /// `until_day` as a date.
    pub until: Option<CivilDate>,
}

impl std::fmt::Display for SupplyGap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}) has no {} from day {} ({})", self.building, self.global_id, self.system.key(), self.from_day, self.from)?;
        match (self.until_day, self.until) {
            (Some(d), Some(date)) => write!(f, " to day {d} ({date})"),
            _ => write!(f, " on, for good"),
        }
    }
}

/// Why a plan was refused by the supply check.
#[derive(Debug, thiserror::Error)]
pub enum SupplyError {
    /// Buildings lose a system they had.
    #[error(
        "{file}: the plan leaves served buildings without a system they had ({count} gaps): {summary}. Replace each system before the old one is taken out, or add a task with `temporary_supply` over the gap"
    )]
    Gaps {
        /// The manifest.
        file: String,
        /// How many gaps.
        count: usize,
        /// The first gaps, one per building and system, for people.
        summary: String,
        /// Every gap.
        gaps: Vec<SupplyGap>,
    },
    /// A `temporary_supply` names a building the model does not have.
    #[error("{file}:{line}: task {task:?}: temporary_supply names building {building:?}, which the model does not have; the buildings are {known:?}")]
    UnknownBuilding {
        /// The manifest.
        file: String,
        /// Line of the task.
        line: usize,
        /// The task.
        task: String,
        /// The name given.
        building: String,
        /// The names the model has.
        known: Vec<String>,
    },
}

/// Whether an element in `state` carries its system.
pub fn in_service(state: LifecycleState) -> bool {
    matches!(state, LifecycleState::Existing | LifecycleState::Renewed | LifecycleState::Built | LifecycleState::Temporary)
}

fn text_of(v: &PropertyValue) -> Option<String> {
    match v {
        PropertyValue::Text(t) | PropertyValue::Other(t) => Some(t.clone()),
        _ => None,
    }
}

fn number_of(v: Option<&PropertyValue>) -> Option<f64> {
    match v? {
        PropertyValue::Real(r) => Some(*r),
        PropertyValue::Integer(i) => Some(*i as f64),
        PropertyValue::Text(t) | PropertyValue::Other(t) => t.trim().parse().ok(),
        PropertyValue::Bool(_) => None,
    }
    .filter(|d: &f64| d.is_finite() && *d > 0.0)
}

/// The system of element `e`, if it is a network element.
fn system_of(e: renewtwin_importers::ElementRef<'_>) -> Option<System> {
    if !["IfcPipe", "IfcCable", "IfcDuct"].iter().any(|c| e.class.starts_with(c)) {
        return None;
    }
    if let Some(s) = e.property("RenewTwin_Survey", "System").and_then(text_of).and_then(|t| System::from_text(&t)) {
        return Some(s);
    }
    let named = e.property_sets.iter().flat_map(|p| &p.properties).filter(|p| p.name == "System" || p.name == "SystemType");
    for p in named {
        if let Some(s) = text_of(&p.value).and_then(|t| System::from_text(&t)) {
            return Some(s);
        }
    }
    if let Some(s) = e.name.and_then(System::from_text) {
        return Some(s);
    }
    e.class.starts_with("IfcCable").then_some(System::Power)
}

/// The world-space vertices of element `i`.
fn vertices(model: &Model, i: usize) -> Vec<[f64; 3]> {
    let mut out = Vec::new();
    for p in model.elements.at(i).placements {
        let Some(mesh) = model.meshes.get(p.mesh.0 as usize) else { continue };
        let m = &p.transform;
        for v in mesh.positions.chunks_exact(3) {
            let (x, y, z) = (f64::from(v[0]), f64::from(v[1]), f64::from(v[2]));
            let w = [
                m[0] * x + m[4] * y + m[8] * z + m[12],
                m[1] * x + m[5] * y + m[9] * z + m[13],
                m[2] * x + m[6] * y + m[10] * z + m[14],
            ];
            if w.iter().all(|c| c.is_finite()) {
                out.push(w);
            }
        }
    }
    out
}

fn sub(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn norm(a: [f64; 3]) -> f64 {
    dot(a, a).sqrt()
}

/// Distance from `p` to the segment `a`–`b`.
pub fn point_segment_distance(p: [f64; 3], a: [f64; 3], b: [f64; 3]) -> f64 {
    let d = sub(b, a);
    let len2 = dot(d, d);
    let t = if len2 > 0.0 { (dot(sub(p, a), d) / len2).clamp(0.0, 1.0) } else { 0.0 };
    norm(sub(p, [a[0] + t * d[0], a[1] + t * d[1], a[2] + t * d[2]]))
}

/// The centre line of a straight run from its vertices, and twice the largest distance of a
/// vertex from it (see the module documentation); `None` for fewer than two distinct points.
pub fn centre_line(points: &[[f64; 3]]) -> Option<([[f64; 3]; 2], f64)> {
    let first = *points.first()?;
    let far = |from: [f64; 3]| points.iter().copied().max_by(|a, b| norm(sub(*a, from)).total_cmp(&norm(sub(*b, from))));
    let p = far(first)?;
    let q = far(p)?;
    let mut ends = [p, q];
    for _ in 0..2 {
        let axis = sub(ends[1], ends[0]);
        let len = norm(axis);
        if len <= 1e-9 {
            return None;
        }
        let unit = [axis[0] / len, axis[1] / len, axis[2] / len];
        let t: Vec<f64> = points.iter().map(|v| dot(sub(*v, ends[0]), unit)).collect();
        let (lo, hi) = t.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), x| (l.min(*x), h.max(*x)));
        let band = (hi - lo) / 10.0;
        let centroid = |keep: &dyn Fn(f64) -> bool| {
            let (mut s, mut n) = ([0.0; 3], 0.0);
            for (v, x) in points.iter().zip(&t) {
                if keep(*x) {
                    for k in 0..3 {
                        s[k] += v[k];
                    }
                    n += 1.0;
                }
            }
            [s[0] / n, s[1] / n, s[2] / n]
        };
        ends = [centroid(&|x| x <= lo + band), centroid(&|x| x >= hi - band)];
    }
    let radius = points.iter().map(|v| point_segment_distance(*v, ends[0], ends[1])).fold(0.0, f64::max);
    Some((ends, 2.0 * radius))
}

/// Plan rectangle `[min x, min y, max x, max y]`.
type PlanRect = [f64; 4];

fn rect_distance(r: &PlanRect, p: [f64; 3]) -> f64 {
    let dx = (r[0] - p[0]).max(0.0).max(p[0] - r[2]);
    let dy = (r[1] - p[1]).max(0.0).max(p[1] - r[3]);
    dx.hypot(dy)
}

/// Links the network `elements` connected through ports (`model.connections`), directly or
/// through elements that are not network elements (walked up to [`MAX_PORT_HOPS`] of them), when
/// they are of one system; returns which network elements have a port connection at all (those
/// are not snapped).
fn port_links(model: &Model, elements: &[NetworkElement], links: &mut [BTreeSet<usize>]) -> Vec<bool> {
    let mut ported = vec![false; elements.len()];
    if model.connections.is_empty() {
        return ported;
    }
    let network: HashMap<usize, usize> = elements.iter().enumerate().map(|(k, n)| (n.element, k)).collect();
    let mut adjacent: HashMap<usize, Vec<usize>> = HashMap::new();
    for &[a, b] in &model.connections {
        let (a, b) = (a as usize, b as usize);
        adjacent.entry(a).or_default().push(b);
        adjacent.entry(b).or_default().push(a);
    }
    for (k, n) in elements.iter().enumerate() {
        let Some(first) = adjacent.get(&n.element) else { continue };
        ported[k] = true;
        // Breadth first through non-network elements only.
        let mut seen: BTreeSet<usize> = BTreeSet::from([n.element]);
        let mut frontier: Vec<usize> = first.clone();
        for _ in 0..MAX_PORT_HOPS {
            let mut next = Vec::new();
            for e in frontier {
                if !seen.insert(e) {
                    continue;
                }
                match network.get(&e) {
                    Some(&j) if elements[j].system == n.system => {
                        links[k].insert(j);
                        links[j].insert(k);
                    }
                    Some(_) => {}
                    None => next.extend(adjacent.get(&e).into_iter().flatten().copied()),
                }
            }
            if next.is_empty() {
                break;
            }
            frontier = next;
        }
    }
    ported
}

/// Most non-network elements (fittings, chambers) walked through between two ported pipes.
const MAX_PORT_HOPS: usize = 4;

/// Grid cell size of the snapping index, metres.
const CELL: f64 = 8.0;

fn cell(v: f64) -> i64 {
    (v / CELL).floor() as i64
}

impl Networks {
    /// Reads the networks of `model` (see the module documentation).
    pub fn from_model(model: &Model, config: &NetworksConfig) -> Self {
        let tol = config.snap_tolerance_m;
        let mut elements: Vec<NetworkElement> = Vec::new();
        for (i, e) in model.elements.iter().enumerate() {
            let Some(system) = system_of(e) else { continue };
            let Some((ends, measured)) = centre_line(&vertices(model, i)) else { continue };
            let diameter_m = number_of(e.property("RenewTwin_Survey", "NominalDiameter"))
                .or_else(|| number_of(e.property("Pset_PipeSegmentTypeCommon", "NominalDiameter")))
                .unwrap_or(measured);
            elements.push(NetworkElement { element: i, system, ends, diameter_m, serves: Vec::new() });
        }
        let names: Vec<(String, String)> = model
            .spatial
            .iter()
            .filter(|n| n.kind == SpatialKind::Building)
            .enumerate()
            .map(|(b, n)| (n.global_id.clone(), n.name.clone().unwrap_or_else(|| format!("building {b}"))))
            .collect();
        let buildings: Vec<NetworkBuilding> =
            names.into_iter().enumerate().map(|(building, (global_id, name))| NetworkBuilding { building, global_id, name }).collect();
        let declared_sources: BTreeSet<usize> =
            model.elements.iter().enumerate().filter(|(_, e)| config.sources.iter().any(|s| s == e.global_id)).map(|(i, _)| i).collect();
        if elements.is_empty() {
            return Networks { elements, links: Vec::new(), buildings, declared_sources, tolerance_m: tol };
        }

        // Building footprints in plan.
        let building_of = buildings_of_elements(model);
        let mut rects: Vec<PlanRect> = vec![[f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY]; buildings.len()];
        for (i, b) in building_of.iter().enumerate() {
            let Some(r) = b.and_then(|b| rects.get_mut(b)) else { continue };
            for v in vertices(model, i) {
                r[0] = r[0].min(v[0]);
                r[1] = r[1].min(v[1]);
                r[2] = r[2].max(v[0]);
                r[3] = r[3].max(v[1]);
            }
        }
        for n in &mut elements {
            n.serves = (0..rects.len())
                .filter(|&b| rects[b][0] <= rects[b][2] && n.ends.iter().any(|p| rect_distance(&rects[b], *p) <= tol))
                .collect();
        }

        // Snapping, through a plan grid of the centre lines grown by the tolerance.
        let mut grid: HashMap<(i64, i64), Vec<usize>> = HashMap::new();
        for (k, n) in elements.iter().enumerate() {
            let [a, b] = n.ends;
            let (x0, x1) = (cell(a[0].min(b[0]) - tol), cell(a[0].max(b[0]) + tol));
            let (y0, y1) = (cell(a[1].min(b[1]) - tol), cell(a[1].max(b[1]) + tol));
            // A centre line long enough to span more cells than this is not a pipe run.
            if (x1 - x0 + 1) * (y1 - y0 + 1) > 10_000 {
                continue;
            }
            for x in x0..=x1 {
                for y in y0..=y1 {
                    grid.entry((x, y)).or_default().push(k);
                }
            }
        }
        let mut links: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); elements.len()];
        let ported = port_links(model, &elements, &mut links);
        for (k, n) in elements.iter().enumerate() {
            if ported[k] {
                continue;
            }
            for p in n.ends {
                for &j in grid.get(&(cell(p[0]), cell(p[1]))).map_or(&[][..], |v| v.as_slice()) {
                    let m = &elements[j];
                    if j != k && !ported[j] && m.system == n.system && point_segment_distance(p, m.ends[0], m.ends[1]) <= tol {
                        links[k].insert(j);
                        links[j].insert(k);
                    }
                }
            }
        }
        Networks {
            elements,
            links: links.into_iter().map(|s| s.into_iter().collect()).collect(),
            buildings,
            declared_sources,
            tolerance_m: tol,
        }
    }

    /// The sources of each system given the elements in service before the works: the declared
    /// ones, else every element at least as wide as the widest in service then.
    pub fn sources(&self, before: &dyn Fn(usize) -> bool) -> Vec<bool> {
        if !self.declared_sources.is_empty() {
            return self.elements.iter().map(|n| self.declared_sources.contains(&n.element)).collect();
        }
        let mut widest: BTreeMap<System, f64> = BTreeMap::new();
        for n in self.elements.iter().filter(|n| before(n.element)) {
            let w = widest.entry(n.system).or_insert(0.0);
            *w = w.max(n.diameter_m);
        }
        self.elements.iter().map(|n| widest.get(&n.system).is_some_and(|w| n.diameter_m >= w - 1e-6)).collect()
    }

    /// The (building, system) pairs served when `up(element)` says which elements are in
    /// service, fed from `sources`.
    pub fn served(&self, sources: &[bool], up: &dyn Fn(usize) -> bool) -> BTreeSet<(usize, System)> {
        let mut reached = vec![false; self.elements.len()];
        let mut stack: Vec<usize> = (0..self.elements.len()).filter(|&k| sources[k] && up(self.elements[k].element)).collect();
        for &k in &stack {
            reached[k] = true;
        }
        while let Some(k) = stack.pop() {
            for &j in &self.links[k] {
                if !reached[j] && up(self.elements[j].element) {
                    reached[j] = true;
                    stack.push(j);
                }
            }
        }
        let mut out = BTreeSet::new();
        for (k, n) in self.elements.iter().enumerate() {
            if reached[k] {
                out.extend(n.serves.iter().map(|&b| (b, n.system)));
            }
        }
        out
    }

    /// Checks that `plan` never leaves a building without a system it had before the works,
    /// except where a task's `temporary_supply` covers it (see the module documentation).
    pub fn check(&self, manifest: &Manifest, plan: &Plan) -> Result<(), SupplyError> {
        if self.elements.is_empty() {
            return Ok(());
        }
        let state = |i: usize, day: i32| plan.schedules.get(i).map_or(LifecycleState::Existing, |s| s.state_on(day));
        let before_day = plan
            .schedules
            .iter()
            .flat_map(|s| s.0.iter().map(|st| st.start))
            .min()
            .unwrap_or(0)
            .min(0)
            .saturating_sub(1);
        let before = |i: usize| in_service(state(i, before_day));
        let sources = self.sources(&before);
        let had = self.served(&sources, &before);
        if had.is_empty() {
            return Ok(());
        }

        // Temporary supplies: (start, end, systems, buildings) of the plan's tasks.
        let scenario = plan.scenario.as_deref().and_then(|s| manifest.scenario(s));
        let mut covers: Vec<(i32, i32, &[System], BTreeSet<usize>)> = Vec::new();
        for (_, spec) in manifest.tasks_for(scenario) {
            let Some(supply) = &spec.temporary_supply else { continue };
            let Some(window) = plan.tasks.iter().find(|t| t.id == spec.id) else { continue };
            let (Some(s), Some(e)) = (window.start, window.end) else { continue };
            let mut set = BTreeSet::new();
            if supply.buildings.is_empty() {
                set.extend(0..self.buildings.len());
            }
            for name in &supply.buildings {
                let Some(b) = self.buildings.iter().find(|b| &b.name == name) else {
                    return Err(SupplyError::UnknownBuilding {
                        file: manifest.file.clone(),
                        line: spec.line,
                        task: spec.id.clone(),
                        building: name.clone(),
                        known: self.buildings.iter().map(|b| b.name.clone()).collect(),
                    });
                };
                set.insert(b.building);
            }
            covers.push((s, e, &supply.systems, set));
        }

        // The days anything changes.
        let mut days: BTreeSet<i32> = BTreeSet::from([0]);
        for n in &self.elements {
            for st in plan.schedules.get(n.element).map_or(&[][..], |s| s.0.as_slice()) {
                days.extend([st.start, st.end].into_iter().filter(|d| *d != NEVER && *d >= 0));
            }
        }
        for (s, e, _, _) in &covers {
            days.extend([*s, *e].into_iter().filter(|d| *d >= 0));
        }
        let days: Vec<i32> = days.into_iter().collect();
        // Open gaps: (building, system) → first day.
        let mut open: BTreeMap<(usize, System), i32> = BTreeMap::new();
        let mut gaps = Vec::new();
        let date = |d: i32| CivilDate::from_sim_day(manifest.start, SimDay(d));
        let close = |(b, s): (usize, System), from: i32, until: Option<i32>, gaps: &mut Vec<SupplyGap>| {
            let building = &self.buildings[b];
            gaps.push(SupplyGap {
                building: building.name.clone(),
                global_id: building.global_id.clone(),
                system: s,
                from_day: from,
                until_day: until,
                from: date(from),
                until: until.map(date),
            });
        };
        for &day in &days {
            let up = |i: usize| in_service(state(i, day));
            let now = self.served(&sources, &up);
            let covered = |b: usize, s: System| covers.iter().any(|(cs, ce, systems, set)| *cs <= day && day < *ce && systems.contains(&s) && set.contains(&b));
            let missing: BTreeSet<(usize, System)> = had.iter().copied().filter(|&(b, s)| !now.contains(&(b, s)) && !covered(b, s)).collect();
            let ended: Vec<(usize, System)> = open.keys().copied().filter(|k| !missing.contains(k)).collect();
            for k in ended {
                if let Some(from) = open.remove(&k) {
                    close(k, from, Some(day), &mut gaps);
                }
            }
            for k in missing {
                open.entry(k).or_insert(day);
            }
        }
        for (k, from) in std::mem::take(&mut open) {
            close(k, from, None, &mut gaps);
        }
        if gaps.is_empty() {
            return Ok(());
        }
        gaps.sort_by(|a, b| (a.from_day, &a.building, a.system).cmp(&(b.from_day, &b.building, b.system)));
        const SHOWN: usize = 8;
        let mut summary: Vec<String> = gaps.iter().take(SHOWN).map(|g| g.to_string()).collect();
        if gaps.len() > SHOWN {
            summary.push(format!("and {} more", gaps.len() - SHOWN));
        }
        Err(SupplyError::Gaps { file: manifest.file.clone(), count: gaps.len(), summary: summary.join("; "), gaps })
    }
}
