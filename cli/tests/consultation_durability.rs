//! An acknowledged consultation write survives `kill -9`: the real binary serves on a file,
//! several tasks write comments in a burst, the server is killed with SIGKILL in the middle,
//! restarted on the same file, and every comment whose creation was acknowledged (201) must be
//! there. Backup (a consistent SQLite copy) is checked on the restarted server.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn spawn(db: &std::path::Path) -> (Child, std::net::SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_renewtwin"))
        .args(["serve", "--addr", "127.0.0.1:0", "--speed", "0", "--db"])
        .arg(db)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the server starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("the first line");
    let url = line.trim().strip_prefix("renewtwin listening on http://").expect("listening line").trim_end_matches('/').to_owned();
    (child, url.parse().expect("address"))
}

async fn call(addr: std::net::SocketAddr, method: &str, path: &str, token: Option<&str>, body: &str) -> Option<(u16, Value)> {
    let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut response)).await.ok()?.ok()?;
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Some((status, serde_json::from_str(&body).unwrap_or(Value::Null)))
}

async fn must(addr: std::net::SocketAddr, method: &str, path: &str, token: Option<&str>, body: Value) -> Value {
    let (status, v) = call(addr, method, path, token, &body.to_string()).await.expect("a reply");
    assert!(status == 200 || status == 201, "{method} {path}: {status} {v}");
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_kill_9() {
    let dir = std::env::temp_dir().join(format!("renewtwin-kill9-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let db = dir.join("consultation.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    let (mut child, addr) = spawn(&db);
    let gov = must(addr, "POST", "/api/auth/bootstrap", None, json!({"username": "gov", "password": "district office 1", "display_name": "gov"})).await;
    let gov = gov["token"].as_str().expect("token").to_owned();
    let mut writers = Vec::new();
    for i in 0..6 {
        let code = must(addr, "POST", "/api/invitations", Some(&gov), json!({"role": "resident", "household": format!("B2-{i}"), "building": "B2"})).await;
        let r = must(
            addr,
            "POST",
            "/api/auth/signup",
            None,
            json!({"invitation": code["code"], "username": format!("writer{i}"), "password": "long enough pw", "display_name": format!("w{i}")}),
        )
        .await;
        writers.push(r["token"].as_str().expect("token").to_owned());
    }

    // Burst: each writer posts comments back to back; acknowledged ids are recorded.
    let acknowledged = Arc::new(Mutex::new(Vec::<i64>::new()));
    let mut tasks = Vec::new();
    for token in writers {
        let acknowledged = acknowledged.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..50 {
                let body = json!({"body": format!("burst comment {n}")}).to_string();
                match call(addr, "POST", "/api/comments", Some(&token), &body).await {
                    Some((201, v)) => acknowledged.lock().expect("lock").extend(v["id"].as_i64()),
                    Some(_) => {}
                    None => return,
                }
            }
        }));
    }
    // Kill mid-burst, once some writes were acknowledged.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while acknowledged.lock().expect("lock").len() < 40 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    for t in tasks {
        let _ = t.await;
    }
    let acked = acknowledged.lock().expect("lock").clone();
    assert!(acked.len() >= 40, "the burst was under way: {} acknowledged", acked.len());
    assert!(acked.len() < 300, "the kill came mid-burst");

    let (mut child, addr) = spawn(&db);
    let mut stored = Vec::new();
    let mut after = 0;
    loop {
        let (status, page) = call(addr, "GET", &format!("/api/comments?after={after}&limit=500"), None, "").await.expect("list");
        assert_eq!(status, 200);
        let ids: Vec<i64> = page.as_array().into_iter().flatten().filter_map(|c| c["id"].as_i64()).collect();
        match ids.last() {
            Some(&last) => after = last,
            None => break,
        }
        stored.extend(ids);
    }
    let missing: Vec<&i64> = acked.iter().filter(|id| !stored.contains(id)).collect();
    println!("kill -9 mid-burst: {} acknowledged, {} stored after restart, {} missing", acked.len(), stored.len(), missing.len());
    assert!(missing.is_empty(), "acknowledged comments lost: {missing:?}");

    // The old sessions still work after the restart; the database is backed up by the
    // operator's command while the server runs (never over HTTP), and the copy has the rows.
    let (status, _) = call(addr, "GET", "/api/admin/backup", Some(gov.as_str()), "").await.expect("asks");
    assert_eq!(status, 404, "no backup over the public API");
    let copy = dir.join("copy.db");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_renewtwin")).args(["backup", "--db"]).arg(&db).arg("--out").arg(&copy).output().expect("runs");
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let restored = renewtwin_store::Store::open(&copy, &[renewtwin_civic::MIGRATIONS, renewtwin_store::sensors::MIGRATIONS]).expect("the copy opens");
    let rows: i64 = restored.lock().expect("lock").query_row("SELECT COUNT(*) FROM c_comments", [], |r| r.get(0)).expect("count");
    assert!(rows as usize >= stored.len(), "the copy has the {} stored comments: {rows}", stored.len());
    child.kill().expect("stop");
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
