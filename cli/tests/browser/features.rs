//! The planner's and the resident's features, end to end in the browser, with screenshots.
//! Each check drives the page as a user would (clicks, pointer actions, form inputs) and reads
//! the result back from the DOM, the viewer's hooks and the screenshot.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Screenshot, Session, rgb_of};

/// How long a panel may take to react (a fetch plus a frame on a software GPU).
pub(crate) const REACT_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs every feature check; the first failure names itself.
pub(super) fn check_all(session: &Session, url: &str, backend: &str, shots: &Path) -> Result<(), String> {
    wait_for(session, "document.body.dataset.panels === 'ready'", "the panels to load")?;
    // The frame rate is reported, never asserted: a failure to measure it is printed only.
    match frame_rate(session) {
        Ok(fps) => eprintln!("{backend}: {fps}"),
        Err(e) => eprintln!("{backend}: frame rate not measured: {e}"),
    }
    inspect_panel(session).map_err(|e| format!("inspect panel: {e}"))?;
    timeline(session, backend, shots).map_err(|e| format!("timeline: {e}"))?;
    colour_layer(session, backend, shots).map_err(|e| format!("colour layer: {e}"))?;
    compare(session, backend, shots).map_err(|e| format!("compare: {e}"))?;
    tree_isolate(session, backend, shots).map_err(|e| format!("spatial tree: {e}"))?;
    search_section_xray(session, backend, shots).map_err(|e| format!("search, section, X-ray: {e}"))?;
    touch(session, backend, shots).map_err(|e| format!("touch: {e}"))?;
    exhibition(session, url, backend, shots).map_err(|e| format!("exhibition: {e}"))
}

/// Polls `condition` (a JS expression) until it holds.
pub(crate) fn wait_for(session: &Session, condition: &str, what: &str) -> Result<(), String> {
    wait_showing(session, condition, what, None)
}

/// Polls `condition` (a JS expression) until it holds; on a time-out the error also gives what
/// the element with id `panel` says (its first 400 characters), when one is named.
pub(crate) fn wait_showing(session: &Session, condition: &str, what: &str, panel: Option<&str>) -> Result<(), String> {
    let started = Instant::now();
    while started.elapsed() < REACT_TIMEOUT {
        if session.script(&format!("return !!({condition});"))? == json!(true) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let Some(panel) = panel else { return Err(format!("waited {REACT_TIMEOUT:?} for {what} ({condition})")) };
    let says = session.script(&format!("const p = document.getElementById({panel:?}); return p ? p.textContent.slice(0, 400) : null;"))?;
    Err(format!("waited {REACT_TIMEOUT:?} for {what} ({condition}); the panel says {says}"))
}

/// Waits until the viewer has drawn at least one frame after now.
pub(crate) fn wait_frame(session: &Session) -> Result<(), String> {
    // Forced, so that a page where nothing changes (a held stream) draws one too.
    let frames = session.script("window.renewtwin.forceFrames(1); return window.renewtwin.frames;")?.as_f64().unwrap_or(0.0);
    wait_for(session, &format!("window.renewtwin.frames > {frames} && !window.renewtwin.camera().flying"), "a new frame")?;
    // One more, so the screenshot shows the settled frame.
    let frames = session.script("return window.renewtwin.frames;")?.as_f64().unwrap_or(0.0);
    session.script("window.renewtwin.forceFrames(2); return null;")?;
    wait_for(session, &format!("window.renewtwin.frames > {frames}"), "a settled frame")
}

fn shot(session: &Session, shots: &Path, name: &str) -> Result<Screenshot, String> {
    let shot = session.screenshot()?;
    shot.save(&shots.join(format!("{name}.png")))?;
    Ok(shot)
}

fn set_input(session: &Session, id: &str, value: &str) -> Result<(), String> {
    session.script(&format!(
        "const e = document.getElementById({id:?}); e.value = {value:?}; \
         e.dispatchEvent(new Event(e.tagName === 'SELECT' ? 'change' : 'input', {{ bubbles: true }})); return null;"
    ))?;
    Ok(())
}

fn click(session: &Session, selector: &str) -> Result<(), String> {
    let found = session.script(&format!("const e = document.querySelector({selector:?}); if (!e) return false; e.click(); return true;"))?;
    if found != json!(true) {
        return Err(format!("nothing matches {selector}"));
    }
    Ok(())
}

/// Frames per second over 20 forced redraws of the whole scene (printed, not asserted).
fn frame_rate(session: &Session) -> Result<String, String> {
    let result = session.script_async(
        "const done = arguments[arguments.length - 1]; const r = window.renewtwin; \
         const f0 = r.frames, t0 = performance.now(); r.forceFrames(20); \
         const poll = () => r.frames >= f0 + 20 ? done({ fps: 20000 / (performance.now() - t0), \
           triangles: r.triangles, elements: r.elementCount, w: innerWidth, h: innerHeight }) : setTimeout(poll, 20); poll();",
    )?;
    Ok(format!(
        "{:.1} fps at {}x{} CSS px, {} triangles, {} elements",
        result["fps"].as_f64().unwrap_or(0.0),
        result["w"],
        result["h"],
        result["triangles"],
        result["elements"]
    ))
}

/// The panel of the clicked element lists its property sets and its renewal tasks.
fn inspect_panel(session: &Session) -> Result<(), String> {
    wait_for(session, "document.getElementById('info-more').dataset.loadedId !== undefined", "the element details")?;
    let panel = session.script(
        "const more = document.getElementById('info-more'); return { id: Number(more.dataset.loadedId), \
         selected: window.renewtwin.selected, psets: [...more.querySelectorAll('[data-pset]')].map(d => d.dataset.pset), \
         tasks: [...more.querySelectorAll('[data-task]')].map(t => t.dataset.task), \
         building: document.getElementById('info-building').textContent, \
         state: document.getElementById('info-state').textContent };",
    )?;
    if panel["id"] != panel["selected"] {
        return Err(format!("details are for another element: {panel}"));
    }
    let psets = panel["psets"].as_array().map_or(0, Vec::len);
    let tasks = panel["tasks"].as_array().map_or(0, Vec::len);
    if psets == 0 || tasks == 0 || panel["building"] == json!("—") {
        return Err(format!("the panel of an element under renewal shows no property set, task or building: {panel}"));
    }
    eprintln!("inspect: {panel}");
    Ok(())
}

/// A facade wall that the plan retrofits: existing on day 0, renewed at the end.
fn retrofitted_wall(session: &Session) -> Result<Value, String> {
    let found = session.script_async(
        "const done = arguments[arguments.length - 1]; const r = window.renewtwin; \
         const end = Number(document.getElementById('tl-slider').max); \
         Promise.all([0, end].map(d => fetch('/api/states?day=' + d).then(x => x.arrayBuffer()).then(b => new Uint8Array(b)))) \
         .then(([first, last]) => { for (let id = 0; id < r.elementCount; id++) \
           if (first[id] === 0 && last[id] === 3 && r.elementInfo(id).class.startsWith('IfcWall')) return done({ id, end, globalId: r.elementInfo(id).globalId }); \
           done(null); });",
    )?;
    if found.is_null() {
        return Err("no wall goes from existing (day 0) to renewed (plan end)".into());
    }
    Ok(found)
}

/// Pixel colour at the element's screen point in `shot`, and the colour the viewer says it drew.
fn drawn_colour(session: &Session, shot: &Screenshot, global_id: &str, id: i64) -> Result<([u8; 3], [u8; 3]), String> {
    let probe = session.script(&format!(
        "const r = window.renewtwin; return {{ p: r.screenPointOf({global_id:?}), rgb: r.elementRgb({id}), w: innerWidth }};"
    ))?;
    let scale = f64::from(shot.width) / probe["w"].as_f64().unwrap_or(1.0);
    let (x, y) = (probe["p"][0].as_f64().ok_or(format!("element {global_id} is not visible: {probe}"))?, probe["p"][1].as_f64().unwrap_or(0.0));
    Ok((shot.pixel((x * scale) as u32, (y * scale) as u32), rgb_of(&probe["rgb"])?))
}

/// Dragging the slider to day 0 and to the plan's end recolours a retrofitted wall from
/// existing grey to renewed, on screen.
fn timeline(session: &Session, backend: &str, shots: &Path) -> Result<(), String> {
    let wall = retrofitted_wall(session)?;
    let (id, end, global_id) = (wall["id"].as_i64().unwrap_or(0), wall["end"].as_i64().unwrap_or(0), wall["globalId"].as_str().unwrap_or_default().to_owned());
    // Framed but not selected: the selection tint would change its colour.
    session.script(&format!("window.renewtwin.focus({id}); window.renewtwin.select(-1); return null;"))?;
    let mut seen = Vec::new();
    for (day, state) in [(0, "existing"), (end, "renewed")] {
        set_input(session, "tl-slider", &day.to_string())?;
        wait_for(session, &format!("document.getElementById('timeline').dataset.shownDay === '{day}' && window.renewtwin.elementState({id}) === '{state}'"), "the slider's day")?;
        wait_frame(session)?;
        let picture = shot(session, shots, &format!("{backend}-timeline-day{day}"))?;
        let (pixel, expected) = drawn_colour(session, &picture, &global_id, id)?;
        super::match_shaded_colour(pixel, expected).map_err(|why| format!("day {day}: pixel {pixel:?} is not {state} {expected:?}: {why}"))?;
        seen.push(pixel);
    }
    if seen[0] == seen[1] {
        return Err(format!("the wall looks the same on day 0 and day {end}: {seen:?}"));
    }
    eprintln!("timeline: wall {global_id} day 0 {:?} -> day {end} {:?}", seen[0], seen[1]);
    click(session, "#tl-live")?;
    wait_for(session, "window.renewtwin.seekDay === null", "live mode")
}

/// Colouring by risk shows the risk legend and recolours elements.
fn colour_layer(session: &Session, backend: &str, shots: &Path) -> Result<(), String> {
    set_input(session, "colour-by", "risk")?;
    wait_for(session, "document.getElementById('legend-panel').dataset.layer === 'risk' && !document.getElementById('layer-legend').hidden", "the risk legend")?;
    wait_frame(session)?;
    shot(session, shots, &format!("{backend}-risk"))?;
    let check = session.script(
        "const r = window.renewtwin; const keys = [...document.querySelectorAll('#layer-legend li')].map(l => l.dataset.key); \
         const colours = new Set(); for (let id = 0; id < r.elementCount; id++) colours.add(r.elementRgb(id).join()); \
         return { keys, colours: colours.size, lifecycleHidden: document.getElementById('legend').hidden };",
    )?;
    if check["colours"].as_u64().unwrap_or(0) < 3 || check["lifecycleHidden"] != json!(true) {
        return Err(format!("risk colouring shows too few colours or the wrong legend: {check}"));
    }
    set_input(session, "colour-by", "phase")?;
    wait_for(session, "document.getElementById('legend-panel').dataset.layer === 'phase'", "the phase legend")?;
    set_input(session, "colour-by", "state")?;
    wait_for(session, "!document.getElementById('legend').hidden", "the lifecycle legend")?;
    noise_layer(session, backend, shots)
}

/// Colouring by the predicted construction noise at each building (sensors module) shows its
/// legend, with the legal limits as band edges, and recolours the buildings on screen.
fn noise_layer(session: &Session, backend: &str, shots: &Path) -> Result<(), String> {
    wait_frame(session)?;
    let before = session.screenshot()?;
    set_input(session, "colour-by", "noise")?;
    wait_for(session, "document.getElementById('legend-panel').dataset.layer === 'noise' && !document.getElementById('layer-legend').hidden", "the noise legend")?;
    wait_frame(session)?;
    let after = shot(session, shots, &format!("{backend}-noise"))?;
    let check = session.script(
        "const r = window.renewtwin; const items = [...document.querySelectorAll('#layer-legend li')]; \
         const legend = items.map(l => ({ key: l.dataset.key, text: l.textContent })); \
         const counts = {}; for (let id = 0; id < r.elementCount; id++) { const c = r.elementRgb(id).join(); counts[c] = (counts[c] || 0) + 1; } \
         return { legend, counts, lifecycleHidden: document.getElementById('legend').hidden };",
    )?;
    let keys: Vec<&str> = check["legend"].as_array().map(|l| l.iter().filter_map(|e| e["key"].as_str()).collect()).unwrap_or_default();
    if keys != ["quiet", "moderate", "near_limit", "above_limit", "none"] || check["lifecycleHidden"] != json!(true) {
        return Err(format!("the noise legend should list four bands and no data, instead of the lifecycle legend: {check}"));
    }
    let limits = check["legend"][3]["text"].as_str().unwrap_or_default();
    if !limits.contains("70") || !check["legend"][0]["text"].as_str().unwrap_or_default().contains("55") {
        return Err(format!("the band edges should be the GB 12523-2011 limits (55 and 70 dB(A)): {check}"));
    }
    // Elements inside buildings get a band colour; the street and pipes have no data.
    let banded: u64 = check["counts"]
        .as_object()
        .map(|c| c.iter().filter(|(rgb, _)| *rgb != "176,176,176").map(|(_, n)| n.as_u64().unwrap_or(0)).sum())
        .unwrap_or(0);
    if banded == 0 {
        return Err(format!("no element has a noise band: {check}"));
    }
    let changed = before.rgb.iter().zip(&after.rgb).filter(|(a, b)| a.abs_diff(**b) > 20).count();
    if changed < before.rgb.len() / 50 {
        return Err(format!("colouring by noise changed only {changed} channel values of the picture"));
    }
    eprintln!("noise layer: {banded} elements in bands {}, {:.1}% of channels changed", check["counts"], changed as f64 * 100.0 / before.rgb.len() as f64);
    set_input(session, "colour-by", "state")?;
    wait_for(session, "!document.getElementById('legend').hidden", "the lifecycle legend")
}

/// Before/after with a swipe and side by side: the two sides show different states.
fn compare(session: &Session, backend: &str, shots: &Path) -> Result<(), String> {
    let wall = retrofitted_wall(session)?;
    let id = wall["id"].as_i64().unwrap_or(0);
    set_input(session, "compare", "before-after")?;
    wait_for(session, "window.renewtwin.comparing === true", "the comparison")?;
    let sides = session.script(&format!("const r = window.renewtwin; return [r.elementRgb({id}, 0), r.elementRgb({id}, 1)];"))?;
    if sides[0] == sides[1] {
        return Err(format!("before and after draw the retrofitted wall alike: {sides}"));
    }
    session.script("window.renewtwin.fit(); return null;")?;
    wait_frame(session)?;
    shot(session, shots, &format!("{backend}-compare-swipe"))?;
    set_input(session, "compare-layout", "side")?;
    wait_frame(session)?;
    let side = shot(session, shots, &format!("{backend}-compare-side"))?;
    let background = rgb_of(&session.script("return window.renewtwin.background;")?)?;
    let (left, right) = side.halves_differing_from(background, 12);
    if left < 0.05 || right < 0.05 {
        return Err(format!("side by side draws {:.1}% left and {:.1}% right", left * 100.0, right * 100.0));
    }
    set_input(session, "compare-layout", "swipe")?;
    set_input(session, "compare", "off")?;
    wait_for(session, "window.renewtwin.comparing === false", "the end of the comparison")?;
    // The side labels and the layout chooser go with the comparison.
    wait_for(
        session,
        "['compare-labels', 'compare-layout', 'swipe'].every((id) => getComputedStyle(document.getElementById(id)).display === 'none')",
        "the comparison's labels and controls to hide",
    )
}

/// Isolating one building hides every element of the others.
fn tree_isolate(session: &Session, backend: &str, shots: &Path) -> Result<(), String> {
    click(session, "#btn-tree")?;
    click(session, "#tree li[data-kind=building] .small-button")?;
    wait_for(session, "Number(document.getElementById('tree').dataset.hiddenCount) > 0", "the isolation")?;
    wait_frame(session)?;
    let picture = shot(session, shots, &format!("{backend}-isolate"))?;
    let background = rgb_of(&session.script("return window.renewtwin.background;")?)?;
    let isolated = picture.share_differing_from(background, 12);
    click(session, "#tree-show-all")?;
    wait_for(session, "Number(document.getElementById('tree').dataset.hiddenCount) === 0", "show all")?;
    wait_frame(session)?;
    let all = session.screenshot()?.share_differing_from(background, 12);
    click(session, "#btn-tree")?;
    if isolated >= all {
        return Err(format!("one building covers {:.1}% of the canvas, the whole block {:.1}%", isolated * 100.0, all * 100.0));
    }
    Ok(())
}

/// Search by GlobalId selects and frames the element; a section plane and X-ray change the
/// picture.
fn search_section_xray(session: &Session, backend: &str, shots: &Path) -> Result<(), String> {
    let target = session.script("const r = window.renewtwin; for (let id = 0; id < r.elementCount; id++) { const i = r.elementInfo(id); if (i.class === 'IfcTransportElement') return i; } return null;")?;
    let global_id = target["globalId"].as_str().ok_or("no lift in the scene")?.to_owned();
    set_input(session, "search", &global_id)?;
    wait_for(session, "!document.getElementById('search-results').hidden", "search results")?;
    click(session, "#search-results button")?;
    wait_for(session, &format!("window.renewtwin.selected === {}", target["id"]), "the found element to be selected")?;
    wait_frame(session)?;
    shot(session, shots, &format!("{backend}-search"))?;

    session.script("window.renewtwin.fit(); return null;")?;
    wait_frame(session)?;
    let background = rgb_of(&session.script("return window.renewtwin.background;")?)?;
    let whole = session.screenshot()?.share_differing_from(background, 12);
    set_input(session, "section-axis", "2")?;
    set_input(session, "section-pos", "0.3")?;
    wait_frame(session)?;
    let cut = shot(session, shots, &format!("{backend}-section"))?.share_differing_from(background, 12);
    set_input(session, "section-axis", "-1")?;
    if cut >= whole {
        return Err(format!("a horizontal section at 30% leaves {:.1}% drawn of {:.1}%", cut * 100.0, whole * 100.0));
    }
    let before = session.screenshot()?;
    click(session, "#btn-xray")?;
    wait_frame(session)?;
    let xray = shot(session, shots, &format!("{backend}-xray"))?;
    click(session, "#btn-xray")?;
    let changed = before.rgb.iter().zip(&xray.rgb).filter(|(a, b)| a.abs_diff(**b) > 20).count();
    if changed < before.rgb.len() / 50 {
        return Err(format!("X-ray changed only {changed} channel values"));
    }
    session.script("window.renewtwin.select(-1); return null;")
        .map(drop)
}

/// One touch frame through the DevTools protocol (`Input.dispatchTouchEvent`, via chromedriver's
/// `goog/cdp/execute`): W3C touch actions from chromedriver never reach the canvas's pointer
/// handlers in headless Chromium, DevTools touch events do.
fn touch_event(session: &Session, kind: &str, points: &[(f64, f64)]) -> Result<(), String> {
    let points: Vec<Value> =
        points.iter().enumerate().map(|(id, (x, y))| json!({ "x": x, "y": y, "id": id, "radiusX": 4, "radiusY": 4, "force": 1 })).collect();
    session.command("POST", "/goog/cdp/execute", Some(&json!({ "cmd": "Input.dispatchTouchEvent", "params": { "type": kind, "touchPoints": points } })))?;
    Ok(())
}

/// Fingers down at `from`, moved in steps to `to`, lifted.
fn touch_gesture(session: &Session, from: &[(f64, f64)], to: &[(f64, f64)]) -> Result<(), String> {
    const STEPS: u32 = 8;
    touch_event(session, "touchStart", from)?;
    for step in 1..=STEPS {
        let t = f64::from(step) / f64::from(STEPS);
        let at: Vec<(f64, f64)> = from.iter().zip(to).map(|(a, b)| (a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t)).collect();
        touch_event(session, "touchMove", &at)?;
    }
    touch_event(session, "touchEnd", &[])
}

/// Distance between two `[x, y, z]` arrays.
fn gap(a: &Value, b: &Value) -> f64 {
    (0..3).map(|i| (a[i].as_f64().unwrap_or(0.0) - b[i].as_f64().unwrap_or(0.0)).powi(2)).sum::<f64>().sqrt()
}

/// Touch: one finger orbits, two fingers pinch to zoom and move together to pan, a tap
/// selects; the picture changes.
pub(crate) fn touch(session: &Session, backend: &str, shots: &Path) -> Result<(), String> {
    // Panels over the canvas would take the touches.
    session.script("document.querySelectorAll('.panel').forEach(p => p.style.visibility = 'hidden'); window.renewtwin.fit(); return null;")?;
    wait_frame(session)?;
    let before = session.screenshot()?;
    let settings = |s: &Session| {
        s.script("return { xray: document.getElementById('btn-xray').getAttribute('aria-pressed'), section: document.getElementById('section-axis').value, comparing: window.renewtwin.comparing };")
    };
    let settings_before = settings(session)?;
    let camera = |s: &Session| s.script("return window.renewtwin.camera();");
    let distance = |c: &Value| c["distance"].as_f64().unwrap_or(f64::NAN);
    let start = camera(session)?;

    touch_gesture(session, &[(560.0, 420.0)], &[(720.0, 400.0)])?;
    let orbited = camera(session)?;
    if gap(&orbited["eye"], &start["eye"]) < 1e-3 || (distance(&orbited) - distance(&start)).abs() > 1e-3 * distance(&start) || gap(&orbited["target"], &start["target"]) > 1e-3 {
        return Err(format!("a one-finger drag should orbit about the target at a fixed distance: {start} -> {orbited}"));
    }

    touch_gesture(session, &[(560.0, 400.0), (720.0, 400.0)], &[(460.0, 400.0), (820.0, 400.0)])?;
    let pinched = camera(session)?;
    // NaN (a missing hook) fails too.
    if distance(&pinched).partial_cmp(&(0.8 * distance(&orbited))) != Some(std::cmp::Ordering::Less) {
        return Err(format!("spreading two fingers from 160 to 360 px apart should zoom in: {orbited} -> {pinched}"));
    }

    touch_gesture(session, &[(560.0, 400.0), (720.0, 400.0)], &[(680.0, 460.0), (840.0, 460.0)])?;
    let panned = camera(session)?;
    let moved = gap(&panned["target"], &pinched["target"]);
    if (distance(&panned) - distance(&pinched)).abs() > 0.02 * distance(&pinched) || moved < 0.01 * distance(&pinched) {
        return Err(format!("two fingers moving together should pan (target moves, distance stays): {pinched} -> {panned}"));
    }
    wait_frame(session)?;
    let after = shot(session, shots, &format!("{backend}-touch"))?;
    // Only the camera may have changed the picture.
    if settings(session)? != settings_before {
        return Err(format!("the gestures changed view settings: {settings_before} -> {}", settings(session)?));
    }
    let changed = before.rgb.iter().zip(&after.rgb).filter(|(a, b)| a.abs_diff(**b) > 20).count();
    if changed < before.rgb.len() / 50 {
        return Err(format!("orbit, pinch and pan changed only {changed} channel values of the picture"));
    }

    // Touch coordinates arrive as whole CSS pixels: the rounded point must pick the element too.
    let point = session.script(
        "const r = window.renewtwin; for (let id = 0; id < r.elementCount; id++) { let p = r.screenPointOf(r.elementInfo(id).globalId); \
         if (!p) continue; p = [Math.round(p[0]), Math.round(p[1])]; \
         if (p[0] > 100 && p[1] > 150 && p[0] < innerWidth - 100 && p[1] < innerHeight - 100 && r.pick(p[0], p[1]) === id) return { id, p }; } return null;",
    )?;
    let (x, y) = (point["p"][0].as_f64().ok_or(format!("no element to tap: {point}"))?, point["p"][1].as_f64().unwrap_or(0.0));
    touch_event(session, "touchStart", &[(x, y)])?;
    touch_event(session, "touchEnd", &[])?;
    wait_for(session, &format!("window.renewtwin.selected === {}", point["id"]), "the tapped element to be selected")?;
    eprintln!(
        "touch ({settings_before}): orbit eye {} -> {}, pinch distance {:.1} -> {:.1}, pan target moved {moved:.2} m, {:.1}% of channels changed, tap selected {}",
        start["eye"],
        orbited["eye"],
        distance(&orbited),
        distance(&pinched),
        changed as f64 * 100.0 / before.rgb.len() as f64,
        point["id"]
    );
    session.script("window.renewtwin.select(-1); document.querySelectorAll('.panel').forEach(p => p.style.visibility = ''); return null;").map(drop)
}

/// The exhibition tour on a phone-sized window: captions from the scene file in Chinese, the
/// tour advancing, the switch to English, large text.
fn exhibition(session: &Session, url: &str, backend: &str, shots: &Path) -> Result<(), String> {
    session.command("POST", "/window/rect", Some(&json!({ "width": 390, "height": 844 })))?;
    session.navigate(&format!("{url}?mode=exhibition&autoplay=0"))?;
    wait_for(session, "window.renewtwin && window.renewtwin.ready && document.body.dataset.panels === 'ready'", "the exhibition page")?;
    let viewpoints = session.script_async("const done = arguments[arguments.length - 1]; fetch('/api/viewer/viewpoints').then(r => r.json()).then(done);")?;
    let read = |s: &Session| {
        s.script(
            "const t = document.getElementById('tour'), c = document.getElementById('tour-caption'); \
             return { hidden: t.hidden, index: Number(t.dataset.index), caption: c.textContent, lang: document.documentElement.lang, \
             size: parseFloat(getComputedStyle(c).fontSize), width: innerWidth, \
             toolbar: getComputedStyle(document.getElementById('toolbar')).display };",
        )
    };
    let first = read(session)?;
    if first["hidden"] != json!(false) || first["caption"] != viewpoints[0]["caption_zh"] || first["toolbar"] != json!("none") {
        return Err(format!("the tour should open on the first caption in Chinese without planner panels: {first}"));
    }
    if first["size"].as_f64().unwrap_or(0.0) < 18.0 || first["width"].as_f64().unwrap_or(1000.0) > 500.0 {
        return Err(format!("tour text is not large on a phone-sized window: {first}"));
    }
    wait_frame(session)?;
    shot(session, shots, &format!("{backend}-tour-zh"))?;
    click(session, "#tour-next")?;
    wait_for(session, "document.getElementById('tour').dataset.index === '1'", "the tour to advance")?;
    wait_frame(session)?;
    let second = read(session)?;
    let camera = session.script("return window.renewtwin.camera();")?;
    let eye = &viewpoints[1]["eye"];
    let off: f64 = (0..3).map(|i| (camera["eye"][i].as_f64().unwrap_or(0.0) - eye[i].as_f64().unwrap_or(0.0)).powi(2)).sum::<f64>().sqrt();
    if second["caption"] != viewpoints[1]["caption_zh"] || off > 0.5 {
        return Err(format!("the second stop shows {second} with the eye {off:.2} m from its viewpoint"));
    }
    click(session, "#tour-lang")?;
    wait_for(session, "document.documentElement.lang === 'en'", "English")?;
    let english = read(session)?;
    if english["caption"] != viewpoints[1]["caption_en"] {
        return Err(format!("the English caption is {english}, expected {}", viewpoints[1]["caption_en"]));
    }
    shot(session, shots, &format!("{backend}-tour-en"))?;
    eprintln!("exhibition: {} stops; stop 2 zh {:?} / en {:?}", viewpoints.as_array().map_or(0, Vec::len), second["caption"], english["caption"]);
    Ok(())
}
