//! Findings of the hostile probe (issue 19), each as the request that exposed it: a BCF import
//! that flooded the database, the database served over HTTP, and an IPv4-mapped loopback
//! client taken for a remote one. Each failed before its fix.

mod common;

use std::io::Write as _;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn start() -> common::Running {
    common::start(common::default_scene(), 0.0).await
}

async fn call(addr: std::net::SocketAddr, method: &str, path: &str, token: Option<&str>, body: &[u8]) -> (u16, Value) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("write head");
    let _ = stream.write_all(body).await;
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut response)).await.expect("in time");
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").expect("header end");
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("status");
    (status, serde_json::from_slice(&response[split + 4..]).unwrap_or(Value::Null))
}

/// A government token and a professional's.
async fn staff(addr: std::net::SocketAddr) -> (String, String) {
    let (status, gov) =
        call(addr, "POST", "/api/auth/bootstrap", None, json!({"username": "gov", "password": "district office 1", "display_name": "Li"}).to_string().as_bytes()).await;
    assert_eq!(status, 201, "{gov}");
    let gov = gov["token"].as_str().expect("token").to_owned();
    let (_, code) = call(addr, "POST", "/api/invitations", Some(&gov), json!({"role": "professional", "organisation": "设计院", "capacity": "designer"}).to_string().as_bytes()).await;
    let code = code["code"].as_str().expect("code").to_owned();
    let body = json!({"invitation": code, "username": "designer", "password": "long enough pw", "display_name": "Zhao"});
    let (status, pro) = call(addr, "POST", "/api/auth/signup", None, body.to_string().as_bytes()).await;
    assert_eq!(status, 201, "{pro}");
    (gov, pro["token"].as_str().expect("token").to_owned())
}

/// A BCF 3.0 archive of `topics` topics with `comments` comments each (GUIDs from `seed`).
fn archive(seed: &str, topics: usize, comments: usize) -> Vec<u8> {
    let guid = |s: String| {
        let h = format!("{:032x}", s.bytes().fold(0xcbf29ce484222325u128, |h, b| (h ^ u128::from(b)).wrapping_mul(0x100000001b3)));
        format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
    };
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let o = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for t in 0..topics {
        let g = guid(format!("{seed} topic {t}"));
        let mut m = format!("<Markup><Topic Guid=\"{g}\"><Title>topic {t}</Title><Comments>");
        for c in 0..comments {
            m.push_str(&format!("<Comment Guid=\"{}\"><Comment>flood {c}</Comment></Comment>", guid(format!("{seed} {t} {c}"))));
        }
        m.push_str("</Comments></Topic></Markup>");
        zip.start_file(format!("{g}/markup.bcf"), o).expect("entry");
        zip.write_all(m.as_bytes()).expect("write");
    }
    zip.finish().expect("zip").into_inner()
}

async fn comment_count(addr: std::net::SocketAddr) -> usize {
    let (_, list) = call(addr, "GET", "/api/comments?limit=500", None, b"").await;
    list.as_array().map_or(0, Vec::len)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bcf_flood_is_refused_whole_and_imports_have_their_own_budget() {
    let server = start().await;
    let addr = server.addr;
    let (_, pro) = staff(addr).await;
    // The probe's archive: 100 topics × 510 comments = 51,000 comments in one request.
    let flood = archive("flood", 100, 510);
    let (status, body) = call(addr, "POST", "/api/import/bcf", Some(&pro), &flood).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"], "too_large");
    assert!(body["message"].as_str().unwrap_or_default().contains("MAX_COMMENTS"), "names the limit: {body}");
    assert_eq!(comment_count(addr).await, 0, "nothing of a refused archive is stored");
    // Small archives are imported, within the account's import budget per minute (the flood
    // above took one of its two).
    let (status, body) = call(addr, "POST", "/api/import/bcf", Some(&pro), &archive("small", 2, 3)).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!((body["topics"].as_i64(), body["comments"].as_i64()), (Some(2), Some(6)));
    let (status, body) = call(addr, "POST", "/api/import/bcf", Some(&pro), &archive("more", 1, 1)).await;
    assert_eq!(status, 429, "the third import in a minute: {body}");
    assert_eq!(body["error"], "rate_limited");
    assert!(body["message"].as_str().unwrap_or_default().contains("imports_per_minute"), "names the import budget: {body}");
    // Ordinary writes keep their own budget.
    let (status, body) = call(addr, "POST", "/api/comments", Some(&pro), json!({"body": "still heard"}).to_string().as_bytes()).await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_is_not_served_over_http_even_to_government() {
    let server = start().await;
    let (gov, _) = staff(server.addr).await;
    let (status, body) = call(server.addr, "GET", "/api/admin/backup", Some(&gov), b"").await;
    assert_ne!(status, 200, "{body}");
    let (_, doc) = call(server.addr, "GET", "/api/openapi.json", None, b"").await;
    assert!(doc["paths"].get("/api/admin/backup").is_none(), "not documented either");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ipv4_mapped_loopback_client_is_local() {
    let server = start().await;
    let local = |a: &str| server.state.may_control(&a.parse().expect("address"));
    assert!(local("127.0.0.1:5000") && local("[::1]:5000"));
    assert!(local("[::ffff:127.0.0.1]:5000"), "a local IPv4 client of a server on [::]");
    assert!(!local("[::ffff:192.0.2.7]:5000") && !local("192.0.2.7:5000") && !local("[2001:db8::1]:5000"));
    assert!(renewtwin_server::is_local("::ffff:127.0.0.2".parse().expect("ip")));
}
