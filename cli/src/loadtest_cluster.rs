//! `renewtwin loadtest --cluster`: the replicas' load and fault test (issue 18 item 5), bounded
//! in time and all on loopback.
//!
//! It starts a nats-server with JetStream (its store in a scratch folder) and N replicas of the
//! default scene (`renewtwin serve --cluster`, child processes of this same binary) on a fresh
//! database of the PostgreSQL server named by `--database`; seeds one government account and
//! one resident account per voter straight into that database (the accounts are the setting,
//! not what is measured); opens a consent consultation (tallies published in batches, the
//! default) and plays the clock.
//! Then, at once: viewers spread over the replicas receive the live deltas; residents vote,
//! change their vote and comment, each write retried (on `503`/`429` after `Retry-After`, on a
//! refused connection on the next replica) until it is acknowledged; a third of the way in one
//! replica is killed with SIGKILL and its viewers reconnect to another replica and resume by
//! scene hash and sequence number; past half-way nats-server is killed and started again on its
//! store. At the end the clock is paused, the killed replica started again and the clock moved
//! past the consultation's publicity period, so that the replicas' window closers close it from
//! its ballots (one of them: the deciding lock), and the test checks from the outside (HTTP):
//! every surviving and restarted replica on the same log entry, delta sequence number, day,
//! element states and events (the outcome recorded once); the same final tally on every
//! replica, equal to the acknowledged ballots; every acknowledged comment stored; every viewer of the
//! killed replica resumed elsewhere; and reports delta delivery latency (p50/p90/p99) for the
//! viewers of the surviving replicas against a goal (`--p99-goal-ms`, 200 by default, issue 18).
//! A check that fails makes the command fail.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures_util::{SinkExt, StreamExt};
use renewtwin_protocol::{Resume, ServerMsg};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

use renewtwin_server::nats_server::{NatsServer, kill_child};

use crate::loadtest::{TempDir, cpu_seconds, hello, listening_addr, open_file_limit, percentile, rss_kib};

/// Most replicas one run may start.
pub(crate) const MAX_REPLICAS: usize = 8;
/// Most residents voting in one run.
pub(crate) const MAX_VOTERS: usize = 10_000;
/// How long a write is retried before it counts as refused.
const WRITE_DEADLINE: Duration = Duration::from_secs(120);
/// How long one HTTP exchange may take.
const HTTP_TIMEOUT: Duration = Duration::from_secs(20);
/// How long nats-server stays down when it is restarted.
const NATS_DOWN: Duration = Duration::from_secs(3);
/// The default scene's lifts project opens its consultation phase on day 75 (scenes/default).
const CONSULTATION_DAY: i32 = 75;
/// The lifts project's publicity period (公示), days: the default scene's rule (scenes/default).
const PUBLICITY_DAYS: i64 = 45;
/// The residents' password (seeded accounts; hashed once with the server's argon2id).
const PASSWORD: &str = "load test passphrase";

/// What to run.
#[derive(Debug, Clone)]
pub(crate) struct ClusterLoadConfig {
    pub replicas: usize,
    pub viewers: usize,
    pub voters: usize,
    pub seconds: u64,
    /// Simulated days per second while measuring (each new day is one delta).
    pub speed: f64,
    /// A PostgreSQL server (`postgres://…`): the run creates its own database there and drops it.
    pub database: String,
    /// The p99 delta delivery the surviving replicas' viewers must stay under, ms (0: report only).
    pub p99_goal_ms: f64,
    pub json: bool,
}

#[derive(Debug, Default, serde::Serialize)]
struct Report {
    replicas: usize,
    viewers: usize,
    viewers_connected: usize,
    voters: usize,
    seconds: f64,
    speed_days_per_second: f64,
    killed_replica: usize,
    killed_at_s: f64,
    nats_restarted_at_s: f64,
    nats_down_s: f64,
    writes_acknowledged: u64,
    write_retries: u64,
    writes_refused: Vec<String>,
    votes_acknowledged: u64,
    comments_acknowledged: u64,
    comments_missing: u64,
    tally_expected: Vec<i64>,
    tally_per_replica: Vec<Vec<i64>>,
    twin_agreed: bool,
    twin: Value,
    viewers_of_killed_replica: u64,
    resumed_elsewhere: u64,
    resynced_elsewhere: u64,
    deltas_received: u64,
    latency_ms_p50: f64,
    latency_ms_p90: f64,
    latency_ms_p99: f64,
    latency_ms_max: f64,
    p99_goal_ms: f64,
    moved_latency_ms_p99: f64,
    per_delta: Vec<Value>,
    replica_rss_mib: Vec<f64>,
    replica_cpu_percent: Vec<f64>,
    client_cpu_percent: f64,
    failures: Vec<String>,
}

/// One replica: `renewtwin serve --cluster` as a child process; killed on drop.
struct Replica {
    child: Option<Child>,
    addr: SocketAddr,
    pid: String,
}

impl Replica {
    fn start(n: usize, database: &str, nats: &str, scratch: &Path, speed: f64) -> Result<Self> {
        let exe = std::env::current_exe().context("cannot find this executable")?;
        let log = std::fs::File::create(scratch.join(format!("replica-{n}.log")))?;
        let mut child = Command::new(exe)
            .args(["serve", "--addr", "127.0.0.1:0", "--db", database, "--cluster", nats, "--speed", &speed.to_string(), "--ballot-key"])
            .arg(scratch.join("ballot-key"))
            .env("RUST_LOG", "warn")
            .env("NO_COLOR", "1")
            .env_remove("RENEWTWIN_CACHE")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .context("cannot start a replica")?;
        let addr = listening_addr(&mut child)
            .with_context(|| format!("replica {n} did not start (its log: {})", scratch.join(format!("replica-{n}.log")).display()))?;
        let pid = child.id().to_string();
        Ok(Self { child: Some(child), addr, pid })
    }

    fn kill(&mut self) {
        kill_child(&mut self.child);
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An HTTP/1.1 answer: status, `Retry-After` seconds, body.
struct Answer {
    status: u16,
    retry_after: Option<u64>,
    body: Value,
}

/// One HTTP exchange on a fresh connection (`Connection: close`), bounded by [`HTTP_TIMEOUT`].
async fn http(addr: SocketAddr, method: &str, path: &str, token: Option<&str>, body: Option<&Value>) -> Result<Answer> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        let body = body.map(Value::to_string).unwrap_or_default();
        let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body.as_bytes()).await?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;
        anyhow::Ok(raw)
    };
    let raw = tokio::time::timeout(HTTP_TIMEOUT, exchange).await.context("no answer in time")??;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").context("an answer without a header end")?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).context("an answer without a status")?;
    let retry_after = head
        .lines()
        .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("retry-after")).map(|(_, v)| v.trim().to_owned()))
        .and_then(|v| v.parse().ok());
    let mut body = raw[split + 4..].to_vec();
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    let body = serde_json::from_slice(&body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    Ok(Answer { status, retry_after, body })
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(line_end) = data.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&data[..line_end]).trim(), 16).unwrap_or(0);
        if size == 0 || data.len() < line_end + 2 + size {
            break;
        }
        out.extend_from_slice(&data[line_end + 2..line_end + 2 + size]);
        data = &data[(line_end + 4 + size).min(data.len())..];
    }
    out
}

/// A database of its own on the PostgreSQL server of `url`: its URL and name.
fn fresh_database(url: &str) -> Result<(String, String)> {
    let name = format!("renewtwin_loadtest_{}_{}", std::process::id(), renewtwin_server::sensors::now());
    let admin = renewtwin_store::Store::connect(url, &[]).with_context(|| format!("cannot connect to {}", renewtwin_store::redact(url)))?;
    admin.lock()?.execute_batch(&format!("CREATE DATABASE {name}"))?;
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let base = match base[after_scheme..].find('/') {
        Some(slash) => &base[..after_scheme + slash],
        None => base,
    };
    Ok((format!("{base}/{name}{}", query.map(|q| format!("?{q}")).unwrap_or_default()), name))
}

fn drop_database(url: &str, name: &str) {
    if let Ok(admin) = renewtwin_store::Store::connect(url, &[])
        && let Ok(conn) = admin.lock()
        && let Err(e) = conn.execute_batch(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    {
        tracing::warn!(error = %e, database = name, "cannot drop the load test's database");
    }
}

/// The accounts of the run: the government's token and one resident token per voter.
fn seed_accounts(url: &str, voters: usize) -> Result<(String, Vec<String>)> {
    use renewtwin_civic::accounts::{self, InvitationRequest, SignUp};
    let store = renewtwin_store::Store::connect(url, &[renewtwin_civic::MIGRATIONS, renewtwin_store::sensors::MIGRATIONS])?;
    let mut conn = store.lock()?;
    let hash = accounts::hash_password(PASSWORD)?;
    let ttl = 12 * 3600;
    let signup = |username: String, invitation: Option<String>| SignUp {
        invitation,
        username,
        password: PASSWORD.into(),
        display_name: "负载测试".into(),
        phone: None,
    };
    let gov = accounts::bootstrap(&mut conn, &signup("lt-government".into(), None), hash.clone(), ttl)?;
    let gov_id = gov["id"].as_i64().context("the government account's id")?;
    let gov_token = gov["token"].as_str().context("the government's token")?.to_owned();
    let bar = indicatif::ProgressBar::new(voters as u64).with_message("seeding resident accounts");
    let mut tokens = Vec::with_capacity(voters);
    for i in 0..voters {
        let request: InvitationRequest =
            serde_json::from_value(json!({"role": "resident", "household": format!("LT-{i}"), "building": "负载测试楼"}))?;
        let invitation = accounts::invite(&mut conn, gov_id, &request)?;
        let code = invitation["code"].as_str().context("an invitation code")?.to_owned();
        let account = accounts::sign_up(&mut conn, &signup(format!("lt-{i}"), Some(code)), hash.clone(), ttl)?;
        tokens.push(account["token"].as_str().context("a resident's token")?.to_owned());
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok((gov_token, tokens))
}

/// Waits until the replica at `addr` serves its scene and has joined the log.
async fn joined(addr: SocketAddr, within: Duration) -> Result<Value> {
    let deadline = Instant::now() + within;
    loop {
        if let Ok(a) = http(addr, "GET", "/api/cluster", None, None).await
            && a.status == 200
            && a.body["clustered"] == json!(true)
            && a.body["connected"] == json!(true)
        {
            return Ok(a.body);
        }
        if Instant::now() > deadline {
            bail!("the replica at {addr} did not join within {} s", within.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// What must be the same on every replica: log entry, sequence number, day, element states, events.
async fn twin(addr: SocketAddr) -> Result<Value> {
    let cluster = http(addr, "GET", "/api/cluster", None, None).await?.body;
    let scene = http(addr, "GET", "/api/scene", None, None).await?.body;
    let events = http(addr, "GET", "/api/events", None, None).await?.body;
    let states: Vec<Value> = scene["elements"].as_array().map(|a| a.iter().map(|e| e["state"].clone()).collect()).unwrap_or_default();
    Ok(json!({"applied": cluster["applied"], "seq": cluster["seq"], "day": cluster["day"], "states": states, "events": events}))
}

/// Polls until every replica shows the same twin; returns it, or the last disagreement.
async fn agree(addrs: &[SocketAddr], within: Duration) -> (bool, Value) {
    let deadline = Instant::now() + within;
    loop {
        let mut all = Vec::new();
        for &a in addrs {
            all.push(twin(a).await.unwrap_or(Value::Null));
        }
        if !all[0].is_null() && all.windows(2).all(|w| w[0] == w[1]) {
            let t = &all[0];
            let summary = json!({"applied": t["applied"], "seq": t["seq"], "day": t["day"], "elements": t["states"].as_array().map(Vec::len), "events": t["events"].as_array().map(Vec::len)});
            return (true, summary);
        }
        if Instant::now() > deadline {
            let summary: Vec<Value> = all.iter().map(|t| json!({"applied": t["applied"], "seq": t["seq"], "day": t["day"]})).collect();
            return (false, json!(summary));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Which replicas are up, shared by the clients (a refused connection moves them on anyway).
struct Cluster {
    addrs: std::sync::RwLock<Vec<SocketAddr>>,
}

impl Cluster {
    fn addr(&self, i: usize) -> SocketAddr {
        let addrs = self.addrs.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        addrs[i % addrs.len()]
    }
}

/// What one write came to.
#[derive(Default)]
struct Writes {
    acknowledged: AtomicU64,
    retries: AtomicU64,
    refused: std::sync::Mutex<Vec<String>>,
}

/// Sends a write until it is acknowledged (2xx): after `Retry-After` on 503/429, to the next
/// replica on a refused or broken connection. Any other answer is final.
async fn write(cluster: &Cluster, home: &mut usize, method: &str, path: &str, token: &str, body: &Value, writes: &Writes) -> Result<Value> {
    let deadline = Instant::now() + WRITE_DEADLINE;
    loop {
        match http(cluster.addr(*home), method, path, Some(token), Some(body)).await {
            Ok(a) if (200..300).contains(&a.status) => {
                writes.acknowledged.fetch_add(1, Ordering::Relaxed);
                return Ok(a.body);
            }
            Ok(a) if a.status == 503 || a.status == 429 => {
                // Retry-After, plus up to as much again at random, as a well-behaved client does
                // (a thousand clients retrying on the same second would come back as one burst).
                let wait = Duration::from_secs(a.retry_after.unwrap_or(1).min(10));
                tokio::time::sleep(wait.mul_f64(1.0 + jitter())).await;
            }
            Ok(a) => bail!("{method} {path}: {} {}", a.status, a.body),
            Err(_) => {
                *home += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        writes.retries.fetch_add(1, Ordering::Relaxed);
        if Instant::now() > deadline {
            bail!("{method} {path}: not acknowledged within {} s", WRITE_DEADLINE.as_secs());
        }
    }
}

/// A number in [0, 1) from the clock's nanoseconds and a counter: enough to spread retries.
fn jitter() -> f64 {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| u64::from(d.subsec_nanos()));
    let mut x = nanos ^ N.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
    // splitmix64's finaliser
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    (x >> 11) as f64 / (1_u64 << 53) as f64
}

/// What one resident's session left: the alternative last acknowledged, the comments stored.
struct Voted {
    alternative: Option<i64>,
    comments: Vec<i64>,
}

async fn resident(i: usize, token: String, question: i64, cluster: Arc<Cluster>, start_after: Duration, writes: Arc<Writes>) -> Voted {
    tokio::time::sleep(start_after).await;
    let mut home = i;
    let mut voted = Voted { alternative: None, comments: Vec::new() };
    let refused = |e: anyhow::Error| writes.refused.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(format!("resident {i}: {e:#}"));
    let path = format!("/api/questions/{question}/vote");
    let first = (i % 3) as i64;
    match write(&cluster, &mut home, "PUT", &path, &token, &json!({"alternative": first}), &writes).await {
        Ok(_) => voted.alternative = Some(first),
        Err(e) => refused(e),
    }
    let comment = json!({"project": "lifts", "body": format!("负载测试住户 {i}：电梯的位置请再考虑 (load test resident {i})")});
    match write(&cluster, &mut home, "POST", "/api/comments", &token, &comment, &writes).await {
        Ok(v) => voted.comments.extend(v["id"].as_i64()),
        Err(e) => refused(e),
    }
    // Every other resident changes their mind a little later (a ballot may change until the close).
    if i.is_multiple_of(2) {
        tokio::time::sleep(Duration::from_millis(500 + (i as u64 * 37) % 3000)).await;
        let second = ((i / 2) % 3) as i64;
        match write(&cluster, &mut home, "PUT", &path, &token, &json!({"alternative": second}), &writes).await {
            Ok(_) => voted.alternative = Some(second),
            Err(e) => refused(e),
        }
    }
    voted
}

/// What one viewer saw.
#[derive(Default)]
struct Watched {
    home: usize,
    latencies_home: Vec<u32>,
    /// The sequence number of each of `latencies_home`.
    seqs_home: Vec<u64>,
    latencies_moved: Vec<u32>,
    moved: bool,
    resumed: bool,
    resynced: bool,
    connected: bool,
}

/// The first byte of every encoded delta (its variant's tag).
fn state_tag() -> u8 {
    let delta = renewtwin_protocol::StateDelta {
        seq: 0,
        day: renewtwin_protocol::SimDay(0),
        date: renewtwin_protocol::CivilDate::from_days_since_epoch(0),
        changes: Vec::new(),
        phases: Vec::new(),
        sent_at_us: 0,
    };
    renewtwin_protocol::encode(&ServerMsg::State(delta)).ok().and_then(|b| b.first().copied()).unwrap_or(u8::MAX)
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(addr: SocketAddr, resume: Resume) -> Result<Ws> {
    // Nagle off, as a browser's WebSocket has it.
    let connecting = tokio_tungstenite::connect_async_with_config(format!("ws://{addr}/ws"), None, true);
    let (mut ws, _) = tokio::time::timeout(Duration::from_secs(10), connecting).await??;
    ws.send(hello(false, Some(resume))).await?;
    Ok(ws)
}

/// A viewer holding the scene: receives deltas from its replica, and when that replica goes
/// away reconnects to the next and resumes from the last delta it saw.
async fn viewer(home: usize, cluster: Arc<Cluster>, start: Resume, measuring: Arc<AtomicBool>, stop: Arc<AtomicBool>, deltas: Arc<AtomicU64>) -> Watched {
    let mut watched = Watched { home, ..Default::default() };
    let state_tag = state_tag();
    let mut resume = start;
    let mut at = home;
    let Ok(mut ws) = connect(cluster.addr(at), resume).await else { return watched };
    watched.connected = true;
    let mut fresh = false;
    while !stop.load(Ordering::Relaxed) {
        let frame = match tokio::time::timeout(Duration::from_millis(500), ws.next()).await {
            Err(_) => continue,
            Ok(Some(Ok(frame))) => Some(frame),
            Ok(_) => None,
        };
        let Some(frame) = frame else {
            // The replica went away: the next one, resuming from the last delta seen.
            watched.moved = true;
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                at += 1;
                if let Ok(next) = connect(cluster.addr(at), resume).await {
                    ws = next;
                    fresh = true;
                    break;
                }
                if Instant::now() > deadline || stop.load(Ordering::Relaxed) {
                    return watched;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            continue;
        };
        let Message::Binary(data) = frame else { continue };
        // Only deltas are measured: the other frames (consultation events, the clock) are not
        // decoded, so the clients' own work weighs as little as it can on the latency measured.
        if !fresh && data.first() != Some(&state_tag) {
            continue;
        }
        let Ok(message) = renewtwin_protocol::decode::<ServerMsg>(&data) else { continue };
        match message {
            ServerMsg::Resumed { .. } if fresh => {
                watched.resumed = true;
                fresh = false;
            }
            ServerMsg::Resync { .. } | ServerMsg::Scene(_) if fresh => {
                watched.resynced = true;
                fresh = false;
            }
            ServerMsg::State(d) => {
                resume.seq = d.seq;
                if measuring.load(Ordering::Relaxed) {
                    let latency = renewtwin_twin::live::now_us().saturating_sub(d.sent_at_us).min(u64::from(u32::MAX)) as u32;
                    if watched.moved {
                        watched.latencies_moved.push(latency);
                    } else {
                        watched.latencies_home.push(latency);
                        watched.seqs_home.push(d.seq);
                    }
                    deltas.fetch_add(1, Ordering::Relaxed);
                }
            }
            _ => {}
        }
    }
    watched
}

/// The first question's published tally of consultation `id` on the replica at `addr`.
async fn tally(addr: SocketAddr, id: i64) -> Result<Vec<i64>> {
    let a = http(addr, "GET", &format!("/api/consultations/{id}"), None, None).await?;
    a.body["questions"][0]["tally"]
        .as_array()
        .map(|t| t.iter().filter_map(Value::as_i64).collect())
        .with_context(|| format!("no tally in {}", a.body))
}

/// Every comment id on the project, paging through the list.
async fn comment_ids(addr: SocketAddr) -> Result<std::collections::HashSet<i64>> {
    let mut ids = std::collections::HashSet::new();
    let mut after = 0;
    loop {
        let a = http(addr, "GET", &format!("/api/comments?project=lifts&after={after}&limit=500"), None, None).await?;
        let page = a.body.as_array().cloned().or_else(|| a.body["comments"].as_array().cloned()).with_context(|| format!("no comment list in {}", a.body))?;
        let Some(last) = page.iter().filter_map(|c| c["id"].as_i64()).max() else { return Ok(ids) };
        ids.extend(page.iter().filter_map(|c| c["id"].as_i64()));
        after = last;
    }
}

/// Runs the cluster load and fault test and prints its report; fails when a check fails.
pub(crate) fn run(config: ClusterLoadConfig) -> Result<()> {
    if !(2..=MAX_REPLICAS).contains(&config.replicas) {
        bail!("--replicas must be 2..={MAX_REPLICAS} (one is killed mid-run)");
    }
    if config.viewers == 0 || config.viewers > crate::loadtest::MAX_VIEWERS {
        bail!("--viewers must be 1..={}", crate::loadtest::MAX_VIEWERS);
    }
    if config.voters > MAX_VOTERS {
        bail!("--voters must be at most {MAX_VOTERS}");
    }
    if !(10..=crate::loadtest::MAX_SECONDS).contains(&config.seconds) {
        bail!("--seconds must be 10..={} with --cluster", crate::loadtest::MAX_SECONDS);
    }
    // The run (and up to half a minute of setting up and catching up around it) must end
    // inside the consultation's publicity period, or its ballots would close mid-run.
    let days = config.speed * (config.seconds as f64 + 30.0);
    if !(config.speed > 0.0 && days < PUBLICITY_DAYS as f64) {
        bail!(
            "--rate {} days a second over {} s (and 30 s around them) plays {days:.0} days: with --cluster it must stay under the consultation's {PUBLICITY_DAYS}-day publicity period",
            config.speed,
            config.seconds
        );
    }
    if !renewtwin_store::is_postgres_url(&config.database) {
        bail!("--cluster needs --database postgres://… (a PostgreSQL server; the run creates and drops a database of its own)");
    }
    let needed = 2 * config.viewers as u64 + 2 * config.voters as u64 + 200;
    if let Some(limit) = open_file_limit()
        && limit < needed
    {
        bail!("{} viewers and {} voters need {needed} open files; the soft limit is {limit} (raise it with ulimit -n)", config.viewers, config.voters);
    }
    let scratch = TempDir(std::env::temp_dir().join(format!("renewtwin-loadtest-cluster-{}", std::process::id())));
    std::fs::create_dir_all(&scratch.0)?;
    let (database, name) = fresh_database(&config.database)?;
    let result = run_on(&config, &database, &scratch.0);
    drop_database(&config.database, &name);
    let report = result?;
    if config.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    if !report.failures.is_empty() {
        bail!("the cluster load test failed: {}", report.failures.join("; "));
    }
    Ok(())
}

fn run_on(config: &ClusterLoadConfig, database: &str, scratch: &Path) -> Result<Report> {
    let started = Instant::now();
    tracing::info!("seeding {} resident accounts", config.voters);
    let (gov, tokens) = seed_accounts(database, config.voters)?;
    let nats_bin = renewtwin_server::nats_server::find().context("no nats-server found (Debian: apt install nats-server; scripts/setup.sh --test installs it)")?;
    let mut nats = NatsServer::start(nats_bin, &scratch.join("nats"))?;
    let mut replicas = Vec::with_capacity(config.replicas);
    for n in 0..config.replicas {
        replicas.push(Replica::start(n, database, &nats.url(), scratch, config.speed)?);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let report = runtime.block_on(async {
        for r in &replicas {
            joined(r.addr, Duration::from_secs(180)).await?;
        }
        tracing::info!(seconds = started.elapsed().as_secs_f64(), "replicas joined");
        let cluster = Arc::new(Cluster { addrs: std::sync::RwLock::new(replicas.iter().map(|r| r.addr).collect()) });
        let first = replicas[0].addr;
        // The lifts' consultation phase, and a consent consultation with an open tally.
        let seek = http(first, "POST", "/api/clock", None, Some(&json!({"seek": CONSULTATION_DAY}))).await?;
        if seek.status != 202 {
            bail!("seeking the clock answered {} {}", seek.status, seek.body);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while http(first, "GET", "/api/cluster", None, None).await?.body["day"].as_i64().unwrap_or(0) < i64::from(CONSULTATION_DAY) {
            if Instant::now() > deadline {
                bail!("the clock did not reach day {CONSULTATION_DAY}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let opened = http(
            first,
            "POST",
            "/api/consultations",
            Some(&gov),
            Some(&json!({"project": "lifts", "title": "负载测试：加装电梯 (load test)", "questions": [{"text": "同意加装电梯吗？", "kind": "consent"}]})),
        )
        .await?;
        if opened.status != 201 {
            bail!("opening the consultation answered {} {}", opened.status, opened.body);
        }
        let consultation = opened.body["id"].as_i64().context("the consultation's id")?;
        let question = opened.body["questions"][0]["id"].as_i64().context("the question's id")?;
        let play = http(first, "POST", "/api/clock", None, Some(&json!("play"))).await?;
        if play.status != 202 {
            bail!("playing the clock answered {} {}", play.status, play.body);
        }

        // The viewers take the scene's hash and sequence number once, then connect spread over the replicas.
        let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{first}/ws")).await?;
        ws.send(hello(false, None)).await?;
        let start = loop {
            let frame = tokio::time::timeout(Duration::from_secs(30), ws.next()).await?.context("the replica closed")??;
            if let Message::Binary(data) = frame
                && let ServerMsg::Scene(h) = renewtwin_protocol::decode::<ServerMsg>(&data)?
            {
                break Resume { scene_hash: h.scene_hash, seq: h.seq };
            }
        };
        drop(ws);
        let measuring = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let deltas = Arc::new(AtomicU64::new(0));
        let mut viewers = Vec::with_capacity(config.viewers);
        for i in 0..config.viewers {
            viewers.push(tokio::spawn(viewer(i % config.replicas, cluster.clone(), start, measuring.clone(), stop.clone(), deltas.clone())));
            if i % 64 == 63 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        tracing::info!(seconds = started.elapsed().as_secs_f64(), "viewers connected; measuring");

        let cpu0: Vec<f64> = replicas.iter().map(|r| cpu_seconds(&r.pid)).collect();
        let client_cpu0 = cpu_seconds("self");
        let t0 = Instant::now();
        measuring.store(true, Ordering::Relaxed);
        let writes = Arc::new(Writes::default());
        let spread = config.seconds as f64 * 0.6;
        let residents: Vec<_> = tokens
            .into_iter()
            .enumerate()
            .map(|(i, token)| {
                let after = Duration::from_secs_f64(spread * (i as f64 / config.voters.max(1) as f64));
                tokio::spawn(resident(i, token, question, cluster.clone(), after, writes.clone()))
            })
            .collect();

        let run = Duration::from_secs(config.seconds);
        let killed = config.replicas - 1;
        tokio::time::sleep(run.mul_f64(0.3)).await;
        let killed_at = t0.elapsed().as_secs_f64();
        let rss: Vec<f64> = replicas.iter().map(|r| rss_kib(&r.pid) / 1024.0).collect();
        replicas[killed].kill();
        cluster.addrs.write().unwrap_or_else(std::sync::PoisonError::into_inner).remove(killed);
        tracing::info!(replica = killed, at = killed_at, "replica killed (SIGKILL)");
        tokio::time::sleep(run.mul_f64(0.25)).await;
        let nats_at = t0.elapsed().as_secs_f64();
        nats.kill();
        tracing::info!(at = nats_at, "nats-server killed");
        tokio::time::sleep(NATS_DOWN).await;
        nats.restart()?;
        let nats_down = t0.elapsed().as_secs_f64() - nats_at;
        tracing::info!(down = nats_down, "nats-server started again");
        tokio::time::sleep(run.saturating_sub(t0.elapsed())).await;
        measuring.store(false, Ordering::Relaxed);
        let seconds = t0.elapsed().as_secs_f64();
        let cpu: Vec<f64> = replicas.iter().zip(&cpu0).map(|(r, c0)| ((cpu_seconds(&r.pid) - c0) / seconds * 100.0).max(0.0)).collect();
        let client_cpu = (cpu_seconds("self") - client_cpu0) / seconds * 100.0;

        let mut expected = vec![0_i64; 3];
        let mut acknowledged_comments = std::collections::HashSet::new();
        let (mut votes, mut comments) = (0, 0);
        for r in residents {
            let voted = r.await?;
            if let Some(a) = voted.alternative {
                expected[a as usize] += 1;
                votes += 1;
            }
            comments += voted.comments.len() as u64;
            acknowledged_comments.extend(voted.comments);
        }
        stop.store(true, Ordering::Relaxed);
        let mut watched = Vec::with_capacity(viewers.len());
        for v in viewers {
            watched.push(v.await?);
        }

        // Pause, bring the killed replica back (it rebuilds its twin from the log) and check.
        let pause = write(&cluster, &mut 0, "POST", "/api/clock", &gov, &json!("pause"), &Writes::default()).await?;
        drop(pause);
        replicas[killed] = Replica::start(config.replicas + 1, database, &nats.url(), scratch, config.speed)?;
        joined(replicas[killed].addr, Duration::from_secs(180)).await?;
        let addrs: Vec<SocketAddr> = replicas.iter().map(|r| r.addr).collect();
        // Past the publicity period every replica's window closer would close the consultation
        // from its ballots; one does (the deciding lock), and its full tally is then public.
        let opened_day = opened.body["opened_day"].as_i64().unwrap_or(i64::from(CONSULTATION_DAY));
        let seek = write(&cluster, &mut 0, "POST", "/api/clock", &gov, &json!({"seek": opened_day + PUBLICITY_DAYS + 1}), &Writes::default()).await?;
        drop(seek);
        let deadline = Instant::now() + Duration::from_secs(60);
        while http(first, "GET", &format!("/api/consultations/{consultation}"), None, None).await?.body["status"] != json!("closed") {
            if Instant::now() > deadline {
                bail!("the consultation did not close past its publicity period");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let (twin_agreed, twin) = agree(&addrs, Duration::from_secs(60)).await;
        let mut tallies = Vec::new();
        for &a in &addrs {
            tallies.push(tally(a, consultation).await.unwrap_or_default());
        }
        let stored = comment_ids(addrs[0]).await?;
        let missing = acknowledged_comments.iter().filter(|id| !stored.contains(id)).count() as u64;

        let mut home_latencies: Vec<u32> = watched.iter().filter(|w| w.home != killed).flat_map(|w| w.latencies_home.iter().copied()).collect();
        // Each delta's delivery to the surviving replicas' viewers: where the slow ones were.
        let mut by_seq: std::collections::BTreeMap<u64, Vec<u32>> = std::collections::BTreeMap::new();
        for w in watched.iter().filter(|w| w.home != killed) {
            for (&seq, &l) in w.seqs_home.iter().zip(&w.latencies_home) {
                by_seq.entry(seq).or_default().push(l);
            }
        }
        let per_delta: Vec<Value> = by_seq
            .into_iter()
            .map(|(seq, mut l)| {
                l.sort_unstable();
                json!({"seq": seq, "viewers": l.len(), "p50_ms": percentile(&l, 0.5), "max_ms": percentile(&l, 1.0)})
            })
            .collect();
        home_latencies.sort_unstable();
        let mut moved_latencies: Vec<u32> = watched.iter().flat_map(|w| w.latencies_moved.iter().copied()).collect();
        moved_latencies.sort_unstable();
        let of_killed = watched.iter().filter(|w| w.home == killed && w.connected).count() as u64;
        let resumed = watched.iter().filter(|w| w.home == killed && w.resumed).count() as u64;
        let resynced = watched.iter().filter(|w| w.home == killed && w.resynced).count() as u64;
        let refused = std::mem::take(&mut *writes.refused.lock().unwrap_or_else(std::sync::PoisonError::into_inner));

        let mut report = Report {
            replicas: config.replicas,
            viewers: config.viewers,
            viewers_connected: watched.iter().filter(|w| w.connected).count(),
            voters: config.voters,
            seconds,
            speed_days_per_second: config.speed,
            killed_replica: killed,
            killed_at_s: killed_at,
            nats_restarted_at_s: nats_at,
            nats_down_s: nats_down,
            writes_acknowledged: writes.acknowledged.load(Ordering::Relaxed),
            write_retries: writes.retries.load(Ordering::Relaxed),
            writes_refused: refused,
            votes_acknowledged: votes,
            comments_acknowledged: comments,
            comments_missing: missing,
            tally_expected: expected,
            tally_per_replica: tallies,
            twin_agreed,
            twin,
            viewers_of_killed_replica: of_killed,
            resumed_elsewhere: resumed,
            resynced_elsewhere: resynced,
            deltas_received: deltas.load(Ordering::Relaxed),
            latency_ms_p50: percentile(&home_latencies, 0.50),
            latency_ms_p90: percentile(&home_latencies, 0.90),
            latency_ms_p99: percentile(&home_latencies, 0.99),
            latency_ms_max: home_latencies.last().map_or(0.0, |&l| f64::from(l) / 1e3),
            p99_goal_ms: config.p99_goal_ms,
            moved_latency_ms_p99: percentile(&moved_latencies, 0.99),
            per_delta,
            replica_rss_mib: rss,
            replica_cpu_percent: cpu,
            client_cpu_percent: client_cpu,
            failures: Vec::new(),
        };
        report.failures = judge(&report);
        anyhow::Ok(report)
    });
    runtime.shutdown_timeout(Duration::from_secs(2));
    drop(replicas);
    drop(nats);
    report
}

/// The pass conditions, each failure named.
fn judge(r: &Report) -> Vec<String> {
    let mut failures = Vec::new();
    if !r.writes_refused.is_empty() {
        failures.push(format!("{} writes never acknowledged: {}", r.writes_refused.len(), r.writes_refused.iter().take(3).cloned().collect::<Vec<_>>().join(" | ")));
    }
    if r.comments_missing > 0 {
        failures.push(format!("{} acknowledged comments missing from the database", r.comments_missing));
    }
    if let Some(bad) = r.tally_per_replica.iter().position(|t| *t != r.tally_expected) {
        failures.push(format!("replica {bad}'s tally {:?} is not the acknowledged ballots' {:?}", r.tally_per_replica[bad], r.tally_expected));
    }
    if !r.twin_agreed {
        failures.push(format!("the replicas' twins differ: {}", r.twin));
    }
    if r.viewers_connected < r.viewers {
        failures.push(format!("{} of {} viewers connected", r.viewers_connected, r.viewers));
    }
    if r.resumed_elsewhere < r.viewers_of_killed_replica {
        failures.push(format!(
            "{} of the killed replica's {} viewers resumed elsewhere ({} resynced)",
            r.resumed_elsewhere, r.viewers_of_killed_replica, r.resynced_elsewhere
        ));
    }
    if r.deltas_received == 0 {
        failures.push("no deltas were received".into());
    }
    if r.p99_goal_ms > 0.0 && r.latency_ms_p99 >= r.p99_goal_ms {
        failures.push(format!("p99 delta delivery on the surviving replicas {:.1} ms (the goal: under {} ms)", r.latency_ms_p99, r.p99_goal_ms));
    }
    failures
}

fn print_report(r: &Report) {
    println!(
        "{} replicas, {} of {} viewers, {} residents, {:.1} s at {} days/s",
        r.replicas, r.viewers_connected, r.viewers, r.voters, r.seconds, r.speed_days_per_second
    );
    println!(
        "faults: replica {} killed (SIGKILL) at {:.1} s; nats-server killed at {:.1} s and back after {:.1} s",
        r.killed_replica, r.killed_at_s, r.nats_restarted_at_s, r.nats_down_s
    );
    println!(
        "writes: {} acknowledged ({} votes standing, {} comments), {} retries, {} never acknowledged; {} acknowledged comments missing",
        r.writes_acknowledged,
        r.votes_acknowledged,
        r.comments_acknowledged,
        r.write_retries,
        r.writes_refused.len(),
        r.comments_missing
    );
    println!("tally: acknowledged ballots {:?}; per replica {:?}", r.tally_expected, r.tally_per_replica);
    println!("twin: {} on every replica ({})", if r.twin_agreed { "the same" } else { "NOT the same" }, r.twin);
    println!(
        "viewers of the killed replica: {}, resumed elsewhere {}, resynced {}",
        r.viewers_of_killed_replica, r.resumed_elsewhere, r.resynced_elsewhere
    );
    println!(
        "delta delivery on the surviving replicas: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} deltas); moved viewers p99 {:.2} ms",
        r.latency_ms_p50, r.latency_ms_p90, r.latency_ms_p99, r.latency_ms_max, r.deltas_received, r.moved_latency_ms_p99
    );
    println!(
        "replicas: RSS {:?} MiB with viewers, CPU {:?} % of one core; clients {:.0} %",
        r.replica_rss_mib.iter().map(|m| m.round()).collect::<Vec<_>>(),
        r.replica_cpu_percent.iter().map(|c| c.round()).collect::<Vec<_>>(),
        r.client_cpu_percent
    );
    if r.failures.is_empty() {
        println!("result: every check holds");
    } else {
        for f in &r.failures {
            println!("FAILED: {f}");
        }
    }
}
