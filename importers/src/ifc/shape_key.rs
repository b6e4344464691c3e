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
//! Real buildings repeat themselves (a wall with its windows on every storey of a block, the
//! same block along a street), and so do generated districts; web-ifc and IfcOpenShell mesh
//! every occurrence again.

use ifc_lite_core::{DecodedEntity, EntityDecoder};
use ifc_lite_geometry::GeometryRouter;
use rustc_hash::FxHashMap;
use twox_hash::XxHash3_128;

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

/// Record hashes a worker keeps (24 bytes each) before it starts afresh.
const MAX_MEMO_ENTRIES: usize = 1 << 18;

/// Records under which at least this many were hashed are remembered by every worker for the
/// whole file ([`HeavyHashes`]): a Revit window's representation map of 300,000 records
/// overflows a worker's memo, which then forgets it before the next window with that map.
const HEAVY_RECORDS: usize = 4096;
/// The heavy records are looked up only this close to the product (a representation map sits
/// a few references below it), so the walk through a map's points does not take the lock.
const HEAVY_DEPTH: usize = 8;

/// Hashes of heavy records, shared by every worker of one file.
pub(crate) type HeavyHashes = std::sync::Arc<std::sync::Mutex<FxHashMap<u32, u128>>>;

/// A product's shape key and the translation of its world placement (metres, before the
/// model's RTC offset), which is all that differs between products with one key.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ShapeKey {
    pub(crate) hash: u128,
    pub(crate) at: [f64; 3],
}

/// Content hashes of records by `#id`, one worker's.
pub(crate) struct RecordHashes<'a> {
    bytes: &'a [u8],
    index: SpanIndex,
    memo: FxHashMap<u32, u128>,
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
    pub(crate) fn record(&mut self, id: u32) -> Option<u128> {
        self.budget = MAX_RECORDS_PER_KEY;
        self.hash_at(id, 0)
    }

    /// Forgets every hash once more than [`MAX_MEMO_ENTRIES`] are kept (a memo only).
    pub(crate) fn bound(&mut self) {
        if self.memo.len() > MAX_MEMO_ENTRIES {
            self.memo = FxHashMap::default();
        }
    }

    fn span(&self, id: u32) -> Option<(usize, usize)> {
        match &self.index {
            SpanIndex::Dense(index) => index.lookup(id),
            SpanIndex::Sorted(index) => index.lookup(id),
            SpanIndex::Hash(index) => index.get(&id).copied(),
        }
    }

    fn hash_at(&mut self, id: u32, depth: usize) -> Option<u128> {
        if let Some(&hash) = self.memo.get(&id) {
            return Some(hash);
        }
        if depth <= HEAVY_DEPTH
            && let Some(&hash) = self
                .heavy
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&id)
        {
            return Some(hash);
        }
        if depth >= MAX_DEPTH || self.budget == 0 {
            return None;
        }
        let budget_before = self.budget;
        self.budget -= 1;
        let (start, end) = self.span(id)?;
        let record = self.bytes.get(start..end)?;
        // `#id=` is not content: skip to after the first `=`.
        let body = &record[record.iter().position(|&b| b == b'=')? + 1..];
        let mut buffer = self.buffers.get_mut(depth).map(std::mem::take).unwrap_or_default();
        buffer.clear();
        let hashed = self.canonical(body, depth, &mut buffer);
        let hash = hashed.map(|()| XxHash3_128::oneshot(&buffer));
        if self.buffers.len() <= depth {
            self.buffers.resize_with(depth + 1, Vec::new);
        }
        self.buffers[depth] = buffer;
        let hash = hash?;
        self.memo.insert(id, hash);
        if depth <= HEAVY_DEPTH && budget_before - self.budget >= HEAVY_RECORDS {
            self.heavy
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(id, hash);
        }
        Some(hash)
    }

    /// `body` without whitespace outside strings, each `#id` replaced by its record's hash.
    fn canonical(&mut self, body: &[u8], depth: usize, out: &mut Vec<u8>) -> Option<()> {
        let mut i = 0;
        let mut in_string = false;
        while i < body.len() {
            let b = body[i];
            i += 1;
            if in_string {
                out.push(b);
                if b == b'\'' {
                    if body.get(i) == Some(&b'\'') {
                        out.push(b'\'');
                        i += 1;
                    } else {
                        in_string = false;
                    }
                }
                continue;
            }
            match b {
                b'\'' => {
                    in_string = true;
                    out.push(b);
                }
                b' ' | b'\t' | b'\r' | b'\n' => {}
                b'#' => {
                    let digits = body[i..].iter().take_while(|c| c.is_ascii_digit()).count();
                    let id: u32 = std::str::from_utf8(&body[i..i + digits]).ok()?.parse().ok()?;
                    i += digits;
                    let child = self.hash_at(id, depth + 1)?;
                    out.push(b'#');
                    out.extend_from_slice(&child.to_le_bytes());
                }
                _ => out.push(b),
            }
        }
        Some(())
    }
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
    key.extend_from_slice(&hashes.record(product.get_ref(6)?)?.to_le_bytes());
    let placement = world_placement(router, decoder, product)?;
    push_linear(&mut key, &placement);
    if !openings.is_empty() {
        let inverse = inverse_affine(&placement)?;
        for &id in openings {
            let opening = decoder.decode_by_id(id).ok()?;
            key.extend_from_slice(&hashes.record(opening.get_ref(6)?)?.to_le_bytes());
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
ENDSEC;\nEND-ISO-10303-21;\n";
        let scanned = super::super::source::scan(text.as_bytes()).expect("test input");
        let mut hashes = RecordHashes::new(text.as_bytes(), &scanned);
        let h = |hashes: &mut RecordHashes, id| hashes.record(id);
        let first = h(&mut hashes, 2).expect("readable");
        assert_eq!(h(&mut hashes, 12), Some(first), "same content, other ids and spacing");
        assert_ne!(h(&mut hashes, 22), Some(first), "a referenced point moved");
        assert_ne!(h(&mut hashes, 32), Some(first), "a '#' inside a string is text");
        assert_eq!(h(&mut hashes, 42), h(&mut hashes, 43), "'' inside a string");
        assert!(h(&mut hashes, 42).is_some());
        assert_eq!(h(&mut hashes, 50), None, "a reference to a missing record");
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
        text.push_str("#900001=IFCPOLYLOOP((#1,#2,#3));\nENDSEC;\nEND-ISO-10303-21;\n");
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
            4,
            "the small loop and its three points, walked"
        );
        let locked = heavy.lock().expect("not poisoned");
        assert_eq!(locked.len(), 1, "only the large loop is shared");
    }
}
