//! Cold and warm loads of one IFC file through the model cache, each timed: the numbers behind
//! BENCHMARKS.md's side-by-side cache tables (run the same file with two builds, alternating).
//!
//! ```sh
//! cargo run --release -p renewtwin-benches --example cache_warm -- district.ifc 5
//! ```
//!
//! Prints the cold load (an empty cache directory: import and store), then each warm hit, the
//! median of the hits and the entry's size. The cache directory is a fresh temporary one,
//! removed at the end. The allocator is the binary's (jemalloc, `.cargo/config.toml`).

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use anyhow::Context;
use renewtwin_importers::{Cache, CacheStatus, ImportConfig, import_bytes_cached};
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        anyhow::bail!("usage: cache_warm FILE.ifc [WARM_RUNS (default 5)]");
    };
    let runs: usize = match args.next() {
        Some(n) => n.parse().with_context(|| format!("WARM_RUNS {n:?} is not a number"))?,
        None => 5,
    };
    let bytes = std::fs::read(&path).with_context(|| format!("cannot read {path}"))?;
    let dir = std::env::temp_dir().join(format!("renewtwin-cache-warm-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let cache = Cache::new(&dir);
    let config = ImportConfig::default();
    let t = Instant::now();
    let (model, status) = import_bytes_cached(&path, &bytes, &config, &cache)?;
    let cold = t.elapsed().as_secs_f64();
    anyhow::ensure!(status == CacheStatus::Miss, "the cold load was {status:?}");
    println!("{path}: {} elements, {} meshes", model.elements.len(), model.meshes.len());
    println!("cold {cold:.4} s");
    drop(model);
    let mut warm = Vec::with_capacity(runs);
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        let (model, status) = import_bytes_cached(&path, &bytes, &config, &cache)?;
        warm.push(t.elapsed().as_secs_f64());
        anyhow::ensure!(status == CacheStatus::Hit, "a warm load was {status:?}");
        drop(model);
    }
    let shown: Vec<String> = warm.iter().map(|w| format!("{w:.4}")).collect();
    println!("warm {} s", shown.join(" "));
    warm.sort_by(f64::total_cmp);
    let median = warm[warm.len() / 2];
    let entry: u64 = std::fs::read_dir(&dir)?
        .filter_map(Result::ok)
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum();
    println!(
        "median warm {median:.4} s, cold / warm {:.1}x, entry {entry} bytes",
        cold / median
    );
    std::fs::remove_dir_all(&dir).with_context(|| format!("cannot remove {}", dir.display()))?;
    Ok(())
}
