//! The `renewtwin` command line: serve a scene, inspect or import models, generate districts.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use renewtwin_engine::scene::{self, SceneSource, SceneStatic};
use renewtwin_engine::server::{self, AppState};
use renewtwin_engine::sim::{self, SimConfig, SimInput};
use renewtwin_importers::{ImportConfig, Model};

/// renewtwin: a live 3D digital twin of an urban renewal project.
///
/// Serve an old residential district to browsers and watch its renewal play out, or inspect the
/// BIM models that go into it.
#[derive(Parser, Debug)]
#[command(version, propagate_version = true, after_help = "Examples:\n  renewtwin serve                        # the built-in old residential block on http://127.0.0.1:8080/\n  renewtwin serve model.ifc --addr 0.0.0.0:8080\n  renewtwin inspect model.ifc --json\n  renewtwin generate district --buildings 200 --seed 7 --out big.ifc\n\nLogs go to stderr; set RUST_LOG=debug for more.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve a scene: the viewer at /, the API at /api, the live twin at /ws.
    ///
    /// With no SCENE, serves the built-in default: an old residential block of walk-up
    /// buildings getting lifts, new facades and new pipes. SCENE may be a scene folder, a
    /// scene.toml, or a bare IFC file (which then gets the default renewal plan).
    Serve {
        /// Scene folder, scene.toml, or IFC file.
        scene: Option<PathBuf>,
        /// Address to listen on; port 0 picks a free port (the chosen address is printed).
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: SocketAddr,
        /// Simulated days per real second (0 pauses the clock).
        #[arg(long, default_value_t = 10.0)]
        speed: f64,
        /// Simulated day to start on.
        #[arg(long, default_value_t = 0.0)]
        start_day: f64,
        /// Stop at the end of the plan instead of starting over.
        #[arg(long)]
        no_loop: bool,
    },
    /// Import one model and print what is in it.
    Inspect {
        /// IFC file.
        file: PathBuf,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Import models with a progress bar and print a summary of each.
    Import {
        /// IFC files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Write a synthetic model.
    Generate {
        #[command(subcommand)]
        what: Generate,
    },
}

#[derive(Subcommand, Debug)]
enum Generate {
    /// An old residential district as IFC4: walk-up buildings, a street, pipes and the new
    /// lifts of its renewal plan. The same seed always writes the same bytes.
    District {
        /// Number of residential buildings.
        #[arg(long, default_value_t = 6)]
        buildings: u32,
        /// Random seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    match Cli::parse().command {
        Command::Serve { scene, addr, speed, start_day, no_loop } => {
            let config = SimConfig { speed, start_day, looping: !no_loop, ..SimConfig::default() };
            serve(SceneSource::from_arg(scene.as_deref()), addr, config)
        }
        Command::Inspect { file, json } => inspect(&file, json),
        Command::Import { files } => import(&files),
        Command::Generate { what: Generate::District { buildings, seed, out } } => generate(buildings, seed, &out),
    }
}

fn spinner(message: String) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new_spinner().with_message(message);
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

fn serve(source: SceneSource, addr: SocketAddr, config: SimConfig) -> Result<()> {
    let bar = spinner(format!("loading {}", describe(&source)));
    let started = Instant::now();
    let loaded = scene::load(&source, &ImportConfig::default()).context("cannot load the scene")?;
    let wire = SceneStatic::build(&loaded).context("cannot prepare the scene for streaming")?;
    bar.finish_and_clear();
    tracing::info!(
        scene = %loaded.manifest.name,
        elements = loaded.model.elements.len(),
        meshes = loaded.model.meshes.len(),
        triangles = wire.triangle_count,
        diagnostics = loaded.model.diagnostics.len(),
        seconds = started.elapsed().as_secs_f64(),
        "scene loaded"
    );
    if !renewtwin_engine::VIEWER_BUILT {
        tracing::warn!("this build has no viewer (RENEWTWIN_SKIP_VIEWER was set): / shows a placeholder");
    }
    let (live, sim) = sim::spawn(SimInput::from_scene(&loaded), config).context("cannot start the simulation")?;
    drop(loaded);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let result = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
        let local = listener.local_addr()?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "renewtwin listening on http://{local}/")?;
        out.flush()?;
        drop(out);
        let state = AppState { scene: std::sync::Arc::new(wire), live };
        server::serve(listener, state, async {
            if let Err(e) = tokio::signal::ctrl_c().await {
                tracing::error!(error = %e, "cannot wait for ctrl-c");
                std::future::pending::<()>().await;
            }
            tracing::info!("shutting down");
        })
        .await
        .context("server failed")
    });
    sim.stop();
    runtime.shutdown_timeout(Duration::from_secs(5));
    result
}

fn describe(source: &SceneSource) -> String {
    match source {
        SceneSource::Default => "the built-in default scene".into(),
        SceneSource::Manifest(p) | SceneSource::Model(p) => p.display().to_string(),
    }
}

#[derive(serde::Serialize)]
struct Inspection<'a> {
    file: String,
    schema: &'a str,
    bytes: u64,
    entities: u64,
    length_unit_to_metres: f64,
    products: usize,
    products_with_geometry: usize,
    meshes: usize,
    triangles: u64,
    storeys: usize,
    property_sets: usize,
    bbox: [f64; 6],
    diagnostics: usize,
    diagnostics_by_kind: std::collections::BTreeMap<&'static str, usize>,
    seconds: f64,
}

fn inspection(file: String, model: &Model, seconds: f64) -> Inspection<'_> {
    let mut by_kind = std::collections::BTreeMap::new();
    for d in &model.diagnostics {
        *by_kind.entry(d.kind.key()).or_insert(0) += 1;
    }
    Inspection {
        file,
        schema: &model.source.schema,
        bytes: model.source.bytes,
        entities: model.source.entities,
        length_unit_to_metres: model.source.length_unit_to_metres,
        products: model.elements.len(),
        products_with_geometry: model.elements_with_geometry(),
        meshes: model.meshes.len(),
        triangles: model.placed_triangles(),
        storeys: model.storey_count(),
        property_sets: model.property_set_count(),
        bbox: model.bbox().to_array(),
        diagnostics: model.diagnostics.len(),
        diagnostics_by_kind: by_kind,
        seconds,
    }
}

fn inspect(file: &std::path::Path, json: bool) -> Result<()> {
    let started = Instant::now();
    let model = renewtwin_importers::import_file(file, &ImportConfig::default())
        .with_context(|| format!("cannot import {}", file.display()))?;
    let report = inspection(file.display().to_string(), &model, started.elapsed().as_secs_f64());
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_report(&report);
        for d in model.diagnostics.iter().take(20) {
            let at = d.step_id.map(|id| format!("#{id} ")).unwrap_or_default();
            println!("  {:?} {}{}: {}", d.severity, at, d.class.as_deref().unwrap_or(""), d.message);
        }
        if model.diagnostics.len() > 20 {
            println!("  … and {} more diagnostics (use --json for counts by kind)", model.diagnostics.len() - 20);
        }
    }
    Ok(())
}

fn print_report(r: &Inspection<'_>) {
    println!("{}", r.file);
    println!("  schema                 {}", r.schema);
    println!("  size                   {} bytes, {} entities", r.bytes, r.entities);
    println!("  products               {} ({} with geometry)", r.products, r.products_with_geometry);
    println!("  meshes / triangles     {} / {}", r.meshes, r.triangles);
    println!("  storeys                {}", r.storeys);
    println!("  property sets          {}", r.property_sets);
    println!(
        "  bbox (m)               [{:.2}, {:.2}, {:.2}] – [{:.2}, {:.2}, {:.2}]",
        r.bbox[0], r.bbox[1], r.bbox[2], r.bbox[3], r.bbox[4], r.bbox[5]
    );
    println!("  diagnostics            {} {:?}", r.diagnostics, r.diagnostics_by_kind);
    println!("  seconds                {:.3}", r.seconds);
}

fn import(files: &[PathBuf]) -> Result<()> {
    let bar = indicatif::ProgressBar::new(files.len() as u64).with_style(
        indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    let mut failures = 0;
    let mut reports = Vec::new();
    for file in files {
        bar.set_message(file.display().to_string());
        let started = Instant::now();
        match renewtwin_importers::import_file(file, &ImportConfig::default()) {
            Ok(model) => {
                let r = inspection(file.display().to_string(), &model, started.elapsed().as_secs_f64());
                reports.push(format!(
                    "{:<50} {:>10} {:>8} products {:>8} with geometry {:>10} triangles {:>6} diagnostics {:>7.2}s",
                    r.file, r.schema, r.products, r.products_with_geometry, r.triangles, r.diagnostics, r.seconds
                ));
            }
            Err(e) => {
                failures += 1;
                reports.push(format!("{:<50} FAILED: {e}", file.display()));
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    for line in reports {
        println!("{line}");
    }
    anyhow::ensure!(failures == 0, "{failures} of {} files could not be imported", files.len());
    Ok(())
}

fn generate(buildings: u32, seed: u64, out: &std::path::Path) -> Result<()> {
    anyhow::ensure!(buildings > 0, "--buildings must be at least 1");
    let file = std::fs::File::create(out).with_context(|| format!("cannot create {}", out.display()))?;
    let config = renewtwin_generator::DistrictConfig { buildings, seed, ..Default::default() };
    let bar = spinner(format!("writing {buildings} buildings to {}", out.display()));
    let summary = renewtwin_generator::write_district(&config, std::io::BufWriter::new(file))
        .with_context(|| format!("cannot write {}", out.display()))?;
    bar.finish_and_clear();
    println!("wrote {}: {summary:?}", out.display());
    Ok(())
}
