//! Imports every IFC file of a directory and prints one JSON line per file: counts, triangles,
//! the bounding box in the file's own coordinates (model frame + origin, metres), the GlobalIds
//! of products with geometry (for a per-product comparison with IfcOpenShell), and the time of
//! a first (cache-miss) and a second (cache-hit) load through a fresh [`Cache`].
//!
//! `cargo run --release -p renewtwin-importers --example corpus_report -- DIR [CACHE_DIR]`

use std::time::Instant;

use anyhow::Context;
use renewtwin_importers::{Cache, CacheStatus, ImportConfig, import_file_cached};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .context("usage: corpus_report DIR [CACHE_DIR]")?;
    let cache_dir = args
        .next()
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::env::temp_dir().join(format!("renewtwin-report-cache-{}", std::process::id()))
        });
    let _ = std::fs::remove_dir_all(&cache_dir);
    let cache = Cache::new(&cache_dir);
    let mut files: Vec<_> = std::fs::read_dir(&dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x.eq_ignore_ascii_case("ifc")))
        .collect();
    files.sort();
    let (mut miss_total, mut hit_total) = (0.0, 0.0);
    for path in &files {
        let t0 = Instant::now();
        let (model, first) = import_file_cached(path, &ImportConfig::default(), &cache)?;
        let miss_s = t0.elapsed().as_secs_f64();
        let t1 = Instant::now();
        let (again, second) = import_file_cached(path, &ImportConfig::default(), &cache)?;
        let hit_s = t1.elapsed().as_secs_f64();
        anyhow::ensure!(
            first == CacheStatus::Miss && second == CacheStatus::Hit,
            "{}: {first:?} then {second:?}",
            path.display()
        );
        anyhow::ensure!(
            again.placed_triangles() == model.placed_triangles(),
            "cache changed the model"
        );
        miss_total += miss_s;
        hit_total += hit_s;
        let b = model.bbox().to_array();
        let o = model.origin;
        let world = [
            b[0] + o[0],
            b[1] + o[1],
            b[2] + o[2],
            b[3] + o[0],
            b[4] + o[1],
            b[5] + o[2],
        ];
        let with_geometry: Vec<&str> = model
            .elements
            .iter()
            .filter(|e| !e.placements.is_empty())
            .map(|e| e.global_id)
            .collect();
        let mut classes = std::collections::BTreeMap::new();
        for e in model.elements.iter().filter(|e| !e.placements.is_empty()) {
            *classes.entry(e.class).or_insert(0usize) += 1;
        }
        let placements: usize = model.elements.iter().map(|e| e.placements.len()).sum();
        println!(
            "{}",
            serde_json::json!({
                "file": path.file_name().map(|n| n.to_string_lossy().into_owned()),
                "schema": model.source.schema,
                "products": model.elements.len(),
                "with_geometry": with_geometry.len(),
                "triangles": model.placed_triangles(),
                "unique_triangles": model.meshes.iter().map(|m| m.triangle_count()).sum::<usize>(),
                "meshes": model.meshes.len(),
                "placements": placements,
                "bbox_world_m": world,
                "origin": o,
                "classes": classes,
                "guids": with_geometry,
                "miss_s": miss_s,
                "hit_s": hit_s,
                "georef": model.georef.is_some(),
                "schedules": model.schedules.len(),
                "diagnostics": model.diagnostics.len(),
            })
        );
    }
    eprintln!(
        "total: first load {miss_total:.3} s, second load {hit_total:.3} s, speed-up {:.1}x",
        miss_total / hit_total.max(1e-9)
    );
    let _ = std::fs::remove_dir_all(&cache_dir);
    Ok(())
}
