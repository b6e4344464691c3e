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
//! | `GET /api/viewer/sun?date=YYYY-MM-DD\|standard\|dahan\|dongzhi[&year=YYYY]&time=HH:MM` | the sun over the site then (true solar time): azimuth, elevation, direction in the scene frame, and the scene's sunlight rule |
//! | `GET /api/viewer/scenarios` | the scenarios (each with its design variants' models, the elements each adds, and how many base elements they replace) and which one the server plays |
//! | `GET /api/viewer/layer?name=phase\|risk\|noise\|sunlight&day=N[&scenario=NAME]` | a category per element and its legend |
//!
//! `scenario` is a scenario name, `base` for the base plan, or absent for the plan the server
//! plays.
//!
//! Resolving a plan walks every task over every element, which for a large scene costs far more
//! than answering from it, and the timeline asks again on every slider step: resolved plans are
//! cached per server, scenario and number of recorded events (events are only ever appended, so
//! the count names the version), and `/api/states` answers per plan and day, both in small
//! bounded caches ([`PlanCache`]).

use axum::body::Bytes;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use renewtwin_importers::{Model, SpatialKind};
use renewtwin_protocol::{CivilDate, LifecycleState, PhaseKind, SimDay};
use serde::{Deserialize, Serialize};

use renewtwin_twin::layers::{self, LayerName};
use renewtwin_twin::manifest::Manifest;
use renewtwin_twin::renewal::ElementSchedule;
use renewtwin_twin::renewal::plan::{Plan, selects};

use super::{AppState, error};
/// Resolved plans kept (scenarios × event versions × servers in one process). A plan holds a
/// schedule per element (tens of bytes each), so a few plans of a million-element scene are
/// already hundreds of MiB: keep few.
const PLANS_KEPT: usize = 4;
/// `/api/states` answers kept (plans × days), one byte per element each.
const STATES_KEPT: usize = 64;
/// Laid-out tilesets kept (plan, day, URI suffix), with their tiles' bytes.
const TILESETS_KEPT: usize = 2;
/// The most tile bytes one kept tileset may hold: a client such as CesiumJS asks for a
/// tileset's tiles one by one, and laying the whole tileset out again for each tile costs a
/// district minutes. A tileset over this is not kept: each of its tiles is laid out on request.
const TILESET_CACHE_BYTES: usize = 256 << 20;

/// Which plan of this server: the scenario, whether it is played as chosen (following the
/// scenarios choice consultations adopted) or fixed (a comparison), and how many events were
/// recorded.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct PlanKey {
    scenario: Option<String>,
    fixed: bool,
    events: usize,
}

/// The state bytes of one plan on one day.
type StatesEntry = ((PlanKey, i32), Arc<Vec<u8>>);

/// Small caches of resolved plans and of state bytes, oldest dropped first.
#[derive(Debug, Default)]
struct PlanCache {
    plans: VecDeque<(PlanKey, Arc<Plan>)>,
    states: VecDeque<StatesEntry>,
    /// Windows' sun per set of standing elements (a hash of it): ray casting takes a while,
    /// and the set changes only on the days works finish.
    sunlight: VecDeque<(u64, Arc<Vec<renewtwin_twin::sunlight::WindowSun>>)>,
    /// Laid-out tilesets with every tile's bytes, by plan, day and URI suffix.
    tilesets: VecDeque<(TilesetKey, Arc<LaidTileset>)>,
}

/// Which tileset: the plan, the day and the URI suffix its content URIs carry.
type TilesetKey = (PlanKey, i32, String);

/// A tileset and its tiles, laid out once.
#[derive(Debug)]
struct LaidTileset {
    tileset: serde_json::Value,
    tiles: Vec<Bytes>,
}

impl PlanCache {
    fn plan(&mut self, key: &PlanKey) -> Option<Arc<Plan>> {
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
        self.states.iter().find(|((k, d), _)| k == key && *d == day).map(|(_, b)| b.clone())
    }

    fn sunlight(&mut self, stands: u64) -> Option<Arc<Vec<renewtwin_twin::sunlight::WindowSun>>> {
        self.sunlight.iter().find(|(k, _)| *k == stands).map(|(_, w)| w.clone())
    }

    fn keep_sunlight(&mut self, stands: u64, windows: Arc<Vec<renewtwin_twin::sunlight::WindowSun>>) {
        if self.sunlight.len() >= PLANS_KEPT * 2 {
            self.sunlight.pop_front();
        }
        self.sunlight.push_back((stands, windows));
    }

    fn tileset(&mut self, key: &TilesetKey) -> Option<Arc<LaidTileset>> {
        self.tilesets.iter().find(|(k, _)| k == key).map(|(_, t)| t.clone())
    }

    fn keep_tileset(&mut self, key: TilesetKey, laid: Arc<LaidTileset>) {
        if self.tilesets.len() >= TILESETS_KEPT {
            self.tilesets.pop_front();
        }
        self.tilesets.push_back((key, laid));
    }

    fn keep_states(&mut self, key: PlanKey, day: i32, bytes: Arc<Vec<u8>>) {
        if self.states.len() >= STATES_KEPT {
            self.states.pop_front();
        }
        self.states.push_back(((key, day), bytes));
    }
}

/// The viewer's caches of one server, owned by its [`AppState`].
#[derive(Debug, Default)]
pub struct ViewerCaches(Mutex<PlanCache>);

impl ViewerCaches {
    fn lock(&self) -> std::sync::MutexGuard<'_, PlanCache> {
        // A panic while holding the lock leaves a cache that is still consistent.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The routes of this module, merged into the server's router.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/states", get(states))
        .route("/api/viewer/element/{id}", get(element))
        .route("/api/viewer/tree", get(tree))
        .route("/api/viewer/viewpoints", get(viewpoints))
        .route("/api/viewer/sun", get(sun))
        .route("/api/viewer/scenarios", get(scenarios))
        .route("/api/viewer/layer", get(layer))
        .route("/api/export/scene.glb", get(export_glb))
        .route("/api/export/tiles/tileset.json", get(export_tileset))
        .route("/api/export/tiles/tiles/{tile}", get(export_tile))
}

/// `?date=YYYY-MM-DD&scenario=NAME` of `/api/export/scene.glb`.
#[derive(Debug, Deserialize)]
struct ExportQuery {
    date: Option<String>,
    scenario: Option<String>,
}

/// Exports running at once; a third request is told to come back (each walks the whole model).
static EXPORTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// A `Write` that hands 64 KiB chunks to the response body through a bounded channel, so an
/// export holds at most a few chunks however large the scene.
struct ChunkWriter {
    buffer: Vec<u8>,
    tx: tokio::sync::mpsc::Sender<std::io::Result<axum::body::Bytes>>,
}

const CHUNK: usize = 64 * 1024;

impl std::io::Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(data);
        if self.buffer.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = axum::body::Bytes::from(std::mem::replace(
            &mut self.buffer,
            Vec::with_capacity(CHUNK),
        ));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away")
        })
    }
}

/// `GET /api/export/scene.glb?date=YYYY-MM-DD&scenario=NAME`: the scene on that day (the live
/// day when absent) as glTF 2.0 binary, streamed as it is written (`renewtwin_exporters::gltf`).
async fn export_glb(State(state): State<AppState>, Query(query): Query<ExportQuery>) -> Response {
    let Ok(permit) = EXPORTS.try_acquire() else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "two exports are running; try again shortly",
        );
    };
    let (manifest, model, plan, _) = match resolve(&state, query.scenario).await {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let start = state.live.plan_start();
    let day = match query.date.as_deref() {
        None => state.live.day().0,
        Some(text) => match renewtwin_protocol::CivilDate::parse_iso(text) {
            Some(d) => {
                (d.days_since_epoch() - start.days_since_epoch()).clamp(-100_000, 100_000) as i32
            }
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    &format!("date {text:?} is not YYYY-MM-DD"),
                );
            }
        },
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel::<std::io::Result<axum::body::Bytes>>(4);
    let wire = state.scene.clone();
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let scene = renewtwin_exporters::gltf::Scene {
            manifest: &manifest,
            model: &model,
            plan: &plan,
        };
        let mut writer = ChunkWriter {
            buffer: Vec::with_capacity(CHUNK),
            tx: tx.clone(),
        };
        // The server keeps the meshes only as the encoded frames it streams: export from those.
        let written = renewtwin_exporters::gltf::WireGeometry::new(&wire.mesh_frames)
            .and_then(|mut geometry| renewtwin_exporters::gltf::write_glb(&scene, &mut geometry, day, &mut writer, |_| {}));
        if let Err(e) = written {
            tracing::warn!(error = %e, "the GLB export stopped");
            let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
        }
    });
    let body =
        axum::body::Body::from_stream(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)));
    (
        [
            (header::CONTENT_TYPE, "model/gltf-binary"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"scene.glb\"",
            ),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// The day of an export's `?date=` (the live day when absent), or why the date is refused (a 400).
fn export_day(state: &AppState, date: Option<&str>) -> Result<i32, String> {
    let start = state.live.plan_start();
    match date {
        None => Ok(state.live.day().0),
        Some(text) => match renewtwin_protocol::CivilDate::parse_iso(text) {
            Some(d) => Ok((d.days_since_epoch() - start.days_since_epoch()).clamp(-100_000, 100_000) as i32),
            None => Err(format!("date {text:?} is not YYYY-MM-DD")),
        },
    }
}

/// Keeps every tile while their bytes stay within [`TILESET_CACHE_BYTES`]
/// (`renewtwin_exporters::tiles::TileSink`); past that, only the one asked for.
struct KeptTiles {
    wanted: usize,
    /// The most bytes kept ([`TILESET_CACHE_BYTES`]).
    bound: usize,
    /// Every tile so far, by index; `None` once over the bound.
    tiles: Option<Vec<Vec<u8>>>,
    /// The tile asked for, once the others are no longer kept.
    wanted_bytes: Option<Vec<u8>>,
}

impl KeptTiles {
    fn new(wanted: usize, bound: usize) -> Self {
        Self { wanted, bound, tiles: Some(Vec::new()), wanted_bytes: None }
    }

    /// Stops keeping every tile (over the bound, or out of order), keeping the one asked for.
    fn give_up(&mut self) {
        if let Some(mut tiles) = self.tiles.take()
            && self.wanted < tiles.len()
        {
            self.wanted_bytes = Some(std::mem::take(&mut tiles[self.wanted]));
        }
    }

    /// Gives up when the tiles kept are over the bound.
    fn settle(&mut self) {
        if self.tiles.as_ref().is_some_and(|t| t.iter().map(Vec::len).sum::<usize>() > self.bound) {
            self.give_up();
        }
    }

    /// Every tile when all were kept, and the one asked for.
    fn finish(mut self) -> (Option<Vec<Vec<u8>>>, Option<Vec<u8>>) {
        self.settle();
        match self.tiles {
            Some(tiles) => {
                let wanted = tiles.get(self.wanted).cloned();
                (Some(tiles), wanted)
            }
            None => (None, self.wanted_bytes),
        }
    }
}

impl renewtwin_exporters::tiles::TileSink for KeptTiles {
    fn open(&mut self, index: usize) -> std::io::Result<Option<Box<dyn std::io::Write + '_>>> {
        // Tiles come in index order: the ones before are final now.
        self.settle();
        if self.tiles.as_ref().is_some_and(|t| t.len() != index) {
            self.give_up();
        }
        if let Some(tiles) = self.tiles.as_mut() {
            tiles.push(Vec::new());
            return Ok(tiles.last_mut().map(|t| Box::new(t) as Box<dyn std::io::Write + '_>));
        }
        if index == self.wanted {
            return Ok(Some(Box::new(self.wanted_bytes.insert(Vec::new()))));
        }
        Ok(None)
    }
}

/// Lays the tileset of the scene out on a blocking thread, keeping tile `wanted`'s bytes: the
/// tileset (content URIs carrying `?date=` and `?scenario=` so every tile is of the same day)
/// and the tile, or the error answer.
async fn tiles_of(state: AppState, query: ExportQuery, wanted: Option<usize>) -> Result<(serde_json::Value, Option<Bytes>), Response> {
    let day = export_day(&state, query.date.as_deref()).map_err(|why| error(StatusCode::BAD_REQUEST, "bad_request", &why))?;
    let (manifest, model, plan, plan_key) = resolve(&state, query.scenario.clone()).await.map_err(IntoResponse::into_response)?;
    let date = CivilDate::from_sim_day(manifest.start, SimDay(day));
    let mut suffix = format!("?date={date}");
    if let Some(s) = &query.scenario {
        suffix.push_str("&scenario=");
        suffix.extend(s.bytes().flat_map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => vec![b as char],
            _ => format!("%{b:02X}").chars().collect(),
        }));
    }
    // A tileset laid out before for the same plan, day and URIs answers from memory.
    let key: TilesetKey = (plan_key, day, suffix.clone());
    if let Some(laid) = state.caches.lock().tileset(&key) {
        return Ok((laid.tileset.clone(), wanted.and_then(|n| laid.tiles.get(n).cloned())));
    }
    let Ok(permit) = EXPORTS.try_acquire() else {
        return Err(error(StatusCode::SERVICE_UNAVAILABLE, "busy", "two exports are running; try again shortly"));
    };
    let wire = state.scene.clone();
    let caches = state.caches.clone();
    let laid = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let scene = renewtwin_exporters::gltf::Scene { manifest: &manifest, model: &model, plan: &plan };
        let options = renewtwin_exporters::tiles::TilesOptions { uri_suffix: suffix, ..Default::default() };
        let mut sink = KeptTiles::new(wanted.unwrap_or(usize::MAX), TILESET_CACHE_BYTES);
        // The server keeps the meshes only as the encoded frames it streams: export from those.
        let mut geometry = renewtwin_exporters::gltf::WireGeometry::new(&wire.mesh_frames)
            .map_err(renewtwin_exporters::tiles::TilesError::Geometry)?;
        let (tileset, _) = renewtwin_exporters::tiles::write_tiles(&scene, &mut geometry, day, &options, &mut sink, |_| {})?;
        let (all, one) = sink.finish();
        if let Some(all) = all {
            let tiles = all.into_iter().map(Bytes::from).collect();
            caches.lock().keep_tileset(key, Arc::new(LaidTileset { tileset: tileset.clone(), tiles }));
        }
        Ok::<_, renewtwin_exporters::tiles::TilesError>((tileset, one.map(Bytes::from)))
    })
    .await
    .map_err(|_| error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the tiles export stopped"))?;
    laid.map_err(|e| match e {
        renewtwin_exporters::tiles::TilesError::NoGeoreference => error(StatusCode::CONFLICT, "no_georeference", &e.to_string()),
        other => {
            tracing::warn!(error = %other, "the tiles export stopped");
            let mut message = other.to_string();
            let mut source = std::error::Error::source(&other);
            while let Some(s) = source {
                message.push_str(&format!(": {s}"));
                source = s.source();
            }
            error(StatusCode::INTERNAL_SERVER_ERROR, "export_failed", &message)
        }
    })
}

/// `GET /api/export/tiles/tileset.json?date=YYYY-MM-DD&scenario=NAME`: the scene on that day as
/// a 3D Tiles 1.1 tileset placed by its georeference (`renewtwin_exporters::tiles`); its tiles
/// are served beside it. 409 when the scene has no georeference.
async fn export_tileset(State(state): State<AppState>, Query(query): Query<ExportQuery>) -> Response {
    match tiles_of(state, query, None).await {
        Ok((tileset, _)) => ([(header::CACHE_CONTROL, "no-cache")], Json(tileset)).into_response(),
        Err(r) => r,
    }
}

/// `GET /api/export/tiles/tiles/{N}.glb?date=&scenario=`: tile N of that tileset (at most
/// [`renewtwin_exporters::tiles::DEFAULT_MAX_TILE_BYTES`]).
async fn export_tile(State(state): State<AppState>, Path(tile): Path<String>, Query(query): Query<ExportQuery>) -> Response {
    let Some(n) = tile.strip_suffix(".glb").and_then(|n| n.parse::<usize>().ok()) else {
        return error(StatusCode::NOT_FOUND, "not_found", &format!("no tile {tile:?}; tiles are N.glb"));
    };
    match tiles_of(state, query, Some(n)).await {
        Ok((_, Some(glb))) => (
            [(header::CONTENT_TYPE, "model/gltf-binary"), (header::CACHE_CONTROL, "no-cache")],
            glb,
        )
            .into_response(),
        Ok((_, None)) => error(StatusCode::NOT_FOUND, "not_found", &format!("the tileset has no tile {n}")),
        Err(r) => r,
    }
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
    #[error("the plan cannot be resolved")]
    Plan(#[source] renewtwin_twin::renewal::plan::PlanError),
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
        let message = match &self {
            Self::Plan(e) => format!("{self}: {e}"),
            _ => self.to_string(),
        };
        error(status, code, &message)
    }
}

/// What [`resolve`] gives: the manifest, the model, the plan and its cache key.
type Resolved = (Manifest, Arc<Model>, Arc<Plan>, PlanKey);

/// The manifest (with recorded events), the model, the plan of `scenario` (resolved on a
/// blocking thread, or from the cache) and its cache key.
async fn resolve(state: &AppState, scenario: Option<String>) -> Result<Resolved, ViewerApiError> {
    let control = state.plan.clone();
    let caches = state.caches.clone();
    tokio::task::spawn_blocking(move || {
        let manifest = control.manifest().ok_or(ViewerApiError::Stopped)?;
        // Asked for by name: that scenario as if played from the start (to compare); not
        // named: the plan played, which follows the choices consultations made.
        let fixed = scenario.is_some();
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
        let key = PlanKey { scenario: name.clone(), fixed, events: manifest.events.len() };
        if let Some(plan) = caches.lock().plan(&key) {
            return Ok((manifest, model, plan, key));
        }
        let plan = if fixed { Plan::resolve_fixed(&manifest, name.as_deref(), &model) } else { Plan::resolve(&manifest, name.as_deref(), &model) };
        let plan = Arc::new(plan.map_err(ViewerApiError::Plan)?);
        caches.lock().keep_plan(key.clone(), plan.clone());
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
            let cached = state.caches.lock().states(&key, day);
            let bytes = cached.unwrap_or_else(|| {
                let bytes = Arc::new(states_on(&plan, day));
                state.caches.lock().keep_states(key, day, bytes.clone());
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
    materials: renewtwin_importers::Strs<'a>,
    property_sets: renewtwin_importers::Sets<'a>,
    state: LifecycleState,
    tasks: Vec<TaskJson>,
    /// For a window the scene's sunlight rule evaluates: its hours of direct sun on the
    /// standard day as surveyed, on the day shown and once the plan is done, against the
    /// standard.
    #[serde(skip_serializing_if = "Option::is_none")]
    sunlight: Option<serde_json::Value>,
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
    let date = |d: i32| (d != renewtwin_twin::renewal::plan::NEVER).then(|| CivilDate::from_sim_day(start, SimDay(d)));
    let schedule = plan.schedules.get(id as usize).cloned().unwrap_or_default();
    let tasks = element_tasks(&manifest, &model, &plan, id as usize, &schedule)
        .into_iter()
        .map(|(project, task, window)| TaskJson {
            id: task.id.clone(),
            name: task.name.clone(),
            project: manifest.projects[project].name.clone(),
            phase: task.phase,
            action: task.action.key(),
            start: window.map(|w| w.0).filter(|d| *d != renewtwin_twin::renewal::plan::NEVER),
            end: window.map(|w| w.1).filter(|d| *d != renewtwin_twin::renewal::plan::NEVER),
            start_date: window.and_then(|w| date(w.0)),
            end_date: window.and_then(|w| date(w.1)),
        })
        .collect();
    let node_name = |i: Option<usize>| i.and_then(|i| model.spatial.get(i)).and_then(|n| n.name.as_deref());
    let building = e.container.and_then(|c| ancestor_of_kind(&model, c, SpatialKind::Building));
    let sunlight = window_sunlight(&state, &manifest, &model, &plan, id as usize, day).await;
    Json(ElementJson {
        id,
        global_id: e.global_id,
        class: e.class,
        name: e.name,
        type_name: e.type_name,
        storey: node_name(e.container),
        building: node_name(building),
        materials: e.materials,
        property_sets: e.property_sets,
        state: schedule.state_on(day),
        tasks,
        sunlight,
    })
    .into_response()
}

/// Window `index`'s sun on the scene's standard day (GB 50180-2018 §4.0.9 by default, or the
/// scene's `[sunlight]` rule): hours as surveyed (`before`), with what stands on `day` (`now`)
/// and once every task is done (`after`), and the verdict once done: `meets`, `below` (below
/// already as surveyed) or `taken_below` (the works take it below). `None` for an element the
/// rule does not evaluate, or a scene without a location.
async fn window_sunlight(state: &AppState, manifest: &Manifest, model: &Arc<Model>, plan: &Arc<Plan>, index: usize, day: i32) -> Option<serde_json::Value> {
    use renewtwin_twin::{renewal, sunlight};
    let geometry = state.plan.sunlight().clone();
    if !geometry.evaluates(index) {
        return None;
    }
    let (manifest, model, plan) = (manifest.clone(), model.clone(), plan.clone());
    let work = move || -> Option<serde_json::Value> {
        let frame = sunlight::SiteFrame::of(&model).ok()?;
        let rule = &manifest.sunlight;
        let year = rule.year.unwrap_or(manifest.start.year);
        let hours = |stands: Vec<bool>| geometry.hours_of(index, &model, &stands, rule, frame, year).map(|w| w.hours);
        let (before, now, after) =
            (hours(renewal::standing_before(&plan)), hours(renewal::standing_on(&plan, day)), hours(renewal::standing_after(&plan)));
        let meets = |h: f64| h + 1e-9 >= rule.min_hours;
        let verdict = match (before, after) {
            (_, Some(a)) if meets(a) => "meets",
            (Some(b), Some(_)) if meets(b) => "taken_below",
            (_, Some(_)) => "below",
            // The window itself is removed by the plan.
            (_, None) => "removed",
        };
        Some(serde_json::json!({
            "standard_day": rule.standard_day.name_zh(),
            "min_hours": rule.min_hours,
            "source": rule.source,
            "before": before, "now": now, "after": after,
            "verdict": verdict,
        }))
    };
    tokio::task::spawn_blocking(work).await.ok().flatten()
}

/// A task of element `index`: its project, the task, and the element's own window.
type ElementTask<'m> = (usize, &'m renewtwin_twin::manifest::TaskSpec, Option<(i32, i32)>);

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

/// `?date=YYYY-MM-DD|standard|dahan|dongzhi&year=YYYY&time=HH:MM` of `/api/viewer/sun`.
#[derive(Debug, Deserialize)]
struct SunQuery {
    date: Option<String>,
    year: Option<i32>,
    time: Option<String>,
}

/// `GET /api/viewer/sun?date=YYYY-MM-DD&time=HH:MM`: the sun over the scene's site on that date
/// at that true solar time (the engine's NOAA solar position, [`renewtwin_twin::sunlight::sun_at`]),
/// for the viewer's shadows. 400 on a bad date or time, 409 when the model has no location.
///
/// `date` may also name a standard day of the sunlight rule (GB 50180-2018 §4.0.9): `dahan`
/// (大寒), `dongzhi` (冬至) or `standard` (the scene's `[sunlight]` rule's), in `year` (default:
/// the rule's year, else the year the plan starts); the answer then carries the term's date that
/// year (the engine's [`renewtwin_twin::sunlight::solar::term_date`], not a fixed day: 冬至 is
/// 21 or 22 December). Every answer carries the scene's rule, so the viewer starts on its day.
async fn sun(State(state): State<AppState>, Query(query): Query<SunQuery>) -> Response {
    use renewtwin_twin::sunlight::solar::{StandardDay, term_date};
    let Some(manifest) = state.plan.manifest() else { return ViewerApiError::Stopped.into_response() };
    let rule = &manifest.sunlight;
    let rule_year = rule.year.unwrap_or(manifest.start.year);
    let term = match query.date.as_deref() {
        Some("standard") => Some(rule.standard_day),
        Some("dahan") => Some(StandardDay::Dahan),
        Some("dongzhi") => Some(StandardDay::Dongzhi),
        _ => None,
    };
    let date = match term {
        Some(term) => {
            let year = query.year.unwrap_or(rule_year);
            if !(1901..=2199).contains(&year) {
                return error(StatusCode::BAD_REQUEST, "bad_year", "year: 1901-2199");
            }
            let (y, m, d) = term_date(term, year);
            renewtwin_protocol::CivilDate { year: y, month: m as u8, day: d as u8 }
        }
        None => match query.date.as_deref().and_then(renewtwin_protocol::CivilDate::parse_iso) {
            Some(date) => date,
            None => return error(StatusCode::BAD_REQUEST, "bad_date", "date: write YYYY-MM-DD, standard, dahan or dongzhi"),
        },
    };
    let time = query.time.as_deref().unwrap_or("12:00");
    let hours = time.split_once(':').and_then(|(h, m)| {
        let (h, m) = (h.parse::<u32>().ok()?, m.parse::<u32>().ok()?);
        (h < 24 && m < 60).then(|| f64::from(h) + f64::from(m) / 60.0)
    });
    let Some(hours) = hours else { return error(StatusCode::BAD_REQUEST, "bad_time", "time: write HH:MM (true solar time, 00:00-23:59)") };
    let Ok(frame) = renewtwin_twin::sunlight::SiteFrame::of(state.plan.model()) else {
        return error(StatusCode::CONFLICT, "no_location", "the scene's model has no georeference (IfcSite latitude and longitude)");
    };
    let sun = renewtwin_twin::sunlight::sun_at(frame, date.year, u32::from(date.month), u32::from(date.day), hours);
    Json(serde_json::json!({
        "date": date, "time": time, "latitude": frame.latitude, "longitude": frame.longitude,
        "azimuth": sun.azimuth, "elevation": sun.elevation, "direction": sun.direction,
        "term": term,
        "rule": {
            "standard_day": rule.standard_day, "name": rule.standard_day.name_zh(), "year": rule_year,
            "min_hours": rule.min_hours, "from_hour": rule.from_hour, "to_hour": rule.to_hour, "source": rule.source,
        },
    }))
    .into_response()
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
    let model = state.plan.model().clone();
    let list: Vec<_> = m
        .scenarios
        .iter()
        .map(|s| {
            let design = renewtwin_twin::renewal::plan::scenario_design(&m, s, &model);
            serde_json::json!({ "name": s.name, "title": s.title, "variants": design.models, "replaced": design.replaced })
        })
        .collect();
    let (day, _) = state.live.day();
    Json(serde_json::json!({
        "playing": state.plan.scenario_on(day),
        "started_with": state.plan.scenario(),
        "choices": played_choices(&state),
        "plan_start": m.start,
        "plan_end": state.scene.plan_end,
        "scenarios": list,
    }))
    .into_response()
}

/// The sunlight layer on `day`: each window's hours with the elements standing then, beside the
/// district as surveyed; both cached by the set of standing elements.
async fn sunlight_layer(
    state: &AppState,
    manifest: Manifest,
    model: Arc<renewtwin_importers::Model>,
    plan: Arc<Plan>,
    day: i32,
) -> Result<layers::ColourLayer, Response> {
    use renewtwin_twin::sunlight;
    let caches = state.caches.clone();
    let control = state.plan.clone();
    let work = move || -> Result<layers::ColourLayer, sunlight::SunlightError> {
        let frame = sunlight::SiteFrame::of(&model)?;
        let year = manifest.sunlight.year.unwrap_or(manifest.start.year);
        let now = renewtwin_twin::renewal::standing_on(&plan, day);
        let before = renewtwin_twin::renewal::standing_before(&plan);
        let geometry = control.sunlight().clone();
        let hours = |stands: &[bool]| {
            let key = {
                use std::hash::{Hash, Hasher};
                let mut h = std::collections::hash_map::DefaultHasher::new();
                stands.hash(&mut h);
                h.finish()
            };
            if let Some(w) = caches.lock().sunlight(key) {
                return w;
            }
            let w = Arc::new(geometry.hours(&model, stands, &manifest.sunlight, frame, year));
            caches.lock().keep_sunlight(key, w.clone());
            w
        };
        let (now, before) = (hours(&now), hours(&before));
        Ok(layers::sunlight_layer(model.elements.len(), &manifest.sunlight, &now, &before, day))
    };
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(layer)) => Ok(layer),
        Ok(Err(e)) => Err(error(StatusCode::UNPROCESSABLE_ENTITY, "no_location", &e.to_string())),
        Err(_) => Err(error(StatusCode::SERVICE_UNAVAILABLE, "stopped", "the sunlight computation stopped")),
    }
}

/// The scenarios choice consultations adopted, in the order they take effect: the day and
/// date each plays from, the project whose consultation chose it, and the scenario (`base`: the
/// base plan). `/api/viewer/scenarios` and `/api/projects` answer with it.
pub fn played_choices(state: &AppState) -> Vec<serde_json::Value> {
    let start = state.live.plan_start();
    state
        .plan
        .choices()
        .into_iter()
        .map(|c| {
            serde_json::json!({
                "day": c.day,
                "date": renewtwin_protocol::CivilDate::from_sim_day(start, renewtwin_protocol::SimDay(c.day)).to_string(),
                "project": c.project,
                "scenario": c.scenario.unwrap_or_else(|| "base".into()),
            })
        })
        .collect()
}

/// `GET /api/viewer/layer?name=phase|risk|noise|sunlight&day=N&scenario=NAME`: a colour layer of
/// [`renewtwin_twin::layers`].
async fn layer(State(state): State<AppState>, Query(query): Query<DayQuery>) -> Response {
    let day = day_of(&state, &query);
    let name = query.name.clone().unwrap_or_default();
    let Some(name) = LayerName::from_key(&name) else {
        return error(StatusCode::NOT_FOUND, "unknown_layer", &format!("no layer {name:?}; layers are phase, risk, noise, sunlight and disruption"));
    };
    let (manifest, model, plan, _) = match resolve(&state, query.scenario).await {
        Ok(resolved) => resolved,
        Err(e) => return e.into_response(),
    };
    let layer = match name {
        LayerName::Sunlight => match sunlight_layer(&state, manifest, model, plan, day).await {
            Ok(layer) => layer,
            Err(response) => return response,
        },
        LayerName::Phase => layers::phase_layer(&manifest, &model, &plan, day),
        LayerName::Risk => layers::risk_layer(&model, &plan, day),
        LayerName::Noise => {
            // The population model's buildings, shared rather than copied per request.
            let population = state.analytics.population.model.get();
            let homes = population.as_deref().map_or(&[][..], |m| m.homes.as_slice());
            layers::noise_layer(state.analytics.sensors.setup(), homes, &plan, day, model.elements.len())
        }
        LayerName::Disruption => match state.analytics.population.model.get() {
            Some(population) => layers::disruption_layer(&population, &plan, day, model.elements.len()),
            // No population model (a scene without homes): every element without a value.
            None => layers::ColourLayer { name, day, legend: Vec::new(), values: vec![layers::NO_VALUE; model.elements.len()] },
        },
    };
    Json(layer).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use renewtwin_exporters::tiles::TileSink;

    /// Writes tiles `0..n` of `size` bytes each into `sink`, as the exporter does.
    fn lay(sink: &mut KeptTiles, n: usize, size: usize) {
        for i in 0..n {
            if let Some(mut w) = sink.open(i).expect("opens") {
                w.write_all(&vec![i as u8; size]).expect("writes");
            }
        }
    }

    #[test]
    fn a_tileset_within_the_bound_is_kept_whole_and_one_over_it_keeps_only_the_tile_asked_for() {
        // 4 tiles of 10 bytes within 40: all kept, tile 2 answered.
        let mut sink = KeptTiles::new(2, 40);
        lay(&mut sink, 4, 10);
        let (all, one) = sink.finish();
        let all = all.expect("kept");
        assert_eq!(all.len(), 4);
        assert!(all.iter().enumerate().all(|(i, t)| *t == vec![i as u8; 10]));
        assert_eq!(one, Some(vec![2u8; 10]));
        // 4 tiles of 10 bytes over 35: nothing kept, but tile 1 (written before the bound was
        // passed) and tile 3 (after) are still answered.
        for wanted in [1, 3] {
            let mut sink = KeptTiles::new(wanted, 35);
            lay(&mut sink, 4, 10);
            let (all, one) = sink.finish();
            assert!(all.is_none());
            assert_eq!(one, Some(vec![wanted as u8; 10]), "tile {wanted}");
        }
        // The tileset alone (no tile asked for), within the bound: kept, no tile answered.
        let mut sink = KeptTiles::new(usize::MAX, 40);
        lay(&mut sink, 3, 10);
        let (all, one) = sink.finish();
        assert_eq!(all.map(|a| a.len()), Some(3));
        assert_eq!(one, None);
    }

    #[test]
    fn kept_tilesets_are_found_by_plan_day_and_uris_and_few_are_kept() {
        let mut cache = PlanCache::default();
        let laid = |n: usize| Arc::new(LaidTileset { tileset: serde_json::json!({ "n": n }), tiles: vec![Bytes::from(vec![n as u8])] });
        let key = |day: i32, suffix: &str| (PlanKey::default(), day, suffix.to_owned());
        cache.keep_tileset(key(0, "?date=2026-01-01"), laid(0));
        assert!(cache.tileset(&key(0, "?date=2026-01-01")).is_some());
        assert!(cache.tileset(&key(1, "?date=2026-01-01")).is_none(), "another day");
        assert!(cache.tileset(&key(0, "?date=2026-01-01&scenario=b")).is_none(), "other URIs");
        for n in 1..=TILESETS_KEPT {
            cache.keep_tileset(key(n as i32, "?date=x"), laid(n));
        }
        assert_eq!(cache.tilesets.len(), TILESETS_KEPT);
        assert!(cache.tileset(&key(0, "?date=2026-01-01")).is_none(), "the oldest was dropped");
    }

    #[test]
    fn the_plan_cache_answers_the_same_plan_until_an_event_is_recorded_and_stays_bounded() {
        let key = |events| PlanKey { events, ..PlanKey::default() };
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
    }

    #[test]
    fn two_servers_in_one_process_keep_separate_caches() {
        let (a, b) = (ViewerCaches::default(), ViewerCaches::default());
        let key = PlanKey::default();
        a.lock().keep_plan(key.clone(), Arc::new(Plan::default()));
        assert!(a.lock().plan(&key).is_some());
        assert!(b.lock().plan(&key).is_none());
    }

    #[test]
    fn state_bytes_follow_the_protocol_order() {
        for (i, s) in LifecycleState::ALL.iter().enumerate() {
            assert_eq!(usize::from(state_byte(*s)), i);
        }
    }
}
