//! Triangle meshes for city inputs: planar polygons with holes triangulated on their own plane
//! (ear clipping by `earcutr`), quads and strips, built in model metres (f64) and stored
//! relative to their own centre in f32, so kilometre-wide tiles keep millimetre precision.

use crate::{Mesh, MeshId, Placement};

/// Why a polygon produced no triangles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PolygonError {
    /// The outer ring has fewer than three distinct points.
    TooFewPoints,
    /// The points are collinear (no plane).
    Degenerate,
    /// A coordinate is NaN or infinite.
    NonFinite,
    /// The ear clipper gave up.
    Triangulation,
}

impl PolygonError {
    /// Lowercase reason for diagnostics.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Self::TooFewPoints => "a ring has fewer than three distinct points",
            Self::Degenerate => "the ring's points are collinear (zero area)",
            Self::NonFinite => "a coordinate is not a finite number",
            Self::Triangulation => "the ring could not be triangulated (self-intersecting?)",
        }
    }
}

/// Rings longer than this are refused rather than handed to the ear clipper.
pub(crate) const MAX_RING_POINTS: usize = 1_000_000;

/// A mesh under construction, in model metres.
#[derive(Debug, Default)]
pub(crate) struct MeshBuilder {
    positions: Vec<f64>,
    normals: Vec<f32>,
    indices: Vec<u32>,
}

impl MeshBuilder {
    /// Whether no triangle was added.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    /// Number of vertices so far.
    fn vertex_count(&self) -> u32 {
        (self.positions.len() / 3) as u32
    }

    /// Adds a vertex with a unit normal; returns its index.
    pub(crate) fn vertex(&mut self, p: [f64; 3], n: [f64; 3]) -> u32 {
        let i = self.vertex_count();
        self.positions.extend_from_slice(&p);
        self.normals.extend(n.iter().map(|&c| c as f32));
        i
    }

    /// Adds a triangle of existing vertices.
    pub(crate) fn triangle(&mut self, a: u32, b: u32, c: u32) {
        self.indices.extend_from_slice(&[a, b, c]);
    }

    /// Adds a flat quad `a b c d` (counter-clockwise seen from its front); skipped when it has
    /// no area.
    pub(crate) fn quad(&mut self, a: [f64; 3], b: [f64; 3], c: [f64; 3], d: [f64; 3]) {
        let n = cross(sub(b, a), sub(d, a));
        let n2 = cross(sub(d, c), sub(b, c));
        let Some(n) = normalize(add(n, n2)) else {
            return;
        };
        let i = self.vertex(a, n);
        self.vertex(b, n);
        self.vertex(c, n);
        self.vertex(d, n);
        self.triangle(i, i + 1, i + 2);
        self.triangle(i, i + 2, i + 3);
    }

    /// Adds a planar polygon: `rings[0]` is the outer ring, the rest are holes; a closing point
    /// equal to the first is allowed. The face normal follows the outer ring's orientation
    /// (counter-clockwise seen from the front). Returns the number of triangles added.
    pub(crate) fn polygon(&mut self, rings: &[Vec<[f64; 3]>]) -> Result<usize, PolygonError> {
        let Some(outer) = rings.first() else {
            return Err(PolygonError::TooFewPoints);
        };
        let outer = clean_ring(outer)?;
        if outer.len() < 3 {
            return Err(PolygonError::TooFewPoints);
        }
        let normal = normalize(newell(&outer)).ok_or(PolygonError::Degenerate)?;
        let mut all = outer;
        let mut holes = Vec::new();
        for hole in &rings[1..] {
            let hole = clean_ring(hole)?;
            if hole.len() >= 3 {
                holes.push(all.len());
                all.extend(hole);
            }
        }
        if all.len() > MAX_RING_POINTS {
            return Err(PolygonError::Triangulation);
        }
        let base = self.vertex_count();
        if all.len() == 3 {
            for &p in &all {
                self.vertex(p, normal);
            }
            self.triangle(base, base + 1, base + 2);
            return Ok(1);
        }
        let u = normalize(perpendicular(normal)).ok_or(PolygonError::Degenerate)?;
        let v = cross(normal, u);
        let origin = all[0];
        let flat: Vec<f64> = all
            .iter()
            .flat_map(|&p| {
                let d = sub(p, origin);
                [dot(d, u), dot(d, v)]
            })
            .collect();
        let triangles = std::panic::catch_unwind(|| earcutr::earcut(&flat, &holes, 2))
            .map_err(|_| PolygonError::Triangulation)?
            .map_err(|_| PolygonError::Triangulation)?;
        if triangles.is_empty() {
            return Err(PolygonError::Degenerate);
        }
        for &p in &all {
            self.vertex(p, normal);
        }
        let mut count = 0;
        for t in triangles.chunks_exact(3) {
            let (a, b, c) = (t[0], t[1], t[2]);
            let tn = cross(sub(all[b], all[a]), sub(all[c], all[a]));
            let (a, b, c) = (base + a as u32, base + b as u32, base + c as u32);
            if dot(tn, normal) < 0.0 {
                self.triangle(a, c, b);
            } else {
                self.triangle(a, b, c);
            }
            count += 1;
        }
        Ok(count)
    }

    /// The mesh relative to its bounding-box centre, and that centre (model metres); `None`
    /// when empty.
    pub(crate) fn finish_centred(self) -> Option<(Mesh, [f64; 3])> {
        if self.indices.is_empty() {
            return None;
        }
        let mut min = [f64::INFINITY; 3];
        let mut max = [f64::NEG_INFINITY; 3];
        for p in self.positions.chunks_exact(3) {
            for i in 0..3 {
                min[i] = min[i].min(p[i]);
                max[i] = max[i].max(p[i]);
            }
        }
        let centre = [
            ((min[0] + max[0]) / 2.0).round(),
            ((min[1] + max[1]) / 2.0).round(),
            ((min[2] + max[2]) / 2.0).round(),
        ];
        let positions = self
            .positions
            .chunks_exact(3)
            .flat_map(|p| {
                [
                    (p[0] - centre[0]) as f32,
                    (p[1] - centre[1]) as f32,
                    (p[2] - centre[2]) as f32,
                ]
            })
            .collect();
        Some((
            Mesh {
                positions,
                normals: self.normals,
                indices: self.indices,
            },
            centre,
        ))
    }

    /// The mesh in its own coordinates as built (for templates placed by a matrix).
    pub(crate) fn finish_in_place(self) -> Option<Mesh> {
        if self.indices.is_empty() {
            return None;
        }
        let positions = self.positions.iter().map(|&c| c as f32).collect();
        Some(Mesh {
            positions,
            normals: self.normals,
            indices: self.indices,
        })
    }
}

/// Stores `builder` centred in `meshes` and returns the placement that puts it back.
pub(crate) fn push_centred(meshes: &mut Vec<Mesh>, builder: MeshBuilder) -> Option<Placement> {
    let (mesh, centre) = builder.finish_centred()?;
    let id = MeshId(meshes.len() as u32);
    meshes.push(mesh);
    Some(Placement {
        mesh: id,
        transform: translation(centre),
    })
}

/// Column-major translation matrix.
pub(crate) fn translation(t: [f64; 3]) -> [f64; 16] {
    let mut m = IDENTITY;
    m[12] = t[0];
    m[13] = t[1];
    m[14] = t[2];
    m
}

/// Column-major 4×4 identity.
pub(crate) const IDENTITY: [f64; 16] = [
    1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0,
];

/// `a · b` for column-major 4×4 matrices.
pub(crate) fn mat_mul(a: &[f64; 16], b: &[f64; 16]) -> [f64; 16] {
    let mut out = [0.0; 16];
    for col in 0..4 {
        for row in 0..4 {
            out[col * 4 + row] = (0..4).map(|k| a[k * 4 + row] * b[col * 4 + k]).sum();
        }
    }
    out
}

/// The inverse of an affine column-major matrix (last row 0 0 0 1); `None` when singular or
/// not affine.
pub(crate) fn inverse_affine(m: &[f64; 16]) -> Option<[f64; 16]> {
    if m[3] != 0.0 || m[7] != 0.0 || m[11] != 0.0 || m[15] != 1.0 {
        return None;
    }
    // a[row][col] of the 3×3 part.
    let a = |r: usize, c: usize| m[c * 4 + r];
    let det = a(0, 0) * (a(1, 1) * a(2, 2) - a(1, 2) * a(2, 1))
        - a(0, 1) * (a(1, 0) * a(2, 2) - a(1, 2) * a(2, 0))
        + a(0, 2) * (a(1, 0) * a(2, 1) - a(1, 1) * a(2, 0));
    if !det.is_finite() || det.abs() < 1e-12 {
        return None;
    }
    let inv = |r: usize, c: usize| {
        // Cofactor of (c, r) over the determinant (the adjugate is the cofactors transposed).
        let (r1, r2) = ([1, 0, 0][c], [2, 2, 1][c]);
        let (c1, c2) = ([1, 0, 0][r], [2, 2, 1][r]);
        let minor = a(r1, c1) * a(r2, c2) - a(r1, c2) * a(r2, c1);
        let sign = if (r + c).is_multiple_of(2) { 1.0 } else { -1.0 };
        sign * minor / det
    };
    let mut out = [0.0; 16];
    for c in 0..3 {
        for r in 0..3 {
            out[c * 4 + r] = inv(r, c);
        }
    }
    for r in 0..3 {
        out[12 + r] = -(0..3).map(|k| out[k * 4 + r] * m[12 + k]).sum::<f64>();
    }
    out[15] = 1.0;
    Some(out)
}

/// Drops non-finite rings (error), repeated consecutive points and the closing point.
fn clean_ring(ring: &[[f64; 3]]) -> Result<Vec<[f64; 3]>, PolygonError> {
    let mut out: Vec<[f64; 3]> = Vec::with_capacity(ring.len());
    for &p in ring {
        if !p.iter().all(|c| c.is_finite()) {
            return Err(PolygonError::NonFinite);
        }
        if out.last().is_some_and(|&q| same(p, q)) {
            continue;
        }
        out.push(p);
    }
    while out.len() > 1
        && out
            .first()
            .zip(out.last())
            .is_some_and(|(&a, &b)| same(a, b))
    {
        out.pop();
    }
    Ok(out)
}

fn same(a: [f64; 3], b: [f64; 3]) -> bool {
    (a[0] - b[0]).abs() < 1e-9 && (a[1] - b[1]).abs() < 1e-9 && (a[2] - b[2]).abs() < 1e-9
}

/// Newell's polygon normal (area-weighted, robust for non-convex rings).
pub(crate) fn newell(ring: &[[f64; 3]]) -> [f64; 3] {
    let mut n = [0.0; 3];
    let o = ring[0];
    for i in 0..ring.len() {
        let a = sub(ring[i], o);
        let b = sub(ring[(i + 1) % ring.len()], o);
        n[0] += (a[1] - b[1]) * (a[2] + b[2]);
        n[1] += (a[2] - b[2]) * (a[0] + b[0]);
        n[2] += (a[0] - b[0]) * (a[1] + b[1]);
    }
    n
}

fn perpendicular(n: [f64; 3]) -> [f64; 3] {
    if n[0].abs() < 0.9 {
        cross(n, [1.0, 0.0, 0.0])
    } else {
        cross(n, [0.0, 1.0, 0.0])
    }
}

pub(crate) fn sub(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

pub(crate) fn add(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}

pub(crate) fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

pub(crate) fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

pub(crate) fn norm(a: [f64; 3]) -> f64 {
    dot(a, a).sqrt()
}

/// The unit vector along `v`, or `None` when `v` has (almost) no length.
pub(crate) fn normalize(v: [f64; 3]) -> Option<[f64; 3]> {
    let len = dot(v, v).sqrt();
    (len > 1e-12 && len.is_finite()).then(|| [v[0] / len, v[1] / len, v[2] / len])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn affine_inverse_undoes_a_rotated_scaled_shifted_placement() {
        // 30° about Z, scale 2, shifted by (10, -4, 3).
        let (s, c) = (30f64.to_radians().sin(), 30f64.to_radians().cos());
        let m = [
            2.0 * c, 2.0 * s, 0.0, 0.0, -2.0 * s, 2.0 * c, 0.0, 0.0, 0.0, 0.0, 2.0, 0.0, 10.0, -4.0,
            3.0, 1.0,
        ];
        let product = mat_mul(&inverse_affine(&m).expect("invertible"), &m);
        for (k, v) in product.iter().enumerate() {
            let expected = if k % 5 == 0 { 1.0 } else { 0.0 };
            assert!((v - expected).abs() < 1e-12, "entry {k}: {v}");
        }
        let mut singular = m;
        singular[0] = 0.0;
        singular[1] = 0.0;
        singular[2] = 0.0;
        assert!(inverse_affine(&singular).is_none());
    }


    #[test]
    fn a_square_with_a_square_hole_has_eight_triangles_and_the_right_area() {
        let outer = vec![
            [0.0, 0.0, 0.0],
            [10.0, 0.0, 0.0],
            [10.0, 10.0, 0.0],
            [0.0, 10.0, 0.0],
            [0.0, 0.0, 0.0],
        ];
        let hole = vec![
            [3.0, 3.0, 0.0],
            [3.0, 7.0, 0.0],
            [7.0, 7.0, 0.0],
            [7.0, 3.0, 0.0],
        ];
        let mut b = MeshBuilder::default();
        let n = b.polygon(&[outer, hole]).expect("triangulates");
        assert_eq!(n, 8);
        let mesh = b.finish_in_place().expect("mesh");
        let area: f64 = mesh
            .indices
            .chunks_exact(3)
            .map(|t| {
                let p = |i: u32| {
                    let i = i as usize * 3;
                    [
                        f64::from(mesh.positions[i]),
                        f64::from(mesh.positions[i + 1]),
                        f64::from(mesh.positions[i + 2]),
                    ]
                };
                let c = cross(sub(p(t[1]), p(t[0])), sub(p(t[2]), p(t[0])));
                assert!(c[2] > 0.0, "every triangle faces the ring's normal (+z)");
                c[2] / 2.0
            })
            .sum();
        assert!(
            (area - 84.0).abs() < 1e-9,
            "100 m² minus the 16 m² hole, got {area}"
        );
    }

    #[test]
    fn a_vertical_wall_keeps_its_outward_normal() {
        // Counter-clockwise seen from -y: the normal points to -y.
        let ring = vec![
            [0.0, 0.0, 0.0],
            [4.0, 0.0, 0.0],
            [4.0, 0.0, 3.0],
            [2.0, 0.0, 4.0],
            [0.0, 0.0, 3.0],
        ];
        let mut b = MeshBuilder::default();
        assert_eq!(b.polygon(&[ring]), Ok(3));
        let mesh = b.finish_in_place().expect("mesh");
        assert!(
            mesh.normals
                .chunks_exact(3)
                .all(|n| (n[1] + 1.0).abs() < 1e-6)
        );
    }

    #[test]
    fn bad_rings_are_errors_not_panics() {
        let mut b = MeshBuilder::default();
        assert_eq!(
            b.polygon(&[vec![[0.0; 3], [1.0, 0.0, 0.0]]]),
            Err(PolygonError::TooFewPoints)
        );
        assert_eq!(
            b.polygon(&[vec![[0.0; 3], [1.0, 0.0, 0.0], [2.0, 0.0, 0.0]]]),
            Err(PolygonError::Degenerate)
        );
        assert_eq!(
            b.polygon(&[vec![[0.0; 3], [f64::NAN, 0.0, 0.0], [2.0, 1.0, 0.0]]]),
            Err(PolygonError::NonFinite)
        );
        assert_eq!(b.polygon(&[]), Err(PolygonError::TooFewPoints));
        assert!(b.is_empty());
    }

    #[test]
    fn centred_meshes_are_placed_back_where_they_were() {
        let mut b = MeshBuilder::default();
        b.quad(
            [1000.0, 2000.0, 0.0],
            [1010.0, 2000.0, 0.0],
            [1010.0, 2010.0, 0.0],
            [1000.0, 2010.0, 0.0],
        );
        let mut meshes = Vec::new();
        let placement = push_centred(&mut meshes, b).expect("placement");
        assert_eq!(&placement.transform[12..15], &[1005.0, 2005.0, 0.0]);
        assert_eq!(meshes[0].positions[0..3], [-5.0, -5.0, 0.0]);
    }
}
