//! Comments on an element (by IFC GlobalId), a 3D point or a viewpoint, and replies to them.
//! The viewpoint (camera, direction, up, field of view, selected elements) is stored with the
//! comment, so anyone can see what the commenter saw; it maps one to one onto a BCF viewpoint.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::privacy::{Class, Field, Record};
use super::{ConsultationError, Result, check_id, check_text, now};

/// Longest comment, in characters.
pub const MAX_BODY: usize = 2000;

/// What the commenter saw: a perspective camera in scene metres (Z up, as in IFC).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Viewpoint {
    /// Eye position.
    pub camera: [f64; 3],
    /// Viewing direction.
    pub direction: [f64; 3],
    /// Up vector.
    pub up: [f64; 3],
    /// Vertical field of view, degrees.
    #[serde(default = "default_fov")]
    pub field_of_view: f64,
    /// Width / height of the view.
    #[serde(default = "default_aspect")]
    pub aspect_ratio: f64,
    /// GlobalIds of the selected elements.
    #[serde(default)]
    pub elements: Vec<String>,
}

fn default_fov() -> f64 {
    60.0
}

fn default_aspect() -> f64 {
    16.0 / 9.0
}

impl Viewpoint {
    pub fn check(&self) -> Result<()> {
        let finite = |v: &[f64; 3]| v.iter().all(|x| x.is_finite() && x.abs() < 1e7);
        let nonzero = |v: &[f64; 3]| v.iter().map(|x| x * x).sum::<f64>() > 1e-12;
        if !finite(&self.camera) || !finite(&self.direction) || !finite(&self.up) || !nonzero(&self.direction) || !nonzero(&self.up) {
            return Err(ConsultationError::Invalid("the viewpoint needs finite `camera`, and non-zero `direction` and `up`".into()));
        }
        if !(1.0..=179.0).contains(&self.field_of_view) || !(0.05..=20.0).contains(&self.aspect_ratio) {
            return Err(ConsultationError::Invalid("`field_of_view` must be 1-179 degrees and `aspect_ratio` 0.05-20".into()));
        }
        if self.elements.len() > 200 {
            return Err(ConsultationError::Invalid("a viewpoint selects at most 200 elements".into()));
        }
        Ok(())
    }
}

/// `POST /api/comments`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewComment {
    #[serde(default)]
    pub project: Option<String>,
    /// Id of the comment this one answers.
    #[serde(default)]
    pub parent: Option<i64>,
    pub body: String,
    /// GlobalId of the element commented on.
    #[serde(default)]
    pub element: Option<String>,
    /// A point in scene metres.
    #[serde(default)]
    pub point: Option<[f64; 3]>,
    #[serde(default)]
    pub viewpoint: Option<Viewpoint>,
}

impl NewComment {
    /// Checks bounds; `element_exists` says whether a GlobalId is in the scene.
    pub fn check(&self, element_exists: impl Fn(&str) -> bool) -> Result<()> {
        check_text("body", &self.body, MAX_BODY, false)?;
        if let Some(p) = &self.project {
            check_id("project", p)?;
        }
        if let Some(p) = &self.point
            && !p.iter().all(|x| x.is_finite() && x.abs() < 1e7)
        {
            return Err(ConsultationError::Invalid("`point` must be three finite numbers (metres)".into()));
        }
        if let Some(v) = &self.viewpoint {
            v.check()?;
        }
        let mut ids: Vec<&str> = self.viewpoint.iter().flat_map(|v| v.elements.iter().map(String::as_str)).collect();
        ids.extend(self.element.as_deref());
        if let Some(bad) = ids.into_iter().find(|g| !element_exists(g)) {
            return Err(ConsultationError::Invalid(format!("no element with GlobalId {bad:?} in this scene")));
        }
        Ok(())
    }
}

/// A stored comment with its author's public and internal attributes.
#[derive(Debug, Clone)]
pub struct Comment {
    pub id: i64,
    pub project: Option<String>,
    pub parent: Option<i64>,
    pub author_id: i64,
    pub author_role: String,
    pub author_org: Option<String>,
    pub author_name: String,
    pub body: String,
    pub element: Option<String>,
    pub point: Option<[f64; 3]>,
    pub viewpoint: Option<Viewpoint>,
    pub created_at: i64,
    pub hidden: bool,
    pub hidden_reason: Option<String>,
    pub review: Option<String>,
    pub bcf_guid: Option<String>,
}

impl Record for Comment {
    const KIND: &'static str = "comment";
    const FIELDS: &'static [Field<Self>] = &[
        Field::new("id", Class::Public, |r| r.id.into()),
        Field::new("project", Class::Public, |r| r.project.clone().into()),
        Field::new("parent", Class::Public, |r| r.parent.into()),
        Field::new("author_id", Class::Internal, |r| r.author_id.into()),
        Field::new("author_role", Class::Public, |r| r.author_role.clone().into()),
        Field::new("author_org", Class::Public, |r| r.author_org.clone().into()),
        Field::new("author_name", Class::Internal, |r| r.author_name.clone().into()),
        Field::new("body", Class::Public, |r| r.body.clone().into()),
        Field::new("element", Class::Public, |r| r.element.clone().into()),
        Field::new("point", Class::Public, |r| serde_json::to_value(r.point).unwrap_or(Value::Null)),
        Field::new("viewpoint", Class::Public, |r| serde_json::to_value(&r.viewpoint).unwrap_or(Value::Null)),
        Field::new("created_at", Class::Public, |r| super::rfc3339(r.created_at).into()),
        Field::new("hidden", Class::Public, |r| r.hidden.into()),
        Field::new("hidden_reason", Class::Public, |r| r.hidden_reason.clone().into()),
        Field::new("review", Class::Internal, |r| r.review.clone().into()),
        Field::new("bcf_guid", Class::Public, |r| r.bcf_guid.clone().into()),
    ];
    const HIDEABLE: &'static [&'static str] = &["body", "viewpoint", "point", "element"];
    fn owner(&self) -> Option<i64> {
        Some(self.author_id)
    }
    fn hidden(&self) -> bool {
        self.hidden
    }
}

const SELECT: &str = "SELECT c.id, c.project, c.parent_id, c.author_id, a.role, a.organisation, a.display_name, c.body,
    c.element, c.point, c.viewpoint, c.created_at, c.hidden, c.hidden_reason, c.review, c.bcf_guid
    FROM c_comments c JOIN c_accounts a ON a.id = c.author_id";

fn row(r: &renewtwin_store::db::Row<'_>) -> renewtwin_store::db::Result<Comment> {
    let point: Option<String> = r.get(9)?;
    let viewpoint: Option<String> = r.get(10)?;
    let role: String = r.get(4)?;
    Ok(Comment {
        id: r.get(0)?,
        project: r.get(1)?,
        parent: r.get(2)?,
        author_id: r.get(3)?,
        // Professionals act for their organisation, publicly; residents and officials by role.
        author_org: if role == "professional" || role == "government" { r.get(5)? } else { None },
        author_role: role,
        author_name: r.get(6)?,
        body: r.get(7)?,
        element: r.get(8)?,
        point: point.and_then(|p| serde_json::from_str(&p).ok()),
        viewpoint: viewpoint.and_then(|v| serde_json::from_str(&v).ok()),
        created_at: r.get(11)?,
        hidden: r.get(12)?,
        hidden_reason: r.get(13)?,
        review: r.get(14)?,
        bcf_guid: r.get(15)?,
    })
}

/// Stores a comment by `author`; returns it.
pub fn create(conn: &mut renewtwin_store::db::Connection, author: i64, c: &NewComment, bcf_guid: Option<&str>) -> Result<Comment> {
    let guid = match bcf_guid {
        Some(g) => g.to_owned(),
        None => super::guid::new_guid()?,
    };
    let tx = conn.transaction()?;
    let mut project = c.project.clone();
    if let Some(parent) = c.parent {
        let parent_project: Option<Option<String>> =
            renewtwin_store::db::OptionalExtension::optional(tx.query_row("SELECT project FROM c_comments WHERE id = ?1", [parent], |r| r.get(0)))?;
        match parent_project {
            None => return Err(ConsultationError::NotFound(format!("no comment {parent} to reply to"))),
            Some(p) => project = project.or(p),
        }
    }
    tx.execute(
        "INSERT INTO c_comments (project, parent_id, author_id, body, element, point, viewpoint, created_at, bcf_guid)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        (
            &project,
            c.parent,
            author,
            &c.body,
            &c.element,
            c.point.map(|p| serde_json::json!(p).to_string()),
            c.viewpoint.as_ref().map(|v| serde_json::json!(v).to_string()),
            now(),
            guid,
        ),
    )?;
    let id = tx.last_insert_rowid()?;
    let comment = get(&tx, id)?;
    tx.commit()?;
    Ok(comment)
}

/// One comment.
pub fn get(conn: &renewtwin_store::db::Connection, id: i64) -> Result<Comment> {
    renewtwin_store::db::OptionalExtension::optional(conn.query_row(&format!("{SELECT} WHERE c.id = ?1"), [id], row))?
        .ok_or_else(|| ConsultationError::NotFound(format!("no comment {id}")))
}

/// Query of `GET /api/comments`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommentQuery {
    pub project: Option<String>,
    pub element: Option<String>,
    pub parent: Option<i64>,
    /// Only comments with a larger id (paging).
    pub after: Option<i64>,
    pub limit: Option<u32>,
}

/// Comments matching `q`, oldest first, at most 500.
pub fn list(conn: &renewtwin_store::db::Connection, q: &CommentQuery) -> Result<Vec<Comment>> {
    let mut stmt = conn.prepare(&format!(
        "{SELECT} WHERE (c.project = ?1 OR ?1 IS NULL) AND (c.element = ?2 OR ?2 IS NULL)
         AND (c.parent_id = ?3 OR ?3 IS NULL) AND c.id > ?4 ORDER BY c.id LIMIT ?5"
    ))?;
    let limit = q.limit.unwrap_or(500).min(500);
    let rows = stmt.query_map((&q.project, &q.element, q.parent, q.after.unwrap_or(0), limit), row)?;
    Ok(rows.collect::<renewtwin_store::db::Result<_>>()?)
}

/// Every comment (exports).
pub fn all(conn: &renewtwin_store::db::Connection) -> Result<Vec<Comment>> {
    let mut stmt = conn.prepare(&format!("{SELECT} ORDER BY c.id"))?;
    let rows = stmt.query_map([], row)?;
    Ok(rows.collect::<renewtwin_store::db::Result<_>>()?)
}
