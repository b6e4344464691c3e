//! The viewer's HTTP API against a running server: `/api/states` answers from cached plans,
//! which must give the same bytes as resolving the plan afresh, every time, and must follow a
//! newly recorded event instead of serving the plan from before it.

mod common;

use renewtwin_twin::renewal::Plan;
use renewtwin_twin::scene;
use renewtwin_importers::ImportConfig;
use renewtwin_protocol::LifecycleState;

/// One request over plain TCP; the status and the raw body.
async fn http(addr: std::net::SocketAddr, method: &str, path: &str, body: &str) -> (u16, Vec<u8>) {
    let (status, head, body) = common::http_raw(addr, method, path, body).await;
    assert!(!head.to_ascii_lowercase().contains("transfer-encoding: chunked"), "a sized body: {head}");
    (status, body)
}

/// The states on `day` computed here from the manifest the server holds now.
fn expected_states(server: &common::Running, day: i32) -> Vec<u8> {
    let manifest = server.plan.manifest().expect("running");
    let plan = Plan::resolve(&manifest, None, server.plan.model()).expect("the plan resolves");
    plan.schedules
        .iter()
        .map(|s| LifecycleState::ALL.iter().position(|x| *x == s.state_on(day)).expect("a known state") as u8)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_state_requests_give_identical_answers_and_follow_a_recorded_event() {
    // One building whose lifts wait for a consultation outcome: recording it changes the plan.
    let text = "name = \"gate\"\nstart = \"2026-01-01\"\n[[models]]\ngenerate = { kind = \"district\", buildings = 1, seed = 2 }\n\
[[projects]]\nid = \"lifts\"\nname = \"Lifts\"\nphases = { consultation = 5, approval = 5, construction = 10 }\n\
[[projects.tasks]]\nid = \"shafts\"\nname = \"Shafts\"\nphase = \"construction\"\nduration = 10\naction = \"new\"\nselect = { class = [\"IfcTransportElement\"] }\n\
[projects.decision]\nparticipation = { households = \"1/100\", area = \"1/100\" }\n[[projects]]\nid = \"survey\"\nname = \"Survey (keeps the clock running while the consultation is pending)\"\nphases = { survey = 60 }\n";
    let manifest = scene::Manifest::parse("gate.toml", text).expect("manifest");
    let loaded = renewtwin_twin::renewal::LoadedScene::from_manifest(manifest, None, None, &ImportConfig::default()).expect("loads");
    let server = common::start(loaded, 0.0).await;

    let days = [0, 10, 40];
    let mut before = Vec::new();
    for day in days {
        let path = format!("/api/states?day={day}");
        let (status, first) = http(server.addr, "GET", &path, "").await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&first));
        for _ in 0..3 {
            assert_eq!(http(server.addr, "GET", &path, "").await.1, first, "day {day}: a repeated request answers the same");
        }
        assert_eq!(http(server.addr, "GET", &format!("{path}&scenario=base"), "").await.1, first, "the base plan is the plan played");
        assert_eq!(first, expected_states(&server, day), "day {day}: the cached answer is the resolved plan's");
        before.push(first);
    }

    // The consultation decides by ballot (one household agrees; the scene asks 1 in 100 to
    // take part), closing on day 5: a recorded outcome that changes the plan.
    let gov = common::government(server.addr).await;
    let voter = common::resident(server.addr, &gov, "1-1-101").await;
    let closed = common::decide_by_ballots(server.addr, &gov, "lifts", serde_json::json!([{"text": "同意吗？"}]), &[voter], 0, 5).await;
    assert_eq!(closed["outcome"], "approved", "{closed}");
    for (day, old) in days.into_iter().zip(before) {
        let (status, now) = http(server.addr, "GET", &format!("/api/states?day={day}"), "").await;
        assert_eq!(status, 200);
        assert_eq!(now, expected_states(&server, day), "day {day}: the answer follows the recorded event");
        if day == 40 {
            assert_ne!(now, old, "by day 40 the approved lifts are built, which the cached plan from before would not show");
        }
        assert_eq!(http(server.addr, "GET", &format!("/api/states?day={day}"), "").await.1, now);
    }
}
