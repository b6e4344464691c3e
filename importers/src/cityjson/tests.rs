//! CityJSON import on small hand-written files.

use super::*;
use crate::{DiagnosticKind, ImportConfig, Importer, Model, PropertyValue, import_bytes};

fn import(text: &str) -> Model {
    CityJsonImporter::default()
        .import_bytes("test.city.json", text.as_bytes(), &ImportConfig::default())
        .expect("imports")
}

fn triangles(model: &Model) -> usize {
    model.placed_triangles() as usize
}

/// The area of every placed triangle, summed.
fn placed_area(model: &Model) -> f64 {
    let mut area = 0.0;
    for p in model.elements.iter().flat_map(|e| e.placements) {
        let mesh = &model.meshes[p.mesh.0 as usize];
        let v = |i: u32| {
            let i = i as usize * 3;
            [
                f64::from(mesh.positions[i]),
                f64::from(mesh.positions[i + 1]),
                f64::from(mesh.positions[i + 2]),
            ]
        };
        for t in mesh.indices.chunks_exact(3) {
            let c = crate::geo::mesh::cross(
                crate::geo::mesh::sub(v(t[1]), v(t[0])),
                crate::geo::mesh::sub(v(t[2]), v(t[0])),
            );
            area += crate::geo::mesh::dot(c, c).sqrt() / 2.0;
        }
    }
    area
}

fn text(model: &Model, element: usize, pset: &str, name: &str) -> Option<String> {
    match model.elements.at(element).property(pset, name) {
        Some(PropertyValue::Text(s)) => Some(s.clone()),
        _ => None,
    }
}

/// A 1 m cube in CityJSON 1.1 with a transform and semantic surfaces.
const CUBE_1_1: &str = r#"{
  "type": "CityJSON", "version": "1.1",
  "transform": { "scale": [0.001, 0.001, 0.001], "translate": [85000.2, 447000.7, 5.0] },
  "metadata": { "referenceSystem": "https://www.opengis.net/def/crs/EPSG/0/7415" },
  "CityObjects": {
    "cube": {
      "type": "Building",
      "attributes": { "yearOfConstruction": 1923, "function": "residential", "measuredHeight": 1.0 },
      "geometry": [{
        "type": "Solid", "lod": "2",
        "boundaries": [[
          [[0, 3, 2, 1]], [[4, 5, 6, 7]],
          [[0, 1, 5, 4]], [[1, 2, 6, 5]], [[2, 3, 7, 6]], [[3, 0, 4, 7]]
        ]],
        "semantics": {
          "surfaces": [{ "type": "GroundSurface" }, { "type": "RoofSurface" }, { "type": "WallSurface" }],
          "values": [[0, 1, 2, 2, 2, 2]]
        }
      }]
    }
  },
  "vertices": [
    [0, 0, 0], [1000, 0, 0], [1000, 1000, 0], [0, 1000, 0],
    [0, 0, 1000], [1000, 0, 1000], [1000, 1000, 1000], [0, 1000, 1000]
  ]
}"#;

#[test]
fn the_transform_puts_a_cube_at_its_real_coordinates_in_metres() {
    let model = import(CUBE_1_1);
    assert_eq!(
        model.origin,
        [85000.0, 447001.0, 0.0],
        "origin is the translation rounded"
    );
    let bb = model.bbox();
    let expect_min = [0.2, -0.3, 5.0];
    for (i, min) in expect_min.iter().enumerate() {
        assert!((bb.min[i] - min).abs() < 1e-4, "{:?}", bb);
        assert!((bb.max[i] - (min + 1.0)).abs() < 1e-4, "{:?}", bb);
    }
    assert_eq!(triangles(&model), 12);
    assert!((placed_area(&model) - 6.0).abs() < 1e-4);
    let crs = model
        .georef
        .as_ref()
        .and_then(|g| g.map_conversion.as_ref())
        .and_then(|m| m.target_crs.clone());
    assert_eq!(crs.as_deref(), Some("EPSG:7415"));
    assert_eq!(model.source.schema, "CityJSON 1.1");
}

#[test]
fn semantic_surfaces_become_one_mesh_each_listed_in_the_property_set() {
    let model = import(CUBE_1_1);
    let cube = model.elements.at(0);
    assert_eq!(cube.class, "IfcBuildingElementProxy");
    assert_eq!(cube.global_id, "cube");
    assert_eq!(cube.placements.len(), 3);
    assert_eq!(
        text(&model, 0, "CityJSON", "surfaces").as_deref(),
        Some("GroundSurface,RoofSurface,WallSurface")
    );
    assert_eq!(
        text(&model, 0, "CityJSON", "type").as_deref(),
        Some("Building")
    );
    assert_eq!(text(&model, 0, "CityJSON", "lod").as_deref(), Some("2"));
    let tri = |i: usize| model.meshes[cube.placements[i].mesh.0 as usize].triangle_count();
    assert_eq!((tri(0), tri(1), tri(2)), (2, 2, 8));
    // The roof faces up, the ground down.
    let roof = &model.meshes[cube.placements[1].mesh.0 as usize];
    assert!(
        roof.normals
            .chunks_exact(3)
            .all(|n| (n[2] - 1.0).abs() < 1e-6)
    );
    let ground = &model.meshes[cube.placements[0].mesh.0 as usize];
    assert!(
        ground
            .normals
            .chunks_exact(3)
            .all(|n| (n[2] + 1.0).abs() < 1e-6)
    );
    assert_eq!(
        cube.property("CityJSON attributes", "yearOfConstruction"),
        Some(&PropertyValue::Integer(1923))
    );
    assert_eq!(
        cube.property("CityJSON attributes", "measuredHeight"),
        Some(&PropertyValue::Real(1.0))
    );
}

#[test]
fn a_cityjson_2_0_surface_with_a_hole_is_triangulated_around_it() {
    let model = import(
        r#"{ "type": "CityJSON", "version": "2.0",
             "transform": { "scale": [1.0, 1.0, 1.0], "translate": [0, 0, 0] },
             "CityObjects": { "square": { "type": "LandUse", "geometry": [{
               "type": "MultiSurface", "lod": "1",
               "boundaries": [[[0, 1, 2, 3], [4, 5, 6, 7]]] }] } },
             "vertices": [[0,0,0],[10,0,0],[10,10,0],[0,10,0],[3,3,0],[3,7,0],[7,7,0],[7,3,0]] }"#,
    );
    assert_eq!(model.elements.at(0).class, "IfcGeographicElement");
    assert_eq!(triangles(&model), 8);
    assert!(
        (placed_area(&model) - 84.0).abs() < 1e-6,
        "{}",
        placed_area(&model)
    );
    assert_eq!(model.source.schema, "CityJSON 2.0");
}

const TWO_LODS: &str = r#"{ "type": "CityJSON", "version": "2.0",
  "transform": { "scale": [1, 1, 1], "translate": [0, 0, 0] },
  "CityObjects": { "b": { "type": "Building", "geometry": [
    { "type": "MultiSurface", "lod": "1", "boundaries": [[[0, 1, 2]]] },
    { "type": "MultiSurface", "lod": "2.2", "boundaries": [[[0, 1, 2]], [[0, 2, 3]]] } ] } },
  "vertices": [[0,0,0],[1,0,0],[1,1,0],[0,1,0]] }"#;

#[test]
fn the_highest_lod_is_meshed_by_default_and_another_on_request() {
    let model = import(TWO_LODS);
    assert_eq!(triangles(&model), 2);
    assert_eq!(text(&model, 0, "CityJSON", "lod").as_deref(), Some("2.2"));
    let pick = |lod: LodChoice| {
        let importer = CityJsonImporter {
            options: CityJsonOptions {
                lod,
                assume_crs: None,
            },
        };
        importer
            .import_bytes("t", TWO_LODS.as_bytes(), &ImportConfig::default())
            .expect("imports")
    };
    assert_eq!(triangles(&pick(LodChoice::Lowest)), 1);
    assert_eq!(triangles(&pick(LodChoice::Exact("1".to_owned()))), 1);
    let fallback = pick(LodChoice::Exact("3".to_owned()));
    assert_eq!(
        triangles(&fallback),
        2,
        "a missing lod falls back to the highest"
    );
    assert!(
        fallback
            .diagnostics
            .iter()
            .any(|d| d.message.contains("requested lod"))
    );
}

#[test]
fn a_building_with_parts_is_a_spatial_node_containing_them() {
    let model = import(
        r#"{ "type": "CityJSON", "version": "2.0",
             "transform": { "scale": [1, 1, 1], "translate": [0, 0, 0] },
             "CityObjects": {
               "house": { "type": "Building", "attributes": { "name": "Huis" }, "children": ["part"] },
               "part": { "type": "BuildingPart", "parents": ["house"], "geometry": [
                 { "type": "MultiSurface", "lod": "1", "boundaries": [[[0, 1, 2]]] } ] } },
             "vertices": [[0,0,0],[1,0,0],[1,1,0]] }"#,
    );
    assert_eq!(
        model.elements.len(),
        1,
        "the building without geometry is only a container"
    );
    let node = model.elements.at(0).container.expect("contained");
    assert_eq!(model.spatial[node].class, "IfcBuilding");
    assert_eq!(model.spatial[node].name.as_deref(), Some("Huis"));
    assert_eq!(model.spatial[node].parent, Some(1), "under the site");
    assert_eq!(model.spatial[1].class, "IfcSite");
    assert_eq!(
        text(&model, 0, "CityJSON", "parent").as_deref(),
        Some("house")
    );
}

#[test]
fn the_class_table_maps_city_types_to_physical_ifc_classes() {
    assert_eq!(ifc_class("Building"), ("IfcBuildingElementProxy", true));
    assert_eq!(ifc_class("BuildingPart"), ("IfcBuildingElementProxy", true));
    assert_eq!(ifc_class("Road"), ("IfcCivilElement", true));
    assert_eq!(ifc_class("Bridge"), ("IfcCivilElement", true));
    assert_eq!(ifc_class("PlantCover"), ("IfcGeographicElement", true));
    assert_eq!(ifc_class("LandUse"), ("IfcGeographicElement", true));
    assert_eq!(ifc_class("WaterBody"), ("IfcGeographicElement", true));
    assert_eq!(
        ifc_class("GenericCityObject"),
        ("IfcBuildingElementProxy", true)
    );
    assert_eq!(
        ifc_class("+NoiseBarrier"),
        ("IfcBuildingElementProxy", false)
    );
}

#[test]
fn a_geometry_template_is_meshed_once_and_placed_per_instance() {
    let model = import(
        r#"{ "type": "CityJSON", "version": "2.0",
             "transform": { "scale": [1, 1, 1], "translate": [0, 0, 0] },
             "geometry-templates": {
               "templates": [{ "type": "MultiSurface", "lod": "2", "boundaries": [[[0, 1, 2]]] }],
               "vertices-templates": [[0,0,0],[1,0,0],[0,1,0]] },
             "CityObjects": {
               "tree1": { "type": "SolitaryVegetationObject", "geometry": [{ "type": "GeometryInstance",
                 "template": 0, "boundaries": [0],
                 "transformationMatrix": [2,0,0,0, 0,2,0,0, 0,0,2,0, 0,0,0,1] }] },
               "tree2": { "type": "SolitaryVegetationObject", "geometry": [{ "type": "GeometryInstance",
                 "template": 0, "boundaries": [1],
                 "transformationMatrix": [1,0,0,0, 0,1,0,0, 0,0,1,0, 0,0,0,1] }] } },
             "vertices": [[10, 20, 0], [30, 40, 0]] }"#,
    );
    assert_eq!(model.meshes.len(), 1);
    let t1 = &model.elements.at(0).placements[0].transform;
    let t2 = &model.elements.at(1).placements[0].transform;
    assert_eq!(
        model.elements.at(0).placements[0].mesh,
        model.elements.at(1).placements[0].mesh
    );
    assert_eq!((t1[0], t1[12], t1[13]), (2.0, 10.0, 20.0));
    assert_eq!((t2[0], t2[12], t2[13]), (1.0, 30.0, 40.0));
    assert_eq!(text(&model, 0, "CityJSON", "lod").as_deref(), Some("2"));
    let bb = model.bbox();
    assert_eq!((bb.min[0], bb.max[0]), (10.0, 31.0));
}

#[test]
fn bad_rings_unknown_types_and_wrong_nesting_are_diagnostics_naming_the_object() {
    let model = import(
        r#"{ "type": "CityJSON", "version": "2.0",
             "transform": { "scale": [1, 1, 1], "translate": [0, 0, 0] },
             "CityObjects": {
               "bad-index": { "type": "Building", "geometry": [
                 { "type": "MultiSurface", "lod": "1", "boundaries": [[[0, 1, 99]], [[0, 1, 2]]] } ] },
               "short-ring": { "type": "Road", "geometry": [
                 { "type": "MultiSurface", "lod": "1", "boundaries": [[[0, 1]]] } ] },
               "wrong-nesting": { "type": "Building", "geometry": [
                 { "type": "Solid", "lod": "1", "boundaries": [[0, 1, 2]] } ] },
               "strange": { "type": "Spaceport", "geometry": [] },
               "no-type": { "geometry": [] },
               "orphan": { "type": "BuildingPart", "parents": ["nobody"] } },
             "vertices": [[0,0,0],[1,0,0],[1,1,0], ["x", 1, 2]] }"#,
    );
    let has = |needle: &str, kind: DiagnosticKind| {
        model
            .diagnostics
            .iter()
            .any(|d| d.kind == kind && d.message.contains(needle))
    };
    assert!(
        has(
            "bad-index: 1 of 2 surfaces skipped",
            DiagnosticKind::GeometryRepaired
        ),
        "{:#?}",
        model.diagnostics
    );
    assert!(has(
        "vertex index 99 is out of range",
        DiagnosticKind::GeometryRepaired
    ));
    assert!(has("short-ring", DiagnosticKind::GeometryMissing));
    assert!(has("wrong-nesting", DiagnosticKind::GeometryRepaired));
    assert!(has("\"Spaceport\"", DiagnosticKind::Other));
    assert!(has("no-type", DiagnosticKind::MalformedRecord));
    assert!(has(
        "parent nobody does not exist",
        DiagnosticKind::DanglingReference
    ));
    assert!(has(
        "1 vertices are not three finite numbers",
        DiagnosticKind::BadAttribute
    ));
    assert_eq!(
        triangles(&model),
        1,
        "the good surface of bad-index survives"
    );
    assert_eq!(
        model
            .elements
            .iter()
            .find(|e| e.global_id == "strange")
            .map(|e| e.class),
        Some("IfcBuildingElementProxy")
    );
}

#[test]
fn unreadable_files_are_errors_naming_the_problem() {
    let importer = CityJsonImporter::default();
    let config = ImportConfig::default();
    let err = importer
        .import_bytes("broken.json", b"{ \"type\": \"CityJSON\", ", &config)
        .expect_err("broken");
    assert!(
        err.to_string()
            .contains("broken.json: not a readable CityJSON file: invalid JSON at line 1"),
        "{err}"
    );
    let err = importer
        .import_bytes("x.json", br#"{"type":"CityJSON"}"#, &config)
        .expect_err("no objects");
    assert!(err.to_string().contains("no \"CityObjects\""), "{err}");
    let err = importer
        .import_bytes("x.json", br#"[1, 2]"#, &config)
        .expect_err("array");
    assert!(err.to_string().contains("not a JSON object"), "{err}");
}

#[test]
fn import_bytes_finds_cityjson_even_when_type_comes_last() {
    let text = r#"{"CityObjects": {}, "vertices": [], "version": "2.0", "type": "CityJSON"}"#;
    assert!(!CityJsonImporter::default().sniff(b"{\"features\": []}"));
    let model =
        import_bytes("tile.json", text.as_bytes(), &ImportConfig::default()).expect("dispatched");
    assert_eq!(model.source.schema, "CityJSON 2.0");
    let err = import_bytes(
        "other.json",
        br#"{"type": "Topology"}"#,
        &ImportConfig::default(),
    )
    .expect_err("unknown");
    assert!(
        err.to_string().contains("neither CityJSON nor GeoJSON"),
        "{err}"
    );
}

#[test]
fn semantics_only_import_keeps_objects_without_meshes() {
    let config = ImportConfig {
        geometry: false,
        ..ImportConfig::default()
    };
    let model = CityJsonImporter::default()
        .import_bytes("t", CUBE_1_1.as_bytes(), &config)
        .expect("imports");
    assert_eq!(model.elements.len(), 1);
    assert!(model.meshes.is_empty());
}

#[test]
fn a_parent_cycle_is_cut_with_a_diagnostic() {
    let model = import(
        r#"{ "type": "CityJSON", "version": "2.0",
             "transform": { "scale": [1, 1, 1], "translate": [0, 0, 0] },
             "CityObjects": {
               "a": { "type": "Building", "parents": ["b"], "children": ["b"] },
               "b": { "type": "BuildingPart", "parents": ["a"], "children": ["a"] } },
             "vertices": [] }"#,
    );
    assert!(
        model
            .diagnostics
            .iter()
            .any(|d| d.kind == DiagnosticKind::DanglingReference
                && d.message.contains("nest deeper than"))
    );
    for (i, node) in model.spatial.iter().enumerate() {
        assert!(
            node.parent.is_none_or(|p| p < i),
            "parents come before children"
        );
    }
}
