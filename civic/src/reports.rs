//! Problem reports: a resident reports a problem with a location (an element or a point), a
//! category and an optional photo (type, size and pixel count checked from its header, then
//! decoded and re-encoded so no metadata such as EXIF GPS survives); government and professionals answer
//! it and move it through `open → acknowledged → in_progress → resolved → closed` (or
//! `rejected`), each step with a message, until it is closed.

use base64::Engine as _;
use image::{ImageDecoder as _, ImageFormat};
use renewtwin_store::db::OptionalExtension as _;
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

/// Decodes and checks a photo: JPEG, PNG or WebP, the bytes agreeing with the declared type,
/// at most [`MAX_PHOTO_PIXELS`] pixels (read from the header before anything is decoded, and
/// bounded again by the decoder's allocation limit), then re-encodes the decoded pixels: what is
/// stored carries no byte of the upload but its pixels, so EXIF (GPS, camera serial), XMP, text
/// chunks and anything hidden after the image are gone by construction. The EXIF orientation is
/// applied to the pixels first, so a phone's portrait photo stays upright. PNG stays PNG
/// (lossless); JPEG and WebP become JPEG at quality [`PHOTO_JPEG_QUALITY`].
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
    let (sniffed, format) = if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        ("image/jpeg", ImageFormat::Jpeg)
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        ("image/png", ImageFormat::Png)
    } else if bytes.len() > 12 && bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(b"WEBP") {
        ("image/webp", ImageFormat::WebP)
    } else {
        return Err(ConsultationError::Invalid("the photo must be a JPEG, PNG or WebP image".into()));
    };
    if p.content_type != sniffed {
        return Err(ConsultationError::Invalid(format!("the photo is declared {:?} but its bytes are {sniffed}", p.content_type)));
    }
    let bad = |e: image::ImageError| match e {
        image::ImageError::Limits(_) => ConsultationError::TooLarge(format!("the photo needs more memory to decode than {MAX_PHOTO_PIXELS} pixels (MAX_PHOTO_PIXELS) allow")),
        e => ConsultationError::Invalid(format!("the photo is not a readable {sniffed}: {e}")),
    };
    let mut reader = image::ImageReader::with_format(std::io::Cursor::new(&bytes), format);
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(MAX_PHOTO_PIXELS * 4 + (16 << 20));
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(bad)?;
    let (w, h) = decoder.dimensions();
    if w == 0 || h == 0 || u64::from(w) * u64::from(h) > MAX_PHOTO_PIXELS {
        return Err(ConsultationError::TooLarge(format!("the photo is {w}×{h} pixels; at most {MAX_PHOTO_PIXELS} (MAX_PHOTO_PIXELS)")));
    }
    // A broken orientation tag is no reason to refuse the pixels: they are kept as stored.
    let orientation = decoder.orientation().unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut pixels = image::DynamicImage::from_decoder(decoder).map_err(bad)?;
    pixels.apply_orientation(orientation);
    let mut out = Vec::new();
    let encoded = match format {
        ImageFormat::Png => pixels.write_with_encoder(image::codecs::png::PngEncoder::new(&mut out)),
        _ => image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, PHOTO_JPEG_QUALITY).encode_image(&pixels.to_rgb8()),
    };
    encoded.map_err(|e| ConsultationError::Invalid(format!("the photo cannot be re-encoded: {e}")))?;
    Ok((out, if format == ImageFormat::Png { "image/png" } else { "image/jpeg" }))
}

/// Most pixels a photo may have (its header's width × height), checked before anyone decodes it
/// (40 MP: a phone's full-resolution photo; 160 MB of RGBA at most while it is re-encoded).
pub const MAX_PHOTO_PIXELS: u64 = 40_000_000;

/// The JPEG quality photos are re-encoded at (visually lossless for a report's photo).
pub const PHOTO_JPEG_QUALITY: u8 = 90;

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

fn row(r: &renewtwin_store::db::Row<'_>) -> renewtwin_store::db::Result<Report> {
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
    conn: &renewtwin_store::db::Connection,
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
    get(conn, conn.last_insert_rowid()?)
}

/// One report.
pub fn get(conn: &renewtwin_store::db::Connection, id: i64) -> Result<Report> {
    conn.query_row(&format!("{SELECT} WHERE r.id = ?1"), [id], row)
        .optional()?
        .ok_or_else(|| ConsultationError::NotFound(format!("no report {id}")))
}

/// Query of `GET /api/reports`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    /// Only reports in this status.
    pub status: Option<String>,
    /// Only reports with a larger id (paging).
    pub after: Option<i64>,
}

/// Reports, oldest first, optionally of one status; at most 500 after id `after`.
pub fn list(conn: &renewtwin_store::db::Connection, q: &ReportQuery) -> Result<Vec<Report>> {
    let (status, after) = (q.status.as_deref(), q.after.unwrap_or(0));
    let mut stmt = conn.prepare(&format!("{SELECT} WHERE (r.status = ?1 OR ?1 IS NULL) AND r.id > ?2 ORDER BY r.id LIMIT 500"))?;
    let rows = stmt.query_map((status, after), row)?;
    Ok(rows.collect::<renewtwin_store::db::Result<_>>()?)
}

/// Every report (exports).
pub fn all(conn: &renewtwin_store::db::Connection) -> Result<Vec<Report>> {
    let mut stmt = conn.prepare(&format!("{SELECT} ORDER BY r.id"))?;
    let rows = stmt.query_map([], row)?;
    Ok(rows.collect::<renewtwin_store::db::Result<_>>()?)
}

/// The handling steps of `report`, oldest first.
pub fn updates(conn: &renewtwin_store::db::Connection, report: i64) -> Result<Vec<ReportUpdate>> {
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
    Ok(rows.collect::<renewtwin_store::db::Result<_>>()?)
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
pub fn answer(conn: &mut renewtwin_store::db::Connection, by: i64, report: i64, u: &NewUpdate) -> Result<Report> {
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
pub fn photo(conn: &renewtwin_store::db::Connection, report: i64) -> Result<(i64, Vec<u8>, String)> {
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

    /// The CRC-32 of PNG chunks (ISO 3309, as the PNG specification's annex D computes it).
    fn crc32(bytes: &[u8]) -> u32 {
        let mut c = 0xFFFF_FFFFu32;
        for b in bytes {
            c ^= u32::from(*b);
            for _ in 0..8 {
                c = if c & 1 == 1 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
            }
        }
        !c
    }

    /// A PNG of these chunks, with their CRCs.
    fn png(chunks: &[(&[u8; 4], Vec<u8>)]) -> Vec<u8> {
        let mut b = b"\x89PNG\r\n\x1a\n".to_vec();
        for (kind, data) in chunks {
            b.extend_from_slice(&(data.len() as u32).to_be_bytes());
            b.extend_from_slice(*kind);
            b.extend_from_slice(data);
            b.extend_from_slice(&crc32(&[kind.as_slice(), data].concat()).to_be_bytes());
        }
        b
    }

    fn ihdr(w: u32, h: u32) -> Vec<u8> {
        [w.to_be_bytes().as_slice(), h.to_be_bytes().as_slice(), &[8, 2, 0, 0, 0]].concat()
    }

    /// A real 4×3 picture: a left red column, the rest grey.
    fn picture() -> image::RgbImage {
        image::RgbImage::from_fn(4, 3, |x, _| if x == 0 { image::Rgb([250, 0, 0]) } else { image::Rgb([90, 90, 90]) })
    }

    /// The picture as a PNG with an EXIF chunk (GPS position) and a text chunk (the author).
    fn tagged_png() -> Vec<u8> {
        let mut plain = Vec::new();
        image::DynamicImage::ImageRgb8(picture())
            .write_with_encoder(image::codecs::png::PngEncoder::new(&mut plain))
            .expect("encodes");
        // Insert the ancillary chunks after IHDR (8-byte signature + 25-byte IHDR chunk).
        let extra = png(&[(b"eXIf", b"MM\0*GPSLatitude 31.2304 N".to_vec()), (b"tEXt", b"Author\0Fang".to_vec())]);
        [&plain[..33], &extra[8..], &plain[33..]].concat()
    }

    /// The picture as a JPEG with an EXIF segment (GPS) and a comment, after JFIF.
    fn tagged_jpeg() -> Vec<u8> {
        let mut plain = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut plain, 95).encode_image(&picture()).expect("encodes");
        let mut app1 = vec![0xFF, 0xE1, 0, 18];
        app1.extend_from_slice(b"Exif\0\0GPSLat3123");
        let comment = [0xFF, 0xFE, 0, 6, b'h', b'o', b'm', b'e'];
        [&plain[..2], &app1, &comment, &plain[2..]].concat()
    }

    #[test]
    fn photos_are_limited_in_pixels_and_lose_their_metadata() {
        // The probe's PNG: a small file claiming 100000×100000 pixels, refused before decoding.
        let huge = png(&[(b"IHDR", ihdr(100_000, 100_000)), (b"IDAT", vec![0; 64]), (b"IEND", vec![])]);
        let e = check_photo(&upload("image/png", &huge)).expect_err("too many pixels");
        assert!(matches!(e, ConsultationError::TooLarge(_)) && e.to_string().contains("MAX_PHOTO_PIXELS"), "{e}");
        // EXIF and text chunks are gone; the pixels are the same (PNG is re-encoded losslessly).
        let tagged = tagged_png();
        assert!(tagged.windows(4).any(|w| w == b"GPSL"), "the upload carries a GPS tag");
        let (clean, kind) = check_photo(&upload("image/png", &tagged)).expect("accepted");
        assert_eq!(kind, "image/png");
        assert!(!clean.windows(4).any(|w| w == b"eXIf" || w == b"tEXt" || w == b"GPSL" || w == b"Fang"), "metadata dropped");
        let back = image::load_from_memory_with_format(&clean, ImageFormat::Png).expect("decodes").to_rgb8();
        assert_eq!(back, picture(), "pixels kept exactly");
        // A JPEG's EXIF (GPS) and comment are gone; it decodes to the same picture within JPEG's loss.
        let (clean, kind) = check_photo(&upload("image/jpeg", &tagged_jpeg())).expect("accepted");
        assert_eq!(kind, "image/jpeg");
        assert!(!clean.windows(3).any(|w| w == b"GPS" || w == b"hom" || w == b"Exi"), "EXIF and comment dropped");
        let back = image::load_from_memory_with_format(&clean, ImageFormat::Jpeg).expect("decodes").to_rgb8();
        assert_eq!(back.dimensions(), (4, 3));
        assert!(back.get_pixel(0, 1)[0] > 180 && back.get_pixel(3, 1)[0] < 140, "red column still on the left");
        // A JPEG frame of 65535×65535 is over the limit; a truncated one and junk after a valid
        // header are refused (only decodable pixels are stored).
        let mut big = tagged_jpeg();
        let sof = big.windows(2).position(|w| w == [0xFF, 0xC0]).expect("baseline frame");
        big[sof + 5..sof + 9].copy_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF]);
        assert!(check_photo(&upload("image/jpeg", &big)).is_err());
        assert!(check_photo(&upload("image/jpeg", &tagged_jpeg()[..40])).is_err());
        let hollow = png(&[(b"IHDR", ihdr(4, 3)), (b"IDAT", vec![7; 20]), (b"IEND", vec![])]);
        assert!(matches!(check_photo(&upload("image/png", &hollow)), Err(ConsultationError::Invalid(_))), "broken pixel data");
    }

    #[test]
    fn phone_photos_stay_upright() {
        // EXIF orientation 6 (rotate 90° clockwise to display): the 4×3 sensor picture is shown 3×4
        // with its red column on top. The stored photo carries the rotation in its pixels.
        let mut plain = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut plain, 95).encode_image(&picture()).expect("encodes");
        let mut exif = b"Exif\0\0MM\0*\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01\0\x06\0\0\0\0\0\0".to_vec();
        let len = u16::try_from(exif.len() + 2).expect("short");
        exif.splice(0..0, [0xFF, 0xE1, (len >> 8) as u8, len as u8]);
        let rotated = [&plain[..2], &exif, &plain[2..]].concat();
        let (clean, _) = check_photo(&upload("image/jpeg", &rotated)).expect("accepted");
        let back = image::load_from_memory_with_format(&clean, ImageFormat::Jpeg).expect("decodes").to_rgb8();
        assert_eq!(back.dimensions(), (3, 4), "rotated into its display orientation");
        assert!(back.get_pixel(1, 0)[0] > 180 && back.get_pixel(1, 3)[0] < 140, "red column now the top row");
    }

    #[test]
    fn photos_are_checked_by_their_bytes_and_size() {
        let png = tagged_png();
        let png = png.as_slice();
        assert!(check_photo(&upload("image/png", png)).is_ok());
        assert!(check_photo(&upload("image/jpeg", png)).is_err(), "declared type must match");
        assert!(check_photo(&upload("image/svg+xml", b"<svg onload=alert(1)>")).is_err(), "svg is refused");
        let big = [0xFFu8, 0xD8, 0xFF].iter().copied().chain(std::iter::repeat_n(0, MAX_PHOTO_BYTES)).collect::<Vec<_>>();
        assert!(check_photo(&upload("image/jpeg", &big)).is_err(), "too large");
        assert!(check_photo(&PhotoUpload { content_type: "image/png".into(), data: "%%%".into() }).is_err());
    }
}
