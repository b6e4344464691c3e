//! Public consultation end to end in the browser (WebGL2 on SwiftShader): a resident signs up
//! with a household invitation in the consultation panel, clicks an element in the 3D view and
//! comments on it; the comment appears in the panel and, live over `/ws`, in a second viewer
//! that shows the same element, without the author's name. The comment carries `<script>` and
//! `<img onerror>`: both are shown as text and never run. A comment on the current viewpoint
//! flies the second viewer's camera to it, and a reply shows under its comment. Then the
//! resident votes (the tally moves in both viewers) and rates the project, reports a problem
//! with a photo at the element and sees it in "my reports", and the indicators and
//! announcements panels show the server's figures; the English switch relabels the panel.
//! Screenshots go to `target/browser-screenshots/consultation*.png` and are checked for a
//! drawn district and a visible panel, on a desktop window and on a phone-sized one.

use std::path::Path;
use std::time::Instant;

use serde_json::{Value, json};

use super::{COMMON_FLAGS, Driver, Screenshot, Server, Session, WEBGL2_FLAGS, tempdir, wait_ready};

/// Text that would run script if it were inserted as HTML.
const HOSTILE: &str = "<img src=x onerror=\"window.__xss=1\"><script>window.__xss=2</script> 电梯井挡住厨房窗户";
/// The resident's display name: internal, so the public viewer must never show it.
const RESIDENT_NAME: &str = "王芳 Wang Fang";
/// Share of screenshot pixels that must differ from the background.
const MIN_COVERAGE: f64 = 0.15;

#[test]
fn a_resident_signs_up_comments_on_a_picked_element_votes_and_reports_and_a_second_viewer_sees_it_live() {
    let Some(_one_browser) = super::browser_for("consultation browser test") else { return };
    let shots = super::screenshot_dir();
    std::fs::create_dir_all(&shots).expect("create target/browser-screenshots");
    let server = Server::start();
    let result = run(&server.url, &shots);
    if let Err(e) = result {
        panic!("consultation in the browser: {e}");
    }
}

fn open_session(driver: &Driver, name: &str) -> Result<(Session, std::path::PathBuf), String> {
    let profile = tempdir(&format!("chromium-consultation-{name}"));
    let mut args: Vec<String> = COMMON_FLAGS.iter().chain(WEBGL2_FLAGS).map(|s| (*s).to_owned()).collect();
    args.push(format!("--user-data-dir={}", profile.display()));
    Ok((driver.new_session(&args)?, profile))
}

fn run(url: &str, shots: &Path) -> Result<(), String> {
    let driver = Driver::start()?;
    let (resident, resident_profile) = open_session(&driver, "resident")?;
    let (public, public_profile) = open_session(&driver, "public")?;
    let result = (|| {
        resident.navigate(url)?;
        wait_ready(&resident)?;
        wait_for(&resident, "document.getElementById('consult-panel').dataset.ready === 'true'", "the consultation panel")?;
        let setup = set_up_the_consultation(&resident)?;

        sign_up(&resident, &setup)?;
        let global_id = pick_an_element(&resident)?;

        public.navigate(&format!("{url}?consult=open"))?;
        wait_ready(&public)?;
        wait_for(&public, "document.getElementById('consult-panel').dataset.ready === 'true'", "the second viewer's panel")?;
        public.script(&format!("window.renewtwin.select(window.renewtwin.elementIdOf({global_id:?})); return null;"))?;
        wait_for(&public, &format!("document.getElementById('consult-picked').textContent.includes({global_id:?})"), "the second viewer to pick the element")?;

        comment(&resident, &public)?;
        vote(&resident, &public, &setup)?;
        report(&resident)?;
        indicators_and_news(&resident, &setup)?;
        language_switch(&resident)?;
        screenshots(&resident, shots)
    })();
    resident.close();
    public.close();
    drop(driver);
    for profile in [resident_profile, public_profile] {
        // Scratch profiles; a leftover directory in /tmp harms nothing.
        let _removed = std::fs::remove_dir_all(profile);
    }
    result
}

/// Polls `condition` (a JS expression) until it holds, saying what `#consult-status` shows if not.
fn wait_for(session: &Session, condition: &str, what: &str) -> Result<(), String> {
    crate::features::wait_showing(session, condition, what, Some("consult-status"))
}

fn click(session: &Session, selector: &str) -> Result<(), String> {
    let found = session.script(&format!("const e = document.querySelector({selector:?}); if (!e) return false; e.click(); return true;"))?;
    if found != json!(true) {
        return Err(format!("nothing matches {selector}"));
    }
    Ok(())
}

fn set_value(session: &Session, id: &str, value: &str) -> Result<(), String> {
    let found = session.script(&format!(
        "const e = document.getElementById({id:?}); if (!e) return false; e.value = {value:?}; \
         e.dispatchEvent(new Event('input', {{ bubbles: true }})); return true;"
    ))?;
    if found != json!(true) {
        return Err(format!("no #{id}"));
    }
    Ok(())
}

/// What the government set up before the resident arrives.
struct Setup {
    code: String,
    question: i64,
    policy: String,
}

/// The government (bootstrapped from this machine) invites a household, opens a consultation
/// and publishes a policy, through the same API as any client.
fn set_up_the_consultation(session: &Session) -> Result<Setup, String> {
    let answer = session.script_async(
        "const done = arguments[arguments.length - 1]; \
         const post = async (path, body, token) => { \
           const headers = { 'content-type': 'application/json' }; if (token) headers.authorization = 'Bearer ' + token; \
           const r = await fetch(path, { method: 'POST', headers, body: JSON.stringify(body) }); const j = await r.json(); \
           if (!r.ok) throw new Error(path + ': ' + JSON.stringify(j)); return j; }; \
         (async () => { \
           const gov = await post('/api/auth/bootstrap', { username: 'gov', password: 'district office 1', display_name: '街道办' }); \
           const inv = await post('/api/invitations', { role: 'resident', household: 'B1-1-101', building: 'B1' }, gov.token); \
           const c = await post('/api/consultations', { project: 'lifts', title: '加装电梯 Lift installation', description: '是否同意加装电梯 Do you agree to the lifts?', \
             questions: [{ text: '是否同意？ Do you agree?' }], tally: { every: 1 } }, gov.token); \
           const p = await post('/api/announcements', { kind: 'policy', title: '加装电梯补贴办法 Lift subsidy rules', body: '每户补贴 Subsidy per household' }, gov.token); \
           return { code: inv.code, question: c.questions[0].id, policy: p.title }; \
         })().then(done, (e) => done({ error: String(e) }));",
    )?;
    if let Some(error) = answer["error"].as_str() {
        return Err(format!("setting up the consultation: {error}"));
    }
    Ok(Setup {
        code: answer["code"].as_str().unwrap_or_default().to_owned(),
        question: answer["question"].as_i64().unwrap_or(-1),
        policy: answer["policy"].as_str().unwrap_or_default().to_owned(),
    })
}

fn sign_up(session: &Session, setup: &Setup) -> Result<(), String> {
    click(session, "#btn-consult")?;
    wait_for(session, "!document.getElementById('consult-panel').hidden", "the panel to open")?;
    click(session, "#consult-tab-account")?;
    set_value(session, "consult-invitation", &setup.code)?;
    set_value(session, "consult-su-username", "wangfang")?;
    set_value(session, "consult-su-password", "a long passphrase")?;
    set_value(session, "consult-su-name", RESIDENT_NAME)?;
    session.script("document.getElementById('consult-signup-form').requestSubmit(); return null;")?;
    wait_for(session, &format!("document.getElementById('consult-me').textContent.includes({RESIDENT_NAME:?})"), "the resident to be signed in")?;
    // Signing in reconnects the live stream with the token.
    wait_for(session, "document.getElementById('consult-panel').dataset.live === 'open'", "the signed-in live stream")
}

/// Clicks an element that the canvas shows unobstructed by any panel; returns its GlobalId.
fn pick_an_element(session: &Session) -> Result<String, String> {
    let target = session.script(
        "const r = window.renewtwin, canvas = document.getElementById('viewer'); \
         for (let id = 0; id < r.elementCount; id++) { \
           const info = r.elementInfo(id); const p = r.screenPointOf(info.globalId); if (!p) continue; \
           if (document.elementFromPoint(p[0], p[1]) !== canvas || r.pick(p[0], p[1]) !== id) continue; \
           return { x: Math.floor(p[0]), y: Math.floor(p[1]), globalId: info.globalId }; } \
         return null;",
    )?;
    if target.is_null() {
        return Err("no element is visible outside the panels".into());
    }
    let (x, y) = (target["x"].as_i64().unwrap_or(0), target["y"].as_i64().unwrap_or(0));
    let global_id = target["globalId"].as_str().unwrap_or_default().to_owned();
    let tap = json!({ "actions": [{
        "type": "pointer", "id": "mouse", "parameters": { "pointerType": "mouse" },
        "actions": [
            { "type": "pointerMove", "duration": 0, "origin": "viewport", "x": x, "y": y },
            { "type": "pointerDown", "button": 0 },
            { "type": "pointerUp", "button": 0 },
        ],
    }]});
    session.command("POST", "/actions", Some(&tap))?;
    wait_for(session, &format!("document.getElementById('consult-picked').textContent.includes({global_id:?})"), "the panel to show the picked element")
        .map_err(|e| {
            let seen = session.script("return { selected: window.renewtwin.selected, picked: document.getElementById('consult-picked').textContent };");
            format!("{e}; clicked {target}, the page has {seen:?}")
        })?;
    Ok(global_id)
}

/// The resident comments on the picked element; the hostile text stays text, and the public
/// viewer gets it live without the author's name.
fn comment(resident: &Session, public: &Session) -> Result<(), String> {
    click(resident, "#consult-tab-comments")?;
    set_value(resident, "consult-anchor", "element")?;
    set_value(resident, "consult-comment-text", HOSTILE)?;
    resident.script("document.getElementById('consult-comment-form').requestSubmit(); return null;")?;
    let shown_as_text = format!(
        "[...document.querySelectorAll('#consult-thread .comment-body')].some((p) => p.textContent === {HOSTILE:?} && p.childElementCount === 0)"
    );
    wait_for(resident, &shown_as_text, "the comment in the resident's thread")?;
    let started = Instant::now();
    wait_for(public, &shown_as_text, "the comment in the second viewer, live")?;
    eprintln!("consultation: the comment reached the second viewer's panel {:?} after the author saw it", started.elapsed());
    for (who, session) in [("resident", resident), ("public", public)] {
        let inert = session.script(
            "return { xss: window.__xss ?? null, images: document.querySelectorAll('#consult-panel img').length, \
             scripts: document.querySelectorAll('#consult-panel script').length };",
        )?;
        if inert != json!({ "xss": null, "images": 0, "scripts": 0 }) {
            return Err(format!("the hostile comment was not inert in the {who} viewer: {inert}"));
        }
    }
    let leaked = public.script(&format!("return document.getElementById('consult-panel').textContent.includes({RESIDENT_NAME:?});"))?;
    if leaked != json!(false) {
        return Err("the public viewer shows the resident's name".into());
    }
    // A comment on the current viewpoint: the other viewer can fly to what the commenter saw.
    resident.script("window.renewtwin.flyTo([60, -60, 40], [50, 10, 0], false); return null;")?;
    wait_for(resident, "!window.renewtwin.camera().flying", "the resident's camera to settle")?;
    set_value(resident, "consult-anchor", "view")?;
    set_value(resident, "consult-comment-text", "从这里看 Seen from here")?;
    resident.script("document.getElementById('consult-comment-form').requestSubmit(); return null;")?;
    let button = "[...document.querySelectorAll('#consult-latest .comment')].find((li) => li.textContent.includes('Seen from here'))?.querySelector('button')";
    wait_for(public, button, "the viewpoint comment with its button in the second viewer")?;
    public.script(&format!("{button}.click(); return null;"))?;
    wait_for(
        public,
        "(() => { const c = window.renewtwin.camera(); return !c.flying && Math.hypot(c.eye[0] - 60, c.eye[1] + 60, c.eye[2] - 40) < 0.5; })()",
        "the second viewer's camera at the commenter's viewpoint",
    )?;
    // A reply in the thread, shown under its comment.
    resident.script(
        "const input = document.querySelector('#consult-thread .reply-input'); input.value = '同意 Agreed'; \
         input.form.requestSubmit(); return null;",
    )?;
    wait_for(public, "[...document.querySelectorAll('#consult-thread .replies .comment-body')].some((p) => p.textContent === '同意 Agreed')", "the reply in the second viewer")
}

/// The resident votes; both viewers' tallies move.
fn vote(resident: &Session, public: &Session, setup: &Setup) -> Result<(), String> {
    let q = setup.question;
    click(resident, "#consult-tab-votes")?;
    click(public, "#consult-tab-votes")?;
    wait_for(resident, &format!("document.querySelector('[data-question=\"{q}\"] [data-alternative=\"1\"] .vote-button')"), "the question's vote buttons")?;
    click(resident, &format!("[data-question=\"{q}\"] [data-alternative=\"1\"] .vote-button"))?;
    let counted = format!("(document.querySelector('[data-question=\"{q}\"] [data-alternative=\"1\"] .tally-label') || {{}}).textContent?.startsWith('反对 oppose: 1 ')");
    wait_for(resident, &counted, "the resident's tally")?;
    wait_for(resident, &format!("document.querySelector('[data-question=\"{q}\"] [data-alternative=\"1\"] .vote-button').getAttribute('aria-pressed') === 'true'"), "the ballot marked as mine")?;
    wait_for(public, &counted, "the second viewer's tally, live")?;
    // The household rates the project: the satisfaction indicator counts it.
    resident.script(
        "document.getElementById('consult-status').textContent = ''; \
         const s = document.querySelector('.rating-form select'); s.value = '4'; s.form.requestSubmit(); return null;",
    )?;
    wait_for(resident, "document.getElementById('consult-status').textContent === '已提交。'", "the rating to be saved")
}

/// The resident reports a problem at the picked element and follows its state.
fn report(resident: &Session) -> Result<(), String> {
    click(resident, "#consult-tab-reports")?;
    resident.script("document.getElementById('consult-category').value = 'leak'; return null;")?;
    set_value(resident, "consult-report-text", "楼梯间屋顶漏水 The stair roof leaks")?;
    let photo = attach_photo(resident)?;
    resident.script("document.getElementById('consult-report-form').requestSubmit(); return null;")?;
    wait_for(
        resident,
        "[...document.querySelectorAll('#consult-my-reports li[data-status=\"open\"]')].some((li) => li.textContent.includes('The stair roof leaks') && li.textContent.includes('附照片'))",
        "the report with its photo in my reports",
    )?;
    // Scratch; a leftover file in /tmp harms nothing.
    let _removed = std::fs::remove_file(photo);
    Ok(())
}

/// Chooses a small PNG in the report's file input, as a user picking a photo would.
fn attach_photo(session: &Session) -> Result<std::path::PathBuf, String> {
    let path = std::env::temp_dir().join(format!("renewtwin-consultation-photo-{}.png", std::process::id()));
    let mut png = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut png, 4, 4);
        encoder.set_color(png::ColorType::Rgb);
        let mut writer = encoder.write_header().map_err(|e| format!("png: {e}"))?;
        writer.write_image_data(&[200u8; 4 * 4 * 3]).map_err(|e| format!("png: {e}"))?;
    }
    std::fs::write(&path, &png).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let found = session.command("POST", "/element", Some(&json!({ "using": "css selector", "value": "#consult-photo" })))?;
    let element = found.as_object().and_then(|o| o.values().next()).and_then(Value::as_str).ok_or_else(|| format!("no file input: {found}"))?.to_owned();
    session.command("POST", &format!("/element/{element}/value"), Some(&json!({ "text": path.display().to_string() })))?;
    wait_for(session, "document.getElementById('consult-photo').files.length === 1", "the photo to be chosen")?;
    Ok(path)
}

fn indicators_and_news(resident: &Session, setup: &Setup) -> Result<(), String> {
    click(resident, "#consult-tab-indicators")?;
    wait_for(
        resident,
        "[...document.querySelectorAll('#consult-ind-participation tbody tr')].some((tr) => tr.cells[0].textContent === 'B1' && tr.cells[2].textContent === '1')",
        "building B1's participation",
    )?;
    wait_for(
        resident,
        "[...document.querySelectorAll('#consult-ind-satisfaction tbody tr')].some((tr) => tr.cells[0].textContent === 'lifts' && tr.cells[1].textContent === '1' && tr.cells[2].textContent === '4')",
        "the project's satisfaction",
    )?;
    let csv = resident.script_async(
        "const done = arguments[arguments.length - 1]; \
         fetch(document.getElementById('consult-csv').href).then((r) => r.text()).then(done, (e) => done('error: ' + e));",
    )?;
    let csv = csv.as_str().unwrap_or_default();
    if !csv.starts_with("indicator,scope,value") || !csv.contains("participation_rate,building:B1") {
        return Err(format!("the CSV link does not give the indicators: {csv:.200}"));
    }
    click(resident, "#consult-tab-news")?;
    wait_for(resident, "document.querySelector('#consult-news-list [data-kind=\"policy\"]')", "the policy")?;
    let shown = resident.script("return document.getElementById('consult-news-list').textContent;")?;
    if !shown.as_str().unwrap_or_default().contains(&setup.policy) {
        return Err(format!("the policy is not listed: {shown}"));
    }
    Ok(())
}

/// zh-CN first; the English switch relabels the panel and keeps what it shows.
fn language_switch(session: &Session) -> Result<(), String> {
    let tab = || session.script("return document.getElementById('consult-tab-comments').textContent;");
    if tab()? != json!("评论") {
        return Err(format!("the panel does not start in Chinese: {}", tab()?));
    }
    click(session, "#consult-lang")?;
    wait_for(session, "document.getElementById('consult-tab-comments').textContent === 'Comments'", "the English labels")?;
    wait_for(session, "document.getElementById('consult-panel').lang === 'en' && document.getElementById('consult-news-list')", "the panel in English with its content")?;
    click(session, "#consult-lang")?;
    wait_for(session, "document.getElementById('consult-tab-comments').textContent === '评论'", "the Chinese labels again")
}

/// The district is drawn and the panel is visible: a dark panel with light text where the page
/// says it is, on a desktop window and on a phone-sized one.
fn screenshots(resident: &Session, shots: &Path) -> Result<(), String> {
    click(resident, "#consult-tab-comments")?;
    check_screenshot(resident, &shots.join("consultation.png"))?;
    resident.command("POST", "/window/rect", Some(&json!({ "width": 390, "height": 844 })))?;
    wait_for(resident, "innerWidth <= 600", "the phone-sized window")?;
    let fits = resident.script("const r = document.getElementById('consult-panel').getBoundingClientRect(); return r.left >= 0 && r.right <= innerWidth && r.bottom <= innerHeight;")?;
    if fits != json!(true) {
        return Err("the panel does not fit a phone-sized window".into());
    }
    check_screenshot(resident, &shots.join("consultation-phone.png"))?;
    resident.command("POST", "/window/rect", Some(&json!({ "width": 1280, "height": 800 })))?;
    Ok(())
}

fn check_screenshot(session: &Session, path: &Path) -> Result<(), String> {
    // Two frames, so the canvas shows the current size.
    let frames = session.script("window.renewtwin.forceFrames(2); return window.renewtwin.frames;")?.as_f64().unwrap_or(0.0);
    wait_for(session, &format!("window.renewtwin.frames > {frames}"), "a fresh frame")?;
    let layout: Value = session.script(
        "const r = document.getElementById('consult-panel').getBoundingClientRect(); \
         return { panel: [r.left, r.top, r.right, r.bottom], width: innerWidth, background: window.renewtwin.background };",
    )?;
    let shot = session.screenshot()?;
    shot.save(path)?;
    let background = super::rgb_of(&layout["background"])?;
    let coverage = shot.share_differing_from(background, 12);
    if coverage < MIN_COVERAGE {
        return Err(format!("{}: only {:.1}% of pixels differ from the background", path.display(), coverage * 100.0));
    }
    let scale = f64::from(shot.width) / layout["width"].as_f64().unwrap_or(1.0);
    let edge = |i: usize| (layout["panel"][i].as_f64().unwrap_or(0.0) * scale).max(0.0) as u32;
    let (dark, light) = panel_pixels(&shot, [edge(0), edge(1), edge(2), edge(3)]);
    eprintln!("{}: {:.1}% drawn; panel {:.0}% dark, {:.1}% light", path.display(), coverage * 100.0, dark * 100.0, light * 100.0);
    if dark < 0.5 || light < 0.005 {
        return Err(format!("{}: the panel is not visible ({:.0}% dark, {:.1}% light pixels)", path.display(), dark * 100.0, light * 100.0));
    }
    Ok(())
}

/// Shares of dark (panel background) and light (text) pixels in `[left, top, right, bottom]`.
fn panel_pixels(shot: &Screenshot, [left, top, right, bottom]: [u32; 4]) -> (f64, f64) {
    let (mut dark, mut light, mut all) = (0usize, 0usize, 0usize);
    for y in top..bottom.min(shot.height) {
        for x in left..right.min(shot.width) {
            let p = shot.pixel(x, y);
            all += 1;
            if p.iter().all(|&c| c < 90) {
                dark += 1;
            }
            if p.iter().all(|&c| c > 170) {
                light += 1;
            }
        }
    }
    let all = all.max(1) as f64;
    (dark as f64 / all, light as f64 / all)
}
