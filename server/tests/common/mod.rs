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

async fn start_with(
    loaded: renewtwin_twin::renewal::LoadedScene,
    speed: f64,
    with_analytics: bool,
) -> Running {
    let wire = SceneStatic::build(&loaded).expect("the scene encodes");
    let config = SimConfig { speed, tick: Duration::from_millis(20), ..SimConfig::default() };
    // SQLite in memory, or a fresh schema of RENEWTWIN_TEST_POSTGRES's server.
    let store = Arc::new(
        tokio::task::spawn_blocking(|| Store::for_test(&[renewtwin_civic::MIGRATIONS, renewtwin_store::sensors::MIGRATIONS]))
            .await
            .expect("the database opens")
            .expect("database"),
    );
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
    let key = renewtwin_civic::ballot_key::BallotKey::ephemeral().expect("a random ballot key");
    renewtwin_civic::votes::adopt_key(&mut store.lock().expect("database"), &key).expect("the fresh database adopts the key");
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
