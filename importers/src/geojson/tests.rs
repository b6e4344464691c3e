//! GeoJSON import on small hand-written files.

use super::*;
use crate::geo::mesh::{cross, dot, sub};
use crate::{ImportConfig, Importer, Model, import_bytes};

fn import(text: &str) -> Model {
    GeoJsonImporter::default()
        .import_bytes("test.geojson", text.as_bytes(), &ImportConfig::default())
        .expect("imports")
}

fn element_bbox(model: &Model, element: usize) -> crate::Aabb {
    let mut one = model.clone();
    one.elements = vec![model.elements.at(element).to_element()].into();
    one.bbox()
}

/// Every triangle winds counter-clockwise around its vertices' normals (outward faces).
fn assert_winding_follows_normals(model: &Model) {
    for (m, mesh) in model.meshes.iter().enumerate() {
        let v = |i: u32| {
            let i = i as usize * 3;
            [
                f64::from(mesh.positions[i]),
                f64::from(mesh.positions[i + 1]),
                f64::from(mesh.positions[i + 2]),
            ]
        };
        let n = |i: u32| {
            let i = i as usize * 3;
            [
                f64::from(mesh.normals[i]),
                f64::from(mesh.normals[i + 1]),
                f64::from(mesh.normals[i + 2]),
            ]
        };
        for t in mesh.indices.chunks_exact(3) {
            let g = cross(sub(v(t[1]), v(t[0])), sub(v(t[2]), v(t[0])));
            let sum = [
                n(t[0])[0] + n(t[1])[0] + n(t[2])[0],
                n(t[0])[1] + n(t[1])[1] + n(t[2])[1],
                n(t[0])[2] + n(t[1])[2] + n(t[2])[2],
            ];
            assert!(
                dot(g, sum) > 0.0,
                "mesh {m}: triangle {t:?} winds against its normals"
            );
        }
    }
}

/// Hand-computed: 0.001° of latitude at 48.2005° N is `M·Δφ` with the meridian radius
/// `M = a(1−e²)/(1−e² sin²φ)^{3/2}` = 6 370 960 m, i.e. 111.194 m.
#[test]
fn points_are_markers_placed_in_metres_around_the_file_centre() {
    let model = import(
        r#"{ "type": "FeatureCollection", "features": [
             { "type": "Feature", "id": 7, "geometry": { "type": "Point", "coordinates": [16.37, 48.2] },
               "properties": { "name": "PV south", "LEISTUNG": 5.7, "note": null } },
             { "type": "Feature", "geometry": { "type": "Point", "coordinates": [16.37, 48.201] },
               "properties": {} } ] }"#,
    );
    assert_eq!(model.elements.len(), 2);
    assert_eq!(model.meshes.len(), 1, "one shared marker mesh");
    let a = model.elements.at(0);
    assert_eq!(a.class, "IfcBuildingElementProxy");
    assert_eq!(a.global_id, "7");
    assert_eq!(a.name, Some("PV south"));
    assert_eq!(
        a.property("GeoJSON", "LEISTUNG"),
        Some(&PropertyValue::Real(5.7))
    );
    assert_eq!(a.property("GeoJSON", "note"), None, "nulls are dropped");
    assert_eq!(
        a.property("GeoJSON geometry", "kind"),
        Some(&PropertyValue::Text("marker".to_owned()))
    );
    assert_eq!(model.elements.at(1).global_id, "feature-1");
    let (p, q) = (
        a.placements[0].transform,
        model.elements.at(1).placements[0].transform,
    );
    assert!(
        (q[13] - p[13] - 111.194).abs() < 0.005,
        "{} m north",
        q[13] - p[13]
    );
    assert!((q[12] - p[12]).abs() < 1e-6);
    assert!(
        (p[13] + 55.597).abs() < 0.005,
        "the origin is the centre of the two: {}",
        p[13]
    );
    let site = model
        .georef
        .as_ref()
        .and_then(|g| g.site_location)
        .expect("site location");
    assert!((site.latitude - 48.2005).abs() < 1e-9 && (site.longitude - 16.37).abs() < 1e-9);
    let bb = element_bbox(&model, 0);
    assert!(
        (bb.max[2] - bb.min[2] - 1.0).abs() < 1e-6,
        "markers are 1 m tall"
    );
    assert_winding_follows_normals(&model);
}

#[test]
fn a_line_with_a_diameter_is_a_pipe_of_that_diameter() {
    let model = import(
        r#"{ "type": "Feature", "properties": { "diameter_mm": 400, "depth": 1.5 },
             "geometry": { "type": "LineString", "coordinates": [[16.37, 48.2], [16.371, 48.2], [16.371, 48.2005]] } }"#,
    );
    let pipe = model.elements.at(0);
    assert_eq!(pipe.class, "IfcPipeSegment");
    assert_eq!(
        pipe.property("GeoJSON geometry", "diameter"),
        Some(&PropertyValue::Real(0.4))
    );
    assert_eq!(
        pipe.property("GeoJSON geometry", "diameter_from"),
        Some(&PropertyValue::Text("diameter_mm".to_owned()))
    );
    let bb = model.bbox();
    assert!((bb.max[2] - bb.min[2] - 0.4).abs() < 1e-3, "{bb:?}");
    assert!(
        ((bb.max[2] + bb.min[2]) / 2.0 + 1.5).abs() < 1e-3,
        "centre at the depth: {bb:?}"
    );
    // 0.001° of longitude at 48.2° N is 3.6 × 20.649 = 74.336 m; the start is capped flat,
    // the northbound end adds the radius.
    assert!(
        (bb.max[0] - bb.min[0] - 74.336 - 0.2).abs() < 0.01,
        "{bb:?}"
    );
    assert_winding_follows_normals(&model);
}

#[test]
fn pipe_diameters_follow_their_units() {
    let d = |props: &str| {
        let v: Value = serde_json::from_str(props).expect("json");
        pipe_diameter(&Props(v.as_object())).value
    };
    assert!((d(r#"{"DN": 150}"#) - 0.15).abs() < 1e-12);
    assert!((d(r#"{"diameter": 0.6}"#) - 0.6).abs() < 1e-12);
    assert!(
        (d(r#"{"diameter": 600}"#) - 0.6).abs() < 1e-12,
        "OSM diameters are millimetres"
    );
    assert!((d(r#"{"diameter": "25 cm"}"#) - 0.25).abs() < 1e-12);
    assert!((d(r#"{}"#) - DEFAULT_DIAMETER).abs() < 1e-12);
    assert!((d(r#"{"diameter": "wide"}"#) - DEFAULT_DIAMETER).abs() < 1e-12);
}

#[test]
fn roads_take_their_width_from_width_lanes_or_highway_class() {
    let model = import(
        r#"{ "type": "FeatureCollection", "features": [
             { "type": "Feature", "properties": { "highway": "primary", "lanes": "2" },
               "geometry": { "type": "LineString", "coordinates": [[16.38, 48.2], [16.38, 48.201]] } },
             { "type": "Feature", "properties": { "highway": "residential", "width": "4.5 m" },
               "geometry": { "type": "LineString", "coordinates": [[16.38, 48.2], [16.38, 48.201]] } },
             { "type": "Feature", "properties": { "highway": "footway" },
               "geometry": { "type": "MultiLineString", "coordinates": [[[16.38, 48.2], [16.38, 48.201]]] } } ] }"#,
    );
    // All three run north along the frame's central meridian, so their width is along x.
    let widths: Vec<f64> = (0..3)
        .map(|i| {
            let bb = element_bbox(&model, i);
            bb.max[0] - bb.min[0]
        })
        .collect();
    assert!(
        (widths[0] - 7.0).abs() < 1e-3,
        "2 lanes × 3.5 m: {widths:?}"
    );
    assert!((widths[1] - 4.5).abs() < 1e-3, "{widths:?}");
    assert!((widths[2] - 2.0).abs() < 1e-3, "{widths:?}");
    assert!(model.elements.iter().all(|e| e.class == "IfcCivilElement"));
    assert_eq!(
        model.elements.at(0).property("GeoJSON geometry", "width_from"),
        Some(&PropertyValue::Text("lanes".to_owned()))
    );
    assert_winding_follows_normals(&model);
    // Lines can be forced to be pipes.
    let importer = GeoJsonImporter {
        options: GeoJsonOptions {
            lines: LineKind::Pipes,
            ..GeoJsonOptions::default()
        },
    };
    let text = r#"{"type": "LineString", "coordinates": [[16.37, 48.2], [16.37, 48.201]]}"#;
    let pipes = importer
        .import_bytes("t", text.as_bytes(), &ImportConfig::default())
        .expect("imports");
    assert_eq!(pipes.elements.at(0).class, "IfcPipeSegment");
}

const BLOCK: &str = r#"[[[16.37, 48.2], [16.3702, 48.2], [16.3702, 48.2002], [16.37, 48.2002], [16.37, 48.2]],
                        [[16.37005, 48.20005], [16.37005, 48.20015], [16.37015, 48.20015], [16.37015, 48.20005], [16.37005, 48.20005]]]"#;

#[test]
fn polygons_with_a_height_are_extruded_footprints_and_without_one_flat_parcels() {
    let text = format!(
        r#"{{ "type": "FeatureCollection", "features": [
             {{ "type": "Feature", "properties": {{ "height": 12 }}, "geometry": {{ "type": "Polygon", "coordinates": {BLOCK} }} }},
             {{ "type": "Feature", "properties": {{ "building:levels": "4" }}, "geometry": {{ "type": "Polygon", "coordinates": {BLOCK} }} }},
             {{ "type": "Feature", "properties": {{ "landuse": "grass" }}, "geometry": {{ "type": "MultiPolygon", "coordinates": [{BLOCK}] }} }} ] }}"#
    );
    let model = import(&text);
    assert_eq!(model.elements.at(0).class, "IfcBuildingElementProxy");
    assert_eq!(model.elements.at(2).class, "IfcGeographicElement");
    let tall = |i: usize| {
        let bb = element_bbox(&model, i);
        bb.max[2] - bb.min[2]
    };
    assert!((tall(0) - 12.0).abs() < 1e-6);
    assert!((tall(1) - 12.0).abs() < 1e-6, "4 levels × 3 m");
    assert_eq!(tall(2), 0.0);
    assert_eq!(
        model.elements.at(1).property("GeoJSON geometry", "height_from"),
        Some(&PropertyValue::Text("building:levels".to_owned()))
    );
    // The parcel: 0.0002° square with a 0.0001° square hole → 3/4 of the area, 8 triangles.
    let parcel = &model.meshes[model.elements.at(2).placements[0].mesh.0 as usize];
    assert_eq!(parcel.triangle_count(), 8);
    // The block: roof and floor (8 each) and 4 + 4 walls (2 triangles each).
    let block = &model.meshes[model.elements.at(0).placements[0].mesh.0 as usize];
    assert_eq!(block.triangle_count(), 8 + 8 + 16);
    assert_winding_follows_normals(&model);
}

#[test]
fn bad_coordinates_and_nesting_are_diagnostics_not_panics() {
    let model = import(
        r#"{ "type": "FeatureCollection", "features": [
             { "type": "Feature", "id": "far", "geometry": { "type": "Point", "coordinates": [200.0, 95.0] } },
             { "type": "Feature", "id": "text", "geometry": { "type": "Point", "coordinates": ["a", "b"] } },
             { "type": "Feature", "id": "flat", "geometry": { "type": "LineString", "coordinates": [16.0, 48.0] } },
             { "type": "Feature", "id": "one-point", "geometry": { "type": "LineString", "coordinates": [[16.0, 48.0]] } },
             { "type": "Feature", "id": "ring", "geometry": { "type": "Polygon", "coordinates": [[[16.0, 48.0], [16.1, 48.0]]] } },
             { "type": "Feature", "id": "odd", "geometry": { "type": "Circle", "coordinates": [16.0, 48.0] } },
             { "type": "Feature", "id": "none", "geometry": null },
             { "type": "Feature", "id": "ok", "geometry": { "type": "Point", "coordinates": [16.0, 48.0, 3.0] } } ] }"#,
    );
    let has = |needle: &str| model.diagnostics.iter().any(|d| d.message.contains(needle));
    assert!(
        has("feature far: a position is outside longitude"),
        "{:#?}",
        model.diagnostics
    );
    assert!(has("feature text: a coordinate is not a number"));
    assert!(has("feature flat: a position is not an array"));
    assert!(has(
        "feature one-point: a line has fewer than two distinct positions"
    ));
    assert!(has(
        "feature ring: a ring has fewer than three distinct points"
    ));
    assert!(has("feature odd: unknown geometry type \"Circle\""));
    assert_eq!(model.elements.len(), 8, "every feature stays an element");
    assert_eq!(model.elements_with_geometry(), 1);
    assert!(model.bbox().min.iter().all(|v| v.is_finite()));
}

#[test]
fn a_file_past_the_position_budget_is_cut_off_with_a_diagnostic() {
    let importer = GeoJsonImporter {
        options: GeoJsonOptions {
            max_positions: 3,
            ..GeoJsonOptions::default()
        },
    };
    let text = r#"{ "type": "FeatureCollection", "features": [
        { "type": "Feature", "geometry": { "type": "LineString", "coordinates": [[16.0, 48.0], [16.1, 48.0]] } },
        { "type": "Feature", "geometry": { "type": "LineString", "coordinates": [[16.0, 48.0], [16.1, 48.0]] } } ] }"#;
    let model = importer
        .import_bytes("big.geojson", text.as_bytes(), &ImportConfig::default())
        .expect("imports");
    assert_eq!(model.elements.len(), 1);
    assert!(
        model
            .diagnostics
            .iter()
            .any(|d| d.message.contains("more than 3 positions; 1 features"))
    );
}

#[test]
fn unreadable_or_foreign_json_is_an_error() {
    let importer = GeoJsonImporter::default();
    let config = ImportConfig::default();
    let err = importer
        .import_bytes("x.geojson", b"{\"type\": \"FeatureCollection\"}", &config)
        .expect_err("no features");
    assert!(
        err.to_string().contains("without a \"features\" array"),
        "{err}"
    );
    let err = importer
        .import_bytes("x.geojson", b"{\"type\": [1]}", &config)
        .expect_err("bad type");
    assert!(
        err.to_string().contains("not an object with a \"type\""),
        "{err}"
    );
    // NaN is not JSON.
    let err = importer
        .import_bytes(
            "x.geojson",
            br#"{"type": "Point", "coordinates": [NaN, 1]}"#,
            &config,
        )
        .expect_err("nan");
    assert!(err.to_string().contains("invalid JSON at line 1"), "{err}");
    // Deep nesting hits serde_json's recursion limit instead of the stack.
    let deep = format!(
        "{{\"type\": \"Point\", \"coordinates\": {}{}}}",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    assert!(
        importer
            .import_bytes("deep.geojson", deep.as_bytes(), &config)
            .is_err()
    );
}

#[test]
fn json_files_are_dispatched_to_geojson_by_their_type() {
    let text = br#"{"type":"FeatureCollection","totalFeatures":1,"features":[{"type":"Feature","geometry":{"type":"Point","coordinates":[16.35,48.25]},"properties":{"BEZ":1190}}]}"#;
    assert!(GeoJsonImporter::default().sniff(text));
    let model =
        import_bytes("photovoltaic.json", text, &ImportConfig::default()).expect("dispatched");
    assert_eq!(model.source.schema, "GeoJSON");
    assert_eq!(
        model.elements.at(0).property("GeoJSON", "BEZ"),
        Some(&PropertyValue::Integer(1190))
    );
}

#[test]
fn a_legacy_crs_member_makes_coordinates_projected_metres() {
    let model = import(
        r#"{ "type": "FeatureCollection",
             "crs": { "type": "name", "properties": { "name": "urn:ogc:def:crs:EPSG::28992" } },
             "features": [ { "type": "Feature", "geometry": { "type": "Point", "coordinates": [85000.0, 447000.0] } },
                           { "type": "Feature", "geometry": { "type": "Point", "coordinates": [85100.0, 447000.0] } } ] }"#,
    );
    assert_eq!(model.origin, [85050.0, 447000.0, 0.0]);
    let crs = model
        .georef
        .as_ref()
        .and_then(|g| g.map_conversion.as_ref())
        .and_then(|m| m.target_crs.clone());
    assert_eq!(crs.as_deref(), Some("EPSG:28992"));
    let x = |i: usize| model.elements.at(i).placements[0].transform[12];
    assert_eq!((x(0), x(1)), (-50.0, 50.0));
}
