//! Problem reports: a resident reports a problem with a location (an element or a point), a
//! category and an optional photo (type and size checked); government and professionals answer
//! it and move it through `open → acknowledged → in_progress → resolved → closed` (or
//! `rejected`), each step with a message, until it is closed.

use base64::Engine as _;
use rusqlite::OptionalExtension as _;
use serde::Deserialize;
use serde_json::Value;

use super::auth::Audience;
use super::privacy::{Class, Field, Record, view, views};
use super::{ConsultationError, Result, check_id, check_text, now};

/// Categories a report may have.
pub const CATEGORIES: &[&str] = &[
    "structure", "leak", "lift", "pipes", "electrical", "fire_safety", "accessibility", "noise", "sanitation", "greenery",
    "parking", "construction", "other",
];

/// Statuses, in their usual order; `closed` is final.
pub const STATUSES: &[&str] = &["open", "acknowledged", "in_progress", "resolved", "rejected", "closed"];

/// Largest photo, in bytes (decoded).
pub const MAX_PHOTO_BYTES: usize = 2 * 1024 * 1024;

/// A photo as sent: its declared type and base64 data.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhotoUpload {
    pub content_type: String,
    pub data: String,
}

/// `POST /api/reports`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewReport {
    #[serde(default)]
    pub project: Option<String>,
    pub category: String,
    pub description: String,
    #[serde(default)]
    pub element: Option<String>,
    #[serde(default)]
    pub point: Option<[f64; 3]>,
    #[serde(default)]
    pub photo: Option<PhotoUpload>,
}

/// Decodes and checks a photo: JPEG, PNG or WebP, the bytes agreeing with the declared type.
pub fn check_photo(p: &PhotoUpload) -> Result<(Vec<u8>, &'static str)> {
    if p.data.len() > MAX_PHOTO_BYTES / 3 * 4 + 8 {
        return Err(ConsultationError::Invalid(format!("the photo is larger than {} bytes", MAX_PHOTO_BYTES)));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(p.data.as_bytes())
        .map_err(|_| ConsultationError::Invalid("the photo's `data` is not base64".into()))?;
    if bytes.len() > MAX_PHOTO_BYTES {
        return Err(ConsultationError::Invalid(format!("the photo is larger than {} bytes", MAX_PHOTO_BYTES)));
    }
    let sniffed = if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        "image/jpeg"
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        "image/png"
    } else if bytes.len() > 12 && bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(b"WEBP") {
        "image/webp"
    } else {
        return Err(ConsultationError::Invalid("the photo must be a JPEG, PNG or WebP image".into()));
    };
    if p.content_type != sniffed {
        return Err(ConsultationError::Invalid(format!("the photo is declared {:?} but its bytes are {sniffed}", p.content_type)));
    }
    Ok((bytes, sniffed))
}

impl NewReport {
    pub fn check(&self, element_exists: impl Fn(&str) -> bool) -> Result<()> {
        if !CATEGORIES.contains(&self.category.as_str()) {
            return Err(ConsultationError::Invalid(format!("`category` must be one of {CATEGORIES:?}")));
        }
        check_text("description", &self.description, 2000, false)?;
        if let Some(p) = &self.project {
            check_id("project", p)?;
        }
        if self.element.is_none() && self.point.is_none() {
            return Err(ConsultationError::Invalid("a report gives its location: `element` (GlobalId) or `point`".into()));
        }
        if let Some(p) = &self.point
            && !p.iter().all(|x| x.is_finite() && x.abs() < 1e7)
        {
            return Err(ConsultationError::Invalid("`point` must be three finite numbers (metres)".into()));
        }
        if let Some(g) = &self.element
            && !element_exists(g)
        {
            return Err(ConsultationError::Invalid(format!("no element with GlobalId {g:?} in this scene")));
        }
        Ok(())
    }
}

/// A stored report.
#[derive(Debug, Clone)]
pub struct Report {
    pub id: i64,
    pub project: Option<String>,
    pub reporter_id: i64,
    pub reporter_name: String,
    pub reporter_phone: Option<String>,
    pub reporter_role: String,
    pub category: String,
    pub description: String,
    pub element: Option<String>,
    pub point: Option<[f64; 3]>,
    pub has_photo: bool,
    pub status: String,
    pub created_at: i64,
    pub first_answer_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub hidden: bool,
    pub hidden_reason: Option<String>,
    pub review: Option<String>,
    pub bcf_guid: Option<String>,
}

impl Record for Report {
    const KIND: &'static str = "report";
    const FIELDS: &'static [Field<Self>] = &[
        Field::new("id", Class::Public, |r| r.id.into()),
        Field::new("project", Class::Public, |r| r.project.clone().into()),
        Field::new("reporter_id", Class::Internal, |r| r.reporter_id.into()),
        Field::new("reporter_name", Class::Internal, |r| r.reporter_name.clone().into()),
        Field::new("reporter_phone", Class::Confidential, |r| r.reporter_phone.clone().into()),
        Field::new("reporter_role", Class::Public, |r| r.reporter_role.clone().into()),
        Field::new("category", Class::Public, |r| r.category.clone().into()),
        Field::new("description", Class::Public, |r| r.description.clone().into()),
        Field::new("element", Class::Public, |r| r.element.clone().into()),
        Field::new("point", Class::Public, |r| serde_json::to_value(r.point).unwrap_or(Value::Null)),
        Field::new("has_photo", Class::Public, |r| r.has_photo.into()),
        Field::new("status", Class::Public, |r| r.status.clone().into()),
        Field::new("created_at", Class::Public, |r| super::rfc3339(r.created_at).into()),
        Field::new("first_answer_at", Class::Public, |r| r.first_answer_at.map(super::rfc3339).into()),
        Field::new("closed_at", Class::Public, |r| r.closed_at.map(super::rfc3339).into()),
        Field::new("hidden", Class::Public, |r| r.hidden.into()),
        Field::new("hidden_reason", Class::Public, |r| r.hidden_reason.clone().into()),
        Field::new("review", Class::Internal, |r| r.review.clone().into()),
        Field::new("bcf_guid", Class::Public, |r| r.bcf_guid.clone().into()),
    ];
    const HIDEABLE: &'static [&'static str] = &["description"];
    fn owner(&self) -> Option<i64> {
        Some(self.reporter_id)
    }
    fn hidden(&self) -> bool {
        self.hidden
    }
}

/// One step of a report's handling.
#[derive(Debug, Clone)]
pub struct ReportUpdate {
    pub id: i64,
    pub report: i64,
    pub author_id: i64,
    pub author_role: String,
    pub author_org: Option<String>,
    pub author_name: String,
    pub status: String,
    pub message: String,
    pub created_at: i64,
}

impl Record for ReportUpdate {
    const KIND: &'static str = "report_update";
    const FIELDS: &'static [Field<Self>] = &[
        Field::new("id", Class::Public, |r| r.id.into()),
        Field::new("report", Class::Public, |r| r.report.into()),
        Field::new("author_id", Class::Internal, |r| r.author_id.into()),
        Field::new("author_role", Class::Public, |r| r.author_role.clone().into()),
        Field::new("author_org", Class::Public, |r| r.author_org.clone().into()),
        Field::new("author_name", Class::Internal, |r| r.author_name.clone().into()),
        Field::new("status", Class::Public, |r| r.status.clone().into()),
        Field::new("message", Class::Public, |r| r.message.clone().into()),
        Field::new("created_at", Class::Public, |r| super::rfc3339(r.created_at).into()),
    ];
    fn owner(&self) -> Option<i64> {
        Some(self.author_id)
    }
}

const SELECT: &str = "SELECT r.id, r.project, r.reporter_id, a.display_name, a.phone, a.role, r.category, r.description,
    r.element, r.point, r.photo IS NOT NULL, r.status, r.created_at, r.first_answer_at, r.closed_at, r.hidden,
    r.hidden_reason, r.review, r.bcf_guid FROM c_reports r JOIN c_accounts a ON a.id = r.reporter_id";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Report> {
    let point: Option<String> = r.get(9)?;
    Ok(Report {
        id: r.get(0)?,
        project: r.get(1)?,
        reporter_id: r.get(2)?,
        reporter_name: r.get(3)?,
        reporter_phone: r.get(4)?,
        reporter_role: r.get(5)?,
        category: r.get(6)?,
        description: r.get(7)?,
        element: r.get(8)?,
        point: point.and_then(|p| serde_json::from_str(&p).ok()),
        has_photo: r.get(10)?,
        status: r.get(11)?,
        created_at: r.get(12)?,
        first_answer_at: r.get(13)?,
        closed_at: r.get(14)?,
        hidden: r.get(15)?,
        hidden_reason: r.get(16)?,
        review: r.get(17)?,
        bcf_guid: r.get(18)?,
    })
}

/// Stores a report by `reporter`.
pub fn create(
    conn: &rusqlite::Connection,
    reporter: i64,
    r: &NewReport,
    photo: Option<(Vec<u8>, &'static str)>,
    bcf_guid: Option<&str>,
) -> Result<Report> {
    let (bytes, kind) = photo.map_or((None, None), |(b, k)| (Some(b), Some(k)));
    let guid = match bcf_guid {
        Some(g) => g.to_owned(),
        None => super::guid::new_guid()?,
    };
    conn.execute(
        "INSERT INTO c_reports (project, reporter_id, category, description, element, point, photo, photo_type, status, created_at, bcf_guid)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'open', ?9, ?10)",
        (
            &r.project,
            reporter,
            &r.category,
            &r.description,
            &r.element,
            r.point.map(|p| serde_json::json!(p).to_string()),
            bytes,
            kind,
            now(),
            guid,
        ),
    )?;
    get(conn, conn.last_insert_rowid())
}

/// One report.
pub fn get(conn: &rusqlite::Connection, id: i64) -> Result<Report> {
    conn.query_row(&format!("{SELECT} WHERE r.id = ?1"), [id], row)
        .optional()?
        .ok_or_else(|| ConsultationError::NotFound(format!("no report {id}")))
}

/// Reports, oldest first, optionally of one status; at most 500 after id `after`.
pub fn list(conn: &rusqlite::Connection, status: Option<&str>, after: i64) -> Result<Vec<Report>> {
    let mut stmt = conn.prepare(&format!("{SELECT} WHERE (?1 IS NULL OR r.status = ?1) AND r.id > ?2 ORDER BY r.id LIMIT 500"))?;
    let rows = stmt.query_map((status, after), row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Every report (exports).
pub fn all(conn: &rusqlite::Connection) -> Result<Vec<Report>> {
    let mut stmt = conn.prepare(&format!("{SELECT} ORDER BY r.id"))?;
    let rows = stmt.query_map([], row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The handling steps of `report`, oldest first.
pub fn updates(conn: &rusqlite::Connection, report: i64) -> Result<Vec<ReportUpdate>> {
    let mut stmt = conn.prepare(
        "SELECT u.id, u.report_id, u.author_id, a.role, a.organisation, a.display_name, u.status, u.message, u.created_at
         FROM c_report_updates u JOIN c_accounts a ON a.id = u.author_id WHERE u.report_id = ?1 ORDER BY u.id",
    )?;
    let rows = stmt.query_map([report], |r| {
        Ok(ReportUpdate {
            id: r.get(0)?,
            report: r.get(1)?,
            author_id: r.get(2)?,
            author_role: r.get(3)?,
            author_org: r.get(4)?,
            author_name: r.get(5)?,
            status: r.get(6)?,
            message: r.get(7)?,
            created_at: r.get(8)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// A report with its handling steps, as `audience` may see them.
pub fn report_json(report: &Report, steps: &[ReportUpdate], audience: Audience) -> Value {
    let mut v = view(report, audience);
    if let Some(map) = v.as_object_mut() {
        map.insert("updates".into(), views(steps, audience));
    }
    v
}

/// `POST /api/reports/{id}/updates`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUpdate {
    pub status: String,
    pub message: String,
}

/// Answers a report and moves it to `u.status`.
pub fn answer(conn: &mut rusqlite::Connection, by: i64, report: i64, u: &NewUpdate) -> Result<Report> {
    if !STATUSES.contains(&u.status.as_str()) {
        return Err(ConsultationError::Invalid(format!("`status` must be one of {STATUSES:?}")));
    }
    check_text("message", &u.message, 2000, false)?;
    let tx = conn.transaction()?;
    let current = get(&tx, report)?;
    if current.status == "closed" {
        return Err(ConsultationError::Conflict(format!("report {report} is closed")));
    }
    let at = now();
    tx.execute(
        "INSERT INTO c_report_updates (report_id, author_id, status, message, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        (report, by, &u.status, &u.message, at),
    )?;
    tx.execute(
        "UPDATE c_reports SET status = ?1, first_answer_at = COALESCE(first_answer_at, ?2),
         closed_at = CASE WHEN ?1 = 'closed' THEN ?2 ELSE closed_at END WHERE id = ?3",
        (&u.status, at, report),
    )?;
    let updated = get(&tx, report)?;
    tx.commit()?;
    Ok(updated)
}

/// The photo of `report` and its type.
pub fn photo(conn: &rusqlite::Connection, report: i64) -> Result<(i64, Vec<u8>, String)> {
    conn.query_row("SELECT reporter_id, photo, photo_type FROM c_reports WHERE id = ?1 AND photo IS NOT NULL", [report], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })
    .optional()?
    .ok_or_else(|| ConsultationError::NotFound(format!("report {report} has no photo")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upload(content_type: &str, bytes: &[u8]) -> PhotoUpload {
        PhotoUpload { content_type: content_type.into(), data: base64::engine::general_purpose::STANDARD.encode(bytes) }
    }

    #[test]
    fn photos_are_checked_by_their_bytes_and_size() {
        let png = b"\x89PNG\r\n\x1a\nrest";
        assert!(check_photo(&upload("image/png", png)).is_ok());
        assert!(check_photo(&upload("image/jpeg", png)).is_err(), "declared type must match");
        assert!(check_photo(&upload("image/svg+xml", b"<svg onload=alert(1)>")).is_err(), "svg is refused");
        let big = [0xFFu8, 0xD8, 0xFF].iter().copied().chain(std::iter::repeat_n(0, MAX_PHOTO_BYTES)).collect::<Vec<_>>();
        assert!(check_photo(&upload("image/jpeg", &big)).is_err(), "too large");
        assert!(check_photo(&PhotoUpload { content_type: "image/png".into(), data: "%%%".into() }).is_err());
    }
}
