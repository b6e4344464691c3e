//! What the user chose to see, apart from the camera: the day the timeline shows (or the live
//! day), a second state set to compare with and how the two share the screen, the colour layer,
//! hidden elements, X-ray, edges, the section plane and the selection; and the scene's local
//! origin.
//!
//! # Far from the origin
//! Georeferenced scenes can sit kilometres from their frame's origin, where `f32` steps are
//! centimetres and more: transforms and the camera would jitter. The viewer therefore works in
//! a local frame centred on the scene's bounding box: [`rebase_from`] moves every placement by
//! `-origin` (computed in `f64`), the camera fits the rebased box, and viewpoints and section
//! planes are converted on the way in. The GPU only ever sees coordinates within the scene's
//! own extent.

use glam::{DMat4, DVec3, Vec3};
use renewtwin_protocol::LifecycleState;

use crate::scene::{Scene, transformed_bounds};
use crate::style::Style;

/// How the frame is split between the two colour sets (compare mode).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Layout {
    /// One view, first colour set.
    Single,
    /// One view; left of `x` (fraction of the width) the first colour set, right of it the
    /// second.
    Swipe(f32),
    /// Two views side by side with the same camera: first set left, second right.
    SideBySide,
}

impl Layout {
    /// The CSS-pixel viewport of the side a click at `x` falls in, and `x` within it.
    pub fn pane_at(self, x: f32, width: f32) -> (f32, f32) {
        match self {
            Self::SideBySide => {
                let half = width * 0.5;
                if x < half { (x, half) } else { (x - half, half) }
            }
            _ => (x, width),
        }
    }

    /// Which colour set is shown at CSS `x` of a `width`-wide canvas.
    #[cfg(test)]
    pub fn side_at(self, x: f32, width: f32) -> usize {
        match self {
            Self::Single => 0,
            Self::Swipe(at) => usize::from(x >= at * width),
            Self::SideBySide => usize::from(x >= width * 0.5),
        }
    }
}

/// The user's view settings.
#[derive(Debug, Clone)]
pub struct ViewState {
    /// Scene-frame point that is the viewer's local origin.
    pub origin: DVec3,
    /// Rebased bounding box of the scene.
    pub bounds: (Vec3, Vec3),
    /// States the timeline shows instead of the live ones (first side).
    pub seek: Option<(i32, Vec<LifecycleState>)>,
    /// States of the second side, when comparing.
    pub compare: Option<Vec<LifecycleState>>,
    /// How the two sides share the screen.
    pub layout: Layout,
    /// Colour layer and hidden elements.
    pub style: Style,
    /// X-ray mode.
    pub xray: bool,
    /// Feature edges drawn.
    pub edges: bool,
    /// Section plane: axis (0 x, 1 y, 2 z) and position as a fraction of the box.
    pub section: Option<(usize, f32)>,
    /// The highlighted element.
    pub selected: Option<u32>,
    /// Colours must be uploaded again.
    pub dirty: bool,
    /// Unit vector towards the sun (scene frame, z up) for sunlight shadows; `None` (the
    /// default): the studio light without shadows. See `render::FrameSpec::sun`.
    pub sun: Option<[f32; 3]>,
}

impl Default for ViewState {
    fn default() -> Self {
        Self {
            origin: DVec3::ZERO,
            bounds: (Vec3::splat(-1.0), Vec3::splat(1.0)),
            seek: None,
            compare: None,
            layout: Layout::Single,
            style: Style::default(),
            xray: false,
            edges: true,
            section: None,
            selected: None,
            dirty: true,
            sun: None,
        }
    }
}

impl ViewState {
    /// Starts a view of a scene with bounding box `bbox` (scene frame): the origin is its
    /// centre; everything else resets.
    pub fn for_bbox(bbox: [f64; 6]) -> Self {
        let min = DVec3::new(bbox[0], bbox[1], bbox[2]);
        let max = DVec3::new(bbox[3], bbox[4], bbox[5]);
        let (min, max) = if min.cmple(max).all() && min.is_finite() && max.is_finite() { (min, max) } else { (DVec3::ZERO, DVec3::ZERO) };
        let origin = ((min + max) * 0.5).round();
        Self { origin, bounds: ((min - origin).as_vec3(), (max - origin).as_vec3()), ..Self::default() }
    }

    /// The rebased bounding box as `[minx, miny, minz, maxx, maxy, maxz]`.
    pub fn local_bbox(&self) -> [f64; 6] {
        let (lo, hi) = self.bounds;
        [lo.x, lo.y, lo.z, hi.x, hi.y, hi.z].map(f64::from)
    }

    /// A scene-frame point in the local frame.
    pub fn to_local(&self, p: [f64; 3]) -> Vec3 {
        (DVec3::from_array(p) - self.origin).as_vec3()
    }

    /// A local point in the scene frame.
    pub fn to_scene(&self, p: Vec3) -> [f64; 3] {
        (p.as_dvec3() + self.origin).to_array()
    }

    /// The states shown on side `side` (0 or 1), given the live ones.
    pub fn states<'a>(&'a self, side: usize, live: &'a [LifecycleState]) -> &'a [LifecycleState] {
        match (side, &self.seek, &self.compare) {
            (1, _, Some(states)) => states,
            (_, Some((_, states)), _) => states,
            _ => live,
        }
    }

    /// The section plane `[nx, ny, nz, d]` in the local frame.
    pub fn section_plane(&self) -> Option<[f32; 4]> {
        let (axis, t) = self.section?;
        let axis = axis.min(2);
        let (lo, hi) = self.bounds;
        let d = lo[axis] + (hi[axis] - lo[axis]) * t.clamp(0.0, 1.0);
        let mut plane = [0.0; 4];
        plane[axis] = 1.0;
        plane[3] = d;
        Some(plane)
    }
}

/// Moves the placements of `scene` from index `first` on (those that arrived since the last
/// call, while the scene streams in) by `-origin`, computing in `f64` so that large
/// translations cancel exactly before they become `f32`; returns the number of placements now
/// rebased.
pub fn rebase_from(scene: &mut Scene, origin: DVec3, first: usize) -> usize {
    let count = scene.placements.len();
    if origin == DVec3::ZERO || first >= count {
        return count;
    }
    let shift = DMat4::from_translation(-origin);
    for placement in &mut scene.placements[first..] {
        let local = shift * placement.transform.as_dmat4();
        placement.transform = local.as_mat4();
        placement.inverse = local.inverse().as_mat4();
        if let Some(mesh) = scene.meshes.get(&placement.mesh) {
            let (lo, hi) = transformed_bounds(placement.transform, mesh.min, mesh.max);
            placement.world_min = lo;
            placement.world_max = hi;
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::camera::OrbitCamera;
    use crate::scene::test_scene;

    #[test]
    fn rebasing_batch_by_batch_moves_each_placement_once() {
        let origin = DVec3::new(1000.0, -20.0, 3.0);
        let mut whole = test_scene(4);
        let mut streamed = test_scene(4);
        rebase_from(&mut whole, origin, 0);
        let done = rebase_from(&mut streamed, origin, 0);
        assert_eq!(done, 4);
        // A second call with nothing new changes nothing.
        assert_eq!(rebase_from(&mut streamed, origin, done), 4);
        let mut partial = test_scene(4);
        partial.placements.truncate(2);
        let done = rebase_from(&mut partial, origin, 0);
        partial.placements.extend(test_scene(4).placements[2..].iter().cloned());
        rebase_from(&mut partial, origin, done);
        for (a, b) in whole.placements.iter().zip(partial.placements) {
            assert!((a.transform.w_axis - b.transform.w_axis).length() < 1e-4);
            assert!((a.world_min - b.world_min).length() < 1e-4);
        }
    }

    #[test]
    fn a_scene_far_from_the_origin_projects_like_the_same_scene_at_the_origin() {
        // Two cubes 3 m apart, placed 4,000 km east and 3,000 km north (UTM-like numbers).
        let far = DVec3::new(4_000_000.0, 3_000_000.0, 0.0);
        let mut near_scene = test_scene(2);
        let mut far_scene = test_scene(2);
        for p in &mut far_scene.placements {
            p.transform = glam::Mat4::from_translation(far.as_vec3()) * p.transform;
        }
        let view_near = ViewState::for_bbox([-0.5, -0.5, 0.0, 3.5, 0.5, 1.0]);
        let view_far = ViewState::for_bbox([far.x - 0.5, far.y - 0.5, 0.0, far.x + 3.5, far.y + 0.5, 1.0]);
        rebase_from(&mut near_scene, view_near.origin, 0);
        rebase_from(&mut far_scene, view_far.origin, 0);
        let mut camera = OrbitCamera::default();
        camera.fit(view_near.local_bbox(), 1.0);
        for (a, b) in near_scene.placements.iter().zip(far_scene.placements) {
            let corner = Vec3::new(0.5, 0.5, 1.0);
            let pa = camera.project(a.transform.transform_point3(corner), 1000.0, 1000.0).expect("in view");
            let pb = camera.project(b.transform.transform_point3(corner), 1000.0, 1000.0).expect("in view");
            assert!((pa.0 - pb.0).abs() < 0.5 && (pa.1 - pb.1).abs() < 0.5, "{pa:?} vs {pb:?}");
        }
    }

    #[test]
    fn the_local_origin_round_trips_scene_points() {
        let view = ViewState::for_bbox([500_000.0, 4_000_000.0, 0.0, 500_200.0, 4_000_100.0, 30.0]);
        let local = view.to_local([500_010.25, 4_000_020.5, 3.0]);
        assert!(local.length() < 200.0);
        let back = view.to_scene(local);
        assert!((back[0] - 500_010.25).abs() < 1e-3 && (back[1] - 4_000_020.5).abs() < 1e-3);
    }

    #[test]
    fn the_timeline_and_compare_states_replace_the_live_ones_per_side() {
        let live = [LifecycleState::Existing];
        let mut view = ViewState::default();
        assert_eq!(view.states(0, &live), &live);
        view.seek = Some((5, vec![LifecycleState::Renewed]));
        view.compare = Some(vec![LifecycleState::Built]);
        assert_eq!(view.states(0, &live), &[LifecycleState::Renewed]);
        assert_eq!(view.states(1, &live), &[LifecycleState::Built]);
    }

    #[test]
    fn clicks_fall_in_the_pane_and_side_they_are_over() {
        assert_eq!(Layout::SideBySide.pane_at(700.0, 1000.0), (200.0, 500.0));
        assert_eq!(Layout::SideBySide.side_at(700.0, 1000.0), 1);
        assert_eq!(Layout::Swipe(0.3).side_at(200.0, 1000.0), 0);
        assert_eq!(Layout::Swipe(0.3).side_at(400.0, 1000.0), 1);
        assert_eq!(Layout::Single.pane_at(700.0, 1000.0), (700.0, 1000.0));
    }

    #[test]
    fn a_horizontal_section_cuts_at_its_fraction_of_the_height() {
        let mut view = ViewState::for_bbox([0.0, 0.0, 0.0, 10.0, 10.0, 20.0]);
        view.section = Some((2, 0.25));
        let plane = view.section_plane().expect("plane");
        assert_eq!(plane[..3], [0.0, 0.0, 1.0]);
        assert!((plane[3] - (-5.0)).abs() < 1e-6, "z = 5 in the scene is -5 around the centre");
    }
}
