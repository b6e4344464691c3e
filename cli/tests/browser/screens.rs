//! The viewer on every screen (issue 20, item 5), then its accessibility (item 6, `a11y.rs`).
//!
//! One WebGL2 session opens the viewer in planner mode (`/`) and in exhibition mode
//! (`/?mode=exhibition`) and sizes the page, through DevTools' device metrics, to 360×740,
//! 390×844, 768×1024, 1280×800 and 1920×1080 CSS pixels. At each size, as loaded and again
//! with everything open that a planner opens at once (an element's panel, the spatial tree, the
//! consultation panel, search results, a before/after comparison, a colour layer; on phones each
//! of the bottom sheet's tabs), it checks that
//! - no two visible panels overlap and every panel is inside the viewport;
//! - every visible control is inside the viewport (or inside a scrolling panel that is) and is
//!   what the pointer hits at its centre: nothing covers it;
//! - every character on screen (text, select options, placeholders, CSS `content`) has a glyph
//!   in the installed fonts: drawn in its element's font it must differ from a code point no
//!   font has (U+10FFFD, drawn as the font's missing-glyph box). The check first proves itself
//!   on a second unassigned code point (must read as missing) and on "A" and "中" (must not).
//!
//! A screenshot of each size and mode is kept in `target/browser-screenshots/screen-*.png`
//! (the test prints the folder), each checked to be the size asked for.

use std::path::Path;

use serde_json::{Value, json};

use super::{COMMON_FLAGS, Driver, Server, Session, WEBGL2_FLAGS, tempdir, wait_ready};
use crate::features::{wait_for, wait_frame};

/// The screens of the issue: two phones, a tablet, a laptop, a desktop (CSS pixels).
pub(crate) const SIZES: [(u32, u32); 5] = [(360, 740), (390, 844), (768, 1024), (1280, 800), (1920, 1080)];

/// The phone layout's bottom-sheet tabs (`body[data-sheet]`, panels.js).
const SHEETS: [&str; 3] = ["tools", "timeline", "layers"];

#[test]
fn the_viewer_fits_every_screen_in_both_modes_and_passes_axe_keyboard_and_colour_blind_checks() {
    let Some(_one_browser) = super::browser_for("screens and accessibility browser test") else { return };
    let shots = super::screenshot_dir();
    std::fs::create_dir_all(&shots).expect("create target/browser-screenshots");
    let server = Server::start();
    let driver = Driver::start().unwrap_or_else(|e| panic!("{e}"));
    let profile = tempdir("chromium-screens");
    let mut args: Vec<String> = COMMON_FLAGS.iter().chain(WEBGL2_FLAGS).map(|s| (*s).to_owned()).collect();
    args.push(format!("--user-data-dir={}", profile.display()));
    let session = driver.new_session(&args).unwrap_or_else(|e| panic!("{e}"));
    let result = (|| {
        every_screen(&session, &server.url, &shots)?;
        super::a11y::check_all(&session, &server.url, &shots)
    })();
    session.close();
    drop(driver);
    // The profile is scratch; a leftover directory in /tmp harms nothing.
    let _removed = std::fs::remove_dir_all(&profile);
    eprintln!("screenshots in {}", shots.display());
    if let Err(e) = result {
        panic!("screens and accessibility: {e}");
    }
}

/// Sizes the page to `width`×`height` CSS pixels (device scale 1) and waits until the page
/// and the canvas have taken that size.
pub(crate) fn set_screen(session: &Session, (width, height): (u32, u32)) -> Result<(), String> {
    let params = json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": width <= 640 });
    session.command("POST", "/goog/cdp/execute", Some(&json!({ "cmd": "Emulation.setDeviceMetricsOverride", "params": params })))?;
    wait_for(session, &format!("innerWidth === {width} && innerHeight === {height}"), &format!("a {width}x{height} page"))?;
    wait_frame(session)
}

/// Opens `url` and waits for the viewer and its panels.
pub(crate) fn open(session: &Session, url: &str) -> Result<(), String> {
    session.navigate(url)?;
    wait_ready(session)?;
    wait_for(
        session,
        "document.body.dataset.panels === 'ready' && document.getElementById('consult-panel').dataset.ready === 'true'",
        "the panels",
    )
}

fn every_screen(session: &Session, url: &str, shots: &Path) -> Result<(), String> {
    open(session, url)?;
    for size in SIZES {
        set_screen(session, size)?;
        let sheets: &[&str] = if size.0 <= 640 { &SHEETS } else { &[""] };
        for (i, sheet) in sheets.iter().enumerate() {
            let state = format!("planner{}", sheet_note(sheet));
            set_sheet(session, sheet)?;
            if i == 0 || *sheet == "timeline" {
                save_screen(session, shots, &format!("planner-{}x{}{}", size.0, size.1, suffix(sheet)), size)?;
            }
            check_layout(session, size, &state)?;
        }
    }
    open_everything(session)?;
    for size in SIZES {
        set_screen(session, size)?;
        let sheets: &[&str] = if size.0 <= 640 { &SHEETS } else { &[""] };
        for sheet in sheets {
            set_sheet(session, sheet)?;
            save_screen(session, shots, &format!("planner-open-{}x{}{}", size.0, size.1, suffix(sheet)), size)?;
            check_layout(session, size, &format!("planner with every panel open{}", sheet_note(sheet)))?;
        }
    }

    open(session, &format!("{url}?mode=exhibition&autoplay=0"))?;
    for size in SIZES {
        set_screen(session, size)?;
        save_screen(session, shots, &format!("exhibition-{}x{}", size.0, size.1), size)?;
        check_layout(session, size, "exhibition")?;
    }
    // The resident's English captions and the consultation panel, open over the tour.
    session.script("document.getElementById('tour-lang').click(); document.getElementById('btn-consult').click(); return null;")?;
    wait_for(
        session,
        "document.documentElement.lang === 'en' && !document.getElementById('consult-panel').hidden",
        "English and the consultation panel",
    )?;
    for size in SIZES {
        set_screen(session, size)?;
        save_screen(session, shots, &format!("exhibition-open-{}x{}", size.0, size.1), size)?;
        check_layout(session, size, "exhibition in English with the consultation panel")?;
    }
    eprintln!("screens: {} sizes x 2 modes, panels apart, controls on screen and uncovered, every glyph present", SIZES.len());
    Ok(())
}

fn sheet_note(sheet: &str) -> String {
    if sheet.is_empty() { String::new() } else { format!(", {sheet} sheet") }
}

fn suffix(sheet: &str) -> String {
    if sheet.is_empty() { String::new() } else { format!("-{sheet}") }
}

/// Opens a phone tab through its button, as a user would (no-op for `""`).
pub(crate) fn set_sheet(session: &Session, sheet: &str) -> Result<(), String> {
    if sheet.is_empty() {
        return Ok(());
    }
    session.script(&format!(
        "if (document.body.dataset.sheet !== {sheet:?}) document.querySelector('#sheet-tabs [data-sheet={sheet}]').click(); return null;"
    ))?;
    wait_for(session, &format!("document.body.dataset.sheet === {sheet:?}"), &format!("the {sheet} sheet"))
}

/// What a planner may have open at once.
fn open_everything(session: &Session) -> Result<(), String> {
    session.script(
        "const r = window.renewtwin, $ = (id) => document.getElementById(id); \
         for (let id = 0; id < r.elementCount; id++) if (r.screenPointOf(r.elementInfo(id).globalId)) { r.select(id); break; } \
         if ($('tree-panel').hidden) $('btn-tree').click(); \
         if ($('consult-panel').hidden) $('btn-consult').click(); \
         const set = (id, value, kind) => { const e = $(id); e.value = value; e.dispatchEvent(new Event(kind, { bubbles: true })); }; \
         set('search', r.elementInfo(0).globalId.slice(0, 2), 'input'); \
         set('colour-by', 'risk', 'change'); set('compare', 'before-after', 'change'); return null;",
    )?;
    wait_for(
        session,
        "!document.getElementById('info').hidden && !document.getElementById('search-results').hidden \
         && window.renewtwin.comparing === true && document.getElementById('legend-panel').dataset.layer === 'risk' \
         && !document.getElementById('compare-labels').hidden",
        "every panel to open",
    )
}

fn save_screen(session: &Session, shots: &Path, name: &str, (width, height): (u32, u32)) -> Result<(), String> {
    wait_frame(session)?;
    let shot = session.screenshot()?;
    if (shot.width, shot.height) != (width, height) {
        return Err(format!("the {name} screenshot is {}x{}, not {width}x{height}", shot.width, shot.height));
    }
    shot.save(&shots.join(format!("screen-{name}.png")))
}

/// Runs [`LAYOUT_JS`] and fails with every problem it found.
fn check_layout(session: &Session, (width, height): (u32, u32), state: &str) -> Result<(), String> {
    let report = session.script(LAYOUT_JS)?;
    let problems: Vec<&str> = report["problems"].as_array().map(|p| p.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    if report["panels"].as_u64().unwrap_or(0) < 2
        || report["controls"].as_u64().unwrap_or(0) < 2
        || report["chars"].as_u64().unwrap_or(0) < 20
    {
        return Err(format!("{width}x{height} {state}: too little on screen to check: {report}"));
    }
    if !problems.is_empty() {
        return Err(format!("{width}x{height} {state}:\n  {}", problems.join("\n  ")));
    }
    eprintln!(
        "screen {width}x{height} {state}: {} panels apart, {} controls reachable, {} distinct glyphs present",
        report["panels"], report["controls"], report["chars"]
    );
    Ok(())
}

/// Layout and glyph checks in the page: `{ problems, panels, controls, chars }`.
const LAYOUT_JS: &str = r#"
const W = innerWidth, H = innerHeight, EPS = 0.5;
const shown = (e) => e.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true });
const rect = (e) => { const r = e.getBoundingClientRect(); return { l: r.left, t: r.top, r: r.right, b: r.bottom }; };
const label = (e) => (e.id ? '#' + e.id : e.tagName.toLowerCase() + (e.dataset.sheet ? `[data-sheet=${e.dataset.sheet}]` : ''))
  + ` "${(e.textContent || e.getAttribute('aria-label') || '').trim().replace(/\s+/g, ' ').slice(0, 30)}"`;
const within = (a, b) => a.l >= b.l - EPS && a.t >= b.t - EPS && a.r <= b.r + EPS && a.b <= b.b + EPS;
const show = (r) => `[${r.l.toFixed(0)}, ${r.t.toFixed(0)}, ${r.r.toFixed(0)}, ${r.b.toFixed(0)}]`;
const screen = { l: 0, t: 0, r: W, b: H };
const problems = [];

// The ancestors that scroll (their content is larger than they are): what is scrolled out of
// them is reachable by scrolling them, and only the part they show can cover anything.
const scrollers = (e) => {
  const out = [];
  for (let p = e.parentElement; p && p !== document.body; p = p.parentElement) {
    const s = getComputedStyle(p);
    if (/auto|scroll|hidden/.test(s.overflowX + s.overflowY) && (p.scrollHeight > p.clientHeight + 1 || p.scrollWidth > p.clientWidth + 1)) out.push(p);
  }
  return out;
};
const clipped = (e) => scrollers(e).map(rect).reduce((a, c) => ({ l: Math.max(a.l, c.l), t: Math.max(a.t, c.t), r: Math.min(a.r, c.r), b: Math.min(a.b, c.b) }), rect(e));

const panels = [...document.querySelectorAll('.panel, #compare-labels > span')]
  .filter((e) => shown(e) && e.getBoundingClientRect().width > 0 && e.getBoundingClientRect().height > 0);
for (const p of panels) {
  if (!within(clipped(p), screen)) problems.push(`panel ${label(p)} at ${show(clipped(p))} leaves the ${W}x${H} screen`);
  // Text cut off at the side: a panel that scrolls sideways.
  if (p.scrollWidth > p.clientWidth + 1) problems.push(`panel ${label(p)} is ${p.scrollWidth - p.clientWidth} px too narrow for its content`);
}
for (let i = 0; i < panels.length; i++) for (let j = i + 1; j < panels.length; j++) {
  const a = clipped(panels[i]), b = clipped(panels[j]);
  const w = Math.min(a.r, b.r) - Math.max(a.l, b.l), h = Math.min(a.b, b.b) - Math.max(a.t, b.t);
  if (w > 1 && h > 1) problems.push(`panels ${label(panels[i])} ${show(a)} and ${label(panels[j])} ${show(b)} overlap`);
}

const controls = [...document.querySelectorAll('button, select, input, textarea, a[href], summary, [tabindex]')]
  .filter((e) => e.id !== 'viewer' && e.tabIndex >= 0 && !e.disabled && shown(e));
for (const c of controls) {
  const r = rect(c), clips = scrollers(c);
  const away = clips.find((clip) => !within(rect(clip), screen));
  if (away) { problems.push(`${label(c)} scrolls in ${label(away)}, which leaves the screen`); continue; }
  if (clips.some((clip) => !within(r, rect(clip)))) continue;
  if (!within(r, screen)) { problems.push(`control ${label(c)} at ${show(r)} is outside the ${W}x${H} screen`); continue; }
  const x = (r.l + r.r) / 2, y = (r.t + r.b) / 2, hit = document.elementFromPoint(x, y);
  if (!hit || !(hit === c || c.contains(hit))) problems.push(`control ${label(c)} is covered by ${hit ? label(hit) : 'nothing'} at (${x.toFixed(0)}, ${y.toFixed(0)})`);
}

// Glyphs: every character drawn in its element's font must differ from a missing glyph.
const canvas = document.createElement('canvas'); canvas.width = 64; canvas.height = 48;
const ctx = canvas.getContext('2d', { willReadFrequently: true });
const draw = (font, text) => {
  ctx.clearRect(0, 0, 64, 48); ctx.font = font; ctx.fillStyle = '#000'; ctx.textBaseline = 'middle'; ctx.fillText(text, 8, 24);
  return ctx.getImageData(0, 0, 64, 48).data;
};
const same = (a, b) => { for (let i = 3; i < a.length; i += 4) if (a[i] !== b[i]) return false; return true; };
const boxes = new Map();
const missing = (font, ch) => {
  if (!boxes.has(font)) boxes.set(font, draw(font, String.fromCodePoint(0x10FFFD)));
  return same(draw(font, ch), boxes.get(font));
};
const fontOf = (e) => { const s = getComputedStyle(e); return `${s.fontStyle} ${s.fontWeight} 32px ${s.fontFamily}`; };
const texts = [];
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
for (let n; (n = walker.nextNode());) {
  const p = n.parentElement;
  if (p && n.textContent.trim() && !p.closest('script, style, noscript, select, title') && shown(p)) texts.push([n.textContent, p]);
}
for (const s of document.querySelectorAll('select')) if (shown(s)) for (const o of s.options) texts.push([o.text, s]);
for (const i of document.querySelectorAll('input, textarea')) if (shown(i)) {
  if (i.placeholder) texts.push([i.placeholder, i]);
  if (!['range', 'checkbox', 'radio', 'file', 'password'].includes(i.type) && i.value) texts.push([i.value, i]);
}
for (const e of document.querySelectorAll('body *')) if (shown(e)) for (const pseudo of ['::before', '::after']) {
  const c = getComputedStyle(e, pseudo).content;
  if (/^".+"$/.test(c)) texts.push([JSON.parse(c), e]);
}
const checked = new Set(), chars = new Set();
for (const [text, e] of texts) {
  const font = fontOf(e);
  if (!boxes.has(font)) {
    if (!missing(font, String.fromCodePoint(0x10FFFC)) || missing(font, 'A') || missing(font, '中')) {
      problems.push(`the glyph check does not work in the font ${font}`);
    }
  }
  for (const ch of text) {
    if (/\s/.test(ch) || /[\u200b-\u200f\ufe00-\ufe0f]/.test(ch) || checked.has(font + ch)) continue;
    checked.add(font + ch);
    chars.add(ch);
    if (missing(font, ch)) {
      problems.push(`"${ch}" (U+${ch.codePointAt(0).toString(16).toUpperCase().padStart(4, '0')}) in ${label(e)} has no glyph in ${font}`);
    }
  }
}
return { problems, panels: panels.length, controls: controls.length, chars: chars.size };
"#;
