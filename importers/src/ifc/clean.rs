//! Cleaning ifc-lite's meshes: invalid and degenerate triangles and unreferenced vertices
//! dropped, normals made unit length. Used by the mesher and by instancing alike.

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
