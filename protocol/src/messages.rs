//! The messages of the `/ws` WebSocket and the JSON of `/api/scene`.
//!
//! Coordinates are metres in the scene's local frame: right-handed, Z up (as in IFC), origin at
//! the project origin. Transforms are column-major 4×4 matrices.

use serde::{Deserialize, Serialize};

use crate::{CivilDate, LifecycleState, MeshData, PhaseKind, SceneHash, SimDay};

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
    /// Content hash of the static scene (elements and geometry); a client that cached the
    /// scene sends it back in [`Resume`] to skip reloading it.
    pub scene_hash: SceneHash,
    /// How many [`ServerMsg::Meshes`] batches follow (for a progress bar).
    pub batches: u32,
    /// Their total encoded size, bytes.
    pub scene_bytes: u64,
}

/// [`ServerMsg::Scene`] for encoding without copying the element list: `header`'s fields, with
/// `elements` in place of its own (which is not read), each element's state taken from
/// `states` (indexed by [`ElementInfo::id`]) where it has one. It encodes to the same bytes,
/// binary and JSON, as `ServerMsg::Scene` of the header with those elements: a server sends a
/// district's header of a hundred thousand elements to each client without a copy per client.
#[derive(Debug, Clone, Copy)]
pub struct SceneMsg<'a> {
    /// Every field but `elements`.
    pub header: &'a SceneHeader,
    /// The elements sent.
    pub elements: &'a [ElementInfo],
    /// Current states by element id (empty: the elements' own).
    pub states: &'a [LifecycleState],
}

/// Index of [`ServerMsg::Scene`] among the variants (serde's variant index, which postcard
/// writes); `scene_msg_encodes_as_the_owned_message` checks it.
const SCENE_VARIANT: u32 = 1;

impl Serialize for SceneMsg<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_newtype_variant("ServerMsg", SCENE_VARIANT, "Scene", &HeaderView(self))
    }
}

/// The header of a [`SceneMsg`], serialized as [`SceneHeader`].
struct HeaderView<'m, 'a>(&'m SceneMsg<'a>);

impl Serialize for HeaderView<'_, '_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let h = self.0.header;
        let mut st = serializer.serialize_struct("SceneHeader", 14)?;
        st.serialize_field("name", &h.name)?;
        st.serialize_field("bbox", &h.bbox)?;
        st.serialize_field("plan_start", &h.plan_start)?;
        st.serialize_field("day", &h.day)?;
        st.serialize_field("date", &h.date)?;
        st.serialize_field("plan_end", &h.plan_end)?;
        st.serialize_field("elements", &ElementsView(self.0))?;
        st.serialize_field("phases", &h.phases)?;
        st.serialize_field("mesh_count", &h.mesh_count)?;
        st.serialize_field("triangle_count", &h.triangle_count)?;
        st.serialize_field("seq", &h.seq)?;
        st.serialize_field("scene_hash", &h.scene_hash)?;
        st.serialize_field("batches", &h.batches)?;
        st.serialize_field("scene_bytes", &h.scene_bytes)?;
        st.end()
    }
}

/// The elements of a [`SceneMsg`] with their current states, serialized as `Vec<ElementInfo>`.
struct ElementsView<'m, 'a>(&'m SceneMsg<'a>);

impl Serialize for ElementsView<'_, '_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeSeq, SerializeStruct};
        /// One element, serialized as [`ElementInfo`] with `state` in place of its own.
        struct Element<'e> {
            e: &'e ElementInfo,
            state: LifecycleState,
        }
        impl Serialize for Element<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut st = serializer.serialize_struct("ElementInfo", 6)?;
                st.serialize_field("id", &self.e.id)?;
                st.serialize_field("global_id", &self.e.global_id)?;
                st.serialize_field("class", &self.e.class)?;
                st.serialize_field("name", &self.e.name)?;
                st.serialize_field("storey", &self.e.storey)?;
                st.serialize_field("state", &self.state)?;
                st.end()
            }
        }
        let SceneMsg { elements, states, .. } = *self.0;
        let mut seq = serializer.serialize_seq(Some(elements.len()))?;
        for e in elements {
            let state = states.get(e.id as usize).copied().unwrap_or(e.state);
            seq.serialize_element(&Element { e, state })?;
        }
        seq.end()
    }
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
    /// Server wall clock when the change was published, microseconds since the Unix epoch
    /// (for latency measurement; 0 when unknown).
    pub sent_at_us: u64,
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
    /// The shared clock: sent after the scene (or [`ServerMsg::Resumed`]) and whenever it is
    /// played, paused or its speed changes. Day changes alone travel in [`ServerMsg::State`].
    Clock(ClockState),
    /// Answer to a [`ClientHello`] with a current [`Resume::scene_hash`]: the client keeps its
    /// scene; the deltas it missed after [`Resume::seq`] follow (or a [`ServerMsg::Resync`]).
    Resumed {
        /// The client's last sequence number, as it sent it.
        seq: u64,
    },
    /// The next [`ServerMsg::State`] does not follow from the client's last one: it carries the
    /// latest state of every element that changed since then (or of every element when
    /// `full`), coalescing the deltas in between.
    Resync {
        /// Why the server skipped deltas.
        reason: ResyncReason,
        /// Whether the next delta sets every element and phase.
        full: bool,
    },
    /// The latest reading of each sensor that changed.
    SensorReadings(Vec<SensorReading>),
    /// A sensor reading broke a limit.
    Alert(AlertInfo),
    /// Answer to [`ClientMsg::SensorReadings`].
    SensorAck {
        /// Readings stored for the first time.
        accepted: u32,
        /// Readings already stored, left as they were.
        duplicates: u32,
        /// Readings refused (`POST /api/sensors/readings` gives the reasons).
        rejected: u32,
    },
    /// A public-consultation change on the `comments` layer.
    Consultation(ConsultationEvent),
}

/// A new or changed consultation record (a comment, a tally, a report's state, an
/// announcement, a consultation opened or closed), sent on the [`Layers::comments`] layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsultationEvent {
    /// `comment`, `consultation`, `report` or `announcement`; `lagged` when the connection
    /// fell behind and `id` events were skipped (reload them over HTTP).
    pub kind: String,
    /// The record's id (for `lagged`, how many events were skipped).
    pub id: i64,
    /// The record as JSON text, holding only the fields the connection's role may see: the
    /// same object the HTTP API returns to that role.
    pub record: String,
}

/// Why a client is resynchronised instead of getting every delta.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResyncReason {
    /// The client read too slowly; pending deltas were coalesced into the latest state.
    SlowClient,
    /// The client fell further behind than the server keeps deltas for.
    Lagged,
    /// A resuming client's last sequence number is older than the server's recent deltas.
    ResumeGap,
    /// The client changed its subscription.
    Subscription,
}

/// The shared simulation clock.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClockState {
    /// Current simulated day.
    pub day: SimDay,
    /// Its calendar date.
    pub date: CivilDate,
    /// Whether simulated time runs.
    pub playing: bool,
    /// Simulated days per real second.
    pub speed: f64,
}

/// The client's first message: the protocol versions it speaks, and what it already has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientHello {
    /// Oldest protocol version the client speaks.
    pub min_version: u32,
    /// Newest protocol version the client speaks.
    pub max_version: u32,
    /// The scene the client cached and its last applied delta, to resume without reloading.
    pub resume: Option<Resume>,
    /// Whether to send mesh batches (false for clients that only show state, e.g. dashboards).
    pub geometry: bool,
}

/// What a reconnecting client already has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resume {
    /// [`SceneHeader::scene_hash`] of its cached scene.
    pub scene_hash: SceneHash,
    /// `seq` of the last [`StateDelta`] it applied (or of the header).
    pub seq: u64,
}

/// Which layers of the twin a client receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layers {
    /// Building elements (everything that is not a pipe or a sensor).
    pub buildings: bool,
    /// Pipes, ducts, cables and their fittings.
    pub pipes: bool,
    /// Sensor elements and sensor messages.
    pub sensors: bool,
    /// Consultation messages (comments, tallies, reports).
    pub comments: bool,
}

impl Default for Layers {
    fn default() -> Self {
        Self { buildings: true, pipes: true, sensors: true, comments: true }
    }
}

/// What a client wants to receive from now on. The default receives everything.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Subscription {
    /// Layers to receive.
    pub layers: Layers,
    /// Only elements contained in the storey of this name.
    pub storey: Option<String>,
    /// Only the phases of the project of this name.
    pub project: Option<String>,
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
    /// The client's versions and cache; sent first, before anything else.
    Hello(ClientHello),
    /// Filter the live stream; the server answers with a [`ServerMsg::Resync`] and the
    /// filtered state.
    Subscribe(Subscription),
    /// Real sensor readings (refused unless the client may control the clock); answered with
    /// [`ServerMsg::SensorAck`].
    SensorReadings(Vec<SensorReading>),
}

/// One sensor reading.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SensorReading {
    /// Sensor id.
    pub sensor: String,
    /// Unix seconds (UTC).
    pub t: i64,
    /// The value (dB(A) for noise, µg/m³ for PM10).
    pub value: f64,
    /// Maximum in the interval, where known.
    pub max: Option<f64>,
}

/// An exceedance alert, summarised for viewers (`GET /api/alerts` carries the evidence).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertInfo {
    /// Stable id, `sensor:rule:date`.
    pub id: String,
    /// Sensor id.
    pub sensor: String,
    /// Rule key (`noise_day`, `noise_night`, `noise_night_max`, `pm10`, `limit`).
    pub rule: String,
    /// Local date.
    pub date: String,
    /// Unix seconds of the first exceeding reading.
    pub t: i64,
    /// Worst value.
    pub value: f64,
    /// The limit.
    pub limit: f64,
    /// Unit of both.
    pub unit: String,
    /// One line for people.
    pub message: String,
    /// Ids of the tasks at work.
    pub tasks: Vec<String>,
}

#[cfg(test)]
mod consultation_tests {
    use super::*;

    #[test]
    fn consultation_events_have_postcard_tag_13_and_round_trip() {
        let msg = ServerMsg::Consultation(ConsultationEvent { kind: "comment".into(), id: 12, record: r#"{"body":"<b>hi</b>"}"#.into() });
        let bytes = crate::encode(&msg).expect("encodes");
        assert_eq!(bytes[0], 13, "PROTOCOL.md lists Consultation as tag 13");
        assert_eq!(crate::decode::<ServerMsg>(&bytes).expect("decodes"), msg);
    }
}
