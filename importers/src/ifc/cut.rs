//! Subtracting a convex solid from a closed triangle mesh, without approximation and cheaply.
//!
//! The result's surface is the host's surface outside the cutter, plus the cutter's faces
//! inside the host, turned inside out. Every host triangle is split by the cutter's planes one
//! after another, wherever it crosses one: the part outside a plane is kept, the part inside
//! goes on to the next plane, and what is inside every plane is removed. The edges that a
//! plane cut into the removed part bound the cap on that plane; where a cap meets the
//! cutter's own edges it is closed along them. Every split point is computed once, from the
//! same segment, by every triangle that shares it, so the pieces meet vertex to vertex
//! (points within rounding noise are welded, and a vertex left in the middle of a
//! neighbour's edge is mended by splitting that neighbour). The result must then be closed
//! and its volume between the host's less the cutter's and the host's; the caller falls back
//! to the general boolean (ifc-lite's exact arrangement) whenever a check fails or the input
//! is outside what this handles (a non-convex cutter, an open host, a cutter face lying in a
//! host face in a way the caps cannot resolve, operands over the size bounds).

use crate::geo::mesh::{add, cross, dot, norm, sub};
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

/// A closed triangle mesh with shared vertices.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Solid {
    pub positions: Vec<[f64; 3]>,
    pub triangles: Vec<[u32; 3]>,
    /// Outward unit normal of each triangle (flat shading).
    pub normals: Vec<[f64; 3]>,
}

/// The faces of a box whose corner `i` is at the low or high end of x, y and z as bits 0, 1
/// and 2 of `i` are set: each face's corners counter-clockwise seen from outside (z min,
/// z max, y min, y max, x min, x max).
pub(crate) const BOX_FACES: [[usize; 4]; 6] = [
    [0, 2, 3, 1],
    [4, 5, 7, 6],
    [0, 1, 5, 4],
    [2, 6, 7, 3],
    [0, 4, 6, 2],
    [1, 3, 7, 5],
];

/// Why a cut was not made here (the caller then uses the general boolean).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Refusal {
    /// The cutter is not convex.
    NotConvex,
    /// A touching or coincident configuration this construction does not resolve.
    Ambiguous,
    /// The result failed the closedness or volume check.
    Check,
    /// An operand is larger than this construction takes on.
    TooLarge,
}

/// One plane: `n · p = d`, `n` unit, pointing out of the cutter.
#[derive(Debug, Clone, Copy)]
struct Plane {
    n: [f64; 3],
    d: f64,
}

impl Plane {
    fn dist(&self, p: [f64; 3]) -> f64 {
        dot(self.n, p) - self.d
    }
}

/// A convex cutter: its face planes and, per plane, the face's boundary loop (counter-clockwise
/// seen from outside).
#[derive(Debug, Clone)]
pub(crate) struct ConvexCutter {
    planes: Vec<Plane>,
    faces: Vec<Vec<[f64; 3]>>,
    min: [f64; 3],
    max: [f64; 3],
    volume: f64,
}

/// Bounding box of a solid's vertices.
pub(crate) fn bounds_of(solid: &Solid) -> ([f64; 3], [f64; 3]) {
    bounds(&solid.positions)
}

/// Bounding box of points.
fn bounds(points: &[[f64; 3]]) -> ([f64; 3], [f64; 3]) {
    let mut min = [f64::INFINITY; 3];
    let mut max = [f64::NEG_INFINITY; 3];
    for p in points {
        for k in 0..3 {
            min[k] = min[k].min(p[k]);
            max[k] = max[k].max(p[k]);
        }
    }
    (min, max)
}

/// Welds a raw triangle list (f32 positions as ifc-lite gives them) into a solid, merging
/// positions closer than a millionth of the coordinates' magnitude; `None` when it is empty,
/// not finite or not closed.
pub(crate) fn solid_from_triangles(positions: &[f32], indices: &[u32]) -> Option<Solid> {
    solid_from_points(
        positions
            .chunks_exact(3)
            .map(|v| [f64::from(v[0]), f64::from(v[1]), f64::from(v[2])])
            .collect(),
        indices,
    )
}

/// [`solid_from_triangles`] over f64 points (a mesh already moved into another frame).
pub(crate) fn solid_from_points(points: Vec<[f64; 3]>, indices: &[u32]) -> Option<Solid> {
    if !points.iter().flatten().all(|c| c.is_finite()) {
        return None;
    }
    let (min, max) = bounds(&points);
    // Positions a few f32 steps apart are one vertex (ifc-lite computes a cap's corner and
    // the side wall's corner separately).
    let grid = tolerance(min, max) / 2.0;
    let mut welder = Builder::new(grid);
    let remap: Vec<u32> = points.iter().map(|&p| welder.vertex(p)).collect();
    let mut solid = welder.solid;
    for t in indices.chunks_exact(3) {
        let [a, b, c] = [t[0], t[1], t[2]].map(|i| remap.get(i as usize).copied());
        let (Some(a), Some(b), Some(c)) = (a, b, c) else {
            return None;
        };
        if a == b || b == c || a == c {
            continue;
        }
        let n = cross(
            sub(solid.positions[b as usize], solid.positions[a as usize]),
            sub(solid.positions[c as usize], solid.positions[a as usize]),
        );
        let Some(n) = unit(n) else { continue };
        solid.triangles.push([a, b, c]);
        solid.normals.push(n);
    }
    // A profile's collinear points can be corners of the side walls and not of the caps.
    for _ in 0..3 {
        if !mend_t_junctions(&mut solid, grid) {
            break;
        }
    }
    (!solid.triangles.is_empty() && closed(&solid.triangles)).then_some(solid)
}

/// Whether every directed edge has its reverse as often as itself.
fn closed(triangles: &[[u32; 3]]) -> bool {
    let mut edges: HashMap<(u32, u32), i32> =
        HashMap::with_capacity_and_hasher(triangles.len() * 3, Default::default());
    for t in triangles {
        for k in 0..3 {
            let (a, b) = (t[k], t[(k + 1) % 3]);
            if a < b {
                *edges.entry((a, b)).or_default() += 1;
            } else {
                *edges.entry((b, a)).or_default() -= 1;
            }
        }
    }
    edges.values().all(|&c| c == 0)
}

/// Enclosed volume (divergence theorem; positive for an outward-oriented closed mesh).
pub(crate) fn volume(solid: &Solid) -> f64 {
    solid
        .triangles
        .iter()
        .map(|t| {
            let [a, b, c] = t.map(|i| solid.positions[i as usize]);
            dot(a, cross(b, c)) / 6.0
        })
        .sum()
}

/// Tolerance for "on a plane": relative to the coordinates' magnitude, well above the f32
/// rounding ifc-lite's meshes carry and well below any modelled feature.
fn tolerance(min: [f64; 3], max: [f64; 3]) -> f64 {
    let magnitude = (0..3)
        .map(|k| min[k].abs().max(max[k].abs()))
        .fold(0.0, f64::max);
    (magnitude * 2e-6).max(1e-9)
}

impl ConvexCutter {
    /// The cutter `solid` describes, `None` (with why) when it is not convex.
    pub(crate) fn new(solid: &Solid) -> Result<Self, Refusal> {
        // Grouping is quadratic in the triangles; a convex cutter within the plane bound has
        // far fewer than this.
        if solid.triangles.len() > 8 * MAX_CUTTER_PLANES {
            return Err(Refusal::TooLarge);
        }
        let (min, max) = bounds(&solid.positions);
        let eps = tolerance(min, max);
        // Group triangles by plane.
        let mut planes: Vec<(Plane, [f64; 3], Vec<usize>)> = Vec::new();
        for (t, tri) in solid.triangles.iter().enumerate() {
            let n = solid.normals[t];
            let d = dot(n, solid.positions[tri[0] as usize]);
            let found = planes
                .iter_mut()
                .find(|(p, _, _)| dot(p.n, n) > 1.0 - 1e-8 && (p.d - d).abs() <= eps);
            let [a, b, c] = tri.map(|i| solid.positions[i as usize]);
            let area = cross(sub(b, a), sub(c, a));
            match found {
                Some((_, sum, members)) => {
                    *sum = add(*sum, area);
                    members.push(t);
                }
                None => planes.push((Plane { n, d }, area, vec![t])),
            }
        }
        let mut out = ConvexCutter {
            planes: Vec::with_capacity(planes.len()),
            faces: Vec::with_capacity(planes.len()),
            min,
            max,
            volume: volume(solid),
        };
        for (_, sum, members) in planes {
            let n = unit(sum).ok_or(Refusal::NotConvex)?;
            let mut d = 0.0;
            let mut count = 0.0;
            for &t in &members {
                for &i in &solid.triangles[t] {
                    d += dot(n, solid.positions[i as usize]);
                    count += 1.0;
                }
            }
            let plane = Plane { n, d: d / count };
            // The face's boundary: its directed edges whose reverse is not in the face.
            let mut edges: HashMap<u32, u32> = HashMap::default();
            let mut inner: HashSet<(u32, u32)> = Default::default();
            for &t in &members {
                let tri = solid.triangles[t];
                for k in 0..3 {
                    inner.insert((tri[k], tri[(k + 1) % 3]));
                }
            }
            for &(a, b) in &inner {
                if !inner.contains(&(b, a)) && edges.insert(a, b).is_some() {
                    return Err(Refusal::NotConvex);
                }
            }
            let Some(&start) = edges.keys().min() else {
                return Err(Refusal::NotConvex);
            };
            let mut face = vec![solid.positions[start as usize]];
            let mut at = edges[&start];
            while at != start {
                if face.len() > edges.len() {
                    return Err(Refusal::NotConvex);
                }
                face.push(solid.positions[at as usize]);
                at = *edges.get(&at).ok_or(Refusal::NotConvex)?;
            }
            if face.len() != edges.len() {
                // More than one boundary loop: not a convex face.
                return Err(Refusal::NotConvex);
            }
            out.planes.push(plane);
            out.faces.push(face);
        }
        for plane in &out.planes {
            if solid.positions.iter().any(|&p| plane.dist(p) > eps) {
                return Err(Refusal::NotConvex);
            }
        }
        if out.planes.len() < 4 || out.volume <= 0.0 {
            return Err(Refusal::NotConvex);
        }
        Ok(out)
    }
}

impl ConvexCutter {
    /// The half-space on the side of the plane through `point` that `normal` points away from
    /// (the side removed), bounded to a box that holds all of `host` with room to spare.
    pub(crate) fn half_space(
        point: [f64; 3],
        normal: [f64; 3],
        host: &Solid,
    ) -> Result<Self, Refusal> {
        let m = unit(normal).ok_or(Refusal::Ambiguous)?;
        let (min, max) = bounds(&host.positions);
        let centre: [f64; 3] = std::array::from_fn(|k| (min[k] + max[k]) / 2.0);
        let radius = norm(sub(max, min)).max(1.0);
        if !radius.is_finite() || !centre.iter().chain(&point).all(|c| c.is_finite()) {
            return Err(Refusal::Ambiguous);
        }
        // The centre dropped onto the plane; u, v, m right-handed.
        let origin = sub(centre, m.map(|c| c * dot(sub(centre, point), m)));
        let u = unit(cross(
            if m[0].abs() < 0.6 {
                [1.0, 0.0, 0.0]
            } else {
                [0.0, 1.0, 0.0]
            },
            m,
        ))
        .ok_or(Refusal::Ambiguous)?;
        let v = cross(m, u);
        let r = 2.0 * radius;
        let corner = |i: usize| {
            let a = if i & 1 == 0 { -r } else { r };
            let b = if i & 2 == 0 { -r } else { r };
            let h = if i & 4 == 0 { -2.0 * r } else { 0.0 };
            add(
                origin,
                add(u.map(|c| c * a), add(v.map(|c| c * b), m.map(|c| c * h))),
            )
        };
        let positions: Vec<[f64; 3]> = (0..8).map(corner).collect();
        let mut solid = Solid {
            positions,
            ..Solid::default()
        };
        for q in BOX_FACES {
            for t in [[q[0], q[1], q[2]], [q[0], q[2], q[3]]] {
                let [a, b, c] = t.map(|i| solid.positions[i]);
                solid
                    .normals
                    .push(unit(cross(sub(b, a), sub(c, a))).ok_or(Refusal::Ambiguous)?);
                solid.triangles.push(t.map(|i| i as u32));
            }
        }
        Self::new(&solid)
    }
}

/// A polygon vertex; `tag` is the plane that made the edge from this vertex to the next.
#[derive(Debug, Clone, Copy)]
struct V {
    p: [f64; 3],
    tag: Option<u32>,
}

/// Where segment `a`–`b` crosses `plane`, computed the same way whichever way round the
/// segment is given, so that two triangles sharing it get the same point.
fn crossing(plane: &Plane, a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    let (a, b) = if a <= b { (a, b) } else { (b, a) };
    let (da, db) = (plane.dist(a), plane.dist(b));
    let t = da / (da - db);
    [
        a[0] + (b[0] - a[0]) * t,
        a[1] + (b[1] - a[1]) * t,
        a[2] + (b[2] - a[2]) * t,
    ]
}

/// Splits a convex polygon by `plane` into the part outside and the part inside.
fn split(poly: &[V], side: &[i8], plane: &Plane, index: u32) -> (Vec<V>, Vec<V>) {
    let mut outside = Vec::with_capacity(poly.len() + 1);
    let mut inside = Vec::with_capacity(poly.len() + 1);
    let n = poly.len();
    for k in 0..n {
        let (v, w) = (poly[k], poly[(k + 1) % n]);
        let (sv, sw) = (side[k], side[(k + 1) % n]);
        if sv >= 0 {
            outside.push(V {
                p: v.p,
                tag: if sv == 0 && sw < 0 {
                    Some(index)
                } else {
                    v.tag
                },
            });
        }
        if sv <= 0 {
            inside.push(V {
                p: v.p,
                tag: if sv == 0 && sw > 0 {
                    Some(index)
                } else {
                    v.tag
                },
            });
        }
        if (sv > 0 && sw < 0) || (sv < 0 && sw > 0) {
            let x = crossing(plane, v.p, w.p);
            if sv > 0 {
                // Leaving the outside: the outside part closes along the plane.
                outside.push(V {
                    p: x,
                    tag: Some(index),
                });
                inside.push(V { p: x, tag: v.tag });
            } else {
                inside.push(V {
                    p: x,
                    tag: Some(index),
                });
                outside.push(V { p: x, tag: v.tag });
            }
        }
    }
    // The closing edge of each part along the plane carries the plane's tag: the vertex
    // before it was given the tag above (crossing or on-plane start).
    (outside, inside)
}

/// Output being assembled: positions welded when they are within `grid` of each other
/// (rounding noise of the split arithmetic, far below f32 resolution).
struct Builder {
    /// Every position by its exact bits (most shared points are computed bit for bit the
    /// same way by every piece that has them).
    exact: HashMap<[u64; 3], u32>,
    /// Every position by its grid cell, for the rest.
    map: HashMap<[i64; 3], u32>,
    grid: f64,
    solid: Solid,
}

impl Builder {
    fn new(grid: f64) -> Self {
        Self {
            exact: HashMap::default(),
            map: HashMap::default(),
            grid,
            solid: Solid::default(),
        }
    }

    fn vertex(&mut self, p: [f64; 3]) -> u32 {
        let bits = p.map(|c| (c + 0.0).to_bits());
        if let Some(&id) = self.exact.get(&bits) {
            return id;
        }
        let id = self.welded(p);
        self.exact.insert(bits, id);
        id
    }

    fn welded(&mut self, p: [f64; 3]) -> u32 {
        let cell = p.map(|c| (c / self.grid).round() as i64);
        for dx in -1..=1 {
            for dy in -1..=1 {
                for dz in -1..=1 {
                    if let Some(&id) = self.map.get(&[cell[0] + dx, cell[1] + dy, cell[2] + dz]) {
                        let q = self.solid.positions[id as usize];
                        if (0..3).all(|k| (q[k] - p[k]).abs() <= self.grid) {
                            return id;
                        }
                    }
                }
            }
        }
        let id = self.solid.positions.len() as u32;
        self.solid.positions.push(p);
        self.map.insert(cell, id);
        id
    }

    fn triangle(&mut self, a: [f64; 3], b: [f64; 3], c: [f64; 3], normal: [f64; 3]) {
        let t = [self.vertex(a), self.vertex(b), self.vertex(c)];
        if t[0] != t[1] && t[1] != t[2] && t[0] != t[2] {
            self.solid.triangles.push(t);
            self.solid.normals.push(normal);
        }
    }
}

/// Most face planes of a cutter (a finely tessellated round cutter beyond this goes to
/// ifc-lite).
pub(crate) const MAX_CUTTER_PLANES: usize = 1024;

/// Most host triangles times cutter planes in one cut (the splitting is about that many plane
/// tests), so that a hostile file's cut cannot take long here.
pub(crate) const MAX_PLANE_TESTS: usize = 4_000_000;

/// Most vertices on unmatched edges that [`mend_t_junctions`] looks at.
const MAX_LOOSE_VERTICES: usize = 2048;

/// Most triangles a host may have for [`subtract`] (the result then falls back to ifc-lite's
/// boolean): the splitting is linear in them, but a chain of cuts grows the host each time.
pub(crate) const MAX_HOST_TRIANGLES: usize = 200_000;

/// Splits triangles at vertices that lie inside one of their unmatched edges (a T-junction
/// left where a cap's boundary and the host's pieces were divided differently along one
/// straight line), so that the edges match. Returns whether anything changed.
fn mend_t_junctions(solid: &mut Solid, grid: f64) -> bool {
    let mut count: HashMap<(u32, u32), i32> = HashMap::default();
    for t in &solid.triangles {
        for k in 0..3 {
            *count.entry((t[k], t[(k + 1) % 3])).or_default() += 1;
        }
    }
    let unmatched = |a: u32, b: u32| {
        count.get(&(a, b)).copied().unwrap_or(0) != count.get(&(b, a)).copied().unwrap_or(0)
    };
    let mut loose: Vec<u32> = Vec::new();
    for &(a, b) in count.keys() {
        if unmatched(a, b) {
            loose.extend([a, b]);
        }
    }
    if loose.is_empty() {
        return false;
    }
    loose.sort_unstable();
    loose.dedup();
    if loose.len() > MAX_LOOSE_VERTICES {
        // Mending is quadratic in these; that many means something else is wrong.
        return false;
    }
    let mut changed = false;
    let mut triangles = Vec::with_capacity(solid.triangles.len());
    let mut normals = Vec::with_capacity(solid.triangles.len());
    for (t, tri) in solid.triangles.iter().enumerate() {
        let mut ring: Vec<u32> = Vec::with_capacity(3);
        for k in 0..3 {
            let (a, b) = (tri[k], tri[(k + 1) % 3]);
            ring.push(a);
            if !unmatched(a, b) {
                continue;
            }
            let (pa, pb) = (solid.positions[a as usize], solid.positions[b as usize]);
            let ab = sub(pb, pa);
            let len2 = dot(ab, ab);
            let mut on: Vec<(f64, u32)> = loose
                .iter()
                .filter(|&&v| v != a && v != b)
                .filter_map(|&v| {
                    let ap = sub(solid.positions[v as usize], pa);
                    let t = dot(ap, ab) / len2;
                    let off = cross(ap, ab);
                    (t > 0.0 && t < 1.0 && dot(off, off) <= 16.0 * grid * grid * len2)
                        .then_some((t, v))
                })
                .collect();
            on.sort_by(|x, y| x.0.total_cmp(&y.0));
            ring.extend(on.into_iter().map(|(_, v)| v));
        }
        if ring.len() == 3 {
            triangles.push(*tri);
            normals.push(solid.normals[t]);
            continue;
        }
        changed = true;
        // Fan from the corner whose two edges were left whole, else from the centroid.
        let corner = (0..ring.len()).find(|&i| {
            let n = ring.len();
            tri.contains(&ring[i])
                && tri.contains(&ring[(i + 1) % n])
                && tri.contains(&ring[(i + n - 1) % n])
        });
        let n = ring.len();
        match corner {
            Some(c) => {
                for k in 1..n - 1 {
                    triangles.push([ring[c], ring[(c + k) % n], ring[(c + k + 1) % n]]);
                    normals.push(solid.normals[t]);
                }
            }
            None => {
                let centre = ring
                    .iter()
                    .fold([0.0; 3], |s, &v| add(s, solid.positions[v as usize]))
                    .map(|s| s / n as f64);
                let c = solid.positions.len() as u32;
                solid.positions.push(centre);
                for k in 0..n {
                    triangles.push([c, ring[k], ring[(k + 1) % n]]);
                    normals.push(solid.normals[t]);
                }
            }
        }
    }
    solid.triangles = triangles;
    solid.normals = normals;
    changed
}

/// `host` minus `cutter`. `Ok(None)` when the cutter does not reach the host (nothing
/// changes); `Err` when this construction cannot be trusted for these operands.
pub(crate) fn subtract(host: &Solid, cutter: &ConvexCutter) -> Result<Option<Solid>, Refusal> {
    if host.triangles.len() > MAX_HOST_TRIANGLES
        || cutter.planes.len() > MAX_CUTTER_PLANES
        || host.triangles.len() * cutter.planes.len() > MAX_PLANE_TESTS
    {
        return Err(Refusal::TooLarge);
    }
    let (hmin, hmax) = bounds(&host.positions);
    let eps = tolerance(
        std::array::from_fn(|k| hmin[k].min(cutter.min[k])),
        std::array::from_fn(|k| hmax[k].max(cutter.max[k])),
    );
    if (0..3).any(|k| cutter.min[k] > hmax[k] + eps || cutter.max[k] < hmin[k] - eps) {
        return Ok(None);
    }
    let mut out = Builder::new(eps * 1e-3);
    let mut cap_edges: Vec<Vec<([f64; 3], [f64; 3])>> = vec![Vec::new(); cutter.planes.len()];
    let mut touched = false;
    let mut pieces: Vec<Vec<V>> = Vec::new();
    for (t, tri) in host.triangles.iter().enumerate() {
        let normal = host.normals[t];
        let corners = tri.map(|i| host.positions[i as usize]);
        // Every triangle goes through every plane, even far from the cutter: a triangle
        // skipped would not share the split points its neighbours put on their common edge.
        pieces.clear();
        let mut poly: Vec<V> = corners.iter().map(|&p| V { p, tag: None }).collect();
        let mut removed = true;
        let mut side = Vec::new();
        for (i, plane) in cutter.planes.iter().enumerate() {
            side.clear();
            side.extend(poly.iter().map(|v| {
                let d = plane.dist(v.p);
                if d > eps {
                    1i8
                } else if d < -eps {
                    -1
                } else {
                    0
                }
            }));
            let any_out = side.iter().any(|&s| s > 0);
            let any_in = side.iter().any(|&s| s < 0);
            let keep_whole = if !any_out && !any_in {
                // In the plane: material on the cutter's side (normals agree) goes with the
                // cutter, material on the far side stays.
                dot(normal, plane.n) < 0.0
            } else {
                !any_in
            };
            if keep_whole {
                pieces.push(std::mem::take(&mut poly));
                removed = false;
                break;
            }
            if !any_out {
                // Inside this plane, perhaps touching it along an edge: that edge is where
                // the host's surface meets the plane, so it bounds the cap there as a split
                // edge would (a face triangulated around an earlier cut has such edges).
                let n = poly.len();
                for k in 0..n {
                    if side[k] == 0 && side[(k + 1) % n] == 0 && poly[k].tag.is_none() {
                        poly[k].tag = Some(i as u32);
                    }
                }
                continue;
            }
            let (outside, inside) = split(&poly, &side, plane, i as u32);
            pieces.push(outside);
            poly = inside;
        }
        if removed {
            touched = true;
            let n = poly.len();
            for k in 0..n {
                if let Some(i) = poly[k].tag {
                    cap_edges[i as usize].push((poly[k].p, poly[(k + 1) % n].p));
                }
            }
        }
        emit_pieces(&mut out, &pieces, &poly, removed, normal);
    }
    if !touched {
        // No part of the host's surface is inside the cutter: disjoint (whatever the splits
        // made, the host is unchanged), or the cutter inside the host.
        // A point of the cutter inside the host would make a hidden void, and a host inside
        // the cutter vanishes; neither is resolved here. The point asked about is inside the
        // cutter (the mean of its faces' corners, a convex combination): a corner may lie on
        // the host's surface (an opening whose faces are the faces of a hole already in the
        // host, as ArchiCAD writes wall layers), where no ray from it can decide, while no
        // host surface passes through the cutter's inside, or the host would be touched.
        let corners = cutter.faces.iter().flatten();
        let count = corners.clone().count();
        if count == 0 {
            return Err(Refusal::Ambiguous);
        }
        let centre = corners
            .fold([0.0; 3], |s, &p| add(s, p))
            .map(|c| c / count as f64);
        let inside = point_inside(host, centre, eps)?;
        let host_inside = host
            .positions
            .first()
            .map(|&p| cutter.planes.iter().all(|pl| pl.dist(p) < -eps))
            .unwrap_or(false);
        if inside || host_inside {
            return Err(Refusal::Ambiguous);
        }
        return Ok(None);
    }
    for (i, edges) in cap_edges.iter().enumerate() {
        cap(&mut out, host, cutter, i, edges, eps)?;
    }
    let grid = out.grid;
    let mut result = out.solid;
    for _ in 0..3 {
        if !mend_t_junctions(&mut result, grid) {
            break;
        }
    }
    if !closed(&result.triangles) {
        return Err(Refusal::Check);
    }
    let (v_host, v_out) = (volume(host), volume(&result));
    let slack = 1e-6 * v_host.abs().max(cutter.volume) + eps * eps * eps;
    if v_out > v_host + slack || v_out < v_host - cutter.volume - slack || v_out < -slack {
        return Err(Refusal::Check);
    }
    Ok(Some(result))
}

/// Largest planar region [`merge_coplanar`] re-triangulates, in triangles (the hole bridging of
/// the triangulation is quadratic in the worst case).
const MAX_REGION_TRIANGLES: usize = 20_000;

/// `solid` with every planar region (edge-connected triangles of one plane: a wall face cut by
/// windows one after another) triangulated afresh from its boundary loops. The cuts fragment
/// the faces: each cut plane splits every triangle it crosses, and later cuts keep those
/// splits, so a wall with a row of windows ends up with points all along its straight edges.
/// A boundary point that lies on a straight stretch between exactly two regions (and nothing
/// else uses it) is dropped from both, so the two still meet edge to edge; every other
/// boundary point is kept (one the triangulation leaves out is put back by the T-junction
/// mending). `None` when nothing got smaller or the result fails the checks a cut's result
/// must pass (closed, the same volume): the caller then keeps `solid`.
pub(crate) fn merge_coplanar(solid: &Solid) -> Option<Solid> {
    let n = solid.triangles.len();
    if n < 4 {
        return None;
    }
    let (min, max) = bounds(&solid.positions);
    let eps = tolerance(min, max);
    // Each directed edge belongs to one triangle in a closed manifold mesh.
    let mut owner: HashMap<(u32, u32), u32> =
        HashMap::with_capacity_and_hasher(n * 3, Default::default());
    for (t, tri) in solid.triangles.iter().enumerate() {
        for k in 0..3 {
            if owner.insert((tri[k], tri[(k + 1) % 3]), t as u32).is_some() {
                return None;
            }
        }
    }
    let (region, regions) = planar_regions(solid, &owner, eps);
    // Each region's boundary as links vertex → (previous, next); `None`: left as it is.
    let mut links: Vec<Option<HashMap<u32, (u32, u32)>>> = regions
        .iter()
        .enumerate()
        .map(|(id, members)| {
            if members.len() > MAX_REGION_TRIANGLES {
                return None;
            }
            boundary_links(solid, members, &owner, &region, id as u32)
        })
        .collect();
    // The regions using each vertex (at most two are remembered; `u32::MAX - 1`: more).
    const MANY: u32 = u32::MAX - 1;
    let mut users = vec![[u32::MAX; 2]; solid.positions.len()];
    for (t, tri) in solid.triangles.iter().enumerate() {
        let r = region[t];
        for &v in tri {
            let u = &mut users[v as usize];
            if u[0] == u32::MAX || u[0] == r {
                u[0] = r;
            } else if u[1] == u32::MAX || u[1] == r {
                u[1] = r;
            } else {
                *u = [MANY, MANY];
            }
        }
    }
    let mut dirty = vec![false; regions.len()];
    let mut work: Vec<u32> = (0..solid.positions.len() as u32).collect();
    while let Some(v) = work.pop() {
        let [a, b] = users[v as usize];
        if a >= MANY || b >= MANY {
            continue;
        }
        let (Some(Some(la)), Some(Some(lb))) = (links.get(a as usize), links.get(b as usize))
        else {
            continue;
        };
        let (Some(&(pa, na)), Some(&(pb, nb))) = (la.get(&v), lb.get(&v)) else {
            continue;
        };
        // The same stretch, walked one way by each region; and at least a triangle left.
        if pa != nb || na != pb || pa == na || la.get(&pa).is_some_and(|l| l.0 == na) {
            continue;
        }
        if lb.get(&pb).is_some_and(|l| l.0 == nb) {
            continue;
        }
        let [p, q, x] = [pa, na, v].map(|i| solid.positions[i as usize]);
        let pq = sub(q, p);
        let len2 = dot(pq, pq);
        let t = dot(sub(x, p), pq) / len2.max(f64::MIN_POSITIVE);
        let off = cross(sub(x, p), pq);
        if !(t > 0.0 && t < 1.0 && dot(off, off) <= eps * eps * len2) {
            continue;
        }
        for (r, prev, next) in [(a, pa, na), (b, pb, nb)] {
            if let Some(Some(l)) = links.get_mut(r as usize) {
                l.remove(&v);
                if let Some(e) = l.get_mut(&prev) {
                    e.1 = next;
                }
                if let Some(e) = l.get_mut(&next) {
                    e.0 = prev;
                }
            }
            dirty[r as usize] = true;
        }
        users[v as usize] = [MANY, MANY];
        work.extend([pa, na]);
    }
    let mut out = Builder::new(eps * 1e-3);
    let keep = |out: &mut Builder, members: &[u32]| {
        for &t in members {
            let [a, b, c] = solid.triangles[t as usize].map(|i| solid.positions[i as usize]);
            out.triangle(a, b, c, solid.normals[t as usize]);
        }
    };
    for (id, members) in regions.iter().enumerate() {
        let Some(Some(l)) = links.get(id) else {
            keep(&mut out, members);
            continue;
        };
        if !dirty[id] && members.len() < 3 {
            keep(&mut out, members);
            continue;
        }
        let rings = rings_of(l)?;
        let rings: Vec<Vec<[f64; 3]>> = rings
            .iter()
            .map(|r| r.iter().map(|&i| solid.positions[i as usize]).collect())
            .collect();
        let normal = solid.normals[members[0] as usize];
        let mut fresh = Builder::new(out.grid);
        let made =
            triangulate(&mut fresh, &rings, normal).is_ok() && !fresh.solid.triangles.is_empty();
        if made && (dirty[id] || fresh.solid.triangles.len() < members.len()) {
            for (t, tri) in fresh.solid.triangles.iter().enumerate() {
                let [a, b, c] = tri.map(|i| fresh.solid.positions[i as usize]);
                // The ear clipping joins holes whose corners are in line (a row of windows)
                // with flat triangles along that line; without them the line's points are
                // T-junctions of the triangles beside it, which the mending below splits.
                if !sliver(a, b, c) {
                    out.triangle(a, b, c, fresh.solid.normals[t]);
                }
            }
        } else if dirty[id] {
            // Its neighbours no longer have the points it would keep.
            return None;
        } else {
            keep(&mut out, members);
        }
    }
    let grid = out.grid;
    let mut merged = out.solid;
    for _ in 0..3 {
        if !mend_t_junctions(&mut merged, grid) {
            break;
        }
    }
    let (before, after) = (volume(solid), volume(&merged));
    // The same slack as a cut's own volume check (the flat triangles left out move it by
    // rounding noise).
    let same_volume = (after - before).abs() <= 1e-6 * before.abs() + eps * eps * eps;
    (merged.triangles.len() < n && closed(&merged.triangles) && same_volume).then_some(merged)
}

/// Whether a triangle is flat: its area is below a ten-millionth of its longest side squared
/// (the importer's cleaner drops such triangles as degenerate).
fn sliver(a: [f64; 3], b: [f64; 3], c: [f64; 3]) -> bool {
    let (e1, e2, e3) = (sub(b, a), sub(c, a), sub(c, b));
    let longest = dot(e1, e1).max(dot(e2, e2)).max(dot(e3, e3));
    norm(cross(e1, e2)) <= 1e-6 * longest
}

/// The planar regions of `solid`: edge-connected triangles with the same normal (within
/// 1e-9) whose corners lie within `eps` of the first one's plane. Returns each triangle's
/// region and each region's triangles.
fn planar_regions(
    solid: &Solid,
    owner: &HashMap<(u32, u32), u32>,
    eps: f64,
) -> (Vec<u32>, Vec<Vec<u32>>) {
    let n = solid.triangles.len();
    let mut region = vec![u32::MAX; n];
    let mut regions: Vec<Vec<u32>> = Vec::new();
    for seed in 0..n {
        if region[seed] != u32::MAX {
            continue;
        }
        let id = regions.len() as u32;
        let normal = solid.normals[seed];
        let offset = dot(normal, solid.positions[solid.triangles[seed][0] as usize]);
        let mut members = vec![seed as u32];
        region[seed] = id;
        let mut next = 0;
        while next < members.len() {
            let tri = solid.triangles[members[next] as usize];
            next += 1;
            for k in 0..3 {
                let Some(&across) = owner.get(&(tri[(k + 1) % 3], tri[k])) else {
                    continue;
                };
                let a = across as usize;
                if region[a] != u32::MAX
                    || dot(solid.normals[a], normal) < 1.0 - 1e-9
                    || solid.triangles[a]
                        .iter()
                        .any(|&v| (dot(normal, solid.positions[v as usize]) - offset).abs() > eps)
                {
                    continue;
                }
                region[a] = id;
                members.push(across);
            }
        }
        regions.push(members);
    }
    (region, regions)
}

/// The loops of a region's boundary links (vertex → (previous, next)), in a stable order.
fn rings_of(links: &HashMap<u32, (u32, u32)>) -> Option<Vec<Vec<u32>>> {
    let mut starts: Vec<u32> = links.keys().copied().collect();
    starts.sort_unstable();
    let mut seen: HashSet<u32> = HashSet::default();
    let mut rings = Vec::new();
    for start in starts {
        if !seen.insert(start) {
            continue;
        }
        let mut ring = vec![start];
        let mut at = links.get(&start)?.1;
        while at != start {
            if !seen.insert(at) {
                return None;
            }
            ring.push(at);
            at = links.get(&at)?.1;
        }
        rings.push(ring);
    }
    Some(rings)
}

/// The boundary of the region `id` (its triangles `members`) as links vertex → (previous,
/// next): the directed edges whose reverse belongs to another region. `None` where a vertex
/// starts two boundary edges (two loops touching at a point), the edges do not close into
/// rings, or a vertex inside the region is also used outside it.
fn boundary_links(
    solid: &Solid,
    members: &[u32],
    owner: &HashMap<(u32, u32), u32>,
    region: &[u32],
    id: u32,
) -> Option<HashMap<u32, (u32, u32)>> {
    let mut next: HashMap<u32, u32> = HashMap::default();
    let mut inner: HashSet<u32> = HashSet::default();
    for &t in members {
        let tri = solid.triangles[t as usize];
        for k in 0..3 {
            let (a, b) = (tri[k], tri[(k + 1) % 3]);
            let across = owner.get(&(b, a))?;
            if region[*across as usize] != id {
                if next.insert(a, b).is_some() {
                    return None;
                }
            } else {
                inner.insert(a);
            }
        }
    }
    // A vertex of the region not on its boundary disappears: nothing else may use it.
    let interior: HashSet<u32> = inner
        .into_iter()
        .filter(|v| !next.contains_key(v))
        .collect();
    if !interior.is_empty() {
        let used_outside = solid
            .triangles
            .iter()
            .enumerate()
            .any(|(t, tri)| region[t] != id && tri.iter().any(|v| interior.contains(v)));
        if used_outside {
            return None;
        }
    }
    let mut links: HashMap<u32, (u32, u32)> =
        next.iter().map(|(&a, &b)| (a, (u32::MAX, b))).collect();
    for (&a, &b) in &next {
        links.get_mut(&b)?.0 = a;
    }
    // Every edge must belong to a closed ring.
    rings_of(&links)?;
    Some(links)
}

/// Emits one host triangle's kept pieces, with the vertices of its other pieces that lie on
/// their edges inserted (so that neighbouring pieces meet vertex to vertex).
fn emit_pieces(
    out: &mut Builder,
    pieces: &[Vec<V>],
    removed: &[V],
    was_removed: bool,
    normal: [f64; 3],
) {
    let all: Vec<[f64; 3]> = pieces
        .iter()
        .flatten()
        .chain(if was_removed {
            removed.iter()
        } else {
            [].iter()
        })
        .map(|v| v.p)
        .collect();
    for piece in pieces {
        if piece.len() < 3 {
            continue;
        }
        let mut ring: Vec<[f64; 3]> = Vec::with_capacity(piece.len());
        // Whether points were inserted into the edge leaving each piece vertex.
        let mut grown = vec![false; piece.len()];
        let n = piece.len();
        for k in 0..n {
            let (a, b) = (piece[k].p, piece[(k + 1) % n].p);
            ring.push(a);
            let ab = sub(b, a);
            let len2 = dot(ab, ab);
            if len2 == 0.0 {
                continue;
            }
            let mut on: Vec<(f64, [f64; 3])> = all
                .iter()
                .filter(|&&p| p != a && p != b)
                .filter_map(|&p| {
                    let ap = sub(p, a);
                    let t = dot(ap, ab) / len2;
                    let off = cross(ap, ab);
                    (t > 0.0 && t < 1.0 && dot(off, off) <= 1e-18 * len2 * len2.max(1.0))
                        .then_some((t, p))
                })
                .collect();
            if !on.is_empty() {
                on.sort_by(|x, y| x.0.total_cmp(&y.0));
                on.dedup_by(|x, y| x.1 == y.1);
                ring.extend(on.into_iter().map(|(_, p)| p));
                grown[k] = true;
            }
        }
        ring.dedup();
        while ring.len() > 1 && ring.first() == ring.last() {
            ring.pop();
        }
        if ring.len() < 3 {
            continue;
        }
        // Fan from a corner neither of whose edges gained points (the fan then has no
        // triangle of three collinear points), else from the centroid.
        let apex = (0..n)
            .find(|&k| !grown[k] && !grown[(k + n - 1) % n])
            .and_then(|k| ring.iter().position(|&p| p == piece[k].p));
        match apex {
            Some(a) => {
                let m = ring.len();
                for k in 1..m - 1 {
                    out.triangle(ring[a], ring[(a + k) % m], ring[(a + k + 1) % m], normal);
                }
            }
            None => {
                let c = ring
                    .iter()
                    .fold([0.0; 3], |s, &p| add(s, p))
                    .map(|s| s / ring.len() as f64);
                for k in 0..ring.len() {
                    out.triangle(c, ring[k], ring[(k + 1) % ring.len()], normal);
                }
            }
        }
    }
}

/// Builds and emits the cap on cutter plane `i` from the edges the plane cut into removed
/// host parts, closed along the cutter face's boundary.
fn cap(
    out: &mut Builder,
    host: &Solid,
    cutter: &ConvexCutter,
    i: usize,
    edges: &[([f64; 3], [f64; 3])],
    eps: f64,
) -> Result<(), Refusal> {
    let plane = cutter.planes[i];
    // The face boundary, counter-clockwise seen from inside the cutter (the cap's normal is
    // the plane's, reversed).
    let face: Vec<[f64; 3]> = cutter.faces[i].iter().rev().copied().collect();
    let key = |p: [f64; 3]| p.map(|c| (c + 0.0).to_bits());
    let mut next: HashMap<[u64; 3], ([f64; 3], [f64; 3])> = HashMap::default();
    let mut has_incoming: HashSet<[u64; 3]> = Default::default();
    // An edge of two removed pieces that both touch the plane there (an on-plane edge of
    // the host inside the cutter) comes once each way and bounds nothing: both go.
    let mut count: HashMap<([u64; 3], [u64; 3]), i32> = HashMap::default();
    for &(a, b) in edges {
        *count.entry((key(a), key(b))).or_default() += 1;
    }
    for &(a, b) in edges {
        let (ka, kb) = (key(a), key(b));
        if a == b || count.get(&(kb, ka)).is_some_and(|&c| c > 0) {
            continue;
        }
        if next.insert(ka, (a, b)).is_some() || !has_incoming.insert(kb) {
            return Err(Refusal::Ambiguous);
        }
    }
    let mut loops: Vec<Vec<[f64; 3]>> = Vec::new();
    let mut chains: Vec<Vec<[f64; 3]>> = Vec::new();
    let mut used: HashSet<[u64; 3]> = Default::default();
    // Open chains first (they start where nothing comes in).
    let mut starts: Vec<[f64; 3]> = next
        .values()
        .map(|&(a, _)| a)
        .filter(|a| !has_incoming.contains(&key(*a)))
        .collect();
    starts.sort_by(|x, y| x.partial_cmp(y).unwrap_or(std::cmp::Ordering::Equal));
    for start in starts {
        let mut chain = vec![start];
        let mut at = start;
        while let Some(&(_, b)) = next.get(&key(at)) {
            if !used.insert(key(at)) {
                return Err(Refusal::Ambiguous);
            }
            chain.push(b);
            at = b;
        }
        chains.push(chain);
    }
    let mut rest: Vec<[f64; 3]> = next
        .values()
        .map(|&(a, _)| a)
        .filter(|a| !used.contains(&key(*a)))
        .collect();
    rest.sort_by(|x, y| x.partial_cmp(y).unwrap_or(std::cmp::Ordering::Equal));
    for start in rest {
        if used.contains(&key(start)) {
            continue;
        }
        let mut ring = Vec::new();
        let mut at = start;
        loop {
            if !used.insert(key(at)) {
                return Err(Refusal::Ambiguous);
            }
            ring.push(at);
            let Some(&(_, b)) = next.get(&key(at)) else {
                return Err(Refusal::Ambiguous);
            };
            if b == start {
                break;
            }
            at = b;
        }
        loops.push(ring);
    }
    // Close the chains along the face boundary.
    if !chains.is_empty() {
        let locate = |p: [f64; 3]| -> Option<f64> {
            let m = face.len();
            let mut best: Option<(f64, f64)> = None;
            for k in 0..m {
                let (a, b) = (face[k], face[(k + 1) % m]);
                let ab = sub(b, a);
                let len2 = dot(ab, ab);
                let t = (dot(sub(p, a), ab) / len2).clamp(0.0, 1.0);
                let q = add(a, ab.map(|c| c * t));
                let d = norm(sub(p, q));
                if best.is_none_or(|(bd, _)| d < bd) {
                    best = Some((d, k as f64 + t));
                }
            }
            best.filter(|&(d, _)| d <= 4.0 * eps)
                .map(|(_, s)| if s >= m as f64 { s - m as f64 } else { s })
        };
        let m = face.len() as f64;
        let mut ends: Vec<(f64, f64, usize)> = Vec::new();
        for (c, chain) in chains.iter().enumerate() {
            let s = locate(chain[0]).ok_or(Refusal::Ambiguous)?;
            let e = locate(*chain.last().unwrap_or(&chain[0])).ok_or(Refusal::Ambiguous)?;
            ends.push((s, e, c));
        }
        let mut done = vec![false; chains.len()];
        for first in 0..chains.len() {
            if done[first] {
                continue;
            }
            let mut ring: Vec<[f64; 3]> = Vec::new();
            let mut c = first;
            loop {
                if done[c] {
                    if c == first {
                        break;
                    }
                    return Err(Refusal::Ambiguous);
                }
                done[c] = true;
                ring.extend_from_slice(&chains[c]);
                let e = ends[c].1;
                // The next chain start along the boundary after `e`.
                let ahead = |s: f64| {
                    let d = s - e;
                    if d < 0.0 { d + m } else { d }
                };
                let (nc, ns) = ends
                    .iter()
                    .map(|&(s, _, k)| (k, s))
                    .min_by(|x, y| ahead(x.1).total_cmp(&ahead(y.1)))
                    .ok_or(Refusal::Ambiguous)?;
                // Corners passed on the way, in order.
                let first = e.floor() as usize + 1;
                let steps = (ahead(ns) + (e - e.floor())).floor() as usize;
                for k in first..first + steps {
                    ring.push(face[k % face.len()]);
                }
                // The end point and the next start may coincide.
                if ring.last() == chains[nc].first() {
                    ring.pop();
                }
                c = nc;
            }
            if ring.len() > 1 && ring.first() == ring.last() {
                ring.pop();
            }
            loops.push(ring);
        }
    } else {
        // No chain reaches the face's boundary: the boundary is either all inside the host
        // or all outside. Holes only (or nothing) with material on both sides of the face
        // means the whole face is a cap.
        let (u, v) = basis(plane.n);
        let biggest = loops
            .iter()
            .map(|l| area2(l, u, v))
            .max_by(|a, b| a.abs().total_cmp(&b.abs()));
        let whole = match biggest {
            Some(a) => a < 0.0,
            None => {
                let c = face
                    .iter()
                    .fold([0.0; 3], |s, &p| add(s, p))
                    .map(|s| s / face.len() as f64);
                let step = plane.n.map(|x| x * 8.0 * eps);
                point_inside(host, add(c, step), eps)? && point_inside(host, sub(c, step), eps)?
            }
        };
        if whole {
            loops.push(face.clone());
        }
    }
    triangulate(out, &loops, plane.n.map(|x| -x))
}

/// A 2D basis of the plane with normal `n`; `u × v` is `-n` (the cap's normal).
fn basis(n: [f64; 3]) -> ([f64; 3], [f64; 3]) {
    let a = if n[0].abs() < 0.6 {
        [1.0, 0.0, 0.0]
    } else {
        [0.0, 1.0, 0.0]
    };
    let u = unit(cross(a, n)).unwrap_or([1.0, 0.0, 0.0]);
    let v = cross(u, n);
    // u × v = u × (u × n) = -n for unit u ⟂ n.
    (u, v)
}

/// Twice the signed area of a ring in the (u, v) basis.
fn area2(ring: &[[f64; 3]], u: [f64; 3], v: [f64; 3]) -> f64 {
    let n = ring.len();
    (0..n)
        .map(|k| {
            let (a, b) = (ring[k], ring[(k + 1) % n]);
            dot(a, u) * dot(b, v) - dot(b, u) * dot(a, v)
        })
        .sum()
}

/// Triangulates rings (outer rings counter-clockwise about `normal`, holes clockwise) and
/// emits the triangles with `normal`.
fn triangulate(
    out: &mut Builder,
    rings: &[Vec<[f64; 3]>],
    normal: [f64; 3],
) -> Result<(), Refusal> {
    if rings.is_empty() {
        return Ok(());
    }
    // Basis with u × v = normal.
    let (u, v) = basis(normal.map(|x| -x));
    let flat = |ring: &Vec<[f64; 3]>| -> Vec<[f64; 2]> {
        ring.iter().map(|&p| [dot(p, u), dot(p, v)]).collect()
    };
    let mut outers: Vec<usize> = Vec::new();
    let mut holes: Vec<usize> = Vec::new();
    for (k, ring) in rings.iter().enumerate() {
        if ring.len() < 3 {
            continue;
        }
        let a = area2(ring, u, v);
        if a > 0.0 {
            outers.push(k);
        } else if a < 0.0 {
            holes.push(k);
        }
    }
    let mut owned: Vec<Vec<usize>> = vec![Vec::new(); outers.len()];
    for &h in &holes {
        let p = flat(&rings[h])[0];
        let owner = outers
            .iter()
            .enumerate()
            .filter(|(_, o)| contains(&flat(&rings[**o]), p))
            .min_by(|x, y| area2(&rings[*x.1], u, v).total_cmp(&area2(&rings[*y.1], u, v)))
            .map(|(i, _)| i)
            .ok_or(Refusal::Ambiguous)?;
        owned[owner].push(h);
    }
    for (i, &o) in outers.iter().enumerate() {
        let mut points: Vec<[f64; 3]> = rings[o].clone();
        let mut coords: Vec<f64> = flat(&rings[o]).into_iter().flatten().collect();
        let mut starts = Vec::new();
        for &h in &owned[i] {
            starts.push(points.len());
            points.extend_from_slice(&rings[h]);
            coords.extend(flat(&rings[h]).into_iter().flatten());
        }
        let tris = earcutr::earcut(&coords, &starts, 2).map_err(|_| Refusal::Ambiguous)?;
        for t in tris.chunks_exact(3) {
            // earcut's triangles may come either way round; orient them by the normal.
            let (a, b, c) = (points[t[0]], points[t[1]], points[t[2]]);
            if dot(cross(sub(b, a), sub(c, a)), normal) >= 0.0 {
                out.triangle(a, b, c, normal);
            } else {
                out.triangle(a, c, b, normal);
            }
        }
    }
    Ok(())
}

/// Even-odd point-in-polygon in 2D.
fn contains(ring: &[[f64; 2]], p: [f64; 2]) -> bool {
    let mut inside = false;
    let n = ring.len();
    for k in 0..n {
        let (a, b) = (ring[k], ring[(k + n - 1) % n]);
        if (a[1] > p[1]) != (b[1] > p[1]) {
            let x = a[0] + (p[1] - a[1]) * (b[0] - a[0]) / (b[1] - a[1]);
            if p[0] < x {
                inside = !inside;
            }
        }
    }
    inside
}

/// Whether `p` is inside the closed mesh `solid` (ray parity); `Err` when every ray tried
/// grazes an edge or passes too close to `p`'s own surface.
fn point_inside(solid: &Solid, p: [f64; 3], eps: f64) -> Result<bool, Refusal> {
    const DIRECTIONS: [[f64; 3]; 3] = [
        [0.577_215_664_9, 0.316_227_766_0, 0.752_101_333_1],
        [-0.267_261_241_9, 0.801_783_725_7, 0.534_522_483_8],
        [0.408_248_290_5, -0.408_248_290_5, 0.816_496_580_9],
    ];
    'direction: for dir in DIRECTIONS {
        let dir = unit(dir).unwrap_or([0.0, 0.0, 1.0]);
        let mut hits = 0;
        for tri in &solid.triangles {
            let [a, b, c] = tri.map(|i| solid.positions[i as usize]);
            let e1 = sub(b, a);
            let e2 = sub(c, a);
            let h = cross(dir, e2);
            let det = dot(e1, h);
            let scale = norm(e1) * norm(e2);
            if det.abs() <= 1e-12 * scale {
                continue;
            }
            let s = sub(p, a);
            let bu = dot(s, h) / det;
            let q = cross(s, e1);
            let bv = dot(dir, q) / det;
            let t = dot(e2, q) / det;
            let margin = 1e-9;
            if bu < -margin || bv < -margin || bu + bv > 1.0 + margin || t < -eps {
                continue;
            }
            if bu < margin || bv < margin || bu + bv > 1.0 - margin || t.abs() <= eps {
                continue 'direction;
            }
            hits += 1;
        }
        return Ok(hits % 2 == 1);
    }
    Err(Refusal::Ambiguous)
}

fn unit(a: [f64; 3]) -> Option<[f64; 3]> {
    let n = norm(a);
    (n.is_finite() && n > 0.0).then(|| a.map(|c| c / n))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An axis-aligned box as a closed, outward-oriented mesh (through ifc-lite's layout:
    /// three f32 per vertex), turned by `turn` about the z axis and then the x axis.
    fn cuboid(min: [f64; 3], max: [f64; 3], turn: f64) -> Solid {
        let corner = |i: usize| {
            let p = [
                if i & 1 == 0 { min[0] } else { max[0] },
                if i & 2 == 0 { min[1] } else { max[1] },
                if i & 4 == 0 { min[2] } else { max[2] },
            ];
            let (s, c) = turn.sin_cos();
            let p = [c * p[0] - s * p[1], s * p[0] + c * p[1], p[2]];
            [p[0], c * p[1] - s * p[2], s * p[1] + c * p[2]]
        };
        let mut positions = Vec::new();
        let mut indices = Vec::new();
        for q in BOX_FACES {
            let base = (positions.len() / 3) as u32;
            for i in q {
                positions.extend(corner(i).map(|c| c as f32));
            }
            indices.extend([base, base + 1, base + 2, base, base + 2, base + 3]);
        }
        solid_from_triangles(&positions, &indices).expect("a box is closed")
    }

    fn cut(host: &Solid, cutter: &Solid) -> Result<Option<Solid>, Refusal> {
        subtract(host, &ConvexCutter::new(cutter).expect("a box is convex"))
    }

    /// Area of the triangles facing `normal`.
    fn area_facing(solid: &Solid, normal: [f64; 3]) -> f64 {
        solid
            .triangles
            .iter()
            .zip(&solid.normals)
            .filter(|(_, n)| dot(**n, normal) > 1.0 - 1e-9)
            .map(|(t, _)| {
                let [a, b, c] = t.map(|i| solid.positions[i as usize]);
                norm(cross(sub(b, a), sub(c, a))) / 2.0
            })
            .sum()
    }

    /// A wall 10 × 0.3 × 3 m with two windows through it at different heights. Cut, its front
    /// face is in many pieces; merged, each face is triangulated from its corners alone. Hand
    /// count: the front and back faces are a rectangle with two rectangular holes, 12 corners
    /// and 2 holes, so 12 + 2·2 − 2 = 14 triangles each; top, bottom and the two ends 2 each;
    /// each window's four reveals 2 each: 28 + 8 + 16 = 52 triangles, and the volume is the
    /// wall's 9 m³ less 2 × (1.2 × 0.3 × 1.0) = 8.28 m³.
    #[test]
    fn merged_faces_of_a_wall_with_two_windows_have_only_their_corners() {
        let mut wall = cuboid([0.0, 0.0, 0.0], [10.0, 0.3, 3.0], 0.0);
        for (x, z) in [(1.5, 1.0), (6.0, 1.2)] {
            let window = cuboid([x, -1.0, z], [x + 1.2, 1.3, z + 1.0], 0.0);
            wall = cut(&wall, &window)
                .expect("test input")
                .expect("test input");
        }
        let fragmented = wall.triangles.len();
        let merged = merge_coplanar(&wall).expect("fewer triangles");
        assert_eq!(merged.triangles.len(), 52, "from {fragmented}");
        assert!(fragmented > 52, "{fragmented}");
        assert!(closed(&merged.triangles));
        // (The boxes went through f32, as ifc-lite's meshes do: 1.2 is 1.2000000477.)
        assert!((volume(&merged) - 8.28).abs() < 1e-6, "{}", volume(&merged));
        assert!((volume(&merged) - volume(&wall)).abs() < 1e-9);
        // The front face keeps its area: 30 m² less the two 1.2 m² holes.
        assert!((area_facing(&merged, [0.0, -1.0, 0.0]) - 27.6).abs() < 1e-6);
        // No corner is left in the middle of a straight edge: every vertex is a box or window
        // corner (8 + 2 × 8).
        let used: HashSet<u32> = merged.triangles.iter().flatten().copied().collect();
        assert_eq!(used.len(), 24);
    }

    /// A row of windows at one height: the triangulation's flat triangles along the line of
    /// their sills are left out and the faces beside them split instead, so the result stays
    /// closed and has no triangle without area.
    #[test]
    fn windows_in_a_row_merge_without_flat_triangles() {
        let mut wall = cuboid([0.0, 0.0, 0.0], [20.0, 0.3, 3.0], 0.0);
        for k in 0..6 {
            let x = 1.0 + 3.0 * f64::from(k);
            let window = cuboid([x, -1.0, 0.9], [x + 1.5, 1.3, 2.4], 0.0);
            wall = cut(&wall, &window)
                .expect("test input")
                .expect("test input");
        }
        let merged = merge_coplanar(&wall).expect("fewer triangles");
        assert!(merged.triangles.len() < wall.triangles.len());
        assert!(closed(&merged.triangles));
        assert!((volume(&merged) - (60.0 * 0.3 - 6.0 * 1.5 * 1.5 * 0.3)).abs() < 1e-6);
        for t in &merged.triangles {
            let [a, b, c] = t.map(|i| merged.positions[i as usize]);
            assert!(!sliver(a, b, c), "{a:?} {b:?} {c:?}");
        }
    }

    #[test]
    fn a_cube_clipped_in_half_keeps_half_its_volume_and_gets_a_unit_cap() {
        let host = cuboid([0.0; 3], [1.0; 3], 0.0);
        let result = cut(&host, &cuboid([0.5, -1.0, -1.0], [2.0, 2.0, 2.0], 0.0))
            .expect("test input")
            .expect("test input");
        assert!((volume(&result) - 0.5).abs() < 1e-9, "{}", volume(&result));
        assert!(closed(&result.triangles));
        // The cap at x = 0.5 faces +x (into the removed half) and is the full unit square;
        // the host's own +x face is gone.
        assert!((area_facing(&result, [1.0, 0.0, 0.0]) - 1.0).abs() < 1e-9);
        assert!(result.positions.iter().all(|p| p[0] <= 0.5 + 1e-12));
    }

    #[test]
    fn a_corner_notch_removes_its_own_volume() {
        let host = cuboid([0.0; 3], [2.0; 3], 0.0);
        let result = cut(&host, &cuboid([1.0; 3], [3.0; 3], 0.0))
            .expect("test input")
            .expect("test input");
        assert!((volume(&result) - 7.0).abs() < 1e-9, "{}", volume(&result));
        assert!(closed(&result.triangles));
        // Three unit caps, each facing into the notch.
        for n in [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]] {
            // The host's face in that direction keeps 3 of its 4 units; the cap adds 1.
            assert!((area_facing(&result, n) - 4.0).abs() < 1e-9, "{n:?}");
        }
    }

    #[test]
    fn a_blind_pocket_gets_a_whole_floor() {
        let host = cuboid([0.0; 3], [4.0; 3], 0.0);
        let result = cut(&host, &cuboid([1.0, 1.0, 2.0], [3.0, 3.0, 5.0], 0.0))
            .expect("test input")
            .expect("test input");
        assert!((volume(&result) - 56.0).abs() < 1e-9, "{}", volume(&result));
        assert!(closed(&result.triangles));
        // Upward faces: the top ring (16 - 4) and the pocket floor (4).
        assert!((area_facing(&result, [0.0, 0.0, 1.0]) - 16.0).abs() < 1e-9);
    }

    #[test]
    fn a_through_hole_leaves_a_ring() {
        let host = cuboid([0.0; 3], [4.0; 3], 0.0);
        let result = cut(&host, &cuboid([1.0, 1.0, -1.0], [3.0, 3.0, 5.0], 0.0))
            .expect("test input")
            .expect("test input");
        assert!((volume(&result) - 48.0).abs() < 1e-9, "{}", volume(&result));
        assert!(closed(&result.triangles));
        assert!((area_facing(&result, [0.0, 0.0, 1.0]) - 12.0).abs() < 1e-9);
        // The hole's walls: four 2 x 4 faces, one facing each way.
        assert!((area_facing(&result, [1.0, 0.0, 0.0]) - (16.0 + 8.0)).abs() < 1e-9);
    }

    #[test]
    fn turned_operands_cut_the_same_volume() {
        let turn = 0.3;
        let host = cuboid([0.0; 3], [2.0; 3], turn);
        let result = cut(&host, &cuboid([1.0, -1.0, 1.0], [3.0, 3.0, 3.0], turn))
            .expect("test input")
            .expect("test input");
        // The cutter takes the slab x, z in [1, 2]: 2 x 1 x 1... of a 2-cube: 8 - 2.
        assert!((volume(&result) - 6.0).abs() < 1e-5, "{}", volume(&result));
        assert!(closed(&result.triangles));
    }

    #[test]
    fn a_flush_notch_is_cut_or_refused_never_wrong() {
        // The cutter's faces lie in three of the host's faces.
        let host = cuboid([0.0; 3], [2.0; 3], 0.0);
        match cut(&host, &cuboid([1.0, 0.0, 1.0], [2.0, 2.0, 2.0], 0.0)) {
            Ok(Some(result)) => {
                assert!((volume(&result) - 6.0).abs() < 1e-9, "{}", volume(&result));
                assert!(closed(&result.triangles));
            }
            other => assert!(other.is_err(), "{other:?}"),
        }
    }

    #[test]
    fn a_cutter_that_misses_changes_nothing() {
        let host = cuboid([0.0; 3], [1.0; 3], 0.0);
        assert_eq!(cut(&host, &cuboid([2.0; 3], [3.0; 3], 0.0)), Ok(None));
        // Overlapping bounding boxes, but apart: the host turned, the cutter in its corner gap.
        let turned = cuboid(
            [-0.5, -0.5, -0.5],
            [0.5, 0.5, 0.5],
            std::f64::consts::FRAC_PI_4,
        );
        let result = cut(&turned, &cuboid([0.55, 0.55, -0.2], [0.7, 0.7, 0.2], 0.0));
        assert_eq!(result, Ok(None));
    }

    /// A cutter that only meets the host along a face, a corner of it on the host's surface
    /// (an opening whose faces are those of a hole already in the host, as ArchiCAD writes
    /// wall layers), changes nothing and is not refused: whether the cutter is a hidden void
    /// is asked of a point inside it, not of a corner, from which no ray can decide.
    #[test]
    fn a_cutter_against_a_face_changes_nothing() {
        for turn in [0.0, 0.3] {
            let host = cuboid([0.0; 3], [1.0; 3], turn);
            for (min, max) in [
                ([1.0, 0.0, 0.0], [2.0, 1.0, 1.0]),
                ([-1.0, -1.0, 1.0], [2.0, 2.0, 1.5]),
                ([1.0, 1.0, 0.0], [1.5, 1.5, 1.0]),
            ] {
                assert_eq!(
                    cut(&host, &cuboid(min, max, turn)),
                    Ok(None),
                    "cutter {min:?}-{max:?} turned {turn}"
                );
            }
        }
    }

    #[test]
    fn operands_beyond_the_bounds_are_refused() {
        let mut host = cuboid([0.0; 3], [1.0; 3], 0.0);
        let cutter = ConvexCutter::new(&cuboid([0.5; 3], [2.0; 3], 0.0)).expect("test input");
        let (t, n) = (host.triangles[0], host.normals[0]);
        host.triangles.resize(MAX_HOST_TRIANGLES + 1, t);
        host.normals.resize(MAX_HOST_TRIANGLES + 1, n);
        assert_eq!(subtract(&host, &cutter), Err(Refusal::TooLarge));
    }

    #[test]
    fn a_half_space_clips_a_turned_cube() {
        let host = cuboid([0.0; 3], [2.0; 3], 0.4);
        // The plane through the cube's centre, removing the side its normal points away from.
        let centre = host
            .positions
            .iter()
            .fold([0.0; 3], |s, &p| add(s, p))
            .map(|c| c / host.positions.len() as f64);
        let cutter = ConvexCutter::half_space(centre, [0.3, -0.2, 0.9], &host).expect("test input");
        let result = subtract(&host, &cutter)
            .expect("test input")
            .expect("test input");
        assert!((volume(&result) - 4.0).abs() < 1e-4, "{}", volume(&result));
        assert!(closed(&result.triangles));
        let n = unit([0.3, -0.2, 0.9]).expect("test input");
        // Nothing is left beyond the plane (up to the on-plane tolerance, 2e-6 of the size).
        let beyond = result
            .triangles
            .iter()
            .flatten()
            .map(|&i| -dot(sub(result.positions[i as usize], centre), n))
            .fold(f64::NEG_INFINITY, f64::max);
        assert!(beyond <= 1e-5, "{beyond}");
        // The cap: the cube's section through its centre (at least a face's area), facing
        // into the removed side.
        assert!(area_facing(&result, n.map(|c| -c)) > 4.0 - 1e-6);
    }

    #[test]
    fn a_hidden_void_is_refused() {
        let host = cuboid([0.0; 3], [4.0; 3], 0.0);
        assert_eq!(
            cut(&host, &cuboid([1.0; 3], [2.0; 3], 0.0)),
            Err(Refusal::Ambiguous)
        );
    }

    #[test]
    fn a_non_convex_cutter_is_refused() {
        // Two boxes sharing a face are one L-shaped solid (welded by position).
        let a = cuboid([0.0; 3], [2.0, 1.0, 1.0], 0.0);
        let b = cuboid([0.0, 1.0, 0.0], [1.0, 2.0, 1.0], 0.0);
        let mut positions: Vec<f32> = Vec::new();
        let mut indices = Vec::new();
        for s in [&a, &b] {
            for t in &s.triangles {
                // Drop the shared face (x in [0, 1], y = 1) from both.
                let ps = t.map(|i| s.positions[i as usize]);
                if ps.iter().all(|p| p[1] == 1.0 && p[0] <= 1.0) {
                    continue;
                }
                for p in ps {
                    indices.push((positions.len() / 3) as u32);
                    positions.extend(p.map(|c| c as f32));
                }
            }
        }
        // The +y face of `a` from x 1 to 2 is one quad, and `b`'s walls meet it mid-edge:
        // whether or not that welds closed, a non-convex cutter is never accepted.
        if let Some(l) = solid_from_triangles(&positions, &indices) {
            assert_eq!(ConvexCutter::new(&l).err(), Some(Refusal::NotConvex));
        }
        let ok = ConvexCutter::new(&a);
        assert!(ok.is_ok());
    }
}
