//! Decisions that govern the twin, end to end over HTTP: a `choice` consultation makes the
//! winning scenario the played plan from its effective day, a consultation closes by itself
//! when its window ends (once, and across a restart), and the operator controls are checked by
//! role.

mod common;

use std::sync::Arc;

use renewtwin_civic::Audience;
use renewtwin_importers::ImportConfig;
use renewtwin_protocol::{LifecycleState, ServerMsg};
use renewtwin_twin::scene;
use serde_json::{Value, json};

/// One generated building; project `works` consults on days 0-5 (publicity 5 days, objection
/// window 3 days; one household in a hundred must take part, the Civil Code's 3/4 of them
/// consent), then approval and construction; a 60-day survey keeps the clock running while the
/// consultation is pending. Scenario `roofs` re-roofs during the consultation.
const SCENE: &str = "name = \"choice\"\nstart = \"2026-01-01\"\n[[models]]\ngenerate = { kind = \"district\", buildings = 1, seed = 2 }\n\
[[projects]]\nid = \"works\"\nname = \"Works\"\nphases = { consultation = 5, approval = 5, construction = 20 }\n\
[projects.decision]\nparticipation = { households = \"1/100\", area = \"1/100\" }\nobjection_days = 3\n\
[[projects.tasks]]\nid = \"shafts\"\nname = \"Shafts\"\nphase = \"construction\"\nduration = 10\naction = \"new\"\nselect = { class = [\"IfcTransportElement\"] }\n\
[[projects]]\nid = \"survey\"\nname = \"Survey (keeps the clock running while the consultation is pending)\"\nphases = { survey = 60 }\n\
[[scenarios]]\nname = \"roofs\"\ntitle = \"Re-roof too\"\n\
[[scenarios.tasks]]\nproject = \"works\"\nid = \"roofs\"\nname = \"Roofs\"\nphase = \"consultation\"\nduration = 5\naction = \"retrofit\"\nselect = { class = [\"IfcRoof\"] }\n";

fn loaded() -> renewtwin_twin::renewal::LoadedScene {
    let manifest = scene::Manifest::parse("choice.toml", SCENE).expect("manifest");
    renewtwin_twin::renewal::LoadedScene::from_manifest(manifest, None, None, &ImportConfig::default()).expect("loads")
}

/// Element states on `day` (`scenario`: a scenario as if played from the start).
async fn states(addr: std::net::SocketAddr, day: i64, scenario: Option<&str>) -> Vec<u8> {
    let path = match scenario {
        Some(s) => format!("/api/states?day={day}&scenario={s}"),
        None => format!("/api/states?day={day}"),
    };
    let (status, _, body) = common::http_raw(addr, "GET", &path, "").await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    body
}

fn state_byte(s: LifecycleState) -> u8 {
    LifecycleState::ALL.iter().position(|x| *x == s).expect("a state") as u8
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_choice_makes_the_winning_scenario_the_played_plan_from_its_effective_day() {
    let server = common::start(loaded(), 0.0).await;
    let addr = server.addr;
    let roofs: Vec<usize> = server.plan.model().elements.iter().enumerate().filter(|(_, e)| e.class.starts_with("IfcRoof")).map(|(i, _)| i).collect();
    assert!(!roofs.is_empty(), "the generated building has a roof");
    let gov = common::government(addr).await;
    let mut voters = Vec::new();
    for h in ["1-1-101", "1-1-102", "1-2-101"] {
        voters.push(common::resident(addr, &gov, h).await);
    }
    // A choice is only asked of a project decided as one project, at most one per consultation.
    let two = json!({"project": "works", "title": "t", "questions": [
        {"text": "a", "kind": "choice", "alternatives": ["base", "roofs"]},
        {"text": "b", "kind": "choice", "alternatives": ["base", "roofs"]}]});
    let (status, body) = common::http_json(addr, "POST", "/api/consultations", Some(&gov), &two.to_string()).await;
    assert_eq!(status, 400, "{body}");
    let mut feed = server.state.civic.feed.listen(Audience::Public);
    let question = json!([{"text": "选哪个方案？", "kind": "choice", "alternatives": ["base", "roofs"]}]);
    // All three households choose `roofs` (alternative 1); closed on day 5, in effect on day 8
    // (the objection window of 3 days).
    let closed = common::decide_by_ballots(addr, &gov, "works", question, &voters, 1, 5).await;
    let decision = &closed["decision"];
    assert_eq!((decision["scenario"].as_str(), decision["effective_day"].as_i64()), (Some("roofs"), Some(8)), "{closed}");
    assert_eq!(decision["questions"][0]["scopes"][0]["tally"], json!([0, 3]));
    // During the objection window (days 5-7) nothing is in effect yet; on day 8 it is.
    assert_eq!(closed["in_effect_day"], Value::Null, "{closed}");
    assert!(server.plan.choices().is_empty());
    let id = closed["id"].as_i64().expect("id");
    common::seek_to(addr, 8).await;
    let mut in_effect = Value::Null;
    for _ in 0..250 {
        in_effect = common::http_json(addr, "GET", &format!("/api/consultations/{id}"), None, "").await.1["in_effect_day"].clone();
        if !in_effect.is_null() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(in_effect, json!(8));

    // The live stream carries the consultation and then the plan change.
    let mut kinds = Vec::new();
    for _ in 0..20 {
        let next = tokio::time::timeout(std::time::Duration::from_secs(5), feed.next()).await.expect("an event in time");
        let ServerMsg::Consultation(e) = next else { panic!("{next:?}") };
        kinds.push(e.kind.clone());
        if e.kind == "plan" {
            let record: Value = serde_json::from_str(&e.record).expect("json");
            assert_eq!((record["scenario"].as_str(), record["effective_day"].as_i64()), (Some("roofs"), Some(8)), "{record}");
            break;
        }
    }
    assert!(kinds.iter().any(|k| k == "plan"), "{kinds:?}");
    // The audit log records the choice.
    let (_, log) = common::http_json(addr, "GET", "/api/audit", Some(&gov), "").await;
    let entry = log["entries"].as_array().expect("entries").iter().find(|e| e["action"] == "scenario_chosen").expect("logged").clone();
    assert_eq!(entry["detail"]["scenario"], "roofs", "{entry}");

    // Before the effective day the twin plays the base plan, from it the winner: the roofs,
    // which `roofs` played from the start would re-roof on days 0-5, start on day 8.
    let (before, after, done) = (states(addr, 7, None).await, states(addr, 8, None).await, states(addr, 13, None).await);
    let base_7 = states(addr, 7, Some("base")).await;
    assert_eq!(before, base_7, "day 7: the base plan");
    let fixed = states(addr, 2, Some("roofs")).await;
    for &r in &roofs {
        assert_eq!(fixed[r], state_byte(LifecycleState::UnderConstruction), "the scenario from the start re-roofs on day 2");
        assert_eq!(before[r], state_byte(LifecycleState::Existing));
        assert_eq!(after[r], state_byte(LifecycleState::UnderConstruction), "the winner's roofs from day 8");
        assert_eq!(done[r], state_byte(LifecycleState::Renewed));
        assert_eq!(states(addr, 13, Some("base")).await[r], state_byte(LifecycleState::Existing), "the base plan never re-roofs");
    }
    // What the API says is played, and why.
    common::seek_to(addr, 7).await;
    let (_, projects) = common::http_json(addr, "GET", "/api/projects", None, "").await;
    assert_eq!(projects["plan"]["scenario"], "base", "day 7: the choice is not in effect yet: {}", projects["plan"]);
    assert_eq!(projects["plan"]["choices"], json!([{"day": 8, "date": "2026-01-09", "project": "works", "scenario": "roofs"}]));
    common::seek_to(addr, 8).await;
    let (_, projects) = common::http_json(addr, "GET", "/api/projects", None, "").await;
    assert_eq!((projects["plan"]["scenario"].as_str(), projects["plan"]["started_with"].as_str()), (Some("roofs"), Some("base")));
    let (_, scenarios) = common::http_json(addr, "GET", "/api/viewer/scenarios", None, "").await;
    assert_eq!(scenarios["playing"], "roofs", "{scenarios}");
    // The live twin (the simulation) follows the plan too.
    let mut roof_state = None;
    for _ in 0..250 {
        let snap = server.state.live.snapshot();
        roof_state = snap.states.get(roofs[0]).copied();
        if roof_state == Some(LifecycleState::UnderConstruction) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(roof_state, Some(LifecycleState::UnderConstruction));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tie_adopts_no_scenario_and_the_plan_stays() {
    let server = common::start(loaded(), 0.0).await;
    let addr = server.addr;
    let gov = common::government(addr).await;
    let (a, b) = (common::resident(addr, &gov, "1-1-101").await, common::resident(addr, &gov, "1-1-102").await);
    // A third household declares its own floor area on its invitation (and does not vote).
    let invitation = json!({"role": "resident", "household": "1-2-101", "building": "1号楼", "floor_area_m2": 88.5}).to_string();
    assert_eq!(common::http_json(addr, "POST", "/api/invitations", Some(&gov), &invitation).await.0, 201);
    let bad = json!({"role": "resident", "household": "1-2-102", "building": "1号楼", "floor_area_m2": 0.0}).to_string();
    assert_eq!(common::http_json(addr, "POST", "/api/invitations", Some(&gov), &bad).await.0, 400);
    let question = json!([{"text": "选哪个方案？", "kind": "choice", "alternatives": ["base", "roofs"]}]);
    let open = json!({"project": "works", "title": "t", "questions": question}).to_string();
    let (_, opened) = common::http_json(addr, "POST", "/api/consultations", Some(&gov), &open).await;
    let q = opened["questions"][0]["id"].as_i64().expect("question");
    for (token, alternative) in [(&a, 0), (&b, 1)] {
        let (status, body) = common::http_json(addr, "PUT", &format!("/api/questions/{q}/vote"), Some(token), &format!("{{\"alternative\": {alternative}}}")).await;
        assert_eq!(status, 200, "{body}");
    }
    common::seek_to(addr, 5).await;
    let id = opened["id"].as_i64().expect("id");
    let (status, closed) = common::http_json(addr, "POST", &format!("/api/consultations/{id}/close"), Some(&gov), "{}").await;
    assert_eq!(status, 200, "{closed}");
    assert_eq!((closed["outcome"].as_str(), closed["decision"]["scenario"].as_str()), (Some("rejected"), None), "{closed}");
    let scope = &closed["decision"]["questions"][0]["scopes"][0];
    assert_eq!((scope["area_source"].as_str(), scope["declared_households"].as_u64()), (Some("declared_and_model"), Some(1)), "{scope}");
    assert!(server.plan.choices().is_empty());
    let (_, projects) = common::http_json(addr, "GET", "/api/projects", None, "").await;
    assert_eq!((projects["plan"]["scenario"].as_str(), projects["plan"]["choices"].clone()), (Some("base"), json!([])));
}

fn temp_db(name: &str) -> std::path::PathBuf {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    std::env::temp_dir().join(format!("renewtwin-{name}-{}-{nanos}.db", std::process::id()))
}

fn open_store(path: &std::path::Path) -> Arc<renewtwin_store::Store> {
    Arc::new(renewtwin_store::Store::open(path, &[renewtwin_civic::MIGRATIONS, renewtwin_store::sensors::MIGRATIONS]).expect("database"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consultation_closes_by_itself_when_its_window_ends_once_and_across_a_restart() {
    let path = temp_db("window");
    let store = open_store(&path);
    let server = common::start_with_store(loaded(), 0.0, store).await;
    let addr = server.addr;
    let gov = common::government(addr).await;
    let voter = common::resident(addr, &gov, "1-1-101").await;
    let open = json!({"project": "works", "title": "同意吗", "questions": [{"text": "同意吗？"}]}).to_string();
    let (_, opened) = common::http_json(addr, "POST", "/api/consultations", Some(&gov), &open).await;
    let (id, q) = (opened["id"].as_i64().expect("id"), opened["questions"][0]["id"].as_i64().expect("q"));
    let (status, _) = common::http_json(addr, "PUT", &format!("/api/questions/{q}/vote"), Some(&voter), r#"{"alternative": 0}"#).await;
    assert_eq!(status, 200);
    // Day 5 is the window's last day: still open (government may close it that day).
    common::seek_to(addr, 5).await;
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let (_, c) = common::http_json(addr, "GET", &format!("/api/consultations/{id}"), None, "").await;
    assert_eq!(c["status"], "open", "{c}");
    // The server stops before the window ends and restarts on the same database after it.
    drop(server);
    let store = open_store(&path);
    let server = common::start_with_store(loaded(), 0.0, store.clone()).await;
    let addr = server.addr;
    // Past the window's end and past the 3-day objection window that follows the close.
    common::seek_to(addr, 8).await;
    let mut closed = Value::Null;
    for _ in 0..250 {
        closed = common::http_json(addr, "GET", &format!("/api/consultations/{id}"), None, "").await.1;
        if closed["status"] == "closed" && !closed["in_effect_day"].is_null() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // Closed as government would close it, dated on the window's last day, from the ballots.
    assert_eq!((closed["status"].as_str(), closed["closed_day"].as_i64(), closed["outcome"].as_str()), (Some("closed"), Some(5), Some("approved")), "{closed}");
    assert_eq!(closed["decision"]["effective_day"], 8, "the objection window follows the close");
    assert_eq!(closed["in_effect_day"], 8, "no objection was filed: in effect when the window ended");
    assert!(closed["decision"]["questions"][0]["scopes"][0]["checks"].as_array().is_some_and(|c| c.len() == 4));
    let events = server.plan.events();
    assert_eq!(events.iter().filter(|e| matches!(e.kind, renewtwin_twin::manifest::EventKind::ConsultationClosed { .. })).count(), 1, "{events:?}");
    // Once: another pass closes nothing, and the audit log holds one close, by the system.
    let mut failed = std::collections::BTreeSet::new();
    assert!(renewtwin_server::civic::close_ended_windows(&server.state, &mut failed).await.is_empty());
    let (_, log) = common::http_json(addr, "GET", "/api/audit", Some(&gov), "").await;
    let closes: Vec<&Value> = log["entries"].as_array().expect("entries").iter().filter(|e| e["action"] == "consultation_closed").collect();
    assert_eq!(closes.len(), 1, "{log}");
    assert!(closes[0]["actor_role"].as_str().is_some_and(|r| r.starts_with("system")), "{}", closes[0]);
    assert_eq!(log["chain"]["intact"], true);
    // A third start replays the stored outcome into the plan (once).
    drop(server);
    let server = common::start_with_store(loaded(), 0.0, open_store(&path)).await;
    // The router replays the stored outcomes when it is built, as the server starts serving.
    assert_eq!(common::http_json(server.addr, "GET", "/api/health", None, "").await.0, 200);
    let events = server.plan.events();
    assert_eq!(events.iter().filter(|e| matches!(e.kind, renewtwin_twin::manifest::EventKind::ConsultationClosed { .. })).count(), 1);
    assert_eq!(events[0].day, 8);
    drop(server);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_controls_are_checked_by_role_and_decisions_are_refused_naming_their_route() {
    let server = common::start(loaded(), 0.0).await;
    let addr = server.addr;
    let gov = common::government(addr).await;
    let resident = common::resident(addr, &gov, "1-1-101").await;
    // On the server's own machine a resident is still a resident: refused.
    let (status, body) = common::http_json(addr, "POST", "/api/clock", Some(&resident), r#"{"seek": 3}"#).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("forbidden")), "{body}");
    let (status, body) = common::http_json(addr, "POST", "/api/events", Some(&resident), r#"{"kind": "owner_named", "project": "works", "day": 3, "name": "x"}"#).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = common::http_json(addr, "POST", "/api/sensors/readings", Some(&gov), r#"{"readings": []}"#).await;
    assert_eq!(status, 403, "government is no sensor gateway: {body}");
    assert!(body["message"].as_str().is_some_and(|m| m.contains("RENEWTWIN_SENSOR_TOKEN")), "{body}");
    // Government controls the clock and records an owner from anywhere (its role, not its address).
    let (status, body) = common::http_json(addr, "POST", "/api/clock", Some(&gov), r#"{"seek": 3}"#).await;
    assert_eq!(status, 202, "{body}");
    let (status, body) = common::http_json(addr, "POST", "/api/events", Some(&gov), r#"{"kind": "owner_named", "project": "works", "day": 3, "name": "物业"}"#).await;
    assert_eq!(status, 201, "{body}");
    let (_, log) = common::http_json(addr, "GET", "/api/audit", Some(&gov), "").await;
    let entry = log["entries"].as_array().expect("entries").iter().find(|e| e["action"] == "event_recorded").expect("logged").clone();
    assert_eq!(entry["actor_role"], "government", "{entry}");
    // Decisions are not recorded here, whoever asks.
    for (kind, route) in [
        (r#"{"kind": "consultation_closed", "project": "works", "day": 5, "outcome": "approved"}"#, "/api/consultations/{id}/close"),
        (r#"{"kind": "scenario_chosen", "project": "works", "day": 5, "scenario": "roofs"}"#, "/api/consultations/{id}/close"),
    ] {
        let (status, body) = common::http_json(addr, "POST", "/api/events", Some(&gov), kind).await;
        assert_eq!((status, body["error"].as_str()), (422, Some("decided_elsewhere")), "{body}");
        assert!(body["message"].as_str().is_some_and(|m| m.contains(route)), "{body}");
    }
    // The declared tokens: the operator's from another host, the sensor gateway's for readings only.
    let state = server
        .state
        .clone()
        .with_tokens(Some("operator-secret-0123456789".into()), Some("sensor-secret-0123456789".into()));
    let remote: std::net::SocketAddr = "203.0.113.7:40000".parse().expect("address");
    let headers = |t: &str| {
        let mut h = axum::http::HeaderMap::new();
        h.insert(axum::http::header::AUTHORIZATION, format!("Bearer {t}").parse().expect("header"));
        h
    };
    assert_eq!(state.controller(&headers("operator-secret-0123456789"), &remote, "x").await.ok(), Some(renewtwin_server::Controller::Operator));
    assert_eq!(state.controller(&headers("sensor-secret-0123456789"), &remote, "x").await.ok(), Some(renewtwin_server::Controller::SensorGateway));
    let refused = state.controller(&axum::http::HeaderMap::new(), &remote, "x").await.expect_err("a visitor from elsewhere");
    assert_eq!(refused.status(), 401);
    let local: std::net::SocketAddr = "127.0.0.1:40000".parse().expect("address");
    assert_eq!(state.controller(&axum::http::HeaderMap::new(), &local, "x").await.ok(), Some(renewtwin_server::Controller::Operator));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_takes_effect_only_after_its_objection_window_and_every_answer() {
    let server = common::start(loaded(), 0.0).await;
    let addr = server.addr;
    let gov = common::government(addr).await;
    let voter = common::resident(addr, &gov, "1-1-101").await;
    let neighbour = common::resident(addr, &gov, "1-1-102").await;
    let closed = common::decide_by_ballots(addr, &gov, "works", json!([{"text": "同意吗？"}]), std::slice::from_ref(&voter), 0, 5).await;
    let id = closed["id"].as_i64().expect("id");
    let objections = format!("/api/consultations/{id}/objections");
    // Day 6, inside the window (days 5-7): a resident objects; the public may not under this rule.
    common::seek_to(addr, 6).await;
    let (status, body) = common::http_json(addr, "POST", &objections, None, r#"{"text": "没有征求底层住户意见"}"#).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = common::http_json(addr, "POST", &objections, Some(&neighbour), &json!({"text": "x".repeat(5000)}).to_string()).await;
    assert_eq!(status, 400, "bounded text: {body}");
    let (status, filed) = common::http_json(addr, "POST", &objections, Some(&neighbour), r#"{"text": "没有征求底层住户意见"}"#).await;
    assert_eq!(status, 201, "{filed}");
    assert_eq!(filed["text"], "没有征求底层住户意见", "the filer sees their own objection");
    let objection = filed["id"].as_i64().expect("id");
    // Listed to government only, with the text.
    let (status, _) = common::http_json(addr, "GET", &objections, Some(&voter), "").await;
    assert_eq!(status, 403);
    let (status, list) = common::http_json(addr, "GET", &objections, Some(&gov), "").await;
    assert_eq!((status, list.as_array().map(Vec::len)), (200, Some(1)), "{list}");
    assert_eq!(list[0]["status"], "open");
    // Day 8: the window has ended, but the objection waits for its answer: nothing in effect.
    common::seek_to(addr, 8).await;
    let (status, body) = common::http_json(addr, "POST", &objections, Some(&voter), r#"{"text": "too late"}"#).await;
    assert_eq!(status, 409, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| m.contains("days 5-7")), "the refusal names the window: {body}");
    let mut failed = std::collections::BTreeSet::new();
    renewtwin_server::civic::close_ended_windows(&server.state, &mut failed).await;
    assert!(renewtwin_server::civic::settle_objection_windows(&server.state).await.expect("settles").is_empty());
    assert!(server.plan.events().is_empty(), "the decision waits for the answer");
    // Government answers on day 10: the decision takes effect on day 10.
    common::seek_to(addr, 10).await;
    let (status, answered) = common::http_json(addr, "POST", &format!("/api/objections/{objection}/answer"), Some(&gov), r#"{"answer": "已于5月3日上门征求意见"}"#).await;
    assert_eq!(status, 200, "{answered}");
    let (status, _) = common::http_json(addr, "POST", &format!("/api/objections/{objection}/answer"), Some(&gov), r#"{"answer": "again"}"#).await;
    assert_eq!(status, 409, "answered once");
    let (_, c) = common::http_json(addr, "GET", &format!("/api/consultations/{id}"), None, "").await;
    assert_eq!(c["in_effect_day"], 10, "{c}");
    let events = server.plan.events();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].day, 10);
    let (_, log) = common::http_json(addr, "GET", "/api/audit", Some(&gov), "").await;
    let actions: Vec<&str> = log["entries"].as_array().expect("entries").iter().filter_map(|e| e["action"].as_str()).collect();
    for action in ["objection_filed", "objection_answered", "decision_in_effect"] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
    let (_, public_log) = common::http_json(addr, "GET", "/api/audit", None, "").await;
    assert!(!public_log.to_string().contains("没有征求底层住户意见"), "the objection's text is not public");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evaluations_are_stored_records_read_by_government_and_evaluators() {
    let server = common::start(loaded(), 0.0).await;
    let addr = server.addr;
    let gov = common::government(addr).await;
    let invitation = json!({"role": "professional", "organisation": "第三方评估所", "capacity": "evaluator"}).to_string();
    let (_, code) = common::http_json(addr, "POST", "/api/invitations", Some(&gov), &invitation).await;
    let signup = json!({"invitation": code["code"], "username": "assessor", "password": "long enough pw", "display_name": "Zheng"}).to_string();
    let (status, evaluator) = common::http_json(addr, "POST", "/api/auth/signup", None, &signup).await;
    assert_eq!(status, 201, "{evaluator}");
    let evaluator = evaluator["token"].as_str().expect("token").to_owned();
    let resident = common::resident(addr, &gov, "1-1-101").await;
    let body = json!({"project": "works", "score": 4, "body": "公示程序完整"}).to_string();
    let (status, filed) = common::http_json(addr, "POST", "/api/evaluations", Some(&evaluator), &body).await;
    assert_eq!(status, 201, "{filed}");
    assert_eq!((filed["score"].as_i64(), filed["organisation"].as_str()), (Some(4), Some("第三方评估所")), "{filed}");
    let (status, _) = common::http_json(addr, "POST", "/api/evaluations", Some(&evaluator), r#"{"project": "nope", "score": 4, "body": "x"}"#).await;
    assert_eq!(status, 404);
    for token in [&gov, &evaluator] {
        let (status, list) = common::http_json(addr, "GET", "/api/evaluations?project=works", Some(token), "").await;
        assert_eq!((status, list.as_array().map(Vec::len)), (200, Some(1)), "{list}");
        assert_eq!(list[0]["body"], "公示程序完整");
    }
    assert_eq!(common::http_json(addr, "GET", "/api/evaluations", Some(&resident), "").await.0, 403);
    assert_eq!(common::http_json(addr, "GET", "/api/evaluations", None, "").await.0, 401);
    let (_, log) = common::http_json(addr, "GET", "/api/audit", Some(&gov), "").await;
    let entry = log["entries"].as_array().expect("entries").iter().find(|e| e["action"] == "evaluation_filed").expect("logged").clone();
    assert_eq!(entry["detail"]["evaluation"], filed["id"], "{entry}");
}
