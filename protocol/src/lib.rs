//! Wire types shared by the engine (server) and the web viewer (browser).
//!
//! This crate knows nothing of ECS, wgpu or tokio. It defines what crosses the wire:
//! the WebSocket messages ([`ServerMsg`], [`ClientMsg`]), their binary framing
//! ([`encode`], [`decode`]), and the small vocabulary both sides must agree on:
//! lifecycle states and their display colours, renewal phases, simulated dates.
//!
//! Frames on `/ws` are binary WebSocket messages, each one [`postcard`]-encoded
//! [`ServerMsg`] or [`ClientMsg`]. A connection starts with [`ServerMsg::Hello`], then the
//! scene ([`ServerMsg::Scene`], then [`ServerMsg::Meshes`] batches, then
//! [`ServerMsg::SceneComplete`]), then live [`ServerMsg::State`] deltas.

mod date;
mod lifecycle;
mod messages;

pub use date::{CivilDate, SimDay};
pub use lifecycle::{LifecycleState, PhaseKind};
pub use messages::{
    ClientMsg, ClockCommand, ElementInfo, MeshData, PhaseInfo, PhaseStatus, PlacedMesh, SceneHeader, ServerMsg,
    StateChange, StateDelta,
};

/// Version of the wire protocol; bumped on any incompatible change to the messages.
pub const PROTOCOL_VERSION: u32 = 1;

/// Largest frame either side accepts, in bytes. Mesh batches are split to stay below it.
pub const MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;

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
    fn a_state_delta_round_trips_through_the_binary_frame() {
        let msg = ServerMsg::State(StateDelta {
            seq: 7,
            day: SimDay(42),
            date: CivilDate::from_sim_day(CivilDate::new(2026, 3, 1), SimDay(42)),
            changes: vec![StateChange { element: 3, state: LifecycleState::UnderConstruction }],
            phases: vec![],
        });
        let bytes = encode(&msg).expect("encode");
        let back: ServerMsg = decode(&bytes).expect("decode");
        assert_eq!(back, msg);
    }

    #[test]
    fn garbage_bytes_are_a_decode_error_not_a_panic() {
        let err = decode::<ServerMsg>(&[0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2]).unwrap_err();
        assert!(matches!(err, WireError::Malformed(_)));
    }

    #[test]
    fn oversized_frames_are_refused_before_parsing() {
        let big = vec![0u8; MAX_FRAME_BYTES + 1];
        assert!(matches!(decode::<ServerMsg>(&big), Err(WireError::TooLarge(_))));
    }
}
