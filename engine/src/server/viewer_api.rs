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
//! | `GET /api/viewer/layer?name=phase\|risk\|noise&day=N[&scenario=NAME]` | a category per element and its legend |
//!
//! `scenario` is a scenario name, `base` for the base plan, or absent for the plan the server
//! plays.
//!
//! Resolving a plan walks every task over every element, which for a large scene costs far more
//! than answering from it, and the timeline asks again on every slider step: resolved plans are
//! cached per server, scenario and number of recorded events (events are only ever appended, so
//! the count names the version), and `/api/states` answers per plan and day, both in small
//! bounded caches ([`PlanCache`]).

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, Weak};

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
use crate::renewal::control::PlanControl;
use crate::renewal::plan::{Plan, buildings_of_elements, selects};
use crate::scene::Manifest;
use crate::sensors::emission::{energetic_sum, level_at, working};
use crate::sensors::simulate::SensorSetup;

/// Category byte for an element a layer says nothing about.
const NO_VALUE: u8 = 255;
/// Resolved plans kept (scenarios × event versions × servers in one process). A plan holds a
/// schedule per element (tens of bytes each), so a few plans of a million-element scene are
/// already hundreds of MiB: keep few.
const PLANS_KEPT: usize = 4;
/// `/api/states` answers kept (plans × days), one byte per element each.
const STATES_KEPT: usize = 64;

/// Which plan: the server's plan control (held weakly, which also keeps its address from being
/// reused while the entry lives), the scenario, and how many events were recorded.
#[derive(Debug, Clone)]
struct PlanKey {
    control: Weak<PlanControl>,
    scenario: Option<String>,
    events: usize,
}

impl PartialEq for PlanKey {
    fn eq(&self, other: &Self) -> bool {
        self.control.ptr_eq(&other.control) && self.scenario == other.scenario && self.events == other.events
    }
}

/// The state bytes of one plan on one day.
type StatesEntry = ((PlanKey, i32), Arc<Vec<u8>>);

/// Small caches of resolved plans and of state bytes, oldest dropped first.
#[derive(Debug, Default)]
struct PlanCache {
    plans: VecDeque<(PlanKey, Arc<Plan>)>,
    states: VecDeque<StatesEntry>,
}

impl PlanCache {
    fn plan(&mut self, key: &PlanKey) -> Option<Arc<Plan>> {
        self.plans.retain(|(k, _)| k.control.strong_count() > 0);
        self.plans.iter().find(|(k, _)| k == key).map(|(_, p)| p.clone())
    }

    fn keep_plan(&mut self, key: PlanKey, plan: Arc<Plan>) {
        if self.plans.iter().any(|(k, _)| *k == key) {
            return;
        }
        if self.plans.len() >= PLANS_KEPT {
            self.plans.pop_front();
        }
        self.plans.push_back((key, plan));
    }

    fn states(&mut self, key: &PlanKey, day: i32) -> Option<Arc<Vec<u8>>> {
        self.states.retain(|((k, _), _)| k.control.strong_count() > 0);
        self.states.iter().find(|((k, d), _)| k == key && *d == day).map(|(_, b)| b.clone())
    }

    fn keep_states(&mut self, key: PlanKey, day: i32, bytes: Arc<Vec<u8>>) {
        if self.states.len() >= STATES_KEPT {
            self.states.pop_front();
        }
        self.states.push_back(((key, day), bytes));
    }
}

/// One cache for the process: the key names the server.
static CACHE: Mutex<PlanCache> = Mutex::new(PlanCache { plans: VecDeque::new(), states: VecDeque::new() });

fn cache() -> std::sync::MutexGuard<'static, PlanCache> {
    // A panic while holding the lock leaves a cache that is still consistent.
    CACHE.lock().unwrap_or_else(|p| p.into_inner())
}

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

/// What [`resolve`] gives: the manifest, the model, the plan and its cache key.
type Resolved = (Manifest, Arc<Model>, Arc<Plan>, PlanKey);

/// The manifest (with recorded events), the model, the plan of `scenario` (resolved on a
/// blocking thread, or from the cache) and its cache key.
async fn resolve(state: &AppState, scenario: Option<String>) -> Result<Resolved, ViewerApiError> {
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
        let key = PlanKey { control: Arc::downgrade(&control), scenario: name.clone(), events: manifest.events.len() };
        if let Some(plan) = cache().plan(&key) {
            return Ok((manifest, model, plan, key));
        }
        let plan = Arc::new(Plan::resolve(&manifest, name.as_deref(), &model).map_err(|e| ViewerApiError::Plan(e.to_string()))?);
        cache().keep_plan(key.clone(), plan.clone());
        Ok((manifest, model, plan, key))
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
        Ok((_, _, plan, key)) => {
            let cached = cache().states(&key, day);
            let bytes = cached.unwrap_or_else(|| {
                let bytes = Arc::new(states_on(&plan, day));
                cache().keep_states(key, day, bytes.clone());
                bytes
            });
            ([(header::CONTENT_TYPE, "application/octet-stream"), (header::CACHE_CONTROL, "no-cache")], bytes.to_vec()).into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// One byte per element: its state on `day` under `plan`.
fn states_on(plan: &Plan, day: i32) -> Vec<u8> {
    plan.schedules.iter().map(|s| state_byte(s.state_on(day))).collect()
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
    let (manifest, model, plan, _) = match resolve(&state, None).await {
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

/// A task of element `index`: its project, the task, and the element's own window.
type ElementTask<'m> = (usize, &'m crate::scene::manifest::TaskSpec, Option<(i32, i32)>);

/// The tasks of `plan` that select element `index`, each with the element's own window taken
/// from its schedule (steps are matched to tasks in start order by action).
fn element_tasks<'m>(
    manifest: &'m Manifest,
    model: &Model,
    plan: &Plan,
    index: usize,
    schedule: &ElementSchedule,
) -> Vec<ElementTask<'m>> {
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
    zh: Cow<'static, str>,
    en: Cow<'static, str>,
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

/// `GET /api/viewer/layer?name=phase|risk|noise&day=N&scenario=NAME`.
async fn layer(State(state): State<AppState>, Query(query): Query<DayQuery>) -> Response {
    let day = day_of(&state, &query);
    let name = query.name.clone().unwrap_or_default();
    let (manifest, model, plan, _) = match resolve(&state, query.scenario).await {
        Ok(resolved) => resolved,
        Err(e) => return e.into_response(),
    };
    let layer = match name.as_str() {
        "phase" => phase_layer(&manifest, &model, &plan, day),
        "risk" => risk_layer(&model, day),
        "noise" => {
            let homes = footprints(&state.analytics.population());
            noise_layer(state.analytics.setup(), &homes, &plan, day, model.elements.len())
        }
        other => {
            return error(StatusCode::NOT_FOUND, "unknown_layer", &format!("no layer {other:?}; layers are phase, risk and noise"));
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
        .map(|(k, rgb)| LegendEntry { key: k.key(), zh: k.label_zh().into(), en: k.label_en().into(), rgb })
        .collect();
    LayerJson { name: "phase", day, legend, values }
}

/// Structural risk: the JGJ 125 inspection grade (A–D) of the element's building
/// (`RenewTwin_Building.InspectionGrade`), a pipe's surveyed condition
/// (`RenewTwin_Survey.Condition`: good, fair, poor, critical on the same four steps), and
/// protected heritage. It does not change with the day.
pub(crate) fn risk_layer(model: &Model, day: i32) -> LayerJson {
    let legend = vec![
        LegendEntry { key: "a", zh: "A 级 安全".into(), en: "Grade A, safe".into(), rgb: [67, 160, 71] },
        LegendEntry { key: "b", zh: "B 级 基本安全".into(), en: "Grade B, mostly safe".into(), rgb: [192, 202, 51] },
        LegendEntry { key: "c", zh: "C 级 局部危险".into(), en: "Grade C, partly unsafe".into(), rgb: [251, 140, 0] },
        LegendEntry { key: "d", zh: "D 级 危险".into(), en: "Grade D, unsafe".into(), rgb: [211, 47, 47] },
        LegendEntry { key: "heritage", zh: "文物保护".into(), en: "Protected heritage".into(), rgb: [142, 36, 170] },
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

/// A building's footprint and elements, as the population layer publishes them.
#[derive(Debug, Clone, Deserialize)]
struct HomeFootprint {
    rect: RectJson,
    elements: Vec<u32>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
struct RectJson {
    min: [f64; 2],
    max: [f64; 2],
}

impl RectJson {
    /// Distance from `p` to the rectangle (0 inside).
    fn distance_to(&self, p: [f64; 2]) -> f64 {
        let dx = (self.min[0] - p[0]).max(0.0).max(p[0] - self.max[0]);
        let dy = (self.min[1] - p[1]).max(0.0).max(p[1] - self.max[1]);
        dx.hypot(dy)
    }
}

/// The buildings of the population layer (`model.homes`); none before it is published or when
/// the scene has no population model.
fn footprints(population: &serde_json::Value) -> Vec<HomeFootprint> {
    population.pointer("/model/homes").and_then(|h| serde_json::from_value(h.clone()).ok()).unwrap_or_default()
}

/// The loudest predicted working-hour level at the building's nearest façade on `day`, dB(A):
/// the hour's background plus every noisy task at work (the expected value the nuisance
/// prediction uses, without the simulated sensors' jitter). `None` when the day has no
/// working hours.
fn predicted_noise(setup: &SensorSetup, home: &HomeFootprint, active: &[crate::sensors::works::ActiveWork]) -> Option<f64> {
    let works = energetic_sum(active.iter().filter(|a| a.noisy).flat_map(|a| {
        let lw = setup.config.emission.of(a.action).map_or(f64::NEG_INFINITY, |e| e.sound_power_dba);
        a.positions.iter().map(move |q| level_at(lw, home.rect.distance_to(*q), setup.config.min_distance_m))
    }));
    (0..24)
        .filter(|h| working(&setup.config.working_hours, *h))
        .map(|h| energetic_sum([setup.background_noise(h), works]))
        .reduce(f64::max)
}

/// Noise bands with the legal limits as edges: below the night limit, up to 5 dB(A) under the
/// day limit, within 5 dB(A) of it, above it.
fn noise_band(level: f64, night_limit: f64, day_limit: f64) -> u8 {
    if level >= day_limit {
        3
    } else if level >= day_limit - 5.0 {
        2
    } else if level >= night_limit {
        1
    } else {
        0
    }
}

/// Predicted construction noise at each building on `day` (sensors module, GB 12523-2011
/// limits), for every element of the building; elements outside buildings have no value.
fn noise_layer(setup: &SensorSetup, homes: &[HomeFootprint], plan: &Plan, day: i32, elements: usize) -> LayerJson {
    let limits = &setup.config.limits;
    let (night, day_limit) = (limits.noise_night_dba, limits.noise_day_dba);
    let legend = vec![
        LegendEntry {
            key: "quiet",
            zh: format!("低于夜间限值 {night:.0} dB(A)").into(),
            en: format!("below the night limit, {night:.0} dB(A)").into(),
            rgb: [102, 187, 106],
        },
        LegendEntry {
            key: "moderate",
            zh: format!("中等 {night:.0}–{:.0} dB(A)", day_limit - 5.0).into(),
            en: format!("moderate, {night:.0}–{:.0} dB(A)", day_limit - 5.0).into(),
            rgb: [255, 213, 79],
        },
        LegendEntry {
            key: "near_limit",
            zh: format!("接近昼间限值 {:.0}–{day_limit:.0} dB(A)", day_limit - 5.0).into(),
            en: format!("near the day limit, {:.0}–{day_limit:.0} dB(A)", day_limit - 5.0).into(),
            rgb: [251, 140, 0],
        },
        LegendEntry {
            key: "above_limit",
            zh: format!("超过昼间限值 {day_limit:.0} dB(A)").into(),
            en: format!("above the day limit, {day_limit:.0} dB(A)").into(),
            rgb: [211, 47, 47],
        },
    ];
    let active = setup.works.active_on(plan, day);
    let mut values = vec![NO_VALUE; elements];
    for home in homes {
        let Some(level) = predicted_noise(setup, home, &active) else { continue };
        let band = noise_band(level, night, day_limit);
        for &e in &home.elements {
            if let Some(v) = values.get_mut(e as usize) {
                *v = band;
            }
        }
    }
    LayerJson { name: "noise", day, legend, values }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_bands_have_the_legal_limits_as_edges() {
        assert_eq!(noise_band(54.9, 55.0, 70.0), 0);
        assert_eq!(noise_band(55.0, 55.0, 70.0), 1);
        assert_eq!(noise_band(64.9, 55.0, 70.0), 1);
        assert_eq!(noise_band(65.0, 55.0, 70.0), 2);
        assert_eq!(noise_band(70.0, 55.0, 70.0), 3);
    }

    #[test]
    fn buildings_near_noisy_work_are_louder_than_far_ones() {
        use crate::sensors::works::ActiveWork;
        let setup = SensorSetup::default();
        let home = |x: f64| HomeFootprint { rect: RectJson { min: [x, 0.0], max: [x + 10.0, 10.0] }, elements: vec![] };
        let work = ActiveWork { task: "t".into(), name: "t".into(), action: "demolish", noisy: true, positions: vec![[0.0, 5.0]] };
        let near = predicted_noise(&setup, &home(5.0), std::slice::from_ref(&work)).expect("working hours");
        let far = predicted_noise(&setup, &home(300.0), std::slice::from_ref(&work)).expect("working hours");
        let quiet = predicted_noise(&setup, &home(5.0), &[]).expect("working hours");
        assert!(near > far && far >= quiet, "near {near}, far {far}, background {quiet}");
    }

    #[test]
    fn footprints_are_read_from_the_population_layer_and_absent_before_it() {
        let population = serde_json::json!({ "model": { "homes": [
            { "building": 0, "rect": { "min": [0.0, 0.0], "max": [4.0, 3.0] }, "elements": [2, 5], "name": "b" }
        ] } });
        let homes = footprints(&population);
        assert_eq!(homes.len(), 1);
        assert_eq!(homes[0].elements, vec![2, 5]);
        assert!((homes[0].rect.distance_to([7.0, 7.0]) - 5.0).abs() < 1e-9);
        assert!(footprints(&serde_json::Value::Null).is_empty());
    }

    #[test]
    fn the_plan_cache_answers_the_same_plan_until_an_event_is_recorded_and_stays_bounded() {
        let control = Arc::new(PlanControl::new(
            Manifest::parse("default", crate::scene::DEFAULT_MANIFEST).expect("default manifest"),
            Arc::new(Model::default()),
            None,
            std::sync::mpsc::channel().0,
        ));
        let weak = Arc::downgrade(&control);
        let key = |events| PlanKey { control: weak.clone(), scenario: None, events };
        let mut cache = PlanCache::default();
        let plan = Arc::new(Plan::default());
        assert!(cache.plan(&key(0)).is_none());
        cache.keep_plan(key(0), plan.clone());
        assert!(Arc::ptr_eq(&cache.plan(&key(0)).expect("cached"), &plan));
        assert!(cache.plan(&key(1)).is_none(), "a recorded event makes a new plan");
        for events in 1..=PLANS_KEPT + 3 {
            cache.keep_plan(key(events), Arc::new(Plan::default()));
        }
        assert_eq!(cache.plans.len(), PLANS_KEPT);
        assert!(cache.plan(&key(0)).is_none(), "the oldest plan was dropped");
        for day in 0..STATES_KEPT as i32 + 5 {
            cache.keep_states(key(1), day, Arc::new(vec![day as u8]));
        }
        assert_eq!(cache.states.len(), STATES_KEPT);
        assert_eq!(*cache.states(&key(1), STATES_KEPT as i32).expect("recent day"), vec![STATES_KEPT as u8]);
        drop(control);
        assert!(cache.plan(&key(1)).is_none() && cache.plans.is_empty(), "entries of a stopped server are dropped");
    }

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
