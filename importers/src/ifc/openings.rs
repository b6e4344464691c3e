//! Openings (`IfcRelVoidsElement`) cut by our own cutter where the shapes are simple: a host
//! whose body is one extruded solid or faceted brep, voided by openings whose bodies are each
//! one extruded solid, block or faceted brep (windows and doors in walls, stairwells in slabs:
//! the common case in real buildings and every opening of a generated district; ArchiCAD
//! writes the layers of its walls, and many of its openings, as faceted breps).
//!
//! The host and each opening are meshed by ifc-lite without voids (placements, profiles and
//! units as everywhere else), welded into closed solids, and each opening is subtracted as a
//! convex cutter by [`super::cut`], whose result is checked closed and volume-bounded. Any
//! other shape, and any cut that construction refuses, goes through ifc-lite's own opening
//! cut, whole product at once, so a product is always entirely one or entirely the other
//! (the same contract as `boolean` for `IfcBooleanResult` chains).

use ifc_lite_core::{DecodedEntity, EntityDecoder, IfcType};
use ifc_lite_geometry::{GeometryRouter, Mesh};

use super::boolean::to_mesh;
use super::cut;
use crate::geo::mesh::{add, cross, dot, normalize, sub};

/// Most openings of one host cut here (more go to ifc-lite, which has its own bounds).
const MAX_OPENINGS: usize = 256;
/// Most body items of one opening cut here, each a convex cutter of its own.
const MAX_OPENING_ITEMS: usize = 16;
/// Most body items of one host cut here, each cut by every opening.
const MAX_HOST_ITEMS: usize = 16;

/// Why a product was handed to ifc-lite's opening cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Declined {
    /// The host's body is not one to [`MAX_HOST_ITEMS`] extruded solids or faceted breps.
    Host,
    /// An item of an opening's body is not an extruded solid, block or faceted brep (or it has
    /// more than [`MAX_OPENING_ITEMS`]).
    Opening,
    /// More openings than [`MAX_OPENINGS`].
    TooMany,
    /// A mesh of ifc-lite's is not one closed solid.
    Open,
    /// A cut refused.
    Cut(cut::Refusal),
    /// Nothing of the host is left.
    Empty,
}

/// The body items of `product` (IfcProduct.Representation is attribute 6): the items of its
/// shape representations named `Body` (or unnamed), `None` when unreadable.
fn body_items(product: &DecodedEntity, decoder: &mut EntityDecoder) -> Option<Vec<DecodedEntity>> {
    let shape = decoder.resolve_ref(product.get(6)?).ok()??;
    let mut items = Vec::new();
    for representation in decoder.resolve_ref_list(shape.get(2)?).ok()? {
        let identifier = representation.get(1).and_then(|v| v.as_string());
        match identifier {
            Some(i) if i.eq_ignore_ascii_case("Body") => {}
            None => {}
            // Axis, footprint, box and other non-body representations are not meshed as body.
            Some(_) => continue,
        }
        items.extend(decoder.resolve_ref_list(representation.get(3)?).ok()?);
    }
    Some(items)
}

/// How many items `product`'s body has, when it has one to `most` and each is of one of
/// `kinds`; `None` otherwise (or when the body does not read).
fn body_count(
    product: &DecodedEntity,
    decoder: &mut EntityDecoder,
    kinds: &[IfcType],
    most: usize,
) -> Option<usize> {
    let items = body_items(product, decoder)?;
    ((1..=most).contains(&items.len()) && items.iter().all(|i| kinds.contains(&i.ifc_type)))
        .then_some(items.len())
}

/// ifc-lite's mesh of `product` without voids, as one closed solid in the frame of `origin`
/// (the host's), or `None` when it is several parts or not closed.
fn solid_of(
    router: &GeometryRouter,
    decoder: &mut EntityDecoder,
    product: &DecodedEntity,
    origin: Option<[f64; 3]>,
) -> Result<(cut::Solid, [f64; 3]), Declined> {
    let (mut solids, origin) = solids_of(router, decoder, product, origin, false)?;
    match solids.pop() {
        Some(solid) if solids.is_empty() => Ok((solid, origin)),
        _ => Err(Declined::Open),
    }
}

/// ifc-lite's meshes of `product` without voids, one closed solid per part, in the frame of
/// `origin` (the first part's when `None`); `Err` when a part is not closed. With `per_item`,
/// one part per body item (ifc-lite's sub-meshes), else ifc-lite's frame parts (one mesh
/// unless items lie kilometres apart).
fn solids_of(
    router: &GeometryRouter,
    decoder: &mut EntityDecoder,
    product: &DecodedEntity,
    origin: Option<[f64; 3]>,
    per_item: bool,
) -> Result<(Vec<cut::Solid>, [f64; 3]), Declined> {
    let parts = if per_item {
        router
            .process_element_with_submeshes(product, decoder)
            .map_err(|_| Declined::Open)?
            .sub_meshes
            .into_iter()
            .map(|sub| sub.mesh)
            .collect()
    } else {
        router
            .process_element_parts(product, decoder)
            .map_err(|_| Declined::Open)?
    };
    let origin = origin
        .or_else(|| parts.first().map(|mesh| mesh.origin))
        .ok_or(Declined::Open)?;
    let mut solids = Vec::with_capacity(parts.len());
    for mesh in &parts {
        let shift: [f64; 3] = std::array::from_fn(|k| mesh.origin[k] - origin[k]);
        let points = mesh
            .positions
            .chunks_exact(3)
            .map(|v| std::array::from_fn(|k| f64::from(v[k]) + shift[k]))
            .collect();
        solids.push(cut::solid_from_points(points, &mesh.indices).ok_or(Declined::Open)?);
    }
    Ok((solids, origin))
}

/// The coordinates of an `IfcCartesianPoint` or `IfcDirection` named by `attr`, padded to three.
fn coordinates(
    decoder: &mut EntityDecoder,
    attr: Option<&ifc_lite_core::AttributeValue>,
) -> Option<[f64; 3]> {
    let entity = decoder.resolve_ref(attr?).ok()??;
    let list = entity.get(0)?.as_list()?;
    let mut out = [0.0; 3];
    if list.is_empty() || list.len() > 3 {
        return None;
    }
    for (k, v) in list.iter().enumerate() {
        out[k] = v.as_float().filter(|c| c.is_finite())?;
    }
    Some(out)
}

/// An `IfcAxis2Placement3D` (or 2D, its z axis up) as its origin and x, y, z axes, lengths
/// scaled to metres; absent (`$`) is the identity.
fn axes(
    decoder: &mut EntityDecoder,
    attr: Option<&ifc_lite_core::AttributeValue>,
    scale: f64,
) -> Option<[[f64; 3]; 4]> {
    let identity = [[0.0; 3], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    let Some(attr) = attr.filter(|a| !a.is_null()) else {
        return Some(identity);
    };
    let placement = decoder.resolve_ref(attr).ok()??;
    let origin = coordinates(decoder, placement.get(0))?.map(|c| c * scale);
    let (z, reference) = if placement.ifc_type == IfcType::IfcAxis2Placement2D {
        ([0.0, 0.0, 1.0], placement.get(1))
    } else {
        let z = match placement.get(1).filter(|a| !a.is_null()) {
            Some(a) => normalize(coordinates(decoder, Some(a))?)?,
            None => [0.0, 0.0, 1.0],
        };
        (z, placement.get(2))
    };
    let reference = match reference.filter(|a| !a.is_null()) {
        Some(a) => coordinates(decoder, Some(a))?,
        None => [1.0, 0.0, 0.0],
    };
    let along = dot(reference, z);
    let x = normalize(std::array::from_fn(|k| reference[k] - along * z[k]))?;
    Some([origin, x, cross(z, x), z])
}

/// `p` in the frame `axes` (origin, x, y, z).
fn apply(axes: &[[f64; 3]; 4], p: [f64; 3]) -> [f64; 3] {
    std::array::from_fn(|k| axes[0][k] + axes[1][k] * p[0] + axes[2][k] * p[1] + axes[3][k] * p[2])
}

/// The body of `product`, when it is one `IfcExtrudedAreaSolid` of an `IfcRectangleProfileDef`,
/// as a closed, outward-facing solid built in `f64` from the file's numbers, in world metres
/// (the frame of [`GeometryRouter::resolve_scaled_placement`]).
fn exact_prism(
    router: &GeometryRouter,
    decoder: &mut EntityDecoder,
    product: &DecodedEntity,
    scale: f64,
) -> Option<cut::Solid> {
    let [item] = body_items(product, decoder)?.try_into().ok()?;
    if item.ifc_type != IfcType::IfcExtrudedAreaSolid {
        return None;
    }
    let profile = decoder.resolve_ref(item.get(0)?).ok()??;
    if profile.ifc_type != IfcType::IfcRectangleProfileDef {
        return None;
    }
    let (xd, yd) = (profile.get_float(3)? * scale, profile.get_float(4)? * scale);
    let depth = item.get_float(3)? * scale;
    if ![xd, yd, depth].iter().all(|v| v.is_finite() && *v > 0.0) {
        return None;
    }
    let in_profile = axes(decoder, profile.get(2), scale)?;
    let position = axes(decoder, item.get(1), scale)?;
    let lift = normalize(coordinates(decoder, item.get(2))?)?.map(|c| c * depth);
    let w = router.resolve_scaled_placement(product, decoder).ok()?;
    let world = [
        [w[12], w[13], w[14]],
        [w[0], w[1], w[2]],
        [w[4], w[5], w[6]],
        [w[8], w[9], w[10]],
    ];
    let to_world = |p| apply(&world, apply(&position, p));
    let corners = [(-0.5, -0.5), (0.5, -0.5), (0.5, 0.5), (-0.5, 0.5)]
        .map(|(a, b)| apply(&in_profile, [a * xd, b * yd, 0.0]));
    let bottom = corners.map(to_world);
    let top = corners.map(|c| to_world(add(c, lift)));
    let mut indices: Vec<u32> = vec![0, 2, 1, 0, 3, 2, 4, 5, 6, 4, 6, 7];
    for i in 0..4u32 {
        let j = (i + 1) % 4;
        indices.extend_from_slice(&[i, j, j + 4, i, j + 4, i + 4]);
    }
    let mut solid = cut::solid_from_points([bottom, top].concat(), &indices)?;
    // Turned over when the winding encloses a negative volume (an extrusion towards the
    // profile's back, or a mirroring placement).
    if cut::volume(&solid) < 0.0 {
        solid.triangles.iter_mut().for_each(|t| t.swap(1, 2));
        solid.normals.iter_mut().for_each(|n| *n = n.map(|c| -c));
    }
    Some(solid)
}

/// Whether `exact` (world metres) lies where ifc-lite's mesh `meshed` (in the frame of
/// `origin`) does, corner for corner of their bounds, to within `f32` rounding at the
/// magnitude of the coordinates in that frame.
fn lies_on(exact: &cut::Solid, meshed: &cut::Solid, origin: [f64; 3]) -> bool {
    let (a, b) = (cut::bounds_of(exact), cut::bounds_of(meshed));
    let (min, max) = (sub(a.0, origin), sub(a.1, origin));
    let magnitude = (0..3)
        .map(|k| min[k].abs().max(max[k].abs()))
        .fold(1.0, f64::max);
    let slack = magnitude * 1e-6;
    (0..3).all(|k| (min[k] - b.0[k]).abs() <= slack && (max[k] - b.1[k]).abs() <= slack)
}

/// `host` with every opening of `openings` cut by [`cut::subtract`], as one mesh in the
/// host's frame; `Err` (why) when any of it is outside what this handles, and the whole
/// product must go through ifc-lite.
pub(crate) fn cut_openings(
    router: &GeometryRouter,
    decoder: &mut EntityDecoder,
    host: &DecodedEntity,
    openings: &[u32],
) -> Result<Mesh, Declined> {
    if openings.len() > MAX_OPENINGS {
        return Err(Declined::TooMany);
    }
    let kinds = [IfcType::IfcExtrudedAreaSolid, IfcType::IfcFacetedBrep];
    let items = body_count(host, decoder, &kinds, MAX_HOST_ITEMS).ok_or(Declined::Host)?;
    if items > 1 {
        return cut_items(router, decoder, host, openings, items);
    }
    let (meshed, origin) = solid_of(router, decoder, host, None)?;
    let solid = match exact_operands(router, decoder, host, openings, origin, &meshed) {
        Some((exact, cutters)) => cut_all(exact, cutters.into_iter().map(Ok))?,
        None => cut_all(
            meshed,
            openings
                .iter()
                .flat_map(|&id| match meshed_cutters(router, decoder, id, origin) {
                    Ok(cutters) => cutters.into_iter().map(Ok).collect(),
                    Err(why) => vec![Err(why)],
                }),
        )?,
    };
    let mut mesh = to_mesh(&solid);
    mesh.origin = origin;
    Ok(mesh)
}

/// `host` whose body is `count` items (each an extruded solid or faceted brep, as ArchiCAD
/// writes a wall layer that runs round a corner) with every opening cut from each item in
/// turn: the openings removed from a union of solids are removed from each of them. One mesh
/// of every item's result in the frame of the first item; an item the openings remove
/// entirely adds nothing.
fn cut_items(
    router: &GeometryRouter,
    decoder: &mut EntityDecoder,
    host: &DecodedEntity,
    openings: &[u32],
    count: usize,
) -> Result<Mesh, Declined> {
    let (solids, origin) = solids_of(router, decoder, host, None, true)?;
    if solids.len() != count {
        return Err(Declined::Open);
    }
    let mut cutters = Vec::new();
    for &id in openings {
        cutters.extend(meshed_cutters(router, decoder, id, origin)?);
    }
    let mut mesh = Mesh::new();
    for solid in solids {
        match cut_all(solid, cutters.iter().cloned().map(Ok)) {
            Ok(solid) => {
                let mut part = to_mesh(&solid);
                part.origin = origin;
                mesh.merge(&part);
            }
            Err(Declined::Empty) => {}
            Err(why) => return Err(why),
        }
    }
    if mesh.is_empty() {
        return Err(Declined::Empty);
    }
    // Every part is in the frame of `origin`: the merged mesh took it from the first.
    Ok(mesh)
}

/// The opening `#id` as ifc-lite meshes it, in the frame of `origin`, one solid per part,
/// when every item of its body is an extruded solid, block or faceted brep (ArchiCAD writes
/// an opening with a reveal as several breps). Subtracting the parts one after another
/// subtracts their union; a part that is not convex is refused by [`cut::ConvexCutter::new`].
fn meshed_cutters(
    router: &GeometryRouter,
    decoder: &mut EntityDecoder,
    id: u32,
    origin: [f64; 3],
) -> Result<Vec<cut::Solid>, Declined> {
    let opening = decoder.decode_by_id(id).map_err(|_| Declined::Opening)?;
    let kinds = [
        IfcType::IfcExtrudedAreaSolid,
        IfcType::IfcBlock,
        IfcType::IfcFacetedBrep,
    ];
    let items =
        body_count(&opening, decoder, &kinds, MAX_OPENING_ITEMS).ok_or(Declined::Opening)?;
    let (solids, _) = solids_of(router, decoder, &opening, Some(origin), items > 1)?;
    if solids.len() != items {
        return Err(Declined::Open);
    }
    Ok(solids)
}

/// `solid` less each cutter in turn, its coplanar pieces merged; the first refusal, if any.
fn cut_all(
    mut solid: cut::Solid,
    cutters: impl IntoIterator<Item = Result<cut::Solid, Declined>>,
) -> Result<cut::Solid, Declined> {
    for cutter in cutters {
        let convex = cut::ConvexCutter::new(&cutter?).map_err(Declined::Cut)?;
        match cut::subtract(&solid, &convex) {
            Ok(Some(next)) => solid = next,
            Ok(None) => {}
            Err(refusal) => return Err(Declined::Cut(refusal)),
        }
    }
    if solid.triangles.is_empty() {
        return Err(Declined::Empty);
    }
    // The cuts leave each face in many pieces; fewer triangles draw faster and take less memory.
    if let Some(merged) = cut::merge_coplanar(&solid) {
        solid = merged;
    }
    Ok(solid)
}

/// The host and every opening built exactly ([`exact_prism`]) in the frame of `origin`, when
/// each is a rectangle extrusion and the exact host [`lies_on`] ifc-lite's mesh of it
/// (`meshed`), so both agree on the frame. ifc-lite's meshes come in `f32`: far from the
/// origin their corners are rounded by tens of micrometres, cutters fitted to them disagree on
/// shared planes, and cuts that meet (stacked windows) do not close.
fn exact_operands(
    router: &GeometryRouter,
    decoder: &mut EntityDecoder,
    host: &DecodedEntity,
    openings: &[u32],
    origin: [f64; 3],
    meshed: &cut::Solid,
) -> Option<(cut::Solid, Vec<cut::Solid>)> {
    let scale = router.unit_scale();
    let shifted = |mut solid: cut::Solid| {
        for p in &mut solid.positions {
            *p = sub(*p, origin);
        }
        solid
    };
    let exact = exact_prism(router, decoder, host, scale)?;
    if !lies_on(&exact, meshed, origin) {
        return None;
    }
    let mut cutters = Vec::with_capacity(openings.len());
    for &id in openings {
        let opening = decoder.decode_by_id(id).ok()?;
        cutters.push(shifted(exact_prism(router, decoder, &opening, scale)?));
    }
    Some((shifted(exact), cutters))
}

#[cfg(test)]
mod tests {
    use super::super::cross_check;
    use super::*;
    use ifc_lite_geometry::void_index_from_content;

    /// Cuts every host with openings of `text` here and by ifc-lite, asserts that each one cut
    /// here matches ifc-lite's exact cut, and returns (cut here, hosts) and why the others
    /// were declined.
    fn cross_check_file(
        name: &str,
        text: &str,
        declined: &mut std::collections::BTreeMap<String, usize>,
    ) -> (usize, usize) {
        let mut decoder = EntityDecoder::new(text);
        let router = GeometryRouter::with_units(text, &mut decoder);
        let voids = void_index_from_content(text, &mut decoder);
        let mut hosts: Vec<_> = voids.keys().copied().collect();
        hosts.sort_unstable();
        let mut fast = 0;
        for &id in &hosts {
            let host = decoder.decode_by_id(id).expect("test input");
            let ours = match cut_openings(&router, &mut decoder, &host, &voids[&id]) {
                Ok(mesh) => mesh,
                Err(why) => {
                    *declined.entry(format!("{why:?}")).or_default() += 1;
                    continue;
                }
            };
            fast += 1;
            let theirs = router
                .process_element_with_voids_parts(&host, &mut decoder, &voids)
                .expect("test input");
            cross_check::assert_same(&format!("{name} #{id}"), &[ours], &theirs);
        }
        eprintln!(
            "{name}: {fast} of {} hosts with openings cut here",
            hosts.len()
        );
        (fast, hosts.len())
    }

    /// An opening that fills the host's notch exactly and reaches out of it, as ArchiCAD writes
    /// the layers of a wall whose openings are already cut out of them.
    const NOTCH: [[f64; 3]; 2] = [[0.5, -0.1, 0.8], [1.0, 1.1, 1.3]];
    /// An opening through the solid part of the host, from its front past its back.
    const HOLE: [[f64; 3]; 2] = [[1.4, -0.1, 0.2], [1.6, 1.1, 0.6]];

    /// A file of one faceted brep host voided by `openings`, each one or more faceted brep
    /// boxes (lower and upper corners), one body item each. The host is a U seen from the
    /// front: 2 m wide, 1 m deep, 1 m high, with a 0.5 m wide, 0.2 m deep notch in its top.
    fn notched_brep(openings: &[&[[[f64; 3]; 2]]], second: Option<[[f64; 3]; 2]>) -> String {
        // Points of the host: the U's eight corners at y = 0 and at y = 1.
        let corners = [
            (0., 0.),
            (2., 0.),
            (2., 1.),
            (1., 1.),
            (1., 0.8),
            (0.5, 0.8),
            (0.5, 1.),
            (0., 1.),
        ];
        let mut text = String::from(
            "#1=IFCCARTESIANPOINT((0.,0.,0.));#2=IFCAXIS2PLACEMENT3D(#1,$,$);\
             #3=IFCLOCALPLACEMENT($,#2);\
             #4=IFCGEOMETRICREPRESENTATIONCONTEXT($,'Model',3,1.E-05,#2,$);\
             #5=IFCSIUNIT(*,.LENGTHUNIT.,$,.METRE.);#6=IFCUNITASSIGNMENT((#5));\
             #7=IFCPROJECT('0000000000000000000001',$,'p',$,$,$,$,(#4),#6);",
        );
        let mut id = 100;
        let mut next = || {
            id += 1;
            id
        };
        // A faceted brep from its faces (each a list of point ids); returns the brep's id.
        let brep = |text: &mut String, faces: &[Vec<u32>], next: &mut dyn FnMut() -> u32| {
            let mut face_ids = Vec::new();
            for face in faces {
                let (l, b, f) = (next(), next(), next());
                let points: Vec<String> = face.iter().map(|p| format!("#{p}")).collect();
                text.push_str(&format!(
                    "#{l}=IFCPOLYLOOP(({}));#{b}=IFCFACEOUTERBOUND(#{l},.T.);#{f}=IFCFACE((#{b}));",
                    points.join(",")
                ));
                face_ids.push(format!("#{f}"));
            }
            let (shell, solid) = (next(), next());
            text.push_str(&format!(
                "#{shell}=IFCCLOSEDSHELL(({}));#{solid}=IFCFACETEDBREP(#{shell});",
                face_ids.join(",")
            ));
            solid
        };
        // A point; returns its id.
        let point = |text: &mut String, p: [f64; 3], next: &mut dyn FnMut() -> u32| {
            let i = next();
            text.push_str(&format!(
                "#{i}=IFCCARTESIANPOINT(({:?},{:?},{:?}));",
                p[0], p[1], p[2]
            ));
            i
        };
        // The U: front ring (y = 0) counter-clockwise seen from the front, back ring the same.
        let front: Vec<u32> = corners
            .iter()
            .map(|&(x, z)| point(&mut text, [x, 0., z], &mut next))
            .collect();
        let back: Vec<u32> = corners
            .iter()
            .map(|&(x, z)| point(&mut text, [x, 1., z], &mut next))
            .collect();
        // Outward, counter-clockwise seen from outside: the front ring as it is, the back one
        // reversed, each side from front to back against the ring.
        let mut faces = vec![
            front.clone(),
            back.iter().rev().copied().collect::<Vec<_>>(),
        ];
        for i in 0..8 {
            let j = (i + 1) % 8;
            faces.push(vec![front[j], front[i], back[i], back[j]]);
        }
        let host = brep(&mut text, &faces, &mut next);
        // An axis-aligned box as a brep, outward faces; returns its id.
        let block =
            |text: &mut String, lo: [f64; 3], hi: [f64; 3], next: &mut dyn FnMut() -> u32| {
                let c: Vec<u32> = (0..8)
                    .map(|k| {
                        let p = [
                            if k & 1 == 0 { lo[0] } else { hi[0] },
                            if k & 2 == 0 { lo[1] } else { hi[1] },
                            if k & 4 == 0 { lo[2] } else { hi[2] },
                        ];
                        point(text, p, next)
                    })
                    .collect();
                let faces: Vec<Vec<u32>> = cut::BOX_FACES
                    .iter()
                    .map(|q| q.iter().map(|&k| c[k]).collect())
                    .collect();
                brep(text, &faces, next)
            };
        let product =
            |text: &mut String, class: &str, items: &[u32], next: &mut dyn FnMut() -> u32| {
                let (rep, shape, p) = (next(), next(), next());
                let items: Vec<String> = items.iter().map(|i| format!("#{i}")).collect();
                let items = items.join(",");
                text.push_str(&format!(
                    "#{rep}=IFCSHAPEREPRESENTATION(#4,'Body','Brep',({items}));\
                 #{shape}=IFCPRODUCTDEFINITIONSHAPE($,$,(#{rep}));\
                 #{p}={class}('0000000000000000000{p:03}',$,$,$,$,#3,#{shape},$);"
                ));
                p
            };
        let mut items = vec![host];
        items.extend(second.map(|[lo, hi]| block(&mut text, lo, hi, &mut next)));
        let wall = product(&mut text, "IFCWALL", &items, &mut next);
        for &boxes in openings {
            let items: Vec<u32> = boxes
                .iter()
                .map(|&[lo, hi]| block(&mut text, lo, hi, &mut next))
                .collect();
            let opening = product(&mut text, "IFCOPENINGELEMENT", &items, &mut next);
            let rel = next();
            text.push_str(&format!(
                "#{rel}=IFCRELVOIDSELEMENT('0000000000000000000{rel:03}',$,$,$,#{wall},#{opening});"
            ));
        }
        text
    }

    /// The volume and bounds of `openings` cut from [`notched_brep`] (with its `second` item)
    /// here (checked against ifc-lite's exact cut), or why it was declined.
    fn cut_notched(
        openings: &[&[[[f64; 3]; 2]]],
        second: Option<[[f64; 3]; 2]>,
    ) -> Result<(f64, [f64; 3], [f64; 3]), Declined> {
        let text = notched_brep(openings, second);
        let mut decoder = EntityDecoder::new(&text);
        let router = GeometryRouter::with_units(&text, &mut decoder);
        let voids = void_index_from_content(&text, &mut decoder);
        let [(&host, voiding)] = voids.iter().collect::<Vec<_>>()[..] else {
            panic!("one host in the test input: {voids:?}");
        };
        let entity = decoder.decode_by_id(host).expect("test input");
        let ours = cut_openings(&router, &mut decoder, &entity, voiding)?;
        let theirs = router
            .process_element_with_voids_parts(&entity, &mut decoder, &voids)
            .expect("test input");
        let (volume, _, min, max) = cross_check::stats(std::slice::from_ref(&ours));
        cross_check::assert_same("notched brep", &[ours], &theirs);
        Ok((volume, min, max))
    }

    /// Faceted breps are cut here, as ifc-lite cuts them: an opening through the solid part of
    /// a notched host removes what it crosses, 2 - 0.5 x 1 x 0.2 - 0.2 x 1 x 0.4 = 1.82 m³ by
    /// hand; one that only fills the notch, its faces on the host's, removes nothing (1.9 m³);
    /// an opening of several items removes their union, whether they meet or overlap. The
    /// bounds stay the host's.
    #[test]
    fn faceted_brep_hosts_and_openings_have_their_hand_computed_volumes() {
        let close = |a: [f64; 3], b: [f64; 3]| a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-6);
        // The hole as two items side by side, and as two that overlap by 0.1 m.
        let halves = [[HOLE[0], [1.5, 1.1, 0.6]], [[1.5, -0.1, 0.2], HOLE[1]]];
        let overlapping = [[HOLE[0], [1.55, 1.1, 0.6]], [[1.45, -0.1, 0.2], HOLE[1]]];
        for (openings, expected) in [
            (&[&[HOLE][..]][..], 1.82),
            (&[&[NOTCH][..]][..], 1.9),
            (&[&[NOTCH][..], &[HOLE][..]][..], 1.82),
            (&[&halves[..]][..], 1.82),
            (&[&overlapping[..], &[NOTCH][..]][..], 1.82),
        ] {
            let (volume, min, max) =
                cut_notched(openings, None).unwrap_or_else(|why| panic!("declined ({why:?})"));
            assert!(
                (volume - expected).abs() <= 1e-6,
                "{volume} m³, {expected} by hand"
            );
            assert!(
                close(min, [0.0; 3]) && close(max, [2.0, 1.0, 1.0]),
                "bounds {min:?} {max:?}"
            );
        }
    }

    /// A host of two body items (ArchiCAD writes a wall layer that turns a corner so) has each
    /// item cut by every opening: the U (1.9 m³) and a 1 m cube beside it (2.9 m³ in all), an
    /// opening 1.2 m wide across their joint, 1 m through and 0.4 m high, removes 0.6 x 1 x
    /// 0.4 = 0.24 m³ from each: 2.42 m³ by hand. An opening that misses the cube and fills the
    /// U's notch removes nothing; one that swallows the cube and the U's last 0.1 m leaves
    /// 1.9 - 0.1 x 1 x 1 = 1.8 m³. Each is also checked against ifc-lite's exact cut.
    #[test]
    fn hosts_of_several_items_have_each_item_cut() {
        let cube = [[2.0, 0.0, 0.0], [3.0, 1.0, 1.0]];
        let across = [[1.4, -0.1, 0.2], [2.6, 1.1, 0.6]];
        let swallow = [[1.9, -0.1, -0.1], [3.1, 1.1, 1.1]];
        for (openings, expected, max_x) in [
            (&[&[across][..]][..], 2.42, 3.0),
            (&[&[NOTCH][..]][..], 2.9, 3.0),
            (&[&[swallow][..]][..], 1.9 - 0.1 * 1.0 * 1.0, 1.9),
        ] {
            let (volume, min, max) = cut_notched(openings, Some(cube))
                .unwrap_or_else(|why| panic!("declined ({why:?})"));
            assert!(
                (volume - expected).abs() <= 1e-6,
                "{volume} m³, {expected} by hand"
            );
            assert!(
                (max[0] - max_x).abs() <= 1e-6 && min.iter().all(|c| c.abs() <= 1e-6),
                "bounds {min:?} {max:?}"
            );
        }
    }

    /// Every host and opening that [`exact_prism`] builds, on the corpus and a district, lies
    /// where ifc-lite meshes it (bounds within `f32` rounding) with its volume; and the exact
    /// path is taken on the corpus.
    #[test]
    fn exact_prisms_lie_where_ifc_lite_meshes_them() {
        let district = renewtwin_generator::district_ifc(&renewtwin_generator::DistrictConfig {
            buildings: 2,
            seed: 3,
            ..Default::default()
        });
        let mut texts: Vec<(String, String)> = cross_check::corpus_files()
            .into_iter()
            .map(|path| {
                let bytes = std::fs::read(&path).expect("test input");
                (
                    path.display().to_string(),
                    String::from_utf8_lossy(&bytes).into_owned(),
                )
            })
            .collect();
        texts.push(("district".to_owned(), district));
        let mut built = 0;
        for (name, text) in &texts {
            let text: &str = text;
            let mut decoder = EntityDecoder::new(text);
            let router = GeometryRouter::with_units(text, &mut decoder);
            let voids = void_index_from_content(text, &mut decoder);
            let mut ids: Vec<u32> = voids
                .iter()
                .flat_map(|(h, o)| std::iter::once(*h).chain(o.iter().copied()))
                .collect();
            ids.sort_unstable();
            ids.dedup();
            for id in ids {
                let entity = decoder.decode_by_id(id).expect("test input");
                let Some(exact) = exact_prism(&router, &mut decoder, &entity, router.unit_scale())
                else {
                    continue;
                };
                let Ok((meshed, origin)) = solid_of(&router, &mut decoder, &entity, None) else {
                    continue;
                };
                assert!(
                    lies_on(&exact, &meshed, origin),
                    "{name} #{id}: {:?} against ifc-lite's {:?} + {origin:?}",
                    cut::bounds_of(&exact),
                    cut::bounds_of(&meshed)
                );
                let (v, w) = (cut::volume(&exact), cut::volume(&meshed));
                assert!(
                    v > 0.0 && (v - w).abs() <= 1e-4 * v,
                    "{name} #{id}: volume {v} against ifc-lite's {w}"
                );
                built += 1;
            }
        }
        assert!(
            built > 0,
            "no rectangle extrusion among the hosts and openings"
        );
        eprintln!("{built} exact prisms checked against ifc-lite");
    }

    /// Every host whose openings the fast path takes, on the corpus and on generated districts,
    /// has the volume, surface area and bounds of ifc-lite's exact cut; and the fast path
    /// takes the openings of a generated district's walls and slabs.
    #[test]
    fn fast_openings_match_ifc_lite_on_the_corpus_and_districts() {
        let mut declined = std::collections::BTreeMap::new();
        let (mut fast, mut total) = (0, 0);
        for path in cross_check::corpus_files() {
            let bytes = std::fs::read(&path).expect("test input");
            let text = String::from_utf8_lossy(&bytes);
            let name = path.file_name().expect("test input").to_string_lossy();
            let (f, t) = cross_check_file(&name, &text, &mut declined);
            fast += f;
            total += t;
        }
        eprintln!("corpus: {fast} of {total} hosts cut here; handed to ifc-lite: {declined:?}");
        for (buildings, seed) in [(3, 7), (5, 1)] {
            let config = renewtwin_generator::DistrictConfig {
                buildings,
                seed,
                ..Default::default()
            };
            let text = renewtwin_generator::district_ifc(&config);
            let mut declined = std::collections::BTreeMap::new();
            let name = format!("district of {buildings} buildings, seed {seed}");
            let (f, t) = cross_check_file(&name, &text, &mut declined);
            assert!(
                t > 0 && f == t,
                "{name}: only {f} of {t} hosts cut here: {declined:?}"
            );
        }
    }
}
