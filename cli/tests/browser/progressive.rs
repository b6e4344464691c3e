//! Progressive delivery (issue 5): the viewer draws the scene while it streams in.
//!
//! First the load that just happened is reported (time to the first drawn triangles and to the
//! complete scene, from the viewer's `performance.now()` hooks). Then the page is reloaded with
//! `?holdAfterBatches=1`, which holds every message after the first mesh batch: the test sees
//! and screenshots the partly streamed scene with its progress bar, releases the stream, and
//! checks that the first triangles were drawn while the scene was incomplete, before it
//! completed, and that the complete scene covers more of the canvas.

use std::path::Path;

use serde_json::{Value, json};

use super::{Session, rgb_of};
use crate::features::{wait_for, wait_frame};

/// Share of canvas pixels that the first batch alone must cover (it holds the largest, nearest
/// elements, so it is far from empty).
const MIN_PARTIAL_COVERAGE: f64 = 0.005;

/// The hooks of the streaming timeline.
const TIMELINE: &str = "const r = window.renewtwin; return { start: r.sceneStartMs, first: r.firstTrianglesMs, \
     complete: r.completeMs, partial: r.firstTrianglesPartial, firstBatches: r.firstTrianglesBatches, \
     batches: r.batches, total: r.batchesTotal, partialUploads: r.partialUploads, uploadMs: r.uploadMs, \
     triangles: r.triangles, elements: r.elementCount };";

fn ms(value: &Value) -> f64 {
    value.as_f64().unwrap_or(f64::NAN)
}

/// Share of the canvas drawn, measured with the panels hidden.
fn canvas_coverage(session: &Session, background: [u8; 3]) -> Result<f64, String> {
    session.script("document.querySelectorAll('.panel').forEach(p => p.style.visibility = 'hidden'); return null;")?;
    let coverage = session.screenshot().map(|s| s.share_differing_from(background, 12));
    session.script("document.querySelectorAll('.panel').forEach(p => p.style.visibility = ''); return null;")?;
    coverage
}

/// Runs the checks; leaves the page ready, on the normal (released) stream.
pub(super) fn check(session: &Session, url: &str, backend: &str, shots: &Path) -> Result<(), String> {
    let natural = session.script(TIMELINE)?;
    let (start, first, complete) = (ms(&natural["start"]), ms(&natural["first"]), ms(&natural["complete"]));
    // NaN (a missing hook) fails too.
    if first.is_nan() || complete.is_nan() || first > complete {
        return Err(format!("the first triangles were drawn after the complete scene: {natural}"));
    }
    eprintln!(
        "{backend}: progressive load: first triangles {:.0} ms after the header (after {} of {} batches, scene {}), complete {:.0} ms; \
         {} partial uploads, {:.0} ms uploading in all",
        first - start,
        natural["firstBatches"],
        natural["total"],
        if natural["partial"] == json!(true) { "incomplete" } else { "complete" },
        complete - start,
        natural["partialUploads"],
        ms(&natural["uploadMs"]),
    );
    let total = natural["total"].as_u64().unwrap_or(0);
    if total < 2 {
        return Err(format!("the scene is sent in {total} batch(es); progressive drawing needs at least 2"));
    }
    let full_triangles = ms(&natural["triangles"]);

    session.navigate(&format!("{url}?holdAfterBatches=1"))?;
    wait_for(
        session,
        "window.renewtwin && window.renewtwin.firstTrianglesMs != null && window.renewtwin.heldMessages() > 0",
        "the first batch to be drawn while the rest is held",
    )?;
    wait_frame(session)?;
    let held = session.script(
        "const r = window.renewtwin, bar = document.getElementById('load-progress'); \
         return { ready: r.ready, complete: r.completeMs, batches: r.batches, triangles: r.triangles, \
         partial: r.firstTrianglesPartial, held: r.heldMessages(), barHidden: bar.hidden, barValue: bar.value, \
         background: r.background };",
    )?;
    let partial_triangles = ms(&held["triangles"]);
    if held["ready"] != json!(false) || held["batches"] != json!(1) || held["partial"] != json!(true) {
        return Err(format!("with the stream held after one batch the viewer should be drawing an incomplete scene: {held}"));
    }
    if !(partial_triangles > 0.0 && partial_triangles < full_triangles) {
        return Err(format!("the first batch draws {partial_triangles} triangles of {full_triangles}: {held}"));
    }
    if held["barHidden"] != json!(false) || !(ms(&held["barValue"]) > 0.0 && ms(&held["barValue"]) < 1.0) {
        return Err(format!("the progress bar should show a partial load: {held}"));
    }
    let background = rgb_of(&held["background"])?;
    session.screenshot()?.save(&shots.join(format!("{backend}-partial.png")))?;
    let partial_coverage = canvas_coverage(session, background)?;
    if partial_coverage < MIN_PARTIAL_COVERAGE {
        return Err(format!(
            "the first batch covers only {:.2}% of the canvas (need {:.1}%)",
            partial_coverage * 100.0,
            MIN_PARTIAL_COVERAGE * 100.0
        ));
    }

    session.script("window.renewtwin.releaseStream(); return null;")?;
    wait_for(session, "window.renewtwin.ready === true", "the complete scene after the release")?;
    wait_frame(session)?;
    let done = session.script(TIMELINE)?;
    let bar_hidden = session.script("return document.getElementById('load-progress').hidden;")?;
    let full_coverage = canvas_coverage(session, background)?;
    let (first, complete) = (ms(&done["first"]), ms(&done["complete"]));
    if first.is_nan() || complete.is_nan() || first >= complete || done["partial"] != json!(true) || done["firstBatches"] != json!(1) {
        return Err(format!("the first triangles should be drawn from batch 1, before the scene completed: {done}"));
    }
    if bar_hidden != json!(true) || full_coverage <= partial_coverage {
        return Err(format!(
            "after completion the progress bar should hide ({bar_hidden}) and the scene cover more than the first batch \
             ({:.1}% vs {:.1}%)",
            full_coverage * 100.0,
            partial_coverage * 100.0
        ));
    }
    eprintln!(
        "{backend}: held after batch 1 of {total}: {partial_triangles} of {full_triangles} triangles, {:.1}% of the canvas \
         (complete: {:.1}%); screenshot {backend}-partial.png",
        partial_coverage * 100.0,
        full_coverage * 100.0
    );
    Ok(())
}
