//! The messages of the `/ws` WebSocket and the JSON of `/api/scene`.
//!
//! Coordinates are metres in the scene's local frame: right-handed, Z up (as in IFC), origin at
//! the project origin. Transforms are column-major 4×4 matrices.

use serde::{Deserialize, Serialize};

use crate::{CivilDate, LifecycleState, PhaseKind, SimDay};

/// One element of the twin as the viewer and the API see it (no geometry).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ElementInfo {
    /// Dense index of the element in this scene; the id used in every later message.
    pub id: u32,
    /// The IFC GlobalId (22 characters), or a stable id for non-IFC sources.
    pub global_id: String,
    /// The IFC class, e.g. `IfcWall`.
    pub class: String,
    /// The element's name, if it has one.
    pub name: Option<String>,
    /// Name of the storey (or other spatial container) that holds it.
    pub storey: Option<String>,
    /// Lifecycle state on the current simulated day.
    pub state: LifecycleState,
}

/// A triangle mesh shared by every placement that uses it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeshData {
    /// Id of the mesh in this scene.
    pub id: u32,
    /// Vertex positions, `x, y, z` per vertex, metres in the mesh's own frame.
    pub positions: Vec<f32>,
    /// Unit vertex normals, `x, y, z` per vertex (same length as `positions`).
    pub normals: Vec<f32>,
    /// Triangle list, three vertex indices per triangle.
    pub indices: Vec<u32>,
}

/// One use of a mesh by an element: the mesh drawn with a transform.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlacedMesh {
    /// The element this placement belongs to ([`ElementInfo::id`]).
    pub element: u32,
    /// The mesh drawn ([`MeshData::id`]).
    pub mesh: u32,
    /// Mesh frame → scene frame, column-major.
    pub transform: [f32; 16],
}

/// Where a phase of a renewal project stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhaseStatus {
    /// Not started yet.
    Pending,
    /// Running on the current day.
    Active,
    /// Finished.
    Done,
    /// Held by a governance gate that does not hold (see [`PhaseInfo::note`]).
    Blocked,
}

/// One phase of one renewal project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseInfo {
    /// Project name, e.g. "Add lifts".
    pub project: String,
    /// Which phase.
    pub kind: PhaseKind,
    /// First simulated day of the phase; `None` while a gate keeps it from opening.
    pub start: Option<SimDay>,
    /// Day after the last day of the phase; `None` while a gate keeps it from closing.
    pub end: Option<SimDay>,
    /// Status on the current simulated day.
    pub status: PhaseStatus,
    /// Why the phase is blocked, or which gate it waited for.
    pub note: Option<String>,
}

/// The scene as a whole, sent once per connection before any mesh.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SceneHeader {
    /// Human-readable scene name.
    pub name: String,
    /// Bounding box of all geometry, metres: `[minx, miny, minz, maxx, maxy, maxz]`.
    pub bbox: [f64; 6],
    /// Calendar date of simulated day 0.
    pub plan_start: CivilDate,
    /// Current simulated day.
    pub day: SimDay,
    /// Calendar date of the current simulated day.
    pub date: CivilDate,
    /// Last day of the plan (the day after its last task ends).
    pub plan_end: SimDay,
    /// Every element, indexed by [`ElementInfo::id`].
    pub elements: Vec<ElementInfo>,
    /// Every phase of every project.
    pub phases: Vec<PhaseInfo>,
    /// How many meshes the scene batches will carry.
    pub mesh_count: u32,
    /// How many triangles all placements draw together.
    pub triangle_count: u64,
    /// Sequence number of the state this header reflects; deltas with `seq` at or below it are
    /// already included and must be skipped.
    pub seq: u64,
}

/// One element's new lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateChange {
    /// [`ElementInfo::id`].
    pub element: u32,
    /// Its state from now on.
    pub state: LifecycleState,
}

/// Live changes since the previous delta.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateDelta {
    /// Monotonic sequence number of this delta.
    pub seq: u64,
    /// Simulated day after the change.
    pub day: SimDay,
    /// Its calendar date.
    pub date: CivilDate,
    /// Elements whose state changed.
    pub changes: Vec<StateChange>,
    /// Phases whose status changed (empty when none did).
    pub phases: Vec<PhaseInfo>,
}

/// Server → browser.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ServerMsg {
    /// First message of every connection.
    Hello {
        /// [`crate::PROTOCOL_VERSION`] of the server.
        protocol_version: u32,
        /// Server software version.
        server: String,
    },
    /// The scene's elements, bounding box, plan and current state.
    Scene(SceneHeader),
    /// A batch of meshes and the placements that use them.
    Meshes {
        /// Meshes in this batch.
        meshes: Vec<MeshData>,
        /// Placements whose mesh is in this batch.
        placements: Vec<PlacedMesh>,
    },
    /// Every mesh has been sent.
    SceneComplete,
    /// Live state changes.
    State(StateDelta),
    /// Answer to [`ClientMsg::Ping`].
    Pong(u64),
    /// The server refuses something the client sent.
    Error {
        /// Stable machine-readable code, e.g. `bad_frame`.
        code: String,
        /// Human-readable explanation.
        message: String,
    },
}

/// A command to the shared simulation clock.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockCommand {
    /// Let simulated time run.
    Play,
    /// Stop simulated time.
    Pause,
    /// Simulated days per real second.
    Speed(f64),
    /// Jump to a simulated day (clamped to the plan).
    Seek(SimDay),
}

/// Browser → server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ClientMsg {
    /// Liveness check; answered with [`ServerMsg::Pong`].
    Ping(u64),
    /// Control the shared clock (refused unless the client may control it).
    Clock(ClockCommand),
}
