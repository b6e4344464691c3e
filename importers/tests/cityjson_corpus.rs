//! Imports every CityJSON and GeoJSON file of the shared corpus (`$RENEWTWIN_CORPUS/cityjson`
//! and `/geojson`, default `../shared/corpus` beside the workspace) and checks what every city
//! import must keep: no panic, the objects of the manifest found, valid meshes, and a finite
//! bounding box in metres of the tile's real size. Run with `--nocapture` for a per-file table.
//!
//! Without the corpus the test prints why it skipped and passes, unless
//! `RENEWTWIN_REQUIRE_CORPUS=1` (set in CI), where a missing corpus fails.

mod common;

use common::{assert_meshes_valid, corpus_dir, corpus_required};

use renewtwin_importers::{ImportConfig, Severity, import_file};

/// What the manifest says about a file, and the plausible horizontal size of its tile.
struct Expected {
    file: &'static str,
    /// CityObjects or features in the file (MANIFEST.md).
    objects: u64,
    /// Smallest and largest plausible horizontal extent in metres (x and y).
    extent_m: (f64, f64),
    /// Whether the import should carry a georeference.
    georeferenced: bool,
}

const EXPECTED: &[Expected] = &[
    // geographicalExtent 524 m × 328 m.
    Expected {
        file: "cityjson/delft.json",
        objects: 570,
        extent_m: (300.0, 2_000.0),
        georeferenced: true,
    },
    // Ten 3D BAG buildings, about 500 m apart at most.
    Expected {
        file: "cityjson/multi_lod.json",
        objects: 10,
        extent_m: (10.0, 1_000.0),
        georeferenced: false,
    },
    // geographicalExtent 84 m × 373 m.
    Expected {
        file: "cityjson/DH_01_subs.city.json",
        objects: 12,
        extent_m: (50.0, 1_000.0),
        georeferenced: false,
    },
    // lon 16.32–16.43, lat 48.19–48.22: about 8 km × 3.5 km.
    Expected {
        file: "geojson/vienna-streets.geojson",
        objects: 3356,
        extent_m: (3_000.0, 12_000.0),
        georeferenced: true,
    },
    // Installations all over Vienna.
    Expected {
        file: "geojson/photovoltaic.json",
        objects: 1046,
        extent_m: (5_000.0, 40_000.0),
        georeferenced: true,
    },
];

#[test]
fn every_city_corpus_file_imports_with_sane_counts_and_extent() {
    let dir = corpus_dir();
    if !dir.join("cityjson").is_dir() || !dir.join("geojson").is_dir() {
        let why = format!(
            "city corpus not found at {} (set RENEWTWIN_CORPUS)",
            dir.display()
        );
        assert!(!corpus_required(), "{why}, and RENEWTWIN_REQUIRE_CORPUS=1");
        println!("skipped: {why}");
        return;
    }
    // Every file in the folders is covered by the table, so a new corpus file is not missed.
    for sub in ["cityjson", "geojson"] {
        for entry in std::fs::read_dir(dir.join(sub)).expect("readable corpus folder") {
            let name = format!(
                "{sub}/{}",
                entry.expect("entry").file_name().to_string_lossy()
            );
            assert!(
                EXPECTED.iter().any(|e| e.file == name),
                "{name} is not in this test's table"
            );
        }
    }
    println!(
        "{:<34} {:>7} {:>8} {:>6} {:>7} {:>9} {:>10} {:>10} {:>8} {:>5}",
        "file",
        "objects",
        "elements",
        "geom",
        "meshes",
        "triangles",
        "extent x",
        "extent y",
        "extent z",
        "diags"
    );
    for expected in EXPECTED {
        let path = dir.join(expected.file);
        let model = import_file(&path, &ImportConfig::default())
            .unwrap_or_else(|e| panic!("{}: {e}", expected.file));
        let name = expected.file;
        assert_meshes_valid(name, &model, |e| e.global_id.to_owned());
        let bb = model.bbox();
        assert!(!bb.is_empty(), "{name}: no geometry");
        assert!(
            bb.min.iter().chain(&bb.max).all(|v| v.is_finite()),
            "{name}: bbox not finite"
        );
        let extent = [
            bb.max[0] - bb.min[0],
            bb.max[1] - bb.min[1],
            bb.max[2] - bb.min[2],
        ];
        println!(
            "{:<34} {:>7} {:>8} {:>6} {:>7} {:>9} {:>10.1} {:>10.1} {:>8.1} {:>5}",
            name,
            model.source.entities,
            model.elements.len(),
            model.elements_with_geometry(),
            model.meshes.len(),
            model.placed_triangles(),
            extent[0],
            extent[1],
            extent[2],
            model.diagnostics.len()
        );
        for d in model.diagnostics.iter().take(5) {
            println!("    {:?} {}: {}", d.severity, d.kind.key(), d.message);
        }
        assert_eq!(
            model.source.entities, expected.objects,
            "{name}: objects read"
        );
        // Every object is an element or (a parent with children) a spatial node.
        let containers = model.spatial.len() as u64 - 2;
        assert!(
            model.elements.len() as u64 + containers >= expected.objects,
            "{name}: {} elements + {containers} containers for {} objects",
            model.elements.len(),
            expected.objects
        );
        assert!(
            model.elements_with_geometry() * 10 >= model.elements.len() * 9,
            "{name}: only {} of {} elements have geometry",
            model.elements_with_geometry(),
            model.elements.len()
        );
        for (axis, e) in extent[..2].iter().enumerate() {
            assert!(
                (expected.extent_m.0..=expected.extent_m.1).contains(e),
                "{name}: extent along axis {axis} is {e} m, expected {:?}",
                expected.extent_m
            );
        }
        assert!(extent[2] < 500.0, "{name}: {} m tall", extent[2]);
        assert_eq!(
            model.georef.is_some(),
            expected.georeferenced,
            "{name}: georeference"
        );
        assert!(
            model
                .diagnostics
                .iter()
                .all(|d| d.severity < Severity::Error),
            "{name}: error diagnostics: {:?}",
            model
                .diagnostics
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .collect::<Vec<_>>()
        );
    }
}
