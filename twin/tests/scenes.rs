//! Scenes with several models: an IFC district (generated) and GeoJSON city data are placed
//! together in one local frame in metres ("one map"), and the plan selects across both.

use renewtwin_twin::scene::Manifest;
use renewtwin_importers::ImportConfig;

#[test]
fn an_ifc_district_and_a_geojson_street_load_into_one_scene() {
    let dir = std::env::temp_dir().join(format!("renewtwin-scene-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    // A street and a pipe beside the district's site (which the generator places in a Chinese
    // city by latitude/longitude), in WGS84.
    let geojson = r#"{"type":"FeatureCollection","features":[
        {"type":"Feature","properties":{"name":"胜利路","highway":"residential","width":9},
         "geometry":{"type":"LineString","coordinates":[[116.3900,39.9100],[116.3930,39.9100]]}},
        {"type":"Feature","properties":{"name":"给水干管","pipe":"water","diameter_mm":300},
         "geometry":{"type":"LineString","coordinates":[[116.3900,39.9101],[116.3930,39.9101]]}}]}"#;
    std::fs::write(dir.join("streets.geojson"), geojson).expect("write geojson");
    let text = "name = \"one map\"\nstart = \"2026-01-01\"\n\
[[models]]\ngenerate = { kind = \"district\", buildings = 2, seed = 5 }\n\
[[models]]\npath = \"streets.geojson\"\n\
[[projects]]\nname = \"Street works\"\nphases = { construction = 30 }\n\
[[projects.tasks]]\nid = \"road\"\nname = \"Resurface\"\nphase = \"construction\"\nduration = 10\naction = \"retrofit\"\nselect = { class = [\"IfcCivilElement\"] }\n";
    let manifest = Manifest::parse("scene.toml", text).expect("manifest");
    let loaded = renewtwin_twin::renewal::LoadedScene::from_manifest(manifest, Some(&dir), None, &ImportConfig::default()).expect("both models load");
    let model = &loaded.model;
    assert_eq!(model.sources.len(), 2, "both inputs are recorded");
    let from_geojson = model.elements.iter().filter(|e| e.property_sets.iter().any(|p| p.name == "GeoJSON")).count();
    assert_eq!(from_geojson, 2);
    assert!(model.elements.iter().any(|e| e.class == "IfcPipeSegment" && e.property_sets.iter().any(|p| p.name == "GeoJSON")));
    let road = loaded.plan.tasks.iter().find(|t| t.id == "road").expect("task");
    assert!(road.elements >= 2, "the plan selects civil elements from both sources: {}", road.elements);
    let bbox = model.bbox();
    assert!(bbox.min.iter().chain(&bbox.max).all(|v| v.is_finite()));
    let _ = std::fs::remove_dir_all(&dir);
}
