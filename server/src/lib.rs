//! The HTTP and WebSocket server: the viewer at `/`, the API under `/api`, and the live twin
//! on `/ws`. This is the only crate that knows HTTP: the twin and the civic domain return
//! typed results and errors, and the modules here turn them into responses.
//!
//! - [`AppState`]: what every handler shares (scene, live state, plan, store, analytics
//!   feeds, the civic domain, the viewer's caches);
//! - [`civic`]: the consultation routes, their endpoint × role table and the [`civic::ApiError`]
//!   mapping; [`openapi`] documents the table;
//! - [`sensors`]: ingestion, series, alerts, the risk and population layers;
//! - [`viewer_api`]: the viewer's panels, colour layers and `/api/states`;
//! - [`ws`]: the per-connection WebSocket session (backpressure, resync, subscriptions);
//! - [`cluster`]: replicas over NATS (`--cluster`): the shared ordered log every replica applies.

pub mod civic;
pub mod cluster;
pub mod endpoints;
pub mod governance;
pub mod loading;
pub mod nats_server;
pub mod openapi;
pub mod sensors;
pub mod viewer_api;
mod viewer_assets;
mod ws;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use serde::Serialize;
use tokio::net::TcpListener;

use axum::extract::ConnectInfo;
use renewtwin_protocol::ClockCommand;

use renewtwin_civic::{Consultation, ConsultationConfig};
use renewtwin_store::Store;
use renewtwin_twin::analytics::AnalyticsFeeds;
use renewtwin_twin::live::LiveShared;
use renewtwin_twin::renewal::control::PlanControl;
use renewtwin_twin::wire::SceneStatic;

/// Whether the browser viewer was compiled into this build.
pub const VIEWER_BUILT: bool = viewer_assets::VIEWER_BUILT;

/// Shared by every request handler.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The prepared static scene.
    pub scene: Arc<SceneStatic>,
    /// Live state and deltas.
    pub live: Arc<LiveShared>,
    /// Commands to the simulation clock.
    pub clock: std::sync::mpsc::Sender<ClockCommand>,
    /// The plan and its recorded governance events.
    pub plan: Arc<PlanControl>,
    /// The database of what people say and what sensors read.
    pub store: Arc<Store>,
    /// Whether clients on other hosts may control the clock (loopback clients always may).
    pub open_controls: bool,
    /// Sensors, alerts, risk and population layers (empty feeds serve no sensors).
    pub analytics: AnalyticsFeeds,
    /// The civic domain: settings, rate limits, the live consultation feed, over `store`.
    pub civic: Arc<Consultation>,
    /// Resolved plans and state answers of `/api/states` and the layers.
    pub caches: Arc<viewer_api::ViewerCaches>,
    /// The operator's token (`RENEWTWIN_OPERATOR_TOKEN`), if declared: its bearer controls the
    /// clock and records events from any host.
    pub operator_token: Option<Arc<str>>,
    /// The sensor gateways' token (`RENEWTWIN_SENSOR_TOKEN`), if declared: its bearer may post
    /// readings from any host.
    pub sensor_token: Option<Arc<str>>,
    /// The replicas' shared log, on a replica of a cluster (`--cluster`); `None`: this process
    /// is the whole twin.
    pub cluster: Option<Arc<cluster::Cluster>>,
}

/// Who a request to an operator control is from (see [`AppState::controller`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Controller {
    /// A signed-in government account (its id and label).
    Government(i64, String),
    /// The operator: the server's own machine without an account, any client under
    /// `--open-controls`, or the bearer of the operator token.
    Operator,
    /// The bearer of the sensor gateways' token.
    SensorGateway,
}

impl Controller {
    /// The role as the audit log and messages show it.
    pub fn label(&self) -> String {
        match self {
            Self::Government(_, label) => label.clone(),
            Self::Operator => "operator".into(),
            Self::SensorGateway => "sensor-gateway".into(),
        }
    }
}

/// Compares two secrets in time independent of where they differ.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl AppState {
    /// The state of a server of `scene` whose simulation publishes into `live`, takes clock
    /// commands on `clock` and plays `plan`; the civic domain with its default settings over
    /// `store`, its ballots under `ballot_key` (adopted by the store: see
    /// `renewtwin_civic::votes::adopt_key`); controls for local clients only.
    pub fn new(
        scene: Arc<SceneStatic>,
        live: Arc<LiveShared>,
        clock: std::sync::mpsc::Sender<ClockCommand>,
        plan: Arc<PlanControl>,
        store: Arc<Store>,
        analytics: AnalyticsFeeds,
        ballot_key: renewtwin_civic::ballot_key::BallotKey,
    ) -> Self {
        let civic = Consultation::new(ConsultationConfig::default(), store.clone(), ballot_key);
        Self {
            scene,
            live,
            clock,
            plan,
            store,
            open_controls: false,
            analytics,
            civic,
            caches: Arc::default(),
            operator_token: None,
            sensor_token: None,
            cluster: None,
        }
    }

    /// Makes this server a replica of a cluster: writes go through `cluster`'s log (see
    /// [`cluster::Cluster::run`], which must have joined already).
    pub fn with_cluster(mut self, cluster: Arc<cluster::Cluster>) -> Self {
        self.cluster = Some(cluster);
        self
    }

    /// Declares the operator's and the sensor gateways' tokens (each at least 16 characters;
    /// a shorter or empty one is ignored with a warning).
    pub fn with_tokens(mut self, operator: Option<String>, sensor: Option<String>) -> Self {
        let keep = |name: &str, t: Option<String>| -> Option<Arc<str>> {
            let t = t?.trim().to_owned();
            if t.len() < 16 {
                tracing::warn!("{name} is shorter than 16 characters; ignored");
                return None;
            }
            Some(t.into())
        };
        self.operator_token = keep("RENEWTWIN_OPERATOR_TOKEN", operator);
        self.sensor_token = keep("RENEWTWIN_SENSOR_TOKEN", sensor);
        self
    }

    /// Who sent a request to an operator control, checked by role, never by address alone:
    /// a bearer token is the operator's or the sensor gateways' token, or a session whose
    /// account must be government (any other role is refused, wherever it connects from);
    /// without a token, only the server's own machine (or any client under
    /// `--open-controls`) is the operator. `what` names the action for the refusal.
    pub async fn controller(&self, headers: &axum::http::HeaderMap, peer: &SocketAddr, what: &str) -> Result<Controller, Response> {
        let token = match headers.get(header::AUTHORIZATION).map(|v| v.to_str().map(|t| t.strip_prefix("Bearer ").map(str::trim))) {
            None => None,
            Some(Ok(Some(t))) => Some(t.to_owned()),
            Some(_) => return Err(error(StatusCode::UNAUTHORIZED, "unauthorized", "use Authorization: Bearer TOKEN")),
        };
        let Some(token) = token else {
            return if self.may_control(peer) {
                Ok(Controller::Operator)
            } else {
                Err(error(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    &format!("to {what}, send Authorization: Bearer with a credential this route admits (see its x-roles in /api/openapi.json); clients on the server's own machine are the operator"),
                ))
            };
        };
        if self.is_operator_token(&token) {
            return Ok(Controller::Operator);
        }
        if self.is_sensor_token(&token) {
            return Ok(Controller::SensorGateway);
        }
        match renewtwin_civic::auth::resolve(&self.store, token).await {
            Ok(a) if a.role == renewtwin_civic::Role::Government => Ok(Controller::Government(a.id, a.label())),
            Ok(a) => Err(error(StatusCode::FORBIDDEN, "forbidden", &format!("a {} account may not {what}", a.label()))),
            Err(e) => Err(error(StatusCode::UNAUTHORIZED, "unauthorized", &e.to_string())),
        }
    }

    /// Whether `token` is the operator's declared token.
    pub fn is_operator_token(&self, token: &str) -> bool {
        self.operator_token.as_deref().is_some_and(|t| same_secret(t, token))
    }

    /// Whether `token` is the sensor gateways' declared token.
    pub fn is_sensor_token(&self, token: &str) -> bool {
        self.sensor_token.as_deref().is_some_and(|t| same_secret(t, token))
    }

    /// Lets clients on other hosts control the clock and record events.
    pub fn with_open_controls(mut self, open: bool) -> Self {
        self.open_controls = open;
        self
    }

    /// Whether a client at `peer` that sends no credential is the operator: the machine's own
    /// users are, and any client once the operator opened the controls (`--open-controls`).
    pub fn may_control(&self, peer: &SocketAddr) -> bool {
        self.open_controls || is_local(peer.ip())
    }
}

/// Whether `ip` is this machine: IPv4 or IPv6 loopback, or IPv4 loopback mapped into IPv6
/// (`::ffff:127.0.0.1`, how a server listening on `[::]` sees a local IPv4 client).
pub fn is_local(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => v4.is_loopback(),
        std::net::IpAddr::V6(v6) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
    }
}

/// The router with every route.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/health", get(health))
        .route("/api/scene", get(scene))
        .route("/api/scene/{hash}/frames/{n}", get(scene_frame))
        .route("/ws", get(ws::upgrade))
        .route("/api/cluster", get(cluster_status))
        .route("/api/clock", axum::routing::post(clock).layer(axum::extract::DefaultBodyLimit::max(4096)))
        .route("/api/events", get(list_events).post(record_event).layer(axum::extract::DefaultBodyLimit::max(16 * 1024)))
        .merge(viewer_api::routes())
        .merge(sensors::routes())
        .route("/", get(index))
        .route("/{*path}", get(asset))
        .merge(civic::routes(&state))
        .merge(governance::routes(&state))
        .layer(axum::middleware::from_fn_with_state(state.clone(), cluster_guard))
        .layer(axum::middleware::from_fn(classified))
        .with_state(state)
}

/// Fails closed: a request to a route missing from [`endpoints::ENDPOINTS`] is refused, so a
/// route added to the router without deciding who may call it never serves.
async fn classified(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let matched = request.extensions().get::<axum::extract::MatchedPath>().map(|p| p.as_str().to_owned());
    match matched {
        Some(path) if endpoints::endpoint(request.method(), &path).is_none() => {
            error(StatusCode::FORBIDDEN, "forbidden", &format!("{} {path} is not classified; refused", request.method()))
        }
        _ => next.run(request).await,
    }
}

/// On a replica of a cluster, refuses writes while NATS is unreachable (503 with `Retry-After`:
/// nothing was stored or acknowledged) and gives every 503 a `Retry-After`. Without a cluster
/// it lets everything through unchanged.
async fn cluster_guard(State(state): State<AppState>, request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let Some(cluster) = state.cluster.clone() else { return next.run(request).await };
    let write = !matches!(*request.method(), axum::http::Method::GET | axum::http::Method::HEAD | axum::http::Method::OPTIONS);
    if write && !cluster.connected() {
        return unavailable("cluster_unavailable", "the replicas' log (NATS) cannot be reached; nothing was stored, retry later");
    }
    let mut response = next.run(request).await;
    if response.status() == StatusCode::SERVICE_UNAVAILABLE && !response.headers().contains_key(header::RETRY_AFTER) {
        response.headers_mut().insert(header::RETRY_AFTER, axum::http::HeaderValue::from_static(cluster::RETRY_AFTER));
    }
    response
}

/// 503 with `Retry-After` ([`cluster::RETRY_AFTER`]).
fn unavailable(code: &str, message: &str) -> Response {
    let mut response = error(StatusCode::SERVICE_UNAVAILABLE, code, message);
    response.headers_mut().insert(header::RETRY_AFTER, axum::http::HeaderValue::from_static(cluster::RETRY_AFTER));
    response
}

/// `GET /api/cluster`: whether this server is a replica, its stream, whether NATS is
/// connected, the last log entry applied here and the live delta sequence number and day.
async fn cluster_status(State(state): State<AppState>) -> Response {
    Json(cluster::Cluster::status(state.cluster.as_deref(), &state.live)).into_response()
}

/// `listener` with Nagle's algorithm off on every connection it accepts: a delta or an event is
/// one small frame that must leave at once, not wait for the acknowledgement of the one before
/// (which a client may delay by up to 40 ms on Linux).
fn no_delay(listener: TcpListener) -> axum::serve::TapIo<TcpListener, fn(&mut tokio::net::TcpStream)> {
    use axum::serve::ListenerExt as _;
    fn set(stream: &mut tokio::net::TcpStream) {
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY on a connection");
        }
    }
    listener.tap_io(set as fn(&mut tokio::net::TcpStream))
}

/// Serves on `listener` until `shutdown` resolves, then drains connections.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Consultations close by themselves when their window ends, while the server serves.
    let closer = civic::spawn_window_closer(state.clone());
    let served = axum::serve(no_delay(listener), router(state).into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await;
    closer.abort();
    served
}

/// Serves on `listener` while the scene loads, until `shutdown` resolves: `/ws` sends what
/// is made so far (see [`loading`]), `/api/health` says how far the load is, the viewer's
/// files are served, and every other request waits for [`loading::Loading::ready`] and is
/// then answered by [`router`] over the loaded state (503 if the load fails). Once loaded,
/// every request goes to that router, and the consultation window closer starts.
pub async fn serve_loading(
    listener: TcpListener,
    loading: Arc<loading::Loading>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let full: Arc<std::sync::OnceLock<Router>> = Arc::default();
    let while_loading = Router::new()
        .route("/api/health", get(health_while_loading))
        .route("/ws", get(ws_while_loading))
        .route("/", get(index))
        // Everything else (viewer files at once; any other method or path once the scene is
        // loaded, classified then by the full router) goes through the fallback: a catch-all
        // GET route here would make a POST's matched path `/{*path}`, which is not classified.
        .fallback(asset_or_wait)
        .layer(axum::middleware::from_fn(classified))
        .with_state(LoadingState { loading: loading.clone(), full: full.clone() });
    let closer: Arc<std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>> = Arc::default();
    let waiter = {
        let (loading, full, closer) = (loading.clone(), full.clone(), closer.clone());
        tokio::spawn(async move {
            if let Ok(state) = loading.wait_ready().await {
                let _set = full.set(router(state.clone()));
                // Consultations close by themselves when their window ends, while the server serves.
                let handle = civic::spawn_window_closer(state);
                if let Ok(mut c) = closer.lock() {
                    *c = Some(handle);
                }
            }
        })
    };
    let app = Router::new().fallback(move |request: axum::extract::Request| {
        let (while_loading, full) = (while_loading.clone(), full.clone());
        async move {
            use tower::ServiceExt as _;
            let router = full.get().cloned().unwrap_or(while_loading);
            match router.oneshot(request).await {
                Ok(response) => response,
                Err(never) => match never {},
            }
        }
    });
    let served = axum::serve(no_delay(listener), app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await;
    waiter.abort();
    if let Some(handle) = closer.lock().ok().and_then(|mut c| c.take()) {
        handle.abort();
    }
    served
}

/// The state of the router that serves while the scene loads.
#[derive(Clone)]
struct LoadingState {
    loading: Arc<loading::Loading>,
    full: Arc<std::sync::OnceLock<Router>>,
}

#[derive(Serialize)]
struct HealthWhileLoading {
    status: &'static str,
    version: &'static str,
    scene: String,
    loading: loading::Progress,
    viewer_built: bool,
}

/// `/api/health` while loading: `status` is `loading` (or `failed`), with the progress.
async fn health_while_loading(State(s): State<LoadingState>) -> Response {
    if let Some(state) = s.loading.state() {
        return health(State(state.clone())).await.into_response();
    }
    let progress = s.loading.progress();
    let status = if progress.error.is_some() { "failed" } else { "loading" };
    Json(HealthWhileLoading { status, version: env!("CARGO_PKG_VERSION"), scene: s.loading.name(), loading: progress, viewer_built: VIEWER_BUILT })
        .into_response()
}

async fn ws_while_loading(
    upgrade: axum::extract::WebSocketUpgrade,
    State(s): State<LoadingState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    axum::extract::Query(query): axum::extract::Query<ws::WsQuery>,
    headers: axum::http::HeaderMap,
) -> Response {
    ws::upgrade_while_loading(upgrade, s.loading, peer, query, headers).await
}

/// The viewer's files at once; `/api/...` requests wait for the load.
async fn asset_or_wait(State(s): State<LoadingState>, request: axum::extract::Request) -> Response {
    let path = request.uri().path().trim_start_matches('/').to_owned();
    if request.method() == axum::http::Method::GET && !path.starts_with("api/") && viewer_assets::asset(&path).is_some() {
        return asset_response(&path);
    }
    wait_then_serve(State(s), request).await
}

/// Waits for the scene, then answers `request` from the loaded server.
async fn wait_then_serve(State(s): State<LoadingState>, request: axum::extract::Request) -> Response {
    use tower::ServiceExt as _;
    let state = match s.loading.wait_ready().await {
        Ok(state) => state,
        Err(why) => return ws::loading_failed(&why),
    };
    let router = s.full.get().cloned().unwrap_or_else(|| router(state));
    match router.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    version: &'static str,
    scene: String,
    elements: usize,
    day: i32,
    date: String,
    viewer_built: bool,
}

async fn health(State(state): State<AppState>) -> Json<Health> {
    let (day, date) = state.live.day();
    Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        scene: state.scene.name.clone(),
        elements: state.scene.elements.len(),
        day,
        date: date.to_string(),
        viewer_built: VIEWER_BUILT,
    })
}

#[derive(Serialize)]
struct SceneJson<'a> {
    name: &'a str,
    bbox: [f64; 6],
    plan_start: renewtwin_protocol::CivilDate,
    plan_end: i32,
    day: i32,
    sim_date: renewtwin_protocol::CivilDate,
    meshes: u32,
    triangles: u64,
    phases: Vec<renewtwin_protocol::PhaseInfo>,
    elements: Vec<renewtwin_protocol::ElementInfo>,
}

async fn scene(State(state): State<AppState>) -> Response {
    let snap = state.live.snapshot();
    let elements = state
        .scene
        .elements
        .iter()
        .map(|e| {
            let mut e = e.clone();
            e.state = snap.states.get(e.id as usize).copied().unwrap_or(e.state);
            e
        })
        .collect();
    Json(SceneJson {
        name: &state.scene.name,
        bbox: state.scene.bbox,
        plan_start: state.live.plan_start(),
        plan_end: state.scene.plan_end,
        day: snap.day,
        sim_date: snap.date,
        meshes: state.scene.mesh_count,
        triangles: state.scene.triangle_count,
        phases: snap.phases,
        elements,
    })
    .into_response()
}

/// How long a cache may keep a scene frame: its URL names the scene's content hash, so the
/// bytes behind it never change (RFC 9111 `max-age`, one year; RFC 8246 `immutable`).
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// `GET /api/scene/{hash}/frames/{n}`: the `n`th encoded [`renewtwin_protocol::ServerMsg::Meshes`]
/// frame of the scene whose content hash (`SceneHeader::scene_hash`, over every element and
/// frame) is `hash` — the same bytes `/ws` sends. Content-addressed, so a reverse proxy or CDN
/// may keep it for good: `ETag` and immutable `Cache-Control`; `If-None-Match` with the tag
/// answers 304. A hash other than the served scene's is 404 (that content is not here).
async fn scene_frame(State(state): State<AppState>, axum::extract::Path((hash, n)): axum::extract::Path<(String, String)>, headers: axum::http::HeaderMap) -> Response {
    let scene = &state.scene;
    if !hash.eq_ignore_ascii_case(&scene.scene_hash.to_string()) {
        return error(StatusCode::NOT_FOUND, "unknown_scene", "no scene with that content hash is served here (see /ws's scene header)");
    }
    let Some(frame) = n.parse::<usize>().ok().and_then(|n| scene.mesh_frames.get(n)) else {
        return error(StatusCode::NOT_FOUND, "unknown_frame", &format!("the scene has {} frames, numbered from 0", scene.mesh_frames.len()));
    };
    let etag = format!("\"{}-{}\"", scene.scene_hash, n);
    let matches = headers.get_all(axum::http::header::IF_NONE_MATCH).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t == etag);
    let head = [(axum::http::header::ETAG, etag.clone()), (axum::http::header::CACHE_CONTROL, IMMUTABLE.to_owned())];
    if matches {
        return (StatusCode::NOT_MODIFIED, head).into_response();
    }
    (head, [(axum::http::header::CONTENT_TYPE, "application/octet-stream")], frame.clone()).into_response()
}

/// `POST /api/clock` with a [`ClockCommand`] as JSON: `"play"`, `"pause"`, `{"speed": 20}`,
/// `{"seek": 120}`.
async fn clock(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    match state.controller(&headers, &peer, "control the clock").await {
        Ok(Controller::Government(..) | Controller::Operator) => {}
        Ok(other) => return error(StatusCode::FORBIDDEN, "forbidden", &format!("a {} may not control the clock", other.label())),
        Err(refused) => return refused,
    }
    let command: ClockCommand = match serde_json::from_slice(&body) {
        Ok(c) => c,
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad_request", &format!("expected \"play\", \"pause\", {{\"speed\": N}} or {{\"seek\": DAY}}: {e}")),
    };
    if let Some(cluster) = &state.cluster {
        // Acknowledged once the log holds it; every replica applies it in the log's order.
        return match cluster.publish(&cluster::Input::Clock(command)).await {
            Ok(_) => (StatusCode::ACCEPTED, Json(serde_json::json!({"accepted": command}))).into_response(),
            Err(e) => unavailable("cluster_unavailable", &e.to_string()),
        };
    }
    if state.clock.send(command).is_err() {
        return error(StatusCode::SERVICE_UNAVAILABLE, "simulation_stopped", "the simulation is not running");
    }
    (StatusCode::ACCEPTED, Json(serde_json::json!({"accepted": command}))).into_response()
}

#[derive(Serialize)]
struct EventJson {
    day: i32,
    date: renewtwin_protocol::CivilDate,
    project: String,
    kind: String,
}

fn event_json(e: &renewtwin_twin::manifest::EventSpec, start: renewtwin_protocol::CivilDate) -> EventJson {
    EventJson {
        day: e.day,
        date: renewtwin_protocol::CivilDate::from_sim_day(start, renewtwin_protocol::SimDay(e.day)),
        project: e.project.clone(),
        kind: format!("{:?}", e.kind),
    }
}

/// `GET /api/events`: the governance events recorded so far.
async fn list_events(State(state): State<AppState>) -> Response {
    let start = state.live.plan_start();
    Json(state.plan.events().iter().map(|e| event_json(e, start)).collect::<Vec<_>>()).into_response()
}

/// `POST /api/events`: record a governance event that no decision route records (the O&M
/// owner or the funding named); the plan is re-resolved and the simulation follows it.
/// Decisions are refused here, naming the route that decides them: a consultation closes from
/// its ballots, an approval is decided in its authority's inbox.
async fn record_event(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    use renewtwin_twin::renewal::control::{EventError, EventRequest};
    let by = match state.controller(&headers, &peer, "record events").await {
        Ok(c @ (Controller::Government(..) | Controller::Operator)) => c,
        Ok(other) => return error(StatusCode::FORBIDDEN, "forbidden", &format!("a {} may not record events", other.label())),
        Err(refused) => return refused,
    };
    let request: EventRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad_request", &e.to_string()),
    };
    if let Some(route) = request.kind.decided_by() {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "decided_elsewhere",
            &format!("a {} event is a decision and is not recorded here; it is recorded by {route}", request.kind.key()),
        );
    }
    let plan = state.plan.clone();
    match tokio::task::spawn_blocking(move || plan.record(request)).await {
        Ok(Ok(event)) => {
            let json = event_json(&event, state.live.plan_start());
            // Operator-recorded events are decisions too: logged, without an account.
            let entry = renewtwin_civic::audit::Entry {
                actor: match &by {
                    Controller::Government(id, _) => Some(*id),
                    _ => None,
                },
                actor_role: by.label(),
                action: "event_recorded".into(),
                project: Some(json.project.clone()),
                subject: json.kind.clone(),
                detail: serde_json::json!({"day": json.day, "date": json.date.to_string(), "kind": json.kind}),
                personal: serde_json::Value::Null,
            };
            if let Err(e) = state.civic.db(move |conn| renewtwin_civic::audit::append(conn, &entry)).await {
                tracing::error!(error = %e, "cannot log a recorded event in the audit trail");
            }
            (StatusCode::CREATED, Json(json)).into_response()
        }
        Ok(Err(EventError::Invalid(m))) => error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_event", &m),
        Ok(Err(EventError::Plan(e))) => error(StatusCode::UNPROCESSABLE_ENTITY, "plan_rejected", &e.to_string()),
        Ok(Err(EventError::Unavailable(m))) => unavailable("cluster_unavailable", &m),
        Ok(Err(EventError::Stopped)) | Err(_) => error(StatusCode::SERVICE_UNAVAILABLE, "simulation_stopped", "the simulation is not running"),
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(serde_json::json!({"error": code, "message": message}))).into_response()
}

async fn index() -> Response {
    asset_response("index.html")
}

async fn asset(axum::extract::Path(path): axum::extract::Path<String>) -> Response {
    asset_response(&path)
}

fn asset_response(path: &str) -> Response {
    match viewer_assets::asset(path) {
        Some((content_type, body)) => {
            ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-cache")], body).into_response()
        }
        None => error(StatusCode::NOT_FOUND, "not_found", &format!("no file {path:?}")),
    }
}
