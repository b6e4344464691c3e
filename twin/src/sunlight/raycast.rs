//! Occlusion queries against triangles: a bounding-volume hierarchy (median split on the
//! longest axis, a few triangles per leaf) and the Möller–Trumbore ray–triangle test. Only
//! "is anything in the way beyond `t_min`" is asked, so a query stops at the first hit.

/// A triangle in the model frame (metres).
pub type Triangle = [[f64; 3]; 3];

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

#[derive(Debug)]
enum Node {
    Leaf { bounds: Aabb, first: usize, count: usize },
    Inner { bounds: Aabb, left: usize, right: usize },
}

/// Triangles organised for occlusion queries, each with the element it belongs to, so one
/// hierarchy serves every day of a plan: a query names which elements stand.
#[derive(Debug, Default)]
pub struct Occluders {
    triangles: Vec<(Triangle, u32)>,
    nodes: Vec<Node>,
}

const LEAF: usize = 4;

impl Occluders {
    /// The hierarchy over `triangles` (each with its element's index).
    pub fn build(mut triangles: Vec<(Triangle, u32)>) -> Self {
        let mut nodes = Vec::with_capacity(2 * triangles.len() / LEAF + 1);
        if !triangles.is_empty() {
            let n = triangles.len();
            build(&mut triangles, 0, n, &mut nodes);
        }
        Self { triangles, nodes }
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
        let mut stack = vec![0usize];
        while let Some(i) = stack.pop() {
            match &self.nodes[i] {
                Node::Leaf { bounds, first, count } => {
                    if bounds.hit(origin, inv, t_min, f64::INFINITY)
                        && self.triangles[*first..first + count].iter().any(|(t, e)| {
                            stands.get(*e as usize).copied().unwrap_or(true) && intersect(t, origin, dir).is_some_and(|d| d > t_min)
                        })
                    {
                        return true;
                    }
                }
                Node::Inner { bounds, left, right } => {
                    if bounds.hit(origin, inv, t_min, f64::INFINITY) {
                        stack.push(*left);
                        stack.push(*right);
                    }
                }
            }
        }
        false
    }
}

fn bounds_of(tris: &[(Triangle, u32)]) -> Aabb {
    let mut b = Aabb::EMPTY;
    for (t, _) in tris {
        for p in t {
            b.grow(*p);
        }
    }
    b
}

fn centroid(t: &Triangle, k: usize) -> f64 {
    (t[0][k] + t[1][k] + t[2][k]) / 3.0
}

/// Builds the node for `tris[first..first + count]` and returns its index.
fn build(tris: &mut [(Triangle, u32)], first: usize, count: usize, nodes: &mut Vec<Node>) -> usize {
    let bounds = bounds_of(&tris[first..first + count]);
    let index = nodes.len();
    if count <= LEAF {
        nodes.push(Node::Leaf { bounds, first, count });
        return index;
    }
    let extent = [bounds.max[0] - bounds.min[0], bounds.max[1] - bounds.min[1], bounds.max[2] - bounds.min[2]];
    let axis = (0..3).max_by(|a, b| extent[*a].total_cmp(&extent[*b])).unwrap_or(0);
    let half = count / 2;
    tris[first..first + count].select_nth_unstable_by(half, |a, b| centroid(&a.0, axis).total_cmp(&centroid(&b.0, axis)));
    // Reserve this node's slot, then build the children after it.
    nodes.push(Node::Leaf { bounds, first, count });
    let left = build(tris, first, half, nodes);
    let right = build(tris, first + half, count - half, nodes);
    nodes[index] = Node::Inner { bounds, left, right };
    index
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
}
