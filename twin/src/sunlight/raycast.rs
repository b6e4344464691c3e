//! Occlusion queries against triangles: a bounding-volume hierarchy (median split on the
//! longest axis, a few triangles per leaf) and the Möller–Trumbore ray–triangle test. Only
//! "is anything in the way beyond `t_min`" is asked, so a query stops at the first hit.

/// A triangle in the model frame (metres).
pub type Triangle = [[f64; 3]; 3];

/// A triangle as kept: its corners in `f32` relative to the occluders' origin, with its
/// element's index (40 bytes, not 80: a district's millions of triangles are held for as long
/// as a server runs). Relative to a point of the district, `f32` keeps a corner within a tenth
/// of a millimetre 1 km away, far below what decides whether a window sees the sun.
type Stored = ([[f32; 3]; 3], u32);

/// Triangles gathered for [`Occluders::from_triangles`], kept as they will be held.
#[derive(Debug, Default)]
pub struct Triangles {
    origin: [f64; 3],
    list: Vec<Stored>,
}

impl Triangles {
    /// Room for `capacity` triangles, stored relative to `origin` (any point of the district).
    pub fn new(origin: [f64; 3], capacity: usize) -> Self {
        Self { origin, list: Vec::with_capacity(capacity) }
    }

    /// Adds triangle `t` of element `element`.
    pub fn push(&mut self, t: Triangle, element: u32) {
        let o = self.origin;
        let near = |p: [f64; 3]| [(p[0] - o[0]) as f32, (p[1] - o[1]) as f32, (p[2] - o[2]) as f32];
        self.list.push(([near(t[0]), near(t[1]), near(t[2])], element));
    }
}

/// A stored triangle's corners, relative to the origin, in `f64` for the arithmetic.
fn widen(t: &[[f32; 3]; 3]) -> Triangle {
    t.map(|p| p.map(f64::from))
}

#[derive(Debug, Clone, Copy)]
struct Aabb {
    min: [f64; 3],
    max: [f64; 3],
}

impl Aabb {
    const EMPTY: Self = Self { min: [f64::INFINITY; 3], max: [f64::NEG_INFINITY; 3] };

    fn grow(&mut self, p: [f64; 3]) {
        for (k, v) in p.into_iter().enumerate() {
            self.min[k] = self.min[k].min(v);
            self.max[k] = self.max[k].max(v);
        }
    }

    /// Whether the ray `o + t d` (with `inv` = 1/d) meets the box for some t in [t0, t1].
    fn hit(&self, o: [f64; 3], inv: [f64; 3], t0: f64, t1: f64) -> bool {
        let (mut lo, mut hi) = (t0, t1);
        for k in 0..3 {
            let a = (self.min[k] - o[k]) * inv[k];
            let b = (self.max[k] - o[k]) * inv[k];
            let (near, far) = if a <= b { (a, b) } else { (b, a) };
            // NaN (a zero direction component on the slab's plane) keeps the bounds as they are.
            if near > lo {
                lo = near;
            }
            if far < hi {
                hi = far;
            }
            if lo > hi {
                return false;
            }
        }
        true
    }
}

/// A node's box in `f32`, relative to the origin: exact, since the corners are `f32` too.
#[derive(Debug, Clone, Copy)]
struct Bounds {
    min: [f32; 3],
    max: [f32; 3],
}

impl Bounds {
    fn of(b: Aabb) -> Self {
        // Exact: every value came from an f32 corner.
        Self { min: b.min.map(|v| v as f32), max: b.max.map(|v| v as f32) }
    }

    fn wide(&self) -> Aabb {
        Aabb { min: self.min.map(f64::from), max: self.max.map(f64::from) }
    }
}

#[derive(Debug)]
enum Node {
    Leaf { bounds: Bounds, first: u32, count: u32 },
    Inner { bounds: Bounds, left: u32, right: u32 },
}

/// Triangles organised for occlusion queries, each with the element it belongs to, so one
/// hierarchy serves every day of a plan: a query names which elements stand.
#[derive(Debug, Default)]
pub struct Occluders {
    origin: [f64; 3],
    triangles: Vec<Stored>,
    nodes: Vec<Node>,
}

const LEAF: usize = 4;

impl Occluders {
    /// The hierarchy over triangles gathered already.
    pub fn from_triangles(triangles: Triangles) -> Self {
        let Triangles { origin, list: mut triangles } = triangles;
        triangles.shrink_to_fit();
        let mut nodes = Vec::with_capacity(2 * triangles.len() / LEAF + 1);
        if !triangles.is_empty() {
            let n = triangles.len();
            build(&mut triangles, 0, n, &mut nodes);
        }
        Self { origin, triangles, nodes }
    }

    /// Number of triangles.
    pub fn len(&self) -> usize {
        self.triangles.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.triangles.is_empty()
    }

    /// Whether a triangle of a standing element (`stands[element]`; all when `stands` is
    /// shorter) lies on the ray from `origin` along unit `dir` beyond `t_min`.
    pub fn blocked(&self, origin: [f64; 3], dir: [f64; 3], t_min: f64, stands: &[bool]) -> bool {
        if self.nodes.is_empty() {
            return false;
        }
        let inv = [1.0 / dir[0], 1.0 / dir[1], 1.0 / dir[2]];
        let o = [origin[0] - self.origin[0], origin[1] - self.origin[1], origin[2] - self.origin[2]];
        let mut stack = vec![0u32];
        while let Some(i) = stack.pop() {
            match &self.nodes[i as usize] {
                Node::Leaf { bounds, first, count } => {
                    let (first, count) = (*first as usize, *count as usize);
                    if bounds.wide().hit(o, inv, t_min, f64::INFINITY)
                        && self.triangles[first..first + count].iter().any(|(t, e)| {
                            stands.get(*e as usize).copied().unwrap_or(true) && intersect(&widen(t), o, dir).is_some_and(|d| d > t_min)
                        })
                    {
                        return true;
                    }
                }
                Node::Inner { bounds, left, right } => {
                    if bounds.wide().hit(o, inv, t_min, f64::INFINITY) {
                        stack.push(*left);
                        stack.push(*right);
                    }
                }
            }
        }
        false
    }
}

fn bounds_of(tris: &[Stored]) -> Aabb {
    let mut b = Aabb::EMPTY;
    for (t, _) in tris {
        for p in widen(t) {
            b.grow(p);
        }
    }
    b
}

fn centroid(t: &[[f32; 3]; 3], k: usize) -> f64 {
    (f64::from(t[0][k]) + f64::from(t[1][k]) + f64::from(t[2][k])) / 3.0
}

/// Builds the node for `tris[first..first + count]` and returns its index. Indices are `u32`:
/// a model has fewer than four billion triangles (a file's size bounds it far below).
fn build(tris: &mut [Stored], first: usize, count: usize, nodes: &mut Vec<Node>) -> u32 {
    let wide = bounds_of(&tris[first..first + count]);
    let bounds = Bounds::of(wide);
    let index = nodes.len();
    let at = |i: usize| u32::try_from(i).unwrap_or(u32::MAX);
    if count <= LEAF {
        nodes.push(Node::Leaf { bounds, first: at(first), count: at(count) });
        return at(index);
    }
    let extent = [wide.max[0] - wide.min[0], wide.max[1] - wide.min[1], wide.max[2] - wide.min[2]];
    let axis = (0..3).max_by(|a, b| extent[*a].total_cmp(&extent[*b])).unwrap_or(0);
    let half = count / 2;
    tris[first..first + count].select_nth_unstable_by(half, |a, b| centroid(&a.0, axis).total_cmp(&centroid(&b.0, axis)));
    // Reserve this node's slot, then build the children after it.
    nodes.push(Node::Leaf { bounds, first: at(first), count: at(count) });
    let left = build(tris, first, half, nodes);
    let right = build(tris, first + half, count - half, nodes);
    nodes[index] = Node::Inner { bounds, left, right };
    at(index)
}

/// The distance along `dir` from `o` to triangle `t`, if the ray meets it (Möller–Trumbore).
pub fn intersect(t: &Triangle, o: [f64; 3], dir: [f64; 3]) -> Option<f64> {
    let sub = |a: [f64; 3], b: [f64; 3]| [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
    let cross = |a: [f64; 3], b: [f64; 3]| [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
    let dot = |a: [f64; 3], b: [f64; 3]| a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
    let (e1, e2) = (sub(t[1], t[0]), sub(t[2], t[0]));
    let p = cross(dir, e2);
    let det = dot(e1, p);
    if det.abs() < 1e-12 {
        return None;
    }
    let inv = 1.0 / det;
    let s = sub(o, t[0]);
    let u = dot(s, p) * inv;
    if !(0.0..=1.0).contains(&u) {
        return None;
    }
    let q = cross(s, e1);
    let v = dot(dir, q) * inv;
    if v < 0.0 || u + v > 1.0 {
        return None;
    }
    Some(dot(e2, q) * inv)
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Occluders {
        /// The hierarchy over `triangles` (each with its element's index), stored relative to
        /// the first corner.
        fn build(triangles: Vec<(Triangle, u32)>) -> Self {
            let origin = triangles.first().map_or([0.0; 3], |(t, _)| t[0]);
            let mut kept = Triangles::new(origin, triangles.len());
            for (t, e) in triangles {
                kept.push(t, e);
            }
            Self::from_triangles(kept)
        }
    }

    /// A 1 m × 1 m square in the plane x = `x`, spanning y and z from `lo` to `lo + 1`.
    fn wall(x: f64, lo: f64) -> Vec<Triangle> {
        let (a, b, c, d) = ([x, lo, lo], [x, lo + 1.0, lo], [x, lo + 1.0, lo + 1.0], [x, lo, lo + 1.0]);
        vec![[a, b, c], [a, c, d]]
    }

    #[test]
    fn a_ray_is_blocked_only_by_what_lies_ahead_beyond_t_min() {
        let mut tris = Vec::new();
        for i in 0..50 {
            tris.extend(wall(5.0 + f64::from(i), 10.0 * f64::from(i)).into_iter().map(|t| (t, i)));
        }
        let occ = Occluders::build(tris);
        assert_eq!(occ.len(), 100);
        // Towards +x at the first square's height: blocked at x = 5.
        assert!(occ.blocked([0.0, 0.5, 0.5], [1.0, 0.0, 0.0], 0.0, &[]));
        // The same ray, but hits nearer than t_min do not count: x = 5 is 5 m away.
        assert!(!occ.blocked([0.0, 0.5, 0.5], [1.0, 0.0, 0.0], 5.5, &[]));
        // Away from it, or past its edge: free.
        assert!(!occ.blocked([0.0, 0.5, 0.5], [-1.0, 0.0, 0.0], 0.0, &[]));
        assert!(!occ.blocked([0.0, 1.5, 0.5], [1.0, 0.0, 0.0], 0.0, &[]));
        // Deep in the hierarchy: the 40th square.
        assert!(occ.blocked([0.0, 400.5, 400.5], [1.0, 0.0, 0.0], 0.0, &[]));
        // The first square's element gone: the ray passes.
        let mut stands = vec![true; 50];
        stands[0] = false;
        assert!(!occ.blocked([0.0, 0.5, 0.5], [1.0, 0.0, 0.0], 0.0, &stands));
        assert!(Occluders::build(Vec::new()).is_empty());
    }

    #[test]
    fn triangles_kept_relative_to_a_far_origin_answer_as_in_the_model_frame() {
        // A district in projected coordinates (Jinan, CGCS2000 / 3-degree Gauss-Kruger: about
        // 39,500 km east, 4,060 km north): f32 alone would keep 0.5 m there; relative to a point
        // of the district it keeps a tenth of a millimetre.
        let (e0, n0) = (39_500_000.0, 4_060_000.0);
        let shift = |t: Triangle| t.map(|p| [p[0] + e0, p[1] + n0, p[2]]);
        let mut tris: Vec<(Triangle, u32)> = Vec::new();
        for i in 0..50 {
            tris.extend(wall(5.0 + f64::from(i), 10.0 * f64::from(i)).into_iter().map(|t| (shift(t), i)));
        }
        let occ = Occluders::build(tris);
        let at = |x: f64, y: f64, z: f64| [x + e0, y + n0, z];
        assert!(occ.blocked(at(0.0, 0.5, 0.5), [1.0, 0.0, 0.0], 0.0, &[]));
        // 1 mm past the first square's edge (y = 1) the ray passes; 1 mm inside, it is stopped.
        assert!(!occ.blocked(at(0.0, 1.001, 0.5), [1.0, 0.0, 0.0], 0.0, &[]));
        assert!(occ.blocked(at(0.0, 0.999, 0.5), [1.0, 0.0, 0.0], 0.0, &[]));
        // t_min still measures from the window: the square is 5 m away.
        assert!(!occ.blocked(at(0.0, 0.5, 0.5), [1.0, 0.0, 0.0], 5.001, &[]));
        assert!(occ.blocked(at(0.0, 0.5, 0.5), [1.0, 0.0, 0.0], 4.999, &[]));
        assert!(occ.blocked(at(0.0, 400.5, 400.5), [1.0, 0.0, 0.0], 0.0, &[]));
        assert_eq!(std::mem::size_of::<Stored>(), 40, "a triangle kept in 40 bytes");
    }
}
