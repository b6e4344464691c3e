//! Measuring and notes in the browser: real pointer clicks on the model in distance, height and
//! area modes give the figures computed here by hand from the picked points; a note carrying
//! HTML is shown as text; the view's link carries the camera, the measurements and the note, and
//! opening it restores them.

use serde_json::{Value, json};

use super::{Server, Session, wait_ready};

const NOTE: &str = "<img src=x onerror=\"window.__xss=1\">加装电梯位置 lift here";

#[test]
fn clicks_on_the_model_measure_distance_height_and_area_and_the_link_restores_them() {
    let Some(_one_browser) = super::browser_for("measure browser test") else { return };
    let server = Server::start();
    if let Err(e) = run(&server.url) {
        panic!("measuring in the browser: {e}");
    }
}

fn click(session: &Session, (x, y): (f64, f64)) -> Result<(), String> {
    super::click_at(session, x, y)
}

fn point(v: &Value) -> Result<[f64; 3], String> {
    let a = v.as_array().filter(|a| a.len() == 3).ok_or_else(|| format!("not a point: {v}"))?;
    Ok([0, 1, 2].map(|k| a[k].as_f64().unwrap_or(f64::NAN)))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-3 * b.abs().max(1.0)
}

fn run(url: &str) -> Result<(), String> {
    super::in_webgl2_page("chromium-measure", url, |session| {
        crate::features::wait_for(session, "document.body.dataset.measure === 'ready'", "the measuring tools")?;
        // Three pixels on three different elements, each showing the canvas (no panel over it),
        // and what the viewer picks there (the points the clicks must measure).
        let picked = session.script(
            "const r = window.renewtwin, canvas = document.getElementById('viewer'), out = []; \
             for (let id = 0; id < r.elementCount && out.length < 3; id++) { \
               const info = r.elementInfo(id); if (!info) continue; \
               const xy = r.screenPointOf(info.globalId); if (!xy) continue; \
               if (document.elementFromPoint(xy[0], xy[1]) !== canvas) continue; \
               if (out.some((o) => Math.hypot(o.xy[0] - xy[0], o.xy[1] - xy[1]) < 60)) continue; \
               const pick = r.pickPoint(xy[0], xy[1], 10); if (!pick) continue; \
               out.push({ xy, point: pick.point, snap: pick.snap }); } \
             return out;",
        )?;
        let picks = picked.as_array().filter(|p| p.len() == 3).ok_or_else(|| format!("three pickable pixels: {picked}"))?.clone();
        let xy = |i: usize| (picks[i]["xy"][0].as_f64().unwrap_or(0.0), picks[i]["xy"][1].as_f64().unwrap_or(0.0));
        let p: Vec<[f64; 3]> = picks.iter().map(|v| point(&v["point"])).collect::<Result<_, _>>()?;
        for v in &picks {
            if !["vertex", "edge", "face"].contains(&v["snap"].as_str().unwrap_or_default()) {
                return Err(format!("a pick says what it snapped to: {v}"));
            }
        }
        let sub = |a: [f64; 3], b: [f64; 3]| [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
        let norm = |v: [f64; 3]| (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
        let cross = |a: [f64; 3], b: [f64; 3]| [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
        let distance = norm(sub(p[1], p[0]));
        let height = (p[1][2] - p[0][2]).abs();
        // A triangle's area: half the length of the cross product of two sides.
        let area = norm(cross(sub(p[1], p[0]), sub(p[2], p[0]))) / 2.0;

        session.script("document.getElementById('btn-measure').click(); return null;")?;
        let mode = |m: &str| session.script(&format!("document.querySelector('#measure-modes [data-mode={m}]').click(); return null;"));
        click(session, xy(0))?;
        click(session, xy(1))?;
        mode("height")?;
        click(session, xy(0))?;
        click(session, xy(1))?;
        mode("area")?;
        for i in 0..3 {
            click(session, xy(i))?;
        }
        session.script("document.getElementById('measure-finish').click(); return null;")?;
        mode("note")?;
        session.script(&format!("document.getElementById('measure-note').value = {NOTE:?}; return null;"))?;
        click(session, xy(2))?;

        let items = session.script("return window.renewtwinMeasure.items();")?;
        let got: Vec<(String, f64)> = items
            .as_array()
            .map(|a| a.iter().map(|i| (i["mode"].as_str().unwrap_or_default().to_owned(), i["value"].as_f64().unwrap_or(f64::NAN))).collect())
            .unwrap_or_default();
        let modes: Vec<&str> = got.iter().map(|(m, _)| m.as_str()).collect();
        if modes != ["distance", "height", "area", "note"]
            || !close(got[0].1, distance)
            || !close(got[1].1, height)
            || !close(got[2].1, area)
            || items[3]["text"] != json!(NOTE)
        {
            return Err(format!("measured {items}; by hand: distance {distance}, height {height}, area {area}"));
        }
        let drawn = session.command(
            "POST",
            "/execute/sync",
            Some(&json!({
                "script": "const svg = document.getElementById('measure-overlay'); \
                           return { shapes: svg.querySelectorAll('polyline, polygon').length, \
                                    note: [...svg.querySelectorAll('text')].some((t) => t.textContent === arguments[0]), \
                                    injected: svg.querySelectorAll('img').length + document.querySelectorAll('#measure-list img').length, \
                                    xss: window.__xss === undefined, link: document.getElementById('measure-link').value };",
                "args": [NOTE],
            })),
        )?;
        if drawn["shapes"].as_u64().unwrap_or(0) < 3 || drawn["note"] != json!(true) || drawn["injected"] != json!(0) || drawn["xss"] != json!(true) {
            return Err(format!("the overlay: {drawn}"));
        }
        let link = drawn["link"].as_str().unwrap_or_default().to_owned();
        if !link.contains("#v=") {
            return Err(format!("the view's link: {link}"));
        }
        let camera = session.script("return window.renewtwin.camera();")?;

        // The link, opened afresh, restores the camera, the measurements and the note.
        session.navigate("about:blank")?;
        session.navigate(&link)?;
        wait_ready(session)?;
        crate::features::wait_for(session, "document.body.dataset.measure === 'ready'", "the measuring tools after the link")?;
        let again = session.script("return { items: window.renewtwinMeasure.items(), camera: window.renewtwin.camera(), open: !document.getElementById('measure-panel').hidden };")?;
        let same_camera = ["eye", "target"].iter().all(|k| {
            let (a, b) = (point(&camera[*k]), point(&again["camera"][*k]));
            matches!((a, b), (Ok(a), Ok(b)) if (0..3).all(|i| (a[i] - b[i]).abs() < 0.01))
        });
        if again["items"] != items || !same_camera || again["open"] != json!(true) {
            return Err(format!("the link restored {again}; saved {items} with camera {camera}"));
        }
        Ok(())
    })
}
