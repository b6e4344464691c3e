//! How scene loading grows with the model: generated districts of 10, 100 and 1,000 buildings
//! (`RENEWTWIN_BENCH_BUILDINGS=10,100,1000`), each loaded `RENEWTWIN_BENCH_RUNS` times (default
//! 3), phase by phase, plus a cold and a warm load through the model cache. Prints a Markdown
//! table of the medians and the cost per element relative to the smallest district, so a
//! reader sees at once whether the cost is linear in the model's size.
//!
//! This is not a criterion bench on purpose: criterion takes at least ten samples, and one
//! load of 1,000 buildings (220 MB of IFC) takes tens of seconds on two cores. Run it with
//! `cargo bench -p renewtwin-benches --bench load_growth`; under `cargo test` it loads one
//! building once, as a smoke test.

use std::time::{Duration, Instant};

use anyhow::Context;
use renewtwin_benches::{LoadCounts, LoadTimes, district_bytes, district_sizes, load_once};
use renewtwin_importers::{Cache, ImportConfig, import_bytes_cached};

/// The allocator the `renewtwin` binary ships with (jemalloc, configured in
/// `.cargo/config.toml`), so that the loads measured here are the product's.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// One district size, measured.
struct Row {
    buildings: u32,
    bytes: usize,
    counts: LoadCounts,
    times: LoadTimes,
    cache_cold: Duration,
    cache_warm: Duration,
    peak_rss_mb: f64,
}

fn main() -> anyhow::Result<()> {
    let benching = std::env::args().any(|a| a == "--bench");
    let (sizes, runs) = if benching {
        let runs = std::env::var("RENEWTWIN_BENCH_RUNS").ok().and_then(|r| r.parse().ok()).unwrap_or(3usize).max(1);
        (district_sizes(&[10, 100, 1000]), runs)
    } else {
        (vec![1], 1)
    };
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "unset".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    eprintln!("load_growth: sizes {sizes:?}, {runs} run(s) each, {cores} usable cores, RAYON_NUM_THREADS={threads}");
    let mut rows = Vec::new();
    for buildings in sizes {
        let t = Instant::now();
        let bytes = district_bytes(buildings, 1);
        eprintln!("district of {buildings} buildings: {:.1} MB generated in {:.1} s", mb(bytes.len()), t.elapsed().as_secs_f64());
        let name = format!("district-{buildings}.ifc");
        let mut loads = Vec::new();
        let mut counts = LoadCounts::default();
        for run in 0..runs {
            let (times, c) = load_once(&name, &bytes)?;
            eprintln!("  run {}: full load {:.3} s (load average {})", run + 1, times.full().as_secs_f64(), load_average());
            counts = c;
            loads.push(times);
        }
        let (cold, warm) = cache_loads(&name, &bytes, runs)?;
        rows.push(Row {
            buildings,
            bytes: bytes.len(),
            counts,
            times: median_times(&loads),
            cache_cold: cold,
            cache_warm: warm,
            peak_rss_mb: peak_rss_mb(),
        });
    }
    print_table(&rows);
    Ok(())
}

/// Median cold (empty cache: import and store) and warm (hit) load through the model cache.
fn cache_loads(name: &str, bytes: &[u8], runs: usize) -> anyhow::Result<(Duration, Duration)> {
    let config = ImportConfig::default();
    let dir = std::env::temp_dir().join(format!("renewtwin-load-growth-{}", std::process::id()));
    let (mut cold, mut warm) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let _ = std::fs::remove_dir_all(&dir);
        let cache = Cache::new(&dir);
        let t = Instant::now();
        let (model, status) = import_bytes_cached(name, bytes, &config, &cache)?;
        cold.push(t.elapsed());
        drop(model);
        anyhow::ensure!(status == renewtwin_importers::CacheStatus::Miss, "cold load of {name} was {status:?}");
        let t = Instant::now();
        let (model, status) = import_bytes_cached(name, bytes, &config, &cache)?;
        warm.push(t.elapsed());
        drop(model);
        anyhow::ensure!(status == renewtwin_importers::CacheStatus::Hit, "warm load of {name} was {status:?}");
    }
    std::fs::remove_dir_all(&dir).with_context(|| format!("cannot remove {}", dir.display()))?;
    Ok((median(cold), median(warm)))
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values.get(values.len() / 2).copied().unwrap_or_default()
}

/// The median of each phase on its own.
fn median_times(loads: &[LoadTimes]) -> LoadTimes {
    let of = |f: fn(&LoadTimes) -> Duration| median(loads.iter().map(f).collect());
    LoadTimes {
        first_batch: of(|t| t.first_batch),
        parse: of(|t| t.parse),
        geometry: of(|t| t.geometry),
        plan: of(|t| t.plan),
        encode: of(|t| t.encode),
        spawn: of(|t| t.spawn),
    }
}

fn print_table(rows: &[Row]) {
    println!("| buildings | IFC MB | elements | triangles | parse s | geometry s | plan s | encode s | ECS spawn s | first mesh batch s | full load s | µs per element | × smallest | cache cold s | cache warm s | cold / warm | peak RSS MB |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let per_element = |r: &Row| r.times.full().as_secs_f64() * 1e6 / r.counts.elements.max(1) as f64;
    let base = rows.first().map(per_element).unwrap_or(1.0);
    for r in rows {
        let s = |d: Duration| format!("{:.3}", d.as_secs_f64());
        println!(
            "| {} | {:.1} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} | {:.2} | {} | {} | {:.1} | {:.0} |",
            r.buildings,
            mb(r.bytes),
            r.counts.elements,
            r.counts.triangles,
            s(r.times.parse),
            s(r.times.geometry),
            s(r.times.plan),
            s(r.times.encode),
            s(r.times.spawn),
            s(r.times.first_triangle()),
            s(r.times.full()),
            per_element(r),
            per_element(r) / base,
            s(r.cache_cold),
            s(r.cache_warm),
            r.cache_cold.as_secs_f64() / r.cache_warm.as_secs_f64().max(1e-9),
            r.peak_rss_mb,
        );
    }
}

fn mb(bytes: usize) -> f64 {
    bytes as f64 / 1e6
}

/// The 1-minute load average, as text ("?" where the platform does not say).
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

/// Peak resident memory of this process so far in MiB (`VmHWM`), 0 where unknown. Sizes run
/// smallest first, so after each size it is that size's peak (with the generated bytes held).
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .map_or(0.0, |kb| kb / 1024.0)
}
