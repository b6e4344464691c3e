//! Governance in the browser: the housing bureau signs in and its inbox in the governance
//! panel lists its two lift approvals with their statuses and the lead times; a contractor
//! records progress through the panel's form (with a delay reason carrying HTML, shown as text
//! and never run); the progress tab draws the planned and actual bars with "today" and the
//! simulated date marked apart; the audit tab shows the intact chain and the new record.
//! The main timeline's schedule: every planned task as a bar, the recorded progress as an
//! actual bar, today apart from the simulated date, and an approval past its time limit
//! flagged overdue (a scene whose fire review was never decided); the shared clock's buttons
//! send the signed-in account's credential (Authorization: Bearer).

use serde_json::{Value, json};

use super::{Server, Session, tempdir};

const HOSTILE: &str = "<img src=x onerror=\"window.__xss=1\">脚手架晚到 scaffold late";

#[test]
fn an_authority_sees_its_inbox_and_a_contractor_records_progress_in_the_governance_panel() {
    let Some(_one_browser) = super::browser_for("governance browser test") else { return };
    let server = Server::start();
    if let Err(e) = run(&server.url) {
        panic!("governance in the browser: {e}");
    }
}

/// Polls `condition` (a JS expression) until it holds, saying what `#gov-panel` shows if not.
fn wait_for(session: &Session, condition: &str, what: &str) -> Result<(), String> {
    crate::features::wait_showing(session, condition, what, Some("gov-panel"))
}

fn run(url: &str) -> Result<(), String> {
    super::in_webgl2_page("chromium-governance", url, |session| {
        // The government (bootstrapped from this machine) invites the housing bureau and a
        // contractor through the same API as any client.
        let tokens = session.script_async(
            "const done = arguments[arguments.length - 1]; \
             const post = async (path, body, token) => { \
               const headers = { 'content-type': 'application/json' }; if (token) headers.authorization = 'Bearer ' + token; \
               const r = await fetch(path, { method: 'POST', headers, body: JSON.stringify(body) }); const j = await r.json(); \
               if (!r.ok) throw new Error(path + ': ' + JSON.stringify(j)); return j; }; \
             (async () => { \
               const gov = (await post('/api/auth/bootstrap', { username: 'gov', password: 'district office 1', display_name: 'Li' })).token; \
               const sign = async (invitation, username) => { \
                 const code = (await post('/api/invitations', invitation, gov)).code; \
                 return (await post('/api/auth/signup', { invitation: code, username, password: 'long enough pw', display_name: username })).token; }; \
               const bureau = await sign({ role: 'authority', organisation: '住房和城乡建设局 Housing and construction bureau' }, 'housing'); \
               const builder = await sign({ role: 'professional', organisation: '城建集团', capacity: 'contractor' }, 'builder'); \
               done({ bureau, builder }); })().catch((e) => done({ error: String(e) }));",
        )?;
        if let Some(e) = tokens.get("error") {
            return Err(format!("setting up: {e}"));
        }
        let token = |k: &str| tokens[k].as_str().map(str::to_owned).ok_or_else(|| format!("no {k} token: {tokens}"));

        // The bureau's inbox.
        session.script(&format!("sessionStorage.setItem('renewtwin.token', {:?}); return null;", token("bureau")?))?;
        session.script("document.getElementById('btn-gov').click(); return null;")?;
        wait_for(session, "document.querySelectorAll('#gov-panel .gov-approval').length === 2", "the bureau's two approvals")?;
        let inbox: Value = session.script(
            "return [...document.querySelectorAll('#gov-panel .gov-approval')].map((li) => li.className + ' | ' + li.textContent);",
        )?;
        let lines: Vec<&str> = inbox.as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
        // The default scene records the fire review on 2026-07-03; the construction permit
        // (deemed by its jurisdiction) was deemed granted at its limit, day 155.
        if !(lines.len() == 2 && lines[0].contains("gov-granted") && lines[0].contains("消防设计审查") && lines[1].contains("gov-deemed_granted")) {
            return Err(format!("the inbox shows {inbox}"));
        }
        wait_for(session, "document.querySelector('#gov-panel .gov-lead') !== null", "the lead times")?;

        // A contractor records progress through the form.
        session.script(&format!("sessionStorage.setItem('renewtwin.token', {:?}); return null;", token("builder")?))?;
        session.script("document.querySelectorAll('#gov-panel [role=tab]')[1].click(); return null;")?;
        wait_for(session, "document.querySelector('#gov-panel .gov-record') !== null", "the progress form")?;
        session.script(&format!(
            "const f = document.querySelector('#gov-panel .gov-record'); \
             const set = (n, v) => {{ f.querySelector('[name=' + n + ']').value = v; }}; \
             set('project', 'lifts'); set('task', 'lift-shafts'); set('actual_start', '2026-11-01'); set('percent', '30'); \
             set('delay_reason', {HOSTILE:?}); f.requestSubmit(); return null;"
        ))?;
        wait_for(session, "document.querySelector('#gov-panel .sched-actual') !== null", "the actual bar")?;
        let chart = session.script(
            "return { planned: document.querySelectorAll('#gov-panel .sched-planned').length, \
                      today: document.querySelectorAll('#gov-panel .sched-today').length, \
                      sim: document.querySelectorAll('#gov-panel .sched-sim').length, \
                      dates: document.querySelector('#gov-panel .gov-dates').textContent, \
                      text: document.getElementById('gov-panel').textContent, \
                      xss: window.__xss === undefined };",
        )?;
        let text = chart["text"].as_str().unwrap_or_default();
        if chart["planned"] != json!(1) || chart["today"] != json!(1) || chart["sim"] != json!(1) || !text.contains(HOSTILE) || chart["xss"] != json!(true) {
            return Err(format!("the progress chart: {chart}"));
        }

        // The audit log: the chain is intact and holds the record.
        session.script("document.querySelectorAll('#gov-panel [role=tab]')[2].click(); return null;")?;
        wait_for(session, "document.querySelector('#gov-panel .gov-ok') !== null", "the chain check")?;
        wait_for(session, "document.getElementById('gov-panel').textContent.includes('progress_recorded')", "the progress record in the log")?;
        Ok(())
    })
}

/// The default scene without its recorded fire-review grant: the review waits past its time
/// limit (its jurisdiction deems nothing), so the approval is overdue today.
fn scene_with_an_undecided_fire_review() -> std::path::PathBuf {
    let default = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../scenes/default/scene.toml")).expect("the default scene");
    let grant = "[[events]]\ndate = \"2026-07-03\"\nkind = \"approval_granted\"\nproject = \"lifts\"\napproval = \"fire\"\n";
    assert!(default.contains(grant), "the default scene records the fire review's grant");
    let dir = tempdir("scene-overdue-fire");
    let path = dir.join("scene.toml");
    std::fs::write(&path, default.replace(grant, "")).expect("write the scene");
    path
}

#[test]
fn the_main_timeline_shows_planned_and_actual_bars_today_apart_and_an_overdue_approval() {
    let Some(_one_browser) = super::browser_for("timeline schedule browser test") else { return };
    let scene = scene_with_an_undecided_fire_review();
    let server = Server::start_scene(Some(&scene));
    if let Err(e) = timeline(&server.url) {
        panic!("the timeline's schedule in the browser: {e}");
    }
}

fn timeline(url: &str) -> Result<(), String> {
    super::in_webgl2_page("chromium-timeline-schedule", url, |session| {
        // Government signs in (bootstrap from this machine) and records the facade works as
        // started on 2026-09-10, 40 % done.
        let answer = session.script_async(
            "const done = arguments[arguments.length - 1]; \
             (async () => { \
               const post = async (path, body, token) => { \
                 const headers = { 'content-type': 'application/json' }; if (token) headers.authorization = 'Bearer ' + token; \
                 const r = await fetch(path, { method: 'POST', headers, body: JSON.stringify(body) }); const j = await r.json(); \
                 if (!r.ok) throw new Error(path + ': ' + JSON.stringify(j)); return j; }; \
               const gov = (await post('/api/auth/bootstrap', { username: 'gov', password: 'district office 1', display_name: 'Li' })).token; \
               await post('/api/progress', { project: 'facade', task: 'facade-walls', actual_start: '2026-09-10', percent: 40 }, gov); \
               sessionStorage.setItem('renewtwin.token', gov); window.__govToken = gov; \
               done({ ok: true }); })().catch((e) => done({ error: String(e) }));",
        )?;
        if let Some(e) = answer.get("error") {
            return Err(format!("setting up: {e}"));
        }
        // The shared clock's pause button carries the signed-in government's credential (the
        // page's fetch is wrapped to record what the button sends, then passes it on).
        session.script(
            "window.__clockSent = []; const real = window.fetch; \
             window.fetch = (path, init = {}) => { \
               if (String(path).endsWith('/api/clock')) { \
                 const h = new Headers(init.headers || {}); window.__clockSent.push({ auth: h.get('authorization'), body: init.body }); } \
               return real(path, init); }; \
             document.getElementById('clock-result').textContent = ''; \
             document.getElementById('clock-pause').click(); return null;",
        )?;
        crate::features::wait_showing(
            session,
            "document.getElementById('clock-result').textContent !== ''",
            "the shared clock's answer to the pause button",
            Some("timeline"),
        )?;
        let sent = session.script(
            "return { sent: window.__clockSent, expected: 'Bearer ' + window.__govToken, \
                      answer: document.getElementById('clock-result').textContent };",
        )?;
        if sent["sent"].as_array().map(Vec::len) != Some(1)
            || sent["sent"][0]["auth"] != sent["expected"]
            || sent["sent"][0]["body"] != json!("\"pause\"")
            || sent["answer"] != json!("✓")
        {
            return Err(format!("the pause button sends the government's credential and the server accepts it: {sent}"));
        }
        session.script("document.querySelector('#tl-schedule > summary').click(); return null;")?;
        crate::features::wait_showing(
            session,
            "document.getElementById('tl-schedule').dataset.ready === 'true' && document.querySelector('#tl-schedule .sched-approval') !== null",
            "the timeline's schedule with the approvals",
            Some("timeline"),
        )?;
        let chart = session.script(
            "const q = (s) => [...document.querySelectorAll('#tl-schedule-body ' + s)]; \
             const today = q('.sched-today'), sim = q('.sched-sim'); \
             return { tasks: q('.sched-task').length, planned: q('.sched-task .sched-planned').length, \
                      unscheduled: q('.sched-task .sched-unscheduled').length, \
                      actual: q('.sched-task .sched-actual').map((b) => b.closest('.sched-row').dataset.key), \
                      today: today.length, sim: sim.length, \
                      apart: today.length === 1 && sim.length === 1 && today[0].style.left !== sim[0].style.left, \
                      todayText: document.getElementById('tl-today').textContent, \
                      realToday: new Date().toISOString().slice(0, 10), \
                      overdue: q('.sched-status-overdue').map((r) => r.dataset.key + ' | ' + r.textContent), \
                      flags: q('.sched-overdue').map((f) => f.textContent) };",
        )?;
        let tasks = chart["tasks"].as_u64().unwrap_or(0);
        // The lift works wait for the undecided review: no window, said so.
        if tasks < 4 || chart["planned"].as_u64().unwrap_or(0) + chart["unscheduled"].as_u64().unwrap_or(0) != tasks
            || chart["unscheduled"].as_u64() == Some(0)
        {
            return Err(format!("every task is a planned bar or marked unscheduled: {chart}"));
        }
        if chart["actual"] != json!(["facade/facade-walls"]) {
            return Err(format!("the recorded progress is the one actual bar: {chart}"));
        }
        if chart["apart"] != json!(true) || chart["todayText"] != chart["realToday"] {
            return Err(format!("today (the real date) is marked apart from the simulated date: {chart}"));
        }
        let overdue = chart["overdue"].as_array().cloned().unwrap_or_default();
        let flags = chart["flags"].as_array().cloned().unwrap_or_default();
        if overdue.len() != 1 || !overdue[0].as_str().unwrap_or_default().starts_with("lifts/fire") || flags.len() != 1
            || !flags[0].as_str().unwrap_or_default().contains("超期")
        {
            return Err(format!("the undecided fire review is flagged overdue: {chart}"));
        }
        // The simulated mark follows the day the timeline shows.
        let before = session.script("return document.querySelector('#tl-schedule-body .sched-sim').style.left;")?;
        session.script("const s = document.getElementById('tl-slider'); s.value = '30'; s.dispatchEvent(new Event('input')); return null;")?;
        crate::features::wait_showing(
            session,
            &format!("document.querySelector('#tl-schedule-body .sched-sim').style.left !== {before}"),
            "the simulated mark moved with the slider",
            Some("timeline"),
        )?;
        Ok(())
    })
}
