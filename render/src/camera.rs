//! The orbit camera: where the eye is, the matrices it gives, and rays through pixels.
//!
//! The world is Z-up (metres, as in IFC). The eye orbits a target point: `yaw` turns about the
//! Z axis, `pitch` lifts the eye above the XY plane, `distance` is the eye–target distance.
//! Projection uses wgpu's 0..1 depth range.

use glam::{Mat4, Vec3, Vec4};

/// Lowest and highest pitch, radians, so the eye never flips over the poles.
const PITCH_LIMIT: f32 = 1.54;

/// An orbiting perspective camera.
#[derive(Debug, Clone)]
pub struct OrbitCamera {
    /// The point the eye looks at and orbits.
    pub target: Vec3,
    /// Rotation about +Z, radians.
    pub yaw: f32,
    /// Elevation above the XY plane, radians.
    pub pitch: f32,
    /// Eye–target distance, metres.
    pub distance: f32,
    /// Vertical field of view, radians.
    pub fov_y: f32,
    /// Radius of the scene's bounding sphere, used for clip planes and zoom limits.
    pub scene_radius: f32,
}

impl Default for OrbitCamera {
    fn default() -> Self {
        Self {
            target: Vec3::ZERO,
            yaw: -0.9,
            pitch: 0.6,
            distance: 100.0,
            fov_y: 45f32.to_radians(),
            scene_radius: 50.0,
        }
    }
}

impl OrbitCamera {
    /// Frames the box `[minx, miny, minz, maxx, maxy, maxz]` so all of it is in view at
    /// `aspect` (width / height).
    pub fn fit(&mut self, bbox: [f64; 6], aspect: f32) {
        let min = Vec3::new(bbox[0] as f32, bbox[1] as f32, bbox[2] as f32);
        let max = Vec3::new(bbox[3] as f32, bbox[4] as f32, bbox[5] as f32);
        let (min, max) = if min.cmple(max).all() { (min, max) } else { (Vec3::splat(-1.0), Vec3::splat(1.0)) };
        self.target = (min + max) * 0.5;
        self.scene_radius = ((max - min).length() * 0.5).max(1.0);
        // Look across the longer side of the site, a little from the side, so it spans the width.
        let size = max - min;
        self.yaw = if size.x >= size.y { -1.25 } else { -0.32 };
        self.pitch = 0.7;
        // Shortest distance at which every corner of the box is inside the view, with a margin:
        // much tighter than the bounding sphere for flat districts.
        let corners: Vec<Vec3> = (0..8)
            .map(|i| {
                Vec3::new(
                    if i & 1 == 0 { min.x } else { max.x },
                    if i & 2 == 0 { min.y } else { max.y },
                    if i & 4 == 0 { min.z } else { max.z },
                )
            })
            .collect();
        let (mut near, mut far) = (self.scene_radius * 0.05, self.scene_radius * 20.0);
        for _ in 0..40 {
            self.distance = (near + far) * 0.5;
            let view_proj = self.view_projection(aspect);
            let fits = corners.iter().all(|&c| {
                let clip = view_proj * c.extend(1.0);
                clip.w > 0.0 && (clip.x / clip.w).abs() <= 0.94 && (clip.y / clip.w).abs() <= 0.9
            });
            if fits { far = self.distance } else { near = self.distance }
        }
        self.distance = far;
    }

    /// Puts the eye at `eye` looking at `target` (keeps the field of view and scene radius).
    pub fn look(&mut self, eye: Vec3, target: Vec3) {
        let offset = eye - target;
        let distance = offset.length();
        if !distance.is_finite() || distance < 1e-3 {
            return;
        }
        self.target = target;
        self.distance = distance;
        self.pitch = (offset.z / distance).clamp(-1.0, 1.0).asin().clamp(-PITCH_LIMIT, PITCH_LIMIT);
        self.yaw = offset.y.atan2(offset.x);
    }

    /// The camera `t` (0..=1) of the way from `self` to `to`, turning the short way round.
    pub fn lerp(&self, to: &Self, t: f32) -> Self {
        let t = t.clamp(0.0, 1.0);
        let smooth = t * t * (3.0 - 2.0 * t);
        let mut turn = (to.yaw - self.yaw) % std::f32::consts::TAU;
        if turn > std::f32::consts::PI {
            turn -= std::f32::consts::TAU;
        } else if turn < -std::f32::consts::PI {
            turn += std::f32::consts::TAU;
        }
        Self {
            target: self.target.lerp(to.target, smooth),
            yaw: self.yaw + turn * smooth,
            pitch: self.pitch + (to.pitch - self.pitch) * smooth,
            distance: self.distance * (to.distance / self.distance.max(1e-3)).powf(smooth),
            fov_y: to.fov_y,
            scene_radius: to.scene_radius,
        }
    }

    /// Position of the eye in the world.
    pub fn eye(&self) -> Vec3 {
        let (sp, cp) = self.pitch.sin_cos();
        let (sy, cy) = self.yaw.sin_cos();
        self.target + Vec3::new(cp * cy, cp * sy, sp) * self.distance
    }

    /// World → view matrix (right-handed, Z up).
    pub fn view(&self) -> Mat4 {
        Mat4::look_at_rh(self.eye(), self.target, Vec3::Z)
    }

    /// View → clip matrix for a viewport of `aspect` (width / height).
    pub fn projection(&self, aspect: f32) -> Mat4 {
        let near = (self.distance - self.scene_radius * 1.5).max(self.distance * 0.002).max(0.05);
        let far = self.distance + self.scene_radius * 2.0;
        Mat4::perspective_rh(self.fov_y, aspect.max(0.01), near, far)
    }

    /// World → clip matrix.
    pub fn view_projection(&self, aspect: f32) -> Mat4 {
        self.projection(aspect) * self.view()
    }

    /// Turns the eye by `dx`, `dy` CSS pixels of drag.
    pub fn orbit(&mut self, dx: f32, dy: f32) {
        self.yaw -= dx * 0.008;
        self.pitch = (self.pitch + dy * 0.008).clamp(-PITCH_LIMIT, PITCH_LIMIT);
    }

    /// Slides the target in the view plane by a drag of `dx`, `dy` CSS pixels on a viewport
    /// `height` CSS pixels tall, so the point under the cursor follows it.
    pub fn pan(&mut self, dx: f32, dy: f32, height: f32) {
        let metres_per_pixel = 2.0 * self.distance * (self.fov_y * 0.5).tan() / height.max(1.0);
        let forward = (self.target - self.eye()).normalize_or_zero();
        let right = forward.cross(Vec3::Z).normalize_or(Vec3::X);
        let up = right.cross(forward);
        self.target += (-right * dx + up * dy) * metres_per_pixel;
    }

    /// Moves the eye towards (factor < 1) or away from (factor > 1) the target.
    pub fn zoom(&mut self, factor: f32) {
        let min = self.scene_radius * 0.002;
        let max = self.scene_radius * 20.0;
        self.distance = (self.distance * factor).clamp(min.max(0.1), max.max(1.0));
    }

    /// The world-space ray through CSS pixel `(x, y)` of a `width` × `height` viewport:
    /// `(origin, unit direction)`.
    pub fn ray(&self, x: f32, y: f32, width: f32, height: f32) -> (Vec3, Vec3) {
        let ndc_x = 2.0 * x / width.max(1.0) - 1.0;
        let ndc_y = 1.0 - 2.0 * y / height.max(1.0);
        let inverse = self.view_projection(width / height.max(1.0)).inverse();
        let near = inverse * Vec4::new(ndc_x, ndc_y, 0.0, 1.0);
        let far = inverse * Vec4::new(ndc_x, ndc_y, 1.0, 1.0);
        let near = near.truncate() / near.w;
        let far = far.truncate() / far.w;
        (near, (far - near).normalize_or(Vec3::NEG_Z))
    }

    /// The CSS pixel where world point `p` appears, or `None` when it is behind the eye or
    /// outside the viewport.
    pub fn project(&self, p: Vec3, width: f32, height: f32) -> Option<(f32, f32)> {
        let clip = self.view_projection(width / height.max(1.0)) * p.extend(1.0);
        if clip.w <= 0.0 {
            return None;
        }
        let ndc = clip.truncate() / clip.w;
        if ndc.x.abs() > 1.0 || ndc.y.abs() > 1.0 || !(0.0..=1.0).contains(&ndc.z) {
            return None;
        }
        Some(((ndc.x + 1.0) * 0.5 * width, (1.0 - ndc.y) * 0.5 * height))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOX: [f64; 6] = [-40.0, -10.0, 0.0, 60.0, 30.0, 25.0];

    #[test]
    fn fitting_keeps_every_corner_of_the_box_in_view() {
        let mut camera = OrbitCamera::default();
        camera.fit(BOX, 16.0 / 9.0);
        for i in 0..8 {
            let corner = Vec3::new(
                BOX[if i & 1 == 0 { 0 } else { 3 }] as f32,
                BOX[if i & 2 == 0 { 1 } else { 4 }] as f32,
                BOX[if i & 4 == 0 { 2 } else { 5 }] as f32,
            );
            assert!(camera.project(corner, 1600.0, 900.0).is_some(), "corner {corner} is out of view");
        }
    }

    #[test]
    fn z_is_up_on_screen() {
        let mut camera = OrbitCamera::default();
        camera.fit(BOX, 1.0);
        let (_, low) = camera.project(camera.target, 800.0, 800.0).expect("target in view");
        let (_, high) = camera.project(camera.target + Vec3::Z * 5.0, 800.0, 800.0).expect("above target in view");
        assert!(high < low, "a point above the target must appear higher on screen");
    }

    #[test]
    fn the_ray_through_a_projected_point_passes_through_it() {
        let mut camera = OrbitCamera::default();
        camera.fit(BOX, 1.5);
        camera.orbit(40.0, -15.0);
        let point = Vec3::new(12.0, 7.0, 3.0);
        let (x, y) = camera.project(point, 1200.0, 800.0).expect("in view");
        let (origin, dir) = camera.ray(x, y, 1200.0, 800.0);
        let closest = origin + dir * (point - origin).dot(dir);
        assert!((closest - point).length() < 1e-2, "ray misses by {}", (closest - point).length());
    }

    #[test]
    fn looking_from_a_viewpoint_puts_the_eye_there_and_a_flight_ends_on_it() {
        let mut camera = OrbitCamera::default();
        camera.fit(BOX, 1.0);
        let start = camera.clone();
        let (eye, target) = (Vec3::new(10.0, -40.0, 20.0), Vec3::new(5.0, 5.0, 2.0));
        camera.look(eye, target);
        assert!((camera.eye() - eye).length() < 1e-3, "eye {}", camera.eye());
        let end = start.lerp(&camera, 1.0);
        assert!((end.eye() - eye).length() < 1e-2);
        let halfway = start.lerp(&camera, 0.5);
        assert!(halfway.distance > 0.0 && halfway.target.distance(target) < start.target.distance(target));
    }

    #[test]
    fn orbit_never_flips_over_the_pole_and_zoom_stays_bounded() {
        let mut camera = OrbitCamera::default();
        camera.fit(BOX, 1.0);
        camera.orbit(0.0, 1e6);
        assert!(camera.pitch <= PITCH_LIMIT);
        camera.zoom(1e-9);
        assert!(camera.distance > 0.0);
        camera.zoom(1e9);
        assert!(camera.distance <= camera.scene_radius * 20.0 + 1.0);
    }
}
