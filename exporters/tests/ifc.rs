//! The IFC4 export of the default scene read back through our own importer: the same elements
//! (GlobalId, class, name, storey), each element's `Status`, and the plan's tasks with the same
//! elements (an `ifc_task` selector picks them); and IfcOpenShell's schema validation (PyPI
//! `ifcopenshell`, installed by `scripts/setup.sh --test`; skipped with the reason when absent,
//! required under `RENEWTWIN_REQUIRE_VALIDATORS=1`).

use renewtwin_exporters::gltf::Scene;
use renewtwin_exporters::ifc;
use renewtwin_importers::{ImportConfig, PropertyValue};
use renewtwin_twin::renewal::LoadedScene;

fn default_scene() -> LoadedScene {
    let manifest =
        renewtwin_twin::scene::Manifest::parse("default", renewtwin_twin::scene::DEFAULT_MANIFEST)
            .expect("the default manifest parses");
    LoadedScene::from_manifest(manifest, None, None, &ImportConfig::default())
        .expect("the default scene loads")
}

fn storey(model: &renewtwin_importers::Model, e: renewtwin_importers::ElementRef<'_>) -> Option<String> {
    let mut at = e.container;
    while let Some(i) = at {
        let n = &model.spatial[i];
        if n.kind == renewtwin_importers::SpatialKind::Storey {
            return Some(n.global_id.clone());
        }
        at = n.parent;
    }
    None
}

#[test]
fn the_model_and_plan_re_import_with_the_same_elements_status_and_tasks() {
    let loaded = default_scene();
    let scene = Scene {
        manifest: &loaded.manifest,
        model: &loaded.model,
        plan: &loaded.plan,
    };
    let mut bytes = Vec::new();
    let mut last = None;
    let stats = ifc::write_ifc(&scene, "default.ifc", &mut bytes, |done, total| {
        last = Some((done, total))
    })
    .expect("the export writes");
    // The base plan's design: the default scene's south-lifts variant is absent from it and
    // not written.
    let present: Vec<usize> = (0..loaded.model.elements.len())
        .filter(|&i| loaded.plan.schedules[i].state_on(0) != renewtwin_protocol::LifecycleState::Absent)
        .collect();
    assert!(present.len() < loaded.model.elements.len(), "the variant's shafts are absent from the base plan");
    assert_eq!(
        last,
        Some((present.len(), present.len())),
        "progress ends at the whole"
    );
    assert_eq!(
        stats.proxied, 0,
        "every class of the default scene is written as itself"
    );
    assert_eq!(stats.tasks, loaded.plan.tasks.len());
    let back = renewtwin_importers::import_bytes("default.ifc", &bytes, &ImportConfig::default())
        .expect("our importer reads the export");
    let before = &loaded.model;
    assert_eq!(
        back.elements.len(),
        present.len(),
        "the same elements"
    );
    for (a, b) in present.iter().map(|&i| before.elements.at(i)).zip(&back.elements) {
        assert_eq!(
            (&a.global_id, &a.class, &a.name),
            (&b.global_id, &b.class, &b.name)
        );
        assert_eq!(
            storey(before, a),
            storey(&back, b),
            "{} stays on its storey",
            a.global_id
        );
        assert_eq!(
            a.placements.is_empty(),
            b.placements.is_empty(),
            "{} keeps its geometry",
            a.global_id
        );
    }
    // Status: NEW for what the plan builds, DEMOLISH for what it takes down.
    let status = |e: &renewtwin_importers::ElementRef<'_>| {
        e.property_sets
            .iter()
            .flat_map(|p| &p.properties)
            .find(|p| p.name == "Status")
            .map(|p| match &p.value {
                PropertyValue::Text(t) => t.clone(),
                other => format!("{other:?}"),
            })
    };
    let count = |want: &str| {
        back.elements
            .iter()
            .filter(|e| status(e).as_deref() == Some(want))
            .count()
    };
    assert!(
        back.elements.iter().all(|e| status(&e).is_some()),
        "every element has a Status"
    );
    assert!(
        count("NEW") > 0 && count("DEMOLISH") > 0 && count("EXISTING") > 0,
        "NEW {} DEMOLISH {} EXISTING {}",
        count("NEW"),
        count("DEMOLISH"),
        count("EXISTING")
    );
    // The variant's elements come last (after the base model's), so the written elements keep
    // their indices.
    assert_eq!(present, (0..present.len()).collect::<Vec<_>>());
    let lifts: Vec<usize> = present
        .iter()
        .copied()
        .filter(|&i| before.elements.at(i).class == "IfcTransportElement")
        .collect();
    assert!(
        !lifts.is_empty()
            && lifts
                .iter()
                .all(|&i| status(&back.elements.at(i)).as_deref() == Some("NEW")),
        "the new lifts are NEW"
    );

    // The plan: one schedule, a task per planned task, each with the elements its selector picked.
    assert_eq!(back.schedules.len(), 1);
    let tasks = &back.schedules[0].tasks;
    assert_eq!(tasks.len(), loaded.plan.tasks.len());
    let specs = loaded.manifest.tasks_for(None);
    for window in &loaded.plan.tasks {
        let project = &loaded.manifest.projects[window.project];
        let ident = format!("{}/{}", project.id, window.id);
        let task = tasks
            .iter()
            .find(|t| t.identification.as_deref() == Some(ident.as_str()))
            .unwrap_or_else(|| panic!("task {ident}"));
        let (_, spec) = specs
            .iter()
            .find(|(p, t)| *p == window.project && t.id == window.id)
            .expect("its spec");
        let picked: Vec<usize> = present
            .iter()
            .copied()
            .filter(|&i| renewtwin_twin::renewal::plan::selects(&spec.select, before, i))
            .collect();
        assert_eq!(task.products, picked, "{ident}: the same elements");
        // An ifc_task selector over the re-imported model picks them again.
        let selector = renewtwin_twin::manifest::Selector {
            ifc_tasks: vec![ident.clone()],
            ..Default::default()
        };
        let again: Vec<usize> = (0..back.elements.len())
            .filter(|&i| renewtwin_twin::renewal::plan::selects(&selector, &back, i))
            .collect();
        assert_eq!(again, picked, "{ident}: ifc_task selects the same elements");
        if let (Some(a), Some(b)) = (window.start, window.end) {
            let date = |d: i32| {
                renewtwin_protocol::CivilDate::from_sim_day(
                    loaded.manifest.start,
                    renewtwin_protocol::SimDay(d),
                )
                .to_string()
            };
            assert!(
                task.start
                    .as_ref()
                    .is_some_and(|t| t.iso.starts_with(&date(a))),
                "{ident} starts {}: {:?}",
                date(a),
                task.start
            );
            assert!(
                task.finish
                    .as_ref()
                    .is_some_and(|t| t.iso.starts_with(&date(b))),
                "{ident} finishes {}",
                date(b)
            );
        }
    }
    validate(&bytes);
}

/// IfcOpenShell opens the file and its schema validation reports nothing.
fn validate(bytes: &[u8]) {
    let required = std::env::var_os("RENEWTWIN_REQUIRE_VALIDATORS").is_some_and(|v| v == "1");
    let python = std::env::var_os("RENEWTWIN_PY_CACHE")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            let base = std::env::var_os("XDG_CACHE_HOME")
                .map(std::path::PathBuf::from)
                .or_else(|| {
                    std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".cache"))
                })?;
            Some(base.join("renewtwin/python"))
        })
        .map(|d| d.join("bin/python3"));
    let usable = python.filter(|p| {
        std::process::Command::new(p)
            .args(["-c", "import ifcopenshell.validate"])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    let Some(python) = usable else {
        assert!(
            !required,
            "RENEWTWIN_REQUIRE_VALIDATORS=1 but ifcopenshell is not installed (scripts/setup.sh --test)"
        );
        eprintln!(
            "skipped IfcOpenShell's validation: ifcopenshell is not installed (scripts/setup.sh --test installs it)"
        );
        return;
    };
    let dir = std::env::temp_dir().join(format!("renewtwin-ifc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("export.ifc");
    std::fs::write(&file, bytes).expect("write");
    let out = std::process::Command::new(python)
        .args(["-m", "ifcopenshell.validate"])
        .arg(&file)
        .output()
        .expect("run the validator");
    let _ = std::fs::remove_dir_all(&dir);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.contains("No validation issues found"),
        "IfcOpenShell's validation reports:\n{}",
        &text[..text.floor_char_boundary(4000)]
    );
}
