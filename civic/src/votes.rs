//! Consultations and their votes. The government opens a consultation on a project with
//! questions: `consent` (agree / oppose / abstain) or `choice` (alternatives are the scene's
//! scenarios or `base`); each household casts one secret ballot per question and may change it
//! until the consultation closes; the tally is public. Closing is allowed once the publicity
//! period (公示) of the project's decision rule has passed; the outcome is then computed from the
//! ballots under that rule ([`crate::decision`]; PRC Civil Code art. 278 by default), per scope
//! (unit, building or project), and recorded as a `consultation_closed` governance event dated
//! at the end of the objection window, which is what the simulation's phase gate and the
//! per-unit work wait for. Residents also rate each project (satisfaction, 1–5).

use renewtwin_store::db::OptionalExtension as _;
use serde::Deserialize;
use serde_json::Value;

use std::collections::BTreeMap;

use super::decision::{self, CONSENT_ALTERNATIVES, Cast, QuestionKind, ScopeDecision};
use super::privacy::{Class, Field, Record};
use super::{ConsultationError, Result, check_id, check_text, now};
use renewtwin_twin::manifest::Manifest;
use renewtwin_twin::manifest::decision::DecisionRule;
use renewtwin_twin::renewal::control::{EventError, EventRequest, EventRequestKind, PlanControl};
use renewtwin_store::Store;

/// `POST /api/consultations`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewConsultation {
    pub project: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    pub questions: Vec<NewQuestion>,
    /// The scopes (unit keys such as `1-2`, or building names) this consultation decides for,
    /// under a unit- or building-scoped rule; empty: every scope of the model.
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// One question and its alternatives.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewQuestion {
    pub text: String,
    /// `consent` (the default) or `choice`.
    #[serde(default = "consent")]
    pub kind: QuestionKind,
    /// For `consent`: omitted, or exactly agree / oppose / abstain. For `choice`: scenario
    /// names of the scene, or `base`.
    #[serde(default)]
    pub alternatives: Vec<String>,
}

fn consent() -> QuestionKind {
    QuestionKind::Consent
}

impl NewConsultation {
    pub fn check(&self) -> Result<()> {
        check_id("project", &self.project)?;
        check_text("title", &self.title, 200, false)?;
        check_text("description", &self.description, 5000, true)?;
        if self.questions.is_empty() || self.questions.len() > 20 {
            return Err(ConsultationError::Invalid("a consultation asks 1-20 questions".into()));
        }
        for q in &self.questions {
            check_text("text", &q.text, 500, false)?;
            match q.kind {
                QuestionKind::Consent => {
                    if !q.alternatives.is_empty() && q.alternatives != CONSENT_ALTERNATIVES {
                        return Err(ConsultationError::Invalid(format!(
                            "a consent question's alternatives are fixed: {CONSENT_ALTERNATIVES:?} (omit them)"
                        )));
                    }
                }
                QuestionKind::Choice => {
                    if q.alternatives.len() < 2 || q.alternatives.len() > 10 {
                        return Err(ConsultationError::Invalid("a choice question offers 2-10 alternatives".into()));
                    }
                    for a in &q.alternatives {
                        check_id("alternatives", a)?;
                    }
                }
            }
        }
        if self.scopes.len() > 500 {
            return Err(ConsultationError::Invalid("at most 500 scopes".into()));
        }
        for s in &self.scopes {
            check_text("scopes", s, 64, false)?;
        }
        Ok(())
    }

    /// Checks the consultation against the scene: the project exists and has a consultation
    /// phase that has opened by `day`, a choice offers the scene's scenarios (or `base`), and
    /// the scopes named are scopes of the project's rule in the model.
    pub fn check_against(&self, manifest: &Manifest, model: &renewtwin_importers::Model, day: i32) -> Result<()> {
        let project = manifest.projects.iter().find(|p| p.id == self.project).ok_or_else(|| {
            let ids: Vec<&str> = manifest.projects.iter().map(|p| p.id.as_str()).collect();
            ConsultationError::Invalid(format!("no project {:?}; projects are {ids:?}", self.project))
        })?;
        let Some(opens) = project.consultation_opens().filter(|_| project.consultation_required) else {
            return Err(ConsultationError::Invalid(format!("project {:?} has no consultation phase", project.id)));
        };
        if day < opens {
            return Err(ConsultationError::Conflict(format!(
                "the consultation window of project {:?} opens on day {opens}; today is day {day}",
                project.id
            )));
        }
        for q in self.questions.iter().filter(|q| q.kind == QuestionKind::Choice) {
            for a in &q.alternatives {
                if a != "base" && manifest.scenario(a).is_none() {
                    let known: Vec<&str> = manifest.scenarios.iter().map(|s| s.name.as_str()).collect();
                    return Err(ConsultationError::Invalid(format!("alternative {a:?} is not a scenario of the scene ({known:?}) nor \"base\"")));
                }
            }
        }
        if !self.scopes.is_empty() {
            if project.decision.scope == renewtwin_twin::manifest::decision::Scope::Project {
                return Err(ConsultationError::Invalid(format!("project {:?} decides as one project; it takes no `scopes`", project.id)));
            }
            let known = decision::electorates(&project.decision, model, &project.id, &[]);
            if let Some(unknown) = self.scopes.iter().find(|s| !known.iter().any(|e| &e.key == *s)) {
                return Err(ConsultationError::Invalid(format!(
                    "no {} {unknown:?} in the model (scope keys come from {})",
                    project.decision.scope.key(),
                    if project.decision.scope == renewtwin_twin::manifest::decision::Scope::Unit { "RenewTwin_Unit.Unit" } else { "the building names" }
                )));
            }
        }
        Ok(())
    }
}

/// A question with its public tally.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Question {
    pub id: i64,
    pub text: String,
    pub kind: QuestionKind,
    pub alternatives: Vec<String>,
    /// Ballots per alternative.
    pub tally: Vec<i64>,
    pub ballots: i64,
}

/// A consultation with its questions and tallies.
#[derive(Debug, Clone)]
pub struct ConsultationRecord {
    pub id: i64,
    pub project: String,
    pub title: String,
    pub description: String,
    pub opened_by: i64,
    pub opened_at: i64,
    /// Simulated day it opened.
    pub opened_day: Option<i64>,
    /// The scopes it decides for (empty: every scope).
    pub scopes: Vec<String>,
    pub closed_at: Option<i64>,
    pub closed_day: Option<i64>,
    pub outcome: Option<String>,
    /// The decision computed when it closed: the rule, each scope's tally and thresholds.
    pub decision: Option<Value>,
    pub questions: Vec<Question>,
}

impl Record for ConsultationRecord {
    const KIND: &'static str = "consultation";
    const FIELDS: &'static [Field<Self>] = &[
        Field::new("id", Class::Public, |r| r.id.into()),
        Field::new("project", Class::Public, |r| r.project.clone().into()),
        Field::new("title", Class::Public, |r| r.title.clone().into()),
        Field::new("description", Class::Public, |r| r.description.clone().into()),
        Field::new("status", Class::Public, |r| if r.closed_at.is_some() { "closed" } else { "open" }.into()),
        Field::new("opened_by", Class::Internal, |r| r.opened_by.into()),
        Field::new("opened_at", Class::Public, |r| super::rfc3339(r.opened_at).into()),
        Field::new("opened_day", Class::Public, |r| r.opened_day.into()),
        Field::new("scopes", Class::Public, |r| r.scopes.clone().into()),
        Field::new("decision", Class::Public, |r| r.decision.clone().unwrap_or(Value::Null)),
        Field::new("closed_at", Class::Public, |r| r.closed_at.map(super::rfc3339).into()),
        Field::new("closed_day", Class::Public, |r| r.closed_day.into()),
        Field::new("outcome", Class::Public, |r| r.outcome.clone().into()),
        Field::new("questions", Class::Public, |r| serde_json::to_value(&r.questions).unwrap_or(Value::Null)),
    ];
    fn owner(&self) -> Option<i64> {
        None
    }
}

/// One household's ballot on one question: the choice is seen by its voter only.
#[derive(Debug, Clone)]
pub struct Ballot {
    pub question: i64,
    pub voter: i64,
    pub household: i64,
    pub alternative: i64,
    pub updated_at: i64,
}

impl Record for Ballot {
    const KIND: &'static str = "ballot";
    const FIELDS: &'static [Field<Self>] = &[
        Field::new("question", Class::Public, |r| r.question.into()),
        Field::new("household", Class::Confidential, |r| r.household.into()),
        Field::new("alternative", Class::Personal, |r| r.alternative.into()),
        Field::new("updated_at", Class::Personal, |r| super::rfc3339(r.updated_at).into()),
    ];
    fn owner(&self) -> Option<i64> {
        Some(self.voter)
    }
}

/// Opens a consultation by `by` on simulated day `day`.
pub fn open(conn: &mut renewtwin_store::db::Connection, by: i64, c: &NewConsultation, day: i32) -> Result<ConsultationRecord> {
    let tx = conn.transaction()?;
    let open: bool = tx.query_row(
        "SELECT EXISTS(SELECT 1 FROM c_consultations WHERE project = ?1 AND closed_at IS NULL)",
        [&c.project],
        |r| r.get(0),
    )?;
    if open {
        return Err(ConsultationError::Conflict(format!("project {:?} has an open consultation already", c.project)));
    }
    tx.execute(
        "INSERT INTO c_consultations (project, title, description, opened_by, opened_at, opened_day, scopes) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        (&c.project, &c.title, &c.description, by, now(), day, serde_json::json!(c.scopes).to_string()),
    )?;
    let id = tx.last_insert_rowid()?;
    for q in &c.questions {
        let (kind, alternatives) = match q.kind {
            QuestionKind::Consent => ("consent", CONSENT_ALTERNATIVES.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>()),
            QuestionKind::Choice => ("choice", q.alternatives.clone()),
        };
        tx.execute(
            "INSERT INTO c_questions (consultation_id, text, alternatives, kind) VALUES (?1, ?2, ?3, ?4)",
            (id, &q.text, serde_json::json!(alternatives).to_string(), kind),
        )?;
    }
    let record = get(&tx, id)?;
    tx.commit()?;
    Ok(record)
}

/// One consultation with its tallies.
pub fn get(conn: &renewtwin_store::db::Connection, id: i64) -> Result<ConsultationRecord> {
    let mut record = conn
        .query_row(
            "SELECT id, project, title, description, opened_by, opened_at, closed_at, closed_day, outcome, opened_day, scopes, decision FROM c_consultations WHERE id = ?1",
            [id],
            |r| {
                Ok(ConsultationRecord {
                    id: r.get(0)?,
                    project: r.get(1)?,
                    title: r.get(2)?,
                    description: r.get(3)?,
                    opened_by: r.get(4)?,
                    opened_at: r.get(5)?,
                    closed_at: r.get(6)?,
                    closed_day: r.get(7)?,
                    outcome: r.get(8)?,
                    opened_day: r.get(9)?,
                    scopes: serde_json::from_str(&r.get::<_, String>(10)?).unwrap_or_default(),
                    decision: r.get::<_, Option<String>>(11)?.and_then(|d| serde_json::from_str(&d).ok()),
                    questions: Vec::new(),
                })
            },
        )
        .optional()?
        .ok_or_else(|| ConsultationError::NotFound(format!("no consultation {id}")))?;
    let mut stmt = conn.prepare("SELECT id, text, alternatives, kind FROM c_questions WHERE consultation_id = ?1 ORDER BY id")?;
    let questions: Vec<(i64, String, String, String)> =
        stmt.query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?.collect::<renewtwin_store::db::Result<_>>()?;
    for (qid, text, alternatives, kind) in questions {
        let kind = if kind == "choice" { QuestionKind::Choice } else { QuestionKind::Consent };
        let alternatives: Vec<String> = serde_json::from_str(&alternatives).unwrap_or_default();
        let mut tally = vec![0i64; alternatives.len()];
        let mut stmt = conn.prepare("SELECT alternative, COUNT(*) FROM c_ballots WHERE question_id = ?1 GROUP BY alternative")?;
        for row in stmt.query_map([qid], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))? {
            let (alt, n) = row?;
            if let Some(slot) = usize::try_from(alt).ok().and_then(|a| tally.get_mut(a)) {
                *slot = n;
            }
        }
        let ballots = tally.iter().sum();
        record.questions.push(Question { id: qid, text, kind, alternatives, tally, ballots });
    }
    Ok(record)
}

/// Every consultation, newest first.
pub fn list(conn: &renewtwin_store::db::Connection) -> Result<Vec<ConsultationRecord>> {
    let ids: Vec<i64> = conn
        .prepare("SELECT id FROM c_consultations ORDER BY id DESC LIMIT 500")?
        .query_map([], |r| r.get(0))?
        .collect::<renewtwin_store::db::Result<_>>()?;
    ids.into_iter().map(|id| get(conn, id)).collect()
}

/// Casts or changes the ballot of `voter`'s household on `question`; returns the ballot and the
/// consultation with its new tally.
pub fn vote(conn: &mut renewtwin_store::db::Connection, voter: i64, household: i64, question: i64, alternative: i64) -> Result<(Ballot, ConsultationRecord)> {
    let tx = conn.transaction()?;
    let (consultation, alternatives, closed): (i64, String, Option<i64>) = tx
        .query_row(
            "SELECT q.consultation_id, q.alternatives, c.closed_at FROM c_questions q JOIN c_consultations c ON c.id = q.consultation_id WHERE q.id = ?1",
            [question],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?
        .ok_or_else(|| ConsultationError::NotFound(format!("no question {question}")))?;
    if closed.is_some() {
        return Err(ConsultationError::Conflict("the consultation is closed; ballots can no longer change".into()));
    }
    let n = serde_json::from_str::<Vec<String>>(&alternatives).map(|a| a.len()).unwrap_or(0) as i64;
    if !(0..n).contains(&alternative) {
        return Err(ConsultationError::Invalid(format!("`alternative` must be 0-{} for this question", n - 1)));
    }
    let at = now();
    tx.execute(
        "INSERT INTO c_ballots (question_id, household_id, alternative, updated_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (question_id, household_id) DO UPDATE SET alternative = excluded.alternative, updated_at = excluded.updated_at",
        (question, household, alternative, at),
    )?;
    let record = get(&tx, consultation)?;
    tx.commit()?;
    Ok((Ballot { question, voter, household, alternative, updated_at: at }, record))
}

/// The ballot of `household` on `question`, if cast.
pub fn ballot(conn: &renewtwin_store::db::Connection, voter: i64, household: i64, question: i64) -> Result<Option<Ballot>> {
    Ok(conn
        .query_row(
            "SELECT alternative, updated_at FROM c_ballots WHERE question_id = ?1 AND household_id = ?2",
            (question, household),
            |r| Ok(Ballot { question, voter, household, alternative: r.get(0)?, updated_at: r.get(1)? }),
        )
        .optional()?)
}

/// The consultation `id` if it is open, for closing.
pub fn open_consultation(conn: &renewtwin_store::db::Connection, id: i64) -> Result<ConsultationRecord> {
    let record = get(conn, id)?;
    if record.closed_at.is_some() {
        return Err(ConsultationError::Conflict(format!("consultation {id} is closed already")));
    }
    Ok(record)
}

/// One question decided in every scope.
#[derive(Debug, Clone, serde::Serialize)]
pub struct QuestionDecision {
    pub question: i64,
    pub kind: QuestionKind,
    pub alternatives: Vec<String>,
    pub scopes: Vec<ScopeDecision>,
}

/// A consultation decided from its ballots: what the close answers, stores and records (and
/// what an audit log appends). Plain data.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Decision {
    pub consultation: i64,
    pub project: String,
    /// The rule applied, with its source.
    pub rule: DecisionRule,
    /// Simulated day the consultation closed.
    pub closed_day: i32,
    /// The day the outcome takes effect: the close plus the objection window; the recorded
    /// event's day.
    pub effective_day: i32,
    /// Whether the scheme is approved (for a scoped rule: in at least one scope).
    pub approved: bool,
    /// For a unit- or building-scoped rule, each scope's outcome (empty for the project scope).
    pub scope_outcomes: BTreeMap<String, bool>,
    /// Each question's tally and thresholds per scope.
    pub questions: Vec<QuestionDecision>,
}

impl Decision {
    /// `approved` / `rejected`.
    pub fn outcome(&self) -> &'static str {
        if self.approved { "approved" } else { "rejected" }
    }

    /// Every scope's tally in one line each, for messages.
    pub fn describe(&self) -> String {
        self.questions
            .iter()
            .flat_map(|q| q.scopes.iter().map(move |d| decision::describe(d, &q.alternatives)))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Decides the open consultation `id` from its ballots on simulated day `day` under the rule of
/// its project in `manifest`, over the households and areas of `model`. Refused before the
/// publicity period (公示) has passed.
pub fn decide(conn: &renewtwin_store::db::Connection, id: i64, manifest: &Manifest, model: &renewtwin_importers::Model, day: i32) -> Result<Decision> {
    let record = open_consultation(conn, id)?;
    let project = manifest
        .projects
        .iter()
        .find(|p| p.id == record.project)
        .ok_or_else(|| ConsultationError::Conflict(format!("project {:?} is not in the scene any more", record.project)))?;
    let rule = project.decision.clone();
    let opened = record.opened_day.unwrap_or(0) as i32;
    let earliest = opened + rule.publicity_days as i32;
    if day < earliest {
        return Err(ConsultationError::Conflict(format!(
            "consultation {id} opened on day {opened}; its publicity period (公示) of {} days under the rule of project {:?} ends on day {earliest}; today is day {day}, so it cannot close yet",
            rule.publicity_days, record.project
        )));
    }
    let electorates = decision::electorates(&rule, model, &project.id, &record.scopes);
    if electorates.is_empty() {
        return Err(ConsultationError::Conflict(format!(
            "the model states no {} for project {:?} to decide in (RenewTwin_Unit.Unit for units, buildings for buildings)",
            rule.scope.key(),
            project.id
        )));
    }
    let mut questions = Vec::new();
    for q in &record.questions {
        let mut stmt = conn.prepare(
            "SELECT b.alternative, h.code, h.building FROM c_ballots b JOIN c_households h ON h.id = b.household_id WHERE b.question_id = ?1",
        )?;
        let casts: Vec<Cast> = stmt
            .query_map([q.id], |r| {
                Ok(Cast { alternative: usize::try_from(r.get::<_, i64>(0)?).unwrap_or(usize::MAX), household: r.get(1)?, building: r.get(2)? })
            })?
            .collect::<renewtwin_store::db::Result<_>>()?;
        let scopes = electorates.iter().map(|e| decision::decide(&rule, q.kind, q.alternatives.len(), e, &casts)).collect();
        questions.push(QuestionDecision { question: q.id, kind: q.kind, alternatives: q.alternatives.clone(), scopes });
    }
    // A scope approves when every question is approved there.
    let per_scope: BTreeMap<String, bool> = electorates
        .iter()
        .enumerate()
        .map(|(i, e)| (e.key.clone(), questions.iter().all(|q: &QuestionDecision| q.scopes[i].approved)))
        .collect();
    let approved = per_scope.values().any(|a| *a);
    let scoped = rule.scope != renewtwin_twin::manifest::decision::Scope::Project;
    Ok(Decision {
        consultation: id,
        project: project.id.clone(),
        effective_day: day + rule.objection_days as i32,
        rule,
        closed_day: day,
        approved,
        scope_outcomes: if scoped { per_scope } else { BTreeMap::new() },
        questions,
    })
}

/// Records `decision` in the plan (the phase gate and the per-scope work wait for it).
pub fn record_outcome(plan: &PlanControl, decision: &Decision) -> Result<()> {
    let request = EventRequest {
        kind: EventRequestKind::ConsultationClosed,
        project: decision.project.clone(),
        day: Some(decision.effective_day),
        date: None,
        outcome: Some(decision.outcome().into()),
        approval: None,
        name: None,
        scopes: decision.scope_outcomes.iter().map(|(k, v)| (k.clone(), if *v { "approved" } else { "rejected" }.to_owned())).collect(),
    };
    match plan.record(request) {
        Ok(_) => Ok(()),
        Err(EventError::Stopped) => Err(ConsultationError::Unavailable("the simulation is not running")),
        Err(e) => Err(ConsultationError::Plan(e)),
    }
}

/// Marks the consultation closed with its decision (after the plan accepted the outcome).
pub fn mark_closed(conn: &renewtwin_store::db::Connection, decision: &Decision) -> Result<ConsultationRecord> {
    let stored = serde_json::to_string(decision).map_err(|e| ConsultationError::Invalid(format!("the decision does not serialise: {e}")))?;
    conn.execute(
        "UPDATE c_consultations SET closed_at = ?1, closed_day = ?2, outcome = ?3, decision = ?4 WHERE id = ?5 AND closed_at IS NULL",
        (now(), decision.closed_day, decision.outcome(), stored, decision.consultation),
    )?;
    get(conn, decision.consultation)
}

/// Records into `plan` the outcome of every consultation closed in `store`, oldest first.
pub fn replay_outcomes(store: &Store, plan: &PlanControl) -> Result<()> {
    let closed: Vec<(String, i32, String, Option<String>)> = {
        let conn = store.lock()?;
        let mut stmt = conn.prepare(
            "SELECT project, closed_day, outcome, decision FROM c_consultations WHERE closed_at IS NOT NULL ORDER BY closed_at, id",
        )?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?.collect::<renewtwin_store::db::Result<_>>()?
    };
    let recorded = plan.events();
    for (project, closed_day, outcome, stored) in closed {
        let stored: Option<Value> = stored.and_then(|d| serde_json::from_str(&d).ok());
        let day = stored.as_ref().and_then(|d| d["effective_day"].as_i64()).map_or(closed_day, |d| d as i32);
        let scopes: BTreeMap<String, String> = stored
            .as_ref()
            .and_then(|d| d["scope_outcomes"].as_object())
            .map(|m| m.iter().map(|(k, v)| (k.clone(), if v.as_bool() == Some(true) { "approved" } else { "rejected" }.to_owned())).collect())
            .unwrap_or_default();
        // A router built twice over one plan (tests) must not record an outcome twice.
        let already = recorded.iter().any(|e| {
            e.day == day && e.project == project && matches!(e.kind, renewtwin_twin::manifest::EventKind::ConsultationClosed { .. })
        });
        if already {
            continue;
        }
        let request = EventRequest {
            kind: EventRequestKind::ConsultationClosed,
            project: project.clone(),
            day: Some(day),
            date: None,
            outcome: Some(outcome),
            approval: None,
            name: None,
            scopes,
        };
        if let Err(e) = plan.record(request) {
            tracing::warn!(%project, day, error = %e, "a stored consultation outcome no longer fits the plan");
        }
    }
    Ok(())
}

/// `PUT /api/projects/{project}/satisfaction`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Satisfaction {
    pub score: i64,
}

/// Records or changes the household's satisfaction with `project`.
pub fn rate(conn: &renewtwin_store::db::Connection, household: i64, project: &str, score: i64) -> Result<()> {
    check_id("project", project)?;
    if !(1..=5).contains(&score) {
        return Err(ConsultationError::Invalid("`score` is 1 (very unsatisfied) to 5 (very satisfied)".into()));
    }
    conn.execute(
        "INSERT INTO c_surveys (project, household_id, score, updated_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (project, household_id) DO UPDATE SET score = excluded.score, updated_at = excluded.updated_at",
        (project, household, score, now()),
    )?;
    Ok(())
}
