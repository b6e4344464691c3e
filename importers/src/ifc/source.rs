//! The STEP container: header checks (schema, end marker), one scan over every record, the
//! entity index, and the reasons a file cannot be read at all.

use std::sync::Arc;

use ifc_lite_core::{
    ColumnarEntityIndex, DenseEntityIndex, EntityDecoder, EntityIndex, EntityScanner, SchemaVersion,
};

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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Record {
    /// Instance id.
    pub(crate) id: u32,
    /// Its keyword: an index into [`Scanned::keywords`].
    pub(crate) keyword: u32,
}

/// Every record of the file, indexed.
#[derive(Debug)]
pub(crate) struct Scanned<'a> {
    /// Records in file order.
    pub(crate) records: Vec<Record>,
    /// Each distinct keyword once, as written (normally upper case; two spellings of one
    /// class are two entries), in order of first appearance.
    pub(crate) keywords: Vec<&'a str>,
    /// For each entry of `keywords`, the positions in `records` of its records, ascending
    /// (file order): a phase that wants a few classes visits only their records.
    pub(crate) by_keyword: Vec<Vec<u32>>,
    /// The largest instance id (0 for none).
    pub(crate) max_id: u32,
    /// `#id` → byte span, shared with every decoder.
    pub(crate) index: SpanIndex,
    /// Problems found while scanning (malformed or duplicate records).
    pub(crate) diagnostics: Vec<Diagnostic>,
    /// `(id, start, end)` of every `IfcRelVoidsElement` record in file order (duplicates
    /// included, as ifc-lite's own relation scan finds them), so the opening index needs no
    /// second scan of the file.
    pub(crate) void_spans: Vec<(u32, usize, usize)>,
    /// The same for `IfcRelAggregates` (openings propagate through aggregates).
    pub(crate) aggregate_spans: Vec<(u32, usize, usize)>,
}

impl<'a> Scanned<'a> {
    /// The keyword of `record`, as written.
    pub(crate) fn keyword(&self, record: Record) -> &'a str {
        self.keywords[record.keyword as usize]
    }

    /// The records whose keyword `wanted` accepts (asked once per distinct keyword), in file
    /// order.
    pub(crate) fn records_where(&self, mut wanted: impl FnMut(&str) -> bool) -> Vec<Record> {
        let lists: Vec<&[u32]> = self
            .keywords
            .iter()
            .zip(&self.by_keyword)
            .filter(|(keyword, _)| wanted(keyword))
            .map(|(_, list)| list.as_slice())
            .collect();
        let mut positions: Vec<u32> = match lists.as_slice() {
            [] => return Vec::new(),
            [one] => return one.iter().map(|&at| self.records[at as usize]).collect(),
            _ => lists.concat(),
        };
        // Several keywords (or spellings): back to file order.
        positions.sort_unstable();
        positions
            .into_iter()
            .map(|at| self.records[at as usize])
            .collect()
    }

    /// The records of `class` (an upper-case keyword, matched ignoring case), in file order.
    pub(crate) fn records_of(&self, class: &str) -> Vec<Record> {
        self.records_where(|keyword| keyword.eq_ignore_ascii_case(class))
    }

    /// A decoder over `bytes` (the very bytes that were scanned) sharing the index.
    pub(crate) fn decoder(&self, bytes: &'a [u8]) -> EntityDecoder<'a> {
        match &self.index {
            SpanIndex::Dense(index) => {
                let mut decoder = EntityDecoder::new(bytes);
                decoder.set_dense_index(Arc::clone(index));
                decoder
            }
            SpanIndex::Sorted(index) => {
                EntityDecoder::with_arc_columnar_index(bytes, Arc::clone(index))
            }
            SpanIndex::Hash(index) => EntityDecoder::with_arc_index(bytes, Arc::clone(index)),
        }
    }

    /// The byte span `[start, end)` of record `#id`.
    pub(crate) fn span(&self, id: u32) -> Option<(usize, usize)> {
        self.index.span(id)
    }

    /// Whether `#id` exists in the file.
    pub(crate) fn contains(&self, id: u32) -> bool {
        self.index.span(id).is_some()
    }
}

/// `#id` → byte span of its record. Ids of a STEP file are nearly always dense (numbered
/// from 1 by the writer), so the span sits in a table indexed by id (8 bytes a slot); sparse
/// ids get a sorted id column searched by bisection (12 bytes a record). Both need offsets
/// under 4 GiB; a larger file keeps ifc-lite's hash map (about 40 bytes a record).
///
/// ifc-lite takes the table only where it is no larger than the column, at 68 % of the ids
/// below the largest in use. Revit and ArchiCAD leave gaps: the four real files over 10 MB we
/// measure use 57-61 % of theirs, and every decoder lookup bisected a million ids (a Revit
/// window of 87,000 faces is several lookups a face). Down to [`MIN_TABLE_DENSITY`] the
/// table is built anyway, each unused id in it given [`ABSENT_START`]: a span past the end of
/// any file indexed this way, which ifc-lite reads as no record (`get_raw_bytes` is `None`,
/// `decode_by_id` an error, in its words an "invalid byte span" where it would say "not
/// found"), and which [`SpanIndex::span`] reports as absent.
#[derive(Clone)]
pub(crate) enum SpanIndex {
    /// Indexed by id.
    Dense(Arc<DenseEntityIndex>),
    /// Sorted by id.
    Sorted(Arc<ColumnarEntityIndex>),
    /// Hashed by id.
    Hash(Arc<EntityIndex>),
}

impl std::fmt::Debug for SpanIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Dense(_) => f.write_str("SpanIndex::Dense"),
            Self::Sorted(index) => write!(f, "SpanIndex::Sorted({} ids)", index.len()),
            Self::Hash(index) => write!(f, "SpanIndex::Hash({} ids)", index.len()),
        }
    }
}

/// Fewest ids in use, as a share of the slots up to the largest, for which the id table is
/// built with unused ids marked absent (at 25 %, 32 bytes of table a record, against 12 for
/// the column).
const MIN_TABLE_DENSITY: f64 = 0.25;

/// The start of an unused id's span in a table built below ifc-lite's break-even (see
/// [`SpanIndex`]); files indexed so are shorter than this.
const ABSENT_START: u32 = u32::MAX;

/// `message` (an ifc-lite error) with the span of an id marked absent in a padded table (see
/// [`SpanIndex`]) said as what it means: ifc-lite was sent to a record that does not exist.
pub(crate) fn absent_span_said_plainly(message: &str) -> std::borrow::Cow<'_, str> {
    let span = format!("invalid byte span ({ABSENT_START}, {ABSENT_START}) for content length ");
    let Some(at) = message.find(&span) else {
        return std::borrow::Cow::Borrowed(message);
    };
    let rest = &message[at + span.len()..];
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    std::borrow::Cow::Owned(format!(
        "{}a referenced record does not exist{}",
        &message[..at],
        &rest[digits..]
    ))
}

impl SpanIndex {
    /// The byte span `[start, end)` of record `#id`, `None` when there is no such record.
    pub(crate) fn span(&self, id: u32) -> Option<(usize, usize)> {
        match self {
            SpanIndex::Dense(index) => index
                .lookup(id)
                .filter(|&(start, _)| start != ABSENT_START as usize),
            SpanIndex::Sorted(index) => index.lookup(id),
            SpanIndex::Hash(index) => index.get(&id).copied(),
        }
    }

    /// The id table of `ids` (unique, any order; the largest below `slots`) with every unused
    /// id below the largest marked absent, when the ids in use are at least
    /// [`MIN_TABLE_DENSITY`] of the slots and the file is shorter than [`ABSENT_START`].
    fn padded_table(
        ids: &[u32],
        starts: &[u32],
        lengths: &[u32],
        slots: usize,
        file_len: usize,
    ) -> Option<DenseEntityIndex> {
        let dense_enough = ids.len() as f64 >= MIN_TABLE_DENSITY * slots as f64;
        if ids.is_empty() || file_len >= ABSENT_START as usize || !dense_enough {
            return None;
        }
        let (mut all_starts, mut all_lengths) = (vec![ABSENT_START; slots], vec![0u32; slots]);
        for ((&id, &start), &length) in ids.iter().zip(starts).zip(lengths) {
            all_starts[id as usize] = start;
            all_lengths[id as usize] = length;
        }
        let all_ids: Vec<u32> = (0..slots as u32).collect();
        DenseEntityIndex::try_from_columns(&all_ids, &all_starts, &all_lengths)
    }

    /// The index of `spans` (unique ids, any order) of a file of `file_len` bytes.
    fn build(spans: Spans, file_len: usize) -> Self {
        let (ids, starts, lengths) = match spans {
            Spans::Narrow(ids, starts, lengths) => (ids, starts, lengths),
            Spans::Wide(spans) => {
                return Self::Hash(Arc::new(
                    spans.into_iter().map(|(id, start, end)| (id, (start, end))).collect(),
                ));
            }
        };
        let ascending = ids.windows(2).all(|w| w[0] < w[1]);
        let largest = if ascending { ids.last() } else { ids.iter().max() };
        let slots = largest.map_or(0, |&id| id as usize + 1);
        // ifc-lite's own table refuses ids whose arrays (8 bytes a slot and a bit) would be
        // larger than the three columns (12 bytes an id): then the padded one, which needs no
        // order, so Revit's ids (out of file order) are not sorted first.
        let words = slots.div_ceil(64) as u64;
        if (slots as u64) * 8 + words * 8 > ids.len() as u64 * 12
            && let Some(padded) = Self::padded_table(&ids, &starts, &lengths, slots, file_len)
        {
            return Self::Dense(Arc::new(padded));
        }
        let (ids, starts, lengths) = if ascending {
            (ids, starts, lengths)
        } else {
            Self::by_id(ids, starts, lengths, slots)
        };
        if let Some(dense) = DenseEntityIndex::try_from_columns(&ids, &starts, &lengths) {
            return Self::Dense(Arc::new(dense));
        }
        // Its only error is columns of unequal length; these were filled together.
        #[allow(clippy::expect_used)]
        let sorted = ColumnarEntityIndex::from_owned_columns(ids, starts, lengths)
            .expect("the three columns have one entry per span");
        Self::Sorted(Arc::new(sorted))
    }

    /// The three columns (unique ids, any order, all below `slots`) in ascending id order. Ids
    /// in use on at least [`MIN_TABLE_DENSITY`] of the slots are put in place through a table
    /// of slots, in linear time (exporters may number records out of file order, as Revit
    /// does; sorting a million rows takes 40 ms on one core). Sparser ids are sorted.
    /// (Ids between [`MIN_TABLE_DENSITY`] and ifc-lite's break-even never come here: their
    /// padded table is filled in any order.)
    fn by_id(
        ids: Vec<u32>,
        starts: Vec<u32>,
        lengths: Vec<u32>,
        slots: usize,
    ) -> (Vec<u32>, Vec<u32>, Vec<u32>) {
        if ids.len() as f64 >= MIN_TABLE_DENSITY * slots as f64 {
            // Slot → the row of its id; `u32::MAX` for none (fewer than 2^32 rows, checked
            // by the scan).
            let mut row_of = vec![u32::MAX; slots];
            for (row, &id) in ids.iter().enumerate() {
                row_of[id as usize] = row as u32;
            }
            let mut sorted = (
                Vec::with_capacity(ids.len()),
                Vec::with_capacity(ids.len()),
                Vec::with_capacity(ids.len()),
            );
            for (id, &row) in row_of.iter().enumerate() {
                if row != u32::MAX {
                    sorted.0.push(id as u32);
                    sorted.1.push(starts[row as usize]);
                    sorted.2.push(lengths[row as usize]);
                }
            }
            return sorted;
        }
        let mut rows: Vec<(u32, u32, u32)> = ids
            .iter()
            .zip(&starts)
            .zip(&lengths)
            .map(|((&id, &start), &length)| (id, start, length))
            .collect();
        rows.sort_unstable_by_key(|&(id, _, _)| id);
        (
            rows.iter().map(|r| r.0).collect(),
            rows.iter().map(|r| r.1).collect(),
            rows.iter().map(|r| r.2).collect(),
        )
    }
}

/// Ids already seen while scanning: a bit per id up to the largest id when that is no more
/// than 64 bits a record, else a hash set.
enum SeenIds {
    Bits(Vec<u64>),
    Set(rustc_hash::FxHashSet<u32>),
}

impl SeenIds {
    fn new(max_id: u32, records: usize) -> Self {
        let words = (max_id as usize).div_ceil(64) + 1;
        if words <= records.max(1) {
            Self::Bits(vec![0; words])
        } else {
            Self::Set(rustc_hash::FxHashSet::with_capacity_and_hasher(records, Default::default()))
        }
    }

    /// Marks `id`; false when it was marked already.
    fn insert(&mut self, id: u32) -> bool {
        match self {
            Self::Bits(bits) => {
                let (word, bit) = (id as usize / 64, 1u64 << (id % 64));
                let fresh = bits[word] & bit == 0;
                bits[word] |= bit;
                fresh
            }
            Self::Set(set) => set.insert(id),
        }
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

/// Files at least this large are scanned in shards on the rayon pool (a smaller one is scanned
/// before the shards would have started).
const SHARDED_SCAN_MIN_BYTES: usize = 4 << 20;

/// One `(id, keyword, start, end)` as ifc-lite's scanner returns it.
type Found<'a> = (u32, &'a str, usize, usize);

/// One record as a piece of the scan lists it: its keyword is an index into the piece's own
/// keyword table.
#[derive(Debug, Clone, Copy)]
struct Entry {
    id: u32,
    keyword: u32,
    start: usize,
    end: usize,
}

/// A relationship whose spans the opening index needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SpanKind {
    Voids,
    Aggregates,
    Other,
}

impl SpanKind {
    fn of(keyword: &str) -> Self {
        if ifc_lite_core::keyword_eq(keyword, "IFCRELVOIDSELEMENT") {
            Self::Voids
        } else if ifc_lite_core::keyword_eq(keyword, "IFCRELAGGREGATES") {
            Self::Aggregates
        } else {
            Self::Other
        }
    }
}

/// The records of one stretch of the file, listed as the scanner finds them: each distinct
/// keyword once, the relationship spans the opening index needs, and the stray bytes between
/// its records (not before its first).
#[derive(Debug, Default)]
struct Piece<'a> {
    /// Records in file order.
    entries: Vec<Entry>,
    /// Distinct keywords, in order of first appearance.
    keywords: Vec<&'a str>,
    /// What each keyword is, for the spans below.
    kinds: Vec<SpanKind>,
    /// Keyword → index into `keywords`.
    table: rustc_hash::FxHashMap<&'a str, u32>,
    /// `IfcRelVoidsElement` spans.
    voids: Vec<(u32, usize, usize)>,
    /// `IfcRelAggregates` spans.
    aggregates: Vec<(u32, usize, usize)>,
    /// Stray bytes between its records.
    stray: StrayBytes,
}

impl<'a> Piece<'a> {
    fn with_capacity(records: usize) -> Self {
        Self {
            entries: Vec::with_capacity(records),
            ..Self::default()
        }
    }

    /// Lists the next record (in file order).
    fn push(&mut self, bytes: &[u8], (id, keyword, start, end): Found<'a>) {
        // Records of one class often come in runs: the previous keyword is tried first.
        let index = match self.entries.last() {
            Some(last) if self.keywords[last.keyword as usize] == keyword => last.keyword,
            _ => match self.table.get(keyword) {
                Some(&index) => index,
                None => {
                    self.keywords.push(keyword);
                    self.kinds.push(SpanKind::of(keyword));
                    let index = (self.keywords.len() - 1) as u32;
                    self.table.insert(keyword, index);
                    index
                }
            },
        };
        match self.kinds[index as usize] {
            SpanKind::Voids => self.voids.push((id, start, end)),
            SpanKind::Aggregates => self.aggregates.push((id, start, end)),
            SpanKind::Other => {}
        }
        // The bytes between the previous record's end and this one's start.
        if let Some(last) = self.entries.last() {
            self.stray.add(bytes, last.end, start);
        }
        self.entries.push(Entry {
            id,
            keyword: index,
            start,
            end,
        });
    }
}

/// Everything one scan of the DATA section found, in file order.
struct Raw<'a> {
    /// The records, in pieces joined in file order.
    pieces: Vec<Piece<'a>>,
    /// Starts of records the scanner dropped as malformed.
    malformed: Vec<usize>,
    /// Records skipped for an instance id wider than 32 bits.
    oversized: usize,
}

/// The whole DATA section with one scanner.
fn scan_sequential(bytes: &[u8]) -> Raw<'_> {
    let mut scanner = EntityScanner::new(bytes);
    let mut piece = Piece::with_capacity(bytes.len() / 60);
    while let Some(record) = scanner.next_entity() {
        piece.push(bytes, record);
    }
    Raw {
        pieces: vec![piece],
        malformed: scanner.malformed_record_starts().to_vec(),
        oversized: scanner.skipped_oversized_ids(),
    }
}

/// What one shard's scanner found.
struct Shard<'a> {
    /// Records starting before the shard's end (from `first` on).
    piece: Piece<'a>,
    /// Start of the first record this scanner returned, if any.
    first: Option<usize>,
    /// Start of the first record at or after the shard's end, as this scanner saw it.
    next: Option<usize>,
    /// Malformed-record starts in `[first, next)`.
    malformed: Vec<usize>,
    /// Oversized-id record starts in `[first, next)`.
    oversized: Vec<usize>,
}

/// Scans `bytes[from..to)` with a scanner of its own (the first shard starts after the
/// header), peeking one record past `to`.
fn scan_shard(bytes: &[u8], from: usize, to: usize, first_shard: bool) -> Shard<'_> {
    let mut scanner = if first_shard {
        EntityScanner::new(bytes)
    } else {
        EntityScanner::new_at(bytes, from)
    };
    let mut piece = Piece::with_capacity((to - from) / 60);
    let mut next = None;
    while let Some(record) = scanner.next_entity() {
        if record.2 >= to {
            next = Some(record.2);
            break;
        }
        piece.push(bytes, record);
    }
    let first = piece.entries.first().map(|r| r.start).or(next);
    // Marks before this scanner's first record may come from a start inside a record (the
    // previous shard owns that span); marks from `next` on belong to the next shard.
    let keep = |&&at: &&usize| {
        (first_shard || first.is_some_and(|f| at >= f)) && next.is_none_or(|n| at < n)
    };
    Shard {
        malformed: scanner
            .malformed_record_starts()
            .iter()
            .filter(keep)
            .copied()
            .collect(),
        oversized: scanner
            .skipped_oversized_id_starts()
            .iter()
            .filter(keep)
            .copied()
            .collect(),
        piece,
        first,
        next,
    }
}

/// The DATA section scanned in `shards` pieces on the rayon pool, or `None` when the pieces
/// do not join: each shard starts at a line start, and it is kept only if the scanner of the
/// shard before, reading on past its end, finds its next record exactly where this shard's
/// first record starts. From there on the two scanners read the same records (a scanner's
/// next record depends only on its position), so the joined result is the sequential one.
fn scan_sharded(bytes: &[u8], shards: usize) -> Option<Raw<'_>> {
    use rayon::prelude::*;
    let mut cuts = vec![0];
    for k in 1..shards {
        let at = bytes.len() * k / shards;
        let line = bytes[at..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |p| at + p + 1);
        if line > *cuts.last().unwrap_or(&0) && line < bytes.len() {
            cuts.push(line);
        }
    }
    cuts.push(bytes.len());
    let parts: Vec<Shard<'_>> = cuts
        .par_windows(2)
        .enumerate()
        .map(|(k, w)| scan_shard(bytes, w[0], w[1], k == 0))
        .collect();
    if parts.windows(2).any(|p| p[0].next != p[1].first) {
        return None;
    }
    let mut raw = Raw {
        pieces: Vec::with_capacity(parts.len()),
        malformed: Vec::new(),
        oversized: 0,
    };
    let mut last_end: Option<usize> = None;
    for mut part in parts {
        // The gap between the previous shard's last record and this one's first.
        if let (Some(end), Some(first)) = (last_end, part.piece.entries.first()) {
            let mut gap = StrayBytes::default();
            gap.add(bytes, end, first.start);
            gap.count += part.piece.stray.count;
            gap.first = gap.first.or(part.piece.stray.first);
            part.piece.stray = gap;
        }
        last_end = part.piece.entries.last().map(|r| r.end).or(last_end);
        raw.pieces.push(part.piece);
        raw.malformed.extend(part.malformed);
        raw.oversized += part.oversized.len();
    }
    Some(raw)
}

/// Every record of the DATA section: in shards on the rayon pool for a large file, falling
/// back to one scanner when the shards do not join.
fn scan_records(bytes: &[u8]) -> Raw<'_> {
    let threads = rayon::current_num_threads();
    if bytes.len() >= SHARDED_SCAN_MIN_BYTES && threads > 1 {
        let shards = (bytes.len() / (SHARDED_SCAN_MIN_BYTES / 2)).clamp(2, threads * 2);
        if let Some(raw) = scan_sharded(bytes, shards) {
            return raw;
        }
        tracing::debug!("ifc scan: shards did not join; scanning again with one scanner");
    }
    scan_sequential(bytes)
}

/// `#id` → span columns, as the index is built from them.
enum Spans {
    /// Offsets fit in 32 bits (files under 4 GiB): `(ids, starts, lengths)`.
    Narrow(Vec<u32>, Vec<u32>, Vec<u32>),
    /// `(id, start, end)`.
    Wide(Vec<(u32, usize, usize)>),
}

impl Spans {
    fn with_capacity(bytes: usize, records: usize) -> Self {
        if u32::try_from(bytes).is_ok() {
            Self::Narrow(
                Vec::with_capacity(records),
                Vec::with_capacity(records),
                Vec::with_capacity(records),
            )
        } else {
            Self::Wide(Vec::with_capacity(records))
        }
    }

    fn push(&mut self, id: u32, start: usize, end: usize) {
        match self {
            // Offsets within a file of under 4 GiB.
            Self::Narrow(ids, starts, lengths) => {
                ids.push(id);
                starts.push(start as u32);
                lengths.push((end - start) as u32);
            }
            Self::Wide(spans) => spans.push((id, start, end)),
        }
    }
}

/// The records of `pieces` (`total` of them, no id twice, in a file under 4 GiB) and their
/// span columns, each piece filled on its own worker; `globals` maps each piece's keywords.
fn list_in_parallel(pieces: &[Piece<'_>], globals: &[Vec<u32>], total: usize) -> (Vec<Record>, Spans) {
    use rayon::prelude::*;
    let mut records = vec![Record { id: 0, keyword: 0 }; total];
    let (mut ids, mut starts, mut lengths) = (vec![0u32; total], vec![0u32; total], vec![0u32; total]);
    let mut parts = Vec::with_capacity(pieces.len());
    let (mut r, mut i, mut s, mut l) = (
        records.as_mut_slice(),
        ids.as_mut_slice(),
        starts.as_mut_slice(),
        lengths.as_mut_slice(),
    );
    for (piece, global) in pieces.iter().zip(globals) {
        let n = piece.entries.len();
        let (r0, r1) = r.split_at_mut(n);
        let (i0, i1) = i.split_at_mut(n);
        let (s0, s1) = s.split_at_mut(n);
        let (l0, l1) = l.split_at_mut(n);
        parts.push((piece, global, r0, i0, s0, l0));
        (r, i, s, l) = (r1, i1, s1, l1);
    }
    parts
        .into_par_iter()
        .for_each(|(piece, global, records, ids, starts, lengths)| {
            for (k, e) in piece.entries.iter().enumerate() {
                records[k] = Record {
                    id: e.id,
                    keyword: global[e.keyword as usize],
                };
                ids[k] = e.id;
                // Offsets within a file of under 4 GiB.
                starts[k] = e.start as u32;
                lengths[k] = (e.end - e.start) as u32;
            }
        });
    (records, Spans::Narrow(ids, starts, lengths))
}

/// Scans every record once; refuses truncated files and files without instances.
pub(crate) fn scan(bytes: &[u8]) -> Result<Scanned<'_>, String> {
    use rayon::prelude::*;
    let started = std::time::Instant::now();
    let raw = scan_records(bytes);
    tracing::debug!(seconds = started.elapsed().as_secs_f64(), "ifc scan: records found");
    let total: usize = raw.pieces.iter().map(|p| p.entries.len()).sum();
    if u32::try_from(total).is_err() {
        return Err(format!(
            "the file holds {total} records; at most {} can be read",
            u32::MAX
        ));
    }
    let max_id = raw
        .pieces
        .par_iter()
        .map(|p| p.entries.iter().map(|r| r.id).max().unwrap_or(0))
        .max()
        .unwrap_or(0);
    let mut pieces = raw.pieces;
    let mut diagnostics = Vec::new();
    let mut stray = StrayBytes::default();
    let (mut void_spans, mut aggregate_spans) = (Vec::new(), Vec::new());
    // The pieces' keyword tables joined; each piece's keyword indices into the joined table.
    let mut keywords: Vec<&str> = Vec::new();
    let mut table: rustc_hash::FxHashMap<&str, u32> = rustc_hash::FxHashMap::default();
    let mut globals: Vec<Vec<u32>> = Vec::with_capacity(pieces.len());
    let mut last_end = 0;
    for piece in &mut pieces {
        stray.count += piece.stray.count;
        stray.first = stray.first.or(piece.stray.first);
        void_spans.append(&mut piece.voids);
        aggregate_spans.append(&mut piece.aggregates);
        globals.push(
            piece
                .keywords
                .iter()
                .map(|&keyword| {
                    *table.entry(keyword).or_insert_with(|| {
                        keywords.push(keyword);
                        (keywords.len() - 1) as u32
                    })
                })
                .collect(),
        );
        last_end = piece.entries.last().map_or(last_end, |r| r.end);
    }
    // The first record of an id is kept: the record list (which gives each id its keyword)
    // and the index (which the decoder reads) must agree, or a decoder would read one entity
    // as another's class. `again`: (piece, entry) of every later record of an id, in order.
    let mut again: Vec<(usize, usize)> = Vec::new();
    let mut seen = SeenIds::new(max_id, total);
    for (p, piece) in pieces.iter().enumerate() {
        for (k, r) in piece.entries.iter().enumerate() {
            if !seen.insert(r.id) {
                again.push((p, k));
            }
        }
    }
    drop(seen);
    for &(p, k) in &again {
        let r = pieces[p].entries[k];
        diagnostics.push(diagnostic(
            Severity::Warning,
            DiagnosticKind::MalformedRecord,
            Some(r.id),
            None,
            format!(
                "#{} is defined twice (again on line {}); the first record is used",
                r.id,
                line_of(bytes, r.start)
            ),
        ));
    }
    let (records, spans) = if again.is_empty() && u32::try_from(bytes.len()).is_ok() {
        list_in_parallel(&pieces, &globals, total)
    } else {
        let mut records = Vec::with_capacity(total);
        let mut spans = Spans::with_capacity(bytes.len(), total);
        let mut again = again.into_iter().peekable();
        for (p, (piece, global)) in pieces.iter().zip(&globals).enumerate() {
            for (k, r) in piece.entries.iter().enumerate() {
                if again.next_if_eq(&(p, k)).is_some() {
                    continue;
                }
                spans.push(r.id, r.start, r.end);
                records.push(Record {
                    id: r.id,
                    keyword: global[r.keyword as usize],
                });
            }
        }
        (records, spans)
    };
    drop(pieces);
    tracing::debug!(seconds = started.elapsed().as_secs_f64(), "ifc scan: records listed");
    let (index, by_keyword) = rayon::join(
        || SpanIndex::build(spans, bytes.len()),
        || {
            let mut counts = vec![0usize; keywords.len()];
            for r in &records {
                counts[r.keyword as usize] += 1;
            }
            let mut by_keyword: Vec<Vec<u32>> =
                counts.into_iter().map(Vec::with_capacity).collect();
            for (at, r) in records.iter().enumerate() {
                // Checked above: fewer than 2^32 records.
                by_keyword[r.keyword as usize].push(at as u32);
            }
            by_keyword
        },
    );
    tracing::debug!(seconds = started.elapsed().as_secs_f64(), "ifc scan: index built");
    for &start in &raw.malformed {
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
    let oversized = raw.oversized;
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
        keywords,
        by_keyword,
        max_id,
        index,
        diagnostics,
        void_spans,
        aggregate_spans,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A scan's entities (id, class, start, end), its malformed records, how many were
    /// oversized, its stray bytes (count, first) and its void and aggregate spans.
    type Summary = (
        Vec<(u32, String, usize, usize)>,
        Vec<usize>,
        usize,
        (usize, Option<usize>),
        Vec<(u32, usize, usize)>,
        Vec<(u32, usize, usize)>,
    );

    /// The fields a scan hands on, for comparing two scans.
    fn summary(raw: &Raw<'_>) -> Summary {
        (
            raw.pieces
                .iter()
                .flat_map(|p| {
                    p.entries
                        .iter()
                        .map(|r| (r.id, p.keywords[r.keyword as usize].to_owned(), r.start, r.end))
                })
                .collect(),
            raw.malformed.clone(),
            raw.oversized,
            raw.pieces.iter().fold((0, None), |(count, first), p| {
                (count + p.stray.count, first.or(p.stray.first))
            }),
            raw.pieces.iter().flat_map(|p| p.voids.clone()).collect(),
            raw.pieces.iter().flat_map(|p| p.aggregates.clone()).collect(),
        )
    }

    /// The keyword table holds each spelling once; a class's records are found ignoring case,
    /// in file order, and a duplicate id keeps its first record.
    #[test]
    fn keyword_table_lists_each_class_in_file_order() {
        let text = "ISO-10303-21;\nHEADER;\nFILE_SCHEMA(('IFC4'));\nENDSEC;\nDATA;\n\
            #5=IFCWALL('a',$);\n#2=ifcwall('b',$);\n#3=IFCSLAB('c',$);\n#9=IfcWall('d',$);\n\
            #2=IFCDOOR('twice',$);\n#4=IFCWALL('e',$);\nENDSEC;\nEND-ISO-10303-21;\n";
        let scanned = scan(text.as_bytes()).expect("the file scans");
        assert_eq!(scanned.keywords, ["IFCWALL", "ifcwall", "IFCSLAB", "IfcWall", "IFCDOOR"]);
        let ids = |records: Vec<Record>| records.iter().map(|r| r.id).collect::<Vec<_>>();
        assert_eq!(ids(scanned.records_of("IFCWALL")), [5, 2, 9, 4]);
        assert_eq!(ids(scanned.records_where(|k| k == "IFCSLAB")), [3]);
        assert!(scanned.records_of("IFCDOOR").is_empty(), "#2 keeps its first record");
        assert_eq!(scanned.keyword(scanned.records[1]), "ifcwall");
        assert_eq!(scanned.max_id, 9);
        assert_eq!(scanned.diagnostics.len(), 1, "{:?}", scanned.diagnostics);
        for list in &scanned.by_keyword {
            assert!(list.windows(2).all(|w| w[0] < w[1]), "{list:?}");
        }
    }

    /// Ids out of file order come out in ascending order with their own spans: dense ones
    /// (every id, a third of the slots) through the table of slots, sparse ones (a tenth)
    /// by sorting; both as a sort of the rows gives them.
    #[test]
    fn ids_out_of_order_are_put_in_order() {
        for step in [1u32, 3, 10] {
            // 1, 1 + step, ... in a scrambled order (a stride coprime to the count).
            let ids: Vec<u32> = (0..1_000u32).map(|k| (k * 377 % 1_000) * step + 1).collect();
            let starts: Vec<u32> = ids.iter().map(|id| id * 7).collect();
            let lengths: Vec<u32> = ids.iter().map(|id| id % 5 + 1).collect();
            let mut rows: Vec<(u32, u32, u32)> = (0..ids.len())
                .map(|k| (ids[k], starts[k], lengths[k]))
                .collect();
            rows.sort_unstable();
            // The largest id plus one.
            let slots = (999 * step + 2) as usize;
            let (sorted_ids, sorted_starts, sorted_lengths) =
                SpanIndex::by_id(ids.clone(), starts.clone(), lengths.clone(), slots);
            assert_eq!(sorted_ids, rows.iter().map(|r| r.0).collect::<Vec<_>>(), "step {step}");
            assert_eq!(sorted_starts, rows.iter().map(|r| r.1).collect::<Vec<_>>());
            assert_eq!(sorted_lengths, rows.iter().map(|r| r.2).collect::<Vec<_>>());
        }
    }

    /// Whatever the order of the ids and their density (all, a half, a third: tables, ours
    /// or ifc-lite's; a tenth: the sorted column), every id has its span and no other id has
    /// one.
    #[test]
    fn an_index_of_ids_out_of_order_finds_each_span() {
        for step in [1u32, 2, 3, 10] {
            let ids: Vec<u32> = (0..1_000u32).map(|k| (k * 377 % 1_000) * step + 1).collect();
            let starts: Vec<u32> = ids.iter().map(|id| id * 7).collect();
            let lengths: Vec<u32> = ids.iter().map(|id| id % 5 + 1).collect();
            let spans = Spans::Narrow(ids.clone(), starts, lengths);
            let index = SpanIndex::build(spans, 10_000_000);
            let kind = format!("{index:?}");
            assert_eq!(kind.starts_with("SpanIndex::Dense"), step <= 3, "step {step}: {kind}");
            for id in 0..=1_000 * step + 1 {
                let expected = ids
                    .contains(&id)
                    .then(|| (id as usize * 7, id as usize * 7 + (id % 5 + 1) as usize));
                assert_eq!(index.span(id), expected, "step {step}, #{id}");
            }
        }
    }

    /// Ids in use on 40 % of the slots (below ifc-lite's 68 %, above 25 %) get the id table
    /// with the gaps marked absent: every record is found, a gap is absent to our lookups and
    /// to ifc-lite's decoder, whose error then says so in plain words. At 10 % the ids keep
    /// the sorted column.
    #[test]
    fn sparse_ids_get_the_table_with_gaps_absent() {
        let file = |ids: &[u32]| {
            let mut text =
                String::from("ISO-10303-21;\nHEADER;\nFILE_SCHEMA(('IFC4'));\nENDSEC;\nDATA;\n");
            for &id in ids {
                text.push_str(&format!("#{id}=IFCCARTESIANPOINT(({id}.,0.,0.));\n"));
            }
            text + "ENDSEC;\nEND-ISO-10303-21;\n"
        };
        // 40 of every 100 ids, in runs, as Revit leaves them.
        let ids: Vec<u32> = (1..=1000).filter(|id| id % 100 < 40).collect();
        let text = file(&ids);
        let scanned = scan(text.as_bytes()).expect("the file scans");
        assert!(matches!(scanned.index, SpanIndex::Dense(_)), "{:?}", scanned.index);
        let mut decoder = scanned.decoder(text.as_bytes());
        for id in 0..=1100 {
            let present = ids.contains(&id);
            assert_eq!(scanned.contains(id), present, "#{id}");
            assert_eq!(decoder.get_raw_bytes(id).is_some(), present, "#{id}");
            match decoder.decode_by_id(id) {
                Ok(entity) => {
                    assert!(present, "#{id}");
                    assert_eq!(entity.id, id);
                    assert_eq!(decoder.point3(id).expect("a point")[0], f64::from(id));
                }
                Err(e) => {
                    assert!(!present, "#{id}: {e}");
                    let said = super::super::properties::lower(&e.to_string());
                    let plain = said.contains("not found")
                        || said.contains("a referenced record does not exist");
                    assert!(plain, "#{id}: {said}");
                    assert!(!said.contains(&u32::MAX.to_string()), "{said}");
                }
            }
        }
        let sparse: Vec<u32> = (1..=1000).filter(|id| id % 10 == 0).collect();
        let text = file(&sparse);
        let scanned = scan(text.as_bytes()).expect("the file scans");
        assert!(matches!(scanned.index, SpanIndex::Sorted(_)), "{:?}", scanned.index);
        assert!(scanned.contains(10) && !scanned.contains(11));
    }

    /// A generated district scanned in 2 to 16 shards gives exactly the sequential scan.
    #[test]
    fn sharded_scan_of_a_district_is_the_sequential_scan() {
        let config = renewtwin_generator::DistrictConfig {
            buildings: 2,
            seed: 7,
            ..Default::default()
        };
        let text = renewtwin_generator::district_ifc(&config);
        let bytes = text.as_bytes();
        let sequential = summary(&scan_sequential(bytes));
        assert!(sequential.0.len() > 1000, "{} records", sequential.0.len());
        for shards in [2, 3, 7, 16] {
            let sharded = scan_sharded(bytes, shards).expect("district shards join");
            assert_eq!(summary(&sharded), sequential, "{shards} shards");
        }
    }

    /// A cut inside a string that looks like a record start is caught by the join check, and an
    /// oversized id is reported once, as by one scanner.
    #[test]
    fn sharded_scan_refuses_a_false_join_and_keeps_diagnostics() {
        let mut text = String::from(
            "ISO-10303-21;\nHEADER;\nFILE_SCHEMA(('IFC4'));\nENDSEC;\nDATA;\n",
        );
        text.push_str("#1=IFCWALL('a;\n#2=IFCSLAB(x);\n#3=IFCDOOR(y);\nstill a string');\n");
        text.push_str("#99999999999=IFCWALL('too wide');\n");
        for id in 5..60 {
            // Stray text, and the relationships the opening index lists, in every shard.
            if id % 7 == 0 {
                text.push_str("stray text\n");
            }
            let keyword = match id % 5 {
                0 => "IFCRELVOIDSELEMENT",
                1 => "IfcRelAggregates",
                _ => "IFCWALL",
            };
            text.push_str(&format!("#{id}={keyword}('w{id}',$);\n"));
        }
        text.push_str("ENDSEC;\nEND-ISO-10303-21;\n");
        let bytes = text.as_bytes();
        let sequential = summary(&scan_sequential(bytes));
        assert_eq!(sequential.0[0].0, 1, "the string is part of #1");
        assert_eq!(sequential.0[1].0, 5, "#2 and #3 are inside #1's string");
        assert_eq!(sequential.2, 1, "one oversized id");
        // Eight `stray text` lines (9 non-blank bytes each) and the skipped oversized record.
        let oversized = "#99999999999=IFCWALL('toowide');".len();
        assert_eq!(sequential.3.0, 8 * 9 + oversized, "stray bytes");
        assert_eq!((sequential.4.len(), sequential.5.len()), (11, 11));
        let mut refused = 0;
        for shards in 2..40 {
            match scan_sharded(bytes, shards) {
                Some(raw) => assert_eq!(summary(&raw), sequential, "{shards} shards"),
                None => refused += 1,
            }
        }
        assert!(refused > 0, "no cut fell inside #1's string");
        let raw = scan_records(bytes);
        assert_eq!(summary(&raw), sequential);
    }
}
