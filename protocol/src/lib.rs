//! Wire types shared by the engine (server) and the web viewer (browser).
//!
//! This crate knows nothing of ECS, wgpu or tokio. It defines what crosses the wire:
//! the WebSocket messages ([`ServerMsg`], [`ClientMsg`]), their binary framing
//! ([`encode`], [`decode`]), and the small vocabulary both sides must agree on:
//! lifecycle states and their display colours, renewal phases, simulated dates.
//!
//! Frames on `/ws` are binary WebSocket messages, each one [`postcard`]-encoded
//! [`ServerMsg`] or [`ClientMsg`] (`/ws?format=json` carries the non-geometry messages as
//! JSON text frames instead). The client sends [`ClientMsg::Hello`]; the server answers with
//! [`ServerMsg::Hello`], then the scene ([`ServerMsg::Scene`], then quantized
//! [`ServerMsg::Meshes`] batches, most important first, then [`ServerMsg::SceneComplete`]) or
//! [`ServerMsg::Resumed`] when the client's cached scene is current, then live
//! [`ServerMsg::State`] deltas. `PROTOCOL.md` at the repository root is the full description.

mod date;
mod lifecycle;
mod mesh;
mod messages;

pub use date::{CivilDate, SimDay};
pub use lifecycle::{LifecycleState, PhaseKind};
pub use mesh::{Blob, DecodedMesh, IndexBits, MeshError, PositionBits, SceneHash, oct_decode, oct_encode, MeshData};
pub use messages::{AlertInfo, ConsultationEvent, SensorReading};
pub use messages::{
    ClientHello, ClientMsg, ClockCommand, ClockState, ElementInfo, Layers, PhaseInfo, PhaseStatus, PlacedMesh, SceneHeader, SceneMsg, ServerMsg,
    StateChange, StateDelta, Resume, ResyncReason, Subscription,
};

/// Version of the wire protocol; bumped on any incompatible change to the messages.
pub const PROTOCOL_VERSION: u32 = 2;

/// Oldest protocol version this build still speaks (v1 sent `f32` meshes; it is not spoken).
pub const MIN_PROTOCOL_VERSION: u32 = 2;

/// Largest frame either side accepts, in bytes. Mesh batches are split far below it; the
/// largest frame is the scene header, which lists every element (about 82 bytes each: the
/// 382,518 elements of a generated 1,000-building district make a 31.5 MB header, over the
/// 16 MiB this was before). 64 MiB holds some 800,000 elements; a larger scene would need its
/// element list split over several frames.
pub const MAX_FRAME_BYTES: usize = 64 * 1024 * 1024;

/// A frame could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The frame is larger than [`MAX_FRAME_BYTES`].
    #[error("frame of {0} bytes exceeds the {MAX_FRAME_BYTES}-byte limit")]
    TooLarge(usize),
    /// The bytes are not a valid message of this protocol version.
    #[error("malformed frame: {0}")]
    Malformed(#[from] postcard::Error),
}

/// Encodes one message as a binary frame.
pub fn encode<T: serde::Serialize>(msg: &T) -> Result<Vec<u8>, WireError> {
    let bytes = postcard::to_allocvec(msg)?;
    if bytes.len() > MAX_FRAME_BYTES {
        return Err(WireError::TooLarge(bytes.len()));
    }
    Ok(bytes)
}

/// Decodes one binary frame, refusing frames over [`MAX_FRAME_BYTES`] before parsing.
pub fn decode<'a, T: serde::Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, WireError> {
    if bytes.len() > MAX_FRAME_BYTES {
        return Err(WireError::TooLarge(bytes.len()));
    }
    Ok(postcard::from_bytes(bytes)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scene_msg_encodes_as_the_owned_message() {
        let element = |id: u32, name: Option<&str>, state| ElementInfo {
            id,
            global_id: format!("0YvctVUKr0kugbFTf53O{id:02}"),
            class: "IfcWall".into(),
            name: name.map(Into::into),
            storey: id.is_multiple_of(2).then(|| "二层 Level 2".into()),
            state,
        };
        let elements = vec![
            element(0, Some("外墙 W-1"), LifecycleState::Existing),
            element(1, None, LifecycleState::Planned),
            element(2, Some("W-3"), LifecycleState::Existing),
        ];
        let header = SceneHeader {
            name: "光明里 Guangmingli".into(),
            bbox: [0.0, -1.5, 0.0, 10.0, 20.0, 3.0],
            plan_start: CivilDate::new(2026, 3, 1),
            day: SimDay(12),
            date: CivilDate::from_sim_day(CivilDate::new(2026, 3, 1), SimDay(12)),
            plan_end: SimDay(400),
            elements: Vec::new(),
            phases: vec![PhaseInfo {
                project: "Add lifts".into(),
                kind: PhaseKind::Construction,
                start: Some(SimDay(10)),
                end: None,
                status: PhaseStatus::Blocked,
                note: Some("permit".into()),
            }],
            mesh_count: 7,
            triangle_count: 12_345_678_901,
            seq: 99,
            scene_hash: SceneHash([7; 16]),
            batches: 3,
            scene_bytes: 1 << 20,
        };
        // States by id: element 1 is under construction now; element 2 has no entry.
        let states = [LifecycleState::Existing, LifecycleState::UnderConstruction];
        let borrowed = SceneMsg { header: &header, elements: &elements, states: &states };
        let mut owned = header.clone();
        owned.elements = elements.clone();
        owned.elements[1].state = LifecycleState::UnderConstruction;
        let owned = ServerMsg::Scene(owned);
        let frame = encode(&borrowed).unwrap_or_default();
        assert!(!frame.is_empty());
        assert_eq!(frame, encode(&owned).unwrap_or_default(), "binary");
        assert_eq!(decode::<ServerMsg>(&frame).ok(), Some(owned.clone()));
        assert_eq!(serde_json::to_string(&borrowed).ok(), serde_json::to_string(&owned).ok(), "JSON");
        // Without states, the elements' own.
        let plain = SceneMsg { header: &header, elements: &elements, states: &[] };
        let mut own = header.clone();
        own.elements = elements.clone();
        assert_eq!(encode(&plain).unwrap_or_default(), encode(&ServerMsg::Scene(own)).unwrap_or_default());
    }

    #[test]
    fn a_state_delta_round_trips_through_the_binary_frame() {
        let msg = ServerMsg::State(StateDelta {
            seq: 7,
            day: SimDay(42),
            date: CivilDate::from_sim_day(CivilDate::new(2026, 3, 1), SimDay(42)),
            changes: vec![StateChange { element: 3, state: LifecycleState::UnderConstruction }],
            phases: vec![],
            sent_at_us: 1,
        });
        let bytes = encode(&msg).expect("encode");
        let back: ServerMsg = decode(&bytes).expect("decode");
        assert_eq!(back, msg);
    }

    #[test]
    fn non_geometry_messages_round_trip_through_json() {
        let msgs = [
            ServerMsg::Resync { reason: ResyncReason::SlowClient, full: false },
            ServerMsg::Clock(ClockState { day: SimDay(3), date: CivilDate::new(2026, 3, 4), playing: true, speed: 10.0 }),
            ServerMsg::Resumed { seq: 9 },
        ];
        for msg in msgs {
            let json = serde_json::to_string(&msg).expect("json");
            assert_eq!(serde_json::from_str::<ServerMsg>(&json).expect("parse"), msg, "{json}");
        }
        let hello: ClientMsg = serde_json::from_str(
            r#"{"Hello":{"min_version":2,"max_version":2,"resume":{"scene_hash":"000102030405060708090a0b0c0d0e0f","seq":5},"geometry":false}}"#,
        )
        .expect("a JSON client hello");
        let ClientMsg::Hello(h) = hello else { panic!("hello") };
        assert_eq!(h.resume.map(|r| r.seq), Some(5));
        let sub: ClientMsg = serde_json::from_str(
            r#"{"Subscribe":{"layers":{"buildings":false,"pipes":true,"sensors":false,"comments":false},"storey":null,"project":"Add lifts"}}"#,
        )
        .expect("a JSON subscription");
        assert!(matches!(sub, ClientMsg::Subscribe(Subscription { layers: Layers { pipes: true, buildings: false, .. }, .. })));
    }

    #[test]
    fn garbage_bytes_are_a_decode_error_not_a_panic() {
        let result = decode::<ServerMsg>(&[0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2]);
        assert!(matches!(result, Err(WireError::Malformed(_))), "{result:?}");
    }

    #[test]
    fn oversized_frames_are_refused_before_parsing() {
        let big = vec![0u8; MAX_FRAME_BYTES + 1];
        assert!(matches!(decode::<ServerMsg>(&big), Err(WireError::TooLarge(_))));
    }
}
