//! The mesh store: the scene as the server sent it, kept on the CPU for drawing and picking.
//!
//! Meshes are shared; placements say which element draws which mesh with which transform.
//! Element states change with every live delta; the renderer reads [`Scene::texel`] to colour
//! elements and [`Scene::colours_dirty`] to know when to upload them again.

use std::collections::HashMap;

use glam::{Mat4, Vec3};
use renewtwin_protocol::{
    CivilDate, ElementInfo, LifecycleState, MeshData, PhaseInfo, PhaseStatus, PlacedMesh,
    SceneHeader, SimDay, StateDelta,
};

/// How an element is drawn in a given lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// Opaque, lit, pickable.
    Solid,
    /// Translucent ghost, not pickable (planned elements).
    Ghost,
    /// Not drawn (demolished or removed elements, and those absent from the design shown).
    Hidden,
}

impl Visibility {
    /// The drawing rule for `state`.
    pub fn of(state: LifecycleState) -> Self {
        match state {
            LifecycleState::Planned => Self::Ghost,
            LifecycleState::Demolished | LifecycleState::Removed | LifecycleState::Absent => Self::Hidden,
            _ => Self::Solid,
        }
    }

    /// The alpha byte the shaders read: 255 solid, 128 ghost, 0 hidden.
    pub fn alpha(self) -> u8 {
        match self {
            Self::Solid => 255,
            Self::Ghost => 128,
            Self::Hidden => 0,
        }
    }
}

/// A triangle mesh in its own frame.
#[derive(Debug)]
pub struct Mesh {
    /// Vertex positions.
    pub positions: Vec<Vec3>,
    /// Unit vertex normals, one per position.
    pub normals: Vec<Vec3>,
    /// Triangle list.
    pub indices: Vec<u32>,
    /// Axis-aligned bounds of the positions.
    pub min: Vec3,
    /// Axis-aligned bounds of the positions.
    pub max: Vec3,
}

impl Mesh {
    /// Converts a quantized wire mesh back to `f32`. A mesh whose arrays do not agree with its
    /// header (a server bug, not a reason to stop drawing) becomes empty, and
    /// [`Scene::finish`] drops its placements.
    fn from_wire(data: MeshData) -> Self {
        let decoded = data.dequantize().unwrap_or_default();
        let positions: Vec<Vec3> =
            decoded.positions.chunks_exact(3).map(|p| Vec3::new(p[0], p[1], p[2])).collect();
        let mut normals: Vec<Vec3> =
            decoded.normals.chunks_exact(3).map(|n| Vec3::new(n[0], n[1], n[2])).collect();
        normals.resize(positions.len(), Vec3::Z);
        let indices = decoded.indices;
        let (min, max) = positions.iter().fold(
            (Vec3::splat(f32::INFINITY), Vec3::splat(f32::NEG_INFINITY)),
            |(lo, hi), &p| (lo.min(p), hi.max(p)),
        );
        Self { positions, normals, indices, min, max }
    }
}

/// One element's use of one mesh.
#[derive(Debug, Clone)]
pub struct Placement {
    /// Element id.
    pub element: u32,
    /// Mesh id.
    pub mesh: u32,
    /// Mesh frame → world.
    pub transform: Mat4,
    /// World → mesh frame.
    pub inverse: Mat4,
    /// World-space bounds of the placed mesh.
    pub world_min: Vec3,
    /// World-space bounds of the placed mesh.
    pub world_max: Vec3,
}

/// Everything the viewer knows about the scene on screen.
#[derive(Debug)]
pub struct Scene {
    /// Scene name.
    pub name: String,
    /// Elements, indexed by id.
    pub elements: Vec<ElementInfo>,
    /// Current lifecycle state of each element.
    pub states: Vec<LifecycleState>,
    /// Every phase of every project, as last reported.
    pub phases: Vec<PhaseInfo>,
    /// Meshes by id.
    pub meshes: HashMap<u32, Mesh>,
    /// Every placement, in arrival order.
    pub placements: Vec<Placement>,
    /// Placement indices of each element (filled when the scene completes).
    pub placements_of: Vec<Vec<u32>>,
    /// Element id by GlobalId.
    pub by_global_id: HashMap<String, u32>,
    /// All meshes have arrived.
    pub complete: bool,
    /// Sequence number the header reflected; older deltas are skipped.
    pub seq: u64,
    /// Current simulated day.
    pub day: SimDay,
    /// Current date.
    pub date: CivilDate,
    /// Live deltas applied since the header.
    pub state_changes: u64,
    /// Element colours changed since the renderer last uploaded them.
    pub colours_dirty: bool,
}

impl Scene {
    /// An empty scene described by `header`; meshes follow.
    pub fn new(header: SceneHeader) -> Self {
        let states = header.elements.iter().map(|e| e.state).collect();
        let by_global_id =
            header.elements.iter().map(|e| (e.global_id.to_owned(), e.id)).collect();
        Self {
            name: header.name,
            states,
            by_global_id,
            placements_of: vec![Vec::new(); header.elements.len()],
            elements: header.elements,
            phases: header.phases,
            meshes: HashMap::new(),
            placements: Vec::new(),
            complete: false,
            seq: header.seq,
            day: header.day,
            date: header.date,
            state_changes: 0,
            colours_dirty: true,
        }
    }

    /// Stores a batch of meshes and placements. Placements of unknown elements are dropped.
    pub fn add_batch(&mut self, meshes: Vec<MeshData>, placements: Vec<PlacedMesh>) {
        for mesh in meshes {
            self.meshes.insert(mesh.id, Mesh::from_wire(mesh));
        }
        for placed in placements {
            if (placed.element as usize) >= self.elements.len() {
                continue;
            }
            let transform = Mat4::from_cols_array(&placed.transform);
            self.placements.push(Placement {
                element: placed.element,
                mesh: placed.mesh,
                transform,
                inverse: transform.inverse(),
                world_min: Vec3::ZERO,
                world_max: Vec3::ZERO,
            });
        }
    }

    /// Marks the scene complete: computes world bounds and the element → placements index,
    /// dropping placements whose mesh never arrived or is empty.
    pub fn finish(&mut self) {
        let meshes = &self.meshes;
        self.placements.retain(|p| meshes.get(&p.mesh).is_some_and(|m| !m.indices.is_empty()));
        for (index, placement) in self.placements.iter_mut().enumerate() {
            if let Some(mesh) = self.meshes.get(&placement.mesh) {
                let (lo, hi) = transformed_bounds(placement.transform, mesh.min, mesh.max);
                placement.world_min = lo;
                placement.world_max = hi;
            }
            self.placements_of[placement.element as usize].push(index as u32);
        }
        self.complete = true;
        self.colours_dirty = true;
    }

    /// Applies a live delta unless the header already included it; returns whether it applied.
    pub fn apply(&mut self, delta: StateDelta) -> bool {
        if delta.seq <= self.seq {
            return false;
        }
        self.seq = delta.seq;
        self.day = delta.day;
        self.date = delta.date;
        for change in delta.changes {
            if let Some(state) = self.states.get_mut(change.element as usize)
                && *state != change.state {
                    *state = change.state;
                    self.colours_dirty = true;
                }
        }
        for phase in delta.phases {
            match self.phases.iter_mut().find(|p| p.project == phase.project && p.kind == phase.kind) {
                Some(known) => *known = phase,
                None => self.phases.push(phase),
            }
        }
        self.state_changes += 1;
        true
    }

    /// The phases running today, and those a governance gate holds up.
    pub fn current_phases(&self) -> impl Iterator<Item = &PhaseInfo> {
        self.phases.iter().filter(|p| matches!(p.status, PhaseStatus::Active | PhaseStatus::Blocked))
    }
}

/// World-space bounds of the box `min..max` after `transform`.
pub fn transformed_bounds(transform: Mat4, min: Vec3, max: Vec3) -> (Vec3, Vec3) {
    let mut lo = Vec3::splat(f32::INFINITY);
    let mut hi = Vec3::splat(f32::NEG_INFINITY);
    for i in 0..8 {
        let corner = Vec3::new(
            if i & 1 == 0 { min.x } else { max.x },
            if i & 2 == 0 { min.y } else { max.y },
            if i & 4 == 0 { min.z } else { max.z },
        );
        let p = transform.transform_point3(corner);
        lo = lo.min(p);
        hi = hi.max(p);
    }
    (lo, hi)
}

/// A small scene for the unit tests of this crate: unit cubes (one shared mesh), element `i`
/// centred at `(3 i, 0, 0.5)`, all `Existing`, header `seq` 10.
#[cfg(test)]
pub fn test_scene(elements: u32) -> Scene {
    use renewtwin_protocol::{CivilDate, ElementInfo, SceneHeader, SimDay};
    let header = SceneHeader {
        name: "test".into(),
        bbox: [-0.5, -0.5, 0.0, 3.0 * f64::from(elements) - 2.5, 0.5, 1.0],
        plan_start: CivilDate::new(2026, 3, 1),
        day: SimDay(0),
        date: CivilDate::new(2026, 3, 1),
        plan_end: SimDay(100),
        elements: (0..elements)
            .map(|id| ElementInfo {
                id,
                global_id: format!("gid{id}"),
                class: "IfcWall".into(),
                name: None,
                storey: None,
                state: LifecycleState::Existing,
            })
            .collect(),
        phases: vec![],
        mesh_count: 1,
        triangle_count: 12 * u64::from(elements),
        seq: 10,
        scene_hash: renewtwin_protocol::SceneHash::default(),
        batches: 1,
        scene_bytes: 0,
    };
    let mut scene = Scene::new(header);
    let corners: Vec<[f32; 3]> =
        (0..8).map(|i| [(i & 1) as f32 - 0.5, ((i >> 1) & 1) as f32 - 0.5, ((i >> 2) & 1) as f32]).collect();
    let quads = [[0, 1, 3, 2], [4, 6, 7, 5], [0, 4, 5, 1], [2, 3, 7, 6], [0, 2, 6, 4], [1, 5, 7, 3]];
    let indices: Vec<u32> = quads.iter().flat_map(|q| [q[0], q[1], q[2], q[0], q[2], q[3]]).collect();
    let positions: Vec<f32> = corners.iter().flatten().copied().collect();
    let normals: Vec<f32> = corners.iter().flat_map(|_| [0.0, 0.0, 1.0]).collect();
    let cube = MeshData::quantize(7, &positions, &normals, &indices);
    let placements = (0..elements)
        .map(|element| PlacedMesh {
            element,
            mesh: 7,
            transform: Mat4::from_translation(Vec3::new(3.0 * element as f32, 0.0, 0.0)).to_cols_array(),
        })
        .collect();
    scene.add_batch(vec![cube], placements);
    scene.finish();
    scene
}

#[cfg(test)]
mod tests {
    use renewtwin_protocol::StateChange;

    use super::*;

    fn delta(seq: u64, element: u32, state: LifecycleState) -> StateDelta {
        StateDelta {
            seq,
            day: SimDay(seq as i32),
            date: CivilDate::new(2026, 4, 1),
            changes: vec![StateChange { element, state }],
            phases: vec![],
            sent_at_us: 0,
        }
    }

    #[test]
    fn deltas_the_header_already_includes_are_skipped() {
        let mut scene = test_scene(2);
        assert!(!scene.apply(delta(10, 0, LifecycleState::Renewed)));
        assert_eq!(scene.states[0], LifecycleState::Existing);
        assert_eq!(scene.state_changes, 0);
    }

    #[test]
    fn a_newer_delta_changes_the_state_the_date_and_the_drawn_colour() {
        let mut scene = test_scene(2);
        scene.colours_dirty = false;
        assert!(scene.apply(delta(11, 1, LifecycleState::UnderConstruction)));
        assert_eq!(scene.states[1], LifecycleState::UnderConstruction);
        assert_eq!(scene.date.to_string(), "2026-04-01");
        assert_eq!(scene.state_changes, 1);
        assert!(scene.colours_dirty);
        assert_eq!(scene.states[1].rgb(), [230, 159, 0]);
        assert_eq!(Visibility::of(scene.states[1]), Visibility::Solid);
    }

    #[test]
    fn planned_elements_are_ghosts_and_demolished_ones_hidden() {
        let mut scene = test_scene(2);
        scene.apply(delta(11, 0, LifecycleState::Planned));
        scene.apply(delta(12, 1, LifecycleState::Demolished));
        assert_eq!(Visibility::of(scene.states[0]).alpha(), 128);
        assert_eq!(Visibility::of(scene.states[1]).alpha(), 0);
        assert!(scene.states.iter().all(|&s| Visibility::of(s) != Visibility::Solid));
    }

    #[test]
    fn placements_of_unknown_elements_or_missing_meshes_are_dropped() {
        let mut scene = test_scene(1);
        scene.complete = false;
        scene.add_batch(
            vec![],
            vec![
                PlacedMesh { element: 5, mesh: 7, transform: Mat4::IDENTITY.to_cols_array() },
                PlacedMesh { element: 0, mesh: 99, transform: Mat4::IDENTITY.to_cols_array() },
            ],
        );
        scene.placements_of = vec![Vec::new()];
        scene.finish();
        assert_eq!(scene.placements.len(), 1);
        assert_eq!(scene.placements_of[0], vec![0]);
    }

    #[test]
    fn world_bounds_follow_the_placement() {
        let scene = test_scene(2);
        let second = &scene.placements[1];
        assert!((second.world_min - Vec3::new(2.5, -0.5, 0.0)).length() < 1e-5);
        assert!((second.world_max - Vec3::new(3.5, 0.5, 1.0)).length() < 1e-5);
    }
}
