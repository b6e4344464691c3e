//! Instancing of IfcMappedItem bodies: each representation map's source is meshed once and
//! every mapped item placed by `product placement · MappingTarget` (a body of several mapped
//! items gets one placement per item). Each occurrence is checked against the mesh ifc-lite
//! baked for it (same triangle count, same bounding box); where they disagree, or a transform
//! mirrors or scales unevenly, the baked mesh is kept instead.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ifc_lite_core::{DecodedEntity, EntityDecoder};
use ifc_lite_geometry::GeometryRouter;

use super::clean::{Part, clean};
use super::semantics::MappedBody;
use crate::Mesh;
use crate::geo::mesh::{IDENTITY, cross, dot, mat_mul, sub, translation};

/// A representation map's source mesh (MappingOrigin applied), metres: the cleaned mesh,
/// relative to its origin as ifc-lite reported it, with its content key.
pub(crate) type Source = Part;

/// Source meshes by representation map `#id` (`None`: it could not be meshed), shared by all
/// workers.
pub(crate) type SourceCache = Mutex<HashMap<u32, Option<Arc<Source>>>>;

/// An occurrence placed as an instance of a source.
#[derive(Debug)]
pub(crate) struct Instance {
    /// The representation map.
    pub(crate) map: u32,
    /// The shared source.
    pub(crate) source: Arc<Source>,
    /// Source frame → model frame, column-major.
    pub(crate) transform: [f64; 16],
}

/// Everything [`instance`] needs besides the occurrence.
pub(crate) struct Context<'c> {
    pub(crate) cache: &'c SourceCache,
    pub(crate) length_to_metres: f64,
    pub(crate) rtc: [f64; 3],
}

/// The occurrence `entity`, whose body is the mapped items `mapped`, as one instance per item,
/// if that reproduces `baked` (the cleaned parts ifc-lite baked for it, each relative to its
/// origin): the same number of triangles and the same bounding box.
pub(crate) fn instances(
    ctx: &Context,
    router: &GeometryRouter,
    decoder: &mut EntityDecoder,
    entity: &DecodedEntity,
    mapped: &[MappedBody],
    baked: &[Part],
) -> Option<Vec<Instance>> {
    let placement = router.resolve_scaled_placement(entity, decoder).ok()?;
    let mut out = Vec::with_capacity(mapped.len());
    let (mut imin, mut imax) = ([f64::INFINITY; 3], [f64::NEG_INFINITY; 3]);
    let mut triangles = 0;
    for item in mapped {
        let source = source(ctx, router, decoder, item.map)?;
        let target = match item.target {
            Some(id) => target_matrix(decoder, id, ctx.length_to_metres)?,
            None => IDENTITY,
        };
        let mut transform = mat_mul(&mat_mul(&placement, &target), &translation(source.origin));
        for k in 0..3 {
            transform[12 + k] -= ctx.rtc[k];
        }
        if !transform.iter().all(|v| v.is_finite()) || !is_rigid_with_uniform_scale(&transform) {
            return None;
        }
        triangles += source.mesh.triangle_count();
        let (lo, hi) = bounds(&source.mesh, &transform);
        grow(&mut imin, &mut imax, lo, hi);
        out.push(Instance {
            map: item.map,
            source,
            transform,
        });
    }
    let (mut bmin, mut bmax) = ([f64::INFINITY; 3], [f64::NEG_INFINITY; 3]);
    let mut baked_triangles = 0;
    for part in baked {
        baked_triangles += part.mesh.triangle_count();
        let (lo, hi) = bounds(&part.mesh, &translation(part.origin));
        grow(&mut bmin, &mut bmax, lo, hi);
    }
    if triangles != baked_triangles {
        return None;
    }
    let diagonal = (0..3)
        .map(|k| (bmax[k] - bmin[k]).powi(2))
        .sum::<f64>()
        .sqrt();
    let tolerance = 1e-3 + 1e-4 * diagonal;
    let close = (0..3)
        .all(|k| (imin[k] - bmin[k]).abs() <= tolerance && (imax[k] - bmax[k]).abs() <= tolerance);
    close.then_some(out)
}

fn grow(min: &mut [f64; 3], max: &mut [f64; 3], lo: [f64; 3], hi: [f64; 3]) {
    for k in 0..3 {
        min[k] = min[k].min(lo[k]);
        max[k] = max[k].max(hi[k]);
    }
}

/// The cached source of `map`, meshed on first use.
fn source(
    ctx: &Context,
    router: &GeometryRouter,
    decoder: &mut EntityDecoder,
    map: u32,
) -> Option<Arc<Source>> {
    if let Some(cached) = ctx
        .cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&map)
    {
        return cached.clone();
    }
    let built = decoder
        .decode_by_id(map)
        .ok()
        .and_then(|entity| router.process_representation_map(&entity, decoder).ok())
        .and_then(|raw| {
            let origin = raw.origin;
            Some(Arc::new(Part::new(clean(&raw).0?, origin)))
        })
        .filter(|s| s.origin.iter().all(|v| v.is_finite()));
    // Another worker may have built it meanwhile; both are the same mesh, the first one stays.
    ctx.cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(map)
        .or_insert(built)
        .clone()
}

/// IfcCartesianTransformationOperator3D(nonUniform): Axis1 0, Axis2 1, LocalOrigin 2, Scale 3,
/// Axis3 4 (Scale2 5, Scale3 6), as a column-major matrix with the origin in metres. `None`
/// when it cannot be read or scales unevenly.
fn target_matrix(decoder: &mut EntityDecoder, id: u32, length_to_metres: f64) -> Option<[f64; 16]> {
    let op = decoder.decode_by_id(id).ok()?;
    if !op
        .ifc_type
        .as_str()
        .starts_with("IFCCARTESIANTRANSFORMATIONOPERATOR3D")
    {
        return None;
    }
    let mut vector = |index: usize| -> Option<Option<[f64; 3]>> {
        let Some(r) = op.get_ref(index) else {
            return Some(None);
        };
        let e = decoder.decode_by_id(r).ok()?;
        let list = e.get_list(0)?;
        let c = |i: usize| list.get(i).and_then(|v| v.as_float()).unwrap_or(0.0);
        Some(Some([c(0), c(1), c(2)]))
    };
    let axis1 = vector(0)?;
    let axis2 = vector(1)?;
    let origin = vector(2)?.unwrap_or([0.0; 3]);
    let axis3 = vector(4)?;
    let scale = op.get_float(3).unwrap_or(1.0);
    for extra in [5, 6] {
        if op
            .get_float(extra)
            .is_some_and(|s| (s - scale).abs() > 1e-12)
        {
            return None;
        }
    }
    let z = unit(axis3.unwrap_or([0.0, 0.0, 1.0]))?;
    let v = axis1.unwrap_or(if z == [1.0, 0.0, 0.0] {
        [0.0, 1.0, 0.0]
    } else {
        [1.0, 0.0, 0.0]
    });
    let x = unit(sub(v, scaled(z, dot(v, z))))?;
    let w = axis2.unwrap_or([0.0, 1.0, 0.0]);
    let y = unit(sub(sub(w, scaled(z, dot(w, z))), scaled(x, dot(w, x))))?;
    let o = scaled(origin, length_to_metres);
    Some([
        x[0] * scale,
        x[1] * scale,
        x[2] * scale,
        0.0,
        y[0] * scale,
        y[1] * scale,
        y[2] * scale,
        0.0,
        z[0] * scale,
        z[1] * scale,
        z[2] * scale,
        0.0,
        o[0],
        o[1],
        o[2],
        1.0,
    ])
}

/// Whether the 3×3 part is a rotation times a positive uniform scale (normals then only need
/// the rotation, and winding is kept).
fn is_rigid_with_uniform_scale(m: &[f64; 16]) -> bool {
    let cols = [[m[0], m[1], m[2]], [m[4], m[5], m[6]], [m[8], m[9], m[10]]];
    let s = dot(cols[0], cols[0]).sqrt();
    if s <= 1e-12 {
        return false;
    }
    let orthogonal = (0..3).all(|i| {
        (0..3).all(|j| {
            let expected = if i == j { s * s } else { 0.0 };
            (dot(cols[i], cols[j]) - expected).abs() <= 1e-6 * s * s
        })
    });
    let det = dot(cols[0], cross(cols[1], cols[2]));
    orthogonal && det > 0.0 && m[3] == 0.0 && m[7] == 0.0 && m[11] == 0.0 && m[15] == 1.0
}

/// Bounding box of `mesh` under `m`.
fn bounds(mesh: &Mesh, m: &[f64; 16]) -> ([f64; 3], [f64; 3]) {
    let mut min = [f64::INFINITY; 3];
    let mut max = [f64::NEG_INFINITY; 3];
    for v in mesh.positions.chunks_exact(3) {
        let p = [f64::from(v[0]), f64::from(v[1]), f64::from(v[2])];
        for k in 0..3 {
            let t = m[k] * p[0] + m[4 + k] * p[1] + m[8 + k] * p[2] + m[12 + k];
            min[k] = min[k].min(t);
            max[k] = max[k].max(t);
        }
    }
    (min, max)
}


fn scaled(a: [f64; 3], s: f64) -> [f64; 3] {
    [a[0] * s, a[1] * s, a[2] * s]
}

fn unit(a: [f64; 3]) -> Option<[f64; 3]> {
    let n = dot(a, a).sqrt();
    (n.is_finite() && n > 1e-12).then(|| scaled(a, 1.0 / n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_major_product_applies_the_right_factor_first() {
        let shift = translation([1.0, 2.0, 3.0]);
        let mut rotate = IDENTITY;
        // 90° about Z: x → y.
        rotate[0] = 0.0;
        rotate[1] = 1.0;
        rotate[4] = -1.0;
        rotate[5] = 0.0;
        let m = mat_mul(&shift, &rotate);
        let mesh = Mesh {
            positions: vec![1.0, 0.0, 0.0],
            normals: vec![0.0, 0.0, 1.0],
            indices: vec![],
        };
        let (min, _) = bounds(&mesh, &m);
        assert_eq!(min, [1.0, 3.0, 3.0]);
        assert!(is_rigid_with_uniform_scale(&m));
        let mut mirror = IDENTITY;
        mirror[0] = -1.0;
        assert!(!is_rigid_with_uniform_scale(&mirror));
    }
}
