//! Objections to a decided consultation (异议). The rule of the project's scene
//! (`[projects.decision] objection_days`, `objections = "residents" | "public"`) opens an
//! objection window when a consultation closes: from the close day for `objection_days` days
//! (the days before the decision's `effective_day`), residents (and the public, where the rule
//! says so) may file an objection with its reasons; government answers each. The decision takes
//! effect in the plan only once the window has ended AND every objection filed in it is
//! answered: on the window's end, or on the day the last answer was given if later. The window
//! and who may object are the scene's (its publicity/objection rule); the code only applies them.

use renewtwin_store::db::OptionalExtension as _;
use serde::Deserialize;

use super::privacy::{Class, Field, Record};
use super::votes::{self, Outcome};
use super::{ConsultationError, Result, check_text, now};

/// Longest objection or answer, in bytes.
pub const MAX_TEXT: usize = 4000;
/// Objections one account may file on one consultation (the public, all visitors together:
/// the same number, so visitors cannot hold a decision back without bound).
pub const MAX_PER_ACCOUNT: i64 = 3;

/// `POST /api/consultations/{id}/objections`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewObjection {
    pub text: String,
}

/// `POST /api/objections/{id}/answer`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Answer {
    pub answer: String,
}

/// One objection with its answer.
#[derive(Debug, Clone)]
pub struct Objection {
    pub id: i64,
    pub consultation: i64,
    /// The filing account (`None`: a public visitor).
    pub filed_by: Option<i64>,
    pub text: String,
    /// Simulated day it was filed.
    pub filed_day: i64,
    pub filed_at: i64,
    pub answer: Option<String>,
    pub answered_by: Option<i64>,
    pub answered_day: Option<i64>,
}

impl Record for Objection {
    const KIND: &'static str = "objection";
    const FIELDS: &'static [Field<Self>] = &[
        Field::new("id", Class::Public, |r| r.id.into()),
        Field::new("consultation", Class::Public, |r| r.consultation.into()),
        Field::new("status", Class::Public, |r| {
            if r.answer.is_some() {
                "answered"
            } else {
                "open"
            }
            .into()
        }),
        Field::new("filed_day", Class::Public, |r| r.filed_day.into()),
        Field::new("text", Class::Internal, |r| r.text.clone().into()),
        Field::new("filed_by", Class::Internal, |r| r.filed_by.into()),
        Field::new("filed_at", Class::Internal, |r| {
            super::rfc3339(r.filed_at).into()
        }),
        Field::new("answer", Class::Internal, |r| r.answer.clone().into()),
        Field::new("answered_by", Class::Internal, |r| r.answered_by.into()),
        Field::new("answered_day", Class::Public, |r| r.answered_day.into()),
    ];
    fn owner(&self) -> Option<i64> {
        self.filed_by
    }
}

const COLUMNS: &str =
    "id, consultation_id, filed_by, text, filed_day, filed_at, answer, answered_by, answered_day";

fn row(r: &renewtwin_store::db::Row<'_>) -> renewtwin_store::db::Result<Objection> {
    Ok(Objection {
        id: r.get(0)?,
        consultation: r.get(1)?,
        filed_by: r.get(2)?,
        text: r.get(3)?,
        filed_day: r.get(4)?,
        filed_at: r.get(5)?,
        answer: r.get(6)?,
        answered_by: r.get(7)?,
        answered_day: r.get(8)?,
    })
}

/// The objection window of consultation `id`: `(closed_day, effective_day)`, the days
/// `closed_day ..< effective_day` (none when the rule declares no objection days), and whether
/// the public may object, from its stored decision.
fn window(conn: &renewtwin_store::db::Connection, id: i64) -> Result<(i64, i64, bool)> {
    let record = votes::get(conn, id)?;
    let (Some(closed), Some(decision)) = (record.closed_day, record.decision.as_ref()) else {
        return Err(ConsultationError::Conflict(format!(
            "consultation {id} is still open: objections are filed against a decision, once it has closed"
        )));
    };
    let effective = decision["effective_day"].as_i64().unwrap_or(closed);
    let public = decision["rule"]["objections_public"]
        .as_bool()
        .unwrap_or(false);
    Ok((closed, effective, public))
}

/// Files an objection to consultation `id` on simulated day `day`, by `by` (`None`: a public
/// visitor, admitted only where the rule opens objections to the public). Refused outside the
/// objection window, naming it.
pub fn file(
    conn: &mut renewtwin_store::db::Connection,
    id: i64,
    by: Option<i64>,
    o: &NewObjection,
    day: i32,
) -> Result<Objection> {
    check_text("text", &o.text, MAX_TEXT, false)?;
    let tx = conn.transaction()?;
    let (closed, effective, public) = window(&tx, id)?;
    if by.is_none() && !public {
        return Err(ConsultationError::Forbidden(format!(
            "the rule of consultation {id}'s project opens objections to residents only (objections = \"residents\"); sign in"
        )));
    }
    let day = i64::from(day);
    if effective <= closed {
        return Err(ConsultationError::Conflict(format!(
            "the rule of consultation {id}'s project declares no objection window (objection_days = 0)"
        )));
    }
    if day < closed || day >= effective {
        return Err(ConsultationError::Conflict(format!(
            "the objection window of consultation {id} is days {closed}-{} (objection_days of its project's rule, from the close); today is day {day}",
            effective - 1
        )));
    }
    let filed: i64 = match by {
        Some(account) => tx.query_row(
            "SELECT COUNT(*) FROM c_objections WHERE consultation_id = ?1 AND filed_by = ?2",
            (id, account),
            |r| r.get(0),
        )?,
        None => tx.query_row(
            "SELECT COUNT(*) FROM c_objections WHERE consultation_id = ?1 AND filed_by IS NULL",
            [id],
            |r| r.get(0),
        )?,
    };
    if filed >= MAX_PER_ACCOUNT {
        return Err(ConsultationError::Conflict(format!(
            "at most {MAX_PER_ACCOUNT} objections per account (and from the public) on one consultation"
        )));
    }
    tx.execute(
        "INSERT INTO c_objections (consultation_id, filed_by, text, filed_day, filed_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        (id, by, &o.text, day, now()),
    )?;
    let new = tx.last_insert_rowid()?;
    let objection = get(&tx, new)?;
    tx.commit()?;
    Ok(objection)
}

/// One objection.
pub fn get(conn: &renewtwin_store::db::Connection, id: i64) -> Result<Objection> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM c_objections WHERE id = ?1"),
        [id],
        row,
    )
    .optional()?
    .ok_or_else(|| ConsultationError::NotFound(format!("no objection {id}")))
}

/// The objections to consultation `id`, oldest first.
pub fn list(conn: &renewtwin_store::db::Connection, id: i64) -> Result<Vec<Objection>> {
    votes::get(conn, id)?;
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM c_objections WHERE consultation_id = ?1 ORDER BY id"
    ))?;
    Ok(stmt
        .query_map([id], row)?
        .collect::<renewtwin_store::db::Result<_>>()?)
}

/// Government's answer to objection `id`, by `by` on simulated day `day`; each objection is
/// answered once.
pub fn answer(
    conn: &renewtwin_store::db::Connection,
    id: i64,
    by: i64,
    a: &Answer,
    day: i32,
) -> Result<Objection> {
    check_text("answer", &a.answer, MAX_TEXT, false)?;
    let changed = conn.execute(
        "UPDATE c_objections SET answer = ?1, answered_by = ?2, answered_day = ?3, answered_at = ?4 WHERE id = ?5 AND answer IS NULL",
        (&a.answer, by, day, now(), id),
    )?;
    if changed == 0 {
        let existing = get(conn, id)?;
        return Err(ConsultationError::Conflict(format!(
            "objection {} was answered already on day {}",
            existing.id,
            existing.answered_day.unwrap_or_default()
        )));
    }
    get(conn, id)
}

/// The day `decision` takes effect if it may on simulated day `today`: once the objection window
/// has ended and every objection filed is answered, the later of the window's end and the last
/// answer's day; `None` while it may not yet.
pub fn in_effect_on(
    conn: &renewtwin_store::db::Connection,
    decision: &Outcome,
    today: i32,
) -> Result<Option<i32>> {
    if today < decision.effective_day {
        return Ok(None);
    }
    let (open, last): (i64, Option<i64>) = conn.query_row(
        "SELECT COUNT(*) - COUNT(answer), MAX(answered_day) FROM c_objections WHERE consultation_id = ?1",
        [decision.consultation],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    if open > 0 {
        return Ok(None);
    }
    let last = last
        .and_then(|d| i32::try_from(d).ok())
        .unwrap_or(decision.effective_day);
    Ok(Some(decision.effective_day.max(last)))
}
