//! Replicas over NATS (issue 18 items 2 and 3, and the fault rules), with real components: this
//! test starts a nats-server with JetStream (`-js -sd DIR`) itself and uses the throw-away
//! PostgreSQL of `RENEWTWIN_TEST_POSTGRES` (scripts/pg-throwaway.sh), then runs three replicas
//! of the default scene in this process, each with its own database connection and NATS client.
//!
//! It proves from the outside (HTTP and WebSocket) that clock commands and governance events
//! sent to different replicas leave every replica on the same log entry with the same delta
//! sequence number, day, element states and events; that an alert raised by a reading is
//! stored once and reaches every replica; that a viewer resumes on another replica by sequence
//! number and scene hash without the geometry; that while nats-server is down writes answer
//! 503 with `Retry-After`; and that after it restarts the replicas take writes again, and a
//! replica started afterwards rebuilds the same twin from the log (nothing acknowledged lost).
//!
//! Skips, saying why, without nats-server or PostgreSQL; `RENEWTWIN_REQUIRE_NATS=1` (and
//! `RENEWTWIN_REQUIRE_POSTGRES=1`) make their absence a failure, as `.ci/run` does.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use renewtwin_importers::ImportConfig;
use renewtwin_protocol::{ClientHello, ClientMsg, PROTOCOL_VERSION, Resume, ServerMsg};
use renewtwin_server::cluster::{self, ClusterConfig};
use renewtwin_server::nats_server::NatsServer;
use renewtwin_server::sensors::now;
use renewtwin_server::{self as server, AppState};
use renewtwin_store::Store;
use renewtwin_twin::renewal::control::PlanControl;
use renewtwin_twin::scene::{DEFAULT_MANIFEST, Manifest};
use renewtwin_twin::sim::{self, SimConfig, SimInput};
use renewtwin_twin::wire::SceneStatic;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const NOISE: &str = "gate-noise";

fn nats_server() -> Option<std::path::PathBuf> {
    let found = renewtwin_server::nats_server::find();
    if found.is_none() {
        assert!(
            std::env::var("RENEWTWIN_REQUIRE_NATS").as_deref() != Ok("1"),
            "cluster: RENEWTWIN_REQUIRE_NATS=1 but no nats-server is installed (scripts/setup.sh --test installs it)"
        );
        eprintln!("cluster: skipped: no nats-server (install it with scripts/setup.sh --test)");
    }
    found
}

/// A nats-server with JetStream, its store in a temporary folder removed when dropped.
struct Nats {
    server: NatsServer,
    dir: std::path::PathBuf,
}

impl Nats {
    fn start(bin: std::path::PathBuf) -> Self {
        let dir = std::env::temp_dir().join(format!("renewtwin-nats-{}", std::process::id()));
        Self { server: NatsServer::start(bin, &dir).expect("nats-server starts and listens"), dir }
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.server.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The default scene moved to 2020 (readings of its days are in the past) with a real noise
/// sensor at the gate.
fn scene() -> renewtwin_twin::renewal::LoadedScene {
    let mut text = DEFAULT_MANIFEST.replace("\"2026-", "\"2020-").replace("[sensors]\n", "[sensors]\nretention_days = 10000\n");
    text.push_str(&format!("\n[[sensors.sensors]]\nid = \"{NOISE}\"\nkind = \"noise\"\nx = 0.0\ny = 0.0\nsource = \"real\"\n"));
    let manifest = Manifest::parse("default scene with a real sensor", &text).expect("the manifest parses");
    renewtwin_twin::renewal::LoadedScene::from_manifest(manifest, None, None, &ImportConfig::default()).expect("the scene loads")
}

/// One replica served in this process.
struct Replica {
    addr: SocketAddr,
    state: AppState,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

async fn replica(url: &str, store: Arc<Store>) -> Replica {
    let loaded = tokio::task::spawn_blocking(scene).await.expect("the scene loads");
    let wire = SceneStatic::build(&loaded).expect("the scene encodes");
    let log: Arc<dyn renewtwin_twin::sensors::log::SensorLog> = store.clone();
    let analytics = renewtwin_twin::analytics::Analytics::prepare(&loaded.manifest, &loaded.model, Some(log)).expect("analytics");
    let feeds = analytics.feeds.clone();
    let (live, sim) = sim::spawn_driven(SimInput::from_scene(&loaded).with_analytics(analytics), SimConfig::default()).expect("simulation");
    let plan = Arc::new(PlanControl::from_scene(loaded, None, sim.plans()));
    let key = renewtwin_civic::ballot_key::BallotKey::from_bytes([0x5a; 32]);
    renewtwin_civic::votes::adopt_key(&mut store.lock().expect("database"), &key).expect("the database adopts the key");
    let config = ClusterConfig { url: url.to_owned(), tick: Duration::from_millis(100), start_day: 0, speed: 0.0 };
    let hash = wire.scene_hash.to_string();
    let state = cluster::join(config, &hash, Arc::new(sim), |clock| AppState::new(Arc::new(wire), live, clock, plan, store, feeds, key))
        .await
        .expect("the replica joins");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server::serve(listener, state.clone(), async {
        let _ = rx.await;
    }));
    Replica { addr, state, _shutdown: tx }
}

async fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String, Value) {
    let (status, head, body) = common::http_raw(addr, method, path, body).await;
    let body = String::from_utf8_lossy(&body).into_owned();
    (status, head, serde_json::from_str(&body).unwrap_or(Value::String(body)))
}

/// What must be the same on every replica: the last log entry applied, the delta sequence
/// number, the day, every element's state and the recorded events.
async fn twin(addr: SocketAddr) -> (u64, u64, i64, Vec<Value>, Value) {
    let (_, _, c) = http(addr, "GET", "/api/cluster", "").await;
    let (_, _, scene) = http(addr, "GET", "/api/scene", "").await;
    let (_, _, events) = http(addr, "GET", "/api/events", "").await;
    let states = scene["elements"].as_array().expect("elements").iter().map(|e| e["state"].clone()).collect();
    (c["applied"].as_u64().expect("applied"), c["seq"].as_u64().expect("seq"), c["day"].as_i64().expect("day"), states, events)
}

/// Waits until every replica applied the same log entries and shows the same twin; returns it.
async fn agreed(addrs: &[SocketAddr]) -> (u64, u64, i64, Vec<Value>, Value) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut all = Vec::new();
        for &a in addrs {
            all.push(twin(a).await);
        }
        if all.windows(2).all(|w| w[0] == w[1]) {
            return all.swap_remove(0);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the replicas agree within 30 s: applied {:?}, seq {:?}, day {:?}, states differing from the first's {:?}, events {:?}",
            all.iter().map(|t| t.0).collect::<Vec<_>>(),
            all.iter().map(|t| t.1).collect::<Vec<_>>(),
            all.iter().map(|t| t.2).collect::<Vec<_>>(),
            all.iter().map(|t| t.3.iter().zip(&all[0].3).filter(|(x, y)| x != y).count()).collect::<Vec<_>>(),
            all.iter().map(|t| (t.3.len(), t.4.as_array().map(Vec::len), t.4 == all[0].4, t.4.as_array().and_then(|a| a.last()).map(Value::to_string))).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn ws_connect(addr: SocketAddr, resume: Option<Resume>) -> Ws {
    let (mut ws, _) = tokio::time::timeout(Duration::from_secs(10), tokio_tungstenite::connect_async(format!("ws://{addr}/ws")))
        .await
        .expect("connects in time")
        .expect("websocket connects");
    let hello = ClientMsg::Hello(ClientHello { min_version: PROTOCOL_VERSION, max_version: PROTOCOL_VERSION, resume, geometry: true });
    ws.send(Message::Binary(renewtwin_protocol::encode(&hello).expect("encode").into())).await.expect("send");
    ws
}

async fn next(ws: &mut Ws) -> ServerMsg {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(30), ws.next()).await.expect("a frame in time").expect("open").expect("frame");
        if let Message::Binary(bytes) = frame {
            return renewtwin_protocol::decode(&bytes).expect("a valid server frame");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_over_nats_agree_resume_across_replicas_and_survive_a_nats_restart() {
    let Some(pg) = renewtwin_store::postgres_or_skip("cluster") else { return };
    let Some(bin) = nats_server() else { return };
    let mut nats = Nats::start(bin);
    let url = nats.server.url();
    let migrations = [renewtwin_civic::MIGRATIONS, renewtwin_store::sensors::MIGRATIONS];
    let first = Arc::new(Store::fresh_postgres_schema(&pg, &migrations).expect("a PostgreSQL schema"));
    let mut replicas = vec![replica(&url, first.clone()).await];
    for _ in 0..2 {
        replicas.push(replica(&url, Arc::new(first.reopen(&migrations).expect("another connection"))).await);
    }
    let [a, b, c] = [replicas[0].addr, replicas[1].addr, replicas[2].addr];
    let all = [a, b, c];
    let start = agreed(&all).await;
    assert!(start.0 >= 1, "the genesis is on the log");

    // A viewer on replica A takes the scene.
    let mut viewer = ws_connect(a, None).await;
    assert!(matches!(next(&mut viewer).await, ServerMsg::Hello { .. }));
    let header = match next(&mut viewer).await {
        ServerMsg::Scene(h) => h,
        other => panic!("the scene header first, not {other:?}"),
    };

    // Clock commands and an event, each sent to a different replica.
    let (status, _, body) = http(b, "POST", "/api/clock", r#"{"seek": 100}"#).await;
    assert_eq!(status, 202, "{body}");
    let (status, _, body) = http(c, "POST", "/api/events", &json!({"kind": "owner_named", "project": "lifts", "day": 300, "name": "物业公司"}).to_string()).await;
    assert_eq!(status, 201, "{body}");
    let (status, _, _) = http(a, "POST", "/api/clock", r#"{"speed": 40}"#).await;
    assert_eq!(status, 202);
    let (status, _, _) = http(b, "POST", "/api/clock", r#""play""#).await;
    assert_eq!(status, 202);
    // The clock plays (the replicas' ticks on the log) until past day 100 here, however
    // loaded the machine is, then pauses.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while twin(a).await.2 <= 100 {
        assert!(tokio::time::Instant::now() < deadline, "the clock plays past day 100 within 60 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, _, _) = http(c, "POST", "/api/clock", r#""pause""#).await;
    assert_eq!(status, 202);
    let played = agreed(&all).await;
    assert!(played.2 > 100, "the clock played past day 100 on every replica (day {})", played.2);
    assert!(played.1 > start.1, "deltas were published");
    let scene_events = start.4.as_array().map_or(0, Vec::len);
    assert_eq!(played.4.as_array().map(Vec::len), Some(scene_events + 1), "the event sent to C is recorded on every replica once: {}", played.4);
    assert!(played.4.to_string().contains("物业公司"), "{}", played.4);

    // The viewer on A saw every delta up to the agreed seq; it moves to B and resumes there.
    let mut last = header.seq;
    while last < played.1 {
        match next(&mut viewer).await {
            ServerMsg::State(d) => {
                assert!(d.seq > last, "deltas in order");
                last = d.seq;
            }
            ServerMsg::Meshes { .. } | ServerMsg::SceneComplete | ServerMsg::Clock(_) | ServerMsg::Resync { .. } => {}
            _ => {}
        }
    }
    drop(viewer);
    let mut resumed = ws_connect(b, Some(Resume { scene_hash: header.scene_hash, seq: last })).await;
    assert!(matches!(next(&mut resumed).await, ServerMsg::Hello { .. }));
    assert_eq!(next(&mut resumed).await, ServerMsg::Resumed { seq: last }, "B knows A's scene hash and sequence number");
    let (status, _, _) = http(c, "POST", "/api/clock", r#"{"seek": 10}"#).await;
    assert_eq!(status, 202);
    loop {
        match next(&mut resumed).await {
            ServerMsg::State(d) => {
                assert_eq!(d.seq, last + 1, "the next delta after the one A sent last, numbered as A numbers it");
                assert_eq!(d.day.0, 10);
                break;
            }
            ServerMsg::Clock(_) | ServerMsg::SensorReadings(_) | ServerMsg::Alert(_) | ServerMsg::Consultation(_) => {}
            other => panic!("a resumed viewer gets no scene or geometry again, not {other:?}"),
        }
    }
    drop(resumed);

    // A reading over the noise limit posted to A raises one alert, stored once, seen by all.
    let hub = replicas[0].state.analytics.sensors.clone();
    let plan = hub.plan().expect("the simulation published its plan");
    let setup = hub.setup().clone();
    let works_day = (0..plan.end).find(|&d| setup.works.active_on(&plan, d).iter().any(|w| w.noisy)).expect("a day of noisy works");
    let t = setup.hour_t(works_day, 10);
    assert!(t < now(), "the reading is in the past");
    let reading = json!({"readings": [{"sensor": NOISE, "t": t, "value": 75.0, "max": 80.0}]}).to_string();
    let (status, _, report) = http(a, "POST", "/api/sensors/readings", &reading).await;
    assert_eq!(status, 200, "{report}");
    let alert = report["alerts"][0]["id"].as_str().expect("an alert raised").to_owned();
    let (status, _, again) = http(b, "POST", "/api/sensors/readings", &reading).await;
    assert_eq!((status, &again["duplicates"], &again["alerts"]), (200, &json!(1), &json!([])), "the same reading on B is a duplicate: {again}");
    for r in &replicas {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !r.state.analytics.sensors.recent_alerts().iter().any(|x| x.id == alert) {
            assert!(tokio::time::Instant::now() < deadline, "the alert reaches replica {} through the log", r.addr);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let (_, _, stored) = http(c, "GET", &format!("/api/alerts?from={}&to={}", t - 3600, t + 3600), "").await;
    let stored = stored["alerts"].as_array().expect("alerts").iter().filter(|x| x["id"] == json!(alert)).count();
    assert_eq!(stored, 1, "the alert is stored once");
    let before = agreed(&all).await;

    // NATS goes away: writes are refused with 503 and Retry-After; nothing is acknowledged.
    nats.server.kill();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let (status, head, body) = loop {
        let answer = http(a, "POST", "/api/clock", r#""play""#).await;
        if answer.0 != 202 || tokio::time::Instant::now() > deadline {
            break answer;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(status, 503, "{body}");
    assert!(head.to_ascii_lowercase().contains("retry-after: "), "{head}");
    let (status, head, body) = http(b, "POST", "/api/events", &json!({"kind": "funding_named", "project": "lifts", "day": 310, "name": "区财政"}).to_string()).await;
    assert_eq!(status, 503, "{body}");
    assert!(head.to_ascii_lowercase().contains("retry-after: "), "{head}");
    assert_eq!(twin(c).await.4, before.4, "nothing was recorded while the log was away");

    // NATS comes back on its store: the replicas reconnect, take writes and agree again.
    nats.server.restart().expect("nats-server starts again");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let (status, body) = loop {
        let (status, _, body) = http(b, "POST", "/api/events", &json!({"kind": "funding_named", "project": "lifts", "day": 310, "name": "区财政"}).to_string()).await;
        if status != 503 || tokio::time::Instant::now() > deadline {
            break (status, body);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(status, 201, "{body}");
    let after = agreed(&all).await;
    assert_eq!(after.4.as_array().map(Vec::len), Some(scene_events + 2), "both acknowledged events, on every replica: {}", after.4);
    assert_eq!(after.2, before.2, "the refused play never happened");

    // A replica started now rebuilds the same twin from the log nats-server kept on disk.
    let late = replica(&url, Arc::new(first.reopen(&migrations).expect("another connection"))).await;
    let joined = agreed(&[a, b, c, late.addr]).await;
    assert_eq!(joined, after, "the late replica replays the log to the same entry, seq, day, states and events");
}
