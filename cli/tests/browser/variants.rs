//! Design variants in the browser (WebGL2): the planner compares the base plan's design with
//! the `south-lifts` scenario's (its generated south-side lift shafts in, the district's north
//! ones out) side by side, each side labelled; the states on each side and the drawn picture
//! change with the designs chosen; and a consultation's choice question compares exactly the
//! designs it offers.

use serde_json::{Value, json};

use super::{Server, Session, Screenshot};
use crate::features::{wait_for, wait_frame};

#[test]
fn the_planner_compares_design_variants_side_by_side_and_a_ballot_compares_exactly_its_alternatives() {
    let Some(_one_browser) = super::browser_for("design variants browser test") else { return };
    let server = Server::start();
    let shots = super::screenshot_dir();
    std::fs::create_dir_all(&shots).expect("create the screenshot folder");
    if let Err(e) = super::in_webgl2_page("chromium-variants", &server.url, |session| run(session, &shots)) {
        panic!("design variants in the browser: {e}");
    }
}

fn set(session: &Session, id: &str, value: &str) -> Result<(), String> {
    session.script(&format!(
        "const e = document.getElementById({id:?}); e.value = {value:?}; e.dispatchEvent(new Event('change', {{ bubbles: true }})); return null;"
    ))?;
    Ok(())
}

/// Shares of pixels of the left and right halves that differ between two screenshots.
fn halves_changed(a: &Screenshot, b: &Screenshot) -> (f64, f64) {
    let mut counts = [0usize; 2];
    for (i, (p, q)) in a.rgb.chunks_exact(3).zip(b.rgb.chunks_exact(3)).enumerate() {
        if (0..3).any(|c| p[c].abs_diff(q[c]) > 24) {
            counts[usize::from((i as u32 % a.width) >= a.width / 2)] += 1;
        }
    }
    let half = (a.rgb.len() / 6).max(1) as f64;
    (counts[0] as f64 / half, counts[1] as f64 / half)
}

fn run(session: &Session, shots: &std::path::Path) -> Result<(), String> {
    wait_for(session, "document.getElementById('compare-a').options.length >= 3", "the designs to choose from")?;
    // Pause the shared clock (this page is the operator, on the server's own machine): the live
    // day recolours elements and resizes the date panel on both halves between the pictures.
    session.script(
        "window.__paused = false; fetch('/api/clock', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '\"pause\"' }).then(r => { window.__paused = r.status === 202; }); return null;",
    )?;
    wait_for(session, "window.__paused === true", "the shared clock paused")?;
    let offered = session.script("return document.getElementById('compare-designs').dataset.offered;")?;
    if offered != json!("existing|base|south-lifts") {
        return Err(format!("the designs offered are {offered}, expected existing, the base plan and the south-lifts variant"));
    }
    // The shafts of each design: the district's (north) and the variant's (south), by name.
    let lifts = session.script(
        "const r = window.renewtwin, north = [], south = []; \
         for (let id = 0; id < r.elementCount; id++) { const i = r.elementInfo(id); \
           if (!i || i.class !== 'IfcTransportElement') continue; (/south variant/.test(i.name || '') ? south : north).push(id); } \
         return { north, south };",
    )?;
    let (north, south) = (lifts["north"].as_array().cloned().unwrap_or_default(), lifts["south"].as_array().cloned().unwrap_or_default());
    if north.is_empty() || north.len() != south.len() {
        return Err(format!("expected as many south variant shafts as north ones: {lifts}"));
    }
    let (n0, s0) = (north[0].as_i64().unwrap_or(-1), south[0].as_i64().unwrap_or(-1));

    session.script("window.renewtwin.flyTo([38, -40, 22], [22, 4, 6], false); return null;")?;
    set(session, "compare", "designs")?;
    set(session, "compare-layout", "side")?;
    set(session, "compare-a", "base")?;
    set(session, "compare-b", "south-lifts")?;
    wait_for(session, "document.getElementById('compare-labels').dataset.designs === 'base|south-lifts' && window.renewtwin.comparing === true", "the base plan beside the variant")?;
    let labels = session.script("return [document.getElementById('compare-left').textContent, document.getElementById('compare-right').textContent, document.getElementById('compare-labels').hidden];")?;
    if labels != json!(["基准方案 Base plan", "南侧加装电梯方案 Design variant: lift shafts on the south facade", false]) {
        return Err(format!("the sides are labelled {labels}"));
    }
    let states = session.script(&format!(
        "const r = window.renewtwin; return [r.elementState({n0}, 0), r.elementState({n0}, 1), r.elementState({s0}, 0), r.elementState({s0}, 1)];"
    ))?;
    if states != json!(["built", "absent", "absent", "built"]) {
        return Err(format!("north shaft {n0} and south shaft {s0} on the two sides: {states}, expected built|absent, absent|built"));
    }
    wait_frame(session)?;
    let variant = session.screenshot()?;
    variant.save(&shots.join("webgl2-variants-side.png"))?;

    // The same design on both sides: the right half changes (the south shafts go, the north
    // ones come), the left half does not.
    set(session, "compare-b", "base")?;
    wait_for(session, "document.getElementById('compare-labels').dataset.designs === 'base|base'", "the base plan on both sides")?;
    wait_for(session, &format!("window.renewtwin.elementState({s0}, 1) === 'absent'"), "the right side to show the base design")?;
    wait_frame(session)?;
    let same = session.screenshot()?;
    let (left, right) = halves_changed(&variant, &same);
    eprintln!("design variants: {:.2}% of the left half and {:.2}% of the right half changed", left * 100.0, right * 100.0);
    if right < 0.002 || left > right / 4.0 {
        return Err(format!("switching the right side from the variant to the base design changed {:.2}% of the right half and {:.2}% of the left", right * 100.0, left * 100.0));
    }

    // Swipe between the existing district and the variant, from the keyboard: the select takes
    // focus and arrow keys change the design.
    set(session, "compare-layout", "swipe")?;
    set(session, "compare-a", "existing")?;
    wait_for(session, "document.getElementById('compare-left').textContent === '现状 Existing'", "the existing district on the left")?;
    let focused = session.script("const b = document.getElementById('compare-b'); b.focus(); return document.activeElement === b;")?;
    if focused != json!(true) {
        return Err("the right side's design chooser takes no keyboard focus".into());
    }
    let element = session.command("POST", "/element", Some(&json!({ "using": "css selector", "value": "#compare-b" })))?;
    let key = element.as_object().and_then(|o| o.values().next()).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
    // ArrowDown moves a focused closed <select> to the next option (south-lifts after base).
    session.command("POST", &format!("/element/{key}/value"), Some(&json!({ "text": "\u{E015}" })))?;
    wait_for(session, "document.getElementById('compare-labels').dataset.designs === 'existing|south-lifts'", "the keyboard to pick the variant")?;
    wait_frame(session)?;
    session.screenshot()?.save(&shots.join("webgl2-variants-swipe.png"))?;

    // A consultation offering the base plan and the variant as alternatives: its ballot's
    // button compares exactly those two, side by side. (It reaches the page over the live
    // stream.)
    wait_for(session, "document.getElementById('consult-panel').dataset.live === 'open'", "the consultation panel's live stream")?;
    let answer = session.script_async(
        "const done = arguments[arguments.length - 1]; \
         const post = async (path, body, token) => { \
           const headers = { 'content-type': 'application/json' }; if (token) headers.authorization = 'Bearer ' + token; \
           const r = await fetch(path, { method: 'POST', headers, body: JSON.stringify(body) }); const j = await r.json(); \
           if (!r.ok) throw new Error(path + ': ' + JSON.stringify(j)); return j; }; \
         (async () => { \
           const gov = await post('/api/auth/bootstrap', { username: 'gov', password: 'district office 1', display_name: '街道办' }); \
           const c = await post('/api/consultations', { project: 'facade', title: '设计方案选择 Choose a design', description: '北侧或南侧加装电梯 North or south lifts', \
             questions: [{ kind: 'choice', text: '选哪个方案？ Which design?', alternatives: ['base', 'south-lifts'] }], tally: { every: 1 } }, gov.token); \
           return { question: c.questions[0].id }; \
         })().then(done, (e) => done({ error: String(e) }));",
    )?;
    if let Some(error) = answer["error"].as_str() {
        return Err(format!("opening the choice consultation: {error}"));
    }
    let q = answer["question"].as_i64().unwrap_or(-1);
    session.script("document.getElementById('btn-consult').click(); return null;")?;
    wait_for(session, "document.getElementById('consult-tab-votes')", "the consultation panel")?;
    session.script("document.getElementById('consult-tab-votes').click(); return null;")?;
    let button = format!("document.querySelector('[data-question=\"{q}\"] .compare-designs-button')");
    wait_for(session, &button, "the ballot's compare button")?;
    // Each alternative by its design's name (the tally follows the name and a colon).
    let ballot = session.script(&format!(
        "return [...document.querySelectorAll('[data-question=\"{q}\"] .tally-label')].map((l) => l.textContent); "
    ))?;
    let names = ["基准方案: ", "南侧加装电梯方案 Design variant: lift shafts on the south facade: "];
    let labels: Vec<&str> = ballot.as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    if labels.len() != 2 || !labels.iter().zip(names).all(|(l, n)| l.starts_with(n)) {
        return Err(format!("the ballot names the alternatives {ballot}"));
    }
    session.script(&format!("{button}.click(); return null;"))?;
    wait_for(
        session,
        "document.getElementById('compare-designs').dataset.offered === 'base|south-lifts' \
         && document.getElementById('compare-labels').dataset.designs === 'base|south-lifts' \
         && document.getElementById('compare-layout').value === 'side'",
        "the comparison of exactly the ballot's alternatives",
    )?;
    let options = session.script("return [...document.getElementById('compare-a').options].map((o) => o.value);")?;
    if options != json!(["base", "south-lifts"]) {
        return Err(format!("the ballot's comparison offers {options}"));
    }
    wait_frame(session)?;
    session.screenshot()?.save(&shots.join("webgl2-variants-ballot.png"))?;
    // Leaving the comparison offers every design again.
    set(session, "compare", "off")?;
    wait_for(session, "document.getElementById('compare-designs').dataset.offered === 'existing|base|south-lifts' && window.renewtwin.comparing === false", "every design offered again")
}
