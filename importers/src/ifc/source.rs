//! The STEP container: header checks (schema, end marker), one scan over every record, the
//! entity index, and the reasons a file cannot be read at all.

use std::sync::Arc;

use ifc_lite_core::{EntityDecoder, EntityIndex, EntityScanner, SchemaVersion};

use super::diagnostic;
use crate::{Diagnostic, DiagnosticKind, Severity};

/// What the header declares.
#[derive(Debug, Clone)]
pub(crate) struct Header {
    /// The first `FILE_SCHEMA` identifier, as written (`IFC4X3_ADD2`).
    pub(crate) schema_label: String,
    /// The schema family ifc-lite reads it with.
    pub(crate) version: SchemaVersion,
}

/// One `#id=KEYWORD(...);` record of the DATA section.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Record<'a> {
    /// Instance id.
    pub(crate) id: u32,
    /// Entity keyword as written (normally upper case).
    pub(crate) keyword: &'a str,
}

/// Every record of the file, indexed.
#[derive(Debug)]
pub(crate) struct Scanned<'a> {
    /// Records in file order.
    pub(crate) records: Vec<Record<'a>>,
    /// `#id` → byte span, shared with every decoder.
    pub(crate) index: Arc<EntityIndex>,
    /// Problems found while scanning (malformed or duplicate records).
    pub(crate) diagnostics: Vec<Diagnostic>,
}

impl<'a> Scanned<'a> {
    /// A decoder over `bytes` (the very bytes that were scanned) sharing the index.
    pub(crate) fn decoder(&self, bytes: &'a [u8]) -> EntityDecoder<'a> {
        EntityDecoder::with_arc_index(bytes, Arc::clone(&self.index))
    }

    /// Whether `#id` exists in the file.
    pub(crate) fn contains(&self, id: u32) -> bool {
        self.index.contains_key(&id)
    }
}

/// The marker every STEP file starts with.
const MAGIC: &[u8] = b"ISO-10303-21";
/// The marker every complete STEP file ends with.
const END_MARKER: &[u8] = b"END-ISO-10303-21;";

/// Whether `head` starts like a STEP physical file (after an optional BOM and whitespace).
pub(crate) fn starts_like_step(head: &[u8]) -> bool {
    let head = head
        .strip_prefix(b"\xef\xbb\xbf".as_slice())
        .unwrap_or(head);
    let start = head
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(head.len());
    head[start..].starts_with(MAGIC)
}

/// Checks the header and returns the declared schema, or why the file is not IFC.
pub(crate) fn read_header(bytes: &[u8]) -> Result<Header, String> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err("the file is empty".to_owned());
    }
    if !starts_like_step(&bytes[..bytes.len().min(1024)]) {
        return Err("line 1 does not start with ISO-10303-21 (not a STEP/IFC file)".to_owned());
    }
    let Some(label) = ifc_lite_core::declared_schema_bounded(bytes) else {
        return Err("the header declares no FILE_SCHEMA".to_owned());
    };
    let label = label.trim().to_owned();
    let Some(version) = SchemaVersion::from_file_schema(&label) else {
        return Err(format!(
            "unknown schema '{label}' in FILE_SCHEMA (supported: IFC2X3, IFC4, IFC4X1, IFC4X2, IFC4X3 and their addenda or candidates)"
        ));
    };
    Ok(Header {
        schema_label: label,
        version,
    })
}

/// Scans every record once; refuses truncated files and files without instances.
pub(crate) fn scan(bytes: &[u8]) -> Result<Scanned<'_>, String> {
    let mut scanner = EntityScanner::new(bytes);
    let mut records = Vec::with_capacity(bytes.len() / 60);
    let mut index = EntityIndex::with_capacity_and_hasher(bytes.len() / 60, Default::default());
    let mut diagnostics = Vec::new();
    let mut last_end = 0;
    let mut stray = StrayBytes::default();
    while let Some((id, keyword, start, end)) = scanner.next_entity() {
        if last_end > 0 {
            stray.add(bytes, last_end, start);
        }
        // The first record of an id is kept: the record list (which gives each id its keyword)
        // and the index (which the decoder reads) must agree, or a decoder would read one
        // entity as another's class.
        match index.entry(id) {
            std::collections::hash_map::Entry::Occupied(_) => diagnostics.push(diagnostic(
                Severity::Warning,
                DiagnosticKind::MalformedRecord,
                Some(id),
                None,
                format!(
                    "#{id} is defined twice (again on line {}); the first record is used",
                    line_of(bytes, start)
                ),
            )),
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert((start, end));
                records.push(Record { id, keyword });
            }
        }
        last_end = end;
    }
    for &start in scanner.malformed_record_starts() {
        diagnostics.push(diagnostic(
            Severity::Warning,
            DiagnosticKind::MalformedRecord,
            None,
            None,
            format!(
                "the record on line {} is malformed (no terminating ';') and was skipped",
                line_of(bytes, start)
            ),
        ));
    }
    if last_end > 0
        && let Some(data_end) = find_last(bytes, b"ENDSEC")
        && data_end > last_end
    {
        stray.add(bytes, last_end, data_end);
    }
    if let Some(first) = stray.first {
        diagnostics.push(diagnostic(
            Severity::Warning,
            DiagnosticKind::MalformedRecord,
            None,
            None,
            format!(
                "{} bytes between records are not part of any record and were skipped (the first on line {})",
                stray.count,
                line_of(bytes, first)
            ),
        ));
    }
    let oversized = scanner.skipped_oversized_ids();
    if oversized > 0 {
        diagnostics.push(diagnostic(
            Severity::Warning,
            DiagnosticKind::MalformedRecord,
            None,
            None,
            format!("{oversized} records with an instance id wider than 32 bits were skipped"),
        ));
    }

    if !ends_with_end_marker(bytes) {
        let lines = line_of(bytes, bytes.len());
        let last = match records.last() {
            Some(r) => format!(
                "; the last complete record is #{} ending on line {}",
                r.id,
                line_of(bytes, last_end)
            ),
            None => String::new(),
        };
        return Err(format!(
            "the file is truncated: line {lines} is the end and there is no END-ISO-10303-21{last}"
        ));
    }
    if records.is_empty() {
        return Err("the DATA section holds no entity instances".to_owned());
    }
    Ok(Scanned {
        records,
        index: Arc::new(index),
        diagnostics,
    })
}

/// Non-blank bytes outside comments found between records (text the scanner skipped).
#[derive(Debug, Default)]
struct StrayBytes {
    count: usize,
    first: Option<usize>,
}

impl StrayBytes {
    /// Counts the stray bytes of `bytes[from..to]`.
    fn add(&mut self, bytes: &[u8], from: usize, to: usize) {
        let gap = &bytes[from.min(bytes.len())..to.min(bytes.len())];
        let mut i = 0;
        while i < gap.len() {
            if gap[i..].starts_with(b"/*") {
                i = gap[i + 2..]
                    .windows(2)
                    .position(|w| w == b"*/")
                    .map_or(gap.len(), |p| i + 2 + p + 2);
                continue;
            }
            if !gap[i].is_ascii_whitespace() {
                self.count += 1;
                self.first.get_or_insert(from + i);
            }
            i += 1;
        }
    }
}

/// Offset of the last occurrence of `needle`.
fn find_last(bytes: &[u8], needle: &[u8]) -> Option<usize> {
    bytes.windows(needle.len()).rposition(|w| w == needle)
}

/// Whether the file's last non-blank bytes are `END-ISO-10303-21;`.
fn ends_with_end_marker(bytes: &[u8]) -> bool {
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |p| p + 1);
    let tail = &bytes[..end];
    tail.len() >= END_MARKER.len()
        && tail[tail.len() - END_MARKER.len()..].eq_ignore_ascii_case(END_MARKER)
}

/// 1-based line number of byte `offset` (LF or lone CR line ends).
pub(crate) fn line_of(bytes: &[u8], offset: usize) -> usize {
    let upto = &bytes[..offset.min(bytes.len())];
    let lf = upto.iter().filter(|&&b| b == b'\n').count();
    if lf > 0 {
        return lf + 1;
    }
    upto.iter().filter(|&&b| b == b'\r').count() + 1
}
