//! The HTTP API of governance beyond the consultation: powers granted beyond a role, the
//! authorities' approval inboxes and decisions, actual progress, third-party evaluations and
//! the audit log. Who may call each route is in [`crate::endpoints::ENDPOINTS`]; the
//! per-record checks (an authority decides only its own approvals) are in the civic domain.

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use renewtwin_civic::auth::{Caller, Capacity, Role};
use renewtwin_civic::{ConsultationError, accounts, approvals, audit, progress};
use renewtwin_twin::manifest::Manifest;
use renewtwin_twin::renewal::plan::Plan;

use crate::AppState;
use crate::civic::ApiError;

type Result<T, E = ApiError> = std::result::Result<T, E>;

/// The governance routes, to merge into the server's. Approval decisions stored in earlier
/// runs are recorded into the plan first.
pub fn routes(state: &AppState) -> Router<AppState> {
    if let Err(e) = approvals::replay(&state.store, &state.plan) {
        tracing::error!(error = %e, "cannot replay approval decisions into the plan");
    }
    Router::new()
        .route("/api/grants", post(grant))
        .route("/api/approvals", get(list_approvals))
        .route("/api/approvals/{project}/{approval}", post(decide))
        .route("/api/progress", get(list_progress).post(record_progress))
        .route(
            "/api/evaluations",
            get(list_evaluations).post(file_evaluation),
        )
        .route("/api/audit", get(audit_json))
        .route("/api/audit.csv", get(audit_csv))
}

fn parse<T: serde::de::DeserializeOwned>(
    body: std::result::Result<Bytes, BytesRejection>,
) -> std::result::Result<T, ConsultationError> {
    let bytes = body.map_err(|e| ConsultationError::TooLarge(e.body_text()))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ConsultationError::Invalid(format!("bad JSON body: {e}")))
}

/// The manifest with every recorded event and the plan resolved from it now.
async fn resolved(state: &AppState) -> Result<(Manifest, Plan)> {
    let control = state.plan.clone();
    tokio::task::spawn_blocking(move || {
        let manifest = control
            .manifest()
            .ok_or(ConsultationError::Unavailable("the plan is not available"))?;
        let plan = Plan::resolve(&manifest, control.scenario(), control.model())
            .map_err(|e| ConsultationError::Plan(e.into()))?;
        Ok::<_, ConsultationError>((manifest, plan))
    })
    .await
    .map_err(|_| ConsultationError::Unavailable("a planning worker stopped"))?
    .map_err(ApiError)
}

async fn grant(c: Caller, body: std::result::Result<Bytes, BytesRejection>) -> Result<Response> {
    let by = c.signed_in()?.id;
    let g: accounts::GrantRequest = parse(body)?;
    Ok((
        StatusCode::CREATED,
        Json(c.hub.db(move |conn| accounts::grant(conn, by, &g)).await?),
    )
        .into_response())
}

async fn list_approvals(State(state): State<AppState>, c: Caller) -> Result<Json<Value>> {
    let account = c.signed_in()?.clone();
    let (manifest, plan) = resolved(&state).await?;
    let reasons = c.hub.db(|conn| approvals::reasons(conn)).await?;
    let today = approvals::today(&manifest);
    let (sim_day, _) = state.live.day();
    // An authority's inbox holds its own approvals; government and evaluators see all.
    let only =
        (account.role == Role::Authority).then(|| account.organisation.clone().unwrap_or_default());
    let items = approvals::inbox(&manifest, &plan, only.as_deref(), today, sim_day, &reasons);
    let lead: Vec<Value> = plan
        .approvals
        .iter()
        .map(|r| {
            json!({
                "project": manifest.projects.get(r.project).map(|p| p.id.clone()),
                "serial_days": r.serial_days, "parallel_days": r.parallel_days, "achieved_days": r.achieved_days,
            })
        })
        .collect();
    Ok(Json(
        json!({"today": today, "simulated_day": sim_day, "authority": only, "approvals": items, "lead_times": lead}),
    ))
}

async fn decide(
    State(state): State<AppState>,
    c: Caller,
    Path((project, approval)): Path<(String, String)>,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Response> {
    let account = c.signed_in()?.clone();
    let d: approvals::Decision = parse(body)?;
    // One decision at a time, so two cannot both pass the "undecided" check.
    let _one_at_a_time = c.hub.deciding().await?;
    let (manifest, plan) = resolved(&state).await?;
    let checked = approvals::check(
        &manifest,
        &plan,
        &account,
        &project,
        &approval,
        &d,
        approvals::today(&manifest),
    )?;
    let control = state.plan.clone();
    let to_record = checked.clone();
    tokio::task::spawn_blocking(move || approvals::record_in_plan(&control, &to_record))
        .await
        .map_err(|_| ConsultationError::Unavailable("the simulation is not running"))??;
    let stored = c
        .hub
        .db(move |conn| approvals::store(conn, &account, &checked))
        .await?;
    Ok((StatusCode::CREATED, Json(stored)).into_response())
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ProjectQuery {
    project: Option<String>,
}

async fn list_progress(
    State(state): State<AppState>,
    c: Caller,
    q: std::result::Result<Query<ProjectQuery>, QueryRejection>,
) -> Result<Json<Value>> {
    let q = q
        .map(|Query(q)| q)
        .map_err(|e| ConsultationError::Invalid(e.body_text()))?;
    let (manifest, plan) = resolved(&state).await?;
    let today = approvals::today(&manifest);
    let (records, manifest, plan) = c
        .hub
        .db(move |conn| {
            Ok((
                progress::list(conn, &manifest, &plan, q.project.as_deref(), today)?,
                manifest,
                plan,
            ))
        })
        .await?;
    let projects: Vec<Value> = manifest
        .projects
        .iter()
        .map(|p| json!({"project": p.id, "name": p.name, "actual": progress::summary(&manifest, &plan, &p.id, &records)}))
        .collect();
    // The plan's indicators with the recorded actuals: delay, duration and cost.
    let planned = renewtwin_twin::renewal::indicators::Indicators::compute(
        &manifest,
        state.plan.model(),
        &plan,
    );
    let actual = planned.with_actuals(&plan, &progress::task_actuals(&manifest, &records));
    let indicators = json!({
        "planned": {"duration_days": planned.duration_days, "cost_yuan": planned.cost_yuan},
        "actual": actual,
    });
    // Every task of the plan with its planned window, so a schedule draws the planned bars of
    // tasks nobody has reported on yet; `today` (the real date) apart from the simulated date.
    let show = |d: i32| {
        renewtwin_protocol::CivilDate::from_sim_day(manifest.start, renewtwin_protocol::SimDay(d)).to_string()
    };
    let tasks: Vec<Value> = plan
        .tasks
        .iter()
        .filter(|t| t.elements > 0)
        .map(|t| {
            json!({
                "project": manifest.projects.get(t.project).map(|p| p.id.clone()),
                "task": t.id, "name": t.name,
                "planned_start": t.start.map(show), "planned_finish": t.end.map(show),
            })
        })
        .collect();
    let (sim_day, _) = state.live.day();
    Ok(Json(json!({
        "today": today, "today_date": show(today), "simulated_day": sim_day, "simulated_date": show(sim_day),
        "plan_start": manifest.start.to_string(), "plan_end": show(plan.end),
        "tasks": tasks, "records": records, "projects": projects, "indicators": indicators,
    })))
}

async fn record_progress(
    State(state): State<AppState>,
    c: Caller,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Response> {
    let account = c.signed_in()?.clone();
    let p: progress::NewProgress = parse(body)?;
    let (manifest, plan) = resolved(&state).await?;
    let buildings: Vec<String> = renewtwin_civic::indicators::model_buildings(state.plan.model())
        .into_iter()
        .map(|b| b.name)
        .collect();
    progress::check(
        &manifest,
        &plan,
        &buildings,
        &p,
        approvals::today(&manifest),
    )?;
    let id = c
        .hub
        .db(move |conn| progress::record(conn, &account, &p))
        .await?;
    Ok((StatusCode::CREATED, Json(json!({"id": id}))).into_response())
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EvaluationQuery {
    project: Option<String>,
}

/// `GET /api/evaluations[?project=]`: the stored evaluations (government and evaluators).
async fn list_evaluations(
    c: Caller,
    q: std::result::Result<Query<EvaluationQuery>, QueryRejection>,
) -> Result<Json<Value>> {
    let q = q.map(|Query(q)| q).map_err(|e| ConsultationError::Invalid(e.body_text()))?;
    let audience = c.audience();
    let list = c
        .hub
        .db(move |conn| renewtwin_civic::evaluations::list(conn, q.project.as_deref()))
        .await?;
    Ok(Json(json!(renewtwin_civic::privacy::views(&list, audience))))
}

/// `POST /api/evaluations`: an evaluator files an evaluation, stored and logged.
async fn file_evaluation(
    State(state): State<AppState>,
    c: Caller,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Response> {
    let account = c.signed_in()?.clone();
    let e: renewtwin_civic::evaluations::NewEvaluation = parse(body)?;
    e.check()?;
    let known = state
        .plan
        .manifest()
        .is_some_and(|m| m.projects.iter().any(|p| p.id == e.project));
    if !known {
        return Err(ConsultationError::NotFound(format!("no project {:?}", e.project)).into());
    }
    let (day, _) = state.live.day();
    let (evaluation, seq, hash) = c
        .hub
        .db(move |conn| {
            let evaluation = renewtwin_civic::evaluations::file(conn, account.id, account.organisation.as_deref(), &e, day)?;
            let (seq, hash) = audit::append(
                conn,
                &audit::Entry {
                    actor: Some(account.id),
                    actor_role: account.label(),
                    action: "evaluation_filed".into(),
                    project: Some(e.project.clone()),
                    subject: format!("evaluation {}", evaluation.id),
                    detail: json!({"evaluation": evaluation.id, "score": e.score, "body": e.body, "evaluator": account.organisation}),
                    personal: Value::Null,
                },
            )?;
            Ok((evaluation, seq, hash))
        })
        .await?;
    let mut answer = renewtwin_civic::privacy::view(&evaluation, c.audience());
    if let Some(m) = answer.as_object_mut() {
        m.insert("audit_seq".into(), json!(seq));
        m.insert("audit_hash".into(), json!(hash));
    }
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    after: Option<i64>,
    limit: Option<i64>,
}

/// Government and evaluators read the whole log; everyone else without personal data.
fn full_view(c: &Caller) -> bool {
    c.account.as_ref().is_some_and(|a| {
        a.role == Role::Government
            || (a.role == Role::Professional && a.capacity == Some(Capacity::Evaluator))
    })
}

async fn audit_json(
    c: Caller,
    q: std::result::Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<Value>> {
    let q = q
        .map(|Query(q)| q)
        .map_err(|e| ConsultationError::Invalid(e.body_text()))?;
    let full = full_view(&c);
    let (entries, check) = c
        .hub
        .db(move |conn| {
            Ok((
                audit::list(
                    conn,
                    q.after.unwrap_or(0),
                    q.limit.unwrap_or(audit::MAX_PAGE),
                    full,
                )?,
                audit::verify(conn)?,
            ))
        })
        .await?;
    Ok(Json(
        json!({"personal_data": full, "chain": check, "entries": entries}),
    ))
}

async fn audit_csv(
    c: Caller,
    q: std::result::Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Response> {
    let q = q
        .map(|Query(q)| q)
        .map_err(|e| ConsultationError::Invalid(e.body_text()))?;
    let full = full_view(&c);
    let csv = c
        .hub
        .db(move |conn| {
            Ok(audit::to_csv(
                &audit::list(
                    conn,
                    q.after.unwrap_or(0),
                    q.limit.unwrap_or(audit::MAX_PAGE),
                    full,
                )?,
                full,
            ))
        })
        .await?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"audit.csv\""),
            ),
        ],
        csv,
    )
        .into_response())
}
