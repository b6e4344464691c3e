//! The default scene end to end: a 3-building district from `renewtwin-generator`, imported.
//! Walls, windows and slabs get meshes, windows' host walls have their openings cut, storeys
//! exist and property sets are read.

use std::collections::{HashMap, HashSet};

use renewtwin_generator::{DistrictConfig, district_ifc};
use renewtwin_importers::{
    DiagnosticKind, ImportConfig, Model, PropertyValue, SpatialKind, import_bytes,
};

fn district() -> (String, Model) {
    let config = DistrictConfig {
        buildings: 3,
        seed: 7,
        ..DistrictConfig::default()
    };
    let text = district_ifc(&config);
    let model = match import_bytes("district.ifc", text.as_bytes(), &ImportConfig::default()) {
        Ok(model) => model,
        Err(err) => panic!("the generated district does not import: {err}"),
    };
    (text, model)
}

/// `#id=KEYWORD(args);` records of one keyword, as their top-level `#ref` arguments.
fn relations(text: &str, keyword: &str) -> Vec<Vec<u32>> {
    let needle = format!("={keyword}(");
    text.lines()
        .filter_map(|line| {
            let at = line.find(&needle)?;
            let args = &line[at + needle.len()..];
            Some(
                args.split([',', '(', ')', ';'])
                    .filter_map(|a| a.trim().strip_prefix('#')?.parse().ok())
                    .collect(),
            )
        })
        .collect()
}

#[test]
fn walls_windows_and_slabs_have_meshes() {
    let (_, model) = district();
    let mut by_class: HashMap<&str, (usize, usize)> = HashMap::new();
    for e in &model.elements {
        let c = by_class.entry(e.class).or_default();
        c.0 += 1;
        c.1 += usize::from(!e.placements.is_empty());
    }
    for class in ["IfcWall", "IfcWindow", "IfcSlab"] {
        let (count, with_mesh) = by_class.get(class).copied().unwrap_or_default();
        assert!(count > 0, "no {class} in {by_class:?}");
        assert_eq!(
            with_mesh, count,
            "{class}: only {with_mesh} of {count} have a mesh"
        );
    }
    let missing: Vec<_> = model
        .diagnostics
        .iter()
        .filter(|d| d.kind == DiagnosticKind::GeometryMissing)
        .collect();
    assert!(missing.is_empty(), "{missing:?}");
    let bbox = model.bbox();
    assert!(bbox.to_array().iter().all(|v| v.is_finite()) && !bbox.is_empty());
}

#[test]
fn windows_host_walls_have_their_openings_cut() {
    let (text, model) = district();
    // IfcRelFillsElement: (opening, window); IfcRelVoidsElement: (host, opening).
    let filled: HashSet<u32> = relations(&text, "IFCRELFILLSELEMENT")
        .iter()
        .filter_map(|refs| refs.first().copied())
        .collect();
    let hosts: HashSet<u32> = relations(&text, "IFCRELVOIDSELEMENT")
        .iter()
        .filter(|refs| refs.len() >= 2 && filled.contains(&refs[refs.len() - 1]))
        .map(|refs| refs[refs.len() - 2])
        .collect();
    let walls: Vec<_> = model
        .elements
        .iter()
        .filter(|e| hosts.contains(&e.step_id) && e.class == "IfcWall")
        .collect();
    assert!(!walls.is_empty(), "no wall hosts a window");
    for wall in walls {
        let triangles: usize = wall
            .placements
            .iter()
            .map(|p| model.meshes[p.mesh.0 as usize].triangle_count())
            .sum();
        assert!(
            triangles > 12,
            "wall #{} hosts windows but is a plain box ({triangles} triangles)",
            wall.step_id
        );
    }
    let not_cut: Vec<_> = model
        .diagnostics
        .iter()
        .filter(|d| d.kind == DiagnosticKind::OpeningNotCut)
        .collect();
    assert!(not_cut.is_empty(), "{not_cut:?}");
}

#[test]
fn storeys_exist_and_contain_walls() {
    let (_, model) = district();
    assert_eq!(
        model
            .spatial
            .iter()
            .filter(|n| n.kind == SpatialKind::Building)
            .count(),
        3
    );
    assert!(
        model.storey_count() >= 3 * 5,
        "{} storeys",
        model.storey_count()
    );
    let storeys: HashSet<usize> = model
        .spatial
        .iter()
        .enumerate()
        .filter(|(_, n)| n.kind == SpatialKind::Storey)
        .map(|(i, _)| i)
        .collect();
    let walls = model.elements.iter().filter(|e| e.class == "IfcWall");
    for wall in walls {
        assert!(
            wall.container.is_some_and(|c| storeys.contains(&c)),
            "wall #{} is not in a storey",
            wall.step_id
        );
    }
    for (i, node) in model.spatial.iter().enumerate() {
        assert!(
            node.parent.is_none_or(|p| p < i),
            "node {i} comes before its parent"
        );
    }
}

#[test]
fn property_sets_are_read() {
    let (_, model) = district();
    let external = model
        .elements
        .iter()
        .filter(|e| e.class == "IfcWall")
        .filter(|e| e.property("Pset_WallCommon", "IsExternal") == Some(&PropertyValue::Bool(true)))
        .count();
    assert!(
        external > 0,
        "no wall reads Pset_WallCommon.IsExternal = true"
    );
    assert!(model.elements.iter().any(|e| {
        e.class == "IfcWindow"
            && e.property_sets
                .iter()
                .any(|p| p.name == "Pset_WindowCommon")
    }));
}
