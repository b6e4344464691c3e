//! Announcements and published policies by the government and professional bodies.

use renewtwin_store::db::OptionalExtension as _;
use serde::Deserialize;

use super::privacy::{Class, Field, Record};
use super::{ConsultationError, Result, check_id, check_text, now};

/// `POST /api/announcements`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAnnouncement {
    /// `announcement` or `policy`.
    pub kind: String,
    #[serde(default)]
    pub project: Option<String>,
    pub title: String,
    pub body: String,
}

impl NewAnnouncement {
    pub fn check(&self) -> Result<()> {
        if self.kind != "announcement" && self.kind != "policy" {
            return Err(ConsultationError::Invalid("`kind` is announcement or policy".into()));
        }
        if let Some(p) = &self.project {
            check_id("project", p)?;
        }
        check_text("title", &self.title, 200, false)?;
        check_text("body", &self.body, 20_000, false)
    }
}

/// A published announcement or policy.
#[derive(Debug, Clone)]
pub struct Announcement {
    pub id: i64,
    pub kind: String,
    pub project: Option<String>,
    pub title: String,
    pub body: String,
    pub author_id: i64,
    pub author_name: String,
    pub author_role: String,
    pub author_org: Option<String>,
    pub published_at: i64,
}

impl Record for Announcement {
    const KIND: &'static str = "announcement";
    const FIELDS: &'static [Field<Self>] = &[
        Field::new("id", Class::Public, |r| r.id.into()),
        Field::new("kind", Class::Public, |r| r.kind.clone().into()),
        Field::new("project", Class::Public, |r| r.project.clone().into()),
        Field::new("title", Class::Public, |r| r.title.clone().into()),
        Field::new("body", Class::Public, |r| r.body.clone().into()),
        Field::new("author_id", Class::Internal, |r| r.author_id.into()),
        Field::new("author_name", Class::Internal, |r| r.author_name.clone().into()),
        Field::new("author_role", Class::Public, |r| r.author_role.clone().into()),
        Field::new("author_org", Class::Public, |r| r.author_org.clone().into()),
        Field::new("published_at", Class::Public, |r| super::rfc3339(r.published_at).into()),
    ];
    fn owner(&self) -> Option<i64> {
        Some(self.author_id)
    }
}

const SELECT: &str = "SELECT n.id, n.kind, n.project, n.title, n.body, n.author_id, a.display_name, a.role, a.organisation, n.published_at
    FROM c_announcements n JOIN c_accounts a ON a.id = n.author_id";

fn row(r: &renewtwin_store::db::Row<'_>) -> renewtwin_store::db::Result<Announcement> {
    Ok(Announcement {
        id: r.get(0)?,
        kind: r.get(1)?,
        project: r.get(2)?,
        title: r.get(3)?,
        body: r.get(4)?,
        author_id: r.get(5)?,
        author_name: r.get(6)?,
        author_role: r.get(7)?,
        author_org: r.get(8)?,
        published_at: r.get(9)?,
    })
}

/// Publishes an announcement or policy by `by`.
pub fn publish(conn: &renewtwin_store::db::Connection, by: i64, a: &NewAnnouncement) -> Result<Announcement> {
    conn.execute(
        "INSERT INTO c_announcements (kind, project, title, body, author_id, published_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        (&a.kind, &a.project, &a.title, &a.body, by, now()),
    )?;
    let id = conn.last_insert_rowid()?;
    conn.query_row(&format!("{SELECT} WHERE n.id = ?1"), [id], row)
        .optional()?
        .ok_or_else(|| ConsultationError::NotFound(format!("no announcement {id}")))
}

/// Query of `GET /api/announcements`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnnouncementQuery {
    /// `announcement` or `policy`.
    pub kind: Option<String>,
    /// Project id.
    pub project: Option<String>,
}

/// Announcements (and policies), newest first, optionally of one kind or project.
pub fn list(conn: &renewtwin_store::db::Connection, q: &AnnouncementQuery) -> Result<Vec<Announcement>> {
    let (kind, project) = (q.kind.as_deref(), q.project.as_deref());
    let mut stmt = conn.prepare(&format!(
        "{SELECT} WHERE (n.kind = ?1 OR ?1 IS NULL) AND (n.project = ?2 OR ?2 IS NULL) ORDER BY n.id DESC LIMIT 500"
    ))?;
    let rows = stmt.query_map((kind, project), row)?;
    Ok(rows.collect::<renewtwin_store::db::Result<_>>()?)
}

/// Follows (or unfollows) a project's progress.
pub fn follow(conn: &renewtwin_store::db::Connection, account: i64, project: &str, on: bool) -> Result<()> {
    check_id("project", project)?;
    if on {
        conn.execute("INSERT OR IGNORE INTO c_follows (account_id, project) VALUES (?1, ?2)", (account, project))?;
    } else {
        conn.execute("DELETE FROM c_follows WHERE account_id = ?1 AND project = ?2", (account, project))?;
    }
    Ok(())
}

/// The projects `account` follows.
pub fn follows(conn: &renewtwin_store::db::Connection, account: i64) -> Result<Vec<String>> {
    let mut stmt = conn.prepare("SELECT project FROM c_follows WHERE account_id = ?1 ORDER BY project")?;
    let rows = stmt.query_map([account], |r| r.get(0))?;
    Ok(rows.collect::<renewtwin_store::db::Result<_>>()?)
}
