//! What the corpus tests share: where the corpus is, whether CI requires it, and its IFC files.
//! Without the corpus a test prints why it skipped and passes, unless
//! `RENEWTWIN_REQUIRE_CORPUS=1` (set in CI), where a missing corpus fails.

// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

use std::path::PathBuf;

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
