//! Accessibility of the viewer (issue 20, item 6), in the session `screens.rs` opened.
//!
//! - **axe-core** (Deque's rules, the npm package `scripts/setup.sh --test` installs into
//!   `~/.cache/renewtwin/npm`, or `RENEWTWIN_AXE_JS`) runs in the page: planner mode as loaded and
//!   with every panel open (each tab of the consultation panel), the phone layout, exhibition
//!   mode; no violation of impact "serious" or "critical" may remain.
//! - **Keyboard**: Tab alone reaches every visible control (desktop, phone, exhibition), each
//!   with a focus outline of at least 2 px, and the outline is on screen (pixels of the focus
//!   colour appear around the control in a screenshot). Enter and Space press buttons, arrows
//!   move selects and sliders, Escape closes what the focus is in, and the 3D view answers its
//!   keys (arrows orbit, + zooms, Enter picks the element at the centre, Escape clears it).
//! - **Colour-blind-safe palette**: the legend's switch recolours the legend and the 3D view
//!   alike, and in the safe palette every two colours of a layer (its "no data" grey included)
//!   stay at least [`MIN_DELTA_E`] apart (CIE 1976 ΔE*ab) under simulated protanopia,
//!   deuteranopia and tritanopia (Machado, Oliveira & Fernandes 2009, severity 1). The
//!   lifecycle colours, which the switch leaves, must pass the same test.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::{Screenshot, Session};
use crate::features::{wait_for, wait_frame};
use crate::screens::{open, set_screen, set_sheet};

/// Smallest colour difference (CIE 1976 ΔE*ab) between two colours of a palette under each
/// simulated colour-vision deficiency. About 2.3 is "just noticeable"; 15 keeps categories apart
/// at a glance on a shaded 3D surface.
const MIN_DELTA_E: f64 = 15.0;
/// The focus outline's colour (`--focus` in style.css).
const FOCUS_RGB: [u8; 3] = [255, 209, 102];

/// WebDriver key codes.
const TAB: &str = "\u{E004}";
const ENTER: &str = "\u{E007}";
const ESCAPE: &str = "\u{E00C}";
const SPACE: &str = " ";
const ARROW_LEFT: &str = "\u{E012}";
const ARROW_RIGHT: &str = "\u{E014}";
const ARROW_UP: &str = "\u{E013}";
const ARROW_DOWN: &str = "\u{E015}";

pub(super) fn check_all(session: &Session, url: &str, shots: &Path) -> Result<(), String> {
    axe(session, url).map_err(|e| format!("axe-core: {e}"))?;
    keyboard(session, url, shots).map_err(|e| format!("keyboard: {e}"))?;
    palette(session, url, shots).map_err(|e| format!("colour-blind-safe palette: {e}"))
}

// ------------------------------------------------------------------------------------------
// axe-core

/// Where `scripts/setup.sh --test` puts axe-core's browser build.
fn axe_path() -> PathBuf {
    if let Some(path) = std::env::var_os("RENEWTWIN_AXE_JS") {
        return PathBuf::from(path);
    }
    let cache = std::env::var_os("RENEWTWIN_NPM_CACHE").map(PathBuf::from).unwrap_or_else(|| {
        std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
            .unwrap_or_else(|| PathBuf::from(".cache"))
            .join("renewtwin/npm")
    });
    cache.join("node_modules/axe-core/axe.min.js")
}

fn axe(session: &Session, url: &str) -> Result<(), String> {
    let path = axe_path();
    let source = match std::fs::read_to_string(&path) {
        Ok(source) => source,
        Err(e) => {
            let reason = format!("axe-core not found at {} ({e}); `scripts/setup.sh --test` installs it", path.display());
            if std::env::var("RENEWTWIN_REQUIRE_BROWSER").is_ok_and(|v| v == "1") {
                return Err(format!("{reason}, and RENEWTWIN_REQUIRE_BROWSER=1"));
            }
            eprintln!("accessibility audit skipped: {reason}");
            return Ok(());
        }
    };
    let run = |state: &str| -> Result<(), String> {
        // Scripts run through WebDriver are not subject to the page's content security policy.
        let version = session.script(&format!("{source}\n;return window.axe ? window.axe.version : null;"))?;
        let version = version.as_str().ok_or("axe.min.js did not define window.axe")?;
        // The audit must see a violation where there is one: a button without a name.
        let probe = session.script_async(
            "const done = arguments[arguments.length - 1]; const b = document.createElement('button'); \
             b.id = 'axe-probe'; document.body.append(b); \
             axe.run(b, { runOnly: ['button-name'] }).then((r) => { b.remove(); done(r.violations.map((v) => v.id + ' ' + v.impact)); }) \
               .catch((e) => { b.remove(); done(String(e)); });",
        )?;
        if probe != json!(["button-name critical"]) {
            return Err(format!("{state}: axe {version} did not report a button without a name: {probe}"));
        }
        let report = session.script_async(
            "const done = arguments[arguments.length - 1]; \
             axe.run(document, { resultTypes: ['violations'] }).then((r) => done({ \
               violations: r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, \
                 nodes: v.nodes.map((n) => n.target.join(' ') + ': ' + (n.failureSummary || '').replace(/\\s+/g, ' ')) })), \
               passes: r.passes.length, incomplete: r.incomplete.length })).catch((e) => done({ error: String(e) }));",
        )?;
        if let Some(error) = report["error"].as_str() {
            return Err(format!("{state}: axe {version} failed: {error}"));
        }
        let violations = report["violations"].as_array().cloned().unwrap_or_default();
        let serious: Vec<String> = violations
            .iter()
            .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
            .map(|v| format!("{} ({}): {}\n      {}", v["id"], v["impact"], v["help"], v["nodes"]))
            .collect();
        let lesser: Vec<String> =
            violations.iter().map(|v| format!("{} ({})", v["id"].as_str().unwrap_or("?"), v["impact"].as_str().unwrap_or("?"))).collect();
        eprintln!(
            "axe {version} {state}: {} rules pass, {} need review, violations: {}",
            report["passes"],
            report["incomplete"],
            if lesser.is_empty() { "none".to_owned() } else { lesser.join(", ") }
        );
        if serious.is_empty() { Ok(()) } else { Err(format!("{state}: serious or critical violations:\n    {}", serious.join("\n    "))) }
    };

    open(session, url)?;
    set_screen(session, (1280, 800))?;
    run("planner 1280x800")?;
    session.script(
        "const r = window.renewtwin, $ = (id) => document.getElementById(id); \
         for (let id = 0; id < r.elementCount; id++) if (r.screenPointOf(r.elementInfo(id).globalId)) { r.select(id); break; } \
         $('btn-tree').click(); $('btn-consult').click(); \
         $('search').value = r.elementInfo(0).globalId.slice(0, 2); $('search').dispatchEvent(new Event('input')); \
         $('compare').value = 'before-after'; $('compare').dispatchEvent(new Event('change')); \
         $('colour-by').value = 'noise'; $('colour-by').dispatchEvent(new Event('change')); return null;",
    )?;
    wait_for(
        session,
        "!document.getElementById('info').hidden && document.getElementById('info-more').dataset.loadedId !== undefined \
         && !document.getElementById('search-results').hidden && document.getElementById('legend-panel').dataset.layer === 'noise'",
        "every panel to open",
    )?;
    for tab in ["account", "comments", "votes", "reports", "news", "indicators"] {
        session.script(&format!("document.getElementById('consult-tab-{tab}').click(); return null;"))?;
        wait_for(session, &format!("document.getElementById('consult-panel').dataset.tab === '{tab}'"), "the consultation tab")?;
        run(&format!("planner 1280x800, every panel open, consultation tab {tab}"))?;
    }
    set_screen(session, (390, 844))?;
    for sheet in ["tools", "timeline", "layers"] {
        set_sheet(session, sheet)?;
        run(&format!("planner 390x844, every panel open, {sheet} sheet"))?;
    }
    open(session, &format!("{url}?mode=exhibition&autoplay=0"))?;
    for size in [(1280, 800), (390, 844)] {
        set_screen(session, size)?;
        run(&format!("exhibition {}x{}", size.0, size.1))?;
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------
// Keyboard

fn press(session: &Session, keys: &[&str]) -> Result<(), String> {
    let mut actions: Vec<Value> = keys.iter().map(|k| json!({ "type": "keyDown", "value": k })).collect();
    actions.extend(keys.iter().rev().map(|k| json!({ "type": "keyUp", "value": k })));
    session.command("POST", "/actions", Some(&json!({ "actions": [{ "type": "key", "id": "keyboard", "actions": actions }] })))?;
    session.command("DELETE", "/actions", None).map(drop)
}

/// Marks every visible control (the canvas included) with `data-kb`; returns their labels.
const MARK_CONTROLS: &str = "document.querySelectorAll('[data-kb]').forEach((e) => delete e.dataset.kb); \
    const shown = (e) => e.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true }); \
    const list = [...document.querySelectorAll('button, select, input, textarea, a[href], summary, [tabindex]')] \
      .filter((e) => e.tabIndex >= 0 && !e.disabled && shown(e)); \
    list.forEach((e, i) => { e.dataset.kb = String(i); }); \
    return list.map((e) => e.id || (e.tagName.toLowerCase() + ' ' + (e.textContent || e.getAttribute('aria-label') || '').trim().slice(0, 24)));";

/// The focused control: its mark, whether its focus outline shows, and its box. Chromium puts a
/// date field's focus on its inner day/month/year parts, so past the first part the field
/// itself matches neither `:focus-visible` nor `:focus`; for a date field `:focus-within` counts
/// (the style sheet outlines it then), and the planner check looks at its pixels.
const FOCUSED: &str = "const a = document.activeElement; if (!a || a === document.body) return null; \
    const s = getComputedStyle(a), r = a.getBoundingClientRect(); \
    return { kb: a.dataset.kb ?? null, id: a.id || a.tagName, \
      outline: (a.matches(':focus-visible') || (a.type === 'date' && a.matches(':focus-within'))) && s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2, \
      style: s.outlineStyle + ' ' + s.outlineWidth + ' ' + s.outlineColor, box: [r.left, r.top, r.right, r.bottom] };";

/// Pixels within 8 px around `bx` (CSS px at scale 1) close to the focus colour.
fn focus_pixels(shot: &Screenshot, bx: &Value) -> usize {
    let edge = |i: usize, d: f64| (bx[i].as_f64().unwrap_or(0.0) + d).clamp(0.0, f64::from(shot.width.max(shot.height))) as u32;
    let (left, top, right, bottom) = (edge(0, -8.0), edge(1, -8.0), edge(2, 8.0), edge(3, 8.0));
    let mut count = 0;
    for y in top..bottom.min(shot.height) {
        for x in left..right.min(shot.width) {
            let p = shot.pixel(x, y);
            if (0..3).all(|c| p[c].abs_diff(FOCUS_RGB[c]) <= 30) {
                count += 1;
            }
        }
    }
    count
}

/// Tabs through the page until every marked control had the focus; each must show its outline,
/// and for `pixel_checks` the outline must be on screen.
fn tab_through(session: &Session, state: &str, pixel_checks: &[&str]) -> Result<(), String> {
    let controls = session.script(MARK_CONTROLS)?;
    let labels: Vec<String> =
        controls.as_array().map(|a| a.iter().map(|v| v.as_str().unwrap_or("?").to_owned()).collect()).unwrap_or_default();
    if labels.len() < 3 {
        return Err(format!("{state}: only {} controls on screen: {labels:?}", labels.len()));
    }
    // Screenshots before any keyboard focus, for the pixel checks.
    session.script("document.activeElement && document.activeElement.blur(); return null;")?;
    wait_frame(session)?;
    let unfocused = session.screenshot()?;
    let mut reached = vec![false; labels.len()];
    let mut pixels_checked = Vec::new();
    for _ in 0..labels.len() * 2 + 10 {
        press(session, &[TAB])?;
        let focused = session.script(FOCUSED)?;
        if focused.is_null() {
            continue;
        }
        let Some(kb) = focused["kb"].as_str().and_then(|k| k.parse::<usize>().ok()) else {
            return Err(format!("{state}: Tab focused {}, which is not a visible control", focused["id"]));
        };
        if focused["outline"] != json!(true) {
            return Err(format!("{state}: {} has no visible focus outline ({})", labels[kb], focused["style"]));
        }
        let id = focused["id"].as_str().unwrap_or_default();
        if pixel_checks.contains(&id) && !pixels_checked.contains(&id.to_owned()) {
            wait_frame(session)?;
            let shot = session.screenshot()?;
            let (with, without) = (focus_pixels(&shot, &focused["box"]), focus_pixels(&unfocused, &focused["box"]));
            let b = &focused["box"];
            let perimeter = 2.0
                * (b[2].as_f64().unwrap_or(0.0) - b[0].as_f64().unwrap_or(0.0) + b[3].as_f64().unwrap_or(0.0)
                    - b[1].as_f64().unwrap_or(0.0));
            if (with.saturating_sub(without) as f64) < perimeter.min(4000.0) {
                return Err(format!(
                    "{state}: the focus outline of {id} is not on screen: {with} focus-coloured pixels around it, {without} without focus, perimeter {perimeter:.0} px"
                ));
            }
            eprintln!("keyboard {state}: {id} focused shows {with} focus-coloured pixels around it ({without} unfocused)");
            pixels_checked.push(id.to_owned());
        }
        reached[kb] = true;
        if reached.iter().all(|r| *r) {
            break;
        }
    }
    let missed: Vec<&String> = labels.iter().zip(&reached).filter(|(_, r)| !**r).map(|(l, _)| l).collect();
    if !missed.is_empty() {
        return Err(format!("{state}: Tab never reached {missed:?}"));
    }
    if pixels_checked.len() != pixel_checks.len() {
        return Err(format!("{state}: focus pixels checked for {pixels_checked:?}, wanted {pixel_checks:?}"));
    }
    eprintln!("keyboard {state}: Tab reaches all {} controls, each with a focus outline", labels.len());
    Ok(())
}

fn focus(session: &Session, id: &str) -> Result<(), String> {
    session.script(&format!("document.getElementById({id:?}).focus(); return null;"))?;
    wait_for(session, &format!("document.activeElement === document.getElementById({id:?})"), &format!("the focus on #{id}"))
}

fn keyboard(session: &Session, url: &str, shots: &Path) -> Result<(), String> {
    open(session, url)?;
    set_screen(session, (1280, 800))?;
    tab_through(session, "planner 1280x800", &["btn-xray", "tl-slider", "viewer", "sun-date"])?;

    // Buttons: Enter and Space.
    focus(session, "btn-xray")?;
    press(session, &[ENTER])?;
    wait_for(session, "document.getElementById('btn-xray').getAttribute('aria-pressed') === 'true'", "Enter to turn X-ray on")?;
    press(session, &[SPACE])?;
    wait_for(session, "document.getElementById('btn-xray').getAttribute('aria-pressed') === 'false'", "Space to turn X-ray off")?;
    focus(session, "btn-tree")?;
    press(session, &[SPACE])?;
    wait_for(session, "!document.getElementById('tree-panel').hidden", "Space to open the tree")?;
    focus(session, "tree-show-all")?;
    press(session, &[ESCAPE])?;
    wait_for(
        session,
        "document.getElementById('tree-panel').hidden && document.activeElement.id === 'btn-tree'",
        "Escape to close the tree",
    )?;
    focus(session, "btn-consult")?;
    press(session, &[ENTER])?;
    wait_for(session, "!document.getElementById('consult-panel').hidden", "Enter to open the consultation panel")?;
    focus(session, "consult-tab-votes")?;
    press(session, &[ENTER])?;
    wait_for(session, "document.getElementById('consult-panel').dataset.tab === 'votes'", "Enter on a consultation tab")?;
    press(session, &[ESCAPE])?;
    wait_for(
        session,
        "document.getElementById('consult-panel').hidden && document.activeElement.id === 'btn-consult'",
        "Escape to close the consultation panel",
    )?;

    // A select and a slider: arrows.
    focus(session, "colour-by")?;
    press(session, &[ARROW_DOWN])?;
    wait_for(session, "document.getElementById('legend-panel').dataset.layer === 'phase'", "ArrowDown to colour by phase")?;
    press(session, &[ARROW_UP])?;
    wait_for(session, "!document.getElementById('legend').hidden", "ArrowUp back to the lifecycle colours")?;
    focus(session, "tl-slider")?;
    press(session, &[ARROW_RIGHT])?;
    wait_for(session, "!['live', undefined].includes(document.getElementById('timeline').dataset.shownDay)", "ArrowRight to seek a day")?;
    focus(session, "tl-live")?;
    press(session, &[ENTER])?;
    wait_for(session, "window.renewtwin.seekDay === null", "Enter to go live")?;

    // The 3D view.
    focus(session, "viewer")?;
    let camera = |s: &Session| s.script("return window.renewtwin.camera();");
    press(session, &["\u{E011}"])?; // Home: frame everything
    wait_frame(session)?;
    let start = camera(session)?;
    press(session, &[ARROW_LEFT])?;
    let orbited = camera(session)?;
    press(session, &["+"])?;
    let zoomed = camera(session)?;
    let dist = |c: &Value| c["distance"].as_f64().unwrap_or(f64::NAN);
    if orbited["eye"] == start["eye"] || (dist(&orbited) - dist(&start)).abs() > 0.01 * dist(&start) {
        return Err(format!("ArrowLeft on the 3D view should orbit at a fixed distance: {start} -> {orbited}"));
    }
    if dist(&zoomed).partial_cmp(&(0.9 * dist(&orbited))) != Some(std::cmp::Ordering::Less) {
        return Err(format!("+ on the 3D view should zoom in: {orbited} -> {zoomed}"));
    }
    press(session, &[ARROW_UP])?;
    press(session, &["\u{E008}", ARROW_RIGHT])?; // Shift+ArrowRight pans
    let panned = camera(session)?;
    if panned["target"] == zoomed["target"] {
        return Err(format!("Shift+ArrowRight on the 3D view should pan: {zoomed} -> {panned}"));
    }
    press(session, &["\u{E011}"])?;
    wait_frame(session)?;
    let centre = session.script("const b = document.getElementById('viewer').getBoundingClientRect(); return window.renewtwin.pick(b.left + b.width / 2, b.top + b.height / 2);")?;
    if centre.as_f64().unwrap_or(-1.0) < 0.0 {
        return Err("no element at the centre of the framed view to pick with Enter".into());
    }
    press(session, &[ENTER])?;
    wait_for(
        session,
        &format!("window.renewtwin.selected === {centre} && !document.getElementById('info').hidden"),
        "Enter to pick the element at the centre",
    )?;
    wait_frame(session)?;
    session.screenshot()?.save(&shots.join("keyboard-pick.png"))?;
    press(session, &[ESCAPE])?;
    wait_for(session, "window.renewtwin.selected === -1 || window.renewtwin.selected === null", "Escape to clear the selection")?;
    eprintln!("keyboard: buttons (Enter, Space), Escape, select and slider arrows, 3D view orbit/zoom/pan/pick all work");

    // The phone layout: the sheet tabs, then every control of each sheet.
    set_screen(session, (390, 844))?;
    for sheet in ["tools", "timeline", "layers"] {
        set_sheet(session, sheet)?;
        tab_through(session, &format!("planner 390x844, {sheet} sheet"), &[])?;
    }
    session.script("document.querySelector('#sheet-tabs [data-sheet=tools]').focus(); return null;")?;
    press(session, &[ENTER])?;
    wait_for(session, "document.body.dataset.sheet === 'tools'", "Enter on the Tools tab")?;
    press(session, &[SPACE])?;
    wait_for(session, "document.body.dataset.sheet === 'none'", "Space on the open tab to close the sheet")?;

    open(session, &format!("{url}?mode=exhibition&autoplay=0"))?;
    set_screen(session, (390, 844))?;
    tab_through(session, "exhibition 390x844", &["tour-next"])?;
    focus(session, "tour-next")?;
    press(session, &[ENTER])?;
    wait_for(session, "document.getElementById('tour').dataset.index === '1'", "Enter on Next")?;
    Ok(())
}

// ------------------------------------------------------------------------------------------
// Colour-blind-safe palette

/// Machado, Oliveira & Fernandes (2009), "A Physiologically-based Model for Simulation of
/// Color Vision Deficiency", IEEE TVCG 15(6), table of matrices at severity 1.0, applied to
/// linear sRGB.
const CVD: [(&str, [[f64; 3]; 3]); 3] = [
    ("protanopia", [[0.152_286, 1.052_583, -0.204_868], [0.114_503, 0.786_281, 0.099_216], [-0.003_882, -0.048_116, 1.051_998]]),
    ("deuteranopia", [[0.367_322, 0.860_646, -0.227_968], [0.280_085, 0.672_501, 0.047_413], [-0.011_820, 0.042_940, 0.968_881]]),
    ("tritanopia", [[1.255_528, -0.076_749, -0.178_779], [-0.078_411, 0.930_809, 0.147_602], [0.004_733, 0.691_367, 0.303_900]]),
];

fn linear(c: u8) -> f64 {
    let c = f64::from(c) / 255.0;
    if c <= 0.040_45 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) }
}

/// CIE L*a*b* (D65) of linear sRGB.
fn lab([r, g, b]: [f64; 3]) -> [f64; 3] {
    let x = (0.412_4 * r + 0.357_6 * g + 0.180_5 * b) / 0.950_47;
    let y = 0.212_6 * r + 0.715_2 * g + 0.072_2 * b;
    let z = (0.019_3 * r + 0.119_2 * g + 0.950_5 * b) / 1.088_83;
    let f = |t: f64| if t > 216.0 / 24_389.0 { t.cbrt() } else { (24_389.0 / 27.0 * t + 16.0) / 116.0 };
    [116.0 * f(y) - 16.0, 500.0 * (f(x) - f(y)), 200.0 * (f(y) - f(z))]
}

/// `rgb` as seen with the deficiency `matrix`, in L*a*b*.
fn seen(rgb: [u8; 3], matrix: &[[f64; 3]; 3]) -> [f64; 3] {
    let l = rgb.map(linear);
    lab([0, 1, 2].map(|i| (matrix[i][0] * l[0] + matrix[i][1] * l[1] + matrix[i][2] * l[2]).clamp(0.0, 1.0)))
}

/// The closest pair of `colours` under each deficiency: (deficiency, ΔE, pair).
fn closest_pairs(colours: &[(String, [u8; 3])]) -> Vec<(&'static str, f64, String)> {
    CVD.iter()
        .map(|(name, m)| {
            let mut best = (f64::INFINITY, String::new());
            for (i, (ka, a)) in colours.iter().enumerate() {
                for (kb, b) in &colours[i + 1..] {
                    let (la, lb) = (seen(*a, m), seen(*b, m));
                    let d = (0..3).map(|k| (la[k] - lb[k]).powi(2)).sum::<f64>().sqrt();
                    if d < best.0 {
                        best = (d, format!("{ka}/{kb}"));
                    }
                }
            }
            (*name, best.0, best.1)
        })
        .collect()
}

#[test]
fn the_deficiency_simulation_keeps_grey_and_merges_red_and_green_for_deuteranopes() {
    // Greys are fixed points of every matrix (rows sum to 1): white stays L* = 100.
    let white = seen([255, 255, 255], &CVD[1].1);
    assert!((white[0] - 100.0).abs() < 0.1 && white[1].abs() < 0.5 && white[2].abs() < 0.5, "{white:?}");
    // Pure red and a green of similar lightness are far apart normally, close for deuteranopes.
    let pair = [("red".to_owned(), [200, 60, 40]), ("green".to_owned(), [110, 130, 40])];
    let normal = {
        let identity = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
        let (a, b) = (seen(pair[0].1, &identity), seen(pair[1].1, &identity));
        (0..3).map(|k| (a[k] - b[k]).powi(2)).sum::<f64>().sqrt()
    };
    let deuteranopia = closest_pairs(&pair)[1].1;
    assert!(normal > 50.0 && deuteranopia < normal / 3.0, "normal {normal:.1}, deuteranopia {deuteranopia:.1}");
}

/// The legend's swatches (`selector`): key and colour, visible (not struck-out) ones only.
fn swatches(session: &Session, selector: &str) -> Result<Vec<(String, [u8; 3])>, String> {
    let list = session.script(&format!(
        "return [...document.querySelectorAll({selector:?})].filter((li) => !li.querySelector('.swatch.hidden')).map((li) => \
           [li.dataset.key || li.dataset.state, getComputedStyle(li.querySelector('.swatch')).backgroundColor.match(/\\d+/g).slice(0, 3).map(Number)]);"
    ))?;
    list.as_array()
        .ok_or_else(|| format!("no legend at {selector}: {list}"))?
        .iter()
        .map(|e| Ok((e[0].as_str().unwrap_or("?").to_owned(), super::rgb_of(&e[1])?)))
        .collect()
}

fn palette(session: &Session, url: &str, shots: &Path) -> Result<(), String> {
    open(session, &format!("{url}?palette=default"))?;
    set_screen(session, (1280, 800))?;
    // The layers of the server's first day, held on the timeline. The live day runs on at
    // `SPEED` days a second: by the time this check comes, minutes into a slow run, it may lie
    // where nothing is under way, and every layer is then "no data" (seen as a flake: "phase
    // (default): after 30s the view draws [176,176,176]").
    let day = super::START_DAY;
    session.script(&format!(
        "const s = document.getElementById('tl-slider'); s.value = '{day}'; s.dispatchEvent(new Event('input', {{ bubbles: true }})); return null;"
    ))?;
    wait_for(session, &format!("document.getElementById('timeline').dataset.shownDay === '{day}'"), "the timeline held on the first day")?;
    let lifecycle = swatches(session, "#legend li")?;
    for (deficiency, delta, pair) in closest_pairs(&lifecycle) {
        if delta < MIN_DELTA_E {
            return Err(format!("the lifecycle colours {pair} are only ΔE {delta:.1} apart for {deficiency}"));
        }
    }
    eprintln!("palette lifecycle (Okabe–Ito, unchanged by the switch): {:?}", closest_pairs(&lifecycle));
    for layer in ["phase", "risk", "noise", "disruption"] {
        let mut seen_palettes = Vec::new();
        for safe in [false, true] {
            if safe {
                focus(session, "btn-palette")?;
                press(session, &[ENTER])?;
                wait_for(session, "document.getElementById('btn-palette').getAttribute('aria-pressed') === 'true'", "the switch")?;
            }
            session.script(&format!(
                "const e = document.getElementById('colour-by'); e.value = '{layer}'; e.dispatchEvent(new Event('change')); return null;"
            ))?;
            let palette_name = if safe { "safe" } else { "default" };
            wait_for(
                session,
                &format!(
                    "document.getElementById('legend-panel').dataset.layer === '{layer}' && document.getElementById('legend-panel').dataset.palette === '{palette_name}'"
                ),
                "the layer's legend",
            )?;
            let legend = swatches(session, "#layer-legend li")?;
            // The 3D view draws exactly the legend's colours, once the layer's values have come
            // (the live state may follow the legend on a loaded machine): polled, not timed.
            let in_legend = |rgb: &str| legend.iter().any(|(_, c)| format!("{},{},{}", c[0], c[1], c[2]) == rgb);
            let started = std::time::Instant::now();
            loop {
                let drawn = session.script(
                    "const r = window.renewtwin, out = new Set(); for (let id = 0; id < r.elementCount; id++) out.add(r.elementRgb(id).join()); return [...out];",
                )?;
                let drawn: Vec<String> =
                    drawn.as_array().map(|d| d.iter().filter_map(Value::as_str).map(str::to_owned).collect()).unwrap_or_default();
                if drawn.len() >= 2 && drawn.iter().all(|rgb| in_legend(rgb)) {
                    break;
                }
                if started.elapsed() > crate::features::REACT_TIMEOUT {
                    return Err(format!(
                        "{layer} ({palette_name}): after {:?} the view draws {drawn:?}, the legend shows {legend:?}",
                        crate::features::REACT_TIMEOUT
                    ));
                }
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
            let pairs = closest_pairs(&legend);
            eprintln!("palette {layer} {palette_name}: closest pairs {pairs:?}");
            if safe {
                if let Some((deficiency, delta, pair)) = pairs.iter().find(|p| p.1 < MIN_DELTA_E) {
                    return Err(format!("{layer}: the safe colours {pair} are only ΔE {delta:.1} apart for {deficiency}"));
                }
                wait_frame(session)?;
                session.screenshot()?.save(&shots.join(format!("palette-{layer}-safe.png")))?;
            }
            seen_palettes.push(legend);
            if safe {
                focus(session, "btn-palette")?;
                press(session, &[SPACE])?;
                wait_for(
                    session,
                    "document.getElementById('btn-palette').getAttribute('aria-pressed') === 'false' \
                     && document.getElementById('legend-panel').dataset.palette === 'default'",
                    "the switch back",
                )?;
            }
        }
        if seen_palettes[0] == seen_palettes[1] {
            return Err(format!("{layer}: the switch changes no colour"));
        }
    }
    session
        .script("const e = document.getElementById('colour-by'); e.value = 'state'; e.dispatchEvent(new Event('change')); return null;")?;
    Ok(())
}
