//! The sensor routes end to end: the default scene with two real sensors is served in-process
//! (the real server, its simulation and its analytics), readings are POSTed in batches and sent
//! over the WebSocket, and the time series, the alerts with their evidence, the alert stream,
//! the retention task and the access rule are checked from the outside.
//!
//! The scene's dates are moved to 2020 so that every reading of the plan's days lies in the
//! past of any clock this test runs under (readings from the future are refused).

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use renewtwin_twin::scene::{DEFAULT_MANIFEST, Manifest};
use renewtwin_server::sensors::{now, spawn_retention};
use renewtwin_importers::ImportConfig;
use renewtwin_protocol::{ClientHello, ClientMsg, PROTOCOL_VERSION, SensorReading, ServerMsg};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const NOISE: &str = "gate-noise";
const DUST: &str = "gate-pm10";

/// Unix seconds of 2015-01-01: the retention keeps everything after it.
const KEEP_AFTER: i64 = 1_420_070_400;

/// The default scene moved to 2020, with a real noise and a real PM10 sensor at the gate and a
/// retention that keeps readings after 2015-01-01 (whatever today is).
fn scene_with_real_sensors() -> renewtwin_twin::renewal::LoadedScene {
    let retention_days = (now() - KEEP_AFTER) / 86_400;
    let mut text = DEFAULT_MANIFEST
        .replace("\"2026-", "\"2020-")
        .replace("[sensors]\n", &format!("[sensors]\nretention_days = {retention_days}\n"));
    for (id, kind) in [(NOISE, "noise"), (DUST, "pm10")] {
        text.push_str(&format!("\n[[sensors.sensors]]\nid = \"{id}\"\nkind = \"{kind}\"\nx = 0.0\ny = 0.0\nsource = \"real\"\n"));
    }
    let manifest = Manifest::parse("default scene with real sensors", &text).expect("the manifest parses");
    assert_eq!(manifest.start.to_string(), "2020-03-02", "the scene moved to 2020");
    renewtwin_twin::renewal::LoadedScene::from_manifest(manifest, None, None, &ImportConfig::default()).expect("the scene loads")
}

async fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, Value) {
    let (status, _, body) = common::http_raw(addr, method, path, body).await;
    let body = String::from_utf8_lossy(&body).into_owned();
    (status, serde_json::from_str(&body).unwrap_or(Value::String(body)))
}

async fn post_readings(addr: SocketAddr, readings: Value) -> (u16, Value) {
    http(addr, "POST", "/api/sensors/readings", &json!({ "readings": readings }).to_string()).await
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A WebSocket session without geometry, read up to the end of the scene.
async fn viewer(addr: SocketAddr) -> Ws {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await.expect("websocket connects");
    let hello = ClientHello { min_version: PROTOCOL_VERSION, max_version: PROTOCOL_VERSION, resume: None, geometry: false };
    send(&mut ws, &ClientMsg::Hello(hello)).await;
    loop {
        match next(&mut ws).await {
            ServerMsg::SceneComplete => return ws,
            ServerMsg::Error { code, message } => panic!("{code}: {message}"),
            _ => {}
        }
    }
}

async fn send(ws: &mut Ws, msg: &ClientMsg) {
    ws.send(Message::Binary(renewtwin_protocol::encode(msg).expect("encode").into())).await.expect("send");
}

async fn next(ws: &mut Ws) -> ServerMsg {
    let msg = tokio::time::timeout(Duration::from_secs(30), ws.next()).await.expect("a frame in time");
    match msg.expect("stream open").expect("frame ok") {
        Message::Binary(bytes) => renewtwin_protocol::decode(&bytes).expect("a valid server frame"),
        other => panic!("expected a binary frame, got {other:?}"),
    }
}

/// Reads until `pick` returns something, skipping everything else.
async fn until<T>(ws: &mut Ws, mut pick: impl FnMut(ServerMsg) -> Option<T>) -> T {
    loop {
        if let Some(t) = pick(next(ws).await) {
            return t;
        }
    }
}

fn task_ids(alert: &Value) -> Vec<String> {
    alert["evidence"]["tasks"].as_array().expect("evidence tasks").iter().map(|t| t["task"].as_str().expect("id").to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readings_posted_and_streamed_are_validated_stored_downsampled_alerted_and_expired() {
    // Paused on day 0, before any works: the alerts below must still name the works of their
    // own day.
    let server = common::start_with_analytics(scene_with_real_sensors(), 0.0).await;
    let hub = server.state.analytics.sensors.clone();
    let setup = hub.setup().clone();
    let addr = server.addr;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while hub.plan().is_none() {
        assert!(tokio::time::Instant::now() < deadline, "the simulation publishes its plan");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let plan = hub.plan().expect("plan");
    assert!(setup.works.active_on(&plan, 0).is_empty(), "nothing is at work on day 0, where the clock stands");
    let works_day = (0..plan.end).find(|&d| setup.works.active_on(&plan, d).iter().any(|a| a.noisy)).expect("a day of noisy works");
    let expected: Vec<String> = setup.works.active_on(&plan, works_day).into_iter().map(|a| a.task).collect();
    let at = |day: i32, hour: u32| setup.hour_t(day, hour);

    let mut ws = viewer(addr).await;

    // A batch with good, bad, repeated and out-of-order readings.
    let t = |h| at(works_day, h);
    let (status, report) = post_readings(
        addr,
        json!([
            {"sensor": NOISE, "t": t(11), "value": 65.0},
            {"sensor": NOISE, "t": t(9), "value": 60.0},
            {"sensor": NOISE, "t": t(10), "value": 75.0, "max": 80.0},
            {"sensor": NOISE, "t": t(10), "value": 75.0, "max": 80.0},
            {"sensor": "nowhere", "t": t(10), "value": 60.0},
            {"sensor": NOISE, "t": t(12), "value": 500.0},
            {"sensor": NOISE, "t": 100, "value": 60.0},
            {"sensor": NOISE, "t": now() + 2 * 86_400, "value": 60.0},
            {"sensor": NOISE, "t": t(13), "value": 60.0, "max": 50.0},
            {"sensor": DUST, "t": at(0, 10), "value": 120.0},
        ]),
    )
    .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["accepted"], 4, "{report}");
    assert_eq!(report["duplicates"], 1, "the repeat within the batch: {report}");
    let rejected: Vec<(u64, &str)> =
        report["rejected"].as_array().expect("rejected").iter().map(|r| (r["index"].as_u64().expect("index"), r["reason"].as_str().expect("reason"))).collect();
    assert_eq!(rejected.iter().map(|r| r.0).collect::<Vec<_>>(), vec![4, 5, 6, 7, 8], "{rejected:?}");
    assert!(rejected[0].1.contains("unknown sensor") && rejected[1].1.contains("plausible range"), "{rejected:?}");
    assert!(rejected[2].1.contains("before 2000") && rejected[3].1.contains("future") && rejected[4].1.contains("max"), "{rejected:?}");

    // Two alerts, each explained by the works of its own day, not by the simulation's day 0.
    let alerts = report["alerts"].as_array().expect("alerts");
    let noise = alerts.iter().find(|a| a["sensor"] == NOISE).expect("a noise alert");
    assert_eq!(noise["rule"], "noise_day");
    assert_eq!(noise["value"], 75.0);
    assert_eq!(noise["source"], "real");
    assert_eq!(task_ids(noise), expected, "the tasks at work on the reading's day");
    let shares = noise["evidence"]["tasks"].as_array().expect("tasks").iter().filter(|t| t["modelled"].is_number()).count();
    assert!(shares > 0, "with the noisy tasks' modelled share: {noise}");
    let dust = alerts.iter().find(|a| a["sensor"] == DUST).expect("a PM10 alert");
    assert_eq!(dust["rule"], "pm10");
    assert!(task_ids(dust).is_empty(), "nothing was at work on day 0: {dust}");

    // Streamed to the viewer.
    let streamed = until(&mut ws, |m| match m {
        ServerMsg::Alert(a) if a.sensor == NOISE => Some(a),
        _ => None,
    })
    .await;
    assert_eq!((streamed.rule.as_str(), streamed.value, streamed.tasks.clone()), ("noise_day", 75.0, expected.clone()));

    // Sending the same batch again stores nothing new and raises nothing new.
    let (_, again) = post_readings(addr, json!([{"sensor": NOISE, "t": t(10), "value": 75.0, "max": 80.0}, {"sensor": NOISE, "t": t(9), "value": 61.0}])).await;
    assert_eq!((again["accepted"].as_u64(), again["duplicates"].as_u64()), (Some(0), Some(2)), "{again}");
    assert_eq!(again["alerts"], json!([]));

    // Over the WebSocket: a late evening reading (after 22:00, night limit 55) of the same day.
    send(&mut ws, &ClientMsg::SensorReadings(vec![
        SensorReading { sensor: NOISE.into(), t: t(23), value: 58.0, max: Some(66.0) },
        SensorReading { sensor: NOISE.into(), t: t(23), value: 58.0, max: Some(66.0) },
        SensorReading { sensor: "nowhere".into(), t: t(23), value: 58.0, max: None },
    ]))
    .await;
    let ack = until(&mut ws, |m| match m {
        ServerMsg::SensorAck { accepted, duplicates, rejected } => Some((accepted, duplicates, rejected)),
        _ => None,
    })
    .await;
    assert_eq!(ack, (1, 1, 1));
    let night = until(&mut ws, |m| match m {
        ServerMsg::Alert(a) if a.sensor == NOISE && a.rule == "noise_night" => Some(a),
        _ => None,
    })
    .await;
    assert_eq!((night.value, night.limit, night.tasks.clone()), (58.0, 55.0, expected.clone()));

    // The series by sensor and range: hourly, then one daily bucket (mean, max, count).
    let (from, to) = (at(works_day, 0), at(works_day + 1, 0));
    let (status, hourly) = http(addr, "GET", &format!("/api/sensors/{NOISE}/series?from={from}&to={to}&step=3600"), "").await;
    assert_eq!(status, 200, "{hourly}");
    let buckets: Vec<(i64, f64, f64, i64)> = hourly["buckets"]
        .as_array()
        .expect("buckets")
        .iter()
        .map(|b| (b["t"].as_i64().expect("t"), b["avg"].as_f64().expect("avg"), b["max"].as_f64().expect("max"), b["count"].as_i64().expect("count")))
        .collect();
    assert_eq!(buckets, vec![(t(9), 60.0, 60.0, 1), (t(10), 75.0, 80.0, 1), (t(11), 65.0, 65.0, 1), (t(23), 58.0, 66.0, 1)], "in time order");
    let (_, daily) = http(addr, "GET", &format!("/api/sensors/{NOISE}/series?from={from}&to={to}&step=86400"), "").await;
    let counts: i64 = daily["buckets"].as_array().expect("buckets").iter().map(|b| b["count"].as_i64().expect("count")).sum();
    let worst = daily["buckets"].as_array().expect("buckets").iter().map(|b| b["max"].as_f64().expect("max")).fold(0.0, f64::max);
    assert_eq!((counts, worst), (4, 80.0), "{daily}");
    let (status, bad) = http(addr, "GET", &format!("/api/sensors/{NOISE}/series?from={to}&to={from}"), "").await;
    assert_eq!((status, bad["error"].as_str()), (400, Some("bad_request")));
    let (status, _) = http(addr, "GET", &format!("/api/sensors/{NOISE}/series?from=0&to={to}&step=1"), "").await;
    assert_eq!(status, 400, "too many buckets");
    // Extreme ranges and steps are refused as bad requests, not failed as server errors
    // (before: `step=i64::MAX` overflowed the bucket arithmetic and answered 500).
    for extreme in [
        "from=0001-01-01&to=9999-12-31&step=9223372036854775807",
        "from=-9223372036854775808&to=9223372036854775807&step=86400",
        "from=0&to=86400&step=9223372036854775807",
    ] {
        let (status, body) = http(addr, "GET", &format!("/api/sensors/{NOISE}/series?{extreme}"), "").await;
        assert_eq!(status, 400, "{extreme}: {body}");
    }
    let (status, _) = http(addr, "GET", "/api/sensors/nowhere/series", "").await;
    assert_eq!(status, 404);

    // Stored: the alerts list carries the evidence.
    let (status, stored) = http(addr, "GET", &format!("/api/alerts?from={}&to={}", at(0, 0), at(plan.end, 0)), "").await;
    assert_eq!(status, 200);
    let stored = stored["alerts"].as_array().expect("alerts").clone();
    let rules: std::collections::BTreeSet<&str> = stored.iter().map(|a| a["rule"].as_str().expect("rule")).collect();
    assert_eq!(rules, ["noise_day", "noise_night", "pm10"].into_iter().collect());
    let day_alert = stored.iter().find(|a| a["rule"] == "noise_day").expect("stored noise alert");
    assert_eq!(task_ids(day_alert), expected);
    assert_eq!(day_alert["evidence"]["readings"][0]["value"], 75.0);
    let (_, listed) = http(addr, "GET", "/api/sensors", "").await;
    let latest = listed["sensors"].as_array().expect("sensors").iter().find(|s| s["sensor"]["id"] == NOISE).expect("listed")["latest"].clone();
    assert_eq!(latest["t"].as_i64(), Some(t(23)), "the latest reading, whatever order they came in");

    // The layers the viewer colours by.
    let (status, population) = http(addr, "GET", "/api/population", "").await;
    assert_eq!(status, 200);
    assert_eq!(population["today"]["day"], 0, "today's disruption, on the clock's day");
    let pieces = population["model"]["tasks"].as_array().expect("tasks").iter().map(|t| t["pieces"].as_array().map_or(0, Vec::len)).sum::<usize>();
    assert!(pieces > 0, "each task's disruption, piece by piece");
    let (status, risk) = http(addr, "GET", "/api/risk", "").await;
    assert_eq!(status, 200);
    assert!(risk["warnings"].as_array().is_some_and(|w| !w.is_empty()), "{risk}");

    // Bodies that are not a batch, batches over the bound, bodies over 1 MiB.
    let (status, body) = http(addr, "POST", "/api/sensors/readings", "{\"readings\": [{\"sensor\": 1}]}").await;
    assert_eq!((status, body["error"].as_str()), (400, Some("bad_request")), "{body}");
    let many: Vec<Value> = (0..10_001).map(|i| json!({"sensor": NOISE, "t": KEEP_AFTER + i, "value": 50.0})).collect();
    let (status, body) = post_readings(addr, Value::Array(many)).await;
    assert_eq!((status, body["error"].as_str()), (413, Some("batch_too_large")), "{body}");
    let huge = format!("{{\"readings\": [], \"pad\": \"{}\"}}", "x".repeat(1024 * 1024));
    let (status, _) = http(addr, "POST", "/api/sensors/readings", &huge).await;
    assert_eq!(status, 413, "a body over 1 MiB is refused before it is parsed");

    // Retention: a reading from 2010 is older than the configured retention; the server's
    // retention task deletes it when it runs (at once, then hourly).
    let old = 1_262_304_000; // 2010-01-01
    let (_, r) = post_readings(addr, json!([{"sensor": NOISE, "t": old, "value": 50.0}])).await;
    assert_eq!(r["accepted"], 1, "{r}");
    let series_2010 = format!("/api/sensors/{NOISE}/series?from={old}&to={}&step=86400", old + 86_400);
    let (_, before) = http(addr, "GET", &series_2010, "").await;
    assert_eq!(before["buckets"].as_array().map(Vec::len), Some(1));
    let retention = spawn_retention(&server.state);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, after) = http(addr, "GET", &series_2010, "").await;
        if after["buckets"].as_array().is_some_and(Vec::is_empty) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the retention task deletes the 2010 reading");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    retention.abort();
    let (_, kept) = http(addr, "GET", &format!("/api/sensors/{NOISE}/series?from={from}&to={to}"), "").await;
    assert_eq!(kept["buckets"].as_array().map(Vec::len), Some(4), "readings inside the retention stay");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_on_other_hosts_may_read_but_not_send_readings() {
    let server = common::start_with_analytics(scene_with_real_sensors(), 0.0).await;
    // The same server state behind a listener that sees every client as 203.0.113.7.
    let remote = SocketAddr::from(([203, 0, 113, 7], 40_000));
    let app = renewtwin_server::router(server.state.clone()).layer(axum::extract::connect_info::MockConnectInfo(remote));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let serving = tokio::spawn(async move { axum::serve(listener, app).await });

    let t = server.state.analytics.sensors.setup().hour_t(0, 10);
    // No credential from another host: unauthorized (a sensor gateway sends its token).
    let (status, body) = post_readings(addr, json!([{"sensor": NOISE, "t": t, "value": 90.0}])).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("unauthorized")), "{body}");
    let (status, listed) = http(addr, "GET", "/api/sensors", "").await;
    assert_eq!(status, 200);
    assert_eq!(listed["sensors"][0]["latest"], Value::Null, "nothing was stored");

    let mut ws = viewer(addr).await;
    send(&mut ws, &ClientMsg::SensorReadings(vec![SensorReading { sensor: NOISE.into(), t, value: 90.0, max: None }])).await;
    let code = until(&mut ws, |m| match m {
        ServerMsg::Error { code, .. } => Some(code),
        ServerMsg::SensorAck { .. } => panic!("a remote client's readings were taken"),
        _ => None,
    })
    .await;
    assert_eq!(code, "forbidden");

    // The operator's own machine may.
    let (status, report) = post_readings(server.addr, json!([{"sensor": NOISE, "t": t, "value": 90.0}])).await;
    assert_eq!((status, report["accepted"].as_u64()), (200, Some(1)), "{report}");
    serving.abort();
}

/// A WebSocket session from `url` with an optional bearer token in the upgrade request, read up
/// to the end of the scene.
async fn viewer_with(url: &str, bearer: Option<&str>) -> Ws {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = url.into_client_request().expect("a request");
    if let Some(token) = bearer {
        request.headers_mut().insert("authorization", format!("Bearer {token}").parse().expect("header"));
    }
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.expect("websocket connects");
    let hello = ClientHello { min_version: PROTOCOL_VERSION, max_version: PROTOCOL_VERSION, resume: None, geometry: false };
    send(&mut ws, &ClientMsg::Hello(hello)).await;
    until(&mut ws, |m| match m {
        ServerMsg::SceneComplete => Some(()),
        ServerMsg::Error { code, message } => panic!("{code}: {message}"),
        _ => None,
    })
    .await;
    ws
}

/// The next refusal on `ws`: its code.
async fn refusal(ws: &mut Ws) -> String {
    until(ws, |m| match m {
        ServerMsg::Error { code, .. } => Some(code),
        ServerMsg::SensorAck { .. } => panic!("readings were taken"),
        _ => None,
    })
    .await
}

/// The answer to a batch of readings: the number accepted, or the refusal's code.
async fn readings_answer(ws: &mut Ws) -> Result<u32, String> {
    until(ws, |m| match m {
        ServerMsg::Error { code, .. } => Some(Err(code)),
        ServerMsg::SensorAck { accepted, .. } => Some(Ok(accepted)),
        _ => None,
    })
    .await
}

/// Waits until the server's clock stands on `day` (a command the session took is answered by
/// the twin's day, not by a reply).
async fn day_reaches(addr: SocketAddr, day: i32) {
    for _ in 0..500 {
        if common::http_json(addr, "GET", "/api/health", None, "").await.1["day"] == json!(day) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the clock did not reach day {day}");
}

/// Over the WebSocket, as over HTTP, the controls follow the credential, never the address
/// alone: from another host, a government account's session token (`?token=`, browsers) moves
/// the clock, a resident's does not; the sensor gateways' token (`Authorization: Bearer`) sends
/// readings but may not move the clock; the operator's token does both; no credential does
/// neither.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_controls_follow_the_credential_from_any_host() {
    const OPERATOR: &str = "operator-token-0123456789";
    const GATEWAY: &str = "gateway-token-0123456789";
    let server = common::start_with_analytics(scene_with_real_sensors(), 0.0).await;
    let government = common::government(server.addr).await;
    let resident = common::resident(server.addr, &government, "1-1-101").await;
    let remote = SocketAddr::from(([203, 0, 113, 7], 40_000));
    let state = server.state.clone().with_tokens(Some(OPERATOR.into()), Some(GATEWAY.into()));
    let app = renewtwin_server::router(state).layer(axum::extract::connect_info::MockConnectInfo(remote));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let serving = tokio::spawn(async move { axum::serve(listener, app).await });
    let url = format!("ws://{addr}/ws");
    let t = server.state.analytics.sensors.setup().hour_t(0, 10);
    let reading = || ClientMsg::SensorReadings(vec![SensorReading { sensor: NOISE.into(), t, value: 61.0, max: None }]);
    let seek = |day: i32| ClientMsg::Clock(renewtwin_protocol::ClockCommand::Seek(renewtwin_protocol::SimDay(day)));

    // No credential from another host: neither control.
    let mut anonymous = viewer_with(&url, None).await;
    send(&mut anonymous, &seek(40)).await;
    assert_eq!(refusal(&mut anonymous).await, "forbidden");
    send(&mut anonymous, &reading()).await;
    assert_eq!(readings_answer(&mut anonymous).await, Err("forbidden".into()));

    // A resident's session: refused, its role decides.
    let mut as_resident = viewer_with(&format!("{url}?token={resident}"), None).await;
    send(&mut as_resident, &seek(40)).await;
    assert_eq!(refusal(&mut as_resident).await, "forbidden");

    // Government's session token in the query: the clock moves; readings stay a gateway's.
    let mut as_government = viewer_with(&format!("{url}?token={government}"), None).await;
    send(&mut as_government, &seek(40)).await;
    day_reaches(server.addr, 40).await;
    send(&mut as_government, &reading()).await;
    assert_eq!(readings_answer(&mut as_government).await, Err("forbidden".into()));

    // The gateway's token in the header: readings taken, the clock refused.
    let mut gateway = viewer_with(&url, Some(GATEWAY)).await;
    send(&mut gateway, &reading()).await;
    assert_eq!(readings_answer(&mut gateway).await, Ok(1));
    send(&mut gateway, &seek(80)).await;
    assert_eq!(refusal(&mut gateway).await, "forbidden");

    // The operator's token: both.
    let mut operator = viewer_with(&url, Some(OPERATOR)).await;
    send(&mut operator, &seek(80)).await;
    day_reaches(server.addr, 80).await;
    serving.abort();
}
