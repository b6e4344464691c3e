//! Replicas over NATS (`renewtwin serve --cluster nats://HOST:PORT`): any number of server
//! processes play the same scene from one ordered, durable JetStream log.
//!
//! - One stream per scene content hash, `renewtwin-<hash>`, subject `renewtwin.<hash>.events`,
//!   file storage, limits retention without an age or size limit, so no entry is ever removed
//!   ([`DUPLICATE_WINDOW`] for de-duplication). A replica rebuilds its twin from the first entry;
//!   it never applies past a hole in the log ([`in_order`]): a stream whose entries were removed
//!   (by an operator's purge or limits) stops the replica's twin instead of making it diverge.
//! - Every input that changes the twin or what viewers see live goes onto that log: clock
//!   commands, the clock's ticks, governance events, sensor readings' alerts and consultation
//!   live events ([`Input`]). Nothing is applied where it was posted; every replica (the one it
//!   was posted to too) applies the log in stream-sequence order through an ordered consumer
//!   ([`Cluster::run`]), and its twin is a [`DrivenSim`] that moves one update per log entry, so
//!   every replica has the same day, element states and delta sequence numbers.
//! - The clock ticks through the log too: each replica offers a tick once the last applied tick
//!   is [`ClusterConfig::tick`] old, with the message id `tick-<entry of the last applied
//!   tick>`, so the stream's de-duplication keeps one tick where several replicas offered the
//!   next one, and a tick offered by a replica that had not seen the tick before it is skipped
//!   by every replica. A tick carries its offerer's wall clock and the real time since the
//!   wall clock of the last applied tick (at most [`MAX_TICK`]), so the clock keeps its speed
//!   however long the log's round trip takes; the seconds are in the entry, so every replica
//!   moves alike.
//! - A write is acknowledged only after the database committed it and JetStream acknowledged
//!   its log entry. While NATS cannot be reached, writes answer 503 with `Retry-After`
//!   ([`RETRY_AFTER`]); the consumer is recreated from the last applied sequence once NATS is
//!   back, and the replica catches up. A write refused so cannot happen later either: the NATS
//!   client may still send it once reconnected, but it carries a deadline ([`VOID_AFTER`]) and
//!   every replica skips a write the log stored after it.
//! - The first replica on an empty stream writes the clock's starting point (`Genesis`: the
//!   day and speed it was started with) with `expected_last_sequence 0`, so only one does.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer::DeliverPolicy, consumer::pull::OrderedConfig, message::PublishMessage, stream};
use futures_util::StreamExt;
use renewtwin_civic::live::LiveEvent;
use renewtwin_protocol::{ClockCommand, SimDay};
use renewtwin_twin::live::LiveShared;
use renewtwin_twin::manifest::EventSpec;
use renewtwin_twin::renewal::control::{EventError, EventGate, EventRequest, PlanControl};
use renewtwin_twin::sensors::hub::SensorHub;
use renewtwin_twin::sensors::rules::Alert;
use renewtwin_twin::sim::DrivenSim;
use serde::{Deserialize, Serialize};

/// The stream's de-duplication window (`Nats-Msg-Id`): replicas offering the same tick within
/// it store one.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);
/// How long after its writer offered it a write the log may take it and still apply it. A
/// write answered 503 for want of an acknowledgement can still reach the log later (the NATS
/// client keeps what it could not send while it reconnects); every replica skips a write
/// stored after its deadline (the header [`VOID_HEADER`] beside the time nats-server stored
/// it: the same decision everywhere), so a write refused never happens, as long as the clocks
/// of the writer's machine and nats-server differ by less than [`PUBLISH_TIMEOUT`] minus this.
/// The writer acknowledges a write whose acknowledgement came within this less
/// [`CLOCK_MARGIN`] at once; one that came later only once it read the time the log stored it
/// and found it in time, the replicas' own test: an acknowledged write is always applied.
pub const VOID_AFTER: Duration = Duration::from_secs(3);
/// How far the writer's and nats-server's clocks may differ for an acknowledgement within
/// `VOID_AFTER - CLOCK_MARGIN` to be taken as in time without reading the stored time.
pub const CLOCK_MARGIN: Duration = Duration::from_secs(1);
/// The header carrying a write's deadline ([`VOID_AFTER`]): microseconds since the Unix epoch.
pub const VOID_HEADER: &str = "Renewtwin-Void-After";
/// How long connecting to NATS may take before `serve` gives up.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a write waits for JetStream's acknowledgement before answering 503.
pub const PUBLISH_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a recorded event waits for this replica to apply it from the log.
pub const APPLY_TIMEOUT: Duration = Duration::from_secs(15);
/// Real time between the clock's ticks on the log (`serve --cluster`): at 10 simulated days
/// per second a tick moves the clock 2.5 days.
pub const DEFAULT_TICK: Duration = Duration::from_millis(250);
/// Consultation events waiting for the log (while NATS is away) before new ones are dropped.
pub const LIVE_QUEUE: usize = 10_000;
/// How often a consultation event waiting for the log is offered again.
pub const LIVE_RETRY: Duration = Duration::from_secs(1);
/// The most real time one tick moves the clock by: after an outage of NATS the clock resumes
/// rather than jumping over the time it stood still.
pub const MAX_TICK: Duration = Duration::from_secs(1);
/// Seconds a client waits before retrying a write the log could not take.
pub const RETRY_AFTER: &str = "2";

/// Why the cluster could not start or take a write.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// NATS did not answer.
    #[error("cannot reach NATS at {url} within {secs} s: {message}")]
    Connect { url: String, secs: u64, message: String },
    /// JetStream refused the stream or the consumer (is `-js` on?).
    #[error("NATS at {url}: JetStream stream {stream}: {message} (is nats-server running with -js?)")]
    Stream { url: String, stream: String, message: String },
    /// The log did not take a write: nothing was acknowledged.
    #[error("the replicas' log (NATS) did not take the write: {0}; nothing was acknowledged, retry later")]
    Unavailable(String),
    /// `--cluster` without a database the replicas share.
    #[error("--cluster needs a database every replica shares (PostgreSQL: --database postgres://…); {0} is a SQLite file of this machine")]
    NotShared(String),
}

/// One entry of the replicas' log.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Input {
    /// Where the clock starts (the first entry; written by the first replica).
    Genesis { day: i32, speed: f64 },
    /// `seconds` of real time passed while the clock played, offered by a replica whose last
    /// applied tick was log entry `after`. Applied only when no other tick came after that
    /// entry (a replica that offers one while behind offers a tick already taken), the same
    /// decision on every replica.
    Tick {
        seconds: f64,
        after: u64,
        /// The offerer's wall clock when it measured `seconds`, microseconds since the Unix
        /// epoch: the next tick's seconds are measured from it.
        #[serde(default)]
        at_us: u64,
    },
    /// A clock command (`/api/clock`, a viewer's control).
    Clock(ClockCommand),
    /// Governance events recorded together; `id` lets the replica that posted them answer.
    Events { id: String, requests: Vec<EventRequest> },
    /// Alerts raised by real readings (already stored once, by the replica that took them).
    Alerts(Vec<Alert>),
    /// A consultation event for viewers (the record is in the database already).
    Live(LiveEvent),
}

/// How a replica joins.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// `nats://HOST:PORT`.
    pub url: String,
    /// Real time between the clock's ticks.
    pub tick: Duration,
    /// Where the clock starts when this replica writes the genesis.
    pub start_day: i32,
    /// Simulated days per second then (0: paused).
    pub speed: f64,
}

/// What a replica applies the log to.
#[derive(Debug, Clone)]
pub struct Replica {
    /// The twin, moved one update per entry.
    pub sim: Arc<DrivenSim>,
    /// The plan the events are recorded into.
    pub plan: Arc<PlanControl>,
    /// The live state (its play state says when to offer ticks).
    pub live: Arc<LiveShared>,
    /// Where alerts are announced to this replica's viewers.
    pub sensors: Arc<SensorHub>,
    /// The civic domain, whose feed this replica's viewers listen to.
    pub civic: Arc<renewtwin_civic::Consultation>,
}

type EventResult = Result<Vec<EventSpec>, EventError>;

/// A replica's link to the log.
#[derive(Debug)]
pub struct Cluster {
    url: String,
    client: async_nats::Client,
    js: jetstream::Context,
    stream: String,
    subject: String,
    config: ClusterConfig,
    applied: tokio::sync::watch::Sender<u64>,
    waiting: Mutex<HashMap<String, tokio::sync::oneshot::Sender<EventResult>>>,
    last_tick: Mutex<Instant>,
    /// The wall clock the last applied tick was measured at, microseconds (what the next
    /// tick's seconds are measured from); reset by a clock command.
    tick_measured_us: std::sync::atomic::AtomicU64,
    /// The log entry of the last tick applied.
    last_tick_entry: std::sync::atomic::AtomicU64,
    runtime: tokio::runtime::Handle,
}

/// The status `GET /api/cluster` answers.
#[derive(Debug, Serialize)]
pub struct Status {
    /// Whether this server is a replica of a cluster.
    pub clustered: bool,
    /// The stream (`null` without a cluster).
    pub stream: Option<String>,
    /// Whether NATS is connected now.
    pub connected: bool,
    /// The last log entry applied here (0 without a cluster).
    pub applied: u64,
    /// The sequence number of the last delta (the same on every replica once they applied the
    /// same entries).
    pub seq: u64,
    /// The simulated day.
    pub day: i32,
}

impl Cluster {
    /// Connects to NATS (within [`CONNECT_TIMEOUT`]) and creates, or finds, the stream of the
    /// scene whose content hash is `scene_hash` (32 hex digits).
    pub async fn connect(config: ClusterConfig, scene_hash: &str) -> Result<Arc<Self>, ClusterError> {
        let url = config.url.clone();
        let connect = async_nats::ConnectOptions::new()
            .connection_timeout(CONNECT_TIMEOUT)
            .name(format!("renewtwin {}", env!("CARGO_PKG_VERSION")))
            .connect(url.as_str());
        let client = match tokio::time::timeout(CONNECT_TIMEOUT + Duration::from_secs(1), connect).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return Err(ClusterError::Connect { url, secs: CONNECT_TIMEOUT.as_secs(), message: e.to_string() }),
            Err(_) => return Err(ClusterError::Connect { url, secs: CONNECT_TIMEOUT.as_secs(), message: "no answer".into() }),
        };
        let mut js = jetstream::new(client.clone());
        js.set_timeout(PUBLISH_TIMEOUT);
        let stream = format!("renewtwin-{scene_hash}");
        let subject = format!("renewtwin.{scene_hash}.events");
        let wanted = stream::Config {
            name: stream.clone(),
            subjects: vec![subject.clone()],
            storage: stream::StorageType::File,
            retention: stream::RetentionPolicy::Limits,
            // A replica that starts rebuilds its twin from the first entry: nothing may age out.
            max_age: Duration::ZERO,
            duplicate_window: DUPLICATE_WINDOW,
            ..Default::default()
        };
        let made = tokio::time::timeout(PUBLISH_TIMEOUT, js.get_or_create_stream(wanted)).await;
        match made {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(ClusterError::Stream { url, stream, message: e.to_string() }),
            Err(_) => return Err(ClusterError::Stream { url, stream, message: "no answer".into() }),
        }
        let (applied, _) = tokio::sync::watch::channel(0);
        Ok(Arc::new(Self {
            url,
            client,
            js,
            stream,
            subject,
            config,
            applied,
            waiting: Mutex::new(HashMap::new()),
            last_tick: Mutex::new(Instant::now()),
            tick_measured_us: std::sync::atomic::AtomicU64::new(renewtwin_twin::live::now_us()),
            last_tick_entry: std::sync::atomic::AtomicU64::new(0),
            runtime: tokio::runtime::Handle::current(),
        }))
    }

    /// The stream's name.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// Whether NATS is connected now (writes are refused with 503 while it is not).
    pub fn connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    /// The last log entry this replica applied.
    pub fn applied(&self) -> u64 {
        *self.applied.borrow()
    }

    /// Waits until this replica applied entry `seq` (false after `within`).
    pub async fn wait_applied(&self, seq: u64, within: Duration) -> bool {
        let mut rx = self.applied.subscribe();
        matches!(tokio::time::timeout(within, rx.wait_for(|&a| a >= seq)).await, Ok(Ok(_)))
    }

    /// The status of this replica.
    pub fn status(cluster: Option<&Self>, live: &LiveShared) -> Status {
        let snap_seq = live.snapshot().seq;
        let (day, _) = live.day();
        Status {
            clustered: cluster.is_some(),
            stream: cluster.map(|c| c.stream.clone()),
            connected: cluster.is_some_and(Self::connected),
            applied: cluster.map_or(0, Self::applied),
            seq: snap_seq,
            day,
        }
    }

    /// Puts `input` on the log and returns its stream sequence once JetStream acknowledged it.
    /// A write whose answer waits for it (a clock command, governance events, alerts): applied
    /// only if the log takes it within [`VOID_AFTER`], so one answered 503 never happens later.
    pub async fn publish(&self, input: &Input) -> Result<u64, ClusterError> {
        let deadline = renewtwin_twin::live::now_us() + VOID_AFTER.as_micros() as u64;
        self.publish_with(input, Offer::Void(deadline)).await
    }

    async fn publish_with(&self, input: &Input, offer: Offer) -> Result<u64, ClusterError> {
        if !self.connected() {
            return Err(ClusterError::Unavailable(format!("not connected to NATS at {}", self.url)));
        }
        let payload = serde_json::to_vec(input).map_err(|e| ClusterError::Unavailable(e.to_string()))?;
        let message = PublishMessage::build().payload(payload.into());
        let message = match &offer {
            // Retried with the same id until taken, de-duplicated by the stream: never void.
            Offer::Id(id) => message.message_id(id.as_str()),
            Offer::Void(deadline) => message.header(VOID_HEADER, deadline.to_string()),
        };
        let started = Instant::now();
        let sent = async {
            let ack = self.js.send_publish(self.subject.clone(), message).await.map_err(|e| e.to_string())?;
            let ack = ack.await.map_err(|e| e.to_string())?;
            match offer {
                Offer::Void(deadline) if started.elapsed() > VOID_AFTER - CLOCK_MARGIN => {
                    // Late: in time only if the log stored it by its deadline (see VOID_AFTER).
                    let stream = self.js.get_stream(&self.stream).await.map_err(|e| e.to_string())?;
                    let stored = stream.get_raw_message(ack.sequence).await.map_err(|e| e.to_string())?;
                    let stored_us = micros(stored.time);
                    if in_time(Some(deadline), stored_us) {
                        Ok(ack)
                    } else {
                        Err(format!("the log took the write {} ms after its deadline, so no replica applies it", (stored_us.saturating_sub(deadline)) / 1000))
                    }
                }
                _ => Ok(ack),
            }
        };
        match tokio::time::timeout(PUBLISH_TIMEOUT, sent).await {
            Ok(Ok(ack)) => Ok(ack.sequence),
            Ok(Err(m)) => Err(ClusterError::Unavailable(m)),
            Err(_) => Err(ClusterError::Unavailable(format!("no acknowledgement within {} s", PUBLISH_TIMEOUT.as_secs()))),
        }
    }

    /// A clock-command sender for the server's state: each command goes onto the log (the
    /// WebSocket's controls; `/api/clock` publishes itself and answers after the ack).
    pub fn clock_sender(self: &Arc<Self>) -> std::sync::mpsc::Sender<ClockCommand> {
        let (tx, rx) = std::sync::mpsc::channel::<ClockCommand>();
        let cluster = self.clone();
        let spawned = std::thread::Builder::new().name("renewtwin-cluster-clock".into()).spawn(move || {
            while let Ok(command) = rx.recv() {
                if let Err(e) = cluster.runtime.block_on(cluster.publish(&Input::Clock(command))) {
                    tracing::warn!(error = %e, "a viewer's clock command was not put on the log");
                }
            }
        });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the clock forwarder");
        }
        tx
    }

    /// Joins the replicas: writes the genesis on an empty stream, applies the log from its
    /// first entry until caught up with the stream as it was on arrival, then keeps applying
    /// it, offers the clock's ticks, and routes `replica`'s governance events and consultation
    /// events through the log from now on.
    pub async fn run(self: &Arc<Self>, replica: Replica) -> Result<(), ClusterError> {
        let genesis = Input::Genesis { day: self.config.start_day, speed: self.config.speed };
        let payload = serde_json::to_vec(&genesis).map_err(|e| ClusterError::Unavailable(e.to_string()))?;
        let first = PublishMessage::build().payload(payload.into()).expected_last_sequence(0);
        // Refused when another replica wrote the stream's first entry: that one stands.
        if let Ok(ack) = self.js.send_publish(self.subject.clone(), first).await {
            drop(tokio::time::timeout(PUBLISH_TIMEOUT, ack).await);
        }
        let last = self.last_sequence().await?;
        let applier = self.clone();
        let target = replica.clone();
        tokio::spawn(async move { applier.apply_forever(target).await });
        let mut seen = self.applied.subscribe();
        let started = Instant::now();
        while *seen.borrow_and_update() < last {
            if tokio::time::timeout(Duration::from_secs(10), seen.changed()).await.is_err() {
                tracing::info!(applied = self.applied(), of = last, secs = started.elapsed().as_secs(), "catching up with the replicas' log");
            }
        }
        replica.plan.set_gate(Arc::new(Gate(self.clone())));
        // Consultation events are notices of records already stored: they queue here and one
        // task puts them on the log in order, retrying while NATS is away, each with a message
        // id of its own so that a retry after a lost acknowledgement is stored once.
        let (queue, mut queued) = tokio::sync::mpsc::channel::<LiveEvent>(LIVE_QUEUE);
        replica.civic.feed.set_forward(Box::new(move |event| {
            if let Err(e) = queue.try_send(event) {
                tracing::warn!(error = %e, "a consultation event was dropped from the full queue to the log (its record is stored)");
            }
        }));
        let forwarder = self.clone();
        tokio::spawn(async move {
            let origin = u64::from_le_bytes(renewtwin_civic::auth::random_bytes::<8>().unwrap_or_default());
            let mut n = 0_u64;
            while let Some(event) = queued.recv().await {
                n += 1;
                let input = Input::Live(event);
                let id = format!("live-{origin:016x}-{n}");
                let mut warned = false;
                while let Err(e) = forwarder.publish_with(&input, Offer::Id(id.clone())).await {
                    if !warned {
                        tracing::warn!(error = %e, "a consultation event waits for the log (its record is stored); retrying");
                        warned = true;
                    }
                    tokio::time::sleep(LIVE_RETRY).await;
                }
            }
        });
        let ticker = self.clone();
        tokio::spawn(async move { ticker.tick_forever(replica.live).await });
        Ok(())
    }

    async fn last_sequence(&self) -> Result<u64, ClusterError> {
        let failed = |message: String| ClusterError::Stream { url: self.url.clone(), stream: self.stream.clone(), message };
        let asked = async {
            let mut stream = self.js.get_stream(&self.stream).await.map_err(|e| e.to_string())?;
            stream.info().await.map(|i| i.state.last_sequence).map_err(|e| e.to_string())
        };
        tokio::time::timeout(PUBLISH_TIMEOUT, asked).await.map_err(|_| failed("no answer".into()))?.map_err(failed)
    }

    async fn tick_forever(self: Arc<Self>, live: Arc<LiveShared>) {
        let play = live.watch_play();
        loop {
            tokio::time::sleep(self.config.tick / 4).await;
            let playing = play.borrow().playing;
            let due = self.last_tick.lock().map(|t| t.elapsed() >= self.config.tick).unwrap_or(true);
            if !playing || !due || !self.connected() {
                continue;
            }
            let after = self.last_tick_entry.load(std::sync::atomic::Ordering::Relaxed);
            let at_us = renewtwin_twin::live::now_us();
            let since = at_us.saturating_sub(self.tick_measured_us.load(std::sync::atomic::Ordering::Relaxed));
            let passed = Duration::from_micros(since).min(MAX_TICK);
            let tick = Input::Tick { seconds: passed.as_secs_f64(), after, at_us };
            if let Ok(mut t) = self.last_tick.lock() {
                *t = Instant::now();
            }
            if let Err(e) = self.publish_with(&tick, Offer::Id(format!("tick-{after}"))).await {
                tracing::debug!(error = %e, "a tick was not put on the log");
            }
        }
    }

    async fn apply_forever(self: Arc<Self>, replica: Replica) {
        loop {
            let pause = match self.consume(&replica).await {
                Ok(()) => Duration::from_millis(500),
                Err(Consume::Unreachable(e)) => {
                    tracing::warn!(error = %e, applied = self.applied(), "the replicas' log is unreachable; retrying");
                    Duration::from_millis(500)
                }
                // Looked at again now and then: an operator may restore the stream.
                Err(Consume::Hole(hole)) => {
                    tracing::error!(%hole, applied = self.applied(), "the twin stands still: the replicas' log lost entries this replica needs");
                    Duration::from_secs(30)
                }
            };
            tokio::time::sleep(pause).await;
        }
    }

    async fn consume(&self, replica: &Replica) -> Result<(), Consume> {
        let from = self.applied() + 1;
        let stream = tokio::time::timeout(PUBLISH_TIMEOUT, self.js.get_stream(&self.stream))
            .await
            .map_err(|_| Consume::Unreachable("no answer".to_owned()))?
            .map_err(|e| Consume::Unreachable(e.to_string()))?;
        let config = OrderedConfig {
            filter_subject: self.subject.clone(),
            deliver_policy: DeliverPolicy::ByStartSequence { start_sequence: from },
            ..Default::default()
        };
        let consumer = tokio::time::timeout(PUBLISH_TIMEOUT, stream.create_consumer(config))
            .await
            .map_err(|_| Consume::Unreachable("no answer".to_owned()))?
            .map_err(|e| Consume::Unreachable(e.to_string()))?;
        let mut messages = consumer.messages().await.map_err(|e| Consume::Unreachable(e.to_string()))?;
        while let Some(message) = messages.next().await {
            let message = message.map_err(|e| Consume::Unreachable(e.to_string()))?;
            let info = message.info().map_err(|e| Consume::Unreachable(e.to_string()))?;
            let (seq, stored_us) = (info.stream_sequence, micros(info.published));
            match in_order(self.applied(), seq) {
                Ok(false) => continue,
                Ok(true) => {}
                Err(hole) => return Err(Consume::Hole(hole)),
            }
            let deadline = message.headers.as_ref().and_then(|h| h.get(VOID_HEADER)).map(|v| v.as_str().parse::<u64>());
            if let Some(deadline) = deadline
                && !in_time(deadline.ok(), stored_us)
            {
                tracing::warn!(seq, stored_us, "a write the log took after its deadline (its writer answered 503) is not applied");
                self.applied.send_replace(seq);
                continue;
            }
            match serde_json::from_slice::<Input>(&message.payload) {
                Ok(input) => self.apply(seq, input, replica).await,
                Err(e) => tracing::error!(seq, error = %e, "an entry of the replicas' log is not one this version reads; skipped"),
            }
            self.applied.send_replace(seq);
        }
        Ok(())
    }

    async fn apply(&self, seq: u64, input: Input, replica: &Replica) {
        let sim = replica.sim.clone();
        let step = |seconds: f64| {
            let sim = sim.clone();
            async move {
                if !matches!(tokio::task::spawn_blocking(move || sim.step(seconds)).await, Ok(true)) {
                    tracing::error!("the simulation stopped");
                }
            }
        };
        match input {
            Input::Genesis { day, speed } => {
                let commands = replica.sim.commands();
                let play = if speed > 0.0 { ClockCommand::Play } else { ClockCommand::Pause };
                for c in [ClockCommand::Seek(SimDay(day)), ClockCommand::Speed(speed), play] {
                    let _ = commands.send(c);
                }
                step(0.0).await;
            }
            Input::Tick { seconds, after, at_us } => {
                let last = self.last_tick_entry.load(std::sync::atomic::Ordering::Relaxed);
                if after < last {
                    return;
                }
                self.last_tick_entry.store(seq, std::sync::atomic::Ordering::Relaxed);
                step(seconds).await;
                if let Ok(mut t) = self.last_tick.lock() {
                    *t = Instant::now();
                }
                self.tick_measured_us.store(at_us, std::sync::atomic::Ordering::Relaxed);
            }
            Input::Clock(command) => {
                // Time before a command (a pause, a seek) is not the clock's to play.
                self.tick_measured_us.store(renewtwin_twin::live::now_us(), std::sync::atomic::Ordering::Relaxed);
                let _ = replica.sim.commands().send(command);
                step(0.0).await;
            }
            Input::Events { id, requests } => {
                let plan = replica.plan.clone();
                let result = tokio::task::spawn_blocking(move || plan.record_logged(requests))
                    .await
                    .unwrap_or(Err(EventError::Stopped));
                // The new plan is swapped in at this entry on every replica.
                step(0.0).await;
                let waiter = self.waiting.lock().ok().and_then(|mut w| w.remove(&id));
                if let Some(w) = waiter {
                    drop(w.send(result));
                } else if let Err(e) = result {
                    tracing::debug!(error = %e, "a logged event was refused here as everywhere");
                }
            }
            Input::Alerts(alerts) => replica.sensors.announce(&alerts),
            Input::Live(event) => replica.civic.feed.deliver(event),
        }
    }

    /// Puts events on the log and waits for this replica to record them.
    async fn record_through_log(&self, requests: Vec<EventRequest>) -> EventResult {
        let id = format!("{:032x}", random_id());
        let (tx, rx) = tokio::sync::oneshot::channel();
        if let Ok(mut w) = self.waiting.lock() {
            w.insert(id.clone(), tx);
        }
        let forget = || {
            if let Ok(mut w) = self.waiting.lock() {
                w.remove(&id);
            }
        };
        if let Err(e) = self.publish(&Input::Events { id: id.clone(), requests }).await {
            forget();
            return Err(EventError::Unavailable(e.to_string()));
        }
        match tokio::time::timeout(APPLY_TIMEOUT, rx).await {
            Ok(Ok(result)) => result,
            _ => {
                forget();
                // On the log, so every replica records it as it catches up; this one is slow.
                Err(EventError::Unavailable(format!(
                    "the event is on the replicas' log but this replica did not apply it within {} s",
                    APPLY_TIMEOUT.as_secs()
                )))
            }
        }
    }
}

fn random_id() -> u128 {
    let mut b = [0u8; 16];
    if getrandom::fill(&mut b).is_err() {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        return nanos ^ u128::from(std::process::id());
    }
    u128::from_le_bytes(b)
}

/// The plan's gate on a replica: events go through the log.
#[derive(Debug)]
struct Gate(Arc<Cluster>);

impl EventGate for Gate {
    fn record_all(&self, requests: Vec<EventRequest>) -> EventResult {
        // Called on blocking threads (the plan is re-resolved there): the publish runs on the
        // runtime, this thread waits for its answer.
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let cluster = self.0.clone();
        self.0.runtime.spawn(async move {
            drop(tx.send(cluster.record_through_log(requests).await));
        });
        rx.recv_timeout(PUBLISH_TIMEOUT + APPLY_TIMEOUT + Duration::from_secs(1))
            .unwrap_or_else(|_| Err(EventError::Unavailable("the replicas' log did not answer".into())))
    }
}

/// Starts a replica's server state: connects to NATS and the scene's stream (`scene_hash`), has
/// `build` make the state with a clock sender that goes through the log, joins the replicas
/// (replays the log into `sim`, see [`Cluster::run`]) and returns the state with its cluster.
pub async fn join(
    config: ClusterConfig,
    scene_hash: &str,
    sim: Arc<DrivenSim>,
    build: impl FnOnce(std::sync::mpsc::Sender<ClockCommand>) -> crate::AppState,
) -> Result<crate::AppState, ClusterError> {
    let cluster = Cluster::connect(config, scene_hash).await?;
    let state = build(cluster.clock_sender());
    cluster
        .run(Replica {
            sim,
            plan: state.plan.clone(),
            live: state.live.clone(),
            sensors: state.analytics.sensors.clone(),
            civic: state.civic.clone(),
        })
        .await?;
    Ok(state.with_cluster(cluster))
}

/// How a write is offered to the log.
enum Offer {
    /// With a message id: the stream keeps one of the offers with that id.
    Id(String),
    /// With a deadline ([`VOID_AFTER`]), microseconds since the Unix epoch.
    Void(u64),
}

/// A time nats-server stored an entry, in microseconds since the Unix epoch (0 before it).
fn micros(at: async_nats::datetime::DateTime) -> u64 {
    u64::try_from(at.unix_timestamp_nanos() / 1000).unwrap_or(0)
}

/// Whether a write with `deadline` (a header that does not parse counts as missed) that
/// nats-server stored at `stored_us` is applied. The same on every replica: both numbers are in
/// the log.
pub fn in_time(deadline: Option<u64>, stored_us: u64) -> bool {
    deadline.is_some_and(|d| stored_us <= d)
}

/// Why a replica stopped applying the log for now.
enum Consume {
    /// NATS or the stream did not answer.
    Unreachable(String),
    /// Entries are gone.
    Hole(Hole),
}

/// Entries of the log a replica needs that the stream no longer has.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("log entries {from}..={to} are gone from the stream (purged or removed by limits); the twin cannot be rebuilt past them")]
pub struct Hole {
    /// The first missing entry.
    pub from: u64,
    /// The last missing entry.
    pub to: u64,
}

/// Whether entry `seq` is the next to apply after `applied`: `Ok(false)` for one applied
/// already (a consumer recreated after an outage delivers from where it was asked, and the
/// server may repeat), `Err` where entries between are missing. The stream's sequence has no
/// gaps of its own (one subject; a de-duplicated offer takes no sequence), so a hole is entries
/// removed, and applying past it would give this replica a twin unlike the others'.
pub fn in_order(applied: u64, seq: u64) -> Result<bool, Hole> {
    match seq.checked_sub(applied) {
        None | Some(0) => Ok(false),
        Some(1) => Ok(true),
        Some(_) => Err(Hole { from: applied + 1, to: seq - 1 }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replica_applies_the_next_entry_skips_repeats_and_stops_at_a_hole() {
        assert_eq!(in_order(0, 1), Ok(true), "the first entry of an empty replica");
        assert_eq!(in_order(41, 42), Ok(true));
        assert_eq!(in_order(42, 42), Ok(false), "a repeat");
        assert_eq!(in_order(42, 7), Ok(false), "an old entry");
        assert_eq!(in_order(0, 5), Err(Hole { from: 1, to: 4 }), "a stream whose head was removed");
        let hole = in_order(10, 12).expect_err("entry 11 is missing");
        assert_eq!(hole, Hole { from: 11, to: 11 });
        assert!(hole.to_string().contains("11..=11"), "{hole}");
    }

    #[test]
    fn a_write_stored_after_its_deadline_is_not_applied() {
        // Offered at 1,000 s; its writer waits PUBLISH_TIMEOUT (5 s) for the acknowledgement.
        let offered = 1_000_000_000;
        let deadline = Some(offered + VOID_AFTER.as_micros() as u64);
        assert_eq!(VOID_AFTER, Duration::from_secs(3));
        assert!(PUBLISH_TIMEOUT - VOID_AFTER >= Duration::from_secs(2), "a write refused after PUBLISH_TIMEOUT is void with 2 s of clock difference");
        assert!(in_time(deadline, offered + 20_000), "stored 20 ms after the offer");
        assert!(in_time(deadline, offered + 3_000_000), "stored at the deadline");
        assert!(!in_time(deadline, offered + 3_000_001), "stored after it");
        assert!(!in_time(deadline, offered + 5_200_000), "kept by the client while NATS was away, sent on reconnect after the writer answered 503");
        assert!(!in_time(None, offered), "a deadline that does not parse");
    }
}
