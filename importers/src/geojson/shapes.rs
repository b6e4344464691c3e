//! The simple solids GeoJSON features become: point markers, pipe tubes, road ribbons,
//! extruded footprints and flat parcels, all in model metres, outward faces counter-clockwise.

use crate::Mesh;
use crate::geo::mesh::{MeshBuilder, PolygonError, add, cross, normalize, sub};

/// Sides of a pipe's cross-section.
const TUBE_SIDES: usize = 12;
/// A mitre at a sharp road bend is at most this many half-widths long.
const MAX_MITRE: f64 = 2.0;

/// A 1 m tall octahedron (0.5 m half-width) standing on the origin, flat-shaded.
pub(crate) fn marker() -> Mesh {
    let top = [0.0, 0.0, 1.0];
    let bottom = [0.0, 0.0, 0.0];
    let ring = [
        [0.5, 0.0, 0.5],
        [0.0, 0.5, 0.5],
        [-0.5, 0.0, 0.5],
        [0.0, -0.5, 0.5],
    ];
    let mut b = MeshBuilder::default();
    for i in 0..4 {
        let (p, q) = (ring[i], ring[(i + 1) % 4]);
        face(&mut b, p, q, top);
        face(&mut b, q, p, bottom);
    }
    b.finish_in_place().unwrap_or_default()
}

/// One flat triangle, counter-clockwise seen from its front.
fn face(b: &mut MeshBuilder, p: [f64; 3], q: [f64; 3], r: [f64; 3]) {
    let Some(n) = normalize(cross(sub(q, p), sub(r, p))) else {
        return;
    };
    let i = b.vertex(p, n);
    b.vertex(q, n);
    b.vertex(r, n);
    b.triangle(i, i + 1, i + 2);
}

/// Drops repeated consecutive points; `None` when fewer than two remain.
fn distinct(points: &[[f64; 3]]) -> Option<Vec<[f64; 3]>> {
    let mut out: Vec<[f64; 3]> = Vec::with_capacity(points.len());
    for &p in points {
        if out.last().is_none_or(|&q| {
            let d = sub(p, q);
            d[0].abs() + d[1].abs() + d[2].abs() > 1e-6
        }) {
            out.push(p);
        }
    }
    (out.len() >= 2).then_some(out)
}

/// A capped tube of `radius` along `points`; false when the line has no length.
pub(crate) fn tube(b: &mut MeshBuilder, points: &[[f64; 3]], radius: f64) -> bool {
    let Some(points) = distinct(points) else {
        return false;
    };
    let n = points.len();
    let segment = |i: usize| normalize(sub(points[i + 1], points[i])).unwrap_or([1.0, 0.0, 0.0]);
    let tangents: Vec<[f64; 3]> = (0..n)
        .map(|i| {
            let t = match i {
                0 => segment(0),
                _ if i == n - 1 => segment(n - 2),
                _ => add(segment(i - 1), segment(i)),
            };
            normalize(t).unwrap_or_else(|| segment(i.min(n - 2)))
        })
        .collect();
    // Cross-section axes at each point: u horizontal (right of the direction), v = u × t.
    let frames: Vec<([f64; 3], [f64; 3])> = tangents
        .iter()
        .map(|&t| {
            let u = normalize(cross(t, [0.0, 0.0, 1.0]))
                .or_else(|| normalize(cross(t, [1.0, 0.0, 0.0])));
            let u = u.unwrap_or([0.0, 1.0, 0.0]);
            (u, cross(u, t))
        })
        .collect();
    let ring_start = |b: &mut MeshBuilder, i: usize| -> u32 {
        let (u, v) = frames[i];
        let mut first = 0;
        for j in 0..TUBE_SIDES {
            let a = std::f64::consts::TAU * j as f64 / TUBE_SIDES as f64;
            let dir = add(scale(u, a.cos()), scale(v, a.sin()));
            let k = b.vertex(add(points[i], scale(dir, radius)), dir);
            if j == 0 {
                first = k;
            }
        }
        first
    };
    let mut previous = ring_start(b, 0);
    for i in 1..n {
        let current = ring_start(b, i);
        for j in 0..TUBE_SIDES as u32 {
            let k = (j + 1) % TUBE_SIDES as u32;
            // Angles advance from u towards v, i.e. clockwise about the tangent: the outward
            // face is (prev j, cur j, cur k), (prev j, cur k, prev k).
            b.triangle(previous + j, current + j, current + k);
            b.triangle(previous + j, current + k, previous + k);
        }
        previous = current;
    }
    cap(b, points[0], frames[0], scale(tangents[0], -1.0), radius);
    cap(b, points[n - 1], frames[n - 1], tangents[n - 1], radius);
    true
}

/// A flat disc closing a tube end, facing `normal`.
fn cap(
    b: &mut MeshBuilder,
    centre: [f64; 3],
    (u, v): ([f64; 3], [f64; 3]),
    normal: [f64; 3],
    radius: f64,
) {
    let c = b.vertex(centre, normal);
    for j in 0..TUBE_SIDES {
        let a = std::f64::consts::TAU * j as f64 / TUBE_SIDES as f64;
        b.vertex(
            add(
                centre,
                scale(add(scale(u, a.cos()), scale(v, a.sin())), radius),
            ),
            normal,
        );
    }
    for j in 0..TUBE_SIDES as u32 {
        let (p, q) = (c + 1 + j, c + 1 + (j + 1) % TUBE_SIDES as u32);
        // Decide the winding from the geometry so both caps face out.
        let pa = b_position(centre, u, v, radius, j as usize);
        let pb = b_position(centre, u, v, radius, (j as usize + 1) % TUBE_SIDES);
        if crate::geo::mesh::dot(cross(sub(pa, centre), sub(pb, centre)), normal) >= 0.0 {
            b.triangle(c, p, q);
        } else {
            b.triangle(c, q, p);
        }
    }
}

fn b_position(centre: [f64; 3], u: [f64; 3], v: [f64; 3], radius: f64, j: usize) -> [f64; 3] {
    let a = std::f64::consts::TAU * j as f64 / TUBE_SIDES as f64;
    add(
        centre,
        scale(add(scale(u, a.cos()), scale(v, a.sin())), radius),
    )
}

fn scale(v: [f64; 3], k: f64) -> [f64; 3] {
    [v[0] * k, v[1] * k, v[2] * k]
}

/// A flat ribbon of `width` along `points`, facing up, mitred at bends; false when the line
/// has no length.
pub(crate) fn ribbon(b: &mut MeshBuilder, points: &[[f64; 3]], width: f64) -> bool {
    let Some(points) = distinct(points) else {
        return false;
    };
    let n = points.len();
    let half = width / 2.0;
    let left_of = |i: usize| -> [f64; 3] {
        let d = sub(points[i + 1], points[i]);
        normalize([-d[1], d[0], 0.0]).unwrap_or([0.0, 1.0, 0.0])
    };
    let up = [0.0, 0.0, 1.0];
    let mut first = 0;
    for (i, &point) in points.iter().enumerate() {
        let offset = match i {
            0 => scale(left_of(0), half),
            _ if i == n - 1 => scale(left_of(n - 2), half),
            _ => {
                let (a, c) = (left_of(i - 1), left_of(i));
                match normalize(add(a, c)) {
                    Some(m) => {
                        let cos = crate::geo::mesh::dot(m, c).max(1.0 / MAX_MITRE);
                        scale(m, half / cos)
                    }
                    None => scale(c, half),
                }
            }
        };
        let k = b.vertex(add(point, offset), up);
        b.vertex(sub(point, offset), up);
        if i == 0 {
            first = k;
        }
    }
    for i in 0..(n - 1) as u32 {
        let (l0, r0, l1, r1) = (
            first + 2 * i,
            first + 2 * i + 1,
            first + 2 * i + 2,
            first + 2 * i + 3,
        );
        b.triangle(l0, r0, r1);
        b.triangle(l0, r1, l1);
    }
    true
}

/// Signed area of a ring's xy projection (positive: counter-clockwise seen from above).
fn signed_area(ring: &[[f64; 3]]) -> f64 {
    let n = ring.len();
    (0..n)
        .map(|i| {
            let (p, q) = (ring[i], ring[(i + 1) % n]);
            p[0] * q[1] - q[0] * p[1]
        })
        .sum::<f64>()
        / 2.0
}

/// Rings oriented for an upward face: outer counter-clockwise, holes clockwise, at height z.
fn oriented(rings: &[Vec<[f64; 3]>], z: f64) -> Vec<Vec<[f64; 3]>> {
    rings
        .iter()
        .enumerate()
        .map(|(i, ring)| {
            let mut r: Vec<[f64; 3]> = ring.iter().map(|p| [p[0], p[1], z]).collect();
            let area = signed_area(&r);
            if (i == 0 && area < 0.0) || (i > 0 && area > 0.0) {
                r.reverse();
            }
            r
        })
        .collect()
}

/// A flat polygon (with holes) facing up at `base` above its first point's height.
pub(crate) fn flat(
    b: &mut MeshBuilder,
    rings: &[Vec<[f64; 3]>],
    base: f64,
) -> Result<(), PolygonError> {
    let ground = rings.first().and_then(|r| r.first()).map_or(0.0, |p| p[2]);
    b.polygon(&oriented(rings, ground + base)).map(|_| ())
}

/// A footprint (with holes) extruded from `base` to `top` above its first point's height:
/// walls along every ring edge, a floor facing down and a roof facing up.
pub(crate) fn prism(
    b: &mut MeshBuilder,
    rings: &[Vec<[f64; 3]>],
    base: f64,
    top: f64,
) -> Result<(), PolygonError> {
    let ground = rings.first().and_then(|r| r.first()).map_or(0.0, |p| p[2]);
    let roof = oriented(rings, ground + top);
    b.polygon(&roof)?;
    let floor: Vec<Vec<[f64; 3]>> = oriented(rings, ground + base)
        .into_iter()
        .map(|mut r| {
            r.reverse();
            r
        })
        .collect();
    b.polygon(&floor)?;
    for ring in oriented(rings, ground + base) {
        let n = ring.len();
        for i in 0..n {
            let (p, q) = (ring[i], ring[(i + 1) % n]);
            let lift = |v: [f64; 3]| [v[0], v[1], ground + top];
            // Outer ring counter-clockwise, holes clockwise: the right of each edge is outside.
            b.quad(p, q, lift(q), lift(p));
        }
    }
    Ok(())
}
