//! Boolean results (`IfcBooleanResult`, `IfcBooleanClippingResult`): the common steel case in
//! our own code, everything else through ifc-lite.
//!
//! Steel detailing exports (Tekla) cut profiles with chains of `DIFFERENCE`s whose operands
//! are extruded solids: a beam extrusion minus copes, notches and slots, each a convex prism.
//! ifc-lite makes every such cut with its exact arrangement boolean, which is most of the
//! load time of those files. A chain of that shape is cut here instead by [`super::cut`]
//! (plane splits and caps, checked closed and volume-bounded); any other shape, and any cut
//! that construction refuses, goes through ifc-lite's own processor, whole item at once, so
//! a result is always entirely one or entirely the other.

use ifc_lite_core::{DecodedEntity, EntityDecoder, IfcSchema, IfcType};
use ifc_lite_geometry::{
    BoolFailure, BooleanClippingProcessor, ExtrudedAreaSolidProcessor, GeometryProcessor, Mesh,
    Result, TessellationQuality,
};

use super::cut;

/// Longest chain of cuts handled here (longer ones go to ifc-lite, which has its own bound).
const MAX_CUTS: usize = 64;

/// Why the fast path handed an item to ifc-lite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Declined {
    /// Not a chain of differences.
    Shape,
    /// The first operand is not an extruded solid.
    Base,
    /// A cutter is not an extruded solid.
    Cutter,
    /// An operand's mesh is not closed.
    Open,
    /// A cut refused.
    Cut(cut::Refusal),
    /// Nothing left.
    Empty,
}

/// The boolean processor registered on every meshing router.
pub(crate) struct FastBooleans {
    builtin: BooleanClippingProcessor,
}

impl FastBooleans {
    pub(crate) fn new() -> Self {
        Self {
            builtin: BooleanClippingProcessor::new(),
        }
    }

    /// The fast path, or why it was not taken.
    fn attempt(
        &self,
        entity: &DecodedEntity,
        decoder: &mut EntityDecoder,
        schema: &IfcSchema,
        quality: TessellationQuality,
    ) -> std::result::Result<Mesh, Declined> {
        let mut cutters = Vec::new();
        let mut node = entity.clone();
        loop {
            match node.ifc_type {
                IfcType::IfcBooleanResult | IfcType::IfcBooleanClippingResult => {
                    if cutters.len() >= MAX_CUTS {
                        return Err(Declined::Shape);
                    }
                    let operator = node.get(0).and_then(|v| v.as_enum());
                    if operator.map(|o| o.trim_matches('.')) != Some("DIFFERENCE") {
                        return Err(Declined::Shape);
                    }
                    let second = node
                        .get(2)
                        .and_then(|r| decoder.resolve_ref(r).ok().flatten())
                        .ok_or(Declined::Shape)?;
                    let cutter = match second.ifc_type {
                        IfcType::IfcExtrudedAreaSolid => Cutter::Extrusion(second),
                        IfcType::IfcHalfSpaceSolid => {
                            half_space(&second, decoder).ok_or(Declined::Cutter)?
                        }
                        _ => return Err(Declined::Cutter),
                    };
                    cutters.push(cutter);
                    node = node
                        .get(1)
                        .and_then(|r| decoder.resolve_ref(r).ok().flatten())
                        .ok_or(Declined::Shape)?;
                }
                IfcType::IfcExtrudedAreaSolid => break,
                _ => return Err(Declined::Base),
            }
        }
        let extrusion = ExtrudedAreaSolidProcessor::new(schema.clone());
        let base = extrusion
            .process(&node, decoder, schema, quality)
            .map_err(|_| Declined::Base)?;
        let mut host =
            cut::solid_from_triangles(&base.positions, &base.indices).ok_or(Declined::Open)?;
        // The spine was read from the top: the innermost cut comes first.
        for cutter in cutters.iter().rev() {
            let convex = match cutter {
                Cutter::Extrusion(entity) => {
                    let mesh = extrusion
                        .process(entity, decoder, schema, quality)
                        .map_err(|_| Declined::Cutter)?;
                    let solid = cut::solid_from_triangles(&mesh.positions, &mesh.indices)
                        .ok_or(Declined::Open)?;
                    cut::ConvexCutter::new(&solid).map_err(Declined::Cut)?
                }
                Cutter::HalfSpace { point, removed } => {
                    cut::ConvexCutter::half_space(*point, *removed, &host).map_err(Declined::Cut)?
                }
            };
            match cut::subtract(&host, &convex) {
                Ok(Some(next)) => host = next,
                Ok(None) => {}
                Err(refusal) => return Err(Declined::Cut(refusal)),
            }
        }
        if host.triangles.is_empty() {
            return Err(Declined::Empty);
        }
        Ok(to_mesh(&host))
    }
}

/// One second operand of the chain.
enum Cutter {
    Extrusion(DecodedEntity),
    /// An unbounded half-space: a point of its plane and the normal pointing out of the
    /// removed side.
    HalfSpace {
        point: [f64; 3],
        removed: [f64; 3],
    },
}

/// An `IfcHalfSpaceSolid` on an `IfcPlane` as a cutter, `None` when any part is unreadable.
/// Its AgreementFlag is TRUE when the plane's normal points away from the half-space's
/// material, which is what a DIFFERENCE removes.
fn half_space(entity: &DecodedEntity, decoder: &mut EntityDecoder) -> Option<Cutter> {
    let surface = decoder.resolve_ref(entity.get(0)?).ok()??;
    if surface.ifc_type != IfcType::IfcPlane {
        return None;
    }
    let agreement = match entity.get(1)?.as_enum()?.trim_matches('.') {
        "T" => true,
        "F" => false,
        _ => return None,
    };
    let position = decoder.resolve_ref(surface.get(0)?).ok()??;
    if position.ifc_type != IfcType::IfcAxis2Placement3D {
        return None;
    }
    let triple = |list: &[ifc_lite_core::AttributeValue]| -> Option<[f64; 3]> {
        let v: Vec<f64> = list.iter().map(|c| c.as_float()).collect::<Option<_>>()?;
        match v.as_slice() {
            [x, y, z] if v.iter().all(|c| c.is_finite()) => Some([*x, *y, *z]),
            _ => None,
        }
    };
    let location = decoder.resolve_ref(position.get(0)?).ok()??;
    let point = triple(location.get(0)?.as_list()?)?;
    let axis = match position.get(1) {
        Some(a) if !a.is_null() => {
            let direction = decoder.resolve_ref(a).ok()??;
            triple(direction.get(0)?.as_list()?)?
        }
        _ => [0.0, 0.0, 1.0],
    };
    let length = (axis[0] * axis[0] + axis[1] * axis[1] + axis[2] * axis[2]).sqrt();
    if length.is_nan() || length <= 0.0 {
        return None;
    }
    let axis = axis.map(|c| c / length);
    let removed = if agreement { axis } else { axis.map(|c| -c) };
    Some(Cutter::HalfSpace { point, removed })
}

/// A solid as an ifc-lite mesh, vertices shared where position and normal agree.
pub(crate) fn to_mesh(solid: &cut::Solid) -> Mesh {
    let mut mesh = Mesh::new();
    let mut map: std::collections::HashMap<([u32; 3], [u32; 3]), u32> = Default::default();
    for (t, tri) in solid.triangles.iter().enumerate() {
        let normal = solid.normals[t].map(|c| c as f32);
        for &i in tri {
            let p = solid.positions[i as usize].map(|c| c as f32);
            let key = (p.map(f32::to_bits), normal.map(f32::to_bits));
            let next = (mesh.positions.len() / 3) as u32;
            let id = *map.entry(key).or_insert_with(|| {
                mesh.positions.extend_from_slice(&p);
                mesh.normals.extend_from_slice(&normal);
                next
            });
            mesh.indices.push(id);
        }
    }
    mesh
}

impl GeometryProcessor for FastBooleans {
    fn process(
        &self,
        entity: &DecodedEntity,
        decoder: &mut EntityDecoder,
        schema: &IfcSchema,
        quality: TessellationQuality,
    ) -> Result<Mesh> {
        match self.attempt(entity, decoder, schema, quality) {
            Ok(mesh) => Ok(mesh),
            Err(why) => {
                tracing::trace!(id = entity.id, ?why, "boolean result handed to ifc-lite");
                self.builtin.process(entity, decoder, schema, quality)
            }
        }
    }

    fn supported_types(&self) -> Vec<IfcType> {
        vec![IfcType::IfcBooleanResult, IfcType::IfcBooleanClippingResult]
    }

    fn take_bool_failures(&self) -> Vec<BoolFailure> {
        self.builtin.take_failures()
    }

    fn bool_failure_count(&self) -> usize {
        GeometryProcessor::bool_failure_count(&self.builtin)
    }

    fn truncate_bool_failures_to(&self, since: usize) {
        GeometryProcessor::truncate_bool_failures_to(&self.builtin, since);
    }
}

#[cfg(test)]
mod tests {
    use super::super::cross_check;
    use super::*;
    use ifc_lite_geometry::GeometryRouter;

    /// Ids of boolean results that are no other boolean's operand.
    fn top_booleans(text: &str, decoder: &mut EntityDecoder) -> Vec<u32> {
        let mut ids = Vec::new();
        for statement in text.split(';') {
            let s = statement.trim();
            let Some(rest) = s.strip_prefix('#') else {
                continue;
            };
            let Some((id, body)) = rest.split_once('=') else {
                continue;
            };
            let body = body.trim_start();
            if (body.starts_with("IFCBOOLEANRESULT(")
                || body.starts_with("IFCBOOLEANCLIPPINGRESULT("))
                && let Ok(id) = id.trim().parse::<u32>()
            {
                ids.push(id);
            }
        }
        let mut operands = std::collections::HashSet::new();
        for &id in &ids {
            if let Ok(e) = decoder.decode_by_id(id) {
                operands.extend([e.get_ref(1), e.get_ref(2)].into_iter().flatten());
            }
        }
        ids.retain(|id| !operands.contains(id));
        ids
    }

    /// Volume, surface area and bounds of a mesh.
    fn stats(mesh: &Mesh) -> (f64, f64, [f64; 3], [f64; 3]) {
        cross_check::stats(std::slice::from_ref(mesh))
    }

    /// A 100 x 200 x 1000 bar (mm) with a 30 x 200 x 50 notch cut from one top corner by a
    /// box that overshoots it, then clipped at 900 by a half-space: volumes by hand, and the
    /// same as ifc-lite's.
    #[test]
    fn a_notched_and_clipped_bar_has_its_hand_computed_volume() {
        let text = "\
            #1=IFCCARTESIANPOINT((0.,0.,0.));\
            #2=IFCDIRECTION((0.,0.,1.));\
            #3=IFCAXIS2PLACEMENT3D(#1,$,$);\
            #4=IFCRECTANGLEPROFILEDEF(.AREA.,'bar',$,100.,200.);\
            #5=IFCEXTRUDEDAREASOLID(#4,#3,#2,1000.);\
            #6=IFCRECTANGLEPROFILEDEF(.AREA.,'notch',$,60.,300.);\
            #7=IFCCARTESIANPOINT((50.,0.,950.));\
            #8=IFCAXIS2PLACEMENT3D(#7,$,$);\
            #9=IFCEXTRUDEDAREASOLID(#6,#8,#2,100.);\
            #10=IFCBOOLEANRESULT(.DIFFERENCE.,#5,#9);\
            #11=IFCCARTESIANPOINT((0.,0.,900.));\
            #12=IFCAXIS2PLACEMENT3D(#11,#2,$);\
            #13=IFCPLANE(#12);\
            #14=IFCHALFSPACESOLID(#13,.F.);\
            #15=IFCBOOLEANCLIPPINGRESULT(.DIFFERENCE.,#10,#14);\
            #16=IFCHALFSPACESOLID(#13,.T.);\
            #17=IFCBOOLEANCLIPPINGRESULT(.DIFFERENCE.,#10,#16);";
        let mut decoder = EntityDecoder::new(text);
        let router = GeometryRouter::with_scale(1.0);
        let quality = router.tessellation_quality();
        let processor = FastBooleans::new();
        let builtin = BooleanClippingProcessor::new();
        // Notched: 20e6 - 30 * 200 * 50. Clipped above 900 (the notch is above it too):
        // 100 * 200 * 900. Clipped below 900 instead: 100 * 200 * 100 less the notch.
        for (id, expected) in [(10, 19_700_000.0), (15, 18_000_000.0), (17, 1_700_000.0)] {
            let entity = decoder.decode_by_id(id).expect("test input");
            let ours = processor
                .attempt(&entity, &mut decoder, router.schema(), quality)
                .expect("taken by the fast path");
            let theirs = builtin
                .process(&entity, &mut decoder, router.schema(), quality)
                .expect("test input");
            let (volume, area, _, _) = stats(&ours);
            let (their_volume, their_area, _, _) = stats(&theirs);
            assert!(
                (volume - expected).abs() <= 1e-6 * expected,
                "#{id}: {volume}"
            );
            assert!(
                (their_volume - expected).abs() <= 1e-3 * expected,
                "#{id}: {their_volume}"
            );
            assert!(
                (area - their_area).abs() <= 1e-6 * their_area,
                "#{id}: {area} {their_area}"
            );
        }
    }

    /// Every boolean item of the corpus that the fast path takes has the volume, the surface
    /// area and the bounding box of ifc-lite's exact result.
    #[test]
    fn fast_cuts_match_ifc_lite_on_the_corpus() {
        let (mut fast, mut total) = (0, 0);
        let mut declined = std::collections::HashMap::new();
        for path in cross_check::corpus_files() {
            let bytes = std::fs::read(&path).expect("test input");
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let mut decoder = EntityDecoder::new(&text);
            let router = GeometryRouter::with_units(&text, &mut decoder);
            let processor = FastBooleans::new();
            let builtin = BooleanClippingProcessor::new();
            let (mut file_fast, mut file_total) = (0, 0);
            for id in top_booleans(&text, &mut decoder) {
                let entity = decoder.decode_by_id(id).expect("test input");
                let quality = router.tessellation_quality();
                file_total += 1;
                let ours = match processor.attempt(&entity, &mut decoder, router.schema(), quality)
                {
                    Ok(mesh) => mesh,
                    Err(why) => {
                        eprintln!("handed to ifc-lite: {} #{id} ({why:?})", path.display());
                        *declined.entry(why).or_insert(0usize) += 1;
                        continue;
                    }
                };
                file_fast += 1;
                let theirs = builtin
                    .process(&entity, &mut decoder, router.schema(), quality)
                    .expect("test input");
                let name = path.file_name().expect("test input").to_string_lossy();
                cross_check::assert_same(&format!("{name} #{id}"), &[ours], &[theirs]);
            }
            eprintln!(
                "{}: {file_fast} of {file_total} boolean items cut here",
                path.file_name().expect("test input").to_string_lossy()
            );
            fast += file_fast;
            total += file_total;
        }
        eprintln!("{fast} of {total} boolean items cut here; handed to ifc-lite: {declined:?}");
    }
}
