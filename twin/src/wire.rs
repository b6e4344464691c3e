//! The static part of a scene as it goes on the wire: element list, bounding box, and quantized
//! mesh batches, encoded once at load time and sent as-is to every client.
//!
//! Batches are ordered by importance as seen from the viewer's initial camera (a placement's
//! bounding-box diagonal over its distance to the eye), so large and near elements arrive
//! first. The first batch is small so that the first triangles leave within one round trip;
//! later batches grow to [`MAX_BATCH_BYTES`]. The scene hash is xxh3-128 over everything the
//! client caches (the encoded element list and every mesh frame).

use std::collections::{BTreeMap, BTreeSet};

use renewtwin_protocol::{ElementInfo, Layers, LifecycleState, MeshData, PlacedMesh, SceneHash, ServerMsg, Subscription};

use crate::renewal::LoadedScene;

/// Byte budget of the first mesh batch.
const FIRST_BATCH_BYTES: usize = 16 * 1024;

/// Byte budget batches grow to (doubling from the first); small frames keep a slow client's
/// write buffer small and let deltas interleave.
pub(crate) const MAX_BATCH_BYTES: usize = 256 * 1024;

/// Wire size of one placement, for batch budgeting.
const PLACEMENT_BYTES: usize = 72;

/// Which subscription layer an element belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElementLayer {
    /// Everything not below.
    Buildings,
    /// Pipes, ducts, cables and their fittings.
    Pipes,
    /// Sensors and alarms.
    Sensors,
}

impl ElementLayer {
    /// The layer of an element of IFC class `class`.
    pub fn of_class(class: &str) -> Self {
        const PIPES: [&str; 12] = [
            "IfcPipeSegment",
            "IfcPipeFitting",
            "IfcDuctSegment",
            "IfcDuctFitting",
            "IfcCableSegment",
            "IfcCableFitting",
            "IfcCableCarrierSegment",
            "IfcCableCarrierFitting",
            "IfcFlowSegment",
            "IfcFlowFitting",
            "IfcValve",
            "IfcPump",
        ];
        if PIPES.iter().any(|p| class.eq_ignore_ascii_case(p)) {
            Self::Pipes
        } else if class.eq_ignore_ascii_case("IfcSensor") || class.eq_ignore_ascii_case("IfcAlarm") {
            Self::Sensors
        } else {
            Self::Buildings
        }
    }

    /// Whether `layers` includes this layer.
    pub fn in_layers(self, layers: &Layers) -> bool {
        match self {
            Self::Buildings => layers.buildings,
            Self::Pipes => layers.pipes,
            Self::Sensors => layers.sensors,
        }
    }
}

/// What every client receives before the live state, prepared once.
#[derive(Debug)]
pub struct SceneStatic {
    /// Scene name.
    pub name: String,
    /// Bounding box, metres.
    pub bbox: [f64; 6],
    /// Elements with their day-0 state (clients get the current state from the snapshot);
    /// shared with whatever else lists them (a server's loading state).
    pub elements: std::sync::Arc<Vec<ElementInfo>>,
    /// The subscription layer of each element.
    pub element_layers: Vec<ElementLayer>,
    /// Per project name, the sorted ids of the elements its tasks select in the base plan or in
    /// any scenario: what a `project` subscription admits.
    pub project_elements: BTreeMap<String, Vec<u32>>,
    /// Encoded [`ServerMsg::Meshes`] frames, most important first.
    pub mesh_frames: Vec<bytes::Bytes>,
    /// Number of meshes.
    pub mesh_count: u32,
    /// Triangles over all placements.
    pub triangle_count: u64,
    /// Day after the plan's end.
    pub plan_end: i32,
    /// Content hash of the elements and mesh frames.
    pub scene_hash: SceneHash,
    /// Total bytes of `mesh_frames`.
    pub scene_bytes: u64,
}

/// One placement with its world bounds and importance.
struct Ranked {
    placed: PlacedMesh,
    importance: f64,
}

impl SceneStatic {
    /// Prepares the wire form of `scene`.
    pub fn build(scene: &LoadedScene) -> Result<Self, renewtwin_protocol::WireError> {
        let model = &scene.model;
        let bbox = model.bbox().to_array();
        let meshes: Vec<MeshData> = model
            .meshes
            .iter()
            .enumerate()
            .map(|(id, m)| MeshData::quantize(id as u32, &m.positions, &m.normals, &m.indices))
            .collect();
        let mesh_bounds: Vec<([f64; 3], [f64; 3])> =
            meshes.iter().map(|m| (m.min.map(f64::from), m.max.map(f64::from))).collect();
        let eye = initial_eye(bbox);
        let mut ranked = Vec::new();
        for (i, e) in model.elements.iter().enumerate() {
            for p in e.placements {
                let Some(&(lo, hi)) = mesh_bounds.get(p.mesh.0 as usize) else { continue };
                if meshes[p.mesh.0 as usize].triangle_count() == 0 {
                    continue;
                }
                let (wlo, whi) = transformed_bounds(&p.transform, lo, hi);
                let diagonal = distance(wlo, whi);
                let centre = [(wlo[0] + whi[0]) * 0.5, (wlo[1] + whi[1]) * 0.5, (wlo[2] + whi[2]) * 0.5];
                let importance = diagonal / distance(eye, centre).max(1.0);
                ranked.push(Ranked {
                    placed: PlacedMesh { element: i as u32, mesh: p.mesh.0, transform: p.transform.map(|v| v as f32) },
                    importance,
                });
            }
        }
        // Stable on ties so the same scene always encodes to the same bytes (and hash).
        ranked.sort_by(|a, b| b.importance.total_cmp(&a.importance));

        let mut mesh_frames: Vec<bytes::Bytes> = Vec::new();
        let mut sent = vec![false; meshes.len()];
        let mut batch_meshes = Vec::new();
        let mut batch_placements = Vec::new();
        let mut size = 0;
        let mut budget = FIRST_BATCH_BYTES;
        for r in ranked {
            let mesh = r.placed.mesh as usize;
            if !sent[mesh] {
                sent[mesh] = true;
                size += meshes[mesh].byte_len();
                batch_meshes.push(meshes[mesh].clone());
            }
            size += PLACEMENT_BYTES;
            batch_placements.push(r.placed);
            if size >= budget {
                let msg = ServerMsg::Meshes {
                    meshes: std::mem::take(&mut batch_meshes),
                    placements: std::mem::take(&mut batch_placements),
                };
                mesh_frames.push(renewtwin_protocol::encode(&msg)?.into());
                size = 0;
                budget = (budget * 2).min(MAX_BATCH_BYTES);
            }
        }
        if !batch_placements.is_empty() {
            let msg = ServerMsg::Meshes { meshes: batch_meshes, placements: batch_placements };
            mesh_frames.push(renewtwin_protocol::encode(&msg)?.into());
        }
        Self::with_frames(scene, mesh_frames)
    }

    /// The static scene of `scene` whose geometry is `mesh_frames` (encoded
    /// [`ServerMsg::Meshes`], in the order they are sent): element list, layers, bounding box
    /// and the content hash over all of them.
    fn with_frames(scene: &LoadedScene, mesh_frames: Vec<bytes::Bytes>) -> Result<Self, renewtwin_protocol::WireError> {
        let model = &scene.model;
        let elements = element_infos(model);
        let element_layers = elements.iter().map(|e| ElementLayer::of_class(&e.class)).collect();
        let project_elements = project_elements(scene);
        let bbox = model.bbox().to_array();
        let mut hasher = twox_hash::XxHash3_128::new();
        for element in &elements {
            hasher.write(&renewtwin_protocol::encode(element)?);
        }
        hasher.write(&renewtwin_protocol::encode(&bbox)?);
        for frame in &mesh_frames {
            hasher.write(frame);
        }
        let scene_hash = SceneHash(hasher.finish_128().to_le_bytes());
        let scene_bytes = mesh_frames.iter().map(|f| f.len() as u64).sum();
        Ok(Self {
            name: scene.manifest.name.clone(),
            bbox,
            elements: std::sync::Arc::new(elements),
            element_layers,
            project_elements,
            mesh_frames,
            mesh_count: model.meshes.len() as u32,
            triangle_count: model.placed_triangles(),
            plan_end: scene.plan.end,
            scene_hash,
            scene_bytes,
        })
    }
}

/// The wire's element list of `model`, every element in its day-0 state.
pub fn element_infos(model: &renewtwin_importers::Model) -> Vec<ElementInfo> {
    model
        .elements
        .iter()
        .enumerate()
        .map(|(i, e)| ElementInfo {
            id: i as u32,
            global_id: e.global_id.to_owned(),
            class: e.class.to_owned(),
            name: e.name.map(str::to_owned),
            storey: e.container.and_then(|c| model.spatial.get(c)).and_then(|n| n.name.clone()),
            state: LifecycleState::Existing,
        })
        .collect()
}

/// The scene's meshes encoded for the wire while the model is still being meshed: each
/// meshed batch of the importer (one building, its elements in importance order: envelope,
/// then doors and windows, then the rest; see [`renewtwin_importers::MeshBatch`]) becomes one
/// or more [`ServerMsg::Meshes`] frames at once, each mesh sent with its first placement.
/// A server sends these to the clients that connect while it loads; once loaded, it
/// prepares the [`SceneStatic`] (importance-ranked over the whole scene, with its content
/// hash) that every client gets from then on.
#[derive(Debug)]
pub struct WireStream {
    sent: Vec<bool>,
    /// Each sent mesh's box (local coordinates).
    boxes: Vec<Option<([f64; 3], [f64; 3])>>,
    frames: Vec<bytes::Bytes>,
    budget: usize,
    lo: [f64; 3],
    hi: [f64; 3],
    meshes: u32,
    triangles: u64,
}

impl Default for WireStream {
    fn default() -> Self {
        Self {
            sent: Vec::new(),
            boxes: Vec::new(),
            frames: Vec::new(),
            budget: FIRST_BATCH_BYTES,
            lo: [f64::INFINITY; 3],
            hi: [f64::NEG_INFINITY; 3],
            meshes: 0,
            triangles: 0,
        }
    }
}

impl WireStream {
    /// Encodes the placements of `elements` (final in `model`) and the meshes they use that
    /// were not sent yet; returns the range of [`Self::frames`] this added (empty when the
    /// elements draw nothing). Frames end at the batch, or past a growing byte budget (16 KiB
    /// for the first frame, doubling to 256 KiB).
    pub fn batch(&mut self, model: &renewtwin_importers::Model, elements: &[usize]) -> Result<std::ops::Range<usize>, renewtwin_protocol::WireError> {
        let start = self.frames.len();
        if self.sent.len() < model.meshes.len() {
            self.sent.resize(model.meshes.len(), false);
            self.boxes.resize(model.meshes.len(), None);
        }
        let mut batch_meshes = Vec::new();
        let mut batch_placements = Vec::new();
        let mut size = 0;
        for &i in elements {
            let Some(e) = model.elements.get(i) else { continue };
            for p in e.placements {
                let id = p.mesh.0 as usize;
                let Some(mesh) = model.meshes.get(id) else { continue };
                if mesh.indices.len() < 3 {
                    continue;
                }
                if !self.sent[id] {
                    self.sent[id] = true;
                    self.boxes[id] = mesh_box(&mesh.positions);
                    let data = MeshData::quantize(id as u32, &mesh.positions, &mesh.normals, &mesh.indices);
                    size += data.byte_len();
                    batch_meshes.push(data);
                    self.meshes += 1;
                }
                if let Some((lo, hi)) = self.boxes[id] {
                    let (wlo, whi) = transformed_bounds(&p.transform, lo, hi);
                    for a in 0..3 {
                        self.lo[a] = self.lo[a].min(wlo[a]);
                        self.hi[a] = self.hi[a].max(whi[a]);
                    }
                }
                self.triangles += (mesh.indices.len() / 3) as u64;
                size += PLACEMENT_BYTES;
                batch_placements.push(PlacedMesh { element: i as u32, mesh: id as u32, transform: p.transform.map(|v| v as f32) });
                if size >= self.budget {
                    self.push(std::mem::take(&mut batch_meshes), std::mem::take(&mut batch_placements))?;
                    size = 0;
                }
            }
        }
        if !batch_placements.is_empty() {
            self.push(batch_meshes, batch_placements)?;
        }
        Ok(start..self.frames.len())
    }

    fn push(&mut self, meshes: Vec<MeshData>, placements: Vec<PlacedMesh>) -> Result<(), renewtwin_protocol::WireError> {
        self.frames.push(renewtwin_protocol::encode(&ServerMsg::Meshes { meshes, placements })?.into());
        self.budget = (self.budget * 2).min(MAX_BATCH_BYTES);
        Ok(())
    }

    /// The frames encoded so far, in order.
    pub fn frames(&self) -> &[bytes::Bytes] {
        &self.frames
    }

    /// The bounding box of what was encoded so far (mesh boxes as placed), metres; all zeros
    /// before anything was.
    pub fn bbox(&self) -> [f64; 6] {
        if self.lo[0] > self.hi[0] {
            return [0.0; 6];
        }
        [self.lo[0], self.lo[1], self.lo[2], self.hi[0], self.hi[1], self.hi[2]]
    }

    /// Meshes and placed triangles encoded so far.
    pub fn counts(&self) -> (u32, u64) {
        (self.meshes, self.triangles)
    }
}

/// The box of a mesh's positions, `None` for no vertex.
fn mesh_box(positions: &[f32]) -> Option<([f64; 3], [f64; 3])> {
    let mut lo = [f64::INFINITY; 3];
    let mut hi = [f64::NEG_INFINITY; 3];
    for v in positions.chunks_exact(3) {
        for a in 0..3 {
            lo[a] = lo[a].min(f64::from(v[a]));
            hi[a] = hi[a].max(f64::from(v[a]));
        }
    }
    (lo[0] <= hi[0]).then_some((lo, hi))
}

impl SceneStatic {
    /// Whether `subscription` includes element `id` (by layer, storey and project).
    pub fn admits(&self, id: u32, subscription: &Subscription) -> bool {
        let i = id as usize;
        self.element_layers.get(i).is_some_and(|l| l.in_layers(&subscription.layers))
            && subscription.storey.as_ref().is_none_or(|s| self.elements.get(i).and_then(|e| e.storey.as_ref()) == Some(s))
            && subscription
                .project
                .as_ref()
                .is_none_or(|p| self.project_elements.get(p).is_some_and(|ids| ids.binary_search(&id).is_ok()))
    }
}

/// The elements each project's tasks select, keyed by the project's name (the name phases carry
/// on the wire). Every scenario's tasks count too, so a subscription keeps its elements whichever
/// plan the server plays; a task shared by several plans is matched once.
fn project_elements(scene: &LoadedScene) -> BTreeMap<String, Vec<u32>> {
    let manifest = &scene.manifest;
    let model = &scene.model;
    let mut sets: Vec<BTreeSet<u32>> = vec![BTreeSet::new(); manifest.projects.len()];
    let mut seen: BTreeSet<(usize, *const crate::manifest::TaskSpec)> = BTreeSet::new();
    let plans = std::iter::once(None).chain(manifest.scenarios.iter().map(Some));
    for scenario in plans {
        for (pi, task) in manifest.tasks_for(scenario) {
            if !seen.insert((pi, std::ptr::from_ref(task))) {
                continue;
            }
            for ei in 0..model.elements.len() {
                if crate::renewal::plan::selects(&task.select, model, ei) {
                    sets[pi].insert(ei as u32);
                }
            }
        }
    }
    manifest.projects.iter().zip(sets).map(|(p, ids)| (p.name.clone(), ids.into_iter().collect())).collect()
}

/// Where the viewer's camera starts: looking at the box's centre across its longer side from
/// 1.6 radii away (the viewer's `OrbitCamera::fit` framing, to within its fitted distance).
fn initial_eye(bbox: [f64; 6]) -> [f64; 3] {
    let size = [bbox[3] - bbox[0], bbox[4] - bbox[1], bbox[5] - bbox[2]];
    let centre = [(bbox[0] + bbox[3]) * 0.5, (bbox[1] + bbox[4]) * 0.5, (bbox[2] + bbox[5]) * 0.5];
    let radius = (distance([bbox[0], bbox[1], bbox[2]], [bbox[3], bbox[4], bbox[5]]) * 0.5).max(1.0);
    let yaw: f64 = if size[0] >= size[1] { -1.25 } else { -0.32 };
    let pitch: f64 = 0.7;
    let d = radius * 1.6;
    [
        centre[0] + pitch.cos() * yaw.cos() * d,
        centre[1] + pitch.cos() * yaw.sin() * d,
        centre[2] + pitch.sin() * d,
    ]
}

fn distance(a: [f64; 3], b: [f64; 3]) -> f64 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
}

/// World bounds of the box `lo..hi` under a column-major 4×4 transform.
fn transformed_bounds(m: &[f64; 16], lo: [f64; 3], hi: [f64; 3]) -> ([f64; 3], [f64; 3]) {
    let mut wlo = [f64::INFINITY; 3];
    let mut whi = [f64::NEG_INFINITY; 3];
    for i in 0..8 {
        let c = [if i & 1 == 0 { lo[0] } else { hi[0] }, if i & 2 == 0 { lo[1] } else { hi[1] }, if i & 4 == 0 { lo[2] } else { hi[2] }];
        for a in 0..3 {
            let v = m[a] * c[0] + m[4 + a] * c[1] + m[8 + a] * c[2] + m[12 + a];
            wlo[a] = wlo[a].min(v);
            whi[a] = whi[a].max(v);
        }
    }
    (wlo, whi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipes_and_sensors_are_told_from_buildings_by_class() {
        assert_eq!(ElementLayer::of_class("IfcPipeSegment"), ElementLayer::Pipes);
        assert_eq!(ElementLayer::of_class("IfcSensor"), ElementLayer::Sensors);
        assert_eq!(ElementLayer::of_class("IfcWallStandardCase"), ElementLayer::Buildings);
        let only_pipes = Layers { buildings: false, pipes: true, sensors: false, comments: false };
        assert!(ElementLayer::Pipes.in_layers(&only_pipes) && !ElementLayer::Buildings.in_layers(&only_pipes));
    }

    #[test]
    fn a_translated_box_has_translated_bounds() {
        let mut m = [0.0; 16];
        (m[0], m[5], m[10], m[15]) = (1.0, 1.0, 1.0, 1.0);
        (m[12], m[13], m[14]) = (10.0, 0.0, -1.0);
        let (lo, hi) = transformed_bounds(&m, [0.0; 3], [1.0, 2.0, 3.0]);
        assert_eq!((lo, hi), ([10.0, 0.0, -1.0], [11.0, 2.0, 2.0]));
    }
}
