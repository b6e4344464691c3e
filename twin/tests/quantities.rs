//! Quantities and who pays: pipe length by diameter, a project's cost over its funding sources,
//! and a lift's households' part shared by floor, on a hand-built model with hand-computed
//! figures.

use renewtwin_importers::{Element, Model, Property, PropertySet, PropertyValue, SpatialKind, SpatialNode};
use renewtwin_twin::renewal::LoadedScene;
use renewtwin_twin::renewal::indicators::Indicators;
use renewtwin_twin::renewal::quantities::QuantitySource;
use renewtwin_twin::scene::{Manifest, SceneModel};

fn pset(name: &str, props: &[(&str, PropertyValue)]) -> PropertySet {
    PropertySet { name: name.into(), properties: props.iter().map(|(n, v)| Property { name: (*n).into(), value: v.clone() }).collect() }
}

fn element(global_id: &str, class: &str, container: Option<usize>, psets: Vec<PropertySet>) -> Element {
    Element {
        step_id: 0,
        global_id: global_id.into(),
        class: class.into(),
        name: Some(global_id.into()),
        container,
        type_name: None,
        property_sets: psets.into_iter().map(Into::into).collect(),
        placements: Vec::new(),
        materials: Vec::new(),
    }
}

/// One six-storey building with two units of 12 households, a lift planned for each; four new
/// pipe segments: DN100 30 m and 20 m, DN50 12.5 m, and 7 m of unknown diameter.
fn model() -> Model {
    let mut m = Model::default();
    m.spatial.push(SpatialNode {
        step_id: 0,
        global_id: "B1".into(),
        class: "IfcBuilding".into(),
        kind: SpatialKind::Building,
        name: Some("1号楼".into()),
        parent: None,
        elevation: None,
        property_sets: vec![pset("Pset_BuildingCommon", &[("NumberOfStoreys", PropertyValue::Integer(6))]).into()],
    });
    for u in 1..=2 {
        let unit = pset("RenewTwin_Unit", &[("Unit", PropertyValue::Text(format!("1-{u}"))), ("Households", PropertyValue::Integer(12))]);
        m.elements.push(element(&format!("LIFT-{u}"), "IfcTransportElement", Some(0), vec![unit]));
    }
    let pipe = |id: &str, dn: Option<f64>, len: f64| {
        let mut psets = vec![pset("Qto_PipeSegmentBaseQuantities", &[("Length", PropertyValue::Real(len))])];
        if let Some(dn) = dn {
            psets.push(pset("RenewTwin_Survey", &[("NominalDiameter", PropertyValue::Real(dn))]));
        }
        element(id, "IfcPipeSegment", None, psets)
    };
    m.elements.push(pipe("P1", Some(0.1), 30.0));
    m.elements.push(pipe("P2", Some(0.05), 12.5));
    m.elements.push(pipe("P3", Some(0.1), 20.0));
    m.elements.push(pipe("P4", None, 7.0));
    m
}

const LIFTS: &str = r#"
name = "lifts"
start = "2026-01-01"

[[projects]]
id = "lifts"
name = "Lifts"
consultation_required = false
phases = { construction = 100 }
funding_sources = [{ name = "市级补贴 City subsidy", share = 0.4 }, { name = "居民出资 Residents", share = 0.6, households = true }]

[projects.lift_cost_sharing]
task = "lift-shafts"
floor_weights = [0, 1, 1.5, 2, 2.5, 3]

[[projects.tasks]]
id = "lift-shafts"
name = "Lifts"
phase = "construction"
duration = 100
action = "new"
cost = 400000
select = { class = ["IfcTransportElement"] }

[[projects]]
id = "pipes"
name = "Pipes"
consultation_required = false
phases = { construction = 100 }

[[projects.tasks]]
id = "new-pipes"
name = "New pipes"
phase = "construction"
duration = 50
action = "new"
rates = { per_m = 800 }
select = { class = ["IfcPipeSegment"] }
"#;

fn indicators(text: &str) -> Indicators {
    let manifest = Manifest::parse("lifts.toml", text).expect("manifest");
    let scene = LoadedScene::resolve(SceneModel { manifest, model: model() }, None).expect("plan");
    Indicators::compute(&scene.manifest, &scene.model, &scene.plan)
}

#[test]
fn pipe_length_is_summed_per_nominal_diameter_widest_first() {
    let ind = indicators(LIFTS);
    let rows: Vec<(Option<f64>, usize, f64)> = ind.pipe_lengths.iter().map(|p| (p.diameter_m, p.segments, p.length_m)).collect();
    assert_eq!(rows, vec![(Some(0.1), 2, 50.0), (Some(0.05), 1, 12.5), (None, 1, 7.0)]);
    assert!(ind.pipe_lengths.iter().all(|p| p.task == "new-pipes" && p.action == "new" && p.source == QuantitySource::QuantitySet));
    // 69.5 m at 800 yuan/m.
    let pipes = ind.funding.iter().find(|f| f.project == "pipes").expect("pipes");
    assert_eq!(pipes.cost_yuan, 55_600.0);
    assert!(pipes.sources.is_empty(), "no funding sources declared");
}

#[test]
fn the_lift_cost_is_split_over_the_funding_sources_and_shared_by_floor() {
    let ind = indicators(LIFTS);
    let lifts = ind.funding.iter().find(|f| f.project == "lifts").expect("lifts");
    let parts: Vec<(&str, f64)> = lifts.sources.iter().map(|s| (s.name.as_str(), s.yuan)).collect();
    assert_eq!(parts, vec![("市级补贴 City subsidy", 160_000.0), ("居民出资 Residents", 240_000.0)]);
    let [sharing] = ind.lift_cost_sharing.as_slice() else { panic!("one rule") };
    assert_eq!(sharing.households_share, 0.6);
    assert!(sharing.source.contains("scene's declaration"), "{}", sharing.source);
    assert_eq!(sharing.units.len(), 2);
    // Each lift: 400,000 / 2 = 200,000; households' part 0.6 × 200,000 = 120,000; 12 households
    // over 6 floors = 2 a floor; Σ 2 · (0 + 1 + 1.5 + 2 + 2.5 + 3) = 20; a household on floor f
    // pays 120,000 · w(f) / 20 = 6,000 · w(f).
    let u = &sharing.units[0];
    assert_eq!((u.unit.as_str(), u.lift_yuan, u.households_yuan), ("1-1", 200_000.0, 120_000.0));
    let per: Vec<f64> = u.floors.iter().map(|f| f.yuan_per_household).collect();
    assert_eq!(per, vec![0.0, 6_000.0, 9_000.0, 12_000.0, 15_000.0, 18_000.0]);
    let total: f64 = u.floors.iter().map(|f| f.households * f.yuan_per_household).sum();
    assert_eq!(total, u.households_yuan, "the shares add up to the households' part");
    let mut text = Vec::new();
    ind.write_quantities(&mut text).expect("write");
    let text = String::from_utf8(text).expect("utf-8");
    assert!(text.contains("6F 18000") && text.contains("居民出资 Residents 60% = 240000 yuan") && text.contains("DN100: 50.0 m"), "{text}");
}

#[test]
fn shares_that_do_not_sum_to_one_and_a_rule_without_its_task_are_refused() {
    let bad = LIFTS.replace("share = 0.6, households", "share = 0.5, households");
    let e = Manifest::parse("lifts.toml", &bad).expect_err("refused").to_string();
    assert!(e.contains("lifts.toml:10: projects[0].funding_sources: the shares sum to 0.9"), "{e}");
    let bad = LIFTS.replace("task = \"lift-shafts\"", "task = \"lifts-typo\"");
    let e = Manifest::parse("lifts.toml", &bad).expect_err("refused").to_string();
    assert!(e.contains("projects[0].lift_cost_sharing.task"), "{e}");
    let bad = LIFTS.replace("share = 0.6, households = true", "share = 0.6");
    let e = Manifest::parse("lifts.toml", &bad).expect_err("refused").to_string();
    assert!(e.contains("households = true"), "{e}");
}

/// A protected column at plan box 0–1 × 0–1 and walls north of it at 40 m and 160 m; the
/// heritage rule declares 2 mm/s at 10 m for demolition and a 0.5 mm/s limit.
#[test]
fn vibration_at_protected_heritage_is_predicted_from_the_declared_velocity_and_checked() {
    use renewtwin_importers::{Mesh, MeshId, Placement};
    const IDENTITY: [f64; 16] = [1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0];
    let mut m = Model::default();
    let mut boxed = |id: &str, class: &str, y0: f64, psets: Vec<PropertySet>| {
        let positions: Vec<f32> = [[0.0, y0, 0.0], [1.0, y0 + 1.0, 3.0]].iter().flat_map(|p: &[f64; 3]| p.iter().map(|v| *v as f32)).collect();
        m.meshes.push(Mesh { positions, normals: vec![0.0; 6], indices: Vec::new() });
        let mut e = element(id, class, None, psets);
        e.placements = vec![Placement { mesh: MeshId((m.meshes.len() - 1) as u32), transform: IDENTITY }];
        m.elements.push(e);
    };
    boxed("COL", "IfcColumn", 0.0, vec![pset("RenewTwin_Heritage", &[("Protected", PropertyValue::Bool(true))])]);
    boxed("NEAR", "IfcWall", 41.0, Vec::new());
    boxed("FAR", "IfcWall", 161.0, Vec::new());
    let text = r#"
name = "vibration"
start = "2026-01-01"
[[heritage]]
select = { global_id = ["COL"] }
reason = "listed"
vibration = { limit_mm_s = 0.5, standard = "test limit", reference_m = 10.0, ppv_mm_s = { demolish = 2.0 }, ppv_source = "test" }
[[projects]]
id = "p"
name = "p"
consultation_required = false
phases = { construction = 10 }
[[projects.tasks]]
id = "near"
name = "near"
phase = "construction"
duration = 5
action = "demolish"
select = { global_id = ["NEAR"] }
[[projects.tasks]]
id = "far"
name = "far"
phase = "construction"
duration = 5
action = "demolish"
select = { global_id = ["FAR"] }
[[projects.tasks]]
id = "quiet"
name = "quiet"
phase = "construction"
duration = 5
action = "retrofit"
select = { global_id = ["NEAR"] }
"#;
    let manifest = Manifest::parse("vibration.toml", text).expect("manifest");
    let scene = LoadedScene::resolve(SceneModel { manifest, model: m }, None).expect("plan");
    let checks = Indicators::compute(&scene.manifest, &scene.model, &scene.plan).heritage_vibration;
    // 40 m: 2 · (10/40)^0.5 = 1.0 mm/s > 0.5; 160 m: 2 · (10/160)^0.5 = 0.5, not above the limit.
    let rows: Vec<(&str, f64, f64, bool)> = checks.iter().map(|c| (c.task.as_str(), c.distance_m, c.ppv_mm_s, c.exceeds)).collect();
    assert_eq!(rows, vec![("near", 40.0, 1.0, true), ("far", 160.0, 0.5, false)], "retrofit declares no velocity: not listed");
    let bad = text.replace("limit_mm_s = 0.5", "limit_mm_s = 0");
    let e = Manifest::parse("vibration.toml", &bad).expect_err("refused").to_string();
    assert!(e.contains("heritage[0].vibration: limit_mm_s must be a positive velocity"), "{e}");
}
