//! Construction works in plan view: for each task of the plan, the buildings and loose
//! elements (pipes, the park) it works on, and where its work is on a given day. This is what
//! drives the simulated sensors, the predicted nuisance and the disrupted population flows.
//!
//! Where the work is on day `d` of a task running `start..end`:
//! - at the centre of each building whose selected elements have a step of the task's action
//!   running on `d` (per-building tasks move from building to building);
//! - for elements outside any building (pipes, landscape), at the centre of each of the `n`
//!   selected ones (in model order) whose slice of the task contains `d` ([`loose_window`]):
//!   with `span = end − start`, element `⌊(d − start) · n / span⌋` when there are no more
//!   elements than days, else every element `k` with `⌊k · span / n⌋ = d − start`: a work
//!   front that advances along the trench at a constant pace.
//!
//! The same slices say which ground each task occupies on which day ([`Works::pieces`]): a
//! per-building task occupies each building only while that building is worked.

use renewtwin_importers::Model;
use serde::Serialize;

use crate::site::{Rect, Site};
use crate::renewal::plan::{Plan, TaskWindow, selects};
use crate::manifest::{Action, Manifest};

/// A task's works in one building.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildingWorks {
    /// Dense building index.
    pub building: usize,
    /// Selected element indices in it.
    pub elements: Vec<usize>,
    /// The building's footprint.
    pub rect: Rect,
}

/// Where one task works.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskSite {
    /// Task id.
    pub id: String,
    /// What it does.
    pub action: Action,
    /// Buildings it works in.
    pub buildings: Vec<BuildingWorks>,
    /// Selected elements outside buildings, with their footprints.
    pub loose: Vec<(usize, Rect)>,
}

impl TaskSite {
    /// The footprints its works occupy over the whole task.
    pub fn zones(&self) -> Vec<Rect> {
        self.buildings.iter().map(|b| b.rect).chain(self.loose.iter().map(|(_, r)| *r)).collect()
    }
}

/// What a piece of works occupies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PieceKey {
    /// A building (dense index) a task works in.
    Building(usize),
    /// An element outside buildings (element index).
    Element(usize),
}

/// One piece of a task's works over the days it is worked.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct WorkPiece {
    /// What it occupies.
    pub key: PieceKey,
    /// Its footprint.
    pub rect: Rect,
    /// First day worked.
    pub start: i32,
    /// Day after the last day worked.
    pub end: i32,
}

/// Days `[start, end)` on which loose element `k` of `n` is worked by a task running
/// `start..end` (`span = end − start` days): with at least a day per element, the days `i`
/// with `⌊i · n / span⌋ = k`; with more elements than days, day `⌊k · span / n⌋` alone.
pub fn loose_window(k: usize, n: usize, start: i32, end: i32) -> (i32, i32) {
    let span = i64::from((end - start).max(1));
    let (k, n) = (k as i64, n.max(1) as i64);
    let at = |v: i64| start + v as i32;
    if n <= span {
        (at((k * span + n - 1) / n), at(((k + 1) * span + n - 1) / n))
    } else {
        let s = at(k * span / n);
        (s, s + 1)
    }
}

/// A task at work on one day, with the points its noise and dust come from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActiveWork {
    /// Task id.
    pub task: String,
    /// Task name.
    pub name: String,
    /// Action key (`retrofit`, `new`, `demolish`, `temporary`).
    pub action: &'static str,
    /// Whether the task is declared noisy.
    pub noisy: bool,
    /// Plan positions of its work today (metres).
    pub positions: Vec<[f64; 2]>,
}

/// Every task's works.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Works {
    /// One per task id of the base plan and of every scenario.
    pub tasks: Vec<TaskSite>,
}

impl Works {
    /// Resolves every task's selector (base plan and all scenarios) against `model`.
    pub fn build(manifest: &Manifest, model: &Model, site: &Site) -> Self {
        let mut specs: Vec<&crate::manifest::TaskSpec> = manifest.tasks_for(None).into_iter().map(|(_, t)| t).collect();
        for s in &manifest.scenarios {
            for (_, t) in manifest.tasks_for(Some(s)) {
                if !specs.iter().any(|x| x.id == t.id) {
                    specs.push(t);
                }
            }
        }
        let tasks = specs
            .into_iter()
            .filter(|t| t.action != Action::Keep)
            .map(|t| {
                let mut buildings: Vec<BuildingWorks> = Vec::new();
                let mut loose = Vec::new();
                for i in 0..model.elements.len() {
                    if !selects(&t.select, model, i) {
                        continue;
                    }
                    match site.building_of.get(i).copied().flatten() {
                        Some(b) => {
                            let rect = site.homes.get(b).map_or(Rect::EMPTY, |h| h.rect);
                            match buildings.iter_mut().find(|w| w.building == b) {
                                Some(w) => w.elements.push(i),
                                None => buildings.push(BuildingWorks { building: b, elements: vec![i], rect }),
                            }
                        }
                        None => {
                            if let Some(r) = site.footprints.get(i).copied().flatten() {
                                loose.push((i, r));
                            }
                        }
                    }
                }
                buildings.retain(|b| !b.rect.is_empty());
                TaskSite { id: t.id.clone(), action: t.action, buildings, loose }
            })
            .collect();
        Works { tasks }
    }

    /// The site of task `id`.
    pub fn task(&self, id: &str) -> Option<&TaskSite> {
        self.tasks.iter().find(|t| t.id == id)
    }

    /// The pieces of `window`'s works under `plan`, each with the days it is worked: a building
    /// from the first to the last day any of its selected elements has a step of the task's
    /// action inside the task's window, a loose element its slice of the window.
    pub fn pieces(&self, plan: &Plan, window: &TaskWindow) -> Vec<WorkPiece> {
        let (Some(start), Some(end), Some(site)) = (window.start, window.end, self.task(&window.id)) else { return Vec::new() };
        let mut out = Vec::new();
        for b in &site.buildings {
            let steps = b
                .elements
                .iter()
                .filter_map(|&i| plan.schedules.get(i))
                .flat_map(|s| s.0.iter())
                .filter(|st| st.action == window.action && start <= st.start && st.end <= end && st.start < st.end);
            let (s, e) = steps.fold((i32::MAX, i32::MIN), |(s, e), st| (s.min(st.start), e.max(st.end)));
            if s < e {
                out.push(WorkPiece { key: PieceKey::Building(b.building), rect: b.rect, start: s, end: e });
            }
        }
        let n = site.loose.len();
        for (k, (i, r)) in site.loose.iter().enumerate() {
            let (s, e) = loose_window(k, n, start, end);
            out.push(WorkPiece { key: PieceKey::Element(*i), rect: *r, start: s, end: e });
        }
        out
    }

    /// The tasks of `plan` at work on `day`, with where.
    pub fn active_on(&self, plan: &Plan, day: i32) -> Vec<ActiveWork> {
        plan.tasks
            .iter()
            .filter(|t| t.works_on(day))
            .filter_map(|t| {
                let site = self.task(&t.id)?;
                let positions = positions_on(site, t, plan, day);
                (!positions.is_empty()).then(|| ActiveWork {
                    task: t.id.clone(),
                    name: t.name.clone(),
                    action: t.action.key(),
                    noisy: t.noisy,
                    positions,
                })
            })
            .collect()
    }
}

fn positions_on(site: &TaskSite, window: &TaskWindow, plan: &Plan, day: i32) -> Vec<[f64; 2]> {
    let running = |i: usize| {
        plan.schedules
            .get(i)
            .is_some_and(|s| s.0.iter().any(|st| st.action == window.action && st.start <= day && day < st.end))
    };
    let mut out: Vec<[f64; 2]> =
        site.buildings.iter().filter(|b| b.elements.iter().any(|&i| running(i))).map(|b| b.rect.centre()).collect();
    if let (Some(start), Some(end)) = (window.start, window.end) {
        let n = site.loose.len();
        for (k, (_, r)) in site.loose.iter().enumerate() {
            let (s, e) = loose_window(k, n, start, end);
            if s <= day && day < e {
                out.push(r.centre());
            }
        }
    }
    out
}
