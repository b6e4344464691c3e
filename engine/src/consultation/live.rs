//! Consultation events for connected viewers, on the WebSocket `/api/consultation/live`
//! (`?token=…` for a signed-in connection). Each change (a comment, a vote tally, a report's
//! state, an announcement, a consultation opened or closed, a moderation decision) is encoded
//! once per privacy class and broadcast; each connection forwards the form its [`Audience`]
//! may see. The forms come from [`super::privacy::view`], the same filter as the HTTP API.
//!
//! Frames are JSON text: `{"kind": "comment", "id": 12, "record": {…}}`, the record exactly as
//! `GET /api/comments/12` returns it to that role. The first frame is
//! `{"kind": "hello", "role": "public"}`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::broadcast;

use super::auth::Audience;
use super::privacy::{Record, view};

/// Events a slow viewer may fall behind by; past that it is told how many it missed.
const CAPACITY: usize = 1024;

/// A send that makes no progress for this long drops the viewer.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// One change, encoded for each class of viewer.
#[derive(Debug)]
pub(crate) struct LiveEvent {
    /// The account whose record it is (sees the internal form).
    pub owner: Option<i64>,
    /// The frame with public fields only.
    pub public: Arc<str>,
    /// The frame with internal fields too.
    pub internal: Arc<str>,
}

/// The broadcast of consultation events.
#[derive(Debug)]
pub(crate) struct Feed {
    tx: broadcast::Sender<Arc<LiveEvent>>,
}

impl Default for Feed {
    fn default() -> Self {
        Self { tx: broadcast::channel(CAPACITY).0 }
    }
}

impl Feed {
    /// Subscribes to events.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<LiveEvent>> {
        self.tx.subscribe()
    }

    /// Publishes `record` as an event of `kind` (`comment`, `consultation`, `report`,
    /// `announcement`).
    pub fn publish<R: Record>(&self, kind: &str, id: i64, record: &R) {
        let encode = |audience: Audience| -> Arc<str> {
            serde_json::json!({"kind": kind, "id": id, "record": view(record, audience)}).to_string().into()
        };
        // The internal form is what staff see; an owner sees the same fields of their own record.
        let event = LiveEvent {
            owner: record.owner(),
            public: encode(Audience::Public),
            internal: encode(Audience::Account { id: -1, staff: true }),
        };
        // No receiver is not an error: nobody is watching right now.
        let _ = self.tx.send(Arc::new(event));
    }
}

/// The frame of `event` that `audience` may receive.
pub(crate) fn frame_for(event: &LiveEvent, audience: Audience) -> Arc<str> {
    let own = event.owner.is_some() && event.owner == audience.account();
    if audience.is_staff() || own { event.internal.clone() } else { event.public.clone() }
}

/// Runs one viewer connection until either side ends it.
pub(crate) async fn session(socket: WebSocket, mut events: broadcast::Receiver<Arc<LiveEvent>>, audience: Audience, role: &'static str) {
    let (mut sink, mut stream) = socket.split();
    let mut send = async |text: String| matches!(tokio::time::timeout(SEND_TIMEOUT, sink.send(Message::Text(text.into()))).await, Ok(Ok(())));
    if !send(serde_json::json!({"kind": "hello", "role": role}).to_string()).await {
        return;
    }
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Ok(event) => {
                    if !send(frame_for(&event, audience).to_string()).await { return }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    if !send(serde_json::json!({"kind": "lagged", "missed": missed}).to_string()).await { return }
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            incoming = stream.next() => match incoming {
                // Viewers only listen; pings are answered by the socket layer.
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
        }
    }
}
