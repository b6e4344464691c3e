//! Consultation events for connected viewers, on the `comments` layer of the main `/ws` stream
//! (`/ws?token=…` for a signed-in connection). Each change (a comment, a vote tally, a report's
//! state, an announcement, a consultation opened or closed, a moderation decision) is encoded
//! once per privacy class and broadcast; each connection forwards the form its [`Audience`]
//! may see. The forms come from [`super::privacy::view`], the same filter as the HTTP API.
//!
//! On the wire an event is [`ServerMsg::Consultation`]: `kind`, `id` and `record`, the record's
//! JSON text exactly as `GET /api/comments/12` returns it to that role.

use std::sync::Arc;

use renewtwin_protocol::{ConsultationEvent, ServerMsg};
use tokio::sync::broadcast;

use super::auth::Audience;
use super::privacy::{Record, view};

/// Events a slow viewer may fall behind by; past that it is told how many it missed.
const CAPACITY: usize = 1024;

/// One change, encoded for each class of viewer (and, between the replicas of a cluster, on
/// their shared log as JSON).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct LiveEvent {
    /// `comment`, `consultation`, `report` or `announcement`.
    pub kind: Arc<str>,
    /// The record's id.
    pub id: i64,
    /// The account whose record it is (sees the internal form).
    pub owner: Option<i64>,
    /// The record with public fields only, as JSON text.
    pub public: Arc<str>,
    /// The record with internal fields too, as JSON text.
    pub internal: Arc<str>,
}

/// Where a replica of a cluster sends its events instead of broadcasting them itself: onto the
/// replicas' shared log, from which every replica (this one too) [`Feed::deliver`]s them.
pub type Forward = Box<dyn Fn(LiveEvent) + Send + Sync>;

/// The broadcast of consultation events.
pub struct Feed {
    tx: broadcast::Sender<Arc<LiveEvent>>,
    forward: std::sync::OnceLock<Forward>,
}

impl std::fmt::Debug for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feed").field("listeners", &self.tx.receiver_count()).field("forwarded", &self.forward.get().is_some()).finish()
    }
}

impl Default for Feed {
    fn default() -> Self {
        Self { tx: broadcast::channel(CAPACITY).0, forward: std::sync::OnceLock::new() }
    }
}

impl Feed {
    /// A listener for a connection seen by `audience`, subscribed from now on.
    pub fn listen(&self, audience: Audience) -> Listener {
        Listener { events: Some(self.tx.subscribe()), audience }
    }

    /// Publishes `record` as an event of `kind` (`comment`, `consultation`, `report`,
    /// `announcement`).
    pub fn publish<R: Record>(&self, kind: &'static str, id: i64, record: &R) {
        let encode = |audience: Audience| -> Arc<str> { view(record, audience).to_string().into() };
        // The internal form is what staff see; an owner sees the same fields of their own record.
        let event = LiveEvent {
            kind: kind.into(),
            id,
            owner: record.owner(),
            public: encode(Audience::Public),
            internal: encode(Audience::Account { id: -1, staff: true }),
        };
        match self.forward.get() {
            Some(forward) => forward(event),
            None => self.deliver(event),
        }
    }

    /// Sends every event published from now on to `forward` instead of the listeners (a
    /// replica of a cluster). Once only; false if set already.
    pub fn set_forward(&self, forward: Forward) -> bool {
        self.forward.set(forward).is_ok()
    }

    /// Hands `event` to this process's listeners.
    pub fn deliver(&self, event: LiveEvent) {
        // No receiver is not an error: nobody is watching right now.
        let _ = self.tx.send(Arc::new(event));
    }
}

/// The record of `event` that `audience` may receive.
pub fn record_for(event: &LiveEvent, audience: Audience) -> Arc<str> {
    let own = event.owner.is_some() && event.owner == audience.account();
    if audience.is_staff() || own { event.internal.clone() } else { event.public.clone() }
}

/// One connection's view of the feed.
#[derive(Debug)]
pub struct Listener {
    /// `None` once the feed closed.
    events: Option<broadcast::Receiver<Arc<LiveEvent>>>,
    audience: Audience,
}

impl Listener {
    /// The next event as this connection may see it; never resolves once the feed closed.
    pub async fn next(&mut self) -> ServerMsg {
        loop {
            let Some(events) = self.events.as_mut() else { return std::future::pending().await };
            match events.recv().await {
                Ok(event) => {
                    let record = record_for(&event, self.audience).to_string();
                    return ServerMsg::Consultation(ConsultationEvent { kind: event.kind.to_string(), id: event.id, record });
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    let missed = i64::try_from(missed).unwrap_or(i64::MAX);
                    return ServerMsg::Consultation(ConsultationEvent { kind: "lagged".into(), id: missed, record: "{}".into() });
                }
                Err(broadcast::error::RecvError::Closed) => self.events = None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::privacy::{Class, Field};

    struct Note {
        owner: i64,
    }

    impl Record for Note {
        const KIND: &'static str = "note";
        const FIELDS: &'static [Field<Self>] =
            &[Field::new("body", Class::Public, |_| "hi".into()), Field::new("author_name", Class::Internal, |_| "Wang".into())];
        fn owner(&self) -> Option<i64> {
            Some(self.owner)
        }
    }

    fn record(msg: ServerMsg) -> String {
        match msg {
            ServerMsg::Consultation(e) => e.record,
            other => panic!("not a consultation event: {other:?}"),
        }
    }

    #[tokio::test]
    async fn each_listener_gets_the_form_its_audience_may_see() {
        let feed = Feed::default();
        let mut public = feed.listen(Audience::Public);
        let mut owner = feed.listen(Audience::Account { id: 7, staff: false });
        let mut neighbour = feed.listen(Audience::Account { id: 8, staff: false });
        let mut staff = feed.listen(Audience::Account { id: 9, staff: true });
        feed.publish("comment", 1, &Note { owner: 7 });
        assert_eq!(record(public.next().await), r#"{"body":"hi"}"#);
        assert_eq!(record(neighbour.next().await), r#"{"body":"hi"}"#);
        assert_eq!(record(owner.next().await), r#"{"author_name":"Wang","body":"hi"}"#);
        assert_eq!(record(staff.next().await), r#"{"author_name":"Wang","body":"hi"}"#);
    }

    #[tokio::test]
    async fn a_listener_that_falls_behind_is_told_how_many_it_missed() {
        let feed = Feed::default();
        let mut slow = feed.listen(Audience::Public);
        for i in 0..(CAPACITY as i64 + 5) {
            feed.publish("comment", i, &Note { owner: 1 });
        }
        match slow.next().await {
            ServerMsg::Consultation(e) => assert_eq!((e.kind.as_str(), e.id), ("lagged", 5)),
            other => panic!("{other:?}"),
        }
    }
}
