//! Moderation: any account may flag a comment or a report. Flags weigh by the flagger's role
//! ([`flag_weight`]: a resident 1, a professional 2, government 3); once the weights reach
//! [`super::ConsultationConfig::auto_hide_flags`] the content is hidden automatically, pending
//! review, except an official notice (content by a government account): that is only queued
//! for review, never hidden without a moderator's decision. Government and professionals hide content with a reason, or restore it;
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

fn exists(conn: &renewtwin_store::db::Connection, target: Target, id: i64) -> Result<()> {
    let found: bool = conn.query_row(&format!("SELECT EXISTS(SELECT 1 FROM {} WHERE id = ?1)", target.table()), [id], |r| r.get(0))?;
    if found { Ok(()) } else { Err(ConsultationError::NotFound(format!("no {} {id}", target.as_str()))) }
}

/// How much one flag by an account of `role` counts towards hiding content.
pub fn flag_weight(role: &str) -> i64 {
    match role {
        "government" => 3,
        "professional" => 2,
        _ => 1,
    }
}

/// Flags content; returns whether this flag hid it.
pub fn flag(conn: &mut renewtwin_store::db::Connection, by: i64, f: &Flag, threshold: u32) -> Result<bool> {
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
    let roles: Vec<String> = {
        let mut stmt = tx.prepare(
            "SELECT a.role FROM c_flags f JOIN c_accounts a ON a.id = f.account_id WHERE f.target = ?1 AND f.target_id = ?2",
        )?;
        stmt.query_map((f.target.as_str(), f.id), |r| r.get(0))?.collect::<renewtwin_store::db::Result<_>>()?
    };
    let flags: i64 = roles.iter().map(|r| flag_weight(r)).sum();
    let author = match f.target {
        Target::Comment => "SELECT a.role FROM c_comments t JOIN c_accounts a ON a.id = t.author_id WHERE t.id = ?1",
        Target::Report => "SELECT a.role FROM c_reports t JOIN c_accounts a ON a.id = t.reporter_id WHERE t.id = ?1",
    };
    let official = tx.query_row(author, [f.id], |r| r.get::<_, String>(0))? == "government";
    // Content a moderator restored stays up; new flags after that go to the queue only. An
    // official notice is never hidden by flags: it waits in the queue for a moderator.
    let hid = if flags >= i64::from(threshold) && !official {
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
            (f.target.as_str(), f.id, format!("{} flags weighing {flags}", roles.len()), now()),
        )?;
    }
    tx.commit()?;
    Ok(hid)
}

/// Hides or restores content.
pub fn decide(conn: &mut renewtwin_store::db::Connection, by: i64, target: Target, id: i64, d: &Decision) -> Result<()> {
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
pub fn queue_of(conn: &mut renewtwin_store::db::Connection) -> Result<Value> {
    let mut stmt = conn.prepare(
        "SELECT f.target, f.target_id, COUNT(*), GROUP_CONCAT(f.reason, ' | '),
            COALESCE(c.review, r.review), COALESCE(c.hidden, r.hidden)
         FROM c_flags f
         LEFT JOIN c_comments c ON f.target = 'comment' AND c.id = f.target_id
         LEFT JOIN c_reports r ON f.target = 'report' AND r.id = f.target_id
         GROUP BY f.target, f.target_id, c.id, r.id
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
    Ok(Value::Array(rows.collect::<renewtwin_store::db::Result<_>>()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(conn: &renewtwin_store::db::Connection, name: &str, role: &str) -> i64 {
        conn.execute(
            "INSERT INTO c_accounts (username, password_hash, role, display_name, created_at) VALUES (?1, 'h', ?2, ?1, 0)",
            (name, role),
        )
        .expect("account");
        conn.last_insert_rowid().expect("rowid")
    }

    fn comment(conn: &renewtwin_store::db::Connection, author: i64) -> i64 {
        conn.execute("INSERT INTO c_comments (author_id, body, created_at) VALUES (?1, 'notice', 0)", [author]).expect("comment");
        conn.last_insert_rowid().expect("rowid")
    }

    fn hidden(conn: &renewtwin_store::db::Connection, id: i64) -> bool {
        conn.query_row("SELECT hidden FROM c_comments WHERE id = ?1", [id], |r| r.get(0)).expect("row")
    }

    #[test]
    fn flags_weigh_by_role_and_never_hide_an_official_notice() {
        let store = renewtwin_store::Store::in_memory(&[crate::MIGRATIONS]).expect("store");
        let mut conn = store.lock().expect("lock");
        let gov = account(&conn, "gov", "government");
        let pro = account(&conn, "pro", "professional");
        let residents: Vec<i64> = (0..5).map(|i| account(&conn, &format!("r{i}"), "resident")).collect();
        let flag_of = |id| Flag { target: Target::Comment, id, reason: "spam".into() };
        // A government notice: five residents and a professional flag it; it stays up, queued.
        let notice = comment(&conn, gov);
        for &r in &residents {
            assert!(!flag(&mut conn, r, &flag_of(notice), 3).expect("flag"));
        }
        assert!(!flag(&mut conn, pro, &flag_of(notice), 3).expect("flag"));
        assert!(!hidden(&conn, notice), "an official notice is not hidden by flags");
        let queue = queue_of(&mut conn).expect("queue");
        assert!(queue.as_array().expect("list").iter().any(|q| q["id"] == notice), "it waits for review: {queue}");
        // A resident's comment: two resident flags (weight 2) keep it up; a professional's flag
        // (weight 2) brings the sum to 4 ≥ 3 and hides it pending review.
        let post = comment(&conn, residents[0]);
        assert!(!flag(&mut conn, residents[1], &flag_of(post), 3).expect("flag"));
        assert!(!flag(&mut conn, residents[2], &flag_of(post), 3).expect("flag"));
        assert!(!hidden(&conn, post));
        assert!(flag(&mut conn, pro, &flag_of(post), 3).expect("flag"));
        assert!(hidden(&conn, post));
        assert_eq!((flag_weight("resident"), flag_weight("professional"), flag_weight("government")), (1, 2, 3));
        // A moderator can still hide the notice, with a reason.
        decide(&mut conn, gov, Target::Comment, notice, &Decision { action: "hide".into(), reason: "outdated".into() }).expect("decide");
        assert!(hidden(&conn, notice));
    }
}
