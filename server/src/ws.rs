//! One WebSocket session: hello and version negotiation, the scene (or a resume), then live
//! deltas filtered by the client's subscription, sensor messages and consultation events (the
//! `comments` layer, in the form the connection's role may see: `/ws?token=…` signs it in;
//! `/ws?only=comments` skips the scene and the twin for panels that want only those events).
//! The session logic is generic over `Sink`/`Stream` so tests can drive it directly.
//!
//! Fan-out stays cheap: deltas are encoded once by the publisher and forwarded as shared bytes
//! to every unfiltered binary session; only filtered or JSON sessions re-encode.
//!
//! Backpressure: a session reads the shared broadcast only as fast as its socket takes frames.
//! When more than [`COALESCE_AFTER`] deltas are pending for it (or it lagged off the
//! broadcast), it skips them, sends [`ServerMsg::Resync`] saying why, and one coalesced delta
//! with the latest state of what changed. So a slow client costs the server one bounded
//! socket buffer, never a growing queue.
//!
//! Hostile clients: frames over [`MAX_CLIENT_FRAME`] end the connection (axum refuses them);
//! each bad frame is answered with an error and [`MAX_BAD_FRAMES`] of them end the session;
//! client messages are rate-limited by a token bucket, and a client that keeps flooding past
//! [`MAX_DROPPED`] dropped messages is disconnected.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{ConnectInfo, Query, State};
use axum::response::{IntoResponse as _, Response};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use renewtwin_protocol::{
    ClientHello, ClientMsg, ClockCommand, MIN_PROTOCOL_VERSION, PROTOCOL_VERSION, ResyncReason, SceneHeader, SceneMsg, ServerMsg, SimDay,
    StateDelta, Subscription,
};
use tokio::sync::{broadcast, mpsc};

use super::AppState;
use crate::loading::{Loading, Step};
use renewtwin_civic::Audience;
use renewtwin_civic::live::Listener;
use renewtwin_twin::live::LiveFrame;

/// Largest frame a client may send; client messages are small control messages.
pub(crate) const MAX_CLIENT_FRAME: usize = 64 * 1024;

/// A send that makes no progress for this long drops the client.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the server waits for [`ClientMsg::Hello`] before sending the whole scene anyway.
const HELLO_WAIT: Duration = Duration::from_secs(2);

/// Pending deltas past which a session coalesces instead of sending each one.
pub(crate) const COALESCE_AFTER: usize = 8;

/// Bad frames (undecodable, wrong kind) after which the session ends.
pub(crate) const MAX_BAD_FRAMES: u32 = 8;

/// Client messages allowed in a burst, and refilled per second.
pub(crate) const RATE_BURST: f64 = 40.0;
/// See [`RATE_BURST`].
pub(crate) const RATE_PER_SECOND: f64 = 20.0;

/// Messages dropped by the rate limit after which the session ends.
pub(crate) const MAX_DROPPED: u32 = 200;

/// Client messages queued between the reader and the session.
const CLIENT_QUEUE: usize = 16;

/// How the server writes non-geometry messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Format {
    /// postcard binary frames (the default).
    #[default]
    Binary,
    /// JSON text frames; mesh batches stay binary.
    Json,
}

/// Query parameters of `/ws`.
#[derive(Debug, Default, serde::Deserialize)]
pub(super) struct WsQuery {
    /// `json` for JSON text frames.
    #[serde(default)]
    format: Option<String>,
    /// A consultation session token: consultation events then come in the form the account
    /// may see (browsers cannot set headers on a WebSocket). Invalid tokens are refused.
    #[serde(default)]
    token: Option<String>,
    /// `comments`: consultation events only, no scene and no twin (a page's consultation panel
    /// beside a viewer that already has the scene).
    #[serde(default)]
    only: Option<String>,
}

/// The socket limits of every `/ws` connection: a client frame is at most
/// [`MAX_CLIENT_FRAME`]; small buffers, so an idle viewer costs a few KiB, not the 128 KiB
/// defaults (the write buffer is only the threshold of a write, not memory set aside).
fn limited(ws: WebSocketUpgrade) -> WebSocketUpgrade {
    ws.max_message_size(MAX_CLIENT_FRAME)
        .max_frame_size(MAX_CLIENT_FRAME)
        .read_buffer_size(4 * 1024)
        // Frames fed without a flush (a batch of consultation events) gather up to this much
        // before a write; every other message is sent, so flushed, at once.
        .write_buffer_size(16 * 1024)
}

pub(super) async fn upgrade(
    ws: WebSocketUpgrade,
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(query): Query<WsQuery>,
    headers: axum::http::HeaderMap,
) -> Response {
    let format = if query.format.as_deref() == Some("json") { Format::Json } else { Format::Binary };
    let events_only = match query.only.as_deref() {
        None => false,
        Some("comments") => true,
        Some(other) => {
            let message = format!("`only` is `comments` (consultation events only), not {other:?}");
            let body = axum::Json(serde_json::json!({"error": "invalid_request", "message": message}));
            return (axum::http::StatusCode::BAD_REQUEST, body).into_response();
        }
    };
    let (audience, rights) = match credentials(&state, &peer, query.token, &headers).await {
        Ok(c) => c,
        Err(e) => return crate::civic::ApiError::from(e).into_response(),
    };
    // Subscribed before the upgrade, so no event published after it is missed.
    let consultation = Some(state.civic.feed.listen(audience));
    limited(ws)
        .on_upgrade(move |socket: WebSocket| async move {
            let (sink, stream) = socket.split();
            tracing::debug!(%peer, "viewer connected");
            let reason = session(sink, stream, state, SessionOptions { rights, format, consultation, events_only }).await;
            tracing::debug!(%peer, reason = reason.as_str(), "viewer disconnected");
        })
}

/// The credential of a `/ws` request: `Authorization: Bearer` (non-browser clients) or
/// `?token=` (browsers cannot set headers on a WebSocket). The operator's and the sensor
/// gateways' tokens grant their controls; an account's session token picks its audience, and
/// a government account controls the clock, as over HTTP (`POST /api/clock`,
/// `POST /api/sensors/readings`).
async fn credentials(
    state: &AppState,
    peer: &SocketAddr,
    token: Option<String>,
    headers: &axum::http::HeaderMap,
) -> Result<(Audience, Rights), renewtwin_civic::ConsultationError> {
    let bearer = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_owned());
    let local = state.may_control(peer);
    Ok(match bearer.or(token) {
        Some(token) if state.is_operator_token(&token) => (Audience::Public, Rights { clock: true, readings: true }),
        Some(token) if state.is_sensor_token(&token) => (Audience::Public, Rights { clock: false, readings: true }),
        Some(token) => {
            let account = renewtwin_civic::auth::resolve(&state.store, token).await?;
            let government = account.role == renewtwin_civic::Role::Government;
            // An account speaks for itself: its role decides, wherever it connects from.
            (Audience::Account { id: account.id, staff: account.role.is_staff() }, Rights { clock: government, readings: false })
        }
        None => (Audience::Public, Rights { clock: local, readings: local }),
    })
}

/// `/ws` while the scene loads (see [`crate::loading`]): a provisional scene of what is made
/// so far, then, once loaded, the session of [`upgrade`] (its credential checked then). An
/// events-only connection waits for the load.
pub(super) async fn upgrade_while_loading(
    ws: WebSocketUpgrade,
    loading: std::sync::Arc<Loading>,
    peer: SocketAddr,
    query: WsQuery,
    headers: axum::http::HeaderMap,
) -> Response {
    if query.only.is_some() {
        return match loading.wait_ready().await {
            Ok(state) => upgrade(ws, State(state), ConnectInfo(peer), Query(query), headers).await,
            Err(why) => loading_failed(&why),
        };
    }
    let format = if query.format.as_deref() == Some("json") { Format::Json } else { Format::Binary };
    limited(ws)
        .on_upgrade(move |socket: WebSocket| async move {
            let (sink, stream) = socket.split();
            tracing::debug!(%peer, "viewer connected while the scene loads");
            let reason = session_while_loading(sink, stream, loading, peer, query.token, format, headers).await;
            tracing::debug!(%peer, reason = reason.as_str(), "viewer disconnected");
        })
}

/// The answer to a request that waited for a load that failed.
pub(super) fn loading_failed(why: &str) -> Response {
    let body = axum::Json(serde_json::json!({"error": "scene_not_loaded", "message": format!("the scene could not be loaded: {why}")}));
    (axum::http::StatusCode::SERVICE_UNAVAILABLE, body).into_response()
}

/// A session that starts while the scene loads: hellos, the provisional scene as it is made,
/// then (once loaded) the credential, the final scene and the live session.
pub(crate) async fn session_while_loading<S, R, E>(
    sink: S,
    stream: R,
    loading: std::sync::Arc<Loading>,
    peer: SocketAddr,
    token: Option<String>,
    format: Format,
    headers: axum::http::HeaderMap,
) -> End
where
    S: Sink<Message> + Unpin + Send,
    R: Stream<Item = Result<Message, E>> + Unpin + Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    let (client_tx, mut client_rx) = mpsc::channel::<FromClient>(CLIENT_QUEUE);
    let reader = tokio::spawn(read_client(stream, client_tx));
    let mut out = Out { sink, format };
    let reason = async {
        let (hello, early) = match greet(&mut out, &mut client_rx).await {
            Ok(greeted) => greeted,
            Err(end) => return end,
        };
        if hello.geometry
            && hello.resume.is_none()
            && let Err(end) = provisional_scene(&mut out, &loading).await
        {
            return end;
        }
        let state = match loading.wait_ready().await {
            Ok(state) => state,
            Err(why) => {
                out.msg(&ServerMsg::Error { code: "scene_not_loaded".into(), message: format!("the scene could not be loaded: {why}") }).await;
                return End::ServerShuttingDown;
            }
        };
        let (audience, rights) = match credentials(&state, &peer, token, &headers).await {
            Ok(c) => c,
            Err(e) => {
                out.msg(&ServerMsg::Error { code: "unauthorized".into(), message: e.to_string() }).await;
                return End::ClientClosed;
            }
        };
        let session = Session {
            clock: rights.clock.then(|| state.clock.clone()),
            readings: rights.readings,
            consultation: Some(state.civic.feed.listen(audience)),
            hello,
            early,
        };
        run_greeted(&mut out, &mut client_rx, &state, session).await
    }
    .await;
    finish(&mut out, reader, reason).await
}

/// Sends the scene as it is made until it is loaded (see [`Loading::next_step`]); `Err` when
/// the session ends here.
async fn provisional_scene<S: Sink<Message> + Unpin>(out: &mut Out<S>, loading: &Loading) -> Result<(), End> {
    let mut changed = loading.subscribe();
    let (mut sent, mut header_sent) = (0usize, false);
    loop {
        match loading.next_step(sent, header_sent) {
            Step::Ready => return Ok(()),
            Step::Failed(why) => {
                out.msg(&ServerMsg::Error { code: "scene_not_loaded".into(), message: format!("the scene could not be loaded: {why}") }).await;
                return Err(End::ServerShuttingDown);
            }
            Step::Send { header, frames } => {
                if let Some((header, elements)) = header {
                    if !out.msg(&SceneMsg { header: &header, elements: &elements, states: &[] }).await {
                        return Err(End::SendFailed);
                    }
                    header_sent = true;
                }
                for frame in frames {
                    if !out.raw(Message::Binary(frame)).await {
                        return Err(End::SendFailed);
                    }
                    sent += 1;
                }
            }
            Step::Wait => {
                if changed.changed().await.is_err() {
                    return Err(End::ServerShuttingDown);
                }
            }
        }
    }
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// A frame could not be sent (the client went away or the socket failed).
    SendFailed,
    /// The client closed the connection.
    ClientClosed,
    /// The client's `Hello` asked for protocol versions this server does not speak.
    UnsupportedVersion,
    /// The server is shutting down.
    ServerShuttingDown,
    /// The client sent more frames than the per-session rate allows.
    Flooding,
    /// The client sent too many frames that do not decode.
    TooManyBadFrames,
    /// The session's reader stopped (the session itself ended first).
    SessionEnded,
    /// A frame could not be read (oversized or broken).
    ReadError,
}

impl End {
    /// The reason in words, as logged and as a close frame's reason.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            End::SendFailed => "send failed",
            End::ClientClosed => "client closed",
            End::UnsupportedVersion => "unsupported version",
            End::ServerShuttingDown => "server shutting down",
            End::Flooding => "flooding",
            End::TooManyBadFrames => "too many bad frames",
            End::SessionEnded => "session ended",
            End::ReadError => "read error (oversized or broken frame)",
        }
    }
}

/// Per-connection settings.
#[derive(Debug, Default)]
pub(crate) struct SessionOptions {
    /// What the client may control.
    pub rights: Rights,
    /// Output format.
    pub format: Format,
    /// Consultation events for this connection's audience (the `comments` layer).
    pub consultation: Option<Listener>,
    /// Only consultation events: no scene, deltas, clock or sensor messages.
    pub events_only: bool,
}

/// The controls a connection may use, from its credential (see `upgrade`): clock commands
/// (the operator or a government account, as `POST /api/clock`) and sensor readings (the
/// operator or a sensor gateway, as `POST /api/sensors/readings`). Without a credential, only
/// the server's own machine, or any client under `--open-controls`, is the operator.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rights {
    pub clock: bool,
    pub readings: bool,
}

/// What the reader hands the session.
#[derive(Debug)]
enum FromClient {
    /// A well-formed message that passed the rate limit.
    Msg(ClientMsg),
    /// A reply the reader decided on (errors about bad frames, rate limiting).
    Reply(ServerMsg),
}

/// The writing half of a session with its format.
struct Out<S> {
    sink: S,
    format: Format,
}

impl<S: Sink<Message> + Unpin> Out<S> {
    async fn msg<M: serde::Serialize>(&mut self, msg: &M) -> bool {
        match self.frame(msg) {
            Some(frame) => self.raw(frame).await,
            None => false,
        }
    }

    /// `msg` as a frame of this session's format; `None` (logged) when it cannot be encoded.
    fn frame<M: serde::Serialize>(&self, msg: &M) -> Option<Message> {
        match self.format {
            Format::Binary => renewtwin_protocol::encode(msg)
                .map(|bytes| Message::Binary(bytes.into()))
                .map_err(|e| tracing::error!(error = %e, "cannot encode a message"))
                .ok(),
            Format::Json => serde_json::to_string(msg)
                .map(|text| Message::Text(text.into()))
                .map_err(|e| tracing::error!(error = %e, "cannot encode a message as JSON"))
                .ok(),
        }
    }

    async fn raw(&mut self, msg: Message) -> bool {
        matches!(tokio::time::timeout(SEND_TIMEOUT, self.sink.send(msg)).await, Ok(Ok(())))
    }

    /// A consultation event and the rest of its batch (see [`renewtwin_civic::live`]): every
    /// frame written, then one flush. In binary, each frame is encoded once for every connection
    /// of its form.
    async fn consultation(&mut self, first: renewtwin_civic::live::Next, listener: &mut Option<Listener>) -> bool {
        let mut next = Some(first);
        let written = tokio::time::timeout(SEND_TIMEOUT, async {
            while let Some(event) = next {
                let frame = match (self.format, &event) {
                    (Format::Binary, renewtwin_civic::live::Next::Event(event, form)) => event
                        .frame(*form)
                        .map(Message::Binary)
                        .map_err(|e| tracing::error!(error = %e, "cannot encode a consultation event"))
                        .ok(),
                    _ => self.frame(&event.message()),
                };
                let Some(frame) = frame else { return false };
                if self.sink.feed(frame).await.is_err() {
                    return false;
                }
                next = listener.as_mut().and_then(Listener::ready);
            }
            self.sink.flush().await.is_ok()
        })
        .await;
        matches!(written, Ok(true))
    }

    /// A delta as the subscription sees it: the shared bytes when nothing is filtered.
    async fn delta(&mut self, frame: &LiveFrame, filter: &Filter<'_>) -> bool {
        if self.format == Format::Binary && filter.is_everything() {
            return self.raw(Message::Binary(frame.bytes.clone())).await;
        }
        self.msg(&ServerMsg::State(filter.apply(frame.delta.clone()))).await
    }
}

/// A subscription resolved against the scene.
struct Filter<'a> {
    subscription: Subscription,
    state: &'a AppState,
}

impl Filter<'_> {
    fn is_everything(&self) -> bool {
        self.subscription == Subscription::default()
    }

    fn apply(&self, mut delta: StateDelta) -> StateDelta {
        if self.is_everything() {
            return delta;
        }
        delta.changes.retain(|c| self.state.scene.admits(c.element, &self.subscription));
        if let Some(project) = &self.subscription.project {
            delta.phases.retain(|p| &p.project == project);
        }
        delta
    }
}

/// Runs one session until either side ends it; returns why it ended.
pub(crate) async fn session<S, R, E>(sink: S, stream: R, state: AppState, options: SessionOptions) -> End
where
    S: Sink<Message> + Unpin + Send,
    R: Stream<Item = Result<Message, E>> + Unpin + Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    let (client_tx, mut client_rx) = mpsc::channel::<FromClient>(CLIENT_QUEUE);
    let reader = tokio::spawn(read_client(stream, client_tx));
    let mut out = Out { sink, format: options.format };
    let clock = options.rights.clock.then(|| state.clock.clone());
    let readings = options.rights.readings;
    let reason = if options.events_only {
        events_only(&mut out, &mut client_rx, options.consultation).await
    } else {
        run(&mut out, &mut client_rx, &state, clock, readings, options.consultation).await
    };
    finish(&mut out, reader, reason).await
}

/// Ends a session that ended for `reason`: the reader's last word (why it ended the session)
/// wins over "client closed", and a flooding or garbling client gets a clean close.
async fn finish<S: Sink<Message> + Unpin>(out: &mut Out<S>, mut reader: tokio::task::JoinHandle<End>, reason: End) -> End {
    let reason = if reason == End::ClientClosed {
        match tokio::time::timeout(Duration::from_millis(100), &mut reader).await {
            Ok(Ok(why)) => why,
            _ => reason,
        }
    } else {
        reason
    };
    reader.abort();
    if matches!(reason, End::Flooding | End::TooManyBadFrames) {
        // A clean close, so the client reads the errors before the connection goes.
        let frame = CloseFrame { code: close_code::POLICY, reason: reason.as_str().into() };
        let _closed = out.raw(Message::Close(Some(frame))).await;
    }
    reason
}

async fn run<S: Sink<Message> + Unpin>(
    out: &mut Out<S>,
    client_rx: &mut mpsc::Receiver<FromClient>,
    state: &AppState,
    clock: Option<std::sync::mpsc::Sender<ClockCommand>>,
    readings: bool,
    consultation: Option<Listener>,
) -> End {
    match greet(out, client_rx).await {
        Ok((hello, early)) => run_greeted(out, client_rx, state, Session { clock, readings, consultation, hello, early }).await,
        Err(end) => end,
    }
}

/// Sends the server's hello and waits briefly for the client's (anything else it sends first
/// is handed back, to be handled afterwards); refuses a client that speaks no version of ours.
async fn greet<S: Sink<Message> + Unpin>(
    out: &mut Out<S>,
    client_rx: &mut mpsc::Receiver<FromClient>,
) -> Result<(ClientHello, Option<FromClient>), End> {
    let hello = ServerMsg::Hello { protocol_version: PROTOCOL_VERSION, server: format!("renewtwin {}", env!("CARGO_PKG_VERSION")) };
    if !out.msg(&hello).await {
        return Err(End::SendFailed);
    }
    let mut early = None;
    let client_hello = match tokio::time::timeout(HELLO_WAIT, client_rx.recv()).await {
        Ok(Some(FromClient::Msg(ClientMsg::Hello(h)))) => Some(h),
        Ok(Some(other)) => {
            early = Some(other);
            None
        }
        Ok(None) => return Err(End::ClientClosed),
        Err(_) => None,
    };
    let hello = client_hello.unwrap_or(ClientHello { min_version: PROTOCOL_VERSION, max_version: PROTOCOL_VERSION, resume: None, geometry: true });
    if hello.min_version > PROTOCOL_VERSION || hello.max_version < MIN_PROTOCOL_VERSION {
        let message = format!(
            "this server speaks protocol {MIN_PROTOCOL_VERSION}..={PROTOCOL_VERSION}, the client {}..={}",
            hello.min_version, hello.max_version
        );
        out.msg(&ServerMsg::Error { code: "unsupported_version".into(), message }).await;
        return Err(End::UnsupportedVersion);
    }
    Ok((hello, early))
}

/// A greeted session's rights, feeds and hello.
struct Session {
    clock: Option<std::sync::mpsc::Sender<ClockCommand>>,
    readings: bool,
    consultation: Option<Listener>,
    hello: ClientHello,
    early: Option<FromClient>,
}

/// The session after the hellos: the scene (or a resume), then live deltas until it ends.
async fn run_greeted<S: Sink<Message> + Unpin>(
    out: &mut Out<S>,
    client_rx: &mut mpsc::Receiver<FromClient>,
    state: &AppState,
    session: Session,
) -> End {
    let Session { clock, readings, mut consultation, hello, early } = session;
    // Subscribe before the snapshot so that no delta falls between them.
    let mut live_rx = state.live.subscribe();
    let mut sensor_rx = state.analytics.sensors.subscribe();
    let mut play_rx = state.live.watch_play();
    play_rx.mark_unchanged();
    let mut filter = Filter { subscription: Subscription::default(), state };
    let resume = hello.resume.filter(|r| r.scene_hash == state.scene.scene_hash);
    let mut last_seq = match resume {
        Some(r) => {
            if !out.msg(&ServerMsg::Resumed { seq: r.seq }).await {
                return End::SendFailed;
            }
            match state.live.frames_since(r.seq) {
                Some(frames) => {
                    let mut last = r.seq;
                    for frame in frames {
                        if !out.delta(&frame, &filter).await {
                            return End::SendFailed;
                        }
                        last = frame.seq;
                    }
                    last
                }
                None => match resync(out, state, &filter, r.seq, ResyncReason::ResumeGap).await {
                    Some(seq) => seq,
                    None => return End::SendFailed,
                },
            }
        }
        None => match send_scene(out, state, hello.geometry).await {
            Some(seq) => seq,
            None => return End::SendFailed,
        },
    };
    if !out.msg(&ServerMsg::Clock(state.live.clock_state())).await {
        return End::SendFailed;
    }
    if let Some(first) = early
        && !handle_client(out, first, &mut filter, &clock, readings, &mut last_seq).await
    {
        return End::SendFailed;
    }

    loop {
        tokio::select! {
            frame = live_rx.recv() => match frame {
                Ok(frame) if frame.seq <= last_seq => {}
                Ok(frame) if live_rx.len() >= COALESCE_AFTER => {
                    // The client reads slower than deltas come: skip to the latest state.
                    while live_rx.try_recv().is_ok() {}
                    tracing::debug!(from = last_seq, to = frame.seq, "slow viewer: coalescing");
                    match resync(out, state, &filter, last_seq, ResyncReason::SlowClient).await {
                        Some(seq) => last_seq = seq,
                        None => break End::SendFailed,
                    }
                }
                Ok(frame) => {
                    last_seq = frame.seq;
                    if !out.delta(&frame, &filter).await { break End::SendFailed }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::debug!(missed, "viewer lagged off the broadcast; coalescing");
                    match resync(out, state, &filter, last_seq, ResyncReason::Lagged).await {
                        Some(seq) => last_seq = seq,
                        None => break End::SendFailed,
                    }
                }
                Err(broadcast::error::RecvError::Closed) => break End::ServerShuttingDown,
            },
            sensor = sensor_rx.recv() => match sensor {
                Ok(msg) if filter.subscription.layers.sensors => if !out.msg(&msg).await { break End::SendFailed },
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => break End::ServerShuttingDown,
            },
            event = next_consultation(&mut consultation) => {
                if filter.subscription.layers.comments {
                    if !out.consultation(event, &mut consultation).await { break End::SendFailed }
                } else if let Some(listener) = consultation.as_mut() {
                    while listener.ready().is_some() {}
                }
            }
            changed = play_rx.changed() => {
                if changed.is_err() { break End::ServerShuttingDown }
                if !out.msg(&ServerMsg::Clock(state.live.clock_state())).await { break End::SendFailed }
            }
            from = client_rx.recv() => match from {
                Some(from) => if !handle_client(out, from, &mut filter, &clock, readings, &mut last_seq).await { break End::SendFailed },
                None => break End::ClientClosed,
            },
        }
    }
}

/// An events-only session (`/ws?only=comments`): the hello, then consultation events, and
/// pongs to pings; anything else the client sends is refused.
async fn events_only<S: Sink<Message> + Unpin>(
    out: &mut Out<S>,
    client_rx: &mut mpsc::Receiver<FromClient>,
    mut consultation: Option<Listener>,
) -> End {
    let hello = ServerMsg::Hello { protocol_version: PROTOCOL_VERSION, server: format!("renewtwin {}", env!("CARGO_PKG_VERSION")) };
    if !out.msg(&hello).await {
        return End::SendFailed;
    }
    loop {
        tokio::select! {
            event = next_consultation(&mut consultation) => if !out.consultation(event, &mut consultation).await { break End::SendFailed },
            from = client_rx.recv() => {
                let reply = match from {
                    None => break End::ClientClosed,
                    Some(FromClient::Reply(msg)) => msg,
                    Some(FromClient::Msg(ClientMsg::Ping(n))) => ServerMsg::Pong(n),
                    // The client's hello needs no answer: there is no scene to negotiate.
                    Some(FromClient::Msg(ClientMsg::Hello(_))) => continue,
                    Some(FromClient::Msg(_)) => ServerMsg::Error {
                        code: "events_only".into(),
                        message: "this connection (?only=comments) carries consultation events only; open /ws without `only` for the twin".into(),
                    },
                };
                if !out.msg(&reply).await { break End::SendFailed }
            }
        }
    }
}

/// The next consultation event; never resolves for a session without the feed.
async fn next_consultation(listener: &mut Option<Listener>) -> renewtwin_civic::live::Next {
    match listener {
        Some(listener) => listener.next_event().await,
        None => std::future::pending().await,
    }
}

/// Sends the header, the mesh batches (when wanted) and `SceneComplete`; returns the
/// snapshot's `seq`.
async fn send_scene<S: Sink<Message> + Unpin>(out: &mut Out<S>, state: &AppState, geometry: bool) -> Option<u64> {
    let snapshot = state.live.snapshot();
    let scene = &state.scene;
    let header = SceneHeader {
        name: scene.name.clone(),
        bbox: scene.bbox,
        plan_start: state.live.plan_start(),
        day: SimDay(snapshot.day),
        date: snapshot.date,
        plan_end: SimDay(scene.plan_end),
        // Sent from `scene.elements` with today's states, without a copy (`SceneMsg`).
        elements: Vec::new(),
        phases: snapshot.phases.clone(),
        mesh_count: scene.mesh_count,
        triangle_count: scene.triangle_count,
        seq: snapshot.seq,
        scene_hash: scene.scene_hash,
        batches: if geometry { scene.mesh_frames.len() as u32 } else { 0 },
        scene_bytes: if geometry { scene.scene_bytes } else { 0 },
    };
    if !out.msg(&SceneMsg { header: &header, elements: &scene.elements, states: &snapshot.states }).await {
        return None;
    }
    if geometry {
        for frame in &scene.mesh_frames {
            if !out.raw(Message::Binary(frame.clone())).await {
                return None;
            }
        }
    }
    out.msg(&ServerMsg::SceneComplete).await.then_some(snapshot.seq)
}

/// Tells the client it skipped deltas and why, then sends one coalesced delta; returns its
/// `seq`.
async fn resync<S: Sink<Message> + Unpin>(
    out: &mut Out<S>,
    state: &AppState,
    filter: &Filter<'_>,
    since: u64,
    reason: ResyncReason,
) -> Option<u64> {
    let coalesced = state.live.coalesced_since(since);
    let seq = coalesced.delta.seq;
    let ok = out.msg(&ServerMsg::Resync { reason, full: coalesced.full }).await
        && out.msg(&ServerMsg::State(filter.apply(coalesced.delta))).await;
    ok.then_some(seq)
}

/// Acts on one message from the reader; false when the socket failed.
async fn handle_client<S: Sink<Message> + Unpin>(
    out: &mut Out<S>,
    from: FromClient,
    filter: &mut Filter<'_>,
    clock: &Option<std::sync::mpsc::Sender<ClockCommand>>,
    readings: bool,
    last_seq: &mut u64,
) -> bool {
    let reply = match from {
        FromClient::Reply(msg) => msg,
        FromClient::Msg(ClientMsg::Ping(n)) => ServerMsg::Pong(n),
        FromClient::Msg(ClientMsg::Clock(command)) => match clock {
            Some(tx) if tx.send(command).is_ok() => return true,
            Some(_) => ServerMsg::Error { code: "simulation_stopped".into(), message: "the simulation is not running".into() },
            None => ServerMsg::Error {
                code: "forbidden".into(),
                message: "only the operator or a government account may control the clock: connect with its token (Authorization: Bearer or ?token=), or from the server's own machine (see serve --open-controls)".into(),
            },
        },
        FromClient::Msg(ClientMsg::SensorReadings(batch)) => match readings {
            true => crate::sensors::ingest_wire(filter.state, batch).await,
            false => ServerMsg::Error {
                code: "forbidden".into(),
                message: "only a sensor gateway (RENEWTWIN_SENSOR_TOKEN) or the operator may send readings: connect with its token (Authorization: Bearer or ?token=), or from the server's own machine (see serve --open-controls)".into(),
            },
        },
        FromClient::Msg(ClientMsg::Hello(_)) => {
            ServerMsg::Error { code: "unexpected_hello".into(), message: "hello is only valid as the first message".into() }
        }
        FromClient::Msg(ClientMsg::Subscribe(subscription)) => {
            filter.subscription = subscription;
            // The filtered view of everything, so the client's state matches its new filter.
            let snapshot = filter.state.live.snapshot();
            *last_seq = snapshot.seq;
            return out.msg(&ServerMsg::Resync { reason: ResyncReason::Subscription, full: true }).await
                && out.msg(&ServerMsg::State(filter.apply(snapshot.full_delta()))).await;
        }
    };
    out.msg(&reply).await
}

/// A token bucket over client messages.
struct RateLimit {
    tokens: f64,
    last: tokio::time::Instant,
}

impl RateLimit {
    fn new() -> Self {
        Self { tokens: RATE_BURST, last: tokio::time::Instant::now() }
    }

    fn take(&mut self) -> bool {
        let now = tokio::time::Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * RATE_PER_SECOND).min(RATE_BURST);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Hands the session an error for the client; gives up after a second (the session is stuck
/// on a slow socket and the client will not read it soon anyway).
async fn tell(to_session: &mpsc::Sender<FromClient>, error: ServerMsg) {
    let _told = tokio::time::timeout(Duration::from_secs(1), to_session.send(FromClient::Reply(error))).await;
}

/// Reads and discards what the client already sent (for at most a second) before the session
/// closes, so that closing does not reset the connection and lose the errors sent to it.
async fn drain<R, E>(stream: &mut R)
where
    R: Stream<Item = Result<Message, E>> + Unpin,
{
    let _drained = tokio::time::timeout(Duration::from_secs(1), async {
        while let Some(Ok(msg)) = stream.next().await {
            if matches!(msg, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

/// Reads client frames, decodes, rate-limits and forwards them; returns why it stopped.
async fn read_client<R, E>(mut stream: R, to_session: mpsc::Sender<FromClient>) -> End
where
    R: Stream<Item = Result<Message, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut bad = 0u32;
    let mut dropped = 0u32;
    let mut limit = RateLimit::new();
    while let Some(msg) = stream.next().await {
        let decoded = match msg {
            Ok(Message::Binary(bytes)) => renewtwin_protocol::decode::<ClientMsg>(&bytes).map_err(|e| e.to_string()),
            Ok(Message::Text(text)) => serde_json::from_str::<ClientMsg>(text.as_str()).map_err(|e| format!("bad JSON message: {e}")),
            Ok(Message::Close(_)) => return End::ClientClosed,
            Ok(Message::Ping(_) | Message::Pong(_)) => continue,
            Err(e) => {
                tracing::debug!(error = %e, "websocket read error");
                return End::ReadError;
            }
        };
        if !limit.take() {
            dropped += 1;
            if dropped > MAX_DROPPED {
                let error = ServerMsg::Error {
                    code: "flooding".into(),
                    message: format!("more than {MAX_DROPPED} messages over the rate limit; closing"),
                };
                tell(&to_session, error).await;
                drain(&mut stream).await;
                return End::Flooding;
            }
            if dropped.is_power_of_two() {
                let error = ServerMsg::Error {
                    code: "rate_limited".into(),
                    message: format!("at most {RATE_PER_SECOND} messages per second (burst {RATE_BURST}); {dropped} dropped"),
                };
                tell(&to_session, error).await;
            }
            continue;
        }
        let from = match decoded {
            Ok(msg) => FromClient::Msg(msg),
            Err(message) => {
                bad += 1;
                if bad >= MAX_BAD_FRAMES {
                    let error = ServerMsg::Error {
                        code: "too_many_bad_frames".into(),
                        message: format!("{bad} frames were not protocol messages; closing"),
                    };
                    tell(&to_session, error).await;
                    drain(&mut stream).await;
                    return End::TooManyBadFrames;
                }
                FromClient::Reply(ServerMsg::Error { code: "bad_frame".into(), message })
            }
        };
        if to_session.send(from).await.is_err() {
            return End::SessionEnded;
        }
    }
    End::ClientClosed
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    use std::task::{Context, Poll, Waker};

    use renewtwin_protocol::{CivilDate, LifecycleState};

    use super::*;
    use renewtwin_twin::live::{LiveShared, LiveSnapshot};
    use renewtwin_twin::wire::SceneStatic;

    /// A sink that takes messages only while its gate is open: a client that stops reading.
    #[derive(Clone, Default)]
    struct GatedSink {
        open: Arc<AtomicBool>,
        waker: Arc<Mutex<Option<Waker>>>,
        got: Arc<Mutex<Vec<Message>>>,
    }

    impl GatedSink {
        fn set_open(&self, open: bool) {
            self.open.store(open, Ordering::SeqCst);
            if let Some(w) = self.waker.lock().ok().and_then(|mut w| w.take()) {
                w.wake();
            }
        }

        fn messages(&self) -> Vec<ServerMsg> {
            let got = self.got.lock().map(|g| g.clone()).unwrap_or_default();
            got.iter()
                .filter_map(|m| match m {
                    Message::Binary(b) => renewtwin_protocol::decode(b).ok(),
                    Message::Text(t) => serde_json::from_str(t.as_str()).ok(),
                    _ => None,
                })
                .collect()
        }
    }

    impl Sink<Message> for GatedSink {
        type Error = std::convert::Infallible;
        fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            if self.open.load(Ordering::SeqCst) {
                return Poll::Ready(Ok(()));
            }
            if let Ok(mut w) = self.waker.lock() {
                *w = Some(cx.waker().clone());
            }
            // Re-check after registering so a concurrent open is not missed.
            if self.open.load(Ordering::SeqCst) { Poll::Ready(Ok(())) } else { Poll::Pending }
        }
        fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), Self::Error> {
            if let Ok(mut g) = self.got.lock() {
                g.push(item);
            }
            Ok(())
        }
        fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            self.poll_ready(cx)
        }
        fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }
    }

    fn state(elements: usize) -> AppState {
        let start = CivilDate::new(2026, 3, 1);
        let live = LiveShared::new(
            LiveSnapshot { seq: 0, day: 0, date: start, states: vec![LifecycleState::Existing; elements], phases: vec![] },
            start,
        );
        let scene = SceneStatic {
            name: "test".into(),
            bbox: [0.0; 6],
            elements: Default::default(),
            element_layers: vec![],
            project_elements: Default::default(),
            mesh_frames: vec![],
            mesh_count: 0,
            triangle_count: 0,
            plan_end: 10,
            scene_hash: renewtwin_protocol::SceneHash([7; 16]),
            scene_bytes: 0,
        };
        let manifest =
            renewtwin_twin::manifest::Manifest::parse("built in", renewtwin_twin::scene::DEFAULT_MANIFEST).expect("manifest");
        let (plans, _) = std::sync::mpsc::channel();
        let (clock, _) = std::sync::mpsc::channel();
        AppState::new(
            Arc::new(scene),
            live,
            clock,
            Arc::new(renewtwin_twin::renewal::control::PlanControl::new(manifest, Arc::default(), None, plans)),
            Arc::new(renewtwin_store::Store::in_memory(&[]).expect("store")),
            renewtwin_twin::analytics::AnalyticsFeeds::default(),
            renewtwin_civic::ballot_key::BallotKey::from_bytes([3; 32]),
        )
    }

    fn hello() -> Result<Message, std::convert::Infallible> {
        let h = ClientMsg::Hello(ClientHello { min_version: 2, max_version: 2, resume: None, geometry: true });
        Ok(Message::Binary(renewtwin_protocol::encode(&h).unwrap_or_default().into()))
    }

    async fn wait_for(sink: &GatedSink, what: impl Fn(&[ServerMsg]) -> bool) {
        for _ in 0..500 {
            if what(&sink.messages()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("never happened; got {:?}", sink.messages());
    }

    #[tokio::test]
    async fn a_client_that_stops_reading_is_coalesced_into_the_latest_state_and_told_why() {
        let state = state(4);
        let live = state.live.clone();
        let sink = GatedSink::default();
        sink.set_open(true);
        let client = futures_util::stream::iter([hello()]).chain(futures_util::stream::pending());
        let session = tokio::spawn(session(sink.clone(), client, state, SessionOptions::default()));
        wait_for(&sink, |m| m.iter().any(|m| matches!(m, ServerMsg::Clock(_)))).await;
        while live.receivers() == 0 {
            tokio::task::yield_now().await;
        }

        sink.set_open(false);
        for i in 0..300u32 {
            let state = if i % 2 == 0 { LifecycleState::UnderConstruction } else { LifecycleState::Renewed };
            live.publish_changes(&[(i % 4, state)]);
        }
        sink.set_open(true);
        wait_for(&sink, |m| m.iter().any(|m| matches!(m, ServerMsg::State(d) if d.seq == 300))).await;

        let msgs = sink.messages();
        let states: Vec<&StateDelta> = msgs.iter().filter_map(|m| if let ServerMsg::State(d) = m { Some(d) } else { None }).collect();
        assert!(states.len() < 10, "300 deltas were coalesced, not queued: {} sent", states.len());
        assert!(msgs.iter().any(|m| matches!(
            m,
            ServerMsg::Resync { reason: ResyncReason::SlowClient | ResyncReason::Lagged, .. }
        )));
        let last = states.last().expect("a state");
        // Element i%4 was last written at i = 296..299: 296 and 298 even, 297 and 299 odd.
        let latest: Vec<_> = last.changes.iter().map(|c| (c.element, c.state)).collect();
        assert!(latest.contains(&(0, LifecycleState::UnderConstruction)) && latest.contains(&(3, LifecycleState::Renewed)), "{latest:?}");
        session.abort();
    }

    #[tokio::test]
    async fn a_client_sending_garbage_is_answered_then_dropped() {
        let sink = GatedSink::default();
        sink.set_open(true);
        let garbage = (0..MAX_BAD_FRAMES).map(|_| Ok::<_, std::convert::Infallible>(Message::Binary(vec![0xff, 0xfe].into())));
        let client = futures_util::stream::iter(std::iter::once(hello()).chain(garbage)).chain(futures_util::stream::pending());
        let reason = tokio::time::timeout(Duration::from_secs(20), session(sink.clone(), client, state(1), SessionOptions::default()))
            .await
            .expect("the session ends");
        assert_eq!(reason, End::TooManyBadFrames);
        let codes: Vec<String> =
            sink.messages().into_iter().filter_map(|m| if let ServerMsg::Error { code, .. } = m { Some(code) } else { None }).collect();
        assert_eq!(codes.iter().filter(|c| *c == "bad_frame").count() as u32, MAX_BAD_FRAMES - 1);
        assert_eq!(codes.last().map(String::as_str), Some("too_many_bad_frames"));
    }

    #[tokio::test]
    async fn a_client_flooding_pings_is_rate_limited_then_dropped() {
        let sink = GatedSink::default();
        sink.set_open(true);
        let ping = |n| Ok::<_, std::convert::Infallible>(Message::Binary(renewtwin_protocol::encode(&ClientMsg::Ping(n)).unwrap_or_default().into()));
        let flood = (0..2_000u64).map(ping);
        let client = futures_util::stream::iter(std::iter::once(hello()).chain(flood)).chain(futures_util::stream::pending());
        let reason = tokio::time::timeout(Duration::from_secs(20), session(sink.clone(), client, state(1), SessionOptions::default()))
            .await
            .expect("the session ends");
        assert_eq!(reason, End::Flooding);
        let msgs = sink.messages();
        let pongs = msgs.iter().filter(|m| matches!(m, ServerMsg::Pong(_))).count();
        assert!(pongs >= RATE_BURST as usize - 1 && pongs < 2_000, "{pongs} pongs");
        assert!(msgs.iter().any(|m| matches!(m, ServerMsg::Error { code, .. } if code == "rate_limited")));
    }

    #[tokio::test]
    async fn a_client_speaking_only_a_newer_protocol_is_refused() {
        let sink = GatedSink::default();
        sink.set_open(true);
        let h = ClientMsg::Hello(ClientHello { min_version: 99, max_version: 100, resume: None, geometry: true });
        let first = Ok::<_, std::convert::Infallible>(Message::Binary(renewtwin_protocol::encode(&h).unwrap_or_default().into()));
        let client = futures_util::stream::iter([first]).chain(futures_util::stream::pending());
        let reason = session(sink.clone(), client, state(1), SessionOptions::default()).await;
        assert_eq!(reason, End::UnsupportedVersion);
        assert!(sink.messages().iter().any(|m| matches!(m, ServerMsg::Error { code, .. } if code == "unsupported_version")));
    }

    #[tokio::test]
    async fn json_sessions_write_text_frames() {
        let sink = GatedSink::default();
        sink.set_open(true);
        let client = futures_util::stream::iter([hello()]).chain(futures_util::stream::pending());
        let options = SessionOptions { rights: Rights::default(), format: Format::Json, consultation: None, events_only: false };
        let task = tokio::spawn(session(sink.clone(), client, state(1), options));
        wait_for(&sink, |m| m.iter().any(|m| matches!(m, ServerMsg::Clock(_)))).await;
        let got = sink.got.lock().map(|g| g.clone()).unwrap_or_default();
        assert!(got.iter().all(|m| matches!(m, Message::Text(_))), "no geometry in this scene, so only text");
        task.abort();
    }
}
