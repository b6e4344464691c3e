//! Occlusion queries against placed meshes: a two-level bounding-volume hierarchy (median
//! split on the longest axis), one over each distinct mesh's triangles in its own frame and
//! one over the placements in the model frame, and the Möller–Trumbore ray–triangle test. Only
//! "is anything in the way beyond `t_min`" is asked, so a query stops at the first hit.
//!
//! A district repeats its shapes (a generated 300-building district places 115,549 elements
//! with 881 distinct meshes), so each mesh's triangles are kept once, in `f32` as the importer
//! made them, and a ray is taken into a placement's frame instead of every triangle into the
//! model frame (40 bytes a placed triangle before, 7.8 million of them on that district).

/// A triangle (metres).
pub type Triangle = [[f64; 3]; 3];

/// A mesh's triangle as kept: corners in the mesh's own frame, as the importer made them.
type Local = [[f32; 3]; 3];

/// Distinct meshes and their placements, gathered for [`Occluders::build`].
#[derive(Debug, Default)]
pub struct Placements {
    meshes: Vec<Vec<Local>>,
    placed: Vec<Placed>,
}

#[derive(Debug, Clone, Copy)]
struct Placed {
    mesh: u32,
    element: u32,
    /// Mesh frame → model frame, column-major without the projective row (0, 0, 0, 1).
    transform: [f64; 12],
}

impl Placements {
    /// Room for `placements` placements (a district has hundreds of thousands: the list is
    /// made at its size instead of grown by doubling).
    pub fn with_capacity(placements: usize) -> Self {
        Self { meshes: Vec::new(), placed: Vec::with_capacity(placements) }
    }

    /// Adds a mesh (its triangles in its own frame) and returns its index for [`Self::place`].
    pub fn add_mesh(&mut self, triangles: Vec<Local>) -> u32 {
        self.meshes.push(triangles);
        u32::try_from(self.meshes.len() - 1).unwrap_or(u32::MAX)
    }

    /// Places mesh `mesh` with `transform` (mesh frame → model frame, column-major) as part of
    /// element `element`. A transform that is not affine blocks nothing and is left out.
    pub fn place(&mut self, mesh: u32, transform: [f64; 16], element: u32) {
        let m = &transform;
        if m[3] != 0.0 || m[7] != 0.0 || m[11] != 0.0 || m[15] != 1.0 {
            return;
        }
        let transform = [m[0], m[1], m[2], m[4], m[5], m[6], m[8], m[9], m[10], m[12], m[13], m[14]];
        self.placed.push(Placed { mesh, element, transform });
    }
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

    fn union(mut self, other: &Self) -> Self {
        self.grow(other.min);
        self.grow(other.max);
        self
    }

    fn centre(&self, k: usize) -> f64 {
        (self.min[k] + self.max[k]) / 2.0
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

/// A mesh node's box in `f32`, in the mesh's frame: exact, since the corners are `f32` too.
#[derive(Debug, Clone, Copy)]
struct Bounds {
    min: [f32; 3],
    max: [f32; 3],
}

/// A node's box as kept: `f32` inside a mesh, `f64` over the placements (model coordinates
/// may be millions of metres).
trait NodeBounds: Copy {
    fn of(b: Aabb) -> Self;
    fn wide(&self) -> Aabb;
}

impl NodeBounds for Bounds {
    fn of(b: Aabb) -> Self {
        // Exact: every value came from an f32 corner.
        Self { min: b.min.map(|v| v as f32), max: b.max.map(|v| v as f32) }
    }

    fn wide(&self) -> Aabb {
        Aabb { min: self.min.map(f64::from), max: self.max.map(f64::from) }
    }
}

impl NodeBounds for Aabb {
    fn of(b: Aabb) -> Self {
        b
    }

    fn wide(&self) -> Aabb {
        *self
    }
}

#[derive(Debug)]
enum Node<B> {
    Leaf { bounds: B, first: u32, count: u32 },
    Inner { bounds: B, left: u32, right: u32 },
}

/// One distinct mesh: its triangles and the hierarchy over them, in its own frame.
#[derive(Debug, Default)]
struct MeshTree {
    triangles: Vec<Local>,
    nodes: Vec<Node<Bounds>>,
}

/// A placement as queried: the model frame → mesh frame map (rows of a 3×4 matrix), its mesh
/// and its element.
#[derive(Debug, Clone, Copy)]
struct Instance {
    to_mesh: [[f64; 4]; 3],
    mesh: u32,
    element: u32,
}

/// Placed meshes organised for occlusion queries, each placement with the element it belongs
/// to, so one hierarchy serves every day of a plan: a query names which elements stand.
#[derive(Debug, Default)]
pub struct Occluders {
    meshes: Vec<MeshTree>,
    instances: Vec<Instance>,
    nodes: Vec<Node<Aabb>>,
    triangles: usize,
}

/// Triangles in a leaf of a mesh's hierarchy.
const LEAF: usize = 4;
/// Placements in a leaf of the placements' hierarchy.
const INSTANCE_LEAF: usize = 2;
/// Placement boxes are widened by this much (metres) so that rounding in the model frame
/// cannot cull a ray that meets a triangle in the mesh's frame.
const BOX_MARGIN_M: f64 = 1e-6;

impl Occluders {
    /// The hierarchies over `placements`. A placement whose transform cannot be inverted (or is
    /// not finite), or whose mesh is empty or unknown, blocks nothing.
    pub fn build(placements: Placements) -> Self {
        let Placements { meshes, placed } = placements;
        let meshes: Vec<MeshTree> = meshes
            .into_iter()
            .map(|mut triangles| {
                triangles.shrink_to_fit();
                let mut nodes = Vec::with_capacity(2 * triangles.len() / LEAF + 1);
                if !triangles.is_empty() {
                    let n = triangles.len();
                    build(&mut triangles, 0, n, &mut nodes, LEAF, &triangle_box);
                }
                MeshTree { triangles, nodes }
            })
            .collect();
        let mut boxed: Vec<(Instance, Aabb)> = placed
            .iter()
            .filter_map(|p| {
                let tree = meshes.get(p.mesh as usize)?;
                let local = match tree.nodes.first()? {
                    Node::Leaf { bounds, .. } | Node::Inner { bounds, .. } => bounds.wide(),
                };
                let to_mesh = invert(&p.transform)?;
                let mut world = Aabb::EMPTY;
                for corner in 0..8 {
                    let c = [0, 1, 2].map(|k| if corner >> k & 1 == 0 { local.min[k] } else { local.max[k] });
                    world.grow(apply(&p.transform, c));
                }
                for k in 0..3 {
                    world.min[k] -= BOX_MARGIN_M;
                    world.max[k] += BOX_MARGIN_M;
                }
                let finite = world.min.iter().chain(&world.max).all(|v| v.is_finite());
                finite.then_some((Instance { to_mesh, mesh: p.mesh, element: p.element }, world))
            })
            .collect();
        let triangles = boxed.iter().map(|(i, _)| meshes[i.mesh as usize].triangles.len()).sum();
        let mut nodes = Vec::with_capacity(2 * boxed.len() / INSTANCE_LEAF + 1);
        if !boxed.is_empty() {
            let n = boxed.len();
            build(&mut boxed, 0, n, &mut nodes, INSTANCE_LEAF, &|(_, b): &(Instance, Aabb)| *b);
        }
        let instances = boxed.into_iter().map(|(i, _)| i).collect();
        Self { meshes, instances, nodes, triangles }
    }

    /// Number of placed triangles.
    pub fn len(&self) -> usize {
        self.triangles
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.triangles == 0
    }

    /// Whether a triangle of a standing element (`stands[element]`; all when `stands` is
    /// shorter) lies on the ray from `origin` along unit `dir` beyond `t_min`.
    pub fn blocked(&self, origin: [f64; 3], dir: [f64; 3], t_min: f64, stands: &[bool]) -> bool {
        let inv = dir.map(|d| 1.0 / d);
        any_leaf(&self.nodes, origin, inv, t_min, |range| {
            self.instances[range].iter().any(|instance| {
                stands.get(instance.element as usize).copied().unwrap_or(true) && self.blocked_in(instance, origin, dir, t_min)
            })
        })
    }

    /// [`Self::blocked`] against one placement: the ray taken into its mesh's frame, where
    /// `t` measures the same points (the map is affine).
    fn blocked_in(&self, instance: &Instance, origin: [f64; 3], dir: [f64; 3], t_min: f64) -> bool {
        let m = &instance.to_mesh;
        let o: [f64; 3] = std::array::from_fn(|r| m[r][0] * origin[0] + m[r][1] * origin[1] + m[r][2] * origin[2] + m[r][3]);
        let d: [f64; 3] = std::array::from_fn(|r| m[r][0] * dir[0] + m[r][1] * dir[1] + m[r][2] * dir[2]);
        let tree = &self.meshes[instance.mesh as usize];
        any_leaf(&tree.nodes, o, d.map(|v| 1.0 / v), t_min, |range| {
            tree.triangles[range].iter().any(|t| intersect(&widen(t), o, d).is_some_and(|h| h > t_min))
        })
    }
}

/// Whether `hit` holds for the items of some leaf of `nodes` whose box (and its parents') the
/// ray `o + t d` (`inv` = 1/d) meets beyond `t_min`; `hit` gets the leaf's item range.
fn any_leaf<B: NodeBounds>(
    nodes: &[Node<B>],
    o: [f64; 3],
    inv: [f64; 3],
    t_min: f64,
    mut hit: impl FnMut(std::ops::Range<usize>) -> bool,
) -> bool {
    if nodes.is_empty() {
        return false;
    }
    let mut stack = vec![0u32];
    while let Some(i) = stack.pop() {
        match &nodes[i as usize] {
            Node::Leaf { bounds, first, count } => {
                let (first, count) = (*first as usize, *count as usize);
                if bounds.wide().hit(o, inv, t_min, f64::INFINITY) && hit(first..first + count) {
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

/// A kept triangle's corners in `f64` for the arithmetic.
fn widen(t: &Local) -> Triangle {
    t.map(|p| p.map(f64::from))
}

fn triangle_box(t: &Local) -> Aabb {
    let mut b = Aabb::EMPTY;
    for p in widen(t) {
        b.grow(p);
    }
    b
}

/// `m · p` for a column-major affine `m` without its projective row.
fn apply(m: &[f64; 12], p: [f64; 3]) -> [f64; 3] {
    std::array::from_fn(|k| m[k] * p[0] + m[3 + k] * p[1] + m[6 + k] * p[2] + m[9 + k])
}

/// The inverse of an affine column-major transform (without its projective row) as the rows of
/// a 3×4 matrix; `None` when it is not finite or singular.
fn invert(m: &[f64; 12]) -> Option<[[f64; 4]; 3]> {
    if !m.iter().all(|v| v.is_finite()) {
        return None;
    }
    let a = |r: usize, c: usize| m[c * 3 + r];
    let cof = |r: usize, c: usize| {
        let (r1, r2) = ([1, 0, 0][r], [2, 2, 1][r]);
        let (c1, c2) = ([1, 0, 0][c], [2, 2, 1][c]);
        let minor = a(r1, c1) * a(r2, c2) - a(r1, c2) * a(r2, c1);
        if (r + c).is_multiple_of(2) { minor } else { -minor }
    };
    let det = a(0, 0) * cof(0, 0) + a(0, 1) * cof(0, 1) + a(0, 2) * cof(0, 2);
    if !det.is_finite() || det.abs() < 1e-12 {
        return None;
    }
    // inverse[r][c] = cofactor(c, r) / det; the last column takes the translation back.
    Some(std::array::from_fn(|r| {
        let row: [f64; 3] = std::array::from_fn(|c| cof(c, r) / det);
        [row[0], row[1], row[2], -(row[0] * m[9] + row[1] * m[10] + row[2] * m[11])]
    }))
}

/// Builds the node for `items[first..first + count]` and returns its index. Indices are `u32`:
/// a model has fewer than four billion triangles or placements (a file's size bounds it far
/// below).
fn build<T, B: NodeBounds>(
    items: &mut [T],
    first: usize,
    count: usize,
    nodes: &mut Vec<Node<B>>,
    leaf: usize,
    box_of: &impl Fn(&T) -> Aabb,
) -> u32 {
    let wide = items[first..first + count].iter().fold(Aabb::EMPTY, |b, t| b.union(&box_of(t)));
    let bounds = B::of(wide);
    let index = nodes.len();
    let at = |i: usize| u32::try_from(i).unwrap_or(u32::MAX);
    if count <= leaf {
        nodes.push(Node::Leaf { bounds, first: at(first), count: at(count) });
        return at(index);
    }
    let extent = [wide.max[0] - wide.min[0], wide.max[1] - wide.min[1], wide.max[2] - wide.min[2]];
    let axis = (0..3).max_by(|a, b| extent[*a].total_cmp(&extent[*b])).unwrap_or(0);
    let half = count / 2;
    items[first..first + count].select_nth_unstable_by(half, |a, b| box_of(a).centre(axis).total_cmp(&box_of(b).centre(axis)));
    // Reserve this node's slot, then build the children after it.
    nodes.push(Node::Leaf { bounds, first: at(first), count: at(count) });
    let left = build(items, first, half, nodes, leaf, box_of);
    let right = build(items, first + half, count - half, nodes, leaf, box_of);
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

    /// Column-major translation.
    fn shifted(t: [f64; 3]) -> [f64; 16] {
        [1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, t[0], t[1], t[2], 1.0]
    }

    /// A 1 m × 1 m square in its own plane x = 0, spanning y and z from 0 to 1.
    fn square() -> Vec<Local> {
        let (a, b, c, d) = ([0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 1.0, 1.0], [0.0, 0.0, 1.0]);
        vec![[a, b, c], [a, c, d]]
    }

    /// Fifty squares (one shared mesh), the i-th at x = 5 + i, y and z from 10 i, moved by
    /// `by`, each its own element.
    fn squares(by: [f64; 3]) -> Occluders {
        let mut placements = Placements::default();
        let mesh = placements.add_mesh(square());
        for i in 0..50 {
            let f = f64::from(i);
            placements.place(mesh, shifted([5.0 + f + by[0], 10.0 * f + by[1], 10.0 * f + by[2]]), i);
        }
        Occluders::build(placements)
    }

    #[test]
    fn a_ray_is_blocked_only_by_what_lies_ahead_beyond_t_min() {
        let occ = squares([0.0; 3]);
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
        assert!(Occluders::build(Placements::default()).is_empty());
    }

    #[test]
    fn placements_far_from_the_model_origin_answer_to_the_millimetre() {
        // A district in projected coordinates (Jinan, CGCS2000 / 3-degree Gauss-Kruger: about
        // 39,500 km east, 4,060 km north): the meshes stay small in their own frames and the
        // ray is taken into them in f64.
        let (e0, n0) = (39_500_000.0, 4_060_000.0);
        let occ = squares([e0, n0, 0.0]);
        let at = |x: f64, y: f64, z: f64| [x + e0, y + n0, z];
        assert!(occ.blocked(at(0.0, 0.5, 0.5), [1.0, 0.0, 0.0], 0.0, &[]));
        // 1 mm past the first square's edge (y = 1) the ray passes; 1 mm inside, it is stopped.
        assert!(!occ.blocked(at(0.0, 1.001, 0.5), [1.0, 0.0, 0.0], 0.0, &[]));
        assert!(occ.blocked(at(0.0, 0.999, 0.5), [1.0, 0.0, 0.0], 0.0, &[]));
        // t_min still measures from the window: the square is 5 m away.
        assert!(!occ.blocked(at(0.0, 0.5, 0.5), [1.0, 0.0, 0.0], 5.001, &[]));
        assert!(occ.blocked(at(0.0, 0.5, 0.5), [1.0, 0.0, 0.0], 4.999, &[]));
        assert!(occ.blocked(at(0.0, 400.5, 400.5), [1.0, 0.0, 0.0], 0.0, &[]));
    }

    #[test]
    fn a_rotated_scaled_placement_blocks_where_its_triangles_are_in_the_model() {
        // The square turned 90° about z (its plane x = 0 becomes y = 0, spanning x from -1 to
        // 0) and scaled by 2, then moved to (10, 20, 0): it covers x in [8, 10], z in [0, 2]
        // on the plane y = 20.
        let mut placements = Placements::default();
        let mesh = placements.add_mesh(square());
        let m = [0.0, 2.0, 0.0, 0.0, -2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0, 0.0, 10.0, 20.0, 0.0, 1.0];
        placements.place(mesh, m, 0);
        // A singular placement blocks nothing and is left out.
        placements.place(mesh, [0.0; 16], 1);
        let occ = Occluders::build(placements);
        assert_eq!(occ.len(), 2);
        let north = [0.0, 1.0, 0.0];
        assert!(occ.blocked([9.0, 0.0, 1.0], north, 0.0, &[]));
        assert!(occ.blocked([8.01, 0.0, 1.99], north, 0.0, &[]));
        assert!(!occ.blocked([7.99, 0.0, 1.0], north, 0.0, &[]));
        assert!(!occ.blocked([9.0, 0.0, 2.01], north, 0.0, &[]));
        // t is measured in the model frame: the plane is 20 m away, not 10 (the scale).
        assert!(occ.blocked([9.0, 0.0, 1.0], north, 19.99, &[]));
        assert!(!occ.blocked([9.0, 0.0, 1.0], north, 20.01, &[]));
        // A slanted ray: from (0, 0, 1) towards (9, 20, 1).
        let len = (81.0f64 + 400.0).sqrt();
        assert!(occ.blocked([0.0, 0.0, 1.0], [9.0 / len, 20.0 / len, 0.0], 0.0, &[]));
    }
}
