//! Moderation: any account may flag a comment or a report; after
//! [`super::ConsultationConfig::auto_hide_flags`] distinct flags it is hidden automatically,
//! pending review. Government and professionals hide content with a reason, or restore it;
//! every decision is logged.

use serde::Deserialize;
use serde_json::Value;

use super::{ConsultationError, Result, check_text, now};

/// What can be moderated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    Comment,
    Report,
}

impl Target {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "comment" => Ok(Self::Comment),
            "report" => Ok(Self::Report),
            other => Err(ConsultationError::NotFound(format!("nothing to moderate of kind {other:?}: use comment or report"))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Comment => "comment",
            Self::Report => "report",
        }
    }

    fn table(self) -> &'static str {
        match self {
            Self::Comment => "c_comments",
            Self::Report => "c_reports",
        }
    }
}

/// `POST /api/flags`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flag {
    pub target: Target,
    pub id: i64,
    pub reason: String,
}

/// `POST /api/moderation/{target}/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// `hide` or `restore`.
    pub action: String,
    pub reason: String,
}

fn exists(conn: &rusqlite::Connection, target: Target, id: i64) -> Result<()> {
    let found: bool = conn.query_row(&format!("SELECT EXISTS(SELECT 1 FROM {} WHERE id = ?1)", target.table()), [id], |r| r.get(0))?;
    if found { Ok(()) } else { Err(ConsultationError::NotFound(format!("no {} {id}", target.as_str()))) }
}

/// Flags content; returns whether this flag hid it.
pub fn flag(conn: &mut rusqlite::Connection, by: i64, f: &Flag, threshold: u32) -> Result<bool> {
    check_text("reason", &f.reason, 500, false)?;
    let tx = conn.transaction()?;
    exists(&tx, f.target, f.id)?;
    let added = tx.execute(
        "INSERT OR IGNORE INTO c_flags (target, target_id, account_id, reason, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        (f.target.as_str(), f.id, by, &f.reason, now()),
    )?;
    if added == 0 {
        return Err(ConsultationError::Conflict(format!("you have flagged this {} already", f.target.as_str())));
    }
    let flags: i64 =
        tx.query_row("SELECT COUNT(*) FROM c_flags WHERE target = ?1 AND target_id = ?2", (f.target.as_str(), f.id), |r| r.get(0))?;
    // Content a moderator restored stays up; new flags after that go to the queue only.
    let hid = if flags >= i64::from(threshold) {
        tx.execute(
            &format!(
                "UPDATE {} SET hidden = 1, hidden_reason = 'reported by residents; pending review', review = 'pending'
                 WHERE id = ?1 AND hidden = 0 AND review IS NULL",
                f.target.table()
            ),
            [f.id],
        )? > 0
    } else {
        false
    };
    if hid {
        tx.execute(
            "INSERT INTO c_moderation_log (target, target_id, action, reason, account_id, created_at) VALUES (?1, ?2, 'auto_hide', ?3, NULL, ?4)",
            (f.target.as_str(), f.id, format!("{flags} flags"), now()),
        )?;
    }
    tx.commit()?;
    Ok(hid)
}

/// Hides or restores content.
pub fn decide(conn: &mut rusqlite::Connection, by: i64, target: Target, id: i64, d: &Decision) -> Result<()> {
    check_text("reason", &d.reason, 500, false)?;
    let tx = conn.transaction()?;
    exists(&tx, target, id)?;
    match d.action.as_str() {
        "hide" => tx.execute(
            &format!("UPDATE {} SET hidden = 1, hidden_reason = ?1, review = 'upheld' WHERE id = ?2", target.table()),
            (&d.reason, id),
        )?,
        "restore" => tx.execute(
            &format!("UPDATE {} SET hidden = 0, hidden_reason = NULL, review = 'restored' WHERE id = ?1", target.table()),
            [id],
        )?,
        _ => return Err(ConsultationError::Invalid("`action` is hide or restore".into())),
    };
    tx.execute(
        "INSERT INTO c_moderation_log (target, target_id, action, reason, account_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        (target.as_str(), id, &d.action, &d.reason, by, now()),
    )?;
    tx.commit()?;
    Ok(())
}

/// Content waiting for review (auto-hidden) or flagged since, with its flag count and reasons.
pub fn queue_of(conn: &mut rusqlite::Connection) -> Result<Value> {
    let mut stmt = conn.prepare(
        "SELECT f.target, f.target_id, COUNT(*), GROUP_CONCAT(f.reason, ' | '),
            COALESCE(c.review, r.review), COALESCE(c.hidden, r.hidden)
         FROM c_flags f
         LEFT JOIN c_comments c ON f.target = 'comment' AND c.id = f.target_id
         LEFT JOIN c_reports r ON f.target = 'report' AND r.id = f.target_id
         GROUP BY f.target, f.target_id
         HAVING COALESCE(c.review, r.review) IS NULL OR COALESCE(c.review, r.review) = 'pending'
         ORDER BY COUNT(*) DESC, f.target_id LIMIT 500",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(serde_json::json!({
            "target": r.get::<_, String>(0)?,
            "id": r.get::<_, i64>(1)?,
            "flags": r.get::<_, i64>(2)?,
            "reasons": r.get::<_, Option<String>>(3)?,
            "review": r.get::<_, Option<String>>(4)?,
            "hidden": r.get::<_, Option<bool>>(5)?.unwrap_or(false),
        }))
    })?;
    Ok(Value::Array(rows.collect::<rusqlite::Result<_>>()?))
}
