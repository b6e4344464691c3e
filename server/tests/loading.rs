//! Serving while the scene loads (issue 15, item 3): a viewer that connects while the
//! generated district is still meshing gets the batches made so far and then the rest
//! as they are made, then the final scene; a viewer that connects after the load gets the
//! same final scene as always, and the content-addressed frames route serves only the final
//! frames.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use renewtwin_importers::{ImportConfig, ImportEvent};
use renewtwin_protocol::{ClientHello, ClientMsg, PROTOCOL_VERSION, SceneHash, SceneHeader, ServerMsg};
use renewtwin_server::loading::Loading;
use renewtwin_twin::scene::SceneSource;
use tokio_tungstenite::tungstenite::Message;

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(addr: std::net::SocketAddr) -> Ws {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await.expect("websocket connects");
    let hello = ClientMsg::Hello(ClientHello { min_version: PROTOCOL_VERSION, max_version: PROTOCOL_VERSION, resume: None, geometry: true });
    ws.send(Message::Binary(renewtwin_protocol::encode(&hello).expect("encode").into())).await.expect("send");
    ws
}

async fn next(ws: &mut Ws) -> ServerMsg {
    let frame = tokio::time::timeout(Duration::from_secs(120), ws.next())
        .await
        .expect("a frame in time")
        .expect("stream open")
        .expect("frame ok");
    match frame {
        Message::Binary(bytes) => renewtwin_protocol::decode(&bytes).expect("a valid server frame"),
        other => panic!("expected a binary frame, got {other:?}"),
    }
}

/// What a run of `Meshes` messages draws: each placement as (element, mesh), and each mesh's
/// triangle count.
#[derive(Default, Debug)]
struct Drawn {
    placements: BTreeSet<(u32, u32)>,
    mesh_triangles: BTreeMap<u32, usize>,
    placed_triangles: u64,
}

impl Drawn {
    fn add(&mut self, msg: &ServerMsg) {
        let ServerMsg::Meshes { meshes, placements } = msg else { panic!("expected meshes, got {msg:?}") };
        for m in meshes {
            assert!(self.mesh_triangles.insert(m.id, m.triangle_count()).is_none(), "mesh {} sent twice in one scene", m.id);
        }
        for p in placements {
            let triangles = self.mesh_triangles.get(&p.mesh).unwrap_or_else(|| panic!("placement of mesh {} before the mesh", p.mesh));
            self.placed_triangles += *triangles as u64;
            self.placements.insert((p.element, p.mesh));
        }
    }
}

/// Reads a header's batches up to (not including) the next `Scene` or `SceneComplete`.
async fn read_batches(ws: &mut Ws, drawn: &mut Drawn) -> ServerMsg {
    loop {
        match next(ws).await {
            msg @ (ServerMsg::Scene(_) | ServerMsg::SceneComplete) => return msg,
            msg => drawn.add(&msg),
        }
    }
}

async fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, Vec<u8>) {
    let (status, _, body) = common::http_raw(addr, "GET", path, "").await;
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_connecting_while_the_district_meshes_gets_the_batches_as_made_then_the_final_scene() {
    let start = renewtwin_protocol::CivilDate::new(2026, 3, 1);
    let loading = Loading::new("loading test".into(), start);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
    let addr = listener.local_addr().expect("local addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(renewtwin_server::serve_loading(listener, loading.clone(), async {
        let _ = stopped.await;
    }));

    // The loader stops after its first meshed batch until the viewer has seen it, so the
    // viewer certainly connects while the district is still meshing.
    let (go_on, wait) = std::sync::mpsc::channel::<()>();
    let loader = {
        let loading = loading.clone();
        std::thread::spawn(move || {
            let mut wire = renewtwin_twin::wire::WireStream::default();
            let mut batches = 0u32;
            let mut on_event = |event: ImportEvent<'_>| match event {
                ImportEvent::Parsed { model } => {
                    let buildings = model.spatial.iter().filter(|n| n.kind == renewtwin_importers::SpatialKind::Building).count();
                    loading.parsed(renewtwin_twin::wire::element_infos(model), buildings as u32);
                }
                ImportEvent::Meshed(batch) => {
                    let range = wire.batch(batch.model, batch.elements).expect("the batch encodes");
                    let (meshes, triangles) = wire.counts();
                    loading.meshed(&wire.frames()[range], wire.bbox(), meshes, triangles);
                    batches += 1;
                    if batches == 1 {
                        wait.recv().expect("the test lets the load go on");
                    }
                }
            };
            // A scene of one generated district: one model streams (the default scene, with its
            // design variant, is two models placed together and comes whole).
            let dir = std::env::temp_dir().join(format!("renewtwin-loading-{}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("a temp dir");
            let path = dir.join("scene.toml");
            std::fs::write(&path, "name = \"streaming district\"\nstart = \"2026-03-01\"\n[[models]]\ngenerate = { kind = \"district\", buildings = 8, seed = 1 }\n")
                .expect("writes the scene");
            let loaded = renewtwin_twin::renewal::LoadedScene::load_streaming(&SceneSource::Manifest(path), None, &ImportConfig::default(), None, &mut on_event)
                .expect("the district loads");
            let _ = std::fs::remove_dir_all(&dir);
            (loaded, batches)
        })
    };

    let mut early = connect(addr).await;
    assert!(matches!(next(&mut early).await, ServerMsg::Hello { .. }));
    let provisional = match next(&mut early).await {
        ServerMsg::Scene(h) => h,
        other => panic!("expected the provisional header, got {other:?}"),
    };
    assert_eq!(provisional.scene_hash, SceneHash([0; 16]), "a provisional scene has no content hash to cache or resume by");
    assert!(!provisional.elements.is_empty() && provisional.batches >= 2, "{} elements, {} batches", provisional.elements.len(), provisional.batches);
    let mut first = Drawn::default();
    first.add(&next(&mut early).await);
    assert!(first.placed_triangles > 0, "the first batch draws triangles");
    // Still meshing: the loader is held after its first batch.
    let (status, body) = http_get(addr, "/api/health").await;
    let health: serde_json::Value = serde_json::from_slice(&body).expect("health is JSON");
    assert_eq!((status, health["status"].as_str(), health["loading"]["phase"].as_str()), (200, Some("loading"), Some("meshing")), "{health}");
    go_on.send(()).expect("the loader waits");

    // The load finishes and the server gets its state, while the viewer reads.
    let readied = {
        let loading = loading.clone();
        tokio::task::spawn_blocking(move || {
            let (loaded, batches) = loader.join().expect("the loader thread");
            let store = Arc::new(
                renewtwin_store::Store::in_memory(&[renewtwin_civic::MIGRATIONS, renewtwin_store::sensors::MIGRATIONS]).expect("store"),
            );
            let (state, sim) = common::prepare(loaded, 1.0, store);
            loading.ready(state);
            (sim, batches)
        })
    };

    // The rest of the provisional scene, then the final header and the whole final scene.
    let mut provisional_drawn = first;
    let final_header: SceneHeader = match read_batches(&mut early, &mut provisional_drawn).await {
        ServerMsg::Scene(h) => h,
        other => panic!("expected the final header after the provisional batches, got {other:?}"),
    };
    let mut early_final = Drawn::default();
    assert!(matches!(read_batches(&mut early, &mut early_final).await, ServerMsg::SceneComplete));
    assert!(matches!(next(&mut early).await, ServerMsg::Clock(_)), "the live session follows the scene");
    let (sim, batches) = readied.await.expect("the load");
    assert!(batches > 2, "the district streams in several batches, got {batches}");

    // What was drawn while loading is part of the final scene, mesh for mesh.
    assert!(!provisional_drawn.placements.is_empty());
    assert!(provisional_drawn.placements.is_subset(&early_final.placements), "provisional placements not in the final scene");
    for (mesh, triangles) in &provisional_drawn.mesh_triangles {
        assert_eq!(early_final.mesh_triangles.get(mesh), Some(triangles), "mesh {mesh}");
    }
    assert_ne!(final_header.scene_hash, SceneHash([0; 16]));
    assert_eq!(final_header.elements.iter().map(|e| &e.global_id).collect::<Vec<_>>(), provisional.elements.iter().map(|e| &e.global_id).collect::<Vec<_>>());
    assert_eq!(early_final.placed_triangles, final_header.triangle_count);

    // A viewer connecting after the load gets the same scene, frame for frame.
    let mut late = connect(addr).await;
    assert!(matches!(next(&mut late).await, ServerMsg::Hello { .. }));
    let late_header = match next(&mut late).await {
        ServerMsg::Scene(h) => h,
        other => panic!("expected the header, got {other:?}"),
    };
    let mut late_drawn = Drawn::default();
    assert!(matches!(read_batches(&mut late, &mut late_drawn).await, ServerMsg::SceneComplete));
    assert_eq!((late_header.scene_hash, late_header.batches, late_header.triangle_count), (final_header.scene_hash, final_header.batches, final_header.triangle_count));
    assert_eq!(late_header.elements.len(), final_header.elements.len());
    assert_eq!(late_drawn.placements, early_final.placements);
    assert_eq!(late_drawn.placed_triangles, early_final.placed_triangles);

    // The frames route serves the final frames under the final hash only.
    let (status, body) = http_get(addr, &format!("/api/scene/{}/frames/0", final_header.scene_hash)).await;
    assert_eq!(status, 200);
    let frame: ServerMsg = renewtwin_protocol::decode(&body).expect("a Meshes frame");
    assert!(matches!(frame, ServerMsg::Meshes { .. }));
    let (status, _) = http_get(addr, &format!("/api/scene/{}/frames/0", SceneHash([0; 16]))).await;
    assert_eq!(status, 404, "the provisional scene's zero hash names no frames");
    let (status, body) = http_get(addr, "/api/health").await;
    let health: serde_json::Value = serde_json::from_slice(&body).expect("health is JSON");
    assert_eq!((status, health["status"].as_str()), (200, Some("ok")), "{health}");

    let _ = stop.send(());
    sim.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_made_while_loading_wait_for_the_scene_and_a_failed_load_answers_503() {
    let start = renewtwin_protocol::CivilDate::new(2026, 3, 1);
    let loading = Loading::new("failing".into(), start);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(renewtwin_server::serve_loading(listener, loading.clone(), std::future::pending()));
    let (status, body) = http_get(addr, "/api/health").await;
    let health: serde_json::Value = serde_json::from_slice(&body).expect("health is JSON");
    assert_eq!((status, health["loading"]["phase"].as_str()), (200, Some("parsing")), "{health}");
    let waiting = tokio::spawn(async move { http_get(addr, "/api/scene").await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!waiting.is_finished(), "/api/scene waits for the load");
    loading.failed("the file is not IFC".into());
    let (status, body) = waiting.await.expect("the request");
    let body: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!((status, body["error"].as_str()), (503, Some("scene_not_loaded")), "{body}");
    assert!(body["message"].as_str().is_some_and(|m| m.contains("not IFC")), "{body}");
}
