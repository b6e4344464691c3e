//! The server end to end without a browser: the default scene is loaded through the real
//! generator and IFC importer, served on port 0, and a WebSocket client checks that the scene
//! and live updates arrive. HTTP endpoints are checked over a plain TCP connection.

mod common;

use common::Running;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use renewtwin_twin::scene::{self, SceneSource};
use renewtwin_importers::ImportConfig;
use renewtwin_protocol::{ClientMsg, ServerMsg};
use tokio_tungstenite::tungstenite::Message;

async fn start_default_scene(speed: f64) -> Running {
    let loaded = renewtwin_twin::renewal::LoadedScene::load(&SceneSource::Default, None, &ImportConfig::default(), None).expect("the default scene loads");
    start(loaded, speed).await
}

async fn start(loaded: renewtwin_twin::renewal::LoadedScene, speed: f64) -> Running {
    common::start(loaded, speed).await
}

async fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    http(addr, "GET", path, "").await
}

async fn http(addr: std::net::SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let (status, _, body) = common::http_raw(addr, method, path, body).await;
    (status, String::from_utf8_lossy(&body).into_owned())
}

async fn next<S>(ws: &mut S) -> ServerMsg
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let msg = tokio::time::timeout(Duration::from_secs(30), ws.next()).await.expect("a frame in time");
    decode(msg.expect("stream open").expect("frame ok"))
}

fn decode(msg: Message) -> ServerMsg {
    match msg {
        Message::Binary(bytes) => renewtwin_protocol::decode(&bytes).expect("a valid server frame"),
        other => panic!("expected a binary frame, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_client_gets_the_scene_then_live_updates() {
    // 20 simulated days per real second: lifecycles change within a few seconds.
    let server = start_default_scene(20.0).await;
    let url = format!("ws://{}/ws", server.addr);
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.expect("websocket connects");

    assert!(matches!(next(&mut ws).await, ServerMsg::Hello { protocol_version: renewtwin_protocol::PROTOCOL_VERSION, .. }));
    let header = match next(&mut ws).await {
        ServerMsg::Scene(h) => h,
        other => panic!("expected the scene header, got {other:?}"),
    };
    assert!(header.elements.len() > 100, "a district has many elements, got {}", header.elements.len());
    assert!(header.phases.len() >= 7, "every project has phases");
    let classes: std::collections::BTreeSet<_> = header.elements.iter().map(|e| e.class.as_str()).collect();
    for class in ["IfcWall", "IfcSlab", "IfcWindow", "IfcPipeSegment"] {
        assert!(classes.iter().any(|c| c.starts_with(class)), "the district has {class}: {classes:?}");
    }

    let mut meshes = 0;
    let mut placements = 0;
    loop {
        match next(&mut ws).await {
            ServerMsg::Meshes { meshes: m, placements: p } => {
                for mesh in &m {
                    // Quantized on the wire; dequantizing checks lengths and index ranges.
                    let mesh = mesh.dequantize().expect("a consistent mesh");
                    assert_eq!(mesh.positions.len(), mesh.normals.len());
                    assert!(mesh.positions.iter().all(|v| v.is_finite()));
                }
                meshes += m.len();
                placements += p.len();
            }
            ServerMsg::SceneComplete => break,
            other => panic!("expected meshes before SceneComplete, got {other:?}"),
        }
    }
    assert!(meshes > 0 && placements >= header.elements.len() / 2, "{meshes} meshes, {placements} placements");

    // Live: within a few seconds of simulated time, some element changes state.
    let mut changed = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while changed.is_empty() && tokio::time::Instant::now() < deadline {
        if let ServerMsg::State(delta) = next(&mut ws).await {
            assert!(delta.seq > header.seq, "deltas are newer than the header");
            changed = delta.changes;
        }
    }
    assert!(!changed.is_empty(), "a live lifecycle change arrived");
    assert!(changed.iter().all(|c| (c.element as usize) < header.elements.len()));

    // The client side of the protocol: ping is answered, garbage is refused with a reason.
    ws.send(Message::Binary(renewtwin_protocol::encode(&ClientMsg::Ping(7)).expect("encode").into())).await.expect("send ping");
    ws.send(Message::Binary(vec![0xde, 0xad].into())).await.expect("send garbage");
    let (mut pong, mut refused) = (false, false);
    while !(pong && refused) {
        match next(&mut ws).await {
            ServerMsg::Pong(7) => pong = true,
            ServerMsg::Error { code, .. } if code == "bad_frame" => refused = true,
            ServerMsg::State(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_scene_endpoints_answer_json() {
    let server = start_default_scene(0.0).await;
    let (status, body) = http_get(server.addr, "/api/health").await;
    assert_eq!(status, 200, "{body}");
    let health: serde_json::Value = serde_json::from_str(&body).expect("health is JSON");
    assert_eq!(health["status"], "ok");

    let (status, body) = http_get(server.addr, "/api/scene").await;
    assert_eq!(status, 200);
    let scene: serde_json::Value = serde_json::from_str(&body).expect("scene is JSON");
    let bbox = scene["bbox"].as_array().expect("bbox array");
    assert_eq!(bbox.len(), 6);
    let (min_x, max_x) = (bbox[0].as_f64().expect("number"), bbox[3].as_f64().expect("number"));
    assert!(max_x - min_x > 20.0, "several buildings span tens of metres: {bbox:?}");
    assert_eq!(scene["sim_date"], "2026-03-02", "paused on the plan's first day");
    let elements = scene["elements"].as_array().expect("elements");
    assert!(elements.iter().all(|e| e["global_id"].as_str().is_some_and(|g| g.len() == 22)));
    // On day 0 nothing has started: lifts are planned, everything else stands as surveyed.
    let states: std::collections::BTreeSet<_> = elements.iter().filter_map(|e| e["state"].as_str()).collect();
    assert!(states.contains("existing") && states.contains("planned"), "{states:?}");
    assert!(!scene["phases"].as_array().expect("phases").is_empty());

    let (status, _) = http_get(server.addr, "/no/such/file.js").await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consultation_outcome_recorded_over_http_opens_the_approval_phase() {
    let text = "name = \"gate\"\nstart = \"2026-01-01\"\n[[models]]\ngenerate = { kind = \"district\", buildings = 1, seed = 2 }\n\
[[projects]]\nid = \"lifts\"\nname = \"Lifts\"\nphases = { consultation = 5, approval = 5, construction = 10 }\n\
[[projects.tasks]]\nid = \"shafts\"\nname = \"Shafts\"\nphase = \"construction\"\nduration = 10\naction = \"new\"\nselect = { class = [\"IfcTransportElement\"] }\n\
[projects.decision]\nparticipation = { households = \"1/100\", area = \"1/100\" }\n[[projects]]\nid = \"survey\"\nname = \"Survey (keeps the clock running while the consultation is pending)\"\nphases = { survey = 60 }\n";
    let manifest = scene::Manifest::parse("gate.toml", text).expect("manifest");
    let loaded = renewtwin_twin::renewal::LoadedScene::from_manifest(manifest, None, None, &ImportConfig::default()).expect("loads");
    let server = start(loaded, 0.0).await;
    let approval_start = |scene: &serde_json::Value| {
        scene["phases"].as_array().expect("phases").iter().find(|p| p["kind"] == "approval").map(|p| p["start"].clone())
    };
    let (_, body) = http_get(server.addr, "/api/scene").await;
    let before: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(approval_start(&before), Some(serde_json::Value::Null), "blocked until the outcome is recorded");

    // An outcome is a decision: the operator cannot assert one, the ballots decide it.
    let (status, body) = http(server.addr, "POST", "/api/events", r#"{"kind":"consultation_closed","project":"lifts","day":7,"outcome":"approved"}"#).await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("decided_elsewhere") && body.contains("/api/consultations/{id}/close"), "{body}");
    let (status, body) = http(server.addr, "POST", "/api/events", r#"{"kind":"approval_granted","project":"lifts","approval":"fire","day":7}"#).await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("/api/approvals/{project}/{approval}"), "{body}");
    let (status, body) = http(server.addr, "POST", "/api/events", r#"{"kind":"owner_named","project":"nope","day":7,"name":"x"}"#).await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("no project"), "{body}");
    // One household of the building agrees; the scene's rule asks 1 in 100 to take part and
    // 3/4 of them to agree. The consultation (days 0-5) closes approved on day 5.
    let gov = common::government(server.addr).await;
    let voter = common::resident(server.addr, &gov, "1-1-101").await;
    let closed = common::decide_by_ballots(server.addr, &gov, "lifts", serde_json::json!([{"text": "同意加装电梯吗？"}]), &[voter], 0, 5).await;
    assert_eq!(closed["outcome"], "approved", "{closed}");

    // The simulation picks the new plan up at its next tick.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (_, body) = http_get(server.addr, "/api/scene").await;
        let after: serde_json::Value = serde_json::from_str(&body).expect("json");
        if approval_start(&after) == Some(serde_json::json!(5)) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the approval phase did not open: {after}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, events) = http_get(server.addr, "/api/events").await;
    assert!(events.contains("ConsultationClosed"), "{events}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clock_can_be_paused_and_seeked_by_a_local_client() {
    let server = start_default_scene(0.0).await;
    let (status, body) = http(server.addr, "POST", "/api/clock", r#"{"seek":200}"#).await;
    assert_eq!(status, 202, "{body}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (_, body) = http_get(server.addr, "/api/health").await;
        let health: serde_json::Value = serde_json::from_str(&body).expect("json");
        if health["day"] == 200 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the clock did not move to day 200: {health}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, body) = http(server.addr, "POST", "/api/clock", r#"{"warp":9}"#).await;
    assert_eq!(status, 400, "{body}");
}
