//! Third-party evaluations (第三方评估): a professional in the evaluator capacity files a scored,
//! reasoned evaluation of a project; government and evaluators read them. Each is a stored
//! record (`c_evaluations`) and an audit entry (appended by the caller in the same
//! transaction's spirit: the server appends it right after).

use serde::Deserialize;

use super::privacy::{Class, Field, Record};
use super::{ConsultationError, Result, check_id, check_text, now};

/// Longest evaluation body, in bytes.
pub const MAX_BODY: usize = 5000;

/// `POST /api/evaluations`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewEvaluation {
    pub project: String,
    /// 1 (poor) to 5 (excellent).
    pub score: i64,
    pub body: String,
}

impl NewEvaluation {
    /// Bounds: a project id, a score of 1 to 5, a non-empty body of at most [`MAX_BODY`] bytes.
    pub fn check(&self) -> Result<()> {
        check_id("project", &self.project)?;
        if !(1..=5).contains(&self.score) {
            return Err(ConsultationError::Invalid("`score` is 1 to 5".into()));
        }
        check_text("body", &self.body, MAX_BODY, false)
    }
}

/// A filed evaluation.
#[derive(Debug, Clone)]
pub struct Evaluation {
    pub id: i64,
    pub project: String,
    pub score: i64,
    pub body: String,
    pub filed_by: i64,
    /// The evaluator's organisation.
    pub organisation: Option<String>,
    /// Simulated day it was filed.
    pub filed_day: i64,
    pub filed_at: i64,
}

impl Record for Evaluation {
    const KIND: &'static str = "evaluation";
    const FIELDS: &'static [Field<Self>] = &[
        Field::new("id", Class::Public, |r| r.id.into()),
        Field::new("project", Class::Public, |r| r.project.clone().into()),
        Field::new("score", Class::Public, |r| r.score.into()),
        Field::new("body", Class::Public, |r| r.body.clone().into()),
        Field::new("organisation", Class::Public, |r| {
            r.organisation.clone().into()
        }),
        Field::new("filed_day", Class::Public, |r| r.filed_day.into()),
        Field::new("filed_at", Class::Public, |r| {
            super::rfc3339(r.filed_at).into()
        }),
        Field::new("filed_by", Class::Internal, |r| r.filed_by.into()),
    ];
    fn owner(&self) -> Option<i64> {
        Some(self.filed_by)
    }
}

const COLUMNS: &str = "id, project, score, body, filed_by, organisation, filed_day, filed_at";

fn row(r: &renewtwin_store::db::Row<'_>) -> renewtwin_store::db::Result<Evaluation> {
    Ok(Evaluation {
        id: r.get(0)?,
        project: r.get(1)?,
        score: r.get(2)?,
        body: r.get(3)?,
        filed_by: r.get(4)?,
        organisation: r.get(5)?,
        filed_day: r.get(6)?,
        filed_at: r.get(7)?,
    })
}

/// Stores evaluation `e` by account `by` (of `organisation`) on simulated day `day`.
pub fn file(
    conn: &renewtwin_store::db::Connection,
    by: i64,
    organisation: Option<&str>,
    e: &NewEvaluation,
    day: i32,
) -> Result<Evaluation> {
    e.check()?;
    conn.execute(
        "INSERT INTO c_evaluations (project, score, body, filed_by, organisation, filed_day, filed_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        (&e.project, e.score, &e.body, by, organisation, day, now()),
    )?;
    let id = conn.last_insert_rowid()?;
    Ok(conn.query_row(
        &format!("SELECT {COLUMNS} FROM c_evaluations WHERE id = ?1"),
        [id],
        row,
    )?)
}

/// Evaluations, newest first, of `project` if given; at most 500.
pub fn list(conn: &renewtwin_store::db::Connection, project: Option<&str>) -> Result<Vec<Evaluation>> {
    let rows = match project {
        Some(p) => {
            let mut stmt = conn.prepare(&format!(
                "SELECT {COLUMNS} FROM c_evaluations WHERE project = ?1 ORDER BY id DESC LIMIT 500"
            ))?;
            stmt.query_map([p], row)?
                .collect::<renewtwin_store::db::Result<Vec<_>>>()?
        }
        None => {
            let mut stmt = conn.prepare(&format!(
                "SELECT {COLUMNS} FROM c_evaluations ORDER BY id DESC LIMIT 500"
            ))?;
            stmt.query_map([], row)?
                .collect::<renewtwin_store::db::Result<Vec<_>>>()?
        }
    };
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_evaluation_is_stored_and_listed_per_project_newest_first() {
        let store = renewtwin_store::Store::in_memory(&[crate::MIGRATIONS]).expect("migrates");
        let conn = store.lock().expect("lock");
        conn.execute("INSERT INTO c_accounts (id, username, password_hash, role, display_name, created_at) VALUES (7, 'e', 'x', 'professional', 'E', 0)", [])
            .expect("account");
        let e = |project: &str, score| NewEvaluation {
            project: project.into(),
            score,
            body: "工期控制良好".into(),
        };
        assert!(
            file(&conn, 7, Some("评估所"), &e("lifts", 6), 3).is_err(),
            "score 1-5"
        );
        assert!(
            file(
                &conn,
                7,
                None,
                &NewEvaluation {
                    project: "lifts".into(),
                    score: 3,
                    body: " ".into()
                },
                3
            )
            .is_err(),
            "a body"
        );
        let first = file(&conn, 7, Some("评估所"), &e("lifts", 4), 3).expect("filed");
        let second = file(&conn, 7, Some("评估所"), &e("pipes", 2), 9).expect("filed");
        assert_eq!(
            (first.score, first.filed_day, first.organisation.as_deref()),
            (4, 3, Some("评估所"))
        );
        let all = list(&conn, None).expect("list");
        assert_eq!(
            all.iter().map(|e| e.id).collect::<Vec<_>>(),
            vec![second.id, first.id]
        );
        let lifts = list(&conn, Some("lifts")).expect("list");
        assert_eq!((lifts.len(), lifts[0].body.as_str()), (1, "工期控制良好"));
    }
}
