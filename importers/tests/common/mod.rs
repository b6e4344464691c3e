//! What the corpus tests share: where the corpus is, whether CI requires it, and its IFC files.
//! Without the corpus a test prints why it skipped and passes, unless
//! `RENEWTWIN_REQUIRE_CORPUS=1` (set in CI), where a missing corpus fails.

// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

use std::path::PathBuf;

use renewtwin_importers::{ElementRef, Model};

/// `$RENEWTWIN_CORPUS`, else `../shared/corpus` beside the workspace.
pub fn corpus_dir() -> PathBuf {
    match std::env::var_os("RENEWTWIN_CORPUS") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus"),
    }
}

/// Whether a missing corpus is a failure (CI) rather than a skip.
pub fn corpus_required() -> bool {
    std::env::var("RENEWTWIN_REQUIRE_CORPUS").is_ok_and(|v| v == "1")
}

/// The `.ifc` files of `<corpus>/ifc`, sorted; `None` after printing why when the corpus is
/// absent and not required. Fails when it is required but missing or empty.
pub fn ifc_files() -> Option<Vec<PathBuf>> {
    let dir = corpus_dir().join("ifc");
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(err) => {
            assert!(
                !corpus_required(),
                "RENEWTWIN_REQUIRE_CORPUS=1 but {} cannot be read: {err}",
                dir.display()
            );
            println!(
                "skipped: no IFC corpus at {} ({err}); set RENEWTWIN_CORPUS to run it",
                dir.display()
            );
            return None;
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x.eq_ignore_ascii_case("ifc")))
        .collect();
    files.sort();
    assert!(
        !files.is_empty() || !corpus_required(),
        "RENEWTWIN_REQUIRE_CORPUS=1 but {} holds no .ifc file",
        dir.display()
    );
    Some(files)
}

/// Every mesh is finite, has unit normals and in-range indices; every placement points at one.
/// `label` names an element in a failure message (`#step` for IFC, the id for city data).
pub fn assert_meshes_valid(name: &str, model: &Model, label: impl Fn(ElementRef<'_>) -> String) {
    for (i, mesh) in model.meshes.iter().enumerate() {
        let vertices = mesh.positions.len() / 3;
        assert_eq!(
            mesh.positions.len() % 3,
            0,
            "{name}: mesh {i} positions not in triples"
        );
        assert_eq!(
            mesh.normals.len(),
            mesh.positions.len(),
            "{name}: mesh {i} normal count"
        );
        assert_eq!(
            mesh.indices.len() % 3,
            0,
            "{name}: mesh {i} indices not in triples"
        );
        assert!(!mesh.indices.is_empty(), "{name}: mesh {i} is empty");
        assert!(
            mesh.positions.iter().all(|v| v.is_finite()),
            "{name}: mesh {i} has a non-finite position"
        );
        for n in mesh.normals.chunks_exact(3) {
            let len = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt();
            assert!(
                (len - 1.0).abs() < 1e-3,
                "{name}: mesh {i} has a normal of length {len}"
            );
        }
        assert!(
            mesh.indices.iter().all(|&ix| (ix as usize) < vertices),
            "{name}: mesh {i} index out of range"
        );
    }
    for e in &model.elements {
        for p in e.placements {
            assert!(
                (p.mesh.0 as usize) < model.meshes.len(),
                "{name}: {} places a missing mesh",
                label(e)
            );
            assert!(
                p.transform.iter().all(|v| v.is_finite()),
                "{name}: {} has a non-finite transform",
                label(e)
            );
        }
    }
}
