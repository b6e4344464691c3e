//! Consultation events for connected viewers, on the `comments` layer of the main `/ws` stream
//! (`/ws?token=…` for a signed-in connection). Each change (a comment, a vote tally, a report's
//! state, an announcement, a consultation opened or closed, a moderation decision) is encoded
//! once per privacy class and broadcast; each connection forwards the form its [`Audience`]
//! may see. The forms come from [`super::privacy::view`], the same filter as the HTTP API.
//!
//! On the wire an event is [`ServerMsg::Consultation`]: `kind`, `id` and `record`, the record's
//! JSON text exactly as `GET /api/comments/12` returns it to that role.
//!
//! Events go out in batches: the feed gathers what is delivered within [`BATCH_WINDOW`] and
//! broadcasts it at once, dropping an event that a later one of the same batch replaces (the
//! same `kind` and `id`: every event carries its whole record). A connection then wakes once per
//! batch and writes the batch's frames with one flush, not once per event: with a thousand
//! residents commenting and voting, each replica's viewers cost a fraction of the wake-ups,
//! system calls and TCP segments (issue 18, item 5), for at most [`BATCH_WINDOW`] more delay.

use std::sync::Arc;

use renewtwin_protocol::{ConsultationEvent, ServerMsg};
use tokio::sync::broadcast;

use super::auth::Audience;
use super::privacy::{Record, view};

/// Batches a slow viewer may fall behind by; past that it is told how many it missed.
const CAPACITY: usize = 1024;

/// How long the feed gathers events into one batch (see the module documentation): short
/// beside what a person notices of a new comment, long beside the gaps between events of a busy
/// consultation.
pub const BATCH_WINDOW: std::time::Duration = std::time::Duration::from_millis(50);

/// Events broadcast together.
type Batch = Arc<[Arc<LiveEvent>]>;

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
    /// Each form's binary frame, encoded once for every connection that sends it.
    #[serde(skip)]
    frames: Frames,
}

/// The public and the internal form's encoded frame, made on first use and shared by clones.
#[derive(Debug, Clone, Default)]
struct Frames(Arc<[std::sync::OnceLock<bytes::Bytes>; 2]>);

/// Which form of an event a connection may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// Public fields only.
    Public,
    /// Internal fields too (staff, and the record's own author).
    Internal,
}

impl LiveEvent {
    /// The event in `form` as a server message.
    pub fn message(&self, form: Form) -> ServerMsg {
        let record = match form {
            Form::Public => &self.public,
            Form::Internal => &self.internal,
        };
        ServerMsg::Consultation(ConsultationEvent { kind: self.kind.to_string(), id: self.id, record: record.to_string() })
    }

    /// The event in `form` as a binary `/ws` frame, encoded once and shared.
    pub fn frame(&self, form: Form) -> Result<bytes::Bytes, renewtwin_protocol::WireError> {
        let cell = &self.frames.0[usize::from(form == Form::Internal)];
        if let Some(bytes) = cell.get() {
            return Ok(bytes.clone());
        }
        let bytes = bytes::Bytes::from(renewtwin_protocol::encode(&self.message(form))?);
        Ok(cell.get_or_init(|| bytes).clone())
    }
}

/// What a connection's listener hands on next.
#[derive(Debug)]
pub enum Next {
    /// An event, in the form this connection may see.
    Event(Arc<LiveEvent>, Form),
    /// The connection fell behind by this many batches (so at least this many events).
    Lagged(u64),
}

impl Next {
    /// As a server message (the JSON form of the stream, and tests).
    pub fn message(&self) -> ServerMsg {
        match self {
            Next::Event(event, form) => event.message(*form),
            Next::Lagged(missed) => {
                ServerMsg::Consultation(ConsultationEvent { kind: "lagged".into(), id: i64::try_from(*missed).unwrap_or(i64::MAX), record: "{}".into() })
            }
        }
    }
}

/// Where a replica of a cluster sends its events instead of broadcasting them itself: onto the
/// replicas' shared log, from which every replica (this one too) [`Feed::deliver`]s them.
pub type Forward = Box<dyn Fn(LiveEvent) + Send + Sync>;

/// The broadcast of consultation events.
pub struct Feed {
    batches: Arc<Batcher>,
    forward: std::sync::OnceLock<Forward>,
}

/// The events gathered for the next batch, and the broadcast the batches go out on.
struct Batcher {
    tx: broadcast::Sender<Batch>,
    window: std::time::Duration,
    pending: std::sync::Mutex<Pending>,
}

#[derive(Default)]
struct Pending {
    events: Vec<Arc<LiveEvent>>,
    /// A task will send `events` at the end of the window.
    scheduled: bool,
}

impl Batcher {
    /// Sends what is pending as one batch, without the events a later one replaces.
    fn send_pending(&self) {
        let events = match self.pending.lock() {
            Ok(mut pending) => {
                pending.scheduled = false;
                std::mem::take(&mut pending.events)
            }
            Err(_) => return,
        };
        let mut seen = std::collections::HashSet::new();
        let mut kept: Vec<Arc<LiveEvent>> = events.into_iter().rev().filter(|e| seen.insert((e.kind.clone(), e.id))).collect();
        kept.reverse();
        if !kept.is_empty() {
            // No receiver is not an error: nobody is watching right now.
            let _ = self.tx.send(kept.into());
        }
    }
}

impl std::fmt::Debug for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feed")
            .field("listeners", &self.batches.tx.receiver_count())
            .field("window", &self.batches.window)
            .field("forwarded", &self.forward.get().is_some())
            .finish()
    }
}

impl Default for Feed {
    fn default() -> Self {
        Self::with_window(BATCH_WINDOW)
    }
}

impl Feed {
    /// A feed that gathers events for `window` before broadcasting them (zero: each event at
    /// once, in a batch of its own).
    pub fn with_window(window: std::time::Duration) -> Self {
        let batches = Batcher { tx: broadcast::channel(CAPACITY).0, window, pending: std::sync::Mutex::default() };
        Self { batches: Arc::new(batches), forward: std::sync::OnceLock::new() }
    }

    /// A listener for a connection seen by `audience`, subscribed from now on.
    pub fn listen(&self, audience: Audience) -> Listener {
        Listener { events: Some(self.batches.tx.subscribe()), batch: std::collections::VecDeque::new(), audience }
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
            frames: Frames::default(),
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

    /// Hands `event` to this process's listeners, in the batch that goes out at the end of the
    /// current window (at once with a zero window, or outside an async runtime).
    pub fn deliver(&self, event: LiveEvent) {
        let runtime = tokio::runtime::Handle::try_current().ok().filter(|_| !self.batches.window.is_zero());
        let schedule = match self.batches.pending.lock() {
            Ok(mut pending) => {
                pending.events.push(Arc::new(event));
                let first = !pending.scheduled;
                pending.scheduled |= runtime.is_some();
                first
            }
            Err(_) => return,
        };
        match runtime {
            None => self.batches.send_pending(),
            Some(runtime) if schedule => {
                let batches = Arc::clone(&self.batches);
                runtime.spawn(async move {
                    tokio::time::sleep(batches.window).await;
                    batches.send_pending();
                });
            }
            Some(_) => {}
        }
    }
}

/// The record of `event` that `audience` may receive.
pub fn record_for(event: &LiveEvent, audience: Audience) -> Arc<str> {
    match form_for(event, audience) {
        Form::Internal => event.internal.clone(),
        Form::Public => event.public.clone(),
    }
}

/// The form of `event` that `audience` may see.
pub fn form_for(event: &LiveEvent, audience: Audience) -> Form {
    let own = event.owner.is_some() && event.owner == audience.account();
    if audience.is_staff() || own { Form::Internal } else { Form::Public }
}

/// One connection's view of the feed.
#[derive(Debug)]
pub struct Listener {
    /// `None` once the feed closed.
    events: Option<broadcast::Receiver<Batch>>,
    /// What is left of the batch received last.
    batch: std::collections::VecDeque<Arc<LiveEvent>>,
    audience: Audience,
}

impl Listener {
    /// The next event as this connection may see it; never resolves once the feed closed.
    pub async fn next(&mut self) -> ServerMsg {
        self.next_event().await.message()
    }

    /// The next event and the form this connection may see (its encoded frame is shared by
    /// every connection of that form); never resolves once the feed closed.
    pub async fn next_event(&mut self) -> Next {
        loop {
            if let Some(next) = self.ready() {
                return next;
            }
            let Some(events) = self.events.as_mut() else { return std::future::pending().await };
            match events.recv().await {
                Ok(batch) => self.batch.extend(batch.iter().cloned()),
                Err(broadcast::error::RecvError::Lagged(missed)) => return Next::Lagged(missed),
                Err(broadcast::error::RecvError::Closed) => self.events = None,
            }
        }
    }

    /// The next event of the batch received last, without waiting: a connection writes a whole
    /// batch, then flushes once.
    pub fn ready(&mut self) -> Option<Next> {
        let event = self.batch.pop_front()?;
        let form = form_for(&event, self.audience);
        Some(Next::Event(event, form))
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
        let feed = Feed::with_window(std::time::Duration::ZERO);
        let mut slow = feed.listen(Audience::Public);
        for i in 0..(CAPACITY as i64 + 5) {
            feed.publish("comment", i, &Note { owner: 1 });
        }
        match slow.next().await {
            ServerMsg::Consultation(e) => assert_eq!((e.kind.as_str(), e.id), ("lagged", 5)),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn events_of_one_window_go_out_as_one_batch_without_the_replaced_ones() {
        let feed = Feed::default();
        let mut viewer = feed.listen(Audience::Public);
        feed.publish("comment", 1, &Note { owner: 7 });
        feed.publish("consultation", 4, &Note { owner: 7 });
        feed.publish("comment", 2, &Note { owner: 7 });
        // The tally of consultation 4 again: it replaces the first one, which is not sent.
        feed.publish("consultation", 4, &Note { owner: 8 });
        let started = std::time::Instant::now();
        let first = viewer.next_event().await;
        assert!(started.elapsed() >= BATCH_WINDOW - std::time::Duration::from_millis(5), "sent at the end of the window");
        let mut seen = vec![first];
        while let Some(next) = viewer.ready() {
            seen.push(next);
        }
        let ids: Vec<(String, i64, Option<i64>)> = seen
            .iter()
            .map(|n| match n {
                Next::Event(e, _) => (e.kind.to_string(), e.id, e.owner),
                Next::Lagged(m) => panic!("lagged {m}"),
            })
            .collect();
        assert_eq!(
            ids,
            [("comment".into(), 1, Some(7)), ("comment".into(), 2, Some(7)), ("consultation".into(), 4, Some(8))],
            "in order, the replaced tally left out, all ready at once"
        );
        // The next event is a batch of its own.
        feed.publish("comment", 3, &Note { owner: 7 });
        assert!(matches!(viewer.next_event().await, Next::Event(e, _) if e.id == 3));
        assert!(viewer.ready().is_none());
    }

    #[tokio::test]
    async fn a_form_is_encoded_once_and_its_frame_shared_by_every_connection_of_that_form() {
        let feed = Feed::default();
        let mut a = feed.listen(Audience::Public);
        let mut b = feed.listen(Audience::Public);
        let mut owner = feed.listen(Audience::Account { id: 7, staff: false });
        feed.publish("comment", 3, &Note { owner: 7 });
        let (Next::Event(ea, fa), Next::Event(eb, fb), Next::Event(eo, fo)) = (a.next_event().await, b.next_event().await, owner.next_event().await) else {
            panic!("three events")
        };
        assert_eq!((fa, fb, fo), (Form::Public, Form::Public, Form::Internal));
        let (ba, bb, bo) = (ea.frame(fa).expect("encodes"), eb.frame(fb).expect("encodes"), eo.frame(fo).expect("encodes"));
        assert_eq!(ba.as_ptr(), bb.as_ptr(), "one encoding shared by both public connections");
        assert_ne!(ba, bo, "the owner's form differs");
        let decoded: ServerMsg = renewtwin_protocol::decode(&ba).expect("a valid frame");
        assert_eq!(decoded, ea.message(Form::Public));
        assert_eq!(record(decoded), r#"{"body":"hi"}"#);
        assert_eq!(record(renewtwin_protocol::decode(&bo).expect("a valid frame")), r#"{"author_name":"Wang","body":"hi"}"#);
    }
}
