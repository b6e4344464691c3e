//! Risk models against hand-computed values.

use renewtwin_twin::site::{Home, Pipe, Rect, Site};
use renewtwin_twin::risk::building::safety_score;
use renewtwin_twin::risk::pipe::{annual_failure_probability, assess_pipe, model_for, weibull_cdf};
use renewtwin_twin::risk::{RiskConfig, assess};

fn home(grade: &str, year: i32, structure: &str, defects: f64) -> Home {
    Home {
        building: 0,
        global_id: "b".into(),
        name: "1号楼".into(),
        rect: Rect::new([0.0, 0.0], [10.0, 10.0]),
        households: 24.0,
        residents: 60.0,
        year: Some(year),
        structure: Some(structure.into()),
        grade: Some(grade.into()),
        defects: Some(defects),
        elements: vec![1, 2],
        vulnerable: None,
    }
}

#[test]
fn a_grade_c_brick_concrete_block_of_1980_with_five_defects_scores_31_3() {
    // Hazards: grade C 2/3, age 46/50 = 0.92, brick-concrete 0.5, defects 1 − e⁻¹ = 0.63212.
    // 100 · (1 − (0.5·0.66667 + 0.2·0.92 + 0.15·0.5 + 0.15·0.63212)) = 31.28.
    let r = safety_score(&home("C", 1980, "brick-concrete", 5.0), &RiskConfig::default().building, 2026);
    assert!((r.hazards.defects - 0.632_12).abs() < 1e-5);
    assert_eq!(r.score, 31.3);
    assert_eq!(r.elements, vec![1, 2], "the layer colours the building's elements");
}

#[test]
fn a_grade_a_frame_building_without_defects_is_safe_and_grade_d_always_warns() {
    let config = RiskConfig::default();
    let safe = safety_score(&home("A", 2016, "frame", 0.0), &config.building, 2026);
    // 100 · (1 − (0.2 · 10/50 + 0.15 · 0.2)) = 93.
    assert_eq!(safe.score, 93.0);
    let site = Site {
        homes: vec![home("A", 2016, "frame", 0.0), Home { building: 1, ..home("D", 2016, "frame", 0.0) }],
        ..Default::default()
    };
    let layer = assess(&site, &config, 2026);
    assert_eq!(layer.warnings.len(), 1);
    assert!(layer.warnings[0].message.contains("grade D"), "{}", layer.warnings[0].message);
}

#[test]
fn the_weibull_annual_failure_probability_matches_the_hand_computed_value() {
    // β = 2, η = 50, age 45: 1 − exp((45/50)² − (46/50)²) = 1 − exp(−0.0364) = 0.035745.
    assert!((annual_failure_probability(45.0, 2.0, 50.0) - 0.035_745).abs() < 1e-6);
    // F(50) = 1 − e⁻¹ at the scale.
    assert!((weibull_cdf(50.0, 2.0, 50.0) - 0.632_12).abs() < 1e-5);
}

#[test]
fn pipe_materials_pick_their_model_and_small_diameters_shorten_the_scale() {
    let config = RiskConfig::default();
    assert_eq!(model_for("钢筋混凝土 reinforced concrete", &config.pipes).name, "reinforced concrete");
    assert_eq!(model_for("镀锌钢 galvanised steel", &config.pipes).name, "galvanised steel");
    assert_eq!(model_for("灰口铸铁 grey cast iron", &config.pipes).name, "grey cast iron");
    assert_eq!(model_for("聚乙烯 PE100", &config.pipes).name, "polyethylene");
    assert_eq!(model_for("clay", &config.pipes).name, "unknown material");
    let pipe = Pipe {
        element: 7,
        global_id: "p".into(),
        name: None,
        material: "镀锌钢 galvanised steel".into(),
        install_year: Some(1981),
        diameter_m: Some(0.05),
        status: Some("EXISTING".into()),
    };
    let r = assess_pipe(&pipe, &config.pipes, 2026);
    // η = 50 · (0.05/0.2)^0.3 = 33.0; P = 1 − exp((45/33)² − (46/33)²).
    let eta = 50.0 * 0.25f64.powf(0.3);
    assert!((r.scale_years - eta).abs() < 1e-9);
    let p = 1.0 - ((45.0 / eta).powi(2) - (46.0 / eta).powi(2)).exp();
    assert!((r.annual_probability - p).abs() < 1e-12);
    assert!(r.annual_probability > config.pipes.warn_above);
}

mod follows_the_twin {
    use super::*;
    use renewtwin_protocol::CivilDate;
    use renewtwin_twin::manifest::Action;
    use renewtwin_twin::manifest::risk::Improvement;
    use renewtwin_twin::renewal::plan::{ElementSchedule, Plan, Step, TaskWindow};
    use renewtwin_twin::risk::assess_on;

    fn pipe(element: u32, material: &str, year: i32, dn: f64) -> Pipe {
        Pipe {
            element,
            global_id: format!("p{element}"),
            name: None,
            material: material.into(),
            install_year: Some(year),
            diameter_m: Some(dn),
            status: None,
        }
    }

    /// Building 0 (elements 0, 1) is strengthened over days 0–100 by a task that declares grade
    /// B and no defects left; building 1 (element 2) is demolished over days 0–30; old cast iron
    /// pipe 3 is taken out over days 60–100; new PE pipe 4 is laid over days 0–50.
    fn district() -> (Site, Plan) {
        let site = Site {
            homes: vec![home("C", 1980, "brick-concrete", 5.0), Home { building: 1, elements: vec![2], ..home("D", 1960, "masonry", 9.0) }],
            pipes: vec![pipe(3, "grey cast iron", 1960, 0.1), pipe(4, "PE100", 2026, 0.1)],
            ..Site::default()
        };
        let step = |start, end, action| ElementSchedule(vec![Step { start, end, action }]);
        let task = TaskWindow {
            id: "strengthen".into(),
            name: "strengthen".into(),
            project: 0,
            action: Action::Retrofit,
            start: Some(0),
            end: Some(100),
            elements: 1,
            buildings: [0].into_iter().collect(),
            selected: vec![0],
            cost: 0.0,
            quantities: Vec::new(),
            noisy: true,
            idle_days: Vec::new(),
            building_ends: [(0, 100)].into_iter().collect(),
            improves: Some(Improvement { inspection_grade: Some("B".into()), defects: Some(0.0) }),
        };
        let plan = Plan {
            tasks: vec![task],
            schedules: vec![
                step(0, 100, Action::Retrofit),
                ElementSchedule::default(),
                step(0, 30, Action::Demolish),
                step(60, 100, Action::Demolish),
                step(0, 50, Action::New),
            ],
            end: 100,
            ..Plan::default()
        };
        (site, plan)
    }

    #[test]
    fn demolished_elements_drop_out_and_a_retrofit_raises_the_score_it_declares() {
        let (site, plan) = district();
        let config = RiskConfig::default();
        let start = CivilDate { year: 2026, month: 1, day: 1 };
        let day0 = assess_on(&site, &config, &plan, start, 0);
        assert_eq!(day0.buildings.len(), 2, "both buildings stand on day 0");
        assert_eq!(day0.buildings[0].score, 31.3, "the survey as read");
        assert_eq!(day0.pipes.iter().map(|p| p.element).collect::<Vec<_>>(), vec![3], "the new pipe is not laid yet");

        let day40 = assess_on(&site, &config, &plan, start, 40);
        assert_eq!(day40.buildings.iter().map(|b| b.building).collect::<Vec<_>>(), vec![0], "building 1 is demolished by day 30");
        assert_eq!(day40.buildings[0].score, 31.3, "the retrofit is not finished");

        // Day 200 = 2026-07-20. Building 0: grade B 1/3, age 46/50, brick-concrete 0.5, no
        // defects: 100 · (1 − (0.5/3 + 0.2·0.92 + 0.15·0.5 + 0)) = 57.43.
        let day200 = assess_on(&site, &config, &plan, start, 200);
        assert_eq!(day200.date.as_deref(), Some("2026-07-20"));
        assert_eq!(day200.buildings[0].score, 57.4);
        assert_eq!(day200.buildings[0].improved_by, vec!["strengthen".to_owned()]);
        assert_eq!(day200.buildings[0].grade.as_deref(), Some("B"));
        // The old pipe is gone; the new one ages from day 50: 150 / 365.2425 = 0.41069 years;
        // PE β 1.8, η = 120 · (0.1/0.2)^0.3 = 97.470 y; P = 1 − exp((a/η)^β − ((a+1)/η)^β)
        // = 0.00043555.
        assert_eq!(day200.pipes.len(), 1);
        let p = &day200.pipes[0];
        assert_eq!((p.element, p.age_from, p.laid_on.as_deref()), (4, "plan", Some("2026-02-20")));
        assert!((p.age_years - 0.410_686).abs() < 1e-6, "{}", p.age_years);
        assert!((p.annual_probability - 0.000_435_55).abs() < 1e-8, "{}", p.annual_probability);
        assert!(day200.warnings.iter().all(|w| w.global_id != "p3"), "a removed pipe raises no warning");
    }

    #[test]
    fn the_outcome_reports_the_score_before_and_after_the_works() {
        let (site, plan) = district();
        let o = renewtwin_twin::risk::outcome(&site, &RiskConfig::default(), &plan, CivilDate { year: 2026, month: 1, day: 1 }, 200);
        assert_eq!((o.buildings[0].score_before, o.buildings[0].score_after), (31.3, Some(57.4)));
        assert_eq!(o.buildings[1].score_after, None, "demolished");
        assert_eq!((o.pipes_before, o.pipes_after), (1, 1));
    }
}

mod default_scene {
    use renewtwin_importers::ImportConfig;
    use renewtwin_protocol::CivilDate;
    use renewtwin_twin::analytics::Analytics;
    use renewtwin_twin::renewal::LoadedScene;
    use renewtwin_twin::scene::{Manifest, SceneSource, load};
    use renewtwin_twin::sim::{SimConfig, SimInput, build_app};

    /// The risk layer the simulation publishes (what `GET /api/risk` serves) on 2027-01-26,
    /// after the plan has taken every old water branch and service out: none of them is listed,
    /// the new pipes are, aged from their laying date.
    #[test]
    fn the_published_layer_after_the_old_pipes_are_out_lists_none_of_them() {
        let scene = LoadedScene::load(&SceneSource::Default, None, &ImportConfig::default(), None).expect("default scene");
        let day = (CivilDate::parse_iso("2027-01-26").expect("date").days_since_epoch() - scene.manifest.start.days_since_epoch()) as i32;
        let out = scene.plan.tasks.iter().find(|t| t.id == "old-pipes-out").and_then(|t| t.end).expect("scheduled");
        assert!(out <= day, "the old branches are out by 2027-01-26 (day {out})");
        let removed: Vec<u32> = (0..scene.model.elements.len() as u32)
            .filter(|&i| scene.plan.schedules[i as usize].state_on(day) == renewtwin_protocol::LifecycleState::Demolished)
            .collect();
        assert!(!removed.is_empty());
        let analytics = Analytics::prepare(&scene.manifest, &scene.model, None).expect("analytics");
        let feed = analytics.feeds.risk.clone();
        let input = SimInput::from_scene(&scene).with_analytics(analytics.clone());
        let (mut app, _) = build_app(input, &SimConfig { speed: 0.0, start_day: f64::from(day), looping: false, ..SimConfig::default() });
        app.update();
        let layer = feed.0.get().expect("assessed");
        assert_eq!(layer.day, Some(day));
        assert!(layer.pipes.iter().all(|p| !removed.contains(&p.element)), "a removed pipe is listed");
        assert!(layer.warnings.iter().all(|w| layer.pipes.iter().any(|p| p.global_id == w.global_id) || w.kind == "building"));
        let surveyed_before = analytics.site.pipes.iter().filter(|p| scene.plan.schedules[p.element as usize].state_on(0) != renewtwin_protocol::LifecycleState::Planned).count();
        let laid = layer.pipes.iter().filter(|p| p.age_from == "plan").count();
        assert!(laid > 0, "the new pipes are in the layer");
        assert_eq!(layer.pipes.len(), surveyed_before - removed.iter().filter(|e| analytics.site.pipes.iter().any(|p| p.element == **e)).count() + laid);
        assert!(layer.pipes.iter().filter(|p| p.age_from == "plan").all(|p| p.age_years < 1.0), "new pipes are months old");
    }

    /// The viewer's risk colour layer follows the plan too: removed pipes have no colour, the
    /// pipes the plan laid are good (index 0), before the works they are not there yet.
    #[test]
    fn the_risk_colour_layer_drops_removed_pipes_and_shows_laid_ones_as_good() {
        use renewtwin_protocol::LifecycleState as S;
        use renewtwin_twin::layers::{NO_VALUE, risk_layer};
        let scene = LoadedScene::load(&SceneSource::Default, None, &ImportConfig::default(), None).expect("default scene");
        let plan = &scene.plan;
        let end = plan.end;
        let after = risk_layer(&scene.model, plan, end);
        let before = risk_layer(&scene.model, plan, 0);
        let removed: Vec<usize> = (0..scene.model.elements.len()).filter(|&i| plan.schedules[i].state_on(end) == S::Demolished).collect();
        let laid: Vec<usize> = (0..scene.model.elements.len())
            .filter(|&i| scene.model.elements.at(i).class.starts_with("IfcPipe") && plan.schedules[i].state_on(end) == S::Built)
            .collect();
        assert!(!removed.is_empty() && !laid.is_empty());
        assert!(removed.iter().all(|&i| after.values[i] == NO_VALUE && before.values[i] != NO_VALUE));
        assert!(laid.iter().all(|&i| after.values[i] == 0 && before.values[i] == NO_VALUE));
    }

    /// `[risk] work_order = "least_safe_first"`: a per-building task takes the least safe
    /// building first; without it, the model's order.
    #[test]
    fn the_least_safe_building_is_worked_on_first_when_the_scene_says_so() {
        let scene = load(&SceneSource::Default, &ImportConfig::default(), None).expect("default scene");
        let analytics = Analytics::prepare(&scene.manifest, &scene.model, None).expect("analytics");
        let layer = renewtwin_twin::risk::assess(&analytics.site, &Default::default(), scene.manifest.start.year);
        let mut by_score: Vec<usize> = (0..layer.buildings.len()).collect();
        by_score.sort_by(|a, b| layer.buildings[*a].score.total_cmp(&layer.buildings[*b].score).then(a.cmp(b)));
        let text = include_str!("../../scenes/default/scene.toml").replace("[risk.pipes]", "[risk]\nwork_order = \"least_safe_first\"\n\n[risk.pipes]");
        let ordered = Manifest::parse("ordered.toml", &text).expect("manifest");
        let wall_order = |m: &Manifest| {
            let plan = renewtwin_twin::renewal::plan::Plan::resolve(m, None, &scene.model).expect("plan");
            let t = plan.tasks.iter().find(|t| t.id == "facade-walls").expect("task").clone();
            let mut ends: Vec<(i32, usize)> = t.building_ends.iter().map(|(b, e)| (*e, *b)).collect();
            ends.sort();
            ends.into_iter().map(|(_, b)| b).collect::<Vec<_>>()
        };
        let scores: Vec<f64> = layer.buildings.iter().map(|b| b.score).collect();
        assert_eq!(wall_order(&ordered), by_score, "least safe first; scores {scores:?}");
        assert_eq!(wall_order(&scene.manifest), (0..layer.buildings.len()).collect::<Vec<_>>(), "the model's order by default");
        assert_ne!(by_score, (0..layer.buildings.len()).collect::<Vec<_>>(), "the option changes the order here: {scores:?}");
    }
}

/// The default scene's calendar: 2026 holidays of the State Council's notice, gaokao quiet
/// days for noisy work, and the declared winter stop.
mod default_calendar {
    use renewtwin_importers::ImportConfig;
    use renewtwin_protocol::CivilDate;
    use renewtwin_twin::renewal::LoadedScene;
    use renewtwin_twin::scene::SceneSource;

    #[test]
    fn tasks_rest_on_holidays_quiet_days_and_the_winter_stop() {
        let scene = LoadedScene::load(&SceneSource::Default, None, &ImportConfig::default(), None).expect("default scene");
        let start = scene.manifest.start;
        let day = |iso: &str| (CivilDate::parse_iso(iso).expect("date").days_since_epoch() - start.days_since_epoch()) as i32;
        let task = |id: &str| scene.plan.tasks.iter().find(|t| t.id == id).expect("task").clone();
        // new-pipes (noisy) starts 2026-05-26: the gaokao (7–9 June) is quiet.
        let pipes = task("new-pipes");
        for d in ["2026-06-07", "2026-06-08", "2026-06-09"] {
            assert!(pipes.idle_days.contains(&day(d)), "{d}");
        }
        assert!(pipes.works_on(day("2026-06-10")));
        // The façade works rest over National Day, 1–7 October 2026.
        let walls = task("facade-walls");
        assert!((day("2026-10-01")..=day("2026-10-07")).all(|d| walls.idle_days.contains(&d)));
        // The lifts (new works, with pits) stop from 15 December to 15 February and finish after.
        let lifts = task("lift-shafts");
        assert!((day("2026-12-15")..=day("2027-02-15")).all(|d| !lifts.works_on(d)));
        assert!(lifts.end.expect("scheduled") > day("2027-02-15"));
        // 60 working days of pipe laying from 2026-05-26, less 3 gaokao days and the 3 days of
        // the Dragon Boat Festival (19–21 June): 66 calendar days, to 2026-07-30 inclusive.
        assert_eq!(pipes.end, Some(day("2026-07-31")));
    }
}
