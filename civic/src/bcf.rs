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
/// Largest entry of an archive after decompression.
pub const MAX_ENTRY_BYTES: u64 = 1024 * 1024;
/// Most bytes one import decompresses, all entries together.
pub const MAX_UNPACKED_BYTES: u64 = 16 * 1024 * 1024;
/// Most entries an archive's directory may list.
pub const MAX_ENTRIES: usize = 4000;
/// Most topics one import reads.
pub const MAX_TOPICS: usize = 200;
/// Most BCF comments one import reads, all topics together.
pub const MAX_COMMENTS: usize = 1000;
/// Longest one import may spend reading its archive (in its worker thread).
pub const MAX_READ_TIME: std::time::Duration = std::time::Duration::from_secs(10);
/// Records (topics and replies) stored per transaction, so an import holds the store for a
/// few milliseconds at a time.
pub const IMPORT_CHUNK: usize = 64;

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

/// Reads entries of one archive within the import's budgets: bytes after decompression, entries
/// read and time spent. Each entry is decompressed at most once: what a viewpoint file yields
/// (a camera or nothing) is remembered for every further reference to it.
struct Reader<'a> {
    archive: zip::ZipArchive<std::io::Cursor<&'a [u8]>>,
    unpacked: u64,
    entries: usize,
    started: std::time::Instant,
    viewpoints: std::collections::HashMap<String, Option<Viewpoint>>,
}

impl Reader<'_> {
    fn over_time(&self) -> Result<()> {
        if self.started.elapsed() > MAX_READ_TIME {
            return Err(ConsultationError::TooLarge(format!(
                "reading the BCF archive took longer than {} s (MAX_READ_TIME per import)",
                MAX_READ_TIME.as_secs()
            )));
        }
        Ok(())
    }

    fn entry(&mut self, name: &str) -> Result<Option<String>> {
        self.over_time()?;
        let Ok(file) = self.archive.by_name(name) else { return Ok(None) };
        self.entries += 1;
        let room = (MAX_UNPACKED_BYTES - self.unpacked).min(MAX_ENTRY_BYTES);
        let mut text = String::new();
        file.take(room + 1)
            .read_to_string(&mut text)
            .map_err(|e| ConsultationError::Invalid(format!("cannot read {name} in the BCF archive: {e}")))?;
        if text.len() as u64 > MAX_ENTRY_BYTES {
            return Err(ConsultationError::TooLarge(format!("{name} in the BCF archive is larger than {MAX_ENTRY_BYTES} bytes (per entry)")));
        }
        if text.len() as u64 > room {
            return Err(ConsultationError::TooLarge(format!(
                "the BCF archive unpacks to more than {MAX_UNPACKED_BYTES} bytes (MAX_UNPACKED_BYTES per import)"
            )));
        }
        self.unpacked += text.len() as u64;
        Ok(Some(text))
    }

    /// The camera of viewpoint file `path`, read and parsed once however often it is referenced.
    fn viewpoint(&mut self, path: &str) -> Result<Option<Viewpoint>> {
        if let Some(known) = self.viewpoints.get(path) {
            return Ok(known.clone());
        }
        let v = match self.entry(path)? {
            Some(text) => read_viewpoint(&parse_xml(&text)?),
            None => None,
        };
        self.viewpoints.insert(path.to_owned(), v.clone());
        Ok(v)
    }
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

/// What reading an archive cost: entries decompressed and bytes after decompression.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadCost {
    /// Entries decompressed (each at most once).
    pub entries: usize,
    /// Bytes after decompression.
    pub unpacked_bytes: u64,
}

/// Reads the topics of a BCF 2.1 or 3.0 archive.
pub fn import(bytes: &[u8]) -> Result<Vec<ImportedTopic>> {
    import_counted(bytes).map(|(topics, _)| topics)
}

fn too_large(what: String) -> ConsultationError {
    ConsultationError::TooLarge(what)
}

/// Reads the topics of a BCF 2.1 or 3.0 archive within the per-import limits
/// ([`MAX_ARCHIVE_BYTES`], [`MAX_ENTRIES`], [`MAX_TOPICS`], [`MAX_COMMENTS`],
/// [`MAX_UNPACKED_BYTES`], [`MAX_READ_TIME`]; past one the archive is refused whole,
/// [`ConsultationError::TooLarge`] naming the limit), and what reading it cost.
pub fn import_counted(bytes: &[u8]) -> Result<(Vec<ImportedTopic>, ReadCost)> {
    if bytes.len() > MAX_ARCHIVE_BYTES {
        return Err(too_large(format!("the BCF archive is larger than {MAX_ARCHIVE_BYTES} bytes (MAX_ARCHIVE_BYTES)")));
    }
    let archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| ConsultationError::Invalid(format!("not a BCF (zip) archive: {e}")))?;
    if archive.len() > MAX_ENTRIES {
        return Err(too_large(format!("the BCF archive has {} entries; at most {MAX_ENTRIES} (MAX_ENTRIES per import)", archive.len())));
    }
    let mut markups: Vec<String> =
        archive.file_names().filter_map(|n| n.ok()).filter(|n| n.ends_with("/markup.bcf")).map(|n| n.into_owned()).collect();
    markups.sort();
    markups.dedup();
    if markups.len() > MAX_TOPICS {
        return Err(too_large(format!("the BCF archive has {} topics; at most {MAX_TOPICS} (MAX_TOPICS per import)", markups.len())));
    }
    let mut reader = Reader {
        archive,
        unpacked: 0,
        entries: 0,
        started: std::time::Instant::now(),
        viewpoints: std::collections::HashMap::new(),
    };
    let mut topics = Vec::new();
    let mut comment_count = 0usize;
    for name in markups {
        let folder = name.trim_end_matches("markup.bcf");
        let Some(text) = reader.entry(&name)? else { continue };
        let markup = parse_xml(&text)?;
        let Some(topic) = markup.child("Topic") else { continue };
        let Some(guid) = topic.attr("Guid").filter(|g| is_guid(g)).map(str::to_owned) else { continue };
        // BCF 3.0 nests comments and viewpoints in the topic; 2.x puts them beside it.
        let comment_nodes: Vec<&Node> = match topic.child("Comments") {
            Some(c) => c.children_named("Comment").collect(),
            None => markup.children_named("Comment").collect(),
        };
        comment_count += comment_nodes.len();
        if comment_count > MAX_COMMENTS {
            return Err(too_large(format!("the BCF archive has more than {MAX_COMMENTS} comments (MAX_COMMENTS per import)")));
        }
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
            if let Some(v) = reader.viewpoint(&format!("{folder}{file}"))? {
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
            .collect();
        topics.push(ImportedTopic {
            title: clean(&topic.text_of("Title").unwrap_or_default()),
            description: topic.text_of("Description").map(|d| clean(&d)).filter(|d| !d.is_empty()),
            guid,
            viewpoint,
            comments,
        });
    }
    reader.over_time()?;
    Ok((topics, ReadCost { entries: reader.entries, unpacked_bytes: reader.unpacked }))
}

/// The GUID an export gives the BCF comment that carries a thread's first comment, so an
/// import of our own export does not duplicate it.
pub fn body_guid(topic: &str) -> String {
    derived_guid(&format!("body:{topic}"))
}

/// Stores imported topics as comment threads by account `by`, a few rows at a time: a topic
/// becomes a comment (its title and description), its comments replies; topics and comments
/// already imported (same BCF GUID) are skipped. Each [`Importer::step`] writes at most
/// [`IMPORT_CHUNK`] records in one transaction, so the caller releases the store between steps
/// and other requests do not wait for the whole archive. An import stopped by an error keeps
/// the steps already committed; importing the archive again completes it (GUIDs skip the rest).
#[derive(Debug)]
pub struct Importer {
    by: i64,
    topics: Vec<ImportedTopic>,
    /// Next topic, and next comment of that topic.
    at: (usize, usize),
    /// The stored comment of the current topic, once known.
    root: Option<i64>,
    /// Topics created.
    pub created: usize,
    /// Replies created.
    pub replies: usize,
    /// Topics already present.
    pub skipped: usize,
}

fn imported(conn: &renewtwin_store::db::Connection, guid: &str) -> Result<Option<i64>> {
    use renewtwin_store::db::OptionalExtension as _;
    Ok(conn.query_row("SELECT id FROM c_comments WHERE bcf_guid = ?1", [guid], |r| r.get(0)).optional()?)
}

fn insert_comment(conn: &renewtwin_store::db::Connection, by: i64, parent: Option<i64>, body: &str, viewpoint: Option<&Viewpoint>, guid: &str) -> Result<i64> {
    conn.execute(
        "INSERT INTO c_comments (project, parent_id, author_id, body, element, point, viewpoint, created_at, bcf_guid)
         VALUES (NULL, ?1, ?2, ?3, NULL, NULL, ?4, ?5, ?6)",
        (parent, by, body, viewpoint.map(|v| serde_json::json!(v).to_string()), super::now(), guid),
    )?;
    Ok(conn.last_insert_rowid()?)
}

impl Importer {
    /// An import of `topics` by account `by`.
    pub fn new(by: i64, topics: Vec<ImportedTopic>) -> Self {
        Self { by, topics, at: (0, 0), root: None, created: 0, replies: 0, skipped: 0 }
    }

    /// Whether every topic has been stored.
    pub fn done(&self) -> bool {
        self.at.0 >= self.topics.len()
    }

    /// Stores up to `max` records (topics and replies, stored or skipped) in one transaction;
    /// returns how many it handled.
    pub fn step(&mut self, conn: &mut renewtwin_store::db::Connection, max: usize) -> Result<usize> {
        let tx = conn.transaction()?;
        let mut handled = 0;
        while handled < max.max(1) && !self.done() {
            let t = &self.topics[self.at.0];
            let Some(root) = self.root else {
                let root = match imported(&tx, &t.guid)? {
                    Some(id) => {
                        self.skipped += 1;
                        id
                    }
                    None => {
                        let body = match &t.description {
                            Some(d) if !t.title.is_empty() && !d.starts_with(&t.title) => clean(&format!("{}\n\n{d}", t.title)),
                            Some(d) => d.clone(),
                            None => t.title.clone(),
                        };
                        let body = if body.is_empty() { "(imported topic)".to_owned() } else { body };
                        self.created += 1;
                        insert_comment(&tx, self.by, None, &body, t.viewpoint.as_ref(), &t.guid)?
                    }
                };
                self.root = Some(root);
                handled += 1;
                continue;
            };
            let Some((guid, author, text)) = t.comments.get(self.at.1) else {
                self.at = (self.at.0 + 1, 0);
                self.root = None;
                continue;
            };
            self.at.1 += 1;
            handled += 1;
            if *guid == body_guid(&t.guid) || imported(&tx, guid)?.is_some() {
                continue;
            }
            let body = clean(&if author.is_empty() { text.clone() } else { format!("[{author}] {text}") });
            insert_comment(&tx, self.by, Some(root), &body, None, guid)?;
            self.replies += 1;
        }
        tx.commit()?;
        Ok(handled)
    }
}

/// Stores imported `topics` by account `by` in steps of [`IMPORT_CHUNK`] records on one
/// connection (see [`Importer`]). Returns (topics created, replies created, topics skipped).
pub fn store_topics(conn: &mut renewtwin_store::db::Connection, by: i64, topics: Vec<ImportedTopic>) -> Result<(usize, usize, usize)> {
    let mut importer = Importer::new(by, topics);
    while !importer.done() {
        importer.step(conn, IMPORT_CHUNK)?;
    }
    Ok((importer.created, importer.replies, importer.skipped))
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

    /// A BCF 3.0 archive of `topics` topics, each with `comments` comments and `refs` references
    /// to one shared `viewpoint` file per topic folder.
    fn archive(topics: usize, comments: usize, refs: usize, viewpoint: &str) -> Vec<u8> {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let o = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for t in 0..topics {
            let guid = derived_guid(&format!("topic {t}"));
            let mut m = format!("<Markup><Topic Guid=\"{guid}\"><Title>topic {t}</Title><Comments>");
            for c in 0..comments {
                m.push_str(&format!("<Comment Guid=\"{}\"><Comment>c {c}</Comment></Comment>", derived_guid(&format!("c {t} {c}"))));
            }
            m.push_str("</Comments><Viewpoints>");
            for r in 0..refs {
                m.push_str(&format!("<ViewPoint Guid=\"{}\"><Viewpoint>v.bcfv</Viewpoint></ViewPoint>", derived_guid(&format!("v {t} {r}"))));
            }
            m.push_str("</Viewpoints></Topic></Markup>");
            zip.start_file(format!("{guid}/markup.bcf"), o).expect("entry");
            zip.write_all(m.as_bytes()).expect("write");
            if refs > 0 {
                zip.start_file(format!("{guid}/v.bcfv"), o).expect("entry");
                zip.write_all(viewpoint.as_bytes()).expect("write");
            }
        }
        zip.finish().expect("zip").into_inner()
    }

    #[test]
    fn a_viewpoint_without_a_camera_is_decompressed_once_however_often_it_is_referenced() {
        // Valid XML that yields no camera, padded to 512 KiB (it compresses to almost nothing);
        // referenced 400 times. Before, each reference decompressed and parsed it again.
        let pad = "<Pad/>".repeat(512 * 1024 / 6);
        let bad = format!("<VisualizationInfo><Components>{pad}</Components></VisualizationInfo>");
        let bytes = archive(1, 1, 400, &bad);
        let (topics, cost) = import_counted(&bytes).expect("imports");
        assert_eq!(topics.len(), 1);
        assert!(topics[0].viewpoint.is_none());
        assert_eq!(cost.entries, 2, "the markup and the viewpoint, once each");
        assert!(cost.unpacked_bytes < 600 * 1024, "{cost:?}");
    }

    #[test]
    fn an_archive_past_a_limit_is_refused_whole_naming_the_limit() {
        let comments = archive(3, MAX_COMMENTS / 3 + 1, 0, "");
        let e = import(&comments).expect_err("too many comments");
        assert!(matches!(e, ConsultationError::TooLarge(_)) && e.to_string().contains("MAX_COMMENTS"), "{e}");
        let topics = archive(MAX_TOPICS + 1, 0, 0, "");
        let e = import(&topics).expect_err("too many topics");
        assert!(matches!(e, ConsultationError::TooLarge(_)) && e.to_string().contains("MAX_TOPICS"), "{e}");
        // Twenty viewpoints of 1 MiB each (a few KiB compressed): over the unpacked budget.
        // The padding is one comment, cheap to parse even unoptimised on a loaded machine, so the
        // unpacked budget, not MAX_READ_TIME, is what refuses it.
        let pad = "x".repeat(MAX_ENTRY_BYTES as usize - 100);
        let big = format!("<VisualizationInfo><!--{pad}--></VisualizationInfo>");
        let bomb = archive(20, 0, 1, &big);
        assert!(bomb.len() < MAX_ARCHIVE_BYTES / 10, "the archive itself is small: {}", bomb.len());
        let e = import(&bomb).expect_err("unpacks too much");
        assert!(matches!(e, ConsultationError::TooLarge(_)) && e.to_string().contains("MAX_UNPACKED_BYTES"), "{e}");
    }

    #[test]
    fn an_import_stores_a_bounded_number_of_rows_per_transaction_and_completes() {
        let store = renewtwin_store::Store::in_memory(&[crate::MIGRATIONS]).expect("store");
        let mut conn = store.lock().expect("lock");
        conn.execute(
            "INSERT INTO c_accounts (username, password_hash, role, display_name, created_at) VALUES ('p', 'x', 'professional', 'P', 0)",
            [],
        )
        .expect("account");
        let by = conn.last_insert_rowid().expect("rowid");
        let topics = import(&archive(4, 100, 0, "")).expect("imports");
        let count = |c: &renewtwin_store::db::Connection| -> i64 { c.query_row("SELECT COUNT(*) FROM c_comments", [], |r| r.get(0)).expect("count") };
        let mut importer = Importer::new(by, topics);
        let mut steps = 0;
        while !importer.done() {
            let before = count(&conn);
            let handled = importer.step(&mut conn, IMPORT_CHUNK).expect("step");
            assert!(handled <= IMPORT_CHUNK && count(&conn) - before <= IMPORT_CHUNK as i64);
            steps += 1;
        }
        assert_eq!(count(&conn), 404);
        assert_eq!((importer.created, importer.replies, importer.skipped), (4, 400, 0));
        assert!(steps >= 404 / IMPORT_CHUNK, "{steps} steps");
        // Again: every topic is skipped, nothing is added.
        let again = store_topics(&mut conn, by, import(&archive(4, 100, 0, "")).expect("imports")).expect("stores");
        assert_eq!(again, (0, 0, 4));
        assert_eq!(count(&conn), 404);
    }
}
