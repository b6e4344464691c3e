//! Live streaming over a real socket: progressive quantized scene delivery, resume by sequence
//! number and scene hash, subscriptions, and the JSON form. The default scene is loaded through
//! the real generator and importer and served on port 0.

mod common;

use common::Running;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use renewtwin_protocol::{
    ClientHello, ClientMsg, Layers, PROTOCOL_VERSION, Resume, ResyncReason, SceneHash, SceneHeader, ServerMsg, StateDelta,
    Subscription,
};
use tokio_tungstenite::tungstenite::Message;

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn start(speed: f64) -> Running {
    common::start(common::default_scene(), speed).await
}

fn hello(resume: Option<Resume>, geometry: bool) -> ClientMsg {
    ClientMsg::Hello(ClientHello { min_version: PROTOCOL_VERSION, max_version: PROTOCOL_VERSION, resume, geometry })
}

async fn connect(addr: std::net::SocketAddr, first: &ClientMsg) -> Ws {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await.expect("websocket connects");
    send(&mut ws, first).await;
    ws
}

async fn send(ws: &mut Ws, msg: &ClientMsg) {
    ws.send(Message::Binary(renewtwin_protocol::encode(msg).expect("encode").into())).await.expect("send");
}

async fn next_frame(ws: &mut Ws) -> Message {
    tokio::time::timeout(Duration::from_secs(30), ws.next())
        .await
        .expect("a frame in time")
        .expect("stream open")
        .expect("frame ok")
}

async fn next(ws: &mut Ws) -> ServerMsg {
    match next_frame(ws).await {
        Message::Binary(bytes) => renewtwin_protocol::decode(&bytes).expect("a valid server frame"),
        other => panic!("expected a binary frame, got {other:?}"),
    }
}

/// Reads hello, header and every batch; returns the header and the batches' frame sizes and
/// messages.
async fn read_scene(ws: &mut Ws) -> (SceneHeader, Vec<(usize, ServerMsg)>) {
    assert!(matches!(next(ws).await, ServerMsg::Hello { protocol_version: PROTOCOL_VERSION, .. }));
    let header = match next(ws).await {
        ServerMsg::Scene(h) => h,
        other => panic!("expected the header, got {other:?}"),
    };
    let mut batches = Vec::new();
    loop {
        let Message::Binary(bytes) = next_frame(ws).await else { panic!("binary frames") };
        match renewtwin_protocol::decode::<ServerMsg>(&bytes).expect("valid") {
            ServerMsg::SceneComplete => break,
            msg @ ServerMsg::Meshes { .. } => batches.push((bytes.len(), msg)),
            other => panic!("expected meshes, got {other:?}"),
        }
    }
    (header, batches)
}

async fn next_delta(ws: &mut Ws) -> StateDelta {
    loop {
        if let ServerMsg::State(d) = next(ws).await {
            return d;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scene_arrives_quantized_in_a_small_first_batch_with_the_largest_elements_first() {
    let server = start(0.0).await;
    let mut ws = connect(server.addr, &hello(None, true)).await;
    let (header, batches) = read_scene(&mut ws).await;
    assert_eq!(header.batches as usize, batches.len(), "the header announces the batch count");
    assert_eq!(header.scene_bytes, batches.iter().map(|(n, _)| *n as u64).sum::<u64>());
    assert!(batches.len() >= 3, "the scene is split: {} batches", batches.len());
    let (first_len, _) = batches[0];
    let largest = batches.iter().map(|(n, _)| *n).max().unwrap_or_default();
    assert!(first_len < largest, "the first batch ({first_len} B) is smaller than the largest ({largest} B)");

    // Placement size = the placed mesh's bounding-box diagonal; the first batch averages larger.
    let mut sizes_by_mesh = std::collections::HashMap::new();
    let mut placement_sizes: Vec<Vec<f32>> = Vec::new();
    let mut triangles = 0usize;
    for (_, msg) in &batches {
        let ServerMsg::Meshes { meshes, placements } = msg else { unreachable!("only meshes were kept") };
        for m in meshes {
            let decoded = m.dequantize().expect("a consistent mesh");
            assert_eq!(decoded.positions.len() / 3, m.vertex_count as usize);
            let d = (0..3).map(|a| (m.max[a] - m.min[a]).powi(2)).sum::<f32>().sqrt();
            sizes_by_mesh.insert(m.id, (d, m.triangle_count()));
        }
        let mut sizes = Vec::new();
        for p in placements {
            let &(d, t) = sizes_by_mesh.get(&p.mesh).expect("a placement's mesh comes in the same or an earlier batch");
            sizes.push(d);
            triangles += t;
        }
        placement_sizes.push(sizes);
    }
    assert_eq!(triangles as u64, header.triangle_count, "every placed triangle arrives once");
    let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len().max(1) as f32;
    let all: Vec<f32> = placement_sizes.iter().flatten().copied().collect();
    let first = mean(&placement_sizes[0]);
    let last = mean(placement_sizes.last().expect("batches"));
    assert!(first > mean(&all) && first > last, "first batch mean size {first} m, overall {} m, last {last} m", mean(&all));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_reconnects_with_its_last_seq_gets_the_deltas_it_missed_without_the_scene() {
    let server = start(20.0).await;
    let mut ws = connect(server.addr, &hello(None, true)).await;
    let (header, _) = read_scene(&mut ws).await;
    let mut last = header.seq;
    for _ in 0..3 {
        last = next_delta(&mut ws).await.seq;
    }
    drop(ws);
    tokio::time::sleep(Duration::from_millis(600)).await;

    let mut ws = connect(server.addr, &hello(Some(Resume { scene_hash: header.scene_hash, seq: last }), true)).await;
    assert!(matches!(next(&mut ws).await, ServerMsg::Hello { .. }));
    assert_eq!(next(&mut ws).await, ServerMsg::Resumed { seq: last });
    let mut seqs = Vec::new();
    while seqs.len() < 5 {
        match next(&mut ws).await {
            ServerMsg::State(d) => seqs.push(d.seq),
            ServerMsg::Clock(_) => {}
            other => panic!("a resumed client gets deltas, not {other:?}"),
        }
    }
    let expected: Vec<u64> = (last + 1..=last + 5).collect();
    assert_eq!(seqs, expected, "every missed delta, in order, none twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_with_a_stale_scene_hash_or_a_seq_the_server_never_had_is_resynchronised() {
    let server = start(20.0).await;
    // A different scene: the whole scene again.
    let stale = Resume { scene_hash: SceneHash([1; 16]), seq: 3 };
    let mut ws = connect(server.addr, &hello(Some(stale), true)).await;
    let (header, batches) = read_scene(&mut ws).await;
    assert!(!batches.is_empty());

    // The same scene, but a seq from before a server restart (ahead of this server): a full
    // state, flagged as such, and no geometry.
    let ahead = Resume { scene_hash: header.scene_hash, seq: 1_000_000 };
    let mut ws = connect(server.addr, &hello(Some(ahead), true)).await;
    assert!(matches!(next(&mut ws).await, ServerMsg::Hello { .. }));
    assert_eq!(next(&mut ws).await, ServerMsg::Resumed { seq: 1_000_000 });
    assert_eq!(next(&mut ws).await, ServerMsg::Resync { reason: ResyncReason::ResumeGap, full: true });
    let full = next_delta(&mut ws).await;
    assert_eq!(full.changes.len(), header.elements.len(), "every element's state");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_filter_deltas_by_layer_and_by_storey() {
    let server = start(20.0).await;
    let mut ws = connect(server.addr, &hello(None, false)).await;
    let (header, batches) = read_scene(&mut ws).await;
    assert!(batches.is_empty() && header.batches == 0, "a client that asked for no geometry gets none");
    let is_pipe = |id: u32| header.elements[id as usize].class.starts_with("IfcPipe");
    let pipes = header.elements.iter().filter(|e| is_pipe(e.id)).count();
    assert!(pipes > 0, "the default district has pipes");

    let only_pipes = Subscription { layers: Layers { buildings: false, pipes: true, sensors: false, comments: false }, ..Default::default() };
    send(&mut ws, &ClientMsg::Subscribe(only_pipes)).await;
    loop {
        match next(&mut ws).await {
            ServerMsg::Resync { reason: ResyncReason::Subscription, full: true } => break,
            ServerMsg::State(_) | ServerMsg::Clock(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    let full = next_delta(&mut ws).await;
    assert_eq!(full.changes.len(), pipes, "the filtered full state holds every pipe and nothing else");
    assert!(full.changes.iter().all(|c| is_pipe(c.element)));
    for _ in 0..20 {
        let d = next_delta(&mut ws).await;
        assert!(d.changes.iter().all(|c| is_pipe(c.element)), "only pipes: {:?}", d.changes);
    }

    let storey = header.elements.iter().find_map(|e| e.storey.clone()).expect("elements have storeys");
    let in_storey = header.elements.iter().filter(|e| e.storey.as_ref() == Some(&storey)).count();
    send(&mut ws, &ClientMsg::Subscribe(Subscription { storey: Some(storey.clone()), ..Default::default() })).await;
    loop {
        if let ServerMsg::Resync { reason: ResyncReason::Subscription, .. } = next(&mut ws).await {
            break;
        }
    }
    let full = next_delta(&mut ws).await;
    assert_eq!(full.changes.len(), in_storey, "every element of storey {storey:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_subscription_gets_only_that_project_s_elements_and_phases() {
    let server = start(20.0).await;
    let manifest = server.plan.manifest().expect("a running plan");
    let mut ws = connect(server.addr, &hello(None, false)).await;
    let (header, _) = read_scene(&mut ws).await;
    // The default scene's lift project selects the new lift shafts (IfcTransportElement), its
    // pipe project new and old pipe segments and fittings.
    for (id, classes) in [("lifts", &["IfcTransportElement"][..]), ("pipes", &["IfcPipeSegment", "IfcPipeFitting"][..])] {
        let name = manifest.projects.iter().find(|p| p.id == id).map(|p| p.name.clone()).expect("the default scene has the project");
        let of_project = |element: u32| classes.contains(&header.elements[element as usize].class.as_str());
        send(&mut ws, &ClientMsg::Subscribe(Subscription { project: Some(name.clone()), ..Default::default() })).await;
        loop {
            if let ServerMsg::Resync { reason: ResyncReason::Subscription, full: true } = next(&mut ws).await {
                break;
            }
        }
        let full = next_delta(&mut ws).await;
        assert!(!full.changes.is_empty(), "project {id} has elements");
        assert!(full.changes.len() < header.elements.len() / 4, "project {id} is a small part of the scene: {}", full.changes.len());
        assert!(full.changes.iter().all(|c| of_project(c.element)), "project {id}: {:?}", full.changes);
        assert!(full.phases.iter().all(|p| p.project == name), "only {name}'s phases: {:?}", full.phases);
        for _ in 0..10 {
            let d = next_delta(&mut ws).await;
            assert!(d.changes.iter().all(|c| of_project(c.element)), "project {id}: {:?}", d.changes);
            assert!(d.phases.iter().all(|p| p.project == name), "only {name}'s phases: {:?}", d.phases);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_clients_get_text_frames_they_can_parse_without_postcard() {
    let server = start(20.0).await;
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://{}/ws?format=json", server.addr)).await.expect("websocket connects");
    ws.send(Message::Text(r#"{"Hello":{"min_version":2,"max_version":2,"resume":null,"geometry":false}}"#.into()))
        .await
        .expect("send");
    let mut kinds = Vec::new();
    while kinds.len() < 5 {
        let Message::Text(text) = next_frame(&mut ws).await else { panic!("JSON clients get text frames") };
        let value: serde_json::Value = serde_json::from_str(text.as_str()).expect("JSON");
        let kind = match &value {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Object(o) => o.keys().next().cloned().unwrap_or_default(),
            other => panic!("unexpected {other}"),
        };
        if kind == "State" {
            assert!(value["State"]["date"].as_str().is_some_and(|d| d.len() == 10), "dates are ISO strings: {value}");
        }
        // The clock may also report its first tick; only the first report is asserted on.
        if !(kind == "Clock" && kinds.last().is_some_and(|k| k == "Clock")) {
            kinds.push(kind);
        }
    }
    assert_eq!(&kinds[..4], ["Hello", "Scene", "SceneComplete", "Clock"]);
    assert_eq!(kinds[4], "State");
    ws.send(Message::Text(r#"{"Ping":5}"#.into())).await.expect("send");
    loop {
        let Message::Text(text) = next_frame(&mut ws).await else { panic!("text") };
        if text.as_str() == r#"{"Pong":5}"# {
            break;
        }
    }
}
