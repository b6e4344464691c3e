//! End to end in a real browser: the `renewtwin` server, headless Chromium driven through
//! chromedriver (plain W3C WebDriver over HTTP), and the wasm viewer, on WebGPU and on WebGL2
//! (both through SwiftShader, with the flags measured in `shared/BROWSER-AND-GPU.md`).
//!
//! The server starts on day [`START_DAY`] of the default plan, when construction is under way.
//! For each backend it waits for `window.renewtwin.ready`, saves a screenshot to
//! `target/browser-screenshots/<backend>.png` (and `<backend>-canvas.png` without the HTML
//! overlay) and checks that the district covers a good share of the canvas, that the pixel at
//! `screenPointOf(globalId)` of a picked element has that element's lifecycle colour (up to
//! lighting), that clicking there opens the element panel with its GlobalId, and that the date
//! shown and `stateChanges` move with the live updates.
//!
//! Then the planner's and the resident's features, each with a screenshot in the same folder:
//! the inspect panel's property sets and tasks, the timeline slider recolouring elements, colour
//! layers with their legend, before/after comparison (swipe and side by side), isolating a
//! building in the spatial tree, search, the section plane, X-ray, touch orbit, pinch, pan and tap
//! (DevTools touch events), progressive drawing (a screenshot of the partly streamed scene),
//! and the exhibition tour on a phone-sized window (captions, advancing, language switch).
//! The frame rate is printed, never asserted (README states measured figures).
//!
//! Without `/usr/bin/chromium` and `/usr/bin/chromedriver` it prints why and passes, unless
//! `RENEWTWIN_REQUIRE_BROWSER=1` (set by CI), in which case it fails.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long the scene may take to appear in the browser (software rendering on 2 cores).
const READY_TIMEOUT: Duration = Duration::from_secs(90);
/// How long the live date may take to move.
const LIVE_TIMEOUT: Duration = Duration::from_secs(30);
/// Simulated day the server starts on: facades and lifts are under construction in the
/// default plan, so the district shows more than grey.
const START_DAY: u32 = 180;
/// Simulated days per second: slow enough that the plan (320 days) does not loop back to its
/// all-grey start during a slow run, fast enough that the date moves every few frames.
const SPEED: u32 = 4;
/// Share of canvas pixels that must differ from the background.
const MIN_COVERAGE: f64 = 0.15;
/// Lighting scales a colour by 0.45..=1.0; allow a little below and above for rounding.
const SHADE_RANGE: std::ops::RangeInclusive<f64> = 0.40..=1.05;
/// Largest per-channel distance, 0..255, between the pixel and the scaled lifecycle colour.
const CHANNEL_TOLERANCE: f64 = 14.0;

const COMMON_FLAGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--window-size=1280,800",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    // Touch input for the touch-gesture checks (W3C pointer actions of type "touch").
    "--touch-events=enabled",
];
const WEBGPU_FLAGS: &[&str] = &[
    "--enable-unsafe-webgpu",
    "--enable-features=Vulkan",
    "--use-vulkan=swiftshader",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
];
const WEBGL2_FLAGS: &[&str] = &["--use-angle=swiftshader", "--enable-unsafe-swiftshader"];

#[test]
fn the_viewer_draws_the_district_in_its_lifecycle_colours_and_follows_live_updates_on_webgpu_and_webgl2() {
    let Some(_one_browser) = browser_for("browser test") else { return };
    let screenshots = screenshot_dir();
    std::fs::create_dir_all(&screenshots).expect("create target/browser-screenshots");
    let mut failures = Vec::new();
    for (backend, flags) in [("webgpu", WEBGPU_FLAGS), ("webgl2", WEBGL2_FLAGS)] {
        // A fresh server per backend, so each starts on START_DAY, long before the plan loops.
        let server = Server::start();
        if let Err(e) = check_backend(&server.url, backend, flags, &screenshots) {
            failures.push(format!("{backend}: {e}"));
        }
    }
    assert!(failures.is_empty(), "browser checks failed:\n{}", failures.join("\n"));
}

/// Runs every check on one backend; the error says which failed and why.
fn check_backend(url: &str, backend: &str, flags: &[&str], screenshots: &Path) -> Result<(), String> {
    let driver = Driver::start()?;
    let profile = tempdir(&format!("chromium-{backend}"));
    let mut args: Vec<String> = COMMON_FLAGS.iter().chain(flags).map(|s| (*s).to_owned()).collect();
    args.push(format!("--user-data-dir={}", profile.display()));
    let session = driver.new_session(&args)?;
    let result = (|| {
        session.navigate(url)?;
        let status = wait_ready(&session)?;
        let got = status["backend"].as_str().unwrap_or("?");
        if got != backend {
            return Err(format!("window.renewtwin.backend is {got:?}, expected {backend:?}"));
        }
        // Reloads the page (holding the stream part-way, then releasing it) before the checks
        // that build on one another.
        progressive::check(&session, url, backend, screenshots)?;
        let (x, y, global_id) = check_picture(&session, backend, screenshots)?;
        check_click_shows_the_element(&session, x, y, &global_id)?;
        check_live_updates(&session)?;
        features::check_all(&session, url, backend, screenshots)
    })();
    session.close();
    drop(driver);
    // The profile is scratch; a leftover directory in /tmp harms nothing.
    let _removed = std::fs::remove_dir_all(&profile);
    result
}

/// Polls until the viewer is ready; fails on its `error` hook or after [`READY_TIMEOUT`].
fn wait_ready(session: &Session) -> Result<Value, String> {
    let started = Instant::now();
    let mut last = Value::Null;
    while started.elapsed() < READY_TIMEOUT {
        last = session.script(
            "const r = window.renewtwin; return r ? { ready: r.ready, backend: r.backend, error: r.error ?? null, \
             frames: r.frames, elementCount: r.elementCount, link: r.link } \
             : { page: location.href, title: document.title, state: document.readyState, \
                 viewer: !!document.getElementById('viewer') };",
        )?;
        if last["viewer"] == json!(false) && last["state"] == json!("complete") {
            return Err(format!(
                "the page has no viewer canvas (a binary built with RENEWTWIN_SKIP_VIEWER=1?): {last}"
            ));
        }
        if let Some(error) = last["error"].as_str() {
            return Err(format!("the viewer reported an error: {error}"));
        }
        if last["ready"] == json!(true) {
            return Ok(last);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    Err(format!("window.renewtwin.ready not true after {READY_TIMEOUT:?}; last status {last}"))
}

/// Screenshot checks: coverage and the colour of one element at its screen point. Returns that
/// point and the element's GlobalId.
fn check_picture(session: &Session, backend: &str, screenshots: &Path) -> Result<(f64, f64, String), String> {
    let full = session.screenshot()?;
    full.save(&screenshots.join(format!("{backend}.png")))?;
    session.script("document.querySelectorAll('.panel').forEach(p => p.style.visibility = 'hidden'); return null;")?;

    // The state may change under us (live updates); retry with a fresh pick if it does.
    let mut last_error = String::new();
    for _attempt in 0..4 {
        // A clearly coloured element (under construction, renewed, ...) visible somewhere:
        // grey "existing" would prove little about colour.
        let target = session.script(
            "const r = window.renewtwin, w = innerWidth, h = innerHeight; \
             const wanted = ['under_construction', 'renewed', 'built', 'under_demolition', 'temporary']; \
             let best = null, tries = 0; \
             for (let id = 0; id < r.elementCount && !best && tries < 400; id++) { \
               const state = r.elementState(id); if (!wanted.includes(state)) continue; tries++; \
               const info = r.elementInfo(id); const p = r.screenPointOf(info.globalId); if (!p) continue; \
               best = { id, info, point: p, rgb: r.elementRgb(id), state }; } \
             return best ? Object.assign(best, { background: r.background, width: w, height: h, \
               pickBack: r.pick(best.point[0], best.point[1]) }) : null;",
        )?;
        if target.is_null() {
            return Err(format!(
                "no element under construction, renewed, built, under demolition or temporary is visible on day {START_DAY}"
            ));
        }
        let id = target["id"].as_f64().unwrap_or(-1.0);
        if target["pickBack"].as_f64() != Some(id) {
            return Err(format!("pick at screenPointOf does not return the element: {target}"));
        }
        let shot = session.screenshot()?;
        let after = session.script(&format!("return window.renewtwin.elementState({id});"))?;
        if after != target["state"] {
            last_error = format!("element {id} changed state during the screenshot");
            continue;
        }
        shot.save(&screenshots.join(format!("{backend}-canvas.png")))?;
        let css_width = target["width"].as_f64().unwrap_or(1.0);
        let scale = f64::from(shot.width) / css_width;
        let background = rgb_of(&target["background"])?;
        let coverage = shot.share_differing_from(background, 12);
        if coverage < MIN_COVERAGE {
            return Err(format!(
                "only {:.1}% of pixels differ from the background {background:?} (need {:.0}%)",
                coverage * 100.0,
                MIN_COVERAGE * 100.0
            ));
        }
        let expected = rgb_of(&target["rgb"])?;
        let (x, y) = (target["point"][0].as_f64().unwrap_or(0.0), target["point"][1].as_f64().unwrap_or(0.0));
        let pixel = shot.pixel((x * scale) as u32, (y * scale) as u32);
        eprintln!(
            "{backend}: {:.1}% of pixels drawn; element {} ({}, {}) at ({x}, {y}) shows {pixel:?} for {expected:?}",
            coverage * 100.0,
            target["info"]["globalId"],
            target["info"]["class"],
            target["state"]
        );
        match_shaded_colour(pixel, expected).map_err(|why| {
            format!(
                "pixel {pixel:?} at ({x}, {y}) does not show element {} ({}) in state {} with colour {expected:?}: {why}",
                target["info"]["globalId"], target["info"]["class"], target["state"]
            )
        })?;
        session.script("document.querySelectorAll('.panel').forEach(p => p.style.visibility = ''); return null;")?;
        return Ok((x, y, target["info"]["globalId"].as_str().unwrap_or_default().to_owned()));
    }
    Err(last_error)
}

/// Whether `pixel` is `expected` scaled by a lighting factor in [`SHADE_RANGE`].
fn match_shaded_colour(pixel: [u8; 3], expected: [u8; 3]) -> Result<(), String> {
    let p = pixel.map(f64::from);
    let c = expected.map(f64::from);
    let k = (p[0] * c[0] + p[1] * c[1] + p[2] * c[2]) / (c[0] * c[0] + c[1] * c[1] + c[2] * c[2]).max(1.0);
    if !SHADE_RANGE.contains(&k) {
        return Err(format!("brightness factor {k:.2} outside {SHADE_RANGE:?}"));
    }
    let worst = (0..3).map(|i| (p[i] - k * c[i]).abs()).fold(0.0, f64::max);
    if worst > CHANNEL_TOLERANCE {
        return Err(format!("a channel is {worst:.0} away from the colour scaled by {k:.2} (tolerance {CHANNEL_TOLERANCE})"));
    }
    // Dominant-channel order must agree wherever the lifecycle colour separates channels clearly.
    for (i, j) in [(0, 1), (1, 2), (0, 2)] {
        if (c[i] - c[j]).abs() >= 30.0 && (c[i] > c[j]) != (p[i] > p[j]) {
            return Err(format!("channel order differs between channels {i} and {j}"));
        }
    }
    Ok(())
}

/// A mouse click on the element opens the panel with its GlobalId.
/// A real mouse click at CSS pixel (x, y) of the page (W3C WebDriver pointer actions).
fn click_at(session: &Session, x: f64, y: f64) -> Result<(), String> {
    let click = json!({ "actions": [{
        "type": "pointer", "id": "mouse", "parameters": { "pointerType": "mouse" },
        "actions": [
            { "type": "pointerMove", "duration": 0, "origin": "viewport", "x": x.floor() as i64, "y": y.floor() as i64 },
            { "type": "pointerDown", "button": 0 },
            { "type": "pointerUp", "button": 0 },
        ],
    }]});
    session.command("POST", "/actions", Some(&click))?;
    session.command("DELETE", "/actions", None).map(drop)
}

/// Runs `test` in a fresh WebGL2 Chromium session on `url` once the viewer is ready (its own
/// profile, removed afterwards; the session is closed whatever `test` returns).
fn in_webgl2_page(profile_name: &str, url: &str, test: impl FnOnce(&Session) -> Result<(), String>) -> Result<(), String> {
    let driver = Driver::start()?;
    let profile = tempdir(profile_name);
    let mut args: Vec<String> = COMMON_FLAGS.iter().chain(WEBGL2_FLAGS).map(|s| (*s).to_owned()).collect();
    args.push(format!("--user-data-dir={}", profile.display()));
    let session = driver.new_session(&args)?;
    let result = session.navigate(url).and_then(|()| wait_ready(&session)).and_then(|_| test(&session));
    session.close();
    drop(driver);
    let _removed = std::fs::remove_dir_all(profile);
    result
}

fn check_click_shows_the_element(session: &Session, x: f64, y: f64, global_id: &str) -> Result<(), String> {
    click_at(session, x, y)?;
    let shown = session.script(
        "const info = document.getElementById('info'); \
         return { hidden: info.hidden, globalId: document.getElementById('info-global-id').textContent };",
    )?;
    if shown["hidden"] != json!(false) || shown["globalId"] != json!(global_id) {
        return Err(format!("clicking element {global_id} at ({x}, {y}) showed {shown}"));
    }
    Ok(())
}

/// The date on the page and `stateChanges` must both move.
fn check_live_updates(session: &Session) -> Result<(), String> {
    let read = || {
        session.script(
            "return { shown: document.getElementById('date').textContent, date: window.renewtwin.date, \
             changes: window.renewtwin.stateChanges };",
        )
    };
    let first = read()?;
    let started = Instant::now();
    while started.elapsed() < LIVE_TIMEOUT {
        std::thread::sleep(Duration::from_millis(500));
        let now = read()?;
        let moved = now["shown"] != first["shown"] && now["date"] == now["shown"];
        let grew = now["changes"].as_f64() > first["changes"].as_f64();
        if moved && grew {
            eprintln!("live: date {} -> {}, stateChanges {} -> {}", first["shown"], now["shown"], first["changes"], now["changes"]);
            return Ok(());
        }
    }
    Err(format!("no live update within {LIVE_TIMEOUT:?}: first {first}, last {}", read()?))
}

#[path = "browser/features.rs"]
mod features;
#[path = "browser/consultation.rs"]
mod consultation;
#[path = "browser/governance.rs"]
mod governance;
#[path = "browser/progressive.rs"]
mod progressive;
#[path = "browser/screens.rs"]
mod screens;
#[path = "browser/a11y.rs"]
mod a11y;
#[path = "browser/measure.rs"]
mod measure;
#[path = "browser/cesium.rs"]
mod cesium;
#[path = "browser/variants.rs"]
mod variants;
#[path = "browser/sunlight.rs"]
mod sunlight;

/// Browser tests take turns: each drives software-rendered Chromium on a small machine.
static ONE_BROWSER: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The browser for the test named `what`, one test at a time: the lock on it, or `None` (the
/// test skips, saying why) when Chromium or ChromeDriver is not installed. With
/// `RENEWTWIN_REQUIRE_BROWSER=1` a missing browser fails the test instead.
fn browser_for(what: &str) -> Option<std::sync::MutexGuard<'static, ()>> {
    let required = std::env::var("RENEWTWIN_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER].into_iter().filter(|p| !Path::new(p).exists()).collect();
    if !missing.is_empty() {
        let reason = format!(
            "{what} skipped: {} not installed (apt-get install chromium chromium-driver fonts-noto-cjk)",
            missing.join(" and ")
        );
        assert!(!required, "{reason}, but RENEWTWIN_REQUIRE_BROWSER=1");
        eprintln!("{reason}");
        return None;
    }
    Some(ONE_BROWSER.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
}

fn rgb_of(value: &Value) -> Result<[u8; 3], String> {
    let channel = |i: usize| value[i].as_f64().map(|c| c as u8).ok_or_else(|| format!("not an [r, g, b] array: {value}"));
    Ok([channel(0)?, channel(1)?, channel(2)?])
}

/// Where screenshots go: `target/browser-screenshots`, next to the binary's profile folder.
fn screenshot_dir() -> PathBuf {
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_renewtwin"));
    binary.parent().and_then(Path::parent).map_or_else(|| PathBuf::from("target"), Path::to_path_buf).join("browser-screenshots")
}

fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("renewtwin-{name}-{}", std::process::id()));
    // A leftover from an earlier run with the same pid would hold a stale profile.
    let _removed = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a temporary directory");
    dir
}

/// Kills a process group and reaps its leader; Chromium's helpers die with it.
fn kill_group(child: &mut Child) {
    // The group may already be gone; then there is nothing to do.
    let _killed = Command::new("kill").args(["-KILL", "--", &format!("-{}", child.id())]).status();
    let _reaped = child.wait();
}

/// The real server, `renewtwin serve --addr 127.0.0.1:0`.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    /// The built-in default scene.
    fn start() -> Self {
        Self::start_scene(None)
    }

    /// `scene` (a scene folder or scene.toml), or the built-in default.
    fn start_scene(scene: Option<&Path>) -> Self {
        use std::os::unix::process::CommandExt as _;
        let log = std::fs::File::create(screenshot_dir().with_file_name("browser-test-server.log"))
            .map_or_else(|_| Stdio::null(), Stdio::from);
        // A fresh database per server, so accounts and comments of earlier runs do not leak in.
        static SERVERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let db = tempdir(&format!("server-db-{}", SERVERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed))).join("renewtwin.db");
        let mut child = Command::new(env!("CARGO_BIN_EXE_renewtwin"))
            .arg("serve")
            .args(scene)
            .args(["--addr", "127.0.0.1:0", "--start-day", &START_DAY.to_string(), "--speed", &SPEED.to_string()])
            .arg("--db")
            .arg(&db)
            .stdout(Stdio::piped())
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("start the renewtwin binary");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(first)) = lines.next() {
                let _sent = tx.send(first);
            }
            // Keep draining so the server never blocks on a full pipe.
            for _line in lines {}
        });
        let line = rx.recv_timeout(Duration::from_secs(180));
        let url = match line {
            Ok(line) => line
                .strip_prefix("renewtwin listening on ")
                .map(str::to_owned)
                .unwrap_or_else(|| panic!("unexpected first line from the server: {line:?}")),
            Err(e) => {
                kill_group(&mut child);
                panic!("the server printed no 'listening' line: {e}");
            }
        };
        Self { child, url }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        kill_group(&mut self.child);
    }
}

/// A chromedriver process in its own process group.
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    fn start() -> Result<Self, String> {
        use std::os::unix::process::CommandExt as _;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start chromedriver: {e}"))?;
        let driver = Self { child, port };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            if http(port, "GET", "/status", None).is_ok_and(|v| v["value"]["ready"] == json!(true)) {
                return Ok(driver);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err("chromedriver did not become ready in 20 s".into())
    }

    fn new_session(&self, args: &[String]) -> Result<Session, String> {
        // Scripts may wait for frames of a software GPU on a loaded 2-core machine: allow them
        // three minutes instead of WebDriver's default 30 s.
        let body = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "timeouts": { "script": 180_000 },
            "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
        }}});
        let reply = http(self.port, "POST", "/session", Some(&body))?;
        let id = reply["value"]["sessionId"].as_str().ok_or_else(|| format!("no session: {reply}"))?;
        Ok(Session { port: self.port, id: id.to_owned() })
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        kill_group(&mut self.child);
    }
}

/// One WebDriver session.
struct Session {
    port: u16,
    id: String,
}

impl Session {
    fn command(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
        let reply = http(self.port, method, &format!("/session/{}{path}", self.id), body)?;
        if let Some(error) = reply["value"]["error"].as_str() {
            return Err(format!("webdriver {path}: {error}: {}", reply["value"]["message"]));
        }
        Ok(reply["value"].clone())
    }

    fn navigate(&self, url: &str) -> Result<(), String> {
        self.command("POST", "/url", Some(&json!({ "url": url }))).map(drop)
    }

    fn script(&self, script: &str) -> Result<Value, String> {
        self.command("POST", "/execute/sync", Some(&json!({ "script": script, "args": [] })))
    }

    /// Runs an async script: its last argument is the callback that returns the result.
    fn script_async(&self, script: &str) -> Result<Value, String> {
        self.command("POST", "/execute/async", Some(&json!({ "script": script, "args": [] })))
    }

    fn screenshot(&self) -> Result<Screenshot, String> {
        let encoded = self.command("GET", "/screenshot", None)?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().unwrap_or_default())
            .map_err(|e| format!("screenshot is not base64: {e}"))?;
        Screenshot::decode(bytes)
    }

    fn close(&self) {
        // Chromium is killed with chromedriver's process group anyway.
        let _closed = http(self.port, "DELETE", &format!("/session/{}", self.id), None);
    }
}

/// A decoded screenshot, RGB.
struct Screenshot {
    png: Vec<u8>,
    width: u32,
    height: u32,
    rgb: Vec<u8>,
}

impl Screenshot {
    fn decode(png_bytes: Vec<u8>) -> Result<Self, String> {
        let mut decoder = png::Decoder::new(std::io::Cursor::new(png_bytes.as_slice()));
        decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
        let mut reader = decoder.read_info().map_err(|e| format!("screenshot png: {e}"))?;
        let mut buffer = vec![0; reader.output_buffer_size().ok_or("screenshot too large")?];
        let info = reader.next_frame(&mut buffer).map_err(|e| format!("screenshot png: {e}"))?;
        let channels = info.color_type.samples();
        if channels < 3 {
            return Err(format!("screenshot is {:?}, expected colour", info.color_type));
        }
        let rgb = buffer[..info.buffer_size()].chunks_exact(channels).flat_map(|p| [p[0], p[1], p[2]]).collect();
        Ok(Self { png: png_bytes, width: info.width, height: info.height, rgb })
    }

    fn save(&self, path: &Path) -> Result<(), String> {
        std::fs::write(path, &self.png).map_err(|e| format!("cannot save {}: {e}", path.display()))
    }

    fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let i = ((y.min(self.height - 1) * self.width + x.min(self.width - 1)) * 3) as usize;
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }

    /// Shares of the left and right halves that differ from `background`.
    fn halves_differing_from(&self, background: [u8; 3], tolerance: u8) -> (f64, f64) {
        let mut counts = [0usize; 2];
        for (i, p) in self.rgb.chunks_exact(3).enumerate() {
            if (0..3).any(|c| p[c].abs_diff(background[c]) > tolerance) {
                counts[usize::from((i as u32 % self.width) >= self.width / 2)] += 1;
            }
        }
        let half = (self.rgb.len() / 6).max(1) as f64;
        (counts[0] as f64 / half, counts[1] as f64 / half)
    }

    fn share_differing_from(&self, background: [u8; 3], tolerance: u8) -> f64 {
        let differing = self
            .rgb
            .chunks_exact(3)
            .filter(|p| (0..3).any(|i| p[i].abs_diff(background[i]) > tolerance))
            .count();
        differing as f64 / (self.rgb.len() / 3).max(1) as f64
    }
}

/// One HTTP/1.1 request to chromedriver; the JSON reply.
fn http(port: u16, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect to chromedriver: {e}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(120))).map_err(|e| e.to_string())?;
    let body = body.map(Value::to_string).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).map_err(|e| format!("send to chromedriver: {e}"))?;
    // chromedriver keeps the connection open whatever the request says: read by Content-Length.
    let mut reply = Vec::new();
    let mut buffer = [0u8; 64 * 1024];
    let split = loop {
        if let Some(split) = reply.windows(4).position(|w| w == b"\r\n\r\n") {
            break split;
        }
        let n = stream.read(&mut buffer).map_err(|e| format!("read from chromedriver: {e}"))?;
        if n == 0 {
            return Err("chromedriver closed the connection before replying".into());
        }
        reply.extend_from_slice(&buffer[..n]);
    };
    let head = String::from_utf8_lossy(&reply[..split]).to_ascii_lowercase();
    let mut content = reply[split + 4..].to_vec();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    match length {
        Some(length) => {
            while content.len() < length {
                let n = stream.read(&mut buffer).map_err(|e| format!("read from chromedriver: {e}"))?;
                if n == 0 {
                    return Err("chromedriver reply cut short".into());
                }
                content.extend_from_slice(&buffer[..n]);
            }
        }
        None => {
            stream.read_to_end(&mut content).map_err(|e| format!("read from chromedriver: {e}"))?;
            if head.contains("transfer-encoding: chunked") {
                content = dechunk(&content)?;
            }
        }
    }
    serde_json::from_slice(&content).map_err(|e| format!("chromedriver reply is not JSON ({e}): {head}"))
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n").ok_or("bad chunk")?;
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16).map_err(|e| e.to_string())?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        out.extend_from_slice(data.get(..size).ok_or("short chunk")?);
        data = data.get(size + 2..).unwrap_or_default();
    }
}
