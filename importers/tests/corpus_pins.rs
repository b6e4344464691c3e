//! Regression pins for every IFC file of the shared corpus (`$RENEWTWIN_CORPUS/ifc`, default
//! `../shared/corpus/ifc`): product count, products with geometry, placed triangles (within
//! [`TRIANGLE_TOLERANCE`]), the bounding box in metres (within [`BBOX_TOLERANCE_M`]) and what
//! the semantic layer read (spatial tree, classes, GlobalIds, types, property sets, materials,
//! length unit, georeference; exact), as
//! pinned in `tests/data/corpus_pins.json`. The pins come from a run of this importer and were
//! cross-checked once against IfcOpenShell and web-ifc: `tests/data/IFCOPENSHELL-COMPARISON.md`.
//!
//! The mesh and placement counts are pinned exactly: they show instancing (IfcMappedItem and
//! repeated geometry stored once, placed many times) and are deterministic.
//!
//! It also checks, over the whole corpus, that at least [`MIN_COVERAGE`] of the products with a
//! body representation get a mesh, that every miss is a diagnostic naming the product's `#id`,
//! class and reason, and that no mesh has a non-finite value or a degenerate triangle.
//!
//! Without the corpus the test prints why it skipped and passes, unless
//! `RENEWTWIN_REQUIRE_CORPUS=1` (set in CI), where a missing corpus fails. Run with
//! `--nocapture` to see the table and the actual values as JSON (to re-pin after a deliberate
//! change: copy them into the pins file and explain the change in the comparison document).

mod common;

use common::{corpus_required, ifc_files};
use std::collections::{BTreeMap, BTreeSet};

use renewtwin_importers::{DiagnosticKind, ImportConfig, Model, import_file};
use serde_json::Value;

/// Relative tolerance on the placed triangle count: tessellation of curved and boolean geometry
/// may shift a little with ifc-lite patch releases or floating-point differences.
const TRIANGLE_TOLERANCE: f64 = 0.02;
/// Tolerance on every bounding-box coordinate, metres.
const BBOX_TOLERANCE_M: f64 = 0.01;
/// Share of products with a body representation that must get a mesh, over the corpus.
const MIN_COVERAGE: f64 = 0.97;
/// Relative cross-product size under which a triangle is degenerate (as the importer's cleaner).
const DEGENERATE_RELATIVE_AREA: f64 = 1e-7;

fn pins() -> BTreeMap<String, Value> {
    let text = include_str!("data/corpus_pins.json");
    let parsed: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(err) => panic!("tests/data/corpus_pins.json does not parse: {err}"),
    };
    match parsed.get("files").and_then(Value::as_object) {
        Some(files) => files.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        None => panic!("tests/data/corpus_pins.json has no \"files\" object"),
    }
}

/// Products whose body gave no mesh, by `#id` (from the diagnostics).
fn misses(model: &Model) -> BTreeSet<u32> {
    model
        .diagnostics
        .iter()
        .filter(|d| d.kind == DiagnosticKind::GeometryMissing)
        .filter_map(|d| d.step_id)
        .collect()
}

/// Every mesh finite and without degenerate triangles.
fn assert_clean_meshes(name: &str, model: &Model) {
    for (i, mesh) in model.meshes.iter().enumerate() {
        assert!(
            mesh.positions
                .iter()
                .chain(&mesh.normals)
                .all(|v| v.is_finite()),
            "{name}: mesh {i} has a non-finite value"
        );
        let p = |ix: u32| {
            let at = ix as usize * 3;
            [
                f64::from(mesh.positions[at]),
                f64::from(mesh.positions[at + 1]),
                f64::from(mesh.positions[at + 2]),
            ]
        };
        for tri in mesh.indices.chunks_exact(3) {
            let (a, b, c) = (p(tri[0]), p(tri[1]), p(tri[2]));
            let e1 = [b[0] - a[0], b[1] - a[1], b[2] - a[2]];
            let e2 = [c[0] - a[0], c[1] - a[1], c[2] - a[2]];
            let e3 = [c[0] - b[0], c[1] - b[1], c[2] - b[2]];
            let cross = [
                e1[1] * e2[2] - e1[2] * e2[1],
                e1[2] * e2[0] - e1[0] * e2[2],
                e1[0] * e2[1] - e1[1] * e2[0],
            ];
            let len = |v: [f64; 3]| (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
            let longest = len(e1).max(len(e2)).max(len(e3));
            assert!(
                tri[0] != tri[1] && tri[1] != tri[2] && tri[0] != tri[2],
                "{name}: mesh {i} has a triangle with a repeated vertex"
            );
            // The importer tests in f64 before storing f32; allow the f32 rounding on top.
            assert!(
                len(cross) > DEGENERATE_RELATIVE_AREA * longest * longest * 0.5,
                "{name}: mesh {i} has a degenerate triangle {tri:?}"
            );
        }
    }
}

/// What the semantic layer read: spatial nodes by kind, GlobalIds, classes, types, property
/// sets, materials, the length unit and the georeference.
fn semantics_of(model: &Model) -> Value {
    let mut spatial = BTreeMap::new();
    for node in &model.spatial {
        *spatial.entry(format!("{:?}", node.kind)).or_insert(0usize) += 1;
    }
    let mut classes = BTreeMap::new();
    for e in &model.elements {
        *classes.entry(e.class.to_owned()).or_insert(0usize) += 1;
    }
    let georef = model.georef.as_ref().map(|g| {
        serde_json::json!({
            "map_crs": g.map_conversion.as_ref().map(|m| m.target_crs.clone().unwrap_or_default()),
            "site_location": g.site_location.is_some(),
        })
    });
    serde_json::json!({
        "spatial": spatial,
        "classes": classes,
        "with_global_id": model.elements.iter().filter(|e| e.global_id.len() == 22).count(),
        "with_type": model.elements.iter().filter(|e| e.type_name.is_some()).count(),
        "property_sets": model.property_set_count() + model.spatial.iter().map(|n| n.property_sets.len()).sum::<usize>(),
        "with_materials": model.elements.iter().filter(|e| !e.materials.is_empty()).count(),
        "length_unit_m": model.source.length_unit_to_metres,
        "georef": georef,
        "schedules": model.schedules.len(),
    })
}

#[test]
fn corpus_files_match_their_pins_and_meet_geometry_coverage() {
    let Some(files) = ifc_files() else { return };
    let pins = pins();
    let names: BTreeSet<String> = files
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    for pinned in pins.keys() {
        assert!(
            names.contains(pinned) || !corpus_required(),
            "{pinned} is pinned but not in the corpus"
        );
    }

    let (mut meshed_total, mut missed_total) = (0usize, 0usize);
    let mut failures = Vec::new();
    let mut actual_json = serde_json::Map::new();
    println!(
        "{:<44} {:>8} {:>9} {:>6} {:>9} {:>8}",
        "file", "products", "with geom", "missed", "triangles", "coverage"
    );
    for path in &files {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let model = import_file(path, &ImportConfig::default())
            .unwrap_or_else(|err| panic!("{name}: import failed: {err}"));
        assert_clean_meshes(&name, &model);
        for d in model
            .diagnostics
            .iter()
            .filter(|d| d.kind == DiagnosticKind::GeometryMissing)
        {
            let (Some(id), Some(class)) = (d.step_id, d.class.as_deref()) else {
                panic!("{name}: a geometry miss does not name its product: {d:?}");
            };
            assert!(
                d.message.contains(&format!("#{id}"))
                    && d.message.contains(class)
                    && d.message.contains(": "),
                "{name}: the miss of #{id} does not say which product and why: {}",
                d.message
            );
        }
        let meshed = model.elements_with_geometry();
        let missed = misses(&model).len();
        meshed_total += meshed;
        missed_total += missed;
        let triangles = model.placed_triangles();
        let placements: usize = model.elements.iter().map(|e| e.placements.len()).sum();
        let bbox = model.bbox().to_array();
        let round = |v: f64| (v * 1000.0).round() / 1000.0;
        println!(
            "{:<44} {:>8} {:>9} {:>6} {:>9} {:>7.1}%",
            name,
            model.elements.len(),
            meshed,
            missed,
            triangles,
            100.0 * meshed as f64 / (meshed + missed).max(1) as f64
        );
        let semantics = semantics_of(&model);
        actual_json.insert(
            name.clone(),
            serde_json::json!({
                "semantics": semantics.clone(),
                "products": model.elements.len(),
                "with_geometry": meshed,
                "geometry_missing": missed,
                "triangles": triangles,
                "meshes": model.meshes.len(),
                "placements": placements,
                "bbox_m": bbox.map(round),
            }),
        );

        let Some(pin) = pins.get(&name) else {
            failures.push(format!("{name}: no pin in tests/data/corpus_pins.json"));
            continue;
        };
        let int = |key: &str| pin.get(key).and_then(Value::as_u64).unwrap_or(u64::MAX);
        if model.elements.len() as u64 != int("products") {
            failures.push(format!(
                "{name}: {} products, pinned {}",
                model.elements.len(),
                int("products")
            ));
        }
        if meshed as u64 != int("with_geometry") {
            failures.push(format!(
                "{name}: {meshed} products with geometry, pinned {}",
                int("with_geometry")
            ));
        }
        if pin.get("semantics") != Some(&semantics) {
            failures.push(format!(
                "{name}: semantics {semantics}, pinned {}",
                pin.get("semantics").cloned().unwrap_or_default()
            ));
        }
        // Instancing: a mapped or repeated shape is one mesh placed many times.
        if (model.meshes.len() as u64, placements as u64) != (int("meshes"), int("placements")) {
            failures.push(format!(
                "{name}: {} meshes with {placements} placements, pinned {} with {}",
                model.meshes.len(),
                int("meshes"),
                int("placements")
            ));
        }
        let pinned_triangles = int("triangles") as f64;
        if (triangles as f64 - pinned_triangles).abs() > TRIANGLE_TOLERANCE * pinned_triangles {
            failures.push(format!(
                "{name}: {triangles} placed triangles, pinned {pinned_triangles} ± {}%",
                TRIANGLE_TOLERANCE * 100.0
            ));
        }
        let pinned_bbox: Vec<f64> = pin
            .get("bbox_m")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_f64).collect())
            .unwrap_or_default();
        let bbox_ok = pinned_bbox.len() == 6
            && bbox
                .iter()
                .zip(&pinned_bbox)
                .all(|(a, p)| (a - p).abs() <= BBOX_TOLERANCE_M);
        if !bbox_ok {
            failures.push(format!(
                "{name}: bbox {bbox:?} m, pinned {pinned_bbox:?} ± {BBOX_TOLERANCE_M} m"
            ));
        }
    }
    println!(
        "actual values (for re-pinning):\n{}",
        serde_json::to_string_pretty(&Value::Object(actual_json)).unwrap_or_default()
    );
    if files.is_empty() {
        return;
    }
    let coverage = meshed_total as f64 / (meshed_total + missed_total).max(1) as f64;
    println!(
        "geometry coverage: {meshed_total} of {} products with a body representation meshed ({:.2}%)",
        meshed_total + missed_total,
        coverage * 100.0
    );
    assert!(
        coverage >= MIN_COVERAGE,
        "geometry coverage {:.2}% is under {:.0}%",
        coverage * 100.0,
        MIN_COVERAGE * 100.0
    );
    assert!(
        failures.is_empty(),
        "pins not met:\n{}",
        failures.join("\n")
    );
}
