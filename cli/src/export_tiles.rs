//! `renewtwin export tiles`: the scene as a 3D Tiles 1.1 tileset in a folder.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use renewtwin_exporters::tiles;
use renewtwin_importers::ImportConfig;
use renewtwin_twin::renewal::LoadedScene;
use renewtwin_twin::scene::SceneSource;

/// The scene as it stands on a day as an OGC 3D Tiles 1.1 tileset, for Cesium and the CIM
/// platforms built on it.
///
/// Writes DIR/tileset.json and one GLB per tile in DIR/tiles/. The tileset is placed on the
/// globe by the scene's georeference (its IfcSite latitude/longitude/elevation, or an
/// IfcMapConversion to RD New or a UTM zone): the root transform is the east-north-up frame at
/// that origin on the WGS84 ellipsoid. A scene without one needs --origin. Elements are tiled
/// by building; a building whose tile would be larger than --max-tile-bytes is halved in space
/// until every tile fits. Each tile is the same GLB as `export gltf` writes for its elements:
/// lifecycle colours, instancing, and the per-element metadata (GlobalId, class, name, storey,
/// state, projects) in EXT_structural_metadata.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  renewtwin export tiles --out block-tiles              # the default scene, placed by its IfcSite\n  renewtwin export tiles --date 2026-10-01 --max-tile-bytes 1000000 --out block-oct\n  renewtwin export tiles model.ifc --origin 116.397,39.909,44 --out tiles   # no georeference\n\nServe the folder over HTTP and open DIR/tileset.json with Cesium3DTileset.fromUrl.\nThe same tileset is served at GET /api/export/tiles/tileset.json?date=YYYY-MM-DD&scenario=NAME."
)]
pub struct TilesArgs {
    /// Scene folder, scene.toml, or IFC file; the built-in default scene when absent.
    scene: Option<PathBuf>,
    /// The day exported (YYYY-MM-DD); the plan's first day when absent.
    #[arg(long)]
    date: Option<String>,
    /// Export this scenario of the scene instead of its base plan.
    #[arg(long)]
    scenario: Option<String>,
    /// Where the scene's frame (x east, y north, z up) sits: longitude,latitude[,height] in
    /// WGS84 degrees and metres. Overrides the scene's own georeference.
    #[arg(long, value_name = "LON,LAT[,H]")]
    origin: Option<String>,
    /// No tile's GLB is larger than this (bytes; at least 16384).
    #[arg(long, default_value_t = tiles::DEFAULT_MAX_TILE_BYTES, value_name = "N")]
    max_tile_bytes: u64,
    /// The folder to write (created; tileset.json and tiles/ in it are replaced).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

/// Loads the scene, then writes the tiles one at a time with a progress bar, then tileset.json.
pub fn run(args: TilesArgs) -> Result<()> {
    let origin = args
        .origin
        .as_deref()
        .map(tiles::Origin::parse)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--origin {e}"))?;
    let date = match args.date.as_deref() {
        None => None,
        Some(text) => Some(
            renewtwin_protocol::CivilDate::parse_iso(text)
                .with_context(|| format!("--date {text:?} is not a date; write YYYY-MM-DD"))?,
        ),
    };
    let source = SceneSource::from_arg(args.scene.as_deref());
    let bar = crate::spinner(format!("loading {}", crate::describe(&source)));
    let started = Instant::now();
    let cache = renewtwin_importers::Cache::from_env();
    let loaded = LoadedScene::load(&source, args.scenario.as_deref(), &ImportConfig::default(), cache.as_ref());
    bar.finish_and_clear();
    let loaded = loaded.context("cannot load the scene")?;
    let start = loaded.manifest.start;
    let day = date.map_or(0, |d| {
        (d.days_since_epoch() - start.days_since_epoch()).clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
    });
    let out = &args.out;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    // Tiles of an earlier export would be left beside the new ones: start the tiles folder empty.
    let tiles_dir = out.join("tiles");
    if tiles_dir.is_dir() {
        std::fs::remove_dir_all(&tiles_dir).with_context(|| format!("cannot empty {}", tiles_dir.display()))?;
    }
    let bar = indicatif::ProgressBar::new(0).with_style(
        indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} elements {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message(format!("writing tiles into {}", out.display()));
    let scene = renewtwin_exporters::gltf::Scene { manifest: &loaded.manifest, model: &loaded.model, plan: &loaded.plan };
    let options = tiles::TilesOptions { origin, max_tile_bytes: args.max_tile_bytes, uri_suffix: String::new() };
    let written = tiles::write_tiles(
        &scene,
        &mut renewtwin_exporters::gltf::ModelGeometry(&loaded.model),
        day,
        &options,
        &mut tiles::FolderSink(out.clone()),
        |p| {
            bar.set_length(p.total as u64);
            bar.set_position(p.elements as u64);
            bar.set_message(format!("{} tiles into {}", p.tiles, out.display()));
        },
    );
    bar.finish_and_clear();
    let (tileset, stats) = written.with_context(|| format!("cannot export tiles into {}", out.display()))?;
    let path = out.join("tileset.json");
    let text = serde_json::to_vec_pretty(&tileset).context("tileset.json")?;
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    let o = stats.georeference.origin;
    println!(
        "wrote {} and {} tiles ({} bytes, the largest {} of at most {}): {} on day {}{}: {} elements drawn, {} demolished or removed left out; placed at lon {:.6}, lat {:.6}, h {:.1} m (from {}), in {:.1} s",
        path.display(),
        stats.tiles,
        stats.bytes,
        stats.largest,
        args.max_tile_bytes,
        renewtwin_protocol::CivilDate::from_sim_day(start, renewtwin_protocol::SimDay(day)),
        day,
        args.scenario.as_deref().map(|s| format!(", scenario {s}")).unwrap_or_default(),
        stats.elements,
        stats.left_out,
        o.lon,
        o.lat,
        o.height,
        stats.georeference.source,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
