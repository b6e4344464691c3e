//! Benchmarks of scene loading live in `benches/benches/`; run them with
//! `cargo bench -p renewtwin-benches`. This library holds what they share: where the corpus
//! is, generated districts, and the load pipeline of `renewtwin serve` cut into its phases
//! (parse, geometry, plan, wire encode, ECS spawn) so that each can be timed on its own.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use renewtwin_twin::renewal::plan::{ElementSchedule, Plan, Step};
use renewtwin_twin::manifest::{Action, Manifest, ModelSource};
use renewtwin_twin::scene::DEFAULT_MANIFEST;
use renewtwin_twin::renewal::LoadedScene;
use renewtwin_twin::wire::SceneStatic;
use renewtwin_twin::sim::{SimConfig, SimInput, build_app};
use renewtwin_twin::renewal::ElementSeed;
use renewtwin_importers::{ImportConfig, ImportEvent, Model, import_bytes, import_streaming};
use renewtwin_protocol::CivilDate;

/// The corpus folder: `$RENEWTWIN_CORPUS`, else `../shared/corpus` beside the workspace.
pub fn corpus_dir() -> PathBuf {
    std::env::var_os("RENEWTWIN_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus"))
}

/// The IFC files of the corpus, sorted by name (empty, with the reason printed, when absent).
pub fn corpus_ifc_files() -> Vec<PathBuf> {
    let dir = corpus_dir().join("ifc");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("corpus benchmarks skipped: {} is absent", dir.display());
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("ifc")))
        .collect();
    files.sort();
    files
}

/// A generated district of `buildings` buildings as IFC bytes.
pub fn district_bytes(buildings: u32, seed: u64) -> Vec<u8> {
    let config = renewtwin_generator::DistrictConfig { buildings, seed, ..Default::default() };
    renewtwin_generator::district_ifc(&config).into_bytes()
}

/// District sizes to benchmark: `$RENEWTWIN_BENCH_BUILDINGS` (comma-separated), else `default`.
pub fn district_sizes(default: &[u32]) -> Vec<u32> {
    match std::env::var("RENEWTWIN_BENCH_BUILDINGS") {
        Ok(list) => list.split(',').filter_map(|s| s.trim().parse().ok()).collect(),
        Err(_) => default.to_vec(),
    }
}

/// The file name of `path`, for benchmark ids.
pub fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Parses and meshes `bytes` as `renewtwin serve` does (default import settings).
pub fn import(name: &str, bytes: &[u8]) -> anyhow::Result<Model> {
    import_bytes(name, bytes, &ImportConfig::default()).with_context(|| format!("cannot import {name}"))
}

/// Parses `bytes` without meshing: the spatial tree, elements, property sets and schedules.
pub fn import_semantics(name: &str, bytes: &[u8]) -> anyhow::Result<Model> {
    let config = ImportConfig { geometry: false, ..ImportConfig::default() };
    import_bytes(name, bytes, &config).with_context(|| format!("cannot import {name}"))
}

/// `model` as the scene `renewtwin serve FILE` makes of a bare model file: the built-in
/// default scene's renewal plan (generic IFC selectors) resolved against it.
pub fn scene(name: &str, model: Model) -> anyhow::Result<LoadedScene> {
    let mut manifest = Manifest::parse("scenes/default/scene.toml (built in)", DEFAULT_MANIFEST)?;
    manifest.name = name.to_owned();
    manifest.models = vec![ModelSource::File(PathBuf::from(name))];
    let plan = Plan::resolve(&manifest, None, &model)?;
    Ok(LoadedScene { manifest, model, plan })
}

/// Encodes `scene` for the wire: every mesh quantized, placements ranked by importance and
/// packed into the mesh frames a client receives.
pub fn encode(scene: &LoadedScene) -> anyhow::Result<SceneStatic> {
    Ok(SceneStatic::build(scene)?)
}

/// Builds the headless Bevy app and spawns one entity per element, as `renewtwin serve` does
/// before it starts the simulation thread. Returns the app so the caller decides when to drop.
pub fn spawn(scene: &LoadedScene) -> bevy_app::App {
    build_app(SimInput::from_scene(scene), &SimConfig::default()).0
}

/// Wall time of each phase of one load, from bytes in memory to a scene ready to serve.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadTimes {
    /// Bytes → the first mesh batch handed out by the streaming import (the first building's
    /// envelope), which `renewtwin serve` encodes and sends as it comes.
    pub first_batch: Duration,
    /// Header, record scan, entity index, units, spatial tree, elements, property sets.
    pub parse: Duration,
    /// Meshing every element (ifc-lite's router on every core), instancing, deduplication.
    pub geometry: Duration,
    /// Resolving the renewal plan against the model.
    pub plan: Duration,
    /// Quantizing meshes and encoding every mesh frame ([`SceneStatic::build`]).
    pub encode: Duration,
    /// Building the headless app and spawning one entity per element.
    pub spawn: Duration,
}

impl LoadTimes {
    /// Bytes → the first mesh batch ready to send: the importer streams meshes building by
    /// building and `renewtwin serve` sends each batch as it comes (since 2026-12-05; before,
    /// the frames were ranked and encoded after the last element was meshed).
    pub fn first_triangle(&self) -> Duration {
        self.first_batch
    }

    /// Bytes → the scene ready to serve: every phase, as `renewtwin serve` runs them.
    pub fn full(&self) -> Duration {
        self.parse + self.geometry + self.plan + self.encode + self.spawn
    }
}

/// What one load produced, for sanity checks beside the times.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadCounts {
    /// Elements (entities spawned).
    pub elements: usize,
    /// Distinct meshes.
    pub meshes: usize,
    /// Triangles over all placements.
    pub triangles: u64,
    /// Bytes of encoded mesh frames.
    pub wire_bytes: u64,
}

/// Runs the whole pipeline once on `bytes` and times each phase. Everything it built is
/// dropped after the clock stops.
pub fn load_once(name: &str, bytes: &[u8]) -> anyhow::Result<(LoadTimes, LoadCounts)> {
    let started = Instant::now();
    let mut first_batch = None;
    let model = import_streaming(name, bytes, &ImportConfig::default(), &mut |event| {
        if matches!(event, ImportEvent::Meshed(_)) && first_batch.is_none() {
            first_batch = Some(started.elapsed());
        }
    })
    .with_context(|| format!("cannot import {name}"))?;
    let imported = started.elapsed();
    let geometry = Duration::from_secs_f64(model.source.geometry_seconds);
    let t = Instant::now();
    let scene = scene(name, model)?;
    let plan = t.elapsed();
    let t = Instant::now();
    let wire = encode(&scene)?;
    let encode_time = t.elapsed();
    let t = Instant::now();
    let app = spawn(&scene);
    let spawn_time = t.elapsed();
    let counts = LoadCounts {
        elements: scene.model.elements.len(),
        meshes: scene.model.meshes.len(),
        triangles: wire.triangle_count,
        wire_bytes: wire.scene_bytes,
    };
    drop((app, wire, scene));
    let times = LoadTimes {
        first_batch: first_batch.unwrap_or(imported),
        parse: imported.saturating_sub(geometry),
        geometry,
        plan,
        encode: encode_time,
        spawn: spawn_time,
    };
    Ok((times, counts))
}

/// A synthetic simulation of `elements` walls, each retrofitted for 30 days from a start spread
/// over the first year (about 1/365 of them change state per simulated day). A fixed linear
/// congruential sequence: the same world on every run.
pub fn retrofit_sim_input(elements: usize) -> SimInput {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let schedules = (0..elements)
        .map(|_| {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let start = ((x >> 33) % 365) as i32;
            ElementSchedule(vec![Step { start, end: start + 30, action: Action::Retrofit }])
        })
        .collect();
    let plan = Plan { projects: vec!["bench".into()], schedules, end: 400, ..Plan::default() };
    let seeds = (0..elements).map(|i| ElementSeed { global_id: format!("{i:022}"), class: "IfcWall".into() }).collect();
    SimInput::new(plan, CivilDate::new(2026, 1, 1), seeds)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_benchmark_input_is_an_ifc4_file() {
        let bytes = super::district_bytes(1, 1);
        let head = String::from_utf8_lossy(&bytes[..bytes.len().min(400)]).into_owned();
        assert!(head.starts_with("ISO-10303-21;"), "{head}");
        assert!(head.contains("IFC4"), "{head}");
    }

    #[test]
    fn one_load_of_a_small_district_spawns_every_element_and_encodes_every_triangle() -> anyhow::Result<()> {
        let bytes = super::district_bytes(1, 1);
        let (times, counts) = super::load_once("district.ifc", &bytes)?;
        let model = super::import("district.ifc", &bytes)?;
        assert_eq!(counts.elements, model.elements.len());
        assert_eq!(counts.triangles, model.placed_triangles());
        assert!(counts.wire_bytes > 0);
        assert!(times.full() >= times.first_triangle());
        Ok(())
    }
}
