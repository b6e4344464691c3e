//! Consultations and their votes. Government or professionals open a consultation on a
//! project with questions whose alternatives are the scenarios; each household casts one secret
//! ballot per question and may change it until the consultation closes; the tally is public.
//! Closing records the outcome as a `consultation_closed` governance event, which is what the
//! simulation's phase gate waits for. Residents also rate each project (satisfaction, 1–5).

use rusqlite::OptionalExtension as _;
use serde::Deserialize;
use serde_json::Value;

use super::privacy::{Class, Field, Record};
use super::{ConsultationError, Result, check_id, check_text, now};
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
}

/// One question and its alternatives.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewQuestion {
    pub text: String,
    pub alternatives: Vec<String>,
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
            if q.alternatives.len() < 2 || q.alternatives.len() > 10 {
                return Err(ConsultationError::Invalid("a question offers 2-10 alternatives".into()));
            }
            for a in &q.alternatives {
                check_text("alternatives", a, 200, false)?;
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
    pub closed_at: Option<i64>,
    pub closed_day: Option<i64>,
    pub outcome: Option<String>,
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

/// Opens a consultation by `by`.
pub fn open(conn: &mut rusqlite::Connection, by: i64, c: &NewConsultation) -> Result<ConsultationRecord> {
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
        "INSERT INTO c_consultations (project, title, description, opened_by, opened_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        (&c.project, &c.title, &c.description, by, now()),
    )?;
    let id = tx.last_insert_rowid();
    for q in &c.questions {
        tx.execute(
            "INSERT INTO c_questions (consultation_id, text, alternatives) VALUES (?1, ?2, ?3)",
            (id, &q.text, serde_json::json!(q.alternatives).to_string()),
        )?;
    }
    let record = get(&tx, id)?;
    tx.commit()?;
    Ok(record)
}

/// One consultation with its tallies.
pub fn get(conn: &rusqlite::Connection, id: i64) -> Result<ConsultationRecord> {
    let mut record = conn
        .query_row(
            "SELECT id, project, title, description, opened_by, opened_at, closed_at, closed_day, outcome FROM c_consultations WHERE id = ?1",
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
                    questions: Vec::new(),
                })
            },
        )
        .optional()?
        .ok_or_else(|| ConsultationError::NotFound(format!("no consultation {id}")))?;
    let mut stmt = conn.prepare("SELECT id, text, alternatives FROM c_questions WHERE consultation_id = ?1 ORDER BY id")?;
    let questions: Vec<(i64, String, String)> =
        stmt.query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect::<rusqlite::Result<_>>()?;
    for (qid, text, alternatives) in questions {
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
        record.questions.push(Question { id: qid, text, alternatives, tally, ballots });
    }
    Ok(record)
}

/// Every consultation, newest first.
pub fn list(conn: &rusqlite::Connection) -> Result<Vec<ConsultationRecord>> {
    let ids: Vec<i64> = conn
        .prepare("SELECT id FROM c_consultations ORDER BY id DESC LIMIT 500")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    ids.into_iter().map(|id| get(conn, id)).collect()
}

/// Casts or changes the ballot of `voter`'s household on `question`; returns the ballot and the
/// consultation with its new tally.
pub fn vote(conn: &mut rusqlite::Connection, voter: i64, household: i64, question: i64, alternative: i64) -> Result<(Ballot, ConsultationRecord)> {
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
pub fn ballot(conn: &rusqlite::Connection, voter: i64, household: i64, question: i64) -> Result<Option<Ballot>> {
    Ok(conn
        .query_row(
            "SELECT alternative, updated_at FROM c_ballots WHERE question_id = ?1 AND household_id = ?2",
            (question, household),
            |r| Ok(Ballot { question, voter, household, alternative: r.get(0)?, updated_at: r.get(1)? }),
        )
        .optional()?)
}

/// The consultation `id` if it is open, for closing.
pub fn open_consultation(conn: &rusqlite::Connection, id: i64) -> Result<ConsultationRecord> {
    let record = get(conn, id)?;
    if record.closed_at.is_some() {
        return Err(ConsultationError::Conflict(format!("consultation {id} is closed already")));
    }
    Ok(record)
}

/// Records the outcome in the plan (the phase gate waits for it).
pub fn record_outcome(plan: &PlanControl, project: &str, day: i32, approved: bool) -> Result<()> {
    let request = EventRequest {
        kind: EventRequestKind::ConsultationClosed,
        project: project.to_owned(),
        day: Some(day),
        date: None,
        outcome: Some(if approved { "approved" } else { "rejected" }.into()),
        approval: None,
        name: None,
    };
    match plan.record(request) {
        Ok(_) => Ok(()),
        Err(EventError::Stopped) => Err(ConsultationError::Unavailable("the simulation is not running")),
        Err(e) => Err(ConsultationError::Plan(e)),
    }
}

/// Marks the consultation closed (after the plan accepted the outcome).
pub fn mark_closed(conn: &rusqlite::Connection, id: i64, day: i32, approved: bool) -> Result<ConsultationRecord> {
    conn.execute(
        "UPDATE c_consultations SET closed_at = ?1, closed_day = ?2, outcome = ?3 WHERE id = ?4 AND closed_at IS NULL",
        (now(), day, if approved { "approved" } else { "rejected" }, id),
    )?;
    get(conn, id)
}

/// Records into `plan` the outcome of every consultation closed in `store`, oldest first.
pub fn replay_outcomes(store: &Store, plan: &PlanControl) -> Result<()> {
    let closed: Vec<(String, i32, String)> = {
        let conn = store.lock()?;
        let mut stmt = conn.prepare(
            "SELECT project, closed_day, outcome FROM c_consultations WHERE closed_at IS NOT NULL ORDER BY closed_at, id",
        )?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect::<rusqlite::Result<_>>()?
    };
    let recorded = plan.events();
    for (project, day, outcome) in closed {
        // A router built twice over one plan (tests) must not record an outcome twice.
        let already = recorded.iter().any(|e| {
            e.day == day && e.project == project && matches!(e.kind, renewtwin_twin::manifest::EventKind::ConsultationClosed { .. })
        });
        if already {
            continue;
        }
        if let Err(e) = record_outcome(plan, &project, day, outcome == "approved") {
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
pub fn rate(conn: &rusqlite::Connection, household: i64, project: &str, score: i64) -> Result<()> {
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
