//! The HTTP API of the civic domain (`renewtwin-civic`). [`crate::endpoints::ENDPOINTS`] is the one
//! table of every route with the roles it allows: the [`Caller`] extractor here enforces it,
//! [`crate::openapi`] documents it, and the endpoint × role test walks it. Bodies are bounded
//! per route; errors are `{"error": code, "message": …}` ([`ApiError`]: the one place a
//! [`ConsultationError`] becomes a status).

use std::net::SocketAddr;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequestParts, MatchedPath, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post, put};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use renewtwin_civic::accounts::{self, InvitationRequest, Login, SignUp};
use renewtwin_civic::auth::{self, Caller};
use renewtwin_civic::privacy::{Record, view, views};
use renewtwin_civic::Connection;
use renewtwin_civic::{ConsultationError, announcements, bcf, comments, indicators, moderation, reports, votes};

use crate::AppState;
use crate::endpoints::endpoint;

/// A civic-domain error as an HTTP response: a status and a stable code per
/// [`ConsultationError`] variant, `Retry-After` on rate limits, internal details only in the log.
#[derive(Debug)]
pub struct ApiError(pub ConsultationError);

impl From<ConsultationError> for ApiError {
    fn from(e: ConsultationError) -> Self {
        Self(e)
    }
}

impl ApiError {
    /// The status of `e`.
    pub fn status(e: &ConsultationError) -> StatusCode {
        match e {
            ConsultationError::Invalid(_) => StatusCode::BAD_REQUEST,
            ConsultationError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ConsultationError::Forbidden(_) => StatusCode::FORBIDDEN,
            ConsultationError::NotFound(_) => StatusCode::NOT_FOUND,
            ConsultationError::Conflict(_) => StatusCode::CONFLICT,
            ConsultationError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ConsultationError::Plan(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ConsultationError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            // Unreachable or busy: nothing was stored; the client retries (`Retry-After`).
            ConsultationError::Store(s) if s.is_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
            ConsultationError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ConsultationError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let e = self.0;
        let status = Self::status(&e);
        if let ConsultationError::Store(inner) = &e {
            tracing::error!(error = %inner, "consultation storage failed");
        }
        let message = match &e {
            // Internal details stay in the log.
            ConsultationError::Store(s) if s.is_unavailable() => {
                "the database is unavailable; nothing was stored, retry later".to_owned()
            }
            ConsultationError::Store(_) => "the database failed; the write was not acknowledged".to_owned(),
            ConsultationError::Plan(source) => format!("{e}: {source}"),
            other => other.to_string(),
        };
        let mut response = (status, Json(json!({"error": e.code(), "message": message}))).into_response();
        if let ConsultationError::RateLimited { retry_after: secs, .. } = e
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static(DATABASE_RETRY_AFTER));
        }
        response
    }
}

/// Seconds a client waits before retrying a write the database could not take (a restart of
/// PostgreSQL takes a few seconds; the store reconnects on the next request).
pub const DATABASE_RETRY_AFTER: &str = "5";

/// Results of the handlers here.
type Result<T, E = ApiError> = std::result::Result<T, E>;
/// Results of the civic domain.
type CivicResult<T> = std::result::Result<T, ConsultationError>;

/// Authorises the caller of a consultation route: the route's entry in
/// [`crate::endpoints::ENDPOINTS`] (a route
/// missing from it is refused), the bearer token's account, the role check (401 without a
/// valid token, 403 with the wrong role) and the write budgets (per account in the database,
/// per client address for visitors).
impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let hub = state.civic.clone();
        let path = parts.extensions.get::<MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_default();
        let endpoint = endpoint(&parts.method, &path)
            .ok_or_else(|| ConsultationError::Forbidden(format!("{} {path} is not classified; refused", parts.method)))?;
        let write = parts.method != Method::GET;
        let address = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(a)| a.ip());
        let account = match bearer(&parts.headers) {
            Ok(Some(token)) => auth::resolve(&state.store, token).await.map(Some),
            Ok(None) => Ok(None),
            Err(e) => Err(e),
        };
        // Writes without a valid account count against the client's address, refused or not.
        if write && !matches!(account, Ok(Some(_))) {
            hub.limits.charge_address(address, hub.config.anonymous_writes_per_minute, renewtwin_civic::now())?;
        }
        let account = account?;
        if !endpoint.admits(account.as_ref()) {
            return Err(match &account {
                None => ConsultationError::Unauthorized("sign in first (Authorization: Bearer TOKEN)"),
                Some(a) => ConsultationError::Forbidden(format!("a {} account may not {} {path}", a.label(), parts.method)),
            }
            .into());
        }
        if write && let Some(a) = &account {
            auth::charge(&hub, format!("write:{}", a.id), hub.config.writes_per_minute).await?;
        }
        Ok(Caller { account, hub })
    }
}

/// The bearer token of a request, if any.
fn bearer(headers: &axum::http::HeaderMap) -> std::result::Result<Option<String>, ConsultationError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else { return Ok(None) };
    let text = value.to_str().map_err(|_| ConsultationError::Unauthorized("the Authorization header is not text"))?;
    let token = text.strip_prefix("Bearer ").ok_or(ConsultationError::Unauthorized("use Authorization: Bearer TOKEN"))?;
    Ok(Some(token.trim().to_owned()))
}

/// Default body limit of consultation routes.
const BODY_LIMIT: usize = 64 * 1024;

/// The consultation router, to merge into the server's. Outcomes of consultations closed in
/// earlier runs are recorded into the plan first, so the phase gates stay open across restarts.
/// The domain's shared state (`AppState::civic`) serves these routes and `/ws`.
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
        .route("/api/consultations/{id}/objections", get(list_objections).post(file_objection))
        .route("/api/objections/{id}/answer", post(answer_objection))
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
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::map_response(nosniff))
}

async fn nosniff(mut response: Response) -> Response {
    response.headers_mut().insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn parse<T: DeserializeOwned>(body: std::result::Result<Bytes, BytesRejection>) -> CivicResult<T> {
    let bytes = body.map_err(|e| match e {
        BytesRejection::FailedToBufferBody(_) => ConsultationError::TooLarge(e.body_text()),
        other => ConsultationError::Invalid(other.body_text()),
    })?;
    serde_json::from_slice(&bytes).map_err(|e| ConsultationError::Invalid(format!("bad JSON body: {e}")))
}

fn id(path: std::result::Result<Path<i64>, PathRejection>) -> CivicResult<i64> {
    path.map(|Path(id)| id).map_err(|_| ConsultationError::NotFound("ids are whole numbers".into()))
}

fn query<T>(q: std::result::Result<Query<T>, QueryRejection>) -> CivicResult<T> {
    q.map(|Query(t)| t).map_err(|e| ConsultationError::Invalid(e.body_text()))
}

fn created(v: Value) -> Response {
    (StatusCode::CREATED, Json(v)).into_response()
}

/// Reads records with `read` on the store and answers them as the caller may see them.
async fn listed<R, F>(c: &Caller, read: F) -> Result<Json<Value>>
where
    R: Record + Send,
    F: FnOnce(&mut Connection) -> CivicResult<Vec<R>> + Send + 'static,
{
    let audience = c.audience();
    Ok(Json(c.hub.db(move |conn| Ok(views(&read(conn)?, audience))).await?))
}

/// The query of a list route; unknown parameters are refused.
type Filter<Q> = std::result::Result<Query<Q>, QueryRejection>;

/// A list route: the records `list` selects with the query, as the caller may see them.
async fn filtered<Q, R>(c: Caller, q: Filter<Q>, list: fn(&Connection, &Q) -> CivicResult<Vec<R>>) -> Result<Json<Value>>
where
    Q: Send + 'static,
    R: Record + Send,
{
    let q = query(q)?;
    listed(&c, move |conn| list(conn, &q)).await
}

/// Reads one record with `read` on the store and answers it as the caller may see it.
async fn shown<R, F>(c: &Caller, read: F) -> Result<Json<Value>>
where
    R: Record + Send,
    F: FnOnce(&mut Connection) -> CivicResult<R> + Send + 'static,
{
    let audience = c.audience();
    Ok(Json(c.hub.db(move |conn| Ok(view(&read(conn)?, audience))).await?))
}

/// Publishes a new or changed `record` on the live feed as `kind` and answers it, created, as
/// the caller may see it.
fn published<R: Record>(c: &Caller, kind: &'static str, id: i64, record: &R) -> Response {
    c.hub.feed.publish(kind, id, record);
    created(view(record, c.audience()))
}

fn element_exists(state: &AppState) -> impl Fn(&str) -> bool + '_ {
    |g: &str| state.scene.elements.iter().any(|e| e.global_id == g)
}

async fn openapi(_c: Caller) -> Json<Value> {
    Json(crate::openapi::document())
}

async fn classification(_c: Caller) -> Json<Value> {
    Json(renewtwin_civic::classification())
}

async fn hash(password: String) -> CivicResult<String> {
    tokio::task::spawn_blocking(move || accounts::hash_password(&password))
        .await
        .map_err(|_| ConsultationError::Unavailable("a hashing worker stopped"))?
}

async fn bootstrap(c: Caller, request: axum::extract::Request) -> Result<Response> {
    let local = request.extensions().get::<ConnectInfo<SocketAddr>>().is_some_and(|ConnectInfo(a)| crate::is_local(a.ip()));
    if !local {
        return Err(ConsultationError::Forbidden("the first government account is created from the server's own machine".into()).into());
    }
    let bytes = axum::body::to_bytes(request.into_body(), BODY_LIMIT).await.map_err(|e| ConsultationError::TooLarge(e.to_string()))?;
    let s: SignUp = parse(Ok(bytes))?;
    let hashed = hash(s.password.clone()).await?;
    let ttl = c.hub.config.session_ttl.as_secs() as i64;
    Ok(created(c.hub.db(move |c| accounts::bootstrap(c, &s, hashed, ttl)).await?))
}

async fn signup(c: Caller, body: std::result::Result<Bytes, BytesRejection>) -> Result<Response> {
    let s: SignUp = parse(body)?;
    accounts::precheck_signup(&s)?;
    auth::charge(&c.hub, format!("login:{}", s.username), c.hub.config.logins_per_minute).await?;
    let hashed = hash(s.password.clone()).await?;
    let ttl = c.hub.config.session_ttl.as_secs() as i64;
    Ok(created(c.hub.db(move |c| accounts::sign_up(c, &s, hashed, ttl)).await?))
}

async fn login(c: Caller, body: std::result::Result<Bytes, BytesRejection>) -> Result<Response> {
    let l: Login = parse(body)?;
    if l.username.len() > 64 || l.password.len() > 512 {
        return Err(ConsultationError::Unauthorized("wrong user name or password").into());
    }
    auth::charge(&c.hub, format!("login:{}", l.username), c.hub.config.logins_per_minute).await?;
    let name = l.username.clone();
    let stored = c.hub.db(move |c| accounts::credentials(c, &name)).await?;
    let (ok, stored) = tokio::task::spawn_blocking(move || (accounts::check_login(&l, stored.as_ref()), stored))
        .await
        .map_err(|_| ConsultationError::Unavailable("a hashing worker stopped"))?;
    let Some((id, _, role)) = stored.filter(|_| ok) else {
        return Err(ConsultationError::Unauthorized("wrong user name or password").into());
    };
    let ttl = c.hub.config.session_ttl.as_secs() as i64;
    let (token, expires) = c.hub.db(move |c| auth::open_session(c, id, ttl)).await?;
    Ok(Json(json!({"id": id, "role": role, "token": token, "expires_at": renewtwin_civic::rfc3339(expires)})).into_response())
}

async fn logout(c: Caller, headers: axum::http::HeaderMap) -> Result<Response> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_owned())
        .unwrap_or_default();
    c.hub.db(move |conn| accounts::logout(conn, &token)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn me(c: Caller) -> Result<Json<Value>> {
    let a = c.signed_in()?.id;
    shown(&c, move |conn| accounts::account(conn, a)).await
}

async fn invite(c: Caller, body: std::result::Result<Bytes, BytesRejection>) -> Result<Response> {
    let by = c.signed_in()?.id;
    let r: InvitationRequest = parse(body)?;
    Ok(created(c.hub.db(move |conn| accounts::invite(conn, by, &r)).await?))
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
    let consultations = c.hub.db(move |conn| Ok(views(&votes::list(conn)?, audience))).await?;
    // Actual progress as recorded by contractors and government, beside the simulated phases.
    let manifest = state.plan.manifest().ok_or(ConsultationError::Unavailable("the plan is not available"))?;
    let plan = renewtwin_twin::renewal::plan::Plan::resolve(&manifest, state.plan.scenario(), state.plan.model())
        .map_err(|e| ConsultationError::Plan(e.into()))?;
    let today = renewtwin_civic::approvals::today(&manifest);
    let (records, manifest, plan) = c
        .hub
        .db(move |conn| Ok((renewtwin_civic::progress::list(conn, &manifest, &plan, None, today)?, manifest, plan)))
        .await?;
    let actual = |name: &str| {
        manifest
            .projects
            .iter()
            .find(|p| p.name == name)
            .map(|p| (p.id.clone(), renewtwin_civic::progress::summary(&manifest, &plan, &p.id, &records)))
    };
    let today_date = renewtwin_protocol::CivilDate::from_sim_day(manifest.start, renewtwin_protocol::SimDay(today));
    Ok(Json(json!({
        "day": snap.day,
        "date": snap.date.to_string(),
        "simulated_day": snap.day,
        "simulated_date": snap.date.to_string(),
        "today": today_date.to_string(),
        "today_day": today,
        "projects": by_project
            .into_iter()
            .map(|(name, phases)| {
                let (id, progress) = actual(&name).unwrap_or_default();
                json!({"id": id, "name": name, "phases": phases, "progress": progress})
            })
            .collect::<Vec<_>>(),
        "consultations": consultations,
        // The plan played today: the scenario, the one the server started with, and the
        // choices consultations made (why it changed; the consultation's decision carries the
        // tally).
        "plan": {
            "scenario": state.plan.scenario_on(snap.day).unwrap_or_else(|| "base".into()),
            "started_with": state.plan.scenario().unwrap_or("base"),
            "choices": crate::viewer_api::played_choices(&state),
        },
    })))
}

async fn follows(c: Caller) -> Result<Json<Value>> {
    let a = c.signed_in()?.id;
    Ok(Json(json!(c.hub.db(move |conn| announcements::follows(conn, a)).await?)))
}

async fn follow(c: Caller, Path(project): Path<String>) -> Result<Response> {
    let a = c.signed_in()?.id;
    c.hub.db(move |conn| announcements::follow(conn, a, &project, true)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn unfollow(c: Caller, Path(project): Path<String>) -> Result<Response> {
    let a = c.signed_in()?.id;
    c.hub.db(move |conn| announcements::follow(conn, a, &project, false)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn household(c: &Caller) -> Result<(i64, i64)> {
    let a = c.signed_in()?;
    let h = a.household_id.ok_or_else(|| ConsultationError::Forbidden("only an account with a household may vote or rate".into()))?;
    Ok((a.id, h))
}

async fn satisfaction(
    c: Caller,
    Path(project): Path<String>,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Response> {
    let (_, h) = household(&c)?;
    let s: votes::Satisfaction = parse(body)?;
    c.hub.db(move |conn| votes::rate(conn, h, &project, s.score)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_announcements(c: Caller, q: Filter<announcements::AnnouncementQuery>) -> Result<Json<Value>> {
    filtered(c, q, announcements::list).await
}

async fn publish_announcement(c: Caller, body: std::result::Result<Bytes, BytesRejection>) -> Result<Response> {
    let by = c.signed_in()?.id;
    let a: announcements::NewAnnouncement = parse(body)?;
    a.check()?;
    let record = c.hub.db(move |conn| announcements::publish(conn, by, &a)).await?;
    Ok(published(&c, "announcement", record.id, &record))
}

async fn list_comments(c: Caller, q: Filter<comments::CommentQuery>) -> Result<Json<Value>> {
    filtered(c, q, comments::list).await
}

async fn create_comment(State(state): State<AppState>, c: Caller, body: std::result::Result<Bytes, BytesRejection>) -> Result<Response> {
    let by = c.signed_in()?.id;
    let new: comments::NewComment = parse(body)?;
    new.check(element_exists(&state))?;
    let record = c.hub.db(move |conn| comments::create(conn, by, &new, None)).await?;
    Ok(published(&c, "comment", record.id, &record))
}

async fn get_comment(c: Caller, path: std::result::Result<Path<i64>, PathRejection>) -> Result<Json<Value>> {
    let id = id(path)?;
    let audience = c.audience();
    Ok(Json(
        c.hub.db(move |conn| {
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

async fn list_consultations(c: Caller) -> Result<Json<Value>> {
    listed(&c, move |conn| votes::list(conn)).await
}

async fn open_consultation(State(state): State<AppState>, c: Caller, body: std::result::Result<Bytes, BytesRejection>) -> Result<Response> {
    let by = c.signed_in()?.id;
    let new: votes::NewConsultation = parse(body)?;
    new.check()?;
    let (day, _) = state.live.day();
    let manifest = state.plan.manifest().ok_or(ConsultationError::Unavailable("the simulation is not running"))?;
    new.check_against(&manifest, state.plan.model(), day)?;
    let record = c.hub.db(move |conn| votes::open(conn, by, &new, day)).await?;
    log_consultation(&c, "consultation_opened", &record).await?;
    Ok(published(&c, "consultation", record.id, &record))
}

async fn get_consultation(c: Caller, path: std::result::Result<Path<i64>, PathRejection>) -> Result<Json<Value>> {
    let id = id(path)?;
    shown(&c, move |conn| votes::get(conn, id)).await
}

/// Appends a consultation decision to the audit log: the record as the public sees it (its
/// questions, tallies, outcome and, where the consultation carries them, its rule).
async fn log_consultation(c: &Caller, action: &'static str, record: &votes::ConsultationRecord) -> Result<()> {
    if c.account.is_none() {
        return Ok(());
    }
    log_consultation_by(&c.hub, c.account.as_ref(), action, record).await
}

/// As [`log_consultation`], by `actor` (`None`: the clock, when a window ended).
async fn log_consultation_by(
    hub: &std::sync::Arc<renewtwin_civic::Consultation>,
    actor: Option<&auth::Account>,
    action: &'static str,
    record: &votes::ConsultationRecord,
) -> Result<()> {
    let entry = renewtwin_civic::audit::Entry {
        actor: actor.map(|a| a.id),
        actor_role: actor.map_or_else(|| "system (the consultation window ended)".to_owned(), |a| a.label()),
        action: action.into(),
        project: Some(record.project.clone()),
        subject: format!("consultation {}", record.id),
        detail: view(record, renewtwin_civic::Audience::Public),
        personal: Value::Null,
    };
    hub.db(move |conn| renewtwin_civic::audit::append(conn, &entry)).await?;
    Ok(())
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Close {
    /// Optional: `approved` or `rejected`, as the caller expects it. The outcome is computed from
    /// the ballots; an expectation that contradicts it is refused.
    #[serde(default)]
    outcome: Option<String>,
}

async fn close_consultation(
    State(state): State<AppState>,
    c: Caller,
    path: std::result::Result<Path<i64>, PathRejection>,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Response> {
    let id = id(path)?;
    let close: Close = parse(body)?;
    let asserted = match close.outcome.as_deref() {
        None => None,
        Some("approved") => Some(true),
        Some("rejected") => Some(false),
        Some(_) => return Err(ConsultationError::Invalid("`outcome` is approved or rejected (or omitted: it is computed from the ballots)".into()).into()),
    };
    let (day, _) = state.live.day();
    let (record, decision) = close_on(&state, &c.hub, c.account.as_ref(), id, day, asserted).await?;
    let mut answer = view(&record, c.audience());
    if let Some(m) = answer.as_object_mut() {
        m.insert("decision".into(), serde_json::to_value(&decision).unwrap_or(Value::Null));
    }
    Ok(Json(answer).into_response())
}

/// Closes consultation `id` on simulated day `day`, by `actor` (`None`: the clock, when its
/// window ended), the one path of a government close and of the close at the window's end:
/// the outcome computed from the ballots under the project's rule (refused if `asserted`
/// contradicts it), recorded into the plan (with the scenario a choice adopted), stored, logged
/// in the audit trail and published on the live stream.
async fn close_on(
    state: &AppState,
    hub: &std::sync::Arc<renewtwin_civic::Consultation>,
    actor: Option<&auth::Account>,
    id: i64,
    day: i32,
    asserted: Option<bool>,
) -> Result<(votes::ConsultationRecord, votes::Decision)> {
    let _one_at_a_time = hub.deciding().await?;
    let manifest = state.plan.manifest().ok_or(ConsultationError::Unavailable("the simulation is not running"))?;
    let model = state.plan.model().clone();
    let key = hub.ballot_key.clone();
    let decision = hub.db(move |conn| votes::decide(conn, &key, id, &manifest, &model, day)).await?;
    if let Some(expected) = asserted
        && expected != decision.approved
    {
        return Err(ConsultationError::Conflict(format!(
            "the ballots decide {:?}, not {:?}, under the rule of project {:?} ({}): {}",
            decision.outcome(),
            if expected { "approved" } else { "rejected" },
            decision.project,
            decision.rule.source,
            decision.describe()
        ))
        .into());
    }
    // Without an objection window the decision takes effect at once (dated on its effective
    // day); with one, once the window has ended and every objection is answered
    // ([`settle_objection_windows`]).
    let outcome = decision.recorded();
    let in_effect = (decision.rule.objection_days == 0).then_some(decision.effective_day);
    if let Some(day) = in_effect {
        record_in_plan(state, &outcome, day).await?;
    }
    let stored = decision.clone();
    let record = hub.db(move |conn| votes::mark_closed(conn, &stored, in_effect)).await?;
    log_consultation_by(hub, actor, "consultation_closed", &record).await?;
    hub.feed.publish("consultation", record.id, &record);
    if let Some(day) = in_effect {
        plan_changed(hub, actor, &outcome, day).await?;
    }
    Ok((record, decision))
}

async fn record_in_plan(state: &AppState, outcome: &votes::Outcome, day: i32) -> Result<()> {
    let plan = state.plan.clone();
    let recorded = outcome.clone();
    tokio::task::spawn_blocking(move || votes::record_outcome(&plan, &recorded, day))
        .await
        .map_err(|_| ConsultationError::Unavailable("the simulation is not running"))??;
    Ok(())
}

/// Logs and publishes the scenario a choice made the played plan, if it did.
async fn plan_changed(hub: &std::sync::Arc<renewtwin_civic::Consultation>, actor: Option<&auth::Account>, outcome: &votes::Outcome, day: i32) -> Result<()> {
    let Some(change) = votes::PlanChange::of(outcome, day) else { return Ok(()) };
    let entry = renewtwin_civic::audit::Entry {
        actor: actor.map(|a| a.id),
        actor_role: actor.map_or_else(|| "system (the consultation window ended)".to_owned(), |a| a.label()),
        action: "scenario_chosen".into(),
        project: Some(change.project.clone()),
        subject: format!("consultation {}", change.consultation),
        detail: view(&change, renewtwin_civic::Audience::Public),
        personal: Value::Null,
    };
    hub.db(move |conn| renewtwin_civic::audit::append(conn, &entry)).await?;
    hub.feed.publish("plan", change.consultation, &change);
    Ok(())
}

/// Puts into effect every decided consultation whose objection window has ended with every
/// objection answered (dated on the window's end, or the last answer's day if later): recorded
/// into the plan, stored, logged (`decision_in_effect`) and published. Returns the
/// consultations put into effect.
pub async fn settle_objection_windows(state: &AppState) -> Result<Vec<i64>> {
    let hub = &state.civic;
    let _one_at_a_time = hub.deciding().await?;
    let (today, _) = state.live.day();
    let pending = hub.db(|conn| votes::pending_effect(conn)).await?;
    let mut settled = Vec::new();
    for outcome in pending {
        let checked = outcome.clone();
        let Some(day) = hub.db(move |conn| renewtwin_civic::objections::in_effect_on(conn, &checked, today)).await? else { continue };
        record_in_plan(state, &outcome, day).await?;
        let id = outcome.consultation;
        let record = hub.db(move |conn| votes::mark_in_effect(conn, id, day)).await?;
        log_consultation_by(hub, None, "decision_in_effect", &record).await?;
        hub.feed.publish("consultation", record.id, &record);
        plan_changed(hub, None, &outcome, day).await?;
        settled.push(id);
    }
    Ok(settled)
}

async fn file_objection(
    State(state): State<AppState>,
    c: Caller,
    path: std::result::Result<Path<i64>, PathRejection>,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Response> {
    let id = id(path)?;
    let new: renewtwin_civic::objections::NewObjection = parse(body)?;
    let by = c.account.as_ref().map(|a| a.id);
    let (day, _) = state.live.day();
    let objection = c.hub.db(move |conn| renewtwin_civic::objections::file(conn, id, by, &new, day)).await?;
    let entry = renewtwin_civic::audit::Entry {
        actor: by,
        actor_role: c.account.as_ref().map_or_else(|| "public".to_owned(), |a| a.label()),
        action: "objection_filed".into(),
        project: None,
        subject: format!("consultation {id}"),
        detail: json!({"objection": objection.id, "consultation": id, "filed_day": objection.filed_day}),
        personal: json!({"text": objection.text}),
    };
    c.hub.db(move |conn| renewtwin_civic::audit::append(conn, &entry)).await?;
    Ok(published(&c, "objection", objection.id, &objection))
}

async fn list_objections(c: Caller, path: std::result::Result<Path<i64>, PathRejection>) -> Result<Json<Value>> {
    let id = id(path)?;
    listed(&c, move |conn| renewtwin_civic::objections::list(conn, id)).await
}

async fn answer_objection(
    State(state): State<AppState>,
    c: Caller,
    path: std::result::Result<Path<i64>, PathRejection>,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Json<Value>> {
    let id = id(path)?;
    let by = c.signed_in()?.id;
    let answer: renewtwin_civic::objections::Answer = parse(body)?;
    let (day, _) = state.live.day();
    let objection = c.hub.db(move |conn| renewtwin_civic::objections::answer(conn, id, by, &answer, day)).await?;
    let entry = renewtwin_civic::audit::Entry {
        actor: Some(by),
        actor_role: c.account.as_ref().map_or_else(String::new, |a| a.label()),
        action: "objection_answered".into(),
        project: None,
        subject: format!("consultation {}", objection.consultation),
        detail: json!({"objection": objection.id, "consultation": objection.consultation, "answered_day": objection.answered_day, "answer": objection.answer}),
        personal: Value::Null,
    };
    c.hub.db(move |conn| renewtwin_civic::audit::append(conn, &entry)).await?;
    c.hub.feed.publish("objection", objection.id, &objection);
    // An answer after the window's end may be the last one the decision waited for.
    settle_objection_windows(&state).await?;
    Ok(Json(view(&objection, c.audience())))
}

/// How often the clock's consultation windows are checked.
const WINDOW_CHECK: std::time::Duration = std::time::Duration::from_millis(200);

/// Closes every consultation whose window has ended, for as long as the runtime runs: once the
/// simulated day is past the last day of its publicity period (公示: the day it opened plus the
/// rule's `publicity_days`, on which government may still close it), it is closed as government
/// would close it, dated on that last day, with the actor "system". Idempotent (a closed
/// consultation is not decided again) and restart-safe (what is due is read from the store).
pub fn spawn_window_closer(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(WINDOW_CHECK);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Consultations that could not close (logged once each; tried again after a restart).
        let mut failed = std::collections::BTreeSet::new();
        loop {
            every.tick().await;
            close_ended_windows(&state, &mut failed).await;
            if let Err(ApiError(e)) = settle_objection_windows(&state).await {
                tracing::warn!(error = %e, "a decision whose objection window ended cannot take effect");
            }
        }
    })
}

/// One pass of [`spawn_window_closer`]: closes what is due today, except the consultations in
/// `failed`, to which it adds those that cannot close. Returns the consultations closed.
pub async fn close_ended_windows(state: &AppState, failed: &mut std::collections::BTreeSet<i64>) -> Vec<i64> {
    let (day, _) = state.live.day();
    let Some(manifest) = state.plan.manifest() else { return Vec::new() };
    let due = match state.civic.db(move |conn| votes::windows_ended(conn, &manifest, day)).await {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the consultation windows");
            return Vec::new();
        }
    };
    let mut closed = Vec::new();
    for (id, last_day) in due {
        if failed.contains(&id) {
            continue;
        }
        match close_on(state, &state.civic, None, id, last_day, None).await {
            Ok(_) => {
                tracing::info!(consultation = id, day = last_day, "consultation window ended: closed from its ballots");
                closed.push(id);
            }
            // Closed meanwhile by government: nothing to do.
            Err(ApiError(ConsultationError::Conflict(m))) if m.contains("closed already") => {}
            Err(ApiError(e)) => {
                tracing::warn!(consultation = id, error = %e, "a consultation whose window ended cannot close");
                failed.insert(id);
            }
        }
    }
    closed
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct VoteBody {
    alternative: i64,
}

async fn vote(
    c: Caller,
    path: std::result::Result<Path<i64>, PathRejection>,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Json<Value>> {
    let (voter, h) = household(&c)?;
    let q = id(path)?;
    let v: VoteBody = parse(body)?;
    let key = c.hub.ballot_key.clone();
    let (ballot, record, published) = c.hub.db(move |conn| votes::vote(conn, &key, voter, h, q, v.alternative)).await?;
    // The stream moves only when a batch of ballots is published: an event per ballot would
    // itself tell an observer when a neighbour voted.
    if published {
        c.hub.feed.publish("consultation", record.id, &record);
    }
    let audience = c.audience();
    Ok(Json(json!({"ballot": view(&ballot, audience), "consultation": view(&record, audience)})))
}

async fn my_vote(c: Caller, path: std::result::Result<Path<i64>, PathRejection>) -> Result<Json<Value>> {
    let (voter, h) = household(&c)?;
    let q = id(path)?;
    let audience = c.audience();
    let key = c.hub.ballot_key.clone();
    let ballot = c.hub.db(move |conn| votes::ballot(conn, &key, voter, h, q)).await?;
    let ballot = ballot.ok_or_else(|| ConsultationError::NotFound(format!("your household has not voted on question {q}")))?;
    Ok(Json(view(&ballot, audience)))
}

async fn list_reports(c: Caller, q: Filter<reports::ReportQuery>) -> Result<Json<Value>> {
    filtered(c, q, reports::list).await
}

async fn create_report(State(state): State<AppState>, c: Caller, body: std::result::Result<Bytes, BytesRejection>) -> Result<Response> {
    let by = c.signed_in()?.id;
    let new: reports::NewReport = parse(body)?;
    new.check(element_exists(&state))?;
    let photo = new.photo.as_ref().map(reports::check_photo).transpose()?;
    let record = c.hub.db(move |conn| reports::create(conn, by, &new, photo, None)).await?;
    c.hub.feed.publish("report", record.id, &record);
    Ok(created(reports::report_json(&record, &[], c.audience())))
}

async fn get_report(c: Caller, path: std::result::Result<Path<i64>, PathRejection>) -> Result<Json<Value>> {
    let id = id(path)?;
    let audience = c.audience();
    Ok(Json(
        c.hub.db(move |conn| {
            let r = reports::get(conn, id)?;
            Ok(reports::report_json(&r, &reports::updates(conn, id)?, audience))
        })
        .await?,
    ))
}

async fn answer_report(
    c: Caller,
    path: std::result::Result<Path<i64>, PathRejection>,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Response> {
    let by = c.signed_in()?.id;
    let id = id(path)?;
    let u: reports::NewUpdate = parse(body)?;
    let audience = c.audience();
    let (record, steps) = c.hub.db(move |conn| {
        let r = reports::answer(conn, by, id, &u)?;
        Ok((r, reports::updates(conn, id)?))
    })
    .await?;
    c.hub.feed.publish("report", record.id, &record);
    Ok(created(reports::report_json(&record, &steps, audience)))
}

async fn report_photo(c: Caller, path: std::result::Result<Path<i64>, PathRejection>) -> Result<Response> {
    let id = id(path)?;
    let audience = c.audience();
    let (owner, bytes, kind) = c.hub.db(move |conn| reports::photo(conn, id)).await?;
    // The photo is internal: its reporter and staff only.
    if !audience.is_staff() && audience.account() != Some(owner) {
        return Err(ConsultationError::Forbidden("a report's photo is shown to its reporter and to staff only".into()).into());
    }
    let kind = HeaderValue::from_str(&kind).unwrap_or(HeaderValue::from_static("application/octet-stream"));
    Ok(([(header::CONTENT_TYPE, kind)], bytes).into_response())
}

async fn flag(c: Caller, body: std::result::Result<Bytes, BytesRejection>) -> Result<Response> {
    let by = c.signed_in()?.id;
    let f: moderation::Flag = parse(body)?;
    let threshold = c.hub.config.auto_hide_flags;
    let (target, target_id) = (f.target, f.id);
    let hidden = c.hub.db(move |conn| moderation::flag(conn, by, &f, threshold)).await?;
    if hidden {
        republish(&c.hub, target, target_id).await?;
    }
    Ok(created(json!({"flagged": true, "hidden": hidden})))
}

/// Publishes a comment or report again after moderation changed it.
async fn republish(hub: &renewtwin_civic::Consultation, target: moderation::Target, id: i64) -> Result<()> {
    match target {
        moderation::Target::Comment => {
            let c = hub.db(move |conn| comments::get(conn, id)).await?;
            hub.feed.publish("comment", id, &c);
        }
        moderation::Target::Report => {
            let r = hub.db(move |conn| reports::get(conn, id)).await?;
            hub.feed.publish("report", id, &r);
        }
    }
    Ok(())
}

async fn moderation_queue(c: Caller) -> Result<Json<Value>> {
    Ok(Json(c.hub.db(moderation::queue_of).await?))
}

async fn moderate(
    c: Caller,
    Path((target, id)): Path<(String, i64)>,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Response> {
    let by = c.signed_in()?.id;
    let target = moderation::Target::parse(&target)?;
    let d: moderation::Decision = parse(body)?;
    c.hub.db(move |conn| moderation::decide(conn, by, target, id, &d)).await?;
    republish(&c.hub, target, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn export_bcf(c: Caller) -> Result<Response> {
    let bytes = c.hub.db(|conn| {
        let cs = comments::all(conn)?;
        let rs = reports::all(conn)?
            .into_iter()
            .map(|r| {
                let steps = reports::updates(conn, r.id)?;
                Ok((r, steps))
            })
            .collect::<CivicResult<Vec<_>>>()?;
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
    // Beside the write the extractor counted: a small budget of archives per account.
    auth::charge(&c.hub, format!("import:{by}"), c.hub.config.imports_per_minute).await?;
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
    // A few rows per transaction, releasing the store between them for other requests.
    let mut importer = bcf::Importer::new(by, prepared);
    while !importer.done() {
        importer = c
            .hub
            .db(move |conn| {
                importer.step(conn, bcf::IMPORT_CHUNK)?;
                Ok(importer)
            })
            .await?;
    }
    Ok(created(json!({"topics": importer.created, "comments": importer.replies, "skipped_topics": importer.skipped})))
}

async fn indicators_json(State(state): State<AppState>, c: Caller) -> Result<Json<Value>> {
    let buildings = indicators::model_buildings(state.plan.model());
    let key = c.hub.ballot_key.clone();
    Ok(Json(c.hub.db(move |conn| indicators::compute(conn, &key, &buildings)).await?))
}

async fn indicators_csv(State(state): State<AppState>, c: Caller) -> Result<Response> {
    let buildings = indicators::model_buildings(state.plan.model());
    let key = c.hub.ballot_key.clone();
    let csv = c.hub.db(move |conn| Ok(indicators::to_csv(&indicators::compute(conn, &key, &buildings)?))).await?;
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8")),
            (header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=\"indicators.csv\"")),
        ],
        csv,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use renewtwin_store::{StoreError, db};

    fn response(source: db::Error) -> Response {
        ApiError(ConsultationError::Store(StoreError::Database { path: "postgres://renewtwin@127.0.0.1/x".into(), source })).into_response()
    }

    #[test]
    fn an_unreachable_database_answers_503_with_retry_after_and_a_refused_statement_500() {
        let down = response(db::Error::Gone("the client thread stopped".into()));
        assert_eq!(down.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(down.headers().get(header::RETRY_AFTER).map(|v| v.to_str().unwrap_or("")), Some(DATABASE_RETRY_AFTER));
        let refused = response(db::Error::Unsupported("INSERT OR REPLACE".into()));
        assert_eq!(refused.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(refused.headers().get(header::RETRY_AFTER).is_none(), "a statement that fails will fail again");
    }
}
