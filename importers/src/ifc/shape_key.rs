//! Shape keys: products whose bodies are the same shape at different places are meshed once.
//!
//! A product's mesh depends only on its representation (the entities reachable from
//! `IfcProduct.Representation`), the rotation and scale of its world placement, and, for a
//! host with openings, each opening's representation and placement relative to the host. The
//! key hashes exactly that: every representation entity by content, its `#id` references
//! replaced by the hashes of the entities they name (a Merkle hash, so two copies of a wall
//! written with different ids get the same key), and the placements as matrices rounded to
//! [`TRANSLATION_QUANTUM_M`] and [`LINEAR_QUANTUM`]. Where anything cannot be read the product
//! has no key and is meshed on its own.
//!
//! A large `IfcRepresentationMap` (over [`MAP_CONTENT_RECORDS`] records) is hashed by its
//! `#id` instead. The products of one type share its map, so they still share a key; two large
//! maps of equal content are two shapes here. Such maps are where a file's largest geometry
//! sits (a Revit window's map of 87,000 faces), and walking each one cost as much as meshing
//! it. Small maps are hashed by content as everything else: in the four real files over
//! 10 MB we measure, keying every map by `#id` lost 9 of 2,369 shared products, and in the
//! corpus's duplex 4 meshes (BENCHMARKS.md, session 15).
//!
//! Records without references, strings or inner whitespace (points, direction and number
//! lists) are hashed as written and not remembered: hashing one again costs less than
//! keeping it.
//!
//! Real buildings repeat themselves (a wall with its windows on every storey of a block, the
//! same block along a street), and so do generated districts; web-ifc and IfcOpenShell mesh
//! every occurrence again.

use ifc_lite_core::{DecodedEntity, EntityDecoder};
use ifc_lite_geometry::GeometryRouter;
use rustc_hash::FxHashMap;
use twox_hash::XxHash3_128;

use super::record::leading_keyword;
use super::source::{Scanned, SpanIndex};
use crate::geo::mesh::{inverse_affine, mat_mul};

/// Translations in the key are rounded to a micrometre: shapes that close are one shape (the
/// mesh interner already shares meshes within 10 µm).
const TRANSLATION_QUANTUM_M: f64 = 1e-6;
/// Rotation and scale entries are rounded to 1e-9 (a micrometre at a kilometre).
const LINEAR_QUANTUM: f64 = 1e-9;
/// Deepest reference chain followed (STEP files nest a dozen levels at most; a cycle in a
/// malformed file ends here).
const MAX_DEPTH: usize = 64;
/// Most records hashed for one key, so a malformed file with shared cycles cannot make the
/// walk exponential.
const MAX_RECORDS_PER_KEY: usize = 1 << 20;

/// Records of a representation map's content walked before the map is keyed by its `#id`
/// instead (module docs).
const MAP_CONTENT_RECORDS: usize = 4096;

/// Record hashes a worker keeps (24 bytes each) before it starts afresh.
const MAX_MEMO_ENTRIES: usize = 1 << 18;

/// Records under which at least this many were hashed are remembered by every worker for the
/// whole file ([`HeavyHashes`]): a large brep or surface model that several products use
/// without a map would otherwise be walked again by each worker whose memo has forgotten it
/// (a memo is cleared past [`MAX_MEMO_ENTRIES`]).
const HEAVY_RECORDS: usize = 4096;
/// The heavy records are looked up only this close to the product (a body item sits a few
/// references below it), so the walk through an item's faces and points does not take the
/// lock.
const HEAVY_DEPTH: usize = 8;

/// Hashes of heavy records, shared by every worker of one file.
pub(crate) type HeavyHashes = std::sync::Arc<std::sync::Mutex<FxHashMap<u32, Hashed>>>;

/// A product's shape key and the translation of its world placement (metres, before the
/// model's RTC offset), which is all that differs between products with one key.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ShapeKey {
    pub(crate) hash: u128,
    pub(crate) at: [f64; 3],
    /// The records of the product's and its openings' representations, counted as
    /// [`Hashed`] counts them (a large map as just over [`MAP_CONTENT_RECORDS`]): a guess at
    /// the cost of meshing it, so that the larger products of a chunk start first.
    pub(crate) work: usize,
}

/// Content hashes of records by `#id`, one worker's.
pub(crate) struct RecordHashes<'a> {
    bytes: &'a [u8],
    index: SpanIndex,
    memo: FxHashMap<u32, Hashed>,
    heavy: HeavyHashes,
    buffers: Vec<Vec<u8>>,
    budget: usize,
}

impl<'a> RecordHashes<'a> {
    pub(crate) fn new(bytes: &'a [u8], scanned: &Scanned<'a>) -> Self {
        Self {
            bytes,
            index: scanned.index.clone(),
            memo: FxHashMap::default(),
            heavy: HeavyHashes::default(),
            buffers: Vec::new(),
            budget: MAX_RECORDS_PER_KEY,
        }
    }

    /// The same, remembering heavy records in `heavy`, shared with the other workers.
    pub(crate) fn sharing(mut self, heavy: HeavyHashes) -> Self {
        self.heavy = heavy;
        self
    }

    /// The content hash of `#id` and everything it references; `None` when a record is
    /// missing, the chain is deeper than [`MAX_DEPTH`] or the walk exceeds its budget.
    #[cfg(test)]
    pub(crate) fn record(&mut self, id: u32) -> Option<u128> {
        self.sized(id).map(|(hash, _)| hash)
    }

    /// [`Self::record`] with the number of records under `#id` (see [`Hashed`]).
    fn sized(&mut self, id: u32) -> Option<(u128, usize)> {
        self.budget = MAX_RECORDS_PER_KEY;
        let hashed = self.hash_at(id, 0, usize::MAX).ok()?;
        Some((hashed.hash(), hashed.size()))
    }

    /// Forgets every hash once more than [`MAX_MEMO_ENTRIES`] are kept (a memo only).
    pub(crate) fn bound(&mut self) {
        if self.memo.len() > MAX_MEMO_ENTRIES {
            self.memo = FxHashMap::default();
        }
    }

    fn hash_at(&mut self, id: u32, depth: usize, limit: usize) -> Result<Hashed, Stop> {
        let within = |hashed: Hashed| {
            if hashed.size() > limit {
                Err(Stop::Limit)
            } else {
                Ok(hashed)
            }
        };
        if let Some(&hashed) = self.memo.get(&id) {
            return within(hashed);
        }
        if depth <= HEAVY_DEPTH
            && let Some(&hashed) = self
                .heavy
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&id)
        {
            return within(hashed);
        }
        if depth >= MAX_DEPTH || self.budget == 0 {
            return Err(Stop::Unreadable);
        }
        if limit == 0 {
            return Err(Stop::Limit);
        }
        let budget_before = self.budget;
        self.budget -= 1;
        let (start, end) = self.index.span(id).ok_or(Stop::Unreadable)?;
        let record = self.bytes.get(start..end).ok_or(Stop::Unreadable)?;
        // `#id=` is not content: skip to after the first `=`.
        let eq = record.iter().position(|&b| b == b'=').ok_or(Stop::Unreadable)?;
        let body = &record[eq + 1..];
        if let Some(leaf) = canonical_leaf(body) {
            // Its canonical form is itself (most records of a large representation are such
            // points and numbers lists): hashed as it stands, and not memoised, since hashing
            // it again costs less than keeping it.
            return Ok(Hashed::new(XxHash3_128::oneshot(leaf), 1));
        }
        let map = leading_keyword(body.trim_ascii_start())
            .is_some_and(|k| k.eq_ignore_ascii_case(b"IFCREPRESENTATIONMAP"));
        // A map's content counts up to [`MAP_CONTENT_RECORDS`]; past that the map is its
        // `#id` (module docs).
        let inner = if map {
            (limit - 1).min(MAP_CONTENT_RECORDS)
        } else {
            limit - 1
        };
        let mut buffer = self.buffers.get_mut(depth).map(std::mem::take).unwrap_or_default();
        buffer.clear();
        let content = self.canonical(body, depth, inner, &mut buffer);
        let hashed = match content {
            Ok(size) => Ok(Hashed::new(XxHash3_128::oneshot(&buffer), 1 + size)),
            Err(Stop::Limit) if map && inner < limit - 1 => {
                let mut named = *b"IfcRepresentationMap#\0\0\0\0";
                named[21..].copy_from_slice(&id.to_le_bytes());
                Ok(Hashed::new(
                    XxHash3_128::oneshot(&named),
                    2 + MAP_CONTENT_RECORDS,
                ))
            }
            Err(stop) => Err(stop),
        };
        if self.buffers.len() <= depth {
            self.buffers.resize_with(depth + 1, Vec::new);
        }
        self.buffers[depth] = buffer;
        let hashed = within(hashed?)?;
        self.memo.insert(id, hashed);
        if depth <= HEAVY_DEPTH && budget_before - self.budget >= HEAVY_RECORDS {
            self.heavy
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(id, hashed);
        }
        Ok(hashed)
    }

    /// `body` without whitespace outside strings, each `#id` replaced by its record's hash,
    /// into `out`; the sizes of the records referenced, at most `limit` in all.
    fn canonical(
        &mut self,
        body: &[u8],
        depth: usize,
        limit: usize,
        out: &mut Vec<u8>,
    ) -> Result<usize, Stop> {
        let mut size = 0usize;
        let mut i = 0;
        while i < body.len() {
            // A run of bytes kept as they are, up to whitespace, a string or a reference.
            let run = body[i..]
                .iter()
                .position(|&b| matches!(b, b'\'' | b'#' | b' ' | b'\t' | b'\r' | b'\n'))
                .unwrap_or(body.len() - i);
            out.extend_from_slice(&body[i..i + run]);
            i += run;
            let Some(&b) = body.get(i) else {
                break;
            };
            i += 1;
            match b {
                b'\'' => {
                    // The string as written, to its closing quote (a doubled quote is one
                    // quote inside it).
                    out.push(b);
                    loop {
                        let Some(q) = body[i..].iter().position(|&c| c == b'\'') else {
                            out.extend_from_slice(&body[i..]);
                            i = body.len();
                            break;
                        };
                        out.extend_from_slice(&body[i..=i + q]);
                        i += q + 1;
                        if body.get(i) == Some(&b'\'') {
                            out.push(b'\'');
                            i += 1;
                        } else {
                            break;
                        }
                    }
                }
                b'#' => {
                    let digits = body[i..].iter().take_while(|c| c.is_ascii_digit()).count();
                    let id = body[i..i + digits]
                        .iter()
                        .try_fold(0u32, |id, d| id.checked_mul(10)?.checked_add(u32::from(d - b'0')))
                        .filter(|_| digits > 0)
                        .ok_or(Stop::Unreadable)?;
                    i += digits;
                    let child = self.hash_at(id, depth + 1, limit - size)?;
                    size += child.size();
                    out.push(b'#');
                    out.extend_from_slice(&child.hash);
                }
                // Whitespace outside strings is not content.
                _ => {}
            }
        }
        Ok(size)
    }
}

/// A record's content hash and its size: the records under it, itself included, each counted
/// once for every path to it, so that it does not depend on which were remembered (kept up to
/// `u32::MAX`). 20 bytes, so that a memo entry stays 24.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hashed {
    hash: [u8; 16],
    size: u32,
}

impl Hashed {
    fn new(hash: u128, size: usize) -> Self {
        Self {
            hash: hash.to_le_bytes(),
            size: u32::try_from(size).unwrap_or(u32::MAX),
        }
    }

    fn hash(self) -> u128 {
        u128::from_le_bytes(self.hash)
    }

    fn size(self) -> usize {
        self.size as usize
    }
}

/// Why a walk stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// A record is missing or does not read, the chain is deeper than [`MAX_DEPTH`], or the
    /// walk exceeded its budget.
    Unreadable,
    /// The records under it exceed the limit its caller set.
    Limit,
}

/// `body` without its leading and trailing whitespace, when that is its canonical form: no
/// reference, no string, no whitespace inside.
fn canonical_leaf(body: &[u8]) -> Option<&[u8]> {
    let body = body.trim_ascii();
    (!body
        .iter()
        .any(|&b| matches!(b, b'#' | b'\'' | b' ' | b'\t' | b'\r' | b'\n')))
    .then_some(body)
}

/// The shape key of `product` (attribute 6 is `IfcProduct.Representation`), voided by
/// `openings` (in the order they are cut); `None` when any part cannot be read.
pub(crate) fn shape_key(
    hashes: &mut RecordHashes,
    router: &GeometryRouter,
    decoder: &mut EntityDecoder,
    product: &DecodedEntity,
    openings: &[u32],
) -> Option<ShapeKey> {
    let mut key = Vec::with_capacity(16 * 2 + 8 * 9 + openings.len() * (16 + 8 * 12));
    let (body, mut work) = hashes.sized(product.get_ref(6)?)?;
    key.extend_from_slice(&body.to_le_bytes());
    let placement = world_placement(router, decoder, product)?;
    push_linear(&mut key, &placement);
    if !openings.is_empty() {
        let inverse = inverse_affine(&placement)?;
        for &id in openings {
            let opening = decoder.decode_by_id(id).ok()?;
            let (hash, size) = hashes.sized(opening.get_ref(6)?)?;
            key.extend_from_slice(&hash.to_le_bytes());
            work = work.saturating_add(size);
            let relative = mat_mul(&inverse, &world_placement(router, decoder, &opening)?);
            push_linear(&mut key, &relative);
            for v in &relative[12..15] {
                key.extend_from_slice(&quantize(*v, TRANSLATION_QUANTUM_M).to_le_bytes());
            }
        }
    }
    Some(ShapeKey {
        hash: XxHash3_128::oneshot(&key),
        at: [placement[12], placement[13], placement[14]],
        work,
    })
}

/// The product's world placement (column-major, metres), finite.
fn world_placement(
    router: &GeometryRouter,
    decoder: &mut EntityDecoder,
    product: &DecodedEntity,
) -> Option<[f64; 16]> {
    let m = router.resolve_scaled_placement(product, decoder).ok()?;
    m.iter().all(|v| v.is_finite()).then_some(m)
}

fn quantize(value: f64, quantum: f64) -> i64 {
    // `as` saturates; a coordinate beyond ±9e12 quanta is no real building.
    (value / quantum).round() as i64
}

/// The 3×3 part and the projective row, rounded.
fn push_linear(key: &mut Vec<u8>, m: &[f64; 16]) {
    for k in [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 15] {
        key.extend_from_slice(&quantize(m[k], LINEAR_QUANTUM).to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two copies of one shape written with other ids and spacing hash the same; a changed
    /// number, a changed reference or a `#` inside a string do not.
    #[test]
    fn record_hashes_follow_content_not_ids() {
        let text = "ISO-10303-21;\nHEADER;\nFILE_DESCRIPTION((''),'2;1');\nFILE_NAME('','',(''),(''),'','','');\nFILE_SCHEMA(('IFC4'));\nENDSEC;\nDATA;\n\
#1=IFCCARTESIANPOINT((0.,0.,0.));\n\
#2=IFCRECTANGLEPROFILEDEF(.AREA.,'a #1 b',#1,2.4,0.3);\n\
#11=IFCCARTESIANPOINT( ( 0., 0., 0. ) );\n\
#12=IFCRECTANGLEPROFILEDEF(.AREA.,'a #1 b',#11,2.4,0.3);\n\
#21=IFCCARTESIANPOINT((0.,0.,1.));\n\
#22=IFCRECTANGLEPROFILEDEF(.AREA.,'a #1 b',#21,2.4,0.3);\n\
#32=IFCRECTANGLEPROFILEDEF(.AREA.,'a #2 b',#1,2.4,0.3);\n\
#42=IFCRECTANGLEPROFILEDEF(.AREA.,'it''s',#1,2.4,0.3);\n\
#43=IFCRECTANGLEPROFILEDEF(.AREA.,'it''s',#1,2.4,0.3);\n\
#50=IFCRECTANGLEPROFILEDEF(.AREA.,$,#99,2.4,0.3);\n\
#60= IFCCARTESIANPOINT((0.,0.,0.)) ;\n\
#70=IFCREPRESENTATIONMAP(#1,#99);\n\
ENDSEC;\nEND-ISO-10303-21;\n";
        let scanned = super::super::source::scan(text.as_bytes()).expect("test input");
        let mut hashes = RecordHashes::new(text.as_bytes(), &scanned);
        let h = |hashes: &mut RecordHashes, id| hashes.record(id);
        let first = h(&mut hashes, 2).expect("readable");
        assert_eq!(h(&mut hashes, 12), Some(first), "same content, other ids and spacing");
        let point = h(&mut hashes, 1);
        assert!(point.is_some());
        assert_eq!(h(&mut hashes, 11), point, "a leaf with spaces inside");
        assert_eq!(h(&mut hashes, 60), point, "a leaf with spaces around");
        assert_ne!(h(&mut hashes, 21), point, "a leaf with another number");
        assert_eq!(h(&mut hashes, 70), None, "a small map is its content, here missing");
        assert_ne!(h(&mut hashes, 22), Some(first), "a referenced point moved");
        assert_ne!(h(&mut hashes, 32), Some(first), "a '#' inside a string is text");
        assert_eq!(h(&mut hashes, 42), h(&mut hashes, 43), "'' inside a string");
        assert!(h(&mut hashes, 42).is_some());
        assert_eq!(h(&mut hashes, 50), None, "a reference to a missing record");
        // The canonical form itself: whitespace outside strings dropped, strings as written
        // (a doubled quote, a '#', spaces inside), each reference its record's hash.
        let body = b" IFCX( 'a  ''#1'' b' ,\t#1 , 2.4\r\n,'' ) ;";
        let mut out = Vec::new();
        let size = hashes.canonical(body, 0, usize::MAX, &mut out).expect("readable");
        let point = hashes.hash_at(1, 1, usize::MAX).expect("readable");
        let mut expected = b"IFCX('a  ''#1'' b',#".to_vec();
        expected.extend_from_slice(&point.hash);
        expected.extend_from_slice(b",2.4,'');");
        assert_eq!(out, expected);
        assert_eq!(size, 1);
        let mut out = Vec::new();
        for unreadable in [&b"IFCX(#)"[..], b"IFCX(#99999999999)", b"IFCX(#a)"] {
            assert!(hashes.canonical(unreadable, 0, usize::MAX, &mut out).is_err());
        }
    }

    /// A record with more than [`HEAVY_RECORDS`] records below it, hashed by one worker, is
    /// known to another worker sharing its heavy hashes without walking it again, and to a
    /// worker whose own memo was cleared; a small record is not shared.
    #[test]
    fn heavy_records_are_hashed_once_for_every_worker() {
        let mut text = String::from(
            "ISO-10303-21;\nHEADER;\nFILE_DESCRIPTION((''),'2;1');\nFILE_NAME('','',(''),(''),'','','');\nFILE_SCHEMA(('IFC4'));\nENDSEC;\nDATA;\n",
        );
        let n = HEAVY_RECORDS + 10;
        for i in 1..=n {
            text.push_str(&format!("#{i}=IFCCARTESIANPOINT(({i}.,0.,0.));\n"));
        }
        let ids: Vec<String> = (1..=n).map(|i| format!("#{i}")).collect();
        text.push_str(&format!("#900000=IFCPOLYLOOP(({}));\n", ids.join(",")));
        text.push_str("#900001=IFCPOLYLOOP((#1,#2,#3));\n");
        // Maps of the large loop (by #id) and of the small one (by content), twice each.
        for (map, shape) in [(900002, 900000), (900003, 900000), (900004, 900001), (900005, 900001)] {
            text.push_str(&format!("#{map}=IFCREPRESENTATIONMAP(#1,#{shape});\n"));
        }
        text.push_str("ENDSEC;\nEND-ISO-10303-21;\n");
        let scanned = super::super::source::scan(text.as_bytes()).expect("test input");
        let heavy = HeavyHashes::default();
        let mut first = RecordHashes::new(text.as_bytes(), &scanned).sharing(heavy.clone());
        let mut second = RecordHashes::new(text.as_bytes(), &scanned).sharing(heavy.clone());
        let big = first.record(900000).expect("readable");
        let small = first.record(900001).expect("readable");
        assert_eq!(second.record(900000), Some(big));
        assert!(
            second.memo.is_empty(),
            "walked again: {} records",
            second.memo.len()
        );
        assert_eq!(second.record(900001), Some(small));
        assert_eq!(
            second.memo.len(),
            1,
            "the small loop walked and kept; its three points hashed as they stand, not kept"
        );
        {
            let locked = heavy.lock().expect("not poisoned");
            assert_eq!(locked.len(), 1, "only the large loop is shared");
        }
        // A map over MAP_CONTENT_RECORDS is its #id, whether its content was remembered
        // (`first`, which walked the loop) or not (a fresh worker); a small map is its content.
        let mut fresh = RecordHashes::new(text.as_bytes(), &scanned);
        let large = first.record(900002).expect("readable");
        assert_eq!(fresh.record(900002), Some(large));
        assert_ne!(first.record(900003), Some(large), "a large map of equal content");
        let small = fresh.record(900004).expect("readable");
        assert_eq!(first.record(900004), Some(small));
        assert_eq!(first.record(900005), Some(small), "a small map of equal content");
    }
}
