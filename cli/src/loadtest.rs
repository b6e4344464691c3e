//! `renewtwin loadtest`: a bounded load test against a server on loopback.
//!
//! It starts this same binary as `renewtwin serve` on `127.0.0.1:0` (a child process, so the
//! server's CPU and memory are measured apart from the clients'), measures time-to-first-
//! triangle and time-to-complete of the scene for a few fresh viewers, then connects N viewers
//! that receive the live deltas for a fixed time, and reports delivery latency (server
//! timestamp in each delta to client receipt), the server's CPU and resident memory, and the
//! memory each connected viewer costs it. Everything is bounded: viewers, seconds, loopback.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures_util::{SinkExt, StreamExt};
use renewtwin_protocol::{ClientHello, ClientMsg, PROTOCOL_VERSION, Resume, ServerMsg};
use tokio_tungstenite::tungstenite::Message;

/// Most viewers one run may open.
pub(crate) const MAX_VIEWERS: usize = 10_000;
/// Longest measurement one run may take, seconds.
pub(crate) const MAX_SECONDS: u64 = 300;

/// What to run.
#[derive(Debug, Clone)]
pub(crate) struct LoadConfig {
    /// Concurrent viewers receiving deltas.
    pub viewers: usize,
    /// Seconds of measurement once every viewer is connected.
    pub seconds: u64,
    /// Deltas per second (the simulation runs at this many days per second, 10 ticks/s).
    pub rate: f64,
    /// A generated district of this many buildings instead of the default scene.
    pub buildings: Option<u32>,
    /// Fresh viewers that load the whole scene, for time-to-first-triangle.
    pub scene_loads: usize,
    /// Print one JSON object instead of the text report.
    pub json: bool,
}

#[derive(Debug, serde::Serialize)]
struct SceneLoad {
    first_triangle_ms: f64,
    complete_ms: f64,
    batches: u32,
    bytes: u64,
    first_batch_bytes: usize,
    first_batch_triangles: usize,
}

#[derive(Debug, serde::Serialize)]
struct Report {
    scene: String,
    elements: usize,
    triangles: u64,
    scene_loads: Vec<SceneLoad>,
    viewers: usize,
    viewers_connected: usize,
    connect_seconds: f64,
    seconds: f64,
    deltas_per_second: f64,
    deltas_received: u64,
    deltas_expected: u64,
    resyncs: u64,
    latency_ms_p50: f64,
    latency_ms_p90: f64,
    latency_ms_p99: f64,
    latency_ms_max: f64,
    server_cpu_percent: f64,
    client_cpu_percent: f64,
    server_rss_mib_before: f64,
    server_rss_mib_with_viewers: f64,
    server_kib_per_viewer: f64,
}

/// The server child; killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
    _dir: Option<TempDir>,
}

impl Drop for Server {
    fn drop(&mut self) {
        // It may already have exited; nothing more to do then.
        let _killed = self.child.kill();
        let _reaped = self.child.wait();
    }
}

/// A scratch folder removed on drop.
pub(crate) struct TempDir(pub(crate) PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _removed = std::fs::remove_dir_all(&self.0);
    }
}

pub(crate) fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// utime + stime of `pid` in seconds (clock ticks at 100 Hz, the Linux default).
pub(crate) fn cpu_seconds(pid: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let after = s.rsplit_once(')')?.1;
            let f: Vec<&str> = after.split_whitespace().collect();
            Some((f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?) / 100.0)
        })
        .unwrap_or(0.0)
}

/// Resident set of `pid`, KiB.
pub(crate) fn rss_kib(pid: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0.0)
}

fn start_server(config: &LoadConfig) -> Result<Server> {
    let exe = std::env::current_exe().context("cannot find this executable")?;
    let mut command = Command::new(exe);
    command.args(["serve", "--addr", "127.0.0.1:0", "--db", ":memory:", "--speed"]).arg(config.rate.to_string());
    let dir = match config.buildings {
        Some(buildings) => {
            let dir = TempDir(std::env::temp_dir().join(format!("renewtwin-loadtest-{}", std::process::id())));
            std::fs::create_dir_all(&dir.0)?;
            let file = dir.0.join(format!("district-{buildings}.ifc"));
            let cfg = renewtwin_generator::DistrictConfig { buildings, seed: 1, ..Default::default() };
            let out = std::io::BufWriter::new(std::fs::File::create(&file)?);
            renewtwin_generator::write_district(&cfg, out).map_err(|e| anyhow::anyhow!("generating the district failed: {e}"))?;
            command.arg(&file);
            Some(dir)
        }
        None => None,
    };
    let mut child = command
        .env("RUST_LOG", "warn")
        .env_remove("RENEWTWIN_CACHE")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("cannot start the server")?;
    let addr = listening_addr(&mut child)?;
    Ok(Server { child, addr, _dir: dir })
}

/// The address a `renewtwin serve` child announces on its first line of output.
pub(crate) fn listening_addr(child: &mut Child) -> Result<SocketAddr> {
    let stdout = child.stdout.take().context("no server stdout")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).context("cannot read the server's address")?;
    line.trim()
        .strip_prefix("renewtwin listening on http://")
        .and_then(|a| a.trim_end_matches('/').parse().ok())
        .with_context(|| format!("unexpected server output {line:?}"))
}

pub(crate) fn hello(geometry: bool, resume: Option<Resume>) -> Message {
    let hello = ClientMsg::Hello(ClientHello { min_version: PROTOCOL_VERSION, max_version: PROTOCOL_VERSION, resume, geometry });
    Message::Binary(renewtwin_protocol::encode(&hello).unwrap_or_default().into())
}

/// What a scene load tells about the scene.
struct Loaded {
    load: SceneLoad,
    name: String,
    elements: usize,
    triangles: u64,
    resume: Resume,
}

/// One fresh viewer loads the whole scene; returns its timings and what it learnt.
async fn load_scene(addr: SocketAddr) -> Result<Loaded> {
    let started = Instant::now();
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await?;
    ws.send(hello(true, None)).await?;
    let mut resume = Resume { scene_hash: renewtwin_protocol::SceneHash::default(), seq: 0 };
    let mut first: Option<(f64, usize, usize)> = None;
    let (mut name, mut elements, mut triangles, mut batches, mut bytes) = (String::new(), 0, 0, 0, 0);
    while let Some(frame) = ws.next().await {
        let Message::Binary(data) = frame? else { continue };
        match renewtwin_protocol::decode::<ServerMsg>(&data)? {
            ServerMsg::Scene(h) => {
                resume = Resume { scene_hash: h.scene_hash, seq: h.seq };
                (name, elements, triangles, batches, bytes) = (h.name, h.elements.len(), h.triangle_count, h.batches, h.scene_bytes);
            }
            ServerMsg::Meshes { meshes, .. } if first.is_none() => {
                let t: usize = meshes.iter().map(|m| m.triangle_count()).sum();
                if t > 0 {
                    first = Some((started.elapsed().as_secs_f64() * 1e3, data.len(), t));
                }
            }
            ServerMsg::SceneComplete => {
                let complete_ms = started.elapsed().as_secs_f64() * 1e3;
                let (first_triangle_ms, first_batch_bytes, first_batch_triangles) = first.unwrap_or((complete_ms, 0, 0));
                let load = SceneLoad { first_triangle_ms, complete_ms, batches, bytes, first_batch_bytes, first_batch_triangles };
                return Ok(Loaded { load, name, elements, triangles, resume });
            }
            _ => {}
        }
    }
    bail!("the server closed before the scene was complete")
}

/// Shared counters of the viewers.
#[derive(Default)]
struct Tally {
    deltas: AtomicU64,
    resyncs: AtomicU64,
}

/// A viewer that already holds the scene (it resumes from `resume`) and receives deltas.
async fn viewer(addr: SocketAddr, resume: Resume, measuring: Arc<AtomicBool>, stop: Arc<AtomicBool>, tally: Arc<Tally>) -> Result<Vec<u32>> {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await?;
    ws.send(hello(false, Some(resume))).await?;
    let mut latencies = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let Ok(frame) = tokio::time::timeout(Duration::from_millis(500), ws.next()).await else { continue };
        let Some(frame) = frame else { break };
        let Message::Binary(data) = frame? else { continue };
        match renewtwin_protocol::decode::<ServerMsg>(&data)? {
            ServerMsg::State(d) if measuring.load(Ordering::Relaxed) => {
                let now = renewtwin_twin::live::now_us();
                latencies.push(now.saturating_sub(d.sent_at_us).min(u64::from(u32::MAX)) as u32);
                tally.deltas.fetch_add(1, Ordering::Relaxed);
            }
            ServerMsg::Resync { .. } if measuring.load(Ordering::Relaxed) => {
                tally.resyncs.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }
    Ok(latencies)
}

pub(crate) fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    f64::from(sorted[i.min(sorted.len() - 1)]) / 1e3
}

/// Runs the load test and prints its report.
pub(crate) fn run(config: LoadConfig) -> Result<()> {
    if config.viewers == 0 || config.viewers > MAX_VIEWERS {
        bail!("--viewers must be 1..={MAX_VIEWERS}");
    }
    if config.seconds == 0 || config.seconds > MAX_SECONDS {
        bail!("--seconds must be 1..={MAX_SECONDS}");
    }
    let needed = config.viewers as u64 + 100;
    if let Some(limit) = open_file_limit()
        && limit < needed
    {
        bail!("{} viewers need {needed} open files; the soft limit is {limit} (raise it with ulimit -n)", config.viewers);
    }
    let server = start_server(&config)?;
    let pid = server.child.id().to_string();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let report = runtime.block_on(async {
        let mut loads = Vec::new();
        let (mut name, mut elements, mut triangles) = (String::new(), 0, 0);
        let mut resume = None;
        for _ in 0..config.scene_loads.max(1) {
            let loaded = load_scene(server.addr).await?;
            (name, elements, triangles) = (loaded.name, loaded.elements, loaded.triangles);
            resume = Some(loaded.resume);
            loads.push(loaded.load);
        }
        let resume = resume.context("no scene load")?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let rss_before = rss_kib(&pid);

        let measuring = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let tally = Arc::new(Tally::default());
        let connect_started = Instant::now();
        let mut tasks = Vec::with_capacity(config.viewers);
        for i in 0..config.viewers {
            tasks.push(tokio::spawn(viewer(server.addr, resume, measuring.clone(), stop.clone(), tally.clone())));
            // Pace the handshakes so the listen backlog never overflows.
            if i % 64 == 63 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        // Let every viewer finish its handshake and header, then measure.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let connect_seconds = connect_started.elapsed().as_secs_f64();
        let rss_with = rss_kib(&pid);
        let (server_cpu0, client_cpu0) = (cpu_seconds(&pid), cpu_seconds("self"));
        let started = Instant::now();
        measuring.store(true, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_secs(config.seconds)).await;
        measuring.store(false, Ordering::Relaxed);
        let seconds = started.elapsed().as_secs_f64();
        let (server_cpu, client_cpu) = (cpu_seconds(&pid) - server_cpu0, cpu_seconds("self") - client_cpu0);
        stop.store(true, Ordering::Relaxed);
        let mut latencies = Vec::new();
        let mut connected = 0;
        for t in tasks {
            if let Ok(Ok(l)) = t.await {
                connected += 1;
                latencies.extend(l);
            }
        }
        latencies.sort_unstable();
        let deltas = tally.deltas.load(Ordering::Relaxed);
        anyhow::Ok(Report {
            scene: name,
            elements,
            triangles,
            scene_loads: loads,
            viewers: config.viewers,
            viewers_connected: connected,
            connect_seconds,
            seconds,
            deltas_per_second: config.rate,
            deltas_received: deltas,
            deltas_expected: (config.rate * seconds) as u64 * config.viewers as u64,
            resyncs: tally.resyncs.load(Ordering::Relaxed),
            latency_ms_p50: percentile(&latencies, 0.50),
            latency_ms_p90: percentile(&latencies, 0.90),
            latency_ms_p99: percentile(&latencies, 0.99),
            latency_ms_max: latencies.last().map_or(0.0, |&l| f64::from(l) / 1e3),
            server_cpu_percent: server_cpu / seconds * 100.0,
            client_cpu_percent: client_cpu / seconds * 100.0,
            server_rss_mib_before: rss_before / 1024.0,
            server_rss_mib_with_viewers: rss_with / 1024.0,
            server_kib_per_viewer: (rss_with - rss_before) / config.viewers as f64,
        })
    })?;
    runtime.shutdown_timeout(Duration::from_secs(2));
    drop(server);
    if config.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!("scene {:?}: {} elements, {} triangles", report.scene, report.elements, report.triangles);
    for (i, l) in report.scene_loads.iter().enumerate() {
        println!(
            "scene load {}: first triangle {:.1} ms ({} B, {} triangles in batch 1), complete {:.1} ms ({} batches, {:.2} MiB)",
            i + 1,
            l.first_triangle_ms,
            l.first_batch_bytes,
            l.first_batch_triangles,
            l.complete_ms,
            l.batches,
            l.bytes as f64 / 1048576.0
        );
    }
    println!(
        "{} of {} viewers, {:.1} s at {} deltas/s: {} deltas received ({} expected), {} resyncs",
        report.viewers_connected, report.viewers, report.seconds, report.deltas_per_second, report.deltas_received, report.deltas_expected, report.resyncs
    );
    println!(
        "delivery latency: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        report.latency_ms_p50, report.latency_ms_p90, report.latency_ms_p99, report.latency_ms_max
    );
    println!(
        "server: {:.0}% CPU (of one core), RSS {:.1} MiB before viewers, {:.1} MiB with them ({:.1} KiB per viewer); clients {:.0}% CPU",
        report.server_cpu_percent, report.server_rss_mib_before, report.server_rss_mib_with_viewers, report.server_kib_per_viewer, report.client_cpu_percent
    );
    Ok(())
}
