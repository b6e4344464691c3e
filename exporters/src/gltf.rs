//! The scene as it stands on a day, as glTF 2.0 binary (GLB).
//!
//! - **Geometry**: every placement of every element standing on the day (demolished and removed
//!   elements are left out), in the scene's frame (metres), turned from its Z up to glTF's Y up by
//!   the one root node. A mesh the scene shares between placements with the same state becomes
//!   one node with `EXT_mesh_gpu_instancing` (translation, rotation, scale per instance);
//!   a placement whose transform is not a rotation and scale, or a mesh used once, is its own node.
//! - **Colour**: one material per lifecycle state, the viewer's colours
//!   ([`LifecycleState::rgb`], sRGB converted to glTF's linear factors); planned elements are
//!   translucent as in the viewer.
//! - **Metadata**: `EXT_structural_metadata` holds one property table with a row per element of
//!   the model (GlobalId, IFC class, name, storey, lifecycle state on the day, renewal projects);
//!   `EXT_mesh_features` (per vertex, constant over a placement) and `EXT_instance_features` (per
//!   instance) give each drawn triangle its row.
//!
//! **Streaming.** A GLB starts with its total length and its JSON before the binary chunk, so
//! [`write_glb`] makes two passes over the model: the first lays out every buffer view (sizes
//! only) and builds the JSON, the second writes each mesh's bytes straight from the model into
//! the writer. What it holds beside the scene is the JSON, the per-element metadata and the
//! decomposed instance transforms; never a second copy of the geometry.
//!
//! Specifications: glTF 2.0 (Khronos, <https://registry.khronos.org/glTF/specs/2.0/glTF-2.0.html>),
//! `EXT_mesh_gpu_instancing`, `EXT_mesh_features`, `EXT_instance_features` and
//! `EXT_structural_metadata` (Khronos glTF extension registry).

use std::collections::{BTreeMap, HashMap};
use std::io::Write;

use renewtwin_importers::{Model, SpatialKind};
use renewtwin_protocol::LifecycleState;
use renewtwin_twin::manifest::Manifest;
use renewtwin_twin::renewal::Plan;
use serde_json::{Map, Value, json};

/// Why a GLB could not be written.
#[derive(Debug, thiserror::Error)]
pub enum GltfError {
    /// The writer refused the bytes.
    #[error("cannot write the GLB")]
    Write(#[source] std::io::Error),
    /// More than a GLB can hold (its lengths are 32-bit).
    #[error(
        "the scene needs {bytes} bytes of binary data; a GLB holds at most 4 GiB (export fewer elements)"
    )]
    TooLarge {
        /// Bytes the binary chunk would need.
        bytes: u64,
    },
    /// An encoded mesh frame does not decode.
    #[error("a mesh frame of the scene does not decode: {0}")]
    Frame(String),
    /// A mesh of the model breaks its own invariants.
    #[error("mesh {mesh} (used by element {global_id}) is malformed: {why}")]
    Mesh {
        /// Mesh index in the model.
        mesh: u32,
        /// The element that uses it.
        global_id: String,
        /// What is wrong.
        why: String,
    },
}

/// The scene to export: its manifest, model and the resolved plan (base or a scenario).
#[derive(Debug, Clone, Copy)]
pub struct Scene<'a> {
    /// The manifest (scene name, start date, projects).
    pub manifest: &'a Manifest,
    /// The model (elements, meshes, spatial tree).
    pub model: &'a Model,
    /// The plan whose states are exported.
    pub plan: &'a Plan,
}

/// How much of the binary chunk is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes written so far.
    pub done: u64,
    /// Bytes in all.
    pub total: u64,
}

/// What was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Elements with geometry drawn.
    pub elements: usize,
    /// Elements left out on the day (demolished or removed).
    pub left_out: usize,
    /// Placements drawn.
    pub placements: usize,
    /// Nodes that instance a mesh (`EXT_mesh_gpu_instancing`).
    pub instanced_nodes: usize,
    /// Placements drawn as instances of those nodes.
    pub instances: usize,
    /// Bytes of the GLB.
    pub bytes: u64,
}

/// A mesh's size and bounds, for the layout pass.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MeshInfo {
    /// Vertices.
    pub vertices: usize,
    /// Indices (three per triangle).
    pub indices: usize,
    /// Whether it has normals.
    pub normals: bool,
    /// Lower corner of the positions, as they will be written.
    pub min: [f32; 3],
    /// Upper corner.
    pub max: [f32; 3],
}

/// What [`Geometry::with_mesh`] hands a mesh to: its positions, normals (empty if none) and indices.
pub type MeshVisitor<'a> = dyn FnMut(&[f32], &[f32], &[u32]) -> std::io::Result<()> + 'a;

/// One instance: element index, translation, rotation (`x, y, z, w`) and scale.
type Instance = (u32, [f32; 3], [f32; 4], [f32; 3]);

/// Where the meshes come from: the model's own (the command line) or the encoded frames a
/// server keeps instead ([`WireGeometry`]). Meshes are asked for one at a time, in the order
/// of [`Geometry::order`], so a source may decode one batch at a time.
pub trait Geometry {
    /// Size and bounds of mesh `id`, checked (every index in range), or why it cannot be used.
    fn info(&mut self, id: u32) -> Result<MeshInfo, String>;
    /// Calls `visit` with mesh `id`'s positions, normals (empty if none) and indices.
    fn with_mesh(
        &mut self,
        id: u32,
        visit: &mut MeshVisitor<'_>,
    ) -> Result<std::io::Result<()>, String>;
    /// Sort key: meshes are read in this order.
    fn order(&self, id: u32) -> u64 {
        u64::from(id)
    }
}

fn bounds(positions: &[f32]) -> ([f32; 3], [f32; 3]) {
    let (mut min, mut max) = ([f32::MAX; 3], [f32::MIN; 3]);
    for v in positions.chunks_exact(3) {
        for k in 0..3 {
            min[k] = min[k].min(v[k]);
            max[k] = max[k].max(v[k]);
        }
    }
    (min, max)
}

fn check_mesh(positions: &[f32], normals: &[f32], indices: &[u32]) -> Result<MeshInfo, String> {
    let vertices = positions.len() / 3;
    if !positions.len().is_multiple_of(3)
        || !(normals.is_empty() || normals.len() == positions.len())
    {
        return Err(format!(
            "{} position and {} normal values",
            positions.len(),
            normals.len()
        ));
    }
    if !indices.len().is_multiple_of(3) || indices.iter().any(|&i| i as usize >= vertices) {
        return Err(format!(
            "{} indices over {vertices} vertices",
            indices.len()
        ));
    }
    let (min, max) = bounds(positions);
    Ok(MeshInfo {
        vertices,
        indices: indices.len(),
        normals: !normals.is_empty(),
        min,
        max,
    })
}

/// The model's meshes.
#[derive(Debug)]
pub struct ModelGeometry<'a>(pub &'a Model);

impl Geometry for ModelGeometry<'_> {
    fn info(&mut self, id: u32) -> Result<MeshInfo, String> {
        let m = self.0.meshes.get(id as usize).ok_or("no such mesh")?;
        check_mesh(&m.positions, &m.normals, &m.indices)
    }

    fn with_mesh(
        &mut self,
        id: u32,
        visit: &mut MeshVisitor<'_>,
    ) -> Result<std::io::Result<()>, String> {
        let m = self.0.meshes.get(id as usize).ok_or("no such mesh")?;
        Ok(visit(&m.positions, &m.normals, &m.indices))
    }
}

/// The meshes of encoded `ServerMsg::Meshes` frames (what a server keeps once the model's own
/// meshes are dropped), dequantized one mesh at a time: positions as the viewer draws them.
#[derive(Debug)]
pub struct WireGeometry<'a, F> {
    frames: &'a [F],
    /// Mesh id → frame index.
    frame_of: HashMap<u32, usize>,
    /// The frame decoded last, and its meshes by id.
    current: Option<(usize, HashMap<u32, renewtwin_protocol::MeshData>)>,
    /// The mesh dequantized last.
    last: Option<(u32, renewtwin_protocol::DecodedMesh)>,
}

impl<'a, F: AsRef<[u8]>> WireGeometry<'a, F> {
    /// Indexes `frames` (each decoded once, then dropped).
    pub fn new(frames: &'a [F]) -> Result<Self, GltfError> {
        let mut frame_of = HashMap::new();
        for (i, frame) in frames.iter().enumerate() {
            if let renewtwin_protocol::ServerMsg::Meshes { meshes, .. } =
                decode_frame(frame.as_ref())?
            {
                for m in meshes {
                    frame_of.insert(m.id, i);
                }
            }
        }
        Ok(Self {
            frames,
            frame_of,
            current: None,
            last: None,
        })
    }

    fn decoded(&mut self, id: u32) -> Result<&renewtwin_protocol::DecodedMesh, String> {
        if self.last.as_ref().is_none_or(|(l, _)| *l != id) {
            let frame = *self
                .frame_of
                .get(&id)
                .ok_or("no such mesh in the scene's frames")?;
            if self.current.as_ref().is_none_or(|(f, _)| *f != frame) {
                let msg = decode_frame(self.frames[frame].as_ref()).map_err(|e| e.to_string())?;
                let renewtwin_protocol::ServerMsg::Meshes { meshes, .. } = msg else {
                    return Err("not a mesh frame".into());
                };
                self.current = Some((frame, meshes.into_iter().map(|m| (m.id, m)).collect()));
            }
            let data = self
                .current
                .as_ref()
                .and_then(|(_, ms)| ms.get(&id))
                .ok_or("mesh missing from its frame")?;
            let mesh = data.dequantize().map_err(|e| e.to_string())?;
            self.last = Some((id, mesh));
        }
        self.last
            .as_ref()
            .map(|(_, m)| m)
            .ok_or_else(|| "no mesh".into())
    }
}

fn decode_frame(frame: &[u8]) -> Result<renewtwin_protocol::ServerMsg, GltfError> {
    renewtwin_protocol::decode(frame).map_err(|e| GltfError::Frame(e.to_string()))
}

impl<F: AsRef<[u8]>> Geometry for WireGeometry<'_, F> {
    fn info(&mut self, id: u32) -> Result<MeshInfo, String> {
        let m = self.decoded(id)?;
        check_mesh(&m.positions, &m.normals, &m.indices)
    }

    fn with_mesh(
        &mut self,
        id: u32,
        visit: &mut MeshVisitor<'_>,
    ) -> Result<std::io::Result<()>, String> {
        let m = self.decoded(id)?;
        Ok(visit(&m.positions, &m.normals, &m.indices))
    }

    fn order(&self, id: u32) -> u64 {
        (self.frame_of.get(&id).copied().unwrap_or(usize::MAX) as u64) << 32 | u64::from(id)
    }
}

/// Whether an element in `state` is drawn: demolished and removed elements, and those absent
/// from the plan's design variant, are left out.
pub fn drawn(state: LifecycleState) -> bool {
    !matches!(state, LifecycleState::Demolished | LifecycleState::Removed | LifecycleState::Absent)
}

/// One buffer view's bytes, produced in the second pass.
#[derive(Debug)]
enum Piece {
    Positions(u32),
    Normals(u32),
    Indices(u32),
    /// `count` copies of `value` (a placement's feature id per vertex).
    Constant {
        value: f32,
        count: usize,
    },
    /// Instance attribute `component` (0: translation, 1: rotation, 2: scale, 3: feature id) of group `group`.
    Instances {
        group: usize,
        component: u8,
    },
    /// Metadata bytes.
    Bytes(Vec<u8>),
}

/// A mesh instanced by several placements in one state.
#[derive(Debug)]
struct Group {
    /// `(element index, translation, rotation xyzw, scale)` per instance.
    instances: Vec<Instance>,
}

/// Accumulates buffer views and accessors of the first pass.
#[derive(Debug, Default)]
struct Layout {
    pieces: Vec<(Piece, usize)>,
    views: Vec<Value>,
    accessors: Vec<Value>,
    cursor: usize,
}

impl Layout {
    /// Adds a buffer view for `piece` and returns its index.
    fn view(
        &mut self,
        piece: Piece,
        len: usize,
        target: Option<u32>,
        stride: Option<usize>,
    ) -> usize {
        let offset = self.cursor.div_ceil(4) * 4;
        let mut v = json!({"buffer": 0, "byteOffset": offset, "byteLength": len});
        if let Some(t) = target {
            v["target"] = t.into();
        }
        if let Some(s) = stride {
            v["byteStride"] = s.into();
        }
        self.views.push(v);
        self.pieces.push((piece, offset));
        self.cursor = offset + len;
        self.views.len() - 1
    }

    fn accessor(&mut self, accessor: Value) -> usize {
        self.accessors.push(accessor);
        self.accessors.len() - 1
    }
}

const FLOAT: u32 = 5126;
const UNSIGNED_INT: u32 = 5125;
const ARRAY_BUFFER: u32 = 34962;
const ELEMENT_ARRAY_BUFFER: u32 = 34963;

/// The glTF linear factor of an sRGB byte (IEC 61966-2-1 transfer function).
fn linear(c: u8) -> f64 {
    let c = f64::from(c) / 255.0;
    if c <= 0.04045 {
        c / 12.92
    } else {
        ((c + 0.055) / 1.055).powf(2.4)
    }
}

/// The rotation (unit quaternion `x, y, z, w`) and scale of a column-major affine transform,
/// or `None` where it shears, projects or collapses an axis.
fn decompose(m: &[f64; 16]) -> Option<([f32; 3], [f32; 4], [f32; 3])> {
    if m[3].abs() > 1e-9 || m[7].abs() > 1e-9 || m[11].abs() > 1e-9 || (m[15] - 1.0).abs() > 1e-9 {
        return None;
    }
    let col = |i: usize| [m[4 * i], m[4 * i + 1], m[4 * i + 2]];
    let norm = |c: [f64; 3]| (c[0] * c[0] + c[1] * c[1] + c[2] * c[2]).sqrt();
    let (c0, c1, c2) = (col(0), col(1), col(2));
    let det = c0[0] * (c1[1] * c2[2] - c1[2] * c2[1]) - c1[0] * (c0[1] * c2[2] - c0[2] * c2[1])
        + c2[0] * (c0[1] * c1[2] - c0[2] * c1[1]);
    let mut s = [norm(c0), norm(c1), norm(c2)];
    if s.iter().any(|v| *v < 1e-9) {
        return None;
    }
    if det < 0.0 {
        s[0] = -s[0];
    }
    let r: [[f64; 3]; 3] = [
        c0.map(|v| v / s[0]),
        c1.map(|v| v / s[1]),
        c2.map(|v| v / s[2]),
    ];
    // The columns must be orthonormal: no shear.
    let dot = |a: [f64; 3], b: [f64; 3]| a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
    if dot(r[0], r[1]).abs() > 1e-5 || dot(r[0], r[2]).abs() > 1e-5 || dot(r[1], r[2]).abs() > 1e-5
    {
        return None;
    }
    // r[c][row]: element (row, col) of the rotation.
    let e = |row: usize, c: usize| r[c][row];
    let trace = e(0, 0) + e(1, 1) + e(2, 2);
    let q = if trace > 0.0 {
        let s = (trace + 1.0).sqrt() * 2.0;
        [
            (e(2, 1) - e(1, 2)) / s,
            (e(0, 2) - e(2, 0)) / s,
            (e(1, 0) - e(0, 1)) / s,
            0.25 * s,
        ]
    } else if e(0, 0) > e(1, 1) && e(0, 0) > e(2, 2) {
        let s = (1.0 + e(0, 0) - e(1, 1) - e(2, 2)).sqrt() * 2.0;
        [
            0.25 * s,
            (e(0, 1) + e(1, 0)) / s,
            (e(0, 2) + e(2, 0)) / s,
            (e(2, 1) - e(1, 2)) / s,
        ]
    } else if e(1, 1) > e(2, 2) {
        let s = (1.0 + e(1, 1) - e(0, 0) - e(2, 2)).sqrt() * 2.0;
        [
            (e(0, 1) + e(1, 0)) / s,
            0.25 * s,
            (e(1, 2) + e(2, 1)) / s,
            (e(0, 2) - e(2, 0)) / s,
        ]
    } else {
        let s = (1.0 + e(2, 2) - e(0, 0) - e(1, 1)).sqrt() * 2.0;
        [
            (e(0, 2) + e(2, 0)) / s,
            (e(1, 2) + e(2, 1)) / s,
            0.25 * s,
            (e(1, 0) - e(0, 1)) / s,
        ]
    };
    let n = (q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]).sqrt();
    let q = q.map(|v| (v / n) as f32);
    Some((
        [m[12] as f32, m[13] as f32, m[14] as f32],
        q,
        s.map(|v| v as f32),
    ))
}

/// The storey (name, else GlobalId) an element is in, if any.
fn storey(model: &Model, container: Option<usize>) -> String {
    let mut at = container;
    while let Some(i) = at {
        let Some(node) = model.spatial.get(i) else {
            break;
        };
        if node.kind == SpatialKind::Storey {
            return node.name.clone().unwrap_or_else(|| node.global_id.clone());
        }
        at = node.parent;
    }
    String::new()
}

/// The names of the renewal projects whose tasks (in `plan`'s scenario) select each element of
/// `rows` (element indices).
fn projects(scene: &Scene<'_>, rows: &[usize]) -> Vec<String> {
    let manifest = scene.manifest;
    let scenario = scene
        .plan
        .scenario
        .as_deref()
        .and_then(|s| manifest.scenario(s));
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); rows.len()];
    for (pi, task) in manifest.tasks_for(scenario) {
        for (&ei, projects) in rows.iter().zip(out.iter_mut()) {
            if !projects.contains(&pi)
                && renewtwin_twin::renewal::plan::selects(&task.select, scene.model, ei)
            {
                projects.push(pi);
            }
        }
    }
    out.into_iter()
        .map(|ps| {
            let mut ps = ps;
            ps.sort_unstable();
            ps.iter()
                .map(|&p| manifest.projects[p].name.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        })
        .collect()
}

/// A string property's values and UINT32 offsets.
fn strings(values: impl Iterator<Item = String>) -> (Vec<u8>, Vec<u8>) {
    let mut bytes = Vec::new();
    let mut offsets = vec![0u8, 0, 0, 0];
    for v in values {
        bytes.extend_from_slice(v.as_bytes());
        offsets.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    }
    (bytes, offsets)
}

/// Writes `scene` as it stands on simulated `day` as a GLB into `out`, calling `progress` as
/// the binary chunk is written. Every element of the model has a row of metadata.
pub fn write_glb(
    scene: &Scene<'_>,
    geometry: &mut dyn Geometry,
    day: i32,
    out: impl Write,
    progress: impl FnMut(Progress),
) -> Result<Stats, GltfError> {
    let rows: Vec<usize> = (0..scene.model.elements.len()).collect();
    prepare(scene, geometry, day, rows)?.write(geometry, out, progress)
}

/// A GLB laid out and ready to write: its JSON, the plan of its binary chunk and its size.
/// It holds no geometry; [`Prepared::write`] reads the meshes again from the same source.
#[derive(Debug)]
pub struct Prepared {
    json: Vec<u8>,
    pieces: Vec<(Piece, usize)>,
    /// Byte lengths of the buffer views, to check the second pass.
    lengths: Vec<usize>,
    groups: Vec<Group>,
    bin_len: usize,
    stats: Stats,
}

impl Prepared {
    /// The size of the GLB in bytes.
    pub fn bytes(&self) -> u64 {
        self.stats.bytes
    }

    /// What will be written.
    pub fn stats(&self) -> Stats {
        self.stats
    }
}

/// Lays out the GLB of the elements `rows` (indices into the model's elements, one row of
/// metadata each, in that order) of `scene` as it stands on simulated `day`: the first pass of
/// [`write_glb`]. Elements of `rows` demolished or removed on the day keep their row but are not
/// drawn. Reads each mesh's size and bounds from `geometry`, not its bytes.
pub fn prepare(
    scene: &Scene<'_>,
    geometry: &mut dyn Geometry,
    day: i32,
    rows: Vec<usize>,
) -> Result<Prepared, GltfError> {
    let model = scene.model;
    if let Some(&bad) = rows.iter().find(|&&ei| ei >= model.elements.len()) {
        return Err(GltfError::Mesh {
            mesh: 0,
            global_id: String::new(),
            why: format!("element {bad} is not in the model"),
        });
    }
    let states: Vec<LifecycleState> = rows
        .iter()
        .map(|&i| {
            scene
                .plan
                .schedules
                .get(i)
                .map_or(LifecycleState::Existing, |s| s.state_on(day))
        })
        .collect();
    let mut stats = Stats::default();

    // Check the meshes the drawn placements use, in the order the source reads them.
    let mut used: Vec<(u32, usize)> = Vec::new();
    for (row, &ei) in rows.iter().enumerate() {
        let e = model.elements.at(ei);
        if !drawn(states[row]) {
            if !e.placements.is_empty() {
                stats.left_out += 1;
            }
            continue;
        }
        used.extend(e.placements.iter().map(|p| (p.mesh.0, ei)));
    }
    used.sort_by_key(|&(m, _)| (geometry.order(m), m));
    let mut infos: HashMap<u32, MeshInfo> = HashMap::new();
    for &(m, ei) in &used {
        if infos.contains_key(&m) {
            continue;
        }
        let info = geometry.info(m).map_err(|why| GltfError::Mesh {
            mesh: m,
            global_id: model.elements.at(ei).global_id.to_owned(),
            why,
        })?;
        infos.insert(m, info);
    }

    // Which placements are instanced: a mesh used in one state by several decomposable placements.
    let mut uses: BTreeMap<(u32, usize), Vec<(u32, usize)>> = BTreeMap::new();
    for (row, &ei) in rows.iter().enumerate() {
        let e = model.elements.at(ei);
        if !drawn(states[row]) {
            continue;
        }
        for (pi, p) in e.placements.iter().enumerate() {
            if infos.get(&p.mesh.0).is_none_or(|i| i.indices == 0) {
                continue;
            }
            let si = LifecycleState::ALL
                .iter()
                .position(|s| *s == states[row])
                .unwrap_or(0);
            uses.entry((p.mesh.0, si))
                .or_default()
                .push((row as u32, pi));
        }
    }
    let mut groups: Vec<Group> = Vec::new();
    let mut group_keys: Vec<(u32, usize)> = Vec::new();
    let mut singles: Vec<(u32, usize, usize)> = Vec::new();
    for (&(mesh, si), placements) in &uses {
        let decomposed: Option<Vec<_>> = placements
            .iter()
            .map(|&(row, pi)| {
                decompose(&model.elements.at(rows[row as usize]).placements[pi].transform)
                    .map(|(t, r, s)| (row, t, r, s))
            })
            .collect();
        match decomposed {
            Some(instances) if placements.len() >= 2 => {
                groups.push(Group { instances });
                group_keys.push((mesh, si));
            }
            _ => singles.extend(placements.iter().map(|&(row, pi)| (row, pi, si))),
        }
    }

    // First pass: buffer views, accessors, meshes, nodes.
    let mut layout = Layout::default();
    // Every used mesh's geometry first, in the source's order, so the second pass reads each once.
    let mut accessors_of: HashMap<u32, (usize, Option<usize>, usize)> = HashMap::new();
    let mut order: Vec<u32> = infos
        .iter()
        .filter(|(_, i)| i.indices > 0)
        .map(|(m, _)| *m)
        .collect();
    order.sort_by_key(|&m| (geometry.order(m), m));
    for m in order {
        let info = infos[&m];
        let n = info.vertices;
        let pv = layout.view(Piece::Positions(m), n * 12, Some(ARRAY_BUFFER), None);
        let pos = layout
            .accessor(json!({"bufferView": pv, "componentType": FLOAT, "count": n, "type": "VEC3", "min": info.min, "max": info.max}));
        let nrm = info.normals.then(|| {
            let nv = layout.view(Piece::Normals(m), n * 12, Some(ARRAY_BUFFER), None);
            layout.accessor(
                json!({"bufferView": nv, "componentType": FLOAT, "count": n, "type": "VEC3"}),
            )
        });
        let iv = layout.view(
            Piece::Indices(m),
            info.indices * 4,
            Some(ELEMENT_ARRAY_BUFFER),
            None,
        );
        let idx = layout.accessor(json!({"bufferView": iv, "componentType": UNSIGNED_INT, "count": info.indices, "type": "SCALAR"}));
        accessors_of.insert(m, (pos, nrm, idx));
    }
    let geometry_of = |_: &mut Layout, m: u32| accessors_of[&m];
    let mut meshes: Vec<Value> = Vec::new();
    let mut nodes: Vec<Value> = vec![Value::Null];
    let mut drawn_elements = vec![false; rows.len()];
    for &(row, pi, si) in &singles {
        let e = model.elements.at(rows[row as usize]);
        let p = &e.placements[pi];
        let (pos, nrm, idx) = geometry_of(&mut layout, p.mesh.0);
        let vertices = infos[&p.mesh.0].vertices;
        let fv = layout.view(
            Piece::Constant {
                value: row as f32,
                count: vertices,
            },
            vertices * 4,
            Some(ARRAY_BUFFER),
            None,
        );
        let fid = layout.accessor(
            json!({"bufferView": fv, "componentType": FLOAT, "count": vertices, "type": "SCALAR"}),
        );
        let mut attributes = json!({"POSITION": pos, "_FEATURE_ID_0": fid});
        if let Some(n) = nrm {
            attributes["NORMAL"] = n.into();
        }
        meshes.push(json!({"primitives": [{
            "attributes": attributes, "indices": idx, "material": si, "mode": 4,
            "extensions": {"EXT_mesh_features": {"featureIds": [{"featureCount": 1, "attribute": 0, "propertyTable": 0}]}},
        }]}));
        let mut node = json!({"mesh": meshes.len() - 1, "name": e.global_id});
        if p.transform != IDENTITY {
            node["matrix"] = json!(p.transform);
        }
        nodes.push(node);
        drawn_elements[row as usize] = true;
        stats.placements += 1;
    }
    for (gi, (group, &(mesh, si))) in groups.iter().zip(&group_keys).enumerate() {
        let (pos, nrm, idx) = geometry_of(&mut layout, mesh);
        let n = group.instances.len();
        let mut attr = Map::new();
        for (component, (name, ty, width)) in [
            ("TRANSLATION", "VEC3", 12),
            ("ROTATION", "VEC4", 16),
            ("SCALE", "VEC3", 12),
            ("_FEATURE_ID_0", "SCALAR", 4),
        ]
        .into_iter()
        .enumerate()
        {
            let v = layout.view(
                Piece::Instances {
                    group: gi,
                    component: component as u8,
                },
                n * width,
                None,
                None,
            );
            let a = layout
                .accessor(json!({"bufferView": v, "componentType": FLOAT, "count": n, "type": ty}));
            attr.insert(name.into(), a.into());
        }
        let mut attributes = json!({"POSITION": pos});
        if let Some(nr) = nrm {
            attributes["NORMAL"] = nr.into();
        }
        meshes.push(json!({"primitives": [{"attributes": attributes, "indices": idx, "material": si, "mode": 4}]}));
        let mut features: Vec<u32> = group.instances.iter().map(|i| i.0).collect();
        features.sort_unstable();
        features.dedup();
        for &row in &features {
            drawn_elements[row as usize] = true;
        }
        nodes.push(json!({
            "mesh": meshes.len() - 1,
            "name": format!("mesh {mesh} × {n}"),
            "extensions": {
                "EXT_mesh_gpu_instancing": {"attributes": attr},
                "EXT_instance_features": {"featureIds": [{"featureCount": features.len(), "attribute": 0, "propertyTable": 0}]},
            },
        }));
        stats.instanced_nodes += 1;
        stats.instances += n;
        stats.placements += n;
    }
    stats.elements = drawn_elements.iter().filter(|d| **d).count();

    // The property table: one row per element of `rows`.
    let count = rows.len();
    let project_names = projects(scene, &rows);
    let of_rows = || rows.iter().map(|&ei| model.elements.at(ei));
    let columns: [(&str, Vec<String>); 5] = [
        (
            "global_id",
            of_rows().map(|e| e.global_id.to_owned()).collect(),
        ),
        ("ifc_class", of_rows().map(|e| e.class.to_owned()).collect()),
        (
            "name",
            of_rows()
                .map(|e| e.name.unwrap_or_default().to_owned())
                .collect(),
        ),
        (
            "storey",
            of_rows().map(|e| storey(model, e.container)).collect(),
        ),
        ("project", project_names),
    ];
    let mut table = Map::new();
    for (name, values) in columns {
        let (mut bytes, offsets) = strings(values.into_iter());
        if bytes.is_empty() {
            // Every value is empty, but a buffer view holds at least one byte (glTF 2.0,
            // bufferView.byteLength ≥ 1): one unused byte after the last offset.
            bytes.push(0);
        }
        let (bl, ol) = (bytes.len(), offsets.len());
        let values = layout.view(Piece::Bytes(bytes), bl, None, None);
        let offsets = layout.view(Piece::Bytes(offsets), ol, None, None);
        table.insert(
            name.into(),
            json!({"values": values, "stringOffsets": offsets, "stringOffsetType": "UINT32"}),
        );
    }
    let state_bytes: Vec<u8> = states
        .iter()
        .map(|s| LifecycleState::ALL.iter().position(|a| a == s).unwrap_or(0) as u8)
        .collect();
    let sv = layout.view(Piece::Bytes(state_bytes), count, None, None);
    table.insert("state".into(), json!({"values": sv}));

    let bin_len = layout.cursor.div_ceil(4) * 4;
    let materials: Vec<Value> = LifecycleState::ALL
        .iter()
        .map(|s| {
            let [r, g, b] = s.rgb();
            let planned = *s == LifecycleState::Planned;
            let mut m = json!({
                "name": s.key(),
                "pbrMetallicRoughness": {"baseColorFactor": [linear(r), linear(g), linear(b), if planned { 0.35 } else { 1.0 }], "metallicFactor": 0.0, "roughnessFactor": 0.9},
                "doubleSided": true,
            });
            if planned {
                m["alphaMode"] = "BLEND".into();
            }
            m
        })
        .collect();
    let children: Vec<usize> = (1..nodes.len()).collect();
    let half = std::f64::consts::FRAC_1_SQRT_2;
    nodes[0] =
        json!({"name": "scene frame (Z up) to glTF (Y up)", "rotation": [-half, 0.0, 0.0, half]});
    if !children.is_empty() {
        nodes[0]["children"] = json!(children);
    }
    let date = renewtwin_protocol::CivilDate::from_sim_day(
        scene.manifest.start,
        renewtwin_protocol::SimDay(day),
    );
    let mut used = vec!["EXT_mesh_features", "EXT_structural_metadata"];
    if !groups.is_empty() {
        used.extend(["EXT_mesh_gpu_instancing", "EXT_instance_features"]);
    }
    let enum_values: Vec<Value> = LifecycleState::ALL
        .iter()
        .enumerate()
        .map(|(i, s)| json!({"name": s.key(), "value": i, "description": s.label_en()}))
        .collect();
    let string = |d: &str| json!({"type": "STRING", "description": d});
    let mut doc = json!({
        "asset": {"version": "2.0", "generator": concat!("renewtwin ", env!("CARGO_PKG_VERSION")),
                  "extras": {"scene": scene.manifest.name, "day": day, "date": date.to_string(), "scenario": scene.plan.scenario,
                             "frame": "the scene's local frame in metres (Z up in the model, turned Y up by the root node)", "origin": model.origin}},
        "scene": 0,
        "scenes": [{"name": scene.manifest.name, "nodes": [0]}],
        "nodes": nodes,
        "materials": materials,
        "buffers": [{"byteLength": bin_len}],
        "bufferViews": layout.views,
        "accessors": layout.accessors,
        "extensionsUsed": used,
        "extensions": {"EXT_structural_metadata": {
            "schema": {"id": "renewtwin", "name": "renewtwin elements",
                "enums": {"lifecycle": {"valueType": "UINT8", "values": enum_values}},
                "classes": {"element": {"name": "Element", "properties": {
                    "global_id": string("IFC GlobalId"),
                    "ifc_class": string("IFC class, e.g. IfcWall"),
                    "name": string("element name (empty: none)"),
                    "storey": string("building storey (empty: none)"),
                    "state": {"type": "ENUM", "enumType": "lifecycle", "description": "lifecycle state on the exported day"},
                    "project": string("renewal projects whose tasks select the element, separated by '; ' (empty: none)"),
                }}}},
            "propertyTables": [{"name": "elements", "class": "element", "count": count, "properties": table}],
        }},
    });
    if !meshes.is_empty() {
        doc["meshes"] = Value::Array(meshes);
    }
    if !groups.is_empty() {
        doc["extensionsRequired"] = json!(["EXT_mesh_gpu_instancing"]);
    }
    let mut json_bytes = serde_json::to_vec(&doc).map_err(|e| GltfError::Write(e.into()))?;
    drop(doc);
    while json_bytes.len() % 4 != 0 {
        json_bytes.push(b' ');
    }
    let total = 12 + 8 + json_bytes.len() as u64 + 8 + bin_len as u64;
    if total > u64::from(u32::MAX) {
        return Err(GltfError::TooLarge { bytes: total });
    }
    stats.bytes = total;
    let lengths = layout
        .views
        .iter()
        .map(|v| v["byteLength"].as_u64().unwrap_or(0) as usize)
        .collect();
    Ok(Prepared {
        json: json_bytes,
        pieces: layout.pieces,
        lengths,
        groups,
        bin_len,
        stats,
    })
}

impl Prepared {
    /// Writes the GLB into `out` (the second pass of [`write_glb`]), reading each mesh's bytes
    /// from `geometry` (the source [`prepare`] was given), calling `progress` as the binary
    /// chunk is written.
    pub fn write(
        self,
        geometry: &mut dyn Geometry,
        out: impl Write,
        mut progress: impl FnMut(Progress),
    ) -> Result<Stats, GltfError> {
        let Prepared {
            json: json_bytes,
            pieces,
            lengths,
            groups,
            bin_len,
            stats,
        } = self;
        let total = stats.bytes;
        second_pass(
            geometry,
            out,
            &mut progress,
            (json_bytes, &pieces, &lengths, &groups, bin_len, total),
        )?;
        Ok(stats)
    }
}

/// The JSON, the pieces with their offsets, the views' lengths, the instance groups, the binary
/// chunk's length and the GLB's.
type Planned<'a> = (
    Vec<u8>,
    &'a [(Piece, usize)],
    &'a [usize],
    &'a [Group],
    usize,
    u64,
);

fn second_pass(
    geometry: &mut dyn Geometry,
    out: impl Write,
    progress: &mut dyn FnMut(Progress),
    (json_bytes, pieces, lengths, groups, bin_len, total): Planned<'_>,
) -> Result<(), GltfError> {
    let mut w = std::io::BufWriter::with_capacity(1 << 16, out);
    let io = GltfError::Write;
    w.write_all(b"glTF").map_err(io)?;
    w.write_all(&2u32.to_le_bytes()).map_err(io)?;
    w.write_all(&(total as u32).to_le_bytes()).map_err(io)?;
    w.write_all(&(json_bytes.len() as u32).to_le_bytes())
        .map_err(io)?;
    w.write_all(b"JSON").map_err(io)?;
    w.write_all(&json_bytes).map_err(io)?;
    drop(json_bytes);
    w.write_all(&(bin_len as u32).to_le_bytes()).map_err(io)?;
    w.write_all(b"BIN\0").map_err(io)?;
    let mut at = 0usize;
    let mut last_report = 0usize;
    let mut scratch: Vec<u8> = Vec::new();
    for (view_index, (piece, offset)) in pieces.iter().enumerate() {
        w.write_all(&vec![0u8; offset - at]).map_err(io)?;
        scratch.clear();
        match piece {
            Piece::Positions(m) | Piece::Normals(m) | Piece::Indices(m) => {
                let bad = |why: String| GltfError::Mesh {
                    mesh: *m,
                    global_id: String::new(),
                    why,
                };
                geometry
                    .with_mesh(*m, &mut |positions, normals, indices| {
                        match piece {
                            Piece::Positions(_) => positions
                                .iter()
                                .for_each(|v| scratch.extend_from_slice(&v.to_le_bytes())),
                            Piece::Normals(_) => {
                                for n in normals.chunks_exact(3) {
                                    let len = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt();
                                    let unit = if len > 1e-6 {
                                        [n[0] / len, n[1] / len, n[2] / len]
                                    } else {
                                        [0.0, 0.0, 1.0]
                                    };
                                    unit.iter()
                                        .for_each(|v| scratch.extend_from_slice(&v.to_le_bytes()));
                                }
                            }
                            _ => indices
                                .iter()
                                .for_each(|i| scratch.extend_from_slice(&i.to_le_bytes())),
                        }
                        Ok(())
                    })
                    .map_err(bad)?
                    .map_err(io)?;
            }
            Piece::Constant { value, count } => {
                for _ in 0..*count {
                    scratch.extend_from_slice(&value.to_le_bytes());
                }
            }
            Piece::Instances { group, component } => {
                for (ei, t, r, s) in &groups[*group].instances {
                    let values: &[f32] = match component {
                        0 => t,
                        1 => r,
                        2 => s,
                        _ => &[*ei as f32],
                    };
                    for v in values {
                        scratch.extend_from_slice(&v.to_le_bytes());
                    }
                }
            }
            Piece::Bytes(b) => scratch.extend_from_slice(b),
        }
        debug_assert_eq!(Some(&scratch.len()), lengths.get(view_index));
        w.write_all(&scratch).map_err(io)?;
        at = offset + scratch.len();
        if at - last_report >= 1 << 20 {
            last_report = at;
            progress(Progress {
                done: at as u64,
                total: bin_len as u64,
            });
        }
    }
    w.write_all(&vec![0u8; bin_len - at]).map_err(io)?;
    w.flush().map_err(io)?;
    progress(Progress {
        done: bin_len as u64,
        total: bin_len as u64,
    });
    Ok(())
}

const IDENTITY: [f64; 16] = [
    1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rotation_and_scale_decompose_and_a_shear_does_not() {
        // 90° about Z, scale 2, translation (1, 2, 3), column-major.
        let m = [
            0.0, 2.0, 0.0, 0.0, -2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0, 0.0, 1.0, 2.0, 3.0, 1.0,
        ];
        let (t, q, s) = decompose(&m).expect("decomposes");
        assert_eq!(t, [1.0, 2.0, 3.0]);
        assert_eq!(s, [2.0, 2.0, 2.0]);
        let h = std::f32::consts::FRAC_1_SQRT_2;
        // By hand: a rotation of θ = 90° about Z is (0, 0, sin 45°, cos 45°).
        for (got, want) in q.iter().zip([0.0, 0.0, h, h]) {
            assert!((got - want).abs() < 1e-6, "{q:?}");
        }
        let shear = [
            1.0, 0.0, 0.0, 0.0, 0.5, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0,
        ];
        assert!(decompose(&shear).is_none());
        // A mirror keeps its handedness in a negative scale.
        let mirror = [
            -1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0,
        ];
        let (_, _, s) = decompose(&mirror).expect("decomposes");
        assert_eq!(s, [-1.0, 1.0, 1.0]);
    }

    #[test]
    fn srgb_to_linear_at_known_points() {
        // IEC 61966-2-1: 0 → 0, 255 → 1, and 128/255 = 0.50196 → ((0.50196 + 0.055) / 1.055)^2.4 = 0.21586.
        assert_eq!(linear(0), 0.0);
        assert!((linear(255) - 1.0).abs() < 1e-12);
        assert!((linear(128) - 0.21586).abs() < 1e-4);
    }
}
