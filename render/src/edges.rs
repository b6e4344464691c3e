//! Feature edges of a triangle mesh, for the outlines that keep the model legible: edges where
//! the two faces meet at more than [`CREASE_DEGREES`], edges with one face (open borders) and
//! edges shared by more than two faces. Vertices are welded by position first, because meshes
//! with flat normals repeat each corner once per face.

use std::collections::HashMap;

use glam::Vec3;

/// Faces meeting at a sharper angle than this are separated by a drawn edge.
pub const CREASE_DEGREES: f32 = 30.0;
/// Positions closer than this (metres) are the same corner.
const WELD: f32 = 1e-4;

/// One undirected edge as seen while scanning the faces.
#[derive(Debug, Clone, Copy)]
struct EdgeUse {
    /// The mesh's own vertex indices of the first face that used the edge.
    ends: [u32; 2],
    /// That face's unit normal.
    normal: Vec3,
    faces: u32,
    crease: bool,
}

/// Line-list indices (pairs of `positions` indices) of the feature edges of the triangle list
/// `indices`.
pub fn feature_edges(positions: &[Vec3], indices: &[u32]) -> Vec<u32> {
    let cos_crease = CREASE_DEGREES.to_radians().cos();
    let mut welded: HashMap<[i64; 3], u32> = HashMap::new();
    let corner: Vec<u32> = positions
        .iter()
        .map(|p| {
            let key = (*p / WELD).round().as_i64vec3().to_array();
            let next = welded.len() as u32;
            *welded.entry(key).or_insert(next)
        })
        .collect();
    let mut edges: HashMap<(u32, u32), EdgeUse> = HashMap::new();
    let mut order: Vec<(u32, u32)> = Vec::new();
    for tri in indices.chunks_exact(3) {
        let [a, b, c] = [tri[0], tri[1], tri[2]];
        let (Some(&pa), Some(&pb), Some(&pc)) = (positions.get(a as usize), positions.get(b as usize), positions.get(c as usize)) else {
            continue;
        };
        let normal = (pb - pa).cross(pc - pa);
        if normal.length_squared() < 1e-16 {
            continue;
        }
        let normal = normal.normalize();
        for (i, j) in [(a, b), (b, c), (c, a)] {
            let (ci, cj) = (corner[i as usize], corner[j as usize]);
            if ci == cj {
                continue;
            }
            let key = (ci.min(cj), ci.max(cj));
            match edges.get_mut(&key) {
                Some(edge) => {
                    edge.faces += 1;
                    // Two faces that are coplanar either way round (two-sided meshes) are no crease.
                    if edge.normal.dot(normal).abs() < cos_crease {
                        edge.crease = true;
                    }
                }
                None => {
                    edges.insert(key, EdgeUse { ends: [i, j], normal, faces: 1, crease: false });
                    order.push(key);
                }
            }
        }
    }
    order
        .iter()
        .filter_map(|key| edges.get(key))
        .filter(|e| e.faces != 2 || e.crease)
        .flat_map(|e| e.ends)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A unit cube with 24 vertices (flat normals: each corner once per face).
    fn flat_cube() -> (Vec<Vec3>, Vec<u32>) {
        let corners: Vec<Vec3> = (0..8).map(|i| Vec3::new((i & 1) as f32, ((i >> 1) & 1) as f32, ((i >> 2) & 1) as f32)).collect();
        let quads = [[0, 1, 3, 2], [4, 6, 7, 5], [0, 4, 5, 1], [2, 3, 7, 6], [0, 2, 6, 4], [1, 5, 7, 3]];
        let mut positions = Vec::new();
        let mut indices = Vec::new();
        for q in quads {
            let base = positions.len() as u32;
            positions.extend(q.iter().map(|&i| corners[i]));
            indices.extend([base, base + 1, base + 2, base, base + 2, base + 3]);
        }
        (positions, indices)
    }

    #[test]
    fn a_cube_has_its_twelve_edges_and_no_face_diagonals() {
        let (positions, indices) = flat_cube();
        let edges = feature_edges(&positions, &indices);
        assert_eq!(edges.len(), 24, "12 edges, two indices each");
        for pair in edges.chunks_exact(2) {
            let d = positions[pair[0] as usize] - positions[pair[1] as usize];
            assert!((d.length() - 1.0).abs() < 1e-6, "a diagonal {d} was drawn");
        }
    }

    #[test]
    fn a_flat_quad_has_only_its_border() {
        let positions = vec![Vec3::ZERO, Vec3::X, Vec3::new(1.0, 1.0, 0.0), Vec3::Y];
        let edges = feature_edges(&positions, &[0, 1, 2, 0, 2, 3]);
        assert_eq!(edges.len(), 8);
    }

    #[test]
    fn degenerate_triangles_and_bad_indices_are_skipped() {
        let positions = vec![Vec3::ZERO, Vec3::X, Vec3::new(2.0, 0.0, 0.0)];
        assert!(feature_edges(&positions, &[0, 1, 2, 0, 1, 9]).is_empty());
    }
}
