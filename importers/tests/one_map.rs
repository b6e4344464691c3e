//! One map: an IFC district, a GeoJSON street network and CityJSON context placed together in
//! one project frame and one model, through the public API only.
//!
//! The corpus part (`$RENEWTWIN_CORPUS`, default `../shared/corpus`) prints why it skipped and
//! passes without the corpus, unless `RENEWTWIN_REQUIRE_CORPUS=1`.

mod common;

use common::{corpus_dir, corpus_required};

use renewtwin_generator::{DistrictConfig, district_ifc};
use renewtwin_importers::{
    GeoRef, ImportConfig, Model, ProjectFrame, Severity, SiteLocation, import_bytes, import_file,
    place,
};

/// The bounding box of one source's elements in the placed model.
fn source_bbox(model: &Model, source: usize) -> renewtwin_importers::Aabb {
    let s = &model.sources[source];
    let mut one = model.clone();
    one.elements = model.elements.iter().skip(s.first_element).take(s.element_count).map(|e| e.to_element()).collect();
    one.bbox()
}

#[test]
fn a_district_a_street_and_city_context_share_one_frame() {
    let config = ImportConfig::default();
    let district = district_ifc(&DistrictConfig {
        buildings: 2,
        seed: 3,
        ..DistrictConfig::default()
    });
    let mut ifc = import_bytes("district.ifc", district.as_bytes(), &config).expect("ifc");
    // The generator sites its district in a Chinese city (IfcSite RefLatitude/RefLongitude);
    // re-site it 100 m north of the street, as a planner would place a design on the map.
    assert!(
        ifc.georef
            .as_ref()
            .is_some_and(|g| g.site_location.is_some()),
        "the district has a site location"
    );
    ifc.georef = Some(GeoRef {
        map_conversion: None,
        site_location: Some(SiteLocation {
            latitude: 52.0 + 100.0 / 111_250.0,
            longitude: 4.36,
            elevation: Some(0.0),
        }),
    });
    // A street along the district, 200 m east-west at 52.0 N 4.36 E (Delft), as GeoJSON.
    let street = br#"{ "type": "FeatureCollection", "features": [ { "type": "Feature", "id": "street",
        "properties": { "highway": "residential", "name": "Oude Delft" },
        "geometry": { "type": "LineString", "coordinates": [[4.3585, 52.0], [4.3615, 52.0]] } } ] }"#;
    let geo = import_bytes("street.geojson", street, &config).expect("geojson");
    // A CityJSON building in RD New near the same place.
    let city = br#"{ "type": "CityJSON", "version": "2.0",
        "metadata": { "referenceSystem": "https://www.opengis.net/def/crs/EPSG/0/7415" },
        "transform": { "scale": [0.01, 0.01, 0.01], "translate": [84200, 446900, 0] },
        "CityObjects": { "context": { "type": "Building", "geometry": [{ "type": "Solid", "lod": "1",
          "boundaries": [[ [[0, 3, 2, 1]], [[4, 5, 6, 7]], [[0, 1, 5, 4]], [[1, 2, 6, 5]], [[2, 3, 7, 6]], [[3, 0, 4, 7]] ]] }] } },
        "vertices": [[0,0,0],[1000,0,0],[1000,1000,0],[0,1000,0],[0,0,1000],[1000,0,1000],[1000,1000,1000],[0,1000,1000]] }"#;
    let cj = import_bytes("context.city.json", city, &config).expect("cityjson");
    let counts = [ifc.elements.len(), geo.elements.len(), cj.elements.len()];
    let unplaced = ifc.bbox();
    let meshes = ifc.meshes.len() + geo.meshes.len() + cj.meshes.len();

    let models = vec![geo, cj, ifc];
    let frame = ProjectFrame::choose(&models);
    let origin = frame.wgs84.expect("the street is georeferenced");
    assert!(
        (origin.lon - 4.36).abs() < 1e-9 && (origin.lat - 52.0).abs() < 1e-9,
        "{origin:?}"
    );
    let placed = place(models, &frame);

    assert_eq!(placed.elements.len(), counts.iter().sum::<usize>());
    assert_eq!(placed.meshes.len(), meshes);
    assert_eq!(placed.sources.len(), 3);
    assert_eq!(placed.sources[2].source.name, "district.ifc");
    for e in &placed.elements {
        for p in e.placements {
            assert!(
                (p.mesh.0 as usize) < placed.meshes.len(),
                "{} places a missing mesh",
                e.global_id
            );
        }
    }
    // The street runs 205 m east-west through the origin (3 m of ribbon half-width beyond).
    let street = source_bbox(&placed, 0);
    assert!(
        (street.max[0] - street.min[0] - 205.3).abs() < 1.0,
        "{street:?}"
    );
    assert!(
        street.min[1].abs() < 5.0 && street.max[1].abs() < 5.0,
        "{street:?}"
    );
    // The RD building: 10 m cube, within a few km of the origin, on the ground.
    let context = source_bbox(&placed, 1);
    assert!(
        (context.max[2] - context.min[2] - 10.0).abs() < 1e-3,
        "{context:?}"
    );
    // RD grid north is 0.81° off true north here (grid convergence, (λ − 5.387°)·sin φ), so the
    // axis-aligned box of the rotated 10 m square is 10·(cos + sin 0.81°) = 10.14 m wide.
    assert!(
        (context.max[0] - context.min[0] - 10.14).abs() < 0.01,
        "{context:?}"
    );
    assert!(
        context.min[0].abs() < 3_000.0 && context.min[1].abs() < 3_000.0,
        "{context:?}"
    );
    // The district: its model origin 100 m north of the frame origin, through its site location.
    let district = source_bbox(&placed, 2);
    assert!(!district.is_empty() && district.min.iter().all(|v| v.is_finite()));
    let shift = [0.0, 100.0, 0.0];
    for (i, d) in shift.iter().enumerate() {
        assert!(
            (district.min[i] - unplaced.min[i] - d).abs() < 0.05,
            "{district:?} vs {unplaced:?}"
        );
        assert!(
            (district.max[i] - unplaced.max[i] - d).abs() < 0.05,
            "{district:?} vs {unplaced:?}"
        );
    }
    assert_eq!(ProjectFrame::of_model(&placed), Some(frame));
}

#[test]
fn vienna_streets_and_photovoltaic_points_land_on_the_same_map() {
    let dir = corpus_dir().join("geojson");
    if !dir.is_dir() {
        let why = format!(
            "geojson corpus not found at {} (set RENEWTWIN_CORPUS)",
            dir.display()
        );
        assert!(!corpus_required(), "{why}, and RENEWTWIN_REQUIRE_CORPUS=1");
        println!("skipped: {why}");
        return;
    }
    let config = ImportConfig::default();
    let streets = import_file(&dir.join("vienna-streets.geojson"), &config).expect("streets");
    let pv = import_file(&dir.join("photovoltaic.json"), &config).expect("photovoltaic");
    let frame = ProjectFrame::choose(&[streets.clone(), pv.clone()]);
    let placed = place(vec![streets, pv], &frame);
    assert_eq!(placed.elements.len(), 3356 + 1046);
    let streets = source_bbox(&placed, 0);
    let pv = source_bbox(&placed, 1);
    println!("streets {streets:?}\nphotovoltaic {pv:?}");
    // The streets cover central Vienna (lon 16.32–16.43, lat 48.19–48.22); the installations
    // spread over the whole city, so their box contains the streets' centre.
    let centre = [
        (streets.min[0] + streets.max[0]) / 2.0,
        (streets.min[1] + streets.max[1]) / 2.0,
    ];
    assert!(
        centre[0].abs() < 1.0 && centre[1].abs() < 1.0,
        "the frame is centred on the streets: {centre:?}"
    );
    assert!(
        pv.min[0] < centre[0]
            && centre[0] < pv.max[0]
            && pv.min[1] < centre[1]
            && centre[1] < pv.max[1]
    );
    assert!(
        pv.max[0] - pv.min[0] < 40_000.0 && pv.max[1] - pv.min[1] < 40_000.0,
        "{pv:?}"
    );
    assert!(
        placed
            .diagnostics
            .iter()
            .all(|d| d.severity < Severity::Warning)
    );
}

#[test]
fn a_georeferenced_ifc_lands_on_the_map_beside_a_wgs84_point() {
    let path = corpus_dir().join("ifc/linear-placement-of-signal.ifc");
    if !path.is_file() {
        let why = format!("{} not found (set RENEWTWIN_CORPUS)", path.display());
        assert!(!corpus_required(), "{why}, and RENEWTWIN_REQUIRE_CORPUS=1");
        println!("skipped: {why}");
        return;
    }
    let ifc = import_file(&path, &ImportConfig::default()).expect("ifc");
    let georef = ifc.georef.clone().expect("IfcMapConversion is read");
    assert_eq!(
        georef.map_conversion.and_then(|m| m.target_crs).as_deref(),
        Some("EPSG:3065")
    );
    let frame = ProjectFrame::of_model(&ifc).expect("a frame from its map conversion");
    // EPSG:3065, IGM95 / UTM 33N: southern Italy.
    let origin = frame.wgs84.expect("EPSG:3065 converts to WGS84");
    assert!(
        (origin.lon - 14.44).abs() < 0.05 && (origin.lat - 41.0).abs() < 0.05,
        "{origin:?}"
    );
    // A WGS84 frame 1 km east of the model's origin: the model lands about 1 km west.
    let lon_step = 1000.0 / (111_320.0 * origin.lat.to_radians().cos());
    let east = ProjectFrame::at_wgs84(origin.lon + lon_step, origin.lat, origin.height);
    let unplaced = ifc.bbox();
    let placed = place(vec![ifc], &east);
    let bb = placed.bbox();
    assert!(
        (bb.min[0] - unplaced.min[0] + 1000.0).abs() < 5.0,
        "{bb:?} vs {unplaced:?}"
    );
    assert!(
        (bb.min[1] - unplaced.min[1]).abs() < 20.0,
        "{bb:?} vs {unplaced:?}"
    );
    assert!(
        placed
            .diagnostics
            .iter()
            .all(|d| !d.message.contains("cannot be converted"))
    );
}
