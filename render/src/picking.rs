//! CPU picking: which element is under a pixel, and which pixel shows a given element.
//!
//! A pick casts the camera ray through the pixel, keeps the placements whose world bounding
//! box it crosses, and tests their triangles nearest box first, stopping once no remaining box
//! can beat the best hit. Triangles are tested in the mesh's own frame (the ray is carried
//! there by the placement's inverse transform), both faces, as the renderer draws them.

use glam::Vec3;

use crate::camera::OrbitCamera;
use crate::scene::{Scene, Visibility};

/// Which elements a ray may stop at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PickFilter {
    /// Only opaque elements: what a click selects.
    Solid,
    /// Opaque elements and planned ghosts: whatever tints the pixel first.
    Drawn,
}

/// A viewport in CSS pixels.
#[derive(Debug, Clone, Copy)]
pub struct Viewport {
    /// Width, CSS pixels.
    pub width: f32,
    /// Height, CSS pixels.
    pub height: f32,
}

/// The element whose surface is nearest along the ray through CSS pixel `(x, y)`, with each
/// element drawn as its lifecycle state says.
#[cfg(test)]
pub fn pick(
    scene: &Scene,
    camera: &OrbitCamera,
    viewport: Viewport,
    x: f32,
    y: f32,
    filter: PickFilter,
) -> Option<u32> {
    pick_with(scene, camera, viewport, x, y, filter, &|id| Visibility::of(scene.states[id as usize]))
}

/// [`pick`] with each element drawn as `visibility` says (timeline, hidden elements).
pub fn pick_with(
    scene: &Scene,
    camera: &OrbitCamera,
    viewport: Viewport,
    x: f32,
    y: f32,
    filter: PickFilter,
    visibility: &dyn Fn(u32) -> Visibility,
) -> Option<u32> {
    nearest_hit(scene, camera, viewport, x, y, filter, visibility).map(|hit| scene.placements[hit.placement].element)
}

/// The nearest surface along the ray through a pixel.
struct Hit {
    /// The ray.
    origin: Vec3,
    dir: Vec3,
    /// Its parameter at the surface (world units along `dir`).
    t: f32,
    /// Index of the placement hit.
    placement: usize,
}

fn nearest_hit(
    scene: &Scene,
    camera: &OrbitCamera,
    viewport: Viewport,
    x: f32,
    y: f32,
    filter: PickFilter,
    visibility: &dyn Fn(u32) -> Visibility,
) -> Option<Hit> {
    if !scene.complete {
        return None;
    }
    let (origin, dir) = camera.ray(x, y, viewport.width, viewport.height);
    let inv_dir = dir.recip();
    let mut candidates: Vec<(f32, usize)> = scene
        .placements
        .iter()
        .enumerate()
        .filter(|(_, p)| match visibility(p.element) {
            Visibility::Solid => true,
            Visibility::Ghost => filter == PickFilter::Drawn,
            Visibility::Hidden => false,
        })
        .filter_map(|(i, p)| ray_box(origin, inv_dir, p.world_min, p.world_max).map(|t| (t, i)))
        .collect();
    candidates.sort_by(|a, b| a.0.total_cmp(&b.0));

    let mut best: Option<(f32, usize)> = None;
    for (t_box, index) in candidates {
        if best.is_some_and(|(t, _)| t_box > t) {
            break;
        }
        let placement = &scene.placements[index];
        let Some(mesh) = scene.meshes.get(&placement.mesh) else { continue };
        // Carry the ray into the mesh frame without renormalising, so `t` stays world `t`.
        let local_origin = placement.inverse.transform_point3(origin);
        let local_dir = placement.inverse.transform_vector3(dir);
        for tri in mesh.indices.chunks_exact(3) {
            let a = mesh.positions[tri[0] as usize];
            let b = mesh.positions[tri[1] as usize];
            let c = mesh.positions[tri[2] as usize];
            if let Some(t) = ray_triangle(local_origin, local_dir, a, b, c)
                && best.is_none_or(|(best_t, _)| t < best_t) {
                    best = Some((t, index));
                }
        }
    }
    best.map(|(t, placement)| Hit { origin, dir, t, placement })
}

/// What a measuring pick landed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Snap {
    /// A corner of the element (an end of one of its feature edges).
    Vertex,
    /// A point on one of its feature edges.
    Edge,
    /// The surface under the pixel.
    Face,
}

impl Snap {
    /// The name the viewer's controls use.
    pub fn key(self) -> &'static str {
        match self {
            Self::Vertex => "vertex",
            Self::Edge => "edge",
            Self::Face => "face",
        }
    }
}

/// A measuring pick: the element, the point (world frame) and what it snapped to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PointPick {
    /// The element under the pixel.
    pub element: u32,
    /// The point measured, world frame.
    pub point: Vec3,
    /// What it snapped to.
    pub snap: Snap,
}

/// The point under CSS pixel `(x, y)` for measuring: snapped to the nearest corner of the
/// element there within `snap_px` pixels, else to the nearest point of one of its feature edges
/// (creases and borders, as outlined; not the triangulation's diagonals) within `snap_px`, else
/// the surface point itself. Only corners and edges near the surface point in space count, so a
/// pick never snaps to a hidden back edge that happens to project nearby.
#[allow(clippy::too_many_arguments)]
pub fn pick_point_with(
    scene: &Scene,
    camera: &OrbitCamera,
    viewport: Viewport,
    x: f32,
    y: f32,
    snap_px: f32,
    filter: PickFilter,
    visibility: &dyn Fn(u32) -> Visibility,
) -> Option<PointPick> {
    let hit = nearest_hit(scene, camera, viewport, x, y, filter, visibility)?;
    let placement = &scene.placements[hit.placement];
    let surface = hit.origin + hit.dir * hit.t;
    let face = PointPick { element: placement.element, point: surface, snap: Snap::Face };
    let Some(mesh) = scene.meshes.get(&placement.mesh) else { return Some(face) };
    // World size of a pixel at the surface's depth.
    let (_, beside) = camera.ray(x + 1.0, y, viewport.width, viewport.height);
    let per_px = (beside - hit.dir).length() * hit.t;
    let reach = snap_px * per_px * 1.5;
    let on_screen = |p: Vec3| camera.project(p, viewport.width, viewport.height).map(|(sx, sy)| (sx - x).hypot(sy - y));
    let near = |p: Vec3| p.distance(surface) <= reach;
    let edges = crate::edges::feature_edges(&mesh.positions, &mesh.indices);
    let world = |i: u32| placement.transform.transform_point3(mesh.positions[i as usize]);
    let segments: Vec<(Vec3, Vec3)> = edges.chunks_exact(2).map(|e| (world(e[0]), world(e[1]))).collect();
    let closest = |points: &mut dyn Iterator<Item = Vec3>| -> Option<(f32, Vec3)> {
        points
            .filter(|p| near(*p))
            .filter_map(|p| on_screen(p).filter(|d| *d <= snap_px).map(|d| (d, p)))
            .min_by(|a, b| a.0.total_cmp(&b.0))
    };
    if let Some((_, corner)) = closest(&mut segments.iter().flat_map(|(a, b)| [*a, *b])) {
        return Some(PointPick { element: placement.element, point: corner, snap: Snap::Vertex });
    }
    // The point of each edge nearest the surface point.
    let on_edge = |(a, b): &(Vec3, Vec3)| {
        let ab = *b - *a;
        let s = if ab.length_squared() > 0.0 { ((surface - *a).dot(ab) / ab.length_squared()).clamp(0.0, 1.0) } else { 0.0 };
        *a + ab * s
    };
    if let Some((_, point)) = closest(&mut segments.iter().map(on_edge)) {
        return Some(PointPick { element: placement.element, point, snap: Snap::Edge });
    }
    Some(face)
}

/// A CSS pixel (at a pixel centre) where element `id` is the nearest drawn surface, so its
/// pixel shows the element's own colour; `None` if no such pixel is found.
#[cfg(test)]
pub fn screen_point_of(
    scene: &Scene,
    camera: &OrbitCamera,
    viewport: Viewport,
    id: u32,
) -> Option<(f32, f32)> {
    screen_point_of_with(scene, camera, viewport, id, &|e| Visibility::of(scene.states[e as usize]))
}

/// [`screen_point_of`] with each element drawn as `visibility` says.
pub fn screen_point_of_with(
    scene: &Scene,
    camera: &OrbitCamera,
    viewport: Viewport,
    id: u32,
    visibility: &dyn Fn(u32) -> Visibility,
) -> Option<(f32, f32)> {
    if visibility(id) != Visibility::Solid {
        return None;
    }
    let placements = scene.placements_of.get(id as usize)?;
    let eye = camera.eye();
    // Triangles facing the eye, the widest on screen first, each sampled at its incentre: the
    // point farthest from its edges, so neither an outline nor a neighbour's edge covers it
    // (a long thin triangle's centroid can sit a pixel from its long sides).
    let mut candidates: Vec<(f32, (f32, f32))> = Vec::new();
    for &index in placements {
        let placement = &scene.placements[index as usize];
        let Some(mesh) = scene.meshes.get(&placement.mesh) else { continue };
        for tri in mesh.indices.chunks_exact(3).take(4096) {
            let [a, b, c] = [tri[0], tri[1], tri[2]]
                .map(|i| placement.transform.transform_point3(mesh.positions[i as usize]));
            let centroid = (a + b + c) / 3.0;
            let normal = (b - a).cross(c - a);
            if normal.dot(eye - centroid).abs() <= 1e-6 {
                continue;
            }
            let projected = [a, b, c].map(|p| camera.project(p, viewport.width, viewport.height));
            let [Some(pa), Some(pb), Some(pc)] = projected else { continue };
            if let Some((radius, point)) = incircle(pa, pb, pc)
                && radius >= 2.0
            {
                candidates.push((radius, point));
            }
        }
    }
    candidates.sort_by(|a, b| b.0.total_cmp(&a.0));
    candidates.into_iter().take(48).find_map(|(_, (x, y))| {
        let (x, y) = (x.floor() + 0.5, y.floor() + 0.5);
        (pick_with(scene, camera, viewport, x, y, PickFilter::Drawn, visibility) == Some(id)).then_some((x, y))
    })
}

/// The radius and centre of the circle inscribed in the screen triangle `a`, `b`, `c` (pixels);
/// `None` for a degenerate one.
fn incircle(a: (f32, f32), b: (f32, f32), c: (f32, f32)) -> Option<(f32, (f32, f32))> {
    let len = |p: (f32, f32), q: (f32, f32)| (p.0 - q.0).hypot(p.1 - q.1);
    let (la, lb, lc) = (len(b, c), len(c, a), len(a, b));
    let perimeter = la + lb + lc;
    let area = ((b.0 - a.0) * (c.1 - a.1) - (c.0 - a.0) * (b.1 - a.1)).abs() * 0.5;
    if !(perimeter > 0.0 && area > 0.0) {
        return None;
    }
    let centre = ((la * a.0 + lb * b.0 + lc * c.0) / perimeter, (la * a.1 + lb * b.1 + lc * c.1) / perimeter);
    Some((2.0 * area / perimeter, centre))
}

/// Entry distance of the ray into the box, if it meets it in front of the origin.
fn ray_box(origin: Vec3, inv_dir: Vec3, min: Vec3, max: Vec3) -> Option<f32> {
    let t1 = (min - origin) * inv_dir;
    let t2 = (max - origin) * inv_dir;
    let near = t1.min(t2).max_element();
    let far = t1.max(t2).min_element();
    (far >= near.max(0.0)).then_some(near.max(0.0))
}

/// Möller–Trumbore ray/triangle intersection, both faces; the ray parameter of the hit.
fn ray_triangle(origin: Vec3, dir: Vec3, a: Vec3, b: Vec3, c: Vec3) -> Option<f32> {
    let e1 = b - a;
    let e2 = c - a;
    let p = dir.cross(e2);
    let det = e1.dot(p);
    if det.abs() < 1e-12 {
        return None;
    }
    let inv_det = 1.0 / det;
    let s = origin - a;
    let u = s.dot(p) * inv_det;
    if !(0.0..=1.0).contains(&u) {
        return None;
    }
    let q = s.cross(e1);
    let v = dir.dot(q) * inv_det;
    if v < 0.0 || u + v > 1.0 {
        return None;
    }
    let t = e2.dot(q) * inv_det;
    (t > 0.0).then_some(t)
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_incircle_of_a_3_4_5_triangle_has_radius_1() {
        // Right triangle with legs 3 and 4: r = (3 + 4 - 5) / 2 = 1, centre (1, 1).
        let (r, (x, y)) = super::incircle((0.0, 0.0), (3.0, 0.0), (0.0, 4.0)).expect("a triangle");
        assert!((r - 1.0).abs() < 1e-6 && (x - 1.0).abs() < 1e-6 && (y - 1.0).abs() < 1e-6, "{r} ({x}, {y})");
        assert!(super::incircle((0.0, 0.0), (1.0, 1.0), (2.0, 2.0)).is_none(), "collinear points");
    }

    use renewtwin_protocol::{CivilDate, LifecycleState, SimDay, StateChange, StateDelta};

    use super::*;
    use crate::scene::test_scene;

    const VIEW: Viewport = Viewport { width: 800.0, height: 600.0 };

    fn camera_on(scene_bbox: [f64; 6]) -> OrbitCamera {
        let mut camera = OrbitCamera::default();
        camera.fit(scene_bbox, VIEW.width / VIEW.height);
        camera
    }

    fn set_state(scene: &mut crate::scene::Scene, element: u32, state: LifecycleState) {
        let seq = scene.seq + 1;
        scene.apply(StateDelta {
            seq,
            day: SimDay(1),
            date: CivilDate::new(2026, 3, 2),
            changes: vec![StateChange { element, state }],
            phases: vec![],
            sent_at_us: 0,
        });
    }

    #[test]
    fn the_pixel_over_an_element_picks_it_and_empty_sky_picks_nothing() {
        let scene = test_scene(3);
        let camera = camera_on([-0.5, -0.5, 0.0, 6.5, 0.5, 1.0]);
        for id in 0..3 {
            let centre = Vec3::new(3.0 * id as f32, 0.0, 0.5);
            // The top face centre is on the surface, seen from above.
            let top = centre + Vec3::Z * 0.5;
            let (x, y) = camera.project(top, VIEW.width, VIEW.height).expect("in view");
            assert_eq!(pick(&scene, &camera, VIEW, x, y, PickFilter::Solid), Some(id));
        }
        assert_eq!(pick(&scene, &camera, VIEW, 2.0, 2.0, PickFilter::Solid), None);
    }

    #[test]
    fn a_measuring_pick_snaps_to_corners_then_edges_then_the_surface() {
        // Unit cubes centred at (3i, 0, 0.5): cube 0's top face spans x, y in [-0.5, 0.5] at z 1.
        let scene = test_scene(1);
        let camera = camera_on([-0.5, -0.5, 0.0, 0.5, 0.5, 1.0]);
        let shown = |_: u32| Visibility::Solid;
        let screen = |p: Vec3| camera.project(p, VIEW.width, VIEW.height).expect("in view");
        // The pixel 3 px from `p` toward the top face's centre.
        let toward_centre = |p: Vec3| {
            let ((px, py), (cx, cy)) = (screen(p), screen(Vec3::new(0.0, 0.0, 1.0)));
            let len = (cx - px).hypot(cy - py);
            (px + (cx - px) / len * 3.0, py + (cy - py) / len * 3.0)
        };
        // Three pixels from a corner, inside the face: the corner itself.
        let corner = Vec3::new(0.5, 0.5, 1.0);
        let (x, y) = toward_centre(corner);
        let pick = pick_point_with(&scene, &camera, VIEW, x, y, 8.0, PickFilter::Solid, &shown).expect("a pick");
        assert_eq!((pick.element, pick.snap), (0, Snap::Vertex));
        assert!(pick.point.distance(corner) < 1e-5, "{pick:?}");
        // Near the middle of the edge y = 0.5: a point on that edge.
        let (x, y) = toward_centre(Vec3::new(0.0, 0.5, 1.0));
        let pick = pick_point_with(&scene, &camera, VIEW, x, y, 8.0, PickFilter::Solid, &shown).expect("a pick");
        assert_eq!(pick.snap, Snap::Edge, "{pick:?}");
        assert!((pick.point.y - 0.5).abs() < 1e-4 && (pick.point.z - 1.0).abs() < 1e-4 && pick.point.x.abs() < 0.1, "{pick:?}");
        // The face's centre: the surface point, on the top face.
        let (x, y) = screen(Vec3::new(0.0, 0.0, 1.0));
        let pick = pick_point_with(&scene, &camera, VIEW, x, y, 8.0, PickFilter::Solid, &shown).expect("a pick");
        assert_eq!(pick.snap, Snap::Face);
        assert!((pick.point.z - 1.0).abs() < 1e-4 && pick.point.x.abs() < 0.05 && pick.point.y.abs() < 0.05, "{pick:?}");
        // The sky: nothing.
        assert_eq!(pick_point_with(&scene, &camera, VIEW, 2.0, 2.0, 8.0, PickFilter::Solid, &shown), None);
    }

    #[test]
    fn hidden_elements_are_not_picked_and_ghosts_only_tint() {
        let mut scene = test_scene(1);
        let camera = camera_on([-0.5, -0.5, 0.0, 0.5, 0.5, 1.0]);
        let (x, y) = camera.project(Vec3::new(0.0, 0.0, 1.0), VIEW.width, VIEW.height).expect("in view");
        set_state(&mut scene, 0, LifecycleState::Planned);
        assert_eq!(pick(&scene, &camera, VIEW, x, y, PickFilter::Solid), None);
        assert_eq!(pick(&scene, &camera, VIEW, x, y, PickFilter::Drawn), Some(0));
        set_state(&mut scene, 0, LifecycleState::Demolished);
        assert_eq!(pick(&scene, &camera, VIEW, x, y, PickFilter::Drawn), None);
    }

    #[test]
    fn the_screen_point_of_an_element_picks_that_element() {
        let scene = test_scene(4);
        let camera = camera_on([-0.5, -0.5, 0.0, 9.5, 0.5, 1.0]);
        for id in 0..4 {
            let (x, y) = screen_point_of(&scene, &camera, VIEW, id).expect("visible element has a point");
            assert_eq!(pick(&scene, &camera, VIEW, x, y, PickFilter::Solid), Some(id));
            assert_eq!(x.fract(), 0.5, "points are pixel centres");
        }
    }

    #[test]
    fn the_nearest_of_two_overlapping_elements_wins() {
        let scene = test_scene(2);
        // Look straight along +X from far out on -X: element 0 hides element 1.
        let camera = OrbitCamera {
            target: Vec3::new(3.0, 0.0, 0.5),
            yaw: std::f32::consts::PI,
            pitch: 0.0,
            distance: 20.0,
            fov_y: 0.5,
            scene_radius: 5.0,
        };
        assert_eq!(pick(&scene, &camera, VIEW, VIEW.width / 2.0, VIEW.height / 2.0, PickFilter::Solid), Some(0));
    }
}
