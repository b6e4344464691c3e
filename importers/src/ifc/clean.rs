//! Cleaning ifc-lite's meshes: invalid and degenerate triangles and unreferenced vertices
//! dropped, normals made unit length. Used by the mesher and by instancing alike.

use std::hash::{Hash, Hasher};

use crate::Mesh;
use crate::geo::mesh::{cross, dot, norm, sub};

/// Relative cross-product size under which a triangle counts as degenerate (collinear).
const DEGENERATE_RELATIVE_AREA: f64 = 1e-7;

/// Drops invalid and degenerate triangles and unreferenced vertices, and makes normals unit
/// length. Returns the mesh (if any triangle is left) and the number of triangles dropped.
pub(crate) fn clean(raw: &ifc_lite_geometry::Mesh) -> (Option<Mesh>, usize) {
    let vertex_count = raw.positions.len() / 3;
    let position = |i: u32| -> Option<[f64; 3]> {
        let i = i as usize;
        if i >= vertex_count {
            return None;
        }
        let p = [
            raw.positions[3 * i],
            raw.positions[3 * i + 1],
            raw.positions[3 * i + 2],
        ];
        p.iter().all(|v| v.is_finite()).then(|| p.map(f64::from))
    };
    let has_normals = raw.normals.len() == raw.positions.len();
    let mut remap: Vec<u32> = vec![u32::MAX; vertex_count];
    // Sized for the raw mesh (nearly every triangle survives) and trimmed at the end: a mesh
    // grown by pushes keeps up to half its buffers unused for as long as the model lives.
    let mut mesh = Mesh::default();
    mesh.positions.reserve_exact(raw.positions.len());
    mesh.indices.reserve_exact(raw.indices.len());
    let mut face_normal_sum: Vec<[f64; 3]> = Vec::new();
    let mut dropped = 0;
    for tri in raw.indices.chunks(3) {
        let [a, b, c] = match tri {
            &[a, b, c] => [a, b, c],
            _ => {
                dropped += 1;
                continue;
            }
        };
        let (Some(pa), Some(pb), Some(pc)) = (position(a), position(b), position(c)) else {
            dropped += 1;
            continue;
        };
        let e1 = sub(pb, pa);
        let e2 = sub(pc, pa);
        let e3 = sub(pc, pb);
        let cross = cross(e1, e2);
        let longest = dot(e1, e1).max(dot(e2, e2)).max(dot(e3, e3));
        if a == b
            || b == c
            || a == c
            || longest <= 0.0
            || norm(cross) <= DEGENERATE_RELATIVE_AREA * longest
        {
            dropped += 1;
            continue;
        }
        for v in [a, b, c] {
            let slot = &mut remap[v as usize];
            if *slot == u32::MAX {
                *slot = (mesh.positions.len() / 3) as u32;
                let i = v as usize * 3;
                mesh.positions.extend_from_slice(&raw.positions[i..i + 3]);
                face_normal_sum.push([0.0; 3]);
            }
            let s = &mut face_normal_sum[*slot as usize];
            *s = [s[0] + cross[0], s[1] + cross[1], s[2] + cross[2]];
            mesh.indices.push(*slot);
        }
    }
    if mesh.indices.is_empty() {
        return (None, dropped);
    }
    mesh.positions.shrink_to_fit();
    mesh.indices.shrink_to_fit();
    mesh.normals = vec![0.0; mesh.positions.len()];
    for (old, &new) in remap.iter().enumerate() {
        if new == u32::MAX {
            continue;
        }
        let new = new as usize;
        let given = has_normals
            .then(|| {
                [
                    raw.normals[3 * old],
                    raw.normals[3 * old + 1],
                    raw.normals[3 * old + 2],
                ]
                .map(f64::from)
            })
            .and_then(unit);
        let n = given
            .or_else(|| unit(face_normal_sum[new]))
            .unwrap_or([0.0, 0.0, 1.0]);
        for (slot, value) in mesh.normals[3 * new..3 * new + 3].iter_mut().zip(n) {
            *slot = value as f32;
        }
    }
    (Some(mesh), dropped)
}

/// `a` scaled to unit length, `None` when it has no usable direction.
fn unit(a: [f64; 3]) -> Option<[f64; 3]> {
    let n = norm(a);
    (n.is_finite() && n > 1e-12).then(|| [a[0] / n, a[1] / n, a[2] / n])
}

/// A cleaned mesh, its origin (the RTC frame, metres) and its [`content_key`].
#[derive(Debug)]
pub(crate) struct Part {
    pub(crate) mesh: Mesh,
    pub(crate) origin: [f64; 3],
    pub(crate) key: u64,
}

impl Part {
    pub(crate) fn new(mesh: Mesh, origin: [f64; 3]) -> Self {
        Self {
            key: content_key(&mesh),
            mesh,
            origin,
        }
    }
}

/// A key of `mesh`'s content, for finding meshes equal to it: its triangles, and its positions
/// on a 1 mm grid, so that nearly equal meshes have one key in almost every case (whether two
/// meshes of one key are equal is then decided by comparing them). Computed where the mesh is
/// made, on that core, so that storing meshes in order only compares them.
pub(crate) fn content_key(mesh: &Mesh) -> u64 {
    let mut hasher = rustc_hash::FxHasher::default();
    mesh.indices.hash(&mut hasher);
    for &v in &mesh.positions {
        hasher.write_i64(millimetres(v));
    }
    hasher.finish()
}

/// `(v * 1000.0).round() as i64` (half away from zero; saturating; NaN is 0), without the
/// library call that `f32::round` is on x86-64's baseline instruction set.
fn millimetres(v: f32) -> i64 {
    let x = v * 1e3;
    let whole = x as i64;
    // Exact: below 2^23 `whole` is x's integer part and x minus it is representable; above,
    // x is whole and this is 0 (or, past i64's range, x minus the saturated value).
    let rest = x - whole as f32;
    if rest >= 0.5 {
        whole.saturating_add(1)
    } else if rest <= -0.5 {
        whole.saturating_sub(1)
    } else {
        whole
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The grid step agrees with `f32::round` everywhere: halves, both signs, the edges of
    /// f32's exact integers and of i64, infinities, NaN, and a sweep of bit patterns.
    #[test]
    fn millimetres_round_as_f32_round_does() {
        let mut values = vec![
            0.0f32, -0.0, 0.0005, -0.0005, 0.0015, -0.0025, 0.00049999997, 1.0, -1.0, 2.5e-3,
            8_388.608, -8_388.607, 16_777.216, 9.3e15, -9.3e15, 1e17, -1e17, f32::MAX, f32::MIN,
            f32::INFINITY, f32::NEG_INFINITY, f32::NAN, f32::MIN_POSITIVE, f32::EPSILON,
        ];
        let mut bits = 0x1234_5678u32;
        for _ in 0..200_000 {
            // xorshift32: bit patterns of every exponent.
            bits ^= bits << 13;
            bits ^= bits >> 17;
            bits ^= bits << 5;
            values.push(f32::from_bits(bits));
        }
        for v in values {
            assert_eq!(millimetres(v), (v * 1e3).round() as i64, "{v:e}");
        }
    }

    /// Equal meshes have one key, meshes of other triangles or other shapes another, and a
    /// mesh moved by much less than the grid keeps its key.
    #[test]
    fn content_keys_follow_the_content() {
        let mesh = |positions: Vec<f32>, indices: Vec<u32>| Mesh {
            normals: [0.0, 0.0, 1.0].repeat(positions.len() / 3),
            positions,
            indices,
        };
        let a = mesh(vec![0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0], vec![0, 1, 2]);
        let same = mesh(a.positions.clone(), vec![0, 1, 2]);
        let nudged = mesh(a.positions.iter().map(|v| v + 1e-6).collect(), vec![0, 1, 2]);
        let turned = mesh(a.positions.clone(), vec![0, 2, 1]);
        let larger = mesh(a.positions.iter().map(|v| v * 2.0).collect(), vec![0, 1, 2]);
        assert_eq!(content_key(&a), content_key(&same));
        assert_eq!(content_key(&a), content_key(&nudged));
        assert_ne!(content_key(&a), content_key(&turned));
        assert_ne!(content_key(&a), content_key(&larger));
    }
}
