//! The HTTP face of the analytics: sensor ingestion and queries, alerts, and the risk and
//! population layers.
//!
//! - `POST /api/sensors/readings` `{"readings": [{"sensor", "t", "value", "max"?}]}`: local or
//!   authorised clients only; at most `sensors.max_batch` readings and 1 MiB; answers with
//!   what was accepted, duplicated and rejected (with reasons) and the alerts raised.
//! - `GET /api/sensors`: every sensor with its latest stored reading.
//! - `GET /api/sensors/{id}/series?from&to&step`: buckets of `step` seconds (default 3600;
//!   at most 10,000 buckets) with mean, max and count; `from`/`to` are Unix seconds or
//!   `YYYY-MM-DD` (default: the last 7 days before the newest reading).
//! - `GET /api/alerts?from&to&limit`: stored alerts with their evidence, newest first.
//! - `GET /api/risk`, `GET /api/population`: the current layers.

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use renewtwin_twin::sensors::config::kind_range;
use renewtwin_twin::sensors::ingest::{Batch, IncomingReading, IngestError, IngestReport, ingest};
use renewtwin_twin::sensors::log::SensorLog;
use renewtwin_twin::sensors::rules::Alert;

use super::AppState;

/// Largest ingestion body.
const MAX_BODY: usize = 1024 * 1024;
/// Most buckets one series query returns.
const MAX_BUCKETS: i64 = 10_000;

/// The analytics routes, to merge into the server's router.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/sensors/readings", post(post_readings).layer(axum::extract::DefaultBodyLimit::max(MAX_BODY)))
        .route("/api/sensors", get(list_sensors))
        .route("/api/sensors/{id}/series", get(get_series))
        .route("/api/alerts", get(list_alerts))
        .route("/api/risk", get(risk_layer))
        .route("/api/population", get(population_layer))
}

/// The latest risk layer (`null` before the first assessment).
async fn risk_layer(State(state): State<AppState>) -> Response {
    Json(state.analytics.risk.0.get()).into_response()
}

/// The population layer `{"model", "today"}` (`null` before the first update), serialised
/// from the shared parts without copying them.
async fn population_layer(State(state): State<AppState>) -> Response {
    #[derive(serde::Serialize)]
    struct Layer<T, U> {
        model: T,
        today: U,
    }
    let feed = &state.analytics.population;
    match feed.model.get() {
        None => Json(serde_json::Value::Null).into_response(),
        Some(model) => Json(Layer { model, today: feed.today.get() }).into_response(),
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(serde_json::json!({"error": code, "message": message}))).into_response()
}

/// Wall-clock Unix seconds.
pub fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

async fn post_readings(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    // A sensor gateway (the token the operator declared) or the operator; no account.
    match state.controller(&headers, &peer, "send sensor readings").await {
        Ok(crate::Controller::SensorGateway | crate::Controller::Operator) => {}
        Ok(other) => {
            return error(
                StatusCode::FORBIDDEN,
                "forbidden",
                &format!("a {} account may not send sensor readings; a gateway sends the token the operator declared (RENEWTWIN_SENSOR_TOKEN)", other.label()),
            );
        }
        Err(refused) => return refused,
    }
    let batch: Batch = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad_request", &format!("expected {{\"readings\": [{{\"sensor\", \"t\", \"value\"}}]}}: {e}")),
    };
    match ingest_batch(&state, batch.readings).await {
        Ok(report) => Json(report).into_response(),
        Err(Failed::Ingest(e @ IngestError::TooMany { .. })) => error(StatusCode::PAYLOAD_TOO_LARGE, "batch_too_large", &e.to_string()),
        Err(Failed::Ingest(IngestError::Log(e))) if unreachable_store(&e) => {
            crate::unavailable("database_unavailable", "the database is unavailable; nothing was stored, retry later")
        }
        Err(Failed::Ingest(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, "store_failed", &e.to_string()),
        Err(Failed::Cluster(e)) => crate::unavailable("cluster_unavailable", &e.to_string()),
        Err(Failed::Internal) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "ingestion failed"),
    }
}

/// Why a batch of readings was not acknowledged.
#[derive(Debug)]
enum Failed {
    /// Refused or not stored.
    Ingest(IngestError),
    /// Stored (idempotently: a retry is safe), but its alerts could not be put on the replicas'
    /// log.
    Cluster(crate::cluster::ClusterError),
    /// The worker failed.
    Internal,
}

/// Whether the sensor log failed because the database is unreachable or busy.
fn unreachable_store(e: &renewtwin_twin::sensors::log::LogError) -> bool {
    e.0.downcast_ref::<renewtwin_store::StoreError>().is_some_and(renewtwin_store::StoreError::is_unavailable)
}

/// Validates, stores and checks `readings` on a blocking thread; the alerts they raise are
/// streamed. The one ingestion path of `POST /api/sensors/readings` and the WebSocket.
/// On a replica of a cluster the alerts are announced through the replicas' log (stored once,
/// here; every replica's viewers see them), and the batch is acknowledged after the log's ack.
async fn ingest_batch(state: &AppState, readings: Vec<IncomingReading>) -> Result<IngestReport, Failed> {
    let (hub, store) = (state.analytics.sensors.clone(), state.store.clone());
    let clustered = state.cluster.is_some();
    let report = tokio::task::spawn_blocking(move || {
        let report = ingest(hub.setup(), &*store, &readings, now(), hub.plan().as_deref());
        if let Ok(r) = &report
            && !clustered
        {
            hub.announce(&r.alerts);
        }
        report
    })
    .await
    .map_err(|_| Failed::Internal)?
    .map_err(Failed::Ingest)?;
    if let Some(cluster) = &state.cluster
        && !report.alerts.is_empty()
    {
        cluster.publish(&crate::cluster::Input::Alerts(report.alerts.clone())).await.map_err(Failed::Cluster)?;
    }
    Ok(report)
}

async fn list_sensors(State(state): State<AppState>) -> Response {
    let hub = state.analytics.sensors.clone();
    let store = state.store.clone();
    let result = tokio::task::spawn_blocking(move || -> Result<serde_json::Value, String> {
        let mut out = Vec::new();
        for s in &hub.setup().sensors {
            let latest = store.latest(&s.id).map_err(|e| e.to_string())?;
            let unit = kind_range(&hub.setup().config, &s.kind).map(|(u, _, _)| u);
            out.push(serde_json::json!({"sensor": s, "unit": unit, "latest": latest}));
        }
        Ok(serde_json::json!({"limits": hub.setup().config.limits, "sensors": out}))
    })
    .await;
    match result {
        Ok(Ok(v)) => Json(v).into_response(),
        Ok(Err(m)) => error(StatusCode::INTERNAL_SERVER_ERROR, "store_failed", &m),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "query failed"),
    }
}

#[derive(Deserialize)]
struct RangeQuery {
    from: Option<String>,
    to: Option<String>,
    step: Option<i64>,
    limit: Option<i64>,
}

/// Earliest and latest times a query may name: 0001-01-01 and 10000-01-01 (UTC), so that
/// differences and bucket arithmetic stay far inside `i64`.
const TIME_RANGE: std::ops::RangeInclusive<i64> = -62_135_596_800..=253_402_300_800;
/// Longest bucket: 400 years of seconds.
const MAX_STEP: i64 = 400 * 366 * 86_400;

/// A time as Unix seconds or a `YYYY-MM-DD` date (its UTC midnight), within [`TIME_RANGE`].
fn parse_time(text: &str) -> Option<i64> {
    text.trim()
        .parse::<i64>()
        .ok()
        .or_else(|| renewtwin_protocol::CivilDate::parse_iso(text.trim()).map(|d| d.days_since_epoch() * 86_400))
        .filter(|t| TIME_RANGE.contains(t))
}

fn range(q: &RangeQuery, default_to: i64, default_span: i64) -> Result<(i64, i64), String> {
    let to = match &q.to {
        Some(t) => parse_time(t).ok_or_else(|| format!("to={t:?} is not Unix seconds or YYYY-MM-DD (years 1 to 9999)"))?,
        None => default_to,
    };
    let from = match &q.from {
        Some(f) => parse_time(f).ok_or_else(|| format!("from={f:?} is not Unix seconds or YYYY-MM-DD (years 1 to 9999)"))?,
        None => to.saturating_sub(default_span),
    };
    if from >= to {
        return Err("from must be before to".into());
    }
    Ok((from, to))
}

async fn get_series(State(state): State<AppState>, Path(id): Path<String>, Query(q): Query<RangeQuery>) -> Response {
    if !state.analytics.sensors.setup().sensors.iter().any(|s| s.id == id) {
        return error(StatusCode::NOT_FOUND, "unknown_sensor", &format!("no sensor {id:?}; GET /api/sensors lists them"));
    }
    let step = q.step.unwrap_or(3600);
    if !(1..=MAX_STEP).contains(&step) {
        return error(StatusCode::BAD_REQUEST, "bad_request", &format!("step is a number of seconds from 1 to {MAX_STEP}"));
    }
    let store = state.store.clone();
    let result = tokio::task::spawn_blocking(move || -> Result<Response, String> {
        let newest = store.latest(&id).map_err(|e| e.to_string())?.map_or_else(now, |r| r.t + 1);
        let (from, to) = match range(&q, newest, 7 * 86_400) {
            Ok(r) => r,
            Err(m) => return Ok(error(StatusCode::BAD_REQUEST, "bad_request", &m)),
        };
        if (to - from) / step > MAX_BUCKETS {
            return Ok(error(StatusCode::BAD_REQUEST, "too_many_buckets", &format!("at most {MAX_BUCKETS} buckets; raise step or narrow the range")));
        }
        let buckets = store.series(&id, from, to, step).map_err(|e| e.to_string())?;
        Ok(Json(serde_json::json!({"sensor": id, "from": from, "to": to, "step": step, "buckets": buckets})).into_response())
    })
    .await;
    match result {
        Ok(Ok(r)) => r,
        Ok(Err(m)) => error(StatusCode::INTERNAL_SERVER_ERROR, "store_failed", &m),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "query failed"),
    }
}

async fn list_alerts(State(state): State<AppState>, Query(q): Query<RangeQuery>) -> Response {
    let (from, to) = match range(&q, i64::MAX, i64::MAX) {
        Ok(r) => r,
        Err(m) => return error(StatusCode::BAD_REQUEST, "bad_request", &m),
    };
    let limit = q.limit.unwrap_or(500).clamp(1, 10_000);
    let store = state.store.clone();
    let result = tokio::task::spawn_blocking(move || -> Result<Vec<Alert>, String> { store.alerts(from, to, limit).map_err(|e| e.to_string()) })
    .await;
    match result {
        Ok(Ok(alerts)) => Json(serde_json::json!({"alerts": alerts})).into_response(),
        Ok(Err(m)) => error(StatusCode::INTERNAL_SERVER_ERROR, "store_failed", &m),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "query failed"),
    }
}

/// Applies the retention once an hour, for as long as the runtime runs.
pub fn spawn_retention(state: &AppState) -> tokio::task::JoinHandle<()> {
    let hub = state.analytics.sensors.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            every.tick().await;
            let hub = hub.clone();
            let sim_now = hub.today().day.map(|d| hub.setup().hour_t(d, 0));
            match tokio::task::spawn_blocking(move || hub.apply_retention(now(), sim_now)).await {
                Ok(Ok(n)) if n > 0 => tracing::info!(deleted = n, "sensor readings past retention deleted"),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "sensor retention failed"),
                Err(_) => tracing::error!("sensor retention task failed"),
            }
        }
    })
}

/// Ingests readings sent over the WebSocket ([`renewtwin_protocol::ClientMsg::SensorReadings`]);
/// the answer is a [`ServerMsg::SensorAck`] or an error.
pub async fn ingest_wire(state: &AppState, readings: Vec<renewtwin_protocol::SensorReading>) -> renewtwin_protocol::ServerMsg {
    use renewtwin_protocol::ServerMsg;
    let batch: Vec<IncomingReading> =
        readings.into_iter().map(|r| IncomingReading { sensor: r.sensor, t: r.t, value: r.value, max: r.max }).collect();
    let result = ingest_batch(state, batch).await;
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    match result {
        Ok(r) => ServerMsg::SensorAck { accepted: count(r.accepted), duplicates: count(r.duplicates), rejected: count(r.rejected.len()) },
        Err(Failed::Ingest(e @ IngestError::TooMany { .. })) => ServerMsg::Error { code: "batch_too_large".into(), message: e.to_string() },
        Err(Failed::Ingest(e)) => ServerMsg::Error { code: "store_failed".into(), message: e.to_string() },
        Err(Failed::Cluster(e)) => ServerMsg::Error { code: "cluster_unavailable".into(), message: e.to_string() },
        Err(Failed::Internal) => ServerMsg::Error { code: "internal".into(), message: "ingestion failed".into() },
    }
}
