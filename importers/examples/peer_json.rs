//! Imports one file and prints the JSON line of the peer harness (`../shared/bench-peers`,
//! `OURS_CMD`): phases and counts, as `renewtwin inspect FILE --peer-json` does, without
//! building the engine (peak RSS and CPU time: the harness's own `child_maxrss_mb`, or
//! `/usr/bin/time -v`).
//!
//! `cargo run --release -p renewtwin-importers --example peer_json -- FILE [--parse-only]`

use std::time::Instant;

use anyhow::Context;
use renewtwin_importers::{ImportConfig, Severity, import_file};

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let mut args = std::env::args().skip(1);
    let file = args
        .next()
        .context("usage: peer_json FILE [--parse-only]")?;
    let geometry = args.next().as_deref() != Some("--parse-only");
    let started = Instant::now();
    let config = ImportConfig {
        geometry,
        ..ImportConfig::default()
    };
    let model = import_file(std::path::Path::new(&file), &config)
        .with_context(|| format!("cannot import {file}"))?;
    let wall = started.elapsed().as_secs_f64();
    let placements = model.elements.iter().flat_map(|e| e.placements);
    let mesh_of = |p: &renewtwin_importers::Placement| model.meshes.get(p.mesh.0 as usize);
    let vertices: u64 = placements
        .clone()
        .filter_map(mesh_of)
        .map(|m| m.positions.len() as u64 / 3)
        .sum();
    let triangles: u64 = placements
        .filter_map(mesh_of)
        .map(|m| m.triangle_count() as u64)
        .sum();
    let line = serde_json::json!({
        "tool": "renewtwin",
        "version": env!("CARGO_PKG_VERSION"),
        "file": file,
        "bytes": model.source.bytes,
        "schema": model.source.schema,
        "parse_s": model.source.parse_seconds,
        "geometry_s": model.source.geometry_seconds,
        "total_s": model.source.parse_seconds + model.source.geometry_seconds,
        "wall_in_process_s": wall,
        "meshes": model.elements_with_geometry(),
        "geometries": model.elements.iter().map(|e| e.placements.len()).sum::<usize>(),
        "unique_geometries": model.meshes.len(),
        "triangles": triangles,
        "vertices": vertices,
        "entities": model.source.entities,
        "log_errors": model.diagnostics.iter().filter(|d| d.severity >= Severity::Warning).count(),
    });
    println!("{line}");
    Ok(())
}
