//! The public consultation API end to end over real TCP: the endpoint × role matrix (every
//! refusal included), a resident's path (sign up, comment, vote, report), the privacy classes at
//! the API and on the live WebSocket, moderation, BCF round trips, indicators, and the outcome
//! that opens the phase gate.

mod common;

use common::Running;
use std::time::Duration;

use futures_util::StreamExt;
use renewtwin_twin::scene::SceneSource;
use renewtwin_importers::ImportConfig;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn start() -> Running {
    common::start(renewtwin_twin::renewal::LoadedScene::load(&SceneSource::Default, None, &ImportConfig::default(), None).expect("the default scene loads"), 0.0).await
}

struct Reply {
    status: u16,
    headers: String,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

async fn call(addr: std::net::SocketAddr, method: &str, path: &str, token: Option<&str>, body: &[u8]) -> Reply {
    // A request refused before its body is read may see the connection reset under the reply
    // (the server closes with unread bytes); try again then.
    for _ in 0..4 {
        if let Some(reply) = try_call(addr, method, path, token, body).await {
            return reply;
        }
    }
    panic!("{method} {path}: the connection was reset four times");
}

async fn try_call(addr: std::net::SocketAddr, method: &str, path: &str, token: Option<&str>, body: &[u8]) -> Option<Reply> {
    let body = if method == "GET" || method == "DELETE" { &[][..] } else { body };
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.ok()?;
    stream.write_all(body).await.ok()?;
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut response)).await.expect("in time").ok()?;
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").expect("header end");
    let headers = String::from_utf8_lossy(&response[..split]).into_owned();
    let status = headers.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("status");
    let mut body = response[split + 4..].to_vec();
    if headers.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    Some(Reply { status, headers, body })
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(line_end) = b.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&b[..line_end]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&b[line_end + 2..line_end + 2 + size]);
        b = &b[line_end + 4 + size..];
    }
    out
}

async fn post(addr: std::net::SocketAddr, path: &str, token: Option<&str>, body: Value) -> Reply {
    call(addr, "POST", path, token, body.to_string().as_bytes()).await
}

/// Accounts of every role and capacity on a running server.
struct People {
    government: String,
    /// A designer (professional, capacity designer).
    professional: String,
    professional_id: i64,
    /// The housing and construction bureau: decides the lifts' fire review and construction permit.
    authority: String,
    contractor: String,
    property_manager: String,
    evaluator: String,
    resident: String,
    neighbour: String,
}

/// The housing bureau as the default scene's approvals name it.
const HOUSING_BUREAU: &str = "住房和城乡建设局 Housing and construction bureau";

async fn people(addr: std::net::SocketAddr) -> People {
    let gov = post(addr, "/api/auth/bootstrap", None, json!({"username": "gov", "password": "district office 1", "display_name": "街道办 Li"})).await;
    assert_eq!(gov.status, 201, "{}", String::from_utf8_lossy(&gov.body));
    let government = gov.json()["token"].as_str().expect("token").to_owned();
    let sign = async |invitation: Value, username: &str, name: &str| -> (String, i64) {
        let code = post(addr, "/api/invitations", Some(&government), invitation).await;
        assert_eq!(code.status, 201, "{}", String::from_utf8_lossy(&code.body));
        let code = code.json()["code"].as_str().expect("code").to_owned();
        let r = post(
            addr,
            "/api/auth/signup",
            None,
            json!({"invitation": code, "username": username, "password": "long enough pw", "display_name": name, "phone": "13800000000"}),
        )
        .await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        (r.json()["token"].as_str().expect("token").to_owned(), r.json()["id"].as_i64().expect("id"))
    };
    let (professional, professional_id) =
        sign(json!({"role": "professional", "organisation": "市设计院", "capacity": "designer"}), "designer", "Zhao Design").await;
    let (authority, _) = sign(json!({"role": "authority", "organisation": HOUSING_BUREAU}), "housing", "住建局 Sun").await;
    let (contractor, _) = sign(json!({"role": "professional", "organisation": "城建集团", "capacity": "contractor"}), "builder", "Qian Build").await;
    let (property_manager, _) =
        sign(json!({"role": "professional", "organisation": "物业公司", "capacity": "property_manager"}), "estate", "Wu Estate").await;
    let (evaluator, _) = sign(json!({"role": "professional", "organisation": "第三方评估所", "capacity": "evaluator"}), "assessor", "Zheng Eval").await;
    let (resident, _) = sign(json!({"role": "resident", "household": "B1-1-101", "building": "B1"}), "fang", "王芳").await;
    let (neighbour, _) = sign(json!({"role": "resident", "household": "B1-1-102", "building": "B1"}), "ming", "张明").await;
    People { government, professional, professional_id, authority, contractor, property_manager, evaluator, resident, neighbour }
}

async fn element(addr: std::net::SocketAddr) -> String {
    let scene = call(addr, "GET", "/api/scene", None, b"").await.json();
    scene["elements"][0]["global_id"].as_str().expect("an element").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_allows_exactly_its_roles() {
    let server = start().await;
    let addr = server.addr;
    let p = people(addr).await;
    let doc = call(addr, "GET", "/api/openapi.json", None, b"").await.json();
    let paths = doc["paths"].as_object().expect("paths").clone();
    // Every route of the server, the twin's and the viewer's included (the endpoints module's
    // own test checks the table against the router's source).
    for route in ["/api/health", "/api/scene", "/ws", "/api/clock", "/api/events", "/api/states", "/api/sensors", "/", "/{*path}", "/api/audit", "/api/approvals"] {
        assert!(paths.contains_key(route), "{route} is in the table");
    }
    assert!(paths.len() >= 55, "the document lists every route: {}", paths.len());
    // Each caller with the names of the table that admit it (no power granted yet).
    let callers: [(&str, Option<&str>, &[&str]); 8] = [
        ("government", Some(&p.government), &["government"]),
        ("authority", Some(&p.authority), &["authority"]),
        ("designer", Some(&p.professional), &["professional", "professional:designer"]),
        ("contractor", Some(&p.contractor), &["professional", "professional:contractor"]),
        ("property manager", Some(&p.property_manager), &["professional", "professional:property_manager"]),
        ("evaluator", Some(&p.evaluator), &["professional", "professional:evaluator"]),
        ("resident", Some(&p.resident), &["resident"]),
        // A visitor without an account on the server's own machine is its operator.
        ("public", None, &["public", "operator"]),
    ];
    let mut matrix = String::from("| endpoint | government | authority | designer | contractor | property manager | evaluator | resident | public |\n|---|---|---|---|---|---|---|---|---|\n");
    let mut checked = 0;
    for (path, ops) in &paths {
        for (method, op) in ops.as_object().expect("operations") {
            let allowed: Vec<&str> = op["x-roles"].as_array().expect("x-roles").iter().filter_map(Value::as_str).collect();
            let concrete = path
                .replace("{id}", "999999")
                .replace("{project}", "lifts")
                .replace("{approval}", "fire")
                .replace("{target}", "comment")
                .replace("{*path}", "no-such-file.js");
            let mut row = format!("| {} {path} |", method.to_uppercase());
            for (who, token, names) in &callers {
                // Logging out would end the session the rest of the matrix uses.
                if path == "/api/auth/logout" && token.is_some() {
                    row.push_str(" allowed |");
                    continue;
                }
                let r = call(addr, &method.to_uppercase(), &concrete, *token, b"{}").await;
                let refused = r.status == 401 || r.status == 403;
                if names.iter().any(|n| allowed.contains(n) || allowed.contains(&"public")) {
                    let bootstrap_refusal = path == "/api/auth/bootstrap" && r.status == 403;
                    assert!(!refused || bootstrap_refusal, "{method} {path} refused an allowed {who}: {}", String::from_utf8_lossy(&r.body));
                    row.push_str(" allowed |");
                } else {
                    let expected = if token.is_some() { 403 } else { 401 };
                    assert_eq!(r.status, expected, "{method} {path} must refuse a {who}: {}", String::from_utf8_lossy(&r.body));
                    let code = r.json()["error"].as_str().map(str::to_owned);
                    assert_eq!(code.as_deref(), Some(if expected == 401 { "unauthorized" } else { "forbidden" }));
                    row.push_str(&format!(" {} |", r.status));
                }
                checked += 1;
            }
            matrix.push_str(&row);
            matrix.push('\n');
        }
    }
    println!("{matrix}");
    assert!(checked >= 8 * 60, "checked {checked} endpoint × role pairs");
    // A bad or expired token is refused even where visitors are welcome.
    let r = call(addr, "GET", "/api/comments", Some("not-a-token"), b"").await;
    assert_eq!(r.status, 401);
    server.store.lock().expect("lock").execute("UPDATE c_sessions SET expires_at = 0", []).expect("expire all sessions");
    let r = call(addr, "GET", "/api/auth/me", Some(&p.resident), b"").await;
    assert_eq!(r.status, 401, "an expired session is refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resident_comments_votes_and_reports_and_the_public_sees_no_personal_data() {
    let server = start().await;
    let addr = server.addr;
    let p = people(addr).await;
    let gid = element(addr).await;

    // Comment on an element with the viewpoint the resident saw; text is stored as typed.
    let body = "<script>alert('x')</script> 电梯井离我家窗户太近";
    let viewpoint = json!({"camera": [10.0, -20.0, 15.0], "direction": [-0.3, 0.8, -0.5], "up": [0.0, 0.0, 1.0], "field_of_view": 55.0, "elements": [gid]});
    let c = post(addr, "/api/comments", Some(&p.resident), json!({"project": "lifts", "body": body, "element": gid, "viewpoint": viewpoint})).await;
    assert_eq!(c.status, 201, "{}", String::from_utf8_lossy(&c.body));
    assert!(c.headers.to_ascii_lowercase().contains("content-type: application/json"));
    assert!(c.headers.to_ascii_lowercase().contains("x-content-type-options: nosniff"));
    let id = c.json()["id"].as_i64().expect("id");
    let reply = post(addr, "/api/comments", Some(&p.professional), json!({"parent": id, "body": "we can move it 2 m east"})).await;
    assert_eq!(reply.status, 201);
    assert_eq!(reply.json()["author_org"], "市设计院", "professionals speak for their organisation");
    assert_eq!(reply.json()["project"], "lifts", "a reply belongs to its thread's project");

    let public = call(addr, "GET", &format!("/api/comments/{id}"), None, b"").await.json();
    assert_eq!(public["body"], body, "stored and returned as typed");
    assert_eq!(public["viewpoint"]["camera"], json!([10.0, -20.0, 15.0]), "anyone sees what the commenter saw");
    assert_eq!(public["replies"].as_array().map(Vec::len), Some(1));
    for field in ["author_name", "author_id"] {
        assert!(public.get(field).is_none(), "public sees no {field}: {public}");
    }
    let staff = call(addr, "GET", &format!("/api/comments/{id}"), Some(&p.government), b"").await.json();
    assert_eq!(staff["author_name"], "王芳");
    let text = String::from_utf8_lossy(&call(addr, "GET", "/api/comments", None, b"").await.body).into_owned();
    for personal in ["王芳", "13800000000", "B1-1-101", "fang"] {
        assert!(!text.contains(personal), "public listing leaks {personal}");
    }

    // Bounded input.
    let long = post(addr, "/api/comments", Some(&p.resident), json!({"body": "长".repeat(2001)})).await;
    assert_eq!((long.status, long.json()["error"].as_str()), (400, Some("invalid_request")));
    let huge = call(addr, "POST", "/api/comments", Some(&p.resident), &vec![b' '; 100 * 1024]).await;
    assert_eq!(huge.status, 413);
    let bad_element = post(addr, "/api/comments", Some(&p.resident), json!({"body": "x", "element": "0000000000000000000000"})).await;
    assert_eq!(bad_element.status, 400);

    // A consultation with a secret ballot: one vote per household, changeable until it closes.
    // It opens once the lifts' consultation phase has (day 75).
    seek(addr, 75).await;
    let open = post(
        addr,
        "/api/consultations",
        Some(&p.government),
        // An open tally (each ballot published), so each step shows here; batches are below.
        json!({"project": "lifts", "title": "加装电梯方案", "questions": [{"text": "同意加装电梯吗？", "kind": "consent"}], "tally": {"every": 1}}),
    )
    .await;
    assert_eq!(open.status, 201, "{}", String::from_utf8_lossy(&open.body));
    let consultation = open.json()["id"].as_i64().expect("id");
    let question = open.json()["questions"][0]["id"].as_i64().expect("question");
    let vote = |token: String, alternative: i64| async move {
        call(addr, "PUT", &format!("/api/questions/{question}/vote"), Some(&token), json!({"alternative": alternative}).to_string().as_bytes()).await
    };
    assert_eq!(vote(p.resident.clone(), 0).await.status, 200);
    let changed = vote(p.resident.clone(), 1).await;
    assert_eq!(changed.json()["consultation"]["questions"][0]["tally"], json!([0, 1, 0]), "a changed ballot moves, it does not add");
    assert_eq!(vote(p.neighbour.clone(), 1).await.json()["consultation"]["questions"][0]["tally"], json!([0, 2, 0]));
    assert_eq!(vote(p.resident.clone(), 5).await.status, 400);
    let mine = call(addr, "GET", &format!("/api/questions/{question}/vote"), Some(&p.resident), b"").await.json();
    assert_eq!(mine["alternative"], 1, "a voter sees their own choice");
    let tally = call(addr, "GET", &format!("/api/consultations/{consultation}"), Some(&p.government), b"").await.json();
    assert!(!tally.to_string().contains("household"), "nobody else sees who voted what: {tally}");

    // Closing (after the 45-day publicity period) computes the outcome from the ballots and
    // records it for the phase gate. Households B1-1-10x belong to no unit of the model, so no
    // unit reaches its participation threshold: every unit rejects.
    seek(addr, 120).await;
    let before = server.plan.events().len();
    let close = post(addr, &format!("/api/consultations/{consultation}/close"), Some(&p.government), json!({"outcome": "approved"})).await;
    assert_eq!(close.status, 409, "{}", String::from_utf8_lossy(&close.body));
    let close = post(addr, &format!("/api/consultations/{consultation}/close"), Some(&p.government), json!({})).await;
    assert_eq!(close.status, 200, "{}", String::from_utf8_lossy(&close.body));
    assert_eq!(close.json()["status"], "closed");
    assert_eq!(close.json()["outcome"], "rejected");
    assert_eq!(close.json()["decision"]["rule"]["scope"], "unit");
    let events = server.plan.events();
    assert_eq!(events.len(), before + 1);
    let last = events.last().expect("an event");
    assert_eq!((last.project.as_str(), last.day), ("lifts", 120));
    assert!(format!("{:?}", last.kind).contains("ConsultationClosed { approved: false"), "{:?}", last.kind);
    assert_eq!(vote(p.resident.clone(), 0).await.status, 409, "ballots are final once closed");
    let again = post(addr, &format!("/api/consultations/{consultation}/close"), Some(&p.government), json!({"outcome": "rejected"})).await;
    assert_eq!(again.status, 409);

    // A problem report with a photo, answered and tracked to closure.
    // A real 2×2 PNG (a red row over a blue one): the server decodes and re-encodes it.
    let png = "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAEUlEQVR4nGM4wcAARAxg8gQAFe4DId/wG6QAAAAASUVORK5CYII=";
    let r = post(
        addr,
        "/api/reports",
        Some(&p.resident),
        json!({"category": "leak", "description": "water through the stair roof", "point": [3.0, 4.0, 12.0], "photo": {"content_type": "image/png", "data": png}}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let report = r.json()["id"].as_i64().expect("id");
    let fake = post(addr, "/api/reports", Some(&p.resident), json!({"category": "leak", "description": "x", "point": [0, 0, 0], "photo": {"content_type": "image/png", "data": "PHN2Zz4="}})).await;
    assert_eq!(fake.status, 400, "a photo must be what it says");
    assert_eq!(call(addr, "GET", &format!("/api/reports/{report}/photo"), Some(&p.neighbour), b"").await.status, 403);
    assert_eq!(call(addr, "GET", &format!("/api/reports/{report}/photo"), Some(&p.resident), b"").await.status, 200);
    for (status, message) in [("acknowledged", "物业已收到"), ("resolved", "roof resealed"), ("closed", "checked with the resident")] {
        let u = post(addr, &format!("/api/reports/{report}/updates"), Some(&p.professional), json!({"status": status, "message": message})).await;
        assert_eq!(u.status, 201, "{}", String::from_utf8_lossy(&u.body));
    }
    let public = call(addr, "GET", &format!("/api/reports/{report}"), None, b"").await.json();
    assert_eq!(public["status"], "closed");
    assert_eq!(public["updates"].as_array().map(Vec::len), Some(3));
    assert!(public.get("reporter_name").is_none() && !public.to_string().contains("13800000000"), "{public}");
    assert!(public["first_answer_at"].is_string() && public["closed_at"].is_string());

    // Satisfaction and indicators.
    let rate = call(addr, "PUT", "/api/projects/lifts/satisfaction", Some(&p.resident), br#"{"score": 4}"#).await;
    assert_eq!(rate.status, 204);
    let ind = call(addr, "GET", "/api/indicators", None, b"").await.json();
    assert_eq!(ind["satisfaction"][0]["mean_score"], 4.0);
    assert_eq!(ind["reports"]["closed"], 1);
    // B1 is not a building of the model: its invited households are the denominator.
    let b1 = ind["participation"].as_array().and_then(|rows| rows.iter().find(|r| r["building"] == "B1")).cloned();
    assert_eq!(b1, Some(json!({"building": "B1", "households": 2, "households_source": "invited", "invited": 2, "participating": 2, "rate": 1.0})));
    let csv = call(addr, "GET", "/api/indicators.csv", None, b"").await;
    let csv = String::from_utf8_lossy(&csv.body).into_owned();
    assert!(csv.starts_with("indicator,scope,value\n") && csv.contains("participation_rate,building:B1,1.0"), "{csv}");

    // Announcements and policies.
    let a = post(addr, "/api/announcements", Some(&p.government), json!({"kind": "policy", "title": "补贴政策", "body": "每户补贴…"})).await;
    assert_eq!(a.status, 201);
    let policies = call(addr, "GET", "/api/announcements?kind=policy", None, b"").await.json();
    assert_eq!(policies[0]["title"], "补贴政策");
    assert!(policies[0].get("author_name").is_none());

    // Sessions end on logout.
    assert_eq!(post(addr, "/api/auth/logout", Some(&p.neighbour), json!({})).await.status, 204);
    assert_eq!(call(addr, "GET", "/api/auth/me", Some(&p.neighbour), b"").await.status, 401);
    let wrong = post(addr, "/api/auth/login", None, json!({"username": "fang", "password": "wrong password"})).await;
    assert_eq!(wrong.status, 401);
    let ok = post(addr, "/api/auth/login", None, json!({"username": "fang", "password": "long enough pw"})).await;
    assert_eq!(ok.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flagged_content_is_hidden_pending_review_and_a_moderator_decides() {
    let server = start().await;
    let addr = server.addr;
    let p = people(addr).await;
    let c = post(addr, "/api/comments", Some(&p.resident), json!({"body": "spam spam spam"})).await.json();
    let id = c["id"].as_i64().expect("id");
    // Flags weigh by role (resident 1, professional 2, government 3; threshold 3).
    for token in [&p.neighbour] {
        let f = post(addr, "/api/flags", Some(token), json!({"target": "comment", "id": id, "reason": "advertising"})).await;
        assert_eq!((f.status, f.json()["hidden"].as_bool()), (201, Some(false)));
    }
    let twice = post(addr, "/api/flags", Some(&p.neighbour), json!({"target": "comment", "id": id, "reason": "again"})).await;
    assert_eq!(twice.status, 409, "one flag per account");
    let third = post(addr, "/api/flags", Some(&p.government), json!({"target": "comment", "id": id, "reason": "advertising"})).await;
    assert_eq!(third.json()["hidden"], true, "hidden automatically once the flags weigh three");
    let public = call(addr, "GET", &format!("/api/comments/{id}"), None, b"").await.json();
    assert_eq!(public["hidden"], true);
    assert!(public.get("body").is_none(), "hidden text is withheld from the public: {public}");
    let author = call(addr, "GET", &format!("/api/comments/{id}"), Some(&p.resident), b"").await.json();
    assert_eq!(author["body"], "spam spam spam", "its author still sees it");
    // Moderation is government's unless it grants the power; the grant is logged.
    assert_eq!(call(addr, "GET", "/api/moderation/queue", Some(&p.professional), b"").await.status, 403);
    let g = post(addr, "/api/grants", Some(&p.government), json!({"account": p.professional_id, "permission": "moderate"})).await;
    assert_eq!((g.status, g.json()["grants"].clone()), (201, json!(["moderate"])));
    let queue = call(addr, "GET", "/api/moderation/queue", Some(&p.professional), b"").await.json();
    assert_eq!(queue[0]["review"], "pending");
    let log = call(addr, "GET", "/api/audit", Some(&p.evaluator), b"").await.json();
    assert!(log["entries"].as_array().expect("entries").iter().any(|e| e["action"] == "role_granted"), "{log}");
    let restore = post(addr, &format!("/api/moderation/comment/{id}"), Some(&p.government), json!({"action": "restore", "reason": "not spam after all"})).await;
    assert_eq!(restore.status, 204);
    assert_eq!(call(addr, "GET", &format!("/api/comments/{id}"), None, b"").await.json()["body"], "spam spam spam");
    let hide = post(addr, &format!("/api/moderation/comment/{id}"), Some(&p.government), json!({"action": "hide", "reason": "personal attack"})).await;
    assert_eq!(hide.status, 204);
    assert_eq!(call(addr, "GET", &format!("/api/comments/{id}"), None, b"").await.json()["hidden_reason"], "personal attack");
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A JSON `/ws` session (signed in with `token`, if any) without geometry, subscribed to
/// `comments` only (or to everything but `comments`), past its scene and resync.
async fn subscriber(addr: std::net::SocketAddr, token: Option<&str>, comments: bool) -> Socket {
    use futures_util::SinkExt as _;
    use tokio_tungstenite::tungstenite::Message;
    let url = match token {
        Some(t) => format!("ws://{addr}/ws?format=json&token={t}"),
        None => format!("ws://{addr}/ws?format=json"),
    };
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("websocket");
    let hello = json!({"Hello": {"min_version": 2, "max_version": 2, "resume": null, "geometry": false}});
    ws.send(Message::Text(hello.to_string().into())).await.expect("hello");
    let layers = json!({"buildings": !comments, "pipes": !comments, "sensors": !comments, "comments": comments});
    let subscribe = json!({"Subscribe": {"layers": layers, "storey": null, "project": null}});
    ws.send(Message::Text(subscribe.to_string().into())).await.expect("subscribe");
    // The subscription is in force once its resync arrives.
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(30), ws.next()).await.expect("a frame").expect("open").expect("ok");
        if frame.into_text().map(|t| t.contains("\"subscription\"")).unwrap_or(false) {
            return ws;
        }
    }
}

/// The next consultation event on `ws` within `within` (other messages are skipped), as
/// `(kind, id, record)`; `None` when none came.
async fn next_event(ws: &mut Socket, within: Duration) -> Option<(String, i64, Value)> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let frame = tokio::time::timeout_at(deadline, ws.next()).await.ok()?.expect("open").expect("ok");
        let Ok(text) = frame.into_text() else { continue };
        let msg: Value = serde_json::from_str(&text).expect("a JSON message");
        if let Some(e) = msg.get("Consultation") {
            let record = serde_json::from_str(e["record"].as_str().expect("record text")).expect("record JSON");
            return Some((e["kind"].as_str().expect("kind").to_owned(), e["id"].as_i64().expect("id"), record));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_subscribers_to_comments_get_events_within_a_second_in_the_form_their_role_may_see() {
    let server = start().await;
    let addr = server.addr;
    let p = people(addr).await;
    let mut public = subscriber(addr, None, true).await;
    let mut staff = subscriber(addr, Some(&p.government), true).await;
    let mut author = subscriber(addr, Some(&p.resident), true).await;
    let mut neighbour = subscriber(addr, Some(&p.neighbour), true).await;
    let mut no_comments = subscriber(addr, None, false).await;
    // A panel's events-only connection: its hello, then only consultation events.
    let (mut events_only, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws?format=json&only=comments")).await.expect("websocket");
    let first = events_only.next().await.expect("a frame").expect("ok").into_text().map(|t| t.to_string()).unwrap_or_default();
    assert!(first.starts_with("{\"Hello\""), "{first}");
    assert!(tokio_tungstenite::connect_async(format!("ws://{addr}/ws?only=sensors")).await.is_err(), "only=comments is the one events-only stream");
    let bad = tokio_tungstenite::connect_async(format!("ws://{addr}/ws?token=bogus")).await;
    assert!(bad.is_err(), "an invalid token is refused, not downgraded");

    let c = post(addr, "/api/comments", Some(&p.resident), json!({"body": "live comment", "point": [1.0, 2.0, 3.0]})).await;
    assert_eq!(c.status, 201);
    let id = c.json()["id"].as_i64().expect("id");
    let second = Duration::from_secs(1);
    let (kind, seen_id, seen_public) = next_event(&mut public, second).await.expect("the public subscriber gets the comment within a second");
    assert_eq!((kind.as_str(), seen_id), ("comment", id));
    assert_eq!(seen_public["body"], "live comment");
    let (_, _, seen_staff) = next_event(&mut staff, second).await.expect("staff get it within a second");
    let (_, _, seen_author) = next_event(&mut author, second).await.expect("the author gets it within a second");
    let (_, _, seen_neighbour) = next_event(&mut neighbour, second).await.expect("a neighbour gets it within a second");
    assert_eq!(seen_staff["author_name"], "王芳");
    assert_eq!(seen_author["author_name"], "王芳");
    // Only the public fields for the public and for other residents.
    for seen in [&seen_public, &seen_neighbour] {
        for (field, _) in seen.as_object().expect("an object") {
            assert!(!["author_name", "author_id", "phone", "household", "username"].contains(&field.as_str()), "{field} in {seen}");
        }
    }
    assert!(next_event(&mut no_comments, Duration::from_millis(500)).await.is_none(), "a session without the comments layer gets none");
    let frame = tokio::time::timeout(second, events_only.next()).await.expect("within a second").expect("a frame").expect("ok");
    let frame: Value = serde_json::from_str(&frame.into_text().map(|t| t.to_string()).unwrap_or_default()).expect("JSON");
    assert_eq!(frame["Consultation"]["id"], id, "the events-only connection's next frame is the comment, no scene before it: {frame}");

    // Tallies move on the stream in batches (here of two ballots): the first ballot sends
    // nothing, not even the fact that someone voted; the second publishes both, mixed.
    seek(addr, 75).await;
    let open = post(addr, "/api/consultations", Some(&p.government), json!({"project": "lifts", "title": "t", "questions": [{"text": "q"}], "tally": {"every": 2}})).await;
    let question = open.json()["questions"][0]["id"].as_i64().expect("question");
    let consultation = open.json()["id"].as_i64().expect("id");
    assert_eq!(next_event(&mut public, second).await.expect("the opened consultation").0, "consultation");
    let first = call(addr, "PUT", &format!("/api/questions/{question}/vote"), Some(&p.resident), br#"{"alternative": 1}"#).await;
    assert_eq!(first.json()["consultation"]["questions"][0]["tally"], json!([0, 0, 0]), "the voter's answer shows the published tally too");
    assert!(next_event(&mut public, Duration::from_millis(500)).await.is_none(), "one ballot is not published");
    let shown = call(addr, "GET", &format!("/api/consultations/{consultation}"), None, b"").await.json();
    assert_eq!((shown["questions"][0]["tally"].clone(), shown["tally_as_of_ballots"].clone()), (json!([0, 0, 0]), json!(0)));
    call(addr, "PUT", &format!("/api/questions/{question}/vote"), Some(&p.neighbour), br#"{"alternative": 0}"#).await;
    let (_, _, tally) = next_event(&mut public, second).await.expect("the batch within a second");
    assert_eq!(tally["questions"][0]["tally"], json!([1, 1, 0]));
    assert_eq!(tally["tally_as_of_ballots"], 2);
    assert_eq!(tally["tally_publication"], json!({"every": 2}));
    assert!(!tally.to_string().contains("household"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tally_published_only_at_the_close_shows_turnout_and_nothing_else_until_then() {
    let server = start().await;
    let addr = server.addr;
    let p = people(addr).await;
    seek(addr, 75).await;
    let open = post(addr, "/api/consultations", Some(&p.government), json!({"project": "lifts", "title": "t", "questions": [{"text": "q"}], "tally": "close"})).await;
    assert_eq!(open.status, 201, "{}", String::from_utf8_lossy(&open.body));
    let consultation = open.json()["id"].as_i64().expect("id");
    let question = open.json()["questions"][0]["id"].as_i64().expect("question");
    for (token, alternative) in [(&p.resident, 1), (&p.neighbour, 1)] {
        let r = call(addr, "PUT", &format!("/api/questions/{question}/vote"), Some(token), json!({"alternative": alternative}).to_string().as_bytes()).await;
        assert_eq!(r.status, 200);
    }
    for who in [None, Some(p.government.as_str())] {
        let shown = call(addr, "GET", &format!("/api/consultations/{consultation}"), who, b"").await.json();
        assert_eq!(shown["questions"][0]["tally"], json!([0, 0, 0]), "nobody reads the tally before the close: {shown}");
        assert_eq!(shown["tally_publication"], "close");
    }
    let bad = post(addr, "/api/consultations", Some(&p.government), json!({"project": "lifts", "title": "t", "questions": [{"text": "q"}], "tally": {"every": 0}})).await;
    assert_eq!(bad.status, 400, "a batch of no ballots");
    // Closed (after the publicity period), the decision shows every ballot.
    seek(addr, 75 + 45).await;
    let closed = post(addr, &format!("/api/consultations/{consultation}/close"), Some(&p.government), json!({})).await;
    assert_eq!(closed.status, 200, "{}", String::from_utf8_lossy(&closed.body));
    let shown = call(addr, "GET", &format!("/api/consultations/{consultation}"), None, b"").await.json();
    assert_eq!(shown["questions"][0]["tally"], json!([0, 2, 0]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn participation_counts_against_the_households_the_model_states_for_the_building() {
    // The model's first building and its households, read from the scene itself.
    let loaded = renewtwin_twin::renewal::LoadedScene::load(&SceneSource::Default, None, &ImportConfig::default(), None).expect("the default scene loads");
    let building = loaded.model.spatial.iter().find(|n| n.kind == renewtwin_importers::SpatialKind::Building).expect("a building");
    let name = building.name.clone().expect("a named building");
    let households = match building.property("RenewTwin_Building", "Households") {
        Some(renewtwin_importers::PropertyValue::Integer(n)) => *n,
        other => panic!("the default scene states households per building, got {other:?}"),
    };
    let server = start().await;
    let addr = server.addr;
    let p = people(addr).await;
    let code = post(addr, "/api/invitations", Some(&p.government), json!({"role": "resident", "household": "X-1-101", "building": name})).await;
    assert_eq!(code.status, 201, "{}", String::from_utf8_lossy(&code.body));
    let signup = json!({"invitation": code.json()["code"], "username": "lihua", "password": "long enough pw", "display_name": "李华"});
    let signed = post(addr, "/api/auth/signup", None, signup).await;
    assert_eq!(signed.status, 201, "{}", String::from_utf8_lossy(&signed.body));
    let token = signed.json()["token"].as_str().expect("token").to_owned();
    assert_eq!(post(addr, "/api/comments", Some(&token), json!({"body": "我们楼需要电梯"})).await.status, 201);

    let ind = call(addr, "GET", "/api/indicators", None, b"").await.json();
    let row = ind["participation"].as_array().and_then(|rows| rows.iter().find(|r| r["building"] == name.as_str())).cloned();
    assert_eq!(
        row,
        Some(json!({
            "building": name, "households": households, "households_source": "model", "invited": 1, "participating": 1,
            "rate": ((1.0 / households as f64) * 100.0).round() / 100.0,
        })),
        "{ind}"
    );
    let csv = String::from_utf8_lossy(&call(addr, "GET", "/api/indicators.csv", None, b"").await.body).into_owned();
    assert!(csv.contains(&format!("participation_households_source,building:{name},model")), "{csv}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn visitors_writing_from_one_address_are_rate_limited_but_accounts_keep_their_own_budget() {
    let server = start().await;
    let addr = server.addr;
    let p = people(addr).await;
    // The default budget is 60 visitor writes a minute per address. 121 attempts put at least 61
    // into one minute even if a minute turns during the test. Each attempt under another user
    // name, so the per-name limit (10 a minute) is not the one hit.
    let mut refused = None;
    for n in 1..=121 {
        let attempt = json!({"invitation": "NOPE-NOPE-NOPE", "username": format!("guesser{n}"), "password": "long enough pw", "display_name": "x"});
        let r = post(addr, "/api/auth/signup", None, attempt).await;
        if r.status == 429 {
            refused = Some((n, r));
            break;
        }
        assert_ne!(r.status, 201, "a made-up invitation never signs up");
    }
    let (n, r) = refused.expect("sign-up attempts from one address are limited");
    assert!(n > 10, "the first attempts are answered (refused after {n})");
    assert_eq!(r.json()["error"], "rate_limited");
    assert!(r.headers.to_ascii_lowercase().contains("retry-after:"), "{}", r.headers);
    // Sign-in attempts and other visitor writes share that address's budget...
    let login = post(addr, "/api/auth/login", None, json!({"username": "fang", "password": "long enough pw"})).await;
    assert_eq!(login.status, 429);
    // ...while a signed-in resident on the same address writes on the account's own budget.
    let c = post(addr, "/api/comments", Some(&p.resident), json!({"body": "still heard"})).await;
    assert_eq!(c.status, 201, "{}", String::from_utf8_lossy(&c.body));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comments_and_reports_round_trip_through_bcf() {
    let server = start().await;
    let addr = server.addr;
    let p = people(addr).await;
    let gid = element(addr).await;
    let viewpoint = json!({"camera": [10.0, -20.0, 15.0], "direction": [0.0, 1.0, 0.0], "up": [0.0, 0.0, 1.0], "elements": [gid]});
    let c = post(addr, "/api/comments", Some(&p.resident), json!({"body": "move the lift <east> & keep the tree", "viewpoint": viewpoint})).await.json();
    post(addr, "/api/comments", Some(&p.professional), json!({"parent": c["id"], "body": "agreed"})).await;
    post(addr, "/api/reports", Some(&p.resident), json!({"category": "pipes", "description": "burst pipe", "element": gid})).await;
    let export = call(addr, "GET", "/api/export/bcf", Some(&p.professional), b"").await;
    assert_eq!(export.status, 200);
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(export.body.clone())).expect("a zip");
    let read = |zip: &mut zip::ZipArchive<std::io::Cursor<Vec<u8>>>, name: &str| {
        use std::io::Read;
        let mut s = String::new();
        zip.by_name(name).expect("entry").read_to_string(&mut s).expect("text");
        s
    };
    assert!(read(&mut zip, "bcf.version").contains("VersionId=\"3.0\""));
    let names: Vec<String> = zip.file_names().filter_map(|n| n.ok()).map(|n| n.into_owned()).collect();
    let markups: Vec<&String> = names.iter().filter(|n| n.ends_with("/markup.bcf")).collect();
    assert_eq!(markups.len(), 2, "one topic per thread and per report: {names:?}");
    let all: String = markups.iter().map(|m| read(&mut zip, m)).collect();
    assert!(all.contains("TopicType=\"Comment\"") && all.contains("TopicType=\"Issue\""));
    assert!(all.contains("move the lift &lt;east&gt; &amp; keep the tree"), "XML-escaped");
    let views: String = names.iter().filter(|n| n.ends_with(".bcfv")).map(|n| read(&mut zip, n)).collect();
    assert!(views.contains(&format!("IfcGuid=\"{gid}\"")) && views.contains("<CameraViewPoint><X>10</X><Y>-20</Y><Z>15</Z>"), "{views}");

    // Into another server: threads arrive with their viewpoints; a second import adds nothing.
    let other = start().await;
    let q = people(other.addr).await;
    let imported = call(other.addr, "POST", "/api/import/bcf", Some(&q.professional), &export.body).await;
    assert_eq!(imported.status, 201, "{}", String::from_utf8_lossy(&imported.body));
    assert_eq!(imported.json()["topics"], 2);
    assert_eq!(imported.json()["comments"], 1, "the reply (the report had no handling steps yet)");
    let list = call(other.addr, "GET", "/api/comments", None, b"").await.json();
    let root = list.as_array().into_iter().flatten().find(|c| c["viewpoint"].is_object()).expect("a thread with a viewpoint");
    assert_eq!(root["viewpoint"]["elements"], json!([gid]));
    let again = call(other.addr, "POST", "/api/import/bcf", Some(&q.professional), &export.body).await.json();
    assert_eq!((again["topics"].as_i64(), again["comments"].as_i64(), again["skipped_topics"].as_i64()), (Some(0), Some(0), Some(2)));
    // (Two imports a minute per account: the third archive comes from another staff account.)
    let garbage = call(other.addr, "POST", "/api/import/bcf", Some(&q.government), b"not a zip").await;
    assert_eq!(garbage.status, 400);
}

/// The default scene without its recorded fire review: the lifts wait for the housing bureau.
async fn start_without_fire_grant() -> Running {
    let grant = "[[events]]\ndate = \"2026-07-03\"\nkind = \"approval_granted\"\nproject = \"lifts\"\napproval = \"fire\"\n";
    let text = renewtwin_twin::scene::DEFAULT_MANIFEST.replace(grant, "");
    assert_ne!(text, renewtwin_twin::scene::DEFAULT_MANIFEST, "the default scene records the fire review");
    let manifest = renewtwin_twin::scene::Manifest::parse("default", &text).expect("parses");
    let loaded = renewtwin_twin::renewal::LoadedScene::from_manifest(manifest, None, None, &ImportConfig::default()).expect("loads");
    common::start(loaded, 0.0).await
}

/// The lifts' construction phase start in the plan as it stands.
fn lifts_construction(server: &Running) -> Option<i32> {
    let manifest = server.plan.manifest().expect("manifest");
    let plan = renewtwin_twin::renewal::plan::Plan::resolve(&manifest, None, server.plan.model()).expect("plan");
    let pi = manifest.projects.iter().position(|p| p.id == "lifts").expect("lifts");
    plan.phases.iter().find(|w| w.project == pi && w.kind == renewtwin_protocol::PhaseKind::Construction).and_then(|w| w.start)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authority_decides_only_its_own_approvals_and_a_late_grant_moves_the_lifts_by_the_delay() {
    let server = start_without_fire_grant().await;
    let addr = server.addr;
    let p = people(addr).await;
    assert_eq!(lifts_construction(&server), None, "no fire review recorded, no deemed grant: the lifts wait");

    // The housing bureau's inbox: its two approvals, not the planning bureau's.
    let inbox = call(addr, "GET", "/api/approvals", Some(&p.authority), b"").await.json();
    let items = inbox["approvals"].as_array().expect("approvals");
    let ids: Vec<&str> = items.iter().filter_map(|a| a["approval"].as_str()).collect();
    assert_eq!(ids, ["fire", "construction"], "{inbox}");
    let fire = &items[0];
    // Received when the approval phase opened (day 120, 2026-06-30), due 10 days later.
    assert_eq!((fire["received_day"].as_i64(), fire["due_day"].as_i64(), fire["due_date"].as_str()), (Some(120), Some(130), Some("2026-07-10")));
    let today = inbox["today"].as_i64().expect("today");
    assert_eq!(fire["days_left"].as_i64(), Some(130 - today));
    assert_eq!(fire["status"], if today > 130 { "overdue" } else { "pending" });
    assert_eq!(items[1]["status"], "waiting", "the permit waits for the fire review");
    let all = call(addr, "GET", "/api/approvals", Some(&p.government), b"").await.json();
    // The lifts' four and the façade's heritage consent (works in the archway's control zone).
    assert_eq!(all["approvals"].as_array().map(Vec::len), Some(5), "government oversees every authority");

    // Not its approval.
    let r = post(addr, "/api/approvals/lifts/planning", Some(&p.authority), json!({"decision": "granted", "reason": "ok"})).await;
    assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.json()["message"].as_str().is_some_and(|m| m.contains("Planning bureau")));
    // A reason is required; a decision before the file arrived is refused.
    let r = post(addr, "/api/approvals/lifts/fire", Some(&p.authority), json!({"decision": "granted", "reason": " "})).await;
    assert_eq!(r.status, 400);
    let r = post(addr, "/api/approvals/lifts/fire", Some(&p.authority), json!({"decision": "granted", "reason": "ok", "date": "2026-06-01"})).await;
    assert_eq!(r.status, 409, "{}", String::from_utf8_lossy(&r.body));

    // Granted on 2026-09-30 (day 212), 82 days after its limit: by hand (scene comments) the
    // permit starts on day 212 and is deemed on 227, the lift notice on 237: construction
    // opens on day 237 where an on-time review (by day 130) gave day 165.
    let r = post(addr, "/api/approvals/lifts/fire", Some(&p.authority), json!({"decision": "granted", "reason": "escape routes widened as drawn", "date": "2026-09-30"})).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!((r.json()["day"].as_i64(), r.json()["days_late"].as_i64()), (Some(212), Some(82)));
    assert_eq!(lifts_construction(&server), Some(237));
    let again = post(addr, "/api/approvals/lifts/fire", Some(&p.authority), json!({"decision": "refused", "reason": "second thoughts"})).await;
    assert_eq!(again.status, 409, "decided once");
    let inbox = call(addr, "GET", "/api/approvals", Some(&p.authority), b"").await.json();
    assert_eq!(inbox["approvals"][0]["status"], "granted");
    assert_eq!(inbox["approvals"][0]["reason"], "escape routes widened as drawn");
    let lead = inbox["lead_times"].as_array().expect("lead times").iter().find(|l| l["project"] == "lifts").expect("lifts").clone();
    assert_eq!((lead["parallel_days"].as_i64(), lead["achieved_days"].as_i64()), (Some(45), Some(237 - 120)));

    // The decision is in the audit log: the public sees it without personal data, evaluators in full.
    let public = call(addr, "GET", "/api/audit", None, b"").await.json();
    assert_eq!(public["chain"]["intact"], true, "{public}");
    let entry = public["entries"].as_array().expect("entries").iter().find(|e| e["action"] == "approval_granted").expect("logged").clone();
    assert_eq!(entry["detail"]["reason"], "escape routes widened as drawn");
    assert_eq!(entry["detail"]["days_late"], 82);
    assert!(entry.get("actor").is_none() && entry.get("personal").is_none(), "{entry}");
    let text = String::from_utf8_lossy(&call(addr, "GET", "/api/audit", None, b"").await.body).into_owned();
    assert!(!text.contains("B1-1-101"), "no household code reaches the public log");
    let full = call(addr, "GET", "/api/audit", Some(&p.evaluator), b"").await.json();
    assert!(full["entries"].as_array().expect("entries").iter().any(|e| e["personal"]["household"] == "B1-1-101"), "evaluators see the invitations in full");
    let csv = call(addr, "GET", "/api/audit.csv", None, b"").await;
    assert!(String::from_utf8_lossy(&csv.body).starts_with("seq,at,actor_role,action,project,subject,detail,prev_hash,hash\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contractors_record_actual_progress_and_projects_answer_with_it() {
    let server = start_without_fire_grant().await;
    let addr = server.addr;
    let p = people(addr).await;
    let r = post(addr, "/api/approvals/lifts/fire", Some(&p.authority), json!({"decision": "granted", "reason": "ok", "date": "2026-09-30"})).await;
    assert_eq!(r.status, 201);
    // Planned: lift shafts from day 237 (2026-10-25). Actually started 2026-11-01: 7 days late.
    let record = json!({"project": "lifts", "task": "lift-shafts", "actual_start": "2026-11-01", "percent": 30, "delay_reason": "scaffold delivery"});
    assert_eq!(post(addr, "/api/progress", Some(&p.professional), record.clone()).await.status, 403, "a designer records no progress");
    let r = post(addr, "/api/progress", Some(&p.contractor), record).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let bad = [
        json!({"project": "lifts", "task": "lift-shafts", "percent": 130}),
        json!({"project": "lifts", "task": "lift-shafts", "percent": 50}),
        json!({"project": "lifts", "task": "lift-shafts", "actual_start": "2026-11-01", "actual_finish": "2026-11-20", "percent": 60}),
        json!({"project": "lifts", "task": "lift-shafts", "actual_start": "2999-01-01", "percent": 10}),
        json!({"project": "lifts", "task": "lift-shafts", "building": "no such building", "actual_start": "2026-11-01", "percent": 10}),
    ];
    for b in bad {
        let r = post(addr, "/api/progress", Some(&p.contractor), b.clone()).await;
        assert_eq!(r.status, 400, "{b}: {}", String::from_utf8_lossy(&r.body));
    }
    assert_eq!(post(addr, "/api/progress", Some(&p.contractor), json!({"project": "lifts", "task": "nope", "percent": 0})).await.status, 404);
    let progress = call(addr, "GET", "/api/progress?project=lifts", None, b"").await.json();
    let rec = &progress["records"][0];
    assert_eq!((rec["planned_start"].as_str(), rec["delay_days"].as_i64()), (Some("2026-10-25"), Some(7)), "{progress}");
    // Indicators with the actuals: 7 days of delay push the planned completion 7 days out.
    let ind = &progress["indicators"];
    let planned = ind["planned"]["duration_days"].as_i64().expect("the plan completes once the fire review is granted");
    assert_eq!((ind["actual"]["delay_days"].as_i64(), ind["actual"]["duration_days"].as_i64()), (Some(7), Some(planned + 7)), "{ind}");
    assert_eq!(ind["actual"]["cost_yuan"], ind["planned"]["cost_yuan"], "no actual cost recorded yet");
    // /api/projects: the actual progress beside the simulated phases; today is not the simulated date.
    let projects = call(addr, "GET", "/api/projects", None, b"").await.json();
    let lifts = projects["projects"].as_array().expect("projects").iter().find(|x| x["id"] == "lifts").expect("lifts").clone();
    // The lift shafts are the lifts' only task: 30 % of it is 30 % of the project.
    assert_eq!(lifts["progress"]["percent_complete"].as_f64(), Some(30.0), "{lifts}");
    assert_eq!(lifts["progress"]["actual_start"], "2026-11-01");
    assert_ne!(projects["today"], projects["simulated_date"], "the clock stands at day 0, today is real");
    let log = call(addr, "GET", "/api/audit", None, b"").await.json();
    assert!(log["entries"].as_array().expect("entries").iter().any(|e| e["action"] == "progress_recorded" && e["detail"]["percent"] == 30.0));
    // An event recorded by the operator (loopback) is logged too, without an account.
    let e = post(addr, "/api/events", None, json!({"kind": "owner_named", "project": "lifts", "day": 300, "name": "物业公司"})).await;
    assert_eq!(e.status, 201, "{}", String::from_utf8_lossy(&e.body));
    let log = call(addr, "GET", "/api/audit", None, b"").await.json();
    let entry = log["entries"].as_array().expect("entries").iter().find(|e| e["action"] == "event_recorded").expect("logged").clone();
    assert_eq!((entry["actor_role"].as_str(), entry["detail"]["day"].as_i64()), (Some("operator"), Some(300)));
    assert_eq!(log["chain"]["intact"], true);
}

/// The default scene without its scripted lifts outcome and fire review: the lifts consultation
/// is decided here from ballots alone, and the fire review in the authority's inbox.
async fn start_without_lift_outcome() -> Running {
    let outcome = "[[events]]\ndate = \"2026-05-28\"\nkind = \"consultation_closed\"\nproject = \"lifts\"\noutcome = \"approved\"\n";
    let fire = "[[events]]\ndate = \"2026-07-03\"\nkind = \"approval_granted\"\nproject = \"lifts\"\napproval = \"fire\"\n";
    for scripted in [outcome, fire] {
        assert!(renewtwin_twin::scene::DEFAULT_MANIFEST.contains(scripted), "the scripted event is in the default scene: {scripted}");
    }
    let text = renewtwin_twin::scene::DEFAULT_MANIFEST.replace(outcome, "").replace(fire, "");
    let manifest = renewtwin_twin::scene::Manifest::parse("default", &text).expect("the manifest parses");
    let loaded = renewtwin_twin::renewal::LoadedScene::from_manifest(manifest, None, None, &ImportConfig::default()).expect("the scene loads");
    common::start(loaded, 0.0).await
}

async fn seek(addr: std::net::SocketAddr, day: i64) {
    assert_eq!(post(addr, "/api/clock", None, json!({"seek": day})).await.status, 202);
    for _ in 0..500 {
        if call(addr, "GET", "/api/projects", None, b"").await.json()["day"] == json!(day) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the clock did not reach day {day}");
}

/// Signs up residents of `unit` (household codes `UNIT-101`, `UNIT-102`, …) and returns their tokens.
async fn residents(addr: std::net::SocketAddr, government: &str, unit: &str, n: usize) -> Vec<String> {
    let mut tokens = Vec::new();
    for i in 0..n {
        let household = format!("{unit}-{}", 101 + i);
        let code = post(addr, "/api/invitations", Some(government), json!({"role": "resident", "household": household, "building": "1号楼"})).await;
        assert_eq!(code.status, 201, "{}", String::from_utf8_lossy(&code.body));
        let username = format!("r{}", household.replace('-', "x"));
        let r = post(
            addr,
            "/api/auth/signup",
            None,
            json!({"invitation": code.json()["code"], "username": username, "password": "long enough pw", "display_name": "住户"}),
        )
        .await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        tokens.push(r.json()["token"].as_str().expect("token").to_owned());
    }
    tokens
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ballots_decide_per_unit_and_a_unit_that_rejects_gets_no_lift_while_its_neighbour_does() {
    let server = start_without_lift_outcome().await;
    let addr = server.addr;
    let p = people(addr).await;
    // The model's units of building 1 and their households (RenewTwin_Unit).
    let model = server.plan.model().clone();
    let unit_of = |ei: usize| match model.elements.at(ei).property("RenewTwin_Unit", "Unit") {
        Some(renewtwin_importers::PropertyValue::Text(t)) => Some(t.clone()),
        _ => None,
    };
    let lift = |unit: &str| {
        (0..model.elements.len())
            .find(|&i| model.elements.at(i).class.starts_with("IfcTransportElement") && unit_of(i).as_deref() == Some(unit))
            .expect("a lift shaft in the unit")
    };
    let households = match model.elements.at(lift("1-1")).property("RenewTwin_Unit", "Households") {
        Some(renewtwin_importers::PropertyValue::Integer(n)) => *n as usize,
        other => panic!("the unit states its households: {other:?}"),
    };
    let (rejecting, approving) = (lift("1-2"), lift("1-1"));

    // Before the consultation phase of lifts opens (day 75: 30 survey + 45 design) nothing opens.
    let body = json!({"project": "lifts", "title": "2单元加装电梯", "scopes": ["1-2"], "questions": [{"text": "同意在本单元加装电梯吗？"}]});
    assert_eq!(post(addr, "/api/consultations", Some(&p.government), body.clone()).await.status, 409);
    seek(addr, 75).await;
    assert_eq!(post(addr, "/api/consultations", Some(&p.professional), body.clone()).await.status, 403, "only government opens");
    let open = post(addr, "/api/consultations", Some(&p.government), body).await;
    assert_eq!(open.status, 201, "{}", String::from_utf8_lossy(&open.body));
    let id = open.json()["id"].as_i64().expect("id");
    let question = open.json()["questions"][0]["id"].as_i64().expect("question");
    assert_eq!(open.json()["questions"][0]["alternatives"], json!(["agree", "oppose", "abstain"]));
    // Three households of unit 1-2 all oppose.
    for token in residents(addr, &p.government, "1-2", 3).await {
        let r = call(addr, "PUT", &format!("/api/questions/{question}/vote"), Some(&token), br#"{"alternative": 1}"#).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }
    let early = post(addr, &format!("/api/consultations/{id}/close"), Some(&p.government), json!({})).await;
    assert_eq!(early.status, 409, "the publicity period (45 days) has not passed");
    assert!(String::from_utf8_lossy(&early.body).contains("day 120"), "{}", String::from_utf8_lossy(&early.body));
    seek(addr, 120).await;
    assert_eq!(post(addr, &format!("/api/consultations/{id}/close"), Some(&p.professional), json!({})).await.status, 403, "only government closes");
    let asserted = post(addr, &format!("/api/consultations/{id}/close"), Some(&p.government), json!({"outcome": "approved"})).await;
    assert_eq!(asserted.status, 409, "an asserted outcome that contradicts the ballots is refused");
    let message = asserted.json()["message"].as_str().unwrap_or_default().to_owned();
    for part in ["art. 278", "oppose 3", "consent.households 0/3 < 3/4"] {
        assert!(message.contains(part), "the refusal names the rule and the tally ({part}): {message}");
    }
    let closed = post(addr, &format!("/api/consultations/{id}/close"), Some(&p.government), json!({})).await;
    assert_eq!(closed.status, 200, "{}", String::from_utf8_lossy(&closed.body));
    let decision = closed.json()["decision"].clone();
    assert_eq!(decision["approved"], false);
    assert_eq!(decision["scope_outcomes"], json!({"1-2": false}));
    assert_eq!(decision["questions"][0]["scopes"][0]["tally"], json!([0, 3, 0]));
    assert_eq!(closed.json()["outcome"], "rejected");

    // Unit 1-1 consults next: two thirds take part, all of them agree.
    let open = post(addr, "/api/consultations", Some(&p.government), json!({"project": "lifts", "title": "1单元加装电梯", "scopes": ["1-1"], "questions": [{"text": "同意吗？"}]})).await;
    assert_eq!(open.status, 201, "{}", String::from_utf8_lossy(&open.body));
    let id = open.json()["id"].as_i64().expect("id");
    let question = open.json()["questions"][0]["id"].as_i64().expect("question");
    for token in residents(addr, &p.government, "1-1", households.div_ceil(3) * 2).await {
        assert_eq!(call(addr, "PUT", &format!("/api/questions/{question}/vote"), Some(&token), br#"{"alternative": 0}"#).await.status, 200);
    }
    seek(addr, 165).await;
    let closed = post(addr, &format!("/api/consultations/{id}/close"), Some(&p.government), json!({"outcome": "approved"})).await;
    assert_eq!(closed.status, 200, "{}", String::from_utf8_lossy(&closed.body));
    assert_eq!(closed.json()["decision"]["scope_outcomes"], json!({"1-1": true}));
    let checks = closed.json()["decision"]["questions"][0]["scopes"][0]["checks"].clone();
    assert!(checks.as_array().is_some_and(|c| c.len() == 4 && c.iter().all(|c| c["met"] == true)), "{checks}");

    // The housing bureau grants the fire review in its inbox, well after the approval phase
    // opened (an operator cannot record the grant: /api/events refuses decisions).
    let grant = post(addr, "/api/approvals/lifts/fire", Some(&p.authority), json!({"decision": "granted", "reason": "图纸合格", "day": 250})).await;
    assert_eq!(grant.status, 201, "{}", String::from_utf8_lossy(&grant.body));

    // The twin: the lift of unit 1-1 is built, the lift of unit 1-2 never is.
    let end = 1000;
    let states = call(addr, "GET", &format!("/api/states?day={end}"), None, b"").await.body;
    let start_states = call(addr, "GET", "/api/states?day=0", None, b"").await.body;
    assert_ne!(states[approving], start_states[approving], "the consenting unit's lift is built");
    assert_eq!(states[rejecting], start_states[rejecting], "the rejecting unit's lift stays planned");
    let manifest = server.plan.manifest().expect("manifest");
    let plan = renewtwin_twin::renewal::plan::Plan::resolve(&manifest, None, &model).expect("the plan resolves");
    assert_eq!(plan.schedules[approving].state_on(end), renewtwin_protocol::LifecycleState::Built);
    assert_eq!(plan.schedules[rejecting].state_on(end), renewtwin_protocol::LifecycleState::Planned);
    let indicators = renewtwin_twin::renewal::indicators::Indicators::compute(&manifest, &model, &plan);
    assert_eq!(indicators.lifts_built, 1, "only unit 1-1 consented");
    assert!(indicators.lifts_not_built > 0);
}
