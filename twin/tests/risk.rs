//! Risk models against hand-computed values.

use renewtwin_twin::site::{Home, Pipe, Rect};
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
    let site = renewtwin_twin::site::Site {
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
