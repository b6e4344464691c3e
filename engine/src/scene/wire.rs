//! The static part of a scene as it goes on the wire: element list, bounding box, and mesh
//! batches encoded once at load time and sent as-is to every client.

use renewtwin_protocol::{ElementInfo, LifecycleState, MeshData, PlacedMesh, ServerMsg};

use super::LoadedScene;

/// Mesh batches are cut at about this many encoded bytes, well under the frame limit.
const BATCH_BYTES: usize = 1 << 20;

/// What every client receives before the live state, prepared once.
#[derive(Debug)]
pub struct SceneStatic {
    /// Scene name.
    pub name: String,
    /// Bounding box, metres.
    pub bbox: [f64; 6],
    /// Elements with their day-0 state (clients get the current state from the snapshot).
    pub elements: Vec<ElementInfo>,
    /// Encoded [`ServerMsg::Meshes`] frames.
    pub mesh_frames: Vec<axum::body::Bytes>,
    /// Number of meshes.
    pub mesh_count: u32,
    /// Triangles over all placements.
    pub triangle_count: u64,
    /// Day after the plan's end.
    pub plan_end: i32,
}

impl SceneStatic {
    /// Prepares the wire form of `scene`.
    pub fn build(scene: &LoadedScene) -> Result<Self, renewtwin_protocol::WireError> {
        let model = &scene.model;
        let elements = model
            .elements
            .iter()
            .enumerate()
            .map(|(i, e)| ElementInfo {
                id: i as u32,
                global_id: e.global_id.clone(),
                class: e.class.clone(),
                name: e.name.clone(),
                storey: e.container.and_then(|c| model.spatial.get(c)).and_then(|n| n.name.clone()),
                state: LifecycleState::Existing,
            })
            .collect();
        let mut by_mesh: Vec<Vec<PlacedMesh>> = vec![Vec::new(); model.meshes.len()];
        for (i, e) in model.elements.iter().enumerate() {
            for p in &e.placements {
                if let Some(list) = by_mesh.get_mut(p.mesh.0 as usize) {
                    list.push(PlacedMesh {
                        element: i as u32,
                        mesh: p.mesh.0,
                        transform: p.transform.map(|v| v as f32),
                    });
                }
            }
        }
        let mut mesh_frames = Vec::new();
        let mut meshes = Vec::new();
        let mut placements = Vec::new();
        let mut size = 0;
        for (id, (mesh, uses)) in model.meshes.iter().zip(by_mesh).enumerate() {
            if uses.is_empty() {
                continue;
            }
            size += (mesh.positions.len() + mesh.normals.len() + mesh.indices.len()) * 4 + uses.len() * 72;
            meshes.push(MeshData {
                id: id as u32,
                positions: mesh.positions.clone(),
                normals: mesh.normals.clone(),
                indices: mesh.indices.clone(),
            });
            placements.extend(uses);
            if size >= BATCH_BYTES {
                let msg = ServerMsg::Meshes { meshes: std::mem::take(&mut meshes), placements: std::mem::take(&mut placements) };
                mesh_frames.push(renewtwin_protocol::encode(&msg)?.into());
                size = 0;
            }
        }
        if !meshes.is_empty() {
            mesh_frames.push(renewtwin_protocol::encode(&ServerMsg::Meshes { meshes, placements })?.into());
        }
        Ok(Self {
            name: scene.manifest.name.clone(),
            bbox: model.bbox().to_array(),
            elements,
            mesh_frames,
            mesh_count: model.meshes.len() as u32,
            triangle_count: model.placed_triangles(),
            plan_end: scene.plan.end,
        })
    }
}
