//! The audit trail: every governance decision (a consultation opened or closed with its tally
//! and rule, an approval granted or refused, a progress record, a role granted) is appended to
//! one log whose entries are chained by hash, so an edit or a deletion of an earlier entry is
//! detected ([`verify`]).
//!
//! Each entry's hash is BLAKE2s-256 over the previous entry's hash and the entry's fields,
//! each written as its length in bytes, a colon and the bytes (so no two different entries
//! serialise alike). The first entry chains to 64 zeros. The chain proves the order and the
//! content of what was logged; it does not prove that nothing was left out of it at the time.
//!
//! Government and third-party evaluators read the whole log; everyone else reads the decisions
//! without personal data: the actor's account id and the `personal` part (e.g. who recorded a
//! progress figure) are left out, the hash chain stays so the public can check it too.

use blake2::Digest as _;
use serde::Serialize;
use serde_json::Value;

use super::{Result, now, rfc3339};

/// The hash the first entry chains to.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// An entry to append.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Who decided: the account id (`None`: the system, e.g. a replay).
    pub actor: Option<i64>,
    /// The actor's role and capacity as shown (`government`, `authority`, `professional/contractor`).
    pub actor_role: String,
    /// What was decided: `consultation_opened`, `consultation_closed`, `approval_granted`,
    /// `approval_refused`, `progress_recorded`, `role_granted`, ….
    pub action: String,
    /// The project, if any.
    pub project: Option<String>,
    /// What it is about: `consultation 3`, `approval fire`, `task lift-shafts`, `account 7`.
    pub subject: String,
    /// The decision's public details (tally, rule, reason, dates).
    pub detail: Value,
    /// Details only government and evaluators see (names, accounts).
    pub personal: Value,
}

/// A stored entry.
#[derive(Debug, Clone, Serialize)]
pub struct Logged {
    pub seq: i64,
    pub at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<i64>,
    pub actor_role: String,
    pub action: String,
    pub project: Option<String>,
    pub subject: String,
    pub detail: Value,
    #[serde(skip_serializing_if = "Value::is_null")]
    pub personal: Value,
    pub prev_hash: String,
    pub hash: String,
}

/// The result of walking the chain.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Verification {
    /// Entries walked.
    pub entries: i64,
    /// Whether every entry chains to the one before and hashes to its stored hash.
    pub intact: bool,
    /// The first entry that does not.
    pub first_broken: Option<i64>,
}

fn field(h: &mut blake2::Blake2s256, bytes: &[u8]) {
    h.update(bytes.len().to_string().as_bytes());
    h.update(b":");
    h.update(bytes);
}

/// The hash of an entry with `prev` before it.
#[allow(clippy::too_many_arguments)]
fn entry_hash(
    prev: &str,
    seq: i64,
    at: i64,
    actor: Option<i64>,
    role: &str,
    action: &str,
    project: Option<&str>,
    subject: &str,
    detail: &str,
    personal: &str,
) -> String {
    let mut h = blake2::Blake2s256::new();
    field(&mut h, prev.as_bytes());
    field(&mut h, seq.to_string().as_bytes());
    field(&mut h, at.to_string().as_bytes());
    field(
        &mut h,
        actor.map(|a| a.to_string()).unwrap_or_default().as_bytes(),
    );
    field(&mut h, role.as_bytes());
    field(&mut h, action.as_bytes());
    field(&mut h, project.unwrap_or_default().as_bytes());
    field(&mut h, subject.as_bytes());
    field(&mut h, detail.as_bytes());
    field(&mut h, personal.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Appends `entry` to the log on `conn` (inside the caller's transaction, if any, so the
/// decision and its entry are stored together). Returns the entry's sequence number and hash.
pub fn append(conn: &renewtwin_store::db::Connection, entry: &Entry) -> Result<(i64, String)> {
    use renewtwin_store::db::OptionalExtension as _;
    let last: Option<(i64, String)> = conn
        .query_row(
            "SELECT seq, hash FROM c_audit ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let (seq, prev) = match last {
        Some((s, h)) => (s + 1, h),
        None => (1, GENESIS.to_owned()),
    };
    let at = now();
    let detail = entry.detail.to_string();
    let personal = entry.personal.to_string();
    let hash = entry_hash(
        &prev,
        seq,
        at,
        entry.actor,
        &entry.actor_role,
        &entry.action,
        entry.project.as_deref(),
        &entry.subject,
        &detail,
        &personal,
    );
    conn.execute(
        "INSERT INTO c_audit (seq, at, actor, actor_role, action, project, subject, detail, personal, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        renewtwin_store::params![seq, at, entry.actor, entry.actor_role, entry.action, entry.project, entry.subject, detail, personal, prev, hash],
    )?;
    Ok((seq, hash))
}

type Row = (
    i64,
    i64,
    Option<i64>,
    String,
    String,
    Option<String>,
    String,
    String,
    String,
    String,
    String,
);

fn rows(conn: &renewtwin_store::db::Connection, after: i64, limit: i64) -> Result<Vec<Row>> {
    let mut stmt = conn.prepare(
        "SELECT seq, at, actor, actor_role, action, project, subject, detail, personal, prev_hash, hash
         FROM c_audit WHERE seq > ?1 ORDER BY seq LIMIT ?2",
    )?;
    let out = stmt
        .query_map([after, limit], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
                r.get(9)?,
                r.get(10)?,
            ))
        })?
        .collect::<renewtwin_store::db::Result<_>>()?;
    Ok(out)
}

/// Most entries one request reads.
pub const MAX_PAGE: i64 = 1000;

/// Entries after `after`, at most `limit` (capped at [`MAX_PAGE`]); `full`: with the actor and
/// the personal details (government and evaluators).
pub fn list(
    conn: &renewtwin_store::db::Connection,
    after: i64,
    limit: i64,
    full: bool,
) -> Result<Vec<Logged>> {
    Ok(rows(conn, after, limit.clamp(1, MAX_PAGE))?
        .into_iter()
        .map(
            |(
                seq,
                at,
                actor,
                actor_role,
                action,
                project,
                subject,
                detail,
                personal,
                prev_hash,
                hash,
            )| Logged {
                seq,
                at: rfc3339(at),
                actor: if full { actor } else { None },
                actor_role,
                action,
                project,
                subject,
                detail: serde_json::from_str(&detail).unwrap_or(Value::Null),
                personal: if full {
                    serde_json::from_str(&personal).unwrap_or(Value::Null)
                } else {
                    Value::Null
                },
                prev_hash,
                hash,
            },
        )
        .collect())
}

/// Walks the whole chain and checks every link and hash.
pub fn verify(conn: &renewtwin_store::db::Connection) -> Result<Verification> {
    let mut prev = GENESIS.to_owned();
    let mut after = 0;
    let mut entries = 0;
    loop {
        let page = rows(conn, after, MAX_PAGE)?;
        if page.is_empty() {
            return Ok(Verification {
                entries,
                intact: true,
                first_broken: None,
            });
        }
        for (seq, at, actor, role, action, project, subject, detail, personal, prev_hash, hash) in
            page
        {
            entries += 1;
            let expected = entry_hash(
                &prev,
                seq,
                at,
                actor,
                &role,
                &action,
                project.as_deref(),
                &subject,
                &detail,
                &personal,
            );
            if prev_hash != prev || hash != expected {
                return Ok(Verification {
                    entries,
                    intact: false,
                    first_broken: Some(seq),
                });
            }
            prev = hash;
            after = seq;
        }
    }
}

/// The entries as CSV (RFC 4180 quoting): `seq,at,actor_role,action,project,subject,detail,prev_hash,hash`
/// and, for `full`, the actor and personal columns.
pub fn to_csv(entries: &[Logged], full: bool) -> String {
    fn q(s: &str) -> String {
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_owned()
        }
    }
    let mut out = String::from(if full {
        "seq,at,actor,actor_role,action,project,subject,detail,personal,prev_hash,hash\n"
    } else {
        "seq,at,actor_role,action,project,subject,detail,prev_hash,hash\n"
    });
    for e in entries {
        let mut cols = vec![e.seq.to_string(), e.at.clone()];
        if full {
            cols.push(e.actor.map(|a| a.to_string()).unwrap_or_default());
        }
        cols.extend([
            e.actor_role.clone(),
            e.action.clone(),
            e.project.clone().unwrap_or_default(),
            e.subject.clone(),
            e.detail.to_string(),
        ]);
        if full {
            cols.push(if e.personal.is_null() {
                String::new()
            } else {
                e.personal.to_string()
            });
        }
        cols.extend([e.prev_hash.clone(), e.hash.clone()]);
        out.push_str(&cols.iter().map(|c| q(c)).collect::<Vec<_>>().join(","));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn db() -> renewtwin_store::db::Connection {
        let conn = renewtwin_store::db::Connection::open_in_memory().expect("conn");
        conn.execute_batch(crate::SCHEMA_001).expect("schema");
        conn.execute_batch(crate::SCHEMA_AUDIT)
            .expect("audit schema");
        conn
    }

    fn entry(action: &str, reason: &str) -> Entry {
        Entry {
            actor: Some(7),
            actor_role: "authority".into(),
            action: action.into(),
            project: Some("lifts".into()),
            subject: "approval fire".into(),
            detail: json!({"reason": reason}),
            personal: json!({"username": "fire-officer"}),
        }
    }

    #[test]
    fn entries_chain_and_an_edit_or_a_deletion_breaks_the_chain() {
        let conn = db();
        let (s1, h1) =
            append(&conn, &entry("approval_refused", "exits too narrow")).expect("append");
        let (s2, _) = append(&conn, &entry("approval_granted", "exits widened")).expect("append");
        append(&conn, &entry("progress_recorded", "")).expect("append");
        assert_eq!((s1, s2), (1, 2));
        let all = list(&conn, 0, 100, true).expect("list");
        assert_eq!(all[0].prev_hash, GENESIS);
        assert_eq!(all[1].prev_hash, h1);
        assert_eq!(
            verify(&conn).expect("verify"),
            Verification {
                entries: 3,
                intact: true,
                first_broken: None
            }
        );

        // Rewriting a reason is detected at that entry.
        conn.execute(
            "UPDATE c_audit SET detail = '{\"reason\":\"exits fine\"}' WHERE seq = 1",
            [],
        )
        .expect("tamper");
        assert_eq!(verify(&conn).expect("verify").first_broken, Some(1));
        conn.execute(
            "UPDATE c_audit SET detail = '{\"reason\":\"exits too narrow\"}' WHERE seq = 1",
            [],
        )
        .expect("restore");
        assert!(verify(&conn).expect("verify").intact);
        // Deleting an entry breaks the link of the next one.
        conn.execute("DELETE FROM c_audit WHERE seq = 2", [])
            .expect("delete");
        assert_eq!(verify(&conn).expect("verify").first_broken, Some(3));
    }

    #[test]
    fn the_public_view_leaves_out_the_actor_and_personal_details() {
        let conn = db();
        append(&conn, &entry("approval_granted", "ok, \"as drawn\"")).expect("append");
        let public = list(&conn, 0, 10, false).expect("list");
        assert_eq!(public[0].actor, None);
        assert!(public[0].personal.is_null());
        let text = serde_json::to_string(&public).expect("json");
        assert!(
            !text.contains("fire-officer") && !text.contains("\"actor\""),
            "{text}"
        );
        let csv = to_csv(&public, false);
        assert!(csv.starts_with("seq,at,actor_role,action,"), "{csv}");
        assert!(!csv.contains("fire-officer"));
        // The detail has a comma and quotes: one quoted field, inner quotes doubled.
        assert!(csv.contains(",\"{\"\"reason\"\":\"\"ok, "), "{csv}");
        assert_eq!(csv.lines().count(), 2, "{csv}");
        let full = to_csv(&list(&conn, 0, 10, true).expect("list"), true);
        assert!(full.contains("fire-officer"));
    }
}
