//! BCF 3.0 exchange with BIM tools. Export: every visible comment thread becomes a topic
//! (`TopicType="Comment"`, the replies its comments) and every report a topic
//! (`TopicType="Issue"`, its status the topic status, its handling steps the comments), each
//! with a viewpoint (perspective camera and the selected elements' IFC GlobalIds) where the
//! record has one. Import: each topic becomes a comment thread (topic → comment with the first
//! viewpoint, BCF comments → replies); GUIDs already present are skipped, so importing an
//! export again changes nothing. Archives, entries and texts are size-limited.

use std::io::{Read, Write};


use super::comments::{Comment, MAX_BODY, Viewpoint};
use super::reports::{Report, ReportUpdate};
use super::guid::{derived_guid, is_guid};
use super::{ConsultationError, Result, rfc3339};

/// Largest BCF archive accepted for import.
pub const MAX_ARCHIVE_BYTES: usize = 8 * 1024 * 1024;
const MAX_ENTRY_BYTES: u64 = 1024 * 1024;
const MAX_TOPICS: usize = 1000;

/// Escapes text for XML element content and attributes.
pub fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

fn title_of(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default().trim();
    let t: String = line.chars().take(80).collect();
    if t.is_empty() { "(no title)".into() } else { t }
}

fn point_xml(tag: &str, p: [f64; 3]) -> String {
    format!("<{tag}><X>{}</X><Y>{}</Y><Z>{}</Z></{tag}>", p[0], p[1], p[2])
}

fn visinfo(guid: &str, camera: Option<&Viewpoint>, selected: &[String]) -> String {
    let mut s = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<VisualizationInfo Guid=\"{guid}\">");
    s.push_str("<Components>");
    let ids: Vec<&String> = selected.iter().filter(|g| g.len() == 22).collect();
    if !ids.is_empty() {
        s.push_str("<Selection>");
        for g in ids {
            s.push_str(&format!("<Component IfcGuid=\"{}\"/>", xml(g)));
        }
        s.push_str("</Selection>");
    }
    s.push_str("<Visibility DefaultVisibility=\"true\"/></Components>");
    if let Some(v) = camera {
        s.push_str("<PerspectiveCamera>");
        s.push_str(&point_xml("CameraViewPoint", v.camera));
        s.push_str(&point_xml("CameraDirection", v.direction));
        s.push_str(&point_xml("CameraUpVector", v.up));
        s.push_str(&format!("<FieldOfView>{}</FieldOfView><AspectRatio>{}</AspectRatio>", v.field_of_view, v.aspect_ratio));
        s.push_str("</PerspectiveCamera>");
    }
    s.push_str("</VisualizationInfo>\n");
    s
}

/// A camera looking at `p` from above and to the south-west, for records with only a point.
fn camera_at(p: [f64; 3]) -> Viewpoint {
    let eye = [p[0] - 12.0, p[1] - 12.0, p[2] + 10.0];
    let d = [p[0] - eye[0], p[1] - eye[1], p[2] - eye[2]];
    let n = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt();
    Viewpoint { camera: eye, direction: [d[0] / n, d[1] / n, d[2] / n], up: [0.0, 0.0, 1.0], field_of_view: 60.0, aspect_ratio: 16.0 / 9.0, elements: Vec::new() }
}

struct Topic {
    guid: String,
    kind: &'static str,
    status: String,
    title: String,
    description: Option<String>,
    label: Option<String>,
    created: i64,
    author: String,
    /// `(guid, date, author, text, viewpoint guid)`.
    comments: Vec<(String, i64, String, String, Option<String>)>,
    /// `(guid, file, content)`.
    viewpoints: Vec<(String, String, String)>,
}

impl Topic {
    fn markup(&self) -> String {
        let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Markup>");
        s.push_str(&format!(
            "<Topic Guid=\"{}\" TopicType=\"{}\" TopicStatus=\"{}\">",
            self.guid,
            self.kind,
            xml(&self.status)
        ));
        s.push_str(&format!("<Title>{}</Title>", xml(&self.title)));
        if let Some(l) = &self.label {
            s.push_str(&format!("<Labels><Label>{}</Label></Labels>", xml(l)));
        }
        s.push_str(&format!("<CreationDate>{}</CreationDate><CreationAuthor>{}</CreationAuthor>", rfc3339(self.created), xml(&self.author)));
        if let Some(d) = &self.description {
            s.push_str(&format!("<Description>{}</Description>", xml(d)));
        }
        if !self.comments.is_empty() {
            s.push_str("<Comments>");
            for (guid, date, author, text, vp) in &self.comments {
                s.push_str(&format!("<Comment Guid=\"{guid}\"><Date>{}</Date><Author>{}</Author><Comment>{}</Comment>", rfc3339(*date), xml(author), xml(text)));
                if let Some(vp) = vp {
                    s.push_str(&format!("<Viewpoint Guid=\"{vp}\"/>"));
                }
                s.push_str("</Comment>");
            }
            s.push_str("</Comments>");
        }
        if !self.viewpoints.is_empty() {
            s.push_str("<Viewpoints>");
            for (guid, file, _) in &self.viewpoints {
                s.push_str(&format!("<ViewPoint Guid=\"{guid}\"><Viewpoint>{file}</Viewpoint></ViewPoint>"));
            }
            s.push_str("</Viewpoints>");
        }
        s.push_str("</Topic></Markup>\n");
        s
    }
}

fn author(role: &str, org: Option<&str>, name: &str) -> String {
    match org {
        Some(o) => format!("{name} ({role}, {o})"),
        None => format!("{name} ({role})"),
    }
}

fn comment_viewpoint(c: &Comment) -> Option<(String, String, String)> {
    let mut selected: Vec<String> = c.viewpoint.as_ref().map(|v| v.elements.clone()).unwrap_or_default();
    selected.extend(c.element.clone());
    let camera = c.viewpoint.clone().or_else(|| c.point.map(camera_at));
    if camera.is_none() && selected.is_empty() {
        return None;
    }
    let guid = derived_guid(&format!("viewpoint:{}", c.bcf_guid.as_deref().unwrap_or_default()));
    let file = format!("{guid}.bcfv");
    Some((guid.clone(), file, visinfo(&guid, camera.as_ref(), &selected)))
}

/// The BCF 3.0 archive of `comments` and `reports` (with their handling steps). Hidden content
/// is left out; authors are named as staff see them (the export is for staff only).
pub fn export(comments: &[Comment], reports: &[(Report, Vec<ReportUpdate>)]) -> Result<Vec<u8>> {
    let mut topics = Vec::new();
    let visible: Vec<&Comment> = comments.iter().filter(|c| !c.hidden && c.bcf_guid.is_some()).collect();
    for root in visible.iter().filter(|c| c.parent.is_none()) {
        let guid = root.bcf_guid.clone().unwrap_or_default();
        let mut thread = vec![*root];
        // Descendants in id order (replies of replies too).
        let mut ids = vec![root.id];
        for c in &visible {
            if c.parent.is_some_and(|p| ids.contains(&p)) {
                ids.push(c.id);
                thread.push(c);
            }
        }
        let mut viewpoints = Vec::new();
        let mut entries = Vec::new();
        for c in &thread {
            let vp = comment_viewpoint(c);
            let vp_guid = vp.as_ref().map(|v| v.0.clone());
            viewpoints.extend(vp);
            let cguid = if c.id == root.id { derived_guid(&format!("body:{guid}")) } else { c.bcf_guid.clone().unwrap_or_default() };
            entries.push((cguid, c.created_at, author(&c.author_role, c.author_org.as_deref(), &c.author_name), c.body.clone(), vp_guid));
        }
        topics.push(Topic {
            guid,
            kind: "Comment",
            status: "Open".into(),
            title: title_of(&root.body),
            description: Some(root.body.clone()),
            label: root.project.clone(),
            created: root.created_at,
            author: author(&root.author_role, root.author_org.as_deref(), &root.author_name),
            comments: entries,
            viewpoints,
        });
    }
    for (r, steps) in reports.iter().filter(|(r, _)| !r.hidden && r.bcf_guid.is_some()) {
        let guid = r.bcf_guid.clone().unwrap_or_default();
        let camera = r.point.map(camera_at);
        let mut viewpoints = Vec::new();
        if camera.is_some() || r.element.is_some() {
            let vg = derived_guid(&format!("viewpoint:{guid}"));
            let selected: Vec<String> = r.element.iter().cloned().collect();
            viewpoints.push((vg.clone(), format!("{vg}.bcfv"), visinfo(&vg, camera.as_ref(), &selected)));
        }
        let comments = steps
            .iter()
            .map(|u| {
                let text = format!("[{}] {}", u.status, u.message);
                (derived_guid(&format!("update:{guid}:{}", u.id)), u.created_at, author(&u.author_role, u.author_org.as_deref(), &u.author_name), text, None)
            })
            .collect();
        topics.push(Topic {
            guid,
            kind: "Issue",
            status: r.status.clone(),
            title: format!("{}: {}", r.category, title_of(&r.description)),
            description: Some(r.description.clone()),
            label: Some(r.category.clone()),
            created: r.created_at,
            author: author(&r.reporter_role, None, &r.reporter_name),
            comments,
            viewpoints,
        });
    }

    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let failed = |e: zip::result::ZipError| ConsultationError::Invalid(format!("cannot write the BCF archive: {e}"));
    let io = |e: std::io::Error| ConsultationError::Invalid(format!("cannot write the BCF archive: {e}"));
    zip.start_file("bcf.version", options).map_err(failed)?;
    zip.write_all(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Version VersionId=\"3.0\"/>\n").map_err(io)?;
    zip.start_file("extensions.xml", options).map_err(failed)?;
    let mut statuses: Vec<String> = vec!["Open".into()];
    statuses.extend(super::reports::STATUSES.iter().map(|s| (*s).to_owned()));
    let mut ext = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Extensions><TopicTypes><TopicType>Comment</TopicType><TopicType>Issue</TopicType></TopicTypes><TopicStatuses>");
    for s in statuses {
        ext.push_str(&format!("<TopicStatus>{}</TopicStatus>", xml(&s)));
    }
    ext.push_str("</TopicStatuses><Priorities/><TopicLabels>");
    for c in super::reports::CATEGORIES {
        ext.push_str(&format!("<TopicLabel>{c}</TopicLabel>"));
    }
    ext.push_str("</TopicLabels><Users/><SnippetTypes/><Stages/></Extensions>\n");
    zip.write_all(ext.as_bytes()).map_err(io)?;
    for t in &topics {
        zip.start_file(format!("{}/markup.bcf", t.guid), options).map_err(failed)?;
        zip.write_all(t.markup().as_bytes()).map_err(io)?;
        for (_, file, content) in &t.viewpoints {
            zip.start_file(format!("{}/{file}", t.guid), options).map_err(failed)?;
            zip.write_all(content.as_bytes()).map_err(io)?;
        }
    }
    Ok(zip.finish().map_err(failed)?.into_inner())
}

/// A parsed XML element (small documents only).
#[derive(Debug, Default)]
pub struct Node {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Node>,
    pub text: String,
}

impl Node {
    pub fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> {
        self.children.iter().filter(move |c| c.name == name)
    }
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
    fn text_of(&self, name: &str) -> Option<String> {
        self.child(name).map(|c| c.text.trim().to_owned())
    }
    fn point(&self, name: &str) -> Option<[f64; 3]> {
        let p = self.child(name)?;
        let get = |n: &str| p.text_of(n).and_then(|t| t.parse::<f64>().ok()).filter(|x| x.is_finite());
        Some([get("X")?, get("Y")?, get("Z")?])
    }
}

/// Parses an XML document into its root element (namespaces dropped, depth ≤ 64).
pub fn parse_xml(text: &str) -> Result<Node> {
    use quick_xml::events::Event;
    let bad = |e: String| ConsultationError::Invalid(format!("bad XML in the BCF archive: {e}"));
    let mut reader = quick_xml::Reader::from_str(text);
    let mut stack: Vec<Node> = vec![Node::default()];
    let open = |e: &quick_xml::events::BytesStart<'_>| -> Result<Node> {
        let mut node = Node { name: e.local_name().as_ref().to_owned(), ..Node::default() };
        for a in e.attributes() {
            let a = a.map_err(|e| bad(e.to_string()))?;
            let v = a.normalized_value(quick_xml::XmlVersion::Implicit1_0).map_err(|e| bad(e.to_string()))?;
            node.attrs.push((a.key.local_name().as_ref().to_owned(), v.into_owned()));
        }
        Ok(node)
    };
    loop {
        match reader.read_event().map_err(|e| bad(e.to_string()))? {
            Event::Start(e) => {
                if stack.len() > 64 {
                    return Err(bad("nested too deeply".into()));
                }
                stack.push(open(&e)?);
            }
            Event::Empty(e) => {
                let node = open(&e)?;
                if let Some(top) = stack.last_mut() {
                    top.children.push(node);
                }
            }
            Event::End(_) => {
                let node = stack.pop().ok_or_else(|| bad("unbalanced tags".into()))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None => return Err(bad("unbalanced tags".into())),
                }
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t.xml10_content());
                }
            }
            Event::CData(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(r) => {
                let c = match r.resolve_char_ref().map_err(|e| bad(e.to_string()))? {
                    Some(c) => c,
                    None => match &*r.xml10_content() {
                        "lt" => '<',
                        "gt" => '>',
                        "amp" => '&',
                        "apos" => '\'',
                        "quot" => '"',
                        other => return Err(bad(format!("unknown entity &{other};"))),
                    },
                };
                if let Some(top) = stack.last_mut() {
                    top.text.push(c);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let mut doc = stack.pop().ok_or_else(|| bad("empty document".into()))?;
    if !stack.is_empty() {
        return Err(bad("unclosed tags".into()));
    }
    doc.children.pop().ok_or_else(|| bad("no root element".into()))
}

/// A topic read from a BCF archive.
#[derive(Debug)]
pub struct ImportedTopic {
    pub guid: String,
    pub title: String,
    pub description: Option<String>,
    pub viewpoint: Option<Viewpoint>,
    /// `(guid, author, text)` of each BCF comment.
    pub comments: Vec<(String, String, String)>,
}

/// Keeps text printable and within the comment limit.
pub fn clean(text: &str) -> String {
    let t: String = text.chars().filter(|c| !c.is_control() || *c == '\n' || *c == '\t').collect();
    t.trim().chars().take(MAX_BODY).collect()
}

fn read_entry(archive: &mut zip::ZipArchive<std::io::Cursor<&[u8]>>, name: &str) -> Result<Option<String>> {
    let Ok(file) = archive.by_name(name) else { return Ok(None) };
    let mut text = String::new();
    file.take(MAX_ENTRY_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| ConsultationError::Invalid(format!("cannot read {name} in the BCF archive: {e}")))?;
    if text.len() as u64 > MAX_ENTRY_BYTES {
        return Err(ConsultationError::Invalid(format!("{name} in the BCF archive is larger than {MAX_ENTRY_BYTES} bytes")));
    }
    Ok(Some(text))
}

fn read_viewpoint(root: &Node) -> Option<Viewpoint> {
    let elements: Vec<String> = root
        .child("Components")
        .and_then(|c| c.child("Selection"))
        .map(|s| s.children_named("Component").filter_map(|c| c.attr("IfcGuid").map(str::to_owned)).take(200).collect())
        .unwrap_or_default();
    let cam = root.child("PerspectiveCamera")?;
    let fov = cam.text_of("FieldOfView").and_then(|t| t.parse().ok()).unwrap_or(60.0);
    let aspect = cam.text_of("AspectRatio").and_then(|t| t.parse().ok()).unwrap_or(16.0 / 9.0);
    let v = Viewpoint {
        camera: cam.point("CameraViewPoint")?,
        direction: cam.point("CameraDirection")?,
        up: cam.point("CameraUpVector")?,
        field_of_view: fov,
        aspect_ratio: aspect,
        elements,
    };
    v.check().is_ok().then_some(v)
}

/// Reads the topics of a BCF 2.1 or 3.0 archive.
pub fn import(bytes: &[u8]) -> Result<Vec<ImportedTopic>> {
    if bytes.len() > MAX_ARCHIVE_BYTES {
        return Err(ConsultationError::Invalid(format!("the BCF archive is larger than {MAX_ARCHIVE_BYTES} bytes")));
    }
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| ConsultationError::Invalid(format!("not a BCF (zip) archive: {e}")))?;
    let markups: Vec<String> = archive.file_names().filter_map(|n| n.ok()).filter(|n| n.ends_with("/markup.bcf")).map(|n| n.into_owned()).collect();
    if markups.len() > MAX_TOPICS {
        return Err(ConsultationError::Invalid(format!("the archive has {} topics; at most {MAX_TOPICS} are imported at once", markups.len())));
    }
    let mut topics = Vec::new();
    for name in markups {
        let folder = name.trim_end_matches("markup.bcf");
        let Some(text) = read_entry(&mut archive, &name)? else { continue };
        let markup = parse_xml(&text)?;
        let Some(topic) = markup.child("Topic") else { continue };
        let Some(guid) = topic.attr("Guid").filter(|g| is_guid(g)).map(str::to_owned) else { continue };
        // BCF 3.0 nests comments and viewpoints in the topic; 2.x puts them beside it.
        let comment_nodes: Vec<&Node> = match topic.child("Comments") {
            Some(c) => c.children_named("Comment").collect(),
            None => markup.children_named("Comment").collect(),
        };
        let vp_nodes: Vec<&Node> = match topic.child("Viewpoints") {
            Some(v) => v.children_named("ViewPoint").collect(),
            None => markup.children_named("Viewpoints").collect(),
        };
        let mut viewpoint = None;
        for vp in vp_nodes {
            let Some(file) = vp.text_of("Viewpoint") else { continue };
            if file.contains("..") || file.contains('/') {
                continue;
            }
            if let Some(text) = read_entry(&mut archive, &format!("{folder}{file}"))?
                && let Some(v) = read_viewpoint(&parse_xml(&text)?)
            {
                viewpoint = Some(v);
                break;
            }
        }
        let comments = comment_nodes
            .iter()
            .filter_map(|c| {
                let guid = c.attr("Guid").filter(|g| is_guid(g))?.to_owned();
                let text = clean(&c.text_of("Comment").unwrap_or_default());
                (!text.is_empty()).then(|| (guid, clean(&c.text_of("Author").unwrap_or_default()), text))
            })
            .take(500)
            .collect();
        topics.push(ImportedTopic {
            title: clean(&topic.text_of("Title").unwrap_or_default()),
            description: topic.text_of("Description").map(|d| clean(&d)).filter(|d| !d.is_empty()),
            guid,
            viewpoint,
            comments,
        });
    }
    Ok(topics)
}

/// The GUID an export gives the BCF comment that carries a thread's first comment, so an
/// import of our own export does not duplicate it.
pub fn body_guid(topic: &str) -> String {
    derived_guid(&format!("body:{topic}"))
}

/// Stores imported `topics` as comment threads by account `by`: a topic becomes a comment
/// (its title and description), its comments replies; topics and comments already imported
/// (same BCF GUID) are skipped. Returns (topics created, replies created, topics skipped).
pub fn store_topics(conn: &mut rusqlite::Connection, by: i64, topics: Vec<ImportedTopic>) -> Result<(usize, usize, usize)> {
    use rusqlite::OptionalExtension as _;
    fn imported(conn: &rusqlite::Connection, guid: &str) -> Result<Option<i64>> {
        Ok(conn.query_row("SELECT id FROM c_comments WHERE bcf_guid = ?1", [guid], |r| r.get(0)).optional()?)
    }
    let (mut created, mut replies, mut skipped) = (0, 0, 0);
    for t in topics {
        let root = match imported(conn, &t.guid)? {
            Some(id) => {
                skipped += 1;
                id
            }
            None => {
                let body = match &t.description {
                    Some(d) if !t.title.is_empty() && !d.starts_with(&t.title) => clean(&format!("{}\n\n{d}", t.title)),
                    Some(d) => d.clone(),
                    None => t.title.clone(),
                };
                let body = if body.is_empty() { "(imported topic)".to_owned() } else { body };
                let new = super::comments::NewComment { project: None, parent: None, body, element: None, point: None, viewpoint: t.viewpoint.clone() };
                created += 1;
                super::comments::create(conn, by, &new, Some(&t.guid))?.id
            }
        };
        for (guid, author, text) in t.comments {
            if guid == body_guid(&t.guid) || imported(conn, &guid)?.is_some() {
                continue;
            }
            let body = clean(&if author.is_empty() { text } else { format!("[{author}] {text}") });
            let new = super::comments::NewComment { project: None, parent: Some(root), body, element: None, point: None, viewpoint: None };
            super::comments::create(conn, by, &new, Some(&guid))?;
            replies += 1;
        }
    }
    Ok((created, replies, skipped))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guid::new_guid;

    #[test]
    fn guids_have_the_bcf_form() {
        let g = new_guid().expect("guid");
        assert!(is_guid(&g), "{g}");
        assert!(is_guid(&derived_guid("x")));
        assert_eq!(derived_guid("x"), derived_guid("x"));
        assert!(!is_guid("../../etc/passwd"));
    }

    #[test]
    fn xml_parsing_resolves_entities_and_keeps_structure() {
        let n = parse_xml("<?xml version=\"1.0\"?><a x=\"1&amp;2\"><b>&lt;script&gt; &#x4e2d;</b><c/></a>").expect("parses");
        assert_eq!(n.name, "a");
        assert_eq!(n.attr("x"), Some("1&2"));
        assert_eq!(n.child("b").map(|b| b.text.as_str()), Some("<script> 中"));
        assert!(n.child("c").is_some());
        assert!(parse_xml("<a><b></a>").is_err());
    }
}
