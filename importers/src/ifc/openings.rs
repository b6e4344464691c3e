//! Openings (`IfcRelVoidsElement`) cut by our own cutter where the shapes are simple: a host
//! whose body is one extruded solid, voided by openings whose bodies are each one extruded
//! solid or block (windows and doors in walls, stairwells in slabs: the common case in real
//! buildings and every opening of a generated district).
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

/// Most openings of one host cut here (more go to ifc-lite, which has its own bounds).
const MAX_OPENINGS: usize = 256;

/// Why a product was handed to ifc-lite's opening cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Declined {
    /// The host's body is not one extruded solid.
    Host,
    /// An opening's body is not one extruded solid or block.
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

/// Whether `product`'s body is exactly one item of one of `kinds`.
fn single_item_of(product: &DecodedEntity, decoder: &mut EntityDecoder, kinds: &[IfcType]) -> bool {
    body_items(product, decoder)
        .is_some_and(|items| matches!(items.as_slice(), [item] if kinds.contains(&item.ifc_type)))
}

/// ifc-lite's mesh of `product` without voids, as one closed solid in the frame of `origin`
/// (the host's), or `None` when it is several parts or not closed.
fn solid_of(
    router: &GeometryRouter,
    decoder: &mut EntityDecoder,
    product: &DecodedEntity,
    origin: Option<[f64; 3]>,
) -> Result<(cut::Solid, [f64; 3]), Declined> {
    let parts = router
        .process_element_parts(product, decoder)
        .map_err(|_| Declined::Open)?;
    let [mesh] = parts.as_slice() else {
        return Err(Declined::Open);
    };
    let origin = origin.unwrap_or(mesh.origin);
    let shift: [f64; 3] = std::array::from_fn(|k| mesh.origin[k] - origin[k]);
    let points = mesh
        .positions
        .chunks_exact(3)
        .map(|v| std::array::from_fn(|k| f64::from(v[k]) + shift[k]))
        .collect();
    let solid = cut::solid_from_points(points, &mesh.indices).ok_or(Declined::Open)?;
    Ok((solid, origin))
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
    if !single_item_of(host, decoder, &[IfcType::IfcExtrudedAreaSolid]) {
        return Err(Declined::Host);
    }
    let (mut solid, origin) = solid_of(router, decoder, host, None)?;
    for &id in openings {
        let opening = decoder.decode_by_id(id).map_err(|_| Declined::Opening)?;
        if !single_item_of(
            &opening,
            decoder,
            &[IfcType::IfcExtrudedAreaSolid, IfcType::IfcBlock],
        ) {
            return Err(Declined::Opening);
        }
        let (cutter, _) = solid_of(router, decoder, &opening, Some(origin))?;
        let convex = cut::ConvexCutter::new(&cutter).map_err(Declined::Cut)?;
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
    let mut mesh = to_mesh(&solid);
    mesh.origin = origin;
    Ok(mesh)
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
