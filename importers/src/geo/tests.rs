//! Project frames and placing several models in one.

use super::*;
use crate::geo::mesh::{MeshBuilder, push_centred};
use crate::{Element, ImportConfig, Importer, Mesh, SpatialKind};

/// A model with one element whose mesh is a small triangle at each of `points` (model metres).
fn model_with_points(
    name: &str,
    points: &[[f64; 3]],
    georef: Option<GeoRef>,
    origin: [f64; 3],
) -> Model {
    let mut meshes: Vec<Mesh> = Vec::new();
    let mut placements = Vec::new();
    for &p in points {
        let mut b = MeshBuilder::default();
        let q = |dx: f64, dy: f64| [p[0] + dx, p[1] + dy, p[2]];
        b.polygon(&[vec![q(0.0, 0.0), q(0.01, 0.0), q(0.0, 0.01)]])
            .expect("triangle");
        placements.extend(push_centred(&mut meshes, b));
    }
    Model {
        source: SourceInfo {
            name: name.to_owned(),
            ..SourceInfo::default()
        },
        spatial: city_spatial_root(name, name),
        elements: vec![Element {
            step_id: 0,
            global_id: format!("{name}-element"),
            class: "IfcBuildingElementProxy".to_owned(),
            name: None,
            container: Some(1),
            type_name: None,
            property_sets: Vec::new(),
            placements,
            materials: Vec::new(),
        }].into(),
        meshes,
        origin,
        georef,
        ..Model::default()
    }
}

/// Where placement `i` of element `e` puts its mesh's first vertex.
fn placed_vertex(model: &Model, e: usize, i: usize) -> [f64; 3] {
    let p = &model.elements.at(e).placements[i];
    let v = &model.meshes[p.mesh.0 as usize].positions;
    let (x, y, z) = (f64::from(v[0]), f64::from(v[1]), f64::from(v[2]));
    let t = &p.transform;
    [
        t[0] * x + t[4] * y + t[8] * z + t[12],
        t[1] * x + t[5] * y + t[9] * z + t[13],
        t[2] * x + t[6] * y + t[10] * z + t[14],
    ]
}

fn rd_georef() -> Option<GeoRef> {
    Some(GeoRef {
        map_conversion: Some(identity_conversion("EPSG:7415", "test")),
        site_location: None,
    })
}

fn wgs84_georef(lon: f64, lat: f64) -> Option<GeoRef> {
    Some(GeoRef {
        map_conversion: None,
        site_location: Some(SiteLocation {
            latitude: lat,
            longitude: lon,
            elevation: Some(0.0),
        }),
    })
}

fn distance(a: [f64; 3], b: [f64; 3]) -> f64 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
}

#[test]
fn crs_names_are_normalised_from_urls_and_urns() {
    assert_eq!(
        normalize_crs("https://www.opengis.net/def/crs/EPSG/0/7415"),
        "EPSG:7415"
    );
    assert_eq!(normalize_crs("urn:ogc:def:crs:EPSG::28992"), "EPSG:28992");
    assert_eq!(normalize_crs("EPSG:28992+5709"), "EPSG:28992");
    assert_eq!(normalize_crs("urn:ogc:def:crs:OGC:1.3:CRS84"), "OGC:CRS84");
    assert_eq!(normalize_crs(" LOCAL_GRID "), "LOCAL_GRID");
}

#[test]
fn an_rd_frame_knows_its_wgs84_origin() {
    let frame = ProjectFrame::at_map(
        "https://www.opengis.net/def/crs/EPSG/0/7415",
        155_000.0,
        463_000.0,
        0.0,
    );
    let o = frame.wgs84.expect("converted");
    assert_eq!((o.lon, o.lat), (5.387_206_21, 52.155_174_40));
    assert_eq!(
        frame.map.as_ref().map(|m| m.crs.as_str()),
        Some("EPSG:7415")
    );
    assert_eq!(
        ProjectFrame::at_map("EPSG:31256", 1.0, 2.0, 0.0).wgs84,
        None
    );
}

#[test]
fn two_wgs84_models_with_different_origins_meet_at_the_same_point() {
    // The same spot, 16.372 E 48.208 N, in two local frames 1.5 km apart.
    let spot = (16.372, 48.208);
    let a0 = LocalFrame::new(16.37, 48.2, 0.0);
    let b0 = LocalFrame::new(16.39, 48.21, 0.0);
    let a = model_with_points(
        "a",
        &[a0.to_local(spot.0, spot.1, 0.0)],
        wgs84_georef(16.37, 48.2),
        [0.0; 3],
    );
    let b = model_with_points(
        "b",
        &[b0.to_local(spot.0, spot.1, 0.0)],
        wgs84_georef(16.39, 48.21),
        [0.0; 3],
    );
    let frame = ProjectFrame::choose(&[a.clone(), b.clone()]);
    assert_eq!(frame, ProjectFrame::at_wgs84(16.37, 48.2, 0.0));
    let placed = place(vec![a, b], &frame);
    let (pa, pb) = (placed_vertex(&placed, 0, 0), placed_vertex(&placed, 1, 0));
    assert!(distance(pa, pb) < 0.001, "{pa:?} vs {pb:?}");
    assert_eq!(placed.sources.len(), 2);
    assert_eq!(placed.sources[1].first_element, 1);
    assert_eq!(
        placed.elements.at(1).placements[0].mesh.0, 1,
        "mesh ids offset"
    );
    assert_eq!(
        placed.elements.at(1).container,
        Some(3),
        "containers offset past a's two nodes"
    );
    assert_eq!(placed.spatial[3].parent, Some(2));
    assert_eq!(
        placed
            .spatial
            .iter()
            .filter(|n| n.kind == SpatialKind::Project)
            .count(),
        2
    );
    assert_eq!(
        ProjectFrame::of_model(&placed),
        Some(frame),
        "the result carries its frame"
    );
}

#[test]
fn an_rd_city_model_and_a_wgs84_point_meet_through_the_rd_formulas() {
    let (x, y) = (85_000.0, 447_000.0);
    let city = model_with_points(
        "city",
        &[[x - 84_900.0, y - 446_900.0, 0.0]],
        rd_georef(),
        [84_900.0, 446_900.0, 0.0],
    );
    let (lon, lat) = rd::rd_to_wgs84(x, y);
    let point = model_with_points("point", &[[0.0; 3]], wgs84_georef(lon, lat), [0.0; 3]);
    // In the RD frame of the city model: exact translation for it, RD inverse for the point.
    let frame = ProjectFrame::choose(&[city.clone(), point.clone()]);
    assert_eq!(
        frame.map.as_ref().map(|m| (m.easting, m.northing)),
        Some((84_900.0, 446_900.0))
    );
    let placed = place(vec![city.clone(), point.clone()], &frame);
    let (pc, pp) = (placed_vertex(&placed, 0, 0), placed_vertex(&placed, 1, 0));
    assert!(distance(pc, [100.0, 100.0, 0.0]) < 1e-6, "{pc:?}");
    assert!(distance(pc, pp) < 0.01, "{pc:?} vs {pp:?}");
    // In a WGS84 frame, both go through WGS84.
    let frame = ProjectFrame::at_wgs84(4.36, 52.0, 0.0);
    let placed = place(vec![city, point], &frame);
    let (pc, pp) = (placed_vertex(&placed, 0, 0), placed_vertex(&placed, 1, 0));
    assert!(distance(pc, pp) < 0.01, "{pc:?} vs {pp:?}");
    assert!(
        pc[0] > 0.0 && pc[1] > 0.0,
        "north-east of the origin: {pc:?}"
    );
}

/// The per-model affine transform is exact at the model's centre; this measures how far it
/// drifts from the exact conversion at the corners of a 5 km × 5 km RD tile placed in a WGS84
/// frame 10 km away: the figure quoted in the module documentation.
#[test]
fn linearising_an_rd_tile_into_a_wgs84_frame_stays_within_three_centimetres() {
    let corners = [
        [-2500.0, -2500.0, 0.0],
        [2500.0, -2500.0, 0.0],
        [2500.0, 2500.0, 30.0],
        [-2500.0, 2500.0, 0.0],
    ];
    let origin = [85_000.0, 447_000.0, 0.0];
    let tile = model_with_points("tile", &corners, rd_georef(), origin);
    let (lon, lat) = rd::rd_to_wgs84(95_000.0, 447_000.0);
    let frame = ProjectFrame::at_wgs84(lon, lat, 0.0);
    let placed = place(vec![tile], &frame);
    let mut worst: f64 = 0.0;
    for (i, c) in corners.iter().enumerate() {
        let (clon, clat) = rd::rd_to_wgs84(origin[0] + c[0], origin[1] + c[1]);
        let exact = LocalFrame::new(lon, lat, 0.0).to_local(clon, clat, c[2]);
        worst = worst.max(distance(placed_vertex(&placed, 0, i), exact));
    }
    // Measured: 1.4 cm.
    assert!(worst < 0.03, "worst corner off by {worst} m");
}

#[test]
fn a_map_conversion_rotates_and_offsets_like_ifc() {
    let (c, s) = (30f64.to_radians().cos(), 30f64.to_radians().sin());
    let georef = GeoRef {
        map_conversion: Some(MapConversion {
            eastings: 1000.0,
            northings: 2000.0,
            orthogonal_height: 5.0,
            x_axis_abscissa: c,
            x_axis_ordinate: s,
            scale: 1.0,
            target_crs: Some("EPSG:28992".to_owned()),
            source: "IfcMapConversion".to_owned(),
        }),
        site_location: None,
    };
    let model = model_with_points("ifc", &[[10.0, 0.0, 0.0]], Some(georef), [0.0; 3]);
    let frame = ProjectFrame::at_map("EPSG:7415", 1000.0, 2000.0, 0.0);
    let placed = place(vec![model], &frame);
    let p = placed_vertex(&placed, 0, 0);
    assert!(distance(p, [10.0 * c, 10.0 * s, 5.0]) < 1e-9, "{p:?}");
}

#[test]
fn inputs_that_cannot_be_placed_say_so_and_stay_as_they_are() {
    let austrian = Some(GeoRef {
        map_conversion: Some(identity_conversion("EPSG:31256", "test")),
        site_location: None,
    });
    let unknown = model_with_points("gk", &[[1.0, 2.0, 0.0]], austrian, [0.0; 3]);
    let bare = model_with_points("bare", &[[3.0, 4.0, 0.0]], None, [0.0; 3]);
    let placed = place(
        vec![unknown, bare],
        &ProjectFrame::at_wgs84(16.37, 48.2, 0.0),
    );
    assert!(distance(placed_vertex(&placed, 0, 0), [1.0, 2.0, 0.0]) < 1e-6);
    assert!(distance(placed_vertex(&placed, 1, 0), [3.0, 4.0, 0.0]) < 1e-6);
    let warning = placed
        .diagnostics
        .iter()
        .find(|d| d.severity == Severity::Warning)
        .expect("warning");
    assert!(
        warning
            .message
            .starts_with("gk: its map CRS EPSG:31256 cannot be converted"),
        "{}",
        warning.message
    );
    assert!(
        placed
            .diagnostics
            .iter()
            .any(|d| d.severity == Severity::Info
                && d.message.starts_with("bare: not georeferenced"))
    );
    // With both origins given, another projected CRS is placed beside WGS84 approximately.
    let mut frame = ProjectFrame::at_map("EPSG:31256", 0.0, 0.0, 0.0);
    frame.wgs84 = Some(GeoPoint {
        lon: 16.37,
        lat: 48.2,
        height: 0.0,
    });
    let point = model_with_points("p", &[[0.0; 3]], wgs84_georef(16.37, 48.2), [0.0; 3]);
    let placed = place(vec![point], &frame);
    assert!(distance(placed_vertex(&placed, 0, 0), [0.0; 3]) < 0.02);
    assert!(
        placed
            .diagnostics
            .iter()
            .any(|d| d.message.contains("grid convergence and scale ignored"))
    );
}

#[test]
fn a_geojson_import_and_a_cityjson_import_share_one_frame() {
    let city = br#"{ "type": "CityJSON", "version": "2.0",
        "metadata": { "referenceSystem": "https://www.opengis.net/def/crs/EPSG/0/7415" },
        "transform": { "scale": [0.001, 0.001, 0.001], "translate": [85000, 447000, 0] },
        "CityObjects": { "b": { "type": "Building", "geometry": [
          { "type": "MultiSurface", "lod": "1", "boundaries": [[[0, 1, 2]]] } ] } },
        "vertices": [[0, 0, 0], [10000, 0, 0], [0, 10000, 0]] }"#;
    let (lon, lat) = rd::rd_to_wgs84(85_000.0, 447_000.0);
    let geo = format!(
        r#"{{"type": "Feature", "properties": {{}}, "geometry": {{"type": "Point", "coordinates": [{lon}, {lat}]}}}}"#
    );
    let config = ImportConfig::default();
    let a = crate::CityJsonImporter::default()
        .import_bytes("tile.city.json", city, &config)
        .expect("city");
    let b = crate::GeoJsonImporter::default()
        .import_bytes("point.geojson", geo.as_bytes(), &config)
        .expect("geojson");
    let frame = ProjectFrame::choose(&[a.clone(), b.clone()]);
    let placed = place(vec![a, b], &frame);
    let building = placed.elements.at(0)
        .placements
        .iter()
        .map(|p| p.transform[12])
        .fold(f64::INFINITY, f64::min);
    assert!(building.is_finite());
    let bb_building = {
        let mut m = placed.clone();
        m.elements.make_mut().truncate(1);
        m.bbox()
    };
    let marker = placed_vertex(&placed, 1, 0);
    // The marker's lowest vertex sits on the building's first corner (its local 0, 0).
    assert!(
        (bb_building.min[0] - 0.0).abs() < 1e-3 && (bb_building.min[1] - 0.0).abs() < 1e-3,
        "{bb_building:?}"
    );
    let marker_foot = [marker[0] - 0.5, marker[1], marker[2] - 0.5];
    assert!(distance(marker_foot, [0.0, 0.0, 0.0]) < 0.01, "{marker:?}");
    assert_eq!(placed.source.name, "tile.city.json + point.geojson");
}

#[test]
fn a_utm_model_and_a_wgs84_point_meet_in_either_frame() {
    let (lon, lat) = (16.372, 48.208);
    let zone = utm::zone_of_epsg(32633).expect("zone");
    let (e, n) = utm::to_utm(zone, lon, lat);
    let origin = [e.round(), n.round(), 0.0];
    let utm_georef = Some(GeoRef {
        map_conversion: Some(identity_conversion("EPSG:32633", "IfcMapConversion")),
        site_location: None,
    });
    let ifc = model_with_points(
        "ifc",
        &[[e - origin[0], n - origin[1], 0.0]],
        utm_georef,
        origin,
    );
    let point = model_with_points("point", &[[0.0; 3]], wgs84_georef(lon, lat), [0.0; 3]);
    for frame in [
        ProjectFrame::at_wgs84(16.37, 48.2, 0.0),
        ProjectFrame::at_map("EPSG:32633", e - 500.0, n + 300.0, 0.0),
    ] {
        let placed = place(vec![ifc.clone(), point.clone()], &frame);
        let (a, b) = (placed_vertex(&placed, 0, 0), placed_vertex(&placed, 1, 0));
        assert!(distance(a, b) < 0.01, "{frame:?}: {a:?} vs {b:?}");
        assert!(placed.diagnostics.is_empty(), "{:?}", placed.diagnostics);
    }
    let frame = ProjectFrame::at_map("EPSG:32633", e, n, 0.0);
    let o = frame.wgs84.expect("utm frames know their wgs84 origin");
    assert!((o.lon - lon).abs() < 1e-8 && (o.lat - lat).abs() < 1e-8);
}

#[test]
fn an_unknown_map_crs_falls_back_to_the_site_location_with_a_note() {
    let georef = Some(GeoRef {
        map_conversion: Some(identity_conversion("EPSG:31256", "IfcMapConversion")),
        site_location: Some(SiteLocation {
            latitude: 48.2,
            longitude: 16.38,
            elevation: None,
        }),
    });
    let ifc = model_with_points("ifc", &[[0.0; 3]], georef, [0.0; 3]);
    let frame = ProjectFrame::at_wgs84(16.37, 48.2, 0.0);
    let placed = place(vec![ifc], &frame);
    let p = placed_vertex(&placed, 0, 0);
    // 0.01° of longitude at 48.2° N: 743.4 m east.
    assert!((p[0] - 743.36).abs() < 0.05 && p[1].abs() < 0.05, "{p:?}");
    assert!(
        placed
            .diagnostics
            .iter()
            .any(|d| d.severity == Severity::Info
                && d.message.contains("placed by its site location"))
    );
}

/// One point given in CGCS2000 / 3-degree Gauss-Krüger zone 39 with the zone prefix
/// (EPSG:4527), the same point without it (CM 117E, EPSG:4548), and as CGCS2000 longitude and
/// latitude (EPSG:4490): the three land on one spot in a frame of either grid.
#[test]
fn cgcs2000_gauss_kruger_models_with_and_without_the_zone_prefix_meet_a_cgcs2000_point() {
    let (lon, lat) = (116.391, 39.907);
    let prefixed = gk::zone_of_epsg(4527).expect("zone");
    let plain = gk::zone_of_epsg(4548).expect("zone");
    let grid_model = |code: &str, zone: gk::Zone3| {
        let (e, n) = gk::to_gk(zone, lon, lat);
        let origin = [e.round(), n.round(), 0.0];
        let georef = Some(GeoRef { map_conversion: Some(identity_conversion(code, "IfcMapConversion")), site_location: None });
        model_with_points(code, &[[e - origin[0], n - origin[1], 0.0]], georef, origin)
    };
    let a = grid_model("EPSG:4527", prefixed);
    let b = grid_model("EPSG:4548", plain);
    // A point surveyed in CGCS2000 longitude and latitude, as a GeoJSON file gives it.
    let point = model_with_points("point", &[[0.0; 3]], wgs84_georef(lon, lat), [0.0; 3]);
    let (e, n) = gk::to_gk(prefixed, lon, lat);
    for frame in [ProjectFrame::at_map("EPSG:4527", e - 200.0, n + 100.0, 0.0), ProjectFrame::at_map("EPSG:4548", e - 39_000_000.0, n, 0.0)] {
        let placed = place(vec![a.clone(), b.clone(), point.clone()], &frame);
        let (pa, pb, pc) = (placed_vertex(&placed, 0, 0), placed_vertex(&placed, 1, 0), placed_vertex(&placed, 2, 0));
        assert!(distance(pa, pb) < 0.01 && distance(pa, pc) < 0.05, "{frame:?}: {pa:?} {pb:?} {pc:?}");
    }
    let o = ProjectFrame::at_map("EPSG:4527", e, n, 0.0).wgs84.expect("a CGCS2000 grid frame knows its longitude and latitude");
    assert!((o.lon - lon).abs() < 1e-8 && (o.lat - lat).abs() < 1e-8);
    // CGCS2000 geographic names a longitude/latitude origin, taken as WGS84.
    assert_eq!(known_crs(&normalize_crs("urn:ogc:def:crs:EPSG::4490")), Some(KnownCrs::Wgs84));
    assert_eq!(ProjectFrame::at_map("EPSG:4490", lon, lat, 0.0), ProjectFrame::at_wgs84(lon, lat, 0.0));
}
