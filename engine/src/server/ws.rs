//! One WebSocket session: the scene, then live deltas; client frames are size-bounded and
//! answered. The session logic is generic over `Sink`/`Stream` so tests can drive it directly.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::response::Response;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use renewtwin_protocol::{ClientMsg, ClockCommand, PROTOCOL_VERSION, SceneHeader, ServerMsg, SimDay};
use tokio::sync::{broadcast, mpsc};

use super::AppState;

/// Largest frame a client may send; client messages are small control messages.
pub(crate) const MAX_CLIENT_FRAME: usize = 64 * 1024;

/// A send that makes no progress for this long drops the client.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

pub(super) async fn upgrade(
    ws: WebSocketUpgrade,
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Response {
    ws.max_message_size(MAX_CLIENT_FRAME).max_frame_size(MAX_CLIENT_FRAME).on_upgrade(move |socket: WebSocket| async move {
        let (sink, stream) = socket.split();
        tracing::info!(%peer, "viewer connected");
        let may_control = state.may_control(&peer);
        let reason = session(sink, stream, state, may_control).await;
        tracing::info!(%peer, reason, "viewer disconnected");
    })
}

/// Runs one session until either side ends it; returns why it ended.
pub(crate) async fn session<S, R, E>(mut sink: S, mut stream: R, state: AppState, may_control: bool) -> &'static str
where
    S: Sink<Message> + Unpin + Send,
    R: Stream<Item = Result<Message, E>> + Unpin + Send + 'static,
    E: std::fmt::Display + Send,
{
    // Subscribe before the snapshot so that no delta falls between them.
    let mut live_rx = state.live.subscribe();
    let snapshot = state.live.snapshot();
    let (reply_tx, mut reply_rx) = mpsc::channel::<ServerMsg>(16);
    let clock = may_control.then(|| state.clock.clone());
    let reader = tokio::spawn(async move { read_client(&mut stream, reply_tx, clock).await });

    let header = SceneHeader {
        name: state.scene.name.clone(),
        bbox: state.scene.bbox,
        plan_start: state.live.plan_start(),
        day: SimDay(snapshot.day),
        date: snapshot.date,
        plan_end: SimDay(state.scene.plan_end),
        elements: state
            .scene
            .elements
            .iter()
            .map(|e| {
                let mut e = e.clone();
                e.state = snapshot.states.get(e.id as usize).copied().unwrap_or(e.state);
                e
            })
            .collect(),
        phases: snapshot.phases.clone(),
        mesh_count: state.scene.mesh_count,
        triangle_count: state.scene.triangle_count,
        seq: snapshot.seq,
    };
    let hello = ServerMsg::Hello { protocol_version: PROTOCOL_VERSION, server: format!("renewtwin {}", env!("CARGO_PKG_VERSION")) };
    for msg in [hello, ServerMsg::Scene(header)] {
        if !send_msg(&mut sink, &msg).await {
            reader.abort();
            return "send failed";
        }
    }
    for frame in &state.scene.mesh_frames {
        if !send_bytes(&mut sink, frame.clone()).await {
            reader.abort();
            return "send failed";
        }
    }
    if !send_msg(&mut sink, &ServerMsg::SceneComplete).await {
        reader.abort();
        return "send failed";
    }

    let mut last_seq = snapshot.seq;
    let reason = loop {
        tokio::select! {
            frame = live_rx.recv() => match frame {
                Ok(frame) if frame.seq <= last_seq => {}
                Ok(frame) => {
                    last_seq = frame.seq;
                    if !send_bytes(&mut sink, frame.bytes.clone()).await { break "send failed" }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "slow viewer fell behind; resending the full state");
                    let snap = state.live.snapshot();
                    last_seq = snap.seq;
                    if !send_msg(&mut sink, &ServerMsg::State(snap.full_delta())).await { break "send failed" }
                }
                Err(broadcast::error::RecvError::Closed) => break "server shutting down",
            },
            reply = reply_rx.recv() => match reply {
                Some(msg) => if !send_msg(&mut sink, &msg).await { break "send failed" },
                None => break "client closed",
            },
        }
    };
    reader.abort();
    reason
}

async fn read_client<R, E>(stream: &mut R, replies: mpsc::Sender<ServerMsg>, clock: Option<std::sync::mpsc::Sender<ClockCommand>>)
where
    R: Stream<Item = Result<Message, E>> + Unpin,
    E: std::fmt::Display,
{
    while let Some(msg) = stream.next().await {
        let reply = match msg {
            Ok(Message::Binary(bytes)) => match renewtwin_protocol::decode::<ClientMsg>(&bytes) {
                Ok(ClientMsg::Ping(n)) => ServerMsg::Pong(n),
                Ok(ClientMsg::Clock(command)) => match &clock {
                    Some(tx) if tx.send(command).is_ok() => continue,
                    Some(_) => ServerMsg::Error { code: "simulation_stopped".into(), message: "the simulation is not running".into() },
                    None => ServerMsg::Error {
                        code: "forbidden".into(),
                        message: "only local clients may control the clock (see serve --open-controls)".into(),
                    },
                },
                Err(e) => ServerMsg::Error { code: "bad_frame".into(), message: e.to_string() },
            },
            Ok(Message::Text(_)) => ServerMsg::Error {
                code: "bad_frame".into(),
                message: "text frames are not part of the protocol; send binary postcard frames".into(),
            },
            Ok(Message::Close(_)) => return,
            Ok(Message::Ping(_) | Message::Pong(_)) => continue,
            Err(e) => {
                tracing::debug!(error = %e, "websocket read error");
                return;
            }
        };
        if replies.send(reply).await.is_err() {
            return;
        }
    }
}

async fn send_msg<S: Sink<Message> + Unpin>(sink: &mut S, msg: &ServerMsg) -> bool {
    match renewtwin_protocol::encode(msg) {
        Ok(bytes) => send_bytes(sink, bytes.into()).await,
        Err(e) => {
            tracing::error!(error = %e, "cannot encode a message");
            false
        }
    }
}

async fn send_bytes<S: Sink<Message> + Unpin>(sink: &mut S, bytes: Bytes) -> bool {
    matches!(tokio::time::timeout(SEND_TIMEOUT, sink.send(Message::Binary(bytes))).await, Ok(Ok(())))
}
