//! The HTTP API of the consultation domain. [`ENDPOINTS`] is the one table of every route with
//! the roles it allows: [`super::auth::Caller`] enforces it, [`super::openapi`] documents it, and
//! the endpoint × role test walks it. Bodies are bounded per route; errors are
//! `{"error": code, "message": …}`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post, put};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::accounts::{self, InvitationRequest, Login, SignUp};
use super::auth::{Caller, Role};
use super::privacy::{view, views};
use super::{ConsultationError, Result, announcements, bcf, comments, indicators, moderation, reports, votes, with_db};
use crate::server::AppState;

/// A route and who may call it.
#[derive(Debug)]
pub(crate) struct Endpoint {
    pub method: Method,
    pub path: &'static str,
    pub allow: &'static [Role],
    pub summary: &'static str,
    /// Name of the request body schema in the OpenAPI document, if any.
    pub body: Option<&'static str>,
}

const ANYONE: &[Role] = &[Role::Government, Role::Professional, Role::Resident, Role::Public];
const SIGNED_IN: &[Role] = &[Role::Government, Role::Professional, Role::Resident];
const STAFF: &[Role] = &[Role::Government, Role::Professional];
const GOVERNMENT: &[Role] = &[Role::Government];
const RESIDENT: &[Role] = &[Role::Resident];

macro_rules! ep {
    ($m:ident, $p:literal, $a:expr, $s:literal) => {
        Endpoint { method: Method::$m, path: $p, allow: $a, summary: $s, body: None }
    };
    ($m:ident, $p:literal, $a:expr, $s:literal, $b:literal) => {
        Endpoint { method: Method::$m, path: $p, allow: $a, summary: $s, body: Some($b) }
    };
}

/// Every consultation route, with the roles allowed to call it.
pub(crate) static ENDPOINTS: &[Endpoint] = &[
    ep!(GET, "/api/openapi.json", ANYONE, "this OpenAPI document"),
    ep!(GET, "/api/consultation/classification", ANYONE, "the privacy class (public, internal, personal, confidential) of every field"),
    ep!(POST, "/api/auth/bootstrap", ANYONE, "create the first government account (only from the server's own machine, only once)", "SignUp"),
    ep!(POST, "/api/auth/signup", ANYONE, "sign up with an invitation code; returns a session token", "SignUp"),
    ep!(POST, "/api/auth/login", ANYONE, "sign in; returns a session token that expires", "Login"),
    ep!(POST, "/api/auth/logout", SIGNED_IN, "end this session"),
    ep!(GET, "/api/auth/me", SIGNED_IN, "the signed-in account"),
    ep!(POST, "/api/invitations", GOVERNMENT, "issue an invitation code (a resident's is tied to one household)", "Invitation"),
    ep!(GET, "/api/projects", ANYONE, "renewal projects: phases as simulated today, and their consultations"),
    ep!(GET, "/api/follows", SIGNED_IN, "projects the account follows"),
    ep!(PUT, "/api/projects/{project}/follow", SIGNED_IN, "follow a project's progress"),
    ep!(DELETE, "/api/projects/{project}/follow", SIGNED_IN, "stop following a project"),
    ep!(PUT, "/api/projects/{project}/satisfaction", RESIDENT, "rate a project 1-5 (one answer per household, changeable)", "Satisfaction"),
    ep!(GET, "/api/announcements", ANYONE, "announcements and policies (?kind=policy, ?project=)"),
    ep!(POST, "/api/announcements", STAFF, "publish an announcement or a policy", "Announcement"),
    ep!(GET, "/api/comments", ANYONE, "comments (?project=, ?element=, ?parent=, ?after=, ?limit=)"),
    ep!(POST, "/api/comments", SIGNED_IN, "comment on an element, a point or a viewpoint, or reply (parent)", "Comment"),
    ep!(GET, "/api/comments/{id}", ANYONE, "one comment and its replies"),
    ep!(GET, "/api/consultations", ANYONE, "consultations with their questions and public tallies"),
    ep!(POST, "/api/consultations", STAFF, "open a consultation on a project", "Consultation"),
    ep!(GET, "/api/consultations/{id}", ANYONE, "one consultation with its tallies"),
    ep!(POST, "/api/consultations/{id}/close", STAFF, "close with an outcome; records consultation_closed for the phase gate", "Close"),
    ep!(PUT, "/api/questions/{id}/vote", RESIDENT, "cast or change the household's secret ballot", "Vote"),
    ep!(GET, "/api/questions/{id}/vote", RESIDENT, "the household's own ballot"),
    ep!(GET, "/api/reports", ANYONE, "problem reports (?status=, ?after=)"),
    ep!(POST, "/api/reports", SIGNED_IN, "report a problem with a location, a category and an optional photo", "Report"),
    ep!(GET, "/api/reports/{id}", ANYONE, "one report with its handling steps"),
    ep!(POST, "/api/reports/{id}/updates", STAFF, "answer a report and move its status", "ReportUpdate"),
    ep!(GET, "/api/reports/{id}/photo", SIGNED_IN, "a report's photo (its reporter and staff)"),
    ep!(POST, "/api/flags", SIGNED_IN, "flag a comment or report; hidden pending review after N flags", "Flag"),
    ep!(GET, "/api/moderation/queue", STAFF, "flagged and auto-hidden content awaiting review"),
    ep!(POST, "/api/moderation/{target}/{id}", STAFF, "hide (with a reason) or restore a comment or report", "Decision"),
    ep!(GET, "/api/export/bcf", STAFF, "comments and reports as a BCF 3.0 archive"),
    ep!(POST, "/api/import/bcf", STAFF, "import the topics of a BCF archive as comment threads", "BcfArchive"),
    ep!(GET, "/api/indicators", ANYONE, "satisfaction, report answer times and participation per building"),
    ep!(GET, "/api/indicators.csv", ANYONE, "the indicators as CSV"),
    ep!(GET, "/api/admin/backup", GOVERNMENT, "a consistent copy of the database (SQLite file)"),
];

/// The endpoint for a matched route, if classified.
pub(crate) fn endpoint(method: &Method, path: &str) -> Option<&'static Endpoint> {
    ENDPOINTS.iter().find(|e| e.method == *method && e.path == path)
}

/// Default body limit of consultation routes.
const BODY_LIMIT: usize = 64 * 1024;

/// The consultation router, to merge into the server's. Outcomes of consultations closed in
/// earlier runs are recorded into the plan first, so the phase gates stay open across restarts.
/// The domain's shared state reaches these routes and `/ws` through [`extension`], layered
/// over the whole server router.
pub fn routes(state: &AppState) -> Router<AppState> {
    if let Err(e) = votes::replay_outcomes(&state.store, &state.plan) {
        tracing::error!(error = %e, "cannot replay consultation outcomes into the plan");
    }
    let big = |n: usize| DefaultBodyLimit::max(n);
    Router::new()
        .route("/api/openapi.json", get(openapi))
        .route("/api/consultation/classification", get(classification))
        .route("/api/auth/bootstrap", post(bootstrap))
        .route("/api/auth/signup", post(signup))
        .route("/api/auth/login", post(login))
        .route("/api/auth/logout", post(logout))
        .route("/api/auth/me", get(me))
        .route("/api/invitations", post(invite))
        .route("/api/projects", get(projects))
        .route("/api/follows", get(follows))
        .route("/api/projects/{project}/follow", put(follow).delete(unfollow))
        .route("/api/projects/{project}/satisfaction", put(satisfaction))
        .route("/api/announcements", get(list_announcements).post(publish_announcement))
        .route("/api/comments", get(list_comments).post(create_comment))
        .route("/api/comments/{id}", get(get_comment))
        .route("/api/consultations", get(list_consultations).post(open_consultation))
        .route("/api/consultations/{id}", get(get_consultation))
        .route("/api/consultations/{id}/close", post(close_consultation))
        .route("/api/questions/{id}/vote", put(vote).get(my_vote))
        .route("/api/reports", get(list_reports).post(create_report).layer(big(4 * 1024 * 1024)))
        .route("/api/reports/{id}", get(get_report))
        .route("/api/reports/{id}/updates", post(answer_report))
        .route("/api/reports/{id}/photo", get(report_photo))
        .route("/api/flags", post(flag))
        .route("/api/moderation/queue", get(moderation_queue))
        .route("/api/moderation/{target}/{id}", post(moderate))
        .route("/api/export/bcf", get(export_bcf))
        .route("/api/import/bcf", post(import_bcf).layer(big(bcf::MAX_ARCHIVE_BYTES)))
        .route("/api/indicators", get(indicators_json))
        .route("/api/indicators.csv", get(indicators_csv))
        .route("/api/admin/backup", get(backup))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::map_response(nosniff))
}

/// The consultation domain's shared state (settings, rate limits, live feed) with `config`,
/// as a layer for the server's router: the consultation routes and `/ws` read it.
pub fn extension(config: super::ConsultationConfig) -> axum::Extension<Arc<super::Consultation>> {
    axum::Extension(super::Consultation::new(config))
}

async fn nosniff(mut response: Response) -> Response {
    response.headers_mut().insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn parse<T: DeserializeOwned>(body: std::result::Result<Bytes, BytesRejection>) -> Result<T> {
    let bytes = body.map_err(|e| match e {
        BytesRejection::FailedToBufferBody(_) => ConsultationError::TooLarge(e.body_text()),
        other => ConsultationError::Invalid(other.body_text()),
    })?;
    serde_json::from_slice(&bytes).map_err(|e| ConsultationError::Invalid(format!("bad JSON body: {e}")))
}

fn id(path: std::result::Result<Path<i64>, PathRejection>) -> Result<i64> {
    path.map(|Path(id)| id).map_err(|_| ConsultationError::NotFound("ids are whole numbers".into()))
}

fn query<T>(q: std::result::Result<Query<T>, QueryRejection>) -> Result<T> {
    q.map(|Query(t)| t).map_err(|e| ConsultationError::Invalid(e.body_text()))
}

fn created(v: Value) -> Response {
    (StatusCode::CREATED, Json(v)).into_response()
}

fn element_exists(state: &AppState) -> impl Fn(&str) -> bool + '_ {
    |g: &str| state.scene.elements.iter().any(|e| e.global_id == g)
}

async fn openapi(_c: Caller) -> Json<Value> {
    Json(super::openapi::document())
}

async fn classification(_c: Caller) -> Json<Value> {
    Json(super::privacy::table())
}

async fn hash(password: String) -> Result<String> {
    tokio::task::spawn_blocking(move || accounts::hash_password(&password))
        .await
        .map_err(|_| ConsultationError::Unavailable("a hashing worker stopped"))?
}

async fn bootstrap(State(state): State<AppState>, c: Caller, request: axum::extract::Request) -> Result<Response> {
    let local = request.extensions().get::<ConnectInfo<SocketAddr>>().is_some_and(|ConnectInfo(a)| a.ip().is_loopback());
    if !local {
        return Err(ConsultationError::Forbidden("the first government account is created from the server's own machine".into()));
    }
    let bytes = axum::body::to_bytes(request.into_body(), BODY_LIMIT).await.map_err(|e| ConsultationError::TooLarge(e.to_string()))?;
    let s: SignUp = parse(Ok(bytes))?;
    let hashed = hash(s.password.clone()).await?;
    let ttl = c.hub.config.session_ttl.as_secs() as i64;
    Ok(created(with_db(&state.store, move |c| accounts::bootstrap(c, &s, hashed, ttl)).await?))
}

async fn signup(State(state): State<AppState>, c: Caller, body: std::result::Result<Bytes, BytesRejection>) -> Result<Response> {
    let s: SignUp = parse(body)?;
    accounts::precheck_signup(&s)?;
    super::auth::charge(&state, &c.hub, format!("login:{}", s.username), c.hub.config.logins_per_minute).await?;
    let hashed = hash(s.password.clone()).await?;
    let ttl = c.hub.config.session_ttl.as_secs() as i64;
    Ok(created(with_db(&state.store, move |c| accounts::sign_up(c, &s, hashed, ttl)).await?))
}

async fn login(State(state): State<AppState>, c: Caller, body: std::result::Result<Bytes, BytesRejection>) -> Result<Response> {
    let l: Login = parse(body)?;
    if l.username.len() > 64 || l.password.len() > 512 {
        return Err(ConsultationError::Unauthorized("wrong user name or password"));
    }
    super::auth::charge(&state, &c.hub, format!("login:{}", l.username), c.hub.config.logins_per_minute).await?;
    let name = l.username.clone();
    let stored = with_db(&state.store, move |c| accounts::credentials(c, &name)).await?;
    let (ok, stored) = tokio::task::spawn_blocking(move || (accounts::check_login(&l, stored.as_ref()), stored))
        .await
        .map_err(|_| ConsultationError::Unavailable("a hashing worker stopped"))?;
    let Some((id, _, role)) = stored.filter(|_| ok) else {
        return Err(ConsultationError::Unauthorized("wrong user name or password"));
    };
    let ttl = c.hub.config.session_ttl.as_secs() as i64;
    let (token, expires) = with_db(&state.store, move |c| super::auth::open_session(c, id, ttl)).await?;
    Ok(Json(json!({"id": id, "role": role, "token": token, "expires_at": super::rfc3339(expires)})).into_response())
}

async fn logout(State(state): State<AppState>, _c: Caller, headers: axum::http::HeaderMap) -> Result<Response> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_owned())
        .unwrap_or_default();
    with_db(&state.store, move |c| accounts::logout(c, &token)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn me(State(state): State<AppState>, c: Caller) -> Result<Json<Value>> {
    let a = c.signed_in()?.id;
    let audience = c.audience();
    Ok(Json(with_db(&state.store, move |conn| Ok(view(&accounts::account(conn, a)?, audience))).await?))
}

async fn invite(State(state): State<AppState>, c: Caller, body: std::result::Result<Bytes, BytesRejection>) -> Result<Response> {
    let by = c.signed_in()?.id;
    let r: InvitationRequest = parse(body)?;
    Ok(created(with_db(&state.store, move |conn| accounts::invite(conn, by, &r)).await?))
}

async fn projects(State(state): State<AppState>, c: Caller) -> Result<Json<Value>> {
    let snap = state.live.snapshot();
    let mut by_project: Vec<(String, Vec<Value>)> = Vec::new();
    for p in &snap.phases {
        let v = serde_json::to_value(p).unwrap_or(Value::Null);
        match by_project.iter_mut().find(|(name, _)| *name == p.project) {
            Some((_, list)) => list.push(v),
            None => by_project.push((p.project.clone(), vec![v])),
        }
    }
    let audience = c.audience();
    let consultations = with_db(&state.store, move |conn| Ok(views(&votes::list(conn)?, audience))).await?;
    Ok(Json(json!({
        "day": snap.day,
        "date": snap.date.to_string(),
        "projects": by_project.into_iter().map(|(name, phases)| json!({"name": name, "phases": phases})).collect::<Vec<_>>(),
        "consultations": consultations,
    })))
}

async fn follows(State(state): State<AppState>, c: Caller) -> Result<Json<Value>> {
    let a = c.signed_in()?.id;
    Ok(Json(json!(with_db(&state.store, move |conn| announcements::follows(conn, a)).await?)))
}

async fn follow(State(state): State<AppState>, c: Caller, Path(project): Path<String>) -> Result<Response> {
    let a = c.signed_in()?.id;
    with_db(&state.store, move |conn| announcements::follow(conn, a, &project, true)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn unfollow(State(state): State<AppState>, c: Caller, Path(project): Path<String>) -> Result<Response> {
    let a = c.signed_in()?.id;
    with_db(&state.store, move |conn| announcements::follow(conn, a, &project, false)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn household(c: &Caller) -> Result<(i64, i64)> {
    let a = c.signed_in()?;
    let h = a.household_id.ok_or_else(|| ConsultationError::Forbidden("only an account with a household may vote or rate".into()))?;
    Ok((a.id, h))
}

async fn satisfaction(
    State(state): State<AppState>,
    c: Caller,
    Path(project): Path<String>,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Response> {
    let (_, h) = household(&c)?;
    let s: votes::Satisfaction = parse(body)?;
    with_db(&state.store, move |conn| votes::rate(conn, h, &project, s.score)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AnnouncementQuery {
    kind: Option<String>,
    project: Option<String>,
}

async fn list_announcements(
    State(state): State<AppState>,
    c: Caller,
    q: std::result::Result<Query<AnnouncementQuery>, QueryRejection>,
) -> Result<Json<Value>> {
    let q = query(q)?;
    let audience = c.audience();
    Ok(Json(
        with_db(&state.store, move |conn| Ok(views(&announcements::list(conn, q.kind.as_deref(), q.project.as_deref())?, audience))).await?,
    ))
}

async fn publish_announcement(State(state): State<AppState>, c: Caller, body: std::result::Result<Bytes, BytesRejection>) -> Result<Response> {
    let by = c.signed_in()?.id;
    let a: announcements::NewAnnouncement = parse(body)?;
    a.check()?;
    let record = with_db(&state.store, move |conn| announcements::publish(conn, by, &a)).await?;
    c.hub.feed.publish("announcement", record.id, &record);
    Ok(created(view(&record, c.audience())))
}

async fn list_comments(
    State(state): State<AppState>,
    c: Caller,
    q: std::result::Result<Query<comments::CommentQuery>, QueryRejection>,
) -> Result<Json<Value>> {
    let q = query(q)?;
    let audience = c.audience();
    Ok(Json(with_db(&state.store, move |conn| Ok(views(&comments::list(conn, &q)?, audience))).await?))
}

async fn create_comment(State(state): State<AppState>, c: Caller, body: std::result::Result<Bytes, BytesRejection>) -> Result<Response> {
    let by = c.signed_in()?.id;
    let new: comments::NewComment = parse(body)?;
    new.check(element_exists(&state))?;
    let record = with_db(&state.store, move |conn| comments::create(conn, by, &new, None)).await?;
    c.hub.feed.publish("comment", record.id, &record);
    Ok(created(view(&record, c.audience())))
}

async fn get_comment(State(state): State<AppState>, c: Caller, path: std::result::Result<Path<i64>, PathRejection>) -> Result<Json<Value>> {
    let id = id(path)?;
    let audience = c.audience();
    Ok(Json(
        with_db(&state.store, move |conn| {
            let comment = comments::get(conn, id)?;
            let replies = comments::list(conn, &comments::CommentQuery { parent: Some(id), ..Default::default() })?;
            let mut v = view(&comment, audience);
            if let Some(m) = v.as_object_mut() {
                m.insert("replies".into(), views(&replies, audience));
            }
            Ok(v)
        })
        .await?,
    ))
}

async fn list_consultations(State(state): State<AppState>, c: Caller) -> Result<Json<Value>> {
    let audience = c.audience();
    Ok(Json(with_db(&state.store, move |conn| Ok(views(&votes::list(conn)?, audience))).await?))
}

async fn open_consultation(State(state): State<AppState>, c: Caller, body: std::result::Result<Bytes, BytesRejection>) -> Result<Response> {
    let by = c.signed_in()?.id;
    let new: votes::NewConsultation = parse(body)?;
    new.check()?;
    let record = with_db(&state.store, move |conn| votes::open(conn, by, &new)).await?;
    c.hub.feed.publish("consultation", record.id, &record);
    Ok(created(view(&record, c.audience())))
}

async fn get_consultation(State(state): State<AppState>, c: Caller, path: std::result::Result<Path<i64>, PathRejection>) -> Result<Json<Value>> {
    let id = id(path)?;
    let audience = c.audience();
    Ok(Json(with_db(&state.store, move |conn| Ok(view(&votes::get(conn, id)?, audience))).await?))
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Close {
    /// `approved` or `rejected`.
    outcome: String,
}

async fn close_consultation(
    State(state): State<AppState>,
    c: Caller,
    path: std::result::Result<Path<i64>, PathRejection>,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Response> {
    let id = id(path)?;
    let close: Close = parse(body)?;
    let approved = match close.outcome.as_str() {
        "approved" => true,
        "rejected" => false,
        _ => return Err(ConsultationError::Invalid("`outcome` is approved or rejected".into())),
    };
    let _one_at_a_time = c.hub.closing.lock().await;
    let record = with_db(&state.store, move |conn| votes::open_consultation(conn, id)).await?;
    let (day, _) = state.live.day();
    let plan = state.plan.clone();
    let project = record.project.clone();
    tokio::task::spawn_blocking(move || votes::record_outcome(&plan, &project, day, approved))
        .await
        .map_err(|_| ConsultationError::Unavailable("the simulation is not running"))??;
    let record = with_db(&state.store, move |conn| votes::mark_closed(conn, id, day, approved)).await?;
    c.hub.feed.publish("consultation", record.id, &record);
    Ok(Json(view(&record, c.audience())).into_response())
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct VoteBody {
    alternative: i64,
}

async fn vote(
    State(state): State<AppState>,
    c: Caller,
    path: std::result::Result<Path<i64>, PathRejection>,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Json<Value>> {
    let (voter, h) = household(&c)?;
    let q = id(path)?;
    let v: VoteBody = parse(body)?;
    let (ballot, record) = with_db(&state.store, move |conn| votes::vote(conn, voter, h, q, v.alternative)).await?;
    c.hub.feed.publish("consultation", record.id, &record);
    let audience = c.audience();
    Ok(Json(json!({"ballot": view(&ballot, audience), "consultation": view(&record, audience)})))
}

async fn my_vote(State(state): State<AppState>, c: Caller, path: std::result::Result<Path<i64>, PathRejection>) -> Result<Json<Value>> {
    let (voter, h) = household(&c)?;
    let q = id(path)?;
    let audience = c.audience();
    let ballot = with_db(&state.store, move |conn| votes::ballot(conn, voter, h, q)).await?;
    let ballot = ballot.ok_or_else(|| ConsultationError::NotFound(format!("your household has not voted on question {q}")))?;
    Ok(Json(view(&ballot, audience)))
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportQuery {
    status: Option<String>,
    after: Option<i64>,
}

async fn list_reports(
    State(state): State<AppState>,
    c: Caller,
    q: std::result::Result<Query<ReportQuery>, QueryRejection>,
) -> Result<Json<Value>> {
    let q = query(q)?;
    let audience = c.audience();
    Ok(Json(
        with_db(&state.store, move |conn| Ok(views(&reports::list(conn, q.status.as_deref(), q.after.unwrap_or(0))?, audience))).await?,
    ))
}

async fn create_report(State(state): State<AppState>, c: Caller, body: std::result::Result<Bytes, BytesRejection>) -> Result<Response> {
    let by = c.signed_in()?.id;
    let new: reports::NewReport = parse(body)?;
    new.check(element_exists(&state))?;
    let photo = new.photo.as_ref().map(reports::check_photo).transpose()?;
    let record = with_db(&state.store, move |conn| reports::create(conn, by, &new, photo, None)).await?;
    c.hub.feed.publish("report", record.id, &record);
    Ok(created(reports::report_json(&record, &[], c.audience())))
}

async fn get_report(State(state): State<AppState>, c: Caller, path: std::result::Result<Path<i64>, PathRejection>) -> Result<Json<Value>> {
    let id = id(path)?;
    let audience = c.audience();
    Ok(Json(
        with_db(&state.store, move |conn| {
            let r = reports::get(conn, id)?;
            Ok(reports::report_json(&r, &reports::updates(conn, id)?, audience))
        })
        .await?,
    ))
}

async fn answer_report(
    State(state): State<AppState>,
    c: Caller,
    path: std::result::Result<Path<i64>, PathRejection>,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Response> {
    let by = c.signed_in()?.id;
    let id = id(path)?;
    let u: reports::NewUpdate = parse(body)?;
    let audience = c.audience();
    let (record, steps) = with_db(&state.store, move |conn| {
        let r = reports::answer(conn, by, id, &u)?;
        Ok((r, reports::updates(conn, id)?))
    })
    .await?;
    c.hub.feed.publish("report", record.id, &record);
    Ok(created(reports::report_json(&record, &steps, audience)))
}

async fn report_photo(State(state): State<AppState>, c: Caller, path: std::result::Result<Path<i64>, PathRejection>) -> Result<Response> {
    let id = id(path)?;
    let audience = c.audience();
    let (owner, bytes, kind) = with_db(&state.store, move |conn| reports::photo(conn, id)).await?;
    // The photo is internal: its reporter and staff only.
    if !audience.is_staff() && audience.account() != Some(owner) {
        return Err(ConsultationError::Forbidden("a report's photo is shown to its reporter and to staff only".into()));
    }
    let kind = HeaderValue::from_str(&kind).unwrap_or(HeaderValue::from_static("application/octet-stream"));
    Ok(([(header::CONTENT_TYPE, kind)], bytes).into_response())
}

async fn flag(State(state): State<AppState>, c: Caller, body: std::result::Result<Bytes, BytesRejection>) -> Result<Response> {
    let by = c.signed_in()?.id;
    let f: moderation::Flag = parse(body)?;
    let threshold = c.hub.config.auto_hide_flags;
    let (target, target_id) = (f.target, f.id);
    let hidden = with_db(&state.store, move |conn| moderation::flag(conn, by, &f, threshold)).await?;
    if hidden {
        republish(&state, &c.hub, target, target_id).await?;
    }
    Ok(created(json!({"flagged": true, "hidden": hidden})))
}

async fn republish(state: &AppState, hub: &super::Consultation, target: moderation::Target, id: i64) -> Result<()> {
    match target {
        moderation::Target::Comment => {
            let c = with_db(&state.store, move |conn| comments::get(conn, id)).await?;
            hub.feed.publish("comment", id, &c);
        }
        moderation::Target::Report => {
            let r = with_db(&state.store, move |conn| reports::get(conn, id)).await?;
            hub.feed.publish("report", id, &r);
        }
    }
    Ok(())
}

async fn moderation_queue(State(state): State<AppState>, _c: Caller) -> Result<Json<Value>> {
    Ok(Json(with_db(&state.store, moderation::queue_of).await?))
}

async fn moderate(
    State(state): State<AppState>,
    c: Caller,
    Path((target, id)): Path<(String, i64)>,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Response> {
    let by = c.signed_in()?.id;
    let target = moderation::Target::parse(&target)?;
    let d: moderation::Decision = parse(body)?;
    with_db(&state.store, move |conn| moderation::decide(conn, by, target, id, &d)).await?;
    republish(&state, &c.hub, target, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn export_bcf(State(state): State<AppState>, _c: Caller) -> Result<Response> {
    let bytes = with_db(&state.store, |conn| {
        let cs = comments::all(conn)?;
        let rs = reports::all(conn)?
            .into_iter()
            .map(|r| {
                let steps = reports::updates(conn, r.id)?;
                Ok((r, steps))
            })
            .collect::<Result<Vec<_>>>()?;
        bcf::export(&cs, &rs)
    })
    .await?;
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream")),
            (header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=\"renewtwin.bcf\"")),
        ],
        bytes,
    )
        .into_response())
}

async fn import_bcf(State(state): State<AppState>, c: Caller, body: std::result::Result<Bytes, BytesRejection>) -> Result<Response> {
    let by = c.signed_in()?.id;
    let bytes = body.map_err(|e| ConsultationError::TooLarge(e.body_text()))?;
    let topics = tokio::task::spawn_blocking(move || bcf::import(&bytes))
        .await
        .map_err(|_| ConsultationError::Unavailable("an import worker stopped"))??;
    let exists = element_exists(&state);
    let mut prepared = Vec::new();
    for mut t in topics {
        if let Some(v) = t.viewpoint.as_mut() {
            v.elements.retain(|g| exists(g));
        }
        prepared.push(t);
    }
    let (created_topics, created_comments, skipped) = with_db(&state.store, move |conn| {
        let (mut topics, mut replies, mut skipped) = (0, 0, 0);
        for t in prepared {
            let known = |conn: &rusqlite::Connection, g: &str| -> Result<Option<i64>> {
                Ok(rusqlite::OptionalExtension::optional(conn.query_row("SELECT id FROM c_comments WHERE bcf_guid = ?1", [g], |r| r.get(0)))?)
            };
            let root = match known(conn, &t.guid)? {
                Some(id) => {
                    skipped += 1;
                    id
                }
                None => {
                    let body = match &t.description {
                        Some(d) if !t.title.is_empty() && !d.starts_with(&t.title) => bcf::clean(&format!("{}\n\n{d}", t.title)),
                        Some(d) => d.clone(),
                        None => t.title.clone(),
                    };
                    let body = if body.is_empty() { "(imported topic)".to_owned() } else { body };
                    let new = comments::NewComment { project: None, parent: None, body, element: None, point: None, viewpoint: t.viewpoint.clone() };
                    topics += 1;
                    comments::create(conn, by, &new, Some(&t.guid))?.id
                }
            };
            for (guid, author, text) in t.comments {
                if guid == bcf::body_guid(&t.guid) || known(conn, &guid)?.is_some() {
                    continue;
                }
                let body = bcf::clean(&if author.is_empty() { text } else { format!("[{author}] {text}") });
                let new = comments::NewComment { project: None, parent: Some(root), body, element: None, point: None, viewpoint: None };
                comments::create(conn, by, &new, Some(&guid))?;
                replies += 1;
            }
        }
        Ok((topics, replies, skipped))
    })
    .await?;
    Ok(created(json!({"topics": created_topics, "comments": created_comments, "skipped_topics": skipped})))
}

async fn indicators_json(State(state): State<AppState>, _c: Caller) -> Result<Json<Value>> {
    let buildings = indicators::model_buildings(state.plan.model());
    Ok(Json(with_db(&state.store, move |conn| indicators::compute(conn, &buildings)).await?))
}

async fn indicators_csv(State(state): State<AppState>, _c: Caller) -> Result<Response> {
    let buildings = indicators::model_buildings(state.plan.model());
    let csv = with_db(&state.store, move |conn| Ok(indicators::to_csv(&indicators::compute(conn, &buildings)?))).await?;
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8")),
            (header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=\"indicators.csv\"")),
        ],
        csv,
    )
        .into_response())
}

async fn backup(State(state): State<AppState>, _c: Caller) -> Result<Response> {
    let store: Arc<crate::store::Store> = state.store.clone();
    let bytes = tokio::task::spawn_blocking(move || -> Result<Vec<u8>> {
        let name = format!("renewtwin-backup-{}.db", super::auth::new_token()?);
        let path = std::env::temp_dir().join(name);
        store.backup(&path)?;
        let bytes = std::fs::read(&path).map_err(|_| ConsultationError::Unavailable("cannot read the backup copy"));
        let _ = std::fs::remove_file(&path);
        bytes
    })
    .await
    .map_err(|_| ConsultationError::Unavailable("a backup worker stopped"))??;
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/vnd.sqlite3")),
            (header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=\"renewtwin-backup.db\"")),
        ],
        bytes,
    )
        .into_response())
}
