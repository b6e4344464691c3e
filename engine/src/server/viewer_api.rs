//! What the viewer asks for beyond the live stream: element details for the inspect panel, the
//! spatial tree, viewpoints with their tour captions, scenarios, and the state of every element
//! on any day of any scenario (for the timeline slider and for comparing scenarios).
//!
//! The state on a day is a pure function of the plan ([`ElementSchedule::state_on`]), so a
//! client can seek its own timeline without moving the shared clock. Plans are resolved from the
//! manifest with every event recorded so far, per request, off the async threads.
//!
//! | route | answer |
//! |---|---|
//! | `GET /api/states?day=N[&scenario=NAME]` | one byte per element: its state's index in [`LifecycleState::ALL`] |
//! | `GET /api/viewer/element/{id}` | class, name, storey, building, property sets, tasks, state |
//! | `GET /api/viewer/tree` | the spatial tree and the elements each node holds |
//! | `GET /api/viewer/viewpoints` | the scene's `[[viewpoints]]` |
//! | `GET /api/viewer/scenarios` | the scenarios and which one the server plays |
//! | `GET /api/viewer/layer?name=phase\|risk&day=N[&scenario=NAME]` | a category per element and its legend |
//!
//! `scenario` is a scenario name, `base` for the base plan, or absent for the plan the server
//! plays.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use renewtwin_importers::{Model, SpatialKind};
use renewtwin_protocol::{CivilDate, LifecycleState, PhaseKind, PhaseStatus, SimDay};
use serde::{Deserialize, Serialize};

use super::{AppState, error};
use crate::renewal::ElementSchedule;
use crate::renewal::plan::{Plan, buildings_of_elements, selects};
use crate::scene::Manifest;

/// Category byte for an element a layer says nothing about.
const NO_VALUE: u8 = 255;

/// The routes of this module, merged into the server's router.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/states", get(states))
        .route("/api/viewer/element/{id}", get(element))
        .route("/api/viewer/tree", get(tree))
        .route("/api/viewer/viewpoints", get(viewpoints))
        .route("/api/viewer/scenarios", get(scenarios))
        .route("/api/viewer/layer", get(layer))
}

/// `?day=N&scenario=NAME`.
#[derive(Debug, Deserialize)]
struct DayQuery {
    day: Option<i32>,
    scenario: Option<String>,
    name: Option<String>,
}

/// Why a plan could not be produced for a request.
#[derive(Debug, thiserror::Error)]
enum ViewerApiError {
    #[error("no scenario {0:?}; see /api/viewer/scenarios")]
    UnknownScenario(String),
    #[error("the plan cannot be resolved: {0}")]
    Plan(String),
    #[error("the simulation is not running")]
    Stopped,
}

impl IntoResponse for ViewerApiError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            Self::UnknownScenario(_) => (StatusCode::NOT_FOUND, "unknown_scenario"),
            Self::Plan(_) => (StatusCode::UNPROCESSABLE_ENTITY, "plan_rejected"),
            Self::Stopped => (StatusCode::SERVICE_UNAVAILABLE, "simulation_stopped"),
        };
        error(status, code, &self.to_string())
    }
}

/// The manifest (with recorded events), the model, and the plan of `scenario` resolved on a
/// blocking thread.
async fn resolve(state: &AppState, scenario: Option<String>) -> Result<(Manifest, Arc<Model>, Plan), ViewerApiError> {
    let control = state.plan.clone();
    tokio::task::spawn_blocking(move || {
        let manifest = control.manifest().ok_or(ViewerApiError::Stopped)?;
        let name = match scenario.as_deref() {
            None => control.scenario().map(str::to_owned),
            Some("" | "base") => None,
            Some(name) => {
                if manifest.scenario(name).is_none() {
                    return Err(ViewerApiError::UnknownScenario(name.to_owned()));
                }
                Some(name.to_owned())
            }
        };
        let model = control.model().clone();
        let plan = Plan::resolve(&manifest, name.as_deref(), &model).map_err(|e| ViewerApiError::Plan(e.to_string()))?;
        Ok((manifest, model, plan))
    })
    .await
    .map_err(|_| ViewerApiError::Stopped)?
}

/// The day asked for, else the live day.
fn day_of(state: &AppState, query: &DayQuery) -> i32 {
    query.day.unwrap_or_else(|| state.live.day().0)
}

/// The index of `state` in [`LifecycleState::ALL`].
fn state_byte(state: LifecycleState) -> u8 {
    LifecycleState::ALL.iter().position(|s| *s == state).unwrap_or(0) as u8
}

/// `GET /api/states?day=N&scenario=NAME`: one byte per element.
async fn states(State(state): State<AppState>, Query(query): Query<DayQuery>) -> Response {
    let day = day_of(&state, &query);
    match resolve(&state, query.scenario).await {
        Ok((_, _, plan)) => {
            let bytes: Vec<u8> = plan.schedules.iter().map(|s| state_byte(s.state_on(day))).collect();
            ([(header::CONTENT_TYPE, "application/octet-stream"), (header::CACHE_CONTROL, "no-cache")], bytes).into_response()
        }
        Err(e) => e.into_response(),
    }
}

#[derive(Serialize)]
struct TaskJson {
    id: String,
    name: String,
    project: String,
    phase: PhaseKind,
    action: &'static str,
    /// The element's own window (per-building tasks split the task's window).
    start: Option<i32>,
    end: Option<i32>,
    start_date: Option<CivilDate>,
    end_date: Option<CivilDate>,
}

#[derive(Serialize)]
struct ElementJson<'a> {
    id: u32,
    global_id: &'a str,
    class: &'a str,
    name: Option<&'a str>,
    type_name: Option<&'a str>,
    storey: Option<&'a str>,
    building: Option<&'a str>,
    materials: &'a [String],
    property_sets: &'a [renewtwin_importers::PropertySet],
    state: LifecycleState,
    tasks: Vec<TaskJson>,
}

/// `GET /api/viewer/element/{id}`.
async fn element(State(state): State<AppState>, Path(id): Path<u32>) -> Response {
    let (manifest, model, plan) = match resolve(&state, None).await {
        Ok(resolved) => resolved,
        Err(e) => return e.into_response(),
    };
    let Some(e) = model.elements.get(id as usize) else {
        return error(StatusCode::NOT_FOUND, "not_found", &format!("no element {id}; the scene has {}", model.elements.len()));
    };
    let day = state.live.day().0;
    let start = manifest.start;
    let date = |d: i32| (d != crate::renewal::plan::NEVER).then(|| CivilDate::from_sim_day(start, SimDay(d)));
    let schedule = plan.schedules.get(id as usize).cloned().unwrap_or_default();
    let tasks = element_tasks(&manifest, &model, &plan, id as usize, &schedule)
        .into_iter()
        .map(|(project, task, window)| TaskJson {
            id: task.id.clone(),
            name: task.name.clone(),
            project: manifest.projects[project].name.clone(),
            phase: task.phase,
            action: task.action.key(),
            start: window.map(|w| w.0).filter(|d| *d != crate::renewal::plan::NEVER),
            end: window.map(|w| w.1).filter(|d| *d != crate::renewal::plan::NEVER),
            start_date: window.and_then(|w| date(w.0)),
            end_date: window.and_then(|w| date(w.1)),
        })
        .collect();
    let node_name = |i: Option<usize>| i.and_then(|i| model.spatial.get(i)).and_then(|n| n.name.as_deref());
    let building = e.container.and_then(|c| ancestor_of_kind(&model, c, SpatialKind::Building));
    Json(ElementJson {
        id,
        global_id: &e.global_id,
        class: &e.class,
        name: e.name.as_deref(),
        type_name: e.type_name.as_deref(),
        storey: node_name(e.container),
        building: node_name(building),
        materials: &e.materials,
        property_sets: &e.property_sets,
        state: schedule.state_on(day),
        tasks,
    })
    .into_response()
}

/// The tasks of `plan` that select element `index`, each with the element's own window taken
/// from its schedule (steps are matched to tasks in start order by action).
fn element_tasks<'m>(
    manifest: &'m Manifest,
    model: &Model,
    plan: &Plan,
    index: usize,
    schedule: &ElementSchedule,
) -> Vec<(usize, &'m crate::scene::manifest::TaskSpec, Option<(i32, i32)>)> {
    let scenario = plan.scenario.as_deref().and_then(|s| manifest.scenario(s));
    let mut used = vec![false; schedule.0.len()];
    let mut out = Vec::new();
    let mut selected: Vec<_> = manifest.tasks_for(scenario).into_iter().filter(|(_, t)| selects(&t.select, model, index)).collect();
    let start_of = |id: &str| plan.tasks.iter().find(|w| w.id == id).and_then(|w| w.start).unwrap_or(i32::MAX);
    selected.sort_by_key(|(_, t)| start_of(&t.id));
    for (project, task) in selected {
        let window = schedule.0.iter().enumerate().find(|(i, s)| !used[*i] && s.action == task.action).map(|(i, s)| {
            used[i] = true;
            (s.start, s.end)
        });
        out.push((project, task, window));
    }
    out
}

/// The nearest node of `kind` at or above spatial node `node`.
fn ancestor_of_kind(model: &Model, mut node: usize, kind: SpatialKind) -> Option<usize> {
    for _ in 0..model.spatial.len() {
        let n = model.spatial.get(node)?;
        if n.kind == kind {
            return Some(node);
        }
        node = n.parent?;
    }
    None
}

#[derive(Serialize)]
struct TreeNode<'a> {
    id: usize,
    parent: Option<usize>,
    kind: &'static str,
    class: &'a str,
    name: Option<&'a str>,
    global_id: &'a str,
    /// Elements contained directly in this node.
    elements: Vec<u32>,
}

fn kind_key(kind: SpatialKind) -> &'static str {
    match kind {
        SpatialKind::Project => "project",
        SpatialKind::Site => "site",
        SpatialKind::Building => "building",
        SpatialKind::Storey => "storey",
        SpatialKind::Space => "space",
        SpatialKind::Other => "other",
    }
}

/// `GET /api/viewer/tree`: every spatial node with its parent and the elements it holds
/// directly; elements without a container are listed under `unplaced`.
async fn tree(State(state): State<AppState>) -> Response {
    let model = state.plan.model().clone();
    let mut held: Vec<Vec<u32>> = vec![Vec::new(); model.spatial.len()];
    let mut unplaced = Vec::new();
    for (i, e) in model.elements.iter().enumerate() {
        match e.container.and_then(|c| held.get_mut(c)) {
            Some(list) => list.push(i as u32),
            None => unplaced.push(i as u32),
        }
    }
    let nodes: Vec<TreeNode<'_>> = model
        .spatial
        .iter()
        .zip(held)
        .enumerate()
        .map(|(id, (n, elements))| TreeNode {
            id,
            parent: n.parent,
            kind: kind_key(n.kind),
            class: &n.class,
            name: n.name.as_deref(),
            global_id: &n.global_id,
            elements,
        })
        .collect();
    Json(serde_json::json!({ "nodes": nodes, "unplaced": unplaced })).into_response()
}

/// `GET /api/viewer/viewpoints`.
async fn viewpoints(State(state): State<AppState>) -> Response {
    match state.plan.manifest() {
        Some(m) => Json(m.viewpoints).into_response(),
        None => ViewerApiError::Stopped.into_response(),
    }
}

/// `GET /api/viewer/scenarios`.
async fn scenarios(State(state): State<AppState>) -> Response {
    let Some(m) = state.plan.manifest() else { return ViewerApiError::Stopped.into_response() };
    let list: Vec<_> = m.scenarios.iter().map(|s| serde_json::json!({ "name": s.name, "title": s.title })).collect();
    Json(serde_json::json!({
        "playing": state.plan.scenario(),
        "plan_start": m.start,
        "plan_end": state.scene.plan_end,
        "scenarios": list,
    }))
    .into_response()
}

#[derive(Serialize)]
pub(crate) struct LegendEntry {
    key: &'static str,
    zh: &'static str,
    en: &'static str,
    pub(crate) rgb: [u8; 3],
}

/// A colour layer; `renewtwin render --colour` draws the same ones.
#[derive(Serialize)]
pub(crate) struct LayerJson {
    name: &'static str,
    day: i32,
    pub(crate) legend: Vec<LegendEntry>,
    /// Index into `legend` per element; 255 where the layer says nothing.
    pub(crate) values: Vec<u8>,
}

const PHASE_RGB: [[u8; 3]; 7] =
    [[120, 144, 156], [121, 134, 203], [255, 202, 40], [171, 71, 188], [239, 108, 0], [38, 166, 154], [102, 187, 106]];

/// `GET /api/viewer/layer?name=phase|risk&day=N&scenario=NAME`.
async fn layer(State(state): State<AppState>, Query(query): Query<DayQuery>) -> Response {
    let day = day_of(&state, &query);
    let name = query.name.clone().unwrap_or_default();
    let (manifest, model, plan) = match resolve(&state, query.scenario).await {
        Ok(resolved) => resolved,
        Err(e) => return e.into_response(),
    };
    let layer = match name.as_str() {
        "phase" => phase_layer(&manifest, &model, &plan, day),
        "risk" => risk_layer(&model, day),
        other => {
            return error(StatusCode::NOT_FOUND, "unknown_layer", &format!("no layer {other:?}; layers are phase and risk"));
        }
    };
    Json(layer).into_response()
}

/// Each element's project phase that is active (or blocked) on `day`; the first project whose
/// tasks select the element counts.
pub(crate) fn phase_layer(manifest: &Manifest, model: &Model, plan: &Plan, day: i32) -> LayerJson {
    let scenario = plan.scenario.as_deref().and_then(|s| manifest.scenario(s));
    let tasks = manifest.tasks_for(scenario);
    let mut project_of = vec![None; model.elements.len()];
    for (project, task) in &tasks {
        for (i, slot) in project_of.iter_mut().enumerate() {
            if slot.is_none() && selects(&task.select, model, i) {
                *slot = Some(*project);
            }
        }
    }
    let current = |project: usize| {
        plan.phases
            .iter()
            .filter(|w| w.project == project)
            .find(|w| matches!(w.status_on(day), PhaseStatus::Active | PhaseStatus::Blocked))
            .map(|w| w.kind)
    };
    let values = project_of
        .iter()
        .map(|p| {
            p.and_then(current)
                .and_then(|k| PhaseKind::ALL.iter().position(|x| *x == k))
                .map_or(NO_VALUE, |i| i as u8)
        })
        .collect();
    let legend = PhaseKind::ALL
        .iter()
        .zip(PHASE_RGB)
        .map(|(k, rgb)| LegendEntry { key: k.key(), zh: k.label_zh(), en: k.label_en(), rgb })
        .collect();
    LayerJson { name: "phase", day, legend, values }
}

/// Structural risk: the JGJ 125 inspection grade (A–D) of the element's building
/// (`RenewTwin_Building.InspectionGrade`), a pipe's surveyed condition
/// (`RenewTwin_Survey.Condition`: good, fair, poor, critical on the same four steps), and
/// protected heritage. It does not change with the day.
pub(crate) fn risk_layer(model: &Model, day: i32) -> LayerJson {
    let legend = vec![
        LegendEntry { key: "a", zh: "A 级 安全", en: "Grade A, safe", rgb: [67, 160, 71] },
        LegendEntry { key: "b", zh: "B 级 基本安全", en: "Grade B, mostly safe", rgb: [192, 202, 51] },
        LegendEntry { key: "c", zh: "C 级 局部危险", en: "Grade C, partly unsafe", rgb: [251, 140, 0] },
        LegendEntry { key: "d", zh: "D 级 危险", en: "Grade D, unsafe", rgb: [211, 47, 47] },
        LegendEntry { key: "heritage", zh: "文物保护", en: "Protected heritage", rgb: [142, 36, 170] },
    ];
    let grade_index = |text: &str| match text.trim().to_ascii_uppercase().chars().next() {
        Some('A') => Some(0u8),
        Some('B') => Some(1),
        Some('C') => Some(2),
        Some('D') => Some(3),
        _ => None,
    };
    let text_of = |v: &renewtwin_importers::PropertyValue| match v {
        renewtwin_importers::PropertyValue::Text(s) | renewtwin_importers::PropertyValue::Other(s) => Some(s.clone()),
        _ => None,
    };
    let buildings = buildings_of_elements(model);
    let building_nodes: Vec<usize> =
        model.spatial.iter().enumerate().filter(|(_, n)| n.kind == SpatialKind::Building).map(|(i, _)| i).collect();
    let building_grade: Vec<Option<u8>> = building_nodes
        .iter()
        .map(|&n| model.spatial[n].property("RenewTwin_Building", "InspectionGrade").and_then(text_of).and_then(|g| grade_index(&g)))
        .collect();
    let values = model
        .elements
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let pset = |set: &str, name: &str| {
                e.property_sets.iter().find(|p| p.name == set).and_then(|p| p.get(name)).and_then(text_of)
            };
            if e.property_sets.iter().any(|p| p.name == "RenewTwin_Heritage") {
                return 4;
            }
            if let Some(condition) = pset("RenewTwin_Survey", "Condition") {
                // Survey conditions: GOOD, FAIR, POOR, CRITICAL (PLANNED for new pipes).
                return match condition.to_ascii_uppercase().as_str() {
                    "GOOD" => 0,
                    "FAIR" => 1,
                    "POOR" => 2,
                    "CRITICAL" => 3,
                    _ => NO_VALUE,
                };
            }
            buildings[i].and_then(|b| building_grade.get(b).copied().flatten()).unwrap_or(NO_VALUE)
        })
        .collect();
    LayerJson { name: "risk", day, legend, values }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_bytes_follow_the_protocol_order() {
        for (i, s) in LifecycleState::ALL.iter().enumerate() {
            assert_eq!(usize::from(state_byte(*s)), i);
        }
    }

    #[test]
    fn the_phase_legend_names_every_phase_once() {
        assert_eq!(PHASE_RGB.len(), PhaseKind::ALL.len());
        let mut colours = PHASE_RGB.to_vec();
        colours.sort_unstable();
        colours.dedup();
        assert_eq!(colours.len(), PHASE_RGB.len());
    }
}
