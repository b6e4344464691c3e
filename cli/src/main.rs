//! The `renewtwin` command line: serve a scene, inspect or import models, generate districts.

mod loadtest;
mod loadtest_cluster;
mod export_tiles;


use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use renewtwin_server::{self as server, AppState};
use renewtwin_store::Store;
use renewtwin_twin::analytics::{self, Analytics};
use renewtwin_twin::renewal::LoadedScene;
use renewtwin_twin::renewal::control::PlanControl;
use renewtwin_twin::scene::SceneSource;
use renewtwin_twin::sim::{self, SimConfig, SimInput};
use renewtwin_twin::wire::SceneStatic;
use renewtwin_importers::{ImportConfig, Model};

/// renewtwin: a live 3D digital twin of an urban renewal project.
///
/// Serve an old residential district to browsers and watch its renewal play out, or inspect the
/// BIM models that go into it.
#[derive(Parser, Debug)]
#[command(version, propagate_version = true, after_help = "Examples:\n  renewtwin serve                        # the built-in old residential block on http://127.0.0.1:8080/\n  renewtwin serve model.ifc --addr 0.0.0.0:8080\n  renewtwin inspect model.ifc --json\n  renewtwin generate district --buildings 200 --seed 7 --out big.ifc\n  renewtwin render --viewpoint overview --date 2026-08-14 --out poster.png\n\nLogs go to stderr; set RUST_LOG=debug for more.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Back up the database to FILE: a consistent copy, taken online (a server may be running
    /// on the same file), readable by its owner only. Run it on the server's machine.
    ///
    /// The copy holds accounts, password hashes, phone numbers and households (but no link from
    /// a ballot to a household: that key is the separate ballot-key file). To keep copies off
    /// the machine, encrypt them to an operator key (age format, X25519):
    ///
    ///   renewtwin backup-key --out operator.key        # once, on a safe machine; prints age1…
    ///   renewtwin backup --out 2026-12-05.age --to age1…
    ///   renewtwin restore --from 2026-12-05.age --identity operator.key --db renewtwin.db
    ///
    /// The standard `age` tool decrypts them too (`age -d -i operator.key FILE`).
    Backup {
        /// The server's database file.
        #[arg(long, default_value = "renewtwin.db")]
        db: PathBuf,
        /// Where to write the copy (must not exist yet).
        #[arg(long)]
        out: PathBuf,
        /// Encrypt the copy to this operator's public key (`age1…`, from `renewtwin backup-key`);
        /// repeat for several operators.
        #[arg(long = "to", value_name = "RECIPIENT")]
        to: Vec<String>,
        /// Encrypt to every public key in FILE (one `age1…` per line; `#` comments).
        #[arg(long = "to-file", value_name = "FILE")]
        to_file: Option<PathBuf>,
    },
    /// Make an operator key for encrypted backups: writes the secret identity to FILE (owner
    /// only; keep it apart from the backups) and prints its public key for `backup --to`.
    BackupKey {
        /// The new key file (must not exist yet).
        #[arg(long)]
        out: PathBuf,
    },
    /// Restore a backup (plain, or encrypted with `backup --to`) as a new database file: it is
    /// decrypted, checked (SQLite's integrity check, renewtwin's migrations) and only then put
    /// in place. Then start the server on it (`renewtwin serve --db FILE`).
    Restore {
        /// The backup file.
        #[arg(long)]
        from: PathBuf,
        /// The operator's key file (`renewtwin backup-key`), for an encrypted backup.
        #[arg(long)]
        identity: Option<PathBuf>,
        /// The database file to create (must not exist yet).
        #[arg(long)]
        db: PathBuf,
    },
    /// Serve a scene: the viewer at /, the API at /api, the live twin at /ws.
    ///
    /// With no SCENE, serves the built-in default: an old residential block of walk-up
    /// buildings getting lifts, new facades and new pipes. SCENE may be a scene folder, a
    /// scene.toml, or a bare model file (its scene is derived from the model: its name, a
    /// fitted viewpoint, and the plan of its own IFC work schedule, or no plan).
    ///
    /// It listens at once and prints "renewtwin listening on URL" before the scene is loaded:
    /// a browser that opens it meanwhile sees the buildings appear as they are meshed, then
    /// the whole scene; /api/health says "loading" with the progress, and other requests wait
    /// for the load. A progress bar on the terminal counts the buildings meshed.
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
        /// Play this scenario of the scene instead of its base plan.
        #[arg(long)]
        scenario: Option<String>,
        /// Let clients on other machines act as the operator: control the shared clock, record
        /// events, post sensor readings (local clients without an account always can; government
        /// accounts can from anywhere; `RENEWTWIN_OPERATOR_TOKEN` / `RENEWTWIN_SENSOR_TOKEN` in the
        /// environment declare tokens that admit their bearer from anywhere instead).
        #[arg(long)]
        open_controls: bool,
        /// The database for comments, votes, reports and sensor readings: a SQLite file (WAL;
        /// created if missing; `:memory:` keeps nothing after the server stops) or a
        /// PostgreSQL 15 server, `postgres://USER@HOST:PORT/DB`.
        #[arg(long = "database", visible_alias = "db", env = "RENEWTWIN_DATABASE_URL", default_value = "renewtwin.db")]
        db: String,
        /// The key file of the secret ballot (32 bytes; created, readable by its owner only, if
        /// missing): ballots are stored under keyed pseudonyms of their households, so the
        /// database and its backups alone never link a choice to a household. Keep it apart
        /// from the backups, and keep it: the server refuses to start on ballots cast under
        /// another key. Default: the database's path with `.ballot-key` added (a new random key
        /// each start for `:memory:`; `renewtwin.ballot-key` in the working directory for a
        /// PostgreSQL database).
        #[arg(long, env = "RENEWTWIN_BALLOT_KEY")]
        ballot_key: Option<PathBuf>,
        /// Run as one replica of a cluster: `nats://HOST:PORT` of a nats-server with JetStream
        /// on (`nats-server -js -sd DIR`). Every replica of the same scene applies one ordered
        /// log (JetStream stream `renewtwin-<scene hash>`, file storage, entries kept a year),
        /// so viewers see the same day, states and tallies on any replica and resume on another
        /// when theirs stops. Needs a database every replica shares (--database postgres://…).
        /// The first replica on an empty stream sets the clock from --speed and --start-day;
        /// start every replica with the same scene, --scenario and --no-loop. While NATS is
        /// away, writes answer 503 with Retry-After and the clock stands still.
        #[arg(long, env = "RENEWTWIN_CLUSTER", value_name = "NATS_URL")]
        cluster: Option<String>,
    },
    /// Play a scene's renewal plan without serving it, and print its timeline and indicators.
    ///
    /// The timeline lists every day a phase or task opens or closes, with the number of
    /// elements in each lifecycle state from that day on. The indicators are the scenario's
    /// duration, cost, households affected, days of noisy work, green area, floor area ratio,
    /// heritage kept and approval lead times (serial and parallel).
    Simulate {
        /// Scene folder, scene.toml, or IFC file; the built-in default scene when absent.
        scene: Option<PathBuf>,
        /// A scenario of the scene (all of them with --scenario all).
        #[arg(long)]
        scenario: Option<String>,
        /// Stop the timeline at this date (YYYY-MM-DD).
        #[arg(long)]
        until: Option<String>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Import one model and print what is in it.
    Inspect {
        /// IFC file.
        file: PathBuf,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
        /// Print the one-line JSON of ../shared/bench-peers (parse/geometry/total seconds,
        /// meshes, triangles, vertices, peak RSS), to compare with web-ifc and IfcOpenShell.
        #[arg(long, conflicts_with = "json")]
        peer_json: bool,
    },
    /// Import models in parallel with a progress bar and print a summary of each.
    ///
    /// Files go through the content-addressed cache ($RENEWTWIN_CACHE_DIR, else
    /// $XDG_CACHE_HOME/renewtwin, else ~/.cache/renewtwin): an unchanged file loads from it.
    Import {
        /// IFC, CityJSON or GeoJSON files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Parse and mesh every file even if the cache has it.
        #[arg(long)]
        no_cache: bool,
    },
    /// Load-test live streaming on loopback: starts `renewtwin serve` as a child, measures
    /// time-to-first-triangle and time-to-complete of the scene, then connects VIEWERS viewers
    /// that receive deltas and reports delivery latency (p50/p90/p99), server CPU and memory.
    ///
    /// With --cluster it tests the replicas instead (issue 18): a nats-server (JetStream) it
    /// starts itself, REPLICAS `serve --cluster` replicas of the default scene on a database it
    /// creates (and drops) on the PostgreSQL server of --database, VIEWERS viewers spread over
    /// them and VOTERS residents voting and commenting with retries; one replica is killed with
    /// SIGKILL and nats-server restarted mid-run. It fails unless no acknowledged write is lost,
    /// every replica has the same tally and twin, every viewer of the killed replica resumed on
    /// another and p99 delta delivery on the surviving replicas is under 200 ms. For example:
    ///
    ///   eval "$(scripts/pg-throwaway.sh start)"
    ///   renewtwin loadtest --cluster --database "$RENEWTWIN_TEST_POSTGRES" --viewers 3000 --voters 1000
    Loadtest {
        /// Concurrent viewers (at most 10,000).
        #[arg(long, default_value_t = 1000)]
        viewers: usize,
        /// Seconds of measurement (at most 300).
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Deltas per second (default 10); with --cluster, simulated days per second (default
        /// 0.5; the consultation's 45-day publicity period must outlast the run).
        #[arg(long)]
        rate: Option<f64>,
        /// Serve a generated district of this many buildings instead of the default scene.
        #[arg(long, conflicts_with = "cluster")]
        buildings: Option<u32>,
        /// Fresh viewers that load the whole scene first, for time-to-first-triangle.
        #[arg(long, default_value_t = 3)]
        scene_loads: usize,
        /// Test replicas over NATS and PostgreSQL instead of one server (needs --database and nats-server).
        #[arg(long, requires = "database")]
        cluster: bool,
        /// With --cluster: how many replicas (2 to 8; the last is killed mid-run).
        #[arg(long, default_value_t = 3)]
        replicas: usize,
        /// With --cluster: residents who vote, change their vote and comment (at most 10,000).
        #[arg(long, default_value_t = 1000)]
        voters: usize,
        /// With --cluster: a PostgreSQL server, `postgres://USER@HOST:PORT/DB`; the run creates a
        /// database of its own there and drops it at the end.
        #[arg(long, env = "RENEWTWIN_DATABASE_URL")]
        database: Option<String>,
        /// With --cluster: fail when the p99 delta delivery of the surviving replicas' viewers is
        /// not under this many milliseconds (0: report it only).
        #[arg(long, default_value_t = 200.0)]
        p99_goal_ms: f64,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Render a scene off-screen into a PNG: the browser viewer's picture, without a browser.
    ///
    /// Draws the scene as the viewer shows it on DATE (lifecycle colours, planned elements as
    /// ghosts, demolished ones hidden, feature edges) from one of the scene's [[viewpoints]],
    /// with the viewer's own renderer running natively: Vulkan, else OpenGL. A machine without
    /// a GPU uses Mesa's software rasterisers (Debian/Ubuntu: mesa-vulkan-drivers libvulkan1,
    /// or libegl1 libegl-mesa0 libgl1-mesa-dri). WGPU_BACKEND=vulkan|gl picks one.
    #[cfg(feature = "render")]
    #[command(after_help = "Examples:\n  renewtwin render --out block.png                                  # the default scene, whole block, plan start\n  renewtwin render --viewpoint lifts --date 2026-10-01 --out lifts.png\n  renewtwin render --viewpoint overview --colour phase --date 2026-08-14 --size 7680x4320 --out poster.png\n  renewtwin render my-scene/ --scenario fast --viewpoint gate --out gate.png\n\nA wrong --viewpoint lists the scene's viewpoints.")]
    Render {
        /// Scene folder, scene.toml, or IFC file; the built-in default scene when absent.
        scene: Option<PathBuf>,
        /// One of the scene's [[viewpoints]] by name; the whole scene framed when absent.
        #[arg(long)]
        viewpoint: Option<String>,
        /// The day shown (YYYY-MM-DD); the plan's first day when absent.
        #[arg(long)]
        date: Option<String>,
        /// Show this scenario of the scene instead of its base plan.
        #[arg(long)]
        scenario: Option<String>,
        /// Colour elements by lifecycle state, by the project phase running that day, or by
        /// structural risk.
        #[arg(long, default_value = "lifecycle", value_parser = renewtwin::render::ColourBy::NAMES)]
        colour: String,
        /// Image size in pixels, WIDTHxHEIGHT: each side at most 8192, the area at most that of 7680x4320.
        #[arg(long, default_value = "1920x1080", value_parser = parse_size)]
        size: (u32, u32),
        /// Leave out the feature edges (outlines).
        #[arg(long)]
        no_edges: bool,
        /// The PNG file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Export the twin in a standard format for other tools.
    Export {
        #[command(subcommand)]
        what: Export,
    },
    /// Write a synthetic model.
    Generate {
        #[command(subcommand)]
        what: Generate,
    },
}

#[derive(Subcommand, Debug)]
enum Export {
    /// The scene as it stands on a day as glTF 2.0 binary (GLB), for glTF viewers, Blender,
    /// Cesium and game engines.
    ///
    /// Each element standing that day is drawn with its lifecycle state as its material (the
    /// viewer's colours; planned elements translucent); demolished and removed elements are left
    /// out. Meshes the scene shares stay shared (EXT_mesh_gpu_instancing). Every element of the
    /// model has a row of metadata (GlobalId, IFC class, name, storey, state, renewal projects)
    /// in EXT_structural_metadata, and each drawn triangle points at its row through
    /// EXT_mesh_features / EXT_instance_features. The model's Z up is turned to glTF's Y up by the
    /// root node; units are metres in the scene's local frame (the origin is in asset.extras).
    #[command(
        after_help = "Examples:\n  renewtwin export gltf --out block.glb                              # the default scene on the plan's first day\n  renewtwin export gltf --date 2026-10-01 --out block-oct.glb\n  renewtwin export gltf my-scene/ --scenario lifts-only --date 2027-01-15 --out lifts-only.glb\n\nThe same file is served at GET /api/export/scene.glb?date=YYYY-MM-DD&scenario=NAME.\nCheck a file with the Khronos glTF Validator: npx gltf-validator block.glb"
    )]
    Gltf {
        /// Scene folder, scene.toml, or IFC file; the built-in default scene when absent.
        scene: Option<PathBuf>,
        /// The day exported (YYYY-MM-DD); the plan's first day when absent.
        #[arg(long)]
        date: Option<String>,
        /// Export this scenario of the scene instead of its base plan.
        #[arg(long)]
        scenario: Option<String>,
        /// The .glb file to write (replaced if it exists).
        #[arg(long)]
        out: PathBuf,
    },
    /// The model and its renewal plan as IFC4, for BIM tools (Revit, ArchiCAD, BlenderBIM …).
    ///
    /// Every element keeps its GlobalId, class, name and storey; its geometry is written as
    /// triangulated face sets in the scene's frame; its renewal status is the Status property of
    /// its class's common property set (NEW, DEMOLISH, TEMPORARY or EXISTING, from the plan).
    /// The plan is one IfcWorkSchedule with an IfcTask per task (name, PROJECT/TASK
    /// identification, dates and duration), each assigned to the elements it works on, so the
    /// file re-imports into a scene whose `ifc_task` selectors pick the same elements. Property
    /// sets other than Status are not copied.
    #[command(after_help = "Examples:\n  renewtwin export ifc --out block-plan.ifc                          # the default scene and its base plan\n  renewtwin export ifc my-scene/ --scenario lifts-only --out lifts-only.ifc\n\nCheck a file with IfcOpenShell: python3 -m ifcopenshell.validate block-plan.ifc")]
    Ifc {
        /// Scene folder, scene.toml, or IFC file; the built-in default scene when absent.
        scene: Option<PathBuf>,
        /// Export this scenario's plan instead of the base plan.
        #[arg(long)]
        scenario: Option<String>,
        /// The .ifc file to write (replaced if it exists).
        #[arg(long)]
        out: PathBuf,
    },
    Tiles(export_tiles::TilesArgs),
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

/// jemalloc instead of the system allocator, with two arenas and freed pages returned at once
/// (`.cargo/config.toml`). A district's import makes millions of small allocations on
/// every core and frees as much as it keeps; glibc's per-thread arenas held the freed memory,
/// so a cold `serve` of the 300-building district peaked at 346 MB RSS against 303 MB with
/// jemalloc, which is also faster (BENCHMARKS.md "Allocator").
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> Result<()> {
    // Colour codes only on a terminal, and never with NO_COLOR set (no-color.org): logs piped
    // to a file or a journal stay plain text.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    match Cli::parse().command {
        Command::Serve { scene, addr, speed, start_day, no_loop, scenario, open_controls, db, ballot_key, cluster } => {
            let config = SimConfig { speed, start_day, looping: !no_loop, ..SimConfig::default() };
            let options = ServeOptions { addr, open_controls, db, ballot_key, cluster };
            serve(SceneSource::from_arg(scene.as_deref()), scenario.as_deref(), config, options)
        }
        Command::Simulate { scene, scenario, until, json } => {
            simulate(SceneSource::from_arg(scene.as_deref()), scenario.as_deref(), until.as_deref(), json)
        }
        Command::Backup { db, out, to, to_file } => backup(&db, &out, &to, to_file.as_deref()),
        Command::BackupKey { out } => backup_key(&out),
        Command::Restore { from, identity, db } => restore(&from, identity.as_deref(), &db),
        Command::Inspect { file, json, peer_json } => inspect(&file, json, peer_json),
        Command::Import { files, no_cache } => import(&files, !no_cache),
        Command::Generate { what: Generate::District { buildings, seed, out } } => generate(buildings, seed, &out),
        Command::Export { what: Export::Gltf { scene, date, scenario, out } } => {
            export_gltf(SceneSource::from_arg(scene.as_deref()), date.as_deref(), scenario.as_deref(), &out)
        }
        Command::Export { what: Export::Ifc { scene, scenario, out } } => {
            export_ifc(SceneSource::from_arg(scene.as_deref()), scenario.as_deref(), &out)
        }
        Command::Export { what: Export::Tiles(args) } => export_tiles::run(args),
        #[cfg(feature = "render")]
        Command::Render { scene, viewpoint, date, scenario, colour, size, no_edges, out } => {
            let request = RenderRequest { viewpoint, date, scenario, colour, size, edges: !no_edges, out };
            render(SceneSource::from_arg(scene.as_deref()), request)
        }
        Command::Loadtest { viewers, seconds, rate, buildings, scene_loads, cluster, replicas, voters, database, p99_goal_ms, json } => {
            if cluster {
                loadtest_cluster::run(loadtest_cluster::ClusterLoadConfig {
                    replicas,
                    viewers,
                    voters,
                    seconds,
                    speed: rate.unwrap_or(0.5),
                    database: database.unwrap_or_default(),
                    p99_goal_ms,
                    json,
                })
            } else {
                loadtest::run(loadtest::LoadConfig { viewers, seconds, rate: rate.unwrap_or(10.0), buildings, scene_loads, json })
            }
        }
    }
}

/// `--size WIDTHxHEIGHT`.
#[cfg(feature = "render")]
fn parse_size(text: &str) -> Result<(u32, u32), String> {
    let (w, h) = text.split_once(['x', 'X']).ok_or_else(|| format!("{text:?} is not WIDTHxHEIGHT, e.g. 1920x1080"))?;
    let side = |s: &str| s.trim().parse::<u32>().ok().filter(|v| (1..=8192).contains(v));
    match (side(w), side(h)) {
        (Some(w), Some(h)) => Ok((w, h)),
        _ => Err(format!("{text:?}: each side must be a whole number from 1 to 8192")),
    }
}

/// `renewtwin render`'s options besides the scene.
#[cfg(feature = "render")]
struct RenderRequest {
    viewpoint: Option<String>,
    date: Option<String>,
    scenario: Option<String>,
    colour: String,
    size: (u32, u32),
    edges: bool,
    out: PathBuf,
}

#[cfg(feature = "render")]
fn render(source: SceneSource, request: RenderRequest) -> Result<()> {
    use renewtwin::render::{ColourBy, SceneRenderer, Shot, camera_of};
    let date = match request.date.as_deref() {
        None => None,
        Some(text) => Some(
            renewtwin_protocol::CivilDate::parse_iso(text)
                .with_context(|| format!("--date {text:?} is not a date; write YYYY-MM-DD"))?,
        ),
    };
    let colour = ColourBy::parse(&request.colour)
        .with_context(|| format!("--colour {:?}: use one of {}", request.colour, ColourBy::NAMES.join(", ")))?;
    let bar = spinner(format!("loading {}", describe(&source)));
    let started = Instant::now();
    let cache = renewtwin_importers::Cache::from_env();
    let loaded = LoadedScene::load(&source, request.scenario.as_deref(), &ImportConfig::default(), cache.as_ref());
    bar.finish_and_clear();
    let loaded = loaded.context("cannot load the scene")?;
    // A wrong viewpoint is reported before any GPU work.
    camera_of(&loaded, request.viewpoint.as_deref())?;
    let mut renderer = SceneRenderer::new(loaded)?;
    let shot = Shot { viewpoint: request.viewpoint, date, colour, width: request.size.0, height: request.size.1, edges: request.edges };
    let rendered = renderer.render(&shot)?;
    let png = rendered.image.to_png()?;
    std::fs::write(&request.out, &png).with_context(|| format!("cannot write {}", request.out.display()))?;
    println!(
        "wrote {} ({}x{}, {} on day {}, {} bytes) in {:.1} s with {}",
        request.out.display(),
        rendered.image.width,
        rendered.image.height,
        rendered.date,
        rendered.day,
        png.len(),
        started.elapsed().as_secs_f64(),
        renderer.adapter()
    );
    Ok(())
}

/// `renewtwin export gltf`: loads the scene, then streams the GLB into `out` with a progress bar.
fn export_gltf(
    source: SceneSource,
    date: Option<&str>,
    scenario: Option<&str>,
    out: &std::path::Path,
) -> Result<()> {
    use renewtwin_exporters::gltf;
    let date = match date {
        None => None,
        Some(text) => Some(
            renewtwin_protocol::CivilDate::parse_iso(text)
                .with_context(|| format!("--date {text:?} is not a date; write YYYY-MM-DD"))?,
        ),
    };
    let bar = spinner(format!("loading {}", describe(&source)));
    let started = Instant::now();
    let cache = renewtwin_importers::Cache::from_env();
    let loaded = LoadedScene::load(&source, scenario, &ImportConfig::default(), cache.as_ref());
    bar.finish_and_clear();
    let loaded = loaded.context("cannot load the scene")?;
    let start = loaded.manifest.start;
    let day = date.map_or(0, |d| {
        (d.days_since_epoch() - start.days_since_epoch())
            .clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
    });
    let file =
        std::fs::File::create(out).with_context(|| format!("cannot create {}", out.display()))?;
    let bar = indicatif::ProgressBar::new(0).with_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {bytes}/{total_bytes} {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message(format!("writing {}", out.display()));
    let scene = gltf::Scene {
        manifest: &loaded.manifest,
        model: &loaded.model,
        plan: &loaded.plan,
    };
    let stats = gltf::write_glb(&scene, &mut gltf::ModelGeometry(&loaded.model), day, std::io::BufWriter::new(file), |p| {
        bar.set_length(p.total);
        bar.set_position(p.done);
    });
    bar.finish_and_clear();
    let stats = match stats {
        Ok(s) => s,
        Err(e) => {
            let _ = std::fs::remove_file(out);
            return Err(anyhow::Error::new(e).context(format!("cannot export {}", out.display())));
        }
    };
    println!(
        "wrote {} ({} bytes): {} on day {}{}: {} elements drawn ({} placements, {} as instances of {} shared meshes), {} demolished or removed left out, in {:.1} s",
        out.display(),
        stats.bytes,
        renewtwin_protocol::CivilDate::from_sim_day(start, renewtwin_protocol::SimDay(day)),
        day,
        scenario
            .map(|s| format!(", scenario {s}"))
            .unwrap_or_default(),
        stats.elements,
        stats.placements,
        stats.instances,
        stats.instanced_nodes,
        stats.left_out,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `renewtwin export ifc`: loads the scene, then streams the IFC4 file into `out`.
fn export_ifc(source: SceneSource, scenario: Option<&str>, out: &std::path::Path) -> Result<()> {
    let bar = spinner(format!("loading {}", describe(&source)));
    let started = Instant::now();
    let cache = renewtwin_importers::Cache::from_env();
    let loaded = LoadedScene::load(&source, scenario, &ImportConfig::default(), cache.as_ref());
    bar.finish_and_clear();
    let loaded = loaded.context("cannot load the scene")?;
    let file = std::fs::File::create(out).with_context(|| format!("cannot create {}", out.display()))?;
    let bar = indicatif::ProgressBar::new(loaded.model.elements.len() as u64).with_style(
        indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} elements {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message(format!("writing {}", out.display()));
    let scene = renewtwin_exporters::gltf::Scene { manifest: &loaded.manifest, model: &loaded.model, plan: &loaded.plan };
    let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let stats = renewtwin_exporters::ifc::write_ifc(&scene, &name, file, |done, _| bar.set_position(done as u64));
    bar.finish_and_clear();
    let stats = match stats {
        Ok(s) => s,
        Err(e) => {
            let _ = std::fs::remove_file(out);
            return Err(anyhow::Error::new(e).context(format!("cannot export {}", out.display())));
        }
    };
    println!(
        "wrote {}: {} elements ({} as IfcBuildingElementProxy), {} tasks{}, {} entities, in {:.1} s",
        out.display(),
        stats.elements,
        stats.proxied,
        stats.tasks,
        scenario.map(|s| format!(" of scenario {s}")).unwrap_or_default(),
        stats.entities,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

pub(crate) fn spinner(message: String) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new_spinner().with_message(message);
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// Where and how `serve` listens and stores.
struct ServeOptions {
    addr: SocketAddr,
    open_controls: bool,
    db: String,
    ballot_key: Option<PathBuf>,
    cluster: Option<String>,
}

/// The ballot key of a server on `db`: the file given, else the database's path with
/// `.ballot-key` added, else (an in-memory database) a random key kept nowhere.
fn ballot_key(db: &str, given: Option<&std::path::Path>) -> Result<renewtwin_civic::ballot_key::BallotKey> {
    use renewtwin_civic::ballot_key::BallotKey;
    let path = match given {
        Some(path) => path.to_owned(),
        None if db == ":memory:" => return Ok(BallotKey::ephemeral()?),
        None if renewtwin_store::is_postgres_url(db) => PathBuf::from("renewtwin.ballot-key"),
        None => PathBuf::from(format!("{db}.ballot-key")),
    };
    Ok(BallotKey::load_or_create(&path)?)
}

fn serve(source: SceneSource, scenario: Option<&str>, config: SimConfig, options: ServeOptions) -> Result<()> {
    let ServeOptions { addr, open_controls, db, ballot_key: key_file, cluster } = options;
    let shown = renewtwin_store::redact(&db);
    if cluster.is_some() && !renewtwin_store::is_postgres_url(&db) {
        return Err(server::cluster::ClusterError::NotShared(shown).into());
    }
    let store = std::sync::Arc::new(
        Store::connect(&db, &[renewtwin_civic::MIGRATIONS, renewtwin_store::sensors::MIGRATIONS])
            .with_context(|| format!("cannot open the database {shown}"))?,
    );
    let key = ballot_key(&db, key_file.as_deref())?;
    renewtwin_civic::votes::adopt_key(&mut *store.lock()?, &key).with_context(|| format!("cannot adopt the ballot key for {shown}"))?;
    let started = Instant::now();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    // Listen at once: clients that connect while the scene loads get what is made so far.
    let listener = runtime.block_on(tokio::net::TcpListener::bind(addr)).with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "renewtwin listening on http://{local}/")?;
    out.flush()?;
    drop(out);
    if !server::VIEWER_BUILT {
        tracing::warn!("this build has no viewer (RENEWTWIN_SKIP_VIEWER was set): / shows a placeholder");
    }
    // Until the plan is resolved, the provisional scene starts today (UTC).
    let today = {
        let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        renewtwin_protocol::CivilDate::from_days_since_epoch(i64::try_from(secs / 86_400).unwrap_or(0))
    };
    let loading = server::loading::Loading::new(describe(&source), today);
    let server_task = runtime.spawn(server::serve_loading(listener, loading.clone(), async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot wait for ctrl-c");
            std::future::pending::<()>().await;
        }
        tracing::info!("shutting down");
    }));
    let sim = match load_for_serving(&source, scenario, config, &loading, started, Shared { store, key, cluster }, &runtime) {
        Ok((state, sim)) => {
            let state = state
                .with_open_controls(open_controls)
                .with_tokens(std::env::var("RENEWTWIN_OPERATOR_TOKEN").ok(), std::env::var("RENEWTWIN_SENSOR_TOKEN").ok());
            let _guard = runtime.enter();
            server::sensors::spawn_retention(&state);
            loading.ready(state);
            sim
        }
        Err(e) => {
            loading.failed(format!("{e:#}"));
            server_task.abort();
            runtime.shutdown_timeout(Duration::from_secs(5));
            return Err(e);
        }
    };
    let result = runtime.block_on(server_task).context("server task failed")?.context("server failed");
    sim.stop();
    runtime.shutdown_timeout(Duration::from_secs(5));
    result
}

/// Loads `source` for `serve` while the server listens: the parse and every meshed batch go
/// to `loading` as they are made (encoded for the wire at once), with a progress bar; then
/// the scene is prepared (plan, wire form, analytics, simulation) into the server's state.
fn load_for_serving(
    source: &SceneSource,
    scenario: Option<&str>,
    config: SimConfig,
    loading: &std::sync::Arc<server::loading::Loading>,
    started: Instant,
    shared: Shared,
    runtime: &tokio::runtime::Runtime,
) -> Result<(AppState, Sim)> {
    let Shared { store, key, cluster } = shared;
    let bar = indicatif::ProgressBar::new(0).with_style(
        indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message(format!("parsing {}", describe(source)));
    bar.enable_steady_tick(Duration::from_millis(120));
    let cache = renewtwin_importers::Cache::from_env();
    let mut wire_stream = renewtwin_twin::wire::WireStream::default();
    let mut first_batch = true;
    let mut encode_error = None;
    let mut on_event = |event: renewtwin_importers::ImportEvent<'_>| match event {
        renewtwin_importers::ImportEvent::Parsed { model } => {
            let buildings = model.spatial.iter().filter(|n| n.kind == renewtwin_importers::SpatialKind::Building).count() as u32;
            loading.parsed(renewtwin_twin::wire::element_infos(model), buildings);
            tracing::info!(elements = model.elements.len(), buildings, seconds = started.elapsed().as_secs_f64(), "model parsed");
            bar.set_length(u64::from(buildings) + 1);
            bar.set_message(format!("meshing {} elements in {buildings} buildings", model.elements.len()));
        }
        renewtwin_importers::ImportEvent::Meshed(batch) => {
            match wire_stream.batch(batch.model, batch.elements) {
                Ok(range) => {
                    let (meshes, triangles) = wire_stream.counts();
                    loading.meshed(&wire_stream.frames()[range], wire_stream.bbox(), meshes, triangles);
                    if first_batch {
                        first_batch = false;
                        tracing::info!(seconds = started.elapsed().as_secs_f64(), "first mesh batch ready to send");
                    }
                }
                Err(e) => encode_error = Some(e),
            }
            bar.inc(1);
        }
    };
    let loaded = LoadedScene::load_streaming(source, scenario, &ImportConfig::default(), cache.as_ref(), &mut on_event);
    drop(wire_stream);
    let loaded = loaded.context("cannot load the scene")?;
    if let Some(e) = encode_error {
        return Err(e).context("cannot prepare the scene for streaming");
    }
    bar.set_message("preparing the scene");
    let wire = SceneStatic::build(&loaded).context("cannot prepare the scene for streaming")?;
    loading.share_elements(wire.elements.clone());
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
    let log: std::sync::Arc<dyn renewtwin_twin::sensors::log::SensorLog> = store.clone();
    let analytics = Analytics::prepare(&loaded.manifest, &loaded.model, Some(log))
        .context("cannot prepare the sensor, risk and population analytics")?;
    let feeds = analytics.feeds.clone();
    let input = SimInput::from_scene(&loaded).with_analytics(analytics);
    // A replica's twin moves only with its log; a lone server's ticks in real time.
    let (live, sim) = match &cluster {
        None => sim::spawn(input, config.clone()).map(|(live, sim)| (live, Sim::Ticking(sim))),
        Some(_) => sim::spawn_driven(input, config.clone()).map(|(live, sim)| (live, Sim::Driven(std::sync::Arc::new(sim)))),
    }
    .context("cannot start the simulation")?;
    let plans = match &sim {
        Sim::Ticking(s) => s.plans(),
        Sim::Driven(s) => s.plans(),
    };
    let plan = std::sync::Arc::new(PlanControl::from_scene(loaded, scenario, plans));
    let hash = wire.scene_hash.to_string();
    let build = |clock| AppState::new(std::sync::Arc::new(wire), live, clock, plan, store, feeds, key);
    let joined = match (&sim, cluster) {
        (Sim::Ticking(s), _) => Ok(build(s.commands())),
        (Sim::Driven(s), Some(url)) => {
            let config = server::cluster::ClusterConfig {
                url,
                tick: server::cluster::DEFAULT_TICK,
                start_day: config.start_day.floor() as i32,
                speed: config.speed,
            };
            tracing::info!("joining the replicas");
            runtime.block_on(server::cluster::join(config, &hash, s.clone(), build)).map_err(anyhow::Error::from).inspect(|state| {
                tracing::info!(stream = state.cluster.as_ref().map(|c| c.stream().to_owned()), "joined the replicas")
            })
        }
        (Sim::Driven(_), None) => Err(anyhow::anyhow!("a driven simulation without a cluster")),
    };
    match joined {
        Ok(state) => Ok((state, sim)),
        Err(e) => {
            sim.stop();
            Err(e)
        }
    }
}

/// What a served scene shares beyond itself: the database, the ballot key, the cluster's NATS URL.
struct Shared {
    store: std::sync::Arc<Store>,
    key: renewtwin_civic::ballot_key::BallotKey,
    cluster: Option<String>,
}

/// The simulation of `serve`: ticking in real time, or driven by the replicas' log.
enum Sim {
    Ticking(sim::SimHandle),
    Driven(std::sync::Arc<sim::DrivenSim>),
}

impl Sim {
    fn stop(self) {
        match self {
            Sim::Ticking(s) => s.stop(),
            Sim::Driven(s) => {
                if let Ok(s) = std::sync::Arc::try_unwrap(s) {
                    s.stop();
                }
            }
        }
    }
}

pub(crate) fn describe(source: &SceneSource) -> String {
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
    /// Placed triangles per IFC class (what a viewer draws of each class).
    triangles_by_class: std::collections::BTreeMap<&'a str, u64>,
    seconds: f64,
}

fn inspection(file: String, model: &Model, seconds: f64) -> Inspection<'_> {
    let mut by_kind = std::collections::BTreeMap::new();
    for d in &model.diagnostics {
        *by_kind.entry(d.kind.key()).or_insert(0) += 1;
    }
    let mut by_class = std::collections::BTreeMap::new();
    for e in &model.elements {
        let triangles: u64 = e
            .placements
            .iter()
            .map(|p| model.meshes.get(p.mesh.0 as usize).map_or(0, |m| m.triangle_count() as u64))
            .sum();
        if triangles > 0 {
            *by_class.entry(e.class).or_insert(0) += triangles;
        }
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
        triangles_by_class: by_class,
        seconds,
    }
}

fn inspect(file: &std::path::Path, json: bool, peer_json: bool) -> Result<()> {
    let started = Instant::now();
    let cpu_started = cpu_seconds();
    let model = renewtwin_importers::import_file(file, &ImportConfig::default())
        .with_context(|| format!("cannot import {}", file.display()))?;
    let report = inspection(file.display().to_string(), &model, started.elapsed().as_secs_f64());
    if peer_json {
        let vertices: u64 = model
            .elements
            .iter()
            .flat_map(|e| e.placements)
            .map(|p| model.meshes.get(p.mesh.0 as usize).map_or(0, |m| m.positions.len() as u64 / 3))
            .sum();
        let line = serde_json::json!({
            "tool": "renewtwin",
            "version": env!("CARGO_PKG_VERSION"),
            "file": file.display().to_string(),
            "bytes": model.source.bytes,
            "schema": model.source.schema,
            "parse_s": model.source.parse_seconds,
            "geometry_s": model.source.geometry_seconds,
            "total_s": model.source.parse_seconds + model.source.geometry_seconds,
            "total_cpu_s": cpu_seconds() - cpu_started,
            "meshes": report.products_with_geometry,
            "geometries": model.elements.iter().map(|e| e.placements.len()).sum::<usize>(),
            "unique_geometries": model.meshes.len(),
            "unique_triangles": model.meshes.iter().map(|m| m.triangle_count() as u64).sum::<u64>(),
            "triangles": report.triangles,
            "vertices": vertices,
            "entities": model.source.entities,
            "log_errors": model.diagnostics.iter().filter(|d| d.severity >= renewtwin_importers::Severity::Warning).count(),
            "peak_rss_mb": peak_rss_mb(),
        });
        println!("{line}");
    } else if json {
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

/// User + system CPU seconds of this process so far (0 where the platform does not say).
fn cpu_seconds() -> f64 {
    // /proc/self/stat fields 14 and 15 are utime and stime in clock ticks (usually 100 Hz).
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let after = s.rsplit_once(')')?.1;
            let f: Vec<&str> = after.split_whitespace().collect();
            let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
            Some(ticks / 100.0)
        })
        .unwrap_or(0.0)
}

/// Peak resident memory of this process in MiB (`VmHWM`), 0 where the platform does not say.
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
            let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kb / 1024.0)
        })
        .unwrap_or(0.0)
}

fn simulate(source: SceneSource, scenario: Option<&str>, until: Option<&str>, json: bool) -> Result<()> {
    use renewtwin_twin::renewal::indicators::Indicators;
    use renewtwin_twin::renewal::plan::Plan;
    use renewtwin_twin::renewal::timeline::timeline;

    let bar = spinner(format!("loading {}", describe(&source)));
    let cache = renewtwin_importers::Cache::from_env();
    let loaded = LoadedScene::load(&source, None, &ImportConfig::default(), cache.as_ref()).context("cannot load the scene")?;
    bar.finish_and_clear();
    let manifest = &loaded.manifest;
    let until_day = match until {
        None => None,
        Some(text) => {
            let date = renewtwin_protocol::CivilDate::parse_iso(text)
                .with_context(|| format!("--until {text:?} is not a date; write YYYY-MM-DD"))?;
            Some((date.days_since_epoch() - manifest.start.days_since_epoch()) as i32)
        }
    };
    let names: Vec<Option<String>> = match scenario {
        Some("all") => std::iter::once(None).chain(manifest.scenarios.iter().map(|s| Some(s.name.clone()))).collect(),
        Some(name) => vec![Some(name.to_owned())],
        None => vec![None],
    };
    let analytics = Analytics::prepare(manifest, &loaded.model, None)?;
    let mut runs = Vec::new();
    for name in names {
        let plan = if name.is_none() { loaded.plan.clone() } else { Plan::resolve(manifest, name.as_deref(), &loaded.model)? };
        let indicators = Indicators::compute(manifest, &loaded.model, &plan);
        let events = timeline(&plan, manifest.start, until_day);
        runs.push((plan, indicators, events));
    }
    // Sunlight on the standard day before the works and after each plan (GB 50180-2018).
    let bar = spinner("sunlight on the standard day".into());
    let mut states = vec![("before".to_owned(), renewtwin_twin::renewal::standing_before(&loaded.plan))];
    states.extend(runs.iter().map(|(plan, ind, _)| (ind.scenario.clone(), renewtwin_twin::renewal::standing_after(plan))));
    let sunlight = renewtwin_twin::sunlight::report(&loaded.model, &manifest.sunlight, manifest.start.year, &states);
    bar.finish_and_clear();
    if json {
        let scenarios: Vec<_> = runs
            .iter()
            .map(|(plan, indicators, events)| {
                serde_json::json!({
                    "scenario": indicators.scenario,
                    "title": plan.scenario.as_deref().and_then(|n| manifest.scenario(n)).map(|s| s.title.clone()),
                    "plan_end_day": plan.end,
                    "timeline": events,
                    "indicators": indicators,
                    "analytics": analytics.scenario(plan, until_day),
                })
            })
            .collect();
        let out = serde_json::json!({
            "scene": manifest.name,
            "plan_note": manifest.plan_note,
            "start": manifest.start,
            "until": until,
            "elements": loaded.model.elements.len(),
            "alerts": scenarios.iter().flat_map(|s| {
                let name = s["scenario"].clone();
                s["analytics"]["alerts"].as_array().cloned().unwrap_or_default().into_iter().map(move |mut a| {
                    a["scenario"] = name.clone();
                    a
                })
            }).collect::<Vec<_>>(),
            "risk_warnings": analytics.risk_warnings(),
            "scenarios": scenarios,
            "sunlight": match &sunlight {
                Ok(report) => serde_json::to_value(report)?,
                Err(e) => serde_json::json!({"error": e.to_string()}),
            },
        });
        println!("{}", serde_json::to_string(&out)?);
        return Ok(());
    }
    println!("{} — {} elements, day 0 = {}", manifest.name, loaded.model.elements.len(), manifest.start);
    if let Some(note) = &manifest.plan_note {
        println!("{note}");
    }
    for (plan, ind, events) in &runs {
        println!("\nscenario {}", ind.scenario);
        for e in events {
            let what: Vec<&str> = e.phases.iter().chain(&e.tasks).map(String::as_str).collect();
            println!("  {} (day {:>4})  {}", e.date, e.day, what.join("; "));
            println!("  {:<22}{:?}", "", e.states);
        }
        println!("  indicators:");
        match (ind.duration_days, ind.completion_date) {
            (Some(d), Some(date)) => println!("    duration             {d} days (complete {date})"),
            _ => println!("    duration             blocked: a gate does not hold"),
        }
        println!("    cost                 {:.0} yuan", ind.cost_yuan);
        if !ind.empty_tasks.is_empty() {
            println!("    empty tasks          {} (select no element: no work, no cost)", ind.empty_tasks.join(", "));
        }
        println!("    households affected  {}", ind.households_affected);
        println!("    noisy work           {} days", ind.noisy_work_days);
        if ind.green_area_declared {
            println!("    green area           {:.0} m²", ind.green_area_m2);
        } else {
            println!("    green area           unknown (the model declares no RenewTwin_Landscape.GreenArea)");
        }
        match ind.floor_area_ratio {
            Some(far) => println!("    floor area ratio     {far:.2}"),
            None => println!("    floor area ratio     unknown (the model gives no site area)"),
        }
        println!("    heritage kept        {}/{}", ind.heritage_kept, ind.heritage_elements);
        for a in &ind.approvals {
            let achieved = a.achieved_days.map_or_else(|| "not yet achieved".to_owned(), |d| format!("{d} days achieved"));
            println!("    approvals            {}: {} days serial, {} days parallel (time limits), {achieved}", a.project, a.serial_days, a.parallel_days);
        }
        for b in &ind.blocked {
            println!("    blocked              {} {}: {}", b.project, b.phase, b.reason);
        }
        ind.write_quantities(&mut std::io::stdout().lock())?;
        analytics.scenario(plan, until_day).write_text(&mut std::io::stdout().lock())?;
    }
    analytics::write_risk_warnings(&analytics.risk_warnings(), &mut std::io::stdout().lock())?;
    match &sunlight {
        Ok(r) => {
            println!(
                "\nsunlight on {} {} (≥ {} h within {}:00–{}:00 true solar time; {}): {} windows",
                r.rule.standard_day.name_zh(),
                r.date,
                r.rule.min_hours,
                r.rule.from_hour,
                r.rule.to_hour,
                r.rule.source,
                r.windows.len()
            );
            println!("  ({} of them face north of east–west and never get winter sun)", r.north_facing);
            for (i, state) in r.states.iter().enumerate() {
                let taken = i.checked_sub(1).and_then(|p| r.taken_below.get(p)).map_or(String::new(), |n| format!(", {n} taken below it by the plan"));
                println!("  {state:<20} {} below the standard{taken}", r.below_standard[i]);
            }
        }
        Err(e) => println!("\nsunlight: not computed: {e}"),
    }
    Ok(())
}

fn print_report(r: &Inspection<'_>) {
    println!("{}", r.file);
    println!("  schema                 {}", r.schema);
    println!("  size                   {} bytes, {} entities", r.bytes, r.entities);
    println!("  products               {} ({} with geometry)", r.products, r.products_with_geometry);
    println!("  meshes / triangles     {} / {}", r.meshes, r.triangles);
    let mut classes: Vec<_> = r.triangles_by_class.iter().collect();
    classes.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    for (class, triangles) in classes.iter().take(8) {
        println!("    {class:<28} {triangles:>10} triangles");
    }
    if classes.len() > 8 {
        println!("    … {} more classes (use --json for all)", classes.len() - 8);
    }
    println!("  storeys                {}", r.storeys);
    println!("  property sets          {}", r.property_sets);
    println!(
        "  bbox (m)               [{:.2}, {:.2}, {:.2}] – [{:.2}, {:.2}, {:.2}]",
        r.bbox[0], r.bbox[1], r.bbox[2], r.bbox[3], r.bbox[4], r.bbox[5]
    );
    println!("  diagnostics            {} {:?}", r.diagnostics, r.diagnostics_by_kind);
    println!("  seconds                {:.3}", r.seconds);
}

fn import(files: &[PathBuf], use_cache: bool) -> Result<()> {
    use rayon::prelude::*;
    let bar = indicatif::ProgressBar::new(files.len() as u64).with_style(
        indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    bar.set_message(format!("importing {} files in parallel", files.len()));
    let cache = if use_cache { renewtwin_importers::Cache::from_env() } else { None };
    let config = ImportConfig::default();
    // Several models load in parallel; each one's geometry also uses every core.
    let results: Vec<(String, Result<String, String>)> = files
        .par_iter()
        .map(|file| {
            let started = Instant::now();
            let loaded = match &cache {
                Some(cache) => renewtwin_importers::import_file_cached(file, &config, cache).map(|(m, status)| (m, Some(status))),
                None => renewtwin_importers::import_file(file, &config).map(|m| (m, None)),
            };
            let line = loaded
                .map(|(model, status)| {
                    let r = inspection(file.display().to_string(), &model, started.elapsed().as_secs_f64());
                    let cached = match status {
                        Some(s) => format!(" cache {s:?}").to_lowercase(),
                        None => String::new(),
                    };
                    format!(
                        "{:>10} {:>8} products {:>8} with geometry {:>10} triangles {:>6} diagnostics {:>7.2}s{cached}",
                        r.schema, r.products, r.products_with_geometry, r.triangles, r.diagnostics, r.seconds
                    )
                })
                .map_err(|e| e.to_string());
            bar.inc(1);
            (file.display().to_string(), line)
        })
        .collect();
    bar.finish_and_clear();
    let mut failures = 0;
    for (file, line) in results {
        match line {
            Ok(summary) => println!("{file:<50} {summary}"),
            Err(e) => {
                failures += 1;
                println!("{file:<50} FAILED: {e}");
            }
        }
    }
    anyhow::ensure!(failures == 0, "{failures} of {} files could not be imported", files.len());
    Ok(())
}

fn backup(db: &std::path::Path, out: &std::path::Path, to: &[String], to_file: Option<&std::path::Path>) -> Result<()> {
    use renewtwin_store::backup;
    if !db.is_file() {
        anyhow::bail!("no database file {}", db.display());
    }
    let mut recipients = to.iter().map(|r| backup::parse_recipient(r, "--to")).collect::<Result<Vec<_>, _>>()?;
    if let Some(file) = to_file {
        recipients.extend(backup::read_recipients_file(file)?);
    }
    let report = backup::backup(db, out, &recipients).with_context(|| format!("cannot back up {} to {}", db.display(), out.display()))?;
    if report.encrypted {
        println!(
            "backed up {} to {} ({} bytes, encrypted to {} operator key{})",
            db.display(),
            out.display(),
            report.written_bytes,
            recipients.len(),
            if recipients.len() == 1 { "" } else { "s" }
        );
    } else {
        println!("backed up {} to {} ({} bytes, not encrypted: keep it on this machine)", db.display(), out.display(), report.written_bytes);
    }
    Ok(())
}

fn backup_key(out: &std::path::Path) -> Result<()> {
    let key = renewtwin_store::backup::generate_key();
    renewtwin_store::backup::write_key_file(out, &key)?;
    eprintln!("wrote the operator key to {} (keep it apart from the backups; without it they cannot be read)", out.display());
    println!("{}", key.recipient);
    Ok(())
}

fn restore(from: &std::path::Path, identity: Option<&std::path::Path>, db: &std::path::Path) -> Result<()> {
    let report = renewtwin_store::backup::restore(from, db, identity).with_context(|| format!("cannot restore {}", from.display()))?;
    println!(
        "restored {} to {} ({} bytes, {} migrations recorded{}); start the server with --db {}",
        from.display(),
        db.display(),
        report.bytes,
        report.migrations,
        if report.was_encrypted { ", decrypted" } else { "" },
        db.display()
    );
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
