//! Imports every IFC file of the shared corpus (`$RENEWTWIN_CORPUS/ifc`, default
//! `../shared/corpus/ifc` beside the workspace) and checks the invariants every import must
//! keep: no panic, products found, a finite bounding box, valid meshes. Run with `--nocapture`
//! for a per-file table.
//!
//! Without the corpus the test prints why it skipped and passes, unless
//! `RENEWTWIN_REQUIRE_CORPUS=1` (set in CI), where a missing corpus fails.

mod common;

use common::{assert_meshes_valid, ifc_files};
use std::time::Instant;

use renewtwin_importers::{ImportConfig, Model, import_file};

#[test]
fn every_corpus_file_imports_with_valid_geometry() {
    let Some(files) = ifc_files() else { return };

    println!(
        "{:<45} {:<12} {:>8} {:>9} {:>9} {:>6} {:>6} {:>8}",
        "file", "schema", "products", "with geom", "triangles", "meshes", "diags", "seconds"
    );
    for path in &files {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let started = Instant::now();
        let model = import_file(path, &ImportConfig::default())
            .unwrap_or_else(|err| panic!("{name}: import failed: {err}"));
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "{:<45} {:<12} {:>8} {:>9} {:>9} {:>6} {:>6} {:>8.2}",
            name,
            model.source.schema,
            model.elements.len(),
            model.elements_with_geometry(),
            model.placed_triangles(),
            model.meshes.len(),
            model.diagnostics.len(),
            seconds
        );
        let mut kinds = std::collections::BTreeMap::new();
        for d in &model.diagnostics {
            *kinds.entry(d.kind.key()).or_insert(0usize) += 1;
        }
        if !kinds.is_empty() {
            println!("    diagnostics: {kinds:?}");
        }
        assert!(!model.elements.is_empty(), "{name}: no products");
        assert!(model.source.entities > 0, "{name}: no entities counted");
        let bbox = model.bbox();
        assert!(!bbox.is_empty(), "{name}: no geometry at all");
        assert!(
            bbox.to_array().iter().all(|v| v.is_finite()),
            "{name}: bbox not finite: {bbox:?}"
        );
        assert!(
            model.origin.iter().all(|v| v.is_finite()),
            "{name}: origin not finite"
        );
        assert_meshes_valid(&name, &model, |e| format!("#{}", e.step_id));
        assert_same_as_second_import(&name, path, &model);
    }
}

/// Meshing runs on every core; the result must not depend on scheduling.
fn assert_same_as_second_import(name: &str, path: &std::path::Path, first: &Model) {
    let second = import_file(path, &ImportConfig::default())
        .unwrap_or_else(|err| panic!("{name}: second import failed: {err}"));
    assert_eq!(
        first.meshes.len(),
        second.meshes.len(),
        "{name}: mesh count differs between imports"
    );
    for (i, (a, b)) in first.meshes.iter().zip(&second.meshes).enumerate() {
        let same = a.indices == b.indices
            && a.positions
                .iter()
                .zip(&b.positions)
                .all(|(x, y)| x.to_bits() == y.to_bits())
            && a.positions.len() == b.positions.len();
        assert!(same, "{name}: mesh {i} differs between imports");
    }
    let placements = |m: &Model| {
        m.elements
            .iter()
            .map(|e| e.placements.to_vec())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        placements(first),
        placements(&second),
        "{name}: placements differ between imports"
    );
    assert_eq!(
        first.diagnostics.len(),
        second.diagnostics.len(),
        "{name}: diagnostics differ between imports"
    );
}
