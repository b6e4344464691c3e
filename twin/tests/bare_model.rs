//! A bare model file is its own scene: named after the model, one viewpoint fitted to it and no
//! caption, and the plan of its own IFC work schedule or no plan at all; never the default
//! district's plan, viewpoints or captions.

use std::path::PathBuf;

use renewtwin_importers::ImportConfig;
use renewtwin_protocol::CivilDate;
use renewtwin_twin::analytics::Analytics;
use renewtwin_twin::manifest::Action;
use renewtwin_twin::renewal::LoadedScene;
use renewtwin_twin::renewal::indicators::Indicators;
use renewtwin_twin::scene::SceneSource;
use renewtwin_twin::scene::derive::NO_PLAN;

/// `$RENEWTWIN_CORPUS/ifc/NAME` (else `../shared/corpus` beside the workspace); `None` after
/// saying why when the corpus is absent, a failure when `RENEWTWIN_REQUIRE_CORPUS=1`.
fn corpus_file(name: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("RENEWTWIN_CORPUS").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus"),
        PathBuf::from,
    );
    let path = dir.join("ifc").join(name);
    if path.is_file() {
        return Some(path);
    }
    assert!(
        std::env::var("RENEWTWIN_REQUIRE_CORPUS").as_deref() != Ok("1"),
        "RENEWTWIN_REQUIRE_CORPUS=1 but {} is missing",
        path.display()
    );
    println!(
        "skipped: no corpus file {} (set RENEWTWIN_CORPUS to run it)",
        path.display()
    );
    None
}

#[test]
fn a_bare_ifc_without_a_schedule_has_no_plan_and_no_borrowed_figures() {
    let Some(path) = corpus_file("AC20-FZK-Haus.ifc") else {
        return;
    };
    let loaded = LoadedScene::load(
        &SceneSource::Model(path),
        None,
        &ImportConfig::default(),
        None,
    )
    .expect("the FZK-Haus loads");
    let m = &loaded.manifest;
    // IfcProject #… 'Projekt-FZK-Haus' names the scene, with the file.
    assert!(
        m.name.contains("FZK-Haus") && m.name.ends_with("(AC20-FZK-Haus.ifc)"),
        "{}",
        m.name
    );
    assert!(
        m.projects.is_empty()
            && m.scenarios.is_empty()
            && m.events.is_empty()
            && m.heritage.is_empty()
    );
    assert_eq!(m.plan_note.as_deref(), Some(NO_PLAN));
    // One viewpoint, fitted to the house's bounds, without a caption.
    assert_eq!(m.viewpoints.len(), 1);
    let v = &m.viewpoints[0];
    assert!(v.caption_zh.is_empty() && v.caption_en.is_empty());
    let bb = loaded.model.bbox();
    for a in 0..3 {
        assert!(
            (v.target[a] - (bb.min[a] + bb.max[a]) / 2.0).abs() < 1e-9,
            "looks at the centre"
        );
    }
    assert!(v.eye[2] > bb.max[2], "from above the house");
    assert!(loaded.plan.tasks.is_empty() && loaded.plan.phases.is_empty());
    assert_eq!(loaded.plan.end, 0);
    let ind = Indicators::compute(m, &loaded.model, &loaded.plan);
    assert_eq!(ind.cost_yuan, 0.0);
    assert_eq!(ind.households_affected, 0);
    assert_eq!(ind.noisy_work_days, 0);
    assert!(ind.approvals.is_empty(), "no lift approvals");
    assert!(!ind.green_area_declared);
    assert!(ind.green_area_m2.is_sign_positive(), "never -0 m²");
    assert!(ind.heritage_elements == 0);
    let analytics = Analytics::prepare(m, &loaded.model, None).expect("analytics");
    let a = analytics.scenario(&loaded.plan, None);
    assert!(a.alerts.is_empty(), "no works, no alerts");
    assert_eq!(a.population.households_disrupted, 0.0);
}

#[test]
fn a_bare_ifc_with_a_work_schedule_plays_that_schedule() {
    let path = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../importers/tests/data/schedule-ifc4.ifc"
    ));
    let loaded = LoadedScene::load(
        &SceneSource::Model(path),
        None,
        &ImportConfig::default(),
        None,
    )
    .expect("the schedule file loads");
    let m = &loaded.manifest;
    assert_eq!(m.name, "Renewal block 7 (schedule-ifc4.ifc)");
    // Day 0 is the first task's start, 2024-03-01 (08:00).
    assert_eq!(m.start, CivilDate::new(2024, 3, 1));
    assert_eq!(m.projects.len(), 1);
    let p = &m.projects[0];
    assert_eq!(p.name, "Renewal phase 1");
    assert!(!p.consultation_required && p.approvals.is_empty());
    // Only tasks with products: T-1.1 (Wall north, Ground slab) and T-1.2 (Wall south, through
    // IfcRelAssignsToProduct). The summary task "Phase 1" has no products of its own, the
    // milestone T-1.3 is a milestone, T-9 has no products.
    let ids: Vec<&str> = p.tasks.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["t-1-1", "t-1-2"]);
    let strip = &p.tasks[0];
    // 2024-03-01T08:00 → 2024-03-14T17:00: days 0 to 13 inclusive, 14 days; DEMOLITION.
    assert_eq!(
        (strip.start, strip.duration, strip.action),
        (0, 14, Action::Demolish)
    );
    let insulate = &p.tasks[1];
    // 2024-03-18T08:00 (day 17) → 2024-04-05T17:00 (day 35 inclusive): 19 days; CONSTRUCTION;
    // after T-1.1 finish-to-start with a 2-day lag (14 + 2 = 16 ≤ 17, so the dates hold).
    assert_eq!(
        (insulate.start, insulate.duration, insulate.action),
        (17, 19, Action::New)
    );
    assert_eq!(insulate.after.len(), 1);
    assert_eq!(
        (insulate.after[0].task.as_str(), insulate.after[0].lag),
        ("t-1-1", 2)
    );
    assert_eq!(
        p.phase_days[&renewtwin_protocol::PhaseKind::Construction],
        36
    );
    let t = |id: &str| loaded.plan.tasks.iter().find(|t| t.id == id).expect("task");
    assert_eq!(
        (t("t-1-1").start, t("t-1-1").end, t("t-1-1").elements),
        (Some(0), Some(14), 2)
    );
    assert_eq!(
        (t("t-1-2").start, t("t-1-2").end, t("t-1-2").elements),
        (Some(17), Some(36), 1)
    );
    assert!(
        m.plan_note
            .as_deref()
            .is_some_and(|n| n.contains("\"Renewal phase 1\" (#200)")),
        "{:?}",
        m.plan_note
    );
}
