//! Face-based surface models (`IfcFaceBasedSurfaceModel`) of plain polygon faces, read
//! straight from the faces' records; anything else through ifc-lite.
//!
//! Revit writes detailed families (windows with frames, glazing bars and hardware, furniture)
//! as face-based surface models of tens of thousands of small `IfcFace`s, each one
//! `IfcFaceOuterBound` around an `IfcPolyLoop` of three or four points. ifc-lite reads such a
//! model by fully decoding every face record to learn its class and collecting each face's
//! diagnostics on its own: on the 52 MB `BasicHouse` Revit model three windows of 87,000 faces
//! took half a second each, most of the file's load on one core.
//!
//! Here each face's class is read from its keyword, and the bounds and points through the
//! decoder's own raw readers, so the points are ifc-lite's numbers. The item is taken here
//! only when every face is one readable outer loop of 3 to [`MAX_FAN_CORNERS`] points whose
//! corners all turn one way (a quad may have one reflex corner): such a face has one
//! triangulation up to the choice of diagonals, a fan from its first corner, or for a quad
//! the diagonal inside it. Any other face (holes, concave rings, advanced faces, a bound or a
//! point that does not read) hands the whole item to ifc-lite's processor, so an item is
//! always entirely one or entirely the other and ifc-lite's own refusals and diagnostics
//! stay its own. The triangles are the same as ifc-lite's (test
//! `plain_surface_models_mesh_as_ifc_lite_does`, bit for bit on the corpus).

use ifc_lite_core::{DecodedEntity, EntityDecoder, IfcSchema, IfcType};
use ifc_lite_geometry::{
    FaceBasedSurfaceModelProcessor, GeometryProcessor, Mesh, Result, TessellationQuality,
};

use std::collections::hash_map::Entry;

use super::record::leading_keyword;
use crate::geo::mesh::{cross, dot, newell, normalize, sub};

/// The corners of one surface model read so far, by point `#id` (the decoder's numbers, so a
/// point read twice is the same both times).
type PointMemo = rustc_hash::FxHashMap<u32, [f64; 3]>;

/// Most corners of a face triangulated as a fan (ifc-lite fans convex faces of up to eight
/// corners and triangulates larger ones in the plane; those go to it).
const MAX_FAN_CORNERS: usize = 8;

/// Turns smaller than this (the cross product of two edges along the face's unit normal, in
/// the file's squared length unit) count as straight in the convexity test.
const STRAIGHT: f64 = 1e-10;

/// The surface-model processor registered on every meshing router.
pub(crate) struct FastSurfaces {
    builtin: FaceBasedSurfaceModelProcessor,
}

impl FastSurfaces {
    pub(crate) fn new() -> Self {
        Self {
            builtin: FaceBasedSurfaceModelProcessor::new(),
        }
    }

    /// The mesh of `entity`, rebased by `rtc` (file units) before narrowing to f32, or `None`
    /// when a face is not an `IfcFace` or its records do not read (the item then goes to
    /// ifc-lite whole).
    fn attempt(
        &self,
        entity: &DecodedEntity,
        decoder: &mut EntityDecoder,
        schema: &IfcSchema,
        quality: TessellationQuality,
        rtc: Option<(f64, f64, f64)>,
    ) -> Option<Mesh> {
        // IfcFaceBasedSurfaceModel.FbsmFaces: a set of IfcConnectedFaceSet.
        let collections = entity.get(0)?.as_list()?;
        let offset = rtc.map_or([0.0; 3], |(x, y, z)| [x, y, z]);
        let mut mesh = Mesh::new();
        let mut ring: Vec<[f64; 3]> = Vec::with_capacity(MAX_FAN_CORNERS);
        // A point is read once however many faces share it (a Revit window's 87,000 faces
        // name each corner about six times).
        let mut points = PointMemo::default();
        for collection in collections {
            let faces = decoder.get_entity_ref_list_fast(collection.as_entity_ref()?)?;
            // Most faces are triangles: room for three corners each, so that the buffers do
            // not grow (and copy) a dozen times on a large model.
            mesh.positions.reserve(faces.len() * 9);
            mesh.indices.reserve(faces.len() * 3);
            for face in faces {
                if !keyword_is(decoder.get_raw_bytes(face)?, b"IFCFACE") {
                    return None;
                }
                let bounds = decoder.get_entity_ref_list_fast(face)?;
                let plain = match bounds.as_slice() {
                    [bound] => plain_ring(decoder, *bound, &mut points, &mut ring)?,
                    _ => None,
                };
                let Some(start) = plain else {
                    let alone = self.face_alone(decoder, face, &bounds, schema, quality, rtc)?;
                    append(&mut mesh, &alone);
                    continue;
                };
                let base = (mesh.positions.len() / 3) as u32;
                for p in &ring {
                    mesh.positions.extend(sub(*p, offset).map(|c| c as f32));
                }
                let n = ring.len() as u32;
                for i in 1..n - 1 {
                    mesh.indices
                        .extend([0, i, i + 1].map(|k| base + (k + start) % n));
                }
            }
        }
        mesh.rtc_applied = rtc.is_some();
        Some(mesh)
    }

    /// ifc-lite's mesh of one face that is not a plain polygon (holes, a concave ring, more
    /// than [`MAX_FAN_CORNERS`] corners): the face's own records (the face, its bounds, their
    /// loops and points, byte for byte) as a surface model of that face alone, meshed by
    /// ifc-lite's processor. ifc-lite meshes each face of a surface model on its own, so this
    /// is the part of its mesh of the whole item that comes from this face. `None` when a
    /// record does not read.
    fn face_alone(
        &self,
        decoder: &mut EntityDecoder,
        face: u32,
        bounds: &[u32],
        schema: &IfcSchema,
        quality: TessellationQuality,
        rtc: Option<(f64, f64, f64)>,
    ) -> Option<Mesh> {
        let mut text = Vec::new();
        let mut copy = |decoder: &mut EntityDecoder, id: u32| -> Option<()> {
            let record = decoder.get_raw_bytes(id)?;
            text.extend_from_slice(record);
            if !record.ends_with(b";") {
                text.push(b';');
            }
            text.push(b'\n');
            Some(())
        };
        let mut top = face;
        copy(decoder, face)?;
        for &bound in bounds {
            copy(decoder, bound)?;
            let (polyloop, _, _) = decoder.get_face_bound_fast(bound)?;
            copy(decoder, polyloop)?;
            for point in decoder.get_polyloop_point_ids_fast(polyloop)? {
                copy(decoder, point)?;
                top = top.max(point);
            }
            top = top.max(bound).max(polyloop);
        }
        let (set, model) = (top.checked_add(1)?, top.checked_add(2)?);
        let wrapper = format!(
            "#{set}=IFCCONNECTEDFACESET((#{face}));\n\
             #{model}=IFCFACEBASEDSURFACEMODEL((#{set}));\n"
        );
        text.extend_from_slice(wrapper.as_bytes());
        let text = std::str::from_utf8(&text).ok()?;
        let mut alone = EntityDecoder::new(text);
        let entity = alone.decode_by_id(model).ok()?;
        match rtc {
            None => self
                .builtin
                .process(&entity, &mut alone, schema, quality)
                .ok(),
            Some(rtc) => self
                .builtin
                .process_in_rtc_frame(&entity, &mut alone, schema, quality, rtc)?
                .ok(),
        }
    }
}

/// Reads the loop of face bound `bound` into `ring` (corners in the face's sense):
/// `Some(Some(corner))` for a plain polygon, a fan from `corner`; `Some(None)` for a readable
/// loop that is not one; `None` when a record does not read.
fn plain_ring(
    decoder: &mut EntityDecoder,
    bound: u32,
    memo: &mut PointMemo,
    ring: &mut Vec<[f64; 3]>,
) -> Option<Option<u32>> {
    let (polyloop, same_sense, _outer) = decoder.get_face_bound_fast(bound)?;
    let points = decoder.get_polyloop_point_ids_fast(polyloop)?;
    if points.len() > MAX_FAN_CORNERS {
        return Some(None);
    }
    ring.clear();
    for point in points {
        let xyz = match memo.entry(point) {
            Entry::Occupied(known) => *known.get(),
            Entry::Vacant(slot) => *slot.insert(decoder.point3(point).ok()?),
        };
        ring.push(xyz);
    }
    if !same_sense {
        ring.reverse();
    }
    Some(fan_start(ring))
}

/// Appends `part`'s triangles to `mesh`.
fn append(mesh: &mut Mesh, part: &Mesh) {
    let base = (mesh.positions.len() / 3) as u32;
    mesh.positions.extend_from_slice(&part.positions);
    mesh.indices.extend(part.indices.iter().map(|i| base + i));
}

/// Whether the record `bytes` (`#id=KEYWORD(...)`, spaces allowed after `=`) is of class
/// `keyword` (upper case), under STEP's case-insensitive keyword rule.
fn keyword_is(bytes: &[u8], keyword: &[u8]) -> bool {
    let Some(eq) = bytes.iter().position(|&b| b == b'=') else {
        return false;
    };
    let rest = &bytes[eq + 1..];
    let start = rest.iter().take_while(|b| b.is_ascii_whitespace()).count();
    leading_keyword(&rest[start..]).is_some_and(|name| name.eq_ignore_ascii_case(keyword))
}

/// The corner a face's fan starts from, or `None` when the ring is not one that a fan
/// triangulates: under three corners, more than [`MAX_FAN_CORNERS`], or concave.
///
/// A triangle is its own fan. A quad's diagonal 0–2 lies inside it unless corner 1 or 3 is
/// reflex, that is unless the turns at corners 1 and 3 point opposite ways; then 1–3 does,
/// and the fan starts at corner 1. A ring of five or more corners is a fan from corner 0 when
/// every corner turns the same way about the ring's normal (Newell's), turns shorter than
/// [`STRAIGHT`] not counted.
fn fan_start(ring: &[[f64; 3]]) -> Option<u32> {
    let turn = |i: usize| {
        let n = ring.len();
        let (a, b, c) = (ring[i], ring[(i + 1) % n], ring[(i + 2) % n]);
        cross(sub(b, a), sub(c, b))
    };
    match ring.len() {
        3 => Some(0),
        // The turns at corners 1 and 3 (from edges 0→1→2 and 2→3→0).
        4 => Some(if dot(turn(0), turn(2)) >= 0.0 { 0 } else { 1 }),
        5..=MAX_FAN_CORNERS => {
            let normal = normalize(newell(ring))?;
            let mut sign = 0.0;
            for i in 0..ring.len() {
                let d = dot(turn(i), normal);
                if d.abs() > STRAIGHT {
                    if sign == 0.0 {
                        sign = d.signum();
                    } else if d.signum() != sign {
                        return None;
                    }
                }
            }
            Some(0)
        }
        _ => None,
    }
}

impl GeometryProcessor for FastSurfaces {
    fn process(
        &self,
        entity: &DecodedEntity,
        decoder: &mut EntityDecoder,
        schema: &IfcSchema,
        quality: TessellationQuality,
    ) -> Result<Mesh> {
        match self.attempt(entity, decoder, schema, quality, None) {
            Some(mesh) => Ok(mesh),
            None => self.builtin.process(entity, decoder, schema, quality),
        }
    }

    fn process_in_rtc_frame(
        &self,
        entity: &DecodedEntity,
        decoder: &mut EntityDecoder,
        schema: &IfcSchema,
        quality: TessellationQuality,
        rtc_file_units: (f64, f64, f64),
    ) -> Option<Result<Mesh>> {
        match self.attempt(entity, decoder, schema, quality, Some(rtc_file_units)) {
            Some(mesh) => Some(Ok(mesh)),
            None => {
                self.builtin
                    .process_in_rtc_frame(entity, decoder, schema, quality, rtc_file_units)
            }
        }
    }

    fn supported_types(&self) -> Vec<IfcType> {
        vec![IfcType::IfcFaceBasedSurfaceModel]
    }
}

#[cfg(test)]
mod tests {
    use super::super::cross_check;
    use super::*;
    use ifc_lite_geometry::GeometryRouter;

    /// The ids of the `IfcFaceBasedSurfaceModel` records of a file.
    fn surface_models(text: &str) -> Vec<u32> {
        text.split(';')
            .filter_map(|statement| {
                let (id, body) = statement.trim().strip_prefix('#')?.split_once('=')?;
                keyword_is(format!("#0={body}").as_bytes(), b"IFCFACEBASEDSURFACEMODEL")
                    .then(|| id.trim().parse().ok())
                    .flatten()
            })
            .collect()
    }

    /// Ours where taken, and ifc-lite's, of surface model `id`.
    fn both(text: &str, id: u32, rtc: Option<(f64, f64, f64)>) -> (Option<Mesh>, Mesh) {
        let mut decoder = EntityDecoder::new(text);
        let router = GeometryRouter::with_units(text, &mut decoder);
        let entity = decoder.decode_by_id(id).expect("test input");
        let quality = router.tessellation_quality();
        let ours =
            FastSurfaces::new().attempt(&entity, &mut decoder, router.schema(), quality, rtc);
        let builtin = FaceBasedSurfaceModelProcessor::new();
        let theirs = match rtc {
            None => builtin.process(&entity, &mut decoder, router.schema(), quality),
            Some(rtc) => builtin
                .process_in_rtc_frame(&entity, &mut decoder, router.schema(), quality, rtc)
                .expect("ifc-lite rebases surface models"),
        }
        .expect("test input");
        (ours, theirs)
    }

    /// The same triangles, bit for bit.
    fn assert_identical(what: &str, ours: &Mesh, theirs: &Mesh) {
        assert_eq!(ours.indices, theirs.indices, "{what}: indices");
        let bits = |m: &Mesh| m.positions.iter().map(|p| p.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(ours), bits(theirs), "{what}: positions");
        assert_eq!(ours.rtc_applied, theirs.rtc_applied, "{what}: rebased");
    }

    const POINTS: &str = "\
        #1=IFCCARTESIANPOINT((0.,0.,0.));#2=IFCCARTESIANPOINT((4.,0.,0.));\
        #3=IFCCARTESIANPOINT((4.,3.,0.));#4=IFCCARTESIANPOINT((0.,3.,0.));\
        #5=IFCCARTESIANPOINT((1.,1.,0.));#6=IFCCARTESIANPOINT((2.,4.,0.));\
        #7=IFCCARTESIANPOINT((2.,2.,5.));#8=IFCCARTESIANPOINT((1.,3.5,0.));\
        #100=IFCCARTESIANPOINT((2.,1.,0.));#101=IFCCARTESIANPOINT((1.5,2.,0.));";

    /// A triangle, a rectangle, a quad with a reflex corner, a loop written against its face
    /// and a convex pentagon: the triangles by hand, and ifc-lite's.
    #[test]
    fn plain_faces_are_fans_from_the_corner_a_hand_picks() {
        let faces = "\
            #10=IFCPOLYLOOP((#1,#2,#7));#11=IFCFACEOUTERBOUND(#10,.T.);#12=IFCFACE((#11));\
            #20=IFCPOLYLOOP((#1,#2,#3,#4));#21=IFCFACEOUTERBOUND(#20,.T.);#22=IFCFACE((#21));\
            #30=IFCPOLYLOOP((#2,#3,#5,#4));#31=IFCFACEOUTERBOUND(#30,.T.);#32=IFCFACE((#31));\
            #40=IFCPOLYLOOP((#1,#2,#3));#41=IFCFACEBOUND(#40,.F.);#42=IFCFACE((#41));\
            #50=IFCPOLYLOOP((#1,#2,#3,#6,#4));#51=IFCFACEOUTERBOUND(#50,.T.);#52=IFCFACE((#51));\
            #90=IFCCONNECTEDFACESET((#12,#22,#32,#42,#52));#91=IFCFACEBASEDSURFACEMODEL((#90));";
        let text = format!("{POINTS}{faces}");
        let (ours, theirs) = both(&text, 91, None);
        let ours = ours.expect("all plain faces");
        // The corners of each face in order, then its triangles: the triangle; the rectangle
        // split 0-2; the quad (4,0)(4,3)(1,1)(0,3), reflex at (1,1) (corner 2, so the turns at
        // corners 1 and 3 disagree) split 1-3 from (4,3) to (0,3); the reversed loop;
        // the pentagon fanned from its first corner.
        let expected: Vec<u32> = [
            vec![0, 1, 2],
            vec![3, 4, 5, 3, 5, 6],
            vec![8, 9, 10, 8, 10, 7],
            vec![11, 12, 13],
            vec![14, 15, 16, 14, 16, 17, 14, 17, 18],
        ]
        .concat();
        assert_eq!(ours.indices, expected);
        // The reversed loop's corners come back to front: (4,3,0) first.
        assert_eq!(&ours.positions[33..36], &[4.0, 3.0, 0.0]);
        assert_identical("hand-made", &ours, &theirs);
    }

    /// A face with a hole or a concave hexagon, between plain faces, is meshed by ifc-lite on
    /// its own, in its place: the same triangles as ifc-lite's of the whole item.
    #[test]
    fn faces_that_are_not_plain_polygons_are_ifc_lite_s_in_place() {
        let faces = "\
            #10=IFCPOLYLOOP((#1,#2,#3));#11=IFCFACEOUTERBOUND(#10,.T.);#12=IFCFACE((#11));\
            #20=IFCPOLYLOOP((#1,#2,#3,#4));#21=IFCFACEOUTERBOUND(#20,.T.);\
            #23=IFCPOLYLOOP((#5,#100,#101));#24=IFCFACEBOUND(#23,.T.);#22=IFCFACE((#21,#24));\
            #30=IFCPOLYLOOP((#1,#2,#3,#6,#4,#5));#31=IFCFACEOUTERBOUND(#30,.F.);#32=IFCFACE((#31));\
            #40=IFCPOLYLOOP((#4,#2,#3));#41=IFCFACEOUTERBOUND(#40,.T.);#42=IFCFACE((#41));\
            #90=IFCCONNECTEDFACESET((#12,#22,#32,#42));#91=IFCFACEBASEDSURFACEMODEL((#90));";
        let text = format!("{POINTS}{faces}");
        for rtc in [None, Some((1.5, -2.25, 3.0))] {
            let (ours, theirs) = both(&text, 91, rtc);
            let ours = ours.expect("IfcFaces that read");
            // 1 + (4 + 3 corners and a hole: 4 + 3 + 2 - 2 = 7) + 6 - 2 + 1 triangles.
            assert_eq!(ours.indices.len(), 3 * (1 + 7 + 4 + 1), "{rtc:?}");
            assert_identical(&format!("{rtc:?}"), &ours, &theirs);
        }
    }

    /// A face of another class, or a bound naming a point that is not there, hands the whole
    /// item to ifc-lite.
    #[test]
    fn other_faces_and_unreadable_bounds_hand_the_item_to_ifc_lite() {
        let plain =
            "#10=IFCPOLYLOOP((#1,#2,#3));#11=IFCFACEOUTERBOUND(#10,.T.);#12=IFCFACE((#11));";
        let others = [
            "#20=IFCPOLYLOOP((#1,#2,#3));#21=IFCFACEOUTERBOUND(#20,.T.);\
             #25=IFCPLANE($);#22=IFCFACESURFACE((#21),#25,.T.);",
            "#20=IFCPOLYLOOP((#1,#2,#99));#21=IFCFACEOUTERBOUND(#20,.T.);#22=IFCFACE((#21));",
        ];
        for other in others {
            let text = format!(
                "{POINTS}{plain}{other}#90=IFCCONNECTEDFACESET((#12,#22));\
                 #91=IFCFACEBASEDSURFACEMODEL((#90));"
            );
            let (ours, _) = both(&text, 91, None);
            assert!(ours.is_none(), "taken here: {other}");
        }
    }

    /// Every face-based surface model of the corpus that is taken here meshes to ifc-lite's
    /// triangles bit for bit, in the file's frame and rebased.
    #[test]
    fn plain_surface_models_mesh_as_ifc_lite_does() {
        let (mut taken, mut total) = (0, 0);
        let files = cross_check::corpus_files();
        for path in &files {
            let bytes = std::fs::read(path).expect("test input");
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let name = path.file_name().expect("test input").to_string_lossy();
            for id in surface_models(&text) {
                total += 1;
                for rtc in [None, Some((1234.5, -678.25, 9.0))] {
                    let (ours, theirs) = both(&text, id, rtc);
                    if let Some(ours) = ours {
                        assert_identical(&format!("{name} #{id} {rtc:?}"), &ours, &theirs);
                        taken += usize::from(rtc.is_none());
                    }
                }
            }
        }
        eprintln!("{taken} of {total} face-based surface models taken here");
        if !files.is_empty() {
            assert!(taken > 0, "no surface model of the corpus was taken here");
        }
    }
}
