//! The 3D Tiles export in CesiumJS (issue 17, item 2): `renewtwin export tiles` writes the
//! default scene's tileset; a small HTTP server in this test serves it beside CesiumJS (npm
//! `cesium`, which `scripts/setup.sh --test` installs into `~/.cache/renewtwin/npm`, or
//! `RENEWTWIN_NPM_CACHE`) and a page that opens it in a `Cesium.Viewer` with no imagery, no
//! terrain, no geocoder and no Ion token, on a black background with the globe hidden. Headless
//! Chromium (WebGL2 through SwiftShader) loads the page; the camera is flown to the tileset's
//! bounding sphere and the test checks that
//!
//! - Cesium reads the root's bounding sphere centre at the longitude/latitude the tileset
//!   places it (the root box's centre through the root transform, computed here), and within
//!   the district's extent of the scene's IfcSite location: the district is at its place;
//! - once every tile is loaded, a good share of the screenshot differs from the background, and
//!   the pixels around the window position of that centre do: the district is drawn there.
//!
//! The screenshot is saved as `target/browser-screenshots/cesium-tiles.png`. Without Chromium
//! or the cesium package the test says why and passes, unless `RENEWTWIN_REQUIRE_BROWSER=1`.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

/// Share of the screenshot that must differ from the black background.
const MIN_COVERAGE: f64 = 0.05;

/// The npm cache's `cesium/Build/Cesium`, where `scripts/setup.sh --test` installs it.
fn cesium_build() -> Option<PathBuf> {
    let base = std::env::var_os("RENEWTWIN_NPM_CACHE").map(PathBuf::from).or_else(|| {
        let cache = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
        Some(cache.join("renewtwin/npm"))
    })?;
    let build = base.join("node_modules/cesium/Build/Cesium");
    build.join("Cesium.js").is_file().then_some(build)
}

const PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>renewtwin tiles in Cesium</title>
<script>window.CESIUM_BASE_URL = '/cesium/';</script>
<script src="/cesium/Cesium.js"></script>
<link href="/cesium/Widgets/widgets.css" rel="stylesheet">
<style>html, body, #globe { margin: 0; width: 100%; height: 100%; overflow: hidden; background: #000; }
.cesium-viewer-bottom { display: none; }</style></head>
<body><div id="globe"></div>
<script>
window.tilesTest = { done: false };
(async () => {
  try {
    const viewer = new Cesium.Viewer('globe', {
      baseLayer: false, baseLayerPicker: false, geocoder: false, homeButton: false,
      sceneModePicker: false, navigationHelpButton: false, animation: false, timeline: false,
      fullscreenButton: false, infoBox: false, selectionIndicator: false,
      terrainProvider: new Cesium.EllipsoidTerrainProvider(),
      contextOptions: { webgl: { preserveDrawingBuffer: true } },
    });
    const scene = viewer.scene;
    scene.globe.show = false;
    scene.skyBox.show = false;
    scene.skyAtmosphere.show = false;
    scene.sun.show = false;
    scene.moon.show = false;
    scene.backgroundColor = Cesium.Color.BLACK;
    scene.fog.enabled = false;
    const tileset = await Cesium.Cesium3DTileset.fromUrl('/tiles/tileset.json', { maximumScreenSpaceError: 1 });
    scene.primitives.add(tileset);
    const sphere = tileset.root.boundingSphere;
    await viewer.zoomTo(tileset, new Cesium.HeadingPitchRange(0.3, -0.6, sphere.radius * 2.2));
    const started = performance.now();
    let loaded = false;
    while (performance.now() - started < 150000) {
      await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 50)));
      if (tileset.tilesLoaded) { loaded = true; break; }
    }
    // A few more frames so the loaded tiles are drawn, then stop the render loop: a software
    // GPU drawing continuously starves the screenshot.
    for (let i = 0; i < 10; i++) await new Promise((r) => requestAnimationFrame(r));
    viewer.useDefaultRenderLoop = false;
    scene.render();
    const c = Cesium.Cartographic.fromCartesian(sphere.center);
    const win = Cesium.SceneTransforms.worldToWindowCoordinates(scene, sphere.center);
    window.tilesTest = {
      done: true, loaded, radius: sphere.radius,
      lon: Cesium.Math.toDegrees(c.longitude), lat: Cesium.Math.toDegrees(c.latitude), height: c.height,
      x: win ? win.x : null, y: win ? win.y : null,
      width: scene.canvas.clientWidth, height_px: scene.canvas.clientHeight,
      tilesLoaded: tileset.statistics ? tileset.statistics.numberOfLoadedTilesTotal : null,
    };
  } catch (e) {
    window.tilesTest = { done: true, error: String(e && e.stack || e) };
  }
})();
</script></body></html>"#;

/// Serves `/` (the page), `/cesium/…` (CesiumJS) and `/tiles/…` (the exported folder) on a
/// local port, one thread per connection, until the process ends.
fn serve(cesium: PathBuf, tiles: PathBuf) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a local port");
    let port = listener.local_addr().expect("address").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (cesium, tiles) = (cesium.clone(), tiles.clone());
            std::thread::spawn(move || {
                let _answered = answer(stream, &cesium, &tiles);
            });
        }
    });
    port
}

fn answer(mut stream: TcpStream, cesium: &Path, tiles: &Path) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    // Skip the headers.
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
    }
    let path = line.split_whitespace().nth(1).unwrap_or("/");
    let path = path.split('?').next().unwrap_or("/");
    let file = if path == "/" {
        None
    } else if let Some(rest) = path.strip_prefix("/cesium/") {
        Some(cesium.join(rest))
    } else {
        path.strip_prefix("/tiles/").map(|rest| tiles.join(rest))
    };
    let (status, kind, body) = match file {
        None => ("200 OK", "text/html; charset=utf-8", PAGE.as_bytes().to_vec()),
        Some(f) if !path.contains("..") && f.is_file() => {
            let kind = match f.extension().and_then(|e| e.to_str()) {
                Some("js") => "text/javascript",
                Some("css") => "text/css",
                Some("json") => "application/json",
                Some("glb") => "model/gltf-binary",
                Some("wasm") => "application/wasm",
                Some("png") => "image/png",
                Some("jpg") => "image/jpeg",
                Some("svg") => "image/svg+xml",
                _ => "application/octet-stream",
            };
            ("200 OK", kind, std::fs::read(&f)?)
        }
        Some(_) => ("404 Not Found", "text/plain", b"not found".to_vec()),
    };
    write!(stream, "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len())?;
    stream.write_all(&body)?;
    stream.flush()
}

#[test]
fn the_exported_tileset_is_drawn_at_its_place_in_cesium() {
    let Some(_one_browser) = super::browser_for("Cesium tiles test") else { return };
    let required = std::env::var("RENEWTWIN_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
    let Some(cesium) = cesium_build() else {
        let reason = "Cesium tiles test skipped: npm cesium is not installed in ~/.cache/renewtwin/npm (scripts/setup.sh --test installs it)";
        assert!(!required, "{reason}, but RENEWTWIN_REQUIRE_BROWSER=1");
        eprintln!("{reason}");
        return;
    };
    let dir = super::tempdir("cesium-tiles");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_renewtwin"))
        .args(["export", "tiles", "--date", "2026-10-01", "--out"])
        .arg(&dir)
        .output()
        .expect("run renewtwin export tiles");
    assert!(out.status.success(), "export tiles failed: {}", String::from_utf8_lossy(&out.stderr));
    let tileset: Value = serde_json::from_slice(&std::fs::read(dir.join("tileset.json")).expect("tileset.json")).expect("JSON");
    // Where the root's bounding sphere centre must be: the root box's centre through the root transform.
    let t: Vec<f64> = tileset["root"]["transform"].as_array().expect("transform").iter().filter_map(Value::as_f64).collect();
    let b: Vec<f64> = tileset["root"]["boundingVolume"]["box"].as_array().expect("box").iter().filter_map(Value::as_f64).collect();
    let centre = [0, 1, 2].map(|r| t[r] * b[0] + t[4 + r] * b[1] + t[8 + r] * b[2] + t[12 + r]);
    let want = renewtwin_exporters::tiles::ecef_to_geodetic(centre);
    let site = (
        tileset["extras"]["origin"]["longitude"].as_f64().expect("origin longitude"),
        tileset["extras"]["origin"]["latitude"].as_f64().expect("origin latitude"),
    );

    let port = serve(cesium, dir.clone());
    let driver = super::Driver::start().expect("chromedriver starts");
    let profile = super::tempdir("chromium-cesium");
    let mut args: Vec<String> = super::COMMON_FLAGS.iter().chain(super::WEBGL2_FLAGS).map(|s| (*s).to_owned()).collect();
    args.push(format!("--user-data-dir={}", profile.display()));
    let session = driver.new_session(&args).expect("a WebDriver session");
    let result = (|| -> Result<(), String> {
        session.navigate(&format!("http://127.0.0.1:{port}/"))?;
        let status = session.script_async(
            "const done = arguments[arguments.length - 1];\
             const poll = () => window.tilesTest && window.tilesTest.done ? done(window.tilesTest) : setTimeout(poll, 200);\
             poll();",
        )?;
        eprintln!("Cesium: {status}");
        if let Some(e) = status["error"].as_str() {
            return Err(format!("the page failed: {e}"));
        }
        if status["loaded"] != Value::Bool(true) {
            return Err(format!("the tiles did not all load: {status}"));
        }
        let (lon, lat) = (status["lon"].as_f64().ok_or("no lon")?, status["lat"].as_f64().ok_or("no lat")?);
        if (lon - want.lon).abs() > 1e-7 || (lat - want.lat).abs() > 1e-7 {
            return Err(format!("Cesium puts the centre at {lon}, {lat}; the tileset says {}, {}", want.lon, want.lat));
        }
        // The district is a few hundred metres across: its centre is within 0.01° of the site.
        if (lon - site.0).abs() > 0.01 || (lat - site.1).abs() > 0.01 {
            return Err(format!("the centre {lon}, {lat} is not near the site {site:?}"));
        }
        let shot = session.screenshot()?;
        let shots = super::screenshot_dir();
        std::fs::create_dir_all(&shots).map_err(|e| e.to_string())?;
        shot.save(&shots.join("cesium-tiles.png"))?;
        let coverage = shot.share_differing_from([0, 0, 0], 8);
        eprintln!("Cesium: {:.1} % of the screenshot is the district", coverage * 100.0);
        if coverage < MIN_COVERAGE {
            return Err(format!("only {:.1} % of the screenshot differs from the background", coverage * 100.0));
        }
        // Around the centre's window position (CSS pixels; the screenshot is at device pixels, 1:1 here).
        let (x, y) = (status["x"].as_f64().ok_or("the centre is off screen")?, status["y"].as_f64().ok_or("no y")?);
        let mut lit = 0;
        let mut all = 0;
        for dy in -40..=40 {
            for dx in -40..=40 {
                let (px, py) = (x as i64 + dx, y as i64 + dy);
                if px < 0 || py < 0 {
                    continue;
                }
                all += 1;
                let p = shot.pixel(px as u32, py as u32);
                if p.iter().any(|c| *c > 8) {
                    lit += 1;
                }
            }
        }
        if lit * 4 < all {
            return Err(format!("only {lit} of {all} pixels around the centre ({x:.0}, {y:.0}) are drawn"));
        }
        Ok(())
    })();
    session.close();
    drop(driver);
    let _removed = std::fs::remove_dir_all(&profile);
    let _removed = std::fs::remove_dir_all(&dir);
    if let Err(e) = result {
        panic!("Cesium tiles check failed: {e}");
    }
}
