//! What the in-process server tests share: the default scene through the real generator and
//! importer, and a server on port 0 with its simulation, stopped when dropped.

// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use renewtwin_importers::ImportConfig;
use renewtwin_server::{self as server, AppState};
use renewtwin_store::Store;
use renewtwin_twin::renewal::control::PlanControl;
use renewtwin_twin::scene;
use renewtwin_twin::sim::{self, SimConfig, SimInput};
use renewtwin_twin::wire::SceneStatic;

/// The built-in default scene, through the real generator and importer.
pub fn default_scene() -> renewtwin_twin::renewal::LoadedScene {
    let manifest = scene::Manifest::parse("default", scene::DEFAULT_MANIFEST)
        .expect("the default manifest parses");
    renewtwin_twin::renewal::LoadedScene::from_manifest(
        manifest,
        None,
        None,
        &ImportConfig::default(),
    )
    .expect("the default scene loads")
}

/// A server running in this process; dropping it shuts the server and the simulation down.
pub struct Running {
    pub addr: std::net::SocketAddr,
    pub plan: Arc<PlanControl>,
    pub store: Arc<Store>,
    /// The state the server runs on (to serve it again under another peer address).
    pub state: AppState,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    sim: Option<sim::SimHandle>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(sim) = self.sim.take() {
            sim.stop();
        }
    }
}

/// Serves `loaded` on 127.0.0.1 port 0 with an in-memory database, the clock running at
/// `speed` simulated days per second and ticking every 20 ms.
pub async fn start(loaded: renewtwin_twin::renewal::LoadedScene, speed: f64) -> Running {
    start_with(loaded, speed, false).await
}

/// As [`start`], with the scene's sensor, risk and population analytics running in the
/// simulation and storing into the server's database.
pub async fn start_with_analytics(
    loaded: renewtwin_twin::renewal::LoadedScene,
    speed: f64,
) -> Running {
    start_with(loaded, speed, true).await
}

async fn start_with(loaded: renewtwin_twin::renewal::LoadedScene, speed: f64, with_analytics: bool) -> Running {
    // SQLite in memory, or a fresh schema of RENEWTWIN_TEST_POSTGRES's server.
    let store = Arc::new(
        tokio::task::spawn_blocking(|| Store::for_test(&[renewtwin_civic::MIGRATIONS, renewtwin_store::sensors::MIGRATIONS]))
            .await
            .expect("the database opens")
            .expect("database"),
    );
    start_on(loaded, speed, with_analytics, store).await
}

/// As [`start`], over `store` (a server restarted on the database of an earlier one).
pub async fn start_with_store(loaded: renewtwin_twin::renewal::LoadedScene, speed: f64, store: Arc<Store>) -> Running {
    start_on(loaded, speed, false, store).await
}

/// The state a server of `loaded` runs on (no analytics), over `store`, with its simulation
/// (stop it when done).
pub fn prepare(loaded: renewtwin_twin::renewal::LoadedScene, speed: f64, store: Arc<Store>) -> (AppState, sim::SimHandle) {
    let wire = SceneStatic::build(&loaded).expect("the scene encodes");
    let config = SimConfig { speed, tick: Duration::from_millis(20), ..SimConfig::default() };
    let (live, sim) = sim::spawn(SimInput::from_scene(&loaded), config).expect("simulation starts");
    let plan = Arc::new(PlanControl::from_scene(loaded, None, sim.plans()));
    let key = renewtwin_civic::ballot_key::BallotKey::from_bytes([0x5a; 32]);
    renewtwin_civic::votes::adopt_key(&mut store.lock().expect("database"), &key).expect("the database adopts the key");
    let analytics = renewtwin_twin::analytics::AnalyticsFeeds::default();
    (AppState::new(Arc::new(wire), live, sim.commands(), plan, store, analytics, key), sim)
}

async fn start_on(loaded: renewtwin_twin::renewal::LoadedScene, speed: f64, with_analytics: bool, store: Arc<Store>) -> Running {
    let wire = SceneStatic::build(&loaded).expect("the scene encodes");
    let config = SimConfig { speed, tick: Duration::from_millis(20), ..SimConfig::default() };
    let mut input = SimInput::from_scene(&loaded);
    let mut analytics = renewtwin_twin::analytics::AnalyticsFeeds::default();
    if with_analytics {
        let log: Arc<dyn renewtwin_twin::sensors::log::SensorLog> = store.clone();
        let prepared = renewtwin_twin::analytics::Analytics::prepare(
            &loaded.manifest,
            &loaded.model,
            Some(log),
        )
        .expect("the scene's analytics prepare");
        analytics = prepared.feeds.clone();
        input = input.with_analytics(prepared);
    }
    let (live, sim) = sim::spawn(input, config).expect("simulation starts");
    let plan = Arc::new(PlanControl::from_scene(loaded, None, sim.plans()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind port 0");
    let addr = listener.local_addr().expect("local addr");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    // One key for every test server, so a server restarted on an earlier one's database
    // recognises its ballots (as `serve` does with its key file).
    let key = renewtwin_civic::ballot_key::BallotKey::from_bytes([0x5a; 32]);
    renewtwin_civic::votes::adopt_key(&mut store.lock().expect("database"), &key).expect("the database adopts the key");
    let state = AppState::new(Arc::new(wire), live, sim.commands(), plan.clone(), store.clone(), analytics, key);
    tokio::spawn(server::serve(listener, state.clone(), async {
        let _ = rx.await;
    }));
    Running {
        addr,
        plan,
        store,
        state,
        shutdown: Some(tx),
        sim: Some(sim),
    }
}

/// One HTTP/1.1 request over plain TCP with a JSON content type: the status, the header block
/// and the raw body. Written by hand so the tests see exactly what goes over the wire.
pub async fn http_raw(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: &str,
) -> (u16, String, Vec<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .await
        .expect("write request");
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut response))
        .await
        .expect("response in time")
        .expect("read response");
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header block");
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let body = response[split + 4..].to_vec();
    (status, head, body)
}

/// As [`http_raw`], with `Authorization: Bearer TOKEN` when `token` is given; the body parsed as
/// JSON (`Null` when it is not).
pub async fn http_json(addr: std::net::SocketAddr, method: &str, path: &str, token: Option<&str>, body: &str) -> (u16, serde_json::Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("write request");
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut response))
        .await
        .expect("response in time")
        .expect("read response");
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").expect("a header block");
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("status line");
    (status, serde_json::from_slice(&response[split + 4..]).unwrap_or(serde_json::Value::Null))
}

/// Seeks the shared clock to `day` as the operator (this machine) and waits until the twin is there.
pub async fn seek_to(addr: std::net::SocketAddr, day: i64) {
    let (status, body) = http_json(addr, "POST", "/api/clock", None, &format!("{{\"seek\": {day}}}")).await;
    assert_eq!(status, 202, "{body}");
    for _ in 0..500 {
        if http_json(addr, "GET", "/api/health", None, "").await.1["day"] == serde_json::json!(day) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the clock did not reach day {day}");
}

/// The first government account of a fresh server (bootstrap from this machine): its token.
pub async fn government(addr: std::net::SocketAddr) -> String {
    let (status, body) = http_json(addr, "POST", "/api/auth/bootstrap", None, r#"{"username": "gov", "password": "district office 1", "display_name": "街道办"}"#).await;
    assert_eq!(status, 201, "{body}");
    body["token"].as_str().expect("token").to_owned()
}

/// Signs up a resident of `household` (invited by `government`): its token.
pub async fn resident(addr: std::net::SocketAddr, government: &str, household: &str) -> String {
    let invitation = serde_json::json!({"role": "resident", "household": household, "building": "1号楼"}).to_string();
    let (status, code) = http_json(addr, "POST", "/api/invitations", Some(government), &invitation).await;
    assert_eq!(status, 201, "{code}");
    let signup = serde_json::json!({"invitation": code["code"], "username": format!("r{}", household.replace('-', "x")), "password": "long enough pw", "display_name": "住户"});
    let (status, body) = http_json(addr, "POST", "/api/auth/signup", None, &signup.to_string()).await;
    assert_eq!(status, 201, "{body}");
    body["token"].as_str().expect("token").to_owned()
}

/// Decides a consultation of `project` the way the API decides one: government opens it on the
/// current day with `questions`, each of `voters` (resident tokens) casts `alternative` on
/// every question, the clock moves to `close_day` and government closes it. Returns the
/// close's answer (with its `decision`).
pub async fn decide_by_ballots(
    addr: std::net::SocketAddr,
    government: &str,
    project: &str,
    questions: serde_json::Value,
    voters: &[String],
    alternative: i64,
    close_day: i64,
) -> serde_json::Value {
    let open = serde_json::json!({"project": project, "title": "意见征询", "questions": questions}).to_string();
    let (status, opened) = http_json(addr, "POST", "/api/consultations", Some(government), &open).await;
    assert_eq!(status, 201, "{opened}");
    let id = opened["id"].as_i64().expect("id");
    for q in opened["questions"].as_array().expect("questions") {
        let q = q["id"].as_i64().expect("question id");
        for token in voters {
            let (status, body) = http_json(addr, "PUT", &format!("/api/questions/{q}/vote"), Some(token), &format!("{{\"alternative\": {alternative}}}")).await;
            assert_eq!(status, 200, "{body}");
        }
    }
    seek_to(addr, close_day).await;
    let (status, closed) = http_json(addr, "POST", &format!("/api/consultations/{id}/close"), Some(government), "{}").await;
    assert_eq!(status, 200, "{closed}");
    closed
}
