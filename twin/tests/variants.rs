//! Design variants as models: the default scene's `south-lifts` scenario adds the generator's
//! south-side lift shafts (placed in the district's frame) and replaces the district's own
//! north-side shafts. Each variant's elements exist only in its scenario, the replaced ones are
//! absent from it, and sunlight and the colour layers are computed per scenario.

use renewtwin_importers::{ImportConfig, Model};
use renewtwin_protocol::LifecycleState;
use renewtwin_twin::renewal::{LoadedScene, Plan};
use renewtwin_twin::scene::{Manifest, SceneSource};

fn lifts(model: &Model) -> Vec<usize> {
    model.elements.iter().enumerate().filter(|(_, e)| e.class == "IfcTransportElement").map(|(i, _)| i).collect()
}

/// The bounding box (min, max) of element `i`'s placed geometry, metres.
fn element_box(model: &Model, i: usize) -> ([f64; 3], [f64; 3]) {
    let (mut min, mut max) = ([f64::INFINITY; 3], [f64::NEG_INFINITY; 3]);
    for p in model.elements.at(i).placements {
        let mesh = &model.meshes[p.mesh.0 as usize];
        let t = &p.transform;
        for v in mesh.positions.chunks_exact(3) {
            let (x, y, z) = (f64::from(v[0]), f64::from(v[1]), f64::from(v[2]));
            let w = [t[0] * x + t[4] * y + t[8] * z + t[12], t[1] * x + t[5] * y + t[9] * z + t[13], t[2] * x + t[6] * y + t[10] * z + t[14]];
            for k in 0..3 {
                min[k] = min[k].min(w[k]);
                max[k] = max[k].max(w[k]);
            }
        }
    }
    (min, max)
}

fn states(plan: &Plan, day: i32) -> Vec<LifecycleState> {
    plan.schedules.iter().map(|s| s.state_on(day)).collect()
}

#[test]
fn variant_elements_exist_only_in_their_scenario_and_replaced_ones_are_gone() {
    let loaded = LoadedScene::load(&SceneSource::Default, None, &ImportConfig::default(), None).expect("default scene");
    let (manifest, model) = (&loaded.manifest, &loaded.model);
    assert_eq!(model.sources.len(), 2, "the district and the south-lifts variant are placed into one model");
    let variant = &model.sources[1];
    assert!(variant.source.name.contains("lifts-south"), "{}", variant.source.name);
    let variant_range = variant.first_element..variant.first_element + variant.element_count;

    // The variant's shafts are placed in the district's frame: each stands against the south
    // facade of its building beside the unit's entrance bay, the district's own against the
    // north one behind the stairwell (2.4 m shafts, 1.35 m half bay: 2.55 m apart in x).
    let all = lifts(model);
    let (south, north): (Vec<usize>, Vec<usize>) = all.iter().partition(|&&i| variant_range.contains(&i));
    assert_eq!(south.len(), north.len(), "one variant shaft per unit: {} vs {}", south.len(), north.len());
    assert!(north.len() >= 6, "every building has lifts");
    let centre = |i: usize| {
        let (min, max) = element_box(model, i);
        assert!(min[0].is_finite(), "shaft {i} has geometry");
        [(min[0] + max[0]) / 2.0, (min[1] + max[1]) / 2.0, min[2]]
    };
    for (&n, &s) in north.iter().zip(&south) {
        let (cn, cs) = (centre(n), centre(s));
        assert!((cs[0] - cn[0] - 2.55).abs() < 0.01, "beside the unit's stair bay: {cn:?} {cs:?}");
        assert!(cs[1] < cn[1] - 8.0, "the variant's shaft stands south of the building: {cs:?} vs {cn:?}");
        assert!((cn[2] - cs[2]).abs() < 0.01, "same pit level");
    }

    // Base plan: the district's shafts are planned then built; the variant's are absent.
    let base = &loaded.plan;
    let end = base.end;
    let (s0, s_end) = (states(base, 0), states(base, end));
    for &i in &north {
        assert_eq!(s0[i], LifecycleState::Planned);
        assert_eq!(s_end[i], LifecycleState::Built);
    }
    for i in variant_range.clone() {
        assert_eq!(s0[i], LifecycleState::Absent, "variant element {i} in the base plan");
        assert_eq!(s_end[i], LifecycleState::Absent);
    }
    let task = |plan: &Plan| plan.tasks.iter().find(|t| t.id == "lift-shafts").expect("lift task").selected.clone();
    assert_eq!(task(base).iter().map(|&i| i as usize).collect::<Vec<_>>(), north, "the base lift task builds the north shafts");

    // The variant's scenario: its shafts are built by the same task, the north ones are gone.
    let variant_plan = Plan::resolve_fixed(manifest, Some("south-lifts"), model).expect("variant plan");
    let (v0, v_end) = (states(&variant_plan, 0), states(&variant_plan, variant_plan.end));
    for &i in &north {
        assert_eq!(v0[i], LifecycleState::Absent, "replaced shaft {i}");
        assert_eq!(v_end[i], LifecycleState::Absent);
    }
    for &i in &south {
        assert_eq!(v0[i], LifecycleState::Planned);
        assert_eq!(v_end[i], LifecycleState::Built);
    }
    assert_eq!(task(&variant_plan).iter().map(|&i| i as usize).collect::<Vec<_>>(), south);
    // Everything else is as in the base plan.
    let others = (0..model.elements.len()).filter(|i| !all.contains(i));
    for i in others {
        assert_eq!(v_end[i], s_end[i], "element {i} is not part of the variant");
    }

    // Another scenario without models: the base design.
    let lifts_only = Plan::resolve_fixed(manifest, Some("lifts-only"), model).expect("lifts-only");
    let l_end = states(&lifts_only, lifts_only.end);
    assert!(south.iter().all(|&i| l_end[i] == LifecycleState::Absent));
    assert!(north.iter().all(|&i| l_end[i] == LifecycleState::Built));
}

#[test]
fn sunlight_and_layers_are_computed_per_design_variant() {
    let loaded = LoadedScene::load(&SceneSource::Default, None, &ImportConfig::default(), None).expect("default scene");
    let (manifest, model) = (&loaded.manifest, &loaded.model);
    let variant_plan = Plan::resolve_fixed(manifest, Some("south-lifts"), model).expect("variant plan");
    let stands = |plan: &Plan, day: i32| -> Vec<bool> { states(plan, day).iter().map(|s| s.is_standing()).collect() };
    let report = renewtwin_twin::sunlight::report(
        model,
        &manifest.sunlight,
        manifest.start.year,
        &[
            ("before".to_owned(), stands(&loaded.plan, 0)),
            ("base".to_owned(), stands(&loaded.plan, loaded.plan.end)),
            ("south-lifts".to_owned(), stands(&variant_plan, variant_plan.end)),
        ],
    )
    .expect("sunlight report");
    assert!(!report.windows.is_empty());
    // The south shafts shade the south windows beside them; the base plan's north shafts shade
    // the south windows of the row behind, which get that sun back in the variant.
    let lost: Vec<_> = report
        .windows
        .iter()
        .filter_map(|w| match (w.hours[1], w.hours[2]) {
            (Some(base), Some(variant)) if variant + 0.05 < base => Some((w.global_id.clone(), base, variant)),
            _ => None,
        })
        .collect();
    assert!(!lost.is_empty(), "the south-side shafts take sun from some windows");
    let gained = report.windows.iter().filter(|w| matches!((w.hours[1], w.hours[2]), (Some(b), Some(v)) if v > b + 0.05)).count();
    assert!(gained > 0, "windows of the row behind no longer shaded by the north shafts");
    assert_eq!(report.below_standard.len(), 3, "a count per state");

    // The phase and risk layers of the variant: the absent shafts carry no value.
    let layer = renewtwin_twin::layers::risk_layer(model, &variant_plan, variant_plan.end);
    let north: Vec<usize> = lifts(model).into_iter().filter(|&i| i < model.sources[1].first_element).collect();
    for i in north {
        assert_eq!(layer.values[i], renewtwin_twin::layers::NO_VALUE, "absent shaft {i} has no risk value");
    }
}

#[test]
fn a_scenario_model_is_validated_with_file_line_and_field() {
    let text = "name = \"x\"\nstart = \"2026-01-01\"\n[[models]]\ngenerate = { kind = \"district\", buildings = 1 }\n\
[[scenarios]]\nname = \"v\"\nmodels = [{ generate = { kind = \"lifts\", buildings = 1, side = \"west\" } }]\n";
    let err = Manifest::parse("scene.toml", text).expect_err("an unknown side");
    let msg = err.to_string();
    assert!(msg.contains("scene.toml") && msg.contains("scenarios[0].models[0].generate.side") && msg.contains("west"), "{msg}");
    let text = "name = \"x\"\nstart = \"2026-01-01\"\n[[models]]\ngenerate = { kind = \"district\", buildings = 1 }\n\
[[scenarios]]\nname = \"v\"\nmodels = [{ path = \"a.ifc\", replaces = { property = { \"NoDot\" = 1 } } }]\n";
    let msg = Manifest::parse("scene.toml", text).expect_err("a bad selector").to_string();
    assert!(msg.contains("scenarios[0].models[0].replaces"), "{msg}");
    let ok = "name = \"x\"\nstart = \"2026-01-01\"\n[[models]]\ngenerate = { kind = \"district\", buildings = 1 }\n\
[[scenarios]]\nname = \"v\"\nmodels = [{ path = \"north.ifc\" }, { generate = { kind = \"lifts\", buildings = 1, side = \"south\" } }]\n";
    let m = Manifest::parse("scene.toml", ok).expect("valid");
    assert_eq!(m.all_models().len(), 3);
    assert_eq!(m.variant_of(), vec![None, Some(0), Some(0)]);
}
